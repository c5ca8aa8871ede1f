/* proc.h: what one responder process keeps between requests (policy, curl
 * handle, usage log, store, upstream health). serve.c owns it; the exchange
 * steps read it. */
#ifndef GW_PROC_H
#define GW_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "balance.h"
#include "policy.h"
#include "relay.h"
#include "store.h"
#include "usage.h"

struct gw_proc {
	char *config_path;
	struct gw_policy *policy;   /* last valid policy, or NULL */
	struct gw_policy *rejected; /* last invalid load, kept for its file stamps */
	time_t checked;             /* last time the policy files were stat'ed */
	struct relay relay;
	struct usage_log usage;
	struct gw_store *store;     /* windows, budgets and usage totals; NULL without a policy */
	struct balancer balancer;   /* upstream health seen by this process */
	unsigned seed;              /* for weighted upstream picks */
	pid_t pid;
	bool stats_warned;          /* a usage-totals failure is logged until one succeeds */
	char *unpriced[32];         /* models already warned about (no price) */
	size_t n_unpriced;
	unsigned lock_hold_ms;      /* test hook, from AIGW_TEST_LOCK_HOLD_MS */
	unsigned long long served;
	volatile sig_atomic_t *reopen_logs; /* set by SIGHUP, or NULL */
};

#endif
