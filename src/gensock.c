/*
 * gensock.c: chooses, keeps and closes the listening sockets of a
 * generation (gensock.h). Master side, except generation_keep_slot which a
 * just-forked worker runs. Binds only through listener_bind and takes
 * passed sockets only through activation_take.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "addr.h"
#include "gensock.h"
#include "handler.h"
#include "listener.h"
#include "log.h"
#include "unixsock.h"

bool gensock_holds(const struct generation *g, int fd)
{
	for (size_t i = 0; g && i < g->n_listeners; i++)
		for (unsigned s = 0; g->listeners[i].fds && s < g->listeners[i].n_fds; s++)
			if (g->listeners[i].fds[s] == fd)
				return true;
	return false;
}

/* The old generation's socket of the same kind and address for slot s, or -1. A kept
   unix socket keeps its file, and so whether this daemon is the one to remove it. */
static int gensock_find_old(const struct generation *old, struct gen_listener *gl, unsigned s)
{
	for (size_t j = 0; old && j < old->n_listeners; j++) {
		const struct gen_listener *o = &old->listeners[j];
		if (o->fds && s < o->n_fds && o->fds[s] >= 0 && gen_listener_same_socket(o, gl)) {
			if (o->un && gl->un) {
				gl->un->owned = o->un->owned;
				gl->un->dev = o->un->dev;
				gl->un->ino = o->un->ino;
			}
			return o->fds[s];
		}
	}
	return -1;
}

/* The socket of gl for slot s; -1 with err set. */
static int gensock_choose(struct gen_listener *gl, unsigned s, const struct generation *old,
                          const struct activation *act, char *err, size_t errlen)
{
	int fd = gensock_find_old(old, gl, s);
	enum gensock_origin origin = GENSOCK_KEPT;
	if (fd >= 0 && unixsock_reapply(gl, err, errlen) < 0)
		return -1; /* the kept socket stays the running generation's */
	if (fd < 0 && s == 0 && act) {
		int rc = activation_take(act, gl, &fd, err, errlen);
		if (rc < 0)
			return -1;
		origin = GENSOCK_PASSED;
	}
	if (fd < 0) {
		fd = listener_bind(gl, err, errlen);
		if (fd < 0)
			return -1;
		origin = GENSOCK_BOUND;
		if (gl->un)
			unixsock_note_bound(gl);
	}
	if (s == 0)
		gl->origin = origin;
	return fd;
}

static void gensock_log(const struct gen_listener *gl)
{
	const struct listener_conf *lc = gl->conf;
	char a[ADDR_STRLEN];
	if (gl->origin == GENSOCK_KEPT)
		return;
	log_info("listener '%s': %s %s, handler %s%s", lc->name, proto_name(lc->protocol),
	         gl->un ? lc->un.path : addr_format((const struct sockaddr *)&gl->addr, a),
	         lc->handler->name,
	         gl->origin == GENSOCK_PASSED ? " (socket passed by the service manager)"
	         : lc->reuseport              ? ", reuseport"
	                                      : "");
}

int gensock_build(struct generation *g, const struct generation *old, const struct activation *act,
                  char *err, size_t errlen)
{
	for (size_t i = 0; i < g->n_listeners; i++) {
		struct gen_listener *gl = &g->listeners[i];
		gl->n_fds = gl->conf->reuseport ? g->conf->workers : 1;
		gl->fds = malloc(gl->n_fds * sizeof *gl->fds);
		if (!gl->fds) {
			snprintf(err, errlen, "listener '%s': out of memory for %u socket(s)",
			         gl->conf->name, gl->n_fds);
			gl->n_fds = 0;
			gensock_retire(g, old);
			return -1;
		}
		for (unsigned s = 0; s < gl->n_fds; s++)
			gl->fds[s] = -1;
		for (unsigned s = 0; s < gl->n_fds; s++) {
			gl->fds[s] = gensock_choose(gl, s, old, act, err, errlen);
			if (gl->fds[s] < 0) {
				if (s > 0) {
					size_t n = strlen(err);
					snprintf(err + n, errlen - n,
					         " (reuseport socket for worker %u)", s);
				}
				gensock_retire(g, old);
				return -1;
			}
		}
		gensock_log(gl);
	}
	return 0;
}

void gensock_close_unheld(const struct generation *g, const struct generation *keep)
{
	for (size_t i = 0; i < g->n_listeners; i++) {
		const struct gen_listener *gl = &g->listeners[i];
		for (unsigned s = 0; gl->fds && s < gl->n_fds; s++)
			if (gl->fds[s] >= 0 && !gensock_holds(keep, gl->fds[s]))
				close(gl->fds[s]);
	}
}

void gensock_retire(struct generation *g, const struct generation *keep)
{
	for (size_t i = 0; i < g->n_listeners; i++) {
		struct gen_listener *gl = &g->listeners[i];
		for (unsigned s = 0; gl->fds && s < gl->n_fds; s++)
			if (gl->fds[s] >= 0 && !gensock_holds(keep, gl->fds[s])) {
				close(gl->fds[s]);
				unixsock_unlink(
				    gl); /* a unix listener's file goes with its socket */
			}
		free(gl->fds);
		gl->fds = NULL;
		gl->n_fds = 0;
		gl->origin = GENSOCK_NONE;
	}
}

void generation_keep_slot(struct generation *g, unsigned slot)
{
	for (size_t i = 0; i < g->n_listeners; i++) {
		struct gen_listener *gl = &g->listeners[i];
		for (unsigned s = 0; gl->n_fds > 1 && s < gl->n_fds; s++)
			if (s != slot && gl->fds[s] >= 0) {
				close(gl->fds[s]);
				gl->fds[s] = -1;
			}
	}
}

int gen_listener_fd(const struct gen_listener *gl, unsigned slot)
{
	return gl->n_fds > 1 ? gl->fds[slot < gl->n_fds ? slot : 0] : gl->fds[0];
}
