/*
 * tests/plugins/crashy.c: a plug-in whose handler crashes on request, for
 * the test that a crashing handler takes down its worker only. "crash"
 * aborts the process; any other line is answered "alive".
 */
#include <stdlib.h>
#include <string.h>

#include <ksockd/handler.h>

static enum handler_result crashy_line(void *state, const struct line *l, struct outbuf *out)
{
	(void)state;
	if (l->len == 5 && memcmp(l->data, "crash", 5) == 0)
		abort();
	return ksockd_out_append(out, "alive\n", 6) < 0 ? HANDLER_CLOSE : HANDLER_OK;
}

static const struct handler crashy = {.name = "crashy", .line = crashy_line};

KSOCKD_PLUGIN("crashy", &crashy);
