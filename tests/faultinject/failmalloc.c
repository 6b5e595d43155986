/*
 * failmalloc.c: an LD_PRELOAD library that makes one allocation of a
 * chosen process fail, for tests of the reload path under memory pressure.
 *
 *   FAILMALLOC_CONTROL  file holding N (decimal): when SIGHUP reaches the
 *                       process, the file is read and the Nth malloc,
 *                       calloc or realloc made by that process from then on
 *                       returns NULL with errno ENOMEM (strdup, fopen,
 *                       getaddrinfo... allocate through these). 0 or no
 *                       file: nothing fails. Each SIGHUP starts a new count.
 *   FAILMALLOC_SPARE    a library (substring of its file name, such as
 *                       "libconfig.so") whose allocations are neither
 *                       counted nor failed: one that crashes or exits on a
 *                       failed allocation (libconfig 1.5 dereferences
 *                       calloc's result in config_init and its scanner
 *                       exits) cannot be made to survive one by its caller.
 *                       An allocation is the library's when it appears in
 *                       the first frames of the call (strdup called from it
 *                       counts as its).
 *   FAILMALLOC_LOG      file to which one line is appended per SIGHUP seen
 *                       ("armed N pid P") and per failure injected
 *                       ("failed N size S pid P"), so a test knows whether
 *                       the Nth allocation happened. Each failure line is
 *                       followed by the backtrace of the failing call
 *                       (backtrace_symbols_fd), so a crash names its site.
 *
 * Only the process that received the SIGHUP counts (a worker forked during
 * the reload inherits the counter but not the pid). The SIGHUP is seen by
 * wrapping sigaction(): the handler the program installs (libev's) is
 * called by a trampoline that arms the counter first. Everything done in
 * the trampoline is async-signal-safe (open, read, write, getpid).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARENA_SIZE 65536 /* serves dlsym's own allocations before the real ones are known */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static char arena[ARENA_SIZE] __attribute__((aligned(16)));
static size_t arena_used;
static int resolving;

static volatile sig_atomic_t countdown; /* allocations left before the failing one; 0: off */
static volatile sig_atomic_t target;    /* N of the current count */
static volatile pid_t armed_pid;        /* the process counting */
static void (*program_handler)(int);    /* SIGHUP handler the program installed */

static void *arena_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (arena_used + n > ARENA_SIZE)
		return NULL;
	void *p = arena + arena_used;
	arena_used += n;
	return p;
}

static int in_arena(const void *p)
{
	return (const char *)p >= arena && (const char *)p < arena + ARENA_SIZE;
}

static void resolve(void)
{
	if (real_malloc || resolving)
		return;
	resolving = 1;
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(
	    RTLD_NEXT, "sigaction");
	resolving = 0;
}

/* Appends a line to FAILMALLOC_LOG: "WHAT A size B pid P". Async-signal-safe. */
static void log_line(const char *what, long a, long b)
{
	const char *path = getenv("FAILMALLOC_LOG");
	char buf[128];
	if (!path)
		return;
	int n = snprintf(buf, sizeof buf, "%s %ld size %ld pid %ld\n", what, a, b, (long)getpid());
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)n) < 0) {
		/* nothing to do: the test sees the line missing */
	}
	close(fd);
}

static void log_backtrace(void)
{
	const char *path = getenv("FAILMALLOC_LOG");
	void *frames[32];
	if (!path)
		return;
	int n = backtrace(frames, 32);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	backtrace_symbols_fd(frames, n, fd);
	close(fd);
}

#define SPARE_DEPTH 6 /* frames of a call searched for the spared library */

/* Whether the allocation being made comes from FAILMALLOC_SPARE's library. */
static int spared(void)
{
	const char *lib = getenv("FAILMALLOC_SPARE");
	void *frames[SPARE_DEPTH];
	if (!lib || !*lib)
		return 0;
	int n = backtrace(frames, SPARE_DEPTH);
	for (int i = 2; i < n; i++) { /* 0: here, 1: should_fail's caller (our wrapper) */
		Dl_info info;
		if (dladdr(frames[i], &info) && info.dli_fname && strstr(info.dli_fname, lib))
			return 1;
	}
	return 0;
}

/* Whether this allocation is the one to fail. */
static int should_fail(size_t size)
{
	if (countdown <= 0 || getpid() != armed_pid || spared())
		return 0;
	if (--countdown > 0)
		return 0;
	log_line("failed", target, (long)size);
	log_backtrace();
	errno = ENOMEM;
	return 1;
}

void *malloc(size_t n)
{
	resolve();
	if (!real_malloc)
		return arena_alloc(n);
	return should_fail(n) ? NULL : real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	resolve();
	if (!real_calloc)
		return arena_alloc(a * b); /* static storage: already zero */
	return should_fail(a * b) ? NULL : real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	resolve();
	if (in_arena(p)) {
		void *q = malloc(n);
		if (q)
			memcpy(q, p,
			       n < (size_t)(arena + ARENA_SIZE - (char *)p)
			           ? n
			           : (size_t)(arena + ARENA_SIZE - (char *)p));
		return q;
	}
	if (!real_realloc)
		return arena_alloc(n);
	return should_fail(n) ? NULL : real_realloc(p, n);
}

void free(void *p)
{
	if (!p || in_arena(p))
		return;
	resolve();
	if (real_free)
		real_free(p);
}

static void trampoline(int sig)
{
	const char *path = getenv("FAILMALLOC_CONTROL");
	char buf[32] = "";
	long n = 0;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		ssize_t r = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (r > 0) {
			buf[r] = '\0';
			for (char *c = buf; *c >= '0' && *c <= '9'; c++)
				n = n * 10 + (*c - '0');
		}
	}
	armed_pid = getpid();
	target = (sig_atomic_t)n;
	countdown = (sig_atomic_t)n;
	log_line("armed", n, 0);
	if (program_handler)
		program_handler(sig);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	resolve();
	if (sig != SIGHUP || !act || (act->sa_flags & SA_SIGINFO) || act->sa_handler == SIG_IGN ||
	    act->sa_handler == SIG_DFL)
		return real_sigaction(sig, act, old);
	struct sigaction mine = *act;
	void *frame[1];
	backtrace(frame, 1); /* loads what backtrace needs now, not inside malloc later */
	program_handler = act->sa_handler;
	mine.sa_handler = trampoline;
	return real_sigaction(sig, &mine, old);
}
