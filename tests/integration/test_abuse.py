#!/usr/bin/env python3
"""test_abuse.py: abuse limits against the real daemon over real sockets:
max_connections_per_source (across workers, released when a worker is killed),
connect_rate, slow_client_timeout (slowloris) and worker_buffer_limit; and
edge cases: half-close, RST mid-reply, a peer that never reads, clients that
vanish between accept and the first read, SIGPIPE."""
import atexit
import os
import shutil
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import tlscerts  # noqa: E402

OTHER = "127.0.0.2"  # a second source address on loopback


_certs = []


def test_certs():
    """The test CA and certificates, made once for this file (certtool is slow)."""
    if not _certs:
        _certs.append(tlscerts.Certs())
        atexit.register(shutil.rmtree, _certs[0].dir, True)
    return _certs[0]


def client(port, source=None, timeout=5.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0) if source else None)


def served(sock, line=b"ping\n", timeout=5.0):
    """True if the connection echoes line; False if the daemon closed or reset it."""
    try:
        sock.sendall(line)
        return H.recv_until(sock, 1, timeout=timeout * H.SLOW) == line
    except (ConnectionResetError, BrokenPipeError):
        return False


def eventually(pred, timeout=10.0):
    """Polls pred (a condition on the daemon's state, not a timing guess) until true."""
    deadline = time.monotonic() + timeout * H.SLOW
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class PerSourceLimit(unittest.TestCase):
    def test_n_plus_first_from_one_source_refused_while_another_source_is_served(self):
        with H.Daemon([H.listener("e", max_connections_per_source=3)], workers=2) as d:
            port = d.port("e")
            held = [client(port) for _ in range(3)]
            for s in held:
                self.assertTrue(served(s))
            extra = client(port)
            self.assertFalse(served(extra), "4th connection from 127.0.0.1 was served")
            extra.close()
            other = client(port, OTHER)
            self.assertTrue(served(other), "127.0.0.2 was refused")
            d.wait_log(r"max_connections_per_source reached: refused 1 connection")
            # A closed connection makes room again (once its worker has seen the close).
            held.pop().close()
            again = []

            def retry():
                s = client(port)
                ok = served(s)
                (again.append(s) if ok else s.close())
                return ok
            self.assertTrue(eventually(retry))
            for s in held + again + [other]:
                s.close()

    def test_counts_of_a_killed_worker_are_released(self):
        with H.Daemon([H.listener("e", max_connections_per_source=4)], workers=2) as d:
            port = d.port("e")
            held = [client(port) for _ in range(4)]
            for s in held:
                self.assertTrue(served(s))
            victims = d.workers()
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            d.wait_log(r"released \d+ per-source count", count=1)
            self.assertTrue(eventually(lambda: len(set(d.workers()) - set(victims)) == 2))
            for s in held:
                s.close()
            fresh = [client(port) for _ in range(4)]
            self.assertTrue(all(served(s) for s in fresh), "counts leaked by killed workers")
            extra = client(port)
            self.assertFalse(served(extra), "the limit no longer holds after respawn")
            for s in fresh + [extra]:
                s.close()


class ConnectRate(unittest.TestCase):
    def test_burst_then_refused_while_another_source_connects(self):
        with H.Daemon([H.listener("e", connect_rate=0.5, connect_burst=3)], workers=2) as d:
            port = d.port("e")
            ok = [client(port) for _ in range(3)]
            for s in ok:
                self.assertTrue(served(s))
            s = client(port)
            self.assertFalse(served(s), "4th connection inside one second was served")
            s.close()
            o = client(port, OTHER)
            self.assertTrue(served(o))
            d.wait_log(r"connect_rate exceeded: refused 1 connection")
            for s in ok + [o]:
                s.close()


class SlowClient(unittest.TestCase):
    def test_slowloris_cut_at_timeout_while_100_clients_are_served(self):
        timeout = 2.0
        # echo-lines: echo (RFC 862) sends a partial line back at once, so it has none.
        with H.Daemon([H.listener("e", "echo-lines", slow_client_timeout=timeout, idle_timeout=60)],
                      workers=2) as d:
            port = d.port("e")
            slow = client(port, OTHER, timeout=30)
            result = {}

            def loris():
                start = time.monotonic()
                try:
                    for i in range(int(timeout * 4)):
                        slow.sendall(b"x")
                        r, _, _ = H.select.select([slow], [], [], 1.0)
                        if r and slow.recv(100) == b"":
                            break
                except (ConnectionResetError, BrokenPipeError):
                    pass
                result["cut_after"] = time.monotonic() - start
            t = threading.Thread(target=loris)
            t.start()
            errors = []

            def good(n):
                try:
                    with client(port, timeout=30) as s:
                        for i in range(20):
                            line = b"client %d line %d\n" % (n, i)
                            if not served(s, line, timeout=30):
                                errors.append((n, i))
                                return
                except OSError as e:
                    errors.append((n, repr(e)))
            goods = [threading.Thread(target=good, args=(n,)) for n in range(100)]
            for g in goods:
                g.start()
            for g in goods:
                g.join(60)
            t.join(30)
            self.assertEqual(errors, [])
            self.assertIn("cut_after", result)
            self.assertGreaterEqual(result["cut_after"], timeout - 0.5)
            self.assertLess(result["cut_after"], timeout + 2.5 * H.SLOW)
            d.wait_log(r"slow_client_timeout: closed 1 client")
            slow.close()

    def trickle(self, send, recv, sock, data, interval, give_up=5.0):
        """Sends data one byte every interval seconds until the daemon closes; returns
        (bytes sent, seconds from the first byte to the close). Fails if not closed
        within give_up seconds (times H.SLOW)."""
        start = time.monotonic()
        for i in range(len(data)):
            if time.monotonic() - start > give_up * H.SLOW:
                self.fail("not cut within %.0f s (%d bytes sent)" % (give_up * H.SLOW, i))
            try:
                send(data[i:i + 1])
                r, _, _ = H.select.select([sock], [], [], interval)
                if r and recv() == b"":
                    return i + 1, time.monotonic() - start
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                return i + 1, time.monotonic() - start
        self.fail("not cut: all %d bytes sent in %.1f s" % (len(data),
                                                           time.monotonic() - start))

    def assert_cut_at(self, sent, secs, total, limit):
        self.assertLess(sent, total, "the whole trickle got through")
        self.assertGreaterEqual(secs, limit - 0.3)
        self.assertLess(secs, limit + 1.5 * H.SLOW)

    def test_tls_handshake_trickled_a_byte_at_a_time_is_cut_at_handshake_timeout(self):
        """handshake_timeout bounds the whole handshake: a ClientHello sent one byte per
        0.05 s (every byte is activity) is cut after 1 s, not after it completes."""
        certs = test_certs()
        lst = H.listener("t", "echo", protocol="tls", certificate=certs.cert("server"),
                         key=certs.key("server"), handshake_timeout=1.0, idle_timeout=60)
        with H.Daemon([lst], workers=1, log_level="debug") as d:
            ctx = ssl.create_default_context(cafile=certs.cert("ca"))
            out = ssl.MemoryBIO()
            tls = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
            with self.assertRaises(ssl.SSLWantReadError):
                tls.do_handshake()
            hello = out.read()
            with client(d.port("t"), timeout=10) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sent, secs = self.trickle(s.sendall, lambda: s.recv(100), s, hello, 0.05)
            self.assert_cut_at(sent, secs, len(hello), 1.0)
            d.wait_log(r"t: peer [^ ]+: TLS handshake timed out")
            d.wait_log(r"connection \d+ closed \(TLS handshake timeout\)")

    def test_tls_line_trickled_a_byte_per_record_is_cut_at_slow_client_timeout(self):
        """After the handshake, one byte per TLS record every 0.2 s: the line never
        completes within slow_client_timeout (1 s) and is cut, though bytes keep coming.
        echo-lines: echo (RFC 862) sends each byte back at once, so it has no partial line."""
        certs = test_certs()
        lst = H.listener("t", "echo-lines", protocol="tls", certificate=certs.cert("server"),
                         key=certs.key("server"), slow_client_timeout=1.0, idle_timeout=60)
        with H.Daemon([lst], workers=1, log_level="debug") as d:
            ctx = ssl.create_default_context(cafile=certs.cert("ca"))
            with client(d.port("t"), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    self.assertTrue(served(s, b"a whole line\n"))
                    line = b"x" * 40 + b"\n"
                    sent, secs = self.trickle(s.sendall, lambda: s.recv(100), s, line, 0.2)
            self.assert_cut_at(sent, secs, len(line), 1.0)
            d.wait_log(r"connection \d+ closed \(slow client\)")

    def test_proxy_header_trickled_a_byte_at_a_time_is_cut_at_proxy_timeout(self):
        """proxy_timeout bounds the whole PROXY header: one byte per 0.1 s is cut after
        1 s, long before the 43-byte header would be complete."""
        lst = H.listener("p", "echo", proxy_protocol="v1", proxy_trusted=["127.0.0.1/32"],
                         proxy_timeout=1.0, idle_timeout=60)
        with H.Daemon([lst], workers=1, log_level="debug") as d:
            hdr = b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 5678\r\n"
            with client(d.port("p"), timeout=10) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sent, secs = self.trickle(s.sendall, lambda: s.recv(100), s, hdr, 0.1)
            self.assert_cut_at(sent, secs, len(hdr), 1.0)
            with client(d.port("p")) as s:  # a header sent at once is still served
                s.sendall(hdr)
                self.assertTrue(served(s))

    def test_a_line_completed_in_time_is_served_and_restarts_the_clock(self):
        with H.Daemon([H.listener("e", slow_client_timeout=1.5)], workers=1) as d:
            with client(d.port("e")) as s:
                for piece in (b"ab", b"c\nde", b"f\n"):
                    s.sendall(piece)
                    time.sleep(0.9)  # 1.8 s in all, but each line under 1.5 s
                self.assertEqual(H.recv_until(s, 2), b"abc\ndef\n")
                self.assertTrue(served(s))


class BufferLimit(unittest.TestCase):
    def test_worker_buffer_limit_closes_hoarders_and_keeps_serving(self):
        with H.Daemon([H.listener("e", output_buffer=65536)], workers=1,
                      worker_buffer_limit=262144) as d:
            port = d.port("e")
            hoarders = []
            chunk = b"y" * 1000 + b"\n"
            for _ in range(16):
                s = client(port)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.setblocking(False)
                hoarders.append(s)
            # A well-behaved client keeps a small partial line growing meanwhile: the
            # limit must cut the hoarders, not whoever happens to read next.
            polite = client(port)
            sent = b""
            deadline = time.monotonic() + 20 * H.SLOW
            while time.monotonic() < deadline and "worker_buffer_limit reached" not in d.log():
                for s in hoarders:
                    try:
                        s.send(chunk * 64)
                    except (BlockingIOError, ConnectionResetError, BrokenPipeError):
                        pass
                polite.sendall(b"p")
                sent += b"p"
                time.sleep(0.01)
            d.wait_log(r"worker_buffer_limit reached: closed \d+ client")
            polite.sendall(b"p\n")
            self.assertEqual(H.recv_until(polite, 1), sent + b"p\n")
            polite.close()
            with client(port) as s:
                self.assertTrue(served(s))
            for s in hoarders:
                s.close()


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def reset(sock):
    """Closes sock with an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class EdgeCases(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon([H.listener("echo", "echo", max_connections_per_source=0,
                                     connect_rate=0),
                          H.listener("hello", "hello", max_connections_per_source=0,
                                     connect_rate=0)], workers=1)
        cls.worker = cls.d.workers()[0]

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def assert_worker_unharmed(self):
        self.assertEqual(self.d.workers(), [self.worker], "the worker died or was replaced")
        self.assertNotRegex(self.d.log(), r"killed by signal|exited with status")
        with client(self.d.port("echo")) as s:
            self.assertTrue(served(s))

    def test_half_close_after_a_large_pipelined_burst_gets_every_reply(self):
        data = b"".join(b"line %06d of the burst\n" % i for i in range(100000)) + b"tail"
        with client(self.d.port("echo"), timeout=30) as s:
            threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)),
                             daemon=True).start()
            self.assertEqual(H.recv_all(s, timeout=30 * H.SLOW), data)

    def test_last_line_one_byte_over_max_line_is_too_long(self):
        """Found while writing fuzz_linebuf: max_line bytes and a lone '\\r' at EOF."""
        with H.Daemon([H.listener("e", "echo-lines", max_line=4)], workers=1) as d:
            for data, want in ((b"abcd\r", b"ERROR line too long"), (b"abc\r", b"abc\r"),
                               (b"abcd", b"abcd")):
                with client(d.port("e")) as s:
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                    self.assertTrue(H.recv_all(s).startswith(want), data)

    def test_zero_byte_session_closes_cleanly(self):
        with client(self.d.port("echo")) as s:
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(H.recv_all(s), b"")
        with client(self.d.port("hello")) as s:
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(H.recv_all(s), b"Please enter your name\n")
        self.assert_worker_unharmed()

    def test_rst_mid_reply_is_survived(self):
        for _ in range(20):
            s = client(self.d.port("echo"))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setblocking(False)
            try:  # replies pile up unread, then the client resets mid-stream
                for _ in range(64):
                    s.send(b"z" * 4095 + b"\n")
            except BlockingIOError:
                pass
            reset(s)
        self.assertTrue(eventually(lambda: fd_count(self.worker) <= self.base_fds))
        self.assert_worker_unharmed()

    def test_clients_vanishing_between_accept_and_first_read(self):
        for i in range(200):
            s = client(self.d.port("hello" if i % 2 else "echo"))
            if i % 3:
                reset(s)
            else:
                s.close()
        self.assertTrue(eventually(lambda: fd_count(self.worker) <= self.base_fds))
        self.assert_worker_unharmed()

    def test_peer_that_never_reads_keeps_worker_memory_bounded(self):
        rss0 = H.rss_kb(self.worker)
        s = client(self.d.port("echo"), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        line = b"n" * 1023 + b"\n"
        # Send until the daemon stops taking input (no progress for a second).
        sent, last = 0, time.monotonic()
        while sent < 64 << 20 and time.monotonic() - last < 1.0 * H.SLOW:
            try:
                sent += s.send(line * 64)
                last = time.monotonic()
            except BlockingIOError:
                time.sleep(0.01)
        grown = H.rss_kb(self.worker) - rss0
        # output_buffer (256 KiB) plus one read's worth of held input, not what was sent.
        self.assertLess(sent, 32 << 20, "the daemon kept reading a peer that never reads")
        # ASan's quarantine and shadow (or valgrind's) grow on their own: a looser bound there.
        bound = 32768 if H.instrumented(self.worker) else 4096
        self.assertLess(grown, bound, "worker RSS grew by %d KiB" % grown)
        reset(s)
        self.assert_worker_unharmed()

    def setUp(self):
        if not hasattr(EdgeCases, "base_fds"):
            EdgeCases.base_fds = fd_count(self.worker)


class FuzzRegressions(unittest.TestCase):
    def test_configs_found_by_fuzz_conf_are_rejected_on_reload_without_leaks(self):
        """Under the sanitizer and valgrind runs, the harness fails this on any leak."""
        corpus = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz",
                              "corpus", "conf")
        found = sorted(f for f in os.listdir(corpus) if f.startswith("regress-"))
        self.assertTrue(found)
        with H.Daemon([H.listener("e")], workers=1) as d:
            for name in found:
                with open(os.path.join(corpus, name), "rb") as src, \
                        open(d.conf_path, "wb") as dst:
                    dst.write(src.read())
                d.reload(expect_ok=False)
            with client(d.port("e")) as s:
                self.assertTrue(served(s))


if __name__ == "__main__":
    unittest.main(verbosity=2)
