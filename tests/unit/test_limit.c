/* test_limit.c: CUnit suite for policy/limit.c: window arithmetic, admission,
 * reservations, damaged state files, exactness across processes, and the
 * day and month budgets. */
#include "gw.h"
#include "limit.h"
#include "suites.h"
#include "testutil.h"

#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* 2026-11-26T00:00:00Z in ms */
#define DAY0 1795651200000LL

static char tmpdir[64];

static void make_tmp(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/aigw-limit-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpdir));
}

static void remove_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_window_boundaries(void)
{
	int64_t s, e;

	limit_window(GW_WIN_MINUTE, DAY0 + 59999, &s, &e);
	CU_ASSERT_EQUAL(s, DAY0);
	CU_ASSERT_EQUAL(e, DAY0 + 60000);
	limit_window(GW_WIN_MINUTE, DAY0 + 60000, &s, &e);
	CU_ASSERT_EQUAL(s, DAY0 + 60000);
	limit_window(GW_WIN_SECOND, DAY0 + 999, &s, &e);
	CU_ASSERT_EQUAL(s, DAY0);
	CU_ASSERT_EQUAL(e, DAY0 + 1000);
	limit_window(GW_WIN_HOUR, DAY0 + 3600000 - 1, &s, &e);
	CU_ASSERT_EQUAL(s, DAY0);
	/* midnight UTC: the last ms of a day and the first of the next */
	limit_window(GW_WIN_DAY, DAY0 - 1, &s, &e);
	CU_ASSERT_EQUAL(s, DAY0 - 86400000LL);
	CU_ASSERT_EQUAL(e, DAY0);
	limit_window(GW_WIN_DAY, DAY0, &s, &e);
	CU_ASSERT_EQUAL(s, DAY0);
	CU_ASSERT_EQUAL(e, DAY0 + 86400000LL);
}

static void test_admit_query_window(void)
{
	struct limit_counters c;
	struct gw_limits l;
	struct limit_verdict v;
	int admitted = 0;

	memset(&c, 0, sizeof(c));
	memset(&l, 0, sizeof(l));
	l.query[GW_WIN_MINUTE] = 3;
	for (int i = 0; i < 5; i++) {
		memset(&v, 0, sizeof(v));
		admitted += limit_admit(&c, &l, DAY0 + 1000 + i, 0, &v);
	}
	CU_ASSERT_EQUAL(admitted, 3);
	CU_ASSERT_FALSE(v.admitted);
	CU_ASSERT_EQUAL(v.remaining, 0);
	CU_ASSERT_EQUAL(v.limit, 3);
	CU_ASSERT_EQUAL(v.retry_after_s, 59);
	/* 59.999 s into the window: still full; at 60.000 s a new window */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, DAY0 + 59999, 0, &v));
	CU_ASSERT_EQUAL(v.retry_after_s, 1);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, DAY0 + 60000, 0, &v));
	CU_ASSERT_EQUAL(v.remaining, 2);
}

static void test_several_windows(void)
{
	struct limit_counters c;
	struct gw_limits l;
	struct limit_verdict v;

	memset(&c, 0, sizeof(c));
	memset(&l, 0, sizeof(l));
	l.query[GW_WIN_SECOND] = 2;
	l.query[GW_WIN_HOUR] = 3;
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, DAY0, 0, &v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, DAY0 + 1, 0, &v));
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, DAY0 + 2, 0, &v)); /* second full */
	CU_ASSERT_EQUAL(c.query[GW_WIN_HOUR].used, 2);         /* refused: counted nowhere */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, DAY0 + 1000, 0, &v));
	CU_ASSERT_EQUAL(v.remaining, 0); /* the hour is the tightest now */
	CU_ASSERT_EQUAL(v.limit, 3);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, DAY0 + 2000, 0, &v)); /* hour full */
	CU_ASSERT_EQUAL(v.retry_after_s, 3598);
	CU_ASSERT_EQUAL(c.query[GW_WIN_SECOND].used, 0);
}

static void test_reserve_settle_release(void)
{
	struct limit_counters c;
	struct gw_limits l;
	struct limit_verdict v;

	memset(&c, 0, sizeof(c));
	memset(&l, 0, sizeof(l));
	l.token[GW_WIN_MINUTE] = 100;
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, DAY0, 60, &v));
	CU_ASSERT_EQUAL(c.token[GW_WIN_MINUTE].reserved, 60);
	CU_ASSERT_TRUE(v.by_tokens);
	CU_ASSERT_EQUAL(v.remaining, 40);
	/* a second request in flight is admitted (60 < 100), a third is not */
	CU_ASSERT_TRUE(limit_admit(&c, &l, DAY0 + 1, 60, &v));
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, DAY0 + 2, 60, &v));
	CU_ASSERT_TRUE(v.by_tokens);
	/* the first settles at 10 tokens, the second fails and releases */
	limit_settle_counters(&c, &l, DAY0, DAY0 + 10, 60, 10, 0);
	limit_settle_counters(&c, &l, DAY0 + 1, DAY0 + 11, 60, -1, 0);
	CU_ASSERT_EQUAL(c.token[GW_WIN_MINUTE].used, 10);
	CU_ASSERT_EQUAL(c.token[GW_WIN_MINUTE].reserved, 0);
	/* sequential: admit while used < limit */
	limit_admit(&c, &l, DAY0 + 20, 5, &v);
	limit_settle_counters(&c, &l, DAY0 + 20, DAY0 + 21, 5, 95, 0);
	CU_ASSERT_EQUAL(c.token[GW_WIN_MINUTE].used, 105);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, DAY0 + 30, 5, &v));
	/* a reservation made in the previous window settles into the new one */
	limit_admit(&c, &l, DAY0 + 60000, 5, &v);
	limit_settle_counters(&c, &l, DAY0 + 59000, DAY0 + 60001, 5, 7, 0);
	CU_ASSERT_EQUAL(c.token[GW_WIN_MINUTE].used, 7);
	CU_ASSERT_EQUAL(c.token[GW_WIN_MINUTE].reserved, 5);
}

static struct gw_consumer *consumer(const char *name, long long per_hour)
{
	static struct gw_consumer c;
	memset(&c, 0, sizeof(c));
	c.name = (char *)name;
	c.limits.query[GW_WIN_HOUR] = per_hour;
	return &c;
}

static void test_store_take_and_reset(void)
{
	struct limit_store s;
	struct limit_scope sc[2];
	struct limit_verdict v;
	struct limit_ticket t;
	struct stat sb;
	char path[128];
	bool damaged;
	int admitted = 0;

	make_tmp();
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	limit_store_init(&s, path);
	CU_ASSERT_EQUAL(limit_scopes(NULL, consumer("alice", 2), sc), 1);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + i, 0, &v, &t, &damaged), GW_OK);
		admitted += v.admitted;
	}
	CU_ASSERT_EQUAL(admitted, 2);
	CU_ASSERT_FALSE(damaged);
	snprintf(path, sizeof(path), "%s/state/c@alice", tmpdir);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(limit_reset_consumer(s.dir, "alice"), 1);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 10, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(v.admitted);
	limit_store_close(&s);
	remove_tmp();
}

/* Damages the state file in several ways; each must be detected and rebuilt
 * with the windows full (never a fresh allowance), and never crash. */
static void test_damaged_files(void)
{
	static const char *const damage[] = { "truncate", "garbage", "flip" };
	struct limit_store s;
	struct limit_scope sc[2];
	struct limit_verdict v;
	struct limit_ticket t;
	char path[128];
	bool damaged;

	for (size_t k = 0; k < 3; k++) {
		make_tmp();
		limit_store_init(&s, tmpdir);
		limit_scopes(NULL, consumer("bob", 5), sc);
		limit_take(&s, sc, 1, DAY0, 0, &v, &t, &damaged);
		limit_take(&s, sc, 1, DAY0 + 1, 0, &v, &t, &damaged);
		snprintf(path, sizeof(path), "%s/c@bob", tmpdir);
		int fd = open(path, O_RDWR);
		CU_ASSERT_FATAL(fd >= 0);
		if (strcmp(damage[k], "truncate") == 0) {
			CU_ASSERT_EQUAL(ftruncate(fd, 7), 0);
		} else if (strcmp(damage[k], "garbage") == 0) {
			char junk[512];
			memset(junk, 'x', sizeof(junk));
			CU_ASSERT_EQUAL(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
		} else {
			/* one copy damaged: the other one still counts */
			char b = 0x5a;
			CU_ASSERT_EQUAL(pwrite(fd, &b, 1, 20), 1);
		}
		close(fd);
		CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 2, 0, &v, &t, &damaged), GW_OK);
		if (strcmp(damage[k], "flip") == 0) {
			CU_ASSERT_FALSE(damaged);
			CU_ASSERT_TRUE(v.admitted);
		} else {
			CU_ASSERT_TRUE(damaged);
			CU_ASSERT_FALSE(v.admitted);
			/* the rebuilt file is valid: no second report */
			CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 3, 0, &v, &t, &damaged), GW_OK);
			CU_ASSERT_FALSE(damaged);
			CU_ASSERT_FALSE(v.admitted);
		}
		limit_store_close(&s);
		remove_tmp();
	}
}

/* N processes take M times each from one window: exactly the limit gets in. */
static void test_exact_across_processes(void)
{
	enum { N = 8, M = 50, LIMIT = 137 };
	struct limit_scope sc[2];
	int pipefd[2], total = 0;

	make_tmp();
	limit_scopes(NULL, consumer("carol", LIMIT), sc);
	CU_ASSERT_EQUAL_FATAL(pipe(pipefd), 0);
	for (int p = 0; p < N; p++) {
		if (fork() == 0) {
			struct limit_store s;
			struct limit_verdict v;
			struct limit_ticket t;
			bool damaged;
			int mine = 0;
			limit_store_init(&s, tmpdir);
			for (int i = 0; i < M; i++)
				if (limit_take(&s, sc, 1, DAY0 + i, 0, &v, &t, &damaged) == GW_OK &&
				    v.admitted)
					mine++;
			limit_store_close(&s);
			if (write(pipefd[1], &mine, sizeof(mine)) != sizeof(mine))
				_exit(1);
			_exit(0);
		}
	}
	close(pipefd[1]);
	for (int p = 0; p < N; p++) {
		int got = 0;
		CU_ASSERT_EQUAL(read(pipefd[0], &got, sizeof(got)), (ssize_t)sizeof(got));
		total += got;
		wait(NULL);
	}
	close(pipefd[0]);
	CU_ASSERT_EQUAL(total, LIMIT);
	remove_tmp();
}

/* ---- budgets (pico-USD) ---- */

#define USD 1000000000000LL /* one dollar in pico-USD */
#define NOV1_2026 1793491200000LL
#define DEC1_2026 1796083200000LL
#define JAN1_2027 1798761600000LL
#define FEB1_2027 1801440000000LL
#define MAR1_2027 1803859200000LL
#define FEB1_2028 1832976000000LL
#define FEB29_2028 1835395200000LL
#define MAR1_2028 1835481600000LL

static void test_month_boundaries(void)
{
	int64_t s, e;

	/* The last ms of November 2026 and the first of December. */
	limit_month(DEC1_2026 - 1, &s, &e);
	CU_ASSERT_EQUAL(s, NOV1_2026);
	CU_ASSERT_EQUAL(e, DEC1_2026);
	limit_month(NOV1_2026, &s, &e);
	CU_ASSERT_EQUAL(s, NOV1_2026);
	CU_ASSERT_EQUAL(e, DEC1_2026);
	limit_month(DAY0 + 12345, &s, &e);
	CU_ASSERT_EQUAL(s, NOV1_2026);
	CU_ASSERT_EQUAL(e, DEC1_2026);
	limit_month(DEC1_2026, &s, &e);
	CU_ASSERT_EQUAL(s, DEC1_2026);
	CU_ASSERT_EQUAL(e, JAN1_2027); /* into the next year */
	/* February: 28 days in 2027, 29 in the leap year 2028. */
	limit_month(FEB1_2027 + 1, &s, &e);
	CU_ASSERT_EQUAL(s, FEB1_2027);
	CU_ASSERT_EQUAL(e, MAR1_2027);
	CU_ASSERT_EQUAL(e - s, 28 * 86400000LL);
	limit_month(FEB29_2028 + 86400000LL - 1, &s, &e);
	CU_ASSERT_EQUAL(s, FEB1_2028);
	CU_ASSERT_EQUAL(e, MAR1_2028);
	CU_ASSERT_EQUAL(e - s, 29 * 86400000LL);
	limit_month(MAR1_2028, &s, &e);
	CU_ASSERT_EQUAL(s, MAR1_2028);
}

/* A day budget admits while spent < budget; once the settled cost reaches
 * it, requests are refused until midnight UTC. */
static void test_budget_day(void)
{
	struct limit_counters c;
	struct gw_limits l;
	struct limit_verdict v;
	int64_t t = DAY0 + 3600000; /* 01:00Z */

	memset(&c, 0, sizeof(c));
	memset(&l, 0, sizeof(l));
	l.budget_day = 1 * USD;
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, t, 0, &v));
	CU_ASSERT_FALSE(v.by_budget);
	limit_settle_counters(&c, &l, t, t + 10, 0, 100, 600000000000LL); /* $0.60 */
	CU_ASSERT_EQUAL(c.cost_day.used, 600000000000LL);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, t + 20, 0, &v));
	/* $0.999999999999 spent: still under by one pico-dollar */
	limit_settle_counters(&c, &l, t + 20, t + 30, 0, 100, 399999999999LL);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, t + 40, 0, &v));
	limit_settle_counters(&c, &l, t + 40, t + 50, 0, 100, 1);
	CU_ASSERT_EQUAL(c.cost_day.used, USD);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, t + 60, 0, &v));
	CU_ASSERT_FALSE(v.admitted);
	CU_ASSERT_TRUE(v.by_budget);
	CU_ASSERT_EQUAL(v.retry_after_s, 23 * 3600); /* until 00:00Z */
	/* One second before midnight: retry in one second. */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, DAY0 + 86400000LL - 1000, 0, &v));
	CU_ASSERT_EQUAL(v.retry_after_s, 1);
	/* The next day the budget is whole again. */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, DAY0 + 86400000LL, 0, &v));
	CU_ASSERT_FALSE(v.by_budget);
	CU_ASSERT_EQUAL(c.cost_day.used, 0);

	/* Errors and free answers (cost 0) spend nothing. */
	limit_settle_counters(&c, &l, DAY0 + 86400000LL, DAY0 + 86400001LL, 0, -1, 0);
	CU_ASSERT_EQUAL(c.cost_day.used, 0);
	/* Without a budget, cost is not counted, and nothing is refused. */
	memset(&c, 0, sizeof(c));
	l.budget_day = 0;
	limit_settle_counters(&c, &l, t, t, 0, 1, 1000 * USD);
	CU_ASSERT_EQUAL(c.cost_day.used, 0);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, t, 0, &v));
}

/* A month budget spans the days of its month and rolls at the month
 * boundary (UTC); a day budget and a month budget apply together. */
static void test_budget_month(void)
{
	struct limit_counters c;
	struct gw_limits l;
	struct limit_verdict v;
	int64_t last = DEC1_2026 - 1; /* 2026-11-30T23:59:59.999Z */

	memset(&c, 0, sizeof(c));
	memset(&l, 0, sizeof(l));
	l.budget_month = 10 * USD;
	l.budget_day = 4 * USD;
	/* $3 a day on Nov 26, 27 and 28: under the day budget each day. */
	for (int d = 0; d < 3; d++) {
		int64_t t = DAY0 + d * 86400000LL;
		memset(&v, 0, sizeof(v));
		CU_ASSERT_TRUE(limit_admit(&c, &l, t, 0, &v));
		limit_settle_counters(&c, &l, t, t + 1, 0, 1, 3 * USD);
	}
	CU_ASSERT_EQUAL(c.cost_month.used, 9 * USD);
	CU_ASSERT_EQUAL(c.cost_day.used, 3 * USD);
	/* Nov 29: $1 more fills the month, though the day has room. */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, DAY0 + 3 * 86400000LL, 0, &v));
	limit_settle_counters(&c, &l, DAY0 + 3 * 86400000LL, DAY0 + 3 * 86400000LL, 0, 1, USD);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, DAY0 + 3 * 86400000LL + 1000, 0, &v));
	CU_ASSERT_TRUE(v.by_budget);
	/* refused until the month ends: Dec 1 00:00Z */
	CU_ASSERT_EQUAL(v.retry_after_s, (DEC1_2026 - (DAY0 + 3 * 86400000LL + 1000)) / 1000);
	/* Nov 30, last ms: still refused, 1 s to wait (rounded up). */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, last, 0, &v));
	CU_ASSERT_EQUAL(v.retry_after_s, 1);
	/* Dec 1, 00:00:00.000Z: a new month. */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_TRUE(limit_admit(&c, &l, DEC1_2026, 0, &v));
	CU_ASSERT_EQUAL(c.cost_month.used, 0);
	CU_ASSERT_EQUAL(c.cost_month.start, DEC1_2026);

	/* The day budget alone refuses until midnight, not the month's end. */
	limit_settle_counters(&c, &l, DEC1_2026, DEC1_2026 + 1, 0, 1, 4 * USD);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_FALSE(limit_admit(&c, &l, DEC1_2026 + 3600000, 0, &v));
	CU_ASSERT_TRUE(v.by_budget);
	CU_ASSERT_EQUAL(v.retry_after_s, 23 * 3600);

	/* Cost settled in a new month for a request admitted in the old one
	 * counts in the new month. */
	memset(&c, 0, sizeof(c));
	l.budget_day = 0;
	limit_admit(&c, &l, last - 5000, 0, &v);
	limit_settle_counters(&c, &l, last - 5000, DEC1_2026 + 10, 0, 1, 2 * USD);
	CU_ASSERT_EQUAL(c.cost_month.start, DEC1_2026);
	CU_ASSERT_EQUAL(c.cost_month.used, 2 * USD);
}

static struct gw_consumer *budget_consumer(const char *name, int64_t day, int64_t month)
{
	static struct gw_consumer c;
	memset(&c, 0, sizeof(c));
	c.name = (char *)name;
	c.limits.budget_day = day;
	c.limits.budget_month = month;
	return &c;
}

/* Through the state files: spend is settled into the consumer's file and
 * refuses the next request; another store (process) sees the same. */
static void test_budget_store(void)
{
	struct limit_store s, s2;
	struct limit_scope sc[2];
	struct limit_verdict v;
	struct limit_ticket t;
	bool damaged;

	make_tmp();
	limit_store_init(&s, tmpdir);
	CU_ASSERT_EQUAL(limit_scopes(NULL, budget_consumer("dave", 2 * USD, 0), sc), 1);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0, 10, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(v.admitted);
	CU_ASSERT_EQUAL(limit_settle(&s, &t, DAY0 + 5, 10, 1500000000000LL), GW_OK);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 10, 10, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(v.admitted);
	CU_ASSERT_EQUAL(limit_settle(&s, &t, DAY0 + 15, 10, 500000000000LL), GW_OK);
	limit_store_init(&s2, tmpdir);
	CU_ASSERT_EQUAL(limit_take(&s2, sc, 1, DAY0 + 20, 10, &v, &t, &damaged), GW_OK);
	CU_ASSERT_FALSE(v.admitted);
	CU_ASSERT_TRUE(v.by_budget);
	CU_ASSERT_EQUAL(v.retry_after_s, 86400); /* (86400000 - 20) ms, rounded up */
	limit_store_close(&s2);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 86400000LL, 10, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(v.admitted);
	limit_store_close(&s);
	remove_tmp();
}

/* A damaged state file is rebuilt with the budgets spent: no fresh
 * allowance today, and a whole one once the window rolls. */
static void test_budget_damaged_file(void)
{
	struct limit_store s;
	struct limit_scope sc[2];
	struct limit_verdict v;
	struct limit_ticket t;
	char path[128];
	bool damaged;
	int fd;

	/* Day budget. */
	make_tmp();
	limit_store_init(&s, tmpdir);
	limit_scopes(NULL, budget_consumer("erin", 5 * USD, 0), sc);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(v.admitted);
	snprintf(path, sizeof(path), "%s/c@erin", tmpdir);
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	{
		char junk[512];
		memset(junk, 0xa5, sizeof(junk));
		CU_ASSERT_EQUAL(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	}
	close(fd);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 3600000, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(damaged);
	CU_ASSERT_FALSE(v.admitted);
	CU_ASSERT_TRUE(v.by_budget);
	CU_ASSERT_EQUAL(v.retry_after_s, 23 * 3600);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 7200000, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_FALSE(damaged);
	CU_ASSERT_FALSE(v.admitted);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 86400000LL, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(v.admitted);
	limit_store_close(&s);
	remove_tmp();

	/* Month budget: full until the month ends, truncated file. */
	make_tmp();
	limit_store_init(&s, tmpdir);
	limit_scopes(NULL, budget_consumer("finn", 0, 50 * USD), sc);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 1, 0, &v, &t, &damaged), GW_OK);
	snprintf(path, sizeof(path), "%s/c@finn", tmpdir);
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 9), 0);
	close(fd);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 2, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(damaged);
	CU_ASSERT_FALSE(v.admitted);
	CU_ASSERT_TRUE(v.by_budget);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 86400000LL, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_FALSE(v.admitted); /* a day later, still November */
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DEC1_2026, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(v.admitted);
	{
		struct limit_counters c;
		CU_ASSERT_EQUAL(limit_read_file(path, &c), 0);
		CU_ASSERT_EQUAL(c.cost_month.start, DEC1_2026);
		CU_ASSERT_EQUAL(c.cost_month.used, 0);
	}
	limit_store_close(&s);
	remove_tmp();
}

/* A state file written once holds its only copy in the second slot; cut
 * shorter than a slot, it holds bytes but no valid copy: damaged, rebuilt
 * full, never read as a new file with a fresh allowance. */
static void test_short_file_after_one_write(void)
{
	struct limit_store s;
	struct limit_scope sc[2];
	struct limit_verdict v;
	struct limit_ticket t;
	char path[128];
	bool damaged;
	int fd;

	make_tmp();
	limit_store_init(&s, tmpdir);
	limit_scopes(NULL, budget_consumer("gail", 5 * USD, 0), sc);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0, 0, &v, &t, &damaged), GW_OK);
	snprintf(path, sizeof(path), "%s/c@gail", tmpdir);
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 9), 0);
	close(fd);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 1, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(damaged);
	CU_ASSERT_FALSE(v.admitted);
	CU_ASSERT_TRUE(v.by_budget);
	limit_store_close(&s);
	remove_tmp();

	/* A request window of one an hour: taken, then the file is cut. */
	make_tmp();
	limit_store_init(&s, tmpdir);
	limit_scopes(NULL, consumer("hank", 1), sc);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(v.admitted);
	snprintf(path, sizeof(path), "%s/c@hank", tmpdir);
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 100), 0);
	close(fd);
	CU_ASSERT_EQUAL(limit_take(&s, sc, 1, DAY0 + 1, 0, &v, &t, &damaged), GW_OK);
	CU_ASSERT_TRUE(damaged);
	CU_ASSERT_FALSE(v.admitted); /* the hour's one request was used */
	limit_store_close(&s);
	remove_tmp();
}

void suite_limit(void)
{
	static const struct tu_test tests[] = {
		{ "window boundaries (59.999 s, midnight UTC)", test_window_boundaries, false },
		{ "request window admits exactly its limit", test_admit_query_window, false },
		{ "several windows: all or nothing", test_several_windows, false },
		{ "token reserve, settle and release", test_reserve_settle_release, false },
		{ "store: take, 0600 files, reset", test_store_take_and_reset, false },
		{ "store: damaged files rebuilt closed", test_damaged_files, false },
		{ "store: exact across 8 processes", test_exact_across_processes, false },
		{ "month boundaries (November 2026, February 2028)", test_month_boundaries, false },
		{ "budget per day: spent < budget, retry at midnight", test_budget_day, false },
		{ "budget per month: rolls at the month boundary", test_budget_month, false },
		{ "budget: settled through the store, seen by another", test_budget_store, false },
		{ "budget: damaged file rebuilt with budgets spent", test_budget_damaged_file,
		  false },
		{ "store: a file cut short after one write is damaged",
		  test_short_file_after_one_write, false },
	};
	tu_register("limit", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
