#!/bin/bash
# bench/connmem.sh: where the bytes of an idle connection go, without noise.
#
#   bench/connmem.sh [N [SETTINGS]]     from the build directory, as root
#
# Starts ksockd with one worker, asks glibc for its malloc statistics (gdb
# calls malloc_stats() in the worker, which prints them on ksockd's stderr),
# holds N idle connections (ksock bench --idle N, each after one 64-byte
# echo), asks again, and prints per connection: the bytes malloc hands out
# (in the arena: struct conn and anything else per connection; mmap'd:
# libev's large arrays, i.e. the per-fd array anfds and the timer heap) and
# the worker's PSS growth. PSS on its own moves by whole pages and with other
# processes; the malloc figure is exact and repeatable. SETTINGS are extra
# global settings for ksockd.conf, e.g. 'idle_timeout = 0;' (no idle timer:
# the timer heap's share disappears). GLIBC_TUNABLES in the environment
# reaches ksockd (malloc experiments). Needs gdb. Default N: 10000.
set -eu
N=${1:-10000}
SETTINGS=${2:-}
[ -x ./ksockd ] && [ -x ./ksock ] || { echo "connmem: run from the build directory" >&2; exit 1; }
command -v gdb >/dev/null || { echo "connmem: needs gdb (apt-get install gdb)" >&2; exit 1; }
D=$(mktemp -d /tmp/ksock-connmem-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$D/ksockd.conf" <<EOF
workers = 1;
user = "nobody";
group = "nogroup";
log_level = "err";
shutdown_timeout = 1.0;
max_connections = 19500;
max_connections_per_source = 0;
$SETTINGS
listeners = (
  { name = "echo"; protocol = "tcp"; address = "127.0.0.1"; port = $PORT; handler = "echo"; backlog = 4096; }
);
EOF
M="" B=""
cleanup() {
	[ -z "$B" ] || kill -INT "$B" 2>/dev/null || true
	[ -z "$M" ] || kill "$M" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
./ksockd -f -c "$D/ksockd.conf" > "$D/ksockd.log" 2>&1 &
M=$!
W=""
for _ in $(seq 100); do  # the worker, once the master has forked it (bounded: 10 s)
	W=$(pgrep -P "$M" || true)
	[ -n "$W" ] && python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1).close()" 2>/dev/null && break
	sleep 0.1
done
[ -n "$W" ] || { echo "connmem: ksockd did not start: $(cat "$D/ksockd.log")" >&2; exit 1; }
stats() {  # appends one malloc_stats() report to ksockd.log, waits until it is there
	local before
	before=$(grep -c "^Total" "$D/ksockd.log" || true)
	# gdb's exit status is not the test: gdb 13 on newer kernels fails to
	# restore the worker's extended FPU state ("Couldn't write extended state
	# status") after the call has run. The report in the log is the test.
	gdb -p "$W" -batch -ex 'call (void) malloc_stats()' >/dev/null 2>&1 || true
	for _ in $(seq 50); do
		[ "$(grep -c "^Total" "$D/ksockd.log" || true)" -gt "$before" ] && return 0
		sleep 0.1
	done
	echo "connmem: no malloc_stats() output from the worker" >&2
	exit 1
}
pss() { awk '/^Pss:/ { print $2 * 1024 }' "/proc/$W/smaps_rollup"; }
stats
P0=$(pss)
./ksock bench --idle "$N" -s 64 --json 127.0.0.1 "$PORT" > "$D/idle.json" &
B=$!
for _ in $(seq 600); do  # the build report: every connection tried (bounded: 60 s)
	grep -q '"phase":"established"' "$D/idle.json" && break
	sleep 0.1
done
grep -q '"held":'"$N"',' "$D/idle.json" || { echo "connmem: not all held: $(cat "$D/idle.json")" >&2; exit 1; }
sleep 0.5  # the last replies' buffers are freed within one loop iteration
stats
P1=$(pss)
python3 - "$P0" "$P1" "$N" "$D/ksockd.log" <<'EOF'
import re, sys
p0, p1, n = map(int, sys.argv[1:4])
text = open(sys.argv[4]).read()
total = [int(x) for x in re.findall(r"Total \(incl\. mmap\):\nsystem bytes\s+=\s+\d+\nin use bytes\s+=\s+(\d+)", text)]
arena = [int(x) for x in re.findall(r"Arena 0:\nsystem bytes\s+=\s+\d+\nin use bytes\s+=\s+(\d+)", text)]
t, a = (total[1] - total[0]) / n, (arena[1] - arena[0]) / n
print("connmem: %d idle connections, one worker: malloc %.1f B/conn (arena %.1f, mmap'd %.1f), "
      "worker PSS %.1f B/conn" % (n, t, a, t - a, (p1 - p0) / n))
EOF
