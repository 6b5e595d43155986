#!/usr/bin/env python3
"""bench/run.py: `make bench`. Starts ksockd and the reference servers one at a
time on loopback, the server pinned to CPU 0 and `ksock bench` to CPU 1, runs
the same workloads against each, and prints one table (every figure and its
ratio to the reference of its row) and writes it as JSON to bench/results/.

Figures only: nothing here asserts a target. Run from the build directory:
    bench/run.py [--runs N] [--secs S] [--quick] [--out FILE]
Servers (see README, "Performance"):
  ksockd-1w, ksockd-2w   ksockd, workers = 1 and 2, echo handler
  ref                    bench/refecho: epoll, writes back whole reads
  ref-framed             bench/refecho -f: frames with memchr, writes the
                         complete lines of each read in one call
  redis                  redis-server, inline PING -> +PONG (no persistence)
  socat                  socat TCP-LISTEN:P,fork PIPE (a process per client)
  refudp                 bench/refudp: recvmmsg/sendmmsg echo (UDP row only)
  nginx, gnutls-serv     TLS rows (see tls_servers())
  exec rows (see exec_rows()): a program per connection (tests/exec/xprog line:
  read one line, write it back, exit) under ksockd handler exec, xinetd,
  systemd-socket-activate -a --inetd and socat EXEC:. xinetd Conflicts with
  openbsd-inetd (which the tests use), so it is never installed here: set
  XINETD to a binary (apt-get download xinetd; dpkg-deb -x xinetd_*.deb DIR;
  XINETD=DIR/usr/sbin/xinetd) or have xinetd on PATH; otherwise its column
  says n/a.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart  # noqa: E402  (bench/chart.py)

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TCK = os.sysconf("SC_CLK_TCK")
LINE64 = ["-s", "64"]
REDIS_LINE = ["-l", "PING", "--expect", "+PONG\r"]


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def proc_tree(root):
    """root and all its descendants, from /proc."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ticks(root):
    """utime+stime of root's tree, plus the reaped children of each (socat fork)."""
    total = 0
    for p in proc_tree(root):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except OSError:
            pass
    return total


def pss(root):
    total = 0
    for p in proc_tree(root):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                m = re.search(r"^Pss:\s+(\d+) kB", f.read(), re.M)
                total += int(m.group(1)) * 1024
        except OSError:
            pass
    return total


class Server:
    """One server under test, pinned to CPU 0."""

    def __init__(self, name, cmd, port, udp=False, wrap=None, cwd=None, stop_wait=10):
        self.name, self.port, self.udp, self.stop_wait = name, port, udp, stop_wait
        argv = (wrap or ["taskset", "-c", "0"]) + cmd
        # stderr to a file, never a pipe nobody reads (gnutls-serv logs every line it echoes).
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err, preexec_fn=raise_nofile, cwd=cwd)
        self.wait_ready(30 if wrap else 10)

    def wait_ready(self, limit):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.err.seek(0)
                raise RuntimeError("%s exited: %s" % (self.name, self.err.read()[-500:].decode()))
            if self.udp:
                out = subprocess.run(["ss", "-uln", "sport = :%d" % self.port],
                                     capture_output=True, text=True).stdout
                if str(self.port) in out:
                    return
            else:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("%s: not listening after %d s" % (self.name, limit))

    def root(self):
        """The server's own pid (under taskset, taskset has exec'd it)."""
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_wait)
            except subprocess.TimeoutExpired:
                for p in reversed(proc_tree(self.proc.pid)):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait(5)
        self.err.close()


def ksockd_conf(d, workers, tcp, udp=None, tls=None):
    path = os.path.join(d, "ksockd-%d.conf" % workers)
    ls = ['{ name = "echo"; protocol = "tcp"; address = "127.0.0.1"; port = %d; '
          'handler = "echo"; backlog = 4096; }' % tcp]
    if udp:
        ls.append('{ name = "udp"; protocol = "udp"; address = "127.0.0.1"; port = %d; '
                  'handler = "echo"; }' % udp)
    if tls:
        ls.append('{ name = "tls"; protocol = "tls"; address = "127.0.0.1"; port = %d; '
                  'handler = "echo"; certificate = "%s"; key = "%s"; }' % tls)
    with open(path, "w") as f:
        f.write('workers = %d;\nuser = "nobody";\ngroup = "nogroup";\nlog_level = "err";\n'
                'shutdown_timeout = 1.0;\nmax_connections = 30000;\nmax_connections_per_source = 0;\n'
                'udp_rate = 0;\nlisteners = (\n  %s\n);\n' % (workers, ",\n  ".join(ls)))
    return path


def bench(port, args, secs=None, n=None):
    cmd = ["taskset", "-c", "1", os.path.abspath("ksock"), "bench", "-q", "--json", "-t", "10"]
    cmd += ["-d", str(secs)] if secs else ["-n", str(n)]
    cmd += args + ["127.0.0.1", str(port)]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=(secs or 60) + 60)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in r.stdout.splitlines() if x.startswith("{")), None)
    if line is None:
        raise RuntimeError("ksock bench failed: %s" % r.stderr[-300:])
    j = json.loads(line)
    # The load generator's own CPU time: below 100% of its run, it waited for the server.
    j["client_cpu"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return j


# Workloads: name -> (ksock bench arguments, figures taken from its JSON).
WORKLOADS = [
    ("latency", ["-c", "1", "-P", "1"]),
    ("c50", ["-c", "50", "-P", "1"]),
    ("pipelined", ["-c", "50", "-P", "32"]),
    ("many", ["-c", "1000", "-P", "1"]),
    ("connect", ["-m", "connect", "-c", "50"]),
]


def run_tcp(srv, payload, secs, into):
    """Every TCP workload against srv; appends one sample per figure to into."""
    for name, args in WORKLOADS:
        c0 = cpu_ticks(srv.root())
        j = bench(srv.port, args + payload, secs=secs)
        c1 = cpu_ticks(srv.root())
        err = j["errors"]["total"]
        rate = j["lines_per_sec"] if name != "connect" else j["ok"] / max(j["seconds"], 1e-3)
        add(into, name + " lines/s", rate)
        if name in ("latency", "c50", "many"):
            add(into, name + " p50 us", j["latency_us"]["p50"])
            add(into, name + " p99 us", j["latency_us"]["p99"])
        if name == "pipelined":
            add(into, "pipelined MB/s", j["mb_per_sec"])
            add(into, "pipelined server CPU ns/line", (c1 - c0) / TCK * 1e9 / max(j["ok"], 1))
            add(into, "pipelined ksock CPU %", 100 * j["client_cpu"] / j["seconds"])
        if err:
            add(into, name + " errors", err)
            print("bench: %s %s: %d error(s), first: %s" % (srv.name, name, err, j["first_error"]),
                  file=sys.stderr)


def add(into, key, value):
    into.setdefault(key, []).append(value)


def idle_memory(srv, count):
    """PSS bytes per idle connection: count connections, each after one echo."""
    base = pss(srv.root())
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            socks.append(s)
        for s in socks:
            s.sendall(b"PING\r\n")
        for s in socks:
            if not s.recv(64):
                raise RuntimeError("%s closed an idle connection" % srv.name)
        time.sleep(0.5)  # let the allocator settle
        return (pss(srv.root()) - base) / count
    finally:
        for s in socks:
            s.close()


def udp_rate(srv, secs, into):
    j = bench(srv.port, ["-m", "udp", "-c", "16", "-P", "16"] + LINE64, secs=secs)
    add(into, "udp datagrams/s", j["lines_per_sec"])


def callgrind_total(d):
    total = 0
    for f in os.listdir(d):
        if f.startswith("callgrind.out"):
            with open(os.path.join(d, f)) as fh:
                for line in fh:
                    m = re.match(r"(?:summary|totals): (\d+)", line)
                    if m:
                        total += int(m.group(1))
                        break
    return total


def instructions_per_line(make_cmd, payload, n):
    """Server user-space instructions per line: (Ir(3n) - Ir(n)) / 2n under callgrind."""
    totals = []
    for lines in (n, 3 * n):
        d = tempfile.mkdtemp(prefix="ksock-cg-")
        os.chmod(d, 0o777)  # ksockd's workers write theirs as user nobody
        port = free_port()
        wrap = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                "--callgrind-out-file=%s/callgrind.out.%%p" % d]
        srv = Server("callgrind", make_cmd(port, d), port, wrap=wrap, stop_wait=30)
        try:
            bench(port, ["-c", "50", "-P", "32"] + payload, n=lines)
        finally:
            srv.stop()
        totals.append(callgrind_total(d))
        shutil.rmtree(d, ignore_errors=True)
    return (totals[1] - totals[0]) / (2 * n)


def ksockd_supports_tls(d, cert, key):
    """Does this ksockd accept a protocol = "tls" listener (ksockd -t)?"""
    path = ksockd_conf(d, 1, free_port(), tls=(free_port(), cert, key))
    r = subprocess.run([os.path.abspath("ksockd"), "-t", "-c", path], capture_output=True)
    return r.returncode == 0


def make_cert(d):
    """A self-signed ECDSA P-256 certificate for 127.0.0.1 (certtool)."""
    key, cert, tmpl = (os.path.join(d, n) for n in ("key.pem", "cert.pem", "cert.tmpl"))
    with open(tmpl, "w") as f:
        f.write("cn = 127.0.0.1\nip_address = 127.0.0.1\ntls_www_server\nsigning_key\n"
                "expiration_days = 30\n")
    for cmd in (["certtool", "--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1",
                 "--outfile", key],
                ["certtool", "--generate-self-signed", "--load-privkey", key, "--template", tmpl,
                 "--outfile", cert]):
        subprocess.run(cmd, check=True, capture_output=True)
    os.chmod(key, 0o644)  # workers read it as nobody in some servers
    return cert, key


def nginx_conf(d, port, echo_port, cert, key, handshake_only):
    """nginx stream, 2 workers. Handshake rows: `return` the line ksock sends
    (no upstream: the cheapest nginx can answer). Echo row: proxy_pass to
    bench/refecho -f on loopback (nginx cannot echo by itself)."""
    path = os.path.join(d, "nginx-%d.conf" % port)
    mod = "/usr/lib/nginx/modules/ngx_stream_module.so"
    act = 'return "ping\\n";' if handshake_only else "proxy_pass 127.0.0.1:%d;" % echo_port
    with open(path, "w") as f:
        f.write("load_module %s;\nworker_processes 2;\ndaemon off;\npid %s/nginx-%d.pid;\n"
                "error_log %s/nginx-error.log;\nevents { worker_connections 8192; }\n"
                "stream {\n server {\n  listen 127.0.0.1:%d ssl backlog=4096;\n"
                "  ssl_certificate %s;\n  ssl_certificate_key %s;\n"
                "  ssl_session_cache shared:S:10m;\n  %s\n }\n}\n"
                % (mod, d, port, d, port, cert, key, act))
    return path


TLS_WORKLOADS = [
    ("tls full handshakes/s", ["-m", "handshake", "-c", "50"]),
    ("tls resumed handshakes/s", ["-m", "resume", "-c", "50"]),
    ("tls echo lines/s", ["-m", "tls", "-c", "50", "-P", "32"] + LINE64),
]


def tls_rows(d, a):
    """TLS figures: ksockd-2w (if this ksockd has TLS), nginx, gnutls-serv."""
    res = {}
    if not shutil.which("certtool"):
        return res
    cert, key = make_cert(d)
    have_tls = ksockd_supports_tls(d, cert, key)
    print("bench: ksockd TLS listeners: %s" % ("yes" if have_tls else "no (n/a)"), file=sys.stderr)
    ksockd = os.path.abspath("ksockd")
    refecho = os.path.abspath("bench/refecho")
    servers = ["nginx", "gnutls-serv"] + (["ksockd-2w"] if have_tls else [])
    for _ in range(a.runs):
        for s in servers:
            for name, args in TLS_WORKLOADS:
                if s == "nginx" and not shutil.which("nginx"):
                    continue
                port, extra = free_port(), []
                if s == "ksockd-2w":
                    conf = ksockd_conf(d, 2, free_port(), tls=(port, cert, key))
                    srv = Server(s, [ksockd, "-f", "-c", conf], port)
                elif s == "gnutls-serv":
                    srv = Server(s, ["sh", "-c", 'exec "$@" 2>/dev/null', "gnutls-serv",
                                     "gnutls-serv", "--echo", "-q", "-p", str(port),
                                     "--x509certfile", cert, "--x509keyfile", key], port)
                else:
                    up = free_port()
                    if "echo" in name:
                        extra.append(Server("ref-framed", [refecho, "-f", str(up)], up))
                    conf = nginx_conf(d, port, up, cert, key, "echo" not in name)
                    srv = Server(s, ["nginx", "-e", "stderr", "-p", d, "-c", conf], port,
                                 stop_wait=15)
                try:
                    j = bench(port, args + ["--insecure"], secs=a.secs)
                    # Resumed: only the connections the server did resume count.
                    c = (j["resumed"] if "resumed" in name else j["ok"]) / max(j["seconds"], 1e-3)
                    c = c if "handshakes" in name else j["lines_per_sec"]
                    add(res.setdefault(s, {}), name, c)
                    if j["errors"]["total"]:
                        add(res[s], name.split("/")[0].replace(" lines", "") + " errors",
                            j["errors"]["total"])
                finally:
                    srv.stop()
                    for e in extra:
                        e.stop()
    if not have_tls:
        for name, _ in TLS_WORKLOADS:
            res.setdefault("ksockd-2w", {})[name] = [None]
    return res


def own_ticks(root):
    """utime+stime of root's tree only: the server's own CPU, not its reaped programs'."""
    total = 0
    for p in proc_tree(root):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def exec_servers(d, prog, port):
    """name -> argv of each server running prog per connection on port (None: missing)."""
    xinetd = os.environ.get("XINETD") or shutil.which("xinetd")
    xconf = os.path.join(d, "xinetd.conf")
    with open(xconf, "w") as f:
        f.write("defaults\n{\n  instances = UNLIMITED\n  per_source = UNLIMITED\n"
                "  cps = 1000000 1\n  log_on_success =\n  log_on_failure =\n}\n"
                "service xprog\n{\n  type = UNLISTED\n  socket_type = stream\n"
                "  protocol = tcp\n  wait = no\n  user = nobody\n  bind = 127.0.0.1\n"
                "  port = %d\n  server = %s\n  server_args = line\n  flags = REUSE\n}\n"
                % (port, prog))
    kconf = os.path.join(d, "ksockd-exec.conf")
    with open(kconf, "w") as f:
        f.write('workers = 1;\nuser = "nobody";\ngroup = "nogroup";\nlog_level = "err";\n'
                'shutdown_timeout = 1.0;\nmax_connections_per_source = 0;\nlisteners = (\n'
                '  { name = "x"; protocol = "tcp"; address = "127.0.0.1"; port = %d; '
                'handler = "exec"; exec = [ "%s", "line" ]; backlog = 4096; }\n);\n'
                % (port, prog))
    return {
        "ksockd-1w": [os.path.abspath("ksockd"), "-f", "-c", kconf],
        "xinetd": [xinetd, "-dontfork", "-filelog", os.path.join(d, "xinetd.log"), "-f", xconf]
        if xinetd else None,
        "systemd-sa": ["systemd-socket-activate", "-a", "--inetd", "-l",
                       "127.0.0.1:%d" % port, prog, "line"]
        if shutil.which("systemd-socket-activate") else None,
        "socat": ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,backlog=4096" % port,
                  "EXEC:%s line" % prog],
    }


def exec_rows(d, a):
    """A program per connection: connections/s, and CPU per connection of the server
    itself and of server plus programs (what fork+exec costs, which none can avoid)."""
    res = {}
    prog = os.path.abspath(os.path.join("tests", "exec", "xprog"))
    if not os.path.exists(prog):
        print("bench: %s missing (make tests/exec/xprog): no exec rows" % prog, file=sys.stderr)
        return res
    shutil.copy(prog, os.path.join(d, "xprog"))  # somewhere nobody can run it from
    os.chmod(d, 0o755)
    prog = os.path.join(d, "xprog")
    for _ in range(a.runs):
        for name in exec_servers(d, prog, 0):
            port = free_port()
            argv = exec_servers(d, prog, port)[name]
            if argv is None:
                res.setdefault(name, {}).setdefault("exec connections/s", []).append(None)
                continue
            # systemd-socket-activate accepts only after a first connection: wait_ready makes it.
            srv = Server(name, argv, port)
            try:
                c0, o0 = cpu_ticks(srv.root()), own_ticks(srv.root())
                j = bench(port, ["-m", "connect", "-c", "8", "-l", "exec-bench"], secs=a.secs)
                c1, o1 = cpu_ticks(srv.root()), own_ticks(srv.root())
                ok = max(j["ok"], 1)
                r = res.setdefault(name, {})
                add(r, "exec connections/s", j["ok"] / max(j["seconds"], 1e-3))
                add(r, "exec server own CPU us/conn", (o1 - o0) / TCK * 1e6 / ok)
                add(r, "exec server+programs CPU us/conn", (c1 - c0) / TCK * 1e6 / ok)
                if j["errors"]["total"]:
                    add(r, "exec errors", j["errors"]["total"])
                    print("bench: %s exec: %d error(s), first: %s" % (
                        name, j["errors"]["total"], j["first_error"]), file=sys.stderr)
            finally:
                srv.stop()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--secs", type=float, default=2.0)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--cg-lines", type=int, default=32000)
    ap.add_argument("--quick", action="store_true", help="1 run, 1 s, 2000 idle")
    ap.add_argument("--out", default=None)
    ap.add_argument("--only-exec", action="store_true", help="the exec rows only")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.secs, a.idle, a.cg_lines = 1, 1.0, 2000, 16000
    raise_nofile()
    t0 = time.monotonic()
    d = tempfile.mkdtemp(prefix="ksock-bench-")
    ksockd = os.path.abspath("ksockd")
    refecho, refudp = os.path.abspath("bench/refecho"), os.path.abspath("bench/refudp")
    if a.only_exec:
        report(exec_rows(d, a), a, time.monotonic() - t0)
        shutil.rmtree(d, ignore_errors=True)
        return

    def start(name, port, udp_port=None):
        if name.startswith("ksockd"):
            w = 1 if name == "ksockd-1w" else 2
            return Server(name, [ksockd, "-f", "-c", ksockd_conf(d, w, port, udp_port)], port)
        if name == "ref":
            return Server(name, [refecho, str(port)], port)
        if name == "ref-framed":
            return Server(name, [refecho, "-f", str(port)], port)
        if name == "redis":
            return Server(name, ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--maxclients", "20000",
                                 "--loglevel", "warning"], port)
        if name == "socat":
            return Server(name, ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,"
                                 "backlog=4096" % port, "PIPE"], port)
        if name == "refudp":
            return Server(name, [refudp, str(port)], port, udp=True)
        raise ValueError(name)

    tcp_servers = ["ksockd-1w", "ksockd-2w", "ref", "ref-framed", "redis", "socat"]
    have = {s: True for s in tcp_servers}
    if not shutil.which("redis-server"):
        have["redis"] = False
    res = {s: {} for s in tcp_servers + ["refudp"]}
    for run in range(a.runs):
        for s in tcp_servers:
            if not have[s]:
                continue
            port, uport = free_port(), free_port(socket.SOCK_DGRAM)
            srv = start(s, port, uport if s.startswith("ksockd") else None)
            try:
                run_tcp(srv, REDIS_LINE if s == "redis" else LINE64, a.secs, res[s])
                if s.startswith("ksockd"):
                    srv.port, srv.udp = uport, True
                    udp_rate(srv, a.secs, res[s])
            finally:
                srv.stop()
        srv = start("refudp", free_port(socket.SOCK_DGRAM))
        try:
            udp_rate(srv, a.secs, res["refudp"])
        finally:
            srv.stop()
        print("bench: run %d of %d done after %.0f s" % (run + 1, a.runs, time.monotonic() - t0),
              file=sys.stderr)

    for s in ["ksockd-1w", "ksockd-2w", "ref", "redis"]:
        if have[s]:
            srv = start(s, free_port())
            try:
                add(res[s], "idle PSS bytes/conn", idle_memory(srv, a.idle))
            finally:
                srv.stop()
    print("bench: idle memory done after %.0f s" % (time.monotonic() - t0), file=sys.stderr)

    cg = {
        "ksockd-1w": (lambda p, dd: [ksockd, "-f", "-c", ksockd_conf(dd, 1, p)], LINE64),
        "ref": (lambda p, dd: [refecho, str(p)], LINE64),
        "ref-framed": (lambda p, dd: [refecho, "-f", str(p)], LINE64),
        "redis": (lambda p, dd: ["redis-server", "--port", str(p), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no"], REDIS_LINE),
    }
    if shutil.which("valgrind"):
        for s, (cmd, payload) in cg.items():
            if have.get(s):
                add(res[s], "callgrind instr/line", instructions_per_line(cmd, payload, a.cg_lines))
    print("bench: callgrind done after %.0f s" % (time.monotonic() - t0), file=sys.stderr)

    for s, figs in tls_rows(d, a).items():
        res.setdefault(s, {}).update(figs)
    print("bench: TLS done after %.0f s" % (time.monotonic() - t0), file=sys.stderr)
    exec_res = exec_rows(d, a)
    for s, figs in exec_res.items():
        res.setdefault(s, {}).update(figs)
    print("bench: exec done after %.0f s" % (time.monotonic() - t0), file=sys.stderr)
    report(res, a, time.monotonic() - t0)
    shutil.rmtree(d, ignore_errors=True)


# Each row's reference: the ratio column is ksockd / this server's figure.
REFERENCE = {"pipelined server CPU ns/line": "ref-framed", "callgrind instr/line": "ref-framed",
             "udp datagrams/s": "refudp", "idle PSS bytes/conn": "redis"}
COLUMNS = ["ksockd-1w", "ksockd-2w", "ref", "ref-framed", "redis", "socat", "refudp", "nginx",
           "gnutls-serv", "xinetd", "systemd-sa"]


def report(res, a, elapsed):
    def median(v):
        v = [x for x in v if x is not None]
        return statistics.median(v) if v else None

    med = {s: {k: median(v) for k, v in figs.items()} for s, figs in res.items()}
    cols = COLUMNS + sorted(s for s in med if s not in COLUMNS)
    cols = [c for c in cols if med.get(c)]
    keys = []
    for s in cols:
        keys += [k for k in med[s] if k not in keys]
    fmt = lambda v: "n/a" if v is None else ("%.0f" % v if abs(v) >= 100 else "%.3g" % v)
    head = "%-30s" % "figure (median of %d)" % a.runs + "".join("%12s" % c for c in cols)
    head += "%9s%9s  %s" % ("1w/ref", "2w/ref", "ref")
    print(head)
    rows = []
    for k in keys:
        ref = REFERENCE.get(k, "ref")
        if k.startswith("tls"):
            ref = "nginx" if "handshakes" in k or "echo" in k else ref
        if k.startswith("exec"):
            ref = "xinetd"
        vals = {c: med[c].get(k) for c in cols}
        r = vals.get(ref)
        ratio = {w: (vals[w] / r if r and vals.get(w) is not None else None)
                 for w in ("ksockd-1w", "ksockd-2w")}
        print("%-30s" % k + "".join("%12s" % fmt(vals[c]) for c in cols) +
              "%9s%9s  %s" % (fmt(ratio["ksockd-1w"]), fmt(ratio["ksockd-2w"]), ref))
        rows.append({"figure": k, "reference": ref, "values": vals,
                     "ratio_1w": ratio["ksockd-1w"], "ratio_2w": ratio["ksockd-2w"],
                     "samples": {c: res[c].get(k) for c in cols if k in res[c]}})
    print("(%d run(s) of %.1f s per workload; %d idle connections; %.0f s in all)"
          % (a.runs, a.secs, a.idle, elapsed))
    out = a.out
    if not out:
        os.makedirs(os.path.join(SRC, "bench", "results"), exist_ok=True)
        out = os.path.join(SRC, "bench", "results",
                           time.strftime("bench-%Y%m%dT%H%M%SZ.json", time.gmtime()))
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "kernel": os.uname().release, "cpus": os.cpu_count(), "runs": a.runs,
           "seconds_per_workload": a.secs, "idle_connections": a.idle,
           "elapsed_seconds": round(elapsed), "rows": rows}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    print("bench: wrote %s" % out, file=sys.stderr)
    # The chart of this table (bench/chart.py, gnuplot), next to the JSON; a
    # default run also becomes bench/results/bench-latest.svg (the README's).
    svg = os.path.splitext(out)[0] + ".svg"
    chart.bench_chart(doc, svg)
    print("bench: wrote %s" % svg, file=sys.stderr)
    if not a.out:
        print("bench: wrote %s" % chart.publish(svg, "bench-latest.svg"), file=sys.stderr)


if __name__ == "__main__":
    main()
