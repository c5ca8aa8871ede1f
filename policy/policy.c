/* policy.c: the policy's lists, diagnostics, lookups (routes, consumers,
 * upstreams, models) and release. Loading is in policy_load.c, the key
 * tables in policy_schema.c, checks in policy_check.c, warnings in
 * policy_lint.c. */
#include "gw.h"
#include "policy_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- diagnostics ---- */

void diag_add(struct gw_diag *d, bool warning, const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->msgs = gw_realloc(d->msgs, (d->n + 1) * sizeof(*d->msgs));
	d->warning = gw_realloc(d->warning, (d->n + 1) * sizeof(*d->warning));
	if (line > 0)
		d->msgs[d->n] =
		    gw_asprintf("%s:%d: %s%s", file, line, warning ? "warning: " : "", msg);
	else
		d->msgs[d->n] = gw_asprintf("%s: %s%s", file, warning ? "warning: " : "", msg);
	d->warning[d->n] = warning;
	d->n++;
	if (!warning)
		d->n_errors++;
}

void diag_free(struct gw_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	free(d->warning);
	memset(d, 0, sizeof(*d));
}

/* ---- lists and scalars ---- */

void list_add(struct gw_list *l, const char *s, size_t n)
{
	l->v = gw_realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = gw_strndup(s, n);
}

void list_free(struct gw_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool list_has(const struct gw_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return true;
	return false;
}

void list_parse(struct gw_list *l, const char *value)
{
	const char *s = value;
	while (*s) {
		const char *end = strchr(s, ',');
		if (!end)
			end = s + strlen(s);
		const char *a = s, *b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a)
			list_add(l, a, (size_t)(b - a));
		s = *end ? end + 1 : end;
	}
}

/* ---- lookup and release ---- */

const struct gw_route *policy_route(const struct gw_policy *p, const char *path)
{
	for (size_t i = 0; i < p->n_routes; i++) {
		const struct gw_route *r = p->routes[i];
		if (r->path_len == 1 && r->path[0] == '/')
			return r;
		if (strncmp(path, r->path, r->path_len) == 0 &&
		    (path[r->path_len] == '\0' || path[r->path_len] == '/'))
			return r;
	}
	return NULL;
}

struct gw_consumer *policy_consumer(const struct gw_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_consumers; i++)
		if (strcmp(p->consumers[i]->name, name) == 0)
			return p->consumers[i];
	return NULL;
}

const struct gw_model *policy_model(const struct gw_policy *p, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < p->n_models; i++)
		if (strcmp(p->models[i]->name, name) == 0 || list_has(&p->models[i]->aliases, name))
			return p->models[i];
	return NULL;
}

struct gw_upstream *policy_upstream(const struct gw_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_upstreams; i++)
		if (strcmp(p->upstreams[i]->name, name) == 0)
			return p->upstreams[i];
	return NULL;
}

static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void route_free(struct gw_route *r)
{
	free(r->name);
	free(r->path);
	list_free(&r->upstream_names);
	free(r->upstreams);
	free(r->prompt_param);
	free(r->blocked_message);
	list_free(&r->allow);
	list_free(&r->block_urls);
	list_free(&r->block_exact_urls);
	list_free(&r->block_regexp_urls);
	list_free(&r->block_headers);
	list_free(&r->block_bodies);
	list_free(&r->block_urls_folded);
	list_free(&r->block_headers_folded);
	list_free(&r->block_bodies_folded);
	for (size_t i = 0; i < r->n_regexps; i++)
		regfree(&r->regexps[i]);
	free(r->regexps);
	free(r);
}

void policy_free(struct gw_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_upstreams; i++) {
		struct gw_upstream *u = p->upstreams[i];
		free(u->name);
		free(u->url);
		secret_free(u->api_key);
		free(u->model);
		list_free(&u->model_map);
		free(u);
	}
	for (size_t i = 0; i < p->n_consumers; i++) {
		struct gw_consumer *c = p->consumers[i];
		free(c->name);
		secret_free(c->credential);
		list_free(&c->models);
		free(c->owner);
		free(c->created);
		free(c);
	}
	for (size_t i = 0; i < p->n_routes; i++)
		route_free(p->routes[i]);
	for (size_t i = 0; i < p->n_models; i++) {
		free(p->models[i]->name);
		list_free(&p->models[i]->aliases);
		free(p->models[i]);
	}
	free(p->models);
	free(p->upstreams);
	free(p->consumers);
	free(p->routes);
	free(p->state_dir);
	free(p->redis_host);
	free(p->usage_log);
	free(p->keys_dir);
	free(p->alert_command);
	secret_free(p->admin_key);
	list_free(&p->auth.keys);
	list_free(&p->secret_files);
	for (size_t i = 0; i < p->n_files; i++)
		free(p->files[i]);
	free(p->files);
	for (size_t i = 0; i < p->n_stamps; i++)
		free(p->stamps[i].path);
	free(p->stamps);
	free(p);
}

/* a * b + *sum, saturating at INT64_MAX; a and b are >= 0. */
static void add_product(int64_t a, int64_t b, int64_t *sum)
{
	int64_t prod;
	if (__builtin_mul_overflow(a, b, &prod) || __builtin_add_overflow(*sum, prod, sum))
		*sum = INT64_MAX;
}

static long long clamp_tokens(long long n, long long max)
{
	return n < 0 ? 0 : n > max ? max : n;
}

int64_t model_cost_pico(const struct gw_model *m, long long prompt, long long cached,
			long long cache_write, long long completion)
{
	int64_t sum = 0;

	prompt = clamp_tokens(prompt, 1000000000000LL);
	cached = clamp_tokens(cached, prompt);
	cache_write = clamp_tokens(cache_write, prompt - cached);
	add_product(prompt - cached - cache_write, m->input_pico, &sum);
	add_product(cached, m->cached_input_pico, &sum);
	add_product(cache_write, m->cache_write_pico, &sum);
	add_product(clamp_tokens(completion, 1000000000000LL), m->output_pico, &sum);
	return sum;
}
