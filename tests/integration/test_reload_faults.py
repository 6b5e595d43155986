#!/usr/bin/env python3
"""test_reload_faults.py: a reload that runs out of memory is refused and the
running config keeps serving, whichever allocation of the reload fails.

The master runs with tests/faultinject/failmalloc.so preloaded: each SIGHUP
arms it to fail the Nth allocation the master makes from then on. For
N = 1, 2, ... the test reloads to a config that keeps the running listener
and adds two (one on a name to resolve, one serving quotes read from a file,
so resolving, reading, binding and forking are all on the path), and checks
after each reload that the master is alive, and that either the reload was
reported rejected and only the old config answers, or (an allocation whose
failure is survivable without refusing, such as a retried libev one) the new
config serves. The walk ends at the first N the reload no longer reaches;
a last reload without failure must then be accepted.
"""
import os
import re
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

FAILMALLOC = os.environ.get(
    "KSOCKD_FAILMALLOC",
    os.path.join(os.path.dirname(os.path.abspath(H.KSOCKD)), "tests", "faultinject",
                 "failmalloc.so"))
MAX_N = 5000        # bound on the walk; a reload makes a few hundred allocations
WALK_SECONDS = 600  # bound on its duration


def echoes(port, line=b"ping\n"):
    with H.connect(port, timeout=5) as s:
        s.sendall(line)
        return H.recv_until(s, timeout=5) == line


def refused(port):
    """Nothing listens on port (the reload that would have added it was refused)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


class ReloadFaults(unittest.TestCase):
    def test_every_allocation_of_a_reload_failing_in_turn_is_survived(self):
        self.assertTrue(os.path.exists(FAILMALLOC), "build it first: make check builds "
                        + FAILMALLOC)
        old = H.listener("old", "echo")
        added = H.listener("added", "echo", address="localhost",
                           port=H.free_port(host="127.0.0.1"), ipv6_only=True)
        tmp = tempfile.mkdtemp(prefix="ksockd-faults-")
        H._dirs.append(tmp)  # removed at exit, like the daemons' own
        control = os.path.join(tmp, "failmalloc.control")
        flog = os.path.join(tmp, "failmalloc.log")
        quotes = os.path.join(tmp, "quotes")
        with open(quotes, "w") as f:
            f.write("one quote\n%\nanother\n")
        qotd = H.listener("quotes", "qotd", qotd_file=quotes)
        with open(control, "w") as f:
            f.write("0\n")
        # libconfig 1.5 crashes on a failed allocation (config_init uses calloc's result
        # unchecked): its own allocations are spared, every other one is failed in turn.
        env = {"LD_PRELOAD": FAILMALLOC, "FAILMALLOC_CONTROL": control,
               "FAILMALLOC_SPARE": "libconfig.so",
               "FAILMALLOC_LOG": flog, "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "")
               + ":verify_asan_link_order=0"}
        with H.Daemon([old], env=env, workers=1) as d:
            self.assertTrue(echoes(d.port("old")))
            new_conf = [old, added, qotd]
            rejected = accepted_despite = 0
            survived = []  # N of the failures an accepted reload survived
            reasons = set()
            start = time.monotonic()
            n = 0
            while True:
                n += 1
                self.assertLess(n, MAX_N, "the reload path never ended")
                self.assertLess(time.monotonic() - start, WALK_SECONDS, "walk too slow")
                with open(control, "w") as f:
                    f.write("%d\n" % n)
                flog_before = os.path.getsize(flog) if os.path.exists(flog) else 0
                try:
                    msg = reload(d, new_conf)
                except TimeoutError as e:
                    with open(flog) as f:
                        self.fail("reload with allocation %d failing never ended (master exit "
                                  "status %r): %s\n%s\n%s" % (n, d.proc.poll(), e,
                                                              f.read()[-2500:], d.log()[-1500:]))
                self.assertIsNone(d.proc.poll(), "master died at allocation %d:\n%s"
                                  % (n, d.log()[-3000:]))
                with open(flog) as f:
                    f.seek(flog_before)
                    injected = re.search(r"^failed %d size \d+ pid %d$" % (n, d.pid),
                                         f.read(), re.M) is not None
                if "reload rejected" in msg:
                    self.assertTrue(injected, "rejected without a failure at %d: %s" % (n, msg))
                    rejected += 1
                    reasons.add(re.sub(r"\d+", "N", msg.split("reload rejected: ", 1)[1]))
                    self.assertTrue(echoes(d.port("old")), "old config silent after %d" % n)
                    wait_one_worker(d)  # the refused generation's workers are gone
                    self.assertTrue(refused(d.port("added")), "half a reload after %d: %s\n%s" % (n, msg, d.log()[-2000:]))
                    continue
                # Accepted: the new config serves in full.
                self.assertTrue(echoes(d.port("old")))
                self.assertTrue(echoes(d.port("added")))
                with H.connect(d.port("quotes")) as s:
                    self.assertIn(H.recv_all(s), (b"one quote\r\n", b"another\r\n"))
                if not injected:
                    break  # past the last allocation of the reload path
                accepted_despite += 1
                survived.append(n)
                with open(control, "w") as f:
                    f.write("0\n")
                self.assertNotIn("reload rejected", reload(d, [old]))
            with open(flog) as f:
                text = f.read()
            # Where the survived failures were (the first frame past the failer).
            sites = sorted({re.search(r"^failed %d size \d+ pid \d+\n(?:.*failmalloc.*\n)*(.*)"
                                      % k, text, re.M).group(1) for k in survived})
            self.assertGreater(rejected, 10, "too few allocations on the reload path")
            print("\nreload path: %d allocation(s); %d failure(s) refused the reload, %d were "
                  "survived by the accepted reload (at %s); reasons seen:\n  %s"
                  % (n - 1, rejected, accepted_despite, ", ".join(sites),
                     "\n  ".join(sorted(reasons))))
            d.wait_log(r"reload rejected, keeping the running config: .*out of memory")
            self.assertEqual(d.stop(), 0)


def wait_one_worker(d, timeout=10.0):
    """Waits until the master has a single child: the running generation's worker."""
    deadline = time.monotonic() + timeout * H.SLOW
    while len(d.workers()) != 1:
        if time.monotonic() > deadline:
            raise AssertionError("workers left: %r\n%s" % (d.workers(), d.log()[-1500:]))
        time.sleep(0.01)


def reload(d, listeners):
    """Reloads d to listeners; returns the READY=1 message that ends the reload."""
    d.listeners = {l["name"]: l for l in listeners}
    d.write_config(listeners, workers=1)
    d.signal(H.sigmod.SIGHUP)
    d.notify.wait_for(lambda m: "RELOADING=1" in m, 15 * H.SLOW)
    return d.notify.wait_for(lambda m: "READY=1" in m, 15 * H.SLOW)


if __name__ == "__main__":
    unittest.main(verbosity=2)
