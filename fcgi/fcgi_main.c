/* fcgi_main.c: aigw.fcgi, the FastCGI responder: worker threads, each in
 * libfcgi's accept loop around the shared core ([gateway] threads of them,
 * fixed at start). Started as plain CGI, it serves one request. */
#include "cgi_io.h"
#include "exchange.h"
#include "gw.h"
#include "serve.h"

#include <curl/curl.h>
#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <poll.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A worker's stack: the deepest the responder goes (JSON nested 64 deep in
 * json-c and the usage scanner, a policy reload, a TLS handshake) uses a
 * small part of it; untouched pages cost no memory. */
#define WORKER_STACK (256 * 1024)

/* How long SIGTERM waits for requests in flight before the process exits. */
#define STOP_GRACE_S 10

/* How often the main thread looks at the policy files while it waits for
 * signals, and how often it wakes idle workers once stopping. */
#define TICK_MS 1000
#define WAKE_MS 100

struct pool;

struct worker {
	pthread_t tid;
	bool started;
	atomic_bool idle; /* in accept: may be woken by SIGUSR2 when stopping */
	atomic_bool done;
	pthread_cond_t turn; /* signalled when this worker is called to be the deck */
	bool promoted;
	bool via_timer; /* became the acceptor when the deck's timer ran out */
	struct pool *pool;
	struct gw_proc proc;
	FCGX_Request rq;
	struct gw_io io;
};

/* SIGUSR2 only interrupts a worker's accept (installed without SA_RESTART). */
static void on_wake(int sig)
{
	(void)sig;
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

/* The server closed the connection (its client left): poll, never blocks. */
static bool fcgi_gone(void *ctx)
{
	FCGX_Request *rq = ctx;
	struct pollfd pfd = { .fd = rq->ipcFd, .events = POLLRDHUP };

	if (rq->ipcFd < 0)
		return false;
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
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

/* Idle workers take turns so that a busy process wakes as few threads as
 * it can. One worker waits in accept() (the acceptor); one waits on a timer
 * (the deck); the others wait on a stack, most recently idle on top. When
 * the acceptor takes a connection, the timer starts: a worker that ends its
 * request within DECK_DELAY_MS accepts again itself, so a connection coming
 * meanwhile waits in the kernel's queue (or goes to another process) for a
 * warm thread instead of waking a cold one, as one thread per process would.
 * When the timer runs out first (a stream, a slow upstream), the deck becomes
 * the acceptor and the top of the stack the deck; while connections are
 * queued, each acceptor that came off the timer passes the turn on at once,
 * so a burst of streams is taken up without waiting DECK_DELAY_MS each. */
#define DECK_DELAY_MS 1

struct pool {
	pthread_mutex_t mu;
	bool acceptor;        /* a worker is in (or on its way to) accept() */
	struct worker *deck;  /* the worker waiting on the timer */
	bool deck_called;     /* the top of the stack was woken to be it */
	struct worker **idle; /* the stack */
	int n_idle;
	int timer;             /* timerfd: runs while nobody accepts */
	atomic_bool *stopping; /* the process's: SIGTERM */
};

/* Starts the timer to run out after ns nanoseconds (0 stops it). */
static void set_timer(struct pool *p, long ns)
{
	struct itimerspec its = { .it_value = { ns / 1000000000L, ns % 1000000000L } };
	timerfd_settime(p->timer, 0, &its, NULL);
}

/* True when the listening socket has a connection queued. */
static bool connection_queued(void)
{
	struct pollfd pfd = { .fd = FCGI_LISTENSOCK_FILENO, .events = POLLIN };
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/* The deck's wait, unlocked: until the timer runs out or a signal (SIGUSR2
 * when stopping) interrupts. True when the timer ran out. */
static bool deck_wait(struct pool *p, struct worker *w)
{
	struct pollfd pfd = { .fd = p->timer, .events = POLLIN };
	uint64_t expired = 0;

	atomic_store(&w->idle, true);
	if (!atomic_load(p->stopping) && poll(&pfd, 1, -1) == 1 &&
	    read(p->timer, &expired, sizeof(expired)) != (ssize_t)sizeof(expired))
		expired = 0;
	atomic_store(&w->idle, false);
	return expired > 0;
}

/* Wakes the top of the stack to become the deck (the caller holds mu). */
static void call_deck(struct pool *p)
{
	if (!p->deck && !p->deck_called && p->n_idle > 0) {
		struct worker *next = p->idle[--p->n_idle];
		next->promoted = true;
		p->deck_called = true;
		pthread_cond_signal(&next->turn);
	}
}

/* Waits until w may accept: at once when nobody accepts, else as the deck
 * or on the stack. Returns false when stopping. */
static bool wait_turn(struct pool *p, struct worker *w)
{
	bool woken = false;

	pthread_mutex_lock(&p->mu);
	while (!atomic_load(p->stopping)) {
		if (!p->acceptor) {
			/* a worker woken to be the deck found nobody accepting:
			 * the acceptor was slow, as when the timer runs out */
			p->acceptor = true;
			w->via_timer = woken;
			set_timer(p, 0);
			call_deck(p);
			pthread_mutex_unlock(&p->mu);
			return true;
		}
		if (!p->deck) {
			bool ran_out;
			p->deck = w;
			pthread_mutex_unlock(&p->mu);
			ran_out = deck_wait(p, w);
			pthread_mutex_lock(&p->mu);
			p->deck = NULL;
			if (ran_out && !p->acceptor && !atomic_load(p->stopping)) {
				p->acceptor = true;
				w->via_timer = true;
				call_deck(p);
				pthread_mutex_unlock(&p->mu);
				return true;
			}
			continue; /* the acceptor is back (or stopping): again */
		}
		w->promoted = false;
		p->idle[p->n_idle++] = w;
		while (!w->promoted && !atomic_load(p->stopping))
			pthread_cond_wait(&w->turn, &p->mu);
		woken = w->promoted;
		if (woken)
			p->deck_called = false;
		if (!w->promoted) /* stopping: off the stack */
			for (int i = 0; i < p->n_idle; i++)
				if (p->idle[i] == w)
					p->idle[i] = p->idle[--p->n_idle];
	}
	pthread_mutex_unlock(&p->mu);
	return false;
}

/* The acceptor got a connection (or gave up): the deck's timer starts, and
 * runs out at once when w came off the timer and more connections wait. */
static void pass_turn(struct pool *p, struct worker *w)
{
	bool burst = w->via_timer && connection_queued();

	pthread_mutex_lock(&p->mu);
	p->acceptor = false;
	set_timer(p, burst ? 1 : DECK_DELAY_MS * 1000000L);
	call_deck(p); /* someone must be there when it runs out */
	pthread_mutex_unlock(&p->mu);
}

/* Accepts the next request: a new connection (in turn, see struct pool),
 * or the next request of a connection the server kept open. */
static int accept_request(struct pool *p, struct worker *w)
{
	int rc;

	if (w->rq.ipcFd >= 0) /* a kept-alive connection: read its next request */
		return atomic_load(p->stopping) ? -1 : FCGX_Accept_r(&w->rq);
	if (!wait_turn(p, w))
		return -1;
	atomic_store(&w->idle, true);
	rc = atomic_load(p->stopping) ? -1 : FCGX_Accept_r(&w->rq);
	atomic_store(&w->idle, false);
	pass_turn(p, w);
	return rc; /* a request accepted while stopping is still served */
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (accept_request(w->pool, w) >= 0) {
		serve(&w->proc, &w->io);
		prefer_fast_close(&w->rq);
		FCGX_Finish_r(&w->rq);
	}
	atomic_store(&w->done, true);
	return NULL;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_wake; /* no SA_RESTART: accept() returns EINTR */
	sigaction(SIGUSR2, &sa, NULL);
}

static int serve_cgi_once(struct gw_shared *sh)
{
	struct gw_proc proc;
	struct gw_io io;

	proc_init(&proc, sh);
	cgi_io_init(&io);
	serve(&proc, &io);
	fflush(stdout);
	proc_free(&proc);
	return 0;
}

/* [gateway] threads of the policy in force at start (a change takes effect
 * on restart); AIGW_TEST_THREADS overrides it for the test suite. */
static int thread_count(struct gw_shared *sh)
{
	const char *t = getenv("AIGW_TEST_THREADS");
	struct gw_policy_ref *ref;
	int n = 64;

	if (t && atoi(t) > 0)
		return atoi(t) > 4096 ? 4096 : atoi(t);
	ref = shared_policy_get(sh);
	if (ref)
		n = ref->policy->threads;
	shared_policy_put(ref);
	return n;
}

static bool start_worker(struct worker *w, struct gw_shared *sh, struct pool *pool,
			 const pthread_attr_t *attr)
{
	proc_init(&w->proc, sh);
	w->pool = pool;
	pthread_cond_init(&w->turn, NULL);
	FCGX_InitRequest(&w->rq, 0, FCGI_FAIL_ACCEPT_ON_INTR);
	w->io = (struct gw_io){ .ctx = &w->rq, .param = fcgi_param, .params = fcgi_params,
				.read = fcgi_read, .write = fcgi_write, .flush = fcgi_flush,
				.gone = fcgi_gone };
	w->started = pthread_create(&w->tid, attr, worker_main, w) == 0;
	return w->started;
}

/* Waits for SIGTERM (or SIGINT), taking SIGHUP and SIGUSR1 (reopen the
 * usage logs) on the way and looking at the policy files once a second,
 * so that idle workers take up an edit before a later broken edit could
 * freeze what they have. */
static void main_loop(struct gw_shared *sh, const sigset_t *handled)
{
	while (!atomic_load(&sh->stopping)) {
		struct timespec tick = { TICK_MS / 1000, (TICK_MS % 1000) * 1000000L };
		int sig = sigtimedwait(handled, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT) {
			atomic_store(&sh->stopping, true);
			FCGX_ShutdownPending();
		} else if (sig == SIGHUP || sig == SIGUSR1) {
			atomic_fetch_add(&sh->reopen_gen, 1);
		}
		shared_refresh(sh, time(NULL));
	}
}

/* Stopping: wakes the workers waiting in accept (again every WAKE_MS, as
 * one may be just about to call it) and waits up to STOP_GRACE_S for
 * requests in flight. Returns true when every worker ended. */
static bool stop_workers(struct pool *p, struct worker *w, int n)
{
	struct timespec now, until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += STOP_GRACE_S;
	for (;;) {
		int running = 0;
		pthread_mutex_lock(&p->mu);
		for (int i = 0; i < p->n_idle; i++)
			pthread_cond_signal(&p->idle[i]->turn);
		set_timer(p, 1); /* the deck */
		pthread_mutex_unlock(&p->mu);
		for (int i = 0; i < n; i++) {
			if (!w[i].started || atomic_load(&w[i].done))
				continue;
			running++;
			if (atomic_load(&w[i].idle))
				pthread_kill(w[i].tid, SIGUSR2);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (running == 0 || now.tv_sec > until.tv_sec ||
		    (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
			break;
		nanosleep(&(struct timespec){ 0, WAKE_MS * 1000000L }, NULL);
	}
	for (int i = 0; i < n; i++) {
		if (!w[i].started)
			continue;
		if (!atomic_load(&w[i].done))
			return false;
		pthread_join(w[i].tid, NULL);
	}
	return true;
}

/* Starts the workers with the process's signals blocked in every thread
 * (the main thread takes them synchronously), runs until SIGTERM, then
 * stops them. Returns true when every worker ended. */
static bool run_workers(struct gw_shared *sh, struct worker *w, int n, int timer)
{
	sigset_t handled;
	pthread_attr_t attr;
	struct pool pool = { .idle = gw_calloc((size_t)n, sizeof(struct worker *)),
			     .timer = timer,
			     .stopping = &sh->stopping };
	int started = 0;
	bool all;

	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGHUP);
	sigaddset(&handled, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &handled, NULL);
	pthread_mutex_init(&pool.mu, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	for (int i = 0; i < n; i++)
		started += start_worker(&w[i], sh, &pool, &attr);
	pthread_attr_destroy(&attr);
	if (started < n)
		gw_log("started %d of %d worker threads", started, n);
	if (started > 0)
		main_loop(sh, &handled);
	all = stop_workers(&pool, w, n);
	if (all) { /* else threads may still use the pool: the process exits */
		pthread_mutex_destroy(&pool.mu);
		free(pool.idle);
	}
	return all;
}

int main(void)
{
	static struct gw_shared shared;
	struct worker *workers;
	int n, timer;

	install_signals();
	if (FCGX_Init() != 0) {
		fprintf(stderr, "aigw: cannot initialise libfcgi\n");
		return 1;
	}
	/* Read process-level settings before the first accept. */
	shared_init(&shared, getenv("AIGW_CONFIG"));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		gw_log("cannot initialise libcurl");
		return 1;
	}
	if (FCGX_IsCGI()) {
		int rc = serve_cgi_once(&shared);
		shared_free(&shared);
		return rc;
	}
	n = thread_count(&shared);
	timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (timer < 0) {
		gw_log("cannot create a timer: %s", strerror(errno));
		return 1;
	}
	workers = gw_calloc((size_t)n, sizeof(*workers));
	if (!run_workers(&shared, workers, n, timer)) {
		gw_log("stopping with requests still in flight after %d s", STOP_GRACE_S);
		fflush(NULL);
		_exit(0);
	}
	for (int i = 0; i < n; i++) {
		FCGX_Free(&workers[i].rq, 1);
		proc_free(&workers[i].proc);
	}
	free(workers);
	close(timer);
	shared_free(&shared);
	return 0;
}
