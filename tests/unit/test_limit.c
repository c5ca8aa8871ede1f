/* test_limit.c: CUnit suite for policy/limit.c: window arithmetic, admission,
 * reservations, damaged state files and exactness across processes. */
#include "gw.h"
#include "limit.h"
#include "suites.h"

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

void suite_limit(void)
{
	CU_pSuite s = CU_add_suite("limit", NULL, NULL);
	CU_add_test(s, "window boundaries (59.999 s, midnight UTC)", test_window_boundaries);
	CU_add_test(s, "request window admits exactly its limit", test_admit_query_window);
	CU_add_test(s, "several windows: all or nothing", test_several_windows);
	CU_add_test(s, "token reserve, settle and release", test_reserve_settle_release);
	CU_add_test(s, "store: take, 0600 files, reset", test_store_take_and_reset);
	CU_add_test(s, "store: damaged files rebuilt closed", test_damaged_files);
	CU_add_test(s, "store: exact across 8 processes", test_exact_across_processes);
}
