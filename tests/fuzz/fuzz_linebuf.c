/*
 * fuzz_linebuf.c: libFuzzer harness for the line framing conn.c runs
 * (linebuf_feed, linebuf_finish: conn.c frames with nothing else).
 *
 * Property: however arbitrary bytes are cut into reads, and wherever the
 * sink (the connection's output room) refuses to take more lines, feeding
 * them the way conn.c does (a read; when the sink refused, feeds of nothing
 * until no complete line is left, as conn_advance does once output drains;
 * at the end linebuf_finish) gives exactly the lines, terminators and "too
 * long" verdict of a plain reference framer written from the spec (split at
 * '\n', "\r\n" kept as the terminator, a line's text over max_line is too
 * long, the unterminated rest is the last line); no line exceeds max_line;
 * and the linebuf owns no memory once everything was framed.
 *
 * Input layout: byte 0 picks max_line, byte 1 the number k of chunk-size
 * bytes that follow (0..15), then the k sizes (cycled; their low bit also
 * says whether the sink has room after a line), then the payload.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

/* What framing produced: serialized lines, then an end marker. */
struct sink {
	unsigned char *buf;  /* records: len (4 bytes), text, eol_len (1), eol */
	size_t len, cap;     /* used and allocated bytes */
	size_t lines;        /* lines taken */
	size_t max_line;     /* the limit under test */
	const uint8_t *room; /* room after each line (low bit), cycled; NULL: always */
	size_t n_room;       /* entries in room */
};

static void sink_put(struct sink *s, const void *p, size_t n)
{
	if (s->len + n > s->cap)
		abort(); /* cap is sized from the input: cannot happen */
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void sink_record(struct sink *s, const char *text, size_t len, const char *eol,
                        size_t eol_len)
{
	uint32_t n = (uint32_t)len;
	unsigned char e = (unsigned char)eol_len;
	if (len > s->max_line)
		abort();
	sink_put(s, &n, sizeof n);
	sink_put(s, text, len);
	sink_put(s, &e, 1);
	sink_put(s, eol, eol_len);
}

static bool sink_line(void *ctx, const struct line *l)
{
	struct sink *s = ctx;
	if (memcmp(l->data + l->len, l->eol, l->eol_len) != 0)
		abort();
	sink_record(s, l->data, l->len, l->eol, l->eol_len);
	return !s->room || (s->room[s->lines++ % s->n_room] & 1);
}

static void sink_end(struct sink *s, int too_long)
{
	unsigned char end = too_long ? 'T' : 'E';
	sink_put(s, &end, 1);
}

/* The spec, written plainly: one pass over the whole input. */
static void reference(struct sink *s, const char *p, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		size_t n = i - start, eol = 1;
		if (n > 0 && p[i - 1] == '\r') {
			n--;
			eol = 2;
		}
		if (n > s->max_line) {
			sink_end(s, 1);
			return;
		}
		sink_record(s, p + start, n, p + start + n, eol);
		start = i + 1;
	}
	if (len - start > s->max_line) {
		sink_end(s, 1);
		return;
	}
	if (len > start)
		sink_record(s, p + start, len - start, "", 0);
	sink_end(s, 0);
}

/* Frames what lb holds while the sink takes lines (conn_advance after a flush). */
static int drain(struct sink *s, struct linebuf *lb, size_t bound)
{
	for (size_t i = 0; i < bound && linebuf_len(lb) > 0; i++) {
		size_t before = s->lines;
		enum linebuf_result r = linebuf_feed(lb, NULL, 0, s->max_line, sink_line, s);
		if (r == LINEBUF_TOO_LONG)
			return 1;
		if (r != LINEBUF_OK)
			abort();
		if (s->lines == before)
			break;
	}
	return 0;
}

/* Feeds payload in reads of the given sizes, as a connection receives it. */
static void run(struct sink *s, const char *p, size_t len, const uint8_t *sizes, size_t k)
{
	struct linebuf lb = {0};
	int too_long = 0;
	size_t off = 0;
	for (size_t i = 0; off < len && !too_long; i++) {
		size_t n = k ? 1 + sizes[i % k] : len;
		if (n > len - off)
			n = len - off;
		enum linebuf_result r = linebuf_feed(&lb, p + off, n, s->max_line, sink_line, s);
		if (r == LINEBUF_NO_MEMORY)
			abort();
		too_long = r == LINEBUF_TOO_LONG || drain(s, &lb, len + 2);
		off += n;
	}
	if (!too_long)
		too_long = linebuf_finish(&lb, s->max_line, sink_line, s) == LINEBUF_TOO_LONG;
	linebuf_free(&lb); /* after too long: what came after it is dropped */
	if (lb.b)
		abort();
	sink_end(s, too_long);
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
	struct sink ref = {.buf = malloc(cap), .cap = cap, .max_line = max_line};
	struct sink one = {.buf = malloc(cap), .cap = cap, .max_line = max_line};
	struct sink cut = {.buf = malloc(cap),
	                   .cap = cap,
	                   .max_line = max_line,
	                   .room = k ? sizes : NULL,
	                   .n_room = k};
	if (!ref.buf || !one.buf || !cut.buf)
		abort();
	reference(&ref, payload, len);
	run(&one, payload, len, NULL, 0);
	run(&cut, payload, len, sizes, k);
	if (one.len != ref.len || memcmp(one.buf, ref.buf, ref.len) != 0) {
		fprintf(stderr, "fuzz_linebuf: one read differs from the spec (max_line %zu)\n",
		        max_line);
		abort();
	}
	if (cut.len != ref.len || memcmp(cut.buf, ref.buf, ref.len) != 0) {
		fprintf(stderr, "fuzz_linebuf: chunked reads differ from the spec (max_line %zu)\n",
		        max_line);
		abort();
	}
	free(ref.buf);
	free(one.buf);
	free(cut.buf);
	return 0;
}
