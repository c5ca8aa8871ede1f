/* test_buf.c: lib/buf.h (growable buffer with a cap). */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "gw.h"
#include "suites.h"
#include "testutil.h"

static void test_empty(void)
{
	struct gw_buf b = { 0 };

	TU_STR(buf_str(&b), "");
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(buf_append(&b, "", 0), 0);
	TU_STR(buf_str(&b), "");
	CU_ASSERT_EQUAL(b.len, 0);
	buf_free(&b);
	CU_ASSERT_PTR_NULL(b.data);
}

static void test_append_grow(void)
{
	struct gw_buf b = { 0 };
	char *want = gw_malloc(100000);

	CU_ASSERT_EQUAL(buf_append(&b, "abc", 3), 0);
	CU_ASSERT_EQUAL(b.len, 3);
	TU_STR(buf_str(&b), "abc");
	CU_ASSERT(b.cap >= 4);
	CU_ASSERT_EQUAL(buf_puts(&b, "def"), 0);
	TU_STR(buf_str(&b), "abcdef");

	buf_reset(&b);
	for (size_t i = 0; i < 100000; i++) {
		char c = (char)('a' + i % 26);
		want[i] = c;
		if (buf_append(&b, &c, 1) != 0) {
			CU_FAIL("append refused without a limit");
			break;
		}
	}
	TU_MEM(b.data, b.len, want, 100000);
	CU_ASSERT(b.cap > b.len);
	CU_ASSERT_EQUAL(b.data[b.len], '\0');

	/* One large append onto a non-empty buffer. */
	CU_ASSERT_EQUAL(buf_append(&b, want, 100000), 0);
	CU_ASSERT_EQUAL(b.len, 200000);
	CU_ASSERT_EQUAL(memcmp(b.data + 100000, want, 100000), 0);
	CU_ASSERT_EQUAL(b.data[b.len], '\0');
	buf_free(&b);
	free(want);
}

static void test_binary(void)
{
	struct gw_buf b = { 0 };

	CU_ASSERT_EQUAL(buf_append(&b, "a\0b\n\"\\", 6), 0);
	TU_MEM(b.data, b.len, "a\0b\n\"\\", 6);
	CU_ASSERT_EQUAL(b.data[6], '\0');
	buf_free(&b);
}

static void test_limit(void)
{
	struct gw_buf b = { 0 };

	b.limit = 10;
	CU_ASSERT_EQUAL(buf_append(&b, "12345678", 8), 0);
	CU_ASSERT_EQUAL(buf_append(&b, "abc", 3), -1);
	TU_MEM(b.data, b.len, "12345678", 8); /* unchanged */
	TU_STR(buf_str(&b), "12345678");
	CU_ASSERT_EQUAL(buf_puts(&b, "xyz"), -1);
	CU_ASSERT_EQUAL(buf_printf(&b, "%d", 123), -1);
	TU_STR(buf_str(&b), "12345678");
	CU_ASSERT_EQUAL(buf_append(&b, "90", 2), 0); /* exactly the limit */
	TU_STR(buf_str(&b), "1234567890");
	CU_ASSERT_EQUAL(buf_append(&b, "!", 1), -1);
	CU_ASSERT_EQUAL(buf_append(&b, "", 0), 0);
	CU_ASSERT_EQUAL(b.len, 10);
	/* A length that would wrap around is refused, not wrapped. */
	CU_ASSERT_EQUAL(buf_append(&b, "x", SIZE_MAX), -1);
	CU_ASSERT_EQUAL(buf_append(&b, "x", SIZE_MAX - 5), -1);
	TU_STR(buf_str(&b), "1234567890");
	buf_free(&b);

	/* Refused on an empty buffer: stays empty. */
	b.limit = 4;
	CU_ASSERT_EQUAL(buf_append(&b, "12345", 5), -1);
	CU_ASSERT_EQUAL(b.len, 0);
	TU_STR(buf_str(&b), "");
	buf_free(&b);
}

static void test_printf(void)
{
	struct gw_buf b = { 0 };
	char big[1001];

	CU_ASSERT_EQUAL(buf_printf(&b, "%s=%d;", "n", 42), 0);
	TU_STR(buf_str(&b), "n=42;");

	memset(big, 'x', 1000);
	big[1000] = '\0';
	CU_ASSERT_EQUAL(buf_printf(&b, "[%s]", big), 0);
	CU_ASSERT_EQUAL(b.len, 5 + 1002);
	CU_ASSERT_EQUAL(strncmp(b.data, "n=42;[xxxx", 10), 0);
	CU_ASSERT_EQUAL(b.data[b.len - 1], ']');
	CU_ASSERT_EQUAL(strlen(b.data), b.len);

	/* Around the 256-byte boundary of the first formatting attempt. */
	for (size_t n = 250; n <= 260; n++) {
		buf_reset(&b);
		big[n] = '\0';
		CU_ASSERT_EQUAL(buf_printf(&b, "%s", big), 0);
		CU_ASSERT_EQUAL(b.len, n);
		CU_ASSERT_EQUAL(memcmp(b.data, big, n), 0);
		big[n] = 'x';
	}
	buf_free(&b);
}

static void test_printf_limit(void)
{
	struct gw_buf b = { 0 };
	char big[600];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	b.limit = 500;
	CU_ASSERT_EQUAL(buf_puts(&b, "head"), 0);
	CU_ASSERT_EQUAL(buf_printf(&b, "%s", big), -1); /* long path refused */
	TU_STR(buf_str(&b), "head");
	CU_ASSERT_EQUAL(buf_printf(&b, "%.496s", big), 0);
	CU_ASSERT_EQUAL(b.len, 500);
	buf_free(&b);
}

static void test_reset(void)
{
	struct gw_buf b = { 0 };
	size_t cap;
	char *data;

	CU_ASSERT_EQUAL(buf_puts(&b, "some text"), 0);
	cap = b.cap;
	data = b.data;
	buf_reset(&b);
	CU_ASSERT_EQUAL(b.len, 0);
	TU_STR(buf_str(&b), "");
	CU_ASSERT_EQUAL(b.cap, cap);       /* memory kept */
	CU_ASSERT_PTR_EQUAL(b.data, data);
	CU_ASSERT_EQUAL(buf_puts(&b, "new"), 0);
	TU_STR(buf_str(&b), "new");
	buf_free(&b);

	/* Reset of a never-used buffer. */
	buf_reset(&b);
	TU_STR(buf_str(&b), "");
}

static void test_free_reuse(void)
{
	struct gw_buf b = { 0 };

	CU_ASSERT_EQUAL(buf_puts(&b, "abc"), 0);
	buf_free(&b);
	CU_ASSERT_PTR_NULL(b.data);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(b.cap, 0);
	TU_STR(buf_str(&b), "");
	CU_ASSERT_EQUAL(buf_puts(&b, "again"), 0);
	TU_STR(buf_str(&b), "again");
	buf_free(&b);
	buf_free(&b); /* twice is harmless */
	CU_ASSERT_PTR_NULL(b.data);
}

static void json_is(const char *in, size_t n, const char *want, unsigned line)
{
	struct gw_buf b = { 0 };
	char *exact = tu_exact(in, n); /* a read past n is caught */

	CU_ASSERT_EQUAL(buf_json_string(&b, exact, n), 0);
	tu_assert_str(buf_str(&b), want, "buf_json_string", line, __FILE__, "json_is");
	buf_free(&b);
	free(exact);
}

#define JSON_IS(in, want) json_is(in, sizeof(in) - 1, want, __LINE__)

static void test_json_string(void)
{
	JSON_IS("", "\"\"");
	JSON_IS("plain", "\"plain\"");
	JSON_IS("a\"b\\c", "\"a\\\"b\\\\c\"");
	JSON_IS("\n\r\t", "\"\\u000a\\u000d\\u0009\"");
	JSON_IS("a\0b", "\"a\\u0000b\"");
	JSON_IS("\x01\x1f\x20", "\"\\u0001\\u001f \"");
	JSON_IS("del\x7f", "\"del\\u007f\"");
	JSON_IS("\xc3\xa9\xe2\x82\xac", "\"\xc3\xa9\xe2\x82\xac\""); /* UTF-8 kept */
	JSON_IS("</script>", "\"</script>\"");
}

static void test_json_string_limit(void)
{
	struct gw_buf b = { .limit = 8 };

	CU_ASSERT_EQUAL(buf_json_string(&b, "abcdef", 6), 0); /* 8 bytes with the quotes */
	buf_reset(&b);
	CU_ASSERT_EQUAL(buf_json_string(&b, "abcdefg", 7), -1);
	buf_reset(&b);
	CU_ASSERT_EQUAL(buf_json_string(&b, "\x01", 1), 0);
	buf_reset(&b);
	CU_ASSERT_EQUAL(buf_json_string(&b, "\x01\x02", 2), -1);
	buf_free(&b);
}

/* buf_int appends what %lld would, and respects the limit. */
static void test_int_digits(void)
{
	struct gw_buf b = { 0 };

	buf_int(&b, 0);
	buf_int(&b, -42);
	buf_int(&b, LLONG_MIN);
	buf_int(&b, LLONG_MAX);
	TU_STR(buf_str(&b), "0-42-92233720368547758089223372036854775807");
	buf_free(&b);
	b.limit = 3;
	CU_ASSERT_EQUAL(buf_int(&b, 123), 0);
	CU_ASSERT_EQUAL(buf_int(&b, 4), -1);
	TU_STR(buf_str(&b), "123");
	buf_free(&b);
}

void suite_buf(void)
{
	static const struct tu_test tests[] = {
		{ "empty buffer", test_empty, false },
		{ "buf_int: digits as %lld, within the limit", test_int_digits, false },
		{ "json_string: quotes, backslash, controls, 0x7f, UTF-8", test_json_string, false },
		{ "json_string: the limit holds", test_json_string_limit, false },
		{ "append and grow to 200 KB", test_append_grow, false },
		{ "binary contents", test_binary, false },
		{ "limit refusal leaves contents unchanged", test_limit, false },
		{ "printf short and long (> 256 bytes)", test_printf, false },
		{ "printf past the limit", test_printf_limit, false },
		{ "reset keeps memory", test_reset, false },
		{ "free, reuse, free twice", test_free_reuse, false },
	};
	tu_register("buf", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
