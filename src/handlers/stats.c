/*
 * handlers/stats.c: the `stats` line protocol over the shared counters.
 *
 *   stats    every counter, totals over all workers, as `name{labels} value`
 *            lines, then an empty line
 *   workers  one line per live worker (slot, pid, generation, uptime, open
 *            connections, serving/draining), then an empty line
 *   quit     closes the connection
 *
 * Reads the counters only (session_info.stats); never writes them.
 */
#include "config.h"

#include <string.h>

#include "../stats_format.h"
#include "handlers.h"

#define STATS_HELP "ERROR unknown command (stats, workers, quit)\n"

struct stats_session {
	const struct stats *stats; /* the shared counters, NULL if unavailable */
};

static enum handler_result stats_open(void *state, const struct session_info *si,
                                      struct outbuf *out)
{
	struct stats_session *st = state;
	(void)out;
	st->stats = si->stats;
	return HANDLER_OK;
}

static bool stats_is(const struct line *line, const char *cmd)
{
	size_t len = line->len;
	while (len > 0 && (line->data[len - 1] == ' ' || line->data[len - 1] == '\t' ||
	                   line->data[len - 1] == '\r'))
		len--;
	return len == strlen(cmd) && memcmp(line->data, cmd, len) == 0;
}

static enum handler_result stats_line(void *state, const struct line *line, struct outbuf *out)
{
	struct stats_session *st = state;
	int rc;
	if (stats_is(line, "quit"))
		return HANDLER_CLOSE;
	if (!stats_is(line, "stats") && !stats_is(line, "workers"))
		rc = outbuf_append(out, STATS_HELP, sizeof STATS_HELP - 1);
	else if (!st->stats)
		rc = outbuf_printf(out, "ERROR counters unavailable\n\n");
	else if (stats_is(line, "stats"))
		rc = stats_format_text(st->stats, out);
	else
		rc = stats_format_workers(st->stats, out);
	if (rc == 0 && (stats_is(line, "stats") || stats_is(line, "workers")) && st->stats)
		rc = outbuf_append(out, "\n", 1);
	return rc < 0 ? HANDLER_CLOSE : HANDLER_OK;
}

const struct handler handler_stats = {
    .name = "stats",
    .state_size = sizeof(struct stats_session),
    .open = stats_open,
    .line = stats_line,
};
