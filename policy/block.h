/* block.h: the request-block check (Higress request-block semantics): URL,
 * header and body block lists of a route. Pure functions: the caller passes
 * the texts, the check says whether and why to block. */
#ifndef GW_BLOCK_H
#define GW_BLOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

/* One text to check, with its length (it may hold NUL bytes). */
struct block_text {
	const char *s;
	size_t len;
};

/* Checks the URL forms (raw path+query, then decoded forms) against
 * block_urls, block_exact_urls and block_regexp_urls. Returns true to block;
 * *why names the list and entry (points into the policy). */
bool block_url(const struct gw_route *r, const struct block_text *forms, size_t n,
	       const char **list, const char **entry);

/* Checks "Name: value" header lines against block_headers. */
bool block_headers(const struct gw_route *r, const struct block_text *lines, size_t n,
		   const char **entry);

/* Checks body texts (raw body and decoded forms) against block_bodies. */
bool block_bodies(const struct gw_route *r, const struct block_text *texts, size_t n,
		  const char **entry);

#endif
