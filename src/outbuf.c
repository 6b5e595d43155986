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

int outbuf_printf(struct outbuf *ob, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof small)
		return outbuf_append(ob, small, (size_t)n);
	if (outbuf_reserve(ob, (size_t)n + 1) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ob->data + ob->tail, (size_t)n + 1, fmt, ap);
	va_end(ap);
	ob->tail += (size_t)n;
	return 0;
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
