/* jsonc.h: one complete JSON value read from a buffer with json-c, strictly
 * (RFC 8259), with nothing but whitespace after it. */
#ifndef GW_JSONC_H
#define GW_JSONC_H

#include <json-c/json.h>
#include <stddef.h>

/* Parses s[0..len) with tok (reset first, so one tokener serves many
 * buffers; make it with json_tokener_new_ex(depth) for a nesting bound).
 * Returns a new object (json_object_put it), or NULL when the text is not
 * one JSON value followed only by whitespace. UTF-8 is the caller's check. */
json_object *jsonc_parse(struct json_tokener *tok, const char *s, size_t len);

#endif
