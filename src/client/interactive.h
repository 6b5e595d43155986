/*
 * interactive.h: ksock's talking mode: stdin (or -e lines) to the server,
 * the server's bytes to stdout, both at once on one libev loop.
 */
#ifndef KSOCK_INTERACTIVE_H
#define KSOCK_INTERACTIVE_H

#include "client.h"

struct interactive_opts {
	struct target t;            /* HOST PORT, -u */
	struct tls_client_opts tls; /* --tls and its knobs */
	const char **send;          /* -e lines, in order (NULL: read stdin) */
	size_t n_send;              /* how many */
	double timeout;             /* --timeout seconds */
	bool quiet;                 /* -q: no "Server closed a connection" */
};

/* Runs the session; returns an enum ksock_exit code. */
int interactive_run(const struct interactive_opts *o);

#endif
