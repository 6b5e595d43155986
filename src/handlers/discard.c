/*
 * handlers/discard.c: the discard protocol (RFC 863): everything received is
 * thrown away and nothing is ever sent, on streams and datagrams alike.
 */
#include "config.h"

#include "handlers.h"

static enum handler_result discard_line(void *state, const struct line *line, struct outbuf *out)
{
	(void)state;
	(void)line;
	(void)out;
	return HANDLER_OK;
}

const struct handler handler_discard = {
    .name = "discard",
    .line = discard_line,
    .ignore_input = true,
};
