/*
 * handlers/health.c: a health check for load balancers. Every line received
 * (its content is ignored) is answered "ready" while the daemon serves, and
 * "draining" once it has been asked to stop and is waiting drain_delay
 * seconds for balancers to move traffic away. With HAProxy:
 *   tcp-check send "health\n"
 *   tcp-check expect string ready
 */
#include "config.h"

#include "handlers.h"

struct health {
	const volatile int *draining; /* the daemon's drain flag, NULL if none */
};

static enum handler_result health_open(void *state, const struct session_info *si,
                                       struct outbuf *out)
{
	struct health *st = state;
	(void)out;
	st->draining = si->draining;
	return HANDLER_OK;
}

static enum handler_result health_line(void *state, const struct line *line, struct outbuf *out)
{
	const struct health *st = state;
	(void)line;
	bool draining = st->draining && *st->draining;
	const char *answer = draining ? "draining\n" : "ready\n";
	if (outbuf_append(out, answer, draining ? 9 : 6) < 0)
		return HANDLER_CLOSE;
	return HANDLER_OK;
}

const struct handler handler_health = {
    .name = "health",
    .state_size = sizeof(struct health),
    .open = health_open,
    .line = health_line,
};
