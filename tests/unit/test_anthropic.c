/* test_anthropic.c: cgi/anthropic.h: the header checks, the query passed on
 * and the usage of streamed Messages API events. */
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "gw.h"
#include "suites.h"
#include "testutil.h"

static void test_header_ok(void)
{
	char big[ANTHROPIC_MAX_BETA + 2];

	CU_ASSERT_TRUE(anthropic_header_ok("2023-06-01", ANTHROPIC_MAX_VERSION));
	CU_ASSERT_TRUE(anthropic_header_ok("a-2025-01-01,b-2025-02-02", ANTHROPIC_MAX_BETA));
	CU_ASSERT_TRUE(anthropic_header_ok("a, b", ANTHROPIC_MAX_BETA));
	CU_ASSERT_FALSE(anthropic_header_ok(NULL, 64));
	CU_ASSERT_FALSE(anthropic_header_ok("", 64));
	CU_ASSERT_FALSE(anthropic_header_ok(" x", 64));
	CU_ASSERT_FALSE(anthropic_header_ok("x ", 64));
	CU_ASSERT_FALSE(anthropic_header_ok("a\r\nX-Injected: 1", 64));
	CU_ASSERT_FALSE(anthropic_header_ok("a\tb", 64));
	CU_ASSERT_FALSE(anthropic_header_ok("caf\xc3\xa9", 64));
	CU_ASSERT_FALSE(anthropic_header_ok("a\x7f", 64));
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_FALSE(anthropic_header_ok(big, ANTHROPIC_MAX_BETA));
	big[ANTHROPIC_MAX_BETA] = '\0';
	CU_ASSERT_TRUE(anthropic_header_ok(big, ANTHROPIC_MAX_BETA));
}

static void expect_query(const char *q, const struct gw_list *drop, const char *want)
{
	char *got = anthropic_query(q, drop);

	if (!want) {
		CU_ASSERT_PTR_NULL(got);
	} else {
		CU_ASSERT_PTR_NOT_NULL_FATAL(got);
		TU_STR(got, want);
	}
	free(got);
}

static void test_query(void)
{
	char apikey[] = "apikey", key[] = "key";
	char *names[] = { apikey, key };
	struct gw_list drop = { names, 2 };

	expect_query("", &drop, "");
	expect_query("beta=true", &drop, "beta=true");
	expect_query("beta=true", NULL, "beta=true");
	expect_query("beta=true&apikey=sk-1", &drop, "beta=true");
	expect_query("APIKEY=sk-1&beta=true", &drop, "beta=true");
	expect_query("ap%69key=sk-1&beta=true", &drop, "beta=true"); /* encoded name */
	expect_query("key&&beta=true&", &drop, "beta=true");
	expect_query("limit=20&after_id=m%3A1", &drop, "limit=20&after_id=m%3A1");
	expect_query("apikey=sk-1", &drop, "");
	/* bytes that have no place in a URL */
	expect_query("a=b c", &drop, NULL);
	expect_query("a=b#c", &drop, NULL);
	expect_query("a=%zz", &drop, NULL);
	expect_query("a=%4", &drop, NULL);
	expect_query("a=\r\nX: y", &drop, NULL);
	expect_query("a=\xc3\xa9", &drop, NULL);
	expect_query("a=<b>", &drop, NULL);
}

static bool feed(struct anthropic_stream *s, const char *data)
{
	return anthropic_event(data, strlen(data), s);
}

static void test_stream_usage(void)
{
	struct anthropic_stream s;

	memset(&s, 0, sizeof(s));
	CU_ASSERT_TRUE(feed(&s, "{\"type\":\"message_start\",\"message\":{\"id\":\"m\","
				"\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":200,"
				"\"cache_creation_input_tokens\":50,\"output_tokens\":1}}}"));
	CU_ASSERT_TRUE(s.started);
	TU_INT(s.usage.prompt_tokens, 260);
	TU_INT(s.usage.completion_tokens, 1);
	CU_ASSERT_FALSE(feed(&s, "{\"type\":\"ping\"}"));
	CU_ASSERT_FALSE(feed(&s, "{\"type\":\"content_block_delta\",\"index\":0,"
				 "\"delta\":{\"type\":\"text_delta\",\"text\":\"hello\"}}"));
	CU_ASSERT_FALSE(feed(&s, "{\"type\":\"content_block_delta\",\"index\":1,"
				 "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}"));
	TU_INT(s.text_bytes, 7);
	/* message_delta says only the output: input and cache counts stay */
	CU_ASSERT_TRUE(feed(&s, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
				"\"end_turn\"},\"usage\":{\"output_tokens\":42}}"));
	CU_ASSERT_TRUE(s.delta_usage);
	TU_INT(s.usage.prompt_tokens, 260);
	TU_INT(s.usage.cached_tokens, 200);
	TU_INT(s.usage.cache_write_tokens, 50);
	TU_INT(s.usage.completion_tokens, 42);
	TU_INT(s.usage.total_tokens, 302);
	CU_ASSERT_FALSE(feed(&s, "{\"type\":\"message_stop\"}"));
	CU_ASSERT_TRUE(s.stopped);
	TU_INT(anthropic_cut_completion(&s), 42);

	/* a message_delta with cumulative input and cache counts replaces them */
	CU_ASSERT_TRUE(feed(&s, "{\"type\":\"message_delta\",\"usage\":{\"input_tokens\":12,"
				"\"cache_read_input_tokens\":100,\"output_tokens\":50}}"));
	TU_INT(s.usage.prompt_tokens, 162);
	TU_INT(s.usage.cached_tokens, 100);
	TU_INT(s.usage.completion_tokens, 50);
}

static void test_stream_cut(void)
{
	struct anthropic_stream s;
	char delta[200];

	memset(&s, 0, sizeof(s));
	feed(&s, "{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":7,"
		 "\"output_tokens\":1}}}");
	TU_INT(anthropic_cut_completion(&s), 1); /* nothing seen beyond message_start */
	snprintf(delta, sizeof(delta),
		 "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\","
		 "\"text\":\"%s\"}}", "0123456789abcdefghij"); /* 20 bytes: 5 tokens */
	feed(&s, delta);
	TU_INT(s.usage.prompt_tokens, 7);
	TU_INT(anthropic_cut_completion(&s), 5);
	CU_ASSERT_FALSE(s.stopped);
}

static void test_stream_hostile(void)
{
	struct anthropic_stream s;
	static const char *const bad[] = {
		"", "not json", "[1,2]", "{\"type\":7}", "{\"no\":\"type\"}",
		"{\"type\":\"message_start\",\"message\":\"x\"}",
		"{\"type\":\"message_start\",\"message\":{\"usage\":[1]}}",
		"{\"type\":\"message_delta\",\"usage\":\"many\"}",
		"{\"type\":\"content_block_delta\",\"delta\":{\"text\":5}}",
		"{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":",
	};

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
		CU_ASSERT_FALSE(feed(&s, bad[i]));
	CU_ASSERT_FALSE(s.usage.found);
	TU_INT(s.text_bytes, 0);
	/* negative, float and string counts are 0; huge ones capped */
	CU_ASSERT_TRUE(feed(&s, "{\"type\":\"message_start\",\"message\":{\"usage\":{"
				"\"input_tokens\":-5,\"cache_read_input_tokens\":1.5,"
				"\"output_tokens\":\"9\"}}}"));
	TU_INT(s.usage.prompt_tokens, 0);
	TU_INT(s.usage.completion_tokens, 0);
	CU_ASSERT_TRUE(feed(&s, "{\"type\":\"message_delta\",\"usage\":{"
				"\"output_tokens\":99999999999999999}}"));
	TU_INT(s.usage.completion_tokens, OPENAI_MAX_TOKENS);
	CU_ASSERT_FALSE(feed(&s, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}"));
	CU_ASSERT_TRUE(s.error);
}

void suite_anthropic(void)
{
	static const struct tu_test tests[] = {
		{ "header_ok: printable, short, no CR/LF", test_header_ok, false },
		{ "query: keys dropped, bad bytes refused", test_query, false },
		{ "event: message_start and message_delta merged", test_stream_usage, false },
		{ "event: a cut stream counts what was seen", test_stream_cut, false },
		{ "event: hostile events", test_stream_hostile, false },
	};
	tu_register("anthropic", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
