#!/usr/bin/env python3
"""test_watchdog.py: with WATCHDOG_USEC set, the master sends WATCHDOG=1 at
three times the watchdog rate while every worker answers its pings; a
worker stopped with SIGSTOP stops the pings (so systemd would restart the
service), SIGCONT resumes them. The answers also carry the open connection
count shown in STATUS=."""
import os
import select
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

WATCHDOG_USEC = 600000  # 0.6 s: a round (and a ping) every 0.2 s


def collect(d, seconds):
    """Every notify message (with its arrival time) for the next `seconds`."""
    out, end = [], time.monotonic() + seconds
    out.extend((time.monotonic(), m) for m in d.notify.messages)
    d.notify.messages.clear()
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return out
        r, _, _ = select.select([d.notify.sock], [], [], left)
        if r:
            out.append((time.monotonic(), d.notify.sock.recv(4096).decode()))


def pings(msgs):
    return [t for t, m in msgs if "WATCHDOG=1" in m.split("\n")]


class Watchdog(unittest.TestCase):
    def test_pings_at_the_rate_then_stop_when_a_worker_is_stopped(self):
        echo = H.listener("echo", "echo")
        with H.Daemon([echo], env={"WATCHDOG_USEC": str(WATCHDOG_USEC)}) as d:
            worker = d.workers()[0]
            n = len(pings(collect(d, 2.0)))
            self.assertTrue(7 <= n <= 13, "%d WATCHDOG=1 in 2 s, expected about 10" % n)
            os.kill(worker, signal.SIGSTOP)
            try:
                # Counted, not timed (the test may read late): at most the round that
                # pinged the stopped worker and one sent before it, then none (about 10
                # in these 2 s if the stop went unnoticed).
                after = pings(collect(d, 2.0))
                self.assertLessEqual(len(after), 2, "WATCHDOG=1 went on after SIGSTOP")
                d.wait_log(r"worker \d \(pid %d\) has not answered for [\d.]+ s: withholding "
                           r"the watchdog ping" % worker)
            finally:
                os.kill(worker, signal.SIGCONT)
            self.assertGreaterEqual(len(pings(collect(d, 1.0))), 3)
            d.wait_log(r"worker \d \(pid %d\) answers again" % worker)

    def test_status_counts_open_connections(self):
        echo = H.listener("echo", "echo")
        with H.Daemon([echo], env={"WATCHDOG_USEC": str(WATCHDOG_USEC)}) as d:
            conns = [H.connect(echo["port"]) for _ in range(3)]
            try:
                for c in conns:  # each is accepted before the count is checked
                    c.sendall(b"x\n")
                    self.assertEqual(H.recv_until(c), b"x\n")
                d.notify.wait_for(lambda m: "3 open connection(s)" in m, 5)
            finally:
                for c in conns:
                    c.close()
            d.notify.wait_for(lambda m: "0 open connection(s)" in m, 5)

    def test_no_watchdog_no_pings(self):
        echo = H.listener("echo", "echo")
        with H.Daemon([echo]) as d:
            self.assertEqual(pings(collect(d, 1.0)), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
