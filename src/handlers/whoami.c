/*
 * handlers/whoami.c: tells the client what the server sees of it, for
 * pointing at a balancer or a firewall. On connect, and again for every line
 * received, it sends one key=value line per fact, then an empty line:
 *
 *   listener=NAME        the listener's name
 *   peer=ADDR            the socket's peer (the balancer when proxied)
 *   local=ADDR           the socket's local address
 *   client=ADDR          the client ksockd serves (the PROXY source, else peer)
 *   proxy=none|v1|v2     PROXY header received
 *   proxy_local=1        v2 LOCAL / v1 UNKNOWN: no client address in it
 *   proxy_src=, proxy_dst=         addresses in the header
 *   proxy_tlvs=N, proxy_alpn=, proxy_authority=, proxy_unique_id=,
 *   proxy_ssl=1, proxy_ssl_client=, proxy_ssl_verify=, proxy_ssl_version=,
 *   proxy_ssl_cipher=, proxy_ssl_cn=   v2 TLVs, when present
 *   local=PATH           unix listeners: the socket file
 *   peer_uid=, peer_gid=, peer_pid=   unix listeners: the peer's credentials
 *   tls_version=, tls_cipher=, tls_sni=, tls_alpn=, tls_client_subject=
 *                        when the session is TLS (filled by the TLS transport)
 *
 * The text is built once at open (the session facts do not change) and kept
 * in the state; close frees it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "../addr.h"
#include "../proxy.h"
#include "handlers.h"

#define WHOAMI_MAX 4096 /* longest report; every value is bounded well below */

struct whoami {
	char *text; /* the report, NUL-terminated */
	size_t len; /* its length */
};

struct report {
	char buf[WHOAMI_MAX]; /* text so far */
	size_t len;           /* used */
};

__attribute__((format(printf, 2, 3))) static void add(struct report *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(r->buf + r->len, sizeof r->buf - r->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len +=
		    (size_t)n < sizeof r->buf - r->len ? (size_t)n : sizeof r->buf - r->len - 1;
}

static void add_str(struct report *r, const char *key, const char *v)
{
	if (v && v[0])
		add(r, "%s=%s\n", key, v);
}

static void add_addr(struct report *r, const char *key, const struct sockaddr *sa)
{
	char a[ADDR_STRLEN];
	if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
		add(r, "%s=%s\n", key, addr_format(sa, a));
}

/* A unix listener: its path, and who the peer is (SO_PEERCRED or SCM_CREDENTIALS). */
static void add_unix(struct report *r, const struct session_info *si)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)si->local;
	if (sun && sun->sun_family == AF_UNIX && sun->sun_path[0])
		add(r, "local=%.*s\n", (int)sizeof sun->sun_path, sun->sun_path);
	if (si->cred)
		add(r, "peer_uid=%lu\npeer_gid=%lu\npeer_pid=%ld\n", (unsigned long)si->cred->uid,
		    (unsigned long)si->cred->gid, (long)si->cred->pid);
}

static void add_proxy(struct report *r, const struct proxy_info *p)
{
	if (!p) {
		add(r, "proxy=none\n");
		return;
	}
	add(r, "proxy=v%d\n", p->version);
	if (p->local)
		add(r, "proxy_local=1\n");
	else {
		add_addr(r, "proxy_src", (const struct sockaddr *)&p->src);
		add_addr(r, "proxy_dst", (const struct sockaddr *)&p->dst);
	}
	if (p->n_tlvs)
		add(r, "proxy_tlvs=%u\n", p->n_tlvs);
	add_str(r, "proxy_alpn", p->alpn);
	add_str(r, "proxy_authority", p->authority);
	add_str(r, "proxy_unique_id", p->unique_id);
	if (p->ssl)
		add(r, "proxy_ssl=1\nproxy_ssl_client=%u\nproxy_ssl_verify=%lu\n", p->ssl_client,
		    (unsigned long)p->ssl_verify);
	add_str(r, "proxy_ssl_version", p->ssl_version);
	add_str(r, "proxy_ssl_cipher", p->ssl_cipher);
	add_str(r, "proxy_ssl_cn", p->ssl_cn);
}

static enum handler_result whoami_send(struct whoami *st, struct outbuf *out)
{
	if (outbuf_append(out, st->text, st->len) < 0)
		return HANDLER_CLOSE;
	return HANDLER_OK;
}

static enum handler_result whoami_open(void *state, const struct session_info *si,
                                       struct outbuf *out)
{
	struct whoami *st = state;
	struct report *r = malloc(sizeof *r);
	if (!r)
		return HANDLER_CLOSE;
	r->len = 0;
	r->buf[0] = '\0';
	add_str(r, "listener", si->listener);
	add_addr(r, "peer", si->sock_peer ? si->sock_peer : si->peer);
	add_addr(r, "local", si->local);
	add_addr(r, "client", si->peer);
	add_unix(r, si);
	add_proxy(r, si->proxy);
	if (si->tls) {
		add_str(r, "tls_version", si->tls->version);
		add_str(r, "tls_cipher", si->tls->cipher);
		add_str(r, "tls_sni", si->tls->server_name);
		add_str(r, "tls_alpn", si->tls->alpn);
		add_str(r, "tls_client_subject", si->tls->client_subject);
		if (si->tls->resumed)
			add_str(r, "tls_resumed", "yes");
	}
	add(r, "\n");
	st->text = malloc(r->len + 1);
	if (!st->text) {
		free(r);
		return HANDLER_CLOSE;
	}
	memcpy(st->text, r->buf, r->len + 1);
	st->len = r->len;
	free(r);
	if (si->datagram)
		return HANDLER_OK;
	return whoami_send(st, out);
}

static enum handler_result whoami_line(void *state, const struct line *line, struct outbuf *out)
{
	(void)line;
	return whoami_send(state, out);
}

static void whoami_close(void *state)
{
	struct whoami *st = state;
	free(st->text);
	st->text = NULL;
}

const struct handler handler_whoami = {
    .name = "whoami",
    .state_size = sizeof(struct whoami),
    .open = whoami_open,
    .line = whoami_line,
    .close = whoami_close,
};
