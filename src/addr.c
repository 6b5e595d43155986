/*
 * addr.c: turns socket addresses into text for logs and handlers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "addr.h"

const char *addr_format(const struct sockaddr *sa, char *buf)
{
	char host[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, ADDR_STRLEN, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, ADDR_STRLEN, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		/* Only a peer (struct sockaddr_cred): a unix path is printed from the config. */
		const struct peer_cred *c = addr_cred(sa);
		snprintf(buf, ADDR_STRLEN, "uid=%lu,gid=%lu,pid=%ld", (unsigned long)c->uid,
		         (unsigned long)c->gid, (long)c->pid);
	} else {
		snprintf(buf, ADDR_STRLEN, "(family %d)", sa->sa_family);
	}
	return buf;
}

const struct peer_cred *addr_cred(const struct sockaddr *sa)
{
	return sa && sa->sa_family == AF_UNIX ? &((const struct sockaddr_cred *)sa)->cred : NULL;
}
