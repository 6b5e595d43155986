#!/usr/bin/env python3
"""test_operator.py: what an operator sees, against the real daemon: config
errors that point at the fix (FILE:LINE: listener 'NAME': reason; hint), bind
failures at start and at reload in the same form."""
import os
import socket
import subprocess
import sys
import tempfile
import unittest

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
