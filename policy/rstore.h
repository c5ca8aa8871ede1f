/* rstore.h: the former Redis store calls, kept as thin wrappers over the
 * Redis backend of store.h until every caller uses store.h; new code uses
 * store_open and the store_* calls. */
#ifndef GW_RSTORE_H
#define GW_RSTORE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "store.h"
#include "store_impl.h"

struct rstore {
	struct gw_store *store;
	char *host;
	int port;
	int db;
	char err[160]; /* the last failure, for the error log */
};

static inline void rstore_init(struct rstore *r, const char *host, int port, int db,
			       long timeout_ms)
{
	memset(r, 0, sizeof(*r));
	r->store = store_redis_open(host, port, db, timeout_ms);
	r->host = gw_strdup(host);
	r->port = port;
	r->db = db;
}

static inline void rstore_close(struct rstore *r)
{
	store_close(r->store);
	free(r->host);
	memset(r, 0, sizeof(*r));
}

static inline int rstore_result(struct rstore *r, int rc)
{
	if (rc != GW_OK)
		snprintf(r->err, sizeof(r->err), "%s", r->store->err);
	return rc;
}

static inline int rstore_take(struct rstore *r, const struct limit_scope *scopes, size_t n,
			      int64_t now_ms, long long estimate, struct limit_verdict *v,
			      struct limit_ticket *t)
{
	return rstore_result(r, store_take(r->store, scopes, n, now_ms, estimate, v, t));
}

static inline int rstore_settle(struct rstore *r, struct limit_ticket *t, int64_t now_ms,
				long long actual, int64_t cost_pico)
{
	return rstore_result(r, store_settle(r->store, t, now_ms, actual, cost_pico));
}

static inline int rstore_record(struct rstore *r, int64_t now_ms, const struct stats_key *k,
				const struct stats_values *v, int64_t upstream_us,
				int64_t overhead_us)
{
	return rstore_result(r, store_record(r->store, now_ms, k, v, upstream_us, overhead_us));
}

static inline struct stats_row *rstore_rows(struct rstore *r, const char *name, size_t *n,
					    struct stats_header *h)
{
	struct stats_row *rows = NULL;

	if (rstore_result(r, store_rows(r->store, name, &rows, n, h)) != GW_OK)
		*n = 0;
	return rows;
}

#endif
