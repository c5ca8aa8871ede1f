/* cgi_main.c: aigw.cgi, the responder for plain CGI: one request, then exit. */
#include "cgi_io.h"
#include "serve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	struct gw_shared shared;
	struct gw_proc proc;
	struct gw_io io;

	signal(SIGPIPE, SIG_IGN);
	shared_init(&shared, getenv("AIGW_CONFIG"));
	proc_init(&proc, &shared);
	cgi_io_init(&io);
	serve(&proc, &io);
	fflush(stdout);
	proc_free(&proc);
	shared_free(&shared);
	return 0;
}
