/*
 * prefix.h: IP addresses as ksockd compares them: address prefixes
 * ("192.0.2.0/24", "2001:db8::/32", "127.0.0.1") for allow/deny and
 * proxy_trusted, and the source key of a peer for per-source limits.
 *
 * One rule for every use:
 *   - An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address it
 *     carries: the same client reaching a dual-stack socket. A peer is
 *     unwrapped, and so is a prefix written that way (::ffff:10.0.0.0/104 is
 *     10.0.0.0/8); an IPv6 prefix shorter than /96 never matches IPv4 peers.
 *   - A prefix must not have host bits set ("10.0.0.1/8" is refused, naming
 *     the bits): such a prefix is almost always a typo for a host or a
 *     network, and clearing the bits silently would trust or deny more than
 *     was written.
 *   - A source is a whole IPv4 address or the /64 of an IPv6 address (one
 *     host usually owns a /64).
 * Pure code, no allocation, no logging.
 */
#ifndef KSOCKD_PREFIX_H
#define KSOCKD_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct prefix {
	uint8_t addr[16]; /* network address: 4 bytes for IPv4, 16 for IPv6 */
	uint8_t v6;       /* 1: IPv6, 0: IPv4 (IPv4-mapped included) */
	uint8_t len;      /* prefix length in bits */
};

/* The source a peer is counted as: a family tag and an IPv4 address or an IPv6 /64. */
struct source_key {
	uint8_t b[16]; /* b[0]: 4 or 6; then the address or prefix; zero padded */
};

/* True if the 16 bytes of an IPv6 address are an IPv4-mapped one (::ffff:a.b.c.d). */
bool addr_is_v4mapped(const uint8_t a[16]);
/*
 * The bytes of sa's address as compared: 4 for IPv4 (a mapped IPv6 address
 * unwrapped), 16 for IPv6, 0 for another family (*bytes untouched).
 */
size_t addr_bytes(const struct sockaddr *sa, const uint8_t **bytes);
/* Parses "ADDR" or "ADDR/LEN"; 0, or -1 with the reason in err (quoting text). */
int prefix_parse(const char *text, struct prefix *out, char *err, size_t errlen);
/* True if sa's address is inside p. */
bool prefix_match(const struct prefix *p, const struct sockaddr *sa);
/* True if sa is inside any of list[0..n). */
bool prefix_list_match(const struct prefix *list, size_t n, const struct sockaddr *sa);
/* The source key of sa; false for a family other than IPv4/IPv6. */
bool source_key_of(const struct sockaddr *sa, struct source_key *key);

#endif
