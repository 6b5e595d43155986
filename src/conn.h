/*
 * conn.h: one client connection on a stream listener.
 *
 * The connection owns its socket, its watchers, its unframed input and its
 * queued output, and the handler state that follows it in memory. conn_free()
 * is the one place all of that is released. The set of running watchers is
 * derived from buffer state by one function (conn_update_watchers).
 *
 * A TLS connection first goes through HANDSHAKE (watchers follow GnuTLS's
 * direction; no handler yet; handshake_timeout instead of idle_timeout).
 *
 *   OPEN --handler CLOSE / line too long / peer EOF--> CLOSING (flush, then free)
 *     |                                                   |
 *     +--error / idle timeout / worker stop--> freed <-----+
 */
#ifndef KSOCKD_CONN_H
#define KSOCKD_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "guard.h"
#include "handler.h"
#include "linebuf.h"
#include "outbuf.h"
#include "reason.h"

struct listener;
struct tls_session;
struct worker;

struct conn {
	struct conn *prev, *next;        /* worker's list of connections */
	struct worker *w;                /* owning worker */
	struct listener *l;              /* listener it came from */
	const struct handler *handler;   /* line protocol */
	unsigned long long id;           /* per-worker id, for logs */
	ev_io rio;                       /* readable */
	ev_io wio;                       /* writable (armed only while output waits) */
	ev_timer idle;                   /* idle_timeout, re-armed lazily */
	ev_timer slow;                   /* slow_client_timeout, while a line is incomplete */
	uint64_t slow_lines;             /* lines_in when slow was armed */
	struct guard_ticket ticket;      /* what the listener's guard holds for it */
	size_t buffered;                 /* bytes of in/out storage counted in the worker */
	ev_tstamp last_activity;         /* last byte read or written */
	ev_tstamp started;               /* accept time */
	struct linebuf in;               /* bytes read but not yet framed */
	struct outbuf out;               /* replies not yet written */
	bool read_eof;                   /* peer shut down its side */
	bool closing;                    /* send what is queued, then free */
	bool begun;                      /* conn_begin ran: the handler's close is due */
	int fd;                          /* the socket (in the bools' padding: 8 bytes less per conn) */
	enum conn_reason close_reason;   /* why, once closing */
	uint64_t bytes_in, bytes_out;    /* traffic counters */
	uint64_t lines_in;               /* lines handed to the handler */
	uint64_t lines_out;              /* newlines written to the client */
	union addr_inet peer;            /* effective client address: the PROXY header's
					    source if one came, else the socket's peer. Use
					    this for logs, limits and allow/deny. */
	char peer_str[ADDR_STRLEN];      /* peer, formatted */
	union addr_inet sock_peer;       /* the socket's peer (the balancer when proxied);
					    formatted only when logged (64 bytes less per
					    connection: issue 11) */
	struct proxy_info *proxy;        /* PROXY header received, NULL if none (freed by conn_free) */
	struct proxy_hdr *proxy_hdr;     /* header being read, NULL outside that phase */
	struct tls_session *tls;         /* TLS (issue 6): NULL on plain TCP */
	bool handshaking;                /* TLS handshake not complete: no handler yet */
	bool tls_read_blocked;           /* TLS read waits for the socket to be writable */
	_Alignas(max_align_t) char state[]; /* handler state (handler->state_size) */
};

/* Takes ownership of fd and ticket; returns 0, or -1 after closing fd and
 * releasing ticket (no memory). */
int conn_create(struct worker *w, struct listener *l, int fd, const struct sockaddr *peer,
		socklen_t peerlen, const struct guard_ticket *ticket);
/*
 * Starts the session proper: watchers, idle timer, handler open. Called by
 * conn_create, or by the PROXY header phase (proxy_conn.c) once the header is
 * read and the socket is positioned on the first byte after it: the place a
 * TLS transport starts its handshake. Returns -1 if c was freed.
 */
int conn_begin(struct conn *c);
/* Closes and frees c at once, counting reason and logging it; detail (may be NULL) names
 * the particulars in the close log line instead of the reason's text ("source not in
 * proxy_trusted"); the access log always gets the reason's text. */
void conn_free_detail(struct conn *c, enum conn_reason reason, const char *detail);
static inline void conn_free(struct conn *c, enum conn_reason reason)
{
	conn_free_detail(c, reason, NULL);
}

#endif
