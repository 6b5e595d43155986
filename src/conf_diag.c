/*
 * conf_diag.c: "did you mean", syntax re-scan and address/bind hints.
 *
 * The syntax re-scan is a small recursive-descent reader of libconfig's
 * grammar (settings "name = value;", scalars, [arrays], (lists), {groups},
 * @include lines, # // and C comments). It runs only after libconfig has
 * rejected a file, to say which token was unexpected and what would have
 * fitted; it never accepts or rejects a file itself. Bounded: nesting depth
 * MAX_DEPTH, names remembered per group MAX_NAMES (duplicates past that go
 * unnamed), token text quoted up to TOKEN_QUOTE bytes.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_diag.h"

#define MAX_WORD 64    /* longer words are never "close" to a candidate */
#define MAX_DEPTH 32   /* nesting of groups, lists and arrays */
#define MAX_NAMES 128  /* names per group checked for duplicates */
#define TOKEN_QUOTE 24 /* bytes of a string or name shown in a message */

/* Optimal string alignment: Levenshtein plus a swap of two neighbours ("tpc") costs 1. */
size_t diag_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > MAX_WORD || lb > MAX_WORD)
		return la > lb ? la : lb;
	size_t r0[MAX_WORD + 1], r1[MAX_WORD + 1], r2[MAX_WORD + 1];
	size_t *prev2 = r0, *prev = r1, *cur = r2;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]),
			    cb = tolower((unsigned char)b[j - 1]);
			size_t best = prev[j - 1] + (ca != cb);
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

void diag_suggest_init(struct diag_suggest *sg, const char *word)
{
	sg->word = word;
	sg->best = NULL;
	sg->dist = (size_t)-1;
}

void diag_suggest_add(struct diag_suggest *sg, const char *candidate)
{
	size_t d = diag_edit_distance(sg->word, candidate);
	if (d < sg->dist) {
		sg->dist = d;
		sg->best = candidate;
	}
}

void diag_suggest_add_list(struct diag_suggest *sg, const char *list)
{
	char one[MAX_WORD + 1];
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n <= MAX_WORD) {
			memcpy(one, p, n);
			one[n] = '\0';
			size_t d = diag_edit_distance(sg->word, one);
			if (d < sg->dist) {
				sg->dist = d;
				sg->best =
				    p; /* points into list: diag_suggest_best copies it out */
			}
		}
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
}

const char *diag_suggest_best(const struct diag_suggest *sg, char *buf, size_t len)
{
	size_t wl = strlen(sg->word);
	if (!sg->best || sg->dist == 0 || sg->dist > 2 || sg->dist * 2 >= wl + (wl < 4))
		return NULL;
	size_t n = strcspn(sg->best, ",");
	if (n >= len)
		return NULL;
	memcpy(buf, sg->best, n);
	buf[n] = '\0';
	return buf;
}

const char *diag_did_you_mean(const char *word, const char *list, char *buf, size_t len)
{
	struct diag_suggest sg;
	char best[MAX_WORD + 1];
	diag_suggest_init(&sg, word);
	diag_suggest_add_list(&sg, list);
	if (!diag_suggest_best(&sg, best, sizeof best) || len == 0) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	snprintf(buf, len, "; did you mean '%s'?", best);
	return buf;
}

/* ---- the syntax re-scan ---- */

enum tok {
	T_EOF,    /* end of text */
	T_NAME,   /* setting name or bare word */
	T_STRING, /* "..." */
	T_NUMBER, /* integer, float, hex */
	T_BOOL,   /* true / false */
	T_PUNCT,  /* one of = : ; , { } [ ] ( ) */
	T_BAD,    /* unterminated string or unknown character */
};

struct scan {
	const char *p;      /* next byte */
	int line;           /* line of p */
	enum tok tok;       /* current token */
	char ch;            /* T_PUNCT: the character */
	const char *start;  /* current token's text */
	size_t len;         /* and length */
	int tok_line;       /* line the current token starts on */
	int ml_string_line; /* latest string that spans lines: its first line, 0: none */
	int ml_string_end;  /* and its last line */
	char *msg;          /* output */
	size_t msglen;
	int err_line; /* line of the error, 0: none yet */
};

static void skip_space(struct scan *sc)
{
	for (;;) {
		const char *p = sc->p;
		if (*p == '\n') {
			sc->line++;
			sc->p++;
		} else if (isspace((unsigned char)*p)) {
			sc->p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/') ||
		           (*p == '@' && strncmp(p, "@include", 8) == 0)) {
			sc->p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			const char *end = e ? e + 2 : p + strlen(p);
			for (const char *q = p; q < end; q++)
				sc->line += *q == '\n';
			sc->p = end;
		} else
			return;
	}
}

static void next(struct scan *sc)
{
	skip_space(sc);
	const char *p = sc->p;
	sc->start = p;
	sc->tok_line = sc->line;
	if (*p == '\0') {
		sc->tok = T_EOF;
		sc->len = 0;
		return;
	}
	if (*p == '"') {
		const char *q = p + 1;
		int lines = 0;
		while (*q && *q != '"') {
			if (*q == '\\' && q[1])
				q++;
			lines += *q == '\n';
			q++;
		}
		sc->tok = *q ? T_STRING : T_BAD;
		sc->p = *q ? q + 1 : q;
		sc->len = (size_t)(sc->p - p);
		if (lines && *q) {
			sc->ml_string_line = sc->line;
			sc->ml_string_end = sc->line + lines;
		}
		sc->line += lines;
		return;
	}
	if (strchr("=:;,{}[]()", *p)) {
		sc->tok = T_PUNCT;
		sc->ch = *p;
		sc->p = p + 1;
		sc->len = 1;
		return;
	}
	if (isalpha((unsigned char)*p) || *p == '*') {
		const char *q = p;
		while (isalnum((unsigned char)*q) || *q == '_' || *q == '-' || *q == '*')
			q++;
		sc->len = (size_t)(q - p);
		sc->p = q;
		sc->tok = (sc->len == 4 && strncasecmp(p, "true", 4) == 0) ||
		                  (sc->len == 5 && strncasecmp(p, "false", 5) == 0)
		              ? T_BOOL
		              : T_NAME;
		return;
	}
	if (isdigit((unsigned char)*p) || ((*p == '-' || *p == '+' || *p == '.') &&
	                                   (isdigit((unsigned char)p[1]) || p[1] == '.'))) {
		const char *q = p + 1;
		while (isalnum((unsigned char)*q) || *q == '.' ||
		       ((*q == '-' || *q == '+') && (q[-1] == 'e' || q[-1] == 'E')))
			q++;
		sc->tok = T_NUMBER;
		sc->len = (size_t)(q - p);
		sc->p = q;
		return;
	}
	sc->tok = T_BAD;
	sc->len = 1;
	sc->p = p + 1;
}

/* The current token in words: 'port', string "abc", number 7, ';', end of file. */
static const char *tok_text(const struct scan *sc, char *buf, size_t len)
{
	int n = sc->len > TOKEN_QUOTE ? TOKEN_QUOTE : (int)sc->len;
	const char *more = sc->len > TOKEN_QUOTE ? "..." : "";
	switch (sc->tok) {
	case T_EOF: snprintf(buf, len, "end of file"); break;
	case T_NAME: snprintf(buf, len, "'%.*s%s'", n, sc->start, more); break;
	case T_STRING: snprintf(buf, len, "string %.*s%s", n, sc->start, more); break;
	case T_NUMBER: snprintf(buf, len, "number %.*s", n, sc->start); break;
	case T_BOOL: snprintf(buf, len, "%.*s", n, sc->start); break;
	case T_PUNCT: snprintf(buf, len, "'%c'", sc->ch); break;
	case T_BAD:
		if (sc->start[0] == '"')
			snprintf(buf, len, "'\"' (a string that is never closed)");
		else
			snprintf(buf, len, "the character '%c'", sc->start[0]);
		break;
	}
	return buf;
}

__attribute__((format(printf, 2, 3))) static void fail(struct scan *sc, const char *fmt, ...)
{
	if (sc->err_line)
		return;
	sc->err_line = sc->tok_line;
	char what[TOKEN_QUOTE + 32];
	int n = snprintf(sc->msg, sc->msglen, "unexpected %s, expected ",
	                 tok_text(sc, what, sizeof what));
	if (n < 0 || (size_t)n >= sc->msglen)
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(sc->msg + n, sc->msglen - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	if (sc->ml_string_line && sc->ml_string_line < sc->tok_line) {
		/* The fix is where the string was meant to end, not where parsing broke. */
		char rest[400];
		snprintf(rest, sizeof rest, "%s", sc->msg);
		snprintf(sc->msg, sc->msglen,
		         "the string opened here runs on to line %d: a missing '\"'? (then, at "
		         "line %d: %s)",
		         sc->ml_string_end, sc->tok_line, rest);
		sc->err_line = sc->ml_string_line;
	} else if (sc->tok == T_BAD && sc->start[0] == '"')
		snprintf(sc->msg, sc->msglen,
		         "the string opened here is never closed: a missing "
		         "'\"'?");
}

static bool is(const struct scan *sc, char c)
{
	return sc->tok == T_PUNCT && sc->ch == c;
}

static void parse_value(struct scan *sc, int depth);

static void parse_settings(struct scan *sc, int depth, char close, int open_line)
{
	const char *names[MAX_NAMES];
	size_t name_len[MAX_NAMES];
	int name_line[MAX_NAMES];
	size_t n_names = 0;
	while (!sc->err_line) {
		next(sc);
		if (close && is(sc, close))
			return;
		if (sc->tok != T_NAME) {
			if (!close && sc->tok == T_EOF)
				return; /* the end of the top level */
			if (!close)
				fail(sc, "a setting name");
			else if (sc->tok == T_EOF)
				fail(sc, "'}' to close the group opened at line %d", open_line);
			else
				fail(sc,
				     "a setting name or '}' (the group opened at line %d is not "
				     "closed?)",
				     open_line);
			return;
		}
		for (size_t i = 0; i < n_names; i++)
			if (name_len[i] == sc->len && memcmp(names[i], sc->start, sc->len) == 0) {
				sc->err_line = sc->tok_line;
				snprintf(
				    sc->msg, sc->msglen,
				    "duplicate setting '%.*s' (first set at line %d): keep one",
				    (int)sc->len, sc->start, name_line[i]);
				return;
			}
		if (n_names < MAX_NAMES) {
			names[n_names] = sc->start;
			name_len[n_names] = sc->len;
			name_line[n_names++] = sc->tok_line;
		}
		char name[TOKEN_QUOTE + 1];
		snprintf(name, sizeof name, "%.*s",
		         (int)(sc->len > TOKEN_QUOTE ? TOKEN_QUOTE : sc->len), sc->start);
		next(sc);
		if (!is(sc, '=') && !is(sc, ':')) {
			fail(sc, "'=' after '%s'", name);
			return;
		}
		next(sc);
		parse_value(sc, depth);
		if (sc->err_line)
			return;
		/* The terminator is optional: peek by saving the scanner. */
		struct scan save = *sc;
		next(sc);
		if (!is(sc, ';') && !is(sc, ','))
			*sc = save;
	}
}

/* Reads elements until close; a list holds values, an array scalars. */
static void parse_elements(struct scan *sc, int depth, char close, int open_line)
{
	const char *kind = close == ')' ? "list" : "array";
	next(sc);
	if (is(sc, close))
		return;
	for (;;) {
		if (close == ']' && (is(sc, '{') || is(sc, '(') || is(sc, '['))) {
			fail(sc, "a number, string or boolean (an array [ ] holds only those; use "
			         "a list ( ) for groups)");
			return;
		}
		parse_value(sc, depth + 1);
		if (sc->err_line)
			return;
		next(sc);
		if (is(sc, close))
			return;
		if (!is(sc, ',')) {
			if (sc->tok == T_EOF)
				fail(sc, "'%c' to close the %s opened at line %d", close, kind,
				     open_line);
			else
				fail(sc, "',' or '%c' (a missing ',' between %s elements?)", close,
				     kind);
			return;
		}
		next(sc);
	}
}

/* Parses the value that starts at the current token. */
static void parse_value(struct scan *sc, int depth)
{
	if (depth > MAX_DEPTH) {
		fail(sc, "less nesting (more than %d levels)", MAX_DEPTH);
		return;
	}
	switch (sc->tok) {
	case T_NUMBER:
	case T_BOOL: return;
	case T_STRING: {
		/* Adjacent strings concatenate: "a" "b". */
		struct scan save = *sc;
		next(sc);
		while (sc->tok == T_STRING) {
			save = *sc;
			next(sc);
		}
		*sc = save;
		return;
	}
	case T_PUNCT:
		if (sc->ch == '{') {
			parse_settings(sc, depth + 1, '}', sc->tok_line);
			return;
		}
		if (sc->ch == '(' || sc->ch == '[') {
			parse_elements(sc, depth + 1, sc->ch == '(' ? ')' : ']', sc->tok_line);
			return;
		}
		break;
	default: break;
	}
	fail(sc, "a value (a number, \"string\", true/false, [array], (list) or {group})");
}

int diag_syntax(const char *text, int *line, char *msg, size_t msglen)
{
	struct scan sc = {.p = text, .line = 1, .msg = msg, .msglen = msglen};
	parse_settings(&sc, 0, 0, 0);
	if (!sc.err_line)
		return -1;
	*line = sc.err_line;
	return 0;
}

int diag_include_name(const char *text, int line, char *buf, size_t len)
{
	const char *p = text;
	for (int l = 1; l < line && p; l++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return -1;
	p += strspn(p, " \t");
	if (strncmp(p, "@include", 8) != 0)
		return -1;
	const char *q = strchr(p, '"');
	const char *eol = p + strcspn(p, "\n");
	if (!q || q > eol)
		return -1;
	const char *e = strchr(q + 1, '"');
	if (!e || e > eol || (size_t)(e - q - 1) >= len)
		return -1;
	memcpy(buf, q + 1, (size_t)(e - q - 1));
	buf[e - q - 1] = '\0';
	return 0;
}

/* ---- address and bind hints ---- */

/* s is all digits and a port number. */
static bool is_port(const char *s)
{
	if (!*s || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s))
		return false;
	long v = strtol(s, NULL, 10);
	return v >= 1 && v <= 65535;
}

const char *diag_address_hint(const char *address, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	struct in6_addr a6;
	struct in_addr a4;
	size_t n = strlen(address);
	if (n >= sizeof tmp)
		return NULL;
	if (address[0] == '[') {
		const char *close = strchr(address, ']');
		size_t inner = close ? (size_t)(close - address - 1) : n - 1;
		snprintf(buf, len, "write an IPv6 address without brackets: address = \"%.*s\"%s",
		         (int)inner, address + 1,
		         close && close[1] == ':' ? " and the port in 'port'" : "");
		return buf;
	}
	const char *colon = strrchr(address, ':');
	if (!colon || !is_port(colon + 1))
		return NULL;
	memcpy(tmp, address, (size_t)(colon - address));
	tmp[colon - address] = '\0';
	bool v4 = inet_pton(AF_INET, tmp, &a4) == 1;
	bool v6 =
	    strchr(tmp, ':') && inet_pton(AF_INET6, tmp, &a6) == 1 && strstr(address, "::") != NULL;
	bool host = !strchr(tmp, ':') && tmp[0] &&
	            strspn(tmp, "abcdefghijklmnopqrstuvwxyz"
	                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == strlen(tmp);
	if (!v4 && !v6 && !host)
		return NULL;
	snprintf(buf, len,
	         "'address' takes the host only: if you meant host %s port %s, write "
	         "address = \"%s\"; port = %s;",
	         tmp, colon + 1, tmp, colon + 1);
	return buf;
}

const char *diag_bind_hint(int errnum, unsigned port, const char *address, char *buf, size_t len)
{
	char a[256];
	if (address && diag_address_hint(address, a, sizeof a) && errnum == EADDRNOTAVAIL) {
		snprintf(buf, len, "%s", a);
		return buf;
	}
	switch (errnum) {
	case EACCES:
		if (port < 1024) {
			snprintf(buf, len,
			         "ports below 1024 need CAP_NET_BIND_SERVICE: start ksockd as "
			         "root, give it the capability (systemd: "
			         "AmbientCapabilities=CAP_NET_BIND_SERVICE), or use a port of "
			         "1024 or more");
			return buf;
		}
		return NULL;
	case EADDRINUSE:
		snprintf(buf, len,
		         "another socket holds this address and port (ss -ltnup 'sport = :%u' "
		         "shows which process)",
		         port);
		return buf;
	case EADDRNOTAVAIL:
		snprintf(buf, len,
		         "this host has no such address (ip address shows its addresses); "
		         "\"0.0.0.0\" or \"::\" listens on all of them");
		return buf;
	}
	return NULL;
}
