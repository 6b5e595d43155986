/*
 * bucket.h: the token bucket, the one rate limit of ksockd: a source may
 * spend `burst` tokens at once, and regains `rate` tokens per second up to
 * `burst`. Used per datagram source (ratelimit.c) and per connecting source
 * in the table shared by all workers (srctab.c, which stores a bucket
 * packed into one atomic word). Pure arithmetic; time is passed in
 * (seconds, monotonic) so tests drive it.
 */
#ifndef KSOCKD_BUCKET_H
#define KSOCKD_BUCKET_H

#include <stdbool.h>

struct bucket {
	double tokens; /* tokens left at time last */
	double last;   /* when tokens was last brought up to date, seconds */
};

/* Tokens b holds at now: what it had, plus what it regained, at most burst. */
static inline double bucket_level(const struct bucket *b, double rate, double burst, double now)
{
	double t = b->tokens;
	if (now > b->last)
		t += (now - b->last) * rate;
	return t > burst ? burst : t;
}

/* Brings b up to now and takes one token; false (nothing taken) when it holds less than one. */
static inline bool bucket_take(struct bucket *b, double rate, double burst, double now)
{
	b->tokens = bucket_level(b, rate, burst, now);
	if (now > b->last)
		b->last = now;
	if (b->tokens < 1)
		return false;
	b->tokens -= 1;
	return true;
}

#endif
