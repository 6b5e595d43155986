/*
 * test_activation.c: matching passed sockets to listeners: a fitting socket
 * is used (as a dup), every kind of misfit is refused with a message naming
 * it, an unnamed listener is bound (by gensock.c), unmatched names are
 * counted. (The
 * environment path, LISTEN_FDS at fd 3..., is tested by test_activation.py:
 * fd 3 belongs to Check here.)
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activation.h"
#include "conf.h"
#include "generation.h"
#include "gensock.h"
#include "handler.h"

/* A socket of the given type bound to family's loopback (or wildcard) on an ephemeral port. */
static int make_socket(int family, int type, bool any, bool do_listen, int v6only)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd = socket(family, type, 0);
	ck_assert_int_ge(fd, 0);
	if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = any ? in6addr_any : in6addr_loopback;
		ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only),
		                 0);
		len = sizeof *in6;
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
		len = sizeof *in;
	}
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	if (do_listen)
		ck_assert_int_eq(listen(fd, 8), 0);
	return fd;
}

/* A listener config, and its prepared address, describing exactly where fd is bound. */
static void conf_for(struct listener_conf *lc, struct gen_listener *gl, const char *name, int fd,
                     enum proto proto)
{
	memset(lc, 0, sizeof *lc);
	memset(gl, 0, sizeof *gl);
	lc->name = (char *)name;
	lc->protocol = proto;
	gl->conf = lc;
	gl->addrlen = sizeof gl->addr;
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&gl->addr, &gl->addrlen), 0);
	gl->stats_id = -1;
	lc->backlog = 8;
	lc->ipv6_only = true;
	lc->handler = handler_find("echo");
}

START_TEST(fitting_socket_is_used_as_a_dup)
{
	int fd = make_socket(AF_INET, SOCK_STREAM, false, true, 0);
	const char *names[] = {"echo"};
	struct activation a;
	struct listener_conf lc;
	struct gen_listener gl;
	char err[512] = "";
	int got = -1;
	activation_adopt(&a, 1, &fd, names);
	conf_for(&lc, &gl, "echo", fd, PROTO_TCP);
	ck_assert_msg(activation_take(&a, &gl, &got, err, sizeof err) == 1, "refused: %s", err);
	ck_assert_int_ge(got, 0);
	ck_assert_int_ne(got, fd);
	close(got);
	activation_free(&a);
}
END_TEST

/* Misfits: a socket bound one way, a listener configured another. */
static const struct misfit {
	int family, type;    /* the passed socket */
	bool any, listening; /* wildcard address, listen() called */
	int v6only;          /* IPV6_V6ONLY of a v6 socket */
	enum proto proto;    /* the listener */
	int port_delta;      /* added to the listener's port */
	const char *message; /* expected in the error */
} misfits[] = {
    {AF_INET, SOCK_DGRAM, false, false, 0, PROTO_TCP, 0,
     "is a datagram socket, but the listener is tcp"},
    {AF_INET, SOCK_STREAM, false, true, 0, PROTO_UDP, 0,
     "is a stream socket, but the listener is udp"},
    {AF_INET, SOCK_STREAM, false, true, 0, PROTO_TCP, 1, "is bound to 127.0.0.1:"},
    {AF_INET, SOCK_STREAM, false, false, 0, PROTO_TCP, 0, "is not listening"},
    {AF_INET6, SOCK_STREAM, true, true, 0, PROTO_TCP, 0,
     "has IPV6_V6ONLY=0, but the config says ipv6_only = true"},
};

START_TEST(misfit_is_refused_with_a_clear_error)
{
	const struct misfit *mf = &misfits[_i];
	int fd = make_socket(mf->family, mf->type, mf->any, mf->listening, mf->v6only);
	const char *names[] = {"x"};
	struct activation a;
	struct listener_conf lc;
	struct gen_listener gl;
	char err[512] = "";
	int got = -1;
	activation_adopt(&a, 1, &fd, names);
	conf_for(&lc, &gl, "x", fd, mf->proto);
	struct sockaddr_in *in = (struct sockaddr_in *)&gl.addr;
	in->sin_port = htons((uint16_t)(ntohs(in->sin_port) + mf->port_delta));
	ck_assert_int_eq(activation_take(&a, &gl, &got, err, sizeof err), -1);
	ck_assert_int_eq(got, -1);
	ck_assert_msg(strstr(err, mf->message), "error '%s' lacks '%s'", err, mf->message);
	ck_assert_msg(strstr(err, "passed fd"), "error '%s' does not name the fd", err);
	activation_free(&a);
}
END_TEST

START_TEST(listener_without_passed_socket_is_bound)
{
	int fd = make_socket(AF_INET, SOCK_STREAM, false, true, 0);
	const char *names[] = {"other"};
	struct activation a;
	struct listener_conf lc;
	struct conf conf = {.workers = 1, .listeners = &lc, .n_listeners = 1};
	struct gen_listener gl;
	struct generation g = {.conf = &conf, .listeners = &gl, .n_listeners = 1};
	char err[512] = "";
	int got = -1;
	activation_adopt(&a, 1, &fd, names);
	conf_for(&lc, &gl, "mine", fd, PROTO_TCP);
	((struct sockaddr_in *)&gl.addr)->sin_port = 0; /* any free port */
	ck_assert_int_eq(activation_take(&a, &gl, &got, err, sizeof err), 0);
	ck_assert_int_eq(got, -1);
	ck_assert_msg(generation_bind(&g, NULL, &a, err, sizeof err) == 0, "bind failed: %s", err);
	ck_assert_int_eq(gl.origin, GENSOCK_BOUND);
	ck_assert_int_ne(gl.fds[0], fd);
	gensock_retire(&g, NULL);
	activation_free(&a);
}
END_TEST

/* A generation prefers the passed socket to binding, and keeps it across the next one. */
START_TEST(generation_serves_the_passed_socket_and_keeps_it)
{
	int fd = make_socket(AF_INET, SOCK_STREAM, false, true, 0);
	const char *names[] = {"echo"};
	struct activation a;
	struct listener_conf lc;
	struct conf conf = {.workers = 1, .listeners = &lc, .n_listeners = 1};
	struct gen_listener gl1, gl2;
	struct generation g1 = {.conf = &conf, .listeners = &gl1, .n_listeners = 1};
	struct generation g2 = {.conf = &conf, .listeners = &gl2, .n_listeners = 1};
	char err[512] = "";
	activation_adopt(&a, 1, &fd, names);
	conf_for(&lc, &gl1, "echo", fd, PROTO_TCP);
	ck_assert_msg(generation_bind(&g1, NULL, &a, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(gl1.origin, GENSOCK_PASSED);
	ck_assert_int_ne(gl1.fds[0], fd); /* a dup: the passed fd stays the activation's */
	gl2 = gl1;
	gl2.fds = NULL;
	ck_assert_msg(generation_bind(&g2, &g1, &a, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(gl2.origin, GENSOCK_KEPT);
	ck_assert_int_eq(gl2.fds[0], gl1.fds[0]);
	gensock_retire(&g1, &g2);
	gensock_retire(&g2, NULL);
	activation_free(&a);
}
END_TEST

START_TEST(unmatched_and_repeated_names_are_counted)
{
	int fds[3] = {make_socket(AF_INET, SOCK_STREAM, false, true, 0),
	              make_socket(AF_INET, SOCK_STREAM, false, true, 0),
	              make_socket(AF_INET, SOCK_STREAM, false, true, 0)};
	const char *names[] = {"echo", "stray", "echo"};
	struct listener_conf lc;
	struct gen_listener gl;
	struct conf conf = {.listeners = &lc, .n_listeners = 1};
	struct activation a;
	activation_adopt(&a, 3, fds, names);
	conf_for(&lc, &gl, "echo", fds[0], PROTO_TCP);
	ck_assert_uint_eq(activation_report_unmatched(&a, &conf), 2);
	activation_free(&a);
}
END_TEST

static Suite *activation_suite(void)
{
	Suite *s = suite_create("activation");
	TCase *tc = tcase_create("match");
	tcase_add_test(tc, fitting_socket_is_used_as_a_dup);
	tcase_add_loop_test(tc, misfit_is_refused_with_a_clear_error, 0,
	                    (int)(sizeof misfits / sizeof misfits[0]));
	tcase_add_test(tc, listener_without_passed_socket_is_bound);
	tcase_add_test(tc, generation_serves_the_passed_socket_and_keeps_it);
	tcase_add_test(tc, unmatched_and_repeated_names_are_counted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(activation_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
