/*
 * notify.h: talking to the service manager (sd_notify, sd_watchdog_enabled,
 * sd_listen_fds_with_names). The only module that includes sd-daemon.h.
 * Every notify_* message is a no-op without NOTIFY_SOCKET.
 */
#ifndef KSOCKD_NOTIFY_H
#define KSOCKD_NOTIFY_H

#include <sys/types.h>

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A rejected reload: READY=1 again, with the reason in STATUS=. */
void notify_reload_failed(const char *why);
/* The main process changed (after daemon()). */
void notify_mainpid(pid_t pid);
/* WATCHDOG_USEC in seconds when the watchdog is on for this process, else 0. */
double notify_watchdog_interval(void);
/* Sockets passed by the service manager: their number (0: none) and, in *names
 * (a NULL-terminated strv to free by the caller, or NULL), their names; the
 * fds are notify_listen_fds_start() onwards. Unsets LISTEN_* variables. */
int notify_listen_fds(char ***names);
int notify_listen_fds_start(void);

#endif
