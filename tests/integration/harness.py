"""harness.py: starts the real ksockd for integration tests and talks to it.

The harness plays the service manager: it binds its own NOTIFY_SOCKET and
waits for READY=1 instead of sleeping. Every daemon it starts runs in its own
process group and is stopped at exit, even when a test fails.

Memory checkers: every daemon runs with ASAN_OPTIONS/UBSAN_OPTIONS pointing
their reports into its own directory (harmless in a plain build). With
KSOCKD_VALGRIND=1 it runs under valgrind, one log per process. When a daemon
is stopped, any non-empty report fails the test (and the whole script's exit
status), so a worker's leak or overflow cannot hide behind a passing reply.
"""
import atexit
import os
import re
import select
import shutil
import signal as sigmod
import socket
import subprocess
import sys
import tempfile
import time

KSOCKD = os.environ.get("KSOCKD", os.path.join(os.path.dirname(__file__), "..", "..", "ksockd"))
VALGRIND = os.environ.get("KSOCKD_VALGRIND", "") not in ("", "0")
# Timeouts of tests that wait on the daemon are multiplied by this (valgrind is slow).
SLOW = float(os.environ.get("KSOCKD_SLOW", "10" if VALGRIND else "1"))
SUPP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")  # *.supp files
_started = []
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


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port that is free right now on host (bind to 0, read it, close)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listener(name, handler="echo", protocol="tcp", address="127.0.0.1", port=None, **extra):
    d = dict(name=name, protocol=protocol, address=address,
             port=port or free_port(socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM,
                                    address),
             handler=handler)
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
        items.append("  { " + " ".join("%s = %s;" % (k, _value(v)) for k, v in l.items()) + " }")
    out.append("listeners = (\n" + ",\n".join(items) + "\n);")
    return "\n".join(out) + "\n"


class Notify:
    """An AF_UNIX datagram socket playing systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def wait_for(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.messages):
                if pred(m):
                    del self.messages[: i + 1]
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching notify message; got %r" % self.messages)
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                self.messages.append(self.sock.recv(4096).decode())

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
        self.logf = open(self.log_path, "wb")
        # wrap: a command that execs ksockd (an activator), so self.pid stays the master's.
        argv = [KSOCKD, "-f", "-c", self.conf_path] + list(args or [])
        if VALGRIND:
            argv = valgrind_argv(self.report_dir) + argv
        argv = list(wrap or []) + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=e,
                                     start_new_session=True, preexec_fn=preexec)
        _started.append(self)
        if wait_ready:
            self.wait_ready()

    def write_config(self, listeners, **globals_):
        with open(self.conf_path, "w") as f:
            f.write(render_config(listeners, **globals_))

    def wait_ready(self, timeout=10.0):
        try:
            self.notify.wait_for(lambda m: "READY=1" in m, timeout * SLOW)
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
        deadline = time.monotonic() + timeout
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
        self.notify.wait_for(lambda m: "RELOADING=1" in m, timeout)
        m = self.notify.wait_for(lambda m: "READY=1" in m, timeout)
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
