#!/usr/bin/env python3
"""test_lifecycle.py: reload under load, graceful and immediate stop,
privileges, crash back-off and EMFILE, against the real daemon."""
import os
import pwd
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


class LoadClient(threading.Thread):
    """Sends a line and checks the reply in a loop: new connections, or one persistent one."""

    def __init__(self, port, tag, persistent):
        super().__init__(daemon=True)
        self.port, self.tag, self.persistent = port, tag, persistent
        self.ok = 0
        self.errors = []
        self.stop = threading.Event()

    def exchange(self, s, i):
        line = b"%s %d\n" % (self.tag, i)
        s.sendall(line)
        got = H.recv_until(s, timeout=10)
        if got != line:
            self.errors.append("line %d: sent %r got %r" % (i, line, got))
        else:
            self.ok += 1

    def run(self):
        i = 0
        s = None
        try:
            while not self.stop.is_set() and i < 200000:
                if self.persistent:
                    s = s or H.connect(self.port, timeout=10)
                    self.exchange(s, i)
                else:
                    with H.connect(self.port, timeout=10) as c:
                        self.exchange(c, i)
                i += 1
        except Exception as e:  # noqa: BLE001 -- refused, reset: all are failures here
            self.errors.append("after %d lines: %r" % (i, e))
        finally:
            if s:
                s.close()


class Reload(unittest.TestCase):
    def test_ten_reloads_under_load_lose_nothing(self):
        kept = H.listener("kept", "echo")
        gone = H.listener("gone", "echo")
        d = H.Daemon([kept, gone], workers=2, shutdown_timeout=60)
        try:
            clients = [LoadClient(d.port("kept"), b"c%d" % n, persistent=(n % 2 == 0))
                       for n in range(6)]
            for c in clients:
                c.start()
            added = None
            for n in range(10):
                time.sleep(0.3)
                if n == 3:
                    with open(d.conf_path, "a") as f:
                        f.write("this is not valid;\n")
                    d.reload(expect_ok=False)
                    d.wait_log(r"reload rejected, keeping the running config: %s:\d+: unexpected 'is', expected '=' after 'this'" % d.conf_path)
                elif n == 5:
                    added = H.listener("added", "hello")
                    d.reload([kept, added])
                else:
                    d.reload([kept, added] if added else [kept, gone])
            time.sleep(0.3)
            for c in clients:
                c.stop.set()
            for c in clients:
                c.join(30)
            for c in clients:
                self.assertEqual(c.errors, [], "client %s" % c.tag)
                self.assertGreater(c.ok, 10)
            with H.connect(d.port("added")) as s:
                self.assertEqual(H.recv_until(s), b"Please enter your name\n")
            with self.assertRaises(ConnectionRefusedError):
                H.connect(gone["port"]).close()
            d.wait_log(r"reload \d+: config accepted: 1 listener\(s\) kept, 1 added, 1 removed")
            d.wait_log(r"reload \d+: all 2 new worker\(s\) ready", count=9)
        finally:
            d.kill()

    def test_connection_opened_before_reload_is_served_until_shutdown_timeout(self):
        with H.Daemon([H.listener("e")], workers=1, shutdown_timeout=1.5) as d:
            s = H.connect(d.port("e"))
            s.sendall(b"before\n")
            self.assertEqual(H.recv_until(s), b"before\n")
            d.reload()
            s.sendall(b"after\n")
            self.assertEqual(H.recv_until(s), b"after\n")
            t0 = time.monotonic()
            self.assertEqual(H.recv_all(s, timeout=10), b"")
            self.assertLess(time.monotonic() - t0, 3.0)
            d.wait_log(r"shutdown_timeout \(1\.5 s\) passed: closed 1 connection\(s\)")
            with H.connect(d.port("e")) as s2:  # the new generation serves
                s2.sendall(b"new\n")
                self.assertEqual(H.recv_until(s2), b"new\n")
            s.close()

    def test_second_sighup_during_reload_is_safe(self):
        with H.Daemon([H.listener("e")], workers=2) as d:
            d.signal(signal.SIGHUP)
            d.notify.wait_for(lambda m: "RELOADING=1" in m)
            d.signal(signal.SIGHUP)  # most likely while generation 2 is starting
            d.wait_log(r"reload \d+: all 2 new worker\(s\) ready", count=2)
            # Both reloads done: READY=1 after each; then the old generations drain away.
            d.notify.wait_for(lambda m: "READY=1" in m.split("\n"), 15)
            d.notify.wait_for(lambda m: "READY=1" in m.split("\n"), 15)
            with H.connect(d.port("e")) as s:
                s.sendall(b"x\n")
                self.assertEqual(H.recv_until(s), b"x\n")
            d.wait_log(r"worker \d+ \(pid \d+, generation [12]\) exited after draining",
                       count=4)
            self.assertEqual(len(d.workers()), 2)


class Stop(unittest.TestCase):
    def test_sigterm_with_open_connection_exits_0_within_shutdown_timeout(self):
        d = H.Daemon([H.listener("e")], workers=2, shutdown_timeout=1.0)
        master = d.pid
        s = H.connect(d.port("e"))
        s.sendall(b"x\n")
        self.assertEqual(H.recv_until(s), b"x\n")
        workers = d.workers()
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        # The service manager hears STOPPING=1 as the drain starts, before the exit.
        d.notify.wait_for(lambda m: "STOPPING=1" in m.split("\n"), 5)
        self.assertEqual(d.proc.wait(5 * H.SLOW), 0)
        self.assertLess(time.monotonic() - t0, 2.0 * H.SLOW)
        d.kill()
        s.close()
        for pid in workers + [master]:
            self.assertFalse(os.path.exists("/proc/%d" % pid) and
                             open("/proc/%d/stat" % pid).read().split()[2] != "Z",
                             "process %d left behind" % pid)

    def test_graceful_stop_lets_a_client_finish(self):
        d = H.Daemon([H.listener("e")], workers=1, shutdown_timeout=10)
        s = H.connect(d.port("e"))
        s.sendall(b"accepted?\n")  # the worker has accepted it before SIGTERM closes the listener
        self.assertEqual(H.recv_until(s), b"accepted?\n")
        d.signal(signal.SIGTERM)
        d.wait_log(r"draining 1 connection")
        s.sendall(b"finishing\n")
        self.assertEqual(H.recv_until(s), b"finishing\n")
        s.close()
        t0 = time.monotonic()
        self.assertEqual(d.proc.wait(5), 0)
        self.assertLess(time.monotonic() - t0, 2.0)
        d.kill()

    def test_second_sigterm_stops_at_once(self):
        d = H.Daemon([H.listener("e")], workers=1, shutdown_timeout=60)
        s = H.connect(d.port("e"))
        s.sendall(b"accepted?\n")  # the worker has accepted it before SIGTERM closes the listener
        self.assertEqual(H.recv_until(s), b"accepted?\n")
        d.signal(signal.SIGTERM)
        d.wait_log(r"draining 1 connection")
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(H.recv_all(s), b"")
        s.close()

    def test_sigquit_stops_at_once(self):
        d = H.Daemon([H.listener("e")], workers=1, shutdown_timeout=60)
        s = H.connect(d.port("e"))
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGQUIT), 0)
        self.assertLess(time.monotonic() - t0, 2.0)
        s.close()

    def test_pid_file_is_written_and_removed(self):
        d = H.Daemon([H.listener("e")], workers=1)
        pidfile = os.path.join(d.dir, "k.pid")
        d.kill()
        d = H.Daemon([H.listener("e")], workers=1, pid_file=pidfile)
        with open(pidfile) as f:
            self.assertEqual(int(f.read()), d.pid)
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(pidfile))


class Supervision(unittest.TestCase):
    def test_crash_loop_pauses_respawn_with_a_log_line(self):
        with H.Daemon([H.listener("e")], workers=1) as d:
            killed = set()
            deadline = time.monotonic() + 8
            while len(killed) < 6 and time.monotonic() < deadline:
                for pid in d.workers():
                    if pid not in killed:
                        os.kill(pid, signal.SIGKILL)
                        killed.add(pid)
                time.sleep(0.02)
            d.wait_log(r"workers are crashing too fast \(5 crashes in [\d.]+ s\): pausing respawn for 1 s")
            # The master never exits because a worker did, and serves again after the pause.
            self.assertIsNone(d.proc.poll())
            deadline = time.monotonic() + 10
            while not d.workers() and time.monotonic() < deadline:
                time.sleep(0.05)
            with H.connect(d.port("e")) as s:
                s.sendall(b"back\n")
                self.assertEqual(H.recv_until(s), b"back\n")

    def test_emfile_does_not_spin_and_recovers(self):
        def tiny_nofile():
            resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))

        with H.Daemon([H.listener("e")], workers=1, preexec=tiny_nofile) as d:
            d.wait_log(r"open files limit is 24")
            worker = d.workers()[0]
            held = []
            for i in range(40):
                s = socket.create_connection(("127.0.0.1", d.port("e")), timeout=5)
                held.append(s)
            d.wait_log(r"listener 'e': accept: Too many open files: pausing accepts")
            c0 = H.cpu_ticks(worker)
            time.sleep(2.0)
            used = (H.cpu_ticks(worker) - c0) / os.sysconf("SC_CLK_TCK")
            self.assertLess(used / 2.0, 0.05, "worker used %.0f%% CPU while out of fds" % (used * 50))
            self.assertEqual(len(d.wait_log(r"pausing accepts")), 1, "EMFILE logged more than once per interval")
            # Free the fds: every held connection that was not yet accepted gets served.
            for s in held[:20]:
                s.close()
            for i, s in enumerate(held[20:]):
                s.sendall(b"late %d\n" % i)
                self.assertEqual(H.recv_until(s, timeout=5), b"late %d\n" % i)
                s.close()


@unittest.skipUnless(os.geteuid() == 0, "privilege tests need root (run make check as root)")
class Privileges(unittest.TestCase):
    def status(self, pid):
        with open("/proc/%d/status" % pid) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)

    def test_workers_run_as_the_configured_user_without_supplementary_groups(self):
        nobody = pwd.getpwnam("nobody")
        import grp
        nogroup = grp.getgrnam("nogroup").gr_gid
        with H.Daemon([H.listener("e")], workers=2, user="nobody", group="nogroup") as d:
            self.assertEqual(self.status(d.pid)["Uid"].split()[0], "0")
            for w in d.workers():
                st = self.status(w)
                self.assertEqual(st["Uid"].split(), [str(nobody.pw_uid)] * 4)
                self.assertEqual(st["Gid"].split(), [str(nogroup)] * 4)
                self.assertEqual(st["Groups"].strip(), "")
            with H.connect(d.port("e")) as s:
                s.sendall(b"x\n")
                self.assertEqual(H.recv_until(s), b"x\n")

    def test_root_without_user_is_refused(self):
        d = H.Daemon([H.listener("e")], wait_ready=False, user=None, group=None)
        self.assertEqual(d.proc.wait(10), 1)
        self.assertIn("refusing to run workers as root", d.log())
        d.kill()

    def test_user_root_runs_as_root_on_purpose(self):
        with H.Daemon([H.listener("e")], workers=1, user="root", group=None) as d:
            self.assertEqual(self.status(d.workers()[0])["Uid"].split()[0], "0")


if __name__ == "__main__":
    unittest.main(verbosity=2)
