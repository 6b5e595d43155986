/*
 * exec_session.c: one program per connection (exec_session.h has the state
 * diagram and the back-pressure rules). Owns struct exec_session: its
 * process, pipes, watchers and timers; freed by exec_free only. Talks to its
 * connection only through backend.h, and never after the connection's close.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "backend.h"
#include "conf.h"
#include "exec_env.h"
#include "exec_session.h"
#include "exec_spawn.h"
#include "log.h"
#include "srctab.h"
#include "worker.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

enum exec_state {
	EXEC_RUNNING,  /* program running */
	EXEC_STOPPING, /* client gone: stdin/stdout closed, SIGTERM after EXEC_GRACE */
	EXEC_TERMED,   /* SIGTERM sent (or exec_timeout): SIGKILL after EXEC_GRACE */
	EXEC_KILLED,   /* SIGKILL sent: waiting to reap */
	EXEC_EXITED,   /* reaped */
};

struct exec_session {
	struct exec_session *prev, *next; /* worker's list (w->execs) */
	enum exec_state state;            /* see the diagram in exec_session.h */
	struct backend_link link;         /* the connection; link.conn NULL once it is gone */
	const struct exec_conf *ec;       /* the listener's exec settings */
	char peer[ADDR_STRLEN];           /* client, for logs */
	pid_t pid;                        /* program, and its process group */
	int in_fd, out_fd, err_fd;        /* pipes, -1 once closed */
	ev_io in_io;                      /* stdin writable (armed while inq waits) */
	ev_io out_io;                     /* stdout readable (while the output queue has room) */
	ev_io err_io;                     /* stderr readable (always, until EOF) */
	ev_child child;                   /* exit */
	ev_timer timer;                   /* grace steps; after exit, the wait for stdout EOF */
	ev_timer life;                    /* exec_timeout */
	struct outbuf inq;                /* client bytes the stdin pipe did not take yet */
	bool client_eof;                  /* close stdin once inq is written */
	bool done_told;                   /* conn_backend_done was called */
	bool out_ended_told;              /* output_ended has said true */
	bool busy;                        /* inside one of our callbacks: do not free */
	int inst;                         /* max_instances word in srctab, -1: none held */
	int status;                       /* wait status, once EXITED */
	ev_tstamp started;                /* spawn time */
	char errline[EXEC_ERR_LINE];      /* stderr line being assembled */
	size_t errlen;                    /* its length */
	ev_tstamp err_window;             /* start of the current stderr log window */
	unsigned err_logged;              /* stderr lines logged in it */
	unsigned long err_dropped;        /* stderr lines not logged in it */
};

/* What the connection keeps in its handler state. */
struct exec_state_slot {
	struct exec_session *s; /* NULL if the program did not start */
};

static const char *exec_name(const struct exec_session *s)
{
	return s->link.conf->name;
}
static struct ev_loop *exec_loop(const struct exec_session *s)
{
	return s->link.w->loop;
}

static void exec_close_fd(struct exec_session *s, ev_io *io, int *fd)
{
	if (*fd < 0)
		return;
	ev_io_stop(exec_loop(s), io);
	close(*fd);
	*fd = -1;
}

/* Derives the pipe watchers from the session's state (as conn_update_watchers does). */
static void exec_update(struct exec_session *s)
{
	struct ev_loop *loop = exec_loop(s);
	bool want_out =
	    s->out_fd >= 0 && s->link.conn && outbuf_len(s->link.out) < s->link.out_limit;
	bool want_in = s->in_fd >= 0 && outbuf_len(&s->inq) > 0;
	if (want_out != (ev_is_active(&s->out_io) != 0))
		(want_out ? ev_io_start : ev_io_stop)(loop, &s->out_io);
	if (want_in != (ev_is_active(&s->in_io) != 0))
		(want_in ? ev_io_start : ev_io_stop)(loop, &s->in_io);
}

static void exec_timer(struct exec_session *s, ev_tstamp after)
{
	ev_timer_stop(exec_loop(s), &s->timer);
	ev_timer_set(&s->timer, after, 0);
	ev_timer_start(exec_loop(s), &s->timer);
}

static void exec_signal(struct exec_session *s, int sig, enum exec_state next)
{
	if (s->state == EXEC_EXITED)
		return;
	if (kill(-s->pid, sig) < 0 && errno != ESRCH)
		log_warn("%s: peer %s: kill(%d, %s)", exec_name(s), s->peer, -(int)s->pid,
		         sigabbrev_np(sig));
	s->state = next;
	exec_timer(s, EXEC_GRACE);
}

/* A stderr line (or EXEC_ERR_LINE bytes of one) to the log, within the window's budget. */
static void exec_err_emit(struct exec_session *s)
{
	ev_tstamp now = ev_now(exec_loop(s));
	if (now - s->err_window >= EXEC_ERR_WINDOW) {
		if (s->err_dropped)
			log_info("%s: peer %s: program %d: %lu stderr line(s) not logged",
			         exec_name(s), s->peer, (int)s->pid, s->err_dropped);
		s->err_window = now;
		s->err_logged = 0;
		s->err_dropped = 0;
	}
	if (s->err_logged >= EXEC_ERR_BURST) {
		s->err_dropped++;
	} else {
		s->err_logged++;
		for (size_t i = 0; i < s->errlen; i++) /* byte-safe: no control characters */
			if ((unsigned char)s->errline[i] < 0x20 || s->errline[i] == 0x7f)
				s->errline[i] = '?';
		log_info("%s: peer %s: program %d: %.*s", exec_name(s), s->peer, (int)s->pid,
		         (int)s->errlen, s->errline);
	}
	s->errlen = 0;
}

static void exec_err_take(struct exec_session *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (s->errlen > 0 && s->errline[s->errlen - 1] == '\r')
				s->errlen--;
			exec_err_emit(s);
			continue;
		}
		s->errline[s->errlen++] = p[i];
		if (s->errlen == sizeof s->errline)
			exec_err_emit(s);
	}
}

static void exec_free(struct exec_session *s);

/*
 * Decides what is due after any event: the connection's close once the
 * program exited and its stdout ended, the session's end once it exited and
 * the connection is gone. Returns -1 if s was freed.
 */
static int exec_settle(struct exec_session *s)
{
	if (s->busy || s->state != EXEC_EXITED)
		return 0;
	if (s->link.conn && s->out_fd < 0 && !s->done_told) {
		s->done_told = true;
		s->busy = true;
		conn_backend_done(s->link.conn, REASON_PROGRAM_EXITED); /* may run exec_close */
		s->busy = false;
	}
	if (!s->link.conn) {
		exec_free(s);
		return -1;
	}
	return 0;
}

/* Writes queued client bytes to stdin; closes it at client EOF once all is written. */
static void exec_in_flush(struct exec_session *s)
{
	while (s->in_fd >= 0 && outbuf_len(&s->inq) > 0) {
		ssize_t n = write(s->in_fd, outbuf_head(&s->inq), outbuf_len(&s->inq));
		if (n > 0) {
			outbuf_consume(&s->inq, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		/* EPIPE: the program closed its stdin; what the client sends is dropped. */
		log_debug("%s: peer %s: program %d no longer reads its input", exec_name(s),
		          s->peer, (int)s->pid);
		outbuf_free(&s->inq);
		exec_close_fd(s, &s->in_io, &s->in_fd);
	}
	if (s->client_eof && outbuf_len(&s->inq) == 0)
		exec_close_fd(s, &s->in_io, &s->in_fd);
	exec_update(s);
}

static void exec_in_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct exec_session *s = container_of(io, struct exec_session, in_io);
	(void)loop;
	(void)revents;
	exec_in_flush(s);
	if (outbuf_len(&s->inq) == 0 && s->link.conn)
		conn_backend_resume(s->link.conn);
}

/* Moves stdout into the connection's queue while it has room. */
static void exec_out_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct exec_session *s = container_of(io, struct exec_session, out_io);
	char *buf = s->link.w->rbuf;
	bool queued = false, eof = false;
	(void)loop;
	(void)revents;
	s->busy = true;
	for (int round = 0; round < 16 && s->out_fd >= 0 && s->link.conn; round++) {
		size_t room = s->link.out_limit - outbuf_len(s->link.out);
		if (outbuf_len(s->link.out) >= s->link.out_limit)
			break;
		ssize_t n = read(s->out_fd, buf, room < WORKER_RBUF_SIZE ? room : WORKER_RBUF_SIZE);
		if (n > 0) {
			if (outbuf_append(s->link.out, buf, (size_t)n) < 0) {
				log_warnx("%s: peer %s: out of memory for program output",
				          exec_name(s), s->peer);
				exec_close_fd(s, &s->out_io, &s->out_fd);
				break;
			}
			queued = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		exec_close_fd(s, &s->out_io, &s->out_fd); /* EOF (or error): no more output */
		eof = true;
	}
	if ((queued || eof) && s->link.conn)
		conn_backend_output(s->link.conn); /* may run exec_close */
	s->busy = false;
	if (s->link.conn)
		exec_update(s);
	exec_settle(s);
}

/* Reads stderr for up to rounds x 4 KiB (a pipe holds 64 KiB), logging its lines. */
static void exec_err_read(struct exec_session *s, int rounds)
{
	char buf[4096];
	for (int round = 0; round < rounds && s->err_fd >= 0; round++) {
		ssize_t n = read(s->err_fd, buf, sizeof buf);
		if (n > 0) {
			exec_err_take(s, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		if (s->errlen)
			exec_err_emit(s);
		exec_close_fd(s, &s->err_io, &s->err_fd);
		return;
	}
}

static void exec_err_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	exec_err_read(container_of(io, struct exec_session, err_io), 8);
}

/* Logs and counts how the program ended. */
static void exec_report_exit(struct exec_session *s)
{
	int st = s->status;
	double took = ev_now(exec_loop(s)) - s->started;
	if (WIFEXITED(st)) {
		stats_add(s->link.stats, WEXITSTATUS(st) ? STAT_EXEC_EXIT_ERROR : STAT_EXEC_EXIT_OK,
		          1);
		/* A normal end is the common case (debug); a failure is worth a line (info). */
		log_emit(WEXITSTATUS(st) ? LOG_INFO : LOG_DEBUG,
		         "%s: peer %s: program %d exited with status %d after %.3f s", exec_name(s),
		         s->peer, (int)s->pid, WEXITSTATUS(st), took);
	} else if (WIFSIGNALED(st)) {
		stats_add(s->link.stats, STAT_EXEC_EXIT_SIGNAL, 1);
		log_info("%s: peer %s: program %d killed by signal %d (SIG%s) after %.3f s",
		         exec_name(s), s->peer, (int)s->pid, WTERMSIG(st),
		         sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?", took);
	}
	if (s->inst >= 0) {
		srctab_release(s->link.w->srctab, s->link.w->srctab_proc, s->inst);
		s->inst = -1;
	}
}

static void exec_exited(struct exec_session *s, int status)
{
	ev_child_stop(exec_loop(s), &s->child);
	ev_timer_stop(exec_loop(s), &s->life);
	s->state = EXEC_EXITED;
	s->status = status;
	exec_report_exit(s);
	if (s->out_fd >= 0)
		exec_timer(s,
		           EXEC_GRACE); /* stdout may still hold output, or a grandchild holds it */
	else
		ev_timer_stop(exec_loop(s), &s->timer);
}

static void exec_child_cb(struct ev_loop *loop, ev_child *c, int revents)
{
	struct exec_session *s = container_of(c, struct exec_session, child);
	(void)loop;
	(void)revents;
	exec_exited(s, c->rstatus);
	if (s->out_fd >= 0 && s->link.conn)
		exec_out_cb(loop, &s->out_io, EV_READ); /* what it wrote last, then maybe EOF */
	else
		exec_settle(s);
}

static void exec_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct exec_session *s = container_of(t, struct exec_session, timer);
	(void)loop;
	(void)revents;
	switch (s->state) {
	case EXEC_RUNNING: break;
	case EXEC_STOPPING: exec_signal(s, SIGTERM, EXEC_TERMED); break;
	case EXEC_TERMED:
		log_info("%s: peer %s: program %d still running %.0f s after SIGTERM: SIGKILL",
		         exec_name(s), s->peer, (int)s->pid, EXEC_GRACE);
		exec_signal(s, SIGKILL, EXEC_KILLED);
		break;
	case EXEC_KILLED:
		log_warnx("%s: peer %s: program %d not gone after SIGKILL", exec_name(s), s->peer,
		          (int)s->pid);
		break;
	case EXEC_EXITED: /* its stdout did not end after the exit: stop waiting */
		if (s->link.conn && s->out_fd >= 0 &&
		    outbuf_len(s->link.out) >= s->link.out_limit) {
			exec_timer(s, EXEC_GRACE); /* the client is slow, not the pipe: keep it */
			break;
		}
		exec_close_fd(s, &s->out_io, &s->out_fd);
		exec_settle(s);
		break;
	}
}

static void exec_life_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct exec_session *s = container_of(t, struct exec_session, life);
	(void)loop;
	(void)revents;
	log_info("%s: peer %s: program %d ran for exec_timeout (%g s): SIGTERM", exec_name(s),
	         s->peer, (int)s->pid, s->ec->timeout);
	exec_signal(s, SIGTERM, EXEC_TERMED);
}

static void exec_free(struct exec_session *s)
{
	struct worker *w = s->link.w;
	struct ev_loop *loop = w->loop;
	exec_close_fd(s, &s->in_io, &s->in_fd);
	exec_close_fd(s, &s->out_io, &s->out_fd);
	exec_err_read(s, 16); /* what it wrote last, even if its connection closed first */
	exec_close_fd(s, &s->err_io, &s->err_fd);
	ev_child_stop(loop, &s->child);
	ev_timer_stop(loop, &s->timer);
	ev_timer_stop(loop, &s->life);
	if (s->errlen)
		exec_err_emit(s);
	if (s->err_dropped)
		log_info("%s: peer %s: program %d: %lu stderr line(s) not logged", exec_name(s),
		         s->peer, (int)s->pid, s->err_dropped);
	outbuf_free(&s->inq);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->execs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

/* max_instances: one count for this listener in the shared table. Returns false: refuse. */
static bool exec_take_instance(struct exec_session *s)
{
	struct worker *w = s->link.w;
	unsigned max = s->ec->max_instances;
	if (max == 0)
		return true;
	if (!w->srctab || w->srctab_proc < 0) {
		/* No shared table: the limit cannot be enforced across workers, so refuse. */
		log_warnx("%s: max_instances cannot be counted (no shared table): refusing",
		          exec_name(s));
		return false;
	}
	struct sockaddr_in any = {.sin_family = AF_INET}; /* 0.0.0.0:0, never a real client */
	char key[160];
	snprintf(key, sizeof key, "exec instances of %s", exec_name(s));
	int idx = srctab_acquire(w->srctab, w->srctab_proc,
	                         srctab_key(key, (struct sockaddr *)&any), max);
	if (idx < 0) /* SRCTAB_FULL, or SRCTAB_UNTRACKED: fail closed, never bypassed */
		return false;
	s->inst = idx;
	return true;
}

static int exec_open(void *state, const struct session_info *si, const struct backend_link *link,
                     enum conn_reason *reason)
{
	struct exec_state_slot *slot = state;
	const struct exec_conf *ec = &link->conf->exec;
	struct exec_session *s = calloc(1, sizeof *s);
	if (!s) {
		*reason = REASON_NO_MEMORY;
		return -1;
	}
	s->link = *link;
	s->ec = ec;
	s->inst = -1;
	s->in_fd = s->out_fd = s->err_fd = -1;
	addr_format(si->peer, s->peer);
	if (!exec_take_instance(s)) {
		log_info("%s: peer %s: max_instances (%u) programs running: refused", exec_name(s),
		         s->peer, ec->max_instances);
		free(s);
		*reason = REASON_EXEC_MAX_INSTANCES; /* counted by the connection */
		return -1;
	}
	char why[512];
	char **envp = exec_env_build(ec, si);
	struct exec_child ch;
	int rc = envp ? exec_spawn(ec, envp, &ch, why, sizeof why) : -1;
	if (!envp)
		snprintf(why, sizeof why, "out of memory for the environment");
	exec_env_free(envp);
	if (rc < 0) {
		log_warnx("%s: peer %s: %s", exec_name(s), s->peer, why);
		if (s->inst >= 0)
			srctab_release(link->w->srctab, link->w->srctab_proc, s->inst);
		free(s);
		*reason = REASON_EXEC_START_FAILED; /* counted by the connection */
		return -1;
	}
	struct ev_loop *loop = link->w->loop;
	s->pid = ch.pid;
	s->in_fd = ch.in_fd;
	s->out_fd = ch.out_fd;
	s->err_fd = ch.err_fd;
	s->started = s->err_window = ev_now(loop);
	ev_io_init(&s->in_io, exec_in_cb, s->in_fd, EV_WRITE);
	ev_io_init(&s->out_io, exec_out_cb, s->out_fd, EV_READ);
	ev_io_init(&s->err_io, exec_err_cb, s->err_fd, EV_READ);
	ev_io_start(loop, &s->err_io);
	ev_child_init(&s->child, exec_child_cb, s->pid, 0);
	ev_child_start(loop, &s->child);
	ev_init(&s->timer, exec_timer_cb);
	ev_init(&s->life, exec_life_cb);
	if (ec->timeout > 0) {
		ev_timer_set(&s->life, ec->timeout, 0);
		ev_timer_start(loop, &s->life);
	}
	s->next = link->w->execs;
	if (s->next)
		s->next->prev = s;
	link->w->execs = s;
	stats_add(link->stats, STAT_EXEC_STARTED, 1);
	log_debug("%s: peer %s: started %s (pid %d)", exec_name(s), s->peer, ec->argv[0],
	          (int)s->pid);
	slot->s = s;
	exec_update(s);
	return 0;
}

static int exec_data(void *state, const char *data, size_t len)
{
	struct exec_session *s = ((struct exec_state_slot *)state)->s;
	if (s->in_fd < 0)
		return 0; /* stdin closed by the program: dropped */
	if (outbuf_append(&s->inq, data, len) < 0)
		return -1;
	exec_in_flush(s);
	return 0;
}

static bool exec_wants_input(const void *state)
{
	const struct exec_session *s = ((const struct exec_state_slot *)state)->s;
	return s && outbuf_len(&s->inq) < EXEC_STDIN_QUEUE && !s->client_eof;
}

static void exec_drained(void *state)
{
	struct exec_session *s = ((struct exec_state_slot *)state)->s;
	if (s)
		exec_update(s);
}

static void exec_client_eof(void *state)
{
	struct exec_session *s = ((struct exec_state_slot *)state)->s;
	if (!s || s->client_eof)
		return;
	s->client_eof = true;
	exec_in_flush(s);
}

/* The connection is gone: the session detaches and the program is asked to end. */
static void exec_close(void *state)
{
	struct exec_session *s = ((struct exec_state_slot *)state)->s;
	if (!s)
		return;
	s->link.conn = NULL;
	s->link.out = NULL;
	exec_close_fd(s, &s->in_io, &s->in_fd);
	exec_close_fd(s, &s->out_io, &s->out_fd);
	if (s->state == EXEC_RUNNING) {
		s->state = EXEC_STOPPING; /* stdin EOF first; SIGTERM if it does not end */
		exec_timer(s, EXEC_GRACE);
	}
	exec_settle(s);
}

/* The program closed its stdout but runs on (still reading, say): half-close the client. */
static bool exec_output_ended(void *state)
{
	struct exec_session *s = ((struct exec_state_slot *)state)->s;
	if (!s || s->out_fd >= 0 || s->state == EXEC_EXITED || s->out_ended_told)
		return false;
	s->out_ended_told = true;
	return true;
}

static const struct backend_ops exec_ops = {
    .open = exec_open,
    .data = exec_data,
    .wants_input = exec_wants_input,
    .drained = exec_drained,
    .client_eof = exec_client_eof,
    .output_ended = exec_output_ended,
};

const struct handler handler_exec = {
    .name = "exec",
    .state_size = sizeof(struct exec_state_slot),
    .close = exec_close,
    .backend = &exec_ops,
};

/* Non-blocking reap of s; true once it is gone. */
static bool exec_reap(struct exec_session *s, int options)
{
	int st;
	pid_t r;
	do
		r = waitpid(s->pid, &st, options);
	while (r < 0 && errno == EINTR);
	if (r == s->pid || (r < 0 && errno == ECHILD)) {
		exec_exited(s, r == s->pid ? st : 0);
		return true;
	}
	return false;
}

void exec_worker_stop(struct worker *w)
{
	struct exec_session *s;
	unsigned left = 0;
	for (s = w->execs; s; s = s->next)
		if (s->state != EXEC_EXITED) {
			ev_child_stop(w->loop, &s->child);
			if (kill(-s->pid, SIGTERM) == 0)
				left++;
		}
	/* Bounded wait: EXEC_GRACE in 10 ms steps, then SIGKILL and a blocking reap. */
	struct timespec step = {0, 10 * 1000 * 1000};
	for (int i = 0; left > 0 && i < (int)(EXEC_GRACE * 100); i++) {
		nanosleep(&step, NULL);
		left = 0;
		for (s = w->execs; s; s = s->next)
			if (s->state != EXEC_EXITED && !exec_reap(s, WNOHANG))
				left++;
	}
	for (s = w->execs; s; s = s->next)
		if (s->state != EXEC_EXITED) {
			kill(-s->pid, SIGKILL);
			exec_reap(s, 0);
		}
	while (w->execs)
		exec_free(w->execs);
}
