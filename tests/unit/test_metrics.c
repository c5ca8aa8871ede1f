/* test_metrics.c: cgi/metrics.h: Prometheus label escaping, the exposition
 * text over hand-made totals, and the JSON of /_aigw/usage. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "gw.h"
#include "metrics.h"
#include "stats.h"
#include "suites.h"
#include "testutil.h"

/* ---- helpers ---- */

static struct stats_row row(const char *consumer, const char *route, const char *model,
			    int status, int64_t requests, int64_t prompt, int64_t completion,
			    int64_t cost_pico, int64_t unpriced)
{
	struct stats_row r;

	memset(&r, 0, sizeof(r));
	snprintf(r.key.consumer, sizeof(r.key.consumer), "%s", consumer);
	snprintf(r.key.route, sizeof(r.key.route), "%s", route);
	snprintf(r.key.model, sizeof(r.key.model), "%s", model);
	r.key.status = status;
	r.used = 1;
	r.v.requests = requests;
	r.v.prompt_tokens = prompt;
	r.v.completion_tokens = completion;
	r.v.cost_pico = cost_pico;
	r.v.unpriced = unpriced;
	return r;
}

/* How many whole lines of text equal line. */
static size_t count_line(const char *text, const char *line)
{
	size_t n = 0, len = strlen(line);

	for (const char *s = text; s && *s;) {
		const char *nl = strchr(s, '\n');
		size_t l = nl ? (size_t)(nl - s) : strlen(s);
		if (l == len && memcmp(s, line, len) == 0)
			n++;
		s = nl ? nl + 1 : NULL;
	}
	return n;
}

/* How many lines of text start with prefix. */
static size_t count_prefix(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *s = text; s && *s;) {
		const char *nl = strchr(s, '\n');
		if (strncmp(s, prefix, len) == 0)
			n++;
		s = nl ? nl + 1 : NULL;
	}
	return n;
}

static void expect_line(const char *text, const char *line, unsigned at)
{
	size_t n = count_line(text, line);

	if (n != 1)
		fprintf(stderr, "\n    %s:%u: line seen %zu times: %s\n", __FILE__, at, n, line);
	tu_assert_ll((long long)n, 1, "the line appears once", at, __FILE__, "expect_line");
}

#define LINE(text, line) expect_line(text, line, __LINE__)

static void dump_on_failure(const char *text, unsigned failures_before)
{
	if (CU_get_number_of_failures() > failures_before)
		fprintf(stderr, "\n    --- rendered ---\n%s    ---\n", text);
}

/* Every sample line is "name{labels} value" or "name value"; every line
 * ends with '\n'; no raw control byte but the line ends. */
static void check_exposition_shape(const char *text)
{
	size_t len = strlen(text);

	CU_ASSERT(len > 0 && text[len - 1] == '\n');
	for (const char *s = text; *s;) {
		const char *nl = strchr(s, '\n');
		size_t l = nl ? (size_t)(nl - s) : strlen(s);
		bool ok = l > 0;
		if (ok && s[0] != '#') {
			const char *sp = memrchr(s, ' ', l);
			ok = sp && sp > s && sp + 1 < s + l;
		}
		for (size_t i = 0; ok && i < l; i++)
			ok = (unsigned char)s[i] >= 0x20 || s[i] == '\t';
		if (!ok) {
			fprintf(stderr, "\n    malformed line: %.*s\n", (int)l, s);
			CU_FAIL("a malformed exposition line");
			return;
		}
		s = nl ? nl + 1 : s + l;
	}
}

/* ---- metrics_escape ---- */

static void escaped_is(const char *in, const char *want, unsigned at)
{
	struct gw_buf b = { 0 };

	metrics_escape(in, &b);
	tu_assert_str(buf_str(&b), want, "metrics_escape", at, __FILE__, "escaped_is");
	buf_free(&b);
}

#define ESCAPED(in, want) escaped_is(in, want, __LINE__)

static void test_escape(void)
{
	ESCAPED("", "");
	ESCAPED("plain-name_1.2", "plain-name_1.2");
	ESCAPED("back\\slash", "back\\\\slash");
	ESCAPED("say \"hi\"", "say \\\"hi\\\"");
	ESCAPED("two\nlines\n", "two\\nlines\\n");
	ESCAPED("\\\"\n", "\\\\\\\"\\n");
	ESCAPED("\\n", "\\\\n"); /* a backslash and an n stay two characters */
	/* Nothing else is touched: tabs, CR, UTF-8, braces, commas. */
	ESCAPED("tab\there\r{a=\"b\",c}", "tab\there\r{a=\\\"b\\\",c}");
	ESCAPED("caf\xc3\xa9 \xe6\x97\xa5", "caf\xc3\xa9 \xe6\x97\xa5");

	/* Appends to what the buffer holds. */
	{
		struct gw_buf b = { 0 };
		buf_puts(&b, "x=\"");
		metrics_escape("a\"b", &b);
		buf_puts(&b, "\"");
		TU_STR(buf_str(&b), "x=\"a\\\"b\"");
		buf_free(&b);
	}
}

/* ---- metrics_render ---- */

static void sample_rows(struct stats_row rows[4])
{
	rows[0] = row("alice", "chat", "gpt-4o-mini", 200, 3, 100, 50, 2850000, 0);
	rows[1] = row("alice", "chat", "gpt-4o-mini", 429, 1, 0, 0, 0, 0);
	rows[2] = row("bob", "api", "m", 500, 2, 10, 0, 0, 2);
	rows[3] = row("alice", "api", "other", 200, 1, 7, 3, 1500000000000LL, 0);
	/* parts of the prompt tokens read from and written to the cache */
	rows[0].v.cached_tokens = 60;
	rows[0].v.cache_write_tokens = 20;
	rows[3].v.cached_tokens = 2;
	rows[0].v.reasoning_tokens = 9;
}

static void test_render_counters(void)
{
	struct stats_row rows[4];
	struct stats_header h;
	struct gw_buf out = { 0 };
	unsigned before = CU_get_number_of_failures();
	const char *t;

	sample_rows(rows);
	memset(&h, 0, sizeof(h));
	metrics_render(rows, 4, &h, &out);
	t = buf_str(&out);
	check_exposition_shape(t);

	LINE(t, "# TYPE aigw_requests_total counter");
	LINE(t, "aigw_requests_total{consumer=\"alice\",route=\"chat\",model=\"gpt-4o-mini\","
		"status=\"200\"} 3");
	LINE(t, "aigw_requests_total{consumer=\"alice\",route=\"chat\",model=\"gpt-4o-mini\","
		"status=\"429\"} 1");
	LINE(t, "aigw_requests_total{consumer=\"bob\",route=\"api\",model=\"m\",status=\"500\"} 2");
	LINE(t, "aigw_requests_total{consumer=\"alice\",route=\"api\",model=\"other\","
		"status=\"200\"} 1");
	TU_INT(count_prefix(t, "aigw_requests_total{"), 4);

	/* Tokens and cost per (consumer, model), over routes and statuses. */
	LINE(t, "# TYPE aigw_tokens_total counter");
	LINE(t, "aigw_tokens_total{consumer=\"alice\",model=\"gpt-4o-mini\",kind=\"prompt\"} 100");
	LINE(t, "aigw_tokens_total{consumer=\"alice\",model=\"gpt-4o-mini\",kind=\"completion\"} 50");
	LINE(t, "aigw_tokens_total{consumer=\"bob\",model=\"m\",kind=\"prompt\"} 10");
	LINE(t, "aigw_tokens_total{consumer=\"bob\",model=\"m\",kind=\"completion\"} 0");
	LINE(t, "aigw_tokens_total{consumer=\"alice\",model=\"other\",kind=\"prompt\"} 7");
	LINE(t, "aigw_tokens_total{consumer=\"alice\",model=\"other\",kind=\"completion\"} 3");
	/* cached and cache_write: parts of prompt, beside it */
	LINE(t, "aigw_tokens_total{consumer=\"alice\",model=\"gpt-4o-mini\",kind=\"cached\"} 60");
	LINE(t, "aigw_tokens_total{consumer=\"alice\",model=\"gpt-4o-mini\",kind=\"cache_write\"} "
		"20");
	LINE(t, "aigw_tokens_total{consumer=\"alice\",model=\"other\",kind=\"cached\"} 2");
	LINE(t, "aigw_tokens_total{consumer=\"alice\",model=\"other\",kind=\"cache_write\"} 0");
	LINE(t, "aigw_tokens_total{consumer=\"bob\",model=\"m\",kind=\"cached\"} 0");
	TU_INT(count_prefix(t, "aigw_tokens_total{"), 12);

	LINE(t, "# TYPE aigw_cost_usd_total counter");
	LINE(t, "aigw_cost_usd_total{consumer=\"alice\",model=\"gpt-4o-mini\"} 0.00000285");
	LINE(t, "aigw_cost_usd_total{consumer=\"bob\",model=\"m\"} 0.000000");
	LINE(t, "aigw_cost_usd_total{consumer=\"alice\",model=\"other\"} 1.500000");
	TU_INT(count_prefix(t, "aigw_cost_usd_total{"), 3);

	/* Each family: one HELP and one TYPE, before its samples. */
	TU_INT(count_prefix(t, "# HELP "), 5);
	TU_INT(count_prefix(t, "# TYPE "), 5);
	CU_ASSERT(strstr(t, "# TYPE aigw_requests_total") < strstr(t, "aigw_requests_total{"));
	CU_ASSERT(strstr(t, "# TYPE aigw_tokens_total") < strstr(t, "aigw_tokens_total{"));
	CU_ASSERT(strstr(t, "# TYPE aigw_cost_usd_total") < strstr(t, "aigw_cost_usd_total{"));
	dump_on_failure(t, before);
	buf_free(&out);
}

static void test_render_histograms(void)
{
	static const char *const le[STATS_BUCKETS] = { "0.0005", "0.001", "0.0025", "0.005",
						       "0.01",   "0.025", "0.05",   "0.1",
						       "0.25",   "0.5",   "1",      "2.5",
						       "5",      "10" };
	/* cumulative counts for the buckets set below */
	static const int up_cum[STATS_BUCKETS] = { 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4 };
	struct stats_header h;
	struct gw_buf out = { 0 };
	unsigned before = CU_get_number_of_failures();
	const char *t;
	char line[160];

	memset(&h, 0, sizeof(h));
	h.upstream.bucket[0] = 1;
	h.upstream.bucket[3] = 2;
	h.upstream.bucket[13] = 1;
	h.upstream.bucket[STATS_BUCKETS] = 1; /* over 10 s */
	h.upstream.count = 5;
	h.upstream.sum_us = 12345678;
	h.overhead.bucket[0] = 7;
	h.overhead.count = 7;
	h.overhead.sum_us = 700;
	metrics_render(NULL, 0, &h, &out);
	t = buf_str(&out);
	check_exposition_shape(t);

	for (int b = 0; b < STATS_BUCKETS; b++) {
		CU_ASSERT(stats_bucket_le[b] > 0);
		snprintf(line, sizeof(line), "aigw_upstream_seconds_bucket{le=\"%s\"} %d", le[b],
			 up_cum[b]);
		LINE(t, line);
		snprintf(line, sizeof(line), "aigw_overhead_seconds_bucket{le=\"%s\"} 7", le[b]);
		LINE(t, line);
	}
	LINE(t, "aigw_upstream_seconds_bucket{le=\"+Inf\"} 5");
	LINE(t, "aigw_upstream_seconds_sum 12.345678");
	LINE(t, "aigw_upstream_seconds_count 5");
	LINE(t, "# TYPE aigw_upstream_seconds histogram");
	LINE(t, "aigw_overhead_seconds_bucket{le=\"+Inf\"} 7");
	LINE(t, "aigw_overhead_seconds_sum 0.000700");
	LINE(t, "aigw_overhead_seconds_count 7");
	LINE(t, "# TYPE aigw_overhead_seconds histogram");
	TU_INT(count_prefix(t, "aigw_upstream_seconds_bucket{"), STATS_BUCKETS + 1);

	/* Buckets come in ascending order of le, +Inf last. */
	{
		const char *prev = t;
		for (int b = 0; b < STATS_BUCKETS; b++) {
			snprintf(line, sizeof(line), "aigw_upstream_seconds_bucket{le=\"%s\"}", le[b]);
			const char *at = strstr(t, line);
			CU_ASSERT(at != NULL && at >= prev);
			prev = at ? at : prev;
		}
		CU_ASSERT(strstr(t, "aigw_upstream_seconds_bucket{le=\"+Inf\"}") > prev);
	}

	/* No rows: the counter families are there, with no samples. */
	TU_INT(count_prefix(t, "aigw_requests_total{"), 0);
	LINE(t, "# TYPE aigw_requests_total counter");
	dump_on_failure(t, before);
	buf_free(&out);
}

static void test_render_escapes_labels(void)
{
	struct stats_row rows[2];
	struct stats_header h;
	struct gw_buf out = { 0 };
	unsigned before = CU_get_number_of_failures();
	const char *t;

	rows[0] = row("we\"ird\\name", "r\"1", "line\nbreak", 200, 1, 2, 3, 4000000, 0);
	rows[1] = row("", "", "", 502, 6, 0, 0, 0, 0);
	memset(&h, 0, sizeof(h));
	metrics_render(rows, 2, &h, &out);
	t = buf_str(&out);
	check_exposition_shape(t);
	LINE(t, "aigw_requests_total{consumer=\"we\\\"ird\\\\name\",route=\"r\\\"1\","
		"model=\"line\\nbreak\",status=\"200\"} 1");
	LINE(t, "aigw_tokens_total{consumer=\"we\\\"ird\\\\name\",model=\"line\\nbreak\","
		"kind=\"prompt\"} 2");
	LINE(t, "aigw_tokens_total{consumer=\"we\\\"ird\\\\name\",model=\"line\\nbreak\","
		"kind=\"completion\"} 3");
	LINE(t, "aigw_cost_usd_total{consumer=\"we\\\"ird\\\\name\",model=\"line\\nbreak\"} "
		"0.000004");
	/* Empty names are empty label values. */
	LINE(t, "aigw_requests_total{consumer=\"\",route=\"\",model=\"\",status=\"502\"} 6");
	LINE(t, "aigw_cost_usd_total{consumer=\"\",model=\"\"} 0.000000");
	dump_on_failure(t, before);
	buf_free(&out);
}

/* A newline in a consumer name must not move the (consumer, model) split:
 * ("a\nb", "c") and ("a", "b\nc") are two series, not one. */
static void test_render_pairs_stay_apart(void)
{
	struct stats_row rows[2];
	struct stats_header h;
	struct gw_buf out = { 0 };
	unsigned before = CU_get_number_of_failures();
	const char *t;

	rows[0] = row("a\nb", "r", "c", 200, 1, 10, 1, 1000000, 0);
	rows[1] = row("a", "r", "b\nc", 200, 1, 20, 2, 2000000, 0);
	memset(&h, 0, sizeof(h));
	metrics_render(rows, 2, &h, &out);
	t = buf_str(&out);
	LINE(t, "aigw_tokens_total{consumer=\"a\\nb\",model=\"c\",kind=\"prompt\"} 10");
	LINE(t, "aigw_tokens_total{consumer=\"a\",model=\"b\\nc\",kind=\"prompt\"} 20");
	LINE(t, "aigw_cost_usd_total{consumer=\"a\\nb\",model=\"c\"} 0.000001");
	LINE(t, "aigw_cost_usd_total{consumer=\"a\",model=\"b\\nc\"} 0.000002");
	TU_INT(count_prefix(t, "aigw_tokens_total{"), 8);
	dump_on_failure(t, before);
	buf_free(&out);
}

/* ---- usage_period ---- */

static json_object *member(json_object *o, const char *k)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, k, &v))
		return NULL;
	return v;
}

static long long int_at(json_object *o, const char *k)
{
	json_object *v = member(o, k);

	return v && json_object_is_type(v, json_type_int) ? (long long)json_object_get_int64(v)
							  : -999;
}

/* The cost as the JSON text shows it. */
static const char *cost_text(json_object *o)
{
	json_object *v = member(o, "cost_usd");

	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : NULL;
}

static void totals_are(json_object *e, long long requests, long long errors, long long prompt,
		       long long completion, const char *cost, long long unpriced, unsigned at)
{
	tu_assert_ll(e != NULL, 1, "entry present", at, __FILE__, "totals_are");
	tu_assert_ll(int_at(e, "requests"), requests, "requests", at, __FILE__, "totals_are");
	tu_assert_ll(int_at(e, "errors"), errors, "errors", at, __FILE__, "totals_are");
	tu_assert_ll(int_at(e, "prompt_tokens"), prompt, "prompt_tokens", at, __FILE__,
		     "totals_are");
	tu_assert_ll(int_at(e, "completion_tokens"), completion, "completion_tokens", at, __FILE__,
		     "totals_are");
	tu_assert_str(cost_text(e), cost, "cost_usd", at, __FILE__, "totals_are");
	tu_assert_ll(int_at(e, "unpriced_requests"), unpriced, "unpriced_requests", at, __FILE__,
		     "totals_are");
	tu_assert_ll(member(e, "cost_pico") == NULL, 1, "no cost_pico left", at, __FILE__,
		     "totals_are");
}

#define TOTALS(e, ...) totals_are(e, __VA_ARGS__, __LINE__)

static json_object *find_row(json_object *rows, const char *consumer, const char *model)
{
	for (size_t i = 0; rows && i < json_object_array_length(rows); i++) {
		json_object *r = json_object_array_get_idx(rows, i);
		json_object *c = member(r, "consumer"), *m = member(r, "model");
		if (c && m && strcmp(json_object_get_string(c), consumer) == 0 &&
		    strcmp(json_object_get_string(m), model) == 0)
			return r;
	}
	return NULL;
}

static void test_usage_period(void)
{
	struct stats_row rows[4];
	struct usage_period p;
	json_object *o, *rs, *back;
	const char *text;

	sample_rows(rows);
	usage_period_init(&p);
	/* Added in two calls, as two day files would be. */
	usage_period_add(&p, rows, 2);
	usage_period_add(&p, rows + 2, 2);
	o = usage_period_finish(&p, "2026-11-01", "2026-11-26");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_PTR_NULL(p.consumers); /* released into the result */

	TU_STR(json_object_get_string(member(o, "since")), "2026-11-01");
	TU_STR(json_object_get_string(member(o, "until")), "2026-11-26");

	TU_INT(json_object_object_length(member(o, "consumers")), 2);
	TOTALS(member(member(o, "consumers"), "alice"), 5, 1, 107, 53, "1.50000285", 0);
	TOTALS(member(member(o, "consumers"), "bob"), 2, 2, 10, 0, "0.000000", 2);

	TU_INT(json_object_object_length(member(o, "models")), 3);
	TOTALS(member(member(o, "models"), "gpt-4o-mini"), 4, 1, 100, 50, "0.00000285", 0);
	TOTALS(member(member(o, "models"), "m"), 2, 2, 10, 0, "0.000000", 2);
	TOTALS(member(member(o, "models"), "other"), 1, 0, 7, 3, "1.500000", 0);

	rs = member(o, "rows");
	CU_ASSERT_FATAL(rs && json_object_is_type(rs, json_type_array));
	TU_INT(json_object_array_length(rs), 3);
	TOTALS(find_row(rs, "alice", "gpt-4o-mini"), 4, 1, 100, 50, "0.00000285", 0);
	TOTALS(find_row(rs, "bob", "m"), 2, 2, 10, 0, "0.000000", 2);
	TOTALS(find_row(rs, "alice", "other"), 1, 0, 7, 3, "1.500000", 0);

	TOTALS(member(o, "total"), 7, 3, 117, 53, "1.50000285", 2);

	/* cache and reasoning tokens, per consumer, model, row and in total */
	TU_INT(int_at(member(member(o, "consumers"), "alice"), "cached_tokens"), 62);
	TU_INT(int_at(member(member(o, "consumers"), "alice"), "cache_write_tokens"), 20);
	TU_INT(int_at(member(member(o, "consumers"), "bob"), "cached_tokens"), 0);
	TU_INT(int_at(member(member(o, "models"), "other"), "cached_tokens"), 2);
	TU_INT(int_at(member(member(o, "models"), "other"), "cache_write_tokens"), 0);
	TU_INT(int_at(find_row(rs, "alice", "gpt-4o-mini"), "cached_tokens"), 60);
	TU_INT(int_at(find_row(rs, "alice", "gpt-4o-mini"), "cache_write_tokens"), 20);
	TU_INT(int_at(find_row(rs, "alice", "gpt-4o-mini"), "reasoning_tokens"), 9);
	TU_INT(int_at(member(o, "total"), "cached_tokens"), 62);
	TU_INT(int_at(member(o, "total"), "cache_write_tokens"), 20);
	TU_INT(int_at(member(o, "total"), "reasoning_tokens"), 9);

	/* The whole text is JSON, and the cost reads back as a number. */
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	back = json_tokener_parse(text);
	CU_ASSERT_PTR_NOT_NULL(back);
	if (back) {
		json_object *c = member(member(back, "total"), "cost_usd");
		CU_ASSERT(c && json_object_is_type(c, json_type_double));
		CU_ASSERT(c && json_object_get_double(c) > 1.5000028499 &&
			  json_object_get_double(c) < 1.5000028501);
	}
	json_object_put(back);
	json_object_put(o);
}

static void test_usage_period_empty(void)
{
	struct usage_period p;
	json_object *o;

	usage_period_init(&p);
	usage_period_add(&p, NULL, 0);
	o = usage_period_finish(&p, "2026-11-26", "2026-11-26");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	TU_INT(json_object_object_length(member(o, "consumers")), 0);
	TU_INT(json_object_object_length(member(o, "models")), 0);
	TU_INT(json_object_array_length(member(o, "rows")), 0);
	TOTALS(member(o, "total"), 0, 0, 0, 0, "0.000000", 0);
	TU_INT(int_at(member(o, "total"), "cached_tokens"), 0);
	TU_INT(int_at(member(o, "total"), "cache_write_tokens"), 0);
	json_object_put(o);
}

/* Errors are the requests of statuses from 400 up; 399 is not one. */
static void test_usage_period_errors(void)
{
	struct stats_row rows[5];
	struct usage_period p;
	json_object *o;

	rows[0] = row("c", "r", "m", 399, 1, 0, 0, 0, 0);
	rows[1] = row("c", "r", "m", 400, 2, 0, 0, 0, 0);
	rows[2] = row("c", "r", "m", 404, 4, 0, 0, 0, 0);
	rows[3] = row("c", "r", "m", 599, 8, 0, 0, 0, 0);
	rows[4] = row("c", "r", "m", 0, 16, 0, 0, 0, 0);
	usage_period_init(&p);
	usage_period_add(&p, rows, 5);
	o = usage_period_finish(&p, "", "");
	TOTALS(member(o, "total"), 31, 14, 0, 0, "0.000000", 0);
	TU_INT(json_object_array_length(member(o, "rows")), 1);
	json_object_put(o);
}

/* Rows of ("a\nb", "c") and ("a", "b\nc") stay two rows. */
static void test_usage_period_pairs_stay_apart(void)
{
	struct stats_row rows[2];
	struct usage_period p;
	json_object *o, *rs;

	rows[0] = row("a\nb", "r", "c", 200, 1, 10, 0, 0, 1);
	rows[1] = row("a", "r", "b\nc", 200, 1, 20, 0, 0, 1);
	usage_period_init(&p);
	usage_period_add(&p, rows, 2);
	o = usage_period_finish(&p, "", "");
	rs = member(o, "rows");
	TU_INT(json_object_array_length(rs), 2);
	TOTALS(find_row(rs, "a\nb", "c"), 1, 0, 10, 0, "0.000000", 1);
	TOTALS(find_row(rs, "a", "b\nc"), 1, 0, 20, 0, "0.000000", 1);
	json_object_put(o);
}

/* One series entry's numbers, and its cost as the text JSON carries. */
static void series_is(json_object *e, const char *date, long long calls, long long prompt,
		      long long completion, const char *usd, int line)
{
	json_object *c = member(e, "cost_usd");

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	if (date)
		TU_STR(json_object_get_string(member(e, "date")), date);
	tu_assert_ll(json_object_get_int64(member(e, "calls")), calls, "calls", (unsigned)line,
		     __FILE__, __func__);
	tu_assert_ll(json_object_get_int64(member(e, "prompt_tokens")), prompt, "prompt",
		     (unsigned)line, __FILE__, __func__);
	tu_assert_ll(json_object_get_int64(member(e, "completion_tokens")), completion,
		     "completion", (unsigned)line, __FILE__, __func__);
	tu_assert_ll(json_object_get_int64(member(e, "total_tokens")), prompt + completion,
		     "total", (unsigned)line, __FILE__, __func__);
	tu_assert_str(c ? json_object_to_json_string(c) : "(none)", usd, "cost_usd",
		      (unsigned)line, __FILE__, __func__);
}
#define SERIES(e, ...) series_is(e, __VA_ARGS__, __LINE__)

/* Three days, the middle one empty: an entry each, in order, with per
 * consumer and per model breakdowns; errors count as calls. */
static void test_usage_series(void)
{
	struct stats_row d1[3], d3[1];
	struct usage_day days[3] = {
		{ 1764547200000LL, d1, 3 }, /* 2025-12-01 */
		{ 1764633600000LL, NULL, 0 },
		{ 1764720000000LL, d3, 1 },
	};
	json_object *s, *e;

	d1[0] = row("alice", "r", "gpt", 200, 2, 10, 5, 1500000000LL, 0);
	d1[1] = row("alice", "r2", "emb", 200, 1, 7, 0, 0, 1);
	d1[2] = row("bob", "r", "gpt", 429, 3, 0, 0, 0, 0);
	d3[0] = row("bob", "r", "gpt", 200, 1, 1, 1, 2000000000000LL, 0);
	d1[0].v.cached_tokens = 6;
	d1[0].v.cache_write_tokens = 2;
	d1[1].v.cached_tokens = 3;
	s = usage_series(days, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	TU_INT(json_object_array_length(s), 3);
	e = json_object_array_get_idx(s, 0);
	SERIES(e, "2025-12-01", 6, 17, 5, "0.001500");
	SERIES(member(member(e, "consumers"), "alice"), NULL, 3, 17, 5, "0.001500");
	SERIES(member(member(e, "consumers"), "bob"), NULL, 3, 0, 0, "0.000000");
	SERIES(member(member(e, "models"), "gpt"), NULL, 5, 10, 5, "0.001500");
	SERIES(member(member(e, "models"), "emb"), NULL, 1, 7, 0, "0.000000");
	/* cache tokens: parts of prompt_tokens, not added to total_tokens */
	TU_INT(int_at(e, "cached_tokens"), 9);
	TU_INT(int_at(e, "cache_write_tokens"), 2);
	TU_INT(int_at(member(member(e, "consumers"), "alice"), "cached_tokens"), 9);
	TU_INT(int_at(member(member(e, "models"), "gpt"), "cached_tokens"), 6);
	TU_INT(int_at(member(member(e, "models"), "gpt"), "cache_write_tokens"), 2);
	TU_INT(int_at(member(member(e, "consumers"), "bob"), "cached_tokens"), 0);
	e = json_object_array_get_idx(s, 1);
	TU_INT(int_at(e, "cached_tokens"), 0);
	TU_INT(int_at(e, "cache_write_tokens"), 0);
	SERIES(e, "2025-12-02", 0, 0, 0, "0.000000");
	TU_INT(json_object_object_length(member(e, "consumers")), 0);
	TU_INT(json_object_object_length(member(e, "models")), 0);
	e = json_object_array_get_idx(s, 2);
	SERIES(e, "2025-12-03", 1, 1, 1, "2.000000");
	TU_INT(json_object_object_length(member(e, "consumers")), 1);
	json_object_put(s);
}

/* No days: an empty array. Hostile names are plain JSON keys. */
static void test_usage_series_edges(void)
{
	struct stats_row r[1];
	struct usage_day d = { 0, r, 1 };
	json_object *s = usage_series(NULL, 0), *c;

	TU_INT(json_object_array_length(s), 0);
	json_object_put(s);
	r[0] = row("\"</script>\n", "r", "m", 200, 1, 0, 0, 0, 0);
	s = usage_series(&d, 1);
	TU_STR(json_object_get_string(member(json_object_array_get_idx(s, 0), "date")),
	       "1970-01-01");
	c = member(json_object_array_get_idx(s, 0), "consumers");
	CU_ASSERT_PTR_NOT_NULL(member(c, "\"</script>\n"));
	json_object_put(s);
}

static void test_in_flight(void)
{
	const char *names[] = { "alice", "evil\"\n{x=\"1\"}" };
	long long held[] = { 3, 0 };
	struct gw_buf out = { 0 };

	metrics_render_in_flight(names, held, 2, &out);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf_str(&out), "# TYPE aigw_in_flight gauge\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf_str(&out), "aigw_in_flight{consumer=\"alice\"} 3\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(buf_str(&out), "aigw_in_flight{consumer=\"evil\\\"\\n{x=\\\"1\\\"}\"} 0\n"));
	buf_free(&out);
	metrics_render_in_flight(NULL, NULL, 0, &out);
	CU_ASSERT_PTR_NULL(strstr(buf_str(&out), "aigw_in_flight{"));
	buf_free(&out);
}

void suite_metrics(void)
{
	static const struct tu_test tests[] = {
		{ "metrics_escape: \\ \" and newline", test_escape, false },
		{ "render: requests, tokens, cost lines", test_render_counters, false },
		{ "render: cumulative histograms, +Inf, _sum, _count", test_render_histograms,
		  false },
		{ "render: hostile label values escaped", test_render_escapes_labels, false },
		{ "render: (consumer, model) pairs stay apart", test_render_pairs_stay_apart,
		  false },
		{ "in_flight: a gauge per consumer, labels escaped", test_in_flight, false },
		{ "usage_period: consumers, models, rows, total", test_usage_period, false },
		{ "usage_period: empty", test_usage_period_empty, false },
		{ "usage_period: errors are status >= 400", test_usage_period_errors, false },
		{ "usage_period: (consumer, model) pairs stay apart",
		  test_usage_period_pairs_stay_apart, false },
		{ "usage_series: a day each, breakdowns, empty days", test_usage_series, false },
		{ "usage_series: no days, hostile names", test_usage_series_edges, false },
	};
	tu_register("metrics", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
