/*
 * cidr.h: address ranges ("192.0.2.0/24", "2001:db8::/32", "127.0.0.1") and
 * matching socket addresses against them. Pure code, no allocation.
 */
#ifndef KSOCKD_CIDR_H
#define KSOCKD_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network address, host bits cleared */
	unsigned bits;    /* prefix length */
};

/* Parses "ADDR" or "ADDR/BITS"; returns 0, or -1 if malformed. */
int cidr_parse(const char *text, struct cidr *out);
/* True if sa (IPv4, IPv6, or IPv4-mapped IPv6) is inside c. */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);
/* True if sa is inside any of list[0..n). */
bool cidr_list_match(const struct cidr *list, size_t n, const struct sockaddr *sa);

#endif
