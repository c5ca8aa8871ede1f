/* fuzz_query.c: libFuzzer target for the urlencoded decoder: query_get()
 * (cgi/query.c) with several parameter names, and str_percent_decode() and
 * str_utf8_valid() (lib/str.c) on the raw input. Besides the sanitizers it
 * checks the contracts: decoded strings are NUL-terminated and never longer
 * than their input, invalid escapes are counted, and str_utf8_valid agrees
 * with an independent validator built from the Unicode table of well-formed
 * byte sequences. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
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

/* Well-formed UTF-8 as in The Unicode Standard, table 3-7. */
static int ref_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t need;

		if (c <= 0x7f) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return 0;
		}
		if (n - i <= need)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return 0;
		i += need + 1;
	}
	return 1;
}

static void check_decode(const char *s, size_t n, bool plus)
{
	size_t outlen = (size_t)-1, invalid = 0, percents = 0;
	char *out = str_percent_decode(s, n, plus, &outlen, &invalid);

	for (size_t i = 0; i < n; i++)
		percents += s[i] == '%';
	CHECK(out != NULL);
	CHECK(outlen <= n);
	CHECK(out[outlen] == '\0');
	CHECK(invalid <= percents);
	/* Only escapes shorten the text: three bytes become one. */
	CHECK(n - outlen == 2 * (percents - invalid));
	if (invalid == 0 && !memchr(s, '%', n) && !(plus && memchr(s, '+', n)))
		CHECK(outlen == n && memcmp(out, s, n) == 0);
	(void)str_utf8_valid(out, outlen);
	free(out);

	/* NULL out-parameters are allowed. */
	free(str_percent_decode(s, n, plus, NULL, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"prompt", "text", "apikey", "a", "", "a b", "\xc3\xa9", "key=", "&",
	};
	const char *s = (const char *)data;

	CHECK(str_utf8_valid(s, size) == (ref_utf8_valid(data, size) != 0));

	check_decode(s, size, true);
	check_decode(s, size, false);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *value = (char *)1;
		size_t vlen = (size_t)-1;
		enum query_result r = query_get(s, size, names[i], &value, &vlen);

		switch (r) {
		case QUERY_FOUND:
			CHECK(value != NULL);
			CHECK(vlen < size);
			CHECK(value[vlen] == '\0');
			free(value);
			break;
		case QUERY_MISSING:
		case QUERY_TOO_MANY:
			CHECK(value == NULL && vlen == 0);
			break;
		default:
			CHECK(!"query_get returned an unknown result");
		}
	}
	return 0;
}
