/* store.h: what every request shares with every other (windows, budgets,
 * usage totals), behind one interface with two backends: the file store in
 * state_dir (file locks and mapped tables) and the Redis store. Nothing
 * outside the stores asks which one it has. */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limit.h"
#include "policy.h"
#include "stats.h"

struct gw_store;

/* A held in-flight slot; owned by the request that took it, and kept where
 * it was taken until released (the Redis store keeps its address, to move
 * it over to a new connection after a reconnect). */
struct store_slot {
	bool held;
	int fd;          /* file store: the locked slot file; -1 otherwise */
	char id[96];     /* Redis store: the member naming this holder */
	char scope[160];
};

/* One backend. Every operation returns GW_OK or a gw_err (GW_EIO, GW_ELOCK)
 * and leaves a one-line description of a failure in s->err. */
struct gw_store_ops {
	const char *name; /* "file" or "redis" */

	/* Admits (or refuses) a request in every scope at once, reserving
	 * estimate tokens; on admission t holds the reservation. */
	int (*take)(struct gw_store *s, const struct limit_scope *scopes, size_t n, int64_t now_ms,
		    long long estimate, struct limit_verdict *v, struct limit_ticket *t);

	/* Settles t with the upstream's total tokens (actual < 0: release the
	 * reservation only) and adds cost_pico to the budgets. */
	int (*settle)(struct gw_store *s, struct limit_ticket *t, int64_t now_ms, long long actual,
		      int64_t cost_pico);

	/* Adds one finished request to the usage totals (all-time and its day).
	 * upstream_us < 0: no upstream call. */
	int (*record)(struct gw_store *s, int64_t now_ms, const struct stats_key *k,
		      const struct stats_values *v, int64_t upstream_us, int64_t overhead_us);

	/* The rows of "total" or of a day ("day-YYYYMMDD", see stats_day_name),
	 * in a new array the caller frees; *h (when not NULL) gets the header.
	 * A table that does not exist yet is GW_OK with *n = 0 and NULL rows. */
	int (*rows)(struct gw_store *s, const char *name, struct stats_row **rows, size_t *n,
		    struct stats_header *h);

	/* Clears every window of a consumer; *cleared gets how many scopes. */
	int (*reset)(struct gw_store *s, const char *consumer, long *cleared);

	/* Marks key done for ttl_ms; *first is true for exactly one caller
	 * across every process and gateway sharing the store (alerts). */
	int (*claim)(struct gw_store *s, const char *key, int64_t ttl_ms, bool *first);

	/* Remembers value under key for ttl_ms (response ids: their consumer
	 * and upstream), and reads it back: GW_ENOTFOUND when unknown or expired. */
	int (*put)(struct gw_store *s, const char *key, const char *value, int64_t ttl_ms);
	int (*get)(struct gw_store *s, const char *key, char *value, size_t size);

	/* Takes one of limit in-flight slots of scope (max_parallel): *admitted
	 * false when all are held. A slot is freed by slot_release, or when its
	 * process dies (a killed process leaks no slot). */
	int (*slot_take)(struct gw_store *s, const char *scope, long long limit,
			 struct store_slot *slot, bool *admitted);
	void (*slot_release)(struct gw_store *s, struct store_slot *slot);
	/* How many slots of scope are held now (for aigw_in_flight). */
	int (*slot_count)(struct gw_store *s, const char *scope, long long *held);

	/* Frees the backend's state (the gw_store itself included). */
	void (*close)(struct gw_store *s);
};

struct gw_store {
	const struct gw_store_ops *ops;
	void *impl;          /* the backend's own state */
	char err[160];       /* the last failure, for the error log */
	char note[160];      /* a problem the store repaired (a damaged file rebuilt),
				for the caller to log once and clear; "" when none */
};

/* Opens the store a policy names: Redis when p->redis_host is set, else the
 * file store in p->state_dir. Never fails: a store that cannot be reached
 * fails its operations (and the caller applies store_failure). hold_ms is a
 * test hook (sleep while holding a lock; file store only). The caller closes
 * it with store_close. */
struct gw_store *store_open(const struct gw_policy *p, unsigned hold_ms);

/* True when the store opened for `was` serves policy p as well (same
 * state_dir and Redis address), so a reload can keep it. */
bool store_serves(const struct gw_policy *was, const struct gw_policy *p);

void store_close(struct gw_store *s);

/* Thin calls through the ops, for readability at call sites. */
static inline int store_take(struct gw_store *s, const struct limit_scope *scopes, size_t n,
			     int64_t now_ms, long long estimate, struct limit_verdict *v,
			     struct limit_ticket *t)
{
	return s->ops->take(s, scopes, n, now_ms, estimate, v, t);
}

static inline int store_settle(struct gw_store *s, struct limit_ticket *t, int64_t now_ms,
			       long long actual, int64_t cost_pico)
{
	return s->ops->settle(s, t, now_ms, actual, cost_pico);
}

static inline int store_record(struct gw_store *s, int64_t now_ms, const struct stats_key *k,
			       const struct stats_values *v, int64_t upstream_us,
			       int64_t overhead_us)
{
	return s->ops->record(s, now_ms, k, v, upstream_us, overhead_us);
}

static inline int store_rows(struct gw_store *s, const char *name, struct stats_row **rows,
			     size_t *n, struct stats_header *h)
{
	return s->ops->rows(s, name, rows, n, h);
}

static inline int store_reset(struct gw_store *s, const char *consumer, long *cleared)
{
	return s->ops->reset(s, consumer, cleared);
}

/* Keys and scopes below may hold any bytes but NUL (a client's response id
 * among them): the file store escapes or hashes them into file names, the
 * Redis store prefixes them "aigw:". A ttl is bounded to [1 ms, 400 days];
 * a value to 4096 bytes (GW_ETOOBIG beyond). A slot limit <= 0 admits
 * nothing; limits are bounded to 4096 slots. */
static inline int store_claim(struct gw_store *s, const char *key, int64_t ttl_ms, bool *first)
{
	return s->ops->claim(s, key, ttl_ms, first);
}

static inline int store_put(struct gw_store *s, const char *key, const char *value,
			    int64_t ttl_ms)
{
	return s->ops->put(s, key, value, ttl_ms);
}

static inline int store_get(struct gw_store *s, const char *key, char *value, size_t size)
{
	return s->ops->get(s, key, value, size);
}

static inline int store_slot_take(struct gw_store *s, const char *scope, long long limit,
				  struct store_slot *slot, bool *admitted)
{
	return s->ops->slot_take(s, scope, limit, slot, admitted);
}

static inline void store_slot_release(struct gw_store *s, struct store_slot *slot)
{
	s->ops->slot_release(s, slot);
}

static inline int store_slot_count(struct gw_store *s, const char *scope, long long *held)
{
	return s->ops->slot_count(s, scope, held);
}

#endif
