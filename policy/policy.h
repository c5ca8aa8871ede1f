/* policy.h: the policy model (gateway, upstreams, auth, consumers, routes)
 * and its loader, which reads INI files with inih and validates them. */
#ifndef GW_POLICY_H
#define GW_POLICY_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "digest.h"

/* A comma-separated list from the policy; strings owned by the list. */
struct gw_list {
	char **v;
	size_t n;
};

/* Fixed, clock-aligned windows. */
enum gw_window {
	GW_WIN_SECOND,
	GW_WIN_MINUTE,
	GW_WIN_HOUR,
	GW_WIN_DAY,
	GW_WIN__MAX
};

/* Request and token limits; 0 means "no limit". token[GW_WIN_SECOND] is unused. */
struct gw_limits {
	long long query[GW_WIN__MAX];
	long long token[GW_WIN__MAX];
	int64_t budget_day;   /* pico-USD (1e-12 $); 0: no budget */
	int64_t budget_month; /* pico-USD, calendar month in UTC */
	long long max_parallel; /* requests in flight at once (per consumer); 0: no limit */
};

/* A price from the [model NAME] table. Money is kept as integer pico-USD
 * (1e-12 dollars), so a price per million tokens is exactly pico-USD per
 * token and totals never drift. */
struct gw_model {
	char *name;
	struct gw_list aliases;
	int64_t input_pico;  /* per prompt token */
	int64_t output_pico; /* per completion token */
	bool has_input, has_output;
	int64_t cached_input_pico; /* per cached prompt token; input_pico unless set */
	int64_t cache_write_pico;  /* per token written to the cache; input_pico unless set */
	bool has_cached_input, has_cache_write; /* set in the policy */
	const char *file;
	int line;
};

/* The wire protocol an upstream speaks. */
enum gw_upstream_api { GW_UPSTREAM_OPENAI, GW_UPSTREAM_ANTHROPIC };

/* The cost of one answer in pico-USD: (prompt - cached - cache_write) at the
 * input price, cached at cached_input, cache_write at cache_write, completion
 * at output. Token counts are clamped to sane ranges first; the sum
 * saturates at INT64_MAX, never wraps. */
int64_t model_cost_pico(const struct gw_model *m, long long prompt, long long cached,
			long long cache_write, long long completion);

struct gw_upstream {
	char *name;
	enum gw_upstream_api api; /* default GW_UPSTREAM_OPENAI */
	char *url;        /* base URL without a trailing slash */
	char *api_key;    /* resolved from api_key, api_key_file or api_key_env; may be NULL */
	char *model;      /* default model; NULL: none */
	long timeout_ms;
	long long weight;     /* for strategy = weighted; default 1 */
	long long cooldown_s; /* skipped this long after failing FAILOVER_STRIKES times in a row */
	struct gw_list model_map; /* "from:to" entries */
	const char *file; /* where the section started, for messages */
	int line;
};

struct gw_consumer {
	char *name;
	char *credential;  /* plain key, or NULL when only the hash is known */
	size_t credential_len;
	unsigned char credential_sha256[SHA256_LEN];
	bool has_sha256;
	struct gw_limits limits;
	struct gw_list models; /* empty: every model */
	int64_t expires_ms; /* ms since the epoch of 00:00 UTC of the expiry day; 0: never */
	char *owner;        /* metadata; NULL when unset */
	char *created;      /* metadata, YYYY-MM-DDTHH:MM:SSZ; NULL when unset */
	unsigned char previous_sha256[SHA256_LEN]; /* a rotated-out credential ... */
	bool has_previous;
	int64_t previous_until_ms; /* ... that keeps working until then (ms since the epoch) */
	const char *file;
	int line;
};

enum gw_mode { GW_MODE_PROMPT, GW_MODE_OPENAI, GW_MODE_ANTHROPIC };
enum gw_strategy { GW_STRATEGY_FAILOVER, GW_STRATEGY_ROUND_ROBIN, GW_STRATEGY_WEIGHTED };
enum gw_api { GW_API_CHAT, GW_API_COMPLETIONS };

struct gw_route {
	char *name;
	char *path;       /* URL path prefix; "/" matches everything */
	size_t path_len;
	enum gw_mode mode;
	struct gw_list upstream_names;
	struct gw_upstream **upstreams; /* resolved after loading, in the listed order */
	size_t n_upstreams;
	struct gw_upstream *upstream;   /* the first: its model is the route's default */
	enum gw_strategy strategy;
	long long retries;              /* moves to another upstream; -1: n_upstreams - 1 */
	char *prompt_param;
	enum gw_api api;
	struct gw_list allow; /* empty: any authenticated consumer (or anyone without global_auth) */
	struct gw_list block_urls, block_exact_urls, block_regexp_urls;
	struct gw_list block_headers, block_bodies;
	/* With case_sensitive = false: the same lists ASCII-lowered once at
	 * load, for matching (the lists above name what matched); else empty. */
	struct gw_list block_urls_folded, block_headers_folded, block_bodies_folded;
	regex_t *regexps;     /* compiled block_regexp_urls, same order */
	size_t n_regexps;
	int blocked_code;
	char *blocked_message; /* NULL: a JSON error */
	bool case_sensitive;
	struct gw_limits limits;
	const char *file;
	int line;
};

struct gw_auth {
	struct gw_list keys; /* header / query parameter names */
	bool in_header;
	bool in_query;
	bool global_auth;
};

/* What the loader saw of a file (or a directory an include glob reads), so a
 * process can tell cheaply whether the policy changed. */
struct gw_stamp {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool missing;
};

struct gw_policy {
	bool valid;        /* loaded without errors */
	bool torn;         /* a file changed while it was read: not valid, and changed */
	char *state_dir;
	char *usage_log;   /* NULL: off */
	size_t max_body;
	size_t max_answer;          /* upstream answers larger than this are cut */
	long long stream_timeout_s; /* total duration cap of one upstream call */
	int threads;                /* worker threads of one process */
	char *keys_dir;             /* every *.ini in it is part of the policy; NULL: unset */
	int alert_at[16];           /* budget alert thresholds in percent, ascending */
	size_t n_alert_at;
	char *alert_command;        /* absolute path; NULL: unset */
	char *admin_key;
	size_t admin_key_len;
	unsigned char admin_sha256[SHA256_LEN];
	bool has_admin_sha256;
	long long default_max_tokens; /* token reservation when a request sets no max_tokens */
	char *redis_host;  /* store = redis://HOST:PORT/DB; NULL: the file store in state_dir */
	int redis_port;
	int redis_db;
	bool store_fail_open; /* store_failure = open: admit (and log) when the store is down */
	long long store_timeout_ms;
	struct gw_auth auth;
	struct gw_upstream **upstreams;
	size_t n_upstreams;
	struct gw_consumer **consumers;
	size_t n_consumers;
	struct gw_route **routes; /* sorted by path length, longest first */
	size_t n_routes;
	struct gw_model **models;
	size_t n_models;
	struct gw_list secret_files; /* files that hold a key in plain text */
	char **files; /* every file name read, owned here; structs point into it */
	size_t n_files;
	struct gw_stamp *stamps;
	size_t n_stamps;
};

/* Messages from the loader, each "FILE:LINE: message" (or "FILE: message"). */
struct gw_diag {
	char **msgs;
	bool *warning; /* per message: true for a warning, false for an error */
	size_t n;
	size_t n_errors;
};

/* Loads the policy from path and the files it includes. Always returns a
 * policy the caller frees with policy_free; when diag got errors it has
 * valid == false and must not be used to serve, only to tell (through
 * policy_changed) whether the files changed since. Never prints. */
struct gw_policy *policy_load(const char *path, struct gw_diag *diag);

void policy_free(struct gw_policy *p);

/* Adds warnings for risky settings of a valid policy: a route open to
 * everyone, keys accepted in query strings (they end up in access logs),
 * files holding keys that everyone may read, an upstream reached over plain
 * http beyond this machine. */
void policy_lint(const struct gw_policy *p, struct gw_diag *diag);

/* True if any file or directory the policy was read from changed since it
 * was loaded (inode, size or mtime), or appeared or disappeared, or if a
 * file changed while it was being read (so the load is tried again). */
bool policy_changed(const struct gw_policy *p);

/* The route whose path is the longest prefix of path (at a segment
 * boundary or the whole path), or NULL. */
const struct gw_route *policy_route(const struct gw_policy *p, const char *path);

struct gw_consumer *policy_consumer(const struct gw_policy *p, const char *name);
/* The priced model called name (or with name among its aliases), or NULL. */
const struct gw_model *policy_model(const struct gw_policy *p, const char *name);

/* Parses a non-negative decimal ("0.15", "12", "0.0375"; no exponent) as an
 * integer count of 10^-digits units: "0.15" with digits 6 is 150000.
 * Returns 0, or -1 when malformed, with more than digits decimal places, or
 * when the result would exceed max. */
int policy_parse_decimal(const char *s, int digits, int64_t max, int64_t *out);
struct gw_upstream *policy_upstream(const struct gw_policy *p, const char *name);

/* Parses "YYYY-MM-DD" (1970-9999, a real day) into ms since the epoch of
 * 00:00 UTC that day. Returns 0; 1 when a valid date is followed by more
 * text (*ms is set); -1 when malformed. */
int policy_parse_date(const char *s, int64_t *ms);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (UTC) into ms since the epoch; 0 or -1. */
int policy_parse_timestamp(const char *s, int64_t *ms);

/* Parses a boolean as the policy does (true/false, yes/no, on/off, 1/0). */
int policy_parse_bool(const char *s, bool *out);

/* True if name is in the list (exact match). */
bool list_has(const struct gw_list *l, const char *name);

void diag_add(struct gw_diag *d, bool warning, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void diag_free(struct gw_diag *d);

#endif
