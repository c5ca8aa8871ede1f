/* fuzz_body.c: libFuzzer target for request and answer bodies: openai_parse(),
 * openai_usage(), openai_strings() and openai_int() (cgi/openai.c) on the
 * input as JSON, and prompt_body() (cgi/prompt.c) on the input as a prompt.
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

	if (!openai_scan(s, size, &scanned))
		return;
	while (i < size && strchr(" \t\r\n", s[i]))
		i++;
	if (i < size && s[i] != '{')
		return; /* json-c refuses some valid scalars (a tab before null); answers are objects */
	CHECK(o != NULL);
	openai_usage(o, &parsed);
	/* absurd counts (over 18 digits) are read differently; both are bounded */
	if (scanned.found && parsed.found && parsed.prompt_tokens < 1000000000000000LL &&
	    parsed.completion_tokens < 1000000000000000LL &&
	    parsed.total_tokens < 1000000000000000LL)
		CHECK(scanned.total_tokens == parsed.total_tokens ||
		      parsed.total_tokens == 0 || scanned.total_tokens == 0);
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
	openai_usage(o, &u);
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
	check_prompt(GW_API_CHAT, "gpt-4o-mini", s, size);
	check_prompt(GW_API_COMPLETIONS, NULL, s, size);
	return 0;
}
