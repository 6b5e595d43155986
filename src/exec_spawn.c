/*
 * exec_spawn.c: clone + execve of a connection's program (exec_spawn.h has
 * the child's steps and why). Owns nothing once it returns: the descriptors
 * and the process belong to the caller.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

#include "exec_conf.h"
#include "exec_spawn.h"

/* The step that failed in the child, reported through the error pipe. */
enum spawn_step {
	STEP_SIGNALS, /* resetting signal dispositions and mask */
	STEP_SETSID,  /* new session and process group */
	STEP_DUP,     /* pipes onto 0/1/2 */
	STEP_CLOSE,   /* closing inherited descriptors */
	STEP_RLIMIT,  /* resource limits */
	STEP_CHDIR,   /* exec_dir */
	STEP_GROUPS,  /* setgroups */
	STEP_GID,     /* setresgid */
	STEP_UID,     /* setresuid */
	STEP_PDEATH,  /* PR_SET_PDEATHSIG */
	STEP_EXEC,    /* execve */
};

static const char *const step_names[] = {
    [STEP_SIGNALS] = "resetting signals",
    [STEP_SETSID] = "setsid",
    [STEP_DUP] = "setting up stdin/stdout/stderr",
    [STEP_CLOSE] = "closing descriptors",
    [STEP_RLIMIT] = "setting resource limits",
    [STEP_CHDIR] = "changing to exec_dir",
    [STEP_GROUPS] = "setgroups",
    [STEP_GID] = "setting the group (exec_group)",
    [STEP_UID] = "setting the user (exec_user)",
    [STEP_PDEATH] = "PR_SET_PDEATHSIG",
    [STEP_EXEC] = "execve",
};

#define SPAWN_STACK (64 * 1024) /* the child's own stack until execve */
/* Code the child runs on its own stack: ASan cannot follow a stack switch (it warns at
   each noreturn call), and there is nothing to check in a few system calls. */
#define CHILD_CODE __attribute__((no_sanitize_address))

/* What the child needs: read-only to it (it shares the worker's memory until execve). */
struct spawn_args {
	const struct exec_conf *ec; /* program, limits, ids */
	char *const *envp;          /* its environment */
	int in_r, out_w, err_w;     /* its ends of the pipes */
	int rep;                    /* error report pipe (write end) */
};

struct spawn_report {
	int step;  /* enum spawn_step */
	int error; /* errno */
};

/* Child only: reports the failed step and exits. Async-signal-safe. */
CHILD_CODE __attribute__((noreturn)) static void child_fail(int fd, enum spawn_step step)
{
	struct spawn_report r = {(int)step, errno};
	ssize_t n = write(fd, &r, sizeof r);
	(void)n;
	_exit(127);
}

/* Child only: fd onto target without close-on-exec. */
CHILD_CODE static int child_place(int fd, int target)
{
	if (fd == target)
		return fcntl(target, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

CHILD_CODE static int child_limit(int resource, rlim_t value)
{
	struct rlimit rl = {value, value};
	return value ? setrlimit(resource, &rl) : 0;
}

/*
 * Child only: everything between clone and execve (see exec_spawn.h). It
 * runs in the worker's memory (CLONE_VM) with every signal blocked, on its
 * own stack, so it writes nothing but its stack; the id changes are raw
 * system calls (glibc's wrappers would broadcast to threads it believes it
 * shares with the worker).
 */
CHILD_CODE static int child_run(void *arg)
{
	const struct spawn_args *sa = arg;
	const struct exec_conf *ec = sa->ec;
	int in_r = sa->in_r, out_w = sa->out_w, err_w = sa->err_w, rep = sa->rep;
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL); /* EINVAL for glibc's reserved ones: harmless */
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(rep, STEP_SIGNALS);
	if (setsid() < 0)
		child_fail(rep, STEP_SETSID);
	/* Out of the way of 0..3 first, so no placement clobbers another. */
	int a = fcntl(in_r, F_DUPFD_CLOEXEC, 10), b = fcntl(out_w, F_DUPFD_CLOEXEC, 10);
	int c = fcntl(err_w, F_DUPFD_CLOEXEC, 10), r = fcntl(rep, F_DUPFD_CLOEXEC, 10);
	if (a < 0 || b < 0 || c < 0 || r < 0)
		child_fail(rep, STEP_DUP);
	rep = r;
	if (child_place(a, 0) < 0 || child_place(b, 1) < 0 || child_place(c, 2) < 0)
		child_fail(rep, STEP_DUP);
	if (dup3(rep, 3, O_CLOEXEC) < 0)
		child_fail(rep, STEP_DUP);
	rep = 3;
	if (close_range(4, ~0U, 0) < 0)
		child_fail(rep, STEP_CLOSE);
	if (child_limit(RLIMIT_NOFILE, ec->max_files) < 0 ||
	    child_limit(RLIMIT_NPROC, ec->max_procs) < 0 ||
	    child_limit(RLIMIT_AS, (rlim_t)ec->max_memory_mb * 1024 * 1024) < 0 ||
	    child_limit(RLIMIT_CPU, ec->max_cpu) < 0)
		child_fail(rep, STEP_RLIMIT);
	if (chdir(ec->dir ? ec->dir : "/") < 0)
		child_fail(rep, STEP_CHDIR);
	if (ec->switch_ids) {
		if (syscall(SYS_setgroups, (size_t)ec->n_groups, ec->groups) < 0)
			child_fail(rep, STEP_GROUPS);
		if (syscall(SYS_setresgid, ec->gid, ec->gid, ec->gid) < 0)
			child_fail(rep, STEP_GID);
		if (syscall(SYS_setresuid, ec->uid, ec->uid, ec->uid) < 0)
			child_fail(rep, STEP_UID);
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(rep, STEP_PDEATH);
	execve(ec->argv[0], ec->argv, sa->envp);
	child_fail(rep, STEP_EXEC);
}

/*
 * clone(CLONE_VM | CLONE_VFORK), as glibc's posix_spawn does: no copy of the
 * worker's page tables (fork's cost grows with the worker's memory); the
 * worker waits until the child has called execve or exited. All signals are
 * blocked meanwhile, so no handler of the worker runs in the child.
 */
static pid_t spawn_clone(struct spawn_args *sa, char *why, size_t len)
{
	void *stack = mmap(NULL, SPAWN_STACK, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		snprintf(why, len, "mmap (child stack): %s", strerror(errno));
		return -1;
	}
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid =
	    clone(child_run, (char *)stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, sa);
	int err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	munmap(stack, SPAWN_STACK);
	if (pid < 0)
		snprintf(why, len, "clone: %s", strerror(err));
	return pid;
}

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
}

/* Parent: the child's report, if it failed before execve; 0 once execve closed the pipe. */
static int spawn_wait_report(int fd, struct spawn_report *r)
{
	ssize_t n;
	do
		n = read(fd, r, sizeof *r);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof *r ? -1 : 0;
}

int exec_spawn(const struct exec_conf *ec, char *const envp[], struct exec_child *child, char *why,
               size_t len)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1};
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(rep, O_CLOEXEC) < 0) {
		snprintf(why, len, "cannot create pipes: %s", strerror(errno));
		goto fail;
	}
	struct spawn_args sa = {ec, envp, in[0], out[1], err[1], rep[1]};
	pid_t pid = spawn_clone(&sa, why, len);
	if (pid < 0)
		goto fail;
	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(rep[1]);
	in[0] = out[1] = err[1] = rep[1] = -1;
	struct spawn_report r;
	int failed = spawn_wait_report(rep[0], &r);
	close(rep[0]);
	rep[0] = -1;
	if (failed) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		const char *step = r.step >= 0 && r.step <= STEP_EXEC ? step_names[r.step] : "?";
		snprintf(why, len, "cannot start %s: %s: %s", ec->argv[0], step, strerror(r.error));
		goto fail;
	}
	if (fcntl(in[1], F_SETFL, O_NONBLOCK) < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(err[0], F_SETFL, O_NONBLOCK) < 0) {
		snprintf(why, len, "fcntl(O_NONBLOCK): %s", strerror(errno));
		kill(-pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto fail;
	}
	child->pid = pid;
	child->in_fd = in[1];
	child->out_fd = out[0];
	child->err_fd = err[0];
	return 0;
fail:
	close_pair(in);
	close_pair(out);
	close_pair(err);
	close_pair(rep);
	return -1;
}
