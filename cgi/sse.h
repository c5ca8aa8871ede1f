/* sse.h: an incremental Server-Sent Events parser: fed the upstream's bytes
 * in whatever pieces they arrive, it hands over one complete event at a time
 * with its raw bytes, so the relay can pass events through unchanged. */
#ifndef GW_SSE_H
#define GW_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Cap on one event: an upstream that never ends an event is cut off. */
#define SSE_MAX_EVENT (4u * 1024 * 1024)

/* Called for each event. data holds the joined data: lines (has_data false
 * for an event of comments or other fields only); raw holds the event's bytes
 * as received, blank line included. Return -1 to stop parsing. */
typedef int (*sse_event_fn)(void *ctx, const char *data, size_t len, bool has_data,
			    const char *raw, size_t raw_len);

struct sse_parser {
	sse_event_fn on_event;
	void *ctx;
	struct gw_buf raw;  /* bytes of the current event */
	struct gw_buf line; /* the current line, without its end */
	struct gw_buf data; /* data: values joined by '\n' */
	bool has_data;
	bool after_cr;      /* the previous byte was CR: a following LF ends nothing new */
	bool failed;
	bool too_big;       /* failed because an event grew past SSE_MAX_EVENT */
};

void sse_init(struct sse_parser *p, sse_event_fn on_event, void *ctx);

/* Feeds n bytes. Returns 0, or -1 when the callback stopped or an event grew
 * past SSE_MAX_EVENT (the parser then refuses further input). */
int sse_feed(struct sse_parser *p, const char *s, size_t n);

/* Ends the stream: an event not followed by a blank line is still delivered. */
int sse_finish(struct sse_parser *p);

void sse_free(struct sse_parser *p);

#endif
