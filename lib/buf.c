/* buf.c: growable byte buffer. */
#include "buf.h"
#include "gw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_append(struct gw_buf *b, const void *p, size_t n)
{
	if (b->limit && (n > b->limit || b->len > b->limit - n))
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = gw_realloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_int(struct gw_buf *b, long long v)
{
	char digits[24], *p = digits + sizeof(digits);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return buf_append(b, p, (size_t)(digits + sizeof(digits) - p));
}

int buf_json_string(struct gw_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s, *end = s + n;
	int rc = buf_append(b, "\"", 1);

	for (; s < end && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		rc |= buf_append(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			rc |= buf_append(b, esc, 2);
		} else {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			rc |= buf_append(b, esc, 6);
		}
		run = s + 1;
	}
	if (rc == 0)
		rc = buf_append(b, run, (size_t)(end - run));
	return rc == 0 ? buf_append(b, "\"", 1) : -1;
}

int buf_puts(struct gw_buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_printf(struct gw_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	char *big = gw_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = buf_append(b, big, (size_t)n);
	free(big);
	return rc;
}

void buf_reset(struct gw_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct gw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

const char *buf_str(const struct gw_buf *b)
{
	return b->data ? b->data : "";
}
