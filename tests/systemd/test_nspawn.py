#!/usr/bin/env python3
"""test_nspawn.py: ksockd under a real systemd. Boots a copy of a cached
Debian 12 minbase tree (tests/systemd/make-root) with systemd-nspawn, installs
the built ksockd and its units, and drives it with systemctl through nsenter:
start (returns after READY=1), STATUS= in systemctl status, reload with a good
config (new listener serves at once) and a broken one (reload fails, the old
config keeps serving), stop; the socket units passing named fds to
ksockd-socket.service (one listening socket each, checked with ss), reload
there too; SIGSTOP of the master, then of a worker, each ending in a watchdog
restart. Needs root, systemd-nspawn, nsenter and debootstrap: otherwise it
skips (exit 77), or fails when KSOCKD_SYSTEMD_REQUIRED=1 (make check-systemd).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("KSOCKD_SRCDIR", os.path.join(HERE, "..", ".."))
KSOCKD = os.environ.get("KSOCKD", os.path.join(SRC, "ksockd"))
BOOT_TIMEOUT = 60
# The socket units of the default config's listeners: unit -> (fd name, port).
SOCKETS = {"ksockd.socket": ("echo", 7007), "ksockd-hello.socket": ("hello", 9002),
           "ksockd-stats.socket": ("stats", 7070), "ksockd-metrics.socket": ("metrics", 9470)}


def packaged_conf():
    """conf/ksockd.conf as the Debian package installs it (tools/package-conf)."""
    return subprocess.run([os.path.join(SRC, "tools", "package-conf"),
                           os.path.join(SRC, "conf", "ksockd.conf")],
                          check=True, capture_output=True, text=True).stdout


def install_conf(root):
    with open(os.path.join(root, "etc/ksockd.conf"), "w") as f:
        f.write(packaged_conf())


def default_listeners():
    """Names of the listeners the packaged default config defines (comments skipped)."""
    text = "".join(line.split("#", 1)[0] + "\n" for line in packaged_conf().splitlines())
    return re.findall(r'\bname = "([^"]+)";', text)


def missing():
    if os.geteuid() != 0:
        return "not root"
    for tool in ("systemd-nspawn", "nsenter", "debootstrap"):
        if not shutil.which(tool):
            return "%s not installed (tools/install-deps installs it)" % tool
    return None


def run(argv, timeout=60, check=False, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (argv, r.returncode, r.stdout, r.stderr))
    return r


class Container:
    """A booted copy of the cached tree."""

    def __init__(self, install=True, prepare=None):
        """prepare(root), if given, runs on the copied tree before it boots."""
        cache = run([os.path.join(HERE, "make-root")], timeout=900, check=True).stdout.strip()
        self.dir = tempfile.mkdtemp(prefix="ksockd-nspawn-", dir="/var/tmp")
        self.root = os.path.join(self.dir, "root")
        run(["cp", "-a", cache, self.root], timeout=300, check=True)
        if install:
            self.install()
        if prepare:
            try:
                prepare(self.root)
            except BaseException:
                shutil.rmtree(self.dir, ignore_errors=True)  # never booted: nothing else to stop
                raise
        self.log = open(os.path.join(self.dir, "console.log"), "wb")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", self.root, "--boot", "--register=no", "--keep-unit",
             "--console=pipe", "--private-network", "-M", "ksockdtest%d" % os.getpid()],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.pid1 = self.find_pid1()
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            r = self.sh("systemctl is-system-running --wait", timeout=BOOT_TIMEOUT)
            if r.stdout.strip() in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                raise AssertionError("container did not boot: %r" % r.stdout)
            time.sleep(0.2)

    def install(self):
        shutil.copy(KSOCKD, os.path.join(self.root, "usr/sbin/ksockd"))
        for name in ("ksockd.service", "ksockd-socket.service"):
            with open(os.path.join(SRC, "systemd", name + ".in")) as f:
                text = f.read().replace("@sbindir@", "/usr/sbin").replace("@sysconfdir@", "/etc")
            self.write("/etc/systemd/system/" + name, text)
        for name in SOCKETS:
            shutil.copy(os.path.join(SRC, "systemd", name),
                        os.path.join(self.root, "etc/systemd/system", name))
        install_conf(self.root)
        os.makedirs(os.path.join(self.root, "etc/logrotate.d"), exist_ok=True)
        shutil.copy(os.path.join(SRC, "conf", "ksockd.logrotate"),
                    os.path.join(self.root, "etc/logrotate.d/ksockd"))

    def find_pid1(self):
        """The container's systemd: a descendant of systemd-nspawn that is pid 1 inside."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open("/proc/%s/status" % d) as f:
                        st = f.read()
                except OSError:
                    continue
                ns = re.search(r"^NSpid:\s+(.*)$", st, re.M)
                if ns and ns.group(1).split()[-1] == "1" and len(ns.group(1).split()) > 1 \
                        and self.descends(int(d)):
                    return int(d)
            time.sleep(0.05)
        raise AssertionError("no container init found")

    def descends(self, pid):
        while pid > 1:
            if pid == self.proc.pid:
                return True
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
            pid = int(st[st.rindex(")") + 2:].split()[1])
        return False

    def write(self, path, text):
        with open(os.path.join(self.root, path.lstrip("/")), "w") as f:
            f.write(text)

    def read(self, path):
        with open(os.path.join(self.root, path.lstrip("/"))) as f:
            return f.read()

    def sh(self, cmd, timeout=60):
        """A shell command inside the container (every namespace)."""
        return run(["nsenter", "-t", str(self.pid1), "-a", "sh", "-c", cmd], timeout=timeout)

    def ok(self, cmd, timeout=60):
        r = self.sh(cmd, timeout)
        if r.returncode != 0:
            raise AssertionError("%r: exit %d\n%s%s\n%s" % (cmd, r.returncode, r.stdout, r.stderr,
                                                         self.journal()))
        return r.stdout

    def prop(self, unit, name):
        return self.ok("systemctl show -P %s %s" % (name, unit)).strip()

    def journal(self, unit="ksockd*"):
        return self.sh("journalctl --no-pager -q -o cat -u '%s' | tail -40" % unit).stdout

    def talk(self, port, line=b"ping\n", timeout=5):
        """Connects from the host's python in the container's network namespace."""
        code = ("import socket,sys\n"
                "s=socket.create_connection(('127.0.0.1',%d),timeout=%d)\n"
                "s.sendall(%r)\nsys.stdout.buffer.write(s.recv(4096))\n" % (port, timeout, line))
        r = run(["nsenter", "-t", str(self.pid1), "-n", sys.executable, "-c", code],
                timeout=timeout + 5)
        return r.stdout.encode() if r.returncode == 0 else ("ERROR " + r.stderr).encode()

    def listening(self, port):
        r = run(["nsenter", "-t", str(self.pid1), "-n", "ss", "-Hltnpe", "sport = :%d" % port],
                check=True)
        return r.stdout.splitlines()

    def close(self):
        if self.proc.poll() is None:
            self.sh("systemctl poweroff", timeout=10)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class RealSystemd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Container()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def setUp(self):
        self.c.sh("systemctl stop ksockd ksockd-socket %s; systemctl reset-failed"
                  % " ".join(SOCKETS))
        install_conf(self.c.root)

    def test_1_start_status_reload_stop(self):
        c = self.c
        c.ok("systemctl start ksockd")  # Type=notify: returns after READY=1
        self.assertEqual(c.talk(7007), b"ping\n")
        self.assertTrue(c.talk(9002, b"Ann\n").startswith(b"Please enter your name\n"))
        n = len(default_listeners())
        self.assertEqual(n, 4, default_listeners())  # hello, echo, stats, metrics
        self.assertRegex(c.prop("ksockd", "StatusText"),
                         r"%d listener\(s\), 2 worker\(s\) ready, \d+ open connection\(s\), "
                         r"generation 1, 0 reload\(s\)" % n)
        self.assertIn("Status: \"%d listener(s)" % n, c.sh("systemctl status ksockd").stdout)
        self.assertEqual(c.prop("ksockd", "User"), "ksockd")
        # A good reload: the new listener serves when systemctl returns.
        conf = c.read("/etc/ksockd.conf")
        c.write("/etc/ksockd.conf", conf.replace(
            "listeners = (", 'listeners = (\n  { name = "echo2"; protocol = "tcp"; '
            'address = "127.0.0.1"; port = 7008; handler = "echo"; },', 1))
        c.ok("systemctl reload ksockd")
        self.assertEqual(c.talk(7008), b"ping\n")
        self.assertIn("generation 2, 1 reload(s)", c.prop("ksockd", "StatusText"))
        # A broken reload: systemctl reload fails, the old config serves on.
        c.write("/etc/ksockd.conf", conf + "\nworkers = 0;\n")
        r = c.sh("systemctl reload ksockd")
        self.assertNotEqual(r.returncode, 0, "broken reload succeeded")
        self.assertEqual(c.prop("ksockd", "ActiveState"), "active")
        self.assertIn("reload rejected", c.prop("ksockd", "StatusText"))
        self.assertRegex(c.journal(), r"reload rejected.*/etc/ksockd.conf:\d+:")
        self.assertEqual(c.talk(7008), b"ping\n")
        main = c.prop("ksockd", "MainPID")
        c.ok("systemctl stop ksockd")
        self.assertEqual(c.prop("ksockd", "ActiveState"), "inactive")
        self.assertEqual(c.prop("ksockd", "Result"), "success")
        self.assertIn("stopped", c.journal())
        self.assertNotEqual(main, "0")

    def test_2_socket_units_pass_named_fds(self):
        c = self.c
        # Every listener of the default config has its socket unit.
        self.assertEqual(sorted(n for n, _ in SOCKETS.values()), sorted(default_listeners()))
        c.ok("systemctl start ksockd.socket")
        self.assertEqual(c.prop("ksockd-socket", "ActiveState"), "inactive")
        self.assertEqual(c.talk(7007), b"ping\n")  # activates ksockd-socket.service
        c.ok("systemctl is-active ksockd-socket")
        for unit in SOCKETS:  # pulled in by the service (Wants=)
            self.assertEqual(c.prop(unit, "ActiveState"), "active", unit)
        j = c.journal("ksockd-socket")
        for name, _ in SOCKETS.values():
            self.assertRegex(j, r"fd \d+ named '%s' passed by the service manager" % name)
        self.assertEqual(len(re.findall(r"\(socket passed by the service manager\)", j)),
                         len(SOCKETS))
        for _, port in SOCKETS.values():
            socks = c.listening(port)
            self.assertEqual(len(socks), 1, socks)  # systemd's socket, not a second bind
            self.assertIn('"ksockd"', socks[0])
        c.ok("systemctl reload ksockd-socket")
        self.assertEqual(c.talk(7007), b"ping\n")
        self.assertTrue(c.talk(9002, b"Bo\n").startswith(b"Please enter your name\n"))
        self.assertTrue(c.talk(7070, b"stats\n").startswith(b"ksockd_"))
        self.assertRegex(c.talk(9470, b"GET /metrics HTTP/1.0\r\n\r\n"), rb"^HTTP/1\.\d 200 ")
        self.assertEqual(len(c.listening(7007)), 1)
        c.ok("systemctl stop ksockd-socket %s" % " ".join(SOCKETS))

    def watchdog_restart(self, stop_worker):
        c = self.c
        os.makedirs(os.path.join(c.root, "etc/systemd/system/ksockd.service.d"), exist_ok=True)
        c.write("/etc/systemd/system/ksockd.service.d/watchdog-test.conf",
                "[Service]\nWatchdogSec=2\nTimeoutAbortSec=2\n")
        c.ok("systemctl daemon-reload && systemctl start ksockd")
        main = int(c.prop("ksockd", "MainPID"))
        restarts = int(c.prop("ksockd", "NRestarts"))
        if stop_worker:
            worker = c.ok("pgrep -P %d | head -1" % main).strip()
            c.ok("kill -STOP %s" % worker)
        else:
            c.ok("systemctl kill -s SIGSTOP --kill-whom=main ksockd")
        deadline = time.monotonic() + 20
        while int(c.prop("ksockd", "NRestarts")) == restarts:
            self.assertLess(time.monotonic(), deadline, "no watchdog restart\n" + c.journal())
            time.sleep(0.2)
        c.ok("systemctl start ksockd")  # waits for the restarted service to be ready
        self.assertNotEqual(int(c.prop("ksockd", "MainPID")), main)
        self.assertIn("Watchdog timeout", c.sh("journalctl --no-pager -q -u ksockd").stdout)
        self.assertEqual(c.talk(7007), b"ping\n")
        c.ok("systemctl stop ksockd && rm -r /etc/systemd/system/ksockd.service.d && "
             "systemctl daemon-reload")

    def test_3_stopped_master_is_restarted_by_the_watchdog(self):
        self.watchdog_restart(stop_worker=False)

    def test_4_stopped_worker_is_restarted_by_the_watchdog(self):
        self.watchdog_restart(stop_worker=True)

    def test_5_access_log_rotated_under_the_hardened_unit(self):
        """LogsDirectory= lets the service write /var/log/ksockd; the logrotate
        snippet's postrotate script makes it reopen its logs (logrotate itself
        is not in the minimal tree: its moving of the file is done by mv)."""
        c = self.c
        conf = c.read("/etc/ksockd.conf")
        c.write("/etc/ksockd.conf", conf.replace(
            '    handler = "echo";\n',
            '    handler = "echo";\n    access_log = "/var/log/ksockd/echo.log";\n', 1))
        c.ok("systemctl start ksockd")
        log = "/var/log/ksockd/echo.log"

        def lines(path, n):
            deadline = time.monotonic() + 10
            while True:
                got = c.sh("cat %s 2>/dev/null" % path).stdout.splitlines()
                if len(got) >= n or time.monotonic() > deadline:
                    return got
                time.sleep(0.1)

        self.assertEqual(c.talk(7007, b"one\n"), b"one\n")
        self.assertEqual(len(lines(log, 1)), 1, c.journal())
        c.ok("mv %s %s.1" % (log, log))
        with open(os.path.join(SRC, "conf", "ksockd.logrotate")) as f:
            script = re.search(r"postrotate\n(.*?)\n\s*endscript", f.read(), re.S).group(1)
        c.write("/var/tmp/postrotate.sh", script + "\n")
        c.ok("sh /var/tmp/postrotate.sh")
        deadline = time.monotonic() + 10
        while len(re.findall(r"worker \d+: access logs reopened", c.journal())) < 2:
            self.assertLess(time.monotonic(), deadline, "logs not reopened\n" + c.journal())
            time.sleep(0.1)
        self.assertEqual(c.talk(7007, b"two\n"), b"two\n")
        self.assertIn("lines_in=1", lines(log, 1)[0])
        self.assertEqual(len(lines(log + ".1", 1)), 1)
        c.ok("systemctl stop ksockd")


if __name__ == "__main__":
    why = missing()
    if why:
        print("test_nspawn: SKIP: needs root with systemd-nspawn, nsenter and debootstrap: %s"
              % why)
        sys.exit(1 if os.environ.get("KSOCKD_SYSTEMD_REQUIRED") == "1" else 77)
    unittest.main(verbosity=2)
