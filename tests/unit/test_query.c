/* test_query.c: cgi/query.h (urlencoded parameter lookup). */
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "query.h"
#include "suites.h"
#include "testutil.h"

/* Looks name up in qs[0..len) held in an exact-size buffer (no terminator). */
static enum query_result get(const char *qs, size_t len, const char *name, char **value,
			     size_t *vlen)
{
	char *exact = tu_exact(qs, len);
	enum query_result r = query_get(exact, len, name, value, vlen);

	free(exact);
	return r;
}

static void check_found(const char *qs, size_t len, const char *name, const char *want,
			size_t wantlen, unsigned line)
{
	char *v = NULL;
	size_t vlen = 9999;
	enum query_result r = get(qs, len, name, &v, &vlen);

	tu_assert_ll(r, QUERY_FOUND, "query_get found", line, __FILE__, __func__);
	tu_assert_mem(v, vlen, want, wantlen, "query_get value", line, __FILE__, __func__);
	if (v)
		tu_assert_ll(v[vlen], 0, "value terminated", line, __FILE__, __func__);
	free(v);
}

static void check_missing(const char *qs, size_t len, const char *name, unsigned line)
{
	char *v = (char *)"stale";
	size_t vlen = 9999;
	enum query_result r = get(qs, len, name, &v, &vlen);

	tu_assert_ll(r, QUERY_MISSING, "query_get missing", line, __FILE__, __func__);
	tu_assert_ll(v == NULL, 1, "value NULL", line, __FILE__, __func__);
	tu_assert_ll((long long)vlen, 0, "vlen 0", line, __FILE__, __func__);
	if (r == QUERY_FOUND)
		free(v);
}

#define FOUND(qs, name, want) \
	check_found(qs, sizeof(qs) - 1, name, want, sizeof(want) - 1, __LINE__)
#define MISSING(qs, name) check_missing(qs, sizeof(qs) - 1, name, __LINE__)

static void test_basic(void)
{
	FOUND("text=hello", "text", "hello");
	FOUND("a=1&text=hello&b=2", "text", "hello");
	FOUND("a=1&b=2&text=last", "text", "last");
	FOUND("text=a=b=c", "text", "a=b=c");
	FOUND("a=1", "a", "1");
}

static void test_first_match_wins(void)
{
	FOUND("text=first&text=second", "text", "first");
	FOUND("x=0&text=&text=second", "text", "");
	FOUND("te%78t=encoded&text=plain", "text", "encoded");
}

static void test_name_decoded(void)
{
	FOUND("te%78t=1", "text", "1");
	FOUND("%74%65%78%74=2", "text", "2");
	FOUND("my+name=3", "my name", "3");
	FOUND("my%20name=4", "my name", "4");
	MISSING("texts=1&tex=2&Text=3&TEXT=4&%74ext%00=5&+text=6", "text");
	MISSING("text%3D1", "text"); /* an encoded '=' is part of the name */
	FOUND("text%3D1=x", "text=1", "x");
}

static void test_value_decoding(void)
{
	FOUND("text=a+b%2Bc", "text", "a b+c");
	FOUND("text=%22quoted%22+%5C+back", "text", "\"quoted\" \\ back");
	FOUND("text=line1%0d%0aline2", "text", "line1\r\nline2");
	FOUND("text=%e6%97%a5%e6%9c%ac", "text", "\xe6\x97\xa5\xe6\x9c\xac");
	FOUND("text=%C0%80%ED%A0%80%F4%90%80%80", "text", "\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80");
	FOUND("text=%26amp%3D", "text", "&amp=");
}

static void test_invalid_escapes(void)
{
	FOUND("text=%", "text", "%");
	FOUND("text=%z", "text", "%z");
	FOUND("text=%zz", "text", "%zz");
	FOUND("text=100%", "text", "100%");
	FOUND("text=%%41", "text", "%A");
	FOUND("text=%4&b=1", "text", "%4");
}

static void test_missing_value(void)
{
	FOUND("text", "text", "");
	FOUND("text=", "text", "");
	FOUND("a=1&text&b=2", "text", "");
	FOUND("a=1&text=&b=2", "text", "");
	FOUND("text&text=later", "text", "");
}

static void test_missing_parameter(void)
{
	MISSING("", "text");
	MISSING("&&&", "text");
	MISSING("=", "text");
	MISSING("=text", "text");
	MISSING("a=text", "text");
	MISSING("a=1&b=2", "text");
	MISSING("a=1&text", "tex");
}

static void test_nul_in_value(void)
{
	FOUND("text=a%00b", "text", "a\0b");
	FOUND("text=%00", "text", "\0");
	FOUND("text=%00%00x", "text", "\0\0x");
	/* A raw NUL byte inside the query is data too. */
	check_found("a=\0&text=x\0y", 12, "text", "x\0y", 3, __LINE__);
}

static void test_length_bound(void)
{
	/* Only qs[0..len) is read: the rest of the buffer is ignored. */
	check_found("text=abc&zzz", 8, "text", "abc", 3, __LINE__);
	check_found("text=abc%41", 10, "text", "abc%4", 5, __LINE__);
	check_missing("a=1&text=2", 4, "text", __LINE__);
	check_missing("text=1", 0, "text", __LINE__);
}

static char *repeat_params(size_t n, const char *tail)
{
	size_t tl = strlen(tail);
	char *s = gw_malloc(n * 4 + tl + 1), *p = s;

	for (size_t i = 0; i < n; i++) {
		memcpy(p, "a=1&", 4);
		p += 4;
	}
	memcpy(p, tail, tl + 1);
	return s;
}

static void test_too_many(void)
{
	char *v = NULL;
	size_t vlen = 0;
	char *qs;

	/* Exactly QUERY_MAX_PARAMS parameters: fine. */
	qs = repeat_params(QUERY_MAX_PARAMS - 1, "text=ok");
	CU_ASSERT_EQUAL(get(qs, strlen(qs), "text", &v, &vlen), QUERY_FOUND);
	TU_STR(v, "ok");
	free(v);
	free(qs);

	/* One more: refused, found or not. */
	qs = repeat_params(QUERY_MAX_PARAMS, "text=ok");
	v = NULL;
	CU_ASSERT_EQUAL(get(qs, strlen(qs), "text", &v, &vlen), QUERY_TOO_MANY);
	CU_ASSERT_PTR_NULL(v);
	free(qs);

	/* The wanted one first, the flood after it. */
	{
		char *flood = repeat_params(QUERY_MAX_PARAMS + 10, "");
		qs = gw_asprintf("text=early&%s", flood);
		v = NULL;
		CU_ASSERT_EQUAL(get(qs, strlen(qs), "text", &v, &vlen), QUERY_TOO_MANY);
		CU_ASSERT_PTR_NULL(v);
		free(qs);
		free(flood);
	}

	/* Empty items between '&' are not parameters. */
	{
		size_t n = 4 * QUERY_MAX_PARAMS;
		char *amps = gw_malloc(n + 8);
		memset(amps, '&', n);
		memcpy(amps + n, "text=x", 7);
		CU_ASSERT_EQUAL(get(amps, strlen(amps), "text", &v, &vlen), QUERY_FOUND);
		TU_STR(v, "x");
		free(v);
		free(amps);
	}

	/* A 10,000-parameter flood. */
	qs = repeat_params(10000, "");
	CU_ASSERT_EQUAL(get(qs, strlen(qs), "text", &v, &vlen), QUERY_TOO_MANY);
	free(qs);
}

static void test_long_value(void)
{
	size_t n = 16 * 1024;
	char *qs = gw_malloc(5 + 3 * n), *want = gw_malloc(n);
	char *v = NULL;
	size_t vlen = 0;

	/* 16 KB plain. */
	memcpy(qs, "text=", 5);
	memset(qs + 5, 'x', n);
	memset(want, 'x', n);
	CU_ASSERT_EQUAL(get(qs, 5 + n, "text", &v, &vlen), QUERY_FOUND);
	TU_MEM(v, vlen, want, n);
	free(v);

	/* 16 KB of %0a. */
	for (size_t i = 0; i < n; i++)
		memcpy(qs + 5 + 3 * i, "%0a", 3);
	memset(want, '\n', n);
	CU_ASSERT_EQUAL(get(qs, 5 + 3 * n, "text", &v, &vlen), QUERY_FOUND);
	TU_MEM(v, vlen, want, n);
	free(v);

	/* A 16 KB name that is not the one asked for. */
	memset(qs, 'n', 3 * n);
	memcpy(qs + 3 * n, "=1", 2);
	CU_ASSERT_EQUAL(get(qs, 3 * n + 2, "text", &v, &vlen), QUERY_MISSING);
	free(qs);
	free(want);
}

void suite_query(void)
{
	static const struct tu_test tests[] = {
		{ "basic lookups", test_basic, false },
		{ "first match wins", test_first_match_wins, false },
		{ "names decoded before comparing", test_name_decoded, false },
		{ "values decoded, '+' is a space", test_value_decoding, false },
		{ "invalid escapes kept", test_invalid_escapes, false },
		{ "missing value gives \"\"", test_missing_value, false },
		{ "missing parameter", test_missing_parameter, false },
		{ "%00 in values: length counts the NUL", test_nul_in_value, false },
		{ "reads only len bytes", test_length_bound, false },
		{ "more than QUERY_MAX_PARAMS: QUERY_TOO_MANY", test_too_many, false },
		{ "16 KB values and names", test_long_value, false },
	};
	tu_register("query", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
