/*
 * test_linebuf.c: the line framer: split reads, CRLF, long lines, empty lines, binary bytes.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

/* Frames all of data; returns lines joined as "text|eol;" for comparison. */
static char *frame_all(const char *data, size_t len, size_t max_line, int *status)
{
	static char out[4096];
	size_t o = 0, pos = 0;
	struct line line;
	size_t used;
	*status = LINE_PARTIAL;
	out[0] = 0;
	for (;;) {
		enum line_status st = line_next(data + pos, len - pos, max_line, &line, &used);
		if (st != LINE_FOUND) {
			*status = st;
			break;
		}
		o += (size_t)snprintf(out + o, sizeof out - o, "%.*s|%s;", (int)line.len, line.data,
		                      line.eol_len == 2 ? "CRLF" : "LF");
		pos += used;
	}
	return out;
}

START_TEST(lf_and_crlf_lines_keep_their_terminator)
{
	int st;
	const char *in = "one\ntwo\r\n\nthree";
	ck_assert_str_eq(frame_all(in, strlen(in), 100, &st), "one|LF;two|CRLF;|LF;");
	ck_assert_int_eq(st, LINE_PARTIAL);
}
END_TEST

START_TEST(bare_cr_inside_a_line_is_data)
{
	int st;
	const char *in = "a\rb\n";
	ck_assert_str_eq(frame_all(in, strlen(in), 100, &st), "a\rb|LF;");
}
END_TEST

START_TEST(line_of_exactly_max_line_is_accepted)
{
	int st;
	ck_assert_str_eq(frame_all("abcd\r\n", 6, 4, &st), "abcd|CRLF;");
	ck_assert_str_eq(frame_all("abcd\n", 5, 4, &st), "abcd|LF;");
	/* Waiting for the \n after a \r at max_line + 1 is not an error yet. */
	frame_all("abcd\r", 5, 4, &st);
	ck_assert_int_eq(st, LINE_PARTIAL);
}
END_TEST

START_TEST(line_over_max_line_is_too_long)
{
	int st;
	frame_all("abcde\n", 6, 4, &st);
	ck_assert_int_eq(st, LINE_TOO_LONG);
	/* Detected without waiting for a newline. */
	frame_all("abcdef", 6, 4, &st);
	ck_assert_int_eq(st, LINE_TOO_LONG);
	frame_all("abcde", 5, 4, &st);
	ck_assert_int_eq(st, LINE_TOO_LONG);
	frame_all("abcd", 4, 4, &st);
	ck_assert_int_eq(st, LINE_PARTIAL);
}
END_TEST

START_TEST(binary_bytes_pass_through)
{
	const char in[] = {'a', 0, (char)0xff, '\n', 0, '\n'};
	struct line line;
	size_t used;
	ck_assert_int_eq(line_next(in, sizeof in, 100, &line, &used), LINE_FOUND);
	ck_assert_uint_eq(line.len, 3);
	ck_assert_int_eq(memcmp(line.data, in, 3), 0);
	ck_assert_int_eq(line_next(in + used, sizeof in - used, 100, &line, &used), LINE_FOUND);
	ck_assert_uint_eq(line.len, 1);
	ck_assert_int_eq(line.data[0], 0);
}
END_TEST

/* Every split of the input into two reads through a linebuf gives the same lines. */
START_TEST(split_reads_give_the_same_lines)
{
	const char *in = "alpha\r\nbeta\n\ngamma\r\ndelta\n";
	size_t len = strlen(in);
	int st;
	char whole[4096];
	strcpy(whole, frame_all(in, len, 64, &st));
	for (size_t cut = 0; cut <= len; cut++) {
		struct linebuf lb = {0};
		char got[4096] = "";
		size_t g = 0;
		const char *parts[2] = {in, in + cut};
		size_t lens[2] = {cut, len - cut};
		for (int p = 0; p < 2; p++) {
			ck_assert_int_eq(linebuf_append(&lb, parts[p], lens[p]), 0);
			struct line line;
			size_t used;
			while (linebuf_len(&lb) && line_next(linebuf_head(&lb), linebuf_len(&lb),
			                                     64, &line, &used) == LINE_FOUND) {
				g += (size_t)snprintf(got + g, sizeof got - g, "%.*s|%s;",
				                      (int)line.len, line.data,
				                      line.eol_len == 2 ? "CRLF" : "LF");
				linebuf_consume(&lb, used);
			}
		}
		ck_assert_str_eq(got, whole);
		ck_assert_uint_eq(linebuf_len(&lb), 0);
		ck_assert_ptr_null(lb.b); /* an idle connection owns no buffer */
	}
}
END_TEST

START_TEST(final_line_has_no_terminator)
{
	struct line line;
	line_final("tail", 4, &line);
	ck_assert_uint_eq(line.len, 4);
	ck_assert_uint_eq(line.eol_len, 0);
}
END_TEST

static Suite *linebuf_suite(void)
{
	Suite *s = suite_create("linebuf");
	TCase *tc = tcase_create("framing");
	tcase_add_test(tc, lf_and_crlf_lines_keep_their_terminator);
	tcase_add_test(tc, bare_cr_inside_a_line_is_data);
	tcase_add_test(tc, line_of_exactly_max_line_is_accepted);
	tcase_add_test(tc, line_over_max_line_is_too_long);
	tcase_add_test(tc, binary_bytes_pass_through);
	tcase_add_test(tc, split_reads_give_the_same_lines);
	tcase_add_test(tc, final_line_has_no_terminator);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(linebuf_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
