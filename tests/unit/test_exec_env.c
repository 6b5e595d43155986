/*
 * test_exec_env.c: the environment of an exec program: only PATH, exec_env
 * and the UCSPI variables; TLS and PROXY variables; network-derived values
 * made byte-safe and bounded; the names exec_env may not set.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "exec_env.h"
#include "handler.h"
#include "proxy.h"

static struct sockaddr_in v4(const char *ip, unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static size_t count(char **env)
{
	size_t n = 0;
	while (env[n])
		n++;
	return n;
}

static const char *get(char **env, const char *name)
{
	size_t nl = strlen(name);
	for (; *env; env++)
		if (strncmp(*env, name, nl) == 0 && (*env)[nl] == '=')
			return *env + nl + 1;
	return NULL;
}

START_TEST(tcp_has_path_extras_and_ucspi_only)
{
	char *extra[] = {"FOO=bar", NULL};
	struct exec_conf ec = {.env = extra, .n_env = 1};
	struct sockaddr_in peer = v4("192.0.2.7", 4321), local = v4("198.51.100.1", 79);
	struct session_info si = {.peer = (struct sockaddr *)&peer,
	                          .local = (struct sockaddr *)&local};
	char **env = exec_env_build(&ec, &si);
	ck_assert_ptr_nonnull(env);
	ck_assert_uint_eq(count(env), 7);
	ck_assert_str_eq(get(env, "PATH"), EXEC_ENV_DEFAULT_PATH);
	ck_assert_str_eq(get(env, "FOO"), "bar");
	ck_assert_str_eq(get(env, "PROTO"), "TCP");
	ck_assert_str_eq(get(env, "TCPREMOTEIP"), "192.0.2.7");
	ck_assert_str_eq(get(env, "TCPREMOTEPORT"), "4321");
	ck_assert_str_eq(get(env, "TCPLOCALIP"), "198.51.100.1");
	ck_assert_str_eq(get(env, "TCPLOCALPORT"), "79");
	exec_env_free(env);
}
END_TEST

START_TEST(exec_env_path_replaces_the_default)
{
	char *extra[] = {"PATH=/opt/bin", NULL};
	struct exec_conf ec = {.env = extra, .n_env = 1};
	struct sockaddr_in peer = v4("192.0.2.7", 1), local = v4("192.0.2.8", 2);
	struct session_info si = {.peer = (struct sockaddr *)&peer,
	                          .local = (struct sockaddr *)&local};
	char **env = exec_env_build(&ec, &si);
	ck_assert_str_eq(get(env, "PATH"), "/opt/bin");
	ck_assert_uint_eq(count(env), 6);
	exec_env_free(env);
}
END_TEST

START_TEST(tls_values_from_the_network_are_byte_safe)
{
	struct exec_conf ec = {0};
	struct sockaddr_in peer = v4("192.0.2.7", 1), local = v4("192.0.2.8", 443);
	char long_dn[3000];
	memset(long_dn, 'A', sizeof long_dn - 1);
	long_dn[sizeof long_dn - 1] = '\0';
	struct tls_info ti = {.version = "TLS1.3",
	                      .cipher = "AES-256-GCM",
	                      .server_name = "evil\nX=1\r\t\x7f.example",
	                      .alpn = "h2",
	                      .client_subject = long_dn};
	struct session_info si = {
	    .peer = (struct sockaddr *)&peer, .local = (struct sockaddr *)&local, .tls = &ti};
	char **env = exec_env_build(&ec, &si);
	ck_assert_str_eq(get(env, "PROTO"), "SSL");
	ck_assert_str_eq(get(env, "SSLLOCALPORT"), "443");
	ck_assert_str_eq(get(env, "SSL_PROTOCOL"), "TLS1.3");
	ck_assert_str_eq(get(env, "SSL_SERVER_NAME"), "evil?X=1???.example");
	ck_assert_ptr_null(get(env, "X"));
	ck_assert_uint_eq(strlen(get(env, "SSL_CLIENT_DN")), EXEC_ENV_VALUE_MAX);
	for (char **e = env; *e; e++)
		ck_assert_ptr_null(strpbrk(*e, "\n\r"));
	exec_env_free(env);
}
END_TEST

START_TEST(proxy_names_the_header_client_and_the_balancer)
{
	struct exec_conf ec = {0};
	struct sockaddr_in client = v4("203.0.113.9", 5555), lb = v4("10.0.0.2", 40000);
	struct sockaddr_in local = v4("10.0.0.1", 8000);
	struct proxy_info pi = {.version = 2};
	struct sockaddr_in dst = v4("198.51.100.80", 443);
	memcpy(&pi.src, &client, sizeof client);
	memcpy(&pi.dst, &dst, sizeof dst);
	struct session_info si = {.peer = (struct sockaddr *)&client,
	                          .local = (struct sockaddr *)&local,
	                          .sock_peer = (struct sockaddr *)&lb,
	                          .proxy = &pi};
	char **env = exec_env_build(&ec, &si);
	ck_assert_str_eq(get(env, "TCPREMOTEIP"), "203.0.113.9");
	ck_assert_str_eq(get(env, "TCPLOCALIP"), "198.51.100.80");
	ck_assert_str_eq(get(env, "TCPLOCALPORT"), "443");
	ck_assert_str_eq(get(env, "PROXYREMOTEIP"), "10.0.0.2");
	ck_assert_str_eq(get(env, "PROXYREMOTEPORT"), "40000");
	ck_assert_str_eq(get(env, "PROXYLOCALPORT"), "8000");
	exec_env_free(env);
}
END_TEST

static const struct {
	const char *name; /* candidate exec_env name */
	int reserved;     /* ksockd sets it itself */
} names[] = {
    {"PROTO", 1},         {"TCPREMOTEIP", 1}, {"SSL_CLIENT_DN", 1}, {"PROXYREMOTEPORT", 1},
    {"SSL_CERT_FILE", 0}, {"TCP", 0},         {"PROTOCOL", 0},      {"HOME", 0},
};

START_TEST(reserved_names)
{
	ck_assert_int_eq(exec_env_reserved(names[_i].name, strlen(names[_i].name)),
	                 names[_i].reserved);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("exec_env");
	TCase *tc = tcase_create("exec_env");
	tcase_add_test(tc, tcp_has_path_extras_and_ucspi_only);
	tcase_add_test(tc, exec_env_path_replaces_the_default);
	tcase_add_test(tc, tls_values_from_the_network_are_byte_safe);
	tcase_add_test(tc, proxy_names_the_header_client_and_the_balancer);
	tcase_add_loop_test(tc, reserved_names, 0, sizeof names / sizeof names[0]);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
