/*
 * proxy.c: parses PROXY protocol v1 and v2 headers (haproxy.org's
 * proxy-protocol.txt), incrementally and within fixed bounds.
 *
 * Pure: reads only the bytes it is given and writes only *info, *header_len
 * and *why. Never reads past len, never accepts more than PROXY_V1_MAX bytes
 * of v1 or 16 + PROXY_V2_MAX_PAYLOAD bytes of v2.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[] = "PROXY ";

/* v2 TLV types (proxy-protocol.txt section 2.2). */
enum {
	PP2_TYPE_ALPN = 0x01,
	PP2_TYPE_AUTHORITY = 0x02,
	PP2_TYPE_UNIQUE_ID = 0x05,
	PP2_TYPE_SSL = 0x20,
	PP2_SUBTYPE_SSL_VERSION = 0x21,
	PP2_SUBTYPE_SSL_CN = 0x22,
	PP2_SUBTYPE_SSL_CIPHER = 0x23,
};

int proxy_mode_from_name(const char *name)
{
	static const char *const names[] = {"off", "v1", "v2", "any", "optional"};
	for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *proxy_mode_name(enum proxy_mode mode)
{
	switch (mode) {
	case PROXY_OFF: return "off";
	case PROXY_V1: return "v1";
	case PROXY_V2: return "v2";
	case PROXY_ANY: return "any";
	case PROXY_OPTIONAL: return "optional";
	}
	return "?";
}

/* Copies a TLV value as text: printable ASCII kept, the rest as \xHH, truncated. */
static void proxy_copy_text(char *dst, const uint8_t *src, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 5 < PROXY_TLV_STRLEN; i++) {
		if (src[i] > 0x20 && src[i] < 0x7f && src[i] != '\\')
			dst[o++] = (char)src[i];
		else
			o += (size_t)snprintf(dst + o, 5, "\\x%02x", src[i]);
	}
	dst[o] = '\0';
}

/* ---- v1: "PROXY TCP4 1.2.3.4 5.6.7.8 111 222\r\n" ---- */

static bool proxy_v1_port(const char *s, uint16_t *port)
{
	size_t n = strlen(s);
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = htons((uint16_t)v);
	return true;
}

static bool proxy_v1_addr(int family, const char *host, const char *port,
                          struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		return inet_pton(AF_INET, host, &in->sin_addr) == 1 &&
		       proxy_v1_port(port, &in->sin_port);
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 &&
	       proxy_v1_port(port, &in6->sin6_port);
}

/* line is the header without CRLF, NUL-terminated, already checked printable. */
static enum proxy_status proxy_v1_fields(char *line, struct proxy_info *info, const char **why)
{
	char *f[7];
	int n = 0;
	char *p = line;
	/* Fields are separated by exactly one space. */
	while (n < 7) {
		f[n++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p++ = '\0';
	}
	info->version = 1;
	if (n >= 2 && strcmp(f[1], "UNKNOWN") == 0) {
		info->local = true;
		return PROXY_DONE;
	}
	int family = n >= 2 && strcmp(f[1], "TCP4") == 0   ? AF_INET
	             : n >= 2 && strcmp(f[1], "TCP6") == 0 ? AF_INET6
	                                                   : 0;
	if (!family) {
		*why = "v1: unknown protocol (TCP4, TCP6, UNKNOWN)";
		return PROXY_ERROR;
	}
	if (n != 6 || p) {
		*why = "v1: wrong number of fields";
		return PROXY_ERROR;
	}
	if (!proxy_v1_addr(family, f[2], f[4], &info->src) ||
	    !proxy_v1_addr(family, f[3], f[5], &info->dst)) {
		*why = "v1: bad address or port";
		return PROXY_ERROR;
	}
	return PROXY_DONE;
}

static enum proxy_status proxy_v1(const uint8_t *buf, size_t len, struct proxy_info *info,
                                  size_t *header_len, const char **why)
{
	size_t lim = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	for (size_t i = 0; i < lim; i++) {
		if (buf[i] == '\r') {
			if (i + 2 > PROXY_V1_MAX)
				break; /* CRLF would end past 107 bytes */
			if (i + 1 == len)
				return PROXY_MORE;
			if (buf[i + 1] != '\n') {
				*why = "v1: CR not followed by LF";
				return PROXY_ERROR;
			}
			char line[PROXY_V1_MAX];
			memcpy(line, buf, i);
			line[i] = '\0';
			*header_len = i + 2;
			return proxy_v1_fields(line, info, why);
		}
		if (buf[i] < 0x20 || buf[i] > 0x7e) {
			*why = "v1: garbled header line";
			return PROXY_ERROR;
		}
	}
	if (len < PROXY_V1_MAX)
		return PROXY_MORE;
	*why = "v1: no CRLF within 107 bytes";
	return PROXY_ERROR;
}

/* ---- v2: 12-byte signature, ver/cmd, family, length, addresses, TLVs ---- */

static bool proxy_v2_ssl(const uint8_t *v, size_t len, struct proxy_info *info)
{
	if (len < 5)
		return false;
	info->ssl = true;
	info->ssl_client = v[0];
	info->ssl_verify = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4];
	for (size_t o = 5; o < len;) {
		if (len - o < 3)
			return false;
		size_t l = (size_t)v[o + 1] << 8 | v[o + 2];
		if (len - o - 3 < l)
			return false;
		const uint8_t *val = v + o + 3;
		if (v[o] == PP2_SUBTYPE_SSL_VERSION)
			proxy_copy_text(info->ssl_version, val, l);
		else if (v[o] == PP2_SUBTYPE_SSL_CIPHER)
			proxy_copy_text(info->ssl_cipher, val, l);
		else if (v[o] == PP2_SUBTYPE_SSL_CN)
			proxy_copy_text(info->ssl_cn, val, l);
		o += 3 + l;
	}
	return true;
}

static bool proxy_v2_tlvs(const uint8_t *p, size_t len, struct proxy_info *info)
{
	for (size_t o = 0; o < len;) {
		if (len - o < 3)
			return false;
		size_t l = (size_t)p[o + 1] << 8 | p[o + 2];
		if (len - o - 3 < l)
			return false;
		const uint8_t *val = p + o + 3;
		info->n_tlvs++;
		switch (p[o]) {
		case PP2_TYPE_ALPN: proxy_copy_text(info->alpn, val, l); break;
		case PP2_TYPE_AUTHORITY: proxy_copy_text(info->authority, val, l); break;
		case PP2_TYPE_UNIQUE_ID: proxy_copy_text(info->unique_id, val, l); break;
		case PP2_TYPE_SSL:
			if (!proxy_v2_ssl(val, l, info))
				return false;
			break;
		default: break; /* CRC32C, NOOP, NETNS, custom: ignored */
		}
		o += 3 + l;
	}
	return true;
}

static enum proxy_status proxy_v2(const uint8_t *buf, size_t len, struct proxy_info *info,
                                  size_t *header_len, const char **why)
{
	if (len < 16)
		return PROXY_MORE;
	uint8_t ver = buf[12] >> 4, cmd = buf[12] & 0x0f, fam = buf[13] >> 4, tr = buf[13] & 0x0f;
	size_t plen = (size_t)buf[14] << 8 | buf[15];
	if (ver != 2 || cmd > 1) {
		*why = "v2: bad version or command";
		return PROXY_ERROR;
	}
	if (fam > 3 || tr > 2) {
		*why = "v2: bad address family or transport";
		return PROXY_ERROR;
	}
	if (plen > PROXY_V2_MAX_PAYLOAD) {
		*why = "v2: header longer than ksockd accepts";
		return PROXY_ERROR;
	}
	if (len < 16 + plen)
		return PROXY_MORE;
	const uint8_t *p = buf + 16;
	size_t alen = fam == 1 ? 12 : fam == 2 ? 36 : fam == 3 ? 216 : 0;
	info->version = 2;
	*header_len = 16 + plen;
	if (cmd == 0) { /* LOCAL: the proxy's own connection (health checks) */
		info->local = true;
		return PROXY_DONE;
	}
	if (plen < alen) {
		*why = "v2: address block truncated";
		return PROXY_ERROR;
	}
	if (fam == 1 && tr != 0) {
		struct sockaddr_in *s = (struct sockaddr_in *)&info->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&info->dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, p, 4);
		memcpy(&d->sin_addr, p + 4, 4);
		memcpy(&s->sin_port, p + 8, 2);
		memcpy(&d->sin_port, p + 10, 2);
	} else if (fam == 2 && tr != 0) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&info->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&info->dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, p, 16);
		memcpy(&d->sin6_addr, p + 16, 16);
		memcpy(&s->sin6_port, p + 32, 2);
		memcpy(&d->sin6_port, p + 34, 2);
	} else {
		info->local = true; /* UNSPEC or AF_UNIX: keep the socket's addresses */
	}
	if (!proxy_v2_tlvs(p + alen, plen - alen, info)) {
		*why = "v2: malformed TLV";
		return PROXY_ERROR;
	}
	return PROXY_DONE;
}

/* How many leading bytes of buf match sig (at most len and siglen). */
static size_t proxy_prefix(const uint8_t *buf, size_t len, const void *sig, size_t siglen)
{
	size_t n = len < siglen ? len : siglen;
	size_t i = 0;
	while (i < n && buf[i] == ((const uint8_t *)sig)[i])
		i++;
	return i;
}

enum proxy_status proxy_parse(const uint8_t *buf, size_t len, enum proxy_mode mode,
                              struct proxy_info *info, size_t *header_len, const char **why)
{
	memset(info, 0, sizeof *info);
	*why = "";
	if (len == 0)
		return mode == PROXY_OFF ? PROXY_NONE : PROXY_MORE;
	if (mode == PROXY_OFF)
		return PROXY_NONE;
	bool v1_ok = mode != PROXY_V2, v2_ok = mode != PROXY_V1;
	size_t m1 = proxy_prefix(buf, len, v1_sig, sizeof v1_sig - 1);
	size_t m2 = proxy_prefix(buf, len, v2_sig, sizeof v2_sig);
	bool is_v1 = m1 == (len < 6 ? len : 6), is_v2 = m2 == (len < 12 ? len : 12);
	if (v2_ok && is_v2)
		return len < 12 ? PROXY_MORE : proxy_v2(buf, len, info, header_len, why);
	if (v1_ok && is_v1)
		return len < 6 ? PROXY_MORE : proxy_v1(buf, len, info, header_len, why);
	if (mode == PROXY_OPTIONAL)
		return PROXY_NONE;
	*why = is_v1   ? "v1 header where only v2 is accepted"
	       : is_v2 ? "v2 header where only v1 is accepted"
	               : "no PROXY header";
	return PROXY_ERROR;
}
