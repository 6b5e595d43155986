/*
 * guard.c: per-listener admission control and refusal accounting (see
 * guard.h). Owns struct guard's counters and the tickets it hands out; uses
 * srctab for state shared between workers. Must not touch sockets: callers
 * close what is refused.
 */
#include "config.h"

#include <time.h>

#include "acl.h"
#include "addr.h"
#include "guard.h"
#include "log.h"
#include "srctab.h"
#include "unixsock.h"

static const char *const reason_names[GUARD_N_REASONS] = {
    [GUARD_OK] = "admitted",
    [GUARD_ACL] = "denied by allow/deny",
    [GUARD_RATE] = "connect_rate exceeded",
    [GUARD_PER_SOURCE] = "max_connections_per_source reached",
    [GUARD_SLOW_CLIENT] = "slow_client_timeout",
    [GUARD_BUFFER_LIMIT] = "worker_buffer_limit reached",
};

const char *guard_reason_name(enum guard_reason r)
{
	return r < GUARD_N_REASONS ? reason_names[r] : "?";
}

void guard_init(struct guard *g, const struct listener_conf *lc, struct srctab *tab, int proc)
{
	*g = (struct guard){.lc = lc, .tab = tab, .proc = proc};
}

void guard_note(struct guard *g, enum guard_reason r, const char *peer_str, double now)
{
	g->count[r]++;
	unsigned long n = log_limit_hit(&g->log[r], now, GUARD_LOG_INTERVAL);
	if (n == 0)
		return;
	bool refusal = r == GUARD_ACL || r == GUARD_RATE || r == GUARD_PER_SOURCE;
	log_info("%s: %s: %s %lu %s (last from %s; %lu in total)", g->lc->name,
	         guard_reason_name(r), refusal ? "refused" : "closed", n,
	         refusal ? "connection(s)" : "client(s)", peer_str, g->count[r]);
}

/* Milliseconds of the monotonic clock: buckets are shared by processes, ev_now() is not. */
static uint64_t guard_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum guard_reason guard_admit(struct guard *g, const struct sockaddr *peer, double now,
                              struct guard_ticket *ticket)
{
	const struct limits *lim = &g->lc->limits;
	enum guard_reason r = GUARD_OK;
	if (ticket)
		ticket->slot = -1;
	uint64_t key = g->tab ? srctab_key(g->lc->name, peer) : 0;
	const struct peer_cred *cred = addr_cred(peer);
	if (cred ? !unixsock_admit(g->un, cred) : !acl_check(&g->lc->acl, peer))
		r = GUARD_ACL;
	else if (key && lim->connect_rate > 0 &&
	         !srctab_rate_take(g->tab, key, lim->connect_rate, lim->connect_burst,
	                           guard_now_ms()))
		r = GUARD_RATE;
	if (r == GUARD_OK && key && ticket && lim->max_connections_per_source > 0) {
		int slot = srctab_acquire(g->tab, g->proc, key, lim->max_connections_per_source);
		if (slot == SRCTAB_FULL)
			r = GUARD_PER_SOURCE;
		else
			ticket->slot = slot;
	}
	if (r != GUARD_OK) {
		char a[ADDR_STRLEN];
		guard_note(g, r, addr_format(peer, a), now);
	}
	return r;
}

void guard_release(struct guard *g, struct guard_ticket *ticket)
{
	if (ticket->slot >= 0 && g->tab)
		srctab_release(g->tab, g->proc, ticket->slot);
	ticket->slot = -1;
}

void guard_log_totals(const struct guard *g, unsigned worker)
{
	for (int r = 1; r < GUARD_N_REASONS; r++)
		if (g->count[r])
			log_info("%s: worker %u: %lu connection(s) %s: %s", g->lc->name, worker,
			         g->count[r], r <= GUARD_PER_SOURCE ? "refused" : "closed",
			         guard_reason_name(r));
}
