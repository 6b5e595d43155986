/*
 * timeq.c: the deadline queue of timeq.h: links, and the one timer that
 * watches the head. Knows nothing of what the nodes belong to.
 */
#include "config.h"

#include <stddef.h>

#include "timeq.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static void timeq_unlink(struct timeq *q, struct timeq_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		q->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		q->tail = n->prev;
	n->prev = n->next = NULL;
}

static void timeq_arm(struct ev_loop *loop, struct timeq *q)
{
	ev_tstamp after = q->head->since + q->timeout - ev_now(loop);
	ev_timer_set(&q->timer, after > 0 ? after : 0, 0);
	ev_timer_start(loop, &q->timer);
}

/* Expires every node whose deadline passed, oldest first, then watches the new head. */
static void timeq_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct timeq *q = container_of(t, struct timeq, timer);
	(void)revents;
	struct timeq_node *n;
	while ((n = q->head) != NULL && n->since + q->timeout <= ev_now(loop)) {
		q->expire(q, n);
		/* The callback must take n out or restart it; if it did neither, take it out
		 * so that the loop ends (each pass removes a node or moves one to now). */
		if (q->head == n && n->since + q->timeout <= ev_now(loop))
			timeq_remove(loop, q, n);
	}
	if (q->head && !ev_is_active(&q->timer))
		timeq_arm(loop, q);
}

void timeq_init(struct timeq *q, ev_tstamp timeout, timeq_expire_fn *expire)
{
	q->head = q->tail = NULL;
	q->timeout = timeout;
	q->expire = expire;
	ev_init(&q->timer, timeq_cb);
}

/* timeq_touch for a node not at the tail: links it there. */
void timeq_move(struct ev_loop *loop, struct timeq *q, struct timeq_node *n)
{
	n->since = ev_now(loop);
	if (timeq_queued(q, n))
		timeq_unlink(q, n);
	n->prev = q->tail;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	if (q->timeout > 0 && !ev_is_active(&q->timer))
		timeq_arm(loop, q);
}

void timeq_remove(struct ev_loop *loop, struct timeq *q, struct timeq_node *n)
{
	if (!timeq_queued(q, n))
		return;
	timeq_unlink(q, n);
	if (!q->head)
		ev_timer_stop(loop, &q->timer);
}
