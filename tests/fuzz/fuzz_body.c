/* fuzz_body.c: libFuzzer target for request and answer bodies: openai_parse(),
 * openai_parse_body() (duplicate keys), openai_scan(), openai_usage(),
 * openai_strings() and openai_int() (cgi/openai.c) on the input as JSON, the
 * same input as a form body (a JSON body sent with the form type), and
 * prompt_body() (cgi/prompt.c) on the input as a prompt.
 * A prompt that prompt_body() accepts must come back as JSON that
 * openai_parse() accepts and that holds the prompt unchanged. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "openai.h"
#include "prompt.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* openai_scan (the DOM-less check of upstream answers) never accepts what
 * json-c refuses, and reads the same usage when both accept. */
static void check_scan(const char *s, size_t size, json_object *o)
{
	struct openai_usage scanned, parsed = { 0 };

	size_t i = 0;

	if (!openai_scan(s, size, USAGE_OPENAI, &scanned))
		return;
	while (i < size && strchr(" \t\r\n", s[i]))
		i++;
	if (i < size && s[i] != '{')
		return; /* json-c refuses some valid scalars (a tab before null); answers are objects */
	CHECK(o != NULL);
	openai_usage(o, USAGE_OPENAI, &parsed);
	/* the scanner reads the usage in place: the same counts as json-c's */
	if (scanned.found && parsed.found) {
		CHECK(scanned.prompt_tokens == parsed.prompt_tokens);
		CHECK(scanned.completion_tokens == parsed.completion_tokens);
		CHECK(scanned.total_tokens == parsed.total_tokens);
		CHECK(scanned.cached_tokens == parsed.cached_tokens);
		CHECK(scanned.reasoning_tokens == parsed.reasoning_tokens);
	}
	if (scanned.found && parsed.found) {
		struct openai_usage sa, pa = { 0 };
		json_object *usage;
		CHECK(openai_scan(s, size, USAGE_ANTHROPIC, &sa));
		CHECK(json_object_object_get_ex(o, "usage", &usage));
		openai_usage_read(usage, USAGE_ANTHROPIC, &pa);
		CHECK(sa.prompt_tokens == pa.prompt_tokens && sa.total_tokens == pa.total_tokens);
		CHECK(sa.cache_write_tokens == pa.cache_write_tokens);
	}
}

/* The text s[0..len) of a valid JSON value as json-c would write it when
 * every member and integer is kept: whitespace outside strings dropped,
 * each string as json-c writes the string it reads. */
static void rewrite_tokens(const char *s, size_t len, struct gw_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		size_t j = i + 1;
		char *tok;
		json_object *str;

		if (s[i] && strchr(" \t\r\n", s[i]))
			continue;
		if (s[i] != '"') {
			buf_append(out, s + i, 1);
			continue;
		}
		while (j < len && s[j] != '"')
			j += s[j] == '\\' ? 2 : 1;
		tok = strndup(s + i, j + 1 - i);
		str = json_tokener_parse(tok);
		CHECK(str != NULL);
		buf_puts(out, json_object_to_json_string_ext(str, JSON_C_TO_STRING_PLAIN |
								       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(str);
		free(tok);
		i = j;
	}
}

/* openai_parse_body: what the upstream gets is what was checked. The new
 * text parses to an object whose text is the same again (so no key is left
 * twice at any depth), and the block lists read the same strings from it. */
static void check_body(const char *s, size_t size)
{
	struct gw_buf body = { 0 }, before = { 0 }, after = { 0 }, again = { 0 };
	json_object *o, *o2;

	buf_append(&body, s, size);
	o = openai_parse_body(&body);
	if (!o || !json_object_is_type(o, json_type_object)) {
		CHECK(body.len == size && memcmp(body.data, s, size) == 0);
		goto out;
	}
	o2 = openai_parse(body.data, body.len);
	CHECK(o2 != NULL);
	openai_strings(o, &before);
	openai_strings(o2, &after);
	CHECK(before.len == after.len && memcmp(buf_str(&before), buf_str(&after), before.len) == 0);
	if (body.len == size && memcmp(body.data, s, size) == 0) {
		/* kept as sent: then it is json-c's own text up to whitespace and
		 * string escapes, with no member or digit lost */
		struct gw_buf tokens = { 0 };
		const char *canon = json_object_to_json_string_ext(
			o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		rewrite_tokens(s, size, &tokens);
		CHECK(tokens.len == strlen(canon) && memcmp(buf_str(&tokens), canon, tokens.len) == 0);
		buf_free(&tokens);
	}
	buf_append(&again, body.data, body.len);
	json_object_put(openai_parse_body(&again));
	CHECK(again.len == body.len && memcmp(again.data, body.data, body.len) == 0);
	json_object_put(o2);
out:
	json_object_put(o);
	buf_free(&body);
	buf_free(&before);
	buf_free(&after);
	buf_free(&again);
}

/* A JSON body sent with the form type: the gateway reads it both ways, as
 * a form (percent-decoded, '+' as space) and as JSON; neither may fail. */
static void check_form(const char *s, size_t size)
{
	size_t len = 0, invalid = 0;
	char *decoded = str_percent_decode(s, size, true, &len, &invalid);

	CHECK(decoded != NULL && len <= size);
	free(decoded);
}

static void check_json(const char *s, size_t size)
{
	json_object *o = openai_parse(s, size);
	struct openai_usage u = { 0 };
	struct gw_buf strings = { 0 }, capped = { .limit = 64 };

	check_scan(s, size, o);
	if (!o)
		return;
	CHECK(str_utf8_valid(s, size));
	openai_usage(o, USAGE_OPENAI, &u);
	if (u.found) {
		CHECK(u.prompt_tokens >= 0 && u.completion_tokens >= 0);
		CHECK(u.total_tokens >= 0);
	}
	openai_strings(o, &strings);
	openai_strings(o, &capped);
	CHECK(capped.len <= 64);
	(void)openai_int(o, "max_tokens", -1);
	(void)openai_int(o, "n", 1);
	(void)openai_int(NULL, "n", 1);
	buf_free(&strings);
	buf_free(&capped);
	json_object_put(o);
}

static void check_prompt(enum gw_api api, const char *model, const char *s, size_t size)
{
	const char *why = NULL;
	char *body = prompt_body(api, model, s, size, &why);
	json_object *o, *v;

	if (!body) {
		CHECK(why != NULL);
		CHECK(size == 0 || memchr(s, '\0', size) || !str_utf8_valid(s, size));
		return;
	}
	CHECK(size > 0 && !memchr(s, '\0', size) && str_utf8_valid(s, size));
	o = openai_parse(body, strlen(body));
	CHECK(o != NULL);
	if (api == GW_API_CHAT) {
		json_object *msgs;
		CHECK(json_object_object_get_ex(o, "messages", &msgs));
		CHECK(json_object_array_length(msgs) == 1);
		CHECK(json_object_object_get_ex(json_object_array_get_idx(msgs, 0), "content", &v));
	} else {
		CHECK(json_object_object_get_ex(o, "prompt", &v));
	}
	CHECK((size_t)json_object_get_string_len(v) == size);
	CHECK(memcmp(json_object_get_string(v), s, size) == 0);
	CHECK(json_object_object_get_ex(o, "model", &v) == (model != NULL));
	json_object_put(o);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	check_json(s, size);
	check_body(s, size);
	check_form(s, size);
	check_prompt(GW_API_CHAT, "gpt-4o-mini", s, size);
	check_prompt(GW_API_COMPLETIONS, NULL, s, size);
	return 0;
}
