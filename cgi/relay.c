/* relay.c: the libcurl upstream call. */
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>

static void pool_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
	(void)h, (void)access;
	pthread_mutex_lock(&((struct relay_pool *)ud)->mu[data]);
}

static void pool_unlock(CURL *h, curl_lock_data data, void *ud)
{
	(void)h;
	pthread_mutex_unlock(&((struct relay_pool *)ud)->mu[data]);
}

void relay_pool_init(struct relay_pool *p)
{
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&p->mu[i], NULL);
	p->share = curl_share_init();
	if (!p->share)
		return;
	curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, pool_lock);
	curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, pool_unlock);
	curl_share_setopt(p->share, CURLSHOPT_USERDATA, p);
	curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

void relay_pool_free(struct relay_pool *p)
{
	if (p->share)
		curl_share_cleanup(p->share);
	p->share = NULL;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&p->mu[i]);
}

int relay_init(struct relay *r, struct relay_pool *pool)
{
	memset(r, 0, sizeof(*r));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	r->curl = curl_easy_init();
	if (!r->curl)
		return -1;
	if (pool && pool->share)
		curl_easy_setopt(r->curl, CURLOPT_SHARE, pool->share);
	/* Set once: these never change between calls. */
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	return 0;
}

void relay_cleanup(struct relay *r)
{
	if (r->curl)
		curl_easy_cleanup(r->curl);
	r->curl = NULL;
}

void relay_result_free(struct relay_result *res)
{
	buf_free(&res->body);
}

/* Keeps a response header's value when it is printable ASCII that fits. */
static void keep_header_value(const char *v, size_t vlen, char *out, size_t size)
{
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen == 0 || vlen >= size)
		return;
	for (size_t i = 0; i < vlen; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f || v[i] == '"' ||
		    v[i] == '\\')
			return;
	memcpy(out, v, vlen);
	out[vlen] = '\0';
}

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
	struct relay *r = ud;
	size_t len = size * n;

	if (len > 13 && strncasecmp(p, "x-request-id:", 13) == 0) {
		keep_header_value(p + 13, len - 13, r->res->request_id, sizeof(r->res->request_id));
	} else if (len > 11 && strncasecmp(p, "request-id:", 11) == 0) {
		keep_header_value(p + 11, len - 11, r->res->request_id, sizeof(r->res->request_id));
	} else if (len > 13 && strncasecmp(p, "content-type:", 13) == 0) {
		const char *v = p + 13;
		size_t vlen = len - 13;
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen >= sizeof(r->res->content_type))
			vlen = sizeof(r->res->content_type) - 1;
		memcpy(r->res->content_type, v, vlen);
		r->res->content_type[vlen] = '\0';
		for (size_t i = 0; i < vlen; i++)
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				snprintf(r->res->content_type, sizeof(r->res->content_type),
					 "application/octet-stream");
	} else if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		r->res->content_type[0] = '\0'; /* a new response (after 100 Continue) */
		r->res->request_id[0] = '\0';
	}
	return len;
}

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000L;
}

bool relay_status_valid(long status)
{
	return status >= 100 && status <= 599;
}

/* Streams: until the stream has begun, timeout_ms bounds the whole wait (an
 * answer that is no stream, even one dripped a byte at a time, is bounded as
 * a buffered one); afterwards it bounds each silence. max_ms caps it all. */
static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct relay *r = ud;
	long long total = elapsed_ms(&r->start);

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	if (total > r->max_ms) {
		r->over_time = true;
		return 1;
	}
	if ((!r->res->began && total > r->timeout_ms) ||
	    elapsed_ms(&r->last_data) > r->timeout_ms) {
		r->idle_timeout = true;
		return 1;
	}
	return 0;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
	struct relay *r = ud;
	struct relay_result *res = r->res;
	size_t len = size * n;
	long status = 0;

	clock_gettime(CLOCK_MONOTONIC, &r->last_data);
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (r->sink && status >= 200 && status < 300 && !res->began) {
		int rc;
		res->status = status;
		rc = r->sink->begin(r->sink->ctx, res);
		if (rc < 0) {
			r->client_gone = true;
			return 0;
		}
		if (rc == 1)
			r->sink = NULL; /* not a stream after all: buffer and check it */
		else
			res->began = true;
		res->status = status;
	}
	if (r->sink && res->began) {
		int rc;
		if (len > r->max_stream - r->streamed) {
			r->too_big = true; /* an endless stream: cut it */
			return 0;
		}
		r->streamed += len;
		rc = r->sink->data(r->sink->ctx, p, len);
		if (rc == -2)
			r->refused = true;
		else if (rc < 0)
			r->client_gone = true;
		return rc < 0 ? 0 : len;
	}
	if (res->body.len + len > r->max_answer) {
		r->too_big = true;
		return 0;
	}
	buf_append(&res->body, p, len);
	return len;
}

static struct curl_slist *request_headers(const struct relay_request *rq)
{
	struct curl_slist *h = NULL;
	char auth[4200];

	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, rq->stream ? "Accept: text/event-stream" : "Accept: application/json");
	if (rq->body)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (rq->upstream->api_key) {
		int n = snprintf(auth, sizeof(auth),
				 rq->upstream->api == GW_UPSTREAM_ANTHROPIC ? "x-api-key: %s"
									   : "Authorization: Bearer %s",
				 rq->upstream->api_key);
		h = curl_slist_append(h, auth);
		explicit_bzero(auth, n > 0 && (size_t)n < sizeof(auth) ? (size_t)n : sizeof(auth));
	}
	for (size_t i = 0; rq->headers && rq->headers[i]; i++)
		h = curl_slist_append(h, rq->headers[i]);
	return h;
}

static enum gw_err map_curl_error(struct relay *r, CURLcode rc)
{
	if (r->client_gone)
		return GW_ECLIENT;
	if (r->refused)
		return GW_EUPSTREAM;
	if (r->too_big)
		return GW_ETOOBIG;
	if (rc == CURLE_OPERATION_TIMEDOUT || r->idle_timeout || r->over_time)
		return GW_ETIMEOUT;
	return GW_EUPSTREAM;
}

enum gw_err relay_call(struct relay *r, const struct relay_request *rq,
		       const struct relay_sink *sink, struct relay_result *res)
{
	CURL *c = r->curl;
	struct curl_slist *headers;
	char *url;
	CURLcode rc;
	long long secs;

	r->res = res;
	r->sink = rq->stream ? sink : NULL;
	r->max_stream = rq->max_answer ? rq->max_answer : RELAY_DEFAULT_MAX_STREAM;
	r->max_answer = r->max_stream < RELAY_MAX_ANSWER ? r->max_stream : RELAY_MAX_ANSWER;
	r->streamed = 0;
	r->too_big = r->client_gone = r->idle_timeout = r->over_time = r->refused = false;
	r->timeout_ms = rq->upstream->timeout_ms;
	secs = rq->max_seconds > 0 ? rq->max_seconds : RELAY_DEFAULT_MAX_SECONDS;
	r->max_ms = secs < LONG_MAX / 1000 ? secs * 1000 : LONG_MAX;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->last_data = r->start;
	res->detail[0] = '\0';

	url = gw_concat(rq->upstream->url, rq->path);
	headers = request_headers(rq);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, res->detail);
	if (r->sink) {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	} else {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
				 r->timeout_ms < r->max_ms ? r->timeout_ms : (long)r->max_ms);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
	}
	if (rq->body) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	/* DELETE (a stored response): the GET above with another verb */
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
			 rq->method && strcmp(rq->method, "DELETE") == 0 ? "DELETE" : NULL);

	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &res->seconds);
	if (!res->began)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);
	free(url);
	r->res = NULL;
	r->sink = NULL;
	res->err = rc == CURLE_OK ? GW_OK : map_curl_error(r, rc);
	if (res->err == GW_OK && !relay_status_valid(res->status)) {
		snprintf(res->detail, sizeof(res->detail), "status %ld is no HTTP status",
			 res->status);
		res->err = GW_EUPSTREAM;
	}
	return res->err;
}
