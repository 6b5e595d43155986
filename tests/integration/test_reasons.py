#!/usr/bin/env python3
"""test_reasons.py: every close and refusal reason has its own counter.

Each test provokes one reason on a listener of its own against the real
daemon (1 worker), then reads the `stats` protocol and asserts that this
reason's counter went up by exactly the expected amount and that no other
close or refusal counter of that listener moved. Not provoked here: closes
for lack of memory and socket errors other than a reset (neither can be
caused from outside without fault injection)."""
import os
import shutil
import socket
import ssl
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import tlscerts  # noqa: E402

CERTS = None
CLOSED = ("client", "handler", "line_too_long", "idle_timeout", "slow_client", "buffer_limit",
          "tls_handshake_failed", "tls_handshake_timeout", "tls_error", "no_memory", "reset",
          "io_error", "shutdown", "proxy_header", "proxy_timeout", "tls_alert_sent",
          "tls_alert_received", "tls_certificate_rejected", "tls_renegotiation")
REFUSED = ("max_connections", "out_of_memory", "denied", "per_source_limit", "connect_rate")


def setUpModule():
    global CERTS
    CERTS = tlscerts.Certs()


def tearDownModule():
    shutil.rmtree(CERTS.dir, ignore_errors=True)


def stats(port):
    """The `stats` reply as {line key: value}."""
    return H.stats_values(port)


def reasons(port, listener):
    """{reason: count} over the closed and refused families of one listener (0 if absent)."""
    st = stats(port)
    out = {}
    for fam, names in (("connections_closed_total", CLOSED),
                       ("connections_refused_total", REFUSED)):
        for r in names:
            key = 'ksockd_%s{listener="%s",reason="%s"}' % (fam, listener, r)
            out[fam.split("_")[1] + ":" + r] = st.get(key, 0)
    out["open"] = st.get('ksockd_connections_open{listener="%s"}' % listener, 0)
    return out


def wait_closed(s, timeout=5.0):
    """Reads until the daemon closes s (EOF or reset); returns what arrived."""
    s.settimeout(timeout * H.SLOW)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


def tls_context():
    ctx = ssl.create_default_context(cafile=CERTS.cert("ca"))
    ctx.check_hostname = False
    return ctx


class Reasons(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tls = dict(protocol="tls", certificate=CERTS.cert("server"), key=CERTS.key("server"))
        px = dict(proxy_protocol="v1", proxy_trusted=["127.0.0.1/32"])
        cls.d = H.Daemon([
            H.listener("st", "stats"),
            H.listener("client"),
            H.listener("handler", "daytime"),
            H.listener("long", "hello", max_line=16),
            H.listener("idle", idle_timeout=0.3),
            H.listener("slow", "hello", slow_client_timeout=0.5),
            H.listener("hsfail", "echo", **tls),
            H.listener("hstime", "echo", handshake_timeout=0.3, **tls),
            H.listener("tlserr", "echo", **tls),
            H.listener("pxbad", **px),
            H.listener("pxtime", proxy_timeout=0.3, **px),
            H.listener("pxdeny", deny=["192.0.2.0/24"], **px),
            H.listener("denied", deny=["127.0.0.1"]),
            H.listener("persrc", max_connections_per_source=1),
            H.listener("rate", connect_rate=0.01, connect_burst=1),
            H.listener("maxconn", max_connections=1),
            H.listener("reset"),
        ], workers=1)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def expect(self, listener, provoke, **want):
        """Runs provoke(port); then the listener's reason counters moved by exactly want
        (keys like closed_client, refused_denied) and all others stayed."""
        st = self.d.port("st")
        before = reasons(st, listener)
        provoke(self.d.port(listener))
        want = {k.replace("_", ":", 1): v for k, v in want.items()}
        deadline = time.monotonic() + 10 * H.SLOW
        while True:
            after = reasons(st, listener)
            delta = {k: after[k] - before[k] for k in before if k != "open"}
            if after["open"] == 0 and all(delta[k] == v for k, v in want.items()):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)  # counters have no other signal for "the worker closed it"
        self.assertEqual({k: v for k, v in delta.items() if v}, want)
        self.assertEqual(after["open"], 0)

    def test_client_closed(self):
        def go(port):
            with H.connect(port) as s:
                s.sendall(b"a\n")
                self.assertEqual(H.recv_until(s), b"a\n")
        self.expect("client", go, closed_client=1)

    def test_handler(self):
        def go(port):
            with H.connect(port) as s:
                self.assertTrue(wait_closed(s))  # daytime: one line, then the handler closes
        self.expect("handler", go, closed_handler=1)

    def test_line_too_long(self):
        def go(port):
            with H.connect(port) as s:
                s.sendall(b"x" * 100 + b"\n")
                self.assertIn(b"ERROR line too long", wait_closed(s))
        self.expect("long", go, closed_line_too_long=1)

    def test_idle_timeout(self):
        def go(port):
            with H.connect(port) as s:
                self.assertEqual(wait_closed(s), b"")
        self.expect("idle", go, closed_idle_timeout=1)

    def test_slow_client(self):
        def go(port):
            with H.connect(port) as s:
                self.assertIn(b"name", wait_until_greeted(s))
                s.sendall(b"half a li")
                wait_closed(s)
        self.expect("slow", go, closed_slow_client=1)

    def test_tls_handshake_failed(self):
        def go(port):
            with H.connect(port) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)))
                wait_closed(s)
        self.expect("hsfail", go, closed_tls_handshake_failed=1)

    def test_tls_handshake_timeout(self):
        def go(port):
            with H.connect(port) as s:
                self.assertEqual(wait_closed(s), b"")
        self.expect("hstime", go, closed_tls_handshake_timeout=1)

    def test_tls_bad_record_after_the_handshake_gets_an_alert(self):
        def go(port):
            with tls_context().wrap_socket(H.connect(port)) as t:
                t.sendall(b"ok\n")
                self.assertEqual(t.recv(100), b"ok\n")
                # An application-data record that fails authentication, on the raw socket.
                raw = socket.socket(fileno=os.dup(t.fileno()))
                raw.sendall(b"\x17\x03\x03\x00\x20" + b"\x55" * 32)
                wait_closed(raw)
                raw.close()
        self.expect("tlserr", go, closed_tls_alert_sent=1)

    def test_bad_proxy_header(self):
        def go(port):
            with H.connect(port) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                wait_closed(s)
        self.expect("pxbad", go, closed_proxy_header=1)

    def test_proxy_header_timeout(self):
        def go(port):
            with H.connect(port) as s:
                s.sendall(b"PROXY TCP4 ")
                wait_closed(s)
        self.expect("pxtime", go, closed_proxy_timeout=1)

    def test_denied_after_a_proxy_header(self):
        def go(port):
            with H.connect(port) as s:
                s.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 7\r\nhi\n")
                self.assertEqual(wait_closed(s), b"")
        self.expect("pxdeny", go, refused_denied=1)

    def test_denied(self):
        def go(port):
            with H.connect(port) as s:
                self.assertEqual(wait_closed(s), b"")
        self.expect("denied", go, refused_denied=1)

    def test_per_source_limit(self):
        def go(port):
            with H.connect(port) as held:
                held.sendall(b"1\n")
                self.assertEqual(H.recv_until(held), b"1\n")  # admitted and counted
                with H.connect(port) as s:
                    self.assertEqual(wait_closed(s), b"")
        self.expect("persrc", go, refused_per_source_limit=1, closed_client=1)

    def test_connect_rate(self):
        def go(port):
            with H.connect(port) as first:
                first.sendall(b"1\n")
                self.assertEqual(H.recv_until(first), b"1\n")
            with H.connect(port) as s:
                self.assertEqual(wait_closed(s), b"")
        self.expect("rate", go, refused_connect_rate=1, closed_client=1)

    def test_max_connections(self):
        def go(port):
            with H.connect(port) as held:
                held.sendall(b"1\n")
                self.assertEqual(H.recv_until(held), b"1\n")
                with H.connect(port) as s:
                    self.assertEqual(wait_closed(s), b"")
        self.expect("maxconn", go, refused_max_connections=1, closed_client=1)

    def test_reset(self):
        def go(port):
            s = H.connect(port)
            s.sendall(b"1\n")
            self.assertEqual(H.recv_until(s), b"1\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # linger 0: a reset, not a FIN
        self.expect("reset", go, closed_reset=1)


def wait_until_greeted(s):
    s.settimeout(5 * H.SLOW)
    buf = b""
    while b"\n" not in buf:
        chunk = s.recv(1000)
        if not chunk:
            break
        buf += chunk
    return buf


class WorkerWide(unittest.TestCase):
    """Reasons that need a daemon of their own (a worker-wide limit, a worker stop)."""

    def test_buffer_limit(self):
        with H.Daemon([H.listener("st", "stats"), H.listener("e", output_buffer=65536)],
                      workers=1, worker_buffer_limit=262144) as d:
            port = d.port("e")
            hoarders = []
            for _ in range(16):
                s = H.connect(port)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.setblocking(False)
                hoarders.append(s)
            chunk = b"y" * 1000 + b"\n"
            deadline = time.monotonic() + 20 * H.SLOW
            while time.monotonic() < deadline and "worker_buffer_limit reached" not in d.log():
                for s in hoarders:
                    try:
                        s.send(chunk * 64)
                    except (BlockingIOError, ConnectionResetError, BrokenPipeError):
                        pass
                time.sleep(0.01)
            d.wait_log(r"worker_buffer_limit reached: closed \d+ client")
            for s in hoarders:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            deadline = time.monotonic() + 10 * H.SLOW
            while True:
                r = reasons(d.port("st"), "e")
                if r["open"] == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(r["open"], 0)
            cut = r["closed:buffer_limit"]
            self.assertGreaterEqual(cut, 1)
            # Every other hoarder was reset by this test (or closed cleanly, if the
            # worker saw the reset as an end of file first): nothing else moved.
            others = {k: v for k, v in r.items()
                      if v and k not in ("open", "closed:buffer_limit", "closed:reset",
                                         "closed:client")}
            self.assertEqual(others, {})
            self.assertEqual(cut + r["closed:reset"] + r["closed:client"], 16)

    def test_shutdown(self):
        with H.Daemon([H.listener("st", "stats"), H.listener("e")], workers=1,
                      shutdown_timeout=0.3) as d:
            s = H.connect(d.port("e"))
            s.sendall(b"1\n")
            self.assertEqual(H.recv_until(s), b"1\n")
            before = reasons(d.port("st"), "e")
            d.reload()  # a new generation: the old worker drains, then cuts at shutdown_timeout
            self.assertEqual(wait_closed(s), b"")
            s.close()
            deadline = time.monotonic() + 10 * H.SLOW
            while True:
                after = reasons(d.port("st"), "e")
                if after["closed:shutdown"] > before["closed:shutdown"] or \
                        time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            delta = {k: after[k] - before[k] for k in after if k != "open" and after[k] != before[k]}
            self.assertEqual(delta, {"closed:shutdown": 1})


if __name__ == "__main__":
    unittest.main()
