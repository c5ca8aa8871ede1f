/* store_impl.h: what the two store backends share and how store.c opens
 * them; nothing outside policy/store*.c includes it. */
#ifndef GW_STORE_IMPL_H
#define GW_STORE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The file store in dir (created 0700 on first use). */
struct gw_store *store_file_open(const char *dir, unsigned hold_ms);

/* The Redis store at host:port, database db; every call is bounded by
 * timeout_ms. Connects on first use. */
struct gw_store *store_redis_open(const char *host, int port, int db, long timeout_ms);

/* A file name for any key (it may hold any bytes, a client's among them):
 * letters, digits, '-', '_' and a '.' not first are kept, every other byte
 * is written %XX; a name that would pass STORE_NAME_MAX - 1 bytes becomes '~'
 * and the hex SHA-256 of the key. Distinct keys get distinct names. */
#define STORE_NAME_MAX 208
void store_file_name(const char *key, char out[STORE_NAME_MAX]);

/* A time-to-live bounded to [1 ms, 400 days]. */
int64_t store_ttl(int64_t ttl_ms);

/* The largest value put accepts, and the most slots a scope may have. */
#define STORE_VALUE_MAX 4096
#define STORE_SLOTS_MAX 4096

/* Writes a failure into s->err and returns rc. */
int store_fail(struct gw_store *s, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
