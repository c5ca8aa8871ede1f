/* report.c: fast usage-log summaries. */
#include "report.h"
#include "buf.h"
#include "gw.h"
#include "policy.h"
#include "stats.h"
#include "str.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a scanner for flat JSON objects ---- */

struct scan {
	const char *p, *end;
	char *out, *out_end; /* scratch for decoded strings */
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
		s->p++;
}

/* Four hex digits at p; -1 when they are not. */
static long hex4(const char *p)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Decodes \uXXXX (and a following \uXXXX of a surrogate pair) at s->p,
 * just after the 'u', into UTF-8 at u8; returns its length, or 0 when
 * malformed. A lone surrogate becomes U+FFFD. */
static int scan_unicode(struct scan *s, char u8[4])
{
	long cp;

	if (s->end - s->p < 4 || (cp = hex4(s->p)) < 0)
		return 0;
	s->p += 4;
	if (cp >= 0xd800 && cp <= 0xdbff && s->end - s->p >= 6 && s->p[0] == '\\' &&
	    s->p[1] == 'u') {
		long lo = hex4(s->p + 2);
		if (lo >= 0xdc00 && lo <= 0xdfff) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			s->p += 6;
		}
	}
	if (cp >= 0xd800 && cp <= 0xdfff)
		cp = 0xfffd;
	if (cp < 0x80) {
		u8[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u8[0] = (char)(0xc0 | (cp >> 6));
		u8[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u8[0] = (char)(0xe0 | (cp >> 12));
		u8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u8[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u8[0] = (char)(0xf0 | (cp >> 18));
	u8[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	u8[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	u8[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes a string into scratch, with JSON's escapes; NULL when malformed
 * or when it does not fit (terminator included). */
static const char *scan_string(struct scan *s)
{
	char *start = s->out;

	if (s->p >= s->end || *s->p != '"')
		return NULL;
	s->p++;
	while (s->p < s->end && *s->p != '"') {
		char u8[4];
		int n = 1;

		u8[0] = *s->p++;
		if (u8[0] == '\\') {
			if (s->p >= s->end)
				return NULL;
			switch (*s->p++) {
			case '"':
				u8[0] = '"';
				break;
			case '\\':
				u8[0] = '\\';
				break;
			case '/':
				u8[0] = '/';
				break;
			case 'b':
				u8[0] = '\b';
				break;
			case 'f':
				u8[0] = '\f';
				break;
			case 'n':
				u8[0] = '\n';
				break;
			case 'r':
				u8[0] = '\r';
				break;
			case 't':
				u8[0] = '\t';
				break;
			case 'u':
				if ((n = scan_unicode(s, u8)) == 0)
					return NULL;
				break;
			default:
				u8[0] = '?'; /* not JSON; kept as before */
				break;
			}
		}
		if (s->out_end - s->out <= n)
			return NULL;
		memcpy(s->out, u8, (size_t)n);
		s->out += n;
	}
	if (s->p >= s->end || s->out >= s->out_end)
		return NULL;
	s->p++;
	*s->out++ = '\0';
	return start;
}

/* A number's text: [-]digits[.digits][e..] */
static bool scan_number(struct scan *s, const char **text, size_t *len)
{
	const char *b = s->p;
	while (s->p < s->end && strchr("+-0123456789.eE", *s->p))
		s->p++;
	*text = b;
	*len = (size_t)(s->p - b);
	return *len > 0;
}

static int64_t to_int(const char *t, size_t n)
{
	int64_t v = 0;
	for (size_t i = 0; i < n && t[i] >= '0' && t[i] <= '9'; i++)
		v = v * 10 + (t[i] - '0');
	return v;
}

/* Decimal dollars as the log writes them ("0.00000285") to pico-USD. */
static int64_t to_pico(const char *t, size_t n)
{
	char buf[48];
	int64_t v;

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, t, n);
	buf[n] = '\0';
	if (policy_parse_decimal(buf, 12, INT64_MAX / 2, &v) == 0)
		return v;
	return (int64_t)llround(strtod(buf, NULL) * 1e12); /* "2.85e-06" from other writers */
}

/* Which fields a report reads; the others are skipped without decoding. */
static bool wanted(const char *key)
{
	switch (key[0]) {
	case 't':
		return strcmp(key, "ts") == 0;
	case 'c':
		return strcmp(key, "consumer") == 0 || strcmp(key, "completion_tokens") == 0 ||
		       strcmp(key, "cost_usd") == 0;
	case 'm':
		return strcmp(key, "model") == 0;
	case 's':
		return strcmp(key, "status") == 0;
	case 'p':
		return strcmp(key, "prompt_tokens") == 0;
	default:
		return false;
	}
}

/* Skips a string value: to the closing quote, minding escapes. */
static bool skip_string(struct scan *s)
{
	if (s->p >= s->end || *s->p != '"')
		return false;
	for (s->p++; s->p < s->end; s->p++) {
		if (*s->p == '\\')
			s->p++;
		else if (*s->p == '"') {
			s->p++;
			return true;
		}
	}
	return false;
}

static void set_field(struct report_line *out, const char *key, const char *str, const char *num,
		      size_t nlen)
{
	if (strcmp(key, "ts") == 0 && str)
		snprintf(out->day, sizeof(out->day), "%.10s", str);
	else if (strcmp(key, "consumer") == 0 && str)
		out->consumer = str;
	else if (strcmp(key, "model") == 0 && str)
		out->model = str;
	else if (strcmp(key, "status") == 0 && num)
		out->status = (int)to_int(num, nlen);
	else if (strcmp(key, "prompt_tokens") == 0 && num)
		out->prompt_tokens = to_int(num, nlen);
	else if (strcmp(key, "completion_tokens") == 0 && num)
		out->completion_tokens = to_int(num, nlen);
	else if (strcmp(key, "cost_usd") == 0 && num) {
		out->cost_pico = to_pico(num, nlen);
		out->priced = true;
	}
}

int report_parse_line(const char *line, size_t len, struct report_line *out, char *scratch,
		      size_t scratch_len)
{
	struct scan s = { line, line + len, scratch, scratch + scratch_len };

	memset(out, 0, sizeof(*out));
	out->consumer = out->model = "";
	skip_ws(&s);
	if (s.p >= s.end || *s.p++ != '{')
		return -1;
	for (;;) {
		const char *key, *str = NULL, *num = NULL;
		size_t nlen = 0;

		skip_ws(&s);
		if (!(key = scan_string(&s)))
			return -1;
		skip_ws(&s);
		if (s.p >= s.end || *s.p++ != ':')
			return -1;
		skip_ws(&s);
		if (s.p < s.end && *s.p == '"' && !wanted(key)) {
			if (!skip_string(&s))
				return -1;
		} else if (s.p < s.end && *s.p == '"') {
			if (!(str = scan_string(&s)))
				return -1;
		} else if (s.end - s.p >= 4 && memcmp(s.p, "null", 4) == 0) {
			s.p += 4;
		} else if (s.end - s.p >= 4 && memcmp(s.p, "true", 4) == 0) {
			s.p += 4;
		} else if (s.end - s.p >= 5 && memcmp(s.p, "false", 5) == 0) {
			s.p += 5;
		} else if (!scan_number(&s, &num, &nlen)) {
			return -1;
		}
		set_field(out, key, str, num, nlen);
		skip_ws(&s);
		if (s.p < s.end && *s.p == ',') {
			s.p++;
			continue;
		}
		if (s.p < s.end && *s.p == '}')
			break;
		return -1;
	}
	return out->day[0] ? 0 : -1;
}

/* ---- grouping ---- */

void report_init(struct report *r, enum report_by by, const char *since, const char *until)
{
	memset(r, 0, sizeof(*r));
	r->by = by;
	snprintf(r->since, sizeof(r->since), "%s", since ? since : "");
	snprintf(r->until, sizeof(r->until), "%s", until ? until : "");
	r->cap = 1024;
	r->groups = gw_calloc(r->cap, sizeof(*r->groups));
}

static uint64_t hash_str(const char *s)
{
	return str_fnv1a(s, strlen(s));
}

static void grow(struct report *r)
{
	struct report_group *old = r->groups;
	size_t old_cap = r->cap;

	r->cap *= 2;
	r->groups = gw_calloc(r->cap, sizeof(*r->groups));
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].key)
			continue;
		size_t k = hash_str(old[i].key) % r->cap;
		while (r->groups[k].key)
			k = (k + 1) % r->cap;
		r->groups[k] = old[i];
	}
	free(old);
}

static struct report_group *group(struct report *r, const char *key)
{
	size_t k;

	if (2 * (r->n + 1) > r->cap)
		grow(r);
	k = hash_str(key) % r->cap;
	while (r->groups[k].key && strcmp(r->groups[k].key, key) != 0)
		k = (k + 1) % r->cap;
	if (!r->groups[k].key) {
		r->groups[k].key = gw_strdup(key);
		r->n++;
	}
	return &r->groups[k];
}

void report_add(struct report *r, const struct report_line *l)
{
	char key[256];
	struct report_group *g;

	if ((r->since[0] && strcmp(l->day, r->since) < 0) ||
	    (r->until[0] && strcmp(l->day, r->until) > 0)) {
		r->skipped++;
		return;
	}
	switch (r->by) {
	case REPORT_BY_CONSUMER:
		snprintf(key, sizeof(key), "%s", l->consumer);
		break;
	case REPORT_BY_MODEL:
		snprintf(key, sizeof(key), "%s", l->model);
		break;
	case REPORT_BY_DAY:
		snprintf(key, sizeof(key), "%s", l->day);
		break;
	case REPORT_BY_CONSUMER_MODEL:
		snprintf(key, sizeof(key), "%s\t%s", l->consumer, l->model);
		break;
	}
	g = group(r, key);
	g->requests++;
	g->errors += l->status >= 400;
	g->prompt_tokens += l->prompt_tokens;
	g->completion_tokens += l->completion_tokens;
	g->cost_pico += l->cost_pico;
	g->unpriced += !l->priced;
}

int report_read(struct report *r, FILE *f)
{
	char *line = NULL, scratch[4096];
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, f)) > 0) {
		struct report_line l;
		r->lines++;
		if (report_parse_line(line, (size_t)n, &l, scratch, sizeof(scratch)) < 0) {
			r->bad_lines++;
			continue;
		}
		report_add(r, &l);
	}
	free(line);
	return ferror(f) ? -1 : 0;
}

/* ---- output ---- */

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct report_group *)a)->key, ((const struct report_group *)b)->key);
}

/* Compacts the hash table into a sorted array (the table is unusable after). */
static void sort_groups(struct report *r)
{
	size_t k = 0;
	for (size_t i = 0; i < r->cap; i++)
		if (r->groups[i].key)
			r->groups[k++] = r->groups[i];
	r->cap = k;
	qsort(r->groups, k, sizeof(*r->groups), cmp_group);
}

static const char *const by_names[] = { "consumer", "model", "day", "consumer\tmodel" };

/* Writes s as a CSV field (quoted when it holds a comma, quote or newline). */
static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void json_string(FILE *out, const char *s)
{
	struct gw_buf b = { 0 };

	buf_json_string(&b, s, strlen(s));
	fwrite(b.data, 1, b.len, out);
	buf_free(&b);
}

static void print_row(const struct report *r, const struct report_group *g, enum report_format fmt,
		      FILE *out, bool first)
{
	char usd[40], k1[256], *k2 = NULL;

	stats_format_usd(g->cost_pico, usd);
	snprintf(k1, sizeof(k1), "%s", g->key);
	if (r->by == REPORT_BY_CONSUMER_MODEL && (k2 = strchr(k1, '\t')))
		*k2++ = '\0';
	if (fmt == REPORT_JSON) {
		fputs(first ? "\n  {" : ",\n  {", out);
		fprintf(out, "\"%s\": ", r->by == REPORT_BY_CONSUMER_MODEL ? "consumer" : by_names[r->by]);
		json_string(out, k1);
		if (k2) {
			fputs(", \"model\": ", out);
			json_string(out, k2);
		}
		fprintf(out, ", \"requests\": %lld, \"errors\": %lld, \"prompt_tokens\": %lld, "
			     "\"completion_tokens\": %lld, \"cost_usd\": %s, \"unpriced_requests\": %lld}",
			(long long)g->requests, (long long)g->errors, (long long)g->prompt_tokens,
			(long long)g->completion_tokens, usd, (long long)g->unpriced);
	} else if (fmt == REPORT_CSV) {
		csv_field(out, k1);
		if (k2) {
			fputc(',', out);
			csv_field(out, k2);
		}
		fprintf(out, ",%lld,%lld,%lld,%lld,%s,%lld\n", (long long)g->requests,
			(long long)g->errors, (long long)g->prompt_tokens,
			(long long)g->completion_tokens, usd, (long long)g->unpriced);
	} else {
		fprintf(out, "%-24s ", k1[0] ? k1 : "-");
		if (r->by == REPORT_BY_CONSUMER_MODEL)
			fprintf(out, "%-24s ", k2 && *k2 ? k2 : "-");
		fprintf(out, "%10lld %8lld %14lld %14lld %16s %8lld\n", (long long)g->requests,
			(long long)g->errors, (long long)g->prompt_tokens,
			(long long)g->completion_tokens, usd, (long long)g->unpriced);
	}
}

void report_print(struct report *r, enum report_format fmt, FILE *out)
{
	static const char *const cols = "requests,errors,prompt_tokens,completion_tokens,cost_usd,unpriced";

	sort_groups(r);
	if (fmt == REPORT_CSV)
		fprintf(out, "%s,%s\n",
			r->by == REPORT_BY_CONSUMER_MODEL ? "consumer,model" : by_names[r->by], cols);
	else if (fmt == REPORT_JSON)
		fputs("[", out);
	else {
		fprintf(out, "%-24s ", r->by == REPORT_BY_CONSUMER_MODEL ? "consumer" : by_names[r->by]);
		if (r->by == REPORT_BY_CONSUMER_MODEL)
			fprintf(out, "%-24s ", "model");
		fprintf(out, "%10s %8s %14s %14s %16s %8s\n", "requests", "errors", "prompt_tok",
			"completion_tok", "cost_usd", "unpriced");
	}
	for (size_t i = 0; i < r->cap; i++)
		print_row(r, &r->groups[i], fmt, out, i == 0);
	if (fmt == REPORT_JSON)
		fputs(r->cap ? "\n]\n" : "]\n", out);
}

void report_free(struct report *r)
{
	for (size_t i = 0; i < r->cap; i++)
		free(r->groups[i].key);
	free(r->groups);
	memset(r, 0, sizeof(*r));
}
