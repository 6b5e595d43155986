/*
 * test_whoami.c: the load-balancer handlers, driven without any socket:
 * whoami (what the server sees of the client) and health (ready/draining).
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "proxy.h"

static struct outbuf out;

static char *take(void)
{
	char *s = strndup(outbuf_head(&out), outbuf_len(&out));
	outbuf_free(&out);
	ck_assert_ptr_nonnull(s);
	return s;
}

static struct sockaddr_in v4(const char *a, unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	ck_assert_int_eq(inet_pton(AF_INET, a, &sa.sin_addr), 1);
	return sa;
}

static const struct line any_line = {"x", 1, "\n", 1};

START_TEST(whoami_without_proxy_reports_socket_addresses)
{
	const struct handler *h = handler_find("whoami");
	void *state = calloc(1, h->state_size);
	struct sockaddr_in peer = v4("192.0.2.5", 40000), local = v4("192.0.2.1", 7007);
	struct session_info si = {.listener = "w",
	                          .peer = (struct sockaddr *)&peer,
	                          .local = (struct sockaddr *)&local,
	                          .sock_peer = (struct sockaddr *)&peer};
	ck_assert_int_eq(h->open(state, &si, &out), HANDLER_OK);
	char *first = take();
	ck_assert_str_eq(first, "listener=w\npeer=192.0.2.5:40000\nlocal=192.0.2.1:7007\n"
	                        "client=192.0.2.5:40000\nproxy=none\n\n");
	ck_assert_int_eq(h->line(state, &any_line, &out), HANDLER_OK);
	char *again = take();
	ck_assert_str_eq(again, first);
	free(first);
	free(again);
	h->close(state);
	free(state);
}
END_TEST

START_TEST(whoami_reports_proxy_header_tlvs_and_tls_only_when_set)
{
	const struct handler *h = handler_find("whoami");
	void *state = calloc(1, h->state_size);
	struct sockaddr_in sock = v4("10.0.0.2", 50000), local = v4("10.0.0.3", 7007);
	struct sockaddr_in client = v4("203.0.113.7", 5555);
	struct proxy_info pi = {.version = 2, .n_tlvs = 2};
	memcpy(&pi.src, &client, sizeof client);
	struct sockaddr_in dst = v4("198.51.100.1", 443);
	memcpy(&pi.dst, &dst, sizeof dst);
	strcpy(pi.alpn, "h2");
	strcpy(pi.authority, "example.com");
	struct tls_info ti = {.version = "TLS1.3",
	                      .cipher = "",
	                      .kx = "",
	                      .server_name = "example.com",
	                      .alpn = "",
	                      .client_subject = ""};
	struct session_info si = {.listener = "w",
	                          .peer = (struct sockaddr *)&client,
	                          .local = (struct sockaddr *)&local,
	                          .sock_peer = (struct sockaddr *)&sock,
	                          .proxy = &pi,
	                          .tls = &ti};
	ck_assert_int_eq(h->open(state, &si, &out), HANDLER_OK);
	char *r = take();
	ck_assert_str_eq(r, "listener=w\npeer=10.0.0.2:50000\nlocal=10.0.0.3:7007\n"
	                    "client=203.0.113.7:5555\nproxy=v2\nproxy_src=203.0.113.7:5555\n"
	                    "proxy_dst=198.51.100.1:443\nproxy_tlvs=2\nproxy_alpn=h2\n"
	                    "proxy_authority=example.com\ntls_version=TLS1.3\n"
	                    "tls_sni=example.com\n\n");
	free(r);
	h->close(state);
	free(state);
}
END_TEST

START_TEST(health_answers_ready_then_draining)
{
	const struct handler *h = handler_find("health");
	void *state = calloc(1, h->state_size);
	volatile int draining = 0;
	struct sockaddr_in sa = v4("127.0.0.1", 1);
	struct session_info si = {.listener = "h",
	                          .peer = (struct sockaddr *)&sa,
	                          .local = (struct sockaddr *)&sa,
	                          .draining = &draining};
	ck_assert_int_eq(h->open(state, &si, &out), HANDLER_OK);
	ck_assert_uint_eq(outbuf_len(&out), 0);
	ck_assert_int_eq(h->line(state, &any_line, &out), HANDLER_OK);
	char *r = take();
	ck_assert_str_eq(r, "ready\n");
	free(r);
	draining = 1;
	ck_assert_int_eq(h->line(state, &any_line, &out), HANDLER_OK);
	r = take();
	ck_assert_str_eq(r, "draining\n");
	free(r);
	free(state);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("whoami");
	TCase *tc = tcase_create("handlers");
	tcase_add_test(tc, whoami_without_proxy_reports_socket_addresses);
	tcase_add_test(tc, whoami_reports_proxy_header_tlvs_and_tls_only_when_set);
	tcase_add_test(tc, health_answers_ready_then_draining);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
