#!/usr/bin/env python3
"""test_man.py: the manual pages render without a warning (man --warnings),
ksockd(8) lists every option ksockd -h prints, ksockd.conf(5) every setting
of conf.c's table, and each configuration example in ksockd.conf(5) passes
ksockd -t."""
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
PAGES = ["man/ksockd.8", "man/ksockd.conf.5"]


@unittest.skipUnless(shutil.which("man"), "man missing")
class ManPages(unittest.TestCase):
    def render(self, page, width=80):
        env = dict(os.environ, MANWIDTH=str(width), LC_ALL="C.UTF-8")
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

    def self_signed(self, d):
        """A certificate and its key (also used as the clients' CA) for TLS examples."""
        if not shutil.which("certtool"):
            self.skipTest("certtool missing (gnutls-bin)")
        key, cert, tmpl = (os.path.join(d, n) for n in ("key.pem", "cert.pem", "cert.tmpl"))
        if not os.path.exists(cert):
            with open(tmpl, "w") as f:
                f.write('cn = "localhost"\ndns_name = "localhost"\nca\ncert_signing_key\n'
                        "tls_www_server\nexpiration_days = 2\n")
            for argv in (["certtool", "--generate-privkey", "--key-type=ecdsa", "--outfile", key],
                         ["certtool", "--generate-self-signed", "--load-privkey", key,
                          "--template", tmpl, "--outfile", cert]):
                r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
        return cert, key

    def test_ksockd_conf_5_examples_are_valid(self):
        text = self.render("man/ksockd.conf.5", width=200)  # no example line wrapped
        # Example blocks: the indented (.nf) runs of lines holding a listener list.
        blocks = [b for b in re.findall(r"\n((?: {14}.*\n|\n)+)", text) if "listeners = (" in b]
        self.assertGreaterEqual(len(blocks), 3)
        with tempfile.TemporaryDirectory() as d:
            quotes = os.path.join(d, "quotes")
            with open(quotes, "w") as f:
                f.write("A quote.\n%\nAnother one.\n")
            for i, block in enumerate(blocks):
                conf = "\n".join(line[14:] for line in block.splitlines())
                conf = conf.replace("/etc/ksockd/quotes", quotes)
                conf = conf.replace("/run/ksockd/", d + "/")  # unix listeners' directory
                if re.search(r"/etc/ksockd/\S+\.pem", conf):
                    cert, key = self.self_signed(d)
                    conf = re.sub(r"/etc/ksockd/[^\s\"]+-key\.pem", key, conf)
                    conf = re.sub(r"/etc/ksockd/[^\s\"]+\.pem", cert, conf)
                if os.geteuid() == 0 and not re.search(r"^user = ", conf, re.M):
                    conf = 'user = "nobody";\n' + conf  # root refuses to run without one
                path = os.path.join(d, "example%d.conf" % i)
                with open(path, "w") as f:
                    f.write(conf)
                r = subprocess.run([H.KSOCKD, "-t", "-c", path], capture_output=True, text=True,
                                   timeout=10)
                self.assertEqual(r.returncode, 0, "%s\n%s" % (conf, r.stderr))


if __name__ == "__main__":
    unittest.main(verbosity=2)
