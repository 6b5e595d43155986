#!/usr/bin/env python3
"""test_chaos.py: workers SIGKILLed at random under load.

Client threads send and check lines in a bounded loop while a killer thread
SIGKILLs a random worker at random intervals (always leaving one alive). Each
connection finds, from /proc, which worker serves it. The test fails if any
reply is wrong, if a connection served by a worker that was not killed is
cut, if the master stops respawning, or if processes, fds or per-source
counts are leaked once the storm is over.

CHAOS_TIME (seconds, default 10) sets the length of the storm.
"""
import os
import random
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

WORKERS = 3
CLIENTS = 8
PER_SOURCE = 64
DURATION = float(os.environ.get("CHAOS_TIME", "10"))


def children(master):
    """(live, zombie) PIDs whose parent is master."""
    live, zombies = [], []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == master:
            (zombies if fields[0] == "Z" else live).append(int(d))
    return sorted(live), zombies


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def min_fd_count(pid, samples=10):
    counts = []
    for _ in range(samples):
        counts.append(fd_count(pid))
        time.sleep(0.03)
    return min(counts)


def socket_inode(server_port, client_port):
    """Inode of the daemon's end of the TCP connection 127.0.0.1:client_port -> server_port."""
    want_local = "0100007F:%04X" % server_port
    want_remote = "0100007F:%04X" % client_port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want_local and parts[2] == want_remote:
                return parts[9]
    return None


def owner(pids, inode):
    """The PID among pids holding socket inode, or None."""
    target = "socket:[%s]" % inode
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                        return pid
                except OSError:
                    pass
        except OSError:
            pass
    return None


class Chaos(unittest.TestCase):
    def test_random_worker_kills_under_load(self):
        d = H.Daemon([H.listener("e", max_connections_per_source=PER_SOURCE, connect_rate=0,
                                 idle_timeout=60)], workers=WORKERS)
        self.addCleanup(d.kill)
        port = d.port("e")
        # sd_notify opens a socket for each message, so a single count may catch one
        # in flight: the baseline is the smallest of a few counts.
        master_fds = min_fd_count(d.pid)
        base_workers, _ = children(d.pid)
        worker_fds = sorted(fd_count(p) for p in base_workers)
        killed = {}  # pid -> time it was sent SIGKILL
        lock = threading.Lock()
        stop = time.monotonic() + DURATION
        failures, stats = [], {"lines": 0, "conns": 0, "cut": 0, "cut_early": 0}

        def killer():
            rnd = random.Random(1)
            while time.monotonic() < stop - 1:
                time.sleep(rnd.uniform(0.8, 2.2))
                live, _ = children(d.pid)
                live = [p for p in live if p not in killed]
                if len(live) < 2:
                    continue  # leave one to serve
                victim = rnd.choice(live)
                with lock:
                    killed[victim] = time.monotonic()
                os.kill(victim, signal.SIGKILL)

        def cut(pid, since, what):
            """A connection was closed or reset: legitimate only if its worker was killed."""
            with lock:
                stats["cut"] += 1
                if pid is None:
                    stats["cut_early"] += 1
                    if not any(t >= since - 0.05 for t in killed.values()):
                        failures.append("%s before its worker was known, with no kill "
                                        "since it connected" % what)
                elif pid not in killed:
                    failures.append("%s on worker %d, which was not killed" % (what, pid))

        def client(n):
            rnd = random.Random(n)
            seq = 0
            while time.monotonic() < stop and not failures:
                since = time.monotonic()
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                except OSError as e:
                    failures.append("client %d: connect: %r" % (n, e))
                    return
                pid = None
                with s:
                    for burst in range(rnd.randint(1, 40)):
                        lines = [b"c%d s%d %s\n" % (n, seq + i, b"x" * rnd.randint(0, 3000))
                                 for i in range(rnd.randint(1, 20))]
                        seq += len(lines)
                        want = b"".join(lines)
                        got = b""
                        try:
                            s.sendall(want)
                            while len(got) < len(want):
                                chunk = s.recv(65536)
                                if not chunk:
                                    break
                                got += chunk
                        except (ConnectionResetError, BrokenPipeError):
                            pass
                        except socket.timeout:
                            failures.append("client %d: no reply in 10 s" % n)
                            return
                        if not want.startswith(got):
                            failures.append("client %d: wrong reply %r for %r"
                                            % (n, got[:80], want[:80]))
                            return
                        if got != want:
                            cut(pid, since, "connection cut")
                            break
                        with lock:
                            stats["lines"] += len(lines)
                        if pid is None:
                            inode = socket_inode(port, s.getsockname()[1])
                            pid = owner(children(d.pid)[0], inode) if inode else None
                            if pid is None:  # its worker is already gone
                                cut(None, since, "connection lost")
                                break
                    else:
                        with lock:
                            stats["conns"] += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        threads.append(threading.Thread(target=killer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(DURATION + 60)
        self.assertEqual(failures, [])
        self.assertGreater(len(killed), 0, "no worker was killed")
        self.assertGreater(stats["lines"], 1000, stats)
        sys.stderr.write("chaos: %d kills, %d lines checked, %d connections completed, "
                         "%d cut (%d before their worker was known)\n"
                         % (len(killed), stats["lines"], stats["conns"], stats["cut"],
                            stats["cut_early"]))

        # The master respawns every killed worker (its crash back-off is at most 30 s).
        def settled():
            live, zombies = children(d.pid)
            return len(live) == WORKERS and not zombies and not set(live) & set(killed)
        deadline = time.monotonic() + 45 * H.SLOW
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.1)
        live, zombies = children(d.pid)
        self.assertEqual((len(live), zombies), (WORKERS, []), d.log())
        for pid in killed:
            self.assertFalse(os.path.exists("/proc/%d" % pid), "killed worker %d remains" % pid)

        # Nothing leaked: per-source counts of killed workers were released...
        held = []
        try:
            for _ in range(PER_SOURCE):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                held.append(s)
                s.sendall(b"still here\n")
                self.assertEqual(H.recv_until(s, 1, timeout=10 * H.SLOW), b"still here\n",
                                 "per-source counts leaked: refused after %d" % len(held))
        finally:
            for s in held:
                s.close()
        self.assertNotIn("still held", d.log())
        # ... and once idle, every process is back to its starting fd count.
        def fds_back():
            live, _ = children(d.pid)
            return (fd_count(d.pid) <= master_fds and
                    sorted(fd_count(p) for p in live) == worker_fds)
        deadline = time.monotonic() + 10 * H.SLOW
        while not fds_back() and time.monotonic() < deadline:
            time.sleep(0.1)
        live, _ = children(d.pid)
        self.assertLessEqual(fd_count(d.pid), master_fds, "master fds leaked")
        self.assertEqual(sorted(fd_count(p) for p in live), worker_fds, "worker fds leaked")


if __name__ == "__main__":
    unittest.main(verbosity=2)
