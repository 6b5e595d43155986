/*
 * exec_env.c: builds a program's environment from its listener's exec
 * settings and the session (exec_env.h says which variables and why).
 * Pure: allocates strings, touches nothing else.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "exec_env.h"
#include "handler.h"
#include "proxy.h"

#define EXEC_ENV_MAX_OWN 24 /* variables set by ksockd, at most */

struct envb {
	char **v;   /* vector being built */
	size_t n;   /* entries */
	size_t cap; /* slots (one kept for the NULL) */
	bool oom;   /* an allocation failed */
};

static void envb_put(struct envb *b, const char *name, const char *value)
{
	if (b->oom || b->n + 1 >= b->cap) {
		b->oom = true;
		return;
	}
	size_t nl = strlen(name), vl = strlen(value);
	char *s = malloc(nl + vl + 2);
	if (!s) {
		b->oom = true;
		return;
	}
	memcpy(s, name, nl);
	s[nl] = '=';
	memcpy(s + nl + 1, value, vl + 1);
	b->v[b->n++] = s;
}

/* A value from the network: control characters become '?', cut at EXEC_ENV_VALUE_MAX. */
static void envb_put_safe(struct envb *b, const char *name, const char *value)
{
	char buf[EXEC_ENV_VALUE_MAX + 1];
	size_t i = 0;
	for (; value && value[i] && i < EXEC_ENV_VALUE_MAX; i++) {
		unsigned char ch = (unsigned char)value[i];
		buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	buf[i] = '\0';
	envb_put(b, name, buf);
}

/* NAME_IP and NAME_PORT (prefix "TCPREMOTE" -> TCPREMOTEIP, TCPREMOTEPORT) of sa. */
static void envb_put_addr(struct envb *b, const char *prefix, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN] = "", port[8] = "", name[32];
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(port, sizeof port, "%u", ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(port, sizeof port, "%u", ntohs(in6->sin6_port));
	} else {
		return;
	}
	snprintf(name, sizeof name, "%sIP", prefix);
	envb_put(b, name, ip);
	snprintf(name, sizeof name, "%sPORT", prefix);
	envb_put(b, name, port);
}

static bool env_has(const struct exec_conf *ec, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < ec->n_env; i++)
		if (strncmp(ec->env[i], name, nl) == 0 && ec->env[i][nl] == '=')
			return true;
	return false;
}

char **exec_env_build(const struct exec_conf *ec, const struct session_info *si)
{
	struct envb b = {.cap = ec->n_env + EXEC_ENV_MAX_OWN + 2};
	b.v = calloc(b.cap, sizeof *b.v);
	if (!b.v)
		return NULL;
	if (!env_has(ec, "PATH"))
		envb_put(&b, "PATH", EXEC_ENV_DEFAULT_PATH);
	for (size_t i = 0; i < ec->n_env && !b.oom; i++) {
		char *s = strdup(ec->env[i]);
		if (!s)
			b.oom = true;
		else
			b.v[b.n++] = s;
	}
	bool tls = si->tls != NULL;
	bool proxied = si->proxy && !si->proxy->local;
	const struct sockaddr *local =
	    proxied ? (const struct sockaddr *)&si->proxy->dst : si->local;
	envb_put(&b, "PROTO", tls ? "SSL" : "TCP");
	envb_put_addr(&b, "TCPREMOTE", si->peer);
	envb_put_addr(&b, "TCPLOCAL", local);
	if (tls) {
		envb_put_addr(&b, "SSLREMOTE", si->peer);
		envb_put_addr(&b, "SSLLOCAL", local);
		envb_put_safe(&b, "SSL_PROTOCOL", si->tls->version);
		envb_put_safe(&b, "SSL_CIPHER", si->tls->cipher);
		envb_put_safe(&b, "SSL_SERVER_NAME", si->tls->server_name);
		envb_put_safe(&b, "SSL_ALPN", si->tls->alpn);
		envb_put_safe(&b, "SSL_CLIENT_DN", si->tls->client_subject);
	}
	if (proxied) {
		envb_put_addr(&b, "PROXYREMOTE", si->sock_peer);
		envb_put_addr(&b, "PROXYLOCAL", si->local);
	}
	if (b.oom) {
		exec_env_free(b.v);
		return NULL;
	}
	return b.v;
}

void exec_env_free(char **env)
{
	if (!env)
		return;
	for (char **p = env; *p; p++)
		free(*p);
	free(env);
}

int exec_env_reserved(const char *name, size_t len)
{
	static const char *const own[] = {
	    "PROTO",        "TCPREMOTEIP",    "TCPREMOTEPORT", "TCPLOCALIP",
	    "TCPLOCALPORT", "SSLREMOTEIP",    "SSLREMOTEPORT", "SSLLOCALIP",
	    "SSLLOCALPORT", "SSL_PROTOCOL",   "SSL_CIPHER",    "SSL_SERVER_NAME",
	    "SSL_ALPN",     "SSL_CLIENT_DN",  "PROXYREMOTEIP", "PROXYREMOTEPORT",
	    "PROXYLOCALIP", "PROXYLOCALPORT",
	};
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		if (strlen(own[i]) == len && strncmp(name, own[i], len) == 0)
			return 1;
	return 0;
}
