/* openai.c: JSON parsing and usage extraction for OpenAI-shaped bodies. */
#include "openai.h"
#include "str.h"

#include <ctype.h>
#include <limits.h>

json_object *openai_parse(const char *s, size_t len)
{
	struct json_tokener *tok;
	json_object *obj;
	size_t end;

	if (len == 0 || !str_utf8_valid(s, len))
		return NULL;
	tok = json_tokener_new_ex(OPENAI_MAX_DEPTH);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, s, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!obj && json_tokener_get_error(tok) == json_tokener_continue) {
		/* A number or literal that ends the input is only complete once
		 * the tokener sees the end: give it the terminating NUL. */
		obj = json_tokener_parse_ex(tok, "", 1);
		end = len;
	}
	if (!obj || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		json_tokener_free(tok);
		return NULL;
	}
	json_tokener_free(tok);
	while (end < len && isspace((unsigned char)s[end]))
		end++;
	if (end != len) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

static long long get_int(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	long long n = json_object_get_int64(v);
	return n < 0 ? 0 : n;
}

void openai_usage(json_object *answer, struct openai_usage *u)
{
	json_object *usage;

	if (!answer || !json_object_is_type(answer, json_type_object) ||
	    !json_object_object_get_ex(answer, "usage", &usage) ||
	    !json_object_is_type(usage, json_type_object))
		return;
	u->found = true;
	u->prompt_tokens = get_int(usage, "prompt_tokens");
	u->completion_tokens = get_int(usage, "completion_tokens");
	u->total_tokens = get_int(usage, "total_tokens");
	if (u->total_tokens == 0) /* both are >= 0: only the sum can overflow */
		u->total_tokens = u->prompt_tokens > LLONG_MAX - u->completion_tokens
					  ? LLONG_MAX
					  : u->prompt_tokens + u->completion_tokens;
}

void openai_strings(json_object *o, struct gw_buf *out)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		buf_append(out, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		buf_append(out, "\n", 1);
		break;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			openai_strings(json_object_array_get_idx(o, i), out);
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			buf_puts(out, key);
			buf_append(out, "\n", 1);
			openai_strings(val, out);
		}
		break;
	}
	default:
		break;
	}
}

long long openai_int(json_object *o, const char *key, long long dflt)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return dflt;
	return json_object_get_int64(v);
}
