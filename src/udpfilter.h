/*
 * udpfilter.h: which datagrams a UDP listener must not answer (pure, no I/O).
 *
 * A reply goes to the request's source port. If that port is a service that
 * answers whatever it receives (echo 7, discard 9, daytime 13, qotd 17,
 * chargen 19, time 37, or one of ksockd's own UDP ports), a spoofed request
 * starts an endless ping-pong between two servers; port 0 cannot be replied
 * to at all. A reply much larger than its request turns the listener into an
 * amplifier for spoofed traffic, so replies are bounded by a ratio.
 */
#ifndef KSOCKD_UDPFILTER_H
#define KSOCKD_UDPFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UDPFILTER_MAX_OWN 64 /* own UDP ports remembered (more: udpfilter_add_own fails) */

struct udpfilter {
	uint16_t own[UDPFILTER_MAX_OWN]; /* ksockd's own UDP ports */
	size_t n_own;                    /* how many */
};

/* Adds one of ksockd's own UDP ports (duplicates are ignored); -1 when full. */
int udpfilter_add_own(struct udpfilter *f, uint16_t port);
/* True if a datagram from this source port must not be answered. */
bool udpfilter_port_blocked(const struct udpfilter *f, uint16_t port);
/* True if a reply of reply_len bytes to a request of req_len is within ratio. */
bool udpfilter_reply_ok(size_t req_len, size_t reply_len, unsigned ratio);

#endif
