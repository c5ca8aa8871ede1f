/* str.h: byte-string helpers: percent-decoding, UTF-8 checks, searching and
 * hex. None of them allocate unless they say so. */
#ifndef GW_STR_H
#define GW_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes %XX escapes (and '+' to space when plus_is_space) of s[0..n) into a
 * new NUL-terminated string the caller frees; *outlen gets its length (it may
 * contain NUL bytes). Invalid escapes ("%", "%z", "%zz") are kept literally and
 * counted in *invalid when invalid is not NULL. */
char *str_percent_decode(const char *s, size_t n, bool plus_is_space, size_t *outlen,
			 size_t *invalid);

/* True if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool str_utf8_valid(const char *s, size_t n);

/* Finds needle in hay (lengths given), optionally ignoring ASCII case.
 * Returns true when found. An empty needle never matches. */
bool str_contains(const char *hay, size_t haylen, const char *needle, size_t nlen,
		  bool case_sensitive);

/* Decodes 2*n hex digits into out[n]; returns 0, or -1 on a non-hex digit. */
int str_hex_decode(const char *hex, unsigned char *out, size_t n);
/* Writes 2*n lowercase hex digits and a NUL into out. */
void str_hex_encode(const unsigned char *in, size_t n, char *out);

/* The 64-bit FNV-1a hash of p[0..n): hash tables and state-file checksums. */
uint64_t str_fnv1a(const void *p, size_t n);

/* The decimal digits of v in out (NUL-terminated); returns out. For hot
 * paths where a formatted print's format parsing shows in the profile. */
char *str_ll(long long v, char out[24]);

/* ASCII case-insensitive equality of two NUL-terminated strings. */
bool str_ieq(const char *a, const char *b);

/* Writes a copy of s with every byte that is not printable ASCII replaced by
 * '?', at most max bytes (adding "..." when cut); for logging untrusted text.
 * The caller frees it. */
char *str_sanitize_for_log(const char *s, size_t n, size_t max);

#endif
