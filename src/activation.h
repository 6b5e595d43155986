/*
 * activation.h: socket activation. The sockets passed by the service manager
 * (systemd's .socket units, systemd-socket-activate) are matched to
 * listeners by name: the fd named like a listener (FileDescriptorName=)
 * serves it instead of a socket ksockd binds, once its type, address and
 * state are checked against the listener's config.
 *
 * The master owns the passed fds for its whole life (struct activation);
 * each listener gets its own dup, so gensock.c's usual bookkeeping (keep
 * across reloads, close when removed) applies unchanged, and a listener
 * removed by a reload and added back later finds its socket again.
 */
#ifndef KSOCKD_ACTIVATION_H
#define KSOCKD_ACTIVATION_H

#include <stddef.h>

#include "conf.h"
#include "generation.h"

struct activation {
	size_t n;     /* sockets passed by the service manager */
	int *fds;     /* the sockets (owned, closed by activation_free) */
	char **names; /* their names, "unknown" when unnamed (owned) */
};

/* Takes the passed sockets from the environment (LISTEN_FDS...). */
void activation_collect(struct activation *a);
/* Adopts already open sockets (fds and names are copied; for tests). */
void activation_adopt(struct activation *a, size_t n, const int *fds, const char *const *names);
/*
 * The passed socket named like gl's listener, checked against gl (resolved
 * address included) and dup'ed into *fd: returns 1. 0 when none has that
 * name (*fd = -1); -1 with err set when it does not fit.
 */
int activation_take(const struct activation *a, const struct gen_listener *gl, int *fd, char *err,
                    size_t errlen);
/* Logs every passed socket whose name matches no listener of conf; returns their number. */
size_t activation_report_unmatched(const struct activation *a, const struct conf *conf);
void activation_free(struct activation *a);

#endif
