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

struct outbuf {
	char *data;  /* storage, NULL while empty and released */
	size_t head; /* first unsent byte */
	size_t tail; /* one past the last queued byte */
	size_t cap;  /* allocated size */
};

static inline size_t outbuf_len(const struct outbuf *ob) { return ob->tail - ob->head; }
static inline const char *outbuf_head(const struct outbuf *ob) { return ob->data + ob->head; }

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
