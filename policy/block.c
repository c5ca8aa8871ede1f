/* block.c: substring, exact and regular-expression block lists. */
#include "block.h"
#include "str.h"

#include <string.h>

static bool any_contains(const struct gw_list *needles, const struct block_text *t, size_t n,
			 bool case_sensitive, const char **entry)
{
	for (size_t k = 0; k < needles->n; k++) {
		const char *needle = needles->v[k];
		size_t nlen = strlen(needle);
		for (size_t i = 0; i < n; i++) {
			if (str_contains(t[i].s, t[i].len, needle, nlen, case_sensitive)) {
				*entry = needle;
				return true;
			}
		}
	}
	return false;
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
