/*
 * bench.h: `ksock bench`, the load generator. bench.c parses options, starts
 * the threads and reports progress; bench_conn.c runs one thread's libev loop
 * of connections; bench_report.c prints the progress line and the summary.
 *
 * Per line the hot path costs no allocation: every connection writes from
 * one shared buffer holding `pipeline` copies of the line (all lines are the
 * same), frames replies with memchr in a per-thread read buffer, and keeps
 * send times in a ring of `pipeline` slots allocated when it is created.
 */
#ifndef KSOCK_BENCH_H
#define KSOCK_BENCH_H

#include <ev.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>

#include "client.h"
#include "histogram.h"
#include "tls_client.h"

enum bench_mode {
	BM_TCP,       /* persistent connections, pipelined lines */
	BM_TLS,       /* the same over TLS */
	BM_UDP,       /* connected UDP sockets, one line per datagram */
	BM_CONNECT,   /* connect, one line, close: connection rate */
	BM_HANDSHAKE, /* the same with a full TLS handshake each time */
	BM_RESUME,    /* the same with TLS session resumption */
};

enum bench_err {
	BE_CONNECT,     /* connect failed */
	BE_TLS,         /* handshake or verification failed */
	BE_WRONG,       /* a reply that is not the expected line */
	BE_EXTRA,       /* a reply nothing was waiting for (duplicate) */
	BE_LOST,        /* lines sent that got no reply (summary only) */
	BE_CLOSED,      /* the server closed a connection that was in use */
	BE_TIMEOUT,     /* no reply within --timeout (UDP: a lost datagram) */
	BE_IO,          /* reset or another I/O error */
	BE_NOT_RESUMED, /* resume mode: a full handshake despite a ticket */
	BE_MAX
};

struct bench_opts {
	struct target t;            /* HOST PORT */
	struct tls_client_opts tls; /* TLS knobs (tls and handshake modes) */
	enum bench_mode mode;       /* -m */
	unsigned conns;             /* -c connections (at once) */
	unsigned pipeline;          /* -P lines in flight per connection */
	unsigned threads;           /* --threads */
	unsigned greeting;          /* --greeting lines to skip after connecting */
	uint64_t total;             /* -n lines (connect modes: connections); 0: duration only */
	double duration;            /* --duration seconds; 0: -n only */
	double timeout;             /* --timeout: a reply later than this is an error */
	char *line;                 /* the line sent, "\n" included */
	size_t line_len;            /* its length */
	char *expect;               /* the expected reply, "\n" included */
	size_t expect_len;          /* its length */
	int json;                   /* --json */
	int quiet;                  /* -q: no progress line */
	struct addrinfo *ai;        /* the resolved address (first one is used) */
	struct tls_client tc;       /* shared TLS context */
};

struct bench_stats {
	uint64_t sent;        /* lines written */
	uint64_t ok;          /* correct replies */
	uint64_t conns;       /* connections established */
	uint64_t handshakes;  /* TLS handshakes completed */
	uint64_t resumed;     /* of which resumed */
	uint64_t err[BE_MAX]; /* errors by kind */
};

/* Written only by its own thread (a plain store, no locked instruction),
 * read by the main thread for progress. */
#define STAT_ADD(st, field, n) __atomic_store_n(&(st)->field, (st)->field + (n), __ATOMIC_RELAXED)
#define STAT_GET(st, field) __atomic_load_n(&(st)->field, __ATOMIC_RELAXED)

struct bconn;

struct bench_thread {
	const struct bench_opts *o;  /* options (shared, read-only) */
	unsigned id;                 /* 0.. */
	pthread_t tid;               /* the thread */
	struct ev_loop *loop;        /* its own loop */
	struct bench_stats st;       /* its counters */
	struct histogram hist;       /* its latencies (ns) */
	uint64_t budget;             /* lines (connect modes: connections) left to start */
	uint64_t outstanding;        /* lines in flight on all its connections */
	unsigned live;               /* connections open */
	unsigned nconns;             /* connections it runs */
	struct bconn *conns;         /* array of nconns */
	char *wbuf;                  /* pipeline copies of the line */
	size_t wbuf_len;             /* their length */
	char *rbuf;                  /* read buffer */
	ev_timer tick;               /* 100 ms: duration end, stalls, UDP losses */
	int stopping;                /* no new lines: budget spent or duration over */
	unsigned long long start_ns; /* when it started */
	unsigned long long end_ns;   /* when its last reply arrived */
	gnutls_datum_t ticket;       /* resume mode: the last session's data */
	char first_err[256];         /* the first error's reason, for the summary */
	struct ev_loop *main_loop;   /* to wake the main thread */
	ev_async *done;              /* sent when it finished */
	int finished;                /* set (atomically) before done is sent */
	int stop_req;                /* set (atomically) by the main thread on SIGINT */
};

/* bench_conn.c: runs one thread to completion (the pthread body). */
void *bench_thread_run(void *arg);

/* bench_report.c */
void bench_progress(const struct bench_opts *o, struct bench_thread *t, unsigned n, double secs,
                    uint64_t *last_ok, int final);
void bench_summary(const struct bench_opts *o, struct bench_thread *t, unsigned n);
const char *bench_mode_name(enum bench_mode m);
uint64_t bench_errors_total(const struct bench_stats *st);

#endif
