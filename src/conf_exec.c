/*
 * conf_exec.c: checks the settings of a handler = "exec" listener once the
 * file is parsed, and resolves exec_user/exec_group to ids (the one place
 * this module touches the system: the program must exist and be executable,
 * the users must exist, so that `ksockd -t` says so, naming FILE:LINE).
 * Must not start anything.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "exec_conf.h"
#include "exec_env.h"
#include "exec_session.h"

const char *const conf_exec_keys[] = {
    "exec",
    "exec_env",
    "exec_user",
    "exec_group",
    "exec_dir",
    "exec_timeout",
    "max_instances",
    "exec_max_files",
    "exec_max_processes",
    "exec_max_memory",
    "exec_max_cpu",
    NULL,
};

#define FAIL(k, ...)                                                                               \
	do {                                                                                       \
		*key = (k);                                                                        \
		snprintf(why, len, __VA_ARGS__);                                                   \
		return -1;                                                                         \
	} while (0)

static int check_program(const struct exec_conf *ec, const char **key, char *why, size_t len)
{
	const char *prog = ec->argv[0];
	struct stat st;
	if (prog[0] != '/')
		FAIL("exec",
		     "exec: the program must be an absolute path, not '%s' (no shell, no PATH "
		     "search)",
		     prog);
	if (stat(prog, &st) < 0)
		FAIL("exec", "exec: program '%s': %s", prog, strerror(errno));
	if (!S_ISREG(st.st_mode))
		FAIL("exec", "exec: program '%s' is not a regular file", prog);
	if (access(prog, X_OK) < 0 || !(st.st_mode & 0111))
		FAIL("exec", "exec: program '%s' is not executable (chmod +x it)", prog);
	return 0;
}

static int check_env(const struct exec_conf *ec, const char **key, char *why, size_t len)
{
	for (size_t i = 0; i < ec->n_env; i++) {
		const char *e = ec->env[i], *eq = strchr(e, '=');
		size_t n = eq ? (size_t)(eq - e) : 0;
		bool ok = n > 0 && !(e[0] >= '0' && e[0] <= '9');
		for (size_t j = 0; j < n && ok; j++)
			ok = e[j] == '_' || (e[j] >= 'A' && e[j] <= 'Z') ||
			     (e[j] >= 'a' && e[j] <= 'z') || (e[j] >= '0' && e[j] <= '9');
		if (!ok)
			FAIL("exec_env",
			     "exec_env: '%s' is not NAME=value (NAME: letters, digits, _)", e);
		if (exec_env_reserved(e, n))
			FAIL("exec_env",
			     "exec_env: %.*s is set by ksockd itself (see ksockd.conf(5))", (int)n,
			     e);
	}
	return 0;
}

/*
 * exec_user/exec_group -> ids. Programs run as the workers' user unless
 * exec_user says otherwise; root only when written as exec_user = "root".
 * Workers that dropped to an unprivileged user cannot switch to another one.
 */
static int resolve_ids(const struct conf *conf, struct exec_conf *ec, const char **key, char *why,
                       size_t len)
{
	bool root = geteuid() == 0;
	const char *user = ec->user ? ec->user : (root ? conf->user : NULL);
	if (!user) { /* not root: programs run as ksockd's own user */
		ec->uid = geteuid();
		ec->gid = getegid();
		if (ec->group)
			FAIL("exec_group", "exec_group needs ksockd to run as root");
		return 0;
	}
	struct passwd *pw = getpwnam(user);
	if (!pw)
		FAIL(ec->user ? "exec_user" : NULL, "exec_user: user '%s' does not exist", user);
	ec->uid = pw->pw_uid;
	ec->gid = pw->pw_gid;
	if (ec->group) {
		struct group *gr = getgrnam(ec->group);
		if (!gr)
			FAIL("exec_group", "exec_group: group '%s' does not exist", ec->group);
		ec->gid = gr->gr_gid;
	}
	if (ec->uid == 0 && !(ec->user && strcmp(ec->user, "root") == 0))
		FAIL(NULL, "programs would run as root: set exec_user to an unprivileged user, or "
		           "exec_user = \"root\" to run them as root on purpose");
	if (!root) {
		if (ec->uid != geteuid() || ec->gid != getegid())
			FAIL("exec_user",
			     "exec_user '%s': ksockd does not run as root and cannot "
			     "switch users",
			     user);
		return 0;
	}
	/* Workers run as conf->user: unless that is root, they cannot become anyone else. */
	struct passwd *wpw = conf->user ? getpwnam(conf->user) : NULL;
	bool workers_root = !wpw || wpw->pw_uid == 0;
	if (!workers_root) {
		struct group *wgr = conf->group ? getgrnam(conf->group) : NULL;
		gid_t wgid = wgr ? wgr->gr_gid : wpw->pw_gid;
		if (ec->uid != wpw->pw_uid || ec->gid != wgid)
			FAIL(
			    ec->group && ec->uid == wpw->pw_uid ? "exec_group" : "exec_user",
			    "exec_user/exec_group '%s' differ from the workers' user '%s': workers "
			    "run unprivileged and cannot switch; leave exec_user and exec_group "
			    "out "
			    "(the workers' user), or set user = \"root\" for the workers",
			    user, conf->user);
	}
	ec->switch_ids = workers_root;
	ec->n_groups = EXEC_MAX_GROUPS;
	if (workers_root && getgrouplist(user, ec->gid, ec->groups, &ec->n_groups) < 0)
		FAIL("exec_user", "exec_user '%s' is in more than %d groups", user,
		     EXEC_MAX_GROUPS);
	return 0;
}

int conf_exec_check(const struct conf *conf, struct listener_conf *lc, bool has_exec_settings,
                    const char **key, char *why, size_t len)
{
	struct exec_conf *ec = &lc->exec;
	bool is_exec = lc->handler == &handler_exec;
	*key = NULL;
	if (!is_exec) {
		/* Settings at their defaults are harmless (a dumped config writes them all). */
		bool set = ec->argv || ec->env || ec->user || ec->group || ec->dir ||
		           ec->timeout > 0 || ec->max_instances || ec->max_files || ec->max_procs ||
		           ec->max_memory_mb || ec->max_cpu;
		if (has_exec_settings && set)
			FAIL(ec->argv ? "exec" : NULL,
			     "exec settings (exec, exec_user, max_instances, ...) need handler = "
			     "\"exec\"");
		return 0;
	}
	if (proto_is_dgram(lc->protocol))
		FAIL("handler",
		     "handler \"exec\" is for tcp, tls and unix listeners: a program per "
		     "datagram (inetd's udp \"wait\" mode) can be made to spawn without end by "
		     "spoofed or looping datagrams, so ksockd refuses it");
	if (!ec->argv)
		FAIL(NULL, "handler \"exec\" needs 'exec' (the program and its arguments: exec = "
		           "[ \"/usr/bin/prog\", \"arg\" ])");
	if (check_program(ec, key, why, len) < 0 || check_env(ec, key, why, len) < 0)
		return -1;
	if (ec->dir) {
		struct stat st;
		if (ec->dir[0] != '/' || stat(ec->dir, &st) < 0 || !S_ISDIR(st.st_mode))
			FAIL("exec_dir",
			     "exec_dir '%s' is not an existing directory (absolute path)", ec->dir);
	}
	return resolve_ids(conf, ec, key, why, len);
}

static void free_vec(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void conf_exec_free(struct exec_conf *ec)
{
	free_vec(ec->argv, ec->argc);
	free_vec(ec->env, ec->n_env);
	free(ec->user);
	free(ec->group);
	free(ec->dir);
}
