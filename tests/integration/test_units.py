#!/usr/bin/env python3
"""test_units.py: the systemd units in systemd/ verify with systemd-analyze,
and their sandboxing scores stay within the limits doc/SYSTEMD.md records:
ksockd.service (binds its own ports) <= 1.6, ksockd-socket.service (every
listener passed by a socket unit) <= 1.0."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SRC = os.environ.get("KSOCKD_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.abspath(H.KSOCKD))
# The services are generated (sbindir, sysconfdir filled in) in the build tree.
UNITS = {"ksockd.service": BUILD, "ksockd-socket.service": BUILD,
         "ksockd.socket": SRC, "ksockd-hello.socket": SRC, "ksockd-stats.socket": SRC,
         "ksockd-metrics.socket": SRC}
NAMES = list(UNITS)


def unit_path(name):
    return os.path.join(UNITS[name], "systemd", name)


def analyze(*args):
    return subprocess.run(["systemd-analyze"] + list(args), capture_output=True, text=True,
                          timeout=60)


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze missing")
class Units(unittest.TestCase):
    def test_units_verify(self):
        # ExecStart= must name an existing binary: point it at the one just built.
        with tempfile.TemporaryDirectory() as d:
            for n in NAMES:
                with open(unit_path(n)) as f:
                    text = re.sub(r"(?m)^(Exec\w+=)\S+/ksockd ", r"\g<1>%s " % os.path.abspath(H.KSOCKD),
                                  f.read())
                with open(os.path.join(d, n), "w") as f:
                    f.write(text)
            r = analyze("verify", "--man=no", *[os.path.join(d, n) for n in NAMES])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stderr.strip(), "", r.stderr)

    def score(self, unit):
        r = analyze("security", "--offline=yes", unit_path(unit))
        m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        return float(m.group(1))

    def test_service_exposure_at_most_1_6(self):
        self.assertLessEqual(self.score("ksockd.service"), 1.6)

    def test_socket_activated_service_exposure_at_most_1_0(self):
        self.assertLessEqual(self.score("ksockd-socket.service"), 1.0)

    def test_socket_units_name_fds_after_default_listeners(self):
        # As the Debian package installs it (tools/package-conf): its TLS listener is
        # commented out there, having no certificate, so it needs no socket unit.
        conf = subprocess.run([os.path.join(SRC, "tools", "package-conf"),
                               os.path.join(SRC, "conf", "ksockd.conf")],
                              check=True, capture_output=True, text=True).stdout
        conf = "".join(line.split("#", 1)[0] + "\n" for line in conf.splitlines())
        names = []
        for unit in (n for n in NAMES if n.endswith(".socket")):
            with open(unit_path(unit)) as f:
                text = f.read()
            name = re.search(r"^FileDescriptorName=(\S+)$", text, re.M).group(1)
            addr, port = re.search(r"^ListenStream=(\S+):(\d+)$", text, re.M).groups()
            block = re.search(r'name = "%s";(.*?)\}' % name, conf, re.S)
            self.assertIsNotNone(block, "no listener '%s' in conf/ksockd.conf" % name)
            self.assertIn('address = "%s"' % addr, block.group(1))
            self.assertIn("port = %s;" % port, block.group(1))
            names.append(name)
        # ksockd-socket.service allows AF_UNIX only: every listener needs its socket unit.
        listeners = re.findall(r'^\s*name = "([^"]+)";', conf, re.M)
        self.assertEqual(sorted(names), sorted(listeners))


if __name__ == "__main__":
    unittest.main(verbosity=2)
