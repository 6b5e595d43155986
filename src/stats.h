/*
 * stats.h: counters shared by the master and every worker.
 *
 * The master maps one anonymous shared region (stats_create) before it forks
 * anything; it lives until the master exits, so counters survive reloads and
 * worker respawns and are reset only by a restart. Layout:
 *
 *   listener names [STATS_MAX_LISTENERS]   master writes (load, reload)
 *   worker slots   [STATS_MAX_SLOTS]       master writes (pid, generation, start)
 *   counters [slot][listener][stat]        the slot's worker writes, anyone reads
 *
 * Each live worker process owns one slot (the master gives it a free one,
 * preferring the slot its predecessor in the same position used, so a
 * respawned worker continues its slot) and is the only writer of that slot's
 * counters: stats_add() is a relaxed 64-bit load and store, no lock, no
 * read-modify-write instruction. Readers sum relaxed loads over the slots.
 * When a worker dies the master zeroes the slot's "open" gauges (its
 * connections are gone) and keeps the rest.
 *
 * Listeners are matched by name across reloads: the same name keeps its row.
 * At most STATS_MAX_LISTENERS distinct names are counted per run; further
 * new names are served but not counted (a warning is logged).
 */
#ifndef KSOCKD_STATS_H
#define KSOCKD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "procstat.h"

struct conf;
struct listener_conf;

#define STATS_MAX_LISTENERS 64 /* distinct listener names counted per run */
#define STATS_MAX_SLOTS 512    /* worker processes alive at once, all generations */
#define STATS_NAME_MAX 64      /* longest counted listener name, NUL included */

enum stat_id {
	/* Streams (TCP, TLS) */
	STAT_CONN_ACCEPTED,         /* connections accepted */
	STAT_CONN_OPEN,             /* gauge: connections open now */
	STAT_REFUSED_MAX_CONN,      /* accepted and closed at once: max_connections */
	STAT_REFUSED_NO_MEMORY,     /* accepted and closed at once: no memory */
	STAT_REFUSED_DENIED,        /* refused: allow/deny (at accept or after a PROXY header) */
	STAT_REFUSED_PER_SOURCE,    /* refused: max_connections_per_source */
	STAT_REFUSED_RATE,          /* refused: connect_rate */
	STAT_ACCEPT_BACKOFF,        /* accepting paused: out of file descriptors or memory */
	STAT_CLOSED_CLIENT,         /* closed: the client closed its side */
	STAT_CLOSED_HANDLER,        /* closed: the handler ended the session */
	STAT_CLOSED_LINE_TOO_LONG,  /* closed: a line over max_line */
	STAT_CLOSED_IDLE,           /* closed: idle_timeout */
	STAT_CLOSED_SLOW,           /* closed: slow_client_timeout */
	STAT_CLOSED_BUFFER_LIMIT,   /* closed: worker_buffer_limit */
	STAT_CLOSED_TLS_HANDSHAKE,  /* closed: TLS handshake failed */
	STAT_CLOSED_TLS_TIMEOUT,    /* closed: TLS handshake_timeout */
	STAT_CLOSED_TLS_ERROR,      /* closed: TLS error after the handshake */
	STAT_CLOSED_TLS_ALERT_SENT, /* closed: fatal alert sent after the handshake */
	STAT_CLOSED_TLS_ALERT_RECEIVED, /* closed: fatal alert received after the handshake */
	STAT_CLOSED_TLS_CERT,           /* closed: client certificate rejected */
	STAT_CLOSED_TLS_RENEG,          /* closed: renegotiation refused */
	STAT_CLOSED_NO_MEMORY,          /* closed: out of memory */
	STAT_CLOSED_RESET,              /* closed: reset by the peer */
	STAT_CLOSED_ERROR,              /* closed: another socket error */
	STAT_CLOSED_SHUTDOWN,           /* closed: worker stop (shutdown_timeout, SIGQUIT) */
	STAT_CLOSED_PROXY,              /* closed: bad or untrusted PROXY header */
	STAT_CLOSED_PROXY_TIMEOUT,      /* closed: no complete PROXY header within proxy_timeout */
	/* Every transport */
	STAT_LINES_IN,  /* lines handed to the handler */
	STAT_LINES_OUT, /* newline characters sent */
	STAT_BYTES_IN,  /* bytes received */
	STAT_BYTES_OUT, /* bytes sent */
	/* UDP (udp.c) */
	STAT_DGRAM_IN,             /* datagrams received */
	STAT_DGRAM_ANSWERED,       /* datagrams answered */
	STAT_DGRAM_DROP_PORT,      /* dropped: source port a reflector's or ksockd's own */
	STAT_DGRAM_DROP_TOO_BIG,   /* dropped: request or reply larger than max_datagram */
	STAT_DGRAM_DROP_BCAST,     /* dropped: sent to a broadcast or multicast address */
	STAT_DGRAM_DROP_RATE,      /* dropped: source over udp_rate/udp_burst */
	STAT_DGRAM_DROP_RATIO,     /* dropped: reply over udp_max_reply_ratio x request */
	STAT_DGRAM_DROP_SEND_FULL, /* dropped: socket send buffer full */
	STAT_DGRAM_DROP_ERROR,     /* dropped: send failed otherwise */
	STAT_DGRAM_DROP_DENIED,    /* dropped: source refused by allow/deny (or connect_rate) */
	STAT_DGRAM_DROP_NO_REPLY,  /* unanswered: the handler has nothing to send (discard) */
	/* TLS (tls.c) */
	STAT_TLS_HANDSHAKE_OK,     /* handshakes completed */
	STAT_TLS_HANDSHAKE_FAILED, /* handshakes failed */
	STAT_TLS_RESUMED,          /* handshakes that resumed a session */
	STAT_TLS_ALERT_FATAL,      /* fatal alerts sent (then the connection closes) */
	STAT_TLS_ALERT_WARNING,    /* warning alerts sent (no_renegotiation) */
	/* handler exec (exec_session.c) */
	STAT_EXEC_STARTED,           /* programs started */
	STAT_EXEC_START_FAILED,      /* programs that could not be started (connection refused) */
	STAT_EXEC_REFUSED_INSTANCES, /* connections refused: max_instances programs running */
	STAT_EXEC_EXIT_OK,           /* programs that exited with status 0 */
	STAT_EXEC_EXIT_ERROR,        /* programs that exited with another status */
	STAT_EXEC_EXIT_SIGNAL,       /* programs killed by a signal */
	/* Histograms (stats_observe): per bucket (not cumulative), then the sum in microseconds. */
	STAT_HIST_CONN_DURATION, /* first of STATS_HIST_SLOTS: connection lifetimes */
	STAT_HIST_TLS_HANDSHAKE = STAT_HIST_CONN_DURATION + 15, /* accept to handshake done */
	STAT_COUNT = STAT_HIST_TLS_HANDSHAKE + 15               /* number of counters */
};

#define STATS_HIST_BUCKETS 14                     /* finite bounds, then +Inf */
#define STATS_HIST_SLOTS (STATS_HIST_BUCKETS + 1) /* buckets and the sum */

/* A histogram kept in STATS_HIST_SLOTS consecutive counters of a row. */
struct stats_hist {
	enum stat_id first;                    /* its first counter */
	const char *family;                    /* metric name */
	const char *help;                      /* # HELP text */
	unsigned protocols;                    /* listener protocols (1 << enum proto) */
	double bounds[STATS_HIST_BUCKETS - 1]; /* upper bounds, seconds; the last bucket: +Inf */
};
extern const struct stats_hist stats_hists[2]; /* connection duration, TLS handshake */

/* A counted listener name. */
struct stats_listener {
	char name[STATS_NAME_MAX]; /* listener name, "" while unused */
	uint32_t protocol;         /* enum proto of its latest config */
};

/* A worker process slot. */
struct stats_proc {
	int32_t pid;               /* worker pid, 0 while free */
	uint32_t generation;       /* config generation it serves */
	uint32_t position;         /* its position in the generation (0..workers-1) */
	uint32_t draining;         /* told to stop */
	uint32_t used;             /* ever used: its counters are part of the totals */
	double started;            /* CLOCK_MONOTONIC seconds at spawn */
	struct proc_sample sample; /* master's latest /proc sample of it (procstat.h) */
};

struct stats {
	uint64_t magic;          /* STATS_MAGIC */
	double started_real;     /* master start, seconds since 1970 */
	double started_mono;     /* master start, CLOCK_MONOTONIC */
	uint32_t n_listeners;    /* names in use in listeners[] */
	uint32_t n_slots;        /* slots ever used (high-water mark) */
	uint64_t worker_crashes; /* workers that died unexpectedly (master writes) */
	/* Reloads (master writes): ksockd_reloads_total and friends. */
	uint64_t reloads_ok;              /* reloads whose new generation serves */
	uint64_t reloads_rejected;        /* reloads refused: the old config stays */
	double last_reload_ok_real;       /* seconds since 1970 of the last good config (start) */
	uint32_t last_reload_failed;      /* 1: the latest reload was rejected */
	struct proc_sample master_sample; /* the master's own latest /proc sample */
	struct stats_listener listeners[STATS_MAX_LISTENERS]; /* name table */
	struct stats_proc procs[STATS_MAX_SLOTS];             /* worker slots */
	uint64_t counters[STATS_MAX_SLOTS][STATS_MAX_LISTENERS]
	                 [STAT_COUNT]; /* [slot][listener][stat] */
};

/* A worker's counters for one listener: counters[slot][listener], or NULL (not counted). */
typedef uint64_t stats_row;

/* Adds n to counter id of row; a no-op when row is NULL. Only the slot's worker calls it. */
static inline void stats_add(stats_row *row, enum stat_id id, uint64_t n)
{
	if (!row)
		return;
	uint64_t v = __atomic_load_n(&row[id], __ATOMIC_RELAXED);
	__atomic_store_n(&row[id], v + n, __ATOMIC_RELAXED);
}

static inline void stats_sub(stats_row *row, enum stat_id id, uint64_t n)
{
	if (!row)
		return;
	uint64_t v = __atomic_load_n(&row[id], __ATOMIC_RELAXED);
	__atomic_store_n(&row[id], v - n, __ATOMIC_RELAXED);
}

/* Counts one observation of seconds into histogram h of row (NULL: a no-op). */
void stats_observe(stats_row *row, const struct stats_hist *h, double seconds);

/* Worker side: the row of listener_id (gen_listener.stats_id) in slot; NULL if either is < 0. */
stats_row *stats_row_of(struct stats *s, int slot, int listener_id);

/* Master side. */
struct stats *stats_create(void); /* NULL with errno on failure */
void stats_destroy(struct stats *s);
/* The row of lc's counters, matched by name (a new one for a new name); -1: not counted. */
int stats_listener_id(struct stats *s, const struct listener_conf *lc);
/* A free slot for the worker at position, preferring the one its predecessor used; -1 if none. */
int stats_slot_claim(struct stats *s, unsigned position);
void stats_slot_start(struct stats *s, int slot, pid_t pid, unsigned generation, unsigned position);
void stats_slot_draining(struct stats *s, int slot);
/* Stores a /proc sample of the worker in slot (slot < 0: of the master itself). */
void stats_sample_store(struct stats *s, int slot, const struct proc_sample *ps);
/* Reads one back (relaxed loads, field by field). */
void stats_sample_load(const struct proc_sample *from, struct proc_sample *to);
/* A reload finished: counts it, and for a good one its time. */
void stats_reload_done(struct stats *s, bool ok);
/* The slot's worker is gone: its open gauges drop to 0; crashed counts it. */
void stats_slot_end(struct stats *s, int slot, bool crashed);

/* Readers: the sum over all slots of one counter of one listener row. */
uint64_t stats_sum(const struct stats *s, unsigned listener_id, enum stat_id id);
uint64_t stats_get(const struct stats *s, unsigned slot, unsigned listener_id, enum stat_id id);
double stats_now_mono(void);

#endif
