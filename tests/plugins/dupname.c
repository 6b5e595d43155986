/* tests/plugins/dupname.c: a plug-in whose handler takes a built-in's name. */
#include <ksockd/handler.h>

static enum handler_result dup_line(void *state, const struct line *l, struct outbuf *out)
{
	(void)state;
	(void)l;
	(void)out;
	return HANDLER_OK;
}

static const struct handler dup = {.name = "echo", .line = dup_line};

KSOCKD_PLUGIN("dupname", &dup);
