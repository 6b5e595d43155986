#!/usr/bin/env python3
"""test_exec.py: handler = "exec" (a program per connection, inetd's nowait)
against the real daemon: the test program tests/exec/xprog (no shell), Debian
programs run unchanged (cat, date, env, ucspi-tcp's addcr and recordio), TLS
clients (gnutls-cli, openssl s_client) and HAProxy with send-proxy in front."""
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import lb  # noqa: E402
import tlscerts  # noqa: E402

BUILD = os.path.dirname(os.path.abspath(H.KSOCKD))
XPROG_BUILT = os.environ.get("XPROG", os.path.join(BUILD, "tests", "exec", "xprog"))
TMP = tempfile.mkdtemp(prefix="ksockd-exec-")
os.chmod(TMP, 0o755)
XPROG = os.path.join(TMP, "xprog")  # a copy every worker user can run
CERTS = None
MB = 1 << 20


def setUpModule():
    global CERTS
    shutil.copy(XPROG_BUILT, XPROG)
    os.chmod(XPROG, 0o755)
    CERTS = tlscerts.Certs()
    for f in os.listdir(CERTS.dir):
        os.chmod(os.path.join(CERTS.dir, f), 0o644)
    os.chmod(CERTS.dir, 0o755)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)
    if CERTS:
        shutil.rmtree(CERTS.dir, ignore_errors=True)


def xl(name, *mode, **extra):
    """An exec listener running xprog MODE..."""
    return H.listener(name, "exec", exec=[XPROG] + [str(m) for m in mode], **extra)


def distinct_ports(listeners):
    """free_port() does not reserve: with many listeners two may draw the same port."""
    seen = set()
    for l in listeners:
        while l["port"] in seen:
            l["port"] = H.free_port()
        seen.add(l["port"])
    return listeners


def report(raw):
    """xprog report output -> dict (ENV_ entries keep their prefix)."""
    text = raw.decode(errors="replace")
    assert text.endswith("\n\n"), "incomplete report: %r" % text
    return dict(l.split("=", 1) for l in text.split("\n") if "=" in l)


def env_of(rep):
    return {k[4:]: v for k, v in rep.items() if k.startswith("ENV_")}


def pid_of(d, name, count=1):
    """PIDs of the programs the log says were started for listener name."""
    found = d.wait_log(r"%s: peer \S+: started \S+ \(pid (\d+)\)" % name, count=count)
    return [int(p) for p in found]


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout * H.SLOW
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def hang_up(sock):
    """Closes with a reset (SO_LINGER 0): a hang-up, unlike a FIN, which is a half-close
    (the program's stdin ends, the program may still answer)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def metrics_text(port):
    s = H.connect(port)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    return H.recv_all(s).decode()


def pattern(n):
    """What xprog flood writes: byte i of each 64 KiB block is i*7+3."""
    block = bytes((i * 7 + 3) & 0xff for i in range(65536))
    return (block * (n // 65536 + 1))[:n]


def exchange(sock, data, timeout=60.0):
    """Sends data while reading; half-closes after the last byte; returns all read to EOF."""
    sock.setblocking(False)
    sent, got = 0, []
    deadline = time.monotonic() + timeout * H.SLOW
    shut = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("exchange timed out after %d bytes sent" % sent)
        want_w = [sock] if sent < len(data) else []
        r, w, _ = select.select([sock], want_w, [], min(left, 1.0))
        if w:
            try:
                sent += sock.send(data[sent:sent + 262144])
            except BlockingIOError:
                pass
        if sent == len(data) and not shut:
            sock.shutdown(socket.SHUT_WR)
            shut = True
        if r:
            b = sock.recv(1 << 20)
            if not b:
                return b"".join(got)
            got.append(b)


class Exec(unittest.TestCase):
    """One daemon with many exec listeners (2 workers, as nobody when root)."""

    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon(distinct_ports([
            xl("report", "report", exec_env=["FOO=bar baz", "LANG=C.UTF-8"]),
            xl("echo", "echo"),
            xl("closeout", "closeout"),
            xl("limited", "report", exec_max_files=64, exec_dir="/usr"),
            xl("exit3", "exit", 3),
            xl("stderr", "stderr", 100),
            xl("ignoreterm", "ignoreterm"),
            xl("noread", "noread", idle_timeout=2),  # reads stop: a reset goes unseen
            xl("flood", "flood", 50 * MB, output_buffer=65536),
            xl("timeout", "sleep", 60, exec_timeout=1),
            H.listener("cat", "exec", exec=["/bin/cat"]),
            H.listener("date", "exec", exec=["/bin/date", "-u", "+%Y"]),
            H.listener("env", "exec", exec=["/usr/bin/env"]),
            H.listener("addcr", "exec", exec=["/usr/bin/addcr"]),
            H.listener("recordio", "exec", exec=["/usr/bin/recordio", "/bin/cat"]),
            H.listener("metrics", "metrics"),
        ]), log_level="debug")

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def port(self, name):
        return self.d.port(name)

    def metric(self, family, listener, label):
        text = metrics_text(self.port("metrics"))
        total = 0
        for line in text.splitlines():
            if line.startswith(family + "{") and 'listener="%s"' % listener in line and label in line:
                total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def test_environment_is_clean_and_ucspi(self):
        s = H.connect(self.port("report"))
        rep = report(H.recv_all(s))
        env = env_of(rep)
        local_port = str(self.port("report"))
        self.assertEqual(env, {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "FOO": "bar baz", "LANG": "C.UTF-8",
            "PROTO": "TCP", "TCPREMOTEIP": "127.0.0.1", "TCPREMOTEPORT": str(s.getsockname()[1]),
            "TCPLOCALIP": "127.0.0.1", "TCPLOCALPORT": local_port})
        # The daemon's own environment (NOTIFY_SOCKET, ASAN_OPTIONS, ...) did not leak.
        self.assertNotIn("NOTIFY_SOCKET", env)

    def test_program_sees_only_its_three_pipes(self):
        rep = report(H.recv_all(H.connect(self.port("report"))))
        fds = [f for f in rep["FDS"].split(",") if f]
        self.assertEqual(len(fds), 3, rep["FDS"])
        for i, f in enumerate(sorted(fds)):
            self.assertRegex(f, r"^%d:pipe:\[\d+\]$" % i)

    def test_own_session_reset_signals_and_workers_user(self):
        rep = report(H.recv_all(H.connect(self.port("report"))))
        self.assertEqual(rep["PGID_IS_PID"], "1")
        self.assertEqual(rep["SID_IS_PID"], "1")
        self.assertEqual(rep["BLOCKED"], "0")
        self.assertEqual(rep["IGNORED"], "0")  # the worker ignores SIGPIPE; the program must not
        self.assertEqual(rep["CWD"], "/")
        if os.geteuid() == 0:  # default exec_user: the workers' user (nobody/nogroup)
            self.assertEqual(rep["UID"], "65534")
            self.assertEqual(rep["GID"], "65534")
            self.assertEqual(rep["GROUPS"], "")

    def test_exec_dir_and_resource_limits_applied(self):
        rep = report(H.recv_all(H.connect(self.port("limited"))))
        self.assertEqual(rep["CWD"], "/usr")
        self.assertEqual(rep["NOFILE"], "64")

    def test_binary_10mb_both_ways_with_half_close(self):
        data = random.Random(7).randbytes(10 * MB)
        s = H.connect(self.port("echo"))
        got = exchange(s, data)
        self.assertEqual(len(got), len(data))
        self.assertTrue(got == data, "echoed bytes differ")
        self.d.wait_log(r"echo: peer 127\.0\.0\.1:%d: program \d+ exited with status 0"
                        % s.getsockname()[1])

    def test_program_half_close_reaches_the_client(self):
        """The program closes its stdout and keeps reading: the client gets EOF and can
        still send, and the program reads it all."""
        s = H.connect(self.port("closeout"))
        self.assertEqual(H.recv_all(s), b"bye\n")  # EOF while the program runs
        s.sendall(b"z" * 100000)
        s.shutdown(socket.SHUT_WR)
        self.d.wait_log(r"closeout: peer 127\.0\.0\.1:%d: program \d+: read 100000 bytes after "
                        r"closing stdout" % s.getsockname()[1])
        self.d.wait_log(r"closeout: peer 127\.0\.0\.1:%d: connection \d+ closed \(program exited\)"
                        % s.getsockname()[1])

    def test_program_flood_client_not_reading_is_bounded(self):
        """A program writing 50 MB to a client that reads nothing blocks on a full pipe."""
        before = len(re.findall(r"flood: peer \S+: started", self.d.log()))
        s = H.connect(self.port("flood"))
        pid = pid_of(self.d, "flood", before + 1)[-1]
        # It blocks in write(2) on its stdout pipe: still alive, sleeping, in pipe_write.
        def blocked():
            with open("/proc/%d/wchan" % pid) as f:
                return f.read().endswith("pipe_write")  # pipe_write, anon_pipe_write
        wait_until(blocked, what="the program to block on its full stdout pipe")
        time.sleep(0.3)
        self.assertTrue(alive(pid) and blocked())
        got = H.recv_all(s, timeout=60)
        self.assertEqual(len(got), 50 * MB)
        self.assertTrue(got == pattern(50 * MB), "flood bytes differ")

    def test_program_not_reading_stops_the_client(self):
        """A client sending to a program that never reads is stopped by back-pressure."""
        s = H.connect(self.port("noread"))
        self.assertEqual(H.recv_until(s), b"ready\n")
        s.setblocking(False)
        sent, chunk = 0, b"x" * 65536
        deadline = time.monotonic() + 5
        stalled_since = None
        while time.monotonic() < deadline:
            try:
                sent += s.send(chunk)
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 0.5:
                    break
                select.select([], [s], [], 0.1)
        self.assertIsNotNone(stalled_since, "the client was never stopped")
        # Pipe (64 KiB) + stdin queue (64 KiB) + one read + both sockets' buffers.
        self.assertLess(sent, 16 * MB)
        pid = pid_of(self.d, "noread", 1)[-1]
        hang_up(s)
        # Reading is stopped, so the hang-up is seen by idle_timeout; then stdin closes
        # and SIGTERM follows after the grace period.
        self.d.wait_log(r"program %d killed by signal 15 \(SIGTERM\)" % pid)
        self.assertFalse(alive(pid))

    def test_exit_status_logged_and_counted(self):
        before = self.metric("ksockd_exec_exited_total", "exit3", 'reason="exit_nonzero"')
        s = H.connect(self.port("exit3"))
        self.assertEqual(H.recv_all(s), b"bye\n")
        self.d.wait_log(r"exit3: peer 127\.0\.0\.1:%d: program \d+ exited with status 3"
                        % s.getsockname()[1])
        wait_until(lambda: self.metric("ksockd_exec_exited_total", "exit3",
                                       'reason="exit_nonzero"') == before + 1, what="counter")

    def test_program_ignoring_sigterm_is_killed(self):
        s = H.connect(self.port("ignoreterm"))
        self.assertEqual(H.recv_until(s), b"ready\n")
        pid = pid_of(self.d, "ignoreterm")[-1]
        hang_up(s)
        self.d.wait_log(r"program %d still running 2 s after SIGTERM: SIGKILL" % pid, timeout=15)
        self.d.wait_log(r"program %d killed by signal 9 \(SIGKILL\)" % pid)
        self.assertFalse(alive(pid))
        self.assertGreaterEqual(self.metric("ksockd_exec_exited_total", "ignoreterm",
                                            'reason="signal"'), 1)

    def test_exec_timeout_terminates(self):
        s = H.connect(self.port("timeout"))
        self.assertEqual(H.recv_until(s), b"ready\n")
        self.assertEqual(H.recv_all(s, timeout=10), b"")  # closed after the program was killed
        self.d.wait_log(r"timeout: peer \S+: program (\d+) ran for exec_timeout \(1 s\): SIGTERM")
        self.d.wait_log(r"timeout: peer \S+: program \d+ killed by signal 15")

    def test_stderr_to_log_line_by_line_rate_limited(self):
        s = H.connect(self.port("stderr"))
        self.assertEqual(H.recv_all(s), b"")
        port = s.getsockname()[1]
        lines = self.d.wait_log(r"stderr: peer 127\.0\.0\.1:%d: program \d+: line (\d+)\n" % port,
                                count=20)
        self.assertEqual(lines, [str(i) for i in range(20)])
        self.d.wait_log(r"stderr: peer 127\.0\.0\.1:%d: program \d+: 80 stderr line\(s\) not "
                        r"logged" % port)

    def test_debian_cat_date_env_unchanged(self):
        s = H.connect(self.port("cat"))
        self.assertEqual(exchange(s, b"\x00\xffbinary\r\nline\n"), b"\x00\xffbinary\r\nline\n")
        self.assertEqual(H.recv_all(H.connect(self.port("date"))),
                         time.strftime("%Y\n", time.gmtime()).encode())
        s = H.connect(self.port("env"))
        env = H.recv_all(s).decode().splitlines()
        self.assertIn("TCPREMOTEPORT=%d" % s.getsockname()[1], env)
        self.assertIn("PROTO=TCP", env)

    def test_ucspi_tcp_programs_unchanged(self):
        """Debian's ucspi-tcp: addcr (LF -> CRLF) and recordio (its stderr reaches the log)."""
        self.assertEqual(exchange(H.connect(self.port("addcr")), b"a\nb\n"), b"a\r\nb\r\n")
        s = H.connect(self.port("recordio"))
        self.assertEqual(exchange(s, b"hello recordio\n"), b"hello recordio\n")
        self.d.wait_log(r"recordio: peer 127\.0\.0\.1:%d: program \d+: \d+ < hello recordio"
                        % s.getsockname()[1])


class ExecTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon([xl("tls", "report", protocol="tls", certificate=CERTS.cert("server"),
                             key=CERTS.key("server"), alpn=["x-test", "h2"])])

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def run_client(self, cmd):
        p = subprocess.run(cmd, input=b"", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=20)
        text = p.stdout.decode(errors="replace")
        env = {l[4:].split("=", 1)[0]: l[4:].split("=", 1)[1] for l in text.splitlines()
               if l.startswith("ENV_") and "=" in l}
        fds = re.search(r"^FDS=(.*)$", text, re.M)
        self.assertIsNotNone(fds, text)
        # The TLS socket stays with ksockd: the program has its three pipes only.
        self.assertRegex(fds.group(1), r"^(\d:pipe:\[\d+\],){3}$")
        return env

    def check(self, env, version):
        self.assertEqual(env["PROTO"], "SSL")
        self.assertEqual(env["SSL_PROTOCOL"], version)
        self.assertEqual(env["SSL_SERVER_NAME"], "localhost")
        self.assertEqual(env["SSL_ALPN"], "x-test")
        self.assertEqual(env["SSL_CLIENT_DN"], "")
        self.assertTrue(env["SSL_CIPHER"])
        self.assertEqual(env["TCPREMOTEIP"], "127.0.0.1")
        self.assertEqual(env["SSLREMOTEIP"], "127.0.0.1")
        self.assertEqual(env["SSLLOCALPORT"], str(self.d.port("tls")))

    def test_gnutls_cli_environment(self):
        env = self.run_client(["gnutls-cli", "-p", str(self.d.port("tls")), "--x509cafile",
                               CERTS.cert("ca"), "--alpn", "x-test",
                               "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3", "localhost"])
        self.check(env, "TLS1.3")

    def test_openssl_s_client_environment(self):
        env = self.run_client(["openssl", "s_client", "-connect", "127.0.0.1:%d" %
                               self.d.port("tls"), "-CAfile", CERTS.cert("ca"), "-quiet",
                               "-servername", "localhost", "-alpn", "x-test", "-tls1_2"])
        self.check(env, "TLS1.2")


@unittest.skipUnless(lb.available(), "haproxy is not installed (tools/install-deps installs it)")
class ExecBehindHAProxy(unittest.TestCase):
    def test_header_client_in_tcpremote_balancer_in_proxyremote(self):
        with H.Daemon([xl("px", "report", proxy_protocol="v1", proxy_trusted=["127.0.0.1/32"]),
                       H.listener("health", "health")]) as d:
            k = "127.0.0.1:%d" % d.port("px")
            front = H.free_port()
            with lb.HAProxy("127.0.0.1:%d" % front, k, k, d.port("health"),
                            send_proxy="send-proxy") as hp:
                hp.wait_servers({"k1": 2, "k2": 2})
                c = socket.socket()
                c.settimeout(10)
                c.bind(("127.0.0.2", 0))
                c.connect(("127.0.0.1", front))
                env = env_of(report(H.recv_all(c)))
        self.assertEqual(env["TCPREMOTEIP"], "127.0.0.2")
        self.assertEqual(env["TCPREMOTEPORT"], str(c.getsockname()[1]))
        self.assertEqual(env["TCPLOCALPORT"], str(front))  # what the client reached
        self.assertEqual(env["PROXYREMOTEIP"], "127.0.0.1")  # the balancer
        self.assertEqual(env["PROXYLOCALPORT"], str(d.port("px")))


class ExecLifecycle(unittest.TestCase):
    def test_max_instances_across_two_workers_and_worker_death(self):
        with H.Daemon([xl("mi", "noread", max_instances=2), H.listener("metrics", "metrics")],
                      log_level="debug") as d:
            a, b = d.workers()
            conns = []
            os.kill(b, signal.SIGSTOP)  # both programs on worker a
            try:
                for _ in range(2):
                    s = H.connect(d.port("mi"))
                    self.assertEqual(H.recv_until(s), b"ready\n")
                    conns.append(s)
            finally:
                os.kill(b, signal.SIGCONT)
            os.kill(a, signal.SIGSTOP)  # the third on worker b: refused there
            try:
                s = H.connect(d.port("mi"))
                self.assertEqual(H.recv_all(s), b"")
            finally:
                os.kill(a, signal.SIGCONT)
            d.wait_log(r"\[%d\] info: mi: peer \S+: max_instances \(2\) programs running: "
                       r"refused" % b)
            pids = pid_of(d, "mi", 2)
            # Worker a dies: its programs die with it and its counts are given back.
            os.kill(a, signal.SIGKILL)
            wait_until(lambda: not any(alive(p) for p in pids), what="programs of a dead worker")
            wait_until(lambda: len(d.workers()) == 2 and a not in d.workers(), what="respawn")
            d.wait_log(r"worker \d+ \(pid %d.*\) ready" % d.workers()[-1], timeout=15)
            for _ in range(2):
                s = H.connect(d.port("mi"))
                self.assertEqual(H.recv_until(s), b"ready\n")
                conns.append(s)
            for c in conns:
                c.close()

    def test_max_instances_holds_across_a_reload(self):
        """The old generation's running program still counts for the new one."""
        with H.Daemon([xl("one", "noread", max_instances=1)], shutdown_timeout=30) as d:
            s = H.connect(d.port("one"))
            self.assertEqual(H.recv_until(s), b"ready\n")
            d.reload()
            self.assertEqual(H.recv_all(H.connect(d.port("one"))), b"")
            d.wait_log(r"one: peer \S+: max_instances \(1\) programs running: refused")
            hang_up(s)  # the old program ends: its count is given back
            d.wait_log(r"one: peer \S+: program \d+ killed by signal 15")
            s2 = H.connect(d.port("one"))
            self.assertEqual(H.recv_until(s2), b"ready\n")
            hang_up(s2)

    def test_reload_does_not_kill_running_programs(self):
        with H.Daemon([xl("sl", "sleep", 2)], shutdown_timeout=30, log_level="debug") as d:
            s = H.connect(d.port("sl"))
            self.assertEqual(H.recv_until(s), b"ready\n")
            d.reload()
            self.assertEqual(H.recv_all(s, timeout=15), b"done\n")
            d.wait_log(r"sl: peer \S+: program \d+ exited with status 0")
            s2 = H.connect(d.port("sl"))  # the new generation serves too
            self.assertEqual(H.recv_until(s2), b"ready\n")
            s2.close()

    def test_graceful_stop_waits_for_programs(self):
        d = H.Daemon([xl("sl", "sleep", 2)], shutdown_timeout=30)
        s = H.connect(d.port("sl"))
        self.assertEqual(H.recv_until(s), b"ready\n")
        d.signal(signal.SIGTERM)
        self.assertEqual(H.recv_all(s, timeout=15), b"done\n")
        self.assertEqual(d.stop(), 0)

    def test_graceful_stop_terminates_after_shutdown_timeout(self):
        d = H.Daemon([xl("it", "ignoreterm")], shutdown_timeout=1, log_level="debug")
        s = H.connect(d.port("it"))
        self.assertEqual(H.recv_until(s), b"ready\n")
        pid = pid_of(d, "it")[-1]
        t0 = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertFalse(alive(pid))
        self.assertIn("killed by signal 9", d.log())

    def test_missing_program_at_run_time_refused_and_logged(self):
        prog = os.path.join(TMP, "vanishing")
        shutil.copy(XPROG, prog)
        with H.Daemon([H.listener("v", "exec", exec=[prog, "hello"]),
                       H.listener("metrics", "metrics")]) as d:
            self.assertEqual(H.recv_all(H.connect(d.port("v"))), b"hello\n")
            os.unlink(prog)
            self.assertEqual(H.recv_all(H.connect(d.port("v"))), b"")
            d.wait_log(r"v: peer \S+: cannot start %s: execve: No such file or directory"
                       % re.escape(prog))
            # The warning is logged just before the refusal is counted: poll the counter.
            refused = r'ksockd_exec_refused_total\{listener="v".*reason="start_failed".*\} 1'
            wait_until(lambda: re.search(refused, metrics_text(d.port("metrics"))),
                       what="the start_failed refusal counted")

    @unittest.skipUnless(os.geteuid() == 0, "needs root (CI runs as root)")
    def test_exec_user_applied(self):
        """Workers as root (user = "root"); the program as exec_user/exec_group."""
        with H.Daemon([xl("u", "report", exec_user="daemon", exec_group="daemon")],
                      user="root", group="root") as d:
            rep = report(H.recv_all(H.connect(d.port("u"))))
        self.assertEqual((rep["UID"], rep["GID"], rep["GROUPS"]), ("1", "1", "1,"))


class ExecConfigCheck(unittest.TestCase):
    def check(self, listener, want, **globals_):
        d = tempfile.mkdtemp(prefix="ksockd-exec-conf-")
        try:
            path = os.path.join(d, "k.conf")
            with open(path, "w") as f:
                f.write(H.render_config([listener], **globals_))
            p = subprocess.run([H.KSOCKD, "-t", "-c", path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=20)
            out = p.stdout.decode()
            self.assertNotEqual(p.returncode, 0, out)
            self.assertRegex(out, re.escape(path) + r":\d+: .*" + want)
        finally:
            shutil.rmtree(d)

    def test_dump_of_an_exec_listener_loads(self):
        """ksockd -T writes exec and exec_env back; its output passes ksockd -t."""
        d = tempfile.mkdtemp(prefix="ksockd-exec-conf-")
        try:
            path, dumped = os.path.join(d, "k.conf"), os.path.join(d, "dump.conf")
            with open(path, "w") as f:
                f.write(H.render_config([xl("m", "echo", exec_env=["A=b c"])]))
            out = subprocess.run([H.KSOCKD, "-T", "-c", path], capture_output=True, text=True,
                                 timeout=20).stdout
            self.assertIn('exec = [ "%s", "echo" ];' % XPROG, out)
            self.assertIn('exec_env = [ "A=b c" ];', out)
            with open(dumped, "w") as f:
                f.write(out)
            r = subprocess.run([H.KSOCKD, "-t", "-c", dumped], capture_output=True, text=True,
                               timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            shutil.rmtree(d)

    def test_missing_program(self):
        self.check(H.listener("m", "exec", exec=["/nonexistent/prog"]),
                   r"program '/nonexistent/prog': No such file or directory")

    def test_program_not_executable(self):
        self.check(H.listener("m", "exec", exec=["/etc/passwd"]), r"is not executable")

    def test_relative_program(self):
        self.check(H.listener("m", "exec", exec=["cat"]), r"must be an absolute path")

    def test_unknown_user(self):
        if os.geteuid() != 0:
            self.skipTest("user names are resolved only when running as root")
        self.check(xl("m", "echo", exec_user="no-such-user-x"), r"user 'no-such-user-x' does "
                   r"not exist", user="root", group="root")

    def test_exec_without_handler_exec(self):
        self.check(H.listener("m", "echo", exec=["/bin/cat"]), r'need handler = "exec"')

    def test_handler_exec_without_exec(self):
        self.check(H.listener("m", "exec"), r"needs 'exec'")

    def test_udp_refused_with_reason(self):
        self.check(xl("m", "echo", protocol="udp"), r"spawn without end")

    def test_root_programs_need_explicit_root(self):
        if os.geteuid() != 0:
            self.skipTest("only meaningful as root")
        self.check(xl("m", "echo"), r"programs would run as root", user="root", group="root")

    def test_unprivileged_workers_cannot_switch_user(self):
        if os.geteuid() != 0:
            self.skipTest("only meaningful as root")
        self.check(xl("m", "echo", exec_user="daemon"), r"differ from the workers' user")

    def test_reserved_env_name(self):
        self.check(xl("m", "echo", exec_env=["TCPREMOTEIP=1.2.3.4"]), r"set by ksockd itself")


if __name__ == "__main__":
    unittest.main(verbosity=2)
