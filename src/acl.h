/*
 * acl.h: a listener's access list: CIDR prefixes to allow and to deny.
 *
 * Decision for a peer address (acl_check), in this order:
 *   1. Among the rules whose prefix contains the address, the longest prefix
 *      (the most specific rule) decides.
 *   2. An allow and a deny rule with the same prefix length both matching:
 *      deny wins.
 *   3. No rule matches: denied if the list has any allow rule, else allowed.
 * So "allow 10.0.0.0/8; deny 10.1.0.0/16" serves 10.2.3.4 but not 10.1.2.3,
 * and an empty list allows everyone. IPv4 rules match IPv4 peers (and
 * v4-mapped IPv6 peers, ::ffff:a.b.c.d); IPv6 rules match IPv6 peers.
 *
 * Pure data and functions: no sockets, no logging; the same check serves
 * TCP right after accept, TLS before its handshake, and each UDP datagram.
 */
#ifndef KSOCKD_ACL_H
#define KSOCKD_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct acl_rule {
	uint8_t addr[16]; /* network address: 4 bytes for IPv4, 16 for IPv6 */
	uint8_t v6;       /* 1: IPv6 rule, 0: IPv4 rule */
	uint8_t prefix;   /* prefix length in bits */
	bool allow;       /* allow or deny */
};

struct acl {
	struct acl_rule *rules; /* in the order added */
	size_t n;               /* number of rules */
	bool has_allow;         /* some rule allows: unmatched peers are denied */
};

/*
 * Adds "ADDR" or "ADDR/LEN" (IPv4 or IPv6) as an allow or deny rule. Host
 * bits below the prefix must be zero. Returns 0, or -1 with a reason in err.
 */
int acl_add(struct acl *acl, const char *cidr, bool allow, char *err, size_t errlen);
/* True if peer may be served. */
bool acl_check(const struct acl *acl, const struct sockaddr *peer);
void acl_free(struct acl *acl);

#endif
