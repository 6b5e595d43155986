/*
 * test_udpfilter.c: which source ports a UDP listener never answers, and the reply ratio.
 */
#include "config.h"

#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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

START_TEST(reply_ratio_counts_headers_on_the_wire)
{
	const size_t v4 = UDPFILTER_HDR_IPV4, v6 = UDPFILTER_HDR_IPV6;
	ck_assert(udpfilter_reply_ok(0, 0, 1, v4));   /* empty echo */
	ck_assert(!udpfilter_reply_ok(0, 1, 1, v4));  /* ratio 1: never more than the request */
	ck_assert(udpfilter_reply_ok(0, 4, 2, v4));   /* rdate -u: 32 bytes answer 28 */
	ck_assert(udpfilter_reply_ok(0, 26, 2, v4));  /* daytime to an empty request: 54 for 28 */
	ck_assert(!udpfilter_reply_ok(0, 29, 2, v4)); /* 57 > 2 x 28 */
	ck_assert_uint_eq(udpfilter_reply_max(0, 10, v4), 252); /* chargen's room, default ratio */
	ck_assert_uint_eq(udpfilter_reply_max(0, 10, v6), 432);
	ck_assert_uint_eq(udpfilter_reply_max(1, 10, v4), 262);
	ck_assert_uint_eq(udpfilter_reply_max(100, 1, v6), 100);
	ck_assert(udpfilter_reply_ok(1, 10, 10, v4)); /* hello's "A" -> "Hello, A!\n" */
	ck_assert(udpfilter_reply_ok(1, 262, 10, v4));
	ck_assert(!udpfilter_reply_ok(1, 263, 10, v4));
	ck_assert(udpfilter_reply_ok(65507, 65507, 1, v4));
	ck_assert(!udpfilter_reply_ok(100, 229, 2, v4)); /* 257 > 2 x 128 */
	ck_assert(udpfilter_reply_ok(100, 228, 2, v4));
	ck_assert(udpfilter_reply_ok(100, 248, 2, v6));
	ck_assert(!udpfilter_reply_ok(100, 249, 2, v6));
}
END_TEST

START_TEST(overhead_follows_the_wire_family)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_in6 six = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:192.0.2.1", &mapped.sin6_addr), 1);
	ck_assert_uint_eq(udpfilter_overhead((struct sockaddr *)&sin), 28);
	ck_assert_uint_eq(udpfilter_overhead((struct sockaddr *)&six), 48);
	ck_assert_uint_eq(udpfilter_overhead((struct sockaddr *)&mapped),
	                  28); /* IPv4 on the wire */
}
END_TEST

static Suite *udpfilter_suite(void)
{
	Suite *s = suite_create("udpfilter");
	TCase *tc = tcase_create("rules");
	tcase_add_loop_test(tc, reflector_and_own_ports_are_blocked, 0,
	                    (int)(sizeof ports / sizeof ports[0]));
	tcase_add_test(tc, own_ports_are_deduplicated_and_bounded);
	tcase_add_test(tc, reply_ratio_counts_headers_on_the_wire);
	tcase_add_test(tc, overhead_follows_the_wire_family);
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
