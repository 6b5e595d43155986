/*
 * master.c: the prefork master.
 *
 * Owns the current generation (generation.h: the config and what it serves
 * with) and the list of worker processes of every generation still alive.
 * A reload prepares the next generation completely before anything
 * switches (generation_prepare, generation_bind); any failure there drops
 * it whole and the running one keeps serving. Once committed, a new
 * generation of workers starts, and once all of it is ready the old one is
 * told to drain (SIGTERM). Must not touch client connections, and must not
 * exit on anything a reload or a fork can fail at.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "activation.h"
#include "generation.h"
#include "gensock.h"
#include "handler.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "priv.h"
#include "procstat.h"
#include "proctitle.h"
#include "stats.h"
#include "shared.h"
#include "statefile.h"
#include "watchdog.h"
#include "srctab.h"
#include "worker.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define CRASH_WINDOW 10.0    /* seconds over which worker crashes are counted */
#define CRASH_MAX 5          /* crashes in the window before respawn pauses */
#define CRASH_PAUSE_MAX 30.0 /* longest respawn pause, seconds */
#define KILL_GRACE 5.0       /* seconds past shutdown_timeout before SIGKILL */
#define EV_ALLOC_TRIES 50    /* attempts of one libev allocation, 10 ms apart */

struct master;

/* One worker process. */
struct wproc {
	struct wproc *next;      /* master's list */
	struct master *m;        /* owner */
	pid_t pid;               /* process id */
	unsigned slot;           /* position in its generation */
	unsigned generation;     /* config generation it serves */
	bool ready;              /* reported that its loop runs */
	bool draining;           /* told to stop (SIGTERM/SIGQUIT) */
	bool usr1_pending;       /* SIGUSR1 to forward once its loop runs */
	int ready_fd;            /* master's end of its channel (socketpair), -1 when closed */
	int stats_slot;          /* its slot in the shared counters, -1: none */
	int srctab_proc;         /* its journal in the per-source table, -1: none */
	ev_io ready_io;          /* readable: readiness byte, ping answers, or EOF */
	struct watchdog_peer wd; /* ping/answer state (watchdog.c) */
};

struct master {
	struct ev_loop *loop;   /* default loop */
	const char *conf_path;  /* file to re-read on SIGHUP */
	struct generation gen;  /* current config, its resources and sockets */
	struct priv priv;       /* what its workers run as */
	struct generation next; /* a reload's, until all its workers are ready (conf NULL: none) */
	struct priv next_priv;  /* what next's workers run as */
	struct srctab *srctab;  /* per-source counts shared with workers (NULL: unavailable) */
	struct wproc *procs;    /* all live workers, every generation */
	unsigned generation;    /* current generation number */
	unsigned reloads;       /* successful reloads */
	bool announced;         /* READY=1 sent for the current generation */
	bool reload_pending;    /* SIGHUP arrived while a reload was in progress */
	bool stopping;          /* SIGTERM/SIGINT received */
	bool pid_file_written;  /* remove conf->pid_file at exit */
	ev_tstamp crashes[CRASH_MAX];                   /* times of the last crashes, ring */
	unsigned crash_idx;                             /* next slot in crashes */
	double pause;                                   /* current respawn pause, seconds */
	ev_signal sig_hup, sig_term, sig_int, sig_quit; /* signals handled in loop context */
	ev_signal sig_usr1;    /* reopen access logs: forwarded to workers */
	ev_child child;        /* any child exited */
	ev_timer respawn;      /* respawns missing workers of the current generation */
	ev_timer kill_timer;   /* SIGKILL for workers that outlive shutdown */
	struct stats *stats;   /* shared counters (stats.h), mapped before any fork */
	struct shared *shared; /* page shared with workers (drain flag) */
	ev_timer drain_timer;  /* drain_delay: health says "draining", then the stop begins */
	ev_timer sample_timer; /* /proc samples of every process for process_* metrics */
	struct activation act; /* sockets passed by the service manager (activation.c) */
	struct statefile sf;   /* status file for "ksockd -s reload" (statefile.c) */
	struct watchdog wd;    /* worker pings, WATCHDOG=1 (watchdog.c) */
};

static void master_spawn_missing(struct master *m);

/* The generation new workers start from: a reload's until it is committed. */
static struct generation *master_newest(struct master *m)
{
	return m->next.conf ? &m->next : &m->gen;
}

static unsigned master_count(const struct master *m, bool current, bool ready_only)
{
	unsigned n = 0;
	for (const struct wproc *p = m->procs; p; p = p->next)
		if ((!current || (p->generation == m->generation && !p->draining)) &&
		    (!ready_only || p->ready))
			n++;
	return n;
}

static void master_update_status(struct master *m)
{
	notify_status("%zu listener(s), %u worker(s) ready, %u open connection(s), generation %u, "
	              "%u reload(s), %u rejected",
	              m->gen.conf->n_listeners, master_count(m, true, true), m->wd.last_conns,
	              m->generation, m->reloads, m->sf.rejected);
}

static void wproc_close_pipe(struct wproc *p)
{
	if (p->ready_fd < 0)
		return;
	ev_io_stop(p->m->loop, &p->ready_io);
	close(p->ready_fd);
	p->ready_fd = -1;
}

static void wproc_signal(struct wproc *p, int sig)
{
	if (sig == SIGTERM || sig == SIGQUIT) {
		p->draining = true;
		stats_slot_draining(p->m->stats, p->stats_slot);
	}
	if (kill(p->pid, sig) < 0 && errno != ESRCH)
		log_warn("kill(%d, %d)", (int)p->pid, sig);
}

/* A reload's workers all serve: its generation becomes the current one. */
static void master_commit(struct master *m)
{
	generation_commit(&m->next, &m->gen);
	m->gen = m->next;
	m->priv = m->next_priv;
	memset(&m->next, 0, sizeof m->next);
	m->reloads++;
	log_set_level(m->gen.conf->log_level);
}

/* All of the current generation is ready: announce it, and drain older generations. */
static void master_generation_ready(struct master *m)
{
	unsigned old = 0;
	if (m->next.conf)
		master_commit(m);
	for (struct wproc *p = m->procs; p; p = p->next)
		if (p->generation != m->generation && !p->draining) {
			wproc_signal(p, SIGTERM);
			old++;
		}
	if (m->generation == 1)
		log_notice("all %u worker(s) ready, serving %zu listener(s)", m->gen.conf->workers,
		           m->gen.conf->n_listeners);
	else
		log_notice("reload %u: all %u new worker(s) ready; %u old worker(s) draining",
		           m->reloads, m->gen.conf->workers, old);
	m->announced = true;
	notify_ready();
	master_update_status(m);
	statefile_set(&m->sf, "ready", m->generation);
	if (m->generation > 1) {
		char msg[128];
		snprintf(msg, sizeof msg, "generation %u serves %zu listener(s) with %u worker(s)",
		         m->generation, m->gen.conf->n_listeners, m->gen.conf->workers);
		statefile_reload_end(&m->sf, true, msg);
		stats_reload_done(m->stats, true);
	}
	if (m->reload_pending) {
		m->reload_pending = false;
		kill(getpid(), SIGHUP);
	}
}

static void wproc_ready_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct wproc *p = container_of(io, struct wproc, ready_io);
	struct master *m = p->m;
	char buf[16];
	(void)loop;
	(void)revents;
	ssize_t n = read(p->ready_fd, buf, sizeof buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		wproc_close_pipe(p); /* the worker is gone */
		return;
	}
	watchdog_peer_input(&p->wd, buf, (size_t)n, p->slot, p->pid);
	if (p->ready)
		return;
	p->ready = true;
	if (p->usr1_pending)
		wproc_signal(p, SIGUSR1);
	log_debug("worker %u (pid %d, generation %u) ready", p->slot, (int)p->pid, p->generation);
	if (!m->announced && p->generation == m->generation &&
	    master_count(m, true, true) == master_newest(m)->conf->workers)
		master_generation_ready(m);
}

/* Child side of fork(): forget the master's watchers and become a worker. */
/* Child side of fork(): forget everything of the master's, then worker.c takes over. */
static void master_become_worker(struct master *m, unsigned slot, int ready_fd, int stats_slot,
                                 int tab_proc)
{
	struct ev_loop *loop = m->loop;
	proctitle_set("worker %u (generation %u)", slot, m->generation);
	ev_signal_stop(loop, &m->sig_hup);
	ev_signal_stop(loop, &m->sig_term);
	ev_signal_stop(loop, &m->sig_int);
	ev_signal_stop(loop, &m->sig_quit);
	ev_signal_stop(loop, &m->sig_usr1);
	ev_child_stop(loop, &m->child);
	ev_timer_stop(loop, &m->respawn);
	ev_timer_stop(loop, &m->kill_timer);
	ev_timer_stop(loop, &m->drain_timer);
	ev_ref(loop); /* undoes the master's ev_unref for the sample timer */
	ev_timer_stop(loop, &m->sample_timer);
	watchdog_stop(&m->wd, loop);
	for (struct wproc *p = m->procs; p; p = p->next)
		wproc_close_pipe(p);
	activation_free(&m->act); /* the worker uses the generation's dups */
	struct generation *g = master_newest(m);
	if (g != &m->gen) /* the running generation's sockets are not this worker's to hold */
		gensock_close_unheld(&m->gen, g);
	struct worker_args args = {
	    .loop = loop,
	    .gen = g,
	    .priv = m->next.conf ? &m->next_priv : &m->priv,
	    .slot = slot,
	    .generation = m->generation,
	    .ready_fd = ready_fd,
	    .drain_flag = &m->shared->draining,
	    .stats = m->stats,
	    .stats_slot = stats_slot,
	    .srctab = m->srctab,
	    .srctab_proc = tab_proc,
	};
	worker_start(&args);
}

/* Everything a worker needs is made before fork(): after it, the master only records. */
static int master_spawn(struct master *m, unsigned slot)
{
	int pipefd[2];
	struct wproc *p = calloc(1, sizeof *p);
	if (!p) {
		log_warn("cannot start worker %u: out of memory", slot);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pipefd) < 0) {
		log_warn("cannot create a socketpair for worker %u", slot);
		free(p);
		return -1;
	}
	int stats_slot = stats_slot_claim(m->stats, slot);
	if (stats_slot < 0)
		log_warnx("worker %u: all %d counter slots in use: its traffic is not counted",
		          slot, STATS_MAX_SLOTS);
	int tab_proc = m->srctab ? srctab_proc_attach(m->srctab) : -1;
	if (m->srctab && tab_proc < 0)
		log_warnx("worker %u: no per-source journal left: its connections are not counted "
		          "per source",
		          slot);
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("cannot fork worker %u", slot);
		if (tab_proc >= 0)
			srctab_proc_detach(m->srctab, tab_proc);
		close(pipefd[0]);
		close(pipefd[1]);
		free(p);
		return -1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		free(p);
		master_become_worker(m, slot, pipefd[1], stats_slot, tab_proc);
	}
	close(pipefd[1]);
	p->m = m;
	p->pid = pid;
	p->slot = slot;
	p->generation = m->generation;
	p->srctab_proc = tab_proc;
	p->ready_fd = pipefd[0];
	p->stats_slot = stats_slot;
	stats_slot_start(m->stats, stats_slot, pid, m->generation, slot);
	ev_io_init(&p->ready_io, wproc_ready_cb, p->ready_fd, EV_READ);
	ev_io_start(m->loop, &p->ready_io);
	p->next = m->procs;
	m->procs = p;
	log_debug("worker %u started (pid %d, generation %u)", slot, (int)pid, m->generation);
	return 0;
}

static void master_reload_abort(struct master *m, const char *why);

static void master_spawn_missing(struct master *m)
{
	if (m->stopping)
		return;
	for (unsigned slot = 0; slot < master_newest(m)->conf->workers; slot++) {
		bool have = false;
		for (struct wproc *p = m->procs; p; p = p->next)
			if (p->generation == m->generation && p->slot == slot && !p->draining)
				have = true;
		if (have || master_spawn(m, slot) == 0)
			continue;
		if (m->next.conf) {
			char why[128];
			snprintf(why, sizeof why,
			         "cannot start worker %u of generation %u (see above)", slot,
			         m->generation);
			master_reload_abort(m, why);
			return;
		}
		ev_timer_set(&m->respawn, 1.0, 0);
		ev_timer_start(m->loop, &m->respawn);
		return;
	}
}

static void master_respawn_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct master *m = container_of(t, struct master, respawn);
	(void)loop;
	(void)revents;
	master_spawn_missing(m);
}

/* A worker of the current generation died unexpectedly: respawn, slower if it keeps crashing. */
static void master_worker_crashed(struct master *m)
{
	ev_tstamp now = ev_now(m->loop);
	ev_tstamp oldest = m->crashes[m->crash_idx];
	m->crashes[m->crash_idx] = now;
	m->crash_idx = (m->crash_idx + 1) % CRASH_MAX;
	double delay = 0;
	if (oldest > 0 && now - oldest < CRASH_WINDOW) {
		m->pause = m->pause > 0 ? m->pause * 2 : 1.0;
		if (m->pause > CRASH_PAUSE_MAX)
			m->pause = CRASH_PAUSE_MAX;
		delay = m->pause;
		log_err("workers are crashing too fast (%d crashes in %.1f s): pausing respawn for "
		        "%.0f s",
		        CRASH_MAX, now - oldest, delay);
	} else {
		m->pause = 0;
	}
	if (!ev_is_active(&m->respawn) || delay > 0) {
		ev_timer_stop(m->loop, &m->respawn);
		ev_timer_set(&m->respawn, delay, 0);
		ev_timer_start(m->loop, &m->respawn);
	}
}

/* A worker is gone: its share of the per-source counts must not outlive it. */
static void master_release_sources(struct master *m, struct wproc *p, bool clean)
{
	if (!m->srctab || p->srctab_proc < 0)
		return;
	unsigned long held = srctab_proc_detach(m->srctab, p->srctab_proc);
	if (held && clean)
		log_warnx("worker %u (pid %d) exited cleanly but still held %lu per-source "
		          "count(s): released",
		          p->slot, (int)p->pid, held);
	else if (held)
		log_info("worker %u (pid %d): released %lu per-source count(s) of its connections",
		         p->slot, (int)p->pid, held);
}

static void master_child_cb(struct ev_loop *loop, ev_child *c, int revents)
{
	struct master *m = container_of(c, struct master, child);
	(void)revents;
	struct wproc **pp = &m->procs, *p;
	while ((p = *pp) && p->pid != c->rpid)
		pp = &p->next;
	if (!p)
		return;
	*pp = p->next;
	wproc_close_pipe(p);
	int st = c->rstatus;
	bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	stats_slot_end(m->stats, p->stats_slot, !clean);
	if (p->draining && clean)
		log_info("worker %u (pid %d, generation %u) exited after draining", p->slot,
		         (int)p->pid, p->generation);
	else if (WIFSIGNALED(st))
		log_warnx("worker %u (pid %d) killed by signal %d (%s)", p->slot, (int)p->pid,
		          WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		log_warnx("worker %u (pid %d) exited with status %d", p->slot, (int)p->pid,
		          WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	master_release_sources(m, p, clean);
	bool current = p->generation == m->generation && !p->draining;
	free(p);
	if (m->stopping) {
		if (!m->procs)
			ev_break(loop, EVBREAK_ALL);
		return;
	}
	if (current) {
		master_worker_crashed(m);
	}
	master_update_status(m);
}

/* The reload is refused: say why everywhere a waiting operator looks. */
static void master_reject(struct master *m, const char *err)
{
	log_err("reload rejected, keeping the running config: %s", err);
	notify_reload_failed(err);
	statefile_reload_end(&m->sf, false, err); /* STATUS= keeps the reason until the next */
	stats_reload_done(m->stats, false);
}

/*
 * A reload's workers cannot all be started: they drain, its generation is
 * dropped (closing only the sockets the running one does not hold), and the
 * running generation, which never stopped serving, stays.
 */
static void master_reload_abort(struct master *m, const char *why)
{
	for (struct wproc *p = m->procs; p; p = p->next)
		if (p->generation == m->generation && !p->draining)
			wproc_signal(p, SIGTERM);
	generation_drop(&m->next, &m->gen);
	m->generation--;
	m->announced = true;
	master_reject(m, why);
	/* Workers of the running generation that died meanwhile are started again. */
	ev_timer_stop(m->loop, &m->respawn);
	ev_timer_set(&m->respawn, 0, 0);
	ev_timer_start(m->loop, &m->respawn);
	if (m->reload_pending) { /* a SIGHUP that waited for this reload gets its turn */
		m->reload_pending = false;
		kill(getpid(), SIGHUP);
	}
}

/* Listeners of the new generation whose socket the old one already had. */
static size_t master_count_kept(const struct generation *g)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n_listeners; i++)
		n += g->listeners[i].origin == GENSOCK_KEPT;
	return n;
}

static void master_reload(struct master *m)
{
	char err[1024];
	if (m->stopping || m->shared->draining) {
		log_notice("reload ignored: stopping");
		return;
	}
	if (!m->announced) {
		log_notice("reload requested while generation %u is starting: will reload after it",
		           m->generation);
		m->reload_pending = true;
		return;
	}
	log_notice("reloading %s", m->conf_path);
	notify_reloading();
	statefile_reload_begin(&m->sf);
	struct conf *conf = conf_load(m->conf_path, err, sizeof err);
	if (!conf) {
		master_reject(m, err);
		return;
	}
	struct generation next;
	if (generation_prepare(&next, conf, err, sizeof err) < 0) {
		master_reject(m, err);
		return;
	}
	struct priv priv;
	if (priv_resolve(next.conf, &priv, err, sizeof err) < 0 ||
	    generation_bind(&next, &m->gen, &m->act, err, sizeof err) < 0) {
		generation_drop(&next, &m->gen);
		master_reject(m, err);
		return;
	}
	size_t n_old = m->gen.n_listeners, n_kept = master_count_kept(&next);
	activation_report_unmatched(&m->act, next.conf);
	generation_claim_rows(&next, m->stats);
	accesslog_prepare(next.conf, &priv); /* the new workers open them */
	m->next = next;
	m->next_priv = priv;
	m->generation++;
	m->announced = false;
	log_notice("reload %u: config accepted: %zu listener(s) kept, %zu added, %zu removed; "
	           "starting %u worker(s) of generation %u",
	           m->reloads + 1, n_kept, next.n_listeners - n_kept, n_old - n_kept,
	           next.conf->workers, m->generation);
	master_spawn_missing(m);
}

static void master_stop(struct master *m, bool at_once)
{
	int sig = at_once ? SIGQUIT : SIGTERM;
	if (!m->stopping) {
		notify_stopping();
		statefile_set(&m->sf, "stopping", m->generation);
		log_notice("%s: stopping %u worker(s)",
		           at_once ? "stopping at once" : "graceful stop",
		           master_count(m, false, false));
		ev_timer_set(&m->kill_timer, m->gen.conf->shutdown_timeout + KILL_GRACE, 0);
		ev_timer_start(m->loop, &m->kill_timer);
	} else {
		sig = SIGQUIT;
		log_notice("second stop request: stopping at once");
	}
	m->stopping = true;
	ev_timer_stop(m->loop, &m->respawn);
	ev_timer_stop(m->loop, &m->drain_timer);
	for (struct wproc *p = m->procs; p; p = p->next)
		wproc_signal(p, sig);
	if (!m->procs)
		ev_break(m->loop, EVBREAK_ALL);
}

/* SIGUSR1 (logrotate): create missing access logs, then have every worker reopen its own. */
static void master_reopen_logs(struct master *m)
{
	unsigned n = 0;
	accesslog_prepare(m->gen.conf, &m->priv);
	for (struct wproc *p = m->procs; p; p = p->next) {
		/* A worker whose loop does not run yet has no SIGUSR1 handler: tell it later. */
		p->usr1_pending = !p->ready;
		if (p->ready)
			wproc_signal(p, SIGUSR1);
		n++;
	}
	log_info("SIGUSR1: %u worker(s) told to reopen their access logs", n);
}

static void master_drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct master *m = container_of(t, struct master, drain_timer);
	(void)loop;
	(void)revents;
	master_stop(m, false);
}

/*
 * SIGTERM with drain_delay set: for drain_delay seconds health checks answer
 * "draining" while everything is still served, so balancers move traffic
 * away before any connection is refused; then the graceful stop begins.
 * Returns false if the stop should begin now.
 */
static bool master_drain_first(struct master *m)
{
	if (m->stopping || m->shared->draining || m->gen.conf->drain_delay <= 0)
		return false;
	m->shared->draining = 1;
	notify_stopping();
	notify_status("draining: health answers 'draining' for %.1f s before stopping",
	              m->gen.conf->drain_delay);
	log_notice("graceful stop: health checks answer 'draining' for %.1f s (drain_delay), "
	           "then workers stop accepting",
	           m->gen.conf->drain_delay);
	ev_timer_set(&m->drain_timer, m->gen.conf->drain_delay, 0);
	ev_timer_start(m->loop, &m->drain_timer);
	return true;
}

static void master_signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	struct master *m = ev_userdata(loop);
	(void)revents;
	switch (s->signum) {
	case SIGHUP:
		statefile_requested(&m->sf);
		master_reload(m);
		break;
	case SIGTERM:
	case SIGINT:
		if (!master_drain_first(m))
			master_stop(m, false);
		break;
	case SIGQUIT: master_stop(m, true); break;
	case SIGUSR1: master_reopen_logs(m); break;
	}
}

/* Samples the master and each live worker into the shared counters (procstat.h). */
static void master_sample_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct master *m = container_of(t, struct master, sample_timer);
	struct proc_sample ps;
	(void)loop;
	(void)revents;
	if (procstat_read(getpid(), &ps) == 0)
		stats_sample_store(m->stats, -1, &ps);
	for (struct wproc *p = m->procs; p; p = p->next)
		if (p->stats_slot >= 0 && procstat_read(p->pid, &ps) == 0)
			stats_sample_store(m->stats, p->stats_slot, &ps);
}

/* One watchdog round: ping every worker, WATCHDOG=1 if the serving ones all answered. */
static void master_watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct master *m = container_of(t, struct master, wd.timer);
	(void)revents;
	watchdog_round_begin(&m->wd);
	for (struct wproc *p = m->procs; p; p = p->next)
		watchdog_round_peer(&m->wd, &p->wd, p->ready_fd, ev_now(loop),
		                    p->generation == m->generation && !p->draining, p->slot,
		                    p->pid);
	if (watchdog_round_end(&m->wd) && !m->stopping)
		master_update_status(m);
}

static void master_kill_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct master *m = container_of(t, struct master, kill_timer);
	(void)loop;
	(void)revents;
	for (struct wproc *p = m->procs; p; p = p->next) {
		log_warnx("worker %u (pid %d) did not stop in time: killing it", p->slot,
		          (int)p->pid);
		kill(p->pid, SIGKILL);
	}
}

/*
 * libev aborts the process when an allocation fails (a watcher started on a
 * new, higher fd grows its arrays): a moment of memory pressure must not
 * kill the master, so an allocation is retried for up to half a second.
 */
static void *master_ev_realloc(void *ptr, long size)
{
	if (size == 0) {
		free(ptr);
		return NULL;
	}
	for (int i = 0; i < EV_ALLOC_TRIES; i++) {
		void *p = realloc(ptr, (size_t)size);
		if (p)
			return p;
		nanosleep(&(struct timespec){0, 10000000L}, NULL);
	}
	return NULL;
}

static void master_write_pid_file(struct master *m)
{
	const char *path = m->gen.conf->pid_file;
	if (!path)
		return;
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
		log_warn("cannot write pid file %s", path);
		return;
	}
	m->pid_file_written = true;
}

/*
 * Without -f: detach and log to syslog. Errors so far went to the terminal;
 * from now on there is none, unless nothing listens on /dev/log: then
 * syslog(3) would drop every line, so standard error stays open and gets them.
 */
static void master_detach(const struct conf *conf)
{
	bool sys = log_syslog_available();
	int keep = -1;
	struct stat st;
	/* A pipe held open by a detached daemon would block whoever reads it to its end. */
	bool pipe =
	    fstat(STDERR_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
	if (!sys && !pipe) {
		log_warnx("nothing listens on %s: detaching, but logging to standard error",
		          LOG_SYSLOG_SOCKET);
		keep = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	} else if (!sys)
		log_warnx("nothing listens on %s and standard error is a pipe, which a detached "
		          "daemon must not hold: later log lines are lost; run ksockd -f, or send "
		          "standard error to a file",
		          LOG_SYSLOG_SOCKET);
	if (daemon(0, 0) < 0)
		fatal("daemon");
	if (keep >= 0) {
		if (dup2(keep, STDERR_FILENO) < 0)
			log_warn("cannot keep standard error");
		close(keep);
	}
	log_init("ksockd", sys ? LOG_TARGET_SYSLOG : LOG_TARGET_STDERR, conf->log_level);
	notify_mainpid(getpid());
}

int master_run(const char *conf_path, struct conf *conf, bool foreground)
{
	struct master m = {0};
	char err[1024];
	m.conf_path = conf_path;
	ev_set_allocator(master_ev_realloc);
	m.loop = EV_DEFAULT;
	ev_set_userdata(m.loop, &m);
	signal(SIGPIPE, SIG_IGN);
	if (generation_prepare(&m.gen, conf, err, sizeof err) < 0) {
		log_err("%s", err);
		return 1;
	}
	if (priv_resolve(m.gen.conf, &m.priv, err, sizeof err) < 0) {
		log_err("%s", err);
		generation_drop(&m.gen, NULL);
		return 1;
	}
	priv_raise_nofile(m.gen.conf);
	m.stats = stats_create();
	if (!m.stats)
		fatal("cannot map the shared counters");
	m.srctab = srctab_create();
	if (!m.srctab)
		log_warn("cannot map the per-source table: max_connections_per_source and "
		         "connect_rate are not enforced");
	activation_collect(&m.act);
	if (generation_bind(&m.gen, NULL, &m.act, err, sizeof err) < 0) {
		log_err("%s", err);
		activation_free(&m.act);
		generation_drop(&m.gen, NULL);
		srctab_destroy(m.srctab);
		stats_destroy(m.stats);
		return 1;
	}
	generation_claim_rows(&m.gen, m.stats);
	conf = m.gen.conf;
	activation_report_unmatched(&m.act, conf);
	m.shared = shared_create();
	if (!m.shared)
		fatal("cannot map the page shared with workers");
	if (!foreground)
		master_detach(conf);
	proctitle_set("master");
	statefile_init(&m.sf);
	master_write_pid_file(&m);
	accesslog_prepare(conf, &m.priv);
	ev_signal_init(&m.sig_hup, master_signal_cb, SIGHUP);
	ev_signal_init(&m.sig_term, master_signal_cb, SIGTERM);
	ev_signal_init(&m.sig_int, master_signal_cb, SIGINT);
	ev_signal_init(&m.sig_quit, master_signal_cb, SIGQUIT);
	ev_signal_start(m.loop, &m.sig_hup);
	ev_signal_start(m.loop, &m.sig_term);
	ev_signal_start(m.loop, &m.sig_int);
	ev_signal_start(m.loop, &m.sig_quit);
	ev_signal_init(&m.sig_usr1, master_signal_cb, SIGUSR1);
	ev_signal_start(m.loop, &m.sig_usr1);
	ev_child_init(&m.child, master_child_cb, 0, 0);
	ev_child_start(m.loop, &m.child);
	ev_timer_init(&m.respawn, master_respawn_cb, 0, 0);
	ev_timer_init(&m.kill_timer, master_kill_cb, 0, 0);
	ev_timer_init(&m.drain_timer, master_drain_cb, 0, 0);
	ev_timer_init(&m.sample_timer, master_sample_cb, 0, PROCSTAT_INTERVAL);
	ev_timer_start(m.loop, &m.sample_timer);
	ev_unref(m.loop); /* sampling alone does not keep the master running */
	m.generation = 1;
	statefile_set(&m.sf, "starting", m.generation);
	watchdog_start(&m.wd, m.loop, master_watchdog_cb);
	log_notice("ksockd %s starting %u worker(s) (config %s)", PACKAGE_VERSION, conf->workers,
	           conf_path);
	master_spawn_missing(&m);

	ev_run(m.loop, 0);

	ev_ref(m.loop);
	ev_timer_stop(m.loop, &m.sample_timer);
	watchdog_stop(&m.wd, m.loop);
	statefile_free(&m.sf);
	activation_free(&m.act);
	if (m.pid_file_written && unlink(m.gen.conf->pid_file) < 0)
		log_warn("cannot remove pid file %s", m.gen.conf->pid_file);
	log_notice("stopped");
	generation_drop(&m.next, &m.gen);
	generation_drop(&m.gen, NULL);
	stats_destroy(m.stats);
	shared_destroy(m.shared);
	srctab_destroy(m.srctab);
	return 0;
}
