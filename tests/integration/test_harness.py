#!/usr/bin/env python3
"""test_harness.py: the test machinery itself, so that CI cannot go green by
accident: a test stopped by its time limit or killed outright leaves no
daemon behind; a daemon that loses its picked port to another process starts
again on a new one; tests/run-test turns a skip into SKIP (FAIL under CI), a
hang into FAIL, and passes a pass through."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import harness as H

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_TEST = os.path.join(HERE, "..", "run-test")

# A test script that starts a daemon, prints its pids, then hangs.
HANGS = textwrap.dedent("""\
    import sys, time
    sys.path.insert(0, %r)
    import harness as H
    d = H.Daemon([H.listener("e")])
    print("pids", d.pid, *d.workers(), flush=True)
    time.sleep(600)
""") % HERE


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


class Harness(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ksockd-harness-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def script(self, text):
        path = os.path.join(self.tmp, "t%d.py" % len(os.listdir(self.tmp)))
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_hanging(self, argv):
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.addCleanup(p.stdout.close)
        for line in p.stdout:
            if line.startswith(b"pids "):
                pids = [int(x) for x in line.split()[1:]]
                self.assertEqual(len(pids), 3, line)  # master and 2 workers
                return p, pids
        self.fail("the script never started its daemon: %r" % p.communicate())

    def assert_all_gone(self, pids):
        deadline = time.monotonic() + 10 * H.SLOW
        while any(alive(p) for p in pids):
            self.assertLess(time.monotonic(), deadline,
                            "daemon processes left: %r" % [p for p in pids if alive(p)])
            time.sleep(0.05)

    def test_sigterm_to_the_test_kills_its_daemons(self):
        p, pids = self.start_hanging([sys.executable, self.script(HANGS)])
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(10 * H.SLOW), 128 + signal.SIGTERM)
        self.assert_all_gone(pids)

    def test_sigkill_to_the_test_kills_its_daemons(self):
        p, pids = self.start_hanging([sys.executable, self.script(HANGS)])
        p.kill()
        p.wait(10)
        self.assert_all_gone(pids)

    def test_time_limit_fails_a_hung_test_and_kills_its_daemons(self):
        env = dict(os.environ, TEST_TIMEOUT="3", KSOCKD_SLOW="1")
        p = subprocess.Popen([sys.executable, RUN_TEST, self.script(HANGS)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.communicate(timeout=60)[0].decode()
        self.assertEqual(p.returncode, 1, out)
        self.assertIn("time limit of 3 s exceeded", out)
        pids = [int(x) for x in out.split("pids ", 1)[1].split("\n", 1)[0].split()]
        self.assert_all_gone(pids)

    def test_skip_is_skip_outside_ci_and_failure_under_ci(self):
        t = self.script(textwrap.dedent("""\
            import unittest
            class A(unittest.TestCase):
                def test_runs(self): pass
                def test_cannot(self): self.skipTest("no frobnicator here")
            unittest.main(verbosity=2)
        """))
        env = dict(os.environ)
        env.pop("CI", None)
        r = subprocess.run([sys.executable, RUN_TEST, t], env=env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 77, r.stdout)
        self.assertIn("run-test: SKIP: %s: test_cannot" % t, r.stdout)
        self.assertIn("no frobnicator here", r.stdout)
        r = subprocess.run([sys.executable, RUN_TEST, t], env=dict(env, CI="true"),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("skip(s) under CI=true", r.stdout)
        exit77 = self.script("print('SKIP: needs a unicorn'); raise SystemExit(77)\n")
        r = subprocess.run([sys.executable, RUN_TEST, exit77], env=dict(env, CI="true"),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("exit 77: SKIP: needs a unicorn", r.stdout)

    def test_pass_and_failure_pass_through(self):
        ok = self.script("import unittest\nclass A(unittest.TestCase):\n"
                         "    def test_a(self): pass\nunittest.main(verbosity=2)\n")
        bad = self.script("import unittest\nclass A(unittest.TestCase):\n"
                          "    def test_a(self): self.fail('no')\nunittest.main(verbosity=2)\n")
        env = dict(os.environ, CI="true")
        self.assertEqual(subprocess.run([sys.executable, RUN_TEST, ok], env=env,
                                        capture_output=True, timeout=60).returncode, 0)
        self.assertEqual(subprocess.run([sys.executable, RUN_TEST, bad], env=env,
                                        capture_output=True, timeout=60).returncode, 1)

    def test_a_daemon_that_lost_its_port_starts_on_a_new_one(self):
        l = H.listener("e")
        taken = l["port"]
        with socket.socket() as blocker:
            blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            blocker.bind(("127.0.0.1", taken))
            blocker.listen()
            with H.Daemon([l]) as d:
                self.assertNotEqual(d.port("e"), taken)
                with H.connect(d.port("e")) as s:
                    s.sendall(b"moved\n")
                    self.assertEqual(H.recv_until(s), b"moved\n")

    def test_a_mutant_whose_search_text_is_not_found_exactly_once_fails(self):
        """A refactor that moves a mutant's target text must fail check-mutants, not make
        the mutant silently test nothing."""
        runner = os.path.join(HERE, "..", "mutants", "run")
        src = os.path.join(HERE, "..", "..")
        target = os.path.join(self.tmp, "target.c")
        with open(target, "w") as f:
            f.write("int a(void)\n{\n\treturn 1;\n}\nint b(void)\n{\n\treturn 1;\n}\n")
        head = "file: %s\ntest: tests/unit/test_udpfilter\n" % target
        cases = {
            "gone": (head + "--- search\n\treturn 2;\n--- replace\n\treturn 3;\n",
                     "found 0 times"),
            "twice": (head + "--- search\n\treturn 1;\n--- replace\n\treturn 0;\n",
                      "found 2 times"),
            "notest": ("file: %s\n--- search\nint a\n--- replace\nint c\n" % target,
                       "no 'test:' line"),
        }
        for name, (text, why) in cases.items():
            path = os.path.join(self.tmp, name + ".mutant")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([sys.executable, runner, "--srcdir", src, "--workdir",
                                os.path.join(self.tmp, "work"), path],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("BROKEN   %s: " % name, r.stdout)
            self.assertIn(why, r.stdout)

    def test_picked_ports_are_outside_the_ephemeral_range(self):
        low, high = H.PORT_RANGE
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph_low = int(f.read().split()[0])
        self.assertLessEqual(high, eph_low)
        ports = [H.free_port() for _ in range(50)]
        self.assertEqual(len(set(ports)), 50, "a port handed out twice")
        self.assertTrue(all(low <= p < high for p in ports), ports)


if __name__ == "__main__":
    unittest.main(verbosity=2)
