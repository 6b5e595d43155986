/*
 * plugins/kv.c: an example handler plug-in: a small key-value line protocol,
 * one store per session. Built with only <ksockd/handler.h>:
 *
 *   cc $(pkg-config --cflags ksockd) -O2 -fno-plt -shared -fPIC -o kv.so kv.c
 *
 * Commands (one per line; replies end with the client's terminator):
 *   SET key value   -> OK
 *   GET key         -> VALUE value | NOT_FOUND
 *   DEL key         -> DELETED | NOT_FOUND
 *   COUNT           -> COUNT n
 *   QUIT            -> BYE, then the session ends
 * Sizes are bounded (KV_KEYS keys of KV_KEY_MAX and KV_VALUE_MAX bytes); a
 * command over a bound is answered "ERROR ..." and the session goes on.
 */
#include <stdlib.h>
#include <string.h>

#include <ksockd/handler.h>

#define KV_KEYS 64       /* keys per session */
#define KV_KEY_MAX 64    /* bytes per key */
#define KV_VALUE_MAX 256 /* bytes per value */

struct kv_entry {
	char key[KV_KEY_MAX]; /* not NUL-terminated */
	size_t key_len;       /* bytes of key used */
	char *value;          /* malloc'd, value_len bytes */
	size_t value_len;     /* bytes of value */
};

struct kv_state {
	struct kv_entry *entries; /* KV_KEYS entries, allocated at the first SET */
	size_t n;                 /* entries used */
};

/* The reply text, then the terminator the client used ("\n" if none). */
static enum handler_result reply(struct outbuf *out, const struct line *l, const char *a,
                                 const char *b, size_t b_len)
{
	const char *eol = l->eol_len ? l->eol : "\n";
	size_t eol_len = l->eol_len ? l->eol_len : 1;
	if (ksockd_out_append(out, a, strlen(a)) < 0 ||
	    (b && ksockd_out_append(out, b, b_len) < 0) || ksockd_out_append(out, eol, eol_len) < 0)
		return HANDLER_CLOSE;
	return HANDLER_OK;
}

static struct kv_entry *kv_lookup(struct kv_state *st, const char *key, size_t len)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->entries[i].key_len == len && memcmp(st->entries[i].key, key, len) == 0)
			return &st->entries[i];
	return NULL;
}

/* Splits "WORD rest": the word's length; *rest and *rest_len after one space. */
static size_t kv_word(const char *s, size_t len, const char **rest, size_t *rest_len)
{
	const char *sp = memchr(s, ' ', len);
	size_t w = sp ? (size_t)(sp - s) : len;
	*rest = sp ? sp + 1 : s + len;
	*rest_len = sp ? len - w - 1 : 0;
	return w;
}

static enum handler_result kv_set(struct kv_state *st, const struct line *l, const char *args,
                                  size_t len, struct outbuf *out)
{
	const char *value;
	size_t value_len, key_len = kv_word(args, len, &value, &value_len);
	if (key_len == 0 || value == args + len)
		return reply(out, l, "ERROR usage: SET key value", NULL, 0);
	if (key_len > KV_KEY_MAX)
		return reply(out, l, "ERROR key too long (max 64 bytes)", NULL, 0);
	if (value_len > KV_VALUE_MAX)
		return reply(out, l, "ERROR value too long (max 256 bytes)", NULL, 0);
	struct kv_entry *e = kv_lookup(st, args, key_len);
	if (!e && st->n == KV_KEYS)
		return reply(out, l, "ERROR too many keys (max 64)", NULL, 0);
	if (!st->entries && !(st->entries = calloc(KV_KEYS, sizeof *st->entries)))
		return reply(out, l, "ERROR out of memory", NULL, 0);
	char *copy = malloc(value_len ? value_len : 1);
	if (!copy)
		return reply(out, l, "ERROR out of memory", NULL, 0);
	memcpy(copy, value, value_len);
	if (!e) {
		e = &st->entries[st->n++];
		memcpy(e->key, args, key_len);
		e->key_len = key_len;
	} else {
		free(e->value);
	}
	e->value = copy;
	e->value_len = value_len;
	return reply(out, l, "OK", NULL, 0);
}

static enum handler_result kv_line(void *state, const struct line *l, struct outbuf *out)
{
	struct kv_state *st = state;
	const char *args;
	size_t args_len, cmd = kv_word(l->data, l->len, &args, &args_len);
	if (cmd == 3 && memcmp(l->data, "SET", 3) == 0)
		return kv_set(st, l, args, args_len, out);
	if (cmd == 3 && memcmp(l->data, "GET", 3) == 0) {
		struct kv_entry *e = kv_lookup(st, args, args_len);
		return e ? reply(out, l, "VALUE ", e->value, e->value_len)
		         : reply(out, l, "NOT_FOUND", NULL, 0);
	}
	if (cmd == 3 && memcmp(l->data, "DEL", 3) == 0) {
		struct kv_entry *e = kv_lookup(st, args, args_len);
		if (!e)
			return reply(out, l, "NOT_FOUND", NULL, 0);
		free(e->value);
		*e = st->entries[--st->n];
		return reply(out, l, "DELETED", NULL, 0);
	}
	if (cmd == 5 && memcmp(l->data, "COUNT", 5) == 0) {
		if (ksockd_out_printf(out, "COUNT %zu", st->n) < 0)
			return HANDLER_CLOSE;
		return reply(out, l, "", NULL, 0);
	}
	if (cmd == 4 && memcmp(l->data, "QUIT", 4) == 0) {
		reply(out, l, "BYE", NULL, 0);
		return HANDLER_CLOSE; /* after BYE is sent */
	}
	return reply(out, l, "ERROR unknown command (SET, GET, DEL, COUNT, QUIT)", NULL, 0);
}

static void kv_close(void *state)
{
	struct kv_state *st = state;
	for (size_t i = 0; i < st->n; i++)
		free(st->entries[i].value);
	free(st->entries);
}

static const struct handler kv_handler = {
    .name = "kv",
    .state_size = sizeof(struct kv_state),
    .line = kv_line,
    .close = kv_close,
};

KSOCKD_PLUGIN("kv", &kv_handler);
