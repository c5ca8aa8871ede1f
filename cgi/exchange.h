/* exchange.h: one request's state while it walks the pipeline, and the
 * steps every mode shares (refuse, limit, call, relay, account, record).
 * exchange.c calls no mode and nothing of serve.c. Private to the responder. */
#ifndef GW_EXCHANGE_H
#define GW_EXCHANGE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "limit.h"
#include "openai.h"
#include "proc.h"
#include "relay.h"
#include "reply.h"
#include "request.h"
#include "sse.h"
#include "store.h"

/* Everything one request needs while it walks the pipeline. */
struct exchange {
	struct gw_proc *proc;
	const struct gw_policy *policy;
	struct gw_request req;
	struct gw_reply reply;
	const struct gw_route *route;
	const struct gw_consumer *consumer;
	enum gw_error_style errors; /* the shape of the gateway's own errors (the mode's) */
	const char *subpath; /* the path below the route's prefix */
	const char *model;
	const char *upstream;
	const char *reason;  /* why the gateway itself answered, for the usage log */
	struct timespec start;
	char request_id[48];
	bool stream;
	json_object *json;  /* the parsed request body, when the mode reads JSON */
	void *mode_state;   /* the mode's per-request state, owned by the mode */
	struct limit_ticket ticket;
	bool answered_ok;   /* the upstream answered 2xx */
	bool usage_found;   /* ... with a usage object */
	enum usage_shape usage_shape; /* how the mode's API names usage fields */
	long long prompt_tokens, completion_tokens, total_tokens;
	long long cached_tokens, cache_write_tokens, reasoning_tokens;
	const struct gw_upstream *pinned; /* the only upstream to call (a stored
					     response's), or NULL: the route's */
	const char *session;              /* X-Claude-Code-Session-Id, or NULL */
	const char *const *upstream_headers; /* more request headers for the upstream
						(NULL-terminated), owned by the mode */
	char upstream_request_id[128];    /* the upstream's id of this request */
	long long upstream_ms;
	int64_t upstream_us;
	bool priced;         /* cost_pico is known */
	int64_t cost_pico;
	bool admin;          /* an admin endpoint: not usage, not logged */
	bool not_relayed;    /* the client left before the upstream call: nothing counts */
	struct store_slot slots[2]; /* in-flight slots held (max_parallel) */
	size_t n_slots;
	bool bad_key;        /* a key held a NUL byte */
};

/* One line to the server's error log (stderr under both servers). */
void gw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds since the epoch. */
int64_t gw_now_ms(void);

/* The gateway answers by itself with an error in ex->errors' shape; reason
 * goes to the usage log. Returns false, so steps can "return ex_refuse(...)". */
bool ex_refuse(struct exchange *ex, int status, const char *type, const char *code,
	       const char *message, const char *reason);

/* A relay sink's begin for the modes that relay Server-Sent Events: when
 * the upstream's answer is text/event-stream, starts the client's answer
 * (no caching, no proxy buffering, the upstream's request id) and returns
 * 0, or -1 when the client is gone; 1 when it is no stream after all (then
 * it is buffered and checked as a whole). */
int ex_stream_start(struct exchange *ex, const struct relay_result *res);

/* A relay sink's data for them: feeds p, whose events the parser's handler
 * relays. 0, -1 when the client went away, -2 when the upstream sent an
 * event too large to relay. */
int ex_sse_feed(struct sse_parser *parser, const char *p, size_t n);

/* A mode's endpoint table: sub is the row's path, or with prefix the path
 * followed by at least one more byte ("/models/" + an id). */
bool ex_path_is(const char *sub, const char *path, bool prefix);

/* The request's method is method (NULL: any); else 405 with Allow, and
 * false. */
bool ex_method_ok(struct exchange *ex, const char *method);

/* Model ids go into upstream URLs: 1-256 letters, digits and "-._:", not
 * "." or "..". */
bool ex_model_id_ok(const char *id);

/* The consumer may use model (no consumer, or no models list: any). */
bool ex_model_allowed(const struct exchange *ex, const char *model);

/* 403 model_not_allowed. Returns false. */
bool ex_refuse_model(struct exchange *ex);

/* The route's blocked answer: list and entry go to the error log. Returns false. */
bool ex_refuse_blocked(struct exchange *ex, const char *list, const char *entry);

/* Admits the request into its windows, reserving estimate tokens, then
 * takes its in-flight slots (max_parallel of the consumer, and of the
 * consumer on the route; held until ex_finish); on refusal the answer (429
 * or 503) is sent and false returned. */
bool ex_limit(struct exchange *ex, long long estimate);

/* Reads usage from an upstream answer object (its "usage" member) into ex. */
void ex_account(struct exchange *ex, json_object *answer);

/* Takes u as the request's usage (a stream's running totals included). */
void ex_account_usage(struct exchange *ex, const struct openai_usage *u);

/* Keeps the upstream's request id and returns it to the caller in the
 * answer's header (x-request-id, or request-id on Anthropic routes). Call
 * before the answer starts. */
void ex_note_upstream_id(struct exchange *ex, const struct relay_result *res);

/* Sends a buffered upstream result to the client (or the matching error). */
void ex_relay_answer(struct exchange *ex, struct relay_result *res);

/* Builds the request body for upstream u (its model mapped); a body to free
 * goes to *owned. */
typedef const char *(*ex_body_fn)(struct exchange *ex, const struct gw_upstream *u, size_t *len,
				  char **owned);

/* Calls the route's upstreams in the balancer's order, moving on after a
 * connect failure, a timeout, a 5xx or a 429, never once bytes reached the
 * client, at most the route's retries times. A client already gone is not
 * relayed at all (res->err GW_ECLIENT; status 499 in the usage log).
 * make_body is NULL for a GET; sink non-NULL streams. The last attempt's result is in *res (the caller
 * frees it); ex->upstream names the upstream that answered. */
const struct gw_upstream *ex_call(struct exchange *ex, const char *method, const char *path,
				  ex_body_fn make_body, const struct relay_sink *sink,
				  struct relay_result *res);

/* ex_call with a buffered answer, relayed to the client. */
void ex_call_upstream(struct exchange *ex, const char *method, const char *path,
		      ex_body_fn make_body);

/* True for application/x-www-form-urlencoded. */
bool ex_is_form(const char *content_type);

/* After the answer: frees the in-flight slots, prices the answer from the
 * [model] table, settles the reservation, adds the request to the usage
 * totals and the usage log. */
void ex_finish(struct exchange *ex);

#endif
