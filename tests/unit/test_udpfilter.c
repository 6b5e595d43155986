/*
 * test_udpfilter.c: which source ports a UDP listener never answers, and the reply ratio.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "udpfilter.h"

struct port_case {
	uint16_t port; /* source port */
	bool blocked;  /* expected */
};

static const struct port_case ports[] = {
    {0, true},  {7, true},   {9, true},     {13, true},     {17, true},
    {19, true}, {37, true},  {7007, true},  {9002, true},   {1, false},
    {8, false}, {53, false}, {1024, false}, {40000, false}, {65535, false},
};

START_TEST(reflector_and_own_ports_are_blocked)
{
	struct udpfilter f = {0};
	ck_assert_int_eq(udpfilter_add_own(&f, 7007), 0);
	ck_assert_int_eq(udpfilter_add_own(&f, 9002), 0);
	ck_assert_int_eq(udpfilter_port_blocked(&f, ports[_i].port), ports[_i].blocked);
}
END_TEST

START_TEST(own_ports_are_deduplicated_and_bounded)
{
	struct udpfilter f = {0};
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(udpfilter_add_own(&f, 5000), 0);
	ck_assert_uint_eq(f.n_own, 1);
	for (uint16_t p = 1; f.n_own < UDPFILTER_MAX_OWN; p++)
		ck_assert_int_eq(udpfilter_add_own(&f, (uint16_t)(6000 + p)), 0);
	ck_assert_int_eq(udpfilter_add_own(&f, 50000), -1);
	ck_assert(udpfilter_port_blocked(&f, 5000));
	ck_assert(!udpfilter_port_blocked(&f, 50000));
}
END_TEST

START_TEST(reply_ratio)
{
	ck_assert(udpfilter_reply_ok(0, 0, 1));   /* empty echo */
	ck_assert(!udpfilter_reply_ok(0, 1, 10)); /* anything for nothing */
	ck_assert(udpfilter_reply_ok(1, 10, 10)); /* hello's worst case: "A" -> "Hello, A!\n" */
	ck_assert(!udpfilter_reply_ok(1, 11, 10));
	ck_assert(udpfilter_reply_ok(65507, 65507, 1));
	ck_assert(!udpfilter_reply_ok(100, 201, 2));
}
END_TEST

static Suite *udpfilter_suite(void)
{
	Suite *s = suite_create("udpfilter");
	TCase *tc = tcase_create("rules");
	tcase_add_loop_test(tc, reflector_and_own_ports_are_blocked, 0,
	                    (int)(sizeof ports / sizeof ports[0]));
	tcase_add_test(tc, own_ports_are_deduplicated_and_bounded);
	tcase_add_test(tc, reply_ratio);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(udpfilter_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
