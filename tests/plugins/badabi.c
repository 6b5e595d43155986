/* tests/plugins/badabi.c: a plug-in that claims another handler ABI version. */
#include <ksockd/handler.h>

static enum handler_result badabi_line(void *state, const struct line *l, struct outbuf *out)
{
	(void)state;
	(void)l;
	(void)out;
	return HANDLER_OK;
}

static const struct handler badabi = {.name = "badabi", .line = badabi_line};

__attribute__((visibility("default"))) const struct ksockd_plugin ksockd_plugin = {
    KSOCKD_HANDLER_ABI + 998, sizeof(struct handler), "badabi",
    (const struct handler *const[]){&badabi, NULL}};
