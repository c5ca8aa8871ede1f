/* test_auth.c: policy/auth.h (API key to consumer, admin key). */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "gw.h"
#include "policy.h"
#include "digest.h"
#include "str.h"
#include "suites.h"
#include "testutil.h"

static char *g_dir;
static struct gw_policy *g_pol;      /* consumers, admin_key */
static struct gw_policy *g_pol_hash; /* admin_key_sha256 */
static struct gw_policy *g_pol_none; /* no admin key, no consumers */
static struct gw_policy *g_pol_keys; /* expires, a rotated key */

static char *hex_sha256(const char *s)
{
	unsigned char h[SHA256_LEN];
	char *hex = gw_malloc(2 * SHA256_LEN + 1);

	gw_sha256(s, strlen(s), h);
	str_hex_encode(h, SHA256_LEN, hex);
	return hex;
}

static struct gw_policy *load(const char *name, const char *text)
{
	struct gw_diag d = { 0 };
	char *path = tu_path(g_dir, name);
	struct gw_policy *p = NULL;

	if (tu_write_str(path, text) == 0) {
		p = policy_load(path, &d);
		if (!p->valid) {
			for (size_t i = 0; i < d.n; i++)
				fprintf(stderr, "%s\n", d.msgs[i]);
			policy_free(p);
			p = NULL;
		}
	}
	diag_free(&d);
	free(path);
	return p;
}

static int auth_init(void)
{
	char *two = NULL, *admin = NULL, *text = NULL, *text2 = NULL;

	g_dir = tu_tmpdir_create();
	if (!g_dir)
		return -1;
	two = hex_sha256("key-two");
	admin = hex_sha256("hashed-admin-key");
	text = gw_asprintf("[gateway]\nadmin_key = plain-admin-key\n"
			   "[upstream up]\nurl = http://127.0.0.1:9\n"
			   "[route r]\npath = /\n"
			   "[consumer one]\ncredential = key-one\n"
			   "[consumer two]\ncredential_sha256 = %s\n"
			   "[consumer odd]\ncredential = q\"uo'te\\back\n",
			   two);
	text2 = gw_asprintf("[gateway]\nadmin_key_sha256 = %s\n"
			    "[upstream up]\nurl = http://127.0.0.1:9\n"
			    "[route r]\npath = /\n",
			    admin);
	g_pol = load("auth.ini", text);
	g_pol_hash = load("auth-hash.ini", text2);
	g_pol_none = load("auth-none.ini", "[upstream up]\nurl = http://127.0.0.1:9\n"
					   "[route r]\npath = /\n");
	free(text);
	{
		char *nw = hex_sha256("key-new"), *old = hex_sha256("key-old");
		char *o2 = hex_sha256("key-old2"), *n2 = hex_sha256("key-new2");
		text = gw_asprintf("[upstream up]\nurl = http://127.0.0.1:9\n[route r]\npath = /\n"
				   "[consumer exp]\ncredential = key-exp\nexpires = 2026-12-10\n"
				   "[consumer rot]\ncredential_sha256 = %s\n"
				   "previous_credential_sha256 = %s\n"
				   "previous_valid_until = 2026-12-06T12:00:00Z\n"
				   "[consumer both]\ncredential_sha256 = %s\n"
				   "previous_credential_sha256 = %s\n"
				   "previous_valid_until = 2026-12-06T12:00:00Z\n"
				   "expires = 2026-12-10\n",
				   nw, old, n2, o2);
		free(nw);
		free(old);
		free(o2);
		free(n2);
	}
	g_pol_keys = load("auth-keys.ini", text);
	free(two);
	free(admin);
	free(text);
	free(text2);
	return g_pol && g_pol_hash && g_pol_none && g_pol_keys ? 0 : -1;
}

static int auth_cleanup(void)
{
	policy_free(g_pol);
	policy_free(g_pol_hash);
	policy_free(g_pol_none);
	policy_free(g_pol_keys);
	g_pol = g_pol_hash = g_pol_none = g_pol_keys = NULL;
	tu_tmpdir_remove(g_dir);
	g_dir = NULL;
	return 0;
}

#define NCAND(a) (sizeof(a) / sizeof((a)[0]))

static enum auth_verdict lookup(const char *const *cands, size_t n, const struct gw_consumer **out)
{
	static const struct gw_consumer stale;

	*out = &stale; /* a stale value that every verdict must overwrite */
	return auth_lookup(g_pol, cands, n, out);
}

static void test_credential(void)
{
	const struct gw_consumer *c;
	const char *k[] = { "key-one" };

	CU_ASSERT_EQUAL(lookup(k, 1, &c), AUTH_OK);
	CU_ASSERT_PTR_EQUAL(c, policy_consumer(g_pol, "one"));
}

static void test_credential_sha256(void)
{
	const struct gw_consumer *c;
	const char *k[] = { "key-two" };

	CU_ASSERT_EQUAL(lookup(k, 1, &c), AUTH_OK);
	CU_ASSERT_PTR_EQUAL(c, policy_consumer(g_pol, "two"));
	CU_ASSERT_PTR_NULL(policy_consumer(g_pol, "two")->credential);
}

static void test_no_key(void)
{
	const struct gw_consumer *c;
	const char *none[] = { NULL, "", NULL, "" };

	CU_ASSERT_EQUAL(lookup(none, 0, &c), AUTH_NO_KEY);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(lookup(none, NCAND(none), &c), AUTH_NO_KEY);
	CU_ASSERT_PTR_NULL(c);
}

static void test_unknown(void)
{
	const struct gw_consumer *c;
	static const char *const bad[] = { "key-on", "key-one ", " key-one", "KEY-ONE", "key-onee",
					   "key-three", "x" };

	for (size_t i = 0; i < NCAND(bad); i++) {
		const char *k[] = { bad[i] };
		CU_ASSERT_EQUAL(lookup(k, 1, &c), AUTH_UNKNOWN_KEY);
		CU_ASSERT_PTR_NULL(c);
	}
	/* The hash itself is not the key. */
	{
		char *hex = hex_sha256("key-two");
		const char *k[] = { hex };
		CU_ASSERT_EQUAL(lookup(k, 1, &c), AUTH_UNKNOWN_KEY);
		free(hex);
	}
}

static void test_same_key_twice(void)
{
	const struct gw_consumer *c;
	const char *k[] = { "key-one", NULL, "key-one", "", "key-one" };

	CU_ASSERT_EQUAL(lookup(k, NCAND(k), &c), AUTH_OK);
	CU_ASSERT_PTR_EQUAL(c, policy_consumer(g_pol, "one"));
}

static void test_many_keys(void)
{
	const struct gw_consumer *c;
	const char *two_valid[] = { "key-one", "key-two" };
	const char *valid_and_bad[] = { "key-one", NULL, "nope" };
	const char *bad_and_valid[] = { "nope", "key-two" };
	const char *case_differs[] = { "key-one", "Key-one" };

	CU_ASSERT_EQUAL(lookup(two_valid, 2, &c), AUTH_MANY_KEYS);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(lookup(valid_and_bad, 3, &c), AUTH_MANY_KEYS);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(lookup(bad_and_valid, 2, &c), AUTH_MANY_KEYS);
	CU_ASSERT_EQUAL(lookup(case_differs, 2, &c), AUTH_MANY_KEYS);
}

static void test_null_empty_ignored(void)
{
	const struct gw_consumer *c;
	const char *k[] = { NULL, "", "key-two", "", NULL };

	CU_ASSERT_EQUAL(lookup(k, NCAND(k), &c), AUTH_OK);
	CU_ASSERT_PTR_EQUAL(c, policy_consumer(g_pol, "two"));
}

static void test_hostile_keys(void)
{
	const struct gw_consumer *c;
	/* A C string ends at its first NUL, so "key-one\0junk" cannot reach
	 * auth_lookup as such: callers must refuse decoded keys holding NUL.
	 * Everything else that merely resembles a key must not match. */
	static const char *const bad[] = { "key-one\r", "key-one\n", "key-one\r\n", "\rkey-one",
					   "\"key-one\"", "'key-one'", "key-one\\", "key\\-one",
					   "key-one\t", "key%2Done", "key-one%00", "key-one\x01",
					   "key-one\xc0\x80" };

	for (size_t i = 0; i < NCAND(bad); i++) {
		const char *k[] = { bad[i] };
		CU_ASSERT_EQUAL(lookup(k, 1, &c), AUTH_UNKNOWN_KEY);
		CU_ASSERT_PTR_NULL(c);
	}
	/* A credential with quotes and a backslash matches exactly itself. */
	{
		const char *k[] = { "q\"uo'te\\back" };
		const char *k2[] = { "q\\\"uo'te\\back" };
		const char *k3[] = { "quo'te\\back" };
		CU_ASSERT_EQUAL(lookup(k, 1, &c), AUTH_OK);
		CU_ASSERT_PTR_EQUAL(c, policy_consumer(g_pol, "odd"));
		CU_ASSERT_EQUAL(lookup(k2, 1, &c), AUTH_UNKNOWN_KEY);
		CU_ASSERT_EQUAL(lookup(k3, 1, &c), AUTH_UNKNOWN_KEY);
	}
}

static void test_no_consumers(void)
{
	const struct gw_consumer *c = NULL;
	const char *k[] = { "key-one" };

	CU_ASSERT_EQUAL(auth_lookup(g_pol_none, k, 1, &c), AUTH_UNKNOWN_KEY);
	CU_ASSERT_PTR_NULL(c);
}

static void test_admin_plain(void)
{
	CU_ASSERT_TRUE(auth_is_admin(g_pol, "plain-admin-key"));
	CU_ASSERT_FALSE(auth_is_admin(g_pol, "plain-admin-ke"));
	CU_ASSERT_FALSE(auth_is_admin(g_pol, "plain-admin-key "));
	CU_ASSERT_FALSE(auth_is_admin(g_pol, "plain-admin-key\n"));
	CU_ASSERT_FALSE(auth_is_admin(g_pol, "PLAIN-ADMIN-KEY"));
	CU_ASSERT_FALSE(auth_is_admin(g_pol, "key-one")); /* a consumer key is not admin */
	CU_ASSERT_FALSE(auth_is_admin(g_pol, ""));
	CU_ASSERT_FALSE(auth_is_admin(g_pol, NULL));
}

static void test_admin_sha256(void)
{
	CU_ASSERT_TRUE(auth_is_admin(g_pol_hash, "hashed-admin-key"));
	CU_ASSERT_FALSE(auth_is_admin(g_pol_hash, "hashed-admin-key\r\n"));
	CU_ASSERT_FALSE(auth_is_admin(g_pol_hash, "plain-admin-key"));
	CU_ASSERT_FALSE(auth_is_admin(g_pol_hash, ""));
	CU_ASSERT_FALSE(auth_is_admin(g_pol_hash, NULL));
	{
		char *hex = hex_sha256("hashed-admin-key");
		CU_ASSERT_FALSE(auth_is_admin(g_pol_hash, hex));
		free(hex);
	}
}

static void test_admin_none(void)
{
	CU_ASSERT_FALSE(auth_is_admin(g_pol_none, ""));
	CU_ASSERT_FALSE(auth_is_admin(g_pol_none, NULL));
	CU_ASSERT_FALSE(auth_is_admin(g_pol_none, "plain-admin-key"));
	CU_ASSERT_FALSE(auth_is_admin(g_pol_none, "anything"));
	/* An all-zero digest must not stand for "no key". */
	CU_ASSERT_FALSE(auth_is_admin(g_pol_none, "\x01"));
}

static void test_messages(void)
{
	for (int v = 0; v < AUTH__MAX; v++) {
		const char *m = auth_message((enum auth_verdict)v);
		CU_ASSERT(m && *m && !strpbrk(m, "\r\n\"\\"));
	}
	CU_ASSERT_PTR_NOT_NULL(auth_message(AUTH__MAX));
	CU_ASSERT(strcmp(auth_message(AUTH_NO_KEY), auth_message(AUTH_UNKNOWN_KEY)) != 0);
}

#define EXPIRY_MS 1796860800000LL /* 2026-12-10T00:00:00Z */
#define UNTIL_MS 1796558400000LL  /* 2026-12-06T12:00:00Z */

static enum auth_verdict lookup_keys(const char *key, int64_t now, const struct gw_consumer **out)
{
	static const struct gw_consumer stale;
	const char *k[] = { key };

	*out = &stale;
	return auth_lookup_at(g_pol_keys, k, 1, now, out);
}

/* Accepted until the last ms before the expires day, refused from its
 * first: AUTH_EXPIRED, no consumer, code key_expired. */
static void test_expired(void)
{
	const struct gw_consumer *c;

	CU_ASSERT_EQUAL(lookup_keys("key-exp", EXPIRY_MS - 1, &c), AUTH_OK);
	CU_ASSERT_PTR_EQUAL(c, policy_consumer(g_pol_keys, "exp"));
	CU_ASSERT_EQUAL(lookup_keys("key-exp", EXPIRY_MS, &c), AUTH_EXPIRED);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(lookup_keys("key-exp", EXPIRY_MS + 400LL * 86400000, &c), AUTH_EXPIRED);
	CU_ASSERT_EQUAL(lookup_keys("key-exq", EXPIRY_MS, &c), AUTH_UNKNOWN_KEY);
	TU_STR(auth_code(AUTH_EXPIRED), "key_expired");
	TU_STR(auth_code(AUTH_UNKNOWN_KEY), "invalid_api_key");
	TU_STR(auth_code(AUTH_NO_KEY), "invalid_api_key");
	CU_ASSERT(strstr(auth_message(AUTH_EXPIRED), "expired") != NULL);
}

/* The rotated-out key works until previous_valid_until, the new one
 * always; a consumer without a previous key matches no all-zero hash. */
static void test_grace(void)
{
	const struct gw_consumer *c;
	const struct gw_consumer *rot = policy_consumer(g_pol_keys, "rot");

	CU_ASSERT_EQUAL(lookup_keys("key-new", UNTIL_MS + 86400000, &c), AUTH_OK);
	CU_ASSERT_PTR_EQUAL(c, rot);
	CU_ASSERT_EQUAL(lookup_keys("key-old", UNTIL_MS - 1, &c), AUTH_OK);
	CU_ASSERT_PTR_EQUAL(c, rot);
	CU_ASSERT_EQUAL(lookup_keys("key-old", UNTIL_MS, &c), AUTH_UNKNOWN_KEY);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(lookup_keys("key-old", UNTIL_MS + 1000, &c), AUTH_UNKNOWN_KEY);
	CU_ASSERT_FALSE(policy_consumer(g_pol_keys, "exp")->has_previous);
}

/* An expired consumer's previous key is refused as expired too. */
static void test_grace_and_expiry(void)
{
	const struct gw_consumer *c;

	CU_ASSERT_EQUAL(lookup_keys("key-old2", UNTIL_MS - 1, &c), AUTH_OK);
	CU_ASSERT_EQUAL(lookup_keys("key-new2", EXPIRY_MS - 1, &c), AUTH_OK);
	CU_ASSERT_EQUAL(lookup_keys("key-new2", EXPIRY_MS, &c), AUTH_EXPIRED);
	CU_ASSERT_PTR_NULL(c);
	/* both keys sent at once are still two keys */
	const char *k[] = { "key-new2", "key-old2" };
	CU_ASSERT_EQUAL(auth_lookup_at(g_pol_keys, k, 2, UNTIL_MS - 1, &c), AUTH_MANY_KEYS);
}

void suite_auth(void)
{
	static const struct tu_test tests[] = {
		{ "credential consumer", test_credential, false },
		{ "credential_sha256 consumer", test_credential_sha256, false },
		{ "no key: AUTH_NO_KEY", test_no_key, false },
		{ "unknown key: AUTH_UNKNOWN_KEY", test_unknown, false },
		{ "same key twice: OK", test_same_key_twice, false },
		{ "two different keys: AUTH_MANY_KEYS", test_many_keys, false },
		{ "NULL and empty candidates ignored", test_null_empty_ignored, false },
		{ "CR, LF, quotes, backslashes never match", test_hostile_keys, false },
		{ "no consumers at all", test_no_consumers, false },
		{ "admin_key", test_admin_plain, false },
		{ "admin_key_sha256", test_admin_sha256, false },
		{ "no admin key configured", test_admin_none, false },
		{ "messages", test_messages, false },
		{ "expires: from 00:00 UTC of the day, AUTH_EXPIRED", test_expired, false },
		{ "rotated key valid until previous_valid_until", test_grace, false },
		{ "rotated key of an expired consumer", test_grace_and_expiry, false },
	};
	tu_register("auth", auth_init, auth_cleanup, tests, GW_ARRAY_LEN(tests));
}
