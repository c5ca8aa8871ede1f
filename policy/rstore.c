/* rstore.c: windows, budgets and usage totals in Redis, via Lua scripts. */
#include "rstore.h"
#include "gw.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* Checks every window (KEYS, one each; ARGV: estimate, then kind, limit,
 * expire-at per window) and, only when all have room, counts the request
 * and reserves tokens. Returns {admitted, used or used+reserved per key}. */
static const char admit_lua[] =
	"local est = tonumber(ARGV[1])\n"
	"local used, ok = {}, 1\n"
	"for i = 1, #KEYS do\n"
	"  local kind, limit = ARGV[3*i-1], tonumber(ARGV[3*i])\n"
	"  local u\n"
	"  if kind == 'T' then\n"
	"    local h = redis.call('HMGET', KEYS[i], 'used', 'reserved')\n"
	"    u = (tonumber(h[1]) or 0) + (tonumber(h[2]) or 0)\n"
	"  else\n"
	"    u = tonumber(redis.call('GET', KEYS[i]) or '0')\n"
	"  end\n"
	"  used[i] = u\n"
	"  if u >= limit then ok = 0 end\n"
	"end\n"
	"if ok == 1 then\n"
	"  for i = 1, #KEYS do\n"
	"    local kind, exp = ARGV[3*i-1], ARGV[3*i+1]\n"
	"    if kind == 'Q' then\n"
	"      used[i] = redis.call('INCR', KEYS[i])\n"
	"      redis.call('PEXPIREAT', KEYS[i], exp)\n"
	"    elseif kind == 'T' then\n"
	"      redis.call('HINCRBY', KEYS[i], 'reserved', est)\n"
	"      used[i] = used[i] + est\n"
	"      redis.call('PEXPIREAT', KEYS[i], exp)\n"
	"    end\n"
	"  end\n"
	"end\n"
	"local out = {ok}\n"
	"for i = 1, #KEYS do out[i+1] = used[i] end\n"
	"return out\n";

/* Settles: KEYS are pairs (window at reservation, window now) for each token
 * window, then one key per budget. ARGV: estimate, actual, cost, number of
 * token windows, then an expire-at per token window and per budget. */
static const char settle_lua[] =
	"local est, actual, nt = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])\n"
	"for i = 1, nt do\n"
	"  local at, now = KEYS[2*i-1], KEYS[2*i]\n"
	"  if redis.call('EXISTS', at) == 1 then\n"
	"    if redis.call('HINCRBY', at, 'reserved', -est) < 0 then\n"
	"      redis.call('HSET', at, 'reserved', 0)\n"
	"    end\n"
	"  end\n"
	"  if actual > 0 then\n"
	"    redis.call('HINCRBY', now, 'used', actual)\n"
	"    redis.call('PEXPIREAT', now, ARGV[4+i])\n"
	"  end\n"
	"end\n"
	"if tonumber(ARGV[3]) > 0 then\n"
	"  for j = 2*nt+1, #KEYS do\n"
	"    redis.call('INCRBY', KEYS[j], ARGV[3])\n"
	"    redis.call('PEXPIREAT', KEYS[j], ARGV[4+nt+(j-2*nt)])\n"
	"  end\n"
	"end\n"
	"return 1\n";

/* Usage totals: KEYS total, day, histograms; ARGV: field prefix, requests,
 * prompt, completion, cost, unpriced, upstream bucket (or ''), upstream us,
 * overhead bucket, overhead us, day expiry in seconds. */
static const char stats_lua[] =
	"local f = ARGV[1]\n"
	"local names = {'r', 'p', 'c', '$', 'u'}\n"
	"for k = 1, 2 do\n"
	"  for i = 1, 5 do\n"
	"    if ARGV[i+1] ~= '0' then redis.call('HINCRBY', KEYS[k], f .. names[i], ARGV[i+1]) end\n"
	"  end\n"
	"end\n"
	"redis.call('EXPIRE', KEYS[2], ARGV[11])\n"
	"if ARGV[7] ~= '' then\n"
	"  redis.call('HINCRBY', KEYS[3], 'u' .. ARGV[7], 1)\n"
	"  redis.call('HINCRBY', KEYS[3], 'us', ARGV[8])\n"
	"  redis.call('HINCRBY', KEYS[3], 'uc', 1)\n"
	"end\n"
	"redis.call('HINCRBY', KEYS[3], 'o' .. ARGV[9], 1)\n"
	"redis.call('HINCRBY', KEYS[3], 'os', ARGV[10])\n"
	"redis.call('HINCRBY', KEYS[3], 'oc', 1)\n"
	"return 1\n";

void rstore_init(struct rstore *r, const char *host, int port, int db, long timeout_ms)
{
	memset(r, 0, sizeof(*r));
	r->host = gw_strdup(host);
	r->port = port;
	r->db = db;
	r->timeout_ms = timeout_ms;
}

static void disconnect(struct rstore *r)
{
	if (r->ctx)
		redisFree(r->ctx);
	r->ctx = NULL;
}

void rstore_close(struct rstore *r)
{
	disconnect(r);
	free(r->host);
	memset(r, 0, sizeof(*r));
}

static int64_t wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Marks the connection failed: fail fast for a second, then try again. */
static int fail(struct rstore *r, const char *what)
{
	redisContext *c = r->ctx;
	snprintf(r->err, sizeof(r->err), "redis %s:%d: %s%s%s", r->host, r->port, what,
		 c && c->err ? ": " : "", c && c->err ? c->errstr : "");
	disconnect(r);
	r->retry_at_ms = wall_ms() + 1000;
	return GW_EIO;
}

static bool load_script(struct rstore *r, const char *lua, char sha[41])
{
	redisReply *rep = redisCommand(r->ctx, "SCRIPT LOAD %s", lua);
	bool ok = rep && rep->type == REDIS_REPLY_STRING && rep->len == 40;
	if (ok)
		memcpy(sha, rep->str, 41);
	if (rep)
		freeReplyObject(rep);
	return ok;
}

static int connect_store(struct rstore *r)
{
	struct timeval tv = { r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000 };
	redisReply *rep;

	if (r->ctx)
		return GW_OK;
	if (wall_ms() < r->retry_at_ms)
		return GW_EIO; /* r->err still says why it failed a moment ago */
	r->ctx = redisConnectWithTimeout(r->host, r->port, tv);
	if (!r->ctx || r->ctx->err)
		return fail(r, "cannot connect");
	redisSetTimeout(r->ctx, tv);
	if (r->db) {
		rep = redisCommand(r->ctx, "SELECT %d", r->db);
		bool ok = rep && rep->type == REDIS_REPLY_STATUS;
		if (rep)
			freeReplyObject(rep);
		if (!ok)
			return fail(r, "SELECT failed");
	}
	if (!load_script(r, admit_lua, r->sha_admit) || !load_script(r, settle_lua, r->sha_settle) ||
	    !load_script(r, stats_lua, r->sha_stats))
		return fail(r, "cannot load scripts");
	return GW_OK;
}

/* Runs EVALSHA with argv (argv[1] is the sha); a Redis that lost its
 * scripts (restarted) gets them again once. */
/* True when the server closed a connection that had been idle (a restart,
 * or its client timeout): worth one new connection, unlike a read timeout,
 * which hiredis also reports as an I/O error. */
static bool closed_by_server(const struct rstore *r)
{
	return r->ctx->err == REDIS_ERR_EOF ||
	       (r->ctx->err == REDIS_ERR_IO && strstr(r->ctx->errstr, "reset"));
}

/* Runs a command; a connection the server closed is reopened once. */
static redisReply *command_argv(struct rstore *r, int argc, const char **argv, const size_t *lens)
{
	redisReply *rep = redisCommandArgv(r->ctx, argc, argv, lens);

	if (!rep && closed_by_server(r)) {
		disconnect(r);
		r->retry_at_ms = 0;
		if (connect_store(r) != GW_OK)
			return NULL;
		rep = redisCommandArgv(r->ctx, argc, argv, lens);
	}
	return rep;
}

static redisReply *eval(struct rstore *r, int argc, const char **argv, const size_t *lens)
{
	redisReply *rep = command_argv(r, argc, argv, lens);

	if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(rep);
		disconnect(r);
		if (connect_store(r) != GW_OK)
			return NULL;
		rep = redisCommandArgv(r->ctx, argc, argv, lens);
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

static size_t scope_checks(const struct limit_scope *s, int64_t now_ms, struct check *out)
{
	const struct gw_limits *l = s->limits;
	size_t n = 0;

	for (int w = 0; w < GW_WIN__MAX; w++) {
		int64_t start, end;
		limit_window(w, now_ms, &start, &end);
		for (int kind = 0; kind < 2; kind++) {
			long long lim = kind ? l->token[w] : l->query[w];
			if (lim <= 0 || (kind && w == GW_WIN_SECOND))
				continue;
			snprintf(out[n].key, sizeof(out[n].key), "aigw:%s:%c%c:%lld", s->file,
				 kind ? 't' : 'q', win_code[w], (long long)start);
			out[n].kind = kind ? 'T' : 'Q';
			out[n].limit = lim;
			out[n].end_ms = end;
			out[n].reset_s = (end - now_ms + 999) / 1000;
			n++;
		}
	}
	for (int month = 0; month < 2; month++) {
		int64_t start, end, budget = month ? l->budget_month : l->budget_day;
		if (budget <= 0)
			continue;
		if (month)
			limit_month(now_ms, &start, &end);
		else
			limit_window(GW_WIN_DAY, now_ms, &start, &end);
		snprintf(out[n].key, sizeof(out[n].key), "aigw:%s:b%c:%lld", s->file,
			 month ? 'M' : 'D', (long long)start);
		out[n].kind = 'B';
		out[n].limit = budget;
		out[n].end_ms = end;
		out[n].reset_s = (end - now_ms + 999) / 1000;
		n++;
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

int rstore_take(struct rstore *r, const struct limit_scope *scopes, size_t n, int64_t now_ms,
		long long estimate, struct limit_verdict *v, struct limit_ticket *t)
{
	struct check checks[2 * 9];
	struct rargs *a;
	redisReply *rep;
	size_t nc = 0;
	bool admitted;

	memset(v, 0, sizeof(*v));
	memset(t, 0, sizeof(*t));
	v->admitted = true;
	for (size_t i = 0; i < n && i < 2; i++)
		nc += scope_checks(&scopes[i], now_ms, checks + nc);
	if (nc == 0)
		return GW_OK;
	if (connect_store(r) != GW_OK) {
		v->admitted = false;
		return GW_EIO;
	}
	a = gw_calloc(1, sizeof(*a));
	arg(a, "EVALSHA");
	arg(a, "%s", r->sha_admit);
	arg(a, "%zu", nc);
	for (size_t i = 0; i < nc; i++)
		arg(a, "%s", checks[i].key);
	arg(a, "%lld", estimate);
	for (size_t i = 0; i < nc; i++) {
		arg(a, "%c", checks[i].kind);
		arg(a, "%lld", checks[i].limit);
		arg(a, "%lld", (long long)checks[i].end_ms + 60000);
	}
	rep = eval(r, a->n, a->v, a->len);
	free(a);
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != nc + 1) {
		if (rep)
			freeReplyObject(rep);
		v->admitted = false;
		return fail(r, "admission script failed");
	}
	admitted = rep->element[0]->integer == 1;
	verdict(checks, nc, rep, admitted, v);
	freeReplyObject(rep);
	v->admitted = admitted;
	if (admitted) {
		memcpy(t->scopes, scopes, (n < 2 ? n : 2) * sizeof(*scopes));
		t->n = n < 2 ? n : 2;
		t->at_ms = now_ms;
		t->estimate = estimate;
		t->pending = true;
	}
	return GW_OK;
}

/* ---- settlement ---- */

int rstore_settle(struct rstore *r, struct limit_ticket *t, int64_t now_ms, long long actual,
		  int64_t cost_pico)
{
	struct check at[2 * 9], now[2 * 9], budgets[2 * 9];
	size_t nt = 0, nb = 0;
	struct rargs *a;
	redisReply *rep;
	int rc = GW_OK;

	if (!t->pending)
		return GW_OK;
	t->pending = false;
	for (size_t i = 0; i < t->n; i++) {
		struct check c1[9], c2[9];
		size_t n1 = scope_checks(&t->scopes[i], t->at_ms, c1);
		size_t n2 = scope_checks(&t->scopes[i], now_ms, c2);
		for (size_t k = 0; k < n1 && k < n2; k++) {
			if (c1[k].kind == 'T') {
				at[nt] = c1[k];
				now[nt++] = c2[k];
			} else if (c2[k].kind == 'B') {
				budgets[nb++] = c2[k];
			}
		}
	}
	if (nt == 0 && (nb == 0 || cost_pico <= 0))
		return GW_OK;
	if (connect_store(r) != GW_OK)
		return GW_EIO;
	a = gw_calloc(1, sizeof(*a));
	arg(a, "EVALSHA");
	arg(a, "%s", r->sha_settle);
	arg(a, "%zu", 2 * nt + nb);
	for (size_t i = 0; i < nt; i++) {
		arg(a, "%s", at[i].key);
		arg(a, "%s", now[i].key);
	}
	for (size_t i = 0; i < nb; i++)
		arg(a, "%s", budgets[i].key);
	arg(a, "%lld", t->estimate);
	arg(a, "%lld", actual);
	arg(a, "%lld", (long long)cost_pico);
	arg(a, "%zu", nt);
	for (size_t i = 0; i < nt; i++)
		arg(a, "%lld", (long long)now[i].end_ms + 60000);
	for (size_t i = 0; i < nb; i++)
		arg(a, "%lld", (long long)budgets[i].end_ms + 60000);
	rep = eval(r, a->n, a->v, a->len);
	free(a);
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		rc = fail(r, "settlement script failed");
	if (rep)
		freeReplyObject(rep);
	return rc;
}

long rstore_reset_consumer(struct rstore *r, const char *consumer)
{
	static const char *const patterns[] = { "aigw:c@%s:*", "aigw:r@*@c@%s:*" };
	long deleted = 0;

	if (connect_store(r) != GW_OK)
		return -1;
	for (size_t p = 0; p < 2; p++) {
		char match[200], cursor[32] = "0";
		snprintf(match, sizeof(match), patterns[p], consumer);
		do {
			redisReply *rep = redisCommand(r->ctx, "SCAN %s MATCH %s COUNT 1000", cursor,
						       match);
			if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
				if (rep)
					freeReplyObject(rep);
				fail(r, "SCAN failed");
				return -1;
			}
			snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
			for (size_t i = 0; i < rep->element[1]->elements; i++) {
				redisReply *d = redisCommand(r->ctx, "DEL %s",
							     rep->element[1]->element[i]->str);
				if (d && d->type == REDIS_REPLY_INTEGER)
					deleted += d->integer;
				if (d)
					freeReplyObject(d);
			}
			freeReplyObject(rep);
		} while (strcmp(cursor, "0") != 0);
	}
	return deleted;
}

/* ---- usage totals ---- */

int rstore_record(struct rstore *r, int64_t now_ms, const struct stats_key *k,
		  const struct stats_values *v, int64_t upstream_us, int64_t overhead_us)
{
	char day[32];
	struct rargs *a;
	redisReply *rep;
	int rc = GW_OK;

	if (connect_store(r) != GW_OK)
		return GW_EIO;
	stats_day_name(now_ms, day);
	a = gw_calloc(1, sizeof(*a));
	arg(a, "EVALSHA");
	arg(a, "%s", r->sha_stats);
	arg(a, "3");
	arg(a, "aigw:stats:total");
	arg(a, "aigw:stats:%s", day);
	arg(a, "aigw:stats:hist");
	arg(a, "%s\x1f%s\x1f%s\x1f%d\x1f", k->consumer, k->route, k->model, (int)k->status);
	arg(a, "%lld", (long long)v->requests);
	arg(a, "%lld", (long long)v->prompt_tokens);
	arg(a, "%lld", (long long)v->completion_tokens);
	arg(a, "%lld", (long long)v->cost_pico);
	arg(a, "%lld", (long long)v->unpriced);
	if (upstream_us >= 0)
		arg(a, "%d", stats_bucket(upstream_us));
	else
		arg(a, "%s", "");
	arg(a, "%lld", (long long)(upstream_us > 0 ? upstream_us : 0));
	arg(a, "%d", stats_bucket(overhead_us));
	arg(a, "%lld", (long long)overhead_us);
	arg(a, "%d", 400 * 86400);
	rep = eval(r, a->n, a->v, a->len);
	free(a);
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		rc = fail(r, "stats script failed");
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

struct stats_row *rstore_rows(struct rstore *r, const char *name, size_t *n,
			      struct stats_header *h)
{
	struct stats_row *rows;
	redisReply *rep;

	*n = 0;
	if (connect_store(r) != GW_OK)
		return NULL;
	{
		char key[96];
		const char *argv[2] = { "HGETALL", key };
		size_t lens[2];
		snprintf(key, sizeof(key), "aigw:stats:%s", name);
		lens[0] = 7;
		lens[1] = strlen(key);
		rep = command_argv(r, 2, argv, lens);
	}
	if (!rep || rep->type != REDIS_REPLY_ARRAY) {
		if (rep)
			freeReplyObject(rep);
		fail(r, "HGETALL failed");
		return NULL;
	}
	rows = gw_calloc(STATS_CAPACITY, sizeof(*rows));
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const char *f = rep->element[i]->str;
		size_t flen = rep->element[i]->len;
		long long v = atoll(rep->element[i + 1]->str);
		struct stats_row *row;
		if (flen < 2)
			continue;
		row = row_for(rows, n, f, flen - 1);
		if (!row)
			continue;
		switch (f[flen - 1]) {
		case 'r': row->v.requests = v; break;
		case 'p': row->v.prompt_tokens = v; break;
		case 'c': row->v.completion_tokens = v; break;
		case '$': row->v.cost_pico = v; break;
		case 'u': row->v.unpriced = v; break;
		}
	}
	freeReplyObject(rep);
	if (h) {
		memset(h, 0, sizeof(*h));
		rep = redisCommand(r->ctx, "HGETALL aigw:stats:hist");
		for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements;
		     i += 2)
			set_hist(h, rep->element[i]->str, atoll(rep->element[i + 1]->str));
		if (rep)
			freeReplyObject(rep);
	}
	return rows;
}
