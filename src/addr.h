/*
 * addr.h: socket address formatting ("127.0.0.1:7007", "[::1]:7007",
 * "uid=1000,gid=1000,pid=42" for a unix peer).
 */
#ifndef KSOCKD_ADDR_H
#define KSOCKD_ADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

#include <ksockd/handler.h>

#define ADDR_STRLEN 64 /* fits "[v6%scope]:port" */

/*
 * A unix-domain peer as ksockd keeps it: its credentials, not its path (a
 * client's socket is usually unnamed). family is AF_UNIX, but this is not a
 * sockaddr_un: never pass it to a system call.
 */
struct sockaddr_cred {
	sa_family_t family;    /* AF_UNIX */
	struct peer_cred cred; /* SO_PEERCRED of the connection, SCM_CREDENTIALS of a datagram */
};

/* An IPv4 or IPv6 address, or a unix peer's credentials: what a stream peer is (28 bytes,
   not sockaddr_storage's 128). */
union addr_inet {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_cred cred;
};

/* The credentials of sa if it is a unix peer (struct sockaddr_cred), else NULL. */
const struct peer_cred *addr_cred(const struct sockaddr *sa);

/* Formats sa into buf (at least ADDR_STRLEN bytes) and returns buf. */
const char *addr_format(const struct sockaddr *sa, char *buf);

#endif
