/*
 * notify.c: the service manager interface: sd_notify messages (readiness,
 * reload, stop, status, watchdog, main pid), the watchdog interval, and the
 * sockets passed by socket activation. The only file including sd-daemon.h.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

static void notify_send(const char *msg)
{
	int rc = sd_notify(0, msg);
	if (rc < 0)
		log_debug("sd_notify(%s) failed: %d", msg, rc);
}

void notify_ready(void)
{
	notify_send("READY=1");
}
void notify_reloading(void)
{
	notify_send("RELOADING=1");
}
void notify_stopping(void)
{
	notify_send("STOPPING=1");
}
void notify_watchdog(void)
{
	notify_send("WATCHDOG=1");
}

void notify_status(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof buf, "STATUS=");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	va_end(ap);
	notify_send(buf);
}

void notify_reload_failed(const char *why)
{
	char buf[600];
	snprintf(buf, sizeof buf, "READY=1\nSTATUS=reload rejected: %s", why);
	notify_send(buf);
}

void notify_mainpid(pid_t pid)
{
	char buf[32];
	snprintf(buf, sizeof buf, "MAINPID=%d", (int)pid);
	notify_send(buf);
}

double notify_watchdog_interval(void)
{
	uint64_t usec = 0;
	int rc = sd_watchdog_enabled(0, &usec);
	if (rc < 0)
		log_warnx("ignoring an invalid WATCHDOG_USEC/WATCHDOG_PID in the environment");
	return rc > 0 ? (double)usec / 1e6 : 0;
}

int notify_listen_fds(char ***names)
{
	*names = NULL;
	int n = sd_listen_fds_with_names(1, names);
	if (n < 0)
		log_warnx("ignoring invalid LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES: %d", n);
	return n < 0 ? 0 : n;
}

int notify_listen_fds_start(void)
{
	return SD_LISTEN_FDS_START;
}
