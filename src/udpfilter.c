/*
 * udpfilter.c: the source-port and reply-size rules of UDP listeners.
 */
#include "config.h"

#include <netinet/in.h>

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

size_t udpfilter_overhead(const struct sockaddr *peer)
{
	if (peer->sa_family != AF_INET6)
		return UDPFILTER_HDR_IPV4;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)peer;
	return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) ? UDPFILTER_HDR_IPV4 : UDPFILTER_HDR_IPV6;
}

size_t udpfilter_reply_max(size_t req_len, unsigned ratio, size_t hdr)
{
	if (ratio == 0)
		return 0;
	return (req_len + hdr) * (size_t)ratio - hdr; /* ratio >= 1: never below req_len */
}

bool udpfilter_reply_ok(size_t req_len, size_t reply_len, unsigned ratio, size_t hdr)
{
	return reply_len <= udpfilter_reply_max(req_len, ratio, hdr);
}
