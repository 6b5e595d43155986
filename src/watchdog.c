/*
 * watchdog.c: ping/answer rounds between the master and its workers, and
 * the WATCHDOG=1 decision (see watchdog.h for the protocol). Owns no
 * process or fd: the master passes each worker's channel in; the worker
 * calls watchdog_answer from its loop.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"
#include "notify.h"
#include "watchdog.h"

void watchdog_start(struct watchdog *wd, struct ev_loop *loop,
                    void (*cb)(struct ev_loop *, ev_timer *, int))
{
	wd->interval = notify_watchdog_interval();
	wd->period = wd->interval > 0 ? wd->interval / 3 : WATCHDOG_POLL;
	if (wd->interval > 0)
		log_info("watchdog: %.3f s; checking the workers every %.3f s", wd->interval,
		         wd->period);
	ev_timer_init(&wd->timer, cb, wd->period, wd->period);
	ev_timer_start(loop, &wd->timer);
}

void watchdog_stop(struct watchdog *wd, struct ev_loop *loop)
{
	ev_timer_stop(loop, &wd->timer);
}

void watchdog_round_begin(struct watchdog *wd)
{
	wd->stuck = 0;
	wd->conns = 0;
}

void watchdog_round_peer(struct watchdog *wd, struct watchdog_peer *p, int fd, ev_tstamp now,
                         bool must_answer, unsigned slot, pid_t pid)
{
	if (fd < 0)
		return;
	wd->conns += p->conns;
	if (p->pinged > 0) {
		/* Unanswered since an earlier round. */
		if (must_answer && now - p->pinged >= wd->period / 2) {
			wd->stuck++;
			if (!p->stuck)
				log_warnx("worker %u (pid %d) has not answered for %.1f s%s", slot,
				          (int)pid, now - p->pinged,
				          wd->interval > 0 ? ": withholding the watchdog ping"
				                           : "");
			p->stuck = true;
		}
		return;
	}
	ssize_t n = send(fd, "P", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == 1)
		p->pinged = now;
	else if (n < 0 && errno != EAGAIN)
		log_debug("ping to worker %u (pid %d): %m", slot, (int)pid);
}

bool watchdog_round_end(struct watchdog *wd)
{
	if (wd->interval > 0) {
		if (wd->stuck == 0)
			notify_watchdog();
		else if (!wd->withheld)
			log_err("watchdog: %u worker(s) not answering: no WATCHDOG=1 until they do",
			        wd->stuck);
		wd->withheld = wd->stuck > 0;
	}
	bool changed = wd->conns != wd->last_conns;
	wd->last_conns = wd->conns;
	return changed;
}

void watchdog_peer_input(struct watchdog_peer *p, const char *buf, size_t n, unsigned slot,
                         pid_t pid)
{
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (c == 'A') {
			p->in_answer = true;
			p->acc = 0;
		} else if (p->in_answer && c >= '0' && c <= '9') {
			p->acc = p->acc * 10 + (unsigned)(c - '0');
		} else if (p->in_answer && c == '\n') {
			p->in_answer = false;
			p->conns = p->acc;
			p->pinged = 0;
			if (p->stuck)
				log_notice("worker %u (pid %d) answers again", slot, (int)pid);
			p->stuck = false;
		}
	}
}

void watchdog_answer(int fd, unsigned conns)
{
	char buf[24];
	int len = snprintf(buf, sizeof buf, "A%u\n", conns);
	/* Non-blocking: a stopped master must never block a worker. */
	if (send(fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		log_debug("cannot answer the master's ping: %m");
}
