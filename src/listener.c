/*
 * listener.c: binds listening sockets (master) and accepts from them
 * (workers). Owns the listening fd in each process; hands every accepted fd
 * to conn_create(), which owns it from then on.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "listener.h"
#include "conf_diag.h"
#include "log.h"
#include "reason.h"
#include "unixsock.h"
#include "worker.h"

#define ACCEPT_BATCH 64        /* connections accepted per readiness event */
#define EMFILE_BACKOFF 0.1     /* seconds without accepting after EMFILE */
#define LIMIT_LOG_INTERVAL 10. /* seconds between repeated limit warnings */

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

int listener_bind(const struct gen_listener *gl, char *err, size_t errlen)
{
	const struct listener_conf *lc = gl->conf;
	char a[ADDR_STRLEN];
	if (proto_is_unix(lc->protocol))
		return unixsock_bind(gl, err, errlen);
	int type = lc->protocol == PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(gl->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	addr_format((const struct sockaddr *)&gl->addr, a);
	if (fd < 0) {
		snprintf(err, errlen, "listener '%s': socket: %s", lc->name, strerror(errno));
		return -1;
	}
	/* Not on UDP: there it would let any local user bind the same port and take datagrams. */
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		goto fail_op;
	if (lc->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		goto fail_op;
	if (gl->addr.ss_family == AF_INET6) {
		int v6only = lc->ipv6_only;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0)
			goto fail_op;
	}
	if (bind(fd, (const struct sockaddr *)&gl->addr, gl->addrlen) < 0) {
		/* FILE:LINE: listener 'NAME': reason; hint (conf_diag.c) */
		int e = errno;
		char hint[320];
		const char *h = diag_bind_hint(e, lc->port, lc->address, hint, sizeof hint);
		snprintf(err, errlen, "%s:%d: listener '%s': cannot bind %s %s: %s%s%s",
		         lc->file ? lc->file : "?", lc->line, lc->name, proto_name(lc->protocol), a,
		         strerror(e), h ? "; " : "", h ? h : "");
		close(fd);
		return -1;
	}
	if (type == SOCK_STREAM && listen(fd, lc->backlog) < 0) {
		snprintf(err, errlen, "listener '%s': listen on %s: %s", lc->name, a,
		         strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
fail_op:
	snprintf(err, errlen, "listener '%s': setsockopt on %s: %s", lc->name, a, strerror(errno));
	close(fd);
	return -1;
}

/* Accepted and closed at once: the worker or the listener is at max_connections. */
static void listener_refuse_full(struct listener *l, int fd)
{
	close(fd);
	reason_count(l->stats, REASON_MAX_CONNECTIONS);
	unsigned long n = log_limit_hit(&l->full_log, ev_now(l->w->loop), LIMIT_LOG_INTERVAL);
	if (n)
		log_warnx("listener '%s': max_connections reached (worker %u has %u open): refused "
		          "%lu connection(s)",
		          l->conf->name, l->w->slot, l->w->n_conns, n);
}

static void listener_backoff_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct listener *l = container_of(t, struct listener, backoff);
	(void)revents;
	if (l->state != LISTENER_BACKOFF)
		return;
	l->state = LISTENER_ACTIVE;
	ev_io_start(loop, &l->io);
}

static void listener_out_of_fds(struct listener *l, int err)
{
	if (log_limit_hit(&l->emfile_log, ev_now(l->w->loop), LIMIT_LOG_INTERVAL))
		log_warnx("listener '%s': accept: %s: pausing accepts for %.0f ms (worker %u has "
		          "%u connections)",
		          l->conf->name, strerror(err), EMFILE_BACKOFF * 1000, l->w->slot,
		          l->w->n_conns);
	stats_add(l->stats, STAT_ACCEPT_BACKOFF, 1);
	l->state = LISTENER_BACKOFF;
	ev_io_stop(l->w->loop, &l->io);
	ev_timer_set(&l->backoff, EMFILE_BACKOFF, 0);
	ev_timer_start(l->w->loop, &l->backoff);
}

static void listener_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct listener *l = container_of(io, struct listener, io);
	(void)revents;
	for (int i = 0; i < ACCEPT_BATCH && l->state == LISTENER_ACTIVE; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		int fd =
		    accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				listener_out_of_fds(l, errno);
			else if (errno != EAGAIN)
				log_warn("listener '%s': accept", l->conf->name);
			return;
		}
		/*
		 * allow/deny and per-source limits first: nothing else is spent on a
		 * refused peer. Behind a PROXY header the peer is the balancer: the
		 * client is judged in conn_start, once the header has named it.
		 */
		/* A unix peer is its credentials (the guard's and the logs' source). */
		if (l->gl->un && unixsock_peer(fd, (struct sockaddr_cred *)&peer) == 0)
			plen = sizeof(struct sockaddr_cred);
		else if (l->gl->un) {
			log_warn("listener '%s': SO_PEERCRED", l->conf->name);
			close(fd);
			continue;
		}
		struct guard_ticket ticket = {.slot = -1};
		enum guard_reason g = GUARD_OK;
		if (l->conf->proxy_mode == PROXY_OFF)
			g = guard_admit(&l->guard, (struct sockaddr *)&peer, ev_now(loop), &ticket);
		if (g != GUARD_OK) {
			reason_count(l->stats, reason_of_guard(g));
			close(fd);
			continue;
		}
		if (l->w->n_conns >= l->w->conf->limits.max_connections ||
		    l->n_conns >= l->conf->limits.max_connections) {
			guard_release(&l->guard, &ticket);
			listener_refuse_full(l, fd);
			continue;
		}
		conn_create(l->w, l, fd, (struct sockaddr *)&peer, plen, &ticket);
	}
}

void listener_init(struct listener *l, struct worker *w, const struct gen_listener *gl, int fd)
{
	const struct listener_conf *lc = gl->conf;
	memset(l, 0, sizeof *l);
	l->w = w;
	l->conf = lc;
	l->gl = gl;
	l->fd = fd;
	l->state = LISTENER_ACTIVE;
	l->stats = stats_row_of(w->stats, w->stats_slot, gl->stats_id);
	accesslog_open(&l->alog, lc); /* marks it off where access_log is not set */
	guard_init(&l->guard, lc, w->srctab, w->srctab_proc);
	l->guard.un = gl->un;
	conn_listener_init(l); /* its connections' deadline queues */
}

void listener_start(struct listener *l, struct worker *w, const struct gen_listener *gl, int fd)
{
	listener_init(l, w, gl, fd);
	ev_io_init(&l->io, listener_accept_cb, fd, EV_READ);
	ev_timer_init(&l->backoff, listener_backoff_cb, 0, 0);
	ev_io_start(w->loop, &l->io);
}

void listener_close(struct listener *l)
{
	if (l->state == LISTENER_CLOSED)
		return;
	ev_io_stop(l->w->loop, &l->io);
	ev_timer_stop(l->w->loop, &l->backoff);
	close(l->fd);
	l->fd = -1;
	l->state = LISTENER_CLOSED;
}

void listener_conn_gone(struct listener *l)
{
	l->n_conns--;
}
