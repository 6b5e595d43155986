/*
 * plugin.c: the plug-in loader (dlopen in the master, before the fork) and
 * the registry of plug-in handlers.
 *
 * Owns the table of loaded plug-ins and their handlers. Must not touch the
 * built-in handlers (handler.c looks up both) or any listener.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handler.h"
#include "log.h"
#include "plugin.h"

#define PLUGIN_MAX 64           /* plug-in files loaded per process */
#define PLUGIN_HANDLERS_MAX 256 /* plug-in handlers registered per process */

struct plugin {
	dev_t dev; /* identity of the file loaded */
	ino_t ino;
	char *path;                    /* as configured, for messages */
	const struct ksockd_plugin *p; /* its exported description */
};

struct registry {
	struct plugin plugins[PLUGIN_MAX];                   /* loaded files, in load order */
	size_t n_plugins;                                    /* entries used */
	const struct handler *handlers[PLUGIN_HANDLERS_MAX]; /* by name, latest load wins */
	const struct plugin *owner[PLUGIN_HANDLERS_MAX];     /* the plug-in each came from */
	size_t n_handlers;                                   /* entries used */
};

static struct registry reg;

/* Owner must be root or us, and no one else may write (sticky dirs excepted). */
static int check_one(const char *path, bool dir, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "cannot read plug-in '%s': %s", path, strerror(errno));
		return -1;
	}
	if (!dir && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "plug-in '%s' is not a regular file", path);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen,
		         "plug-in path '%s' is owned by uid %u, not root: refused (plug-ins run "
		         "as root before the privilege drop; chown root '%s')",
		         path, (unsigned)st.st_uid, path);
		return -1;
	}
	bool sticky = dir && (st.st_mode & S_ISVTX);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky) {
		snprintf(err, errlen,
		         "plug-in path '%s' is writable by %s: refused (anyone who can write it "
		         "could run code as root; chmod go-w '%s')",
		         path, (st.st_mode & S_IWOTH) ? "everyone" : "its group", path);
		return -1;
	}
	return 0;
}

int plugin_check_path(const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		snprintf(err, errlen, "cannot read plug-in '%s': %s", path, strerror(errno));
		return -1;
	}
	if (check_one(real, false, err, errlen) < 0)
		return -1;
	for (char *slash = strrchr(real, '/'); slash; slash = strrchr(real, '/')) {
		if (slash == real) {
			slash[1] = '\0';
			return check_one(real, true, err, errlen);
		}
		*slash = '\0';
		if (check_one(real, true, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* Index of name in the registry, or -1. */
static int find_index(const char *name)
{
	for (size_t i = 0; i < reg.n_handlers; i++)
		if (strcmp(reg.handlers[i]->name, name) == 0)
			return (int)i;
	return -1;
}

/* Checks every handler of p before any is registered: all or nothing. */
static int check_handlers(const struct ksockd_plugin *p, const char *path, char *err, size_t errlen)
{
	size_t n = 0, fresh = 0;
	for (const struct handler *const *h = p->handlers; *h; h++, n++) {
		if (!(*h)->name || !(*h)->name[0] || !(*h)->line) {
			snprintf(err, errlen, "plug-in '%s': handler %zu has no name or no line()",
			         path, n + 1);
			return -1;
		}
		if ((*h)->backend || (*h)->echoes) {
			snprintf(
			    err, errlen,
			    "plug-in '%s': handler '%s' sets 'backend' or 'echoes', which only "
			    "built-in handlers may",
			    path, (*h)->name);
			return -1;
		}
		if (handler_builtin((*h)->name)) {
			snprintf(err, errlen,
			         "plug-in '%s': handler '%s' has the name of a built-in handler; "
			         "rename it",
			         path, (*h)->name);
			return -1;
		}
		for (const struct handler *const *o = p->handlers; o != h; o++)
			if (strcmp((*o)->name, (*h)->name) == 0) {
				snprintf(err, errlen, "plug-in '%s': handler '%s' is defined twice",
				         path, (*h)->name);
				return -1;
			}
		int i = find_index((*h)->name);
		if (i >= 0 && strcmp(reg.owner[i]->path, path) != 0) {
			snprintf(err, errlen,
			         "plug-in '%s': handler '%s' is already defined by plug-in '%s'",
			         path, (*h)->name, reg.owner[i]->path);
			return -1;
		}
		fresh += i < 0;
	}
	if (n == 0) {
		snprintf(err, errlen, "plug-in '%s' defines no handler", path);
		return -1;
	}
	if (reg.n_handlers + fresh > PLUGIN_HANDLERS_MAX) {
		snprintf(err, errlen, "plug-in '%s': more than %d plug-in handlers in all", path,
		         PLUGIN_HANDLERS_MAX);
		return -1;
	}
	return 0;
}

static const struct ksockd_plugin *open_plugin(const char *path, char *err, size_t errlen)
{
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(err, errlen, "cannot load plug-in: %s", dlerror());
		return NULL;
	}
	const struct ksockd_plugin *p = dlsym(dl, KSOCKD_PLUGIN_SYMBOL);
	if (!p) {
		snprintf(err, errlen,
		         "plug-in '%s' exports no '%s' (declare it with KSOCKD_PLUGIN() from "
		         "<ksockd/handler.h>)",
		         path, KSOCKD_PLUGIN_SYMBOL);
	} else if (p->abi != KSOCKD_HANDLER_ABI || p->handler_size != sizeof(struct handler)) {
		snprintf(err, errlen,
		         "plug-in '%s' was built for handler ABI %u, this ksockd has ABI %u: "
		         "rebuild it against this version's <ksockd/handler.h>",
		         path, p->abi, KSOCKD_HANDLER_ABI);
		p = NULL;
	} else if (!p->handlers) {
		snprintf(err, errlen, "plug-in '%s' defines no handler", path);
		p = NULL;
	}
	if (!p)
		dlclose(dl); /* nothing of it was used */
	return p;
}

int plugin_load(const char *path, char *err, size_t errlen)
{
	if (plugin_check_path(path, err, errlen) < 0)
		return -1;
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "cannot read plug-in '%s': %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < reg.n_plugins; i++)
		if (reg.plugins[i].dev == st.st_dev && reg.plugins[i].ino == st.st_ino)
			return 0; /* already loaded */
	if (reg.n_plugins == PLUGIN_MAX) {
		snprintf(err, errlen, "more than %d plug-in files loaded: restart ksockd",
		         PLUGIN_MAX);
		return -1;
	}
	char *copy = strdup(path);
	if (!copy) {
		snprintf(err, errlen, "out of memory loading plug-in '%s'", path);
		return -1;
	}
	const struct ksockd_plugin *p = open_plugin(path, err, errlen);
	if (!p || check_handlers(p, path, err, errlen) < 0) {
		free(copy);
		return -1;
	}
	struct plugin *pl = &reg.plugins[reg.n_plugins++];
	*pl = (struct plugin){st.st_dev, st.st_ino, copy, p};
	for (const struct handler *const *h = p->handlers; *h; h++) {
		int i = find_index((*h)->name);
		size_t at = i >= 0 ? (size_t)i : reg.n_handlers++;
		reg.handlers[at] = *h;
		reg.owner[at] = pl;
	}
	log_info("plug-in %s loaded from %s", p->name ? p->name : "(unnamed)", path);
	return 0;
}

const struct handler *plugin_find(const char *name)
{
	int i = find_index(name);
	return i < 0 ? NULL : reg.handlers[i];
}

void plugin_names(char *buf, size_t len)
{
	for (size_t i = 0; i < reg.n_handlers; i++) {
		size_t used = strlen(buf);
		if (used + 1 >= len)
			return;
		snprintf(buf + used, len - used, ", %s", reg.handlers[i]->name);
	}
}
