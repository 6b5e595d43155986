#!/usr/bin/env python3
"""test_notify.py: the service manager protocol without systemd. The test
binds its own NOTIFY_SOCKET and checks the exact sequence READY=1 ->
(SIGHUP) RELOADING=1 -> READY=1 -> (SIGTERM) STOPPING=1, a rejected reload
reported in STATUS=, the STATUS= text, and "ksockd -s reload" (the unit's
ExecReload): exit 0 once the new config serves, 1 with the reason when it
is rejected."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

STATES = ("READY=1", "RELOADING=1", "STOPPING=1")


def states(d, until, timeout=10.0):
    """State messages (READY/RELOADING/STOPPING, one per datagram) up to the one matching until."""
    got = []
    while True:
        m = d.notify.wait_for(lambda m: any(s in m.split("\n") for s in STATES), timeout)
        got.append("|".join(x for x in m.split("\n") if x in STATES))
        if until(m):
            return got, m


def helper(d, *args, env=None):
    """Runs "ksockd -s reload"; then reads d's notify messages (unread, they would fill the
    socket's queue and block the daemon, as an absent service manager would)."""
    e = dict(os.environ)
    e.pop("MAINPID", None)
    e.pop("RUNTIME_DIRECTORY", None)
    e.update(env or {})
    r = subprocess.run([H.KSOCKD, "-s", "reload"] + list(args), capture_output=True,
                       text=True, timeout=30, env=e)
    if d and r.returncode in (0, 1) and "reload" in r.stdout + r.stderr:
        d.notify.wait_for(lambda m: "READY=1" in m)
    return r


def echo_ok(port):
    with H.connect(port) as s:
        s.sendall(b"ping\n")
        return H.recv_until(s) == b"ping\n"


class Protocol(unittest.TestCase):
    def test_ready_reload_rejected_reload_stop_sequence(self):
        echo = H.listener("echo", "echo")
        d = H.Daemon([echo], wait_ready=False)
        try:
            got, _ = states(d, lambda m: "READY=1" in m)
            self.assertEqual(got, ["READY=1"])
            st = d.notify.wait_for(lambda m: m.startswith("STATUS="))
            self.assertRegex(st, r"STATUS=1 listener\(s\), 2 worker\(s\) ready, 0 open "
                                 r"connection\(s\), generation 1, 0 reload\(s\), 0 rejected")
            d.signal(signal.SIGHUP)
            got, _ = states(d, lambda m: "READY=1" in m)
            self.assertEqual(got, ["RELOADING=1", "READY=1"])
            st = d.notify.wait_for(lambda m: m.startswith("STATUS="))
            self.assertIn("generation 2, 1 reload(s), 0 rejected", st)
            with open(d.conf_path, "a") as f:
                f.write("bogus_setting = 1;\n")
            d.signal(signal.SIGHUP)
            got, m = states(d, lambda m: "READY=1" in m)
            self.assertEqual(got, ["RELOADING=1", "READY=1"])
            self.assertRegex(m, r"STATUS=reload rejected: .*ksockd.conf:\d+: unknown setting "
                                r"'bogus_setting'")
            self.assertTrue(echo_ok(echo["port"]))
            d.signal(signal.SIGTERM)
            got, _ = states(d, lambda m: "STOPPING=1" in m)
            self.assertEqual(got, ["STOPPING=1"])
            self.assertEqual(d.proc.wait(15), 0)
        finally:
            d.kill()

    def test_daemonized_master_sends_mainpid(self):
        echo = H.listener("echo", "echo")
        tmp = tempfile.mkdtemp(prefix="ksockd-test-")
        conf, pidf = os.path.join(tmp, "ksockd.conf"), os.path.join(tmp, "ksockd.pid")
        with open(conf, "w") as f:
            f.write(H.render_config([echo], pid_file=pidf))
        n = H.Notify(os.path.join(tmp, "notify"))
        env = dict(os.environ, NOTIFY_SOCKET=n.path)
        env.pop("JOURNAL_STREAM", None)
        try:
            r = subprocess.run([H.KSOCKD, "-c", conf], env=env, timeout=10,
                               stdin=subprocess.DEVNULL, capture_output=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            pid = int(n.wait_for(lambda m: m.startswith("MAINPID=")).split("=")[1])
            try:
                n.wait_for(lambda m: "READY=1" in m)
                with open(pidf) as f:
                    self.assertEqual(int(f.read()), pid)
                self.assertTrue(echo_ok(echo["port"]))
            finally:
                os.kill(pid, signal.SIGTERM)
            n.wait_for(lambda m: "STOPPING=1" in m)
            for _ in range(200):  # not our child: poll until it is gone
                if not os.path.exists(pidf):
                    break
                time.sleep(0.05)
            self.assertFalse(os.path.exists(pidf), "pid file left behind")
        finally:
            n.close()
            shutil.rmtree(tmp, ignore_errors=True)


class ReloadHelper(unittest.TestCase):
    def test_reload_helper_waits_for_success_and_reports_rejection(self):
        echo, hello = H.listener("echo", "echo"), H.listener("hello", "hello")
        rundir = tempfile.mkdtemp(prefix="ksockd-run-")
        with H.Daemon([echo], args=["-r", rundir]) as d:
            status = os.path.join(rundir, "ksockd.status")
            with open(status) as f:
                self.assertIn("pid=%d\n" % d.pid, f.read())
            # Good config: returns after the new listener serves.
            d.write_config([echo, hello], **d.globals)
            r = helper(d, "-r", rundir)
            self.assertEqual(r.returncode, 0, r.stderr + d.log())
            self.assertIn("reload done: generation 2 serves 2 listener(s)", r.stdout)
            with H.connect(hello["port"]) as s:  # no wait: it must already serve
                self.assertEqual(H.recv_until(s), b"Please enter your name\n")
            # Broken config: exit 1 with FILE:LINE, the old config keeps serving.
            with open(d.conf_path, "a") as f:
                f.write("idle_timeout = -5;\n")
            r = helper(d, "-r", rundir)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertRegex(r.stderr, r"reload rejected, the running config stays: "
                                       r".*ksockd.conf:\d+: 'idle_timeout' must be between 0")
            self.assertTrue(echo_ok(echo["port"]))
            with H.connect(hello["port"]) as s:
                self.assertEqual(H.recv_until(s), b"Please enter your name\n")
            # systemd's way: RUNTIME_DIRECTORY and MAINPID in the environment.
            d.write_config([echo], **d.globals)
            r = helper(d, env={"RUNTIME_DIRECTORY": rundir, "MAINPID": str(d.pid)})
            self.assertEqual(r.returncode, 0, r.stderr + d.log())
            with open(status) as f:
                text = f.read()
            self.assertIn("reload_result=ok\n", text)
            self.assertIn("reloads_rejected=1\n", text)
            self.assertIn("generation=3\n", text)
            self.assertEqual(d.stop(), 0)
            self.assertFalse(os.path.exists(status), "status file left behind")
        os.rmdir(rundir)

    def test_reload_helper_without_runtime_dir_or_daemon_fails_clearly(self):
        r = helper(None)
        self.assertEqual(r.returncode, 1)
        self.assertIn("needs the daemon's runtime directory", r.stderr)
        rundir = tempfile.mkdtemp(prefix="ksockd-run-")
        r = helper(None, "-r", rundir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is ksockd running?", r.stderr)
        os.rmdir(rundir)


if __name__ == "__main__":
    unittest.main(verbosity=2)
