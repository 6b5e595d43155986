/*
 * test_ratelimit.c: the per-source token buckets, driven with a fake clock.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "ratelimit.h"

#define T0 1000.0 /* any positive start time */

static struct ratelimit_key key4(const char *ip)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct ratelimit_key k;
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	ck_assert(ratelimit_key_from_addr((struct sockaddr *)&sa, &k));
	return k;
}

static struct ratelimit_key key6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct ratelimit_key k;
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
	ck_assert(ratelimit_key_from_addr((struct sockaddr *)&sa, &k));
	return k;
}

static unsigned allowed(struct ratelimit *rl, const struct ratelimit_key *k, unsigned tries,
                        double now)
{
	unsigned n = 0;
	for (unsigned i = 0; i < tries; i++)
		n += ratelimit_allow(rl, k, now);
	return n;
}

START_TEST(burst_then_nothing_until_refill)
{
	struct ratelimit rl;
	struct ratelimit_key k = key4("192.0.2.1");
	ck_assert_int_eq(ratelimit_init(&rl, 10, 5, 64, 42), 0);
	ck_assert_uint_eq(allowed(&rl, &k, 100, T0), 5);
	ck_assert_uint_eq(allowed(&rl, &k, 100, T0 + 0.05), 0); /* half a token */
	ck_assert_uint_eq(allowed(&rl, &k, 100, T0 + 0.1), 1);
	ck_assert_uint_eq(allowed(&rl, &k, 100, T0 + 1.1), 5); /* capped at burst, not 10 */
	ratelimit_free(&rl);
}
END_TEST

START_TEST(sustained_rate_is_respected)
{
	struct ratelimit rl;
	struct ratelimit_key k = key4("192.0.2.1");
	ck_assert_int_eq(ratelimit_init(&rl, 100, 10, 64, 1), 0);
	unsigned n = 0;
	for (int ms = 0; ms < 10000; ms++) /* 10 s, 10 tries per ms */
		n += allowed(&rl, &k, 10, T0 + ms / 1000.0);
	ck_assert_uint_ge(n, 1000);
	ck_assert_uint_le(n, 1000 + 10);
	ratelimit_free(&rl);
}
END_TEST

START_TEST(sources_have_their_own_buckets)
{
	struct ratelimit rl;
	struct ratelimit_key a = key4("192.0.2.1"), b = key4("192.0.2.2");
	ck_assert_int_eq(ratelimit_init(&rl, 1, 3, 64, 7), 0);
	ck_assert_uint_eq(allowed(&rl, &a, 10, T0), 3);
	ck_assert_uint_eq(allowed(&rl, &b, 10, T0), 3);
	ck_assert_uint_eq(allowed(&rl, &a, 10, T0), 0);
	ratelimit_free(&rl);
}
END_TEST

START_TEST(ipv6_is_keyed_by_its_64_prefix_and_mapped_v4_as_v4)
{
	struct ratelimit_key a = key6("2001:db8:1:2::1", 1000),
	                     b = key6("2001:db8:1:2::ffff", 2000);
	struct ratelimit_key c = key6("2001:db8:1:3::1", 1000);
	struct ratelimit_key m = key6("::ffff:192.0.2.1", 5), v4 = key4("192.0.2.1");
	ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
	ck_assert_int_ne(memcmp(&a, &c, sizeof a), 0);
	ck_assert_int_eq(memcmp(&m, &v4, sizeof m), 0);
	struct sockaddr pk = {.sa_family = AF_PACKET}; /* a family with no source */
	ck_assert(!ratelimit_key_from_addr(&pk, &a));
	/* A unixgram sender (addr.h) is keyed by its uid. */
	struct sockaddr_cred u1 = {.family = AF_UNIX, .cred = {.pid = 1, .uid = 5}};
	struct sockaddr_cred u2 = {.family = AF_UNIX, .cred = {.pid = 9, .uid = 5}};
	ck_assert(ratelimit_key_from_addr((struct sockaddr *)&u1, &a));
	ck_assert(ratelimit_key_from_addr((struct sockaddr *)&u2, &b));
	ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
}
END_TEST

/* Many more sources than the table holds: memory stays fixed, every source still works. */
START_TEST(table_is_bounded_and_forgets_the_least_recent)
{
	struct ratelimit rl;
	ck_assert_int_eq(ratelimit_init(&rl, 1, 2, 64, 99), 0);
	size_t slots = rl.n_sets * RATELIMIT_WAYS;
	ck_assert_uint_eq(slots, 64);
	struct ratelimit_key victim = key4("198.51.100.1");
	ck_assert_uint_eq(allowed(&rl, &victim, 5, T0), 2);
	for (unsigned i = 0; i < 100000; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_addr.s_addr = htonl(0x0a000000 + i)};
		struct ratelimit_key k;
		ck_assert(ratelimit_key_from_addr((struct sockaddr *)&sa, &k));
		ck_assert(ratelimit_allow(&rl, &k, T0 + 0.001));
	}
	ck_assert_uint_eq(rl.n_sets * RATELIMIT_WAYS, slots);
	ck_assert_uint_gt(rl.evictions, 0);
	/* The victim was evicted long ago: it starts again with a full bucket. */
	ck_assert_uint_eq(allowed(&rl, &victim, 5, T0 + 0.002), 2);
	ratelimit_free(&rl);
}
END_TEST

START_TEST(recent_source_survives_a_colliding_newcomer)
{
	struct ratelimit rl;
	ck_assert_int_eq(ratelimit_init(&rl, 1, 2, 4, 5), 0); /* one set of 4 ways */
	ck_assert_uint_eq(rl.n_sets, 1);
	struct ratelimit_key k[5] = {key4("192.0.2.1"), key4("192.0.2.2"), key4("192.0.2.3"),
	                             key4("192.0.2.4"), key4("192.0.2.5")};
	ck_assert_uint_eq(allowed(&rl, &k[0], 5, T0), 2); /* oldest */
	for (int i = 1; i < 4; i++)
		ck_assert_uint_eq(allowed(&rl, &k[i], 5, T0 + i), 2);
	ck_assert_uint_eq(allowed(&rl, &k[4], 5, T0 + 4), 2); /* evicts k[0] only */
	/* k[3] is remembered: one token refilled in 1 s, not a fresh burst of 2. */
	ck_assert_uint_eq(allowed(&rl, &k[3], 5, T0 + 4), 1);
	ck_assert_uint_eq(allowed(&rl, &k[0], 5, T0 + 4), 2); /* forgotten: a fresh bucket */
	ratelimit_free(&rl);
}
END_TEST

static Suite *ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("buckets");
	tcase_add_test(tc, burst_then_nothing_until_refill);
	tcase_add_test(tc, sustained_rate_is_respected);
	tcase_add_test(tc, sources_have_their_own_buckets);
	tcase_add_test(tc, ipv6_is_keyed_by_its_64_prefix_and_mapped_v4_as_v4);
	tcase_add_test(tc, table_is_bounded_and_forgets_the_least_recent);
	tcase_add_test(tc, recent_source_survives_a_colliding_newcomer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ratelimit_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
