/* test_store.c: the store conformance suite: the same cases against the
 * file store and the Redis store (a redis-server the suite starts on a free
 * 127.0.0.1 port; skipped with a message when redis-server is missing). */
#include "gw.h"
#include "limit.h"
#include "stats.h"
#include "store.h"
#include "store_impl.h"
#include "suites.h"
#include "testutil.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define USD 1000000000000LL

/* The backend the running suite tests, and its place. */
static bool redis_mode;
static pid_t redis_pid = -1;
static int redis_port;
static char *dir; /* file store: a fresh directory per case */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0)
		;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static redisContext *redis_connect(void)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* Opens the store under test, empty. */
static struct gw_store *open_store(void)
{
	if (redis_mode) {
		redisContext *c = redis_connect();
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		freeReplyObject(redisCommand(c, "FLUSHALL"));
		redisFree(c);
		return store_redis_open("127.0.0.1", redis_port, 0, 2000);
	}
	if (dir)
		tu_tmpdir_remove(dir);
	dir = tu_tmpdir_create();
	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	return store_file_open(dir, 0);
}

/* Another process's (or gateway's) handle on the same store. */
static struct gw_store *open_again(void)
{
	return redis_mode ? store_redis_open("127.0.0.1", redis_port, 0, 2000)
			  : store_file_open(dir, 0);
}

static struct limit_scope scope_of(const char *name, struct gw_limits *l)
{
	struct limit_scope sc;
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.file, sizeof(sc.file), "c@%s", name);
	sc.limits = l;
	return sc;
}

/* ---- the cases ---- */

static void case_requests_exact(void)
{
	struct gw_store *s = open_store();
	struct gw_limits l = { .query = { [GW_WIN_MINUTE] = 3 } };
	struct limit_scope sc = scope_of("alice", &l);
	struct limit_verdict v;
	struct limit_ticket t;
	int64_t now = now_ms();

	for (int i = 0; i < 3; i++) {
		TU_INT(store_take(s, &sc, 1, now, 0, &v, &t), GW_OK);
		CU_ASSERT(v.admitted);
		TU_INT(v.remaining, 2 - i);
	}
	TU_INT(store_take(s, &sc, 1, now, 0, &v, &t), GW_OK);
	CU_ASSERT(!v.admitted);
	CU_ASSERT(v.retry_after_s >= 1 && v.retry_after_s <= 60);
	store_close(s);
}

/* Four processes, each with its own handle, race for 25 places. */
static void case_exact_across_processes(void)
{
	struct gw_store *s = open_store();
	struct gw_limits l = { .query = { [GW_WIN_HOUR] = 25 } };
	struct limit_scope sc = scope_of("carol", &l);
	int64_t now = now_ms();
	pid_t kids[4];
	int admitted = 0;

	store_close(s);
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct gw_store *mine = open_again();
			int n = 0;
			for (int i = 0; i < 10; i++) {
				struct limit_verdict v;
				struct limit_ticket t;
				if (store_take(mine, &sc, 1, now, 0, &v, &t) == GW_OK && v.admitted)
					n++;
			}
			_exit(n);
		}
	}
	for (int k = 0; k < 4; k++) {
		int st;
		waitpid(kids[k], &st, 0);
		admitted += WIFEXITED(st) ? WEXITSTATUS(st) : 100;
	}
	TU_INT(admitted, 25);
}

static void case_tokens_settle(void)
{
	struct gw_store *s = open_store();
	struct gw_limits l = { .token = { [GW_WIN_HOUR] = 100 } };
	struct limit_scope sc = scope_of("bob", &l);
	struct limit_verdict v;
	struct limit_ticket t, t2;
	int64_t now = now_ms();

	TU_INT(store_take(s, &sc, 1, now, 60, &v, &t), GW_OK);
	CU_ASSERT(v.admitted);
	TU_INT(v.remaining, 40);
	TU_INT(store_take(s, &sc, 1, now, 60, &v, &t2), GW_OK);
	CU_ASSERT(v.admitted); /* 60 < 100: room when it came */
	TU_INT(store_take(s, &sc, 1, now, 1, &v, &t2), GW_OK);
	CU_ASSERT(!v.admitted);
	CU_ASSERT(v.by_tokens);
	/* the first used 10 of its 60; the second still holds its 60 */
	TU_INT(store_settle(s, &t, now + 1, 10, 0), GW_OK);
	CU_ASSERT(!t.pending);
	store_close(s);
	s = open_again();
	struct limit_ticket t3;
	TU_INT(store_take(s, &sc, 1, now + 2, 0, &v, &t3), GW_OK);
	CU_ASSERT(v.admitted);
	TU_INT(v.remaining, 30); /* 10 used + 60 reserved */
	TU_INT(store_take(s, &sc, 1, now + 2, 30, &v, &t3), GW_OK);
	CU_ASSERT(v.admitted);
	TU_INT(store_take(s, &sc, 1, now + 2, 0, &v, &t3), GW_OK);
	CU_ASSERT(!v.admitted);
	store_close(s);
}

static void case_budget(void)
{
	struct gw_store *s = open_store();
	struct gw_limits l = { .budget_day = 2 * USD };
	struct limit_scope sc = scope_of("dave", &l);
	struct limit_verdict v;
	struct limit_ticket t;
	int64_t now = now_ms();

	TU_INT(store_take(s, &sc, 1, now, 10, &v, &t), GW_OK);
	CU_ASSERT(v.admitted);
	TU_INT(store_settle(s, &t, now, 10, 3 * USD / 2), GW_OK);
	TU_INT(store_take(s, &sc, 1, now, 10, &v, &t), GW_OK);
	CU_ASSERT(v.admitted);
	TU_INT(store_settle(s, &t, now, 10, USD / 2), GW_OK);
	TU_INT(store_take(s, &sc, 1, now, 10, &v, &t), GW_OK);
	CU_ASSERT(!v.admitted);
	CU_ASSERT(v.by_budget);
	CU_ASSERT(v.retry_after_s >= 1 && v.retry_after_s <= 86400);
	store_close(s);
}

/* max_tokens 9223372036854775807, 1e17, negatives: never a store failure,
 * never a wrapped (open) window. */
static void case_hostile_numbers(void)
{
	static const long long bad[] = { INT64_MAX, 100000000000000000LL, -1, INT64_MIN,
					 -100000000000000000LL, LIMIT_TOKENS_MAX + 1 };
	struct gw_store *s = open_store();
	struct gw_limits l = { .token = { [GW_WIN_HOUR] = 1000 }, .budget_month = 5 * USD };
	struct limit_scope sc = scope_of("eve", &l);
	struct limit_verdict v;
	struct limit_ticket t;
	int64_t now = now_ms();

	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		struct gw_limits fresh = { .token = { [GW_WIN_HOUR] = 1000 } };
		char name[32];
		snprintf(name, sizeof(name), "eve%zu", i);
		struct limit_scope one = scope_of(name, &fresh);
		TU_INT(store_take(s, &one, 1, now, bad[i], &v, &t), GW_OK);
		CU_ASSERT(v.admitted);
		TU_INT(store_settle(s, &t, now, bad[i], bad[i]), GW_OK);
		TU_INT(store_take(s, &one, 1, now, 0, &v, &t), GW_OK);
		/* a huge count fills the window; a negative one counts nothing */
		CU_ASSERT(v.admitted == (bad[i] < 0));
		if (v.admitted)
			TU_INT(store_settle(s, &t, now, 0, 0), GW_OK);
	}
	/* two huge reservations overlapped: the window stays shut, not wrapped open */
	struct limit_ticket a, b;
	TU_INT(store_take(s, &sc, 1, now, INT64_MAX, &v, &a), GW_OK);
	CU_ASSERT(v.admitted);
	TU_INT(store_take(s, &sc, 1, now, INT64_MAX, &v, &b), GW_OK);
	CU_ASSERT(!v.admitted);
	TU_INT(store_settle(s, &a, now, -1, INT64_MAX), GW_OK);
	TU_INT(store_take(s, &sc, 1, now, 1, &v, &b), GW_OK);
	CU_ASSERT(!v.admitted); /* the budget took the absurd cost */
	CU_ASSERT(v.by_budget);

	/* the usage totals saturate instead of wrapping */
	struct stats_key k = { .consumer = "eve", .route = "r", .model = "m", .status = 200 };
	struct stats_values big = { INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX,
				     INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX };
	struct stats_values neg = { -5, INT64_MIN, -1, INT64_MIN, -1, INT64_MIN, -1, INT64_MIN };
	struct stats_row *rows;
	size_t n;
	for (int i = 0; i < 6; i++)
		TU_INT(store_record(s, now, &k, &big, INT64_MAX, INT64_MAX), GW_OK);
	TU_INT(store_record(s, now, &k, &neg, INT64_MIN, INT64_MIN), GW_OK);
	TU_INT(store_rows(s, "total", &rows, &n, NULL), GW_OK);
	TU_INT(n, 1);
	if (n == 1) {
		TU_INT(rows[0].v.prompt_tokens, 6 * LIMIT_TOKENS_MAX);
		TU_INT(rows[0].v.cached_tokens, 6 * LIMIT_TOKENS_MAX);
		TU_INT(rows[0].v.cache_write_tokens, 6 * LIMIT_TOKENS_MAX);
		TU_INT(rows[0].v.reasoning_tokens, 6 * LIMIT_TOKENS_MAX);
		CU_ASSERT(rows[0].v.cost_pico > 0 && rows[0].v.cost_pico <= LIMIT_SUM_MAX);
	}
	free(rows);
	store_close(s);
}

static void case_record_rows(void)
{
	struct gw_store *s = open_store();
	struct stats_key a = { .consumer = "alice", .route = "chat", .model = "m1", .status = 200 };
	struct stats_key b = { .consumer = "bob", .route = "chat", .model = "m2", .status = 429 };
	struct stats_values va = { 1, 10, 20, 300, 0, 6, 3, 5 };
	struct stats_values vb = { 1, 0, 0, 0, 1, 0, 0, 0 };
	struct stats_row *rows;
	struct stats_header h;
	char day[32];
	size_t n;
	int64_t now = now_ms();

	for (int i = 0; i < 3; i++)
		TU_INT(store_record(s, now, &a, &va, 1000, 20), GW_OK);
	TU_INT(store_record(s, now, &b, &vb, -1, 20), GW_OK);
	TU_INT(store_rows(s, "total", &rows, &n, &h), GW_OK);
	TU_INT(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rows[i].key.consumer, "alice") == 0) {
			TU_INT(rows[i].v.requests, 3);
			TU_INT(rows[i].v.completion_tokens, 60);
			TU_INT(rows[i].v.cost_pico, 900);
			TU_INT(rows[i].v.cached_tokens, 18);
			TU_INT(rows[i].v.cache_write_tokens, 9);
			TU_INT(rows[i].v.reasoning_tokens, 15);
			TU_INT(rows[i].key.status, 200);
		} else {
			TU_STR(rows[i].key.consumer, "bob");
			TU_INT(rows[i].v.unpriced, 1);
			TU_INT(rows[i].v.cached_tokens, 0);
			TU_INT(rows[i].key.status, 429);
		}
	}
	free(rows);
	TU_INT(h.overhead.count, 4);
	TU_INT(h.upstream.count, 3);
	TU_INT(h.upstream.sum_us, 3000);
	stats_day_name(now, day);
	TU_INT(store_rows(s, day, &rows, &n, NULL), GW_OK);
	TU_INT(n, 2);
	free(rows);
	TU_INT(store_rows(s, "day-19990101", &rows, &n, NULL), GW_OK);
	TU_INT(n, 0);
	CU_ASSERT_PTR_NULL(rows);
	TU_STR(s->note, "");
	store_close(s);
}

static void case_reset(void)
{
	struct gw_store *s = open_store();
	struct gw_limits l = { .query = { [GW_WIN_DAY] = 1 } };
	struct gw_limits other = { .query = { [GW_WIN_DAY] = 1 } };
	struct limit_scope sc[2] = { scope_of("frank", &l), scope_of("frankie", &other) };
	struct limit_verdict v;
	struct limit_ticket t;
	int64_t now = now_ms();
	long cleared = -1;

	TU_INT(store_take(s, &sc[0], 1, now, 0, &v, &t), GW_OK);
	TU_INT(store_take(s, &sc[1], 1, now, 0, &v, &t), GW_OK);
	TU_INT(store_take(s, &sc[0], 1, now, 0, &v, &t), GW_OK);
	CU_ASSERT(!v.admitted);
	TU_INT(store_reset(s, "frank", &cleared), GW_OK);
	TU_INT(cleared, 1);
	TU_INT(store_take(s, &sc[0], 1, now, 0, &v, &t), GW_OK);
	CU_ASSERT(v.admitted);
	TU_INT(store_take(s, &sc[1], 1, now, 0, &v, &t), GW_OK);
	CU_ASSERT(!v.admitted); /* another consumer's windows are untouched */
	TU_INT(store_reset(s, "nobody*", &cleared), GW_OK);
	TU_INT(cleared, 0);
	store_close(s);
}

static void case_claim_once(void)
{
	struct gw_store *s = open_store(), *s2 = open_again();
	char longkey[1200];
	bool first;

	TU_INT(store_claim(s, "alert:alice:80", 60000, &first), GW_OK);
	CU_ASSERT(first);
	TU_INT(store_claim(s, "alert:alice:80", 60000, &first), GW_OK);
	CU_ASSERT(!first);
	TU_INT(store_claim(s2, "alert:alice:80", 60000, &first), GW_OK);
	CU_ASSERT(!first);
	/* hostile keys: path tricks, control bytes, the empty key, a long one */
	static const char *const odd[] = { "../../etc/passwd", "a/b", ".", "..", "", "\x01\n\xff",
					   "%2e%2e", "~x" };
	for (size_t i = 0; i < GW_ARRAY_LEN(odd); i++) {
		TU_INT(store_claim(s, odd[i], 60000, &first), GW_OK);
		CU_ASSERT(first);
		TU_INT(store_claim(s2, odd[i], 60000, &first), GW_OK);
		CU_ASSERT(!first);
	}
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	TU_INT(store_claim(s, longkey, 60000, &first), GW_OK);
	CU_ASSERT(first);
	longkey[600] = 'j'; /* same length, one byte apart */
	TU_INT(store_claim(s, longkey, 60000, &first), GW_OK);
	CU_ASSERT(first);
	/* expiry */
	TU_INT(store_claim(s, "short", 60, &first), GW_OK);
	CU_ASSERT(first);
	sleep_ms(150);
	TU_INT(store_claim(s2, "short", 60, &first), GW_OK);
	CU_ASSERT(first);
	/* negative and absurd ttls are bounded, not errors */
	TU_INT(store_claim(s, "neg", -5, &first), GW_OK);
	TU_INT(store_claim(s, "huge", INT64_MAX, &first), GW_OK);
	CU_ASSERT(first);
	store_close(s2);
	store_close(s);
}

/* Four processes claim the same 200 keys at once: each key has exactly
 * one first, however the creations and checks interleave. */
static void case_claim_race(void)
{
	struct gw_store *s = open_store();
	pid_t kids[4];
	int firsts = 0;

	store_close(s);
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct gw_store *mine = open_again();
			int n = 0;
			for (int i = 0; i < 200; i++) {
				char key[32];
				bool first = false;
				snprintf(key, sizeof(key), "race:%d", i);
				if (store_claim(mine, key, 60000, &first) == GW_OK && first)
					n++;
			}
			store_close(mine);
			_exit(n > 200 ? 255 : n);
		}
	}
	for (int k = 0; k < 4; k++) {
		int st;
		waitpid(kids[k], &st, 0);
		firsts += WIFEXITED(st) ? WEXITSTATUS(st) : 1000;
	}
	TU_INT(firsts, 200);
}

static void case_put_get(void)
{
	struct gw_store *s = open_store(), *s2 = open_again();
	char out[128], big[STORE_VALUE_MAX + 2];

	TU_INT(store_put(s, "resp_abc", "alice|up1", 60000), GW_OK);
	TU_INT(store_get(s2, "resp_abc", out, sizeof(out)), GW_OK);
	TU_STR(out, "alice|up1");
	TU_INT(store_put(s2, "resp_abc", "bob|up2", 60000), GW_OK);
	TU_INT(store_get(s, "resp_abc", out, sizeof(out)), GW_OK);
	TU_STR(out, "bob|up2");
	TU_INT(store_get(s, "resp_none", out, sizeof(out)), GW_ENOTFOUND);
	TU_INT(store_put(s, "../x/../../y", "v", 60000), GW_OK);
	TU_INT(store_get(s, "../x/../../y", out, sizeof(out)), GW_OK);
	TU_STR(out, "v");
	TU_INT(store_get(s, "y", out, sizeof(out)), GW_ENOTFOUND);
	TU_INT(store_put(s, "empty", "", 60000), GW_OK);
	TU_INT(store_get(s, "empty", out, sizeof(out)), GW_OK);
	TU_STR(out, "");
	TU_INT(store_put(s, "lines", "a\nb\n", 60000), GW_OK);
	TU_INT(store_get(s, "lines", out, sizeof(out)), GW_OK);
	TU_STR(out, "a\nb\n");
	TU_INT(store_get(s, "lines", out, 3), GW_ETOOBIG);
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	TU_INT(store_put(s, "big", big, 60000), GW_ETOOBIG);
	TU_INT(store_put(s, "soon", "gone", 60), GW_OK);
	sleep_ms(150);
	TU_INT(store_get(s, "soon", out, sizeof(out)), GW_ENOTFOUND);
	store_close(s2);
	store_close(s);
}

static void case_slots(void)
{
	struct gw_store *s = open_store();
	struct store_slot a, b, c;
	long long held = -1;
	bool ok;

	TU_INT(store_slot_take(s, "c@alice", 2, &a, &ok), GW_OK);
	CU_ASSERT(ok && a.held);
	TU_INT(store_slot_take(s, "c@alice", 2, &b, &ok), GW_OK);
	CU_ASSERT(ok);
	TU_INT(store_slot_take(s, "c@alice", 2, &c, &ok), GW_OK);
	CU_ASSERT(!ok && !c.held);
	TU_INT(store_slot_count(s, "c@alice", &held), GW_OK);
	TU_INT(held, 2);
	TU_INT(store_slot_count(s, "c@alice2", &held), GW_OK);
	TU_INT(held, 0);
	store_slot_release(s, &a);
	CU_ASSERT(!a.held);
	store_slot_release(s, &a); /* twice is harmless */
	TU_INT(store_slot_take(s, "c@alice", 2, &c, &ok), GW_OK);
	CU_ASSERT(ok);
	store_slot_release(s, &b);
	store_slot_release(s, &c);
	TU_INT(store_slot_count(s, "c@alice", &held), GW_OK);
	TU_INT(held, 0);
	/* a hostile scope and a limit of 0 */
	TU_INT(store_slot_take(s, "../\n../x", 1, &a, &ok), GW_OK);
	CU_ASSERT(ok);
	store_slot_release(s, &a);
	TU_INT(store_slot_take(s, "c@zero", 0, &a, &ok), GW_OK);
	CU_ASSERT(!ok);
	store_close(s);
}

/* A slot held by a process that is killed is free again. */
static void case_slot_killed_holder(void)
{
	struct gw_store *s = open_store();
	struct store_slot mine;
	int pipefd[2];
	char ready;
	bool ok = false;
	pid_t kid;

	CU_ASSERT_FATAL(pipe(pipefd) == 0);
	kid = fork();
	if (kid == 0) {
		struct gw_store *theirs = open_again();
		struct store_slot slot;
		bool got = false;
		close(pipefd[0]);
		if (store_slot_take(theirs, "c@killed", 1, &slot, &got) != GW_OK || !got)
			_exit(1);
		(void)!write(pipefd[1], "x", 1);
		pause();
		_exit(9);
	}
	close(pipefd[1]);
	CU_ASSERT_FATAL(read(pipefd[0], &ready, 1) == 1);
	close(pipefd[0]);
	TU_INT(store_slot_take(s, "c@killed", 1, &mine, &ok), GW_OK);
	CU_ASSERT(!ok);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	/* the server sees the connection close a moment later */
	for (int i = 0; i < 50 && !ok; i++) {
		TU_INT(store_slot_take(s, "c@killed", 1, &mine, &ok), GW_OK);
		if (!ok)
			sleep_ms(20);
	}
	CU_ASSERT(ok);
	store_slot_release(s, &mine);
	store_close(s);
}

/* Redis: the server drops the holder's connection mid-request (a restart
 * of a proxy, a client timeout); the handle reconnects, and its slot must
 * still count, not be reaped as a dead holder's by the next caller. */
static void case_slot_held_across_reconnect(void)
{
	struct gw_store *s, *s2;
	struct store_slot mine, theirs;
	redisContext *admin;
	redisReply *rep;
	long long held = -1;
	bool ok = false;

	if (!redis_mode)
		return; /* the file store holds no connection */
	s = open_store();
	s2 = open_again();
	TU_INT(store_slot_take(s, "c@moved", 1, &mine, &ok), GW_OK);
	CU_ASSERT_FATAL(ok);
	admin = redis_connect();
	CU_ASSERT_FATAL(admin != NULL);
	rep = redisCommand(admin, "CLIENT KILL TYPE normal SKIPME yes");
	CU_ASSERT(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer >= 1);
	if (rep)
		freeReplyObject(rep);
	redisFree(admin);
	/* the next command reconnects */
	TU_INT(store_slot_count(s, "c@moved", &held), GW_OK);
	TU_INT(held, 1);
	TU_INT(store_slot_take(s2, "c@moved", 1, &theirs, &ok), GW_OK);
	CU_ASSERT(!ok);
	store_slot_release(s, &mine);
	TU_INT(store_slot_take(s2, "c@moved", 1, &theirs, &ok), GW_OK);
	CU_ASSERT(ok);
	store_slot_release(s2, &theirs);
	store_close(s2);
	store_close(s);
}

/* ---- file store only: its table files damaged or removed under it ---- */

static int64_t total_requests(struct gw_store *s)
{
	struct stats_row *rows;
	size_t n;
	int64_t sum = 0;

	if (store_rows(s, "total", &rows, &n, NULL) != GW_OK)
		return -1;
	for (size_t i = 0; i < n; i++)
		sum += rows[i].v.requests;
	free(rows);
	return sum;
}

/* A totals file cut short under a worker that has it mapped: no SIGBUS,
 * the file is moved aside and started anew, and the store says so. */
static void case_truncated_totals(void)
{
	struct gw_store *s = open_store();
	struct stats_key k = { .consumer = "a", .route = "r", .model = "m", .status = 200 };
	struct stats_values one = { 1, 1, 1, 1, 0, 0, 0, 0 };
	char *path, *aside;
	int64_t now = now_ms();

	TU_INT(store_record(s, now, &k, &one, 1, 1), GW_OK);
	path = tu_path(dir, "total");
	aside = tu_path(dir, "total.damaged");
	CU_ASSERT_FATAL(truncate(path, 100) == 0);
	TU_INT(store_record(s, now, &k, &one, 1, 1), GW_OK);
	CU_ASSERT(strstr(s->note, "damaged") != NULL);
	CU_ASSERT(access(aside, F_OK) == 0);
	TU_INT(total_requests(s), 1);
	s->note[0] = '\0';
	TU_INT(store_record(s, now, &k, &one, 1, 1), GW_OK);
	TU_STR(s->note, "");
	TU_INT(total_requests(s), 2);
	free(path);
	free(aside);
	store_close(s);
}

/* A day or totals file deleted under a worker: the next second's records
 * land in a new file that /_aigw/usage reads. */
static void case_deleted_totals(void)
{
	struct gw_store *s = open_store();
	struct stats_key k = { .consumer = "a", .route = "r", .model = "m", .status = 200 };
	struct stats_values one = { 1, 1, 1, 1, 0, 0, 0, 0 };
	struct stats_row *rows;
	char day[32], *path, *daypath;
	size_t n;
	int64_t now = now_ms();

	stats_day_name(now, day);
	TU_INT(store_record(s, now, &k, &one, 1, 1), GW_OK);
	path = tu_path(dir, "total");
	daypath = tu_path(dir, day);
	CU_ASSERT(unlink(path) == 0);
	CU_ASSERT(unlink(daypath) == 0);
	TU_INT(store_record(s, now, &k, &one, 1, 1), GW_OK);
	TU_INT(total_requests(s), 1);
	TU_INT(store_rows(s, day, &rows, &n, NULL), GW_OK);
	TU_INT(n, 1);
	free(rows);
	TU_STR(s->note, ""); /* a removed file is not a damaged one */
	free(path);
	free(daypath);
	store_close(s);
}

#define CASES(X)                                                                    \
	X(case_requests_exact, "a request window admits exactly its limit")         \
	X(case_exact_across_processes, "exact across four processes")               \
	X(case_tokens_settle, "token reservations and settlement")                  \
	X(case_budget, "a day budget refuses once spent")                           \
	X(case_hostile_numbers, "huge and negative numbers: bounded, saturating")  \
	X(case_record_rows, "usage totals: record and rows")                        \
	X(case_reset, "reset clears one consumer's windows")                        \
	X(case_claim_once, "a claim is first once, hostile keys, expiry")           \
	X(case_claim_race, "four processes claiming the same keys: one first each") \
	X(case_put_get, "put and get: overwrite, hostile keys, sizes, expiry")      \
	X(case_slots, "slots: up to the limit, release frees")                      \
	X(case_slot_killed_holder, "a killed holder's slot is free again")         \
	X(case_slot_held_across_reconnect, "a slot stays held across a reconnect")

/* ---- the two suites ---- */

static int file_init(void)
{
	redis_mode = false;
	return 0;
}

static int file_cleanup(void)
{
	if (dir)
		tu_tmpdir_remove(dir);
	dir = NULL;
	return 0;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int redis_init(void)
{
	char port[16];

	redis_mode = true;
	redis_port = free_port();
	if (redis_port < 0)
		return 1;
	snprintf(port, sizeof(port), "%d", redis_port);
	redis_pid = fork();
	if (redis_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "no", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250; i++) {
		redisContext *c = redis_connect();
		if (c) {
			redisReply *r = redisCommand(c, "PING");
			bool up = r && r->type == REDIS_REPLY_STATUS;
			if (r)
				freeReplyObject(r);
			redisFree(c);
			if (up)
				return 0;
		}
		sleep_ms(20);
	}
	return 1;
}

static int redis_cleanup(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
	redis_pid = -1;
	return 0;
}

static bool redis_installed(void)
{
	return system("command -v redis-server >/dev/null 2>&1") == 0;
}

void suite_store(void)
{
#define ROW(fn, text) { text, fn, false },
	static const struct tu_test tests[] = { CASES(ROW) };
#undef ROW
	tu_register("store-file", file_init, file_cleanup, tests, GW_ARRAY_LEN(tests));
	static const struct tu_test repairs[] = {
		{ "a truncated totals file: moved aside, no SIGBUS", case_truncated_totals, false },
		{ "a deleted day or totals file is reopened", case_deleted_totals, false },
	};
	tu_register("store-file-repair", file_init, file_cleanup, repairs, GW_ARRAY_LEN(repairs));
	if (redis_installed())
		tu_register("store-redis", redis_init, redis_cleanup, tests, GW_ARRAY_LEN(tests));
	else
		printf("store-redis: redis-server is not installed; the Redis store is not tested\n");
}
