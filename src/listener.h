/*
 * listener.h: listening sockets.
 *
 * The master binds them (listener_bind) before forking; each worker wraps
 * its inherited copy in a struct listener that accepts connections, enforces
 * max_connections, and backs off on EMFILE/ENFILE instead of spinning.
 *
 *   ACTIVE --EMFILE--> BACKOFF --timer--> ACTIVE
 *     |                   |
 *     +----drain----------+--> CLOSED (fd closed, watchers stopped)
 */
#ifndef KSOCKD_LISTENER_H
#define KSOCKD_LISTENER_H

#include <ev.h>
#include <stddef.h>

#include "accesslog.h"
#include "conf.h"
#include "generation.h"
#include "stats.h"
#include "guard.h"
#include "log.h"
#include "timeq.h"

#define LISTENER_TIMEQS 4 /* conn.c's deadline queues: proxy, handshake, idle, slow */

struct udp;
struct worker;

enum listener_state {
	LISTENER_ACTIVE,  /* accepting */
	LISTENER_BACKOFF, /* out of file descriptors: waiting before accepting again */
	LISTENER_CLOSED,  /* drained: socket closed */
};

struct listener {
	struct worker *w;                 /* owning worker */
	const struct listener_conf *conf; /* its configuration */
	const struct gen_listener *gl;    /* its prepared resources (address, TLS, quotes) */
	int fd;                           /* listening socket, -1 when closed */
	enum listener_state state;        /* see diagram */
	unsigned n_conns;                 /* open connections from it in this worker */
	ev_io io;                         /* readable: connections to accept */
	ev_timer backoff;                 /* EMFILE pause */
	struct log_limit full_log;        /* "max_connections" warnings, refusals since the last */
	struct log_limit emfile_log;      /* EMFILE warnings */
	stats_row *stats;                 /* this worker's counters for it, NULL: not counted */
	struct accesslog alog;            /* its access log in this worker (outlives the fd) */
	struct udp *udp;                  /* UDP serving state (udp.c); NULL on stream listeners */
	unsigned long proxy_refused;      /* refused for their PROXY header, in all */
	struct log_limit proxy_log;       /* PROXY refusal lines */
	struct log_limit long_line_log;   /* "line longer than max_line" lines */
	struct guard guard;               /* allow/deny and per-source limits */
	ev_tstamp tls_log_window;         /* TLS transport: start of its failure-log window */
	unsigned tls_logged;              /* handshake failures logged in that window */
	unsigned long tls_suppressed;     /* handshake failures not logged in that window */
	struct timeq conn_tq[LISTENER_TIMEQS]; /* its connections' deadlines (conn_listener_init) */
};

/* Master side: creates, binds and listens on gl->addr; returns the fd or -1 with err set. */
int listener_bind(const struct gen_listener *gl, char *err, size_t errlen);

/* Worker side. */
/* The fields every listener has (stream or datagram), before its watchers start. */
void listener_init(struct listener *l, struct worker *w, const struct gen_listener *gl, int fd);
void listener_start(struct listener *l, struct worker *w, const struct gen_listener *gl, int fd);
void listener_close(struct listener *l);
void listener_conn_gone(struct listener *l);

#endif
