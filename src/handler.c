/*
 * handler.c: the registry of line handlers, looked up by name from the config:
 * the built-in ones here, then those of loaded plug-ins (plugin.c).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "handler.h"
#include "exec_session.h"
#include "handlers/handlers.h"
#include "plugin.h"

static const struct handler *const registry[] = {
    &handler_echo,
    &handler_echo_lines,
    &handler_hello,
    &handler_whoami,
    &handler_health,
    /* inetd's internal services */
    &handler_discard,
    &handler_chargen,
    &handler_daytime,
    &handler_time,
    &handler_qotd,
    /* observability */
    &handler_stats,
    &handler_metrics,
    /* a program per connection */
    &handler_exec,
};

const struct handler *handler_builtin(const char *name)
{
	for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

const struct handler *handler_find(const char *name)
{
	const struct handler *h = handler_builtin(name);
	return h ? h : plugin_find(name);
}

const char *handler_names(void)
{
	/* Rebuilt on each call: plug-ins may have been loaded since. */
	static char names[1024];
	names[0] = '\0';
	for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
		         registry[i]->name);
	plugin_names(names, sizeof names);
	return names;
}
