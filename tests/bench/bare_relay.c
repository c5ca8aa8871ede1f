/* bare_relay.c: the floor of aigw's architecture, for tests/bench/run.sh.
 *
 * A FastCGI responder with no policy at all: accept a request, read its
 * body, POST it to one upstream URL with one kept-alive libcurl handle, and
 * relay the status, Content-Type and body back.  A request without a body
 * (the prompt-mode GET) sends a fixed small chat request instead.  Whatever
 * aigw.fcgi costs above this program is the price of its policy.
 *
 * Environment:
 *   BARE_RELAY_URL   the upstream endpoint, for example
 *                    http://127.0.0.1:8080/v1/chat/completions (required)
 *   BARE_RELAY_KEY   sent as "Authorization: Bearer KEY" (optional)
 *
 * Like aigw.fcgi, it closes the FastCGI connection at once when the request
 * input has been read to its end (FCGX_Detach), instead of libfcgi's
 * shut-down-and-wait close.
 *
 * Build: cc -O2 -o build/bare-relay tests/bench/bare_relay.c -lfcgi -lcurl
 */
#include <curl/curl.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BODY (1 << 20)
#define MAX_ANSWER (32 << 20)

static const char fixed_body[] =
	"{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Say,hello\"}]}";

struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const char *p, size_t n, size_t max)
{
	if (b->len + n > max)
		return -1;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;
		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

struct answer {
	struct buf body;
	char ctype[128];
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct answer *a = ud;
	return buf_add(&a->body, p, size * n, MAX_ANSWER) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct answer *a = ud;
	size_t len = size * n;

	if (len > 13 && strncasecmp(p, "content-type:", 13) == 0) {
		const char *v = p + 13;
		size_t vlen = len - 13;
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen >= sizeof(a->ctype))
			vlen = sizeof(a->ctype) - 1;
		memcpy(a->ctype, v, vlen);
		a->ctype[vlen] = '\0';
	}
	return len;
}

/* Reads the request body (up to MAX_BODY); -1 when it is larger. */
static int read_body(FCGX_Request *rq, struct buf *b)
{
	char chunk[16384];
	int got;

	while ((got = FCGX_GetStr(chunk, sizeof(chunk), rq->in)) > 0)
		if (buf_add(b, chunk, (size_t)got, MAX_BODY) < 0)
			return -1;
	return 0;
}

static void send_error(FCGX_Request *rq, int status, const char *msg)
{
	FCGX_FPrintF(rq->out,
		     "Status: %d\r\nContent-Type: application/json\r\n\r\n"
		     "{\"error\":{\"message\":\"%s\",\"type\":\"server_error\"}}",
		     status, msg);
}

static void serve(FCGX_Request *rq, CURL *c, struct curl_slist *headers)
{
	struct buf in = { 0 };
	struct answer a = { 0 };
	CURLcode rc;
	long status = 0;

	if (read_body(rq, &in) < 0) {
		send_error(rq, 413, "request too large");
		free(in.p);
		return;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, in.len ? in.p : fixed_body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)(in.len ? in.len : sizeof(fixed_body) - 1));
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK || status == 0) {
		send_error(rq, 502, "upstream failed");
	} else {
		/* FCGX_FPrintF has its own printf, without %zu: format here. */
		char head[256];
		int n = snprintf(head, sizeof(head),
				 "Status: %ld\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
				 status, a.ctype[0] ? a.ctype : "application/json", a.body.len);
		FCGX_PutStr(head, n, rq->out);
		if (a.body.len)
			FCGX_PutStr(a.body.p, (int)a.body.len, rq->out);
	}
	free(a.body.p);
	free(in.p);
}

int main(void)
{
	const char *url = getenv("BARE_RELAY_URL"), *key = getenv("BARE_RELAY_KEY");
	struct curl_slist *headers = NULL;
	char auth[512];
	FCGX_Request rq;
	CURL *c;

	signal(SIGPIPE, SIG_IGN);
	if (!url || !*url) {
		fprintf(stderr, "bare-relay: BARE_RELAY_URL is not set\n");
		return 1;
	}
	if (FCGX_Init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	c = curl_easy_init();
	if (!c)
		return 1;
	/* One handle for the process: its connection to the upstream stays open
	 * between requests. */
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	headers = curl_slist_append(headers, "Expect:");
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Content-Type: application/json");
	if (key && *key) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
		headers = curl_slist_append(headers, auth);
	}

	FCGX_InitRequest(&rq, 0, 0);
	while (FCGX_Accept_r(&rq) >= 0) {
		serve(&rq, c, headers);
		/* The input was read to its end: close without lingering. */
		if (FCGX_HasSeenEOF(rq.in) == EOF && FCGX_GetError(rq.in) == 0)
			FCGX_Detach(&rq);
		FCGX_Finish_r(&rq);
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	return 0;
}
