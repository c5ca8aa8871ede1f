/* usage.h: the usage log, one JSON object per finished request (JSON Lines),
 * appended with one write under a lock so lines of concurrent processes never
 * interleave, and reopened when logrotate moves the file. */
#ifndef GW_USAGE_H
#define GW_USAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* What one finished request used. Strings are borrowed; NULL is written as "". */
struct usage_record {
	struct timespec ts;
	const char *request_id;
	const char *consumer;
	const char *route;
	const char *model;
	const char *upstream;
	const char *reason; /* why the gateway refused or failed it; NULL when relayed */
	int status;
	bool stream;
	long long prompt_tokens;
	long long completion_tokens;
	long long total_tokens;
	long long cached_tokens;      /* input tokens read from a cache */
	long long cache_write_tokens; /* input tokens written to a cache */
	long long reasoning_tokens;
	const char *upstream_request_id; /* NULL: not written */
	const char *session;             /* an agent's session id; NULL: not written */
	long long latency_ms;
	long long upstream_ms;
	bool priced;       /* cost_pico is known; else cost_usd is null */
	int64_t cost_pico; /* pico-USD (1e-12 $) */
};

/* An open usage log; one per process. */
struct usage_log {
	char *path;
	int fd;
	dev_t dev;
	ino_t ino;
	time_t checked;  /* last time the path was stat'ed for rotation */
	bool reopen;     /* set from a SIGHUP handler: reopen before the next write */
	bool warned;     /* an open failure was reported once */
};

/* Sets the log to path (NULL: off). Does not open it yet. */
void usage_log_init(struct usage_log *log, const char *path);

/* Appends one record. Returns 0, or -1 with errno set (the caller logs it). */
int usage_log_write(struct usage_log *log, const struct usage_record *r);

/* A budget alert that fired, for the usage log's "alert" lines. */
struct usage_alert {
	struct timespec ts;
	const char *consumer;
	const char *budget; /* "day" or "month" */
	int percent;        /* the threshold crossed */
	int64_t spent_pico, limit_pico;
};

/* Appends an alert line: {"ts","event":"alert","consumer","budget","percent",
 * "spent_usd","limit_usd"}. Returns 0, or -1 with errno. */
int usage_log_alert(struct usage_log *log, const struct usage_alert *a);
char *usage_format_alert(const struct usage_alert *a);

/* Formats r as one JSON line (with '\n') into a new string the caller frees. */
char *usage_format(const struct usage_record *r);

/* Formats ts as ISO 8601 UTC with milliseconds into out[32]. */
void usage_format_time(const struct timespec *ts, char out[32]);

void usage_log_close(struct usage_log *log);

#endif
