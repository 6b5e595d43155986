#!/usr/bin/env python3
"""test_ksock.py: the ksock client and `ksock bench`, against the real ksockd
and against servers we did not write (socat, gnutls-serv, openssl s_server)
and bench/refecho. Certificates are made with certtool at test time."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

BUILD = os.path.dirname(H.KSOCKD)
KSOCK = os.environ.get("KSOCK", os.path.join(BUILD, "ksock"))
REFECHO = os.environ.get("REFECHO", os.path.join(BUILD, "bench", "refecho"))


def ksock(*args, input=b"", timeout=20):
    return subprocess.run([KSOCK] + [str(a) for a in args], input=input, capture_output=True,
                          timeout=timeout)


def bench(*args, timeout=60):
    r = ksock("bench", "-q", "--json", *args, timeout=timeout)
    lines = [l for l in r.stdout.decode().splitlines() if l.startswith("{")]
    if not lines:
        raise AssertionError("no JSON from ksock bench: rc %d, stderr %s" % (r.returncode, r.stderr))
    return r.returncode, json.loads(lines[0])


def bound(port, udp=False):
    """True when something is bound to port on loopback (TCP: listening)."""
    for name in ("udp", "udp6") if udp else ("tcp", "tcp6"):
        try:
            with open("/proc/net/" + name) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].split(":")[1], 16) == port and (udp or fields[3] == "0A"):
                return True
    return False


class Server:
    """A third-party server in its own process group, ready once its port is bound."""

    def __init__(self, argv, port, udp=False, **kw):
        self.port = port
        # A file, not a pipe: a chatty server must never block on its output.
        fd, self.path = tempfile.mkstemp(prefix="ksock-server-", suffix=".log")
        os.close(fd)
        self.out = open(self.path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True, **kw)
        deadline = time.monotonic() + 10
        while not bound(port, udp):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("%s did not start: %s" % (argv[0], self.stop()))
            time.sleep(0.02)  # polling the kernel's socket table: a real signal, bounded

    def log(self):
        with open(self.path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, count, timeout=10):
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.log())) < count:
            if time.monotonic() > deadline:
                raise AssertionError("server log never matched %r:\n%s" % (pattern, self.log()))
            time.sleep(0.02)

    def stop(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=10)
        self.out.close()
        out = self.log()
        os.unlink(self.path)
        return out


def need(*tools):
    for t in tools:
        if not shutil.which(t):
            raise AssertionError("%s is not installed (tools/install-deps installs it)" % t)


def certtool(*args):
    subprocess.run(["certtool"] + list(args), check=True, capture_output=True, timeout=30)


def make_pki(d):
    """A test CA, a server certificate for localhost/127.0.0.1, a client
    certificate, and a second CA that signed nothing."""
    def tmpl(name, text):
        p = os.path.join(d, name + ".tmpl")
        with open(p, "w") as f:
            f.write(text)
        return p

    for k in ("ca", "srv", "cli", "other"):
        certtool("--generate-privkey", "--key-type=ecdsa", "--outfile", os.path.join(d, k + ".key"))
    ca_t = tmpl("ca", 'cn = "ksock test CA"\nca\ncert_signing_key\nexpiration_days = 2\n')
    certtool("--generate-self-signed", "--load-privkey", os.path.join(d, "ca.key"),
             "--template", ca_t, "--outfile", os.path.join(d, "ca.pem"))
    certtool("--generate-self-signed", "--load-privkey", os.path.join(d, "other.key"),
             "--template", ca_t, "--outfile", os.path.join(d, "other.pem"))
    for k, t in (("srv", 'cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\n'
                         'tls_www_server\nexpiration_days = 2\n'),
                 ("cli", 'cn = "ksock client"\ntls_www_client\nexpiration_days = 2\n')):
        certtool("--generate-certificate", "--load-privkey", os.path.join(d, k + ".key"),
                 "--load-ca-certificate", os.path.join(d, "ca.pem"),
                 "--load-ca-privkey", os.path.join(d, "ca.key"),
                 "--template", tmpl(k, t), "--outfile", os.path.join(d, k + ".pem"))


class WithKsockd(unittest.TestCase):
    """The tutorial exchange and scripted use against the real daemon."""

    def test_tutorial_exchange_then_server_closed_when_daemon_stops(self):
        d = H.Daemon([H.listener("hello", "hello")], shutdown_timeout=0.5)
        try:
            p = subprocess.Popen([KSOCK, "127.0.0.1", str(d.port("hello"))],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                self.assertEqual(p.stdout.readline(), b"Please enter your name\n")
                p.stdin.write(b"Alice\n")
                p.stdin.flush()
                self.assertEqual(p.stdout.readline(), b"Hello, Alice!\n")
                d.signal(signal.SIGTERM)  # stdin stays open: the server ends it
                out, err = p.communicate(timeout=10)
            finally:
                p.kill()
            self.assertEqual(out, b"")
            self.assertEqual(err, b"Server closed a connection\n")
            self.assertEqual(p.returncode, 0)
            self.assertEqual(d.stop(), 0)
        finally:
            d.kill()

    def test_send_lines_and_stdin_eof_half_close(self):
        with H.Daemon([H.listener("echo", "echo"), H.listener("hello", "hello")]) as d:
            r = ksock("-e", "one", "-e", "two words", "127.0.0.1", d.port("echo"))
            self.assertEqual((r.returncode, r.stdout), (0, b"one\ntwo words\n"))
            self.assertIn(b"Server closed a connection", r.stderr)
            r = ksock("127.0.0.1", d.port("hello"), input=b"Bob\nCarol")
            self.assertEqual(r.stdout, b"Please enter your name\nHello, Bob!\nHello, Carol!\n")
            # Many lines at once: EOF half-closes and every reply still arrives.
            lines = b"".join(b"line %d\n" % i for i in range(20000))
            r = ksock("-q", "127.0.0.1", d.port("echo"), input=lines)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, lines, b""))

    def test_exit_codes(self):
        port = H.free_port()
        r = ksock("-e", "x", "127.0.0.1", port)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"cannot connect to 127.0.0.1:%d: Connection refused" % port, r.stderr)
        r = ksock("-e", "x", "no-such-host.invalid", 7)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"cannot resolve no-such-host.invalid", r.stderr)
        self.assertEqual(ksock("--bogus", "h", "1").returncode, 1)
        self.assertEqual(ksock("onlyhost").returncode, 1)
        self.assertEqual(ksock("--cafile", "x", "h", "1").returncode, 1)  # TLS option without --tls
        with socket.socket() as silent:  # accepts, never answers, never closes
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            t0 = time.monotonic()
            r = ksock("-t", "0.5", "-e", "x", "127.0.0.1", silent.getsockname()[1])
            self.assertEqual(r.returncode, 4)
            self.assertIn(b"did not close the connection within 0.5 s", r.stderr)
            self.assertLess(time.monotonic() - t0, 5)

    def test_help_and_version(self):
        r = ksock("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"--insecure", r.stdout)
        self.assertIn(b"4 timeout", r.stdout)
        self.assertRegex(ksock("-V").stdout.decode(), r"^ksock \d+\.\d+")
        self.assertIn(b"--pipeline", ksock("bench", "--help").stdout)

    def test_man_page_renders_without_warnings(self):
        if not shutil.which("man"):
            self.skipTest("man (man-db) is not installed")
        page = os.path.join(os.environ.get("KSOCKD_SRCDIR", "."), "man", "ksock.1")
        r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, timeout=30,
                           env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertIn(b"EXIT STATUS", r.stdout)


class ThirdPartyServers(unittest.TestCase):
    """ksock against socat, gnutls-serv and openssl s_server."""

    @classmethod
    def setUpClass(cls):
        need("socat", "gnutls-serv", "openssl", "certtool")
        cls.dir = tempfile.mkdtemp(prefix="ksock-test-")
        make_pki(cls.dir)
        cls.servers = []

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def f(self, name):
        return os.path.join(self.dir, name)

    def start(self, argv, port, udp=False):
        s = Server(argv, port, udp)
        self.servers.append(s)
        return s

    def gnutls_serv(self):
        if not hasattr(type(self), "gs_port"):
            port = H.free_port()
            self.start(["gnutls-serv", "--echo", "-p", str(port), "--x509certfile",
                        self.f("srv.pem"), "--x509keyfile", self.f("srv.key")], port)
            type(self).gs_port = port
        return self.gs_port

    def test_socat_tcp_echo(self):
        port = H.free_port()
        self.start(["socat", "TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port, "PIPE"], port)
        r = ksock("-e", "hello", "-e", "", "-e", "world", "127.0.0.1", port)
        self.assertEqual((r.returncode, r.stdout), (0, b"hello\n\nworld\n"))
        self.assertIn(b"Server closed a connection", r.stderr)

    def test_socat_udp_echo(self):
        port = H.free_port(socket.SOCK_DGRAM)
        self.start(["socat", "UDP4-LISTEN:%d,bind=127.0.0.1" % port, "PIPE"], port, udp=True)
        r = ksock("-u", "-t", "0.5", "127.0.0.1", port, input=b"one\ntwo\nlast")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"one\ntwo\nlast\n")
        self.assertNotIn(b"Server closed", r.stderr)

    def test_udp_nothing_listening_is_a_connect_error(self):
        r = ksock("-u", "-t", "2", "-e", "x", "127.0.0.1", H.free_port(socket.SOCK_DGRAM))
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"connection refused", r.stderr)

    def test_gnutls_serv_verified_with_test_ca(self):
        port = self.gnutls_serv()
        for host in ("127.0.0.1", "localhost"):
            r = ksock("--tls", "--cafile", self.f("ca.pem"), "-v", "-e", "secret", "-e", "line",
                      host, port)
            self.assertEqual((r.returncode, r.stdout), (0, b"secret\nline\n"), r.stderr)
            self.assertIn(b"certificate verified", r.stderr)
            self.assertIn(b"Server closed a connection", r.stderr)

    def test_gnutls_serv_wrong_ca_fails_clearly(self):
        r = ksock("--tls", "--cafile", self.f("other.pem"), "-e", "x", "127.0.0.1",
                  self.gnutls_serv())
        self.assertEqual(r.returncode, 3)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b"certificate verification failed for '127.0.0.1'", r.stderr)
        self.assertIn(b"issuer is unknown", r.stderr)
        self.assertIn(b"--cafile", r.stderr)

    def test_gnutls_serv_system_store_does_not_trust_test_ca(self):
        r = ksock("--tls", "-e", "x", "localhost", self.gnutls_serv())
        self.assertEqual(r.returncode, 3)
        self.assertIn(b"give the CA that signed it with --cafile", r.stderr)

    def test_gnutls_serv_wrong_name_fails_clearly(self):
        r = ksock("--tls", "--cafile", self.f("ca.pem"), "--servername", "wrong.example",
                  "-e", "x", "127.0.0.1", self.gnutls_serv())
        self.assertEqual(r.returncode, 3)
        self.assertIn(b"for 'wrong.example'", r.stderr)
        self.assertIn(b"does not match", r.stderr)

    def test_gnutls_serv_insecure_works_with_a_loud_warning(self):
        r = ksock("--tls", "--insecure", "--cafile", self.f("other.pem"), "-e", "x",
                  "127.0.0.1", self.gnutls_serv())
        self.assertEqual((r.returncode, r.stdout), (0, b"x\n"))
        self.assertIn(b"WARNING: --insecure", r.stderr)

    def test_bad_priority_string_is_a_usage_error(self):
        r = ksock("--tls", "--priority", "NORMAL:+NOSUCH", "-e", "x", "127.0.0.1",
                  self.gnutls_serv())
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"--priority", r.stderr)

    def test_openssl_s_server_with_alpn_and_client_certificate(self):
        port = H.free_port()
        self.start(["openssl", "s_server", "-rev", "-accept", "127.0.0.1:%d" % port,
                    "-cert", self.f("srv.pem"), "-key", self.f("srv.key"), "-alpn", "kline",
                    "-Verify", "1", "-CAfile", self.f("ca.pem")], port)
        r = ksock("--tls", "--cafile", self.f("ca.pem"), "--alpn", "kline", "-v",
                  "--cert", self.f("cli.pem"), "--key", self.f("cli.key"),
                  "--priority", "NORMAL:-VERS-TLS1.3", "-e", "hello", "127.0.0.1", port)
        self.assertEqual((r.returncode, r.stdout), (0, b"olleh\n"), r.stderr)
        self.assertIn(b"ALPN kline", r.stderr)
        self.assertIn(b"(TLS1.2)", r.stderr)
        # Without the client certificate the server refuses the handshake.
        r = ksock("--tls", "--cafile", self.f("ca.pem"), "--priority", "NORMAL:-VERS-TLS1.3",
                  "-e", "hello", "127.0.0.1", port)
        self.assertIn(r.returncode, (3, 5), r.stderr)
        self.assertEqual(r.stdout, b"")


class Bench(unittest.TestCase):
    """ksock bench: counts match the servers' own accounting."""

    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon([H.listener("echo", "echo"), H.listener("hello", "hello")],
                         log_level="debug", workers=1)

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    CLOSED = (r"echo: peer \S+: connection \d+ closed \([^)]*\) after [\d.]+ s: "
              r"in \d+ bytes (\d+) lines")

    def test_tcp_pipelined_against_ksockd_matches_server_count(self):
        before = len(re.findall(self.CLOSED, self.d.log()))
        rc, j = bench("-c", 8, "-P", 8, "-n", 20000, "--threads", 2, "127.0.0.1",
                      self.d.port("echo"))
        self.assertEqual(rc, 0, j)
        self.assertEqual((j["sent"], j["ok"], j["errors"]["total"]), (20000, 20000, 0))
        # ksockd's own accounting: one log line per closed connection.
        found = self.d.wait_log(self.CLOSED, count=before + 8)
        self.assertEqual(len(found), before + 8)
        self.assertEqual(sum(int(n) for n in found[before:]), 20000)
        self.assertGreater(j["latency_us"]["p50"], 0)
        self.assertLessEqual(j["latency_us"]["p50"], j["latency_us"]["p99"])

    def test_connect_mode_and_greeting_against_ksockd(self):
        rc, j = bench("-m", "connect", "-c", 4, "-n", 200, "127.0.0.1", self.d.port("echo"))
        self.assertEqual((rc, j["ok"], j["connects"], j["errors"]["total"]), (0, 200, 200, 0))
        rc, j = bench("-c", 4, "-n", 400, "--greeting", 1, "--line", "Dora", "--expect",
                      "Hello, Dora!", "127.0.0.1", self.d.port("hello"))
        self.assertEqual((rc, j["ok"], j["errors"]["total"]), (0, 400, 0))

    def test_progress_each_second_and_ctrl_c_gives_the_summary(self):
        p = subprocess.Popen([KSOCK, "bench", "--json", "-c", "2", "-d", "30", "127.0.0.1",
                              str(self.d.port("echo"))], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            line = p.stderr.readline()  # the first progress report, after one second
            self.assertRegex(line.decode(), r"^\[ +1\.0s\] \d+ lines, \d+ lines/s, 0 errors$")
            p.send_signal(signal.SIGINT)
            out, _ = p.communicate(timeout=10)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 0)
        j = json.loads(out)
        self.assertLess(j["seconds"], 10)
        self.assertEqual(j["sent"], j["ok"])
        self.assertEqual(j["errors"]["total"], 0)

    def test_long_lines_split_across_reads(self):
        rc, j = bench("-c", 3, "-P", 8, "-n", 3000, "--size", 5000, "127.0.0.1",
                      self.d.port("echo"))
        self.assertEqual((rc, j["ok"], j["line_bytes"], j["errors"]["total"]), (0, 3000, 5000, 0))

    def test_wrong_replies_are_errors(self):
        rc, j = bench("-c", 2, "-n", 100, "--expect", "pong", "127.0.0.1", self.d.port("echo"))
        self.assertEqual(rc, 6)
        self.assertEqual((j["ok"], j["errors"]["wrong"], j["errors"]["total"]), (0, 100, 100))

    def test_refecho_byte_count_matches(self):
        port = H.free_port()
        p = subprocess.Popen([REFECHO, str(port)], stdout=subprocess.PIPE, start_new_session=True)
        try:
            self.assertEqual(p.stdout.readline(), b"ready\n")
            rc, j = bench("-c", 4, "-P", 32, "-n", 50000, "--size", 100, "127.0.0.1", port)
            os.kill(p.pid, signal.SIGTERM)
            out = p.communicate(timeout=10)[0]
        finally:
            p.kill()
        self.assertEqual((rc, j["ok"], j["errors"]["total"]), (0, 50000, 0))
        self.assertEqual(out, b"bytes %d\n" % (50000 * 100))

    def test_socat_tcp_and_udp(self):
        need("socat")
        tport, uport = H.free_port(), H.free_port(socket.SOCK_DGRAM)
        # -d -d -d: socat logs every transfer, its own accounting of the bytes.
        servers = [Server(["socat", "-d", "-d", "-d",
                           "TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % tport, "PIPE"], tport),
                   Server(["socat", "UDP4-LISTEN:%d,bind=127.0.0.1" % uport, "PIPE"], uport,
                          udp=True)]
        try:
            rc, j = bench("-c", 4, "-P", 4, "-n", 10000, "127.0.0.1", tport)
            self.assertEqual((rc, j["ok"], j["errors"]["total"]), (0, 10000, 0))
            # Each forked socat logs its exit after its last transfer.
            servers[0].wait_log(r"exiting with status 0", count=4)
            log = servers[0].stop()
            moved = sum(int(n) for n in re.findall(r"transferred (\d+) bytes from", log))
            self.assertEqual(moved, 2 * 10000 * len(b"ping\n"))  # in to the pipe, and back
            # socat's UDP-LISTEN serves the first peer only: one socket.
            rc, j = bench("-m", "udp", "-c", 1, "-P", 4, "-n", 5000, "127.0.0.1", uport)
            self.assertEqual((rc, j["ok"], j["errors"]["total"]), (0, 5000, 0))
        finally:
            for s in servers:
                if not s.out.closed:
                    s.stop()

    def test_server_closing_mid_run_is_counted(self):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()

        def echo_ten_then_close():
            conn, _ = lsock.accept()
            with conn:
                f = conn.makefile("rb")
                for _ in range(10):
                    conn.sendall(f.readline())
                f.readline()  # the 11th line: read, never answered

        t = threading.Thread(target=echo_ten_then_close, daemon=True)
        t.start()
        try:
            rc, j = bench("-c", 1, "-n", 100, "127.0.0.1", lsock.getsockname()[1])
        finally:
            t.join(5)
            lsock.close()
        self.assertEqual(rc, 6)
        self.assertEqual((j["sent"], j["ok"], j["errors"]["closed"], j["errors"]["lost"],
                          j["errors"]["total"]), (11, 10, 1, 1, 2))
        self.assertIn("closed a connection in use", j["first_error"])

    def test_udp_losses_are_counted_as_timeouts(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        stop = threading.Event()

        def lossy_echo():  # answers every datagram but every 10th
            n = 0
            while not stop.is_set():
                try:
                    data, peer = sock.recvfrom(65536)
                except socket.timeout:
                    continue
                n += 1
                if n % 10:
                    sock.sendto(data, peer)

        t = threading.Thread(target=lossy_echo, daemon=True)
        t.start()
        try:
            rc, j = bench("-m", "udp", "-c", 1, "-n", 50, "--timeout", 0.2, "127.0.0.1",
                          sock.getsockname()[1])
        finally:
            stop.set()
            t.join(5)
            sock.close()
        # Every 10th of the 50 datagrams went unanswered: 5 timeouts, nothing lost twice.
        self.assertEqual(rc, 6)
        self.assertEqual((j["sent"], j["ok"], j["errors"]["timeout"], j["errors"]["total"]),
                         (50, 45, 5, 5))

    def test_tls_modes_against_gnutls_serv(self):
        need("gnutls-serv", "certtool")
        d = tempfile.mkdtemp(prefix="ksock-bench-")
        try:
            make_pki(d)
            port = H.free_port()
            s = Server(["gnutls-serv", "--echo", "-p", str(port), "--x509certfile",
                        os.path.join(d, "srv.pem"), "--x509keyfile", os.path.join(d, "srv.key")],
                       port)
            try:
                ca = os.path.join(d, "ca.pem")
                rc, j = bench("-m", "tls", "--cafile", ca, "-c", 4, "-P", 8, "-n", 10000,
                              "127.0.0.1", port)
                self.assertEqual((rc, j["ok"], j["handshakes"], j["errors"]["total"]),
                                 (0, 10000, 4, 0))
                rc, j = bench("-m", "resume", "--cafile", ca, "-c", 1, "-n", 10, "127.0.0.1",
                              port)
                self.assertEqual((rc, j["ok"], j["handshakes"], j["resumed"]), (0, 10, 10, 9))
                rc, j = bench("-m", "handshake", "--cafile", os.path.join(d, "other.pem"),
                              "-c", 1, "-n", 3, "127.0.0.1", port)
                self.assertEqual((rc, j["ok"], j["errors"]["tls"]), (6, 0, 3))
                self.assertIn("issuer is unknown", j["first_error"])
                # --idle over TLS: handshake, one line, then held (-d: 0.5 s).
                r = ksock("bench", "--json", "-m", "tls", "--cafile", ca, "--idle", 20,
                          "-d", 0.5, "127.0.0.1", port)
                built, end = (json.loads(l) for l in r.stdout.decode().splitlines())
                self.assertEqual((r.returncode, built["held"], built["mode"], end["held_at_end"]),
                                 (0, 20, "tls", 20), r.stderr)
            finally:
                s.stop()
        finally:
            shutil.rmtree(d, ignore_errors=True)


def tcp_table(count):
    """count(rows) over /proc/net/tcp's rows, each as (state, (local address,
    port), (remote address, port)). The table is read in pages, not as one
    snapshot: other processes' connections coming and going can repeat or
    skip a row, so it is read until two counts agree (bounded)."""
    def endpoint(hexaddr):
        ip, port = hexaddr.split(":")
        return socket.inet_ntoa(bytes.fromhex(ip)[::-1]), int(port, 16)

    last = None
    for _ in range(20):
        with open("/proc/net/tcp") as f:
            rows = [(x[3], endpoint(x[1]), endpoint(x[2]))
                    for x in (r.split() for r in f.read().splitlines()[1:])]
        now = count(rows)
        if now == last:
            return now
        last = now
    return last


def tcp_peers(port):
    """Source addresses of the established TCP connections to 127.0.0.1:port."""
    def peers(rows):
        out = {}
        for state, local, remote in rows:
            if state == "01" and local[1] == port:
                out[remote[0]] = out.get(remote[0], 0) + 1
        return out
    return tcp_table(peers)


def time_wait_from(src, port):
    """Sockets in TIME_WAIT from address src to 127.0.0.1:port."""
    return tcp_table(lambda rows: sum(state == "06" and local[0] == src and remote[1] == port
                                      for state, local, remote in rows))


def children(pid):
    """Live children of pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
    return out


class BenchScale(unittest.TestCase):
    """ksock bench --idle, --procs, --source against the real daemon."""

    def idle(self, d, *args):
        """Starts ksock bench --idle; returns the process and its build report."""
        p = subprocess.Popen([KSOCK, "bench", "--json"] + [str(a) for a in args] +
                             ["127.0.0.1", str(d.port("echo"))], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)
        line = p.stdout.readline()  # written once every connection was tried
        self.assertTrue(line.startswith("{"), p.stderr.read() if not line else line)
        return p, json.loads(line)

    def test_idle_connections_held_over_processes_and_source_addresses(self):
        d = H.Daemon([H.listener("echo", "echo")], workers=2)
        self.addCleanup(d.kill)
        p, built = self.idle(d, "--idle", 600, "--procs", 3, "--source", "127.0.0.2-127.0.0.5",
                             "-c", 40)
        self.assertEqual((built["phase"], built["held"], built["failed"], built["procs"],
                          built["sources"], built["errors"]["total"]),
                         ("established", 600, 0, 3, 4, 0))
        self.assertGreater(built["connects_per_sec"], 0)
        self.assertGreater(built["seconds"], 0)
        # The kernel's view: 600 connections, 150 from each source address,
        # opened by the 3 processes ksock forked.
        self.assertEqual(tcp_peers(d.port("echo")),
                         {"127.0.0.%d" % i: 150 for i in range(2, 6)})
        self.assertEqual(len(children(p.pid)), 3)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        end = json.loads(out.splitlines()[-1])
        self.assertEqual((end["phase"], end["held_at_end"], end["errors"]["total"]),
                         ("end", 600, 0))
        self.assertEqual(d.stop(), 0)

    def test_reset_releases_without_time_wait(self):
        """--reset: the held connections end with RST, so none stays in
        TIME_WAIT on the client side; without it each does (the client closes
        first). Each run from its own source address, to tell them apart."""
        d = H.Daemon([H.listener("echo", "echo")], workers=1)
        self.addCleanup(d.kill)
        port = d.port("echo")
        for src, extra, want_tw in (("127.0.0.61", [], 120), ("127.0.0.62", ["--reset"], 0)):
            p, built = self.idle(d, "--idle", 120, "--source", src, *extra)
            self.assertEqual((built["held"], built["failed"]), (120, 0))
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            end = json.loads(out.splitlines()[-1])
            self.assertEqual((end["held_at_end"], end["errors"]["total"]), (120, 0))
            self.assertEqual(time_wait_from(src, port), want_tw, extra)
        self.assertEqual(d.stop(), 0)

    def test_held_connections_the_server_closes_are_counted(self):
        d = H.Daemon([H.listener("echo", "echo", idle_timeout=1)], workers=1)
        self.addCleanup(d.kill)
        p, built = self.idle(d, "--idle", 50, "-d", 3)
        self.assertEqual((built["held"], built["failed"]), (50, 0))
        out, err = p.communicate(timeout=30)  # -d 3: held 3 s, ksockd closes them after 1 s
        self.assertEqual(p.returncode, 6, err)
        end = json.loads(out.splitlines()[-1])
        self.assertEqual((end["held_at_end"], end["errors"]["closed"], end["errors"]["total"]),
                         (0, 50, 50))
        self.assertIn("closed a connection in use", end["first_error"])

    def test_progress_each_second_while_building(self):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        done = threading.Event()

        def slow_echo():  # answers the three connections' lines after 1.5 s
            conns = [lsock.accept()[0] for _ in range(3)]
            for c in conns:
                c.recv(64)
            time.sleep(1.5)  # the slow server under test, not a synchronisation
            for c in conns:
                c.sendall(b"ping\n")
            done.wait(20)
            for c in conns:
                c.close()

        t = threading.Thread(target=slow_echo, daemon=True)
        t.start()
        try:
            r = ksock("bench", "--idle", 3, "-d", 0.1, "127.0.0.1", lsock.getsockname()[1])
        finally:
            done.set()
            t.join(5)
            lsock.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr.decode(), r"^\[ +1\.\ds\] 0 connections held, 0 failed\n")
        self.assertIn("3 established and held, 0 failed", r.stdout.decode())

    def test_limits_of_the_machine_are_explained(self):
        soft, hard = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)
        n = (hard - 100) * 2 + 1  # one more than two processes may hold
        r = ksock("bench", "--idle", n, "--procs", 2, "--source", "127.0.0.2-127.0.0.250",
                  "127.0.0.1", 9)
        self.assertEqual(r.returncode, 1)
        self.assertIn("use --procs 3 or more", r.stderr.decode())
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
        r = ksock("bench", "--idle", (hi - lo + 1) + 1, "127.0.0.1", 9)
        self.assertEqual(r.returncode, 1)
        self.assertIn("use --source with 2 addresses or more", r.stderr.decode())
        r = ksock("bench", "--idle", 10, "--source", "127.0.0.9-127.0.0.2", "127.0.0.1", 9)
        self.assertIn("--source: '127.0.0.9-127.0.0.2' is not", r.stderr.decode())


class BenchReports(unittest.TestCase):
    """ksock bench's reports: wrong bytes, UDP hint, -R, --csv, --hist, --plot."""

    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon([H.listener("echo", "echo"),
                          H.listener("udp", "echo", protocol="udp", udp_rate=50, udp_burst=5)],
                         workers=1)
        cls.dir = tempfile.mkdtemp(prefix="ksock-bench-")

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_wrong_reply_shows_the_bytes_received_escaped(self):
        rc, j = bench("-c", 1, "-n", 5, "--line", "a\tb", "--expect", "pong", "127.0.0.1",
                      self.d.port("echo"))
        self.assertEqual((rc, j["errors"]["wrong"]), (6, 5))
        self.assertEqual(j["first_error"],
                         "wrong reply: expected 'pong\\n', received 'a\\tb\\n' (4 bytes)")
        # The text summary says the same.
        r = ksock("bench", "-q", "-c", 1, "-n", 1, "--expect", "pong", "127.0.0.1",
                  self.d.port("echo"))
        self.assertIn("first error: wrong reply: expected 'pong\\n', received 'ping\\n' (5 bytes)",
                      r.stdout.decode())

    def test_udp_timeouts_under_a_rate_limit_give_a_hint(self):
        # ksockd answers 50 datagrams/s per source (burst 5): most of 2 s at full speed time out.
        r = ksock("bench", "-q", "--json", "-m", "udp", "-c", 2, "-P", 8, "-d", 2, "-t", 0.2,
                  "127.0.0.1", self.d.port("udp"))
        j = json.loads(r.stdout.decode().splitlines()[0])
        self.assertEqual(r.returncode, 6)
        self.assertGreater(j["ok"], 0)
        self.assertGreater(j["errors"]["timeout"], j["ok"])
        self.assertIn("hint: some datagrams were answered and many were not: the server may "
                      "limit the rate per source (ksockd: udp_rate, udp_burst)", r.stderr.decode())
        # Below the limit, -R gets every reply and no hint.
        r = ksock("bench", "-q", "--json", "-m", "udp", "-c", 1, "-R", 20, "-d", 1, "-t", 0.5,
                  "127.0.0.1", self.d.port("udp"))
        j = json.loads(r.stdout.decode().splitlines()[0])
        self.assertEqual((r.returncode, j["errors"]["total"]), (0, 0), r.stderr)
        self.assertNotIn("hint", r.stderr.decode())

    def test_fixed_rate_sends_on_schedule(self):
        rc, j = bench("-R", 500, "-c", 5, "-d", 2, "127.0.0.1", self.d.port("echo"))
        self.assertEqual((rc, j["errors"]["total"], j["target_rate"]), (0, 0, 500))
        self.assertEqual(j["sent"], j["ok"])
        self.assertGreaterEqual(j["sent"], 900)   # 2 s at 500/s, whatever the machine's load
        self.assertLessEqual(j["sent"], 1005)     # and never faster than the schedule

    def test_fixed_rate_latency_includes_the_wait_for_a_stalled_server(self):
        worker = self.d.workers()[0]
        p = subprocess.Popen([KSOCK, "bench", "--json", "-R", "1000", "-c", "1", "-d", "3",
                              "127.0.0.1", str(self.d.port("echo"))], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(p.kill)
        p.stderr.readline()  # the first progress line: one second of sending
        os.kill(worker, signal.SIGSTOP)
        try:
            time.sleep(0.5)  # the stall under test, not a synchronisation
        finally:
            os.kill(worker, signal.SIGCONT)
        out, _ = p.communicate(timeout=30)
        j = json.loads(out)
        # ~500 lines fell due during the stall; each counts its wait from its due
        # time (uniform up to 500 ms): over 10% of the 3,000 lines wait > 100 ms.
        # Measured from the actual send, only the one line in flight would.
        self.assertEqual(j["errors"]["total"], 0)
        self.assertGreater(j["latency_us"]["p90"], 100000)
        self.assertGreater(j["latency_us"]["max"], 400000)

    def test_csv_summary(self):
        r = ksock("bench", "-q", "--csv", "-c", 2, "-n", 300, "127.0.0.1", self.d.port("echo"))
        self.assertEqual(r.returncode, 0)
        head, row = r.stdout.decode().splitlines()
        rec = dict(zip(head.split(","), row.split(",")))
        self.assertEqual(len(head.split(",")), len(row.split(",")))
        self.assertEqual((rec["mode"], rec["sent"], rec["ok"], rec["errors"]), ("tcp", "300",
                                                                                "300", "0"))
        self.assertLessEqual(float(rec["p50_us"]), float(rec["p99_us"]))

    def test_hist_file_is_an_hdrhistogram_percentile_distribution(self):
        path = os.path.join(self.dir, "lat.hgrm")
        rc, j = bench("-c", 2, "-n", 2000, "--hist", path, "127.0.0.1", self.d.port("echo"))
        self.assertEqual(rc, 0)
        with open(path) as f:
            text = f.read().splitlines()
        self.assertEqual(text[0].split(), ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"])
        self.assertEqual(text[1], "")
        rows = [l.split() for l in text[2:] if not l.startswith("#")]
        vals = [float(r[0]) for r in rows]
        pcts = [float(r[1]) for r in rows]
        self.assertEqual(vals, sorted(vals))
        self.assertEqual(pcts, sorted(pcts))
        self.assertEqual((pcts[0], rows[-1][1], rows[-1][2], rows[-1][3]),
                         (0.0, "1.000000", "2000", "inf"))
        # The value at 50% is the summary's p50 (ms here, us there).
        p50 = next(float(r[0]) for r in rows if float(r[1]) == 0.5)
        self.assertAlmostEqual(p50 * 1000, j["latency_us"]["p50"], delta=1.0)
        self.assertRegex(text[-2], r"^#\[Max     = +[\d.]+, Total count    = +2000\]$")
        self.assertAlmostEqual(float(text[-2].split()[2].rstrip(",")) * 1000,
                               j["latency_us"]["max"], delta=1.0)

    def test_plot_draws_the_distribution_with_gnuplot(self):
        need("gnuplot")
        path = os.path.join(self.dir, "lat.svg")
        rc, j = bench("-c", 2, "-n", 2000, "--plot", path, "127.0.0.1", self.d.port("echo"))
        self.assertEqual(rc, 0)
        import xml.etree.ElementTree as ET
        root = ET.parse(path).getroot()
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        text = " ".join(t for t in root.itertext())
        self.assertIn("GNUPLOT", text)
        self.assertIn("ksock bench tcp 127.0.0.1:%d: 2 connections" % self.d.port("echo"), text)
        self.assertIn("99.9%", text)
        self.assertIn("latency (ms)", text)
        r = ksock("bench", "-q", "-n", 10, "--plot", path, "--idle", 5, "127.0.0.1", 9)
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
