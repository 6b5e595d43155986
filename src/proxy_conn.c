/*
 * proxy_conn.c: reads and applies the PROXY header at the start of a
 * connection (see proxy_conn.h), before any other byte is interpreted.
 *
 * Bytes are first peeked, then only the header's own bytes are consumed, so
 * the socket is left on the first byte after the header: a TLS handshake or
 * the line framer starts exactly there. In optional mode, bytes consumed
 * while they could still have been a header, but then were not, are handed
 * to the line framer as the connection's first input.
 * Owns c->proxy_hdr and c->proxy; parsing itself is proxy.c's.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "proxy.h"
#include "proxy_conn.h"
#include "worker.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define PROXY_LOG_INTERVAL 10. /* seconds between refusal log lines per listener */

/* The header being read. */
struct proxy_hdr {
	bool trusted;                  /* the socket's peer is in proxy_trusted */
	size_t len;                    /* bytes consumed so far, all in buf */
	uint8_t buf[PROXY_MAX_HEADER]; /* those bytes */
};

/* Closes c because of its header, counting it on the listener. */
static void proxy_conn_refuse(struct conn *c, const char *why)
{
	struct listener *l = c->l;
	l->proxy_refused++;
	unsigned long n = log_limit_hit(&l->proxy_log, ev_now(c->w->loop), PROXY_LOG_INTERVAL);
	if (n) {
		char sock_str[ADDR_STRLEN];
		log_info("listener '%s': refused %lu connection(s) for their PROXY header (%lu in "
		         "all); last: peer %s: %s",
		         l->conf->name, n, l->proxy_refused, addr_format(&c->sock_peer.sa, sock_str),
		         why);
	}
	conn_free(c, why);
}

/* Applies a parsed header: the original client becomes the connection's peer. */
static int proxy_conn_apply(struct conn *c, const struct proxy_info *info)
{
	c->proxy = malloc(sizeof *c->proxy);
	if (!c->proxy) {
		conn_free(c, "out of memory");
		return -1;
	}
	*c->proxy = *info;
	if (!info->local) {
		memcpy(&c->peer, &info->src, sizeof c->peer);
		addr_format((const struct sockaddr *)&c->peer, c->peer_str);
	}
	char sock_str[ADDR_STRLEN];
	log_debug("%s: peer %s: connection %llu: PROXY v%d header from %s", c->l->conf->name,
	          c->peer_str, c->id, info->version, addr_format(&c->sock_peer.sa, sock_str));
	return 0;
}

/* Consumes n bytes already peeked into h->buf + h->len. */
static int proxy_conn_consume(struct conn *c, size_t n)
{
	struct proxy_hdr *h = c->proxy_hdr;
	while (n > 0) {
		ssize_t r = recv(c->fd, h->buf + h->len, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) { /* cannot happen after a successful peek, but check */
			conn_free(c, "read error");
			return -1;
		}
		h->len += (size_t)r;
		c->bytes_in += (uint64_t)r;
		n -= (size_t)r;
	}
	return 0;
}

/* The header phase is over: start the session, with leftover plain bytes as its input. */
static void proxy_conn_finish(struct conn *c, size_t plain_from)
{
	struct proxy_hdr *h = c->proxy_hdr;
	c->proxy_hdr = NULL;
	if (h->len > plain_from &&
	    linebuf_append(&c->in, (const char *)h->buf + plain_from, h->len - plain_from) < 0) {
		free(h);
		conn_free(c, "out of memory");
		return;
	}
	free(h);
	conn_begin(c);
}

static void proxy_conn_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn *c = container_of(io, struct conn, rio);
	struct proxy_hdr *h = c->proxy_hdr;
	enum proxy_mode mode = c->l->conf->proxy_mode;
	(void)loop;
	(void)revents;
	size_t room = sizeof h->buf - h->len;
	ssize_t n = recv(c->fd, h->buf + h->len, room, MSG_PEEK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_free(c, errno == ECONNRESET ? "connection reset by peer" : "read error");
		return;
	}
	if (n == 0) {
		if (h->len == 0) /* connect and close: a balancer's plain TCP check */
			conn_free(c, "client closed before sending anything");
		else
			proxy_conn_refuse(c, "client closed inside the PROXY header");
		return;
	}
	struct proxy_info info;
	size_t hl = 0;
	const char *why;
	switch (proxy_parse(h->buf, h->len + (size_t)n, mode, &info, &hl, &why)) {
	case PROXY_MORE:
		/* Every byte seen belongs to the header (or could): take them off the socket. */
		if (proxy_conn_consume(c, (size_t)n) == 0 && h->len == sizeof h->buf)
			proxy_conn_refuse(c, "PROXY header too long");
		return;
	case PROXY_NONE: /* optional mode, plain client */ proxy_conn_finish(c, 0); return;
	case PROXY_ERROR: proxy_conn_refuse(c, why); return;
	case PROXY_DONE: break;
	}
	if (!h->trusted) {
		proxy_conn_refuse(c, "PROXY header from a source not in proxy_trusted");
		return;
	}
	if (proxy_conn_consume(c, hl - h->len) < 0 || proxy_conn_apply(c, &info) < 0)
		return;
	proxy_conn_finish(c, h->len);
}

static void proxy_conn_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct conn *c = container_of(t, struct conn, idle);
	(void)loop;
	(void)revents;
	/* Optional mode: a client that sent nothing yet may wait for a greeting. */
	if (c->l->conf->proxy_mode == PROXY_OPTIONAL && c->proxy_hdr->len == 0)
		proxy_conn_finish(c, 0);
	else
		proxy_conn_refuse(c, "no complete PROXY header within proxy_timeout");
}

int proxy_conn_start(struct conn *c)
{
	const struct listener_conf *lc = c->l->conf;
	bool trusted = prefix_list_match(lc->proxy_trusted, lc->n_proxy_trusted,
	                               (const struct sockaddr *)&c->sock_peer);
	if (!trusted && lc->proxy_mode != PROXY_OPTIONAL) {
		proxy_conn_refuse(c, "source not in proxy_trusted");
		return -1;
	}
	c->proxy_hdr = malloc(sizeof *c->proxy_hdr);
	if (!c->proxy_hdr) {
		conn_free(c, "out of memory");
		return -1;
	}
	c->proxy_hdr->trusted = trusted;
	c->proxy_hdr->len = 0;
	ev_io_init(&c->rio, proxy_conn_read_cb, c->fd, EV_READ);
	ev_timer_init(&c->idle, proxy_conn_timeout_cb, lc->proxy_timeout, 0);
	ev_io_start(c->w->loop, &c->rio);
	ev_timer_start(c->w->loop, &c->idle);
	return 0;
}

void proxy_conn_free(struct conn *c)
{
	free(c->proxy_hdr);
	c->proxy_hdr = NULL;
	free(c->proxy);
	c->proxy = NULL;
}
