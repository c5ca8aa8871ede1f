/* testutil.h: helpers shared by the unit suites: temporary directories,
 * small file I/O, and assertions that print what they compared. */
#ifndef AIGW_UNIT_TESTUTIL_H
#define AIGW_UNIT_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stddef.h>

/* Registers a suite and its tests; a registration failure aborts the run.
 * A test marked known_bug asserts the behaviour its contract promises but the
 * code does not have yet (the comment above it says how): it is registered
 * inactive, so the run stays green and the summary counts it as inactive,
 * unless AIGW_UNIT_KNOWN_BUGS=1 is set in the environment. */
struct tu_test {
	const char *name;
	CU_TestFunc fn;
	bool known_bug;
};
void tu_register(const char *suite, CU_InitializeFunc init, CU_CleanupFunc cleanup,
		 const struct tu_test *tests, size_t n);

/* Creates a fresh directory /tmp/aigw-unit-XXXXXX and returns its name in a
 * new string (give it back to tu_tmpdir_remove). NULL on failure. */
char *tu_tmpdir_create(void);
/* Removes dir and everything under it, then frees the string. */
void tu_tmpdir_remove(char *dir);

/* dir "/" rel, in a new string the caller frees. */
char *tu_path(const char *dir, const char *rel);
/* Writes len bytes to path (creating parent directories); 0 or -1. */
int tu_write(const char *path, const void *data, size_t len);
int tu_write_str(const char *path, const char *text);
/* Reads a whole file into a new NUL-terminated string; NULL on failure. */
char *tu_read(const char *path, size_t *len);

/* A new buffer of exactly len bytes (no terminator), so reading past the end
 * is caught by the address sanitizer. */
char *tu_exact(const void *data, size_t len);

void tu_assert_str(const char *actual, const char *expected, const char *cond, unsigned line,
		   const char *file, const char *func);
void tu_assert_mem(const void *actual, size_t alen, const void *expected, size_t elen,
		   const char *cond, unsigned line, const char *file, const char *func);
void tu_assert_ll(long long actual, long long expected, const char *cond, unsigned line,
		  const char *file, const char *func);

#define TU_STR(actual, expected)                                                          \
	tu_assert_str((actual), (expected), #actual " == " #expected, __LINE__, __FILE__, \
		      __func__)
#define TU_MEM(actual, alen, expected, elen)                                              \
	tu_assert_mem((actual), (alen), (expected), (elen), #actual " == " #expected,     \
		      __LINE__, __FILE__, __func__)
#define TU_INT(actual, expected)                                                          \
	tu_assert_ll((long long)(actual), (long long)(expected), #actual " == " #expected, \
		     __LINE__, __FILE__, __func__)

#endif
