/* usage.c: JSON Lines usage log with locked single-write appends. */
#include "usage.h"
#include "buf.h"
#include "gw.h"
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void usage_log_init(struct usage_log *log, const char *path)
{
	memset(log, 0, sizeof(*log));
	log->fd = -1;
	log->path = path ? gw_strdup(path) : NULL;
}

void usage_log_close(struct usage_log *log)
{
	if (log->fd >= 0)
		close(log->fd);
	free(log->path);
	memset(log, 0, sizeof(*log));
	log->fd = -1;
}

void usage_format_time(const struct timespec *ts, char out[32])
{
	struct tm tm;
	char base[24];

	gmtime_r(&ts->tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03dZ", base, (int)((ts->tv_nsec / 1000000) % 1000));
}

/* Appends ,"key":"value" (the values are names from the policy, request
 * ids, and models that passed the UTF-8 check). */
static void add_str(struct gw_buf *b, const char *key, const char *v)
{
	v = v ? v : "";
	buf_printf(b, ",\"%s\":", key);
	buf_json_string(b, v, strlen(v));
}

/* Appends key (with its punctuation) and v. */
static void add_int(struct gw_buf *b, const char *key, long long v)
{
	buf_puts(b, key);
	buf_int(b, v);
}

char *usage_format(const struct usage_record *r)
{
	struct gw_buf b = { 0 };
	char ts[32], usd[40];

	usage_format_time(&r->ts, ts);
	buf_printf(&b, "{\"ts\":\"%s\"", ts);
	add_str(&b, "request_id", r->request_id);
	add_str(&b, "consumer", r->consumer);
	add_str(&b, "route", r->route);
	add_str(&b, "model", r->model);
	add_str(&b, "upstream", r->upstream);
	if (r->priced)
		stats_format_usd(r->cost_pico, usd);
	add_int(&b, ",\"status\":", r->status);
	buf_puts(&b, r->stream ? ",\"stream\":true" : ",\"stream\":false");
	add_int(&b, ",\"prompt_tokens\":", r->prompt_tokens);
	add_int(&b, ",\"completion_tokens\":", r->completion_tokens);
	add_int(&b, ",\"total_tokens\":", r->total_tokens);
	add_int(&b, ",\"latency_ms\":", r->latency_ms);
	add_int(&b, ",\"upstream_ms\":", r->upstream_ms);
	buf_puts(&b, ",\"cost_usd\":");
	buf_puts(&b, r->priced ? usd : "null");
	add_int(&b, ",\"cached_tokens\":", r->cached_tokens);
	add_int(&b, ",\"cache_write_tokens\":", r->cache_write_tokens);
	add_int(&b, ",\"reasoning_tokens\":", r->reasoning_tokens);
	if (r->upstream_request_id)
		add_str(&b, "upstream_request_id", r->upstream_request_id);
	if (r->session)
		add_str(&b, "session", r->session);
	if (r->reason)
		add_str(&b, "reason", r->reason);
	buf_append(&b, "}\n", 2);
	return b.data;
}

static int usage_log_open(struct usage_log *log)
{
	struct stat sb;

	if (log->fd >= 0)
		close(log->fd);
	log->fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (log->fd < 0)
		return -1;
	if (fstat(log->fd, &sb) == 0) {
		log->dev = sb.st_dev;
		log->ino = sb.st_ino;
	}
	log->reopen = false;
	return 0;
}

/* Reopens when the file was moved away (logrotate) or a SIGHUP asked for it;
 * the path is stat'ed at most once a second. */
static int usage_log_ready(struct usage_log *log, time_t now)
{
	struct stat sb;

	if (log->fd < 0 || log->reopen)
		return usage_log_open(log);
	if (now == log->checked)
		return 0;
	log->checked = now;
	if (stat(log->path, &sb) < 0 || sb.st_ino != log->ino || sb.st_dev != log->dev)
		return usage_log_open(log);
	return 0;
}

/* Appends one formatted line (freed here) under the log's lock. */
static int usage_log_append(struct usage_log *log, time_t now, char *line)
{
	size_t len = strlen(line);
	ssize_t n;
	int saved;

	if (usage_log_ready(log, now) < 0 || flock(log->fd, LOCK_EX) < 0) {
		saved = errno;
		free(line);
		errno = saved;
		return -1;
	}
	n = write(log->fd, line, len);
	saved = errno;
	flock(log->fd, LOCK_UN);
	free(line);
	if (n != (ssize_t)len) {
		errno = n < 0 ? saved : EIO;
		return -1;
	}
	return 0;
}

int usage_log_write(struct usage_log *log, const struct usage_record *r)
{
	if (!log->path)
		return 0;
	return usage_log_append(log, r->ts.tv_sec, usage_format(r));
}

char *usage_format_alert(const struct usage_alert *a)
{
	struct gw_buf b = { 0 };
	char ts[32], spent[40], limit[40];

	usage_format_time(&a->ts, ts);
	stats_format_usd(a->spent_pico, spent);
	stats_format_usd(a->limit_pico, limit);
	buf_printf(&b, "{\"ts\":\"%s\",\"event\":\"alert\"", ts);
	add_str(&b, "consumer", a->consumer);
	add_str(&b, "budget", a->budget);
	buf_printf(&b, ",\"percent\":%d,\"spent_usd\":%s,\"limit_usd\":%s}\n", a->percent, spent,
		   limit);
	return b.data;
}

int usage_log_alert(struct usage_log *log, const struct usage_alert *a)
{
	if (!log->path)
		return 0;
	return usage_log_append(log, a->ts.tv_sec, usage_format_alert(a));
}
