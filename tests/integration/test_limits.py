#!/usr/bin/env python3
"""test_limits.py: the core limits against the real daemon: max_line,
output_buffer back-pressure (a client that never reads), idle_timeout,
max_connections, and a worker killed with SIGKILL."""
import os
import re
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


class Limits(unittest.TestCase):
    def test_line_over_max_line_gets_an_error_and_is_closed(self):
        # echo-lines: echo (RFC 862) has no lines, hence no max_line.
        with H.Daemon([H.listener("e", "echo-lines", max_line=64)], workers=1) as d:
            with H.connect(d.port("e")) as s:
                s.sendall(b"short\n" + b"x" * 200 + b"\n")
                out = H.recv_all(s)
            self.assertEqual(out, b"short\nERROR line too long (max_line is 64 bytes)\r\n")
            d.wait_log(r"peer 127\.0\.0\.1:\d+: line longer than max_line \(64 bytes\)")
            # A line of exactly max_line bytes is fine, even in pieces.
            with H.connect(d.port("e")) as s:
                s.sendall(b"y" * 30)
                time.sleep(0.05)
                s.sendall(b"y" * 34 + b"\r\n")
                self.assertEqual(H.recv_until(s), b"y" * 64 + b"\r\n")

    def test_long_lines_are_logged_at_most_once_per_interval_and_all_counted(self):
        with H.Daemon([H.listener("e", "echo-lines", max_line=16), H.listener("s", "stats")],
                      workers=1) as d:
            for i in range(6):
                with H.connect(d.port("e")) as s:
                    s.sendall(b"x" * 40 + b"\n")
                    self.assertEqual(H.recv_all(s),
                                     b"ERROR line too long (max_line is 16 bytes)\r\n")
            want = 'ksockd_connections_closed_total{listener="e",reason="line_too_long"} 6'
            self.assertIn(want, H.stats_query(d.port("s")))
            # The first is logged at once; the other five fall in its 10 s interval.
            lines = re.findall(r"line longer than max_line \(16 bytes\): closing \((\d+) such",
                               d.log())
            self.assertEqual(lines, ["1"])

    def test_client_that_never_reads_cannot_grow_the_worker(self):
        self.check_client_that_never_reads("echo")

    def test_client_that_never_reads_cannot_grow_a_line_handler(self):
        # A line handler frames what it reads: while the output queue is full,
        # the input it cannot frame yet must stay on the socket, not in the worker.
        self.check_client_that_never_reads("echo-lines")

    def check_client_that_never_reads(self, handler):
        with H.Daemon([H.listener("e", handler, output_buffer=65536)], workers=1) as d:
            worker = d.workers()[0]
            base = H.rss_kb(worker)
            hog = H.connect(d.port("e"))
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            hog.setblocking(False)
            line = b"z" * 1023 + b"\n"
            sent = 0
            deadline = time.monotonic() + 10
            # Keep sending until the daemon stops reading (our send buffer fills up).
            stalled_since = None
            while time.monotonic() < deadline and sent < 200 * 1024 * 1024:
                try:
                    sent += hog.send(line * 64)
                    stalled_since = None
                except (ConnectionResetError, BrokenPipeError) as e:
                    # output_buffer means back-pressure: stop reading, keep the client.
                    self.fail("the daemon closed the client after %d bytes (%r) instead of "
                              "no longer reading it:\n%s" % (sent, e, d.log()[-1500:]))
                except BlockingIOError:
                    stalled_since = stalled_since or time.monotonic()
                    if time.monotonic() - stalled_since > 1.0:
                        break
                    time.sleep(0.01)
            self.assertLess(sent, 64 * 1024 * 1024, "the daemon kept reading a client that never reads")
            # Others are still served promptly.
            with H.connect(d.port("e")) as s:
                t0 = time.monotonic()
                s.sendall(b"still here\n")
                self.assertEqual(H.recv_until(s), b"still here\n")
                self.assertLess(time.monotonic() - t0, 1.0)
            grown = H.rss_kb(worker) - base
            # ASan keeps freed blocks in its quarantine and maps shadow memory for what
            # the queue's reallocations touched: RSS says less there (the bound on what
            # the daemon read, above, holds in every build).
            limit = (32 if H.SANITIZED else 8) * 1024
            self.assertLess(grown, limit, "worker RSS grew by %d KiB" % grown)
            hog.close()
            self.assertNotIn("worker_buffer_limit", d.log())

    def test_idle_connection_is_closed(self):
        with H.Daemon([H.listener("e", idle_timeout=0.5)], workers=1) as d:
            with H.connect(d.port("e")) as s:
                s.sendall(b"a\n")
                self.assertEqual(H.recv_until(s), b"a\n")
                t0 = time.monotonic()
                self.assertEqual(H.recv_all(s, timeout=5), b"")
                self.assertGreater(time.monotonic() - t0, 0.3)
            d.wait_log(r"idle for 0.5 s: closing")

    def test_connections_past_max_connections_are_closed_at_once(self):
        with H.Daemon([H.listener("e")], workers=1, max_connections=5,
                      log_level="debug") as d:
            held = [H.connect(d.port("e")) for _ in range(5)]
            for s in held:
                s.sendall(b"x\n")
                self.assertEqual(H.recv_until(s), b"x\n")
            extra = H.connect(d.port("e"))
            self.assertEqual(H.recv_all(extra, timeout=5), b"")
            extra.close()
            d.wait_log(r"listener 'e': max_connections reached")
            held.pop().close()
            # The worker has seen the close (its log line) before the slot is reused.
            d.wait_log(r"e: peer [^ ]+: connection \d+ closed \(client closed\)")
            with H.connect(d.port("e")) as s:  # a freed slot is usable again
                s.sendall(b"again\n")
                self.assertEqual(H.recv_until(s), b"again\n")
            for s in held:
                s.close()

    def test_killed_worker_is_replaced_and_service_continues(self):
        with H.Daemon([H.listener("e")], workers=2) as d:
            before = d.workers()
            self.assertEqual(len(before), 2)
            os.kill(before[0], signal.SIGKILL)
            d.wait_log(r"worker \d \(pid %d\) killed by signal 9" % before[0])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                now = d.workers()
                if len(now) == 2 and before[0] not in now:
                    break
                time.sleep(0.05)
            self.assertEqual(len(d.workers()), 2)
            self.assertNotIn(before[0], d.workers())
            for i in range(20):
                with H.connect(d.port("e")) as s:
                    s.sendall(b"after %d\n" % i)
                    self.assertEqual(H.recv_until(s), b"after %d\n" % i)


if __name__ == "__main__":
    unittest.main(verbosity=2)
