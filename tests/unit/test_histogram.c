/*
 * test_histogram.c: ksock's log-linear latency histogram: bucket edges,
 * relative error bound, percentiles, merging.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "client/histogram.h"

START_TEST(small_values_are_exact)
{
	for (uint64_t v = 0; v < 64; v++) {
		uint64_t lo, hi;
		ck_assert_uint_eq(hist_index(v), v);
		hist_bounds(hist_index(v), &lo, &hi);
		ck_assert_uint_eq(lo, v);
		ck_assert_uint_eq(hi, v);
	}
}
END_TEST

/* Every value lies inside its bucket, and the bucket is at most ~3% wide. */
static const uint64_t probes[] = {64,
                                  65,
                                  100,
                                  127,
                                  128,
                                  1000,
                                  4095,
                                  4096,
                                  123456,
                                  1000000,
                                  999999999,
                                  1ull << 40,
                                  (1ull << 62) + 12345,
                                  UINT64_MAX};

START_TEST(values_fall_inside_a_narrow_bucket)
{
	uint64_t v = probes[_i], lo, hi;
	unsigned idx = hist_index(v);
	ck_assert_uint_lt(idx, HIST_BUCKETS);
	hist_bounds(idx, &lo, &hi);
	ck_assert_uint_le(lo, v);
	ck_assert_uint_ge(hi, v);
	ck_assert((double)(hi - lo) <= (double)lo / 32.0 + 1);
	if (idx + 1 < HIST_BUCKETS) {
		uint64_t nlo, nhi;
		hist_bounds(idx + 1, &nlo, &nhi);
		ck_assert_uint_eq(nlo, hi + 1); /* buckets are contiguous */
	}
}
END_TEST

START_TEST(percentiles_of_a_uniform_range)
{
	struct histogram *h = malloc(sizeof *h);
	hist_init(h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(h, v * 1000); /* 1 us .. 100 ms in ns */
	ck_assert_uint_eq(h->count, 100000);
	ck_assert_uint_eq(h->min, 1000);
	ck_assert_uint_eq(h->max, 100000000);
	const double ps[] = {50, 90, 99, 99.9};
	for (unsigned i = 0; i < 4; i++) {
		double want = ps[i] * 1e6, got = (double)hist_percentile(h, ps[i]);
		ck_assert_msg(got >= want && got <= want * 1.04, "p%g: got %g want %g", ps[i], got,
		              want);
	}
	ck_assert_uint_eq(hist_percentile(h, 100), 100000000);
	free(h);
}
END_TEST

START_TEST(merge_adds_counts_and_keeps_extremes)
{
	struct histogram *a = malloc(sizeof *a), *b = malloc(sizeof *b);
	hist_init(a);
	hist_init(b);
	ck_assert_uint_eq(hist_percentile(a, 50), 0);
	hist_record(a, 10);
	hist_record(b, 5000);
	hist_record(b, 7);
	hist_merge(a, b);
	ck_assert_uint_eq(a->count, 3);
	ck_assert_uint_eq(a->min, 7);
	ck_assert_uint_eq(a->max, 5000);
	ck_assert_uint_eq(hist_percentile(a, 50), 10);
	ck_assert_uint_eq(hist_percentile(a, 99.9), 5000);
	free(a);
	free(b);
}
END_TEST

static Suite *histogram_suite(void)
{
	Suite *s = suite_create("histogram");
	TCase *tc = tcase_create("histogram");
	tcase_add_test(tc, small_values_are_exact);
	tcase_add_loop_test(tc, values_fall_inside_a_narrow_bucket, 0,
	                    sizeof probes / sizeof probes[0]);
	tcase_add_test(tc, percentiles_of_a_uniform_range);
	tcase_add_test(tc, merge_adds_counts_and_keeps_extremes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(histogram_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
