/*
 * backend.h: what a connection hands its bytes to when the other end is not a
 * line protocol but something with its own I/O (a program: exec_session.c).
 *
 * The connection keeps doing what it always does in front (PROXY header, TLS,
 * allow/deny, limits, idle timeout, access log); the backend sees only the
 * decrypted byte stream and the connection's output queue:
 *
 *   client --bytes--> conn --data()--> backend         (stop reading the
 *                           <--wants_input()--          client while false)
 *   client <--flush-- conn.out <--append-- backend     (stop producing while
 *                           --drained()-->              out >= out_limit)
 *   client <--FIN--- conn <--output_ended()-- backend   (TCP half-close)
 *   client EOF --> client_eof()      backend ends --> conn_backend_done()
 *   conn gone  --> handler close()  (the backend detaches; it may outlive
 *                                     the connection, never touches it again)
 *
 * A struct handler with a non-NULL backend is such a backend; its state
 * (state_size bytes behind the connection) belongs to the backend. A line
 * handler is the case backend == NULL: the connection frames lines itself.
 */
#ifndef KSOCKD_BACKEND_H
#define KSOCKD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "outbuf.h"
#include "reason.h"
#include "stats.h"

struct conn;
struct listener_conf;
struct session_info;
struct worker;

/* The connection side, given to open and valid until the handler's close. */
struct backend_link {
	struct conn *conn;                /* opaque: only for the conn_backend_* calls */
	struct worker *w;                 /* the worker (loop, shared tables) */
	const struct listener_conf *conf; /* the listener's settings */
	stats_row *stats;                 /* the listener's counters (NULL: not counted) */
	struct outbuf *out;               /* bytes queued for the client */
	size_t out_limit;                 /* output_buffer: produce only while below it */
};

struct backend_ops {
	/* Session start. Returns 0, or -1 with *reason set: the connection closes at once. */
	int (*open)(void *state, const struct session_info *si, const struct backend_link *link,
	            enum conn_reason *reason);
	/* Client bytes, all of them taken (the connection asks wants_input first).
	   Returns 0, or -1 (out of memory): the connection closes. */
	int (*data)(void *state, const char *data, size_t len);
	/* Room for more client bytes: the connection reads only while true. */
	bool (*wants_input)(const void *state);
	/* The output queue went below out_limit: produce again. */
	void (*drained)(void *state);
	/* The client shut down its sending side (may be called more than once). */
	void (*client_eof)(void *state);
	/* True once (then false) when the backend will queue no more output although its
	   session goes on: the connection half-closes (TCP: shutdown SHUT_WR) once its
	   queue is flushed. NULL: never. */
	bool (*output_ended)(void *state);
};

/* Called by a backend (never from inside its own data/drained/client_eof). Each returns -1
 * when the connection was freed meanwhile (the backend's close has then run). */
int conn_backend_output(struct conn *c);                        /* bytes were queued: send them */
int conn_backend_resume(struct conn *c);                        /* wants_input became true */
int conn_backend_done(struct conn *c, enum conn_reason reason); /* send what is queued, close */

#endif
