/*
 * stats.c: the shared counters region: creation by the master, the listener
 * name table, worker slots, and summing for readers.
 *
 * Owns the mapping. The master is the only writer of everything but the
 * counters; each worker writes only its own slot's counters (stats_add in
 * stats.h). Must not touch sockets or processes.
 */
#include "config.h"

#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "conf.h"
#include "log.h"
#include "stats.h"

#define STATS_MAGIC 0x6b736f636b737431ull /* "ksockst1" */

double stats_now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct stats *stats_create(void)
{
	void *p = mmap(NULL, sizeof(struct stats), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct stats *s = p; /* zero-filled by the kernel */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->magic = STATS_MAGIC;
	s->started_real = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	s->started_mono = stats_now_mono();
	s->last_reload_ok_real = s->started_real; /* the config loaded at start */
	return s;
}

void stats_destroy(struct stats *s)
{
	if (s && munmap(s, sizeof *s) < 0)
		log_warn("munmap of the counters");
}

static int stats_find_name(const struct stats *s, const char *name)
{
	for (unsigned i = 0; i < s->n_listeners; i++)
		if (strcmp(s->listeners[i].name, name) == 0)
			return (int)i;
	return -1;
}

int stats_listener_id(struct stats *s, const struct listener_conf *lc)
{
	int id = stats_find_name(s, lc->name);
	if (id < 0 && strlen(lc->name) >= STATS_NAME_MAX) {
		log_warnx("listener '%s': name longer than %d bytes: not counted", lc->name,
		          STATS_NAME_MAX - 1);
	} else if (id < 0 && s->n_listeners >= STATS_MAX_LISTENERS) {
		log_warnx("listener '%s': %d listener names counted since start: not counted "
		          "until a restart",
		          lc->name, STATS_MAX_LISTENERS);
	} else if (id < 0) {
		id = (int)s->n_listeners;
		strcpy(s->listeners[id].name, lc->name);
		__atomic_store_n(&s->n_listeners, s->n_listeners + 1, __ATOMIC_RELEASE);
	}
	if (id >= 0)
		s->listeners[id].protocol = (uint32_t)lc->protocol;
	return id;
}

int stats_slot_claim(struct stats *s, unsigned position)
{
	int free_slot = -1;
	for (int i = 0; i < STATS_MAX_SLOTS; i++) {
		const struct stats_proc *p = &s->procs[i];
		if (p->pid != 0)
			continue;
		if (p->used && p->position == position)
			return i;
		if (free_slot < 0)
			free_slot = i;
	}
	return free_slot;
}

void stats_slot_start(struct stats *s, int slot, pid_t pid, unsigned generation, unsigned position)
{
	if (slot < 0)
		return;
	struct stats_proc *p = &s->procs[slot];
	p->generation = generation;
	p->position = position;
	p->draining = 0;
	p->started = stats_now_mono();
	stats_sample_store(s, slot, &(struct proc_sample){0}); /* not its predecessor's */
	p->used = 1;
	__atomic_store_n(&p->pid, (int32_t)pid, __ATOMIC_RELEASE);
	if ((uint32_t)slot >= s->n_slots)
		__atomic_store_n(&s->n_slots, (uint32_t)slot + 1, __ATOMIC_RELEASE);
}

/* Bucket bounds: seconds, chosen for line protocols (a handshake takes ms, a session s to h). */
const struct stats_hist stats_hists[2] = {
    {STAT_HIST_CONN_DURATION,
     "ksockd_connection_duration_seconds",
     "Time from accept to close of stream connections, seconds.",
     (1u << PROTO_TCP) | (1u << PROTO_TLS) | (1u << PROTO_UNIX),
     {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800, 3600}},
    {STAT_HIST_TLS_HANDSHAKE,
     "ksockd_tls_handshake_duration_seconds",
     "Time from accept to a completed TLS handshake, seconds.",
     1u << PROTO_TLS,
     {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}},
};

void stats_observe(stats_row *row, const struct stats_hist *h, double seconds)
{
	size_t b = 0;
	while (b < STATS_HIST_BUCKETS - 1 && seconds > h->bounds[b])
		b++;
	stats_add(row, (enum stat_id)(h->first + b), 1);
	stats_add(row, (enum stat_id)(h->first + STATS_HIST_BUCKETS),
	          seconds > 0 ? (uint64_t)(seconds * 1e6 + 0.5) : 0);
}

void stats_sample_store(struct stats *s, int slot, const struct proc_sample *ps)
{
	struct proc_sample *to = slot < 0 ? &s->master_sample : &s->procs[slot].sample;
	__atomic_store_n(&to->rss_bytes, ps->rss_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&to->open_fds, ps->open_fds, __ATOMIC_RELAXED);
	__atomic_store(&to->cpu_seconds, &ps->cpu_seconds, __ATOMIC_RELAXED);
}

void stats_sample_load(const struct proc_sample *from, struct proc_sample *to)
{
	to->rss_bytes = __atomic_load_n(&from->rss_bytes, __ATOMIC_RELAXED);
	to->open_fds = __atomic_load_n(&from->open_fds, __ATOMIC_RELAXED);
	__atomic_load(&from->cpu_seconds, &to->cpu_seconds, __ATOMIC_RELAXED);
}

void stats_reload_done(struct stats *s, bool ok)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ok) {
		__atomic_store_n(&s->reloads_ok, s->reloads_ok + 1, __ATOMIC_RELAXED);
		s->last_reload_ok_real = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	} else
		__atomic_store_n(&s->reloads_rejected, s->reloads_rejected + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->last_reload_failed, ok ? 0u : 1u, __ATOMIC_RELAXED);
}

void stats_slot_draining(struct stats *s, int slot)
{
	if (slot >= 0)
		s->procs[slot].draining = 1;
}

void stats_slot_end(struct stats *s, int slot, bool crashed)
{
	if (slot < 0)
		return;
	for (unsigned l = 0; l < STATS_MAX_LISTENERS; l++)
		__atomic_store_n(&s->counters[slot][l][STAT_CONN_OPEN], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->procs[slot].pid, 0, __ATOMIC_RELEASE);
	if (crashed)
		__atomic_store_n(&s->worker_crashes, s->worker_crashes + 1, __ATOMIC_RELAXED);
}

stats_row *stats_row_of(struct stats *s, int slot, int listener_id)
{
	if (!s || slot < 0 || listener_id < 0)
		return NULL;
	return s->counters[slot][listener_id];
}

uint64_t stats_get(const struct stats *s, unsigned slot, unsigned listener_id, enum stat_id id)
{
	return __atomic_load_n(&s->counters[slot][listener_id][id], __ATOMIC_RELAXED);
}

uint64_t stats_sum(const struct stats *s, unsigned listener_id, enum stat_id id)
{
	uint64_t sum = 0;
	unsigned n = __atomic_load_n(&s->n_slots, __ATOMIC_ACQUIRE);
	for (unsigned slot = 0; slot < n; slot++)
		sum += stats_get(s, slot, listener_id, id);
	return sum;
}
