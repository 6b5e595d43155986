/*
 * bench_conn.c: one load-generator thread and its connections.
 *
 *   CONNECTING --writable--> HANDSHAKE (TLS) --> GREETING (--greeting N) --> RUNNING
 *        |                       |                    |                       |
 *        +---- error: counted, connection closed (connect modes start the next one)
 *
 *   --idle:                                        RUNNING --reply--> HELD
 *
 * RUNNING keeps `pipeline` lines in flight: each batch of replies is answered
 * by one write of as many new lines. Connect modes send one line, wait for
 * its reply, close, and start the next connection. --idle sends one line and
 * holds the connection silent (HELD) until the end; at most `window`
 * connections of a thread are being established at once. Owns struct bconn (the
 * array is freed at the end of bench_thread_run, the only place).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "net.h"

#define BENCH_RBUF 65536

enum bc_state {
	BC_IDLE,       /* no socket */
	BC_CONNECTING, /* non-blocking connect in progress */
	BC_HANDSHAKE,  /* TLS handshake */
	BC_GREETING,   /* skipping the server's greeting lines */
	BC_RUNNING,    /* sending lines and reading replies */
	BC_HELD,       /* --idle: one round trip done, silent until the end */
};

struct bconn {
	struct bench_thread *t;       /* owner */
	int fd;                       /* socket, -1 when idle */
	gnutls_session_t tls;         /* TLS session or NULL */
	ev_io io;                     /* its watcher */
	int events;                   /* events io is started with (0: stopped) */
	enum bc_state state;          /* see the diagram */
	unsigned greet_left;          /* greeting lines still to skip */
	unsigned inflight;            /* lines queued or sent, awaiting replies */
	unsigned ring_head;           /* oldest slot of stamp[] */
	uint64_t *stamp;              /* send time (ns) of each line in flight */
	size_t wq;                    /* bytes queued but not yet written */
	size_t tls_again;             /* TLS: record size to repeat after EAGAIN */
	char *carry;                  /* a reply's first part (expect_len + 1 bytes) */
	size_t carry_len;             /* bytes in carry */
	int carry_bad;                /* the partial reply is already too long */
	unsigned long long t0;        /* connect start (connect modes' latency) */
	unsigned long long next_send; /* -R: when the next line is due */
	ev_timer pace;                /* -R: wakes c when its next line is due */
	unsigned long long seen;      /* last progress (for --timeout) */
};

static int bench_is_connect_mode(enum bench_mode m)
{
	return m == BM_CONNECT || m == BM_HANDSHAKE || m == BM_RESUME;
}

/* One line per connection: connect modes and --idle. */
static int bench_one_line(const struct bench_opts *o)
{
	return bench_is_connect_mode(o->mode) || o->idle;
}

static int bench_is_tls(enum bench_mode m)
{
	return m == BM_TLS || m == BM_HANDSHAKE || m == BM_RESUME;
}

static void bench_err(struct bench_thread *t, enum bench_err kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bench_err(struct bench_thread *t, enum bench_err kind, const char *fmt, ...)
{
	STAT_ADD(&t->st, err[kind], 1);
	if (t->first_err[0] || !fmt)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->first_err, sizeof t->first_err, fmt, ap);
	va_end(ap);
}

static void bconn_set_events(struct bconn *c, int events)
{
	if (c->events == events)
		return;
	struct ev_loop *loop = c->t->loop;
	ev_io_stop(loop, &c->io);
	if (events) {
		ev_io_set(&c->io, c->fd, events);
		ev_io_start(loop, &c->io);
	}
	c->events = events;
}

static void bconn_start(struct bconn *c);
static void bench_thread_check(struct bench_thread *t);
static void bench_idle_fill(struct bench_thread *t);

/* Closes the socket; the lines still in flight are counted as lost later. */
static void bconn_close(struct bconn *c)
{
	struct bench_thread *t = c->t;
	if (c->fd < 0)
		return;
	bconn_set_events(c, 0);
	ev_timer_stop(t->loop, &c->pace);
	if (c->tls) {
		if (c->state == BC_RUNNING)
			gnutls_bye(c->tls, GNUTLS_SHUT_WR); /* best effort, never waited for */
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	close(c->fd);
	c->fd = -1;
	if (c->state == BC_HELD)
		t->held--;
	else if (t->o->idle)
		t->idle_pending--;
	t->outstanding -= c->inflight;
	c->inflight = c->ring_head = 0;
	c->wq = c->tls_again = c->carry_len = 0;
	c->carry_bad = 0;
	c->state = BC_IDLE;
	t->live--;
}

/* An error ended the connection: connect modes go on with the next one. */
static void bconn_fail(struct bconn *c)
{
	struct bench_thread *t = c->t;
	int pending = t->o->idle && c->state != BC_HELD;
	bconn_close(c);
	if (bench_is_connect_mode(t->o->mode))
		bconn_start(c);
	if (pending) {
		t->idle_failed++;
		bench_idle_fill(t);
	}
	bench_thread_check(t);
}

/* Queues up to n more lines (bounded by the budget); line i's latency will
 * be measured from first + i * step (step 0: all sent now; -R: the times they
 * were due, which corrects for coordinated omission). Returns lines queued. */
static unsigned bconn_queue_at(struct bconn *c, unsigned n, unsigned long long first,
                               unsigned long long step)
{
	struct bench_thread *t = c->t;
	const struct bench_opts *o = t->o;
	if (!bench_one_line(o)) {
		if (t->stopping)
			return 0;
		if (n > t->budget)
			n = (unsigned)t->budget;
		t->budget -= n;
		if (t->budget == 0)
			t->stopping = 1;
	}
	for (unsigned i = 0; i < n; i++)
		c->stamp[(c->ring_head + c->inflight + i) % o->pipeline] = first + i * step;
	c->inflight += n;
	t->outstanding += n;
	c->wq += (size_t)n * o->line_len;
	STAT_ADD(&t->st, sent, n);
	return n;
}

static void bconn_queue(struct bconn *c, unsigned n, unsigned long long now)
{
	bconn_queue_at(c, n, now, 0);
}

/* -R: queues the lines that are due (as many as the pipeline has room for),
 * then sleeps until the next one is due. A line that could not be sent on
 * time (the pipeline was full: the server was slow) still counts its latency
 * from when it was due, as wrk2 does. */
static void bconn_pace(struct bconn *c, unsigned long long now)
{
	struct bench_thread *t = c->t;
	const struct bench_opts *o = t->o;
	unsigned long long step = t->interval_ns;
	unsigned room = o->pipeline - c->inflight, due = 0;
	if (c->next_send <= now)
		due = (unsigned)((now - c->next_send) / step + 1 < room
		                     ? (now - c->next_send) / step + 1
		                     : room);
	c->next_send += (unsigned long long)bconn_queue_at(c, due, c->next_send, step) * step;
	ev_timer_stop(t->loop, &c->pace);
	if (c->inflight < o->pipeline && !t->stopping) {
		ev_timer_set(&c->pace, c->next_send > now ? (double)(c->next_send - now) / 1e9 : 0,
		             0);
		ev_timer_start(t->loop, &c->pace);
	}
}

/* Refills c's pipeline: at once, or (-R) as lines fall due. */
static void bconn_fill(struct bconn *c, unsigned long long now)
{
	const struct bench_opts *o = c->t->o;
	if (o->rate > 0)
		bconn_pace(c, now);
	else
		bconn_queue(c, bench_one_line(o) ? 1 : o->pipeline - c->inflight, now);
}

/* Writes queued lines; returns -1 if the connection failed. */
static int bconn_flush(struct bconn *c)
{
	struct bench_thread *t = c->t;
	const struct bench_opts *o = t->o;
	if (o->mode == BM_UDP) {
		/* One datagram per line, all of a batch in one sendmmsg. */
		struct mmsghdr msgs[64];
		struct iovec iov[64];
		while (c->wq > 0) {
			unsigned n = (unsigned)(c->wq / o->line_len);
			n = n > 64 ? 64 : n;
			for (unsigned i = 0; i < n; i++) {
				iov[i].iov_base = t->wbuf;
				iov[i].iov_len = o->line_len;
				memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
				msgs[i].msg_hdr.msg_iov = &iov[i];
				msgs[i].msg_hdr.msg_iovlen = 1;
			}
			int sent = sendmmsg(c->fd, msgs, n, 0);
			if (sent < 0 && (errno == EAGAIN || errno == ENOBUFS))
				return 0;
			if (sent < 0) {
				bench_err(t, errno == ECONNREFUSED ? BE_CONNECT : BE_IO, "send: %s",
				          strerror(errno));
				return -1;
			}
			c->wq -= (size_t)sent * o->line_len;
		}
		return 0;
	}
	while (c->wq > 0) {
		size_t off = (o->line_len - c->wq % o->line_len) % o->line_len;
		size_t len = t->wbuf_len - off < c->wq ? t->wbuf_len - off : c->wq;
		ssize_t n;
		if (c->tls) {
			size_t chunk = c->tls_again ? c->tls_again : len < 16384 ? len : 16384;
			n = gnutls_record_send(c->tls, t->wbuf + off, chunk);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				c->tls_again = chunk;
				return 0;
			}
			c->tls_again = 0;
			if (n < 0) {
				bench_err(t, BE_IO, "TLS write: %s", gnutls_strerror((int)n));
				return -1;
			}
		} else {
			n = send(c->fd, t->wbuf + off, len, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n < 0) {
				bench_err(t, BE_IO, "write: %s", strerror(errno));
				return -1;
			}
		}
		c->wq -= (size_t)n;
	}
	return 0;
}

static void bconn_update(struct bconn *c)
{
	if (c->state == BC_HANDSHAKE)
		bconn_set_events(c, gnutls_record_get_direction(c->tls) ? EV_WRITE : EV_READ);
	else if (c->state == BC_CONNECTING)
		bconn_set_events(c, EV_WRITE);
	else
		bconn_set_events(c, EV_READ | (c->wq > 0 ? EV_WRITE : 0));
}

/* Connected (and handshaken): skip the greeting or start sending. */
static int bconn_ready(struct bconn *c, unsigned long long now)
{
	const struct bench_opts *o = c->t->o;
	c->greet_left = o->greeting;
	c->state = o->greeting ? BC_GREETING : BC_RUNNING;
	if (c->state == BC_RUNNING) {
		if (o->rate > 0) /* spread the connections' schedules over one interval */
			c->next_send = now + c->t->interval_ns *
			                         (unsigned long long)(c - c->t->conns) /
			                         c->t->nconns;
		bconn_fill(c, now);
		if (bconn_flush(c) < 0)
			return -1;
	}
	bconn_update(c);
	return 0;
}

/* Connect modes: the one line was answered; keep the TLS ticket, go again. */
static void bconn_cycle_done(struct bconn *c)
{
	struct bench_thread *t = c->t;
	if (t->o->mode == BM_RESUME && c->tls) {
		gnutls_datum_t d = {0};
		if (gnutls_session_get_data2(c->tls, &d) == 0) {
			gnutls_free(t->ticket.data);
			t->ticket = d;
		}
	}
	bconn_close(c);
	bconn_start(c);
}

/* A reply other than the expected one: the first is told with its bytes. */
static void bench_wrong(struct bench_thread *t, const char *got, size_t stored, size_t len)
{
	const struct bench_opts *o = t->o;
	if (t->first_err[0]) {
		bench_err(t, BE_WRONG, NULL);
		return;
	}
	char want[96], have[128];
	bench_escape(want, sizeof want, o->expect, o->expect_len, 24);
	bench_escape(have, sizeof have, got, stored, 32);
	bench_err(t, BE_WRONG, "wrong reply: expected '%s', received '%s'%s (%zu bytes)", want,
	          have, stored < len && stored <= 32 ? "..." : "", len);
}

/* One complete reply: got[0..stored) of its len bytes (ok: it matched).
 * Returns -1 if c was closed. */
static int bconn_reply(struct bconn *c, int ok, const char *got, size_t stored, size_t len,
                       unsigned long long now)
{
	struct bench_thread *t = c->t;
	const struct bench_opts *o = t->o;
	if (c->state == BC_GREETING) {
		if (--c->greet_left > 0)
			return 0;
		c->state = BC_RUNNING;
		c->next_send = now;
		bconn_fill(c, now);
		return 0;
	}
	if (c->inflight == 0) {
		bench_err(t, BE_EXTRA, "a reply nobody waited for");
		return 0;
	}
	uint64_t sent = bench_is_connect_mode(o->mode) ? c->t0 : c->stamp[c->ring_head];
	hist_record(&t->hist, now - sent);
	c->ring_head = (c->ring_head + 1) % o->pipeline;
	c->inflight--;
	t->outstanding--;
	t->end_ns = now;
	if (ok)
		STAT_ADD(&t->st, ok, 1);
	else
		bench_wrong(t, got, stored, len);
	if (bench_is_connect_mode(o->mode)) {
		bconn_cycle_done(c);
		return -1;
	}
	if (o->idle && c->state == BC_RUNNING) {
		c->state = BC_HELD;
		t->idle_pending--;
		t->held++;
		bench_idle_fill(t);
	}
	return 0;
}

/* Frames replies out of data with memchr; a reply split across reads is
 * completed in carry. Returns the number of replies, or -1 if c was closed. */
static int bconn_consume(struct bconn *c, const char *p, size_t n, unsigned long long now)
{
	const struct bench_opts *o = c->t->o;
	const char *end = p + n;
	int replies = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if (!nl || c->carry_len) {
			/* carry holds expect_len + 1 bytes: enough to tell a wrong reply. */
			size_t cap = o->expect_len + 1,
			       have = c->carry_len < cap ? c->carry_len : cap;
			if (c->carry_len + len > o->expect_len)
				c->carry_bad = 1;
			memcpy(c->carry + have, p, len < cap - have ? len : cap - have);
			c->carry_len += len;
			if (!nl)
				break;
		}
		int ok;
		const char *got = p;
		size_t stored = len, full = len;
		if (c->carry_len) {
			ok = !c->carry_bad && c->carry_len == o->expect_len &&
			     memcmp(c->carry, o->expect, o->expect_len) == 0;
			got = c->carry;
			full = c->carry_len;
			stored = full < o->expect_len + 1 ? full : o->expect_len + 1;
			c->carry_len = 0;
			c->carry_bad = 0;
		} else {
			ok = len == o->expect_len && memcmp(p, o->expect, len) == 0;
		}
		p = nl + 1;
		replies++;
		if (bconn_reply(c, ok, got, stored, full, now) < 0)
			return -1;
	}
	return replies;
}

/* Reads what is there; returns -1 if c was closed. */
static int bconn_read_stream(struct bconn *c)
{
	struct bench_thread *t = c->t;
	for (int i = 0; i < 8; i++) {
		ssize_t n;
		if (c->tls) {
			n = gnutls_record_recv(c->tls, t->rbuf, BENCH_RBUF);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				return 0;
			if (n == GNUTLS_E_PREMATURE_TERMINATION)
				n = 0;
			else if (n < 0 && !gnutls_error_is_fatal((int)n))
				continue;
			if (n < 0) {
				bench_err(t, BE_IO, "TLS read: %s", gnutls_strerror((int)n));
				bconn_fail(c);
				return -1;
			}
		} else {
			n = recv(c->fd, t->rbuf, BENCH_RBUF, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n < 0) {
				bench_err(t, BE_IO, "read: %s", strerror(errno));
				bconn_fail(c);
				return -1;
			}
		}
		if (n == 0) {
			bench_err(t, BE_CLOSED, "the server closed a connection in use");
			bconn_fail(c);
			return -1;
		}
		unsigned long long now = cli_now_ns();
		c->seen = now;
		if (bconn_consume(c, t->rbuf, (size_t)n, now) < 0)
			return -1;
		if ((size_t)n < BENCH_RBUF && !(c->tls && gnutls_record_check_pending(c->tls)))
			return 0;
	}
	/* Decrypted bytes GnuTLS still holds never wake the loop: come back. */
	if (c->tls && gnutls_record_check_pending(c->tls))
		ev_feed_event(t->loop, &c->io, EV_READ);
	return 0;
}

static int bconn_read_datagrams(struct bconn *c)
{
	struct bench_thread *t = c->t;
	const struct bench_opts *o = t->o;
	for (int i = 0; i < 256; i++) {
		ssize_t n = recv(c->fd, t->rbuf, BENCH_RBUF, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0) {
			bench_err(t, errno == ECONNREFUSED ? BE_CONNECT : BE_IO, "UDP receive: %s",
			          strerror(errno));
			bconn_fail(c);
			return -1;
		}
		unsigned long long now = cli_now_ns();
		c->seen = now;
		/* Each line of a datagram is a reply (a server may join them); a
		 * last line without its terminator counts as terminated. */
		const char *p = t->rbuf, *end = t->rbuf + n;
		do {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
			size_t want = nl ? o->expect_len : o->expect_len - 1;
			int ok = len == want && memcmp(p, o->expect, want) == 0;
			if (bconn_reply(c, ok, p, len, len, now) < 0)
				return -1;
			p += len;
		} while (p < end);
	}
	return 0;
}

static int bconn_handshake(struct bconn *c, unsigned long long now)
{
	struct bench_thread *t = c->t;
	char err[512];
	int rc = tls_client_handshake(&t->o->tc, c->tls, err, sizeof err);
	if (rc == 1) {
		bconn_update(c);
		return 0;
	}
	if (rc < 0) {
		bench_err(t, BE_TLS, "%s", err);
		return -1;
	}
	STAT_ADD(&t->st, handshakes, 1);
	if (gnutls_session_is_resumed(c->tls))
		STAT_ADD(&t->st, resumed, 1);
	else if (t->o->mode == BM_RESUME && t->ticket.size)
		bench_err(t, BE_NOT_RESUMED, "the server did not resume the TLS session");
	return bconn_ready(c, now);
}

static void bconn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bconn *c = w->data;
	struct bench_thread *t = c->t;
	unsigned long long now;
	switch (c->state) {
	case BC_CONNECTING:
		if (net_connect_finish(c->fd) < 0) {
			bench_err(t, BE_CONNECT, "connect: %s", strerror(errno));
			bconn_fail(c);
			return;
		}
		STAT_ADD(&t->st, conns, 1);
		now = cli_now_ns();
		c->seen = now;
		if (c->tls) {
			c->state = BC_HANDSHAKE;
			if (bconn_handshake(c, now) < 0)
				bconn_fail(c);
		} else if (bconn_ready(c, now) < 0) {
			bconn_fail(c);
		}
		return;
	case BC_HANDSHAKE:
		if (bconn_handshake(c, cli_now_ns()) < 0)
			bconn_fail(c);
		return;
	case BC_GREETING:
	case BC_RUNNING:
	case BC_HELD: break;
	case BC_IDLE: return;
	}
	if ((revents & EV_WRITE) && bconn_flush(c) < 0) {
		bconn_fail(c);
		return;
	}
	if (revents & EV_READ) {
		int rc = t->o->mode == BM_UDP ? bconn_read_datagrams(c) : bconn_read_stream(c);
		if (rc < 0)
			return; /* c was closed (and maybe restarted) */
		if (c->state == BC_RUNNING && c->inflight < t->o->pipeline && !bench_one_line(t->o))
			bconn_fill(c, cli_now_ns());
		if (bconn_flush(c) < 0) {
			bconn_fail(c);
			return;
		}
	}
	bconn_update(c);
	bench_thread_check(t);
}

/* -R: c's next line is due. */
static void bconn_pace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bconn *c = w->data;
	if (c->state != BC_RUNNING)
		return;
	bconn_pace(c, cli_now_ns());
	if (bconn_flush(c) < 0) {
		bconn_fail(c);
		return;
	}
	bconn_update(c);
	bench_thread_check(c->t);
}

/* Opens c's next connection, unless the thread is stopping. */
static void bconn_start(struct bconn *c)
{
	struct bench_thread *t = c->t;
	const struct bench_opts *o = t->o;
	if (t->stopping)
		return;
	if (bench_is_connect_mode(o->mode)) {
		if (t->budget == 0)
			return;
		if (--t->budget == 0)
			t->stopping = 1;
	}
	c->t0 = c->seen = cli_now_ns();
	const struct in_addr *src = NULL;
	if (o->nsrc)
		src = &o->src[(o->src_offset + t->src_next++ * o->threads + t->id) % o->nsrc];
	c->fd = net_connect_start_from(o->ai, src);
	if (c->fd < 0) {
		bench_err(t, BE_CONNECT, "connect: %s", strerror(errno));
		return; /* the tick timer retries (connect modes) */
	}
	t->live++;
	c->state = BC_CONNECTING;
	if (o->idle)
		t->idle_pending++;
	if (bench_is_tls(o->mode)) {
		char err[512];
		c->tls = tls_client_session(&o->tc, c->fd, err, sizeof err);
		if (!c->tls) {
			bench_err(t, BE_TLS, "%s", err);
			bconn_close(c);
			return;
		}
		if (o->mode == BM_RESUME && t->ticket.size)
			gnutls_session_set_data(c->tls, t->ticket.data, t->ticket.size);
	}
	ev_io_init(&c->io, bconn_io_cb, c->fd, 0);
	c->io.data = c;
	c->events = 0;
	bconn_update(c);
}

/* --idle: starts connections until `window` are being established; a
 * connection that cannot even start counts as failed. */
static void bench_idle_fill(struct bench_thread *t)
{
	while (!t->stopping && t->idle_pending < t->o->window && t->idle_next < t->nconns) {
		struct bconn *c = &t->conns[t->idle_next++];
		bconn_start(c);
		if (c->state == BC_IDLE)
			t->idle_failed++;
	}
}

/* Ends the thread's loop once nothing more will happen; --idle: tells the
 * main thread once every connection was tried, and holds until stopped. */
static void bench_thread_check(struct bench_thread *t)
{
	if (t->o->idle) {
		if (!t->built && t->idle_next == t->nconns && t->idle_pending == 0) {
			t->built_ns = cli_now_ns();
			__atomic_store_n(&t->built, 1, __ATOMIC_RELEASE);
			ev_async_send(t->main_loop, t->done);
		}
		if (t->stopping)
			ev_break(t->loop, EVBREAK_ALL);
		return;
	}
	if (bench_is_connect_mode(t->o->mode)) {
		if (!t->stopping || t->live > 0)
			return;
	} else if (t->live > 0 && !(t->stopping && t->outstanding == 0)) {
		return;
	}
	ev_break(t->loop, EVBREAK_ALL);
}

/* Every 100 ms: the end of --duration, replies later than --timeout (a lost
 * UDP datagram is counted and replaced), and connect-mode restarts. */
static void bench_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bench_thread *t = w->data;
	const struct bench_opts *o = t->o;
	unsigned long long now = cli_now_ns();
	unsigned long long limit = (unsigned long long)(o->timeout * 1e9);
	/* --idle: --duration is how long the connections are held once built. */
	unsigned long long from = o->idle ? t->built_ns : t->start_ns;
	if ((o->duration > 0 && (!o->idle || t->built) &&
	     now - from >= (unsigned long long)(o->duration * 1e9)) ||
	    __atomic_load_n(&t->stop_req, __ATOMIC_RELAXED))
		t->stopping = 1;
	/* --idle, once built: nothing to time out (held connections wait for
	 * nothing), and 20,000 idle connections must not cost a scan each tick. */
	if (o->idle && t->built) {
		bench_thread_check(t);
		return;
	}
	for (unsigned i = 0; i < t->nconns; i++) {
		struct bconn *c = &t->conns[i];
		if (c->state == BC_IDLE) {
			if (bench_is_connect_mode(o->mode))
				bconn_start(c);
			continue;
		}
		if (o->mode == BM_UDP) {
			unsigned lost = 0;
			while (c->inflight > 0 && now - c->stamp[c->ring_head] > limit) {
				c->ring_head = (c->ring_head + 1) % o->pipeline;
				c->inflight--;
				t->outstanding--;
				lost++;
			}
			if (lost) {
				STAT_ADD(&t->st, err[BE_TIMEOUT], lost);
				bconn_fill(c, now);
				if (bconn_flush(c) < 0)
					bconn_fail(c);
			}
			continue;
		}
		int waiting = c->state != BC_HELD && (c->state != BC_RUNNING || c->inflight > 0 ||
		                                      bench_is_connect_mode(o->mode));
		if (waiting && now - c->seen > limit) {
			bench_err(t, BE_TIMEOUT, "no reply within %g s", o->timeout);
			bconn_fail(c);
		}
	}
	bench_thread_check(t);
}

void *bench_thread_run(void *arg)
{
	struct bench_thread *t = arg;
	const struct bench_opts *o = t->o;
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, NULL); /* signals are the main thread's */
	t->loop = ev_loop_new(EVFLAG_AUTO);
	t->conns = calloc(t->nconns, sizeof *t->conns);
	t->rbuf = malloc(BENCH_RBUF);
	uint64_t *stamps = calloc((size_t)t->nconns * o->pipeline, sizeof *stamps);
	char *carries = malloc((size_t)t->nconns * (o->expect_len + 1));
	if (!t->loop || !t->conns || !t->rbuf || !stamps || !carries) {
		snprintf(t->first_err, sizeof t->first_err, "out of memory");
		STAT_ADD(&t->st, err[BE_IO], 1);
		goto out;
	}
	hist_init(&t->hist);
	t->start_ns = t->end_ns = cli_now_ns();
	/* -R: each connection sends at rate / conns, so one line every interval. */
	if (o->rate > 0)
		t->interval_ns = (unsigned long long)((double)o->conns * 1e9 / o->rate);
	if (t->interval_ns == 0)
		t->interval_ns = 1;
	ev_timer_init(&t->tick, bench_tick_cb, 0.1, 0.1);
	t->tick.data = t;
	ev_timer_start(t->loop, &t->tick);
	for (unsigned i = 0; i < t->nconns; i++) {
		struct bconn *c = &t->conns[i];
		c->t = t;
		c->fd = -1;
		c->stamp = stamps + (size_t)i * o->pipeline;
		c->carry = carries + (size_t)i * (o->expect_len + 1);
		ev_timer_init(&c->pace, bconn_pace_cb, 0, 0);
		c->pace.data = c;
		if (!o->idle)
			bconn_start(c);
	}
	bench_idle_fill(t);
	bench_thread_check(t);
	ev_run(t->loop, 0);
	t->held_at_end = t->held;
	for (unsigned i = 0; i < t->nconns; i++) {
		struct bconn *c = &t->conns[i];
		/* --reset: SO_LINGER 0 makes close() send RST and free the socket at
		 * once; a close would leave each in TIME_WAIT here for 60 s, where
		 * 100,000 of them slow the next run's lookups and timers (and pass
		 * net.ipv4.tcp_max_tw_buckets). */
		if (o->reset && c->fd >= 0 && c->state == BC_HELD)
			(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER,
			                 &(struct linger){.l_onoff = 1, .l_linger = 0},
			                 sizeof(struct linger));
		bconn_close(c);
	}
	ev_timer_stop(t->loop, &t->tick);
out:
	free(stamps);
	free(carries);
	free(t->conns);
	t->conns = NULL;
	free(t->rbuf);
	gnutls_free(t->ticket.data);
	if (t->loop)
		ev_loop_destroy(t->loop);
	__atomic_store_n(&t->finished, 1, __ATOMIC_RELEASE);
	ev_async_send(t->main_loop, t->done);
	return NULL;
}
