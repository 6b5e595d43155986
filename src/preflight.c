/*
 * preflight.c: the checks of "ksockd -t" that need the host (see preflight.h).
 *
 * One table row per check, each looking at one listener. Errors are what
 * start would hit (bind refused); warnings are what an operator should know.
 * Must not keep any resource: every socket opened here is closed before the
 * check returns, and nothing is bound to a configured port.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "conf_diag.h"
#include "handlers/handlers.h"
#include "generation.h"
#include "preflight.h"
#include "unixsock.h"

#define CAP_NET_BIND_SERVICE_BIT 10 /* linux/capability.h: CAP_NET_BIND_SERVICE */
#define UNPRIV_PORT_FILE "/proc/sys/net/ipv4/ip_unprivileged_port_start"

enum pf_level {
	PF_WARNING, /* reported; fails -t only with --strict */
	PF_ERROR,   /* start would fail */
};

struct pf {
	const struct conf *conf;
	FILE *out;
	struct preflight_result *r;
	bool cap_bind;         /* this process may bind ports below unpriv_start */
	bool can_bind;         /* this process may create IP sockets at all (see sandboxed()) */
	unsigned unpriv_start; /* lowest port anyone may bind (sysctl) */
};

__attribute__((format(printf, 4, 5))) static void
report(struct pf *pf, enum pf_level level, const struct listener_conf *lc, const char *fmt, ...)
{
	if (level == PF_ERROR)
		pf->r->errors++;
	else
		pf->r->warnings++;
	fprintf(pf->out,
	        "ksockd: %s: %s:%d: listener '%s': ", level == PF_ERROR ? "error" : "warning",
	        lc->file ? lc->file : pf->conf->path, lc->line, lc->name);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(pf->out, fmt, ap);
	va_end(ap);
	fputc('\n', pf->out);
}

/* CapEff of this process has CAP_NET_BIND_SERVICE (root normally has it, a plain user not). */
static bool has_cap_net_bind(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	bool yes = geteuid() == 0;
	if (!f)
		return yes;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "CapEff:", 7) == 0) {
			unsigned long long caps = strtoull(line + 7, NULL, 16);
			yes = (caps >> CAP_NET_BIND_SERVICE_BIT) & 1;
			break;
		}
	fclose(f);
	return yes;
}

static unsigned unprivileged_port_start(void)
{
	FILE *f = fopen(UNPRIV_PORT_FILE, "r");
	unsigned v = 1024;
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 1024;
		fclose(f);
	}
	return v;
}

/*
 * Neither IPv4 nor IPv6 sockets can be created: a sandbox such as systemd's
 * RestrictAddressFamilies=AF_UNIX (ksockd-socket.service, whose ExecStartPre
 * runs -t). Such a ksockd cannot bind anything itself: its sockets come from
 * the service manager, so the bind checks do not apply.
 */
static bool sandboxed(void)
{
	int v4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int v6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool none = v4 < 0 && v6 < 0;
	if (v4 >= 0)
		close(v4);
	if (v6 >= 0)
		close(v6);
	return none;
}

/* A port below the unprivileged limit needs CAP_NET_BIND_SERVICE in the process that binds. */
static void check_port(struct pf *pf, const struct gen_listener *gl)
{
	const struct listener_conf *lc = gl->conf;
	if (proto_is_unix(lc->protocol) || lc->port >= pf->unpriv_start || pf->cap_bind ||
	    !pf->can_bind)
		return;
	char hint[320];
	report(pf, PF_ERROR, lc, "cannot bind %s port %u as uid %u: %s", proto_name(lc->protocol),
	       lc->port, (unsigned)geteuid(),
	       diag_bind_hint(EACCES, lc->port, lc->address, hint, sizeof hint));
}

/* The address must be one of this host's: bind it with port 0 (any free port) and close. */
static void check_address(struct pf *pf, const struct gen_listener *gl)
{
	const struct listener_conf *lc = gl->conf;
	if (!pf->can_bind || proto_is_unix(lc->protocol))
		return;
	struct sockaddr_storage a = gl->addr;
	int type = lc->protocol == PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = 0;
	else if (a.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a)->sin6_port = 0;
	int fd = socket(a.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		report(pf, PF_ERROR, lc, "socket: %s", strerror(errno));
		return;
	}
	int v6only = lc->ipv6_only;
	if (a.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
	if (bind(fd, (struct sockaddr *)&a, gl->addrlen) < 0) {
		int e = errno;
		char hint[320];
		const char *h = diag_bind_hint(e, lc->port, lc->address, hint, sizeof hint);
		report(pf, PF_ERROR, lc, "address '%s' cannot be bound: %s%s%s", lc->address,
		       strerror(e), h ? "; " : "", h ? h : "");
	}
	close(fd);
}

static bool is_wildcard(const struct gen_listener *gl)
{
	if (gl->addr.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&gl->addr)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	if (gl->addr.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)&gl->addr)->sin6_addr, &in6addr_any,
		              sizeof in6addr_any) == 0;
	return false;
}

/* Counters tell an outsider about traffic and peers: keep them off the public side. */
static void check_exposed_counters(struct pf *pf, const struct gen_listener *gl)
{
	const struct listener_conf *lc = gl->conf;
	if (lc->handler != &handler_stats && lc->handler != &handler_metrics)
		return;
	if (!is_wildcard(gl) || lc->acl.has_allow)
		return;
	report(pf, PF_WARNING, lc,
	       "handler %s on the wildcard address '%s' answers every network; bind it to "
	       "127.0.0.1 (or a management address), or set allow = [\"10.0.0.0/8\", ...]",
	       lc->handler->name, lc->address);
}

/* A private key must be readable by ksockd alone. */
static void check_keys(struct pf *pf, const struct gen_listener *gl)
{
	const struct listener_conf *lc = gl->conf;
	for (size_t i = 0; lc->protocol == PROTO_TLS && i < lc->tls.n_keys; i++) {
		struct stat st;
		if (stat(lc->tls.keys[i], &st) < 0 || !(st.st_mode & S_IROTH))
			continue;
		report(pf, PF_WARNING, lc,
		       "private key %s is readable by every user (mode %04o); chmod 600 %s (or 640 "
		       "with group ksockd)",
		       lc->tls.keys[i], (unsigned)(st.st_mode & 07777), lc->tls.keys[i]);
	}
}

/* A unix listener's directory must exist and let the master (which binds) create the file;
   what is at the path must be a socket (a stale one is replaced at start). */
static void check_unix(struct pf *pf, const struct gen_listener *gl)
{
	const struct listener_conf *lc = gl->conf;
	if (!proto_is_unix(lc->protocol))
		return;
	const char *path = lc->un.path, *slash = strrchr(path, '/');
	char dir[sizeof((struct sockaddr_un *)0)->sun_path];
	snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		report(pf, PF_ERROR, lc,
		       "directory %s of 'path' %s: %s; create it (e.g. "
		       "RuntimeDirectory= in the unit, or install -d)",
		       dir, path,
		       errno && !S_ISDIR(st.st_mode) ? strerror(errno) : "not a directory");
	else if (access(dir, W_OK | X_OK) < 0)
		report(pf, PF_ERROR, lc,
		       "directory %s of 'path' %s is not writable by uid %u, "
		       "which binds the socket: %s",
		       dir, path, (unsigned)geteuid(), strerror(errno));
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		report(pf, PF_ERROR, lc, "%s exists and is not a socket: ksockd will not remove it",
		       path);
	if (lc->un.owner && geteuid() != 0 && gl->un && gl->un->owner != geteuid())
		report(pf, PF_ERROR, lc,
		       "'owner' %s needs root: this process (uid %u) cannot "
		       "chown %s",
		       lc->un.owner, (unsigned)geteuid(), path);
}

static void (*const checks[])(struct pf *, const struct gen_listener *) = {
    check_unix, check_port, check_address, check_exposed_counters, check_keys,
};

void preflight_run(const struct generation *g, FILE *out, struct preflight_result *r)
{
	struct pf pf = {
	    g->conf, out, r, has_cap_net_bind(), !sandboxed(), unprivileged_port_start()};
	r->errors = r->warnings = 0;
	for (size_t i = 0; i < g->n_listeners; i++)
		for (size_t c = 0; c < sizeof checks / sizeof checks[0]; c++)
			checks[c](&pf, &g->listeners[i]);
}
