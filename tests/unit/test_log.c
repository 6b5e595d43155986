/*
 * test_log.c: "log at most once per interval" (log_limit_hit): the first
 * occurrence is logged, the ones within the interval are counted and
 * reported by the next line, and an idle condition is logged at once again.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "log.h"

START_TEST(one_line_per_interval_with_the_count_held_back)
{
	struct log_limit ll = {0};
	ck_assert_uint_eq(log_limit_hit(&ll, 100.0, 10), 1); /* the first one is logged */
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(log_limit_hit(&ll, 100.0 + i, 10), 0);
	ck_assert_uint_eq(log_limit_hit(&ll, 109.9, 10), 0);
	ck_assert_uint_eq(log_limit_hit(&ll, 110.0, 10), 6); /* 5 held back and this one */
	ck_assert_uint_eq(log_limit_hit(&ll, 500.0, 10), 1); /* idle: logged at once */
}
END_TEST

START_TEST(a_zeroed_limit_logs_at_any_clock_value)
{
	struct log_limit ll = {0};
	ck_assert_uint_eq(log_limit_hit(&ll, 0.0, 10), 1); /* ev_now() may start near 0 */
	ck_assert_uint_eq(log_limit_hit(&ll, 0.5, 10), 0);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("limit");
	tcase_add_test(tc, one_line_per_interval_with_the_count_held_back);
	tcase_add_test(tc, a_zeroed_limit_logs_at_any_clock_value);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(log_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
