/*
 * worker.c: the worker process: after-fork setup, the accept loop's
 * listeners, signals, readiness report, and graceful drain.
 *
 * Owns struct worker, its listeners and (through conn.c) its connections.
 * Must not touch the master's bookkeeping: the master stops its own
 * watchers and closes its own descriptors before calling worker_start.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "conn.h"
#include "exec_session.h"
#include "listener.h"
#include "log.h"
#include "udp.h"
#include "watchdog.h"
#include "worker.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static void worker_close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++) {
		if (w->listeners[i].udp)
			udp_close(&w->listeners[i]);
		else
			listener_close(&w->listeners[i]);
	}
}

/* Closes every remaining connection; used at shutdown_timeout and SIGQUIT. */
static unsigned worker_close_all(struct worker *w, enum conn_reason reason)
{
	unsigned n = 0;
	for (struct conn *c; (c = conn_first(w)) != NULL;) {
		conn_free(c, reason);
		n++;
	}
	return n;
}

void worker_conn_gone(struct worker *w)
{
	w->n_conns--;
	if (w->draining && w->n_conns == 0)
		ev_break(w->loop, EVBREAK_ALL);
}

static void worker_drain_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, drain_timer);
	(void)loop;
	(void)revents;
	unsigned n = w->n_conns;
	w->draining = false; /* so the closes below do not break the loop one by one */
	worker_close_all(w, REASON_SHUTDOWN_TIMEOUT);
	log_notice("worker %u: shutdown_timeout (%.1f s) passed: closed %u connection(s)", w->slot,
	           w->conf->shutdown_timeout, n);
	ev_break(w->loop, EVBREAK_ALL);
}

static void worker_sigterm_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	struct worker *w = container_of(s, struct worker, sig_term);
	(void)revents;
	if (w->draining)
		return;
	w->draining = true;
	worker_close_listeners(w);
	if (w->n_conns == 0) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	log_info("worker %u: draining %u connection(s) (up to %.1f s)", w->slot, w->n_conns,
	         w->conf->shutdown_timeout);
	ev_timer_set(&w->drain_timer, w->conf->shutdown_timeout, 0);
	ev_timer_start(loop, &w->drain_timer);
}

static void worker_sigquit_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	struct worker *w = container_of(s, struct worker, sig_quit);
	(void)revents;
	worker_close_listeners(w);
	w->draining = false;
	unsigned n = worker_close_all(w, REASON_IMMEDIATE_STOP);
	if (n)
		log_notice("worker %u: stopped at once: closed %u connection(s)", w->slot, n);
	ev_break(loop, EVBREAK_ALL);
}

static void worker_ignore_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	(void)loop;
	(void)s;
	(void)revents;
}

static void worker_sigusr1_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	struct worker *w = container_of(s, struct worker, sig_usr1);
	(void)loop;
	(void)revents;
	for (size_t i = 0; i < w->n_listeners; i++)
		accesslog_reopen(&w->listeners[i].alog);
	log_info("worker %u: access logs reopened", w->slot);
}

/* First loop iteration: tell the master this worker serves. */
static void worker_ready_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, ready_timer);
	(void)loop;
	(void)revents;
	ssize_t n;
	do
		n = write(w->ready_fd, "R", 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		log_warn("worker %u: cannot report readiness to the master", w->slot);
}

/* The master's ping (watchdog.h): answer with the open connection count. */
static void worker_ping_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = container_of(io, struct worker, ping_io);
	char buf[64];
	(void)revents;
	ssize_t n = recv(w->ready_fd, buf, sizeof buf, MSG_DONTWAIT);
	if (n > 0)
		watchdog_answer(w->ready_fd, w->n_conns);
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		ev_io_stop(loop, io); /* the master is gone or stopped listening */
}

void worker_start(const struct worker_args *a)
{
	ev_loop_fork(a->loop);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* the master's mask is not the worker's */
	priv_drop(a->priv);                    /* exits if privileges cannot be dropped */
	generation_keep_slot(a->gen, a->slot);
	exit(worker_main(a));
}

int worker_main(const struct worker_args *a)
{
	const struct generation *gen = a->gen;
	const struct conf *conf = gen->conf;
	struct ev_loop *loop = a->loop;
	unsigned slot = a->slot;
	struct worker *w = calloc(1, sizeof *w);
	if (w)
		w->listeners = calloc(conf->n_listeners, sizeof *w->listeners);
	if (!w || !w->listeners) {
		log_warn("worker %u: out of memory at start", slot); /* the master respawns it */
		free(w);
		return 1;
	}
	w->loop = loop;
	w->conf = conf;
	w->slot = slot;
	w->generation = a->generation;
	w->ready_fd = a->ready_fd;
	w->drain_flag = a->drain_flag;
	w->stats = a->stats;
	w->stats_slot = a->stats_slot;
	w->srctab = a->srctab;
	w->srctab_proc = a->srctab_proc;
	/* A worker must not outlive its master. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	w->n_listeners = conf->n_listeners;
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct gen_listener *gl = &gen->listeners[i];
		if (proto_is_dgram(gl->conf->protocol))
			udp_start(&w->listeners[i], w, gl, gen_listener_fd(gl, slot));
		else
			listener_start(&w->listeners[i], w, gl, gen_listener_fd(gl, slot));
	}
	ev_signal_init(&w->sig_term, worker_sigterm_cb, SIGTERM);
	ev_signal_init(&w->sig_quit, worker_sigquit_cb, SIGQUIT);
	ev_signal_init(&w->sig_int, worker_ignore_cb, SIGINT);
	ev_signal_init(&w->sig_hup, worker_ignore_cb, SIGHUP);
	ev_signal_init(&w->sig_usr1, worker_sigusr1_cb, SIGUSR1);
	ev_signal_start(loop, &w->sig_usr1);
	ev_signal_start(loop, &w->sig_term);
	ev_signal_start(loop, &w->sig_quit);
	ev_signal_start(loop, &w->sig_int);
	ev_signal_start(loop, &w->sig_hup);
	ev_timer_init(&w->drain_timer, worker_drain_timeout_cb, 0, 0);
	ev_timer_init(&w->ready_timer, worker_ready_cb, 0, 0);
	ev_timer_start(loop, &w->ready_timer);
	ev_io_init(&w->ping_io, worker_ping_cb, w->ready_fd, EV_READ);
	ev_io_start(loop, &w->ping_io);
	log_debug("worker %u (generation %u) serving %zu listener(s)", slot, w->generation,
	          conf->n_listeners);

	ev_run(loop, 0);

	worker_close_listeners(w);
	worker_close_all(w, REASON_WORKER_EXIT);
	exec_worker_stop(w); /* programs whose connection is gone: terminate and reap */
	for (size_t i = 0; i < w->n_listeners; i++)
		guard_log_totals(&w->listeners[i].guard, w->slot);
	ev_signal_stop(loop, &w->sig_term);
	ev_signal_stop(loop, &w->sig_quit);
	ev_signal_stop(loop, &w->sig_int);
	ev_signal_stop(loop, &w->sig_hup);
	ev_signal_stop(loop, &w->sig_usr1);
	for (size_t i = 0; i < w->n_listeners; i++)
		accesslog_close(&w->listeners[i].alog);
	ev_timer_stop(loop, &w->drain_timer);
	ev_timer_stop(loop, &w->ready_timer);
	ev_io_stop(loop, &w->ping_io);
	close(w->ready_fd);
	free(w->listeners);
	free(w);
	return 0;
}
