/*
 * test_conf.c: config loading: defaults, overrides, and every error with its line number.
 * Most cases load and then prepare the config (generation.c) as `ksockd -t` does: some
 * errors (addresses, quote files, credentials) are found only by the preparation.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"
#include "conf_diag.h"
#include "conf_dump.h"
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

/* conf_load alone: the description (what -T prints), nothing prepared. */
static struct conf *load_description(const char *text, char *err, size_t errlen)
{
	write_text(text);
	struct conf *c = conf_load(path, err, errlen);
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

#define L_ECHO                                                                                     \
	"{ name = \"e\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7; handler = "        \
	"\"echo\"; }"

START_TEST(valid_config_gets_defaults_and_overrides)
{
	char err[512] = "";
	struct conf *c =
	    load_text("workers = 3;\nmax_line = 100;\nidle_timeout = 2.5;\n"
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
	struct conf *c =
	    load_text("connect_rate = 2.5;\nlisteners = (" L_ECHO ",\n"
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

/* Host names go through the resolver; a build root may have no /etc/hosts and no DNS,
 * so the expected outcome is what getaddrinfo() says about "localhost" here. */
START_TEST(host_names_are_resolved)
{
	char err[512] = "";
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
	bool resolvable = getaddrinfo("localhost", "7", &hints, &res) == 0;
	struct conf *c = load_text("listeners = ({ name = \"l\"; protocol = \"tcp\"; address = "
	                           "\"localhost\"; port = 7; handler = \"echo\"; });\n",
	                           err, sizeof err);
	if (resolvable) {
		ck_assert_msg(c != NULL, "unexpected error: %s", err);
		ck_assert_uint_eq(gen.listeners[0].addrlen, res->ai_addrlen);
		ck_assert_int_eq(memcmp(&gen.listeners[0].addr, res->ai_addr, res->ai_addrlen), 0);
		freeaddrinfo(res);
		unload(c);
	} else {
		ck_assert_ptr_null(c);
		ck_assert_ptr_nonnull(
		    strstr(err, "listener 'l': cannot resolve address 'localhost'"));
	}
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
    /* libconfig's scanner would end the process reading a directory: refused first. */
    {"workers = 1;\n@include \"\"\nlisteners = (" L_ECHO ");\n",
     "2: @include names '/tmp/', which is a directory; name a config file"},
    {"workers = \"two\";\nlisteners = (" L_ECHO ");\n", "1: 'workers' must be an integer"},
    {"workers = 0;\nlisteners = (" L_ECHO ");\n", "1: 'workers' must be between 1 and 256"},
    {"\nlisteners = (" L_ECHO ",\n" L_ECHO ");\n", "3: listener 'e': duplicate listener name 'e'"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\";\n"
     "port = 70000; handler = \"echo\"; });\n",
     "3: listener 'x': 'port' must be between 1 and 65535"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;\n"
     "handler = \"nope\"; });\n",
     "3: listener 'x': unknown handler 'nope'"},
    {"listeners = (\n{ name = \"x\"; protocol = \"sctp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\"; });\n",
     "2: listener 'x': unknown protocol 'sctp'"},
    {"listeners = (\n{ name = \"x\"; protocol = \"udp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n max_datagram = 70000; });\n",
     "3: listener 'x': 'max_datagram' must be between 0 and 65507"},
    {"udp_burst = 0;\nlisteners = (" L_ECHO ");\n", "1: 'udp_burst' must be between 1"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n udp_rate = 5; });\n",
     "3: listener 'x': 'udp_rate' applies to udp and unixgram listeners only"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n color = 1; });\n",
     "3: listener 'x': unknown setting 'color' in listener"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; port = 7; handler = \"echo\"; });\n",
     "2: listener 'x': missing 'address'"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"no.such.host.invalid\";"
     " port = 7; handler = \"echo\"; });\n",
     "2: listener 'x': cannot resolve address"},
    {"listeners = (" L_ECHO ",\n{ name = \"f\"; protocol = \"tcp\"; address = \"127.0.0.1\";"
     " port = 7; handler = \"echo\"; });\n",
     "2: listener 'f' uses the same tcp address and port as 'e'"},
    {"workers = 2;\n", " no 'listeners' defined; add listeners = ("},
    {"listeners = (" L_ECHO ");\nworkers = = 2;\n", "2: unexpected '=', expected a value"},
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
     "3: listener 'x': 'qotd_file' is only for handler qotd"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n access_log = \"rel.log\"; });\n",
     "3: listener 'x': 'access_log' must be \"journal\" or an absolute path"},
    {"listeners = (\n{ name = \"x\"; protocol = \"udp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n access_log = \"journal\"; });\n",
     "3: listener 'x': 'access_log' is for stream listeners, not udp"},
    /* Abuse limits and access control. */
    {"connect_rate = \"fast\";\nlisteners = (" L_ECHO ");\n", "1: 'connect_rate' must be a number"},
    {"max_connections_per_source = 70000;\nlisteners = (" L_ECHO ");\n",
     "1: 'max_connections_per_source' must be between 0 and 65535"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n allow = [\"10.0.0.0/8\",\n \"10.0.0.1/8\"]; });\n",
     "4: listener 'x': 'allow': '10.0.0.1/8' has bits set after the /8 prefix"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n deny = 5; });\n",
     "3: listener 'x': 'deny' must be a string or a list of strings"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n deny = \"::1/200\"; });\n",
     "3: listener 'x': 'deny': '::1/200': prefix length must be 0..128"},
    /* TLS listeners: settings only they may have, certificate and key pairs. */
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n certificate = \"c.pem\"; });\n",
     "3: listener 'x': 'certificate' is only for protocol \"tls\""},
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
     "3: listener 'x': unknown verify_client 'maybe'"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tls\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n alpn = [ ]; });\n",
     "3: listener 'x': 'alpn' is empty"},
    /* Relative paths are resolved against the config file's directory (/tmp here). */
    {"listeners = (\n{ name = \"x\"; protocol = \"tls\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\"; certificate = \"no-such-ksockd-cert.pem\"; key = \"k.pem\"; });\n",
     "2: listener 'x': cannot read certificate /tmp/no-such-ksockd-cert.pem"},
    /* Errors that point at the fix: the token, the key, integers as integers, near names. */
    {"listeners = (\n{ name = \"a\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\"; }\n{ name = \"b\"; });\n",
     "3: unexpected '{', expected ',' or ')' (a missing ',' between list elements?)"},
    {"listeners = (\n{ name = \"a\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     "\n handler = \"echo\";\n);\n",
     "4: unexpected ')', expected a setting name or '}' (the group opened at line 2 is not "
     "closed?)"},
    {"listeners = (\n{ name = \"a\"; protocol = \"tcp\"; address = \"127.0.0.1; port = 7;\n"
     " handler = \"echo\"; });\n",
     "2: the string opened here runs on to line 3: a missing '\"'?"},
    {"listeners = (\n{ name = \"a\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n port = 8; });\n",
     "3: duplicate setting 'port' (first set at line 2): keep one"},
    {"listeners = (" L_ECHO "\n", "2: unexpected end of file, expected ')' to close the list "
                                  "opened at line 1"},
    {"workers = 1 2;\nlisteners = (" L_ECHO ");\n",
     "1: unexpected number 2, expected a setting name"},
    {"max_line = 0;\nlisteners = (" L_ECHO ");\n",
     "1: 'max_line' must be between 1 and 16777216, not 0"},
    {"idle_timeout = 9999999;\nlisteners = (" L_ECHO ");\n",
     "1: 'idle_timeout' must be between 0 and 2678400, not 9999999"},
    {"workres = 2;\nlisteners = (" L_ECHO ");\n",
     "1: unknown setting 'workres'; did you mean 'workers'?"},
    {"worker_buffer_limit = 4294967295;\nlisteners = (" L_ECHO ");\n",
     "1: 'worker_buffer_limit' must be between 0 and 4294967295, not -1; an integer above "
     "2147483647 needs an L suffix (4294967295L)"},
    {"name = \"x\";\nlisteners = (" L_ECHO ");\n",
     "1: unknown setting 'name'; 'name' belongs inside a listener { ... }"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\";\n max_conections = 5; });\n",
     "3: listener 'x': unknown setting 'max_conections' in listener; did you mean "
     "'max_connections'?"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 7;"
     "\n handler = \"ecoh\"; });\n",
     "3: listener 'x': unknown handler 'ecoh' (echo, echo-lines, hello, whoami, health, discard, "
     "chargen, "
     "daytime, time, qotd, stats, metrics, exec); did you mean 'echo'?"},
    {"listeners = (\n{ name = \"x\";\n protocol = \"tpc\"; address = \"127.0.0.1\"; port = 7;"
     " handler = \"echo\"; });\n",
     "3: listener 'x': unknown protocol 'tpc' (tcp, udp, tls, unix, unixgram); did you mean "
     "'tcp'?"},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\";\n address = \"[::1]\"; port = 7;"
     " handler = \"echo\"; });\n",
     "3: listener 'x': cannot resolve address '[::1]': Name or service not known; write an "
     "IPv6 address without brackets: address = \"::1\""},
    {"listeners = (\n{ name = \"x\"; protocol = \"tcp\";\n address = \"127.0.0.1:2572\"; port = 7;"
     " handler = \"echo\"; });\n",
     "3: listener 'x': cannot resolve address '127.0.0.1:2572': Name or service not known; "
     "'address' takes the host only: if you meant host 127.0.0.1 port 2572, write "
     "address = \"127.0.0.1\"; port = 2572;"},
    {"@include \"no-such-ksockd-part.conf\"\nlisteners = (" L_ECHO ");\n",
     "1: cannot open include file /tmp/no-such-ksockd-part.conf: No such file or directory"},
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

/* @include "part.conf" is read from the main file's directory, not the working directory. */
START_TEST(include_is_relative_to_the_main_file)
{
	char dir[] = "/tmp/ksockd-test-inc-XXXXXX", main_conf[64], part[64], err[512] = "";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(main_conf, sizeof main_conf, "%s/ksockd.conf", dir);
	snprintf(part, sizeof part, "%s/part.conf", dir);
	FILE *f = fopen(part, "w");
	ck_assert_ptr_nonnull(f);
	fputs("listeners = (" L_ECHO ");\n", f);
	fclose(f);
	f = fopen(main_conf, "w");
	ck_assert_ptr_nonnull(f);
	fputs("workers = 2;\n@include \"part.conf\"\n", f);
	fclose(f);
	ck_assert_int_eq(chdir("/"), 0);
	struct conf *c = conf_load(main_conf, err, sizeof err);
	ck_assert_msg(c != NULL, "unexpected error: %s", err);
	ck_assert_uint_eq(c->n_listeners, 1);
	ck_assert_str_eq(c->listeners[0].file, part);
	ck_assert_int_eq(c->listeners[0].line, 1);
	conf_free(c);
	unlink(part);
	unlink(main_conf);
	rmdir(dir);
}
END_TEST

struct distance_case {
	const char *a, *b; /* words */
	size_t d;          /* their distance */
};
static const struct distance_case distances[] = {
    {"workers", "workers", 0},
    {"workres", "workers", 1},
    {"tpc", "tcp", 1},
    {"ecoh", "echo", 1},
    {"", "abc", 3},
    {"max_conections", "max_connections", 1},
    {"kitten", "sitting", 3},
    {"UDP", "udp", 0},
};

START_TEST(edit_distance_counts_typos)
{
	const struct distance_case *c = &distances[_i];
	ck_assert_uint_eq(diag_edit_distance(c->a, c->b), c->d);
	ck_assert_uint_eq(diag_edit_distance(c->b, c->a), c->d);
}
END_TEST

START_TEST(suggestions_only_for_near_words)
{
	char buf[96];
	ck_assert_str_eq(diag_did_you_mean("ecoh", "echo, hello, whoami", buf, sizeof buf),
	                 "; did you mean 'echo'?");
	ck_assert_str_eq(diag_did_you_mean("helo", "echo, hello, whoami", buf, sizeof buf),
	                 "; did you mean 'hello'?");
	ck_assert_str_eq(diag_did_you_mean("xyz", "echo, hello, whoami", buf, sizeof buf), "");
	ck_assert_str_eq(diag_did_you_mean("ab", "tcp, udp, tls", buf, sizeof buf), "");
}
END_TEST

struct hint_case {
	const char *address; /* as written */
	const char *hint;    /* start of the hint, NULL: none */
};
static const struct hint_case hints[] = {
    {"[::1]", "write an IPv6 address without brackets: address = \"::1\""},
    {"[::1]:80", "write an IPv6 address without brackets: address = \"::1\" and the port"},
    {"::1:2572", "'address' takes the host only: if you meant host ::1 port 2572"},
    {"10.0.0.1:80", "'address' takes the host only: if you meant host 10.0.0.1 port 80"},
    {"example.org:443", "'address' takes the host only: if you meant host example.org port 443"},
    {"::1", NULL},
    /* Valid IPv6, but callers ask only once the address failed to resolve or bind. */
    {"fe80::1:2", "'address' takes the host only: if you meant host fe80::1 port 2"},
    {"2001:db8::", NULL},
    {"127.0.0.1", NULL},
    {"localhost", NULL},
};

START_TEST(address_hints_name_the_trap)
{
	char buf[256];
	const char *h = diag_address_hint(hints[_i].address, buf, sizeof buf);
	if (!hints[_i].hint)
		ck_assert_msg(h == NULL, "%s: unexpected hint %s", hints[_i].address, h);
	else {
		ck_assert_msg(h != NULL, "%s: no hint", hints[_i].address);
		ck_assert_msg(strncmp(h, hints[_i].hint, strlen(hints[_i].hint)) == 0, "%s: got %s",
		              hints[_i].address, h);
	}
}
END_TEST

START_TEST(bind_hints_name_the_fix)
{
	char buf[320];
	ck_assert_ptr_nonnull(
	    strstr(diag_bind_hint(EACCES, 80, "0.0.0.0", buf, sizeof buf), "CAP_NET_BIND_SERVICE"));
	ck_assert_ptr_null(diag_bind_hint(EACCES, 8080, "0.0.0.0", buf, sizeof buf));
	ck_assert_ptr_nonnull(
	    strstr(diag_bind_hint(EADDRINUSE, 7, "::", buf, sizeof buf), "sport = :7"));
	ck_assert_ptr_nonnull(strstr(diag_bind_hint(EADDRNOTAVAIL, 7, "192.0.2.1", buf, sizeof buf),
	                             "this host has no such address"));
	ck_assert_ptr_nonnull(strstr(diag_bind_hint(EADDRNOTAVAIL, 80, "::1:2572", buf, sizeof buf),
	                             "host ::1 port 2572"));
}
END_TEST

/* ksockd -T: the dump of a config loads to a config whose dump is the same. */
static char *dump_of(const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	conf_dump(c, f);
	ck_assert_int_eq(fclose(f), 0);
	/* Drop the comment lines: they name the source file, which differs. */
	char *out = calloc(1, len + 1), *o = out;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (line[strspn(line, " ")] != '#')
			o += sprintf(o, "%s\n", line);
	free(buf);
	return out;
}

START_TEST(dump_reads_back_to_the_same_config)
{
	char err[512] = "";
	struct conf *c = load_description(
	    "workers = 3;\nworker_buffer_limit = 4294967295L;\n"
	    "log_level = \"debug\";\nidle_timeout = 0.25;\nlisteners = (\n" L_ECHO
	    ",\n{ name = \"u\"; protocol = \"udp\"; address = \"::\"; port = 9;"
	    " handler = \"echo\"; ipv6_only = false; udp_rate = 0;"
	    " allow = [\"10.0.0.0/8\", \"::1\"]; deny = \"10.1.0.0/16\"; },\n"
	    "{ name = \"p\\\"q\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 10;"
	    " handler = \"whoami\"; proxy_protocol = \"optional\";"
	    " proxy_trusted = [\"192.0.2.0/24\"]; max_line = 77; }\n);\n",
	    err, sizeof err);
	ck_assert_msg(c != NULL, "unexpected error: %s", err);
	char *first = dump_of(c);
	struct conf *again = load_description(first, err, sizeof err);
	ck_assert_msg(again != NULL, "the dump does not load: %s\n%s", err, first);
	char *second = dump_of(again);
	ck_assert_str_eq(first, second);
	ck_assert_ptr_nonnull(strstr(first, "worker_buffer_limit = 4294967295L;\n"));
	ck_assert_ptr_nonnull(strstr(first, "    name = \"p\\\"q\";\n"));
	ck_assert_ptr_nonnull(strstr(first, "    allow = [ \"10.0.0.0/8\", \"::1/128\" ];\n"));
	ck_assert_uint_eq(again->listeners[2].limits.max_line, 77);
	ck_assert_double_eq(again->limits.idle_timeout, 0.25);
	free(first);
	free(second);
	conf_free(c);
	conf_free(again);
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
	tcase_add_test(tc, include_is_relative_to_the_main_file);
	tcase_add_loop_test(tc, edit_distance_counts_typos, 0,
	                    (int)(sizeof distances / sizeof distances[0]));
	tcase_add_test(tc, suggestions_only_for_near_words);
	tcase_add_loop_test(tc, address_hints_name_the_trap, 0,
	                    (int)(sizeof hints / sizeof hints[0]));
	tcase_add_test(tc, bind_hints_name_the_fix);
	tcase_add_test(tc, dump_reads_back_to_the_same_config);
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
