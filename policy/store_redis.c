/* store_redis.c: the Redis store: windows, budgets, usage totals and
 * in-flight slots in Lua scripts (each one atomic), claims and remembered
 * values in plain keys. Every key starts "aigw:". One connection per store;
 * every call is bounded by the store timeout. Every number sent is an
 * integer in range (bounded in limit.h terms), and the scripts pass the
 * caller's strings on, never a number Lua would print in exponent form. */
#include "gw.h"
#include "limit.h"
#include "stats.h"
#include "store.h"
#include "store_impl.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* Saturating increments shared by the scripts: a counter stops at
 * LIMIT_SUM_MAX rather than fail the script with an overflow. */
#define LUA_SAT                                                                        \
	"local CAP = '4000000000000000000'\n"                                          \
	"local function hadd(k, f, n)\n"                                               \
	"  if (tonumber(redis.call('HGET', k, f) or '0') or 0) + tonumber(n) >= 4e18 then\n" \
	"    redis.call('HSET', k, f, CAP) return 4e18 end\n"                          \
	"  return redis.call('HINCRBY', k, f, n)\n"                                    \
	"end\n"                                                                        \
	"local function add(k, n)\n"                                                   \
	"  if (tonumber(redis.call('GET', k) or '0') or 0) + tonumber(n) >= 4e18 then\n" \
	"    redis.call('SET', k, CAP, 'KEEPTTL') return 4e18 end\n"                   \
	"  return redis.call('INCRBY', k, n)\n"                                        \
	"end\n"

/* Checks every window (KEYS, one each; ARGV: estimate, then kind, limit,
 * expire-at per window) and, only when all have room, counts the request
 * and reserves tokens. Returns {admitted, used or used+reserved per key}. */
static const char admit_lua[] =
	LUA_SAT
	"local est = tonumber(ARGV[1])\n"
	"local used, ok = {}, 1\n"
	"for i = 1, #KEYS do\n"
	"  local kind, limit = ARGV[3*i-1], tonumber(ARGV[3*i])\n"
	"  local u\n"
	"  if kind == 'T' then\n"
	"    local h = redis.call('HMGET', KEYS[i], 'used', 'reserved')\n"
	"    u = (tonumber(h[1]) or 0) + (tonumber(h[2]) or 0)\n"
	"  else\n"
	"    u = tonumber(redis.call('GET', KEYS[i]) or '0') or 0\n"
	"  end\n"
	"  used[i] = u\n"
	"  if u >= limit then ok = 0 end\n"
	"end\n"
	"if ok == 1 then\n"
	"  for i = 1, #KEYS do\n"
	"    local kind, exp = ARGV[3*i-1], ARGV[3*i+1]\n"
	"    if kind == 'Q' then\n"
	"      used[i] = add(KEYS[i], '1')\n"
	"      redis.call('PEXPIREAT', KEYS[i], exp)\n"
	"    elseif kind == 'T' then\n"
	"      hadd(KEYS[i], 'reserved', ARGV[1])\n"
	"      used[i] = used[i] + est\n"
	"      redis.call('PEXPIREAT', KEYS[i], exp)\n"
	"    end\n"
	"  end\n"
	"end\n"
	"local out = {ok}\n"
	"for i = 1, #KEYS do out[i+1] = used[i] end\n"
	"return out\n";

/* Settles: KEYS are pairs (window at reservation, window now) for each token
 * window, then one key per budget. ARGV: -estimate, actual, cost, number of
 * token windows, then an expire-at per token window and per budget.
 * Returns {1, spent in each budget key after settling}. */
static const char settle_lua[] =
	LUA_SAT
	"local actual, nt = tonumber(ARGV[2]), tonumber(ARGV[4])\n"
	"for i = 1, nt do\n"
	"  local at, now = KEYS[2*i-1], KEYS[2*i]\n"
	"  if redis.call('EXISTS', at) == 1 then\n"
	"    if redis.call('HINCRBY', at, 'reserved', ARGV[1]) < 0 then\n"
	"      redis.call('HSET', at, 'reserved', 0)\n"
	"    end\n"
	"  end\n"
	"  if actual > 0 then\n"
	"    hadd(now, 'used', ARGV[2])\n"
	"    redis.call('PEXPIREAT', now, ARGV[4+i])\n"
	"  end\n"
	"end\n"
	"local out = {1}\n"
	"for j = 2*nt+1, #KEYS do\n"
	"  if tonumber(ARGV[3]) > 0 then\n"
	"    add(KEYS[j], ARGV[3])\n"
	"    redis.call('PEXPIREAT', KEYS[j], ARGV[4+nt+(j-2*nt)])\n"
	"  end\n"
	"  out[#out+1] = tonumber(redis.call('GET', KEYS[j]) or '0') or 0\n"
	"end\n"
	"return out\n";

/* Usage totals: KEYS total, day, histograms; ARGV: field prefix, requests,
 * prompt, completion, cost, unpriced, cached, cache write, reasoning,
 * upstream bucket (or ''), upstream us, overhead bucket, overhead us, day
 * expiry in seconds. A field is the prefix and one letter of names. */
static const char stats_lua[] =
	LUA_SAT
	"local f = ARGV[1]\n"
	"local names = {'r', 'p', 'c', '$', 'u', 'k', 'w', 'x'}\n"
	"for k = 1, 2 do\n"
	"  for i = 1, 8 do\n"
	"    if ARGV[i+1] ~= '0' then hadd(KEYS[k], f .. names[i], ARGV[i+1]) end\n"
	"  end\n"
	"end\n"
	"redis.call('EXPIRE', KEYS[2], ARGV[14])\n"
	"if ARGV[10] ~= '' then\n"
	"  redis.call('HINCRBY', KEYS[3], 'u' .. ARGV[10], 1)\n"
	"  hadd(KEYS[3], 'us', ARGV[11])\n"
	"  redis.call('HINCRBY', KEYS[3], 'uc', 1)\n"
	"end\n"
	"redis.call('HINCRBY', KEYS[3], 'o' .. ARGV[12], 1)\n"
	"hadd(KEYS[3], 'os', ARGV[13])\n"
	"redis.call('HINCRBY', KEYS[3], 'oc', 1)\n"
	"return 1\n";

/* In-flight slots: KEYS[1] the scope's sorted set; ARGV limit, member, now
 * (the score), the set's expiry in ms. Admits when fewer than limit held. */
static const char slot_lua[] =
	"if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end\n"
	"redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])\n"
	"redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
	"return 1\n";

/* Slots one handle holds at once (a request takes at most two); a slot
 * beyond them is still held, but not renamed after a reconnect. */
#define REDIS_HELD_MAX 4

struct redis_store {
	redisContext *ctx; /* NULL while disconnected */
	char *host;
	int port;
	int db;
	long timeout_ms;
	char sha_admit[41], sha_settle[41], sha_stats[41], sha_slot[41];
	long long client_id; /* CLIENT ID of ctx: names the slots it holds */
	unsigned long minted; /* slot members made */
	struct store_slot *held[REDIS_HELD_MAX]; /* slots taken, not yet released */
	int64_t retry_at_ms;  /* after a failure, fail fast until then */
};

#define RS(s) ((struct redis_store *)(s)->impl)

static void disconnect(struct redis_store *r)
{
	if (r->ctx)
		redisFree(r->ctx);
	r->ctx = NULL;
}

static int64_t wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Marks the connection failed: fail fast for a second, then try again. */
static int fail(struct gw_store *s, const char *what)
{
	struct redis_store *r = RS(s);
	redisContext *c = r->ctx;

	store_fail(s, GW_EIO, "redis %s:%d: %s%s%s", r->host, r->port, what,
		   c && c->err ? ": " : "", c && c->err ? c->errstr : "");
	disconnect(r);
	r->retry_at_ms = wall_ms() + 1000;
	return GW_EIO;
}

static bool load_script(struct redis_store *r, const char *lua, char sha[41])
{
	redisReply *rep = redisCommand(r->ctx, "SCRIPT LOAD %s", lua);
	bool ok = rep && rep->type == REDIS_REPLY_STRING && rep->len == 40;
	if (ok)
		memcpy(sha, rep->str, 41);
	if (rep)
		freeReplyObject(rep);
	return ok;
}

/* A command whose answer is an integer; false when it is not. */
static bool command_int(struct redis_store *r, const char *cmd, long long *out)
{
	redisReply *rep = redisCommand(r->ctx, cmd);
	bool ok = rep && rep->type == REDIS_REPLY_INTEGER;
	if (ok)
		*out = rep->integer;
	if (rep)
		freeReplyObject(rep);
	return ok;
}

static char *prefixed(const char *prefix, const char *key, size_t *len);

/* "<client id>:<pid>.<n>": a slot member, alive while that connection is. */
static void mint_slot_id(struct redis_store *r, struct store_slot *slot)
{
	snprintf(slot->id, sizeof(slot->id), "%lld:%ld.%lu", r->client_id, (long)getpid(),
		 ++r->minted);
}

/* Moves each slot still held over to the new connection's name: a member
 * naming the closed connection would be reaped by the next caller to find
 * the set full, while its request is still in flight. */
static int rename_held_slots(struct gw_store *s)
{
	static const char lua[] = "redis.call('ZREM', KEYS[1], ARGV[1])\n"
				  "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])\n"
				  "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
				  "return 1\n";
	struct redis_store *r = RS(s);

	for (size_t i = 0; i < REDIS_HELD_MAX; i++) {
		struct store_slot *slot = r->held[i];
		char old[sizeof(slot->id)], now[32];
		size_t klen;
		char *key;
		redisReply *rep;

		if (!slot)
			continue;
		memcpy(old, slot->id, sizeof(old));
		mint_slot_id(r, slot);
		snprintf(now, sizeof(now), "%lld", (long long)wall_ms());
		key = prefixed("aigw:slot:", slot->scope, &klen);
		const char *argv[8] = { "EVAL", lua, "1", key, old, slot->id, now, "86400000" };
		size_t lens[8] = { 4, sizeof(lua) - 1, 1, klen, strlen(old), strlen(slot->id),
				   strlen(now), 8 };
		rep = redisCommandArgv(r->ctx, 8, argv, lens);
		free(key);
		if (!rep || rep->type != REDIS_REPLY_INTEGER) {
			if (rep)
				freeReplyObject(rep);
			memcpy(slot->id, old, sizeof(old));
			return fail(s, "cannot rename a held slot");
		}
		freeReplyObject(rep);
	}
	return GW_OK;
}

static int connect_store(struct gw_store *s)
{
	struct redis_store *r = RS(s);
	struct timeval tv = { r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000 };
	redisReply *rep;

	if (r->ctx)
		return GW_OK;
	if (wall_ms() < r->retry_at_ms)
		return GW_EIO; /* s->err still says why it failed a moment ago */
	r->ctx = redisConnectWithTimeout(r->host, r->port, tv);
	if (!r->ctx || r->ctx->err)
		return fail(s, "cannot connect");
	redisSetTimeout(r->ctx, tv);
	if (r->db) {
		rep = redisCommand(r->ctx, "SELECT %d", r->db);
		bool ok = rep && rep->type == REDIS_REPLY_STATUS;
		if (rep)
			freeReplyObject(rep);
		if (!ok)
			return fail(s, "SELECT failed");
	}
	if (!load_script(r, admit_lua, r->sha_admit) || !load_script(r, settle_lua, r->sha_settle) ||
	    !load_script(r, stats_lua, r->sha_stats) || !load_script(r, slot_lua, r->sha_slot))
		return fail(s, "cannot load scripts");
	if (!command_int(r, "CLIENT ID", &r->client_id))
		return fail(s, "CLIENT ID failed");
	return rename_held_slots(s);
}

/* True when the server closed a connection that had been idle (a restart,
 * or its client timeout): worth one new connection, unlike a read timeout,
 * which hiredis also reports as an I/O error. */
static bool closed_by_server(const struct redis_store *r)
{
	return r->ctx->err == REDIS_ERR_EOF ||
	       (r->ctx->err == REDIS_ERR_IO && strstr(r->ctx->errstr, "reset"));
}

/* Runs a command; a connection the server closed is reopened once. */
static redisReply *command_argv(struct gw_store *s, int argc, const char **argv,
				const size_t *lens)
{
	struct redis_store *r = RS(s);
	redisReply *rep;

	if (connect_store(s) != GW_OK)
		return NULL;
	rep = redisCommandArgv(r->ctx, argc, argv, lens);
	if (!rep && closed_by_server(r)) {
		disconnect(r);
		r->retry_at_ms = 0;
		if (connect_store(s) != GW_OK)
			return NULL;
		rep = redisCommandArgv(r->ctx, argc, argv, lens);
	}
	return rep;
}

/* Runs EVALSHA with argv (argv[1] is the sha); a Redis that lost its
 * scripts (restarted) gets them again once. */
static redisReply *eval(struct gw_store *s, int argc, const char **argv, const size_t *lens)
{
	redisReply *rep = command_argv(s, argc, argv, lens);

	if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(rep);
		disconnect(RS(s));
		if (connect_store(s) != GW_OK)
			return NULL;
		rep = redisCommandArgv(RS(s)->ctx, argc, argv, lens);
	}
	return rep;
}

/* ---- command arguments ---- */

#define RARGS_MAX 160

struct rargs {
	const char *v[RARGS_MAX];
	size_t len[RARGS_MAX];
	char text[RARGS_MAX][320];
	int n;
};

static void arg(struct rargs *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct rargs *a, const char *fmt, ...)
{
	va_list ap;

	if (a->n == RARGS_MAX)
		abort(); /* bounded by the number of windows: cannot happen */
	va_start(ap, fmt);
	vsnprintf(a->text[a->n], sizeof(a->text[0]), fmt, ap);
	va_end(ap);
	a->v[a->n] = a->text[a->n];
	a->len[a->n] = strlen(a->text[a->n]);
	a->n++;
}

/* "aigw:" prefix then key's bytes, as one argument; the caller frees it. */
static char *prefixed(const char *prefix, const char *key, size_t *len)
{
	char *k = gw_concat(prefix, key);
	*len = strlen(k);
	return k;
}

/* ---- admission ---- */

/* One window to check, in the order the script sees them. */
struct check {
	char key[300];
	char kind; /* Q requests, T tokens, B budget */
	long long limit;
	int64_t end_ms;
	int64_t reset_s;
};

static const char win_code[GW_WIN__MAX] = { 's', 'm', 'h', 'd' };

/* The keys of a scope's windows (limit_windows) that hold now_ms. */
static size_t scope_checks(const struct limit_scope *s, int64_t now_ms, struct check *out)
{
	struct limit_window_ref win[LIMIT_WINDOWS_MAX];
	size_t n = limit_windows(s->limits, now_ms, win);

	for (size_t i = 0; i < n; i++) {
		char a, b;
		switch (win[i].kind) {
		case LIMIT_REQUESTS: a = 'q', b = win_code[win[i].w], out[i].kind = 'Q'; break;
		case LIMIT_TOKENS: a = 't', b = win_code[win[i].w], out[i].kind = 'T'; break;
		case LIMIT_BUDGET_DAY: a = 'b', b = 'D', out[i].kind = 'B'; break;
		default: a = 'b', b = 'M', out[i].kind = 'B'; break;
		}
		snprintf(out[i].key, sizeof(out[i].key), "aigw:%s:%c%c:%lld", s->file, a, b,
			 (long long)win[i].start);
		out[i].limit = win[i].limit;
		out[i].end_ms = win[i].end;
		out[i].reset_s = win[i].reset_s;
	}
	return n;
}

static void verdict(const struct check *c, size_t n, const redisReply *rep, bool admitted,
		    struct limit_verdict *v)
{
	for (size_t i = 0; i < n; i++) {
		long long used = rep->element[i + 1]->integer;
		if (c[i].kind == 'B') {
			if (!admitted && used >= c[i].limit) {
				v->by_budget = true;
				if (c[i].reset_s > v->retry_after_s)
					v->retry_after_s = c[i].reset_s;
			}
			continue;
		}
		if (admitted) {
			limit_note(v, c[i].limit, c[i].limit - used, c[i].reset_s, c[i].kind == 'T');
		} else if (used >= c[i].limit) {
			limit_note(v, c[i].limit, 0, c[i].reset_s, c[i].kind == 'T');
			if (c[i].reset_s > v->retry_after_s)
				v->retry_after_s = c[i].reset_s;
		}
	}
}

static int r_take(struct gw_store *s, const struct limit_scope *scopes, size_t n, int64_t now_ms,
		  long long estimate, struct limit_verdict *v, struct limit_ticket *t)
{
	struct check checks[2 * LIMIT_WINDOWS_MAX];
	struct rargs *a;
	redisReply *rep;
	size_t nc = 0;
	bool admitted;

	memset(v, 0, sizeof(*v));
	memset(t, 0, sizeof(*t));
	v->admitted = true;
	n = n < 2 ? n : 2;
	estimate = limit_clamp(estimate, 0, LIMIT_TOKENS_MAX);
	for (size_t i = 0; i < n; i++)
		nc += scope_checks(&scopes[i], now_ms, checks + nc);
	if (nc == 0)
		return GW_OK;
	if (connect_store(s) != GW_OK) {
		v->admitted = false;
		return GW_EIO;
	}
	a = gw_calloc(1, sizeof(*a));
	arg(a, "EVALSHA");
	arg(a, "%s", RS(s)->sha_admit);
	arg(a, "%zu", nc);
	for (size_t i = 0; i < nc; i++)
		arg(a, "%s", checks[i].key);
	arg(a, "%lld", estimate);
	for (size_t i = 0; i < nc; i++) {
		arg(a, "%c", checks[i].kind);
		arg(a, "%lld", checks[i].limit);
		arg(a, "%lld", (long long)checks[i].end_ms + 60000);
	}
	rep = eval(s, a->n, a->v, a->len);
	free(a);
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != nc + 1) {
		if (rep)
			freeReplyObject(rep);
		v->admitted = false;
		return fail(s, "admission script failed");
	}
	admitted = rep->element[0]->integer == 1;
	verdict(checks, nc, rep, admitted, v);
	freeReplyObject(rep);
	v->admitted = admitted;
	if (admitted) {
		memcpy(t->scopes, scopes, n * sizeof(*scopes));
		t->n = n;
		t->at_ms = now_ms;
		t->estimate = estimate;
		t->pending = true;
	}
	return GW_OK;
}

/* ---- settlement ---- */

/* The consumer's budget spending after settling, from the script's answer
 * (a budget key's code is 'D' for the day, 'M' for the month). */
static void note_spent(struct limit_ticket *t, const struct check *budgets, const bool *mine,
		       size_t nb, const redisReply *rep)
{
	for (size_t i = 0; i < nb; i++) {
		const char *last = strrchr(budgets[i].key, ':'); /* aigw:FILE:bD:START */
		if (!mine[i] || !last || last - budgets[i].key < 3 ||
		    rep->element[i + 1]->type != REDIS_REPLY_INTEGER)
			continue;
		if (last[-1] == 'D')
			t->spent_day = rep->element[i + 1]->integer;
		else if (last[-1] == 'M')
			t->spent_month = rep->element[i + 1]->integer;
	}
}

static int r_settle(struct gw_store *s, struct limit_ticket *t, int64_t now_ms, long long actual,
		    int64_t cost_pico)
{
	struct check at[2 * LIMIT_WINDOWS_MAX], now[2 * LIMIT_WINDOWS_MAX];
	struct check budgets[2 * LIMIT_WINDOWS_MAX];
	bool consumer_budget[2 * LIMIT_WINDOWS_MAX]; /* of the consumer's own scope */
	size_t nt = 0, nb = 0;
	struct rargs *a;
	redisReply *rep;
	int rc = GW_OK;

	t->spent_day = t->spent_month = -1;
	if (!t->pending)
		return GW_OK;
	t->pending = false;
	actual = actual < 0 ? -1 : limit_clamp(actual, 0, LIMIT_TOKENS_MAX);
	cost_pico = limit_clamp(cost_pico, 0, LIMIT_PICO_MAX);
	for (size_t i = 0; i < t->n; i++) {
		struct check c1[LIMIT_WINDOWS_MAX], c2[LIMIT_WINDOWS_MAX];
		size_t n1 = scope_checks(&t->scopes[i], t->at_ms, c1);
		size_t n2 = scope_checks(&t->scopes[i], now_ms, c2);
		for (size_t k = 0; k < n1 && k < n2; k++) {
			if (c1[k].kind == 'T') {
				at[nt] = c1[k];
				now[nt++] = c2[k];
			} else if (c2[k].kind == 'B') {
				consumer_budget[nb] = i == 0 && strncmp(t->scopes[0].file, "c@", 2) == 0;
				budgets[nb++] = c2[k];
			}
		}
	}
	if (nt == 0 && (nb == 0 || cost_pico <= 0))
		return GW_OK;
	if (connect_store(s) != GW_OK)
		return GW_EIO;
	a = gw_calloc(1, sizeof(*a));
	arg(a, "EVALSHA");
	arg(a, "%s", RS(s)->sha_settle);
	arg(a, "%zu", 2 * nt + nb);
	for (size_t i = 0; i < nt; i++) {
		arg(a, "%s", at[i].key);
		arg(a, "%s", now[i].key);
	}
	for (size_t i = 0; i < nb; i++)
		arg(a, "%s", budgets[i].key);
	arg(a, "%lld", -limit_clamp(t->estimate, 0, LIMIT_TOKENS_MAX));
	arg(a, "%lld", actual);
	arg(a, "%lld", (long long)cost_pico);
	arg(a, "%zu", nt);
	for (size_t i = 0; i < nt; i++)
		arg(a, "%lld", (long long)now[i].end_ms + 60000);
	for (size_t i = 0; i < nb; i++)
		arg(a, "%lld", (long long)budgets[i].end_ms + 60000);
	rep = eval(s, a->n, a->v, a->len);
	free(a);
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		rc = fail(s, "settlement script failed");
	else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == nb + 1)
		note_spent(t, budgets, consumer_budget, nb, rep);
	if (rep)
		freeReplyObject(rep);
	return rc;
}

/* consumer with the glob characters of SCAN MATCH escaped. */
static void glob_escape(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 3 < size; in++) {
		if (strchr("*?[]\\", *in))
			out[o++] = '\\';
		out[o++] = *in;
	}
	out[o] = '\0';
}

static int r_reset(struct gw_store *s, const char *consumer, long *cleared)
{
	static const char *const patterns[] = { "aigw:c@%s:*", "aigw:r@*@c@%s:*" };
	char esc[400];

	*cleared = 0;
	if (connect_store(s) != GW_OK)
		return GW_EIO;
	glob_escape(consumer, esc, sizeof(esc));
	for (size_t p = 0; p < 2; p++) {
		char match[500], cursor[32] = "0";
		snprintf(match, sizeof(match), patterns[p], esc);
		do {
			redisReply *rep = redisCommand(RS(s)->ctx, "SCAN %s MATCH %s COUNT 1000",
						       cursor, match);
			if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
				if (rep)
					freeReplyObject(rep);
				return fail(s, "SCAN failed");
			}
			snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
			for (size_t i = 0; i < rep->element[1]->elements; i++) {
				redisReply *k = rep->element[1]->element[i];
				redisReply *d = redisCommand(RS(s)->ctx, "DEL %b", k->str, k->len);
				if (d && d->type == REDIS_REPLY_INTEGER)
					*cleared += d->integer;
				if (d)
					freeReplyObject(d);
			}
			freeReplyObject(rep);
		} while (strcmp(cursor, "0") != 0);
	}
	return GW_OK;
}

/* ---- usage totals ---- */

static int r_record(struct gw_store *s, int64_t now_ms, const struct stats_key *k,
		    const struct stats_values *v, int64_t upstream_us, int64_t overhead_us)
{
	char day[32];
	struct rargs *a;
	redisReply *rep;
	int rc = GW_OK;

	if (connect_store(s) != GW_OK)
		return GW_EIO;
	stats_day_name(now_ms, day);
	a = gw_calloc(1, sizeof(*a));
	arg(a, "EVALSHA");
	arg(a, "%s", RS(s)->sha_stats);
	arg(a, "3");
	arg(a, "aigw:stats:total");
	arg(a, "aigw:stats:%s", day);
	arg(a, "aigw:stats:hist");
	arg(a, "%s\x1f%s\x1f%s\x1f%d\x1f", k->consumer, k->route, k->model, (int)k->status);
	arg(a, "%lld", limit_clamp(v->requests, 0, LIMIT_TOKENS_MAX));
	arg(a, "%lld", limit_clamp(v->prompt_tokens, 0, LIMIT_TOKENS_MAX));
	arg(a, "%lld", limit_clamp(v->completion_tokens, 0, LIMIT_TOKENS_MAX));
	arg(a, "%lld", limit_clamp(v->cost_pico, 0, LIMIT_PICO_MAX));
	arg(a, "%lld", limit_clamp(v->unpriced, 0, LIMIT_TOKENS_MAX));
	arg(a, "%lld", limit_clamp(v->cached_tokens, 0, LIMIT_TOKENS_MAX));
	arg(a, "%lld", limit_clamp(v->cache_write_tokens, 0, LIMIT_TOKENS_MAX));
	arg(a, "%lld", limit_clamp(v->reasoning_tokens, 0, LIMIT_TOKENS_MAX));
	upstream_us = limit_clamp(upstream_us, -1, LIMIT_TOKENS_MAX);
	overhead_us = limit_clamp(overhead_us, 0, LIMIT_TOKENS_MAX);
	if (upstream_us >= 0)
		arg(a, "%d", stats_bucket(upstream_us));
	else
		arg(a, "%s", "");
	arg(a, "%lld", (long long)(upstream_us > 0 ? upstream_us : 0));
	arg(a, "%d", stats_bucket(overhead_us));
	arg(a, "%lld", (long long)overhead_us);
	arg(a, "%d", 400 * 86400);
	rep = eval(s, a->n, a->v, a->len);
	free(a);
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		rc = fail(s, "stats script failed");
	if (rep)
		freeReplyObject(rep);
	return rc;
}

/* Finds (or adds) the row of a "consumer\x1froute\x1fmodel\x1fstatus\x1f" prefix. */
static struct stats_row *row_for(struct stats_row *rows, size_t *n, const char *field,
				 size_t prefix_len)
{
	struct stats_key k;

	memset(&k, 0, sizeof(k));
	const char *p = field;
	char *dst[3] = { k.consumer, k.route, k.model };
	for (int i = 0; i < 3; i++) {
		const char *sep = memchr(p, '\x1f', prefix_len - (size_t)(p - field));
		if (!sep)
			return NULL;
		snprintf(dst[i], STATS_NAME, "%.*s", (int)(sep - p), p);
		p = sep + 1;
	}
	k.status = atoi(p);
	for (size_t i = 0; i < *n; i++)
		if (memcmp(&rows[i].key, &k, sizeof(k)) == 0)
			return &rows[i];
	if (*n == STATS_CAPACITY)
		return NULL;
	rows[*n].key = k;
	rows[*n].used = 1;
	return &rows[(*n)++];
}

static void set_hist(struct stats_header *h, const char *field, long long v)
{
	struct stats_histogram *hist = field[0] == 'u' ? &h->upstream : &h->overhead;

	if (field[1] == 's')
		hist->sum_us = v;
	else if (field[1] == 'c')
		hist->count = v;
	else if (atoi(field + 1) >= 0 && atoi(field + 1) <= STATS_BUCKETS)
		hist->bucket[atoi(field + 1)] = v;
}

static void fill_row(struct stats_row *row, char what, long long v)
{
	switch (what) {
	case 'r': row->v.requests = v; break;
	case 'p': row->v.prompt_tokens = v; break;
	case 'c': row->v.completion_tokens = v; break;
	case '$': row->v.cost_pico = v; break;
	case 'u': row->v.unpriced = v; break;
	case 'k': row->v.cached_tokens = v; break;
	case 'w': row->v.cache_write_tokens = v; break;
	case 'x': row->v.reasoning_tokens = v; break;
	}
}

static int r_rows(struct gw_store *s, const char *name, struct stats_row **rows, size_t *n,
		  struct stats_header *h)
{
	size_t klen;
	char *key = prefixed("aigw:stats:", name, &klen);
	const char *argv[2] = { "HGETALL", key };
	size_t lens[2] = { 7, klen };
	redisReply *rep = command_argv(s, 2, argv, lens);

	free(key);
	*rows = NULL;
	*n = 0;
	if (h)
		memset(h, 0, sizeof(*h));
	if (!rep || rep->type != REDIS_REPLY_ARRAY) {
		if (rep)
			freeReplyObject(rep);
		return fail(s, "HGETALL failed");
	}
	if (rep->elements > 0)
		*rows = gw_calloc(STATS_CAPACITY, sizeof(**rows));
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const char *f = rep->element[i]->str;
		size_t flen = rep->element[i]->len;
		struct stats_row *row;
		if (flen < 2)
			continue;
		row = row_for(*rows, n, f, flen - 1);
		if (row)
			fill_row(row, f[flen - 1], atoll(rep->element[i + 1]->str));
	}
	freeReplyObject(rep);
	if (*rows && *n == 0) {
		free(*rows);
		*rows = NULL;
	}
	if (h) {
		rep = redisCommand(RS(s)->ctx, "HGETALL aigw:stats:hist");
		for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements;
		     i += 2)
			set_hist(h, rep->element[i]->str, atoll(rep->element[i + 1]->str));
		if (rep)
			freeReplyObject(rep);
	}
	return GW_OK;
}

/* ---- claims and remembered values ---- */

/* SET aigw:PREFIX<key> value [NX] PX ttl; *reply_ok: the answer was OK. */
static int set_key(struct gw_store *s, const char *prefix, const char *key, const char *value,
		   bool nx, int64_t ttl_ms, bool *reply_ok)
{
	char ttl[32];
	size_t klen;
	char *k = prefixed(prefix, key, &klen);
	const char *argv[6] = { "SET", k, value, "PX", ttl, "NX" };
	size_t lens[6] = { 3, klen, strlen(value), 2, 0, 2 };
	redisReply *rep;

	snprintf(ttl, sizeof(ttl), "%lld", (long long)store_ttl(ttl_ms));
	lens[4] = strlen(ttl);
	rep = command_argv(s, nx ? 6 : 5, argv, lens);
	free(k);
	if (!rep || rep->type == REDIS_REPLY_ERROR) {
		if (rep)
			freeReplyObject(rep);
		return fail(s, "SET failed");
	}
	*reply_ok = rep->type == REDIS_REPLY_STATUS;
	freeReplyObject(rep);
	return GW_OK;
}

static int r_claim(struct gw_store *s, const char *key, int64_t ttl_ms, bool *first)
{
	*first = false;
	return set_key(s, "aigw:claim:", key, "1", true, ttl_ms, first);
}

static int r_put(struct gw_store *s, const char *key, const char *value, int64_t ttl_ms)
{
	bool ok;

	if (strlen(value) > STORE_VALUE_MAX)
		return store_fail(s, GW_ETOOBIG, "a value of %zu bytes is too long", strlen(value));
	return set_key(s, "aigw:kv:", key, value, false, ttl_ms, &ok);
}

static int r_get(struct gw_store *s, const char *key, char *value, size_t size)
{
	size_t klen;
	char *k = prefixed("aigw:kv:", key, &klen);
	const char *argv[2] = { "GET", k };
	size_t lens[2] = { 3, klen };
	redisReply *rep = command_argv(s, 2, argv, lens);
	int rc = GW_OK;

	free(k);
	if (!rep || (rep->type != REDIS_REPLY_STRING && rep->type != REDIS_REPLY_NIL))
		rc = fail(s, "GET failed");
	else if (rep->type == REDIS_REPLY_NIL)
		rc = store_fail(s, GW_ENOTFOUND, "no such value");
	else if (rep->len >= size)
		rc = store_fail(s, GW_ETOOBIG, "the value does not fit");
	else
		memcpy(value, rep->str, rep->len + 1);
	if (rep)
		freeReplyObject(rep);
	return rc;
}

/* ---- in-flight slots: a sorted set per scope, members "<client id>:<n>" ---- */

/* Runs the admission script for slot; *admitted when it got a place. */
static int slot_script(struct gw_store *s, const char *key, size_t klen, long long limit,
		       const struct store_slot *slot, bool *admitted)
{
	char lim[32], now[32];
	const char *argv[8] = { "EVALSHA", RS(s)->sha_slot, "1", key, lim, slot->id, now,
				"86400000" };
	size_t lens[8] = { 7, 40, 1, klen, 0, strlen(slot->id), 0, 8 };
	redisReply *rep;

	snprintf(lim, sizeof(lim), "%lld", limit);
	snprintf(now, sizeof(now), "%lld", (long long)wall_ms());
	lens[4] = strlen(lim);
	lens[6] = strlen(now);
	rep = eval(s, 8, argv, lens);
	if (!rep || rep->type != REDIS_REPLY_INTEGER) {
		if (rep)
			freeReplyObject(rep);
		return fail(s, "slot script failed");
	}
	*admitted = rep->integer == 1;
	freeReplyObject(rep);
	return GW_OK;
}

/* True when "id=N " names a connected client in CLIENT LIST's text. */
static bool client_alive(const char *list, long long id)
{
	char needle[40];
	const char *p = list;

	snprintf(needle, sizeof(needle), "id=%lld ", id);
	while ((p = strstr(p, needle)) != NULL) {
		if (p == list || p[-1] == '\n')
			return true;
		p++;
	}
	return false;
}

/* Removes the members of key whose connection is gone: their holder died. */
static int reap_slots(struct gw_store *s, const char *key, size_t klen)
{
	redisReply *list = redisCommand(RS(s)->ctx, "CLIENT LIST TYPE normal");
	redisReply *members = NULL;
	int rc = GW_OK;

	if (!list || list->type != REDIS_REPLY_STRING) {
		rc = fail(s, "CLIENT LIST failed");
		goto out;
	}
	members = redisCommand(RS(s)->ctx, "ZRANGE %b 0 -1", key, klen);
	if (!members || members->type != REDIS_REPLY_ARRAY) {
		rc = fail(s, "ZRANGE failed");
		goto out;
	}
	for (size_t i = 0; i < members->elements; i++) {
		redisReply *m = members->element[i];
		if (m->type != REDIS_REPLY_STRING || client_alive(list->str, atoll(m->str)))
			continue;
		redisReply *d = redisCommand(RS(s)->ctx, "ZREM %b %b", key, klen, m->str, m->len);
		if (d)
			freeReplyObject(d);
	}
out:
	if (list)
		freeReplyObject(list);
	if (members)
		freeReplyObject(members);
	return rc;
}

/* Notes a slot taken (held) or released; the caller keeps it in place
 * until it is released (store.h). */
static void track_slot(struct redis_store *r, struct store_slot *slot, bool held)
{
	for (size_t i = 0; i < REDIS_HELD_MAX; i++) {
		if (held && !r->held[i]) {
			r->held[i] = slot;
			return;
		}
		if (!held && r->held[i] == slot) {
			r->held[i] = NULL;
			return;
		}
	}
}

static int r_slot_take(struct gw_store *s, const char *scope, long long limit,
		       struct store_slot *slot, bool *admitted)
{
	size_t klen;
	char *key = prefixed("aigw:slot:", scope, &klen);
	int rc;

	memset(slot, 0, sizeof(*slot));
	slot->fd = -1;
	snprintf(slot->scope, sizeof(slot->scope), "%s", scope);
	*admitted = false;
	limit = limit_clamp(limit, 0, STORE_SLOTS_MAX);
	rc = connect_store(s);
	if (rc == GW_OK && limit > 0) {
		mint_slot_id(RS(s), slot);
		rc = slot_script(s, key, klen, limit, slot, admitted);
		if (rc == GW_OK && !*admitted && (rc = reap_slots(s, key, klen)) == GW_OK)
			rc = slot_script(s, key, klen, limit, slot, admitted);
	}
	free(key);
	slot->held = *admitted;
	if (slot->held) {
		track_slot(RS(s), slot, true);
		/* the script ran again on a new connection: name it after that
		 * (if this fails, the next connection renames it) */
		if (atoll(slot->id) != RS(s)->client_id && RS(s)->ctx)
			(void)rename_held_slots(s);
	}
	return rc;
}

static void r_slot_release(struct gw_store *s, struct store_slot *slot)
{
	size_t klen;
	char *key;

	if (!slot->held)
		return;
	slot->held = false;
	track_slot(RS(s), slot, false);
	key = prefixed("aigw:slot:", slot->scope, &klen);
	const char *argv[3] = { "ZREM", key, slot->id };
	size_t lens[3] = { 4, klen, strlen(slot->id) };
	redisReply *rep = command_argv(s, 3, argv, lens);
	if (rep)
		freeReplyObject(rep);
	/* on failure the member names a connection that is gone by now, or
	 * will be: the next full set reaps it */
	free(key);
}

static int r_slot_count(struct gw_store *s, const char *scope, long long *held)
{
	size_t klen;
	char *key = prefixed("aigw:slot:", scope, &klen);
	const char *argv[2] = { "ZCARD", key };
	size_t lens[2] = { 5, klen };
	redisReply *rep = command_argv(s, 2, argv, lens);
	int rc = GW_OK;

	free(key);
	*held = 0;
	if (rep && rep->type == REDIS_REPLY_INTEGER)
		*held = rep->integer;
	else
		rc = fail(s, "ZCARD failed");
	if (rep)
		freeReplyObject(rep);
	return rc;
}

static void r_close(struct gw_store *s)
{
	disconnect(RS(s));
	free(RS(s)->host);
	free(s->impl);
	free(s);
}

static const struct gw_store_ops redis_ops = {
	.name = "redis",
	.take = r_take,
	.settle = r_settle,
	.record = r_record,
	.rows = r_rows,
	.reset = r_reset,
	.claim = r_claim,
	.put = r_put,
	.get = r_get,
	.slot_take = r_slot_take,
	.slot_release = r_slot_release,
	.slot_count = r_slot_count,
	.close = r_close,
};

struct gw_store *store_redis_open(const char *host, int port, int db, long timeout_ms)
{
	struct gw_store *s = gw_calloc(1, sizeof(*s));
	struct redis_store *r = gw_calloc(1, sizeof(*r));

	r->host = gw_strdup(host);
	r->port = port;
	r->db = db;
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	s->ops = &redis_ops;
	s->impl = r;
	return s;
}
