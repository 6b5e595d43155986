/*
 * addr.h: socket address formatting ("127.0.0.1:7007", "[::1]:7007").
 */
#ifndef KSOCKD_ADDR_H
#define KSOCKD_ADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

#define ADDR_STRLEN 64 /* fits "[v6%scope]:port" */

/* An IPv4 or IPv6 address: what a TCP peer is (28 bytes, not sockaddr_storage's 128). */
union addr_inet {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

/* Formats sa into buf (at least ADDR_STRLEN bytes) and returns buf. */
const char *addr_format(const struct sockaddr *sa, char *buf);

#endif
