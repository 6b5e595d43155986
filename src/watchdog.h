/*
 * watchdog.h: the master's liveness checks of its workers, and the systemd
 * watchdog that depends on them.
 *
 * Each worker's readiness channel (a socketpair) stays open: once per round
 * the master sends every worker a ping byte 'P', and the worker's loop
 * answers "A<open connections>\n". A worker of the current generation that
 * has not answered a ping by the next round is stuck (busy loop, SIGSTOP):
 * while any is, the master withholds WATCHDOG=1, so systemd's WatchdogSec=
 * restarts the service. The answers also give the connection count shown in
 * STATUS=. Rounds run every WATCHDOG_USEC/3 with a watchdog, else every
 * WATCHDOG_POLL seconds.
 *
 *   master                     worker
 *     | <------- 'R' ------------ |   loop runs (readiness)
 *     | -------- 'P' -----------> |   round k
 *     | <------- "A12\n" -------- |   answer: 12 open connections
 *     |   round k+1: answered? all did -> WATCHDOG=1
 */
#ifndef KSOCKD_WATCHDOG_H
#define KSOCKD_WATCHDOG_H

#include <ev.h>
#include <stdbool.h>
#include <sys/types.h>

#define WATCHDOG_POLL 5.0 /* seconds between rounds without a watchdog */

/* The master's view of one worker's channel. */
struct watchdog_peer {
	ev_tstamp pinged; /* when the unanswered ping was sent; 0: none outstanding */
	unsigned conns;   /* open connections in its last answer */
	unsigned acc;     /* number being parsed */
	bool in_answer;   /* between 'A' and '\n' */
	bool stuck;       /* reported as not answering */
};

struct watchdog {
	ev_timer timer;      /* one round per period */
	double interval;     /* WATCHDOG_USEC in seconds; 0: no watchdog */
	double period;       /* seconds between rounds */
	bool withheld;       /* the last round withheld WATCHDOG=1 */
	unsigned stuck;      /* workers not answering, this round */
	unsigned conns;      /* open connections, summed this round */
	unsigned last_conns; /* the sum of the previous round */
};

/* Master: reads WATCHDOG_USEC and starts the rounds; cb runs one round. */
void watchdog_start(struct watchdog *wd, struct ev_loop *loop,
                    void (*cb)(struct ev_loop *, ev_timer *, int));
void watchdog_stop(struct watchdog *wd, struct ev_loop *loop);
void watchdog_round_begin(struct watchdog *wd);
/* Checks and pings one worker; must_answer: it serves the current generation. */
void watchdog_round_peer(struct watchdog *wd, struct watchdog_peer *p, int fd, ev_tstamp now,
                         bool must_answer, unsigned slot, pid_t pid);
/* Sends WATCHDOG=1 if no worker is stuck; true when the connection count changed. */
bool watchdog_round_end(struct watchdog *wd);
/* Bytes read from a worker's channel. */
void watchdog_peer_input(struct watchdog_peer *p, const char *buf, size_t n, unsigned slot,
                         pid_t pid);

/* Worker: answers a ping. */
void watchdog_answer(int fd, unsigned conns);

#endif
