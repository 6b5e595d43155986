/*
 * test_prefix.c: the one address rule (prefix.h) shared by allow/deny and
 * proxy_trusted: matching, host bits refused, IPv4-mapped peers and
 * prefixes as IPv4, malformed input, and the source key of per-source
 * limits.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "addr.h"
#include "prefix.h"

static struct sockaddr_storage sa_of(const char *text)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1)
		in->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
		in6->sin6_family = AF_INET6;
	else
		ck_abort_msg("bad test address %s", text);
	return ss;
}

static const struct {
	const char *prefix, *addr;
	bool match;
} matches[] = {
    {"192.0.2.0/24", "192.0.2.200", true},
    {"192.0.2.0/24", "192.0.3.1", false},
    {"192.0.2.7", "192.0.2.7", true},
    {"192.0.2.7", "192.0.2.8", false},
    {"192.0.2.8/31", "192.0.2.9", true},
    {"0.0.0.0/0", "203.0.113.9", true},
    {"192.0.2.0/24", "::ffff:192.0.2.1", true},  /* a mapped peer is IPv4 */
    {"::ffff:192.0.2.0/120", "192.0.2.1", true}, /* so is a mapped prefix */
    {"::ffff:192.0.2.0/120", "::ffff:192.0.2.1", true},
    {"::ffff:192.0.2.0/120", "192.0.3.1", false},
    {"2001:db8::/32", "2001:db8:1::5", true},
    {"2001:db8::/32", "2001:db9::5", false},
    {"::1", "::1", true},
    {"::/0", "192.0.2.1", false}, /* IPv6 prefixes: IPv6 peers only */
    {"::/0", "::ffff:192.0.2.1", false},
    {"10.0.0.0/8", "::1", false},
};

START_TEST(prefixes_match_under_one_rule)
{
	struct prefix p;
	char err[256] = "";
	ck_assert_msg(prefix_parse(matches[_i].prefix, &p, err, sizeof err) == 0, "%s", err);
	struct sockaddr_storage ss = sa_of(matches[_i].addr);
	ck_assert_msg(prefix_match(&p, (struct sockaddr *)&ss) == matches[_i].match, "%s in %s",
	              matches[_i].addr, matches[_i].prefix);
}
END_TEST

static const struct {
	const char *text, *why;
} bad[] = {
    {"", "not an address or prefix"},
    {"/8", "not an address or prefix"},
    {"10.0.0.0/33", "prefix length must be 0..32"},
    {"::/129", "prefix length must be 0..128"},
    {"10.0.0.0/", "prefix length"},
    {"10.0.0.0/-1", "prefix length"},
    {"10.0.0.0/8x", "prefix length"},
    {"10.0.0.0/ 8", "prefix length"},
    {"host.example", "not an IPv4 or IPv6 address"},
    {"192.0.2.9/31", "has bits set after the /31 prefix"}, /* refused, not cleared */
    {"2001:db8::1/64", "has bits set after the /64 prefix"},
};

START_TEST(host_bits_and_malformed_prefixes_are_refused)
{
	struct prefix p;
	char err[256] = "";
	ck_assert_msg(prefix_parse(bad[_i].text, &p, err, sizeof err) < 0, "'%s' accepted",
	              bad[_i].text);
	ck_assert_msg(strstr(err, bad[_i].why), "'%s': got '%s'", bad[_i].text, err);
}
END_TEST

/* allow/deny and proxy_trusted are the same parser: one dialect in one file. */
START_TEST(acl_uses_the_same_rule)
{
	struct acl acl = {0};
	char err[256];
	ck_assert_int_eq(acl_add(&acl, "192.0.2.9/31", true, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "has bits set"));
	ck_assert_int_eq(acl_add(&acl, "::ffff:10.0.0.0/104", false, err, sizeof err), 0);
	struct sockaddr_storage v4 = sa_of("10.1.2.3"), other = sa_of("11.0.0.1");
	ck_assert(!acl_check(&acl, (struct sockaddr *)&v4)); /* the mapped deny is 10.0.0.0/8 */
	ck_assert(acl_check(&acl, (struct sockaddr *)&other));
	acl_free(&acl);
}
END_TEST

START_TEST(a_source_is_an_ipv4_address_or_an_ipv6_slash_64)
{
	struct source_key a, b;
	struct sockaddr_storage v4 = sa_of("192.0.2.1"), mapped = sa_of("::ffff:192.0.2.1");
	struct sockaddr_storage v4b = sa_of("192.0.2.2");
	struct sockaddr_storage h1 = sa_of("2001:db8:1:2::1"), h2 = sa_of("2001:db8:1:2:ffff::9");
	struct sockaddr_storage other64 = sa_of("2001:db8:1:3::1");
	ck_assert(source_key_of((struct sockaddr *)&v4, &a));
	ck_assert(source_key_of((struct sockaddr *)&mapped, &b));
	ck_assert_mem_eq(a.b, b.b, sizeof a.b);
	ck_assert(source_key_of((struct sockaddr *)&v4b, &b));
	ck_assert(memcmp(a.b, b.b, sizeof a.b) != 0);
	ck_assert(source_key_of((struct sockaddr *)&h1, &a));
	ck_assert(source_key_of((struct sockaddr *)&h2, &b));
	ck_assert_mem_eq(a.b, b.b, sizeof a.b);
	ck_assert(source_key_of((struct sockaddr *)&other64, &b));
	ck_assert(memcmp(a.b, b.b, sizeof a.b) != 0);
	/* A unix peer (addr.h) is its uid: same uid, same source; another uid, another. */
	struct sockaddr_cred u1 = {.family = AF_UNIX, .cred = {.pid = 1, .uid = 1000, .gid = 1}};
	struct sockaddr_cred u2 = {.family = AF_UNIX, .cred = {.pid = 2, .uid = 1000, .gid = 2}};
	struct sockaddr_cred u3 = {.family = AF_UNIX, .cred = {.pid = 1, .uid = 1001, .gid = 1}};
	ck_assert(source_key_of((struct sockaddr *)&u1, &a));
	ck_assert(source_key_of((struct sockaddr *)&u2, &b));
	ck_assert_mem_eq(a.b, b.b, sizeof a.b);
	ck_assert(source_key_of((struct sockaddr *)&u3, &b));
	ck_assert(memcmp(a.b, b.b, sizeof a.b) != 0);
	struct sockaddr un = {.sa_family = AF_UNIX};
	const uint8_t *bytes;
	ck_assert_uint_eq(addr_bytes((struct sockaddr *)&mapped, &bytes), 4);
	ck_assert_uint_eq(addr_bytes((struct sockaddr *)&h1, &bytes), 16);
	ck_assert_uint_eq(addr_bytes(&un, &bytes), 0);
}
END_TEST

static Suite *prefix_suite(void)
{
	Suite *s = suite_create("prefix");
	TCase *tc = tcase_create("rule");
	tcase_add_loop_test(tc, prefixes_match_under_one_rule, 0,
	                    (int)(sizeof matches / sizeof matches[0]));
	tcase_add_loop_test(tc, host_bits_and_malformed_prefixes_are_refused, 0,
	                    (int)(sizeof bad / sizeof bad[0]));
	tcase_add_test(tc, acl_uses_the_same_rule);
	tcase_add_test(tc, a_source_is_an_ipv4_address_or_an_ipv6_slash_64);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(prefix_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
