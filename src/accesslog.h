/*
 * accesslog.h: one line per closed connection, per listener (access_log).
 *
 * A listener's access_log is off (NULL), "journal" (one structured journal
 * entry per connection, through sd_journal_send) or an absolute file path.
 * Each worker opens the file itself (O_APPEND: whole lines from several
 * workers never interleave) and reopens it on SIGUSR1, which the master
 * forwards after creating any missing file for the workers' user (so that
 * logrotate can move the file away and need not create it).
 */
#ifndef KSOCKD_ACCESSLOG_H
#define KSOCKD_ACCESSLOG_H

#include <stdbool.h>
#include <stdint.h>

struct conf;
struct listener_conf;
struct priv;

struct accesslog {
	const struct listener_conf *conf; /* its listener (path in conf->access_log) */
	int fd;                           /* open file, -1 when off, journal or failed */
	bool journal;                     /* entries go to the journal */
	bool warned;                      /* a write error was logged since the last open */
};

/* What one line says about a closed connection. */
struct accesslog_entry {
	double started;     /* accept time, seconds since 1970 */
	double ended;       /* close time, seconds since 1970 */
	const char *peer;   /* client address, formatted */
	uint64_t lines_in;  /* lines received */
	uint64_t bytes_in;  /* bytes received */
	uint64_t lines_out; /* lines sent */
	uint64_t bytes_out; /* bytes sent */
	const char *reason; /* close reason, as logged */
	const char *extra;  /* more " key=value" fields (TLS version, cipher, SNI), or NULL */
};

/* Worker side. */
void accesslog_open(struct accesslog *al, const struct listener_conf *lc);
void accesslog_reopen(struct accesslog *al);
void accesslog_close(struct accesslog *al);
void accesslog_write(struct accesslog *al, const struct accesslog_entry *e);
/* Formats e as one line (no newline) into buf; returns its length (truncated to len - 1). */
size_t accesslog_format(const char *listener, const struct accesslog_entry *e, char *buf,
                        size_t len);

/* Master side: creates missing access log files, owned by the workers' user. */
void accesslog_prepare(const struct conf *conf, const struct priv *priv);

#endif
