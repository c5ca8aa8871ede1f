/* test_report.c: policy/report.h: parsing usage log lines (as usage_format
 * writes them, and as other programs may), grouping with date filters, and
 * the table, csv and json outputs. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "report.h"
#include "suites.h"
#include "testutil.h"
#include "usage.h"

#define SCRATCH 4096

/* 2026-11-24T00:00:00Z in seconds */
#define DAY24 1795478400LL
#define DAY_S 86400LL

static struct usage_record rec(long long ts, const char *consumer, const char *model, int status,
			       long long prompt, long long completion, bool priced, int64_t cost)
{
	struct usage_record r;

	memset(&r, 0, sizeof(r));
	r.ts.tv_sec = (time_t)ts;
	r.ts.tv_nsec = 999000000;
	r.request_id = "req";
	r.consumer = consumer;
	r.route = "chat";
	r.model = model;
	r.upstream = "up";
	r.status = status;
	r.prompt_tokens = prompt;
	r.completion_tokens = completion;
	r.total_tokens = prompt + completion;
	r.priced = priced;
	r.cost_pico = cost;
	return r;
}

/* Parses line (without its '\n', in a buffer of its exact size). */
static int parse(const char *line, struct report_line *out, char *scratch)
{
	size_t len = strlen(line);
	char *exact;
	int rc;

	if (len && line[len - 1] == '\n')
		len--;
	exact = tu_exact(line, len);
	rc = report_parse_line(exact, len, out, scratch, SCRATCH);
	free(exact);
	return rc;
}

/* usage_format, then report_parse_line. */
static int round_trip(const struct usage_record *r, struct report_line *out, char *scratch)
{
	char *line = usage_format(r);
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	rc = parse(line, out, scratch);
	if (rc != 0)
		fprintf(stderr, "\n    not parsed: %s", line);
	free(line);
	return rc;
}

/* ---- parsing ---- */

static void test_parse_usage_format(void)
{
	char scratch[SCRATCH];
	struct report_line l;
	struct usage_record r = rec(1709251199, "consumer1", "gpt-4o-mini", 200, 10, 5, true,
				    2850000); /* 2024-02-29T23:59:59.999Z */

	CU_ASSERT_EQUAL_FATAL(round_trip(&r, &l, scratch), 0);
	TU_STR(l.day, "2024-02-29");
	TU_STR(l.consumer, "consumer1");
	TU_STR(l.model, "gpt-4o-mini");
	TU_INT(l.status, 200);
	TU_INT(l.prompt_tokens, 10);
	TU_INT(l.completion_tokens, 5);
	CU_ASSERT_TRUE(l.priced);
	TU_INT(l.cost_pico, 2850000);

	/* Unpriced: cost_usd is null. */
	r = rec(1709251200, "c", "m", 503, 0, 0, false, 0);
	CU_ASSERT_EQUAL_FATAL(round_trip(&r, &l, scratch), 0);
	TU_STR(l.day, "2024-03-01");
	TU_INT(l.status, 503);
	CU_ASSERT_FALSE(l.priced);
	TU_INT(l.cost_pico, 0);

	/* A reason, empty names, big numbers. */
	r = rec(0, NULL, NULL, 404, 9007199254740993LL, 1, true, 123456789012345LL);
	r.reason = "blocked";
	CU_ASSERT_EQUAL_FATAL(round_trip(&r, &l, scratch), 0);
	TU_STR(l.day, "1970-01-01");
	TU_STR(l.consumer, "");
	TU_STR(l.model, "");
	TU_INT(l.prompt_tokens, 9007199254740993LL);
	TU_INT(l.cost_pico, 123456789012345LL);

	/* Every cost stats_format_usd may write comes back exactly. */
	{
		static const int64_t costs[] = { 0, 1, 10, 150000, 2850000, 150000000000LL,
						 1500000000000LL, 9000000000000000000LL };
		for (size_t i = 0; i < GW_ARRAY_LEN(costs); i++) {
			r = rec(DAY24, "c", "m", 200, 1, 1, true, costs[i]);
			CU_ASSERT_EQUAL(round_trip(&r, &l, scratch), 0);
			TU_INT(l.cost_pico, costs[i]);
			CU_ASSERT_TRUE(l.priced);
		}
	}
}

/* Names with quotes, backslashes, control bytes and UTF-8 survive. */
static void test_parse_escaped_names(void)
{
	static const char *const names[] = {
		"quote\" and \"more\"",
		"back\\slash\\",
		"new\nline\r\n",
		"tab\tform\fback\bbell\a\x01\x1f\x7f",
		"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
		"slash/and</script>",
		"{\"injected\":true}",
	};
	char scratch[SCRATCH];
	struct report_line l;

	for (size_t i = 0; i < GW_ARRAY_LEN(names); i++) {
		struct usage_record r = rec(DAY24, names[i], names[i], 200, 1, 2, false, 0);
		if (round_trip(&r, &l, scratch) != 0) {
			CU_FAIL("a usage_format line did not parse");
			continue;
		}
		TU_STR(l.consumer, names[i]);
		TU_STR(l.model, names[i]);
		TU_STR(l.day, "2026-11-24");
	}
}

/* Lines written by other programs: \u escapes (also as surrogate pairs),
 * other key orders, spacing, and costs in exponent notation. */
static void test_parse_other_writers(void)
{
	char scratch[SCRATCH];
	struct report_line l;

	CU_ASSERT_EQUAL_FATAL(parse("{\"ts\": \"2026-11-24T10:00:00Z\", \"consumer\": \"caf\\u00e9\", "
				    "\"model\": \"\\u65e5\\ud83d\\ude00\\/x\", \"status\": 200, "
				    "\"prompt_tokens\": 3, \"completion_tokens\": 4, "
				    "\"cost_usd\": 2.85e-06}",
				    &l, scratch),
			    0);
	TU_STR(l.consumer, "caf\xc3\xa9");
	TU_STR(l.model, "\xe6\x97\xa5\xf0\x9f\x98\x80/x");
	TU_INT(l.cost_pico, 2850000);
	CU_ASSERT_TRUE(l.priced);
	TU_INT(l.prompt_tokens, 3);
	TU_INT(l.completion_tokens, 4);

	CU_ASSERT_EQUAL_FATAL(parse("  { \"cost_usd\" : 1.5E-3 ,\"model\":\"m\",\"status\":429,"
				    "\"ts\":\"2026-11-25T00:00:00.000Z\",\"consumer\":\"\\\"q\\\\\","
				    "\"stream\":true,\"extra\":null,\"flag\":false}  \r",
				    &l, scratch),
			    0);
	TU_STR(l.day, "2026-11-25");
	TU_STR(l.consumer, "\"q\\");
	TU_INT(l.status, 429);
	TU_INT(l.cost_pico, 1500000000);
	TU_INT(l.prompt_tokens, 0); /* missing: 0 */

	CU_ASSERT_EQUAL(parse("{\"ts\":\"2026-11-25T00:00:00Z\",\"cost_usd\":0.15}", &l, scratch),
			0);
	TU_INT(l.cost_pico, 150000000000LL);
	CU_ASSERT_EQUAL(parse("{\"ts\":\"2026-11-25T00:00:00Z\",\"cost_usd\":1e-12}", &l, scratch),
			0);
	TU_INT(l.cost_pico, 1);
	CU_ASSERT_EQUAL(parse("{\"ts\":\"2026-11-25T00:00:00Z\",\"cost_usd\":3}", &l, scratch), 0);
	TU_INT(l.cost_pico, 3000000000000LL);
	/* Escapes in keys are decoded too. */
	CU_ASSERT_EQUAL(parse("{\"t\\u0073\":\"2026-11-25T00:00:00Z\",\"mod\\u0065l\":\"x\"}", &l,
			      scratch),
			0);
	TU_STR(l.day, "2026-11-25");
	TU_STR(l.model, "x");
}

static void test_parse_malformed(void)
{
	static const char *const bad[] = {
		"",
		"   ",
		"garbage",
		"\xff\xfe\x00",
		"null",
		"42",
		"\"ts\"",
		"[\"ts\", \"2026-11-24\"]",
		"{}",
		"{",
		"}",
		"{{{{",
		"{\"consumer\":\"a\",\"status\":200}", /* no ts */
		"{\"ts\":}",
		"{\"ts\" \"2026-11-24T00:00:00Z\"}",
		"{\"ts\":\"2026-11-24T00:00:00Z\",}",
		"{\"ts\":\"2026-11-24T00:00:00Z\" \"a\":1}",
		"{\"ts\":\"2026-11-24T00:00:00Z\",\"a\":1",
		"{\"ts\":\"2026-11-24T00:00:00Z\",\"a\":\"unterminated}",
		"{\"ts\":\"2026-11-24T00:00:00Z\",\"a\":\"bad escape \\",
		"{\"ts\":\"2026-11-24T00:00:00Z\",\"model\":\"\\u12\"}",
		"{\"ts\":\"2026-11-24T00:00:00Z\",\"consumer\":\"\\u12G4\"}",
		"{\"ts\":\"2026-11-24T00:00:00Z\",\"a\":tru}",
		"{\"ts\":\"2026-11-24T00:00:00Z\",\"a\":nul}",
		"{\"ts\":\"2026-11-24T00:00:00Z\",\"a\":x}",
		"{ts:\"2026-11-24T00:00:00Z\"}",
		"{'ts':'2026-11-24T00:00:00Z'}",
	};
	char scratch[SCRATCH];
	struct report_line l;

	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		int rc = parse(bad[i], &l, scratch);
		if (rc != -1)
			fprintf(stderr, "\n    accepted: %s\n", bad[i]);
		TU_INT(rc, -1);
	}
}

/* Every proper prefix of a good line is refused, and none is read past. */
static void test_parse_truncated(void)
{
	struct usage_record r = rec(DAY24, "we\"ird", "caf\xc3\xa9", 200, 10, 5, true, 2850000);
	char *line = usage_format(&r);
	size_t len = strlen(line) - 1; /* without '\n' */
	char scratch[SCRATCH];
	struct report_line l;
	size_t accepted = 0;

	for (size_t n = 0; n < len; n++) {
		char *exact = tu_exact(line, n);
		if (report_parse_line(exact, n, &l, scratch, SCRATCH) == 0)
			accepted++;
		free(exact);
	}
	TU_INT(accepted, 0);
	{
		char *exact = tu_exact(line, len);
		TU_INT(report_parse_line(exact, len, &l, scratch, SCRATCH), 0);
		free(exact);
	}
	free(line);
}

/* Whatever room the scratch buffer has, nothing is written past it; when
 * the strings do not fit the line is refused. */
static void test_parse_scratch_bounds(void)
{
	static const char *const lines[] = {
		"{\"ts\":\"2026-11-24T00:00:00Z\",\"a\":\"\",\"consumer\":\"c\"}",
		"{\"\":1,\"ts\":\"2026-11-24\"}",
		"{\"ts\":\"2026-11-24\",\"model\":\"\"}",
		"{\"ts\":\"2026-11-24\",\"model\":\"\\u00e9\\ud83d\\ude00\"}",
	};
	enum { PAD = 16 };

	for (size_t i = 0; i < GW_ARRAY_LEN(lines); i++) {
		size_t len = strlen(lines[i]);
		bool fitted = false;
		for (size_t room = 0; room <= len + 1; room++) {
			char *scratch = gw_malloc(room + PAD);
			struct report_line l;
			bool intact = true;
			memset(scratch, 'Z', room + PAD);
			int rc = report_parse_line(lines[i], len, &l, scratch, room);
			for (size_t k = room; k < room + PAD; k++)
				intact = intact && scratch[k] == 'Z';
			if (!intact)
				fprintf(stderr, "\n    line %zu, room %zu: written past the end\n", i,
					room);
			CU_ASSERT_TRUE(intact);
			if (rc == 0) {
				fitted = true;
				TU_STR(l.day, "2026-11-24");
			} else {
				CU_ASSERT_FALSE(fitted); /* more room never hurts */
			}
			free(scratch);
		}
		CU_ASSERT_TRUE(fitted);
	}
}

/* ---- grouping ---- */

static const char *const sample_log =
	"{\"ts\":\"2026-11-24T08:00:00.000Z\",\"consumer\":\"alice\",\"model\":\"gpt-4o\","
	"\"status\":200,\"prompt_tokens\":10,\"completion_tokens\":5,\"cost_usd\":0.000001}\n"
	"{\"ts\":\"2026-11-25T00:00:00.000Z\",\"consumer\":\"alice\",\"model\":\"gpt-4o\","
	"\"status\":429,\"prompt_tokens\":0,\"completion_tokens\":0,\"cost_usd\":null}\n"
	"not a usage line\n"
	"{\"ts\":\"2026-11-25T23:59:59.999Z\",\"consumer\":\"bob\",\"model\":\"gpt-4o\","
	"\"status\":200,\"prompt_tokens\":20,\"completion_tokens\":10,\"cost_usd\":0.00000285}\n"
	"{\"ts\":\"2026-11-26T12:00:00.000Z\",\"consumer\":\"bob\",\"model\":\"mini\","
	"\"status\":500,\"prompt_tokens\":1,\"completion_tokens\":0,\"cost_usd\":null}\n"
	"\n"
	"{\"ts\":\"2026-11-26T23:00:00.000Z\",\"consumer\":\"alice\",\"model\":\"mini\","
	"\"status\":200,\"prompt_tokens\":3,\"completion_tokens\":4,\"cost_usd\":1.5}\n";

static void read_sample(struct report *r)
{
	FILE *f = fmemopen((void *)sample_log, strlen(sample_log), "r");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(report_read(r, f), 0);
	fclose(f);
}

static const struct report_group *group_of(const struct report *r, const char *key)
{
	for (size_t i = 0; i < r->cap; i++)
		if (r->groups[i].key && strcmp(r->groups[i].key, key) == 0)
			return &r->groups[i];
	return NULL;
}

static void group_is(const struct report *r, const char *key, long long requests,
		     long long errors, long long prompt, long long completion, long long cost,
		     long long unpriced, unsigned at)
{
	const struct report_group *g = group_of(r, key);

	if (!g) {
		fprintf(stderr, "\n    %s:%u: no group \"%s\"\n", __FILE__, at, key);
		tu_assert_ll(0, 1, "group present", at, __FILE__, "group_is");
		return;
	}
	tu_assert_ll(g->requests, requests, "requests", at, __FILE__, "group_is");
	tu_assert_ll(g->errors, errors, "errors", at, __FILE__, "group_is");
	tu_assert_ll(g->prompt_tokens, prompt, "prompt_tokens", at, __FILE__, "group_is");
	tu_assert_ll(g->completion_tokens, completion, "completion_tokens", at, __FILE__,
		     "group_is");
	tu_assert_ll(g->cost_pico, cost, "cost_pico", at, __FILE__, "group_is");
	tu_assert_ll(g->unpriced, unpriced, "unpriced", at, __FILE__, "group_is");
}

#define GROUP(r, key, ...) group_is(r, key, __VA_ARGS__, __LINE__)

static void test_group_by(void)
{
	struct report r;

	report_init(&r, REPORT_BY_CONSUMER, NULL, NULL);
	read_sample(&r);
	TU_INT(r.lines, 7);
	TU_INT(r.bad_lines, 2);
	TU_INT(r.skipped, 0);
	TU_INT(r.n, 2);
	GROUP(&r, "alice", 3, 1, 13, 9, 1500001000000LL, 1);
	GROUP(&r, "bob", 2, 1, 21, 10, 2850000, 1);
	report_free(&r);

	report_init(&r, REPORT_BY_MODEL, "", "");
	read_sample(&r);
	TU_INT(r.n, 2);
	GROUP(&r, "gpt-4o", 3, 1, 30, 15, 3850000, 1);
	GROUP(&r, "mini", 2, 1, 4, 4, 1500000000000LL, 1);
	report_free(&r);

	report_init(&r, REPORT_BY_DAY, NULL, NULL);
	read_sample(&r);
	TU_INT(r.n, 3);
	GROUP(&r, "2026-11-24", 1, 0, 10, 5, 1000000, 0);
	GROUP(&r, "2026-11-25", 2, 1, 20, 10, 2850000, 1);
	GROUP(&r, "2026-11-26", 2, 1, 4, 4, 1500000000000LL, 1);
	report_free(&r);

	report_init(&r, REPORT_BY_CONSUMER_MODEL, NULL, NULL);
	read_sample(&r);
	TU_INT(r.n, 4);
	GROUP(&r, "alice\tgpt-4o", 2, 1, 10, 5, 1000000, 1);
	GROUP(&r, "alice\tmini", 1, 0, 3, 4, 1500000000000LL, 0);
	GROUP(&r, "bob\tgpt-4o", 1, 0, 20, 10, 2850000, 0);
	GROUP(&r, "bob\tmini", 1, 1, 1, 0, 0, 1);
	report_free(&r);
}

/* since and until are inclusive days. */
static void test_date_filters(void)
{
	struct report r;

	report_init(&r, REPORT_BY_CONSUMER, "2026-11-25", "2026-11-25");
	read_sample(&r);
	TU_INT(r.skipped, 3);
	TU_INT(r.n, 2);
	GROUP(&r, "alice", 1, 1, 0, 0, 0, 1);
	GROUP(&r, "bob", 1, 0, 20, 10, 2850000, 0);
	report_free(&r);

	report_init(&r, REPORT_BY_DAY, "2026-11-26", NULL);
	read_sample(&r);
	TU_INT(r.skipped, 3);
	TU_INT(r.n, 1);
	GROUP(&r, "2026-11-26", 2, 1, 4, 4, 1500000000000LL, 1);
	report_free(&r);

	report_init(&r, REPORT_BY_DAY, NULL, "2026-11-24");
	read_sample(&r);
	TU_INT(r.skipped, 4);
	TU_INT(r.n, 1);
	GROUP(&r, "2026-11-24", 1, 0, 10, 5, 1000000, 0);
	report_free(&r);

	report_init(&r, REPORT_BY_DAY, "2026-11-27", "2026-12-31");
	read_sample(&r);
	TU_INT(r.skipped, 5);
	TU_INT(r.n, 0);
	report_free(&r);
}

/* report_add directly, with many groups (the table grows). */
static void test_many_groups(void)
{
	struct report r;
	struct report_line l;
	char name[32];

	report_init(&r, REPORT_BY_CONSUMER, NULL, NULL);
	memset(&l, 0, sizeof(l));
	snprintf(l.day, sizeof(l.day), "2026-11-26");
	l.model = "m";
	l.priced = true;
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "c%d", i % 2500);
		l.consumer = name;
		l.prompt_tokens = i;
		l.cost_pico = 1;
		report_add(&r, &l);
	}
	TU_INT(r.n, 2500);
	GROUP(&r, "c0", 2, 0, 2500, 0, 2, 0);
	GROUP(&r, "c2499", 2, 0, 2499 + 4999, 0, 2, 0);
	report_free(&r);
}

/* ---- output ---- */

static char *print(struct report *r, enum report_format fmt)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	report_print(r, fmt, f);
	fclose(f);
	return text;
}

static void test_print_csv(void)
{
	struct report r;
	char *t;

	report_init(&r, REPORT_BY_CONSUMER, NULL, NULL);
	read_sample(&r);
	t = print(&r, REPORT_CSV);
	TU_STR(t, "consumer,requests,errors,prompt_tokens,completion_tokens,cost_usd,unpriced\n"
		  "alice,3,1,13,9,1.500001,1\n"
		  "bob,2,1,21,10,0.00000285,1\n");
	free(t);
	report_free(&r);

	report_init(&r, REPORT_BY_CONSUMER_MODEL, NULL, NULL);
	read_sample(&r);
	t = print(&r, REPORT_CSV);
	TU_STR(t, "consumer,model,requests,errors,prompt_tokens,completion_tokens,cost_usd,unpriced\n"
		  "alice,gpt-4o,2,1,10,5,0.000001,1\n"
		  "alice,mini,1,0,3,4,1.500000,0\n"
		  "bob,gpt-4o,1,0,20,10,0.00000285,0\n"
		  "bob,mini,1,1,1,0,0.000000,1\n");
	free(t);
	report_free(&r);

	/* Fields with commas, quotes or newlines are quoted. */
	{
		struct report_line l;
		memset(&l, 0, sizeof(l));
		snprintf(l.day, sizeof(l.day), "2026-11-26");
		report_init(&r, REPORT_BY_MODEL, NULL, NULL);
		l.consumer = "c";
		l.model = "a,b";
		report_add(&r, &l);
		l.model = "say \"hi\"";
		report_add(&r, &l);
		l.model = "two\nlines";
		report_add(&r, &l);
		t = print(&r, REPORT_CSV);
		TU_STR(t, "model,requests,errors,prompt_tokens,completion_tokens,cost_usd,unpriced\n"
			  "\"a,b\",1,0,0,0,0.000000,1\n"
			  "\"say \"\"hi\"\"\",1,0,0,0,0.000000,1\n"
			  "\"two\nlines\",1,0,0,0,0.000000,1\n");
		free(t);
		report_free(&r);
	}

	/* No lines: the header alone. */
	report_init(&r, REPORT_BY_DAY, NULL, NULL);
	t = print(&r, REPORT_CSV);
	TU_STR(t, "day,requests,errors,prompt_tokens,completion_tokens,cost_usd,unpriced\n");
	free(t);
	report_free(&r);
}

static json_object *parse_json(const char *text)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		fprintf(stderr, "\n    not JSON: %s\n", text);
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static long long jint(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int)
		       ? (long long)json_object_get_int64(v)
		       : -999;
}

static void test_print_json(void)
{
	struct report r;
	json_object *a, *e, *v;
	char *t;

	report_init(&r, REPORT_BY_CONSUMER_MODEL, NULL, NULL);
	read_sample(&r);
	t = print(&r, REPORT_JSON);
	a = parse_json(t);
	CU_ASSERT_FATAL(a && json_object_is_type(a, json_type_array));
	TU_INT(json_object_array_length(a), 4);
	e = json_object_array_get_idx(a, 3);
	TU_STR(jstr(e, "consumer"), "bob");
	TU_STR(jstr(e, "model"), "mini");
	TU_INT(jint(e, "requests"), 1);
	TU_INT(jint(e, "errors"), 1);
	TU_INT(jint(e, "prompt_tokens"), 1);
	TU_INT(jint(e, "completion_tokens"), 0);
	TU_INT(jint(e, "unpriced_requests"), 1);
	e = json_object_array_get_idx(a, 2);
	TU_STR(jstr(e, "consumer"), "bob");
	TU_STR(jstr(e, "model"), "gpt-4o");
	CU_ASSERT(json_object_object_get_ex(e, "cost_usd", &v) &&
		  json_object_is_type(v, json_type_double));
	TU_STR(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), "0.00000285");
	json_object_put(a);
	free(t);
	report_free(&r);

	/* by day: the key is "day"; hostile names by model are escaped. */
	report_init(&r, REPORT_BY_DAY, NULL, NULL);
	read_sample(&r);
	t = print(&r, REPORT_JSON);
	a = parse_json(t);
	CU_ASSERT_FATAL(a != NULL);
	TU_INT(json_object_array_length(a), 3);
	TU_STR(jstr(json_object_array_get_idx(a, 0), "day"), "2026-11-24");
	json_object_put(a);
	free(t);
	report_free(&r);
	{
		struct report_line l;
		memset(&l, 0, sizeof(l));
		snprintf(l.day, sizeof(l.day), "2026-11-26");
		report_init(&r, REPORT_BY_MODEL, NULL, NULL);
		l.consumer = "c";
		l.model = "q\"b\\n\n\x01\x7f";
		report_add(&r, &l);
		t = print(&r, REPORT_JSON);
		CU_ASSERT_PTR_NOT_NULL(strstr(t, "\\u0001\\u007f")); /* one escaper: 0x7f too */
		a = parse_json(t);
		CU_ASSERT_FATAL(a != NULL);
		TU_STR(jstr(json_object_array_get_idx(a, 0), "model"), "q\"b\\n\n\x01\x7f");
		json_object_put(a);
		free(t);
		report_free(&r);
	}

	/* No lines: an empty array. */
	report_init(&r, REPORT_BY_CONSUMER, NULL, NULL);
	t = print(&r, REPORT_JSON);
	a = parse_json(t);
	CU_ASSERT(a && json_object_is_type(a, json_type_array) && json_object_array_length(a) == 0);
	json_object_put(a);
	free(t);
	report_free(&r);
}

static size_t count_lines(const char *t)
{
	size_t n = 0;
	for (; *t; t++)
		n += *t == '\n';
	return n;
}

static void test_print_table(void)
{
	struct report r;
	char *t;

	report_init(&r, REPORT_BY_CONSUMER, NULL, NULL);
	read_sample(&r);
	t = print(&r, REPORT_TABLE);
	TU_INT(count_lines(t), 3);
	CU_ASSERT(strncmp(t, "consumer ", 9) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "requests"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nalice "));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nbob "));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, " 1.500001 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, " 0.00000285 "));
	CU_ASSERT(strstr(t, "\nalice ") < strstr(t, "\nbob ")); /* sorted */
	free(t);
	report_free(&r);

	report_init(&r, REPORT_BY_CONSUMER_MODEL, NULL, NULL);
	read_sample(&r);
	t = print(&r, REPORT_TABLE);
	TU_INT(count_lines(t), 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "model"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nbob "));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, " mini "));
	free(t);
	report_free(&r);
}

void suite_report(void)
{
	static const struct tu_test tests[] = {
		{ "parse: usage_format lines round-trip", test_parse_usage_format, false },
		{ "parse: escaped names round-trip", test_parse_escaped_names, false },
		{ "parse: other writers (\\u, key order, 2.85e-06)", test_parse_other_writers,
		  false },
		{ "parse: malformed lines refused", test_parse_malformed, false },
		{ "parse: every truncation refused", test_parse_truncated, false },
		{ "parse: scratch buffer bounds", test_parse_scratch_bounds, false },
		{ "group by consumer, model, day, consumer+model", test_group_by, false },
		{ "since and until are inclusive", test_date_filters, false },
		{ "5000 lines in 2500 groups", test_many_groups, false },
		{ "print: csv", test_print_csv, false },
		{ "print: json", test_print_json, false },
		{ "print: table", test_print_table, false },
	};
	tu_register("report", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
