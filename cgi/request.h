/* request.h: one CGI/1.1 request as the responder sees it: method, paths,
 * canonical header lines and a bounded body. */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "io.h"

/* Header lines kept per request; more are refused with 431. */
#define REQUEST_MAX_HEADERS 100

struct gw_header {
	char *name;  /* canonical: "User-Agent", "X-Api-Key" */
	const char *value; /* borrowed from the front end's parameters */
	char *line;  /* "Name: value", for block_headers; see request_header_line */
	size_t line_len;
};

struct gw_request {
	struct gw_io *io;
	const char *method;      /* borrowed; "GET" when absent */
	const char *request_uri; /* raw path and query as sent; borrowed */
	char *path;              /* decoded path: SCRIPT_NAME + PATH_INFO; owned */
	const char *query;       /* QUERY_STRING; borrowed; "" when absent */
	const char *content_type;
	long long content_length; /* -1 when not given */
	struct gw_header *headers;
	size_t n_headers;
	bool too_many_headers;
	struct gw_buf body;
	bool body_read;
};

/* Fills req from the front end's parameters. Does not read the body. */
void request_init(struct gw_request *req, struct gw_io *io);

/* Reads the body, at most max bytes. Returns GW_OK, GW_ETOOBIG when the body
 * is (or says it is) larger than max, GW_EPARSE when the body is shorter than
 * its Content-Length or the length is malformed, GW_EIO on a read error. */
int request_read_body(struct gw_request *req, size_t max);

/* True when h is the header called name (any case, '-' or '_'). */
bool request_header_is(const struct gw_header *h, const char *name);

/* The value of a header by name (any case, '-' or '_'), or NULL. */
const char *request_header(const struct gw_request *req, const char *name);

/* The token of "Authorization: Bearer TOKEN", or NULL. */
const char *request_bearer(const struct gw_request *req);

/* Header i as a "Name: value" line, built on first use; owned by req. */
const char *request_header_line(struct gw_request *req, size_t i);

/* The total size of the header lines. */
size_t request_header_bytes(const struct gw_request *req);

void request_free(struct gw_request *req);

#endif
