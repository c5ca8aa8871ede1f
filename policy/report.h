/* report.h: summaries of the usage log (JSON Lines) for aigwctl usage:
 * grouped by consumer, model or day, over a date range; each line is read
 * with json-c (one tokener reused over the whole log). */
#ifndef GW_REPORT_H
#define GW_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum report_by { REPORT_BY_CONSUMER, REPORT_BY_MODEL, REPORT_BY_DAY, REPORT_BY_CONSUMER_MODEL };
enum report_format { REPORT_TABLE, REPORT_CSV, REPORT_JSON };

/* Nesting depth accepted in a usage line (the gateway writes flat objects). */
#define REPORT_MAX_DEPTH 16

/* One parsed usage line: the fields a report needs. Strings point into a
 * scratch buffer valid until the next parse. */
struct report_line {
	char day[11];        /* YYYY-MM-DD from ts */
	const char *consumer;
	const char *model;
	int status;
	int64_t prompt_tokens;
	int64_t completion_tokens;
	int64_t cost_pico;
	bool priced;
};

/* Parses one log line: a JSON object with a string "ts". Returns 0, 1 for
 * an event line that is no request (an "alert"), or -1 when it is not one,
 * or its strings do not fit in scratch. */
int report_parse_line(const char *line, size_t len, struct report_line *out, char *scratch,
		      size_t scratch_len);

struct report_group {
	char *key;
	int64_t requests, errors, prompt_tokens, completion_tokens, cost_pico, unpriced;
};

struct report {
	enum report_by by;
	char since[11], until[11]; /* "" for open ends */
	struct report_group *groups;
	size_t n, cap;             /* open addressing over cap slots */
	int64_t lines, bad_lines, skipped;
};

void report_init(struct report *r, enum report_by by, const char *since, const char *until);
/* Reads a whole log; returns 0 or -1 with errno. */
int report_read(struct report *r, FILE *f);
void report_add(struct report *r, const struct report_line *l);
void report_print(struct report *r, enum report_format fmt, FILE *out);
void report_free(struct report *r);

#endif
