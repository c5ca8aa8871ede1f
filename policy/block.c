/* block.c: substring, exact and regular-expression block lists. */
#include "block.h"
#include "gw.h"
#include "str.h"

#include <stdlib.h>
#include <string.h>

/* A copy of s[0..n) in ASCII lower case; the caller frees it. */
static char *lowered(const char *s, size_t n)
{
	char *o = gw_malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		o[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	o[n] = '\0';
	return o;
}

/* Finds needle in hay: memchr for the first byte, then a compare. For the
 * short needles of block lists this beats memmem's set-up on every call. */
static bool find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	const char *p = hay, *last;

	if (nlen == 0 || nlen > hlen)
		return false;
	last = hay + (hlen - nlen);
	while (p <= last && (p = memchr(p, needle[0], (size_t)(last - p) + 1)) != NULL) {
		if (memcmp(p + 1, needle + 1, nlen - 1) == 0)
			return true;
		p++;
	}
	return false;
}

/* Case-insensitive lists compare lower-cased copies, each text lowered once
 * per check rather than byte by byte per entry, then searched. */
static bool any_contains(const struct gw_list *needles, const struct block_text *t, size_t n,
			 bool case_sensitive, const char **entry)
{
	char **low;
	bool hit = false;

	if (needles->n == 0 || n == 0)
		return false;
	low = gw_calloc(n, sizeof(*low));
	for (size_t i = 0; i < n && !case_sensitive; i++)
		low[i] = lowered(t[i].s, t[i].len);
	for (size_t k = 0; k < needles->n && !hit; k++) {
		size_t nlen = strlen(needles->v[k]);
		char *needle = case_sensitive ? needles->v[k] : lowered(needles->v[k], nlen);
		for (size_t i = 0; i < n && !hit; i++)
			hit = find(case_sensitive ? t[i].s : low[i], t[i].len, needle, nlen);
		if (hit)
			*entry = needles->v[k];
		if (!case_sensitive)
			free(needle);
	}
	for (size_t i = 0; i < n; i++)
		free(low[i]);
	free(low);
	return hit;
}

static bool equal_text(const struct block_text *t, const char *s, bool case_sensitive)
{
	size_t len = strlen(s);
	if (t->len != len)
		return false;
	if (case_sensitive)
		return memcmp(t->s, s, len) == 0;
	return str_contains(t->s, t->len, s, len, false);
}

bool block_url(const struct gw_route *r, const struct block_text *forms, size_t n,
	       const char **list, const char **entry)
{
	if (any_contains(&r->block_urls, forms, n, r->case_sensitive, entry)) {
		*list = "block_urls";
		return true;
	}
	for (size_t k = 0; k < r->block_exact_urls.n; k++) {
		for (size_t i = 0; i < n; i++) {
			if (equal_text(&forms[i], r->block_exact_urls.v[k], r->case_sensitive)) {
				*list = "block_exact_urls";
				*entry = r->block_exact_urls.v[k];
				return true;
			}
		}
	}
	for (size_t k = 0; k < r->n_regexps; k++) {
		for (size_t i = 0; i < n; i++) {
			regmatch_t m = { .rm_so = 0, .rm_eo = (regoff_t)forms[i].len };
			if (regexec(&r->regexps[k], forms[i].s, 1, &m, REG_STARTEND) == 0) {
				*list = "block_regexp_urls";
				*entry = r->block_regexp_urls.v[k];
				return true;
			}
		}
	}
	return false;
}

bool block_headers(const struct gw_route *r, const struct block_text *lines, size_t n,
		   const char **entry)
{
	return any_contains(&r->block_headers, lines, n, r->case_sensitive, entry);
}

bool block_bodies(const struct gw_route *r, const struct block_text *texts, size_t n,
		  const char **entry)
{
	return any_contains(&r->block_bodies, texts, n, r->case_sensitive, entry);
}
