/*
 * priv.c: user/group resolution, privilege drop and RLIMIT_NOFILE.
 * Called by the master (resolve, rlimit) and by each new worker (drop).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

int priv_resolve(const struct conf *conf, struct priv *p, char *err, size_t errlen)
{
	p->drop = false;
	if (geteuid() != 0) {
		if (conf->user)
			log_debug("not running as root: 'user = \"%s\"' ignored", conf->user);
		return 0;
	}
	if (!conf->user) {
		snprintf(err, errlen,
		         "%s: refusing to run workers as root: set 'user' (and 'group') to an "
		         "unprivileged account, or user = \"root\" to run as root on purpose",
		         conf->path);
		return -1;
	}
	errno = 0;
	struct passwd *pw = getpwnam(conf->user);
	if (!pw) {
		snprintf(err, errlen, "%s: user '%s' does not exist", conf->path, conf->user);
		return -1;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	if (conf->group) {
		struct group *gr = getgrnam(conf->group);
		if (!gr) {
			snprintf(err, errlen, "%s: group '%s' does not exist", conf->path,
			         conf->group);
			return -1;
		}
		p->gid = gr->gr_gid;
	}
	p->drop = p->uid != 0 || p->gid != 0;
	return 0;
}

void priv_drop(const struct priv *p)
{
	if (!p->drop)
		return;
	if (setgroups(0, NULL) < 0)
		fatal("setgroups");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		fatal("setresgid(%u)", (unsigned)p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		fatal("setresuid(%u)", (unsigned)p->uid);
	if (p->uid != 0 && setuid(0) == 0)
		fatalx("privileges could be regained after dropping them");
}

void priv_raise_nofile(const struct conf *conf)
{
	struct rlimit rl;
	rlim_t want = 64;
	for (size_t i = 0; i < conf->n_listeners; i++)
		want += 1;
	want += conf->limits.max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn("getrlimit(RLIMIT_NOFILE)");
		return;
	}
	if (rl.rlim_cur >= want)
		return;
	rlim_t target = want;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		target = rl.rlim_max;
	rl.rlim_cur = target;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the open files limit to %llu", (unsigned long long)target);
	if (target < want)
		log_warnx(
		    "open files limit is %llu (hard limit), below the %llu that max_connections "
		    "= %u needs: connections past it will be refused (EMFILE)",
		    (unsigned long long)target, (unsigned long long)want,
		    conf->limits.max_connections);
}
