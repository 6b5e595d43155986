/*
 * conf.c: reads the libconfig file into a validated struct conf.
 *
 * Every setting is declared once in the settings table below (name, type,
 * bounds, where it is stored, where it may appear); the loader walks the file
 * and rejects anything the table does not know, naming the file and line.
 * Must not open sockets, read other files, resolve names, load credentials
 * or touch processes: a conf is plain data (generation.c prepares it). An
 * allocation failure is an error like any other, never an exit: a reload
 * must be able to fail without consequence.
 */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"
#include "conf_diag.h"
#include "handler.h"
#include "handlers/handlers.h"
#include "plugin.h"
#include "log.h"

enum setting_type {
	SET_UINT,    /* non-negative integer within [min, max] */
	SET_SECONDS, /* number (int or float) of seconds within [min, max] */
	SET_NUMBER,  /* number (int or float) within [min, max] */
	SET_STRING,  /* string */
	SET_BOOL,    /* true/false */
	SET_CIDRS,   /* a string or a list of strings: CIDR prefixes for a struct acl */
	SET_SPECIAL, /* parsed by code in this file (protocol, handler, ...) */
};

enum setting_scope {
	IN_GLOBAL = 1,   /* stored in struct conf */
	IN_LISTENER = 2, /* stored in struct listener_conf */
	IN_LIMITS = 4,   /* stored in struct limits: global default, listener override */
};

struct setting {
	const char *name;       /* key in the file */
	enum setting_type type; /* value type */
	unsigned scope;         /* where it may appear and where it is stored */
	size_t offset;          /* offset in the struct named by scope */
	double min, max;        /* bounds for numbers */
};

#define G(f) IN_GLOBAL, offsetof(struct conf, f)
#define L(f) IN_LISTENER, offsetof(struct listener_conf, f)
#define LIM(f) IN_GLOBAL | IN_LISTENER | IN_LIMITS, offsetof(struct limits, f)

static const struct setting settings[] = {
    {"workers", SET_UINT, G(workers), 1, 256},
    {"user", SET_STRING, G(user), 0, 0},
    {"group", SET_STRING, G(group), 0, 0},
    {"log_level", SET_SPECIAL, G(log_level), 0, 0},
    {"log_target", SET_SPECIAL, G(log_syslog), 0, 0},
    {"pid_file", SET_STRING, G(pid_file), 0, 0},
    {"shutdown_timeout", SET_SECONDS, G(shutdown_timeout), 0, 3600},
    {"listeners", SET_SPECIAL, IN_GLOBAL, 0, 0, 0},
    {"plugins", SET_SPECIAL, IN_GLOBAL, 0, 0, 0},
    {"max_line", SET_UINT, LIM(max_line), 1, 16 * 1024 * 1024},
    {"max_connections", SET_UINT, LIM(max_connections), 1, 1000000},
    {"idle_timeout", SET_SECONDS, LIM(idle_timeout), 0, 31 * 86400},
    {"output_buffer", SET_UINT, LIM(output_buffer), 256, 256 * 1024 * 1024},
    /* UDP listeners: reflection and size limits (udp.c, ratelimit.c) */
    {"max_datagram", SET_UINT, LIM(max_datagram), 0, 65507},
    {"udp_rate", SET_UINT, LIM(udp_rate), 0, 10000000},
    {"udp_burst", SET_UINT, LIM(udp_burst), 1, 10000000},
    {"udp_sources", SET_UINT, LIM(udp_sources), 16, 16 * 1024 * 1024},
    {"udp_max_reply_ratio", SET_UINT, LIM(udp_max_reply_ratio), 1, 1000},
    {"udp_rcvbuf", SET_UINT, LIM(udp_rcvbuf), 0, 1024 * 1024 * 1024},
    /* Abuse limits (guard.c, srctab.c). */
    {"max_connections_per_source", SET_UINT, LIM(max_connections_per_source), 0, 65535},
    {"connect_rate", SET_NUMBER, LIM(connect_rate), 0, 1000000},
    {"connect_burst", SET_UINT, LIM(connect_burst), 1, 10000},
    {"slow_client_timeout", SET_SECONDS, LIM(slow_client_timeout), 0, 86400},
    {"worker_buffer_limit", SET_UINT, G(worker_buffer_limit), 0, 4294967295.0},
    {"name", SET_STRING, L(name), 0, 0},
    {"protocol", SET_SPECIAL, L(protocol), 0, 0},
    {"address", SET_STRING, L(address), 0, 0},
    {"port", SET_UINT, L(port), 1, 65535},
    {"handler", SET_SPECIAL, L(handler), 0, 0},
    {"backlog", SET_UINT, L(backlog), 1, 65535},
    {"ipv6_only", SET_BOOL, L(ipv6_only), 0, 0},
    /* Observability and inetd services */
    {"qotd_file", SET_STRING, L(qotd_file), 0, 0},
    {"access_log", SET_STRING, L(access_log), 0, 0},
    /* Load balancer: PROXY protocol, SO_REUSEPORT, drain before stopping. */
    {"proxy_protocol", SET_SPECIAL, L(proxy_mode), 0, 0},
    {"proxy_trusted", SET_SPECIAL, L(proxy_trusted), 0, 0},
    {"proxy_timeout", SET_SECONDS, L(proxy_timeout), 0.001, 3600},
    {"reuseport", SET_BOOL, L(reuseport), 0, 0},
    {"drain_delay", SET_SECONDS, G(drain_delay), 0, 3600},
    /* Access control (acl.c). */
    {"allow", SET_CIDRS, L(acl), 0, 0},
    {"deny", SET_CIDRS, L(acl), 0, 0},
    /* TLS: only in listeners with protocol "tls". */
    {"certificate", SET_SPECIAL, L(tls.certificates), 0, 0},
    {"key", SET_SPECIAL, L(tls.keys), 0, 0},
    {"priority", SET_STRING, L(tls.priority), 0, 0},
    {"client_ca", SET_SPECIAL, L(tls.client_ca), 0, 0},
    {"verify_client", SET_SPECIAL, L(tls.verify_client), 0, 0},
    {"alpn", SET_SPECIAL, L(tls.alpn), 0, 0},
    {"handshake_timeout", SET_SECONDS, L(tls.handshake_timeout), 0.1, 3600},
    {"ticket_lifetime", SET_SECONDS, L(tls.ticket_lifetime), 60, 7 * 86400},
    /* Unix-domain listeners (unixsock.c): the socket file and who may connect. */
    {"path", SET_SPECIAL, L(un.path), 0, 0},
    {"mode", SET_SPECIAL, L(un.mode), 0, 0},
    {"owner", SET_STRING, L(un.owner), 0, 0},
    {"group", SET_STRING, L(un.group), 0, 0},
    {"allow_uid", SET_SPECIAL, L(un.allow_uid), 0, 0},
    {"allow_gid", SET_SPECIAL, L(un.allow_gid), 0, 0},
    {"deny_uid", SET_SPECIAL, L(un.deny_uid), 0, 0},
    /* handler "exec": a program per connection (checked by conf_exec.c). */
    {"exec", SET_SPECIAL, L(exec.argv), 0, 0},
    {"exec_env", SET_SPECIAL, L(exec.env), 0, 0},
    {"exec_user", SET_STRING, L(exec.user), 0, 0},
    {"exec_group", SET_STRING, L(exec.group), 0, 0},
    {"exec_dir", SET_STRING, L(exec.dir), 0, 0},
    {"exec_timeout", SET_SECONDS, L(exec.timeout), 0, 31 * 86400},
    {"max_instances", SET_UINT, L(exec.max_instances), 0, 65535},
    {"exec_max_files", SET_UINT, L(exec.max_files), 0, 1048576},
    {"exec_max_processes", SET_UINT, L(exec.max_procs), 0, 4194304},
    {"exec_max_memory", SET_UINT, L(exec.max_memory_mb), 0, 4194304},
    {"exec_max_cpu", SET_UINT, L(exec.max_cpu), 0, 31 * 86400},
};

/* Settings that only a unix listener may have. */
static const char *const unix_only[] = {"path",      "mode",      "owner",   "group",
                                        "allow_uid", "allow_gid", "deny_uid"};

/* Settings of IP sockets: a unix listener has a path and credentials instead. */
static const char *const inet_only[] = {"address",        "port",          "ipv6_only",
                                        "reuseport",      "allow",         "deny",
                                        "proxy_protocol", "proxy_trusted", "proxy_timeout"};

/* Settings that only a "tls" listener may have. */
static const char *const tls_only[] = {
    "certificate",   "key",  "priority",          "client_ca",
    "verify_client", "alpn", "handshake_timeout", "ticket_lifetime",
};

/* UDP listeners: their settings mean nothing on a stream listener. */
static const char *const udp_only[] = {
    "max_datagram", "udp_rate", "udp_burst", "udp_sources", "udp_max_reply_ratio", "udp_rcvbuf"};

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

/* Error context: the first error wins and names FILE:LINE. */
struct loader {
	const char *path;     /* file being loaded */
	char *err;            /* caller's buffer */
	size_t errlen;        /* its size */
	bool failed;          /* an error was recorded */
	const char *listener; /* name of the listener being loaded, NULL: none */
	const char *dir;      /* directory of path: where relative @include files are */
};

/* The file s was written in, as a path usable from anywhere (includes are relative to dir). */
static const char *source_file(const struct loader *ld, const config_setting_t *s, char *buf,
                               size_t len)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	if (!file || strcmp(file, ld->path) == 0)
		return ld->path;
	if (file[0] == '/' || !ld->dir)
		return file;
	snprintf(buf, len, "%s%s%s", ld->dir, ld->dir[strlen(ld->dir) - 1] == '/' ? "" : "/", file);
	return buf;
}

__attribute__((format(printf, 3, 4))) static void
fail_at(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	if (ld->failed)
		return;
	ld->failed = true;
	char buf[PATH_MAX];
	const char *file = source_file(ld, s, buf, sizeof buf);
	int line = s ? (int)config_setting_source_line(s) : 0;
	int n = line > 0 ? snprintf(ld->err, ld->errlen, "%s:%d: ", file, line)
	                 : snprintf(ld->err, ld->errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= ld->errlen)
		return;
	/* FILE:LINE: listener 'NAME': reason; messages that name the listener themselves
	 * start with "listener '" and get no second prefix. */
	if (ld->listener && strncmp(fmt, "listener '", 10) != 0) {
		int m =
		    snprintf(ld->err + n, ld->errlen - (size_t)n, "listener '%s': ", ld->listener);
		if (m < 0 || (size_t)(n + m) >= ld->errlen)
			return;
		n += m;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* An allocation for setting s failed: the load fails, the process does not. */
static void fail_oom(struct loader *ld, const config_setting_t *s)
{
	fail_at(ld, s, "out of memory while loading the configuration");
}

/* strdup that records an error instead of returning NULL unnoticed. */
static char *loader_strdup(struct loader *ld, const config_setting_t *s, const char *v)
{
	char *d = strdup(v);
	if (!d)
		fail_oom(ld, s);
	return d;
}

const char *proto_name(enum proto p)
{
	switch (p) {
	case PROTO_TCP: return "tcp";
	case PROTO_UDP: return "udp";
	case PROTO_TLS: return "tls";
	case PROTO_UNIX: return "unix";
	case PROTO_UNIXGRAM: return "unixgram";
	}
	return "?";
}

/* "; did you mean 'x'?" or "", in a buffer that lives until the end of the statement. */
#define DID_YOU_MEAN(word, list) diag_did_you_mean(word, list, (char[96]){0}, 96)

/* A hint for an unknown setting: a near name in this scope, or the scope it belongs to. */
static const char *setting_hint(const char *name, unsigned scope, char *buf, size_t len)
{
	struct diag_suggest sg;
	diag_suggest_init(&sg, name);
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		if (settings[i].scope & scope)
			diag_suggest_add(&sg, settings[i].name);
	char best[64];
	if (diag_suggest_best(&sg, best, sizeof best)) {
		snprintf(buf, len, "; did you mean '%s'?", best);
		return buf;
	}
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		if (strcmp(settings[i].name, name) == 0) {
			snprintf(buf, len, "; '%s' belongs %s", name,
			         (settings[i].scope & IN_LISTENER)
			             ? "inside a listener { ... }"
			             : "at the top level, outside listeners");
			return buf;
		}
	buf[0] = '\0';
	return buf;
}

static const struct setting *setting_find(const char *name, unsigned scope)
{
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		if ((settings[i].scope & scope) && strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

static const char *type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_LIST: return "a list";
	case CONFIG_TYPE_ARRAY: return "an array";
	}
	return "a value";
}

static bool get_number(struct loader *ld, const config_setting_t *s, const struct setting *def,
                       double *out)
{
	int t = config_setting_type(s);
	double v;
	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
		v = (double)config_setting_get_int64(s);
	else if (t == CONFIG_TYPE_FLOAT && (def->type == SET_SECONDS || def->type == SET_NUMBER))
		v = config_setting_get_float(s);
	else {
		fail_at(ld, s, "'%s' must be %s, not %s", def->name,
		        def->type == SET_SECONDS  ? "a number of seconds"
		        : def->type == SET_NUMBER ? "a number"
		                                  : "an integer",
		        type_name(t));
		return false;
	}
	if (v < def->min || v > def->max) {
		/* libconfig 1.5 wraps an integer past 2^31-1 written without L into 32 bits. */
		bool wrapped = t == CONFIG_TYPE_INT && def->max > 2147483647.0 && v < 0;
		fail_at(ld, s, "'%s' must be between %.15g and %.15g, not %.15g%s", def->name,
		        def->min, def->max, v,
		        wrapped ? "; an integer above 2147483647 needs an L suffix (4294967295L)"
		                : "");
		return false;
	}
	*out = v;
	return true;
}

static const char *get_string(struct loader *ld, const config_setting_t *s, const char *name)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		fail_at(ld, s, "'%s' must be a string, not %s", name,
		        type_name(config_setting_type(s)));
		return NULL;
	}
	return config_setting_get_string(s);
}

/* proxy_trusted = ["192.0.2.0/24", "::1"]; */
static void set_proxy_trusted(struct loader *ld, const config_setting_t *s,
                              struct listener_conf *lc)
{
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		fail_at(ld, s, "'proxy_trusted' must be a list of addresses or CIDR ranges");
		return;
	}
	int n = config_setting_length(s);
	free(lc->proxy_trusted);
	lc->proxy_trusted = calloc(n > 0 ? (size_t)n : 1, sizeof *lc->proxy_trusted);
	if (!lc->proxy_trusted) {
		fail_oom(ld, s);
		return;
	}
	lc->n_proxy_trusted = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = get_string(ld, e, "proxy_trusted");
		if (!v)
			return;
		char why[256];
		if (prefix_parse(v, &lc->proxy_trusted[i], why, sizeof why) < 0) {
			fail_at(ld, e, "bad address or CIDR range in 'proxy_trusted': %s", why);
			return;
		}
		lc->n_proxy_trusted++;
	}
}

/* v made absolute against the directory of the file s was written in, so that a
   reload after daemon() changed directory to / finds the same file. */
static char *conf_resolve_path(struct loader *ld, const config_setting_t *s, const char *v)
{
	char buf[PATH_MAX];
	const char *file = source_file(ld, s, buf, sizeof buf); /* an @include is relative to dir */
	const char *slash = strrchr(file, '/');
	char *out;
	if (v[0] == '/' || !slash)
		out = strdup(v);
	else if (asprintf(&out, "%.*s/%s", (int)(slash - file), file, v) < 0)
		out = NULL;
	if (!out)
		fail_oom(ld, s);
	return out;
}

/* A string or an array of strings, stored as a NULL-terminated vector. */
static void set_string_list(struct loader *ld, const config_setting_t *s, const char *name,
                            bool paths, char ***vec, size_t *n)
{
	int t = config_setting_type(s);
	bool single = t == CONFIG_TYPE_STRING;
	int count = single ? 1 : config_setting_length(s);
	if (!single && t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		fail_at(ld, s, "'%s' must be a string or a list of strings, not %s", name,
		        type_name(t));
		return;
	}
	if (count == 0) {
		fail_at(ld, s, "'%s' is empty", name);
		return;
	}
	char **v = calloc((size_t)count + 1, sizeof *v);
	if (!v) {
		fail_oom(ld, s);
		return;
	}
	for (int i = 0; i < count && !ld->failed; i++) {
		const config_setting_t *e = single ? s : config_setting_get_elem(s, (unsigned)i);
		const char *str = get_string(ld, e, name);
		if (str && str[0] == '\0')
			fail_at(ld, e, "'%s' has an empty entry", name);
		else if (str)
			v[i] = paths ? conf_resolve_path(ld, e, str) : loader_strdup(ld, e, str);
	}
	for (size_t i = 0; i < *n; i++)
		free((*vec)[i]);
	free(*vec);
	*vec = v;
	*n = (size_t)count;
}

/* The TLS settings of set_special: lists, paths, and verify_client. */
static bool set_tls_special(struct loader *ld, const config_setting_t *s, const char *name,
                            struct tls_conf *tc)
{
	if (strcmp(name, "certificate") == 0)
		set_string_list(ld, s, name, true, &tc->certificates, &tc->n_certs);
	else if (strcmp(name, "key") == 0)
		set_string_list(ld, s, name, true, &tc->keys, &tc->n_keys);
	else if (strcmp(name, "alpn") == 0)
		set_string_list(ld, s, name, false, &tc->alpn, &tc->n_alpn);
	else if (strcmp(name, "client_ca") == 0) {
		const char *v = get_string(ld, s, name);
		if (v) {
			free(tc->client_ca);
			tc->client_ca = conf_resolve_path(ld, s, v);
		}
	} else if (strcmp(name, "verify_client") == 0) {
		const char *v = get_string(ld, s, name);
		if (!v)
			return true;
		if (strcmp(v, "none") == 0)
			tc->verify_client = VERIFY_NONE;
		else if (strcmp(v, "optional") == 0)
			tc->verify_client = VERIFY_OPTIONAL;
		else if (strcmp(v, "require") == 0)
			tc->verify_client = VERIFY_REQUIRE;
		else
			fail_at(ld, s, "unknown verify_client '%s' (none, optional, require)%s", v,
			        DID_YOU_MEAN(v, "none, optional, require"));
	} else
		return false;
	return true;
}

/* A list of ids: numbers or names, kept as text (generation.c resolves the names). */
static void set_id_list(struct loader *ld, const config_setting_t *s, const char *name, char ***vec,
                        size_t *n)
{
	bool one = !config_setting_is_aggregate(s);
	int count = one ? 1 : config_setting_length(s);
	if (count == 0) {
		fail_at(ld, s, "'%s' is empty", name);
		return;
	}
	char **v = calloc((size_t)count + 1, sizeof *v);
	if (!v) {
		fail_oom(ld, s);
		return;
	}
	for (int i = 0; i < count && !ld->failed; i++) {
		const config_setting_t *e = one ? s : config_setting_get_elem(s, (unsigned)i);
		int t = config_setting_type(e);
		long long id = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64
		                   ? config_setting_get_int64(e)
		                   : -1;
		if (t == CONFIG_TYPE_STRING && config_setting_get_string(e)[0])
			v[i] = loader_strdup(ld, e, config_setting_get_string(e));
		else if (id >= 0 && id <= 4294967294LL) {
			if (asprintf(&v[i], "%lld", id) < 0) {
				v[i] = NULL;
				fail_oom(ld, e);
			}
		} else
			fail_at(ld, e,
			        "'%s' takes user or group names or ids (0 to 4294967294), "
			        "not %s",
			        name, type_name(t));
	}
	for (size_t i = 0; i < *n; i++)
		free((*vec)[i]);
	free(*vec);
	*vec = v;
	*n = (size_t)count;
}

/* mode = "0660" (an octal string) or 0660 (an integer written in octal digits). */
static void set_unix_mode(struct loader *ld, const config_setting_t *s, struct unix_conf *uc)
{
	char buf[32];
	const char *v = NULL;
	int t = config_setting_type(s);
	if (t == CONFIG_TYPE_STRING)
		v = config_setting_get_string(s);
	else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
		snprintf(buf, sizeof buf, "%lld", config_setting_get_int64(s));
		v = buf;
	}
	char *end = NULL;
	long m = v && v[0] ? strtol(v, &end, 8) : -1;
	if (!v || !v[0] || *end || m < 0 || m > 0777) {
		fail_at(ld, s,
		        "'mode' must be octal permission bits such as \"0660\" (0 to 0777), "
		        "not %s%s%s",
		        v ? "'" : type_name(t), v ? v : "", v ? "'" : "");
		return;
	}
	uc->mode = (int)m;
}

/* The unix-listener settings of set_special: path, mode and the id lists. */
static bool set_unix_special(struct loader *ld, const config_setting_t *s, const char *name,
                             struct unix_conf *uc)
{
	if (strcmp(name, "path") == 0) {
		const char *v = get_string(ld, s, name);
		if (v && !v[0])
			fail_at(ld, s, "'path' is empty");
		else if (v) {
			free(uc->path);
			uc->path = conf_resolve_path(ld, s, v);
			uc->path_line = (int)config_setting_source_line(s);
		}
	} else if (strcmp(name, "mode") == 0)
		set_unix_mode(ld, s, uc);
	else if (strcmp(name, "allow_uid") == 0)
		set_id_list(ld, s, name, &uc->allow_uid, &uc->n_allow_uid);
	else if (strcmp(name, "allow_gid") == 0)
		set_id_list(ld, s, name, &uc->allow_gid, &uc->n_allow_gid);
	else if (strcmp(name, "deny_uid") == 0)
		set_id_list(ld, s, name, &uc->deny_uid, &uc->n_deny_uid);
	else
		return false;
	return true;
}

/*
 * plugins: loaded now, before the listeners that name their handlers (globals
 * are applied first). Each file's errors name its own entry's line.
 */
static void load_plugins(struct loader *ld, const config_setting_t *s, struct conf *conf)
{
	set_string_list(ld, s, "plugins", true, &conf->plugins, &conf->n_plugins);
	for (size_t i = 0; i < conf->n_plugins && !ld->failed; i++) {
		char why[512];
		const config_setting_t *e = config_setting_type(s) == CONFIG_TYPE_STRING
		                                ? s
		                                : config_setting_get_elem(s, (unsigned)i);
		if (plugin_load(conf->plugins[i], why, sizeof why) < 0)
			fail_at(ld, e, "%s", why);
	}
}

static void set_special(struct loader *ld, const config_setting_t *s, const struct setting *def,
                        void *base)
{
	if (strcmp(def->name, "proxy_trusted") == 0) {
		set_proxy_trusted(ld, s, base);
		return;
	}
	if (strcmp(def->name, "exec") == 0 || strcmp(def->name, "exec_env") == 0) {
		struct exec_conf *ec = &((struct listener_conf *)base)->exec;
		bool argv = def->name[4] == '\0';
		set_string_list(ld, s, def->name, false, argv ? &ec->argv : &ec->env,
		                argv ? &ec->argc : &ec->n_env);
		return;
	}
	if ((def->scope & IN_LISTENER) &&
	    set_tls_special(ld, s, def->name, &((struct listener_conf *)base)->tls))
		return;
	if ((def->scope & IN_LISTENER) &&
	    set_unix_special(ld, s, def->name, &((struct listener_conf *)base)->un))
		return;
	if (strcmp(def->name, "plugins") == 0) {
		load_plugins(ld, s, base);
		return;
	}
	const char *v = get_string(ld, s, def->name);
	if (!v)
		return;
	if (strcmp(def->name, "log_level") == 0) {
		int lvl = log_level_from_name(v);
		if (lvl < 0)
			fail_at(ld, s,
			        "unknown log_level '%s' (debug, info, notice, warning, err)%s", v,
			        DID_YOU_MEAN(v, "debug, info, notice, warning, err"));
		else
			((struct conf *)base)->log_level = lvl;
	} else if (strcmp(def->name, "log_target") == 0) {
		if (strcmp(v, "stderr") == 0)
			((struct conf *)base)->log_syslog = false;
		else if (strcmp(v, "syslog") == 0)
			((struct conf *)base)->log_syslog = true;
		else
			fail_at(ld, s, "unknown log_target '%s' (stderr, syslog)%s", v,
			        DID_YOU_MEAN(v, "stderr, syslog"));
	} else if (strcmp(def->name, "protocol") == 0) {
		struct listener_conf *lc = base;
		if (strcmp(v, "tcp") == 0)
			lc->protocol = PROTO_TCP;
		else if (strcmp(v, "udp") == 0)
			lc->protocol = PROTO_UDP;
		else if (strcmp(v, "tls") == 0)
			lc->protocol = PROTO_TLS;
		else if (strcmp(v, "unix") == 0)
			lc->protocol = PROTO_UNIX;
		else if (strcmp(v, "unixgram") == 0)
			lc->protocol = PROTO_UNIXGRAM;
		else
			fail_at(ld, s, "unknown protocol '%s' (tcp, udp, tls, unix, unixgram)%s", v,
			        DID_YOU_MEAN(v, "tcp, udp, tls, unix, unixgram"));
	} else if (strcmp(def->name, "proxy_protocol") == 0) {
		int mode = proxy_mode_from_name(v);
		if (mode < 0)
			fail_at(ld, s, "unknown proxy_protocol '%s' (off, v1, v2, any, optional)%s",
			        v, DID_YOU_MEAN(v, "off, v1, v2, any, optional"));
		else
			((struct listener_conf *)base)->proxy_mode = (enum proxy_mode)mode;
	} else if (strcmp(def->name, "handler") == 0) {
		struct listener_conf *lc = base;
		lc->handler = handler_find(v);
		if (!lc->handler)
			fail_at(ld, s, "unknown handler '%s' (%s)%s", v, handler_names(),
			        DID_YOU_MEAN(v, handler_names()));
	}
}

/* allow/deny: one prefix as a string, or a list/array of them. */
static void load_cidrs(struct loader *ld, const config_setting_t *s, struct acl *acl, bool allow)
{
	const char *name = config_setting_name(s);
	bool one = config_setting_type(s) == CONFIG_TYPE_STRING;
	if (!one && !config_setting_is_aggregate(s)) {
		fail_at(ld, s, "'%s' must be a string or a list of strings (\"10.0.0.0/8\", ...)",
		        name);
		return;
	}
	int n = one ? 1 : config_setting_length(s);
	for (int i = 0; i < n && !ld->failed; i++) {
		const config_setting_t *e = one ? s : config_setting_get_elem(s, (unsigned)i);
		const char *v = get_string(ld, e, name);
		char why[256];
		if (v && acl_add(acl, v, allow, why, sizeof why) < 0)
			fail_at(ld, e, "'%s': %s", name, why);
	}
}

/* Applies one setting s found in a group of the given scope to base (and limits). */
static void apply_setting(struct loader *ld, const config_setting_t *s, unsigned scope, void *base,
                          struct limits *limits)
{
	const char *name = config_setting_name(s);
	const struct setting *def = setting_find(name, scope);
	if (!def) {
		char hint[128];
		fail_at(ld, s, "unknown setting '%s'%s%s", name,
		        scope == IN_LISTENER ? " in listener" : "",
		        setting_hint(name, scope, hint, sizeof hint));
		return;
	}
	if (def->type == SET_SPECIAL) {
		if (strcmp(name, "listeners") != 0)
			set_special(ld, s, def, base);
		return;
	}
	char *field = (char *)((def->scope & IN_LIMITS) ? (void *)limits : base) + def->offset;
	double num;
	switch (def->type) {
	case SET_UINT:
		if (get_number(ld, s, def, &num)) {
			if (strcmp(name, "backlog") == 0)
				*(int *)field = (int)num;
			else
				*(unsigned *)field = (unsigned)num;
		}
		break;
	case SET_SECONDS:
	case SET_NUMBER:
		if (get_number(ld, s, def, &num))
			*(double *)field = num;
		break;
	case SET_STRING: {
		const char *v = get_string(ld, s, name);
		if (v) {
			free(*(char **)field);
			*(char **)field = loader_strdup(ld, s, v);
		}
		break;
	}
	case SET_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			fail_at(ld, s, "'%s' must be true or false, not %s", name,
			        type_name(config_setting_type(s)));
		else
			*(bool *)field = config_setting_get_bool(s);
		break;
	case SET_CIDRS: load_cidrs(ld, s, (struct acl *)field, strcmp(name, "allow") == 0); break;
	case SET_SPECIAL: break;
	}
}

/* Per-listener settings of the observability and inetd features. */
static void load_listener_extras(struct loader *ld, const config_setting_t *grp,
                                 struct listener_conf *lc)
{
	const config_setting_t *qf = config_setting_get_member(grp, "qotd_file");
	const config_setting_t *al = config_setting_get_member(grp, "access_log");
	if (lc->handler == &handler_qotd && !qf) {
		fail_at(ld, grp, "listener '%s': handler qotd needs 'qotd_file'", lc->name);
		return;
	}
	if (qf && lc->handler != &handler_qotd) {
		fail_at(ld, qf, "'qotd_file' is only for handler qotd");
		return;
	}
	if (qf)
		lc->qotd_line = (int)config_setting_source_line(qf); /* read by generation.c */
	if (al && proto_is_dgram(lc->protocol))
		fail_at(ld, al, "'access_log' is for stream listeners, not %s",
		        proto_name(lc->protocol));
	else if (al && strcmp(lc->access_log, "journal") != 0 && lc->access_log[0] != '/')
		fail_at(ld, al, "'access_log' must be \"journal\" or an absolute path, not '%s'",
		        lc->access_log);
}

/* Checks the TLS settings of a listener (generation.c loads the credentials). */
static void load_listener_tls(struct loader *ld, const config_setting_t *grp,
                              struct listener_conf *lc)
{
	struct tls_conf *tc = &lc->tls;
	if (lc->protocol != PROTO_TLS) {
		for (size_t i = 0; i < sizeof tls_only / sizeof tls_only[0]; i++) {
			const config_setting_t *s = config_setting_get_member(grp, tls_only[i]);
			if (s) {
				fail_at(ld, s, "'%s' is only for protocol \"tls\"", tls_only[i]);
				return;
			}
		}
		return;
	}
	const config_setting_t *ks = config_setting_get_member(grp, "key");
	if (tc->n_certs == 0 || tc->n_keys == 0) {
		fail_at(ld, grp, "listener '%s': protocol \"tls\" needs 'certificate' and 'key'",
		        lc->name);
		return;
	}
	if (tc->n_certs != tc->n_keys) {
		fail_at(ld, ks,
		        "listener '%s': %zu certificate(s) but %zu key(s): give one key per "
		        "certificate, in the same order",
		        lc->name, tc->n_certs, tc->n_keys);
		return;
	}
	if (tc->verify_client != VERIFY_NONE && !tc->client_ca) {
		fail_at(ld, config_setting_get_member(grp, "verify_client"),
		        "listener '%s': verify_client needs 'client_ca'", lc->name);
		return;
	}
}

/* A unix listener has a path and no address; the others the reverse. */
static void load_listener_unix(struct loader *ld, const config_setting_t *grp,
                               struct listener_conf *lc)
{
	bool un = proto_is_unix(lc->protocol);
	const char *const *wrong = un ? inet_only : unix_only;
	size_t n =
	    un ? sizeof inet_only / sizeof inet_only[0] : sizeof unix_only / sizeof unix_only[0];
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_member(grp, wrong[i]);
		if (s) {
			fail_at(ld, s, "'%s' is %s", wrong[i],
			        un ? "for IP listeners; a unix listener has 'path' (and 'mode', "
			             "'owner', 'group')"
			           : "only for protocol \"unix\" or \"unixgram\"");
			return;
		}
	}
	if (!un)
		return;
	struct unix_conf *uc = &lc->un;
	if (!uc->path) {
		fail_at(ld, grp,
		        "missing 'path' (the socket file, e.g. \"/run/ksockd/echo.sock\")");
		return;
	}
	struct sockaddr_un sun;
	if (strlen(uc->path) >= sizeof sun.sun_path) {
		fail_at(ld, config_setting_get_member(grp, "path"),
		        "'path' is %zu bytes long; a socket path must be shorter than %zu bytes",
		        strlen(uc->path), sizeof sun.sun_path);
		return;
	}
	static const char *const creds[] = {"owner", "group", "allow_uid", "allow_gid", "deny_uid"};
	for (size_t i = 0; i < sizeof creds / sizeof creds[0] && !uc->cred_line; i++) {
		const config_setting_t *s = config_setting_get_member(grp, creds[i]);
		if (s)
			uc->cred_line = (int)config_setting_source_line(s);
	}
	if (!uc->cred_line)
		uc->cred_line = lc->line;
}

/* handler "exec": conf_exec.c checks the settings and resolves exec_user. */
static void load_listener_exec(struct loader *ld, const config_setting_t *grp,
                               const struct conf *conf, struct listener_conf *lc)
{
	bool any = false;
	for (size_t i = 0; conf_exec_keys[i] && !any; i++)
		any = config_setting_get_member(grp, conf_exec_keys[i]) != NULL;
	const char *key = NULL;
	char why[512];
	if (conf_exec_check(conf, lc, any, &key, why, sizeof why) < 0) {
		const config_setting_t *s = key ? config_setting_get_member(grp, key) : NULL;
		fail_at(ld, s ? s : grp, "listener '%s': %s", lc->name, why);
	}
}

static void load_listener(struct loader *ld, const config_setting_t *grp, struct conf *conf,
                          size_t index)
{
	struct listener_conf *lc = &conf->listeners[index];
	lc->limits = conf->limits;
	lc->backlog = 511;
	lc->ipv6_only = true;
	lc->proxy_timeout = 5;
	lc->line = (int)config_setting_source_line(grp);
	lc->tls.handshake_timeout = 10;
	lc->tls.ticket_lifetime = 21600;
	lc->un.mode = -1;
	char buf[PATH_MAX];
	lc->file = strdup(source_file(ld, grp, buf, sizeof buf));
	if (!config_setting_is_group(grp)) {
		fail_at(ld, grp, "each entry of 'listeners' must be a group ( { ... } )");
		return;
	}
	/* Errors inside this listener name it (fail_at), even before 'name' is applied. */
	const char *name = NULL;
	if (config_setting_lookup_string(grp, "name", &name) == CONFIG_TRUE && name[0])
		ld->listener = name;
	for (int i = 0; i < config_setting_length(grp); i++)
		apply_setting(ld, config_setting_get_elem(grp, (unsigned)i), IN_LISTENER, lc,
		              &lc->limits);
	if (ld->failed)
		return;
	static const char *const required[] = {"name", "protocol", "address", "port", "handler"};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
		bool inet = strcmp(required[i], "address") == 0 || strcmp(required[i], "port") == 0;
		if (inet && proto_is_unix(lc->protocol))
			continue;
		if (!config_setting_get_member(grp, required[i])) {
			fail_at(ld, grp, "missing '%s'", required[i]);
			return;
		}
	}
	/* Datagram listeners: their settings mean nothing on a stream listener. */
	for (size_t i = 0; i < sizeof udp_only / sizeof udp_only[0]; i++) {
		const config_setting_t *u = config_setting_get_member(grp, udp_only[i]);
		bool reflection = strcmp(udp_only[i], "udp_max_reply_ratio") == 0;
		if (u && !proto_is_dgram(lc->protocol)) {
			fail_at(ld, u, "'%s' applies to udp and unixgram listeners only",
			        udp_only[i]);
			return;
		}
		if (u && lc->protocol == PROTO_UNIXGRAM && reflection) {
			fail_at(ld, u,
			        "'%s' applies to udp listeners only (a unixgram peer is local: "
			        "no reflection to limit)",
			        udp_only[i]);
			return;
		}
	}
	load_listener_unix(ld, grp, lc);
	if (ld->failed)
		return;
	if (lc->name[0] == '\0') {
		fail_at(ld, config_setting_get_member(grp, "name"), "listener name is empty");
		return;
	}
	for (size_t j = 0; j < index; j++)
		if (strcmp(conf->listeners[j].name, lc->name) == 0) {
			fail_at(ld, config_setting_get_member(grp, "name"),
			        "duplicate listener name '%s' (first defined at line %d)", lc->name,
			        conf->listeners[j].line);
			return;
		}
	if (lc->proxy_mode != PROXY_OFF && lc->protocol == PROTO_UDP) {
		fail_at(ld, config_setting_get_member(grp, "proxy_protocol"),
		        "listener '%s': proxy_protocol is for stream listeners only", lc->name);
		return;
	}
	if (lc->proxy_mode != PROXY_OFF && !config_setting_get_member(grp, "proxy_trusted")) {
		fail_at(ld, config_setting_get_member(grp, "proxy_protocol"),
		        "listener '%s': proxy_protocol needs 'proxy_trusted' (the balancers' "
		        "addresses)",
		        lc->name);
		return;
	}
	/* Resolved, and checked for two listeners on one socket, by generation.c. */
	if (!proto_is_unix(lc->protocol))
		lc->address_line =
		    (int)config_setting_source_line(config_setting_get_member(grp, "address"));
	load_listener_extras(ld, grp, lc);
	if (!ld->failed)
		load_listener_tls(ld, grp, lc);
	if (!ld->failed)
		load_listener_exec(ld, grp, conf, lc);
}

static void load_listeners(struct loader *ld, const config_setting_t *list, struct conf *conf)
{
	if (!list) {
		fail_at(ld, NULL,
		        "no 'listeners' defined; add listeners = ( { name = \"echo\"; "
		        "protocol = \"tcp\"; address = \"127.0.0.1\"; port = 2007; handler = "
		        "\"echo\"; } );");
		return;
	}
	if (!config_setting_is_list(list)) {
		fail_at(ld, list, "'listeners' must be a list ( ( {...}, {...} ) )");
		return;
	}
	int n = config_setting_length(list);
	if (n == 0) {
		fail_at(ld, list, "'listeners' is empty");
		return;
	}
	conf->listeners = calloc((size_t)n, sizeof *conf->listeners);
	if (!conf->listeners) {
		fail_oom(ld, list);
		return;
	}
	conf->n_listeners = (size_t)n;
	for (int i = 0; i < n && !ld->failed; i++) {
		load_listener(ld, config_setting_get_elem(list, (unsigned)i), conf, (size_t)i);
		ld->listener = NULL;
	}
}

#define DIAG_MAX_FILE                                                                              \
	(4 * 1024 * 1024) /* bytes of a rejected file re-scanned for a better message */

/*
 * libconfig says only "syntax error", "duplicate setting name" or "cannot open
 * include file": re-scan the file it stopped in to name the token, the key or
 * the include file.
 */
static void conf_parse_error(config_t *cf, const char *path, const char *dir, char *err,
                             size_t errlen)
{
	const char *file = config_error_file(cf) ? config_error_file(cf) : path;
	int line = config_error_line(cf);
	snprintf(err, errlen, "%s:%d: %s", file, line, config_error_text(cf));
	FILE *f = fopen(file, "r");
	if (!f)
		return;
	char *text = malloc(DIAG_MAX_FILE + 1);
	size_t n = text ? fread(text, 1, DIAG_MAX_FILE, f) : 0;
	fclose(f);
	if (!text)
		return;
	text[n] = '\0';
	char msg[512], inc[256];
	int at = line;
	if (strcmp(config_error_text(cf), "cannot open include file") == 0) {
		if (diag_include_name(text, line, inc, sizeof inc) == 0) {
			char full[PATH_MAX];
			bool rel = inc[0] != '/';
			snprintf(full, sizeof full, "%s%s%s", rel ? dir : "",
			         rel && dir[strlen(dir) - 1] != '/' ? "/" : "", inc);
			int e = access(full, R_OK) < 0 ? errno : EIO;
			snprintf(err, errlen, "%s:%d: cannot open include file %s: %s%s%s", file,
			         line, full, strerror(e),
			         inc[0] == '/' ? ""
			                       : "; relative @include paths start from the "
			                         "directory of ",
			         inc[0] == '/' ? "" : path);
		}
	} else if (diag_syntax(text, &at, msg, sizeof msg) == 0)
		snprintf(err, errlen, "%s:%d: %s", file, at, msg);
	free(text);
}

#define CONF_INCLUDE_DEPTH 10 /* @include nesting libconfig follows */

/*
 * libconfig's scanner ends the process when a file it opened cannot be read
 * ("input in flex scanner failed"): a directory, such as @include "" relative
 * to the include directory. So no file it will read, the main one or an
 * @include, may be a directory. Regular files are scanned for their @include
 * lines; a pipe (ksockd -t -c <(ksockd -T)) cannot be read twice and is left
 * to libconfig. A file that does not exist is left to libconfig too, which
 * reports it. Returns 0, or -1 with "FILE:LINE: why" in err.
 */
static int conf_check_files(const char *file, const char *dir, int depth, const char *from,
                            int from_line, char *err, size_t errlen)
{
	struct stat st;
	if (stat(file, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		if (from)
			snprintf(
			    err, errlen,
			    "%s:%d: @include names '%s', which is a directory; name a config file",
			    from, from_line, file);
		else
			snprintf(err, errlen, "%s: is a directory; name a config file", file);
		return -1;
	}
	FILE *f = S_ISREG(st.st_mode) && depth < CONF_INCLUDE_DEPTH ? fopen(file, "r") : NULL;
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0, rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		n++;
		char *p = line + strspn(line, " \t");
		if (strncmp(p, "@include", 8) != 0)
			continue;
		char *q = memchr(p, '"', (size_t)(line + len - p));
		if (!q)
			continue; /* not an @include libconfig accepts: its own error */
		size_t rest = (size_t)(line + len - q - 1);
		char *nul = memchr(q + 1, '\0', rest), *e = memchr(q + 1, '"', rest);
		if (e && (!nul || e < nul))
			*e = '\0';
		else if (!nul)
			continue;         /* a name going on past this line: no directory has one */
		const char *name = q + 1; /* as libconfig takes it: up to the first NUL */
		char full[PATH_MAX];
		bool rel = name[0] != '/';
		snprintf(full, sizeof full, "%s%s%s", rel ? dir : "",
		         rel && dir[strlen(dir) - 1] != '/' ? "/" : "", name);
		rc = conf_check_files(full, dir, depth + 1, file, n, err, errlen);
	}
	free(line);
	fclose(f);
	return rc;
}

static void conf_defaults(struct conf *conf)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	conf->workers = ncpu > 0 ? (unsigned)ncpu : 1;
	conf->log_level = LOG_INFO;
	conf->shutdown_timeout = 10;
	conf->limits.max_line = 8192;
	conf->limits.max_connections = 4096;
	conf->limits.idle_timeout = 300;
	conf->limits.output_buffer = 262144;
	conf->limits.max_datagram = 65507;
	conf->limits.udp_rate = 20;
	conf->limits.udp_burst = 40;
	conf->limits.udp_sources = 4096;
	conf->limits.udp_max_reply_ratio = 10;
	conf->limits.udp_rcvbuf = 4 * 1024 * 1024;
	conf->limits.max_connections_per_source = 256;
	conf->limits.connect_rate = 0; /* off: a source may be a balancer or NAT */
	conf->limits.connect_burst = 200;
	conf->limits.slow_client_timeout = 30;
	conf->worker_buffer_limit = 64 * 1024 * 1024;
}

struct conf *conf_load(const char *path, char *err, size_t errlen)
{
	struct loader ld = {path, err, errlen, false, NULL, NULL};
	config_t cf;
	struct conf *conf = calloc(1, sizeof *conf);
	if (conf)
		conf->path = strdup(path);
	if (!conf || !conf->path) {
		snprintf(err, errlen, "%s: out of memory while loading the configuration", path);
		conf_free(conf);
		return NULL;
	}
	/* @include "x.conf" is relative to the directory of the main file. */
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
	if (!dir) {
		snprintf(err, errlen, "%s: out of memory while loading the configuration", path);
		conf_free(conf);
		return NULL;
	}
	conf_defaults(conf);
	config_init(&cf);
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	config_set_include_dir(&cf, slash ? dir : ".");
	ld.dir = slash ? dir : ".";
	if (conf_check_files(path, ld.dir, 0, NULL, 0, err, errlen) < 0) {
		free(dir);
		config_destroy(&cf);
		conf_free(conf);
		return NULL;
	}
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read file: %m", path);
		else
			conf_parse_error(&cf, path, slash ? dir : ".", err, errlen);
		free(dir);
		config_destroy(&cf);
		conf_free(conf);
		return NULL;
	}
	config_setting_t *root = config_root_setting(&cf);
	/* Globals first, so listener limits start from the global values. */
	for (int i = 0; i < config_setting_length(root); i++)
		apply_setting(&ld, config_setting_get_elem(root, (unsigned)i), IN_GLOBAL, conf,
		              &conf->limits);
	if (!ld.failed)
		load_listeners(&ld, config_setting_get_member(root, "listeners"), conf);
	if (!ld.failed && conf->group && !conf->user)
		fail_at(&ld, config_setting_get_member(root, "group"),
		        "'group' is set without 'user'");
	config_destroy(&cf);
	free(dir);
	if (ld.failed) {
		conf_free(conf);
		return NULL;
	}
	return conf;
}

static void conf_free_vec(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void conf_free_tls(struct tls_conf *tc)
{
	conf_free_vec(tc->certificates, tc->n_certs);
	conf_free_vec(tc->keys, tc->n_keys);
	conf_free_vec(tc->alpn, tc->n_alpn);
	free(tc->priority);
	free(tc->client_ca);
}

static void conf_free_unix(struct unix_conf *uc)
{
	free(uc->path);
	free(uc->owner);
	free(uc->group);
	conf_free_vec(uc->allow_uid, uc->n_allow_uid);
	conf_free_vec(uc->allow_gid, uc->n_allow_gid);
	conf_free_vec(uc->deny_uid, uc->n_deny_uid);
}

void conf_free(struct conf *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < conf->n_listeners; i++) {
		free(conf->listeners[i].name);
		free(conf->listeners[i].file);
		free(conf->listeners[i].address);
		free(conf->listeners[i].qotd_file);
		free(conf->listeners[i].access_log);
		free(conf->listeners[i].proxy_trusted);
		acl_free(&conf->listeners[i].acl);
		conf_free_tls(&conf->listeners[i].tls);
		conf_free_unix(&conf->listeners[i].un);
		conf_exec_free(&conf->listeners[i].exec);
	}
	free(conf->listeners);
	conf_free_vec(conf->plugins, conf->n_plugins);
	free(conf->path);
	free(conf->user);
	free(conf->group);
	free(conf->pid_file);
	free(conf);
}

/* The table, read back: what conf_dump.c prints for "ksockd -T". */
void conf_each_setting(const struct conf *conf, const struct listener_conf *lc, conf_setting_fn *fn,
                       void *ctx)
{
	unsigned scope = lc ? IN_LISTENER : IN_GLOBAL;
	const char *base = lc ? (const char *)lc : (const char *)conf;
	const char *limits = lc ? (const char *)&lc->limits : (const char *)&conf->limits;
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
		const struct setting *d = &settings[i];
		if (!(d->scope & scope) || strcmp(d->name, "listeners") == 0)
			continue;
		/* Only what this listener may have: -t would reject the others. */
		if (lc && !proto_is_dgram(lc->protocol) &&
		    in_list(d->name, udp_only, sizeof udp_only / sizeof udp_only[0]))
			continue;
		if (lc && lc->protocol == PROTO_UNIXGRAM &&
		    strcmp(d->name, "udp_max_reply_ratio") == 0)
			continue;
		if (lc && !proto_is_unix(lc->protocol) &&
		    in_list(d->name, unix_only, sizeof unix_only / sizeof unix_only[0]))
			continue;
		if (lc && proto_is_unix(lc->protocol) &&
		    in_list(d->name, inet_only, sizeof inet_only / sizeof inet_only[0]))
			continue;
		if (lc && lc->protocol != PROTO_TLS &&
		    in_list(d->name, tls_only, sizeof tls_only / sizeof tls_only[0]))
			continue;
		const void *field = ((d->scope & IN_LIMITS) ? limits : base) + d->offset;
		enum conf_value t = CONF_VAL_SPECIAL;
		switch (d->type) {
		case SET_UINT:
			t = strcmp(d->name, "backlog") == 0 ? CONF_VAL_INT : CONF_VAL_UINT;
			break;
		case SET_SECONDS:
		case SET_NUMBER: t = CONF_VAL_DOUBLE; break;
		case SET_STRING: t = CONF_VAL_STRING; break;
		case SET_BOOL: t = CONF_VAL_BOOL; break;
		case SET_CIDRS:
		case SET_SPECIAL: t = CONF_VAL_SPECIAL; break;
		}
		fn(ctx, d->name, t, field);
	}
}
