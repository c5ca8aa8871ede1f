/* stats.h: usage totals shared by every process: rows keyed by (consumer,
 * route, model, status) in memory-mapped table files in state_dir, updated
 * under a file lock. One file holds all-time totals and the latency
 * histograms (for /_aigw/metrics); one file per UTC day holds that day's
 * rows (for /_aigw/usage). */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STATS_NAME 64
#define STATS_CAPACITY 8192
#define STATS_BUCKETS 14

struct stats_key {
	char consumer[STATS_NAME];
	char route[STATS_NAME];
	char model[STATS_NAME];
	int32_t status;
};

struct stats_values {
	int64_t requests;
	int64_t prompt_tokens;
	int64_t completion_tokens;
	int64_t cost_pico;
	int64_t unpriced; /* requests with tokens but no price */
	/* parts of prompt_tokens: read from and written to the upstream's
	 * prompt cache; a part of completion_tokens: spent on reasoning */
	int64_t cached_tokens;
	int64_t cache_write_tokens;
	int64_t reasoning_tokens;
};

struct stats_row {
	struct stats_key key;
	uint32_t used;
	uint32_t pad;
	struct stats_values v;
};

/* Bucket upper bounds in seconds; counts are per bucket, not cumulative. */
extern const double stats_bucket_le[STATS_BUCKETS];

/* The bucket a duration falls in: the first whose bound it does not pass,
 * STATS_BUCKETS for +Inf. */
int stats_bucket(int64_t us);

struct stats_histogram {
	int64_t count;
	int64_t sum_us;
	int64_t bucket[STATS_BUCKETS + 1]; /* the last one is +Inf */
};

struct stats_header {
	uint32_t magic;
	uint32_t version;
	uint32_t capacity;
	uint32_t n_rows;
	struct stats_histogram upstream;
	struct stats_histogram overhead;
};

struct stats_file {
	int fd;
	void *map;
	size_t size;
	struct stats_header *h;
	struct stats_row *rows;
	char name[64];
	time_t checked; /* last check that fd is still the file at its path */
};

struct stats_store {
	char *dir;
	struct stats_file total;
	struct stats_file day;
	int64_t day_start; /* ms of the day file that is open */
};

void stats_store_init(struct stats_store *s, const char *dir);
void stats_store_close(struct stats_store *s);

/* Adds one finished request. upstream_us < 0: no upstream call. Returns 0,
 * or -1 with errno (the caller logs; serving goes on). *rebuilt is set when
 * a damaged file (a wrong size, a truncated one included, or a header of
 * another magic, version or capacity: a table of an older format) was moved
 * aside to NAME.damaged and started anew. Every value is bounded (tokens to LIMIT_TOKENS_MAX,
 * cost to LIMIT_PICO_MAX) and every counter saturates. A table file that
 * was deleted or replaced is reopened (checked at most once a second). */
int stats_record(struct stats_store *s, int64_t now_ms, const struct stats_key *k,
		 const struct stats_values *v, int64_t upstream_us, int64_t overhead_us,
		 bool *rebuilt);

/* Opens a table file of dir for reading: "total", or the day holding day_ms.
 * Returns 0, -1 when it does not exist or is damaged. */
int stats_open_read(const char *dir, const char *name, struct stats_file *f);
void stats_file_close(struct stats_file *f);

/* The file name of the day file for now_ms: "day-YYYYMMDD". */
void stats_day_name(int64_t now_ms, char out[32]);

/* Copies the rows of f (under a shared lock) into a new array the caller
 * frees; *n gets their number, *h (when not NULL) the header. */
struct stats_row *stats_snapshot(struct stats_file *f, size_t *n, struct stats_header *h);

/* Formats pico-USD as a decimal number of dollars ("0.000150"), trimming
 * trailing zeros to at least 6 decimals, into out. */
void stats_format_usd(int64_t pico, char out[40]);

#endif
