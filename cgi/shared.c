/* shared.c: the state every worker thread of a responder process shares:
 * the reference-counted policy and its reload, upstream health and the
 * unpriced-model warnings, each behind its own mutex. */
#include "shared.h"
#include "exchange.h"
#include "gw.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Loads the policy files; a valid policy replaces the one in force, whose
 * last holder frees it. Called under reload_mu. */
static void shared_load(struct gw_shared *sh)
{
	struct gw_diag diag = { 0 };
	struct gw_policy *p = policy_load(sh->config_path, &diag);
	struct gw_policy_ref *ref, *old;

	if (p->valid)
		policy_lint(p, &diag);
	for (size_t i = 0; i < diag.n; i++)
		gw_log("%s", diag.msgs[i]);
	diag_free(&diag);
	if (!p->valid) {
		gw_log("policy %s refused; %s", sh->config_path,
		       sh->current ? "the last valid policy stays in force"
				   : "answering 500 until it is fixed");
		policy_free(sh->rejected);
		sh->rejected = p;
		return;
	}
	if (sh->current)
		gw_log("policy %s reloaded", sh->config_path);
	ref = gw_calloc(1, sizeof(*ref));
	ref->policy = p;
	atomic_init(&ref->refs, 1); /* the process's own reference */
	pthread_mutex_lock(&sh->swap_mu);
	old = sh->current;
	sh->current = ref;
	pthread_mutex_unlock(&sh->swap_mu);
	policy_free(sh->rejected);
	sh->rejected = NULL;
	shared_policy_put(old);
}

void shared_refresh(struct gw_shared *sh, time_t now)
{
	if (atomic_load(&sh->checked) == (long long)now)
		return;
	if (pthread_mutex_trylock(&sh->reload_mu) != 0)
		return; /* another thread is at it */
	if (atomic_exchange(&sh->checked, (long long)now) != (long long)now) {
		/* current changes only under reload_mu: reading it here is safe */
		bool changed = sh->rejected ? policy_changed(sh->rejected)
					    : !sh->current || policy_changed(sh->current->policy);
		if (changed)
			shared_load(sh);
	}
	pthread_mutex_unlock(&sh->reload_mu);
}

struct gw_policy_ref *shared_policy_get(struct gw_shared *sh)
{
	struct gw_policy_ref *ref;

	pthread_mutex_lock(&sh->swap_mu);
	ref = sh->current;
	if (ref)
		atomic_fetch_add(&ref->refs, 1);
	pthread_mutex_unlock(&sh->swap_mu);
	return ref;
}

void shared_policy_put(struct gw_policy_ref *ref)
{
	if (!ref || atomic_fetch_sub(&ref->refs, 1) != 1)
		return;
	policy_free(ref->policy);
	free(ref);
}

size_t shared_balance_order(struct gw_shared *sh, const struct gw_route *r, time_t now,
			    unsigned rnd, const struct gw_upstream **out)
{
	size_t n;

	pthread_mutex_lock(&sh->balance_mu);
	n = balance_order(&sh->balancer, r, now, rnd, out);
	pthread_mutex_unlock(&sh->balance_mu);
	return n;
}

void shared_balance_report(struct gw_shared *sh, const struct gw_upstream *u, bool ok,
			   time_t now)
{
	pthread_mutex_lock(&sh->balance_mu);
	balance_report(&sh->balancer, u, ok, now);
	pthread_mutex_unlock(&sh->balance_mu);
}

bool shared_first_unpriced(struct gw_shared *sh, const char *model)
{
	bool first = true;

	pthread_mutex_lock(&sh->unpriced_mu);
	for (size_t i = 0; i < sh->n_unpriced && first; i++)
		first = strcmp(sh->unpriced[i], model) != 0;
	if (first && sh->n_unpriced == SHARED_UNPRICED_MAX)
		first = false; /* warned about enough models: the log has the point */
	else if (first)
		sh->unpriced[sh->n_unpriced++] = gw_strdup(model);
	pthread_mutex_unlock(&sh->unpriced_mu);
	return first;
}

void shared_init(struct gw_shared *sh, const char *config_path)
{
	memset(sh, 0, sizeof(*sh));
	sh->config_path = gw_strdup(config_path ? config_path : gw_default_config());
	pthread_mutex_init(&sh->swap_mu, NULL);
	pthread_mutex_init(&sh->reload_mu, NULL);
	pthread_mutex_init(&sh->balance_mu, NULL);
	pthread_mutex_init(&sh->unpriced_mu, NULL);
	if (getenv("AIGW_TEST_LOCK_HOLD_MS"))
		sh->lock_hold_ms = (unsigned)strtoul(getenv("AIGW_TEST_LOCK_HOLD_MS"), NULL, 10);
	sh->pid = getpid();
	relay_pool_init(&sh->relay_pool);
	atomic_init(&sh->checked, (long long)time(NULL));
	pthread_mutex_lock(&sh->reload_mu);
	shared_load(sh);
	pthread_mutex_unlock(&sh->reload_mu);
}

void shared_free(struct gw_shared *sh)
{
	shared_policy_put(sh->current);
	policy_free(sh->rejected);
	for (size_t i = 0; i < sh->n_unpriced; i++)
		free(sh->unpriced[i]);
	pthread_mutex_destroy(&sh->swap_mu);
	pthread_mutex_destroy(&sh->reload_mu);
	pthread_mutex_destroy(&sh->balance_mu);
	pthread_mutex_destroy(&sh->unpriced_mu);
	relay_pool_free(&sh->relay_pool);
	free(sh->config_path);
	memset(sh, 0, sizeof(*sh));
}
