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
 * and an empty list allows everyone. Prefixes follow prefix.h's rule
 * (host bits refused, IPv4-mapped addresses are IPv4), the same as
 * proxy_trusted's.
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

#include "prefix.h"

struct acl_rule {
	struct prefix p; /* addresses it covers */
	bool allow;      /* allow or deny */
};

struct acl {
	struct acl_rule *rules; /* in the order added */
	size_t n;               /* number of rules */
	bool has_allow;         /* some rule allows: unmatched peers are denied */
};

/* Adds "ADDR" or "ADDR/LEN" (prefix_parse) as an allow or deny rule. 0, or -1 with err set. */
int acl_add(struct acl *acl, const char *cidr, bool allow, char *err, size_t errlen);
/* True if peer may be served. */
bool acl_check(const struct acl *acl, const struct sockaddr *peer);
void acl_free(struct acl *acl);

#endif
