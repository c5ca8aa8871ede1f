/* fcgi_main.c: aigw.fcgi, the FastCGI responder: the libfcgi accept loop
 * around the shared core. Started as plain CGI, it serves one request. */
#include "cgi_io.h"
#include "serve.h"

#include <fastcgi.h>
#include <fcgiapp.h>
#include <poll.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stopping;
static volatile sig_atomic_t reopen_logs;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending();
}

static void on_hup(int sig)
{
	(void)sig;
	reopen_logs = 1;
}

static const char *fcgi_param(void *ctx, const char *name)
{
	return FCGX_GetParam(name, ((FCGX_Request *)ctx)->envp);
}

static char **fcgi_params(void *ctx)
{
	return ((FCGX_Request *)ctx)->envp;
}

static ssize_t fcgi_read(void *ctx, char *buf, size_t n)
{
	FCGX_Request *rq = ctx;
	int got = FCGX_GetStr(buf, n > 1 << 30 ? 1 << 30 : (int)n, rq->in);
	if (got == 0 && FCGX_GetError(rq->in) != 0)
		return -1;
	return got;
}

static int fcgi_write(void *ctx, const void *buf, size_t n)
{
	FCGX_Request *rq = ctx;
	return FCGX_PutStr(buf, (int)n, rq->out) == (int)n ? 0 : -1;
}

static int fcgi_flush(void *ctx)
{
	return FCGX_FFlush(((FCGX_Request *)ctx)->out) == 0 ? 0 : -1;
}

/* Input the responder may discard to end a request quickly: past it, the
 * usual libfcgi close (shut down, then read until the server closes) stays. */
#define FAST_CLOSE_MAX_DRAIN 65536

/* libfcgi ends each connection by shutting down its side and reading until
 * the server closes, which keeps the process busy for a round trip per
 * request. That wait only protects against closing with unread input (the
 * kernel would answer it with a reset that can destroy the answer), so when
 * the request's input has been read to its end, the connection is closed
 * at once instead. */
static void prefer_fast_close(FCGX_Request *rq)
{
	char scratch[4096];
	size_t drained = 0;

	while (FCGX_HasSeenEOF(rq->in) != EOF && drained < FAST_CLOSE_MAX_DRAIN) {
		int n = FCGX_GetStr(scratch, sizeof(scratch), rq->in);
		if (n <= 0)
			break;
		drained += (size_t)n;
	}
	if (FCGX_HasSeenEOF(rq->in) == EOF && FCGX_GetError(rq->in) == 0)
		FCGX_Detach(rq);
}

/* Waits for the next connection, looking at the policy files once a second
 * meanwhile, so that an idle worker takes up an edit (a consumer taken out
 * of allow, say) before a later broken edit could freeze what it has. */
static void wait_for_connection(struct gw_proc *proc)
{
	struct pollfd pfd = { .fd = FCGI_LISTENSOCK_FILENO, .events = POLLIN };

	while (!stopping && poll(&pfd, 1, 1000) == 0)
		proc_refresh_policy(proc, time(NULL));
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* No SA_RESTART: SIGTERM must interrupt accept() so the loop ends. */
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

static int serve_cgi_once(struct gw_proc *proc)
{
	struct gw_io io;

	cgi_io_init(&io);
	serve(proc, &io);
	fflush(stdout);
	return 0;
}

int main(void)
{
	struct gw_proc proc;
	FCGX_Request rq;
	struct gw_io io = { .param = fcgi_param, .params = fcgi_params, .read = fcgi_read,
			    .write = fcgi_write, .flush = fcgi_flush };
	int rc = 0;

	install_signals();
	if (FCGX_Init() != 0) {
		fprintf(stderr, "aigw: cannot initialise libfcgi\n");
		return 1;
	}
	/* Read process-level settings before the first accept. */
	if (proc_init(&proc, getenv("AIGW_CONFIG")) < 0)
		return 1;
	proc.reopen_logs = &reopen_logs;
	if (FCGX_IsCGI()) {
		rc = serve_cgi_once(&proc);
		proc_free(&proc);
		return rc;
	}
	FCGX_InitRequest(&rq, 0, 0);
	io.ctx = &rq;
	for (;;) {
		if (rq.ipcFd < 0) /* no kept-alive connection with a request pending */
			wait_for_connection(&proc);
		if (stopping || FCGX_Accept_r(&rq) < 0)
			break;
		serve(&proc, &io);
		prefer_fast_close(&rq);
		FCGX_Finish_r(&rq);
	}
	FCGX_Free(&rq, 1);
	proc_free(&proc);
	return 0;
}
