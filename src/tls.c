/*
 * tls.c: GnuTLS behind a few non-blocking calls.
 *
 * Owns every GnuTLS object: a listener's credentials, priority cache and
 * session-ticket key (struct tls_ctx, built in the master at config load) and
 * each connection's session (struct tls_session). Must not touch libev,
 * connections or handlers: conn.c drives the session and decides what to do
 * with TLS_IO_AGAIN and TLS_IO_ERROR.
 */
#include "config.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "tls.h"
#include "tls_reason.h"

#define TLS_RETRIES 8         /* non-fatal GnuTLS results (warning alerts) retried per call */
#define TLS_DRAIN_BYTES 65536 /* unread input discarded before closing after an alert */

struct tls_ctx {
	gnutls_certificate_credentials_t cred; /* certificate/key pairs and client CA */
	gnutls_priority_t prio;                /* parsed priority string */
	gnutls_datum_t ticket_key;             /* session-ticket master key, shared by workers */
	gnutls_datum_t *alpn;                  /* ALPN protocols, server preference order */
	unsigned n_alpn;                       /* entries in alpn */
	enum verify_client verify;             /* client certificate policy */
	unsigned ticket_lifetime;              /* seconds; GnuTLS rotates ticket keys with it */
};

/* A session's life; the diagram is in tls.h. */
enum tls_state {
	TLS_ST_HANDSHAKE, /* handshake running */
	TLS_ST_OPEN,      /* application data flows both ways */
	TLS_ST_ENDED,     /* the peer ended its side (s->end says how) */
	TLS_ST_FAILED,    /* fatal error: an alert was sent or received, or the socket died */
};

/* How the peer's side ended (tls_session_recv returned 0), one row each. */
enum tls_end_kind {
	TLS_END_NOTIFY13,  /* TLS 1.3 close_notify: a half-close */
	TLS_END_NOTIFY12,  /* TLS 1.2 close_notify: answer with ours at once */
	TLS_END_TRUNCATED, /* TCP end without close_notify */
	TLS_END_RENEG,     /* renegotiation asked for and refused */
};

static const struct tls_end tls_ends[] = {
    [TLS_END_NOTIFY13] = {REASON_CLIENT_CLOSED, "client sent close_notify", false, false},
    [TLS_END_NOTIFY12] = {REASON_CLIENT_CLOSED,
                          "client sent close_notify (TLS 1.2: pending replies are discarded)",
                          false, true},
    [TLS_END_TRUNCATED] = {REASON_CLIENT_CLOSED, "client closed TCP without close_notify", false,
                           true},
    [TLS_END_RENEG] = {REASON_TLS_RENEGOTIATION,
                       "client asked to renegotiate: refused with a no_renegotiation warning, "
                       "closing with close_notify",
                       true, true},
};

struct tls_session {
	gnutls_session_t gs;       /* the GnuTLS session */
	const struct tls_ctx *ctx; /* its listener's context */
	int fd;                    /* the socket (tls_pull reads it) */
	enum tls_state state;      /* see tls.h */
	const struct tls_end *end; /* TLS_ST_ENDED: how */
	enum conn_reason reason;   /* TLS_ST_FAILED: close reason */
	int first_byte;            /* first byte received, -1 before any */
	bool peer_eof;             /* a read returned the client's TCP end */
	int cert_alert;            /* alert for a rejected client certificate, -1 if none */
	stats_row *stats;          /* where alerts sent are counted, NULL: nowhere */
	size_t send_pending;       /* bytes of a record send that returned AGAIN */
	struct tls_info info;      /* filled when the handshake completes */
	char sni[256];             /* info.server_name storage */
	char alpn[64];             /* info.alpn storage */
	char *subject;             /* info.client_subject storage (gnutls_free) */
	char err[256];             /* last error, for logs */
};

/* Reads a whole file with GnuTLS's loader; -1 with err naming it. */
static int tls_read_file(const char *what, const char *path, gnutls_datum_t *out, char *err,
                         size_t errlen)
{
	errno = 0;
	int r = gnutls_load_file(path, out);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s %s: %s", what, path,
		         errno ? strerror(errno) : gnutls_strerror(r));
		return -1;
	}
	return 0;
}

/* Checks that cert parses and key parses and matches it, then adds the pair. */
static int tls_add_pair(struct tls_ctx *ctx, const char *cert, const char *key, char *err,
                        size_t errlen)
{
	gnutls_datum_t cd = {NULL, 0}, kd = {NULL, 0};
	gnutls_x509_crt_t *crts = NULL;
	gnutls_x509_privkey_t pk = NULL;
	unsigned n = 0;
	int r, rc = -1;
	if (tls_read_file("certificate", cert, &cd, err, errlen) < 0 ||
	    tls_read_file("key", key, &kd, err, errlen) < 0)
		goto out;
	r = gnutls_x509_crt_list_import2(&crts, &n, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (r < 0) {
		snprintf(err, errlen, "certificate %s is not a valid PEM certificate: %s", cert,
		         gnutls_strerror(r));
		goto out;
	}
	if (gnutls_x509_crt_get_expiration_time(crts[0]) < time(NULL))
		log_warnx("certificate %s has expired", cert);
	if ((r = gnutls_x509_privkey_init(&pk)) < 0 ||
	    (r = gnutls_x509_privkey_import2(pk, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		snprintf(err, errlen, "key %s is not a valid PEM private key: %s", key,
		         gnutls_strerror(r));
		goto out;
	}
	r = gnutls_certificate_set_x509_key_mem2(ctx->cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
		snprintf(err, errlen, "key %s does not match certificate %s", key, cert);
	else if (r < 0)
		snprintf(err, errlen, "certificate %s with key %s: %s", cert, key,
		         gnutls_strerror(r));
	else
		rc = 0;
out:
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	if (pk)
		gnutls_x509_privkey_deinit(pk);
	gnutls_free(cd.data);
	if (kd.data) {
		gnutls_memset(kd.data, 0, kd.size);
		gnutls_free(kd.data);
	}
	return rc;
}

/* Records why the client certificate is refused and the alert it gets. */
static int tls_reject_cert(struct tls_session *s, int alert, int r, const char *words,
                           const char *detail)
{
	s->cert_alert = alert;
	snprintf(s->err, sizeof s->err, "%s%s%s", words, detail ? ": " : "", detail ? detail : "");
	return r;
}

/* verify_client = require and no certificate came (found by GnuTLS or by the callback). */
static int tls_no_cert(struct tls_session *s)
{
	/* RFC 8446 §4.4.2.4: certificate_required; RFC 5246 §7.4.6: handshake_failure. */
	int alert = gnutls_protocol_get_version(s->gs) == GNUTLS_TLS1_3
	                ? GNUTLS_A_CERTIFICATE_REQUIRED
	                : GNUTLS_A_HANDSHAKE_FAILURE;
	return tls_reject_cert(s, alert, GNUTLS_E_NO_CERTIFICATE_FOUND,
	                       "client sent no certificate (verify_client = require)", NULL);
}

/*
 * Runs during the handshake when the client's Certificate message arrived:
 * verifies the chain against client_ca and that the certificate may be used
 * for TLS client authentication (extended key usage; a certificate without
 * that extension may be used for anything). A rejection names the alert that
 * fits (tls_reason.c), sent when the handshake fails.
 */
static int tls_verify_client_cb(gnutls_session_t gs)
{
	struct tls_session *s = gnutls_session_get_ptr(gs);
	unsigned n = 0, status = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(gs, &n);
	if (!certs || n == 0)
		return s->ctx->verify == VERIFY_REQUIRE ? tls_no_cert(s) : 0;
	gnutls_typed_vdata_st purpose = {
	    .type = GNUTLS_DT_KEY_PURPOSE_OID,
	    .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
	};
	int r = gnutls_certificate_verify_peers(gs, &purpose, 1, &status);
	if (r < 0)
		return tls_reject_cert(s, GNUTLS_A_BAD_CERTIFICATE, GNUTLS_E_CERTIFICATE_ERROR,
		                       "client certificate cannot be checked", gnutls_strerror(r));
	if (status != 0)
		return tls_reject_cert(s, tls_reason_cert_alert(status),
		                       GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR,
		                       tls_reason_cert_words(status), NULL);
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = {NULL, 0};
	if (gnutls_x509_crt_init(&crt) < 0)
		return GNUTLS_E_MEMORY_ERROR;
	r = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
	if (r >= 0)
		r = gnutls_x509_crt_get_dn3(crt, &dn, 0);
	gnutls_x509_crt_deinit(crt);
	if (r < 0)
		return tls_reject_cert(s, GNUTLS_A_BAD_CERTIFICATE, GNUTLS_E_CERTIFICATE_ERROR,
		                       "client certificate subject unreadable", gnutls_strerror(r));
	gnutls_free(s->subject);
	s->subject = (char *)dn.data;
	return 0;
}

static int tls_ctx_setup(struct tls_ctx *ctx, const struct tls_conf *tc, char *err, size_t errlen)
{
	const char *prio = tc->priority ? tc->priority : TLS_DEFAULT_PRIORITY, *errpos = NULL;
	int r = gnutls_priority_init2(&ctx->prio, prio, &errpos, 0);
	if (r < 0) {
		snprintf(err, errlen, "invalid priority \"%s\" at \"%s\": %s", prio,
		         errpos ? errpos : "", gnutls_strerror(r));
		return -1;
	}
	for (size_t i = 0; i < tc->n_certs; i++)
		if (tls_add_pair(ctx, tc->certificates[i], tc->keys[i], err, errlen) < 0)
			return -1;
	if (tc->client_ca) {
		r = gnutls_certificate_set_x509_trust_file(ctx->cred, tc->client_ca,
		                                           GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			snprintf(err, errlen, "client_ca %s: %s", tc->client_ca,
			         r == 0 ? "no certificate found" : gnutls_strerror(r));
			return -1;
		}
		gnutls_certificate_set_verify_function(ctx->cred, tls_verify_client_cb);
	}
	ctx->alpn = calloc(tc->n_alpn + 1, sizeof *ctx->alpn);
	if (!ctx->alpn)
		fatal("calloc");
	for (size_t i = 0; i < tc->n_alpn; i++) {
		ctx->alpn[i].data = (unsigned char *)tc->alpn[i];
		ctx->alpn[i].size = (unsigned)strlen(tc->alpn[i]);
	}
	ctx->n_alpn = (unsigned)tc->n_alpn;
	r = gnutls_session_ticket_key_generate(&ctx->ticket_key);
	if (r < 0) {
		snprintf(err, errlen, "cannot generate a session ticket key: %s",
		         gnutls_strerror(r));
		return -1;
	}
	return 0;
}

struct tls_ctx *tls_ctx_load(const struct listener_conf *lc, char *err, size_t errlen)
{
	struct tls_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx)
		fatal("calloc");
	ctx->verify = lc->tls.verify_client;
	ctx->ticket_lifetime = (unsigned)lc->tls.ticket_lifetime;
	int r = gnutls_certificate_allocate_credentials(&ctx->cred);
	if (r < 0) {
		snprintf(err, errlen, "GnuTLS credentials: %s", gnutls_strerror(r));
		free(ctx);
		return NULL;
	}
	if (tls_ctx_setup(ctx, &lc->tls, err, errlen) < 0) {
		tls_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	gnutls_certificate_free_credentials(ctx->cred);
	if (ctx->prio)
		gnutls_priority_deinit(ctx->prio);
	if (ctx->ticket_key.data) {
		gnutls_memset(ctx->ticket_key.data, 0, ctx->ticket_key.size);
		gnutls_free(ctx->ticket_key.data);
	}
	free(ctx->alpn); /* the strings belong to the tls_conf */
	free(ctx);
}

/*
 * GnuTLS reads the socket through this, so the first byte a client sends is
 * known when its handshake fails: plain text on a TLS port is named as such.
 */
static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct tls_session *s = p;
	ssize_t n = recv(s->fd, buf, len, 0);
	if (n > 0 && s->first_byte < 0)
		s->first_byte = ((const unsigned char *)buf)[0];
	if (n == 0)
		s->peer_eof = true;
	return n;
}

/* GnuTLS asks whether input is waiting (ms: how long it may wait; 0 on our sockets). */
static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	const struct tls_session *s = p;
	struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

static ssize_t tls_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	const struct tls_session *s = p;
	struct msghdr m = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)iovcnt};
	return sendmsg(s->fd, &m, MSG_NOSIGNAL);
}

struct tls_session *tls_session_new(const struct tls_ctx *ctx, int fd, char *err, size_t errlen)
{
	struct tls_session *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->ctx = ctx;
	s->fd = fd;
	s->first_byte = -1;
	s->cert_alert = -1;
	int r = gnutls_init(&s->gs, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (r < 0) {
		snprintf(err, errlen, "gnutls_init: %s", gnutls_strerror(r));
		free(s);
		return NULL;
	}
	gnutls_session_set_ptr(s->gs, s);
	if ((r = gnutls_priority_set(s->gs, ctx->prio)) < 0 ||
	    (r = gnutls_credentials_set(s->gs, GNUTLS_CRD_CERTIFICATE, ctx->cred)) < 0 ||
	    (r = gnutls_session_ticket_enable_server(s->gs, &ctx->ticket_key)) < 0 ||
	    (ctx->n_alpn && (r = gnutls_alpn_set_protocols(s->gs, ctx->alpn, ctx->n_alpn,
	                                                   GNUTLS_ALPN_SERVER_PRECEDENCE)) < 0)) {
		snprintf(err, errlen, "TLS session setup: %s", gnutls_strerror(r));
		gnutls_deinit(s->gs);
		free(s);
		return NULL;
	}
	gnutls_db_set_cache_expiration(s->gs, (int)ctx->ticket_lifetime);
	gnutls_certificate_server_set_request(
	    s->gs, ctx->verify == VERIFY_REQUIRE    ? GNUTLS_CERT_REQUIRE
	           : ctx->verify == VERIFY_OPTIONAL ? GNUTLS_CERT_REQUEST
	                                            : GNUTLS_CERT_IGNORE);
	gnutls_handshake_set_timeout(s->gs, 0); /* conn.c times the handshake */
	gnutls_transport_set_ptr(s->gs, s);
	gnutls_transport_set_pull_function(s->gs, tls_pull);
	gnutls_transport_set_pull_timeout_function(s->gs, tls_pull_timeout);
	gnutls_transport_set_vec_push_function(s->gs, tls_push);
	return s;
}

void tls_session_set_stats(struct tls_session *s, stats_row *row)
{
	s->stats = row;
}

/* Sends one alert, one non-blocking attempt: a peer that does not read cannot hold us. */
static void tls_send_alert(struct tls_session *s, gnutls_alert_level_t level, int alert)
{
	char name[48];
	size_t used = strlen(s->err);
	int r = gnutls_alert_send(s->gs, level, (gnutls_alert_description_t)alert);
	if (r == 0)
		stats_add(s->stats,
		          level == GNUTLS_AL_FATAL ? STAT_TLS_ALERT_FATAL : STAT_TLS_ALERT_WARNING,
		          1);
	snprintf(s->err + used, sizeof s->err - used,
	         r == 0 ? "; sent alert %s" : "; alert %s not sent (client not reading)",
	         tls_reason_alert_name(alert, name, sizeof name));
}

/*
 * Records a fatal result r as the session's error, in plain words with
 * GnuTLS's text after them, and sends the fatal alert that fits (the one the
 * verify callback chose, else GnuTLS's) unless the peer sent one or the
 * socket is gone. The caller frees the session; it never sends close_notify.
 */
static int tls_fail(struct tls_session *s, int r)
{
	bool hs = s->state == TLS_ST_HANDSHAKE;
	const char *words = tls_reason_words(r, hs);
	const char *plain = hs ? tls_reason_first_byte(s->first_byte) : NULL;
	s->state = TLS_ST_FAILED;
	if (hs && s->cert_alert < 0 &&
	    (r == GNUTLS_E_NO_CERTIFICATE_FOUND || r == GNUTLS_E_CERTIFICATE_REQUIRED))
		(void)tls_no_cert(s); /* GnuTLS found it before the verify callback ran */
	if (s->cert_alert >= 0) {
		/* s->err was set by the verify callback. */
		s->reason = REASON_TLS_CERT_REJECTED;
		tls_send_alert(s, GNUTLS_AL_FATAL, s->cert_alert);
		return TLS_IO_ERROR;
	}
	char name[48];
	if (plain)
		words = plain; /* what GnuTLS says about it is only a consequence */
	else if (s->peer_eof)  /* GnuTLS calls a record cut short a length error */
		words = hs ? "client closed the connection during the handshake"
		           : "client closed TCP in the middle of a record";
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED || r == GNUTLS_E_WARNING_ALERT_RECEIVED)
		snprintf(s->err, sizeof s->err, "%s: %s (GnuTLS: %s)", words,
		         tls_reason_alert_name((int)gnutls_alert_get(s->gs), name, sizeof name),
		         gnutls_strerror(r));
	else if (words)
		snprintf(s->err, sizeof s->err, "%s (GnuTLS: %s)", words, gnutls_strerror(r));
	else
		snprintf(s->err, sizeof s->err, "%s", gnutls_strerror(r));
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		s->reason = hs ? REASON_TLS_HANDSHAKE_FAILED : REASON_TLS_ALERT_RECEIVED;
		return TLS_IO_ERROR;
	}
	if (tls_reason_transport_gone(r)) {
		/* Nobody left to tell. */
		s->reason = hs ? REASON_TLS_HANDSHAKE_FAILED : REASON_TLS_ERROR;
		return TLS_IO_ERROR;
	}
	int level = GNUTLS_AL_FATAL, alert = gnutls_error_to_alert(r, &level);
	s->reason = hs ? REASON_TLS_HANDSHAKE_FAILED : REASON_TLS_ALERT_SENT;
	tls_send_alert(s, GNUTLS_AL_FATAL, alert); /* every error here ends the session */
	return TLS_IO_ERROR;
}

static void tls_fill_info(struct tls_session *s)
{
	gnutls_datum_t proto = {NULL, 0};
	size_t len = sizeof s->sni;
	unsigned type = 0;
	if (gnutls_server_name_get(s->gs, s->sni, &len, &type, 0) < 0 || type != GNUTLS_NAME_DNS)
		s->sni[0] = '\0';
	if (gnutls_alpn_get_selected_protocol(s->gs, &proto) == 0)
		snprintf(s->alpn, sizeof s->alpn, "%.*s", (int)proto.size, proto.data);
	const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(s->gs));
	const char *c = gnutls_cipher_get_name(gnutls_cipher_get(s->gs));
	const char *g = gnutls_group_get_name(gnutls_group_get(s->gs));
	s->info.version = v ? v : "";
	s->info.cipher = c ? c : "";
	s->info.kx = g ? g : gnutls_kx_get_name(gnutls_kx_get(s->gs));
	if (!s->info.kx)
		s->info.kx = "";
	s->info.server_name = s->sni;
	s->info.alpn = s->alpn;
	s->info.client_subject = s->subject ? s->subject : "";
	s->info.resumed = gnutls_session_is_resumed(s->gs) != 0;
}

int tls_session_handshake(struct tls_session *s)
{
	for (int i = 0; i < TLS_RETRIES; i++) {
		int r = gnutls_handshake(s->gs);
		if (r == 0) {
			s->state = TLS_ST_OPEN;
			tls_fill_info(s);
			return 0;
		}
		if (r == GNUTLS_E_AGAIN)
			return TLS_IO_AGAIN;
		if (gnutls_error_is_fatal(r))
			return tls_fail(s, r);
		/* GNUTLS_E_INTERRUPTED, warning alerts: call again. */
	}
	return TLS_IO_AGAIN;
}

/* The peer's side ended as kind: 0, the end of data. */
static ssize_t tls_ended(struct tls_session *s, enum tls_end_kind kind)
{
	s->state = TLS_ST_ENDED;
	s->end = &tls_ends[kind];
	return 0;
}

ssize_t tls_session_recv(struct tls_session *s, void *buf, size_t len)
{
	for (int i = 0; i < TLS_RETRIES; i++) {
		ssize_t r = gnutls_record_recv(s->gs, buf, len);
		if (r > 0)
			return r;
		if (r == 0) /* close_notify: RFC 5246 §7.2.1 and RFC 8446 §6.1 differ */
			return tls_ended(s, gnutls_protocol_get_version(s->gs) == GNUTLS_TLS1_3
			                        ? TLS_END_NOTIFY13
			                        : TLS_END_NOTIFY12);
		if (r == GNUTLS_E_AGAIN)
			return TLS_IO_AGAIN;
		if (r == GNUTLS_E_PREMATURE_TERMINATION)
			return tls_ended(s, TLS_END_TRUNCATED); /* GnuTLS sends nothing more */
		if (r == GNUTLS_E_REHANDSHAKE) {
			/*
			 * Client-initiated renegotiation (TLS 1.2) is refused: a DoS lever
			 * and of no use to a line protocol. RFC 5246 §7.2.2: no_renegotiation
			 * is a warning; we then close with close_notify (tls_session_free).
			 */
			snprintf(s->err, sizeof s->err, "client asked to renegotiate");
			tls_send_alert(s, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
			return tls_ended(s, TLS_END_RENEG);
		}
		if (gnutls_error_is_fatal((int)r))
			return tls_fail(s, (int)r);
	}
	return TLS_IO_AGAIN;
}

ssize_t tls_session_send(struct tls_session *s, const void *buf, size_t len)
{
	for (int i = 0; i < TLS_RETRIES; i++) {
		/* After AGAIN, GnuTLS finishes the pending record when called with NULL, 0. */
		ssize_t r = s->send_pending ? gnutls_record_send(s->gs, NULL, 0)
		                            : gnutls_record_send(s->gs, buf, len);
		if (r >= 0) {
			s->send_pending = 0;
			return r;
		}
		if (r == GNUTLS_E_AGAIN) {
			if (!s->send_pending)
				s->send_pending = len;
			return TLS_IO_AGAIN;
		}
		if (gnutls_error_is_fatal((int)r))
			return tls_fail(s, (int)r);
	}
	return TLS_IO_AGAIN;
}

bool tls_session_wants_write(const struct tls_session *s)
{
	return gnutls_record_get_direction(s->gs) == 1;
}

size_t tls_session_pending(const struct tls_session *s)
{
	return s->state == TLS_ST_OPEN ? gnutls_record_check_pending(s->gs) : 0;
}

const char *tls_session_error(const struct tls_session *s)
{
	return s->err[0] ? s->err : "unknown TLS error";
}

enum conn_reason tls_session_close_reason(const struct tls_session *s)
{
	if (s->state == TLS_ST_ENDED)
		return s->end->reason;
	return s->state == TLS_ST_FAILED ? s->reason : REASON_TLS_ERROR;
}

const struct tls_end *tls_session_end(const struct tls_session *s)
{
	return s->state == TLS_ST_ENDED ? s->end : NULL;
}

const struct tls_info *tls_session_info(const struct tls_session *s)
{
	return &s->info;
}

/*
 * After a fatal alert, reads (and drops) what the client already sent, up
 * to a bound: closing a socket with unread input sends a TCP reset, which
 * can make the client's stack drop the alert before the application reads it.
 */
static void tls_drain(const struct tls_session *s)
{
	char buf[4096];
	for (size_t total = 0; total < TLS_DRAIN_BYTES;) {
		ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

void tls_session_free(struct tls_session *s)
{
	if (!s)
		return;
	if (s->state == TLS_ST_OPEN ||
	    (s->state == TLS_ST_ENDED && s->end != &tls_ends[TLS_END_TRUNCATED]))
		(void)gnutls_bye(s->gs, GNUTLS_SHUT_WR); /* non-blocking: AGAIN means we tried */
	else if (s->state == TLS_ST_FAILED)
		tls_drain(s);
	gnutls_deinit(s->gs);
	gnutls_free(s->subject);
	free(s);
}
