#!/usr/bin/env python3
"""test_accesslog.py: the per-listener access log: one line per closed
connection with the right fields, reopened on SIGUSR1 after the file was
moved (as logrotate does), files created for the workers' user, and config
errors."""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) listener=(\S+) peer=(\S+) "
                  r"duration=(\d+\.\d{3}) lines_in=(\d+) bytes_in=(\d+) lines_out=(\d+) "
                  r"bytes_out=(\d+) reason=\"([^\"]*)\"$")


def read_lines(path, n, timeout=10.0):
    """Waits until path holds n lines (a worker writes each line when it frees the connection)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        if len(lines) >= n:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError("%s has %d line(s), expected %d: %r" % (path, len(lines), n, lines))
        time.sleep(0.05)


def peer_of(s):
    host, port = s.getsockname()[:2]
    return "%s:%d" % (host, port)


class AccessLog(unittest.TestCase):
    def setUp(self):
        self.dir = H.tempfile.mkdtemp(prefix="ksockd-alog-")
        os.chmod(self.dir, 0o777)  # workers run as nobody when the tests run as root
        self.path = os.path.join(self.dir, "access.log")

    def test_one_line_per_closed_connection_with_its_numbers(self):
        with H.Daemon([H.listener("echo", "echo-lines", access_log=self.path, max_line=100),
                       H.listener("quiet")], workers=2) as d:
            t0 = time.time()
            with H.connect(d.port("echo")) as a:
                a.sendall(b"hello\nworld!\n")
                self.assertEqual(H.recv_until(a, 2), b"hello\nworld!\n")
                peer_a = peer_of(a)
            read_lines(self.path, 1)
            with H.connect(d.port("echo")) as b:
                peer_b = peer_of(b)
                b.sendall(b"y" * 200 + b"\n")
                reply = H.recv_all(b)
            with H.connect(d.port("quiet")) as q:  # no access_log: not logged anywhere
                q.sendall(b"q\n")
                H.recv_until(q)
            lines = read_lines(self.path, 2)
            self.assertEqual(len(lines), 2, lines)
            m = [LINE.match(l) for l in lines]
            self.assertTrue(all(m), lines)
            self.assertEqual(m[0].groups()[1:], ("echo", peer_a, m[0].group(4), "2", "13", "2", "13",
                                                 "client closed"))
            self.assertEqual(m[1].groups()[1:], ("echo", peer_b, m[1].group(4), "0", "201", "1",
                                                 str(len(reply)), "line too long"))
            when = time.mktime(time.strptime(m[0].group(1)[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            self.assertLess(abs(when - t0), 5)
            self.assertLess(float(m[0].group(4)), 5.0)

    def test_sigusr1_reopens_after_the_file_is_moved(self):
        with H.Daemon([H.listener("echo", access_log=self.path)], workers=2) as d:
            with H.connect(d.port("echo")) as s:
                s.sendall(b"before\n")
                H.recv_until(s)
            read_lines(self.path, 1)
            os.rename(self.path, self.path + ".1")
            d.signal(signal.SIGUSR1)
            d.wait_log(r"worker \d+: access logs reopened", count=2)
            if os.geteuid() == 0:  # created by the master for the workers' user
                self.assertEqual(os.stat(self.path).st_uid, pwd.getpwnam("nobody").pw_uid)
            for i in range(4):  # whichever worker takes them, they go to the new file
                with H.connect(d.port("echo")) as s:
                    s.sendall(b"after %d\n" % i)
                    H.recv_until(s)
            self.assertEqual(len(read_lines(self.path, 4)), 4)
            self.assertEqual(len(read_lines(self.path + ".1", 1)), 1)
            self.assertEqual(d.proc.poll(), None)
            self.assertEqual(len(d.workers()), 2)  # SIGUSR1 killed no worker

    def test_shipped_logrotate_snippet_rotates_and_ksockd_reopens(self):
        if not shutil.which("logrotate"):
            self.skipTest("logrotate not installed (tools/install-deps installs it)")
        src = os.path.join(os.environ.get("KSOCKD_SRCDIR", "."), "conf", "ksockd.logrotate")
        pid_file = os.path.join(self.dir, "ksockd.pid")
        with open(src) as f:  # the shipped snippet, pointed at this test's directories
            snippet = f.read().replace("/var/log/ksockd", self.dir).replace("/run/ksockd.pid", pid_file)
        conf = os.path.join(self.dir, "logrotate.conf")
        with open(conf, "w") as f:
            f.write(snippet)
        os.chmod(self.dir, 0o755)  # logrotate refuses world-writable directories
        with H.Daemon([H.listener("echo", access_log=self.path)], workers=2, pid_file=pid_file) as d:
            with H.connect(d.port("echo")) as s:
                s.sendall(b"one\n")
                H.recv_until(s)
            read_lines(self.path, 1)
            r = subprocess.run(["logrotate", "-f", "-s", os.path.join(self.dir, "state"), conf],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            d.wait_log(r"worker \d+: access logs reopened", count=2)
            with H.connect(d.port("echo")) as s:
                s.sendall(b"two\n")
                H.recv_until(s)
            self.assertIn("lines_in=1", read_lines(self.path, 1)[0])
            self.assertEqual(len(read_lines(self.path + ".1", 1)), 1)

    def test_relative_path_is_a_config_error(self):
        conf = os.path.join(self.dir, "bad.conf")
        with open(conf, "w") as f:
            f.write(H.render_config([H.listener("e", access_log="access.log")]))
        r = subprocess.run([H.KSOCKD, "-t", "-c", conf], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"bad\.conf:\d+: listener 'e': 'access_log' must be \"journal\" or an absolute path")

    def test_journal_target_sends_one_entry_per_connection(self):
        # journald's socket path is fixed: give ksockd its own /run in a private mount
        # namespace, with our socket bound where sd_journal_send looks for journald.
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare(1) for a private /run")
        jdir = os.path.join(self.dir, "journal")
        os.mkdir(jdir)
        journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        journal.bind(os.path.join(jdir, "socket"))
        os.chmod(jdir, 0o777)
        os.chmod(os.path.join(jdir, "socket"), 0o666)
        wrapper = os.path.join(self.dir, "ksockd-private-run")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec unshare --mount --propagation private sh -c '"
                    "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && "
                    "mount --bind %s /run/systemd/journal && exec %s \"$@\"' sh \"$@\"\n"
                    % (jdir, H.KSOCKD))
        os.chmod(wrapper, 0o755)
        real, H.KSOCKD = H.KSOCKD, wrapper
        try:
            d = H.Daemon([H.listener("e", access_log="journal")], workers=1)
        finally:
            H.KSOCKD = real
        with d, journal:
            with H.connect(d.port("e")) as s:
                s.sendall(b"to the journal\n")
                H.recv_until(s)
                peer = peer_of(s)
            journal.settimeout(10)
            fields = dict(l.split("=", 1) for l in journal.recv(65536).decode().splitlines())
            self.assertEqual(fields["KSOCKD_LISTENER"], "e")
            self.assertEqual(fields["KSOCKD_PEER"], peer)
            self.assertEqual(fields["KSOCKD_BYTES_IN"], "15")
            self.assertEqual(fields["KSOCKD_REASON"], "client closed")
            self.assertTrue(LINE.match(fields["MESSAGE"]), fields["MESSAGE"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
