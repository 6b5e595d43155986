/*
 * transport_tls.c: the TLS transport: a thin adapter from struct transport to
 * tls.c's session calls. It also owns what only TLS has: the handshake
 * counters, the handshake log lines, and the per-listener rate limit on
 * logging TLS failures a peer caused. The GnuTLS session itself, and every
 * piece of its state, stays in tls.c.
 */
#include "config.h"

#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "addr.h"
#include "listener.h"
#include "log.h"
#include "tls.h"
#include "transport.h"
#include "worker.h"

#define TLS_LOG_WINDOW 10.0 /* seconds per window of TLS failure logs, per listener */
#define TLS_LOG_BURST 5     /* TLS failures logged per window; the rest are counted */

struct tls_transport {
	struct tls_session *s;      /* tls.c's session */
	struct transport_env env;   /* listener, peer, id (a copy; peer points at peer_str) */
	char peer_str[ADDR_STRLEN]; /* the client, formatted (conn keeps no string) */
	bool done;                  /* the handshake completed */
	bool counted;               /* its failure was counted already */
};

/* Logs a TLS failure a peer caused, at most TLS_LOG_BURST per window and listener. */
static void tt_log(const struct tls_transport *t, const char *what, const char *why)
{
	struct listener *l = t->env.l;
	ev_tstamp now = ev_now(l->w->loop);
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
	log_info("%s: peer %s: %s: %s", l->conf->name, t->env.peer, what, why);
}

static void tt_handshake_failed(struct tls_transport *t, const char *what, const char *why)
{
	if (t->counted)
		return;
	t->counted = true;
	stats_add(t->env.l->stats, STAT_TLS_HANDSHAKE_FAILED, 1);
	tt_log(t, what, why);
}

static int tt_open(const struct transport_env *env, void **ctx, enum conn_reason *why)
{
	const struct listener_conf *lc = env->l->conf;
	char err[256];
	int one = 1;
	/*
	 * A TLS flight is several records written one after another (a resumed
	 * TLS 1.3 handshake ends with a session ticket, then the first reply):
	 * without TCP_NODELAY, Nagle holds the last one for the peer's delayed
	 * ACK, ~40 ms per handshake.
	 */
	if (setsockopt(env->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		log_debug("%s: peer %s: TCP_NODELAY: %m", lc->name, env->peer);
	struct tls_transport *t = calloc(1, sizeof *t);
	if (!t) {
		log_warnx("%s: peer %s: out of memory for a TLS session", lc->name, env->peer);
		*why = REASON_NO_MEMORY;
		return -1;
	}
	t->env = *env;
	snprintf(t->peer_str, sizeof t->peer_str, "%s", env->peer);
	t->env.peer = t->peer_str;
	t->s = tls_session_new(env->l->gl->tls, env->fd, err, sizeof err);
	if (!t->s) {
		log_warnx("%s: peer %s: %s", lc->name, env->peer, err);
		free(t);
		*why = REASON_TLS_ERROR;
		return -1;
	}
	tls_session_set_stats(t->s, env->l->stats);
	*ctx = t;
	return 0;
}

static int tt_handshake(void *ctx)
{
	struct tls_transport *t = ctx;
	int r = tls_session_handshake(t->s);
	if (r == TLS_IO_AGAIN)
		return TRANSPORT_AGAIN;
	if (r == TLS_IO_ERROR) {
		tt_handshake_failed(t, "TLS handshake failed", tls_session_error(t->s));
		return TRANSPORT_ERROR;
	}
	const struct listener *l = t->env.l;
	const struct tls_info *ti = tls_session_info(t->s);
	t->done = true;
	stats_add(l->stats, STAT_TLS_HANDSHAKE_OK, 1);
	if (ti->resumed)
		stats_add(l->stats, STAT_TLS_RESUMED, 1);
	log_debug("%s: peer %s: connection %llu: %s %s %s%s, SNI '%s', ALPN '%s'", l->conf->name,
	          t->env.peer, t->env.id, ti->version, ti->kx, ti->cipher,
	          ti->resumed ? " (resumed)" : "", ti->server_name, ti->alpn);
	if (ti->client_subject[0])
		log_info("%s: peer %s: client certificate verified: %s", l->conf->name, t->env.peer,
		         ti->client_subject);
	return 0;
}

static ssize_t tt_read(void *ctx, void *buf, size_t len)
{
	struct tls_transport *t = ctx;
	ssize_t n = tls_session_recv(t->s, buf, len);
	if (n == TLS_IO_AGAIN)
		return TRANSPORT_AGAIN;
	if (n == TLS_IO_ERROR) {
		tt_log(t, "TLS read failed", tls_session_error(t->s));
		return TRANSPORT_ERROR;
	}
	return n;
}

static ssize_t tt_write(void *ctx, const void *buf, size_t len)
{
	struct tls_transport *t = ctx;
	ssize_t n = tls_session_send(t->s, buf, len);
	if (n == TLS_IO_AGAIN)
		return TRANSPORT_AGAIN;
	if (n == TLS_IO_ERROR) {
		tt_log(t, "TLS write failed", tls_session_error(t->s));
		return TRANSPORT_ERROR;
	}
	return n;
}

static size_t tt_pending(const void *ctx)
{
	const struct tls_transport *t = ctx;
	return tls_session_pending(t->s);
}

static bool tt_wants_write(const void *ctx)
{
	const struct tls_transport *t = ctx;
	return tls_session_wants_write(t->s);
}

static enum conn_reason tt_error(const void *ctx)
{
	const struct tls_transport *t = ctx;
	return tls_session_close_reason(t->s);
}

/* How the client ended its side decides what happens to what is pending (see struct tls_end). */
static bool tt_eof_discards(void *ctx, size_t partial, size_t unsent, enum conn_reason *why)
{
	struct tls_transport *t = ctx;
	const struct tls_end *e = tls_session_end(t->s);
	if (!e || !e->discard)
		return false;
	if (partial || unsent || e->notable) {
		char what[128] = "nothing was pending";
		if (partial || unsent)
			snprintf(
			    what, sizeof what,
			    "dropped a partial line of %zu bytes and %zu bytes of unsent replies",
			    partial, unsent);
		tt_log(t, e->why, what);
	}
	*why = e->reason;
	return true;
}

static const struct tls_info *tt_info(const void *ctx)
{
	const struct tls_transport *t = ctx;
	return tls_session_info(t->s);
}

static void tt_close(void *ctx, enum conn_reason why)
{
	struct tls_transport *t = ctx;
	if (why == REASON_TLS_HANDSHAKE_TIMEOUT)
		tt_handshake_failed(t, "TLS handshake timed out",
		                    "not complete within handshake_timeout");
	tls_session_free(t->s); /* close_notify first, if the session is healthy */
	free(t);
}

const struct transport transport_tls = {
    .name = "tls",
    .open = tt_open,
    .handshake = tt_handshake,
    .read = tt_read,
    .write = tt_write,
    .pending = tt_pending,
    .wants_write = tt_wants_write,
    .error = tt_error,
    .eof_discards = tt_eof_discards,
    .tls_info = tt_info,
    .close = tt_close,
};
