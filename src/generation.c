/*
 * generation.c: prepares the resources a config describes (generation.h):
 * resolves listener addresses, rejects two listeners on one socket, reads
 * quote files, loads TLS credentials, picks counter rows; commits or drops
 * a generation whole. Sockets are gensock.c's. Never exits: every failure
 * is returned as "FILE:LINE: why" so a reload can be refused.
 */
#include "config.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_diag.h"
#include "generation.h"
#include "gensock.h"
#include "handlers/handlers.h"
#include "log.h"
#include "stats.h"
#include "tls.h"

/* "FILE:LINE: listener 'NAME': " then the reason. */
__attribute__((format(printf, 6, 7))) static void gen_fail(const struct generation *g,
                                                           const struct listener_conf *lc, int line,
                                                           char *err, size_t errlen,
                                                           const char *fmt, ...)
{
	int n = snprintf(err, errlen, "%s:%d: listener '%s': ", lc->file ? lc->file : g->conf->path,
	                 line, lc->name);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static int gen_resolve(const struct generation *g, struct gen_listener *gl, char *err,
                       size_t errlen)
{
	const struct listener_conf *lc = gl->conf;
	struct addrinfo hints = {0}, *res = NULL;
	char port[8];
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = lc->protocol == PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof port, "%u", lc->port);
	int rc = getaddrinfo(lc->address, port, &hints, &res);
	if (rc != 0) {
		char hint[256];
		const char *h = diag_address_hint(lc->address, hint, sizeof hint);
		gen_fail(g, lc, lc->address_line, err, errlen,
		         "cannot resolve address '%s': %s%s%s", lc->address,
		         rc == EAI_MEMORY ? "out of memory" : gai_strerror(rc), h ? "; " : "",
		         h ? h : "");
		return -1;
	}
	memcpy(&gl->addr, res->ai_addr, res->ai_addrlen);
	gl->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Resources of listener i; the earlier ones are already prepared. */
static int gen_prepare_listener(struct generation *g, size_t i, char *err, size_t errlen)
{
	struct gen_listener *gl = &g->listeners[i];
	const struct listener_conf *lc = gl->conf;
	if (gen_resolve(g, gl, err, errlen) < 0)
		return -1;
	for (size_t j = 0; j < i; j++)
		if (gen_listener_same_socket(&g->listeners[j], gl)) {
			snprintf(err, errlen,
			         "%s:%d: listener '%s' uses the same %s address and port as '%s'",
			         g->conf->path, lc->line, lc->name, proto_name(lc->protocol),
			         g->listeners[j].conf->name);
			return -1;
		}
	if (lc->qotd_file) {
		char why[512];
		gl->qotd = qotd_load(lc->qotd_file, why, sizeof why);
		if (!gl->qotd) {
			gen_fail(g, lc, lc->qotd_line, err, errlen, "%s", why);
			return -1;
		}
	}
	if (lc->protocol == PROTO_TLS) {
		char why[768];
		gl->tls = tls_ctx_load(lc, why, sizeof why);
		if (!gl->tls) {
			gen_fail(g, lc, lc->line, err, errlen, "%s", why);
			return -1;
		}
	}
	return 0;
}

/* Frees the resources (not the sockets) and the description. */
static void gen_free(struct generation *g)
{
	for (size_t i = 0; g->listeners && i < g->n_listeners; i++) {
		tls_ctx_free(g->listeners[i].tls);
		qotd_free(g->listeners[i].qotd);
	}
	free(g->listeners);
	conf_free(g->conf);
	memset(g, 0, sizeof *g);
}

int generation_prepare(struct generation *g, struct conf *conf, char *err, size_t errlen)
{
	memset(g, 0, sizeof *g);
	g->conf = conf;
	g->listeners = calloc(conf->n_listeners, sizeof *g->listeners);
	if (!g->listeners) {
		snprintf(err, errlen, "%s: out of memory for %zu listener(s)", conf->path,
		         conf->n_listeners);
		gen_free(g);
		return -1;
	}
	g->n_listeners = conf->n_listeners;
	for (size_t i = 0; i < g->n_listeners; i++) {
		g->listeners[i].conf = &conf->listeners[i];
		g->listeners[i].stats_id = -1;
	}
	for (size_t i = 0; i < g->n_listeners; i++)
		if (gen_prepare_listener(g, i, err, errlen) < 0) {
			gen_free(g);
			return -1;
		}
	return 0;
}

int generation_bind(struct generation *g, const struct generation *old,
                    const struct activation *act, char *err, size_t errlen)
{
	return gensock_build(g, old, act, err, errlen);
}

void generation_claim_rows(struct generation *g, struct stats *stats)
{
	for (size_t i = 0; i < g->n_listeners; i++)
		g->listeners[i].stats_id = stats_listener_id(stats, g->listeners[i].conf);
}

void generation_commit(struct generation *g, struct generation *old)
{
	if (!old || !old->conf)
		return;
	for (size_t j = 0; j < old->n_listeners; j++) {
		const struct gen_listener *o = &old->listeners[j];
		if (o->fds && o->fds[0] >= 0 && !gensock_holds(g, o->fds[0]))
			log_info("listener '%s' removed", o->conf->name);
	}
	gensock_retire(old, g);
	gen_free(old);
}

void generation_drop(struct generation *g, const struct generation *old)
{
	if (!g->conf)
		return;
	gensock_retire(g, old);
	gen_free(g);
}

bool gen_listener_same_socket(const struct gen_listener *a, const struct gen_listener *b)
{
	bool a_dgram = a->conf->protocol == PROTO_UDP, b_dgram = b->conf->protocol == PROTO_UDP;
	return a_dgram == b_dgram && a->conf->reuseport == b->conf->reuseport &&
	       a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}
