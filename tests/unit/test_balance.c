/* test_balance.c: cgi/balance.h: the order in which a route's upstreams are
 * tried (failover, round_robin, weighted), cooldowns after repeated
 * failures, and model name mapping per upstream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "gw.h"
#include "policy.h"
#include "suites.h"
#include "testutil.h"

#define NOW 1795651200 /* 2026-11-26T00:00:00Z */

struct fixture {
	struct gw_upstream u[3];
	struct gw_upstream *list[3];
	struct gw_route r;
	struct balancer b;
};

static char *map_a[] = { (char *)"gpt-4o:gpt-4o-2024-08-06",
			 (char *)"mini:ft:gpt-4o-mini:acme::x1" };
static char *map_c[] = { (char *)"ft:x:y" };

static void setup(struct fixture *f, enum gw_strategy strategy)
{
	static const char *const names[3] = { "alpha", "beta", "gamma" };
	static const long long weights[3] = { 1, 2, 3 };

	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 3; i++) {
		f->u[i].name = (char *)names[i];
		f->u[i].url = (char *)"http://127.0.0.1:9";
		f->u[i].weight = weights[i];
		f->u[i].cooldown_s = 30;
		f->list[i] = &f->u[i];
	}
	f->u[0].model_map.v = map_a;
	f->u[0].model_map.n = GW_ARRAY_LEN(map_a);
	f->u[2].model_map.v = map_c;
	f->u[2].model_map.n = GW_ARRAY_LEN(map_c);
	f->r.name = (char *)"r";
	f->r.upstreams = f->list;
	f->r.n_upstreams = 3;
	f->r.upstream = f->list[0];
	f->r.strategy = strategy;
	f->r.retries = 2;
}

/* The order as a string of upstream initials, e.g. "abg". */
static const char *order(struct fixture *f, time_t now, unsigned rnd)
{
	static char out[BALANCE_MAX + 1];
	const struct gw_upstream *o[BALANCE_MAX];
	size_t n = balance_order(&f->b, &f->r, now, rnd, o);

	for (size_t i = 0; i < n; i++)
		out[i] = o[i]->name[0];
	out[n] = '\0';
	return out;
}

static void fail_n(struct fixture *f, int i, int n, time_t now)
{
	for (int k = 0; k < n; k++)
		balance_report(&f->b, &f->u[i], false, now);
}

/* ---- strategies ---- */

static void test_failover_order(void)
{
	struct fixture f;

	setup(&f, GW_STRATEGY_FAILOVER);
	for (unsigned rnd = 0; rnd < 10; rnd++)
		TU_STR(order(&f, NOW, rnd * 7919u), "abg");
	/* A success changes nothing. */
	balance_report(&f.b, &f.u[1], true, NOW);
	TU_STR(order(&f, NOW, 0), "abg");
	/* Fewer failures than FAILOVER_STRIKES: still first. */
	fail_n(&f, 0, FAILOVER_STRIKES - 1, NOW);
	TU_STR(order(&f, NOW, 0), "abg");
}

static void test_round_robin(void)
{
	static const char *const want[] = { "abg", "bga", "gab", "abg", "bga", "gab", "abg" };
	struct fixture f;

	setup(&f, GW_STRATEGY_ROUND_ROBIN);
	for (size_t i = 0; i < GW_ARRAY_LEN(want); i++)
		TU_STR(order(&f, NOW, 12345), want[i]);

	/* One upstream: always it. */
	setup(&f, GW_STRATEGY_ROUND_ROBIN);
	f.r.n_upstreams = 1;
	for (int i = 0; i < 4; i++)
		TU_STR(order(&f, NOW, 0), "a");
}

/* Weights 1, 2, 3: of rnd 0..5, alpha gets 0, beta 1-2, gamma 3-5; the
 * others follow in the listed order after the pick. */
static void test_weighted(void)
{
	static const char *const want[6] = { "abg", "bga", "bga", "gab", "gab", "gab" };
	struct fixture f;
	int firsts[3] = { 0, 0, 0 };

	setup(&f, GW_STRATEGY_WEIGHTED);
	for (unsigned rnd = 0; rnd < 6; rnd++)
		TU_STR(order(&f, NOW, rnd), want[rnd]);
	/* Any rnd counts modulo the total weight. */
	TU_STR(order(&f, NOW, 6), "abg");
	TU_STR(order(&f, NOW, 6000001), "bga");
	TU_STR(order(&f, NOW, 4294967295u), want[4294967295u % 6]);
	/* 6000 consecutive numbers: exactly in proportion. */
	for (unsigned rnd = 0; rnd < 6000; rnd++) {
		const char *o = order(&f, NOW, rnd);
		firsts[o[0] == 'a' ? 0 : o[0] == 'b' ? 1 : 2]++;
	}
	TU_INT(firsts[0], 1000);
	TU_INT(firsts[1], 2000);
	TU_INT(firsts[2], 3000);

	/* Other weights: 5, 1, 1000. */
	f.u[0].weight = 5;
	f.u[1].weight = 1;
	f.u[2].weight = 1000;
	TU_STR(order(&f, NOW, 4), "abg");
	TU_STR(order(&f, NOW, 5), "bga");
	TU_STR(order(&f, NOW, 6), "gab");
	TU_STR(order(&f, NOW, 1005), "gab");
	TU_STR(order(&f, NOW, 1006), "abg");
}

/* ---- cooldowns ---- */

static void test_cooldown(void)
{
	struct fixture f;

	setup(&f, GW_STRATEGY_FAILOVER);
	fail_n(&f, 0, FAILOVER_STRIKES, NOW);
	TU_STR(order(&f, NOW, 0), "bga");       /* alpha moves to the end */
	TU_STR(order(&f, NOW + 29, 0), "bga");  /* for its cooldown_s */
	TU_STR(order(&f, NOW + 30, 0), "abg");  /* then it is back */
	TU_STR(order(&f, NOW + 3600, 0), "abg");

	/* Back from a cooldown, one failure is not three. */
	fail_n(&f, 0, 1, NOW + 31);
	TU_STR(order(&f, NOW + 31, 0), "abg");
	fail_n(&f, 0, FAILOVER_STRIKES - 1, NOW + 32);
	TU_STR(order(&f, NOW + 32, 0), "bga");

	/* Two cooling: the healthy one first, the cooling ones after it in
	 * their own order. */
	setup(&f, GW_STRATEGY_FAILOVER);
	fail_n(&f, 1, FAILOVER_STRIKES, NOW);
	fail_n(&f, 0, FAILOVER_STRIKES, NOW + 5);
	TU_STR(order(&f, NOW + 10, 0), "gab");
	TU_STR(order(&f, NOW + 30, 0), "bga"); /* beta is back, alpha until NOW + 35 */
	TU_STR(order(&f, NOW + 35, 0), "abg");

	/* All cooling: all still tried, in order. */
	fail_n(&f, 0, FAILOVER_STRIKES, NOW + 40);
	fail_n(&f, 1, FAILOVER_STRIKES, NOW + 40);
	fail_n(&f, 2, FAILOVER_STRIKES, NOW + 40);
	TU_STR(order(&f, NOW + 41, 0), "abg");
}

static void test_success_clears_strikes(void)
{
	struct fixture f;

	setup(&f, GW_STRATEGY_FAILOVER);
	fail_n(&f, 0, FAILOVER_STRIKES - 1, NOW);
	balance_report(&f.b, &f.u[0], true, NOW);
	fail_n(&f, 0, FAILOVER_STRIKES - 1, NOW);
	TU_STR(order(&f, NOW, 0), "abg"); /* not in a row */
	fail_n(&f, 0, 1, NOW);
	TU_STR(order(&f, NOW, 0), "bga"); /* now three in a row */

	/* Failures of one upstream do not count against another. */
	setup(&f, GW_STRATEGY_FAILOVER);
	fail_n(&f, 0, FAILOVER_STRIKES - 1, NOW);
	fail_n(&f, 1, 1, NOW);
	TU_STR(order(&f, NOW, 0), "abg");
}

static void test_cooldown_zero(void)
{
	struct fixture f;

	setup(&f, GW_STRATEGY_FAILOVER);
	f.u[0].cooldown_s = 0;
	fail_n(&f, 0, 10 * FAILOVER_STRIKES, NOW);
	TU_STR(order(&f, NOW, 0), "abg");
}

static void test_cooldown_with_strategies(void)
{
	struct fixture f;

	/* round_robin keeps rotating; the cooling one goes last. */
	setup(&f, GW_STRATEGY_ROUND_ROBIN);
	fail_n(&f, 1, FAILOVER_STRIKES, NOW);
	TU_STR(order(&f, NOW, 0), "agb");
	TU_STR(order(&f, NOW, 0), "gab");
	TU_STR(order(&f, NOW, 0), "gab"); /* beta's turn, but it cools */
	TU_STR(order(&f, NOW + 30, 0), "abg");

	/* weighted: a pick that cools yields to the next healthy one. */
	setup(&f, GW_STRATEGY_WEIGHTED);
	fail_n(&f, 2, FAILOVER_STRIKES, NOW);
	TU_STR(order(&f, NOW, 5), "abg");
	TU_STR(order(&f, NOW, 1), "bag");

	/* The memory is per upstream name: another route sees it too. */
	{
		struct gw_upstream *other_list[2] = { &f.u[2], &f.u[1] };
		struct gw_route other = f.r;
		const struct gw_upstream *o[2];
		other.upstreams = other_list;
		other.n_upstreams = 2;
		other.strategy = GW_STRATEGY_FAILOVER;
		TU_INT(balance_order(&f.b, &other, NOW, 0, o), 2);
		CU_ASSERT(o[0] == &f.u[1] && o[1] == &f.u[2]);
	}
}

/* More upstreams than the memory holds: the extra ones are never cooled,
 * and nothing breaks. */
static void test_many_upstreams(void)
{
	enum { N = BALANCE_MAX + 6 };
	static struct gw_upstream u[N];
	static struct gw_upstream *list[N];
	static char names[N][16];
	static const struct gw_upstream *o[N];
	struct gw_route r;
	struct balancer b;
	size_t n;

	memset(&b, 0, sizeof(b));
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "u%d", i);
		memset(&u[i], 0, sizeof(u[i]));
		u[i].name = names[i];
		u[i].weight = 1;
		u[i].cooldown_s = 30;
		list[i] = &u[i];
	}
	r.upstreams = list;
	r.n_upstreams = N;
	for (int i = 0; i < N; i++)
		for (int k = 0; k < FAILOVER_STRIKES; k++)
			balance_report(&b, &u[i], false, NOW);
	n = balance_order(&b, &r, NOW, 0, o);
	TU_INT(n, N);
	/* Each upstream exactly once. */
	for (int i = 0; i < N; i++) {
		int seen = 0;
		for (size_t k = 0; k < n; k++)
			seen += o[k] == &u[i];
		TU_INT(seen, 1);
	}
	TU_INT(b.n, BALANCE_MAX);

	r.n_upstreams = 0;
	TU_INT(balance_order(&b, &r, NOW, 0, o), 0);
}

/* ---- model mapping ---- */

static void test_model_map(void)
{
	struct fixture f;
	const char *asked = "unmapped-model";

	setup(&f, GW_STRATEGY_FAILOVER);
	TU_STR(balance_model(&f.u[0], "gpt-4o"), "gpt-4o-2024-08-06");
	/* Whole names only: neither a longer nor a shorter name matches. */
	TU_STR(balance_model(&f.u[0], "gpt-4o-mini"), "gpt-4o-mini");
	TU_STR(balance_model(&f.u[0], "gpt-4"), "gpt-4");
	TU_STR(balance_model(&f.u[0], "GPT-4o"), "GPT-4o");
	TU_STR(balance_model(&f.u[0], ""), "");
	/* Unmapped names come back as they are (the same string). */
	CU_ASSERT_PTR_EQUAL(balance_model(&f.u[0], asked), asked);
	TU_STR(balance_model(&f.u[1], "gpt-4o"), "gpt-4o"); /* beta maps nothing */
	CU_ASSERT_PTR_NULL(balance_model(&f.u[0], NULL));
	/* A target with colons: the entry splits at its first colon. */
	TU_STR(balance_model(&f.u[0], "mini"), "ft:gpt-4o-mini:acme::x1");
	TU_STR(balance_model(&f.u[2], "ft"), "x:y");
	TU_STR(balance_model(&f.u[2], "ft:x"), "ft:x");
	TU_STR(balance_model(&f.u[2], "x:y"), "x:y");
}

void suite_balance(void)
{
	static const struct tu_test tests[] = {
		{ "failover: the listed order", test_failover_order, false },
		{ "round_robin rotates the first", test_round_robin, false },
		{ "weighted: picks in proportion", test_weighted, false },
		{ "cooldown after FAILOVER_STRIKES failures", test_cooldown, false },
		{ "a success clears strikes", test_success_clears_strikes, false },
		{ "cooldown_s = 0 never cools", test_cooldown_zero, false },
		{ "cooldowns with round_robin and weighted", test_cooldown_with_strategies, false },
		{ "more upstreams than BALANCE_MAX", test_many_upstreams, false },
		{ "model_map: whole names, first colon", test_model_map, false },
	};
	tu_register("balance", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
