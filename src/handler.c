/*
 * handler.c: the registry of line handlers, looked up by name from the config.
 */
#include "config.h"

#include <string.h>

#include "handler.h"
#include "exec_session.h"
#include "handlers/handlers.h"

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

const struct handler *handler_find(const char *name)
{
	for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

const char *handler_names(void)
{
	return "echo, echo-lines, hello, whoami, health, discard, chargen, daytime, time, qotd, "
	       "stats, metrics, exec";
}
