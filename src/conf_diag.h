/*
 * conf_diag.h: turns configuration mistakes into messages that name the fix.
 *
 * Pure functions, no I/O: edit-distance suggestions ("did you mean"), a
 * re-scan of a libconfig file that libconfig rejected with only "syntax
 * error" (naming the unexpected token and what was expected), and hints for
 * the usual address and bind traps. conf.c and listener.c call them where
 * they report an error; nothing here decides whether a config is valid.
 */
#ifndef KSOCKD_CONF_DIAG_H
#define KSOCKD_CONF_DIAG_H

#include <stddef.h>

/* Levenshtein distance between a and b (insert, delete, substitute: 1 each). */
size_t diag_edit_distance(const char *a, const char *b);

/* Collects the closest candidate to word; only close ones count (see diag_suggest_best). */
struct diag_suggest {
	const char *word; /* what the user wrote */
	const char *best; /* closest candidate so far, NULL: none */
	size_t dist;      /* its distance */
};
void diag_suggest_init(struct diag_suggest *sg, const char *word);
void diag_suggest_add(struct diag_suggest *sg, const char *candidate);
/* Adds each entry of a ", "-separated list ("tcp, udp, tls"); list must outlive sg. */
void diag_suggest_add_list(struct diag_suggest *sg, const char *list);
/* The candidate if it is close enough to be a typo (distance <= 2, less than half the word). */
const char *diag_suggest_best(const struct diag_suggest *sg, char *buf, size_t len);

/* "; did you mean 'x'?" for the closest entry of a ", "-separated list, or "". */
const char *diag_did_you_mean(const char *word, const char *list, char *buf, size_t len);

/*
 * Re-scans config text that libconfig rejected. On finding the first
 * mistake returns 0, sets *line and writes "unexpected X, expected Y[; hint]"
 * to msg; returns -1 when it finds nothing (libconfig's text must then do).
 */
int diag_syntax(const char *text, int *line, char *msg, size_t msglen);

/* The file named by the @include on line `line` of text, into buf; -1 if none. */
int diag_include_name(const char *text, int line, char *buf, size_t len);

/*
 * A hint for an address as written in the config (brackets, "host:port"),
 * or NULL when it looks like a plain host or address. "::1:2572" is a valid
 * IPv6 address too: ask only once the address failed to resolve or bind.
 */
const char *diag_address_hint(const char *address, char *buf, size_t len);

/* A hint for bind(2) failing with errnum on this port and address, or NULL. */
const char *diag_bind_hint(int errnum, unsigned port, const char *address, char *buf, size_t len);

#endif
