/*
 * outbuf.h: a growable byte queue for replies (pure memory, no I/O).
 *
 * Handlers append to it; the connection drains it to the socket from the head.
 * It holds no limit itself: the connection checks outbuf_len() against its
 * output_buffer limit before handing it more work, which bounds its size.
 */
#ifndef KSOCKD_OUTBUF_H
#define KSOCKD_OUTBUF_H

#include <stdarg.h>
#include <stddef.h>

/* The storage, with its indices: one heap block, so that an empty outbuf is one pointer. */
struct outbuf_block {
	size_t head; /* first unsent byte */
	size_t tail; /* one past the last queued byte */
	size_t cap;  /* size of data */
	char data[]; /* the bytes */
};

struct outbuf {
	struct outbuf_block *b; /* NULL while empty and released */
};

static inline size_t outbuf_len(const struct outbuf *ob)
{
	return ob->b ? ob->b->tail - ob->b->head : 0;
}
/* The first unsent byte (NULL while released). */
static inline const char *outbuf_head(const struct outbuf *ob)
{
	return ob->b ? ob->b->data + ob->b->head : NULL;
}
/* Bytes of storage held. */
static inline size_t outbuf_cap(const struct outbuf *ob)
{
	return ob->b ? ob->b->cap : 0;
}

/* Appends len bytes; returns 0, or -1 when memory is exhausted. */
int outbuf_append(struct outbuf *ob, const void *data, size_t len);
/* Appends a formatted string; returns 0 or -1. */
int outbuf_printf(struct outbuf *ob, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int outbuf_vprintf(struct outbuf *ob, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Drops n sent bytes from the head; frees the storage once empty. */
void outbuf_consume(struct outbuf *ob, size_t n);
void outbuf_reset(struct outbuf *ob);
void outbuf_free(struct outbuf *ob);

#endif
