/*
 * log.h: the daemon's logging API.
 *
 * Every message goes through log_emit() with a syslog priority. The target is
 * chosen once by log_init(): stderr with "<N>" prefixes when stderr is the
 * journal (JOURNAL_STREAM), stderr with timestamps otherwise, or syslog.
 * log_warn() appends strerror(errno); log_warnx() does not. fatal()/fatalx()
 * log and exit(1); they are for start-up and broken invariants only.
 */
#ifndef KSOCKD_LOG_H
#define KSOCKD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_STDERR, /* stderr: journal prefixes or timestamps */
	LOG_TARGET_SYSLOG, /* syslog(3), facility daemon */
};

void log_init(const char *ident, enum log_target target, int level);
void log_set_level(int level);
int log_get_level(void);
bool log_enabled(int prio);
/* Parses "debug", "info", "notice", "warning", "err"; -1 if unknown. */
int log_level_from_name(const char *name);
#define LOG_SYSLOG_SOCKET "/dev/log" /* where syslog(3) sends */
/* Formats t (seconds since the epoch) as 2026-12-02T05:38:06.123Z; returns the length. */
size_t log_format_time(double t, char *buf, size_t len);
/* True if something listens on LOG_SYSLOG_SOCKET (else syslog(3) loses lines silently). */
bool log_syslog_available(void);
const char *log_level_name(int level);

/*
 * "Log at most once per interval": a repeated condition (a limit hit, a
 * refusal) counts every occurrence and writes one line per interval with
 * the number since the last line, so a flood cannot flood the log.
 */
struct log_limit {
	double last;           /* when a line was last allowed, seconds (any clock) */
	unsigned long pending; /* occurrences not yet reported in a line */
	bool started;          /* a line was allowed once (last is valid) */
};
/*
 * Counts one occurrence at now. Returns 0 while a line was written less than
 * interval ago; else the occurrences to report (this one included) and
 * starts a new interval. A zeroed struct log_limit allows the first line.
 */
unsigned long log_limit_hit(struct log_limit *ll, double now, double interval);

void log_emit(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_err(...) log_emit(LOG_ERR, __VA_ARGS__)
#define log_notice(...) log_emit(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_emit(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_emit(LOG_DEBUG, __VA_ARGS__);                                          \
	} while (0)

#endif
