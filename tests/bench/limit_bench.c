/* limit_bench.c: the cost of one admission in the file-locked limit store.
 *
 * One admission is limit_take() followed by limit_settle() on one scope
 * with a request window (query_per_hour) and a token window
 * (token_per_hour), as a worker does for a request: two lock/read/write
 * rounds on the scope's state file. The limits are far above what the run
 * uses, so every admission is admitted and writes.
 *
 * For each process count P (default 1 and 4), P processes fork()ed from
 * this one start together and each times ITER admissions (default 20000) on
 * the same scope, in one state directory: with P > 1 they contend for its
 * lock, as the workers of one consumer do. The median, 99th percentile,
 * mean and maximum are over all P * ITER samples; "adm/s" is P * ITER over
 * the wall time of the slowest process. With more processes than CPUs, a
 * process mostly waits for a CPU between its admissions, not inside them:
 * "adm/s" shows the contention better than the median does. Afterwards the scope's request counter
 * must equal P * ITER ("exact": yes), unless the hour rolled during the run.
 *
 * usage: limit-bench [-n ITER] [-p P[,P...]] [-d DIR]
 *   -d DIR   state directory parent (default $TMPDIR or /tmp); the run uses
 *            a fresh directory inside it and removes it afterwards
 * It prints figures; it is not a pass/fail test (exit 1 only on errors). */
#include "gw.h"
#include "limit.h"
#include "policy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONFIGS 8

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The sample at quantile q of sorted samples (nearest rank). */
static uint32_t quantile(const uint32_t *s, size_t n, double q)
{
	size_t rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return s[rank - 1];
}

/* One process's run: waits for the start signal on go_fd, then times iter
 * admissions into samples (nanoseconds); *elapsed_ns gets the whole run. */
static int run_one(const char *dir, const struct limit_scope *scope, long iter, int go_fd,
		   uint32_t *samples, int64_t *elapsed_ns)
{
	struct limit_store store;
	char c;
	int64_t start;
	int rc = 0;

	limit_store_init(&store, dir);
	if (read(go_fd, &c, 1) < 0) /* returns 0 (EOF) when the parent says go */
		rc = 1;
	start = mono_ns();
	for (long i = 0; i < iter && rc == 0; i++) {
		struct limit_verdict v;
		struct limit_ticket t;
		bool damaged;
		int64_t t0 = mono_ns(), now = wall_ms(), dt;

		if (limit_take(&store, scope, 1, now, 100, &v, &t, &damaged) != GW_OK ||
		    !v.admitted || damaged) {
			fprintf(stderr, "limit-bench: admission %ld failed (%s)\n", i,
				strerror(errno));
			rc = 1;
			break;
		}
		if (limit_settle(&store, &t, wall_ms(), 150, 0) != GW_OK) {
			fprintf(stderr, "limit-bench: settlement %ld failed (%s)\n", i,
				strerror(errno));
			rc = 1;
			break;
		}
		dt = mono_ns() - t0;
		samples[i] = dt > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
	}
	*elapsed_ns = mono_ns() - start;
	limit_store_close(&store);
	return rc;
}

/* path = dir/file; -1 if it does not fit. */
static int state_path(char *path, size_t size, const char *dir, const char *file)
{
	int n = snprintf(path, size, "%s/%s", dir, file);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int rm_state(const char *dir, const char *file)
{
	char path[4096];

	if (state_path(path, sizeof(path), dir, file) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Runs procs processes of iter admissions each; prints one table row. */
static int bench(const char *dir, const struct limit_scope *scope, int procs, long iter)
{
	size_t n = (size_t)procs * (size_t)iter;
	size_t bytes = n * sizeof(uint32_t) + (size_t)procs * sizeof(int64_t);
	uint32_t *samples;
	int64_t *elapsed, slowest = 0, start_ms, end_ms, hour_a, hour_b, end;
	int go[2], failed = 0;
	pid_t pids[64];
	struct limit_counters c;
	char path[4096];
	const char *exact;
	uint64_t sum = 0;

	if (rm_state(dir, scope->file) < 0) {
		perror("limit-bench: unlink");
		return 1;
	}
	samples = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (samples == MAP_FAILED) {
		perror("limit-bench: mmap");
		return 1;
	}
	elapsed = (int64_t *)(samples + n);
	if (pipe(go) < 0) {
		perror("limit-bench: pipe");
		return 1;
	}
	start_ms = wall_ms();
	for (int p = 0; p < procs; p++) {
		pids[p] = fork();
		if (pids[p] < 0) {
			perror("limit-bench: fork");
			failed = 1;
			procs = p;
			break;
		}
		if (pids[p] == 0) {
			close(go[1]);
			_exit(run_one(dir, scope, iter, go[0], samples + (size_t)p * (size_t)iter,
				      &elapsed[p]));
		}
	}
	close(go[0]);
	close(go[1]); /* go */
	for (int p = 0; p < procs; p++) {
		int status;
		while (waitpid(pids[p], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
		else if (elapsed[p] > slowest)
			slowest = elapsed[p];
	}
	end_ms = wall_ms();
	if (failed) {
		munmap(samples, bytes);
		return 1;
	}

	/* Exactness: every admission counted once in the hour window. */
	if (state_path(path, sizeof(path), dir, scope->file) < 0)
		path[0] = '\0';
	limit_window(GW_WIN_HOUR, start_ms, &hour_a, &end);
	limit_window(GW_WIN_HOUR, end_ms, &hour_b, &end);
	if (hour_a != hour_b)
		exact = "n/a (the hour rolled)";
	else if (limit_read_file(path, &c) < 0)
		exact = "NO (unreadable)";
	else if (c.query[GW_WIN_HOUR].used != (int64_t)n)
		exact = "NO";
	else if (c.token[GW_WIN_HOUR].reserved != 0 ||
		 c.token[GW_WIN_HOUR].used != (int64_t)n * 150)
		exact = "NO (tokens)";
	else
		exact = "yes";

	for (size_t i = 0; i < n; i++)
		sum += samples[i];
	qsort(samples, n, sizeof(*samples), cmp_u32);
	printf("%5d %9ld %9.1f %9.1f %9.1f %9.1f %9.0f   %s\n", procs, iter,
	       quantile(samples, n, 0.50) / 1000.0, quantile(samples, n, 0.99) / 1000.0,
	       (double)sum / (double)n / 1000.0, samples[n - 1] / 1000.0,
	       (double)n / ((double)slowest / 1e9), exact);
	if (strcmp(exact, "NO") == 0)
		printf("      counted %lld requests, expected %zu\n",
		       (long long)c.query[GW_WIN_HOUR].used, n);
	munmap(samples, bytes);
	return strncmp(exact, "NO", 2) == 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: limit-bench [-n ITER] [-p P[,P...]] [-d DIR]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long iter = 20000;
	int procs[MAX_CONFIGS] = { 1, 4 }, n_procs = 2, opt, rc = 0;
	const char *parent = getenv("TMPDIR");
	char dir[4096];
	struct gw_limits limits;
	struct limit_scope scope;

	if (!parent || !*parent)
		parent = "/tmp";
	while ((opt = getopt(argc, argv, "n:p:d:")) != -1) {
		char *s, *end;
		switch (opt) {
		case 'n':
			iter = strtol(optarg, &end, 10);
			if (*end || iter < 1 || iter > 10000000)
				usage();
			break;
		case 'p':
			n_procs = 0;
			for (s = optarg; *s; s = *end ? end + 1 : end) {
				long p = strtol(s, &end, 10);
				if (end == s || (*end && *end != ',') || p < 1 || p > 64 ||
				    n_procs == MAX_CONFIGS)
					usage();
				procs[n_procs++] = (int)p;
			}
			if (n_procs == 0)
				usage();
			break;
		case 'd':
			parent = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	snprintf(dir, sizeof(dir), "%s/limit-bench.XXXXXX", parent);
	if (!mkdtemp(dir)) {
		perror("limit-bench: mkdtemp");
		return 1;
	}
	memset(&limits, 0, sizeof(limits));
	limits.query[GW_WIN_HOUR] = 1000000000LL;
	limits.token[GW_WIN_HOUR] = 1000000000000LL;
	memset(&scope, 0, sizeof(scope));
	snprintf(scope.file, sizeof(scope.file), "c@bench");
	scope.limits = &limits;

	printf("limit_take + limit_settle, one scope with query_per_hour and "
	       "token_per_hour,\nstate files in %s; times in microseconds\n\n", parent);
	printf("%5s %9s %9s %9s %9s %9s %9s   %s\n", "procs", "iter/proc", "median", "p99",
	       "mean", "max", "adm/s", "exact");
	for (int i = 0; i < n_procs; i++)
		rc |= bench(dir, &scope, procs[i], iter);
	rm_state(dir, scope.file);
	rmdir(dir);
	return rc;
}
