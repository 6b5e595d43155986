/*
 * accesslog.c: formats and writes access log lines (file or journal), and
 * prepares the files in the master. Owns each worker's access log fds; must
 * not touch connections (conn.c hands it a finished accesslog_entry).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "conf.h"
#include "log.h"
#include "priv.h"

#define ACCESSLOG_MODE 0640
#define ACCESSLOG_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY)

static bool accesslog_is_journal(const char *path)
{
	return strcmp(path, "journal") == 0;
}

void accesslog_open(struct accesslog *al, const struct listener_conf *lc)
{
	al->conf = lc;
	al->fd = -1;
	al->warned = false;
	al->journal = lc->access_log && accesslog_is_journal(lc->access_log);
	if (!lc->access_log || al->journal)
		return;
	al->fd = open(lc->access_log, ACCESSLOG_FLAGS, ACCESSLOG_MODE);
	if (al->fd < 0)
		log_warn("listener '%s': cannot open access log %s", lc->name, lc->access_log);
}

void accesslog_close(struct accesslog *al)
{
	if (al->fd >= 0 && close(al->fd) < 0)
		log_warn("listener '%s': closing access log", al->conf->name);
	al->fd = -1;
}

void accesslog_reopen(struct accesslog *al)
{
	if (!al->conf || !al->conf->access_log || al->journal)
		return;
	accesslog_close(al);
	accesslog_open(al, al->conf);
}

size_t accesslog_format(const char *listener, const struct accesslog_entry *e, char *buf,
                        size_t len)
{
	char when[40];
	log_format_time(e->ended, when, sizeof when); /* the main log's form too */
	int n = snprintf(buf, len,
	                 "%s listener=%s peer=%s duration=%.3f lines_in=%llu bytes_in=%llu "
	                 "lines_out=%llu bytes_out=%llu reason=\"%s\"%s",
	                 when, listener, e->peer, e->ended - e->started,
	                 (unsigned long long)e->lines_in, (unsigned long long)e->bytes_in,
	                 (unsigned long long)e->lines_out, (unsigned long long)e->bytes_out,
	                 e->reason, e->extra ? e->extra : "");
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

static void accesslog_journal(const struct accesslog *al, const struct accesslog_entry *e,
                              const char *line)
{
	int rc =
	    sd_journal_send("MESSAGE=%s", line, "PRIORITY=%d", LOG_INFO, "SYSLOG_IDENTIFIER=ksockd",
	                    "KSOCKD_LISTENER=%s", al->conf->name, "KSOCKD_PEER=%s", e->peer,
	                    "KSOCKD_DURATION=%.3f", e->ended - e->started, "KSOCKD_BYTES_IN=%llu",
	                    (unsigned long long)e->bytes_in, "KSOCKD_BYTES_OUT=%llu",
	                    (unsigned long long)e->bytes_out, "KSOCKD_REASON=%s", e->reason, NULL);
	if (rc < 0)
		log_debug("listener '%s': journal access log: %s", al->conf->name, strerror(-rc));
}

void accesslog_write(struct accesslog *al, const struct accesslog_entry *e)
{
	if (al->fd < 0 && !al->journal)
		return;
	char line[1024];
	size_t n = accesslog_format(al->conf->name, e, line, sizeof line - 1);
	if (al->journal) {
		accesslog_journal(al, e, line);
		return;
	}
	line[n++] = '\n';
	ssize_t w;
	do
		w = write(al->fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)n && !al->warned) {
		if (w < 0)
			log_warn("listener '%s': writing access log %s", al->conf->name,
			         al->conf->access_log);
		else
			log_warnx("listener '%s': short write to access log %s", al->conf->name,
			          al->conf->access_log);
		al->warned = true;
	}
}

void accesslog_prepare(const struct conf *conf, const struct priv *priv)
{
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct listener_conf *lc = &conf->listeners[i];
		if (!lc->access_log || accesslog_is_journal(lc->access_log))
			continue;
		int fd = open(lc->access_log, ACCESSLOG_FLAGS | O_EXCL, ACCESSLOG_MODE);
		if (fd < 0) {
			if (errno != EEXIST)
				log_warn("listener '%s': cannot create access log %s", lc->name,
				         lc->access_log);
			continue;
		}
		if (priv->drop && fchown(fd, priv->uid, priv->gid) < 0)
			log_warn("listener '%s': cannot hand access log %s to the workers' user",
			         lc->name, lc->access_log);
		if (close(fd) < 0)
			log_warn("listener '%s': closing access log %s", lc->name, lc->access_log);
	}
}
