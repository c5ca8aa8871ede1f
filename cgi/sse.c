/* sse.c: incremental Server-Sent Events parsing (LF, CRLF and CR line ends). */
#include "sse.h"

#include <string.h>

void sse_init(struct sse_parser *p, sse_event_fn on_event, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->on_event = on_event;
	p->ctx = ctx;
}

void sse_free(struct sse_parser *p)
{
	buf_free(&p->raw);
	buf_free(&p->line);
	buf_free(&p->data);
}

static int dispatch(struct sse_parser *p)
{
	int rc = 0;

	if (p->raw.len)
		rc = p->on_event(p->ctx, buf_str(&p->data), p->data.len, p->has_data,
				 buf_str(&p->raw), p->raw.len);
	buf_reset(&p->raw);
	buf_reset(&p->data);
	p->has_data = false;
	return rc;
}

/* Interprets one complete line ("field: value"). */
static int end_line(struct sse_parser *p)
{
	const char *l = buf_str(&p->line);
	size_t n = p->line.len;

	if (n == 0)
		return dispatch(p);
	if (l[0] != ':' && n >= 4 && memcmp(l, "data", 4) == 0 && (n == 4 || l[4] == ':')) {
		const char *v = n == 4 ? "" : l + 5;
		size_t vlen = n == 4 ? 0 : n - 5;
		if (vlen && v[0] == ' ')
			v++, vlen--;
		if (p->has_data)
			buf_append(&p->data, "\n", 1);
		buf_append(&p->data, v, vlen);
		p->has_data = true;
	}
	buf_reset(&p->line);
	return 0;
}

/* True when the byte last fed was a CR that ended a blank line: the event
 * it ends is held back until the next byte shows whether an LF (the rest of
 * a CRLF, and so part of this event) follows. */
static bool blank_cr_pending(const struct sse_parser *p)
{
	size_t n = p->raw.len;
	const char *r = p->raw.data;

	return p->after_cr && n > 0 && r[n - 1] == '\r' &&
	       (n == 1 || r[n - 2] == '\r' || r[n - 2] == '\n');
}

int sse_feed(struct sse_parser *p, const char *s, size_t n)
{
	if (p->failed)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool was_cr = p->after_cr, pending = blank_cr_pending(p);

		p->after_cr = c == '\r';
		if (pending && c != '\n' && dispatch(p) < 0) {
			p->failed = true;
			return -1;
		}
		buf_append(&p->raw, &c, 1);
		if (c == '\n' && was_cr) {
			/* the LF of a CRLF: the line already ended at CR */
			if (pending && dispatch(p) < 0) {
				p->failed = true;
				return -1;
			}
			continue;
		}
		if (c == '\r' && p->line.len == 0)
			continue; /* a blank line: dispatched with the next byte, or by sse_finish */
		if (c == '\r' || c == '\n') {
			if (end_line(p) < 0) {
				p->failed = true;
				return -1;
			}
			continue;
		}
		buf_append(&p->line, &c, 1);
		if (p->raw.len > SSE_MAX_EVENT) {
			p->failed = p->too_big = true;
			return -1;
		}
	}
	return 0;
}

int sse_finish(struct sse_parser *p)
{
	if (p->failed)
		return -1;
	if (p->line.len && end_line(p) < 0)
		return -1;
	return dispatch(p);
}
