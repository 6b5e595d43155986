/*
 * reuseport.c: binds, keeps across reloads, and hands out the per-slot
 * SO_REUSEPORT sockets (see reuseport.h). Master side, except
 * reuseport_worker_fds which runs in a just-forked worker.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "reuseport.h"

static int reuseport_find_old(const struct rp_set *old, const struct conf *old_conf,
                              const struct listener_conf *lc, unsigned s)
{
	if (!old || !old->fds || !old_conf || s >= old->slots)
		return -1;
	for (size_t j = 0; j < old->n; j++)
		if (old->fds[j * old->slots + s] >= 0 &&
		    listener_conf_same_socket(&old_conf->listeners[j], lc))
			return old->fds[j * old->slots + s];
	return -1;
}

static bool reuseport_holds(const struct rp_set *rp, int fd)
{
	for (size_t k = 0; rp && rp->fds && k < rp->n * rp->slots; k++)
		if (rp->fds[k] == fd)
			return true;
	return false;
}

int reuseport_bind(struct rp_set *rp, const struct conf *conf, const struct rp_set *old,
                   const struct conf *old_conf)
{
	rp->n = conf->n_listeners;
	rp->slots = conf->workers;
	rp->fds = malloc(rp->n * rp->slots * sizeof *rp->fds);
	if (!rp->fds)
		fatal("malloc");
	for (size_t k = 0; k < rp->n * rp->slots; k++)
		rp->fds[k] = -1;
	for (size_t i = 0; i < rp->n; i++) {
		const struct listener_conf *lc = &conf->listeners[i];
		if (!lc->reuseport)
			continue;
		for (unsigned s = 1; s < rp->slots; s++) {
			int fd = reuseport_find_old(old, old_conf, lc, s);
			if (fd < 0) {
				char err[512];
				fd = listener_bind(lc, err, sizeof err);
				if (fd < 0) {
					log_err("%s (reuseport socket for worker %u)", err, s);
					for (size_t k = 0; k < rp->n * rp->slots; k++)
						if (rp->fds[k] >= 0 &&
						    !reuseport_holds(old, rp->fds[k]))
							close(rp->fds[k]);
					free(rp->fds);
					rp->fds = NULL;
					return -1;
				}
			}
			rp->fds[i * rp->slots + s] = fd;
		}
	}
	return 0;
}

void reuseport_retire(struct rp_set *old, const struct rp_set *rp)
{
	for (size_t k = 0; old->fds && k < old->n * old->slots; k++)
		if (old->fds[k] >= 0 && !reuseport_holds(rp, old->fds[k]))
			close(old->fds[k]);
	free(old->fds);
	old->fds = NULL;
}

void reuseport_free(struct rp_set *rp)
{
	reuseport_retire(rp, NULL);
}

int *reuseport_worker_fds(const struct rp_set *rp, const struct conf *conf, const int *fds,
                          unsigned slot)
{
	int *mine = malloc(conf->n_listeners * sizeof *mine);
	if (!mine)
		return NULL;
	for (size_t i = 0; i < conf->n_listeners; i++) {
		mine[i] = fds[i];
		if (!conf->listeners[i].reuseport)
			continue;
		for (unsigned s = 0; s < rp->slots; s++) {
			int fd = s == 0 ? fds[i] : rp->fds[i * rp->slots + s];
			if (s == slot)
				mine[i] = fd;
			else
				close(fd);
		}
	}
	return mine;
}
