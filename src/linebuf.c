/*
 * linebuf.c: line framing and the per-connection unframed-bytes buffer.
 * Pure memory operations; fuzzed by tests/fuzz/fuzz_linebuf.c.
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
	size_t used = linebuf_len(lb);
	if (len == 0)
		return 0;
	if (lb->cap - lb->tail < len) {
		if (lb->head > 0) {
			memmove(lb->data, lb->data + lb->head, used);
			lb->head = 0;
			lb->tail = used;
		}
		if (lb->cap - used < len) {
			size_t cap = lb->cap ? lb->cap : 256;
			while (cap - used < len)
				cap *= 2;
			char *p = realloc(lb->data, cap);
			if (!p)
				return -1;
			lb->data = p;
			lb->cap = cap;
		}
	}
	memcpy(lb->data + lb->tail, data, len);
	lb->tail += len;
	return 0;
}

void linebuf_consume(struct linebuf *lb, size_t n)
{
	lb->head += n;
	if (lb->head >= lb->tail)
		linebuf_free(lb);
}

void linebuf_free(struct linebuf *lb)
{
	free(lb->data);
	lb->data = NULL;
	lb->head = lb->tail = lb->cap = 0;
}
