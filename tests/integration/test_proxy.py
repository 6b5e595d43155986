#!/usr/bin/env python3
"""test_proxy.py: PROXY protocol headers written by hand (v1, v2, in pieces,
TLVs, LOCAL), refusals (untrusted, garbled, oversized, late), optional mode,
whoami, the health handler and drain_delay, and reuseport balance."""
import collections
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src=("203.0.113.7", 5555), dst=("192.0.2.1", 7007), tlvs=b"", local=False):
    if local:
        return SIG + b"\x20\x00" + struct.pack("!H", len(tlvs)) + tlvs
    block = (socket.inet_aton(src[0]) + socket.inet_aton(dst[0]) +
             struct.pack("!HH", src[1], dst[1]) + tlvs)
    return SIG + b"\x21\x11" + struct.pack("!H", len(block)) + block


def tlv(t, value):
    return bytes([t]) + struct.pack("!H", len(value)) + value


def connect_from(port, source="127.0.0.1", timeout=5.0):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def report(sock):
    """Reads one whoami report (key=value lines up to an empty line) into a dict."""
    raw = H.recv_until(sock, terminator=b"\n\n")
    return dict(l.split("=", 1) for l in raw.decode().split("\n") if "=" in l)


def closed_without_reply(sock):
    try:
        return H.recv_all(sock) == b""
    except ConnectionResetError:
        return True


TRUSTED = ["127.0.0.1/32", "::1"]


class Headers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        kw = dict(proxy_trusted=TRUSTED, proxy_timeout=1.0)
        cls.d = H.Daemon([
            H.listener("v1", "whoami", proxy_protocol="v1", **kw),
            H.listener("v2", "whoami", proxy_protocol="v2", **kw),
            H.listener("any", "echo", proxy_protocol="any", **kw),
            H.listener("opt", "whoami", proxy_protocol="optional", **kw),
            H.listener("opthello", "hello", proxy_protocol="optional", **kw),
        ], log_level="debug")

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def test_v1_header_replaces_the_peer_in_whoami_and_logs(self):
        with connect_from(self.d.port("v1")) as s:
            s.sendall(b"PROXY TCP4 203.0.113.7 192.0.2.1 5555 7007\r\n")
            r = report(s)
            self.assertEqual(r["client"], "203.0.113.7:5555")
            self.assertEqual(r["peer"], "127.0.0.1:%d" % s.getsockname()[1])
            self.assertEqual(r["proxy"], "v1")
            self.assertEqual(r["proxy_dst"], "192.0.2.1:7007")
            self.assertEqual(r["listener"], "v1")
            self.assertEqual(r["local"], "127.0.0.1:%d" % self.d.port("v1"))
        self.d.wait_log(r"v1: peer 203\.0\.113\.7:5555 via 127\.0\.0\.1:\d+: connection \d+ closed")

    def test_v1_tcp6(self):
        with connect_from(self.d.port("v1")) as s:
            s.sendall(b"PROXY TCP6 2001:db8::7 2001:db8::1 5555 7007\r\n")
            self.assertEqual(report(s)["client"], "[2001:db8::7]:5555")

    def test_v2_header_in_pieces_with_tlvs_then_lines(self):
        hdr = v2_header(tlvs=tlv(1, b"h2") + tlv(2, b"example.com") +
                        tlv(0x20, b"\x01\x00\x00\x00\x00" + tlv(0x21, b"TLSv1.3")))
        with connect_from(self.d.port("v2")) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(hdr), 5):
                s.sendall(hdr[i:i + 5])
                time.sleep(0.01)  # separate segments, so the header arrives in pieces
            r = report(s)
            self.assertEqual(r["client"], "203.0.113.7:5555")
            self.assertEqual((r["proxy"], r["proxy_alpn"], r["proxy_authority"]),
                             ("v2", "h2", "example.com"))
            self.assertEqual((r["proxy_ssl"], r["proxy_ssl_version"]), ("1", "TLSv1.3"))
            s.sendall(b"again\n")
            self.assertEqual(report(s), r)

    def test_header_and_first_lines_in_one_segment(self):
        with connect_from(self.d.port("any")) as s:
            s.sendall(v2_header() + b"one\ntwo\n")
            self.assertEqual(H.recv_until(s, 2), b"one\ntwo\n")
        with connect_from(self.d.port("any")) as s:
            s.sendall(b"PROXY UNKNOWN\r\nthree\n")
            self.assertEqual(H.recv_until(s), b"three\n")

    def test_v2_local_keeps_the_socket_address(self):
        with connect_from(self.d.port("v2")) as s:
            s.sendall(v2_header(local=True))
            r = report(s)
            self.assertEqual(r["client"], r["peer"])
            self.assertEqual(r["proxy_local"], "1")

    def test_optional_serves_plain_and_proxied_on_one_port(self):
        with connect_from(self.d.port("opt")) as s:
            s.sendall(b"plain\n")
            r = report(s)
            self.assertEqual((r["proxy"], r["client"]), ("none", r["peer"]))
        with connect_from(self.d.port("opt")) as s:
            s.sendall(b"PRO")  # could still be a header ...
            time.sleep(0.05)
            s.sendall(b"BLEM\n")  # ... but is a plain line
            self.assertEqual(report(s)["proxy"], "none")
        with connect_from(self.d.port("opt")) as s:
            s.sendall(v2_header())
            self.assertEqual(report(s)["client"], "203.0.113.7:5555")

    def test_optional_greets_a_silent_plain_client_after_proxy_timeout(self):
        with connect_from(self.d.port("opthello")) as s:
            t0 = time.monotonic()
            self.assertEqual(H.recv_until(s), b"Please enter your name\n")
            self.assertGreater(time.monotonic() - t0, 0.8)

    def test_untrusted_source_is_refused(self):
        for name in ("v1", "opt"):
            with connect_from(self.d.port(name), source="127.0.0.5") as s:
                s.sendall(b"PROXY TCP4 203.0.113.7 192.0.2.1 5555 7007\r\nx\n")
                self.assertTrue(closed_without_reply(s), name)
        self.d.wait_log(r"v1: peer 127\.0\.0\.5:\d+: connection \d+ closed "
                        r"\(source not in proxy_trusted\)")
        self.d.wait_log(r"opt: peer 127\.0\.0\.5:\d+: connection \d+ closed "
                        r"\(PROXY header from a source not in proxy_trusted\)")
        # Refusals are also counted in a rate-limited line (one per 10 s per worker).
        self.d.wait_log(r"listener '\w+': refused \d+ connection\(s\) for their PROXY header "
                        r"\(\d+ in all\); last: peer ")
        # Optional mode still serves an untrusted plain client.
        with connect_from(self.d.port("opt"), source="127.0.0.5") as s:
            s.sendall(b"hi\n")
            self.assertEqual(report(s)["client"].split(":")[0], "127.0.0.5")

    def test_garbled_missing_oversized_and_late_headers_are_refused(self):
        bad = [
            ("v1", b"PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n"),
            ("v1", b"PROXY TCP4 1.2.3.400 1.2.3.5 1 2\r\n"),
            ("v1", b"PROXY UNKNOWN " + b"x" * 200),
            ("v1", v2_header()),
            ("v2", b"PROXY TCP4 1.2.3.4 1.2.3.5 1 2\r\n"),
            ("v2", SIG + b"\x21\x11\xff\xff"),
            ("v2", SIG + b"\x21\x11\x00\x04" + b"abcd"),
            ("any", b"hello\n"),
            ("any", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),
            ("opt", b"PROXY garbage\r\n"),
        ]
        for name, data in bad:
            with connect_from(self.d.port(name)) as s:
                s.sendall(data)
                self.assertTrue(closed_without_reply(s), (name, data))
        with connect_from(self.d.port("v2")) as s:  # half a header, then silence
            s.sendall(SIG[:6])
            t0 = time.monotonic()
            self.assertTrue(closed_without_reply(s))
            self.assertGreater(time.monotonic() - t0, 0.5)
        self.d.wait_log(r"no complete PROXY header within proxy_timeout")


class Config(unittest.TestCase):
    def check(self, extra, message):
        d = H.tempfile.mkdtemp()
        path = os.path.join(d, "k.conf")
        with open(path, "w") as f:
            f.write(H.render_config([H.listener("l", "echo", **extra)]))
        r = subprocess.run([H.KSOCKD, "-t", "-c", path], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"k\.conf:\d+: .*" + message)

    def test_bad_settings_name_file_and_line(self):
        self.check(dict(proxy_protocol="v3", proxy_trusted=TRUSTED), "unknown proxy_protocol 'v3'")
        self.check(dict(proxy_protocol="v2"), "needs 'proxy_trusted'")
        self.check(dict(proxy_protocol="v2", proxy_trusted=["10.0.0.0/33"]), "bad address or CIDR")
        self.check(dict(proxy_protocol="v2", proxy_trusted="10.0.0.1"), "must be a list")


class Health(unittest.TestCase):
    def test_sigterm_with_drain_delay_fails_health_then_stops(self):
        d = H.Daemon([H.listener("health", "health"), H.listener("echo", "echo")],
                     drain_delay=1.5)
        with d:
            with H.connect(d.port("health")) as s:
                s.sendall(b"health\n")
                self.assertEqual(H.recv_until(s), b"ready\n")
                d.signal(signal.SIGTERM)
                d.notify.wait_for(lambda m: "STATUS=draining" in m)
                t0 = time.monotonic()
                s.sendall(b"health\n")
                self.assertEqual(H.recv_until(s), b"draining\n")
            # Still serving, new connections included, during the delay.
            with H.connect(d.port("echo")) as e:
                e.sendall(b"still here\n")
                self.assertEqual(H.recv_until(e), b"still here\n")
            with H.connect(d.port("health")) as s:
                s.sendall(b"\n")
                self.assertEqual(H.recv_until(s), b"draining\n")
            self.assertEqual(d.proc.wait(15), 0)
            self.assertGreater(time.monotonic() - t0, 1.0)
            self.assertIn("health checks answer 'draining' for 1.5 s", d.log())

    def test_without_drain_delay_sigterm_stops_at_once(self):
        d = H.Daemon([H.listener("health", "health")])
        with d:
            d.signal(signal.SIGTERM)
            self.assertEqual(d.proc.wait(10), 0)
            self.assertNotIn("drain_delay", d.log())


def accepted_per_worker(d, listener):
    pat = r"ksockd\[(\d+)\] debug: %s: peer \S+: connection \d+ accepted" % listener
    return collections.Counter(re.findall(pat, d.log()))


class Reuseport(unittest.TestCase):
    WORKERS, CONNS = 4, 400
    # Each of 4 workers must get 100 +- 50 of 400 connections (the kernel hashes
    # the 4-tuple: the standard deviation is about 9).
    TOLERANCE = 0.5

    def run_clients(self, port, n, threads=4):
        errors = []

        def client(k):
            try:
                for _ in range(k):
                    with H.connect(port) as s:
                        s.sendall(b"x\n")
                        if H.recv_until(s) != b"x\n":
                            errors.append("bad reply")
            except OSError as e:
                errors.append(repr(e))

        ts = [threading.Thread(target=client, args=(n // threads,)) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        return errors

    def test_connections_spread_across_workers_and_survive_reload(self):
        lst = [H.listener("rp", "echo", reuseport=True)]
        d = H.Daemon(lst, workers=self.WORKERS, log_level="debug")
        with d:
            self.assertEqual(self.run_clients(d.port("rp"), self.CONNS), [])
            d.wait_log(r"rp: peer \S+: connection \d+ closed", count=self.CONNS)
            counts = accepted_per_worker(d, "rp")
            print("reuseport: connections per worker:", sorted(counts.values()))
            self.assertEqual(len(counts), self.WORKERS)
            want = self.CONNS / self.WORKERS
            for pid, n in counts.items():
                self.assertLessEqual(abs(n - want), want * self.TOLERANCE, counts)
            # Reload under load: the sockets are kept, nothing is refused.
            stop = threading.Event()
            errs = []

            def load():
                while not stop.is_set():
                    errs.extend(self.run_clients(d.port("rp"), 8))

            t = threading.Thread(target=load)
            t.start()
            try:
                for _ in range(3):
                    d.reload()
            finally:
                stop.set()
                t.join(60)
            self.assertEqual(errs, [])


class ProxiedClientLimits(unittest.TestCase):
    """allow/deny and per-source limits judge the client a PROXY header names."""

    def test_acl_and_per_source_limit_apply_to_the_proxied_client(self):
        with H.Daemon([H.listener("p", "echo", proxy_protocol="v1", proxy_trusted=TRUSTED,
                                  allow=["203.0.113.0/24"], deny=["203.0.113.66"],
                                  max_connections_per_source=2)], workers=1) as d:
            def session(client, port=5555):
                s = connect_from(d.port("p"))
                s.sendall(b"PROXY TCP4 %s 192.0.2.1 %d 7007\r\nping\n" % (client.encode(), port))
                return s

            with session("203.0.113.7") as s:  # allowed, though the balancer is not listed
                self.assertEqual(H.recv_until(s), b"ping\n")
            with session("203.0.113.66") as s:  # the denied client behind an allowed balancer
                self.assertTrue(closed_without_reply(s))
            with session("198.51.100.1") as s:  # outside the allow list
                self.assertTrue(closed_without_reply(s))
            held = [session("203.0.113.9", 1000 + i) for i in range(2)]
            for s in held:
                self.assertEqual(H.recv_until(s), b"ping\n")
            with session("203.0.113.9", 2000) as s:  # third from that client: over the limit
                self.assertTrue(closed_without_reply(s))
            with session("203.0.113.10") as s:  # another client through the same balancer
                self.assertEqual(H.recv_until(s), b"ping\n")
            for s in held:
                s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
