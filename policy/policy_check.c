/* policy_check.c: checks what only the whole policy can tell, once every
 * file is read: required keys, names that refer to other sections, repeated
 * credentials, paths and aliases, and the block regular expressions. */
#include "gw.h"
#include "policy_int.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define SEMANTIC(d, obj, ...) diag_add((d), false, (obj)->file, (obj)->line, __VA_ARGS__)

static void validate_upstreams(struct gw_policy *p, struct gw_diag *d)
{
	for (size_t i = 0; i < p->n_upstreams; i++) {
		struct gw_upstream *u = p->upstreams[i];
		if (!u->url)
			SEMANTIC(d, u, "[upstream %s] needs url", u->name);
	}
}

static void validate_consumers(struct gw_policy *p, struct gw_diag *d)
{
	for (size_t i = 0; i < p->n_consumers; i++) {
		struct gw_consumer *c = p->consumers[i];
		if (c->has_previous != (c->previous_until_ms != 0))
			SEMANTIC(d, c,
				 "[consumer %s] previous_credential_sha256 and "
				 "previous_valid_until go together",
				 c->name);
		if (!c->has_sha256) {
			SEMANTIC(d, c, "[consumer %s] needs credential or credential_sha256",
				 c->name);
			continue;
		}
		for (size_t k = 0; k < i; k++) {
			struct gw_consumer *o = p->consumers[k];
			if (o->has_sha256 &&
			    memcmp(o->credential_sha256, c->credential_sha256, SHA256_LEN) == 0)
				SEMANTIC(d, c,
					 "[consumer %s] has the same credential as [consumer %s]",
					 c->name, o->name);
		}
	}
}

static void compile_regexps(struct gw_route *r, struct gw_diag *d)
{
	int flags = REG_EXTENDED | REG_NOSUB | (r->case_sensitive ? 0 : REG_ICASE);

	r->regexps = gw_calloc(r->block_regexp_urls.n, sizeof(regex_t));
	for (size_t i = 0; i < r->block_regexp_urls.n; i++) {
		int rc = regcomp(&r->regexps[r->n_regexps], r->block_regexp_urls.v[i], flags);
		if (rc != 0) {
			char why[128];
			regerror(rc, &r->regexps[r->n_regexps], why, sizeof(why));
			SEMANTIC(d, r, "[route %s] block_regexp_urls: \"%s\": %s", r->name,
				 r->block_regexp_urls.v[i], why);
			continue;
		}
		r->n_regexps++;
	}
}

/* The ASCII-lowered copy of a block list, for case-insensitive matching. */
static void fold_list(const struct gw_list *from, struct gw_list *to)
{
	to->v = gw_calloc(from->n + 1, sizeof(*to->v));
	to->n = from->n;
	for (size_t i = 0; i < from->n; i++) {
		to->v[i] = gw_strdup(from->v[i]);
		for (char *c = to->v[i]; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c + 32);
	}
}

static void validate_route(struct gw_policy *p, struct gw_route *r, struct gw_diag *d)
{
	if (!r->case_sensitive) {
		fold_list(&r->block_urls, &r->block_urls_folded);
		fold_list(&r->block_headers, &r->block_headers_folded);
		fold_list(&r->block_bodies, &r->block_bodies_folded);
	}
	if (!r->path)
		SEMANTIC(d, r, "[route %s] needs path", r->name);
	r->upstreams = gw_calloc(r->upstream_names.n + 1, sizeof(*r->upstreams));
	for (size_t i = 0; i < r->upstream_names.n; i++) {
		struct gw_upstream *u = policy_upstream(p, r->upstream_names.v[i]);
		if (!u)
			SEMANTIC(d, r, "[route %s] names upstream %s, which is not defined",
				 r->name, r->upstream_names.v[i]);
		else
			r->upstreams[r->n_upstreams++] = u;
	}
	if (r->upstream_names.n == 0 && p->n_upstreams == 1)
		r->upstreams[r->n_upstreams++] = p->upstreams[0];
	else if (r->upstream_names.n == 0)
		SEMANTIC(d, r, "[route %s] needs upstream (there are %zu upstreams)", r->name,
			 p->n_upstreams);
	r->upstream = r->n_upstreams ? r->upstreams[0] : NULL;
	for (size_t i = 0; r->mode == GW_MODE_ANTHROPIC && i < r->n_upstreams; i++)
		if (r->upstreams[i]->api != GW_UPSTREAM_ANTHROPIC)
			SEMANTIC(d, r, "[route %s] is mode = anthropic but upstream %s is not "
				 "api = anthropic", r->name, r->upstreams[i]->name);
	for (size_t i = 0; i < r->allow.n; i++)
		if (!policy_consumer(p, r->allow.v[i]))
			SEMANTIC(d, r, "[route %s] allows %s, which is not a [consumer]", r->name,
				 r->allow.v[i]);
	for (size_t i = 0; i < p->n_routes && p->routes[i] != r; i++)
		if (r->path && p->routes[i]->path && strcmp(p->routes[i]->path, r->path) == 0)
			SEMANTIC(d, r, "[route %s] has the same path as [route %s]", r->name,
				 p->routes[i]->name);
	compile_regexps(r, d);
}

static void validate_models(struct gw_policy *p, struct gw_diag *d)
{
	for (size_t i = 0; i < p->n_models; i++) {
		struct gw_model *m = p->models[i];
		if (!m->has_input || !m->has_output)
			SEMANTIC(d, m, "[model %s] needs input_per_1m and output_per_1m", m->name);
		for (size_t a = 0; a < m->aliases.n; a++) {
			for (size_t k = 0; k < p->n_models; k++) {
				const struct gw_model *o = p->models[k];
				if (o == m)
					continue;
				if (strcmp(o->name, m->aliases.v[a]) == 0 ||
				    (k < i && list_has(&o->aliases, m->aliases.v[a])))
					SEMANTIC(d, m, "[model %s] alias %s is already [model %s]",
						 m->name, m->aliases.v[a], o->name);
			}
		}
	}
}

static int route_cmp(const void *a, const void *b)
{
	const struct gw_route *ra = *(struct gw_route *const *)a;
	const struct gw_route *rb = *(struct gw_route *const *)b;
	return (rb->path_len > ra->path_len) - (rb->path_len < ra->path_len);
}

void policy_validate(struct gw_policy *p, struct gw_diag *d, const char *main_file)
{
	if (!p->state_dir)
		diag_add(d, false, main_file, 0, "[gateway] state_dir must not be empty");
	if (p->n_routes == 0)
		diag_add(d, false, main_file, 0,
			 "no [route] is defined: every request would get 404");
	if (p->n_upstreams == 0)
		diag_add(d, false, main_file, 0, "no [upstream] is defined");
	validate_upstreams(p, d);
	validate_consumers(p, d);
	for (size_t i = 0; i < p->n_routes; i++)
		validate_route(p, p->routes[i], d);
	validate_models(p, d);
	schema_derived_defaults(p);
	if (p->n_routes > 1)
		qsort(p->routes, p->n_routes, sizeof(*p->routes), route_cmp);
}
