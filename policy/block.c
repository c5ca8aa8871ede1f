/* block.c: substring, exact and regular-expression block lists. */
#include "block.h"
#include "buf.h"
#include "gw.h"
#include "str.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

/* A copy of s[0..n) in ASCII lower case; the caller frees it. */
static char *lowered(const char *s, size_t n)
{
	char *o = gw_malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		o[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	o[n] = '\0';
	return o;
}

static bool is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* Appends the normalised form of the valid UTF-8 run s[0..n): NFKC, default
 * ignorable characters (zero-width space and joiners, soft hyphen, ...)
 * removed, case folded when fold. */
static void append_mapped(struct gw_buf *o, const char *s, size_t n, bool fold)
{
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t m;
	int opts = UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_IGNORE;

	if (n == 0)
		return;
	m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
			 (utf8proc_option_t)(opts | (fold ? UTF8PROC_CASEFOLD : 0)));
	if (m >= 0)
		buf_append(o, dst, (size_t)m);
	else
		buf_append(o, s, n);
	free(dst);
}

/* The normalised form of s[0..n) (see append_mapped); bytes that are not
 * valid UTF-8 are kept as they are, between the normalised runs around them,
 * so that invalid bytes neither stop the check nor hide what follows. The
 * caller frees the text. */
static struct block_text normalized(const char *s, size_t n, bool fold)
{
	struct gw_buf o = { 0 };
	size_t i = 0, run = 0;

	while (i < n) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
						      (utf8proc_ssize_t)(n - i), &cp);
		if (k > 0) {
			i += (size_t)k;
			continue;
		}
		append_mapped(&o, s + run, i - run, fold);
		buf_append(&o, s + i, 1);
		run = ++i;
	}
	append_mapped(&o, s + run, i - run, fold);
	return (struct block_text){ o.data ? o.data : gw_strdup(""), o.len };
}

/* The texts to check: t[0..n), followed by the normalised form of each text
 * that is not plain ASCII (for ASCII the raw form, lowered when case
 * insensitive, is already the normalised one). Returns t itself, with no
 * copy, when every text is ASCII; else an array the caller frees with
 * texts_free. */
static const struct block_text *with_normalized(const struct block_text *t, size_t n,
						bool case_sensitive, size_t *out_n)
{
	struct block_text *all = NULL;
	size_t k = n;

	*out_n = n;
	for (size_t i = 0; i < n; i++) {
		if (is_ascii(t[i].s, t[i].len))
			continue;
		if (!all) {
			all = gw_calloc(2 * n, sizeof(*all));
			memcpy(all, t, n * sizeof(*t));
		}
		all[k++] = normalized(t[i].s, t[i].len, !case_sensitive);
	}
	*out_n = k;
	return all ? all : t;
}

static void texts_free(const struct block_text *all, const struct block_text *t, size_t n,
		       size_t all_n)
{
	if (all == t)
		return;
	for (size_t i = n; i < all_n; i++)
		free((char *)all[i].s);
	free((void *)all);
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

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* find() in a lowered hay of a needle lowered as it is compared, so that
 * no entry is copied on every request. */
static bool find_lowered(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	const char *p = hay, *last;
	char first;

	if (nlen == 0 || nlen > hlen)
		return false;
	first = lower(needle[0]);
	last = hay + (hlen - nlen);
	while (p <= last && (p = memchr(p, first, (size_t)(last - p) + 1)) != NULL) {
		size_t k = 1;
		while (k < nlen && p[k] == lower(needle[k]))
			k++;
		if (k == nlen)
			return true;
		p++;
	}
	return false;
}

/* Up to this many entries are searched in one pass over each text. */
#define BLOCK_ONE_PASS 64

/* One pass over hay for every entry at once: for each byte, the entries
 * that start with it (a bit each), then a compare. Returns the index of an
 * entry found, or -1. */
static int find_any(const char *hay, size_t hlen, const char *const *v, const size_t *lens,
		    const uint64_t first[256])
{
	for (size_t i = 0; i < hlen; i++) {
		uint64_t m = first[(unsigned char)hay[i]];
		while (m) {
			int k = __builtin_ctzll(m);
			m &= m - 1;
			if (lens[k] <= hlen - i && memcmp(hay + i + 1, v[k] + 1, lens[k] - 1) == 0)
				return k;
		}
	}
	return -1;
}

/* The entries that are searched as they are (case-sensitive lists, or the
 * folded copies), all in one pass per text when there are few enough. */
static bool any_plain(const char *const *v, size_t nv, const struct block_text *t,
		      char *const *low, size_t n, int *found)
{
	uint64_t first[256] = { 0 };
	size_t lens[BLOCK_ONE_PASS];

	if (nv > BLOCK_ONE_PASS) {
		for (size_t k = 0; k < nv; k++)
			for (size_t i = 0; i < n; i++)
				if (find(low ? low[i] : t[i].s, t[i].len, v[k], strlen(v[k]))) {
					*found = (int)k;
					return true;
				}
		return false;
	}
	for (size_t k = 0; k < nv; k++) {
		lens[k] = strlen(v[k]);
		if (lens[k])
			first[(unsigned char)v[k][0]] |= 1ull << k;
	}
	for (size_t i = 0; i < n; i++)
		if ((*found = find_any(low ? low[i] : t[i].s, t[i].len, (const char *const *)v, lens,
				       first)) >= 0)
			return true;
	return false;
}

/* Case-insensitive lists compare lower-cased copies: each text lowered once
 * per check, the entries once at load (folded), then searched. Entries that
 * are not ASCII are also searched in their normalised form. */
static bool any_contains(const struct gw_list *needles, const struct gw_list *folded,
			 const struct block_text *t, size_t n, bool case_sensitive,
			 const char **entry)
{
	char **low = NULL;
	bool hit = false;
	int found = -1;

	if (needles->n == 0 || n == 0)
		return false;
	if (folded && folded->n != needles->n)
		folded = NULL;
	if (!case_sensitive) {
		low = gw_calloc(n, sizeof(*low));
		for (size_t i = 0; i < n; i++)
			low[i] = lowered(t[i].s, t[i].len);
	}
	if (case_sensitive || folded) {
		hit = any_plain((const char *const *)(folded ? folded->v : needles->v), needles->n, t,
				low, n, &found);
		if (hit)
			*entry = needles->v[found];
	}
	for (size_t k = 0; k < needles->n && !hit; k++) {
		const char *needle = needles->v[k];
		size_t nlen = strlen(needle);
		for (size_t i = 0; i < n && !hit && !case_sensitive && !folded; i++)
			hit = find_lowered(low[i], t[i].len, needle, nlen);
		if (!hit && !is_ascii(needle, nlen)) {
			struct block_text nn = normalized(needle, nlen, !case_sensitive);
			for (size_t i = 0; i < n && !hit; i++)
				hit = find(case_sensitive ? t[i].s : low[i], t[i].len, nn.s, nn.len);
			free((char *)nn.s);
		}
		if (hit)
			*entry = needle;
	}
	for (size_t i = 0; i < n && low; i++)
		free(low[i]);
	free(low);
	return hit;
}

static bool equal_text(const struct block_text *t, const char *s, bool case_sensitive)
{
	size_t len = strlen(s);
	struct block_text ns;
	bool eq;

	if (t->len == len && case_sensitive)
		return memcmp(t->s, s, len) == 0;
	if (t->len == len && str_contains(t->s, t->len, s, len, false))
		return true;
	if (is_ascii(s, len))
		return false;
	ns = normalized(s, len, !case_sensitive);
	eq = t->len == ns.len && memcmp(t->s, ns.s, ns.len) == 0;
	free((char *)ns.s);
	return eq;
}

static bool url_lists(const struct gw_route *r, const struct block_text *forms, size_t n,
		      const char **list, const char **entry)
{
	if (any_contains(&r->block_urls, &r->block_urls_folded, forms, n, r->case_sensitive,
			 entry)) {
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

/* Each list is matched against the texts as they are and against their
 * normalised forms (with_normalized). Routes without lists pay nothing. */
bool block_url(const struct gw_route *r, const struct block_text *forms, size_t n,
	       const char **list, const char **entry)
{
	const struct block_text *all;
	size_t all_n;
	bool hit;

	if (r->block_urls.n == 0 && r->block_exact_urls.n == 0 && r->n_regexps == 0)
		return false;
	all = with_normalized(forms, n, r->case_sensitive, &all_n);
	hit = url_lists(r, all, all_n, list, entry);
	texts_free(all, forms, n, all_n);
	return hit;
}

static bool contains_normalized(const struct gw_list *needles, const struct gw_list *folded,
				const struct block_text *t, size_t n, bool case_sensitive,
				const char **entry)
{
	const struct block_text *all;
	size_t all_n;
	bool hit;

	if (needles->n == 0 || n == 0)
		return false;
	all = with_normalized(t, n, case_sensitive, &all_n);
	hit = any_contains(needles, folded, all, all_n, case_sensitive, entry);
	texts_free(all, t, n, all_n);
	return hit;
}

bool block_headers(const struct gw_route *r, const struct block_text *lines, size_t n,
		   const char **entry)
{
	return contains_normalized(&r->block_headers, &r->block_headers_folded, lines, n,
				   r->case_sensitive, entry);
}

bool block_bodies(const struct gw_route *r, const struct block_text *texts, size_t n,
		  const char **entry)
{
	return contains_normalized(&r->block_bodies, &r->block_bodies_folded, texts, n,
				   r->case_sensitive, entry);
}
