/* test_responses.c: cgi/responses.h's pure parts: response ids, the paths
 * below /responses/, the query passed on, stored owners and what a
 * Responses stream's events tell the gateway. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "responses.h"
#include "suites.h"
#include "testutil.h"

static void test_id_ok(void)
{
	char big[RESPONSES_ID_MAX + 2];

	CU_ASSERT_TRUE(responses_id_ok("resp_0123abcDEF-x", 17));
	CU_ASSERT_TRUE(responses_id_ok("a", 1));
	CU_ASSERT_FALSE(responses_id_ok("", 0));
	CU_ASSERT_FALSE(responses_id_ok("resp_../../x", 12));
	CU_ASSERT_FALSE(responses_id_ok("resp%2F..", 9));
	CU_ASSERT_FALSE(responses_id_ok("resp.1", 6));
	CU_ASSERT_FALSE(responses_id_ok("..", 2));
	CU_ASSERT_FALSE(responses_id_ok("a b", 3));
	CU_ASSERT_FALSE(responses_id_ok("a\0b", 3)); /* a NUL inside */
	CU_ASSERT_FALSE(responses_id_ok("r\xc3\xa9sp", 5));
	memset(big, 'a', sizeof(big));
	CU_ASSERT_TRUE(responses_id_ok(big, RESPONSES_ID_MAX));
	CU_ASSERT_FALSE(responses_id_ok(big, RESPONSES_ID_MAX + 1));
}

static void test_parse_path(void)
{
	struct responses_req r;
	const char *allow = NULL;

	CU_ASSERT_EQUAL(responses_parse_path("resp_1", "GET", &r, &allow), 0);
	CU_ASSERT_STRING_EQUAL(r.id, "resp_1");
	CU_ASSERT_EQUAL(r.action, RESPONSES_GET);
	CU_ASSERT_EQUAL(responses_parse_path("resp_1", "DELETE", &r, &allow), 0);
	CU_ASSERT_EQUAL(r.action, RESPONSES_DELETE);
	CU_ASSERT_EQUAL(responses_parse_path("resp_2/cancel", "POST", &r, &allow), 0);
	CU_ASSERT_STRING_EQUAL(r.id, "resp_2");
	CU_ASSERT_EQUAL(r.action, RESPONSES_CANCEL);
	CU_ASSERT_EQUAL(responses_parse_path("resp_3/input_items", "GET", &r, &allow), 0);
	CU_ASSERT_EQUAL(r.action, RESPONSES_INPUT_ITEMS);
	/* a known path, another method: 405 with its methods */
	CU_ASSERT_EQUAL(responses_parse_path("resp_1", "POST", &r, &allow), -2);
	CU_ASSERT_STRING_EQUAL(allow, "GET, DELETE");
	CU_ASSERT_EQUAL(responses_parse_path("resp_1/cancel", "GET", &r, &allow), -2);
	CU_ASSERT_STRING_EQUAL(allow, "POST");
	/* no such endpoint, or no valid id: 404 */
	CU_ASSERT_EQUAL(responses_parse_path("resp_1/other", "GET", &r, &allow), -1);
	CU_ASSERT_EQUAL(responses_parse_path("resp_1/cancel/", "POST", &r, &allow), -1);
	CU_ASSERT_EQUAL(responses_parse_path("resp_1/", "GET", &r, &allow), -1);
	CU_ASSERT_EQUAL(responses_parse_path("resp_../../x", "GET", &r, &allow), -1);
	CU_ASSERT_EQUAL(responses_parse_path("resp%2F..", "GET", &r, &allow), -1);
	CU_ASSERT_EQUAL(responses_parse_path("/resp_1", "GET", &r, &allow), -1);
	CU_ASSERT_EQUAL(responses_parse_path("resp_1/..", "GET", &r, &allow), -1);
}

static void test_raw_ok(void)
{
	CU_ASSERT_TRUE(responses_raw_ok("/v1/responses/resp_1"));
	CU_ASSERT_TRUE(responses_raw_ok("/v1/responses/resp_1/input_items?after=a%2Fb"));
	CU_ASSERT_TRUE(responses_raw_ok("/responses/x/responses/resp_1/cancel#frag"));
	CU_ASSERT_FALSE(responses_raw_ok("/v1/responses/resp_1%2Finput_items"));
	CU_ASSERT_FALSE(responses_raw_ok("/v1/responses/resp_1/../resp_2"));
	CU_ASSERT_FALSE(responses_raw_ok("/v1/responses/resp%5F1"));
	CU_ASSERT_FALSE(responses_raw_ok("/v1/%72esponses/resp_1"));
	CU_ASSERT_FALSE(responses_raw_ok("/v1/responses"));
	CU_ASSERT_FALSE(responses_raw_ok(""));
}

static void check_query(const char *in, enum responses_action a, const char *want)
{
	char *q = responses_query(in, a);

	CU_ASSERT_STRING_EQUAL(q, want);
	if (strcmp(q, want) != 0)
		fprintf(stderr, "\nquery \"%s\": got \"%s\", want \"%s\"\n", in, q, want);
	free(q);
}

static void test_query(void)
{
	check_query("", RESPONSES_INPUT_ITEMS, "");
	check_query(NULL, RESPONSES_INPUT_ITEMS, "");
	check_query("after=msg_1&limit=5&order=asc", RESPONSES_INPUT_ITEMS,
		    "after=msg_1&limit=5&order=asc");
	/* include[] (raw or encoded) kept, each occurrence; others dropped */
	check_query("include[]=a.b&apikey=secret&include%5B%5D=c&x=1", RESPONSES_INPUT_ITEMS,
		    "include%5B%5D=a.b&include%5B%5D=c");
	/* values decoded, then encoded again: nothing raw reaches the URL */
	check_query("after=a%2F..%2Fb&limit=1%0D%0AX:%20y", RESPONSES_INPUT_ITEMS,
		    "after=a%2F..%2Fb&limit=1%0D%0AX%3A%20y");
	check_query("after=a+b&order", RESPONSES_INPUT_ITEMS, "after=a%20b&order=");
	check_query("stream=true&starting_after=3&after=x", RESPONSES_GET,
		    "stream=true&starting_after=3");
	check_query("after=x&stream=true", RESPONSES_DELETE, "");
	check_query("after=x", RESPONSES_CANCEL, "");
	/* a name with a NUL byte is nobody's */
	check_query("after%00x=1&limit=2", RESPONSES_INPUT_ITEMS, "limit=2");
	check_query("&&limit=2&&", RESPONSES_INPUT_ITEMS, "limit=2");
}

static void test_owner(void)
{
	char v[64];
	const char *c = NULL, *u = NULL;

	CU_ASSERT_TRUE(responses_owner_format(v, sizeof(v), "team-a", "openai"));
	CU_ASSERT_STRING_EQUAL(v, "team-a\topenai");
	CU_ASSERT_TRUE(responses_owner_parse(v, &c, &u));
	CU_ASSERT_STRING_EQUAL(c, "team-a");
	CU_ASSERT_STRING_EQUAL(u, "openai");
	/* no consumer (a route without keys): "" owns it */
	CU_ASSERT_TRUE(responses_owner_format(v, sizeof(v), "", "up"));
	CU_ASSERT_TRUE(responses_owner_parse(v, &c, &u));
	CU_ASSERT_STRING_EQUAL(c, "");
	CU_ASSERT_FALSE(responses_owner_format(v, 8, "team-a", "openai"));
	CU_ASSERT_FALSE(responses_owner_format(v, sizeof(v), "a\tb", "up"));
	strcpy(v, "no tab");
	CU_ASSERT_FALSE(responses_owner_parse(v, &c, &u));
	strcpy(v, "a\tb\tc");
	CU_ASSERT_FALSE(responses_owner_parse(v, &c, &u));
	strcpy(v, "a\t");
	CU_ASSERT_FALSE(responses_owner_parse(v, &c, &u));
}

static bool read_event(const char *data, struct responses_event *ev)
{
	return responses_event_read(data, strlen(data), ev);
}

static void test_event(void)
{
	struct responses_event ev;

	CU_ASSERT_TRUE(read_event("{\"type\":\"response.created\",\"sequence_number\":0,"
				  "\"response\":{\"id\":\"resp_abc\",\"usage\":null}}",
				  &ev));
	CU_ASSERT_STRING_EQUAL(ev.created_id, "resp_abc");
	CU_ASSERT_FALSE(ev.has_usage);
	CU_ASSERT_TRUE(read_event("{\"type\":\"response.output_text.delta\",\"delta\":\"pong!\"}",
				  &ev));
	CU_ASSERT_EQUAL(ev.delta_bytes, 5);
	CU_ASSERT_STRING_EQUAL(ev.created_id, "");
	CU_ASSERT_TRUE(read_event(
		"{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_abc\",\"usage\":"
		"{\"input_tokens\":40,\"input_tokens_details\":{\"cached_tokens\":30},"
		"\"output_tokens\":12,\"output_tokens_details\":{\"reasoning_tokens\":7},"
		"\"total_tokens\":52}}}",
		&ev));
	CU_ASSERT_TRUE(ev.has_usage);
	CU_ASSERT_EQUAL(ev.usage.prompt_tokens, 40);
	CU_ASSERT_EQUAL(ev.usage.completion_tokens, 12);
	CU_ASSERT_EQUAL(ev.usage.total_tokens, 52);
	CU_ASSERT_EQUAL(ev.usage.cached_tokens, 30);
	CU_ASSERT_EQUAL(ev.usage.reasoning_tokens, 7);
	CU_ASSERT_STRING_EQUAL(ev.created_id, ""); /* only response.created names it */
	/* incomplete and failed carry usage too */
	CU_ASSERT_TRUE(read_event("{\"type\":\"response.incomplete\",\"response\":{\"usage\":"
				  "{\"input_tokens\":3,\"output_tokens\":4}}}",
				  &ev));
	CU_ASSERT_TRUE(ev.has_usage);
	CU_ASSERT_EQUAL(ev.usage.total_tokens, 7);
	CU_ASSERT_TRUE(read_event("{\"type\":\"response.failed\",\"response\":{\"usage\":"
				  "{\"input_tokens\":3,\"output_tokens\":0,\"total_tokens\":3}}}",
				  &ev));
	CU_ASSERT_TRUE(ev.has_usage);
	CU_ASSERT_TRUE(read_event("{\"type\":\"response.failed\",\"response\":{\"usage\":null}}",
				  &ev));
	CU_ASSERT_FALSE(ev.has_usage);
	/* usage in an event that is not final is not taken */
	CU_ASSERT_TRUE(read_event("{\"type\":\"response.in_progress\",\"response\":{\"usage\":"
				  "{\"input_tokens\":3,\"output_tokens\":4}}}",
				  &ev));
	CU_ASSERT_FALSE(ev.has_usage);
	/* hostile: an id the gateway would not relay, odd types, not JSON */
	CU_ASSERT_TRUE(read_event("{\"type\":\"response.created\",\"response\":"
				  "{\"id\":\"../../etc\"}}",
				  &ev));
	CU_ASSERT_STRING_EQUAL(ev.created_id, "");
	CU_ASSERT_TRUE(read_event("{\"type\":\"response.created\",\"response\":{\"id\":7}}", &ev));
	CU_ASSERT_STRING_EQUAL(ev.created_id, "");
	CU_ASSERT_TRUE(read_event("{\"type\":5,\"delta\":\"abc\"}", &ev));
	CU_ASSERT_EQUAL(ev.delta_bytes, 0);
	CU_ASSERT_TRUE(read_event("{\"type\":\"x.delta\",\"delta\":{\"a\":1}}", &ev));
	CU_ASSERT_EQUAL(ev.delta_bytes, 0);
	CU_ASSERT_TRUE(read_event("{\"type\":\"response.completed\",\"response\":[1]}", &ev));
	CU_ASSERT_FALSE(ev.has_usage);
	CU_ASSERT_FALSE(read_event("[DONE]", &ev));
	CU_ASSERT_FALSE(read_event("[1,2]", &ev));
	CU_ASSERT_FALSE(read_event("{\"type\":\"response.created\"", &ev));
	CU_ASSERT_FALSE(responses_event_read("", 0, &ev));
}

void suite_responses(void)
{
	static const struct tu_test tests[] = {
		{ "response ids", test_id_ok, false },
		{ "paths below /responses/", test_parse_path, false },
		{ "the raw URI below /responses/", test_raw_ok, false },
		{ "query passed on", test_query, false },
		{ "stored owners", test_owner, false },
		{ "stream events", test_event, false },
	};
	tu_register("responses", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
