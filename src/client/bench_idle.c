/*
 * bench_idle.c: `ksock bench --idle N`: holds N silent connections, spread
 * over --procs processes because a process may open only so many files.
 *
 *   parent --fork--> child 0..P-1: bench_run() with its share of N
 *     ^                  | build report (every connection tried)
 *     +---- pipe --------+ final report (held at the end, errors)
 *
 * The parent prints the build figures as soon as every child has sent its
 * build report (a script can then measure the server), forwards SIGINT and
 * SIGTERM to the children as SIGINT (they close their connections and send
 * the final report), and prints the end figures. Owns the children: it
 * waits for each before returning.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const char *const idle_err_names[BE_MAX] = {
    [BE_CONNECT] = "connect", [BE_TLS] = "tls",   [BE_WRONG] = "wrong",
    [BE_EXTRA] = "extra",     [BE_LOST] = "lost", [BE_CLOSED] = "closed",
    [BE_TIMEOUT] = "timeout", [BE_IO] = "io",     [BE_NOT_RESUMED] = "not_resumed",
};

/* One child as the parent sees it. */
struct idle_child {
	pid_t pid;              /* 0 once reaped */
	int fd;                 /* read end of its pipe, -1 at EOF */
	int seen;               /* a report arrived (rep is valid) */
	int built;              /* its build report arrived */
	int ended;              /* its final report arrived */
	struct idle_report rep; /* its latest report */
};

void bench_idle_report(const struct bench_opts *o, struct bench_thread *t, unsigned n, int final)
{
	struct idle_report r = {.final = final, .start_ns = t[0].start_ns, .built_ns = 0};
	for (unsigned i = 0; i < n; i++) {
		if (t[i].start_ns < r.start_ns)
			r.start_ns = t[i].start_ns;
		if (t[i].built_ns > r.built_ns)
			r.built_ns = t[i].built_ns;
		r.held +=
		    final == 1 ? t[i].held_at_end : __atomic_load_n(&t[i].held, __ATOMIC_RELAXED);
		r.failed += __atomic_load_n(&t[i].idle_failed, __ATOMIC_RELAXED);
		for (int k = 0; k < BE_MAX; k++)
			r.err[k] += STAT_GET(&t[i].st, err[k]);
		if (!r.first_err[0] && t[i].first_err[0])
			snprintf(r.first_err, sizeof r.first_err, "%s", t[i].first_err);
	}
	if (!r.built_ns)
		r.built_ns = cli_now_ns();
	/* The parent may be gone (killed): nothing to do about a failed write. */
	if (write(o->report_fd, &r, sizeof r) != (ssize_t)sizeof r)
		return;
}

/* The sum of the children's latest reports. */
static void idle_sum(const struct idle_child *c, unsigned n, struct idle_report *s)
{
	memset(s, 0, sizeof *s);
	s->start_ns = ~0ull;
	for (unsigned i = 0; i < n; i++) {
		const struct idle_report *r = &c[i].rep;
		if (!c[i].seen)
			continue;
		if (r->start_ns < s->start_ns)
			s->start_ns = r->start_ns;
		if (r->built_ns > s->built_ns)
			s->built_ns = r->built_ns;
		s->held += r->held;
		s->failed += r->failed;
		for (int k = 0; k < BE_MAX; k++)
			s->err[k] += r->err[k];
		if (!s->first_err[0] && r->first_err[0])
			memcpy(s->first_err, r->first_err, sizeof s->first_err);
	}
	if (s->start_ns == ~0ull)
		s->start_ns = s->built_ns;
}

static uint64_t idle_errors(const struct idle_report *s)
{
	uint64_t n = 0;
	for (int k = 0; k < BE_MAX; k++)
		n += s->err[k];
	return n;
}

static void idle_print_errors(const struct bench_opts *o, const struct idle_report *s)
{
	if (o->json) {
		printf("\"errors\":{\"total\":%llu", (unsigned long long)idle_errors(s));
		for (int k = 0; k < BE_MAX; k++)
			printf(",\"%s\":%llu", idle_err_names[k], (unsigned long long)s->err[k]);
		printf("},\"first_error\":\"");
		for (const char *p = s->first_err; *p; p++)
			printf(*p == '"' || *p == '\\'  ? "\\%c"
			       : (unsigned char)*p < 32 ? "?"
			                                : "%c",
			       *p);
		printf("\"}\n");
		return;
	}
	printf("  errors: %llu", (unsigned long long)idle_errors(s));
	const char *sep = " (";
	for (int k = 0; k < BE_MAX; k++)
		if (s->err[k]) {
			printf("%s%s %llu", sep, idle_err_names[k], (unsigned long long)s->err[k]);
			sep = ", ";
		}
	printf("%s\n", sep[0] == ',' ? ")" : "");
	if (s->first_err[0])
		printf("  first error: %s\n", s->first_err);
}

/* phase 0: the build figures; 1: the end figures. */
static void idle_print(const struct bench_opts *o, const struct idle_child *c, int phase)
{
	struct idle_report s;
	idle_sum(c, o->procs, &s);
	double secs = (double)(s.built_ns - s.start_ns) / 1e9;
	double rate = secs > 0 ? (double)s.held / secs : 0;
	if (o->json && phase == 0)
		printf("{\"phase\":\"established\",\"host\":\"%s\",\"port\":\"%s\",\"mode\":\"%s\","
		       "\"idle\":%u,\"procs\":%u,\"sources\":%u,\"window\":%u,\"held\":%llu,"
		       "\"failed\":%llu,\"seconds\":%.3f,\"connects_per_sec\":%.1f,",
		       o->t.host, o->t.port, bench_mode_name(o->mode), o->idle, o->procs, o->nsrc,
		       o->window, (unsigned long long)s.held, (unsigned long long)s.failed, secs,
		       rate);
	else if (o->json)
		printf("{\"phase\":\"end\",\"held_at_end\":%llu,\"failed\":%llu,",
		       (unsigned long long)s.held, (unsigned long long)s.failed);
	else if (phase == 0)
		printf("ksock bench: idle %s %s:%s, %u connections over %u process(es), %u source "
		       "address(es)\n  %llu established and held, %llu failed, in %.3f s "
		       "(%.0f connections/s)\n",
		       bench_mode_name(o->mode), o->t.host, o->t.port, o->idle, o->procs,
		       o->nsrc ? o->nsrc : 1, (unsigned long long)s.held,
		       (unsigned long long)s.failed, secs, rate);
	else
		printf("ksock bench: idle end: %llu connections still held\n",
		       (unsigned long long)s.held);
	idle_print_errors(o, &s);
	fflush(stdout);
}

/* The child's side: its share, its pipe, its own process group (a terminal's
 * Ctrl-C reaches the parent only, which forwards it once). */
static void idle_child_run(struct bench_opts *o, unsigned i, int wfd, const sigset_t *old,
                           pid_t parent)
{
	sigprocmask(SIG_SETMASK, old, NULL);
	setpgid(0, 0);
	/* A parent that dies (SIGKILL) must not leave its children holding
	 * connections for ever: they stop as on SIGINT. */
	if (prctl(PR_SET_PDEATHSIG, SIGINT) < 0 || getppid() != parent)
		_exit(KSOCK_USAGE);
	o->conns = o->idle / o->procs + (i < o->idle % o->procs);
	if (o->threads > o->conns)
		o->threads = o->conns;
	o->report_fd = wfd;
	o->src_offset = i;
	o->quiet = 1;
	_exit(bench_run(o));
}

/* Reads one report (or EOF) from child c. */
static void idle_read(struct idle_child *c)
{
	struct idle_report r;
	ssize_t n = read(c->fd, &r, sizeof r);
	if (n < 0 && errno == EINTR)
		return;
	if (n != (ssize_t)sizeof r) {
		close(c->fd);
		c->fd = -1;
		return;
	}
	c->rep = r;
	c->seen = 1;
	c->built |= r.final != 2;
	c->ended |= r.final == 1;
}

/* While building, each second: connections held and failed so far (stderr,
 * rewritten in place on a terminal, as bench's progress line). */
static void idle_progress(const struct idle_child *c, unsigned n, double secs)
{
	struct idle_report s;
	idle_sum(c, n, &s);
	int tty = isatty(STDERR_FILENO);
	fprintf(stderr, "%s[%6.1fs] %llu connections held, %llu failed%s", tty ? "\r" : "", secs,
	        (unsigned long long)s.held, (unsigned long long)s.failed, tty ? "\033[K" : "\n");
}

static void idle_stop(struct idle_child *c, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (c[i].pid > 0 && !c[i].ended)
			kill(c[i].pid, SIGINT);
}

/* Waits for reports and signals until every child has closed its pipe. */
static void idle_loop(const struct bench_opts *o, struct idle_child *c, int sfd)
{
	unsigned n = o->procs;
	int printed = 0;
	unsigned long long start = cli_now_ns(), shown = start;
	struct pollfd *pf = calloc(n + 1, sizeof *pf);
	if (!pf) {
		cli_err("out of memory");
		idle_stop(c, n);
		return;
	}
	for (;;) {
		unsigned open = 0, built = 0;
		for (unsigned i = 0; i < n; i++) {
			pf[i].fd = c[i].fd;
			pf[i].events = POLLIN;
			open += c[i].fd >= 0;
			built += c[i].built || c[i].fd < 0;
		}
		if (!printed && built == n) {
			if (!o->quiet && shown != start && isatty(STDERR_FILENO))
				fputc('\n', stderr); /* keep the last progress line */
			idle_print(o, c, 0);
			printed = 1;
		}
		if (!printed && !o->quiet && cli_now_ns() - shown >= 1000000000ull) {
			shown = cli_now_ns();
			idle_progress(c, n, (double)(shown - start) / 1e9);
		}
		if (!open)
			break;
		pf[n].fd = sfd;
		pf[n].events = POLLIN;
		if (poll(pf, n + 1, printed || o->quiet ? -1 : 250) < 0) {
			if (errno == EINTR)
				continue;
			cli_err("poll: %s", strerror(errno));
			idle_stop(c, n);
			break;
		}
		for (unsigned i = 0; i < n; i++)
			if (c[i].fd >= 0 && pf[i].revents)
				idle_read(&c[i]);
		if (pf[n].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
				idle_stop(c, n);
		}
	}
	free(pf);
}

int bench_idle_main(struct bench_opts *o)
{
	struct idle_child *c = calloc(o->procs, sizeof *c);
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (!c || sigprocmask(SIG_BLOCK, &mask, &old) < 0) {
		cli_err("out of memory");
		free(c);
		return KSOCK_USAGE;
	}
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	int rc = sfd < 0 ? KSOCK_USAGE : KSOCK_OK;
	if (sfd < 0)
		cli_err("signalfd: %s", strerror(errno));
	unsigned started = 0;
	pid_t parent = getpid();
	fflush(stdout);
	for (unsigned i = 0; i < o->procs && rc == KSOCK_OK; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0 || (c[i].pid = fork()) < 0) {
			cli_err("cannot start process %u: %s", i, strerror(errno));
			rc = KSOCK_USAGE;
			break;
		}
		if (c[i].pid == 0) {
			close(p[0]);
			close(sfd);
			for (unsigned j = 0; j < i; j++)
				close(c[j].fd);
			idle_child_run(o, i, p[1], &old, parent);
		}
		close(p[1]);
		c[i].fd = p[0];
		started++;
	}
	o->procs = started;
	if (rc != KSOCK_OK)
		idle_stop(c, started);
	idle_loop(o, c, sfd);
	for (unsigned i = 0; i < started; i++) {
		int st;
		while (waitpid(c[i].pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != KSOCK_OK) {
			cli_err("process %u (pid %d) ended badly (status %d)", i, (int)c[i].pid,
			        st);
			rc = KSOCK_USAGE;
		}
	}
	if (rc == KSOCK_OK) {
		idle_print(o, c, 1);
		struct idle_report s;
		idle_sum(c, o->procs, &s);
		rc = idle_errors(&s) || s.failed ? KSOCK_BENCH_ERRORS : KSOCK_OK;
	}
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(c);
	return rc;
}
