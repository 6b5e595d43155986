/*
 * acl.c: parses CIDR prefixes and decides whether a peer may be served (see
 * acl.h for the order). Owns the rule array of a struct acl; acl_free() is
 * the one place it is released.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

/* Parses the prefix length after '/'; -1 if it is not a number in [0, max]. */
static int acl_parse_len(const char *s, int max)
{
	if (*s < '0' || *s > '9' || strlen(s) > 3)
		return -1;
	char *end;
	long v = strtol(s, &end, 10);
	return *end || v > max ? -1 : (int)v;
}

int acl_add(struct acl *acl, const char *cidr, bool allow, char *err, size_t errlen)
{
	struct acl_rule r = {.allow = allow};
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(cidr, '/');
	size_t hl = slash ? (size_t)(slash - cidr) : strlen(cidr);
	if (hl == 0 || hl >= sizeof host) {
		snprintf(err, errlen, "'%s' is not an address or prefix (ADDR or ADDR/LEN)", cidr);
		return -1;
	}
	memcpy(host, cidr, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, r.addr) == 1) {
		r.v6 = 0;
	} else if (inet_pton(AF_INET6, host, r.addr) == 1) {
		r.v6 = 1;
	} else {
		snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", host);
		return -1;
	}
	int bits = r.v6 ? 128 : 32;
	int len = slash ? acl_parse_len(slash + 1, bits) : bits;
	if (len < 0) {
		snprintf(err, errlen, "'%s': prefix length must be 0..%d", cidr, bits);
		return -1;
	}
	r.prefix = (uint8_t)len;
	for (int b = len; b < bits; b++)
		if (r.addr[b / 8] & (0x80 >> (b % 8))) {
			snprintf(err, errlen, "'%s' has bits set after the /%d prefix", cidr, len);
			return -1;
		}
	struct acl_rule *rules = realloc(acl->rules, (acl->n + 1) * sizeof *rules);
	if (!rules) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	acl->rules = rules;
	acl->rules[acl->n++] = r;
	acl->has_allow |= allow;
	return 0;
}

static bool acl_match(const struct acl_rule *r, const uint8_t *a)
{
	int full = r->prefix / 8, rest = r->prefix % 8;
	if (memcmp(r->addr, a, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (r->addr[full] & mask) == (a[full] & mask);
}

bool acl_check(const struct acl *acl, const struct sockaddr *peer)
{
	if (acl->n == 0)
		return true;
	const uint8_t *a;
	int v6;
	if (peer->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr;
		v6 = 0;
	} else if (peer->sa_family == AF_INET6) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		a = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr;
		v6 = memcmp(a, mapped, sizeof mapped) != 0;
		if (!v6)
			a += 12;
	} else {
		return !acl->has_allow;
	}
	int best = -1;
	bool verdict = !acl->has_allow;
	for (size_t i = 0; i < acl->n; i++) {
		const struct acl_rule *r = &acl->rules[i];
		if (r->v6 != v6 || !acl_match(r, a))
			continue;
		if (r->prefix > best || (r->prefix == best && !r->allow)) {
			best = r->prefix;
			verdict = r->allow;
		}
	}
	return verdict;
}

void acl_free(struct acl *acl)
{
	free(acl->rules);
	*acl = (struct acl){0};
}
