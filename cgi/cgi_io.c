/* cgi_io.c: CGI request I/O over the environment, stdin and stdout. */
#include "cgi_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

static const char *cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static char **cgi_params(void *ctx)
{
	(void)ctx;
	return environ;
}

static ssize_t cgi_read(void *ctx, char *buf, size_t n)
{
	size_t got = fread(buf, 1, n, stdin);
	(void)ctx;
	if (got == 0 && ferror(stdin))
		return -1;
	return (ssize_t)got;
}

static int cgi_write(void *ctx, const void *buf, size_t n)
{
	(void)ctx;
	return fwrite(buf, 1, n, stdout) == n ? 0 : -1;
}

static int cgi_flush(void *ctx)
{
	(void)ctx;
	return fflush(stdout) == 0 ? 0 : -1;
}

void cgi_io_init(struct gw_io *io)
{
	io->ctx = NULL;
	io->param = cgi_param;
	io->params = cgi_params;
	io->read = cgi_read;
	io->write = cgi_write;
	io->flush = cgi_flush;
}
