/*
 * refudp.c: the UDP yardstick for make bench: an echo server that receives
 * up to 64 datagrams with one recvmmsg and sends them all back with one
 * sendmmsg. One process, blocking socket, no checks beyond the syscalls'.
 *
 * usage: refudp PORT [ADDRESS]   (default 127.0.0.1; prints "ready" once
 * bound; on SIGTERM/SIGINT prints "datagrams N" (echoed) and exits)
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define DGRAM 2048

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: refudp PORT [ADDRESS]\n");
		return 1;
	}
	static char bufs[BATCH][DGRAM];
	static struct sockaddr_storage peers[BATCH];
	static struct iovec iov[BATCH];
	static struct mmsghdr msgs[BATCH];
	unsigned long long echoed = 0;
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)atoi(argv[1]))};
	if (inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1", &sin.sin_addr) != 1) {
		fprintf(stderr, "refudp: bad address\n");
		return 1;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
		perror("refudp: bind");
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: EINTR ends the wait */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = DGRAM};
			msgs[i].msg_hdr = (struct msghdr){.msg_name = &peers[i],
			                                  .msg_namelen = sizeof peers[i],
			                                  .msg_iov = &iov[i],
			                                  .msg_iovlen = 1};
		}
		int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("refudp: recvmmsg");
			return 1;
		}
		for (int i = 0; i < n; i++)
			iov[i].iov_len = msgs[i].msg_len;
		int sent = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (sent > 0)
			echoed += (unsigned long long)sent;
	}
	printf("datagrams %llu\n", echoed);
	return 0;
}
