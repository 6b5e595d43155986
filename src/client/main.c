/*
 * main.c: ksock's command line: `ksock [options] HOST PORT` talks to a line
 * server (interactive.c), `ksock bench ...` loads one (bench.c). Owns option
 * parsing for the talking mode and the small helpers every part shares.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "interactive.h"

void cli_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ksock: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

double cli_seconds(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 1e6)
		return -1;
	return v;
}

int cli_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

unsigned long long cli_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ksock [options] HOST PORT      talk to a line server\n"
	           "       ksock bench [options] HOST PORT load it (ksock bench --help)\n"
	           "  -u, --udp             datagrams: one line per datagram\n"
	           "      --tls             TLS over TCP (certificate verified unless --insecure)\n"
	           "      --cafile FILE     trusted CA certificates (default: the system store)\n"
	           "      --insecure        do not verify the server's certificate (warned)\n"
	           "      --servername NAME SNI and the name verified (default: HOST)\n"
	           "      --priority STR    GnuTLS priority string (protocols, cipher suites)\n"
	           "      --cert FILE, --key FILE  client certificate and key (PEM)\n"
	           "      --alpn LIST       ALPN protocols, comma-separated\n"
	           "  -e, --send LINE       send LINE (repeatable) instead of reading stdin\n"
	           "  -t, --timeout SEC     connect/handshake limit, and how long to wait for\n"
	           "                        the server after the input ends (default 10)\n"
	           "  -q, --quiet           do not print 'Server closed a connection'\n"
	           "  -v, --verbose         print connection and TLS details on stderr\n"
	           "  -V, --version, -h, --help\n"
	           "Exit: 0 done (server closed, or UDP quiet for --timeout), 1 usage or local\n"
	           "error, 2 resolve/connect failure, 3 TLS or certificate failure, 4 timeout,\n"
	           "5 connection reset or I/O error.\n");
}

enum { OPT_TLS = 256, OPT_CAFILE, OPT_INSECURE, OPT_SNI, OPT_PRIO, OPT_CERT, OPT_KEY, OPT_ALPN };

static int interactive_parse(int argc, char **argv, struct interactive_opts *o)
{
	static const struct option longopts[] = {
	    {"udp", no_argument, NULL, 'u'},
	    {"tls", no_argument, NULL, OPT_TLS},
	    {"cafile", required_argument, NULL, OPT_CAFILE},
	    {"insecure", no_argument, NULL, OPT_INSECURE},
	    {"servername", required_argument, NULL, OPT_SNI},
	    {"priority", required_argument, NULL, OPT_PRIO},
	    {"cert", required_argument, NULL, OPT_CERT},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"alpn", required_argument, NULL, OPT_ALPN},
	    {"send", required_argument, NULL, 'e'},
	    {"timeout", required_argument, NULL, 't'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;
	o->timeout = 10;
	while ((opt = getopt_long(argc, argv, "ue:t:qvVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'u': o->t.udp = true; break;
		case OPT_TLS: o->tls.enabled = true; break;
		case OPT_CAFILE: o->tls.cafile = optarg; break;
		case OPT_INSECURE: o->tls.insecure = true; break;
		case OPT_SNI: o->tls.servername = optarg; break;
		case OPT_PRIO: o->tls.priority = optarg; break;
		case OPT_CERT: o->tls.cert = optarg; break;
		case OPT_KEY: o->tls.key = optarg; break;
		case OPT_ALPN: o->tls.alpn = optarg; break;
		case 'e': o->send[o->n_send++] = optarg; break;
		case 't':
			if ((o->timeout = cli_seconds(optarg)) < 0) {
				cli_err("--timeout: '%s' is not a positive number of seconds",
				        optarg);
				return -1;
			}
			break;
		case 'q': o->quiet = true; break;
		case 'v': o->tls.verbose = true; break;
		case 'V': printf("ksock %s\n", PACKAGE_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (argc - optind != 2) {
		cli_err("expected HOST PORT (ksock --help)");
		return -1;
	}
	o->t.host = argv[optind];
	o->t.port = argv[optind + 1];
	if (o->t.udp && o->tls.enabled) {
		cli_err("--tls and --udp do not go together (DTLS is not supported)");
		return -1;
	}
	if (!o->tls.enabled && (o->tls.cafile || o->tls.insecure || o->tls.servername ||
	                        o->tls.priority || o->tls.cert || o->tls.alpn)) {
		cli_err("TLS options need --tls");
		return -1;
	}
	return 0;
}

int interactive_main(int argc, char **argv)
{
	struct interactive_opts o = {0};
	/* -e takes one argument: there are never more -e lines than argv entries. */
	o.send = calloc((size_t)argc, sizeof *o.send);
	if (!o.send) {
		cli_err("out of memory");
		return KSOCK_USAGE;
	}
	int rc = interactive_parse(argc, argv, &o) < 0 ? KSOCK_USAGE : interactive_run(&o);
	free(o.send);
	return rc;
}

int main(int argc, char **argv)
{
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		cli_err("cannot ignore SIGPIPE: %s", strerror(errno));
		return KSOCK_USAGE;
	}
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return bench_main(argc - 1, argv + 1);
	return interactive_main(argc, argv);
}
