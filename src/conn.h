/*
 * conn.h: one client connection on a stream listener.
 *
 * The connection owns its socket, its watcher, its places in the listener's
 * deadline queues, its unframed input, its queued output, its transport
 * (transport.h: plain TCP or TLS) and the handler state that follows it in
 * memory. conn_free() is the one place all of that is released. What runs
 * in each state (the watcher's events, the deadline) is derived in one
 * place each (conn_update_watchers, conn_set_state).
 *
 *            accept
 *              |
 *            ADMIT --proxy_protocol set--> PROXY --header read, client admitted--+
 *              |                            |                                   |
 *              |                            +--bad/late/untrusted header,       |
 *              |                               client refused--> freed          |
 *              +<---------------------------------------------------------------+
 *              |
 *              +--transport has a handshake (TLS)--> HANDSHAKE --failed/timeout--> freed
 *              |                                        |
 *              +<------------------ done ----------------+
 *              |
 *            OPEN --peer EOF--> EOF --held-back input framed--> CLOSING --output sent--> freed
 *              |                                                   ^
 *              +--handler CLOSE / line too long / no memory--------+
 *
 *   Any state --error / idle timeout / slow client / buffer limit / worker stop--> freed
 *
 * Phase deadline (c->phase, in one of the listener's deadline queues,
 * timeq.h): PROXY proxy_timeout, HANDSHAKE handshake_timeout,
 * OPEN/EOF/CLOSING idle_timeout (restarted by every byte read or written). The handler is opened on
 * entering OPEN and closed by conn_free if it was opened.
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
#include "proxy.h"
#include "outbuf.h"
#include "reason.h"
#include "timeq.h"
#include "transport.h"

struct listener;
struct worker;

enum conn_state {
	CONN_ADMIT,     /* accepted, not yet judged (transient inside conn_create) */
	CONN_PROXY,     /* reading the PROXY header (c->in holds its bytes) */
	CONN_HANDSHAKE, /* the transport's handshake runs; no handler yet */
	CONN_OPEN,      /* serving: lines to the handler, replies back */
	CONN_EOF,       /* the peer shut its side; held-back input still to frame */
	CONN_CLOSING,   /* send what is queued, then free */
};

/* A connection that received a PROXY header: allocated only then. */
struct conn_proxied {
	struct proxy_info info;    /* the header */
	union addr_inet sock_peer; /* the socket's own peer (the balancer) */
};

/*
 * Kept small: an idle connection is mostly this struct (doc/BENCHMARKS.md,
 * "Scale"). What can be derived is not stored: the worker is l->w, the
 * handler l->conf->handler, the transport follows l->conf->protocol
 * (conn_tp), the peer is formatted only when logged, the socket's peer is
 * stored only when a PROXY header replaced it, the socket is io.fd (conn_fd),
 * the slow-client clock exists only while a line is incomplete.
 */
/* A started line's clock (slow_client_timeout): allocated only while a line is incomplete. */
struct conn_slow {
	struct timeq_node node; /* in the listener's slow queue */
	struct conn *c;         /* its connection */
	uint64_t lines;         /* c->lines_in when the clock started */
};

struct conn {
	struct listener *l;           /* listener it came from; its worker (l->w) owns c */
	void *tctx;                   /* the transport's own state */
	unsigned long long id;        /* per-worker id, for logs */
	ev_io io;                     /* the socket; events: what conn_update_watchers wants */
	struct timeq_node phase;      /* in the state's queue of the listener (see diagram):
	                                 the worker's connections are these queues; since:
	                                 once OPEN, the last byte read or written */
	struct conn_slow *slow;       /* the incomplete line's clock, NULL if none */
	ev_tstamp started;            /* accept time */
	struct linebuf in;            /* bytes read but not yet framed (PROXY: the header) */
	struct outbuf out;            /* replies not yet written */
	uint64_t bytes_in, bytes_out; /* traffic counters */
	uint64_t lines_in;            /* lines handed to the handler (echo: newlines read) */
	uint64_t lines_out;           /* newlines written to the client */
	struct conn_proxied *proxy;   /* PROXY header received, NULL if none (freed by conn_free) */
	union addr_inet peer;         /* effective client address: the PROXY header's
	                                 source if one came, else the socket's peer. Use
	                                 this for logs, limits and allow/deny. */
	uint32_t buffered;            /* bytes of in/out storage counted in the worker
	                                 (bounded: max_line, output_buffer) */
	struct guard_ticket ticket;   /* what the listener's guard holds for it */
	uint8_t state;                /* enum conn_state */
	uint8_t close_reason;         /* enum conn_reason, once CLOSING */
	bool read_wants_write;        /* the transport's last read waits for writability */
	_Alignas(max_align_t) char hstate[]; /* handler state (handler->state_size) */
};

/* The first of w's connections, NULL if none (in no particular order). */
struct conn *conn_first(const struct worker *w);
/* Prepares l's deadline queues for its connections (listener_init). */
void conn_listener_init(struct listener *l);
/* Takes ownership of fd and ticket; returns 0, or -1 after closing fd and
 * releasing ticket (no memory). */
int conn_create(struct worker *w, struct listener *l, int fd, const struct sockaddr *peer,
                socklen_t peerlen, const struct guard_ticket *ticket);
/* Closes and frees c at once, counting reason and logging it; detail (may be NULL) names
 * the particulars in the close log line instead of the reason's text ("source not in
 * proxy_trusted"); the access log always gets the reason's text. */
void conn_free_detail(struct conn *c, enum conn_reason reason, const char *detail);
static inline void conn_free(struct conn *c, enum conn_reason reason)
{
	conn_free_detail(c, reason, NULL);
}

#endif
