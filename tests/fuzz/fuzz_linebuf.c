/*
 * fuzz_linebuf.c: libFuzzer harness for the line framer (linebuf.c).
 *
 * Property: however arbitrary bytes are cut into reads, framing them the way
 * conn.c does (straight from the read buffer while the connection's linebuf
 * is empty, otherwise through it) gives exactly the lines, terminators and
 * "too long" verdict of framing them in one big read; no line exceeds
 * max_line; and the linebuf owns no memory once everything was framed.
 *
 * Input layout: byte 0 picks max_line, byte 1 the number k of chunk-size
 * bytes that follow (0..15), then the k sizes (cycled), then the payload.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

/* What framing produced: serialized lines, then an end marker. */
struct sink {
	unsigned char *buf; /* records: len (4 bytes), text, eol_len (1), eol */
	size_t len, cap;    /* used and allocated bytes */
	int too_long;       /* LINE_TOO_LONG was seen (framing stops there) */
	size_t max_line;    /* the limit under test */
};

static void sink_put(struct sink *s, const void *p, size_t n)
{
	if (s->len + n > s->cap)
		abort(); /* cap is sized from the input: cannot happen */
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void sink_line(struct sink *s, const struct line *l)
{
	uint32_t n = (uint32_t)l->len;
	unsigned char e = (unsigned char)l->eol_len;
	if (l->len > s->max_line)
		abort();
	if (memcmp(l->data + l->len, l->eol, l->eol_len) != 0)
		abort();
	sink_put(s, &n, sizeof n);
	sink_put(s, l->data, l->len);
	sink_put(s, &e, 1);
	sink_put(s, l->eol, l->eol_len);
}

/* Frames complete lines from data; returns the bytes consumed (like conn_frame). */
static size_t frame(struct sink *s, const char *data, size_t len)
{
	size_t done = 0;
	while (!s->too_long && done < len) {
		struct line l;
		size_t used = 0;
		enum line_status st = line_next(data + done, len - done, s->max_line, &l, &used);
		if (st == LINE_PARTIAL)
			break;
		if (st == LINE_TOO_LONG) {
			s->too_long = 1;
			return len;
		}
		if (used == 0 || used > len - done)
			abort();
		sink_line(s, &l);
		done += used;
	}
	return done;
}

/*
 * End of input: the rest is one final unterminated line, or too long when it
 * is a max_line line whose '\r' never got its '\n' (conn_advance at EOF).
 */
static void finish(struct sink *s, struct linebuf *lb)
{
	if (!s->too_long && linebuf_len(lb) > s->max_line) {
		s->too_long = 1;
	} else if (!s->too_long && linebuf_len(lb) > 0) {
		struct line l;
		line_final(linebuf_head(lb), linebuf_len(lb), &l);
		sink_line(s, &l);
	}
	linebuf_free(lb);
	unsigned char end = s->too_long ? 'T' : 'E';
	sink_put(s, &end, 1);
}

/* One read of n bytes arriving at a connection whose unframed input is lb. */
static void feed(struct sink *s, struct linebuf *lb, const char *p, size_t n)
{
	if (s->too_long)
		return;
	if (linebuf_len(lb) == 0) {
		size_t used = frame(s, p, n);
		p += used;
		n -= used;
	}
	if (n == 0 || s->too_long)
		return;
	if (linebuf_append(lb, p, n) < 0)
		abort();
	linebuf_consume(lb, frame(s, linebuf_head(lb), linebuf_len(lb)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max_line = 1 + (data[0] & 0x7f) * (data[0] & 0x80 ? 37 : 1);
	size_t k = data[1] & 0x0f;
	if (size < 2 + k)
		return 0;
	const uint8_t *sizes = data + 2;
	const char *payload = (const char *)data + 2 + k;
	size_t len = size - 2 - k;
	size_t cap = 6 * len + 16;
	struct sink one = {malloc(cap), 0, cap, 0, max_line};
	struct sink cut = {malloc(cap), 0, cap, 0, max_line};
	struct linebuf lb1 = {0}, lb2 = {0};
	if (!one.buf || !cut.buf)
		abort();

	feed(&one, &lb1, payload, len);
	finish(&one, &lb1);

	size_t off = 0;
	for (size_t i = 0; off < len; i++) {
		size_t n = k ? 1 + sizes[i % k] : 1;
		if (n > len - off)
			n = len - off;
		feed(&cut, &lb2, payload + off, n);
		off += n;
	}
	finish(&cut, &lb2);

	if (one.len != cut.len || memcmp(one.buf, cut.buf, one.len) != 0) {
		fprintf(stderr, "fuzz_linebuf: chunked framing differs from one read (max_line %zu)\n",
			max_line);
		abort();
	}
	if (lb1.data || lb2.data)
		abort();
	free(one.buf);
	free(cut.buf);
	return 0;
}
