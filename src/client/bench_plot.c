/*
 * bench_plot.c: `ksock bench --hist FILE` and `--plot FILE.svg`: the latency
 * distribution as HdrHistogram percentile text (milliseconds), and drawn by
 * gnuplot from that same text (percentiles on a log scale of 1/(1-p), as
 * HdrHistogram's plotter draws them). Reads the merged histogram only.
 */
#include "config.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

static int bench_write_hist(const struct histogram *h, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		cli_err("--hist %s: %s", path, strerror(errno));
		return -1;
	}
	int rc = hist_write_percentiles(h, f, 1e6);
	if (fclose(f) != 0 || rc < 0) {
		cli_err("--hist %s: write failed: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* gnuplot's script: reads the distribution from data, writes an SVG to out. */
static int bench_plot_script(FILE *f, const struct bench_opts *o, const char *data, const char *out)
{
	fprintf(
	    f,
	    "set terminal svg size 800,480 dynamic font 'sans,12'\n"
	    "set output '%s'\n"
	    "set title 'ksock bench %s %s:%s: %u connections, pipeline %u%s'\n"
	    "set logscale x\n"
	    "set xtics ('0%%%%' 1, '90%%%%' 10, '99%%%%' 100, '99.9%%%%' 1000, '99.99%%%%' 10000, "
	    "'99.999%%%%' 100000, '99.9999%%%%' 1000000)\n"
	    "set xlabel 'percentile'\n"
	    "set ylabel 'latency (ms)'\n"
	    "set grid\n"
	    "set key top left\n"
	    "plot '%s' using 4:1 with lines linewidth 2 title '%s'\n",
	    out, bench_mode_name(o->mode), o->t.host, o->t.port, o->conns, o->pipeline,
	    o->rate > 0 ? ", fixed rate (corrected)" : "", data,
	    o->rate > 0 ? "latency from the scheduled send time" : "latency");
	return ferror(f) ? -1 : 0;
}

/* Runs gnuplot on script; returns 0 if it exited 0. */
static int bench_run_gnuplot(const char *script)
{
	char *argv[] = {"gnuplot", (char *)script, NULL};
	pid_t pid;
	int rc = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
	if (rc != 0) {
		cli_err("--plot: cannot run gnuplot: %s (install it: apt-get install gnuplot-nox)",
		        strerror(rc));
		return -1;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		cli_err("--plot: gnuplot failed (status %d)", st);
		return -1;
	}
	return 0;
}

static int bench_plot(const struct bench_opts *o, const struct histogram *h, const char *out)
{
	char dir[] = "/tmp/ksock-plot-XXXXXX", data[64], script[64];
	if (!h->count) {
		cli_err("--plot: no latency was recorded, nothing to draw");
		return -1;
	}
	if (!mkdtemp(dir)) {
		cli_err("--plot: cannot create a temporary directory: %s", strerror(errno));
		return -1;
	}
	snprintf(data, sizeof data, "%s/latency.hgrm", dir);
	snprintf(script, sizeof script, "%s/plot.gp", dir);
	int rc = bench_write_hist(h, data);
	FILE *f = rc < 0 ? NULL : fopen(script, "w");
	if (rc == 0 && (!f || bench_plot_script(f, o, data, out) < 0)) {
		cli_err("--plot: cannot write %s", script);
		rc = -1;
	}
	if (f && fclose(f) != 0)
		rc = -1;
	if (rc == 0)
		rc = bench_run_gnuplot(script);
	unlink(data);
	unlink(script);
	rmdir(dir);
	return rc;
}

int bench_export(const struct bench_opts *o, const struct histogram *h)
{
	int rc = 0;
	if (o->hist_file && bench_write_hist(h, o->hist_file) < 0)
		rc = -1;
	if (o->plot_file && bench_plot(o, h, o->plot_file) < 0)
		rc = -1;
	return rc;
}
