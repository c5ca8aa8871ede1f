/* alert.c: budget alerts, claimed once in the store and run detached. */
#include "alert.h"
#include "gw.h"
#include "stats.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A claim outlives the longest period (a month) by a margin. */
#define ALERT_CLAIM_TTL_MS (40LL * 86400 * 1000)

unsigned alert_reached(const struct gw_policy *p, int64_t spent, int64_t limit)
{
	unsigned bits = 0;

	if (spent < 0 || limit <= 0)
		return 0;
	for (size_t i = 0; i < p->n_alert_at && i < 32; i++)
		if ((__int128)spent * 100 >= (__int128)limit * p->alert_at[i])
			bits |= 1u << i;
	return bits;
}

bool alert_key(const char *consumer, const char *budget, int64_t now_ms, int percent, char *out,
	       size_t size)
{
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	char period[16];
	int n;

	gmtime_r(&t, &tm);
	strftime(period, sizeof(period), budget[0] == 'd' ? "%Y%m%d" : "%Y%m", &tm);
	n = snprintf(out, size, "alert:%s:%s:%s:%d", consumer, budget, period, percent);
	return n > 0 && (size_t)n < size;
}

int alert_run(const char *cmd, const struct usage_alert *a)
{
	char consumer[192], budget[32], percent[32], spent[64], limit[64];
	char path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char usd[40];
	char *envp[] = { consumer, budget, percent, spent, limit, path, NULL };
	char *argv[] = { (char *)cmd, NULL };
	pid_t pid;
	int status;

	/* everything the child needs is built before fork: after it, only
	 * async-signal-safe calls (the process may have other threads) */
	snprintf(consumer, sizeof(consumer), "AIGW_CONSUMER=%s", a->consumer);
	snprintf(budget, sizeof(budget), "AIGW_BUDGET=%s", a->budget);
	snprintf(percent, sizeof(percent), "AIGW_PERCENT=%d", a->percent);
	stats_format_usd(a->spent_pico, usd);
	snprintf(spent, sizeof(spent), "AIGW_SPENT_USD=%s", usd);
	stats_format_usd(a->limit_pico, usd);
	snprintf(limit, sizeof(limit), "AIGW_LIMIT_USD=%s", usd);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* the middle process exits at once, so the command is reparented
		 * and nobody here has to reap it */
		if (fork() == 0) {
			int null = open("/dev/null", O_RDWR);
			if (null >= 0) {
				dup2(null, 0);
				dup2(null, 1);
			}
			setsid();
			execve(cmd, argv, envp);
			_exit(127);
		}
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	return 0;
}

/* Claims and fires one budget's reached thresholds. */
static int fire_budget(const struct alert_spend *s, const char *budget, int64_t spent,
		       int64_t limit, struct gw_store *store, struct usage_log *log,
		       const char **err)
{
	const struct gw_policy *p = s->policy;
	unsigned bits = alert_reached(p, spent, limit);
	int fired = 0;

	for (size_t i = 0; bits; i++, bits >>= 1) {
		char key[256];
		bool first = false;
		struct usage_alert a;

		if (!(bits & 1) ||
		    !alert_key(s->consumer->name, budget, s->now_ms, p->alert_at[i], key, sizeof(key)))
			continue;
		if (store_claim(store, key, ALERT_CLAIM_TTL_MS, &first) != GW_OK) {
			*err = store->err;
			continue;
		}
		if (!first)
			continue;
		memset(&a, 0, sizeof(a));
		a.ts.tv_sec = (time_t)(s->now_ms / 1000);
		a.ts.tv_nsec = (long)(s->now_ms % 1000) * 1000000L;
		a.consumer = s->consumer->name;
		a.budget = budget;
		a.percent = p->alert_at[i];
		a.spent_pico = spent;
		a.limit_pico = limit;
		usage_log_alert(log, &a);
		if (p->alert_command && alert_run(p->alert_command, &a) < 0)
			*err = "cannot start alert_command";
		fired++;
	}
	return fired;
}

int alert_check(const struct alert_spend *s, struct gw_store *store, struct usage_log *log,
		const char **err)
{
	const struct gw_limits *l;
	int fired = 0;

	*err = NULL;
	if (!s->consumer || s->policy->n_alert_at == 0)
		return 0;
	l = &s->consumer->limits;
	if (s->spent_day >= 0 && l->budget_day > 0)
		fired += fire_budget(s, "day", s->spent_day, l->budget_day, store, log, err);
	if (s->spent_month >= 0 && l->budget_month > 0)
		fired += fire_budget(s, "month", s->spent_month, l->budget_month, store, log, err);
	return fired;
}
