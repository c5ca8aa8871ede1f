/* serve.c: the request pipeline and the per-process state behind it. */
#include "serve.h"
#include "exchange.h"
#include "auth.h"
#include "balance.h"
#include "openai.h"
#include "block.h"
#include "gw.h"
#include "prompt.h"
#include "query.h"
#include "reply.h"
#include "request.h"
#include "str.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bounds on what a client may send besides the body (max_body): larger
 * query strings get 414, more header bytes 431. Servers cap these too
 * (8 KB by default), but a raised server limit must not lift ours. */
#define SERVE_MAX_QUERY 65536
#define SERVE_MAX_HEADER_BYTES 65536


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

/* ---- per-process state ---- */

static void proc_load(struct gw_proc *proc)
{
	struct gw_diag diag = { 0 };
	struct gw_policy *p = policy_load(proc->config_path, &diag);

	if (p->valid)
		policy_lint(p, &diag);
	for (size_t i = 0; i < diag.n; i++)
		gw_log("%s", diag.msgs[i]);
	diag_free(&diag);
	if (!p->valid) {
		gw_log("policy %s refused; %s", proc->config_path,
			  proc->policy ? "the last valid policy stays in force"
				       : "answering 500 until it is fixed");
		policy_free(proc->rejected);
		proc->rejected = p;
		return;
	}
	if (proc->policy)
		gw_log("policy %s reloaded", proc->config_path);
	policy_free(proc->policy);
	policy_free(proc->rejected);
	proc->rejected = NULL;
	proc->policy = p;
	if (!proc->usage.path || !p->usage_log || strcmp(proc->usage.path, p->usage_log) != 0) {
		usage_log_close(&proc->usage);
		usage_log_init(&proc->usage, p->usage_log);
	}
	if (!proc->limits.dir || strcmp(proc->limits.dir, p->state_dir) != 0) {
		limit_store_close(&proc->limits);
		limit_store_init(&proc->limits, p->state_dir);
	}
	proc->limits.hold_ms = proc->lock_hold_ms;
	if (proc->has_redis && (!p->redis_host || strcmp(proc->redis.host, p->redis_host) != 0 ||
				proc->redis.port != p->redis_port || proc->redis.db != p->redis_db)) {
		rstore_close(&proc->redis);
		proc->has_redis = false;
	}
	if (p->redis_host && !proc->has_redis) {
		rstore_init(&proc->redis, p->redis_host, p->redis_port, p->redis_db,
			    (long)p->store_timeout_ms);
		proc->has_redis = true;
	}
	if (!proc->stats.dir || strcmp(proc->stats.dir, p->state_dir) != 0) {
		stats_store_close(&proc->stats);
		stats_store_init(&proc->stats, p->state_dir);
	}
}

void proc_refresh_policy(struct gw_proc *proc, time_t now)
{
	if (now == proc->checked)
		return;
	proc->checked = now;
	if (proc->rejected && !policy_changed(proc->rejected))
		return;
	if (!proc->rejected && proc->policy && !policy_changed(proc->policy))
		return;
	proc_load(proc);
}

int proc_init(struct gw_proc *proc, const char *config_path)
{
	memset(proc, 0, sizeof(*proc));
	proc->config_path = gw_strdup(config_path ? config_path : gw_default_config());
	usage_log_init(&proc->usage, NULL);
	if (relay_init(&proc->relay) < 0) {
		gw_log("cannot initialise libcurl");
		return -1;
	}
	if (getenv("AIGW_TEST_LOCK_HOLD_MS"))
		proc->lock_hold_ms = (unsigned)strtoul(getenv("AIGW_TEST_LOCK_HOLD_MS"), NULL, 10);
	proc->checked = time(NULL);
	proc->pid = getpid();
	proc->seed = (unsigned)(proc->pid ^ proc->checked);
	proc_load(proc);
	return 0;
}

void proc_free(struct gw_proc *proc)
{
	policy_free(proc->policy);
	policy_free(proc->rejected);
	relay_cleanup(&proc->relay);
	usage_log_close(&proc->usage);
	limit_store_close(&proc->limits);
	stats_store_close(&proc->stats);
	if (proc->has_redis)
		rstore_close(&proc->redis);
	for (size_t i = 0; i < proc->n_unpriced; i++)
		free(proc->unpriced[i]);
	free(proc->config_path);
	memset(proc, 0, sizeof(*proc));
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
	reply_error(&ex->reply, status, type, code, message);
	return false;
}

static bool ex_refuse_blocked(struct exchange *ex, const char *list, const char *entry)
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
	reply_error(&ex->reply, r->blocked_code, "invalid_request_error", "request_blocked",
		    "The request was blocked by the gateway's policy");
	return false;
}

/* ---- pipeline steps: each returns true to go on ---- */

static bool step_route(struct exchange *ex)
{
	ex->route = policy_route(ex->policy, ex->req.path);
	if (!ex->route)
		return ex_refuse(ex, 404, "invalid_request_error", "not_found",
			      "No route serves this path", "no_route");
	ex->subpath = ex->req.path + (ex->route->path_len == 1 ? 0 : ex->route->path_len);
	return true;
}

/* Every key the request carries: each header named by [auth] keys (each
 * occurrence), each such query parameter, and Authorization: Bearer. Two
 * different values are refused by auth_lookup, wherever they come from. */
struct key_set {
	const char **v;
	char **owned;
	size_t n, cap;
};

static void key_add(struct key_set *k, const char *v, char *owned)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 8;
		k->v = gw_realloc(k->v, k->cap * sizeof(*k->v));
		k->owned = gw_realloc(k->owned, k->cap * sizeof(*k->owned));
	}
	k->v[k->n] = v;
	k->owned[k->n++] = owned;
}

static void query_keys(struct exchange *ex, const char *name, struct key_set *k)
{
	const char *q = ex->req.query;
	size_t len = strlen(q), pos = 0;

	/* query_get finds the first match; walk the rest for further ones */
	while (pos < len) {
		char *v = NULL;
		size_t vlen;
		const char *amp = memchr(q + pos, '&', len - pos);
		size_t end = amp ? (size_t)(amp - q) : len;
		if (query_get(q + pos, end - pos, name, &v, &vlen) == QUERY_FOUND) {
			key_add(k, v, v);
			if (strlen(v) != vlen)
				ex->bad_key = true; /* "%00": never cut a key short */
		}
		pos = end + 1;
	}
}

static void key_candidates(struct exchange *ex, struct key_set *k)
{
	const struct gw_auth *a = &ex->policy->auth;

	for (size_t i = 0; i < a->keys.n; i++) {
		if (a->in_header)
			for (size_t h = 0; h < ex->req.n_headers; h++)
				if (request_header_is(&ex->req.headers[h], a->keys.v[i]))
					key_add(k, ex->req.headers[h].value, NULL);
		if (a->in_query)
			query_keys(ex, a->keys.v[i], k);
	}
	key_add(k, request_bearer(&ex->req), NULL);
}

static bool step_auth(struct exchange *ex)
{
	const struct gw_policy *p = ex->policy;
	struct key_set k = { 0 };
	bool needed = p->auth.global_auth || ex->route->allow.n > 0;
	enum auth_verdict v;

	key_candidates(ex, &k);
	v = ex->bad_key ? AUTH_UNKNOWN_KEY : auth_lookup(p, k.v, k.n, &ex->consumer);
	for (size_t i = 0; i < k.n; i++)
		free(k.owned[i]);
	free(k.owned);
	free(k.v);
	if (v == AUTH_OK) {
		reply_header(&ex->reply, "X-AIGW-Consumer", ex->consumer->name);
		return true;
	}
	if (!needed)
		return true;
	return ex_refuse(ex, 401, "invalid_request_error", auth_code(v), auth_message(v),
		      "unauthorized");
}

static bool step_allow(struct exchange *ex)
{
	const struct gw_route *r = ex->route;

	if (r->allow.n == 0 || (ex->consumer && list_has(&r->allow, ex->consumer->name)))
		return true;
	return ex_refuse(ex, 403, "permission_error", "consumer_not_allowed",
		      "This key is not allowed to use this route", "forbidden");
}

static bool step_body(struct exchange *ex)
{
	int rc;

	if (strcmp(ex->req.method, "POST") != 0 && ex->req.content_length <= 0)
		return true;
	rc = request_read_body(&ex->req, ex->policy->max_body);
	if (rc == GW_ETOOBIG) {
		char msg[96];
		snprintf(msg, sizeof(msg), "The request body is larger than %zu bytes",
			 ex->policy->max_body);
		return ex_refuse(ex, 413, "invalid_request_error", "request_too_large", msg,
			      "too_large");
	}
	if (rc != GW_OK)
		return ex_refuse(ex, 400, "invalid_request_error", "bad_body",
			      "The request body could not be read in full", "bad_request");
	return true;
}

bool ex_is_form(const char *content_type)
{
	return strncasecmp(content_type, "application/x-www-form-urlencoded", 33) == 0;
}

/* The URL lists see the raw URI and its two decoded forms (without and
 * with '+' as a space); nothing is decoded for a route without them. */
static bool blocked_url(struct exchange *ex, const char **list, const char **entry)
{
	const struct gw_route *r = ex->route;
	const char *uri = ex->req.request_uri;
	struct block_text forms[3];
	bool hit;

	if (!r->block_urls.n && !r->block_exact_urls.n && !r->n_regexps)
		return false;
	forms[0] = (struct block_text){ uri, strlen(uri) };
	forms[1].s = str_percent_decode(uri, forms[0].len, false, &forms[1].len, NULL);
	forms[2].s = str_percent_decode(uri, forms[0].len, true, &forms[2].len, NULL);
	hit = block_url(r, forms, 3, list, entry);
	free((char *)forms[1].s);
	free((char *)forms[2].s);
	return hit;
}

static bool blocked_headers(struct exchange *ex, const char **entry)
{
	struct block_text *lines;
	bool hit;

	if (!ex->route->block_headers.n)
		return false;
	lines = gw_calloc(ex->req.n_headers, sizeof(*lines));
	for (size_t i = 0; i < ex->req.n_headers; i++)
		lines[i] = (struct block_text){ request_header_line(&ex->req, i),
						ex->req.headers[i].line_len };
	hit = block_headers(ex->route, lines, ex->req.n_headers, entry);
	free(lines);
	return hit;
}

/* The body lists see the raw body and the text behind its encoding: a
 * form percent-decoded, or a JSON body's string values. */
static bool blocked_body(struct exchange *ex, const char **entry)
{
	struct block_text texts[2];
	struct gw_buf strings = { 0 };
	char *decoded = NULL;
	size_t n = 0;
	bool hit;

	if (!ex->route->block_bodies.n || !ex->req.body.len)
		return false;
	texts[n++] = (struct block_text){ ex->req.body.data, ex->req.body.len };
	if (ex_is_form(ex->req.content_type)) {
		decoded = str_percent_decode(ex->req.body.data, ex->req.body.len, true,
					     &texts[n].len, NULL);
		texts[n++].s = decoded;
	} else if (ex->json) {
		openai_strings(ex->json, &strings);
		texts[n++] = (struct block_text){ buf_str(&strings), strings.len };
	}
	hit = block_bodies(ex->route, texts, n, entry);
	free(decoded);
	buf_free(&strings);
	return hit;
}

static bool step_block(struct exchange *ex)
{
	const char *list = NULL, *entry = NULL;

	if (blocked_url(ex, &list, &entry))
		return ex_refuse_blocked(ex, list, entry);
	if (blocked_headers(ex, &entry))
		return ex_refuse_blocked(ex, "block_headers", entry);
	if (blocked_body(ex, &entry))
		return ex_refuse_blocked(ex, "block_bodies", entry);
	return true;
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

	snprintf(num, sizeof(num), "%lld", v->limit);
	reply_header(&ex->reply, "X-RateLimit-Limit", num);
	snprintf(num, sizeof(num), "%lld", v->remaining);
	reply_header(&ex->reply, "X-RateLimit-Remaining", num);
	snprintf(num, sizeof(num), "%lld", (long long)v->reset_s);
	reply_header(&ex->reply, "X-RateLimit-Reset", num);
}

/* The store cannot be used: refuse (store_failure = closed, the default) or
 * admit uncounted (open); either way the error log says why. */
static bool store_down(struct exchange *ex, int rc)
{
	const struct gw_policy *p = ex->policy;

	if (ex->proc->has_redis)
		gw_log("request %s: %s; %s", ex->request_id, ex->proc->redis.err,
		       p->store_fail_open ? "admitted uncounted (store_failure = open)"
					  : "refused (store_failure = closed)");
	else
		gw_log("request %s: rate-limit store %s: %s: %s; %s", ex->request_id, p->state_dir,
		       gw_strerror(rc), strerror(errno),
		       p->store_fail_open ? "admitted uncounted (store_failure = open)"
					  : "refused (store_failure = closed)");
	if (p->store_fail_open) {
		memset(&ex->ticket, 0, sizeof(ex->ticket));
		return true;
	}
	return ex_refuse(ex, 503, "server_error", "limit_store_unavailable",
			 "The gateway cannot check its limits right now", "store_error");
}

/* Admits the request into every window that applies, reserving estimate
 * tokens; refuses with 429 when one is full, 503 when the store fails. */
bool ex_limit(struct exchange *ex, long long estimate)
{
	struct limit_scope scopes[2];
	struct limit_verdict v;
	size_t n = limit_scopes(ex->route, ex->consumer, scopes);
	bool damaged = false;
	char num[32];
	int rc;

	if (n == 0)
		return true;
	if (ex->proc->has_redis)
		rc = rstore_take(&ex->proc->redis, scopes, n, gw_now_ms(), estimate, &v, &ex->ticket);
	else
		rc = limit_take(&ex->proc->limits, scopes, n, gw_now_ms(), estimate, &v,
				&ex->ticket, &damaged);
	if (damaged)
		gw_log("state file for %s in %s was damaged; rebuilt with its windows full",
			  scopes[0].file, ex->policy->state_dir);
	if (rc != GW_OK)
		return store_down(ex, rc);
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

/* Prices the answer from the [model] table; an unpriced model with tokens
 * gets cost null and one warning per process, never a silent 0. */
static void price_answer(struct exchange *ex)
{
	const struct gw_model *m;
	struct gw_proc *proc = ex->proc;

	if (ex->prompt_tokens == 0 && ex->completion_tokens == 0) {
		ex->priced = true;
		ex->cost_pico = 0;
		return;
	}
	m = policy_model(ex->policy, ex->model);
	if (m) {
		ex->priced = true;
		int64_t in, out;
		if (__builtin_mul_overflow(ex->prompt_tokens, m->input_pico, &in) ||
		    __builtin_mul_overflow(ex->completion_tokens, m->output_pico, &out) ||
		    __builtin_add_overflow(in, out, &ex->cost_pico))
			ex->cost_pico = INT64_MAX; /* absurd token counts: the most, never a wrap */
		return;
	}
	for (size_t i = 0; i < proc->n_unpriced; i++)
		if (strcmp(proc->unpriced[i], ex->model ? ex->model : "") == 0)
			return;
	if (proc->n_unpriced == GW_ARRAY_LEN(proc->unpriced))
		return; /* warned about enough models: the log has the point */
	gw_log("model \"%s\" has no [model] price: its usage is logged with cost_usd null",
	       ex->model ? ex->model : "");
	if (proc->n_unpriced < GW_ARRAY_LEN(proc->unpriced))
		proc->unpriced[proc->n_unpriced++] = gw_strdup(ex->model ? ex->model : "");
}

/* Replaces the reservation by what the upstream reported (an error releases
 * it; an answer without usage keeps the estimate). */
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
	if (ex->proc->has_redis)
		rc = rstore_settle(&ex->proc->redis, &ex->ticket, gw_now_ms(), actual,
				   ex->priced ? ex->cost_pico : 0);
	else
		rc = limit_settle(&ex->proc->limits, &ex->ticket, gw_now_ms(), actual,
				  ex->priced ? ex->cost_pico : 0);
	if (rc != GW_OK)
		gw_log("request %s: cannot settle tokens in %s: %s", ex->request_id,
			  ex->policy->state_dir, gw_strerror(rc));
}

/* ---- the upstream call ---- */

static void account_usage(struct exchange *ex, const struct openai_usage *u_);

void ex_account(struct exchange *ex, json_object *answer)
{
	struct openai_usage u = { 0 };

	openai_usage(answer, &u);
	account_usage(ex, &u);
}

static void account_usage(struct exchange *ex, const struct openai_usage *u_)
{
	const struct openai_usage u = *u_;

	ex->answered_ok = true;
	ex->usage_found = u.found;
	ex->prompt_tokens = u.prompt_tokens;
	ex->completion_tokens = u.completion_tokens;
	ex->total_tokens = u.total_tokens;
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
		if (!openai_scan(res->body.data, res->body.len, &u)) {
			gw_log("request %s: upstream %s answered %ld with invalid JSON",
				  ex->request_id, ex->upstream, res->status);
			ex_refuse(ex, 502, "upstream_error", "upstream_invalid",
			       "The upstream answered with invalid JSON", "upstream_invalid");
			return;
		}
		account_usage(ex, &u);
	}
	reply_send(&ex->reply, (int)res->status, ctype, buf_str(&res->body), res->body.len);
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
	const struct gw_upstream **order = gw_calloc(r->n_upstreams, sizeof(*order));
	size_t n = balance_order(&proc->balancer, r, time(NULL), (unsigned)rand_r(&proc->seed), order);
	size_t tries = (size_t)r->retries + 1 < n ? (size_t)r->retries + 1 : n;
	const struct gw_upstream *u = NULL;
	double waited = 0; /* on attempts that failed: upstream time, not the gateway's */

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
		ex->upstream = u->name;
		relay_call(&proc->relay, &rq, sink, res);
		free(owned);
		balance_report(&proc->balancer, u, !retryable(res), time(NULL));
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
/* ---- prompt mode ---- */

/* Finds the prompt: the query string, or for a POST form its body. */
static bool prompt_text(struct exchange *ex, char **text, size_t *len)
{
	const char *name = ex->route->prompt_param;
	enum query_result q = QUERY_MISSING;

	if (ex->req.body.len && ex_is_form(ex->req.content_type))
		q = query_get(ex->req.body.data, ex->req.body.len, name, text, len);
	if (q == QUERY_MISSING)
		q = query_get(ex->req.query, strlen(ex->req.query), name, text, len);
	if (q == QUERY_TOO_MANY)
		return ex_refuse(ex, 400, "invalid_request_error", "too_many_parameters",
			      "Too many parameters", "bad_request");
	if (q == QUERY_MISSING) {
		char msg[160];
		snprintf(msg, sizeof(msg), "Missing the prompt: send it as the %.64s parameter",
			 name);
		return ex_refuse(ex, 400, "invalid_request_error", "missing_prompt", msg,
			      "bad_request");
	}
	return true;
}

/* Prompt mode: the body for one upstream, with its model. */
static const char *prompt_for(struct exchange *ex, const struct gw_upstream *u, size_t *len,
			      char **owned)
{
	const char *model = balance_model(u, u->model ? u->model : ex->model);
	const char *why;

	*owned = prompt_body(ex->route->api, model, ex->prompt, ex->prompt_len, &why);
	*len = *owned ? strlen(*owned) : 0;
	return *owned;
}

static void serve_prompt(struct exchange *ex)
{
	const struct gw_route *r = ex->route;
	const char *why = NULL;
	char *text = NULL;
	size_t len = 0;

	if (strcmp(ex->req.method, "GET") != 0 && strcmp(ex->req.method, "POST") != 0) {
		reply_header(&ex->reply, "Allow", "GET, POST");
		ex_refuse(ex, 405, "invalid_request_error", "method_not_allowed",
		       "Use GET or POST on this route", "bad_method");
		return;
	}
	if (!prompt_text(ex, &text, &len))
		return;
	ex->model = r->upstream->model;
	if (ex->consumer && ex->consumer->models.n && ex->model &&
	    !list_has(&ex->consumer->models, ex->model)) {
		free(text);
		ex_refuse(ex, 403, "permission_error", "model_not_allowed",
			  "This key is not allowed to use this model", "model_not_allowed");
		return;
	}
	if ((why = prompt_problem(text, len)) != NULL) {
		free(text);
		ex_refuse(ex, 400, "invalid_request_error", "invalid_prompt", why, "bad_request");
		return;
	}
	ex->prompt = text;
	ex->prompt_len = len;
	if (ex_limit(ex, limit_estimate_tokens(len) + ex->policy->default_max_tokens))
		ex_call_upstream(ex, "POST",
				 r->api == GW_API_CHAT ? "/chat/completions" : "/completions",
				 prompt_for);
	ex->prompt = NULL;
	free(text);
}


/* ---- one request ---- */

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
	bool rebuilt = false;

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
	if (ex->proc->has_redis) {
		if (rstore_record(&ex->proc->redis, (int64_t)ex->start.tv_sec * 1000, &k, &v,
				  ex->upstream_us > 0 ? ex->upstream_us : -1,
				  overhead_us < 0 ? 0 : overhead_us) != GW_OK)
			gw_log("request %s: usage totals not recorded: %s", ex->request_id,
			       ex->proc->redis.err);
	} else if (stats_record(&ex->proc->stats, (int64_t)ex->start.tv_sec * 1000, &k, &v,
				ex->upstream_us > 0 ? ex->upstream_us : -1,
				overhead_us < 0 ? 0 : overhead_us, &rebuilt) < 0 &&
		   !ex->proc->stats_warned) {
		gw_log("cannot update the usage totals in %s: %s", ex->policy->state_dir,
		       strerror(errno));
		ex->proc->stats_warned = true;
	}
	if (rebuilt)
		gw_log("a usage totals file in %s was damaged; it was moved aside and started anew",
		       ex->policy->state_dir);
}

static void finish(struct exchange *ex)
{
	struct usage_record u = { 0 };
	struct timespec now;
	long long ms;

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
	record_stats(ex, &now);
	if (usage_log_write(&ex->proc->usage, &u) < 0 && !ex->proc->usage.warned) {
		gw_log("cannot write the usage log %s: %s", ex->proc->usage.path,
			  strerror(errno));
		ex->proc->usage.warned = true;
	}
}

static void pipeline(struct exchange *ex)
{
	if (!step_route(ex) || serve_admin(ex))
		return;
	if (!step_auth(ex) || !step_allow(ex) || !step_body(ex))
		return;
	if (ex->route->mode == GW_MODE_OPENAI && !openai_prepare(ex))
		return;
	if (!step_block(ex))
		return;
	if (ex->route->mode == GW_MODE_PROMPT)
		serve_prompt(ex);
	else
		serve_openai(ex);
}

void serve(struct gw_proc *proc, struct gw_io *io)
{
	struct exchange ex;

	memset(&ex, 0, sizeof(ex));
	clock_gettime(CLOCK_REALTIME, &ex.start);
	proc->served++;
	if (proc->reopen_logs && *proc->reopen_logs) {
		*proc->reopen_logs = 0;
		proc->usage.reopen = true;
	}
	proc_refresh_policy(proc, ex.start.tv_sec);
	snprintf(ex.request_id, sizeof(ex.request_id), "%lx-%lx-%llx", (long)ex.start.tv_sec,
		 (long)proc->pid, proc->served);
	ex.proc = proc;
	ex.policy = proc->policy;
	request_init(&ex.req, io);
	reply_init(&ex.reply, io);
	reply_header(&ex.reply, "X-AIGW-Request-Id", ex.request_id);
	if (!ex.policy) {
		ex_refuse(&ex, 500, "server_error", "policy_invalid",
		       "The gateway's policy is invalid; see the server's error log", "no_policy");
	} else if (strlen(ex.req.query) > SERVE_MAX_QUERY) {
		ex_refuse(&ex, 414, "invalid_request_error", "query_too_long",
			  "The query string is too long", "bad_request");
	} else if (ex.req.too_many_headers || request_header_bytes(&ex.req) > SERVE_MAX_HEADER_BYTES) {
		ex_refuse(&ex, 431, "invalid_request_error", "too_many_headers",
		       "Too many request headers", "bad_request");
	} else {
		pipeline(&ex);
	}
	if (!ex.reply.started && !ex.reply.client_gone)
		ex_refuse(&ex, 500, "server_error", "internal", "Internal error", "internal");
	if (ex.policy && !ex.admin) {
		price_answer(&ex);
		settle_limits(&ex);
		finish(&ex);
	}
	json_object_put(ex.json);
	request_free(&ex.req);
	reply_free(&ex.reply);
}
