/* test_stats.c: policy/stats.h: shared usage totals in memory-mapped,
 * file-locked tables: sums, day files, histograms, exactness across
 * processes, damaged files, and money as integers. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gw.h"
#include "limit.h"
#include "policy.h"
#include "stats.h"
#include "suites.h"
#include "testutil.h"

/* 2026-11-26T00:00:00Z in ms */
#define DAY0 1795651200000LL
#define DAY_MS 86400000LL

static char *g_dir;

static int stats_init(void)
{
	g_dir = tu_tmpdir_create();
	return g_dir ? 0 : -1;
}

static int stats_cleanup(void)
{
	tu_tmpdir_remove(g_dir);
	g_dir = NULL;
	return 0;
}

/* A fresh directory under g_dir for one test; the caller frees it. */
static char *subdir(const char *name)
{
	return tu_path(g_dir, name);
}

static struct stats_key key(const char *consumer, const char *route, const char *model,
			    int status)
{
	struct stats_key k;

	memset(&k, 0, sizeof(k));
	snprintf(k.consumer, sizeof(k.consumer), "%s", consumer);
	snprintf(k.route, sizeof(k.route), "%s", route);
	snprintf(k.model, sizeof(k.model), "%s", model);
	k.status = status;
	return k;
}

static struct stats_values vals(int64_t requests, int64_t prompt, int64_t completion,
				int64_t cost, int64_t unpriced)
{
	struct stats_values v = { .requests = requests,
				  .prompt_tokens = prompt,
				  .completion_tokens = completion,
				  .cost_pico = cost,
				  .unpriced = unpriced };
	return v;
}

/* The totals of a table: one row (NULL key: all rows summed). */
struct sums {
	size_t rows;
	struct stats_values v;
	struct stats_header h;
	bool ok;
};

static struct sums read_table(const char *dir, const char *name, const struct stats_key *k)
{
	struct stats_file f;
	struct sums s;
	struct stats_row *rows;
	size_t n = 0;

	memset(&s, 0, sizeof(s));
	if (stats_open_read(dir, name, &f) < 0)
		return s;
	rows = stats_snapshot(&f, &n, &s.h);
	stats_file_close(&f);
	s.ok = true;
	for (size_t i = 0; i < n; i++) {
		if (k && memcmp(&rows[i].key, k, sizeof(*k)) != 0)
			continue;
		s.rows++;
		s.v.requests += rows[i].v.requests;
		s.v.prompt_tokens += rows[i].v.prompt_tokens;
		s.v.completion_tokens += rows[i].v.completion_tokens;
		s.v.cost_pico += rows[i].v.cost_pico;
		s.v.unpriced += rows[i].v.unpriced;
		s.v.cached_tokens += rows[i].v.cached_tokens;
		s.v.cache_write_tokens += rows[i].v.cache_write_tokens;
		s.v.reasoning_tokens += rows[i].v.reasoning_tokens;
	}
	free(rows);
	return s;
}

static char *day_file(int64_t ms)
{
	char name[32];

	stats_day_name(ms, name);
	return gw_strdup(name);
}

/* ---- tests ---- */

static void test_day_name(void)
{
	char out[32];

	stats_day_name(DAY0, out);
	TU_STR(out, "day-20261126");
	stats_day_name(DAY0 + DAY_MS - 1, out);
	TU_STR(out, "day-20261126");
	stats_day_name(DAY0 - 1, out);
	TU_STR(out, "day-20261125");
	stats_day_name(0, out);
	TU_STR(out, "day-19700101");
	stats_day_name(1835395200000LL + 43200000LL, out); /* 2028-02-29T12:00Z */
	TU_STR(out, "day-20280229");
}

static void test_record_and_read(void)
{
	char *dir = subdir("rw");
	struct stats_store s;
	struct stats_key a = key("alice", "chat", "gpt-4o-mini", 200);
	struct stats_key b = key("bob", "chat", "gpt-4o-mini", 429);
	struct stats_values va = vals(1, 100, 20, 2850000, 0);
	bool rebuilt = true;
	char *today = day_file(DAY0), *tomorrow = day_file(DAY0 + DAY_MS);
	struct sums t;

	stats_store_init(&s, dir);
	/* Three requests of alice and one of bob today, one of alice tomorrow. */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(stats_record(&s, DAY0 + 1000 * i, &a, &va, 1000, 10, &rebuilt), 0);
		CU_ASSERT_FALSE(rebuilt);
	}
	CU_ASSERT_EQUAL(stats_record(&s, DAY0 + 5000, &b, &(struct stats_values){ 1, 7, 0, 0, 1, 0, 0, 0 },
				     -1, 10, &rebuilt),
			0);
	CU_ASSERT_EQUAL(stats_record(&s, DAY0 + DAY_MS + 1, &a, &va, 1000, 10, &rebuilt), 0);
	CU_ASSERT_FALSE(rebuilt);

	/* Readable while the writer still has them open. */
	t = read_table(dir, "total", &a);
	CU_ASSERT_TRUE(t.ok);
	TU_INT(t.rows, 1);
	TU_INT(t.v.requests, 4);
	TU_INT(t.v.prompt_tokens, 400);
	TU_INT(t.v.completion_tokens, 80);
	TU_INT(t.v.cost_pico, 4 * 2850000LL);
	TU_INT(t.v.unpriced, 0);
	t = read_table(dir, "total", NULL);
	TU_INT(t.rows, 2);
	TU_INT(t.h.n_rows, 2);
	TU_INT(t.v.requests, 5);
	TU_INT(t.v.prompt_tokens, 407);
	TU_INT(t.v.unpriced, 1);

	t = read_table(dir, today, NULL);
	CU_ASSERT_TRUE(t.ok);
	TU_INT(t.rows, 2);
	TU_INT(t.v.requests, 4);
	TU_INT(t.v.prompt_tokens, 307);
	TU_INT(t.v.cost_pico, 3 * 2850000LL);
	t = read_table(dir, today, &b);
	TU_INT(t.v.requests, 1);
	TU_INT(t.v.unpriced, 1);
	t = read_table(dir, tomorrow, NULL);
	CU_ASSERT_TRUE(t.ok);
	TU_INT(t.rows, 1);
	TU_INT(t.v.requests, 1);
	TU_INT(t.v.prompt_tokens, 100);

	/* The totals file keeps the histograms; the day files count rows only. */
	t = read_table(dir, "total", NULL);
	TU_INT(t.h.upstream.count, 4); /* bob's request had no upstream call */
	TU_INT(t.h.overhead.count, 5);
	TU_INT(t.h.upstream.sum_us, 4000);
	TU_INT(t.h.overhead.sum_us, 50);
	t = read_table(dir, today, NULL);
	TU_INT(t.h.upstream.count, 0);

	/* A day without a file, and a name that is no table. */
	CU_ASSERT_FALSE(read_table(dir, "day-20261124", NULL).ok);
	CU_ASSERT_FALSE(read_table(dir, "nothing", NULL).ok);

	stats_store_close(&s);
	/* Another process (a new store) adds to the same rows. */
	stats_store_init(&s, dir);
	CU_ASSERT_EQUAL(stats_record(&s, DAY0 + 9000, &a, &va, 1000, 10, &rebuilt), 0);
	stats_store_close(&s);
	TU_INT(read_table(dir, "total", &a).v.requests, 5);
	TU_INT(read_table(dir, today, &a).v.requests, 4);
	free(today);
	free(tomorrow);
	free(dir);
}

/* Names differing only after the first byte, statuses, routes: distinct rows. */
static void test_distinct_keys(void)
{
	char *dir = subdir("keys");
	struct stats_store s;
	struct stats_key k[5] = {
		key("c", "r", "m", 200), key("c", "r", "m", 201), key("c", "r2", "m", 200),
		key("c", "r", "m2", 200), key("c2", "r", "m", 200),
	};
	struct stats_values one = vals(1, 1, 1, 1, 0);
	bool rebuilt;

	stats_store_init(&s, dir);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j <= i; j++)
			CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k[i], &one, 0, 0, &rebuilt), 0);
	stats_store_close(&s);
	for (int i = 0; i < 5; i++) {
		struct sums t = read_table(dir, "total", &k[i]);
		TU_INT(t.rows, 1);
		TU_INT(t.v.requests, i + 1);
	}
	TU_INT(read_table(dir, "total", NULL).rows, 5);
	free(dir);
}

/* Bucket counts are per bucket; an observation equal to a bound falls in
 * that bound's bucket (le is inclusive); past the last bound is +Inf. */
static void test_histogram_buckets(void)
{
	static const struct {
		int64_t us;
		int bucket;
	} obs[] = {
		{ 0, 0 },       { 500, 0 },      { 501, 1 },     { 1000, 1 },       { 1001, 2 },
		{ 2500, 2 },    { 4999, 3 },     { 100000, 7 },  { 100001, 8 },     { 999999, 10 },
		{ 1000000, 10 }, { 2500000, 11 }, { 10000000, 13 }, { 10000001, 14 }, { 3600000000LL, 14 },
	};
	char *dir = subdir("hist");
	struct stats_store s;
	struct stats_key k = key("c", "r", "m", 200);
	struct stats_values v = vals(1, 0, 0, 0, 0);
	int64_t want[STATS_BUCKETS + 1] = { 0 }, sum = 0;
	bool rebuilt;
	struct sums t;

	stats_store_init(&s, dir);
	for (size_t i = 0; i < GW_ARRAY_LEN(obs); i++) {
		CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k, &v, obs[i].us, 7, &rebuilt),
				0);
		want[obs[i].bucket]++;
		sum += obs[i].us;
	}
	/* No upstream call: only the overhead histogram moves. */
	CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k, &v, -1, 7, &rebuilt), 0);
	stats_store_close(&s);

	t = read_table(dir, "total", NULL);
	CU_ASSERT_TRUE_FATAL(t.ok);
	for (int b = 0; b <= STATS_BUCKETS; b++) {
		if (t.h.upstream.bucket[b] != want[b])
			fprintf(stderr, "\n    bucket %d (le %g)\n", b,
				b < STATS_BUCKETS ? stats_bucket_le[b] : -1.0);
		TU_INT(t.h.upstream.bucket[b], want[b]);
	}
	TU_INT(t.h.upstream.count, GW_ARRAY_LEN(obs));
	TU_INT(t.h.upstream.sum_us, sum);
	TU_INT(t.h.overhead.count, GW_ARRAY_LEN(obs) + 1);
	TU_INT(t.h.overhead.bucket[0], GW_ARRAY_LEN(obs) + 1);
	TU_INT(t.h.overhead.sum_us, 7 * (GW_ARRAY_LEN(obs) + 1));
	TU_INT(t.v.requests, GW_ARRAY_LEN(obs) + 1);
	/* The bounds ascend. */
	for (int b = 1; b < STATS_BUCKETS; b++)
		CU_ASSERT(stats_bucket_le[b] > stats_bucket_le[b - 1]);
	free(dir);
}

#define PROCS 6
#define PER_PROC 500

/* One writer process: PER_PROC requests over two shared keys and its own,
 * started when the go pipe closes so that all writers run at once. */
static int writer(const char *dir, int id, int go)
{
	struct stats_store s;
	struct stats_key shared[2] = { key("alice", "chat", "m", 200), key("bob", "chat", "m", 500) };
	char me[16];
	struct stats_key own;
	int bad = 0;

	snprintf(me, sizeof(me), "p%d", id);
	own = key(me, "chat", "m", 200);
	stats_store_init(&s, dir);
	{
		char c;
		if (read(go, &c, 1) != 0) /* EOF: go */
			return 1;
	}
	for (int i = 0; i < PER_PROC; i++) {
		struct stats_values v = vals(1, i + 1, 2, 150000, i % 2);
		const struct stats_key *k = i % 3 == 2 ? &own : &shared[i % 3];
		bool rebuilt = false;
		if (stats_record(&s, DAY0 + i, k, &v, i, i, &rebuilt) != 0 || rebuilt)
			bad = 1;
	}
	stats_store_close(&s);
	return bad;
}

static void test_exact_across_processes(void)
{
	char *dir = subdir("procs");
	char *today = day_file(DAY0);
	pid_t pids[PROCS];
	int64_t prompt = (int64_t)PROCS * PER_PROC * (PER_PROC + 1) / 2;
	const char *tables[2] = { "total", today };
	int go[2];

	CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
	fflush(NULL);
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		CU_ASSERT_FATAL(pids[p] >= 0);
		if (pids[p] == 0) {
			close(go[1]);
			_exit(writer(dir, p, go[0]));
		}
	}
	close(go[0]);
	close(go[1]); /* every writer starts now */
	for (int p = 0; p < PROCS; p++) {
		int status = 0;
		CU_ASSERT_EQUAL(waitpid(pids[p], &status, 0), pids[p]);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (int i = 0; i < 2; i++) {
		struct sums t = read_table(dir, tables[i], NULL);
		struct stats_key own = key("p3", "chat", "m", 200);
		CU_ASSERT_TRUE(t.ok);
		TU_INT(t.v.requests, PROCS * PER_PROC);
		TU_INT(t.v.prompt_tokens, prompt);
		TU_INT(t.v.completion_tokens, 2 * PROCS * PER_PROC);
		TU_INT(t.v.cost_pico, 150000LL * PROCS * PER_PROC);
		TU_INT(t.v.unpriced, PROCS * PER_PROC / 2);
		TU_INT(t.rows, 2 + PROCS);
		TU_INT(t.h.n_rows, 2 + PROCS);
		/* 166 of each writer's 500 are its own: i % 3 == 2 */
		TU_INT(read_table(dir, tables[i], &own).v.requests, 166);
	}
	{
		struct sums t = read_table(dir, "total", NULL);
		TU_INT(t.h.upstream.count, PROCS * PER_PROC);
		TU_INT(t.h.overhead.count, PROCS * PER_PROC);
		TU_INT(t.h.upstream.sum_us, (int64_t)PROCS * PER_PROC * (PER_PROC - 1) / 2);
	}
	free(today);
	free(dir);
}

/* Writers that start at once on a state dir that does not exist yet: one of
 * them makes it, and none may fail because another made it first. */
static void test_dir_made_at_once(void)
{
	enum { ROUNDS = 20, N = 8 };
	int failed = 0;

	for (int round = 0; round < ROUNDS; round++) {
		char name[32];
		snprintf(name, sizeof(name), "race-%d", round);
		char *dir = subdir(name);
		pid_t pids[N];
		int go[2];
		struct stats_key k = key("c", "r", "m", 200);

		CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
		fflush(NULL);
		for (int p = 0; p < N; p++) {
			pids[p] = fork();
			CU_ASSERT_FATAL(pids[p] >= 0);
			if (pids[p] == 0) {
				struct stats_store s;
				struct stats_values v = vals(1, 1, 1, 1, 0);
				bool rebuilt = false;
				char c;
				int rc;
				close(go[1]);
				if (read(go[0], &c, 1) != 0)
					_exit(2);
				stats_store_init(&s, dir);
				rc = stats_record(&s, DAY0, &k, &v, 1, 1, &rebuilt);
				stats_store_close(&s);
				_exit(rc == 0 && !rebuilt ? 0 : 1);
			}
		}
		close(go[0]);
		close(go[1]);
		for (int p = 0; p < N; p++) {
			int status = 0;
			waitpid(pids[p], &status, 0);
			failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		TU_INT(read_table(dir, "total", NULL).v.requests, N);
		free(dir);
	}
	TU_INT(failed, 0);
}

static int damage(const char *path, const char *how)
{
	int fd = open(path, O_RDWR);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (strcmp(how, "short") == 0) {
		rc = ftruncate(fd, 100);
	} else if (strcmp(how, "long") == 0) {
		struct stat sb;
		rc = fstat(fd, &sb) == 0 ? ftruncate(fd, sb.st_size + 1) : -1;
	} else if (strcmp(how, "header") == 0) {
		char junk[64];
		memset(junk, 'x', sizeof(junk));
		rc = pwrite(fd, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk) ? 0 : -1;
	} else if (strcmp(how, "version") == 0) {
		uint32_t v = 99;
		rc = pwrite(fd, &v, sizeof(v), offsetof(struct stats_header, version)) ==
				     (ssize_t)sizeof(v)
			     ? 0
			     : -1;
	} else if (strcmp(how, "n_rows") == 0) {
		uint32_t v = STATS_CAPACITY + 1;
		rc = pwrite(fd, &v, sizeof(v), offsetof(struct stats_header, n_rows)) ==
				     (ssize_t)sizeof(v)
			     ? 0
			     : -1;
	}
	close(fd);
	return rc;
}

/* A damaged table is refused by readers, and the next writer sets it aside
 * or starts it anew, says so through *rebuilt, and goes on counting. */
static void test_damaged_files(void)
{
	static const char *const how[] = { "short", "long", "header", "version", "n_rows" };
	char *today = day_file(DAY0);
	struct stats_key k = key("c", "r", "m", 200);
	struct stats_values v = vals(1, 5, 5, 5, 0);

	for (size_t i = 0; i < GW_ARRAY_LEN(how); i++) {
		for (int which = 0; which < 2; which++) {
			char name[64];
			snprintf(name, sizeof(name), "dmg-%s-%d", how[i], which);
			char *dir = subdir(name);
			const char *table = which ? today : "total";
			char *path = tu_path(dir, table);
			struct stats_store s;
			bool rebuilt = false;

			stats_store_init(&s, dir);
			for (int j = 0; j < 3; j++)
				CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k, &v, 1, 1, &rebuilt), 0);
			stats_store_close(&s);
			CU_ASSERT_EQUAL_FATAL(damage(path, how[i]), 0);
			CU_ASSERT_FALSE(read_table(dir, table, NULL).ok);

			stats_store_init(&s, dir);
			rebuilt = false;
			CU_ASSERT_EQUAL(stats_record(&s, DAY0 + 1, &k, &v, 1, 1, &rebuilt), 0);
			if (!rebuilt)
				fprintf(stderr, "\n    %s damage of %s not reported\n", how[i], table);
			CU_ASSERT_TRUE(rebuilt);
			/* once rebuilt, no more reports */
			rebuilt = true;
			CU_ASSERT_EQUAL(stats_record(&s, DAY0 + 2, &k, &v, 1, 1, &rebuilt), 0);
			CU_ASSERT_FALSE(rebuilt);
			stats_store_close(&s);

			{
				struct sums t = read_table(dir, table, NULL);
				struct sums other = read_table(dir, which ? "total" : today, NULL);
				CU_ASSERT_TRUE(t.ok);
				TU_INT(t.v.requests, 2); /* started anew */
				TU_INT(other.v.requests, 5); /* the other table was not touched */
			}
			{
				/* kept for a look, never zeroed in place */
				char *aside = gw_asprintf("%s.damaged", path);
				CU_ASSERT_EQUAL(access(aside, F_OK), 0);
				free(aside);
			}
			free(path);
			free(dir);
		}
	}
	free(today);
}

/* Cache and reasoning tokens are summed like the others, bounded the same. */
static void test_cache_tokens(void)
{
	char *dir = subdir("cache");
	char *today = day_file(DAY0);
	struct stats_store s;
	struct stats_key k = key("c", "r", "m", 200);
	struct stats_values v = vals(1, 100, 10, 0, 0);
	bool rebuilt;
	struct sums t;

	v.cached_tokens = 60;
	v.cache_write_tokens = 30;
	v.reasoning_tokens = 4;
	stats_store_init(&s, dir);
	CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k, &v, 1, 1, &rebuilt), 0);
	CU_ASSERT_EQUAL(stats_record(&s, DAY0 + 1, &k, &v, 1, 1, &rebuilt), 0);
	v.cached_tokens = -7; /* hostile: not subtracted */
	v.cache_write_tokens = INT64_MAX;
	v.reasoning_tokens = 0;
	CU_ASSERT_EQUAL(stats_record(&s, DAY0 + 2, &k, &v, 1, 1, &rebuilt), 0);
	stats_store_close(&s);
	t = read_table(dir, today, NULL);
	TU_INT(t.v.requests, 3);
	TU_INT(t.v.cached_tokens, 120);
	TU_INT(t.v.cache_write_tokens, 60 + LIMIT_TOKENS_MAX);
	TU_INT(t.v.reasoning_tokens, 8);
	TU_INT(read_table(dir, "total", NULL).v.cached_tokens, 120);
	free(today);
	free(dir);
}

/* The first format's rows (five counters, version 1): the layout a table
 * of an older binary has. */
struct v1_row {
	struct stats_key key;
	uint32_t used, pad;
	int64_t v[5];
};

/* A table of an older format (version 1, of its own size) is refused by
 * readers and moved aside by the first writer, which starts anew; the same
 * for one of this size with another version: never zeroed in place. */
static void test_old_format_set_aside(void)
{
	for (int same_size = 0; same_size < 2; same_size++) {
		char *dir = subdir(same_size ? "oldfmt-same" : "oldfmt");
		char *path = tu_path(dir, "total"), *aside = gw_asprintf("%s.damaged", path);
		size_t size = same_size ? sizeof(struct stats_header) +
						  STATS_CAPACITY * sizeof(struct stats_row)
					: sizeof(struct stats_header) +
						  STATS_CAPACITY * sizeof(struct v1_row);
		char *img = gw_calloc(1, size);
		struct stats_header *h = (struct stats_header *)img;
		struct stats_key k = key("c", "r", "m", 200);
		struct v1_row *r = (struct v1_row *)(h + 1);
		struct stats_values v = vals(1, 5, 5, 5, 0);
		struct stats_store s;
		bool rebuilt = false;
		struct sums t;

		if (!same_size) /* the old format has a size of its own */
			CU_ASSERT_NOT_EQUAL(size, sizeof(struct stats_header) +
							  STATS_CAPACITY * sizeof(struct stats_row));
		h->magic = 0x53574741u;
		h->version = 1;
		h->capacity = STATS_CAPACITY;
		h->n_rows = 1;
		r->key = k;
		r->used = 1;
		r->v[0] = 1000; /* a thousand old requests */
		CU_ASSERT_EQUAL_FATAL(tu_write(path, img, size), 0);
		free(img);
		if (!same_size) {
			/* a real version 1 table is upgraded, its counts kept:
			 * by a reader first, then a writer adds to it */
			t = read_table(dir, "total", NULL);
			CU_ASSERT_TRUE(t.ok);
			TU_INT(t.v.requests, 1000);
			stats_store_init(&s, dir);
			CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k, &v, 1, 1, &rebuilt), 0);
			CU_ASSERT_FALSE(rebuilt);
			stats_store_close(&s);
			t = read_table(dir, "total", NULL);
			TU_INT(t.v.requests, 1001);
			TU_INT(t.v.prompt_tokens, 5);
			{
				struct stat sb;
				CU_ASSERT_NOT_EQUAL(stat(aside, &sb), 0); /* nothing set aside */
				CU_ASSERT_EQUAL(stat(path, &sb), 0);
				TU_INT(sb.st_size, sizeof(struct stats_header) +
							   STATS_CAPACITY * sizeof(struct stats_row));
			}
			free(aside);
			free(path);
			free(dir);
			continue;
		}
		/* a version 1 header on a table of this size is damage */
		CU_ASSERT_FALSE(read_table(dir, "total", NULL).ok);

		stats_store_init(&s, dir);
		CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k, &v, 1, 1, &rebuilt), 0);
		CU_ASSERT_TRUE(rebuilt);
		CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k, &v, 1, 1, &rebuilt), 0);
		CU_ASSERT_FALSE(rebuilt);
		stats_store_close(&s);
		t = read_table(dir, "total", NULL);
		CU_ASSERT_TRUE(t.ok);
		TU_INT(t.v.requests, 2);
		{
			struct stat sb;
			CU_ASSERT_EQUAL(stat(aside, &sb), 0); /* the old table, untouched */
			TU_INT(sb.st_size, size);
		}
		free(aside);
		free(path);
		free(dir);
	}
}

/* An empty file (a writer died before sizing it) is simply started. */
static void test_empty_file_is_new(void)
{
	char *dir = subdir("empty");
	char *path = tu_path(dir, "total");
	struct stats_store s;
	struct stats_key k = key("c", "r", "m", 200);
	struct stats_values v = vals(1, 0, 0, 0, 0);
	bool rebuilt = true;

	CU_ASSERT_EQUAL(tu_write(path, "", 0), 0);
	stats_store_init(&s, dir);
	CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k, &v, 1, 1, &rebuilt), 0);
	CU_ASSERT_FALSE(rebuilt);
	stats_store_close(&s);
	TU_INT(read_table(dir, "total", NULL).v.requests, 1);
	free(path);
	free(dir);
}

/* The state directory cannot be made: an error, not a crash. */
static void test_unwritable_dir(void)
{
	char *dir = subdir("no/such/parent");
	struct stats_store s;
	struct stats_key k = key("c", "r", "m", 200);
	struct stats_values v = vals(1, 0, 0, 0, 0);
	bool rebuilt;

	stats_store_init(&s, dir);
	errno = 0;
	CU_ASSERT_EQUAL(stats_record(&s, DAY0, &k, &v, 1, 1, &rebuilt), -1);
	CU_ASSERT_NOT_EQUAL(errno, 0);
	stats_store_close(&s);
	stats_store_close(&s); /* twice is harmless */
	free(dir);
}

/* A table whose every row is taken keeps counting in one "other" row:
 * no request is lost from the totals. */
static void test_full_table_overflow_row(void)
{
	char *dir = subdir("full");
	struct stats_store s;
	struct stats_values v = vals(1, 1, 0, 0, 0);
	struct stats_key other = key("other", "other", "other", 0);
	int total = STATS_CAPACITY + 50;
	bool rebuilt;
	struct sums t;

	stats_store_init(&s, dir);
	for (int i = 0; i < total; i++) {
		char name[32];
		snprintf(name, sizeof(name), "c%d", i);
		struct stats_key k = key(name, "r", "m", 200);
		if (stats_record(&s, DAY0, &k, &v, -1, 0, &rebuilt) != 0) {
			CU_FAIL("stats_record failed");
			break;
		}
	}
	stats_store_close(&s);
	t = read_table(dir, "total", NULL);
	CU_ASSERT_TRUE(t.ok);
	TU_INT(t.v.requests, total);
	TU_INT(t.v.prompt_tokens, total);
	CU_ASSERT(t.rows <= STATS_CAPACITY);
	CU_ASSERT(read_table(dir, "total", &other).v.requests > 0);
	free(dir);
}

static void test_format_usd(void)
{
	static const struct {
		int64_t pico;
		const char *want;
	} cases[] = {
		{ 0, "0.000000" },
		{ 1, "0.000000000001" },
		{ 10, "0.00000000001" },
		{ 1000000, "0.000001" },
		{ 2850000, "0.00000285" },
		{ 150000000000LL, "0.150000" },
		{ 1000000000000LL, "1.000000" },
		{ 1500000000000LL, "1.500000" },
		{ 123456789012345LL, "123.456789012345" },
		{ 25000000000000LL, "25.000000" },
		{ 9000000000000000000LL, "9000000.000000" },
		{ INT64_MAX, "9223372.036854775807" },
		{ -2850000, "-0.00000285" },
		{ -1500000000000LL, "-1.500000" },
	};
	char out[40];

	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		memset(out, 'z', sizeof(out));
		stats_format_usd(cases[i].pico, out);
		TU_STR(out, cases[i].want);
	}
}

/* One token at $0.15 per million is 150000 pico-USD; a million of them are
 * $0.15 exactly, through the shared totals as through plain addition. */
static void test_price_arithmetic(void)
{
	enum { N = 1000000 };
	char *dir = subdir("money");
	struct stats_store s;
	struct stats_key k = key("c", "r", "gpt-4o-mini", 200);
	int64_t per_token = 0, sum = 0;
	bool rebuilt;
	char usd[40];
	struct sums t;

	CU_ASSERT_EQUAL_FATAL(policy_parse_decimal("0.15", 6, INT64_MAX, &per_token), 0);
	TU_INT(per_token, 150000);
	stats_store_init(&s, dir);
	for (int i = 0; i < N; i++) {
		struct stats_values v = vals(1, 1, 0, per_token * 1, 0);
		if (stats_record(&s, DAY0 + i / 100, &k, &v, -1, 0, &rebuilt) != 0) {
			CU_FAIL("stats_record failed");
			break;
		}
		sum += per_token;
	}
	stats_store_close(&s);
	TU_INT(sum, 150000000000LL);
	t = read_table(dir, "total", NULL);
	TU_INT(t.v.requests, N);
	TU_INT(t.v.cost_pico, 150000000000LL);
	stats_format_usd(t.v.cost_pico, usd);
	TU_STR(usd, "0.150000");
	t = read_table(dir, "day-20261126", NULL);
	TU_INT(t.v.cost_pico, 150000000000LL);
	free(dir);
}

void suite_stats(void)
{
	static const struct tu_test tests[] = {
		{ "day file names (UTC)", test_day_name, false },
		{ "record, then total and day tables sum", test_record_and_read, false },
		{ "keys differing in one field are rows of their own", test_distinct_keys, false },
		{ "histogram buckets, le inclusive, +Inf", test_histogram_buckets, false },
		{ "6 processes x 500 requests, exact", test_exact_across_processes, false },
		{ "writers making the state dir at once", test_dir_made_at_once, false },
		{ "damaged tables set aside or rebuilt", test_damaged_files, false },
		{ "cache and reasoning tokens summed", test_cache_tokens, false },
		{ "a version 1 table upgraded, its counts kept; a bad header set aside", test_old_format_set_aside, false },
		{ "an empty table file is started, not reported", test_empty_file_is_new, false },
		{ "unusable state dir: an error", test_unwritable_dir, false },
		{ "a full table counts in the \"other\" row", test_full_table_overflow_row, false },
		{ "stats_format_usd", test_format_usd, false },
		{ "price arithmetic: 10^6 x 150000 pico, no drift", test_price_arithmetic, false },
	};
	tu_register("stats", stats_init, stats_cleanup, tests, GW_ARRAY_LEN(tests));
}
