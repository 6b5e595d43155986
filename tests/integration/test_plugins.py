#!/usr/bin/env python3
"""test_plugins.py: handler plug-ins against the real daemon: the example kv
plug-in served over TCP, a plug-in built from the public header alone and
loaded by a reload, every loader error at `ksockd -t` (FILE:LINE), the
ownership and permission checks, and a crashing plug-in handler that takes
down its own worker only."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

BUILD = os.environ.get("KSOCKD_BUILDDIR") or os.path.dirname(os.path.abspath(H.KSOCKD))
SRC = os.environ.get("KSOCKD_SRCDIR", BUILD)
KV = os.path.join(BUILD, "plugins", "kv.so")
TEST_PLUGINS = os.path.join(BUILD, "tests", "plugins")


def plugin(name):
    return os.path.join(TEST_PLUGINS, name + ".so")


def exchange(port, data, lines):
    with H.connect(port) as s:
        s.sendall(data)
        return H.recv_until(s, lines)


def check_config(text, workdir):
    """Runs ksockd -t on text; returns (exit status, output)."""
    path = os.path.join(workdir, "t.conf")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([H.KSOCKD, "-t", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    return p.returncode, p.stdout.decode(errors="replace")


def config_with(plugins, handler="kv"):
    return H.render_config([H.listener("p", handler)], plugins=plugins)


class KvPlugin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon([H.listener("kv", "kv"), H.listener("echo", "echo")], plugins=[KV])

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()

    def test_set_get_del_count(self):
        got = exchange(self.d.port("kv"),
                       b"SET colour blue\nGET colour\nSET colour green\nGET colour\n"
                       b"COUNT\nDEL colour\nGET colour\nDEL colour\nCOUNT\n", 9)
        self.assertEqual(got, b"OK\nVALUE blue\nOK\nVALUE green\nCOUNT 1\nDELETED\n"
                              b"NOT_FOUND\nNOT_FOUND\nCOUNT 0\n")

    def test_replies_keep_the_clients_terminator(self):
        self.assertEqual(exchange(self.d.port("kv"), b"SET k v\r\nGET k\r\n", 2),
                         b"OK\r\nVALUE v\r\n")

    def test_state_is_per_session(self):
        self.assertEqual(exchange(self.d.port("kv"), b"SET only here\n", 1), b"OK\n")
        self.assertEqual(exchange(self.d.port("kv"), b"GET only\n", 1), b"NOT_FOUND\n")

    def test_bounds_are_errors_and_the_session_goes_on(self):
        got = exchange(self.d.port("kv"),
                       b"SET " + b"k" * 65 + b" v\nSET k " + b"v" * 257 + b"\nFROB\nSET k v\n", 4)
        self.assertEqual(got.split(b"\n")[:4],
                         [b"ERROR key too long (max 64 bytes)",
                          b"ERROR value too long (max 256 bytes)",
                          b"ERROR unknown command (SET, GET, DEL, COUNT, QUIT)", b"OK"])
        keys = b"".join(b"SET key%d v\n" % i for i in range(65))
        got = exchange(self.d.port("kv"), keys, 65).split(b"\n")
        self.assertEqual(got[:64], [b"OK"] * 64)
        self.assertEqual(got[64], b"ERROR too many keys (max 64)")

    def test_quit_says_bye_and_closes(self):
        with H.connect(self.d.port("kv")) as s:
            s.sendall(b"SET a b\nQUIT\n")
            self.assertEqual(H.recv_all(s), b"OK\nBYE\n")

    def test_builtin_handlers_still_served_beside_it(self):
        self.assertEqual(exchange(self.d.port("echo"), b"x\n", 1), b"x\n")

    def test_load_is_logged(self):
        self.d.wait_log(r"plug-in kv loaded from " + re.escape(KV))


class LoaderErrors(unittest.TestCase):
    """Each loader error is a -t error naming the config line of the entry."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ksockd-plugin-", dir=BUILD)
        os.chmod(self.dir, 0o755)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def assert_refused(self, plugins, pattern, handler="kv"):
        rc, out = check_config(config_with(plugins, handler), self.dir)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(out, r"t\.conf:\d+: (plug-in '[^']*'(: | ))?" + pattern)
        line = int(re.search(r"t\.conf:(\d+):", out).group(1))
        with open(os.path.join(self.dir, "t.conf")) as f:
            self.assertIn("plugins", f.read().splitlines()[line - 1], out)
        return out

    def test_good_config_passes(self):
        rc, out = check_config(config_with([KV]), self.dir)
        self.assertEqual(rc, 0, out)

    def test_effective_config_names_the_plugins_and_passes_again(self):
        path = os.path.join(self.dir, "t.conf")
        with open(path, "w") as f:
            f.write(config_with([KV]))
        dump = subprocess.run([H.KSOCKD, "-T", "-c", path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=30, check=True).stdout.decode()
        self.assertIn('plugins = [ "%s" ];' % KV, dump)
        rc, out = check_config(dump, self.dir)
        self.assertEqual(rc, 0, out)

    def test_missing_file(self):
        self.assert_refused([os.path.join(self.dir, "nope.so")],
                            r"cannot read plug-in '.*nope\.so': No such file")

    def test_not_a_plugin(self):
        self.assert_refused([plugin("nosym")], r"exports no 'ksockd_plugin'.*KSOCKD_PLUGIN")

    def test_wrong_abi_version(self):
        self.assert_refused([plugin("badabi")], r"was built for handler ABI 999, this ksockd has "
                                                r"ABI 1: rebuild it")

    def test_builtin_name_taken(self):
        self.assert_refused([plugin("dupname")], r"handler 'echo' has the name of a built-in")

    def test_same_handler_from_two_files(self):
        other = os.path.join(self.dir, "kv-copy.so")
        shutil.copy(KV, other)
        self.assert_refused([KV, other], r"handler 'kv' is already defined by plug-in")

    def test_not_a_shared_object(self):
        bogus = os.path.join(self.dir, "text.so")
        with open(bogus, "w") as f:
            f.write("not an ELF file\n")
        self.assert_refused([bogus], r"cannot load plug-in: .*text\.so")

    def test_world_writable_file_refused(self):
        p = os.path.join(self.dir, "kv.so")
        shutil.copy(KV, p)
        os.chmod(p, 0o666)
        self.assert_refused([p], r"plug-in path '.*kv\.so' is writable by everyone: refused")

    def test_group_writable_directory_refused(self):
        sub = os.path.join(self.dir, "sub")
        os.mkdir(sub)
        shutil.copy(KV, sub)
        os.chmod(sub, 0o775)
        self.assert_refused([os.path.join(sub, "kv.so")],
                            r"plug-in path '.*/sub' is writable by its group: refused")

    def test_sticky_world_writable_directory_accepted(self):
        sub = os.path.join(self.dir, "sticky")
        os.mkdir(sub)
        os.chmod(sub, 0o1777)
        shutil.copy(KV, sub)
        rc, out = check_config(config_with([os.path.join(sub, "kv.so")]), self.dir)
        self.assertEqual(rc, 0, out)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to give a file to another user")
    def test_file_of_another_user_refused(self):
        p = os.path.join(self.dir, "kv.so")
        shutil.copy(KV, p)
        os.chown(p, 65534, 65534)
        self.assert_refused([p], r"plug-in path '.*kv\.so' is owned by uid 65534, not root")

    def test_unknown_handler_lists_plugin_handlers(self):
        rc, out = check_config(config_with([KV], handler="nosuch"), self.dir)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(out, r"unknown handler 'nosuch' \(echo, .*, kv\)")

    def test_plugin_handler_without_plugins_is_unknown(self):
        rc, out = check_config(H.render_config([H.listener("p", "kv")]), self.dir)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("unknown handler 'kv'", out)


class BuildFromPublicHeader(unittest.TestCase):
    """The whole cycle of the README: build with pkg-config, -t, reload."""

    def test_build_check_and_reload(self):
        workdir = tempfile.mkdtemp(prefix="ksockd-plugin-build-", dir=BUILD)
        self.addCleanup(shutil.rmtree, workdir, True)
        os.chmod(workdir, 0o755)
        env = dict(os.environ, PKG_CONFIG_PATH=BUILD)
        cflags = subprocess.run(
            ["pkg-config", "--define-variable=includedir=" + os.path.join(SRC, "include"),
             "--cflags", "ksockd"], env=env, check=True, stdout=subprocess.PIPE,
            timeout=30).stdout.decode().split()
        self.assertTrue(any(f.endswith("/include") for f in cflags), cflags)
        so = os.path.join(workdir, "kv.so")
        # Only the public header: no -I of the daemon's own sources.
        subprocess.run(["cc", "-Wall", "-Werror", "-O2", "-shared", "-fPIC"] + cflags +
                       ["-o", so, os.path.join(SRC, "plugins", "kv.c")], check=True, timeout=120)
        d = H.Daemon([H.listener("echo", "echo")])
        try:
            listeners = [H.listener("echo", "echo", port=d.port("echo")),
                         H.listener("kv", "kv")]
            d.reload(listeners, plugins=[so])
            self.assertEqual(exchange(d.port("kv"), b"SET a 1\nGET a\n", 2), b"OK\nVALUE 1\n")
            self.assertEqual(exchange(d.port("echo"), b"still\n", 1), b"still\n")
        finally:
            d.kill()

    def test_reload_naming_a_broken_plugin_is_rejected_and_old_config_serves(self):
        d = H.Daemon([H.listener("echo", "echo")])
        try:
            listeners = [H.listener("echo", "echo", port=d.port("echo")),
                         H.listener("bad", "badabi")]
            d.reload(listeners, expect_ok=False, plugins=[plugin("badabi")])
            d.wait_log(r"ABI 999")
            self.assertEqual(exchange(d.port("echo"), b"old\n", 1), b"old\n")
        finally:
            d.kill()


def server_socket_owner(pids, port, client_port):
    """The pid among pids holding the server end of 127.0.0.1:port <-> client_port."""
    want = ":%04X" % port, ":%04X" % client_port
    inode = None
    with open("/proc/net/tcp") as f:
        for row in f.read().splitlines()[1:]:
            fields = row.split()
            if fields[1].endswith(want[0]) and fields[2].endswith(want[1]):
                inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "socket:[%s]" % inode:
                    return pid
        except OSError:
            continue
    return None


class CrashingHandler(unittest.TestCase):
    def test_crash_takes_down_one_worker_only(self):
        d = H.Daemon([H.listener("kv", "kv"), H.listener("crashy", "crashy"),
                      H.listener("metrics", "metrics")],
                     plugins=[KV, plugin("crashy")], workers=2)
        try:
            before = d.workers()
            self.assertEqual(len(before), 2)
            # Enough kv sessions that (almost surely) both workers hold some.
            kv = []
            for i in range(16):
                s = H.connect(d.port("kv"))
                s.sendall(b"SET n %d\nGET n\n" % i)
                self.assertEqual(H.recv_until(s, 2), b"OK\nVALUE %d\n" % i)
                kv.append((i, s, server_socket_owner(before, d.port("kv"),
                                                     s.getsockname()[1])))
            c = H.connect(d.port("crashy"))
            c.sendall(b"first\n")
            self.assertEqual(H.recv_until(c), b"alive\n")
            victim = server_socket_owner(before, d.port("crashy"), c.getsockname()[1])
            self.assertIn(victim, before)
            c.sendall(b"crash\n")
            self.assertEqual(H.recv_all(c), b"")
            c.close()
            d.wait_log(r"worker \d+ \(pid %d\) killed by signal 6" % victim)
            survivor = [p for p in before if p != victim][0]
            for i, s, owner in kv:
                s.sendall(b"GET n\n")
                if owner == survivor:
                    self.assertEqual(H.recv_until(s), b"VALUE %d\n" % i)
                else:
                    self.assertEqual(owner, victim)
                    self.assertEqual(H.recv_all(s), b"")
                s.close()
            self.assertIn(survivor, [o for _, _, o in kv], "no kv session on the survivor")
            # The master respawns the slot (after its crash back-off).
            deadline = time.monotonic() + 15 * H.SLOW
            while len(d.workers()) != 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            after = d.workers()
            self.assertIn(survivor, after)
            self.assertNotIn(victim, after)
            with H.connect(d.port("metrics")) as m:
                m.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                text = H.recv_all(m).decode()
            self.assertRegex(text, r"\nksockd_worker_crashes_total 1\n")
            self.assertEqual(exchange(d.port("crashy"), b"again\n", 1), b"alive\n")
        finally:
            d.kill()


if __name__ == "__main__":
    unittest.main()
