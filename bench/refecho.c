/*
 * refecho.c: the yardstick for `ksock bench`: the cheapest echo server we
 * could write. One process, one epoll loop, level-triggered; every read is
 * written straight back (a short write keeps the rest and waits for EPOLLOUT,
 * without reading more). No framing, no limits, no logging.
 *
 * With -f ("framed") it does what a line server must at least do: it finds
 * the lines of each read with memchr, writes the complete lines back in one
 * call, and keeps a trailing partial line until its newline arrives. This is
 * the yardstick for CPU per line (make bench).
 *
 * usage: refecho [-f] PORT [ADDRESS]   (default 127.0.0.1; prints "ready" once
 * listening; on SIGTERM/SIGINT prints "bytes N" (bytes echoed) and exits)
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct pending {
	char *data;      /* unwritten bytes of the last read, NULL if none */
	size_t off;      /* first unwritten byte */
	size_t len;      /* end */
	char *part;      /* -f: the unterminated tail of the last read, NULL if none */
	size_t part_len; /* its length */
};

/*
 * -f: frames data[0..len) (the held partial line already copied in front) with
 * memchr and returns how many bytes are complete lines; keeps the rest in p.
 */
static ssize_t frame(struct pending *p, const char *data, size_t len)
{
	size_t done = 0;
	const char *nl;
	while (done < len && (nl = memchr(data + done, '\n', len - done)))
		done = (size_t)(nl - data) + 1;
	free(p->part);
	p->part = NULL;
	p->part_len = len - done;
	if (p->part_len) {
		if (!(p->part = malloc(p->part_len)))
			return -1;
		memcpy(p->part, data + done, p->part_len);
	}
	return (ssize_t)done;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int set_events(int ep, int fd, unsigned events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

int main(int argc, char **argv)
{
	int framed = argc > 1 && strcmp(argv[1], "-f") == 0;
	argc -= framed;
	argv += framed;
	if (argc < 2) {
		fprintf(stderr, "usage: refecho [-f] PORT [ADDRESS]\n");
		return 1;
	}
	static char buf[65536 + 65536];
	static struct pending pend[65536];
	unsigned long long echoed = 0;
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)atoi(argv[1]))};
	if (inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1", &sin.sin_addr) != 1) {
		fprintf(stderr, "refecho: bad address\n");
		return 1;
	}
	int one = 1;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 1024) < 0) {
		perror("refecho: listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("refecho: epoll");
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	printf("ready\n");
	fflush(stdout);
	struct epoll_event evs[256];
	while (!stop) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("refecho: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				int c;
				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
					if (c >= 65536 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
						close(c);
				}
				continue;
			}
			struct pending *p = &pend[fd];
			if (p->data) { /* EPOLLOUT: finish the last read's write */
				ssize_t w = write(fd, p->data + p->off, p->len - p->off);
				if (w < 0 && errno == EAGAIN)
					continue;
				if (w < 0)
					goto drop;
				echoed += (size_t)w;
				p->off += (size_t)w;
				if (p->off < p->len)
					continue;
				free(p->data);
				p->data = NULL;
				set_events(ep, fd, EPOLLIN);
				continue;
			}
			size_t held = p->part_len; /* -f only: a partial line kept */
			if (held > 65536)
				goto drop; /* a "line" longer than 64 KiB */
			if (held)
				memcpy(buf, p->part, held);
			ssize_t r = read(fd, buf + held, 65536);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0)
				goto drop;
			if (framed && (r = frame(p, buf, held + (size_t)r)) < 0)
				goto drop;
			if (r == 0)
				continue;
			ssize_t w = write(fd, buf, (size_t)r);
			if (w < 0 && errno != EAGAIN)
				goto drop;
			if (w < 0)
				w = 0;
			echoed += (size_t)w;
			if (w < r) {
				p->len = (size_t)(r - w);
				p->off = 0;
				p->data = malloc(p->len);
				if (!p->data)
					goto drop;
				memcpy(p->data, buf + w, p->len);
				set_events(ep, fd, EPOLLOUT);
			}
			continue;
		drop:
			free(p->data);
			free(p->part);
			*p = (struct pending){0};
			close(fd);
		}
	}
	printf("bytes %llu\n", echoed);
	return 0;
}
