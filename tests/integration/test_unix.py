#!/usr/bin/env python3
"""test_unix.py: unix-domain listeners against the real daemon: socat and
nc -U as stream clients (echo, hello, whoami), socat UNIX-SENDTO, nc -U -u
and bound Python sockets as datagram clients; mode/owner/group of the socket file; a
stale socket replaced, a live socket or a non-socket file refused with
FILE:LINE; allow_uid / allow_gid / deny_uid and max_connections_per_source
keyed by uid, with clients that setuid() to nobody; SO_PEERCRED in whoami
and in the access log; the file removed at stop and by a reload that drops
the listener, kept (same inode, nothing refused) by a reload that keeps it;
a unix socket passed by an activator; `ksockd -t` and `-T`."""
import os
import pwd
import grp
import re
import select
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

ACTIVATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "activator.py")
NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = grp.getgrnam("nogroup").gr_gid


def ul(name, handler, path, protocol="unix", **extra):
    """A unix listener for the harness's config (no address, no port)."""
    d = dict(name=name, protocol=protocol, path=path, handler=handler)
    d.update(extra)
    return d


def socat(args, data=b"", timeout=10):
    # umask 0: a datagram client's own socket must be writable by the workers' user (nobody)
    # for the reply to reach it.
    r = subprocess.run(["socat"] + args, input=data, capture_output=True, timeout=timeout * H.SLOW,
                       preexec_fn=lambda: os.umask(0))
    return r.stdout


def dgram_client(path):
    """A datagram socket bound to path, writable by anyone (the workers reply to it)."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    old = os.umask(0)
    try:
        c.bind(path)
    finally:
        os.umask(old)
    c.settimeout(5 * H.SLOW)
    return c


def refused(fn):
    """True if the daemon accepted and closed the connection without an answer."""
    try:
        return fn() == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def as_user(uid, gid, fn):
    """Runs fn() in a child that dropped to uid/gid; returns what fn returned (bytes),
    b"" for a connection reset or a broken pipe (a refusal), or b"ERR:<exception name>" for
    another OSError."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            try:
                out = fn()
            except (ConnectionResetError, BrokenPipeError):
                out = b""
            except OSError as e:
                out = b"ERR:" + (e.__class__.__name__.encode())
            os.write(wfd, out)
        finally:
            os._exit(0)
    os.close(wfd)
    chunks = []
    deadline = time.monotonic() + 10 * H.SLOW
    while time.monotonic() < deadline:
        r, _, _ = select.select([rfd], [], [], 1)
        if r:
            c = os.read(rfd, 65536)
            if not c:
                break
            chunks.append(c)
    os.close(rfd)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def stream_exchange(path, send=b"", lines=1):
    """Connects to path, sends, reads until lines newlines or EOF; returns the bytes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5 * H.SLOW)
        s.connect(path)
        if send:
            s.sendall(send)
        buf = b""
        while buf.count(b"\n") < lines:
            c = s.recv(65536)
            if not c:
                break
            buf += c
        return buf


def whoami_report(path):
    """The whole whoami report (ends with an empty line)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5 * H.SLOW)
        s.connect(path)
        buf = b""
        while b"\n\n" not in buf:
            c = s.recv(65536)
            if not c:
                break
            buf += c
    return dict(l.split("=", 1) for l in buf.decode().splitlines() if "=" in l)


class UnixTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ksockd-unix-")
        os.chmod(self.dir, 0o755)  # clients that dropped to nobody reach the sockets
        self.cdir = os.path.join(self.dir, "clients")  # where clients (nobody too) bind
        os.mkdir(self.cdir)
        os.chmod(self.cdir, 0o1777)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.dir, name)


class StreamClients(UnixTest):
    def test_socat_and_nc_against_echo_hello_whoami(self):
        e, h, w = self.p("echo.sock"), self.p("hello.sock"), self.p("whoami.sock")
        with H.Daemon([ul("echo", "echo", e), ul("hello", "hello", h), ul("who", "whoami", w)]):
            self.assertEqual(socat(["-", "UNIX-CONNECT:" + e], b"ping\n"), b"ping\n")
            nc = subprocess.run(["nc", "-U", "-N", e], input=b"via nc\n", capture_output=True,
                                timeout=10 * H.SLOW)
            self.assertEqual(nc.stdout, b"via nc\n")
            out = socat(["-t", "2", "-", "UNIX-CONNECT:" + h], b"Ann\n")
            self.assertTrue(out.startswith(b"Please enter your name\n"), out)
            self.assertIn(b"Ann", out)
            rep = socat(["-", "UNIX-CONNECT:" + w]).decode()
            self.assertIn("listener=who\n", rep)
            self.assertIn("local=%s\n" % w, rep)
            self.assertIn("peer_uid=0\npeer_gid=0\n", rep)
            self.assertRegex(rep, r"peer_pid=\d+\n")

    def test_mode_owner_group_applied(self):
        a, b = self.p("a.sock"), self.p("b.sock")
        with H.Daemon([ul("a", "echo", a, mode="0660", owner="nobody", group="nogroup"),
                       ul("b", "echo", b, mode=600)]):  # an integer written in octal digits
            st = os.stat(a)
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
            self.assertEqual((st.st_uid, st.st_gid), (NOBODY, NOGROUP))
            st = os.stat(b)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            self.assertEqual(st.st_uid, 0)
            # 0660 owned by nobody:nogroup: nobody may connect; 0600 root-owned: nobody may not.
            self.assertEqual(as_user(NOBODY, NOGROUP, lambda: stream_exchange(a, b"hi\n")),
                             b"hi\n")
            self.assertEqual(as_user(NOBODY, NOGROUP, lambda: stream_exchange(b, b"hi\n")),
                             b"ERR:PermissionError")

    def test_removed_at_stop(self):
        a = self.p("a.sock")
        with H.Daemon([ul("a", "echo", a)]) as d:
            self.assertTrue(os.path.exists(a))
            self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(a))


class ExistingPath(UnixTest):
    def test_stale_socket_is_replaced(self):
        a = self.p("a.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(a)
        s.close()  # the file stays, nobody listens: what a crashed daemon leaves
        with H.Daemon([ul("a", "echo", a)]) as d:
            self.assertIn("listener 'a': removed stale socket %s (nothing was listening on it)"
                          % a, d.log())
            self.assertEqual(stream_exchange(a, b"x\n"), b"x\n")

    def test_live_socket_is_refused(self):
        a = self.p("a.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(a)
            s.listen(1)
            d = H.Daemon([ul("a", "echo", a)], wait_ready=False)
            try:
                self.assertEqual(d.proc.wait(10 * H.SLOW), 1)
                self.assertRegex(d.log(), r"ksockd\.conf:\d+: listener 'a': %s is in use"
                                 % re.escape(a))
            finally:
                d.kill()
            self.assertTrue(os.path.exists(a))  # still the other process's

    def test_non_socket_is_refused_never_removed(self):
        a = self.p("a.sock")
        with open(a, "w") as f:
            f.write("precious\n")
        d = H.Daemon([ul("a", "echo", a)], wait_ready=False)
        try:
            self.assertEqual(d.proc.wait(10 * H.SLOW), 1)
            self.assertRegex(d.log(), r"ksockd\.conf:\d+: listener 'a': %s exists and is not "
                             r"a socket \(not removed\)" % re.escape(a))
        finally:
            d.kill()
        with open(a) as f:
            self.assertEqual(f.read(), "precious\n")


class Credentials(UnixTest):
    def test_allow_and_deny_by_uid_and_gid(self):
        root_only, no_nobody, by_gid = self.p("r.sock"), self.p("n.sock"), self.p("g.sock")
        with H.Daemon([ul("root_only", "echo", root_only, mode="0666", allow_uid=["root"]),
                       ul("no_nobody", "echo", no_nobody, mode="0666", deny_uid=[NOBODY]),
                       ul("by_gid", "echo", by_gid, mode="0666", allow_gid=["nogroup"])]) as d:
            self.assertEqual(stream_exchange(root_only, b"r\n"), b"r\n")
            self.assertEqual(as_user(NOBODY, NOGROUP, lambda: stream_exchange(root_only, b"n\n")),
                             b"")  # accepted, then closed unanswered (or reset)
            self.assertEqual(stream_exchange(no_nobody, b"r\n"), b"r\n")
            self.assertEqual(as_user(NOBODY, NOGROUP, lambda: stream_exchange(no_nobody, b"n\n")),
                             b"")
            self.assertEqual(as_user(NOBODY, NOGROUP, lambda: stream_exchange(by_gid, b"n\n")),
                             b"n\n")
            self.assertTrue(refused(lambda: stream_exchange(by_gid, b"r\n")))  # root is gid 0
            d.wait_log(r"root_only: denied by allow/deny: refused 1 connection\(s\) \(last from "
                       r"uid=%d,gid=%d,pid=\d+" % (NOBODY, NOGROUP))
            d.wait_log(r"by_gid: denied by allow/deny: refused 1 connection\(s\) \(last from "
                       r"uid=0,gid=0,pid=\d+")

    def test_peercred_in_whoami_and_access_log(self):
        w, log = self.p("w.sock"), self.p("access.log")
        with H.Daemon([ul("who", "whoami", w, mode="0666", access_log=log)]) as d:
            rep = as_user(NOBODY, NOGROUP, lambda: str(whoami_report(w)).encode())
            self.assertIn(b"'peer_uid': '%d'" % NOBODY, rep)
            self.assertIn(b"'peer_gid': '%d'" % NOGROUP, rep)
            p = subprocess.Popen(["socat", "-", "UNIX-CONNECT:" + w], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE)
            out, _ = p.communicate(timeout=10 * H.SLOW)
            self.assertIn(b"peer_pid=%d\n" % p.pid, out)
            d.stop()
        with open(log) as f:
            text = f.read()
        self.assertRegex(text, r"listener=who peer=uid=%d,gid=%d,pid=\d+ " % (NOBODY, NOGROUP))
        self.assertIn("listener=who peer=uid=0,gid=0,pid=%d " % p.pid, text)

    def test_per_source_limit_is_per_uid(self):
        a = self.p("a.sock")
        with H.Daemon([ul("a", "echo", a, mode="0666", max_connections_per_source=1)], workers=1):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as held:
                held.connect(a)
                held.sendall(b"1\n")
                held.settimeout(5 * H.SLOW)
                self.assertEqual(held.recv(10), b"1\n")  # served: it holds root's one slot
                self.assertTrue(refused(lambda: stream_exchange(a, b"2\n")))  # root again
                self.assertEqual(as_user(NOBODY, NOGROUP, lambda: stream_exchange(a, b"3\n")),
                                 b"3\n")  # another uid: its own slot


class Datagrams(UnixTest):
    def test_unixgram_echo_whoami_and_unbound_sender(self):
        e, w = self.p("e.sock"), self.p("w.sock")
        with H.Daemon([ul("ge", "echo", e, protocol="unixgram", mode="0666"),
                       ul("gw", "whoami", w, protocol="unixgram", mode="0666")]) as d:
            out = socat(["-t", "2", "-", "UNIX-SENDTO:%s,bind=%s" % (e, self.p("clients/c1"))],
                        b"ping\n")
            self.assertEqual(out, b"ping\n")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unbound:
                unbound.sendto(b"nobody answers me\n", e)  # no address to reply to
            def ask():
                with dgram_client(self.p("clients/c2")) as c:
                    c.sendto(b"?\n", w)
                    return c.recv(4096)
            rep = as_user(NOBODY, NOGROUP, ask).decode()
            self.assertIn("peer_uid=%d\npeer_gid=%d\n" % (NOBODY, NOGROUP), rep)
            self.assertIn("local=%s\n" % w, rep)
            d.stop()
            m = re.findall(r"udp 'ge': worker \d+: answered=(\d+) dropped: .*no_reply=(\d+)",
                           d.log())
            self.assertEqual(sum(int(a) for a, _ in m), 1, d.log())
            self.assertEqual(sum(int(n) for _, n in m), 1, d.log())
        self.assertFalse(os.path.exists(e))

    def test_nc_datagram_client(self):
        # nc -U -u binds its reply socket in a directory of its own, mode 0700: only workers
        # running as the client's user can answer it, so this daemon's workers run as root.
        e = self.p("e.sock")
        with H.Daemon([ul("ge", "echo", e, protocol="unixgram")], user="root", group="root"):
            nc = subprocess.run(["nc", "-U", "-u", "-w1", e], input=b"via nc\n",
                                capture_output=True, timeout=10 * H.SLOW)
            self.assertEqual(nc.stdout, b"via nc\n")

    def test_bound_client_gets_reply(self):
        e = self.p("e.sock")
        with H.Daemon([ul("ge", "echo", e, protocol="unixgram")]):
            with dgram_client(self.p("clients/me")) as c:
                c.sendto(b"one\n", e)
                self.assertEqual(c.recv(100), b"one\n")

    def test_allow_uid_on_unixgram(self):
        e = self.p("e.sock")
        with H.Daemon([ul("ge", "echo", e, protocol="unixgram", mode="0666", allow_uid=[NOBODY])]) as d:
            def ask():
                with dgram_client(self.p("clients/n")) as c:
                    c.sendto(b"n\n", e)
                    return c.recv(100)
            self.assertEqual(as_user(NOBODY, NOGROUP, ask), b"n\n")
            with dgram_client(self.p("clients/r")) as c:
                c.sendto(b"r\n", e)
            d.stop()
            m = re.findall(r"udp 'ge': worker \d+: answered=(\d+) dropped: .*denied=(\d+)",
                           d.log())
            self.assertEqual(sum(int(x) for x, _ in m), 1, d.log())
            self.assertEqual(sum(int(x) for _, x in m), 1, d.log())


class Reload(UnixTest):
    def test_reload_keeps_socket_and_file_then_removes_them(self):
        a, b = self.p("a.sock"), self.p("b.sock")
        la, lb = ul("a", "echo", a), ul("b", "hello", b)
        with H.Daemon([la, lb]) as d:
            ino = os.stat(a).st_ino
            stop, refused, served = threading.Event(), [], [0]

            def hammer():
                while not stop.is_set() and served[0] < 100000:
                    try:
                        if stream_exchange(a, b"k\n") == b"k\n":
                            served[0] += 1
                        else:
                            refused.append("short answer")
                    except OSError as e:
                        refused.append(repr(e))
            t = threading.Thread(target=hammer)
            t.start()
            try:
                d.reload([la, dict(lb, handler="echo")])
                d.reload([la, lb])
            finally:
                stop.set()
                t.join(30 * H.SLOW)
            self.assertEqual(refused, [])
            self.assertGreater(served[0], 0)
            self.assertEqual(os.stat(a).st_ino, ino)  # the same socket file throughout
            self.assertEqual(stream_exchange(a, b"z\n"), b"z\n")
            # A kept socket's file takes the new mode and owner.
            d.reload([dict(la, mode="0640", owner="nobody"), lb])
            st = os.stat(a)
            self.assertEqual((st.st_ino, stat.S_IMODE(st.st_mode), st.st_uid), (ino, 0o640, NOBODY))
            d.reload([lb])
            self.assertFalse(os.path.exists(a))
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                with self.assertRaises(FileNotFoundError):
                    s.connect(a)
            self.assertTrue(stream_exchange(b).startswith(b"Please enter"))
            d.wait_log(r"listener 'a' removed")


class Activation(UnixTest):
    def test_passed_unix_sockets_are_served_and_left_to_the_manager(self):
        a, g = self.p("a.sock"), self.p("g.sock")
        wrap = [sys.executable, ACTIVATOR, "-l", "a:unix:" + a, "-l", "g:unixgram:" + g, "--"]
        with H.Daemon([ul("a", "whoami", a), ul("g", "echo", g, protocol="unixgram")],
                      wrap=wrap) as d:
            self.assertEqual(len(re.findall(r"\(socket passed by the service manager\)", d.log())),
                             2, d.log())
            self.assertIn("peer_uid", whoami_report(a))
            with dgram_client(self.p("clients/c")) as c:
                c.sendto(b"d\n", g)
                self.assertEqual(c.recv(10), b"d\n")
            self.assertEqual(d.stop(), 0)
        self.assertTrue(os.path.exists(a))  # the manager's file, not ours to remove

    def test_passed_socket_of_the_wrong_kind_is_refused(self):
        a = self.p("a.sock")
        wrap = [sys.executable, ACTIVATOR, "-l", "a:unixgram:" + a, "--"]
        d = H.Daemon([ul("a", "echo", a)], wrap=wrap, wait_ready=False)
        try:
            self.assertEqual(d.proc.wait(10 * H.SLOW), 1)
            self.assertIn("listener 'a': passed fd 3 named 'a' is a datagram socket, but the "
                          "listener is unix", d.log())
        finally:
            d.kill()


class Checks(UnixTest):
    def conf(self, text):
        path = self.p("k.conf")
        with open(path, "w") as f:
            f.write('user = "nobody"; group = "nogroup";\n' + text)
        return path

    def run_ksockd(self, *args):
        return subprocess.run([H.KSOCKD] + list(args), capture_output=True, text=True,
                              timeout=30 * H.SLOW)

    def test_dash_t_checks_directory_and_path(self):
        with open(self.p("file"), "w"):
            pass
        path = self.conf('listeners = (\n'
                         ' { name = "a"; protocol = "unix"; path = "%s/none/a.sock"; handler = "echo"; },\n'
                         ' { name = "b"; protocol = "unix"; path = "%s/file"; handler = "echo"; }\n'
                         ');\n' % (self.dir, self.dir))
        r = self.run_ksockd("-t", "-c", path)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("%s:3: listener 'a': directory %s/none of 'path'" % (path, self.dir), r.stderr)
        self.assertIn("%s:4: listener 'b': %s/file exists and is not a socket" % (path, self.dir),
                      r.stderr)

    def test_dash_T_prints_the_new_settings(self):
        path = self.conf('listeners = ( { name = "a"; protocol = "unix"; path = "a.sock"; '
                         'mode = 660; owner = "nobody"; group = "nogroup"; allow_uid = (0, "nobody"); '
                         'allow_gid = "nogroup"; deny_uid = [65533]; handler = "echo"; } );\n')
        r = self.run_ksockd("-T", "-c", path)
        self.assertEqual(r.returncode, 0, r)
        for want in ('protocol = "unix";', 'path = "%s/a.sock";' % self.dir, 'mode = "0660";',
                     'owner = "nobody";', 'group = "nogroup";', 'allow_uid = [ "0", "nobody" ];',
                     'allow_gid = [ "nogroup" ];', 'deny_uid = [ "65533" ];'):
            self.assertIn(want, r.stdout)
        self.assertNotIn("address", r.stdout.split('name = "a"')[1])
        r = self.run_ksockd("-t", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_config_errors_name_file_and_line(self):
        cases = [
            ('{ name = "a"; protocol = "unix"; handler = "echo"; }', r":3: listener 'a': missing 'path'"),
            ('{ name = "a"; protocol = "unix"; path = "/x"; port = 7; handler = "echo"; }',
             r":3: listener 'a': 'port' is for IP listeners"),
            ('{ name = "a"; protocol = "tcp"; address = "127.0.0.1"; port = 7; mode = "0600"; handler = "echo"; }',
             r":3: listener 'a': 'mode' is only for protocol \"unix\""),
            ('{ name = "a"; protocol = "unix"; path = "/x"; mode = "0999"; handler = "echo"; }',
             r":3: listener 'a': 'mode' must be octal"),
            ('{ name = "a"; protocol = "unix"; path = "/x"; allow_uid = ["no-such-user-x"]; handler = "echo"; }',
             r":3: listener 'a': 'allow_uid': no user named 'no-such-user-x'"),
            ('{ name = "a"; protocol = "unixgram"; path = "/x"; udp_max_reply_ratio = 2; handler = "echo"; }',
             r":3: listener 'a': 'udp_max_reply_ratio' applies to udp listeners only"),
        ]
        for text, want in cases:
            path = self.conf("listeners = (\n  %s\n);\n" % text)
            r = self.run_ksockd("-t", "-c", path)
            self.assertEqual(r.returncode, 1, (text, r))
            self.assertRegex(r.stderr, re.escape(path) + want, text)


if __name__ == "__main__":
    unittest.main()
