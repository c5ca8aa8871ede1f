/* balance.h: which upstream a route's request tries first, and next: the
 * failover, round_robin and weighted strategies, a per-process memory of
 * upstreams that keep failing (skipped for their cooldown_s), and model
 * name mapping per upstream. */
#ifndef GW_BALANCE_H
#define GW_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "policy.h"

/* Failures in a row after which an upstream cools down. */
#define FAILOVER_STRIKES 3
#define BALANCE_MAX 64

struct balancer {
	struct {
		char name[64];
		int strikes;
		time_t cooling_until;
	} health[BALANCE_MAX];
	size_t n;
	unsigned long turn; /* round_robin position */
};

/* Fills out (room for r->n_upstreams) with the upstreams to try, in order:
 * healthy ones first as the strategy orders them, cooling ones last. rnd is
 * a random number for weighted picks. Returns how many. */
size_t balance_order(struct balancer *b, const struct gw_route *r, time_t now, unsigned rnd,
		     const struct gw_upstream **out);

/* Records how an attempt on u ended. */
void balance_report(struct balancer *b, const struct gw_upstream *u, bool ok, time_t now);

/* The model name to send to u for the requested model (model_map), or model. */
const char *balance_model(const struct gw_upstream *u, const char *model);

#endif
