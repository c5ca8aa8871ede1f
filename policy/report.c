/* report.c: usage-log summaries; each line read with json-c. */
#include "report.h"
#include "buf.h"
#include "gw.h"
#include "jsonc.h"
#include "policy.h"
#include "stats.h"
#include "str.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading one line with json-c ---- */

/* A field's integer (a fraction is cut; below 0 and not a number read as 0). */
static int64_t field_int(json_object *v)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return 0;
	n = json_object_get_int64(v);
	return n < 0 ? 0 : n;
}

/* Decimal dollars as the log writes them ("0.00000285") to pico-USD, from
 * the number's text as written (json-c keeps it), so no digit is lost. */
static int64_t field_pico(json_object *v, bool *priced)
{
	const char *t;
	int64_t pico;

	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return 0;
	*priced = true;
	t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	if (policy_parse_decimal(t, 12, INT64_MAX / 2, &pico) == 0)
		return pico;
	return (int64_t)llround(json_object_get_double(v) * 1e12); /* "2.85e-06" from other writers */
}

/* Copies string field v into scratch; NULL when it does not fit. */
static const char *field_str(json_object *v, char **scratch, char *end)
{
	size_t n = (size_t)json_object_get_string_len(v);
	char *s = *scratch;

	if ((size_t)(end - s) <= n)
		return NULL;
	memcpy(s, json_object_get_string(v), n);
	s[n] = '\0';
	*scratch = s + n + 1;
	return s;
}

static int parse_with(struct json_tokener *tok, const char *line, size_t len,
		      struct report_line *out, char *scratch, size_t scratch_len)
{
	json_object *o = jsonc_parse(tok, line, len), *v;
	char *end = scratch + scratch_len;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->consumer = out->model = "";
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;
	if (json_object_object_get_ex(o, "event", NULL)) { /* an alert line, not a request */
		rc = 1;
		goto out;
	}
	if (!json_object_object_get_ex(o, "ts", &v) || !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0)
		goto out;
	snprintf(out->day, sizeof(out->day), "%.10s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "consumer", &v) && json_object_is_type(v, json_type_string) &&
	    !(out->consumer = field_str(v, &scratch, end)))
		goto out;
	if (json_object_object_get_ex(o, "model", &v) && json_object_is_type(v, json_type_string) &&
	    !(out->model = field_str(v, &scratch, end)))
		goto out;
	if (json_object_object_get_ex(o, "status", &v))
		out->status = (int)(field_int(v) > 999 ? 999 : field_int(v));
	if (json_object_object_get_ex(o, "prompt_tokens", &v))
		out->prompt_tokens = field_int(v);
	if (json_object_object_get_ex(o, "completion_tokens", &v))
		out->completion_tokens = field_int(v);
	if (json_object_object_get_ex(o, "cost_usd", &v))
		out->cost_pico = field_pico(v, &out->priced);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

int report_parse_line(const char *line, size_t len, struct report_line *out, char *scratch,
		      size_t scratch_len)
{
	struct json_tokener *tok = json_tokener_new_ex(REPORT_MAX_DEPTH);
	int rc;

	if (!tok)
		return -1;
	rc = parse_with(tok, line, len, out, scratch, scratch_len);
	json_tokener_free(tok);
	return rc;
}

/* ---- grouping ---- */

void report_init(struct report *r, enum report_by by, const char *since, const char *until)
{
	memset(r, 0, sizeof(*r));
	r->by = by;
	snprintf(r->since, sizeof(r->since), "%s", since ? since : "");
	snprintf(r->until, sizeof(r->until), "%s", until ? until : "");
	r->cap = 1024;
	r->groups = gw_calloc(r->cap, sizeof(*r->groups));
}

static uint64_t hash_str(const char *s)
{
	return str_fnv1a(s, strlen(s));
}

static void grow(struct report *r)
{
	struct report_group *old = r->groups;
	size_t old_cap = r->cap;

	r->cap *= 2;
	r->groups = gw_calloc(r->cap, sizeof(*r->groups));
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].key)
			continue;
		size_t k = hash_str(old[i].key) % r->cap;
		while (r->groups[k].key)
			k = (k + 1) % r->cap;
		r->groups[k] = old[i];
	}
	free(old);
}

static struct report_group *group(struct report *r, const char *key)
{
	size_t k;

	if (2 * (r->n + 1) > r->cap)
		grow(r);
	k = hash_str(key) % r->cap;
	while (r->groups[k].key && strcmp(r->groups[k].key, key) != 0)
		k = (k + 1) % r->cap;
	if (!r->groups[k].key) {
		r->groups[k].key = gw_strdup(key);
		r->n++;
	}
	return &r->groups[k];
}

void report_add(struct report *r, const struct report_line *l)
{
	char key[256];
	struct report_group *g;

	if ((r->since[0] && strcmp(l->day, r->since) < 0) ||
	    (r->until[0] && strcmp(l->day, r->until) > 0)) {
		r->skipped++;
		return;
	}
	switch (r->by) {
	case REPORT_BY_CONSUMER:
		snprintf(key, sizeof(key), "%s", l->consumer);
		break;
	case REPORT_BY_MODEL:
		snprintf(key, sizeof(key), "%s", l->model);
		break;
	case REPORT_BY_DAY:
		snprintf(key, sizeof(key), "%s", l->day);
		break;
	case REPORT_BY_CONSUMER_MODEL:
		snprintf(key, sizeof(key), "%s\t%s", l->consumer, l->model);
		break;
	}
	g = group(r, key);
	g->requests++;
	g->errors += l->status >= 400;
	g->prompt_tokens += l->prompt_tokens;
	g->completion_tokens += l->completion_tokens;
	g->cost_pico += l->cost_pico;
	g->unpriced += !l->priced;
}

int report_read(struct report *r, FILE *f)
{
	char *line = NULL, scratch[4096];
	size_t cap = 0;
	ssize_t n;
	struct json_tokener *tok = json_tokener_new_ex(REPORT_MAX_DEPTH);

	if (!tok) {
		errno = ENOMEM;
		return -1;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		struct report_line l;
		int rc = parse_with(tok, line, (size_t)n, &l, scratch, sizeof(scratch));
		r->lines++;
		if (rc < 0)
			r->bad_lines++;
		else if (rc == 0)
			report_add(r, &l);
	}
	free(line);
	json_tokener_free(tok);
	return ferror(f) ? -1 : 0;
}

/* ---- output ---- */

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct report_group *)a)->key, ((const struct report_group *)b)->key);
}

/* Compacts the hash table into a sorted array (the table is unusable after). */
static void sort_groups(struct report *r)
{
	size_t k = 0;
	for (size_t i = 0; i < r->cap; i++)
		if (r->groups[i].key)
			r->groups[k++] = r->groups[i];
	r->cap = k;
	qsort(r->groups, k, sizeof(*r->groups), cmp_group);
}

static const char *const by_names[] = { "consumer", "model", "day", "consumer\tmodel" };

/* Writes s as a CSV field (quoted when it holds a comma, quote or newline). */
static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void json_string(FILE *out, const char *s)
{
	struct gw_buf b = { 0 };

	buf_json_string(&b, s, strlen(s));
	fwrite(b.data, 1, b.len, out);
	buf_free(&b);
}

static void print_row(const struct report *r, const struct report_group *g, enum report_format fmt,
		      FILE *out, bool first)
{
	char usd[40], k1[256], *k2 = NULL;

	stats_format_usd(g->cost_pico, usd);
	snprintf(k1, sizeof(k1), "%s", g->key);
	if (r->by == REPORT_BY_CONSUMER_MODEL && (k2 = strchr(k1, '\t')))
		*k2++ = '\0';
	if (fmt == REPORT_JSON) {
		fputs(first ? "\n  {" : ",\n  {", out);
		fprintf(out, "\"%s\": ", r->by == REPORT_BY_CONSUMER_MODEL ? "consumer" : by_names[r->by]);
		json_string(out, k1);
		if (k2) {
			fputs(", \"model\": ", out);
			json_string(out, k2);
		}
		fprintf(out, ", \"requests\": %lld, \"errors\": %lld, \"prompt_tokens\": %lld, "
			     "\"completion_tokens\": %lld, \"cost_usd\": %s, \"unpriced_requests\": %lld}",
			(long long)g->requests, (long long)g->errors, (long long)g->prompt_tokens,
			(long long)g->completion_tokens, usd, (long long)g->unpriced);
	} else if (fmt == REPORT_CSV) {
		csv_field(out, k1);
		if (k2) {
			fputc(',', out);
			csv_field(out, k2);
		}
		fprintf(out, ",%lld,%lld,%lld,%lld,%s,%lld\n", (long long)g->requests,
			(long long)g->errors, (long long)g->prompt_tokens,
			(long long)g->completion_tokens, usd, (long long)g->unpriced);
	} else {
		fprintf(out, "%-24s ", k1[0] ? k1 : "-");
		if (r->by == REPORT_BY_CONSUMER_MODEL)
			fprintf(out, "%-24s ", k2 && *k2 ? k2 : "-");
		fprintf(out, "%10lld %8lld %14lld %14lld %16s %8lld\n", (long long)g->requests,
			(long long)g->errors, (long long)g->prompt_tokens,
			(long long)g->completion_tokens, usd, (long long)g->unpriced);
	}
}

void report_print(struct report *r, enum report_format fmt, FILE *out)
{
	static const char *const cols = "requests,errors,prompt_tokens,completion_tokens,cost_usd,unpriced";

	sort_groups(r);
	if (fmt == REPORT_CSV)
		fprintf(out, "%s,%s\n",
			r->by == REPORT_BY_CONSUMER_MODEL ? "consumer,model" : by_names[r->by], cols);
	else if (fmt == REPORT_JSON)
		fputs("[", out);
	else {
		fprintf(out, "%-24s ", r->by == REPORT_BY_CONSUMER_MODEL ? "consumer" : by_names[r->by]);
		if (r->by == REPORT_BY_CONSUMER_MODEL)
			fprintf(out, "%-24s ", "model");
		fprintf(out, "%10s %8s %14s %14s %16s %8s\n", "requests", "errors", "prompt_tok",
			"completion_tok", "cost_usd", "unpriced");
	}
	for (size_t i = 0; i < r->cap; i++)
		print_row(r, &r->groups[i], fmt, out, i == 0);
	if (fmt == REPORT_JSON)
		fputs(r->cap ? "\n]\n" : "]\n", out);
}

void report_free(struct report *r)
{
	for (size_t i = 0; i < r->cap; i++)
		free(r->groups[i].key);
	free(r->groups);
	memset(r, 0, sizeof(*r));
}
