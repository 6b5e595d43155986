/*
 * procstat.c: reads /proc/PID/stat, statm and fd (see procstat.h). Reads
 * only; opens and closes its files within each call.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procstat.h"

/* utime and stime, fields 14 and 15 of /proc/PID/stat, after the ")" of the name. */
static int read_cpu(pid_t pid, double *seconds)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
	 * stime */
	if (!p ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	long tck = sysconf(_SC_CLK_TCK);
	*seconds = (double)(ut + st) / (double)(tck > 0 ? tck : 100);
	return 0;
}

static int read_rss(pid_t pid, uint64_t *bytes)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	unsigned long long size, resident;
	int ok = fscanf(f, "%llu %llu", &size, &resident) == 2;
	fclose(f);
	if (!ok)
		return -1;
	long page = sysconf(_SC_PAGESIZE);
	*bytes = resident * (uint64_t)(page > 0 ? page : 4096);
	return 0;
}

/* Open files of a process. Since Linux 6.2 stat() of /proc/PID/fd gives their
 * number as st_size, without listing them: a worker holding 12,000
 * connections is then one system call, not 12,000 directory entries built
 * every sample (at 100,000 connections the listing cost the master 8 % of a
 * CPU). Older kernels (Debian 12's 6.1) report 0 there: then the directory
 * is read. */
static int count_fds(pid_t pid, uint64_t *n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (st.st_size > 0) {
		*n = (uint64_t)st.st_size;
		return 0;
	}
	DIR *d = opendir(path);
	if (!d)
		return -1;
	uint64_t k = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		k += e->d_name[0] != '.';
	closedir(d);
	/* Our own directory fd is in the count when we read ourselves. */
	*n = pid == getpid() && k > 0 ? k - 1 : k;
	return 0;
}

int procstat_read(pid_t pid, struct proc_sample *out)
{
	if (read_cpu(pid, &out->cpu_seconds) < 0 || read_rss(pid, &out->rss_bytes) < 0 ||
	    count_fds(pid, &out->open_fds) < 0)
		return -1;
	return 0;
}
