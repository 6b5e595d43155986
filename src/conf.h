/*
 * conf.h: the configuration snapshot.
 *
 * conf_load() parses a libconfig file into a struct conf that is complete and
 * validated, or fails with one "FILE:LINE: message" error. A loaded conf is
 * immutable: the master hands it to a worker generation and builds a new one
 * on reload. conf_free() is the only place a conf is freed.
 */
#ifndef KSOCKD_CONF_H
#define KSOCKD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "acl.h"

struct handler;

enum proto {
	PROTO_TCP, /* plain stream socket */
	PROTO_UDP, /* datagrams, one request each */
	PROTO_TLS, /* stream socket wrapped in TLS */
};

/* Limits settable globally and overridden per listener. */
struct limits {
	unsigned max_line;        /* longest line accepted, bytes, terminator excluded */
	unsigned max_connections; /* open connections per worker */
	double idle_timeout;      /* seconds of silence before a connection is closed */
	unsigned output_buffer;   /* queued reply bytes before reading pauses */
	/* Abuse limits (guard.c, srctab.c); 0 turns one off. */
	unsigned max_connections_per_source; /* open connections per source, all workers */
	double connect_rate;      /* new connections per second per source (token bucket) */
	unsigned connect_burst;   /* bucket size: connections a source may open at once */
	double slow_client_timeout; /* seconds a started line may take to complete */
};

struct listener_conf {
	char *name;                   /* unique, used in logs and socket activation */
	enum proto protocol;          /* transport */
	char *address;                /* as written in the config */
	unsigned port;                /* 1..65535 */
	struct sockaddr_storage addr; /* resolved once at load */
	socklen_t addrlen;            /* length of addr */
	const struct handler *handler; /* line handler serving it */
	struct limits limits;         /* effective limits (global, then overrides) */
	int backlog;                  /* listen(2) backlog */
	bool ipv6_only;               /* IPV6_V6ONLY on v6 sockets */
	struct acl acl;               /* allow/deny prefixes (acl.h), checked at accept */
	int line;                     /* config line, for messages */
};

struct conf {
	char *path;                 /* file it came from */
	unsigned workers;           /* worker processes */
	char *user;                 /* drop to this user when root (NULL: none) */
	char *group;                /* and this group (NULL: the user's) */
	int log_level;              /* LOG_ERR..LOG_DEBUG */
	bool log_syslog;            /* log to syslog instead of stderr */
	char *pid_file;             /* written by the master when set */
	double shutdown_timeout;    /* seconds a draining worker waits for clients */
	struct limits limits;       /* global limits */
	unsigned worker_buffer_limit; /* bytes of connection buffers per worker (0: none) */
	struct listener_conf *listeners; /* listeners, in file order */
	size_t n_listeners;         /* number of listeners */
};

/* Loads and validates path. On error returns NULL and writes "FILE:LINE: why" to err. */
struct conf *conf_load(const char *path, char *err, size_t errlen);
void conf_free(struct conf *conf);
const char *proto_name(enum proto p);
/* Same protocol, address and port: the socket can be kept across a reload. */
bool listener_conf_same_socket(const struct listener_conf *a, const struct listener_conf *b);

#endif
