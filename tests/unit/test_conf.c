/*
 * test_conf.c: config loading: defaults, overrides, and every error with its line number.
 * Most cases load and then prepare the config (generation.c) as `ksockd -t` does: some
 * errors (addresses, quote files, credentials) are found only by the preparation.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"
#include "generation.h"
#include "handler.h"

static char path[64];
static struct generation gen; /* what the last load_text prepared */

static void write_text(const char *text)
{
	strcpy(path, "/tmp/ksockd-test-conf-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* conf_load, then generation_prepare: NULL with err set if either fails. */
static struct conf *load_text(const char *text, char *err, size_t errlen)
{
	write_text(text);
	struct conf *c = conf_load(path, err, errlen);
	if (c && generation_prepare(&gen, c, err, errlen) < 0)
		c = NULL;
	unlink(path);
	return c;
}

static void unload(struct conf *c)
{
	ck_assert_ptr_eq(c, gen.conf);
	generation_drop(&gen, NULL);
}

/* The description alone: nothing is resolved, read or loaded, so nothing of that fails. */
START_TEST(a_description_resolves_reads_and_loads_nothing)
{
	char err[512] = "";
	write_text("listeners = (\n{ name = \"q\"; protocol = \"tcp\"; address = "
		   "\"no.such.host.invalid\"; port = 7; handler = \"qotd\";\n"
		   " qotd_file = \"/nonexistent/quotes\"; },\n"
		   "{ name = \"t\"; protocol = \"tls\"; address = \"127.0.0.1\"; port = 8;"
		   " handler = \"echo\"; certificate = \"/nonexistent/c.pem\";"
		   " key = \"/nonexistent/k.pem\"; });\n");
	struct conf *c = conf_load(path, err, sizeof err);
	unlink(path);
	ck_assert_msg(c != NULL, "unexpected error: %s", err);
	ck_assert_int_eq(c->listeners[0].address_line, 2);
	ck_assert_int_eq(c->listeners[0].qotd_line, 3);
	ck_assert_str_eq(c->listeners[1].tls.certificates[0], "/nonexistent/c.pem");
	/* The preparation finds the first of the three problems, and names its line. */
	ck_assert_int_eq(generation_prepare(&gen, c, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, ":2: listener 'q': cannot resolve address"));
	ck_assert_ptr_null(gen.conf);
}
END_TEST

#define L_ECHO "{ name = \"e\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7; handler = \"echo\"; }"

START_TEST(valid_config_gets_defaults_and_overrides)
{
	char err[512] = "";
	struct conf *c = load_text("workers = 3;\nmax_line = 100;\nidle_timeout = 2.5;\n"
				   "listeners = (\n" L_ECHO ",\n"
				   "{ name = \"h\"; protocol = \"tcp\"; address = \"::1\"; port = 9;"
				   " handler = \"hello\"; max_line = 7; output_buffer = 4096; }\n);\n",
				   err, sizeof err);
	ck_assert_msg(c != NULL, "unexpected error: %s", err);
	ck_assert_uint_eq(c->workers, 3);
	ck_assert_uint_eq(c->n_listeners, 2);
	ck_assert_uint_eq(c->listeners[0].limits.max_line, 100);
	ck_assert_double_eq(c->listeners[0].limits.idle_timeout, 2.5);
	ck_assert_uint_eq(c->listeners[1].limits.max_line, 7);
	ck_assert_uint_eq(c->listeners[1].limits.output_buffer, 4096);
	ck_assert_uint_eq(c->listeners[1].limits.max_connections, c->limits.max_connections);
	ck_assert_ptr_eq(c->listeners[1].handler, handler_find("hello"));
	ck_assert_int_eq(gen.listeners[1].addr.ss_family, AF_INET6);
	ck_assert(c->listeners[1].ipv6_only);
	ck_assert_int_eq(c->log_level, LOG_INFO);
	unload(c);
}
END_TEST

START_TEST(abuse_limits_and_lists_have_defaults_and_overrides)
{
	char err[512] = "";
	struct conf *c = load_text("connect_rate = 2.5;\nlisteners = (" L_ECHO ",\n"
				   "{ name = \"h\"; protocol = \"tcp\"; address = \"::1\"; port = 9;"
				   " handler = \"hello\"; max_connections_per_source = 0;"
				   " allow = [\"10.0.0.0/8\", \"::1\"]; deny = \"10.1.0.0/16\"; }\n);\n",
				   err, sizeof err);
	ck_assert_msg(c != NULL, "unexpected error: %s", err);
	const struct limits *a = &c->listeners[0].limits, *b = &c->listeners[1].limits;
	ck_assert_uint_eq(a->max_connections_per_source, 256);
	ck_assert_uint_eq(b->max_connections_per_source, 0);
	ck_assert_double_eq(a->connect_rate, 2.5);
	ck_assert_uint_eq(a->connect_burst, 200);
	ck_assert_double_eq(a->slow_client_timeout, 30);
	ck_assert_uint_eq(c->worker_buffer_limit, 64 * 1024 * 1024);
	ck_assert_uint_eq(c->listeners[0].acl.n, 0);
	ck_assert_uint_eq(c->listeners[1].acl.n, 3);
	ck_assert(c->listeners[1].acl.has_allow);
	unload(c);
}
END_TEST

START_TEST(host_names_are_resolved)
{
	char err[512] = "";
	struct conf *c = load_text("listeners = ({ name = \"l\"; protocol = \"tcp\"; address = "
				   "\"localhost\"; port = 7; handler = \"echo\"; });\n",
				   err, sizeof err);
	ck_assert_msg(c != NULL, "unexpected error: %s", err);
	ck_assert_uint_gt(gen.listeners[0].addrlen, 0);
	unload(c);
}
END_TEST

START_TEST(udp_listener_gets_safe_defaults_and_overrides)
{
	char err[512] = "";
	struct conf *c = load_text("udp_rate = 50;\nlisteners = (\n"
				   "{ name = \"u\"; protocol = \"udp\"; address = \"::\"; port = 7;"
				   " handler = \"echo\"; ipv6_only = false; udp_burst = 5;"
				   " max_datagram = 1400; udp_max_reply_ratio = 3; }\n);\n",
				   err, sizeof err);
	ck_assert_msg(c != NULL, "unexpected error: %s", err);
	ck_assert_int_eq(c->listeners[0].protocol, PROTO_UDP);
	ck_assert(!c->listeners[0].ipv6_only);
	ck_assert_uint_eq(c->limits.max_datagram, 65507);
	ck_assert_uint_eq(c->limits.udp_burst, 40);
	ck_assert_uint_eq(c->limits.udp_max_reply_ratio, 10);
	ck_assert_uint_eq(c->listeners[0].limits.udp_rate, 50);
	ck_assert_uint_eq(c->listeners[0].limits.udp_burst, 5);
	ck_assert_uint_eq(c->listeners[0].limits.max_datagram, 1400);
	ck_assert_uint_eq(c->listeners[0].limits.udp_max_reply_ratio, 3);
	ck_assert_uint_eq(c->listeners[0].limits.udp_sources, 4096);
	ck_assert_uint_eq(c->listeners[0].limits.udp_rcvbuf, 4 * 1024 * 1024);
	unload(c);
}
END_TEST

struct bad_case {
	const char *text; /* config file */
	const char *want; /* expected error, after "FILE:" */
};

static const struct bad_case bad[] = {
	{"bogus = 1;\nlisteners = (" L_ECHO ");\n", "1: unknown setting 'bogus'"},
	{"workers = \"two\";\nlisteners = (" L_ECHO ");\n", "1: 'workers' must be an integer"},
	{"workers = 0;\nlisteners = (" L_ECHO ");\n", "1: 'workers' must be between 1 and 256"},
	{"\nlisteners = (" L_ECHO ",\n" L_ECHO ");\n", "3: duplicate listener name 'e'"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\";\n"
	 "port = 70000; handler = \"echo\"; });\n",
	 "3: 'port' must be between 1 and 65535"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;\n"
	 "handler = \"nope\"; });\n",
	 "3: unknown handler 'nope'"},
	{"listeners = (\n{ name = \"x\"; protocol = \"sctp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\"; });\n",
	 "2: unknown protocol 'sctp'"},
	{"listeners = (\n{ name = \"x\"; protocol = \"udp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n max_datagram = 70000; });\n",
	 "3: 'max_datagram' must be between 0 and 65507"},
	{"udp_burst = 0;\nlisteners = (" L_ECHO ");\n", "1: 'udp_burst' must be between 1"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n udp_rate = 5; });\n",
	 "3: 'udp_rate' applies to udp listeners only"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n color = 1; });\n",
	 "3: unknown setting 'color' in listener"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; port = 7; handler = \"echo\"; });\n",
	 "2: listener is missing 'address'"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"no.such.host.invalid\";"
	 " port = 7; handler = \"echo\"; });\n",
	 "2: listener 'x': cannot resolve address"},
	{"listeners = (" L_ECHO ",\n{ name = \"f\"; protocol = \"tcp\"; address = \"127.0.0.1\";"
	 " port = 7; handler = \"echo\"; });\n",
	 "2: listener 'f' uses the same tcp address and port as 'e'"},
	{"workers = 2;\n", "0: no 'listeners' defined"},
	{"listeners = (" L_ECHO ");\nworkers = = 2;\n", "2: syntax error"},
	{"log_level = \"loud\";\nlisteners = (" L_ECHO ");\n", "1: unknown log_level 'loud'"},
	{"idle_timeout = true;\nlisteners = (" L_ECHO ");\n",
	 "1: 'idle_timeout' must be a number of seconds"},
	{"group = \"nogroup\";\nlisteners = (" L_ECHO ");\n", "1: 'group' is set without 'user'"},
	/* Observability and inetd services */
	{"listeners = (\n{ name = \"q\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"qotd\"; });\n",
	 "2: listener 'q': handler qotd needs 'qotd_file'"},
	{"listeners = (\n{ name = \"q\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"qotd\";\n qotd_file = \"/nonexistent/quotes\"; });\n",
	 "3: listener 'q': cannot open qotd_file '/nonexistent/quotes'"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n qotd_file = \"/etc/hostname\"; });\n",
	 "3: 'qotd_file' is only for handler qotd"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n access_log = \"rel.log\"; });\n",
	 "3: 'access_log' must be \"journal\" or an absolute path"},
	{"listeners = (\n{ name = \"x\"; protocol = \"udp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n access_log = \"journal\"; });\n",
	 "3: 'access_log' is for stream listeners, not udp"},
	/* Abuse limits and access control. */
	{"connect_rate = \"fast\";\nlisteners = (" L_ECHO ");\n", "1: 'connect_rate' must be a number"},
	{"max_connections_per_source = 70000;\nlisteners = (" L_ECHO ");\n",
	 "1: 'max_connections_per_source' must be between 0 and 65535"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n allow = [\"10.0.0.0/8\",\n \"10.0.0.1/8\"]; });\n",
	 "4: 'allow': '10.0.0.1/8' has bits set after the /8 prefix"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n deny = 5; });\n",
	 "3: 'deny' must be a string or a list of strings"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n deny = \"::1/200\"; });\n",
	 "3: 'deny': '::1/200': prefix length must be 0..128"},
	/* TLS listeners: settings only they may have, certificate and key pairs. */
	{"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n certificate = \"c.pem\"; });\n",
	 "3: 'certificate' is only for protocol \"tls\""},
	{"listeners = (\n{ name = \"x\"; protocol = \"tls\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\"; certificate = \"c.pem\"; });\n",
	 "2: listener 'x': protocol \"tls\" needs 'certificate' and 'key'"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tls\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\"; certificate = [\"a.pem\", \"b.pem\"];\n key = \"a.pem\"; });\n",
	 "3: listener 'x': 2 certificate(s) but 1 key(s)"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tls\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\"; certificate = \"c.pem\"; key = \"k.pem\";\n"
	 " verify_client = \"require\"; });\n",
	 "3: listener 'x': verify_client needs 'client_ca'"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tls\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n verify_client = \"maybe\"; });\n",
	 "3: unknown verify_client 'maybe'"},
	{"listeners = (\n{ name = \"x\"; protocol = \"tls\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\";\n alpn = [ ]; });\n",
	 "3: 'alpn' is empty"},
	/* Relative paths are resolved against the config file's directory (/tmp here). */
	{"listeners = (\n{ name = \"x\"; protocol = \"tls\"; address = \"127.0.0.1\"; port = 7;"
	 " handler = \"echo\"; certificate = \"no-such-ksockd-cert.pem\"; key = \"k.pem\"; });\n",
	 "2: listener 'x': cannot read certificate /tmp/no-such-ksockd-cert.pem"},
};

START_TEST(invalid_config_names_file_and_line)
{
	char err[512] = "", want[600];
	struct conf *c = load_text(bad[_i].text, err, sizeof err);
	ck_assert_msg(c == NULL, "case %d accepted", _i);
	snprintf(want, sizeof want, "%s:%s", path, bad[_i].want);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "case %d: got '%s', want '%s...'", _i,
		      err, want);
}
END_TEST

START_TEST(missing_file_is_reported)
{
	char err[512] = "";
	ck_assert_ptr_null(conf_load("/nonexistent/ksockd.conf", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/ksockd.conf: cannot read file"));
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("load");
	tcase_add_test(tc, valid_config_gets_defaults_and_overrides);
	tcase_add_test(tc, host_names_are_resolved);
	tcase_add_test(tc, a_description_resolves_reads_and_loads_nothing);
	tcase_add_test(tc, udp_listener_gets_safe_defaults_and_overrides);
	tcase_add_test(tc, abuse_limits_and_lists_have_defaults_and_overrides);
	tcase_add_loop_test(tc, invalid_config_names_file_and_line, 0,
			    (int)(sizeof bad / sizeof bad[0]));
	tcase_add_test(tc, missing_file_is_reported);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
