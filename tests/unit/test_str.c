/* test_str.c: lib/str.h (percent-decoding, UTF-8, search, hex, logging). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "str.h"
#include "suites.h"
#include "testutil.h"

/* Decodes text (given as a buffer of exactly its length) and checks the
 * output bytes and the invalid-escape count. */
static void check_decode(const char *in, size_t inlen, bool plus, const char *want, size_t wantlen,
			 size_t want_invalid, unsigned line)
{
	char *exact = tu_exact(in, inlen);
	size_t outlen = 12345, invalid = 0;
	char *out = str_percent_decode(exact, inlen, plus, &outlen, &invalid);

	tu_assert_mem(out, outlen, want, wantlen, "decoded bytes", line, __FILE__, __func__);
	tu_assert_ll((long long)invalid, (long long)want_invalid, "invalid escapes", line, __FILE__,
		     __func__);
	CU_ASSERT_PTR_NOT_NULL(out);
	if (out)
		CU_ASSERT_EQUAL(out[outlen], '\0'); /* always terminated */
	free(out);
	free(exact);
}

#define DECODE(in, plus, want, invalid) \
	check_decode(in, sizeof(in) - 1, plus, want, sizeof(want) - 1, invalid, __LINE__)

static void test_decode_valid(void)
{
	DECODE("", true, "", 0);
	DECODE("plain", true, "plain", 0);
	DECODE("a%41b", false, "aAb", 0);
	DECODE("%4a%4A", false, "JJ", 0);
	DECODE("%e6%97%a5", false, "\xe6\x97\xa5", 0);
	DECODE("%0d%0a", false, "\r\n", 0);
	DECODE("%22%27%5c", false, "\"'\\", 0);
	DECODE("%2B", true, "+", 0); /* an escaped plus stays a plus */
	DECODE("%25zz", false, "%zz", 0);
}

static void test_decode_invalid_escapes(void)
{
	DECODE("%", false, "%", 1);
	DECODE("%z", false, "%z", 1);
	DECODE("%zz", false, "%zz", 1);
	DECODE("%4", false, "%4", 1);
	DECODE("%4z", false, "%4z", 1);
	DECODE("%z4", false, "%z4", 1);
	DECODE("a%", false, "a%", 1);
	DECODE("%%41", false, "%A", 1);
	DECODE("%%%", false, "%%%", 3);
	DECODE("%G0%0G%-1%+1", false, "%G0%0G%-1%+1", 4);
	DECODE("%\n0", false, "%\n0", 1);
}

static void test_decode_stops_at_length(void)
{
	size_t outlen = 0, invalid = 0;
	/* "%41" cut to two bytes: the escape is incomplete, nothing past n is read. */
	char *exact = tu_exact("%41", 2);
	char *out = str_percent_decode(exact, 2, false, &outlen, &invalid);

	TU_MEM(out, outlen, "%4", 2);
	TU_INT(invalid, 1);
	free(out);
	free(exact);

	/* One byte "%": nothing after it. */
	exact = tu_exact("%", 1);
	invalid = 0;
	out = str_percent_decode(exact, 1, true, &outlen, &invalid);
	TU_MEM(out, outlen, "%", 1);
	TU_INT(invalid, 1);
	free(out);
	free(exact);
}

static void test_decode_plus(void)
{
	DECODE("a+b++c", true, "a b  c", 0);
	DECODE("a+b++c", false, "a+b++c", 0);
	DECODE("+%20+", true, "   ", 0);
	DECODE("+%20+", false, "+ +", 0);
}

static void test_decode_nul(void)
{
	size_t outlen = 0;
	char *out;

	DECODE("%00", false, "\0", 0);
	DECODE("a%00b", true, "a\0b", 0);
	DECODE("%00%00", true, "\0\0", 0);

	/* Raw NUL bytes in the input are data, not an end marker. */
	out = str_percent_decode("x\0y%41", 6, false, &outlen, NULL);
	TU_MEM(out, outlen, "x\0yA", 4);
	free(out);
}

static void test_decode_null_outputs(void)
{
	char *out = str_percent_decode("%zz%41", 6, false, NULL, NULL);

	TU_STR(out, "%zzA");
	free(out);
}

static void test_decode_long(void)
{
	size_t n = 16 * 1024, outlen = 0, invalid = 0;
	char *in = gw_malloc(3 * n), *want = gw_malloc(n);
	char *out;

	for (size_t i = 0; i < n; i++) {
		memcpy(in + 3 * i, "%41", 3);
		want[i] = 'A';
	}
	out = str_percent_decode(in, 3 * n, true, &outlen, &invalid);
	TU_MEM(out, outlen, want, n);
	TU_INT(invalid, 0);
	free(out);

	/* 16 KB of lone '%': each one counted. */
	memset(in, '%', n);
	invalid = 0;
	out = str_percent_decode(in, n, true, &outlen, &invalid);
	TU_INT(outlen, n);
	TU_INT(invalid, n);
	CU_ASSERT(out && memcmp(out, in, n) == 0);
	free(out);
	free(in);
	free(want);
}

struct utf8_case {
	const char *s;
	size_t n;
	bool valid;
	const char *what;
};

#define U8(lit, ok, what) { lit, sizeof(lit) - 1, ok, what }

static const struct utf8_case utf8_cases[] = {
	U8("", true, "empty"),
	U8("plain ascii", true, "ascii"),
	U8("a\0b", true, "NUL is a valid code point"),
	U8("\x7f", true, "U+007F"),
	U8("\xc2\x80", true, "U+0080"),
	U8("\xc3\xa9", true, "e acute"),
	U8("\xdf\xbf", true, "U+07FF"),
	U8("\xe0\xa0\x80", true, "U+0800"),
	U8("\xe6\x97\xa5\xe6\x9c\xac", true, "CJK"),
	U8("\xed\x9f\xbf", true, "U+D7FF"),
	U8("\xee\x80\x80", true, "U+E000"),
	U8("\xef\xbf\xbf", true, "U+FFFF"),
	U8("\xf0\x90\x80\x80", true, "U+10000"),
	U8("\xf0\x9f\x98\x80", true, "emoji"),
	U8("\xf4\x8f\xbf\xbf", true, "U+10FFFF"),
	U8("\xc0\x80", false, "overlong NUL"),
	U8("\xc0\xaf", false, "overlong slash"),
	U8("\xc1\xbf", false, "overlong 2-byte"),
	U8("\xe0\x80\x80", false, "overlong 3-byte NUL"),
	U8("\xe0\x9f\xbf", false, "overlong 3-byte"),
	U8("\xf0\x80\x80\x80", false, "overlong 4-byte NUL"),
	U8("\xf0\x8f\xbf\xbf", false, "overlong 4-byte"),
	U8("\xed\xa0\x80", false, "surrogate D800"),
	U8("\xed\xbf\xbf", false, "surrogate DFFF"),
	U8("\xed\xa0\xbd\xed\xb8\x80", false, "surrogate pair (CESU-8)"),
	U8("\xf4\x90\x80\x80", false, "U+110000"),
	U8("\xf5\x80\x80\x80", false, "lead F5"),
	U8("\xf7\xbf\xbf\xbf", false, "lead F7"),
	U8("\xf8\x88\x80\x80\x80", false, "5-byte form"),
	U8("\xfc\x84\x80\x80\x80\x80", false, "6-byte form"),
	U8("\xfe", false, "FE"),
	U8("\xff", false, "FF"),
	U8("\x80", false, "lone continuation"),
	U8("a\xbf", false, "continuation after ascii"),
	U8("\xc3", false, "truncated 2-byte"),
	U8("\xe6\x97", false, "truncated 3-byte"),
	U8("\xe6", false, "truncated 3-byte, lead only"),
	U8("\xf0\x9f\x98", false, "truncated 4-byte"),
	U8("abc\xc3", false, "truncated at end"),
	U8("\xc3" "a", false, "ascii instead of continuation"),
	U8("\xe6\x97" "a", false, "ascii as third byte"),
	U8("\xf0\x9f\x98" "a", false, "ascii as fourth byte"),
	U8("\xc3\xc3\xa9", false, "lead instead of continuation"),
	U8("\xc3\xa9\x80", false, "extra continuation"),
};

static void test_utf8_table(void)
{
	for (size_t i = 0; i < GW_ARRAY_LEN(utf8_cases); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		char *exact = tu_exact(c->s, c->n);
		bool got = str_utf8_valid(exact, c->n);
		if (got != c->valid)
			fprintf(stderr, "\n    utf8 case \"%s\": got %d\n", c->what, got);
		CU_ASSERT_EQUAL(got, c->valid);
		free(exact);
	}
}

static void test_utf8_length_bounds(void)
{
	/* The length decides, not a terminator: a valid sequence cut short is invalid. */
	CU_ASSERT_TRUE(str_utf8_valid("\xc3\xa9", 2));
	CU_ASSERT_FALSE(str_utf8_valid("\xc3\xa9", 1));
	CU_ASSERT_TRUE(str_utf8_valid("\xf0\x9f\x98\x80", 4));
	CU_ASSERT_FALSE(str_utf8_valid("\xf0\x9f\x98\x80", 3));
	CU_ASSERT_TRUE(str_utf8_valid("\xff", 0));
}

static void test_contains(void)
{
	const char *hay = "GET /v1/PassWord?x=1";
	size_t n = strlen(hay);

	CU_ASSERT_TRUE(str_contains(hay, n, "PassWord", 8, true));
	CU_ASSERT_FALSE(str_contains(hay, n, "password", 8, true));
	CU_ASSERT_TRUE(str_contains(hay, n, "password", 8, false));
	CU_ASSERT_TRUE(str_contains(hay, n, "PASSWORD", 8, false));
	CU_ASSERT_TRUE(str_contains(hay, n, "x=1", 3, true)); /* at the very end */
	CU_ASSERT_TRUE(str_contains(hay, n, "X=1", 3, false));
	CU_ASSERT_TRUE(str_contains(hay, n, "GET", 3, true)); /* at the start */
	CU_ASSERT_TRUE(str_contains(hay, n, hay, n, true));  /* the whole text */
	CU_ASSERT_FALSE(str_contains(hay, n, "x=12", 4, true)); /* runs past the end */
	CU_ASSERT_FALSE(str_contains(hay, n, "x=12", 4, false));
	CU_ASSERT_FALSE(str_contains("abc", 3, "abcd", 4, true)); /* needle longer */
	CU_ASSERT_FALSE(str_contains("abc", 3, "abcd", 4, false));
	CU_ASSERT_FALSE(str_contains("", 0, "a", 1, false));
	CU_ASSERT_FALSE(str_contains("ab", 1, "b", 1, true)); /* only hay[0..1) counts */
	CU_ASSERT_FALSE(str_contains("ab", 1, "b", 1, false));
}

static void test_contains_empty_needle(void)
{
	CU_ASSERT_FALSE(str_contains("abc", 3, "", 0, true));
	CU_ASSERT_FALSE(str_contains("abc", 3, "", 0, false));
	CU_ASSERT_FALSE(str_contains("", 0, "", 0, true));
	CU_ASSERT_FALSE(str_contains("", 0, "", 0, false));
}

static void test_contains_binary(void)
{
	char *hay = tu_exact("a\0pass\0word\0PASSWORD", 20);

	CU_ASSERT_TRUE(str_contains(hay, 20, "pass", 4, true));
	CU_ASSERT_FALSE(str_contains(hay, 20, "password", 8, true));
	CU_ASSERT_TRUE(str_contains(hay, 20, "password", 8, false)); /* the tail */
	CU_ASSERT_TRUE(str_contains(hay, 20, "s\0w", 3, true));
	CU_ASSERT_TRUE(str_contains(hay, 20, "D", 1, true)); /* last byte */
	CU_ASSERT_FALSE(str_contains(hay, 19, "D", 1, true));
	/* Case folding is ASCII only. */
	CU_ASSERT_FALSE(str_contains("\xc3\x89", 2, "\xc3\xa9", 2, false));
	CU_ASSERT_FALSE(str_contains("[", 1, "{", 1, false));
	CU_ASSERT_FALSE(str_contains("@", 1, "`", 1, false));
	free(hay);
}

static void test_hex_round_trip(void)
{
	unsigned char all[256], back[256];
	char hex[2 * 256 + 1];

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	str_hex_encode(all, 256, hex);
	TU_INT(strlen(hex), 512);
	CU_ASSERT_EQUAL(strncmp(hex, "000102030405060708090a0b0c0d0e0f", 32), 0);
	CU_ASSERT_EQUAL(strcmp(hex + 480, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"), 0);
	memset(back, 0xaa, sizeof(back));
	CU_ASSERT_EQUAL(str_hex_decode(hex, back, 256), 0);
	CU_ASSERT_EQUAL(memcmp(all, back, 256), 0);

	/* Upper case decodes too. */
	CU_ASSERT_EQUAL(str_hex_decode("ABCDEF", back, 3), 0);
	CU_ASSERT(back[0] == 0xab && back[1] == 0xcd && back[2] == 0xef);

	/* Zero bytes. */
	hex[0] = 'x';
	str_hex_encode(all, 0, hex);
	TU_STR(hex, "");
	CU_ASSERT_EQUAL(str_hex_decode("", back, 0), 0);
}

static void test_hex_bad_digits(void)
{
	unsigned char out[4];
	static const char *const bad[] = { "zz", "0g", "g0", " 0", "0 ", "-1", "+1", "0x",
					   "\xff" "0", "0\xc3" };

	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		if (str_hex_decode(bad[i], out, 1) != -1)
			fprintf(stderr, "\n    hex \"%s\" was accepted\n", bad[i]);
		CU_ASSERT_EQUAL(str_hex_decode(bad[i], out, 1), -1);
	}
	/* A bad digit late in the text. */
	CU_ASSERT_EQUAL(str_hex_decode("0011223z", out, 4), -1);
	/* A short string: the NUL is not a hex digit. */
	CU_ASSERT_EQUAL(str_hex_decode("001", out, 2), -1);
}

static void test_ieq(void)
{
	CU_ASSERT_TRUE(str_ieq("Content-Type", "content-type"));
	CU_ASSERT_TRUE(str_ieq("ABC", "abc"));
	CU_ASSERT_TRUE(str_ieq("", ""));
	CU_ASSERT_FALSE(str_ieq("abc", "abcd"));
	CU_ASSERT_FALSE(str_ieq("abcd", "abc"));
	CU_ASSERT_FALSE(str_ieq("abc", "abd"));
	CU_ASSERT_FALSE(str_ieq("a", ""));
	CU_ASSERT_FALSE(str_ieq("", "a"));
	CU_ASSERT_FALSE(str_ieq("[", "{")); /* only letters fold */
	CU_ASSERT_FALSE(str_ieq("\xc3\x89", "\xc3\xa9"));
}

static void test_sanitize(void)
{
	char *out = str_sanitize_for_log("a\nb\r\t\x01\x7f\xff\"\\ z", 12, 100);

	TU_STR(out, "a?b?????\"\\ z");
	free(out);

	/* Embedded NUL is replaced, not an end. */
	out = str_sanitize_for_log("x\0y", 3, 100);
	TU_STR(out, "x?y");
	free(out);

	/* Cut with "...". */
	out = str_sanitize_for_log("abcdef", 6, 3);
	TU_STR(out, "abc...");
	free(out);

	/* Exactly max bytes: no cut marker. */
	out = str_sanitize_for_log("abc", 3, 3);
	TU_STR(out, "abc");
	free(out);

	out = str_sanitize_for_log("", 0, 10);
	TU_STR(out, "");
	free(out);

	out = str_sanitize_for_log("abc", 3, 0);
	TU_STR(out, "...");
	free(out);
}

static void test_sanitize_long_line(void)
{
	size_t n = 100000;
	char *in = gw_malloc(n), *out;

	for (size_t i = 0; i < n; i++)
		in[i] = (char)(i % 256);
	out = str_sanitize_for_log(in, n, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	TU_INT(strlen(out), 203);
	CU_ASSERT_EQUAL(strcmp(out + 200, "..."), 0);
	for (size_t i = 0; i < 200; i++)
		CU_ASSERT(out[i] >= 0x20 && out[i] < 0x7f);
	CU_ASSERT_EQUAL(out[0], '?');
	CU_ASSERT_EQUAL(out[0x41], 'A');
	free(out);
	free(in);
}

/* str_ll: the digits of any long long, as %lld prints them. */
static void test_ll(void)
{
	static const long long v[] = { 0, 1, -1, 9, 10, 1234567890123LL, LLONG_MAX, LLONG_MIN };
	char out[24], want[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(want, sizeof(want), "%lld", v[i]);
		TU_STR(str_ll(v[i], out), want);
	}
}

void suite_str(void)
{
	static const struct tu_test tests[] = {
		{ "percent decode: valid escapes", test_decode_valid, false },
		{ "str_ll: every long long as %lld prints it", test_ll, false },
		{ "percent decode: invalid escapes kept and counted", test_decode_invalid_escapes, false },
		{ "percent decode: never reads past n", test_decode_stops_at_length, false },
		{ "percent decode: plus as space on/off", test_decode_plus, false },
		{ "percent decode: NUL bytes and output length", test_decode_nul, false },
		{ "percent decode: NULL outlen and invalid", test_decode_null_outputs, false },
		{ "percent decode: 16 KB input", test_decode_long, false },
		{ "utf8: validation table", test_utf8_table, false },
		{ "utf8: length bounds", test_utf8_length_bounds, false },
		{ "contains: case, start, end, longer needle", test_contains, false },
		{ "contains: empty needle never matches", test_contains_empty_needle, false },
		{ "contains: NUL bytes and ASCII-only folding", test_contains_binary, false },
		{ "hex: encode/decode round trip", test_hex_round_trip, false },
		{ "hex: bad digits refused", test_hex_bad_digits, false },
		{ "ieq", test_ieq, false },
		{ "sanitize_for_log: control bytes and cut", test_sanitize, false },
		{ "sanitize_for_log: very long binary line", test_sanitize_long_line, false },
	};
	tu_register("str", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
