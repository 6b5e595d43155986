/*
 * exec_spawn.h: starts one program for a connection (clone + execve, never a
 * shell) with pipes for its stdin, stdout and stderr.
 *
 * The child (clone with CLONE_VM and CLONE_VFORK, as posix_spawn: no copy of
 * the worker's memory), between clone and execve, makes only async-signal-safe system
 * calls, in this order: every signal back to SIG_DFL and an empty mask (the
 * worker ignores SIGPIPE and libev blocks or catches others), setsid (its
 * own session and process group, so signals reach all it starts), the pipes
 * onto 0/1/2, every other descriptor closed (close_range; the worker's are
 * close-on-exec anyway: this is the belt), resource limits, the working
 * directory, groups then gid then uid (when exec_user differs from the
 * worker's), PR_SET_PDEATHSIG (SIGKILL if the worker dies, set after the uid
 * change which would clear it), execve. A failing step is written to a
 * close-on-exec pipe that the parent reads: "cannot start: step: error".
 */
#ifndef KSOCKD_EXEC_SPAWN_H
#define KSOCKD_EXEC_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

struct exec_conf;

struct exec_child {
	pid_t pid;  /* also its process group */
	int in_fd;  /* write end of its stdin (non-blocking, close-on-exec) */
	int out_fd; /* read end of its stdout (same) */
	int err_fd; /* read end of its stderr (same) */
};

/* Starts ec->argv with envp. Returns 0, or -1 with why set (nothing left open or running). */
int exec_spawn(const struct exec_conf *ec, char *const envp[], struct exec_child *child, char *why,
               size_t len);

#endif
