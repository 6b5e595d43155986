/*
 * bench_report.c: what `ksock bench` prints: the progress line (stderr, each
 * second, rewritten in place on a terminal) and the summary (text or --json
 * on stdout). Reads the threads' counters; changes nothing.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const char *const err_names[BE_MAX] = {
    [BE_CONNECT] = "connect", [BE_TLS] = "tls",   [BE_WRONG] = "wrong",
    [BE_EXTRA] = "extra",     [BE_LOST] = "lost", [BE_CLOSED] = "closed",
    [BE_TIMEOUT] = "timeout", [BE_IO] = "io",     [BE_NOT_RESUMED] = "not_resumed",
};

const char *bench_mode_name(enum bench_mode m)
{
	switch (m) {
	case BM_TCP: return "tcp";
	case BM_TLS: return "tls";
	case BM_UDP: return "udp";
	case BM_CONNECT: return "connect";
	case BM_HANDSHAKE: return "handshake";
	case BM_RESUME: return "resume";
	}
	return "?";
}

uint64_t bench_errors_total(const struct bench_stats *st)
{
	uint64_t n = 0;
	for (int i = 0; i < BE_MAX; i++)
		n += st->err[i];
	return n;
}

/* Sums the threads' counters (a racy but monotonic snapshot while running). */
static void bench_sum(struct bench_thread *t, unsigned n, struct bench_stats *sum, int udp)
{
	memset(sum, 0, sizeof *sum);
	for (unsigned i = 0; i < n; i++) {
		struct bench_stats *st = &t[i].st;
		sum->sent += STAT_GET(st, sent);
		sum->ok += STAT_GET(st, ok);
		sum->conns += STAT_GET(st, conns);
		sum->handshakes += STAT_GET(st, handshakes);
		sum->resumed += STAT_GET(st, resumed);
		for (int k = 0; k < BE_MAX; k++)
			sum->err[k] += STAT_GET(st, err[k]);
	}
	/* Lines sent and never answered (UDP losses are already timeouts). */
	uint64_t answered = sum->ok + sum->err[BE_WRONG] + (udp ? sum->err[BE_TIMEOUT] : 0);
	sum->err[BE_LOST] = sum->sent > answered ? sum->sent - answered : 0;
}

void bench_progress(const struct bench_opts *o, struct bench_thread *t, unsigned n, double secs,
                    uint64_t *last_ok, int final)
{
	struct bench_stats sum;
	bench_sum(t, n, &sum, o->mode == BM_UDP);
	if (!final)
		sum.err[BE_LOST] = 0; /* lines in flight are not lost yet */
	int tty = isatty(STDERR_FILENO);
	if (final && !tty)
		return;
	/* Each second: the last second's rate; at the end: the average. */
	double rate = final ? (secs > 0 ? (double)sum.ok / secs : 0) : (double)(sum.ok - *last_ok);
	fprintf(stderr, "%s[%6.1fs] %llu lines, %.0f lines/s, %llu errors%s", tty ? "\r" : "", secs,
	        (unsigned long long)sum.ok, rate, (unsigned long long)bench_errors_total(&sum),
	        tty ? "\033[K" : "\n");
	if (final && tty)
		fputc('\n', stderr);
	*last_ok = sum.ok;
}

static double bench_elapsed(struct bench_thread *t, unsigned n)
{
	unsigned long long start = t[0].start_ns, end = t[0].end_ns;
	for (unsigned i = 1; i < n; i++) {
		if (t[i].start_ns < start)
			start = t[i].start_ns;
		if (t[i].end_ns > end)
			end = t[i].end_ns;
	}
	return end > start ? (double)(end - start) / 1e9 : 0;
}

static void bench_json(const struct bench_opts *o, const struct bench_stats *s,
                       const struct histogram *h, double secs, const char *first_err)
{
	double rate = secs > 0 ? (double)s->ok / secs : 0;
	printf("{\"mode\":\"%s\",\"host\":\"%s\",\"port\":\"%s\",\"connections\":%u,"
	       "\"pipeline\":%u,\"threads\":%u,\"line_bytes\":%zu,\"seconds\":%.3f,"
	       "\"sent\":%llu,\"ok\":%llu,\"lines_per_sec\":%.1f,\"mb_per_sec\":%.3f,"
	       "\"connects\":%llu,\"handshakes\":%llu,\"resumed\":%llu,\"target_rate\":%.1f,",
	       bench_mode_name(o->mode), o->t.host, o->t.port, o->conns, o->pipeline, o->threads,
	       o->line_len, secs, (unsigned long long)s->sent, (unsigned long long)s->ok, rate,
	       rate * (double)o->line_len / 1e6, (unsigned long long)s->conns,
	       (unsigned long long)s->handshakes, (unsigned long long)s->resumed, o->rate);
	printf("\"latency_us\":{\"min\":%.1f,\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,"
	       "\"p99\":%.1f,\"p99.9\":%.1f,\"max\":%.1f},",
	       h->count ? (double)h->min / 1e3 : 0, h->count ? h->sum / (double)h->count / 1e3 : 0,
	       (double)hist_percentile(h, 50) / 1e3, (double)hist_percentile(h, 90) / 1e3,
	       (double)hist_percentile(h, 99) / 1e3, (double)hist_percentile(h, 99.9) / 1e3,
	       (double)h->max / 1e3);
	printf("\"errors\":{\"total\":%llu", (unsigned long long)bench_errors_total(s));
	for (int k = 0; k < BE_MAX; k++)
		printf(",\"%s\":%llu", err_names[k], (unsigned long long)s->err[k]);
	printf("},\"first_error\":\"");
	for (const char *p = first_err; *p; p++)
		printf(*p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < 32 ? "?" : "%c", *p);
	printf("\"}\n");
}

/* --csv: a header line and one row (latencies in microseconds). */
static void bench_csv(const struct bench_opts *o, const struct bench_stats *s,
                      const struct histogram *h, double secs)
{
	double rate = secs > 0 ? (double)s->ok / secs : 0;
	printf("mode,host,port,connections,pipeline,threads,line_bytes,target_rate,seconds,sent,ok,"
	       "lines_per_sec,mb_per_sec,p50_us,p90_us,p99_us,p99.9_us,max_us,errors");
	for (int k = 0; k < BE_MAX; k++)
		printf(",%s", err_names[k]);
	printf(
	    "\n%s,%s,%s,%u,%u,%u,%zu,%.1f,%.3f,%llu,%llu,%.1f,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,%llu",
	    bench_mode_name(o->mode), o->t.host, o->t.port, o->conns, o->pipeline, o->threads,
	    o->line_len, o->rate, secs, (unsigned long long)s->sent, (unsigned long long)s->ok,
	    rate, rate * (double)o->line_len / 1e6, (double)hist_percentile(h, 50) / 1e3,
	    (double)hist_percentile(h, 90) / 1e3, (double)hist_percentile(h, 99) / 1e3,
	    (double)hist_percentile(h, 99.9) / 1e3, (double)h->max / 1e3,
	    (unsigned long long)bench_errors_total(s));
	for (int k = 0; k < BE_MAX; k++)
		printf(",%llu", (unsigned long long)s->err[k]);
	printf("\n");
}

/* UDP: what the timeouts suggest. A server that answers some datagrams of
 * each socket and drops the rest at a steady rate is most likely limiting
 * the rate per source (ksockd: udp_rate/udp_burst); loopback itself rarely
 * drops. Returns the hint, or NULL. */
static const char *bench_udp_hint(const struct bench_opts *o, const struct bench_stats *s)
{
	if (o->mode != BM_UDP || !s->err[BE_TIMEOUT])
		return NULL;
	if (!s->ok)
		return "no datagram was answered: is the server listening on UDP at this port, "
		       "and does it allow this source address?";
	if (s->err[BE_TIMEOUT] * 100 >= s->sent)
		return "some datagrams were answered and many were not: the server may limit "
		       "the rate per source (ksockd: udp_rate, udp_burst); try -R with a rate "
		       "below its limit, or fewer connections (-c) and a smaller pipeline (-P)";
	return NULL;
}

/* Writes n bytes of p into out as C escapes (\n, \r, \t, \\, \x00), at most max of
 * them, "..." after if there were more. */
void bench_escape(char *out, size_t outlen, const char *p, size_t n, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n && i < max && o + 5 < outlen; i++) {
		unsigned char ch = (unsigned char)p[i];
		const char *e = ch == '\n'   ? "\\n"
		                : ch == '\r' ? "\\r"
		                : ch == '\t' ? "\\t"
		                : ch == '\\' ? "\\\\"
		                : ch == '\'' ? "\\'"
		                             : NULL;
		if (e)
			o += (size_t)snprintf(out + o, outlen - o, "%s", e);
		else if (ch < 32 || ch > 126)
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = 0;
	if (n > max && o + 4 < outlen)
		snprintf(out + o, outlen - o, "...");
}

static void bench_ms(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000000)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else
		snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
}

int bench_summary(const struct bench_opts *o, struct bench_thread *t, unsigned n)
{
	struct bench_stats s;
	struct histogram h;
	const char *first_err = "";
	bench_sum(t, n, &s, o->mode == BM_UDP);
	hist_init(&h);
	for (unsigned i = 0; i < n; i++) {
		hist_merge(&h, &t[i].hist);
		if (!first_err[0])
			first_err = t[i].first_err;
	}
	double secs = bench_elapsed(t, n);
	const char *hint = bench_udp_hint(o, &s);
	if (hint)
		fprintf(stderr, "ksock: hint: %s\n", hint);
	if (o->json || o->csv) {
		if (o->json)
			bench_json(o, &s, &h, secs, first_err);
		else
			bench_csv(o, &s, &h, secs);
		return bench_export(o, &h);
	}
	double rate = secs > 0 ? (double)s.ok / secs : 0;
	printf("ksock bench: %s %s:%s, %u connections, pipeline %u, %u thread(s), %zu-byte lines\n",
	       bench_mode_name(o->mode), o->t.host, o->t.port, o->conns, o->pipeline, o->threads,
	       o->line_len);
	printf("  %llu lines sent, %llu replies ok in %.3f s: %.0f lines/s, %.2f MB/s each way\n",
	       (unsigned long long)s.sent, (unsigned long long)s.ok, secs, rate,
	       rate * (double)o->line_len / 1e6);
	if (o->mode == BM_CONNECT || o->mode == BM_HANDSHAKE || o->mode == BM_RESUME)
		printf("  %llu connections (%.0f/s), %llu TLS handshakes, %llu resumed\n",
		       (unsigned long long)s.conns, secs > 0 ? (double)s.conns / secs : 0,
		       (unsigned long long)s.handshakes, (unsigned long long)s.resumed);
	char p50[32], p90[32], p99[32], p999[32], mx[32];
	bench_ms(p50, sizeof p50, hist_percentile(&h, 50));
	bench_ms(p90, sizeof p90, hist_percentile(&h, 90));
	bench_ms(p99, sizeof p99, hist_percentile(&h, 99));
	bench_ms(p999, sizeof p999, hist_percentile(&h, 99.9));
	bench_ms(mx, sizeof mx, h.max);
	printf("  latency%s: p50 %s, p90 %s, p99 %s, p99.9 %s, max %s\n",
	       o->rate > 0 ? " (from each line's scheduled send time)" : "", p50, p90, p99, p999,
	       mx);
	if (o->rate > 0)
		printf("  fixed rate: %.0f lines/s asked, %.0f lines/s done\n", o->rate, rate);
	printf("  errors: %llu", (unsigned long long)bench_errors_total(&s));
	const char *sep = " (";
	for (int k = 0; k < BE_MAX; k++)
		if (s.err[k]) {
			printf("%s%s %llu", sep, err_names[k], (unsigned long long)s.err[k]);
			sep = ", ";
		}
	printf("%s\n", sep[0] == ',' ? ")" : "");
	if (first_err[0])
		printf("  first error: %s\n", first_err);
	return bench_export(o, &h);
}
