#!/bin/bash
# bench/compare.sh: is `ksock bench` the bottleneck? Runs bench/refecho (the
# cheapest echo server: one epoll loop, no framing) pinned to CPU 0 and
# `ksock bench` pinned to CPU 1, and prints for each load shape the rate, the
# latency and the CPU time each side spent per line (from /proc and time(1)).
# If ksock's CPU per line is not above the server's, the server saturates
# first. Run from the build directory: bench/compare.sh [SECONDS]
set -eu
secs=${1:-5}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 bench/refecho "$port" > /dev/null &
srv=$!
trap 'kill $srv' EXIT
for _ in $(seq 50); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, clock ticks
tck=$(getconf CLK_TCK)
printf '%-14s %10s %9s %9s %14s %14s\n' load lines/s p50_us p99_us ksock_us/line server_us/line
for shape in "-c 1 -P 1" "-c 50 -P 1" "-c 50 -P 16" "-c 8 -P 64"; do
	s0=$(cpu $srv)
	# shellcheck disable=SC2086
	out=$( { /usr/bin/time -f 'CPU %U %S' taskset -c 1 ./ksock bench -q --json $shape \
		-d "$secs" 127.0.0.1 "$port"; } 2>&1 )
	s1=$(cpu $srv)
	echo "$out" | python3 -c '
import json, sys
shape, srv_ticks, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = sys.stdin.read().splitlines()
j = json.loads(next(r for r in rows if r.startswith("{")))
u, s = map(float, next(r for r in rows if r.startswith("CPU ")).split()[1:])
n = max(j["ok"], 1)
print("%-14s %10.0f %9.1f %9.1f %14.2f %14.2f%s" % (shape, j["lines_per_sec"],
      j["latency_us"]["p50"], j["latency_us"]["p99"], (u + s) * 1e6 / n,
      srv_ticks / tck * 1e6 / n, "" if j["errors"]["total"] == 0 else "  ERRORS"))
' "$shape" $((s1 - s0)) "$tck"
done
