/*
 * handlers/daytime.c: the daytime protocol (RFC 867): the current date and
 * time as one human-readable line, in UTC, in the RFC's example form
 * "Tuesday, February 22, 1982 17:37:43-UTC". Streams get it on connect, then
 * the connection closes; each datagram gets it as the reply.
 */
#include "config.h"

#include <time.h>

#include "handlers.h"

size_t daytime_format(time_t t, char *buf, size_t len)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return 0;
	return strftime(buf, len, "%A, %B %d, %Y %H:%M:%S-UTC\r\n", &tm);
}

static enum handler_result daytime_reply(struct outbuf *out)
{
	char buf[96];
	size_t n = daytime_format(time(NULL), buf, sizeof buf);
	if (n == 0 || outbuf_append(out, buf, n) < 0)
		return HANDLER_CLOSE;
	return HANDLER_OK;
}

static enum handler_result daytime_open(void *state, const struct session_info *si,
                                        struct outbuf *out)
{
	(void)state;
	if (si->datagram)
		return HANDLER_OK;
	daytime_reply(out);
	return HANDLER_CLOSE;
}

static enum handler_result daytime_line(void *state, const struct line *line, struct outbuf *out)
{
	(void)state;
	(void)line;
	/* Streams have been answered and are closing: only datagrams get here. */
	return daytime_reply(out);
}

const struct handler handler_daytime = {
    .name = "daytime",
    .open = daytime_open,
    .line = daytime_line,
};
