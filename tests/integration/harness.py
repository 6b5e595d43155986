"""harness.py: starts the real ksockd for integration tests and talks to it.

The harness plays the service manager: it binds its own NOTIFY_SOCKET and
waits for READY=1 instead of sleeping. Every daemon it starts runs in its own
process group and is stopped on every way out: at exit (atexit), when the
test is stopped by SIGTERM, SIGINT or SIGHUP (tests/run-test's time limit:
every daemon's group is killed), and when the test process dies outright
(the master gets SIGKILL from PR_SET_PDEATHSIG, its workers SIGTERM from
theirs).

Ports: listener() picks a free port below the kernel's ephemeral range, so
no client connection can take it between the pick and the daemon's bind; a
daemon that still loses the race (EADDRINUSE at start) is started again on
newly picked ports.

Every wait on the daemon (READY=1, reload, log lines, notify messages) is
multiplied by SLOW: 10 under valgrind, 3 in a sanitizer build.

Memory checkers: every daemon runs with ASAN_OPTIONS/UBSAN_OPTIONS pointing
their reports into its own directory (harmless in a plain build). With
KSOCKD_VALGRIND=1 it runs under valgrind, one log per process. When a daemon
is stopped, any non-empty report fails the test (and the whole script's exit
status), so a worker's leak or overflow cannot hide behind a passing reply.
"""
import atexit
import ctypes
import os
import random
import re
import select
import shutil
import signal as sigmod
import socket
import subprocess
import sys
import tempfile
import threading
import time

KSOCKD = os.environ.get("KSOCKD", os.path.join(os.path.dirname(__file__), "..", "..", "ksockd"))
VALGRIND = os.environ.get("KSOCKD_VALGRIND", "") not in ("", "0")
SANITIZED = os.environ.get("KSOCKD_SANITIZED", "") == "yes"
# Timeouts of tests that wait on the daemon are multiplied by this (valgrind is slow).
SLOW = float(os.environ.get("KSOCKD_SLOW", "10" if VALGRIND else "3" if SANITIZED else "1"))
SUPP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")  # *.supp files
_started = []
BIND_ATTEMPTS = 3  # starts of a daemon whose picked port another process took first
_reports = []  # memory-checker reports found, for the exit status
_dirs = []  # daemons' directories (config, log, reports), removed at exit


def _cleanup():
    for d in list(_started):
        try:
            d.kill()
        except AssertionError:
            pass
    for d in _dirs if not _reports else []:  # keep everything when there is a report
        shutil.rmtree(d, ignore_errors=True)
    if _reports:
        sys.stderr.write("harness: %d memory-checker report(s) found\n" % len(_reports))
        sys.stderr.flush()
        os._exit(1)


atexit.register(_cleanup)


def _on_signal(sig, _frame):
    """The test is being stopped (a time limit, ^C): kill every daemon's group at once (no
    leak check: the run has failed anyway) and exit; unittest would catch an exception."""
    for d in list(_started):
        try:
            os.killpg(d.pid, sigmod.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    sys.stderr.write("harness: %s: killed %d daemon(s)\n" % (sigmod.Signals(sig).name,
                                                            len(_started)))
    sys.stderr.flush()
    os._exit(128 + sig)


for _sig in (sigmod.SIGTERM, sigmod.SIGINT, sigmod.SIGHUP):
    if sigmod.getsignal(_sig) in (sigmod.SIG_DFL, sigmod.default_int_handler):
        sigmod.signal(_sig, _on_signal)

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(then=None):
    """A preexec_fn: the child gets SIGKILL when the thread that started it ends (the harness
    starts daemons from the main thread only, whose end is the test process's end)."""
    def preexec():
        _libc.prctl(_PR_SET_PDEATHSIG, sigmod.SIGKILL, 0, 0, 0)
        if then:
            then()
    return preexec


def checker_env(report_dir):
    """Environment making ASan/UBSan/LSan write one file per process into report_dir."""
    return {
        "ASAN_OPTIONS": "log_path=%s/asan:detect_leaks=1:abort_on_error=0:exitcode=23"
                        % report_dir,
        "UBSAN_OPTIONS": "log_path=%s/ubsan:print_stacktrace=1:halt_on_error=1" % report_dir,
        "LSAN_OPTIONS": "log_path=%s/lsan:print_suppressions=0:suppressions=%s"
                        % (report_dir, os.path.join(SUPP_DIR, "lsan.supp")),
    }


def valgrind_argv(report_dir):
    return ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99", "--trace-children=yes", "--vgdb=no",
            "--suppressions=%s" % os.path.join(SUPP_DIR, "valgrind.supp"),
            "--log-file=%s/vg.%%p" % report_dir]


def checker_reports(report_dir):
    """Non-empty report files in report_dir, as {name: text}."""
    out = {}
    for name in sorted(os.listdir(report_dir)):
        path = os.path.join(report_dir, name)
        if os.path.getsize(path) > 0:
            with open(path, "rb") as f:
                out[name] = f.read().decode(errors="replace")
    return out


def _port_range():
    """Ports free_port picks from: from 10000 up to the start of the ephemeral range, where
    the kernel never puts a client's source port (nor a bind to port 0)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (10000, low) if low > 11000 else (1024, 10000)


PORT_RANGE = _port_range()
_picked = set()  # ports free_port handed out, never handed out twice by this process
_rng = random.Random(os.getpid() ^ int(time.time() * 1e6))


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port free right now on host, outside the ephemeral range and not handed out before by
    this process (a daemon started on it may still lose it to another test process: Daemon
    starts again on new ports then)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(1000):
        port = _rng.randrange(*PORT_RANGE)
        if port in _picked:
            continue
        with socket.socket(fam, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _picked.add(port)
        return port
    raise AssertionError("no free port in %d..%d on %s" % (PORT_RANGE + (host,)))


def listener(name, handler="echo", protocol="tcp", address="127.0.0.1", port=None, **extra):
    d = dict(name=name, protocol=protocol, address=address,
             port=port or free_port(socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM,
                                    address),
             handler=handler)
    d["_picked"] = port is None  # the harness chose the port: it may choose another
    d.update(extra)
    return d


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(listeners, **globals_):
    if os.geteuid() == 0:
        globals_.setdefault("user", "nobody")
        globals_.setdefault("group", "nogroup")
    globals_.setdefault("workers", 2)
    globals_.setdefault("log_level", "info")
    out = ["%s = %s;" % (k, _value(v)) for k, v in globals_.items() if v is not None]
    items = []
    for l in listeners:
        items.append("  { " + " ".join("%s = %s;" % (k, _value(v)) for k, v in l.items()
                                       if not k.startswith("_")) + " }")
    out.append("listeners = (\n" + ",\n".join(items) + "\n);")
    return "\n".join(out) + "\n"


class Notify:
    """An AF_UNIX datagram socket playing systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def wait_for(self, pred, timeout=10.0, alive=None):
        """The first message pred accepts (earlier ones are dropped), within timeout * SLOW
        seconds; alive() false (the sender exited) ends the wait early."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            for i, m in enumerate(self.messages):
                if pred(m):
                    del self.messages[: i + 1]
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching notify message; got %r" % self.messages)
            r, _, _ = select.select([self.sock], [], [], min(left, 0.5))
            if r:
                self.messages.append(self.sock.recv(4096).decode())
            elif alive and not alive():
                raise TimeoutError("the daemon exited; notify messages: %r" % self.messages)

    def close(self):
        self.sock.close()


class Daemon:
    """A running ksockd on a generated config."""

    def __init__(self, listeners, env=None, wait_ready=True, preexec=None, wrap=None, args=None,
                 **globals_):
        self.dir = tempfile.mkdtemp(prefix="ksockd-test-")
        _dirs.append(self.dir)
        self.conf_path = os.path.join(self.dir, "ksockd.conf")
        self.listeners = {l["name"]: l for l in listeners}
        self.globals = globals_
        self.write_config(listeners, **globals_)
        self.log_path = os.path.join(self.dir, "ksockd.log")
        self.notify = Notify(os.path.join(self.dir, "notify"))
        e = dict(os.environ)
        e["NOTIFY_SOCKET"] = self.notify.path
        e.pop("JOURNAL_STREAM", None)
        # Workers drop privileges: their reports must be writable by them too.
        os.chmod(self.dir, 0o711)
        self.report_dir = os.path.join(self.dir, "reports")
        os.mkdir(self.report_dir)
        os.chmod(self.report_dir, 0o1777)
        e.update(checker_env(self.report_dir))
        e.update(env or {})
        # wrap: a command that execs ksockd (an activator), so self.pid stays the master's.
        argv = [KSOCKD, "-f", "-c", self.conf_path] + list(args or [])
        if VALGRIND:
            argv = valgrind_argv(self.report_dir) + argv
        self.argv = list(wrap or []) + argv
        self.env = e
        self.preexec = preexec
        if threading.current_thread() is threading.main_thread():
            self.preexec = _die_with_parent(preexec)
        self._start()
        for attempt in range(BIND_ATTEMPTS):
            if not wait_ready:
                return
            try:
                self.wait_ready()
                return
            except AssertionError:
                if attempt + 1 == BIND_ATTEMPTS or not self._lost_port_race():
                    raise
            self._restart_on_new_ports()

    def _start(self):
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True, preexec_fn=self.preexec)
        _started.append(self)

    def _lost_port_race(self):
        """True if the daemon exited before READY=1 because a port the harness picked was
        taken in the meantime (by another test process)."""
        if self.alive():
            return False
        picked = [l for l in self.listeners.values() if l.get("_picked")]
        return any("listener '%s': cannot bind" % l["name"] in self.log()
                   and "Address already in use" in self.log() for l in picked)

    def _restart_on_new_ports(self):
        self.kill()
        sys.stderr.write("harness: a picked port was taken before ksockd bound it; "
                         "starting again on new ports\n")
        for l in self.listeners.values():
            if l.get("_picked"):
                l["port"] = free_port(socket.SOCK_DGRAM if l["protocol"] == "udp"
                                      else socket.SOCK_STREAM, l["address"])
        self.write_config(list(self.listeners.values()), **self.globals)
        self.notify = Notify(self.notify.path + "1")
        self.env["NOTIFY_SOCKET"] = self.notify.path
        self._start()

    def alive(self):
        return self.proc.poll() is None

    def write_config(self, listeners, **globals_):
        with open(self.conf_path, "w") as f:
            f.write(render_config(listeners, **globals_))

    def wait_ready(self, timeout=10.0):
        try:
            self.notify.wait_for(lambda m: "READY=1" in m, timeout, alive=self.alive)
        except TimeoutError:
            raise AssertionError("ksockd did not become ready; log:\n" + self.log())

    @property
    def pid(self):
        return self.proc.pid

    def port(self, name):
        return self.listeners[name]["port"]

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, timeout=10.0, count=1):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            found = re.findall(pattern, self.log())
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError("log never matched %r; log:\n%s" % (pattern, self.log()))
            time.sleep(0.05)

    def workers(self):
        """PIDs of the master's live children (from /proc)."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[1]) == self.pid and fields[0] != "Z":
                pids.append(int(d))
        return sorted(pids)

    def signal(self, sig):
        os.kill(self.pid, sig)

    def reload(self, listeners=None, expect_ok=True, timeout=15.0, **globals_):
        if listeners is not None:
            self.listeners = {l["name"]: l for l in listeners}
            g = dict(self.globals)
            g.update(globals_)
            self.write_config(listeners, **g)
        self.signal(sigmod.SIGHUP)
        self.notify.wait_for(lambda m: "RELOADING=1" in m, timeout, alive=self.alive)
        m = self.notify.wait_for(lambda m: "READY=1" in m, timeout, alive=self.alive)
        rejected = "reload rejected" in m
        if expect_ok and rejected:
            raise AssertionError("reload rejected: %s\n%s" % (m, self.log()))
        if not expect_ok and not rejected:
            raise AssertionError("reload unexpectedly accepted")
        return m

    def stop(self, sig=sigmod.SIGTERM, timeout=15.0):
        """Sends sig and waits; returns the exit status."""
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
        try:
            return self.proc.wait(timeout * SLOW)
        finally:
            self.kill()

    def kill(self):
        """Stops the daemon at once (SIGQUIT, so every process exits through exit() and
        the leak checkers run; SIGKILL if it hangs), then fails on any checker report."""
        if self not in _started:
            return
        _started.remove(self)
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sigmod.SIGQUIT)
                self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        try:  # the master if it hung, and workers left behind, if any
            os.killpg(self.pid, sigmod.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self._wait_group_gone()
        self.notify.close()
        self.logf.close()
        reports = checker_reports(self.report_dir)
        m = re.search(r"(ERROR: (Can't open file|\w+Sanitizer)|runtime error:).*", self.log())
        if m:
            reports["daemon log"] = m.group(0)
        if reports:
            _reports.append(reports)
            raise AssertionError("memory checker reports:\n" + "\n".join(
                "== %s ==\n%s" % kv for kv in reports.items()) + "\nlog:\n" + self.log())

    def _wait_group_gone(self, timeout=10.0):
        """Waits until no process of the daemon's group is left (their reports are complete)."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.02)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def connect(port, host="127.0.0.1", timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    return s


def recv_until(sock, n_lines=1, timeout=5.0, terminator=b"\n"):
    """Reads until n_lines terminators arrived (or EOF); returns bytes."""
    sock.settimeout(timeout)
    buf = b""
    while buf.count(terminator) < n_lines:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def recv_all(sock, timeout=5.0):
    """Reads until EOF."""
    sock.settimeout(timeout)
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return buf
        buf += chunk


# Linux's number for it (Python 3.11's time module does not name it).
CLOCK_REALTIME_COARSE = getattr(time, "CLOCK_REALTIME_COARSE", 5)


def clock_before():
    """Our clock, read before asking a server for the time: the coarse clock,
    which time(2) reads (daytime in ksockd and in inetd). It lags
    gettimeofday's by up to a tick after each second begins, so a server
    reading either clock after this never reads less."""
    return time.clock_gettime(CLOCK_REALTIME_COARSE)


def assert_clock_between(test, seconds, t0, t1):
    """seconds is a server's clock in whole seconds, truncated (RFC 868 time,
    daytime, rdate), read between t0 = clock_before() (or time.time(), for a
    server that must read gettimeofday's clock) and t1 = time.time(): so no
    lower than int(t0), up to a second below t0, and never above t1.
    An allowance of "within a second of now" instead fails whenever the
    answer straddles a second's end."""
    test.assertLessEqual(int(t0), seconds)
    test.assertLessEqual(seconds, t1)


def stats_query(port, cmd=b"stats", timeout=5.0):
    """Sends one command to a `stats` listener; returns its reply up to the empty line."""
    with connect(port) as s:
        s.sendall(cmd + b"\n")
        s.settimeout(timeout * SLOW)
        buf = b""
        while not buf.endswith(b"\n\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf.decode()


def stats_values(port):
    """The `stats` reply as {line key: value}, summed over workers by the daemon."""
    out = {}
    for line in stats_query(port).splitlines():
        if line:
            k, v = line.rsplit(" ", 1)
            out[k] = int(v)
    return out


def instrumented(pid):
    """True if pid runs under ASan or valgrind, whose own memory use hides ksockd's."""
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()
    return VALGRIND or "libasan" in maps or "vgpreload" in maps


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])
