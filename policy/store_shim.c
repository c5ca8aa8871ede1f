/* store_shim.c: store.h over the limit, stats and rstore modules as they
 * are, until the file and Redis stores implement it themselves. */
#include "store.h"
#include "gw.h"
#include "rstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct shim {
	bool redis;
	char *dir;
	struct limit_store limits;
	struct stats_store stats;
	struct rstore r;
};

static struct shim *impl(struct gw_store *s)
{
	return s->impl;
}

static int fail_file(struct gw_store *s, int rc, const char *what)
{
	snprintf(s->err, sizeof(s->err), "%s %s: %s: %s", what, impl(s)->dir, gw_strerror(rc),
		 strerror(errno));
	return rc;
}

static int fail_redis(struct gw_store *s)
{
	snprintf(s->err, sizeof(s->err), "%s", impl(s)->r.err);
	return GW_EIO;
}

static int shim_take(struct gw_store *s, const struct limit_scope *scopes, size_t n,
		     int64_t now_ms, long long estimate, struct limit_verdict *v,
		     struct limit_ticket *t)
{
	struct shim *m = impl(s);
	bool damaged = false;
	int rc;

	if (m->redis)
		return rstore_take(&m->r, scopes, n, now_ms, estimate, v, t) == GW_OK
			       ? GW_OK
			       : fail_redis(s);
	rc = limit_take(&m->limits, scopes, n, now_ms, estimate, v, t, &damaged);
	if (damaged)
		snprintf(s->note, sizeof(s->note),
			 "state file for %.40s in %.40s was damaged; rebuilt with its windows full",
			 scopes[0].file, m->dir);
	return rc == GW_OK ? GW_OK : fail_file(s, rc, "rate-limit store");
}

static int shim_settle(struct gw_store *s, struct limit_ticket *t, int64_t now_ms,
		       long long actual, int64_t cost_pico)
{
	struct shim *m = impl(s);
	int rc;

	if (m->redis)
		return rstore_settle(&m->r, t, now_ms, actual, cost_pico) == GW_OK ? GW_OK
											: fail_redis(s);
	rc = limit_settle(&m->limits, t, now_ms, actual, cost_pico);
	return rc == GW_OK ? GW_OK : fail_file(s, rc, "cannot settle tokens in");
}

static int shim_record(struct gw_store *s, int64_t now_ms, const struct stats_key *k,
		       const struct stats_values *v, int64_t upstream_us, int64_t overhead_us)
{
	struct shim *m = impl(s);
	bool rebuilt = false;
	int rc;

	if (m->redis)
		return rstore_record(&m->r, now_ms, k, v, upstream_us, overhead_us) == GW_OK
			       ? GW_OK
			       : fail_redis(s);
	rc = stats_record(&m->stats, now_ms, k, v, upstream_us, overhead_us, &rebuilt);
	if (rebuilt)
		snprintf(s->note, sizeof(s->note),
			 "a usage totals file in %.60s was damaged; it was moved aside and started anew",
			 m->dir);
	return rc == 0 ? GW_OK : fail_file(s, GW_EIO, "cannot update the usage totals in");
}

static int shim_rows(struct gw_store *s, const char *name, struct stats_row **rows, size_t *n,
		     struct stats_header *h)
{
	struct shim *m = impl(s);
	struct stats_file f;

	*rows = NULL;
	*n = 0;
	if (m->redis) {
		*rows = rstore_rows(&m->r, name, n, h);
		return *rows ? GW_OK : fail_redis(s);
	}
	if (stats_open_read(m->dir, name, &f) < 0)
		return GW_OK; /* not written yet (or damaged: rebuilt on the next record) */
	*rows = stats_snapshot(&f, n, h);
	stats_file_close(&f);
	return GW_OK;
}

static int shim_reset(struct gw_store *s, const char *consumer, long *cleared)
{
	struct shim *m = impl(s);

	*cleared = m->redis ? rstore_reset_consumer(&m->r, consumer)
			    : limit_reset_consumer(m->dir, consumer);
	if (*cleared >= 0)
		return GW_OK;
	return m->redis ? fail_redis(s) : fail_file(s, GW_EIO, "cannot reset windows in");
}

static int shim_claim(struct gw_store *s, const char *key, int64_t ttl_ms, bool *first)
{
	(void)key;
	(void)ttl_ms;
	*first = false;
	snprintf(s->err, sizeof(s->err), "claim: not implemented");
	return GW_EIO;
}

static int shim_put(struct gw_store *s, const char *key, const char *value, int64_t ttl_ms)
{
	(void)key;
	(void)value;
	(void)ttl_ms;
	snprintf(s->err, sizeof(s->err), "put: not implemented");
	return GW_EIO;
}

static int shim_get(struct gw_store *s, const char *key, char *value, size_t size)
{
	(void)key;
	if (size)
		value[0] = '\0';
	snprintf(s->err, sizeof(s->err), "get: not implemented");
	return GW_EIO;
}

static int shim_slot_take(struct gw_store *s, const char *scope, long long limit,
			  struct store_slot *slot, bool *admitted)
{
	(void)scope;
	(void)limit;
	memset(slot, 0, sizeof(*slot));
	slot->fd = -1;
	*admitted = false;
	snprintf(s->err, sizeof(s->err), "slot_take: not implemented");
	return GW_EIO;
}

static void shim_slot_release(struct gw_store *s, struct store_slot *slot)
{
	(void)s;
	slot->held = false;
}

static int shim_slot_count(struct gw_store *s, const char *scope, long long *held)
{
	(void)scope;
	*held = 0;
	snprintf(s->err, sizeof(s->err), "slot_count: not implemented");
	return GW_EIO;
}

static void shim_close(struct gw_store *s)
{
	struct shim *m = impl(s);

	if (m->redis)
		rstore_close(&m->r);
	limit_store_close(&m->limits);
	stats_store_close(&m->stats);
	free(m->dir);
	free(m);
	free(s);
}

static const struct gw_store_ops shim_file_ops = {
	"file",	      shim_take,      shim_settle,	 shim_record,	    shim_rows,
	shim_reset,   shim_claim,     shim_put,		 shim_get,	    shim_slot_take,
	shim_slot_release, shim_slot_count, shim_close,
};

static const struct gw_store_ops shim_redis_ops = {
	"redis",      shim_take,      shim_settle,	 shim_record,	    shim_rows,
	shim_reset,   shim_claim,     shim_put,		 shim_get,	    shim_slot_take,
	shim_slot_release, shim_slot_count, shim_close,
};

struct gw_store *store_open(const struct gw_policy *p, unsigned hold_ms)
{
	struct gw_store *s = gw_calloc(1, sizeof(*s));
	struct shim *m = gw_calloc(1, sizeof(*m));

	m->dir = gw_strdup(p->state_dir ? p->state_dir : "");
	limit_store_init(&m->limits, m->dir);
	m->limits.hold_ms = hold_ms;
	stats_store_init(&m->stats, m->dir);
	if (p->redis_host) {
		m->redis = true;
		rstore_init(&m->r, p->redis_host, p->redis_port, p->redis_db,
			    (long)p->store_timeout_ms);
	}
	s->impl = m;
	s->ops = m->redis ? &shim_redis_ops : &shim_file_ops;
	return s;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool store_serves(const struct gw_policy *was, const struct gw_policy *p)
{
	return was && p && same(was->state_dir, p->state_dir) &&
	       same(was->redis_host, p->redis_host) &&
	       (!p->redis_host || (was->redis_port == p->redis_port &&
				   was->redis_db == p->redis_db &&
				   was->store_timeout_ms == p->store_timeout_ms));
}

void store_close(struct gw_store *s)
{
	if (s)
		s->ops->close(s);
}
