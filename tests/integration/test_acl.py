#!/usr/bin/env python3
"""test_acl.py: per-listener allow/deny against the real daemon: IPv4, IPv6
and v4-mapped peers, a deny inside an allowed prefix, the default when allow
rules exist, and refusals counted."""
import os
import re
import signal
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def served(port, source, host="127.0.0.1"):
    """Connects from source and sends a line: True if echoed, False if closed or reset."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(5 * H.SLOW)
        s.bind((source, 0))
        s.connect((host, port))
        try:
            s.sendall(b"acl?\n")
            return H.recv_until(s, 1, timeout=5 * H.SLOW) == b"acl?\n"
        except (ConnectionResetError, BrokenPipeError):
            return False


class AllowDeny(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        mapped = "::ffff:127.0.0.1"
        cls.d = H.Daemon([
            H.listener("v4", allow=["127.0.0.0/8"], deny=["127.0.0.2"]),
            H.listener("v4only", allow="127.0.0.3/32"),
            H.listener("v4deny", deny=["127.0.0.0/30"]),
            H.listener("v6deny", address="::1", allow=["::/64"], deny=["::1/128"]),
            H.listener("v6allow", address="::1", allow=["::/64"], deny=["::2/127"]),
            H.listener("mapped", address=mapped, ipv6_only=False,
                       port=H.free_port(host=mapped), allow=["127.0.0.0/8"],
                       deny=["127.0.0.2/32"]),
        ], workers=2)

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def test_v4_deny_inside_allowed_prefix(self):
        p = self.d.port("v4")
        self.assertTrue(served(p, "127.0.0.1"))
        self.assertFalse(served(p, "127.0.0.2"))
        self.assertTrue(served(p, "127.0.0.3"))

    def test_v4_only_allowed_prefix_is_served_when_allow_rules_exist(self):
        p = self.d.port("v4only")
        self.assertTrue(served(p, "127.0.0.3"))
        self.assertFalse(served(p, "127.0.0.1"))
        self.assertFalse(served(p, "127.0.0.4"))

    def test_v4_deny_only_list_serves_the_rest(self):
        p = self.d.port("v4deny")
        self.assertFalse(served(p, "127.0.0.1"))
        self.assertFalse(served(p, "127.0.0.3"))
        self.assertTrue(served(p, "127.0.0.4"))

    def test_v6_deny_inside_allowed_prefix(self):
        self.assertFalse(served(self.d.port("v6deny"), "::1", "::1"))

    def test_v6_allowed_prefix_with_a_deny_elsewhere(self):
        self.assertTrue(served(self.d.port("v6allow"), "::1", "::1"))

    def test_v4_mapped_peers_match_ipv4_rules(self):
        p = self.d.port("mapped")
        self.assertTrue(served(p, "127.0.0.1"))
        self.assertFalse(served(p, "127.0.0.2"))

    def test_refusals_are_logged_and_counted(self):
        self.assertFalse(served(self.d.port("v4"), "127.0.0.2"))
        self.d.wait_log(r"v4: denied by allow/deny: refused \d+ connection\(s\) "
                        r"\(last from 127\.0\.0\.2:\d+")


class Totals(unittest.TestCase):
    def test_every_refusal_is_counted_at_worker_exit(self):
        d = H.Daemon([H.listener("l", deny="127.0.0.2")], workers=1)
        for _ in range(5):
            self.assertFalse(served(d.port("l"), "127.0.0.2"))
        self.assertTrue(served(d.port("l"), "127.0.0.1"))
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        totals = re.findall(r"l: worker 0: (\d+) connection\(s\) refused: denied by allow/deny",
                            d.log())
        self.assertEqual(totals, ["5"], d.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
