/* anthropic.h: the stateless parts of the Anthropic Messages API mode:
 * checks of the headers passed on, the query string passed on, and token
 * usage read from streamed events. */
#ifndef GW_ANTHROPIC_H
#define GW_ANTHROPIC_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "openai.h"
#include "policy.h"

/* anthropic-version sent when the caller sends none (or an unusable one). */
#define ANTHROPIC_DEFAULT_VERSION "2023-06-01"
/* Longest anthropic-version and anthropic-beta values passed on. */
#define ANTHROPIC_MAX_VERSION 64
#define ANTHROPIC_MAX_BETA 1024
/* Longest X-Claude-Code-Session-Id kept for the usage record. */
#define ANTHROPIC_MAX_SESSION 128

/* True when v is 1..max bytes of printable ASCII (space to '~') that neither
 * starts nor ends with a space: safe to send on as a header value. */
bool anthropic_header_ok(const char *v, size_t max);

/* The query string to append to the upstream path: q without the
 * parameters whose (decoded) name is one of drop (any case), so a key sent
 * in the query never reaches the upstream. Returns a new string (possibly
 * empty) the caller frees, or NULL when q holds a byte that has no place in
 * a URL (control, space, non-ASCII, '#', '"', '<', '>', '\\', '^', '`',
 * '{', '|', '}') or a '%' not followed by two hex digits. */
char *anthropic_query(const char *q, const struct gw_list *drop);

/* What a stream told so far. Zero it before the first event. */
struct anthropic_stream {
	struct openai_usage usage; /* message_start's, then message_delta's merged */
	size_t text_bytes;         /* text, thinking and tool input of the deltas */
	bool started;              /* message_start seen */
	bool delta_usage;          /* a message_delta with usage seen */
	bool stopped;              /* message_stop seen */
	bool error;                /* an error event seen */
};

/* Reads one event's data (its JSON) into s: message_start's message.usage
 * and message_delta's usage are merged with openai_usage_read (a field the
 * later event leaves out keeps its value), content_block_delta's text is
 * counted. Data that is not a JSON object with a string "type" is ignored.
 * Returns true when the event carried usage. */
bool anthropic_event(const char *data, size_t len, struct anthropic_stream *s);

/* The completion tokens of a stream cut before its message_delta: the most
 * of what message_start said and an estimate from the text seen. */
long long anthropic_cut_completion(const struct anthropic_stream *s);

#endif
