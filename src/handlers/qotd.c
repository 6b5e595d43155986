/*
 * handlers/qotd.c: the quote of the day protocol (RFC 865).
 *
 * The quotes come from the listener's qotd_file, read by the master when it
 * prepares a generation and handed over in session_info (qotd_load: fortune(6) format, quotes
 * separated by lines holding only "%", each at most 512 bytes once its lines end in CRLF). The
 * quote of the day is quote number (days since 1970) modulo their number. Streams get it on
 * connect, then the connection closes; each datagram gets it as the reply.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers.h"

#define QOTD_MAX 512 /* RFC 865: a message should be shorter than 512 characters */

void qotd_free(struct qotd_quotes *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->text[i]);
	free(q->text);
	free(q);
}

/* Adds the quote in cur (if it has any text) to q. Returns -1 on error (err set). */
static int qotd_push(struct qotd_quotes *q, struct outbuf *cur, const char *path, int line,
                     char *err, size_t errlen)
{
	/* Blank lines between a quote and the next "%" are not part of it. */
	while (outbuf_len(cur) >= 4 && memcmp(cur->b->data + cur->b->tail - 4, "\r\n\r\n", 4) == 0)
		cur->b->tail -= 2;
	if (outbuf_len(cur) == 0)
		return 0;
	if (outbuf_len(cur) > QOTD_MAX) {
		snprintf(err, errlen, "%s:%d: quote longer than %d bytes (RFC 865)", path, line,
		         QOTD_MAX);
		return -1;
	}
	char **t = realloc(q->text, (q->n + 1) * sizeof *t);
	char *s = t ? strndup(outbuf_head(cur), outbuf_len(cur)) : NULL;
	if (t)
		q->text = t;
	if (!s) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	q->text[q->n++] = s;
	outbuf_free(cur);
	return 0;
}

/* Reads the quotes of f; returns 0, or -1 with err set. */
static int qotd_read(FILE *f, const char *path, struct qotd_quotes *q, char *err, size_t errlen)
{
	struct outbuf cur = {0};
	char buf[1024];
	int line = 0, rc = 0;
	while (rc == 0 && fgets(buf, sizeof buf, f)) {
		line++;
		size_t len = strcspn(buf, "\r\n");
		if (len == sizeof buf - 1) {
			snprintf(err, errlen, "%s:%d: line too long", path, line);
			rc = -1;
		} else if (len == 1 && buf[0] == '%') {
			rc = qotd_push(q, &cur, path, line, err, errlen);
		} else if ((len > 0 || outbuf_len(&cur) > 0) &&
		           (outbuf_append(&cur, buf, len) < 0 ||
		            outbuf_append(&cur, "\r\n", 2) < 0)) {
			snprintf(err, errlen, "%s: out of memory", path);
			rc = -1;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc == 0)
		rc = qotd_push(q, &cur, path, line, err, errlen);
	outbuf_free(&cur);
	return rc;
}

struct qotd_quotes *qotd_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open qotd_file '%s': %s", path, strerror(errno));
		return NULL;
	}
	struct qotd_quotes *q = calloc(1, sizeof *q);
	int rc = q ? qotd_read(f, path, q, err, errlen) : -1;
	if (!q)
		snprintf(err, errlen, "%s: out of memory", path);
	fclose(f);
	if (rc == 0 && q->n == 0) {
		snprintf(err, errlen, "qotd_file '%s' holds no quote", path);
		rc = -1;
	}
	if (rc < 0) {
		qotd_free(q);
		return NULL;
	}
	return q;
}

const char *qotd_pick(const struct qotd_quotes *q, time_t now)
{
	if (!q || q->n == 0)
		return NULL;
	return q->text[(unsigned long long)(now / 86400) % q->n];
}

struct qotd {
	const struct qotd_quotes *quotes; /* the listener's, from session_info */
};

static enum handler_result qotd_reply(const struct qotd *st, struct outbuf *out)
{
	const char *s = qotd_pick(st->quotes, time(NULL));
	if (!s || outbuf_append(out, s, strlen(s)) < 0)
		return HANDLER_CLOSE;
	return HANDLER_OK;
}

static enum handler_result qotd_open(void *state, const struct session_info *si, struct outbuf *out)
{
	struct qotd *st = state;
	st->quotes = si->qotd;
	if (si->datagram)
		return HANDLER_OK;
	qotd_reply(st, out);
	return HANDLER_CLOSE;
}

static enum handler_result qotd_line(void *state, const struct line *line, struct outbuf *out)
{
	(void)line;
	return qotd_reply(state, out);
}

const struct handler handler_qotd = {
    .name = "qotd",
    .state_size = sizeof(struct qotd),
    .open = qotd_open,
    .line = qotd_line,
};
