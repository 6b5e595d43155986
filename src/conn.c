/*
 * conn.c: a stream connection: the state machine drawn in conn.h, the PROXY
 * header phase (parsed by proxy.c), and the line logic: reads into the
 * worker's shared buffer, frames lines, hands them to the handler, writes
 * replies with back-pressure, and enforces max_line, output_buffer,
 * idle_timeout, slow_client_timeout and (with the worker) worker_buffer_limit.
 * Bytes move only through conn_tp(c) (transport.h); nothing here knows TLS.
 *
 * Owns everything in struct conn. Must not touch other connections or the
 * listening sockets. A function that may free the connection returns -1 and
 * its caller returns at once without touching it again.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "proxy.h"
#include "reason.h"
#include "worker.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define CONN_MAX_ROUNDS 64     /* process/flush rounds per event before yielding */
#define PROXY_LOG_INTERVAL 10. /* seconds between PROXY refusal log lines per listener */

static const struct limits *conn_limits(const struct conn *c)
{
	return &c->l->conf->limits;
}
static struct worker *conn_w(const struct conn *c)
{
	return c->l->w;
}
static int conn_fd(const struct conn *c)
{
	return c->io.fd;
}
static const struct handler *conn_handler(const struct conn *c)
{
	return c->l->conf->handler;
}
/* The only place a transport is chosen. */
static const struct transport *conn_tp(const struct conn *c)
{
	return c->l->conf->protocol == PROTO_TLS ? &transport_tls : &transport_tcp;
}

/* The effective peer, formatted into buf (ADDR_STRLEN bytes): only when logged. */
static const char *conn_peer(const struct conn *c, char *buf)
{
	return addr_format(&c->peer.sa, buf);
}

/* The socket's own peer: the balancer when a PROXY header named another client. */
static const union addr_inet *conn_sock_peer(const struct conn *c)
{
	return c->proxy ? &c->proxy->sock_peer : &c->peer;
}

static inline bool conn_has_room(const struct conn *c)
{
	return outbuf_len(&c->out) < conn_limits(c)->output_buffer;
}

/* The handler is open and input may still be framed. */
static bool conn_serving(const struct conn *c)
{
	return c->state == CONN_OPEN || c->state == CONN_EOF;
}

/* The handler sends unasked (chargen) and the output queue has room for more. */
static inline bool conn_wants_more(const struct conn *c)
{
	return conn_handler(c)->more && conn_serving(c) && conn_has_room(c);
}

/* The listener's deadline queues (timeq.h), one per timeout. */
enum conn_tq {
	CONN_TQ_PROXY,     /* PROXY: proxy_timeout from accept */
	CONN_TQ_HANDSHAKE, /* HANDSHAKE: handshake_timeout from its start */
	CONN_TQ_IDLE,      /* OPEN, EOF, CLOSING: idle_timeout from the last byte moved */
	CONN_TQ_SLOW,      /* a started line: slow_client_timeout */
};
_Static_assert(CONN_TQ_SLOW + 1 == LISTENER_TIMEQS, "one queue per conn_tq");

/* The queue c->phase is in for the state it is in; NULL in ADMIT. */
static struct timeq *conn_phase_q(struct conn *c)
{
	switch ((enum conn_state)c->state) {
	case CONN_ADMIT: return NULL;
	case CONN_PROXY: return &c->l->conn_tq[CONN_TQ_PROXY];
	case CONN_HANDSHAKE: return &c->l->conn_tq[CONN_TQ_HANDSHAKE];
	case CONN_OPEN:
	case CONN_EOF:
	case CONN_CLOSING: break;
	}
	return &c->l->conn_tq[CONN_TQ_IDLE];
}

/* A byte moved: the idle deadline starts again (at the queue's tail). */
static void conn_touch(struct conn *c)
{
	if (c->state >= CONN_OPEN)
		timeq_touch(conn_w(c)->loop, &c->l->conn_tq[CONN_TQ_IDLE], &c->phase);
}

/* Derives which watchers run from the connection's state and buffers. */
static void conn_update_watchers(struct conn *c)
{
	struct ev_loop *loop = conn_w(c)->loop;
	bool want_read = false, want_write = false;
	switch ((enum conn_state)c->state) {
	case CONN_ADMIT: break;
	case CONN_PROXY: want_read = true; break;
	case CONN_HANDSHAKE: /* follow the handshake's direction */
		want_write = conn_tp(c)->wants_write(c->tctx);
		want_read = !want_write;
		break;
	case CONN_OPEN:
		want_read = conn_has_room(c);
		if (conn_handler(c)->backend) /* exec: read while the backend has room */
			want_read = want_read && conn_handler(c)->backend->wants_input(c->hstate);
		want_write = outbuf_len(&c->out) > 0 || conn_wants_more(c) || c->read_wants_write;
		break;
	case CONN_EOF: want_write = outbuf_len(&c->out) > 0 || conn_wants_more(c); break;
	case CONN_CLOSING: want_write = outbuf_len(&c->out) > 0; break;
	}
	/* One watcher for both directions: restarted only when the wanted set changes. */
	int want = (want_read ? EV_READ : 0) | (want_write ? EV_WRITE : 0);
	int have = ev_is_active(&c->io) ? c->io.events & (EV_READ | EV_WRITE) : 0;
	if (want != have) {
		if (have)
			ev_io_stop(loop, &c->io);
		ev_io_modify(&c->io, want);
		if (want)
			ev_io_start(loop, &c->io);
	}
	/* Bytes the transport holds (TLS: decrypted) never make the socket readable: wake
	 * ourselves. */
	if (want_read && c->state == CONN_OPEN && conn_tp(c)->pending(c->tctx) > 0)
		ev_feed_event(loop, &c->io, EV_READ);
}

/* Enters state s and starts the deadline it needs (see the diagram in conn.h). */
static void conn_set_state(struct conn *c, enum conn_state s)
{
	struct ev_loop *loop = conn_w(c)->loop;
	struct timeq *old = conn_phase_q(c);
	c->state = (uint8_t)s;
	if (s == CONN_EOF || s == CONN_CLOSING)
		return; /* idle_timeout keeps running: a stuck flush stays bounded */
	if (old)
		timeq_remove(loop, old, &c->phase);
	struct timeq *q = conn_phase_q(c);
	if (q)
		timeq_touch(loop, q, &c->phase);
}

static void conn_begin_close(struct conn *c, enum conn_reason reason)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	c->close_reason = (uint8_t)reason;
}

/* Keeps the worker's total of connection buffer storage up to date. */
static void conn_account(struct conn *c)
{
	/* Below 2^32: max_line and output_buffer bound both buffers (conf.c). */
	uint32_t now = (uint32_t)(linebuf_cap(&c->in) + outbuf_cap(&c->out));
	conn_w(c)->buffered = conn_w(c)->buffered - c->buffered + now;
	c->buffered = now;
}

/*
 * worker_buffer_limit: while the worker is over it, the connection holding
 * the most buffer memory is closed (the hoarder, not whoever reads next).
 * Returns -1 if that was c.
 */
static int conn_enforce_budget(struct conn *c)
{
	struct worker *w = conn_w(c);
	unsigned limit = w->conf->worker_buffer_limit;
	if (limit == 0 || w->buffered <= limit)
		return 0;
	struct conn *big = c;
	for (size_t i = 0; i < w->n_listeners; i++)
		for (int k = CONN_TQ_PROXY; k <= CONN_TQ_IDLE; k++)
			for (struct timeq_node *n = w->listeners[i].conn_tq[k].head; n;
			     n = n->next) {
				struct conn *o = container_of(n, struct conn, phase);
				if (o->buffered > big->buffered)
					big = o;
			}
	char peer[ADDR_STRLEN];
	guard_note(&big->l->guard, GUARD_BUFFER_LIMIT, conn_peer(big, peer), ev_now(w->loop));
	conn_free(big, REASON_BUFFER_LIMIT);
	return big == c ? -1 : 0;
}

/*
 * slow_client_timeout: runs while a started line is incomplete, restarted
 * when a line completes and another one is already started.
 */
static void conn_slow_stop(struct conn *c)
{
	if (!c->slow)
		return;
	timeq_remove(conn_w(c)->loop, &c->l->conn_tq[CONN_TQ_SLOW], &c->slow->node);
	free(c->slow);
	c->slow = NULL;
}

/* Returns -1 if c was freed (no memory for the clock). */
static int conn_update_slow(struct conn *c)
{
	struct timeq *q = &c->l->conn_tq[CONN_TQ_SLOW];
	bool partial = linebuf_len(&c->in) > 0 && c->state == CONN_OPEN;
	if (q->timeout <= 0)
		return 0;
	if (!partial) {
		conn_slow_stop(c);
		return 0;
	}
	if (c->slow && c->slow->lines == c->lines_in)
		return 0;
	if (!c->slow) {
		c->slow = calloc(1, sizeof *c->slow);
		if (!c->slow) {
			conn_free(c, REASON_NO_MEMORY);
			return -1;
		}
		c->slow->c = c;
	}
	timeq_touch(conn_w(c)->loop, q, &c->slow->node);
	c->slow->lines = c->lines_in;
	return 0;
}

#define LONG_LINE_LOG_INTERVAL 10.0 /* seconds between "line longer than max_line" lines */

static void conn_line_too_long(struct conn *c)
{
	unsigned max = conn_limits(c)->max_line;
	/* A peer's doing, at most one line per interval per listener (a flood of long lines
	   must not flood the log); the counter has every one. */
	unsigned long n =
	    log_limit_hit(&c->l->long_line_log, ev_now(conn_w(c)->loop), LONG_LINE_LOG_INTERVAL);
	if (n) {
		char peer[ADDR_STRLEN];
		log_info("%s: peer %s: line longer than max_line (%u bytes): closing (%lu such "
		         "connection(s) since the last line)",
		         c->l->conf->name, conn_peer(c, peer), max, n);
	}
	if (outbuf_printf(&c->out, "ERROR line too long (max_line is %u bytes)\r\n", max) < 0)
		outbuf_reset(&c->out);
	conn_begin_close(c, REASON_LINE_TOO_LONG);
}

/* Hands one line to the handler. */
static void conn_dispatch(struct conn *c, const struct line *line)
{
	c->lines_in++;
	stats_add(c->l->stats, STAT_LINES_IN, 1);
	if (conn_handler(c)->line(c->hstate, line, &c->out) != HANDLER_OK)
		conn_begin_close(c, REASON_HANDLER);
}

static uint64_t conn_count_lines(const char *data, size_t len);

/*
 * Echo (RFC 862), the hot path: data[0..len), just read, goes straight back
 * unframed. With nothing queued it is written at once from where it was read
 * and only what the transport did not take is queued; behind queued output
 * it is queued whole. Reading stops while the queue is at output_buffer
 * (conn_update_watchers), so the queue stays below output_buffer plus one
 * read. The line counters count the newlines that pass.
 */
static void conn_echo(struct conn *c, const char *data, size_t len)
{
	uint64_t lines = conn_count_lines(data, len);
	ssize_t sent = 0;
	c->lines_in += lines;
	stats_add(c->l->stats, STAT_LINES_IN, lines);
	if (outbuf_len(&c->out) == 0 && (sent = conn_tp(c)->write(c->tctx, data, len)) > 0) {
		uint64_t out = (size_t)sent == len ? lines : conn_count_lines(data, (size_t)sent);
		c->lines_out += out;
		stats_add(c->l->stats, STAT_LINES_OUT, out);
		stats_add(c->l->stats, STAT_BYTES_OUT, (uint64_t)sent);
		c->bytes_out += (uint64_t)sent;
		/* No conn_touch: the read that brought data did (conn_take), or the
		 * session opened at this loop time (held-back PROXY-peek bytes). */
	} else {
		sent = 0; /* queued: conn_flush writes it again, and frees on an error */
	}
	if ((size_t)sent < len && outbuf_append(&c->out, data + sent, len - (size_t)sent) < 0)
		conn_begin_close(c, REASON_NO_MEMORY);
}

/* linebuf's sink: one framed line to the handler; framing goes on while there is room. */
static bool conn_sink(void *ctx, const struct line *line)
{
	struct conn *c = ctx;
	conn_dispatch(c, line);
	return conn_serving(c) && conn_has_room(c);
}

/*
 * Input for the handler: data[0..len) just read, after what c->in holds back
 * (len 0: only that). Echo sends it back unframed; otherwise linebuf frames
 * it (the one framing function, fuzzed as is). Returns -1 if c was freed.
 */
static int conn_input(struct conn *c, const char *data, size_t len)
{
	if (conn_handler(c)->echoes) {
		if (linebuf_len(&c->in) > 0) { /* optional PROXY mode: bytes taken while peeking */
			conn_echo(c, linebuf_head(&c->in), linebuf_len(&c->in));
			linebuf_free(&c->in);
		}
		if (len > 0)
			conn_echo(c, data, len);
		return 0;
	}
	switch (linebuf_feed(&c->in, data, len, conn_limits(c)->max_line, conn_sink, c)) {
	case LINEBUF_OK: break;
	case LINEBUF_TOO_LONG: conn_line_too_long(c); break;
	case LINEBUF_NO_MEMORY: conn_free(c, REASON_NO_MEMORY); return -1;
	}
	return 0;
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

/* Writes queued output until it is sent or the transport is full. Returns -1 if c was freed. */
static int conn_flush(struct conn *c)
{
	while (outbuf_len(&c->out) > 0) {
		ssize_t n = conn_tp(c)->write(c->tctx, outbuf_head(&c->out), outbuf_len(&c->out));
		if (n == TRANSPORT_AGAIN)
			return 0;
		if (n == TRANSPORT_ERROR) {
			conn_free(c, conn_tp(c)->error(c->tctx));
			return -1;
		}
		uint64_t lines = conn_count_lines(outbuf_head(&c->out), (size_t)n);
		c->lines_out += lines;
		stats_add(c->l->stats, STAT_LINES_OUT, lines);
		stats_add(c->l->stats, STAT_BYTES_OUT, (uint64_t)n);
		outbuf_consume(&c->out, (size_t)n);
		c->bytes_out += (uint64_t)n;
		conn_touch(c);
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
		if (linebuf_len(&c->in) > 0 && conn_serving(c) && conn_has_room(c) &&
		    conn_input(c, NULL, 0) < 0)
			return -1;
		if (c->state == CONN_EOF && conn_handler(c)->backend) {
			conn_handler(c)->backend->client_eof(
			    c->hstate); /* exec: it closes itself */
		} else if (c->state == CONN_EOF && conn_has_room(c)) {
			/* Only a partial line can be left: it is the last line. */
			if (linebuf_finish(&c->in, conn_limits(c)->max_line, conn_sink, c) ==
			    LINEBUF_TOO_LONG)
				conn_line_too_long(c);
			conn_begin_close(c, REASON_CLIENT_CLOSED);
		}
		if (conn_wants_more(c) && conn_handler(c)->more(c->hstate, &c->out) != HANDLER_OK)
			conn_begin_close(c, REASON_HANDLER);
		size_t before = outbuf_len(&c->out);
		if (conn_flush(c) < 0)
			return -1;
		if (c->state == CONN_CLOSING && outbuf_len(&c->out) == 0) {
			conn_free(c, (enum conn_reason)c->close_reason);
			return -1;
		}
		/* Stop when the socket is full or nothing more can be framed or generated. */
		if (outbuf_len(&c->out) > 0 ||
		    (!conn_wants_more(c) && (before == 0 || linebuf_len(&c->in) == 0)))
			break;
	}
	if (conn_handler(c)->backend && conn_serving(c) && conn_has_room(c))
		conn_handler(c)->backend->drained(
		    c->hstate); /* exec: read the program's output again */
	if (conn_handler(c)->backend && outbuf_len(&c->out) == 0 && conn_tp(c) == &transport_tcp &&
	    conn_serving(c) && conn_handler(c)->backend->output_ended &&
	    conn_handler(c)->backend->output_ended(c->hstate))
		shutdown(conn_fd(c), SHUT_WR); /* exec: the program closed its stdout, still runs */
	conn_account(c);
	if (conn_enforce_budget(c) < 0)
		return -1;
	if (conn_update_slow(c) < 0)
		return -1;
	conn_update_watchers(c);
	return 0;
}

/* Counts what was just read and hands it on. Returns -1 if c was freed. */
static int conn_take(struct conn *c, const char *data, size_t len)
{
	c->bytes_in += (uint64_t)len;
	conn_touch(c);
	stats_add(c->l->stats, STAT_BYTES_IN, (uint64_t)len);
	if (conn_handler(c)->backend && conn_handler(c)->backend->data(c->hstate, data, len) < 0) {
		conn_free(c, REASON_NO_MEMORY);
		return -1;
	}
	if (conn_handler(c)->ignore_input || conn_handler(c)->backend)
		return 0;
	return conn_input(c, data, len);
}

static void conn_read(struct conn *c)
{
	const struct transport *tp = conn_tp(c);
	struct worker *w = conn_w(c);
	for (int round = 0; round < CONN_MAX_ROUNDS; round++) {
		ssize_t n = tp->read(c->tctx, w->rbuf, sizeof w->rbuf);
		c->read_wants_write = n == TRANSPORT_AGAIN && tp->wants_write(c->tctx);
		if (n == TRANSPORT_ERROR) {
			conn_free(c, tp->error(c->tctx));
			return;
		}
		if (n == TRANSPORT_AGAIN)
			break;
		if (n == 0) {
			enum conn_reason why;
			if (tp->eof_discards && tp->eof_discards(c->tctx, linebuf_len(&c->in),
			                                         outbuf_len(&c->out), &why)) {
				linebuf_free(&c->in);
				outbuf_reset(&c->out);
				conn_begin_close(c, why);
			} else if (c->state == CONN_OPEN) {
				c->state = CONN_EOF;
			}
			break;
		}
		if (conn_take(c, w->rbuf, (size_t)n) < 0)
			return;
		/* The socket wakes us for the rest, but not for bytes the transport holds:
		 * drain those now (each read is framed at once, so a partial line stays
		 * bounded). */
		if (c->state != CONN_OPEN || !conn_has_room(c) || tp->pending(c->tctx) == 0)
			break;
		if (conn_handler(c)->backend && !conn_handler(c)->backend->wants_input(c->hstate))
			break;
	}
	conn_advance(c);
}

/* A started line did not complete in time (unless we are the ones not reading). */
static void conn_slow_expired(struct timeq *q, struct timeq_node *n)
{
	struct conn *c = container_of(n, struct conn_slow, node)->c;
	struct ev_loop *loop = conn_w(c)->loop;
	if (!conn_has_room(c)) {
		timeq_touch(loop, q, n);
		return;
	}
	char peer[ADDR_STRLEN];
	guard_note(&c->l->guard, GUARD_SLOW_CLIENT, conn_peer(c, peer), ev_now(loop));
	conn_free(c, REASON_SLOW_CLIENT);
}

/* No byte moved for idle_timeout (the queue expires a node only then). */
static void conn_idle_expired(struct timeq *q, struct timeq_node *n)
{
	struct conn *c = container_of(n, struct conn, phase);
	char peer[ADDR_STRLEN];
	log_info("%s: peer %s: idle for %g s: closing", c->l->conf->name, conn_peer(c, peer),
	         q->timeout);
	conn_free(c, REASON_IDLE_TIMEOUT);
}

static void conn_handshake_expired(struct timeq *q, struct timeq_node *n)
{
	(void)q;
	conn_free(container_of(n, struct conn, phase), REASON_TLS_HANDSHAKE_TIMEOUT);
}

static void conn_proxy_timeout(struct conn *c);

static void conn_proxy_expired(struct timeq *q, struct timeq_node *n)
{
	(void)q;
	conn_proxy_timeout(container_of(n, struct conn, phase));
}

struct conn *conn_first(const struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		for (int k = CONN_TQ_PROXY; k <= CONN_TQ_IDLE; k++)
			if (w->listeners[i].conn_tq[k].head)
				return container_of(w->listeners[i].conn_tq[k].head, struct conn,
				                    phase);
	return NULL;
}

void conn_listener_init(struct listener *l)
{
	const struct listener_conf *lc = l->conf;
	timeq_init(&l->conn_tq[CONN_TQ_PROXY], lc->proxy_timeout, conn_proxy_expired);
	timeq_init(&l->conn_tq[CONN_TQ_HANDSHAKE], lc->tls.handshake_timeout,
	           conn_handshake_expired);
	timeq_init(&l->conn_tq[CONN_TQ_IDLE], lc->limits.idle_timeout, conn_idle_expired);
	timeq_init(&l->conn_tq[CONN_TQ_SLOW], lc->limits.slow_client_timeout, conn_slow_expired);
}

/* A backend session starts (exec): it gets the connection's side of backend.h. */
static int conn_backend_open(struct conn *c, const struct session_info *si)
{
	enum conn_reason reason = REASON_HANDLER;
	struct backend_link link = {.conn = c,
	                            .w = conn_w(c),
	                            .conf = c->l->conf,
	                            .stats = c->l->stats,
	                            .out = &c->out,
	                            .out_limit = conn_limits(c)->output_buffer};
	if (conn_handler(c)->backend->open(c->hstate, si, &link, &reason) < 0) {
		conn_free(c, reason);
		return -1;
	}
	return conn_advance(c);
}

int conn_backend_output(struct conn *c)
{
	return conn_advance(c);
}

int conn_backend_resume(struct conn *c)
{
	conn_update_watchers(c);
	return 0;
}

int conn_backend_done(struct conn *c, enum conn_reason reason)
{
	conn_begin_close(c, reason);
	return conn_advance(c);
}

/* The session starts: OPEN, the handler's open (a greeting), then the first flush.
 * Returns -1 if c was freed. */
static int conn_open(struct conn *c)
{
	const struct handler *h = conn_handler(c);
	conn_set_state(c, CONN_OPEN);
	if (h->open || h->backend) {
		struct sockaddr_storage local;
		socklen_t llen = sizeof local;
		if (getsockname(conn_fd(c), (struct sockaddr *)&local, &llen) < 0)
			memset(&local, 0, sizeof local);
		struct session_info si = {
		    .listener = c->l->conf->name,
		    .peer = (struct sockaddr *)&c->peer,
		    .local = (struct sockaddr *)&local,
		    .sock_peer = &conn_sock_peer(c)->sa,
		    .proxy = c->proxy ? &c->proxy->info : NULL,
		    .draining = conn_w(c)->drain_flag,
		    .qotd = c->l->gl->qotd,
		    .stats = conn_w(c)->stats,
		    .tls = conn_tp(c)->tls_info ? conn_tp(c)->tls_info(c->tctx) : NULL,
		    .cred = addr_cred(&conn_sock_peer(c)->sa), /* unix listeners: SO_PEERCRED */
		};
		if (h->backend)
			return conn_backend_open(c, &si);
		if (h->open(c->hstate, &si, &c->out) != HANDLER_OK)
			conn_begin_close(c, REASON_HANDLER);
	}
	return conn_advance(c);
}

/* One step of the transport's handshake; once done, the session opens. */
static void conn_handshake(struct conn *c)
{
	int r = conn_tp(c)->handshake(c->tctx);
	if (r == TRANSPORT_AGAIN) {
		conn_update_watchers(c);
		return;
	}
	if (r == TRANSPORT_ERROR) {
		conn_free(c, conn_tp(c)->error(c->tctx));
		return;
	}
	/* ev_time, not the loop's cached ev_now: a handshake can end in its accept's iteration. */
	stats_observe(c->l->stats, &stats_hists[1], ev_time() - c->started);
	conn_open(c);
}

/*
 * Past ADMIT (and PROXY): the client, now known, faces allow/deny and the
 * per-source limits if a PROXY header named it; the transport starts on the
 * first byte after any header; then the handshake, or the session at once.
 */
static void conn_start(struct conn *c)
{
	struct worker *w = conn_w(c);
	if (c->l->conf->proxy_mode != PROXY_OFF) {
		enum guard_reason g = guard_admit(&c->l->guard, (struct sockaddr *)&c->peer,
		                                  ev_now(w->loop), &c->ticket);
		if (g != GUARD_OK) {
			conn_free(c, reason_of_guard(g));
			return;
		}
	}
	char peer[ADDR_STRLEN];
	struct transport_env env = {
	    .l = c->l, .peer = conn_peer(c, peer), .id = c->id, .fd = conn_fd(c)};
	enum conn_reason why = REASON_IO_ERROR;
	if (conn_tp(c)->open(&env, &c->tctx, &why) < 0) {
		conn_free(c, why);
		return;
	}
	if (!conn_tp(c)->handshake) {
		conn_open(c);
		return;
	}
	conn_set_state(c, CONN_HANDSHAKE);
	conn_handshake(c);
}

/* PROXY header phase. The header's bytes are peeked, then only they are consumed, so
 * the socket is left on the first byte after it; while reading, c->in holds them. */

/* Closes c because of its header, counting it on the listener (logged once per interval). */
static void conn_proxy_refuse(struct conn *c, enum conn_reason reason, const char *why)
{
	struct listener *l = c->l;
	l->proxy_refused++;
	unsigned long n = log_limit_hit(&l->proxy_log, ev_now(conn_w(c)->loop), PROXY_LOG_INTERVAL);
	if (n) {
		char sock_str[ADDR_STRLEN];
		log_info("listener '%s': refused %lu connection(s) for their PROXY header (%lu in "
		         "all); last: peer %s: %s",
		         l->conf->name, n, l->proxy_refused,
		         addr_format(&conn_sock_peer(c)->sa, sock_str), why);
	}
	conn_free_detail(c, reason, why);
}

/* Takes n bytes already peeked off the socket into conn_w(c)->rbuf + at (and into c->in
 * if keep). Returns -1 if c was freed. */
static int conn_proxy_consume(struct conn *c, size_t at, size_t n, bool keep)
{
	char *buf = conn_w(c)->rbuf + at;
	for (size_t got = 0; got < n;) {
		ssize_t r = recv(conn_fd(c), buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) { /* cannot happen after a successful peek, but check */
			conn_free(c, REASON_IO_ERROR);
			return -1;
		}
		got += (size_t)r;
	}
	c->bytes_in += (uint64_t)n;
	if (keep && linebuf_append(&c->in, buf, n) < 0) {
		conn_free(c, REASON_NO_MEMORY);
		return -1;
	}
	return 0;
}

/* A complete, trusted header: the original client becomes the connection's peer. */
static int conn_proxy_apply(struct conn *c, const struct proxy_info *info)
{
	c->proxy = malloc(sizeof *c->proxy);
	if (!c->proxy) {
		conn_free(c, REASON_NO_MEMORY);
		return -1;
	}
	c->proxy->info = *info;
	c->proxy->sock_peer = c->peer;
	if (!info->local)
		memcpy(&c->peer, &info->src, sizeof c->peer);
	char peer[ADDR_STRLEN], sock_str[ADDR_STRLEN];
	log_debug("%s: peer %s: connection %llu: PROXY v%d header from %s", c->l->conf->name,
	          conn_peer(c, peer), c->id, info->version,
	          addr_format(&c->proxy->sock_peer.sa, sock_str));
	return 0;
}

static bool conn_proxy_trusted(const struct conn *c)
{
	const struct listener_conf *lc = c->l->conf;
	return prefix_list_match(lc->proxy_trusted, lc->n_proxy_trusted, &conn_sock_peer(c)->sa);
}

static void conn_proxy_read(struct conn *c)
{
	enum proxy_mode mode = c->l->conf->proxy_mode;
	size_t have = linebuf_len(&c->in);
	char *buf = conn_w(c)->rbuf; /* what c->in holds, then what the socket has after it */
	if (have > 0)                /* c->in owns no storage while empty */
		memcpy(buf, linebuf_head(&c->in), have);
	ssize_t n = recv(conn_fd(c), buf + have, PROXY_MAX_HEADER - have, MSG_PEEK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_free(c, errno == ECONNRESET ? REASON_RESET : REASON_IO_ERROR);
		return;
	}
	if (n == 0) {
		if (have == 0) /* connect and close: a balancer's plain TCP check */
			conn_free(c, REASON_CLIENT_CLOSED);
		else
			conn_proxy_refuse(c, REASON_PROXY_HEADER,
			                  "client closed inside the PROXY header");
		return;
	}
	struct proxy_info info;
	size_t hl = 0;
	const char *why;
	switch (proxy_parse((const uint8_t *)buf, have + (size_t)n, mode, &info, &hl, &why)) {
	case PROXY_MORE:
		/* Every byte seen belongs to the header (or could): take them off the socket. */
		if (conn_proxy_consume(c, have, (size_t)n, true) == 0 &&
		    linebuf_len(&c->in) == PROXY_MAX_HEADER)
			conn_proxy_refuse(c, REASON_PROXY_HEADER, "PROXY header too long");
		return;
	case PROXY_NONE: /* optional mode, plain client: what was taken is its first input */
		conn_start(c);
		return;
	case PROXY_ERROR: conn_proxy_refuse(c, REASON_PROXY_HEADER, why); return;
	case PROXY_DONE: break;
	}
	if (!conn_proxy_trusted(c)) {
		conn_proxy_refuse(c, REASON_PROXY_HEADER,
		                  "PROXY header from a source not in proxy_trusted");
		return;
	}
	if (conn_proxy_consume(c, have, hl - have, false) < 0 || conn_proxy_apply(c, &info) < 0)
		return;
	linebuf_free(&c->in); /* the header is not input */
	conn_start(c);
}

static void conn_proxy_timeout(struct conn *c)
{
	/* Optional mode: a client that sent nothing yet may wait for a greeting. */
	if (c->l->conf->proxy_mode == PROXY_OPTIONAL && linebuf_len(&c->in) == 0)
		conn_start(c);
	else
		conn_proxy_refuse(c, REASON_PROXY_TIMEOUT,
		                  "no complete PROXY header within proxy_timeout");
}

static void conn_proxy_start(struct conn *c)
{
	if (!conn_proxy_trusted(c) && c->l->conf->proxy_mode != PROXY_OPTIONAL) {
		conn_proxy_refuse(c, REASON_PROXY_HEADER, "source not in proxy_trusted");
		return;
	}
	conn_set_state(c, CONN_PROXY);
	conn_update_watchers(c);
}

/* The socket is ready in the direction(s) conn_update_watchers asked for. */
static void conn_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn *c = container_of(io, struct conn, io);
	(void)loop;
	switch ((enum conn_state)c->state) {
	case CONN_PROXY: conn_proxy_read(c); return;
	case CONN_HANDSHAKE: conn_handshake(c); return; /* either direction moves it */
	case CONN_OPEN:
		/* Reading (and a TLS read that waited for writability) also flushes. */
		if ((revents & EV_READ) || c->read_wants_write)
			conn_read(c);
		else
			conn_advance(c);
		return;
	case CONN_ADMIT:
	case CONN_EOF:
	case CONN_CLOSING: conn_advance(c); return; /* not reading: nothing to do but move on */
	}
}

int conn_create(struct worker *w, struct listener *l, int fd, const struct sockaddr *peer,
                socklen_t peerlen, const struct guard_ticket *ticket)
{
	const struct handler *h = l->conf->handler;
	struct conn *c = calloc(1, sizeof *c + h->state_size);
	if (!c) {
		log_warnx("%s: out of memory for a new connection", l->conf->name);
		reason_count(l->stats, REASON_REFUSED_NO_MEMORY);
		struct guard_ticket t = *ticket;
		guard_release(&l->guard, &t);
		close(fd);
		return -1;
	}
	c->ticket = *ticket;
	c->l = l;
	c->state = CONN_ADMIT;
	c->id = ++w->next_conn_id;
	if (peerlen > sizeof c->peer) /* not IPv4 or IPv6: cannot happen on TCP listeners */
		peerlen = sizeof c->peer;
	memcpy(&c->peer, peer, peerlen);
	c->started = ev_now(w->loop);
	ev_io_init(&c->io, conn_io_cb, fd, 0);
	w->n_conns++;
	l->n_conns++;
	stats_add(l->stats, STAT_CONN_ACCEPTED, 1);
	stats_add(l->stats, STAT_CONN_OPEN, 1);
	if (log_enabled(LOG_DEBUG)) {
		char ps[ADDR_STRLEN];
		log_debug("%s: peer %s: connection %llu accepted", l->conf->name, conn_peer(c, ps),
		          c->id);
	}
	if (l->conf->proxy_mode != PROXY_OFF)
		conn_proxy_start(c);
	else
		conn_start(c);
	return 0;
}

void conn_free_detail(struct conn *c, enum conn_reason reason, const char *detail)
{
	struct worker *w = conn_w(c);
	struct ev_loop *loop = w->loop;
	ev_io_stop(loop, &c->io);
	struct timeq *pq = conn_phase_q(c);
	if (pq)
		timeq_remove(loop, pq, &c->phase);
	conn_slow_stop(c);
	if (c->state >= CONN_HANDSHAKE) /* the transport was opened */
		conn_tp(c)->close(c->tctx, reason);
	close(conn_fd(c));
	guard_release(&c->l->guard, &c->ticket);
	if (conn_handler(c)->close && c->state >= CONN_OPEN) /* the handler was opened */
		conn_handler(c)->close(c->hstate);
	bool via = c->proxy && !c->proxy->info.local;
	char peer[ADDR_STRLEN], sock_str[ADDR_STRLEN];
	const struct reason_desc *rd = reason_desc(reason);
	bool logged = log_enabled(rd->level);
	if (logged || c->l->alog.fd >= 0 || c->l->alog.journal) /* formatted only when written */
		conn_peer(c, peer);
	else
		peer[0] = '\0';
	if (logged)
		log_emit(
		    rd->level,
		    "%s: peer %s%s%s: connection %llu closed (%s) after %.3f s: in %llu bytes %llu "
		    "lines, out %llu bytes",
		    c->l->conf->name, peer, via ? " via " : "",
		    via ? addr_format(&c->proxy->sock_peer.sa, sock_str) : "", c->id,
		    detail ? detail : rd->text, ev_now(loop) - c->started,
		    (unsigned long long)c->bytes_in, (unsigned long long)c->lines_in,
		    (unsigned long long)c->bytes_out);
	struct accesslog_entry e = {.started = c->started,
	                            .ended = ev_now(loop),
	                            .peer = peer,
	                            .lines_in = c->lines_in,
	                            .bytes_in = c->bytes_in,
	                            .lines_out = c->lines_out,
	                            .bytes_out = c->bytes_out,
	                            .reason = rd->text};
	accesslog_write(&c->l->alog, &e);
	stats_sub(c->l->stats, STAT_CONN_OPEN, 1);
	stats_observe(c->l->stats, &stats_hists[0], ev_now(loop) - c->started);
	reason_count(c->l->stats, reason);
	free(c->proxy);
	linebuf_free(&c->in);
	outbuf_free(&c->out);
	conn_account(c);
	listener_conn_gone(c->l);
	free(c);
	worker_conn_gone(w);
}
