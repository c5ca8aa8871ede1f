/* relay.h: calls the upstream OpenAI-compatible API with libcurl, on one
 * handle per process so the upstream connection is reused across requests. */
#ifndef GW_RELAY_H
#define GW_RELAY_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "gw.h"
#include "policy.h"

/* Cap on an upstream answer the gateway buffers (non-streamed): a larger
 * answer is a 502, never a truncated success. */
#define RELAY_MAX_ANSWER (32u * 1024 * 1024)

struct relay_request {
	const struct gw_upstream *upstream;
	const char *method;  /* "GET" or "POST" */
	const char *path;    /* appended to the upstream URL, "/chat/completions" */
	const char *body;    /* POST body (JSON) */
	size_t body_len;
	bool stream;         /* relay the answer through the sink as it comes */
};

/* Where a streamed answer goes. begin is called once, before the first body
 * byte, with the upstream status and Content-Type; it returns 0 to stream,
 * 1 to have this answer buffered as if not streamed (it is no stream after
 * all), -1 to abort (the client went away). data is called with each
 * piece; it returns 0, -1 to abort because the client went away, or -2 to
 * abort because the upstream's data is unacceptable. */
struct relay_sink {
	void *ctx;
	int (*begin)(void *ctx, long status, const char *content_type);
	int (*data)(void *ctx, const char *p, size_t n);
};

struct relay_result {
	enum gw_err err;     /* GW_OK, GW_EUPSTREAM, GW_ETIMEOUT, GW_ETOOBIG, GW_ECLIENT */
	long status;         /* upstream HTTP status, 0 if none */
	char content_type[128];
	struct gw_buf body;  /* the answer when not streamed */
	bool began;          /* the sink's begin was called: bytes may have reached the client */
	double seconds;      /* time spent on the upstream call */
	char detail[CURL_ERROR_SIZE]; /* for the error log */
};

struct relay {
	CURL *curl;
	/* per-call state the callbacks see */
	struct relay_result *res;
	const struct relay_sink *sink;
	size_t max_answer;
	bool too_big;
	bool client_gone;
	bool refused;          /* the sink refused the upstream's data */
	bool idle_timeout;     /* a stream went quiet for longer than timeout_ms */
	long timeout_ms;
	struct timespec last_data;
};

/* Creates the process's handle. Returns 0 or -1. */
int relay_init(struct relay *r);

/* Performs one upstream call. With rq->stream and a sink, 2xx answers go to
 * the sink as they arrive, and timeout_ms bounds the wait for each piece
 * rather than the whole stream; otherwise the answer is buffered in
 * res->body and timeout_ms bounds the whole call.
 * res must be zeroed by the caller and freed with relay_result_free. */
enum gw_err relay_call(struct relay *r, const struct relay_request *rq,
		       const struct relay_sink *sink, struct relay_result *res);

void relay_result_free(struct relay_result *res);
void relay_cleanup(struct relay *r);

#endif
