/* anthropic.c: header and query checks and streamed usage of the Anthropic
 * Messages API, pure functions for anthropic_route.c. */
#include "anthropic.h"
#include "buf.h"
#include "gw.h"
#include "limit.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool anthropic_header_ok(const char *v, size_t max)
{
	size_t n;

	if (!v)
		return false;
	n = strlen(v);
	if (n == 0 || n > max || v[0] == ' ' || v[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return false;
	return true;
}

static bool hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Bytes a query may hold as they are: RFC 3986's query characters. */
static bool query_bytes_ok(const char *q)
{
	for (const char *p = q; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || strchr("#\"<>\\^`{|}", c))
			return false;
		if (c == '%' && !(hex(p[1]) && hex(p[2])))
			return false;
	}
	return true;
}

static bool dropped(const char *item, size_t klen, const struct gw_list *drop)
{
	size_t dlen;
	char *name = str_percent_decode(item, klen, true, &dlen, NULL);
	bool hit = false;

	for (size_t i = 0; drop && i < drop->n && !hit; i++)
		hit = strlen(drop->v[i]) == dlen && strncasecmp(drop->v[i], name, dlen) == 0;
	free(name);
	return hit;
}

char *anthropic_query(const char *q, const struct gw_list *drop)
{
	struct gw_buf out = { 0 };
	size_t len = strlen(q), pos = 0;
	char *s;

	if (!query_bytes_ok(q))
		return NULL;
	while (pos < len) {
		const char *item = q + pos;
		const char *amp = memchr(item, '&', len - pos);
		size_t ilen = amp ? (size_t)(amp - item) : len - pos;
		const char *eq = memchr(item, '=', ilen);

		pos += ilen + 1;
		if (ilen == 0 || dropped(item, eq ? (size_t)(eq - item) : ilen, drop))
			continue;
		if (out.len)
			buf_append(&out, "&", 1);
		buf_append(&out, item, ilen);
	}
	s = gw_strdup(buf_str(&out));
	buf_free(&out);
	return s;
}

static json_object *member(json_object *o, const char *key, json_type type)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, type) ? v : NULL;
}

/* The bytes of text a content_block_delta adds, whatever its kind. */
static size_t delta_bytes(json_object *ev)
{
	static const char *const keys[] = { "text", "thinking", "partial_json" };
	json_object *delta = member(ev, "delta", json_type_object), *t;

	for (size_t i = 0; delta && i < GW_ARRAY_LEN(keys); i++)
		if ((t = member(delta, keys[i], json_type_string)))
			return (size_t)json_object_get_string_len(t);
	return 0;
}

bool anthropic_event(const char *data, size_t len, struct anthropic_stream *s)
{
	json_object *ev = openai_parse(data, len), *t, *usage = NULL, *msg;
	const char *type;

	t = ev ? member(ev, "type", json_type_string) : NULL;
	if (!t) {
		json_object_put(ev);
		return false;
	}
	type = json_object_get_string(t);
	if (strcmp(type, "message_start") == 0) {
		s->started = true;
		if ((msg = member(ev, "message", json_type_object)))
			usage = member(msg, "usage", json_type_object);
	} else if (strcmp(type, "message_delta") == 0) {
		usage = member(ev, "usage", json_type_object);
		s->delta_usage |= usage != NULL;
	} else if (strcmp(type, "content_block_delta") == 0) {
		s->text_bytes += delta_bytes(ev);
	} else if (strcmp(type, "message_stop") == 0) {
		s->stopped = true;
	} else if (strcmp(type, "error") == 0) {
		s->error = true;
	}
	if (usage)
		openai_usage_read(usage, USAGE_ANTHROPIC, &s->usage);
	json_object_put(ev);
	return usage != NULL;
}

long long anthropic_cut_completion(const struct anthropic_stream *s)
{
	long long seen = limit_estimate_tokens(s->text_bytes);

	if (s->delta_usage || s->usage.completion_tokens >= seen)
		return s->usage.completion_tokens;
	return seen;
}
