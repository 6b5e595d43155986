/*
 * histogram.c: the log-linear histogram. Pure arithmetic, no allocation.
 */
#include "config.h"

#include <string.h>

#include "histogram.h"

void hist_init(struct histogram *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

unsigned hist_index(uint64_t v)
{
	if (v < 64)
		return (unsigned)v;
	unsigned m = 63u - (unsigned)__builtin_clzll(v); /* most significant bit, >= 6 */
	unsigned sub = (unsigned)(v >> (m - 5));         /* 32..63 */
	return 64 + (m - 6) * 32 + (sub - 32);
}

void hist_bounds(unsigned idx, uint64_t *low, uint64_t *high)
{
	if (idx < 64) {
		*low = *high = idx;
		return;
	}
	unsigned k = idx - 64, m = k / 32 + 6;
	uint64_t sub = k % 32 + 32;
	*low = sub << (m - 5);
	*high = ((sub + 1) << (m - 5)) - 1;
}

void hist_record(struct histogram *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct histogram *into, const struct histogram *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t hist_percentile(const struct histogram *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t low, high;
			hist_bounds(i, &low, &high);
			return high < h->max ? high : h->max;
		}
	}
	return h->max;
}
