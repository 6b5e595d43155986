/*
 * priv.h: privileges: resolving the configured user/group, dropping to them
 * in workers, and raising RLIMIT_NOFILE.
 */
#ifndef KSOCKD_PRIV_H
#define KSOCKD_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"

struct priv {
	bool drop; /* switch to uid/gid in workers */
	uid_t uid; /* target user */
	gid_t gid; /* target group */
};

/*
 * Decides what workers run as. Root without 'user' is refused unless the
 * config says user = "root". Returns 0, or -1 with err set.
 */
int priv_resolve(const struct conf *conf, struct priv *p, char *err, size_t errlen);
/* In a worker: drops supplementary groups, then group, then user. Exits on failure. */
void priv_drop(const struct priv *p);
/* Raises the open-files limit to cover the configured connections. */
void priv_raise_nofile(const struct conf *conf);

#endif
