/*
 * test_handlers.c: the built-in handlers, driven without any socket.
 */
#include "config.h"

#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"

static struct outbuf out;
static char state[256];

static void reset(void)
{
	outbuf_free(&out);
	memset(state, 0, sizeof state);
}

static void out_is(const char *want)
{
	ck_assert_uint_eq(outbuf_len(&out), strlen(want));
	ck_assert_int_eq(memcmp(outbuf_head(&out), want, strlen(want)), 0);
	outbuf_free(&out);
}

static void feed(const struct handler *h, const char *text, const char *eol)
{
	static char buf[256]; /* the terminator follows the text in memory, as on the wire */
	snprintf(buf, sizeof buf, "%s%s", text, eol);
	struct line line = {buf, strlen(text), buf + strlen(text), strlen(eol)};
	ck_assert_int_eq(h->line(state, &line, &out), HANDLER_OK);
}

START_TEST(echo_returns_line_with_its_terminator)
{
	const struct handler *h = handler_find("echo");
	reset();
	ck_assert_ptr_nonnull(h);
	feed(h, "hi", "\n");
	out_is("hi\n");
	feed(h, "crlf", "\r\n");
	out_is("crlf\r\n");
	feed(h, "", "\n");
	out_is("\n");
	feed(h, "no eol", "");
	out_is("no eol");
}
END_TEST

START_TEST(hello_greets_then_answers_each_name)
{
	const struct handler *h = handler_find("hello");
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct session_info si = {"t", (struct sockaddr *)&sa, (struct sockaddr *)&sa, false, NULL};
	reset();
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(h->open(state, &si, &out), HANDLER_OK);
	out_is("Please enter your name\n");
	feed(h, "Alice", "\n");
	out_is("Hello, Alice!\n");
	feed(h, "Bob", "\r\n");
	out_is("Hello, Bob!\r\n");
	feed(h, "Eve", "");
	out_is("Hello, Eve!\n");
}
END_TEST

START_TEST(unknown_handler_is_not_found)
{
	ck_assert_ptr_null(handler_find("nope"));
	ck_assert_ptr_null(handler_find(""));
}
END_TEST

static Suite *handlers_suite(void)
{
	Suite *s = suite_create("handlers");
	TCase *tc = tcase_create("builtin");
	tcase_add_test(tc, echo_returns_line_with_its_terminator);
	tcase_add_test(tc, hello_greets_then_answers_each_name);
	tcase_add_test(tc, unknown_handler_is_not_found);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(handlers_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
