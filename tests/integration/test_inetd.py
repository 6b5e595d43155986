#!/usr/bin/env python3
"""test_inetd.py: inetd's internal services against real clients, over TCP:
discard (RFC 863), chargen (RFC 864) byte for byte and under a client that
never reads, daytime (RFC 867, inetd's ctime form in local time), time
(RFC 868, with rdate), qotd (RFC 865); over UDP: exactly one reply per
datagram whatever it holds (empty included: rdate -u), within RFC sizes and
the reply ratio."""
import array
import calendar
import fcntl
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import termios
import time
import unittest

# A zone without DST and without tzdata files, 9 hours east of UTC.
TZ, TZ_OFFSET = "KST-9", 9 * 3600
CTIME = r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4}\r\n$"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

RFC868_OFFSET = 2208988800


def check_rfc868(test, data, t0, t1):
    """data is an RFC 868 time taken between t0 and t1: 4 bytes, seconds since 1900."""
    test.assertEqual(len(data), 4)
    H.assert_clock_between(test, struct.unpack("!I", data)[0] - RFC868_OFFSET, t0, t1)


def chargen_line(n):
    return bytes(32 + (n + k) % 95 for k in range(72)) + b"\r\n"


def sanitized():
    r = subprocess.run(["ldd", H.KSOCKD], capture_output=True, text=True)
    return "libasan" in r.stdout


def need(tool):
    if not shutil.which(tool):
        raise AssertionError("%s is not installed (tools/install-deps installs it)" % tool)


class Inetd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = H.tempfile.mkdtemp(prefix="ksockd-qotd-")
        cls.qotd = os.path.join(cls.dir, "quotes")
        with open(cls.qotd, "w") as f:
            f.write("Quote zero.\n%\nQuote one,\n  on two lines.\n%\nQuote two.\n")
        cls.d = H.Daemon([H.listener("discard", "discard", max_line=64),
                          H.listener("chargen", "chargen", output_buffer=65536),
                          H.listener("daytime", "daytime"),
                          H.listener("time", "time"),
                          H.listener("qotd", "qotd", qotd_file=cls.qotd)], workers=1,
                         env={"TZ": TZ})

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def test_discard_swallows_everything_even_past_max_line(self):
        with H.connect(self.d.port("discard")) as s:
            s.sendall(b"x" * 100000 + b"\nmore\n")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(H.recv_all(s), b"")

    def test_discard_with_nc(self):
        need("nc")
        r = subprocess.run(["nc", "-q", "1", "127.0.0.1", str(self.d.port("discard"))],
                           input=b"hello\n" * 1000, capture_output=True, timeout=10)
        self.assertEqual(r.stdout, b"")

    def test_chargen_lines_are_byte_exact(self):
        need("socat")
        # socat reads 10 KiB and hangs up: every line follows the pattern, from the first.
        r = subprocess.run("socat -u TCP:127.0.0.1:%d - | head -c 20000" % self.d.port("chargen"),
                           shell=True, capture_output=True, timeout=10)
        want = b"".join(chargen_line(n) for n in range(300))[:20000]
        self.assertEqual(r.stdout, want)

    def test_chargen_to_a_client_that_never_reads_stays_bounded(self):
        worker = self.d.workers()[0]
        base = H.rss_kb(worker)
        with H.connect(self.d.port("chargen")) as s:
            # Wait until our receive queue stops growing: the daemon is blocked on us.
            last, stable_since = -1, time.monotonic()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                buf = array.array("i", [0])
                fcntl.ioctl(s.fileno(), termios.FIONREAD, buf)
                if buf[0] != last:
                    last, stable_since = buf[0], time.monotonic()
                elif time.monotonic() - stable_since > 0.5:
                    break
                time.sleep(0.05)
            ticks = H.cpu_ticks(worker)
            time.sleep(1.0)
            # Blocked, not spinning, and holding at most output_buffer (64 KiB) plus a batch.
            self.assertLess(H.cpu_ticks(worker) - ticks, 20)
            grown = H.rss_kb(worker) - base
            if not sanitized():  # ASan's shadow memory and quarantine make RSS meaningless
                self.assertLess(grown, 2 * 1024, "worker RSS grew by %d KiB" % grown)
            # Reading resumes the stream where it stopped, pattern intact.
            data = b""
            s.settimeout(5)
            while len(data) < 400000:
                chunk = s.recv(65536)
                self.assertTrue(chunk)
                data += chunk
            n = len(data) // 74
            self.assertEqual(data[:n * 74], b"".join(chargen_line(i) for i in range(n)))

    def test_daytime_is_ctime_in_local_time(self):
        need("nc")
        r = subprocess.run(["nc", "-d", "127.0.0.1", str(self.d.port("daytime"))],
                           capture_output=True, timeout=10)
        text = r.stdout.decode()
        self.assertRegex(text, CTIME)  # "Wed Dec  2 13:20:58 2026\r\n", as inetd sends
        t = calendar.timegm(time.strptime(text.strip(), "%a %b %d %H:%M:%S %Y")) - TZ_OFFSET
        self.assertLess(abs(t - time.time()), 2)

    def test_time_is_seconds_since_1900_within_a_second(self):
        t0 = H.clock_before()
        with H.connect(self.d.port("time")) as s:
            data = H.recv_all(s)
        check_rfc868(self, data, t0, time.time())

    def test_time_with_rdate(self):
        need("rdate")
        r = subprocess.run(["rdate", "-p", "-4", "-o", str(self.d.port("time")), "127.0.0.1"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        # "rdate: [127.0.0.1]\tWed Nov 25 12:00:00 UTC 2026" (local time, TZ name)
        stamp = r.stdout.strip().split("\t")[-1].split()
        t = time.mktime(time.strptime(" ".join(stamp[:4] + stamp[5:]), "%a %b %d %H:%M:%S %Y"))
        self.assertLessEqual(abs(t - time.time()), 2)

    def test_qotd_sends_the_quote_of_the_day_and_closes(self):
        quotes = [b"Quote zero.\r\n", b"Quote one,\r\n  on two lines.\r\n", b"Quote two.\r\n"]
        need("nc")
        r = subprocess.run(["nc", "-d", "127.0.0.1", str(self.d.port("qotd"))],
                           capture_output=True, timeout=10)
        self.assertEqual(r.stdout, quotes[int(time.time() // 86400) % 3])

    def test_qotd_without_file_is_a_config_error(self):
        path = os.path.join(self.dir, "bad.conf")
        with open(path, "w") as f:
            f.write(H.render_config([H.listener("q", "qotd")]))
        r = subprocess.run([H.KSOCKD, "-t", "-c", path], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"bad\.conf:\d+: listener 'q': handler qotd needs 'qotd_file'")



class InetdUdp(unittest.TestCase):
    """The same handlers on UDP listeners: one reply per datagram, the datagram
    being the request whatever it holds, under the UDP reflection rules (a
    reply is at most udp_max_reply_ratio x its request, both on the wire with
    their 28 bytes of IPv4 and UDP headers, so that an empty request, as
    rdate -u sends, gets its 4 bytes). One worker: datagrams are served in the
    order they were sent, so once a later request's reply arrived, every reply
    to an earlier one has arrived too."""

    @classmethod
    def setUpClass(cls):
        cls.dir = H.tempfile.mkdtemp(prefix="ksockd-qotd-")
        qotd = os.path.join(cls.dir, "quotes")
        with open(qotd, "w") as f:
            f.write("The only quote.\n")
        cls.d = H.Daemon([H.listener(n, n, "udp", udp_rate=0) for n in
                          ("discard", "chargen", "daytime", "time")] +
                         [H.listener("qotd", "qotd", "udp", qotd_file=qotd, udp_rate=0),
                          H.listener("chargen6", "chargen", "udp", address="::1", udp_rate=0)],
                         workers=1, env={"TZ": TZ})

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def ask(self, name, request, expect_reply=True):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2 if expect_reply else 0.5)
            s.sendto(request, ("127.0.0.1", self.d.port(name)))
            try:
                return s.recv(65536)
            except socket.timeout:
                return None

    def replies(self, name, request):
        """Every reply to request: sends it, then a control request, and reads
        both replies; a third would have been sent before the control's."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.connect(("127.0.0.1", self.d.port(name)))
            s.send(request)
            s.send(b"control")
            got = [s.recv(65536), s.recv(65536)]
            s.setblocking(False)
            try:
                got.append(s.recv(65536))
            except BlockingIOError:
                pass
            self.assertEqual(len(got), 2, "%s answered %r more than once: %r" % (name, request, got))
            return got[0]

    def check_daytime(self, data, t0):
        text = data.decode()
        self.assertRegex(text, CTIME)
        t = calendar.timegm(time.strptime(text.strip(), "%a %b %d %H:%M:%S %Y")) - TZ_OFFSET
        self.assertLess(abs(t - t0), 1.5)

    def test_time_and_daytime_answer_each_datagram(self):
        t0 = H.clock_before()
        data = self.ask("time", b"what time is it?\n")
        check_rfc868(self, data, t0, time.time())
        need("socat")
        t0 = time.time()  # socat lingers 1 s after its input ends: compare with the start
        r = subprocess.run(["socat", "-t", "1", "-", "UDP:127.0.0.1:%d" % self.d.port("daytime")],
                           input=b"what day is it today?\n", capture_output=True, timeout=10)
        self.check_daytime(r.stdout, t0)

    def test_time_asked_as_a_second_begins_is_that_second(self):
        # time(2) stays on the last second for up to a tick (4 ms at 250 Hz,
        # longer when the tick is stopped on an idle CPU) after the next one
        # begins; RFC 868's answer is the current second, as inetd's
        # gettimeofday() gives it. Asked 0.5 ms into each of five seconds.
        for _ in range(5):
            now = time.time()
            time.sleep(math.ceil(now) - now + 0.0005)
            t0 = time.time()  # not clock_before(): the second's start on the precise clock
            check_rfc868(self, self.ask("time", b""), t0, time.time())

    def test_every_datagram_gets_exactly_one_reply_within_rfc_sizes(self):
        pattern = b"".join(chargen_line(n) for n in range(8))
        for request in (b"", b"x", b"\n", b"abcd", b"a\nb\nc\n", b"one\r\ntwo\r\nthree",
                        b"\x00\xff" * 300):
            with self.subTest(request=request[:20]):
                t0 = H.clock_before()
                data = self.replies("time", request)  # RFC 868: 4 bytes, whatever the request
                check_rfc868(self, data, t0, time.time())
                self.check_daytime(self.replies("daytime", request), t0)  # one line
                data = self.replies("chargen", request)
                room = min(512, (len(request) + 28) * 10 - 28)  # RFC 864, then the ratio
                self.assertLessEqual(len(data), room)
                self.assertEqual(data, pattern[:len(data)])
                self.assertEqual(self.replies("qotd", request), b"The only quote.\r\n")

    def test_rdate_u_gets_the_time_from_an_empty_datagram(self):
        need("rdate")
        r = subprocess.run(["rdate", "-p", "-u", "-4", "-o", str(self.d.port("time")),
                            "127.0.0.1"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        stamp = r.stdout.strip().split("\t")[-1].split()
        t = time.mktime(time.strptime(" ".join(stamp[:4] + stamp[5:]), "%a %b %d %H:%M:%S %Y"))
        self.assertLessEqual(abs(t - time.time()), 2)

    def test_chargen_answers_empty_and_tiny_datagrams_within_the_ratio(self):
        pattern = b"".join(chargen_line(n) for n in range(8))
        for request, room in ((b"", 252), (b"c", 262), (b"c" * 60, 512)):
            lengths = set()
            for i in range(40):
                data = self.ask("chargen", request)
                self.assertIsNotNone(data, "no reply to %r" % request)  # 0 bytes is a reply
                self.assertLessEqual(len(data), room)
                self.assertEqual(data, pattern[:len(data)])
                lengths.add(len(data))
            self.assertGreater(len(lengths), 1)

    def test_chargen_room_over_ipv6_counts_its_48_header_bytes(self):
        # (0 + 48) x 10 - 48 = 432 for an empty request, against 252 over IPv4.
        pattern = b"".join(chargen_line(n) for n in range(8))
        lengths = []
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.connect(("::1", self.d.port("chargen6")))
            for i in range(40):
                s.send(b"")
                data = s.recv(65536)
                self.assertLessEqual(len(data), 432)
                self.assertEqual(data, pattern[:len(data)])
                lengths.append(len(data))
        self.assertGreater(max(lengths), 252, lengths)  # all 40 in 0..252: p < 1e-9

    def test_qotd_and_discard(self):
        self.assertEqual(self.ask("qotd", b"q" * 10), b"The only quote.\r\n")
        self.assertIsNone(self.ask("discard", b"into the void\n", expect_reply=False))


if __name__ == "__main__":
    unittest.main(verbosity=2)
