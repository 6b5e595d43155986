/*
 * srctab.h: per-source state shared by every worker: open connections per
 * source (for max_connections_per_source) and a token bucket per source (for
 * connect_rate).
 *
 * The master creates the table (one anonymous shared mapping) before it forks
 * any worker; workers update it with atomic compare-and-swap, never a round
 * trip to the master. Memory is fixed: SRCTAB_ENTRIES count words, as many
 * rate buckets, and one journal per worker process.
 *
 * A source is prefix.h's source key (an IPv4 address or an IPv6 /64;
 * IPv4-mapped is IPv4), per listener name; its rate bucket is bucket.h's,
 * packed into one atomic word. A count word packs a 48-bit fingerprint of the source
 * and a 16-bit count; a word whose count is 0 is free for any source.
 *
 * Crash safety: each worker process gets a journal (srctab_proc_attach) in
 * which it records, per count word, how many of that word's connections are
 * its own. When the master reaps a worker, srctab_proc_detach subtracts that
 * worker's journal from the shared counts, so a killed worker's connections
 * do not stay counted. The journal is updated before the count on acquire
 * and after it on release, so a worker killed in between can only make a
 * count too low (never below 0), never leave it too high for ever.
 *
 * When a probe finds no room, the connection is admitted untracked
 * (SRCTAB_UNTRACKED): the table degrades to fail-open, never to refusing
 * everyone.
 */
#ifndef KSOCKD_SRCTAB_H
#define KSOCKD_SRCTAB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SRCTAB_ENTRIES 65536   /* count words and rate buckets (power of two) */
#define SRCTAB_PROCS 128       /* worker processes alive at once with a journal */
#define SRCTAB_MAX_COUNT 65535 /* largest count a word holds */

enum srctab_result {
	SRCTAB_FULL = -1,      /* the source is at its limit: refuse */
	SRCTAB_UNTRACKED = -2, /* no room in the table: admitted, not counted */
};

struct srctab;

/* Master, before forking: maps the table; NULL with errno set on failure. */
struct srctab *srctab_create(void);
void srctab_destroy(struct srctab *t);
/* Master: a journal index for a new worker, or -1 when all are in use. */
int srctab_proc_attach(struct srctab *t);
/* Master, after reaping the worker: releases what it still held; returns that count. */
unsigned long srctab_proc_detach(struct srctab *t, int proc);

/* The key of peer for listener name: 0 when peer is not IPv4/IPv6. */
uint64_t srctab_key(const char *listener, const struct sockaddr *peer);
/*
 * Counts one more connection of key for worker journal proc if fewer than
 * max are open. Returns the word index (>= 0) to release later, SRCTAB_FULL,
 * or SRCTAB_UNTRACKED.
 */
int srctab_acquire(struct srctab *t, int proc, uint64_t key, unsigned max);
void srctab_release(struct srctab *t, int proc, int idx);
/* Open connections counted for key (all workers). */
unsigned srctab_count(struct srctab *t, uint64_t key);
/*
 * Token bucket: refills rate tokens per second up to burst; takes one token
 * for key at now_ms (a monotonic clock). False when the bucket is empty.
 */
bool srctab_rate_take(struct srctab *t, uint64_t key, double rate, unsigned burst, uint64_t now_ms);

#endif
