/* keys.c: aigwctl key add|rotate|revoke|list: consumer key files in keys_dir. */
#include "keys.h"
#include "buf.h"
#include "gw.h"
#include "digest.h"
#include "stats.h"
#include "store.h"
#include "statefile.h"
#include "str.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_PREFIX "sk-aigw-"
#define KEY_BYTES 32          /* 256 bits from the kernel, 64 hex digits */
#define KEY_FILE_MAX 65536    /* a key file is a few lines; more is not ours */
#define DAY_MS 86400000LL
#define EXPIRY_WARN_DAYS 7
#define LAST_USED_DAYS 62     /* how far back key list looks for a last use */
#define GRACE_MAX_S (366LL * 86400)

/* Keys the tool writes itself: refused as options. */
static const char *const managed_keys[] = {
	"credential", "credential_sha256", "created", "previous_credential_sha256",
	"previous_valid_until",
};

struct keys_cmd {
	const char *config;
	struct gw_policy *p;
	const char *dir;  /* p->keys_dir */
	int lock_fd;
	int audit_fd;
};

/* ---- small helpers ---- */

static int64_t now_ms_utc(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void iso_time(int64_t ms, const char *fmt, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, fmt, &tm);
}

/* A consumer name that is safe as a file name: [A-Za-z0-9._-], not
 * starting with '.', short enough for the stats tables. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= STATS_NAME || s[0] == '.')
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* "YYYY-MM-DD" (a day that exists) to ms of its 00:00 UTC; -1 otherwise. */
static int64_t parse_day(const char *s)
{
	struct tm tm;
	char back[32];
	char *end;
	int64_t ms;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 10 || !(end = strptime(s, "%Y-%m-%d", &tm)) || *end)
		return -1;
	ms = (int64_t)timegm(&tm) * 1000;
	iso_time(ms, "%Y-%m-%d", back);
	return ms >= 0 && strcmp(back, s) == 0 ? ms : -1;
}

/* "30s", "30m", "24h", "7d" to seconds; -1 when malformed or over a year. */
static long long parse_duration(const char *s)
{
	char *end;
	long long v, unit;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0 || *s == '-' || *s == '+' || strlen(end) != 1)
		return -1;
	switch (*end) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return -1;
	}
	return v > GRACE_MAX_S / unit ? -1 : v * unit;
}

/* A new key, "sk-aigw-" and 64 hex digits from getrandom(2). */
static int new_key(char out[sizeof(KEY_PREFIX) + 2 * KEY_BYTES])
{
	unsigned char raw[KEY_BYTES];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			got += (size_t)n;
	}
	memcpy(out, KEY_PREFIX, sizeof(KEY_PREFIX) - 1);
	str_hex_encode(raw, sizeof(raw), out + sizeof(KEY_PREFIX) - 1);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

/* The SHA-256 of a key in hex: the one place the tool hashes. */
static void key_hash_hex(const char *key, char out[2 * SHA256_LEN + 1])
{
	unsigned char d[SHA256_LEN];

	gw_sha256(key, strlen(key), d);
	str_hex_encode(d, SHA256_LEN, out);
}

static char *key_path(const struct keys_cmd *k, const char *name)
{
	return gw_asprintf("%s/%s.ini", k->dir, name);
}

/* ---- policy, lock and audit log ---- */

static struct gw_policy *load_policy(const char *path)
{
	struct gw_diag diag = { 0 };
	struct gw_policy *p = policy_load(path, &diag);

	for (size_t i = 0; i < diag.n; i++)
		if (!diag.warning[i])
			fprintf(stderr, "%s\n", diag.msgs[i]);
	diag_free(&diag);
	if (p->valid)
		return p;
	fprintf(stderr, "aigwctl: invalid policy %s\n", path);
	policy_free(p);
	return NULL;
}

/* Loads the policy; for a change (write) also makes keys_dir when missing,
 * takes its lock (one change at a time) and opens the audit log, so that a
 * keys_dir that cannot be written fails before anything changes. */
static int keys_open(struct keys_cmd *k, const char *config, bool write)
{
	memset(k, 0, sizeof(*k));
	k->config = config;
	k->lock_fd = k->audit_fd = -1;
	if (!(k->p = load_policy(config)))
		return -1;
	k->dir = k->p->keys_dir;
	if (!k->dir) {
		fprintf(stderr, "aigwctl: %s sets no keys_dir in [gateway]\n", config);
		return -1;
	}
	if (!write)
		return 0;
	if (mkdir(k->dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "aigwctl: keys_dir %s: %s\n", k->dir, strerror(errno));
		return -1;
	}
	k->lock_fd = statefile_open(k->dir, ".lock");
	if (k->lock_fd < 0 || statefile_lock(k->lock_fd, F_WRLCK) < 0) {
		fprintf(stderr, "aigwctl: keys_dir %s is not writable: %s\n", k->dir,
			strerror(errno));
		return -1;
	}
	char *audit = gw_asprintf("%s/audit.jsonl", k->dir);
	k->audit_fd = open(audit, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (k->audit_fd < 0)
		fprintf(stderr, "aigwctl: %s: %s\n", audit, strerror(errno));
	free(audit);
	return k->audit_fd < 0 ? -1 : 0;
}

static void keys_close(struct keys_cmd *k)
{
	if (k->audit_fd >= 0)
		close(k->audit_fd);
	if (k->lock_fd >= 0)
		close(k->lock_fd); /* releases the lock */
	policy_free(k->p);
	k->p = NULL;
}

/* Who runs the tool: the login name of the real uid, and the person behind
 * sudo when there is one. */
static void who(json_object *o)
{
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");
	char uid[32];

	snprintf(uid, sizeof(uid), "uid %u", (unsigned)getuid());
	json_object_object_add(o, "who", json_object_new_string(sudo && *sudo ? sudo
							: pw ? pw->pw_name : uid));
	json_object_object_add(o, "user", json_object_new_string(pw ? pw->pw_name : uid));
	if (sudo && *sudo)
		json_object_object_add(o, "sudo_user", json_object_new_string(sudo));
}

/* Appends one line {ts, who, user, action, consumer, details} to the audit
 * log; takes details. Never holds a key or a hash. */
static void audit(struct keys_cmd *k, const char *action, const char *name, json_object *details)
{
	json_object *o = json_object_new_object();
	char ts[32];
	const char *line;

	iso_time(now_ms_utc(), "%Y-%m-%dT%H:%M:%SZ", ts);
	json_object_object_add(o, "ts", json_object_new_string(ts));
	who(o);
	json_object_object_add(o, "action", json_object_new_string(action));
	json_object_object_add(o, "consumer", json_object_new_string(name));
	json_object_object_add(o, "details", details ? details : json_object_new_object());
	line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	char *text = gw_asprintf("%s\n", line);
	if (write(k->audit_fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fsync(k->audit_fd) < 0)
		fprintf(stderr, "aigwctl: warning: the audit log of %s: %s\n", k->dir,
			strerror(errno));
	free(text);
	json_object_put(o);
}

/* ---- writing a key file ---- */

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Writes text to DIR/NAME.ini through a temporary file (written, fsynced,
 * mode 0640): renamed over the old file when replace, else linked in place,
 * which fails with EEXIST when the name is taken, so of two writers exactly
 * one creates it. Returns 0, or -1 with errno. */
static int install_file(const struct keys_cmd *k, const char *name, const char *text,
			bool replace)
{
	char *tmp = gw_asprintf("%s/.%s.ini.XXXXXX", k->dir, name), *path = key_path(k, name);
	size_t len = strlen(text);
	int fd = mkstemp(tmp), rc = -1, saved;

	if (fd < 0)
		goto out;
	if (fchmod(fd, 0640) < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		goto out;
	}
	close(fd);
	rc = replace ? rename(tmp, path) : link(tmp, path);
	saved = errno;
	if (rc < 0 || !replace)
		unlink(tmp);
	if (rc == 0)
		fsync_dir(k->dir);
	errno = saved;
out:
	free(tmp);
	free(path);
	return rc;
}

/* Checks a consumer section as the gateway would parse it, by loading it
 * alone from a temporary file; prints its errors as options. */
static int section_ok(const struct keys_cmd *k, const char *text)
{
	char *tmp = gw_asprintf("%s/.check.XXXXXX", k->dir);
	struct gw_diag diag = { 0 };
	struct gw_policy *p;
	/* a policy needs an upstream and a route to be valid */
	char *full = gw_asprintf("%s[upstream aigwctl-check]\nurl = http://127.0.0.1:9\n"
				 "[route aigwctl-check]\npath = /\n", text);
	int fd = mkstemp(tmp), rc = -1;
	size_t len = strlen(full);

	if (fd < 0 || write(fd, full, len) != (ssize_t)len) {
		fprintf(stderr, "aigwctl: keys_dir %s: %s\n", k->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		free(tmp);
		free(full);
		return -1;
	}
	close(fd);
	free(full);
	p = policy_load(tmp, &diag);
	unlink(tmp);
	for (size_t i = 0; i < diag.n; i++) {
		const char *m = diag.msgs[i];
		size_t skip = strlen(tmp);
		if (diag.warning[i])
			continue;
		if (strncmp(m, tmp, skip) == 0 && m[skip] == ':') { /* drop FILE:LINE: */
			m += skip + 1;
			m += strspn(m, "0123456789");
			m += strspn(m, ": ");
		}
		fprintf(stderr, "aigwctl: %s\n", m);
	}
	if (p->valid)
		rc = 0;
	policy_free(p);
	diag_free(&diag);
	free(tmp);
	return rc;
}

/* ---- key add ---- */

/* Appends "key = value" for an option --some-key VALUE; details gets it too
 * (owner, expires, limits: none of them secret). Returns -1 after a message. */
static int add_option(const char *opt, const char *value, int64_t today, struct gw_buf *out,
		      json_object *details)
{
	char key[64];
	size_t n = strlen(opt + 2);

	if (strncmp(opt, "--", 2) != 0 || n == 0 || n >= sizeof(key)) {
		fprintf(stderr, "aigwctl key add: unknown option %s\n", opt);
		return -1;
	}
	for (size_t i = 0; i <= n; i++)
		key[i] = opt[2 + i] == '-' ? '_' : opt[2 + i];
	if (strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != n) {
		fprintf(stderr, "aigwctl key add: unknown option %s\n", opt);
		return -1;
	}
	for (size_t i = 0; i < GW_ARRAY_LEN(managed_keys); i++)
		if (strcmp(key, managed_keys[i]) == 0) {
			fprintf(stderr, "aigwctl key add: %s is set by aigwctl itself\n", opt);
			return -1;
		}
	for (const char *c = value; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == ';') {
			fprintf(stderr, "aigwctl key add: %s: no control characters or ';'\n", opt);
			return -1;
		}
	if (strcmp(key, "expires") == 0) {
		int64_t day = parse_day(value);
		if (day < 0) {
			fprintf(stderr, "aigwctl key add: --expires takes YYYY-MM-DD, got \"%s\"\n", value);
			return -1;
		}
		if (day <= today) {
			fprintf(stderr, "aigwctl key add: --expires %s is in the past (a key is refused "
					"from its expiry day on, UTC)\n", value);
			return -1;
		}
	}
	buf_printf(out, "%s = %s\n", key, value);
	json_object_object_add(details, key, json_object_new_string(value));
	return 0;
}

static int key_add(struct keys_cmd *k, const char *name, int argc, char **argv)
{
	char key[sizeof(KEY_PREFIX) + 2 * KEY_BYTES], hash[2 * SHA256_LEN + 1], now[32];
	json_object *details = json_object_new_object();
	struct gw_buf text = { 0 };
	int64_t now_ms = now_ms_utc();
	int rc = 1;

	if (policy_consumer(k->p, name)) {
		fprintf(stderr, "aigwctl: consumer %s exists already\n", name);
		goto out;
	}
	iso_time(now_ms, "%Y-%m-%dT%H:%M:%SZ", now);
	buf_printf(&text, "; consumer key file written by aigwctl key add; change it with aigwctl key\n"
			  "[consumer %s]\n", name);
	for (int i = 0; i < argc; i += 2) {
		const char *eq = strchr(argv[i], '=');
		char *opt = eq ? gw_strndup(argv[i], (size_t)(eq - argv[i])) : gw_strdup(argv[i]);
		const char *value = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
		int bad = value ? add_option(opt, value, now_ms - now_ms % DAY_MS, &text, details)
				: -1;
		if (!value)
			fprintf(stderr, "aigwctl key add: %s needs a value\n", opt);
		free(opt);
		if (bad < 0)
			goto out;
		if (eq)
			i--;
	}
	if (new_key(key) < 0) {
		fprintf(stderr, "aigwctl: getrandom: %s\n", strerror(errno));
		goto out;
	}
	key_hash_hex(key, hash);
	buf_printf(&text, "created = %s\ncredential_sha256 = %s\n", now, hash);
	if (section_ok(k, buf_str(&text)) < 0)
		goto out;
	if (install_file(k, name, buf_str(&text), false) < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "aigwctl: consumer %s exists already (%s/%s.ini)\n", name,
				k->dir, name);
		else
			fprintf(stderr, "aigwctl: writing %s/%s.ini: %s\n", k->dir, name,
				strerror(errno));
		goto out;
	}
	audit(k, "add", name, details);
	details = NULL;
	printf("consumer %s added in %s/%s.ini; the key is shown once, here:\n%s\n", name, k->dir,
	       name, key);
	rc = 0;
out:
	explicit_bzero(key, sizeof(key));
	json_object_put(details);
	buf_free(&text);
	return rc;
}

/* ---- key rotate ---- */

/* Reads DIR/NAME.ini into a new string; NULL with a message when missing. */
static char *read_key_file(const struct keys_cmd *k, const char *name)
{
	char *path = key_path(k, name), *text = NULL;
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		if (errno == ENOENT)
			fprintf(stderr, "aigwctl: no consumer %s in keys_dir %s\n", name, k->dir);
		else
			fprintf(stderr, "aigwctl: %s: %s\n", path, strerror(errno));
		free(path);
		return NULL;
	}
	text = gw_malloc(KEY_FILE_MAX + 1);
	n = fread(text, 1, KEY_FILE_MAX + 1, f);
	fclose(f);
	if (n > KEY_FILE_MAX) {
		fprintf(stderr, "aigwctl: %s: larger than %d bytes\n", path, KEY_FILE_MAX);
		free(text);
		text = NULL;
	} else {
		text[n] = '\0';
	}
	free(path);
	return text;
}

/* The policy key of one line ("credential_sha256" of "credential_sha256 =
 * X") into key; false for sections, comments and blank lines. */
static bool line_key(const char *line, size_t len, char key[64], const char **value)
{
	size_t i = strspn(line, " \t"), j;

	if (i >= len || line[i] == ';' || line[i] == '#' || line[i] == '[')
		return false;
	for (j = i; j < len && line[j] != '=' && line[j] != ' ' && line[j] != '\t'; j++)
		;
	if (j - i >= 64)
		return false;
	memcpy(key, line + i, j - i);
	key[j - i] = '\0';
	*value = memchr(line, '=', len);
	return *value != NULL;
}

/* The file with its credential lines replaced by credential_sha256 = hash
 * and, while grace lasts, the old credential as the previous one. */
static char *rotated(const char *text, const char *hash, long long grace_s, int64_t now_ms)
{
	struct gw_buf out = { 0 };
	char old[2 * SHA256_LEN + 1] = "", until[32], key[64];

	for (const char *s = text; *s;) {
		const char *nl = strchr(s, '\n'), *value;
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		bool keep = true;

		if (line_key(s, len, key, &value)) {
			char *v = gw_strndup(value + 1, len - (size_t)(value + 1 - s));
			char *t = v + strspn(v, " \t");
			for (size_t e = strlen(t); e > 0 && strchr(" \t\r", t[e - 1]); e--)
				t[e - 1] = '\0';
			if (strcmp(key, "credential_sha256") == 0 && strlen(t) == 2 * SHA256_LEN)
				snprintf(old, sizeof(old), "%s", t);
			else if (strcmp(key, "credential") == 0)
				key_hash_hex(t, old);
			keep = strcmp(key, "credential") != 0 && strcmp(key, "credential_sha256") != 0 &&
			       strncmp(key, "previous_", 9) != 0;
			explicit_bzero(v, strlen(v));
			free(v);
		}
		if (keep) {
			buf_append(&out, s, len);
			buf_append(&out, "\n", 1);
		}
		s = nl ? nl + 1 : s + len;
	}
	buf_printf(&out, "credential_sha256 = %s\n", hash);
	if (grace_s > 0 && *old) {
		iso_time(now_ms + grace_s * 1000, "%Y-%m-%dT%H:%M:%SZ", until);
		buf_printf(&out, "previous_credential_sha256 = %s\nprevious_valid_until = %s\n", old,
			   until);
	}
	char *result = gw_strdup(buf_str(&out));
	buf_free(&out);
	return result;
}

static int key_rotate(struct keys_cmd *k, const char *name, long long grace_s)
{
	char key[sizeof(KEY_PREFIX) + 2 * KEY_BYTES], hash[2 * SHA256_LEN + 1], until[32];
	char *text = read_key_file(k, name), *next = NULL;
	int64_t now_ms = now_ms_utc();
	json_object *details;
	int rc = 1;

	if (!text)
		return 1;
	if (new_key(key) < 0) {
		fprintf(stderr, "aigwctl: getrandom: %s\n", strerror(errno));
		goto out;
	}
	key_hash_hex(key, hash);
	next = rotated(text, hash, grace_s, now_ms);
	if (section_ok(k, next) < 0)
		goto out;
	if (install_file(k, name, next, true) < 0) {
		fprintf(stderr, "aigwctl: writing %s/%s.ini: %s\n", k->dir, name, strerror(errno));
		goto out;
	}
	iso_time(now_ms + grace_s * 1000, "%Y-%m-%dT%H:%M:%SZ", until);
	details = json_object_new_object();
	json_object_object_add(details, "grace_seconds", json_object_new_int64(grace_s));
	json_object_object_add(details, "previous_valid_until", json_object_new_string(until));
	audit(k, "rotate", name, details);
	printf("consumer %s has a new key; the old one works until %s; the new key:\n%s\n", name,
	       until, key);
	rc = 0;
out:
	explicit_bzero(key, sizeof(key));
	free(text);
	free(next);
	return rc;
}

/* ---- key revoke ---- */

static int key_revoke(struct keys_cmd *k, const char *name)
{
	char *path = key_path(k, name);
	int rc = 0;

	if (unlink(path) < 0) {
		if (errno == ENOENT)
			fprintf(stderr, "aigwctl: no consumer %s in keys_dir %s\n", name, k->dir);
		else
			fprintf(stderr, "aigwctl: %s: %s\n", path, strerror(errno));
		rc = 1;
	} else {
		fsync_dir(k->dir);
		audit(k, "revoke", name, NULL);
		printf("consumer %s revoked: %s removed\n", name, path);
	}
	free(path);
	return rc;
}

/* ---- key list ---- */

/* The last UTC day (within LAST_USED_DAYS) with a request of each consumer
 * of p, from the store's day tables (file or Redis), into used[i]; "-"
 * when none was found or the store cannot be read. */
static void last_used(const struct gw_policy *p, int64_t today, char (*used)[32])
{
	struct gw_store *store = store_open(p, 0);
	size_t left = p->n_consumers;

	for (size_t i = 0; i < p->n_consumers; i++)
		strcpy(used[i], "-");
	for (int d = 0; d < LAST_USED_DAYS && left > 0; d++) {
		struct stats_row *rows = NULL;
		char table[32];
		size_t n = 0;

		stats_day_name(today - d * DAY_MS, table);
		if (store_rows(store, table, &rows, &n, NULL) != GW_OK)
			break;
		for (size_t r = 0; r < n; r++)
			for (size_t i = 0; i < p->n_consumers; i++)
				if (used[i][0] == '-' &&
				    strcmp(rows[r].key.consumer, p->consumers[i]->name) == 0) {
					iso_time(today - d * DAY_MS, "%Y-%m-%d", used[i]);
					left--;
				}
		free(rows);
	}
	store_close(store);
}

static bool in_keys_dir(const struct gw_policy *p, const struct gw_consumer *c)
{
	size_t n = strlen(p->keys_dir);
	return c->file && strncmp(c->file, p->keys_dir, n) == 0 && c->file[n] == '/';
}

static int key_list(struct keys_cmd *k)
{
	int64_t now = now_ms_utc(), today = now - now % DAY_MS;
	char (*used)[32] = gw_calloc(k->p->n_consumers + 1, sizeof(*used));

	last_used(k->p, today, used);
	printf("%-24s %-20s %-20s %-10s %-10s %s\n", "NAME", "OWNER", "CREATED", "EXPIRES",
	       "LAST_USED", "STATE");
	for (size_t i = 0; i < k->p->n_consumers; i++) {
		const struct gw_consumer *c = k->p->consumers[i];
		char expires[32] = "-", state[64] = "active";

		if (!in_keys_dir(k->p, c))
			continue;
		if (c->expires_ms) {
			iso_time(c->expires_ms, "%Y-%m-%d", expires);
			if (c->expires_ms <= now)
				strcpy(state, "expired");
		}
		if (c->has_previous && c->previous_until_ms > now && strcmp(state, "active") == 0) {
			char until[32];
			iso_time(c->previous_until_ms, "%Y-%m-%dT%H:%M:%SZ", until);
			snprintf(state, sizeof(state), "rotating until %s", until);
		}
		printf("%-24s %-20s %-20s %-10s %-10s %s\n", c->name, c->owner ? c->owner : "-",
		       c->created ? c->created : "-", expires, used[i], state);
	}
	free(used);
	return 0;
}

/* ---- aigwctl check ---- */

void keys_lint(const struct gw_policy *p, int64_t now_ms, struct gw_diag *diag)
{
	for (size_t i = 0; i < p->n_consumers; i++) {
		const struct gw_consumer *c = p->consumers[i];
		char day[32];

		if (!c->expires_ms || c->expires_ms - now_ms > EXPIRY_WARN_DAYS * DAY_MS)
			continue;
		iso_time(c->expires_ms, "%Y-%m-%d", day);
		if (c->expires_ms <= now_ms)
			diag_add(diag, true, c->file, c->line, "consumer %s: the key expired on %s",
				 c->name, day);
		else
			diag_add(diag, true, c->file, c->line,
				 "consumer %s: the key expires on %s, within %d days", c->name, day,
				 EXPIRY_WARN_DAYS);
	}
}

/* ---- dispatch ---- */

static int usage_error(void)
{
	fprintf(stderr, "usage: aigwctl [-c FILE] key add NAME [--expires YYYY-MM-DD] [--owner TEXT]\n"
			"                 [--models LIST] [--CONSUMER-KEY VALUE ...]\n"
			"       aigwctl [-c FILE] key rotate NAME [--grace DURATION]\n"
			"       aigwctl [-c FILE] key revoke NAME\n"
			"       aigwctl [-c FILE] key list\n");
	return 2;
}

int keys_main(const char *config, int argc, char **argv)
{
	struct keys_cmd k;
	const char *sub = argc > 0 ? argv[0] : "", *name = argc > 1 ? argv[1] : NULL;
	bool list = strcmp(sub, "list") == 0;
	long long grace = 86400;
	int rc = 1;

	if (!list && strcmp(sub, "add") != 0 && strcmp(sub, "rotate") != 0 &&
	    strcmp(sub, "revoke") != 0)
		return usage_error();
	if (list ? argc != 1 : !name)
		return usage_error();
	if (!list && !name_ok(name)) {
		fprintf(stderr, "aigwctl: \"%s\" is not a consumer name for a key file: use "
				"A-Z a-z 0-9 . _ - (not first '.'), at most %d characters\n",
			name, STATS_NAME - 1);
		return 1;
	}
	if (strcmp(sub, "rotate") == 0) {
		if (argc == 4 && strcmp(argv[2], "--grace") == 0)
			grace = parse_duration(argv[3]);
		else if (argc != 2)
			return usage_error();
		if (grace < 0) {
			fprintf(stderr, "aigwctl: --grace takes a duration such as 30s, 30m, 24h or 7d "
					"(at most 366d), got \"%s\"\n", argv[3]);
			return 1;
		}
	}
	if (strcmp(sub, "revoke") == 0 && argc != 2)
		return usage_error();
	if (keys_open(&k, config, !list) == 0) {
		if (list)
			rc = key_list(&k);
		else if (strcmp(sub, "add") == 0)
			rc = key_add(&k, name, argc - 2, argv + 2);
		else if (strcmp(sub, "rotate") == 0)
			rc = key_rotate(&k, name, grace);
		else
			rc = key_revoke(&k, name);
	}
	keys_close(&k);
	return rc;
}
