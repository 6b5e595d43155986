/*
 * guard.h: admission control and abuse accounting for one listener in one
 * worker, for every transport.
 *
 * guard_admit() decides, right after accept (TCP, before any TLS work) or
 * for each datagram (UDP), whether a peer may be served, in this order:
 * allow/deny (acl.h), connect_rate per
 * source (token bucket) and max_connections_per_source (counted across all
 * workers in the shared srctab). Every refusal and every limit-forced close
 * is counted by reason and logged at most once per GUARD_LOG_INTERVAL per
 * reason, with the number suppressed since the last line.
 */
#ifndef KSOCKD_GUARD_H
#define KSOCKD_GUARD_H

#include <sys/socket.h>

#include "conf.h"
#include "log.h"

struct srctab;
struct unix_ids;

#define GUARD_LOG_INTERVAL 10.0 /* seconds between log lines for one reason */

enum guard_reason {
	GUARD_OK = 0,       /* admitted */
	GUARD_ACL,          /* denied by allow/deny */
	GUARD_RATE,         /* connect_rate exceeded */
	GUARD_PER_SOURCE,   /* max_connections_per_source reached */
	GUARD_SLOW_CLIENT,  /* closed: a line took longer than slow_client_timeout */
	GUARD_BUFFER_LIMIT, /* closed: worker_buffer_limit reached */
	GUARD_N_REASONS,    /* number of reasons */
};

struct guard {
	const struct listener_conf *lc;        /* limits and lists */
	struct srctab *tab;                    /* shared per-source table, NULL: none */
	int proc;                              /* this worker's journal in tab */
	const struct unix_ids *un;             /* unix listeners: uid/gid rules, else NULL */
	unsigned long count[GUARD_N_REASONS];  /* total per reason */
	struct log_limit log[GUARD_N_REASONS]; /* one log line per interval per reason */
};

/* What a connection holds from the guard, returned by guard_release(). */
struct guard_ticket {
	int slot; /* srctab word, or < 0 when nothing is held */
};

void guard_init(struct guard *g, const struct listener_conf *lc, struct srctab *tab, int proc);
/*
 * Decides on peer; now (the loop's time) dates log lines. On GUARD_OK,
 * *ticket must later go to guard_release (connections; pass NULL for a
 * datagram: only allow/deny and connect_rate apply, nothing is held).
 * Counts and logs refusals; the caller closes or drops what is refused.
 */
enum guard_reason guard_admit(struct guard *g, const struct sockaddr *peer, double now,
                              struct guard_ticket *ticket);
void guard_release(struct guard *g, struct guard_ticket *ticket);
/* Counts (and rate-limits the log of) a limit-forced event for peer_str. */
void guard_note(struct guard *g, enum guard_reason r, const char *peer_str, double now);
const char *guard_reason_name(enum guard_reason r);
/* Logs the totals, if any (at worker exit). */
void guard_log_totals(const struct guard *g, unsigned worker);

#endif
