/* usage.c: JSON Lines usage log with locked single-write appends. */
#include "usage.h"
#include "gw.h"
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
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

static void add_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v ? v : ""));
}

char *usage_format(const struct usage_record *r)
{
	json_object *o = json_object_new_object();
	char ts[32];
	char *line;

	usage_format_time(&r->ts, ts);
	add_str(o, "ts", ts);
	add_str(o, "request_id", r->request_id);
	add_str(o, "consumer", r->consumer);
	add_str(o, "route", r->route);
	add_str(o, "model", r->model);
	add_str(o, "upstream", r->upstream);
	json_object_object_add(o, "status", json_object_new_int(r->status));
	json_object_object_add(o, "stream", json_object_new_boolean(r->stream));
	json_object_object_add(o, "prompt_tokens", json_object_new_int64(r->prompt_tokens));
	json_object_object_add(o, "completion_tokens", json_object_new_int64(r->completion_tokens));
	json_object_object_add(o, "total_tokens", json_object_new_int64(r->total_tokens));
	json_object_object_add(o, "latency_ms", json_object_new_int64(r->latency_ms));
	json_object_object_add(o, "upstream_ms", json_object_new_int64(r->upstream_ms));
	if (r->priced) {
		char usd[40];
		stats_format_usd(r->cost_pico, usd);
		json_object_object_add(o, "cost_usd", json_object_new_double_s((double)r->cost_pico / 1e12, usd));
	} else {
		json_object_object_add(o, "cost_usd", NULL);
	}
	if (r->reason)
		add_str(o, "reason", r->reason);
	line = gw_asprintf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
									  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return line;
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

int usage_log_write(struct usage_log *log, const struct usage_record *r)
{
	char *line;
	size_t len;
	ssize_t n;
	int saved;

	if (!log->path)
		return 0;
	if (usage_log_ready(log, r->ts.tv_sec) < 0)
		return -1;
	line = usage_format(r);
	len = strlen(line);
	if (flock(log->fd, LOCK_EX) < 0) {
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
