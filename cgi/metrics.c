/* metrics.c: Prometheus text and usage JSON from usage totals. */
#include "metrics.h"
#include "gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void metrics_escape(const char *s, struct gw_buf *out)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(out, "\\\\");
		else if (*s == '"')
			buf_puts(out, "\\\"");
		else if (*s == '\n')
			buf_puts(out, "\\n");
		else
			buf_append(out, s, 1);
	}
}

static void label(struct gw_buf *out, const char *name, const char *value, bool first)
{
	buf_printf(out, "%s%s=\"", first ? "" : ",", name);
	metrics_escape(value, out);
	buf_puts(out, "\"");
}

static int64_t get64(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static void add64(json_object *o, const char *k, int64_t d)
{
	json_object_object_add(o, k, json_object_new_int64(get64(o, k) + d));
}

/* The key of a (consumer, model) pair: both escaped as label values, joined
 * by a newline. An escaped name holds no raw newline, so names that contain
 * one cannot make two pairs share a key, and the split is unambiguous. */
static void pair_key(const struct stats_row *r, struct gw_buf *key)
{
	buf_reset(key);
	metrics_escape(r->key.consumer, key);
	buf_append(key, "\n", 1);
	metrics_escape(r->key.model, key);
}

/* Groups rows by (consumer, model) for the token and cost series; the keys
 * are pair_key()s. */
static json_object *by_consumer_model(const struct stats_row *rows, size_t n)
{
	json_object *g = json_object_new_object();
	struct gw_buf key = { 0 };

	for (size_t i = 0; i < n; i++) {
		json_object *e;
		pair_key(&rows[i], &key);
		if (!json_object_object_get_ex(g, buf_str(&key), &e)) {
			e = json_object_new_object();
			json_object_object_add(g, buf_str(&key), e);
		}
		add64(e, "prompt", rows[i].v.prompt_tokens);
		add64(e, "completion", rows[i].v.completion_tokens);
		add64(e, "cached", rows[i].v.cached_tokens);
		add64(e, "cache_write", rows[i].v.cache_write_tokens);
		add64(e, "cost", rows[i].v.cost_pico);
	}
	buf_free(&key);
	return g;
}

/* Appends consumer="..",model=".." from a pair_key(), already escaped. */
static void pair_labels(struct gw_buf *out, const char *key)
{
	const char *nl = strchr(key, '\n');

	buf_puts(out, "consumer=\"");
	buf_append(out, key, (size_t)(nl - key));
	buf_puts(out, "\",model=\"");
	buf_puts(out, nl + 1);
	buf_puts(out, "\"");
}

static void histogram(struct gw_buf *out, const char *name, const char *help,
		      const struct stats_histogram *h)
{
	int64_t cum = 0;

	buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int b = 0; b < STATS_BUCKETS; b++) {
		cum += h->bucket[b];
		buf_printf(out, "%s_bucket{le=\"%g\"} %" PRId64 "\n", name, stats_bucket_le[b], cum);
	}
	buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRId64 "\n", name, h->count);
	buf_printf(out, "%s_sum %.6f\n%s_count %" PRId64 "\n", name, (double)h->sum_us / 1e6, name,
		   h->count);
}

/* The kind label of aigw_tokens_total, each a field of by_consumer_model(). */
static const char *const token_kinds[] = { "prompt", "completion", "cached", "cache_write" };

void metrics_render(const struct stats_row *rows, size_t n, const struct stats_header *h,
		    struct gw_buf *out)
{
	json_object *g;

	buf_puts(out, "# HELP aigw_requests_total Requests finished by the gateway.\n"
		      "# TYPE aigw_requests_total counter\n");
	for (size_t i = 0; i < n; i++) {
		buf_puts(out, "aigw_requests_total{");
		label(out, "consumer", rows[i].key.consumer, true);
		label(out, "route", rows[i].key.route, false);
		label(out, "model", rows[i].key.model, false);
		buf_printf(out, ",status=\"%d\"} %" PRId64 "\n", rows[i].key.status,
			   rows[i].v.requests);
	}
	g = by_consumer_model(rows, n);
	buf_puts(out, "# HELP aigw_tokens_total Tokens reported by the upstream; cached and "
		      "cache_write are parts of prompt.\n"
		      "# TYPE aigw_tokens_total counter\n");
	json_object_object_foreach(g, key, e) {
		for (size_t kind = 0; kind < GW_ARRAY_LEN(token_kinds); kind++) {
			buf_puts(out, "aigw_tokens_total{");
			pair_labels(out, key);
			buf_printf(out, ",kind=\"%s\"} %" PRId64 "\n", token_kinds[kind],
				   get64(e, token_kinds[kind]));
		}
	}
	buf_puts(out, "# HELP aigw_cost_usd_total Cost of the answers in US dollars.\n"
		      "# TYPE aigw_cost_usd_total counter\n");
	json_object_object_foreach(g, key2, e2) {
		char usd[40];
		stats_format_usd(get64(e2, "cost"), usd);
		buf_puts(out, "aigw_cost_usd_total{");
		pair_labels(out, key2);
		buf_printf(out, "} %s\n", usd);
	}
	json_object_put(g);
	histogram(out, "aigw_upstream_seconds", "Time spent waiting for the upstream.", &h->upstream);
	histogram(out, "aigw_overhead_seconds", "Time the gateway added to each request.",
		  &h->overhead);
}

/* ---- /_aigw/usage ---- */

void metrics_render_in_flight(const char *const *names, const long long *held, size_t n,
			      struct gw_buf *out)
{
	buf_puts(out, "# HELP aigw_in_flight Requests in flight now, of consumers with "
		      "max_parallel.\n# TYPE aigw_in_flight gauge\n");
	for (size_t i = 0; i < n; i++) {
		buf_puts(out, "aigw_in_flight{consumer=\"");
		metrics_escape(names[i], out);
		buf_printf(out, "\"} %lld\n", held[i]);
	}
}

void usage_period_init(struct usage_period *p)
{
	p->consumers = json_object_new_object();
	p->models = json_object_new_object();
	p->rows = json_object_new_object();
	p->total = json_object_new_object();
}

static void accumulate(json_object *e, const struct stats_row *r)
{
	add64(e, "requests", r->v.requests);
	add64(e, "errors", r->key.status >= 400 ? r->v.requests : 0);
	add64(e, "prompt_tokens", r->v.prompt_tokens);
	add64(e, "completion_tokens", r->v.completion_tokens);
	add64(e, "cached_tokens", r->v.cached_tokens);
	add64(e, "cache_write_tokens", r->v.cache_write_tokens);
	add64(e, "reasoning_tokens", r->v.reasoning_tokens);
	add64(e, "cost_pico", r->v.cost_pico);
	add64(e, "unpriced_requests", r->v.unpriced);
}

static json_object *entry(json_object *map, const char *key)
{
	json_object *e;
	if (!json_object_object_get_ex(map, key, &e)) {
		e = json_object_new_object();
		json_object_object_add(map, key, e);
	}
	return e;
}

void usage_period_add(struct usage_period *p, const struct stats_row *rows, size_t n)
{
	struct gw_buf key = { 0 };

	for (size_t i = 0; i < n; i++) {
		const struct stats_row *r = &rows[i];
		json_object *e;

		accumulate(entry(p->consumers, r->key.consumer), r);
		accumulate(entry(p->models, r->key.model), r);
		pair_key(r, &key);
		e = entry(p->rows, buf_str(&key));
		json_object_object_add(e, "consumer", json_object_new_string(r->key.consumer));
		json_object_object_add(e, "model", json_object_new_string(r->key.model));
		accumulate(e, r);
		accumulate(p->total, r);
	}
	buf_free(&key);
}

/* Replaces the integer cost_pico by a decimal cost_usd. */
static void money(json_object *e)
{
	char usd[40];
	int64_t pico = get64(e, "cost_pico");

	stats_format_usd(pico, usd);
	json_object_object_del(e, "cost_pico");
	json_object_object_add(e, "cost_usd", json_object_new_double_s((double)pico / 1e12, usd));
}

json_object *usage_period_finish(struct usage_period *p, const char *since, const char *until)
{
	json_object *out = json_object_new_object(), *rows = json_object_new_array();

	json_object_object_foreach(p->consumers, k1, e1) {
		(void)k1;
		money(e1);
	}
	json_object_object_foreach(p->models, k2, e2) {
		(void)k2;
		money(e2);
	}
	json_object_object_foreach(p->rows, k3, e3) {
		(void)k3;
		money(e3);
		json_object_array_add(rows, json_object_get(e3));
	}
	accumulate(p->total, &(struct stats_row){ 0 }); /* all fields present when empty */
	money(p->total);
	json_object_object_add(out, "since", json_object_new_string(since));
	json_object_object_add(out, "until", json_object_new_string(until));
	json_object_object_add(out, "consumers", p->consumers);
	json_object_object_add(out, "models", p->models);
	json_object_object_add(out, "rows", rows);
	json_object_object_add(out, "total", p->total);
	json_object_put(p->rows);
	memset(p, 0, sizeof(*p));
	return out;
}

/* ---- /_aigw/usage?from=&to=&by=day: the series ---- */

/* calls, prompt (cached and cache_write: parts of it), completion and
 * total tokens of one row added to e, with
 * the cost kept as cost_pico until series_money() turns it into dollars. */
static void series_add(json_object *e, const struct stats_row *r)
{
	add64(e, "calls", r->v.requests);
	add64(e, "prompt_tokens", r->v.prompt_tokens);
	add64(e, "completion_tokens", r->v.completion_tokens);
	add64(e, "cached_tokens", r->v.cached_tokens);
	add64(e, "cache_write_tokens", r->v.cache_write_tokens);
	add64(e, "total_tokens", r->v.prompt_tokens + r->v.completion_tokens);
	add64(e, "cost_pico", r->v.cost_pico);
}

static void series_money(json_object *e)
{
	series_add(e, &(struct stats_row){ 0 }); /* every field present when empty */
	money(e);
}

static json_object *series_day(const struct usage_day *d)
{
	json_object *e = json_object_new_object();
	json_object *consumers = json_object_new_object(), *models = json_object_new_object();
	char date[16];
	time_t t = (time_t)(d->day_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	json_object_object_add(e, "date", json_object_new_string(date));
	for (size_t i = 0; i < d->n; i++) {
		series_add(e, &d->rows[i]);
		series_add(entry(consumers, d->rows[i].key.consumer), &d->rows[i]);
		series_add(entry(models, d->rows[i].key.model), &d->rows[i]);
	}
	series_money(e);
	json_object_object_foreach(consumers, k1, e1) {
		(void)k1;
		series_money(e1);
	}
	json_object_object_foreach(models, k2, e2) {
		(void)k2;
		series_money(e2);
	}
	json_object_object_add(e, "consumers", consumers);
	json_object_object_add(e, "models", models);
	return e;
}

json_object *usage_series(const struct usage_day *days, size_t n)
{
	json_object *out = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(out, series_day(&days[i]));
	return out;
}
