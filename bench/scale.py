#!/usr/bin/env python3
"""bench/scale.py: `make bench-scale`. How many silent connections a server
holds, what each costs, and whether the active clients stay fast meanwhile.

For each server: start it (pinned to CPU 0), measure its PSS (master and
workers, /proc/PID/smaps_rollup), build up an idle crowd with
`ksock bench --idle N --procs P --source 127.0.0.2-127.0.0.200` (each
connection after one round trip, at the highest connect rate the machine
gives), measure PSS again, run the active clients (`ksock bench -c 1000 -P 1`,
depth-1 echo, pinned to CPU 1) while the crowd stays idle, release the crowd
(with RST: no TIME_WAIT left behind), wait until the server has closed every
socket, and run the same active clients again against the same server with
no crowd; --repeat such pairs, back to back, in alternating order (crowd
first, then alone first, ...). The machine is shared and noisy: rates are
medians, ratios the median of the pairs'.

Figures only (targets are printed beside them, never asserted). Writes JSON
and an SVG chart (gnuplot) under bench/results/. Run from the build directory:
    bench/scale.py [--idle N] [--compare-idle N] [--secs S] [--servers LIST]
Servers: ksockd (workers = 8, reuseport), nginx (stream, 8 workers, proxy_pass
to bench/refecho -f; nginx's own PSS only), redis (one process, inline PING).
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R  # noqa: E402  (bench/run.py: Server, pss, free_port, ...)
import chart  # noqa: E402  (bench/chart.py)

SOURCES = "127.0.0.2-127.0.0.200"
PING = ["-s", "64"]
REDIS_PING = ["-l", "PING", "--expect", "+PONG\r"]
TARGET_RATE, TARGET_P99 = 0.9, 1.5


def worker_pids(root):
    """root's descendants (ksockd's and nginx's workers)."""
    return [p for p in R.proc_tree(root) if p != root]


def pss_of(pid, field="Pss"):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            return int(re.search(r"^%s:\s+(\d+) kB" % field, f.read(), re.M).group(1)) * 1024
    except (OSError, AttributeError):
        return 0


def sockets_of(pid):
    """Open sockets of one process (its share of the connections)."""
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
            except OSError:
                pass
    except OSError:
        pass
    return n


def snapshot(root):
    """{pid: (pss bytes, sockets, anonymous pss bytes)} of root and its
    descendants. Pss counts a shared library's pages divided among every
    process that maps them, so it drops when the crowd's ksock processes map
    the same libraries; Pss_Anon (heap, stacks) moves only with the server."""
    return {p: (pss_of(p), sockets_of(p), pss_of(p, "Pss_Anon")) for p in R.proc_tree(root)}


def ksockd_conf(d, port, workers, extra=""):
    """workers = 8, reuseport (the kernel spreads connections evenly, so no
    worker nears 20,000 files), no per-source limit (199 source addresses hold
    ~500 connections each); idle_timeout stays at its default (300 s)."""
    path = os.path.join(d, "ksockd-scale.conf")
    with open(path, "w") as f:
        f.write('workers = %d;\nuser = "nobody";\ngroup = "nogroup";\nlog_level = "err";\n'
                'shutdown_timeout = 1.0;\nmax_connections = 19500;\n'
                'max_connections_per_source = 0;\nconnect_rate = 0.0;\n%s\nlisteners = (\n'
                '  { name = "echo"; protocol = "tcp"; address = "127.0.0.1"; port = %d; '
                'handler = "echo"; backlog = 4096; reuseport = true; }\n);\n'
                % (workers, extra, port))
    return path


def nginx_conf(d, port, up, workers):
    path = os.path.join(d, "nginx-scale.conf")
    with open(path, "w") as f:
        f.write("load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
                "worker_processes %d;\nworker_rlimit_nofile 19900;\ndaemon off;\n"
                "pid %s/nginx-scale.pid;\nerror_log %s/nginx-error.log;\n"
                "events { worker_connections 19000; }\n"
                "stream {\n server {\n  listen 127.0.0.1:%d backlog=4096 reuseport;\n"
                "  proxy_timeout 1h;\n  proxy_pass 127.0.0.1:%d;\n }\n}\n"
                % (workers, d, d, port, up))
    return path


def start_server(name, d, a):
    """(server, extra servers to stop after it, payload arguments)."""
    port, workers = R.free_port(), a.workers
    if name == "ksockd":
        cmd = [os.path.abspath("ksockd"), "-f", "-c", ksockd_conf(d, port, workers, a.ksockd_set)]
        # --tunables: glibc malloc settings for an experiment (GLIBC_TUNABLES).
        env = ["env", "GLIBC_TUNABLES=" + a.tunables] if a.tunables else []
        return R.Server(name, cmd, port, wrap=["taskset", "-c", "0"] + env), [], PING
    if name == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--maxclients", "19000", "--loglevel", "warning",
               "--protected-mode", "no"]  # clients come from 127.0.0.2..200 (bound to 127.0.0.1)
        return R.Server(name, cmd, port), [], REDIS_PING
    if name == "nginx":
        up = R.free_port()
        ref = R.Server("refecho", [os.path.abspath("bench/refecho"), "-f", str(up)], up,
                       wrap=["taskset", "-c", "0"])
        cmd = ["nginx", "-e", "stderr", "-p", d, "-c", nginx_conf(d, port, up, workers)]
        return R.Server(name, cmd, port, stop_wait=15), [ref], PING
    raise ValueError(name)


def ksock(args, port):
    return ["taskset", "-c", "1", os.path.abspath("ksock"), "bench"] + args + \
        ["127.0.0.1", str(port)]


def active(port, payload, secs, conns):
    j = R.bench(port, ["-c", str(conns), "-P", "1"] + payload, secs=secs)
    return {"lines_per_sec": j["lines_per_sec"], "p50_us": j["latency_us"]["p50"],
            "p99_us": j["latency_us"]["p99"], "errors": j["errors"]["total"],
            "first_error": j["first_error"]}


class Crowd:
    """The idle connections: one `ksock bench --idle` (and its processes)."""

    def __init__(self, port, n, payload, limit):
        procs = max(1, -(-n // 15000))
        # --reset: released with RST, so no run starts among the last
        # crowd's 100,000 TIME_WAIT sockets (their lookups and timers would
        # be the kernel's cost of an earlier run, not this one's crowd).
        argv = ksock(["--idle", str(n), "--procs", str(procs), "--source", SOURCES, "--json",
                      "--reset", "-t", "60", "-c", "256"] + payload, port)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()  # the build report: every connection tried
        if not line.startswith("{"):
            self.proc.wait(limit)
            raise RuntimeError("ksock bench --idle failed: %s" % self.proc.stderr.read()[-500:])
        self.built = json.loads(line)

    def release(self):
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=120)
        line = next((x for x in out.splitlines() if x.startswith("{")), None)
        return json.loads(line) if line else {"error": err[-300:]}


def settle(root, base, limit=60):
    """Waits (bounded) until the server holds no more sockets than at the start:
    100,000 closes keep the kernel busy for a while after the crowd is gone."""
    want = sum(v[1] for v in base.values()) + 10
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if sum(sockets_of(p) for p in R.proc_tree(root)) <= want:
            return
        time.sleep(0.2)


def per_worker(base, held, sockets_per_conn=1):
    """Per process: connections it holds and PSS bytes per connection (nginx
    holds two sockets per connection: the client's and its upstream's)."""
    rows = []
    for pid, (pss1, socks1, _) in sorted(held.items()):
        pss0, socks0, _ = base.get(pid, (0, 0, 0))
        conns = (socks1 - socks0) // sockets_per_conn
        rows.append({"pid": pid, "connections": conns, "pss_delta": pss1 - pss0,
                     "pss_per_conn": round((pss1 - pss0) / conns, 1) if conns > 100 else None})
    return rows


def scenario(name, n, a, d):
    """One server, n idle connections: every figure of that row."""
    srv, extra, payload = start_server(name, d, a)
    crowd = None
    try:
        time.sleep(0.3)  # let the workers finish starting before the baseline
        # The crowd first, on a server that has served nobody: its PSS growth
        # is the crowd's alone (no memory freed by earlier clients to reuse).
        base = snapshot(srv.root())
        t0 = time.monotonic()
        crowd = Crowd(srv.port, n, payload, 600)
        build = crowd.built
        time.sleep(1.0)  # the last replies' buffers: let the allocator settle
        held = snapshot(srv.root())
        # Pairs of runs back to back, one with the crowd and one without: the
        # machine's load drifts over minutes, a pair's two halves see the
        # same. The order alternates, crowd-alone, alone-crowd, crowd-alone,
        # ..., so that a drift within a pair does not favour one side; the
        # crowd is built when a run needs it and released when one must not
        # have it (two crowd runs in a row share one).
        busy, alone, builds, end = [], [], [build], {}
        for i in range(2 * a.repeat):
            with_crowd = i % 4 in (0, 3)
            if with_crowd and crowd is None:
                crowd = Crowd(srv.port, n, payload, 600)
                builds.append(crowd.built)
            elif not with_crowd and crowd is not None:
                end = crowd.release()
                crowd = None
                settle(srv.root(), base)
            (busy if with_crowd else alone).append(active(srv.port, payload, a.secs, a.active))
        if crowd is not None:
            end = crowd.release()
            crowd = None
        build_secs = time.monotonic() - t0
    finally:
        if crowd is not None:
            crowd.proc.kill()
            crowd.proc.wait()
        srv.stop()
        for e in extra:
            e.stop()
    total0 = sum(v[0] for v in base.values())
    total1 = sum(v[0] for v in held.values())
    anon = sum(v[2] for v in held.values()) - sum(v[2] for v in base.values())
    # Medians over the --repeat pairs: of each way's figures, and of the
    # pairs' ratios (the ratio within a pair is what the load drift spares).
    med = lambda runs, k: statistics.median(r[k] for r in runs)
    rate_alone, p99_alone = med(alone, "lines_per_sec"), med(alone, "p99_us")
    rate_crowd, p99_crowd = med(busy, "lines_per_sec"), med(busy, "p99_us")
    ratio = lambda k: statistics.median(b[k] / w[k] for b, w in zip(busy, alone) if w[k])
    row = {
        "server": name, "idle": n, "held": build["held"], "failed": build["failed"],
        "held_at_end": end.get("held_at_end"), "connect_per_sec": build["connects_per_sec"],
        "establish_seconds": build["seconds"], "crowd_errors": end.get("errors", {}),
        "pss_base": total0, "pss_held": total1,
        "pss_per_conn": round((total1 - total0) / max(build["held"], 1), 1),
        "anon_per_conn": round(anon / max(build["held"], 1), 1),
        "processes": per_worker(base, held, 2 if name == "nginx" else 1),
        "active": a.active, "alone": alone, "with_crowd": busy,
        "rate_alone": rate_alone, "rate_crowd": rate_crowd,
        "rate_ratio": ratio("lines_per_sec"),
        "p99_alone_us": p99_alone, "p99_crowd_us": p99_crowd,
        "p99_ratio": ratio("p99_us"),
        "connects_per_sec_all": [b["connects_per_sec"] for b in builds],
        "seconds": round(build_secs, 1),
    }
    print("scale: %s %d: held %d (failed %d), %.0f B PSS/conn (anonymous %.0f), %.0f connects/s, "
          "active %.0f vs %.0f lines/s (%.2fx), p99 %.0f vs %.0f us (%.2fx)"
          % (name, n, row["held"], row["failed"], row["pss_per_conn"], row["anon_per_conn"],
             row["connect_per_sec"],
             row["rate_crowd"], rate_alone, row["rate_ratio"] or 0, row["p99_crowd_us"],
             p99_alone, row["p99_ratio"] or 0), file=sys.stderr)
    return row


def connmem(n=10000):
    """bench/connmem.sh: malloc bytes per idle connection in one worker (exact,
    where PSS moves by pages and with other processes); None without gdb."""
    if not shutil.which("gdb"):
        print("scale: gdb missing, no malloc figure (apt-get install gdb)", file=sys.stderr)
        return None
    r = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "connmem.sh"),
                        str(n)], capture_output=True, text=True, timeout=300)
    m = re.search(r"malloc ([\d.]+) B/conn \(arena ([\d.]+), mmap'd ([\d.]+)\), "
                  r"worker PSS ([\d.]+)", r.stdout)
    if not m:
        print("scale: connmem.sh failed: %s" % r.stderr[-300:], file=sys.stderr)
        return None
    figs = dict(zip(("malloc", "arena", "mmapped", "worker_pss"), map(float, m.groups())))
    figs["connections"] = n
    print("scale: %s" % r.stdout.strip(), file=sys.stderr)
    return figs


def report(rows, a, out, mem=None):
    fmt = lambda v, f="%.0f": "n/a" if v is None else f % v
    print("%-8s %8s %8s %7s %10s %6s %11s %11s %7s %9s %9s %7s"
          % ("server", "idle", "held", "failed", "PSS B/conn", "anon", "connects/s",
             "rate crowd", "x alone", "p99 crowd", "p99 alone", "x"))
    for r in rows:
        print("%-8s %8d %8d %7d %10s %6s %11s %11s %7s %9s %9s %7s"
              % (r["server"], r["idle"], r["held"], r["failed"], fmt(r["pss_per_conn"]),
                 fmt(r["anon_per_conn"]),
                 fmt(r["connect_per_sec"]), fmt(r["rate_crowd"]),
                 fmt(r["rate_ratio"], "%.2f"), fmt(r["p99_crowd_us"]),
                 fmt(r["p99_alone_us"]), fmt(r["p99_ratio"], "%.2f")))
        ws = [p for p in r["processes"] if p["connections"] > 100]
        if len(ws) > 1:
            print("         per process: " + ", ".join(
                "%d conns %s B" % (p["connections"], fmt(p["pss_per_conn"])) for p in ws))
    print("(targets: PSS <= 256 B/conn, active rate >= %.1fx alone, p99 <= %.1fx alone; "
          "%d active depth-1 clients, medians of %d pairs of %.1f s runs; lines/s and us)"
          % (TARGET_RATE, TARGET_P99, a.active, a.repeat, a.secs))
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "kernel": os.uname().release, "cpus": os.cpu_count(), "workers": a.workers,
           "active": a.active, "seconds": a.secs,
           "targets": {"pss_per_conn": 256, "rate_ratio": TARGET_RATE, "p99_ratio": TARGET_P99},
           "connmem": mem, "rows": rows}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    print("scale: wrote %s" % out, file=sys.stderr)
    # The chart: this run, and every run of the history kept beside the JSON.
    svg = os.path.splitext(out)[0] + ".svg"
    chart.scale_chart(doc, svg, os.path.join(os.path.dirname(os.path.abspath(out)),
                                             "scale-history.csv"))
    print("scale: wrote %s" % svg, file=sys.stderr)
    if not a.out:
        print("scale: wrote %s" % chart.publish(svg, "scale-latest.svg"), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=100000, help="ksockd's idle connections")
    ap.add_argument("--compare-idle", type=int, default=10000,
                    help="idle connections for the comparison (ksockd, nginx, redis)")
    ap.add_argument("--servers", default="ksockd,nginx,redis")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--active", type=int, default=1000)
    ap.add_argument("--secs", type=float, default=3.0, help="seconds per active run")
    # Six pairs: on this shared machine one pair's p99 ratio moves between
    # 0.95x and 2.3x with the host's load; the median of six is steadier.
    ap.add_argument("--repeat", type=int, default=6, help="pairs of active runs, with and "
                    "without the crowd (medians)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-connmem", action="store_true",
                    help="skip bench/connmem.sh (the exact malloc figure; needs gdb)")
    ap.add_argument("--ksockd-set", default="", help="extra global settings for ksockd's "
                    "config, e.g. 'idle_timeout = 0;' (experiments)")
    ap.add_argument("--tunables", default="", help="GLIBC_TUNABLES for ksockd, e.g. "
                    "glibc.malloc.arena_max=1 (experiments)")
    a = ap.parse_args()
    R.raise_nofile()
    d = tempfile.mkdtemp(prefix="ksock-scale-")
    rows = []
    try:
        for name in a.servers.split(","):
            if name == "nginx" and not os.path.exists("/usr/lib/nginx/modules/ngx_stream_module.so"):
                print("scale: nginx stream module missing, skipped", file=sys.stderr)
                continue
            if name == "redis" and not shutil.which("redis-server"):
                print("scale: redis-server missing, skipped", file=sys.stderr)
                continue
            sizes = [a.compare_idle]
            if name == "ksockd" and a.idle and a.idle != a.compare_idle:
                sizes.append(a.idle)
            for n in sizes:
                rows.append(scenario(name, n, a, d))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    out = a.out
    if not out:
        os.makedirs(os.path.join(R.SRC, "bench", "results"), exist_ok=True)
        out = os.path.join(R.SRC, "bench", "results",
                           time.strftime("scale-%Y%m%dT%H%M%SZ.json", time.gmtime()))
    mem = connmem() if "ksockd" in a.servers.split(",") and not a.no_connmem else None
    if mem:
        print("ksockd, one worker, %d idle connections: malloc %.1f B/conn (arena %.1f, "
              "libev's mmap'd arrays %.1f)" % (mem["connections"], mem["malloc"], mem["arena"],
                                                mem["mmapped"]))
    report(rows, a, out, mem)


if __name__ == "__main__":
    main()
