/*
 * test_timeq.c: the deadline queue (timeq.h) on a real libev loop: nodes
 * expire oldest first, never before their deadline and soon after it; a
 * touch moves a node to the tail and restarts its wait; an expire callback
 * may restart its node; a queue with timeout 0 lists its nodes and never
 * expires them; the timer runs only while the queue holds a node, so a loop
 * with an emptied queue ends by itself.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "timeq.h"

#define TIMEOUT 0.05 /* seconds: every queue's wait here */
#define LATE 0.5     /* an expiry later than the deadline by this fails (a loaded machine) */
#define MAX_EXP 8

static struct ev_loop *loop;
static struct timeq q;
static struct timeq_node nodes[3];
static struct timeq_node *expired[MAX_EXP];
static ev_tstamp deadline_seen[MAX_EXP], when[MAX_EXP];
static int n_expired, restarts_left;
static ev_timer guard;

/* Records the expiry; restarts the node while restarts_left, else removes it. */
static void record(struct timeq *tq, struct timeq_node *n)
{
	ck_assert_int_lt(n_expired, MAX_EXP);
	expired[n_expired] = n;
	deadline_seen[n_expired] = n->since + tq->timeout;
	when[n_expired] = ev_now(loop);
	n_expired++;
	if (restarts_left > 0) {
		restarts_left--;
		timeq_touch(loop, tq, n);
	} else {
		timeq_remove(loop, tq, n);
	}
}

static void guard_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
	ck_abort_msg("the loop did not end within 5 s");
}

static void setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(loop);
	timeq_init(&q, TIMEOUT, record);
	for (int i = 0; i < 3; i++)
		nodes[i] = (struct timeq_node){0};
	n_expired = restarts_left = 0;
	ev_timer_init(&guard, guard_cb, 5.0, 0);
	ev_timer_start(loop, &guard);
	ev_unref(loop); /* the guard alone does not keep the loop running */
}

static void teardown(void)
{
	ev_ref(loop);
	ev_timer_stop(loop, &guard);
	ev_loop_destroy(loop);
}

/* Each expiry came at or after its node's deadline, and not much later. */
static void assert_in_time(void)
{
	for (int i = 0; i < n_expired; i++) {
		ck_assert(when[i] >= deadline_seen[i]);
		ck_assert(when[i] < deadline_seen[i] + LATE);
	}
}

/* Touches nodes[1] and nodes[2] one after the other, 10 ms apart (a loop timer). */
static int staged;
static void stage_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	(void)revents;
	timeq_touch(l, &q, &nodes[++staged]);
	if (staged < 2)
		ev_timer_start(l, t);
}

START_TEST(nodes_expire_oldest_first_at_their_deadline)
{
	ev_timer stage;
	staged = 0;
	ev_timer_init(&stage, stage_cb, 0.01, 0);
	timeq_touch(loop, &q, &nodes[0]);
	ev_timer_start(loop, &stage);
	ev_run(loop, 0);
	ck_assert_int_eq(n_expired, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_eq(expired[i], &nodes[i]);
	assert_in_time();
	ck_assert_ptr_null(q.head);
	ck_assert(!ev_is_active(&q.timer));
}
END_TEST

/* nodes[0] is touched again once nodes[1] has joined: it goes to the tail. */
static void retouch_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	timeq_touch(l, &q, &nodes[0]);
	ck_assert_ptr_eq(q.head, &nodes[1]);
	ck_assert_ptr_eq(q.tail, &nodes[0]);
}

START_TEST(a_touch_moves_the_node_to_the_tail_and_restarts_its_wait)
{
	ev_timer later;
	timeq_touch(loop, &q, &nodes[0]);
	timeq_touch(loop, &q, &nodes[1]);
	ck_assert_ptr_eq(q.head, &nodes[0]);
	ev_timer_init(&later, retouch_cb, 0.02, 0);
	ev_timer_start(loop, &later);
	ev_run(loop, 0);
	ck_assert_int_eq(n_expired, 2);
	ck_assert_ptr_eq(expired[0], &nodes[1]);
	ck_assert_ptr_eq(expired[1], &nodes[0]);
	ck_assert(deadline_seen[1] >= deadline_seen[0] + 0.015); /* restarted ~20 ms later */
	assert_in_time();
}
END_TEST

START_TEST(an_expire_callback_may_restart_its_node)
{
	restarts_left = 2;
	timeq_touch(loop, &q, &nodes[0]);
	ev_run(loop, 0);
	ck_assert_int_eq(n_expired, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_eq(expired[i], &nodes[0]);
	ck_assert(deadline_seen[2] >= deadline_seen[0] + 2 * TIMEOUT - 1e-9);
	assert_in_time();
}
END_TEST

START_TEST(a_queue_with_timeout_0_lists_but_never_expires)
{
	struct timeq off;
	timeq_init(&off, 0, record);
	for (int i = 0; i < 3; i++)
		timeq_touch(loop, &off, &nodes[i]);
	timeq_touch(loop, &off, &nodes[0]); /* to the tail */
	ck_assert(!ev_is_active(&off.timer));
	ck_assert_ptr_eq(off.head, &nodes[1]);
	ck_assert_ptr_eq(off.head->next, &nodes[2]);
	ck_assert_ptr_eq(off.tail, &nodes[0]);
	ev_run(loop, 0); /* nothing active: returns at once */
	ck_assert_int_eq(n_expired, 0);
	timeq_remove(loop, &off, &nodes[2]);
	ck_assert(!timeq_queued(&off, &nodes[2]));
	ck_assert_ptr_eq(off.head->next, &nodes[0]);
	timeq_remove(loop, &off, &nodes[2]); /* not queued: nothing happens */
	timeq_remove(loop, &off, &nodes[1]);
	timeq_remove(loop, &off, &nodes[0]);
	ck_assert_ptr_null(off.head);
	ck_assert_ptr_null(off.tail);
}
END_TEST

START_TEST(the_timer_stops_when_the_queue_empties)
{
	timeq_touch(loop, &q, &nodes[0]);
	timeq_touch(loop, &q, &nodes[1]);
	ck_assert(ev_is_active(&q.timer));
	timeq_remove(loop, &q, &nodes[0]);
	ck_assert(ev_is_active(&q.timer));
	timeq_remove(loop, &q, &nodes[1]);
	ck_assert(!ev_is_active(&q.timer));
	ev_run(loop, 0); /* ends by itself: no timer keeps it alive */
	ck_assert_int_eq(n_expired, 0);
}
END_TEST

static Suite *timeq_suite(void)
{
	Suite *s = suite_create("timeq");
	TCase *tc = tcase_create("queue");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, nodes_expire_oldest_first_at_their_deadline);
	tcase_add_test(tc, a_touch_moves_the_node_to_the_tail_and_restarts_its_wait);
	tcase_add_test(tc, an_expire_callback_may_restart_its_node);
	tcase_add_test(tc, a_queue_with_timeout_0_lists_but_never_expires);
	tcase_add_test(tc, the_timer_stops_when_the_queue_empties);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(timeq_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
