/* balance.c: upstream order, cooldowns and model mapping. */
#include "balance.h"

#include <stdio.h>
#include <string.h>

static size_t slot(struct balancer *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->health[i].name, name) == 0)
			return i;
	if (b->n == BALANCE_MAX)
		return BALANCE_MAX;
	memset(&b->health[b->n], 0, sizeof(b->health[0]));
	snprintf(b->health[b->n].name, sizeof(b->health[0].name), "%s", name);
	return b->n++;
}

static bool cooling(struct balancer *b, const struct gw_upstream *u, time_t now)
{
	size_t i = slot(b, u->name);
	return i < BALANCE_MAX && b->health[i].cooling_until > now;
}

/* The first index to try: 0 for failover, turns for round_robin, a pick in
 * proportion to weight for weighted. */
static size_t first_index(struct balancer *b, const struct gw_route *r, unsigned rnd)
{
	long long total = 0, pick;

	if (r->strategy == GW_STRATEGY_ROUND_ROBIN)
		return (size_t)(b->turn++ % r->n_upstreams);
	if (r->strategy != GW_STRATEGY_WEIGHTED)
		return 0;
	for (size_t i = 0; i < r->n_upstreams; i++)
		total += r->upstreams[i]->weight;
	pick = total > 0 ? (long long)(rnd % (unsigned long long)total) : 0;
	for (size_t i = 0; i < r->n_upstreams; i++) {
		if (pick < r->upstreams[i]->weight)
			return i;
		pick -= r->upstreams[i]->weight;
	}
	return 0;
}

size_t balance_order(struct balancer *b, const struct gw_route *r, time_t now, unsigned rnd,
		     const struct gw_upstream **out)
{
	size_t n = r->n_upstreams, k = 0, first;

	if (n == 0)
		return 0;
	first = first_index(b, r, rnd);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t j = 0; j < n; j++) {
			const struct gw_upstream *u = r->upstreams[(first + j) % n];
			if (cooling(b, u, now) == (pass == 1))
				out[k++] = u;
		}
	}
	return k;
}

void balance_report(struct balancer *b, const struct gw_upstream *u, bool ok, time_t now)
{
	size_t i = slot(b, u->name);

	if (i == BALANCE_MAX)
		return;
	if (ok) {
		b->health[i].strikes = 0;
		b->health[i].cooling_until = 0;
		return;
	}
	if (++b->health[i].strikes >= FAILOVER_STRIKES && u->cooldown_s > 0) {
		b->health[i].cooling_until = now + (time_t)u->cooldown_s;
		b->health[i].strikes = 0;
	}
}

const char *balance_model(const struct gw_upstream *u, const char *model)
{
	size_t mlen;

	if (!model)
		return NULL;
	mlen = strlen(model);
	for (size_t i = 0; i < u->model_map.n; i++) {
		const char *e = u->model_map.v[i], *colon = strchr(e, ':');
		if ((size_t)(colon - e) == mlen && strncmp(e, model, mlen) == 0)
			return colon + 1;
	}
	return model;
}
