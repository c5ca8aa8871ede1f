/* auth.c: API key to consumer mapping, compared in constant time. */
#include "auth.h"
#include "digest.h"

#include <string.h>
#include <time.h>

static const char *const auth_messages[AUTH__MAX] = {
	"ok",                                                        /* AUTH_OK */
	"Missing API key: send it as Authorization: Bearer KEY",     /* AUTH_NO_KEY */
	"Invalid API key",                                           /* AUTH_UNKNOWN_KEY */
	"More than one API key in the request",                      /* AUTH_MANY_KEYS */
	"This API key has expired: ask for a new one",               /* AUTH_EXPIRED */
};

const char *auth_message(enum auth_verdict v)
{
	return (unsigned)v < AUTH__MAX ? auth_messages[v] : "unauthorized";
}

const char *auth_code(enum auth_verdict v)
{
	return v == AUTH_EXPIRED ? "key_expired" : "invalid_api_key";
}

enum auth_verdict auth_lookup(const struct gw_policy *p, const char *const *candidates, size_t n,
			      const struct gw_consumer **out)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return auth_lookup_at(p, candidates, n, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			      out);
}

enum auth_verdict auth_lookup_at(const struct gw_policy *p, const char *const *candidates,
				 size_t n, int64_t now_ms, const struct gw_consumer **out)
{
	const char *key = NULL;
	unsigned char digest[SHA256_LEN];
	const struct gw_consumer *found = NULL;

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!candidates[i] || !*candidates[i])
			continue;
		if (key && strcmp(key, candidates[i]) != 0)
			return AUTH_MANY_KEYS;
		key = candidates[i];
	}
	if (!key)
		return AUTH_NO_KEY;
	gw_sha256(key, strlen(key), digest);
	for (size_t i = 0; i < p->n_consumers; i++) {
		const struct gw_consumer *c = p->consumers[i];
		bool now = gw_memeq_ct(digest, c->credential_sha256, SHA256_LEN);
		bool before = gw_memeq_ct(digest, c->previous_sha256, SHA256_LEN);
		if ((now || (before && c->has_previous && now_ms < c->previous_until_ms)) && !found)
			found = c;
	}
	if (!found)
		return AUTH_UNKNOWN_KEY;
	if (found->expires_ms && now_ms >= found->expires_ms)
		return AUTH_EXPIRED;
	*out = found;
	return AUTH_OK;
}

int auth_is_admin(const struct gw_policy *p, const char *key)
{
	unsigned char digest[SHA256_LEN];

	if (!p->has_admin_sha256 || !key || !*key)
		return 0;
	gw_sha256(key, strlen(key), digest);
	return gw_memeq_ct(digest, p->admin_sha256, SHA256_LEN);
}
