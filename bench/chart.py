#!/usr/bin/env python3
"""bench/chart.py: SVG charts of the benchmark results, drawn by gnuplot.

    bench/chart.py bench/results/bench-*.json   -> the .svg next to it
    bench/chart.py bench/results/scale-*.json   -> the same, for bench-scale

run.py (make bench) and scale.py (make bench-scale) call bench_chart() and
scale_chart() after writing their JSON; each also copies its chart to
bench/results/bench-latest.svg or scale-latest.svg, the files the README and
doc/BENCHMARKS.md show. scale_chart() keeps bench/results/scale-history.csv
(one line per server and size per run) and draws the whole history, so each
run adds its points to the chart.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "bench", "results")
# make bench's chart: (figure in run.py's rows, label), in order.
THROUGHPUT = [("latency lines/s", "1 conn"), ("c50 lines/s", "50 conns"),
              ("many lines/s", "1000 conns"), ("pipelined lines/s", "50 x 32 pipelined"),
              ("connect lines/s", "connect+line+close"), ("udp datagrams/s", "UDP"),
              ("tls echo lines/s", "TLS pipelined")]
P99 = [("latency p99 us", "1 conn"), ("c50 p99 us", "50 conns"), ("many p99 us", "1000 conns")]
SERVERS = ["ksockd-1w", "ksockd-2w", "ref", "ref-framed", "redis", "socat", "refudp", "nginx"]


def gnuplot(script):
    if not shutil.which("gnuplot"):
        raise RuntimeError("gnuplot is missing (apt-get install gnuplot-nox)")
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("gnuplot failed: %s" % r.stderr[-500:])


def clustered(d, name, rows, figures, servers):
    """A data file for a clustered histogram: one line per figure, one column per server."""
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("figure " + " ".join(servers) + "\n")
        for key, label in figures:
            vals = rows.get(key, {})
            f.write('"%s" ' % label + " ".join(
                "?" if vals.get(s) is None else "%g" % vals[s] for s in servers) + "\n")
    return path


def bench_chart(doc, svg):
    """make bench: throughput and p99 per workload, one bar per server."""
    rows = {r["figure"]: r["values"] for r in doc["rows"]}
    servers = [s for s in SERVERS if any((rows.get(k) or {}).get(s) is not None
                                         for k, _ in THROUGHPUT + P99)]
    d = tempfile.mkdtemp(prefix="ksock-chart-")
    try:
        t = clustered(d, "throughput.dat", rows, THROUGHPUT, servers)
        p = clustered(d, "p99.dat", rows, P99, servers)
        n = len(servers)
        gnuplot("""set terminal svg size 1100,480 dynamic font 'sans,11'
set output '%s'
set datafile missing '?'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set key outside bottom center horizontal font ',9'
set xtics rotate by -25 font ',9'
set multiplot layout 1,2 title 'make bench, %s (%d run(s) of %g s; %d CPUs)'
set title 'throughput (lines/s, log scale)'
plot for [i=2:%d] '%s' using i:xtic(1) title columnheader(i)
set title 'p99 latency (us, log scale)'
plot for [i=2:%d] '%s' using i:xtic(1) title columnheader(i)
unset multiplot
""" % (svg, doc.get("date", "?"), doc.get("runs", 0), doc.get("seconds_per_workload", 0),
            doc.get("cpus", 0), n + 1, t, n + 1, p))
    finally:
        shutil.rmtree(d, ignore_errors=True)


HISTORY_FIELDS = ["date", "server", "idle", "held", "pss_per_conn", "anon_per_conn", "connect_per_sec",
                  "rate_ratio", "p99_ratio"]


def scale_history(doc, path):
    """Appends doc's rows to the history CSV (once per date); returns every row."""
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = list(csv.DictReader(f))
    if not any(r["date"] == doc["date"] for r in rows):
        for r in doc["rows"]:
            rows.append({k: doc["date"] if k == "date" else r.get(k) for k in HISTORY_FIELDS})
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=HISTORY_FIELDS)
            w.writeheader()
            w.writerows(rows)
    return rows


def scale_chart(doc, svg, history=None):
    """make bench-scale: this run's PSS per idle connection per server and
    size, and ksockd's PSS per connection over every run in the history."""
    hist = scale_history(doc, history) if history else []
    d = tempfile.mkdtemp(prefix="ksock-chart-")
    try:
        latest = os.path.join(d, "latest.dat")
        with open(latest, "w") as f:
            for r in doc["rows"]:
                f.write('"%s %dk" %g %g\n' % (r["server"], r["idle"] // 1000,
                                              r["pss_per_conn"], r["rate_ratio"] or 0))
        runs = sorted({r["date"] for r in hist})
        series = {}
        for r in hist:
            if r["server"] == "ksockd":
                series.setdefault(int(r["idle"]), []).append((runs.index(r["date"]), r["date"],
                                                              r["pss_per_conn"]))
        plots = []
        for idle, pts in sorted(series.items()):
            p = os.path.join(d, "ksockd-%d.dat" % idle)
            with open(p, "w") as f:
                for i, date, pss in pts:  # x: the run's number, labelled with its date
                    f.write('%d %s "%s"\n' % (i, pss, date[5:16].replace("T", " ")))
            plots.append("'%s' using 1:2:xtic(3) with linespoints linewidth 2 "
                         "title 'ksockd, %d idle'" % (p, idle))
        right = ("set title 'ksockd PSS per idle connection, every run (B)'\n"
                 "set xrange [-0.5:%d.5]\n"
                 "plot %s, 256 with lines dashtype 2 title 'target 256 B'\n"
                 % (len(runs) - 1, ", ".join(plots))) if plots else ""
        gnuplot("""set terminal svg size 1100,440 dynamic font 'sans,11'
set output '%s'
set multiplot layout 1,%d title 'make bench-scale, %s: %d active depth-1 clients beside the idle ones'
set style fill solid 0.8 border -1
set boxwidth 0.7
set logscale y
set grid ytics
set title 'PSS per idle connection (B, log scale), this run'
set xtics rotate by -25
plot '%s' using 0:2:xtic(1) with boxes notitle, '' using 0:2:(sprintf('%%.0f', $2)) with labels offset 0,0.7 notitle, 256 with lines dashtype 2 title 'target 256 B'
unset logscale y
set yrange [0:*]
%sunset multiplot
""" % (svg, 2 if plots else 1, doc.get("date", "?"), doc.get("active", 0), latest, right))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def publish(svg, latest_name):
    """Copies svg to bench/results/<latest_name> (the file the README shows)."""
    os.makedirs(RESULTS, exist_ok=True)
    dest = os.path.join(RESULTS, latest_name)
    if os.path.abspath(svg) != os.path.abspath(dest):
        shutil.copyfile(svg, dest)
    return dest


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench/chart.py RESULT.json")
    src = sys.argv[1]
    with open(src) as f:
        doc = json.load(f)
    svg = os.path.splitext(src)[0] + ".svg"
    if os.path.basename(src).startswith("scale-"):
        scale_chart(doc, svg, os.path.join(os.path.dirname(src), "scale-history.csv"))
    else:
        bench_chart(doc, svg)
    print("chart: wrote %s" % svg, file=sys.stderr)


if __name__ == "__main__":
    main()
