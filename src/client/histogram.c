/*
 * histogram.c: the log-linear histogram. Pure arithmetic, no allocation.
 */
#include "config.h"

#include <math.h>
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

/* The first bucket where the cumulative count reaches rank; *seen is that count. */
static uint64_t hist_value_at_rank(const struct histogram *h, uint64_t rank, uint64_t *seen)
{
	*seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		*seen += h->bucket[i];
		if (*seen >= rank) {
			uint64_t low, high;
			hist_bounds(i, &low, &high);
			return high < h->max ? high : h->max;
		}
	}
	*seen = h->count;
	return h->max;
}

int hist_write_percentiles(const struct histogram *h, FILE *f, double scale)
{
	enum { TICKS = 5 }; /* levels per halving of the distance to 100% */
	double sq = 0, mean = h->count ? h->sum / (double)h->count : 0;
	fprintf(f, "%12s %12s %12s %12s\n\n", "Value", "Percentile", "TotalCount",
	        "1/(1-Percentile)");
	for (unsigned half = 0; h->count && half < 64; half++) {
		double base = 1.0 - ldexp(1.0, -(int)half),
		       step = ldexp(1.0, -(int)half - 1) / TICKS;
		int beyond = 0;
		for (unsigned j = 0; j < TICKS && !beyond; j++) {
			double p = base + step * j;
			uint64_t rank = (uint64_t)ceil(p * (double)h->count), seen;
			uint64_t v = hist_value_at_rank(h, rank < 1 ? 1 : rank, &seen);
			fprintf(f, "%12.3f %12f %12llu %12.2f\n", (double)v / scale, p,
			        (unsigned long long)seen, 1.0 / (1.0 - p));
			/* Past the resolution of count values, every level is the max. */
			beyond = 1.0 / (1.0 - p) > (double)h->count;
		}
		if (beyond)
			break;
	}
	if (h->count)
		fprintf(f, "%12.3f %12f %12llu %12s\n", (double)h->max / scale, 1.0,
		        (unsigned long long)h->count, "inf");
	/* The standard deviation from the buckets' midpoints. */
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if (h->bucket[i]) {
			uint64_t low, high;
			hist_bounds(i, &low, &high);
			double d = ((double)low + (double)high) / 2 - mean;
			sq += d * d * (double)h->bucket[i];
		}
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mean / scale,
	        h->count ? sqrt(sq / (double)h->count) / scale : 0.0);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12llu]\n", (double)h->max / scale,
	        (unsigned long long)h->count);
	fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", 58, 32);
	return ferror(f) ? -1 : 0;
}
