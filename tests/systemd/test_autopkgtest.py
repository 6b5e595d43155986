#!/usr/bin/env python3
"""test_autopkgtest.py: Debian's own checks of the built packages.

- autopkgtest (DEP-8) runs debian/tests/control's tests (service,
  inetd-services: the installed service, talked to with the packaged client)
  in a booted Debian 12 container (test_nspawn.Container: systemd as PID 1,
  so the package's postinst really starts ksockd.service). autopkgtest is
  installed into the container's tree before it boots (the only step with
  network access) and runs there with its "null" backend: the container is
  the testbed, so the tests' needs-root and isolation-container are met and
  nothing touches this machine.
- piuparts installs and purges both packages in a fresh debootstrapped
  chroot. --warn-on-others: purging leaves systemd's own directories
  (/var/lib/private, /var/cache/private, /var/log/private,
  /var/lib/systemd/coredump, ...), created because the packages pull systemd
  in; piuparts then reports them as left by a dependency, not by ksockd, and
  still passes. Every file of ksockd's own must go (piuparts fails on those).

Builds the packages as test_package.py does. Needs root, dpkg-buildpackage,
debhelper, autopkgtest, piuparts and what test_nspawn.py needs: otherwise it
skips (exit 77), or fails with KSOCKD_SYSTEMD_REQUIRED=1.
"""
import glob
import os
import re
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_nspawn as N  # noqa: E402
import test_package as P  # noqa: E402

TESTS = ("service", "inetd-services")  # debian/tests/control


def missing():
    why = P.missing()
    if why:
        return why
    for tool in ("autopkgtest", "piuparts"):
        if not shutil.which(tool):
            return "%s not installed (tools/install-deps installs it)" % tool
    return None


def mirror():
    """The machine's own apt source, as tests/systemd/make-root uses."""
    for path, pat in (("/etc/apt/sources.list.d/debian.sources", r"(?m)^URIs:\s*(\S+)"),
                      ("/etc/apt/sources.list", r"(?m)^deb\s+(?:\[[^]]*\]\s+)?(\S+)")):
        try:
            with open(path) as f:
                m = re.search(pat, f.read())
        except OSError:
            continue
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


class DebianChecks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="ksockd-dep8-", dir="/var/tmp")
        cls.changes, cls.deb, cls.client_deb, cls.src = P.build(cls.work)
        cls.c = None

    @classmethod
    def tearDownClass(cls):
        if cls.c:
            cls.c.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def prepare(self, root):
        """Puts the packages and debian/ in the tree, and autopkgtest in it."""
        dst = os.path.join(root, "var/tmp/dep8")
        os.makedirs(dst)
        for deb in (self.deb, self.client_deb):
            shutil.copy(deb, dst)
        # Only debian/tests: autopkgtest then takes the tree as built (runs the
        # tests from it, builds nothing, needs no dpkg-dev) and installs the
        # .debs given for the tests' Depends.
        shutil.copytree(os.path.join(self.src, "debian", "tests"),
                        os.path.join(dst, "src", "debian", "tests"))
        r = N.run(["systemd-nspawn", "-q", "--register=no", "--keep-unit", "-D", root, "--pipe",
                   "sh", "-c", "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
                   "apt-get install -y -qq --no-install-recommends autopkgtest </dev/null"],
                  timeout=600)
        self.assertEqual(r.returncode, 0, "installing autopkgtest in the container:\n" +
                         (r.stdout + r.stderr)[-3000:])
        # The booted container has no network: apt must only see what is local
        # (autopkgtest adds a source of its own for the packages under test).
        for f in glob.glob(os.path.join(root, "etc/apt/sources.list.d/*")) + \
                [os.path.join(root, "etc/apt/sources.list")]:
            if os.path.exists(f):
                os.unlink(f)

    def test_autopkgtest_in_a_booted_container(self):
        c = DebianChecks.c = N.Container(install=False, prepare=self.prepare)
        debs = " ".join("/var/tmp/dep8/" + os.path.basename(d) for d in (self.deb, self.client_deb))
        r = c.sh("autopkgtest %s /var/tmp/dep8/src -- null 2>&1" % debs, timeout=900)
        out = r.stdout + r.stderr
        with open(os.path.join(self.work, "autopkgtest.log"), "w") as f:
            f.write(out)
        summary = out[out.rfind("@@@@@@@@@@@@@@@@@@@@ summary"):]
        results = dict(re.findall(r"(?m)^(\S+)\s+(PASS|FAIL|SKIP|FLAKY|BROKEN|NEUTRAL)\b",
                                  summary))
        self.assertEqual(results, {t: "PASS" for t in TESTS}, out[-6000:])
        self.assertEqual(r.returncode, 0, out[-3000:])
        # What the tests talked to: the service the package started, still running.
        self.assertEqual(c.prop("ksockd", "ActiveState"), "active")
        self.assertIn("ok: ksockd.service active as user ksockd", out)
        self.assertIn("ok: time, daytime, chargen and echo answer over TCP and UDP", out)

    def test_piuparts_install_and_purge(self):
        r = N.run(["piuparts", "-d", "bookworm", "-m", mirror(), "--warn-on-others",
                   self.deb, self.client_deb], timeout=1200)
        out = r.stdout + r.stderr
        with open(os.path.join(self.work, "piuparts.log"), "w") as f:
            f.write(out)
        self.assertEqual(r.returncode, 0, out[-6000:])
        self.assertIn("PASS: All tests.", out)
        self.assertNotRegex(out, r"(?m)^\S+ FAIL:")


if __name__ == "__main__":
    why = missing()
    if why:
        print("test_autopkgtest: SKIP: needs root with dpkg-buildpackage, debhelper, autopkgtest, "
              "piuparts, systemd-nspawn, nsenter and debootstrap: %s" % why)
        sys.exit(1 if os.environ.get("KSOCKD_SYSTEMD_REQUIRED") == "1" else 77)
    unittest.main(verbosity=2)
