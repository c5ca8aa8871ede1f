/* openai_route.c: OpenAI mode: the OpenAI REST API served under a route's
 * path, with the caller's key swapped for the upstream's, model allow lists,
 * and Server-Sent Events relayed event by event; the Responses API's stored
 * responses are responses.c's. */
#include "balance.h"
#include "modes.h"
#include "gw.h"
#include "openai.h"
#include "responses.h"
#include "sse.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum oa_endpoint {
	OA_CHAT,
	OA_COMPLETIONS,
	OA_EMBEDDINGS,
	OA_MODELS,
	OA_MODEL,
	OA_RESPONSES,
	OA_RESP_TOKENS,
	OA_RESPONSE,
	OA__MAX
};

struct oa_def {
	const char *path;
	const char *method; /* NULL: the endpoint's helper checks it */
	bool prefix;     /* path followed by an id */
	bool has_body;   /* POST with a JSON body */
	bool can_stream;
	bool responses;  /* the Responses API (no stream_options) */
};

/* Matched in this order: an exact path before a prefix of it. */
static const struct oa_def endpoints[OA__MAX] = {
	{ "/chat/completions", "POST", false, true, true, false },  /* OA_CHAT */
	{ "/completions", "POST", false, true, true, false },       /* OA_COMPLETIONS */
	{ "/embeddings", "POST", false, true, false, false },       /* OA_EMBEDDINGS */
	{ "/models", "GET", false, false, false, false },           /* OA_MODELS */
	{ "/models/", "GET", true, false, false, false },           /* OA_MODEL: /models/{id} */
	{ "/responses", "POST", false, true, true, true },          /* OA_RESPONSES */
	{ "/responses/input_tokens", "POST", false, true, false, true }, /* OA_RESP_TOKENS */
	{ "/responses/", NULL, true, false, false, true },          /* OA_RESPONSE: /responses/{id}... */
};

/* Per-request state of OpenAI mode: ex->mode_state, made by openai_prepare
 * and freed by openai_cleanup. */
struct oa_state {
	enum oa_endpoint ep;
	const char *model_id; /* OA_MODEL: the id in the path */
	bool changed;         /* the body must be re-serialised */
	bool caller_usage;    /* the caller asked for stream_options.include_usage */
	bool sse;             /* the streamed answer is text/event-stream */
	size_t content_bytes; /* streamed completion text seen, for a cut stream */
	struct sse_parser sse_parser;
	struct responses_req resp; /* the stored response the request names */
	bool names_response;       /* ... in its URL or previous_response_id */
};

static struct oa_state *state(const struct exchange *ex)
{
	return ex->mode_state;
}

static bool find_endpoint(struct exchange *ex)
{
	struct oa_state *oa = state(ex);
	const char *sub = ex->subpath;

	for (int i = 0; i < OA__MAX; i++) {
		const struct oa_def *d = &endpoints[i];
		if (!ex_path_is(sub, d->path, d->prefix))
			continue;
		oa->ep = (enum oa_endpoint)i;
		return ex_method_ok(ex, d->method);
	}
	return ex_refuse(ex, 404, "invalid_request_error", "unknown_url",
			 "Unknown endpoint; this route serves /chat/completions, /completions, "
			 "/embeddings, /models and /responses",
			 "no_route");
}

/* Checks the JSON body: an object, a string model (or the upstream's default). */
static bool check_body(struct exchange *ex)
{
	struct oa_state *oa = state(ex);
	json_object *model;

	ex->json = openai_parse_body(&ex->req.body);
	if (!ex->json || !json_object_is_type(ex->json, json_type_object))
		return ex_refuse(ex, 400, "invalid_request_error", "invalid_json",
				 "The request body must be a JSON object", "bad_request");
	if (!json_object_object_get_ex(ex->json, "model", &model)) {
		if (!ex->route->upstream->model)
			return ex_refuse(ex, 400, "invalid_request_error", "missing_model",
					 "The request names no model", "bad_request");
		json_object_object_add(ex->json, "model",
				       json_object_new_string(ex->route->upstream->model));
		oa->changed = true;
	} else if (!json_object_is_type(model, json_type_string)) {
		return ex_refuse(ex, 400, "invalid_request_error", "invalid_model",
				 "model must be a string", "bad_request");
	}
	json_object_object_get_ex(ex->json, "model", &model);
	ex->model = json_object_get_string(model);
	if (!ex_model_allowed(ex, ex->model))
		return ex_refuse_model(ex);
	return true;
}

/* Streams get stream_options.include_usage so the gateway can count tokens;
 * the extra usage event is dropped again when the caller did not ask. */
static void prepare_stream(struct exchange *ex)
{
	struct oa_state *oa = state(ex);
	json_object *v, *opts;

	if (!endpoints[oa->ep].can_stream || !json_object_object_get_ex(ex->json, "stream", &v) ||
	    !json_object_get_boolean(v))
		return;
	ex->stream = true;
	if (endpoints[oa->ep].responses)
		return; /* usage comes in response.completed whatever the caller asks */
	if (json_object_object_get_ex(ex->json, "stream_options", &opts) &&
	    json_object_is_type(opts, json_type_object)) {
		oa->caller_usage = json_object_object_get_ex(opts, "include_usage", &v) &&
				  json_object_get_boolean(v);
	} else {
		opts = json_object_new_object();
		json_object_object_add(ex->json, "stream_options", opts);
	}
	if (!oa->caller_usage) {
		json_object_object_add(opts, "include_usage", json_object_new_boolean(1));
		oa->changed = true;
	}
}

bool openai_prepare(struct exchange *ex)
{
	struct oa_state *oa = gw_calloc(1, sizeof(*oa));

	ex->mode_state = oa;
	if (!find_endpoint(ex))
		return false;
	if (oa->ep == OA_RESPONSE) {
		oa->names_response = true;
		return responses_prepare(ex, ex->subpath + strlen(endpoints[OA_RESPONSE].path),
					 &oa->resp);
	}
	if (oa->ep == OA_MODEL) {
		oa->model_id = ex->subpath + strlen(endpoints[OA_MODEL].path);
		if (!ex_model_id_ok(oa->model_id))
			return ex_refuse(ex, 404, "invalid_request_error", "model_not_found",
					 "No such model", "bad_request");
		ex->model = oa->model_id;
		return ex_model_allowed(ex, oa->model_id) ? true : ex_refuse_model(ex);
	}
	if (!endpoints[oa->ep].has_body)
		return true;
	if (!check_body(ex))
		return false;
	if (endpoints[oa->ep].responses &&
	    !responses_body_previous(ex, &oa->resp, &oa->names_response))
		return false;
	prepare_stream(ex);
	return true;
}

/* ---- GET /models and /models/{id} ---- */

/* Keeps only the models the consumer may use in a /models answer. */
static void filter_models(struct exchange *ex, struct relay_result *res)
{
	json_object *root, *data, *kept;
	const char *text;

	if (!ex->consumer || ex->consumer->models.n == 0 || res->err != GW_OK ||
	    res->status < 200 || res->status >= 300)
		return;
	root = openai_parse(res->body.data, res->body.len);
	if (!root || !json_object_object_get_ex(root, "data", &data) ||
	    !json_object_is_type(data, json_type_array)) {
		json_object_put(root);
		return; /* ex_relay_answer turns invalid JSON into a 502 */
	}
	kept = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(data); i++) {
		json_object *m = json_object_array_get_idx(data, i), *id;
		if (json_object_object_get_ex(m, "id", &id) &&
		    list_has(&ex->consumer->models, json_object_get_string(id)))
			json_object_array_add(kept, json_object_get(m));
	}
	json_object_object_add(root, "data", kept);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
							    JSON_C_TO_STRING_NOSLASHESCAPE);
	buf_reset(&res->body);
	buf_puts(&res->body, text);
	json_object_put(root);
}

static void serve_models(struct exchange *ex)
{
	struct oa_state *oa = state(ex);
	struct relay_result res = { 0 };
	char path[300];

	if (oa->ep == OA_MODEL)
		snprintf(path, sizeof(path), "/models/%s", oa->model_id);
	else
		snprintf(path, sizeof(path), "/models");
	ex_call(ex, "GET", path, NULL, NULL, &res);
	filter_models(ex, &res);
	ex_relay_answer(ex, &res);
	relay_result_free(&res);
}

static const char *body_for(struct exchange *ex, const struct gw_upstream *u, size_t *len,
			    char **owned);

/* ---- streamed answers ---- */

/* Reads usage and completion text from one streamed chunk; returns true when
 * the event is the usage-only chunk the caller did not ask for. */
static bool inspect_chunk(struct exchange *ex, const char *data, size_t len)
{
	struct oa_state *oa = state(ex);
	json_object *chunk, *choices, *v;
	bool usage_only = false;

	if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
		return false;
	chunk = openai_parse(data, len);
	if (!chunk)
		return false;
	if (json_object_object_get_ex(chunk, "usage", &v) && json_object_is_type(v, json_type_object)) {
		ex_account(ex, chunk);
		usage_only = json_object_object_get_ex(chunk, "choices", &choices) &&
			     json_object_is_type(choices, json_type_array) &&
			     json_object_array_length(choices) == 0;
	}
	if (json_object_object_get_ex(chunk, "choices", &choices) &&
	    json_object_is_type(choices, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(choices); i++) {
			json_object *c = json_object_array_get_idx(choices, i), *delta, *t;
			if (json_object_object_get_ex(c, "delta", &delta) &&
			    json_object_object_get_ex(delta, "content", &t))
				oa->content_bytes += (size_t)json_object_get_string_len(t);
			else if (json_object_object_get_ex(c, "text", &t))
				oa->content_bytes += (size_t)json_object_get_string_len(t);
		}
	}
	json_object_put(chunk);
	return usage_only && !oa->caller_usage;
}

static int on_event(void *ctx, const char *data, size_t len, bool has_data, const char *raw,
		    size_t raw_len)
{
	struct exchange *ex = ctx;
	struct oa_state *oa = state(ex);

	if (has_data && oa->ep == OA_RESPONSES)
		oa->content_bytes += responses_stream_event(ex, data, len);
	else if (has_data && !endpoints[oa->ep].responses && inspect_chunk(ex, data, len))
		return 0;
	return reply_write(&ex->reply, raw, raw_len, true);
}

static int stream_begin(void *ctx, const struct relay_result *res)
{
	int rc = ex_stream_start(ctx, res);

	state(ctx)->sse = rc != 1;
	return rc;
}

static int stream_data(void *ctx, const char *p, size_t n)
{
	return ex_sse_feed(&state(ctx)->sse_parser, p, n);
}

/* After a stream: account what was seen when the usage event never came. */
static void stream_end(struct exchange *ex, struct relay_result *res)
{
	struct oa_state *oa = state(ex);

	if (res->err == GW_OK)
		sse_finish(&oa->sse_parser); /* a cut stream's half event is not passed on */
	if (!ex->usage_found) {
		ex->prompt_tokens = limit_estimate_tokens(ex->req.body.len);
		ex->completion_tokens = limit_estimate_tokens(oa->content_bytes);
		ex->total_tokens = ex->prompt_tokens + ex->completion_tokens;
	}
	ex->answered_ok = res->err == GW_OK;
	if (res->err == GW_ECLIENT) {
		ex->reason = "client_gone";
		gw_log("request %s: the client went away mid-stream; upstream transfer stopped",
		       ex->request_id);
	} else if (oa->sse_parser.too_big) {
		ex->reason = "stream_cut";
		gw_log("request %s: upstream %s sent an event over %u bytes; stream stopped",
		       ex->request_id, ex->upstream, SSE_MAX_EVENT);
	} else if (res->err != GW_OK) {
		ex->reason = "stream_cut";
		gw_log("request %s: upstream %s stream ended early: %s%s%s", ex->request_id,
		       ex->upstream, gw_strerror(res->err), res->detail[0] ? ": " : "", res->detail);
	}
}

static void call_streaming(struct exchange *ex, const char *method, const char *path)
{
	struct oa_state *oa = state(ex);
	struct relay_result res = { 0 };
	struct relay_sink sink = { ex, stream_begin, stream_data };

	sse_init(&oa->sse_parser, on_event, ex);
	ex_call(ex, method, path, strcmp(method, "POST") == 0 ? body_for : NULL, &sink, &res);
	ex->upstream_ms = (long long)(res.seconds * 1000);
	ex->upstream_us = (int64_t)(res.seconds * 1e6);
	if (res.began)
		stream_end(ex, &res);
	else
		ex_relay_answer(ex, &res);
	sse_free(&oa->sse_parser);
	relay_result_free(&res);
}
/* ---- POST endpoints ---- */

static long long estimate_tokens(struct exchange *ex)
{
	struct oa_state *oa = state(ex);
	long long out = 0;

	if (oa->ep != OA_EMBEDDINGS) {
		out = openai_int(ex->json, oa->ep == OA_RESPONSES ? "max_output_tokens"
								  : "max_completion_tokens",
				 -1);
		if (out < 0)
			out = openai_int(ex->json, "max_tokens", ex->policy->default_max_tokens);
		if (out < 0)
			out = ex->policy->default_max_tokens;
		if (out > OPENAI_MAX_TOKENS)
			out = OPENAI_MAX_TOKENS;
	}
	return limit_estimate_tokens(ex->req.body.len) + out;
}

/* The body for one upstream: as the client sent it, unless the gateway had
 * to change it (default model, stream_options) or u maps the model. */
static const char *body_for(struct exchange *ex, const struct gw_upstream *u, size_t *len,
			    char **owned)
{
	struct oa_state *oa = state(ex);
	const char *model = balance_model(u, ex->model);
	const char *text;

	if (!oa->changed && strcmp(model, ex->model) == 0) {
		*len = ex->req.body.len;
		return ex->req.body.data;
	}
	if (strcmp(model, ex->model) != 0) {
		json_object *copy = NULL;
		json_object_deep_copy(ex->json, &copy, NULL);
		json_object_object_add(copy, "model", json_object_new_string(model));
		*owned = gw_strdup(json_object_to_json_string_ext(
			copy, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(copy);
		*len = strlen(*owned);
		return *owned;
	}
	text = json_object_to_json_string_ext(ex->json, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE);
	*len = strlen(text);
	return text;
}

/* Below /responses/{id}: a retrieve streamed, or responses.c's buffered call. */
static void serve_stored(struct exchange *ex)
{
	struct oa_state *oa = state(ex);
	char *path;

	if (!ex->stream) {
		responses_serve_stored(ex, &oa->resp);
		return;
	}
	if (!ex_limit(ex, 0))
		return;
	path = responses_path(ex, &oa->resp);
	call_streaming(ex, "GET", path);
	free(path);
}

/* A buffered POST; a new response's id is remembered before the client
 * can name it. */
static void call_buffered(struct exchange *ex)
{
	struct oa_state *oa = state(ex);
	struct relay_result res = { 0 };

	ex_call(ex, "POST", endpoints[oa->ep].path, body_for, NULL, &res);
	if (oa->ep == OA_RESPONSES)
		responses_remember_answer(ex, &res);
	ex_relay_answer(ex, &res);
	relay_result_free(&res);
}

void openai_serve(struct exchange *ex)
{
	struct oa_state *oa = state(ex);

	if (oa->names_response && !responses_owned(ex, oa->resp.id))
		return;
	if (oa->ep == OA_RESPONSE) {
		serve_stored(ex);
		return;
	}
	if (!endpoints[oa->ep].has_body) {
		if (ex_limit(ex, 0))
			serve_models(ex);
		return;
	}
	if (!ex_limit(ex, oa->ep == OA_RESP_TOKENS ? 0 : estimate_tokens(ex)))
		return;
	if (ex->stream)
		call_streaming(ex, "POST", endpoints[oa->ep].path);
	else
		call_buffered(ex);
}

void openai_cleanup(struct exchange *ex)
{
	free(ex->mode_state);
	ex->mode_state = NULL;
}
