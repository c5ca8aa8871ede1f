/* fuzz_policy.c: libFuzzer target for the policy loader (policy/policy_load.c and the rest of the loader):
 * each input is written to a policy file and loaded with policy_load(); a
 * valid policy is then asked for routes, and everything is freed.
 *
 * The policy file lives in a directory of its own, /tmp/aigw-fuzz-policy.PID,
 * made once per process (and removed at exit, or by the next run when this
 * one crashed). The loader opens other files (include globs,
 * api_key_file), so policy_load.c is compiled into this file with fopen() and
 * glob() replaced by versions that only reach inside that directory: a
 * mutated "include = /dev/..." must not block on a terminal, read /proc/kmsg
 * or walk the whole file system. */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static FILE *sandbox_fopen(const char *path, const char *mode);
static int sandbox_glob(const char *pattern, int flags, int (*errfunc)(const char *, int),
			glob_t *g);

#define fopen sandbox_fopen
#define glob sandbox_glob
#include "../../policy/policy_load.c"
#undef fopen
#undef glob

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char file[96];
static size_t dir_len;

/* True if path names something inside dir (no "..": it cannot climb out). */
static bool inside(const char *path)
{
	return strncmp(path, dir, dir_len) == 0 && path[dir_len] == '/' && !strstr(path, "/..");
}

static FILE *sandbox_fopen(const char *path, const char *mode)
{
	if (!inside(path)) {
		errno = EACCES;
		return NULL;
	}
	return fopen(path, mode);
}

static int sandbox_glob(const char *pattern, int flags, int (*errfunc)(const char *, int),
			glob_t *g)
{
	if (!inside(pattern)) {
		memset(g, 0, sizeof(*g)); /* as glob() leaves it on GLOB_NOMATCH */
		return GLOB_NOMATCH;
	}
	return glob(pattern, flags, errfunc, g);
}

static void cleanup(void)
{
	unlink(file);
	rmdir(dir);
}

/* A run that crashed left its directory behind: remove those whose
 * process is gone. */
static void remove_stale(void)
{
	DIR *d = opendir("/tmp");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end, path[300];
		long pid;

		if (strncmp(e->d_name, "aigw-fuzz-policy.", 17) != 0)
			continue;
		errno = 0;
		pid = strtol(e->d_name + 17, &end, 10);
		if (errno || *end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/tmp/%s/aigw.ini", e->d_name);
		unlink(path);
		snprintf(path, sizeof(path), "/tmp/%s", e->d_name);
		rmdir(path);
	}
	closedir(d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	remove_stale();
	snprintf(dir, sizeof(dir), "/tmp/aigw-fuzz-policy.%ld", (long)getpid());
	dir_len = strlen(dir);
	snprintf(file, sizeof(file), "%s/aigw.ini", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		perror(dir);
		abort();
	}
	atexit(cleanup);
	/* The example policy reads its upstream key from the environment. */
	setenv("OPENAI_API_KEY", "sk-fuzz", 0);
	return 0;
}

static void write_policy(const uint8_t *data, size_t size)
{
	FILE *f = fopen(file, "wb");

	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
		perror(file);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {
		"/", "", "/v1", "/v1/", "/v1/chat/completions", "/chat", "/chat/x", "/chatx",
		"/a/b/c/d", "//", "/api",
	};
	struct gw_diag diag = { 0 };
	struct gw_policy *p;

	write_policy(data, size);
	p = policy_load(file, &diag);
	if (!p)
		abort();
	if (p->valid != (diag.n_errors == 0))
		abort();
	for (size_t i = 0; i < diag.n; i++)
		if (!diag.msgs[i])
			abort();
	if (p->valid) {
		for (size_t i = 0; i < GW_ARRAY_LEN(paths); i++) {
			const struct gw_route *r = policy_route(p, paths[i]);
			if (r && (!r->path || !r->upstream || !r->prompt_param))
				abort();
		}
		for (size_t i = 0; i < p->n_routes; i++) {
			const struct gw_route *r = policy_route(p, p->routes[i]->path);
			if (r != p->routes[i])
				abort(); /* paths are unique: a route's own path finds it */
		}
		for (size_t i = 0; i < p->n_consumers; i++)
			if (policy_consumer(p, p->consumers[i]->name) == NULL)
				abort();
		for (size_t i = 0; i < p->n_upstreams; i++)
			if (policy_upstream(p, p->upstreams[i]->name) == NULL)
				abort();
		for (size_t i = 0; i < p->n_models; i++)
			if (policy_model(p, p->models[i]->name) == NULL)
				abort();
		(void)policy_model(p, "gpt-4o-mini");
		(void)policy_model(p, NULL);
	}
	(void)policy_changed(p);
	policy_free(p);
	diag_free(&diag);
	return 0;
}
