/*
 * test_stats.c: the shared counters without processes: the listener name
 * table across reloads, worker slots, summing, the text and Prometheus
 * formats, and the stats and metrics handlers over them.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "handler.h"
#include "stats.h"
#include "stats_format.h"

static struct listener_conf lcs[3];
static struct conf conf;
static int ids[3]; /* each listener's counter row, as a generation commit claims them */

static void bind_conf(struct stats *s, const struct conf *c)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		ids[i] = stats_listener_id(s, &c->listeners[i]);
}

static struct conf *conf_of(const char *a, const char *b, const char *c)
{
	const char *names[] = {a, b, c};
	memset(lcs, 0, sizeof lcs);
	conf.listeners = lcs;
	conf.n_listeners = 0;
	for (int i = 0; i < 3 && names[i]; i++) {
		lcs[i].name = (char *)names[i];
		lcs[i].protocol = PROTO_TCP;
		ids[i] = -1;
		conf.n_listeners++;
	}
	return &conf;
}

static char *text_of(int (*fmt)(const struct stats *, struct outbuf *), const struct stats *s)
{
	struct outbuf out = {0};
	ck_assert_int_eq(fmt(s, &out), 0);
	char *t = strndup(outbuf_len(&out) ? outbuf_head(&out) : "", outbuf_len(&out));
	outbuf_free(&out);
	return t;
}

START_TEST(listeners_keep_their_row_by_name_across_reloads)
{
	struct stats *s = stats_create();
	ck_assert_ptr_nonnull(s);
	bind_conf(s, conf_of("a", "b", NULL));
	ck_assert_int_eq(ids[0], 0);
	ck_assert_int_eq(ids[1], 1);
	bind_conf(s, conf_of("c", "b", "a")); /* reordered, one added */
	ck_assert_int_eq(ids[0], 2);
	ck_assert_int_eq(ids[1], 1);
	ck_assert_int_eq(ids[2], 0);
	ck_assert_uint_eq(s->n_listeners, 3);
	stats_destroy(s);
}
END_TEST

START_TEST(names_past_the_maximum_are_not_counted)
{
	struct stats *s = stats_create();
	char names[STATS_MAX_LISTENERS + 1][16];
	for (int i = 0; i <= STATS_MAX_LISTENERS; i++) {
		snprintf(names[i], sizeof names[i], "l%d", i);
		bind_conf(s, conf_of(names[i], NULL, NULL));
		ck_assert_int_eq(ids[0], i < STATS_MAX_LISTENERS ? i : -1);
	}
	ck_assert_ptr_null(stats_row_of(s, 0, -1));
	stats_add(NULL, STAT_LINES_IN, 1); /* a no-op, not a crash */
	stats_destroy(s);
}
END_TEST

START_TEST(slots_are_summed_and_a_dead_worker_loses_only_its_open_gauge)
{
	struct stats *s = stats_create();
	bind_conf(s, conf_of("echo", NULL, NULL));
	int a = stats_slot_claim(s, 0);
	stats_slot_start(s, a, 100, 1, 0);
	int b = stats_slot_claim(s, 1);
	stats_slot_start(s, b, 101, 1, 1);
	ck_assert_int_ne(a, b);
	stats_row *ra = stats_row_of(s, a, 0), *rb = stats_row_of(s, b, 0);
	stats_add(ra, STAT_CONN_ACCEPTED, 3);
	stats_add(ra, STAT_CONN_OPEN, 3);
	stats_add(rb, STAT_CONN_ACCEPTED, 2);
	stats_add(rb, STAT_CONN_OPEN, 2);
	stats_sub(rb, STAT_CONN_OPEN, 1);
	ck_assert_uint_eq(stats_sum(s, 0, STAT_CONN_ACCEPTED), 5);
	ck_assert_uint_eq(stats_sum(s, 0, STAT_CONN_OPEN), 4);
	/* Worker a is killed: its connections are gone, its history is not. */
	stats_slot_end(s, a, true);
	ck_assert_uint_eq(stats_sum(s, 0, STAT_CONN_OPEN), 1);
	ck_assert_uint_eq(stats_sum(s, 0, STAT_CONN_ACCEPTED), 5);
	ck_assert_uint_eq(s->worker_crashes, 1);
	/* Its replacement at the same position continues the same slot. */
	ck_assert_int_eq(stats_slot_claim(s, 0), a);
	stats_slot_start(s, a, 102, 1, 0);
	/* A new generation's worker 0, while the old one drains, gets another slot. */
	int c = stats_slot_claim(s, 0);
	ck_assert_int_ne(c, a);
	ck_assert_int_ne(c, b);
	stats_destroy(s);
}
END_TEST

START_TEST(text_format_prints_totals_per_listener)
{
	struct stats *s = stats_create();
	bind_conf(s, conf_of("echo", "x\"y", "n\nl"));
	stats_slot_start(s, stats_slot_claim(s, 0), 100, 1, 0);
	stats_slot_start(s, stats_slot_claim(s, 1), 101, 1, 1);
	stats_add(stats_row_of(s, 0, 0), STAT_LINES_IN, 7);
	stats_add(stats_row_of(s, 1, 0), STAT_LINES_IN, 5);
	stats_add(stats_row_of(s, 1, 0), STAT_CLOSED_IDLE, 1);
	char *t = text_of(stats_format_text, s);
	ck_assert_ptr_nonnull(strstr(t, "ksockd_lines_received_total{listener=\"echo\"} 12\n"));
	ck_assert_ptr_nonnull(strstr(
	    t, "ksockd_connections_closed_total{listener=\"echo\",reason=\"idle_timeout\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(t, "ksockd_connections_open{listener=\"x\\\"y\"} 0\n"));
	ck_assert_ptr_null(strstr(t, "datagrams")); /* TCP listeners: no UDP counters */
	ck_assert_ptr_nonnull(strstr(t, "ksockd_connections_open{listener=\"n\\nl\"} 0\n"));
	free(t);
	t = text_of(stats_format_workers, s);
	ck_assert_ptr_nonnull(strstr(t, "worker slot=0 pid=100 generation=1 position=0 uptime=0 "
	                                "open=0 state=serving\n"));
	free(t);
	stats_destroy(s);
}
END_TEST

START_TEST(prometheus_format_has_help_type_and_one_series_per_worker)
{
	struct stats *s = stats_create();
	bind_conf(s, conf_of("echo", "dns", NULL));
	lcs[1].protocol = PROTO_UDP;
	bind_conf(s, &conf);
	stats_slot_start(s, stats_slot_claim(s, 0), 100, 1, 0);
	stats_slot_start(s, stats_slot_claim(s, 1), 101, 1, 1);
	stats_add(stats_row_of(s, 1, 0), STAT_BYTES_OUT, 42);
	stats_add(stats_row_of(s, 0, 1), STAT_DGRAM_DROP_RATE, 3);
	stats_add(stats_row_of(s, 1, 1), STAT_LINES_IN, 4);
	char *t = text_of(stats_format_prometheus, s);
	ck_assert_ptr_nonnull(strstr(t, "# HELP ksockd_sent_bytes_total Bytes sent to clients.\n"
	                                "# TYPE ksockd_sent_bytes_total counter\n"));
	ck_assert_ptr_nonnull(
	    strstr(t, "ksockd_sent_bytes_total{listener=\"echo\",worker=\"1\"} 42\n"));
	/* The old name, deprecated, for one more release: same value. */
	ck_assert_ptr_nonnull(strstr(t,
	                             "# HELP ksockd_bytes_sent_total Deprecated, removed in 0.2: "
	                             "use ksockd_sent_bytes_total.\n"));
	ck_assert_ptr_nonnull(
	    strstr(t, "ksockd_bytes_sent_total{listener=\"echo\",worker=\"1\"} 42\n"));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE ksockd_connections_open gauge\n"));
	ck_assert_ptr_nonnull(strstr(
	    t,
	    "ksockd_datagrams_dropped_total{listener=\"dns\",worker=\"0\",reason=\"rate\"} 3\n"));
	ck_assert_ptr_nonnull(
	    strstr(t, "ksockd_lines_received_total{listener=\"dns\",worker=\"1\"} 4\n"));
	ck_assert_ptr_null(strstr(t, "ksockd_connections_open{listener=\"dns\""));
	/* Each family's HELP appears once. */
	const char *first = strstr(t, "# HELP ksockd_connections_refused_total");
	ck_assert_ptr_nonnull(first);
	ck_assert_ptr_null(strstr(first + 1, "# HELP ksockd_connections_refused_total"));
	free(t);
	stats_destroy(s);
}
END_TEST

static char *handler_exchange(const char *name, const struct stats *s, const char *input)
{
	const struct handler *h = handler_find(name);
	ck_assert_ptr_nonnull(h);
	char *state = calloc(1, h->state_size + 1);
	struct session_info si = {.listener = "t", .stats = s};
	struct outbuf out = {0};
	enum handler_result r = h->open ? h->open(state, &si, &out) : HANDLER_OK;
	for (const char *p = input; r == HANDLER_OK && *p;) {
		const char *nl = strchr(p, '\n');
		struct line line = {p, (size_t)(nl - p), nl, 1};
		r = h->line(state, &line, &out);
		p = nl + 1;
	}
	char *t = strndup(outbuf_len(&out) ? outbuf_head(&out) : "", outbuf_len(&out));
	outbuf_free(&out);
	free(state);
	return t;
}

START_TEST(stats_handler_answers_stats_workers_and_errors)
{
	struct stats *s = stats_create();
	bind_conf(s, conf_of("echo", NULL, NULL));
	char *t = handler_exchange("stats", s, "stats\r\nbogus\nquit\nstats\n");
	ck_assert_ptr_nonnull(
	    strstr(t, "ksockd_connections_accepted_total{listener=\"echo\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(t, "\n\nERROR unknown command (stats, workers, quit)\n"));
	/* Nothing after quit. */
	ck_assert_int_eq(
	    strcmp(strstr(t, "ERROR"), "ERROR unknown command (stats, workers, quit)\n"), 0);
	free(t);
	stats_destroy(s);
}
END_TEST

START_TEST(metrics_handler_speaks_just_enough_http)
{
	struct stats *s = stats_create();
	bind_conf(s, conf_of("echo", NULL, NULL));
	char *t = handler_exchange("metrics", s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(t, "HTTP/1.1 200 OK\r\n"));
	char *body = strstr(t, "\r\n\r\n") + 4;
	char want[64];
	snprintf(want, sizeof want, "Content-Length: %zu\r\n", strlen(body));
	ck_assert_ptr_nonnull(strstr(t, want));
	free(t);
	static const struct {
		const char *req, *status;
	} cases[] = {
	    {"GET /metrics HTTP/1.0\n\n", "HTTP/1.0 200 OK\r\n"},
	    {"GET /metrics?a=b HTTP/1.1\n\n", "HTTP/1.1 200 OK\r\n"},
	    {"GET / HTTP/1.1\n\n", "HTTP/1.1 404 Not Found\r\n"},
	    {"GET /metricsx HTTP/1.1\n\n", "HTTP/1.1 404 Not Found\r\n"},
	    {"POST /metrics HTTP/1.1\n\n", "HTTP/1.1 405 Method Not Allowed\r\n"},
	    {"GET /metrics HTTP/2.0\n", "HTTP/1.1 400 Bad Request\r\n"},
	    {"GET /metrics\n", "HTTP/1.1 400 Bad Request\r\n"},
	    {"hello\n", "HTTP/1.1 400 Bad Request\r\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		t = handler_exchange("metrics", s, cases[i].req);
		ck_assert_msg(strncmp(t, cases[i].status, strlen(cases[i].status)) == 0, "%s -> %s",
		              cases[i].req, t);
		free(t);
	}
	stats_destroy(s);
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("counters");
	tcase_add_test(tc, listeners_keep_their_row_by_name_across_reloads);
	tcase_add_test(tc, names_past_the_maximum_are_not_counted);
	tcase_add_test(tc, slots_are_summed_and_a_dead_worker_loses_only_its_open_gauge);
	suite_add_tcase(s, tc);
	tc = tcase_create("formats");
	tcase_add_test(tc, text_format_prints_totals_per_listener);
	tcase_add_test(tc, prometheus_format_has_help_type_and_one_series_per_worker);
	tcase_add_test(tc, stats_handler_answers_stats_workers_and_errors);
	tcase_add_test(tc, metrics_handler_speaks_just_enough_http);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stats_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
