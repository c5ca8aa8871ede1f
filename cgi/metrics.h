/* metrics.h: renders the shared usage totals as Prometheus text and as the
 * JSON of /_aigw/usage. Pure functions over rows taken from the stats store. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "stats.h"

/* Appends s to out as a Prometheus label value: \ " and newline escaped. */
void metrics_escape(const char *s, struct gw_buf *out);

/* Appends the exposition text: aigw_requests_total{consumer,route,model,
 * status}, aigw_tokens_total{consumer,model,kind}, aigw_cost_usd_total
 * {consumer,model}, and the aigw_upstream_seconds / aigw_overhead_seconds
 * histograms. */
void metrics_render(const struct stats_row *rows, size_t n, const struct stats_header *h,
		    struct gw_buf *out);

/* Appends aigw_in_flight{consumer}, a gauge: held[i] requests of
 * consumer names[i] in flight now (n may be 0: the header alone). */
void metrics_render_in_flight(const char *const *names, const long long *held, size_t n,
			      struct gw_buf *out);

/* An accumulator of usage per consumer, per model and per (consumer, model). */
struct usage_period {
	json_object *consumers; /* name -> totals */
	json_object *models;
	json_object *rows;      /* "consumer\nmodel" -> totals with both names */
	json_object *total;
};

void usage_period_init(struct usage_period *p);
/* Adds rows to the period. */
void usage_period_add(struct usage_period *p, const struct stats_row *rows, size_t n);
/* Turns the period into its JSON form {since, until, consumers, models, rows,
 * total} (cost as "cost_usd" decimals) and releases the accumulator. */
json_object *usage_period_finish(struct usage_period *p, const char *since, const char *until);

/* One UTC day's rows of the stats store, for usage_series. */
struct usage_day {
	int64_t day_ms; /* 00:00 UTC of the day */
	const struct stats_row *rows;
	size_t n;
};

/* A new JSON array with one entry per day, in the order given: {date
 * "YYYY-MM-DD", calls, prompt_tokens, completion_tokens, total_tokens,
 * cost_usd, consumers: {NAME: the same numbers}, models: {NAME: ...}}.
 * A day without rows gives zeros. The caller owns the array. */
json_object *usage_series(const struct usage_day *days, size_t n);

#endif
