/* serve.c: the per-process state and the request pipeline: route -> admin
 * -> auth -> allow -> body -> mode prepare -> block -> mode serve, the
 * modes dispatched through the table in modes.c. */
#include "serve.h"
#include "admin.h"
#include "auth.h"
#include "block.h"
#include "exchange.h"
#include "gw.h"
#include "modes.h"
#include "openai.h"
#include "query.h"
#include "reply.h"
#include "request.h"
#include "str.h"

#include <json-c/json.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bounds on what a client may send besides the body (max_body): larger
 * query strings get 414, more header bytes 431. Servers cap these too
 * (8 KB by default), but a raised server limit must not lift ours. */
#define SERVE_MAX_QUERY 65536
#define SERVE_MAX_HEADER_BYTES 65536

/* ---- a worker thread's state ---- */

static void store_for_set(struct gw_policy *to, const struct gw_policy *p)
{
	free(to->state_dir);
	free(to->redis_host);
	memset(to, 0, sizeof(*to));
	to->state_dir = p && p->state_dir ? gw_strdup(p->state_dir) : NULL;
	to->redis_host = p && p->redis_host ? gw_strdup(p->redis_host) : NULL;
	to->redis_port = p ? p->redis_port : 0;
	to->redis_db = p ? p->redis_db : 0;
	to->store_timeout_ms = p ? p->store_timeout_ms : 0;
}

/* Makes the thread's handles fit policy p: a store that serves it, the usage
 * log it names (reopened after SIGHUP), a curl handle. False when curl
 * cannot start. */
static bool proc_bind(struct gw_proc *proc, const struct gw_policy *p)
{
	struct gw_shared *sh = proc->shared;
	unsigned gen = atomic_load(&sh->reopen_gen);

	if (!proc->relay.curl && relay_init(&proc->relay, &sh->relay_pool) < 0) {
		gw_log("cannot initialise libcurl");
		return false;
	}
	if (!p)
		return true;
	if (!proc->store || !store_serves(&proc->store_for, p)) {
		store_close(proc->store);
		proc->store = store_open(p, sh->lock_hold_ms);
		store_for_set(&proc->store_for, p);
	}
	if (!proc->usage.path || !p->usage_log || strcmp(proc->usage.path, p->usage_log) != 0) {
		usage_log_close(&proc->usage);
		usage_log_init(&proc->usage, p->usage_log);
	}
	if (gen != proc->reopen_seen) {
		proc->reopen_seen = gen;
		proc->usage.reopen = true;
	}
	return true;
}

void proc_init(struct gw_proc *proc, struct gw_shared *shared)
{
	memset(proc, 0, sizeof(*proc));
	proc->shared = shared;
	usage_log_init(&proc->usage, NULL);
	proc->reopen_seen = atomic_load(&shared->reopen_gen);
	proc->seed = (unsigned)(shared->pid ^ time(NULL)) ^ (unsigned)(uintptr_t)proc;
}

void proc_free(struct gw_proc *proc)
{
	shared_policy_put(proc->held);
	relay_cleanup(&proc->relay);
	usage_log_close(&proc->usage);
	store_close(proc->store);
	store_for_set(&proc->store_for, NULL);
	memset(proc, 0, sizeof(*proc));
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
 * occurrence), each such query parameter, Authorization: Bearer, and the
 * mode's key_header (each occurrence). Two
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
	const char *mode_key;

	for (size_t i = 0; i < a->keys.n; i++) {
		if (a->in_header)
			for (size_t h = 0; h < ex->req.n_headers; h++)
				if (request_header_is(&ex->req.headers[h], a->keys.v[i]))
					key_add(k, ex->req.headers[h].value, NULL);
		if (a->in_query)
			query_keys(ex, a->keys.v[i], k);
	}
	key_add(k, request_bearer(&ex->req), NULL);
	/* the mode's own key header (x-api-key on anthropic routes) */
	mode_key = mode_def(ex->route->mode)->key_header;
	for (size_t h = 0; mode_key && h < ex->req.n_headers; h++)
		if (request_header_is(&ex->req.headers[h], mode_key))
			key_add(k, ex->req.headers[h].value, NULL);
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
 * form percent-decoded, and the string values (escapes undone) of a body
 * the mode parsed as JSON, whatever its Content-Type says. */
static bool blocked_body(struct exchange *ex, const char **entry)
{
	struct block_text texts[3];
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
	}
	if (ex->json) {
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

static void pipeline(struct exchange *ex)
{
	const struct gw_mode_def *m;

	if (!step_route(ex) || serve_admin(ex))
		return;
	m = mode_def(ex->route->mode);
	ex->errors = m->errors;
	if (!step_auth(ex) || !step_allow(ex) || !step_body(ex))
		return;
	if (m->prepare && !m->prepare(ex))
		return;
	if (!step_block(ex))
		return;
	m->serve(ex);
}

void serve(struct gw_proc *proc, struct gw_io *io)
{
	struct gw_shared *sh = proc->shared;
	struct exchange ex;
	bool bound;

	memset(&ex, 0, sizeof(ex));
	clock_gettime(CLOCK_REALTIME, &ex.start);
	shared_refresh(sh, ex.start.tv_sec);
	proc->held = shared_policy_get(sh);
	bound = proc_bind(proc, proc->held ? proc->held->policy : NULL);
	snprintf(ex.request_id, sizeof(ex.request_id), "%lx-%lx-%llx", (long)ex.start.tv_sec,
		 (long)sh->pid, atomic_fetch_add(&sh->served, 1) + 1);
	ex.proc = proc;
	ex.policy = proc->held ? proc->held->policy : NULL;
	request_init(&ex.req, io);
	reply_init(&ex.reply, io);
	reply_header(&ex.reply, "X-AIGW-Request-Id", ex.request_id);
	if (!ex.policy) {
		ex_refuse(&ex, 500, "server_error", "policy_invalid",
		       "The gateway's policy is invalid; see the server's error log", "no_policy");
	} else if (!bound) {
		ex_refuse(&ex, 500, "server_error", "internal", "Internal error", "internal");
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
	if (ex.policy && bound && !ex.admin)
		ex_finish(&ex);
	if (ex.route && mode_def(ex.route->mode)->cleanup)
		mode_def(ex.route->mode)->cleanup(&ex);
	json_object_put(ex.json);
	request_free(&ex.req);
	reply_free(&ex.reply);
	shared_policy_put(proc->held);
	proc->held = NULL;
}
