/*
 * test_proxy.c: the PROXY protocol parser: valid v1/v2 headers (whole, in
 * pieces, followed by data), and truncated, garbled and oversized ones.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "proxy.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

struct vcase {
	const char *name;       /* what the case is */
	const char *bytes;      /* connection's first bytes */
	size_t len;             /* their length */
	enum proxy_mode mode;   /* listener mode */
	enum proxy_status want; /* expected result */
	size_t header_len;      /* expected header length (DONE) */
	const char *src;        /* expected client, formatted ("" for local) */
};

#define B(s) s, sizeof s - 1
#define X10 "xxxxxxxxxx"
/* A v2 PROXY TCP4 header: 203.0.113.7:5555 -> 192.0.2.1:7007, then extra bytes. */
#define V2_TCP4 SIG "\x21\x11\x00\x0c\xcb\x00\x71\x07\xc0\x00\x02\x01\x15\xb3\x1b\x5f"
#define V2_TCP6                                                                                    \
	SIG "\x21\x21\x00\x24"                                                                     \
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07"                     \
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"                     \
	    "\x15\xb3\x1b\x5f"

static const struct vcase cases[] = {
    {"v1 tcp4", B("PROXY TCP4 203.0.113.7 192.0.2.1 5555 7007\r\nhello\n"), PROXY_V1, PROXY_DONE,
     44, "203.0.113.7:5555"},
    {"v1 tcp6", B("PROXY TCP6 2001:db8::7 2001:db8::1 5555 7007\r\n"), PROXY_ANY, PROXY_DONE, 46,
     "[2001:db8::7]:5555"},
    {"v1 unknown", B("PROXY UNKNOWN whatever here\r\n"), PROXY_OPTIONAL, PROXY_DONE, 29, ""},
    {"v1 unknown bare", B("PROXY UNKNOWN\r\n"), PROXY_V1, PROXY_DONE, 15, ""},
    {"v1 truncated", B("PROXY TCP4 203.0.113.7 192.0.2.1 55"), PROXY_V1, PROXY_MORE, 0, ""},
    {"v1 prefix", B("PRO"), PROXY_ANY, PROXY_MORE, 0, ""},
    {"v1 CR at end", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\r"), PROXY_V1, PROXY_MORE, 0, ""},
    {"v1 bad proto", B("PROXY UDP4 1.2.3.4 1.2.3.5 1 2\r\n"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 bad addr", B("PROXY TCP4 1.2.3.400 1.2.3.5 1 2\r\n"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 v6 in tcp4", B("PROXY TCP4 ::1 ::1 1 2\r\n"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 bad port", B("PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 port zero-led", B("PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 too few fields", B("PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 too many fields", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 double space", B("PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 LF only", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 CR without LF", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\rX"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 binary", B("PROXY TCP4 1.2.3.4\x01"), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v1 oversized", B("PROXY UNKNOWN " X10 X10 X10 X10 X10 X10 X10 X10 X10 X10), PROXY_V1,
     PROXY_ERROR, 0, ""},
    {"v1 107 bytes exactly", B("PROXY UNKNOWN " X10 X10 X10 X10 X10 X10 X10 X10 X10 "x\r\n"),
     PROXY_V1, PROXY_DONE, 107, ""},
    {"v1 108 bytes", B("PROXY UNKNOWN " X10 X10 X10 X10 X10 X10 X10 X10 X10 "xx\r\n"), PROXY_V1,
     PROXY_ERROR, 0, ""},
    {"v1 where v2 required", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\r\n"), PROXY_V2, PROXY_ERROR, 0, ""},
    {"plain where required", B("hello\n"), PROXY_ANY, PROXY_ERROR, 0, ""},
    {"plain in optional", B("hello\n"), PROXY_OPTIONAL, PROXY_NONE, 0, ""},
    {"PROX-line in optional", B("PROXIMA\n"), PROXY_OPTIONAL, PROXY_NONE, 0, ""},
    {"empty line optional", B("\n"), PROXY_OPTIONAL, PROXY_NONE, 0, ""},
    {"CRLF then data optional", B("\r\nhi"), PROXY_OPTIONAL, PROXY_NONE, 0, ""},
    {"CRLF prefix optional", B("\r\n\r"), PROXY_OPTIONAL, PROXY_MORE, 0, ""},
    {"v2 tcp4", B(V2_TCP4 "data"), PROXY_V2, PROXY_DONE, 28, "203.0.113.7:5555"},
    {"v2 tcp6", B(V2_TCP6), PROXY_OPTIONAL, PROXY_DONE, 52, "[2001:db8::7]:5555"},
    {"v2 local", B(SIG "\x20\x00\x00\x00"), PROXY_ANY, PROXY_DONE, 16, ""},
    {"v2 local with junk block", B(SIG "\x20\x11\x00\x03xyz"), PROXY_ANY, PROXY_DONE, 19, ""},
    {"v2 unspec", B(SIG "\x21\x00\x00\x00"), PROXY_V2, PROXY_DONE, 16, ""},
    {"v2 unix short",
     B(SIG "\x21\x31\x00\x04"
           "abcd"),
     PROXY_V2, PROXY_ERROR, 0, ""},
    {"v2 sig prefix", B(SIG), PROXY_V2, PROXY_MORE, 0, ""},
    {"v2 truncated block", B(SIG "\x21\x11\x00\x0c\xcb\x00\x71"), PROXY_V2, PROXY_MORE, 0, ""},
    {"v2 short block", B(SIG "\x21\x11\x00\x08\xcb\x00\x71\x07\xc0\x00\x02\x01"), PROXY_V2,
     PROXY_ERROR, 0, ""},
    {"v2 bad version", B(SIG "\x11\x11\x00\x00"), PROXY_V2, PROXY_ERROR, 0, ""},
    {"v2 bad command", B(SIG "\x22\x11\x00\x00"), PROXY_V2, PROXY_ERROR, 0, ""},
    {"v2 bad family", B(SIG "\x21\x41\x00\x00"), PROXY_V2, PROXY_ERROR, 0, ""},
    {"v2 oversized", B(SIG "\x21\x11\xff\xff"), PROXY_V2, PROXY_ERROR, 0, ""},
    {"v2 where v1 required", B(V2_TCP4), PROXY_V1, PROXY_ERROR, 0, ""},
    {"v2 tlv truncated", B(SIG "\x21\x00\x00\x04\x01\x00\x05x"), PROXY_V2, PROXY_ERROR, 0, ""},
    {"v2 tlv short header", B(SIG "\x21\x00\x00\x02\x01\x00"), PROXY_V2, PROXY_ERROR, 0, ""},
    {"v2 ssl tlv too short", B(SIG "\x21\x00\x00\x05\x20\x00\x02\x01\x00"), PROXY_V2, PROXY_ERROR,
     0, ""},
    {"garbage", B("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), PROXY_ANY, PROXY_ERROR, 0, ""},
};

START_TEST(parse_table)
{
	const struct vcase *c = &cases[_i];
	struct proxy_info info;
	size_t hl = 0;
	const char *why = NULL;
	enum proxy_status st =
	    proxy_parse((const uint8_t *)c->bytes, c->len, c->mode, &info, &hl, &why);
	ck_assert_msg(st == c->want, "%s: got status %d, want %d (%s)", c->name, st, c->want, why);
	ck_assert_ptr_nonnull(why);
	if (st == PROXY_ERROR)
		ck_assert_msg(why[0] != '\0', "%s: no reason", c->name);
	if (st != PROXY_DONE)
		return;
	ck_assert_msg(hl == c->header_len, "%s: header_len %zu, want %zu", c->name, hl,
	              c->header_len);
	char a[ADDR_STRLEN];
	if (c->src[0] == '\0') {
		ck_assert_msg(info.local, "%s: should be local", c->name);
	} else {
		ck_assert(!info.local);
		ck_assert_str_eq(addr_format((struct sockaddr *)&info.src, a), c->src);
	}
}
END_TEST

/* Every strict prefix of a valid header needs more; the whole one is done. */
START_TEST(every_prefix_needs_more)
{
	static const struct {
		const char *b;
		size_t len;
	} hdrs[] = {
	    {B("PROXY TCP4 203.0.113.7 192.0.2.1 5555 7007\r\n")},
	    {B(V2_TCP4)},
	    {B(V2_TCP6)},
	};
	for (size_t h = 0; h < sizeof hdrs / sizeof hdrs[0]; h++)
		for (enum proxy_mode m = PROXY_V1; m <= PROXY_OPTIONAL; m++) {
			bool v1 = hdrs[h].b[0] == 'P';
			if ((v1 && m == PROXY_V2) || (!v1 && m == PROXY_V1))
				continue;
			struct proxy_info info;
			size_t hl;
			const char *why;
			for (size_t n = 1; n < hdrs[h].len; n++)
				ck_assert_int_eq(
				    proxy_parse((const uint8_t *)hdrs[h].b, n, m, &info, &hl, &why),
				    PROXY_MORE);
			ck_assert_int_eq(proxy_parse((const uint8_t *)hdrs[h].b, hdrs[h].len, m,
			                             &info, &hl, &why),
			                 PROXY_DONE);
			ck_assert_uint_eq(hl, hdrs[h].len);
		}
}
END_TEST

START_TEST(v2_tlvs_are_kept_as_text)
{
	static const char hdr[] = SIG "\x21\x11\x00\x3b"
	                              "\xcb\x00\x71\x07\xc0\x00\x02\x01\x15\xb3\x1b\x5f" /* 12 */
	                              "\x01\x00\x02h2"                                   /* 5 */
	                              "\x02\x00\x0b"
	                              "example.com"                      /* 14 */
	                              "\x04\x00\x01\x00"                 /* 4 NOOP */
	                              "\x20\x00\x15\x05\x00\x00\x00\x00" /* 8 */
	                              "\x21\x00\x07TLSv1.3"              /* 10 */
	                              "\x22\x00\x03"
	                              "a\nb"; /* 6 */
	struct proxy_info info;
	size_t hl;
	const char *why;
	ck_assert_int_eq(
	    proxy_parse((const uint8_t *)hdr, sizeof hdr - 1, PROXY_V2, &info, &hl, &why),
	    PROXY_DONE);
	ck_assert_uint_eq(hl, sizeof hdr - 1);
	ck_assert_uint_eq(info.n_tlvs, 4);
	ck_assert_str_eq(info.alpn, "h2");
	ck_assert_str_eq(info.authority, "example.com");
	ck_assert(info.ssl);
	ck_assert_uint_eq(info.ssl_client, 5);
	ck_assert_uint_eq(info.ssl_verify, 0);
	ck_assert_str_eq(info.ssl_version, "TLSv1.3");
	ck_assert_str_eq(info.ssl_cn, "a\\x0ab");
	ck_assert_str_eq(info.ssl_cipher, "");
}
END_TEST

START_TEST(long_tlv_is_truncated_not_overflowed)
{
	uint8_t hdr[16 + 3 + 1000];
	memcpy(hdr, SIG, 12);
	hdr[12] = 0x21;
	hdr[13] = 0x00;
	hdr[14] = (3 + 1000) >> 8;
	hdr[15] = (3 + 1000) & 0xff;
	hdr[16] = 0x02;
	hdr[17] = 1000 >> 8;
	hdr[18] = 1000 & 0xff;
	memset(hdr + 19, 0xff, 1000);
	struct proxy_info info;
	size_t hl;
	const char *why;
	ck_assert_int_eq(proxy_parse(hdr, sizeof hdr, PROXY_V2, &info, &hl, &why), PROXY_DONE);
	ck_assert_uint_lt(strlen(info.authority), PROXY_TLV_STRLEN);
	ck_assert_int_eq(strncmp(info.authority, "\\xff\\xff", 8), 0);
}
END_TEST

START_TEST(mode_names_round_trip)
{
	for (int m = PROXY_OFF; m <= PROXY_OPTIONAL; m++)
		ck_assert_int_eq(proxy_mode_from_name(proxy_mode_name((enum proxy_mode)m)), m);
	ck_assert_int_eq(proxy_mode_from_name("v3"), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, parse_table, 0, (int)(sizeof cases / sizeof cases[0]));
	tcase_add_test(tc, every_prefix_needs_more);
	tcase_add_test(tc, v2_tlvs_are_kept_as_text);
	tcase_add_test(tc, long_tlv_is_truncated_not_overflowed);
	tcase_add_test(tc, mode_names_round_trip);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
