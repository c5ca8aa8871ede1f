/* serve.h: the responder core shared by aigw.fcgi and aigw.cgi: per-process
 * state and the request pipeline route -> auth -> allow -> block -> limit ->
 * relay -> account. */
#ifndef GW_SERVE_H
#define GW_SERVE_H

#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "balance.h"
#include "io.h"
#include "limit.h"
#include "stats.h"
#include "policy.h"
#include "relay.h"
#include "rstore.h"
#include "usage.h"

/* What one process keeps between requests. */
struct gw_proc {
	char *config_path;
	struct gw_policy *policy;   /* last valid policy, or NULL */
	struct gw_policy *rejected; /* last invalid load, kept for its file stamps */
	time_t checked;             /* last time the policy files were stat'ed */
	struct relay relay;
	struct usage_log usage;
	struct limit_store limits;
	struct stats_store stats;
	struct rstore redis;        /* store = redis://...: used instead of limits and stats */
	bool has_redis;
	struct balancer balancer;   /* upstream health seen by this process */
	unsigned seed;              /* for weighted upstream picks */
	pid_t pid;
	bool stats_warned;
	char *unpriced[32];         /* models already warned about (no price) */
	size_t n_unpriced;
	unsigned lock_hold_ms;      /* test hook, from AIGW_TEST_LOCK_HOLD_MS */
	unsigned long long served;
	volatile sig_atomic_t *reopen_logs; /* set by SIGHUP, or NULL */
};

/* Sets up the process: curl handle, first policy load (errors go to stderr).
 * Returns 0, or -1 when curl cannot start (a missing policy is not fatal:
 * requests get 500 until it becomes valid). */
int proc_init(struct gw_proc *proc, const char *config_path);

/* Re-reads the policy when its files changed; checks at most once a second. */
void proc_refresh_policy(struct gw_proc *proc, time_t now);

/* Serves one request on io. Never exits; errors become answers and log lines. */
void serve(struct gw_proc *proc, struct gw_io *io);

void proc_free(struct gw_proc *proc);

#endif
