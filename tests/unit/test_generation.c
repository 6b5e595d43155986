/*
 * test_generation.c: preparing a generation and choosing its sockets
 * (generation.c, gensock.c) with real sockets on loopback: a socket on an
 * unchanged address is kept across generations, a removed listener's is
 * closed at commit, a dropped generation closes only what it bound, a failed
 * bind undoes the sockets bound before it, reuseport gets one socket per
 * worker slot and a worker keeps only its own.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "generation.h"
#include "gensock.h"
#include "log.h"

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
static unsigned free_port(void)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof in;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	close(fd);
	return ntohs(in.sin_port);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

/* Loads and prepares a config of tcp echo listeners "name:port[:r]" (r: reuseport). */
static void prepare(struct generation *g, unsigned workers, const char *const *specs, size_t n)
{
	char text[2048], path[] = "/tmp/ksockd-test-gen-XXXXXX", err[512] = "";
	int off = snprintf(text, sizeof text, "workers = %u;\nlisteners = (\n", workers);
	for (size_t i = 0; i < n; i++) {
		char name[32];
		unsigned port;
		char r = 0;
		ck_assert_int_ge(sscanf(specs[i], "%31[^:]:%u:%c", name, &port, &r), 2);
		off += snprintf(text + off, sizeof text - (size_t)off,
		                "%s{ name = \"%s\"; protocol = \"tcp\"; address = \"127.0.0.1\"; "
		                "port = %u; handler = \"echo\"; reuseport = %s; }\n",
		                i ? "," : "", name, port, r == 'r' ? "true" : "false");
	}
	snprintf(text + off, sizeof text - (size_t)off, ");\n");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct conf *c = conf_load(path, err, sizeof err);
	unlink(path);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_msg(generation_prepare(g, c, err, sizeof err) == 0, "%s", err);
}

static void bind_ok(struct generation *g, const struct generation *old)
{
	char err[512] = "";
	ck_assert_msg(generation_bind(g, old, NULL, err, sizeof err) == 0, "%s", err);
}

START_TEST(unchanged_address_keeps_its_socket_and_removed_one_is_closed)
{
	char a[32], b[32], c[32];
	snprintf(a, sizeof a, "a:%u", free_port());
	snprintf(b, sizeof b, "b:%u", free_port());
	snprintf(c, sizeof c, "c:%u", free_port());
	const char *first[] = {a, b}, *second[] = {c, a};
	struct generation g1, g2;
	prepare(&g1, 1, first, 2);
	bind_ok(&g1, NULL);
	generation_commit(&g1, NULL);
	int fd_a = g1.listeners[0].fds[0], fd_b = g1.listeners[1].fds[0];
	ck_assert_int_eq(g1.listeners[0].origin, GENSOCK_BOUND);
	prepare(&g2, 1, second, 2);
	bind_ok(&g2, &g1);
	ck_assert_int_eq(g2.listeners[1].origin, GENSOCK_KEPT);
	ck_assert_int_eq(g2.listeners[1].fds[0], fd_a);
	ck_assert_int_eq(g2.listeners[0].origin, GENSOCK_BOUND);
	generation_commit(&g2, &g1);
	ck_assert(fd_open(fd_a));
	ck_assert(!fd_open(fd_b));
	ck_assert_ptr_null(g1.conf);
	generation_drop(&g2, NULL);
	ck_assert(!fd_open(fd_a));
}
END_TEST

START_TEST(dropped_generation_closes_only_what_it_bound)
{
	char a[32], d[32];
	snprintf(a, sizeof a, "a:%u", free_port());
	snprintf(d, sizeof d, "d:%u", free_port());
	const char *first[] = {a}, *second[] = {a, d};
	struct generation g1, g2;
	prepare(&g1, 1, first, 1);
	bind_ok(&g1, NULL);
	generation_commit(&g1, NULL);
	prepare(&g2, 1, second, 2);
	bind_ok(&g2, &g1);
	int fd_a = g1.listeners[0].fds[0], fd_d = g2.listeners[1].fds[0];
	generation_drop(&g2, &g1);
	ck_assert(fd_open(fd_a));
	ck_assert(!fd_open(fd_d));
	ck_assert_ptr_null(g2.conf);
	generation_drop(&g1, NULL);
}
END_TEST

START_TEST(failed_bind_undoes_the_sockets_bound_before_it)
{
	unsigned pa = free_port();
	char a[32], b[32], err[512] = "";
	snprintf(a, sizeof a, "a:%u", pa);
	/* b's port is taken by a listening socket of this test. */
	int taken = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof in;
	ck_assert_int_eq(bind(taken, (struct sockaddr *)&in, sizeof in), 0);
	ck_assert_int_eq(listen(taken, 1), 0);
	ck_assert_int_eq(getsockname(taken, (struct sockaddr *)&in, &len), 0);
	snprintf(b, sizeof b, "b:%u", ntohs(in.sin_port));
	const char *specs[] = {a, b};
	struct generation g;
	prepare(&g, 1, specs, 2);
	ck_assert_int_eq(generation_bind(&g, NULL, NULL, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "listener 'b': cannot bind"), "%s", err);
	ck_assert_ptr_null(g.listeners[0].fds);
	/* a's port is free again: nothing leaked. */
	struct sockaddr_in again = {.sin_family = AF_INET,
	                            .sin_port = htons((uint16_t)pa),
	                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int probe = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(probe, (struct sockaddr *)&again, sizeof again), 0);
	close(probe);
	close(taken);
	generation_drop(&g, NULL);
}
END_TEST

START_TEST(reuseport_has_one_socket_per_slot_and_a_worker_keeps_its_own)
{
	char r[32];
	snprintf(r, sizeof r, "r:%u:r", free_port());
	const char *specs[] = {r};
	struct generation g;
	prepare(&g, 3, specs, 1);
	bind_ok(&g, NULL);
	const struct gen_listener *gl = &g.listeners[0];
	ck_assert_uint_eq(gl->n_fds, 3);
	int fds[3] = {gl->fds[0], gl->fds[1], gl->fds[2]};
	ck_assert_int_ne(fds[0], fds[1]);
	ck_assert_int_ne(fds[1], fds[2]);
	/* What a worker of slot 1 does right after fork. */
	generation_keep_slot(&g, 1);
	ck_assert_int_eq(gen_listener_fd(gl, 1), fds[1]);
	ck_assert(!fd_open(fds[0]));
	ck_assert(fd_open(fds[1]));
	ck_assert(!fd_open(fds[2]));
	generation_drop(&g, NULL);
	ck_assert(!fd_open(fds[1]));
}
END_TEST

START_TEST(two_listeners_on_one_socket_are_refused_with_the_line)
{
	unsigned p = free_port();
	char a[32], b[32], err[512] = "";
	snprintf(a, sizeof a, "a:%u", p);
	snprintf(b, sizeof b, "b:%u", p);
	char text[512], path[] = "/tmp/ksockd-test-gen-XXXXXX";
	snprintf(text, sizeof text,
	         "listeners = (\n{ name = \"a\"; protocol = \"tcp\"; address = \"127.0.0.1\"; "
	         "port = %u; handler = \"echo\"; },\n{ name = \"b\"; protocol = \"tcp\"; "
	         "address = \"127.1\"; port = %u; handler = \"echo\"; });\n",
	         p, p);
	int fd = mkstemp(path);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct conf *c = conf_load(path, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	struct generation g;
	/* "127.1" is 127.0.0.1 written another way (resolved without DNS, as package
	 * builds have none): the same socket, refused at b's line. */
	ck_assert_int_eq(generation_prepare(&g, c, err, sizeof err), -1);
	char want[128];
	snprintf(want, sizeof want, "%s:3: listener 'b' uses the same tcp address", path);
	ck_assert_msg(strstr(err, want), "%s", err);
	unlink(path);
}
END_TEST

static Suite *generation_suite(void)
{
	Suite *s = suite_create("generation");
	TCase *tc = tcase_create("sockets");
	tcase_add_test(tc, unchanged_address_keeps_its_socket_and_removed_one_is_closed);
	tcase_add_test(tc, dropped_generation_closes_only_what_it_bound);
	tcase_add_test(tc, failed_bind_undoes_the_sockets_bound_before_it);
	tcase_add_test(tc, reuseport_has_one_socket_per_slot_and_a_worker_keeps_its_own);
	tcase_add_test(tc, two_listeners_on_one_socket_are_refused_with_the_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	log_init("test_generation", LOG_TARGET_STDERR, LOG_ERR);
	SRunner *sr = srunner_create(generation_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
