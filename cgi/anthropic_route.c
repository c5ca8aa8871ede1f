/* anthropic_route.c: Anthropic mode: the Anthropic Messages API served
 * below a route's path (the client's base URL), with the caller's key
 * swapped for the upstream's, the caller's anthropic-version and
 * anthropic-beta passed on, and Server-Sent Events relayed one by one. */
#include "anthropic.h"
#include "balance.h"
#include "gw.h"
#include "modes.h"
#include "sse.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Cap on max_tokens as a reservation: a larger value reserves this many. */
#define AN_MAX_OUTPUT_ESTIMATE 1000000LL

enum an_endpoint {
	AN_MESSAGES,
	AN_COUNT_TOKENS,
	AN_MODELS,
	AN_MODEL,
	AN__MAX
};

struct an_def {
	const char *path;
	const char *method;
	bool has_body; /* POST with a JSON body */
};

static const struct an_def endpoints[AN__MAX] = {
	{ "/v1/messages", "POST", true },              /* AN_MESSAGES */
	{ "/v1/messages/count_tokens", "POST", true }, /* AN_COUNT_TOKENS */
	{ "/v1/models", "GET", false },                /* AN_MODELS */
	{ "/v1/models/", "GET", false },               /* AN_MODEL: /v1/models/{id} */
};

/* Per-request state: ex->mode_state, made by anthropic_prepare and freed by
 * anthropic_cleanup. */
struct an_state {
	enum an_endpoint ep;
	bool changed;        /* the body must be re-serialised (default model) */
	bool sse;            /* the streamed answer is text/event-stream */
	char *path;          /* the upstream path, query included */
	char *headers[3];    /* anthropic-version, anthropic-beta, NULL */
	struct anthropic_stream stream;
	struct sse_parser sse_parser;
};

static struct an_state *state(const struct exchange *ex)
{
	return ex->mode_state;
}

static bool find_endpoint(struct exchange *ex)
{
	struct an_state *an = state(ex);
	const char *sub = ex->subpath;

	for (int i = 0; i < AN__MAX; i++) {
		const struct an_def *d = &endpoints[i];
		if (!ex_path_is(sub, d->path, i == AN_MODEL))
			continue;
		an->ep = (enum an_endpoint)i;
		return ex_method_ok(ex, d->method);
	}
	return ex_refuse(ex, 404, "invalid_request_error", "unknown_url",
			 "Unknown endpoint; this route serves /v1/messages, "
			 "/v1/messages/count_tokens and /v1/models",
			 "no_route");
}

/* The headers the upstream gets besides its key: the caller's
 * anthropic-version (else the default) and anthropic-beta, when usable. */
static void upstream_headers(struct exchange *ex)
{
	struct an_state *an = state(ex);
	const char *version = request_header(&ex->req, "anthropic-version");
	const char *beta = request_header(&ex->req, "anthropic-beta");
	size_t n = 0;

	if (!anthropic_header_ok(version, ANTHROPIC_MAX_VERSION))
		version = ANTHROPIC_DEFAULT_VERSION;
	an->headers[n++] = gw_concat("anthropic-version: ", version);
	if (anthropic_header_ok(beta, ANTHROPIC_MAX_BETA))
		an->headers[n++] = gw_concat("anthropic-beta: ", beta);
	ex->upstream_headers = (const char *const *)an->headers;
}

/* The upstream path: the endpoint's, and the caller's query without keys. */
static bool upstream_path(struct exchange *ex)
{
	struct an_state *an = state(ex);
	const struct gw_auth *a = &ex->policy->auth;
	char *query = anthropic_query(ex->req.query, &a->keys);

	if (!query)
		return ex_refuse(ex, 400, "invalid_request_error", "invalid_query",
				 "The query string holds characters a URL cannot carry",
				 "bad_request");
	an->path = *query ? gw_asprintf("%s?%s", ex->subpath, query) : gw_strdup(ex->subpath);
	free(query);
	return true;
}

/* Checks the JSON body: an object, a string model (or the upstream's
 * default) the consumer may use, a boolean stream. */
static bool check_body(struct exchange *ex)
{
	struct an_state *an = state(ex);
	json_object *model, *stream;

	ex->json = openai_parse_body(&ex->req.body);
	if (!ex->json || !json_object_is_type(ex->json, json_type_object))
		return ex_refuse(ex, 400, "invalid_request_error", "invalid_json",
				 "The request body must be a JSON object", "bad_request");
	if (!json_object_object_get_ex(ex->json, "model", &model)) {
		if (!ex->route->upstream->model)
			return ex_refuse(ex, 400, "invalid_request_error", "missing_model",
					 "model: Field required", "bad_request");
		json_object_object_add(ex->json, "model",
				       json_object_new_string(ex->route->upstream->model));
		an->changed = true;
		json_object_object_get_ex(ex->json, "model", &model);
	} else if (!json_object_is_type(model, json_type_string)) {
		return ex_refuse(ex, 400, "invalid_request_error", "invalid_model",
				 "model: Input should be a valid string", "bad_request");
	}
	ex->model = json_object_get_string(model);
	if (!ex_model_allowed(ex, ex->model))
		return ex_refuse_model(ex);
	if (!json_object_object_get_ex(ex->json, "stream", &stream) || an->ep != AN_MESSAGES)
		return true;
	if (!json_object_is_type(stream, json_type_boolean))
		return ex_refuse(ex, 400, "invalid_request_error", "invalid_stream",
				 "stream: Input should be a valid boolean", "bad_request");
	ex->stream = json_object_get_boolean(stream);
	return true;
}

/* X-Claude-Code-Session-Id, when printable and short, names the session in
 * the usage record. */
static void note_session(struct exchange *ex)
{
	const char *s = request_header(&ex->req, "X-Claude-Code-Session-Id");

	if (anthropic_header_ok(s, ANTHROPIC_MAX_SESSION))
		ex->session = s;
}

bool anthropic_prepare(struct exchange *ex)
{
	struct an_state *an = gw_calloc(1, sizeof(*an));

	ex->mode_state = an;
	ex->usage_shape = USAGE_ANTHROPIC;
	note_session(ex);
	if (!find_endpoint(ex))
		return false;
	if (an->ep == AN_MODEL) {
		const char *id = ex->subpath + strlen(endpoints[AN_MODEL].path);
		if (!ex_model_id_ok(id))
			return ex_refuse(ex, 404, "invalid_request_error", "model_not_found",
					 "No such model", "bad_request");
		ex->model = id;
		if (!ex_model_allowed(ex, id))
			return ex_refuse_model(ex);
	}
	if (!upstream_path(ex))
		return false;
	upstream_headers(ex);
	return !endpoints[an->ep].has_body || check_body(ex);
}

/* ---- GET /v1/models and /v1/models/{id} ---- */

/* Keeps only the models the consumer may use in a /v1/models answer. */
static void filter_models(struct exchange *ex, struct relay_result *res)
{
	json_object *root, *data, *kept;
	size_t n;

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
	n = json_object_array_length(kept);
	for (int end = 0; end < 2; end++) {
		json_object *id = NULL;
		if (n)
			json_object_object_get_ex(json_object_array_get_idx(kept, end ? n - 1 : 0),
						  "id", &id);
		json_object_object_add(root, end ? "last_id" : "first_id", json_object_get(id));
	}
	json_object_object_add(root, "data", kept);
	buf_reset(&res->body);
	buf_puts(&res->body, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
								       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

static void serve_models(struct exchange *ex)
{
	struct relay_result res = { 0 };

	ex_call(ex, "GET", state(ex)->path, NULL, NULL, &res);
	filter_models(ex, &res);
	ex_relay_answer(ex, &res);
	relay_result_free(&res);
}

/* ---- POST bodies ---- */

/* The body for one upstream: as checked, with u's name of the model. */
static const char *body_for(struct exchange *ex, const struct gw_upstream *u, size_t *len,
			    char **owned)
{
	const char *model = balance_model(u, ex->model);
	json_object *copy = NULL;

	if (strcmp(model, ex->model) == 0) {
		if (state(ex)->changed) {
			const char *text = json_object_to_json_string_ext(
				ex->json, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
			*len = strlen(text);
			return text;
		}
		*len = ex->req.body.len;
		return ex->req.body.data;
	}
	json_object_deep_copy(ex->json, &copy, NULL);
	json_object_object_add(copy, "model", json_object_new_string(model));
	*owned = gw_strdup(json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN |
								       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(copy);
	*len = strlen(*owned);
	return *owned;
}

/* The reservation: the body's tokens and max_tokens, bounded. */
static long long estimate_tokens(struct exchange *ex)
{
	long long out = openai_int(ex->json, "max_tokens", -1);

	if (out < 0)
		out = ex->policy->default_max_tokens;
	if (out > AN_MAX_OUTPUT_ESTIMATE)
		out = AN_MAX_OUTPUT_ESTIMATE;
	return limit_estimate_tokens(ex->req.body.len) + out;
}

/* ---- streamed answers ---- */

static int on_event(void *ctx, const char *data, size_t len, bool has_data, const char *raw,
		    size_t raw_len)
{
	struct exchange *ex = ctx;

	if (has_data)
		anthropic_event(data, len, &state(ex)->stream);
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

/* A stream the upstream cut: the client gets an error event, as the API
 * itself sends one, so that no SDK takes the half answer for a whole one. */
static void tell_cut(struct exchange *ex)
{
	static const char event[] =
		"event: error\n"
		"data: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":"
		"\"The upstream's stream ended before the message did\"}}\n\n";

	reply_write(&ex->reply, event, sizeof(event) - 1, true);
}

/* After a stream: what the events said, or what was seen of a cut one. */
static void stream_end(struct exchange *ex, struct relay_result *res)
{
	struct an_state *an = state(ex);
	struct anthropic_stream *s = &an->stream;

	if (res->err == GW_OK)
		sse_finish(&an->sse_parser); /* a cut stream's half event is not passed on */
	if (!s->usage.found)
		s->usage.prompt_tokens = limit_estimate_tokens(ex->req.body.len);
	if (!s->stopped || !s->delta_usage)
		s->usage.completion_tokens = anthropic_cut_completion(s);
	s->usage.total_tokens = s->usage.prompt_tokens + s->usage.completion_tokens;
	ex_account_usage(ex, &s->usage);
	ex->answered_ok = res->err == GW_OK && !s->error;
	if (res->err == GW_ECLIENT) {
		ex->reason = "client_gone";
		gw_log("request %s: the client went away mid-stream; upstream transfer stopped",
		       ex->request_id);
	} else if (an->sse_parser.too_big) {
		ex->reason = "stream_cut";
		gw_log("request %s: upstream %s sent an event over %u bytes; stream stopped",
		       ex->request_id, ex->upstream, SSE_MAX_EVENT);
	} else if (res->err != GW_OK || (!s->stopped && !s->error)) {
		ex->reason = "stream_cut";
		gw_log("request %s: upstream %s stream ended early: %s%s%s", ex->request_id,
		       ex->upstream, res->err != GW_OK ? gw_strerror(res->err) : "no message_stop",
		       res->detail[0] ? ": " : "", res->detail);
	} else if (s->error) {
		ex->reason = "upstream_error";
		gw_log("request %s: upstream %s sent an error event", ex->request_id, ex->upstream);
	}
	if (res->began && ex->reason && strcmp(ex->reason, "stream_cut") == 0)
		tell_cut(ex);
}

static void call_streaming(struct exchange *ex)
{
	struct an_state *an = state(ex);
	struct relay_result res = { 0 };
	struct relay_sink sink = { ex, stream_begin, stream_data };

	sse_init(&an->sse_parser, on_event, ex);
	ex_call(ex, "POST", an->path, body_for, &sink, &res);
	ex->upstream_ms = (long long)(res.seconds * 1000);
	ex->upstream_us = (int64_t)(res.seconds * 1e6);
	if (res.began)
		stream_end(ex, &res);
	else
		ex_relay_answer(ex, &res);
	sse_free(&an->sse_parser);
	relay_result_free(&res);
}

/* count_tokens spends no tokens and takes no place in the windows: relayed,
 * logged, never counted. */
static void serve_count_tokens(struct exchange *ex)
{
	ex_call_upstream(ex, "POST", state(ex)->path, body_for);
	ex->usage_found = false;
	ex->prompt_tokens = ex->completion_tokens = ex->total_tokens = 0;
	ex->cached_tokens = ex->cache_write_tokens = ex->reasoning_tokens = 0;
}

void anthropic_serve(struct exchange *ex)
{
	struct an_state *an = state(ex);

	switch (an->ep) {
	case AN_COUNT_TOKENS:
		serve_count_tokens(ex);
		return;
	case AN_MODELS:
	case AN_MODEL:
		if (ex_limit(ex, 0))
			serve_models(ex);
		return;
	default:
		break;
	}
	if (!ex_limit(ex, estimate_tokens(ex)))
		return;
	if (ex->stream)
		call_streaming(ex);
	else
		ex_call_upstream(ex, "POST", an->path, body_for);
}

void anthropic_cleanup(struct exchange *ex)
{
	struct an_state *an = state(ex);

	if (!an)
		return;
	for (size_t i = 0; i < GW_ARRAY_LEN(an->headers); i++)
		free(an->headers[i]);
	free(an->path);
	free(an);
	ex->mode_state = NULL;
	ex->upstream_headers = NULL;
}
