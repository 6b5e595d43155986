#!/usr/bin/env python3
"""test_stats.py: the shared counters against what a test client did (exact
numbers across 2 workers, after a worker is killed, across a reload), the
`stats` line protocol (with socat), and the Prometheus `metrics` endpoint
(with curl, promtool, and a real Prometheus server scraping it)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def query(port, cmd):
    """Sends one stats command; returns the reply up to its empty line."""
    return H.stats_query(port, cmd)


def stats(port):
    out = {}
    for line in query(port, b"stats").splitlines():
        if line:
            k, v = line.rsplit(" ", 1)
            out[k] = int(v)
    return out


def workers(port):
    rows = []
    for line in query(port, b"workers").splitlines():
        if line:
            rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
    return rows


def wait_for(pred, what, timeout=10.0):
    """Polls pred until true: the counters have no other signal for 'the server saw the close'."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def c(listener, name, **labels):
    lab = ",".join(['listener="%s"' % listener] + ['%s="%s"' % kv for kv in labels.items()])
    return "ksockd_%s{%s}" % (name, lab)


class Counters(unittest.TestCase):
    def test_exact_counts_after_a_known_workload_on_2_workers(self):
        # echo-lines: the long line below must be refused (echo, RFC 862, has no max_line).
        with H.Daemon([H.listener("echo", "echo-lines"), H.listener("st", "stats")],
                      workers=2) as d:
            held = [H.connect(d.port("echo")) for _ in range(10)]
            sent = 0
            for i, s in enumerate(held):
                for j in range(5):
                    line = b"conn %d line %d\n" % (i, j)
                    s.sendall(line)
                    self.assertEqual(H.recv_until(s), line)
                    sent += len(line)
            # A worker counts a reply just after sending it: the client can see the reply first.
            want = {c("echo", "lines_sent_total"): 50, c("echo", "bytes_sent_total"): sent}
            st = wait_for(lambda: (lambda x: x if all(x[k] == v for k, v in want.items()) else None)(
                stats(d.port("st"))), "the replies to be counted")
            self.assertEqual(st[c("echo", "connections_open")], 10)
            self.assertEqual(st[c("echo", "connections_accepted_total")], 10)
            self.assertEqual(st[c("echo", "lines_received_total")], 50)
            self.assertEqual(st[c("echo", "lines_sent_total")], 50)
            self.assertEqual(st[c("echo", "bytes_received_total")], sent)
            self.assertEqual(st[c("echo", "bytes_sent_total")], sent)
            # The workers' own view adds up: 10 echo connections plus this stats one.
            # (The previous stats connection may still be closing: wait for it.)
            rows = wait_for(lambda: (lambda r: r if sum(int(x["open"]) for x in r) == 11 else None)(
                workers(d.port("st"))), "11 open connections in the workers list")
            self.assertEqual(len(rows), 2)
            self.assertEqual(sorted(int(r["pid"]) for r in rows), d.workers())
            for s in held:
                s.close()
            st = wait_for(lambda: (lambda x: x if x[c("echo", "connections_open")] == 0 else None)(
                stats(d.port("st"))), "open connections to drop to 0")
            self.assertEqual(st[c("echo", "connections_closed_total", reason="client")], 10)
            # A line too long and an idle client are counted by reason.
            with H.connect(d.port("echo")) as s:
                s.sendall(b"x" * 9000 + b"\n")
                H.recv_all(s)
            st = wait_for(lambda: (lambda x: x if x[c("echo", "connections_open")] == 0 else None)(
                stats(d.port("st"))), "the long-line connection to close")
            self.assertEqual(st[c("echo", "connections_closed_total", reason="line_too_long")], 1)
            self.assertEqual(st[c("echo", "connections_accepted_total")], 11)
            # The stats listener counts its own clients too.
            self.assertGreaterEqual(st[c("st", "connections_accepted_total")], 4)

    def test_counters_survive_a_killed_worker_and_open_is_corrected(self):
        with H.Daemon([H.listener("echo"), H.listener("st", "stats")], workers=2) as d:
            held = []
            for i in range(8):
                s = H.connect(d.port("echo"))
                s.sendall(b"hi\n")
                self.assertEqual(H.recv_until(s), b"hi\n")
                held.append(s)
            before = workers(d.port("st"))
            victim = max(before, key=lambda r: int(r["open"]))
            os.kill(int(victim["pid"]), signal.SIGKILL)
            d.wait_log(r"worker \d+ \(pid %s\) killed by signal 9" % victim["pid"])
            # The master zeroes the dead slot's open gauge, then respawns into the same slot.
            rows = wait_for(lambda: (lambda r: r if len(r) == 2 and victim["pid"] not in
                                     [x["pid"] for x in r] else None)(workers(d.port("st"))),
                            "the respawned worker")
            self.assertIn(victim["slot"], [r["slot"] for r in rows])
            # Which held connections survived? Those of the other worker still echo.
            alive = 0
            for s in held:
                try:
                    s.sendall(b"ping\n")
                    alive += H.recv_until(s, timeout=2) == b"ping\n"
                except OSError:
                    pass
            self.assertLess(alive, 8)
            st = stats(d.port("st"))
            self.assertEqual(st[c("echo", "connections_open")], alive)
            self.assertEqual(st[c("echo", "connections_accepted_total")], 8)
            self.assertEqual(st[c("echo", "lines_received_total")], 8 + alive)
            # New traffic adds to the same totals.
            with H.connect(d.port("echo")) as s:
                s.sendall(b"after\n")
                self.assertEqual(H.recv_until(s), b"after\n")
            st = wait_for(lambda: (lambda x: x if x[c("echo", "lines_received_total")] == 9 + alive else None)(
                stats(d.port("st"))), "the new line to be counted")
            self.assertEqual(st[c("echo", "connections_accepted_total")], 9)
            for s in held:
                s.close()
            wait_for(lambda: stats(d.port("st"))[c("echo", "connections_closed_total", reason="client")]
                     == 1 + alive, "the closes to be counted")

    def test_counters_follow_listener_names_across_reloads(self):
        echo, st = H.listener("echo"), H.listener("st", "stats")
        with H.Daemon([echo, st], workers=2) as d:
            for i in range(3):
                with H.connect(d.port("echo")) as s:
                    s.sendall(b"x\n")
                    H.recv_until(s)
            renamed = dict(echo, name="echo2", port=H.free_port())
            d.reload([echo, st, renamed])
            with H.connect(d.port("echo")) as s:
                s.sendall(b"y\n")
                H.recv_until(s)
            with H.connect(renamed["port"]) as s:
                s.sendall(b"z\n")
                H.recv_until(s)
            x = wait_for(lambda: (lambda v: v if v[c("echo", "lines_received_total")] == 4
                                  and v.get(c("echo2", "lines_received_total")) == 1 else None)(
                stats(d.port("st"))), "counts after the reload")
            self.assertEqual(x[c("echo", "connections_accepted_total")], 4)
            self.assertEqual(x[c("echo2", "connections_accepted_total")], 1)

    def test_udp_datagrams_answered_and_dropped_by_reason(self):
        with H.Daemon([H.listener("echo", "echo", "udp", max_datagram=100, udp_rate=0),
                       H.listener("time", "time", "udp", udp_max_reply_ratio=1, udp_rate=0),
                       H.listener("discard", "discard", "udp", udp_rate=0),
                       H.listener("st", "stats")], workers=2) as d:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(5)
                u.connect(("127.0.0.1", d.port("echo")))
                for i in range(5):
                    u.send(b"abc\n")
                    self.assertEqual(u.recv(200), b"abc\n")
                u.send(b"")
                self.assertEqual(u.recv(200), b"")
                u.send(b"x" * 101)  # over max_datagram: dropped
                u.connect(("127.0.0.1", d.port("time")))
                u.send(b"")  # 28 bytes on the wire in, 32 out: over 1x, dropped
                u.send(b"four")
                self.assertEqual(len(u.recv(200)), 4)
                u.connect(("127.0.0.1", d.port("discard")))
                u.send(b"into the void\n")  # never answered, by design
            want = {c("echo", "datagrams_received_total"): 7,
                    c("echo", "datagrams_answered_total"): 6,
                    c("echo", "datagrams_dropped_total", reason="too_big"): 1,
                    c("echo", "lines_received_total"): 6,  # one per datagram, the empty one too
                    c("echo", "lines_sent_total"): 5,
                    c("echo", "bytes_received_total"): 121,
                    c("echo", "bytes_sent_total"): 20,
                    c("time", "datagrams_received_total"): 2,
                    c("time", "datagrams_answered_total"): 1,
                    c("time", "datagrams_dropped_total", reason="ratio"): 1,
                    c("discard", "datagrams_received_total"): 1,
                    c("discard", "datagrams_dropped_total", reason="no_reply"): 1}
            st = wait_for(lambda: (lambda x: x if all(x.get(k) == v for k, v in want.items()) else None)(
                stats(d.port("st"))), "the UDP counters")
            self.assertNotIn(c("echo", "connections_accepted_total"), st)  # no stream counters on UDP

    def test_connections_refused_for_their_proxy_header_are_counted(self):
        with H.Daemon([H.listener("px", proxy_protocol="v1", proxy_trusted=["127.0.0.1/32"]),
                       H.listener("st", "stats")], workers=2) as d:
            with H.connect(d.port("px")) as s:
                s.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 7\r\nthrough\n")
                self.assertEqual(H.recv_until(s), b"through\n")
            with H.connect(d.port("px")) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not a PROXY header: refused
                try:
                    H.recv_all(s)
                except ConnectionResetError:  # closed with our bytes unread: a reset
                    pass
            st = wait_for(lambda: (lambda x: x if x[c("px", "connections_open")] == 0 else None)(
                stats(d.port("st"))), "both connections to close")
            self.assertEqual(st[c("px", "connections_accepted_total")], 2)
            self.assertEqual(st[c("px", "connections_closed_total", reason="proxy_header")], 1)
            self.assertEqual(st[c("px", "connections_closed_total", reason="client")], 1)
            self.assertEqual(st[c("px", "lines_received_total")], 1)

    def test_stats_protocol_with_socat(self):
        if not shutil.which("socat"):
            self.fail("socat is not installed (tools/install-deps installs it)")
        with H.Daemon([H.listener("st", "stats")], workers=2) as d:
            r = subprocess.run(["socat", "-t", "2", "-", "TCP:127.0.0.1:%d" % d.port("st")],
                               input=b"stats\nworkers\nnonsense\nquit\n", capture_output=True,
                               timeout=10)
            text = r.stdout.decode()
            stats_part, workers_part, rest = text.split("\n\n", 2)
            for line in stats_part.splitlines():
                self.assertRegex(line, r'^ksockd_[a-z_]+\{listener="st"(,reason="[a-z_]+")?\} \d+$')
            self.assertIn('ksockd_connections_open{listener="st"} 1', stats_part)
            self.assertEqual(len(workers_part.splitlines()), 2)
            for line in workers_part.splitlines():
                self.assertRegex(line, r"^worker slot=\d+ pid=\d+ generation=1 position=[01] "
                                       r"uptime=\d+ open=\d+ state=serving$")
            self.assertEqual(rest, "ERROR unknown command (stats, workers, quit)\n")


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon([H.listener("echo"), H.listener("m", "metrics")], workers=2)
        for i in range(4):
            with H.connect(cls.d.port("echo")) as s:
                s.sendall(b"one\ntwo\n")
                H.recv_until(s, 2)

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def curl(self, *args):
        if not shutil.which("curl"):
            self.fail("curl is not installed (tools/install-deps installs it)")
        return subprocess.run(["curl", "-sS", "-i", "--max-time", "5"] + list(args),
                              capture_output=True, timeout=10)

    def url(self, path="/metrics"):
        return "http://127.0.0.1:%d%s" % (self.d.port("m"), path)

    def test_get_metrics_with_curl_http_1_1_and_1_0(self):
        for flag in ("--http1.1", "--http1.0"):
            r = self.curl(flag, self.url())
            head, body = r.stdout.split(b"\r\n\r\n", 1)
            self.assertRegex(head.decode(), r"^HTTP/1\.[01] 200 OK\r\n")
            self.assertIn(b"Content-Type: text/plain; version=0.0.4", head)
            self.assertIn(b"Content-Length: %d\r\n" % len(body), head)
            self.assertIn(b"# TYPE ksockd_connections_accepted_total counter\n", body)
            total = sum(int(v) for v in re.findall(
                rb'^ksockd_lines_received_total\{listener="echo",worker="\d+"\} (\d+)$', body, re.M))
            self.assertEqual(total, 8)

    def test_other_paths_methods_and_garbage(self):
        self.assertIn(b"HTTP/1.1 404 Not Found", self.curl(self.url("/")).stdout)
        self.assertIn(b"HTTP/1.1 405 Method Not Allowed", self.curl("-X", "POST", self.url()).stdout)
        with H.connect(self.d.port("m")) as s:
            s.sendall(b"HELLO\r\n")
            self.assertTrue(H.recv_all(s).startswith(b"HTTP/1.1 400 Bad Request\r\n"))
        with H.connect(self.d.port("m")) as s:  # a HTTP/1.0 request by hand, query string ignored
            s.sendall(b"GET /metrics?x=1 HTTP/1.0\r\nHost: x\r\n\r\n")
            self.assertTrue(H.recv_all(s).startswith(b"HTTP/1.0 200 OK\r\n"))

    def test_promtool_accepts_the_exposition(self):
        if not shutil.which("promtool"):
            self.skipTest("promtool not installed (Debian package prometheus; tools/install-deps installs it)")
        body = urllib.request.urlopen(self.url(), timeout=5).read()
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_a_real_prometheus_scrapes_it(self):
        prom = shutil.which("prometheus")
        if not prom:
            self.skipTest("prometheus not installed (Debian package prometheus)")
        tmp = H.tempfile.mkdtemp(prefix="ksockd-prom-")
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: ksockd\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % self.d.port("m"))
        port = H.free_port()
        logf = open(os.path.join(tmp, "prometheus.log"), "wb")
        p = subprocess.Popen([prom, "--config.file=" + cfg, "--storage.tsdb.path=" + tmp + "/data",
                              "--web.listen-address=127.0.0.1:%d" % port],
                             stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            api = "http://127.0.0.1:%d/api/v1/query?query=" % port

            def value():
                if p.poll() is not None:
                    raise AssertionError("prometheus exited at start (status %s); log:\n%s"
                                         % (p.returncode, open(logf.name).read()))
                try:
                    q = "sum(ksockd_lines_received_total%7Blistener%3D%22echo%22%7D)"
                    res = json.load(urllib.request.urlopen(api + q, timeout=2))["data"]["result"]
                except OSError:
                    return None
                return res and int(float(res[0]["value"][1]))

            self.assertEqual(wait_for(value, "prometheus to scrape ksockd", timeout=30), 8)
            up = json.load(urllib.request.urlopen(api + "up", timeout=2))["data"]["result"]
            self.assertEqual(up[0]["value"][1], "1")
        finally:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            logf.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
