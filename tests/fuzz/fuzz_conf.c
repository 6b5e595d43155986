/*
 * fuzz_conf.c: libFuzzer harness for the config loader (conf.c).
 *
 * Property: any file gives either a NULL conf with a non-empty
 * "FILE:LINE: ..." message, or a conf whose every field is within the bounds
 * the settings table promises; never a crash, an overflow or a leak
 * (LeakSanitizer checks conf_free() releases everything). conf_load opens
 * nothing but the file and resolves no name (generation.c does), so no
 * input waits on DNS.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

static char path[64];

static void check_conf(const struct conf *c)
{
	if (!c->path || c->workers < 1 || c->workers > 256 || c->n_listeners == 0 || !c->listeners)
		abort();
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct listener_conf *lc = &c->listeners[i];
		if (!lc->name || !lc->name[0] || !lc->address || !lc->handler)
			abort();
		if (lc->port < 1 || lc->port > 65535 || lc->address_line < 1)
			abort();
		if (lc->limits.max_line < 1 || lc->limits.max_connections < 1 ||
		    lc->limits.output_buffer < 256 || lc->limits.idle_timeout < 0)
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->listeners[j].name, lc->name) == 0)
				abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_conf", LOG_TARGET_STDERR, LOG_CRIT);
	snprintf(path, sizeof path, "/tmp/fuzz_conf.%d.conf", (int)getpid());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	char err[1024] = "";
	struct conf *c = conf_load(path, err, sizeof err);
	if (c) {
		check_conf(c);
		conf_free(c);
	} else if (err[0] == '\0' || !strchr(err, ':')) {
		abort();
	}
	unlink(path);
	return 0;
}
