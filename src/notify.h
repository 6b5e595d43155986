/*
 * notify.h: talking to the service manager (sd_notify). The only module that
 * includes sd-daemon.h. Every call is a no-op without NOTIFY_SOCKET.
 */
#ifndef KSOCKD_NOTIFY_H
#define KSOCKD_NOTIFY_H

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A rejected reload: READY=1 again, with the reason in STATUS= and ERRNO=. */
void notify_reload_failed(const char *why);

#endif
