/*
 * activation.c: matches the sockets passed by the service manager to
 * listeners by name, and checks that each fits its listener's config
 * (stream or datagram, family, address and port, listening state,
 * IPV6_V6ONLY for wildcard addresses). Owns the passed fds; hands out dups.
 * Never binds: a listener without a passed socket is gensock.c's to bind.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "activation.h"
#include "addr.h"
#include "listener.h"
#include "log.h"
#include "notify.h"

void activation_collect(struct activation *a)
{
	char **names = NULL;
	memset(a, 0, sizeof *a);
	int n = notify_listen_fds(&names);
	if (n > 0) {
		a->fds = calloc((size_t)n, sizeof *a->fds);
		a->names = calloc((size_t)n, sizeof *a->names);
		if (!a->fds || !a->names)
			fatal("calloc");
		a->n = (size_t)n;
		for (int i = 0; i < n; i++) {
			a->fds[i] = notify_listen_fds_start() + i;
			a->names[i] = names && names[i] ? names[i] : strdup("unknown");
			if (!a->names[i])
				fatal("strdup");
			log_info(
			    "socket activation: fd %d named '%s' passed by the service manager",
			    a->fds[i], a->names[i]);
		}
	}
	free(names); /* the strings now belong to a->names */
}

void activation_adopt(struct activation *a, size_t n, const int *fds, const char *const *names)
{
	memset(a, 0, sizeof *a);
	a->fds = calloc(n ? n : 1, sizeof *a->fds);
	a->names = calloc(n ? n : 1, sizeof *a->names);
	if (!a->fds || !a->names)
		fatal("calloc");
	a->n = n;
	for (size_t i = 0; i < n; i++) {
		a->fds[i] = fds[i];
		a->names[i] = strdup(names[i]);
		if (!a->names[i])
			fatal("strdup");
	}
}

static bool activation_same_addr(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return false;
	if (x->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)x, *b = (const void *)y;
		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (x->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)x, *b = (const void *)y;
		return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id &&
		       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
	}
	if (x->ss_family == AF_UNIX) {
		const struct sockaddr_un *a = (const void *)x, *b = (const void *)y;
		return strncmp(a->sun_path, b->sun_path, sizeof a->sun_path) == 0;
	}
	return false;
}

#define ACT_ADDR_LEN 112 /* fits ADDR_STRLEN and a sun_path */

/* A bound address as the messages print it: ADDR:PORT, or a unix socket's path. */
static void activation_format(const struct sockaddr_storage *ss, char *buf)
{
	const struct sockaddr_un *sun = (const void *)ss;
	if (ss->ss_family == AF_UNIX)
		snprintf(buf, ACT_ADDR_LEN, "%.*s", (int)sizeof sun->sun_path, sun->sun_path);
	else
		addr_format((const struct sockaddr *)ss, buf);
}

static int activation_getopt(int fd, int level, int name, int *val)
{
	socklen_t len = sizeof *val;
	return getsockopt(fd, level, name, val, &len);
}

/* Checks that passed socket fd can serve lc; 0 if so, else -1 with err set. */
static int activation_check(int fd, const char *fdname, const struct gen_listener *gl, char *err,
                            size_t errlen)
{
	const struct listener_conf *lc = gl->conf;
	int type, listening = 0, v6only = 0;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	char want[ACT_ADDR_LEN], got[ACT_ADDR_LEN];
	int want_type = proto_is_dgram(lc->protocol) ? SOCK_DGRAM : SOCK_STREAM;
	bool un = proto_is_unix(lc->protocol);
	activation_format(&gl->addr, want);
	if (activation_getopt(fd, SOL_SOCKET, SO_TYPE, &type) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		snprintf(err, errlen, "listener '%s': passed fd %d named '%s' is not a socket: %s",
		         lc->name, fd, fdname, strerror(errno));
		return -1;
	}
	if (type != want_type) {
		snprintf(err, errlen,
		         "listener '%s': passed fd %d named '%s' is a %s socket, but the listener "
		         "is %s (needs a %s socket: %s in the .socket unit)",
		         lc->name, fd, fdname, type == SOCK_DGRAM ? "datagram" : "stream",
		         proto_name(lc->protocol), want_type == SOCK_DGRAM ? "datagram" : "stream",
		         want_type == SOCK_DGRAM ? "ListenDatagram=" : "ListenStream=");
		return -1;
	}
	if (un ? ss.ss_family != AF_UNIX : ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
		snprintf(err, errlen,
		         "listener '%s': passed fd %d named '%s' is not %s socket "
		         "(family %d); the config says %s%s",
		         lc->name, fd, fdname, un ? "a unix-domain" : "an IPv4/IPv6", ss.ss_family,
		         want, un ? " (ListenStream=/path or ListenDatagram=/path)" : "");
		return -1;
	}
	activation_format(&ss, got);
	if (!activation_same_addr(&ss, &gl->addr)) {
		snprintf(err, errlen,
		         "listener '%s' (line %d): passed fd %d named '%s' is bound to %s, but the "
		         "config says %s",
		         lc->name, lc->line, fd, fdname, got, want);
		return -1;
	}
	if (type == SOCK_STREAM &&
	    (activation_getopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening) < 0 || !listening)) {
		snprintf(err, errlen,
		         "listener '%s': passed fd %d named '%s' (%s) is not listening", lc->name,
		         fd, fdname, got);
		return -1;
	}
	const struct sockaddr_in6 *in6 = (const void *)&ss;
	if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) &&
	    activation_getopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only) == 0 &&
	    (bool)v6only != lc->ipv6_only) {
		snprintf(err, errlen,
		         "listener '%s': passed fd %d named '%s' (%s) has IPV6_V6ONLY=%d, but the "
		         "config says ipv6_only = %s (BindIPv6Only=%s in the .socket unit)",
		         lc->name, fd, fdname, got, v6only, lc->ipv6_only ? "true" : "false",
		         lc->ipv6_only ? "ipv6-only" : "both");
		return -1;
	}
	return 0;
}

int activation_take(const struct activation *a, const struct gen_listener *gl, int *fd, char *err,
                    size_t errlen)
{
	const struct listener_conf *lc = gl->conf;
	*fd = -1;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->names[i], lc->name) != 0)
			continue;
		if (activation_check(a->fds[i], a->names[i], gl, err, errlen) < 0)
			return -1;
		int fl = fcntl(a->fds[i], F_GETFL);
		if (fl < 0 || fcntl(a->fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
			snprintf(err, errlen,
			         "listener '%s': cannot make passed fd %d non-blocking: %s",
			         lc->name, a->fds[i], strerror(errno));
			return -1;
		}
		*fd = fcntl(a->fds[i], F_DUPFD_CLOEXEC, 0);
		if (*fd < 0) {
			snprintf(err, errlen, "listener '%s': cannot dup passed fd %d: %s",
			         lc->name, a->fds[i], strerror(errno));
			return -1;
		}
		return 1;
	}
	return 0;
}

size_t activation_report_unmatched(const struct activation *a, const struct conf *conf)
{
	size_t unmatched = 0;
	for (size_t i = 0; i < a->n; i++) {
		bool named = false, repeated = false;
		for (size_t j = 0; j < conf->n_listeners && !named; j++)
			named = strcmp(a->names[i], conf->listeners[j].name) == 0;
		for (size_t k = 0; k < i && !repeated;
		     k++) /* same name twice: only the first serves */
			repeated = strcmp(a->names[i], a->names[k]) == 0;
		if (named && !repeated)
			continue;
		unmatched++;
		log_warnx("socket activation: passed fd %d named '%s' %s: not used (kept open)",
		          a->fds[i], a->names[i],
		          named ? "repeats the name of an earlier fd"
		                : "matches no listener in the config");
	}
	return unmatched;
}

void activation_free(struct activation *a)
{
	for (size_t i = 0; i < a->n; i++) {
		close(a->fds[i]);
		free(a->names[i]);
	}
	free(a->fds);
	free(a->names);
	memset(a, 0, sizeof *a);
}
