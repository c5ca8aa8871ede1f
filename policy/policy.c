/* policy.c: loads and validates the INI policy (inih), and finds routes. */
#include "policy.h"
#include "gw.h"
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define POLICY_MAX_INCLUDE_DEPTH 8
#define POLICY_MAX_KEY_FILE 4096

enum section_kind { SEC_NONE, SEC_GATEWAY, SEC_UPSTREAM, SEC_AUTH, SEC_CONSUMER, SEC_ROUTE, SEC_MODEL };

/* Parser state while one file is read. */
struct load_ctx {
	struct gw_policy *p;
	struct gw_diag *diag;
	const char *file; /* owned by p->files */
	FILE *fp;
	int line;
	int depth;
	bool continuation; /* the current line continues the previous value */
	bool section_bad;  /* current section header was refused: skip its keys */
	enum section_kind kind;
	void *obj; /* the struct of the current section */
	char last_key[64];
	struct gw_list seen; /* keys set in the current section */
	struct gw_list includes;
	bool *singletons; /* [gateway], [auth] seen in any file of this load */
};

/* ---- diagnostics ---- */

void diag_add(struct gw_diag *d, bool warning, const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->msgs = gw_realloc(d->msgs, (d->n + 1) * sizeof(*d->msgs));
	d->warning = gw_realloc(d->warning, (d->n + 1) * sizeof(*d->warning));
	if (line > 0)
		d->msgs[d->n] = gw_asprintf("%s:%d: %s%s", file, line, warning ? "warning: " : "", msg);
	else
		d->msgs[d->n] = gw_asprintf("%s: %s%s", file, warning ? "warning: " : "", msg);
	d->warning[d->n] = warning;
	d->n++;
	if (!warning)
		d->n_errors++;
}

void diag_free(struct gw_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	free(d->warning);
	memset(d, 0, sizeof(*d));
}

#define ERR(ctx, ...) diag_add((ctx)->diag, false, (ctx)->file, (ctx)->line, __VA_ARGS__)

/* ---- lists and scalars ---- */

static void list_add(struct gw_list *l, const char *s, size_t n)
{
	l->v = gw_realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = gw_strndup(s, n);
}

static void list_free(struct gw_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool list_has(const struct gw_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return true;
	return false;
}

/* Splits a comma-separated value, trimming blanks; empty items are skipped. */
static void list_parse(struct gw_list *l, const char *value)
{
	const char *s = value;
	while (*s) {
		const char *end = strchr(s, ',');
		if (!end)
			end = s + strlen(s);
		const char *a = s, *b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a)
			list_add(l, a, (size_t)(b - a));
		s = *end ? end + 1 : end;
	}
}

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

int policy_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
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

/* ---- key tables: validation as data ---- */

enum key_type { KT_STR, KT_LIST, KT_BOOL, KT_INT, KT_I32, KT_LONG, KT_SIZE, KT_CUSTOM };

struct key_def {
	const char *name;
	enum key_type type;
	size_t offset;
	long long min, max;
};

#define K_STR(st, n, f) { n, KT_STR, offsetof(struct st, f), 0, 0 }
#define K_LIST(st, n, f) { n, KT_LIST, offsetof(struct st, f), 0, 0 }
#define K_BOOL(st, n, f) { n, KT_BOOL, offsetof(struct st, f), 0, 0 }
#define K_LL(st, n, f, lo, hi) { n, KT_INT, offsetof(struct st, f), lo, hi }
#define K_I32(st, n, f, lo, hi) { n, KT_I32, offsetof(struct st, f), lo, hi }
#define K_LONG(st, n, f, lo, hi) { n, KT_LONG, offsetof(struct st, f), lo, hi }
#define K_SIZE(st, n, f, lo, hi) { n, KT_SIZE, offsetof(struct st, f), lo, hi }
#define K_CUSTOM(n) { n, KT_CUSTOM, 0, 0, 0 }

#define LIMIT_KEYS(st)                                                                     \
	K_LL(st, "query_per_second", limits.query[GW_WIN_SECOND], 0, 1000000000LL),        \
	K_LL(st, "query_per_minute", limits.query[GW_WIN_MINUTE], 0, 1000000000LL),        \
	K_LL(st, "query_per_hour", limits.query[GW_WIN_HOUR], 0, 1000000000LL),            \
	K_LL(st, "query_per_day", limits.query[GW_WIN_DAY], 0, 1000000000LL),              \
	K_LL(st, "token_per_minute", limits.token[GW_WIN_MINUTE], 0, 1000000000000LL),     \
	K_LL(st, "token_per_hour", limits.token[GW_WIN_HOUR], 0, 1000000000000LL),         \
	K_LL(st, "token_per_day", limits.token[GW_WIN_DAY], 0, 1000000000000LL),          \
	K_LL(st, "max_parallel", limits.max_parallel, 0, 1000000LL)

static const struct key_def gateway_keys[] = {
	K_STR(gw_policy, "state_dir", state_dir),
	K_STR(gw_policy, "usage_log", usage_log),
	K_SIZE(gw_policy, "max_body", max_body, 1, 1LL << 30),
	K_LL(gw_policy, "default_max_tokens", default_max_tokens, 0, 100000000LL),
	K_CUSTOM("admin_key"),
	K_CUSTOM("admin_key_sha256"),
	K_CUSTOM("include"),
	K_CUSTOM("store"),
	K_CUSTOM("store_failure"),
	K_LL(gw_policy, "store_timeout_ms", store_timeout_ms, 1, 60000),
	K_I32(gw_policy, "threads", threads, 1, 4096),
	K_CUSTOM("keys_dir"),
	K_CUSTOM("alert_at"),
	K_CUSTOM("alert_command"),
	K_SIZE(gw_policy, "max_answer", max_answer, 1, 1LL << 40),
	K_LL(gw_policy, "stream_timeout", stream_timeout_s, 1, 604800),
};

static const struct key_def upstream_keys[] = {
	K_CUSTOM("url"),
	K_CUSTOM("api_key"),
	K_CUSTOM("api_key_file"),
	K_CUSTOM("api_key_env"),
	K_STR(gw_upstream, "model", model),
	K_LONG(gw_upstream, "timeout_ms", timeout_ms, 1, 3600000),
	K_LL(gw_upstream, "weight", weight, 1, 1000),
	K_LL(gw_upstream, "cooldown_s", cooldown_s, 0, 86400),
	K_CUSTOM("model_map"),
	K_CUSTOM("api"),
};

static const struct key_def auth_keys[] = {
	K_LIST(gw_auth, "keys", keys),
	K_BOOL(gw_auth, "in_header", in_header),
	K_BOOL(gw_auth, "in_query", in_query),
	K_BOOL(gw_auth, "global_auth", global_auth),
};

static const struct key_def consumer_keys[] = {
	K_CUSTOM("credential"),
	K_CUSTOM("credential_sha256"),
	K_CUSTOM("budget_per_day"),
	K_CUSTOM("budget_per_month"),
	K_LIST(gw_consumer, "models", models),
	K_CUSTOM("expires"),
	K_STR(gw_consumer, "owner", owner),
	K_CUSTOM("created"),
	K_CUSTOM("previous_credential_sha256"),
	K_CUSTOM("previous_valid_until"),
	LIMIT_KEYS(gw_consumer),
};

static const struct key_def route_keys[] = {
	K_CUSTOM("path"),
	K_CUSTOM("mode"),
	K_LIST(gw_route, "upstream", upstream_names),
	K_CUSTOM("strategy"),
	K_LL(gw_route, "retries", retries, 0, 10),
	K_STR(gw_route, "prompt_param", prompt_param),
	K_CUSTOM("api"),
	K_LIST(gw_route, "allow", allow),
	K_LIST(gw_route, "block_urls", block_urls),
	K_LIST(gw_route, "block_exact_urls", block_exact_urls),
	K_CUSTOM("block_regexp_urls"),
	K_LIST(gw_route, "block_headers", block_headers),
	K_LIST(gw_route, "block_bodies", block_bodies),
	K_I32(gw_route, "blocked_code", blocked_code, 100, 599),
	K_STR(gw_route, "blocked_message", blocked_message),
	K_BOOL(gw_route, "case_sensitive", case_sensitive),
	LIMIT_KEYS(gw_route),
};

static const struct key_def model_keys[] = {
	K_CUSTOM("input_per_1m"),
	K_CUSTOM("output_per_1m"),
	K_CUSTOM("cached_input_per_1m"),
	K_CUSTOM("cache_write_per_1m"),
	K_LIST(gw_model, "aliases", aliases),
};

struct section_def {
	const char *name;
	enum section_kind kind;
	bool named;
	const struct key_def *keys;
	size_t n_keys;
};

static const struct section_def sections[] = {
	{ "gateway", SEC_GATEWAY, false, gateway_keys, GW_ARRAY_LEN(gateway_keys) },
	{ "upstream", SEC_UPSTREAM, true, upstream_keys, GW_ARRAY_LEN(upstream_keys) },
	{ "auth", SEC_AUTH, false, auth_keys, GW_ARRAY_LEN(auth_keys) },
	{ "consumer", SEC_CONSUMER, true, consumer_keys, GW_ARRAY_LEN(consumer_keys) },
	{ "route", SEC_ROUTE, true, route_keys, GW_ARRAY_LEN(route_keys) },
	{ "model", SEC_MODEL, true, model_keys, GW_ARRAY_LEN(model_keys) },
};

/* Stores value into the field k describes; returns 0 or -1 after reporting. */
static int store_value(struct load_ctx *ctx, const struct key_def *k, void *obj, const char *value)
{
	char *field = (char *)obj + k->offset;
	long long v;

	if (ctx->continuation && k->type != KT_LIST) {
		ERR(ctx, "%s takes one value; it cannot continue on the next line", k->name);
		return -1;
	}
	switch (k->type) {
	case KT_STR:
		free(*(char **)field);
		*(char **)field = *value ? gw_strdup(value) : NULL;
		return 0;
	case KT_LIST:
		list_parse((struct gw_list *)field, value);
		return 0;
	case KT_BOOL:
		if (policy_parse_bool(value, (bool *)field) < 0) {
			ERR(ctx, "%s: expected true/false, yes/no, on/off or 1/0, got \"%s\"", k->name, value);
			return -1;
		}
		return 0;
	case KT_INT:
	case KT_I32:
	case KT_LONG:
	case KT_SIZE:
		if (parse_int(value, k->min, k->max, &v) < 0) {
			ERR(ctx, "%s: expected a whole number from %lld to %lld, got \"%s\"", k->name,
			    k->min, k->max, value);
			return -1;
		}
		if (k->type == KT_LONG)
			*(long *)field = (long)v;
		else if (k->type == KT_SIZE)
			*(size_t *)field = (size_t)v;
		else if (k->type == KT_I32)
			*(int *)field = (int)v;
		else
			*(long long *)field = v;
		return 0;
	case KT_CUSTOM:
		break;
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
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
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

/* ---- keys that need more than a table row ---- */

/* Keeps a key given in plain text, and its SHA-256 that lookups compare. */
static void keep_secret(const char *value, char **plain, size_t *len,
			unsigned char digest[SHA256_LEN], bool *has_digest)
{
	free(*plain);
	*plain = gw_strdup(value);
	*len = strlen(value);
	sha256(value, *len, digest);
	*has_digest = true;
}

/* The current file holds a key in plain text. */
static void note_secret(struct load_ctx *ctx)
{
	if (!list_has(&ctx->p->secret_files, ctx->file))
		list_add(&ctx->p->secret_files, ctx->file, strlen(ctx->file));
}

static char *read_key_file(struct load_ctx *ctx, const char *path)
{
	char buf[POLICY_MAX_KEY_FILE + 1];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		ERR(ctx, "api_key_file: cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n > POLICY_MAX_KEY_FILE) {
		ERR(ctx, "api_key_file: %s is larger than %d bytes", path, POLICY_MAX_KEY_FILE);
		return NULL;
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	if (n == 0 || memchr(buf, '\n', n) || memchr(buf, '\0', n)) {
		ERR(ctx, "api_key_file: %s must hold one key on one line", path);
		return NULL;
	}
	return gw_strndup(buf, n);
}

static int parse_sha256(struct load_ctx *ctx, const char *key, const char *value,
			unsigned char out[SHA256_LEN])
{
	if (strlen(value) != 2 * SHA256_LEN || str_hex_decode(value, out, SHA256_LEN) < 0) {
		ERR(ctx, "%s: expected 64 hexadecimal digits", key);
		return -1;
	}
	return 0;
}

static void stamp_add(struct gw_policy *p, const char *path);

/* Keys of a family where only one may be set (api_key / _file / _env, ...). */
static bool exclusive_clash(struct load_ctx *ctx, const char *name, const char *const *family,
			    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(family[i], name) != 0 && list_has(&ctx->seen, family[i])) {
			ERR(ctx, "%s and %s are both set; keep one", family[i], name);
			return true;
		}
	}
	return false;
}

/* store = file, or redis://HOST[:PORT][/DB] */
static void parse_store(struct load_ctx *ctx, const char *value)
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

static char *include_path(const char *including, const char *pattern);

/* keys_dir = DIR: every DIR/\*.ini is read as if included. */
static void parse_keys_dir(struct load_ctx *ctx, const char *value)
{
	if (!*value || strpbrk(value, "*?[")) {
		ERR(ctx, "keys_dir: expected a directory name without *, ? or [, got \"%s\"", value);
		return;
	}
	free(ctx->p->keys_dir);
	ctx->p->keys_dir = include_path(ctx->file, value);
	char *pattern = gw_asprintf("%s/*.ini", value);
	list_add(&ctx->includes, pattern, strlen(pattern));
	free(pattern);
}

/* alert_at = 50, 80, 100: percents 1..1000, ascending, at most 16; a list,
 * so it may continue on indented lines. */
static void parse_alert_at(struct load_ctx *ctx, const char *value)
{
	struct gw_policy *p = ctx->p;
	struct gw_list items = { 0 };
	long long v;

	list_parse(&items, value);
	for (size_t i = 0; i < items.n; i++) {
		if (parse_int(items.v[i], 1, 1000, &v) < 0) {
			ERR(ctx, "alert_at: expected percents from 1 to 1000, got \"%s\"", items.v[i]);
			break;
		}
		if (p->n_alert_at > 0 && v <= p->alert_at[p->n_alert_at - 1]) {
			ERR(ctx, "alert_at: list the percents once each, in ascending order (%lld after %d)",
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

static void custom_gateway(struct load_ctx *ctx, const char *name, const char *value)
{
	static const char *const admin[] = { "admin_key", "admin_key_sha256" };
	struct gw_policy *p = ctx->p;

	if (strcmp(name, "include") == 0) {
		list_parse(&ctx->includes, value);
		return;
	}
	if (strcmp(name, "store") == 0) {
		parse_store(ctx, value);
		return;
	}
	if (strcmp(name, "keys_dir") == 0) {
		parse_keys_dir(ctx, value);
		return;
	}
	if (strcmp(name, "alert_at") == 0) {
		parse_alert_at(ctx, value);
		return;
	}
	if (strcmp(name, "alert_command") == 0) {
		if (value[0] != '/') {
			ERR(ctx, "alert_command: expected an absolute path, got \"%s\"", value);
			return;
		}
		free(p->alert_command);
		p->alert_command = gw_strdup(value);
		return;
	}
	if (strcmp(name, "store_failure") == 0) {
		if (strcmp(value, "closed") == 0 || strcmp(value, "open") == 0)
			p->store_fail_open = strcmp(value, "open") == 0;
		else
			ERR(ctx, "store_failure: expected closed or open, got \"%s\"", value);
		return;
	}
	if (exclusive_clash(ctx, name, admin, 2))
		return;
	if (strcmp(name, "admin_key") == 0) {
		note_secret(ctx);
		if (strlen(value) < 8) {
			ERR(ctx, "admin_key: use at least 8 characters");
			return;
		}
		keep_secret(value, &p->admin_key, &p->admin_key_len, p->admin_sha256,
			    &p->has_admin_sha256);
	} else if (parse_sha256(ctx, name, value, p->admin_sha256) == 0) {
		p->has_admin_sha256 = true;
	}
}

static void custom_upstream(struct load_ctx *ctx, const char *name, const char *value)
{
	static const char *const keys[] = { "api_key", "api_key_file", "api_key_env" };
	struct gw_upstream *u = ctx->obj;

	if (strcmp(name, "model_map") == 0) {
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
		return;
	}
	if (strcmp(name, "api") == 0) {
		if (strcmp(value, "openai") == 0)
			u->api = GW_UPSTREAM_OPENAI;
		else if (strcmp(value, "anthropic") == 0)
			u->api = GW_UPSTREAM_ANTHROPIC;
		else
			ERR(ctx, "api: expected openai or anthropic, got \"%s\"", value);
		return;
	}
	if (strcmp(name, "url") == 0) {
		size_t n = strlen(value);
		if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
			ERR(ctx, "url: expected an http:// or https:// URL, got \"%s\"", value);
			return;
		}
		while (n > 0 && value[n - 1] == '/')
			n--;
		free(u->url);
		u->url = gw_strndup(value, n);
		return;
	}
	if (exclusive_clash(ctx, name, keys, 3))
		return;
	free(u->api_key);
	u->api_key = NULL;
	if (strcmp(name, "api_key") == 0) {
		note_secret(ctx);
		u->api_key = gw_strdup(value);
	} else if (strcmp(name, "api_key_file") == 0) {
		u->api_key = read_key_file(ctx, value);
		stamp_add(ctx->p, value); /* a new key in the file reloads the policy */
		if (!list_has(&ctx->p->secret_files, value))
			list_add(&ctx->p->secret_files, value, strlen(value));
	} else {
		const char *env = getenv(value);
		if (!env || !*env)
			ERR(ctx, "api_key_env: the environment variable %s is not set", value);
		else
			u->api_key = gw_strdup(env);
	}
	if (u->api_key && strpbrk(u->api_key, "\r\n"))
		ERR(ctx, "%s: the key contains a line break", name);
}

/* Money: at most $9,000,000, to the pico-dollar. */
#define MAX_USD_PICO 9000000000000000000LL

static void custom_consumer(struct load_ctx *ctx, const char *name, const char *value)
{
	static const char *const cred[] = { "credential", "credential_sha256" };
	struct gw_consumer *c = ctx->obj;

	if (strncmp(name, "budget_", 7) == 0) {
		int64_t *field = strcmp(name, "budget_per_day") == 0 ? &c->limits.budget_day
								     : &c->limits.budget_month;
		if (policy_parse_decimal(value, 12, MAX_USD_PICO, field) < 0 || *field == 0)
			ERR(ctx, "%s: expected an amount of US dollars above 0, such as 25 or 2.50, got \"%s\"",
			    name, value);
		return;
	}
	if (strcmp(name, "expires") == 0) {
		if (policy_parse_date(value, &c->expires_ms) != 0)
			ERR(ctx, "expires: expected a date YYYY-MM-DD, got \"%s\"", value);
		return;
	}
	if (strcmp(name, "created") == 0) {
		int64_t ms;
		if (policy_parse_timestamp(value, &ms) < 0) {
			ERR(ctx, "created: expected a time YYYY-MM-DDTHH:MM:SSZ, got \"%s\"", value);
			return;
		}
		free(c->created);
		c->created = gw_strdup(value);
		return;
	}
	if (strcmp(name, "previous_valid_until") == 0) {
		if (policy_parse_timestamp(value, &c->previous_until_ms) < 0)
			ERR(ctx, "previous_valid_until: expected a time YYYY-MM-DDTHH:MM:SSZ, got \"%s\"",
			    value);
		return;
	}
	if (strcmp(name, "previous_credential_sha256") == 0) {
		if (parse_sha256(ctx, name, value, c->previous_sha256) == 0)
			c->has_previous = true;
		return;
	}

	if (exclusive_clash(ctx, name, cred, 2))
		return;
	if (strcmp(name, "credential") == 0) {
		if (!*value) {
			ERR(ctx, "credential: empty");
			return;
		}
		note_secret(ctx);
		keep_secret(value, &c->credential, &c->credential_len, c->credential_sha256,
			    &c->has_sha256);
	} else if (parse_sha256(ctx, name, value, c->credential_sha256) == 0) {
		c->has_sha256 = true;
	}
}

static void custom_route(struct load_ctx *ctx, const char *name, const char *value)
{
	struct gw_route *r = ctx->obj;

	if (strcmp(name, "block_regexp_urls") == 0) {
		list_parse_regexps(&r->block_regexp_urls, value);
		return;
	}
	if (strcmp(name, "path") == 0) {
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
	} else if (strcmp(name, "mode") == 0) {
		if (strcmp(value, "prompt") == 0)
			r->mode = GW_MODE_PROMPT;
		else if (strcmp(value, "openai") == 0)
			r->mode = GW_MODE_OPENAI;
		else if (strcmp(value, "anthropic") == 0)
			r->mode = GW_MODE_ANTHROPIC;
		else
			ERR(ctx, "mode: expected prompt, openai or anthropic, got \"%s\"", value);
	} else if (strcmp(name, "strategy") == 0) {
		if (strcmp(value, "failover") == 0)
			r->strategy = GW_STRATEGY_FAILOVER;
		else if (strcmp(value, "round_robin") == 0)
			r->strategy = GW_STRATEGY_ROUND_ROBIN;
		else if (strcmp(value, "weighted") == 0)
			r->strategy = GW_STRATEGY_WEIGHTED;
		else
			ERR(ctx, "strategy: expected failover, round_robin or weighted, got \"%s\"", value);
	} else if (strcmp(name, "api") == 0) {
		if (strcmp(value, "chat") == 0)
			r->api = GW_API_CHAT;
		else if (strcmp(value, "completions") == 0)
			r->api = GW_API_COMPLETIONS;
		else
			ERR(ctx, "api: expected chat or completions, got \"%s\"", value);
	}
}

static void custom_model(struct load_ctx *ctx, const char *name, const char *value)
{
	struct gw_model *m = ctx->obj;
	struct {
		const char *key;
		int64_t *price;
		bool *has;
	} prices[] = {
		{ "input_per_1m", &m->input_pico, &m->has_input },
		{ "output_per_1m", &m->output_pico, &m->has_output },
		{ "cached_input_per_1m", &m->cached_input_pico, &m->has_cached_input },
		{ "cache_write_per_1m", &m->cache_write_pico, &m->has_cache_write },
	};

	for (size_t i = 0; i < GW_ARRAY_LEN(prices); i++) {
		if (strcmp(name, prices[i].key) != 0)
			continue;
		/* USD per million tokens with 6 decimals is exactly pico-USD per token */
		if (policy_parse_decimal(value, 6, 1000000000000LL, prices[i].price) < 0)
			ERR(ctx, "%s: expected US dollars per million tokens with at most 6 decimals, got \"%s\"",
			    name, value);
		else
			*prices[i].has = true;
	}
}

/* ---- sections ---- */

static const struct section_def *section_def_for(enum section_kind kind)
{
	for (size_t i = 0; i < GW_ARRAY_LEN(sections); i++)
		if (sections[i].kind == kind)
			return &sections[i];
	return NULL;
}

static void limits_init(struct gw_limits *l)
{
	memset(l, 0, sizeof(*l));
}

static void *section_new(struct load_ctx *ctx, enum section_kind kind, const char *name)
{
	struct gw_policy *p = ctx->p;

	switch (kind) {
	case SEC_UPSTREAM: {
		struct gw_upstream *u = gw_calloc(1, sizeof(*u));
		u->name = gw_strdup(name);
		u->timeout_ms = 60000;
		u->weight = 1;
		u->cooldown_s = 30;
		u->file = ctx->file;
		u->line = ctx->line;
		p->upstreams = gw_realloc(p->upstreams, (p->n_upstreams + 1) * sizeof(u));
		p->upstreams[p->n_upstreams++] = u;
		return u;
	}
	case SEC_CONSUMER: {
		struct gw_consumer *c = gw_calloc(1, sizeof(*c));
		c->name = gw_strdup(name);
		limits_init(&c->limits);
		c->file = ctx->file;
		c->line = ctx->line;
		p->consumers = gw_realloc(p->consumers, (p->n_consumers + 1) * sizeof(c));
		p->consumers[p->n_consumers++] = c;
		return c;
	}
	case SEC_ROUTE: {
		struct gw_route *r = gw_calloc(1, sizeof(*r));
		r->name = gw_strdup(name);
		r->mode = GW_MODE_PROMPT;
		r->api = GW_API_CHAT;
		r->blocked_code = 403;
		r->case_sensitive = true;
		r->retries = -1;
		limits_init(&r->limits);
		r->file = ctx->file;
		r->line = ctx->line;
		p->routes = gw_realloc(p->routes, (p->n_routes + 1) * sizeof(r));
		p->routes[p->n_routes++] = r;
		return r;
	}
	case SEC_MODEL: {
		struct gw_model *m = gw_calloc(1, sizeof(*m));
		m->name = gw_strdup(name);
		m->file = ctx->file;
		m->line = ctx->line;
		p->models = gw_realloc(p->models, (p->n_models + 1) * sizeof(m));
		p->models[p->n_models++] = m;
		return m;
	}
	case SEC_GATEWAY:
		return p;
	case SEC_AUTH:
		return &p->auth;
	case SEC_NONE:
		break;
	}
	return NULL;
}

static bool section_exists(const struct gw_policy *p, enum section_kind kind, const char *name,
			   bool *seen_gateway_auth)
{
	if (kind == SEC_GATEWAY || kind == SEC_AUTH)
		return seen_gateway_auth[kind == SEC_AUTH];
	if (kind == SEC_UPSTREAM)
		return policy_upstream(p, name) != NULL;
	if (kind == SEC_CONSUMER)
		return policy_consumer(p, name) != NULL;
	if (kind == SEC_MODEL) {
		for (size_t i = 0; i < p->n_models; i++)
			if (strcmp(p->models[i]->name, name) == 0)
				return true;
		return false;
	}
	for (size_t i = 0; i < p->n_routes; i++)
		if (strcmp(p->routes[i]->name, name) == 0)
			return true;
	return false;
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	return true;
}

/* Handles a "[kind name]" line, seen by the reader before inih. */
static void section_begin(struct load_ctx *ctx, const char *header)
{
	char kind[32] = "", name[128] = "", extra[8] = "";
	const char *end = strchr(header, ']');
	const struct section_def *sd = NULL;

	list_free(&ctx->seen);
	ctx->kind = SEC_NONE;
	ctx->obj = NULL;
	ctx->section_bad = true;
	if (!end) {
		ERR(ctx, "section header without a closing ]");
		return;
	}
	char *inner = gw_strndup(header + 1, (size_t)(end - header - 1));
	int n = sscanf(inner, "%31s %127s %7s", kind, name, extra);
	free(inner);
	for (size_t i = 0; n >= 1 && i < GW_ARRAY_LEN(sections); i++)
		if (strcmp(sections[i].name, kind) == 0)
			sd = &sections[i];
	if (!sd) {
		ERR(ctx, "unknown section [%s]; expected gateway, upstream NAME, auth, consumer NAME, route NAME or model NAME",
		    n >= 1 ? kind : "");
		return;
	}
	if (sd->named && (n != 2 || !valid_name(name))) {
		ERR(ctx, "[%s] needs one name of at most 63 letters, digits, '-', '_' or '.', as [%s NAME]",
		    sd->name, sd->name);
		return;
	}
	if (!sd->named && n != 1) {
		ERR(ctx, "[%s] takes no name", sd->name);
		return;
	}
	if (section_exists(ctx->p, sd->kind, name, ctx->singletons)) {
		ERR(ctx, "[%s%s%s] is defined twice", sd->name, sd->named ? " " : "", name);
		return;
	}
	if (sd->kind == SEC_GATEWAY || sd->kind == SEC_AUTH)
		ctx->singletons[sd->kind == SEC_AUTH] = true;
	ctx->kind = sd->kind;
	ctx->obj = section_new(ctx, sd->kind, name);
	ctx->section_bad = false;
}

static bool looks_like_key(const char *s)
{
	const char *k = s;
	while (isalnum((unsigned char)*k) || *k == '_')
		k++;
	if (k == s)
		return false;
	while (*k == ' ' || *k == '\t')
		k++;
	return *k == '=' || *k == ':';
}

/* inih's line reader: counts lines, refuses over-long ones, sees section
 * headers first, and tells indented keys from continuation lines. */
static char *reader_cb(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	size_t len;
	char *s;

	if (!fgets(str, num, ctx->fp))
		return NULL;
	ctx->line++;
	len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(ctx->fp)) {
		int c;
		ERR(ctx, "line longer than %d bytes; continue a long list on indented lines", num - 2);
		while ((c = fgetc(ctx->fp)) != EOF && c != '\n')
			;
		str[0] = '\0';
		ctx->continuation = false;
		return str;
	}
	s = str;
	while (*s == ' ' || *s == '\t')
		s++;
	ctx->continuation = false;
	if (*s == '\0' || *s == '\n' || *s == '\r' || *s == ';' || *s == '#')
		return str;
	if (*s == '[') {
		section_begin(ctx, s);
		memmove(str, s, strlen(s) + 1); /* an indented header is still a header */
		return str;
	}
	if (s != str) {
		if (looks_like_key(s)) {
			memmove(str, s, strlen(s) + 1);
		} else if (ctx->seen.n > 0) {
			ctx->continuation = true;
			return str;
		} else {
			ERR(ctx, "expected \"key = value\" (an indented line continues a list only after a key)");
			str[0] = '\0';
			return str;
		}
	}
	if (!strpbrk(str, "=:"))
		ERR(ctx, "expected \"key = value\"");
	return str;
}

static int handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	const struct section_def *sd;
	const struct key_def *k = NULL;

	(void)section;
	if (ctx->section_bad)
		return 1; /* keys of a refused section: the header was reported */
	if (ctx->kind == SEC_NONE) {
		ERR(ctx, "\"%s\" is outside of any section", name);
		return 1;
	}
	sd = section_def_for(ctx->kind);
	for (size_t i = 0; i < sd->n_keys; i++)
		if (strcmp(sd->keys[i].name, name) == 0)
			k = &sd->keys[i];
	if (!k) {
		ERR(ctx, "unknown key \"%s\" in [%s]", name, sd->name);
		return 1;
	}
	if (!ctx->continuation) {
		if (list_has(&ctx->seen, name)) {
			ERR(ctx, "%s is set twice in this section", name);
			return 1;
		}
		list_add(&ctx->seen, name, strlen(name));
	}
	if (k->type != KT_CUSTOM) {
		store_value(ctx, k, ctx->obj, value);
		return 1;
	}
	if (ctx->continuation && strcmp(name, "include") != 0 && strcmp(name, "alert_at") != 0 &&
	    strcmp(name, "block_regexp_urls") != 0 && strcmp(name, "model_map") != 0) {
		ERR(ctx, "%s cannot continue on the next line", name);
		return 1;
	}
	switch (ctx->kind) {
	case SEC_GATEWAY:
		custom_gateway(ctx, name, value);
		break;
	case SEC_UPSTREAM:
		custom_upstream(ctx, name, value);
		break;
	case SEC_CONSUMER:
		custom_consumer(ctx, name, value);
		break;
	case SEC_ROUTE:
		custom_route(ctx, name, value);
		break;
	case SEC_MODEL:
		custom_model(ctx, name, value);
		break;
	default:
		break;
	}
	return 1;
}

/* ---- files, includes and stamps ---- */

static const char *policy_own_name(struct gw_policy *p, const char *path)
{
	p->files = gw_realloc(p->files, (p->n_files + 1) * sizeof(*p->files));
	p->files[p->n_files] = gw_strdup(path);
	return p->files[p->n_files++];
}

static void stamp_add(struct gw_policy *p, const char *path)
{
	struct gw_stamp *st;
	struct stat sb;

	p->stamps = gw_realloc(p->stamps, (p->n_stamps + 1) * sizeof(*p->stamps));
	st = &p->stamps[p->n_stamps++];
	memset(st, 0, sizeof(*st));
	st->path = gw_strdup(path);
	if (stat(path, &sb) < 0) {
		st->missing = true;
		return;
	}
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->size = sb.st_size;
	st->mtime = sb.st_mtim;
}

bool policy_changed(const struct gw_policy *p)
{
	for (size_t i = 0; i < p->n_stamps; i++) {
		const struct gw_stamp *st = &p->stamps[i];
		struct stat sb;
		if (stat(st->path, &sb) < 0) {
			if (!st->missing)
				return true;
			continue;
		}
		if (st->missing || sb.st_dev != st->dev || sb.st_ino != st->ino ||
		    sb.st_size != st->size || sb.st_mtim.tv_sec != st->mtime.tv_sec ||
		    sb.st_mtim.tv_nsec != st->mtime.tv_nsec)
			return true;
	}
	return false;
}

static void load_file(struct gw_policy *p, struct gw_diag *diag, const char *path, int depth,
		      bool *singletons);

/* Resolves pattern relative to the directory of the including file. */
static char *include_path(const char *including, const char *pattern)
{
	const char *slash = strrchr(including, '/');
	if (pattern[0] == '/' || !slash)
		return gw_strdup(pattern);
	return gw_asprintf("%.*s/%s", (int)(slash - including), including, pattern);
}

static void load_includes(struct load_ctx *ctx)
{
	for (size_t i = 0; i < ctx->includes.n; i++) {
		char *pattern = include_path(ctx->file, ctx->includes.v[i]);
		char *dir = gw_strdup(pattern);
		char *slash = strrchr(dir, '/');
		glob_t g;
		int rc;

		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		stamp_add(ctx->p, slash ? dir : ".");
		free(dir);
		rc = glob(pattern, 0, NULL, &g);
		if (rc == 0) {
			for (size_t k = 0; k < g.gl_pathc; k++)
				load_file(ctx->p, ctx->diag, g.gl_pathv[k], ctx->depth + 1,
					  ctx->singletons);
		} else if (rc != GLOB_NOMATCH) {
			diag_add(ctx->diag, false, ctx->file, 0, "include %s: cannot read", pattern);
		}
		if (rc == 0 || rc == GLOB_NOMATCH)
			globfree(&g);
		free(pattern);
	}
}

static void load_file(struct gw_policy *p, struct gw_diag *diag, const char *path, int depth,
		      bool *singletons)
{
	struct load_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.p = p;
	ctx.diag = diag;
	ctx.file = policy_own_name(p, path);
	ctx.depth = depth;
	ctx.singletons = singletons;
	if (depth > POLICY_MAX_INCLUDE_DEPTH) {
		diag_add(diag, false, ctx.file, 0, "includes nested more than %d deep (a loop?)",
			 POLICY_MAX_INCLUDE_DEPTH);
		return;
	}
	stamp_add(p, path);
	ctx.fp = fopen(path, "r");
	if (!ctx.fp) {
		diag_add(diag, false, ctx.file, 0, "cannot open: %s", strerror(errno));
		return;
	}
	struct stat sb;
	if (fstat(fileno(ctx.fp), &sb) < 0 || !S_ISREG(sb.st_mode)) {
		diag_add(diag, false, ctx.file, 0, "not a regular file");
		fclose(ctx.fp);
		return;
	}
	if (ini_parse_stream(reader_cb, &ctx, handler_cb, &ctx) == -2)
		diag_add(diag, false, ctx.file, 0, "out of memory");
	if (ferror(ctx.fp))
		diag_add(diag, false, ctx.file, 0, "read error");
	fclose(ctx.fp);
	list_free(&ctx.seen);
	load_includes(&ctx);
	list_free(&ctx.includes);
}

/* ---- validation after every file is read ---- */

#define SEMANTIC(d, obj, ...) diag_add((d), false, (obj)->file, (obj)->line, __VA_ARGS__)

static void validate_upstreams(struct gw_policy *p, struct gw_diag *d)
{
	for (size_t i = 0; i < p->n_upstreams; i++) {
		struct gw_upstream *u = p->upstreams[i];
		if (!u->url)
			SEMANTIC(d, u, "[upstream %s] needs url", u->name);
	}
}

static void validate_consumers(struct gw_policy *p, struct gw_diag *d)
{
	for (size_t i = 0; i < p->n_consumers; i++) {
		struct gw_consumer *c = p->consumers[i];
		if (c->has_previous != (c->previous_until_ms != 0))
			SEMANTIC(d, c,
				 "[consumer %s] previous_credential_sha256 and previous_valid_until go together",
				 c->name);
		if (!c->has_sha256) {
			SEMANTIC(d, c, "[consumer %s] needs credential or credential_sha256", c->name);
			continue;
		}
		for (size_t k = 0; k < i; k++) {
			struct gw_consumer *o = p->consumers[k];
			if (o->has_sha256 &&
			    memcmp(o->credential_sha256, c->credential_sha256, SHA256_LEN) == 0)
				SEMANTIC(d, c, "[consumer %s] has the same credential as [consumer %s]",
					 c->name, o->name);
		}
	}
}

static void compile_regexps(struct gw_route *r, struct gw_diag *d)
{
	int flags = REG_EXTENDED | REG_NOSUB | (r->case_sensitive ? 0 : REG_ICASE);

	r->regexps = gw_calloc(r->block_regexp_urls.n, sizeof(regex_t));
	for (size_t i = 0; i < r->block_regexp_urls.n; i++) {
		int rc = regcomp(&r->regexps[r->n_regexps], r->block_regexp_urls.v[i], flags);
		if (rc != 0) {
			char why[128];
			regerror(rc, &r->regexps[r->n_regexps], why, sizeof(why));
			SEMANTIC(d, r, "[route %s] block_regexp_urls: \"%s\": %s", r->name,
				 r->block_regexp_urls.v[i], why);
			continue;
		}
		r->n_regexps++;
	}
}

static void validate_route(struct gw_policy *p, struct gw_route *r, struct gw_diag *d)
{
	if (!r->path)
		SEMANTIC(d, r, "[route %s] needs path", r->name);
	if (!r->prompt_param)
		r->prompt_param = gw_strdup("prompt");
	r->upstreams = gw_calloc(r->upstream_names.n + 1, sizeof(*r->upstreams));
	for (size_t i = 0; i < r->upstream_names.n; i++) {
		struct gw_upstream *u = policy_upstream(p, r->upstream_names.v[i]);
		if (!u)
			SEMANTIC(d, r, "[route %s] names upstream %s, which is not defined", r->name,
				 r->upstream_names.v[i]);
		else
			r->upstreams[r->n_upstreams++] = u;
	}
	if (r->upstream_names.n == 0 && p->n_upstreams == 1)
		r->upstreams[r->n_upstreams++] = p->upstreams[0];
	else if (r->upstream_names.n == 0)
		SEMANTIC(d, r, "[route %s] needs upstream (there are %zu upstreams)", r->name,
			 p->n_upstreams);
	r->upstream = r->n_upstreams ? r->upstreams[0] : NULL;
	if (r->retries < 0)
		r->retries = r->n_upstreams ? (long long)r->n_upstreams - 1 : 0;
	for (size_t i = 0; i < r->allow.n; i++)
		if (!policy_consumer(p, r->allow.v[i]))
			SEMANTIC(d, r, "[route %s] allows %s, which is not a [consumer]", r->name,
				 r->allow.v[i]);
	for (size_t i = 0; i < p->n_routes && p->routes[i] != r; i++)
		if (r->path && p->routes[i]->path && strcmp(p->routes[i]->path, r->path) == 0)
			SEMANTIC(d, r, "[route %s] has the same path as [route %s]", r->name,
				 p->routes[i]->name);
	compile_regexps(r, d);
}

static int route_cmp(const void *a, const void *b)
{
	const struct gw_route *ra = *(struct gw_route *const *)a;
	const struct gw_route *rb = *(struct gw_route *const *)b;
	return (rb->path_len > ra->path_len) - (rb->path_len < ra->path_len);
}

static void validate(struct gw_policy *p, struct gw_diag *d, const char *main_file)
{
	if (!p->state_dir)
		diag_add(d, false, main_file, 0, "[gateway] state_dir must not be empty");
	if (p->n_routes == 0)
		diag_add(d, false, main_file, 0, "no [route] is defined: every request would get 404");
	if (p->n_upstreams == 0)
		diag_add(d, false, main_file, 0, "no [upstream] is defined");
	validate_upstreams(p, d);
	validate_consumers(p, d);
	for (size_t i = 0; i < p->n_routes; i++)
		validate_route(p, p->routes[i], d);
	for (size_t i = 0; i < p->n_models; i++) {
		struct gw_model *m = p->models[i];
		if (!m->has_input || !m->has_output)
			SEMANTIC(d, m, "[model %s] needs input_per_1m and output_per_1m", m->name);
		if (!m->has_cached_input)
			m->cached_input_pico = m->input_pico;
		if (!m->has_cache_write)
			m->cache_write_pico = m->input_pico;
		for (size_t a = 0; a < m->aliases.n; a++) {
			for (size_t k = 0; k < p->n_models; k++) {
				const struct gw_model *o = p->models[k];
				if (o == m)
					continue;
				if (strcmp(o->name, m->aliases.v[a]) == 0 ||
				    (k < i && list_has(&o->aliases, m->aliases.v[a])))
					SEMANTIC(d, m, "[model %s] alias %s is already [model %s]",
						 m->name, m->aliases.v[a], o->name);
			}
		}
	}
	if (p->n_routes > 1)
		qsort(p->routes, p->n_routes, sizeof(*p->routes), route_cmp);
}

static void policy_defaults(struct gw_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->state_dir = gw_strdup("/var/lib/aigw");
	p->max_body = 33554432;
	p->max_answer = 268435456;
	p->stream_timeout_s = 3600;
	p->threads = 64;
	p->default_max_tokens = 256;
	p->store_timeout_ms = 250;
	p->auth.in_header = true;
	p->auth.in_query = false;
	p->auth.global_auth = true;
}

struct gw_policy *policy_load(const char *path, struct gw_diag *diag)
{
	struct gw_policy *p = gw_malloc(sizeof(*p));
	size_t errors_before = diag->n_errors;
	bool singletons[2] = { false, false };

	policy_defaults(p);
	load_file(p, diag, path, 0, singletons);
	if (diag->n_errors == errors_before)
		validate(p, diag, p->files[0]);
	p->valid = diag->n_errors == errors_before;
	return p;
}

/* ---- lookup and release ---- */

const struct gw_route *policy_route(const struct gw_policy *p, const char *path)
{
	for (size_t i = 0; i < p->n_routes; i++) {
		const struct gw_route *r = p->routes[i];
		if (r->path_len == 1 && r->path[0] == '/')
			return r;
		if (strncmp(path, r->path, r->path_len) == 0 &&
		    (path[r->path_len] == '\0' || path[r->path_len] == '/'))
			return r;
	}
	return NULL;
}

struct gw_consumer *policy_consumer(const struct gw_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_consumers; i++)
		if (strcmp(p->consumers[i]->name, name) == 0)
			return p->consumers[i];
	return NULL;
}

const struct gw_model *policy_model(const struct gw_policy *p, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < p->n_models; i++)
		if (strcmp(p->models[i]->name, name) == 0 || list_has(&p->models[i]->aliases, name))
			return p->models[i];
	return NULL;
}

struct gw_upstream *policy_upstream(const struct gw_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_upstreams; i++)
		if (strcmp(p->upstreams[i]->name, name) == 0)
			return p->upstreams[i];
	return NULL;
}

static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void route_free(struct gw_route *r)
{
	free(r->name);
	free(r->path);
	list_free(&r->upstream_names);
	free(r->upstreams);
	free(r->prompt_param);
	free(r->blocked_message);
	list_free(&r->allow);
	list_free(&r->block_urls);
	list_free(&r->block_exact_urls);
	list_free(&r->block_regexp_urls);
	list_free(&r->block_headers);
	list_free(&r->block_bodies);
	for (size_t i = 0; i < r->n_regexps; i++)
		regfree(&r->regexps[i]);
	free(r->regexps);
	free(r);
}

void policy_free(struct gw_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_upstreams; i++) {
		struct gw_upstream *u = p->upstreams[i];
		free(u->name);
		free(u->url);
		secret_free(u->api_key);
		free(u->model);
		list_free(&u->model_map);
		free(u);
	}
	for (size_t i = 0; i < p->n_consumers; i++) {
		struct gw_consumer *c = p->consumers[i];
		free(c->name);
		secret_free(c->credential);
		list_free(&c->models);
		free(c->owner);
		free(c->created);
		free(c);
	}
	for (size_t i = 0; i < p->n_routes; i++)
		route_free(p->routes[i]);
	for (size_t i = 0; i < p->n_models; i++) {
		free(p->models[i]->name);
		list_free(&p->models[i]->aliases);
		free(p->models[i]);
	}
	free(p->models);
	free(p->upstreams);
	free(p->consumers);
	free(p->routes);
	free(p->state_dir);
	free(p->redis_host);
	free(p->usage_log);
	free(p->keys_dir);
	free(p->alert_command);
	secret_free(p->admin_key);
	list_free(&p->auth.keys);
	list_free(&p->secret_files);
	for (size_t i = 0; i < p->n_files; i++)
		free(p->files[i]);
	free(p->files);
	for (size_t i = 0; i < p->n_stamps; i++)
		free(p->stamps[i].path);
	free(p->stamps);
	free(p);
}

/* ---- lint: valid but risky ---- */

/* True when an http:// URL's host is this machine: localhost, [::1] or
 * 127.x.y.z. */
static bool local_url(const char *url)
{
	const char *host = url + 7; /* after "http://" */
	size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/");
	int a, b, c, d, used = 0;

	if (n == 9 && strncmp(host, "localhost", 9) == 0)
		return true;
	if (n == 5 && strncmp(host, "[::1]", 5) == 0)
		return true;
	return sscanf(host, "%d.%d.%d.%d%n", &a, &b, &c, &d, &used) == 4 && (size_t)used == n &&
	       a == 127 && b >= 0 && b < 256 && c >= 0 && c < 256 && d >= 0 && d < 256;
}

void policy_lint(const struct gw_policy *p, struct gw_diag *d)
{
	for (size_t i = 0; i < p->n_routes; i++) {
		const struct gw_route *r = p->routes[i];
		if (!p->auth.global_auth && r->allow.n == 0)
			diag_add(d, true, r->file, r->line,
				 "[route %s] is open to everyone: no allow list and global_auth = false",
				 r->name);
	}
	if (p->auth.in_query)
		diag_add(d, true, p->files[0], 0,
			 "in_query = true: keys sent in query strings end up in access logs");
	for (size_t i = 0; i < p->secret_files.n; i++) {
		struct stat sb;
		if (stat(p->secret_files.v[i], &sb) == 0 && (sb.st_mode & S_IROTH))
			diag_add(d, true, p->secret_files.v[i], 0,
				 "holds a key and everyone may read it (chmod o-r)");
	}
	for (size_t i = 0; i < p->n_upstreams; i++) {
		const struct gw_upstream *u = p->upstreams[i];
		if (u->url && strncmp(u->url, "http://", 7) == 0 && !local_url(u->url))
			diag_add(d, true, u->file, u->line,
				 "[upstream %s] is reached over plain http: keys and prompts cross the network unencrypted",
				 u->name);
	}
}
