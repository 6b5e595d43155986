#!/usr/bin/env python3
"""test_tls.py: TLS listeners against the real daemon, with gnutls-cli,
openssl s_client and Python's ssl module as clients, and certificates made with
certtool at test time: versions and suites, resumption across workers, SNI,
client certificates, ALPN, bad and stalled handshakes, back-pressure, reload
and -t with broken files. The scanners (sslscan, testssl) are in test_tls_scan.py."""
import collections
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import tlscerts  # noqa: E402

CERTS = None


def setUpModule():
    global CERTS
    CERTS = tlscerts.Certs()


def tearDownModule():
    shutil.rmtree(CERTS.dir, ignore_errors=True)


def tls_listener(name, cert="server", **extra):
    extra.setdefault("certificate", CERTS.cert(cert))
    extra.setdefault("key", CERTS.key(cert))
    return H.listener(name, "echo", protocol="tls", **extra)


def run_client(cmd, data=b"", expect=(), timeout=10.0, steps=None):
    """Runs a TLS client; for each (data, expect) step writes data and reads its output
    until every bytes in expect appeared (or it exits, or timeout); then closes its
    stdin and collects the rest. Returns (exit status, output)."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = b""
    deadline = time.monotonic() + timeout
    fd = p.stdout.fileno()
    eof = False
    for chunk_in, want in steps or [(data, expect)]:
        try:
            p.stdin.write(chunk_in)
            p.stdin.flush()
        except BrokenPipeError:
            pass
        while not all(e in out for e in want) and not eof:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            eof = not chunk
            out += chunk
    try:
        p.stdin.close()
    except BrokenPipeError:
        pass
    while not eof:
        left = deadline + 5 - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        eof = not chunk
        out += chunk
    try:
        rc = p.wait(max(0.1, deadline + 5 - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    p.stdout.close()
    return rc, out.decode(errors="replace")


def pump(s, data, timeout=20.0):
    """Sends data while reading the replies, in one thread (an SSLSocket must not be
    read and written from two threads); returns the len(data) bytes read back."""
    s.setblocking(False)
    sent, got, n = 0, [], 0
    deadline = time.monotonic() + timeout
    while n < len(data):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("got %d of %d bytes" % (n, len(data)))
        r, w, _ = select.select([s], [s] if sent < len(data) else [], [], min(left, 1.0))
        if r or s.pending():
            try:
                b = s.recv(1 << 20)
                if not b:
                    raise AssertionError("EOF after %d of %d bytes" % (n, len(data)))
                got.append(b)
                n += len(b)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        if w and sent < len(data):
            try:
                sent += s.send(data[sent:sent + 65536])
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
    return b"".join(got)


def drain(sock, timeout=5.0):
    """Reads until the server closes (EOF or reset); returns what arrived."""
    try:
        return H.recv_all(sock, timeout)
    except ConnectionResetError:
        return b""


def gnutls_cli(port, *args, data=b"", expect=(), ca="ca"):
    cmd = ["gnutls-cli", "-p", str(port), "--x509cafile", CERTS.cert(ca)] + list(args)
    return run_client(cmd + ["127.0.0.1"], data, expect)


def s_client(port, *args, data=b"", expect=(), steps=None):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
           CERTS.cert("ca"), "-verify_return_error"] + list(args)
    return run_client(cmd, data, expect, steps=steps)


LINES = b"first line over tls\nsecond line\r\n"
EXPECT = (b"first line over tls\n", b"second line\r\n")
TLS13 = "NORMAL:-VERS-ALL:+VERS-TLS1.3"
TLS12 = "NORMAL:-VERS-ALL:+VERS-TLS1.2"


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon([
            tls_listener("tls", handshake_timeout=1.0, output_buffer=4096),
            tls_listener("sni", certificate=[CERTS.cert("server"), CERTS.cert("alt")],
                         key=[CERTS.key("server"), CERTS.key("alt")]),
            tls_listener("mtls", client_ca=CERTS.cert("clientca"), verify_client="require"),
            tls_listener("opt", client_ca=CERTS.cert("clientca"), verify_client="optional"),
            tls_listener("alpn", alpn=["x-ksockd", "echo"]),
            tls_listener("legacy", priority="NORMAL"),  # control: what the default refuses
        ], workers=2, log_level="debug")

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def port(self, name):
        return self.d.port(name)

    # Versions and suites

    def test_gnutls_cli_tls13_and_tls12_echo(self):
        for prio, version in ((TLS13, "TLS1.3"), (TLS12, "TLS1.2")):
            rc, out = gnutls_cli(self.port("tls"), "--priority", prio, data=LINES, expect=EXPECT)
            self.assertRegex(out, r"Description: \(%s[-)]" % version)
            for e in EXPECT:
                self.assertIn(e.decode(), out)
            self.assertEqual(rc, 0, out)

    def test_openssl_s_client_tls13_and_tls12_echo(self):
        for flag, version in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
            rc, out = s_client(self.port("tls"), flag, data=LINES, expect=EXPECT)
            self.assertRegex(out, r"Protocol *: *%s|New, %s" % (version, version))
            self.assertIn("Verify return code: 0 (ok)", out)
            for e in EXPECT:
                self.assertIn(e.decode(), out)
            self.assertEqual(rc, 0, out)

    def test_tls10_and_tls11_refused(self):
        for v in ("TLS1.0", "TLS1.1"):
            prio = "NORMAL:-VERS-ALL:+VERS-%s" % v
            rc, out = gnutls_cli(self.port("tls"), "--priority", prio, data=b"x\n")
            self.assertNotEqual(rc, 0, out)
            self.assertRegex(out, r"(?i)handshake.*failed|error")
            # Control: the same client is served where the priority allows it.
            rc, out = gnutls_cli(self.port("legacy"), "--priority", prio, data=b"x\n",
                                 expect=(b"x\n",))
            self.assertRegex(out, r"Description: \(%s[-)]" % v)

    def test_non_forward_secret_suites_refused(self):
        prio = "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA"
        rc, out = gnutls_cli(self.port("tls"), "--priority", prio, data=b"x\n")
        self.assertNotEqual(rc, 0, out)
        rc, out = gnutls_cli(self.port("legacy"), "--priority", prio, data=b"x\n",
                             expect=(b"x\n",))
        self.assertIn("-(RSA)-", out)
        rc, out = s_client(self.port("tls"), "-tls1_2", "-cipher", "AES128-GCM-SHA256",
                           data=b"x\n")
        self.assertNotEqual(rc, 0, out)

    def test_client_initiated_renegotiation_refused(self):
        """s_client's "R" command renegotiates (TLS 1.2): refused with a warning
        no_renegotiation (OpenSSL then gives up itself), and the session ends."""
        rc, out = s_client(self.port("tls"), "-tls1_2", steps=[
            (b"before\n", (b"before\n",)), (b"R\n", (b"RENEGOTIATING",)),
            (b"after\n", (b"renegotiation",))])
        self.assertIn("RENEGOTIATING", out)
        self.assertRegex(out, r"ssl3_read_bytes:no renegotiation")
        self.assertNotIn("\nafter\n", out)
        self.d.wait_log(r"tls: peer [^ ]+: client asked to renegotiate: refused with a "
                        r"no_renegotiation warning, closing with close_notify")

    def test_cbc_suites_refused(self):
        prio = "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC"
        rc, out = gnutls_cli(self.port("tls"), "--priority", prio, data=b"x\n")
        self.assertNotEqual(rc, 0, out)

    # Resumption

    def test_gnutls_cli_resume_is_resumed(self):
        self.assertGreaterEqual(len(self.d.workers()), 2)
        for prio in (TLS13, TLS12):
            rc, out = gnutls_cli(self.port("tls"), "--resume", "--priority", prio,
                                 data=b"x\n", expect=(b"resumed session",))
            self.assertIn("*** This is a resumed session", out)

    def test_resumed_on_another_worker(self):
        """The ticket from worker A resumes on worker B: SIGSTOP makes sure which accepts."""
        a, b = self.d.workers()[:2]
        sess = os.path.join(self.d.dir, "session.pem")
        try:
            os.kill(b, signal.SIGSTOP)
            rc, out = s_client(self.port("tls"), "-sess_out", sess, data=b"a\n", expect=(b"a\n",))
            self.assertIn("New, TLSv1.3", out)
            os.kill(b, signal.SIGCONT)
            os.kill(a, signal.SIGSTOP)
            rc, out = s_client(self.port("tls"), "-sess_in", sess, data=b"b\n", expect=(b"b\n",))
            self.assertIn("Reused, TLSv1.3", out)
        finally:
            os.kill(a, signal.SIGCONT)
            os.kill(b, signal.SIGCONT)
        self.d.wait_log(r"ksockd\[%d\] debug: tls: peer [^ ]+: connection \d+: TLS1.3 .*"
                        r"\(resumed\)" % b)

    # SNI, ALPN, client certificates

    def test_sni_picks_the_certificate(self):
        port = self.port("sni")
        self.assertEqual(tlscerts.served_fingerprint(port), CERTS.fingerprint("server"))
        self.assertEqual(tlscerts.served_fingerprint(port, "localhost"),
                         CERTS.fingerprint("server"))
        self.assertEqual(tlscerts.served_fingerprint(port, "alt.example"),
                         CERTS.fingerprint("alt"))
        rc, out = s_client(port, "-servername", "alt.example", "-verify_hostname",
                           "alt.example", data=b"alt\n", expect=(b"alt\n",))
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertRegex(out, r"subject=.*CN ?= ?alt\.example")

    def test_alpn_negotiated(self):
        rc, out = gnutls_cli(self.port("alpn"), "--alpn", "echo", data=b"x\n", expect=(b"x\n",))
        self.assertRegex(out, r"Application protocol: echo")
        self.d.wait_log(r"connection \d+: TLS.*ALPN 'echo'")

    def test_client_certificate_required(self):
        port = self.port("mtls")
        rc, out = gnutls_cli(port, data=b"nocert\n", expect=(b"nocert\n",))
        self.assertNotIn("\nnocert\n", out)
        self.assertNotEqual(rc, 0, out)
        rc, out = gnutls_cli(port, "--x509certfile", CERTS.cert("rogue"), "--x509keyfile",
                             CERTS.key("rogue"), data=b"rogue\n", expect=(b"rogue\n",))
        self.assertNotIn("\nrogue\n", out)
        rc, out = gnutls_cli(port, "--x509certfile", CERTS.cert("client"), "--x509keyfile",
                             CERTS.key("client"), data=b"withcert\n", expect=(b"withcert\n",))
        self.assertIn("withcert", out)
        self.assertEqual(rc, 0, out)
        self.d.wait_log(r"mtls: peer [^ ]+: TLS handshake failed: .*")
        self.d.wait_log(r"mtls: peer [^ ]+: client certificate verified: CN=client one")
        rc, out = s_client(port, "-cert", CERTS.cert("client"), "-key", CERTS.key("client"),
                           data=b"openssl cert\n", expect=(b"openssl cert\n",))
        self.assertIn("openssl cert", out)

    def test_client_certificate_optional(self):
        port = self.port("opt")
        rc, out = gnutls_cli(port, data=b"anon\n", expect=(b"anon\n",))
        self.assertIn("anon", out)
        rc, out = gnutls_cli(port, "--x509certfile", CERTS.cert("rogue"), "--x509keyfile",
                             CERTS.key("rogue"), data=b"rogue\n", expect=(b"rogue\n",))
        self.assertNotIn("\nrogue\n", out)

    # Hostile or slow peers

    # Streams: pipelining through GnuTLS's buffers, back-pressure

    def test_pipelined_burst_with_back_pressure(self):
        """20000 lines in one burst through a 4 KiB output_buffer: records GnuTLS has
        already decrypted must be drained without new socket events."""
        ctx = ssl.create_default_context(cafile=CERTS.cert("ca"))
        lines = b"".join(b"line %d of the burst\n" % i for i in range(20000))
        with socket.create_connection(("127.0.0.1", self.port("tls")), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertEqual(pump(s, lines), lines)

    def test_last_line_without_newline_answered_then_close_notify(self):
        """At stdin's end gnutls-cli sends close_notify; the server answers the last,
        unterminated line, then closes with its own close_notify (not a bare TCP FIN)."""
        rc, out = gnutls_cli(self.port("tls"), data=b"a\nlast", expect=(b"a\n",))
        self.assertIn("\na\nlast", out)
        self.assertIn("Peer has closed the GnuTLS connection", out)
        self.assertNotIn("non-properly terminated", out)

    def test_server_answers_close_notify_with_close_notify(self):
        """The client sends close_notify after its last reply; the server must answer with
        its own close_notify: unwrap() completes only if one arrives (a bare TCP FIN
        raises: suppress_ragged_eofs is off)."""
        ctx = ssl.create_default_context(cafile=CERTS.cert("ca"))
        with socket.create_connection(("127.0.0.1", self.port("tls")), timeout=10) as raw:
            s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
            try:
                s.sendall(b"a\nb\n")
                self.assertEqual(H.recv_until(s, 2), b"a\nb\n")
                s.settimeout(10 * H.SLOW)
                plain = s.unwrap()  # our close_notify out, the server's in
                self.assertEqual(plain.recv(100), b"", "bytes after close_notify")
            finally:
                s.close()


class TlsFailures(unittest.TestCase):
    """Handshake failures, each test on a daemon of its own: its log holds only what
    the test caused (the failure log is rate-limited per listener and worker)."""

    def test_garbage_and_stalled_handshakes_dropped_others_served(self):
        with H.Daemon([tls_listener("tls", handshake_timeout=1.0)], workers=2,
                      log_level="debug") as d:
            port = d.port("tls")
            stalled = [H.connect(port) for _ in range(3)]
            garbage = H.connect(port)
            t0 = time.monotonic()
            garbage.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)))
            drain(garbage, 3)  # at most an alert, then the end
            self.assertLess(time.monotonic() - t0, 0.9)
            garbage.close()
            # While three clients stall, others are served.
            rc, out = gnutls_cli(port, data=LINES, expect=EXPECT)
            self.assertEqual(rc, 0, out)
            for s in stalled:
                self.assertEqual(drain(s, 4), b"")  # closed, nothing sent
                s.close()
            elapsed = time.monotonic() - t0
            self.assertGreater(elapsed, 0.9)
            self.assertLess(elapsed, 3.0 * H.SLOW)
            self.assertEqual(len(d.wait_log(r"tls: peer [^ ]+: TLS handshake timed out",
                                            count=3)), 3)
            self.assertEqual(len(d.wait_log(r"tls: peer [^ ]+: TLS handshake failed: \S")), 1)
            d.wait_log(r"connection \d+ closed \(TLS handshake timeout\)", count=3)

    def test_handshake_failures_are_rate_limited(self):
        """20 failures on 2 workers: each worker logs its first 5 (TLS_LOG_BURST per 10 s)
        and counts the rest; the close lines (debug, not limited) say which worker had
        which, so the number of failure lines is known exactly."""
        with H.Daemon([tls_listener("legacy", priority="NORMAL")], workers=2,
                      log_level="debug") as d:
            for _ in range(20):
                with H.connect(d.port("legacy")) as s:
                    s.sendall(b"GARBAGE\r\n\r\n")
                    drain(s, 3)
            # Each failure is logged (or counted) before its connection's close line.
            d.wait_log(r"connection \d+ closed \(TLS handshake failed\)", count=20)
            log = d.log()
            per_worker = collections.Counter(re.findall(
                r"ksockd\[(\d+)\] debug: legacy: peer [^ ]+: connection \d+ closed "
                r"\(TLS handshake failed\)", log))
            logged = collections.Counter(re.findall(
                r"ksockd\[(\d+)\] info: legacy: peer [^ ]+: TLS handshake failed: ", log))
            self.assertEqual(sum(per_worker.values()), 20)
            self.assertEqual(logged, collections.Counter(
                {pid: min(5, n) for pid, n in per_worker.items()}), log)


class TlsReload(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ksockd-tls-reload-")
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        self.install("server")
        # Relative paths resolve against the config file's directory (the harness puts
        # it in a new directory under the temp dir), not against the working directory.
        rel = lambda p: os.path.join("..", os.path.relpath(p, tempfile.gettempdir()))
        self.d = H.Daemon([tls_listener("tls", certificate=rel(self.cert), key=rel(self.key))],
                          workers=2)

    def tearDown(self):
        self.d.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def install(self, name):
        shutil.copy(CERTS.cert(name), self.cert)
        shutil.copy(CERTS.key(name), self.key)

    def test_reload_serves_the_new_certificate_and_rotates_the_ticket_key(self):
        port = self.d.port("tls")
        self.assertEqual(tlscerts.served_fingerprint(port), CERTS.fingerprint("server"))
        sess = os.path.join(self.d.dir, "session.pem")
        rc, out = s_client(port, "-sess_out", sess, data=b"a\n", expect=(b"a\n",))
        self.assertIn("New, TLSv1.3", out)
        self.assertTrue(os.path.exists(sess), out)
        rc, out = s_client(port, "-sess_in", sess, data=b"b\n", expect=(b"b\n",))
        self.assertIn("Reused, TLSv1.3", out)
        self.install("server2")
        self.d.reload()
        # READY=1 comes when the new generation serves; an old worker may still accept
        # until it has handled its SIGTERM and closed its listener: wait for both to exit.
        self.d.wait_log(r"generation 1\) exited after draining", count=2)
        self.assertEqual(tlscerts.served_fingerprint(port), CERTS.fingerprint("server2"))
        rc, out = s_client(port, "-sess_in", sess, data=b"c\n", expect=(b"c\n",))
        self.assertIn("New, TLSv1.3", out)

    def test_bad_reload_keeps_serving_the_old_certificate(self):
        port = self.d.port("tls")
        shutil.copy(CERTS.key("server2"), self.key)  # does not match the certificate
        self.d.reload(expect_ok=False)
        self.d.wait_log(r"reload rejected.*key \S*%s does not match certificate \S*%s" % (
            re.escape(os.path.basename(self.dir) + "/key.pem"),
            re.escape(os.path.basename(self.dir) + "/cert.pem")))
        self.assertEqual(tlscerts.served_fingerprint(port), CERTS.fingerprint("server"))
        rc, out = gnutls_cli(port, data=LINES, expect=EXPECT)
        self.assertEqual(rc, 0, out)


class TlsConfigCheck(unittest.TestCase):
    def check(self, **extra):
        d = tempfile.mkdtemp(prefix="ksockd-tls-t-")
        path = os.path.join(d, "k.conf")
        with open(path, "w") as f:
            f.write(H.render_config([tls_listener("t", **extra)]))
        r = subprocess.run([H.KSOCKD, "-t", "-c", path], capture_output=True, text=True,
                           timeout=10)
        shutil.rmtree(d)
        return r

    def test_good_tls_config_passes(self):
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_mismatched_key_fails_naming_the_files(self):
        r = self.check(key=CERTS.key("server2"))
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"k\.conf:\d+: listener 't': key %s does not match "
                         r"certificate %s" % (re.escape(CERTS.key("server2")),
                                              re.escape(CERTS.cert("server"))))

    def test_broken_certificate_fails_naming_the_file(self):
        bad = os.path.join(CERTS.dir, "broken.pem")
        with open(bad, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        r = self.check(certificate=bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("certificate %s is not a valid PEM certificate" % bad, r.stderr)

    def test_missing_key_and_bad_priority_fail(self):
        r = self.check(key="/nonexistent/key.pem")
        self.assertIn("cannot read key /nonexistent/key.pem", r.stderr)
        r = self.check(priority="NORMAL:+NO-SUCH-THING")
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid priority", r.stderr)


class TlsCounters(unittest.TestCase):
    """Handshakes completed, failed and resumed reach the shared counters."""

    def stats(self, port):
        with H.connect(port) as s:
            s.sendall(b"stats\n")
            buf = b""
            s.settimeout(5)
            while not buf.endswith(b"\n\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return {k: int(v) for k, v in (line.rsplit(" ", 1)
                                        for line in buf.decode().splitlines() if line)}

    def test_handshakes_are_counted(self):
        with H.Daemon([tls_listener("t"), H.listener("s", "stats")], workers=2) as d:
            rc, out = gnutls_cli(d.port("t"), "--resume", "--priority", TLS13,
                                 data=b"x\n", expect=(b"resumed session",))
            self.assertIn("*** This is a resumed session", out)
            with H.connect(d.port("t")) as g:  # not TLS at all
                g.sendall(b"GET / HTTP/1.0\r\n\r\n")
                try:
                    H.recv_all(g, timeout=5)
                except ConnectionResetError:
                    pass  # the alert may be followed by a reset
            deadline = time.monotonic() + 5
            while True:
                st = self.stats(d.port("s"))
                got = {k: v for k, v in st.items() if "tls_handshakes" in k and '"t"' in k}
                ok = [v for k, v in got.items() if '"ok"' in k]
                failed = [v for k, v in got.items() if '"failed"' in k]
                if (ok == [2] and failed == [1]) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(ok, [2], got)
            self.assertEqual(failed, [1], got)
            resumed = [v for k, v in st.items() if "tls_sessions_resumed" in k and '"t"' in k]
            self.assertEqual(resumed, [1], st)


if __name__ == "__main__":
    unittest.main(verbosity=2)
