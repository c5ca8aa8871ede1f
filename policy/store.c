/* store.c: opens the store a policy names, and what both backends share. */
#include "store.h"
#include "gw.h"
#include "digest.h"
#include "store_impl.h"
#include "str.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct gw_store *store_open(const struct gw_policy *p, unsigned hold_ms)
{
	if (p->redis_host)
		return store_redis_open(p->redis_host, p->redis_port, p->redis_db,
					(long)p->store_timeout_ms);
	return store_file_open(p->state_dir, hold_ms);
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool store_serves(const struct gw_policy *was, const struct gw_policy *p)
{
	if (!was || !p || !same_str(was->redis_host, p->redis_host))
		return false;
	if (p->redis_host)
		return was->redis_port == p->redis_port && was->redis_db == p->redis_db &&
		       was->store_timeout_ms == p->store_timeout_ms;
	return same_str(was->state_dir, p->state_dir);
}

void store_close(struct gw_store *s)
{
	if (s)
		s->ops->close(s);
}

static bool name_char(unsigned char c, size_t at)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || (c == '.' && at > 0);
}

void store_file_name(const char *key, char out[STORE_NAME_MAX])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; key[i]; i++) {
		unsigned char c = (unsigned char)key[i];
		if (o + 4 > STORE_NAME_MAX)
			goto hash;
		if (name_char(c, i)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o == 0)
		out[o++] = '%'; /* the empty key: a name no other key gets */
	out[o] = '\0';
	return;
hash:;
	unsigned char d[SHA256_LEN];
	gw_sha256(key, strlen(key), d);
	out[0] = '~';
	str_hex_encode(d, SHA256_LEN, out + 1);
}

int64_t store_ttl(int64_t ttl_ms)
{
	const int64_t most = 400LL * 86400 * 1000;
	return ttl_ms < 1 ? 1 : ttl_ms > most ? most : ttl_ms;
}

int store_fail(struct gw_store *s, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return rc;
}
