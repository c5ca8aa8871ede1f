/* testutil.c: temporary directories, file helpers and printing assertions. */
#include "testutil.h"

#include <CUnit/TestDB.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tu_register(const char *suite, CU_InitializeFunc init, CU_CleanupFunc cleanup,
		 const struct tu_test *tests, size_t n)
{
	CU_pSuite s = CU_add_suite(suite, init, cleanup);
	const char *env = getenv("AIGW_UNIT_KNOWN_BUGS");
	bool run_known = env && strcmp(env, "1") == 0;

	if (!s) {
		fprintf(stderr, "cannot add suite %s: %s\n", suite, CU_get_error_msg());
		exit(2);
	}
	for (size_t i = 0; i < n; i++) {
		CU_pTest t = CU_add_test(s, tests[i].name, tests[i].fn);
		if (!t) {
			fprintf(stderr, "cannot add test %s/%s: %s\n", suite, tests[i].name,
				CU_get_error_msg());
			exit(2);
		}
		if (tests[i].known_bug && !run_known)
			CU_set_test_active(t, CU_FALSE);
	}
}

char *tu_tmpdir_create(void)
{
	char tmpl[] = "/tmp/aigw-unit-XXXXXX";
	char *dir = mkdtemp(tmpl);

	return dir ? strdup(dir) : NULL;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

void tu_tmpdir_remove(char *dir)
{
	if (!dir)
		return;
	/* Only ever a directory this helper made. */
	if (strncmp(dir, "/tmp/aigw-unit-", 15) == 0)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

char *tu_path(const char *dir, const char *rel)
{
	size_t a = strlen(dir), b = strlen(rel);
	char *p = malloc(a + b + 2);

	if (!p)
		abort();
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, rel, b + 1);
	return p;
}

static void make_parents(const char *path)
{
	char *copy = strdup(path);

	if (!copy)
		abort();
	for (char *s = copy + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(copy, 0700);
			*s = '/';
		}
	}
	free(copy);
}

int tu_write(const char *path, const void *data, size_t len)
{
	int fd;
	const char *p = data;

	make_parents(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

int tu_write_str(const char *path, const char *text)
{
	return tu_write(path, text, strlen(text));
}

char *tu_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			data = realloc(data, cap + 1);
			if (!data)
				abort();
		}
		size_t got = fread(data + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	data[n] = '\0';
	if (len)
		*len = n;
	return data;
}

char *tu_exact(const void *data, size_t len)
{
	char *p = malloc(len ? len : 1);

	if (!p)
		abort();
	if (len)
		memcpy(p, data, len);
	return p;
}

/* Prints a possibly binary string readably, cut after 200 bytes. */
static void show(FILE *f, const char *s, size_t n)
{
	if (!s) {
		fputs("(null)", f);
		return;
	}
	fputc('"', f);
	for (size_t i = 0; i < n && i < 200; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	fputs(n > 200 ? "\"..." : "\"", f);
}

void tu_assert_str(const char *actual, const char *expected, const char *cond, unsigned line,
		   const char *file, const char *func)
{
	bool ok = actual && expected && strcmp(actual, expected) == 0;

	if (!ok) {
		fprintf(stderr, "\n    %s:%u: got ", file, line);
		show(stderr, actual, actual ? strlen(actual) : 0);
		fputs(", expected ", stderr);
		show(stderr, expected, expected ? strlen(expected) : 0);
		fputc('\n', stderr);
	}
	CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, cond, file, func, CU_FALSE);
}

void tu_assert_mem(const void *actual, size_t alen, const void *expected, size_t elen,
		   const char *cond, unsigned line, const char *file, const char *func)
{
	bool ok = actual && expected && alen == elen && memcmp(actual, expected, alen) == 0;

	if (!ok) {
		fprintf(stderr, "\n    %s:%u: got ", file, line);
		show(stderr, actual, alen);
		fprintf(stderr, " (%zu bytes), expected ", alen);
		show(stderr, expected, elen);
		fprintf(stderr, " (%zu bytes)\n", elen);
	}
	CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, cond, file, func, CU_FALSE);
}

void tu_assert_ll(long long actual, long long expected, const char *cond, unsigned line,
		  const char *file, const char *func)
{
	bool ok = actual == expected;

	if (!ok)
		fprintf(stderr, "\n    %s:%u: got %lld, expected %lld\n", file, line, actual,
			expected);
	CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, cond, file, func, CU_FALSE);
}
