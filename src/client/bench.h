/*
 * bench.h: `ksock bench`, the load generator. bench.c parses options, starts
 * the threads and reports progress; bench_conn.c runs one thread's libev loop
 * of connections; bench_report.c prints the progress line and the summary.
 *
 * `--idle N` (bench_idle.c) forks --procs processes that each open their
 * share of N connections, do one round trip on each and hold them silent;
 * they report to the parent through a pipe, which prints the figures.
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
	double rate;                /* -R lines/s in all (0: as fast as replies come) */
	int json;                   /* --json */
	int csv;                    /* --csv */
	const char *hist_file;      /* --hist: percentile distribution text */
	const char *plot_file;      /* --plot: SVG drawn by gnuplot */
	int quiet;                  /* -q: no progress line */
	struct addrinfo *ai;        /* the resolved address (first one is used) */
	unsigned idle;              /* --idle: connections to hold in all (0: off) */
	unsigned procs;             /* --procs: processes sharing them */
	unsigned window;            /* idle: connections being established at once (-c) */
	int reset;                  /* --reset: idle: end the held ones with RST */
	struct in_addr *src;        /* --source addresses, NULL: the kernel chooses */
	unsigned nsrc;              /* their number */
	unsigned src_offset;        /* this process's first source address */
	int report_fd;              /* idle: this process's pipe to the parent */
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
	const struct bench_opts *o;     /* options (shared, read-only) */
	unsigned id;                    /* 0.. */
	pthread_t tid;                  /* the thread */
	struct ev_loop *loop;           /* its own loop */
	struct bench_stats st;          /* its counters */
	struct histogram hist;          /* its latencies (ns) */
	uint64_t budget;                /* lines (connect modes: connections) left to start */
	uint64_t outstanding;           /* lines in flight on all its connections */
	unsigned live;                  /* connections open */
	unsigned nconns;                /* connections it runs */
	struct bconn *conns;            /* array of nconns */
	char *wbuf;                     /* pipeline copies of the line */
	size_t wbuf_len;                /* their length */
	char *rbuf;                     /* read buffer */
	ev_timer tick;                  /* 100 ms: duration end, stalls, UDP losses */
	int stopping;                   /* no new lines: budget spent or duration over */
	unsigned long long start_ns;    /* when it started */
	unsigned long long end_ns;      /* when its last reply arrived */
	gnutls_datum_t ticket;          /* resume mode: the last session's data */
	char first_err[256];            /* the first error's reason, for the summary */
	struct ev_loop *main_loop;      /* to wake the main thread */
	ev_async *done;                 /* sent when it finished */
	int finished;                   /* set (atomically) before done is sent */
	int stop_req;                   /* set (atomically) by the main thread on SIGINT */
	unsigned long long interval_ns; /* -R: time between two lines of a connection */
	unsigned src_next;              /* --source: connections bound so far */
	unsigned idle_next;             /* idle: next connection to start */
	unsigned idle_pending;          /* idle: started, round trip not done yet */
	unsigned held;                  /* idle: connections held now */
	unsigned held_at_end;           /* idle: held when the thread stopped */
	uint64_t idle_failed;           /* idle: connections that failed before being held */
	unsigned long long built_ns;    /* idle: when the last one was held or failed */
	int built;                      /* idle: set (atomically) once every one was tried */
};

/* What an idle process tells its parent: once when building is over, once
 * when it ends (one write each, smaller than PIPE_BUF, so never torn). */
struct idle_report {
	int final;                   /* 0: every connection tried; 1: the process ends;
	                                2: progress while building (each second) */
	unsigned long long start_ns; /* first connect (CLOCK_MONOTONIC, system-wide) */
	unsigned long long built_ns; /* the last one held or failed */
	uint64_t held;               /* connections held (final: still held at the end) */
	uint64_t failed;             /* connections that never got their reply */
	uint64_t err[BE_MAX];        /* errors by kind */
	char first_err[200];         /* the first error's reason */
};

/* bench.c: runs the threads of one process (the summary, or idle reports). */
int bench_run(struct bench_opts *o);
/* bench_idle.c: --idle: forks the processes, prints what they report. */
int bench_idle_main(struct bench_opts *o);
void bench_idle_report(const struct bench_opts *o, struct bench_thread *t, unsigned n, int final);

/* bench_conn.c: runs one thread to completion (the pthread body). */
void *bench_thread_run(void *arg);

/* bench_report.c */
void bench_progress(const struct bench_opts *o, struct bench_thread *t, unsigned n, double secs,
                    uint64_t *last_ok, int final);
/* Prints the summary and writes --hist/--plot; -1 if one of those failed. */
int bench_summary(const struct bench_opts *o, struct bench_thread *t, unsigned n);
/* Writes n bytes of p into out as C escapes (\n, \r, \t, \\, \x00), at most max of
 * them, "..." after if there were more (wrong replies in the first error). */
void bench_escape(char *out, size_t outlen, const char *p, size_t n, size_t max);
/* bench_plot.c: --hist and --plot from the merged histogram. */
int bench_export(const struct bench_opts *o, const struct histogram *h);
const char *bench_mode_name(enum bench_mode m);
uint64_t bench_errors_total(const struct bench_stats *st);

#endif
