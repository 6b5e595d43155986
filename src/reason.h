/*
 * reason.h: why a stream connection ended or was refused, as data.
 *
 * Every close and every refusal names one enum conn_reason. One table
 * (reason.c) gives each reason the text written to the close log line and
 * the access log, the shared counter it is counted under (stats.h; several
 * reasons may share one, e.g. the three kinds of worker stop), and the
 * syslog level of the per-connection close line. Nothing chooses behaviour
 * by comparing reason texts.
 *
 * Refusals (REASON_DENIED .. REASON_REFUSED_NO_MEMORY) are counted under
 * ksockd_connections_refused_total (handler exec's two under
 * ksockd_exec_refused_total), whether they happen right after accept
 * or, behind a PROXY header, once the header has named the client; all other
 * reasons under ksockd_connections_closed_total.
 */
#ifndef KSOCKD_REASON_H
#define KSOCKD_REASON_H

#include "guard.h"
#include "stats.h"

enum conn_reason {
	REASON_CLIENT_CLOSED,         /* the client closed its side (or sent nothing and left) */
	REASON_HANDLER,               /* the handler ended the session */
	REASON_LINE_TOO_LONG,         /* a line over max_line */
	REASON_IDLE_TIMEOUT,          /* idle_timeout */
	REASON_SLOW_CLIENT,           /* a line took longer than slow_client_timeout */
	REASON_BUFFER_LIMIT,          /* worker_buffer_limit: the biggest buffer holder */
	REASON_TLS_HANDSHAKE_FAILED,  /* the TLS handshake failed */
	REASON_TLS_HANDSHAKE_TIMEOUT, /* the TLS handshake exceeded handshake_timeout */
	REASON_TLS_ERROR,             /* TLS failed after the handshake (or could not start) */
	REASON_TLS_ALERT_SENT,        /* a fatal alert sent after the handshake (bad record, ...) */
	REASON_TLS_ALERT_RECEIVED,    /* the client sent a fatal alert after the handshake */
	REASON_TLS_CERT_REJECTED,     /* the client certificate failed verification */
	REASON_TLS_RENEGOTIATION,     /* renegotiation refused (warning, then close_notify) */
	REASON_PROXY_HEADER,          /* bad, oversized, cut or untrusted PROXY header */
	REASON_PROXY_TIMEOUT,         /* no complete PROXY header within proxy_timeout */
	REASON_NO_MEMORY,             /* out of memory while serving */
	REASON_RESET,                 /* the peer reset the connection (ECONNRESET, EPIPE) */
	REASON_IO_ERROR,              /* another socket error */
	REASON_SHUTDOWN_TIMEOUT,      /* worker stop: shutdown_timeout passed */
	REASON_IMMEDIATE_STOP,        /* worker stop: SIGQUIT / SIGINT */
	REASON_WORKER_EXIT,           /* worker stop: the loop ended with connections left */
	REASON_PROGRAM_EXITED,        /* handler exec: the program exited, its output was sent */
	/* Refusals */
	REASON_DENIED,             /* allow/deny */
	REASON_PER_SOURCE,         /* max_connections_per_source */
	REASON_CONNECT_RATE,       /* connect_rate */
	REASON_MAX_CONNECTIONS,    /* max_connections (worker or listener) */
	REASON_REFUSED_NO_MEMORY,  /* no memory for a new connection */
	REASON_EXEC_MAX_INSTANCES, /* handler exec: max_instances programs running */
	REASON_EXEC_START_FAILED,  /* handler exec: the program could not be started */
	REASON_COUNT               /* number of reasons */
};

/* One row of the table. */
struct reason_desc {
	const char *text;  /* as logged and written to the access log */
	enum stat_id stat; /* shared counter */
	int level;         /* syslog level of the close line */
};

const struct reason_desc *reason_desc(enum conn_reason r);
static inline const char *reason_text(enum conn_reason r)
{
	return reason_desc(r)->text;
}
/* Counts r in row (a no-op when row is NULL). */
void reason_count(stats_row *row, enum conn_reason r);
/* The refusal reason of a guard verdict other than GUARD_OK. */
enum conn_reason reason_of_guard(enum guard_reason g);

#endif
