/*
 * worker.h: one worker process: a libev loop over the inherited listening
 * sockets and the connections accepted from them.
 *
 * The master forks, forgets its own watchers and state, and calls
 * worker_start(), which sets the process up (libev after fork, signal mask,
 * privileges, its slot's sockets) and runs the worker until it has drained
 * (SIGTERM), been told to stop at once (SIGQUIT), or lost its master. It
 * reports readiness on ready_fd once its loop runs.
 */
#ifndef KSOCKD_WORKER_H
#define KSOCKD_WORKER_H

#include <ev.h>
#include <stdbool.h>

#include "conf.h"
#include "generation.h"
#include "priv.h"
#include "stats.h"

struct conn;
struct exec_session;
struct listener;
struct srctab;

#define WORKER_RBUF_SIZE 65536

struct worker {
	struct ev_loop *loop;            /* the process's (default) loop */
	const struct conf *conf;         /* this generation's config, read-only */
	unsigned slot;                   /* 0..workers-1, stable across respawns */
	unsigned generation;             /* config generation it serves */
	struct listener *listeners;      /* one per conf listener */
	size_t n_listeners;              /* count */
	unsigned n_conns;                /* their number */
	unsigned long long next_conn_id; /* ids for log lines */
	bool draining;                   /* no longer accepting; exit when conns reach 0 */
	const volatile int *drain_flag;  /* master's shared page: non-zero while draining */
	int ready_fd;                    /* channel to the master: readiness, ping answers */
	ev_signal sig_term;              /* graceful drain */
	ev_signal sig_quit;              /* stop at once */
	ev_signal sig_int;               /* ignored: the master decides */
	ev_signal sig_hup;               /* ignored: the master decides */
	ev_signal sig_usr1;              /* reopen access logs (forwarded by the master) */
	ev_timer drain_timer;            /* shutdown_timeout while draining */
	ev_timer ready_timer;            /* fires on the loop's first iteration */
	struct stats *stats;             /* shared counters; this worker writes only its slot */
	int stats_slot;                  /* that slot, -1: not counted */
	ev_io ping_io;                   /* the master's pings on ready_fd (watchdog.h) */
	struct srctab *srctab;           /* per-source table shared with all workers (NULL: none) */
	int srctab_proc;                 /* this worker's journal in it */
	size_t buffered;                 /* bytes of connection buffers (worker_buffer_limit) */
	struct exec_session *execs;      /* running programs, with or without a connection */
	char rbuf[WORKER_RBUF_SIZE];     /* shared read buffer for all connections */
};

/* What a worker is given by the master at fork(). */
struct worker_args {
	struct ev_loop *loop;           /* the inherited default loop */
	struct generation *gen;         /* the generation it serves (its copy: it keeps its slot) */
	const struct priv *priv;        /* what to run as */
	unsigned slot;                  /* 0..workers-1 */
	unsigned generation;            /* generation number, for logs and counters */
	int ready_fd;                   /* its end of the channel to the master */
	const volatile int *drain_flag; /* master's shared page: non-zero while draining */
	struct stats *stats;            /* shared counters */
	int stats_slot;                 /* its slot in them, -1: not counted */
	struct srctab *srctab;          /* per-source table (NULL: none) */
	int srctab_proc;                /* its journal in it */
};

/* In the just-forked child, once the master's state is forgotten: sets up and runs; exits. */
__attribute__((noreturn)) void worker_start(const struct worker_args *a);
/* Runs a set-up worker in the current process; returns its exit status. */
int worker_main(const struct worker_args *a);
/* Called by conn_free() when a connection is gone; may end the worker's loop. */
void worker_conn_gone(struct worker *w);

#endif
