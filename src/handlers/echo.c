/*
 * handlers/echo.c: the echo protocol (RFC 862 for streams): every line is
 * sent back byte for byte, with the terminator it arrived with.
 */
#include "config.h"

#include "handlers.h"

static enum handler_result echo_line(void *state, const struct line *line, struct outbuf *out)
{
	(void)state;
	if (outbuf_append(out, line->data, line->len + line->eol_len) < 0)
		return HANDLER_CLOSE;
	return HANDLER_OK;
}

const struct handler handler_echo = {
	.name = "echo",
	.line = echo_line,
	.empty_reply = true, /* RFC 862: an empty datagram comes back empty */
	.echoes = true,
};
