/*
 * net.c: resolving HOST PORT and connecting non-blocking sockets.
 * Owns no state; every fd it returns belongs to the caller.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "net.h"

int net_resolve(const char *host, const char *port, int udp, struct addrinfo **out, char *err,
                size_t errlen)
{
	struct addrinfo hints = {0};
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	int rc = getaddrinfo(host, port, &hints, out);
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
		/* AI_ADDRCONFIG hides loopback-only families on a machine without a network. */
		hints.ai_flags = 0;
		rc = getaddrinfo(host, port, &hints, out);
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s port %s: %s", host, port,
		         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	return 0;
}

void net_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
}

int net_connect_start(const struct addrinfo *ai)
{
	return net_connect_start_from(ai, NULL);
}

int net_connect_start_from(const struct addrinfo *ai, const struct in_addr *src)
{
	int fd =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (ai->ai_socktype == SOCK_STREAM) {
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
			goto fail;
	}
	if (src) {
		/* The port is chosen at connect time, unique per (source, destination)
		 * pair rather than per source address: ~28,000 connections for each
		 * source address to each server instead of ~28,000 in all. */
		int one = 1;
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = *src};
		if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0 ||
		    bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
			goto fail;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		goto fail;
	return fd;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int net_connect_finish(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -1;
	if (soerr != 0) {
		errno = soerr;
		return -1;
	}
	return 0;
}

int net_connect(const struct addrinfo *list, double timeout, char *err, size_t errlen)
{
	char addr[80] = "";
	int saved = 0;
	for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		net_addr_str(ai->ai_addr, addr, sizeof addr);
		int fd = net_connect_start(ai);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int n;
		do
			n = poll(&p, 1, timeout > 0 ? (int)(timeout * 1000) : -1);
		while (n < 0 && errno == EINTR);
		if (n == 0)
			errno = ETIMEDOUT;
		if (n > 0 && net_connect_finish(fd) == 0)
			return fd;
		saved = errno;
		close(fd);
	}
	errno = saved;
	snprintf(err, errlen, "cannot connect to %s: %s", addr,
	         saved == ETIMEDOUT ? "timed out" : strerror(saved));
	return -1;
}
