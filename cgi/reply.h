/* reply.h: writes CGI answers: status, headers the gateway owns, bodies,
 * OpenAI- or Anthropic-shaped JSON errors, and streamed bodies. */
#ifndef GW_REPLY_H
#define GW_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "io.h"

struct gw_reply {
	struct gw_io *io;
	int status;         /* what was (or will be) sent */
	bool started;       /* status and headers are out */
	bool client_gone;   /* a write failed */
	struct gw_buf head; /* extra header lines, "Name: value\r\n" each */
	size_t body_bytes;
};

void reply_init(struct gw_reply *r, struct gw_io *io);
void reply_free(struct gw_reply *r);

/* Adds a header line for the answer. Values holding CR, LF or NUL (or any
 * other control byte) are refused: -1, nothing added. */
int reply_header(struct gw_reply *r, const char *name, const char *value);

/* Sends a whole answer. Returns 0, or -1 when the client is gone. */
int reply_send(struct gw_reply *r, int status, const char *content_type, const char *body,
	       size_t len);

/* The shape of the gateway's own error answers, chosen by the route's mode. */
enum gw_error_style {
	GW_ERRORS_OPENAI,    /* {"error":{"message":M,"type":T,"code":C}} */
	GW_ERRORS_ANTHROPIC, /* {"type":"error","error":{"type":T,"message":M}} */
};

/* Anthropic's error type for an answer of status (code "request_blocked":
 * invalid_request_error whatever the status). */
const char *reply_anthropic_type(int status, const char *code);

/* Writes the error body of style into out (emptied first). type and code
 * are OpenAI's (code NULL: null); the Anthropic shape derives its type
 * from status and code. Pure: no I/O. */
void reply_error_json(struct gw_buf *out, enum gw_error_style style, int status,
		      const char *type, const char *code, const char *message);

/* Sends an error answer of style. */
int reply_error_as(struct gw_reply *r, enum gw_error_style style, int status, const char *type,
		   const char *code, const char *message);

/* Sends {"error":{"message":M,"type":T,"code":C}} (code null when NULL). */
int reply_error(struct gw_reply *r, int status, const char *type, const char *code,
		const char *message);

/* Starts a streamed answer: status and headers now, body by reply_write. */
int reply_start(struct gw_reply *r, int status, const char *content_type);

/* Writes body bytes of a started answer; flushes them to the client when
 * flush is true. */
int reply_write(struct gw_reply *r, const void *p, size_t n, bool flush);

/* The reason phrase of an HTTP status. */
const char *reply_reason(int status);

#endif
