/* str.c: byte-string helpers (percent-decoding, UTF-8, search, constant time). */
#include "str.h"
#include "gw.h"

#include <string.h>

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *str_percent_decode(const char *s, size_t n, bool plus_is_space, size_t *outlen,
			 size_t *invalid)
{
	char *out = gw_malloc(n + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
			if (hi >= 0 && lo >= 0) {
				out[o++] = (char)(hi << 4 | lo);
				i += 2;
				continue;
			}
			if (invalid)
				(*invalid)++;
			out[o++] = '%';
		} else if (c == '+' && plus_is_space) {
			out[o++] = ' ';
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

bool str_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t need;
		unsigned int cp, min;

		if (c < 0x80) {
			uint64_t w;
			i++;
			/* ASCII runs eight bytes at a time */
			while (n - i >= 8 && (memcpy(&w, s + i, 8), (w & 0x8080808080808080ull) == 0))
				i += 8;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool str_contains(const char *hay, size_t haylen, const char *needle, size_t nlen,
		  bool case_sensitive)
{
	if (nlen == 0 || nlen > haylen)
		return false;
	if (case_sensitive)
		return memmem(hay, haylen, needle, nlen) != NULL;
	unsigned char first = lower((unsigned char)needle[0]);
	for (size_t i = 0; i + nlen <= haylen; i++) {
		if (lower((unsigned char)hay[i]) != first)
			continue;
		size_t k = 1;
		while (k < nlen && lower((unsigned char)hay[i + k]) == lower((unsigned char)needle[k]))
			k++;
		if (k == nlen)
			return true;
	}
	return false;
}

int str_hex_decode(const char *hex, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval((unsigned char)hex[2 * i]);
		int lo = hi < 0 ? -1 : hexval((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void str_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

bool str_ieq(const char *a, const char *b)
{
	while (*a && lower((unsigned char)*a) == lower((unsigned char)*b))
		a++, b++;
	return lower((unsigned char)*a) == lower((unsigned char)*b);
}

char *str_sanitize_for_log(const char *s, size_t n, size_t max)
{
	size_t take = n > max ? max : n;
	char *out = gw_malloc(take + 4);
	for (size_t i = 0; i < take; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (take < n)
		memcpy(out + take, "...", 4);
	else
		out[take] = '\0';
	return out;
}

char *str_ll(long long v, char out[24])
{
	char digits[24], *p = digits + sizeof(digits);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	*--p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	memcpy(out, p, (size_t)(digits + sizeof(digits) - p));
	return out;
}

uint64_t str_fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}
