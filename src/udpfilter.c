/*
 * udpfilter.c: the source-port and reply-size rules of UDP listeners.
 */
#include "config.h"

#include "udpfilter.h"

/* Services that answer any datagram: replying to them starts a loop. */
static const uint16_t udpfilter_reflectors[] = {
    0,  /* not a valid source port */
    7,  /* echo */
    9,  /* discard (some implementations answer) */
    13, /* daytime */
    17, /* qotd */
    19, /* chargen */
    37, /* time */
};

int udpfilter_add_own(struct udpfilter *f, uint16_t port)
{
	for (size_t i = 0; i < f->n_own; i++)
		if (f->own[i] == port)
			return 0;
	if (f->n_own == UDPFILTER_MAX_OWN)
		return -1;
	f->own[f->n_own++] = port;
	return 0;
}

bool udpfilter_port_blocked(const struct udpfilter *f, uint16_t port)
{
	for (size_t i = 0; i < sizeof udpfilter_reflectors / sizeof udpfilter_reflectors[0]; i++)
		if (port == udpfilter_reflectors[i])
			return true;
	for (size_t i = 0; i < f->n_own; i++)
		if (port == f->own[i])
			return true;
	return false;
}

bool udpfilter_reply_ok(size_t req_len, size_t reply_len, unsigned ratio)
{
	return reply_len <= req_len * (size_t)ratio;
}
