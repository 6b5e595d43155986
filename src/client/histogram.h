/*
 * histogram.h: a log-linear latency histogram (HdrHistogram-like, pure).
 *
 * Values (nanoseconds) below 64 have a bucket each; above, every power of two
 * is split into 32 linear buckets, so a reported percentile is within ~3% of
 * the true value. Recording is one shift and one increment; the struct is a
 * fixed ~16 KiB array, so a load-generator thread owns one and merges it at
 * the end.
 */
#ifndef KSOCK_HISTOGRAM_H
#define KSOCK_HISTOGRAM_H

#include <stdint.h>
#include <stdio.h>

#define HIST_BUCKETS (64 + 58 * 32)

struct histogram {
	uint64_t count;                /* values recorded */
	uint64_t min;                  /* smallest value (UINT64_MAX while empty) */
	uint64_t max;                  /* largest value */
	double sum;                    /* for the mean */
	uint64_t bucket[HIST_BUCKETS]; /* counts per bucket */
};

void hist_init(struct histogram *h);
void hist_record(struct histogram *h, uint64_t v);
void hist_merge(struct histogram *into, const struct histogram *from);
/* The value at percentile p (0 < p <= 100): the upper edge of its bucket,
 * never above max. 0 when empty. */
uint64_t hist_percentile(const struct histogram *h, double p);
/* Writes h as an HdrHistogram percentile distribution ("Value Percentile
 * TotalCount 1/(1-Percentile)", values divided by scale, 5 ticks per half
 * distance, the #[Mean ...] footer): the text HdrHistogram's plotter and
 * wrk2's --latency output use. Returns 0, or -1 on a write error. */
int hist_write_percentiles(const struct histogram *h, FILE *f, double scale);
/* Bucket index and its [low, high] value range (exposed for tests). */
unsigned hist_index(uint64_t v);
void hist_bounds(unsigned idx, uint64_t *low, uint64_t *high);

#endif
