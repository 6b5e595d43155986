/*
 * proctitle.c: process titles over argv (see proctitle.h). Owns the argv
 * area after proctitle_init(); main() must not read argv past that point.
 * Per-process state is the one area below: it is set once in main() before
 * the first fork, and each process then writes its own copy.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proctitle.h"

extern char **environ;

/* The writable title area: argv's strings and, after them, environ's. */
static struct {
	char *start; /* argv[0] */
	size_t len;  /* bytes up to the end of the last contiguous string */
	char **env;  /* the environment's strings, copied: kept for the process's life
	              * (environ starts as a second copy of this array; unsetenv/setenv
	              * may drop or replace its entries, the strings must stay reachable) */
	char **env0; /* that second copy, environ's first array (setenv may move environ) */
} area;

void proctitle_init(int argc, char **argv)
{
	if (argc < 1 || !argv[0])
		return;
	char *end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	/* The environment usually follows argv: copy it away and use its space too. */
	size_t n = 0;
	while (environ[n])
		n++;
	char **copy = calloc(n + 1, sizeof *copy), **keep = calloc(n + 1, sizeof *keep);
	if (!copy || !keep) {
		free(copy);
		free(keep);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if (environ[i] == end)
			end = environ[i] + strlen(environ[i]) + 1;
		keep[i] = copy[i] = strdup(environ[i]);
		if (!copy[i]) {
			while (i > 0)
				free(copy[--i]);
			free(copy);
			free(keep);
			goto done;
		}
	}
	area.env = keep;
	environ = area.env0 = copy;
done:
	area.start = argv[0];
	area.len = (size_t)(end - argv[0]);
	/* argv[1..] pointed into the area: the options are parsed already, drop them. */
	for (int i = 1; i < argc; i++)
		argv[i] = NULL;
}

void proctitle_set(const char *fmt, ...)
{
	char title[256];
	int n = snprintf(title, sizeof title, "ksockd: ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(title + n, sizeof title - (size_t)n, fmt, ap);
	va_end(ap);
	if (!area.start || area.len < 2)
		return;
	size_t len = strlen(title);
	if (len >= area.len)
		len = area.len - 1;
	memset(area.start, 0, area.len);
	memcpy(area.start, title, len);
}
