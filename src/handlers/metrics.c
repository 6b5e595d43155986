/*
 * handlers/metrics.c: a minimal HTTP/1.0 and 1.1 server for Prometheus.
 *
 * `GET /metrics` (any query string) is answered 200 with the shared counters
 * in the Prometheus text exposition format, after the request's headers; a
 * request line that is not "METHOD TARGET HTTP/1.x" gets 400 at once, another
 * method 405, another path 404. Every response carries Content-Length and
 * "Connection: close", and the connection closes after it.
 */
#include "config.h"

#include <string.h>

#include "../stats_format.h"
#include "handlers.h"

enum metrics_phase {
	METRICS_REQUEST, /* waiting for the request line */
	METRICS_HEADERS, /* skipping headers until the empty line */
};

struct metrics {
	const struct stats *stats; /* the shared counters, NULL if unavailable */
	enum metrics_phase phase;  /* see above */
	int status;                /* response decided by the request line */
	char minor;                /* HTTP/1.x minor version, '0' or '1' */
};

static enum handler_result metrics_open(void *state, const struct session_info *si,
                                        struct outbuf *out)
{
	struct metrics *m = state;
	(void)out;
	m->stats = si->stats;
	m->minor = '1';
	return HANDLER_OK;
}

/* Parses "METHOD SP TARGET SP HTTP/1.x" into m->status. */
static void metrics_request(struct metrics *m, const char *p, size_t len)
{
	const char *end = p + len, *sp1 = memchr(p, ' ', len);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || end - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1') || sp2 == sp1 + 1) {
		m->status = 400;
		return;
	}
	m->minor = sp2[8];
	const char *q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	size_t path_len = (size_t)((q ? q : sp2) - sp1 - 1);
	if (sp1 - p != 3 || memcmp(p, "GET", 3) != 0)
		m->status = 405;
	else if (path_len != 8 || memcmp(sp1 + 1, "/metrics", 8) != 0)
		m->status = 404;
	else
		m->status = m->stats ? 200 : 503;
}

static enum handler_result metrics_respond(struct metrics *m, struct outbuf *out)
{
	static const char *const reasons[] = {[0] = "OK",
	                                      [1] = "Bad Request",
	                                      [2] = "Not Found",
	                                      [3] = "Method Not Allowed",
	                                      [4] = "Service Unavailable"};
	struct outbuf body = {0};
	int rc, r = m->status == 200   ? 0
	            : m->status == 400 ? 1
	            : m->status == 404 ? 2
	            : m->status == 405 ? 3
	                               : 4;
	if (m->status == 200)
		rc = stats_format_prometheus(m->stats, &body);
	else
		rc = outbuf_printf(&body, "%d %s\n", m->status, reasons[r]);
	if (rc == 0)
		rc = outbuf_printf(out,
		                   "HTTP/1.%c %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		                   "%sConnection: close\r\n\r\n",
		                   m->minor, m->status, reasons[r],
		                   m->status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
		                                    : "text/plain; charset=utf-8",
		                   outbuf_len(&body), m->status == 405 ? "Allow: GET\r\n" : "");
	if (rc == 0 && outbuf_len(&body) > 0)
		rc = outbuf_append(out, outbuf_head(&body), outbuf_len(&body));
	outbuf_free(&body);
	return HANDLER_CLOSE;
}

static enum handler_result metrics_line(void *state, const struct line *line, struct outbuf *out)
{
	struct metrics *m = state;
	size_t len = line->len;
	if (len > 0 && line->data[len - 1] == '\r')
		len--;
	if (m->phase == METRICS_REQUEST) {
		if (len == 0)
			return HANDLER_OK; /* RFC 9112: ignore empty lines before the request */
		metrics_request(m, line->data, len);
		m->phase = METRICS_HEADERS;
		if (m->status == 400)
			return metrics_respond(m, out);
		return HANDLER_OK;
	}
	if (len > 0)
		return HANDLER_OK; /* a header: none changes the answer */
	return metrics_respond(m, out);
}

const struct handler handler_metrics = {
    .name = "metrics",
    .state_size = sizeof(struct metrics),
    .open = metrics_open,
    .line = metrics_line,
};
