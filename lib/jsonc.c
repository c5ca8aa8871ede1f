/* jsonc.c: a whole buffer as one JSON value, through json-c's tokener. */
#include "jsonc.h"

#include <limits.h>

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

json_object *jsonc_parse(struct json_tokener *tok, const char *s, size_t len)
{
	json_object *obj;
	size_t end;

	if (len == 0 || len > INT_MAX)
		return NULL;
	json_tokener_reset(tok);
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
		return NULL;
	}
	while (end < len && is_ws(s[end]))
		end++;
	if (end != len) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}
