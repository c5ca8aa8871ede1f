/* store_bench.c: what one request costs the limit store, file or Redis, in
 * one process: admission (store_take), admission followed by settlement
 * (+ store_settle), and the usage totals (store_record), through store.h.
 *
 * usage: store-bench [-n COUNT] [-r HOST:PORT] DIR
 *
 * DIR is an empty scratch directory for the file store.  Without -r only
 * the file store is measured.  One scope (a consumer) with a request window
 * per minute, a token window per hour and a daily budget, all far from
 * full, so every admission succeeds.  Prints one line per store and step:
 * median, 90th and 99th percentile and mean, in microseconds. */
#include "gw.h"
#include "limit.h"
#include "store.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 200

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *store, const char *step, double *us, int n)
{
	double sum = 0;

	for (int i = 0; i < n; i++)
		sum += us[i];
	qsort(us, (size_t)n, sizeof(*us), cmp_double);
	printf("%-6s %-15s median %8.1f us   p90 %8.1f   p99 %8.1f   mean %8.1f   (n=%d)\n",
	       store, step, us[n / 2], us[n * 9 / 10], us[n * 99 / 100], sum / n, n);
}

enum step { TAKE, TAKE_SETTLE, RECORD, STEPS };
static const char *const step_name[STEPS] = { "admit", "admit+settle", "usage totals" };

/* One run of a step; returns 0, or -1 when the store failed. */
static int run(struct gw_store *s, enum step step, const struct limit_scope *scope)
{
	struct limit_verdict v;
	struct limit_ticket t;
	int64_t now = now_ms();

	if (step == RECORD) {
		struct stats_key k;
		struct stats_values sv = { .requests = 1, .prompt_tokens = 20,
					   .completion_tokens = 30, .cost_pico = 1000 };
		memset(&k, 0, sizeof(k));
		strcpy(k.consumer, "bench");
		strcpy(k.route, "chat");
		strcpy(k.model, "gpt-4o-mini");
		k.status = 200;
		return store_record(s, now, &k, &sv, 800, 200) == GW_OK ? 0 : -1;
	}
	if (store_take(s, scope, 1, now, 50, &v, &t) != GW_OK || !v.admitted)
		return -1;
	if (step == TAKE_SETTLE && store_settle(s, &t, now_ms(), 40, 1000) != GW_OK)
		return -1;
	return 0;
}

static int measure(struct gw_store *s, const struct limit_scope *scope, int n)
{
	double *us = calloc((size_t)n, sizeof(*us));

	if (!us)
		return -1;
	for (int step = 0; step < STEPS; step++) {
		for (int i = 0; i < WARMUP; i++) {
			if (run(s, (enum step)step, scope) < 0) {
				fprintf(stderr, "store-bench: %s store failed (%s)\n",
					s->ops->name, s->err);
				free(us);
				return -1;
			}
		}
		for (int i = 0; i < n; i++) {
			double t0 = mono_us();
			if (run(s, (enum step)step, scope) < 0) {
				fprintf(stderr, "store-bench: %s store failed (%s)\n",
					s->ops->name, s->err);
				free(us);
				return -1;
			}
			us[i] = mono_us() - t0;
		}
		report(s->ops->name, step_name[step], us, n);
	}
	free(us);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: store-bench [-n COUNT] [-r HOST:PORT] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct gw_limits lim;
	struct limit_scope scope;
	struct gw_policy p;
	struct gw_store *s;
	const char *redis = NULL;
	int n = 5000, opt, rc = 0;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 'r')
			redis = optarg;
		else
			usage();
	}
	if (optind != argc - 1 || n < 100)
		usage();

	memset(&lim, 0, sizeof(lim));
	lim.query[GW_WIN_MINUTE] = 1000000000;
	lim.token[GW_WIN_HOUR] = 1000000000000LL;
	lim.budget_day = 1000000000000000LL; /* 1000 USD in pico-USD */
	memset(&scope, 0, sizeof(scope));
	snprintf(scope.file, sizeof(scope.file), "c@bench-%ld", (long)getpid());
	scope.limits = &lim;
	printf("one scope: query_per_minute, token_per_hour, budget_per_day; %d runs per step\n",
	       n);

	memset(&p, 0, sizeof(p));
	p.state_dir = argv[optind];
	p.store_timeout_ms = 1000;
	s = store_open(&p, 0);
	if (measure(s, &scope, n) < 0)
		rc = 1;
	store_close(s);

	if (redis) {
		char host[256];
		const char *colon = strrchr(redis, ':');
		if (!colon || (size_t)(colon - redis) >= sizeof(host))
			usage();
		snprintf(host, sizeof(host), "%.*s", (int)(colon - redis), redis);
		p.redis_host = host;
		p.redis_port = atoi(colon + 1);
		s = store_open(&p, 0);
		if (measure(s, &scope, n) < 0)
			rc = 1;
		store_close(s);
	}
	return rc;
}
