/* responses.h: the OpenAI Responses API in OpenAI mode, a helper of
 * openai_route.c: response ids and their owners (consumer and upstream)
 * remembered in the store, requests naming an id, and the usage and ids
 * of streamed events. Private to the responder. */
#ifndef GW_RESPONSES_H
#define GW_RESPONSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exchange.h"
#include "openai.h"
#include "relay.h"

/* The longest response id the gateway relays. */
#define RESPONSES_ID_MAX 128
/* How long the gateway remembers who created a response. */
#define RESPONSES_TTL_MS (30LL * 24 * 3600 * 1000)

/* What a request below <path>/responses/{id} asks for. */
enum responses_action {
	RESPONSES_GET,         /* GET    /responses/{id} */
	RESPONSES_DELETE,      /* DELETE /responses/{id} */
	RESPONSES_CANCEL,      /* POST   /responses/{id}/cancel */
	RESPONSES_INPUT_ITEMS, /* GET    /responses/{id}/input_items */
	RESPONSES__MAX
};

/* A request naming a stored response (in the URL or previous_response_id). */
struct responses_req {
	char id[RESPONSES_ID_MAX + 1];
	enum responses_action action;
};

/* True when s[0..len) is a response id the gateway relays: 1 to
 * RESPONSES_ID_MAX bytes of [A-Za-z0-9_-]. Pure. */
bool responses_id_ok(const char *s, size_t len);

/* Reads sub, the path below "/responses/" ("{id}", "{id}/cancel",
 * "{id}/input_items"), and method into *r. Returns 0; -1 when the id is
 * not valid or there is no such endpoint (404); -2 when the endpoint
 * exists but not for method (405; *allow gets its methods). Pure. */
int responses_parse_path(const char *sub, const char *method, struct responses_req *r,
			 const char **allow);

/* True when the request URI as the client sent it (uri, query included)
 * names the same path below "/responses/" as the decoded path: nothing but
 * [A-Za-z0-9_/-] there, so an encoded "/" or "." the web server decoded
 * ("resp%2Finput_items") cannot reach an endpoint. Pure. */
bool responses_raw_ok(const char *uri);

/* The parameters of the caller's query string passed on for action (after,
 * limit, order, include[] for input_items; include[], starting_after and
 * stream for a retrieve), decoded and encoded again; a new string the
 * caller frees, "" when none. Pure. */
char *responses_query(const char *query, enum responses_action action);

/* What one streamed event tells the gateway. */
struct responses_event {
	char created_id[RESPONSES_ID_MAX + 1]; /* response.created: the id, if valid */
	bool has_usage;          /* response.completed, .incomplete or .failed with usage */
	struct openai_usage usage;
	size_t delta_bytes;      /* a *.delta event: the length of its delta text */
};

/* Reads the data of one event of a Responses stream into *ev (zeroed
 * first). Returns false when it is not a JSON object. Pure. */
bool responses_event_read(const char *data, size_t len, struct responses_event *ev);

/* The store's value for a response: "CONSUMER\tUPSTREAM" into out.
 * Returns false when it does not fit. Pure. */
bool responses_owner_format(char *out, size_t size, const char *consumer, const char *upstream);

/* Splits a stored value in place into its consumer and upstream. Returns
 * false when it is not in that shape. Pure. */
bool responses_owner_parse(char *value, const char **consumer, const char **upstream);

/* A request below /responses/: sub is the path after it. Fills *r (and
 * ex->stream for a retrieve with ?stream=true); false: answered (404 for
 * an id that is not valid or no such endpoint, 405 for another method). */
bool responses_prepare(struct exchange *ex, const char *sub, struct responses_req *r);

/* The request body's previous_response_id: absent or null is fine (*r
 * untouched, *named false); a valid string fills r->id (*named true); a
 * string that is no valid id is 404, any other type 400. False: answered. */
bool responses_body_previous(struct exchange *ex, struct responses_req *r, bool *named);

/* The request names r->id: answered 404 (OpenAI's shape) when the caller's
 * consumer did not create it through the gateway or its upstream is gone,
 * 503 when the store cannot tell; else ex->pinned is its upstream. */
bool responses_owned(struct exchange *ex, const char *id);

/* Remembers id as created by ex's consumer on ex->upstream, for
 * RESPONSES_TTL_MS (an id that is not valid is logged and not kept). */
void responses_remember(struct exchange *ex, const char *id);

/* A buffered 2xx answer of POST /responses: remembers its id. Call before
 * the answer reaches the client. */
void responses_remember_answer(struct exchange *ex, const struct relay_result *res);

/* One event of a POST /responses stream: remembers the id of
 * response.created, takes the usage of its final event. Returns the bytes
 * of delta text it held (for a stream cut before its usage). */
size_t responses_stream_event(struct exchange *ex, const char *data, size_t len);

/* Serves a request naming r (the id owned and pinned already): admission,
 * the upstream call, the answer; a deleted response is forgotten. A
 * retrieved response's usage is not counted again. */
void responses_serve_stored(struct exchange *ex, const struct responses_req *r);

/* The upstream path of r: "/responses/{id}[/cancel|/input_items][?query]";
 * a new string the caller frees. */
char *responses_path(const struct exchange *ex, const struct responses_req *r);

#endif
