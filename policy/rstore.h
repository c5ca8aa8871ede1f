/* rstore.h: the Redis store (store = redis://HOST:PORT/DB): the same request
 * and token windows, reservations, budgets and usage totals as the file store
 * (limit.h, stats.h), shared by gateways on several machines. Each admission
 * is one atomic server-side step (a Lua script), so a window admits exactly
 * its limit across every process of every machine. One connection per
 * process; every call is bounded by the store timeout. */
#ifndef GW_RSTORE_H
#define GW_RSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "limit.h"
#include "stats.h"

struct redisContext;

struct rstore {
	struct redisContext *ctx; /* NULL while disconnected */
	char *host;
	int port;
	int db;
	long timeout_ms;
	char sha_admit[41], sha_settle[41], sha_stats[41];
	int64_t retry_at_ms; /* after a failure, fail fast until then */
	char err[160];       /* the last failure, for the error log */
};

void rstore_init(struct rstore *r, const char *host, int port, int db, long timeout_ms);
void rstore_close(struct rstore *r);

/* As limit_take. Returns GW_OK, or GW_EIO when Redis cannot be used (r->err
 * says why). */
int rstore_take(struct rstore *r, const struct limit_scope *scopes, size_t n, int64_t now_ms,
		long long estimate, struct limit_verdict *v, struct limit_ticket *t);

/* As limit_settle. */
int rstore_settle(struct rstore *r, struct limit_ticket *t, int64_t now_ms, long long actual,
		  int64_t cost_pico);

/* Deletes every window of a consumer; returns the number of keys or -1. */
long rstore_reset_consumer(struct rstore *r, const char *consumer);

/* As stats_record. */
int rstore_record(struct rstore *r, int64_t now_ms, const struct stats_key *k,
		  const struct stats_values *v, int64_t upstream_us, int64_t overhead_us);

/* The rows of "total" or a day ("day-YYYYMMDD"), as stats_snapshot. NULL
 * when Redis cannot be used. */
struct stats_row *rstore_rows(struct rstore *r, const char *name, size_t *n,
			      struct stats_header *h);

#endif
