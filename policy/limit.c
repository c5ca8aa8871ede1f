/* limit.c: clock-aligned request and token windows in file-locked state. */
#include "limit.h"
#include "gw.h"
#include "statefile.h"
#include "str.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const int64_t window_ms[GW_WIN__MAX] = {
	1000,     /* GW_WIN_SECOND */
	60000,    /* GW_WIN_MINUTE */
	3600000,  /* GW_WIN_HOUR */
	86400000, /* GW_WIN_DAY: UTC has no DST, so every day is this long */
};

void limit_window(enum gw_window w, int64_t now_ms, int64_t *start, int64_t *end)
{
	int64_t len = window_ms[w];
	int64_t off = now_ms % len;

	if (off < 0)
		off += len;
	*start = now_ms - off;
	*end = *start + len;
}

void limit_month(int64_t now_ms, int64_t *start, int64_t *end)
{
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	*start = (int64_t)timegm(&tm) * 1000;
	tm.tm_mon += 1;
	*end = (int64_t)timegm(&tm) * 1000;
}

long long limit_clamp(long long x, long long lo, long long hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

int64_t limit_sat_add(int64_t a, int64_t b)
{
	int64_t sum;

	if (__builtin_add_overflow(a, b, &sum) || sum > LIMIT_SUM_MAX)
		return LIMIT_SUM_MAX;
	return sum < 0 ? 0 : sum;
}

long long limit_estimate_tokens(size_t bytes)
{
	if (bytes > (size_t)LIMIT_TOKENS_MAX * 4)
		return LIMIT_TOKENS_MAX;
	return (long long)((bytes + 3) / 4);
}

static void add_window(struct limit_window_ref *out, size_t *n, enum limit_kind kind,
		       enum gw_window w, long long limit, int64_t now_ms)
{
	struct limit_window_ref *r = &out[(*n)++];

	r->kind = kind;
	r->w = w;
	r->limit = limit;
	if (kind == LIMIT_BUDGET_MONTH)
		limit_month(now_ms, &r->start, &r->end);
	else
		limit_window(kind == LIMIT_BUDGET_DAY ? GW_WIN_DAY : w, now_ms, &r->start, &r->end);
	r->reset_s = (r->end - now_ms + 999) / 1000;
}

size_t limit_windows(const struct gw_limits *l, int64_t now_ms,
		     struct limit_window_ref out[LIMIT_WINDOWS_MAX])
{
	size_t n = 0;

	for (int w = 0; w < GW_WIN__MAX; w++) {
		if (l->query[w] > 0)
			add_window(out, &n, LIMIT_REQUESTS, w, l->query[w], now_ms);
		if (w != GW_WIN_SECOND && l->token[w] > 0)
			add_window(out, &n, LIMIT_TOKENS, w, l->token[w], now_ms);
	}
	if (l->budget_day > 0)
		add_window(out, &n, LIMIT_BUDGET_DAY, GW_WIN_DAY, l->budget_day, now_ms);
	if (l->budget_month > 0)
		add_window(out, &n, LIMIT_BUDGET_MONTH, GW_WIN_DAY, l->budget_month, now_ms);
	return n;
}

/* The counter of a scope's state that a window counts in. */
static struct limit_counter *counter_of(struct limit_counters *c, const struct limit_window_ref *r)
{
	switch (r->kind) {
	case LIMIT_REQUESTS:
		return &c->query[r->w];
	case LIMIT_TOKENS:
		return &c->token[r->w];
	case LIMIT_BUDGET_DAY:
		return &c->cost_day;
	case LIMIT_BUDGET_MONTH:
		break;
	}
	return &c->cost_month;
}

/* Starts a new window when the current one ended. A clock that went back
 * keeps the counts (the door stays closed rather than open). */
static void roll(struct limit_counter *k, const struct limit_window_ref *r)
{
	if (k->start < r->start) {
		k->start = r->start;
		k->used = 0;
		k->reserved = 0;
	}
}

void limit_note(struct limit_verdict *v, long long limit, long long remaining, int64_t reset_s,
		bool tokens)
{
	if (remaining < 0)
		remaining = 0;
	if (v->limited && (v->remaining < remaining ||
			   (v->remaining == remaining && v->reset_s <= reset_s)))
		return;
	v->limited = true;
	v->limit = limit;
	v->remaining = remaining;
	v->reset_s = reset_s;
	v->by_tokens = tokens;
}

/* Checks every limited window of one scope; returns true when all have room. */
static bool check(struct limit_counters *c, const struct gw_limits *l, int64_t now_ms,
		  struct limit_verdict *v)
{
	struct limit_window_ref win[LIMIT_WINDOWS_MAX];
	size_t n = limit_windows(l, now_ms, win);
	bool room = true;

	for (size_t i = 0; i < n; i++) {
		struct limit_counter *k = counter_of(c, &win[i]);

		roll(k, &win[i]);
		if (limit_sat_add(k->used, k->reserved) < win[i].limit)
			continue;
		room = false;
		if (win[i].kind == LIMIT_BUDGET_DAY || win[i].kind == LIMIT_BUDGET_MONTH)
			v->by_budget = true;
		else
			limit_note(v, win[i].limit, 0, win[i].reset_s, win[i].kind == LIMIT_TOKENS);
		if (win[i].reset_s > v->retry_after_s)
			v->retry_after_s = win[i].reset_s;
	}
	return room;
}

/* Counts an admitted request in every limited window and reserves tokens. */
static void apply(struct limit_counters *c, const struct gw_limits *l, int64_t now_ms,
		  long long estimate, struct limit_verdict *v)
{
	struct limit_window_ref win[LIMIT_WINDOWS_MAX];
	size_t n = limit_windows(l, now_ms, win);

	for (size_t i = 0; i < n; i++) {
		struct limit_counter *k = counter_of(c, &win[i]);

		if (win[i].kind == LIMIT_REQUESTS)
			k->used = limit_sat_add(k->used, 1);
		else if (win[i].kind == LIMIT_TOKENS)
			k->reserved = limit_sat_add(k->reserved, estimate);
		else
			continue;
		limit_note(v, win[i].limit, win[i].limit - limit_sat_add(k->used, k->reserved),
			   win[i].reset_s, win[i].kind == LIMIT_TOKENS);
	}
}

bool limit_admit(struct limit_counters *c, const struct gw_limits *l, int64_t now_ms,
		 long long estimate, struct limit_verdict *v)
{
	estimate = limit_clamp(estimate, 0, LIMIT_TOKENS_MAX);
	if (!check(c, l, now_ms, v)) {
		v->admitted = false;
		return false;
	}
	apply(c, l, now_ms, estimate, v);
	v->admitted = true;
	return true;
}

void limit_settle_counters(struct limit_counters *c, const struct gw_limits *l,
			   int64_t reserved_at_ms, int64_t now_ms, long long estimate,
			   long long actual, int64_t cost_pico)
{
	struct limit_window_ref at[LIMIT_WINDOWS_MAX], win[LIMIT_WINDOWS_MAX];
	size_t n = limit_windows(l, now_ms, win);

	limit_windows(l, reserved_at_ms, at); /* the same windows, in the same order */
	estimate = limit_clamp(estimate, 0, LIMIT_TOKENS_MAX);
	actual = actual < 0 ? -1 : limit_clamp(actual, 0, LIMIT_TOKENS_MAX);
	cost_pico = limit_clamp(cost_pico, 0, LIMIT_PICO_MAX);
	for (size_t i = 0; i < n; i++) {
		struct limit_counter *k = counter_of(c, &win[i]);

		if (win[i].kind == LIMIT_REQUESTS)
			continue;
		if (win[i].kind != LIMIT_TOKENS) {
			roll(k, &win[i]);
			k->used = limit_sat_add(k->used, cost_pico);
			continue;
		}
		if (k->start == at[i].start)
			k->reserved = k->reserved > estimate ? k->reserved - estimate : 0;
		roll(k, &win[i]); /* the tokens were spent now: count them in today's window */
		if (actual > 0)
			k->used = limit_sat_add(k->used, actual);
	}
}

size_t limit_scopes(const struct gw_route *r, const struct gw_consumer *c,
		    struct limit_scope out[2])
{
	static const struct gw_limits none;
	size_t n = 0;

	if (c && memcmp(&c->limits, &none, sizeof(none)) != 0) {
		snprintf(out[n].file, sizeof(out[n].file), "c@%s", c->name);
		out[n++].limits = &c->limits;
	}
	if (r && memcmp(&r->limits, &none, sizeof(none)) != 0) {
		snprintf(out[n].file, sizeof(out[n].file), "r@%s@c@%s", r->name,
			 c ? c->name : "@anonymous");
		out[n++].limits = &r->limits;
	}
	return n;
}

/* ---- the state files ---- */

#define SLOT_MAGIC 0x4c574741u /* "AGWL" */
#define SLOT_VERSION 2u

/* One copy of a scope's counters; a file holds two. */
struct limit_slot {
	uint32_t magic;
	uint32_t version;
	uint64_t seq;
	struct limit_counters c;
	uint64_t sum; /* FNV-1a of everything before it */
};

static bool slot_valid(const struct limit_slot *s)
{
	return s->magic == SLOT_MAGIC && s->version == SLOT_VERSION &&
	       s->sum == str_fnv1a(s, offsetof(struct limit_slot, sum));
}

/* Rebuilds a damaged file's counters with every limited window full for
 * now: losing the counts must not hand out a fresh allowance. */
static void rebuild_full(struct limit_counters *c, const struct gw_limits *l, int64_t now_ms)
{
	struct limit_window_ref win[LIMIT_WINDOWS_MAX];
	size_t n = limit_windows(l, now_ms, win);

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++)
		*counter_of(c, &win[i]) = (struct limit_counter){ win[i].start, win[i].limit, 0 };
}

/* Reads the newer valid copy. Returns its seq (0 for a new file), or -1 when
 * the file holds data but no valid copy. */
static int64_t read_slots(int fd, struct limit_counters *c)
{
	struct limit_slot s[2];
	ssize_t n = pread(fd, s, sizeof(s), 0);
	int best = -1;

	memset(c, 0, sizeof(*c));
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(s))
		memset((char *)s + n, 0, sizeof(s) - (size_t)n);
	/* the newer copy first: the older one's checksum is computed only when
	 * the newer one is damaged */
	int newer = s[1].seq > s[0].seq ? 1 : 0;
	if (slot_valid(&s[newer]))
		best = newer;
	else if (slot_valid(&s[1 - newer]))
		best = 1 - newer;
	if (best < 0)
		return n == 0 ? 0 : -1; /* bytes, but no valid copy: damaged */
	*c = s[best].c;
	return (int64_t)s[best].seq;
}

/* Writes the copy that is not the newest, so the newest survives a crash. */
static int write_slot(int fd, const struct limit_counters *c, uint64_t seq)
{
	struct limit_slot s;

	memset(&s, 0, sizeof(s));
	s.magic = SLOT_MAGIC;
	s.version = SLOT_VERSION;
	s.seq = seq;
	s.c = *c;
	s.sum = str_fnv1a(&s, offsetof(struct limit_slot, sum));
	return pwrite(fd, &s, sizeof(s), (off_t)(seq % 2) * (off_t)sizeof(s)) == sizeof(s) ? 0
											     : -1;
}

void limit_store_init(struct limit_store *s, const char *dir)
{
	memset(s, 0, sizeof(*s));
	s->dir = gw_strdup(dir);
}

void limit_store_close(struct limit_store *s)
{
	for (size_t i = 0; i < s->n_open; i++)
		close(s->open[i].fd);
	free(s->dir);
	memset(s, 0, sizeof(*s));
}

static void forget(struct limit_store *s, size_t i)
{
	close(s->open[i].fd);
	memmove(&s->open[i], &s->open[i + 1], (s->n_open - i - 1) * sizeof(s->open[0]));
	s->n_open--;
}

/* The cached descriptor of a scope file, opened (again) when needed. */
static int store_fd(struct limit_store *s, const char *file)
{
	int fd;

	for (size_t i = 0; i < s->n_open; i++)
		if (strcmp(s->open[i].file, file) == 0)
			return s->open[i].fd;
	fd = statefile_open(s->dir, file);
	if (fd < 0)
		return -1;
	if (s->n_open == LIMIT_MAX_OPEN)
		forget(s, 0);
	snprintf(s->open[s->n_open].file, sizeof(s->open[0].file), "%s", file);
	s->open[s->n_open].checked = 0;
	s->open[s->n_open++].fd = fd;
	return fd;
}

/* True when fd still is the file at dir/file (not unlinked or replaced). */
static bool still_linked(const struct limit_store *s, int fd, const char *file)
{
	char path[4096];
	struct stat a, b;

	snprintf(path, sizeof(path), "%s/%s", s->dir, file);
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Whether fd's file should be checked against its path again: at most
 * once a second per file, as the policy files are. */
static bool stale_check_due(struct limit_store *s, int fd)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < s->n_open; i++) {
		if (s->open[i].fd != fd)
			continue;
		if (s->open[i].checked == now)
			return false;
		s->open[i].checked = now;
		return true;
	}
	return true;
}

/* Opens and locks a scope's file, making sure (at most once a second) that
 * the lock is on the file at the path, not one removed meanwhile. */
static int lock_scope(struct limit_store *s, const char *file)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int fd = store_fd(s, file);
		if (fd < 0)
			return -1;
		if (statefile_lock(fd, F_WRLCK) < 0)
			return -1;
		if (!stale_check_due(s, fd) || still_linked(s, fd, file))
			return fd;
		statefile_lock(fd, F_UNLCK);
		for (size_t i = 0; i < s->n_open; i++)
			if (s->open[i].fd == fd)
				forget(s, i);
	}
	errno = ESTALE;
	return -1;
}

static void unlock_all(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		statefile_lock(fds[i], F_UNLCK);
}

static void hold_for_test(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int limit_take(struct limit_store *s, const struct limit_scope *scopes, size_t n,
	       int64_t now_ms, long long estimate, struct limit_verdict *v,
	       struct limit_ticket *t, bool *damaged)
{
	int fds[2];
	struct limit_counters c[2];
	int64_t seq[2];
	bool ok = true, rebuilt[2] = { false, false };
	size_t locked = 0;
	int rc = GW_OK;

	memset(v, 0, sizeof(*v));
	memset(t, 0, sizeof(*t));
	*damaged = false;
	v->admitted = true;
	estimate = limit_clamp(estimate, 0, LIMIT_TOKENS_MAX);
	if (n == 0)
		return GW_OK;
	for (; locked < n && locked < 2; locked++) {
		fds[locked] = lock_scope(s, scopes[locked].file);
		if (fds[locked] < 0) {
			unlock_all(fds, locked);
			v->admitted = false;
			return GW_ELOCK;
		}
		seq[locked] = read_slots(fds[locked], &c[locked]);
		if (seq[locked] < 0) {
			rebuild_full(&c[locked], scopes[locked].limits, now_ms);
			seq[locked] = 0;
			rebuilt[locked] = *damaged = true;
		}
	}
	if (s->hold_ms)
		hold_for_test(s->hold_ms);
	for (size_t i = 0; i < locked; i++)
		ok = check(&c[i], scopes[i].limits, now_ms, v) && ok;
	for (size_t i = 0; ok && i < locked; i++)
		apply(&c[i], scopes[i].limits, now_ms, estimate, v);
	for (size_t i = 0; i < locked; i++)
		if ((ok || rebuilt[i]) && write_slot(fds[i], &c[i], (uint64_t)seq[i] + 1) < 0)
			rc = GW_EIO;
	unlock_all(fds, locked);
	v->admitted = ok && rc == GW_OK;
	if (v->admitted) {
		memcpy(t->scopes, scopes, locked * sizeof(*scopes));
		t->n = locked;
		t->at_ms = now_ms;
		t->estimate = estimate;
		t->pending = true;
	}
	return rc;
}

static bool settles(const struct gw_limits *l)
{
	for (int w = 0; w < GW_WIN__MAX; w++)
		if (l->token[w] > 0)
			return true;
	return l->budget_day > 0 || l->budget_month > 0;
}

int limit_settle(struct limit_store *s, struct limit_ticket *t, int64_t now_ms,
		 long long actual, int64_t cost_pico)
{
	int rc = GW_OK;

	t->spent_day = t->spent_month = -1;
	if (!t->pending)
		return GW_OK;
	t->pending = false;
	for (size_t i = 0; i < t->n; i++) {
		struct limit_counters c;
		int64_t seq;
		int fd;

		if (!settles(t->scopes[i].limits))
			continue;
		fd = lock_scope(s, t->scopes[i].file);
		if (fd < 0) {
			rc = GW_ELOCK;
			continue;
		}
		seq = read_slots(fd, &c);
		if (seq < 0) {
			rebuild_full(&c, t->scopes[i].limits, now_ms);
			seq = 0;
		}
		limit_settle_counters(&c, t->scopes[i].limits, t->at_ms, now_ms, t->estimate, actual,
				      cost_pico);
		if (i == 0 && strncmp(t->scopes[0].file, "c@", 2) == 0) {
			if (t->scopes[0].limits->budget_day > 0)
				t->spent_day = c.cost_day.used;
			if (t->scopes[0].limits->budget_month > 0)
				t->spent_month = c.cost_month.used;
		}
		if (write_slot(fd, &c, (uint64_t)seq + 1) < 0)
			rc = GW_EIO;
		statefile_lock(fd, F_UNLCK);
	}
	return rc;
}

/* True when file is a scope of consumer: "c@NAME" or "r@ROUTE@c@NAME". */
static bool scope_of(const char *file, const char *consumer)
{
	size_t fl = strlen(file), cl = strlen(consumer);

	if (strncmp(file, "c@", 2) == 0)
		return strcmp(file + 2, consumer) == 0;
	return strncmp(file, "r@", 2) == 0 && fl > cl + 3 &&
	       strcmp(file + fl - cl, consumer) == 0 && strncmp(file + fl - cl - 3, "@c@", 3) == 0;
}

int limit_reset_consumer(const char *dir, const char *consumer)
{
	static const struct limit_counters zero;
	DIR *d = opendir(dir);
	struct dirent *e;
	int cleared = 0;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		struct limit_counters c;
		int64_t seq;
		int fd;

		if (!scope_of(e->d_name, consumer))
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || statefile_lock(fd, F_WRLCK) < 0) {
			if (fd >= 0)
				close(fd);
			closedir(d);
			return -1;
		}
		seq = read_slots(fd, &c);
		if (write_slot(fd, &zero, (uint64_t)(seq < 0 ? 0 : seq) + 1) == 0)
			cleared++;
		statefile_lock(fd, F_UNLCK);
		close(fd);
	}
	closedir(d);
	return cleared;
}

int limit_read_file(const char *path, struct limit_counters *c)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int64_t seq;

	if (fd < 0)
		return -1;
	seq = read_slots(fd, c);
	close(fd);
	return seq < 0 ? -1 : 0;
}
