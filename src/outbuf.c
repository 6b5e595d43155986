/*
 * outbuf.c: the reply queue. Owns its storage; knows nothing of sockets.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbuf.h"

/* Room for len more bytes after b->tail; returns 0 or -1. */
static int outbuf_reserve(struct outbuf *ob, size_t len)
{
	struct outbuf_block *b = ob->b;
	if (b && b->cap - b->tail >= len)
		return 0;
	size_t used = outbuf_len(ob);
	if (b && b->head > 0 && b->cap - used >= len) {
		memmove(b->data, b->data + b->head, used);
		b->head = 0;
		b->tail = used;
		return 0;
	}
	size_t cap = b ? b->cap : 1024;
	while (cap - used < len)
		cap *= 2;
	struct outbuf_block *p = malloc(sizeof *p + cap);
	if (!p)
		return -1;
	if (used)
		memcpy(p->data, b->data + b->head, used);
	free(b);
	p->cap = cap;
	p->head = 0;
	p->tail = used;
	ob->b = p;
	return 0;
}

int outbuf_append(struct outbuf *ob, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (outbuf_reserve(ob, len) < 0)
		return -1;
	memcpy(ob->b->data + ob->b->tail, data, len);
	ob->b->tail += len;
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
	vsnprintf(ob->b->data + ob->b->tail, (size_t)n + 1, fmt, again);
	va_end(again);
	ob->b->tail += (size_t)n;
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
	if (!ob->b)
		return;
	ob->b->head += n;
	if (ob->b->head >= ob->b->tail)
		outbuf_free(ob);
}

void outbuf_reset(struct outbuf *ob)
{
	if (ob->b)
		ob->b->head = ob->b->tail = 0;
}

void outbuf_free(struct outbuf *ob)
{
	free(ob->b);
	ob->b = NULL;
}
