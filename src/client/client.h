/*
 * client.h: what every part of ksock (the client program) shares: its exit
 * codes, the target it talks to, and the small error-printing helpers.
 *
 * ksock never links the daemon's master, worker or connection code; it uses
 * only the pure buffers (linebuf.c, outbuf.c) from the daemon's library.
 */
#ifndef KSOCK_CLIENT_H
#define KSOCK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* Exit codes scripts can rely on (documented in --help, README and ksock(1)). */
enum ksock_exit {
	KSOCK_OK = 0,          /* exchange finished, server closed, or bench without errors */
	KSOCK_USAGE = 1,       /* bad options or a local failure (memory, files) */
	KSOCK_CONNECT = 2,     /* name not resolved, connection refused or unreachable */
	KSOCK_TLS = 3,         /* TLS handshake or certificate verification failed */
	KSOCK_TIMEOUT = 4,     /* --timeout passed (connect, handshake, or waiting for replies) */
	KSOCK_IO = 5,          /* connection reset or another I/O error after connecting */
	KSOCK_BENCH_ERRORS = 6 /* bench finished, but counted errors */
};

struct tls_client_opts {
	bool enabled;           /* --tls */
	bool insecure;          /* --insecure: no certificate verification */
	const char *cafile;     /* --cafile, NULL: the system trust store */
	const char *servername; /* --servername, NULL: HOST */
	const char *priority;   /* --priority, NULL: GnuTLS's default */
	const char *cert;       /* --cert: client certificate (PEM) */
	const char *key;        /* --key: its private key (PEM) */
	const char *alpn;       /* --alpn: comma-separated protocol names */
	bool verbose;           /* -v: print the negotiated parameters */
};

struct target {
	const char *host; /* HOST argument */
	const char *port; /* PORT argument (number or service name) */
	bool udp;         /* -u: datagrams instead of a stream */
};

/* "ksock: message" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses a positive duration in seconds ("1.5"); -1 if invalid. */
double cli_seconds(const char *s);
/* Parses an unsigned integer in [min, max]; returns 0 or -1. */
int cli_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);
/* Monotonic clock in nanoseconds. */
unsigned long long cli_now_ns(void);

int interactive_main(int argc, char **argv);
int bench_main(int argc, char **argv);

#endif
