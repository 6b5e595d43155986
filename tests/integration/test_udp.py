#!/usr/bin/env python3
"""test_udp.py: UDP listeners over real sockets: echo and hello datagrams of
every size, batch bursts whose counts add up, reflection safety (reflector
source ports, per-source rate limit, reply ratio), replies from the address
the client used on wildcard listeners, IPv6 and v4-mapped clients, and nc/socat
as clients."""
import errno
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

FINAL = re.compile(r"ksockd\[(\d+)\] \w+: udp '([^']+)': worker (\d+): answered=(\d+) "
                   r"dropped: (.*?) kernel=(\d+) \(final\)")
REASONS = ("too_big", "rate", "port", "ratio", "bcast", "send_full", "error", "denied",
           "no_reply")


def final_counts(daemon, name):
    """Stops the daemon and sums the final per-worker counts of listener name."""
    daemon.stop()
    total = dict.fromkeys(("answered", "kernel") + REASONS, 0)
    lines = 0
    for m in FINAL.finditer(daemon.log()):
        if m.group(2) != name:
            continue
        lines += 1
        total["answered"] += int(m.group(4))
        for k, v in re.findall(r"(\w+)=(\d+)", m.group(5)):
            total[k] += int(v)
        # A total for the socket, shared by every worker: count it once.
        total["kernel"] = max(total["kernel"], int(m.group(6)))
    assert lines == daemon.globals.get("workers", 2), "final lines: %d\n%s" % (lines, daemon.log())
    return total


def udp_client(family=socket.AF_INET, bind=None, timeout=5.0):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    if bind:
        s.bind(bind)
    return s


def exchange(sock, data, addr=None):
    if addr:
        sock.sendto(data, addr)
    else:
        sock.send(data)
    return sock.recvfrom(65536)


def assert_silent(testcase, sock):
    """Nothing is waiting on sock (a reply would already be queued: see callers)."""
    sock.setblocking(False)
    with testcase.assertRaises(BlockingIOError):
        sock.recv(65536)


class Echo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon([H.listener("echo", "echo", "udp"),
                          H.listener("hello", "hello", "udp"),
                          H.listener("echo6", "echo", "udp", address="::1")])

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def test_echo_returns_datagrams_of_every_size_unchanged(self):
        port = self.d.port("echo")
        with udp_client() as s:
            s.connect(("127.0.0.1", port))
            for size in (0, 1, 1400, 65507):
                data = bytes((i * 7 + size) % 256 for i in range(size))
                s.send(data)
                self.assertEqual(s.recv(65536), data, "size %d" % size)
            s.send(b"a\r\nb\n\nno eol")
            self.assertEqual(s.recv(65536), b"a\r\nb\n\nno eol")

    def test_hello_answers_each_datagram_once_as_one_request(self):
        with udp_client() as s:
            s.connect(("127.0.0.1", self.d.port("hello")))
            # The datagram is the request: its inner newlines belong to the name.
            s.send(b"Alice\nBob\r\nCarol")
            self.assertEqual(s.recv(65536), b"Hello, Alice\nBob\r\nCarol!\n")
            s.send(b"Alice\nBob\r\n")
            self.assertEqual(s.recv(65536), b"Hello, Alice\nBob!\r\n")
            s.send(b"A")
            self.assertEqual(s.recv(65536), b"Hello, A!\n")
            s.send(b"")  # 37 bytes on the wire for 28: within the default ratio (10)
            self.assertEqual(s.recv(65536), b"Hello, !\n")
            assert_silent(self, s)  # exactly one reply each

    def test_ipv6(self):
        with udp_client(socket.AF_INET6) as s:
            s.connect(("::1", self.d.port("echo6")))
            s.send(b"six\n")
            self.assertEqual(s.recv(65536), b"six\n")

    def test_nc_and_socat_as_clients(self):
        port = self.d.port("hello")
        for tool, argv in (("nc", ["nc", "-u", "-w", "1", "127.0.0.1", str(port)]),
                           ("socat", ["socat", "-t", "1", "-", "UDP:127.0.0.1:%d" % port])):
            if not shutil.which(tool):
                self.fail("%s is not installed (tools/install-deps installs it)" % tool)
            out = subprocess.run(argv, input=b"World\n", capture_output=True, timeout=10).stdout
            self.assertEqual(out, b"Hello, World!\n", tool)


class Wildcard(unittest.TestCase):
    """A wildcard listener answers from the address the client sent to."""

    def test_reply_comes_from_the_address_the_client_used(self):
        p4 = H.free_port(socket.SOCK_DGRAM, "0.0.0.0")
        p6 = H.free_port(socket.SOCK_DGRAM, "::")
        with H.Daemon([H.listener("any4", "echo", "udp", address="0.0.0.0", port=p4),
                       H.listener("any6", "echo", "udp", address="::", port=p6,
                                  ipv6_only=False)]) as d:
            for fam, dst, port in ((socket.AF_INET, "127.0.0.2", p4),
                                   (socket.AF_INET, "127.0.0.3", p6),  # v4-mapped on ::
                                   (socket.AF_INET6, "::1", p6)):
                with udp_client(fam) as s:
                    s.connect((dst, port))  # a connected socket only accepts dst:port
                    s.send(b"from %s\n" % dst.encode())
                    data, src = s.recvfrom(65536)
                    self.assertEqual(data, b"from %s\n" % dst.encode())
                    self.assertEqual(src[0], dst)
            out = subprocess.run(["socat", "-t", "2", "-", "UDP:127.0.0.2:%d" % p4],
                                 input=b"socat\n", capture_output=True, timeout=10).stdout
            self.assertEqual(out, b"socat\n")
            self.assertIn("listener 'any4': udp 0.0.0.0:%d" % p4, d.log())


    def test_broadcast_requests_are_not_answered(self):
        port = H.free_port(socket.SOCK_DGRAM, "0.0.0.0")
        d = H.Daemon([H.listener("any4", "echo", "udp", address="0.0.0.0", port=port)],
                     workers=1)
        with udp_client() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.sendto(b"everyone?\n", ("127.255.255.255", port))
            # Served in order by the one worker: the control's reply comes after.
            self.assertEqual(exchange(s, b"control\n", ("127.0.0.1", port))[0], b"control\n")
            assert_silent(self, s)
        n = final_counts(d, "any4")
        self.assertEqual((n["bcast"], n["answered"]), (1, 1), n)


class Safety(unittest.TestCase):
    """One worker, so datagrams are served in the order they were sent: once the
    reply to a later datagram arrived, a reply to an earlier one would already
    have been delivered."""

    def test_reflector_and_own_source_ports_get_no_answer(self):
        own = H.listener("other", "echo", "udp", address="127.0.0.3")
        d = H.Daemon([H.listener("echo", "echo", "udp"), own], workers=1)
        addr = ("127.0.0.1", d.port("echo"))
        sent_blocked = 0
        with udp_client(bind=("127.0.0.1", own["port"])) as s:  # ksockd's own port
            s.sendto(b"loop?\n", addr)
            sent_blocked += 1
            with udp_client() as ctl:
                self.assertEqual(exchange(ctl, b"control\n", addr)[0], b"control\n")
            assert_silent(self, s)
        if os.geteuid() == 0:
            with udp_client(bind=("127.0.0.1", 7)) as s:  # the echo service's port
                s.sendto(b"ping-pong?\n", addr)
                sent_blocked += 1
                with udp_client() as ctl:
                    self.assertEqual(exchange(ctl, b"control\n", addr)[0], b"control\n")
                assert_silent(self, s)
        n = final_counts(d, "echo")
        self.assertEqual(n["port"], sent_blocked)
        self.assertEqual(n["answered"], sent_blocked)  # the controls
        if os.geteuid() != 0:
            self.skipTest("source port 7 not tested: binding it needs root (CI runs as root)")

    def test_every_reflector_source_port_gets_no_answer(self):
        """Source ports 0, 7, 9, 13, 17, 19 and 37 (reflecting services, and 0, which is
        no port at all) get nothing back, end to end. Binding them needs root; port 0
        can only be sent from with a raw socket."""
        if os.geteuid() != 0:
            self.skipTest("binding source ports below 1024 and raw sockets need root")
        d = H.Daemon([H.listener("echo", "echo", "udp")], workers=1)
        addr = ("127.0.0.1", d.port("echo"))
        ports = (0, 7, 9, 13, 17, 19, 37)
        for port in ports:
            if port == 0:
                with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP) as raw:
                    body = b"from port 0?\n"
                    # UDP header: source 0, destination, length, checksum 0 (none, IPv4).
                    raw.sendto(struct.pack("!HHHH", 0, addr[1], 8 + len(body), 0) + body,
                               (addr[0], 0))
            else:
                with udp_client(bind=("127.0.0.1", port)) as s:
                    s.sendto(b"from port %d?\n" % port, addr)
                    with udp_client() as ctl:
                        self.assertEqual(exchange(ctl, b"control\n", addr)[0], b"control\n")
                    assert_silent(self, s)
                continue
            with udp_client() as ctl:  # served after the raw datagram: it was seen
                self.assertEqual(exchange(ctl, b"control\n", addr)[0], b"control\n")
        n = final_counts(d, "echo")
        self.assertEqual(n["port"], len(ports), n)
        self.assertEqual(n["answered"], len(ports), n)  # the controls only

    def test_too_big_and_reply_ratio_drop_without_truncating(self):
        d = H.Daemon([H.listener("echo", "echo", "udp", max_datagram=100),
                      H.listener("time", "time", "udp", udp_max_reply_ratio=1)], workers=1)
        with udp_client() as s:
            s.connect(("127.0.0.1", d.port("echo")))
            s.send(b"x" * 101)
            self.assertEqual(exchange(s, b"y" * 100)[0], b"y" * 100)
            assert_silent(self, s)
        with udp_client() as s:
            s.connect(("127.0.0.1", d.port("time")))
            s.send(b"")  # 28 bytes on the wire in, 32 out: over 1x
            self.assertEqual(len(exchange(s, b"four")[0]), 4)  # 32 for 32
            assert_silent(self, s)
        self.assertEqual(final_counts(d, "echo")["too_big"], 1)
        self.assertIn("ratio=1 ", d.log())

    def test_no_other_socket_can_share_the_port(self):
        # With SO_REUSEADDR on the listener, any local user could bind the same
        # address and port with SO_REUSEADDR and receive its datagrams.
        with H.Daemon([H.listener("echo", "echo", "udp")], workers=1) as d:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                with self.assertRaises(OSError) as e:
                    s.bind(("127.0.0.1", d.port("echo")))
                self.assertEqual(e.exception.errno, errno.EADDRINUSE)

    def test_drops_are_summarised_while_serving(self):
        with H.Daemon([H.listener("echo", "echo", "udp", max_datagram=10)], workers=1) as d:
            with udp_client() as s:
                s.connect(("127.0.0.1", d.port("echo")))
                for _ in range(3):
                    s.send(b"x" * 11)
                self.assertEqual(exchange(s, b"ok\n")[0], b"ok\n")
            # Within one summary interval (10 s), without stopping the daemon.
            d.wait_log(r"udp 'echo': worker 0: answered=1 dropped: too_big=3 rate=0 port=0 "
                       r"ratio=0 bcast=0 send_full=0 error=0 denied=0 no_reply=0 kernel=0\n", timeout=15)

    def test_allow_deny_applies_to_each_datagram(self):
        d = H.Daemon([H.listener("echo", "echo", "udp", allow=["127.0.0.0/8"],
                                 deny=["127.0.0.2"])], workers=1)
        addr = ("127.0.0.1", d.port("echo"))
        with udp_client(bind=("127.0.0.1", 0)) as ok, \
                udp_client(bind=("127.0.0.2", 0), timeout=0.5) as denied:
            for i in range(3):
                denied.sendto(b"denied %d\n" % i, addr)
            self.assertEqual(exchange(ok, b"allowed\n", addr)[0], b"allowed\n")
            assert_silent(self, denied)  # sent before the allowed exchange: answered by now
        n = final_counts(d, "echo")
        self.assertEqual(n["denied"], 3, n)
        self.assertEqual(n["answered"], 1, n)

    def test_flood_from_one_source_is_limited_while_another_is_answered(self):
        d = H.Daemon([H.listener("echo", "echo", "udp", udp_rate=5, udp_burst=10)], workers=1)
        addr = ("127.0.0.1", d.port("echo"))
        other_sent = 0
        with udp_client(bind=("127.0.0.1", 0)) as flood, \
                udp_client(bind=("127.0.0.2", 0), timeout=0.5) as other:
            start = time.monotonic()
            for i in range(500):
                flood.sendto(b"flood %d\n" % i, addr)
            for i in range(5):
                # The flood may have filled the socket's queue: resend until answered.
                for attempt in range(10):
                    other.sendto(b"other %d\n" % i, addr)
                    other_sent += 1
                    try:
                        data = other.recv(65536)
                        while data != b"other %d\n" % i:  # a late reply to a resend
                            data = other.recv(65536)
                        break
                    except socket.timeout:
                        continue
                else:
                    self.fail("the second source got no answer while the first flooded")
            elapsed = time.monotonic() - start
            flood.setblocking(False)
            got = 0
            try:
                while True:
                    self.assertRegex(flood.recv(65536), rb"^flood \d+\n$")
                    got += 1
            except BlockingIOError:
                pass
        self.assertGreaterEqual(got, 10)  # the burst: the first datagrams are never queued out
        self.assertLessEqual(got, 10 + 5 * elapsed + 1)
        n = final_counts(d, "echo")
        self.assertGreater(n["rate"], 0)
        self.assertEqual(n["answered"] + n["rate"] + n["kernel"], 500 + other_sent, n)


class RateTwoWorkers(unittest.TestCase):
    def test_one_source_gets_at_most_workers_times_udp_rate(self):
        """With 2 workers reading one socket, each has its own token bucket per source
        (README: "up to workers x udp_rate replies"): a flood from one source, spread
        over about a second, is answered at most 2 x (udp_burst + udp_rate x seconds),
        and at least one bucket's burst."""
        rate, burst, workers, rounds, per_round = 20, 10, 2, 10, 100
        d = H.Daemon([H.listener("echo", "echo", "udp", udp_rate=rate, udp_burst=burst)],
                     workers=workers)
        addr = ("127.0.0.1", d.port("echo"))
        got, last = 0, None
        with udp_client(timeout=0.5 * H.SLOW) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            start = time.monotonic()
            for r in range(rounds):  # pacing the flood (not waiting for the daemon)
                for i in range(per_round):
                    s.sendto(b"flood %d\n" % (r * per_round + i), addr)
                time.sleep(0.1)
            try:
                while True:  # until no reply came for 0.5 s
                    self.assertRegex(s.recv(65536), rb"^flood \d+\n$")
                    got += 1
                    last = time.monotonic()
            except socket.timeout:
                pass
        # Tokens accrue from the first datagram to the last one answered.
        elapsed = (last or start) - start
        n = final_counts(d, "echo")
        bound = workers * (burst + rate * elapsed)
        sys.stderr.write("udp rate, 2 workers: %d sent, %d answered in %.2f s (bound %.1f), "
                         "counts %r\n" % (rounds * per_round, got, elapsed, bound, n))
        self.assertLessEqual(got, bound + workers)
        self.assertGreaterEqual(got, burst)
        self.assertEqual(got, n["answered"], n)
        self.assertEqual(n["answered"] + n["rate"] + n["kernel"], rounds * per_round, n)


class Reload(unittest.TestCase):
    def test_udp_listener_keeps_answering_across_a_reload(self):
        with H.Daemon([H.listener("echo", "echo", "udp")]) as d:
            with udp_client() as s:
                s.connect(("127.0.0.1", d.port("echo")))
                self.assertEqual(exchange(s, b"before\n")[0], b"before\n")
                d.reload()
                self.assertEqual(exchange(s, b"after\n")[0], b"after\n")
            # The old workers that answered logged their final counts as they drained;
            # one that saw nothing logs no all-zero line.
            d.wait_log(r"worker \d \(pid \d+, generation 1\) exited after draining", count=2)
            finals = re.findall(r"udp 'echo': worker \d+: answered=(\d+) .*\(final\)", d.log())
            self.assertGreaterEqual(sum(int(n) for n in finals), 1, d.log())
            self.assertNotIn("0", finals, d.log())


class Burst(unittest.TestCase):
    def test_10000_datagrams_every_reply_correct_and_counts_add_up(self):
        """Every datagram is accounted for on both sides: the daemon's answered and dropped
        counts add up to what was sent, and every reply it counted as answered either
        arrived (correct, once) or was dropped by the client's own full socket buffer,
        which the kernel counts for us (SO_RXQ_OVFL)."""
        d = H.Daemon([H.listener("echo", "echo", "udp", udp_rate=0, max_datagram=1000)])
        addr = ("127.0.0.1", d.port("echo"))
        total, big_every = 10000, 10
        payloads = set()
        received, bad, ovfl = [], [], [0]
        rxq_ovfl = getattr(socket, "SO_RXQ_OVFL", 40)
        with udp_client(timeout=2.0) as s:
            if os.geteuid() == 0:
                s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 16 << 20)
            s.setsockopt(socket.SOL_SOCKET, rxq_ovfl, 1)
            s.connect(addr)

            def recv():
                data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(4))
                for level, kind, v in anc:
                    if level == socket.SOL_SOCKET and kind == rxq_ovfl:
                        ovfl[0] = struct.unpack("I", v[:4])[0]  # drops so far, cumulative
                return data

            def reader():
                try:
                    while True:
                        data = recv()
                        (received if data in payloads else bad).append(data)
                except (socket.timeout, OSError):
                    pass

            for i in range(total):
                payloads.add(b"datagram %d\n" % i)
            t = threading.Thread(target=reader)
            t.start()
            for i in range(total):
                s.send(b"B" * 1001 if i % big_every == 0 else b"datagram %d\n" % i)
            t.join(30 * H.SLOW)  # ends 2 s after the last reply
            self.assertFalse(t.is_alive())
            # One more reply brings the drop count as of after the last datagram.
            finals = 0
            for _ in range(10):
                s.send(b"final\n")
                finals += 1
                try:
                    if recv() == b"final\n":
                        break
                except socket.timeout:
                    continue
            else:
                self.fail("no reply to the final datagram")
        self.assertEqual(bad, [])
        self.assertEqual(len(received), len(set(received)), "duplicate replies")
        n = final_counts(d, "echo")
        dropped = sum(n[r] for r in REASONS) + n["kernel"]
        sys.stderr.write("burst: %d sent, %d replies received, %d dropped by the client's "
                         "buffer, counts %r\n" % (total, len(received), ovfl[0], n))
        self.assertEqual(n["answered"] + dropped, total + finals, n)
        # Replies to the resent finals may still be in flight: at most finals - 1 of them.
        self.assertLessEqual(len(received) + 1 + ovfl[0], n["answered"], n)
        self.assertGreaterEqual(len(received) + 1 + ovfl[0] + finals - 1, n["answered"], n)
        self.assertLessEqual(n["too_big"], total // big_every)
        if n["kernel"] == 0:  # nothing lost before the daemon read it: every big one seen
            self.assertEqual(n["too_big"], total // big_every, n)


if __name__ == "__main__":
    unittest.main(verbosity=2)
