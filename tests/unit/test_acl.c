/*
 * test_acl.c: allow/deny prefixes: parsing, most specific match, ties, the
 * default with and without allow rules, IPv4, IPv6 and v4-mapped peers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "acl.h"

static struct sockaddr_storage peer(const char *ip)
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
	return ss;
}

/* Rules: "+PREFIX" allows, "-PREFIX" denies; NULL-terminated. */
static void build(struct acl *acl, const char *const *rules)
{
	char err[256];
	for (; *rules; rules++)
		ck_assert_msg(acl_add(acl, *rules + 1, **rules == '+', err, sizeof err) == 0,
		              "%s: %s", *rules, err);
}

static const char *const mixed[] = {"+10.0.0.0/8",    "-10.1.0.0/16",       "+10.1.2.3",
                                    "+2001:db8::/32", "-2001:db8:bad::/48", NULL};
static const char *const deny_only[] = {"-192.0.2.0/24", "-::1", NULL};
static const char *const tie[] = {"+198.51.100.0/24", "-198.51.100.0/24", NULL};
static const char *const everything[] = {"-0.0.0.0/0", "+127.0.0.0/8", "-::/0", NULL};

static const struct {
	const char *const *rules; /* the list */
	const char *ip;           /* the peer */
	bool allowed;             /* expected verdict */
} cases[] = {
    {mixed, "10.2.3.4", true},        /* inside the allowed /8 */
    {mixed, "10.1.9.9", false},       /* deny /16 inside the allowed /8 */
    {mixed, "10.1.2.3", true},        /* allow /32 inside that deny */
    {mixed, "11.0.0.1", false},       /* no match, and there are allow rules */
    {mixed, "::ffff:10.2.3.4", true}, /* v4-mapped is IPv4 */
    {mixed, "::ffff:10.1.0.1", false}, {mixed, "2001:db8:1::1", true}, /* IPv6 allowed /32 */
    {mixed, "2001:db8:bad::1", false},                                 /* deny /48 inside it */
    {mixed, "2001:db9::1", false},     {mixed, "::1", false},
    {deny_only, "192.0.2.200", false}, /* deny only: listed are denied */
    {deny_only, "192.0.3.1", true},    /* ... and others allowed */
    {deny_only, "::1", false},         {deny_only, "::2", true},
    {tie, "198.51.100.1", false},    /* same prefix both ways: deny wins */
    {everything, "127.0.0.2", true}, /* /8 beats /0 */
    {everything, "8.8.8.8", false},    {everything, "::1", false},
};

START_TEST(most_specific_rule_decides)
{
	struct acl acl = {0};
	build(&acl, cases[_i].rules);
	struct sockaddr_storage ss = peer(cases[_i].ip);
	ck_assert_msg(acl_check(&acl, (struct sockaddr *)&ss) == cases[_i].allowed,
	              "case %d: %s should be %s", _i, cases[_i].ip,
	              cases[_i].allowed ? "allowed" : "denied");
	acl_free(&acl);
}
END_TEST

START_TEST(empty_list_allows_everyone)
{
	struct acl acl = {0};
	struct sockaddr_storage a = peer("203.0.113.1"), b = peer("2001:db8::1");
	ck_assert(acl_check(&acl, (struct sockaddr *)&a));
	ck_assert(acl_check(&acl, (struct sockaddr *)&b));
}
END_TEST

static const struct {
	const char *cidr; /* bad input */
	const char *why;  /* part of the message */
} bad[] = {
    {"10.0.0.0/33", "prefix length must be 0..32"},
    {"2001:db8::/129", "prefix length must be 0..128"},
    {"10.0.0.1/8", "bits set after the /8 prefix"},
    {"10.0.0.0/", "prefix length"},
    {"10.0.0.0/8x", "prefix length"},
    {"10.0.0.0/-1", "prefix length"},
    {"example.com", "not an IPv4 or IPv6 address"},
    {"", "not an address or prefix"},
    {"/8", "not an address or prefix"},
    {"1.2.3.4.5/32", "not an IPv4 or IPv6 address"},
};

START_TEST(bad_prefixes_are_rejected_with_a_reason)
{
	struct acl acl = {0};
	char err[256] = "";
	ck_assert_int_eq(acl_add(&acl, bad[_i].cidr, true, err, sizeof err), -1);
	ck_assert_msg(strstr(err, bad[_i].why) != NULL, "'%s': got '%s'", bad[_i].cidr, err);
	ck_assert_uint_eq(acl.n, 0);
	acl_free(&acl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acl");
	TCase *tc = tcase_create("acl");
	tcase_add_loop_test(tc, most_specific_rule_decides, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, empty_list_allows_everyone);
	tcase_add_loop_test(tc, bad_prefixes_are_rejected_with_a_reason, 0,
	                    sizeof bad / sizeof bad[0]);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
