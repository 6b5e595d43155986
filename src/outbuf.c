/*
 * outbuf.c: the reply queue. Owns its storage; knows nothing of sockets.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbuf.h"

static int outbuf_reserve(struct outbuf *ob, size_t len)
{
	if (ob->cap - ob->tail >= len)
		return 0;
	size_t used = outbuf_len(ob);
	if (ob->head > 0 && ob->cap - used >= len) {
		memmove(ob->data, ob->data + ob->head, used);
		ob->head = 0;
		ob->tail = used;
		return 0;
	}
	size_t cap = ob->cap ? ob->cap : 1024;
	while (cap - used < len)
		cap *= 2;
	char *p = malloc(cap);
	if (!p)
		return -1;
	if (used)
		memcpy(p, ob->data + ob->head, used);
	free(ob->data);
	ob->data = p;
	ob->cap = cap;
	ob->head = 0;
	ob->tail = used;
	return 0;
}

int outbuf_append(struct outbuf *ob, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (outbuf_reserve(ob, len) < 0)
		return -1;
	memcpy(ob->data + ob->tail, data, len);
	ob->tail += len;
	return 0;
}

/* The same function under its public name for plug-ins (<ksockd/handler.h>):
 * an alias, so a plug-in's reply costs what a built-in handler's does. */
int ksockd_out_append(struct outbuf *ob, const void *data, size_t len)
	__attribute__((alias("outbuf_append")));

int outbuf_vprintf(struct outbuf *ob, const char *fmt, va_list ap)
{
	char small[256];
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	if (n < 0 || (size_t)n < sizeof small) {
		va_end(again);
		return n < 0 ? -1 : outbuf_append(ob, small, (size_t)n);
	}
	if (outbuf_reserve(ob, (size_t)n + 1) < 0) {
		va_end(again);
		return -1;
	}
	vsnprintf(ob->data + ob->tail, (size_t)n + 1, fmt, again);
	va_end(again);
	ob->tail += (size_t)n;
	return 0;
}

int outbuf_printf(struct outbuf *ob, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = outbuf_vprintf(ob, fmt, ap);
	va_end(ap);
	return r;
}

void outbuf_consume(struct outbuf *ob, size_t n)
{
	ob->head += n;
	if (ob->head >= ob->tail)
		outbuf_free(ob);
}

void outbuf_reset(struct outbuf *ob) { ob->head = ob->tail = 0; }

void outbuf_free(struct outbuf *ob)
{
	free(ob->data);
	ob->data = NULL;
	ob->head = ob->tail = ob->cap = 0;
}
