#!/usr/bin/env python3
"""test_nginx.py: nginx's stream module (proxy_protocol on: PROXY v1) in front
of ksockd on loopback, on the configuration doc/LOAD_BALANCERS.md shows
(conf/nginx-example.conf), with a failed upstream retried on the other."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import lb  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = os.path.join(lb.SRCDIR, "conf", "nginx-example.conf")
MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


def report(sock):
    raw = H.recv_until(sock, terminator=b"\n\n")
    return dict(l.split("=", 1) for l in raw.decode().split("\n") if "=" in l)


@unittest.skipUnless(os.path.exists(NGINX) and os.path.exists(MODULE),
                     "nginx-light and libnginx-mod-stream are not installed "
                     "(tools/install-deps installs them)")
class BehindNginx(unittest.TestCase):
    def setUp(self):
        self.d = H.Daemon([H.listener("w", "whoami", proxy_protocol="v1",
                                      proxy_trusted=["127.0.0.1/32"])], log_level="debug")
        self.dir = tempfile.mkdtemp(prefix="ksockd-nginx-")
        self.front = H.free_port()
        dead = H.free_port()  # nothing listens there: nginx must retry on the live one
        with open(EXAMPLE) as f:
            text = f.read()
        text = (text.replace("@FRONT@", "127.0.0.1:%d" % self.front)
                .replace("@K1@", "127.0.0.1:%d" % dead)
                .replace("@K2@", "127.0.0.1:%d" % self.d.port("w")))
        self.cfg = os.path.join(self.dir, "nginx.conf")
        with open(self.cfg, "w") as f:
            f.write(text)
        self.logf = open(os.path.join(self.dir, "out.log"), "wb")
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.dir, "-c", self.cfg, "-e", os.path.join(self.dir, "error.log"),
             "-g", "daemon off; pid %s;" % os.path.join(self.dir, "nginx.pid")],
            stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:  # nginx has no readiness signal: poll its port (bounded)
            try:
                socket.create_connection(("127.0.0.1", self.front), timeout=1).close()
                break
            except OSError:
                self.assertIsNone(self.proc.poll(), "nginx exited")
                self.assertLess(time.monotonic(), deadline, "nginx did not listen")
                time.sleep(0.05)

    def tearDown(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.d.kill()

    def test_proxy_v1_from_nginx_gives_the_original_client(self):
        for _ in range(4):  # least_conn tries the dead upstream too: always retried
            s = socket.socket()
            s.settimeout(5)
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", self.front))
            with s:
                me = "%s:%d" % s.getsockname()
                r = report(s)
                self.assertEqual((r["client"], r["proxy"]), (me, "v1"))
                self.assertRegex(r["peer"], r"^127\.0\.0\.1:\d+$")

    def test_doc_shows_the_tested_nginx_config(self):
        with open(EXAMPLE) as f:
            example = f.read()
        with open(os.path.join(lb.SRCDIR, "doc", "LOAD_BALANCERS.md")) as f:
            readme = f.read()
        self.assertIn("".join("    " + l if l.strip() else l for l in example.splitlines(True)),
                      readme)


if __name__ == "__main__":
    unittest.main(verbosity=2)
