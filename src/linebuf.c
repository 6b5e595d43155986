/*
 * linebuf.c: line framing and the per-connection unframed-bytes buffer.
 * Pure memory operations; fuzzed by tests/fuzz/fuzz_linebuf.c, which calls
 * the same linebuf_feed/linebuf_finish as conn.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

enum line_status line_next(const char *data, size_t len, size_t max_line, struct line *line,
                           size_t *used)
{
	/* A line of max_line bytes may be followed by "\r\n": look that far, no further. */
	size_t scan = len < max_line + 2 ? len : max_line + 2;
	const char *nl = memchr(data, '\n', scan);
	if (!nl)
		return scan > max_line + (scan == len && len > 0 && data[len - 1] == '\r')
		           ? LINE_TOO_LONG
		           : LINE_PARTIAL;
	size_t n = (size_t)(nl - data);
	line->data = data;
	if (n > 0 && nl[-1] == '\r') {
		line->len = n - 1;
		line->eol = "\r\n";
		line->eol_len = 2;
	} else {
		line->len = n;
		line->eol = "\n";
		line->eol_len = 1;
	}
	if (line->len > max_line)
		return LINE_TOO_LONG;
	*used = n + 1;
	return LINE_FOUND;
}

void line_final(const char *data, size_t len, struct line *line)
{
	line->data = data;
	line->len = len;
	line->eol = data + len;
	line->eol_len = 0;
}

int linebuf_append(struct linebuf *lb, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	struct linebuf_block *b = lb->b;
	size_t used = linebuf_len(lb), cap = b ? b->cap : 0;
	if (cap - (b ? b->tail : 0) < len) {
		if (b && b->head > 0) {
			memmove(b->data, b->data + b->head, used);
			b->head = 0;
			b->tail = used;
		}
		if (cap - used < len) {
			if (!cap)
				cap = 256;
			while (cap - used < len)
				cap *= 2;
			b = realloc(b, sizeof *b + cap);
			if (!b)
				return -1;
			if (!lb->b)
				b->head = b->tail = 0;
			b->cap = cap;
			lb->b = b;
		}
	}
	memcpy(b->data + b->tail, data, len);
	b->tail += len;
	return 0;
}

void linebuf_consume(struct linebuf *lb, size_t n)
{
	if (!lb->b)
		return;
	lb->b->head += n;
	if (lb->b->head >= lb->b->tail)
		linebuf_free(lb);
}

void linebuf_free(struct linebuf *lb)
{
	free(lb->b);
	lb->b = NULL;
}

/* Frames complete lines of data[0..len) into sink; *stopped when sink refused one. */
static size_t line_frame(const char *data, size_t len, size_t max_line, line_sink sink, void *ctx,
                         bool *stopped, bool *too_long)
{
	size_t done = 0;
	while (done < len) {
		struct line line;
		size_t used;
		enum line_status st = line_next(data + done, len - done, max_line, &line, &used);
		if (st == LINE_PARTIAL)
			break;
		if (st == LINE_TOO_LONG) {
			*too_long = true;
			return len;
		}
		done += used;
		if (!sink(ctx, &line)) {
			*stopped = true;
			break;
		}
	}
	return done;
}

enum linebuf_result linebuf_feed(struct linebuf *lb, const char *data, size_t len, size_t max_line,
                                 line_sink sink, void *ctx)
{
	bool stopped = false, too_long = false, held = linebuf_len(lb) > 0;
	if (!held && len > 0) {
		/* Common case: frame straight from where the bytes were read. */
		size_t used = line_frame(data, len, max_line, sink, ctx, &stopped, &too_long);
		if (too_long)
			return LINEBUF_TOO_LONG;
		data += used;
		len -= used;
	}
	if (linebuf_append(lb, data, len) < 0)
		return LINEBUF_NO_MEMORY;
	/* Framed already, unless bytes were held back: then the new ones may end a line. */
	if (!held || stopped)
		return LINEBUF_OK;
	linebuf_consume(lb, line_frame(linebuf_head(lb), linebuf_len(lb), max_line, sink, ctx,
	                               &stopped, &too_long));
	return too_long ? LINEBUF_TOO_LONG : LINEBUF_OK;
}

enum linebuf_result linebuf_finish(struct linebuf *lb, size_t max_line, line_sink sink, void *ctx)
{
	enum linebuf_result r = LINEBUF_OK;
	size_t n = linebuf_len(lb);
	if (n > max_line) {
		r = LINEBUF_TOO_LONG;
	} else if (n > 0) {
		struct line line;
		line_final(linebuf_head(lb), n, &line);
		(void)sink(ctx, &line); /* the last line: nothing follows to hold back */
	}
	linebuf_free(lb);
	return r;
}
