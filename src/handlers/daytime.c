/*
 * handlers/daytime.c: the daytime protocol (RFC 867): the current date and
 * time as one human-readable line. RFC 867 leaves the form free; this is the
 * one Unix inetd sends and network tools recognise, ctime(3)'s in local time
 * (the TZ variable, else /etc/localtime), byte for byte what openbsd-inetd
 * sends: "Wed Dec  2 04:20:58 2026\r\n" (26 bytes). Streams get it on
 * connect, then the connection closes; each datagram gets it as the reply.
 */
#include "config.h"

#include <time.h>

#include "handlers.h"

size_t daytime_format(time_t t, char *buf, size_t len)
{
	struct tm tm;
	if (!localtime_r(&t, &tm))
		return 0;
	/* ctime's "%.3s %.3s%3d %.2d:%.2d:%.2d %d": the day of month space-padded. */
	return strftime(buf, len, "%a %b %e %H:%M:%S %Y\r\n", &tm);
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
