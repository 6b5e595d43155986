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

#include "buildinfo.h"
#include "conf.h"
#include "conf_diag.h"
#include "conf_dump.h"
#include "generation.h"
#include "log.h"
#include "master.h"
#include "preflight.h"
#include "priv.h"
#include "proctitle.h"
#include "statefile.h"

#define DEFAULT_CONF "/etc/ksockd.conf"
#define DID_YOU_MEAN_CMD(w) diag_did_you_mean(w, "reload, stop, reopen, status", (char[64]){0}, 64)

static void usage(FILE *f)
{
	fprintf(f, "usage: ksockd [-c FILE] [-t [-S] | -T] [-f] [-r DIR] [-V] [-h]\n"
	           "       ksockd -s reload|stop|reopen|status [-r DIR | -c FILE]\n"
	           "  -c, --config FILE  configuration file (default " DEFAULT_CONF ")\n"
	           "  -t, --test         check the configuration and that this host and user\n"
	           "                     could start it, then exit (0: valid, 1: invalid)\n"
	           "  -S, --strict       with -t: warnings count as errors\n"
	           "  -T, --dump         print the effective configuration (defaults filled in,\n"
	           "                     includes expanded) and exit\n"
	           "  -f, --foreground   stay in the foreground, log to stderr\n"
	           "  -r, --runtime-dir DIR  where the status file is (default: "
	           "$RUNTIME_DIRECTORY)\n"
	           "  -s, --signal reload  reload the running ksockd and wait: exit 0 when the\n"
	           "                     new config serves, 1 when it was rejected\n"
	           "  -s stop            stop it (SIGTERM) and wait until it has exited\n"
	           "  -s reopen          make it reopen its log files (SIGUSR1)\n"
	           "  -s status          print its state; exit 0 running, 3 not running\n"
	           "                     (-s finds the daemon through -r DIR, $RUNTIME_DIRECTORY\n"
	           "                     or the directory of the config's pid_file)\n"
	           "  -V, --version      print the version, library versions and build options\n"
	           "  -h, --help         print this help and exit\n");
}

/*
 * Outside systemd (no RuntimeDirectory=) and without -r, the status file
 * goes next to pid_file: "-s" finds it the same way from the config.
 */
static void runtime_dir_from_pid_file(const struct conf *conf)
{
	const char *rd = getenv("RUNTIME_DIRECTORY");
	if ((rd && *rd) || !conf->pid_file || !strchr(conf->pid_file, '/'))
		return;
	char *dir = strdup(conf->pid_file);
	if (!dir)
		fatal("strdup");
	char *slash = strrchr(dir, '/');
	*(slash == dir ? slash + 1 : slash) = '\0';
	if (setenv("RUNTIME_DIRECTORY", dir, 1) < 0)
		fatal("setenv");
	free(dir);
}

/* -s COMMAND: act on the running daemon, found by its status file. */
static int signal_command(const char *cmd, const char *path)
{
	static const char *const commands[] = {"reload", "stop", "reopen", "status"};
	bool known = false;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		known |= strcmp(cmd, commands[i]) == 0;
	if (!known) {
		fprintf(stderr,
		        "ksockd: unknown command '%s' for -s (reload, stop, reopen, status)%s\n",
		        cmd, DID_YOU_MEAN_CMD(cmd));
		return 2;
	}
	const char *rd = getenv("RUNTIME_DIRECTORY");
	if (!rd || !*rd) {
		char err[1024];
		struct conf *conf = conf_load(path, err, sizeof err);
		if (!conf)
			fprintf(stderr, "ksockd: -s %s: cannot read pid_file from the config: %s\n",
			        cmd, err);
		else
			runtime_dir_from_pid_file(conf);
		conf_free(conf);
	}
	return statefile_client(cmd);
}

/* -t: the config is valid, and this host and user could start it (preflight.c). */
static int check_config(struct conf *conf, const char *path, bool strict)
{
	char err[1024];
	struct priv priv;
	struct generation g;
	/* The same preparation as a start or a reload, minus binding (g takes conf). */
	if (generation_prepare(&g, conf, err, sizeof err) < 0 ||
	    priv_resolve(g.conf, &priv, err, sizeof err) < 0) {
		fprintf(stderr, "ksockd: configuration invalid: %s\n", err);
		generation_drop(&g, NULL);
		return 1;
	}
	conf = g.conf;
	struct preflight_result r;
	preflight_run(&g, stderr, &r);
	if (r.errors || (strict && r.warnings)) {
		fprintf(stderr,
		        "ksockd: configuration %s cannot start: %u error(s), %u warning(s)%s\n",
		        path, r.errors, r.warnings,
		        !r.errors ? " (--strict: warnings count as errors)" : "");
		generation_drop(&g, NULL);
		return 1;
	}
	printf("ksockd: configuration %s is valid (%zu listener(s), %u worker(s)", path,
	       conf->n_listeners, conf->workers);
	if (r.warnings)
		printf(", %u warning(s)", r.warnings);
	printf(")\n");
	generation_drop(&g, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"test", no_argument, NULL, 't'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {"signal", required_argument, NULL, 's'},
	    {"runtime-dir", required_argument, NULL, 'r'},
	    {"strict", no_argument, NULL, 'S'},
	    {"dump", no_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONF;
	const char *sig = NULL;
	bool test = false, foreground = false, strict = false, dump = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:tSTfVhs:r:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': test = true; break;
		case 'S': strict = true; break;
		case 'T': dump = true; break;
		case 'f': foreground = true; break;
		case 'V': buildinfo_print(stdout); return 0;
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
	log_init("ksockd", LOG_TARGET_STDERR, LOG_INFO);
	if (sig)
		return signal_command(sig, path);
	char err[1024];
	struct conf *conf = conf_load(path, err, sizeof err);
	if (!conf) {
		if (test || dump)
			fprintf(stderr, "ksockd: configuration invalid: %s\n", err);
		else
			log_err("%s", err);
		return 1;
	}
	if (dump) {
		conf_dump(conf, stdout);
		conf_free(conf);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (test)
		return check_config(conf, path, strict); /* frees conf */
	bool sys = conf->log_syslog && log_syslog_available();
	if (conf->log_syslog && !sys)
		log_warnx("log_target = \"syslog\" but nothing listens on %s: logging to standard "
		          "error",
		          LOG_SYSLOG_SOCKET);
	log_init("ksockd", sys ? LOG_TARGET_SYSLOG : LOG_TARGET_STDERR, conf->log_level);
	/* Reloads re-read the file after daemon() changed directory to /. */
	char *abs = realpath(path, NULL);
	if (!abs)
		fatal("%s", path);
	runtime_dir_from_pid_file(conf);
	proctitle_init(argc, argv); /* argv is not read after this */
	int rc = master_run(abs, conf, foreground);
	free(abs);
	return rc;
}
