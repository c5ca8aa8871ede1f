/* test_usage.c: policy/usage.h (JSON Lines usage log). */
#include <errno.h>
#include <json-c/json.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gw.h"
#include "suites.h"
#include "testutil.h"
#include "usage.h"

static char *g_dir;

static int usage_init(void)
{
	g_dir = tu_tmpdir_create();
	return g_dir ? 0 : -1;
}

static int usage_cleanup(void)
{
	tu_tmpdir_remove(g_dir);
	g_dir = NULL;
	return 0;
}

static struct usage_record sample(void)
{
	struct usage_record r;

	memset(&r, 0, sizeof(r));
	r.ts.tv_sec = 1709251199; /* 2024-02-29T23:59:59Z */
	r.ts.tv_nsec = 123456789;
	r.request_id = "req-1";
	r.consumer = "consumer1";
	r.route = "chat";
	r.model = "gpt-4o-mini";
	r.upstream = "openai";
	r.status = 200;
	r.stream = true;
	r.prompt_tokens = 10;
	r.completion_tokens = 5;
	r.total_tokens = 15;
	r.latency_ms = 250;
	r.upstream_ms = 200;
	return r;
}

/* Parses one line (without its '\n') strictly as a JSON object. */
static json_object *parse_line(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	char *copy = gw_strndup(s, len);
	json_object *o;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, copy, (int)len + 1);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	free(copy);
	return o;
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

static const char *str_member(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static long long int_member(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -999;
	return (long long)json_object_get_int64(v);
}

/* Formats r and parses it back; checks the one-line framing. */
static json_object *format_and_parse(const struct usage_record *r)
{
	char *line = usage_format(r);
	size_t len;
	json_object *o = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	len = strlen(line);
	CU_ASSERT(len > 2 && line[len - 1] == '\n');
	CU_ASSERT_EQUAL(count_char(line, '\n'), 1);
	for (size_t i = 0; i < len - 1; i++)
		if ((unsigned char)line[i] < 0x20) {
			CU_FAIL("raw control byte in the line");
			break;
		}
	if (len > 0 && line[len - 1] == '\n')
		o = parse_line(line, len - 1);
	CU_ASSERT_PTR_NOT_NULL(o);
	free(line);
	return o;
}

static bool iso_ts(const char *s)
{
	regex_t re;
	bool ok;

	if (regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
		    REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	ok = s && regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

static void test_format_fields(void)
{
	struct usage_record r = sample();
	json_object *o = format_and_parse(&r), *v;

	if (!o)
		return;
	TU_STR(str_member(o, "ts"), "2024-02-29T23:59:59.123Z");
	CU_ASSERT_TRUE(iso_ts(str_member(o, "ts")));
	TU_STR(str_member(o, "request_id"), "req-1");
	TU_STR(str_member(o, "consumer"), "consumer1");
	TU_STR(str_member(o, "route"), "chat");
	TU_STR(str_member(o, "model"), "gpt-4o-mini");
	TU_STR(str_member(o, "upstream"), "openai");
	TU_INT(int_member(o, "status"), 200);
	CU_ASSERT(json_object_object_get_ex(o, "stream", &v) &&
		  json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v));
	TU_INT(int_member(o, "prompt_tokens"), 10);
	TU_INT(int_member(o, "completion_tokens"), 5);
	TU_INT(int_member(o, "total_tokens"), 15);
	TU_INT(int_member(o, "latency_ms"), 250);
	TU_INT(int_member(o, "upstream_ms"), 200);
	CU_ASSERT_FALSE(json_object_object_get_ex(o, "reason", NULL));
	/* Not priced: cost_usd is there, as null. */
	CU_ASSERT(json_object_object_get_ex(o, "cost_usd", &v) && v == NULL);
	TU_INT(int_member(o, "cached_tokens"), 0);
	TU_INT(int_member(o, "cache_write_tokens"), 0);
	TU_INT(int_member(o, "reasoning_tokens"), 0);
	CU_ASSERT_FALSE(json_object_object_get_ex(o, "upstream_request_id", NULL));
	CU_ASSERT_FALSE(json_object_object_get_ex(o, "session", NULL));
	TU_INT(json_object_object_length(o), 17);
	json_object_put(o);
}

static void test_format_nulls_and_reason(void)
{
	struct usage_record r;
	json_object *o, *v;

	memset(&r, 0, sizeof(r));
	r.reason = "blocked";
	r.status = 404;
	r.total_tokens = 9007199254740993LL; /* beyond double precision */
	o = format_and_parse(&r);
	if (!o)
		return;
	TU_STR(str_member(o, "consumer"), "");
	TU_STR(str_member(o, "request_id"), "");
	TU_STR(str_member(o, "route"), "");
	TU_STR(str_member(o, "model"), "");
	TU_STR(str_member(o, "upstream"), "");
	TU_STR(str_member(o, "reason"), "blocked");
	TU_STR(str_member(o, "ts"), "1970-01-01T00:00:00.000Z");
	TU_INT(int_member(o, "status"), 404);
	TU_INT(int_member(o, "total_tokens"), 9007199254740993LL);
	CU_ASSERT(json_object_object_get_ex(o, "stream", &v) && !json_object_get_boolean(v));
	TU_INT(json_object_object_length(o), 18);
	json_object_put(o);

	/* An empty reason is still a reason. */
	r.reason = "";
	o = format_and_parse(&r);
	if (o)
		TU_STR(str_member(o, "reason"), "");
	json_object_put(o);
}

static void test_format_escaping(void)
{
	static const char *const hostile[] = {
		"quote\" and \"more\"",
		"back\\slash\\",
		"new\nline\r\n",
		"tab\tform\fbell\a\x01\x1f\x7f",
		"</script>",
		"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80 \xe2\x80\xa8",
		"{\"injected\":true}\n{\"x\":1}",
		"%s%n%%",
	};

	for (size_t i = 0; i < GW_ARRAY_LEN(hostile); i++) {
		struct usage_record r = sample();
		json_object *o;
		r.request_id = hostile[i];
		r.consumer = hostile[i];
		r.route = hostile[i];
		r.model = hostile[i];
		r.upstream = hostile[i];
		r.reason = hostile[i];
		o = format_and_parse(&r);
		if (!o)
			continue;
		TU_STR(str_member(o, "request_id"), hostile[i]);
		TU_STR(str_member(o, "consumer"), hostile[i]);
		TU_STR(str_member(o, "model"), hostile[i]);
		TU_STR(str_member(o, "reason"), hostile[i]);
		TU_INT(json_object_object_length(o), 18);
		json_object_put(o);
	}
}

static void test_format_cost(void)
{
	struct usage_record r = sample();
	json_object *o, *v;

	r.priced = true;
	r.cost_pico = 150000000000LL; /* $0.15 */
	o = format_and_parse(&r);
	if (!o)
		return;
	CU_ASSERT(json_object_object_get_ex(o, "cost_usd", &v) &&
		  json_object_is_type(v, json_type_double));
	if (v) {
		double usd = json_object_get_double(v);
		CU_ASSERT(usd > 0.149999 && usd < 0.150001);
	}
	json_object_put(o);

	r.cost_pico = 1; /* one pico-dollar is still written, not rounded to 0 */
	o = format_and_parse(&r);
	if (o && json_object_object_get_ex(o, "cost_usd", &v) && v) {
		CU_ASSERT(json_object_get_double(v) > 0);
	} else {
		CU_FAIL("cost_usd missing");
	}
	json_object_put(o);
}

static void test_format_long(void)
{
	size_t n = 100000;
	char *big = gw_malloc(n + 1);
	struct usage_record r = sample();
	json_object *o;

	for (size_t i = 0; i < n; i++)
		big[i] = "ab\"\\\n"[i % 5];
	big[n] = '\0';
	r.model = big;
	o = format_and_parse(&r);
	if (o)
		TU_STR(str_member(o, "model"), big);
	json_object_put(o);
	free(big);
}

static void test_format_time(void)
{
	static const struct {
		time_t sec;
		long nsec;
		const char *want;
	} cases[] = {
		{ 0, 0, "1970-01-01T00:00:00.000Z" },
		{ 946684799, 999999999, "1999-12-31T23:59:59.999Z" },
		{ 1709251199, 1000000, "2024-02-29T23:59:59.001Z" },
		{ 1709251199, 999999, "2024-02-29T23:59:59.000Z" }, /* truncated, not rounded */
		{ 1709251200, 500000000, "2024-03-01T00:00:00.500Z" },
		{ 253402300799, 0, "9999-12-31T23:59:59.000Z" },
	};

	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		struct timespec ts = { cases[i].sec, cases[i].nsec };
		char out[32];
		memset(out, 'x', sizeof(out));
		usage_format_time(&ts, out);
		TU_STR(out, cases[i].want);
		CU_ASSERT_TRUE(iso_ts(out));
	}
}

/* Reads path and checks that every line is a JSON object; returns the line count. */
static size_t check_file(const char *path)
{
	size_t len = 0, lines = 0;
	char *data = tu_read(path, &len);
	const char *s;

	if (!data)
		return 0;
	CU_ASSERT(len == 0 || data[len - 1] == '\n');
	CU_ASSERT_EQUAL(strlen(data), len);
	s = data;
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t l = nl ? (size_t)(nl - s) : strlen(s);
		json_object *o = parse_line(s, l);
		if (!o) {
			fprintf(stderr, "\n    bad line %zu in %s: %.80s\n", lines + 1, path, s);
			CU_FAIL("a line that is not a JSON object");
		}
		json_object_put(o);
		lines++;
		s += l + (nl ? 1 : 0);
	}
	free(data);
	return lines;
}

static void test_log_append(void)
{
	char *path = tu_path(g_dir, "logs/usage.jsonl");
	struct usage_log log;
	struct usage_record r = sample();
	struct stat sb;

	CU_ASSERT_EQUAL(mkdir(g_dir, 0700) == 0 || errno == EEXIST, 1);
	{
		char *logs = tu_path(g_dir, "logs");
		CU_ASSERT_EQUAL(mkdir(logs, 0700), 0);
		free(logs);
	}
	usage_log_init(&log, path);
	CU_ASSERT_EQUAL(access(path, F_OK), -1); /* not opened before the first write */
	for (int i = 0; i < 3; i++) {
		r.ts.tv_sec += i;
		CU_ASSERT_EQUAL(usage_log_write(&log, &r), 0);
	}
	TU_INT(check_file(path), 3);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 007, 0); /* not world-readable */
	usage_log_close(&log);
	CU_ASSERT_EQUAL(log.fd, -1);
	CU_ASSERT_PTR_NULL(log.path);

	/* Another process (a new log) appends, never truncates. */
	usage_log_init(&log, path);
	CU_ASSERT_EQUAL(usage_log_write(&log, &r), 0);
	CU_ASSERT_EQUAL(usage_log_write(&log, &r), 0);
	usage_log_close(&log);
	TU_INT(check_file(path), 5);
	free(path);
}

static void test_log_off_and_errors(void)
{
	struct usage_log log;
	struct usage_record r = sample();
	char *path = tu_path(g_dir, "missing-dir/usage.jsonl");

	usage_log_init(&log, NULL);
	CU_ASSERT_EQUAL(usage_log_write(&log, &r), 0);
	usage_log_close(&log);

	usage_log_init(&log, path);
	errno = 0;
	CU_ASSERT_EQUAL(usage_log_write(&log, &r), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	usage_log_close(&log);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	free(path);
}

static void test_log_rotation(void)
{
	char *path = tu_path(g_dir, "rot.jsonl");
	char *rot1 = tu_path(g_dir, "rot.jsonl.1");
	char *rot2 = tu_path(g_dir, "rot.jsonl.2");
	struct usage_log log;
	struct usage_record r = sample();

	usage_log_init(&log, path);
	r.ts.tv_sec = 1000;
	CU_ASSERT_EQUAL(usage_log_write(&log, &r), 0);
	CU_ASSERT_EQUAL(usage_log_write(&log, &r), 0);
	CU_ASSERT_EQUAL(rename(path, rot1), 0); /* logrotate moves it away */
	r.ts.tv_sec = 1001;
	CU_ASSERT_EQUAL(usage_log_write(&log, &r), 0);
	TU_INT(check_file(rot1), 2);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	TU_INT(check_file(path), 1);

	/* A reopen request (SIGHUP) reopens at once, within the same second. */
	CU_ASSERT_EQUAL(rename(path, rot2), 0);
	log.reopen = true;
	CU_ASSERT_EQUAL(usage_log_write(&log, &r), 0);
	CU_ASSERT_FALSE(log.reopen);
	TU_INT(check_file(rot2), 1);
	TU_INT(check_file(path), 1);

	/* Removed outright: a new file on the next second. */
	CU_ASSERT_EQUAL(unlink(path), 0);
	r.ts.tv_sec = 1002;
	CU_ASSERT_EQUAL(usage_log_write(&log, &r), 0);
	TU_INT(check_file(path), 1);
	usage_log_close(&log);
	free(path);
	free(rot1);
	free(rot2);
}

#define WRITERS 8
#define RECORDS 500

static int writer(const char *path, int id)
{
	struct usage_log log;
	char rid[32];
	char *pad = malloc(3000 + 1);
	int bad = 0;

	if (!pad)
		return 1;
	/* Long lines (over PIPE_BUF with the rest) make interleaving visible. */
	memset(pad, 'a' + id, 3000);
	pad[3000] = '\0';
	usage_log_init(&log, path);
	for (int i = 0; i < RECORDS; i++) {
		struct usage_record r = sample();
		clock_gettime(CLOCK_REALTIME, &r.ts);
		snprintf(rid, sizeof(rid), "w%d-%d", id, i);
		r.request_id = rid;
		r.model = pad;
		r.reason = i % 2 ? "quote \" newline \n" : NULL;
		if (usage_log_write(&log, &r) != 0)
			bad = 1;
	}
	usage_log_close(&log);
	free(pad);
	return bad;
}

static void test_log_concurrent(void)
{
	char *path = tu_path(g_dir, "concurrent.jsonl");
	pid_t pids[WRITERS];
	static unsigned char seen[WRITERS][RECORDS];
	size_t len = 0, lines = 0;
	char *data;
	const char *s;

	fflush(NULL);
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		CU_ASSERT_FATAL(pids[w] >= 0);
		if (pids[w] == 0)
			_exit(writer(path, w));
	}
	for (int w = 0; w < WRITERS; w++) {
		int status = 0;
		CU_ASSERT_EQUAL(waitpid(pids[w], &status, 0), pids[w]);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}

	memset(seen, 0, sizeof(seen));
	data = tu_read(path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	CU_ASSERT(len > 0 && data[len - 1] == '\n');
	s = data;
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t l = nl ? (size_t)(nl - s) : strlen(s);
		json_object *o = parse_line(s, l);
		int w = -1, i = -1;
		const char *rid = o ? str_member(o, "request_id") : NULL;
		if (!rid || sscanf(rid, "w%d-%d", &w, &i) != 2 || w < 0 || w >= WRITERS || i < 0 ||
		    i >= RECORDS || strlen(str_member(o, "model")) != 3000) {
			CU_FAIL("a line that is not one whole record");
		} else {
			seen[w][i]++;
		}
		json_object_put(o);
		lines++;
		s += l + (nl ? 1 : 0);
	}
	TU_INT(lines, WRITERS * RECORDS);
	for (int w = 0; w < WRITERS; w++)
		for (int i = 0; i < RECORDS; i++)
			if (seen[w][i] != 1) {
				fprintf(stderr, "\n    record w%d-%d seen %d times\n", w, i,
					seen[w][i]);
				CU_FAIL("every record exactly once");
				w = WRITERS;
				break;
			}
	free(data);
	free(path);
}

void suite_usage(void)
{
	static const struct tu_test tests[] = {
		{ "format: every field", test_format_fields, false },
		{ "format: NULL strings, reason only when set", test_format_nulls_and_reason,
		  false },
		{ "format: hostile strings escaped, one line", test_format_escaping, false },
		{ "format: priced cost_usd", test_format_cost, false },
		{ "format: 100 KB string", test_format_long, false },
		{ "format_time: ISO 8601 UTC with milliseconds", test_format_time, false },
		{ "log: appends to the file", test_log_append, false },
		{ "log: off, and an unwritable path", test_log_off_and_errors, false },
		{ "log: reopened after rotation", test_log_rotation, false },
		{ "log: 8 writers x 500 records", test_log_concurrent, false },
	};
	tu_register("usage", usage_init, usage_cleanup, tests, GW_ARRAY_LEN(tests));
}
