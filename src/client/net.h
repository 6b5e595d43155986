/*
 * net.h: name resolution and connecting sockets for ksock. No event loop:
 * callers either wait with net_connect() (bounded by a timeout) or start a
 * non-blocking connect and finish it when the socket turns writable.
 */
#ifndef KSOCK_NET_H
#define KSOCK_NET_H

#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>

/* Resolves t's host and port for a stream (or datagram) socket. Returns 0, or
 * -1 with a readable reason in err. Free with freeaddrinfo(). */
int net_resolve(const char *host, const char *port, int udp, struct addrinfo **out, char *err,
                size_t errlen);
/* Starts a non-blocking connect to ai; returns the fd (connect may still be in
 * progress), or -1 with errno set. */
int net_connect_start(const struct addrinfo *ai);
/* The same, bound to the IPv4 source address src first (NULL: any). */
int net_connect_start_from(const struct addrinfo *ai, const struct in_addr *src);
/* After the fd turned writable: 0 if connected, else -1 with errno set. */
int net_connect_finish(int fd);
/* Tries each address in turn, waiting up to timeout seconds each; returns a
 * connected non-blocking fd, or -1 with err set (errno ETIMEDOUT on timeout). */
int net_connect(const struct addrinfo *list, double timeout, char *err, size_t errlen);
/* "host:port" or "[v6]:port" of an address. */
void net_addr_str(const struct sockaddr *sa, char *buf, size_t len);

#endif
