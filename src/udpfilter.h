/*
 * udpfilter.h: which datagrams a UDP listener must not answer (pure, no I/O).
 *
 * A reply goes to the request's source port. If that port is a service that
 * answers whatever it receives (echo 7, discard 9, daytime 13, qotd 17,
 * chargen 19, time 37, or one of ksockd's own UDP ports), a spoofed request
 * starts an endless ping-pong between two servers; port 0 cannot be replied
 * to at all. A reply much larger than its request turns the listener into an
 * amplifier for spoofed traffic, so replies are bounded by a ratio.
 *
 * The ratio compares sizes on the wire, IP and UDP headers included, since
 * that is what an amplification attack multiplies:
 *
 *   family  headers (UDPFILTER_HDR_*)  largest reply payload for a request of R bytes
 *   IPv4    20 + 8 = 28                (R + 28) x ratio - 28
 *   IPv6    40 + 8 = 48                (R + 48) x ratio - 48
 *
 * So an empty request (rdate -u, RFC 868) may get its 4-byte answer: 32 bytes
 * answer 28. A peer in IPv4-mapped form (::ffff:a.b.c.d) is IPv4 on the wire.
 */
#ifndef KSOCKD_UDPFILTER_H
#define KSOCKD_UDPFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UDPFILTER_MAX_OWN 64  /* own UDP ports remembered (more: udpfilter_add_own fails) */
#define UDPFILTER_HDR_IPV4 28 /* IPv4 header (20) + UDP header (8) */
#define UDPFILTER_HDR_IPV6 48 /* IPv6 header (40) + UDP header (8) */

struct udpfilter {
	uint16_t own[UDPFILTER_MAX_OWN]; /* ksockd's own UDP ports */
	size_t n_own;                    /* how many */
};

/* Adds one of ksockd's own UDP ports (duplicates are ignored); -1 when full. */
int udpfilter_add_own(struct udpfilter *f, uint16_t port);
/* True if a datagram from this source port must not be answered. */
bool udpfilter_port_blocked(const struct udpfilter *f, uint16_t port);
/* Header bytes on the wire for a datagram from peer: UDPFILTER_HDR_IPV4 or _IPV6. */
size_t udpfilter_overhead(const struct sockaddr *peer);
/* The largest reply payload within ratio for a request of req_len payload bytes,
 * hdr header bytes per datagram (see the table above). */
size_t udpfilter_reply_max(size_t req_len, unsigned ratio, size_t hdr);
/* True if a reply of reply_len bytes to a request of req_len is within ratio. */
bool udpfilter_reply_ok(size_t req_len, size_t reply_len, unsigned ratio, size_t hdr);

#endif
