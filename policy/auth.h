/* auth.h: maps a caller's API key to a consumer (Higress key-auth semantics),
 * and checks the admin key. Pure functions over the loaded policy. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

enum auth_verdict {
	AUTH_OK,          /* *out is the consumer */
	AUTH_NO_KEY,      /* no candidate key at all */
	AUTH_UNKNOWN_KEY, /* a key that matches no consumer */
	AUTH_MANY_KEYS,   /* different keys in different places: refused */
	AUTH_EXPIRED,     /* the key of a consumer whose expires day has come */
	AUTH__MAX
};

/* Finds the consumer whose credential equals the caller's key. candidates
 * are the key values found in the request (headers, query, Authorization:
 * Bearer); repeats of one value are fine, two different values are refused.
 * Each credential is compared through its SHA-256 in constant time, and every
 * consumer is compared, so timing does not tell which consumer matched. */
enum auth_verdict auth_lookup(const struct gw_policy *p, const char *const *candidates, size_t n,
			      const struct gw_consumer **out);

/* auth_lookup at now_ms (ms since the epoch; auth_lookup takes the clock):
 * a consumer's key is refused (AUTH_EXPIRED) from 00:00 UTC of its expires
 * day on; a rotated-out key (previous_credential_sha256) is accepted until
 * previous_valid_until. Every consumer's current and previous hash are
 * compared, matched or not. */
enum auth_verdict auth_lookup_at(const struct gw_policy *p, const char *const *candidates,
				 size_t n, int64_t now_ms, const struct gw_consumer **out);

/* True when key is the admin key. False when no admin key is configured. */
int auth_is_admin(const struct gw_policy *p, const char *key);

/* A short message for the client for each verdict. */
const char *auth_message(enum auth_verdict v);
/* The error code of a refusal: "key_expired" or "invalid_api_key". */
const char *auth_code(enum auth_verdict v);

#endif
