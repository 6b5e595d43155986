/*
 * test_bucket.c: the one token bucket (bucket.h): a full bucket spends its
 * burst at once, regains rate tokens per second, never holds more than
 * burst, and a refused take leaves it as it was; time going backwards
 * (an older timestamp) neither adds nor removes tokens.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "bucket.h"

START_TEST(burst_then_rate)
{
	struct bucket b = {.tokens = 5, .last = 100};
	for (int i = 0; i < 5; i++)
		ck_assert(bucket_take(&b, 2.0, 5, 100));
	ck_assert(!bucket_take(&b, 2.0, 5, 100));
	ck_assert(!bucket_take(&b, 2.0, 5, 100.4)); /* 0.8 token */
	ck_assert(bucket_take(&b, 2.0, 5, 100.5));  /* 1 token */
	ck_assert(!bucket_take(&b, 2.0, 5, 100.5));
	ck_assert_double_eq_tol(bucket_level(&b, 2.0, 5, 100.5), 0, 1e-9);
}
END_TEST

START_TEST(never_more_than_burst)
{
	struct bucket b = {.tokens = 0, .last = 0};
	ck_assert_double_eq(bucket_level(&b, 1000.0, 3, 3600), 3);
	for (int i = 0; i < 3; i++)
		ck_assert(bucket_take(&b, 1000.0, 3, 3600));
	ck_assert(!bucket_take(&b, 1000.0, 3, 3600));
}
END_TEST

START_TEST(an_older_timestamp_changes_nothing)
{
	struct bucket b = {.tokens = 1.5, .last = 10};
	ck_assert_double_eq(bucket_level(&b, 1.0, 5, 9), 1.5);
	ck_assert(bucket_take(&b, 1.0, 5, 9));
	ck_assert_double_eq(b.last, 10);
	ck_assert_double_eq_tol(b.tokens, 0.5, 1e-9);
	ck_assert(!bucket_take(&b, 1.0, 5, 9));
	ck_assert_double_eq_tol(b.tokens, 0.5, 1e-9);
}
END_TEST

static Suite *bucket_suite(void)
{
	Suite *s = suite_create("bucket");
	TCase *tc = tcase_create("tokens");
	tcase_add_test(tc, burst_then_rate);
	tcase_add_test(tc, never_more_than_burst);
	tcase_add_test(tc, an_older_timestamp_changes_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bucket_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
