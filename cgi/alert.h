/* alert.h: budget alerts: when a consumer's spending crosses one of the
 * policy's alert_at percentages of its day or month budget, alert_command
 * runs once per consumer, budget, threshold and period, across every
 * process and gateway sharing the store (a claim in the store decides). */
#ifndef GW_ALERT_H
#define GW_ALERT_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "store.h"
#include "usage.h"

/* What is known after a request settled: the consumer's spending in its day
 * and month budget windows (-1: no such budget, or nothing settled). */
struct alert_spend {
	const struct gw_policy *policy;
	const struct gw_consumer *consumer;
	int64_t now_ms;
	int64_t spent_day, spent_month;
};

/* The thresholds of p->alert_at that spent has reached for a budget of
 * limit (pico-USD), as a bit per index of p->alert_at. Pure. */
unsigned alert_reached(const struct gw_policy *p, int64_t spent, int64_t limit);

/* The claim key of one alert: consumer, budget ("day"/"month"), the period
 * it belongs to (YYYYMMDD or YYYYMM, UTC) and the threshold, into out.
 * Returns false when it does not fit. Pure. */
bool alert_key(const char *consumer, const char *budget, int64_t now_ms, int percent,
	       char *out, size_t size);

/* Claims and fires every alert that s has reached and nobody fired yet:
 * runs the command (without waiting for it) and appends an alert line to
 * log. Returns the number fired; store failures go to *err (NULL: none). */
int alert_check(const struct alert_spend *s, struct gw_store *store, struct usage_log *log,
		const char **err);

/* Starts cmd with the alert's facts in its environment (AIGW_CONSUMER,
 * AIGW_BUDGET, AIGW_PERCENT, AIGW_SPENT_USD, AIGW_LIMIT_USD), detached:
 * the caller does not wait for it and no zombie is left. Returns 0 or -1. */
int alert_run(const char *cmd, const struct usage_alert *a);

#endif
