/*
 * reuseport.h: the extra listening sockets of reuseport listeners.
 *
 * A listener with reuseport = true gets one SO_REUSEPORT socket per worker
 * slot, all bound to the same address, so the kernel spreads new connections
 * across the workers instead of waking them all on one shared queue. Slot 0
 * uses the listener's ordinary socket (the master's fds[i]); this set holds
 * slots 1..slots-1. Across a reload a socket is kept for the same listener
 * address and slot, so no queued connection is dropped; a worker keeps only
 * its own slot's socket.
 */
#ifndef KSOCKD_REUSEPORT_H
#define KSOCKD_REUSEPORT_H

#include <stddef.h>

#include "conf.h"

struct rp_set {
	int *fds;       /* fds[i * slots + s], -1 where none (s == 0, or not reuseport) */
	size_t n;       /* listeners */
	unsigned slots; /* worker slots when bound */
};

/*
 * Fills rp for conf, reusing sockets of old (bound for old_conf; both may be
 * empty/NULL). Returns 0, or -1 (logged) after closing what it bound.
 */
int reuseport_bind(struct rp_set *rp, const struct conf *conf, const struct rp_set *old,
                   const struct conf *old_conf);
/* Closes sockets of old that rp does not reuse, and frees old's array. */
void reuseport_retire(struct rp_set *old, const struct rp_set *rp);
/* Closes every socket of rp and frees it. */
void reuseport_free(struct rp_set *rp);
/*
 * Worker side, right after fork: returns the fd array the worker of slot
 * serves (its slot's socket for reuseport listeners) and closes, in this
 * process, the sockets of the other slots. NULL if out of memory.
 */
int *reuseport_worker_fds(const struct rp_set *rp, const struct conf *conf, const int *fds,
                          unsigned slot);

#endif
