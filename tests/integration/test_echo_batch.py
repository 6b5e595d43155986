#!/usr/bin/env python3
"""test_echo_batch.py: echo sends what a read brought back in one call from
the read buffer (conn.c, conn_echo). Checks that it keeps echo's contract:
bytes and terminators unchanged, and the output_buffer back-pressure still
holds; and that echo-lines, the line-mode echo, keeps partial lines across
reads and enforces max_line (lines before the long one answered first)."""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


class EchoBatch(unittest.TestCase):
    def test_many_lines_in_one_read_mixed_terminators(self):
        lines = [(b"line %d " % i) + b"x" * (i % 70) + (b"\r\n" if i % 3 else b"\n")
                 for i in range(2000)]
        data = b"".join(lines)
        with H.Daemon([H.listener("e")], workers=1) as d:
            with H.connect(d.port("e")) as s:
                s.sendall(data)
                got = H.recv_until(s, n_lines=len(lines))
            self.assertEqual(got, data)

    def test_partial_line_is_kept_until_its_newline(self):
        with H.Daemon([H.listener("e", "echo-lines")], workers=1) as d:
            with H.connect(d.port("e")) as s:
                s.sendall(b"one\ntwo\nthr")
                self.assertEqual(H.recv_until(s, n_lines=2), b"one\ntwo\n")
                time.sleep(0.05)  # a separate read
                s.sendall(b"ee\r\nfour\n")
                self.assertEqual(H.recv_until(s, n_lines=2), b"three\r\nfour\n")

    def test_lines_before_an_overlong_line_are_answered_first(self):
        with H.Daemon([H.listener("e", "echo-lines", max_line=16)], workers=1) as d:
            with H.connect(d.port("e")) as s:
                # Exactly max_line before "\r\n" and before "\n" is fine; 17 is not.
                s.sendall(b"a\n" + b"b" * 16 + b"\r\n" + b"c" * 16 + b"\n" + b"d" * 17 + b"\nz\n")
                out = H.recv_all(s)
            self.assertEqual(out, b"a\n" + b"b" * 16 + b"\r\n" + b"c" * 16 + b"\n" +
                             b"ERROR line too long (max_line is 16 bytes)\r\n")

    def test_a_client_that_does_not_read_still_stops_the_reads(self):
        with H.Daemon([H.listener("e", output_buffer=4096)], workers=1) as d:
            hog = H.connect(d.port("e"))
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            hog.setblocking(False)
            sent, stalled, deadline = 0, None, time.monotonic() + 10
            while time.monotonic() < deadline and sent < 64 * 1024 * 1024:
                try:
                    sent += hog.send(b"y" * 63 + b"\n")
                    stalled = None
                except BlockingIOError:
                    stalled = stalled or time.monotonic()
                    if time.monotonic() - stalled > 1.0:
                        break
                    time.sleep(0.01)
            self.assertLess(sent, 16 * 1024 * 1024, "the daemon kept reading a client that never reads")
            hog.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
