/*
 * srctab.c: the shared per-source table (see srctab.h for the design).
 *
 * Owns the shared mapping. Workers touch only the count words, the rate
 * buckets and their own journal; only the master touches the journal-in-use
 * flags and other workers' journals (after they are dead). Pure memory and
 * atomics: no sockets, no libev, no logging.
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "bucket.h"
#include "prefix.h"
#include "srctab.h"

#define MASK (SRCTAB_ENTRIES - 1)
#define PROBE 32     /* count words probed per source */
#define RATE_PROBE 8 /* rate buckets probed per source */
#define RETRIES 64   /* CAS retries before giving up (admitted untracked) */
#define FP(w) ((w) >> 16)
#define CNT(w) ((unsigned)((w)&0xffff))
#define TOK_SCALE 1000.0                         /* rate tokens are stored in thousandths */
#define TOK(s) ((double)((s) >> 40) / TOK_SCALE) /* 24 bits of tokens */
#define TIME(s) ((s) & ((1ULL << 40) - 1))       /* 40 bits of milliseconds */

struct rate_bucket {
	_Atomic uint64_t key;   /* source key, 0 when unused */
	_Atomic uint64_t state; /* tokens (24 bits, thousandths) | last refill ms (40 bits) */
};

struct srctab {
	_Atomic uint64_t words[SRCTAB_ENTRIES];         /* fingerprint:48 | count:16 */
	struct rate_bucket rate[SRCTAB_ENTRIES];        /* connect_rate buckets */
	uint16_t journal[SRCTAB_PROCS][SRCTAB_ENTRIES]; /* per worker: its share of each word */
	bool proc_used[SRCTAB_PROCS];                   /* written by the master only */
};

struct srctab *srctab_create(void)
{
	/* Anonymous shared memory is zeroed and touched lazily: unused journals cost nothing. */
	void *p = mmap(NULL, sizeof(struct srctab), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void srctab_destroy(struct srctab *t)
{
	if (t)
		munmap(t, sizeof *t);
}

int srctab_proc_attach(struct srctab *t)
{
	for (int i = 0; i < SRCTAB_PROCS; i++)
		if (!t->proc_used[i]) {
			t->proc_used[i] = true;
			return i;
		}
	return -1;
}

/* Lowers word idx by up to n, never below 0. */
static void srctab_sub(struct srctab *t, int idx, unsigned n)
{
	uint64_t w = atomic_load(&t->words[idx]);
	for (;;) {
		unsigned take = CNT(w) < n ? CNT(w) : n;
		if (take == 0)
			return;
		if (atomic_compare_exchange_weak(&t->words[idx], &w, w - take))
			return;
	}
}

unsigned long srctab_proc_detach(struct srctab *t, int proc)
{
	unsigned long held = 0;
	if (proc < 0 || proc >= SRCTAB_PROCS)
		return 0;
	uint16_t *j = t->journal[proc];
	for (int i = 0; i < SRCTAB_ENTRIES; i++)
		if (j[i]) {
			held += j[i];
			srctab_sub(t, i, j[i]);
			j[i] = 0;
		}
	t->proc_used[proc] = false;
	return held;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t srctab_key(const char *listener, const struct sockaddr *peer)
{
	struct source_key src;
	uint64_t w[2];
	if (!source_key_of(peer, &src))
		return 0;
	memcpy(w, src.b, sizeof w);
	uint64_t k = mix64(w[0]) ^ w[1];
	uint64_t h = 1469598103934665603ULL; /* FNV-1a of the listener name */
	for (const char *p = listener; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	k = mix64(k ^ mix64(h));
	return k ? k : 1;
}

static uint64_t key_fp(uint64_t key)
{
	uint64_t fp = key >> 16;
	return fp ? fp : 1;
}

int srctab_acquire(struct srctab *t, int proc, uint64_t key, unsigned max)
{
	uint64_t fp = key_fp(key);
	if (proc < 0 || proc >= SRCTAB_PROCS || max > SRCTAB_MAX_COUNT)
		return SRCTAB_UNTRACKED;
	uint16_t *j = t->journal[proc];
	for (int retry = 0; retry < RETRIES; retry++) {
		int idx = -1, free_idx = -1;
		uint64_t w = 0;
		for (int i = 0; i < PROBE && idx < 0; i++) {
			int k = (int)((key + (uint64_t)i) & MASK);
			uint64_t v = atomic_load(&t->words[k]);
			if (CNT(v) > 0 && FP(v) == fp) {
				idx = k;
				w = v;
			} else if (CNT(v) == 0 && free_idx < 0) {
				free_idx = k;
			}
		}
		if (idx < 0) {
			if (free_idx < 0)
				return SRCTAB_UNTRACKED;
			idx = free_idx;
			w = atomic_load(&t->words[idx]);
			if (CNT(w) != 0)
				continue;
			if (max == 0)
				return SRCTAB_FULL;
			j[idx]++; /* journal first: a crash here can only undercount */
			if (atomic_compare_exchange_strong(&t->words[idx], &w, fp << 16 | 1))
				return idx;
			j[idx]--;
			continue;
		}
		if (CNT(w) >= max)
			return SRCTAB_FULL;
		j[idx]++;
		if (atomic_compare_exchange_strong(&t->words[idx], &w, w + 1))
			return idx;
		j[idx]--;
	}
	return SRCTAB_UNTRACKED;
}

void srctab_release(struct srctab *t, int proc, int idx)
{
	if (idx < 0 || idx >= SRCTAB_ENTRIES || proc < 0 || proc >= SRCTAB_PROCS)
		return;
	srctab_sub(t, idx, 1); /* count first, journal after: a crash here can only undercount */
	if (t->journal[proc][idx] > 0)
		t->journal[proc][idx]--;
}

unsigned srctab_count(struct srctab *t, uint64_t key)
{
	uint64_t fp = key_fp(key);
	unsigned n = 0;
	for (int i = 0; i < PROBE; i++) {
		uint64_t v = atomic_load(&t->words[(key + (uint64_t)i) & MASK]);
		if (CNT(v) > 0 && FP(v) == fp)
			n += CNT(v);
	}
	return n;
}

/* The bucket packed in a state word (time in seconds, as bucket.h counts it). */
static struct bucket rate_unpack(uint64_t s)
{
	return (struct bucket){.tokens = TOK(s), .last = (double)TIME(s) / 1000.0};
}

static double rate_tokens(uint64_t s, double rate, unsigned burst, uint64_t now_ms)
{
	struct bucket b = rate_unpack(s);
	return bucket_level(&b, rate, burst, (double)now_ms / 1000.0);
}

static uint64_t rate_state(double tokens, uint64_t now_ms)
{
	return (uint64_t)(tokens * TOK_SCALE) << 40 | (now_ms & ((1ULL << 40) - 1));
}

/* The bucket of key: found, claimed empty, or taken over from a refilled (idle) source. */
static struct rate_bucket *rate_find(struct srctab *t, uint64_t key, double rate, unsigned burst,
                                     uint64_t now_ms)
{
	struct rate_bucket *idle = NULL;
	for (int i = 0; i < RATE_PROBE; i++) {
		struct rate_bucket *b = &t->rate[(key + (uint64_t)i) & MASK];
		uint64_t k = atomic_load(&b->key);
		if (k == 0) {
			if (atomic_compare_exchange_strong(&b->key, &k, key)) {
				atomic_store(&b->state, rate_state(burst, now_ms));
				return b;
			}
		}
		if (k == key)
			return b;
		if (!idle && rate_tokens(atomic_load(&b->state), rate, burst, now_ms) >= burst)
			idle = b;
	}
	if (!idle)
		return NULL;
	uint64_t k = atomic_load(&idle->key);
	if (!atomic_compare_exchange_strong(&idle->key, &k, key))
		return k == key ? idle : NULL;
	atomic_store(&idle->state, rate_state(burst, now_ms));
	return idle;
}

bool srctab_rate_take(struct srctab *t, uint64_t key, double rate, unsigned burst, uint64_t now_ms)
{
	struct rate_bucket *b = rate_find(t, key, rate, burst, now_ms);
	if (!b)
		return true; /* no bucket free: fail open */
	uint64_t s = atomic_load(&b->state);
	for (int retry = 0; retry < RETRIES; retry++) {
		struct bucket now = rate_unpack(s);
		if (!bucket_take(&now, rate, burst, (double)now_ms / 1000.0))
			return false;
		if (atomic_compare_exchange_weak(&b->state, &s, rate_state(now.tokens, now_ms)))
			return true;
	}
	return true;
}
