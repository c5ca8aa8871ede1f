/* stats.c: shared usage totals in memory-mapped, file-locked tables. */
#include "stats.h"
#include "gw.h"
#include "limit.h"
#include "statefile.h"
#include "str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATS_MAGIC 0x53574741u /* "AGWS" */
#define STATS_VERSION 2u /* 2: cache and reasoning tokens */
#define STATS_SIZE (sizeof(struct stats_header) + STATS_CAPACITY * sizeof(struct stats_row))

const double stats_bucket_le[STATS_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						0.1,    0.25,  0.5,    1,     2.5,  5,     10 };

void stats_store_init(struct stats_store *s, const char *dir)
{
	memset(s, 0, sizeof(*s));
	s->dir = gw_strdup(dir);
	s->total.fd = s->day.fd = -1;
}

void stats_file_close(struct stats_file *f)
{
	if (f->map && f->map != MAP_FAILED)
		munmap(f->map, f->size);
	if (f->fd >= 0)
		close(f->fd);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

void stats_store_close(struct stats_store *s)
{
	if (!s->dir)
		return; /* never initialised: its fds are not ours */
	stats_file_close(&s->total);
	stats_file_close(&s->day);
	free(s->dir);
	memset(s, 0, sizeof(*s));
}

void stats_day_name(int64_t now_ms, char out[32])
{
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "day-%Y%m%d", &tm);
}

static bool header_ok(const struct stats_header *h)
{
	return h->magic == STATS_MAGIC && h->version == STATS_VERSION &&
	       h->capacity == STATS_CAPACITY && h->n_rows <= STATS_CAPACITY;
}

/* True when the file at path is fd's file. */
static bool same_file(const char *path, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Opens and locks dir/name, making sure the lock is on the file at the path
 * (another process may have just moved it aside). */
static int open_locked(const char *dir, const char *name, const char *path)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int fd = statefile_open(dir, name);
		if (fd < 0)
			return -1;
		if (statefile_lock(fd, F_WRLCK) < 0) {
			close(fd);
			return -1;
		}
		if (same_file(path, fd))
			return fd;
		close(fd);
	}
	errno = ESTALE;
	return -1;
}

/* Whether a file of sb's size, open as fd, must be moved aside: a wrong
 * size, or a header not of this format (another version: an older binary's
 * table). An all-zero header is a file whose writer died before writing it:
 * it is started in place. Zeroing a table in place would not be safe: a
 * process of another version may still have it mapped and add to it. */
static bool must_set_aside(int fd, const struct stat *sb)
{
	struct stats_header h;

	if (sb->st_size == 0)
		return false;
	if ((size_t)sb->st_size != STATS_SIZE)
		return true;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return true;
	if (h.magic == 0 && h.version == 0 && h.capacity == 0 && h.n_rows == 0)
		return false;
	return !header_ok(&h);
}

/* Version 1, before cache and reasoning tokens: the same header, and rows
 * with the first five values. Such a table is rewritten in this format,
 * every count kept, the first time it is opened: past days stay readable. */
struct stats_row_v1 {
	struct stats_key key;
	uint32_t used;
	uint32_t pad;
	int64_t v[5]; /* requests, prompt, completion, cost_pico, unpriced */
};
#define STATS_SIZE_V1 (sizeof(struct stats_header) + STATS_CAPACITY * sizeof(struct stats_row_v1))

/* Writes the rows of the version 1 table v1 (mapped) as a current table
 * at tmp, sparse as the gateway writes them, with sb's owner and mode. */
static int write_upgraded(const char *tmp, const unsigned char *v1, const struct stat *sb)
{
	const struct stats_row_v1 *old = (const void *)(v1 + sizeof(struct stats_header));
	struct stats_header h;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = -1;

	if (fd < 0)
		return -1;
	memcpy(&h, v1, sizeof(h));
	h.version = STATS_VERSION;
	if (fchown(fd, sb->st_uid, sb->st_gid) < 0 && errno != EPERM)
		goto out;
	if (fchmod(fd, sb->st_mode & 07777) < 0 || ftruncate(fd, (off_t)STATS_SIZE) < 0 ||
	    pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		goto out;
	for (size_t i = 0; i < STATS_CAPACITY; i++) {
		struct stats_row r;
		off_t at = (off_t)(sizeof(h) + i * sizeof(r));
		if (!old[i].used)
			continue;
		memset(&r, 0, sizeof(r));
		r.key = old[i].key;
		r.used = old[i].used;
		r.v.requests = old[i].v[0];
		r.v.prompt_tokens = old[i].v[1];
		r.v.completion_tokens = old[i].v[2];
		r.v.cost_pico = old[i].v[3];
		r.v.unpriced = old[i].v[4];
		if (pwrite(fd, &r, sizeof(r), at) != (ssize_t)sizeof(r))
			goto out;
	}
	rc = fsync(fd);
out:
	close(fd);
	return rc;
}

/* fd, locked for writing, holds path. A version 1 table there is replaced
 * by its upgrade: returns 1 (the caller opens path again), 0 when it is no
 * version 1 table, -1 when the upgrade failed (nothing was changed). */
static int upgrade_v1(const char *path, int fd, const struct stat *sb)
{
	struct stats_header h;
	char tmp[4200];
	void *map;
	int rc;

	if ((size_t)sb->st_size != STATS_SIZE_V1 ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != STATS_MAGIC ||
	    h.version != 1 || h.capacity != STATS_CAPACITY)
		return 0;
	map = mmap(NULL, STATS_SIZE_V1, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.upgrade.%ld", path, (long)getpid());
	rc = write_upgraded(tmp, map, sb);
	munmap(map, STATS_SIZE_V1);
	if (rc == 0 && rename(tmp, path) == 0)
		return 1;
	unlink(tmp);
	return -1;
}

/* Maps dir/name read-write, creating (or, when damaged or of another
 * format, moving aside and replacing) it. */
static int open_write(const char *dir, const char *name, struct stats_file *f, bool *rebuilt)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f->fd = open_locked(dir, name, path);
	if (f->fd < 0 || fstat(f->fd, &sb) < 0)
		goto err;
	if (upgrade_v1(path, f->fd, &sb) == 1) {
		close(f->fd); /* the old table, and its lock */
		f->fd = open_locked(dir, name, path);
		if (f->fd < 0 || fstat(f->fd, &sb) < 0)
			goto err;
	}
	if (must_set_aside(f->fd, &sb)) {
		char aside[4200];
		snprintf(aside, sizeof(aside), "%s.damaged", path);
		rename(path, aside);
		*rebuilt = true;
		close(f->fd); /* drops its lock */
		f->fd = open_locked(dir, name, path);
		if (f->fd < 0 || fstat(f->fd, &sb) < 0)
			goto err;
		if (must_set_aside(f->fd, &sb)) {
			errno = EAGAIN; /* replaced again at once: leave it be */
			goto err;
		}
	}
	if (sb.st_size == 0 && ftruncate(f->fd, (off_t)STATS_SIZE) < 0)
		goto err;
	f->size = STATS_SIZE;
	f->map = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (f->map == MAP_FAILED)
		goto err;
	f->h = f->map;
	f->rows = (struct stats_row *)(f->h + 1);
	if (!header_ok(f->h)) {
		/* new, or all zeros (checked above under the lock): writing the
		 * zeros again would make every page private memory */
		f->h->magic = STATS_MAGIC;
		f->h->version = STATS_VERSION;
		f->h->capacity = STATS_CAPACITY;
	}
	statefile_lock(f->fd, F_UNLCK);
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->checked = time(NULL);
	return 0;
err:;
	int saved = errno;
	stats_file_close(f);
	errno = saved;
	return -1;
}

/* Whether an open table can still be used: not shorter than its mapping
 * (touching a page past the end would raise SIGBUS), not deleted, and (at
 * most once a second) still the file at its path. A short file is moved
 * aside, as a damaged one is at open. Returns 0 when usable, else closes f
 * and returns 1 (deleted or replaced) or 2 (short: moved aside). */
static int still_usable(const char *dir, struct stats_file *f)
{
	int why = 1;
	char path[4096];
	struct stat sb;
	time_t now;

	if (fstat(f->fd, &sb) < 0)
		goto drop;
	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	if ((size_t)sb.st_size < f->size) {
		if (statefile_lock(f->fd, F_WRLCK) == 0 && fstat(f->fd, &sb) == 0 &&
		    (size_t)sb.st_size < f->size && same_file(path, f->fd)) {
			char aside[4200];
			snprintf(aside, sizeof(aside), "%s.damaged", path);
			rename(path, aside);
		}
		why = 2;
		goto drop; /* closing drops the lock */
	}
	if (sb.st_nlink == 0)
		goto drop;
	now = time(NULL);
	if (f->checked == now)
		return 0;
	f->checked = now;
	if (same_file(path, f->fd))
		return 0;
drop:
	stats_file_close(f);
	return why;
}

static uint64_t key_hash(const struct stats_key *k)
{
	return str_fnv1a(k, sizeof(*k));
}

/* The row for k, inserted when new; NULL when the table is full. A new row
 * leaves reserve rows free (room for the overflow row). */
static struct stats_row *find_row(struct stats_file *f, const struct stats_key *k,
				  uint32_t reserve)
{
	uint64_t h = key_hash(k);

	for (uint32_t probe = 0; probe < STATS_CAPACITY; probe++) {
		struct stats_row *r = &f->rows[(h + probe) % STATS_CAPACITY];
		if (!__atomic_load_n(&r->used, __ATOMIC_ACQUIRE)) {
			if (f->h->n_rows + 1 + reserve >= STATS_CAPACITY)
				return NULL;
			r->key = *k;
			/* the key is in place before the row is seen as used */
			__atomic_store_n(&r->used, 1, __ATOMIC_RELEASE);
			f->h->n_rows++;
			return r;
		}
		if (memcmp(&r->key, k, sizeof(*k)) == 0)
			return r;
	}
	return NULL;
}

/* The row for k when it exists, found without the lock: rows are only
 * ever added, and a row's key is written before it is marked used. */
static struct stats_row *existing_row(struct stats_file *f, const struct stats_key *k)
{
	uint64_t h = key_hash(k);

	for (uint32_t probe = 0; probe < STATS_CAPACITY; probe++) {
		struct stats_row *r = &f->rows[(h + probe) % STATS_CAPACITY];
		if (!__atomic_load_n(&r->used, __ATOMIC_ACQUIRE))
			return NULL;
		if (memcmp(&r->key, k, sizeof(*k)) == 0)
			return r;
	}
	return NULL;
}

/* Adds v (>= 0) to a shared counter, saturating at LIMIT_SUM_MAX. */
static void sat_add(int64_t *field, int64_t v)
{
	int64_t old = __atomic_load_n(field, __ATOMIC_RELAXED);

	while (!__atomic_compare_exchange_n(field, &old, limit_sat_add(old, v), true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

#define ADD(field, v) sat_add(&(field), (v))

/* Counters are added atomically in the shared mapping, so existing rows
 * need no lock; only adding a row takes the file lock. */
static void add_values(struct stats_values *to, const struct stats_values *v)
{
	ADD(to->requests, v->requests);
	ADD(to->prompt_tokens, v->prompt_tokens);
	ADD(to->completion_tokens, v->completion_tokens);
	ADD(to->cost_pico, v->cost_pico);
	ADD(to->unpriced, v->unpriced);
	ADD(to->cached_tokens, v->cached_tokens);
	ADD(to->cache_write_tokens, v->cache_write_tokens);
	ADD(to->reasoning_tokens, v->reasoning_tokens);
}

int stats_bucket(int64_t us)
{
	int b = 0;
	while (b < STATS_BUCKETS && (double)us / 1e6 > stats_bucket_le[b])
		b++;
	return b;
}

static void observe(struct stats_histogram *hist, int64_t us)
{
	ADD(hist->bucket[stats_bucket(us)], 1);
	ADD(hist->count, 1);
	ADD(hist->sum_us, us);
}

/* A table that is full keeps counting in one overflow row, for which the
 * other keys leave the last free row. */
static void add_row(struct stats_file *f, const struct stats_key *k, const struct stats_values *v)
{
	struct stats_row *r = find_row(f, k, 1);
	if (!r) {
		struct stats_key other;
		memset(&other, 0, sizeof(other));
		strcpy(other.consumer, "other");
		strcpy(other.route, "other");
		strcpy(other.model, "other");
		r = find_row(f, &other, 0);
	}
	if (r)
		add_values(&r->v, v);
}

static int record_row(struct stats_file *f, const struct stats_key *k, const struct stats_values *v)
{
	struct stats_row *r = existing_row(f, k);

	if (r) {
		add_values(&r->v, v);
		return 0;
	}
	if (statefile_lock(f->fd, F_WRLCK) < 0)
		return -1;
	add_row(f, k, v);
	statefile_lock(f->fd, F_UNLCK);
	return 0;
}

/* v with every field bounded, as from an untrusted client or upstream. */
static struct stats_values bounded(const struct stats_values *v)
{
	return (struct stats_values){
		.requests = limit_clamp(v->requests, 0, LIMIT_TOKENS_MAX),
		.prompt_tokens = limit_clamp(v->prompt_tokens, 0, LIMIT_TOKENS_MAX),
		.completion_tokens = limit_clamp(v->completion_tokens, 0, LIMIT_TOKENS_MAX),
		.cost_pico = limit_clamp(v->cost_pico, 0, LIMIT_PICO_MAX),
		.unpriced = limit_clamp(v->unpriced, 0, LIMIT_TOKENS_MAX),
		.cached_tokens = limit_clamp(v->cached_tokens, 0, LIMIT_TOKENS_MAX),
		.cache_write_tokens = limit_clamp(v->cache_write_tokens, 0, LIMIT_TOKENS_MAX),
		.reasoning_tokens = limit_clamp(v->reasoning_tokens, 0, LIMIT_TOKENS_MAX),
	};
}

int stats_record(struct stats_store *s, int64_t now_ms, const struct stats_key *k,
		 const struct stats_values *v_, int64_t upstream_us, int64_t overhead_us,
		 bool *rebuilt)
{
	struct stats_values v = bounded(v_);
	int64_t day_start, day_end;

	*rebuilt = false;
	limit_window(GW_WIN_DAY, now_ms, &day_start, &day_end);
	if (s->day.fd >= 0 && s->day_start != day_start)
		stats_file_close(&s->day);
	if (s->total.fd >= 0 && still_usable(s->dir, &s->total) == 2)
		*rebuilt = true;
	if (s->day.fd >= 0 && still_usable(s->dir, &s->day) == 2)
		*rebuilt = true;
	if (s->total.fd < 0 && open_write(s->dir, "total", &s->total, rebuilt) < 0)
		return -1;
	if (s->day.fd < 0) {
		char name[32];
		stats_day_name(now_ms, name);
		if (open_write(s->dir, name, &s->day, rebuilt) < 0)
			return -1;
		s->day_start = day_start;
	}
	if (record_row(&s->total, k, &v) < 0 || record_row(&s->day, k, &v) < 0)
		return -1;
	if (upstream_us >= 0)
		observe(&s->total.h->upstream, limit_clamp(upstream_us, 0, LIMIT_TOKENS_MAX));
	observe(&s->total.h->overhead, limit_clamp(overhead_us, 0, LIMIT_TOKENS_MAX));
	return 0;
}

int stats_open_read(const char *dir, const char *name, struct stats_file *f)
{
	char path[4096];
	struct stat sb;

	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f->fd < 0)
		return -1;
	if (fstat(f->fd, &sb) < 0)
		goto err;
	if ((size_t)sb.st_size == STATS_SIZE_V1) { /* an older table: upgrade it first */
		close(f->fd);
		f->fd = open_locked(dir, name, path);
		if (f->fd < 0 || fstat(f->fd, &sb) < 0 || upgrade_v1(path, f->fd, &sb) != 1)
			goto err;
		close(f->fd);
		f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (f->fd < 0 || fstat(f->fd, &sb) < 0)
			goto err;
	}
	if ((size_t)sb.st_size != STATS_SIZE)
		goto err;
	f->size = STATS_SIZE;
	f->map = mmap(NULL, f->size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (f->map == MAP_FAILED)
		goto err;
	f->h = f->map;
	f->rows = (struct stats_row *)(f->h + 1);
	if (!header_ok(f->h))
		goto err;
	snprintf(f->name, sizeof(f->name), "%s", name);
	return 0;
err:
	stats_file_close(f);
	return -1;
}

struct stats_row *stats_snapshot(struct stats_file *f, size_t *n, struct stats_header *h)
{
	struct stats_row *out = gw_calloc(STATS_CAPACITY, sizeof(*out));
	size_t k = 0;

	struct stat sb;

	statefile_lock(f->fd, F_RDLCK);
	if (fstat(f->fd, &sb) < 0 || (size_t)sb.st_size < f->size) {
		statefile_lock(f->fd, F_UNLCK); /* truncated under us: reading would fault */
		if (h)
			memset(h, 0, sizeof(*h));
		*n = 0;
		return out;
	}
	if (h)
		*h = *f->h;
	for (size_t i = 0; i < STATS_CAPACITY; i++)
		if (f->rows[i].used)
			out[k++] = f->rows[i];
	statefile_lock(f->fd, F_UNLCK);
	*n = k;
	return out;
}

void stats_format_usd(int64_t pico, char out[40])
{
	int64_t whole = pico / 1000000000000LL, frac = pico % 1000000000000LL;
	int len;

	len = snprintf(out, 40, "%s%lld.%012lld", pico < 0 ? "-" : "",
		       (long long)(whole < 0 ? -whole : whole), (long long)(frac < 0 ? -frac : frac));
	const char *dot = strchr(out, '.');
	while (len > 0 && out[len - 1] == '0' && (out + len - 1) - dot > 6)
		out[--len] = '\0';
}
