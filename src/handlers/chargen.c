/*
 * handlers/chargen.c: the character generator protocol (RFC 864).
 *
 * Streams: lines of 72 printable ASCII characters (the 95 characters from
 * ' ' to '~', each line starting one character further) ending in CRLF, sent
 * for as long as the client reads; the connection asks for more (more())
 * only while its output queue has room, so a client that does not read
 * costs at most output_buffer bytes. Input is discarded.
 * Datagrams: each datagram, whatever it holds, is answered with a random
 * number of characters of the same pattern: 0 to 512 (RFC 864), and never
 * more than the reply may hold (session_info.reply_room: max_datagram and
 * the reply ratio for that request), so that every datagram is answered.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "handlers.h"

#define CHARGEN_FIRST 32      /* ' ' */
#define CHARGEN_SPAN 95       /* printable characters ' '..'~' */
#define CHARGEN_WIDTH 72      /* characters per line */
#define CHARGEN_BATCH 64      /* lines appended per more() call */
#define CHARGEN_DGRAM_MAX 512 /* longest datagram reply */

struct chargen {
	unsigned start; /* offset in the pattern of the next line's first character */
	bool datagram;  /* datagram session: each line() is a request */
	size_t room;    /* datagrams: the longest reply that will be sent */
};

/* Writes the 74-byte line starting at offset start (72 characters and CRLF). */
void chargen_line(unsigned start, char buf[CHARGEN_LINE_LEN])
{
	for (unsigned i = 0; i < CHARGEN_WIDTH; i++)
		buf[i] = (char)(CHARGEN_FIRST + (start + i) % CHARGEN_SPAN);
	buf[CHARGEN_WIDTH] = '\r';
	buf[CHARGEN_WIDTH + 1] = '\n';
}

static enum handler_result chargen_more(void *state, struct outbuf *out)
{
	struct chargen *cg = state;
	char buf[CHARGEN_LINE_LEN];
	for (int i = 0; i < CHARGEN_BATCH; i++) {
		chargen_line(cg->start, buf);
		if (outbuf_append(out, buf, sizeof buf) < 0)
			return HANDLER_CLOSE;
		cg->start = (cg->start + 1) % CHARGEN_SPAN;
	}
	return HANDLER_OK;
}

/* Datagram form: a reply of random length, taken from the pattern. */
static enum handler_result chargen_datagram(struct chargen *cg, struct outbuf *out)
{
	size_t max = cg->room < CHARGEN_DGRAM_MAX ? cg->room : CHARGEN_DGRAM_MAX;
	size_t want = arc4random_uniform((uint32_t)max + 1); /* 0..max, uniformly */
	char buf[CHARGEN_LINE_LEN];
	while (want > 0) {
		size_t n = want < sizeof buf ? want : sizeof buf;
		chargen_line(cg->start, buf);
		if (outbuf_append(out, buf, n) < 0)
			return HANDLER_CLOSE;
		cg->start = (cg->start + 1) % CHARGEN_SPAN;
		want -= n;
	}
	return HANDLER_OK;
}

static enum handler_result chargen_open(void *state, const struct session_info *si,
                                        struct outbuf *out)
{
	struct chargen *cg = state;
	(void)out;
	cg->datagram = si->datagram;
	cg->room = si->reply_room;
	return HANDLER_OK;
}

static enum handler_result chargen_line_cb(void *state, const struct line *line, struct outbuf *out)
{
	struct chargen *cg = state;
	(void)line;
	/* Streams drop input unframed (ignore_input); a line that still comes is ignored. */
	return cg->datagram ? chargen_datagram(cg, out) : HANDLER_OK;
}

const struct handler handler_chargen = {
    .name = "chargen",
    .state_size = sizeof(struct chargen),
    .open = chargen_open,
    .line = chargen_line_cb,
    .more = chargen_more,
    .ignore_input = true,
    .empty_reply = true, /* datagrams: 0 characters is a reply too (RFC 864) */
};
