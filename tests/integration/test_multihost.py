#!/usr/bin/env python3
"""test_multihost.py: two ksockd hosts behind one HAProxy host, clients on a
fourth, each host a network namespace this test creates (veth pairs,
TEST-NET-1 192.0.2.0/24 addresses only inside them) and deletes afterwards.

    client ns          balancer ns                  ksockd ns 1 / 2
    192.0.2.10 --- 192.0.2.9 [HAProxy] 192.0.2.1 --- 192.0.2.2  (k1)
                                       192.0.2.5 --- 192.0.2.6  (k2)

Under continuous load, k1 is stopped with SIGTERM (drain_delay: HAProxy's
check sees "draining" and takes it out before it stops accepting) and started
again: no client line fails. Then k2 is SIGKILLed: only the connections it
held end, and HAProxy's check marks it down. Needs root (skips otherwise)."""
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import lb  # noqa: E402

CLONE_NEWNET = 0x40000000
TAG = "ks%d" % os.getpid()
NS = {"cl": TAG + "cl", "lb": TAG + "lb", "k1": TAG + "k1", "k2": TAG + "k2"}
LINKS = [  # (namespace a, address a, namespace b, address b), /30 each
    ("lb", "192.0.2.1", "k1", "192.0.2.2"),
    ("lb", "192.0.2.5", "k2", "192.0.2.6"),
    ("lb", "192.0.2.9", "cl", "192.0.2.10"),
]
KADDR = {"k1": "192.0.2.2", "k2": "192.0.2.6"}
LBADDR = {"k1": "192.0.2.1", "k2": "192.0.2.5"}
FRONT = ("192.0.2.9", 7007)
SVC_PORT, HEALTH_PORT = 7007, 7070
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True, capture_output=True, timeout=10)


def enter(ns):
    """Moves the calling thread (or forked child) into network namespace ns."""
    fd = os.open("/run/netns/" + NS[ns], os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
    finally:
        os.close(fd)


def in_ns(ns, fn, *args):
    """Runs fn(*args) in a thread inside ns; sockets it creates stay in ns."""
    box = {}

    def run():
        try:
            enter(ns)
            box["v"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 -- re-raised in the caller
            box["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    if "e" in box:
        raise box["e"]
    return box.get("v")


def setup_network():
    for n in NS.values():
        ip("netns", "add", n)
    for n in NS.values():
        ip("-n", n, "link", "set", "lo", "up")
    for i, (a, aa, b, ba) in enumerate(LINKS):
        va, vb = "%sa%d" % (TAG, i), "%sb%d" % (TAG, i)
        ip("link", "add", va, "netns", NS[a], "type", "veth", "peer", "name", vb, "netns", NS[b])
        ip("-n", NS[a], "addr", "add", aa + "/30", "dev", va)
        ip("-n", NS[b], "addr", "add", ba + "/30", "dev", vb)
        ip("-n", NS[a], "link", "set", va, "up")
        ip("-n", NS[b], "link", "set", vb, "up")


def teardown_network():
    for n in NS.values():
        subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=10)


def can_run():
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if not lb.available():
        return "haproxy is not installed (tools/install-deps installs it)"
    try:
        subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return "ip netns unavailable: %s" % e
    return None


def report(sock):
    raw = H.recv_until(sock, terminator=b"\n\n", timeout=10)
    if not raw.endswith(b"\n\n"):
        raise ConnectionError("incomplete reply %r" % raw)
    return dict(l.split("=", 1) for l in raw.decode().split("\n") if "=" in l)


def start_ksockd(host):
    lst = [
        H.listener("svc", "whoami", address=KADDR[host], port=SVC_PORT, proxy_protocol="v2",
                   proxy_trusted=[LBADDR[host] + "/32"]),
        H.listener("health", "health", address=KADDR[host], port=HEALTH_PORT),
    ]
    return H.Daemon(lst, preexec=lambda: enter(host), drain_delay=1.5, shutdown_timeout=5.0)


class Load(threading.Thread):
    """Client sessions through the balancer, one after another: connect, 3 lines, close.
    Every line must be answered with a report naming this client's own address."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.lines = 0
        self.failures = []
        self.backends = set()

    def session(self):
        with socket.create_connection(FRONT, timeout=10) as s:
            me = "%s:%d" % s.getsockname()
            for i in range(4):  # the greeting, then one report per line
                if i:
                    s.sendall(b"line %d\n" % i)
                r = report(s)
                if r.get("client") != me:
                    raise AssertionError("client %r, want %r" % (r.get("client"), me))
                self.backends.add(r["local"].split(":")[0])
                self.lines += 1

    def run(self):
        enter("cl")
        n = 0
        while not self.stop.is_set() and n < 100000:
            n += 1
            try:
                self.session()
            except Exception as e:  # noqa: BLE001 -- every failure counts
                self.failures.append(repr(e))


@unittest.skipIf(can_run(), can_run() or "")
class MultiHost(unittest.TestCase):
    def setUp(self):
        self.daemons = {}
        self.haproxy = None
        self.loads = []
        setup_network()
        try:
            self.daemons = {h: start_ksockd(h) for h in ("k1", "k2")}
            k = {h: "%s:%d" % (KADDR[h], SVC_PORT) for h in ("k1", "k2")}
            self.haproxy = lb.HAProxy("%s:%d" % FRONT, k["k1"], k["k2"], HEALTH_PORT,
                                      "send-proxy-v2", prefix=("ip", "netns", "exec", NS["lb"]))
            self.haproxy.wait_servers({"k1": 2, "k2": 2})
        except BaseException:
            self.tearDown()
            raise

    def tearDown(self):
        for l in self.loads:
            l.stop.set()
            l.join(30)
        if self.haproxy:
            self.haproxy.stop()
        for d in self.daemons.values():
            d.kill()
        teardown_network()

    def start_load(self, n=4):
        self.loads = [Load() for _ in range(n)]
        for l in self.loads:
            l.start()

    def lines(self):
        return sum(l.lines for l in self.loads)

    def wait_lines(self, more, timeout=20):
        want = self.lines() + more
        deadline = time.monotonic() + timeout
        while self.lines() < want:
            self.assertLess(time.monotonic(), deadline, "load stalled")
            time.sleep(0.05)

    def test_drain_restart_then_kill_under_load(self):
        self.start_load()
        self.wait_lines(200)
        # 1. SIGTERM k1: health turns "draining", HAProxy takes it out, then it stops.
        k1 = self.daemons["k1"]
        k1.signal(signal.SIGTERM)
        self.haproxy.wait_servers({"k1": 0, "k2": 2}, timeout=10)
        self.assertIsNone(k1.proc.poll(), "k1 stopped before HAProxy took it out")
        self.assertEqual(k1.proc.wait(15), 0)
        k1.kill()
        self.wait_lines(100)
        # ... and start it again: HAProxy brings it back.
        self.daemons["k1"] = start_ksockd("k1")
        self.haproxy.wait_servers({"k1": 2, "k2": 2}, timeout=10)
        self.wait_lines(200)
        for l in self.loads:
            l.stop.set()
        for l in self.loads:
            l.join(30)
        failures = [f for l in self.loads for f in l.failures]
        print("drain + restart: %d lines, %d failed" % (self.lines(), len(failures)))
        self.assertEqual(failures, [])
        self.assertEqual(set().union(*(l.backends for l in self.loads)),
                         {KADDR["k1"], KADDR["k2"]})

        # 2. Persistent sessions on both; SIGKILL k2: only its sessions end.
        def open_session():
            s = socket.create_connection(FRONT, timeout=10)
            return s, report(s)["local"].split(":")[0]

        held = [in_ns("cl", open_session) for _ in range(10)]
        on = {h: [s for s, b in held if b == KADDR[h]] for h in ("k1", "k2")}
        self.assertTrue(on["k1"] and on["k2"], "leastconn spread sessions over both")
        os.killpg(self.daemons["k2"].pid, signal.SIGKILL)
        for s in on["k2"]:
            s.settimeout(10)
            try:
                self.assertEqual(s.recv(4096), b"")
            except ConnectionResetError:
                pass
        for s in on["k1"]:
            s.sendall(b"still there?\n")
            self.assertEqual(report(s)["local"].split(":")[0], KADDR["k1"])
        self.haproxy.wait_servers({"k1": 2, "k2": 0}, timeout=10)
        for _ in range(5):  # new sessions land on k1
            s, backend = in_ns("cl", open_session)
            s.close()
            self.assertEqual(backend, KADDR["k1"])
        for s, _ in held:
            s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
