/* relay.h: calls the upstream OpenAI-compatible API with libcurl, on one
 * handle per process so the upstream connection is reused across requests. */
#ifndef GW_RELAY_H
#define GW_RELAY_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "gw.h"
#include "policy.h"

/* Cap on an upstream answer the gateway buffers (non-streamed) whatever
 * max_answer says: a larger answer is a 502, never a truncated success. */
#define RELAY_MAX_ANSWER (32u * 1024 * 1024)
/* Defaults of relay_request's caps when the caller leaves them 0. */
#define RELAY_DEFAULT_MAX_STREAM ((size_t)256 * 1024 * 1024)
#define RELAY_DEFAULT_MAX_SECONDS 3600LL

struct relay_request {
	const struct gw_upstream *upstream;
	const char *method;  /* "GET", "POST" (with a body) or "DELETE" */
	const char *path;    /* appended to the upstream URL, "/chat/completions" */
	const char *body;    /* POST body (JSON) */
	size_t body_len;
	bool stream;         /* relay the answer through the sink as it comes */
	const char *const *headers; /* more "Name: value" lines, NULL-terminated, or NULL */
	size_t max_answer;   /* bytes of one answer, streams included; 0: default
			      * (a buffered answer is also held to RELAY_MAX_ANSWER) */
	long long max_seconds; /* total duration of the call, streams included;
				* 0: RELAY_DEFAULT_MAX_SECONDS */
};

/* Where a streamed answer goes. begin is called once, before the first body
 * byte, with the upstream status and Content-Type; it returns 0 to stream,
 * 1 to have this answer buffered as if not streamed (it is no stream after
 * all), -1 to abort (the client went away). data is called with each
 * piece; it returns 0, -1 to abort because the client went away, or -2 to
 * abort because the upstream's data is unacceptable. */
struct relay_result;

struct relay_sink {
	void *ctx;
	/* res holds the status, Content-Type and request id so far */
	int (*begin)(void *ctx, const struct relay_result *res);
	int (*data)(void *ctx, const char *p, size_t n);
};

struct relay_result {
	enum gw_err err;     /* GW_OK, GW_EUPSTREAM, GW_ETIMEOUT, GW_ETOOBIG, GW_ECLIENT */
	long status;         /* upstream HTTP status, 0 if none */
	char content_type[128];
	char request_id[128]; /* the upstream's x-request-id or request-id, printable ASCII */
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
	size_t max_answer;     /* of a buffered answer */
	size_t max_stream;     /* of a streamed answer */
	size_t streamed;       /* bytes passed to the sink so far */
	bool too_big;
	bool client_gone;
	bool refused;          /* the sink refused the upstream's data */
	bool idle_timeout;     /* a stream went quiet for longer than timeout_ms */
	bool over_time;        /* the call lasted longer than its total cap */
	long timeout_ms;
	long long max_ms;      /* total cap of the call */
	struct timespec start, last_data;
};

/* What the curl handles of one process share, under locks: DNS answers
 * and TLS sessions, so a thread's first call to an upstream resolves
 * nothing again and resumes TLS instead of a full handshake. (libcurl does
 * not support sharing connections between concurrent threads: each handle
 * keeps its own.) */
struct relay_pool {
	CURLSH *share; /* NULL: nothing shared */
	pthread_mutex_t mu[CURL_LOCK_DATA_LAST];
};

/* Sets the pool up (the share may be NULL when libcurl cannot make one:
 * handles then share nothing). relay_pool_free when no handle uses it. */
void relay_pool_init(struct relay_pool *p);
void relay_pool_free(struct relay_pool *p);

/* Creates a thread's handle, sharing through pool (NULL: nothing shared).
 * Returns 0 or -1. */
int relay_init(struct relay *r, struct relay_pool *pool);

/* Performs one upstream call. The upstream's key goes as Authorization:
 * Bearer (api = openai) or x-api-key (api = anthropic). With rq->stream and a sink, 2xx answers go to
 * the sink as they arrive: timeout_ms bounds the wait for the stream to begin
 * (an answer that turns out not to be a stream is bounded as a whole, as a
 * buffered one), then each silence between pieces; rq->max_seconds bounds the
 * whole stream and rq->max_answer its bytes (past either the stream is cut:
 * GW_ETIMEOUT or GW_ETOOBIG with res->began set). Otherwise the answer is
 * buffered in res->body and timeout_ms bounds the whole call. An upstream
 * status outside 100-599 is GW_EUPSTREAM.
 * res must be zeroed by the caller and freed with relay_result_free. */
enum gw_err relay_call(struct relay *r, const struct relay_request *rq,
		       const struct relay_sink *sink, struct relay_result *res);

/* true for an HTTP status the gateway relays: 100-599. */
bool relay_status_valid(long status);

void relay_result_free(struct relay_result *res);
void relay_cleanup(struct relay *r);

#endif
