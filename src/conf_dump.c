/*
 * conf_dump.c: "ksockd -T": a loaded conf printed back in libconfig syntax.
 *
 * Every setting of conf.c's table (conf_each_setting) with its effective
 * value: defaults filled in, @include files expanded, listener limits
 * resolved from the globals, listeners in file order, each preceded by the
 * FILE:LINE it came from. The output is itself a config that "ksockd -t"
 * accepts and that loads to the same conf. Paths are printed as resolved
 * (absolute for TLS files). Writes to a FILE only.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "conf_dump.h"
#include "prefix.h"
#include "handler.h"
#include "log.h"

#define INT32_LIMIT 2147483647u /* libconfig 1.5 reads larger integers only with an L suffix */

struct dump {
	FILE *out;
	const struct conf *conf;
	const struct listener_conf *lc; /* NULL: top level */
	const char *indent;
};

static void put_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void put_strings(FILE *out, char *const *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", " : " ", out);
		put_string(out, v[i]);
	}
	fputs(" ]", out);
}

/* "10.0.0.0/8" from a parsed prefix (prefix.h). */
static void put_prefix(FILE *out, const struct prefix *p, bool first)
{
	char a[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];
	inet_ntop(p->v6 ? AF_INET6 : AF_INET, p->addr, a, sizeof a);
	snprintf(text, sizeof text, "%s/%u", a, (unsigned)p->len);
	fputs(first ? " " : ", ", out);
	put_string(out, text);
}

static void put_acl(struct dump *d, const char *name, bool allow)
{
	const struct acl *acl = &d->lc->acl;
	bool first = true;
	for (size_t i = 0; i < acl->n; i++) {
		const struct acl_rule *r = &acl->rules[i];
		if (r->allow != allow)
			continue;
		if (first)
			fprintf(d->out, "%s%s = [", d->indent, name);
		put_prefix(d->out, &r->p, first);
		first = false;
	}
	if (!first)
		fputs(" ];\n", d->out);
}

static const char *verify_name(enum verify_client v)
{
	switch (v) {
	case VERIFY_NONE: return "none";
	case VERIFY_OPTIONAL: return "optional";
	case VERIFY_REQUIRE: return "require";
	}
	return "none";
}

/* A unix listener's path, mode and id lists; true when printed (or nothing to print). */
static bool put_unix_special(struct dump *d, const char *name, const char **v)
{
	const struct unix_conf *uc = &d->lc->un;
	char *const *vec = NULL;
	size_t n = 0;
	if (strcmp(name, "path") == 0) {
		*v = uc->path;
		return false;
	}
	if (strcmp(name, "mode") == 0) {
		if (uc->mode >= 0)
			fprintf(d->out, "%smode = \"0%03o\";\n", d->indent, (unsigned)uc->mode);
		return true;
	}
	if (strcmp(name, "allow_uid") == 0)
		vec = uc->allow_uid, n = uc->n_allow_uid;
	else if (strcmp(name, "allow_gid") == 0)
		vec = uc->allow_gid, n = uc->n_allow_gid;
	else if (strcmp(name, "deny_uid") == 0)
		vec = uc->deny_uid, n = uc->n_deny_uid;
	else
		return false;
	if (n) {
		fprintf(d->out, "%s%s = ", d->indent, name);
		put_strings(d->out, vec, n);
		fputs(";\n", d->out);
	}
	return true;
}

/* Settings of type SET_SPECIAL / SET_CIDRS: each has its own form. */
static void put_special(struct dump *d, const char *name)
{
	FILE *out = d->out;
	const struct listener_conf *lc = d->lc;
	const char *v = NULL;
	if (!lc) {
		if (strcmp(name, "log_level") == 0)
			v = log_level_name(d->conf->log_level);
		else if (strcmp(name, "log_target") == 0)
			v = d->conf->log_syslog ? "syslog" : "stderr";
		else if (strcmp(name, "plugins") == 0 && d->conf->n_plugins) {
			fprintf(out, "%splugins = ", d->indent);
			put_strings(out, d->conf->plugins, d->conf->n_plugins);
			fputs(";\n", out);
			return;
		}
	} else if (strcmp(name, "protocol") == 0)
		v = proto_name(lc->protocol);
	else if (strcmp(name, "handler") == 0)
		v = lc->handler->name;
	else if (strcmp(name, "proxy_protocol") == 0)
		v = proxy_mode_name(lc->proxy_mode);
	else if (strcmp(name, "verify_client") == 0)
		v = verify_name(lc->tls.verify_client);
	else if (strcmp(name, "client_ca") == 0)
		v = lc->tls.client_ca;
	else if (strcmp(name, "allow") == 0 || strcmp(name, "deny") == 0) {
		put_acl(d, name, name[0] == 'a');
		return;
	} else if (strcmp(name, "proxy_trusted") == 0 && lc->n_proxy_trusted) {
		fprintf(out, "%sproxy_trusted = [", d->indent);
		for (size_t i = 0; i < lc->n_proxy_trusted; i++)
			put_prefix(out, &lc->proxy_trusted[i], i == 0);
		fputs(" ];\n", out);
		return;
	} else if (put_unix_special(d, name, &v)) {
		return;
	} else if ((strcmp(name, "certificate") == 0 && lc->tls.n_certs) ||
	           (strcmp(name, "key") == 0 && lc->tls.n_keys) ||
	           (strcmp(name, "alpn") == 0 && lc->tls.n_alpn)) {
		fprintf(out, "%s%s = ", d->indent, name);
		if (name[0] == 'c')
			put_strings(out, lc->tls.certificates, lc->tls.n_certs);
		else if (name[0] == 'k')
			put_strings(out, lc->tls.keys, lc->tls.n_keys);
		else
			put_strings(out, lc->tls.alpn, lc->tls.n_alpn);
		fputs(";\n", out);
		return;
	} else if ((strcmp(name, "exec") == 0 && lc->exec.argc) ||
	           (strcmp(name, "exec_env") == 0 && lc->exec.n_env)) {
		/* handler exec: the program's argv and extra environment */
		fprintf(out, "%s%s = ", d->indent, name);
		if (name[4] == '\0')
			put_strings(out, lc->exec.argv, lc->exec.argc);
		else
			put_strings(out, lc->exec.env, lc->exec.n_env);
		fputs(";\n", out);
		return;
	}
	if (!v)
		return;
	fprintf(out, "%s%s = ", d->indent, name);
	put_string(out, v);
	fputs(";\n", out);
}

static void put_setting(void *ctx, const char *name, enum conf_value type, const void *field)
{
	struct dump *d = ctx;
	FILE *out = d->out;
	if (d->lc && strcmp(name, "name") == 0)
		return; /* printed first */
	switch (type) {
	case CONF_VAL_UINT: {
		unsigned v = *(const unsigned *)field;
		fprintf(out, "%s%s = %u%s;\n", d->indent, name, v, v > INT32_LIMIT ? "L" : "");
		break;
	}
	case CONF_VAL_INT:
		fprintf(out, "%s%s = %d;\n", d->indent, name, *(const int *)field);
		break;
	case CONF_VAL_DOUBLE: {
		/* %.17g reads back to the same double; a whole number stays an integer. */
		fprintf(out, "%s%s = %.17g;\n", d->indent, name, *(const double *)field);
		break;
	}
	case CONF_VAL_STRING: {
		const char *v = *(char *const *)field;
		if (!v)
			return;
		fprintf(out, "%s%s = ", d->indent, name);
		put_string(out, v);
		fputs(";\n", out);
		break;
	}
	case CONF_VAL_BOOL:
		fprintf(out, "%s%s = %s;\n", d->indent, name,
		        *(const bool *)field ? "true" : "false");
		break;
	case CONF_VAL_SPECIAL: put_special(d, name); break;
	}
}

void conf_dump(const struct conf *conf, FILE *out)
{
	struct dump d = {out, conf, NULL, ""};
	fprintf(out,
	        "# ksockd -T: the effective configuration of %s\n"
	        "# (defaults filled in, @include files expanded, listeners in order)\n",
	        conf->path);
	conf_each_setting(conf, NULL, put_setting, &d);
	fputs("listeners = (\n", out);
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct listener_conf *lc = &conf->listeners[i];
		fprintf(out, "  # %s:%d\n  {\n", lc->file ? lc->file : conf->path, lc->line);
		d.lc = lc;
		d.indent = "    ";
		/* name first, as people write it */
		fprintf(out, "    name = ");
		put_string(out, lc->name);
		fputs(";\n", out);
		conf_each_setting(conf, lc, put_setting, &d);
		fprintf(out, "  }%s\n", i + 1 < conf->n_listeners ? "," : "");
	}
	fputs(");\n", out);
}
