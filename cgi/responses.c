/* responses.c: the OpenAI Responses API's stored responses in OpenAI mode:
 * who created each id (kept in the store), requests naming one, and what
 * the gateway reads from a Responses stream. */
#include "responses.h"
#include "gw.h"
#include "query.h"
#include "store.h"
#include "str.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pure helpers ---- */

bool responses_id_ok(const char *s, size_t len)
{
	if (len == 0 || len > RESPONSES_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
		    c != '_' && c != '-')
			return false;
	}
	return true;
}

struct action_def {
	const char *suffix; /* after the id */
	const char *method;
	const char *allow;  /* the methods of this path, for 405 */
};

static const struct action_def actions[RESPONSES__MAX] = {
	{ "", "GET", "GET, DELETE" },         /* RESPONSES_GET */
	{ "", "DELETE", "GET, DELETE" },      /* RESPONSES_DELETE */
	{ "/cancel", "POST", "POST" },        /* RESPONSES_CANCEL */
	{ "/input_items", "GET", "GET" },     /* RESPONSES_INPUT_ITEMS */
};

int responses_parse_path(const char *sub, const char *method, struct responses_req *r,
			 const char **allow)
{
	size_t idlen = strcspn(sub, "/");
	const char *rest = sub + idlen;
	bool path_known = false;

	if (!responses_id_ok(sub, idlen))
		return -1;
	for (int i = 0; i < RESPONSES__MAX; i++) {
		if (strcmp(rest, actions[i].suffix) != 0)
			continue;
		path_known = true;
		*allow = actions[i].allow;
		if (strcmp(method, actions[i].method) != 0)
			continue;
		memcpy(r->id, sub, idlen);
		r->id[idlen] = '\0';
		r->action = (enum responses_action)i;
		return 0;
	}
	return path_known ? -2 : -1;
}

bool responses_raw_ok(const char *uri)
{
	size_t n = strcspn(uri, "?#");
	const char *p = NULL;

	for (const char *q = uri; (q = memmem(q, n - (size_t)(q - uri), "/responses/", 11));
	     q++)
		p = q + 11; /* the last one: the route's own path may hold the word */
	if (!p)
		return false;
	for (; p < uri + n; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && !strchr("_-/", *p))
			return false;
	return true;
}

/* The query parameters each action passes on (others are dropped: the
 * caller's key may be among them). */
static bool param_passed(enum responses_action a, const char *name)
{
	static const char *const items[] = { "after", "limit", "order", "include[]", "include",
					     NULL };
	static const char *const get[] = { "include[]", "include", "starting_after", "stream",
					   "include_obfuscation", NULL };
	const char *const *list = a == RESPONSES_INPUT_ITEMS ? items : a == RESPONSES_GET ? get : NULL;

	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/* Appends name=value, each percent-encoded by libcurl, to out. */
static void append_param(struct gw_buf *out, const char *name, size_t nlen, const char *value,
			 size_t vlen)
{
	char *n = curl_easy_escape(NULL, name, (int)nlen);
	char *v = curl_easy_escape(NULL, value, (int)vlen);

	if (n && v) {
		buf_puts(out, out->len ? "&" : "");
		buf_puts(out, n);
		buf_puts(out, "=");
		buf_puts(out, v);
	}
	curl_free(n);
	curl_free(v);
}

char *responses_query(const char *query, enum responses_action action)
{
	struct gw_buf out = { 0 };
	const char *p = query ? query : "";
	char *encoded;

	while (*p) {
		size_t plen = strcspn(p, "&"), nraw = strcspn(p, "=&");
		size_t nlen, vlen = 0;
		char *name = str_percent_decode(p, nraw, true, &nlen, NULL);
		char *value = NULL;

		if (nraw < plen)
			value = str_percent_decode(p + nraw + 1, plen - nraw - 1, true, &vlen, NULL);
		if (strlen(name) == nlen && param_passed(action, name) && vlen < 4096)
			append_param(&out, name, nlen, value ? value : "", vlen);
		free(name);
		free(value);
		p += plen;
		if (*p == '&')
			p++;
	}
	encoded = gw_strdup(buf_str(&out));
	buf_free(&out);
	return encoded;
}

bool responses_event_read(const char *data, size_t len, struct responses_event *ev)
{
	json_object *o = openai_parse(data, len), *v, *resp, *usage;
	const char *type;

	memset(ev, 0, sizeof(*ev));
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return false;
	}
	type = json_object_object_get_ex(o, "type", &v) ? json_object_get_string(v) : "";
	if (!json_object_is_type(v, json_type_string))
		type = "";
	if (json_object_object_get_ex(o, "response", &resp) &&
	    json_object_is_type(resp, json_type_object)) {
		if (strcmp(type, "response.created") == 0 &&
		    json_object_object_get_ex(resp, "id", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    responses_id_ok(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
			snprintf(ev->created_id, sizeof(ev->created_id), "%s",
				 json_object_get_string(v));
		if ((strcmp(type, "response.completed") == 0 ||
		     strcmp(type, "response.incomplete") == 0 ||
		     strcmp(type, "response.failed") == 0) &&
		    json_object_object_get_ex(resp, "usage", &usage) &&
		    json_object_is_type(usage, json_type_object)) {
			openai_usage(resp, USAGE_OPENAI, &ev->usage);
			ev->has_usage = ev->usage.found;
		}
	}
	if (strlen(type) > 6 && strcmp(type + strlen(type) - 6, ".delta") == 0 &&
	    json_object_object_get_ex(o, "delta", &v) && json_object_is_type(v, json_type_string))
		ev->delta_bytes = (size_t)json_object_get_string_len(v);
	json_object_put(o);
	return true;
}

bool responses_owner_format(char *out, size_t size, const char *consumer, const char *upstream)
{
	int n = snprintf(out, size, "%s\t%s", consumer, upstream);

	return n > 0 && (size_t)n < size && !strchr(consumer, '\t') && !strchr(upstream, '\t');
}

bool responses_owner_parse(char *value, const char **consumer, const char **upstream)
{
	char *tab = strchr(value, '\t');

	if (!tab || strchr(tab + 1, '\t') || !tab[1])
		return false;
	*tab = '\0';
	*consumer = value;
	*upstream = tab + 1;
	return true;
}

/* ---- ownership in the store ---- */

static const char *consumer_name(const struct exchange *ex)
{
	return ex->consumer ? ex->consumer->name : "";
}

static void store_key(char *key, size_t size, const char *id)
{
	snprintf(key, size, "resp:%s", id);
}

static bool refuse_unknown(struct exchange *ex)
{
	return ex_refuse(ex, 404, "invalid_request_error", "response_not_found",
			 "No response with this id was created with this key", "response_not_found");
}

bool responses_prepare(struct exchange *ex, const char *sub, struct responses_req *r)
{
	const char *allow = NULL;
	char *v = NULL;
	size_t vlen;
	int rc = responses_parse_path(sub, ex->req.method, r, &allow);

	if (rc == -1 || !responses_raw_ok(ex->req.request_uri))
		return refuse_unknown(ex);
	if (rc == -2) {
		reply_header(&ex->reply, "Allow", allow);
		return ex_refuse(ex, 405, "invalid_request_error", "method_not_allowed",
				 "Method not allowed on this endpoint", "bad_method");
	}
	if (r->action == RESPONSES_GET &&
	    query_get(ex->req.query, strlen(ex->req.query), "stream", &v, &vlen) == QUERY_FOUND)
		ex->stream = strcmp(v, "true") == 0;
	free(v);
	return true;
}

bool responses_body_previous(struct exchange *ex, struct responses_req *r, bool *named)
{
	json_object *v;

	*named = false;
	if (!json_object_object_get_ex(ex->json, "previous_response_id", &v) || !v)
		return true;
	if (!json_object_is_type(v, json_type_string))
		return ex_refuse(ex, 400, "invalid_request_error", "invalid_type",
				 "previous_response_id must be a string", "bad_request");
	if (!responses_id_ok(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
		return refuse_unknown(ex);
	snprintf(r->id, sizeof(r->id), "%s", json_object_get_string(v));
	*named = true;
	return true;
}

bool responses_owned(struct exchange *ex, const char *id)
{
	struct gw_store *st = ex->proc->store;
	char key[RESPONSES_ID_MAX + 8], value[512];
	const char *owner, *uname;
	int rc;

	store_key(key, sizeof(key), id);
	rc = store_get(st, key, value, sizeof(value));
	if (rc == GW_ENOTFOUND)
		return refuse_unknown(ex);
	if (rc != GW_OK) {
		/* never "open": an unchecked id could be another consumer's */
		gw_log("request %s: cannot look up response %s: %s; refused", ex->request_id, id,
		       st->err);
		return ex_refuse(ex, 503, "server_error", "store_unavailable",
				 "The gateway cannot check this response's owner right now",
				 "store_error");
	}
	if (!responses_owner_parse(value, &owner, &uname) ||
	    strcmp(owner, consumer_name(ex)) != 0)
		return refuse_unknown(ex);
	ex->pinned = policy_upstream(ex->policy, uname);
	if (!ex->pinned) {
		gw_log("request %s: response %s was created on upstream %s, which the policy no "
		       "longer has; answered 404",
		       ex->request_id, id, uname);
		return refuse_unknown(ex);
	}
	return true;
}

static void store_owner(struct exchange *ex, const char *id, int64_t ttl_ms)
{
	struct gw_store *st = ex->proc->store;
	char key[RESPONSES_ID_MAX + 8], value[512];

	if (!ex->upstream || !responses_owner_format(value, sizeof(value), consumer_name(ex),
						     ex->upstream))
		return;
	store_key(key, sizeof(key), id);
	if (store_put(st, key, value, ttl_ms) != GW_OK)
		gw_log("request %s: response %s not remembered: %s; its owner cannot use it "
		       "through the gateway",
		       ex->request_id, id, st->err);
}

void responses_remember(struct exchange *ex, const char *id)
{
	if (!responses_id_ok(id, strlen(id))) {
		char *safe = str_sanitize_for_log(id, strlen(id), 80);
		gw_log("request %s: upstream %s answered a response id the gateway does not relay "
		       "(\"%s\"); not remembered",
		       ex->request_id, ex->upstream, safe);
		free(safe);
		return;
	}
	store_owner(ex, id, RESPONSES_TTL_MS);
}

void responses_remember_answer(struct exchange *ex, const struct relay_result *res)
{
	json_object *o, *id;

	if (res->err != GW_OK || res->status < 200 || res->status >= 300)
		return;
	o = openai_parse(res->body.data, res->body.len);
	if (o && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "id", &id) && json_object_is_type(id, json_type_string))
		responses_remember(ex, json_object_get_string(id));
	json_object_put(o);
}

size_t responses_stream_event(struct exchange *ex, const char *data, size_t len)
{
	struct responses_event ev;

	if (!responses_event_read(data, len, &ev))
		return 0;
	if (ev.created_id[0])
		responses_remember(ex, ev.created_id);
	if (ev.has_usage)
		ex_account_usage(ex, &ev.usage);
	return ev.delta_bytes;
}

/* ---- requests naming a stored response ---- */

char *responses_path(const struct exchange *ex, const struct responses_req *r)
{
	char *q = responses_query(ex->req.query, r->action);
	size_t n = strlen(r->id) + strlen(q) + 32;
	char *path = gw_malloc(n);

	snprintf(path, n, "/responses/%s%s%s%s", r->id, actions[r->action].suffix, *q ? "?" : "",
		 q);
	free(q);
	return path;
}

static const char *empty_body(struct exchange *ex, const struct gw_upstream *u, size_t *len,
			      char **owned)
{
	(void)u;
	(void)owned;
	if (ex->req.body.len) { /* cancel takes no body; one sent is passed on */
		*len = ex->req.body.len;
		return ex->req.body.data;
	}
	*len = 0;
	return "";
}

void responses_serve_stored(struct exchange *ex, const struct responses_req *r)
{
	struct relay_result res = { 0 };
	char *path;

	if (!ex_limit(ex, 0))
		return;
	path = responses_path(ex, r);
	ex_call(ex, actions[r->action].method, path,
		r->action == RESPONSES_CANCEL ? empty_body : NULL, NULL, &res);
	free(path);
	ex_relay_answer(ex, &res);
	/* a stored response's usage was counted when it was made */
	ex->prompt_tokens = ex->completion_tokens = ex->total_tokens = 0;
	ex->cached_tokens = ex->cache_write_tokens = ex->reasoning_tokens = 0;
	if (r->action == RESPONSES_DELETE && res.err == GW_OK && res.status >= 200 &&
	    res.status < 300)
		store_owner(ex, r->id, 1); /* forgotten: gone in a millisecond */
	relay_result_free(&res);
}
