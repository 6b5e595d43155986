/*
 * ratelimit.c: the per-source token bucket table. Owns its entries array;
 * the buckets are bucket.h's and the keys prefix.h's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

int ratelimit_init(struct ratelimit *rl, unsigned rate, unsigned burst, unsigned sources,
                   uint64_t seed)
{
	size_t n_sets = 1;
	while (n_sets * RATELIMIT_WAYS < sources)
		n_sets *= 2;
	memset(rl, 0, sizeof *rl);
	rl->rate = rate;
	rl->burst = burst;
	rl->n_sets = n_sets;
	rl->seed = seed;
	rl->entries = calloc(n_sets * RATELIMIT_WAYS, sizeof *rl->entries);
	return rl->entries ? 0 : -1;
}

void ratelimit_free(struct ratelimit *rl)
{
	free(rl->entries);
	rl->entries = NULL;
}

bool ratelimit_key_from_addr(const struct sockaddr *sa, struct ratelimit_key *key)
{
	return source_key_of(sa, &key->src);
}

/* A keyed mix of the key's two halves (not cryptographic; the seed is secret). */
static uint64_t ratelimit_hash(const struct ratelimit *rl, const struct ratelimit_key *key)
{
	uint64_t w[2], h = rl->seed;
	memcpy(w, key->src.b, sizeof w);
	for (int i = 0; i < 2; i++) {
		h ^= w[i];
		h *= 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
		h *= 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 32;
	}
	return h;
}

/* The entry for key in its set: the existing one, a free one, or the least recently seen. */
static struct ratelimit_entry *ratelimit_slot(struct ratelimit *rl, const struct ratelimit_key *key,
                                              double now)
{
	struct ratelimit_entry *set =
	    rl->entries + (ratelimit_hash(rl, key) & (rl->n_sets - 1)) * RATELIMIT_WAYS;
	struct ratelimit_entry *victim = &set[0];
	for (int i = 0; i < RATELIMIT_WAYS; i++) {
		if (set[i].b.last > 0 && memcmp(&set[i].key, key, sizeof *key) == 0)
			return &set[i];
		if (set[i].b.last < victim->b.last)
			victim = &set[i];
	}
	if (victim->b.last > 0 && bucket_level(&victim->b, rl->rate, rl->burst, now) < rl->burst)
		rl->evictions++;
	victim->key = *key;
	victim->b = (struct bucket){.tokens = rl->burst, .last = now};
	return victim;
}

bool ratelimit_allow(struct ratelimit *rl, const struct ratelimit_key *key, double now)
{
	return bucket_take(&ratelimit_slot(rl, key, now)->b, rl->rate, rl->burst, now);
}
