/*
 * <ksockd/handler.h>: the line-handler API of ksockd, public and versioned.
 *
 * A handler is pure: it sees its own state, one line at a time, and an output
 * queue to append replies to. It never sees a socket, a watcher or TLS, so
 * every transport (TCP, TLS, UDP) feeds the same handler. The built-in
 * handlers and the handlers of plug-ins are written against this one header.
 *
 * Sessions: the daemon allocates state_size bytes of zeroed state per session
 * and calls open, then line for each complete line, then close. Streams: open
 * may queue a greeting and return HANDLER_CLOSE ("send what is queued, then
 * close"). Datagrams (si->datagram): each datagram is one session whose one
 * line() call gets the whole datagram and whose output is at most one reply of
 * at most si->reply_room bytes; open must not reply.
 *
 * What a handler may do: compute, allocate bounded memory it frees in close,
 * append a bounded amount of output per call. What it must not do: block
 * (sleep, disk or network I/O, locks held by others), open sockets or files per
 * line, keep pointers into `line` after the call, call exit. A handler runs
 * inside a worker's event loop: while it runs, no other client of that worker
 * is served. A crash takes down its worker (the master starts a new one and
 * counts the restart); the other workers keep serving.
 *
 * A plug-in is a shared object exporting one symbol, KSOCKD_PLUGIN_SYMBOL, of
 * type struct ksockd_plugin; see KSOCKD_PLUGIN() below and doc/PLUGINS.md.
 */
#ifndef KSOCKD_PUBLIC_HANDLER_H
#define KSOCKD_PUBLIC_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/*
 * The ABI version: bumped whenever a struct below changes layout or meaning.
 * The daemon loads a plug-in only if it was built against the same version.
 */
#define KSOCKD_HANDLER_ABI 1

#ifdef __cplusplus
extern "C" {
#endif

struct outbuf;      /* the session's output queue (opaque to handlers) */
struct qotd_quotes; /* the quotes of a qotd listener (opaque to plug-ins) */
struct stats;       /* the shared counters (opaque to plug-ins) */
struct proxy_info;  /* the PROXY header received (opaque to plug-ins) */
struct backend_ops; /* a connection's other end that is not a line protocol (built-ins) */

enum handler_result {
	HANDLER_OK = 0,    /* keep the session open */
	HANDLER_CLOSE = 1, /* send what is queued, then close */
};

/* One complete line as received. */
struct line {
	const char *data; /* first byte of the line */
	size_t len;       /* bytes, terminator excluded */
	const char *eol;  /* the terminator as received ("\n", "\r\n", "" at EOF), at data + len */
	size_t eol_len;   /* its length */
};

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

/* The credentials of a unix-domain peer (SO_PEERCRED / SCM_CREDENTIALS). */
struct peer_cred {
	pid_t pid; /* process that connected (or sent the datagram) */
	uid_t uid; /* its effective user id */
	gid_t gid; /* its effective group id */
};

/* What a handler may know about its session. Valid during open only (copy what is
 * needed), except draining, which lives as long as the process. */
struct session_info {
	const char *listener;         /* listener name */
	const struct sockaddr *peer;  /* client address (the PROXY header's, if one came) */
	const struct sockaddr *local; /* address the client reached (socket's local end) */
	bool datagram;                /* one request per datagram (UDP) */
	const struct sockaddr
	    *sock_peer;                 /* peer of the socket itself (the balancer); may be NULL */
	const struct proxy_info *proxy; /* PROXY header received, NULL if none */
	const volatile int *draining;   /* non-zero while the daemon drains; may be NULL */
	const struct qotd_quotes *qotd; /* the listener's quotes (built-in qotd); may be NULL */
	const struct stats *stats;      /* shared counters (built-ins only); may be NULL */
	const struct tls_info *tls;     /* TLS details; NULL unless the listener is "tls" */
	size_t reply_room;              /* datagrams: the longest reply that will be sent
	                                   (max_datagram, udp_max_reply_ratio); 0 on streams */
	/* Appended fields (the daemon allocates session_info and handlers only read it, so
	   a plug-in built before them still works: the ABI stays). */
	const struct peer_cred *cred; /* unix listeners: the peer's credentials; else NULL */
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
	/* Streams: a raw-bytes echo (RFC 862). Every byte read is sent back as soon as
	 * it is read, unframed: line() is not called, max_line and slow_client_timeout
	 * do not apply, output_buffer bounds the queue. Datagrams still reach line(). */
	bool echoes;
	/* Not a line protocol: the connection's bytes go to this backend (the built-in
	 * exec: a program per connection); line is then NULL. Plug-ins leave it NULL
	 * (the loader refuses one that does not). */
	const struct backend_ops *backend;
};

/*
 * Output, for plug-ins (the built-in handlers use the daemon's own names).
 * Each returns 0, or -1 when the queue cannot grow (out of memory): return
 * HANDLER_CLOSE then.
 */
int ksockd_out_append(struct outbuf *out, const void *data, size_t len);
int ksockd_out_printf(struct outbuf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Bytes queued and not yet sent: bound what more() appends with it. */
size_t ksockd_out_len(const struct outbuf *out);

/* What a plug-in exports under the name KSOCKD_PLUGIN_SYMBOL. */
struct ksockd_plugin {
	unsigned abi;                          /* KSOCKD_HANDLER_ABI when built */
	size_t handler_size;                   /* sizeof(struct handler) when built */
	const char *name;                      /* the plug-in's name, for logs */
	const struct handler *const *handlers; /* its handlers, NULL-terminated */
};

#define KSOCKD_PLUGIN_SYMBOL "ksockd_plugin"

/* Declares a plug-in: KSOCKD_PLUGIN("kv", &kv_handler) */
#define KSOCKD_PLUGIN(pname, ...)                                                                  \
	__attribute__((visibility("default"))) const struct ksockd_plugin ksockd_plugin = {        \
	    KSOCKD_HANDLER_ABI, sizeof(struct handler), (pname),                                   \
	    (const struct handler *const[]){__VA_ARGS__, NULL}}

#ifdef __cplusplus
}
#endif

#endif
