#!/usr/bin/env python3
"""test_tls_alerts.py: every TLS failure ends with the alert the RFCs name, against
the real daemon, with a client controlled at the record level (tests/tlspeer/tlsrecord:
a real GnuTLS handshake, then records built by hand with the session's traffic keys,
or corrupted on their way out). Each alert is checked by number, decrypted by that
client where it is encrypted, followed by the server's TCP end; the log says what
happened in plain words, and the alert counters move. gnutls-cli and openssl s_client
show the reason for a rejected client certificate. gnutls-serv --echo, given the same
records, answers each post-handshake case with the same alert (POST_HANDSHAKE; it runs
in a network namespace of its own, since it cannot bind to loopback only)."""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import tlscerts  # noqa: E402
from test_tls import run_client  # noqa: E402

TLSRECORD = os.environ.get("TLSRECORD") or os.path.join(
    os.path.dirname(H.KSOCKD), "tests", "tlspeer", "tlsrecord")
TLS13 = "NORMAL:-VERS-ALL:+VERS-TLS1.3"
TLS12 = "NORMAL:-VERS-ALL:+VERS-TLS1.2"
CHACHA = TLS13 + ":-CIPHER-ALL:+CHACHA20-POLY1305"
CHACHA12 = TLS12 + ":-CIPHER-ALL:+CHACHA20-POLY1305"
CERTS = None

# Alert numbers (RFC 8446 §6, RFC 5246 §7.2).
UNEXPECTED_MESSAGE, BAD_RECORD_MAC, RECORD_OVERFLOW = 10, 20, 22
HANDSHAKE_FAILURE, UNSUPPORTED_CERTIFICATE, CERTIFICATE_EXPIRED = 40, 43, 45
ILLEGAL_PARAMETER, UNKNOWN_CA, DECODE_ERROR = 47, 48, 50
NO_RENEGOTIATION, CERTIFICATE_REQUIRED = 100, 116
WARNING, FATAL = 1, 2

# Post-handshake cases: (tlsrecord case, priority, the fatal alert both ksockd and
# gnutls-serv --echo answer with).
POST_HANDSHAKE = [
    ("badmac", TLS13, BAD_RECORD_MAC),
    ("badmac", TLS12, BAD_RECORD_MAC),
    ("badmac", CHACHA, BAD_RECORD_MAC),
    ("overflow", TLS13, RECORD_OVERFLOW),
    ("overflow", TLS12, RECORD_OVERFLOW),
    ("overflow", CHACHA12, RECORD_OVERFLOW),
    ("ccs", TLS13, UNEXPECTED_MESSAGE),
    ("ccs", TLS12, UNEXPECTED_MESSAGE),
    ("emptyalert", TLS13, UNEXPECTED_MESSAGE),
    ("keyupdate-value", TLS13, ILLEGAL_PARAMETER),
    ("keyupdate-length", TLS13, DECODE_ERROR),
]
# A TLS 1.2 empty alert, then "after\n" and close_notify: skipped by both servers.
EMPTY_ALERT_TLS12 = ["data 6 after.", "close_notify", "tcp eof"]
# ksockd's default priority (src/tls.h), given to the reference server too.
DEFAULT_PRIORITY = ("NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"
                    "+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:"
                    "+ECDHE-RSA:%SERVER_PRECEDENCE")


def setUpModule():
    global CERTS
    if not os.access(TLSRECORD, os.X_OK):
        raise RuntimeError("%s is missing: run make check (it builds it)" % TLSRECORD)
    CERTS = tlscerts.Certs()


def tearDownModule():
    shutil.rmtree(CERTS.dir, ignore_errors=True)


def tls_listener(name, **extra):
    return H.listener(name, "echo-lines", protocol="tls", certificate=CERTS.cert("server"),
                      key=CERTS.key("server"), **extra)


def tlsrecord(port, case, prio=TLS13, cert=None, prefix=()):
    """Runs one case; returns its report lines (see tlsrecord.c)."""
    cmd = list(prefix) + [TLSRECORD, "-p", prio]
    if cert:
        cmd += ["-c", CERTS.cert(cert), "-k", CERTS.key(cert)]
    r = subprocess.run(cmd + [str(port), case], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("tlsrecord %s failed (%d): %s" % (case, r.returncode, r.stderr))
    return r.stdout.splitlines()


def alerts(lines):
    return [tuple(int(x) for x in line.split()[1:3]) for line in lines
            if line.startswith("alert ")]


def counters(port):
    """The stats listener's counters of listener t summed over workers: {line key: n}."""
    return {k: v for k, v in H.stats_values(port).items() if '"t"' in k}


def alerts_sent(port, level):
    return sum(v for k, v in counters(port).items()
               if "tls_alerts_sent" in k and '"%s"' % level in k)


class TlsAlerts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # TLS failures are logged at most 5 per 10 s per listener: a test that reads
        # the log has listeners of its own.
        mtls = dict(client_ca=CERTS.cert("clientca"), verify_client="require")
        cls.d = H.Daemon([
            tls_listener("t"), tls_listener("mac"), tls_listener("ovf"),
            tls_listener("end"), tls_listener("hs"),
            tls_listener("stuck", output_buffer=64 << 20),
            tls_listener("mtls", **mtls), tls_listener("mtls2", **mtls),
            tls_listener("opt", client_ca=CERTS.cert("clientca"), verify_client="optional"),
            H.listener("s", "stats"),
        ], workers=1)

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def fatal_then_closed(self, lines, alert):
        """One fatal alert, the expected one, then the server's TCP end."""
        self.assertEqual(alerts(lines), [(FATAL, alert)], lines)
        self.assertIn(lines[-1], ("tcp eof", "tcp reset"), lines)

    def case(self, case, alert, prio=TLS13, listener="t", cert=None):
        lines = tlsrecord(self.d.port(listener), case, prio, cert)
        self.fatal_then_closed(lines, alert)
        return lines

    # Records after the handshake

    def test_bad_record_mac_after_the_handshake(self):
        for prio in (TLS13, TLS12):
            lines = self.case("badmac", BAD_RECORD_MAC, prio, "mac")
            self.assertRegex(lines[0], r"^handshake ok TLS1\.[23] AES-256-GCM")
        self.d.wait_log(r"mac: peer [^ ]+: TLS read failed: bad record MAC: a record was "
                        r"corrupted or forged \(GnuTLS: Decryption has failed\.\); sent "
                        r"alert bad_record_mac")

    def test_chacha20_poly1305_record_with_a_broken_tag(self):
        lines = self.case("badmac", BAD_RECORD_MAC, CHACHA)
        self.assertEqual(lines[0], "handshake ok TLS1.3 CHACHA20-POLY1305")

    def test_oversized_record(self):
        """2^14 + 1 bytes of plaintext in one record, correctly encrypted (TLS 1.3,
        TLS 1.2 with AES-GCM and with ChaCha20-Poly1305)."""
        for prio in (TLS13, TLS12, CHACHA12):
            self.case("overflow", RECORD_OVERFLOW, prio, "ovf")
        self.d.wait_log(r"ovf: peer [^ ]+: TLS read failed: record larger than TLS allows")

    def test_change_cipher_spec_after_the_handshake(self):
        """RFC 8446 §5: a CCS after the handshake is an unexpected_message; in TLS 1.2
        (encrypted, as records are then) too."""
        self.case("ccs", UNEXPECTED_MESSAGE)
        self.case("ccs", UNEXPECTED_MESSAGE, TLS12)

    def test_empty_alert(self):
        """An encrypted alert record with no content. TLS 1.3: unexpected_message, as
        GnuTLS (and gnutls-serv) answer. TLS 1.2: RFC 5246 §6.2.1 forbids sending one
        but names no alert for it; GnuTLS (and gnutls-serv) skip it like any empty
        record (their number is limited), and the session goes on."""
        self.case("emptyalert", UNEXPECTED_MESSAGE)
        for prio in (TLS12, CHACHA12):
            lines = tlsrecord(self.d.port("t"), "emptyalert", prio)
            self.assertEqual(lines[1:], EMPTY_ALERT_TLS12, lines)

    def test_malformed_key_update(self):
        """RFC 8446 §4.6.3: a request_update other than 0 or 1 is an illegal_parameter;
        a KeyUpdate of the wrong length cannot be decoded."""
        self.case("keyupdate-value", ILLEGAL_PARAMETER)
        self.case("keyupdate-length", DECODE_ERROR)
        # Control: a well-formed KeyUpdate (update_requested) keeps the session going.
        lines = tlsrecord(self.d.port("t"), "keyupdate")
        self.assertEqual(lines[1:], ["data 17 after key update.", "close_notify", "tcp eof"])

    def test_a_client_that_does_not_read_cannot_hold_the_worker(self):
        """Its replies fill the server's socket, then it sends a corrupted record: the
        alert is tried once, without waiting, and the connection closes while the
        client still does not read; the (only) worker serves the next client."""
        p = subprocess.Popen([TLSRECORD, "-p", TLS13, str(self.d.port("stuck")), "stuck"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            self.assertEqual(p.stdout.readline(), b"handshake ok TLS1.3 AES-256-GCM\n")
            self.assertEqual(p.stdout.readline(), b"stuck\n")
            self.d.wait_log(r"stuck: peer [^ ]+: TLS read failed: bad record MAC: .*; alert "
                            r"bad_record_mac not sent \(client not reading\)")
            t0 = time.monotonic()
            lines = tlsrecord(self.d.port("t"), "close", TLS13)
            self.assertIn("data 7 partial", lines)
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            p.stdin.close()
            p.wait(10)
            p.stdout.close()

    # Renegotiation and the client's end

    def test_renegotiation_gets_a_warning_then_close_notify(self):
        lines = tlsrecord(self.d.port("end"), "reneg", TLS12)
        self.assertIn("data 7 before.", lines)
        self.assertEqual(alerts(lines), [(WARNING, NO_RENEGOTIATION)], lines)
        self.assertEqual(lines[-2:], ["close_notify", "tcp eof"], lines)
        self.d.wait_log(r"end: peer [^ ]+: client asked to renegotiate: refused with a "
                        r"no_renegotiation warning, closing with close_notify")

    def test_tls13_close_notify_is_a_half_close(self):
        """RFC 8446 §6.1: the client's close_notify closes only its side; the last,
        unterminated line is answered, then the server's close_notify."""
        lines = tlsrecord(self.d.port("end"), "close", TLS13)
        self.assertEqual(lines[1:], ["data 5 line.", "data 7 partial", "close_notify",
                                     "tcp eof"], lines)

    def test_tls12_close_notify_discards_the_partial_line(self):
        """RFC 5246 §7.2.1: pending writes are discarded, close_notify answered at once."""
        lines = tlsrecord(self.d.port("end"), "close", TLS12)
        self.assertEqual(lines[1:], ["data 5 line.", "close_notify", "tcp eof"], lines)
        self.d.wait_log(r"end: peer [^ ]+: client sent close_notify \(TLS 1\.2: pending "
                        r"replies are discarded\): dropped a partial line of 7 bytes")

    def test_fin_without_close_notify_after_a_partial_line(self):
        for prio in (TLS13, TLS12):
            lines = tlsrecord(self.d.port("end"), "fin", prio)
            self.assertNotIn("data 7 partial", lines)
            self.assertEqual(lines[-1], "tcp eof", lines)
        self.d.wait_log(r"info: end: peer [^ ]+: client closed TCP without close_notify: "
                        r"dropped a partial line of 7 bytes", count=2)
        self.assertNotIn("invalidated", self.d.log())

    # Client certificates

    def test_rejected_client_certificates_get_the_matching_alert(self):
        port = self.d.port("mtls")
        self.case("close", CERTIFICATE_REQUIRED, TLS13, "mtls")
        self.case("close", HANDSHAKE_FAILURE, TLS12, "mtls")
        for prio in (TLS13, TLS12):
            self.case("close", UNKNOWN_CA, prio, "mtls", cert="rogue")
            self.case("close", CERTIFICATE_EXPIRED, prio, "mtls", cert="expired")
            self.case("close", UNSUPPORTED_CERTIFICATE, prio, "mtls", cert="serveronly")
        for prio in (TLS13, TLS12):
            lines = tlsrecord(port, "close", prio, cert="client")
            self.assertIn("data 5 line.", lines)
            self.assertEqual(alerts(lines), [])
        for words, alert in (("client certificate not issued by client_ca", "unknown_ca"),
                             ("client certificate expired", "certificate_expired"),
                             ("client certificate not meant for TLS client authentication "
                              r"\(key purpose\)", "unsupported_certificate"),
                             (r"client sent no certificate \(verify_client = require\)",
                              "certificate_required")):
            self.d.wait_log(r"mtls: peer [^ ]+: TLS handshake failed: %s; sent alert %s" %
                            (words, alert))

    def test_optional_client_certificate_still_verified(self):
        port = self.d.port("opt")
        self.case("close", UNSUPPORTED_CERTIFICATE, TLS13, "opt", cert="serveronly")
        lines = tlsrecord(port, "close", TLS13)  # no certificate: served
        self.assertIn("data 5 line.", lines)

    def test_gnutls_cli_shows_why_the_certificate_was_rejected(self):
        rc, out = run_client(["gnutls-cli", "-p", str(self.d.port("mtls2")), "--x509cafile",
                              CERTS.cert("ca"), "--x509certfile", CERTS.cert("expired"),
                              "--x509keyfile", CERTS.key("expired"), "127.0.0.1"],
                             b"x\n", (b"alert",))
        self.assertRegex(out, r"Received alert \[45\]: Certificate is expired")
        self.assertNotIn("Error in the pull function", out)

    def test_openssl_s_client_shows_why_the_certificate_was_rejected(self):
        for cert, words in (("rogue", "alert unknown ca"),
                            ("serveronly", "alert unsupported certificate"),
                            ("expired", "alert certificate expired")):
            rc, out = run_client(["openssl", "s_client", "-connect",
                                  "127.0.0.1:%d" % self.d.port("mtls2"), "-CAfile",
                                  CERTS.cert("ca"), "-cert", CERTS.cert(cert), "-key",
                                  CERTS.key(cert), "-no_ign_eof"], b"x\n", (b"alert",))
            self.assertNotEqual(rc, 0, out)
            self.assertIn(words, out, cert)

    # Before the handshake: plain words

    def test_handshake_failures_in_plain_words(self):
        port = self.d.port("hs")
        with H.connect(port) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                H.recv_all(s, 5)
            except ConnectionResetError:
                pass
        self.d.wait_log(r"hs: peer [^ ]+: TLS handshake failed: plain text sent to a TLS "
                        r"port \(GnuTLS: ")
        # Connected, then a reset (close with a zero linger time).
        with H.connect(port) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.d.wait_log(r"hs: peer [^ ]+: TLS handshake failed: client aborted the handshake "
                        r"\(connection reset\) \(GnuTLS: Error in the pull function\.\)")
        # The start of a ClientHello, then the end of the connection.
        with H.connect(port) as s:
            s.sendall(bytes([0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]))
            s.shutdown(socket.SHUT_WR)
            H.recv_all(s, 5)
        self.d.wait_log(r"hs: peer [^ ]+: TLS handshake failed: client closed the connection "
                        r"during the handshake \(GnuTLS: Error decoding the received TLS "
                        r"packet\.\)")  # GnuTLS's words for a record cut short
        for prio, words in (("NORMAL:-VERS-ALL:+VERS-TLS1.1", "protocol version"),
                            ("NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC",
                             "cipher suite")):
            subprocess.run(["gnutls-cli", "-p", str(port), "--insecure", "--priority", prio,
                            "127.0.0.1"], input=b"", capture_output=True, timeout=30)
            self.d.wait_log(r"hs: peer [^ ]+: TLS handshake failed: client offered no "
                            r"common %s \(GnuTLS: .*\); sent alert \w+" % words)

    # Counters

    def test_alerts_are_counted(self):
        port = self.d.port("s")
        fatal, warning = alerts_sent(port, "fatal"), alerts_sent(port, "warning")
        self.case("badmac", BAD_RECORD_MAC)
        tlsrecord(self.d.port("t"), "reneg", TLS12)
        deadline = time.monotonic() + 5
        # The worker counts an alert just after the kernel took it: the client may
        # read it first. No signal tells when the counter moved: poll, bounded.
        while time.monotonic() < deadline and (alerts_sent(port, "fatal") == fatal or
                                               alerts_sent(port, "warning") == warning):
            time.sleep(0.05)
        self.assertEqual(alerts_sent(port, "fatal"), fatal + 1)
        self.assertEqual(alerts_sent(port, "warning"), warning + 1)


class TlsCloseReasons(unittest.TestCase):
    """Each way a TLS session ends is counted under its own close reason."""

    def test_each_end_counted_under_its_reason(self):
        mtls = dict(client_ca=CERTS.cert("clientca"), verify_client="require")
        d = H.Daemon([tls_listener("r"), tls_listener("rm", **mtls), H.listener("s", "stats")],
                     workers=1)
        try:
            self.assertEqual(alerts(tlsrecord(d.port("r"), "badmac", TLS13)),
                             [(FATAL, BAD_RECORD_MAC)])
            self.assertEqual(alerts(tlsrecord(d.port("r"), "reneg", TLS12)),
                             [(WARNING, NO_RENEGOTIATION)])
            self.assertEqual(alerts(tlsrecord(d.port("rm"), "close", TLS13, cert="rogue")),
                             [(FATAL, UNKNOWN_CA)])
            want = {("r", "tls_alert_sent"): 1, ("r", "tls_renegotiation"): 1,
                    ("rm", "tls_certificate_rejected"): 1}
            deadline = time.monotonic() + 10 * H.SLOW
            while True:
                got = {}
                text = H.stats_query(d.port("s"))
                for m in re.finditer(r'ksockd_connections_closed_total\{listener="(\w+)",'
                                     r'reason="(\w+)"\} (\d+)', text):
                    if int(m.group(3)) and m.group(1) in ("r", "rm"):
                        key = (m.group(1), m.group(2))
                        got[key] = got.get(key, 0) + int(m.group(3))
                # The worker counts a close just after the client saw it end: poll, bounded.
                if got == want or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(got, want, text)
        finally:
            d.kill()


class TlsAlertsReference(unittest.TestCase):
    """gnutls-serv --echo with ksockd's priority string and certificate answers the
    same records with the same alerts: the reference ksockd is held to."""

    NS = "tlsref%d" % os.getpid()

    @classmethod
    def setUpClass(cls):
        if not shutil.which("gnutls-serv"):
            raise AssertionError("gnutls-serv is not installed (package gnutls-bin)")
        subprocess.run(["ip", "netns", "add", cls.NS], check=True, timeout=10)
        cls.serv = None
        try:
            subprocess.run(["ip", "-n", cls.NS, "link", "set", "lo", "up"], check=True,
                           timeout=10)
            cls.port = 4433
            cls.serv = subprocess.Popen(
                ["ip", "netns", "exec", cls.NS, "gnutls-serv", "--echo", "-p", str(cls.port),
                 "--priority", DEFAULT_PRIORITY, "--x509certfile", CERTS.cert("server"),
                 "--x509keyfile", CERTS.key("server")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # Readiness: it prints "... listening on IPv4 ...done" once it listens.
            line = cls.serv.stderr.readline()
            if b"IPv4" not in line or not line.rstrip().endswith(b"done"):
                raise AssertionError("gnutls-serv did not start: %r" % line)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.serv:
            cls.serv.kill()
            cls.serv.wait(10)
            cls.serv.stderr.close()
        subprocess.run(["ip", "netns", "del", cls.NS], timeout=10)

    def test_gnutls_serv_answers_the_same_alerts(self):
        for case, prio, alert in POST_HANDSHAKE:
            lines = tlsrecord(self.port, case, prio,
                              prefix=("ip", "netns", "exec", self.NS))
            self.assertEqual(alerts(lines), [(FATAL, alert)], (case, prio, lines))
        for prio in (TLS12, CHACHA12):
            lines = tlsrecord(self.port, "emptyalert", prio,
                              prefix=("ip", "netns", "exec", self.NS))
            self.assertEqual(lines[1:], EMPTY_ALERT_TLS12, lines)


class TlsAlertsTable(unittest.TestCase):
    """ksockd answers every POST_HANDSHAKE case as the reference does."""

    def test_ksockd_answers_like_the_reference(self):
        with H.Daemon([tls_listener("t")], workers=1) as d:
            for case, prio, alert in POST_HANDSHAKE:
                lines = tlsrecord(d.port("t"), case, prio)
                self.assertEqual(alerts(lines), [(FATAL, alert)], (case, prio, lines))
                self.assertIn(lines[-1], ("tcp eof", "tcp reset"), lines)


if __name__ == "__main__":
    unittest.main()
