/*
 * statefile.c: writes the master's status file (see statefile.h) and reads
 * it for "ksockd -s reload". Owns the file's path and contents; must not
 * touch workers, sockets or the event loop.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
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
	long pid;          /* master */
	unsigned requests; /* reload_requests */
	unsigned done;     /* reload_done */
	char result[16];   /* reload_result */
	char message[600]; /* reload_message */
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
	const char *mainpid = getenv("MAINPID");
	pid_t pid = mainpid && atoi(mainpid) > 0 ? (pid_t)atoi(mainpid) : (pid_t)st.pid;
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

int statefile_reload_client(void)
{
	char *path = statefile_path();
	if (!path) {
		fprintf(stderr, "ksockd: -s reload needs the daemon's runtime directory: run it "
		                "under systemd with RuntimeDirectory=, or give -r DIR to both\n");
		return 1;
	}
	int rc = statefile_wait_reload(path);
	free(path);
	return rc;
}
