/* cgi_main.c: aigw.cgi, the responder for plain CGI: one request, then exit. */
#include "cgi_io.h"
#include "serve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	struct gw_proc proc;
	struct gw_io io;

	signal(SIGPIPE, SIG_IGN);
	if (proc_init(&proc, getenv("AIGW_CONFIG")) < 0)
		return 1;
	cgi_io_init(&io);
	serve(&proc, &io);
	fflush(stdout);
	proc_free(&proc);
	return 0;
}
