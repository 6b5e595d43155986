#!/usr/bin/env python3
"""test_haproxy.py: the real HAProxy (send-proxy, send-proxy-v2, tcp-check on
the health listener) in front of ksockd on loopback, on the configuration
the README shows (conf/haproxy-example.cfg). Clients connect from 127.0.0.2
so the original client differs from the balancer's address."""
import os
import re
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import lb  # noqa: E402

TRUSTED = ["127.0.0.1/32"]
CLIENT = "127.0.0.2"


def report(sock):
    raw = H.recv_until(sock, terminator=b"\n\n")
    return dict(l.split("=", 1) for l in raw.decode().split("\n") if "=" in l)


def via(port, source=CLIENT):
    s = socket.socket()
    s.settimeout(5)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


@unittest.skipUnless(lb.available(), "haproxy is not installed (tools/install-deps installs it)")
class BehindHAProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        kw = dict(proxy_trusted=TRUSTED)
        cls.d = H.Daemon([
            H.listener("w1", "whoami", proxy_protocol="v1", **kw),
            H.listener("w2", "whoami", proxy_protocol="v2", **kw),
            H.listener("opt", "whoami", proxy_protocol="optional", **kw),
            H.listener("strict", "echo", proxy_protocol="v2", proxy_trusted=["127.0.0.3"]),
            H.listener("health", "health"),
        ], log_level="debug")
        cls.lbs = {}
        hp = cls.d.port("health")
        for name, send in (("w1", "send-proxy"), ("w2", "send-proxy-v2"),
                           ("opt", "send-proxy-v2"), ("strict", "send-proxy-v2")):
            k = "127.0.0.1:%d" % cls.d.port(name)
            front = H.free_port()
            cls.lbs[name] = (front, lb.HAProxy("127.0.0.1:%d" % front, k, k, hp, send))
        for _, h in cls.lbs.values():
            h.wait_servers({"k1": 2, "k2": 2})

    @classmethod
    def tearDownClass(cls):
        for _, h in cls.lbs.values():
            h.stop()
        cls.d.kill()

    def check_whoami(self, name, version):
        front = self.lbs[name][0]
        with via(front) as s:
            me = "%s:%d" % s.getsockname()
            r = report(s)
            self.assertEqual(r["client"], me)
            self.assertEqual(r["proxy"], version)
            self.assertEqual(r["proxy_src"], me)
            self.assertEqual(r["proxy_dst"], "127.0.0.1:%d" % front)
            self.assertRegex(r["peer"], r"^127\.0\.0\.1:\d+$")
            self.assertNotEqual(r["peer"], me)
            self.assertEqual(r["local"], "127.0.0.1:%d" % self.d.port(name))
            s.sendall(b"again\n")
            self.assertEqual(report(s), r)
        self.d.wait_log(r"%s: peer %s via 127\.0\.0\.1:\d+: connection \d+ closed"
                        % (name, re.escape(me)))

    def test_send_proxy_v1_gives_the_original_client(self):
        self.check_whoami("w1", "v1")

    def test_send_proxy_v2_gives_the_original_client(self):
        self.check_whoami("w2", "v2")

    def test_v2_tlvs_from_haproxy_are_parsed(self):
        with via(self.lbs["w2"][0]) as s:
            r = report(s)
            self.assertEqual(r["proxy_tlvs"], "1")
            # unique-id-format %{+X}o%ci:%cp_...: the client's address in hex first.
            self.assertTrue(r["proxy_unique_id"].startswith("7F000002:"), r)

    def test_optional_serves_haproxy_and_plain_clients_on_one_port(self):
        self.check_whoami("opt", "v2")
        with via(self.d.port("opt")) as s:
            s.sendall(b"plain\n")
            r = report(s)
            self.assertEqual(r["proxy"], "none")
            self.assertEqual(r["client"], "%s:%d" % s.getsockname())

    def test_header_from_untrusted_balancer_is_refused(self):
        with via(self.lbs["strict"][0]) as s:
            s.sendall(b"hello\n")
            try:
                self.assertEqual(H.recv_all(s), b"")
            except ConnectionResetError:
                pass
        self.d.wait_log(r"strict: peer 127\.0\.0\.1:\d+: connection \d+ closed "
                        r"\(source not in proxy_trusted\)")

    def test_garbage_header_is_refused(self):
        for data in (b"GET / HTTP/1.0\r\n\r\n", b"PROXY TCP4 bad\r\n",
                     b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff"):
            with via(self.d.port("w2"), source="127.0.0.1") as s:
                s.sendall(data)
                try:
                    self.assertEqual(H.recv_all(s), b"")
                except ConnectionResetError:
                    pass
        self.d.wait_log(r"listener 'w2': refused \d+ connection\(s\) for their PROXY header")

    def test_doc_shows_the_tested_haproxy_config(self):
        with open(lb.EXAMPLE) as f:
            example = f.read()
        with open(os.path.join(lb.SRCDIR, "doc", "LOAD_BALANCERS.md")) as f:
            readme = f.read()
        indented = "".join("    " + l if l.strip() else l for l in example.splitlines(True))
        self.assertIn(indented, readme)


if __name__ == "__main__":
    unittest.main(verbosity=2)
