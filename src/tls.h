/*
 * tls.h: TLS for stream connections, with GnuTLS.
 *
 * Two objects:
 * - struct tls_ctx: a listener's credentials (certificate/key pairs chosen by
 *   SNI, client CA), priority cache, ALPN list and session-ticket master key.
 *   Built by tls_ctx_load() in the master while the config loads, so a bad
 *   file fails `ksockd -t` and the reload; owned by the listener_conf and
 *   inherited, read-only, by the workers forked for that config generation.
 *   The ticket key is therefore shared by all workers of a generation (a
 *   client resumes on any of them) and replaced by every reload.
 * - struct tls_session: one connection's GnuTLS session on a non-blocking
 *   socket. Calls never block: TLS_IO_AGAIN means "call again when the socket
 *   is ready in the direction tls_session_wants_write() names".
 *
 *   HANDSHAKE --done--> OPEN --the client's end (recv returns 0)--> ENDED
 *       |                 |                                           |
 *       +-----fatal-------+--> FAILED                                  |
 *                                |                                     |
 *                       free: no close_notify          free: close_notify
 *                                                   (not after a bare TCP end)
 *
 * FAILED: the fatal alert that fits was sent, one non-blocking try (none if
 * the client sent one or the socket is gone). ENDED: tls_session_end() says
 * how (close_notify in TLS 1.2 or 1.3, a TCP end, a refused renegotiation).
 * A client-initiated renegotiation (TLS 1.2) gets a warning no_renegotiation
 * and ends the session (ENDED, then close_notify): see ksockd.conf(5).
 */
#ifndef KSOCKD_TLS_H
#define KSOCKD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"
#include "handler.h"
#include "reason.h"
#include "stats.h"

/* Used when a listener sets no 'priority': TLS 1.2/1.3, ECDHE, AEAD only, our order. */
#define TLS_DEFAULT_PRIORITY                                                                       \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

enum tls_io {
	TLS_IO_AGAIN = -1, /* would block: wait for the direction tls_session_wants_write() says */
	TLS_IO_ERROR = -2, /* fatal: tls_session_error() says why; only free the session now */
};

struct tls_ctx;
struct tls_session;

/* How the client's side ended, once tls_session_recv() returned 0. */
struct tls_end {
	enum conn_reason reason; /* close reason */
	const char *why;         /* plain words for the log */
	bool notable;            /* logged even when nothing is dropped */
	bool discard;            /* drop the partial line and unsent replies, then close:
	                            TLS 1.2 close_notify (RFC 5246 §7.2.1), TCP end without
	                            close_notify (GnuTLS can send nothing more), renegotiation.
	                            false: TLS 1.3 close_notify, a half-close (RFC 8446 §6.1):
	                            the last line is answered and replies are sent first. */
};

/* Master: loads lc->tls; NULL with err naming the file at fault. */
struct tls_ctx *tls_ctx_load(const struct listener_conf *lc, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);

/* Worker: a server session on the connected non-blocking fd; NULL with err set. */
struct tls_session *tls_session_new(const struct tls_ctx *ctx, int fd, char *err, size_t errlen);
/* 0 when the handshake is complete, TLS_IO_AGAIN or TLS_IO_ERROR. */
int tls_session_handshake(struct tls_session *s);
/* Plaintext bytes read (>0), 0 at the peer's end of data, TLS_IO_AGAIN or TLS_IO_ERROR. */
ssize_t tls_session_recv(struct tls_session *s, void *buf, size_t len);
/* Plaintext bytes written (>0), TLS_IO_AGAIN or TLS_IO_ERROR. After AGAIN, call again with
 * the same bytes at the head of buf (more may follow): the pending record is finished first. */
ssize_t tls_session_send(struct tls_session *s, const void *buf, size_t len);
/* Whether the last TLS_IO_AGAIN waits for the socket to be writable (else readable). */
bool tls_session_wants_write(const struct tls_session *s);
/* Decrypted bytes GnuTLS holds that the socket will not announce again. */
size_t tls_session_pending(const struct tls_session *s);
/* Why the last TLS_IO_ERROR happened: plain words, GnuTLS's text, the alert sent if any. */
const char *tls_session_error(const struct tls_session *s);
/* The close reason after TLS_IO_ERROR or an end (REASON_TLS_ALERT_SENT,
 * REASON_TLS_CERT_REJECTED, REASON_TLS_RENEGOTIATION, ...). */
enum conn_reason tls_session_close_reason(const struct tls_session *s);
/* How the client's side ended, NULL while it has not. */
const struct tls_end *tls_session_end(const struct tls_session *s);
/* Counts the alerts this session sends in row (STAT_TLS_ALERT_*); NULL: not counted. */
void tls_session_set_stats(struct tls_session *s, stats_row *row);
/* Version, cipher, SNI, ALPN, client subject: valid once the handshake is done. */
const struct tls_info *tls_session_info(const struct tls_session *s);
/* Sends close_notify (best effort, never blocks) unless the session failed or the
 * client's TCP end came without one, then frees. */
void tls_session_free(struct tls_session *s);

#endif
