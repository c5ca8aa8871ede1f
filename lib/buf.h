/* buf.h: a growable byte buffer, always NUL-terminated, with an optional cap. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stddef.h>

struct gw_buf {
	char *data;   /* owned; NUL-terminated; NULL until first append */
	size_t len;
	size_t cap;   /* allocated bytes */
	size_t limit; /* 0: unlimited; else appends past limit fail */
};

/* Appends n bytes; returns 0, or -1 if limit would be exceeded (nothing appended). */
int buf_append(struct gw_buf *b, const void *p, size_t n);
int buf_puts(struct gw_buf *b, const char *s);
int buf_printf(struct gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the decimal digits of v (a formatted print's %lld, without the
 * cost of parsing a format on hot paths). Returns 0 or -1 past the limit. */
int buf_int(struct gw_buf *b, long long v);
/* Appends s[0..n) as a quoted JSON string: '"' and '\\' escaped with a
 * backslash, the control bytes 0x00-0x1f and 0x7f as \u00XX, every other
 * byte as it is (the caller checks UTF-8 where it matters). The one JSON
 * string escaper of the tree. Returns 0, or -1 past the limit (then the
 * buffer may hold part of the string). */
int buf_json_string(struct gw_buf *b, const char *s, size_t n);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct gw_buf *b);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void buf_free(struct gw_buf *b);
/* Returns the contents ("" when empty); valid until the next append. */
const char *buf_str(const struct gw_buf *b);

#endif
