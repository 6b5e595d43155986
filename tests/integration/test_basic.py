#!/usr/bin/env python3
"""test_basic.py: echo and hello over real TCP sockets, concurrency, pipelining,
third-party clients, and the command line (-t, -V, -h)."""
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def recv_exactly(s, n, timeout=5.0):
    """Reads n bytes, failing on EOF or timeout (no sleep: recv blocks until data comes)."""
    s.settimeout(timeout * H.SLOW)
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


class Exchanges(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon([H.listener("echo", "echo"), H.listener("hello", "hello"),
                          H.listener("echo16", "echo", max_line=16)])

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def test_echo_returns_each_line_byte_for_byte(self):
        with H.connect(self.d.port("echo")) as s:
            s.sendall(b"hello\n")
            self.assertEqual(H.recv_until(s), b"hello\n")
            s.sendall(b"crlf kept\r\n")
            self.assertEqual(H.recv_until(s), b"crlf kept\r\n")
            s.sendall(b"\x00\xff binary\x01\n\n")
            self.assertEqual(H.recv_until(s, 2), b"\x00\xff binary\x01\n\n")

    def test_echo_is_byte_transparent_rfc_862(self):
        """RFC 862: any data received is sent back, at once: no waiting for a newline or
        the end of input, no max_line (the listener's is 16), CR and LF untouched."""
        with H.connect(self.d.port("echo16")) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for piece in (b"\r", b"x\ry", b"\x00\x01\r", b"after the last newline\n tail",
                          bytes(range(256))):
                s.sendall(piece)
                self.assertEqual(recv_exactly(s, len(piece)), piece)
            big = b"z" * 10000 + b"\n"  # a 10,001-byte line comes back whole
            threading.Thread(target=s.sendall, args=(big,), daemon=True).start()
            self.assertEqual(recv_exactly(s, len(big)), big)
            s.sendall(b"still open\n")
            self.assertEqual(H.recv_until(s), b"still open\n")

    def test_hello_greets_and_answers_names(self):
        with H.connect(self.d.port("hello")) as s:
            self.assertEqual(H.recv_until(s), b"Please enter your name\n")
            s.sendall(b"Alice\n")
            self.assertEqual(H.recv_until(s), b"Hello, Alice!\n")
            s.sendall(b"Bob\r\n")
            self.assertEqual(H.recv_until(s), b"Hello, Bob!\r\n")

    def test_line_split_across_writes(self):
        with H.connect(self.d.port("echo")) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for piece in (b"spl", b"it li", b"ne\r", b"\n"):
                s.sendall(piece)
            self.assertEqual(H.recv_until(s), b"split line\r\n")

    def test_pipelined_lines_in_one_write(self):
        lines = b"".join(b"line %d\n" % i for i in range(5000))
        with H.connect(self.d.port("echo")) as s:
            threading.Thread(target=s.sendall, args=(lines,), daemon=True).start()
            self.assertEqual(H.recv_until(s, 5000), lines)

    def test_half_close_gets_every_reply_then_close(self):
        with H.connect(self.d.port("echo")) as s:
            s.sendall(b"a\nb\nlast without newline")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(H.recv_all(s), b"a\nb\nlast without newline")

    def test_100_clients_100_lines_each_get_their_own_answers(self):
        errors = []

        def client(n):
            try:
                with H.connect(self.d.port("echo"), timeout=30) as s:
                    for i in range(100):
                        line = b"client %d line %d\n" % (n, i)
                        s.sendall(line)
                        got = H.recv_until(s, 1, timeout=30)
                        if got != line:
                            errors.append((n, i, got))
                            return
            except Exception as e:  # noqa: BLE001
                errors.append((n, repr(e)))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])

    def test_nc_and_socat_as_clients(self):
        for tool, argv in (("nc", ["nc", "-q", "1", "127.0.0.1", str(self.d.port("hello"))]),
                           ("socat", ["socat", "-t", "1", "-", "TCP:127.0.0.1:%d" % self.d.port("hello")])):
            if not shutil.which(tool):
                self.fail("%s is not installed (the README's test command installs it)" % tool)
            out = subprocess.run(argv, input=b"World\n", capture_output=True, timeout=10).stdout
            self.assertEqual(out, b"Please enter your name\nHello, World!\n", tool)


class CommandLine(unittest.TestCase):
    def run_ksockd(self, *args):
        return subprocess.run([H.KSOCKD] + list(args), capture_output=True, text=True, timeout=10)

    def test_t_accepts_a_good_config(self):
        d = H.tempfile.mkdtemp()
        path = os.path.join(d, "good.conf")
        with open(path, "w") as f:
            f.write(H.render_config([H.listener("e")]))
        r = self.run_ksockd("-t", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid", r.stdout)

    def test_t_rejects_a_bad_config_naming_file_and_line(self):
        d = H.tempfile.mkdtemp()
        path = os.path.join(d, "bad.conf")
        with open(path, "w") as f:
            f.write(H.render_config([H.listener("e", handler="nosuch")]))
        r = self.run_ksockd("-t", "-c", path)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"%s:\d+: listener 'e': unknown handler 'nosuch'" % path)

    def test_shipped_default_config_is_valid(self):
        # As the Debian package installs it (tools/package-conf: the TLS
        # listener commented out, so a fresh install needs no certificate),
        # then as in the tree, with a certificate made next to it by
        # tools/make-cert, as the README's run command does.
        src = os.environ.get("KSOCKD_SRCDIR", ".")
        d = H.tempfile.mkdtemp()
        path = os.path.join(d, "ksockd.conf")
        with open(path, "w") as f:
            f.write(subprocess.run([os.path.join(src, "tools", "package-conf"),
                                    os.path.join(src, "conf", "ksockd.conf")],
                                   check=True, capture_output=True, text=True).stdout)
        r = self.run_ksockd("-t", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 listener(s)", r.stdout + r.stderr)
        shutil.copy(os.path.join(src, "conf", "ksockd.conf"), path)
        r = self.run_ksockd("-t", "-c", path)
        self.assertEqual(r.returncode, 1, "the TLS listener needs its certificate")
        self.assertIn("ksockd-cert.pem", r.stderr)
        subprocess.run([os.path.join(src, "tools", "make-cert"), d], check=True, timeout=60,
                       stderr=subprocess.DEVNULL)
        r = self.run_ksockd("-t", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("5 listener(s)", r.stdout + r.stderr)
        shutil.rmtree(d)

    def test_start_with_bad_config_exits_1(self):
        r = self.run_ksockd("-f", "-c", "/nonexistent.conf")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent.conf: cannot read file", r.stderr)

    def test_version_and_help(self):
        self.assertRegex(self.run_ksockd("-V").stdout, r"^ksockd \d+\.\d+")
        self.assertIn("--config", self.run_ksockd("-h").stdout)
        self.assertEqual(self.run_ksockd("--bogus").returncode, 2)

    def test_bind_failure_is_reported(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            d = H.tempfile.mkdtemp()
            path = os.path.join(d, "busy.conf")
            with open(path, "w") as f:
                f.write(H.render_config([H.listener("busy", port=port)]))
            r = self.run_ksockd("-f", "-c", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn("listener 'busy': cannot bind tcp 127.0.0.1:%d" % port, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
