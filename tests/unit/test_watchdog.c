/*
 * test_watchdog.c: the ping/answer rounds over a real socketpair: a worker
 * that answers keeps WATCHDOG=1 coming, one that does not is stuck from the
 * next round on, answers are parsed even when split across reads.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "watchdog.h"

START_TEST(answers_are_parsed_across_reads)
{
	struct watchdog_peer p = {0};
	p.pinged = 5;
	watchdog_peer_input(&p, "RA1", 3, 0, 1);
	ck_assert(p.pinged > 0);
	watchdog_peer_input(&p, "2\nA", 3, 0, 1);
	ck_assert_uint_eq(p.conns, 12);
	ck_assert(p.pinged == 0);
	watchdog_peer_input(&p, "7\n", 2, 0, 1);
	ck_assert_uint_eq(p.conns, 7);
}
END_TEST

START_TEST(silent_worker_is_stuck_from_the_next_round)
{
	int sv[2];
	char buf[8];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct watchdog wd = {.interval = 3, .period = 1};
	struct watchdog_peer p = {0};
	watchdog_round_begin(&wd);
	watchdog_round_peer(&wd, &p, sv[0], 100.0, true, 0, 1);
	watchdog_round_end(&wd);
	ck_assert_uint_eq(wd.stuck, 0);
	ck_assert_int_eq(read(sv[1], buf, sizeof buf), 1); /* the ping */
	/* No answer by the next round: stuck, and no second ping is queued. */
	watchdog_round_begin(&wd);
	watchdog_round_peer(&wd, &p, sv[0], 101.0, true, 0, 1);
	watchdog_round_end(&wd);
	ck_assert_uint_eq(wd.stuck, 1);
	ck_assert(wd.withheld);
	/* A draining worker need not answer. */
	watchdog_round_begin(&wd);
	watchdog_round_peer(&wd, &p, sv[0], 102.0, false, 0, 1);
	watchdog_round_end(&wd);
	ck_assert_uint_eq(wd.stuck, 0);
	/* It answers: healthy again, counted, pinged anew. */
	watchdog_answer(sv[1], 4);
	ck_assert_int_eq(read(sv[0], buf, sizeof buf), 3);
	watchdog_peer_input(&p, buf, 3, 0, 1);
	watchdog_round_begin(&wd);
	watchdog_round_peer(&wd, &p, sv[0], 103.0, true, 0, 1);
	ck_assert(watchdog_round_end(&wd)); /* the connection count changed */
	ck_assert_uint_eq(wd.stuck, 0);
	ck_assert_uint_eq(wd.conns, 4);
	ck_assert(!wd.withheld);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static Suite *watchdog_suite(void)
{
	Suite *s = suite_create("watchdog");
	TCase *tc = tcase_create("rounds");
	tcase_add_test(tc, answers_are_parsed_across_reads);
	tcase_add_test(tc, silent_worker_is_stuck_from_the_next_round);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(watchdog_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
