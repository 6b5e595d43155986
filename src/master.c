/*
 * master.c: the prefork master.
 *
 * Owns the current config, the listening sockets bound for it, and the list
 * of worker processes of every generation still alive. A reload builds the
 * new config and sockets completely before anything switches: listeners
 * whose socket address is unchanged keep their socket (never closed, so no
 * connection is refused), new ones are bound, removed ones are closed; a new
 * generation of workers starts, and once all of it is ready the old one is
 * told to drain (SIGTERM). Must not touch client connections.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "handler.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "priv.h"
#include "srctab.h"
#include "worker.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define CRASH_WINDOW 10.0    /* seconds over which worker crashes are counted */
#define CRASH_MAX 5          /* crashes in the window before respawn pauses */
#define CRASH_PAUSE_MAX 30.0 /* longest respawn pause, seconds */
#define KILL_GRACE 5.0       /* seconds past shutdown_timeout before SIGKILL */

struct master;

/* One worker process. */
struct wproc {
	struct wproc *next;   /* master's list */
	struct master *m;     /* owner */
	pid_t pid;            /* process id */
	unsigned slot;        /* position in its generation */
	unsigned generation;  /* config generation it serves */
	bool ready;           /* reported that its loop runs */
	bool draining;        /* told to stop (SIGTERM/SIGQUIT) */
	int srctab_proc;      /* its journal in the per-source table, -1: none */
	int ready_fd;         /* read end of its readiness pipe, -1 when closed */
	ev_io ready_io;       /* readable: readiness byte or EOF */
};

struct master {
	struct ev_loop *loop;    /* default loop */
	const char *conf_path;   /* file to re-read on SIGHUP */
	struct conf *conf;       /* current config */
	struct priv priv;        /* what workers run as */
	int *fds;                /* listening sockets, one per conf listener */
	struct srctab *srctab;   /* per-source counts shared with workers (NULL: unavailable) */
	struct wproc *procs;     /* all live workers, every generation */
	unsigned generation;     /* current generation number */
	unsigned reloads;        /* successful reloads */
	bool announced;          /* READY=1 sent for the current generation */
	bool reload_pending;     /* SIGHUP arrived while a reload was in progress */
	bool stopping;           /* SIGTERM/SIGINT received */
	bool pid_file_written;   /* remove conf->pid_file at exit */
	ev_tstamp crashes[CRASH_MAX]; /* times of the last crashes, ring */
	unsigned crash_idx;      /* next slot in crashes */
	double pause;            /* current respawn pause, seconds */
	ev_signal sig_hup, sig_term, sig_int, sig_quit; /* signals handled in loop context */
	ev_child child;          /* any child exited */
	ev_timer respawn;        /* respawns missing workers of the current generation */
	ev_timer kill_timer;     /* SIGKILL for workers that outlive shutdown */
};

static void master_spawn_missing(struct master *m);

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
	notify_status("%zu listener(s), %u worker(s) ready, generation %u, %u reload(s)",
		      m->conf->n_listeners, master_count(m, true, true), m->generation, m->reloads);
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
	if (sig == SIGTERM || sig == SIGQUIT)
		p->draining = true;
	if (kill(p->pid, sig) < 0 && errno != ESRCH)
		log_warn("kill(%d, %d)", (int)p->pid, sig);
}

/* All of the current generation is ready: announce it, and drain older generations. */
static void master_generation_ready(struct master *m)
{
	unsigned old = 0;
	for (struct wproc *p = m->procs; p; p = p->next)
		if (p->generation != m->generation && !p->draining) {
			wproc_signal(p, SIGTERM);
			old++;
		}
	if (m->generation == 1)
		log_notice("all %u worker(s) ready, serving %zu listener(s)", m->conf->workers,
			   m->conf->n_listeners);
	else
		log_notice("reload %u: all %u new worker(s) ready; %u old worker(s) draining",
			   m->reloads, m->conf->workers, old);
	m->announced = true;
	notify_ready();
	master_update_status(m);
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
	wproc_close_pipe(p); /* one byte, or EOF: either way the pipe has done its job */
	if (n <= 0 || p->ready)
		return;
	p->ready = true;
	log_debug("worker %u (pid %d, generation %u) ready", p->slot, (int)p->pid, p->generation);
	if (!m->announced && p->generation == m->generation &&
	    master_count(m, true, true) == m->conf->workers)
		master_generation_ready(m);
}

/* Child side of fork(): forget the master's watchers and become a worker. */
static void master_become_worker(struct master *m, unsigned slot, int ready_fd, int tab_proc)
{
	struct ev_loop *loop = m->loop;
	ev_signal_stop(loop, &m->sig_hup);
	ev_signal_stop(loop, &m->sig_term);
	ev_signal_stop(loop, &m->sig_int);
	ev_signal_stop(loop, &m->sig_quit);
	ev_child_stop(loop, &m->child);
	ev_timer_stop(loop, &m->respawn);
	ev_timer_stop(loop, &m->kill_timer);
	for (struct wproc *p = m->procs; p; p = p->next)
		wproc_close_pipe(p);
	ev_loop_fork(loop);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	priv_drop(&m->priv);
	exit(worker_main(loop, m->conf, m->fds, slot, m->generation, ready_fd, m->srctab,
			 tab_proc));
}

static int master_spawn(struct master *m, unsigned slot)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		log_warn("cannot create a pipe for worker %u", slot);
		return -1;
	}
	int tab_proc = m->srctab ? srctab_proc_attach(m->srctab) : -1;
	if (m->srctab && tab_proc < 0)
		log_warnx("worker %u: no per-source journal left: its connections are not counted "
			  "per source", slot);
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("cannot fork worker %u", slot);
		if (tab_proc >= 0)
			srctab_proc_detach(m->srctab, tab_proc);
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		master_become_worker(m, slot, pipefd[1], tab_proc);
	}
	close(pipefd[1]);
	struct wproc *p = calloc(1, sizeof *p);
	if (!p)
		fatal("calloc");
	p->m = m;
	p->pid = pid;
	p->slot = slot;
	p->generation = m->generation;
	p->srctab_proc = tab_proc;
	p->ready_fd = pipefd[0];
	ev_io_init(&p->ready_io, wproc_ready_cb, p->ready_fd, EV_READ);
	ev_io_start(m->loop, &p->ready_io);
	p->next = m->procs;
	m->procs = p;
	log_debug("worker %u started (pid %d, generation %u)", slot, (int)pid, m->generation);
	return 0;
}

static void master_spawn_missing(struct master *m)
{
	if (m->stopping)
		return;
	for (unsigned slot = 0; slot < m->conf->workers; slot++) {
		bool have = false;
		for (struct wproc *p = m->procs; p; p = p->next)
			if (p->generation == m->generation && p->slot == slot && !p->draining)
				have = true;
		if (!have && master_spawn(m, slot) < 0) {
			ev_timer_set(&m->respawn, 1.0, 0);
			ev_timer_start(m->loop, &m->respawn);
			return;
		}
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

/* Binds (or keeps) a socket for every listener of conf. Returns the fd array or NULL. */
static int *master_bind_all(struct master *m, const struct conf *conf, bool *kept)
{
	int *fds = calloc(conf->n_listeners, sizeof *fds);
	if (!fds)
		fatal("calloc");
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct listener_conf *lc = &conf->listeners[i];
		fds[i] = -1;
		for (size_t j = 0; m->conf && j < m->conf->n_listeners; j++)
			if (m->fds[j] >= 0 && !kept[j] &&
			    listener_conf_same_socket(&m->conf->listeners[j], lc)) {
				fds[i] = m->fds[j];
				kept[j] = true;
				break;
			}
		if (fds[i] >= 0)
			continue;
		char err[512];
		fds[i] = listener_bind(lc, err, sizeof err);
		if (fds[i] < 0) {
			log_err("%s", err);
			/* Undo: close what this call bound, keep what it reused. */
			for (size_t k = 0; k < i; k++) {
				bool reused = false;
				for (size_t j = 0; m->conf && j < m->conf->n_listeners; j++)
					reused |= m->fds[j] == fds[k];
				if (!reused)
					close(fds[k]);
			}
			free(fds);
			return NULL;
		}
		char a[ADDR_STRLEN];
		log_info("listener '%s': %s %s, handler %s", lc->name, proto_name(lc->protocol),
			 addr_format((const struct sockaddr *)&lc->addr, a), lc->handler->name);
	}
	return fds;
}

static void master_reload(struct master *m)
{
	char err[1024];
	if (m->stopping)
		return;
	if (!m->announced) {
		log_notice("reload requested while generation %u is starting: will reload after it",
			   m->generation);
		m->reload_pending = true;
		return;
	}
	log_notice("reloading %s", m->conf_path);
	notify_reloading();
	struct conf *conf = conf_load(m->conf_path, err, sizeof err);
	struct priv priv;
	if (conf && priv_resolve(conf, &priv, err, sizeof err) < 0) {
		conf_free(conf);
		conf = NULL;
	}
	if (!conf) {
		log_err("reload rejected, keeping the running config: %s", err);
		notify_reload_failed(err);
		return;
	}
	bool *kept = calloc(m->conf->n_listeners, sizeof *kept);
	if (!kept)
		fatal("calloc");
	int *fds = master_bind_all(m, conf, kept);
	if (!fds) {
		log_err("reload rejected, keeping the running config: cannot bind listeners");
		notify_reload_failed("cannot bind listeners");
		conf_free(conf);
		free(kept);
		return;
	}
	unsigned n_kept = 0, n_removed = 0;
	for (size_t j = 0; j < m->conf->n_listeners; j++) {
		if (kept[j]) {
			n_kept++;
			continue;
		}
		log_info("listener '%s' removed", m->conf->listeners[j].name);
		close(m->fds[j]);
		n_removed++;
	}
	free(kept);
	free(m->fds);
	conf_free(m->conf);
	m->conf = conf;
	m->fds = fds;
	m->priv = priv;
	m->generation++;
	m->reloads++;
	m->announced = false;
	log_set_level(conf->log_level);
	log_notice("reload %u: config accepted: %u listener(s) kept, %zu added, %u removed; "
		   "starting %u worker(s) of generation %u",
		   m->reloads, n_kept, conf->n_listeners - n_kept, n_removed, conf->workers,
		   m->generation);
	master_spawn_missing(m);
}

static void master_stop(struct master *m, bool at_once)
{
	int sig = at_once ? SIGQUIT : SIGTERM;
	if (!m->stopping) {
		notify_stopping();
		log_notice("%s: stopping %u worker(s)", at_once ? "stopping at once" : "graceful stop",
			   master_count(m, false, false));
		ev_timer_set(&m->kill_timer, m->conf->shutdown_timeout + KILL_GRACE, 0);
		ev_timer_start(m->loop, &m->kill_timer);
	} else {
		sig = SIGQUIT;
		log_notice("second stop request: stopping at once");
	}
	m->stopping = true;
	ev_timer_stop(m->loop, &m->respawn);
	for (struct wproc *p = m->procs; p; p = p->next)
		wproc_signal(p, sig);
	if (!m->procs)
		ev_break(m->loop, EVBREAK_ALL);
}

static void master_signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	struct master *m = ev_userdata(loop);
	(void)revents;
	switch (s->signum) {
	case SIGHUP: master_reload(m); break;
	case SIGTERM:
	case SIGINT: master_stop(m, false); break;
	case SIGQUIT: master_stop(m, true); break;
	}
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

static void master_write_pid_file(struct master *m)
{
	const char *path = m->conf->pid_file;
	if (!path)
		return;
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
		log_warn("cannot write pid file %s", path);
		return;
	}
	m->pid_file_written = true;
}

int master_run(const char *conf_path, struct conf *conf, bool foreground)
{
	struct master m = {0};
	char err[1024];
	m.conf_path = conf_path;
	m.loop = EV_DEFAULT;
	ev_set_userdata(m.loop, &m);
	signal(SIGPIPE, SIG_IGN);
	if (priv_resolve(conf, &m.priv, err, sizeof err) < 0) {
		log_err("%s", err);
		conf_free(conf);
		return 1;
	}
	priv_raise_nofile(conf);
	m.srctab = srctab_create();
	if (!m.srctab)
		log_warn("cannot map the per-source table: max_connections_per_source and "
			 "connect_rate are not enforced");
	m.fds = master_bind_all(&m, conf, NULL);
	if (!m.fds) {
		conf_free(conf);
		srctab_destroy(m.srctab);
		return 1;
	}
	m.conf = conf;
	if (!foreground) {
		/* Errors so far went to the terminal; from now on there is none. */
		if (daemon(0, 0) < 0)
			fatal("daemon");
		log_init("ksockd", LOG_TARGET_SYSLOG, conf->log_level);
	}
	master_write_pid_file(&m);
	ev_signal_init(&m.sig_hup, master_signal_cb, SIGHUP);
	ev_signal_init(&m.sig_term, master_signal_cb, SIGTERM);
	ev_signal_init(&m.sig_int, master_signal_cb, SIGINT);
	ev_signal_init(&m.sig_quit, master_signal_cb, SIGQUIT);
	ev_signal_start(m.loop, &m.sig_hup);
	ev_signal_start(m.loop, &m.sig_term);
	ev_signal_start(m.loop, &m.sig_int);
	ev_signal_start(m.loop, &m.sig_quit);
	ev_child_init(&m.child, master_child_cb, 0, 0);
	ev_child_start(m.loop, &m.child);
	ev_timer_init(&m.respawn, master_respawn_cb, 0, 0);
	ev_timer_init(&m.kill_timer, master_kill_cb, 0, 0);
	m.generation = 1;
	log_notice("ksockd %s starting %u worker(s) (config %s)", PACKAGE_VERSION, conf->workers,
		   conf_path);
	master_spawn_missing(&m);

	ev_run(m.loop, 0);

	for (size_t i = 0; i < m.conf->n_listeners; i++)
		close(m.fds[i]);
	if (m.pid_file_written && unlink(m.conf->pid_file) < 0)
		log_warn("cannot remove pid file %s", m.conf->pid_file);
	log_notice("stopped");
	free(m.fds);
	conf_free(m.conf);
	srctab_destroy(m.srctab);
	return 0;
}
