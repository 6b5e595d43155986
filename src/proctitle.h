/*
 * proctitle.h: what ps shows for each process ("ksockd: master",
 * "ksockd: worker 2 (generation 3)").
 *
 * Linux has no setproctitle(): like nginx, the title is written over the
 * memory of argv (extended over the environment strings, which are copied
 * to the heap first). /proc/PID/comm stays "ksockd" (no PR_SET_NAME), so
 * "pgrep -x ksockd" and the like still find every process. proctitle_init() must run in main()
 * before anything keeps a pointer into argv or environ.
 */
#ifndef KSOCKD_PROCTITLE_H
#define KSOCKD_PROCTITLE_H

void proctitle_init(int argc, char **argv);
/* Sets the title to "ksockd: " + the formatted text (truncated to the space argv had). */
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
