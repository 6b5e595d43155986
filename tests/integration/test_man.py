#!/usr/bin/env python3
"""test_man.py: the manual pages render without a warning (man --warnings),
and ksockd(8) lists every option ksockd -h prints."""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SRC = os.environ.get("KSOCKD_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
PAGES = ["man/ksockd.8", "man/ksockd.conf.5"]


@unittest.skipUnless(shutil.which("man"), "man missing")
class ManPages(unittest.TestCase):
    def render(self, page):
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        r = subprocess.run(["man", "--warnings", "-l", os.path.join(SRC, page)],
                           capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "", "%s: %s" % (page, r.stderr))
        return r.stdout

    def test_pages_render_without_warnings(self):
        for page in PAGES:
            self.assertIn("NAME", self.render(page))

    def test_ksockd_8_documents_every_option(self):
        text = self.render("man/ksockd.8")
        usage = subprocess.run([H.KSOCKD, "-h"], capture_output=True, text=True,
                               timeout=10).stdout
        for opt in re.findall(r"(--[a-z-]+)", usage):
            self.assertIn(opt, text, "%s missing from ksockd(8)" % opt)

    def test_ksockd_conf_5_documents_every_setting(self):
        text = self.render("man/ksockd.conf.5")
        with open(os.path.join(SRC, "src", "conf.c")) as f:
            names = re.findall(r'^\s*\{"(\w+)", SET_', f.read(), re.M)
        self.assertGreater(len(names), 10)
        for name in names:
            self.assertIn(name, text, "setting %s missing from ksockd.conf(5)" % name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
