/*
 * statefile.c: writes the master's status file (see statefile.h) and reads
 * it for "ksockd -s reload". Owns the file's path and contents; must not
 * touch workers, sockets or the event loop.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "statefile.h"

#define POLL_NS 20000000L /* the client re-reads the file every 20 ms */

/* RUNTIME_DIRECTORY's first entry (several RuntimeDirectory= arrive colon-separated)
 * + "/ksockd.status", malloc'd; NULL when the variable is unset. */
static char *statefile_path(void)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");
	if (!dir || !*dir)
		return NULL;
	int dirlen = (int)strcspn(dir, ":");
	size_t len = (size_t)dirlen + sizeof "/" STATEFILE_NAME;
	char *path = malloc(len);
	if (!path)
		fatal("malloc");
	snprintf(path, len, "%.*s/" STATEFILE_NAME, dirlen, dir);
	return path;
}

static void statefile_write(struct statefile *sf)
{
	char tmp[4200];
	if (!sf->path)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", sf->path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		log_warn("cannot write %s", tmp);
		return;
	}
	fprintf(f,
	        "pid=%d\nstate=%s\ngeneration=%u\nreload_requests=%u\nreload_done=%u\n"
	        "reloads_rejected=%u\nreload_result=%s\nreload_message=%s\n",
	        (int)getpid(), sf->state, sf->generation, sf->requested, sf->done, sf->rejected,
	        sf->result, sf->message);
	if (fclose(f) != 0 || rename(tmp, sf->path) < 0) {
		log_warn("cannot write %s", sf->path);
		unlink(tmp);
	}
}

void statefile_init(struct statefile *sf)
{
	memset(sf, 0, sizeof *sf);
	sf->state = "starting";
	sf->result = "none";
	sf->path = statefile_path();
	statefile_write(sf);
}

void statefile_requested(struct statefile *sf)
{
	sf->requested++;
	statefile_write(sf);
}

void statefile_reload_begin(struct statefile *sf)
{
	sf->handling = sf->requested;
	sf->state = "reloading";
	statefile_write(sf);
}

void statefile_reload_end(struct statefile *sf, bool ok, const char *message)
{
	sf->done = sf->handling;
	sf->result = ok ? "ok" : "rejected";
	if (!ok)
		sf->rejected++;
	sf->state = "ready";
	snprintf(sf->message, sizeof sf->message, "%s", message);
	/* One line per key: a message must not start another. */
	for (char *c = sf->message; *c; c++)
		if (*c == '\n')
			*c = ' ';
	statefile_write(sf);
}

void statefile_set(struct statefile *sf, const char *state, unsigned generation)
{
	sf->state = state;
	sf->generation = generation;
	statefile_write(sf);
}

void statefile_free(struct statefile *sf)
{
	if (sf->path && unlink(sf->path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s", sf->path);
	free(sf->path);
	sf->path = NULL;
}

/* The client's view of the file. */
struct status {
	long pid;            /* master */
	char state[16];      /* state */
	unsigned generation; /* generation */
	unsigned rejected;   /* reloads_rejected */
	unsigned requests;   /* reload_requests */
	unsigned done;       /* reload_done */
	char result[16];     /* reload_result */
	char message[600];   /* reload_message */
};

static int status_read(const char *path, struct status *st)
{
	char line[700];
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	memset(st, 0, sizeof *st);
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *v = strchr(line, '=');
		if (!v)
			continue;
		*v++ = '\0';
		if (strcmp(line, "pid") == 0)
			st->pid = strtol(v, NULL, 10);
		else if (strcmp(line, "state") == 0)
			snprintf(st->state, sizeof st->state, "%s", v);
		else if (strcmp(line, "generation") == 0)
			st->generation = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(line, "reloads_rejected") == 0)
			st->rejected = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(line, "reload_requests") == 0)
			st->requests = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(line, "reload_done") == 0)
			st->done = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(line, "reload_result") == 0)
			snprintf(st->result, sizeof st->result, "%s", v);
		else if (strcmp(line, "reload_message") == 0)
			snprintf(st->message, sizeof st->message, "%s", v);
	}
	fclose(f);
	return st->pid > 0 ? 0 : -1;
}

/* The master's pid: $MAINPID (systemd's ExecReload=/ExecStop=) or the file's. */
static pid_t master_pid(const struct status *st)
{
	const char *mainpid = getenv("MAINPID");
	return mainpid && atoi(mainpid) > 0 ? (pid_t)atoi(mainpid) : (pid_t)st->pid;
}

/* Sends SIGHUP and waits until the reload it asked for has finished. */
static int statefile_wait_reload(const char *path)
{
	struct status st;
	errno = 0;
	if (status_read(path, &st) < 0) {
		fprintf(stderr, "ksockd: cannot read %s: %s (is ksockd running?)\n", path,
		        errno ? strerror(errno) : "no pid in it");
		return 1;
	}
	/* Under systemd, ExecReload= gets the main pid; trust it over the file. */
	pid_t pid = master_pid(&st);
	unsigned want = st.requests + 1;
	if (kill(pid, SIGHUP) < 0) {
		fprintf(stderr, "ksockd: cannot signal ksockd (pid %d): %s\n", (int)pid,
		        strerror(errno));
		return 1;
	}
	struct timespec start, now, tick = {0, POLL_NS};
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		nanosleep(&tick, NULL);
		if (status_read(path, &st) == 0 && st.done >= want)
			break;
		if (kill(pid, 0) < 0 && errno == ESRCH) {
			fprintf(stderr,
			        "ksockd: ksockd (pid %d) exited before the reload finished\n",
			        (int)pid);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - start.tv_sec) +
		        (double)(now.tv_nsec - start.tv_nsec) / 1e9 >
		    STATEFILE_WAIT) {
			fprintf(stderr, "ksockd: the reload did not finish within %.0f s\n",
			        STATEFILE_WAIT);
			return 1;
		}
	}
	if (strcmp(st.result, "ok") != 0) {
		fprintf(stderr, "ksockd: reload rejected, the running config stays: %s\n",
		        st.message);
		return 1;
	}
	printf("ksockd: reload done: %s\n", st.message);
	return 0;
}

/* Alive and not a zombie waiting for its parent. */
static bool pid_running(pid_t pid)
{
	char path[64], buf[512];
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

static double since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* SIGTERM, then wait until the master is gone (it removes the status file last). */
static int statefile_stop(const char *path)
{
	struct status st;
	if (status_read(path, &st) < 0) {
		fprintf(stderr, "ksockd: not running (no status in %s)\n", path);
		return 1;
	}
	pid_t pid = master_pid(&st);
	if (kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "ksockd: cannot signal ksockd (pid %d): %s\n", (int)pid,
		        strerror(errno));
		return 1;
	}
	struct timespec start, tick = {0, POLL_NS};
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (pid_running(pid) && access(path, F_OK) == 0) {
		if (since(&start) > STATEFILE_STOP_WAIT) {
			fprintf(stderr, "ksockd: pid %d did not stop within %.0f s\n", (int)pid,
			        STATEFILE_STOP_WAIT);
			return 1;
		}
		nanosleep(&tick, NULL);
	}
	printf("ksockd: stopped (pid %d)\n", (int)pid);
	return 0;
}

static int statefile_reopen(const char *path)
{
	struct status st;
	if (status_read(path, &st) < 0) {
		fprintf(stderr, "ksockd: not running (no status in %s)\n", path);
		return 1;
	}
	pid_t pid = master_pid(&st);
	if (kill(pid, SIGUSR1) < 0) {
		fprintf(stderr, "ksockd: cannot signal ksockd (pid %d): %s\n", (int)pid,
		        strerror(errno));
		return 1;
	}
	printf("ksockd: pid %d reopens its log files\n", (int)pid);
	return 0;
}

/* Exit status as LSB init scripts have it: 0 running, 3 not running. */
static int statefile_status(const char *path)
{
	struct status st;
	if (status_read(path, &st) < 0 || !pid_running(master_pid(&st))) {
		printf("ksockd: not running (%s %s)\n", path,
		       access(path, F_OK) == 0 ? "names no live pid" : "does not exist");
		return 3;
	}
	printf("ksockd: running, pid %d, %s, generation %u, %u reload(s) requested, %u "
	       "rejected; last reload: %s%s%s\n",
	       (int)master_pid(&st), st.state, st.generation, st.requests, st.rejected, st.result,
	       st.message[0] ? ": " : "", st.message);
	return 0;
}

int statefile_client(const char *command)
{
	char *path = statefile_path();
	if (!path) {
		fprintf(stderr,
		        "ksockd: -s %s needs the daemon's runtime directory: run it under "
		        "systemd with RuntimeDirectory=, give -r DIR to both, or set "
		        "pid_file (its directory is used)\n",
		        command);
		return 1;
	}
	int rc;
	if (strcmp(command, "reload") == 0)
		rc = statefile_wait_reload(path);
	else if (strcmp(command, "stop") == 0)
		rc = statefile_stop(path);
	else if (strcmp(command, "reopen") == 0)
		rc = statefile_reopen(path);
	else
		rc = statefile_status(path);
	free(path);
	return rc;
}
