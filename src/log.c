/*
 * log.c: formats and writes log messages to stderr or syslog.
 *
 * Owns the process-wide log settings (the only file-scope state in the daemon
 * besides what libev keeps: logging must work before any loop exists, from
 * every process). Must not touch sockets, config or event loops.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct {
	enum log_target target; /* where messages go */
	int level;              /* highest priority value written */
	bool journal;           /* stderr is the journal: "<N>" prefixes */
	bool timestamps;        /* stderr is a terminal or file: add time */
	const char *ident;      /* program name for syslog and stderr */
} logstate = {LOG_TARGET_STDERR, LOG_INFO, false, true, "ksockd"};

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
    [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

unsigned long log_limit_hit(struct log_limit *ll, double now, double interval)
{
	ll->pending++;
	if (ll->started && now - ll->last < interval)
		return 0;
	unsigned long n = ll->pending;
	ll->started = true;
	ll->last = now;
	ll->pending = 0;
	return n;
}

void log_init(const char *ident, enum log_target target, int level)
{
	logstate.ident = ident;
	logstate.target = target;
	logstate.level = level;
	logstate.journal = getenv("JOURNAL_STREAM") != NULL;
	logstate.timestamps = !logstate.journal;
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(int level)
{
	logstate.level = level;
}
int log_get_level(void)
{
	return logstate.level;
}
bool log_enabled(int prio)
{
	return prio <= logstate.level;
}

int log_level_from_name(const char *name)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	if (strcmp(name, "error") == 0)
		return LOG_ERR;
	return -1;
}

const char *log_level_name(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "?";
	return level_names[level];
}

/* The one timestamp form of both logs: RFC 3339, UTC, milliseconds, "Z". */
size_t log_format_time(double t, char *buf, size_t len)
{
	time_t sec = (time_t)t;
	int ms = (int)((t - (double)sec) * 1000);
	struct tm tm;
	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (!gmtime_r(&sec, &tm))
		return 0;
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	int m = snprintf(buf + n, len - n, ".%03dZ", ms > 999 ? 999 : ms);
	return m < 0 || (size_t)m >= len - n ? n : n + (size_t)m;
}

/* syslog(3) without a listener on /dev/log drops every line without a word. */
bool log_syslog_available(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", LOG_SYSLOG_SOCKET);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	if (!ok && errno == EPROTOTYPE) { /* a stream-only syslog socket */
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

static void log_vemit(int prio, const char *fmt, va_list ap, const char *suffix)
{
	char msg[2048];

	if (prio > logstate.level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (logstate.target == LOG_TARGET_SYSLOG) {
		syslog(prio, "%s%s%s", msg, suffix ? ": " : "", suffix ? suffix : "");
		return;
	}
	if (logstate.journal) {
		fprintf(stderr, "<%d>%s%s%s\n", prio, msg, suffix ? ": " : "",
		        suffix ? suffix : "");
		return;
	}
	char ts[40] = "";
	if (logstate.timestamps) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		size_t n = log_format_time((double)now.tv_sec + (double)now.tv_nsec / 1e9, ts,
		                           sizeof ts - 1);
		ts[n] = ' ';
		ts[n + 1] = '\0';
	}
	fprintf(stderr, "%s%s[%d] %s: %s%s%s\n", ts, logstate.ident, (int)getpid(),
	        level_names[prio], msg, suffix ? ": " : "", suffix ? suffix : "");
}

void log_emit(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(prio, fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log_vemit(LOG_WARNING, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log_vemit(LOG_ERR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(LOG_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
