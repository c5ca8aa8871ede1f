/* reply.c: CGI answer writer. */
#include "reply.h"
#include "str.h"
#include "gw.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

struct status_name {
	int status;
	const char *reason;
};

static const struct status_name reasons[] = {
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 204, "No Content" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 304, "Not Modified" },
	{ 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 408, "Request Timeout" },
	{ 409, "Conflict" },
	{ 410, "Gone" },
	{ 411, "Length Required" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Content" },
	{ 424, "Failed Dependency" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
};

const char *reply_reason(int status)
{
	for (size_t i = 0; i < GW_ARRAY_LEN(reasons); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

void reply_init(struct gw_reply *r, struct gw_io *io)
{
	memset(r, 0, sizeof(*r));
	r->io = io;
}

void reply_free(struct gw_reply *r)
{
	buf_free(&r->head);
}

static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
		else if (*s == 0x7f)
			return false;
	return true;
}

int reply_header(struct gw_reply *r, const char *name, const char *value)
{
	if (!header_safe(name) || !header_safe(value) || strchr(name, ':'))
		return -1;
	buf_puts(&r->head, name);
	buf_append(&r->head, ": ", 2);
	buf_puts(&r->head, value);
	buf_append(&r->head, "\r\n", 2);
	return 0;
}

static int emit(struct gw_reply *r, const void *p, size_t n)
{
	if (r->client_gone)
		return -1;
	if (n && r->io->write(r->io->ctx, p, n) < 0) {
		r->client_gone = true;
		return -1;
	}
	return 0;
}

int reply_start(struct gw_reply *r, int status, const char *content_type)
{
	struct gw_buf out = { 0 };
	int rc;

	if (r->started)
		return -1;
	r->started = true;
	r->status = status;
	buf_puts(&out, "Status: ");
	buf_int(&out, status);
	buf_puts(&out, " ");
	buf_puts(&out, reply_reason(status));
	buf_puts(&out, "\r\n");
	if (content_type && header_safe(content_type)) {
		buf_puts(&out, "Content-Type: ");
		buf_puts(&out, content_type);
		buf_puts(&out, "\r\n");
	}
	buf_append(&out, buf_str(&r->head), r->head.len);
	buf_puts(&out, "\r\n");
	rc = emit(r, out.data, out.len);
	buf_free(&out);
	return rc;
}

int reply_write(struct gw_reply *r, const void *p, size_t n, bool flush)
{
	if (emit(r, p, n) < 0)
		return -1;
	r->body_bytes += n;
	if (flush && r->io->flush && r->io->flush(r->io->ctx) < 0) {
		r->client_gone = true;
		return -1;
	}
	return 0;
}

int reply_send(struct gw_reply *r, int status, const char *content_type, const char *body,
	       size_t len)
{
	char cl[24];

	reply_header(r, "Content-Length", str_ll((long long)len, cl));
	if (reply_start(r, status, content_type) < 0)
		return -1;
	return reply_write(r, body, len, false);
}

const char *reply_anthropic_type(int status, const char *code)
{
	if (code && strcmp(code, "request_blocked") == 0)
		return "invalid_request_error";
	switch (status) {
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	}
	return status >= 500 ? "api_error" : "invalid_request_error";
}

void reply_error_json(struct gw_buf *out, enum gw_error_style style, int status,
		      const char *type, const char *code, const char *message)
{
	json_object *root = json_object_new_object();
	json_object *err = json_object_new_object();

	if (style == GW_ERRORS_ANTHROPIC) {
		json_object_object_add(root, "type", json_object_new_string("error"));
		json_object_object_add(err, "type",
				       json_object_new_string(reply_anthropic_type(status, code)));
		json_object_object_add(err, "message", json_object_new_string(message));
	} else {
		json_object_object_add(err, "message", json_object_new_string(message));
		json_object_object_add(err, "type", json_object_new_string(type));
		json_object_object_add(err, "code", code ? json_object_new_string(code) : NULL);
	}
	json_object_object_add(root, "error", err);
	buf_reset(out);
	buf_puts(out, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

int reply_error_as(struct gw_reply *r, enum gw_error_style style, int status, const char *type,
		   const char *code, const char *message)
{
	struct gw_buf body = { 0 };
	int rc;

	reply_error_json(&body, style, status, type, code, message);
	rc = reply_send(r, status, "application/json", buf_str(&body), body.len);
	buf_free(&body);
	return rc;
}

int reply_error(struct gw_reply *r, int status, const char *type, const char *code,
		const char *message)
{
	return reply_error_as(r, GW_ERRORS_OPENAI, status, type, code, message);
}
