/* store_file.c: the file store: windows in locked state files (limit.c),
 * totals in mapped tables (stats.c), and claims, remembered values and
 * in-flight slots as small files in state_dir. */
#include "gw.h"
#include "limit.h"
#include "stats.h"
#include "store.h"
#include "store_impl.h"
#include "statefile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct file_store {
	struct limit_store limits;
	struct stats_store stats;
	char *dir;
	unsigned long calls;  /* claims and puts, for the occasional sweep */
	unsigned long minted; /* temporary file names made */
};

#define FS(s) ((struct file_store *)(s)->impl)
#define SWEEP_EVERY 256

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int io_fail(struct gw_store *s, int rc, const char *what)
{
	return store_fail(s, rc, "state_dir %s: %s: %s", FS(s)->dir, what, strerror(errno));
}

static int f_take(struct gw_store *s, const struct limit_scope *scopes, size_t n, int64_t now_ms,
		  long long estimate, struct limit_verdict *v, struct limit_ticket *t)
{
	bool damaged = false;
	int rc = limit_take(&FS(s)->limits, scopes, n, now_ms, estimate, v, t, &damaged);

	if (damaged)
		snprintf(s->note, sizeof(s->note),
			 "state file for %.40s in %.50s was damaged; rebuilt with its windows full",
			 scopes[0].file, FS(s)->dir);
	if (rc != GW_OK)
		return io_fail(s, rc, "cannot take the limits' lock");
	return GW_OK;
}

static int f_settle(struct gw_store *s, struct limit_ticket *t, int64_t now_ms, long long actual,
		    int64_t cost_pico)
{
	int rc = limit_settle(&FS(s)->limits, t, now_ms, actual, cost_pico);
	return rc == GW_OK ? GW_OK : io_fail(s, rc, "cannot settle tokens");
}

static int f_record(struct gw_store *s, int64_t now_ms, const struct stats_key *k,
		    const struct stats_values *v, int64_t upstream_us, int64_t overhead_us)
{
	bool rebuilt = false;
	int rc = stats_record(&FS(s)->stats, now_ms, k, v, upstream_us, overhead_us, &rebuilt);

	if (rebuilt)
		snprintf(s->note, sizeof(s->note),
			 "a usage totals file in %.70s was damaged; it was moved aside and started anew",
			 FS(s)->dir);
	return rc == 0 ? GW_OK : io_fail(s, GW_EIO, "cannot update the usage totals");
}

static int f_rows(struct gw_store *s, const char *name, struct stats_row **rows, size_t *n,
		  struct stats_header *h)
{
	char path[4096];
	struct stats_file f;
	struct stat sb;

	*rows = NULL;
	*n = 0;
	if (h)
		memset(h, 0, sizeof(*h));
	snprintf(path, sizeof(path), "%s/%s", FS(s)->dir, name);
	if (strchr(name, '/') || (stat(path, &sb) < 0 && errno == ENOENT))
		return GW_OK;
	if (stats_open_read(FS(s)->dir, name, &f) < 0)
		return store_fail(s, GW_EIO, "state_dir %s: %s is damaged or unreadable", FS(s)->dir,
				  name);
	*rows = stats_snapshot(&f, n, h);
	stats_file_close(&f);
	if (*n == 0) {
		free(*rows);
		*rows = NULL;
	}
	return GW_OK;
}

static int f_reset(struct gw_store *s, const char *consumer, long *cleared)
{
	int n = limit_reset_consumer(FS(s)->dir, consumer);

	*cleared = n < 0 ? 0 : n;
	return n < 0 ? io_fail(s, GW_EIO, "cannot reset") : GW_OK;
}

/* ---- small files under state_dir/SUB ---- */

/* dir/sub/name of key into path; makes dir and dir/sub (0700) when missing. */
static void sub_path(struct gw_store *s, const char *sub, const char *key, const char *suffix,
		     char *path, size_t size)
{
	char name[STORE_NAME_MAX];

	store_file_name(key, name);
	snprintf(path, size, "%s/%s", FS(s)->dir, sub);
	if (mkdir(FS(s)->dir, 0700) == 0 || errno == EEXIST)
		(void)(mkdir(path, 0700) == 0 || errno == EEXIST);
	snprintf(path, size, "%s/%s/%s%s", FS(s)->dir, sub, name, suffix);
}

/* Locks state_dir/SUB/.lock (type F_WRLCK or F_RDLCK); returns the fd or -1. */
static int lock_sub(struct gw_store *s, const char *sub, short type)
{
	char dir[4096];
	int fd;

	snprintf(dir, sizeof(dir), "%s/%s", FS(s)->dir, sub);
	fd = statefile_open(dir, ".lock");
	if (fd >= 0 && statefile_lock(fd, type) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* When a file of SUB expired: for claims its mtime is the expiry; for
 * values the first line is. */
static int64_t expiry_of(const char *path, bool claim)
{
	struct stat sb;
	char buf[32];
	ssize_t got;
	int fd;

	if (claim)
		return stat(path, &sb) < 0 ? -1
					   : (int64_t)sb.st_mtim.tv_sec * 1000 +
						     sb.st_mtim.tv_nsec / 1000000;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[got > 0 ? got : 0] = '\0';
	return strtoll(buf, NULL, 10);
}

/* Removes the expired files of SUB, under its lock (now and then). */
static void sweep(struct gw_store *s, const char *sub, bool claim)
{
	char dir[4096], path[4400];
	struct dirent *e;
	int64_t now = wall_ms();
	int lock;
	DIR *d;

	if (++FS(s)->calls % SWEEP_EVERY != 0)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", FS(s)->dir, sub);
	lock = lock_sub(s, sub, F_WRLCK);
	d = lock < 0 ? NULL : opendir(dir);
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (expiry_of(path, claim) < now)
			unlink(path);
	}
	if (d)
		closedir(d);
	if (lock >= 0)
		close(lock);
}

/* A temporary name in SUB, unique to this handle and process (dot names
 * are skipped by the sweep), for a file renamed or linked into place. */
static void temp_path(struct gw_store *s, const char *sub, char *out, size_t size)
{
	snprintf(out, size, "%s/%s/.tmp.%ld.%lu", FS(s)->dir, sub, (long)getpid(),
		 ++FS(s)->minted);
}

/* Creates path exclusively, already carrying its expiry as mtime: the file
 * is made under a temporary name, dated, then linked into place, so no
 * other caller ever sees a fresh claim with a past mtime and takes it for
 * an expired one. 0, or -1 with errno (EEXIST: someone has the claim). */
static int create_claim(struct gw_store *s, const char *path, int64_t expires_ms)
{
	char tmp[4500];
	struct timespec ts[2];
	int fd, rc, saved;

	temp_path(s, "claims", tmp, sizeof(tmp));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	ts[0].tv_sec = ts[1].tv_sec = (time_t)(expires_ms / 1000);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)(expires_ms % 1000) * 1000000L;
	rc = futimens(fd, ts);
	close(fd);
	if (rc == 0)
		rc = link(tmp, path);
	saved = errno;
	unlink(tmp);
	errno = saved;
	return rc;
}

/* Under the claims' lock: replaces path when it has expired. Only a lock
 * holder removes a claim, so the file seen expired here is still the one
 * removed; a caller without the lock can only fail to link over it. */
static int replace_expired_claim(struct gw_store *s, const char *path, int64_t now,
				 int64_t expires, bool *first)
{
	int lock = lock_sub(s, "claims", F_WRLCK);
	int64_t expiry;

	if (lock < 0)
		return io_fail(s, GW_ELOCK, "cannot lock the claims");
	expiry = expiry_of(path, true);
	if (expiry >= 0 && expiry < now) /* -1: gone, nothing to remove */
		unlink(path);
	*first = create_claim(s, path, expires) == 0;
	close(lock);
	return GW_OK;
}

static int f_claim(struct gw_store *s, const char *key, int64_t ttl_ms, bool *first)
{
	char path[4400];
	int64_t now = wall_ms(), expires = now + store_ttl(ttl_ms);
	int rc = GW_OK;

	*first = false;
	sub_path(s, "claims", key, "", path, sizeof(path));
	if (create_claim(s, path, expires) == 0)
		*first = true;
	else if (errno != EEXIST)
		return io_fail(s, GW_EIO, "cannot create a claim");
	else if (expiry_of(path, true) < now)
		rc = replace_expired_claim(s, path, now, expires, first);
	sweep(s, "claims", true);
	return rc;
}

static int f_put(struct gw_store *s, const char *key, const char *value, int64_t ttl_ms)
{
	char path[4400], tmp[4500];
	size_t len = strlen(value);
	int fd, lock, rc = GW_OK;
	FILE *f;

	if (len > STORE_VALUE_MAX)
		return store_fail(s, GW_ETOOBIG, "a value of %zu bytes is too long", len);
	sub_path(s, "kv", key, "", path, sizeof(path));
	temp_path(s, "kv", tmp, sizeof(tmp));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		if (fd >= 0)
			close(fd);
		return io_fail(s, GW_EIO, "cannot write a value");
	}
	fprintf(f, "%lld\n", (long long)(wall_ms() + store_ttl(ttl_ms)));
	fwrite(value, 1, len, f);
	if (fclose(f) != 0) {
		unlink(tmp);
		return io_fail(s, GW_EIO, "cannot write a value");
	}
	lock = lock_sub(s, "kv", F_RDLCK); /* a sweep does not remove it meanwhile */
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		rc = io_fail(s, GW_EIO, "cannot store a value");
	}
	if (lock >= 0)
		close(lock);
	sweep(s, "kv", false);
	return rc;
}

static int f_get(struct gw_store *s, const char *key, char *value, size_t size)
{
	char path[4400], buf[STORE_VALUE_MAX + 40];
	ssize_t got;
	char *nl;
	int fd;

	sub_path(s, "kv", key, "", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? store_fail(s, GW_ENOTFOUND, "no such value")
				       : io_fail(s, GW_EIO, "cannot read a value");
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[got > 0 ? got : 0] = '\0';
	nl = strchr(buf, '\n');
	if (!nl || strtoll(buf, NULL, 10) < wall_ms())
		return store_fail(s, GW_ENOTFOUND, "no such value");
	if (strlen(nl + 1) >= size)
		return store_fail(s, GW_ETOOBIG, "the value does not fit");
	memcpy(value, nl + 1, strlen(nl + 1) + 1);
	return GW_OK;
}

/* ---- in-flight slots: a file per slot, held by a write lock ---- */

/* Locks fd without waiting; 0, or -1 (errno EAGAIN when held). */
static int try_lock(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	return fcntl(fd, F_OFD_SETLK, &fl);
}

static int f_slot_take(struct gw_store *s, const char *scope, long long limit,
		       struct store_slot *slot, bool *admitted)
{
	long long n = limit_clamp(limit, 0, STORE_SLOTS_MAX);
	long long from = n > 0 ? (long long)((unsigned long)getpid() + FS(s)->minted++) % n : 0;

	memset(slot, 0, sizeof(*slot));
	slot->fd = -1;
	snprintf(slot->scope, sizeof(slot->scope), "%s", scope);
	*admitted = false;
	for (long long k = 0; k < n; k++) {
		char path[4400], suffix[24];
		int fd;

		snprintf(suffix, sizeof(suffix), ".%lld", (from + k) % n);
		sub_path(s, "slots", scope, suffix, path, sizeof(path));
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return io_fail(s, GW_EIO, "cannot open a slot");
		if (try_lock(fd) == 0) {
			slot->fd = fd;
			slot->held = *admitted = true;
			return GW_OK;
		}
		close(fd);
		if (errno != EAGAIN && errno != EACCES)
			return io_fail(s, GW_ELOCK, "cannot lock a slot");
	}
	return GW_OK;
}

static void f_slot_release(struct gw_store *s, struct store_slot *slot)
{
	(void)s;
	if (slot->held && slot->fd >= 0)
		close(slot->fd); /* closing the description drops its lock */
	slot->held = false;
	slot->fd = -1;
}

static int f_slot_count(struct gw_store *s, const char *scope, long long *held)
{
	char dir[4400], name[STORE_NAME_MAX], path[4800];
	struct dirent *e;
	size_t len;
	DIR *d;

	*held = 0;
	store_file_name(scope, name);
	len = strlen(name);
	snprintf(dir, sizeof(dir), "%s/slots", FS(s)->dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? GW_OK : io_fail(s, GW_EIO, "cannot read the slots");
	while ((e = readdir(d)) != NULL) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd;

		if (strncmp(e->d_name, name, len) != 0 || e->d_name[len] != '.' ||
		    strspn(e->d_name + len + 1, "0123456789") != strlen(e->d_name + len + 1))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
			(*held)++;
		close(fd);
	}
	closedir(d);
	return GW_OK;
}

static void f_close(struct gw_store *s)
{
	limit_store_close(&FS(s)->limits);
	stats_store_close(&FS(s)->stats);
	free(FS(s)->dir);
	free(s->impl);
	free(s);
}

static const struct gw_store_ops file_ops = {
	.name = "file",
	.take = f_take,
	.settle = f_settle,
	.record = f_record,
	.rows = f_rows,
	.reset = f_reset,
	.claim = f_claim,
	.put = f_put,
	.get = f_get,
	.slot_take = f_slot_take,
	.slot_release = f_slot_release,
	.slot_count = f_slot_count,
	.close = f_close,
};

struct gw_store *store_file_open(const char *dir, unsigned hold_ms)
{
	struct gw_store *s = gw_calloc(1, sizeof(*s));
	struct file_store *fs = gw_calloc(1, sizeof(*fs));

	limit_store_init(&fs->limits, dir);
	fs->limits.hold_ms = hold_ms;
	stats_store_init(&fs->stats, dir);
	fs->dir = gw_strdup(dir);
	s->ops = &file_ops;
	s->impl = fs;
	return s;
}
