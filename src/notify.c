/*
 * notify.c: sd_notify messages for readiness, reload, stop and status.
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

void notify_ready(void) { notify_send("READY=1"); }
void notify_reloading(void) { notify_send("RELOADING=1"); }
void notify_stopping(void) { notify_send("STOPPING=1"); }

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
