/* admin.c: the admin endpoints under every route: <path>/_aigw/health (open),
 * <path>/_aigw/usage and <path>/_aigw/metrics (admin_key). Their numbers come
 * from the shared stats store, so they are totals over every process. */
#include "admin.h"
#include "auth.h"
#include "gw.h"
#include "limit.h"
#include "metrics.h"
#include "query.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest since/until range served, in days. */
#define ADMIN_MAX_DAYS 400

static bool admin_key_ok(struct exchange *ex)
{
	const struct gw_auth *a = &ex->policy->auth;

	if (auth_is_admin(ex->policy, request_bearer(&ex->req)))
		return true;
	for (size_t i = 0; i < a->keys.n; i++)
		if (auth_is_admin(ex->policy, request_header(&ex->req, a->keys.v[i])))
			return true;
	return false;
}

static void format_day(int64_t ms, char out[16])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

/* "YYYY-MM-DD" to the ms of that day's 00:00 UTC; -1 when malformed. */
static int64_t parse_day(const char *s)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end || strlen(s) != 10)
		return -1;
	return (int64_t)timegm(&tm) * 1000;
}

/* parse_day, refusing a day that does not exist (2026-02-30). */
static int64_t parse_real_day(const char *s)
{
	int64_t ms = parse_day(s);
	char back[16];

	if (ms < 0)
		return -1;
	format_day(ms, back);
	return strcmp(back, s) == 0 ? ms : -1;
}

/* The rows of a totals table ("total" or "day-YYYYMMDD") from the store in
 * use; NULL when there are none (or the store is down). */
static struct stats_row *table_rows(struct exchange *ex, const char *name, size_t *n,
				    struct stats_header *h)
{
	struct gw_store *st = ex->proc->store;
	struct stats_row *rows = NULL;

	if (store_rows(st, name, &rows, n, h) != GW_OK) {
		gw_log("usage totals %s cannot be read: %s", name, st->err);
		*n = 0;
		return NULL;
	}
	if (st->note[0]) {
		gw_log("%s", st->note);
		st->note[0] = '\0';
	}
	return rows;
}

/* Sums the day files from from_ms to to_ms (inclusive days). */
static json_object *period(struct exchange *ex, int64_t from_ms, int64_t to_ms)
{
	struct usage_period p;
	char since[16], until[16];

	usage_period_init(&p);
	for (int64_t d = from_ms; d <= to_ms; d += 86400000LL) {
		char name[32];
		size_t n = 0;
		struct stats_row *rows;

		stats_day_name(d, name);
		rows = table_rows(ex, name, &n, NULL);
		usage_period_add(&p, rows, n);
		free(rows);
	}
	format_day(from_ms, since);
	format_day(to_ms, until);
	return usage_period_finish(&p, since, until);
}

static bool bad_range(struct exchange *ex, const char *why)
{
	return ex_refuse(ex, 400, "invalid_request_error", "invalid_range", why, "admin");
}

/* Longest from..to range of a series, in days. */
#define ADMIN_SERIES_DAYS 366

/* from=&to=&by=day: adds "range" (the totals of from..to) and "series" (one
 * entry per day) to out. Usage is kept per UTC day, so by=hour is refused.
 * Returns false when it refused the request. */
static bool add_series(struct exchange *ex, json_object *out, const char *from_s,
		       const char *to_s, const char *by, int64_t month_start, int64_t today)
{
	int64_t from = from_s ? parse_real_day(from_s) : month_start;
	int64_t to = to_s ? parse_real_day(to_s) : today;
	struct usage_period p;
	struct usage_day *days;
	char since[16], until[16];
	size_t n;

	if (by && strcmp(by, "day") != 0)
		return !bad_range(ex, "by takes day: usage is kept per UTC day");
	if (from < 0 || to < 0)
		return !bad_range(ex, "from and to take a date as YYYY-MM-DD");
	if (to < from || (to - from) / 86400000LL >= ADMIN_SERIES_DAYS)
		return !bad_range(ex, "to must not be before from, and the range at most 366 days");
	n = (size_t)((to - from) / 86400000LL) + 1;
	days = gw_calloc(n, sizeof(*days));
	usage_period_init(&p);
	for (size_t i = 0; i < n; i++) {
		char name[32];
		size_t k = 0;
		struct stats_row *rows;

		days[i].day_ms = from + (int64_t)i * 86400000LL;
		stats_day_name(days[i].day_ms, name);
		rows = table_rows(ex, name, &k, NULL);
		/* a snapshot has room for a whole table: keep only its rows */
		days[i].rows = rows ? gw_realloc(rows, (k ? k : 1) * sizeof(*rows)) : NULL;
		days[i].n = k;
		usage_period_add(&p, days[i].rows, k);
	}
	format_day(from, since);
	format_day(to, until);
	json_object_object_add(out, "range", usage_period_finish(&p, since, until));
	json_object_object_add(out, "series", usage_series(days, n));
	for (size_t i = 0; i < n; i++)
		free((void *)days[i].rows);
	free(days);
	return true;
}

/* The decoded value of a query parameter, or NULL; *bad is set when it
 * holds a NUL byte (it would pass for a shorter value). */
static char *param(const char *q, const char *name, bool *bad)
{
	char *v = NULL;
	size_t len = 0;

	query_get(q, strlen(q), name, &v, &len);
	if (v && strlen(v) != len)
		*bad = true;
	return v;
}

static void serve_usage(struct exchange *ex)
{
	const char *q = ex->req.query;
	int64_t now = gw_now_ms(), today, day_end, month_start, month_end;
	json_object *out = json_object_new_object();
	char *since = NULL, *until = NULL, *from_s, *to_s, *by;
	bool nul = false;
	size_t len;
	const char *text;

	limit_window(GW_WIN_DAY, now, &today, &day_end);
	limit_month(now, &month_start, &month_end);
	json_object_object_add(out, "today", period(ex, today, today));
	json_object_object_add(out, "month", period(ex, month_start, today));
	query_get(q, strlen(q), "since", &since, &len);
	query_get(q, strlen(q), "until", &until, &len);
	from_s = param(q, "from", &nul);
	to_s = param(q, "to", &nul);
	by = param(q, "by", &nul);
	if (nul) {
		bad_range(ex, "from, to and by take no NUL bytes");
		goto done;
	}
	if (from_s || to_s || by) {
		if (!add_series(ex, out, from_s, to_s, by, month_start, today))
			goto done;
	} else if (since || until) {
		int64_t from = since ? parse_day(since) : month_start;
		int64_t to = until ? parse_day(until) : today;
		if (from < 0 || to < 0) {
			bad_range(ex, "since and until take a date as YYYY-MM-DD");
			goto done;
		}
		if (to < from || (to - from) / 86400000LL >= ADMIN_MAX_DAYS) {
			bad_range(ex, "until must not be before since, and the range at most 400 days");
			goto done;
		}
		json_object_object_add(out, "range", period(ex, from, to));
	}
	text = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	reply_header(&ex->reply, "Cache-Control", "no-store");
	reply_send(&ex->reply, 200, "application/json", text, strlen(text));
done:
	free(since);
	free(until);
	free(from_s);
	free(to_s);
	free(by);
	json_object_put(out);
}

/* aigw_in_flight for the consumers that have max_parallel, from the
 * store's slots (every process and gateway sharing it). */
static void in_flight(struct exchange *ex, struct gw_buf *out)
{
	const struct gw_policy *p = ex->policy;
	const char **names = gw_calloc(p->n_consumers + 1, sizeof(*names));
	long long *held = gw_calloc(p->n_consumers + 1, sizeof(*held));
	size_t n = 0;

	for (size_t i = 0; i < p->n_consumers; i++) {
		const struct gw_consumer *c = p->consumers[i];
		char scope[160];

		if (c->limits.max_parallel <= 0)
			continue;
		snprintf(scope, sizeof(scope), "c:%s", c->name);
		if (store_slot_count(ex->proc->store, scope, &held[n]) != GW_OK) {
			gw_log("in-flight count of %s cannot be read: %s", c->name,
			       ex->proc->store->err);
			continue;
		}
		names[n++] = c->name;
	}
	metrics_render_in_flight(names, held, n, out);
	free(names);
	free(held);
}

static void serve_metrics(struct exchange *ex)
{
	struct gw_buf out = { 0 };
	struct stats_header h;
	struct stats_row *rows;
	size_t n = 0;

	memset(&h, 0, sizeof(h));
	rows = table_rows(ex, "total", &n, &h);
	metrics_render(rows, n, &h, &out);
	in_flight(ex, &out);
	reply_send(&ex->reply, 200, "text/plain; version=0.0.4; charset=utf-8", buf_str(&out),
		   out.len);
	buf_free(&out);
	free(rows);
}

bool serve_admin(struct exchange *ex)
{
	static const char health[] = "{\"status\":\"ok\"}";
	const char *what = ex->subpath;

	if (strncmp(what, "/_aigw/", 7) != 0)
		return false;
	ex->admin = true;
	what += 7;
	if (strcmp(what, "health") == 0) {
		reply_header(&ex->reply, "Cache-Control", "no-store");
		reply_send(&ex->reply, 200, "application/json", health, sizeof(health) - 1);
		return true;
	}
	if (strcmp(what, "usage") != 0 && strcmp(what, "metrics") != 0) {
		ex_refuse(ex, 404, "invalid_request_error", "not_found", "No such admin endpoint",
			  "admin");
		return true;
	}
	if (strcmp(ex->req.method, "GET") != 0) {
		reply_header(&ex->reply, "Allow", "GET");
		ex_refuse(ex, 405, "invalid_request_error", "method_not_allowed", "Use GET", "admin");
		return true;
	}
	if (!ex->policy->has_admin_sha256) {
		ex_refuse(ex, 403, "permission_error", "admin_disabled",
			  "Admin endpoints are off: set admin_key in [gateway]", "admin");
		return true;
	}
	if (!admin_key_ok(ex)) {
		ex_refuse(ex, 401, "invalid_request_error", "invalid_admin_key",
			  "Missing or wrong admin key", "admin");
		return true;
	}
	if (strcmp(what, "usage") == 0)
		serve_usage(ex);
	else
		serve_metrics(ex);
	return true;
}
