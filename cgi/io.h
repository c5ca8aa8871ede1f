/* io.h: the request I/O a front end (plain CGI or FastCGI) gives the responder. */
#ifndef GW_IO_H
#define GW_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct gw_io {
	void *ctx;
	/* The CGI parameter name, or NULL. */
	const char *(*param)(void *ctx, const char *name);
	/* All parameters as a NULL-terminated "NAME=value" array. */
	char **(*params)(void *ctx);
	/* Reads up to n body bytes; 0 at the end, -1 on error. */
	ssize_t (*read)(void *ctx, char *buf, size_t n);
	/* Writes n bytes of the answer; 0, or -1 when the client is gone. */
	int (*write)(void *ctx, const void *buf, size_t n);
	/* Pushes what was written to the client now; 0 or -1. */
	int (*flush)(void *ctx);
	/* True when the client is known to have left (the server closed the
	 * connection); NULL: never known (plain CGI). Does not block. */
	bool (*gone)(void *ctx);
};

#endif
