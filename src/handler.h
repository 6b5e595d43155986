/*
 * handler.h: the interface between transports and line protocols.
 *
 * A handler is pure: it sees its own state, one line at a time, and an output
 * queue to append replies to. It never sees a socket, a watcher or TLS, so
 * every transport (TCP, TLS, UDP) feeds the same handler and each handler is
 * unit-tested without a network. The connection allocates state_size bytes
 * of zeroed state for each session and calls open, line..., close.
 *
 * Streams: open may queue a greeting and return HANDLER_CLOSE ("send what is
 * queued, then close": daytime, time, qotd). Datagrams (si->datagram): each
 * datagram is one session of its own (open, one line(), close) and gets at
 * most one reply datagram. The line is the whole datagram, whatever it holds
 * (embedded newlines, nothing at all): a final "\r\n" or "\n" is its
 * terminator, everything before it its text. open must not reply.
 */
#ifndef KSOCKD_HANDLER_H
#define KSOCKD_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "linebuf.h"
#include "outbuf.h"

struct backend_ops;
struct qotd_quotes;
struct stats;

enum handler_result {
	HANDLER_OK = 0,    /* keep the session open */
	HANDLER_CLOSE = 1, /* send what is queued, then close */
};

struct proxy_info;

/* What a handler may know about a TLS session. Strings live as long as the
 * session; "" when absent. */
struct tls_info {
	const char *version;        /* "TLS1.3", "TLS1.2" */
	const char *cipher;         /* "AES-256-GCM", ... */
	const char *kx;             /* key exchange group or method, e.g. "X25519" */
	const char *server_name;    /* SNI the client sent */
	const char *alpn;           /* negotiated ALPN protocol */
	const char *client_subject; /* DN of the verified client certificate */
	bool resumed;               /* the session was resumed (no full handshake) */
};

/* What a handler may know about its session. Valid during open only (copy what is
 * needed), except draining, which lives as long as the process. */
struct session_info {
	const char *listener;          /* listener name */
	const struct sockaddr *peer;   /* client address (the PROXY header's, if one came) */
	const struct sockaddr *local;  /* address the client reached (socket's local end) */
	bool datagram;                 /* one request per datagram (UDP) */
	const struct sockaddr *sock_peer; /* peer of the socket itself (the balancer); may be NULL */
	const struct proxy_info *proxy; /* PROXY header received, NULL if none */
	const volatile int *draining;  /* non-zero while the daemon drains; may be NULL */
	const struct qotd_quotes *qotd; /* the listener's quotes (handler qotd); may be NULL */
	const struct stats *stats;     /* shared counters, read-only (stats, metrics); may be NULL */
	const struct tls_info *tls;    /* TLS details; NULL unless the listener is "tls" */
	size_t reply_room;             /* datagrams: the longest reply that will be sent
	                                  (max_datagram, udp_max_reply_ratio); 0 on streams */
};

struct handler {
	const char *name;  /* as written in the config */
	size_t state_size; /* bytes of per-session state */
	/* Session start: may queue a greeting. NULL if nothing to do. */
	enum handler_result (*open)(void *state, const struct session_info *si, struct outbuf *out);
	/* One complete line (terminator excluded; line->eol says which it was). */
	enum handler_result (*line)(void *state, const struct line *line, struct outbuf *out);
	/* Session end: releases what the state points to. NULL if nothing to do. */
	void (*close)(void *state);
	/*
	 * Streams only: called whenever the connection's output queue has room
	 * (below output_buffer), for handlers that send without being asked
	 * (chargen). Appends a bounded amount; the connection calls it again
	 * once the client has read. NULL for request/reply handlers.
	 */
	enum handler_result (*more)(void *state, struct outbuf *out);
	/* Streams only: input is read, counted and dropped without framing lines
	 * (discard, chargen: no max_line). Datagrams still reach line(). */
	bool ignore_input;
	/* Datagrams: answer even when the reply is empty (echo of an empty datagram,
	 * chargen's 0 characters). Otherwise a datagram for which the handler queued
	 * nothing gets no reply (counted as no_reply). */
	bool empty_reply;
	/* Streams: a raw-bytes echo (RFC 862). Every byte read is sent back as soon as it
	   is read, unframed: the connection writes what it read and queues what the
	   transport did not take; line() is not called, max_line and
	   slow_client_timeout do not apply, output_buffer bounds the queue (reading
	   stops while it is full). Datagrams still reach line(). */
	bool echoes;
	/* Not a line protocol: the connection's bytes go to this backend (backend.h;
	   exec). line is then NULL; close ends the backend's session. */
	const struct backend_ops *backend;
};

/* Looks a handler up by name; NULL if unknown. */
const struct handler *handler_find(const char *name);
/* "echo, hello, ...": for error messages. */
const char *handler_names(void);

#endif
