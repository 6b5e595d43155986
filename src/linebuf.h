/*
 * linebuf.h: the line framer (pure, no I/O).
 *
 * line_next() finds the next complete line in a byte range: the line's text
 * without its terminator, and the terminator ("\n" or "\r\n") so that echo can
 * restore it byte for byte. Lines longer than max_line are an error, reported
 * as soon as max_line + 1 bytes without a newline have been seen.
 *
 * struct linebuf keeps the bytes a connection has read but not yet framed (a
 * partial line, or lines held back while output drains). It is empty, and
 * owns no memory, whenever a connection is idle between complete lines.
 */
#ifndef KSOCKD_LINEBUF_H
#define KSOCKD_LINEBUF_H

#include <stddef.h>

#include <ksockd/handler.h> /* struct line */

enum line_status {
	LINE_TOO_LONG = -1, /* more than max_line bytes without a terminator */
	LINE_PARTIAL = 0,   /* no complete line yet */
	LINE_FOUND = 1,     /* *line is set; *used bytes were consumed */
};

/* Frames the next line of data[0..len). */
enum line_status line_next(const char *data, size_t len, size_t max_line, struct line *line,
			   size_t *used);
/* The unterminated rest at end of input, as a final line (eol ""). */
void line_final(const char *data, size_t len, struct line *line);

struct linebuf {
	char *data;  /* storage, NULL while empty */
	size_t head; /* first unframed byte */
	size_t tail; /* one past the last byte */
	size_t cap;  /* allocated size */
};

static inline size_t linebuf_len(const struct linebuf *lb) { return lb->tail - lb->head; }
static inline const char *linebuf_head(const struct linebuf *lb) { return lb->data + lb->head; }
int linebuf_append(struct linebuf *lb, const char *data, size_t len);
void linebuf_consume(struct linebuf *lb, size_t n);
void linebuf_free(struct linebuf *lb);

#endif
