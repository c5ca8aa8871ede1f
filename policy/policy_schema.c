/* policy_schema.c: the policy's sections and keys as typed tables, every
 * default in one place, and the parsing of one "key = value" by its type. */
#include "gw.h"
#include "policy_int.h"
#include "digest.h"
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* How a value is read and where it goes. */
enum key_type {
	KT_STR,     /* text; empty: unset (NULL) */
	KT_ABSPATH, /* an absolute path */
	KT_LIST,    /* comma-separated; may continue on indented lines */
	KT_REGEXPS, /* a list split on the commas between regular expressions */
	KT_BOOL,    /* true/false, yes/no, on/off, 1/0 */
	KT_INT,     /* a whole number in [min, max] into an int, long, long long or size_t */
	KT_ENUM,    /* one of names, into an enum or a bool */
	KT_MONEY,   /* dollars with at most `digits` decimals, as 10^-digits units, in [min, max] */
	KT_SECRET,  /* a key in plain text: kept, and its SHA-256 */
	KT_DIGEST,  /* a SHA-256 in 64 hexadecimal digits */
	KT_DATE,    /* YYYY-MM-DD, as ms since the epoch of 00:00 UTC that day */
	KT_TIME,    /* YYYY-MM-DDTHH:MM:SSZ, as ms since the epoch */
	KT_TIMESTR, /* YYYY-MM-DDTHH:MM:SSZ, checked and kept as text */
	KT_FN,      /* parsed by the row's own function */
};

struct enum_name {
	const char *name;
	int value;
};

typedef void key_fn(struct load_ctx *ctx, const char *value);

struct key_def {
	const char *name;
	enum key_type type;
	size_t off;  /* of the field in the section's struct */
	size_t size; /* of that field */
	long long min, max;
	int digits;                    /* KT_MONEY */
	size_t has, len, digest;       /* offset + 1 of a bool "given", a length, a digest; 0: none */
	const struct enum_name *names; /* KT_ENUM, ending with a NULL name */
	key_fn *fn;                    /* KT_FN */
	bool list;                     /* KT_FN: may continue on indented lines */
	int group;                     /* at most one key of a group per section; 0: none */
	const char *expect;            /* what a value looks like, for messages */
};

struct section_def {
	const char *name;
	enum section_kind kind;
	bool named;
	const struct key_def *keys;
	size_t n_keys;
};

// clang-format off
#define K(n, t, st, f) .name = n, .type = t, .off = offsetof(struct st, f), \
		       .size = sizeof(((struct st *)0)->f)
#define AT(st, f) (offsetof(struct st, f) + 1)
#define FN(n, f) .name = n, .type = KT_FN, .fn = f

/* Money: at most $9,000,000, to the pico-dollar. */
#define MAX_USD_PICO 9000000000000000000LL
/* USD per million tokens with 6 decimals is exactly pico-USD per token. */
#define PRICE(st, n, f, given)                                                             \
	{ K(n, KT_MONEY, st, f), .digits = 6, .max = 1000000000000LL, .has = AT(st, given), \
	  .expect = "US dollars per million tokens with at most 6 decimals" }

enum { GROUP_ADMIN = 1, GROUP_API_KEY, GROUP_CREDENTIAL };

static const struct enum_name store_failures[] = { { "closed", 0 }, { "open", 1 }, { NULL, 0 } };
static const struct enum_name upstream_apis[] = { { "openai", GW_UPSTREAM_OPENAI },
						  { "anthropic", GW_UPSTREAM_ANTHROPIC },
						  { NULL, 0 } };
static const struct enum_name modes[] = { { "prompt", GW_MODE_PROMPT },
					  { "openai", GW_MODE_OPENAI },
					  { "anthropic", GW_MODE_ANTHROPIC },
					  { NULL, 0 } };
static const struct enum_name strategies[] = { { "failover", GW_STRATEGY_FAILOVER },
					       { "round_robin", GW_STRATEGY_ROUND_ROBIN },
					       { "weighted", GW_STRATEGY_WEIGHTED },
					       { NULL, 0 } };
static const struct enum_name route_apis[] = { { "chat", GW_API_CHAT },
					       { "completions", GW_API_COMPLETIONS },
					       { NULL, 0 } };
// clang-format on

/* ---- value syntax: booleans, decimals, dates ---- */

int policy_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < GW_ARRAY_LEN(yes); i++) {
		if (str_ieq(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (str_ieq(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int policy_parse_decimal(const char *s, int digits, int64_t max, int64_t *out)
{
	int64_t v = 0;
	int frac = -1;

	if (!*s || *s == '.')
		return -1;
	for (; *s; s++) {
		if (*s == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (*s < '0' || *s > '9')
			return -1;
		if (frac >= 0 && ++frac > digits)
			return -1;
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	for (int k = frac < 0 ? 0 : frac; k < digits; k++) {
		if (v > INT64_MAX / 10)
			return -1;
		v *= 10;
	}
	if (frac == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Reads n decimal digits at s; -1 if any is not a digit. */
static int digits_at(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "YYYY-MM-DD" (years 1970-9999) as ms since the epoch of 00:00 UTC that day. */
int policy_parse_date(const char *s, int64_t *ms)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;

	if (strlen(s) < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	y = digits_at(s, 4);
	m = digits_at(s + 5, 2);
	d = digits_at(s + 8, 2);
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return -1;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	*ms = days_from_civil(y, m, d) * 86400000LL;
	return s[10] == '\0' ? 0 : 1; /* 1: a valid date followed by more */
}

/* "YYYY-MM-DDTHH:MM:SSZ" as ms since the epoch. */
int policy_parse_timestamp(const char *s, int64_t *ms)
{
	int64_t day;
	int h, mi, se;

	if (strlen(s) != 20 || policy_parse_date(s, &day) != 1 || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return -1;
	h = digits_at(s + 11, 2);
	mi = digits_at(s + 14, 2);
	se = digits_at(s + 17, 2);
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
		return -1;
	*ms = day + ((int64_t)h * 3600 + mi * 60 + se) * 1000;
	return 0;
}

/* ---- defaults: every one of them ---- */

void schema_policy_defaults(struct gw_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->state_dir = gw_strdup("/var/lib/aigw");
	p->max_body = 33554432;
	p->max_answer = 268435456;
	p->stream_timeout_s = 3600;
	p->threads = 64;
	p->default_max_tokens = 256;
	p->store_timeout_ms = 250;
	p->store_fail_open = false;
	p->auth.in_header = true;
	p->auth.in_query = false;
	p->auth.global_auth = true;
}

static void upstream_defaults(struct gw_upstream *u)
{
	u->api = GW_UPSTREAM_OPENAI;
	u->timeout_ms = 60000;
	u->weight = 1;
	u->cooldown_s = 30;
}

static void route_defaults(struct gw_route *r)
{
	r->mode = GW_MODE_PROMPT;
	r->api = GW_API_CHAT;
	r->strategy = GW_STRATEGY_FAILOVER;
	r->blocked_code = 403;
	r->case_sensitive = true;
	r->retries = -1; /* derived: one fewer than the upstreams */
}

void schema_derived_defaults(struct gw_policy *p)
{
	for (size_t i = 0; i < p->n_routes; i++) {
		struct gw_route *r = p->routes[i];
		if (!r->prompt_param)
			r->prompt_param = gw_strdup("prompt");
		if (r->retries < 0)
			r->retries = r->n_upstreams ? (long long)r->n_upstreams - 1 : 0;
	}
	for (size_t i = 0; i < p->n_models; i++) {
		struct gw_model *m = p->models[i];
		if (!m->has_cached_input)
			m->cached_input_pico = m->input_pico;
		if (!m->has_cache_write)
			m->cache_write_pico = m->input_pico;
	}
}

/* ---- values that need their own function ---- */

/* store = file, or redis://HOST[:PORT][/DB] */
static void set_store(struct load_ctx *ctx, const char *value)
{
	struct gw_policy *p = ctx->p;
	char host[256];
	int port = 6379, db = 0, used = 0;
	const char *rest;

	free(p->redis_host);
	p->redis_host = NULL;
	if (strcmp(value, "file") == 0)
		return;
	if (strncmp(value, "redis://", 8) != 0 ||
	    sscanf(value + 8, "%255[^:/]%n", host, &used) != 1) {
		ERR(ctx, "store: expected file or redis://HOST:PORT/DB, got \"%s\"", value);
		return;
	}
	rest = value + 8 + used;
	if (*rest == ':') {
		char *end;
		long v = strtol(rest + 1, &end, 10);
		if (end == rest + 1 || v < 1 || v > 65535) {
			ERR(ctx, "store: bad port in \"%s\"", value);
			return;
		}
		port = (int)v;
		rest = end;
	}
	if (*rest == '/' && rest[1]) {
		char *end;
		long v = strtol(rest + 1, &end, 10);
		if (end == rest + 1 || *end || v < 0 || v > 1000000) {
			ERR(ctx, "store: bad database number in \"%s\"", value);
			return;
		}
		db = (int)v;
	} else if (*rest && *rest != '/') {
		ERR(ctx, "store: expected redis://HOST:PORT/DB, got \"%s\"", value);
		return;
	}
	p->redis_host = gw_strdup(host);
	p->redis_port = port;
	p->redis_db = db;
}

static int parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* alert_at = 50, 80, 100: percents 1..1000, ascending, at most 16. */
static void set_alert_at(struct load_ctx *ctx, const char *value)
{
	struct gw_policy *p = ctx->p;
	struct gw_list items = { 0 };
	long long v;

	list_parse(&items, value);
	for (size_t i = 0; i < items.n; i++) {
		if (parse_int(items.v[i], 1, 1000, &v) < 0) {
			ERR(ctx, "alert_at: expected percents from 1 to 1000, got \"%s\"",
			    items.v[i]);
			break;
		}
		if (p->n_alert_at > 0 && v <= p->alert_at[p->n_alert_at - 1]) {
			ERR(ctx,
			    "alert_at: list the percents once each, in ascending order (%lld after "
			    "%d)",
			    v, p->alert_at[p->n_alert_at - 1]);
			break;
		}
		if (p->n_alert_at == GW_ARRAY_LEN(p->alert_at)) {
			ERR(ctx, "alert_at: at most %zu thresholds", GW_ARRAY_LEN(p->alert_at));
			break;
		}
		p->alert_at[p->n_alert_at++] = (int)v;
	}
	list_free(&items);
}

static void set_url(struct load_ctx *ctx, const char *value)
{
	struct gw_upstream *u = ctx->obj;
	size_t n = strlen(value);

	if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
		ERR(ctx, "url: expected an http:// or https:// URL, got \"%s\"", value);
		return;
	}
	while (n > 0 && value[n - 1] == '/')
		n--;
	free(u->url);
	u->url = gw_strndup(value, n);
}

static void set_api_key(struct load_ctx *ctx, const char *value)
{
	struct gw_upstream *u = ctx->obj;

	load_note_secret(ctx, ctx->file);
	free(u->api_key);
	u->api_key = *value ? gw_strdup(value) : NULL;
}

static void set_model_map(struct load_ctx *ctx, const char *value)
{
	struct gw_upstream *u = ctx->obj;
	struct gw_list items = { 0 };

	list_parse(&items, value);
	for (size_t i = 0; i < items.n; i++) {
		const char *colon = strchr(items.v[i], ':');
		if (!colon || colon == items.v[i] || !colon[1])
			ERR(ctx, "model_map: expected FROM:TO entries, got \"%s\"", items.v[i]);
		else
			list_add(&u->model_map, items.v[i], strlen(items.v[i]));
	}
	list_free(&items);
}

static void set_path(struct load_ctx *ctx, const char *value)
{
	struct gw_route *r = ctx->obj;
	size_t n = strlen(value);

	if (value[0] != '/' || strpbrk(value, "?# \t")) {
		ERR(ctx, "path: expected a URL path starting with /, got \"%s\"", value);
		return;
	}
	while (n > 1 && value[n - 1] == '/')
		n--;
	free(r->path);
	r->path = gw_strndup(value, n);
	r->path_len = n;
}

/* ---- the tables ---- */

// clang-format off
#define LIMIT_KEYS(st)                                                                      \
	{ K("query_per_second", KT_INT, st, limits.query[GW_WIN_SECOND]), .max = 1000000000LL }, \
	{ K("query_per_minute", KT_INT, st, limits.query[GW_WIN_MINUTE]), .max = 1000000000LL }, \
	{ K("query_per_hour", KT_INT, st, limits.query[GW_WIN_HOUR]), .max = 1000000000LL },     \
	{ K("query_per_day", KT_INT, st, limits.query[GW_WIN_DAY]), .max = 1000000000LL },       \
	{ K("token_per_minute", KT_INT, st, limits.token[GW_WIN_MINUTE]),                       \
	  .max = 1000000000000LL },                                                             \
	{ K("token_per_hour", KT_INT, st, limits.token[GW_WIN_HOUR]), .max = 1000000000000LL },  \
	{ K("token_per_day", KT_INT, st, limits.token[GW_WIN_DAY]), .max = 1000000000000LL },    \
	{ K("max_parallel", KT_INT, st, limits.max_parallel), .max = 1000000LL }

static const struct key_def gateway_keys[] = {
	{ K("state_dir", KT_STR, gw_policy, state_dir) },
	{ K("usage_log", KT_STR, gw_policy, usage_log) },
	{ K("max_body", KT_INT, gw_policy, max_body), .min = 1, .max = 1LL << 30 },
	{ K("max_answer", KT_INT, gw_policy, max_answer), .min = 1, .max = 1LL << 40 },
	{ K("stream_timeout", KT_INT, gw_policy, stream_timeout_s), .min = 1, .max = 604800 },
	{ K("threads", KT_INT, gw_policy, threads), .min = 1, .max = 4096 },
	{ K("default_max_tokens", KT_INT, gw_policy, default_max_tokens), .max = 100000000LL },
	{ K("admin_key", KT_SECRET, gw_policy, admin_key), .min = 8,
	  .len = AT(gw_policy, admin_key_len), .digest = AT(gw_policy, admin_sha256),
	  .has = AT(gw_policy, has_admin_sha256), .group = GROUP_ADMIN },
	{ K("admin_key_sha256", KT_DIGEST, gw_policy, admin_sha256),
	  .has = AT(gw_policy, has_admin_sha256), .group = GROUP_ADMIN },
	{ FN("include", load_include), .list = true },
	{ FN("keys_dir", load_keys_dir) },
	{ FN("store", set_store) },
	{ K("store_failure", KT_ENUM, gw_policy, store_fail_open), .names = store_failures },
	{ K("store_timeout_ms", KT_INT, gw_policy, store_timeout_ms), .min = 1, .max = 60000 },
	{ FN("alert_at", set_alert_at), .list = true },
	{ K("alert_command", KT_ABSPATH, gw_policy, alert_command) },
};

static const struct key_def upstream_keys[] = {
	{ FN("url", set_url) },
	{ K("api", KT_ENUM, gw_upstream, api), .names = upstream_apis },
	{ FN("api_key", set_api_key), .group = GROUP_API_KEY },
	{ FN("api_key_file", load_api_key_file), .group = GROUP_API_KEY },
	{ FN("api_key_env", load_api_key_env), .group = GROUP_API_KEY },
	{ K("model", KT_STR, gw_upstream, model) },
	{ K("timeout_ms", KT_INT, gw_upstream, timeout_ms), .min = 1, .max = 3600000 },
	{ K("weight", KT_INT, gw_upstream, weight), .min = 1, .max = 1000 },
	{ K("cooldown_s", KT_INT, gw_upstream, cooldown_s), .max = 86400 },
	{ FN("model_map", set_model_map), .list = true },
};

static const struct key_def auth_keys[] = {
	{ K("keys", KT_LIST, gw_auth, keys) },
	{ K("in_header", KT_BOOL, gw_auth, in_header) },
	{ K("in_query", KT_BOOL, gw_auth, in_query) },
	{ K("global_auth", KT_BOOL, gw_auth, global_auth) },
};

static const struct key_def consumer_keys[] = {
	{ K("credential", KT_SECRET, gw_consumer, credential), .min = 1,
	  .len = AT(gw_consumer, credential_len), .digest = AT(gw_consumer, credential_sha256),
	  .has = AT(gw_consumer, has_sha256), .group = GROUP_CREDENTIAL },
	{ K("credential_sha256", KT_DIGEST, gw_consumer, credential_sha256),
	  .has = AT(gw_consumer, has_sha256), .group = GROUP_CREDENTIAL },
	{ K("budget_per_day", KT_MONEY, gw_consumer, limits.budget_day), .digits = 12, .min = 1,
	  .max = MAX_USD_PICO, .expect = "an amount of US dollars above 0, such as 25 or 2.50" },
	{ K("budget_per_month", KT_MONEY, gw_consumer, limits.budget_month), .digits = 12,
	  .min = 1, .max = MAX_USD_PICO,
	  .expect = "an amount of US dollars above 0, such as 25 or 2.50" },
	{ K("models", KT_LIST, gw_consumer, models) },
	{ K("expires", KT_DATE, gw_consumer, expires_ms) },
	{ K("owner", KT_STR, gw_consumer, owner) },
	{ K("created", KT_TIMESTR, gw_consumer, created) },
	{ K("previous_credential_sha256", KT_DIGEST, gw_consumer, previous_sha256),
	  .has = AT(gw_consumer, has_previous) },
	{ K("previous_valid_until", KT_TIME, gw_consumer, previous_until_ms) },
	LIMIT_KEYS(gw_consumer),
};

static const struct key_def route_keys[] = {
	{ FN("path", set_path) },
	{ K("mode", KT_ENUM, gw_route, mode), .names = modes },
	{ K("upstream", KT_LIST, gw_route, upstream_names) },
	{ K("strategy", KT_ENUM, gw_route, strategy), .names = strategies },
	{ K("retries", KT_INT, gw_route, retries), .max = 10 },
	{ K("prompt_param", KT_STR, gw_route, prompt_param) },
	{ K("api", KT_ENUM, gw_route, api), .names = route_apis },
	{ K("allow", KT_LIST, gw_route, allow) },
	{ K("block_urls", KT_LIST, gw_route, block_urls) },
	{ K("block_exact_urls", KT_LIST, gw_route, block_exact_urls) },
	{ K("block_regexp_urls", KT_REGEXPS, gw_route, block_regexp_urls) },
	{ K("block_headers", KT_LIST, gw_route, block_headers) },
	{ K("block_bodies", KT_LIST, gw_route, block_bodies) },
	{ K("blocked_code", KT_INT, gw_route, blocked_code), .min = 100, .max = 599 },
	{ K("blocked_message", KT_STR, gw_route, blocked_message) },
	{ K("case_sensitive", KT_BOOL, gw_route, case_sensitive) },
	LIMIT_KEYS(gw_route),
};

static const struct key_def model_keys[] = {
	PRICE(gw_model, "input_per_1m", input_pico, has_input),
	PRICE(gw_model, "output_per_1m", output_pico, has_output),
	PRICE(gw_model, "cached_input_per_1m", cached_input_pico, has_cached_input),
	PRICE(gw_model, "cache_write_per_1m", cache_write_pico, has_cache_write),
	{ K("aliases", KT_LIST, gw_model, aliases) },
};

static const struct section_def sections[] = {
	{ "gateway", SEC_GATEWAY, false, gateway_keys, GW_ARRAY_LEN(gateway_keys) },
	{ "upstream", SEC_UPSTREAM, true, upstream_keys, GW_ARRAY_LEN(upstream_keys) },
	{ "auth", SEC_AUTH, false, auth_keys, GW_ARRAY_LEN(auth_keys) },
	{ "consumer", SEC_CONSUMER, true, consumer_keys, GW_ARRAY_LEN(consumer_keys) },
	{ "route", SEC_ROUTE, true, route_keys, GW_ARRAY_LEN(route_keys) },
	{ "model", SEC_MODEL, true, model_keys, GW_ARRAY_LEN(model_keys) },
};
// clang-format on

const struct section_def *schema_section(const char *name)
{
	for (size_t i = 0; i < GW_ARRAY_LEN(sections); i++)
		if (strcmp(sections[i].name, name) == 0)
			return &sections[i];
	return NULL;
}

const char *schema_section_name(const struct section_def *sd)
{
	return sd->name;
}

bool schema_section_named(const struct section_def *sd)
{
	return sd->named;
}

enum section_kind schema_section_kind(const struct section_def *sd)
{
	return sd->kind;
}

const char *schema_section_list(void)
{
	return "gateway, upstream NAME, auth, consumer NAME, route NAME or model NAME";
}

/* Appends x to the array arr of n items. */
#define APPEND(arr, n, x)                                                                  \
	do {                                                                               \
		(arr) = gw_realloc((arr), ((n) + 1) * sizeof(*(arr)));                     \
		(arr)[(n)++] = (x);                                                        \
	} while (0)

/* Name and place of a new named section. */
#define BEGIN(o, ctx, name)                                                                \
	do {                                                                               \
		(o) = gw_calloc(1, sizeof(*(o)));                                          \
		(o)->name = gw_strdup(name);                                               \
		(o)->file = (ctx)->file;                                                   \
		(o)->line = (ctx)->line;                                                   \
	} while (0)

void *schema_section_new(struct load_ctx *ctx, const struct section_def *sd, const char *name)
{
	struct gw_policy *p = ctx->p;
	struct gw_upstream *u;
	struct gw_consumer *c;
	struct gw_route *r;
	struct gw_model *m;

	switch (sd->kind) {
	case SEC_UPSTREAM:
		BEGIN(u, ctx, name);
		upstream_defaults(u);
		APPEND(p->upstreams, p->n_upstreams, u);
		return u;
	case SEC_CONSUMER:
		BEGIN(c, ctx, name);
		APPEND(p->consumers, p->n_consumers, c);
		return c;
	case SEC_ROUTE:
		BEGIN(r, ctx, name);
		route_defaults(r);
		APPEND(p->routes, p->n_routes, r);
		return r;
	case SEC_MODEL:
		BEGIN(m, ctx, name);
		APPEND(p->models, p->n_models, m);
		return m;
	case SEC_GATEWAY:
		return p;
	case SEC_AUTH:
		return &p->auth;
	case SEC_NONE:
		break;
	}
	return NULL;
}

/* ---- parsing one value by its type ---- */

/* Splits a list of regular expressions on the commas that separate them:
 * not those inside {} or [] (as in a{2,3} or [,;]), nor an escaped \, */
static void list_parse_regexps(struct gw_list *l, const char *value)
{
	const char *s = value, *start = value;
	int braces = 0, brackets = 0;

	for (;; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			continue;
		}
		if (*s == '[' && !brackets)
			brackets = 1;
		else if (*s == ']' && brackets && s > start && s[-1] != '[')
			brackets = 0;
		else if (*s == '{' && !brackets)
			braces++;
		else if (*s == '}' && !brackets && braces)
			braces--;
		if (*s && (*s != ',' || braces || brackets))
			continue;
		const char *a = start, *b = s;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a)
			list_add(l, a, (size_t)(b - a));
		if (!*s)
			break;
		start = s + 1;
	}
}

/* Writes v into an integer field of the given size (int, long, long long or
 * size_t; the ranges in the tables are non-negative where it matters). */
static void put_int(void *field, size_t size, long long v)
{
	if (size == sizeof(int)) {
		int x = (int)v;
		memcpy(field, &x, sizeof(x));
	} else if (size == sizeof(long long)) {
		memcpy(field, &v, sizeof(v));
	} else if (size == sizeof(bool)) {
		bool x = v != 0;
		memcpy(field, &x, sizeof(x));
	}
}

static void set_flag(void *obj, size_t at)
{
	if (at)
		*(bool *)((char *)obj + at - 1) = true;
}

/* "expected a, b or c" for an enum. */
static void enum_error(struct load_ctx *ctx, const struct key_def *k, const char *value)
{
	char names[256] = "";
	size_t n = 0;

	while (k->names[n].name)
		n++;
	for (size_t i = 0; i < n; i++) {
		strncat(names, k->names[i].name, sizeof(names) - strlen(names) - 1);
		strncat(names,
			i + 2 < n    ? ", "
			: i + 2 == n ? " or "
				     : "",
			sizeof(names) - strlen(names) - 1);
	}
	ERR(ctx, "%s: expected %s, got \"%s\"", k->name, names, value);
}

static void store_secret(struct load_ctx *ctx, const struct key_def *k, char *obj,
			 const char *value)
{
	char **plain = (char **)(obj + k->off);
	size_t len = strlen(value);

	load_note_secret(ctx, ctx->file);
	if (len == 0) {
		ERR(ctx, "%s: empty", k->name);
		return;
	}
	if ((long long)len < k->min) {
		ERR(ctx, "%s: use at least %lld characters", k->name, k->min);
		return;
	}
	free(*plain);
	*plain = gw_strdup(value);
	*(size_t *)(obj + k->len - 1) = len;
	gw_sha256(value, len, (unsigned char *)(obj + k->digest - 1));
	set_flag(obj, k->has);
}

/* Parses value as k's type into k's field of obj; reports at FILE:LINE. */
static void store_value(struct load_ctx *ctx, const struct key_def *k, char *obj, const char *value)
{
	void *field = obj + k->off;
	long long v;
	int64_t ms;

	switch (k->type) {
	case KT_STR:
		free(*(char **)field);
		*(char **)field = *value ? gw_strdup(value) : NULL;
		return;
	case KT_ABSPATH:
		if (value[0] != '/') {
			ERR(ctx, "%s: expected an absolute path, got \"%s\"", k->name, value);
			return;
		}
		free(*(char **)field);
		*(char **)field = gw_strdup(value);
		return;
	case KT_LIST:
		list_parse(field, value);
		return;
	case KT_REGEXPS:
		list_parse_regexps(field, value);
		return;
	case KT_BOOL:
		if (policy_parse_bool(value, field) < 0)
			ERR(ctx, "%s: expected true/false, yes/no, on/off or 1/0, got \"%s\"",
			    k->name, value);
		return;
	case KT_INT:
		if (parse_int(value, k->min, k->max, &v) < 0)
			ERR(ctx, "%s: expected a whole number from %lld to %lld, got \"%s\"",
			    k->name, k->min, k->max, value);
		else
			put_int(field, k->size, v);
		return;
	case KT_ENUM:
		for (const struct enum_name *e = k->names; e->name; e++) {
			if (strcmp(e->name, value) == 0) {
				put_int(field, k->size, e->value);
				return;
			}
		}
		enum_error(ctx, k, value);
		return;
	case KT_MONEY:
		if (policy_parse_decimal(value, k->digits, k->max, &ms) < 0 || ms < k->min) {
			ERR(ctx, "%s: expected %s, got \"%s\"", k->name, k->expect, value);
			return;
		}
		*(int64_t *)field = ms;
		set_flag(obj, k->has);
		return;
	case KT_SECRET:
		store_secret(ctx, k, obj, value);
		return;
	case KT_DIGEST:
		if (strlen(value) != 2 * SHA256_LEN ||
		    str_hex_decode(value, field, SHA256_LEN) < 0) {
			ERR(ctx, "%s: expected 64 hexadecimal digits", k->name);
			return;
		}
		set_flag(obj, k->has);
		return;
	case KT_DATE:
		if (policy_parse_date(value, &ms) != 0)
			ERR(ctx, "%s: expected a date YYYY-MM-DD, got \"%s\"", k->name, value);
		else
			*(int64_t *)field = ms;
		return;
	case KT_TIME:
	case KT_TIMESTR:
		if (policy_parse_timestamp(value, &ms) < 0) {
			ERR(ctx, "%s: expected a time YYYY-MM-DDTHH:MM:SSZ, got \"%s\"", k->name,
			    value);
		} else if (k->type == KT_TIME) {
			*(int64_t *)field = ms;
		} else {
			free(*(char **)field);
			*(char **)field = gw_strdup(value);
		}
		return;
	case KT_FN:
		k->fn(ctx, value);
		return;
	}
}

static bool key_is_list(const struct key_def *k)
{
	return k->type == KT_LIST || k->type == KT_REGEXPS || (k->type == KT_FN && k->list);
}

/* Another key of k's group already set in this section. */
static const char *group_clash(const struct load_ctx *ctx, const struct key_def *k)
{
	const struct key_def *keys = ctx->sd->keys;

	for (size_t i = 0; k->group && i < ctx->sd->n_keys; i++)
		if (keys[i].group == k->group && &keys[i] != k &&
		    list_has(&ctx->seen, keys[i].name))
			return keys[i].name;
	return NULL;
}

void schema_set(struct load_ctx *ctx, const char *name, const char *value)
{
	const struct key_def *k = NULL;
	const char *other;

	for (size_t i = 0; !k && i < ctx->sd->n_keys; i++)
		if (strcmp(ctx->sd->keys[i].name, name) == 0)
			k = &ctx->sd->keys[i];
	if (!k) {
		ERR(ctx, "unknown key \"%s\" in [%s]", name, ctx->sd->name);
		return;
	}
	if (ctx->continuation) {
		if (!key_is_list(k))
			ERR(ctx, "%s takes one value; it cannot continue on the next line", name);
		else
			store_value(ctx, k, ctx->obj, value);
		return;
	}
	if (list_has(&ctx->seen, name)) {
		ERR(ctx, "%s is set twice in this section", name);
		return;
	}
	list_add(&ctx->seen, name, strlen(name));
	if ((other = group_clash(ctx, k))) {
		ERR(ctx, "%s and %s are both set; keep one", other, name);
		return;
	}
	store_value(ctx, k, ctx->obj, value);
}
