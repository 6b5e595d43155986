#!/usr/bin/env python3
"""activator.py: a tiny socket activator for the tests, like systemd's.

    activator.py [-l NAME:tcp|udp:HOST:PORT | -l NAME:unix|unixgram:PATH]... -- COMMAND [ARG]...

Binds (and for tcp, listens on) each socket, moves them to fds 3, 4, ... in
order, sets LISTEN_FDS, LISTEN_PID (its own pid, which COMMAND keeps) and
LISTEN_FDNAMES, and execs COMMAND. Unlike systemd-socket-activate, COMMAND
starts at once, so a test can wait for READY=1 before connecting.
"""
import os
import socket
import sys


def main(argv):
    split = argv.index("--")
    specs, cmd = argv[1:split], argv[split + 1:]
    socks, names = [], []
    it = iter(specs)
    for flag in it:
        assert flag == "-l", flag
        name, proto, rest = next(it).split(":", 2)
        if proto in ("unix", "unixgram"):  # NAME:unix:/path, as ListenStream=/path
            s = socket.socket(socket.AF_UNIX,
                              socket.SOCK_DGRAM if proto == "unixgram" else socket.SOCK_STREAM)
            s.bind(rest)
            if proto == "unix":
                s.listen(128)
            socks.append(s)
            names.append(name)
            continue
        host, port = rest.rsplit(":", 1)
        host = host.strip("[]")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, int(port)))
        if proto != "udp":
            s.listen(128)
        socks.append(s)
        names.append(name)
    # Out of the way first: dup2(3, 3) would be a no-op that keeps CLOEXEC.
    high = [os.dup(s.fileno()) for s in socks]
    high = [os.dup2(fd, 100 + i) for i, fd in enumerate(high)]
    for i, fd in enumerate(high):
        os.dup2(100 + i, 3 + i, inheritable=True)
        os.close(100 + i)
    env = dict(os.environ)
    env.update(LISTEN_FDS=str(len(socks)), LISTEN_PID=str(os.getpid()),
               LISTEN_FDNAMES=":".join(names))
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main(sys.argv)
