/* fuzz_sse.c: libFuzzer target for the Server-Sent Events parser (cgi/sse.c).
 *
 * Input: three control bytes, then the stream. The stream is parsed whole,
 * in three pieces cut where the control bytes say, and (when short) one byte
 * at a time; then sse_finish(). Checked every time:
 *   - the raw bytes of all events, joined, are exactly the stream;
 *   - the events do not depend on how the stream was cut;
 *   - an event without data has empty data, and data is NUL-terminated;
 *   - an event's raw bytes, parsed alone, give back that one event (what a
 *     client sees when the relay passes events through or drops some), so
 *     the LF of a CRLF never starts the next event;
 *   - a callback that returns -1 stops sse_feed(), which then refuses
 *     further input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			abort();                                                      \
		}                                                                     \
	} while (0)

#define BYTEWISE_MAX 512

struct run {
	struct gw_buf raw;    /* every event's raw bytes, joined */
	struct gw_buf log;    /* a record of every event */
	size_t events;
	size_t stop_after;    /* the callback returns -1 on this event (0: never) */
	bool stopped;
	bool reparse;         /* parse each event's raw bytes alone */
	bool last_cr;         /* the previous event's raw ended with CR */
};

static void parse(struct run *r, const char *s, size_t n, const size_t *cuts, size_t ncuts);
static void run_free(struct run *r);

static int on_event(void *ctx, const char *d, size_t len, bool has_data, const char *raw,
		    size_t raw_len)
{
	struct run *r = ctx;

	CHECK(!r->stopped);
	CHECK(raw != NULL && raw_len > 0);
	CHECK(d != NULL && d[len] == '\0');
	CHECK(raw[raw_len] == '\0');
	CHECK(has_data || len == 0);
	CHECK(len <= raw_len);
	CHECK(!(r->last_cr && raw[0] == '\n'));
	r->last_cr = raw[raw_len - 1] == '\r';
	buf_append(&r->raw, raw, raw_len);
	size_t from = r->log.len;
	buf_printf(&r->log, "%zu %d %zu:", raw_len, has_data, len);
	buf_append(&r->log, d, len);
	buf_append(&r->log, "\n", 1);
	r->events++;
	if (r->reparse) {
		struct run alone = { 0 };
		parse(&alone, raw, raw_len, NULL, 0);
		CHECK(alone.events == 1);
		CHECK(alone.log.len == r->log.len - from &&
		      memcmp(buf_str(&alone.log), buf_str(&r->log) + from, alone.log.len) == 0);
		run_free(&alone);
	}
	if (r->stop_after && r->events == r->stop_after) {
		r->stopped = true;
		return -1;
	}
	return 0;
}

/* Parses s[0..n) fed in the pieces that cuts[0..ncuts) end (ascending). */
static void parse(struct run *r, const char *s, size_t n, const size_t *cuts, size_t ncuts)
{
	struct sse_parser p;
	size_t at = 0;
	int rc = 0;

	sse_init(&p, on_event, r);
	for (size_t i = 0; i <= ncuts && rc == 0; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		rc = sse_feed(&p, s + at, end - at);
		at = end;
	}
	CHECK(rc == (r->stopped ? -1 : 0));
	if (rc == 0) {
		rc = sse_finish(&p);
		CHECK(rc == (r->stopped ? -1 : 0));
	} else {
		/* Stopped while fed: the parser refuses further input. */
		size_t events = r->events;
		CHECK(sse_feed(&p, "data: x\n\n", 9) == -1);
		CHECK(sse_finish(&p) == -1);
		CHECK(r->events == events);
	}
	sse_free(&p);
}

static void run_free(struct run *r)
{
	buf_free(&r->raw);
	buf_free(&r->log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole = { .reparse = true }, pieces = { 0 }, stop = { 0 };
	const char *s;
	size_t n, cuts[2];

	if (size < 3)
		return 0;
	s = (const char *)data + 3;
	n = size - 3;
	cuts[0] = ((size_t)data[0] | (size_t)data[1] << 8) % (n + 1);
	cuts[1] = cuts[0] + (size_t)data[2] % (n - cuts[0] + 1);

	parse(&whole, s, n, NULL, 0);
	CHECK(whole.raw.len == n && memcmp(buf_str(&whole.raw), s, n) == 0);

	parse(&pieces, s, n, cuts, 2);
	CHECK(pieces.raw.len == n && memcmp(buf_str(&pieces.raw), s, n) == 0);
	CHECK(pieces.log.len == whole.log.len &&
	      memcmp(buf_str(&pieces.log), buf_str(&whole.log), whole.log.len) == 0);

	if (n <= BYTEWISE_MAX) {
		struct run bytes = { 0 };
		size_t each[BYTEWISE_MAX];
		for (size_t i = 0; i < n; i++)
			each[i] = i;
		parse(&bytes, s, n, each, n);
		CHECK(bytes.raw.len == n && memcmp(buf_str(&bytes.raw), s, n) == 0);
		CHECK(bytes.log.len == whole.log.len &&
		      memcmp(buf_str(&bytes.log), buf_str(&whole.log), whole.log.len) == 0);
		run_free(&bytes);
	}

	/* Stop on an event chosen by the first control byte: the events seen
	 * are the first ones of the whole run, and nothing comes after. */
	if (whole.events > 0) {
		stop.stop_after = 1 + data[0] % whole.events;
		parse(&stop, s, n, cuts, 2);
		CHECK(stop.events == stop.stop_after);
		CHECK(stop.log.len <= whole.log.len &&
		      memcmp(buf_str(&stop.log), buf_str(&whole.log), stop.log.len) == 0);
	}

	run_free(&whole);
	run_free(&pieces);
	run_free(&stop);
	return 0;
}
