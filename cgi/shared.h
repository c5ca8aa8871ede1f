/* shared.h: what every worker thread of one responder process shares: the
 * policy in force (reference-counted and swapped whole on reload, so a
 * request keeps the policy it started with), upstream health, the
 * unpriced-model warnings, the served counter and the signal flags.
 * proc.h's struct gw_proc is one thread's own state. */
#ifndef GW_SHARED_H
#define GW_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "balance.h"
#include "policy.h"
#include "relay.h"

/* A policy and the number of holders: the process (while it is in force)
 * and each request that started with it. The last holder frees it. */
struct gw_policy_ref {
	struct gw_policy *policy;
	atomic_int refs;
};

#define SHARED_UNPRICED_MAX 32

struct gw_shared {
	char *config_path;
	pthread_mutex_t swap_mu;       /* guards current: taking a reference, swapping */
	struct gw_policy_ref *current; /* the last valid policy, or NULL */
	pthread_mutex_t reload_mu;     /* one reload at a time; guards rejected */
	struct gw_policy *rejected;    /* the last invalid load, kept for its file stamps */
	atomic_llong checked;          /* last second the policy files were stat'ed */
	pthread_mutex_t balance_mu;
	struct balancer balancer;      /* upstream health seen by this process */
	pthread_mutex_t unpriced_mu;
	char *unpriced[SHARED_UNPRICED_MAX]; /* models already warned about (no price) */
	size_t n_unpriced;
	atomic_ullong served;
	pid_t pid;
	unsigned lock_hold_ms;         /* test hook, from AIGW_TEST_LOCK_HOLD_MS */
	atomic_uint reopen_gen;        /* bumped by SIGHUP: reopen the usage logs */
	atomic_bool stopping;          /* SIGTERM: accept nothing more */
	struct relay_pool relay_pool;  /* what the threads' curl handles share */
};

/* Sets the process up and loads the first policy (errors go to stderr; a
 * missing or invalid policy is not fatal: requests get 500 until it is
 * fixed). */
void shared_init(struct gw_shared *sh, const char *config_path);

/* Re-reads the policy when its files changed: at most once a second, by one
 * thread at a time (the others go on with the policy in force). */
void shared_refresh(struct gw_shared *sh, time_t now);

/* A reference to the policy in force (NULL when none is valid); give it
 * back with shared_policy_put. */
struct gw_policy_ref *shared_policy_get(struct gw_shared *sh);
void shared_policy_put(struct gw_policy_ref *ref);

/* balance_order and balance_report (balance.h) on the process's balancer. */
size_t shared_balance_order(struct gw_shared *sh, const struct gw_route *r, time_t now,
			    unsigned rnd, const struct gw_upstream **out);
void shared_balance_report(struct gw_shared *sh, const struct gw_upstream *u, bool ok,
			   time_t now);

/* True exactly once per model (and for at most SHARED_UNPRICED_MAX models):
 * the caller warns that it has no price. */
bool shared_first_unpriced(struct gw_shared *sh, const char *model);

void shared_free(struct gw_shared *sh);

#endif
