/*
 * cidr.c: parses CIDR ranges and matches addresses against them (used by
 * proxy_trusted). An IPv4-mapped IPv6 client (::ffff:192.0.2.1) matches IPv4
 * ranges, as it is the same client on a dual-stack socket.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

int cidr_parse(const char *text, struct cidr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t hl = slash ? (size_t)(slash - text) : strlen(text);
	if (hl == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, text, hl);
	host[hl] = '\0';
	memset(out, 0, sizeof *out);
	unsigned max;
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	out->bits = max;
	if (slash) {
		const char *b = slash + 1;
		char *end;
		if (*b < '0' || *b > '9')
			return -1;
		unsigned long v = strtoul(b, &end, 10);
		if (*end != '\0' || v > max)
			return -1;
		out->bits = (unsigned)v;
	}
	for (unsigned i = out->bits; i < max; i++)
		out->addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	return 0;
}

static bool cidr_bits_equal(const uint8_t *a, const uint8_t *net, unsigned bits)
{
	for (unsigned i = 0; i < bits / 8; i++)
		if (a[i] != net[i])
			return false;
	if (bits % 8 == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff00u >> (bits % 8));
	return (a[bits / 8] & mask) == net[bits / 8];
}

bool cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *a;
	int fam = sa->sa_family;
	if (fam == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (fam == AF_INET6) {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (c->family == AF_INET && memcmp(a, mapped, sizeof mapped) == 0) {
			a += 12;
			fam = AF_INET;
		}
	} else {
		return false;
	}
	return fam == c->family && cidr_bits_equal(a, c->addr, c->bits);
}

bool cidr_list_match(const struct cidr *list, size_t n, const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_match(&list[i], sa))
			return true;
	return false;
}
