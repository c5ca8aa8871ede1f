/* test_prompt.c: cgi/prompt.h (prompt-mode upstream bodies). */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "prompt.h"
#include "suites.h"
#include "testutil.h"

/* Parses body strictly as one JSON value; NULL when it is not. */
static json_object *parse(const char *body)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)strlen(body) + 1);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* The text the body carries as the prompt, for either shape. */
static json_object *prompt_of(json_object *root, enum gw_api api)
{
	if (api == GW_API_COMPLETIONS)
		return get(root, "prompt");
	json_object *msgs = get(root, "messages");
	if (!msgs || !json_object_is_type(msgs, json_type_array) ||
	    json_object_array_length(msgs) != 1)
		return NULL;
	json_object *msg = json_object_array_get_idx(msgs, 0);
	if (!json_object_is_type(msg, json_type_object) || json_object_object_length(msg) != 2)
		return NULL;
	json_object *role = get(msg, "role");
	if (!role || strcmp(json_object_get_string(role), "user") != 0)
		return NULL;
	return get(msg, "content");
}

/* Builds the body for (api, model, prompt) and checks it parses back to
 * exactly that prompt, with nothing but the expected members. */
static void round_trip(enum gw_api api, const char *model, const char *prompt, size_t len,
		       unsigned line)
{
	const char *why = NULL;
	char *body = prompt_body(api, model, prompt, len, &why);
	json_object *root, *p;
	bool ok;

	tu_assert_ll(body != NULL, 1, "prompt_body accepted", line, __FILE__, __func__);
	if (!body) {
		fprintf(stderr, "\n    refused: %s\n", why ? why : "(no reason)");
		return;
	}
	/* One line of JSON: every control byte escaped. */
	for (const char *c = body; *c; c++)
		if ((unsigned char)*c < 0x20) {
			tu_assert_ll((unsigned char)*c, -1, "raw control byte in body", line,
				     __FILE__, __func__);
			break;
		}
	root = parse(body);
	tu_assert_ll(root != NULL, 1, "body parses as JSON", line, __FILE__, __func__);
	p = prompt_of(root, api);
	ok = p && json_object_is_type(p, json_type_string);
	tu_assert_ll(ok, 1, "prompt member", line, __FILE__, __func__);
	if (ok)
		tu_assert_mem(json_object_get_string(p), (size_t)json_object_get_string_len(p),
			      prompt, len, "prompt round trip", line, __FILE__, __func__);
	if (root) {
		json_object *m = get(root, "model");
		tu_assert_ll(json_object_object_length(root), model ? 2 : 1, "member count", line,
			     __FILE__, __func__);
		if (model)
			tu_assert_str(m ? json_object_get_string(m) : NULL, model, "model", line,
				      __FILE__, __func__);
		else
			tu_assert_ll(m == NULL, 1, "no model member", line, __FILE__, __func__);
		tu_assert_ll(get(root, api == GW_API_CHAT ? "prompt" : "messages") == NULL, 1,
			     "only one shape", line, __FILE__, __func__);
	}
	json_object_put(root);
	free(body);
}

#define RT(api, model, lit) round_trip(api, model, lit, sizeof(lit) - 1, __LINE__)

static const enum gw_api apis[] = { GW_API_CHAT, GW_API_COMPLETIONS };

static void test_quotes_backslashes(void)
{
	for (size_t i = 0; i < 2; i++) {
		RT(apis[i], "gpt-4o-mini", "hello");
		RT(apis[i], "m", "he said \"hi\" and \"bye\"");
		RT(apis[i], "m", "\"");
		RT(apis[i], "m", "back\\slash \\\\ \\\" \\u0041 \\n");
		RT(apis[i], "m", "\\");
		RT(apis[i], "m", "</script><!-- / // -->");
		RT(apis[i], "m", "%s %n %% {\"json\": [1, 2]}");
		RT(apis[i], "m", " ");
	}
}

static void test_controls(void)
{
	for (size_t i = 0; i < 2; i++) {
		RT(apis[i], "m", "line1\nline2\r\nline3\n");
		RT(apis[i], "m", "\n");
		RT(apis[i], "m", "\ttab\t");
		RT(apis[i], "m", "\x01\x02\x1b[31m\x1f\x7f\b\f\v");
	}
}

static void test_non_ascii(void)
{
	for (size_t i = 0; i < 2; i++) {
		RT(apis[i], "m", "caf\xc3\xa9");
		RT(apis[i], "m", "\xe6\x97\xa5\xe6\x9c\xac");
		RT(apis[i], "m", "\xf0\x9f\x98\x80 emoji \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd");
		RT(apis[i], "m", "\xef\xbf\xbf\xf4\x8f\xbf\xbf"); /* U+FFFF, U+10FFFF */
		RT(apis[i], "m", "\xe2\x80\xa8\xe2\x80\xa9");     /* U+2028, U+2029 */
		RT(apis[i], "m", "\xef\xbb\xbf BOM inside");
	}
}

static void test_shapes(void)
{
	const char *why = NULL;
	char *chat = prompt_body(GW_API_CHAT, "gpt-x", "hi", 2, &why);
	char *comp = prompt_body(GW_API_COMPLETIONS, "gpt-x", "hi", 2, &why);
	char *nomodel = prompt_body(GW_API_CHAT, NULL, "hi", 2, &why);

	TU_STR(chat, "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
	TU_STR(comp, "{\"model\":\"gpt-x\",\"prompt\":\"hi\"}");
	TU_STR(nomodel, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
	free(chat);
	free(comp);
	free(nomodel);
	RT(GW_API_CHAT, NULL, "no model");
	RT(GW_API_COMPLETIONS, NULL, "no model");
	RT(GW_API_CHAT, "we\"ird\\model\n", "odd model name");
}

static void test_long_prompt(void)
{
	size_t n = 16 * 1024;
	char *p = gw_malloc(n);

	for (size_t i = 0; i < n; i++)
		p[i] = "a\"\\\n\t\x01"[i % 6];
	round_trip(GW_API_CHAT, "m", p, n, __LINE__);
	round_trip(GW_API_COMPLETIONS, "m", p, n, __LINE__);
	free(p);
}

static void check_refused(const char *prompt, size_t len, unsigned line)
{
	for (size_t i = 0; i < 2; i++) {
		const char *why = NULL;
		char *exact = tu_exact(prompt, len);
		char *body = prompt_body(apis[i], "m", exact, len, &why);
		tu_assert_ll(body == NULL, 1, "prompt refused", line, __FILE__, __func__);
		tu_assert_ll(why != NULL && *why != '\0', 1, "why is set", line, __FILE__,
			     __func__);
		free(body);
		free(exact);
	}
}

#define REFUSED(lit) check_refused(lit, sizeof(lit) - 1, __LINE__)

static void test_refused_empty(void)
{
	REFUSED("");
	/* A length of 0 wins over whatever the pointer holds. */
	{
		const char *why = NULL;
		CU_ASSERT_PTR_NULL(prompt_body(GW_API_CHAT, "m", "not empty", 0, &why));
		CU_ASSERT_PTR_NOT_NULL(why);
	}
}

static void test_refused_nul(void)
{
	REFUSED("\0");
	REFUSED("a\0b");
	REFUSED("abc\0");
	REFUSED("\0abc");
}

static void test_refused_utf8(void)
{
	REFUSED("\xc0\x80");                 /* overlong NUL */
	REFUSED("x\xc1\xbf");                /* overlong */
	REFUSED("\xe0\x80\xaf");             /* overlong 3-byte */
	REFUSED("\xf0\x80\x80\xaf");         /* overlong 4-byte */
	REFUSED("\xed\xa0\x80");             /* surrogate */
	REFUSED("\xed\xbf\xbf");             /* surrogate */
	REFUSED("\xf4\x90\x80\x80");         /* > U+10FFFF */
	REFUSED("ok \xc3");                  /* truncated */
	REFUSED("\xe6\x97");                 /* truncated */
	REFUSED("\xf0\x9f\x98");             /* truncated */
	REFUSED("\xe6\x97x");                /* truncated, then ASCII */
	REFUSED("\x80 lone continuation");
	REFUSED("\xff\xfe");
	REFUSED("caf\xe9");                  /* Latin-1 */
}

static void test_refused_why(void)
{
	const char *why = NULL;
	const char *w_empty = NULL, *w_nul = NULL, *w_utf8 = NULL;

	/* The reasons tell the cases apart. */
	CU_ASSERT_PTR_NULL(prompt_body(GW_API_CHAT, NULL, "", 0, &w_empty));
	CU_ASSERT_PTR_NULL(prompt_body(GW_API_CHAT, NULL, "a\0", 2, &w_nul));
	CU_ASSERT_PTR_NULL(prompt_body(GW_API_CHAT, NULL, "\xff", 1, &w_utf8));
	CU_ASSERT(w_empty && w_nul && w_utf8 && strcmp(w_empty, w_nul) != 0 &&
		  strcmp(w_nul, w_utf8) != 0 && strcmp(w_empty, w_utf8) != 0);
	/* A length shorter than the string: only [0, len) is the prompt. */
	{
		char *body = prompt_body(GW_API_COMPLETIONS, NULL, "abc\xff", 3, &why);
		TU_STR(body, "{\"prompt\":\"abc\"}");
		free(body);
	}
}

void suite_prompt(void)
{
	static const struct tu_test tests[] = {
		{ "round trip: quotes, backslashes", test_quotes_backslashes, false },
		{ "round trip: newlines, tabs, control bytes", test_controls, false },
		{ "round trip: non-ASCII", test_non_ascii, false },
		{ "chat vs completions shape, model omitted", test_shapes, false },
		{ "16 KB prompt", test_long_prompt, false },
		{ "refused: empty", test_refused_empty, false },
		{ "refused: NUL byte", test_refused_nul, false },
		{ "refused: each kind of invalid UTF-8", test_refused_utf8, false },
		{ "refused: why tells the cases apart", test_refused_why, false },
	};
	tu_register("prompt", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
