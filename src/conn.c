/*
 * conn.c: a stream connection: reads into the worker's shared buffer, frames
 * lines, hands them to the handler, writes replies with back-pressure, and
 * enforces max_line, output_buffer, idle_timeout, slow_client_timeout and
 * (with the worker) worker_buffer_limit.
 *
 * Owns everything in struct conn. Must not touch other connections or the
 * listening sockets. A function that may free the connection returns -1 and
 * its caller returns at once without touching it again.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "proxy_conn.h"
#include "tls.h"
#include "worker.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define CONN_MAX_ROUNDS 64 /* process/flush rounds per event before yielding */
#define CONN_IO_AGAIN TLS_IO_AGAIN /* conn_recv: would block */
#define CONN_IO_FREED TLS_IO_ERROR /* conn_recv: error, the connection was freed */
#define TLS_LOG_WINDOW 10.0 /* seconds per window of TLS failure logs, per listener */
#define TLS_LOG_BURST 5     /* TLS failures logged per window; the rest are counted */

static const struct limits *conn_limits(const struct conn *c) { return &c->l->conf->limits; }

static bool conn_has_room(const struct conn *c)
{
	return outbuf_len(&c->out) < conn_limits(c)->output_buffer;
}

/* The handler sends unasked (chargen) and the output queue has room for more. */
static bool conn_wants_more(const struct conn *c)
{
	return c->handler->more && !c->closing && conn_has_room(c);
}

/* Derives which watchers run from the connection's state. */
static void conn_update_watchers(struct conn *c)
{
	struct ev_loop *loop = c->w->loop;
	bool want_read = !c->read_eof && !c->closing && conn_has_room(c);
	if (c->handler->backend && !c->handshaking) /* exec: read while the backend has room */
		want_read = want_read && c->handler->backend->wants_input(c->state);
	bool want_write = outbuf_len(&c->out) > 0 || conn_wants_more(c);
	if (c->tls) {
		/* TLS (issue 6): follow GnuTLS's direction while it is blocked. */
		if (c->handshaking)
			want_read = !(want_write = tls_session_wants_write(c->tls));
		else if (c->tls_read_blocked)
			want_write = true;
	}
	if (want_read && !ev_is_active(&c->rio))
		ev_io_start(loop, &c->rio);
	else if (!want_read && ev_is_active(&c->rio))
		ev_io_stop(loop, &c->rio);
	if (want_write && !ev_is_active(&c->wio))
		ev_io_start(loop, &c->wio);
	else if (!want_write && ev_is_active(&c->wio))
		ev_io_stop(loop, &c->wio);
	/* Decrypted bytes held by GnuTLS never make the socket readable: wake ourselves. */
	if (want_read && c->tls && tls_session_pending(c->tls) > 0)
		ev_feed_event(loop, &c->rio, EV_READ);
}

/* TLS (issue 6): logs a TLS failure a peer caused, at most TLS_LOG_BURST per window. */
static void conn_tls_log(struct conn *c, const char *what, const char *why)
{
	struct listener *l = c->l;
	ev_tstamp now = ev_now(c->w->loop);
	if (now - l->tls_log_window >= TLS_LOG_WINDOW) {
		if (l->tls_suppressed)
			log_info("%s: %lu more TLS failure(s) not logged in %.0f s", l->conf->name,
				 l->tls_suppressed, TLS_LOG_WINDOW);
		l->tls_log_window = now;
		l->tls_logged = 0;
		l->tls_suppressed = 0;
	}
	if (l->tls_logged >= TLS_LOG_BURST) {
		l->tls_suppressed++;
		return;
	}
	l->tls_logged++;
	log_info("%s: peer %s: %s: %s", l->conf->name, c->peer_str, what, why);
}

static void conn_begin_close(struct conn *c, const char *reason)
{
	if (c->closing)
		return;
	c->closing = true;
	c->close_reason = reason;
}

/* Keeps the worker's total of connection buffer storage up to date. */
static void conn_account(struct conn *c)
{
	size_t now = c->in.cap + c->out.cap;
	c->w->buffered = c->w->buffered - c->buffered + now;
	c->buffered = now;
}

/*
 * worker_buffer_limit: while the worker is over it, the connection holding
 * the most buffer memory is closed (the hoarder, not whoever reads next).
 * Returns -1 if that was c.
 */
static int conn_enforce_budget(struct conn *c)
{
	struct worker *w = c->w;
	unsigned limit = w->conf->worker_buffer_limit;
	if (limit == 0 || w->buffered <= limit)
		return 0;
	struct conn *big = c;
	for (struct conn *o = w->conns; o; o = o->next)
		if (o->buffered > big->buffered)
			big = o;
	guard_note(&big->l->guard, GUARD_BUFFER_LIMIT, big->peer_str, ev_now(w->loop));
	conn_free(big, "worker buffer limit");
	return big == c ? -1 : 0;
}

/*
 * slow_client_timeout: runs while a started line is incomplete, restarted
 * when a line completes and another one is already started.
 */
static void conn_update_slow(struct conn *c)
{
	ev_tstamp timeout = conn_limits(c)->slow_client_timeout;
	bool partial = linebuf_len(&c->in) > 0 && !c->closing && !c->read_eof;
	if (timeout <= 0)
		return;
	if (!partial) {
		ev_timer_stop(c->w->loop, &c->slow);
		return;
	}
	if (ev_is_active(&c->slow) && c->slow_lines == c->lines_in)
		return;
	ev_timer_stop(c->w->loop, &c->slow);
	ev_timer_set(&c->slow, timeout, 0);
	ev_timer_start(c->w->loop, &c->slow);
	c->slow_lines = c->lines_in;
}

static void conn_line_too_long(struct conn *c)
{
	unsigned max = conn_limits(c)->max_line;
	log_info("%s: peer %s: line longer than max_line (%u bytes): closing", c->l->conf->name,
		 c->peer_str, max);
	if (outbuf_printf(&c->out, "ERROR line too long (max_line is %u bytes)\r\n", max) < 0)
		outbuf_reset(&c->out);
	conn_begin_close(c, "line too long");
}

/* Hands one line to the handler. */
static void conn_dispatch(struct conn *c, const struct line *line)
{
	c->lines_in++;
	stats_add(c->l->stats, STAT_LINES_IN, 1);
	if (c->handler->line(c->state, line, &c->out) != HANDLER_OK)
		conn_begin_close(c, "closed by handler");
}

/*
 * Performance (issue 11): the echo handler's lines, without calling it. On
 * plain TCP with no output queued, sends the complete lines at the start of data[0..len)
 * straight from where they were read, in one call, and queues what the socket
 * did not take. Stops before a line longer than max_line and once output
 * would be full, leaving those to conn_frame. Returns the bytes consumed.
 */
static uint64_t conn_count_lines(const char *data, size_t len);

static size_t conn_echo_lines(struct conn *c, const char *data, size_t len)
{
	size_t done = 0, lines = 0, max_line = conn_limits(c)->max_line;
	size_t room = conn_limits(c)->output_buffer;
	if (c->closing || c->tls || outbuf_len(&c->out) > 0)
		return 0; /* TLS: replies must go through the session (conn_flush) */
	const char *nl;
	while (done < room && (nl = memchr(data + done, '\n', len - done))) {
		size_t n = (size_t)(nl - data) - done; /* terminator excluded */
		if (n > max_line && n - (nl[-1] == '\r') > max_line)
			break;
		done += n + 1;
		lines++;
	}
	if (done == 0)
		return 0;
	c->lines_in += lines;
	stats_add(c->l->stats, STAT_LINES_IN, lines);
	ssize_t sent = send(c->fd, data, done, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (sent > 0) {
		/* Lines out: those sent (the rest are counted by conn_flush). */
		uint64_t out = (size_t)sent == done ? lines : conn_count_lines(data, (size_t)sent);
		c->lines_out += out;
		stats_add(c->l->stats, STAT_LINES_OUT, out);
		stats_add(c->l->stats, STAT_BYTES_OUT, (uint64_t)sent);
		c->bytes_out += (uint64_t)sent;
		c->last_activity = ev_now(c->w->loop);
	} else {
		sent = 0; /* an error comes back to conn_flush, which frees */
	}
	if ((size_t)sent < done && outbuf_append(&c->out, data + sent, done - (size_t)sent) < 0)
		conn_begin_close(c, "out of memory");
	return done;
}

/*
 * Frames and dispatches lines from data[0..len) while output has room.
 * Returns the number of bytes consumed.
 */
static size_t conn_frame(struct conn *c, const char *data, size_t len)
{
	size_t done = c->handler->echoes ? conn_echo_lines(c, data, len) : 0;
	size_t max_line = conn_limits(c)->max_line;
	while (!c->closing && conn_has_room(c) && done < len) {
		struct line line;
		size_t used;
		enum line_status st = line_next(data + done, len - done, max_line, &line, &used);
		if (st == LINE_PARTIAL)
			break;
		if (st == LINE_TOO_LONG) {
			conn_line_too_long(c);
			return len;
		}
		done += used;
		conn_dispatch(c, &line);
	}
	return done;
}

/* Newlines in data[0..len): lines written, for the counters. */
static uint64_t conn_count_lines(const char *data, size_t len)
{
	uint64_t n = 0;
	const char *end = data + len, *p = data;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* Writes queued output until it is sent or the socket is full. Returns -1 if c was freed. */
static int conn_flush(struct conn *c)
{
	while (outbuf_len(&c->out) > 0) {
		ssize_t n;
		if (c->tls) {
			n = tls_session_send(c->tls, outbuf_head(&c->out), outbuf_len(&c->out));
			if (n == TLS_IO_AGAIN)
				return 0;
			if (n == TLS_IO_ERROR) {
				conn_tls_log(c, "TLS write failed", tls_session_error(c->tls));
				conn_free(c, "TLS write error");
				return -1;
			}
		} else {
			n = send(c->fd, outbuf_head(&c->out), outbuf_len(&c->out), MSG_NOSIGNAL);
		}
		if (n > 0) {
			uint64_t lines = conn_count_lines(outbuf_head(&c->out), (size_t)n);
			c->lines_out += lines;
			stats_add(c->l->stats, STAT_LINES_OUT, lines);
			stats_add(c->l->stats, STAT_BYTES_OUT, (uint64_t)n);
			outbuf_consume(&c->out, (size_t)n);
			c->bytes_out += (uint64_t)n;
			c->last_activity = ev_now(c->w->loop);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		conn_free(c, n < 0 && errno == EPIPE	   ? "peer closed while writing"
			     : n < 0 && errno == ECONNRESET ? "connection reset by peer"
							    : "write error");
		return -1;
	}
	return 0;
}

/*
 * Moves the connection forward: frames held-back input while output has room,
 * handles end of input, flushes, and frees the connection once it is done.
 * Returns -1 if c was freed.
 */
static int conn_advance(struct conn *c)
{
	for (int round = 0; round < CONN_MAX_ROUNDS; round++) {
		if (linebuf_len(&c->in) > 0 && !c->closing && conn_has_room(c))
			linebuf_consume(&c->in, conn_frame(c, linebuf_head(&c->in), linebuf_len(&c->in)));
		if (c->handler->backend) { /* exec: the backend frames nothing, closes itself */
			if (c->read_eof && !c->closing)
				c->handler->backend->client_eof(c->state);
		} else if (c->read_eof && !c->closing && conn_has_room(c)) {
			/*
			 * Only a partial line can be left: it is the last line. It may be
			 * one byte over max_line (a line of max_line bytes and a '\r'
			 * still waiting for its '\n'): that is too long too.
			 */
			if (linebuf_len(&c->in) > conn_limits(c)->max_line) {
				conn_line_too_long(c);
			} else if (linebuf_len(&c->in) > 0) {
				struct line line;
				line_final(linebuf_head(&c->in), linebuf_len(&c->in), &line);
				conn_dispatch(c, &line);
			}
			linebuf_free(&c->in);
			conn_begin_close(c, "client closed");
		}
		if (conn_wants_more(c) && c->handler->more(c->state, &c->out) != HANDLER_OK)
			conn_begin_close(c, "closed by handler");
		size_t before = outbuf_len(&c->out);
		if (conn_flush(c) < 0)
			return -1;
		if (c->closing && outbuf_len(&c->out) == 0) {
			conn_free(c, c->close_reason);
			return -1;
		}
		/* Stop when the socket is full or nothing more can be framed or generated. */
		if (outbuf_len(&c->out) > 0 ||
		    (!conn_wants_more(c) && (before == 0 || linebuf_len(&c->in) == 0)))
			break;
	}
	if (c->handler->backend && !c->closing && conn_has_room(c))
		c->handler->backend->drained(c->state); /* exec: read the program's output again */
	if (c->handler->backend && outbuf_len(&c->out) == 0 && !c->tls && !c->closing &&
	    c->handler->backend->output_ended && c->handler->backend->output_ended(c->state))
		shutdown(c->fd, SHUT_WR); /* exec: the program closed its stdout, still runs */
	conn_account(c);
	if (conn_enforce_budget(c) < 0)
		return -1;
	conn_update_slow(c);
	conn_update_watchers(c);
	return 0;
}

/* Reads once from the socket or TLS: bytes (>0), 0 at EOF, CONN_IO_AGAIN or CONN_IO_FREED. */
static ssize_t conn_recv(struct conn *c, char *buf, size_t len)
{
	if (c->tls) {
		ssize_t t = tls_session_recv(c->tls, buf, len);
		c->tls_read_blocked = t == TLS_IO_AGAIN && tls_session_wants_write(c->tls);
		if (t == TLS_IO_ERROR) {
			conn_tls_log(c, "TLS read failed", tls_session_error(c->tls));
			conn_free(c, "TLS read error");
		}
		return t;
	}
	ssize_t n = recv(c->fd, buf, len, 0);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return CONN_IO_AGAIN;
	conn_free(c, errno == ECONNRESET ? "connection reset by peer" : "read error");
	return CONN_IO_FREED;
}

/* Frames what was just read, keeping a partial line. Returns -1 if c was freed. */
static int conn_take(struct conn *c, const char *data, size_t len)
{
	c->bytes_in += (uint64_t)len;
	c->last_activity = ev_now(c->w->loop);
	stats_add(c->l->stats, STAT_BYTES_IN, (uint64_t)len);
	if (c->handler->backend && c->handler->backend->data(c->state, data, len) < 0) {
		conn_free(c, "out of memory");
		return -1;
	}
	if (c->handler->ignore_input || c->handler->backend)
		return 0;
	if (linebuf_len(&c->in) == 0) {
		/* Common case: frame straight from the shared buffer. */
		size_t used = conn_frame(c, data, len);
		data += used;
		len -= used;
	}
	if (len > 0 && !c->closing) {
		if (linebuf_append(&c->in, data, len) < 0) {
			conn_free(c, "out of memory");
			return -1;
		}
		if (c->tls) /* TLS reads loop: frame now so a partial line stays bounded */
			linebuf_consume(&c->in,
					conn_frame(c, linebuf_head(&c->in), linebuf_len(&c->in)));
	}
	return 0;
}

static void conn_read(struct conn *c)
{
	for (int round = 0; round < CONN_MAX_ROUNDS; round++) {
		ssize_t n = conn_recv(c, c->w->rbuf, sizeof c->w->rbuf);
		if (n == CONN_IO_FREED)
			return;
		if (n == CONN_IO_AGAIN)
			break;
		if (n == 0) {
			c->read_eof = true;
			break;
		}
		if (conn_take(c, c->w->rbuf, (size_t)n) < 0)
			return;
		/* TCP: the socket wakes us for the rest. TLS: drain what GnuTLS holds. */
		if (!c->tls || c->closing || !conn_has_room(c) || tls_session_pending(c->tls) == 0)
			break;
		if (c->handler->backend && !c->handler->backend->wants_input(c->state))
			break;
	}
	conn_advance(c);
}

static void conn_handshake(struct conn *c);

static void conn_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn *c = container_of(io, struct conn, rio);
	(void)loop;
	(void)revents;
	if (c->handshaking)
		conn_handshake(c);
	else
		conn_read(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn *c = container_of(io, struct conn, wio);
	(void)loop;
	(void)revents;
	if (c->handshaking) {
		conn_handshake(c);
	} else if (c->tls_read_blocked) {
		c->tls_read_blocked = false;
		conn_read(c);
	} else {
		conn_advance(c);
	}
}

/* A started line did not complete in time (unless we are the ones not reading). */
static void conn_slow_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct conn *c = container_of(t, struct conn, slow);
	(void)revents;
	if (!conn_has_room(c)) {
		ev_timer_set(t, conn_limits(c)->slow_client_timeout, 0);
		ev_timer_start(loop, t);
		return;
	}
	guard_note(&c->l->guard, GUARD_SLOW_CLIENT, c->peer_str, ev_now(loop));
	conn_free(c, "slow client");
}

/* Idle timeout, "be smart about timeouts" style: one timer re-armed only when it fires. */
static void conn_idle_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct conn *c = container_of(t, struct conn, idle);
	(void)revents;
	if (c->handshaking) {
		/* Armed once for handshake_timeout at accept: the handshake is late. */
		stats_add(c->l->stats, STAT_TLS_HANDSHAKE_FAILED, 1);
		conn_tls_log(c, "TLS handshake timed out",
			     "not complete within handshake_timeout");
		conn_free(c, "TLS handshake timeout");
		return;
	}
	ev_tstamp timeout = conn_limits(c)->idle_timeout;
	ev_tstamp after = c->last_activity + timeout - ev_now(loop);
	if (after <= 0) {
		log_info("%s: peer %s: idle for %g s: closing", c->l->conf->name, c->peer_str,
			 timeout);
		conn_free(c, "idle timeout");
		return;
	}
	ev_timer_set(t, after, 0);
	ev_timer_start(loop, t);
}

/* A backend session starts (exec): it gets the connection's side of backend.h. */
static int conn_backend_open(struct conn *c, const struct session_info *si)
{
	const char *reason = "refused by backend";
	struct backend_link link = {.conn = c, .w = c->w, .conf = c->l->conf,
				    .stats = c->l->stats, .out = &c->out,
				    .out_limit = conn_limits(c)->output_buffer};
	if (c->handler->backend->open(c->state, si, &link, &reason) < 0) {
		conn_free(c, reason);
		return -1;
	}
	return conn_advance(c);
}

int conn_backend_output(struct conn *c) { return conn_advance(c); }

int conn_backend_resume(struct conn *c)
{
	conn_update_watchers(c);
	return 0;
}

int conn_backend_done(struct conn *c, const char *reason)
{
	conn_begin_close(c, reason);
	return conn_advance(c);
}

/* The session starts: the handler's open (a greeting), then the first flush.
 * Returns -1 if c was freed. */
static int conn_open(struct conn *c)
{
	const struct handler *h = c->handler;
	if (h->open || h->backend) {
		struct sockaddr_storage local;
		socklen_t llen = sizeof local;
		if (getsockname(c->fd, (struct sockaddr *)&local, &llen) < 0)
			memset(&local, 0, sizeof local);
		struct session_info si = {
			.listener = c->l->conf->name,
			.peer = (struct sockaddr *)&c->peer,
			.local = (struct sockaddr *)&local,
			.sock_peer = (struct sockaddr *)&c->sock_peer,
			.proxy = c->proxy,
			.draining = c->w->drain_flag,
			.conf = c->l->conf,
			.stats = c->w->stats,
			.tls = c->tls ? tls_session_info(c->tls) : NULL,
		};
		if (h->backend)
			return conn_backend_open(c, &si);
		if (h->open(c->state, &si, &c->out) != HANDLER_OK)
			conn_begin_close(c, "closed by handler");
	}
	return conn_advance(c);
}

/* TLS (issue 6): drives the handshake; once done, the session opens as on TCP. */
static void conn_handshake(struct conn *c)
{
	int r = tls_session_handshake(c->tls);
	if (r == TLS_IO_AGAIN) {
		conn_update_watchers(c);
		return;
	}
	if (r == TLS_IO_ERROR) {
		stats_add(c->l->stats, STAT_TLS_HANDSHAKE_FAILED, 1);
		conn_tls_log(c, "TLS handshake failed", tls_session_error(c->tls));
		conn_free(c, "TLS handshake failed");
		return;
	}
	const struct tls_info *ti = tls_session_info(c->tls);
	stats_add(c->l->stats, STAT_TLS_HANDSHAKE_OK, 1);
	if (ti->resumed)
		stats_add(c->l->stats, STAT_TLS_RESUMED, 1);
	c->handshaking = false;
	c->last_activity = ev_now(c->w->loop);
	log_debug("%s: peer %s: connection %llu: %s %s %s%s, SNI '%s', ALPN '%s'", c->l->conf->name,
		  c->peer_str, c->id, ti->version, ti->kx, ti->cipher,
		  ti->resumed ? " (resumed)" : "", ti->server_name, ti->alpn);
	if (ti->client_subject[0])
		log_info("%s: peer %s: client certificate verified: %s", c->l->conf->name,
			 c->peer_str, ti->client_subject);
	ev_timer_stop(c->w->loop, &c->idle);
	if (conn_limits(c)->idle_timeout > 0) {
		ev_timer_set(&c->idle, conn_limits(c)->idle_timeout, 0);
		ev_timer_start(c->w->loop, &c->idle);
	}
	conn_open(c);
}

/* TLS (issue 6): a session on the new socket, its handshake timed by handshake_timeout. */
static int conn_start_tls(struct conn *c)
{
	char err[256];
	int one = 1;
	/*
	 * A TLS flight is several records written one after another (a resumed
	 * TLS 1.3 handshake ends with a session ticket, then the first reply):
	 * without TCP_NODELAY, Nagle holds the last one for the peer's delayed
	 * ACK, ~40 ms per handshake.
	 */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		log_debug("%s: peer %s: TCP_NODELAY: %m", c->l->conf->name, c->peer_str);
	c->handshaking = true; /* until it completes, the handler has not been opened */
	c->tls = tls_session_new(c->l->conf->tls.ctx, c->fd, err, sizeof err);
	if (!c->tls) {
		log_warnx("%s: peer %s: %s", c->l->conf->name, c->peer_str, err);
		conn_free(c, "TLS setup failed");
		return -1;
	}
	ev_timer_set(&c->idle, c->l->conf->tls.handshake_timeout, 0);
	ev_timer_start(c->w->loop, &c->idle);
	conn_handshake(c);
	return 0;
}

int conn_create(struct worker *w, struct listener *l, int fd, const struct sockaddr *peer,
		socklen_t peerlen, const struct guard_ticket *ticket)
{
	const struct handler *h = l->conf->handler;
	struct conn *c = calloc(1, sizeof *c + h->state_size);
	if (!c) {
		log_warnx("%s: out of memory for a new connection", l->conf->name);
		stats_add(l->stats, STAT_REFUSED_NO_MEMORY, 1);
		struct guard_ticket t = *ticket;
		guard_release(&l->guard, &t);
		close(fd);
		return -1;
	}
	c->ticket = *ticket;
	c->w = w;
	c->l = l;
	c->handler = h;
	c->fd = fd;
	c->id = ++w->next_conn_id;
	if (peerlen > sizeof c->peer) /* not IPv4 or IPv6: cannot happen on TCP listeners */
		peerlen = sizeof c->peer;
	memcpy(&c->peer, peer, peerlen);
	memcpy(&c->sock_peer, peer, peerlen);
	addr_format(peer, c->peer_str);
	c->started = c->last_activity = ev_now(w->loop);
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	ev_init(&c->idle, conn_idle_cb);
	ev_init(&c->slow, conn_slow_cb);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	l->n_conns++;
	stats_add(l->stats, STAT_CONN_ACCEPTED, 1);
	stats_add(l->stats, STAT_CONN_OPEN, 1);
	log_debug("%s: peer %s: connection %llu accepted", l->conf->name, c->peer_str, c->id);
	if (l->conf->proxy_mode != PROXY_OFF) {
		proxy_conn_start(c); /* calls conn_begin once the header is read */
		return 0;
	}
	conn_begin(c);
	return 0;
}

int conn_begin(struct conn *c)
{
	struct worker *w = c->w;
	/* The PROXY header phase may have used these watchers with its own callbacks. */
	ev_io_stop(w->loop, &c->rio);
	ev_timer_stop(w->loop, &c->idle);
	ev_io_init(&c->rio, conn_read_cb, c->fd, EV_READ);
	ev_init(&c->idle, conn_idle_cb);
	c->last_activity = ev_now(w->loop);
	/* The client a PROXY header named faces allow/deny and per-source limits now. */
	if (c->l->conf->proxy_mode != PROXY_OFF &&
	    guard_admit(&c->l->guard, (struct sockaddr *)&c->peer, ev_now(w->loop), &c->ticket) !=
		    GUARD_OK) {
		conn_free(c, "refused (allow/deny or per-source limit)");
		return -1;
	}
	c->begun = true;
	/* TLS: the handshake starts on the first byte after any PROXY header. */
	if (c->l->conf->protocol == PROTO_TLS)
		return conn_start_tls(c);
	if (conn_limits(c)->idle_timeout > 0) {
		ev_timer_set(&c->idle, conn_limits(c)->idle_timeout, 0);
		ev_timer_start(w->loop, &c->idle);
	}
	return conn_open(c);
}

/* The closed-by-reason counter for a close reason of this file or worker.c. */
static enum stat_id conn_close_stat(const char *reason)
{
	static const struct {
		const char *reason; /* as logged */
		enum stat_id id;    /* counter */
	} map[] = {
		{"client closed", STAT_CLOSED_CLIENT},       {"closed by handler", STAT_CLOSED_HANDLER},
		{"line too long", STAT_CLOSED_LINE_TOO_LONG}, {"idle timeout", STAT_CLOSED_IDLE},
		{"shutdown timeout", STAT_CLOSED_SHUTDOWN},   {"immediate stop", STAT_CLOSED_SHUTDOWN},
		{"worker exit", STAT_CLOSED_SHUTDOWN},        {"program exited", STAT_CLOSED_HANDLER},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].reason, reason) == 0)
			return map[i].id;
	return STAT_CLOSED_ERROR;
}

void conn_free(struct conn *c, const char *reason)
{
	struct worker *w = c->w;
	struct ev_loop *loop = w->loop;
	ev_io_stop(loop, &c->rio);
	ev_io_stop(loop, &c->wio);
	ev_timer_stop(loop, &c->idle);
	ev_timer_stop(loop, &c->slow);
	tls_session_free(c->tls); /* close_notify first, if the session is healthy */
	close(c->fd);
	guard_release(&c->l->guard, &c->ticket);
	if (c->handler->close && c->begun && !c->handshaking)
		c->handler->close(c->state);
	bool via = c->proxy && !c->proxy->local;
	char sock_str[ADDR_STRLEN];
	log_debug("%s: peer %s%s%s: connection %llu closed (%s) after %.3f s: in %llu bytes %llu "
		  "lines, out %llu bytes",
		  c->l->conf->name, c->peer_str, via ? " via " : "",
		  via ? addr_format(&c->sock_peer.sa, sock_str) : "", c->id, reason, ev_now(loop) - c->started,
		  (unsigned long long)c->bytes_in, (unsigned long long)c->lines_in,
		  (unsigned long long)c->bytes_out);
	struct accesslog_entry e = {.started = c->started, .ended = ev_now(loop),
				    .peer = c->peer_str, .lines_in = c->lines_in,
				    .bytes_in = c->bytes_in, .lines_out = c->lines_out,
				    .bytes_out = c->bytes_out, .reason = reason};
	accesslog_write(&c->l->alog, &e);
	stats_sub(c->l->stats, STAT_CONN_OPEN, 1);
	/* Still reading the PROXY header: the session never began. */
	stats_add(c->l->stats, c->proxy_hdr ? STAT_CLOSED_PROXY : conn_close_stat(reason), 1);
	proxy_conn_free(c);
	linebuf_free(&c->in);
	outbuf_free(&c->out);
	conn_account(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	listener_conn_gone(c->l);
	free(c);
	worker_conn_gone(w);
}
