#!/usr/bin/env python3
"""test_activation.py: socket activation. ksockd serves on the sockets its
activator passes (matched to listeners by name), binds the rest itself, never
binds a passed address again (checked with ss), keeps the passed sockets
across reloads, reports fds whose name matches no listener, and refuses a
passed socket that does not fit its listener with a clear error. Uses the
tests' own activator (tests/integration/activator.py) and systemd's
systemd-socket-activate."""
import os
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

ACTIVATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "activator.py")


def wrap(*specs):
    argv = [sys.executable, ACTIVATOR]
    for s in specs:
        argv += ["-l", s]
    return argv + ["--"]


def spec(l, name=None, proto=None, port=None):
    return "%s:%s:%s:%d" % (name or l["name"], proto or l["protocol"], l["address"],
                            port or l["port"])


def fd_inode(pid, fd):
    m = re.match(r"socket:\[(\d+)\]", os.readlink("/proc/%d/fd/%d" % (pid, fd)))
    return int(m.group(1)) if m else None


def listening(port, udp=False):
    """(inode, set of pids) of every socket listening on port, from ss."""
    out = subprocess.run(["ss", "-Hlnpe", "-u" if udp else "-t", "sport = :%d" % port],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    res = []
    for line in out.splitlines():
        ino = re.search(r"ino:(\d+)", line)
        pids = set(int(p) for p in re.findall(r"pid=(\d+)", line))
        res.append((int(ino.group(1)) if ino else None, pids))
    return res


def echo_ok(port):
    with H.connect(port) as s:
        s.sendall(b"ping\n")
        return H.recv_until(s) == b"ping\n"


class PassedSockets(unittest.TestCase):
    def test_serves_on_passed_sockets_without_binding_again(self):
        echo, hello = H.listener("echo", "echo"), H.listener("hello", "hello")
        with H.Daemon([echo, hello], wrap=wrap(spec(echo), spec(hello))) as d:
            self.assertTrue(echo_ok(echo["port"]))
            with H.connect(hello["port"]) as s:
                self.assertEqual(H.recv_until(s), b"Please enter your name\n")
            for fd, l in ((3, echo), (4, hello)):
                ino = fd_inode(d.pid, fd)
                socks = listening(l["port"])
                self.assertEqual(len(socks), 1, socks)
                self.assertEqual(socks[0][0], ino, "served socket is not the passed fd %d" % fd)
                self.assertIn(d.pid, socks[0][1])
                self.assertTrue(set(d.workers()) <= socks[0][1], (d.workers(), socks))
            self.assertEqual(len(re.findall(r"\(socket passed by the service manager\)", d.log())), 2)

    def test_binds_listeners_that_were_not_passed(self):
        echo, hello = H.listener("echo", "echo"), H.listener("hello", "hello")
        with H.Daemon([echo, hello], wrap=wrap(spec(echo))) as d:
            self.assertTrue(echo_ok(echo["port"]))
            with H.connect(hello["port"]) as s:
                self.assertEqual(H.recv_until(s), b"Please enter your name\n")
            self.assertEqual(listening(echo["port"])[0][0], fd_inode(d.pid, 3))
            self.assertNotEqual(listening(hello["port"])[0][0], fd_inode(d.pid, 3))

    def test_passed_sockets_survive_reloads_even_when_removed_and_added_back(self):
        echo, hello = H.listener("echo", "echo"), H.listener("hello", "hello")
        with H.Daemon([echo, hello], wrap=wrap(spec(echo), spec(hello))) as d:
            ino = fd_inode(d.pid, 3)
            d.reload([echo, hello])
            self.assertTrue(echo_ok(echo["port"]))
            self.assertEqual([s[0] for s in listening(echo["port"])], [ino])
            d.reload([hello])  # echo removed: the master keeps the passed socket
            d.wait_log(r"listener 'echo' removed")
            d.reload([echo, hello])  # and added back: served on the same socket
            self.assertTrue(echo_ok(echo["port"]))
            socks = listening(echo["port"])
            self.assertEqual([s[0] for s in socks], [ino])
            # Both new workers hold it (old ones may still be draining, without it).
            self.assertGreaterEqual(len(set(d.workers()) & socks[0][1]), 2, socks)

    def test_reload_moving_a_passed_listener_is_rejected(self):
        echo = H.listener("echo", "echo")
        with H.Daemon([echo], wrap=wrap(spec(echo))) as d:
            moved = dict(echo, port=H.free_port())
            m = d.reload([moved], expect_ok=False)
            self.assertIn("passed fd 3 named 'echo' is bound to 127.0.0.1:%d, but the config "
                          "says 127.0.0.1:%d" % (echo["port"], moved["port"]), m)
            self.assertTrue(echo_ok(echo["port"]))

    def test_unmatched_fd_name_is_reported(self):
        echo = H.listener("echo", "echo")
        stray = H.listener("stray", "echo")
        with H.Daemon([echo], wrap=wrap(spec(echo), spec(stray))) as d:
            self.assertTrue(echo_ok(echo["port"]))
            d.wait_log(r"passed fd 4 named 'stray' matches no listener in the config")


class Mismatch(unittest.TestCase):
    def start_fails(self, listeners, specs):
        d = H.Daemon(listeners, wrap=wrap(*specs), wait_ready=False)
        try:
            self.assertEqual(d.proc.wait(10), 1, d.log())
            return d.log()
        finally:
            d.kill()

    def test_wrong_port_is_a_clear_error(self):
        echo = H.listener("echo", "echo")
        other = H.free_port()
        log = self.start_fails([echo], [spec(echo, port=other)])
        self.assertIn("passed fd 3 named 'echo' is bound to 127.0.0.1:%d, but the config says "
                      "127.0.0.1:%d" % (other, echo["port"]), log)

    def test_datagram_socket_for_a_tcp_listener_is_a_clear_error(self):
        echo = H.listener("echo", "echo")
        log = self.start_fails([echo], [spec(echo, proto="udp",
                                             port=H.free_port(socket.SOCK_DGRAM))])
        self.assertIn("passed fd 3 named 'echo' is a datagram socket, but the listener is tcp",
                      log)


@unittest.skipUnless(shutil.which("systemd-socket-activate"), "systemd-socket-activate missing")
class StockActivator(unittest.TestCase):
    def test_systemd_socket_activate_starts_ksockd_on_first_connection(self):
        echo, hello = H.listener("echo", "echo"), H.listener("hello", "hello")
        w = ["systemd-socket-activate", "-E", "NOTIFY_SOCKET",
             "-l", "127.0.0.1:%d" % echo["port"], "-l", "127.0.0.1:%d" % hello["port"],
             "--fdname=echo:hello"]
        with H.Daemon([echo, hello], wrap=w, wait_ready=False) as d:
            deadline = time.monotonic() + 10
            while not listening(echo["port"]):  # the activator binds, then waits
                self.assertLess(time.monotonic(), deadline, "activator never listened")
                time.sleep(0.05)
            with H.connect(echo["port"]) as s:  # queued until ksockd starts
                s.sendall(b"first\n")
                self.assertEqual(H.recv_until(s), b"first\n")
            d.wait_ready()
            ino = fd_inode(d.pid, 3)
            d.reload([echo, hello])
            self.assertTrue(echo_ok(echo["port"]))
            self.assertEqual([s[0] for s in listening(echo["port"])], [ino])
            with H.connect(hello["port"]) as s:
                self.assertEqual(H.recv_until(s), b"Please enter your name\n")

    def test_systemd_socket_activate_datagram_fd_for_tcp_listener_is_refused(self):
        echo = H.listener("echo", "echo")
        w = ["systemd-socket-activate", "-d", "-l", "127.0.0.1:%d" % echo["port"],
             "--fdname=echo"]
        d = H.Daemon([echo], wrap=w, wait_ready=False)
        try:
            deadline = time.monotonic() + 10
            while not listening(echo["port"], udp=True):
                self.assertLess(time.monotonic(), deadline, "activator never bound")
                time.sleep(0.05)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.sendto(b"wake up\n", ("127.0.0.1", echo["port"]))
            self.assertEqual(d.proc.wait(10), 1, d.log())
            self.assertIn("named 'echo' is a datagram socket, but the listener is tcp", d.log())
        finally:
            d.kill()


if __name__ == "__main__":
    unittest.main(verbosity=2)
