/*
 * exec_conf.h: the settings of a handler = "exec" listener (plain data, part
 * of struct listener_conf). Parsed by conf.c's settings table, checked and
 * completed (user and group resolved) by conf_exec.c.
 */
#ifndef KSOCKD_EXEC_CONF_H
#define KSOCKD_EXEC_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define EXEC_MAX_GROUPS 64 /* supplementary groups kept for exec_user */

struct exec_conf {
	char **argv;            /* exec = [ program, args... ]; NULL-terminated; NULL: none */
	size_t argc;            /* entries in argv */
	char **env;             /* exec_env = [ "NAME=value", ... ]; NULL-terminated */
	size_t n_env;           /* entries in env */
	char *user;             /* exec_user as written (NULL: the workers' user) */
	char *group;            /* exec_group as written (NULL: exec_user's group) */
	char *dir;              /* exec_dir (NULL: "/") */
	double timeout;         /* exec_timeout: seconds a session may last, 0: no limit */
	unsigned max_instances; /* running programs of this listener, all workers; 0: no limit */
	/* Resource limits (setrlimit in the child); 0: inherit. */
	unsigned max_files;     /* exec_max_files: RLIMIT_NOFILE */
	unsigned max_procs;     /* exec_max_processes: RLIMIT_NPROC */
	unsigned max_memory_mb; /* exec_max_memory: RLIMIT_AS, MiB */
	unsigned max_cpu;       /* exec_max_cpu: RLIMIT_CPU, seconds */
	/* Resolved by conf_exec_check. */
	bool switch_ids;               /* the child changes uid/gid/groups before exec */
	uid_t uid;                     /* target user */
	gid_t gid;                     /* target group */
	gid_t groups[EXEC_MAX_GROUPS]; /* supplementary groups of uid */
	int n_groups;                  /* entries in groups */
};

struct conf;
struct listener_conf;

/*
 * Checks the exec settings of lc against the rest of the config (conf's
 * globals are loaded): returns 0, or -1 with why set and *key naming the
 * setting to blame (NULL: the listener as a whole).
 */
int conf_exec_check(const struct conf *conf, struct listener_conf *lc, bool has_exec_settings,
                    const char **key, char *why, size_t len);
void conf_exec_free(struct exec_conf *ec);
/* The setting names of this module, for "only with handler exec" checks. */
extern const char *const conf_exec_keys[];

#endif
