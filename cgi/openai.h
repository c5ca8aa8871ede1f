/* openai.h: OpenAI API JSON: strict parsing of bodies and token usage. */
#ifndef GW_OPENAI_H
#define GW_OPENAI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Nesting depth accepted in request and answer bodies. */
#define OPENAI_MAX_DEPTH 64

/* Parses s[0..len) as one JSON value with nothing but whitespace after it.
 * Returns a new object (json_object_put it) or NULL when it is not valid JSON,
 * nests deeper than OPENAI_MAX_DEPTH, or is not UTF-8. */
json_object *openai_parse(const char *s, size_t len);

/* openai_parse() of a request body; when it is an object whose text could
 * mean something else to another parser, the body's text is replaced by
 * json-c's serialisation of it, so the upstream gets exactly what the
 * gateway checked and priced: one value per key however often the client
 * repeated it (json-c keeps the last), keys cut at a \u0000 as the gateway
 * read them, surrogate escapes and integers as json-c read them. Any other
 * text (no member repeated at any depth, none of those escapes, integers of
 * at most 18 digits written plainly) is kept as it is, byte for byte.
 * Returns the object (the caller puts it) or NULL, as openai_parse(); the
 * body is then unchanged. */
json_object *openai_parse_body(struct gw_buf *body);

/* Token usage as the gateway accounts it, whatever API reported it. */
struct openai_usage {
	long long prompt_tokens;      /* every input token, cache reads and writes included */
	long long completion_tokens;
	long long total_tokens;
	long long cached_tokens;      /* input tokens read from the cache */
	long long cache_write_tokens; /* input tokens written to the cache (Anthropic) */
	long long reasoning_tokens;   /* output tokens spent on reasoning */
	bool found;
};

/* How an API names its usage fields. */
enum usage_shape {
	USAGE_OPENAI,    /* Chat Completions (prompt_tokens, ...) and the Responses
			    API (input_tokens, output_tokens, *_details) */
	USAGE_ANTHROPIC, /* Messages: input_tokens excludes cache reads and writes */
};

/* Reads a usage object into u (fields absent stay as they are; total
 * computed when missing). Counts are clamped to 0..OPENAI_MAX_TOKENS. */
void openai_usage_read(json_object *usage, enum usage_shape shape, struct openai_usage *u);

/* Reads the "usage" member of an answer object into u (zeroed first). */
void openai_usage(json_object *answer, enum usage_shape shape, struct openai_usage *u);

/* The most tokens one answer may report; more is taken as this many. */
#define OPENAI_MAX_TOKENS 1000000000000LL

/* Checks that s[0..len) is one JSON value (RFC 8259, UTF-8, nesting at most
 * OPENAI_MAX_DEPTH) without building a DOM, the check every upstream answer
 * goes through, and reads its top-level "usage" object (the last one, as
 * json-c would) into u with openai_usage_read. Returns false when it is not
 * valid JSON. */
bool openai_scan(const char *s, size_t len, enum usage_shape shape, struct openai_usage *u);

/* Appends every string value (and object key) of o to out, each followed by
 * '\n', so block lists see the text behind JSON escapes such as \u0070. */
void openai_strings(json_object *o, struct gw_buf *out);

/* The integer member key of object o, bounded to -OPENAI_MAX_TOKENS ..
 * OPENAI_MAX_TOKENS so that a caller's number is safe to add to, or dflt
 * when absent or not an integer. */
long long openai_int(json_object *o, const char *key, long long dflt);

#endif
