/*
 * reason.c: the one table of close and refusal reasons (see reason.h).
 * Pure data and lookups; no I/O except what stats_add does.
 */
#include "config.h"

#include <syslog.h>

#include "reason.h"

static const struct reason_desc reasons[REASON_COUNT] = {
    [REASON_CLIENT_CLOSED] = {"client closed", STAT_CLOSED_CLIENT, LOG_DEBUG},
    [REASON_HANDLER] = {"closed by handler", STAT_CLOSED_HANDLER, LOG_DEBUG},
    [REASON_LINE_TOO_LONG] = {"line too long", STAT_CLOSED_LINE_TOO_LONG, LOG_DEBUG},
    [REASON_IDLE_TIMEOUT] = {"idle timeout", STAT_CLOSED_IDLE, LOG_DEBUG},
    [REASON_SLOW_CLIENT] = {"slow client", STAT_CLOSED_SLOW, LOG_DEBUG},
    [REASON_BUFFER_LIMIT] = {"worker buffer limit", STAT_CLOSED_BUFFER_LIMIT, LOG_DEBUG},
    [REASON_TLS_HANDSHAKE_FAILED] = {"TLS handshake failed", STAT_CLOSED_TLS_HANDSHAKE, LOG_DEBUG},
    [REASON_TLS_HANDSHAKE_TIMEOUT] = {"TLS handshake timeout", STAT_CLOSED_TLS_TIMEOUT, LOG_DEBUG},
    [REASON_TLS_ERROR] = {"TLS error", STAT_CLOSED_TLS_ERROR, LOG_DEBUG},
    [REASON_TLS_ALERT_SENT] = {"TLS alert sent", STAT_CLOSED_TLS_ALERT_SENT, LOG_DEBUG},
    [REASON_TLS_ALERT_RECEIVED] = {"TLS alert received", STAT_CLOSED_TLS_ALERT_RECEIVED, LOG_DEBUG},
    [REASON_TLS_CERT_REJECTED] = {"client certificate rejected", STAT_CLOSED_TLS_CERT, LOG_DEBUG},
    [REASON_TLS_RENEGOTIATION] = {"renegotiation refused", STAT_CLOSED_TLS_RENEG, LOG_DEBUG},
    [REASON_PROXY_HEADER] = {"bad PROXY header", STAT_CLOSED_PROXY, LOG_DEBUG},
    [REASON_PROXY_TIMEOUT] = {"PROXY header timeout", STAT_CLOSED_PROXY_TIMEOUT, LOG_DEBUG},
    /* A local failure, not the peer's doing: worth a warning each time. */
    [REASON_NO_MEMORY] = {"out of memory", STAT_CLOSED_NO_MEMORY, LOG_WARNING},
    [REASON_RESET] = {"connection reset by peer", STAT_CLOSED_RESET, LOG_DEBUG},
    [REASON_IO_ERROR] = {"I/O error", STAT_CLOSED_ERROR, LOG_DEBUG},
    [REASON_SHUTDOWN_TIMEOUT] = {"shutdown timeout", STAT_CLOSED_SHUTDOWN, LOG_DEBUG},
    [REASON_IMMEDIATE_STOP] = {"immediate stop", STAT_CLOSED_SHUTDOWN, LOG_DEBUG},
    [REASON_WORKER_EXIT] = {"worker exit", STAT_CLOSED_SHUTDOWN, LOG_DEBUG},
    [REASON_PROGRAM_EXITED] = {"program exited", STAT_CLOSED_HANDLER, LOG_DEBUG},
    [REASON_DENIED] = {"denied by allow/deny", STAT_REFUSED_DENIED, LOG_DEBUG},
    [REASON_PER_SOURCE] = {"max_connections_per_source reached", STAT_REFUSED_PER_SOURCE,
                           LOG_DEBUG},
    [REASON_CONNECT_RATE] = {"connect_rate exceeded", STAT_REFUSED_RATE, LOG_DEBUG},
    [REASON_MAX_CONNECTIONS] = {"max_connections reached", STAT_REFUSED_MAX_CONN, LOG_DEBUG},
    [REASON_REFUSED_NO_MEMORY] = {"out of memory for a new connection", STAT_REFUSED_NO_MEMORY,
                                  LOG_WARNING},
    [REASON_EXEC_MAX_INSTANCES] = {"refused (max_instances)", STAT_EXEC_REFUSED_INSTANCES,
                                   LOG_DEBUG},
    /* Logged with its cause by exec_session.c already. */
    [REASON_EXEC_START_FAILED] = {"program failed to start", STAT_EXEC_START_FAILED, LOG_DEBUG},
};

const struct reason_desc *reason_desc(enum conn_reason r)
{
	return &reasons[r < REASON_COUNT ? r : REASON_IO_ERROR];
}

void reason_count(stats_row *row, enum conn_reason r)
{
	stats_add(row, reason_desc(r)->stat, 1);
}

enum conn_reason reason_of_guard(enum guard_reason g)
{
	switch (g) {
	case GUARD_ACL: return REASON_DENIED;
	case GUARD_RATE: return REASON_CONNECT_RATE;
	case GUARD_PER_SOURCE: return REASON_PER_SOURCE;
	case GUARD_SLOW_CLIENT: return REASON_SLOW_CLIENT;
	case GUARD_BUFFER_LIMIT: return REASON_BUFFER_LIMIT;
	case GUARD_OK:
	case GUARD_N_REASONS: break;
	}
	return REASON_DENIED;
}
