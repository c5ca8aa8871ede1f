/* exchange.c: the steps every mode shares: the gateway's own answers,
 * admission into the windows, the upstream call with failover, relaying a
 * buffered answer, accounting, pricing and the usage record. */
#include "exchange.h"
#include "alert.h"
#include "balance.h"
#include "shared.h"
#include "str.h"
#include "gw.h"
#include "openai.h"
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* One line to the server's error log (stderr under both servers). */
void gw_log(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "aigw[%ld]: %s\n", (long)getpid(), msg);
	fflush(stderr);
}

/* ---- answers ---- */

/* The gateway answers by itself: an OpenAI-shaped error, and a reason for
 * the usage log. Always returns false so steps can "return ex_refuse(...)". */
bool ex_refuse(struct exchange *ex, int status, const char *type, const char *code,
		   const char *message, const char *reason)
{
	ex->reason = reason;
	if (status == 401)
		reply_header(&ex->reply, "WWW-Authenticate", "Bearer realm=\"aigw\"");
	reply_error_as(&ex->reply, ex->errors, status, type, code, message);
	return false;
}

bool ex_path_is(const char *sub, const char *path, bool prefix)
{
	size_t n = strlen(path);

	return prefix ? strncmp(sub, path, n) == 0 && sub[n] != '\0' : strcmp(sub, path) == 0;
}

bool ex_method_ok(struct exchange *ex, const char *method)
{
	if (!method || strcmp(ex->req.method, method) == 0)
		return true;
	reply_header(&ex->reply, "Allow", method);
	return ex_refuse(ex, 405, "invalid_request_error", "method_not_allowed",
			 "Method not allowed on this endpoint", "bad_method");
}

int ex_stream_start(struct exchange *ex, const struct relay_result *res)
{
	if (strncasecmp(res->content_type, "text/event-stream", 17) != 0)
		return 1;
	reply_header(&ex->reply, "Cache-Control", "no-cache");
	reply_header(&ex->reply, "X-Accel-Buffering", "no");
	ex_note_upstream_id(ex, res);
	if (reply_start(&ex->reply, (int)res->status, "text/event-stream") < 0)
		return -1;
	return ex->reply.io->flush(ex->reply.io->ctx) < 0 ? -1 : 0;
}

int ex_sse_feed(struct sse_parser *parser, const char *p, size_t n)
{
	if (sse_feed(parser, p, n) == 0)
		return 0;
	return parser->too_big ? -2 : -1;
}

bool ex_model_id_ok(const char *id)
{
	if (!*id || strlen(id) > 256 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	for (; *id; id++)
		if (!(*id >= 'a' && *id <= 'z') && !(*id >= 'A' && *id <= 'Z') &&
		    !(*id >= '0' && *id <= '9') && !strchr("-._:", *id))
			return false;
	return true;
}

bool ex_model_allowed(const struct exchange *ex, const char *model)
{
	return !ex->consumer || ex->consumer->models.n == 0 ||
	       list_has(&ex->consumer->models, model);
}

bool ex_refuse_model(struct exchange *ex)
{
	return ex_refuse(ex, 403, "permission_error", "model_not_allowed",
			 "This key is not allowed to use this model", "model_not_allowed");
}

bool ex_refuse_blocked(struct exchange *ex, const char *list, const char *entry)
{
	const struct gw_route *r = ex->route;

	gw_log("request %s blocked on route %s by %s \"%s\"", ex->request_id, r->name, list,
		  entry);
	ex->reason = "blocked";
	if (r->blocked_message) {
		reply_send(&ex->reply, r->blocked_code, "text/plain; charset=utf-8",
			   r->blocked_message, strlen(r->blocked_message));
		return false;
	}
	reply_error_as(&ex->reply, ex->errors, r->blocked_code, "invalid_request_error",
		       "request_blocked", "The request was blocked by the gateway's policy");
	return false;
}

bool ex_is_form(const char *content_type)
{
	return strncasecmp(content_type, "application/x-www-form-urlencoded", 33) == 0;
}

/* ---- limits ---- */


int64_t gw_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ratelimit_headers(struct exchange *ex, const struct limit_verdict *v)
{
	char num[32];

	reply_header(&ex->reply, "X-RateLimit-Limit", str_ll(v->limit, num));
	reply_header(&ex->reply, "X-RateLimit-Remaining", str_ll(v->remaining, num));
	reply_header(&ex->reply, "X-RateLimit-Reset", str_ll((long long)v->reset_s, num));
}

/* A repair the store made (a damaged file rebuilt) goes to the log once. */
static void store_note(struct gw_store *st)
{
	if (!st->note[0])
		return;
	gw_log("%s", st->note);
	st->note[0] = '\0';
}

/* The store cannot be used: refuse (store_failure = closed, the default) or
 * admit uncounted (open); either way the error log says why. */
static bool store_down(struct exchange *ex)
{
	const struct gw_policy *p = ex->policy;

	gw_log("request %s: %s; %s", ex->request_id, ex->proc->store->err,
	       p->store_fail_open ? "admitted uncounted (store_failure = open)"
				  : "refused (store_failure = closed)");
	if (p->store_fail_open) {
		memset(&ex->ticket, 0, sizeof(ex->ticket));
		return true;
	}
	return ex_refuse(ex, 503, "server_error", "limit_store_unavailable",
			 "The gateway cannot check its limits right now", "store_error");
}

/* Takes one in-flight slot of scope "<kind>:<name>" when limit applies;
 * refuses with 429 beyond it, 503 when the store fails. */
static bool take_slot(struct exchange *ex, const char *kind, const char *name, long long limit)
{
	struct store_slot *slot = &ex->slots[ex->n_slots];
	char scope[sizeof(slot->scope)];
	bool admitted = false;

	if (limit <= 0 || ex->n_slots == GW_ARRAY_LEN(ex->slots))
		return true;
	snprintf(scope, sizeof(scope), "%s:%s", kind, name);
	if (store_slot_take(ex->proc->store, scope, limit, slot, &admitted) != GW_OK)
		return store_down(ex);
	store_note(ex->proc->store);
	if (admitted) {
		ex->n_slots++;
		return true;
	}
	reply_header(&ex->reply, "Retry-After", "1");
	return ex_refuse(ex, 429, "rate_limit_exceeded", "too_many_parallel_requests",
			 "Too many requests of this key in flight at once", "parallel_limit");
}

/* The consumer's max_parallel, then the route's for that consumer (anonymous
 * callers share one allowance there). A refused request keeps its window
 * reservation until ex_finish settles it as an error. */
static bool ex_parallel(struct exchange *ex)
{
	const struct gw_consumer *c = ex->consumer;
	char name[160];

	if (c && !take_slot(ex, "c", c->name, c->limits.max_parallel))
		return false;
	snprintf(name, sizeof(name), "%s:%s", ex->route->name, c ? c->name : "@anonymous");
	return take_slot(ex, "r", name, ex->route->limits.max_parallel);
}

static void release_slots(struct exchange *ex)
{
	for (size_t i = 0; i < ex->n_slots; i++)
		store_slot_release(ex->proc->store, &ex->slots[i]);
	ex->n_slots = 0;
}

/* Admits the request into every window that applies, reserving estimate
 * tokens; refuses with 429 when one is full, 503 when the store fails. */
static bool ex_windows(struct exchange *ex, long long estimate)
{
	struct limit_scope scopes[2];
	struct limit_verdict v;
	size_t n = limit_scopes(ex->route, ex->consumer, scopes);
	char num[32];
	int rc;

	if (n == 0)
		return true;
	rc = store_take(ex->proc->store, scopes, n, gw_now_ms(), estimate, &v, &ex->ticket);
	store_note(ex->proc->store);
	if (rc != GW_OK)
		return store_down(ex);
	if (v.limited)
		ratelimit_headers(ex, &v);
	if (v.admitted)
		return true;
	snprintf(num, sizeof(num), "%lld", (long long)(v.retry_after_s > 0 ? v.retry_after_s : 1));
	reply_header(&ex->reply, "Retry-After", num);
	if (v.by_budget)
		return ex_refuse(ex, 429, "insufficient_quota", "insufficient_quota",
				 "Budget spent for this period", "budget");
	if (v.by_tokens)
		return ex_refuse(ex, 429, "insufficient_quota", "insufficient_quota",
			      "Token limit reached for this window", "token_limit");
	return ex_refuse(ex, 429, "rate_limit_exceeded", "rate_limit_exceeded",
		      "Request limit reached for this window", "rate_limit");
}

bool ex_limit(struct exchange *ex, long long estimate)
{
	return ex_windows(ex, estimate) && ex_parallel(ex);
}

/* Prices the answer from the [model] table; an unpriced model with tokens
 * gets cost null and one warning per process, never a silent 0. */
static void price_answer(struct exchange *ex)
{
	const struct gw_model *m;

	if (ex->prompt_tokens == 0 && ex->completion_tokens == 0) {
		ex->priced = true;
		ex->cost_pico = 0;
		return;
	}
	m = policy_model(ex->policy, ex->model);
	if (m) {
		ex->priced = true;
		ex->cost_pico = model_cost_pico(m, ex->prompt_tokens, ex->cached_tokens,
						ex->cache_write_tokens, ex->completion_tokens);
		return;
	}
	if (shared_first_unpriced(ex->proc->shared, ex->model ? ex->model : ""))
		gw_log("model \"%s\" has no [model] price: its usage is logged with cost_usd null",
		       ex->model ? ex->model : "");
}

/* Replaces the reservation by what the upstream reported (an error releases
 * it; an answer without usage keeps the estimate). */
/* Budget alerts the settled spending has reached (alert.c). */
static void check_alerts(struct exchange *ex)
{
	struct alert_spend s = { ex->policy, ex->consumer, gw_now_ms(), ex->ticket.spent_day,
				 ex->ticket.spent_month };
	const char *err;

	if (ex->policy->n_alert_at == 0 || (s.spent_day < 0 && s.spent_month < 0))
		return;
	alert_check(&s, ex->proc->store, &ex->proc->usage, &err);
	if (err)
		gw_log("request %s: budget alert: %s", ex->request_id, err);
}

static void settle_limits(struct exchange *ex)
{
	long long actual = -1;
	int rc;

	if (!ex->ticket.pending)
		return;
	if (ex->answered_ok)
		actual = ex->usage_found || ex->total_tokens > 0 ? ex->total_tokens
								 : ex->ticket.estimate;
	else if (ex->completion_tokens > 0 || ex->total_tokens > 0)
		actual = ex->total_tokens; /* a stream cut short: what was seen */
	rc = store_settle(ex->proc->store, &ex->ticket, gw_now_ms(), actual,
			  ex->priced ? ex->cost_pico : 0);
	store_note(ex->proc->store);
	if (rc != GW_OK)
		gw_log("request %s: tokens not settled: %s", ex->request_id, ex->proc->store->err);
	else
		check_alerts(ex);
}

/* ---- the upstream call ---- */

void ex_account(struct exchange *ex, json_object *answer)
{
	struct openai_usage u;

	openai_usage(answer, ex->usage_shape, &u);
	ex_account_usage(ex, &u);
}

void ex_account_usage(struct exchange *ex, const struct openai_usage *u)
{
	ex->answered_ok = true;
	ex->usage_found = u->found;
	ex->prompt_tokens = u->prompt_tokens;
	ex->completion_tokens = u->completion_tokens;
	ex->total_tokens = u->total_tokens;
	ex->cached_tokens = u->cached_tokens;
	ex->cache_write_tokens = u->cache_write_tokens;
	ex->reasoning_tokens = u->reasoning_tokens;
}

void ex_note_upstream_id(struct exchange *ex, const struct relay_result *res)
{
	if (!res->request_id[0])
		return;
	snprintf(ex->upstream_request_id, sizeof(ex->upstream_request_id), "%s", res->request_id);
	reply_header(&ex->reply, ex->errors == GW_ERRORS_ANTHROPIC ? "request-id" : "x-request-id",
		     ex->upstream_request_id);
}

/* Turns a buffered upstream result into the client's answer. */
void ex_relay_answer(struct exchange *ex, struct relay_result *res)
{
	const char *ctype = res->content_type[0] ? res->content_type : "application/json";

	ex->upstream_ms = (long long)(res->seconds * 1000);
	ex->upstream_us = (int64_t)(res->seconds * 1e6);
	switch (res->err) {
	case GW_OK:
		break;
	case GW_ETIMEOUT:
		gw_log("request %s: upstream %s timed out: %s", ex->request_id, ex->upstream,
			  res->detail);
		ex_refuse(ex, 504, "upstream_error", "upstream_timeout",
		       "The upstream did not answer in time", "upstream_timeout");
		return;
	case GW_ECLIENT:
		ex->reason = "client_gone";
		return;
	default:
		gw_log("request %s: upstream %s failed: %s%s%s", ex->request_id, ex->upstream,
			  res->err == GW_ETOOBIG ? "answer too large" : gw_strerror(res->err),
			  res->detail[0] ? ": " : "", res->detail);
		ex_refuse(ex, 502, "upstream_error", "upstream_unreachable",
		       "The upstream could not be reached or did not answer", "upstream_error");
		return;
	}
	if (res->status >= 200 && res->status < 300) {
		struct openai_usage u;
		if (!openai_scan(res->body.data, res->body.len, ex->usage_shape, &u)) {
			gw_log("request %s: upstream %s answered %ld with invalid JSON",
				  ex->request_id, ex->upstream, res->status);
			ex_refuse(ex, 502, "upstream_error", "upstream_invalid",
			       "The upstream answered with invalid JSON", "upstream_invalid");
			return;
		}
		ex_account_usage(ex, &u);
	}
	ex_note_upstream_id(ex, res);
	reply_send(&ex->reply, (int)res->status, ctype, buf_str(&res->body), res->body.len);
}

/* The server closed the client's connection while the request waited (for a
 * thread, a slot or its body): nobody would read the answer, so nothing is
 * relayed and nothing counts; the usage log says 499. */
static bool client_gone(struct exchange *ex)
{
	struct gw_io *io = ex->reply.io;

	if (!io || !io->gone || !io->gone(io->ctx))
		return false;
	gw_log("request %s: the client left before the upstream call; not relayed",
	       ex->request_id);
	ex->not_relayed = true;
	ex->reply.client_gone = true;
	ex->reply.status = 499;
	return true;
}

static bool retryable(const struct relay_result *res)
{
	if (res->began)
		return false; /* bytes reached the client: never try elsewhere */
	if (res->err == GW_EUPSTREAM || res->err == GW_ETIMEOUT)
		return true;
	return res->err == GW_OK && (res->status >= 500 || res->status == 429);
}

const struct gw_upstream *ex_call(struct exchange *ex, const char *method, const char *path,
				  ex_body_fn make_body, const struct relay_sink *sink,
				  struct relay_result *res)
{
	struct gw_proc *proc = ex->proc;
	const struct gw_route *r = ex->route;
	const struct gw_upstream **order = gw_calloc(r->n_upstreams + 1, sizeof(*order));
	size_t n;

	if (ex->pinned) { /* a stored response lives there: no failover */
		order[0] = ex->pinned;
		n = 1;
	} else {
		n = shared_balance_order(proc->shared, r, time(NULL),
					 (unsigned)rand_r(&proc->seed), order);
	}
	size_t tries = (size_t)r->retries + 1 < n ? (size_t)r->retries + 1 : n;
	const struct gw_upstream *u = NULL;
	double waited = 0; /* on attempts that failed: upstream time, not the gateway's */

	if (client_gone(ex)) {
		memset(res, 0, sizeof(*res));
		res->err = GW_ECLIENT;
		u = n ? order[0] : NULL;
		free(order);
		return u;
	}

	for (size_t i = 0; i < tries; i++) {
		struct relay_request rq = { 0 };
		char *owned = NULL;

		u = order[i];
		if (i > 0) {
			waited += res->seconds;
			relay_result_free(res);
			if (res->err == GW_OK)
				gw_log("request %s: upstream %s answered %ld; trying %s",
				       ex->request_id, order[i - 1]->name, res->status, u->name);
			else
				gw_log("request %s: upstream %s failed (%s); trying %s",
				       ex->request_id, order[i - 1]->name, gw_strerror(res->err),
				       u->name);
		}
		memset(res, 0, sizeof(*res));
		rq.upstream = u;
		rq.method = method;
		rq.path = path;
		rq.body = make_body ? make_body(ex, u, &rq.body_len, &owned) : NULL;
		rq.stream = sink != NULL;
		rq.headers = ex->upstream_headers;
		rq.max_answer = ex->policy->max_answer;
		rq.max_seconds = ex->policy->stream_timeout_s;
		ex->upstream = u->name;
		relay_call(&proc->relay, &rq, sink, res);
		free(owned);
		shared_balance_report(proc->shared, u, !retryable(res), time(NULL));
		if (!retryable(res))
			break;
	}
	res->seconds += waited;
	free(order);
	return u;
}

void ex_call_upstream(struct exchange *ex, const char *method, const char *path,
		      ex_body_fn make_body)
{
	struct relay_result res = { 0 };

	ex_call(ex, method, path, make_body, NULL, &res);
	ex_relay_answer(ex, &res);
	relay_result_free(&res);
}

/* ---- after the answer ---- */

/* Metric labels stay bounded: a model nobody configured counts as "other". */
static const char *model_label(const struct exchange *ex)
{
	const struct gw_policy *p = ex->policy;

	if (!ex->model || !*ex->model)
		return "";
	if (policy_model(p, ex->model))
		return ex->model;
	for (size_t i = 0; i < p->n_upstreams; i++)
		if (p->upstreams[i]->model && strcmp(p->upstreams[i]->model, ex->model) == 0)
			return ex->model;
	for (size_t i = 0; i < p->n_consumers; i++)
		if (list_has(&p->consumers[i]->models, ex->model))
			return ex->model;
	return "other";
}

static void record_stats(struct exchange *ex, const struct timespec *now)
{
	struct stats_key k;
	struct stats_values v = { 0 };
	int64_t total_us = (now->tv_sec - ex->start.tv_sec) * 1000000LL +
			   (now->tv_nsec - ex->start.tv_nsec) / 1000;
	int64_t overhead_us = total_us - (ex->upstream_us > 0 ? ex->upstream_us : 0);

	memset(&k, 0, sizeof(k));
	snprintf(k.consumer, sizeof(k.consumer), "%s", ex->consumer ? ex->consumer->name : "");
	snprintf(k.route, sizeof(k.route), "%s", ex->route ? ex->route->name : "");
	snprintf(k.model, sizeof(k.model), "%s", model_label(ex));
	k.status = ex->reply.status;
	v.requests = 1;
	v.prompt_tokens = ex->prompt_tokens;
	v.completion_tokens = ex->completion_tokens;
	v.cost_pico = ex->priced ? ex->cost_pico : 0;
	v.unpriced = ex->priced ? 0 : 1;
	v.cached_tokens = ex->cached_tokens;
	v.cache_write_tokens = ex->cache_write_tokens;
	v.reasoning_tokens = ex->reasoning_tokens;
	if (store_record(ex->proc->store, (int64_t)ex->start.tv_sec * 1000, &k, &v,
			 ex->upstream_us > 0 ? ex->upstream_us : -1,
			 overhead_us < 0 ? 0 : overhead_us) != GW_OK) {
		if (!ex->proc->stats_warned)
			gw_log("request %s: usage totals not recorded: %s", ex->request_id,
			       ex->proc->store->err);
		ex->proc->stats_warned = true;
	} else {
		ex->proc->stats_warned = false;
	}
	store_note(ex->proc->store);
}

void ex_finish(struct exchange *ex)
{
	struct usage_record u = { 0 };
	struct timespec now;
	long long ms;

	release_slots(ex);
	if (ex->not_relayed) { /* nobody pays for an abandoned request */
		ex->answered_ok = ex->usage_found = false;
		ex->prompt_tokens = ex->completion_tokens = ex->total_tokens = 0;
		ex->cached_tokens = ex->cache_write_tokens = ex->reasoning_tokens = 0;
		ex->reason = "client_gone";
		ex->reply.status = 499;
	}
	price_answer(ex);
	settle_limits(ex);
	clock_gettime(CLOCK_REALTIME, &now);
	ms = (now.tv_sec - ex->start.tv_sec) * 1000LL + (now.tv_nsec - ex->start.tv_nsec) / 1000000;
	u.ts = ex->start;
	u.request_id = ex->request_id;
	u.consumer = ex->consumer ? ex->consumer->name : "";
	u.route = ex->route ? ex->route->name : "";
	u.model = ex->model;
	u.upstream = ex->upstream;
	u.reason = ex->reason;
	u.status = ex->reply.status;
	u.stream = ex->stream;
	u.prompt_tokens = ex->prompt_tokens;
	u.completion_tokens = ex->completion_tokens;
	u.total_tokens = ex->total_tokens;
	u.latency_ms = ms;
	u.upstream_ms = ex->upstream_ms;
	u.priced = ex->priced;
	u.cost_pico = ex->cost_pico;
	u.cached_tokens = ex->cached_tokens;
	u.cache_write_tokens = ex->cache_write_tokens;
	u.reasoning_tokens = ex->reasoning_tokens;
	u.upstream_request_id = ex->upstream_request_id[0] ? ex->upstream_request_id : NULL;
	u.session = ex->session;
	record_stats(ex, &now);
	if (usage_log_write(&ex->proc->usage, &u) < 0 && !ex->proc->usage.warned) {
		gw_log("cannot write the usage log %s: %s", ex->proc->usage.path,
			  strerror(errno));
		ex->proc->usage.warned = true;
	}
}
