/* test_openai.c: cgi/openai.h (strict JSON parsing, token usage). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "gw.h"
#include "openai.h"
#include "suites.h"
#include "testutil.h"

/* Parses s[0..len) from an exact-size copy; returns whether it was accepted. */
static bool accepts(const char *s, size_t len)
{
	char *exact = tu_exact(s, len);
	json_object *o = openai_parse(exact, len);

	free(exact);
	json_object_put(o);
	return o != NULL;
}

static void check(const char *s, size_t len, bool want, unsigned line)
{
	bool got = accepts(s, len);

	if (got != want) {
		fprintf(stderr, "\n    %s:%u: openai_parse(\"", __FILE__, line);
		for (size_t i = 0; i < len && i < 80; i++)
			fprintf(stderr, (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f
						? "%c"
						: "\\x%02x",
				(unsigned char)s[i]);
		fprintf(stderr, "\") %s\n", got ? "accepted" : "refused");
	}
	tu_assert_ll(got, want, "openai_parse verdict", line, __FILE__, __func__);
}

#define OK(lit) check(lit, sizeof(lit) - 1, true, __LINE__)
#define BAD(lit) check(lit, sizeof(lit) - 1, false, __LINE__)

static void test_accepts(void)
{
	OK("{}");
	OK("[]");
	OK("{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
	OK("[1,2.5,-3e2,true,false,null,\"s\",{}]");
	OK("{\"a\":\"\\u00e9\\n\\\"\\\\\"}");
	OK("{\"s\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
	OK("  {\"leading\":\"whitespace\"}");
}

static void test_trailing_whitespace(void)
{
	OK("{} ");
	OK("{}\n");
	OK("[1]\r\n\t \n");
	OK("{\"a\":1}\n\n\n");
}

static void test_trailing_garbage(void)
{
	BAD("{}x");
	BAD("{} x");
	BAD("{}{}");
	BAD("{\"a\":1}\n{\"b\":2}");
	BAD("[1]]");
	BAD("{}\0");
	BAD("{} \0 ");
	BAD("{},");
	BAD("[1] // comment");
}

static void test_truncated(void)
{
	BAD("{");
	BAD("[");
	BAD("{\"a\"");
	BAD("{\"a\":");
	BAD("{\"a\":1");
	BAD("{\"a\":1,");
	BAD("[1,2");
	BAD("\"unterminated");
	BAD("{\"a\":\"unterminated}");
	BAD("{\"a\":tru");
	BAD("{\"a\":\"\\u00");
}

static void test_invalid_utf8(void)
{
	BAD("{\"s\":\"\xc0\x80\"}");
	BAD("{\"s\":\"\xed\xa0\x80\"}");
	BAD("{\"s\":\"\xf4\x90\x80\x80\"}");
	BAD("{\"s\":\"\xc3\"}");
	BAD("{\"s\":\"\xe6\x97\"}");
	BAD("{\"s\":\"\xf0\x9f\x98\"}");
	BAD("{\"s\":\"\xff\"}");
	BAD("{\"s\":\"caf\xe9\"}");
	BAD("{\"\xc0\xaf\":1}");
}

static void test_nul_inside(void)
{
	BAD("{\"s\":\"a\0b\"}");
	BAD("{\"s\"\0:1}");
	BAD("\0{}");
	OK("{\"s\":\"a\\u0000b\"}"); /* an escaped NUL is valid JSON */
}

static void test_empty(void)
{
	BAD("");
	BAD(" ");
	BAD("\n\t ");
	CU_ASSERT_PTR_NULL(openai_parse("{}", 0));
}

static char *nested(size_t depth)
{
	char *s = gw_malloc(2 * depth + 1);

	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	return s;
}

static void test_depth(void)
{
	char *s;

	s = nested(10000);
	CU_ASSERT_FALSE(accepts(s, 20000));
	CU_ASSERT_FALSE(accepts(s, 10000)); /* only the opening half */
	free(s);

	s = nested(OPENAI_MAX_DEPTH + 1);
	CU_ASSERT_FALSE(accepts(s, 2 * (OPENAI_MAX_DEPTH + 1)));
	free(s);

	s = nested(OPENAI_MAX_DEPTH / 2);
	CU_ASSERT_TRUE(accepts(s, OPENAI_MAX_DEPTH));
	free(s);

	/* Objects nest too. */
	s = gw_malloc(10000 * 5);
	for (size_t i = 0; i < 10000; i++)
		memcpy(s + 5 * i, "{\"a\":", 5);
	CU_ASSERT_FALSE(accepts(s, 10000 * 5));
	free(s);
}

/* Strict JSON: what lenient parsers take but RFC 8259 does not. */
static void test_not_json(void)
{
	BAD("[1,]");
	BAD("{\"a\":1,}");
	BAD("[01]");
	BAD("[True]");
	BAD("/* c */ {}");
	BAD("{a:1}");
	BAD("[\"\\x41\"]");
	BAD("[-]");
}

/* A lone scalar is one JSON value; nothing follows it, not even a newline. */
static void test_scalars(void)
{
	OK("42");
	OK("-1.5e3");
	OK("true");
	OK("\"text\"");
	OK("42 ");
	BAD("42x");
	BAD("4 2");
}

/* ---- usage ---- */

static void usage_of(const char *json, struct openai_usage *u)
{
	json_object *o = json_tokener_parse(json);

	memset(u, 0, sizeof(*u));
	CU_ASSERT_PTR_NOT_NULL(o);
	openai_usage(o, USAGE_OPENAI, u);
	json_object_put(o);
}

static void test_usage_full(void)
{
	struct openai_usage u;

	usage_of("{\"id\":\"x\",\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
		 "\"total_tokens\":15}}",
		 &u);
	CU_ASSERT_TRUE(u.found);
	TU_INT(u.prompt_tokens, 10);
	TU_INT(u.completion_tokens, 5);
	TU_INT(u.total_tokens, 15);

	/* The reported total is kept even when it differs from the sum. */
	usage_of("{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":7}}", &u);
	TU_INT(u.total_tokens, 7);
}

static void test_usage_missing_total(void)
{
	struct openai_usage u;

	usage_of("{\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":30}}", &u);
	CU_ASSERT_TRUE(u.found);
	TU_INT(u.prompt_tokens, 12);
	TU_INT(u.completion_tokens, 30);
	TU_INT(u.total_tokens, 42);

	usage_of("{\"usage\":{\"prompt_tokens\":12}}", &u);
	CU_ASSERT_TRUE(u.found);
	TU_INT(u.completion_tokens, 0);
	TU_INT(u.total_tokens, 12);

	usage_of("{\"usage\":{}}", &u);
	CU_ASSERT_TRUE(u.found);
	TU_INT(u.total_tokens, 0);
}

static void test_usage_missing(void)
{
	struct openai_usage u;

	usage_of("{\"id\":\"x\",\"choices\":[]}", &u);
	CU_ASSERT_FALSE(u.found);
	TU_INT(u.total_tokens, 0);
	usage_of("{\"usage\":null}", &u);
	CU_ASSERT_FALSE(u.found);
	usage_of("{\"usage\":15}", &u);
	CU_ASSERT_FALSE(u.found);
	usage_of("{\"usage\":[10,5,15]}", &u);
	CU_ASSERT_FALSE(u.found);
	usage_of("[{\"usage\":{\"total_tokens\":3}}]", &u);
	CU_ASSERT_FALSE(u.found);
	usage_of("\"usage\"", &u);
	CU_ASSERT_FALSE(u.found);

	memset(&u, 0, sizeof(u));
	openai_usage(NULL, USAGE_OPENAI, &u);
	CU_ASSERT_FALSE(u.found);
}

static void test_usage_bad_values(void)
{
	struct openai_usage u;

	usage_of("{\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":-1,"
		 "\"total_tokens\":-6}}",
		 &u);
	CU_ASSERT_TRUE(u.found);
	TU_INT(u.prompt_tokens, 0);
	TU_INT(u.completion_tokens, 0);
	TU_INT(u.total_tokens, 0);

	usage_of("{\"usage\":{\"prompt_tokens\":1.5,\"completion_tokens\":\"7\","
		 "\"total_tokens\":true}}",
		 &u);
	CU_ASSERT_TRUE(u.found);
	TU_INT(u.prompt_tokens, 0);
	TU_INT(u.completion_tokens, 0);
	TU_INT(u.total_tokens, 0);

	usage_of("{\"usage\":{\"prompt_tokens\":null,\"completion_tokens\":{},"
		 "\"total_tokens\":[1]}}",
		 &u);
	TU_INT(u.prompt_tokens, 0);
	TU_INT(u.completion_tokens, 0);
	TU_INT(u.total_tokens, 0);

	/* A negative total is not believed: the sum of the parts is used. */
	usage_of("{\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6,\"total_tokens\":-1}}",
		 &u);
	TU_INT(u.total_tokens, 10);
}

static void test_usage_huge(void)
{
	struct openai_usage u;

	/* Parts that would overflow when added: each is clamped, so the sum
	 * cannot wrap. */
	usage_of("{\"usage\":{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":"
		 "9223372036854775807}}",
		 &u);
	CU_ASSERT_TRUE(u.found);
	TU_INT(u.prompt_tokens, OPENAI_MAX_TOKENS);
	TU_INT(u.completion_tokens, OPENAI_MAX_TOKENS);
	TU_INT(u.total_tokens, 2 * OPENAI_MAX_TOKENS);

	/* Out of the int64 range. */
	usage_of("{\"usage\":{\"prompt_tokens\":1e300,\"completion_tokens\":"
		 "99999999999999999999999}}",
		 &u);
	CU_ASSERT_TRUE(u.prompt_tokens >= 0 && u.completion_tokens >= 0 && u.total_tokens >= 0);
}

/* The usage of each API the gateway relays, read into one shape. */
static void test_usage_shapes(void)
{
	struct openai_usage u;
	json_object *o;
	const char *chat = "{\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20,"
			   "\"total_tokens\":120,\"prompt_tokens_details\":{\"cached_tokens\":60},"
			   "\"completion_tokens_details\":{\"reasoning_tokens\":7}}}";
	const char *responses = "{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":100,"
				"\"input_tokens_details\":{\"cached_tokens\":40},\"output_tokens\":30,"
				"\"output_tokens_details\":{\"reasoning_tokens\":9},\"total_tokens\":130}}";
	const char *anthropic = "{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":200,"
				"\"cache_creation_input_tokens\":50,\"output_tokens\":5}}";

	CU_ASSERT_TRUE(openai_scan(chat, strlen(chat), USAGE_OPENAI, &u));
	TU_INT(u.prompt_tokens, 100);
	TU_INT(u.cached_tokens, 60);
	TU_INT(u.reasoning_tokens, 7);
	TU_INT(u.total_tokens, 120);
	CU_ASSERT_TRUE(openai_scan(responses, strlen(responses), USAGE_OPENAI, &u));
	TU_INT(u.prompt_tokens, 100);
	TU_INT(u.completion_tokens, 30);
	TU_INT(u.cached_tokens, 40);
	TU_INT(u.reasoning_tokens, 9);
	TU_INT(u.total_tokens, 130);
	CU_ASSERT_TRUE(openai_scan(anthropic, strlen(anthropic), USAGE_ANTHROPIC, &u));
	TU_INT(u.prompt_tokens, 260); /* input + cache reads + cache writes */
	TU_INT(u.cached_tokens, 200);
	TU_INT(u.cache_write_tokens, 50);
	TU_INT(u.completion_tokens, 5);
	TU_INT(u.total_tokens, 265);

	/* More cached than prompt tokens: cached is capped at the prompt. */
	o = json_tokener_parse("{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,"
			       "\"prompt_tokens_details\":{\"cached_tokens\":999}}}");
	openai_usage(o, USAGE_OPENAI, &u);
	TU_INT(u.cached_tokens, 5);
	json_object_put(o);

	/* A stream's message_delta: fields absent stay as they were. */
	o = json_tokener_parse("{\"output_tokens\":42}");
	openai_usage_read(o, USAGE_ANTHROPIC, &u);
	TU_INT(u.completion_tokens, 42);
	json_object_put(o);

	/* Hostile: strings, floats, negatives and nesting in place of counts. */
	o = json_tokener_parse("{\"usage\":{\"input_tokens\":\"9\",\"cache_read_input_tokens\":-4,"
			       "\"cache_creation_input_tokens\":1.5,\"output_tokens\":{}}}");
	openai_usage(o, USAGE_ANTHROPIC, &u);
	CU_ASSERT_TRUE(u.found);
	TU_INT(u.prompt_tokens, 0);
	TU_INT(u.completion_tokens, 0);
	json_object_put(o);
}

static void test_int(void)
{
	json_object *o = json_tokener_parse("{\"n\":42,\"neg\":-7,\"d\":1.5,\"s\":\"9\","
					    "\"b\":true,\"z\":null,\"big\":9223372036854775807,"
					    "\"nbig\":-9223372036854775808}");

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	TU_INT(openai_int(o, "n", -1), 42);
	TU_INT(openai_int(o, "neg", -1), -7);
	TU_INT(openai_int(o, "d", -1), -1);
	TU_INT(openai_int(o, "s", -1), -1);
	TU_INT(openai_int(o, "b", -1), -1);
	TU_INT(openai_int(o, "z", -1), -1);
	TU_INT(openai_int(o, "missing", 5), 5);
	TU_INT(openai_int(o, "big", 0), OPENAI_MAX_TOKENS); /* bounded before any sum */
	TU_INT(openai_int(o, "nbig", 0), -OPENAI_MAX_TOKENS);
	TU_INT(openai_int(NULL, "n", 3), 3);
	json_object_put(o);
}

static void test_strings(void)
{
	const char *text = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
			   "\"content\":\"\\u0070assword\"}],\"n\":2,\"x\":[\"a\\u0000b\",null,true]}";
	json_object *o = openai_parse(text, strlen(text));
	struct gw_buf b = { 0 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	openai_strings(o, &b);
	{
		static const char want[] =
			"model\nm\nmessages\nrole\nuser\ncontent\npassword\nn\nx\na\0b\n";
		TU_MEM(b.data, b.len, want, sizeof(want) - 1);
	}
	buf_free(&b);
	json_object_put(o);

	/* A scalar that is not a string adds nothing. */
	o = json_object_new_int(5);
	openai_strings(o, &b);
	CU_ASSERT_EQUAL(b.len, 0);
	json_object_put(o);
	buf_free(&b);
}

/* openai_scan: the DOM-less check of upstream answers (stricter than json-c
 * 0.16, which takes [1.], a raw tab in a string, 'a' and NaN) */
static void test_scan(void)
{
	static const char *const good[] = {
		"{}", " [1, -2.5e3, true, false, null, \"\\u00e9\\n\"] ",
		"{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}",
	};
	static const char *const bad[] = {
		"", "{", "{\"a\":}", "[1,]", "{\"a\":1,}", "[01]", "\"\\x\"", "{} x", "[True]",
		"\"\\u12\"", "[1e]", "[.5]", "[+1]", "{\"a\" 1}", "{\"usage\":{\"prompt_tokens\":1}",
		"[1.]", "\"tab\there\"", "{'a':1}", "[NaN]",
	};
	struct openai_usage u;
	char deep[200];

	for (size_t i = 0; i < GW_ARRAY_LEN(good); i++)
		CU_ASSERT_TRUE(openai_scan(good[i], strlen(good[i]), USAGE_OPENAI, &u));
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
		CU_ASSERT_FALSE(openai_scan(bad[i], strlen(bad[i]), USAGE_OPENAI, &u));
	CU_ASSERT_TRUE(openai_scan(good[2], strlen(good[2]), USAGE_OPENAI, &u));
	CU_ASSERT_TRUE(u.found);
	CU_ASSERT_EQUAL(u.prompt_tokens, 3);
	CU_ASSERT_EQUAL(u.completion_tokens, 4);
	CU_ASSERT_EQUAL(u.total_tokens, 7);
	CU_ASSERT_FALSE(openai_scan("{\"a\":\"\xc3\"}", 8, USAGE_OPENAI, &u)); /* invalid UTF-8 */
	memset(deep, '[', sizeof(deep));
	CU_ASSERT_FALSE(openai_scan(deep, sizeof(deep), USAGE_OPENAI, &u)); /* deeper than the limit */
}

/* openai_parse_body: the upstream gets what was checked, once per key. */
static void body_is(const char *in, const char *want, unsigned line)
{
	struct gw_buf b = { 0 };
	json_object *o;

	buf_append(&b, in, strlen(in));
	o = openai_parse_body(&b);
	if (!want) {
		CU_ASSERT_PTR_NULL(o);
		tu_assert_str(buf_str(&b), in, "openai_parse_body left", line, __FILE__, "body_is");
	} else {
		CU_ASSERT_PTR_NOT_NULL(o);
		tu_assert_str(buf_str(&b), want, "openai_parse_body", line, __FILE__, "body_is");
	}
	json_object_put(o);
	buf_free(&b);
}

#define BODY_IS(in, want) body_is(in, want, __LINE__)

static void test_parse_body(void)
{
	BODY_IS("{\"model\":\"allowed\",\"model\":\"forbidden\"}", "{\"model\":\"forbidden\"}");
	BODY_IS("{\"model\":\"m\",\"stream\":false,\"max_tokens\":1,\"stream\":true,"
		"\"max_tokens\":99}",
		"{\"model\":\"m\",\"stream\":true,\"max_tokens\":99}");
	BODY_IS("{\"stream_options\":{\"include_usage\":true,\"include_usage\":false}}",
		"{\"stream_options\":{\"include_usage\":false}}");
	BODY_IS("{\"messages\":[{\"content\":\"a\",\"content\":\"pass\\u0077ord\"}]}",
		"{\"messages\":[{\"content\":\"password\"}]}");
	/* keys json-c cuts at an escaped NUL: the upstream sees the cut key */
	BODY_IS("{\"model\\u0000x\":\"a\",\"model\":\"b\"}", "{\"model\":\"b\"}");
	/* numbers as the gateway read them; other bytes and order kept */
	BODY_IS("{\"max_tokens\": 99999999999999999999999, \"t\": 0.50, \"u\":\"\\/\u00e9\"}",
		"{\"max_tokens\":18446744073709551615,\"t\":0.50,\"u\":\"/\u00e9\"}");
	BODY_IS(" {\"b\":1,\"b\":2,\n\"a\":[1, 2]} ", "{\"b\":2,\"a\":[1,2]}");
	/* a text that means the same to every parser is kept byte for byte */
	BODY_IS(" {\"b\":1,\n\"a\":[1, -2.5e3, {\"c\":\"\\t:\\\"\"}]} ",
		" {\"b\":1,\n\"a\":[1, -2.5e3, {\"c\":\"\\t:\\\"\"}]} ");
	BODY_IS("{\"a\":\"x\\u0041\\/\",\"n\":123456789012345678}",
		"{\"a\":\"x\\u0041\\/\",\"n\":123456789012345678}");
	/* what json-c writes back otherwise: rewritten */
	BODY_IS("{\"n\":1234567890123456789}", "{\"n\":1234567890123456789}");
	BODY_IS("{\"n\":-0}", "{\"n\":0}");
	BODY_IS("{\"s\":\"\\ud83d\\ude00\"}", "{\"s\":\"\xf0\x9f\x98\x80\"}");
	BODY_IS("{\"a\":{\"k\":1},\"b\":[{\"k\":1,\"k\":1}]}", "{\"a\":{\"k\":1},\"b\":[{\"k\":1}]}");
	/* not an object: left as it is, for the caller to refuse */
	BODY_IS("[1,2]", "[1,2]");
	BODY_IS("{\"a\":", NULL);
	BODY_IS("{\"a\":\"\xff\"}", NULL);
}

static void test_parse_body_cap(void)
{
	struct gw_buf b = { .limit = 32 };
	json_object *o;

	buf_puts(&b, "{\"a\":1,\"a\":2}");
	o = openai_parse_body(&b);
	CU_ASSERT_PTR_NOT_NULL(o);
	TU_STR(buf_str(&b), "{\"a\":2}");
	CU_ASSERT_EQUAL(b.limit, 32); /* the cap stays */
	json_object_put(o);
	buf_free(&b);
}

void suite_openai(void)
{
	static const struct tu_test tests[] = {
		{ "parse: objects and arrays", test_accepts, false },
		{ "scan: validates and reads usage without a DOM", test_scan, false },
		{ "parse_body: duplicate keys: the upstream gets what was checked", test_parse_body,
		  false },
		{ "parse_body: the body's cap is kept", test_parse_body_cap, false },
		{ "parse: trailing whitespace accepted", test_trailing_whitespace, false },
		{ "parse: trailing garbage refused", test_trailing_garbage, false },
		{ "parse: truncated JSON refused", test_truncated, false },
		{ "parse: invalid UTF-8 refused", test_invalid_utf8, false },
		{ "parse: raw NUL bytes refused", test_nul_inside, false },
		{ "parse: empty input refused", test_empty, false },
		{ "parse: nesting deeper than OPENAI_MAX_DEPTH", test_depth, false },
		{ "parse: not JSON (trailing commas, comments...)", test_not_json, false },
		{ "parse: lone scalars", test_scalars, false },
		{ "usage: full", test_usage_full, false },
		{ "usage: total computed when missing", test_usage_missing_total, false },
		{ "usage: missing usage", test_usage_missing, false },
		{ "usage: negative and non-integer values are 0", test_usage_bad_values, false },
		{ "usage: huge values", test_usage_huge, false },
		{ "usage: chat, responses and anthropic shapes", test_usage_shapes, false },
		{ "openai_int", test_int, false },
		{ "openai_strings: keys and decoded strings", test_strings, false },
	};
	tu_register("openai", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
