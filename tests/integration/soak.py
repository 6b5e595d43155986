#!/usr/bin/env python3
"""soak.py: SOAK_TIME seconds (default 600) of mixed load on one daemon, run by
`make soak` (not part of `make check`).

Load: echo clients checking pipelined lines, hello sessions opened and closed,
a reader that never reads, slowloris clients (cut by slow_client_timeout),
clients that reset at once, clients refused by deny, a reload (SIGHUP) every
RELOAD_EVERY seconds and a worker SIGKILLed every KILL_EVERY seconds.

Prints RSS and fd counts of every ksockd process at start and at end (after
the load has stopped and the daemon is idle), and exits 1 on any wrong reply,
a dead master, or per-source counts not back to zero.
"""
import os
import random
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

DURATION = float(os.environ.get("SOAK_TIME", "600"))
RELOAD_EVERY = 60.0
KILL_EVERY = 45.0
PER_SOURCE = 256


def snapshot(d, label):
    procs = [("master", d.pid)] + [("worker", p) for p in d.workers()]
    total = 0
    print("%s (t=%.0f s):" % (label, time.monotonic() - T0))
    for kind, pid in procs:
        try:
            rss = H.rss_kb(pid)
            fds = len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            continue
        total += rss
        print("  %-6s pid %-7d RSS %6d KiB  fds %4d" % (kind, pid, rss, fds))
    print("  total RSS %d KiB" % total)
    sys.stdout.flush()


def main():
    listeners = [
        H.listener("echo", "echo", max_connections_per_source=PER_SOURCE, connect_rate=0,
                   slow_client_timeout=5, deny="127.0.0.2"),
        H.listener("hello", "hello", max_connections_per_source=PER_SOURCE, connect_rate=0),
    ]
    d = H.Daemon(listeners, workers=2, log_level="notice")
    time.sleep(1)
    snapshot(d, "start")
    stop = time.monotonic() + DURATION
    errors, stats, lock = [], {}, threading.Lock()

    def count(k, n=1):
        with lock:
            stats[k] = stats.get(k, 0) + n

    def guarded(fn):
        def run(*a):
            while time.monotonic() < stop and len(errors) < 10:
                try:
                    fn(*a)
                except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
                    count("cut")  # a killed worker, or a limit doing its job
                except socket.timeout:
                    errors.append("%s: timeout" % fn.__name__)
        return threading.Thread(target=run, args=(), daemon=True)

    def echo():
        rnd = random.Random()
        with socket.create_connection(("127.0.0.1", d.port("echo")), timeout=30) as s:
            for _ in range(rnd.randint(1, 50)):
                want = b"".join(b"%d %s\n" % (i, b"e" * rnd.randint(0, 2000))
                                for i in range(rnd.randint(1, 30)))
                s.sendall(want)
                got = b""
                while len(got) < len(want):
                    c = s.recv(65536)
                    if not c:
                        break
                    got += c
                if not want.startswith(got):
                    errors.append("wrong echo reply")
                if got != want:
                    count("cut")
                    return
                count("echo_lines", want.count(b"\n"))

    def hello():
        with socket.create_connection(("127.0.0.1", d.port("hello")), timeout=30) as s:
            s.sendall(b"Soak\n")
            got = H.recv_until(s, 2, timeout=30)
            if got and got != b"Please enter your name\nHello, Soak!\n" and \
                    not b"Please enter your name\n".startswith(got):
                errors.append("wrong hello reply %r" % got)
            count("hello")

    def never_reads():
        with socket.create_connection(("127.0.0.1", d.port("echo")), timeout=30) as s:
            s.setblocking(False)
            end = time.monotonic() + 10
            while time.monotonic() < end:
                try:
                    s.send(b"r" * 4095 + b"\n")
                except BlockingIOError:
                    time.sleep(0.1)
            count("never_reads")

    def slowloris():
        with socket.create_connection(("127.0.0.1", d.port("echo")), timeout=30) as s:
            for _ in range(20):
                s.sendall(b"s")
                time.sleep(1)
            count("slowloris_survived")

    def resetter():
        s = socket.create_connection(("127.0.0.1", d.port("hello")), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        s.close()
        count("resets")
        time.sleep(0.01)

    def denied():
        s = socket.create_connection(("127.0.0.1", d.port("echo")), timeout=30,
                                     source_address=("127.0.0.2", 0))
        with s:
            try:
                s.sendall(b"x\n")
                if s.recv(10):
                    errors.append("a denied client was served")
            except (ConnectionResetError, BrokenPipeError):
                pass
            count("denied")
        time.sleep(0.05)

    threads = [guarded(echo) for _ in range(6)] + [guarded(hello) for _ in range(3)]
    threads += [guarded(f) for f in (never_reads, slowloris, resetter, denied)]
    for t in threads:
        t.start()
    next_reload, next_kill = T0 + RELOAD_EVERY, T0 + KILL_EVERY
    while time.monotonic() < stop and len(errors) < 10:
        time.sleep(0.5)
        if d.proc.poll() is not None:
            errors.append("the master exited")
            break
        now = time.monotonic()
        if now >= next_reload:
            d.reload()
            count("reloads")
            next_reload += RELOAD_EVERY
        if now >= next_kill:
            w = d.workers()
            if w:
                os.kill(random.choice(w), signal.SIGKILL)
                count("kills")
            next_kill += KILL_EVERY
    for t in threads:
        t.join(40)
    time.sleep(2)
    snapshot(d, "end")
    print("load:", ", ".join("%s %d" % kv for kv in sorted(stats.items())))
    held = []
    for _ in range(PER_SOURCE):
        s = socket.create_connection(("127.0.0.1", d.port("hello")), timeout=10)
        held.append(s)
        if H.recv_until(s, 1, timeout=10) != b"Please enter your name\n":
            errors.append("per-source counts leaked: refused after %d" % len(held))
            break
    for s in held:
        s.close()
    d.kill()
    if errors:
        print("soak FAILED:", errors[:10])
        return 1
    print("soak passed")
    return 0


T0 = time.monotonic()
if __name__ == "__main__":
    sys.exit(main())
