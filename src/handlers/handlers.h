/*
 * handlers/handlers.h: the built-in line handlers, one file each, and the
 * few helpers their tests and the config loader use.
 */
#ifndef KSOCKD_HANDLERS_H
#define KSOCKD_HANDLERS_H

#include <stddef.h>
#include <time.h>

#include "../handler.h"

extern const struct handler handler_echo;       /* RFC 862: every byte back as it is read */
extern const struct handler handler_echo_lines; /* each line back, terminator included */
extern const struct handler handler_hello;      /* "Please enter your name" / "Hello, NAME!" */
extern const struct handler handler_whoami;     /* what the server sees of the client */
extern const struct handler handler_health;     /* "ready" / "draining", for balancers */
extern const struct handler handler_discard;    /* RFC 863: drops everything */
extern const struct handler handler_chargen;    /* RFC 864: the rotating character pattern */
extern const struct handler handler_daytime;    /* RFC 867: date and time as text */
extern const struct handler handler_time;       /* RFC 868: 32-bit seconds since 1900 */
extern const struct handler handler_qotd;       /* RFC 865: a quote from qotd_file */
extern const struct handler handler_stats;      /* counters as `name{labels} value` lines */
extern const struct handler handler_metrics;    /* counters over HTTP for Prometheus */

#define CHARGEN_LINE_LEN 74 /* 72 characters and CRLF */
/* The chargen line whose first character is pattern offset start (0..94). */
void chargen_line(unsigned start, char buf[CHARGEN_LINE_LEN]);
/* RFC 867 text for t, CRLF-terminated; returns its length (0 on error). */
size_t daytime_format(time_t t, char *buf, size_t len);
/* RFC 868 value for t, big-endian. */
void timeproto_encode(time_t t, unsigned char buf[4]);

/* Quotes of a qotd_file, owned by the generation that read them (generation.h). */
struct qotd_quotes {
	char **text; /* each quote, lines ending in CRLF, NUL-terminated */
	size_t n;    /* number of quotes, at least 1 */
};
/* Loads path (fortune format); NULL with err set ("PATH:LINE: why") on error. */
struct qotd_quotes *qotd_load(const char *path, char *err, size_t errlen);
void qotd_free(struct qotd_quotes *q);
/* The quote of the day at time now. */
const char *qotd_pick(const struct qotd_quotes *q, time_t now);

#endif
