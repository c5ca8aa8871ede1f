/* test_sse.c: cgi/sse.h (incremental Server-Sent Events parser): every way
 * of cutting a stream into pieces gives the same events, and the events' raw
 * bytes put together are the stream exactly. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "sse.h"
#include "suites.h"
#include "testutil.h"

/* ---- collecting events ---- */

#define MAX_EVENTS 64

struct ev {
	char *data;
	size_t dlen;
	bool has_data;
	char *raw;
	size_t rlen;
};

struct coll {
	struct ev ev[MAX_EVENTS];
	size_t n;
	size_t stop_at; /* 1-based: the callback for this event returns -1; 0: never */
	size_t calls;
};

static int on_event(void *ctx, const char *data, size_t len, bool has_data, const char *raw,
		    size_t raw_len)
{
	struct coll *c = ctx;

	c->calls++;
	/* data and raw are NUL-terminated for the callback's convenience */
	CU_ASSERT(data != NULL && data[len] == '\0');
	CU_ASSERT(raw != NULL && raw_len > 0 && raw[raw_len] == '\0');
	CU_ASSERT(has_data || len == 0);
	if (c->n < MAX_EVENTS) {
		struct ev *e = &c->ev[c->n++];
		e->data = tu_exact(data, len);
		e->dlen = len;
		e->has_data = has_data;
		e->raw = tu_exact(raw, raw_len);
		e->rlen = raw_len;
	}
	return c->stop_at && c->calls == c->stop_at ? -1 : 0;
}

static void coll_free(struct coll *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->ev[i].data);
		free(c->ev[i].raw);
	}
	c->n = 0;
	c->calls = 0;
}

/* Feeds in[0..len) cut at the ascending positions cuts[0..ncuts), each
 * piece in a buffer of its exact size, then finishes. Returns 0, or -1 when
 * a feed or the finish failed. */
static int run(const char *in, size_t len, const size_t *cuts, size_t ncuts, struct coll *c)
{
	struct sse_parser p;
	size_t from = 0;
	int rc = 0;

	sse_init(&p, on_event, c);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		char *piece = tu_exact(in + from, to - from);
		if (sse_feed(&p, piece, to - from) < 0)
			rc = -1;
		free(piece);
		from = to;
	}
	if (sse_finish(&p) < 0)
		rc = -1;
	sse_free(&p);
	return rc;
}

/* ---- expectations ---- */

struct want {
	const char *data;
	size_t dlen;
	bool has_data;
	const char *raw;
	size_t rlen;
};

/* String literals, NUL bytes allowed. */
#define W(data, has, raw) { data, sizeof(data) - 1, has, raw, sizeof(raw) - 1 }

static void show(const char *what, const char *s, size_t n)
{
	fprintf(stderr, "%s\"", what);
	for (size_t i = 0; i < n && i < 120; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			fputc(ch, stderr);
		else
			fprintf(stderr, "\\x%02x", ch);
	}
	fputs(n > 120 ? "\"..." : "\"", stderr);
}

static void dump(const struct coll *c)
{
	fprintf(stderr, "      got %zu events:\n", c->n);
	for (size_t i = 0; i < c->n; i++) {
		fprintf(stderr, "        [%zu] has_data=%d ", i, c->ev[i].has_data);
		show("data=", c->ev[i].data, c->ev[i].dlen);
		show(" raw=", c->ev[i].raw, c->ev[i].rlen);
		fputc('\n', stderr);
	}
}

/* True when c holds exactly the wanted events. */
static bool events_are(const struct coll *c, const struct want *w, size_t n)
{
	if (c->n != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct ev *e = &c->ev[i];
		if (e->has_data != w[i].has_data || e->dlen != w[i].dlen ||
		    memcmp(e->data, w[i].data, e->dlen) != 0 || e->rlen != w[i].rlen ||
		    memcmp(e->raw, w[i].raw, e->rlen) != 0)
			return false;
	}
	return true;
}

/* True when the events' raw bytes, in order, are in[0..len) exactly. */
static bool raw_is_input(const struct coll *c, const char *in, size_t len)
{
	size_t at = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (c->ev[i].rlen > len - at || memcmp(c->ev[i].raw, in + at, c->ev[i].rlen) != 0)
			return false;
		at += c->ev[i].rlen;
	}
	return at == len;
}

static void describe_cuts(const size_t *cuts, size_t ncuts)
{
	fputs("      cut at:", stderr);
	for (size_t i = 0; i < ncuts && i < 20; i++)
		fprintf(stderr, " %zu", cuts[i]);
	fputs(ncuts > 20 ? " ...\n" : ncuts ? "\n" : " (whole)\n", stderr);
}

/* Runs one cutting and checks it; returns false (after reporting) on a
 * mismatch. w may be NULL: then only the raw bytes are checked. */
static bool check_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts,
		       const struct want *w, size_t nw, unsigned line)
{
	struct coll c = { 0 };
	int rc = run(in, len, cuts, ncuts, &c);
	bool ok = rc == 0 && raw_is_input(&c, in, len) && (!w || events_are(&c, w, nw));

	if (!ok) {
		fprintf(stderr, "\n    %s:%u: ", __FILE__, line);
		show("stream ", in, len);
		fprintf(stderr, " (rc %d)\n", rc);
		describe_cuts(cuts, ncuts);
		dump(&c);
	}
	coll_free(&c);
	return ok;
}

/* The same stream whole, a byte at a time, cut once at every position and
 * (for short streams) cut twice at every pair of positions. */
static void check_stream(const char *in, size_t len, const struct want *w, size_t nw,
			 unsigned line)
{
	size_t *cuts = gw_calloc(len + 1, sizeof(*cuts));
	bool ok = check_cuts(in, len, NULL, 0, w, nw, line);

	for (size_t i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	if (ok && len > 1)
		ok = check_cuts(in, len, cuts, len - 1, w, nw, line);
	for (size_t k = 0; ok && k <= len; k++) {
		cuts[0] = k;
		ok = check_cuts(in, len, cuts, 1, w, nw, line);
	}
	for (size_t a = 0; ok && len <= 80 && a <= len; a++)
		for (size_t b = a; ok && b <= len; b++) {
			cuts[0] = a;
			cuts[1] = b;
			ok = check_cuts(in, len, cuts, 2, w, nw, line);
		}
	tu_assert_ll(ok, 1, "same events for every cutting", line, __FILE__, "check_stream");
	free(cuts);
}

#define CHECK(in, ...)                                                                     \
	do {                                                                               \
		static const struct want w_[] = { __VA_ARGS__ };                           \
		check_stream(in, sizeof(in) - 1, w_, GW_ARRAY_LEN(w_), __LINE__);         \
	} while (0)

/* ---- tests ---- */

static void test_lf(void)
{
	CHECK("data: hello\n\n", W("hello", true, "data: hello\n\n"));
	CHECK("data: a\n\ndata: b\n\n", W("a", true, "data: a\n\n"),
	      W("b", true, "data: b\n\n"));
	CHECK("data: {\"x\": 1}\n\ndata: [DONE]\n\n",
	      W("{\"x\": 1}", true, "data: {\"x\": 1}\n\n"),
	      W("[DONE]", true, "data: [DONE]\n\n"));
}

/* CRLF: the blank line "\r\n" belongs to the event it ends. */
static void test_crlf(void)
{
	CHECK("data: a\r\n\r\n", W("a", true, "data: a\r\n\r\n"));
	CHECK("data: a\r\n\r\ndata: b\r\n\r\n", W("a", true, "data: a\r\n\r\n"),
	      W("b", true, "data: b\r\n\r\n"));
	CHECK("data: x\r\ndata: y\r\n\r\n: c\r\n\r\n",
	      W("x\ny", true, "data: x\r\ndata: y\r\n\r\n"), W("", false, ": c\r\n\r\n"));
}

static void test_lone_cr(void)
{
	CHECK("data: a\r\r", W("a", true, "data: a\r\r"));
	CHECK("data: a\r\rdata: b\r\r", W("a", true, "data: a\r\r"),
	      W("b", true, "data: b\r\r"));
	CHECK("data: a\rdata: b\r\r", W("a\nb", true, "data: a\rdata: b\r\r"));
}

/* LF, CRLF and CR in one stream. */
static void test_mixed_line_ends(void)
{
	CHECK("data: x\r\ndata: y\n\r\ndata: z\r\r\n\n",
	      W("x\ny", true, "data: x\r\ndata: y\n\r\n"), W("z", true, "data: z\r\r\n"),
	      W("", false, "\n"));
	CHECK("data: 1\n\r\ndata: 2\r\n\n", W("1", true, "data: 1\n\r\n"),
	      W("2", true, "data: 2\r\n\n"));
}

static void test_multiline_data(void)
{
	CHECK("data: one\ndata: two\ndata:three\ndata\n\n",
	      W("one\ntwo\nthree\n", true, "data: one\ndata: two\ndata:three\ndata\n\n"));
	/* Only one space after the colon is dropped. */
	CHECK("data:  two spaces\ndata:\tab\n\n",
	      W(" two spaces\n\tab", true, "data:  two spaces\ndata:\tab\n\n"));
	/* "data" alone and "data:" alone are an empty data line. */
	CHECK("data\n\n", W("", true, "data\n\n"));
	CHECK("data:\n\n", W("", true, "data:\n\n"));
	CHECK("data:\ndata:\n\n", W("\n", true, "data:\ndata:\n\n"));
	/* Bytes pass through as they are, NUL included. */
	CHECK("data: a\0b \xc3\xa9\n\n", W("a\0b \xc3\xa9", true, "data: a\0b \xc3\xa9\n\n"));
}

static void test_comments(void)
{
	CHECK(": keep-alive\n\n", W("", false, ": keep-alive\n\n"));
	CHECK(":\n\ndata: x\n\n", W("", false, ":\n\n"), W("x", true, "data: x\n\n"));
	/* A comment among data lines is skipped, not joined. */
	CHECK("data: a\n: note\ndata: b\n\n", W("a\nb", true, "data: a\n: note\ndata: b\n\n"));
	/* ": data: x" is a comment that happens to mention data. */
	CHECK(": data: x\n\n", W("", false, ": data: x\n\n"));
}

static void test_other_fields(void)
{
	CHECK("event: ping\nid: 7\nretry: 100\ndata: d\n\n",
	      W("d", true, "event: ping\nid: 7\nretry: 100\ndata: d\n\n"));
	CHECK("event: x\n\n", W("", false, "event: x\n\n"));
	/* Field names are exact and case-sensitive. */
	CHECK("datax: y\nData: z\nDATA: w\n data: v\n\n",
	      W("", false, "datax: y\nData: z\nDATA: w\n data: v\n\n"));
	CHECK("id\nevent\nretry\n\n", W("", false, "id\nevent\nretry\n\n"));
}

/* An event that no blank line ends comes out of sse_finish only. */
static void test_final_event_at_finish(void)
{
	static const char stream[] = "data: a\n\ndata: tail";
	struct sse_parser p;
	struct coll c = { 0 };

	sse_init(&p, on_event, &c);
	CU_ASSERT_EQUAL(sse_feed(&p, stream, sizeof(stream) - 1), 0);
	TU_INT(c.n, 1);
	CU_ASSERT_EQUAL(sse_finish(&p), 0);
	TU_INT(c.n, 2);
	if (c.n == 2) {
		TU_MEM(c.ev[1].data, c.ev[1].dlen, "tail", 4);
		CU_ASSERT_TRUE(c.ev[1].has_data);
		TU_MEM(c.ev[1].raw, c.ev[1].rlen, "data: tail", 10);
	}
	sse_free(&p);
	coll_free(&c);

	/* The line ended, the event did not. */
	sse_init(&p, on_event, &c);
	CU_ASSERT_EQUAL(sse_feed(&p, "data: x\ndata: y\n", 16), 0);
	TU_INT(c.n, 0);
	CU_ASSERT_EQUAL(sse_finish(&p), 0);
	TU_INT(c.n, 1);
	if (c.n == 1)
		TU_MEM(c.ev[0].data, c.ev[0].dlen, "x\ny", 3);
	sse_free(&p);
	coll_free(&c);

	/* Nothing fed: nothing delivered. */
	sse_init(&p, on_event, &c);
	CU_ASSERT_EQUAL(sse_finish(&p), 0);
	TU_INT(c.n, 0);
	sse_free(&p);

	/* The same through every cutting. */
	CHECK("data: a\n\ndata: tail", W("a", true, "data: a\n\n"),
	      W("tail", true, "data: tail"));
	CHECK("data: a\r\ndata: b\r", W("a\nb", true, "data: a\r\ndata: b\r"));
	CHECK(": only a comment", W("", false, ": only a comment"));
}

/* Streams whose event split is not pinned here: the raw bytes still add up
 * to the input exactly, whatever the cutting. */
static void test_raw_concatenation(void)
{
	static const struct {
		const char *s;
		size_t len;
	} streams[] = {
#define S(x) { x, sizeof(x) - 1 }
		S("\n\ndata: a\n\n"),
		S("\r\n\r\ndata: a\r\n\r\n\r\n"),
		S("\r\r\r\n\n\r"),
		S("data: a\n\n\n\n\ndata: b\n\n"),
		S("data: x\r\n\r\n\r\ndata: y"),
		S("\n"),
		S("\r"),
		S("data: \xff\xfe\x00\x01\n\n"),
		S("event: e\r\nid: 1\r\ndata: d1\r\ndata: d2\r\n\r\n: c\n\ndata"),
#undef S
	};

	for (size_t i = 0; i < GW_ARRAY_LEN(streams); i++)
		check_stream(streams[i].s, streams[i].len, NULL, 0, __LINE__);
	/* A longer stream of many events, cut at every position. */
	{
		struct gw_buf b = { 0 };
		for (int i = 0; i < 40; i++)
			buf_printf(&b, "%sdata: {\"i\": %d}%s%s", i % 5 == 0 ? ": ka\n" : "", i,
				   i % 3 == 0 ? "\r\n" : i % 3 == 1 ? "\n" : "\r",
				   i % 3 == 0 ? "\r\n" : i % 3 == 1 ? "\n" : "\r");
		check_stream(b.data, b.len, NULL, 0, __LINE__);
		buf_free(&b);
	}
}

/* Each data event once, in order, for the longer mixed stream above. */
static void test_many_events_in_order(void)
{
	struct gw_buf b = { 0 };
	struct coll c = { 0 };
	size_t k = 0;

	for (int i = 0; i < 40; i++)
		buf_printf(&b, "data: %d\r\n\r\n", i);
	CU_ASSERT_EQUAL(run(b.data, b.len, NULL, 0, &c), 0);
	TU_INT(c.n, 40);
	for (size_t i = 0; i < c.n; i++) {
		char want[16];
		int n = snprintf(want, sizeof(want), "%zu", k++);
		TU_MEM(c.ev[i].data, c.ev[i].dlen, want, (size_t)n);
	}
	coll_free(&c);
	buf_free(&b);
}

static void test_callback_stops(void)
{
	static const char stream[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	struct sse_parser p;
	struct coll c = { 0 };

	c.stop_at = 2;
	sse_init(&p, on_event, &c);
	CU_ASSERT_EQUAL(sse_feed(&p, stream, sizeof(stream) - 1), -1);
	TU_INT(c.calls, 2); /* the third event was not parsed */
	CU_ASSERT_EQUAL(sse_feed(&p, "data: 4\n\n", 9), -1);
	CU_ASSERT_EQUAL(sse_feed(&p, "", 0), -1);
	CU_ASSERT_EQUAL(sse_finish(&p), -1);
	TU_INT(c.calls, 2);
	sse_free(&p);
	coll_free(&c);

	/* Byte by byte: the feed of the byte that ends event 2 fails. */
	c.stop_at = 2;
	sse_init(&p, on_event, &c);
	for (size_t i = 0; i < sizeof(stream) - 1; i++) {
		int rc = sse_feed(&p, stream + i, 1);
		TU_INT(rc, i < 17 ? 0 : -1);
	}
	TU_INT(c.calls, 2);
	sse_free(&p);
	coll_free(&c);

	/* Stopped by the event sse_finish delivers. */
	c.stop_at = 1;
	sse_init(&p, on_event, &c);
	CU_ASSERT_EQUAL(sse_feed(&p, "data: x", 7), 0);
	CU_ASSERT_EQUAL(sse_finish(&p), -1);
	TU_INT(c.calls, 1);
	sse_free(&p);
	coll_free(&c);
}

static void test_event_too_large(void)
{
	size_t chunk = 65536, len = SSE_MAX_EVENT + 16;
	char *big = gw_malloc(len);
	struct sse_parser p;
	struct coll c = { 0 };
	int rc = 0;

	/* One event of exactly SSE_MAX_EVENT bytes, blank line included, passes. */
	memcpy(big, "data: ", 6);
	memset(big + 6, 'x', SSE_MAX_EVENT - 8);
	memcpy(big + SSE_MAX_EVENT - 2, "\n\n", 2);
	sse_init(&p, on_event, &c);
	for (size_t at = 0; at < SSE_MAX_EVENT && rc == 0; at += chunk)
		rc = sse_feed(&p, big + at,
			      SSE_MAX_EVENT - at < chunk ? SSE_MAX_EVENT - at : chunk);
	CU_ASSERT_EQUAL(rc, 0);
	TU_INT(c.n, 1);
	if (c.n == 1) {
		TU_INT(c.ev[0].rlen, SSE_MAX_EVENT);
		TU_INT(c.ev[0].dlen, SSE_MAX_EVENT - 8);
	}
	CU_ASSERT_EQUAL(sse_finish(&p), 0);
	sse_free(&p);
	coll_free(&c);

	/* A data line longer than the cap, never ended: refused, no event. */
	memset(big + 6, 'y', len - 6);
	rc = 0;
	sse_init(&p, on_event, &c);
	for (size_t at = 0; at < len && rc == 0; at += chunk)
		rc = sse_feed(&p, big + at, len - at < chunk ? len - at : chunk);
	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT_EQUAL(sse_feed(&p, "\n\n", 2), -1);
	CU_ASSERT_EQUAL(sse_finish(&p), -1);
	TU_INT(c.calls, 0);
	sse_free(&p);
	coll_free(&c);

	/* Many short lines add up past the cap too. */
	rc = 0;
	sse_init(&p, on_event, &c);
	for (size_t at = 0; at < SSE_MAX_EVENT + chunk && rc == 0; at += 8)
		rc = sse_feed(&p, "data: z\n", 8);
	CU_ASSERT_EQUAL(rc, -1);
	TU_INT(c.calls, 0);
	sse_free(&p);
	coll_free(&c);
	free(big);
}

void suite_sse(void)
{
	static const struct tu_test tests[] = {
		{ "LF line ends, every cutting", test_lf, false },
		{ "CRLF: the blank line belongs to its event", test_crlf, false },
		{ "lone CR line ends", test_lone_cr, false },
		{ "LF, CRLF and CR mixed", test_mixed_line_ends, false },
		{ "data lines joined with \\n; data: and data", test_multiline_data, false },
		{ "comment lines: an event without data", test_comments, false },
		{ "event:, id:, retry: and look-alikes are not data", test_other_fields, false },
		{ "an unterminated last event comes from sse_finish", test_final_event_at_finish,
		  false },
		{ "raw bytes add up to the input for every cutting", test_raw_concatenation,
		  false },
		{ "40 CRLF events in order", test_many_events_in_order, false },
		{ "a callback returning -1 stops the parser", test_callback_stops, false },
		{ "an event past SSE_MAX_EVENT is refused", test_event_too_large, false },
	};
	tu_register("sse", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
