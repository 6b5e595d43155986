/*
 * main.c: ksockd's command line: parses options, loads the config, and
 * either checks it (-t: the master's preparation of a generation, minus
 * binding) or hands it to the master.
 */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "generation.h"
#include "log.h"
#include "master.h"
#include "priv.h"
#include "statefile.h"

#define DEFAULT_CONF "/etc/ksockd.conf"

static void usage(FILE *f)
{
	fprintf(f, "usage: ksockd [-c FILE] [-t] [-f] [-r DIR] [-V] [-h]\n"
		   "       ksockd -s reload [-r DIR]\n"
		   "  -c, --config FILE  configuration file (default " DEFAULT_CONF ")\n"
		   "  -t, --test         check the configuration and exit (0: valid, 1: invalid)\n"
		   "  -f, --foreground   stay in the foreground, log to stderr\n"
		   "  -r, --runtime-dir DIR  where the status file is (default: "
		   "$RUNTIME_DIRECTORY)\n"
		   "  -s, --signal reload  reload the running ksockd and wait: exit 0 when the\n"
		   "                     new config serves, 1 when it was rejected\n"
		   "  -V, --version      print the version and exit\n"
		   "  -h, --help         print this help and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
		{"foreground", no_argument, NULL, 'f'},   {"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},         {"signal", required_argument, NULL, 's'},
		{"runtime-dir", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONF;
	const char *sig = NULL;
	bool test = false, foreground = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:tfVhs:r:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': test = true; break;
		case 'f': foreground = true; break;
		case 'V': printf("ksockd %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		case 's': sig = optarg; break;
		case 'r':
			/* As if systemd's RuntimeDirectory= had set it (statefile.c reads it). */
			if (setenv("RUNTIME_DIRECTORY", optarg, 1) < 0) {
				perror("ksockd: setenv");
				return 1;
			}
			break;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ksockd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (sig) {
		if (strcmp(sig, "reload") != 0) {
			fprintf(stderr, "ksockd: unknown signal '%s' for -s (reload)\n", sig);
			return 2;
		}
		return statefile_reload_client();
	}
	log_init("ksockd", LOG_TARGET_STDERR, LOG_INFO);
	char err[1024];
	struct conf *conf = conf_load(path, err, sizeof err);
	if (!conf) {
		if (test)
			fprintf(stderr, "ksockd: configuration invalid: %s\n", err);
		else
			log_err("%s", err);
		return 1;
	}
	if (test) {
		struct generation g;
		struct priv priv;
		int rc = generation_prepare(&g, conf, err, sizeof err);
		if (rc == 0)
			rc = priv_resolve(g.conf, &priv, err, sizeof err);
		if (rc < 0)
			fprintf(stderr, "ksockd: configuration invalid: %s\n", err);
		else
			printf("ksockd: configuration %s is valid (%zu listener(s), %u worker(s))\n",
			       path, g.conf->n_listeners, g.conf->workers);
		generation_drop(&g, NULL);
		return rc < 0 ? 1 : 0;
	}
	log_init("ksockd", conf->log_syslog ? LOG_TARGET_SYSLOG : LOG_TARGET_STDERR,
		 conf->log_level);
	/* Reloads re-read the file after daemon() changed directory to /. */
	char *abs = realpath(path, NULL);
	if (!abs)
		fatal("%s", path);
	int rc = master_run(abs, conf, foreground);
	free(abs);
	return rc;
}
