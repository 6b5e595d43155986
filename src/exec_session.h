/*
 * exec_session.h: a running program and its connection (handler = "exec"),
 * the backend of backend.h behind the handler "exec".
 *
 * The session owns the program's process and its three pipes, watched by
 * the worker's loop: client bytes go to stdin through a bounded queue (the
 * connection stops reading the client while it is not empty), stdout goes to
 * the connection's output queue only while that is below output_buffer (the
 * program then blocks on a full pipe), stderr goes to the log line by line,
 * at most EXEC_ERR_BURST lines per EXEC_ERR_WINDOW seconds.
 *
 *            client gone                grace            grace
 *   RUNNING -------------> STOPPING ---------> TERMED ---------> KILLED
 *      |   exec_timeout       |      SIGTERM     ^ |   SIGKILL      |
 *      +----------------------|------------------+ |                |
 *      |                      |                    |                |
 *      +--------- exit -------+------ exit --------+----- exit -----+--> EXITED
 *
 * STOPPING closes the program's stdin and stdout. The connection closes
 * ("program exited") once the program has exited, its stdout is at EOF (or
 * EXEC_GRACE after the exit, for a grandchild that keeps it open) and the
 * output queue is flushed. A session whose connection is gone lives on,
 * owned by the worker (w->execs), until its program is reaped; at worker exit
 * exec_worker_stop terminates and reaps what is left.
 *
 * max_instances: a running program holds one count in the shared per-source
 * table (srctab.h) under a key of its own per listener, taken before the
 * fork and given back when the program is reaped; a worker that dies gives
 * its counts back through its journal, and its programs get SIGKILL
 * (PR_SET_PDEATHSIG), so a crash neither leaks nor bypasses the limit.
 */
#ifndef KSOCKD_EXEC_SESSION_H
#define KSOCKD_EXEC_SESSION_H

#include "handler.h"

#define EXEC_GRACE 2.0         /* seconds between stdin closed, SIGTERM and SIGKILL */
#define EXEC_ERR_WINDOW 10.0   /* seconds per window of stderr lines logged */
#define EXEC_ERR_BURST 20      /* stderr lines logged per window and session */
#define EXEC_ERR_LINE 512      /* longest stderr line logged, bytes (longer ones are split) */
#define EXEC_STDIN_QUEUE 65536 /* client bytes queued for stdin before reading pauses */

struct worker;

extern const struct handler handler_exec;

/* Worker exit: SIGTERM to every program left, SIGKILL after EXEC_GRACE, reap, free. */
void exec_worker_stop(struct worker *w);

#endif
