/*
 * test_srctab.c: the shared per-source table: limits, sources, crash release,
 * token buckets, and enforcement across processes.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "srctab.h"

static struct srctab *t;

static void setup(void)
{
	t = srctab_create();
	ck_assert_ptr_nonnull(t);
}
static void teardown(void)
{
	srctab_destroy(t);
}

static uint64_t key(const char *listener, const char *ip)
{
	struct sockaddr_storage ss = {0};
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	}
	return srctab_key(listener, (struct sockaddr *)&ss);
}

START_TEST(limit_refuses_the_n_plus_first_and_release_frees_one)
{
	int p = srctab_proc_attach(t), slots[3];
	uint64_t k = key("l", "192.0.2.1");
	for (int i = 0; i < 3; i++) {
		slots[i] = srctab_acquire(t, p, k, 3);
		ck_assert_int_ge(slots[i], 0);
	}
	ck_assert_int_eq(srctab_acquire(t, p, k, 3), SRCTAB_FULL);
	ck_assert_uint_eq(srctab_count(t, k), 3);
	/* Another source and the same source on another listener are separate. */
	ck_assert_int_ge(srctab_acquire(t, p, key("l", "192.0.2.2"), 3), 0);
	ck_assert_int_ge(srctab_acquire(t, p, key("other", "192.0.2.1"), 3), 0);
	srctab_release(t, p, slots[0]);
	ck_assert_uint_eq(srctab_count(t, k), 2);
	ck_assert_int_ge(srctab_acquire(t, p, k, 3), 0);
}
END_TEST

START_TEST(ipv6_counts_per_64_and_v4_mapped_as_v4)
{
	ck_assert_uint_eq(key("l", "2001:db8:1:2::1"), key("l", "2001:db8:1:2:ffff::9"));
	ck_assert_uint_ne(key("l", "2001:db8:1:2::1"), key("l", "2001:db8:1:3::1"));
	ck_assert_uint_eq(key("l", "::ffff:192.0.2.7"), key("l", "192.0.2.7"));
	ck_assert_uint_ne(key("l", "192.0.2.7"), key("l", "192.0.2.8"));
	struct sockaddr sa = {.sa_family = AF_PACKET}; /* a family with no source: not counted */
	ck_assert_uint_eq(srctab_key("l", &sa), 0);
	/* A unix peer (addr.h) counts per uid. */
	struct sockaddr_cred u1 = {.family = AF_UNIX, .cred = {.pid = 1, .uid = 7}};
	struct sockaddr_cred u2 = {.family = AF_UNIX, .cred = {.pid = 2, .uid = 7}};
	struct sockaddr_cred u3 = {.family = AF_UNIX, .cred = {.pid = 1, .uid = 8}};
	ck_assert_uint_ne(srctab_key("l", (struct sockaddr *)&u1), 0);
	ck_assert_uint_eq(srctab_key("l", (struct sockaddr *)&u1),
	                  srctab_key("l", (struct sockaddr *)&u2));
	ck_assert_uint_ne(srctab_key("l", (struct sockaddr *)&u1),
	                  srctab_key("l", (struct sockaddr *)&u3));
}
END_TEST

START_TEST(detach_releases_what_a_dead_worker_held)
{
	int a = srctab_proc_attach(t), b = srctab_proc_attach(t);
	ck_assert_int_ne(a, b);
	uint64_t k = key("l", "198.51.100.1");
	for (int i = 0; i < 4; i++)
		ck_assert_int_ge(srctab_acquire(t, a, k, 10), 0);
	int kept = srctab_acquire(t, b, k, 10);
	ck_assert_int_ge(kept, 0);
	ck_assert_uint_eq(srctab_count(t, k), 5);
	ck_assert_uint_eq(srctab_proc_detach(t, a), 4); /* "a" was killed holding 4 */
	ck_assert_uint_eq(srctab_count(t, k), 1);
	srctab_release(t, b, kept);
	ck_assert_uint_eq(srctab_count(t, k), 0);
	ck_assert_uint_eq(srctab_proc_detach(t, b), 0); /* a clean worker holds nothing */
	/* The journal is reusable. */
	ck_assert_int_eq(srctab_proc_attach(t), a < b ? a : b);
}
END_TEST

START_TEST(counts_never_go_below_zero)
{
	int p = srctab_proc_attach(t);
	uint64_t k = key("l", "203.0.113.5");
	int s = srctab_acquire(t, p, k, 2);
	srctab_release(t, p, s);
	srctab_release(t, p, s);
	ck_assert_uint_eq(srctab_count(t, k), 0);
	ck_assert_uint_eq(srctab_proc_detach(t, p), 0);
}
END_TEST

START_TEST(token_bucket_allows_burst_then_rate)
{
	uint64_t k = key("l", "192.0.2.9"), now = 1000000;
	for (int i = 0; i < 5; i++)
		ck_assert(srctab_rate_take(t, k, 2.0, 5, now));
	ck_assert(!srctab_rate_take(t, k, 2.0, 5, now));
	ck_assert(!srctab_rate_take(t, k, 2.0, 5, now + 400)); /* 0.8 token */
	ck_assert(srctab_rate_take(t, k, 2.0, 5, now + 500));  /* 1 token */
	ck_assert(!srctab_rate_take(t, k, 2.0, 5, now + 500));
	/* Another source has its own bucket. */
	ck_assert(srctab_rate_take(t, key("l", "192.0.2.10"), 2.0, 5, now + 500));
	/* A long pause refills up to the burst, no more. */
	for (int i = 0; i < 5; i++)
		ck_assert(srctab_rate_take(t, k, 2.0, 5, now + 100000));
	ck_assert(!srctab_rate_take(t, k, 2.0, 5, now + 100000));
}
END_TEST

START_TEST(limit_holds_across_processes)
{
	enum { PROCS = 4, TRIES = 2000, MAX = 50 };
	uint64_t k = key("l", "192.0.2.77");
	int procs[PROCS];
	for (int i = 0; i < PROCS; i++)
		procs[i] = srctab_proc_attach(t);
	pid_t pids[PROCS];
	for (int i = 0; i < PROCS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			/* Take and give back at random; never exceed MAX in total. */
			int held[TRIES], n = 0, bad = 0;
			for (int j = 0; j < TRIES; j++) {
				if (n > 0 && (j * 7 + i) % 3 == 0) {
					srctab_release(t, procs[i], held[--n]);
					continue;
				}
				int s = srctab_acquire(t, procs[i], k, MAX);
				if (s >= 0)
					held[n++] = s;
				if (srctab_count(t, k) > MAX)
					bad = 1;
			}
			_exit(bad ? 2 : n); /* dies holding n: like a crash */
		}
	}
	unsigned held = 0;
	for (int i = 0; i < PROCS; i++) {
		int st;
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st));
		ck_assert_int_ne(WEXITSTATUS(st), 2);
		held += (unsigned)WEXITSTATUS(st);
	}
	ck_assert_uint_le(held, MAX);
	ck_assert_uint_eq(srctab_count(t, k), held);
	for (int i = 0; i < PROCS; i++)
		srctab_proc_detach(t, procs[i]);
	ck_assert_uint_eq(srctab_count(t, k), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("srctab");
	TCase *tc = tcase_create("srctab");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, limit_refuses_the_n_plus_first_and_release_frees_one);
	tcase_add_test(tc, ipv6_counts_per_64_and_v4_mapped_as_v4);
	tcase_add_test(tc, detach_releases_what_a_dead_worker_held);
	tcase_add_test(tc, counts_never_go_below_zero);
	tcase_add_test(tc, token_bucket_allows_burst_then_rate);
	tcase_add_test(tc, limit_holds_across_processes);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
