"""lb.py: runs the real HAProxy (Debian's haproxy 2.6) in front of ksockd for
tests, on the configuration shipped in conf/haproxy-example.cfg (the one the
doc/LOAD_BALANCERS.md shows), with its @PLACEHOLDERS@ filled in."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

SRCDIR = os.environ.get("KSOCKD_SRCDIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLE = os.path.join(SRCDIR, "conf", "haproxy-example.cfg")
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def available():
    return os.path.exists(HAPROXY)


def render(front, k1, k2, health_port, send_proxy, stats):
    with open(EXAMPLE) as f:
        text = f.read()
    subs = {"@FRONT@": front, "@K1@": k1, "@K2@": k2, "@HEALTH_PORT@": str(health_port),
            "@SEND_PROXY@": send_proxy, "@STATS@": stats}
    for k, v in subs.items():
        text = text.replace(k, v)
    assert "@" not in text.split("global", 1)[1], "unfilled placeholder"
    return text


def stats_command(path, cmd, timeout=5.0):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(cmd.encode() + b"\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out.decode()
            out += chunk


class HAProxy:
    """haproxy -db -f FILE, optionally inside a network namespace (prefix)."""

    def __init__(self, front, k1, k2, health_port, send_proxy="send-proxy-v2", prefix=()):
        self.dir = tempfile.mkdtemp(prefix="ksockd-haproxy-")
        self.stats = os.path.join(self.dir, "stats.sock")
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(render(front, k1, k2, health_port, send_proxy, self.stats))
        self.log_path = os.path.join(self.dir, "haproxy.log")
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(list(prefix) + [HAPROXY, "-db", "-f", self.cfg],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def servers(self):
        """{server name: (operational state, check status)}; state 2 is UP, 0 DOWN."""
        out = stats_command(self.stats, "show servers state ksockd")
        res = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) > 10 and not line.startswith("#") and f[1] == "ksockd":
                res[f[3]] = int(f[5])
        return res

    def wait_servers(self, want, timeout=15.0):
        """Waits until servers() == want (e.g. {"k1": 2, "k2": 2})."""
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("haproxy exited:\n" + self.log())
            try:
                got = self.servers()
                if got == want:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("haproxy servers %r, want %r; log:\n%s" % (got, want, self.log()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
