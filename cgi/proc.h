/* proc.h: what one worker thread of a responder keeps between requests (curl
 * handle, usage log, store) and the process-wide state it shares with the
 * other threads (shared.h). serve.c owns it; the exchange steps read it. */
#ifndef GW_PROC_H
#define GW_PROC_H

#include <stdbool.h>

#include "policy.h"
#include "relay.h"
#include "shared.h"
#include "store.h"
#include "usage.h"

struct gw_proc {
	struct gw_shared *shared;   /* the process's policy, upstream health, counters */
	struct gw_policy_ref *held; /* the policy of the request being served, or NULL */
	struct relay relay;         /* this thread's curl handle (made on first use) */
	struct usage_log usage;     /* this thread's descriptor of the usage log */
	struct gw_store *store;     /* this thread's store handle; NULL until a policy */
	struct gw_policy store_for; /* what store was opened for (state_dir, redis_*) */
	unsigned seed;              /* for weighted upstream picks */
	unsigned reopen_seen;       /* the shared reopen_gen last acted on */
	bool stats_warned;          /* a usage-totals failure is logged until one succeeds */
};

#endif
