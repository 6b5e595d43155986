/*
 * stats_format.c: renders the shared counters as text: the `stats` line
 * protocol (totals per listener), the `workers` list, and the Prometheus
 * text exposition format (version 0.0.4; one series per listener and worker
 * slot). Reads the region only; appends to an outbuf.
 */
#include "config.h"

#include <string.h>

#include "buildinfo.h"
#include "conf.h"
#include "stats.h"
#include "stats_format.h"

#define FOR_STREAMS ((1u << PROTO_TCP) | (1u << PROTO_TLS) | (1u << PROTO_UNIX)) /* connections */
#define FOR_UDP ((1u << PROTO_UDP) | (1u << PROTO_UNIXGRAM))                     /* datagrams */
#define FOR_ALL (FOR_STREAMS | FOR_UDP)
#define FOR_TLS (1u << PROTO_TLS)

/* One counter as exposed. Rows of one family are consecutive. */
struct stat_desc {
	enum stat_id id;    /* counter */
	const char *family; /* metric name */
	const char *label;  /* extra label key, or NULL */
	const char *value;  /* its value */
	bool gauge;         /* gauge rather than counter */
	unsigned protocols; /* listener protocols it applies to (1 << enum proto) */
	const char *help;   /* # HELP text, on the family's first row */
};

static const struct stat_desc descs[] = {
    {STAT_CONN_ACCEPTED, "ksockd_connections_accepted_total", NULL, NULL, false, FOR_STREAMS,
     "Connections accepted."},
    {STAT_CONN_OPEN, "ksockd_connections_open", NULL, NULL, true, FOR_STREAMS,
     "Connections open now."},
    {STAT_REFUSED_MAX_CONN, "ksockd_connections_refused_total", "reason", "max_connections", false,
     FOR_STREAMS, "Connections accepted and closed at once, by reason."},
    {STAT_REFUSED_NO_MEMORY, "ksockd_connections_refused_total", "reason", "out_of_memory", false,
     FOR_STREAMS, NULL},
    {STAT_REFUSED_DENIED, "ksockd_connections_refused_total", "reason", "denied", false,
     FOR_STREAMS, NULL},
    {STAT_REFUSED_PER_SOURCE, "ksockd_connections_refused_total", "reason", "per_source_limit",
     false, FOR_STREAMS, NULL},
    {STAT_REFUSED_RATE, "ksockd_connections_refused_total", "reason", "connect_rate", false,
     FOR_STREAMS, NULL},
    {STAT_ACCEPT_BACKOFF, "ksockd_accept_backoffs_total", NULL, NULL, false, FOR_STREAMS,
     "Times accepting paused for lack of file descriptors or memory."},
    {STAT_CLOSED_CLIENT, "ksockd_connections_closed_total", "reason", "client", false, FOR_STREAMS,
     "Connections closed, by reason."},
    {STAT_CLOSED_HANDLER, "ksockd_connections_closed_total", "reason", "handler", false,
     FOR_STREAMS, NULL},
    {STAT_CLOSED_LINE_TOO_LONG, "ksockd_connections_closed_total", "reason", "line_too_long", false,
     FOR_STREAMS, NULL},
    {STAT_CLOSED_IDLE, "ksockd_connections_closed_total", "reason", "idle_timeout", false,
     FOR_STREAMS, NULL},
    {STAT_CLOSED_SLOW, "ksockd_connections_closed_total", "reason", "slow_client", false,
     FOR_STREAMS, NULL},
    {STAT_CLOSED_BUFFER_LIMIT, "ksockd_connections_closed_total", "reason", "buffer_limit", false,
     FOR_STREAMS, NULL},
    {STAT_CLOSED_TLS_HANDSHAKE, "ksockd_connections_closed_total", "reason", "tls_handshake_failed",
     false, FOR_TLS, NULL},
    {STAT_CLOSED_TLS_TIMEOUT, "ksockd_connections_closed_total", "reason", "tls_handshake_timeout",
     false, FOR_TLS, NULL},
    {STAT_CLOSED_TLS_ERROR, "ksockd_connections_closed_total", "reason", "tls_error", false,
     FOR_TLS, NULL},
    {STAT_CLOSED_TLS_ALERT_SENT, "ksockd_connections_closed_total", "reason", "tls_alert_sent",
     false, FOR_TLS, NULL},
    {STAT_CLOSED_TLS_ALERT_RECEIVED, "ksockd_connections_closed_total", "reason",
     "tls_alert_received", false, FOR_TLS, NULL},
    {STAT_CLOSED_TLS_CERT, "ksockd_connections_closed_total", "reason", "tls_certificate_rejected",
     false, FOR_TLS, NULL},
    {STAT_CLOSED_TLS_RENEG, "ksockd_connections_closed_total", "reason", "tls_renegotiation", false,
     FOR_TLS, NULL},
    {STAT_CLOSED_NO_MEMORY, "ksockd_connections_closed_total", "reason", "no_memory", false,
     FOR_STREAMS, NULL},
    {STAT_CLOSED_RESET, "ksockd_connections_closed_total", "reason", "reset", false, FOR_STREAMS,
     NULL},
    {STAT_CLOSED_ERROR, "ksockd_connections_closed_total", "reason", "io_error", false, FOR_STREAMS,
     NULL},
    {STAT_CLOSED_SHUTDOWN, "ksockd_connections_closed_total", "reason", "shutdown", false,
     FOR_STREAMS, NULL},
    {STAT_CLOSED_PROXY, "ksockd_connections_closed_total", "reason", "proxy_header", false,
     FOR_STREAMS, NULL},
    {STAT_CLOSED_PROXY_TIMEOUT, "ksockd_connections_closed_total", "reason", "proxy_timeout", false,
     FOR_STREAMS, NULL},
    {STAT_LINES_IN, "ksockd_lines_received_total", NULL, NULL, false, FOR_ALL,
     "Lines handed to the handler."},
    {STAT_LINES_OUT, "ksockd_lines_sent_total", NULL, NULL, false, FOR_ALL,
     "Newline-terminated lines sent."},
    {STAT_BYTES_IN, "ksockd_received_bytes_total", NULL, NULL, false, FOR_ALL,
     "Bytes received from clients."},
    {STAT_BYTES_OUT, "ksockd_sent_bytes_total", NULL, NULL, false, FOR_ALL,
     "Bytes sent to clients."},
    {STAT_DGRAM_IN, "ksockd_datagrams_received_total", NULL, NULL, false, FOR_UDP,
     "Datagrams received."},
    {STAT_DGRAM_ANSWERED, "ksockd_datagrams_answered_total", NULL, NULL, false, FOR_UDP,
     "Datagrams answered."},
    /* Reasons as in udp.c's drop summary. */
    {STAT_DGRAM_DROP_PORT, "ksockd_datagrams_dropped_total", "reason", "port", false, FOR_UDP,
     "Datagrams dropped without a reply, by reason."},
    {STAT_DGRAM_DROP_TOO_BIG, "ksockd_datagrams_dropped_total", "reason", "too_big", false, FOR_UDP,
     NULL},
    {STAT_DGRAM_DROP_BCAST, "ksockd_datagrams_dropped_total", "reason", "bcast", false, FOR_UDP,
     NULL},
    {STAT_DGRAM_DROP_RATE, "ksockd_datagrams_dropped_total", "reason", "rate", false, FOR_UDP,
     NULL},
    {STAT_DGRAM_DROP_RATIO, "ksockd_datagrams_dropped_total", "reason", "ratio", false, FOR_UDP,
     NULL},
    {STAT_DGRAM_DROP_SEND_FULL, "ksockd_datagrams_dropped_total", "reason", "send_full", false,
     FOR_UDP, NULL},
    {STAT_DGRAM_DROP_ERROR, "ksockd_datagrams_dropped_total", "reason", "error", false, FOR_UDP,
     NULL},
    {STAT_DGRAM_DROP_DENIED, "ksockd_datagrams_dropped_total", "reason", "denied", false, FOR_UDP,
     NULL},
    {STAT_DGRAM_DROP_NO_REPLY, "ksockd_datagrams_dropped_total", "reason", "no_reply", false,
     FOR_UDP, NULL},
    {STAT_TLS_HANDSHAKE_OK, "ksockd_tls_handshakes_total", "result", "ok", false, FOR_TLS,
     "TLS handshakes, by result."},
    {STAT_TLS_HANDSHAKE_FAILED, "ksockd_tls_handshakes_total", "result", "failed", false, FOR_TLS,
     NULL},
    {STAT_TLS_RESUMED, "ksockd_tls_sessions_resumed_total", NULL, NULL, false, FOR_TLS,
     "TLS handshakes that resumed a session."},
    {STAT_TLS_ALERT_FATAL, "ksockd_tls_alerts_sent_total", "level", "fatal", false, FOR_TLS,
     "TLS alerts sent to clients, by level."},
    {STAT_TLS_ALERT_WARNING, "ksockd_tls_alerts_sent_total", "level", "warning", false, FOR_TLS,
     NULL},
    /* Deprecated names (unit before the verb), kept for one release: 0.2 removes them. */
    {STAT_BYTES_IN, "ksockd_bytes_received_total", NULL, NULL, false, FOR_ALL,
     "Deprecated, removed in 0.2: use ksockd_received_bytes_total."},
    {STAT_BYTES_OUT, "ksockd_bytes_sent_total", NULL, NULL, false, FOR_ALL,
     "Deprecated, removed in 0.2: use ksockd_sent_bytes_total."},
    /* handler exec: shown for every stream listener (the protocol does not say the handler) */
    {STAT_EXEC_STARTED, "ksockd_exec_started_total", NULL, NULL, false, FOR_STREAMS,
     "Programs started (handler exec)."},
    {STAT_EXEC_START_FAILED, "ksockd_exec_refused_total", "reason", "start_failed", false,
     FOR_STREAMS, "Connections refused by handler exec, by reason."},
    {STAT_EXEC_REFUSED_INSTANCES, "ksockd_exec_refused_total", "reason", "max_instances", false,
     FOR_STREAMS, NULL},
    {STAT_EXEC_EXIT_OK, "ksockd_exec_exited_total", "reason", "exit_zero", false, FOR_STREAMS,
     "Programs ended, by reason: exit status 0, another status, a signal (handler exec)."},
    {STAT_EXEC_EXIT_ERROR, "ksockd_exec_exited_total", "reason", "exit_nonzero", false, FOR_STREAMS,
     NULL},
    {STAT_EXEC_EXIT_SIGNAL, "ksockd_exec_exited_total", "reason", "signal", false, FOR_STREAMS,
     NULL},
};
#define N_DESCS (sizeof descs / sizeof descs[0])

static bool applies(const struct stat_desc *d, const struct stats_listener *l)
{
	return (d->protocols & (1u << l->protocol)) != 0;
}

static int emit_labels(struct outbuf *out, const char *family, const char *listener,
                       const struct stat_desc *d, long worker)
{
	/* Listener names are config strings: escape them as the exposition format says. */
	if (outbuf_printf(out, "%s{listener=\"", family) < 0)
		return -1;
	for (const char *p = listener; *p; p++) {
		int rc = *p == '"' || *p == '\\' ? outbuf_printf(out, "\\%c", *p)
		         : *p == '\n'            ? outbuf_append(out, "\\n", 2)
		                                 : outbuf_append(out, p, 1);
		if (rc < 0)
			return -1;
	}
	if (outbuf_append(out, "\"", 1) < 0)
		return -1;
	if (worker >= 0 && outbuf_printf(out, ",worker=\"%ld\"", worker) < 0)
		return -1;
	if (d->label && outbuf_printf(out, ",%s=\"%s\"", d->label, d->value) < 0)
		return -1;
	return outbuf_append(out, "}", 1);
}

int stats_format_text(const struct stats *s, struct outbuf *out)
{
	unsigned nl = __atomic_load_n(&s->n_listeners, __ATOMIC_ACQUIRE);
	for (unsigned l = 0; l < nl; l++)
		for (size_t i = 0; i < N_DESCS; i++) {
			const struct stat_desc *d = &descs[i];
			if (!applies(d, &s->listeners[l]))
				continue;
			if (emit_labels(out, d->family, s->listeners[l].name, d, -1) < 0 ||
			    outbuf_printf(out, " %llu\n",
			                  (unsigned long long)stats_sum(s, l, d->id)) < 0)
				return -1;
		}
	return 0;
}

/* Open connections of one slot, over every listener. */
static uint64_t stats_slot_open(const struct stats *s, unsigned slot)
{
	uint64_t n = 0;
	unsigned nl = __atomic_load_n(&s->n_listeners, __ATOMIC_ACQUIRE);
	for (unsigned l = 0; l < nl; l++)
		n += stats_get(s, slot, l, STAT_CONN_OPEN);
	return n;
}

int stats_format_workers(const struct stats *s, struct outbuf *out)
{
	double now = stats_now_mono();
	unsigned n = __atomic_load_n(&s->n_slots, __ATOMIC_ACQUIRE);
	for (unsigned slot = 0; slot < n; slot++) {
		const struct stats_proc *p = &s->procs[slot];
		int pid = __atomic_load_n(&p->pid, __ATOMIC_ACQUIRE);
		if (pid == 0)
			continue;
		if (outbuf_printf(out,
		                  "worker slot=%u pid=%d generation=%u position=%u uptime=%.0f "
		                  "open=%llu state=%s\n",
		                  slot, pid, p->generation, p->position, now - p->started,
		                  (unsigned long long)stats_slot_open(s, slot),
		                  p->draining ? "draining" : "serving") < 0)
			return -1;
	}
	return 0;
}

static int format_family(const struct stats *s, struct outbuf *out, size_t first, size_t end)
{
	const struct stat_desc *d0 = &descs[first];
	if (outbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", d0->family, d0->help, d0->family,
	                  d0->gauge ? "gauge" : "counter") < 0)
		return -1;
	unsigned nl = __atomic_load_n(&s->n_listeners, __ATOMIC_ACQUIRE);
	unsigned ns = __atomic_load_n(&s->n_slots, __ATOMIC_ACQUIRE);
	for (unsigned l = 0; l < nl; l++)
		for (size_t i = first; i < end; i++) {
			if (!applies(&descs[i], &s->listeners[l]))
				continue;
			for (unsigned slot = 0; slot < ns; slot++) {
				if (!s->procs[slot].used)
					continue;
				if (emit_labels(out, d0->family, s->listeners[l].name, &descs[i],
				                (long)slot) < 0 ||
				    outbuf_printf(
				        out, " %llu\n",
				        (unsigned long long)stats_get(s, slot, l, descs[i].id)) < 0)
					return -1;
			}
		}
	return 0;
}

/* Label values: escaped as the exposition format says (backslash, quote, newline). */
static int emit_value(struct outbuf *out, const char *v)
{
	for (const char *p = v; *p; p++) {
		int rc = *p == '"' || *p == '\\' ? outbuf_printf(out, "\\%c", *p)
		         : *p == '\n'            ? outbuf_append(out, "\\n", 2)
		                                 : outbuf_append(out, p, 1);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ksockd_build_info: 1, with the versions and build options as labels (ksockd -V). */
static int format_build_info(struct outbuf *out)
{
	struct buildinfo bi;
	buildinfo_get(&bi);
	const char *const labels[][2] = {
	    {"version", PACKAGE_VERSION},  {"libev", bi.libev},
	    {"gnutls", bi.gnutls},         {"libconfig", bi.libconfig},
	    {"libsystemd", bi.libsystemd}, {"sanitizers", bi.sanitizers},
	};
	if (outbuf_printf(out, "# HELP ksockd_build_info Versions of ksockd and its libraries, "
	                       "and build options; the value is 1.\n"
	                       "# TYPE ksockd_build_info gauge\nksockd_build_info{") < 0)
		return -1;
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
		if (outbuf_printf(out, "%s%s=\"", i ? "," : "", labels[i][0]) < 0 ||
		    emit_value(out, labels[i][1]) < 0 || outbuf_append(out, "\"", 1) < 0)
			return -1;
	return outbuf_printf(out, "} 1\n");
}

/* Reloads: counts by result, whether the latest one worked, when a config last loaded. */
static int format_reloads(const struct stats *s, struct outbuf *out)
{
	return outbuf_printf(
	    out,
	    "# HELP ksockd_reloads_total Reloads finished, by result (rejected: the running "
	    "config stayed).\n# TYPE ksockd_reloads_total counter\n"
	    "ksockd_reloads_total{result=\"ok\"} %llu\n"
	    "ksockd_reloads_total{result=\"rejected\"} %llu\n"
	    "# HELP ksockd_config_last_reload_successful 1 unless the latest reload was "
	    "rejected.\n# TYPE ksockd_config_last_reload_successful gauge\n"
	    "ksockd_config_last_reload_successful %u\n"
	    "# HELP ksockd_config_last_reload_success_timestamp_seconds When the serving config "
	    "was loaded (start or reload), seconds since 1970.\n"
	    "# TYPE ksockd_config_last_reload_success_timestamp_seconds gauge\n"
	    "ksockd_config_last_reload_success_timestamp_seconds %.3f\n",
	    (unsigned long long)__atomic_load_n(&s->reloads_ok, __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&s->reloads_rejected, __ATOMIC_RELAXED),
	    __atomic_load_n(&s->last_reload_failed, __ATOMIC_RELAXED) ? 0u : 1u,
	    s->last_reload_ok_real);
}

/* One process_* family: the master, then each live worker (sampled every PROCSTAT_INTERVAL). */
static int format_process_family(const struct stats *s, struct outbuf *out, const char *name,
                                 const char *type, const char *help, int field)
{
	struct proc_sample ps;
	if (outbuf_printf(out, "# HELP %s %s, sampled every %.0f s.\n# TYPE %s %s\n", name, help,
	                  PROCSTAT_INTERVAL, name, type) < 0)
		return -1;
	unsigned ns = __atomic_load_n(&s->n_slots, __ATOMIC_ACQUIRE);
	for (long slot = -1; slot < (long)ns; slot++) {
		if (slot >= 0 && __atomic_load_n(&s->procs[slot].pid, __ATOMIC_ACQUIRE) == 0)
			continue;
		stats_sample_load(slot < 0 ? &s->master_sample : &s->procs[slot].sample, &ps);
		int rc = slot < 0 ? outbuf_printf(out, "%s{process=\"master\"}", name)
		                  : outbuf_printf(out, "%s{process=\"worker\",worker=\"%ld\"}",
		                                  name, slot);
		if (rc < 0)
			return -1;
		rc = field == 0   ? outbuf_printf(out, " %llu\n", (unsigned long long)ps.rss_bytes)
		     : field == 1 ? outbuf_printf(out, " %llu\n", (unsigned long long)ps.open_fds)
		                  : outbuf_printf(out, " %.2f\n", ps.cpu_seconds);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int format_process(const struct stats *s, struct outbuf *out)
{
	if (format_process_family(s, out, "process_resident_memory_bytes", "gauge",
	                          "Resident memory of each ksockd process, bytes", 0) < 0 ||
	    format_process_family(s, out, "process_open_fds", "gauge",
	                          "Open file descriptors of each ksockd process", 1) < 0)
		return -1;
	return format_process_family(s, out, "process_cpu_seconds_total", "counter",
	                             "User and system CPU time of each ksockd process, seconds", 2);
}

/* A histogram summed over worker slots, per listener: cumulative buckets, sum, count. */
static int format_histogram(const struct stats *s, struct outbuf *out, const struct stats_hist *h)
{
	if (outbuf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", h->family, h->help,
	                  h->family) < 0)
		return -1;
	unsigned nl = __atomic_load_n(&s->n_listeners, __ATOMIC_ACQUIRE);
	for (unsigned l = 0; l < nl; l++) {
		if (!(h->protocols & (1u << s->listeners[l].protocol)))
			continue;
		struct stat_desc d = {.label = "le"};
		char le[32];
		uint64_t cum = 0;
		for (size_t b = 0; b < STATS_HIST_BUCKETS; b++) {
			cum += stats_sum(s, l, (enum stat_id)(h->first + b));
			if (b < STATS_HIST_BUCKETS - 1)
				snprintf(le, sizeof le, "%g", h->bounds[b]);
			else
				snprintf(le, sizeof le, "+Inf");
			d.value = le;
			char fam[96];
			snprintf(fam, sizeof fam, "%s_bucket", h->family);
			if (emit_labels(out, fam, s->listeners[l].name, &d, -1) < 0 ||
			    outbuf_printf(out, " %llu\n", (unsigned long long)cum) < 0)
				return -1;
		}
		double sum =
		    (double)stats_sum(s, l, (enum stat_id)(h->first + STATS_HIST_BUCKETS)) / 1e6;
		d.label = NULL;
		char fam[96];
		snprintf(fam, sizeof fam, "%s_sum", h->family);
		if (emit_labels(out, fam, s->listeners[l].name, &d, -1) < 0 ||
		    outbuf_printf(out, " %.6f\n", sum) < 0)
			return -1;
		snprintf(fam, sizeof fam, "%s_count", h->family);
		if (emit_labels(out, fam, s->listeners[l].name, &d, -1) < 0 ||
		    outbuf_printf(out, " %llu\n", (unsigned long long)cum) < 0)
			return -1;
	}
	return 0;
}

int stats_format_prometheus(const struct stats *s, struct outbuf *out)
{
	if (format_build_info(out) < 0 || format_reloads(s, out) < 0 || format_process(s, out) < 0)
		return -1;
	unsigned workers = 0, ns = __atomic_load_n(&s->n_slots, __ATOMIC_ACQUIRE);
	for (unsigned slot = 0; slot < ns; slot++)
		workers += __atomic_load_n(&s->procs[slot].pid, __ATOMIC_ACQUIRE) != 0;
	if (outbuf_printf(
	        out,
	        "# HELP ksockd_start_time_seconds Start time of the master, seconds "
	        "since 1970.\n# TYPE ksockd_start_time_seconds gauge\n"
	        "ksockd_start_time_seconds %.3f\n"
	        "# HELP ksockd_workers Worker processes alive.\n"
	        "# TYPE ksockd_workers gauge\nksockd_workers %u\n"
	        "# HELP ksockd_worker_crashes_total Workers that died unexpectedly.\n"
	        "# TYPE ksockd_worker_crashes_total counter\n"
	        "ksockd_worker_crashes_total %llu\n",
	        s->started_real, workers,
	        (unsigned long long)__atomic_load_n(&s->worker_crashes, __ATOMIC_RELAXED)) < 0)
		return -1;
	for (size_t first = 0; first < N_DESCS;) {
		size_t end = first + 1;
		while (end < N_DESCS && strcmp(descs[end].family, descs[first].family) == 0)
			end++;
		if (format_family(s, out, first, end) < 0)
			return -1;
		first = end;
	}
	for (size_t h = 0; h < sizeof stats_hists / sizeof stats_hists[0]; h++)
		if (format_histogram(s, out, &stats_hists[h]) < 0)
			return -1;
	return 0;
}
