#!/usr/bin/env python3
"""test_operator.py: what an operator sees, against the real daemon: config
errors that point at the fix (FILE:LINE: listener 'NAME': reason; hint), bind
failures at start and at reload in the same form."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

ECHO = '{ name = "e"; protocol = "tcp"; address = "127.0.0.1"; port = 2007; handler = "echo"; }'


def line_of(path, name):
    """The line of the config where listener name is written."""
    with open(path) as f:
        lines = f.read().splitlines()
    return 1 + [('name = "%s"' % name) in l for l in lines].index(True)


def ksockd(*args, timeout=20):
    return subprocess.run([H.KSOCKD] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


class ConfigErrors(unittest.TestCase):
    """ksockd -t on each common mistake: the message names the place and the fix."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ksockd-oper-")
        H._dirs.append(self.dir)
        self.path = os.path.join(self.dir, "ksockd.conf")

    def check(self, text, want):
        with open(self.path, "w") as f:
            f.write(text)
        r = ksockd("-t", "-c", self.path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("%s:%s" % (self.path, want), r.stderr)
        return r.stderr

    def test_missing_comma_between_listeners(self):
        self.check("listeners = (\n" + ECHO + "\n" + ECHO.replace('"e"', '"f"') + "\n);\n",
                   "3: unexpected '{', expected ',' or ')' (a missing ',' between list "
                   "elements?)")

    def test_missing_closing_brace(self):
        self.check("listeners = (\n" + ECHO[:-1] + "\n);\n",
                   "3: unexpected ')', expected a setting name or '}' (the group opened at "
                   "line 2 is not closed?)")

    def test_missing_quote_is_reported_where_the_string_starts(self):
        self.check('listeners = (\n{ name = "e"; protocol = "tcp"; address = "127.0.0.1;\n'
                   ' port = 2007; handler = "echo"; }\n);\n',
                   "2: the string opened here runs on to line 3: a missing '\"'?")

    def test_repeated_key_names_the_key(self):
        self.check("listeners = (\n" + ECHO[:-1] + "\n port = 2008; }\n);\n",
                   "3: duplicate setting 'port' (first set at line 2): keep one")

    def test_range_error_prints_integers(self):
        self.check("max_line = 0;\nlisteners = (" + ECHO + ");\n",
                   "1: 'max_line' must be between 1 and 16777216, not 0")

    def test_no_listeners_names_the_file_not_line_0(self):
        err = self.check("workers = 1;\n", " no 'listeners' defined; add listeners = (")
        self.assertNotIn(":0:", err)

    def test_did_you_mean(self):
        self.check("wrokers = 2;\nlisteners = (" + ECHO + ");\n",
                   "1: unknown setting 'wrokers'; did you mean 'workers'?")
        self.check("listeners = (\n" + ECHO.replace('"echo"', '"ehco"') + ");\n",
                   "2: listener 'e': unknown handler 'ehco' (")
        self.check("listeners = (\n" + ECHO.replace('"tcp"', '"tpc"') + ");\n",
                   "2: listener 'e': unknown protocol 'tpc' (tcp, udp, tls); did you mean 'tcp'?")

    def test_listener_errors_name_the_listener(self):
        self.check("listeners = (\n" + ECHO.replace("2007", "70000") + ");\n",
                   "2: listener 'e': 'port' must be between 1 and 65535, not 70000")

    def test_brackets_and_host_port_in_address(self):
        self.check("listeners = (\n" + ECHO.replace('"127.0.0.1"', '"[::1]"') + ");\n",
                   "2: listener 'e': cannot resolve address '[::1]': Name or service not known;"
                   " write an IPv6 address without brackets: address = \"::1\"")
        self.check("listeners = (\n" + ECHO.replace('"127.0.0.1"', '"127.0.0.1:2007"') + ");\n",
                   "2: listener 'e': cannot resolve address '127.0.0.1:2007': Name or service "
                   "not known; 'address' takes the host only")

    def test_missing_include_names_the_file(self):
        self.check('@include "listeners.conf"\n',
                   "1: cannot open include file %s/listeners.conf: No such file or directory"
                   % self.dir)

    def test_include_relative_to_the_config_file_from_any_directory(self):
        with open(os.path.join(self.dir, "listeners.conf"), "w") as f:
            f.write("listeners = (" + ECHO + ");\n")
        with open(self.path, "w") as f:
            user = 'user = "nobody";\n' if os.geteuid() == 0 else ""
            f.write(user + 'workers = 1;\n@include "listeners.conf"\n')
        r = subprocess.run([H.KSOCKD, "-t", "-c", self.path], cwd="/", capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)


def as_nobody():
    """preexec_fn: run the child as nobody, without capabilities (a plain user)."""
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def self_signed(directory):
    """An ECDSA key and self-signed certificate made with certtool (GnuTLS)."""
    key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    tmpl = os.path.join(directory, "cert.tmpl")
    with open(tmpl, "w") as f:
        f.write('cn = "localhost"\nexpiration_days = 2\ntls_www_server\n')
    subprocess.run(["certtool", "--generate-privkey", "--key-type=ecdsa", "--outfile", key],
                   check=True, capture_output=True, timeout=30)
    subprocess.run(["certtool", "--generate-self-signed", "--load-privkey", key, "--template",
                    tmpl, "--outfile", cert], check=True, capture_output=True, timeout=30)
    return key, cert


class Preflight(unittest.TestCase):
    """ksockd -t reports what start would hit, and warns about risky choices."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ksockd-oper-")
        H._dirs.append(self.dir)
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "ksockd.conf")

    def run_t(self, listeners, *args, preexec=None):
        with open(self.path, "w") as f:
            f.write(H.render_config(listeners))
        os.chmod(self.path, 0o644)
        return subprocess.run([H.KSOCKD, "-t", "-c", self.path] + list(args),
                              capture_output=True, text=True, timeout=20, preexec_fn=preexec)

    def where(self, name):
        return "%s:%d: listener '%s': " % (self.path, line_of(self.path, name), name)

    def test_low_port_without_capability_is_an_error(self):
        ls = [H.listener("low", port=80)]
        r = self.run_t(ls, preexec=as_nobody)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("ksockd: error: " + self.where("low") + "cannot bind tcp port 80 as uid "
                      "65534: ports below 1024 need CAP_NET_BIND_SERVICE", r.stderr)
        # As root (the capability is there) the same config passes.
        r = self.run_t(ls)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("CAP_NET_BIND_SERVICE", r.stderr)

    def test_high_port_as_a_plain_user_passes(self):
        r = self.run_t([H.listener("high")], preexec=as_nobody)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid (1 listener(s)", r.stdout)

    def test_address_not_on_this_host(self):
        r = self.run_t([H.listener("far", address="192.0.2.1", port=2007)])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ksockd: error: " + self.where("far") + "address '192.0.2.1' cannot be "
                      "bound: Cannot assign requested address; this host has no such address",
                      r.stderr)

    def test_host_port_written_into_an_ipv6_address(self):
        r = self.run_t([H.listener("v6", address="::1:2572", port=2572)])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(self.where("v6") + "address '::1:2572' cannot be bound: Cannot assign "
                      "requested address; 'address' takes the host only: if you meant host ::1 "
                      "port 2572, write address = \"::1\"; port = 2572;", r.stderr)

    def test_brackets_are_refused_with_the_hint(self):
        r = self.run_t([H.listener("br", address="[::1]", port=2007)])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("write an IPv6 address without brackets: address = \"::1\"", r.stderr)

    def test_counters_on_a_wildcard_address_warn_and_fail_only_strict(self):
        ls = [H.listener("m", "metrics", address="0.0.0.0"), H.listener("s", "stats")]
        r = self.run_t(ls)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ksockd: warning: " + self.where("m") + "handler metrics on the wildcard "
                      "address '0.0.0.0' answers every network", r.stderr)
        self.assertNotIn("listener 's'", r.stderr)  # on 127.0.0.1: no warning
        self.assertIn("1 warning(s)", r.stdout)
        for flag in ("-S", "--strict"):
            r = self.run_t(ls, flag)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("cannot start: 0 error(s), 1 warning(s) (--strict: warnings count as "
                          "errors)", r.stderr)
        # allow = [...] restricts who may ask: no warning.
        r = self.run_t([H.listener("m", "metrics", address="::", allow=["127.0.0.0/8"])], "-S")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_world_readable_private_key_warns(self):
        key, cert = self_signed(self.dir)
        ls = [H.listener("t", protocol="tls", certificate=cert, key=key)]
        os.chmod(key, 0o644)
        r = self.run_t(ls)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ksockd: warning: " + self.where("t") + "private key %s is readable by "
                      "every user (mode 0644); chmod 600 %s" % (key, key), r.stderr)
        os.chmod(key, 0o600)
        r = self.run_t(ls, "--strict")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")


SRC = os.environ.get("KSOCKD_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


class Dump(unittest.TestCase):
    """ksockd -T prints the effective config; it passes -t and loads to the same config."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ksockd-oper-")
        H._dirs.append(self.dir)
        self.path = os.path.join(self.dir, "ksockd.conf")
        key, cert = self_signed(self.dir)
        os.chmod(key, 0o600)
        with open(os.path.join(self.dir, "listeners.conf"), "w") as f:
            f.write('listeners = (\n' + ECHO[:-1] + ' allow = ["10.0.0.0/8", "::1"];'
                    ' deny = "10.1.0.0/16"; proxy_protocol = "v1";'
                    ' proxy_trusted = ["192.0.2.0/24"]; max_line = 100; },\n'
                    '{ name = "u"; protocol = "udp"; address = "::"; port = 2007;'
                    ' handler = "echo"; ipv6_only = false; udp_rate = 7; },\n'
                    '{ name = "t"; protocol = "tls"; address = "127.0.0.1"; port = 2443;'
                    ' handler = "echo"; certificate = "cert.pem"; key = "key.pem";'
                    ' alpn = ["x-ksock"]; idle_timeout = 2.5; }\n);\n')
        with open(self.path, "w") as f:
            f.write(('user = "nobody";\n' if os.geteuid() == 0 else "") +
                    'workers = 3;\nworker_buffer_limit = 4294967295L;\n'
                    '@include "listeners.conf"\n')

    def dump(self, path):
        r = ksockd("-T", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_dump_fills_in_every_setting_and_expands_includes(self):
        out = self.dump(self.path)
        with open(os.path.join(SRC, "src", "conf.c")) as f:
            names = set(re.findall(r'^\s*\{"(\w+)", SET_', f.read(), re.M))
        optional = {"user", "group", "pid_file", "qotd_file", "access_log", "priority",
                    "client_ca", "listeners", "plugins",
                    # handler exec's, on listeners without it (test_exec.py dumps them)
                    "exec", "exec_env", "exec_user", "exec_group", "exec_dir"}
        # unset strings and lists are left out
        for name in names - optional:
            self.assertRegex(out, r"(?m)^\s*%s = " % name, "%s missing from -T" % name)
        self.assertIn("# %s/listeners.conf:2" % self.dir, out)  # where each listener came from
        self.assertNotRegex(out, r"(?m)^\s*@include")
        self.assertIn('certificate = [ "%s/cert.pem" ];' % self.dir, out)
        self.assertIn('allow = [ "10.0.0.0/8", "::1/128" ];', out)
        self.assertIn("worker_buffer_limit = 4294967295L;", out)
        self.assertIn("idle_timeout = 2.5;", out)
        # Listener limits are the effective ones: the global default or the override.
        self.assertEqual(out.count("max_line = 8192;"), 3)  # global, u, t
        self.assertEqual(out.count("max_line = 100;"), 1)

    def test_dump_reads_back_to_the_same_config(self):
        first = self.dump(self.path)
        again = os.path.join(self.dir, "again.conf")
        with open(again, "w") as f:
            f.write(first)
        second = self.dump(again)
        strip = lambda t: [l for l in t.splitlines() if not l.lstrip().startswith("#")]  # noqa: E731
        self.assertEqual(strip(first), strip(second))

    def test_t_of_T_passes_through_a_pipe(self):
        r = subprocess.run(["bash", "-c", 'exec "$0" -t -c <("$0" -T -c "$1")', H.KSOCKD,
                            self.path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"configuration /dev/fd/\d+ is valid \(3 listener\(s\), "
                                   r"3 worker\(s\)\)")

    def test_a_broken_config_is_reported_not_dumped(self):
        with open(self.path, "a") as f:
            f.write("bogus = 1;\n")
        r = ksockd("-T", "-c", self.path)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("%s:5: unknown setting 'bogus'" % self.path, r.stderr)


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().rstrip(b"\0").decode()


class Version(unittest.TestCase):
    def test_V_names_library_versions_and_build_options(self):
        r = ksockd("-V")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^ksockd \d+\.\d+\.\d+$")
        self.assertRegex(r.stdout, r"(?m)^libev 4\.\d+ \(built with 4\.\d+\)$")
        self.assertRegex(r.stdout, r"(?m)^libconfig 1\.\d+\.\d+ \(at build time\)$")
        self.assertRegex(r.stdout, r"(?m)^libsystemd \d+ \(at build time\)$")
        self.assertRegex(r.stdout, r"(?m)^configure options: .+$")
        self.assertRegex(r.stdout, r"(?m)^sanitizers: (none|address,undefined)$")
        # The GnuTLS line is the library's own answer: the one certtool runs with.
        certtool = subprocess.run(["certtool", "--version"], capture_output=True, text=True,
                                  timeout=10).stdout.split()
        self.assertRegex(r.stdout, r"(?m)^GnuTLS %s \(built with " % re.escape(certtool[1]))


class Control(unittest.TestCase):
    """-s reload|stop|reopen|status through pid_file alone, and process titles."""

    def test_s_commands_find_the_daemon_through_pid_file(self):
        env = {k: v for k, v in os.environ.items() if k not in ("RUNTIME_DIRECTORY", "MAINPID")}
        run_dir = tempfile.mkdtemp(prefix="ksockd-oper-run-")
        H._dirs.append(run_dir)
        pid_file = os.path.join(run_dir, "ksockd.pid")
        d = H.Daemon([H.listener("echo")], pid_file=pid_file)
        ctl = lambda *a: subprocess.run([H.KSOCKD, "-s"] + list(a) + ["-c", d.conf_path],  # noqa
                                        capture_output=True, text=True, timeout=60, env=env)
        try:
            with open(pid_file) as f:
                self.assertEqual(int(f.read()), d.pid)
            r = ctl("status")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"^ksockd: running, pid %d, ready, generation 1, 0 "
                                       r"reload\(s\) requested" % d.pid)
            self.assertTrue(os.path.exists(os.path.join(run_dir, "ksockd.status")))
            # Titles: the master and each worker say what they are (under valgrind,
            # /proc shows valgrind's own command line whatever the client writes).
            if not H.VALGRIND:
                self.assertEqual(cmdline(d.pid), "ksockd: master")
                self.assertEqual(sorted(cmdline(p) for p in d.workers()),
                                 ["ksockd: worker 0 (generation 1)",
                                  "ksockd: worker 1 (generation 1)"])
            r = ctl("reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("reload done", r.stdout)
            d.wait_log(r"reload 1: all 2 new worker\(s\) ready")
            titles = [cmdline(p) for p in d.workers()]
            if not H.VALGRIND:
                self.assertIn("ksockd: worker 0 (generation 2)", titles)
                self.assertIn("ksockd: worker 1 (generation 2)", titles)
            r = ctl("reopen")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "ksockd: pid %d reopens its log files\n" % d.pid)
            d.wait_log(r"SIGUSR1: \d+ worker\(s\) told to reopen")
            r = ctl("stop")
            self.assertEqual(r.returncode, 0, r.stderr + d.log())
            self.assertEqual(r.stdout, "ksockd: stopped (pid %d)\n" % d.pid)
            self.assertEqual(d.proc.wait(10), 0)
            r = ctl("status")
            self.assertEqual(r.returncode, 3, r.stdout)
            self.assertIn("ksockd: not running", r.stdout)
        finally:
            d.kill()

    def test_unknown_command_suggests_the_near_one(self):
        r = ksockd("-s", "stpo")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'stpo' for -s (reload, stop, reopen, status); did you "
                      "mean 'stop'?", r.stderr)

    def test_without_runtime_dir_or_pid_file_it_says_how_to_find_the_daemon(self):
        d = tempfile.mkdtemp(prefix="ksockd-oper-")
        H._dirs.append(d)
        path = os.path.join(d, "k.conf")
        with open(path, "w") as f:
            f.write(H.render_config([H.listener("e")]))
        env = {k: v for k, v in os.environ.items() if k not in ("RUNTIME_DIRECTORY", "MAINPID")}
        r = subprocess.run([H.KSOCKD, "-s", "status", "-c", path], capture_output=True,
                           text=True, timeout=20, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("-s status needs the daemon's runtime directory", r.stderr)
        self.assertIn("or set pid_file", r.stderr)


TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ksockd\[\d+\] [a-z]+: ")

# In a mount namespace of its own: a /dev with only null/zero/urandom, and /dev/log only
# when $SYSLOG names a socket to mount there; then ksockd without -f.
NO_DEVLOG = r"""
set -e
mount --make-rprivate /
mkdir -p "$T/dev"
mount -t tmpfs tmpfs "$T/dev"
for n in null zero urandom random; do touch "$T/dev/$n"; mount --bind "/dev/$n" "$T/dev/$n"; done
if [ -n "$SYSLOG" ]; then touch "$T/dev/log"; mount --bind "$SYSLOG" "$T/dev/log"; fi
mount --move "$T/dev" /dev
exec "$KSOCKD" -c "$CONF"
"""


class Logs(unittest.TestCase):
    def test_main_log_uses_the_access_log_timestamps(self):
        with H.Daemon([H.listener("echo")]) as d:
            d.wait_log(r"all 2 worker\(s\) ready")
            lines = d.log().splitlines()
        self.assertGreater(len(lines), 2)
        for line in lines:
            m = TIMESTAMP.match(line)
            self.assertIsNotNone(m, line)
            when = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            self.assertLess(abs(when - time.time()), 120, line)  # UTC, not local time

    def detached(self, syslog_sock=None):
        """ksockd without -f in a namespace where /dev/log is syslog_sock or absent."""
        tmp = tempfile.mkdtemp(prefix="ksockd-oper-")
        H._dirs.append(tmp)
        os.chmod(tmp, 0o755)
        pid_file = os.path.join(tmp, "ksockd.pid")
        conf = os.path.join(tmp, "k.conf")
        with open(conf, "w") as f:
            f.write(H.render_config([H.listener("echo")], pid_file=pid_file, workers=1))
        err = open(os.path.join(tmp, "stderr"), "w+")
        self.addCleanup(err.close)
        env = dict(os.environ, T=tmp, CONF=conf, KSOCKD=H.KSOCKD, SYSLOG=syslog_sock or "")
        env.pop("JOURNAL_STREAM", None)
        r = subprocess.run(["unshare", "-m", "sh", "-c", NO_DEVLOG], stdout=subprocess.DEVNULL,
                           stderr=err, env=env, timeout=30)
        self.assertEqual(r.returncode, 0)  # the parent returns once detached
        with open(pid_file) as f:
            pid = int(f.read())
        self.addCleanup(lambda: subprocess.run([H.KSOCKD, "-s", "stop", "-c", conf],
                                               capture_output=True, timeout=60))
        return pid, conf, err

    def wait_for(self, pred, what, timeout=10):
        deadline = time.monotonic() + timeout * H.SLOW
        while not pred():
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.05)

    def test_without_dev_log_detached_lines_go_to_stderr(self):
        pid, conf, err = self.detached()
        self.assertEqual(cmdline(pid), "ksockd: master")
        read = lambda: (err.seek(0), err.read())[1]  # noqa: E731
        self.wait_for(lambda: "ready, serving 1 listener" in read(), "no line after detaching")
        text = read()
        self.assertIn("warning: nothing listens on /dev/log: detaching, but logging to standard "
                      "error", text)
        self.assertRegex(text, r"ksockd\[%d\] notice: ksockd \S+ starting 1 worker" % pid)
        r = subprocess.run([H.KSOCKD, "-s", "stop", "-c", conf], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("notice: stopped", read())

    def test_without_dev_log_a_pipe_is_not_held_open(self):
        tmp = tempfile.mkdtemp(prefix="ksockd-oper-")
        H._dirs.append(tmp)
        os.chmod(tmp, 0o755)
        pid_file = os.path.join(tmp, "ksockd.pid")
        conf = os.path.join(tmp, "k.conf")
        with open(conf, "w") as f:
            f.write(H.render_config([H.listener("echo")], pid_file=pid_file, workers=1))
        env = dict(os.environ, T=tmp, CONF=conf, KSOCKD=H.KSOCKD, SYSLOG="")
        env.pop("JOURNAL_STREAM", None)
        # capture_output: a pipe; it reaches EOF once the parent has detached.
        r = subprocess.run(["unshare", "-m", "sh", "-c", NO_DEVLOG], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, env=env, timeout=30)
        self.addCleanup(lambda: subprocess.run([H.KSOCKD, "-s", "stop", "-c", conf],
                                               capture_output=True, timeout=60))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nothing listens on /dev/log and standard error is a pipe, which a "
                      "detached daemon must not hold: later log lines are lost", r.stderr)

    def test_with_dev_log_detached_lines_go_to_syslog(self):
        tmp = tempfile.mkdtemp(prefix="ksockd-oper-log-")
        H._dirs.append(tmp)
        path = os.path.join(tmp, "log")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        os.chmod(path, 0o666)
        self.addCleanup(sock.close)
        pid, conf, err = self.detached(path)
        got = []
        sock.settimeout(10 * H.SLOW)
        while not any("ready, serving 1 listener" in g for g in got) and len(got) < 50:
            got.append(sock.recv(4096).decode())
        self.assertRegex(got[-1], r"^<29>.*ksockd\[%d\]: all 1 worker\(s\) ready" % pid)
        err.seek(0)
        self.assertNotIn("nothing listens on /dev/log", err.read())

    def test_no_all_zero_udp_lines_at_reload(self):
        ls = [H.listener("u1", protocol="udp"), H.listener("u2", protocol="udp")]
        with H.Daemon(ls) as d:
            for gen in (2, 3):
                if gen == 3:  # traffic on u1: its final lines must then appear
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                        c.settimeout(5)
                        c.sendto(b"ping\n", ("127.0.0.1", d.port("u1")))
                        self.assertEqual(c.recv(100), b"ping\n")
                d.reload()
                d.wait_log(r"worker \d \(pid \d+, generation %d\) exited after draining"
                           % (gen - 1), count=2)
            log = d.log()
        finals = re.findall(r"udp '(\w+)': worker \d: answered=(\d+) .*\(final\)", log)
        self.assertEqual([f for f in finals if f[0] == "u2"], [], log)
        self.assertIn(("u1", "1"), finals, log)
        self.assertNotRegex(log, r"answered=0 dropped: too_big=0 rate=0 port=0 ratio=0 bcast=0 "
                                 r"send_full=0 error=0 denied=0 kernel=0 \(final\)")


def scrape(port):
    """The /metrics exposition as {series: value}, and its text."""
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    series = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            series[k] = float(v)
    return series, body


class Metrics(unittest.TestCase):
    """New metrics against the real daemon; promtool stays clean."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ksockd-oper-")
        H._dirs.append(cls.tmp)
        os.chmod(cls.tmp, 0o755)
        key, cert = self_signed(cls.tmp)
        os.chmod(key, 0o644)  # workers run as nobody in this test
        cls.cert = cert
        cls.ls = [H.listener("echo"), H.listener("m", "metrics"),
                  H.listener("t", protocol="tls", certificate=cert, key=key)]
        cls.d = H.Daemon(cls.ls)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def wait_scrape(self, pred, what):
        deadline = time.monotonic() + 15 * H.SLOW
        while True:
            m, body = scrape(self.d.port("m"))
            if pred(m):
                return m, body
            self.assertLess(time.monotonic(), deadline, "%s; got:\n%s" % (what, body))
            time.sleep(0.1)

    def test_promtool_is_clean(self):
        _, body = scrape(self.d.port("m"))
        r = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, b"")

    def test_build_info_matches_V(self):
        m, _ = scrape(self.d.port("m"))
        v = {l.split(" ", 1)[0]: l for l in ksockd("-V").stdout.splitlines()}
        info = [k for k in m if k.startswith("ksockd_build_info{")]
        self.assertEqual(len(info), 1)
        self.assertEqual(m[info[0]], 1)
        self.assertIn('version="%s"' % v["ksockd"].split()[1], info[0])
        self.assertIn('gnutls="%s"' % v["GnuTLS"].split()[1], info[0])
        self.assertIn('libev="%s"' % v["libev"].split()[1], info[0])

    def test_bytes_names_follow_prometheus_with_old_names_deprecated(self):
        with H.connect(self.d.port("echo")) as s:
            s.sendall(b"twelve bytes\n")
            self.assertEqual(H.recv_until(s), b"twelve bytes\n")
        m, body = self.wait_scrape(
            lambda m: sum(v for k, v in m.items() if k.startswith('ksockd_sent_bytes_total{'
                                                                  'listener="echo"')) >= 13,
            "the echo to be counted")
        for new, old in (("received_bytes", "bytes_received"), ("sent_bytes", "bytes_sent")):
            for w in range(2):
                k = '{listener="echo",worker="%d"}' % w
                self.assertEqual(m["ksockd_%s_total%s" % (new, k)], m["ksockd_%s_total%s" % (old, k)])
            self.assertIn("# HELP ksockd_%s_total Deprecated, removed in 0.2: use ksockd_%s_total."
                          % (old, new), body)

    def test_process_metrics_of_master_and_workers(self):
        m, _ = self.wait_scrape(lambda m: m.get('process_open_fds{process="master"}', 0) > 0 and
                                all(m.get('process_open_fds{process="worker",worker="%d"}' % w, 0)
                                    > 0 for w in range(2)), "the first /proc sample")
        with open("/proc/%d/statm" % self.d.pid) as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        got = m['process_resident_memory_bytes{process="master"}']
        self.assertLess(abs(got - rss), rss / 2, (got, rss))
        fds = len(os.listdir("/proc/%d/fd" % self.d.pid))
        self.assertLess(abs(m['process_open_fds{process="master"}'] - fds), 5)
        self.assertEqual(sorted(k for k in m if k.startswith("process_cpu_seconds_total{")),
                         ['process_cpu_seconds_total{process="master"}',
                          'process_cpu_seconds_total{process="worker",worker="0"}',
                          'process_cpu_seconds_total{process="worker",worker="1"}'])

    def test_histograms_of_connection_duration_and_tls_handshakes(self):
        def hist(m, fam, listener):
            return {k: v for k, v in m.items() if k.startswith(fam) and
                    'listener="%s"' % listener in k}
        before, _ = scrape(self.d.port("m"))
        b = hist(before, "ksockd_connection_duration_seconds", "echo")
        with H.connect(self.d.port("echo")) as s:
            s.sendall(b"x\n")
            self.assertEqual(H.recv_until(s), b"x\n")
            time.sleep(0.6)  # the duration being measured, not a synchronisation
        fam = "ksockd_connection_duration_seconds"
        key = lambda suffix, le=None: '%s_%s{listener="echo"%s}' % (  # noqa: E731
            fam, suffix, ',le="%s"' % le if le else "")
        m, _ = self.wait_scrape(lambda m: m[key("count")] == b[key("count")] + 1,
                                "the connection to be observed")
        self.assertEqual(m[key("bucket", "0.5")], b[key("bucket", "0.5")])
        self.assertEqual(m[key("bucket", "+Inf")], b[key("bucket", "+Inf")] + 1)
        self.assertGreaterEqual(m[key("sum")] - b[key("sum")], 0.6)
        # One TLS handshake: counted in the handshake histogram of listener t.
        tfam = "ksockd_tls_handshake_duration_seconds"
        t0 = before['%s_count{listener="t"}' % tfam]
        r = subprocess.run(["gnutls-cli", "--x509cafile", self.cert, "-p", str(self.d.port("t")),
                            "localhost"], input=b"hi\n", capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        m, _ = self.wait_scrape(lambda m: m['%s_count{listener="t"}' % tfam] == t0 + 1,
                                "the handshake to be observed")
        self.assertGreater(m['%s_sum{listener="t"}' % tfam], before['%s_sum{listener="t"}' % tfam])
        self.assertNotIn('%s_count{listener="echo"}' % tfam, m)  # TLS listeners only

    def test_reload_metrics(self):
        m0, _ = scrape(self.d.port("m"))
        ok0 = m0['ksockd_reloads_total{result="ok"}']
        bad0 = m0['ksockd_reloads_total{result="rejected"}']
        t0 = m0["ksockd_config_last_reload_success_timestamp_seconds"]
        self.assertEqual(m0["ksockd_config_last_reload_successful"], 1)
        with open(self.d.conf_path, "a") as f:
            f.write("bogus = 1;\n")
        self.d.reload(expect_ok=False)
        m, _ = self.wait_scrape(lambda m: m['ksockd_reloads_total{result="rejected"}'] == bad0 + 1,
                                "the rejected reload")
        self.assertEqual(m["ksockd_config_last_reload_successful"], 0)
        self.assertEqual(m["ksockd_config_last_reload_success_timestamp_seconds"], t0)
        self.d.reload(self.ls)
        m, _ = self.wait_scrape(lambda m: m['ksockd_reloads_total{result="ok"}'] == ok0 + 1,
                                "the good reload")
        self.assertEqual(m["ksockd_config_last_reload_successful"], 1)
        self.assertGreater(m["ksockd_config_last_reload_success_timestamp_seconds"], t0)
        self.assertLess(abs(m["ksockd_config_last_reload_success_timestamp_seconds"] - time.time()),
                        60)


PEERS = ["nginx", "haproxy", "prometheus", "openbsd-inetd", "inetd", "xinetd", "redis-server"]
SHIM = """#!/bin/sh
echo "$(basename "$0") $*" >> "$SHIM_LOG"
[ "$(basename "$0")" = dpkg-query ] && exit 1   # nothing is installed
[ "$(basename "$0")" = sudo ] && [ "$1" = tee ] && cat >/dev/null
exit 0
"""


class InstallDeps(unittest.TestCase):
    """tools/install-deps, run for real as a plain user on a PATH where dpkg-query says
    nothing is installed and sudo only records what it was asked to run."""

    def run_install_deps(self, *args):
        tmp = tempfile.mkdtemp(prefix="ksockd-oper-deps-")
        H._dirs.append(tmp)
        os.chmod(tmp, 0o777)
        for name in ("sudo", "dpkg-query"):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(SHIM)
            os.chmod(os.path.join(tmp, name), 0o755)
        log = os.path.join(tmp, "log")
        env = dict(os.environ, PATH=tmp + ":/usr/bin:/bin:/usr/sbin:/sbin", SHIM_LOG=log)
        r = subprocess.run([os.path.join(SRC, "tools", "install-deps")] + list(args), env=env,
                           capture_output=True, text=True, timeout=60, preexec_fn=as_nobody)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(log) as f:
            calls = [l for l in f.read().splitlines() if l.startswith("sudo ")]
        install = [c for c in calls if c.startswith("sudo apt-get install")]
        self.assertEqual(len(install), 1, calls)
        return set(install[0].split()[6:]), calls

    def test_run_command_installs_build_and_run_dependencies_only(self):
        pkgs, calls = self.run_install_deps()
        self.assertEqual(pkgs, {"build-essential", "autoconf", "automake", "libtool",
                                "pkg-config", "libev-dev", "libgnutls28-dev", "libconfig-dev",
                                "libsystemd-dev", "check", "gnutls-bin", "netcat-openbsd", "curl"})
        self.assertEqual([c for c in calls if "systemctl" in c or "update-rc.d" in c], [])

    def test_test_command_adds_test_peers_and_disables_their_services(self):
        pkgs, calls = self.run_install_deps("--test")
        for p in ("nginx-light", "haproxy", "prometheus", "check", "valgrind", "socat",
                  "sslscan", "libev-dev", "netcat-openbsd"):
            self.assertIn(p, pkgs)
        # A policy-rc.d keeps every service from starting while apt runs (the machine's own
        # if it has one, else one of ours, removed afterwards).
        if not os.path.exists("/usr/sbin/policy-rc.d"):
            self.assertIn("sudo tee /usr/sbin/policy-rc.d", calls)
            self.assertIn("sudo rm -f /usr/sbin/policy-rc.d", calls)
        disables = [i for i, c in enumerate(calls) if "systemctl disable" in c]
        self.assertTrue(disables, calls)  # the test peers were just installed: units exist
        self.assertLess(calls.index([c for c in calls if "apt-get install" in c][0]), disables[0])
        for s in PEERS:
            if os.path.exists("/lib/systemd/system/%s.service" % s):
                self.assertIn("sudo systemctl disable --quiet %s.service" % s, calls)
            if os.path.exists("/etc/init.d/%s" % s):
                self.assertIn("sudo update-rc.d %s disable" % s, calls)

    def test_no_test_peer_is_enabled_on_this_machine(self):
        # systemctl is-enabled needs systemd as PID 1: read the links it would read.
        wants = []
        for d in os.listdir("/etc/systemd/system"):
            if d.endswith(".wants"):
                wants += os.listdir(os.path.join("/etc/systemd/system", d))
        rc = []
        for d in ("/etc/rc2.d", "/etc/rc3.d", "/etc/rc4.d", "/etc/rc5.d"):
            if os.path.isdir(d):
                rc += [n[3:] for n in os.listdir(d) if n.startswith("S")]
        for s in PEERS:
            self.assertNotIn(s + ".service", wants, "%s.service is enabled" % s)
            self.assertNotIn(s, rc, "%s starts at boot (SysV)" % s)


class OfflineBuild(unittest.TestCase):
    """The unit tests (what dpkg-buildpackage runs) pass with no network, no DNS and an
    empty /etc/hosts, as in Debian's build chroots."""

    def test_unit_tests_need_no_resolver(self):
        build = os.path.dirname(os.path.abspath(H.KSOCKD))
        script = ("mount --make-rprivate / && mount --bind /dev/null /etc/hosts && "
                  "mount --bind /dev/null /etc/resolv.conf && "
                  'for t in "$@"; do "$t" >/dev/null 2>"$t.offline.log" || '
                  '{ cat "$t.offline.log" >&2; exit 1; }; rm -f "$t.offline.log"; done')
        units = sorted(os.path.join(build, "tests", "unit", n)
                       for n in os.listdir(os.path.join(build, "tests", "unit"))
                       if n.startswith("test_") and "." not in n and "-" not in n)
        self.assertIn(os.path.join(build, "tests", "unit", "test_conf"), units)
        r = subprocess.run(["unshare", "-m", "-n", "sh", "-c", script, "sh"] + units,
                           capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, CK_DEFAULT_TIMEOUT="30"))
        self.assertEqual(r.returncode, 0, r.stderr)


class BindErrors(unittest.TestCase):
    """bind(2) failures name FILE:LINE, the listener and the fix, at start and at reload."""

    def test_bind_failure_at_start(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        try:
            d = H.Daemon([H.listener("echo"), H.listener("taken", port=port)], wait_ready=False)
            rc = d.proc.wait(20 * H.SLOW)
            self.assertNotEqual(rc, 0)
            line = line_of(d.conf_path, "taken")
            self.assertIn("%s:%d: listener 'taken': cannot bind tcp 127.0.0.1:%d: Address "
                          "already in use; another socket holds this address and port "
                          "(ss -ltnup 'sport = :%d' shows which process)"
                          % (d.conf_path, line, port, port), d.log())
        finally:
            busy.close()

    def test_low_port_as_a_plain_user_at_start(self):
        tmp = tempfile.mkdtemp(prefix="ksockd-oper-")
        H._dirs.append(tmp)
        os.chmod(tmp, 0o755)
        path = os.path.join(tmp, "k.conf")
        with open(path, "w") as f:
            f.write(H.render_config([H.listener("echo"), H.listener("low", port=80)]))
        os.chmod(path, 0o644)
        r = subprocess.run([H.KSOCKD, "-f", "-c", path], capture_output=True, text=True,
                           timeout=30, preexec_fn=as_nobody, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:%d: listener 'low': cannot bind tcp 127.0.0.1:80: Permission denied; "
                      "ports below 1024 need CAP_NET_BIND_SERVICE" % (path, line_of(path, "low")),
                      r.stderr)

    def test_host_port_in_an_ipv6_address_at_start(self):
        d = H.Daemon([H.listener("echo"), H.listener("v6", address="::1:2572", port=2572)],
                     wait_ready=False)
        rc = d.proc.wait(20 * H.SLOW)
        self.assertNotEqual(rc, 0)
        self.assertIn("%s:%d: listener 'v6': cannot bind tcp [::0.1.37.114]:2572: Cannot assign "
                      "requested address; 'address' takes the host only: if you meant host ::1 "
                      "port 2572, write address = \"::1\"; port = 2572;"
                      % (d.conf_path, line_of(d.conf_path, "v6")), d.log())

    def test_bind_failure_at_reload_keeps_serving(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        try:
            with H.Daemon([H.listener("echo")]) as d:
                m = d.reload([H.listener("echo", port=d.port("echo")),
                              H.listener("taken", port=port)], expect_ok=False)
                self.assertIn("listener 'taken': cannot bind tcp 127.0.0.1:%d" % port, m)
                self.assertRegex(d.log(), r"reload rejected, keeping the running config: "
                                 r"%s:\d+: listener 'taken': cannot bind tcp 127.0.0.1:%d: "
                                 r"Address already in use; another socket holds"
                                 % (d.conf_path, port))
                with H.connect(d.port("echo")) as c:
                    c.sendall(b"still\n")
                    self.assertEqual(H.recv_until(c), b"still\n")
        finally:
            busy.close()


if __name__ == "__main__":
    unittest.main()
