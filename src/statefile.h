/*
 * statefile.h: the master's status file, and the "ksockd -s reload" client
 * that uses it to wait for the outcome of a reload.
 *
 * The master writes $RUNTIME_DIRECTORY/ksockd.status (the variable is set by
 * systemd's RuntimeDirectory=, or by "-r DIR"; no file without it)
 * atomically (temporary file + rename) at every change:
 *
 *   pid=1234                 the master
 *   state=ready              starting, ready, reloading, stopping
 *   generation=3             current worker generation
 *   reload_requests=5        SIGHUPs received so far
 *   reload_done=5            requests whose reload has finished
 *   reloads_rejected=1       reloads rejected so far
 *   reload_result=rejected   of the last finished reload: ok, rejected, none
 *   reload_message=...       its summary or error (FILE:LINE: reason)
 *
 * A reload that starts covers every request received before it, so a client
 * that read reload_requests=N, then sent SIGHUP, knows its reload finished
 * once reload_done >= N+1, and reads the outcome in reload_result.
 */
#ifndef KSOCKD_STATEFILE_H
#define KSOCKD_STATEFILE_H

#include <stdbool.h>

#define STATEFILE_NAME "ksockd.status"
#define STATEFILE_WAIT 90.0       /* seconds "ksockd -s reload" waits at most */
#define STATEFILE_STOP_WAIT 300.0 /* seconds "ksockd -s stop" waits (drain + shutdown) */

struct statefile {
	char *path;          /* RUNTIME_DIR/ksockd.status; NULL: none written */
	const char *state;   /* starting, ready, reloading, stopping */
	unsigned generation; /* current worker generation */
	unsigned requested;  /* SIGHUPs received */
	unsigned handling;   /* requests covered by the reload in progress */
	unsigned done;       /* requests whose reload has finished */
	unsigned rejected;   /* reloads rejected so far */
	const char *result;  /* "ok", "rejected" or "none" */
	char message[512];   /* summary or error of the last finished reload */
};

/* Master side; every call rewrites the file. */
void statefile_init(struct statefile *sf);
void statefile_requested(struct statefile *sf);
void statefile_reload_begin(struct statefile *sf);
void statefile_reload_end(struct statefile *sf, bool ok, const char *message);
void statefile_set(struct statefile *sf, const char *state, unsigned generation);
/* Removes the file and frees sf's memory. */
void statefile_free(struct statefile *sf);

/*
 * "ksockd -s COMMAND" (reload, stop, reopen, status): reload signals the
 * master and waits for the outcome; stop sends SIGTERM and waits until it has
 * exited; reopen sends SIGUSR1; status prints the file and exits 0 (running)
 * or 3 (not running). Returns the exit status.
 */
int statefile_client(const char *command);

#endif
