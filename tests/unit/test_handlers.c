/*
 * test_handlers.c: the built-in handlers, driven without any socket.
 */
#include "config.h"

#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "handler.h"
#include "handlers/handlers.h"

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
	struct session_info si = {
	    .listener = "t", .peer = (struct sockaddr *)&sa, .local = (struct sockaddr *)&sa};
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

START_TEST(hello_sends_no_prompt_on_datagrams)
{
	const struct handler *h = handler_find("hello");
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct session_info si = {.listener = "t",
	                          .peer = (struct sockaddr *)&sa,
	                          .local = (struct sockaddr *)&sa,
	                          .datagram = true};
	reset();
	ck_assert_int_eq(h->open(state, &si, &out), HANDLER_OK);
	ck_assert_uint_eq(outbuf_len(&out), 0);
	feed(h, "A", "");
	out_is("Hello, A!\n"); /* 10 bytes for 1: 38 for 29 on the wire */
	/* A datagram is one request (udp.c): its inner newlines are part of the name. */
	feed(h, "Alice\nBob", "\r\n");
	out_is("Hello, Alice\nBob!\r\n");
}
END_TEST

START_TEST(unknown_handler_is_not_found)
{
	ck_assert_ptr_null(handler_find("nope"));
	ck_assert_ptr_null(handler_find(""));
}
END_TEST

static struct session_info stream_si = {.listener = "t"};
static struct session_info dgram_si = {.listener = "t", .datagram = true, .reply_room = 65507};

START_TEST(discard_sends_nothing_and_ignores_input)
{
	const struct handler *h = handler_find("discard");
	reset();
	ck_assert_ptr_nonnull(h);
	ck_assert(h->ignore_input);
	feed(h, "anything", "\n");
	ck_assert_uint_eq(outbuf_len(&out), 0);
}
END_TEST

START_TEST(chargen_lines_rotate_through_95_printable_characters)
{
	const struct handler *h = handler_find("chargen");
	reset();
	ck_assert_ptr_nonnull(h->more);
	ck_assert(h->ignore_input);
	/* Two batches: enough to wrap around the 95-character pattern. */
	ck_assert_int_eq(h->more(state, &out), HANDLER_OK);
	ck_assert_int_eq(h->more(state, &out), HANDLER_OK);
	size_t n = outbuf_len(&out) / CHARGEN_LINE_LEN;
	ck_assert_uint_gt(n, 95);
	ck_assert_uint_eq(outbuf_len(&out) % CHARGEN_LINE_LEN, 0);
	const char *p = outbuf_head(&out);
	ck_assert_int_eq(
	    memcmp(p,
	           " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n",
	           74),
	    0);
	ck_assert_int_eq(
	    memcmp(p + 74,
	           "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n",
	           74),
	    0);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < 72; k++)
			ck_assert_int_eq(p[i * 74 + k], 32 + (int)((i + k) % 95));
	/* Line 95 starts over. */
	ck_assert_int_eq(memcmp(p + 95 * 74, p, 74), 0);
	outbuf_free(&out);
}
END_TEST

START_TEST(chargen_datagram_reply_is_a_pattern_prefix_of_at_most_512)
{
	const struct handler *h = handler_find("chargen");
	size_t seen_max = 0, seen_min = 1000;
	for (int i = 0; i < 200; i++) {
		reset();
		ck_assert_int_eq(h->open ? h->open(state, &dgram_si, &out) : HANDLER_OK,
		                 HANDLER_OK);
		feed(h, "", "");
		size_t n = outbuf_len(&out);
		ck_assert_uint_le(n, 512);
		char line[CHARGEN_LINE_LEN];
		for (size_t off = 0, ln = 0; off < n; off += CHARGEN_LINE_LEN, ln++) {
			chargen_line((unsigned)ln, line);
			size_t k = n - off < CHARGEN_LINE_LEN ? n - off : CHARGEN_LINE_LEN;
			ck_assert_int_eq(memcmp(outbuf_head(&out) + off, line, k), 0);
		}
		seen_max = n > seen_max ? n : seen_max;
		seen_min = n < seen_min ? n : seen_min;
	}
	ck_assert_uint_gt(seen_max, seen_min); /* lengths vary */
	outbuf_free(&out);
}
END_TEST

/* Rooms a datagram reply may have (udp.c: max_datagram, reply ratio). */
static const size_t chargen_rooms[] = {0, 1, 73, 252, 511, 512, 513, 65507};

START_TEST(chargen_datagram_reply_fits_its_room)
{
	const struct handler *h = handler_find("chargen");
	struct session_info si = dgram_si;
	si.reply_room = chargen_rooms[_i];
	size_t max = si.reply_room < 512 ? si.reply_room : 512, seen_max = 0;
	ck_assert(h->empty_reply); /* 0 characters is a reply too (RFC 864) */
	for (int i = 0; i < 300; i++) {
		reset();
		ck_assert_int_eq(h->open(state, &si, &out), HANDLER_OK);
		feed(h, "", "");
		ck_assert_uint_le(outbuf_len(&out), max);
		seen_max = outbuf_len(&out) > seen_max ? outbuf_len(&out) : seen_max;
		outbuf_free(&out);
	}
	if (max > 1)
		ck_assert_uint_gt(seen_max, 0); /* 300 draws of 0..max: not all 0 */
}
END_TEST

START_TEST(daytime_uses_the_ctime_form_in_local_time)
{
	static const time_t when[] = {0, 383247463, 1796098858, 2147483647};
	static const char *zones[] = {"UTC0", "KST-9", "EST5EDT,M3.2.0,M11.1.0"};
	char buf[96], want[64];
	setenv("TZ", "UTC0", 1);
	tzset();
	ck_assert_uint_eq(daytime_format(383247463, buf, sizeof buf), 26);
	ck_assert_str_eq(buf, "Mon Feb 22 17:37:43 1982\r\n");
	ck_assert_uint_eq(daytime_format(0, buf, sizeof buf), 26);
	ck_assert_str_eq(buf, "Thu Jan  1 00:00:00 1970\r\n"); /* day space-padded */
	setenv("TZ", "KST-9", 1);
	tzset();
	daytime_format(383247463, buf, sizeof buf);
	ck_assert_str_eq(buf, "Tue Feb 23 02:37:43 1982\r\n");
	/* Byte for byte what inetd sends: ctime(3)'s first 24 characters and CRLF. */
	for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
		setenv("TZ", zones[z], 1);
		tzset();
		for (size_t i = 0; i < sizeof when / sizeof when[0]; i++) {
			snprintf(want, sizeof want, "%.24s\r\n", ctime(&when[i]));
			ck_assert_uint_eq(daytime_format(when[i], buf, sizeof buf), strlen(want));
			ck_assert_str_eq(buf, want);
		}
	}
	unsetenv("TZ");
	tzset();
}
END_TEST

START_TEST(daytime_and_time_answer_on_open_then_close_streams)
{
	const struct handler *d = handler_find("daytime"), *t = handler_find("time");
	reset();
	ck_assert_int_eq(d->open(state, &stream_si, &out), HANDLER_CLOSE);
	ck_assert_uint_eq(outbuf_len(&out), 26);
	outbuf_free(&out);
	ck_assert_int_eq(t->open(state, &stream_si, &out), HANDLER_CLOSE);
	ck_assert_uint_eq(outbuf_len(&out), 4);
	outbuf_free(&out);
	/* Datagrams: nothing on open, one reply per datagram. */
	ck_assert_int_eq(t->open(state, &dgram_si, &out), HANDLER_OK);
	ck_assert_uint_eq(outbuf_len(&out), 0);
	feed(t, "", "");
	ck_assert_uint_eq(outbuf_len(&out), 4);
	outbuf_free(&out);
	/* Daytime too: an empty datagram gets one line. */
	ck_assert_int_eq(d->open(state, &dgram_si, &out), HANDLER_OK);
	ck_assert_uint_eq(outbuf_len(&out), 0);
	feed(d, "", "");
	ck_assert_uint_eq(outbuf_len(&out), 26);
	outbuf_free(&out);
}
END_TEST

START_TEST(time_is_seconds_since_1900_big_endian)
{
	unsigned char b[4];
	timeproto_encode(0, b);
	ck_assert_int_eq(b[0], 0x83);
	ck_assert_int_eq(b[1], 0xaa);
	ck_assert_int_eq(b[2], 0x7e);
	ck_assert_int_eq(b[3], 0x80);
	timeproto_encode(1, b);
	ck_assert_int_eq(b[3], 0x81);
}
END_TEST

static const char *write_tmp(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/ksockd-qotd-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(qotd_loads_fortune_format_and_picks_by_day)
{
	char err[256] = "";
	const char *path = write_tmp("first quote\n  by someone\n%\n\nsecond\n\n%\n");
	struct qotd_quotes *q = qotd_load(path, err, sizeof err);
	unlink(path);
	ck_assert_msg(q != NULL, "%s", err);
	ck_assert_uint_eq(q->n, 2);
	ck_assert_str_eq(q->text[0], "first quote\r\n  by someone\r\n");
	ck_assert_str_eq(q->text[1], "second\r\n");
	ck_assert_str_eq(qotd_pick(q, 0), q->text[0]);
	ck_assert_str_eq(qotd_pick(q, 86400), q->text[1]);
	ck_assert_str_eq(qotd_pick(q, 2 * 86400 + 5), q->text[0]);
	/* The handler sends it on open and closes. */
	struct session_info si = {.listener = "q", .qotd = q};
	reset();
	ck_assert_int_eq(handler_qotd.open(state, &si, &out), HANDLER_CLOSE);
	out_is(qotd_pick(q, time(NULL)));
	qotd_free(q);
}
END_TEST

START_TEST(qotd_rejects_long_quotes_and_empty_files)
{
	char err[256] = "", big[700];
	memset(big, 'x', sizeof big - 2);
	big[sizeof big - 2] = '\n';
	big[sizeof big - 1] = 0;
	const char *path = write_tmp(big);
	ck_assert_ptr_null(qotd_load(path, err, sizeof err));
	ck_assert_msg(strstr(err, ":1: quote longer than 512 bytes") != NULL, "%s", err);
	unlink(path);
	path = write_tmp("%\n\n%\n");
	ck_assert_ptr_null(qotd_load(path, err, sizeof err));
	ck_assert_msg(strstr(err, "holds no quote") != NULL, "%s", err);
	unlink(path);
	ck_assert_ptr_null(qotd_load("/nonexistent/q", err, sizeof err));
	ck_assert_msg(strstr(err, "cannot open qotd_file") != NULL, "%s", err);
}
END_TEST

static Suite *handlers_suite(void)
{
	Suite *s = suite_create("handlers");
	TCase *tc = tcase_create("builtin");
	tcase_add_test(tc, echo_returns_line_with_its_terminator);
	tcase_add_test(tc, hello_greets_then_answers_each_name);
	tcase_add_test(tc, hello_sends_no_prompt_on_datagrams);
	tcase_add_test(tc, unknown_handler_is_not_found);
	suite_add_tcase(s, tc);
	tc = tcase_create("inetd");
	tcase_add_test(tc, discard_sends_nothing_and_ignores_input);
	tcase_add_test(tc, chargen_lines_rotate_through_95_printable_characters);
	tcase_add_test(tc, chargen_datagram_reply_is_a_pattern_prefix_of_at_most_512);
	tcase_add_loop_test(tc, chargen_datagram_reply_fits_its_room, 0,
	                    (int)(sizeof chargen_rooms / sizeof chargen_rooms[0]));
	tcase_add_test(tc, daytime_uses_the_ctime_form_in_local_time);
	tcase_add_test(tc, daytime_and_time_answer_on_open_then_close_streams);
	tcase_add_test(tc, time_is_seconds_since_1900_big_endian);
	tcase_add_test(tc, qotd_loads_fortune_format_and_picks_by_day);
	tcase_add_test(tc, qotd_rejects_long_quotes_and_empty_files);
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
