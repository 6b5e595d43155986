/*
 * gensock.h: the sockets of a generation, and only those.
 *
 * Every listener has one socket per worker slot when reuseport is set (the
 * kernel spreads connections over the workers' own queues), else one socket
 * all workers share. For each listener and slot the socket is, in order:
 *   kept   the previous generation's socket for the same kind, address and
 *          slot: never closed across the reload, so no queued connection
 *          is lost;
 *   passed (slot 0) a dup of the socket the service manager passed under the
 *          listener's name (activation.h);
 *   bound  a new socket (listener_bind).
 * build chooses them all or undoes what it bound; retire(g, keep) closes
 * g's sockets that keep does not hold (a commit retires the old generation
 * keeping the new, a drop retires the new keeping the old).
 */
#ifndef KSOCKD_GENSOCK_H
#define KSOCKD_GENSOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "generation.h"

struct activation;

/* Sockets for every listener and slot of g (see above). 0, or -1 with err set. */
int gensock_build(struct generation *g, const struct generation *old, const struct activation *act,
                  char *err, size_t errlen);
/* Whether fd is one of g's sockets (g may be NULL). */
bool gensock_holds(const struct generation *g, int fd);
/* Closes g's sockets that keep does not hold, in this process only (a worker forked while
 * the master still holds the running generation's sockets); g is left as it is. */
void gensock_close_unheld(const struct generation *g, const struct generation *keep);
/* Closes g's sockets that keep (may be NULL) does not hold; frees g's fd arrays. */
void gensock_retire(struct generation *g, const struct generation *keep);

#endif
