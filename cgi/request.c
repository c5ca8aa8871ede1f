/* request.c: CGI parameters to a request struct; bounded body reading. */
#include "request.h"
#include "gw.h"
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* "HTTP_X_API_KEY" -> "X-Api-Key" */
static char *canonical_name(const char *cgi_name, size_t n)
{
	char *s = gw_strndup(cgi_name, n);
	bool start = true;
	for (char *p = s; *p; p++) {
		if (*p == '_') {
			*p = '-';
			start = true;
		} else {
			*p = start ? (char)toupper((unsigned char)*p) : (char)tolower((unsigned char)*p);
			start = false;
		}
	}
	return s;
}

static void add_header(struct gw_request *req, const char *cgi_name, size_t n, const char *value)
{
	struct gw_header *h;

	if (req->n_headers == REQUEST_MAX_HEADERS) {
		req->too_many_headers = true;
		return;
	}
	req->headers = gw_realloc(req->headers, (req->n_headers + 1) * sizeof(*h));
	h = &req->headers[req->n_headers++];
	h->name = canonical_name(cgi_name, n);
	h->value = value;
	h->line = NULL; /* built when a route has block_headers */
	h->line_len = strlen(h->name) + 2 + strlen(value);
}

static const char *param_or(struct gw_io *io, const char *name, const char *dflt)
{
	const char *v = io->param(io->ctx, name);
	return v ? v : dflt;
}

void request_init(struct gw_request *req, struct gw_io *io)
{
	const char *script, *info, *cl;
	char **env;

	memset(req, 0, sizeof(*req));
	req->io = io;
	req->method = param_or(io, "REQUEST_METHOD", "GET");
	req->query = param_or(io, "QUERY_STRING", "");
	req->content_type = param_or(io, "CONTENT_TYPE", "");
	script = param_or(io, "SCRIPT_NAME", "");
	info = param_or(io, "PATH_INFO", "");
	req->path = gw_concat(script, info);
	req->request_uri = param_or(io, "REQUEST_URI", req->path);
	if (!req->path[0]) {
		/* A server that sets neither (a bare fastcgi_pass): the decoded
		 * path of REQUEST_URI. */
		const char *q = strchr(req->request_uri, '?');
		size_t n = q ? (size_t)(q - req->request_uri) : strlen(req->request_uri);
		free(req->path);
		req->path = str_percent_decode(req->request_uri, n, false, NULL, NULL);
		if (req->path[0] != '/') {
			free(req->path);
			req->path = gw_strdup("/");
		}
	}
	cl = io->param(io->ctx, "CONTENT_LENGTH");
	req->content_length = -1;
	if (cl && *cl) {
		char *end;
		errno = 0;
		long long v = strtoll(cl, &end, 10);
		req->content_length = (errno || *end || v < 0) ? -2 : v;
	}
	for (env = io->params(io->ctx); env && *env; env++) {
		const char *eq = strchr(*env, '=');
		if (!eq)
			continue;
		if (strncmp(*env, "HTTP_", 5) == 0)
			add_header(req, *env + 5, (size_t)(eq - *env - 5), eq + 1);
		else if (strncmp(*env, "CONTENT_TYPE=", 13) == 0 ||
			 strncmp(*env, "CONTENT_LENGTH=", 15) == 0)
			add_header(req, *env, (size_t)(eq - *env), eq + 1);
	}
}

int request_read_body(struct gw_request *req, size_t max)
{
	char chunk[16384];

	if (req->body_read)
		return GW_OK;
	req->body_read = true;
	if (req->content_length == -2)
		return GW_EPARSE;
	if (req->content_length > (long long)max)
		return GW_ETOOBIG;
	req->body.limit = max;
	for (;;) {
		size_t want = sizeof(chunk);
		if (req->content_length >= 0) {
			long long left = req->content_length - (long long)req->body.len;
			if (left <= 0)
				break;
			if ((long long)want > left)
				want = (size_t)left;
		}
		ssize_t n = req->io->read(req->io->ctx, chunk, want);
		if (n < 0)
			return GW_EIO;
		if (n == 0)
			break;
		if (buf_append(&req->body, chunk, (size_t)n) < 0)
			return GW_ETOOBIG;
	}
	if (req->content_length >= 0 && (long long)req->body.len < req->content_length)
		return GW_EPARSE;
	return GW_OK;
}

bool request_header_is(const struct gw_header *h, const char *name)
{
	const char *a = h->name, *b = name;

	while (*a && *b && (tolower((unsigned char)*a) == tolower((unsigned char)*b) ||
			    ((*a == '-' || *a == '_') && (*b == '-' || *b == '_'))))
		a++, b++;
	return !*a && !*b;
}

const char *request_header(const struct gw_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (request_header_is(&req->headers[i], name))
			return req->headers[i].value;
	return NULL;
}

const char *request_bearer(const struct gw_request *req)
{
	const char *v = request_header(req, "Authorization");
	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	return v;
}

const char *request_header_line(struct gw_request *req, size_t i)
{
	struct gw_header *h = &req->headers[i];

	if (!h->line)
		h->line = gw_asprintf("%s: %s", h->name, h->value);
	return h->line;
}

size_t request_header_bytes(const struct gw_request *req)
{
	size_t n = 0;
	for (size_t i = 0; i < req->n_headers; i++)
		n += req->headers[i].line_len + 2;
	return n;
}

void request_free(struct gw_request *req)
{
	for (size_t i = 0; i < req->n_headers; i++) {
		free(req->headers[i].name);
		free(req->headers[i].line);
	}
	free(req->headers);
	free(req->path);
	buf_free(&req->body);
	memset(req, 0, sizeof(*req));
}
