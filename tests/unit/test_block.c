/* test_block.c: policy/block.h (URL, header and body block lists). */
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "gw.h"
#include "policy.h"
#include "suites.h"
#include "testutil.h"

static char *g_dir;
static struct gw_policy *g_pol;

static const char block_ini[] =
	"[upstream up]\nurl = http://127.0.0.1:9\n"
	"[route cs]\n"
	"path = /cs\n"
	"block_urls = password, pw=\n"
	"block_exact_urls = /cs/admin, /cs/x?a=1\n"
	"block_regexp_urls = ^/cs/secret[0-9]+$, (evil|bad)[.]com\n"
	"block_headers = User-Agent: evilbot, x-debug:\n"
	"block_bodies = ignore previous instructions, \"jailbreak\"\n"
	"[route ci]\n"
	"path = /ci\n"
	"case_sensitive = false\n"
	"block_urls = PassWord\n"
	"block_exact_urls = /ci/Admin\n"
	"block_regexp_urls = ^/ci/secret[0-9]+$, tok(en)?=[a-f]+\n"
	"block_headers = User-Agent: EvilBot\n"
	"block_bodies = Ignore Previous\n"
	"[route nf]\n"
	"path = /nf\n"
	"case_sensitive = false\n"
	"block_urls = password\n"
	"block_exact_urls = /nf/admin\n"
	"block_headers = X-Token: secret\n"
	"block_bodies = password, \xef\xbd\x93\xef\xbd\x85\xef\xbd\x83\xef\xbd\x92\xef\xbd\x85\xef\xbd\x94\n"
	"[route nfcs]\n"
	"path = /nfcs\n"
	"block_bodies = Password\n"
	"[route open]\n"
	"path = /\n";

static int block_init(void)
{
	struct gw_diag d = { 0 };
	char *path;

	g_dir = tu_tmpdir_create();
	if (!g_dir)
		return -1;
	path = tu_path(g_dir, "block.ini");
	if (tu_write_str(path, block_ini) == 0)
		g_pol = policy_load(path, &d);
	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "%s\n", d.msgs[i]);
	diag_free(&d);
	free(path);
	if (g_pol && !g_pol->valid) {
		policy_free(g_pol);
		g_pol = NULL;
	}
	return g_pol ? 0 : -1;
}

static int block_cleanup(void)
{
	policy_free(g_pol);
	g_pol = NULL;
	tu_tmpdir_remove(g_dir);
	g_dir = NULL;
	return 0;
}

static const struct gw_route *route(const char *name)
{
	for (size_t i = 0; i < g_pol->n_routes; i++)
		if (strcmp(g_pol->routes[i]->name, name) == 0)
			return g_pol->routes[i];
	CU_FAIL_FATAL("route missing");
	return NULL;
}

/* Texts are copied into buffers of exactly len bytes, so that a read past
 * len is caught. URL forms get one NUL after len: the sanitizer's regexec()
 * interceptor reads up to a NUL even under REG_STARTEND (glibc itself stops
 * at rm_eo), and the gateway's own URL forms are always terminated. */
struct texts {
	struct block_text t[4];
	size_t n;
};

static void texts_add_z(struct texts *ts, const char *s, size_t len, bool terminated)
{
	char *p = tu_exact(s, len + terminated);

	if (terminated)
		p[len] = '\0';
	ts->t[ts->n].s = p;
	ts->t[ts->n].len = len;
	ts->n++;
}

static void texts_add(struct texts *ts, const char *s, size_t len)
{
	texts_add_z(ts, s, len, false);
}

static void forms_add(struct texts *ts, const char *s, size_t len)
{
	texts_add_z(ts, s, len, true);
}

static void texts_free(struct texts *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		free((char *)ts->t[i].s);
	ts->n = 0;
}

/* Checks one URL form against a route; want_entry NULL means "not blocked". */
static void check_url(const char *route_name, const char *s, size_t len, const char *want_list,
		      const char *want_entry, unsigned line)
{
	struct texts ts = { .n = 0 };
	const char *list = NULL, *entry = NULL;
	bool hit;

	forms_add(&ts, s, len);
	hit = block_url(route(route_name), ts.t, ts.n, &list, &entry);
	tu_assert_ll(hit, want_entry != NULL, "block_url verdict", line, __FILE__, __func__);
	if (want_entry && hit) {
		tu_assert_str(list, want_list, "block_url list", line, __FILE__, __func__);
		tu_assert_str(entry, want_entry, "block_url entry", line, __FILE__, __func__);
	}
	texts_free(&ts);
}

#define URL(route_name, lit, list, entry) \
	check_url(route_name, lit, sizeof(lit) - 1, list, entry, __LINE__)

static void test_urls_substring(void)
{
	URL("cs", "/cs/?text=hello", NULL, NULL);
	URL("cs", "/cs/?text=my+password", "block_urls", "password");
	URL("cs", "/cs/password", "block_urls", "password");
	URL("cs", "/cs/?pw=1", "block_urls", "pw=");
	URL("cs", "/cs/?pw", NULL, NULL);
	/* The raw form does not contain it; the caller's decoded form does. */
	URL("cs", "/cs/?x=p%61ssword", NULL, NULL);
	URL("cs", "/cs/?x=password", "block_urls", "password");
}

static void test_urls_several_forms(void)
{
	struct texts ts = { .n = 0 };
	const char *list = NULL, *entry = NULL;

	forms_add(&ts, "/cs/?x=p%61ssword", 17);
	forms_add(&ts, "/cs/?x=password", 15);
	CU_ASSERT_TRUE(block_url(route("cs"), ts.t, ts.n, &list, &entry));
	TU_STR(list, "block_urls");
	TU_STR(entry, "password");
	/* Only the first n forms count. */
	list = entry = NULL;
	CU_ASSERT_FALSE(block_url(route("cs"), ts.t, 1, &list, &entry));
	CU_ASSERT_FALSE(block_url(route("cs"), ts.t, 0, &list, &entry));
	texts_free(&ts);
}

static void test_urls_case(void)
{
	URL("cs", "/cs/PassWord", NULL, NULL);
	URL("cs", "/cs/PASSWORD", NULL, NULL);
	URL("ci", "/ci/PassWord", "block_urls", "PassWord");
	URL("ci", "/ci/password", "block_urls", "PassWord");
	URL("ci", "/ci/?q=PASSWORD", "block_urls", "PassWord");
	URL("ci", "/ci/passwor", NULL, NULL);
}

static void test_urls_nul(void)
{
	/* NUL bytes (from %00) are data: what follows them is checked too. */
	URL("cs", "/cs/?x=\0password", "block_urls", "password");
	URL("cs", "/cs/?x=pass\0word", NULL, NULL);
	URL("ci", "/ci/\0\0PASSWORD\0", "block_urls", "PassWord");
}

static void test_exact(void)
{
	URL("cs", "/cs/admin", "block_exact_urls", "/cs/admin");
	URL("cs", "/cs/x?a=1", "block_exact_urls", "/cs/x?a=1");
	URL("cs", "/cs/admin/", NULL, NULL);
	URL("cs", "/cs/admi", NULL, NULL);
	URL("cs", "/cs/adminx", NULL, NULL);
	URL("cs", "x/cs/admin", NULL, NULL);
	URL("cs", "/CS/ADMIN", NULL, NULL);
	URL("cs", "/cs/admin\0", NULL, NULL); /* a trailing NUL is a different text */
	URL("cs", "/cs/x?a=1&b=2", NULL, NULL);
	URL("ci", "/ci/Admin", "block_exact_urls", "/ci/Admin");
	URL("ci", "/CI/ADMIN", "block_exact_urls", "/ci/Admin");
	URL("ci", "/ci/admin", "block_exact_urls", "/ci/Admin");
	URL("ci", "/ci/admin2", NULL, NULL);
	URL("ci", "/ci/admi", NULL, NULL);
}

static void test_regexp(void)
{
	URL("cs", "/cs/secret42", "block_regexp_urls", "^/cs/secret[0-9]+$");
	URL("cs", "/cs/secret", NULL, NULL);
	URL("cs", "/cs/secret42x", NULL, NULL);
	URL("cs", "/cs/SECRET42", NULL, NULL);
	URL("cs", "/cs/?u=http://evil.com/", "block_regexp_urls", "(evil|bad)[.]com");
	URL("cs", "/cs/?u=http://evilxcom/", NULL, NULL);
	URL("cs", "/cs/?u=EVIL.COM", NULL, NULL);
	URL("ci", "/ci/SECRET7", "block_regexp_urls", "^/ci/secret[0-9]+$");
	URL("ci", "/CI/secret7", "block_regexp_urls", "^/ci/secret[0-9]+$");
	URL("ci", "/ci/?TOKEN=ABCDEF", "block_regexp_urls", "tok(en)?=[a-f]+");
	URL("ci", "/ci/?tok=FF", "block_regexp_urls", "tok(en)?=[a-f]+");
	URL("ci", "/ci/?tok=zz", NULL, NULL);
}

static void test_regexp_nul(void)
{
	/* The whole length is matched, NUL bytes included: a NUL neither hides
	 * what follows it nor ends the text early for an anchored pattern. */
	URL("cs", "/cs/x\0evil.com", "block_regexp_urls", "(evil|bad)[.]com");
	URL("cs", "\0/cs/?u=bad.com", "block_regexp_urls", "(evil|bad)[.]com");
	URL("cs", "/cs/secret42\0", NULL, NULL);
	URL("cs", "/cs/secret4\0002", NULL, NULL);
	URL("ci", "/ci/?a=1\0TOKEN=abc", "block_regexp_urls", "tok(en)?=[a-f]+");
}

static void test_regexp_not_terminated(void)
{
	/* A form that is not NUL-terminated: only [0, len) is looked at. */
	const char *list = NULL, *entry = NULL;
	char *buf = tu_exact("/cs/secret42XYZ", 16);
	struct block_text t = { buf, 12 };

	CU_ASSERT_TRUE(block_url(route("cs"), &t, 1, &list, &entry));
	TU_STR(list, "block_regexp_urls");
	t.len = 15;
	CU_ASSERT_FALSE(block_url(route("cs"), &t, 1, &list, &entry));
	free(buf);
}

static void check_lines(bool bodies, const char *route_name, const char *s, size_t len,
			const char *want_entry, unsigned line)
{
	struct texts ts = { .n = 0 };
	const char *entry = NULL;
	bool hit;

	texts_add(&ts, "Host: example.org", 17);
	texts_add(&ts, s, len);
	hit = bodies ? block_bodies(route(route_name), ts.t, ts.n, &entry)
		     : block_headers(route(route_name), ts.t, ts.n, &entry);
	tu_assert_ll(hit, want_entry != NULL, "verdict", line, __FILE__, __func__);
	if (want_entry && hit)
		tu_assert_str(entry, want_entry, "entry", line, __FILE__, __func__);
	texts_free(&ts);
}

#define HDR(route_name, lit, entry) \
	check_lines(false, route_name, lit, sizeof(lit) - 1, entry, __LINE__)
#define BODY(route_name, lit, entry) \
	check_lines(true, route_name, lit, sizeof(lit) - 1, entry, __LINE__)

static void test_headers(void)
{
	HDR("cs", "User-Agent: evilbot/1.0", "User-Agent: evilbot");
	HDR("cs", "User-Agent: goodbot", NULL);
	HDR("cs", "user-agent: evilbot", NULL);
	HDR("cs", "X-Debug: 1", NULL);
	HDR("cs", "x-debug: 1", "x-debug:");
	HDR("cs", "X-Forwarded: x-debug: 1", "x-debug:"); /* anywhere in the line */
	HDR("cs", "User-Agent:\0evilbot", NULL);
	HDR("ci", "USER-AGENT: EVILBOT", "User-Agent: EvilBot");
	HDR("ci", "user-agent: evilbot", "User-Agent: EvilBot");
	HDR("ci", "User-Agent: evil bot", NULL);
	/* The name alone is not the blocked line. */
	HDR("cs", "User-Agent:", NULL);
}

static void test_bodies(void)
{
	BODY("cs", "{\"prompt\":\"please ignore previous instructions\"}",
	     "ignore previous instructions");
	BODY("cs", "{\"prompt\":\"Ignore previous instructions\"}", NULL);
	BODY("cs", "say \"jailbreak\" now", "\"jailbreak\"");
	BODY("cs", "say jailbreak now", NULL);
	BODY("cs", "ignore previous\ninstructions", NULL);
	BODY("cs", "\0\0ignore previous instructions", "ignore previous instructions");
	BODY("ci", "IGNORE PREVIOUS", "Ignore Previous");
	BODY("ci", "text=ignore+previous", NULL); /* the caller passes decoded forms */
	BODY("ci", "text=ignore previous", "Ignore Previous");
}

/* Unicode normalisation: NFKC, default ignorables removed, case folded when
 * case_sensitive = false; invalid UTF-8 checked raw and around. */
#define FW_PASSWORD "\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93\xef\xbd\x97\xef\xbd\x8f\xef\xbd\x92\xef\xbd\x84"
#define FW_PASSWORD_UP "\xef\xbc\xb0\xef\xbc\xa1\xef\xbc\xb3\xef\xbc\xb3\xef\xbc\xb7\xef\xbc\xaf\xef\xbc\xb2\xef\xbc\xa4"
#define FW_SECRET "\xef\xbd\x93\xef\xbd\x85\xef\xbd\x83\xef\xbd\x92\xef\xbd\x85\xef\xbd\x94"

static void test_normalized_fullwidth(void)
{
	BODY("nf", "my " FW_PASSWORD " is", "password");
	BODY("nf", "my " FW_PASSWORD_UP, "password");
	BODY("nf", "my pass", NULL);
	/* An entry written in fullwidth letters matches its plain form. */
	BODY("nf", "the secret", FW_SECRET);
	BODY("nf", "the SECRET", FW_SECRET);
	BODY("nf", "the " FW_SECRET, FW_SECRET);
	URL("nf", "/nf/?q=" FW_PASSWORD, "block_urls", "password");
	URL("nf", "/nf/\xef\xbd\x81\xef\xbd\x84\xef\xbd\x8d\xef\xbd\x89\xef\xbd\x8e",
	    "block_exact_urls", "/nf/admin");
	HDR("nf", "X-Token: \xef\xbc\xb3" "ecret", "X-Token: secret");
	/* Ligatures and other compatibility forms: "\xef\xac\x81" is "fi". */
	BODY("nfcs", "Pass\xef\xac\x81", NULL);
}

static void test_normalized_zero_width(void)
{
	BODY("nf", "pass\xe2\x80\x8bword", "password");         /* U+200B */
	BODY("nf", "pa\xe2\x80\x8dss\xe2\x80\x8cword", "password"); /* ZWJ, ZWNJ */
	BODY("nf", "pass\xc2\xadword", "password");              /* soft hyphen */
	BODY("nf", "\xef\xbb\xbfpass\xe2\x81\xa0word", "password"); /* BOM, word joiner */
	BODY("nf", "pass word", NULL);
	BODY("nf", "pass\xe2\x80\x83word", NULL); /* an em space is a space */
}

static void test_normalized_case(void)
{
	BODY("nf", "PaSsWoRd", "password");
	BODY("nfcs", "my Password", "Password");
	BODY("nfcs", "my password", NULL);
	BODY("nfcs", "my \xef\xbc\xb0\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93\xef\xbd\x97\xef\xbd\x8f\xef\xbd\x92\xef\xbd\x84",
	     "Password");
	BODY("nfcs", "my " FW_PASSWORD, NULL); /* case sensitive: no fold */
	/* Folding beyond ASCII: the long s folds to s. */
	BODY("nf", "pa\xc5\xbf\xc5\xbfword", "password"); /* long s */
}

static void test_normalized_invalid_utf8(void)
{
	BODY("nf", "\xff password", "password");
	BODY("nf", "\xff" FW_PASSWORD "\xfe", "password");
	BODY("nf", FW_PASSWORD "\xc3", "password");         /* truncated at the end */
	BODY("nf", "\xc0\xaf" FW_PASSWORD, "password");     /* overlong */
	BODY("nf", "\xed\xa0\x80" FW_PASSWORD, "password"); /* a surrogate */
	BODY("nf", "pass\xffword", NULL); /* an invalid byte is kept, not dropped */
	BODY("nf", "\xff\xfe\xfd", NULL);
	BODY("nf", "\xc3", NULL);
	BODY("nf", "\0" FW_PASSWORD, "password");
	URL("nf", "/nf/\xff?q=" FW_PASSWORD, "block_urls", "password");
}

static void test_empty_lists(void)
{
	const struct gw_route *r = route("open");
	struct texts ts = { .n = 0 };
	const char *list = "untouched", *entry = "untouched";

	forms_add(&ts, "/password/admin/secret1", 23);
	forms_add(&ts, "", 0);
	texts_add(&ts, "User-Agent: evilbot", 19);
	texts_add(&ts, "ignore previous instructions", 28);
	CU_ASSERT_FALSE(block_url(r, ts.t, ts.n, &list, &entry));
	CU_ASSERT_FALSE(block_headers(r, ts.t, ts.n, &entry));
	CU_ASSERT_FALSE(block_bodies(r, ts.t, ts.n, &entry));
	CU_ASSERT_FALSE(block_url(r, ts.t, 0, &list, &entry));
	texts_free(&ts);
}

static void test_empty_texts(void)
{
	struct texts ts = { .n = 0 };
	const char *list = NULL, *entry = NULL;

	forms_add(&ts, "", 0);
	CU_ASSERT_FALSE(block_url(route("cs"), ts.t, ts.n, &list, &entry));
	CU_ASSERT_FALSE(block_headers(route("cs"), ts.t, ts.n, &entry));
	CU_ASSERT_FALSE(block_bodies(route("ci"), ts.t, ts.n, &entry));
	CU_ASSERT_FALSE(block_url(route("cs"), NULL, 0, &list, &entry));
	CU_ASSERT_FALSE(block_headers(route("cs"), NULL, 0, &entry));
	CU_ASSERT_FALSE(block_bodies(route("cs"), NULL, 0, &entry));
	texts_free(&ts);
}

static void test_long_text(void)
{
	size_t n = 16 * 1024;
	char *s = gw_calloc(n + 1, 1);
	struct block_text t = { s, n };
	const char *list = NULL, *entry = NULL;

	memset(s, 'a', n);
	CU_ASSERT_FALSE(block_url(route("cs"), &t, 1, &list, &entry));
	memcpy(s + n - 8, "password", 8); /* at the very end */
	CU_ASSERT_TRUE(block_url(route("cs"), &t, 1, &list, &entry));
	TU_STR(entry, "password");
	memset(s, 'a', n);
	memcpy(s + n - 8, "evil.com", 8);
	CU_ASSERT_TRUE(block_url(route("cs"), &t, 1, &list, &entry));
	TU_STR(list, "block_regexp_urls");
	free(s);
}

void suite_block(void)
{
	static const struct tu_test tests[] = {
		{ "block_urls substring, raw and decoded", test_urls_substring, false },
		{ "block_urls over several forms", test_urls_several_forms, false },
		{ "case_sensitive true/false", test_urls_case, false },
		{ "NUL bytes in URL forms", test_urls_nul, false },
		{ "block_exact_urls", test_exact, false },
		{ "block_regexp_urls, with case-insensitivity", test_regexp, false },
		{ "block_regexp_urls on texts with NUL bytes", test_regexp_nul, false },
		{ "block_regexp_urls reads only len bytes", test_regexp_not_terminated, false },
		{ "block_headers", test_headers, false },
		{ "block_bodies", test_bodies, false },
		{ "empty lists never block", test_empty_lists, false },
		{ "empty texts and no texts", test_empty_texts, false },
		{ "16 KB texts", test_long_text, false },
		{ "normalised: fullwidth letters", test_normalized_fullwidth, false },
		{ "normalised: zero-width characters", test_normalized_zero_width, false },
		{ "normalised: case folding", test_normalized_case, false },
		{ "normalised: invalid UTF-8", test_normalized_invalid_utf8, false },
	};
	tu_register("block", block_init, block_cleanup, tests, GW_ARRAY_LEN(tests));
}
