/*
 * timeq.h: a deadline queue: many objects that share one timeout, under one
 * ev_timer ("be smart about timeouts", libev's manual, the FIFO case).
 *
 * Every node of a queue waits the same q->timeout from its own start
 * (n->since), so appending at the tail keeps the queue ordered by deadline:
 * the timer only ever watches the head. Restarting a node (activity) moves it
 * to the tail, O(1). An object costs one embedded node (two pointers and a
 * time) instead of an ev_timer and a slot in libev's timer heap.
 *
 *   idle --timeq_touch--> queued --timeq_touch--> queued (at the tail, since = now)
 *                           |
 *                           +--deadline passed: expire(node)--> the callback
 *                           |     removes it (timeq_remove) or restarts it (timeq_touch)
 *                           +--timeq_remove--> idle
 *
 * A queue whose timeout is 0 holds its nodes in the same order but never
 * expires them (a list of members).
 *
 * Owns the queue's links and its timer; must not free the nodes' objects
 * (the expire callback decides). The timer runs only while the queue is not
 * empty, so an empty queue keeps no loop alive.
 */
#ifndef KSOCKD_TIMEQ_H
#define KSOCKD_TIMEQ_H

#include <ev.h>
#include <stdbool.h>

struct timeq_node {
	struct timeq_node *prev, *next; /* neighbours in the queue */
	ev_tstamp since;                /* start of this node's wait (ev_now when touched) */
};

struct timeq;
typedef void timeq_expire_fn(struct timeq *q, struct timeq_node *n);

struct timeq {
	struct timeq_node *head, *tail; /* oldest first */
	ev_timer timer;                 /* fires at the head's deadline */
	ev_tstamp timeout;              /* every node's wait; <= 0: never expires */
	timeq_expire_fn *expire;        /* a node's deadline passed */
};

void timeq_init(struct timeq *q, ev_tstamp timeout, timeq_expire_fn *expire);
static inline bool timeq_queued(const struct timeq *q, const struct timeq_node *n)
{
	return n->prev || q->head == n;
}
void timeq_move(struct ev_loop *loop, struct timeq *q, struct timeq_node *n);
/* (Re)starts n's wait at now, at the tail (a queue that is off keeps its nodes, untimed).
 * Inline for the common case of the node already at the tail. */
static inline void timeq_touch(struct ev_loop *loop, struct timeq *q, struct timeq_node *n)
{
	if (q->tail == n)
		n->since = ev_now(loop);
	else
		timeq_move(loop, q, n);
}
/* Takes n out of q if it is there. */
void timeq_remove(struct ev_loop *loop, struct timeq *q, struct timeq_node *n);

#endif
