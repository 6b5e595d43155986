/*
 * conf.h: the configuration snapshot.
 *
 * conf_load() parses a libconfig file into a struct conf that is complete and
 * validated, or fails with one "FILE:LINE: message" error. A conf is plain
 * data, a description: parsing opens no file but the config itself, resolves
 * no name, loads no credential. What it describes is prepared by
 * generation_prepare() (generation.h), whose errors name FILE:LINE from the
 * line numbers kept here. A loaded conf is never written again; conf_free()
 * is the only place one is freed.
 */
#ifndef KSOCKD_CONF_H
#define KSOCKD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "prefix.h"
#include "proxy.h"
#include "acl.h"
#include "exec_conf.h"

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
	/* UDP listeners (udp.c) */
	unsigned max_datagram;        /* largest request (and reply) datagram, bytes */
	unsigned udp_rate;            /* datagrams/s per source and worker, 0: no limit */
	unsigned udp_burst;           /* token bucket depth per source */
	unsigned udp_sources;         /* sources remembered by the rate limiter, per worker */
	unsigned udp_max_reply_ratio; /* a reply is at most this times its request */
	unsigned udp_rcvbuf;          /* SO_RCVBUF asked for, bytes (0: system default) */
	/* Abuse limits (guard.c, srctab.c); 0 turns one off. */
	unsigned max_connections_per_source; /* open connections per source, all workers */
	double connect_rate;        /* new connections per second per source (token bucket) */
	unsigned connect_burst;     /* bucket size: connections a source may open at once */
	double slow_client_timeout; /* seconds a started line may take to complete */
};

/* TLS: who must show a client certificate. */
enum verify_client {
	VERIFY_NONE,     /* no certificate requested */
	VERIFY_OPTIONAL, /* requested; if sent, it must verify against client_ca */
	VERIFY_REQUIRE,  /* required and verified against client_ca */
};

/* Settings of a "tls" listener; paths are absolute (made so against the config's directory). */
struct tls_conf {
	char **certificates; /* PEM certificate (chain) files; the first is the default */
	char **keys;         /* PEM private key of each certificate, same order */
	size_t n_certs;      /* pairs in certificates/keys */
	size_t n_keys;       /* entries in keys (must equal n_certs) */
	char *priority;      /* GnuTLS priority string; NULL: TLS_DEFAULT_PRIORITY */
	char *client_ca;     /* PEM CA file for client certificates; NULL: none */
	enum verify_client verify_client; /* client certificate policy */
	char **alpn;                      /* ALPN protocols, server preference order */
	size_t n_alpn;                    /* entries in alpn */
	double handshake_timeout;         /* seconds a client may take to finish the handshake */
	double ticket_lifetime; /* seconds a session ticket is valid (key rotation period) */
};

struct listener_conf {
	char *name;                    /* unique, used in logs and socket activation */
	enum proto protocol;           /* transport */
	char *address;                 /* as written in the config (resolved by generation.c) */
	unsigned port;                 /* 1..65535 */
	const struct handler *handler; /* line handler serving it */
	struct limits limits;          /* effective limits (global, then overrides) */
	int backlog;                   /* listen(2) backlog */
	bool ipv6_only;                /* IPV6_V6ONLY on v6 sockets */
	/* Load balancer: PROXY protocol and SO_REUSEPORT (conn.c, gensock.c). */
	enum proxy_mode proxy_mode;   /* PROXY header expected on each connection */
	struct prefix *proxy_trusted; /* sources allowed to send a header (prefix.h) */
	size_t n_proxy_trusted;       /* entries in proxy_trusted */
	double proxy_timeout;         /* seconds to wait for the header */
	bool reuseport;               /* one SO_REUSEPORT socket per worker slot */
	struct acl acl;               /* allow/deny prefixes (acl.h), checked at accept */
	int line;                     /* config line of the listener's group, for messages */
	char *file;       /* config file it was written in (an @include or the main one) */
	int address_line; /* line of 'address' (resolution errors) */
	int qotd_line;    /* line of 'qotd_file' (read errors) */
	/* Observability and inetd services */
	char *qotd_file;       /* qotd: file of quotes (fortune format), NULL otherwise */
	char *access_log;      /* NULL (off), "journal" or an absolute file path */
	struct tls_conf tls;   /* TLS settings (protocol "tls" only) */
	struct exec_conf exec; /* handler "exec" settings (conf_exec.c) */
};

struct conf {
	char *path;                   /* file it came from */
	unsigned workers;             /* worker processes */
	char *user;                   /* drop to this user when root (NULL: none) */
	char *group;                  /* and this group (NULL: the user's) */
	int log_level;                /* LOG_ERR..LOG_DEBUG */
	bool log_syslog;              /* log to syslog instead of stderr */
	char *pid_file;               /* written by the master when set */
	double shutdown_timeout;      /* seconds a draining worker waits for clients */
	double drain_delay;           /* seconds health answers "draining" before SIGTERM stops */
	struct limits limits;         /* global limits */
	unsigned worker_buffer_limit; /* bytes of connection buffers per worker (0: none) */
	struct listener_conf *listeners; /* listeners, in file order */
	size_t n_listeners;              /* number of listeners */
	char **plugins;                  /* plug-in files loaded for this config (paths resolved) */
	size_t n_plugins;                /* number of plugins */
};

/* How a setting of conf.c's table is stored, for printing it back (conf_dump.c). */
enum conf_value {
	CONF_VAL_UINT,    /* unsigned */
	CONF_VAL_INT,     /* int */
	CONF_VAL_DOUBLE,  /* double */
	CONF_VAL_STRING,  /* char *, NULL: unset */
	CONF_VAL_BOOL,    /* bool */
	CONF_VAL_SPECIAL, /* its own type: the caller formats it by name */
};
/*
 * Calls fn for each setting of the table that may appear at the top level
 * (lc NULL: its value in conf) or in a listener (its value in lc), in table
 * order; field points at the stored value. "listeners" is not passed.
 */
typedef void conf_setting_fn(void *ctx, const char *name, enum conf_value type, const void *field);
void conf_each_setting(const struct conf *conf, const struct listener_conf *lc, conf_setting_fn *fn,
                       void *ctx);

/* Loads and validates path. On error returns NULL and writes "FILE:LINE: why" to err. */
struct conf *conf_load(const char *path, char *err, size_t errlen);
void conf_free(struct conf *conf);
const char *proto_name(enum proto p);

#endif
