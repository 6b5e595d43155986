/*
 * stats_format.h: the shared counters (stats.h) as text for the stats and
 * metrics handlers. Each function appends to out and returns 0, or -1 when
 * out cannot grow.
 */
#ifndef KSOCKD_STATS_FORMAT_H
#define KSOCKD_STATS_FORMAT_H

#include "outbuf.h"

struct stats;

/* `name{listener="x"[,reason="y"]} value` lines: totals over all workers. */
int stats_format_text(const struct stats *s, struct outbuf *out);
/* One line per live worker: slot, pid, generation, uptime, open connections. */
int stats_format_workers(const struct stats *s, struct outbuf *out);
/* Prometheus text exposition format 0.0.4, per listener and worker slot. */
int stats_format_prometheus(const struct stats *s, struct outbuf *out);

#endif
