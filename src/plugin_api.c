/*
 * plugin_api.c: the functions <ksockd/handler.h> gives plug-ins, exported
 * from the ksockd binary (src/plugin_api.syms lists them for the linker).
 * Thin wrappers, so that plug-ins never depend on the daemon's internal
 * names or struct layouts (ksockd_out_append, the one on every reply's path,
 * is an alias of outbuf_append, in outbuf.c).
 */
#include "config.h"

#include <stdarg.h>

#include "handler.h"

int ksockd_out_printf(struct outbuf *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = outbuf_vprintf(out, fmt, ap);
	va_end(ap);
	return r;
}

size_t ksockd_out_len(const struct outbuf *out)
{
	return outbuf_len(out);
}
