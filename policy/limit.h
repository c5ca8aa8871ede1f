/* limit.h: request and token windows per consumer (and per consumer on a
 * route), fixed and aligned to the clock, kept in state_dir behind file locks
 * so that they are exact across every worker process.
 *
 * Each scope (a consumer, or a consumer on a route) is one small file holding
 * two copies of its counters: an update writes the older copy, so a process
 * killed at any instant leaves the newer one intact, and the checksum tells a
 * damaged copy from a good one. Locks are open-file-description locks, which
 * the kernel drops when the holder dies. */
#ifndef GW_LIMIT_H
#define GW_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy.h"

/* Window arithmetic: the window of kind w that holds now_ms (milliseconds
 * since the epoch, UTC), as [*start, *end). Days start at 00:00 UTC. */
void limit_window(enum gw_window w, int64_t now_ms, int64_t *start, int64_t *end);

/* One window's counters. */
struct limit_counter {
	int64_t start;    /* window start, ms; 0: never used */
	int64_t used;     /* requests, or settled tokens */
	int64_t reserved; /* tokens reserved by requests still in flight */
};

/* All counters of one scope: the in-memory form of one state file. */
struct limit_counters {
	struct limit_counter query[GW_WIN__MAX];
	struct limit_counter token[GW_WIN__MAX];
	struct limit_counter cost_day;   /* pico-USD spent today (UTC) */
	struct limit_counter cost_month; /* pico-USD spent this calendar month (UTC) */
};

/* The calendar month (UTC) that holds now_ms, as [*start, *end) in ms. */
void limit_month(int64_t now_ms, int64_t *start, int64_t *end);

/* What the caller learns from an admission, for the answer's headers. */
struct limit_verdict {
	bool limited;       /* some window applied */
	bool admitted;
	bool by_tokens;     /* refused (or reported) by a token window */
	bool by_budget;     /* refused by a budget */
	long long limit;    /* of the tightest window */
	long long remaining;
	int64_t reset_s;    /* seconds until that window ends */
	int64_t retry_after_s; /* when refused: seconds until every full window has rolled */
};

/* Merges one window into v: keeps the tightest (least remaining; on a tie
 * the one ending first). For stores that check windows themselves. */
void limit_note(struct limit_verdict *v, long long limit, long long remaining, int64_t reset_s,
		bool tokens);

/* Pure admission on in-memory counters: rolls windows that ended, admits
 * when every limited window has room (requests: used < limit; tokens:
 * used + reserved < limit; budgets: spent < budget), and then counts the
 * request and reserves estimate tokens. Refused requests change nothing but rolled windows.
 * Fills v (merging with what it already holds from other scopes). */
bool limit_admit(struct limit_counters *c, const struct gw_limits *l, int64_t now_ms,
		 long long estimate, struct limit_verdict *v);

/* Pure settlement: replaces the reservation made at reserved_at_ms by the
 * actual token count (actual < 0: an error, release the reservation only),
 * and adds cost_pico to the budgets' spending. */
void limit_settle_counters(struct limit_counters *c, const struct gw_limits *l,
			   int64_t reserved_at_ms, int64_t now_ms, long long estimate,
			   long long actual, int64_t cost_pico);

/* Bounds on every number that comes from a client (an estimate, max_tokens)
 * or an upstream (token counts) before any arithmetic: a request counts at
 * most LIMIT_TOKENS_MAX tokens and LIMIT_PICO_MAX pico-USD (a million
 * dollars), and a counter saturates at LIMIT_SUM_MAX. All three stay exact
 * in a double (Redis's Lua) and far from INT64_MAX. */
#define LIMIT_TOKENS_MAX 1000000000000LL        /* 1e12 */
#define LIMIT_PICO_MAX 1000000000000000000LL    /* 1e18 */
#define LIMIT_SUM_MAX 4000000000000000000LL     /* 4e18 */

/* x clamped to [lo, hi]. */
long long limit_clamp(long long x, long long lo, long long hi);

/* a + b, both already bounded to [0, LIMIT_SUM_MAX], saturating there. */
int64_t limit_sat_add(int64_t a, int64_t b);

/* One window that applies to a scope, in the order every store uses. */
enum limit_kind {
	LIMIT_REQUESTS,     /* a query window: counts requests */
	LIMIT_TOKENS,       /* a token window: settled + reserved tokens */
	LIMIT_BUDGET_DAY,   /* pico-USD spent this UTC day */
	LIMIT_BUDGET_MONTH, /* pico-USD spent this UTC calendar month */
};

struct limit_window_ref {
	enum limit_kind kind;
	enum gw_window w;  /* requests and tokens: which window */
	long long limit;   /* requests, tokens or pico-USD */
	int64_t start, end; /* ms, [start, end) */
	int64_t reset_s;   /* seconds from now_ms until end */
};

#define LIMIT_WINDOWS_MAX (2 * GW_WIN__MAX + 2)

/* The windows of l that hold now_ms, limited ones only: requests and
 * tokens per window kind (second to day; no token window per second), then
 * the day and month budgets. The one list both stores check. Returns how many. */
size_t limit_windows(const struct gw_limits *l, int64_t now_ms,
		     struct limit_window_ref out[LIMIT_WINDOWS_MAX]);

/* A scope whose windows apply to a request. */
struct limit_scope {
	char file[256];            /* file name inside state_dir */
	const struct gw_limits *limits;
};

/* Fills scopes for a consumer (NULL: anonymous) on a route; returns how many
 * have limits (0, 1 or 2). */
size_t limit_scopes(const struct gw_route *r, const struct gw_consumer *c,
		    struct limit_scope out[2]);

/* State files a handle keeps open. Each worker thread has its own handle
 * (its own locks), and a process must stay under 1,024 descriptors (libfcgi
 * checks new connections with select()): 8 a thread, 64 threads. */
#define LIMIT_MAX_OPEN 8

/* A thread's handle on state_dir: an open-file cache. */
struct limit_store {
	char *dir;
	struct {
		char file[256];
		int fd;
		time_t checked; /* last check that fd is still the file at the path */
	} open[LIMIT_MAX_OPEN];
	size_t n_open;
	unsigned hold_ms; /* test hook: sleep while holding the lock */
};

/* An admitted request's reservation, settled once its answer ends. */
struct limit_ticket {
	struct limit_scope scopes[2];
	size_t n;
	int64_t at_ms;
	long long estimate;
	bool pending;
	/* Filled by settling: pico-USD spent so far in the consumer scope's day
	 * and month budget windows (scopes[0] when it is the consumer's), for
	 * budget alerts; -1 where that budget is not set or was not settled. */
	int64_t spent_day, spent_month;
};

/* Sets the store to dir (created 0700 when missing, on first use). */
void limit_store_init(struct limit_store *s, const char *dir);
void limit_store_close(struct limit_store *s);

/* Admits (or refuses) a request in every scope at once, under the scopes'
 * locks, taken in order. On admission t holds the reservation. Returns
 * GW_OK, or GW_EIO / GW_ELOCK when the store cannot be used (the caller
 * refuses the request: the door stays closed). A damaged file is rebuilt
 * with its current windows full, and reported through *damaged. */
int limit_take(struct limit_store *s, const struct limit_scope *scopes, size_t n,
	       int64_t now_ms, long long estimate, struct limit_verdict *v,
	       struct limit_ticket *t, bool *damaged);

/* Settles t with the upstream's total_tokens (actual < 0: release) and the
 * answer's cost in pico-USD. */
int limit_settle(struct limit_store *s, struct limit_ticket *t, int64_t now_ms,
		 long long actual, int64_t cost_pico);

/* Clears every window of a consumer (all its scope files). Returns the
 * number of files cleared, or -1 with errno. */
int limit_reset_consumer(const char *dir, const char *consumer);

/* Reads a scope file's counters without locking for long (for reports).
 * Returns 0, or -1 when missing or damaged. */
int limit_read_file(const char *path, struct limit_counters *c);

/* Estimates the tokens of a text without a tokenizer: about 4 bytes a token
 * (rounded up), which over-estimates for English and is close for code. */
long long limit_estimate_tokens(size_t bytes);

#endif
