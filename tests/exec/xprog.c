/*
 * xprog.c: the program the exec tests run under ksockd (no shell involved).
 * One mode per argument:
 *   echo            copy stdin to stdout until EOF, exit 0
 *   report          print what it was given (environment, open fds, ids, cwd,
 *                   process group, signal mask and dispositions) as KEY=VALUE
 *                   lines ending with an empty line, then exit 0
 *   exit N          print "bye", exit with status N
 *   stderr N        write N numbered lines to stderr, exit 0
 *   ignoreterm      ignore SIGTERM, print "ready", wait for ever
 *   noread          print "ready", never read stdin, wait for ever
 *   flood N         write N bytes (a repeating pattern) to stdout, exit 0
 *   hello           print "hello", exit 0
 *   line            read one line, write it back, exit 0 (the bench's program)
 *   sleep S         print "ready", sleep S seconds, print "done", exit 0
 *   closeout        print "bye", close stdout, read stdin to EOF, write
 *                   "read N bytes after closing stdout" to stderr, exit 0
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int do_echo(void)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0;
		if (write_all(1, buf, (size_t)n) < 0)
			return 1;
	}
}

static void report_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int self = d ? dirfd(d) : -1;
	printf("FDS=");
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		char path[300], target[PATH_MAX];
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof target - 1);
		target[n > 0 ? n : 0] = '\0';
		printf("%s:%s,", e->d_name, target);
	}
	printf("\n");
	if (d)
		closedir(d);
}

static int do_report(void)
{
	for (char **e = environ; *e; e++)
		printf("ENV_%s\n", *e);
	report_fds();
	gid_t groups[64];
	int ng = getgroups(64, groups);
	printf("UID=%u\nGID=%u\nGROUPS=", (unsigned)getuid(), (unsigned)getgid());
	for (int i = 0; i < ng; i++)
		printf("%u,", (unsigned)groups[i]);
	char cwd[PATH_MAX];
	printf("\nCWD=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
	printf("PGID_IS_PID=%d\nSID_IS_PID=%d\n", getpgrp() == getpid(), getsid(0) == getpid());
	sigset_t mask;
	sigprocmask(SIG_SETMASK, NULL, &mask);
	int blocked = 0, ignored = 0;
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa;
		if (sigismember(&mask, s) == 1)
			blocked++;
		if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			ignored++;
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("BLOCKED=%d\nIGNORED=%d\nNOFILE=%llu\n\n", blocked, ignored,
	       (unsigned long long)rl.rlim_cur);
	return fflush(stdout) != 0;
}

static void wait_forever(void)
{
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "echo";
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	if (strcmp(mode, "echo") == 0)
		return do_echo();
	if (strcmp(mode, "report") == 0)
		return do_report();
	if (strcmp(mode, "exit") == 0) {
		write_all(1, "bye\n", 4);
		return (int)n;
	}
	if (strcmp(mode, "stderr") == 0) {
		for (long i = 0; i < n; i++)
			dprintf(2, "line %ld\n", i);
		return 0;
	}
	if (strcmp(mode, "ignoreterm") == 0) {
		signal(SIGTERM, SIG_IGN);
		write_all(1, "ready\n", 6);
		wait_forever();
	}
	if (strcmp(mode, "noread") == 0) {
		write_all(1, "ready\n", 6);
		wait_forever();
	}
	if (strcmp(mode, "flood") == 0) {
		char buf[65536];
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (char)(i * 7 + 3);
		for (long left = n; left > 0;) {
			size_t k = left < (long)sizeof buf ? (size_t)left : sizeof buf;
			if (write_all(1, buf, k) < 0)
				return 1;
			left -= (long)k;
		}
		return 0;
	}
	if (strcmp(mode, "line") == 0) {
		char buf[4096];
		size_t len = 0;
		while (len < sizeof buf) {
			ssize_t r = read(0, buf + len, sizeof buf - len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			len += (size_t)r;
			if (memchr(buf, '\n', len))
				break;
		}
		return write_all(1, buf, len) < 0;
	}
	if (strcmp(mode, "closeout") == 0) {
		char buf[65536];
		long total = 0;
		write_all(1, "bye\n", 4);
		close(1);
		for (;;) {
			ssize_t r = read(0, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			total += r;
		}
		dprintf(2, "read %ld bytes after closing stdout\n", total);
		return 0;
	}
	if (strcmp(mode, "hello") == 0)
		return write_all(1, "hello\n", 6) < 0;
	if (strcmp(mode, "sleep") == 0) {
		write_all(1, "ready\n", 6);
		struct timespec ts = {n, 0};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return write_all(1, "done\n", 5) < 0;
	}
	dprintf(2, "xprog: unknown mode '%s'\n", mode);
	return 2;
}
