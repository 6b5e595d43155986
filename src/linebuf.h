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
 *
 * linebuf_feed() and linebuf_finish() are the whole of a connection's line
 * framing (conn.c calls nothing else to frame), so fuzz_linebuf fuzzes what
 * runs: a read is framed straight from where it was read while nothing is
 * held back, the rest is kept, and a sink that has no room stops framing
 * until the next call.
 */
#ifndef KSOCKD_LINEBUF_H
#define KSOCKD_LINEBUF_H

#include <stdbool.h>
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

/* Takes one framed line; returns whether framing may go on (room for its replies). */
typedef bool (*line_sink)(void *ctx, const struct line *line);

enum linebuf_result {
	LINEBUF_OK = 0,         /* framed what could be; the rest is kept */
	LINEBUF_TOO_LONG = 1,   /* a line over max_line: nothing more is framed, lb is empty */
	LINEBUF_NO_MEMORY = -1, /* the rest could not be kept */
};

/* The storage, with its indices: one heap block, so that an empty linebuf is one pointer. */
struct linebuf_block {
	size_t head; /* first unframed byte */
	size_t tail; /* one past the last byte */
	size_t cap;  /* size of data */
	char data[]; /* the bytes */
};

struct linebuf {
	struct linebuf_block *b; /* NULL while empty */
};

static inline size_t linebuf_len(const struct linebuf *lb)
{
	return lb->b ? lb->b->tail - lb->b->head : 0;
}
/* The first unframed byte (NULL while empty). */
static inline const char *linebuf_head(const struct linebuf *lb)
{
	return lb->b ? lb->b->data + lb->b->head : NULL;
}
/* Bytes of storage held. */
static inline size_t linebuf_cap(const struct linebuf *lb)
{
	return lb->b ? lb->b->cap : 0;
}
int linebuf_append(struct linebuf *lb, const char *data, size_t len);
void linebuf_consume(struct linebuf *lb, size_t n);
void linebuf_free(struct linebuf *lb);

/*
 * One read of data[0..len) arriving where lb is the unframed input (len 0:
 * frame only what lb holds). Complete lines go to sink in order while it
 * accepts them; a partial line and lines after a refusal stay in lb.
 */
enum linebuf_result linebuf_feed(struct linebuf *lb, const char *data, size_t len, size_t max_line,
                                 line_sink sink, void *ctx);
/*
 * End of input: what lb holds (only a partial line once feeding had room) is
 * the last line, given to sink with eol ""; too long if over max_line (a
 * line of max_line bytes and a '\r' still waiting for its '\n' included).
 * lb is empty afterwards.
 */
enum linebuf_result linebuf_finish(struct linebuf *lb, size_t max_line, line_sink sink, void *ctx);

#endif
