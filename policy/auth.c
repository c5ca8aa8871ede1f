/* auth.c: API key to consumer mapping, compared in constant time. */
#include "auth.h"
#include "digest.h"

#include <string.h>

static const char *const auth_messages[AUTH__MAX] = {
	"ok",                                                        /* AUTH_OK */
	"Missing API key: send it as Authorization: Bearer KEY",     /* AUTH_NO_KEY */
	"Invalid API key",                                           /* AUTH_UNKNOWN_KEY */
	"More than one API key in the request",                      /* AUTH_MANY_KEYS */
};

const char *auth_message(enum auth_verdict v)
{
	return (unsigned)v < AUTH__MAX ? auth_messages[v] : "unauthorized";
}

enum auth_verdict auth_lookup(const struct gw_policy *p, const char *const *candidates, size_t n,
			      const struct gw_consumer **out)
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
		if (gw_memeq_ct(digest, c->credential_sha256, SHA256_LEN) &&
		    !found)
			found = c;
	}
	if (!found)
		return AUTH_UNKNOWN_KEY;
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
