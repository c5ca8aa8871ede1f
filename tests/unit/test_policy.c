/* test_policy.c: policy/policy.h: loading INI files, FILE:LINE diagnostics,
 * lists, includes, change detection, route lookup, prices, budgets,
 * upstream groups and lint warnings. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "gw.h"
#include "policy.h"
#include "digest.h"
#include "policy_int.h"
#include "str.h"
#include "suites.h"
#include "testutil.h"

static char *g_dir;

static int policy_init(void)
{
	g_dir = tu_tmpdir_create();
	return g_dir ? 0 : -1;
}

static int policy_cleanup(void)
{
	tu_tmpdir_remove(g_dir);
	g_dir = NULL;
	return 0;
}

/* A valid policy of five lines; tests append to it, so their first own line is 6. */
#define BASE                                                                               \
	"[upstream up]\n"                                                                  \
	"url = http://127.0.0.1:9/v1\n"                                                    \
	"\n"                                                                               \
	"[route r]\n"                                                                      \
	"path = /\n"

/* etc/aigw.ini, the example seed policy, with api_key_env replaced by api_key
 * so that it loads without the environment. Keep in step with etc/aigw.ini. */
static const char seed_ini[] =
	"; aigw.ini: example policy, the seed scenario.\n"
	";\n"
	"; consumer1 may use the prompt route at /, consumer2 has a valid key but is\n"
	"; not allowed there (403), and any URL that mentions \"password\" or \"pw\", in\n"
	"; any case and percent-encoded or not, is answered 404.\n"
	"; See aigw.ini(5) for every key.\n"
	"\n"
	"[gateway]\n"
	"state_dir = /var/lib/aigw\n"
	"usage_log = /var/log/aigw/usage.jsonl\n"
	"max_body  = 1048576\n"
	"\n"
	"[upstream openai]\n"
	"url         = https://api.openai.com/v1\n"
	"api_key     = sk-seed-test-key\n"
	"model       = gpt-4o-mini\n"
	"timeout_ms  = 30000\n"
	"\n"
	"[auth]\n"
	"keys        = apikey\n"
	"in_header   = true\n"
	"in_query    = false\n"
	"global_auth = false\n"
	"\n"
	"[consumer consumer1]\n"
	"credential = xxxxxx\n"
	"\n"
	"[consumer consumer2]\n"
	"credential = yyyyyy\n"
	"\n"
	"[route chat]\n"
	"path           = /\n"
	"mode           = prompt\n"
	"upstream       = openai\n"
	"prompt_param   = text\n"
	"allow          = consumer1\n"
	"block_urls     = password, pw\n"
	"blocked_code   = 404\n"
	"case_sensitive = false\n";

/* ---- helpers ---- */

static void dump_diag(const struct gw_diag *d)
{
	fprintf(stderr, "\n    diagnostics (%zu, %zu errors):\n", d->n, d->n_errors);
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "      %s\n", d->msgs[i]);
}

/* True when a message starts with prefix and (if needle) contains needle. */
static bool has_msg(const struct gw_diag *d, const char *prefix, const char *needle)
{
	for (size_t i = 0; i < d->n; i++) {
		const char *m = d->msgs[i];
		if (strncmp(m, prefix, strlen(prefix)) != 0)
			continue;
		if (!needle || strstr(m + strlen(prefix), needle))
			return true;
	}
	return false;
}

/* Writes text to g_dir/name and loads it; *path_out (optional) gets the path. */
static struct gw_policy *load_text(const char *name, const char *text, struct gw_diag *d,
				   char **path_out)
{
	char *path = tu_path(g_dir, name);
	struct gw_policy *p;

	CU_ASSERT_EQUAL_FATAL(tu_write_str(path, text), 0);
	p = policy_load(path, d);
	if (path_out)
		*path_out = path;
	else
		free(path);
	return p;
}

/* Loads text and expects it valid, without errors (warnings are allowed). */
static struct gw_policy *load_valid(const char *name, const char *text, struct gw_diag *d,
				    unsigned line)
{
	struct gw_policy *p = load_text(name, text, d, NULL);
	bool ok = p && p->valid && d->n_errors == 0;

	if (!ok) {
		fprintf(stderr, "\n    %s:%u: expected %s to load cleanly", __FILE__, line, name);
		dump_diag(d);
	}
	tu_assert_ll(ok, 1, "policy loads valid", line, __FILE__, __func__);
	return p;
}

#define LOAD_VALID(name, text, d) load_valid(name, text, d, __LINE__)

/* Loads text (written to name) and expects an error whose message starts with
 * "PATH:LINE: " (or "PATH: " when err_line is 0) and contains needle. The
 * path is the file written, or rel_file under g_dir when it is not NULL. */
static void expect_error_in(const char *name, const char *text, const char *rel_file, int err_line,
			    const char *needle, unsigned line)
{
	struct gw_diag d = { 0 };
	char *path = NULL, *where, *prefix;
	struct gw_policy *p = load_text(name, text, &d, &path);
	bool ok;

	where = rel_file ? tu_path(g_dir, rel_file) : gw_strdup(path);
	prefix = err_line > 0 ? gw_asprintf("%s:%d: ", where, err_line) : gw_asprintf("%s: ", where);
	ok = p && !p->valid && d.n_errors > 0 && has_msg(&d, prefix, needle);
	if (!ok) {
		fprintf(stderr, "\n    %s:%u: expected an error \"%s...%s\"", __FILE__, line, prefix,
			needle ? needle : "");
		dump_diag(&d);
	}
	tu_assert_ll(ok, 1, "error names FILE:LINE", line, __FILE__, __func__);
	/* Every message, error or not, names the file. */
	for (size_t i = 0; i < d.n; i++)
		CU_ASSERT(strncmp(d.msgs[i], g_dir, strlen(g_dir)) == 0);
	policy_free(p);
	diag_free(&d);
	free(path);
	free(where);
	free(prefix);
}

#define EXPECT_ERROR(name, text, err_line, needle) \
	expect_error_in(name, text, NULL, err_line, needle, __LINE__)

static const struct gw_route *route_named(const struct gw_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_routes; i++)
		if (strcmp(p->routes[i]->name, name) == 0)
			return p->routes[i];
	return NULL;
}

static bool list_is(const struct gw_list *l, const char *const *want, size_t n)
{
	bool ok = l->n == n;

	for (size_t i = 0; ok && i < n; i++)
		ok = strcmp(l->v[i], want[i]) == 0;
	if (!ok) {
		fprintf(stderr, "\n    list has %zu items:", l->n);
		for (size_t i = 0; i < l->n; i++)
			fprintf(stderr, " [%s]", l->v[i]);
		fputc('\n', stderr);
	}
	return ok;
}

#define LIST_IS(l, ...)                                                                    \
	do {                                                                               \
		static const char *const want_[] = { __VA_ARGS__ };                        \
		CU_ASSERT_TRUE(list_is((l), want_, GW_ARRAY_LEN(want_)));                  \
	} while (0)

static void set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };

	CU_ASSERT_EQUAL(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* ---- loading the example and defaults ---- */

static void test_seed(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("seed.ini", seed_ini, &d);
	const struct gw_route *r;
	const struct gw_upstream *u;
	const struct gw_consumer *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_STR(p->state_dir, "/var/lib/aigw");
	TU_STR(p->usage_log, "/var/log/aigw/usage.jsonl");
	TU_INT(p->max_body, 1048576);
	TU_INT(p->n_upstreams, 1);
	TU_INT(p->n_consumers, 2);
	TU_INT(p->n_routes, 1);
	CU_ASSERT_FALSE(p->has_admin_sha256);

	u = policy_upstream(p, "openai");
	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	TU_STR(u->url, "https://api.openai.com/v1");
	TU_STR(u->api_key, "sk-seed-test-key");
	TU_STR(u->model, "gpt-4o-mini");
	TU_INT(u->timeout_ms, 30000);

	LIST_IS(&p->auth.keys, "apikey");
	CU_ASSERT_TRUE(p->auth.in_header);
	CU_ASSERT_FALSE(p->auth.in_query);
	CU_ASSERT_FALSE(p->auth.global_auth);

	c = policy_consumer(p, "consumer1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	TU_STR(c->credential, "xxxxxx");
	CU_ASSERT_TRUE(c->has_sha256);
	{
		unsigned char want[SHA256_LEN];
		gw_sha256("xxxxxx", 6, want);
		CU_ASSERT_EQUAL(memcmp(c->credential_sha256, want, SHA256_LEN), 0);
	}
	CU_ASSERT_PTR_NOT_NULL(policy_consumer(p, "consumer2"));
	CU_ASSERT_PTR_NULL(policy_consumer(p, "consumer3"));
	CU_ASSERT_PTR_NULL(policy_upstream(p, "other"));

	r = route_named(p, "chat");
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	TU_STR(r->path, "/");
	TU_INT(r->path_len, 1);
	CU_ASSERT_EQUAL(r->mode, GW_MODE_PROMPT);
	CU_ASSERT_PTR_EQUAL(r->upstream, u);
	TU_STR(r->prompt_param, "text");
	LIST_IS(&r->allow, "consumer1");
	LIST_IS(&r->block_urls, "password", "pw");
	TU_INT(r->blocked_code, 404);
	CU_ASSERT_FALSE(r->case_sensitive);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/anything"), r);
	CU_ASSERT_FALSE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
}

static void test_defaults(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("defaults.ini", BASE, &d);
	const struct gw_route *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_INT(p->max_body, 33554432);
	TU_INT(p->max_answer, 268435456);
	TU_INT(p->stream_timeout_s, 3600);
	TU_INT(p->threads, 64);
	CU_ASSERT_PTR_NULL(p->keys_dir);
	CU_ASSERT_PTR_NULL(p->alert_command);
	TU_INT(p->n_alert_at, 0);
	CU_ASSERT_EQUAL(p->upstreams[0]->api, GW_UPSTREAM_OPENAI);
	TU_STR(p->state_dir, "/var/lib/aigw");
	CU_ASSERT_PTR_NULL(p->usage_log);
	CU_ASSERT_PTR_NULL(p->admin_key);
	CU_ASSERT_FALSE(p->has_admin_sha256);
	CU_ASSERT_TRUE(p->auth.global_auth);
	CU_ASSERT_TRUE(p->auth.in_header);
	CU_ASSERT_FALSE(p->auth.in_query);
	TU_INT(p->n_upstreams, 1);
	TU_INT(p->upstreams[0]->timeout_ms, 60000);
	CU_ASSERT_PTR_NULL(p->upstreams[0]->api_key);
	CU_ASSERT_PTR_NULL(p->upstreams[0]->model);
	TU_STR(p->upstreams[0]->url, "http://127.0.0.1:9/v1");
	r = route_named(p, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	TU_INT(r->blocked_code, 403);
	CU_ASSERT_TRUE(r->case_sensitive);
	CU_ASSERT_EQUAL(r->mode, GW_MODE_PROMPT);
	CU_ASSERT_EQUAL(r->api, GW_API_CHAT);
	TU_STR(r->prompt_param, "prompt");
	CU_ASSERT_PTR_NULL(r->blocked_message);
	CU_ASSERT_PTR_EQUAL(r->upstream, p->upstreams[0]); /* the only upstream */
	CU_ASSERT_EQUAL(r->allow.n, 0);
	CU_ASSERT_EQUAL(r->block_urls.n, 0);
	CU_ASSERT_EQUAL(r->n_regexps, 0);
	TU_INT(r->limits.max_parallel, 0);
	policy_free(p);
	diag_free(&d);
}

static void test_booleans(void)
{
	static const char *const yes[] = { "true", "TRUE", "Yes", "on", "1" };
	static const char *const no[] = { "false", "False", "NO", "off", "0" };
	static const char *const bad[] = { "", "maybe", "2", "tru", "truex", "yes please", "-1" };
	bool b;

	for (size_t i = 0; i < GW_ARRAY_LEN(yes); i++) {
		b = false;
		CU_ASSERT_EQUAL(policy_parse_bool(yes[i], &b), 0);
		CU_ASSERT_TRUE(b);
		b = true;
		CU_ASSERT_EQUAL(policy_parse_bool(no[i], &b), 0);
		CU_ASSERT_FALSE(b);
	}
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
		CU_ASSERT_EQUAL(policy_parse_bool(bad[i], &b), -1);
}

static void test_crlf_and_comments(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("crlf.ini",
					 "; comment\r\n"
					 "# another comment\r\n"
					 "[upstream up]\r\n"
					 "url = http://127.0.0.1:9/ ; inline comment\r\n"
					 "\r\n"
					 "[route r]\r\n"
					 "path: /v1\r\n"
					 "blocked_code = 451\r\n",
					 &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_STR(p->upstreams[0]->url, "http://127.0.0.1:9");
	CU_ASSERT_PTR_NOT_NULL_FATAL(route_named(p, "r"));
	TU_STR(route_named(p, "r")->path, "/v1");
	TU_INT(route_named(p, "r")->blocked_code, 451);
	policy_free(p);
	diag_free(&d);
}

static void test_hostile_values(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("hostile.ini",
					 BASE "blocked_message = say \"no\" \\ 100% %s %n\n"
					      "[consumer q]\n"
					      "credential = k\"e'y\\%00\n",
					 &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_STR(route_named(p, "r")->blocked_message, "say \"no\" \\ 100% %s %n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(policy_consumer(p, "q"));
	TU_STR(policy_consumer(p, "q")->credential, "k\"e'y\\%00");
	policy_free(p);
	diag_free(&d);
}

/* ---- errors name FILE:LINE ---- */

static void test_err_unknown_section(void)
{
	EXPECT_ERROR("e-section.ini", BASE "[bogus]\nx = 1\n", 6, "bogus");
	EXPECT_ERROR("e-section2.ini", BASE "[]\n", 6, NULL);
	EXPECT_ERROR("e-section3.ini", BASE "[route]\n", 6, "route");       /* needs a name */
	EXPECT_ERROR("e-section4.ini", BASE "[route a b]\n", 6, "route");   /* one name */
	EXPECT_ERROR("e-section5.ini", BASE "[route a/b]\n", 6, "route");   /* bad name */
	EXPECT_ERROR("e-section6.ini", BASE "[gateway x]\n", 6, "gateway"); /* no name */
}

static void test_err_unknown_key(void)
{
	EXPECT_ERROR("e-key.ini", BASE "colour = red\n", 6, "colour");
	EXPECT_ERROR("e-key2.ini", "[gateway]\nstate_dir = /x\nPath = /\n" BASE, 3, "Path");
}

static void test_err_bad_boolean(void)
{
	EXPECT_ERROR("e-bool.ini", BASE "case_sensitive = maybe\n", 6, "case_sensitive");
	EXPECT_ERROR("e-bool2.ini", "[auth]\nin_query = 2\n" BASE, 2, "in_query");
	EXPECT_ERROR("e-bool3.ini", "[auth]\n\nglobal_auth =\n" BASE, 3, "global_auth");
}

static void test_err_bad_integer(void)
{
	EXPECT_ERROR("e-int.ini", BASE "blocked_code = 40x\n", 6, "blocked_code");
	EXPECT_ERROR("e-int2.ini", BASE "blocked_code = 600\n", 6, "blocked_code");
	EXPECT_ERROR("e-int3.ini", BASE "blocked_code = 99\n", 6, "blocked_code");
	EXPECT_ERROR("e-int4.ini", BASE "blocked_code =\n", 6, "blocked_code");
	EXPECT_ERROR("e-int5.ini", BASE "query_per_minute = -1\n", 6, "query_per_minute");
	EXPECT_ERROR("e-int6.ini", "[gateway]\nmax_body = 0\n" BASE, 2, "max_body");
	EXPECT_ERROR("e-int7.ini", "[gateway]\nmax_body = 99999999999999999999\n" BASE, 2,
		     "max_body");
	EXPECT_ERROR("e-int8.ini", "[gateway]\nmax_body = 0x10\n" BASE, 2, "max_body");
	EXPECT_ERROR("e-int9.ini", "[upstream up]\nurl = http://h\ntimeout_ms = 1.5\n", 3,
		     "timeout_ms");
}

static void test_err_duplicate_key(void)
{
	EXPECT_ERROR("e-dupkey.ini", BASE "blocked_code = 404\nblocked_code = 404\n", 7,
		     "blocked_code");
	EXPECT_ERROR("e-dupkey2.ini", BASE "path = /x\n", 6, "path");
}

static void test_err_duplicate_section(void)
{
	EXPECT_ERROR("e-dupsec.ini", BASE "[route r]\npath = /x\n", 6, "route r");
	EXPECT_ERROR("e-dupsec2.ini", "[gateway]\n[gateway]\n" BASE, 2, "gateway");
	EXPECT_ERROR("e-dupsec3.ini", BASE "[upstream up]\nurl = http://x\n", 6, "upstream up");
}

static void test_err_header_without_bracket(void)
{
	EXPECT_ERROR("e-bracket.ini", BASE "[route x\npath = /x\n", 6, NULL);
}

static void test_err_no_equals(void)
{
	EXPECT_ERROR("e-noeq.ini", BASE "just some words\n", 6, NULL);
	EXPECT_ERROR("e-noeq2.ini",
		     "[upstream up]\nurl = http://127.0.0.1:9\nmodel gpt\n[route r]\npath = /\n", 3,
		     NULL);
}

/* An indented line without '=' right after a section header has no key to
 * continue: an error at its line. */
static void test_err_no_equals_indented(void)
{
	EXPECT_ERROR("e-noeq3.ini", BASE "[auth]\n    in_query yes\n", 7, NULL);
}

static void test_err_outside_section(void)
{
	EXPECT_ERROR("e-outside.ini", "max_body = 5\n" BASE, 1, "max_body");
	EXPECT_ERROR("e-outside2.ini", "; comment\n\nstate_dir = /x\n" BASE, 3, "state_dir");
}

static char *long_line(const char *key, size_t total)
{
	size_t k = strlen(key);
	char *s = gw_malloc(total + 2);

	memcpy(s, key, k);
	for (size_t i = k; i < total; i++)
		s[i] = i % 2 ? ',' : 'x';
	s[total] = '\n';
	s[total + 1] = '\0';
	return s;
}

/* A block_urls line of total to total + 7 bytes: "block_urls = w00000, w00001, ...". */
static char *block_line(size_t total, size_t *n_items)
{
	char *s = gw_malloc(total + 16);
	size_t len = (size_t)sprintf(s, "block_urls = ");

	*n_items = 0;
	while (len < total) {
		len += (size_t)sprintf(s + len, "%sw%05zu", *n_items ? ", " : "", *n_items);
		(*n_items)++;
	}
	return s;
}

static void test_long_lines(void)
{
	struct gw_diag d = { 0 };
	size_t n;
	char *line = block_line(300, &n);
	char *text = gw_asprintf(BASE "%s\n"
				      "blocked_code = 404   ; a comment after a long line\n",
				 line);
	char *last = gw_asprintf("/x?w%05zu", n - 1);
	struct block_text form = { last, strlen(last) };
	const char *list = NULL, *entry = NULL;
	struct gw_policy *p = LOAD_VALID("long300.ini", text, &d);
	const struct gw_route *r;

	CU_ASSERT(strlen(line) >= 300);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	r = route_named(p, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	TU_INT(r->block_urls.n, n);
	TU_INT(r->blocked_code, 404);
	/* The last entry of the long line blocks. */
	CU_ASSERT_TRUE(block_url(r, &form, 1, &list, &entry));
	CU_ASSERT(entry && strcmp(entry, last + 3) == 0);
	policy_free(p);
	diag_free(&d);
	free(text);
	free(last);

	/* The same line with an inline comment, CRLF, and an indented long
	 * continuation line. */
	text = gw_asprintf(BASE "%s   ; the list\r\n    %s, tail\r\n", line, line + 13);
	p = LOAD_VALID("long-cont.ini", text, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	r = route_named(p, "r");
	TU_INT(r->block_urls.n, 2 * n + 1);
	TU_STR(r->block_urls.v[n - 1], r->block_urls.v[2 * n - 1]);
	TU_STR(r->block_urls.v[2 * n], "tail");
	policy_free(p);
	diag_free(&d);
	free(text);
	free(line);

	/* A 64 KiB line (the most), then an error two lines later. */
	line = block_line(65536 - 8, &n);
	CU_ASSERT(strlen(line) > 65528 && strlen(line) <= 65536);
	text = gw_asprintf(BASE "%s\nblocked_code = 404\nwrong = 1\n", line);
	EXPECT_ERROR("long64k-err.ini", text, 8, "wrong");
	free(text);
	text = gw_asprintf(BASE "%s", line); /* and without a newline at the end */
	p = LOAD_VALID("long64k.ini", text, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT(route_named(p, "r")->block_urls.n > 5000);
	policy_free(p);
	diag_free(&d);
	free(text);
	free(line);

	/* Long comments, and long values of other keys. */
	line = long_line("; ", 65000);
	text = gw_asprintf(BASE "%s[consumer c]\ncredential = %0300d\nmodels = %0500d\n", line,
			   7, 8);
	p = LOAD_VALID("long-other.ini", text, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT(policy_consumer(p, "c") && policy_consumer(p, "c")->credential_len == 300);
	CU_ASSERT(policy_consumer(p, "c") && strlen(policy_consumer(p, "c")->models.v[0]) == 500);
	policy_free(p);
	diag_free(&d);
	free(text);
	free(line);
}

static void test_err_long_line(void)
{
	char *line = long_line("block_urls = ", 65537);
	char *huge = long_line("block_bodies = ", 1000000);
	char *text = gw_asprintf(BASE "%s", line);

	/* Over 64 KiB: FILE:LINE, and counting goes on. */
	EXPECT_ERROR("e-long.ini", text, 6, "longer than 65536");
	free(text);
	text = gw_asprintf(BASE "%sblocked_code = 404\nwrong = 1\n", line);
	EXPECT_ERROR("e-long2.ini", text, 8, "wrong");
	free(text);
	text = gw_asprintf(BASE "%s", huge);
	EXPECT_ERROR("e-long3.ini", text, 6, "longer than 65536");
	free(text);
	/* Without a newline at the end of the file. */
	text = gw_asprintf(BASE "%.*s", 65600, huge);
	EXPECT_ERROR("e-long4.ini", text, 6, "longer than 65536");
	free(text);
	/* An indented continuation over the limit. */
	text = gw_asprintf(BASE "block_urls = a\n   %.*s\n", 65540, huge + 15);
	EXPECT_ERROR("e-long5.ini", text, 7, "longer than 65536");
	free(text);
	/* A long line that is no "key = value", a long key, a long unknown key. */
	text = gw_asprintf(BASE "%.*s\n", 300, huge + 15);
	EXPECT_ERROR("e-long6.ini", text, 6, "key = value");
	free(text);
	text = gw_asprintf(BASE "%.*s = 1\n", 300, huge + 15);
	EXPECT_ERROR("e-long7.ini", text, 6, "key");
	free(text);
	text = gw_asprintf(BASE "blocked_message = %.*s\nblocked_message = x\n", 1000, huge + 15);
	EXPECT_ERROR("e-long8.ini", text, 7, "twice");
	free(text);
	/* A long scalar cannot continue either. */
	text = gw_asprintf(BASE "prompt_param = a\n    %.*s\n", 1000, huge + 15);
	EXPECT_ERROR("e-long9.ini", text, 7, "prompt_param");
	free(text);
	free(line);
	free(huge);
}

/* A value that is exactly the placeholder byte is taken as written. */
static void test_long_line_placeholder(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("ctl.ini", BASE "blocked_message = \x01\n", &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_STR(route_named(p, "r")->blocked_message, "\x01");
	policy_free(p);
	diag_free(&d);
}

static void test_err_credential_both(void)
{
	char hex[2 * SHA256_LEN + 1];
	unsigned char h[SHA256_LEN];
	char *text;

	gw_sha256("k", 1, h);
	str_hex_encode(h, SHA256_LEN, hex);
	text = gw_asprintf(BASE "[consumer c]\ncredential = k\ncredential_sha256 = %s\n", hex);
	EXPECT_ERROR("e-both.ini", text, 8, "credential");
	free(text);
	text = gw_asprintf(BASE "[consumer c]\ncredential_sha256 = %s\ncredential = k\n", hex);
	EXPECT_ERROR("e-both2.ini", text, 8, "credential");
	free(text);
	EXPECT_ERROR("e-both3.ini",
		     "[gateway]\nadmin_key = 0123456789\nadmin_key_sha256 = "
		     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" BASE,
		     3, "admin_key");
}

static void test_err_bad_sha256(void)
{
	/* 64 characters, one not hex. */
	EXPECT_ERROR("e-sha.ini",
		     BASE "[consumer c]\ncredential_sha256 = "
			  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g\n",
		     7, "credential_sha256");
	/* 63 digits. */
	EXPECT_ERROR("e-sha2.ini",
		     BASE "[consumer c]\ncredential_sha256 = "
			  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85\n",
		     7, "credential_sha256");
	/* 66 digits. */
	EXPECT_ERROR("e-sha3.ini",
		     BASE "[consumer c]\ncredential_sha256 = "
			  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85500\n",
		     7, "credential_sha256");
	EXPECT_ERROR("e-sha4.ini", "[gateway]\nadmin_key_sha256 = xyz\n" BASE, 2, "admin_key_sha256");
}

static void test_err_undefined_upstream(void)
{
	EXPECT_ERROR("e-ups.ini", BASE "upstream = nowhere\n", 4, "nowhere");
	/* Two upstreams and a route naming none: ambiguous. */
	EXPECT_ERROR("e-ups2.ini", BASE "[upstream two]\nurl = https://x\n", 4, "upstream");
}

static void test_err_allow_unknown(void)
{
	EXPECT_ERROR("e-allow.ini",
		     BASE "allow = alice, mallory\n"
			  "[consumer alice]\ncredential = alice-key\n",
		     4, "mallory");
}

static void test_err_same_credential(void)
{
	char hex[2 * SHA256_LEN + 1];
	unsigned char h[SHA256_LEN];
	char *text;

	EXPECT_ERROR("e-samecred.ini",
		     BASE "[consumer a]\ncredential = shared-key\n\n"
			  "[consumer b]\ncredential = shared-key\n",
		     9, "consumer");
	/* The same key, once in plain and once as its hash. */
	gw_sha256("shared-key", 10, h);
	str_hex_encode(h, SHA256_LEN, hex);
	text = gw_asprintf(BASE "[consumer a]\ncredential = shared-key\n"
				"[consumer b]\ncredential_sha256 = %s\n",
			   hex);
	EXPECT_ERROR("e-samecred2.ini", text, 8, "consumer");
	free(text);
}

static void test_err_bad_regexp(void)
{
	EXPECT_ERROR("e-re.ini", BASE "block_regexp_urls = ok.*, a(b\n", 4, "a(b");
	EXPECT_ERROR("e-re2.ini", BASE "block_regexp_urls = [z-a]\n", 4, "block_regexp_urls");
}

static void test_err_mode_api(void)
{
	EXPECT_ERROR("e-mode.ini", BASE "mode = chat\n", 6, "mode");
	EXPECT_ERROR("e-mode2.ini", BASE "mode = Prompt\n", 6, "mode");
	EXPECT_ERROR("e-api.ini", BASE "api = responses\n", 6, "api");
	EXPECT_ERROR("e-api2.ini", BASE "api =\n", 6, "api");
	/* an anthropic route needs anthropic upstreams: named at the route */
	EXPECT_ERROR("e-mode-up.ini", BASE "mode = anthropic\n", 4, "not api = anthropic");
}

static void test_mode_api_values(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p =
		LOAD_VALID("modes.ini", BASE "mode = openai\napi = completions\n", &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(route_named(p, "r")->mode, GW_MODE_OPENAI);
	CU_ASSERT_EQUAL(route_named(p, "r")->api, GW_API_COMPLETIONS);
	policy_free(p);
	diag_free(&d);
}

static void test_err_url(void)
{
	EXPECT_ERROR("e-url.ini", "[upstream up]\nurl = ftp://x/\n[route r]\npath = /\n", 2, "url");
	EXPECT_ERROR("e-url2.ini", "[upstream up]\nurl = 127.0.0.1:9\n[route r]\npath = /\n", 2,
		     "url");
	EXPECT_ERROR("e-url3.ini", "[upstream up]\nurl = HTTP\n[route r]\npath = /\n", 2, "url");
	/* No url at all: named at the section. */
	EXPECT_ERROR("e-url4.ini", "[route r]\npath = /\n\n[upstream up]\nmodel = m\n", 4, "url");
}

static void test_err_path(void)
{
	EXPECT_ERROR("e-path.ini", BASE "[route s]\npath = v1\n", 7, "path");
	EXPECT_ERROR("e-path2.ini", BASE "[route s]\npath = /v1?x=1\n", 7, "path");
	EXPECT_ERROR("e-path3.ini", BASE "[route s]\npath = /v1\n[route t]\npath = /v1/\n", 8,
		     "path");
}

static void test_err_missing_file(void)
{
	struct gw_diag d = { 0 };
	char *path = tu_path(g_dir, "does-not-exist.ini");
	char *prefix = gw_asprintf("%s: ", path);
	struct gw_policy *p = policy_load(path, &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(p->valid);
	CU_ASSERT_TRUE(has_msg(&d, prefix, NULL));
	/* A policy that could not be read notices when the file appears. */
	CU_ASSERT_FALSE(policy_changed(p));
	CU_ASSERT_EQUAL(tu_write_str(path, BASE), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
	free(prefix);
	free(path);
}

/* ---- lists ---- */

static void test_lists(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("lists.ini",
					 BASE "block_urls = a, b ,, , c,\t d\t,\n"
					      "block_bodies = ,\n"
					      "block_headers = one\n",
					 &d);
	const struct gw_route *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	r = route_named(p, "r");
	LIST_IS(&r->block_urls, "a", "b", "c", "d");
	CU_ASSERT_EQUAL(r->block_bodies.n, 0);
	LIST_IS(&r->block_headers, "one");
	CU_ASSERT_TRUE(list_has(&r->block_urls, "c"));
	CU_ASSERT_FALSE(list_has(&r->block_urls, "C"));
	CU_ASSERT_FALSE(list_has(&r->block_urls, ""));
	policy_free(p);
	diag_free(&d);
}

static void test_list_continuation(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("cont.ini",
					 "[upstream up]\n"
					 "url = http://127.0.0.1:9\n"
					 "[route r]\n"
					 "path = /\n"
					 "block_urls = a, b\n"
					 "    c ,  d\n"
					 "\te,\n"
					 "  case_sensitive = false\n"
					 "  block_bodies = x\n"
					 "      y\n"
					 "allow = \n"
					 "    alice\n"
					 "[consumer alice]\n"
					 "credential = alice-key\n",
					 &d);
	const struct gw_route *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	r = route_named(p, "r");
	LIST_IS(&r->block_urls, "a", "b", "c", "d", "e");
	CU_ASSERT_FALSE(r->case_sensitive); /* an indented key is still a key */
	LIST_IS(&r->block_bodies, "x", "y");
	LIST_IS(&r->allow, "alice");
	policy_free(p);
	diag_free(&d);
}

static void test_continuation_of_scalar(void)
{
	EXPECT_ERROR("e-cont.ini", BASE "prompt_param = a\n    b\n", 7, "prompt_param");
	EXPECT_ERROR("e-cont2.ini", BASE "mode = prompt\n    openai\n", 7, "mode");
}

static void test_indented_section(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("indent.ini",
					 "  [upstream up]\n"
					 "  url = http://127.0.0.1:9\n"
					 "\t[route r]\n"
					 "\tpath = /x\n"
					 "    [route s]\n"
					 "path = /y\n",
					 &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_INT(p->n_routes, 2);
	CU_ASSERT(route_named(p, "r") && strcmp(route_named(p, "r")->path, "/x") == 0);
	CU_ASSERT(route_named(p, "s") && strcmp(route_named(p, "s")->path, "/y") == 0);
	policy_free(p);
	diag_free(&d);
}

/* ---- api keys from files and the environment ---- */

static void test_api_key_file(void)
{
	char *keyfile = tu_path(g_dir, "keys/openai.key");
	char *text = gw_asprintf("[upstream up]\nurl = http://127.0.0.1:9\napi_key_file = %s\n"
				 "[route r]\npath = /\n",
				 keyfile);
	struct gw_diag d = { 0 };
	struct gw_policy *p;

	CU_ASSERT_EQUAL(tu_write_str(keyfile, "sk-from-file \r\n\n"), 0);
	p = LOAD_VALID("keyfile.ini", text, &d);
	CU_ASSERT(p && p->n_upstreams == 1);
	if (p && p->n_upstreams == 1)
		TU_STR(p->upstreams[0]->api_key, "sk-from-file");
	policy_free(p);
	diag_free(&d);

	/* Two lines, or nothing but blanks: refused. */
	CU_ASSERT_EQUAL(tu_write_str(keyfile, "sk-one\nsk-two\n"), 0);
	EXPECT_ERROR("keyfile2.ini", text, 3, "api_key_file");
	CU_ASSERT_EQUAL(tu_write_str(keyfile, " \n"), 0);
	EXPECT_ERROR("keyfile3.ini", text, 3, "api_key_file");
	CU_ASSERT_EQUAL(tu_write(keyfile, "sk\0x\n", 5), 0);
	EXPECT_ERROR("keyfile4.ini", text, 3, "api_key_file");

	/* Missing file. */
	CU_ASSERT_EQUAL(unlink(keyfile), 0);
	EXPECT_ERROR("keyfile5.ini", text, 3, "api_key_file");
	free(text);
	free(keyfile);
}

static void test_api_key_env(void)
{
	const char *text = "[upstream up]\nurl = http://127.0.0.1:9\n"
			   "api_key_env = AIGW_UNIT_TEST_KEY\n[route r]\npath = /\n";
	struct gw_diag d = { 0 };
	struct gw_policy *p;

	CU_ASSERT_EQUAL(setenv("AIGW_UNIT_TEST_KEY", "sk-from-env", 1), 0);
	p = LOAD_VALID("keyenv.ini", text, &d);
	CU_ASSERT(p && p->n_upstreams == 1);
	if (p && p->n_upstreams == 1)
		TU_STR(p->upstreams[0]->api_key, "sk-from-env");
	policy_free(p);
	diag_free(&d);

	CU_ASSERT_EQUAL(setenv("AIGW_UNIT_TEST_KEY", "sk\r\nX-Injected: 1", 1), 0);
	EXPECT_ERROR("keyenv2.ini", text, 3, "api_key_env");
	CU_ASSERT_EQUAL(setenv("AIGW_UNIT_TEST_KEY", "", 1), 0);
	EXPECT_ERROR("keyenv3.ini", text, 3, "AIGW_UNIT_TEST_KEY");
	CU_ASSERT_EQUAL(unsetenv("AIGW_UNIT_TEST_KEY"), 0);
	EXPECT_ERROR("keyenv4.ini", text, 3, "AIGW_UNIT_TEST_KEY");
}

static void test_api_key_exclusive(void)
{
	EXPECT_ERROR("e-keys.ini",
		     "[upstream up]\nurl = http://127.0.0.1:9\napi_key = a\napi_key_env = HOME\n"
		     "[route r]\npath = /\n",
		     4, "api_key");
}

/* ---- includes ---- */

static void test_include_sorted(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p;
	char *a = tu_path(g_dir, "inc/conf.d/10-a.ini");
	char *b = tu_path(g_dir, "inc/conf.d/20-b.ini");
	char *other = tu_path(g_dir, "inc/conf.d/30-c.conf");

	/* Written in reverse order: loading follows the sorted names. */
	CU_ASSERT_EQUAL(tu_write_str(b, "[route r]\npath = /\nupstream = a\n"), 0);
	CU_ASSERT_EQUAL(tu_write_str(a, "[upstream a]\nurl = http://a.example/v1/\n"), 0);
	CU_ASSERT_EQUAL(tu_write_str(other, "not an ini file\n"), 0);
	p = LOAD_VALID("inc/main.ini", "[gateway]\ninclude = conf.d/*.ini\nmax_body = 4096\n", &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_INT(p->n_files, 3);
	if (p->n_files == 3) {
		TU_STR(p->files[1], a);
		TU_STR(p->files[2], b);
	}
	TU_INT(p->max_body, 4096);
	CU_ASSERT_PTR_NOT_NULL(policy_upstream(p, "a"));
	CU_ASSERT(p->n_routes == 1 && p->routes[0]->upstream == policy_upstream(p, "a"));
	if (p->n_routes == 1)
		TU_STR(p->routes[0]->file, b);
	TU_STR(policy_upstream(p, "a") ? policy_upstream(p, "a")->url : NULL,
	       "http://a.example/v1");
	CU_ASSERT_FALSE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
	free(a);
	free(b);
	free(other);
}

static void test_include_nothing(void)
{
	struct gw_diag d = { 0 };
	char *stray = tu_path(g_dir, "inc2/empty.d/readme.txt");
	struct gw_policy *p;

	/* The directory exists; nothing in it matches. */
	CU_ASSERT_EQUAL(tu_write_str(stray, "not included\n"), 0);
	p = LOAD_VALID("inc2/main.ini", "[gateway]\ninclude = empty.d/*.ini, *.conf\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_INT(p->n_files, 1);
	CU_ASSERT_FALSE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
	free(stray);
}

/* An include whose directory does not exist matches nothing: the policy is
 * valid, and policy_changed() notices when the directory appears. */
static void test_include_missing_dir(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p;
	char *later = tu_path(g_dir, "inc4/later.d/x.ini");

	p = LOAD_VALID("inc4/main.ini", "[gateway]\ninclude = later.d/*.ini\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_INT(p->n_files, 1);
	CU_ASSERT_FALSE(policy_changed(p));
	/* The directory appears: a change. */
	CU_ASSERT_EQUAL(tu_write_str(later, "[consumer x]\ncredential = kx\n"), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
	free(later);
}

static void test_include_error_location(void)
{
	char *c = tu_path(g_dir, "inc3/conf.d/a.ini");

	CU_ASSERT_EQUAL(tu_write_str(c, "[consumer x]\ncredential = k\nbogus = 1\n"), 0);
	expect_error_in("inc3/main.ini", "[gateway]\ninclude = conf.d/*.ini\n" BASE,
			"inc3/conf.d/a.ini", 3, "bogus", __LINE__);
	/* A key at the top of an included file is outside any section. */
	CU_ASSERT_EQUAL(tu_write_str(c, "max_body = 5\n"), 0);
	expect_error_in("inc3/main.ini", "[gateway]\ninclude = conf.d/*.ini\n" BASE,
			"inc3/conf.d/a.ini", 1, "max_body", __LINE__);
	/* [gateway] once across all files. */
	CU_ASSERT_EQUAL(tu_write_str(c, "[gateway]\n"), 0);
	expect_error_in("inc3/main.ini", "[gateway]\ninclude = conf.d/*.ini\n" BASE,
			"inc3/conf.d/a.ini", 1, "gateway", __LINE__);
	free(c);
}

static void test_include_loop(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p;
	char *b = tu_path(g_dir, "loop/b.ini");

	/* A file including itself. */
	p = load_text("loop/self.ini", "[gateway]\ninclude = self.ini\n" BASE, &d, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(p->valid);
	CU_ASSERT(d.n_errors > 0);
	CU_ASSERT(d.n < 1000);
	policy_free(p);
	diag_free(&d);

	/* Two files including each other, through globs. */
	CU_ASSERT_EQUAL(tu_write_str(b, "[gateway]\ninclude = a*.ini\n"), 0);
	p = load_text("loop/a.ini", "[gateway]\ninclude = b*.ini\n" BASE, &d, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(p->valid);
	CU_ASSERT(d.n_errors > 0);
	CU_ASSERT(d.n < 1000);
	policy_free(p);
	diag_free(&d);
	free(b);
}

/* ---- change detection ---- */

static void test_changed_size(void)
{
	struct gw_diag d = { 0 };
	char *path = NULL;
	struct gw_policy *p = load_text("chg/size.ini", BASE, &d, &path);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_TRUE(p->valid);
	CU_ASSERT_FALSE(policy_changed(p));
	CU_ASSERT_FALSE(policy_changed(p)); /* asking twice changes nothing */
	CU_ASSERT_EQUAL(tu_write_str(path, BASE "; one more line\n"), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
	free(path);
}

static void test_changed_mtime(void)
{
	struct gw_diag d = { 0 };
	char *path = NULL;
	struct gw_policy *p = load_text("chg/mtime.ini", BASE, &d, &path);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(policy_changed(p));
	set_mtime(path, 1000000000); /* same size, same inode, other time */
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
	free(path);
}

static void test_changed_replaced(void)
{
	struct gw_diag d = { 0 };
	char *path = NULL, *tmp = tu_path(g_dir, "chg/replaced.ini.new");
	struct gw_policy *p;
	struct stat sb;

	p = load_text("chg/replaced.ini", BASE, &d, &path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(policy_changed(p));
	/* Same size and mtime, new inode (an editor's rename-over). */
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(tu_write_str(tmp, BASE), 0);
	{
		struct timespec ts[2] = { sb.st_atim, sb.st_mtim };
		CU_ASSERT_EQUAL(utimensat(AT_FDCWD, tmp, ts, 0), 0);
	}
	CU_ASSERT_EQUAL(rename(tmp, path), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);

	/* Removed. */
	p = load_text("chg/replaced.ini", BASE, &d, NULL);
	CU_ASSERT_FALSE(policy_changed(p));
	CU_ASSERT_EQUAL(unlink(path), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
	free(path);
	free(tmp);
}

static void test_changed_include_dir(void)
{
	struct gw_diag d = { 0 };
	char *confd = tu_path(g_dir, "chg2/conf.d");
	char *a = tu_path(g_dir, "chg2/conf.d/10-a.ini");
	char *b = tu_path(g_dir, "chg2/conf.d/20-b.ini");
	struct gw_policy *p;

	CU_ASSERT_EQUAL(tu_write_str(a, "[consumer a]\ncredential = key-a\n"), 0);
	/* Directory times are coarse: start from a time surely in the past so
	 * that adding a file now is seen as a change. */
	set_mtime(confd, 1000000000);
	p = LOAD_VALID("chg2/main.ini", "[gateway]\ninclude = conf.d/*.ini\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(policy_changed(p));
	CU_ASSERT_EQUAL(tu_write_str(b, "[consumer b]\ncredential = key-b\n"), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);

	/* An included file's own change is seen too. */
	set_mtime(confd, 1000000000);
	p = LOAD_VALID("chg2/main.ini", "[gateway]\ninclude = conf.d/*.ini\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(p->n_consumers, 2);
	CU_ASSERT_FALSE(policy_changed(p));
	CU_ASSERT_EQUAL(tu_write_str(b, "[consumer b]\ncredential = key-bb\n"), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);

	free(confd);
	free(a);
	free(b);
}

/* ---- routes ---- */

static void test_route_prefix(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("routes.ini",
					 "[upstream up]\nurl = http://127.0.0.1:9\n"
					 "[route chat]\npath = /v1/chat\n"
					 "[route root]\npath = /\n"
					 "[route v1]\npath = /v1\n",
					 &d);
	const struct gw_route *chat, *root, *v1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	chat = route_named(p, "chat");
	root = route_named(p, "root");
	v1 = route_named(p, "v1");
	CU_ASSERT_FATAL(chat && root && v1);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v1"), v1);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v1/"), v1);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v1/models"), v1);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v1/chat"), chat);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v1/chat/completions"), chat);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v1/chatx"), v1);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v1x"), root);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v"), root);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/"), root);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/other/v1"), root);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/V1"), root); /* paths are case-sensitive */
	/* Sorted longest first. */
	CU_ASSERT_PTR_EQUAL(p->routes[0], chat);
	CU_ASSERT_PTR_EQUAL(p->routes[2], root);
	policy_free(p);
	diag_free(&d);
}

static void test_route_no_root(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("routes2.ini",
					 "[upstream up]\nurl = http://127.0.0.1:9\n"
					 "[route v1]\npath = /v1\n"
					 "[route chat]\npath = /v1/chat\n",
					 &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v1/chat/x"), route_named(p, "chat"));
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v1/chatty"), route_named(p, "v1"));
	CU_ASSERT_PTR_NULL(policy_route(p, "/v1x"));
	CU_ASSERT_PTR_NULL(policy_route(p, "/v"));
	CU_ASSERT_PTR_NULL(policy_route(p, "/"));
	CU_ASSERT_PTR_NULL(policy_route(p, ""));
	CU_ASSERT_PTR_NULL(policy_route(p, "/v2/v1"));
	policy_free(p);
	diag_free(&d);
}

static void test_route_trailing_slash(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("routes3.ini",
					 "[upstream up]\nurl = http://127.0.0.1:9\n"
					 "[route v2]\npath = /v2/\n"
					 "[route deep]\npath = /a/b///\n",
					 &d);
	const struct gw_route *v2, *deep;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	v2 = route_named(p, "v2");
	deep = route_named(p, "deep");
	CU_ASSERT_FATAL(v2 && deep);
	TU_STR(v2->path, "/v2");
	TU_INT(v2->path_len, 3);
	TU_STR(deep->path, "/a/b");
	TU_INT(deep->path_len, 4);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v2"), v2);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v2/"), v2);
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/v2/chat"), v2);
	CU_ASSERT_PTR_NULL(policy_route(p, "/v2x"));
	CU_ASSERT_PTR_EQUAL(policy_route(p, "/a/b"), deep);
	CU_ASSERT_PTR_NULL(policy_route(p, "/a"));
	policy_free(p);
	diag_free(&d);
}

static void test_diag_add(void)
{
	struct gw_diag d = { 0 };

	diag_add(&d, false, "f.ini", 3, "bad %s", "thing");
	diag_add(&d, true, "f.ini", 0, "just so");
	diag_add(NULL, false, "f.ini", 1, "ignored");
	TU_INT(d.n, 2);
	TU_INT(d.n_errors, 1);
	if (d.n == 2) {
		TU_STR(d.msgs[0], "f.ini:3: bad thing");
		TU_STR(d.msgs[1], "f.ini: warning: just so");
		CU_ASSERT_FALSE(d.warning[0]);
		CU_ASSERT_TRUE(d.warning[1]);
	}
	diag_free(&d);
	TU_INT(d.n, 0);
	CU_ASSERT_PTR_NULL(d.msgs);
}

/* ---- prices, budgets, upstream groups ---- */

/* Two priced models after BASE: the first [model] is line 6. */
#define MODELS                                                                             \
	"[model gpt-4o-mini]\n"                                                            \
	"input_per_1m = 0.15\n"                                                            \
	"output_per_1m = 0.60\n"                                                           \
	"aliases = mini, gpt-4o-mini-2024-07-18\n"                                         \
	"[model big]\n"                                                                    \
	"input_per_1m = 2.5\n"                                                             \
	"output_per_1m = 10\n"

static void test_model_prices(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("models.ini",
					 BASE MODELS "[model free]\ninput_per_1m = 0\n"
						     "output_per_1m = 0.000001\n"
						     "[model dear]\ninput_per_1m = 1000000\n"
						     "output_per_1m = 999999.999999\n",
					 &d);
	const struct gw_model *m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_INT(p->n_models, 4);
	m = policy_model(p, "gpt-4o-mini");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	TU_STR(m->name, "gpt-4o-mini");
	TU_INT(m->input_pico, 150000);
	TU_INT(m->output_pico, 600000);
	CU_ASSERT_TRUE(m->has_input && m->has_output);
	LIST_IS(&m->aliases, "mini", "gpt-4o-mini-2024-07-18");
	TU_INT(m->line, 6);
	/* Found by any alias, exactly. */
	CU_ASSERT_PTR_EQUAL(policy_model(p, "mini"), m);
	CU_ASSERT_PTR_EQUAL(policy_model(p, "gpt-4o-mini-2024-07-18"), m);
	CU_ASSERT_PTR_NULL(policy_model(p, "Mini"));
	CU_ASSERT_PTR_NULL(policy_model(p, "gpt-4o"));
	CU_ASSERT_PTR_NULL(policy_model(p, ""));
	CU_ASSERT_PTR_NULL(policy_model(p, NULL));
	m = policy_model(p, "big");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	TU_INT(m->input_pico, 2500000);
	TU_INT(m->output_pico, 10000000);
	CU_ASSERT_EQUAL(m->aliases.n, 0);
	m = policy_model(p, "free");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	TU_INT(m->input_pico, 0);
	CU_ASSERT_TRUE(m->has_input);
	TU_INT(m->output_pico, 1);
	m = policy_model(p, "dear");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	TU_INT(m->input_pico, 1000000000000LL);
	TU_INT(m->output_pico, 999999999999LL);
	policy_free(p);
	diag_free(&d);
}

static void test_parse_decimal(void)
{
	static const struct {
		const char *s;
		int digits;
		int64_t want; /* -1: an error */
	} cases[] = {
		{ "0.15", 6, 150000 },   { "12", 6, 12000000 },      { "0.0375", 6, 37500 },
		{ "0", 6, 0 },           { "000.100000", 6, 100000 }, { "0.1234567", 6, -1 },
		{ "-1", 6, -1 },         { "1e3", 6, -1 },           { "", 6, -1 },
		{ ".5", 6, -1 },         { "5.", 6, -1 },            { "1.2.3", 6, -1 },
		{ " 1", 6, -1 },         { "1 ", 6, -1 },            { "+1", 6, -1 },
		{ "25", 12, 25000000000000LL }, { "2.50", 12, 2500000000000LL },
		{ "0.000000000001", 12, 1 },    { "0.0000000000001", 12, -1 },
		{ "99999999999999999999", 0, -1 },
	};

	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		int64_t v = -7;
		int rc = policy_parse_decimal(cases[i].s, cases[i].digits, INT64_MAX, &v);
		if (cases[i].want < 0) {
			if (rc != -1)
				fprintf(stderr, "\n    accepted \"%s\"\n", cases[i].s);
			TU_INT(rc, -1);
		} else {
			TU_INT(rc, 0);
			TU_INT(v, cases[i].want);
		}
	}
	/* max is inclusive */
	{
		int64_t v;
		TU_INT(policy_parse_decimal("1", 6, 1000000, &v), 0);
		TU_INT(policy_parse_decimal("1.000001", 6, 1000000, &v), -1);
	}
}

static void test_err_model_prices(void)
{
	static const char *const bad[] = { "0.1234567", "-1", "1e3", "", "abc",
					   "1.2.3",     ".5", "5.",  "1,5", "1000000.000001" };

	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		char *text = gw_asprintf(BASE "[model m]\ninput_per_1m = %s\noutput_per_1m = 1\n",
					 bad[i]);
		char *text2 = gw_asprintf(BASE "[model m]\ninput_per_1m = 1\noutput_per_1m = %s\n",
					  bad[i]);
		EXPECT_ERROR("e-price.ini", text, 7, "input_per_1m");
		EXPECT_ERROR("e-price2.ini", text2, 8, "output_per_1m");
		free(text);
		free(text2);
	}
	/* Both prices are needed: named at the section. */
	EXPECT_ERROR("e-price3.ini", BASE "[model m]\ninput_per_1m = 1\n", 6, "output_per_1m");
	EXPECT_ERROR("e-price4.ini", BASE "[model m]\noutput_per_1m = 1\n", 6, "input_per_1m");
	EXPECT_ERROR("e-price5.ini", BASE "\n[model m]\naliases = x\n", 7, "m");
	/* Unknown key; duplicate section. */
	EXPECT_ERROR("e-price6.ini", BASE MODELS "cached_per_1m = 1\n", 13, "cached_per_1m");
	EXPECT_ERROR("e-price7.ini", BASE MODELS "[model big]\ninput_per_1m = 1\n", 13, "big");
}

static void test_err_duplicate_alias(void)
{
	/* The same alias in two models: named at the second. */
	EXPECT_ERROR("e-alias.ini",
		     BASE MODELS "[model other]\ninput_per_1m = 1\noutput_per_1m = 1\n"
				 "aliases = x, mini\n",
		     13, "mini");
	/* An alias that is an earlier model's name. */
	EXPECT_ERROR("e-alias2.ini",
		     BASE MODELS "[model other]\ninput_per_1m = 1\noutput_per_1m = 1\n"
				 "aliases = big\n",
		     13, "big");
}

/* An alias naming a model defined after it is an error too, not a
 * silent shadow of that model's prices. */
static void test_alias_names_later_model(void)
{
	struct gw_diag d = { 0 };
	char *path = NULL, *at6, *at10;
	struct gw_policy *p = load_text("e-alias3.ini",
					BASE "[model a]\ninput_per_1m = 1\noutput_per_1m = 1\n"
					     "aliases = b\n"
					     "[model b]\ninput_per_1m = 2\noutput_per_1m = 2\n",
					&d, &path);

	/* Named at either model's section. */
	at6 = gw_asprintf("%s:6: ", path);
	at10 = gw_asprintf("%s:10: ", path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(p->valid);
	CU_ASSERT_TRUE(has_msg(&d, at6, "alias b") || has_msg(&d, at10, "alias b"));
	policy_free(p);
	diag_free(&d);
	free(at6);
	free(at10);
	free(path);
}

static void test_consumer_budgets(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("budgets.ini",
					 BASE "[consumer a]\ncredential = ka\n"
					      "budget_per_day = 25\nbudget_per_month = 2.50\n"
					      "[consumer b]\ncredential = kb\n"
					      "budget_per_month = 0.000000000001\n"
					      "[consumer c]\ncredential = kc\n",
					 &d);
	const struct gw_consumer *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	c = policy_consumer(p, "a");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	TU_INT(c->limits.budget_day, 25000000000000LL);
	TU_INT(c->limits.budget_month, 2500000000000LL);
	c = policy_consumer(p, "b");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	TU_INT(c->limits.budget_day, 0);
	TU_INT(c->limits.budget_month, 1);
	c = policy_consumer(p, "c");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	TU_INT(c->limits.budget_day, 0); /* no budget */
	TU_INT(c->limits.budget_month, 0);
	policy_free(p);
	diag_free(&d);
}

static void test_err_consumer_budgets(void)
{
	static const char *const bad[] = { "0",   "-1",  "0.0",   "0.0000000000001", "1e3",
					   "",    "abc", "$25",   "25 USD",          "9000000.000000000001",
					   "99999999999999999999" };

	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		char *text = gw_asprintf(BASE "[consumer a]\ncredential = ka\nbudget_per_day = %s\n",
					 bad[i]);
		char *text2 = gw_asprintf(BASE "[consumer a]\nbudget_per_month = %s\ncredential = ka\n",
					  bad[i]);
		EXPECT_ERROR("e-budget.ini", text, 8, "budget_per_day");
		EXPECT_ERROR("e-budget2.ini", text2, 7, "budget_per_month");
		free(text);
		free(text2);
	}
	/* $9,000,000 is the most. */
	{
		struct gw_diag d = { 0 };
		struct gw_policy *p = LOAD_VALID(
			"budget-max.ini", BASE "[consumer a]\ncredential = ka\nbudget_per_day = 9000000\n",
			&d);
		if (p && policy_consumer(p, "a"))
			TU_INT(policy_consumer(p, "a")->limits.budget_day, 9000000000000000000LL);
		policy_free(p);
		diag_free(&d);
	}
}

static void test_upstream_group_keys(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("groups.ini",
					 "[upstream a]\nurl = https://a.example/v1\n"
					 "weight = 5\ncooldown_s = 0\n"
					 "model_map = gpt-4o:gpt-4o-2024-08-06, mini:ft:x:y\n"
					 "[upstream b]\nurl = https://b.example/v1\n"
					 "[route r]\npath = /\nupstream = b, a\n",
					 &d);
	const struct gw_upstream *a, *b;
	const struct gw_route *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	a = policy_upstream(p, "a");
	b = policy_upstream(p, "b");
	CU_ASSERT_FATAL(a && b);
	TU_INT(a->weight, 5);
	TU_INT(a->cooldown_s, 0);
	LIST_IS(&a->model_map, "gpt-4o:gpt-4o-2024-08-06", "mini:ft:x:y");
	/* defaults */
	TU_INT(b->weight, 1);
	TU_INT(b->cooldown_s, 30);
	CU_ASSERT_EQUAL(b->model_map.n, 0);

	r = route_named(p, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	TU_INT(r->n_upstreams, 2);
	if (r->n_upstreams == 2) {
		CU_ASSERT_PTR_EQUAL(r->upstreams[0], b); /* the listed order */
		CU_ASSERT_PTR_EQUAL(r->upstreams[1], a);
	}
	CU_ASSERT_PTR_EQUAL(r->upstream, b);
	LIST_IS(&r->upstream_names, "b", "a");
	TU_INT(r->retries, 1); /* n - 1 */
	CU_ASSERT_EQUAL(r->strategy, GW_STRATEGY_FAILOVER);
	policy_free(p);
	diag_free(&d);
}

static void test_err_upstream_group_keys(void)
{
	EXPECT_ERROR("e-weight.ini", BASE "[upstream w]\nurl = https://w\nweight = 0\n", 8, "weight");
	EXPECT_ERROR("e-weight2.ini", BASE "[upstream w]\nurl = https://w\nweight = 1001\n", 8,
		     "weight");
	EXPECT_ERROR("e-weight3.ini", BASE "[upstream w]\nurl = https://w\nweight = -1\n", 8,
		     "weight");
	EXPECT_ERROR("e-weight4.ini", BASE "[upstream w]\nurl = https://w\nweight = 1.5\n", 8,
		     "weight");
	EXPECT_ERROR("e-cool.ini", BASE "[upstream w]\nurl = https://w\ncooldown_s = -1\n", 8,
		     "cooldown_s");
	EXPECT_ERROR("e-cool2.ini", BASE "[upstream w]\nurl = https://w\ncooldown_s = 86401\n", 8,
		     "cooldown_s");
	EXPECT_ERROR("e-map.ini", "[upstream up]\nurl = http://127.0.0.1:9\nmodel_map = a:b, nocolon\n"
				  "[route r]\npath = /\n",
		     3, "nocolon");
	EXPECT_ERROR("e-map2.ini", "[upstream up]\nurl = http://127.0.0.1:9\nmodel_map = :x\n"
				   "[route r]\npath = /\n",
		     3, "model_map");
	EXPECT_ERROR("e-map3.ini", "[upstream up]\nurl = http://127.0.0.1:9\nmodel_map = x:\n"
				   "[route r]\npath = /\n",
		     3, "model_map");
}

/* Three upstreams after BASE's one; the route is at line 4. */
#define THREE_MORE "[upstream u2]\nurl = https://u2\n[upstream u3]\nurl = https://u3\n"

static void test_route_upstreams_and_retries(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p;
	const struct gw_route *r;

	p = LOAD_VALID("retries.ini", BASE "upstream = up, u2, u3\n" THREE_MORE, &d);
	r = p ? route_named(p, "r") : NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	TU_INT(r->n_upstreams, 3);
	TU_INT(r->retries, 2);
	if (r->n_upstreams == 3) {
		TU_STR(r->upstreams[0]->name, "up");
		TU_STR(r->upstreams[1]->name, "u2");
		TU_STR(r->upstreams[2]->name, "u3");
	}
	policy_free(p);
	diag_free(&d);

	p = LOAD_VALID("retries2.ini", BASE "upstream = u3, up\nretries = 0\n" THREE_MORE, &d);
	r = p ? route_named(p, "r") : NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	TU_INT(r->retries, 0);
	TU_STR(r->upstream->name, "u3");
	policy_free(p);
	diag_free(&d);

	p = LOAD_VALID("retries3.ini", BASE "retries = 10\n", &d);
	r = p ? route_named(p, "r") : NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	TU_INT(r->retries, 10);
	policy_free(p);
	diag_free(&d);

	/* One upstream, implied: no retries. */
	p = LOAD_VALID("retries4.ini", BASE, &d);
	r = p ? route_named(p, "r") : NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	TU_INT(r->n_upstreams, 1);
	TU_INT(r->retries, 0);
	policy_free(p);
	diag_free(&d);

	EXPECT_ERROR("e-retries.ini", BASE "retries = 11\n", 6, "retries");
	EXPECT_ERROR("e-retries2.ini", BASE "retries = -1\n", 6, "retries");
	/* An unknown name among known ones: named at the route. */
	EXPECT_ERROR("e-list.ini", BASE "upstream = up, nowhere, u2\n" THREE_MORE, 4, "nowhere");
}

static void test_strategy(void)
{
	static const struct {
		const char *v;
		enum gw_strategy want;
	} good[] = { { "failover", GW_STRATEGY_FAILOVER },
		     { "round_robin", GW_STRATEGY_ROUND_ROBIN },
		     { "weighted", GW_STRATEGY_WEIGHTED } };
	static const char *const bad[] = { "random", "Failover", "", "round-robin", "weighted2" };

	for (size_t i = 0; i < GW_ARRAY_LEN(good); i++) {
		struct gw_diag d = { 0 };
		char *text = gw_asprintf(BASE "strategy = %s\n", good[i].v);
		struct gw_policy *p = LOAD_VALID("strategy.ini", text, &d);
		const struct gw_route *r = p ? route_named(p, "r") : NULL;
		CU_ASSERT(r && r->strategy == good[i].want);
		policy_free(p);
		diag_free(&d);
		free(text);
	}
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		char *text = gw_asprintf(BASE "strategy = %s\n", bad[i]);
		EXPECT_ERROR("e-strategy.ini", text, 6, "strategy");
		free(text);
	}
}

/* ---- lint ---- */

/* Loads text (valid), lints it, and returns the lint's messages. */
static struct gw_diag lint_text(const char *name, const char *text, mode_t mode, unsigned line)
{
	struct gw_diag d = { 0 }, lint = { 0 };
	char *path = NULL;
	struct gw_policy *p = load_text(name, text, &d, &path);

	if (!p || !p->valid) {
		fprintf(stderr, "\n    %s:%u: expected %s to load cleanly", __FILE__, line, name);
		dump_diag(&d);
		tu_assert_ll(0, 1, "policy loads valid", line, __FILE__, __func__);
	} else {
		CU_ASSERT_EQUAL(chmod(path, mode), 0);
		policy_lint(p, &lint);
	}
	for (size_t i = 0; i < lint.n; i++)
		CU_ASSERT_TRUE(lint.warning[i]);
	TU_INT(lint.n_errors, 0);
	policy_free(p);
	diag_free(&d);
	free(path);
	return lint;
}

/* Expects exactly one lint message starting with "PATH[:LINE]: warning: "
 * and holding needle, or (want == false) none holding needle. */
static void expect_lint(const char *name, const char *text, mode_t mode, bool want, int at_line,
			const char *needle, unsigned line)
{
	struct gw_diag lint = lint_text(name, text, mode, line);
	char *path = tu_path(g_dir, name);
	char *prefix = at_line > 0 ? gw_asprintf("%s:%d: warning: ", path, at_line)
				   : gw_asprintf("%s: warning: ", path);
	size_t with = 0, at = 0;

	for (size_t i = 0; i < lint.n; i++) {
		if (!strstr(lint.msgs[i], needle))
			continue;
		with++;
		at += strncmp(lint.msgs[i], prefix, strlen(prefix)) == 0;
	}
	if ((want && (with != 1 || at != 1)) || (!want && with != 0)) {
		fprintf(stderr, "\n    %s:%u: expected %s warning \"%s...%s\"", __FILE__, line,
			want ? "a" : "no", prefix, needle);
		dump_diag(&lint);
	}
	tu_assert_ll(want ? with == 1 && at == 1 : with == 0, 1, "lint warnings", line, __FILE__,
		     "expect_lint");
	diag_free(&lint);
	free(path);
	free(prefix);
}

#define LINT(name, text, want, at_line, needle) \
	expect_lint(name, text, 0600, want, at_line, needle, __LINE__)

static void test_lint_open_route(void)
{
	/* global_auth = false and no allow: open to everyone. */
	LINT("lint-open.ini", "[auth]\nglobal_auth = false\n" BASE, true, 6, "open to everyone");
	/* An allow list closes it; global_auth (the default) too. */
	LINT("lint-open2.ini",
	     "[auth]\nglobal_auth = false\n" BASE "allow = a\n[consumer a]\ncredential = ka\n", false,
	     0, "open to everyone");
	LINT("lint-open3.ini", BASE, false, 0, "open to everyone");
	/* Each open route is named. */
	LINT("lint-open4.ini",
	     "[auth]\nglobal_auth = false\n" BASE "allow = a\n[consumer a]\ncredential = ka\n"
	     "[route open]\npath = /open\n",
	     true, 11, "[route open]");
}

static void test_lint_in_query(void)
{
	LINT("lint-query.ini", "[auth]\nin_query = true\n" BASE, true, 0, "in_query");
	LINT("lint-query2.ini", "[auth]\nin_query = false\n" BASE, false, 0, "in_query");
}

static void test_lint_readable_keys(void)
{
	const char *text = "[upstream up]\nurl = https://api.example.com\napi_key = sk-x\n"
			   "[route r]\npath = /\n";
	const char *cred = BASE "[consumer a]\ncredential = plain-key\n";

	expect_lint("lint-key.ini", text, 0644, true, 0, "everyone may read", __LINE__);
	expect_lint("lint-key.ini", text, 0640, false, 0, "everyone may read", __LINE__);
	expect_lint("lint-key.ini", text, 0600, false, 0, "everyone may read", __LINE__);
	expect_lint("lint-cred.ini", cred, 0644, true, 0, "everyone may read", __LINE__);
	/* A file with hashes only holds no key. */
	expect_lint("lint-hash.ini",
		    BASE "[consumer a]\ncredential_sha256 = "
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
		    0644, false, 0, "everyone may read", __LINE__);

	/* api_key_file: the key file is named. */
	{
		char *keyfile = tu_path(g_dir, "lint-secret.key");
		char *t = gw_asprintf("[upstream up]\nurl = https://a.example\napi_key_file = %s\n"
				      "[route r]\npath = /\n",
				      keyfile);
		char *prefix = gw_asprintf("%s: warning: ", keyfile);
		struct gw_diag lint;
		CU_ASSERT_EQUAL(tu_write_str(keyfile, "sk-file\n"), 0);
		CU_ASSERT_EQUAL(chmod(keyfile, 0604), 0);
		lint = lint_text("lint-keyfile.ini", t, 0600, __LINE__);
		CU_ASSERT_TRUE(has_msg(&lint, prefix, "everyone may read"));
		diag_free(&lint);
		CU_ASSERT_EQUAL(chmod(keyfile, 0600), 0);
		lint = lint_text("lint-keyfile.ini", t, 0600, __LINE__);
		CU_ASSERT_FALSE(has_msg(&lint, prefix, "everyone may read"));
		diag_free(&lint);
		free(prefix);
		free(t);
		free(keyfile);
	}
}

static void test_lint_plain_http(void)
{
	static const char *const remote[] = { "http://api.example.com/v1", "http://10.0.0.7:8080",
					      "http://localhost.example.com",
					      "http://128.0.0.1/v1" };
	static const char *const local[] = { "http://127.0.0.1:9/v1", "http://127.0.0.1",
					     "http://localhost:8080", "http://localhost",
					     "http://[::1]:8000/v1", "https://api.example.com/v1" };

	for (size_t i = 0; i < GW_ARRAY_LEN(remote); i++) {
		char *text = gw_asprintf("[upstream up]\nurl = %s\n[route r]\npath = /\n", remote[i]);
		LINT("lint-http.ini", text, true, 1, "plain http");
		free(text);
	}
	for (size_t i = 0; i < GW_ARRAY_LEN(local); i++) {
		char *text = gw_asprintf("[upstream up]\nurl = %s\n[route r]\npath = /\n", local[i]);
		LINT("lint-http2.ini", text, false, 0, "plain http");
		free(text);
	}
	/* Every such upstream is named at its section. */
	LINT("lint-http3.ini",
	     BASE "upstream = up\n[upstream far]\nurl = http://far.example\n", true, 7,
	     "[upstream far]");
}

/* Only a literal 127.x.y.z address (and localhost, [::1]) is local: a
 * host name such as 127.example.com gets the plain-http warning. */
static void test_lint_127_host_name(void)
{
	LINT("lint-http4.ini", "[upstream up]\nurl = http://127.example.com/v1\n[route r]\npath = /\n",
	     true, 1, "plain http");
}

/* The seed policy lints clean but for its one open route. */
static void test_lint_seed(void)
{
	struct gw_diag lint = lint_text("lint-seed.ini", seed_ini, 0600, __LINE__);

	TU_INT(lint.n, 0); /* consumer1 is the allow list; https upstream */
	if (lint.n)
		dump_diag(&lint);
	diag_free(&lint);
}


/* ---- keys of this round: threads, keys_dir, alerts, caps, cache prices,
 * parallel limits, key metadata, anthropic ---- */

static void test_gateway_new_keys(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("newgw.ini",
					 "[gateway]\nthreads = 4096\nalert_at = 50, 80,\n  100, 1000\n"
					 "alert_command = /usr/local/bin/alert\n"
					 "max_answer = 1024\nstream_timeout = 60\n"
					 "[upstream up]\nurl = http://127.0.0.1:9/v1\napi = anthropic\n"
					 "[route r]\npath = /\nmode = anthropic\nmax_parallel = 3\n",
					 &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_INT(p->threads, 4096);
	TU_INT(p->n_alert_at, 4);
	TU_INT(p->alert_at[0], 50);
	TU_INT(p->alert_at[1], 80);
	TU_INT(p->alert_at[2], 100);
	TU_INT(p->alert_at[3], 1000);
	TU_STR(p->alert_command, "/usr/local/bin/alert");
	TU_INT(p->max_answer, 1024);
	TU_INT(p->stream_timeout_s, 60);
	CU_ASSERT_EQUAL(p->upstreams[0]->api, GW_UPSTREAM_ANTHROPIC);
	CU_ASSERT_EQUAL(route_named(p, "r")->mode, GW_MODE_ANTHROPIC);
	TU_INT(route_named(p, "r")->limits.max_parallel, 3);
	policy_free(p);
	diag_free(&d);

	/* threads = 1 and one alert threshold */
	p = LOAD_VALID("newgw2.ini", "[gateway]\nthreads = 1\nalert_at = 1\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_INT(p->threads, 1);
	TU_INT(p->n_alert_at, 1);
	TU_INT(p->alert_at[0], 1);
	policy_free(p);
	diag_free(&d);
}

static void test_err_gateway_new_keys(void)
{
	static const char *const bad_threads[] = { "0", "4097", "-1", "many", "", "1.5" };
	static const char *const bad_alerts[] = { "0", "1001", "80, 50", "50, 50", "x", "50, -1",
						  "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
						  "50%" };

	for (size_t i = 0; i < GW_ARRAY_LEN(bad_threads); i++) {
		char *t = gw_asprintf("[gateway]\nthreads = %s\n" BASE, bad_threads[i]);
		EXPECT_ERROR("e-threads.ini", t, 2, "threads");
		free(t);
	}
	for (size_t i = 0; i < GW_ARRAY_LEN(bad_alerts); i++) {
		char *t = gw_asprintf("[gateway]\nalert_at = %s\n" BASE, bad_alerts[i]);
		EXPECT_ERROR("e-alert.ini", t, 2, "alert_at");
		free(t);
	}
	/* Order is checked across continuation lines too. */
	EXPECT_ERROR("e-alert2.ini", "[gateway]\nalert_at = 50, 80\n  60\n" BASE, 3, "ascending");
	EXPECT_ERROR("e-alertcmd.ini", "[gateway]\nalert_command = bin/alert\n" BASE, 2,
		     "absolute path");
	EXPECT_ERROR("e-alertcmd2.ini", "[gateway]\nalert_command =\n" BASE, 2, "alert_command");
	EXPECT_ERROR("e-answer.ini", "[gateway]\nmax_answer = 0\n" BASE, 2, "max_answer");
	EXPECT_ERROR("e-answer2.ini", "[gateway]\nmax_answer = 1e9\n" BASE, 2, "max_answer");
	EXPECT_ERROR("e-stream.ini", "[gateway]\nstream_timeout = 0\n" BASE, 2, "stream_timeout");
	EXPECT_ERROR("e-stream2.ini", "[gateway]\nstream_timeout = 604801\n" BASE, 2,
		     "stream_timeout");
	EXPECT_ERROR("e-uapi.ini", "[upstream up]\nurl = http://127.0.0.1:9/v1\napi = claude\n"
				   "[route r]\npath = /\n", 3, "openai or anthropic");
	EXPECT_ERROR("e-uapi2.ini", "[upstream up]\nurl = http://127.0.0.1:9/v1\napi = OpenAI\n"
				    "[route r]\npath = /\n", 3, "api");
	EXPECT_ERROR("e-mode3.ini", BASE "mode = Anthropic\n", 6, "mode");
	EXPECT_ERROR("e-par.ini", BASE "max_parallel = -1\n", 6, "max_parallel");
	EXPECT_ERROR("e-par2.ini", BASE "max_parallel = 1000001\n", 6, "max_parallel");
	EXPECT_ERROR("e-par3.ini", BASE "[consumer a]\ncredential = ka\nmax_parallel = two\n", 8,
		     "max_parallel");
	EXPECT_ERROR("e-keysdir.ini", "[gateway]\nkeys_dir = keys/*\n" BASE, 2, "keys_dir");
	EXPECT_ERROR("e-keysdir2.ini", "[gateway]\nkeys_dir =\n" BASE, 2, "keys_dir");
}

static void test_keys_dir(void)
{
	struct gw_diag d = { 0 };
	char *keys = tu_path(g_dir, "kd/keys");
	char *a = tu_path(g_dir, "kd/keys/alice.ini");
	char *b = tu_path(g_dir, "kd/keys/bob.ini");
	char *other = tu_path(g_dir, "kd/keys/notes.txt");
	char *want = tu_path(g_dir, "kd/keys");
	struct gw_policy *p;

	CU_ASSERT_EQUAL(tu_write_str(a, "[consumer alice]\ncredential = key-alice\n"
					"owner = Alice <alice@example.org>\n"
					"created = 2024-05-01T12:30:00Z\n"
					"max_parallel = 2\nexpires = 2030-01-01\n"),
			0);
	CU_ASSERT_EQUAL(tu_write_str(other, "this is not ini"), 0);
	set_mtime(keys, 1000000000);
	p = LOAD_VALID("kd/main.ini", "[gateway]\nkeys_dir = keys\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_STR(p->keys_dir, want);
	TU_INT(p->n_consumers, 1);
	{
		const struct gw_consumer *c = policy_consumer(p, "alice");
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		TU_STR(c->owner, "Alice <alice@example.org>");
		TU_STR(c->created, "2024-05-01T12:30:00Z");
		TU_INT(c->limits.max_parallel, 2);
		TU_INT(c->expires_ms, 1893456000000LL);
	}
	CU_ASSERT_FALSE(policy_changed(p));
	/* A file added to the directory is a change. */
	CU_ASSERT_EQUAL(tu_write_str(b, "[consumer bob]\ncredential = key-bob\n"), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);

	/* A file's own change is a change; so is its removal. */
	set_mtime(keys, 1000000000);
	p = LOAD_VALID("kd/main.ini", "[gateway]\nkeys_dir = keys\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_INT(p->n_consumers, 2);
	CU_ASSERT_FALSE(policy_changed(p));
	CU_ASSERT_EQUAL(tu_write_str(b, "[consumer bob]\ncredential = key-bobby\n"), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
	set_mtime(keys, 1000000000);
	p = LOAD_VALID("kd/main.ini", "[gateway]\nkeys_dir = keys\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(policy_changed(p));
	CU_ASSERT_EQUAL(unlink(b), 0);
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);

	/* An error in a key file names that file and line. */
	CU_ASSERT_EQUAL(tu_write_str(b, "[consumer bob]\ncredential = key-bob\nexpires = soon\n"),
			0);
	expect_error_in("kd/main.ini", "[gateway]\nkeys_dir = keys\n" BASE, "kd/keys/bob.ini", 3,
			"expires", __LINE__);
	CU_ASSERT_EQUAL(unlink(b), 0);

	/* A missing directory holds no keys; its creation is a change. */
	p = LOAD_VALID("kd2/main.ini", "[gateway]\nkeys_dir = /nonexistent/aigw-keys\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	TU_STR(p->keys_dir, "/nonexistent/aigw-keys");
	TU_INT(p->n_consumers, 0);
	CU_ASSERT_FALSE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
	p = LOAD_VALID("kd3/main.ini", "[gateway]\nkeys_dir = later\n" BASE, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(policy_changed(p));
	{
		char *later = tu_path(g_dir, "kd3/later/x.ini");
		CU_ASSERT_EQUAL(tu_write_str(later, "[consumer x]\ncredential = key-x\n"), 0);
		CU_ASSERT_TRUE(policy_changed(p));
		free(later);
	}
	policy_free(p);
	diag_free(&d);
	free(keys);
	free(a);
	free(b);
	free(other);
	free(want);
}

static void test_consumer_key_metadata(void)
{
	struct gw_diag d = { 0 };
	static const char hex[] =
		"00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
	char *text = gw_asprintf(BASE "[consumer a]\ncredential = ka\nexpires = 2024-02-29\n"
				      "previous_credential_sha256 = %s\n"
				      "previous_valid_until = 2024-03-01T00:00:01Z\n"
				      "[consumer b]\ncredential = kb\nexpires = 1970-01-02\n",
				 hex);
	struct gw_policy *p = LOAD_VALID("meta.ini", text, &d);
	const struct gw_consumer *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	c = policy_consumer(p, "a");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	TU_INT(c->expires_ms, 1709164800000LL);
	CU_ASSERT_TRUE(c->has_previous);
	TU_INT(c->previous_sha256[0], 0x00);
	TU_INT(c->previous_sha256[31], 0xff);
	TU_INT(c->previous_until_ms, 1709251201000LL);
	CU_ASSERT_PTR_NULL(c->owner);
	CU_ASSERT_PTR_NULL(c->created);
	TU_INT(c->limits.max_parallel, 0);
	c = policy_consumer(p, "b");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	TU_INT(c->expires_ms, 86400000LL);
	CU_ASSERT_FALSE(c->has_previous);
	policy_free(p);
	diag_free(&d);
	free(text);
}

static void test_err_consumer_key_metadata(void)
{
	static const char *const bad_dates[] = { "2023-02-29", "2024-13-01", "2024-00-10",
						 "2024-04-31", "1969-12-31", "2024-1-01",
						 "24-01-01",   "2024/01/01", "2024-01-01x",
						 "2024-01-01T00:00:00Z", "", "tomorrow",
						 "２024-01-01" };
	static const char *const bad_times[] = { "2024-01-01", "2024-01-01T24:00:00Z",
						 "2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z",
						 "2024-01-01 00:00:00Z", "2024-01-01T00:00:00",
						 "2024-01-01T00:00:00+01:00", "2024-02-30T00:00:00Z",
						 "2024-01-01T0:00:00Z", "" };
	static const char hex[] =
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

	for (size_t i = 0; i < GW_ARRAY_LEN(bad_dates); i++) {
		char *t = gw_asprintf(BASE "[consumer a]\ncredential = ka\nexpires = %s\n",
				      bad_dates[i]);
		EXPECT_ERROR("e-expires.ini", t, 8, "expires");
		free(t);
	}
	for (size_t i = 0; i < GW_ARRAY_LEN(bad_times); i++) {
		char *t = gw_asprintf(BASE "[consumer a]\ncredential = ka\ncreated = %s\n",
				      bad_times[i]);
		char *t2 = gw_asprintf(BASE "[consumer a]\ncredential = ka\n"
					    "previous_credential_sha256 = %s\n"
					    "previous_valid_until = %s\n",
				       hex, bad_times[i]);
		EXPECT_ERROR("e-created.ini", t, 8, "created");
		EXPECT_ERROR("e-until.ini", t2, 9, "previous_valid_until");
		free(t);
		free(t2);
	}
	EXPECT_ERROR("e-prev.ini",
		     BASE "[consumer a]\ncredential = ka\nprevious_credential_sha256 = abcd\n"
			  "previous_valid_until = 2024-01-01T00:00:00Z\n",
		     8, "previous_credential_sha256");
	{
		char *t = gw_asprintf(BASE "[consumer a]\ncredential = ka\n"
					   "previous_credential_sha256 = %s\n",
				      hex);
		EXPECT_ERROR("e-prev2.ini", t, 6, "go together");
		free(t);
	}
	EXPECT_ERROR("e-prev3.ini",
		     BASE "[consumer a]\ncredential = ka\n"
			  "previous_valid_until = 2024-01-01T00:00:00Z\n",
		     6, "go together");
	EXPECT_ERROR("e-owner.ini", BASE "[consumer a]\ncredential = ka\nowner = x\nowner = y\n", 9,
		     "twice");
}

static void test_parse_dates(void)
{
	int64_t ms = -1;

	CU_ASSERT_EQUAL(policy_parse_date("1970-01-01", &ms), 0);
	TU_INT(ms, 0);
	CU_ASSERT_EQUAL(policy_parse_date("2000-02-29", &ms), 0);
	TU_INT(ms, 951782400000LL);
	CU_ASSERT_EQUAL(policy_parse_date("1900-02-29", &ms), -1);
	CU_ASSERT_EQUAL(policy_parse_date("2100-02-29", &ms), -1);
	CU_ASSERT_EQUAL(policy_parse_date("9999-12-31", &ms), 0);
	TU_INT(ms, 253402214400000LL);
	CU_ASSERT_EQUAL(policy_parse_date("2024-01-0", &ms), -1);
	CU_ASSERT_EQUAL(policy_parse_timestamp("2038-01-19T03:14:08Z", &ms), 0);
	TU_INT(ms, 2147483648000LL);
	CU_ASSERT_EQUAL(policy_parse_timestamp("2038-01-19T03:14:08Z ", &ms), -1);
}

static void test_model_cache_prices(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("cache.ini",
					 BASE "[model a]\ninput_per_1m = 2.5\noutput_per_1m = 10\n"
					      "cached_input_per_1m = 1.25\ncache_write_per_1m = 3.125\n"
					      "[model b]\ninput_per_1m = 0.15\noutput_per_1m = 0.6\n"
					      "[model c]\ncache_write_per_1m = 0\ninput_per_1m = 1\n"
					      "output_per_1m = 2\n",
					 &d);
	const struct gw_model *m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	m = policy_model(p, "a");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	TU_INT(m->cached_input_pico, 1250000);
	TU_INT(m->cache_write_pico, 3125000);
	CU_ASSERT_TRUE(m->has_cached_input);
	CU_ASSERT_TRUE(m->has_cache_write);
	m = policy_model(p, "b");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	TU_INT(m->cached_input_pico, 150000); /* the input price */
	TU_INT(m->cache_write_pico, 150000);
	CU_ASSERT_FALSE(m->has_cached_input);
	CU_ASSERT_FALSE(m->has_cache_write);
	m = policy_model(p, "c");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	TU_INT(m->cached_input_pico, 1000000);
	TU_INT(m->cache_write_pico, 0); /* set to 0: free */
	policy_free(p);
	diag_free(&d);

	EXPECT_ERROR("e-cache.ini",
		     BASE "[model a]\ninput_per_1m = 1\noutput_per_1m = 1\ncached_input_per_1m = -1\n",
		     9, "cached_input_per_1m");
	EXPECT_ERROR("e-cache2.ini",
		     BASE "[model a]\ninput_per_1m = 1\noutput_per_1m = 1\n"
			  "cache_write_per_1m = 0.0000001\n",
		     9, "cache_write_per_1m");
	EXPECT_ERROR("e-cache3.ini",
		     BASE "[model a]\ninput_per_1m = 1\noutput_per_1m = 1\n"
			  "cache_write_per_1m = 1\ncache_write_per_1m = 2\n",
		     10, "twice");
}

/* ---- a file changed while it was read ---- */

static void test_stat_same(void)
{
	struct stat a, b;

	memset(&a, 0, sizeof(a));
	a.st_dev = 1;
	a.st_ino = 2;
	a.st_size = 100;
	a.st_mtim.tv_sec = 1000;
	a.st_mtim.tv_nsec = 5;
	b = a;
	CU_ASSERT_TRUE(load_stat_same(&a, &b));
	b.st_mtim.tv_nsec = 6; /* a second write in the same second */
	CU_ASSERT_FALSE(load_stat_same(&a, &b));
	b = a;
	b.st_size = 50; /* truncated, then written again */
	CU_ASSERT_FALSE(load_stat_same(&a, &b));
	b = a;
	b.st_ino = 3;
	CU_ASSERT_FALSE(load_stat_same(&a, &b));
	b = a;
	b.st_mtim.tv_sec = 1001;
	CU_ASSERT_FALSE(load_stat_same(&a, &b));
}

/* A torn load is not valid, and always counts as changed, so that the next
 * check loads again. */
static void test_torn_counts_as_changed(void)
{
	struct gw_diag d = { 0 };
	struct gw_policy *p = LOAD_VALID("torn.ini", BASE, &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FALSE(p->torn);
	CU_ASSERT_FALSE(policy_changed(p));
	p->torn = true;
	CU_ASSERT_TRUE(policy_changed(p));
	policy_free(p);
	diag_free(&d);
}

/* cost_usd = (prompt - cached - cache_write) x input + cached x cached_input
 * + cache_write x cache_write + completion x output, per million. */
static void test_model_cost(void)
{
	struct gw_model m = { 0 };

	m.input_pico = 3000000;       /* $3 per 1M */
	m.cached_input_pico = 300000; /* $0.30 per 1M */
	m.cache_write_pico = 3750000; /* $3.75 per 1M */
	m.output_pico = 15000000;     /* $15 per 1M */
	TU_INT(model_cost_pico(&m, 260, 200, 50, 5),
	       10 * 3000000LL + 200 * 300000LL + 50 * 3750000LL + 5 * 15000000LL);
	TU_INT(model_cost_pico(&m, 0, 0, 0, 0), 0);
	/* cached beyond the prompt is capped; negative counts are 0 */
	TU_INT(model_cost_pico(&m, 10, 99, 99, -5), 10 * 300000LL);
	/* absurd counts saturate, never wrap */
	m.output_pico = INT64_MAX / 2;
	TU_INT(model_cost_pico(&m, 0, 0, 0, 1000000), INT64_MAX);
}

void suite_policy(void)
{
	static const struct tu_test tests[] = {
		{ "example seed policy loads valid", test_seed, false },
		{ "defaults", test_defaults, false },
		{ "boolean spellings", test_booleans, false },
		{ "CRLF, comments, ':' separator", test_crlf_and_comments, false },
		{ "quotes, backslashes, percent signs in values", test_hostile_values, false },
		{ "error: unknown or malformed section", test_err_unknown_section, false },
		{ "error: unknown key", test_err_unknown_key, false },
		{ "error: bad boolean", test_err_bad_boolean, false },
		{ "error: bad integer, out of range", test_err_bad_integer, false },
		{ "error: duplicate key", test_err_duplicate_key, false },
		{ "error: duplicate section", test_err_duplicate_section, false },
		{ "error: section header without ]", test_err_header_without_bracket, false },
		{ "error: line without =", test_err_no_equals, false },
		{ "error: indented line without = after a header",
		  test_err_no_equals_indented, false },
		{ "error: key outside any section", test_err_outside_section, false },
		{ "long lines: 300 bytes, 64 KiB, continued, commented", test_long_lines, false },
		{ "error: lines over 64 KiB, long keys", test_err_long_line, false },
		{ "a value of the placeholder byte", test_long_line_placeholder, false },
		{ "error: credential and credential_sha256", test_err_credential_both, false },
		{ "error: bad sha256 hex", test_err_bad_sha256, false },
		{ "error: undefined upstream", test_err_undefined_upstream, false },
		{ "error: allow names unknown consumer", test_err_allow_unknown, false },
		{ "error: two consumers, one credential", test_err_same_credential, false },
		{ "error: bad block_regexp_urls", test_err_bad_regexp, false },
		{ "error: bad mode, bad api", test_err_mode_api, false },
		{ "mode openai, api completions", test_mode_api_values, false },
		{ "error: url not http(s)", test_err_url, false },
		{ "error: bad or duplicate route path", test_err_path, false },
		{ "error: missing policy file", test_err_missing_file, false },
		{ "lists: trimmed, empty items skipped", test_lists, false },
		{ "lists: continuation lines, indented keys", test_list_continuation, false },
		{ "error: scalar continued on next line", test_continuation_of_scalar, false },
		{ "indented section headers", test_indented_section, false },
		{ "api_key_file", test_api_key_file, false },
		{ "api_key_env", test_api_key_env, false },
		{ "error: api_key and api_key_env", test_api_key_exclusive, false },
		{ "include: glob, sorted, relative", test_include_sorted, false },
		{ "include: matching nothing", test_include_nothing, false },
		{ "include: a missing directory matches nothing",
		  test_include_missing_dir, false },
		{ "include: errors name the included file", test_include_error_location, false },
		{ "include: loop is an error", test_include_loop, false },
		{ "changed: size", test_changed_size, false },
		{ "changed: mtime", test_changed_mtime, false },
		{ "changed: replaced, removed", test_changed_replaced, false },
		{ "changed: file added to include dir", test_changed_include_dir, false },
		{ "route: longest prefix at segment boundary", test_route_prefix, false },
		{ "route: no root route", test_route_no_root, false },
		{ "route: trailing slashes normalised", test_route_trailing_slash, false },
		{ "diag_add formats", test_diag_add, false },
		{ "[model] prices in pico-USD, aliases, policy_model", test_model_prices, false },
		{ "policy_parse_decimal", test_parse_decimal, false },
		{ "error: bad or missing model prices", test_err_model_prices, false },
		{ "error: an alias used twice", test_err_duplicate_alias, false },
		{ "error: an alias naming a later model", test_alias_names_later_model,
		  false },
		{ "consumer budgets in pico-USD", test_consumer_budgets, false },
		{ "error: bad consumer budgets", test_err_consumer_budgets, false },
		{ "upstream weight, cooldown_s, model_map; route upstream list",
		  test_upstream_group_keys, false },
		{ "error: bad weight, cooldown_s, model_map", test_err_upstream_group_keys, false },
		{ "route upstream lists and retries", test_route_upstreams_and_retries, false },
		{ "strategy values", test_strategy, false },
		{ "lint: a route open to everyone", test_lint_open_route, false },
		{ "lint: keys in query strings", test_lint_in_query, false },
		{ "lint: world-readable files holding keys", test_lint_readable_keys, false },
		{ "lint: plain http beyond this machine", test_lint_plain_http, false },
		{ "lint: a host name starting with 127. is not local",
		  test_lint_127_host_name, false },
		{ "lint: the seed policy", test_lint_seed, false },
		{ "load_stat_same: size, mtime to the ns, inode", test_stat_same, false },
		{ "a torn load counts as changed", test_torn_counts_as_changed, false },
		{ "threads, alert_at, alert_command, max_answer, stream_timeout, api, mode anthropic",
		  test_gateway_new_keys, false },
		{ "error: bad threads, alerts, caps, api, max_parallel, keys_dir",
		  test_err_gateway_new_keys, false },
		{ "keys_dir: files included, watched, added, removed", test_keys_dir, false },
		{ "consumer expires, owner, created, previous credential",
		  test_consumer_key_metadata, false },
		{ "error: bad dates, times, previous credential", test_err_consumer_key_metadata,
		  false },
		{ "policy_parse_date, policy_parse_timestamp", test_parse_dates, false },
		{ "model_cost_pico: cache reads and writes priced apart", test_model_cost, false },
		{ "model cache prices, defaulting to the input price", test_model_cache_prices,
		  false },
	};
	tu_register("policy", policy_init, policy_cleanup, tests, GW_ARRAY_LEN(tests));
}
