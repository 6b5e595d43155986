/*
 * transport.h: the byte stream under a connection.
 *
 * conn.c frames lines, applies back-pressure and limits; it moves bytes only
 * through one of these, chosen when the connection is created (plain TCP:
 * transport_tcp.c; TLS: transport_tls.c over tls.c). A transport never sees
 * lines, handlers or watchers: it reads, writes and says which socket
 * direction it waits for. Adding one (a unix stream socket, a pipe pair to a
 * child process) means filling in this struct; see doc/ARCHITECTURE.md.
 *
 *   open --handshake AGAIN...--> done --read/write...--> close(why)
 *     |                                     |
 *     +--TRANSPORT_ERROR (error() says why)--+--> close(why)
 */
#ifndef KSOCKD_TRANSPORT_H
#define KSOCKD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "reason.h"

struct listener;
struct tls_info;

enum transport_io {
	TRANSPORT_AGAIN = -1, /* would block: wait for the direction wants_write() names */
	TRANSPORT_ERROR = -2, /* fatal: error() says why; only close() the transport now */
};

/* What a transport may know about the connection it serves (for its logs and counters). */
struct transport_env {
	struct listener *l;    /* listener (name, counters, TLS context) */
	const char *peer;      /* the client, formatted; valid only during open(): copy it */
	unsigned long long id; /* connection id, for logs */
	int fd;                /* the connected, non-blocking socket (conn owns and closes it) */
};

struct transport {
	const char *name; /* "tcp", "tls" */
	/* Starts on env->fd: *ctx is passed to every other call. -1 if it cannot start
	 * (logged); *why then says how to count it. env is copied if needed. */
	int (*open)(const struct transport_env *env, void **ctx, enum conn_reason *why);
	/* One handshake step: 0 done, TRANSPORT_AGAIN or TRANSPORT_ERROR. NULL: none. */
	int (*handshake)(void *ctx);
	/* Bytes read (>0), 0 at the peer's end of data, TRANSPORT_AGAIN or TRANSPORT_ERROR. */
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	/* Bytes written (>0), TRANSPORT_AGAIN or TRANSPORT_ERROR. After AGAIN, call again
	 * with the same bytes at the head of buf (more may follow). */
	ssize_t (*write)(void *ctx, const void *buf, size_t len);
	/* Bytes already read from the socket and held, which the socket will not announce
	 * again (TLS: decrypted records). */
	size_t (*pending)(const void *ctx);
	/* Whether the last TRANSPORT_AGAIN waits for the socket to be writable (else readable). */
	bool (*wants_write)(const void *ctx);
	/* Why the last TRANSPORT_ERROR happened, as a close reason; called at once after it
	 * (the TCP transport reads errno). */
	enum conn_reason (*error)(const void *ctx);
	/*
	 * After read() returned 0: whether what is still pending (partial bytes of
	 * input, replies not yet sent) must be dropped and the connection closed
	 * under *why (TLS 1.2 close_notify, a TLS end without close_notify, a
	 * refused renegotiation), or served first as on TCP (false). The counts
	 * are for the transport's log line. NULL: always served first.
	 */
	bool (*eof_discards)(void *ctx, size_t partial, size_t unsent, enum conn_reason *why);
	/* TLS details for the handler (session_info.tls), NULL if none. */
	const struct tls_info *(*tls_info)(const void *ctx);
	/* Orderly end (TLS: close_notify if the session is healthy; never blocks) and release.
	 * why: the connection's close reason. The socket itself is conn's to close. */
	void (*close)(void *ctx, enum conn_reason why);
};

extern const struct transport transport_tcp;
extern const struct transport transport_tls;

#endif
