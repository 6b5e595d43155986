#!/usr/bin/env python3
"""test_reload_accounting.py: reloads under load account for every line.

Four kinds of clients run against a shared-socket listener (handler hello)
and a reuseport listener (handler echo) while the daemon goes through ten
accepted reloads and three rejected ones:

  long-lived     one connection for the rest of the test, opened at the
                 start (it stays on a generation-1 worker while the others
                 are replaced) and after each reload (a new generation's
                 worker, draining after the next reload): every generation
                 echoes thousands of batches
  reconnecting   a new connection for every line: LINES_IN_FLIGHT
                 connections open at once, one line on each
  mid-reload     connect right after each SIGHUP and keep sending across
                 the hand-over: one batch before the new generation is
                 ready, two after
  pre-reload     connect just before each SIGHUP (to a worker about to
                 drain) and send nothing until the new generation is ready:
                 their lines are all served by a draining worker

Every line is numbered (client, sequence) and sent LINES_IN_FLIGHT at a
time. Every connection ends with a half-close and must then read EOF: each
line is answered exactly once, correctly and in order, with no extra byte.
The daemon's log (debug) names the worker that accepted each connection,
which gives its generation: the test checks that every generation served
lines, and that the bytes the daemon says each connection received are the
bytes the client sent. The counts are printed.

Echo replies are checked as a byte stream (whatever read sizes the daemon
uses, the bytes back must be the bytes sent), so the check holds for a
line echo and for a byte-transparent one.
"""
import collections
import os
import re
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

ACCEPTED = 10         # accepted reloads
REJECTED_AFTER = (2, 5, 8)  # a rejected reload follows these accepted ones
LINES_IN_FLIGHT = 8   # lines sent before the first reply is read, per client
LONG_LIVED = 2        # per listener
RECONNECTING = 2      # per listener
MID_RELOAD = 2        # per listener and reload
PRE_RELOAD = 2        # per listener and reload
REPLY_TIMEOUT = 5.0   # seconds (times H.SLOW) for a batch's replies
PROGRESS_TIMEOUT = 20.0  # seconds (times H.SLOW) for every client to make progress
ROUNDS = 5            # batches (reconnecting: rounds) of every client between two reloads
PROMPT = b"Please enter your name\n"


def expected(handler, lines):
    if handler == "hello":
        return b"".join(b"Hello, " + l + b"!\n" for l in lines)
    return b"".join(l + b"\n" for l in lines)


class Ledger:
    """Every connection and line of the test, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.conns = []       # [kind, listener, local port, bytes sent, lines sent, answered,
        #                        generation serving when it connected]
        self.generation = 1   # the generation serving now (set by the test)
        self.answered = set()  # (client tag, sequence) of every line answered
        self.duplicates = []
        self.sent = 0
        self.errors = []
        self.progress = collections.Counter()  # client tag -> batches answered
        self.changed = threading.Condition(self.lock)

    def open(self, kind, listener, sock):
        with self.lock:
            rec = [kind, listener, sock.getsockname()[1], 0, 0, 0, self.generation]
            self.conns.append(rec)
            return rec

    def sent_batch(self, rec, payload, n):
        with self.lock:
            rec[3] += len(payload)
            rec[4] += n
            self.sent += n

    def answered_batch(self, rec, tag, seqs):
        with self.changed:
            for q in seqs:
                if (tag, q) in self.answered:
                    self.duplicates.append((tag, q))
                self.answered.add((tag, q))
            rec[5] += len(seqs)
            self.progress[tag] += 1
            self.changed.notify_all()

    def error(self, text):
        with self.changed:
            self.errors.append(text)
            self.changed.notify_all()

    def wait_progress(self, tags, since, timeout):
        """Waits until every client in tags answered ROUNDS batches more than in since."""
        deadline = time.monotonic() + timeout * H.SLOW
        with self.changed:
            while not all(self.progress[t] >= since[t] + ROUNDS for t in tags):
                left = deadline - time.monotonic()
                if left <= 0 or self.errors:
                    return False
                self.changed.wait(left)
            return True


class Conn:
    """One client connection that sends numbered lines in batches and checks each reply."""

    def __init__(self, ledger, kind, tag, port, listener, handler, seq):
        self.ledger, self.tag, self.handler, self.seq = ledger, tag, handler, seq
        self.sock = H.connect(port, timeout=REPLY_TIMEOUT * H.SLOW)
        self.rec = ledger.open(kind, listener, self.sock)
        if handler == "hello":
            self.read_exactly(PROMPT, "the prompt")

    def read_exactly(self, want, what):
        got = b""
        self.sock.settimeout(REPLY_TIMEOUT * H.SLOW)
        while len(got) < len(want):
            try:
                chunk = self.sock.recv(len(want) - len(got))
            except OSError as e:
                raise AssertionError("%s: %s: %r after %r" % (self.tag, what, e, got[-80:]))
            if not chunk:
                raise AssertionError("%s: %s: EOF after %d of %d bytes (%r)"
                                     % (self.tag, what, len(got), len(want), got[-80:]))
            got += chunk
        if got != want:
            bad = next(i for i, (a, b) in enumerate(zip(got.split(b"\n"), want.split(b"\n")))
                       if a != b)
            raise AssertionError("%s: %s: line %d is %r, want %r" % (
                self.tag, what, bad, got.split(b"\n")[bad], want.split(b"\n")[bad]))

    def send(self, n):
        """Sends n numbered lines at once; returns their sequence numbers."""
        seqs = list(range(self.seq[0], self.seq[0] + n))
        self.seq[0] += n
        lines = [b"%s-%d" % (self.tag.encode(), q) for q in seqs]
        payload = b"".join(l + b"\n" for l in lines)
        self.sock.sendall(payload)
        self.ledger.sent_batch(self.rec, payload, n)
        return seqs, lines

    def check(self, seqs, lines):
        self.read_exactly(expected(self.handler, lines), "lines %d-%d" % (seqs[0], seqs[-1]))
        self.ledger.answered_batch(self.rec, self.tag, seqs)

    def batch(self, n=LINES_IN_FLIGHT):
        self.check(*self.send(n))

    def close(self):
        """Half-closes and reads EOF: a byte more would be a line answered twice."""
        self.sock.shutdown(socket.SHUT_WR)
        self.sock.settimeout(REPLY_TIMEOUT * H.SLOW)
        extra = self.sock.recv(4096)
        self.sock.close()
        if extra:
            raise AssertionError("%s: %r after the last reply" % (self.tag, extra[:80]))


class Client(threading.Thread):
    def __init__(self, ledger, kind, tag, port, listener, handler, stop, hand_over=None):
        super().__init__(daemon=True)
        self.ledger, self.kind, self.tag = ledger, kind, tag
        self.port, self.listener, self.handler = port, listener, handler
        self.stop, self.hand_over = stop, hand_over
        self.seq = [0]
        self.connected = threading.Event()

    def conn(self):
        return Conn(self.ledger, self.kind, self.tag, self.port, self.listener, self.handler,
                    self.seq)

    def run(self):
        try:
            getattr(self, "run_" + self.kind.replace("-", "_"))()
        except Exception as e:  # noqa: BLE001 -- refused, reset, wrong reply: all failures
            self.ledger.error("%s (%s): %r" % (self.tag, self.kind, e))
        finally:
            self.connected.set()

    def run_long_lived(self):
        c = self.conn()
        for _ in range(100000):
            if self.stop.is_set():
                break
            c.batch()
        c.close()

    def run_reconnecting(self):
        for _ in range(100000):
            if self.stop.is_set():
                break
            conns = [self.conn() for _ in range(LINES_IN_FLIGHT)]
            sent = [c.send(1) for c in conns]
            for c, s in zip(conns, sent):
                c.check(*s)
                c.close()
            with self.ledger.changed:  # a round done
                self.ledger.progress[self.tag + "/round"] += 1
                self.ledger.changed.notify_all()

    def run_pre_reload(self):
        c = self.conn()
        self.connected.set()
        if not self.hand_over.wait(30 * H.SLOW):
            raise AssertionError("the reload never finished")
        for _ in range(3):
            c.batch()
        c.close()

    def run_mid_reload(self):
        c = self.conn()
        c.batch()
        if not self.hand_over.wait(30 * H.SLOW):
            raise AssertionError("the reload never finished")
        c.batch()
        c.batch()
        c.close()


def generations(log, listeners):
    """{(listener, local port): [generation, ...]} in accept order, from the debug log."""
    gen_of = {int(p): int(g) for p, g in
              re.findall(r"worker \d+ started \(pid (\d+), generation (\d+)\)", log)}
    by_conn = collections.defaultdict(list)
    for pid, name, port in re.findall(
            r"ksockd\[(\d+)\] debug: (\w+): peer 127\.0\.0\.1:(\d+): connection \d+ accepted", log):
        if name in listeners:
            by_conn[(name, int(port))].append(gen_of[int(pid)])
    return by_conn


def bytes_in(log, listeners):
    """{(listener, local port): [bytes received, ...]} in close order, from the debug log."""
    out = collections.defaultdict(list)
    for name, port, n in re.findall(
            r"debug: (\w+): peer 127\.0\.0\.1:(\d+): connection \d+ closed \([^)]*\) "
            r"after [\d.]+ s: in (\d+) bytes", log):
        if name in listeners:
            out[(name, int(port))].append(int(n))
    return out


class ReloadAccounting(unittest.TestCase):
    def test_every_line_across_ten_reloads_is_answered_exactly_once(self):
        lst = [H.listener("h", "hello"), H.listener("e", "echo", reuseport=True)]
        handlers = {"h": "hello", "e": "echo"}
        d = H.Daemon(lst, workers=2, shutdown_timeout=60, log_level="debug")
        ledger, stop, t0 = Ledger(), threading.Event(), time.monotonic()
        clients = []

        def start(kind, n, hand_over=None):
            new = []
            for name in handlers:
                for i in range(n):
                    tag = "%s%s%d" % (kind[0], name, len(clients) + len(new))
                    new.append(Client(ledger, kind, tag, d.port(name), name, handlers[name],
                                      stop, hand_over))
            for c in new:
                c.start()
            clients.extend(new)
            return new

        try:
            steady = start("long-lived", LONG_LIVED) + start("reconnecting", RECONNECTING)
            tags = [c.tag + ("/round" if c.kind == "reconnecting" else "") for c in steady]
            rejected = 0
            for n in range(1, ACCEPTED + 1):
                self.assertTrue(ledger.wait_progress(tags, collections.Counter(ledger.progress),
                                                     PROGRESS_TIMEOUT),
                                "clients made no progress before reload %d: %s"
                                % (n, ledger.errors))
                d.write_config(lst, **d.globals)
                hand_over = threading.Event()
                for c in start("pre-reload", PRE_RELOAD, hand_over):
                    self.assertTrue(c.connected.wait(10 * H.SLOW), "%s never connected" % c.tag)
                d.signal(signal.SIGHUP)
                start("mid-reload", MID_RELOAD, hand_over)
                d.notify.wait_for(lambda m: "RELOADING=1" in m, 15, alive=d.alive)
                m = d.notify.wait_for(lambda m: "READY=1" in m, 15, alive=d.alive)
                self.assertNotIn("reload rejected", m)
                with ledger.lock:
                    ledger.generation = n + 1
                hand_over.set()
                start("long-lived", 1)  # on the new generation, then draining, to the end
                if n in REJECTED_AFTER:
                    with open(d.conf_path, "a") as f:
                        f.write("this is not valid;\n")
                    d.reload(expect_ok=False)
                    rejected += 1
            self.assertTrue(ledger.wait_progress(tags, collections.Counter(ledger.progress), PROGRESS_TIMEOUT),
                            "clients made no progress after the last reload: %s" % ledger.errors)
            stop.set()
            for c in clients:
                c.join(60 * H.SLOW)
                self.assertFalse(c.is_alive(), "client %s hangs" % c.tag)
            self.assertEqual(ledger.errors, [])
            self.account(d, ledger, set(handlers), rejected, time.monotonic() - t0)
        finally:
            stop.set()
            d.kill()

    def account(self, d, ledger, listeners, rejected, secs):
        conns = ledger.conns
        d.wait_log(r": connection \d+ closed", count=len(conns))
        log = d.log()
        self.assertEqual(len(re.findall(r"reload \d+: all 2 new worker\(s\) ready", log)),
                         ACCEPTED)
        self.assertEqual(len(re.findall(r"reload rejected", log)), rejected)
        gens, received = generations(log, listeners), bytes_in(log, listeners)
        per_gen = collections.Counter()
        per_kind = collections.defaultdict(lambda: [0, 0, 0])
        seen = collections.Counter()
        for kind, name, port, nbytes, sent, answered, serving in conns:
            key = (name, port)
            i = seen[key]
            seen[key] += 1
            self.assertLess(i, len(gens[key]), "no accept logged for %s:%d" % key)
            per_gen[gens[key][i]] += answered
            if kind == "pre-reload" and name == "h":  # it read its prompt before the SIGHUP
                self.assertEqual(gens[key][i], serving, "%s:%d: not accepted by the "
                                 "generation about to drain" % key)
            self.assertEqual(received[key][i], nbytes,
                             "%s:%d: the daemon received other bytes than were sent" % key)
            k = per_kind[kind]
            k[0] += 1
            k[1] += sent
            k[2] += answered
        answered = sum(k[2] for k in per_kind.values())
        print("\nreload accounting: %d accepted and %d rejected reloads in %.1f s, "
              "%d connections" % (ACCEPTED, rejected, secs, len(conns)))
        print("  %-13s %8s %8s %8s" % ("client", "conns", "sent", "answered"))
        for kind, (nc, s, a) in sorted(per_kind.items()):
            print("  %-13s %8d %8d %8d" % (kind, nc, s, a))
        print("  %-13s %8d %8d %8d" % ("total", len(conns), ledger.sent, answered))
        print("  lines answered per generation (of the accepting worker): " +
              ", ".join("%d: %d" % g for g in sorted(per_gen.items())))
        self.assertEqual(ledger.duplicates, [])
        self.assertEqual(answered, ledger.sent)
        self.assertEqual(len(ledger.answered), ledger.sent)
        self.assertEqual(sorted(per_gen), list(range(1, ACCEPTED + 2)),
                         "every generation must serve lines")
        self.assertTrue(all(v > 0 for v in per_gen.values()), per_gen)


if __name__ == "__main__":
    unittest.main(verbosity=2)
