/*
 * bench.c: `ksock bench`: options, the threads, and the main thread's loop
 * that prints progress each second until every thread has finished. Owns
 * struct bench_opts and the thread array (freed at the end of bench_main).
 */
#include "config.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "net.h"

static void bench_usage(FILE *f)
{
	fprintf(f,
	        "usage: ksock bench [options] HOST PORT\n"
	        "  -m, --mode MODE      tcp (default), tls, udp, connect (connect, one line,\n"
	        "                       close), handshake (the same with a full TLS handshake),\n"
	        "                       resume (the same with TLS session resumption)\n"
	        "  -c, --connections N  connections at once (default 50; --idle: connections\n"
	        "                       being established at once per process, default 200)\n"
	        "  -P, --pipeline N     lines in flight per connection (default 1)\n"
	        "  -n, --requests N     lines to send (connect modes: connections); default\n"
	        "                       100000 unless --duration is given\n"
	        "  -d, --duration SEC   run for SEC seconds\n"
	        "      --threads N      threads, each with its own loop (default 1)\n"
	        "      --idle N         hold N connections, each after one round trip, until\n"
	        "                       SIGINT/SIGTERM or --duration SEC after the last one;\n"
	        "                       reports held/failed, time to establish, connect rate\n"
	        "      --procs P        --idle: spread over P processes (default: enough for\n"
	        "                       the open-files limit)\n"
	        "      --reset          --idle: end the held connections with a reset, not a\n"
	        "                       close: no TIME_WAIT sockets left on this host\n"
	        "      --source A[-B]   bind each connection to an IPv4 source address, round\n"
	        "                       robin over A..B (e.g. 127.0.0.2-127.0.0.200)\n"
	        "  -l, --line TEXT      the line to send (default 'ping')\n"
	        "  -s, --size BYTES     send a line of BYTES bytes (terminator included)\n"
	        "      --expect TEXT    the reply expected (default: the line itself)\n"
	        "      --greeting N     lines the server sends on connect, skipped\n"
	        "  -t, --timeout SEC    a reply later than this is an error (default 5)\n"
	        "  -R, --rate N         send N lines/s in all, on a fixed schedule; latency is\n"
	        "                       measured from each line's scheduled send time (wrk2)\n"
	        "      --json           print the summary as JSON on stdout\n"
	        "      --csv            print the summary as CSV (a header and one row)\n"
	        "      --hist FILE      write the latency distribution (HdrHistogram text, ms)\n"
	        "      --plot FILE.svg  draw the latency distribution with gnuplot\n"
	        "  -q, --quiet          no progress line on stderr (Ctrl-C: stop, summarize)\n"
	        "      --cafile, --insecure, --servername, --priority, --cert, --key, --alpn\n"
	        "                       TLS options, as for ksock\n"
	        "Exit: 0 no errors, 1 usage, 2 resolve failure, 6 errors were counted.\n");
}

static int bench_connect_mode(const struct bench_opts *o)
{
	return o->mode == BM_CONNECT || o->mode == BM_HANDSHAKE || o->mode == BM_RESUME;
}

static int bench_set_mode(struct bench_opts *o, const char *s)
{
	static const enum bench_mode modes[] = {BM_TCP,     BM_TLS,       BM_UDP,
	                                        BM_CONNECT, BM_HANDSHAKE, BM_RESUME};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (strcmp(s, bench_mode_name(modes[i])) == 0) {
			o->mode = modes[i];
			return 0;
		}
	cli_err("--mode: unknown mode '%s' (tcp, tls, udp, connect, handshake, resume)", s);
	return -1;
}

/* Builds the line from --line / --size (and the expected reply). */
static int bench_payload(struct bench_opts *o, const char *line, unsigned long size,
                         const char *expect)
{
	if (size) {
		o->line_len = size;
		o->line = malloc(size);
		if (!o->line)
			return -1;
		for (size_t i = 0; i + 1 < size; i++)
			o->line[i] = (char)('a' + i % 26);
	} else {
		o->line_len = strlen(line) + 1;
		o->line = malloc(o->line_len);
		if (!o->line)
			return -1;
		memcpy(o->line, line, o->line_len - 1);
	}
	o->line[o->line_len - 1] = '\n';
	if (!expect) {
		o->expect = o->line;
		o->expect_len = o->line_len;
		return 0;
	}
	o->expect_len = strlen(expect) + 1;
	o->expect = malloc(o->expect_len);
	if (!o->expect)
		return -1;
	memcpy(o->expect, expect, o->expect_len - 1);
	o->expect[o->expect_len - 1] = '\n';
	return 0;
}

enum {
	B_THREADS = 256,
	B_EXPECT,
	B_GREETING,
	B_JSON,
	B_CAFILE,
	B_INSECURE,
	B_SNI,
	B_PRIO,
	B_CERT,
	B_KEY,
	B_ALPN,
	B_IDLE,
	B_PROCS,
	B_SOURCE,
	B_RESET,
	B_CSV,
	B_HIST,
	B_PLOT
};

/* The payload options, kept until all options are read. */
struct bench_args {
	const char *line;   /* --line */
	const char *expect; /* --expect */
	unsigned long size; /* --size (0: use line) */
	int conns_given;    /* -c was given */
};

/* --source A or A-B (IPv4, A <= B, at most 65536 addresses). */
static int bench_set_source(struct bench_opts *o, const char *arg)
{
	char lo[INET_ADDRSTRLEN], *dash = strchr(arg, '-');
	const char *hi = dash ? dash + 1 : arg;
	size_t n = dash ? (size_t)(dash - arg) : strlen(arg);
	struct in_addr a, b;
	if (n >= sizeof lo)
		goto bad;
	memcpy(lo, arg, n);
	lo[n] = 0;
	if (inet_pton(AF_INET, lo, &a) != 1 || inet_pton(AF_INET, hi, &b) != 1 ||
	    ntohl(b.s_addr) < ntohl(a.s_addr) || ntohl(b.s_addr) - ntohl(a.s_addr) >= 65536)
		goto bad;
	free(o->src);
	o->nsrc = ntohl(b.s_addr) - ntohl(a.s_addr) + 1;
	o->src = calloc(o->nsrc, sizeof *o->src);
	if (!o->src) {
		cli_err("out of memory");
		return -1;
	}
	for (unsigned i = 0; i < o->nsrc; i++)
		o->src[i].s_addr = htonl(ntohl(a.s_addr) + i);
	return 0;
bad:
	cli_err("--source: '%s' is not an IPv4 address or a range A-B of at most 65536 "
	        "(e.g. 127.0.0.2-127.0.0.200)",
	        arg);
	return -1;
}

/* Applies one option; returns 0, or -1 after printing why. */
static int bench_option(struct bench_opts *o, struct bench_args *a, int opt, const char *arg)
{
	unsigned long v = 0;
	const char *bad = NULL;
	switch (opt) {
	case 'm': return bench_set_mode(o, arg);
	case 'c':
		bad = cli_uint(arg, 1, 10000, &v) ? "-c" : NULL;
		o->conns = (unsigned)v;
		a->conns_given = 1;
		break;
	case 'P':
		bad = cli_uint(arg, 1, 4096, &v) ? "-P" : NULL;
		o->pipeline = (unsigned)v;
		break;
	case 'n':
		bad = cli_uint(arg, 1, 1ul << 48, &v) ? "-n" : NULL;
		o->total = v;
		break;
	case 'd': bad = (o->duration = cli_seconds(arg)) < 0 ? "--duration" : NULL; break;
	case 't': bad = (o->timeout = cli_seconds(arg)) < 0 ? "--timeout" : NULL; break;
	case 'l': a->line = arg; break;
	case 's': bad = cli_uint(arg, 1, 1 << 20, &a->size) ? "--size" : NULL; break;
	case 'q': o->quiet = 1; break;
	case B_THREADS:
		bad = cli_uint(arg, 1, 64, &v) ? "--threads" : NULL;
		o->threads = (unsigned)v;
		break;
	case B_GREETING:
		bad = cli_uint(arg, 0, 1000, &v) ? "--greeting" : NULL;
		o->greeting = (unsigned)v;
		break;
	case B_IDLE:
		bad = cli_uint(arg, 1, 10000000, &v) ? "--idle" : NULL;
		o->idle = (unsigned)v;
		break;
	case B_PROCS:
		bad = cli_uint(arg, 1, 256, &v) ? "--procs" : NULL;
		o->procs = (unsigned)v;
		break;
	case B_SOURCE: return bench_set_source(o, arg);
	case B_RESET: o->reset = 1; break;
	case B_EXPECT: a->expect = arg; break;
	case B_JSON: o->json = 1; break;
	case B_CSV: o->csv = 1; break;
	case B_HIST: o->hist_file = arg; break;
	case B_PLOT: o->plot_file = arg; break;
	case 'R':
		bad = cli_seconds(arg) < 0 ? "-R" : NULL; /* a positive number, up to 1e6 */
		o->rate = bad ? 0 : cli_seconds(arg);
		break;
	case B_CAFILE: o->tls.cafile = arg; break;
	case B_INSECURE: o->tls.insecure = true; break;
	case B_SNI: o->tls.servername = arg; break;
	case B_PRIO: o->tls.priority = arg; break;
	case B_CERT: o->tls.cert = arg; break;
	case B_KEY: o->tls.key = arg; break;
	case B_ALPN: o->tls.alpn = arg; break;
	case 'h': bench_usage(stdout); exit(0);
	default: bench_usage(stderr); return -1;
	}
	if (bad) {
		cli_err("%s: invalid value '%s'", bad, arg);
		return -1;
	}
	return 0;
}

/* The files a process may open (the soft limit raised to the hard one). */
static unsigned long bench_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 1ul << 20 : (unsigned long)rl.rlim_cur;
}

/* The local ports the kernel hands out (ip_local_port_range). */
static unsigned long bench_ports(void)
{
	unsigned long lo = 32768, hi = 60999;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%lu %lu", &lo, &hi) != 2 || hi < lo)
			lo = 32768, hi = 60999;
		fclose(f);
	}
	return hi - lo + 1;
}

/* --idle: what -c means, how many processes, and whether the machine's limits
 * (open files per process, ports per source address) allow it. */
static int bench_idle_check(struct bench_opts *o, const struct bench_args *a)
{
	unsigned long nofile = bench_nofile(), per_proc = nofile > 100 ? nofile - 100 : 1;
	if (!o->idle) {
		if (o->procs) {
			cli_err("--procs goes with --idle");
			return -1;
		}
		if (o->reset) {
			cli_err("--reset goes with --idle");
			return -1;
		}
		return 0;
	}
	if (o->mode != BM_TCP && o->mode != BM_TLS) {
		cli_err("--idle holds tcp or tls connections (-m tcp or -m tls)");
		return -1;
	}
	o->window = a->conns_given ? o->conns : 200;
	if (!o->procs)
		o->procs = (unsigned)((o->idle + per_proc - 1) / per_proc);
	if (o->procs > o->idle)
		o->procs = o->idle;
	unsigned long share = (o->idle + o->procs - 1) / o->procs;
	if (share > per_proc) {
		cli_err(
		    "--idle %u over --procs %u is %lu connections per process, but a process may "
		    "open %lu files here: use --procs %lu or more",
		    o->idle, o->procs, share, nofile, (o->idle + per_proc - 1) / per_proc);
		return -1;
	}
	unsigned long ports = bench_ports(), nsrc = o->nsrc ? o->nsrc : 1;
	if ((o->idle + nsrc - 1) / nsrc > ports) {
		cli_err(
		    "--idle %u: %lu connections per source address, but the kernel has %lu local "
		    "ports per (source, destination): use --source with %lu addresses or more "
		    "(e.g. --source 127.0.0.2-127.0.0.%lu)",
		    o->idle, (o->idle + nsrc - 1) / nsrc, ports, (o->idle + ports - 1) / ports,
		    (o->idle + ports - 1) / ports + 1 < 255 ? (o->idle + ports - 1) / ports + 1
		                                            : 254ul);
		return -1;
	}
	o->conns = (unsigned)share; /* bench_idle_main sets each process's own share */
	return 0;
}

static int bench_parse(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
	    {"mode", required_argument, NULL, 'm'},
	    {"connections", required_argument, NULL, 'c'},
	    {"pipeline", required_argument, NULL, 'P'},
	    {"requests", required_argument, NULL, 'n'},
	    {"duration", required_argument, NULL, 'd'},
	    {"threads", required_argument, NULL, B_THREADS},
	    {"line", required_argument, NULL, 'l'},
	    {"size", required_argument, NULL, 's'},
	    {"expect", required_argument, NULL, B_EXPECT},
	    {"greeting", required_argument, NULL, B_GREETING},
	    {"timeout", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, B_JSON},
	    {"csv", no_argument, NULL, B_CSV},
	    {"hist", required_argument, NULL, B_HIST},
	    {"plot", required_argument, NULL, B_PLOT},
	    {"rate", required_argument, NULL, 'R'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"cafile", required_argument, NULL, B_CAFILE},
	    {"insecure", no_argument, NULL, B_INSECURE},
	    {"servername", required_argument, NULL, B_SNI},
	    {"priority", required_argument, NULL, B_PRIO},
	    {"cert", required_argument, NULL, B_CERT},
	    {"key", required_argument, NULL, B_KEY},
	    {"alpn", required_argument, NULL, B_ALPN},
	    {"idle", required_argument, NULL, B_IDLE},
	    {"procs", required_argument, NULL, B_PROCS},
	    {"source", required_argument, NULL, B_SOURCE},
	    {"reset", no_argument, NULL, B_RESET},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench_args a = {.line = "ping"};
	int opt;
	o->conns = 50;
	o->pipeline = 1;
	o->threads = 1;
	o->timeout = 5;
	while ((opt = getopt_long(argc, argv, "m:c:P:n:d:l:s:t:R:qh", longopts, NULL)) != -1)
		if (bench_option(o, &a, opt, optarg) < 0)
			return -1;
	if (argc - optind != 2) {
		cli_err("bench: expected HOST PORT (ksock bench --help)");
		return -1;
	}
	o->t.host = argv[optind];
	o->t.port = argv[optind + 1];
	o->t.udp = o->mode == BM_UDP;
	o->tls.enabled = o->mode == BM_TLS || o->mode == BM_HANDSHAKE || o->mode == BM_RESUME;
	if (!o->total && !o->duration)
		o->total = 100000;
	if (o->mode == BM_UDP && o->greeting) {
		cli_err("--greeting makes no sense with UDP");
		return -1;
	}
	if (bench_idle_check(o, &a) < 0)
		return -1;
	if (o->json && o->csv) {
		cli_err("--json and --csv: choose one");
		return -1;
	}
	if (o->rate > 0 && (bench_connect_mode(o) || o->idle)) {
		cli_err(
		    "-R paces lines on open connections: modes tcp, tls and udp, without --idle");
		return -1;
	}
	if (o->idle && (o->hist_file || o->plot_file || o->csv)) {
		cli_err("--idle reports connections, not latencies: no --hist, --plot or --csv");
		return -1;
	}
	if (o->threads > o->conns)
		o->threads = o->conns;
	if (bench_payload(o, a.line, a.size, a.expect) < 0) {
		cli_err("out of memory");
		return -1;
	}
	if (o->mode == BM_UDP && o->line_len > 65507) {
		cli_err("--size: a UDP datagram holds at most 65507 bytes");
		return -1;
	}
	if ((uint64_t)o->line_len * o->pipeline > 64u << 20) {
		cli_err("--size times --pipeline: at most 64 MiB in flight per connection");
		return -1;
	}
	return 0;
}

struct bench_main {
	struct bench_opts *o;     /* options */
	struct bench_thread *t;   /* threads */
	ev_timer progress;        /* each second */
	ev_async done;            /* a thread finished */
	unsigned long long start; /* ns */
	uint64_t last_ok;         /* progress: ok at the previous report */
	ev_signal sigint;         /* Ctrl-C */
	unsigned interrupted;     /* SIGINTs seen */
	int reported;             /* --idle: the build report was sent */
};

static void bench_progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bench_main *m = w->data;
	if (m->o->idle) { /* the parent prints the sum of its processes' reports */
		if (!m->reported)
			bench_idle_report(m->o, m->t, m->o->threads, 2);
		return;
	}
	double secs = (double)(cli_now_ns() - m->start) / 1e9;
	bench_progress(m->o, m->t, m->o->threads, secs, &m->last_ok, 0);
}

static void bench_done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct bench_main *m = w->data;
	if (m->o->idle && !m->reported) {
		unsigned built = 0;
		for (unsigned i = 0; i < m->o->threads; i++)
			built += (unsigned)__atomic_load_n(&m->t[i].built, __ATOMIC_ACQUIRE);
		if (built == m->o->threads) {
			bench_idle_report(m->o, m->t, m->o->threads, 0);
			m->reported = 1;
		}
	}
	for (unsigned i = 0; i < m->o->threads; i++)
		if (!__atomic_load_n(&m->t[i].finished, __ATOMIC_ACQUIRE))
			return;
	ev_break(loop, EVBREAK_ALL);
}

/* Ctrl-C: stop sending, wait for the replies in flight, print the summary.
 * A second one exits at once. */
static void bench_sigint_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct bench_main *m = w->data;
	if (m->interrupted++) {
		cli_err("interrupted twice: exiting without a summary");
		_exit(KSOCK_BENCH_ERRORS);
	}
	for (unsigned i = 0; i < m->o->threads; i++)
		__atomic_store_n(&m->t[i].stop_req, 1, __ATOMIC_RELAXED);
}

int bench_run(struct bench_opts *o)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct bench_main m = {.o = o};
	m.t = calloc(o->threads, sizeof *m.t);
	if (!loop || !m.t) {
		cli_err("out of memory");
		free(m.t);
		return KSOCK_USAGE;
	}
	ev_async_init(&m.done, bench_done_cb);
	m.done.data = &m;
	ev_async_start(loop, &m.done);
	ev_timer_init(&m.progress, bench_progress_cb, 1.0, 1.0);
	m.progress.data = &m;
	if (!o->quiet || o->idle)
		ev_timer_start(loop, &m.progress);
	ev_signal_init(&m.sigint, bench_sigint_cb, SIGINT);
	m.sigint.data = &m;
	ev_signal_start(loop, &m.sigint);
	m.start = cli_now_ns();
	size_t wbuf_len = (size_t)o->pipeline * o->line_len;
	char *wbuf = malloc(wbuf_len);
	if (!wbuf) {
		cli_err("out of memory");
		free(m.t);
		return KSOCK_USAGE;
	}
	for (unsigned i = 0; i < o->pipeline; i++)
		memcpy(wbuf + (size_t)i * o->line_len, o->line, o->line_len);
	unsigned started = 0;
	for (unsigned i = 0; i < o->threads; i++) {
		struct bench_thread *t = &m.t[i];
		t->o = o;
		t->id = i;
		t->nconns = o->conns / o->threads + (i < o->conns % o->threads);
		t->budget =
		    o->total ? o->total / o->threads + (i < o->total % o->threads) : UINT64_MAX;
		t->main_loop = loop;
		t->done = &m.done;
		t->wbuf = wbuf;
		t->wbuf_len = wbuf_len;
		if (pthread_create(&t->tid, NULL, bench_thread_run, t) != 0) {
			cli_err("cannot start thread %u", i);
			break;
		}
		started++;
	}
	if (started == o->threads)
		ev_run(loop, 0);
	for (unsigned i = 0; i < started; i++)
		pthread_join(m.t[i].tid, NULL);
	ev_timer_stop(loop, &m.progress);
	ev_async_stop(loop, &m.done);
	ev_signal_stop(loop, &m.sigint);
	int rc = KSOCK_USAGE;
	if (started == o->threads && o->idle) {
		bench_idle_report(o, m.t, o->threads, 1);
		rc = KSOCK_OK; /* the parent judges the errors */
	} else if (started == o->threads) {
		if (!o->quiet)
			bench_progress(o, m.t, o->threads, (double)(cli_now_ns() - m.start) / 1e9,
			               &m.last_ok, 1);
		int exported = bench_summary(o, m.t, o->threads);
		uint64_t errs = 0;
		for (unsigned i = 0; i < o->threads; i++)
			errs += bench_errors_total(&m.t[i].st);
		rc = exported < 0 ? KSOCK_USAGE : errs ? KSOCK_BENCH_ERRORS : KSOCK_OK;
	}
	free(m.t);
	free(wbuf);
	return rc;
}

int bench_main(int argc, char **argv)
{
	struct bench_opts o = {0};
	char err[1024];
	int rc = KSOCK_USAGE;
	if (bench_parse(argc, argv, &o) < 0)
		goto out;
	if (net_resolve(o.t.host, o.t.port, o.t.udp, &o.ai, err, sizeof err) < 0) {
		cli_err("%s", err);
		rc = KSOCK_CONNECT;
		goto out;
	}
	if (o.tls.enabled && tls_client_init(&o.tc, &o.tls, o.t.host, err, sizeof err) < 0) {
		cli_err("%s", err);
		goto out;
	}
	rc = o.idle ? bench_idle_main(&o) : bench_run(&o);
out:
	free(o.src);
	if (o.ai)
		freeaddrinfo(o.ai);
	tls_client_free(&o.tc);
	if (o.expect != o.line)
		free(o.expect);
	free(o.line);
	return rc;
}
