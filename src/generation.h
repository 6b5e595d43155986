/*
 * generation.h: what a config serves with once the master has prepared it.
 *
 * conf_load() gives a description only (plain data, nothing opened). The
 * master turns it into a generation in two steps, each of which either
 * succeeds whole or undoes itself whole:
 *
 *   struct conf --generation_prepare--> resources: names resolved, TLS
 *        |                              credentials loaded, quote files read
 *        |                              (nothing bound) ... `ksockd -t` stops here
 *        +----------generation_bind---> sockets chosen per listener and worker
 *                                       slot (gensock.h): passed, kept, bound
 *
 *   prepared+bound --generation_claim_rows--> counter rows chosen by name
 *        |                                     (then the master starts the
 *        |                                     new workers from it)
 *        +--generation_commit(new, old)--> serving: old's resources freed,
 *                                          its unshared sockets closed
 *   any step fails --generation_drop(new, old)----> everything new made is
 *                                                   undone; old untouched
 *
 * A failure anywhere (allocation, DNS, credentials, bind) is an error
 * message "FILE:LINE: why", never an exit: the running generation keeps
 * serving. Workers get a copy of the generation at fork() and only read it.
 */
#ifndef KSOCKD_GENERATION_H
#define KSOCKD_GENERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conf.h"

struct activation;
struct qotd_quotes;
struct stats;
struct tls_ctx;

/* Where the socket of a listener came from (for the log line and for retiring). */
enum gensock_origin {
	GENSOCK_NONE,   /* no socket yet (not bound, or `ksockd -t`) */
	GENSOCK_BOUND,  /* bound by this generation */
	GENSOCK_KEPT,   /* the previous generation's, same address: never closed */
	GENSOCK_PASSED, /* a dup of the service manager's socket of the same name */
};

/* One listener as this generation serves it. */
struct gen_listener {
	const struct listener_conf *conf; /* its description (in generation.conf) */
	struct sockaddr_storage addr;     /* address resolved from conf->address */
	socklen_t addrlen;                /* length of addr, 0 until resolved */
	struct tls_ctx *tls;              /* credentials (protocol tls), else NULL */
	struct qotd_quotes *qotd;         /* quotes (handler qotd), else NULL */
	int stats_id;                     /* row in the shared counters, -1: not counted */
	int *fds;                         /* socket per worker slot; only [0] unless reuseport */
	unsigned n_fds;                   /* entries in fds (workers if reuseport, else 1) */
	enum gensock_origin origin;       /* where fds[0] came from */
	struct unix_ids *un;              /* unix listeners: ids and socket file (unixsock.h) */
};

struct generation {
	struct conf *conf;              /* the description (owned) */
	struct gen_listener *listeners; /* one per conf listener, same order */
	size_t n_listeners;             /* conf->n_listeners once prepared */
};

/*
 * Resolves, loads and reads everything conf describes. g takes conf in
 * every case. Returns 0, or -1 with "FILE:LINE: why" in err after undoing
 * itself (g then holds nothing; conf is freed).
 */
int generation_prepare(struct generation *g, struct conf *conf, char *err, size_t errlen);
/*
 * Chooses the socket of every listener and worker slot: kept from old (may
 * be NULL), passed by the service manager (act, may be NULL), or newly
 * bound. Returns 0, or -1 with err set after closing what it bound.
 */
int generation_bind(struct generation *g, const struct generation *old,
                    const struct activation *act, char *err, size_t errlen);
/* Gives each listener its row in the shared counters, matched by name (before forking). */
void generation_claim_rows(struct generation *g, struct stats *stats);
/* g serves from now on: old's (may be NULL) sockets that g does not hold are closed, old freed. */
void generation_commit(struct generation *g, struct generation *old);
/* Undoes g (a failed or abandoned reload): closes what old does not hold, frees g. */
void generation_drop(struct generation *g, const struct generation *old);
/* Worker side, after fork: closes the other slots' sockets in this process. */
void generation_keep_slot(struct generation *g, unsigned slot);
/* The socket gl serves in worker slot (after generation_keep_slot). */
int gen_listener_fd(const struct gen_listener *gl, unsigned slot);
/* Same kind of socket on the same address: a reload can keep it. */
bool gen_listener_same_socket(const struct gen_listener *a, const struct gen_listener *b);

#endif
