/*
 * test_conn.c: the connection core without a daemon. The test plays the
 * worker (its loop, its listeners, the shared counters) and the client: each
 * connection is one end of a socketpair handed to conn_create, driven by
 * running the loop; the plain TCP transport moves its bytes, and the TLS
 * transport too, with the test as GnuTLS client on the other end. Covers
 * framing, raw echo, back-pressure, max_line, the PROXY state, idle and slow
 * timeouts, and that each close is counted under its reason.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <ev.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "conn.h"
#include "generation.h"
#include "listener.h"
#include "log.h"
#include "stats.h"
#include "tls.h"
#include "worker.h"

#define MAX_LISTENERS 4
#define WAIT 5.0 /* seconds any single wait may take before the test fails */

static char dir[] = "/tmp/ksockd-test-conn-XXXXXX";
static struct ev_loop *loop;
static struct worker *w;
static struct conf *conf;
static struct generation gen; /* the listeners as served (prepared, never bound) */
static struct stats *st;
static struct listener ls[MAX_LISTENERS];

static void nop_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	(void)l;
	(void)t;
	(void)revents;
}

/* One loop iteration, waiting at most 10 ms for an event. */
static void pump(void)
{
	ev_timer t;
	ev_timer_init(&t, nop_cb, 0.01, 0);
	ev_timer_start(loop, &t);
	ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
}

static double now(void)
{
	ev_now_update(loop);
	return ev_now(loop);
}

/* Starts a worker serving the listeners of config text (for TLS, ".pem" paths in dir). */
static void start(const char *text)
{
	char path[256], err[512];
	snprintf(path, sizeof path, "%s/ksockd.conf", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	memset(&gen, 0, sizeof gen);
	struct conf *c = conf_load(path, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_msg(generation_prepare(&gen, c, err, sizeof err) == 0, "%s", err);
	conf = gen.conf;
	ck_assert_uint_le(conf->n_listeners, MAX_LISTENERS);
	st = stats_create();
	ck_assert_ptr_nonnull(st);
	generation_claim_rows(&gen, st);
	loop = ev_loop_new(EVFLAG_AUTO);
	w = calloc(1, sizeof *w);
	ck_assert_ptr_nonnull(w);
	w->loop = loop;
	w->conf = conf;
	w->stats = st;
	w->stats_slot = stats_slot_claim(st, 0);
	ck_assert_int_ge(w->stats_slot, 0);
	stats_slot_start(st, w->stats_slot, getpid(), 1, 0);
	for (size_t i = 0; i < gen.n_listeners; i++)
		listener_init(&ls[i], w, &gen.listeners[i], -1);
	w->listeners = ls;
	w->n_listeners = conf->n_listeners;
}

static void stop(void)
{
	while (conn_first(w))
		conn_free(conn_first(w), REASON_WORKER_EXIT);
	ev_loop_destroy(loop);
	generation_drop(&gen, NULL);
	stats_destroy(st);
	free(w);
}

/* A new connection on listener i; returns the client's end (non-blocking). */
static int dial(int i)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
	peer.sin_addr.s_addr = htonl(0xC0000201); /* 192.0.2.1 */
	struct guard_ticket ticket = {.slot = -1};
	ck_assert_int_eq(
	    conn_create(w, &ls[i], sv[1], (struct sockaddr *)&peer, sizeof peer, &ticket), 0);
	return sv[0];
}

static void put(int fd, const char *s)
{
	size_t len = strlen(s);
	ck_assert_int_eq(send(fd, s, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Runs the loop until want bytes came back on fd (or it closed, or WAIT passed). */
static size_t get(int fd, char *buf, size_t want)
{
	size_t have = 0;
	double deadline = now() + WAIT;
	while (have < want && now() < deadline) {
		pump();
		ssize_t n = recv(fd, buf + have, want - have, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			have += (size_t)n;
	}
	buf[have] = 0;
	return have;
}

static void expect(int fd, const char *want)
{
	char buf[65536];
	size_t n = get(fd, buf, strlen(want));
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_mem_eq(buf, want, n);
}

/* Runs the loop until the worker has no connection left; returns the seconds it took. */
static double until_closed(void)
{
	double t0 = now();
	while (w->n_conns > 0 && now() < t0 + WAIT)
		pump();
	ck_assert_uint_eq(w->n_conns, 0);
	return now() - t0;
}

static uint64_t count(int listener, enum stat_id id)
{
	return stats_sum(st, (unsigned)listener, id);
}

/* Every close or refusal counter of listener, but id, is 0; id is n. */
static void only(int listener, enum stat_id id, uint64_t n)
{
	for (int r = 0; r < REASON_COUNT; r++) {
		enum stat_id s = reason_desc((enum conn_reason)r)->stat;
		ck_assert_msg(count(listener, s) == (s == id ? n : 0), "counter %d is %llu", s,
		              (unsigned long long)count(listener, s));
	}
}

#define BASE "workers = 1;\nlog_level = \"err\";\n"

START_TEST(lines_are_framed_across_reads_with_their_terminators)
{
	start(BASE "listeners = ({ name = \"l\"; protocol = \"tcp\"; address = \"127.0.0.1\"; "
	           "port = 7; handler = \"echo-lines\"; });\n");
	int fd = dial(0);
	put(fd, "a\nb\r\nc");
	expect(fd, "a\nb\r\n");
	ck_assert_uint_eq(linebuf_len(&conn_first(w)->in), 1); /* the partial line waits */
	put(fd, "d\n");
	expect(fd, "cd\n");
	shutdown(fd, SHUT_WR);
	until_closed();
	only(0, STAT_CLOSED_CLIENT, 1);
	ck_assert_uint_eq(count(0, STAT_LINES_IN), 3);
	close(fd);
	stop();
}
END_TEST

START_TEST(echo_sends_every_byte_back_at_once)
{
	start(BASE "max_line = 4;\nlisteners = ({ name = \"l\"; protocol = \"tcp\"; "
	           "address = \"127.0.0.1\"; port = 7; handler = \"echo\"; });\n");
	int fd = dial(0);
	put(fd, "x\ry");
	expect(fd, "x\ry"); /* no newline, no wait */
	put(fd, "longer than max_line\n");
	expect(fd, "longer than max_line\n");
	ck_assert_uint_eq(linebuf_len(&conn_first(w)->in), 0);
	close(fd);
	until_closed();
	only(0, STAT_CLOSED_CLIENT, 1);
	stop();
}
END_TEST

START_TEST(a_client_that_does_not_read_stops_the_reads_then_gets_everything)
{
	start(BASE "listeners = ({ name = \"l\"; protocol = \"tcp\"; address = \"127.0.0.1\"; "
	           "port = 7; handler = \"echo\"; output_buffer = 4096; });\n");
	int fd = dial(0);
	static char chunk[1024], back[1 << 22];
	memset(chunk, 'y', sizeof chunk);
	size_t sent = 0;
	/* Write until the socketpair stays full: the connection must have stopped reading. */
	for (int i = 0, stuck = 0; i < 100000 && stuck < 5; i++) {
		ssize_t n = send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			stuck = 0;
			continue;
		}
		ck_assert(errno == EAGAIN);
		pump();
		stuck++;
	}
	struct conn *c = conn_first(w);
	ck_assert(!(ev_is_active(&c->io) && (c->io.events & EV_READ))); /* not reading */
	ck_assert_uint_ge(outbuf_len(&c->out), 4096);
	ck_assert_uint_lt(outbuf_len(&c->out), 4096 + WORKER_RBUF_SIZE);
	ck_assert_uint_lt(sent, sizeof back);
	ck_assert_uint_eq(get(fd, back, sent), sent);
	for (size_t i = 0; i < sent; i++)
		ck_assert_int_eq(back[i], 'y');
	close(fd);
	until_closed();
	stop();
}
END_TEST

START_TEST(a_line_over_max_line_gets_an_error_and_a_close)
{
	start(BASE "listeners = ({ name = \"l\"; protocol = \"tcp\"; address = \"127.0.0.1\"; "
	           "port = 7; handler = \"echo-lines\"; max_line = 8; });\n");
	int fd = dial(0);
	put(fd, "12345678\n123456789\nnever\n");
	expect(fd, "12345678\nERROR line too long (max_line is 8 bytes)\r\n");
	until_closed();
	only(0, STAT_CLOSED_LINE_TOO_LONG, 1);
	close(fd);
	stop();
}
END_TEST

START_TEST(idle_and_slow_clients_are_cut_in_time)
{
	start(BASE "listeners = ({ name = \"idle\"; protocol = \"tcp\"; address = \"127.0.0.1\"; "
	           "port = 7; handler = \"echo\"; idle_timeout = 0.2; },\n"
	           "{ name = \"slow\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 8; "
	           "handler = \"echo-lines\"; slow_client_timeout = 0.2; });\n");
	int a = dial(0);
	double t = until_closed();
	ck_assert(t >= 0.15 && t < 2);
	only(0, STAT_CLOSED_IDLE, 1);
	int b = dial(1);
	put(b, "half a li");
	t = until_closed();
	ck_assert(t >= 0.15 && t < 2);
	only(1, STAT_CLOSED_SLOW, 1);
	close(a);
	close(b);
	stop();
}
END_TEST

START_TEST(the_handler_closes_and_is_counted)
{
	start(BASE "listeners = ({ name = \"l\"; protocol = \"tcp\"; address = \"127.0.0.1\"; "
	           "port = 7; handler = \"daytime\"; });\n");
	int fd = dial(0);
	char buf[256];
	ck_assert_uint_gt(get(fd, buf, sizeof buf - 1), 0);
	until_closed();
	only(0, STAT_CLOSED_HANDLER, 1);
	close(fd);
	stop();
}
END_TEST

START_TEST(a_proxy_header_names_the_client_and_a_bad_one_is_refused)
{
	start(BASE "listeners = ({ name = \"l\"; protocol = \"tcp\"; address = \"127.0.0.1\"; "
	           "port = 7; handler = \"echo-lines\"; proxy_protocol = \"v1\"; "
	           "proxy_trusted = [\"0.0.0.0/0\"]; });\n");
	int fd = dial(0);
	put(fd, "PROXY TCP4 203.0.113.9 192.0.2.2 1000 7\r\nhi\n");
	expect(fd, "hi\n");
	ck_assert_int_eq(conn_first(w)->state, CONN_OPEN);
	char ps[ADDR_STRLEN];
	ck_assert_str_eq(addr_format(&conn_first(w)->peer.sa, ps), "203.0.113.9:1000");
	close(fd);
	until_closed();
	int bad = dial(0);
	ck_assert_int_eq(conn_first(w)->state, CONN_PROXY);
	put(bad, "GET / HTTP/1.0\r\n\r\n");
	until_closed();
	ck_assert_uint_eq(count(0, STAT_CLOSED_PROXY), 1);
	ck_assert_uint_eq(count(0, STAT_CLOSED_CLIENT), 1);
	close(bad);
	stop();
}
END_TEST

START_TEST(a_peer_that_resets_and_a_late_proxy_header_are_counted)
{
	start(BASE "listeners = ({ name = \"l\"; protocol = \"tcp\"; address = \"127.0.0.1\"; "
	           "port = 7; handler = \"echo\"; },\n"
	           "{ name = \"p\"; protocol = \"tcp\"; address = \"127.0.0.1\"; port = 8; "
	           "handler = \"echo\"; proxy_protocol = \"v2\"; proxy_trusted = [\"0.0.0.0/0\"]; "
	           "proxy_timeout = 0.2; });\n");
	int fd = dial(0);
	put(fd, "x\n");
	for (double t0 = now(); conn_first(w)->bytes_out == 0 && now() < t0 + WAIT;)
		pump();
	/* Closed with the echo unread: a unix socket's peer then reads ECONNRESET. */
	close(fd);
	until_closed();
	only(0, STAT_CLOSED_RESET, 1);
	int late = dial(1);
	put(late, "\r\n\r\n"); /* the start of a v2 signature, then nothing */
	double t = until_closed();
	ck_assert(t >= 0.15 && t < 2);
	only(1, STAT_CLOSED_PROXY_TIMEOUT, 1);
	close(late);
	stop();
}
END_TEST

/* TLS: the test is the GnuTLS client on the other end of the socketpair. */

#define TLS_CONF_FMT                                                                               \
	BASE "listeners = ({ name = \"t\"; protocol = \"tls\"; address = \"127.0.0.1\"; "          \
	     "port = 7; handler = \"%s\"; certificate = \"%s/cert.pem\"; "                         \
	     "key = \"%s/key.pem\"; handshake_timeout = %g; max_line = 8; });\n"

static void start_tls(const char *handler, double handshake_timeout)
{
	char text[1024];
	snprintf(text, sizeof text, TLS_CONF_FMT, handler, dir, dir, handshake_timeout);
	start(text);
}

struct tls_client {
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;
};

/* Runs the loop between client steps until the client's handshake is done. */
static void tls_client_start(struct tls_client *tc, int fd)
{
	ck_assert_int_eq(gnutls_certificate_allocate_credentials(&tc->cred), 0);
	ck_assert_int_eq(gnutls_init(&tc->s, GNUTLS_CLIENT | GNUTLS_NONBLOCK), 0);
	ck_assert_int_eq(gnutls_set_default_priority(tc->s), 0);
	ck_assert_int_eq(gnutls_credentials_set(tc->s, GNUTLS_CRD_CERTIFICATE, tc->cred), 0);
	gnutls_transport_set_int(tc->s, fd);
	double deadline = now() + WAIT;
	int r;
	while ((r = gnutls_handshake(tc->s)) == GNUTLS_E_AGAIN && now() < deadline)
		pump();
	ck_assert_msg(r == 0, "client handshake: %s", gnutls_strerror(r));
}

static void tls_put(struct tls_client *tc, const char *s)
{
	ck_assert_int_eq(gnutls_record_send(tc->s, s, strlen(s)), (ssize_t)strlen(s));
}

static void tls_expect(struct tls_client *tc, const char *want)
{
	char buf[4096];
	size_t have = 0, len = strlen(want);
	double deadline = now() + WAIT;
	while (have < len && now() < deadline) {
		pump();
		ssize_t n = gnutls_record_recv(tc->s, buf + have, len - have);
		if (n == 0)
			break;
		if (n > 0)
			have += (size_t)n;
		else
			ck_assert_msg(n == GNUTLS_E_AGAIN, "client recv: %s",
			              gnutls_strerror((int)n));
	}
	ck_assert_uint_eq(have, len);
	ck_assert_mem_eq(buf, want, len);
}

static void tls_client_end(struct tls_client *tc)
{
	gnutls_deinit(tc->s);
	gnutls_certificate_free_credentials(tc->cred);
}

START_TEST(tls_echo_through_the_tls_transport)
{
	start_tls("echo", WAIT);
	int fd = dial(0);
	ck_assert_int_eq(conn_first(w)->state, CONN_HANDSHAKE);
	struct tls_client tc;
	tls_client_start(&tc, fd);
	tls_put(&tc, "ping\r");
	tls_expect(&tc, "ping\r");
	ck_assert_int_eq(conn_first(w)->state, CONN_OPEN);
	ck_assert_uint_eq(count(0, STAT_TLS_HANDSHAKE_OK), 1);
	gnutls_bye(tc.s, GNUTLS_SHUT_WR); /* close_notify: the server sees the end of data */
	until_closed();
	only(0, STAT_CLOSED_CLIENT, 1);
	tls_client_end(&tc);
	close(fd);
	stop();
}
END_TEST

START_TEST(tls_lines_are_framed_and_max_line_enforced)
{
	start_tls("echo-lines", WAIT);
	int fd = dial(0);
	struct tls_client tc;
	tls_client_start(&tc, fd);
	tls_put(&tc, "ab");
	tls_put(&tc, "c\r\nd");
	tls_expect(&tc, "abc\r\n");
	tls_put(&tc, "123456789\n");
	tls_expect(&tc, "ERROR line too long (max_line is 8 bytes)\r\n");
	until_closed();
	only(0, STAT_CLOSED_LINE_TOO_LONG, 1);
	tls_client_end(&tc);
	close(fd);
	stop();
}
END_TEST

START_TEST(tls_handshake_timeout_and_failure_are_counted)
{
	start_tls("echo", 0.3);
	int silent = dial(0);
	double t = until_closed();
	ck_assert(t >= 0.25 && t < 2);
	only(0, STAT_CLOSED_TLS_TIMEOUT, 1);
	int garbage = dial(0);
	put(garbage, "GET / HTTP/1.0\r\n\r\n");
	until_closed();
	ck_assert_uint_eq(count(0, STAT_CLOSED_TLS_HANDSHAKE), 1);
	ck_assert_uint_eq(count(0, STAT_TLS_HANDSHAKE_FAILED), 2);
	ck_assert_uint_eq(count(0, STAT_TLS_HANDSHAKE_OK), 0);
	close(silent);
	close(garbage);
	stop();
}
END_TEST

/* The test directory (config files), with a self-signed ECDSA certificate for the TLS
 * cases made with certtool once. */
static void make_cert(void)
{
	char cmd[1024];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
	snprintf(
	    cmd, sizeof cmd,
	    "cd %s && printf 'cn = localhost\\ntls_www_server\\nsigning_key\\n"
	    "expiration_days = 2\\n' >t.tmpl && "
	    "certtool --generate-privkey --key-type=ecdsa --outfile key.pem >/dev/null 2>&1 && "
	    "certtool --generate-self-signed --load-privkey key.pem --template t.tmpl "
	    "--outfile cert.pem >/dev/null 2>&1",
	    dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "certtool failed (gnutls-bin is needed): %s\n", cmd);
		exit(EXIT_FAILURE);
	}
}

static void remove_cert(void)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	log_init("test_conn", LOG_TARGET_STDERR, LOG_ERR);
	Suite *s = suite_create("conn");
	TCase *tcp = tcase_create("tcp");
	tcase_add_test(tcp, lines_are_framed_across_reads_with_their_terminators);
	tcase_add_test(tcp, echo_sends_every_byte_back_at_once);
	tcase_add_test(tcp, a_client_that_does_not_read_stops_the_reads_then_gets_everything);
	tcase_add_test(tcp, a_line_over_max_line_gets_an_error_and_a_close);
	tcase_add_test(tcp, idle_and_slow_clients_are_cut_in_time);
	tcase_add_test(tcp, the_handler_closes_and_is_counted);
	tcase_add_test(tcp, a_proxy_header_names_the_client_and_a_bad_one_is_refused);
	tcase_add_test(tcp, a_peer_that_resets_and_a_late_proxy_header_are_counted);
	suite_add_tcase(s, tcp);
	TCase *tls = tcase_create("tls");
	tcase_add_test(tls, tls_echo_through_the_tls_transport);
	tcase_add_test(tls, tls_lines_are_framed_and_max_line_enforced);
	tcase_add_test(tls, tls_handshake_timeout_and_failure_are_counted);
	suite_add_tcase(s, tls);
	make_cert();
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_cert();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
