/*
 * prefix.c: parses address prefixes, matches addresses against them and
 * keys sources, all under the one rule of prefix.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "prefix.h"

bool addr_is_v4mapped(const uint8_t a[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, mapped, sizeof mapped) == 0;
}

size_t addr_bytes(const struct sockaddr *sa, const uint8_t **bytes)
{
	if (sa->sa_family == AF_INET) {
		*bytes = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return 4;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	if (addr_is_v4mapped(a)) {
		*bytes = a + 12;
		return 4;
	}
	*bytes = a;
	return 16;
}

/* The prefix length after '/'; -1 if it is not a number in [0, max]. */
static int prefix_parse_len(const char *s, int max)
{
	if (*s < '0' || *s > '9' || strlen(s) > 3)
		return -1;
	char *end;
	long v = strtol(s, &end, 10);
	return *end || v > max ? -1 : (int)v;
}

int prefix_parse(const char *text, struct prefix *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t hl = slash ? (size_t)(slash - text) : strlen(text);
	memset(out, 0, sizeof *out);
	if (hl == 0 || hl >= sizeof host) {
		snprintf(err, errlen, "'%s' is not an address or prefix (ADDR or ADDR/LEN)", text);
		return -1;
	}
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->v6 = 0;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->v6 = 1;
	} else {
		snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", host);
		return -1;
	}
	int bits = out->v6 ? 128 : 32;
	int len = slash ? prefix_parse_len(slash + 1, bits) : bits;
	if (len < 0) {
		snprintf(err, errlen, "'%s': prefix length must be 0..%d", text, bits);
		return -1;
	}
	for (int b = len; b < bits; b++)
		if (out->addr[b / 8] & (0x80 >> (b % 8))) {
			snprintf(err, errlen, "'%s' has bits set after the /%d prefix", text, len);
			return -1;
		}
	out->len = (uint8_t)len;
	if (out->v6 && len >= 96 && addr_is_v4mapped(out->addr)) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->v6 = 0;
		out->len = (uint8_t)(len - 96);
	}
	return 0;
}

bool prefix_match(const struct prefix *p, const struct sockaddr *sa)
{
	const uint8_t *a;
	size_t n = addr_bytes(sa, &a);
	if (n == 0 || (n == 16) != (p->v6 == 1))
		return false;
	size_t full = p->len / 8;
	unsigned rest = p->len % 8;
	if (memcmp(p->addr, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (p->addr[full] & mask) == (a[full] & mask);
}

bool prefix_list_match(const struct prefix *list, size_t n, const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_match(&list[i], sa))
			return true;
	return false;
}

bool source_key_of(const struct sockaddr *sa, struct source_key *key)
{
	const uint8_t *a;
	memset(key, 0, sizeof *key);
	if (sa->sa_family == AF_UNIX) { /* a unix peer (addr.h): its uid is the source */
		const struct sockaddr_cred *c = (const struct sockaddr_cred *)sa;
		key->b[0] = 'u';
		memcpy(key->b + 1, &c->cred.uid, sizeof c->cred.uid);
		return true;
	}
	size_t n = addr_bytes(sa, &a);
	if (n == 0)
		return false;
	key->b[0] = n == 4 ? 4 : 6;
	memcpy(key->b + 1, a, n == 4 ? 4 : 8); /* IPv6: the /64 */
	return true;
}
