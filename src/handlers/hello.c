/*
 * handlers/hello.c: the classic sockets-tutorial server. On connect it asks
 * "Please enter your name"; every line NAME is answered "Hello, NAME!".
 * Replies end with the terminator the client used ("\n" when it sent none).
 */
#include "config.h"

#include "handlers.h"

#define HELLO_PROMPT "Please enter your name\n"

static enum handler_result hello_open(void *state, const struct session_info *si,
                                      struct outbuf *out)
{
	(void)state;
	if (si->datagram)
		return HANDLER_OK;
	if (outbuf_append(out, HELLO_PROMPT, sizeof HELLO_PROMPT - 1) < 0)
		return HANDLER_CLOSE;
	return HANDLER_OK;
}

static enum handler_result hello_line(void *state, const struct line *line, struct outbuf *out)
{
	(void)state;
	const char *eol = line->eol_len ? line->eol : "\n";
	size_t eol_len = line->eol_len ? line->eol_len : 1;
	if (outbuf_append(out, "Hello, ", 7) < 0 || outbuf_append(out, line->data, line->len) < 0 ||
	    outbuf_append(out, "!", 1) < 0 || outbuf_append(out, eol, eol_len) < 0)
		return HANDLER_CLOSE;
	return HANDLER_OK;
}

const struct handler handler_hello = {
    .name = "hello",
    .open = hello_open,
    .line = hello_line,
};
