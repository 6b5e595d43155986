/*
 * interactive.c: one session with a line server. Lines typed on stdin (or
 * given with -e) go to the server, whatever the server sends goes to stdout,
 * both at once on one libev loop (non-blocking socket; only connecting and
 * the TLS handshake wait in poll(), bounded by --timeout).
 *
 *   connect (+ TLS handshake) --> OPEN --stdin EOF / last -e line--> half-closed
 *        |                         |                                    |
 *        +-- fail: exit 2/3/4      +-- server closes: exit 0 <----------+
 *                                                       timeout: exit 4 (UDP: 0)
 *
 * Owns the socket, the TLS session and the output queue; stdout is written
 * with blocking writes (a slow terminal slows the reading of the socket).
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../linebuf.h"
#include "../outbuf.h"
#include "interactive.h"
#include "net.h"
#include "tls_client.h"

#define SESSION_HIGH_MARK (256 * 1024) /* queued bytes for the server before stdin pauses */
#define SESSION_READ_SIZE 65536

struct session {
	struct ev_loop *loop;             /* the default loop */
	const struct interactive_opts *o; /* options */
	struct tls_client tc;             /* TLS context (when --tls) */
	gnutls_session_t tls;             /* TLS session, NULL for TCP/UDP */
	int fd;                           /* the socket */
	ev_io sock;                       /* socket watcher (events from session_update) */
	ev_io in;                         /* stdin watcher */
	ev_timer timer;                   /* wait after the input ends */
	struct outbuf out;                /* bytes queued for the server (stream) */
	struct linebuf part;              /* UDP: a stdin line not complete yet */
	size_t tls_again;                 /* TLS: record size to repeat after EAGAIN */
	bool in_eof;                      /* no more input (stdin EOF or -e lines queued) */
	bool half_closed;                 /* close_notify/FIN sent */
	int sock_events;                  /* events sock is started with */
	bool ended;                       /* session_end called */
	int rc;                           /* exit code once the loop ends */
	char buf[SESSION_READ_SIZE];      /* read buffer */
};

static void session_update(struct session *s);

static void session_end(struct session *s, int rc)
{
	if (s->ended)
		return;
	s->ended = true;
	s->rc = rc;
	ev_break(s->loop, EVBREAK_ALL);
}

static int stdout_write(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void session_server_closed(struct session *s)
{
	if (!s->o->quiet)
		fprintf(stderr, "Server closed a connection\n");
	session_end(s, KSOCK_OK);
}

static void session_io_error(struct session *s, const char *what, const char *why)
{
	cli_err("%s %s:%s: %s", what, s->o->t.host, s->o->t.port, why);
	session_end(s, KSOCK_IO);
}

/* Writes queued bytes; returns -1 if the session ended. */
static int session_flush(struct session *s)
{
	while (outbuf_len(&s->out) > 0) {
		size_t len = outbuf_len(&s->out);
		ssize_t n;
		if (s->tls) {
			size_t chunk = s->tls_again ? s->tls_again : len < 16384 ? len : 16384;
			n = gnutls_record_send(s->tls, outbuf_head(&s->out), chunk);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				s->tls_again = chunk;
				return 0;
			}
			s->tls_again = 0;
			if (n < 0) {
				session_io_error(s, "TLS write to", gnutls_strerror((int)n));
				return -1;
			}
		} else {
			n = send(s->fd, outbuf_head(&s->out), len, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n < 0) {
				session_io_error(s, "write to", strerror(errno));
				return -1;
			}
		}
		outbuf_consume(&s->out, (size_t)n);
	}
	return 0;
}

/* Sends one UDP datagram; returns -1 if the session ended. */
static int session_send_datagram(struct session *s, const char *p, size_t n)
{
	if (send(s->fd, p, n, 0) >= 0)
		return 0;
	if (errno == ECONNREFUSED) {
		cli_err("%s:%s: connection refused (nothing listens on that UDP port)",
		        s->o->t.host, s->o->t.port);
		session_end(s, KSOCK_CONNECT);
		return -1;
	}
	cli_err("send to %s:%s: %s (datagram dropped)", s->o->t.host, s->o->t.port,
	        strerror(errno));
	return 0;
}

/* UDP: every complete line of stdin is one datagram, terminator included. */
static int session_udp_input(struct session *s, const char *p, size_t n, bool eof)
{
	if (n > 0 && linebuf_append(&s->part, p, n) < 0) {
		cli_err("out of memory");
		session_end(s, KSOCK_USAGE);
		return -1;
	}
	for (;;) {
		size_t len = linebuf_len(&s->part);
		if (len == 0)
			return 0;
		const char *data = linebuf_head(&s->part);
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) + 1 : eof ? len : 0;
		if (take == 0)
			return 0;
		if (session_send_datagram(s, data, take) < 0)
			return -1;
		linebuf_consume(&s->part, take);
	}
}

static void session_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = w->data;
	if (s->o->t.udp) {
		session_end(s, KSOCK_OK); /* quiet for --timeout after the input ended */
		return;
	}
	cli_err("%s:%s: the server did not close the connection within %g s after the input "
	        "ended",
	        s->o->t.host, s->o->t.port, s->o->timeout);
	session_end(s, KSOCK_TIMEOUT);
}

/* The input ended and everything was written: half-close, then wait. */
static int session_half_close(struct session *s)
{
	if (s->half_closed || outbuf_len(&s->out) > 0)
		return 0;
	if (s->tls) {
		int rc = gnutls_bye(s->tls, GNUTLS_SHUT_WR);
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
			return 0;
		if (rc < 0) {
			session_io_error(s, "TLS close_notify to", gnutls_strerror(rc));
			return -1;
		}
	}
	if (!s->o->t.udp && shutdown(s->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
		session_io_error(s, "shutdown of", strerror(errno));
		return -1;
	}
	s->half_closed = true;
	s->timer.repeat = s->o->timeout;
	ev_timer_again(s->loop, &s->timer);
	return 0;
}

static void session_stdin_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = w->data;
	ssize_t n = read(STDIN_FILENO, s->buf, sizeof s->buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		cli_err("read from stdin: %s", strerror(errno));
		session_end(s, KSOCK_USAGE);
		return;
	}
	if (n == 0)
		s->in_eof = true;
	if (s->o->t.udp) {
		if (session_udp_input(s, s->buf, (size_t)n, n == 0) < 0)
			return;
	} else if (outbuf_append(&s->out, s->buf, (size_t)n) < 0) {
		cli_err("out of memory");
		session_end(s, KSOCK_USAGE);
		return;
	}
	if (session_flush(s) < 0)
		return;
	session_update(s);
}

static void session_read_stream(struct session *s)
{
	for (int i = 0; i < 16; i++) {
		ssize_t n;
		if (s->tls) {
			n = gnutls_record_recv(s->tls, s->buf, sizeof s->buf);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				return;
			if (n == GNUTLS_E_PREMATURE_TERMINATION)
				n = 0; /* closed without close_notify: still a close */
			else if (n < 0 && !gnutls_error_is_fatal((int)n))
				continue;
			if (n < 0) {
				session_io_error(s, "TLS read from", gnutls_strerror((int)n));
				return;
			}
		} else {
			n = recv(s->fd, s->buf, sizeof s->buf, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n < 0) {
				session_io_error(s, "read from", strerror(errno));
				return;
			}
		}
		if (n == 0) {
			session_server_closed(s);
			return;
		}
		if (stdout_write(s->buf, (size_t)n) < 0) {
			cli_err("write to stdout: %s", strerror(errno));
			session_end(s, KSOCK_USAGE);
			return;
		}
	}
	/* Decrypted bytes GnuTLS still holds never wake the loop: come back. */
	if (s->tls && gnutls_record_check_pending(s->tls))
		ev_feed_event(s->loop, &s->sock, EV_READ);
}

static void session_read_datagrams(struct session *s)
{
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(s->fd, s->buf, sizeof s->buf, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0 && errno == ECONNREFUSED) {
			cli_err("%s:%s: connection refused (nothing listens on that UDP port)",
			        s->o->t.host, s->o->t.port);
			session_end(s, KSOCK_CONNECT);
			return;
		}
		if (n < 0) {
			session_io_error(s, "read from", strerror(errno));
			return;
		}
		if (stdout_write(s->buf, (size_t)n) < 0 ||
		    ((n == 0 || s->buf[n - 1] != '\n') && stdout_write("\n", 1) < 0)) {
			cli_err("write to stdout: %s", strerror(errno));
			session_end(s, KSOCK_USAGE);
			return;
		}
		if (s->half_closed) /* UDP: wait until quiet for --timeout */
			ev_timer_again(s->loop, &s->timer);
	}
}

static void session_sock_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = w->data;
	if (revents & EV_WRITE) {
		if (session_flush(s) < 0)
			return;
	}
	if (revents & EV_READ) {
		if (s->o->t.udp)
			session_read_datagrams(s);
		else
			session_read_stream(s);
	}
	session_update(s);
}

/* Derives the watchers from the state: stdin while input is wanted and the
 * queue is short, socket write interest while bytes (or close_notify) wait. */
static void session_update(struct session *s)
{
	if (s->ended)
		return;
	if (s->in_eof && session_half_close(s) < 0)
		return;
	bool want_in = !s->in_eof && outbuf_len(&s->out) < SESSION_HIGH_MARK;
	if (want_in && !ev_is_active(&s->in))
		ev_io_start(s->loop, &s->in);
	else if (!want_in && ev_is_active(&s->in))
		ev_io_stop(s->loop, &s->in);
	int events = EV_READ;
	if (outbuf_len(&s->out) > 0 || (s->in_eof && !s->half_closed))
		events |= EV_WRITE;
	if (s->sock_events != events) {
		ev_io_stop(s->loop, &s->sock);
		ev_io_set(&s->sock, s->fd, events);
		ev_io_start(s->loop, &s->sock);
		s->sock_events = events;
	}
}

/* Waits (poll) for the handshake, bounded by --timeout. Returns an exit code. */
static int session_handshake(struct session *s, char *err, size_t errlen)
{
	unsigned long long deadline = cli_now_ns() + (unsigned long long)(s->o->timeout * 1e9);
	for (;;) {
		int rc = tls_client_handshake(&s->tc, s->tls, err, errlen);
		if (rc == 0)
			return KSOCK_OK;
		if (rc < 0)
			return KSOCK_TLS;
		unsigned long long now = cli_now_ns();
		if (now >= deadline) {
			snprintf(err, errlen, "TLS handshake timed out after %g s", s->o->timeout);
			return KSOCK_TIMEOUT;
		}
		struct pollfd p = {
		    .fd = s->fd, .events = gnutls_record_get_direction(s->tls) ? POLLOUT : POLLIN};
		if (poll(&p, 1, (int)((deadline - now) / 1000000) + 1) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return KSOCK_USAGE;
		}
	}
}

/* Resolves, connects and handshakes. Returns an exit code (err set if not 0). */
static int session_open(struct session *s, char *err, size_t errlen)
{
	const struct interactive_opts *o = s->o;
	struct addrinfo *ai = NULL;
	if (net_resolve(o->t.host, o->t.port, o->t.udp, &ai, err, errlen) < 0)
		return KSOCK_CONNECT;
	s->fd = net_connect(ai, o->timeout, err, errlen);
	int saved = errno;
	freeaddrinfo(ai);
	if (s->fd < 0)
		return saved == ETIMEDOUT ? KSOCK_TIMEOUT : KSOCK_CONNECT;
	if (o->tls.verbose) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		char addr[80] = "?";
		if (getpeername(s->fd, (struct sockaddr *)&ss, &len) == 0)
			net_addr_str((struct sockaddr *)&ss, addr, sizeof addr);
		fprintf(stderr, "ksock: connected to %s (%s)\n", addr,
		        o->t.udp         ? "udp"
		        : o->tls.enabled ? "tls"
		                         : "tcp");
	}
	if (!o->tls.enabled)
		return KSOCK_OK;
	if (tls_client_init(&s->tc, &o->tls, o->t.host, err, errlen) < 0)
		return KSOCK_USAGE;
	s->tls = tls_client_session(&s->tc, s->fd, err, errlen);
	if (!s->tls)
		return KSOCK_USAGE;
	int rc = session_handshake(s, err, errlen);
	if (rc == KSOCK_OK && o->tls.verbose) {
		char desc[256];
		tls_client_describe(s->tls, desc, sizeof desc);
		fprintf(stderr, "ksock: TLS %s, certificate %s\n", desc,
		        o->tls.insecure ? "NOT verified (--insecure)" : "verified");
	}
	return rc;
}

static void session_close(struct session *s)
{
	ev_io_stop(s->loop, &s->sock);
	ev_io_stop(s->loop, &s->in);
	ev_timer_stop(s->loop, &s->timer);
	if (s->tls)
		gnutls_deinit(s->tls);
	if (s->fd >= 0)
		close(s->fd);
	tls_client_free(&s->tc);
	outbuf_free(&s->out);
	linebuf_free(&s->part);
}

int interactive_run(const struct interactive_opts *o)
{
	struct session *s = calloc(1, sizeof *s); /* 64 KiB read buffer: not on the stack */
	char err[1024] = "";
	if (!s) {
		cli_err("out of memory");
		return KSOCK_USAGE;
	}
	s->o = o;
	s->fd = -1;
	s->loop = ev_default_loop(0);
	if (!s->loop) {
		cli_err("cannot initialise libev");
		free(s);
		return KSOCK_USAGE;
	}
	int rc = session_open(s, err, sizeof err);
	if (rc != KSOCK_OK) {
		cli_err("%s", err);
		session_close(s);
		free(s);
		return rc;
	}
	ev_io_init(&s->sock, session_sock_cb, s->fd, EV_READ);
	ev_io_init(&s->in, session_stdin_cb, STDIN_FILENO, EV_READ);
	ev_init(&s->timer, session_timer_cb);
	s->timer.repeat = o->timeout;
	s->sock.data = s->in.data = s->timer.data = s;
	for (size_t i = 0; i < o->n_send; i++) {
		size_t len = strlen(o->send[i]);
		int r = 0;
		if (o->t.udp) {
			r = session_udp_input(s, o->send[i], len, false);
			if (r == 0)
				r = session_udp_input(s, "\n", 1, false);
		} else if (outbuf_append(&s->out, o->send[i], len) < 0 ||
		           outbuf_append(&s->out, "\n", 1) < 0) {
			cli_err("out of memory");
			session_end(s, KSOCK_USAGE);
			r = -1;
		}
		if (r < 0)
			break;
	}
	s->in_eof = o->n_send > 0;
	if (!s->ended && session_flush(s) == 0)
		session_update(s);
	if (!s->ended)
		ev_run(s->loop, 0);
	rc = s->rc;
	session_close(s);
	free(s);
	return rc;
}
