/* test_reply.c: cgi/reply.h's error bodies in the OpenAI and Anthropic shapes. */
#include <json-c/json.h>
#include <string.h>

#include "gw.h"
#include "reply.h"
#include "suites.h"
#include "testutil.h"

/* The error body of style as parsed JSON (the caller puts it). */
static json_object *error_json(enum gw_error_style style, int status, const char *type,
			       const char *code, const char *message)
{
	struct gw_buf out = { 0 };
	json_object *j;

	buf_puts(&out, "stale");
	reply_error_json(&out, style, status, type, code, message);
	j = json_tokener_parse(buf_str(&out));
	buf_free(&out);
	return j;
}

static const char *get(json_object *j, const char *a, const char *b)
{
	json_object *v;

	if (!json_object_object_get_ex(j, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "(not a string)";
}

static void test_openai_shape(void)
{
	json_object *j = error_json(GW_ERRORS_OPENAI, 429, "rate_limit_exceeded",
				    "rate_limit_exceeded", "Request limit reached");
	json_object *v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(get(j, "error", "message"), "Request limit reached");
	CU_ASSERT_STRING_EQUAL(get(j, "error", "type"), "rate_limit_exceeded");
	CU_ASSERT_STRING_EQUAL(get(j, "error", "code"), "rate_limit_exceeded");
	CU_ASSERT_FALSE(json_object_object_get_ex(j, "type", &v));
	json_object_put(j);
	j = error_json(GW_ERRORS_OPENAI, 500, "server_error", NULL, "x");
	CU_ASSERT_TRUE(json_object_object_get_ex(json_object_object_get(j, "error"), "code", &v));
	CU_ASSERT_PTR_NULL(v); /* code: null */
	json_object_put(j);
}

static void test_anthropic_shape(void)
{
	json_object *j = error_json(GW_ERRORS_ANTHROPIC, 401, "invalid_request_error",
				    "invalid_api_key", "Missing or unknown API key");
	json_object *err, *v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(get(j, "type", NULL), "error");
	CU_ASSERT_STRING_EQUAL(get(j, "error", "type"), "authentication_error");
	CU_ASSERT_STRING_EQUAL(get(j, "error", "message"), "Missing or unknown API key");
	err = json_object_object_get(j, "error");
	CU_ASSERT_FALSE(json_object_object_get_ex(err, "code", &v));
	CU_ASSERT_EQUAL(json_object_object_length(j), 2);
	CU_ASSERT_EQUAL(json_object_object_length(err), 2);
	json_object_put(j);
}

static void test_anthropic_types(void)
{
	static const struct {
		int status;
		const char *code, *want;
	} cases[] = {
		{ 400, "bad_request", "invalid_request_error" },
		{ 401, "invalid_api_key", "authentication_error" },
		{ 403, "consumer_not_allowed", "permission_error" },
		{ 404, "not_found", "not_found_error" },
		{ 405, "method_not_allowed", "invalid_request_error" },
		{ 413, "request_too_large", "request_too_large" },
		{ 414, "query_too_long", "invalid_request_error" },
		{ 429, "insufficient_quota", "rate_limit_error" },
		{ 431, NULL, "invalid_request_error" },
		{ 403, "request_blocked", "invalid_request_error" },
		{ 451, "request_blocked", "invalid_request_error" },
		{ 500, "internal", "api_error" },
		{ 502, "upstream_unreachable", "api_error" },
		{ 503, "limit_store_unavailable", "api_error" },
		{ 504, "upstream_timeout", "api_error" },
	};

	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++)
		tu_assert_str(reply_anthropic_type(cases[i].status, cases[i].code), cases[i].want,
			      "anthropic type", __LINE__, __FILE__, __func__);
}

/* Hostile messages: quotes, control bytes, long text stay valid JSON. */
static void test_hostile_message(void)
{
	char big[20000];
	const char *msgs[] = { "\"}{\"error\":1", "a\nb\r\x01\x7f\\", "", big };

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < GW_ARRAY_LEN(msgs); i++) {
			json_object *j = error_json((enum gw_error_style)s, 400, "t", "c", msgs[i]);
			CU_ASSERT_PTR_NOT_NULL_FATAL(j);
			CU_ASSERT_STRING_EQUAL(get(j, "error", "message"), msgs[i]);
			json_object_put(j);
		}
}

void suite_reply(void)
{
	static const struct tu_test tests[] = {
		{ "OpenAI shape", test_openai_shape, false },
		{ "Anthropic shape", test_anthropic_shape, false },
		{ "Anthropic types by status", test_anthropic_types, false },
		{ "hostile messages stay valid JSON", test_hostile_message, false },
	};
	tu_register("reply", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
