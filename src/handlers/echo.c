/*
 * handlers/echo.c: the echo protocol (RFC 862) and its line-mode variant.
 *
 * echo: on streams every byte back as soon as it is read (the connection
 * does it, see handler.h's echoes: no framing, no max_line); over UDP the
 * datagram unchanged, an empty one included.
 * echo-lines: every complete line back with the terminator it arrived with;
 * lines are framed, so max_line and slow_client_timeout apply and the line
 * counters count lines.
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
    .line = echo_line,   /* datagrams only: streams are echoed unframed */
    .empty_reply = true, /* RFC 862: an empty datagram comes back empty */
    .echoes = true,
};

const struct handler handler_echo_lines = {
    .name = "echo-lines",
    .line = echo_line,
    .empty_reply = true,
};
