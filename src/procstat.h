/*
 * procstat.h: what the kernel says a process uses (/proc/PID): resident
 * memory, open file descriptors, CPU time. The master samples itself and its
 * workers on a timer into the shared counters (stats.h) for the process_*
 * metrics; handlers never read /proc themselves.
 */
#ifndef KSOCKD_PROCSTAT_H
#define KSOCKD_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

#define PROCSTAT_INTERVAL 2.0 /* seconds between the master's samples */

struct proc_sample {
	uint64_t rss_bytes; /* resident set size */
	uint64_t open_fds;  /* open files (/proc/PID/fd) */
	double cpu_seconds; /* user + system time */
};

/* Reads pid's numbers; returns 0, or -1 (the process is gone, or /proc unreadable). */
int procstat_read(pid_t pid, struct proc_sample *out);

#endif
