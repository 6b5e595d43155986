#!/usr/bin/env python3
"""test_package.py: the Debian packages ksockd and ksock. Builds them from a
clean copy of the source tree with dpkg-buildpackage, checks them with
lintian (no error, no warning), then, in a booted Debian 12 container
(test_nspawn.Container): dpkg -i installs the system user, the conffiles
(config, logrotate) and the units and starts the service, and the packaged
ksock client talks to it; an edited conffile survives the upgrade to newer
builds (the same packages with their version bumped) and the service comes
back with the edit; apt-get purge of both leaves no file, user, unit or
process behind. Needs root,
dpkg-buildpackage, debhelper, lintian and what test_nspawn.py needs:
otherwise it skips (exit 77; a failure under CI, see tests/run-test), or
fails with KSOCKD_SYSTEMD_REQUIRED=1. Missing build dependencies of
debian/control always fail it: tools/install-deps must install them.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_nspawn as N  # noqa: E402

SRC = N.SRC


def missing():
    why = N.missing()
    if why:
        return why
    for tool in ("dpkg-buildpackage", "dh", "lintian", "dpkg-checkbuilddeps"):
        if not shutil.which(tool):
            return "%s not installed (tools/install-deps installs it)" % tool
    return None


def check_build_deps():
    """A Build-Depends that tools/install-deps does not install is a bug in the tree, not a
    reason to skip: fail, naming the missing packages."""
    r = N.run(["dpkg-checkbuilddeps", os.path.join(SRC, "debian", "control")])
    if r.returncode != 0:
        print("test_package: FAIL: build dependencies of debian/control are not installed "
              "(add them to tools/install-deps): " + r.stderr.strip())
        sys.exit(1)


def clean_copy(dst):
    """The source tree without build products: git's file list when it is a checkout."""
    top = N.run(["git", "-C", SRC, "rev-parse", "--show-toplevel"]).stdout.strip()
    r = N.run(["git", "-C", SRC, "ls-files", "-co", "--exclude-standard", "-z"])
    if top and os.path.realpath(top) == os.path.realpath(SRC) and r.returncode == 0:
        for name in r.stdout.split("\0"):
            src = os.path.join(SRC, name)
            if name and os.path.isfile(src) and not os.path.islink(src):
                os.makedirs(os.path.dirname(os.path.join(dst, name)), exist_ok=True)
                shutil.copy2(src, os.path.join(dst, name))
        # Generated from .in files, ignored by git: never part of the source.
        for gen in ("systemd/ksockd.service", "systemd/ksockd-socket.service"):
            if os.path.exists(os.path.join(dst, gen)):
                os.unlink(os.path.join(dst, gen))
    else:  # an unpacked release tarball (make distcheck): already clean
        shutil.copytree(SRC, dst, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("_build", "_inst"))
        for root, _, files in os.walk(dst):
            for f in files:
                os.chmod(os.path.join(root, f), 0o644 | (os.stat(os.path.join(root, f)).st_mode & 0o111))
        os.chmod(dst, 0o755)


def bump(deb, version, outdir):
    """The same package as a newer version (an upgrade without a second build)."""
    tree = tempfile.mkdtemp(dir=outdir)
    N.run(["dpkg-deb", "-R", deb, tree], check=True)
    ctl = os.path.join(tree, "DEBIAN", "control")
    with open(ctl) as f:
        text = re.sub(r"(?m)^Version: .*$", "Version: " + version, f.read())
    with open(ctl, "w") as f:
        f.write(text)
    out = os.path.join(outdir, re.sub(r"_[^_]+_", "_%s_" % version, os.path.basename(deb), 1))
    N.run(["dpkg-deb", "--root-owner-group", "-b", tree, out], check=True)
    shutil.rmtree(tree)
    return out


def build(work):
    """Builds the packages from a clean copy of the tree in work/ksockd; returns
    (the .changes, the ksockd .deb, the ksock .deb, the source copy)."""
    src = os.path.join(work, "ksockd")
    clean_copy(src)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAKE", "MFLAGS", "KSOCKD", "DEB_"))}
    # make check has run the unit tests already (dpkg-buildpackage runs them by default).
    env["DEB_BUILD_OPTIONS"] = "parallel=2 nocheck"
    r = N.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, timeout=900)
    with open(os.path.join(work, "build.log"), "w") as f:
        f.write(r.stdout + r.stderr)
    if r.returncode != 0:
        raise AssertionError("dpkg-buildpackage failed:\n" + (r.stdout + r.stderr)[-4000:])
    return (glob.glob(os.path.join(work, "ksockd_*.changes"))[0],
            glob.glob(os.path.join(work, "ksockd_*_*.deb"))[0],
            glob.glob(os.path.join(work, "ksock_*_*.deb"))[0], src)


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="ksockd-pkg-", dir="/var/tmp")
        cls.changes, cls.deb, cls.client_deb, _ = build(cls.work)
        cls.version = re.search(r"ksockd_([^_]+)_", cls.deb).group(1)
        cls.c = None

    @classmethod
    def tearDownClass(cls):
        if cls.c:
            cls.c.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_1_lintian_clean(self):
        r = N.run(["lintian", "--fail-on", "error,warning", "--no-tag-display-limit",
                   self.changes], timeout=300)
        tags = [l for l in r.stdout.splitlines() if re.match(r"^[EW]: ", l)]
        self.assertEqual((r.returncode, tags), (0, []), r.stdout + r.stderr)

    def test_2_install_upgrade_purge(self):
        c = Package.c = N.Container(install=False)
        newer = bump(self.deb, self.version + ".1", self.work)
        newer_client = bump(self.client_deb, self.version + ".1", self.work)
        for deb in (self.deb, newer, self.client_deb, newer_client):
            shutil.copy(deb, os.path.join(c.root, "var/tmp"))
        dpkg = "DEBIAN_FRONTEND=noninteractive dpkg -i /var/tmp/%s /var/tmp/%s </dev/null"

        # Install: user, conffiles, units, running service on loopback.
        c.ok(dpkg % (os.path.basename(self.deb), os.path.basename(self.client_deb)))
        self.assertIn("/usr/sbin/nologin", c.ok("getent passwd ksockd"))
        conffiles = c.ok("dpkg-query -W -f='${Conffiles}' ksockd")
        for f in ("/etc/ksockd.conf", "/etc/logrotate.d/ksockd"):
            self.assertIn(f, conffiles)
        self.assertEqual(c.ok("systemctl is-enabled ksockd").strip(), "enabled")
        self.assertEqual(c.sh("systemctl is-enabled ksockd.socket").stdout.strip(), "disabled")
        self.assertEqual(c.prop("ksockd", "ActiveState"), "active")
        main = c.prop("ksockd", "MainPID")
        self.assertEqual(c.ok("ps -o user= -p %s" % main).strip(), "ksockd")
        self.assertIn("active (running)", c.ok("systemctl status ksockd"))
        self.assertEqual(c.talk(7007), b"ping\n")
        self.assertTrue(c.talk(9002, b"Cy\n").startswith(b"Please enter your name\n"))
        for port in (7007, 9002):
            self.assertIn("127.0.0.1:%d" % port, "".join(c.listening(port)))
        for page in ("man8/ksockd.8.gz", "man5/ksockd.conf.5.gz", "man1/ksock.1.gz"):
            self.assertTrue(os.path.exists(os.path.join(c.root, "usr/share/man", page)), page)
        # The client from the ksock package, against the packaged service.
        self.assertEqual(c.ok("ksock -q -e ping 127.0.0.1 7007"), "ping\n")
        self.assertIn("errors: 0", c.ok("ksock bench -q -c 4 -n 400 127.0.0.1 7007"))
        self.assertEqual(c.ok("dpkg-query -W -f='${Package}\\n' ksock ksockd").split(),
                         ["ksock", "ksockd"])

        # Upgrade with an edited conffile: the edit stays, the service restarts with it.
        conf = c.read("/etc/ksockd.conf").replace(
            "listeners = (", 'listeners = (\n  { name = "extra"; protocol = "tcp"; '
            'address = "127.0.0.1"; port = 7011; handler = "echo"; },', 1)
        c.write("/etc/ksockd.conf", conf)
        c.ok(dpkg % (os.path.basename(newer), os.path.basename(newer_client)))
        for pkg in ("ksockd", "ksock"):
            self.assertEqual(c.ok("dpkg-query -W -f='${Version}' " + pkg), self.version + ".1")
        self.assertEqual(c.read("/etc/ksockd.conf"), conf)
        self.assertFalse(os.path.exists(os.path.join(c.root, "etc/ksockd.conf.dpkg-new")))
        self.assertEqual(c.prop("ksockd", "ActiveState"), "active")
        self.assertNotEqual(c.prop("ksockd", "MainPID"), main, "not restarted on upgrade")
        self.assertEqual(c.talk(7011), b"ping\n")
        self.assertEqual(c.sh("systemctl --failed --plain --no-legend").stdout.strip(), "")

        # Purge: nothing left.
        c.ok("DEBIAN_FRONTEND=noninteractive apt-get purge -y ksockd ksock </dev/null")
        for pkg in ("ksockd", "ksock"):
            self.assertNotEqual(c.sh("dpkg-query -W -f='${Status}' " + pkg).stdout,
                                "install ok installed")
        self.assertNotEqual(c.sh("getent passwd ksockd").returncode, 0, "user left")
        self.assertNotEqual(c.sh("getent group ksockd").returncode, 0, "group left")
        self.assertNotEqual(c.sh("pgrep -x ksockd").returncode, 0, "process left")
        left = c.sh("ls -d /etc/ksockd* /usr/sbin/ksockd /lib/systemd/system/ksockd* "
                    "/usr/lib/sysusers.d/ksockd.conf /run/ksockd "
                    "/etc/systemd/system/*/ksockd* /var/lib/systemd/deb-systemd-helper-enabled/"
                    "*ksockd* /usr/share/doc/ksockd /etc/logrotate.d/ksockd /usr/bin/ksock "
                    "/usr/share/doc/ksock /usr/share/man/*/ksock* /var/log/ksockd "
                    "/var/log/private/ksockd 2>/dev/null").stdout
        self.assertEqual(left.strip(), "", "left behind after purge")
        self.assertEqual(c.prop("ksockd", "LoadState"), "not-found")
        self.assertEqual(c.sh("systemctl --failed --plain --no-legend").stdout.strip(), "")


if __name__ == "__main__":
    why = missing()
    if why:
        print("test_package: SKIP: needs root with dpkg-buildpackage, debhelper, lintian, "
              "systemd-nspawn, nsenter and debootstrap: %s" % why)
        sys.exit(1 if os.environ.get("KSOCKD_SYSTEMD_REQUIRED") == "1" else 77)
    check_build_deps()
    unittest.main(verbosity=2)
