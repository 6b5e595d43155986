/*
 * ratelimit.h: per-source token buckets with bounded memory (pure, no I/O).
 *
 * A table of `sources` buckets, organised as sets of RATELIMIT_WAYS entries
 * chosen by a keyed hash of the source. A new source takes a free entry of
 * its set or evicts the one seen least recently; forgetting a source costs
 * nothing once its bucket has refilled, and memory never grows past the
 * table allocated by ratelimit_create(). Time is passed in by the caller
 * (seconds, monotonic), so tests drive it directly.
 *
 * Sources are keyed by address only, as everywhere (prefix.h's source key:
 * an IPv4 address, or the /64 of an IPv6 one; IPv4-mapped is IPv4); each
 * bucket is bucket.h's.
 */
#ifndef KSOCKD_RATELIMIT_H
#define KSOCKD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bucket.h"
#include "prefix.h"

#define RATELIMIT_WAYS 4 /* entries per hash set */

struct ratelimit_key {
	struct source_key src; /* the source (prefix.h) */
};

struct ratelimit_entry {
	struct ratelimit_key key; /* the source */
	struct bucket b;          /* its tokens; b.last == 0: free entry */
};

struct ratelimit {
	double rate;                     /* tokens added per second */
	double burst;                    /* bucket depth */
	size_t n_sets;                   /* sets in the table (a power of two) */
	uint64_t seed;                   /* hash key: sets cannot be predicted from outside */
	unsigned long evictions;         /* sources forgotten while their bucket was not full */
	struct ratelimit_entry *entries; /* n_sets * RATELIMIT_WAYS */
};

/* Sets rl up for about `sources` sources; returns 0, or -1 when out of memory. */
int ratelimit_init(struct ratelimit *rl, unsigned rate, unsigned burst, unsigned sources,
                   uint64_t seed);
void ratelimit_free(struct ratelimit *rl);
/* The key of a source address (source_key_of); false for a family it does not know. */
bool ratelimit_key_from_addr(const struct sockaddr *sa, struct ratelimit_key *key);
/* Takes one token for key at time now (seconds > 0); false: over its rate, drop. */
bool ratelimit_allow(struct ratelimit *rl, const struct ratelimit_key *key, double now);

#endif
