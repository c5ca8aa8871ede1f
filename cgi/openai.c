/* openai.c: JSON parsing and usage extraction for OpenAI-shaped bodies. */
#include "openai.h"
#include "jsonc.h"
#include "str.h"

#include <limits.h>
#include <string.h>

json_object *openai_parse(const char *s, size_t len)
{
	struct json_tokener *tok;
	json_object *obj;

	if (len == 0 || !str_utf8_valid(s, len))
		return NULL;
	tok = json_tokener_new_ex(OPENAI_MAX_DEPTH);
	if (!tok)
		return NULL;
	obj = jsonc_parse(tok, s, len);
	json_tokener_free(tok);
	return obj;
}

/* How many object members o holds, at every depth. */
static size_t dom_members(json_object *o)
{
	size_t n = 0;

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			n += 1 + dom_members(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		size_t len = json_object_array_length(o);
		for (size_t i = 0; i < len; i++)
			n += dom_members(json_object_array_get_idx(o, i));
	}
	return n;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Skips the string that opens at s[*i] (a '"'); false when it holds an
 * escape json-c reads its own way: \u0000 (it cuts keys there) or a
 * surrogate (\uD800-\uDFFF, paired or not). */
static bool plain_string(const char *s, size_t len, size_t *i)
{
	size_t j = *i + 1;

	for (; j < len && s[j] != '"'; j++) {
		if (s[j] != '\\')
			continue;
		if (++j < len && s[j] == 'u' && j + 4 < len &&
		    (s[j + 1] == 'd' || s[j + 1] == 'D' || memcmp(s + j + 1, "0000", 4) == 0))
			return false;
	}
	*i = j;
	return true;
}

/* Skips the number that opens at s[*i]; false when json-c would write it
 * back otherwise: an integer of more than 18 digits (json-c saturates),
 * "-0", or a leading zero. Fractions and exponents json-c keeps as text. */
static bool plain_number(const char *s, size_t len, size_t *i)
{
	size_t start = *i, first = *i + (s[*i] == '-'), j = first, digits = 0;
	bool frac = false;

	for (; j < len && (is_digit(s[j]) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
			   s[j] == '+' || s[j] == '-');
	     j++) {
		digits += is_digit(s[j]);
		frac |= !is_digit(s[j]);
	}
	*i = j - 1;
	if (frac)
		return true;
	if (digits == 0 || digits > 18)
		return false;
	return s[first] != '0' || (digits == 1 && first == start);
}

/* True when s[0..len), which json-c parsed as o, means to any JSON parser
 * what o means: every member of the text is in o (no key repeated at any
 * depth: the text has as many ':' outside strings as o has members), no
 * escape json-c reads its own way, every integer as json-c would write it. */
static bool same_as_parsed(const char *s, size_t len, json_object *o)
{
	size_t colons = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '"' && !plain_string(s, len, &i))
			return false;
		if (c == ':')
			colons++;
		if ((c == '-' || is_digit(c)) && !plain_number(s, len, &i))
			return false;
	}
	return colons == dom_members(o);
}

json_object *openai_parse_body(struct gw_buf *body)
{
	json_object *o = openai_parse(body->data, body->len);
	size_t limit = body->limit;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    same_as_parsed(body->data, body->len, o))
		return o;
	/* The cap bounds what is read from the client, not this rewrite. */
	body->limit = 0;
	buf_reset(body);
	buf_puts(body, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	body->limit = limit;
	return o;
}

/* The keys of a usage object the gateway reads. */
enum ukey {
	UK_PROMPT,
	UK_INPUT,
	UK_COMPLETION,
	UK_OUTPUT,
	UK_TOTAL,
	UK_CACHE_READ,
	UK_CACHE_CREATION,
	UK_PROMPT_DETAILS,
	UK_INPUT_DETAILS,
	UK_COMPLETION_DETAILS,
	UK_OUTPUT_DETAILS,
	UK_CACHED,
	UK_REASONING,
	UK__N
};

static const struct {
	const char *name;
	size_t len;
} ukeys[UK__N] = {
#define UK(s) { s, sizeof(s) - 1 }
	UK("prompt_tokens"),
	UK("input_tokens"),
	UK("completion_tokens"),
	UK("output_tokens"),
	UK("total_tokens"),
	UK("cache_read_input_tokens"),
	UK("cache_creation_input_tokens"),
	UK("prompt_tokens_details"),
	UK("input_tokens_details"),
	UK("completion_tokens_details"),
	UK("output_tokens_details"),
	UK("cached_tokens"),
	UK("reasoning_tokens"),
#undef UK
};

/* Where a usage object is read from: a json-c object, or (o NULL) the
 * values of the keys above in the text of one that the scanner checked and
 * that holds no backslash, so that every string in it ends at the next '"'
 * (v[k] NULL: absent). present: there is such an object. */
struct usage_src {
	json_object *o;
	bool present;
	const char *v[UK__N], *vend[UK__N];
};

static const char *span_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The end of the value that starts at p. */
static const char *span_skip(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '"') {
			const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
			p = q ? q : end - 1;
			if (depth == 0)
				return p + 1;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			if (depth == 0)
				return p;
			if (--depth == 0)
				return p + 1;
		} else if (*p == ',' && depth == 0) {
			return p;
		}
	}
	return p;
}

/* Fills src from the object text s[0..end) (s at its '{') in one pass; of
 * a repeated key the last value counts, as json-c keeps it. */
static void span_index(struct usage_src *src, const char *s, const char *end)
{
	const char *p = s + 1;

	memset(src, 0, sizeof(*src));
	src->present = true;
	for (;;) {
		const char *k, *q, *v;
		size_t klen;
		p = span_ws(p, end);
		if (p >= end || *p != '"' || !(q = memchr(p + 1, '"', (size_t)(end - p - 1))))
			return;
		k = p + 1;
		klen = (size_t)(q - k);
		p = span_ws(span_ws(q + 1, end) + 1, end); /* past the ':' */
		v = p;
		p = span_skip(p, end);
		for (int i = 0; i < UK__N; i++) {
			if (ukeys[i].len == klen && memcmp(ukeys[i].name, k, klen) == 0) {
				src->v[i] = v;
				src->vend[i] = p;
				break;
			}
		}
		p = span_ws(p, end);
		if (p >= end || *p != ',')
			return;
		p++;
	}
}

/* An integer token v[0..end) as usage_count reads it; -1 when not one. */
static long long span_int(const char *v, const char *end)
{
	bool neg = v < end && *v == '-';
	long long n = 0;
	const char *p = v + neg;

	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (p >= end)
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (n <= OPENAI_MAX_TOKENS)
			n = n * 10 + (*p - '0');
	}
	return neg ? 0 : n > OPENAI_MAX_TOKENS ? OPENAI_MAX_TOKENS : n;
}

/* A count from a usage object, clamped to 0..OPENAI_MAX_TOKENS; -1 when absent. */
static long long usage_count(const struct usage_src *src, enum ukey key)
{
	json_object *v;
	long long n;

	if (!src->o)
		return src->v[key] ? span_int(src->v[key], src->vend[key]) : -1;
	if (!json_object_object_get_ex(src->o, ukeys[key].name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	return n < 0 ? 0 : n > OPENAI_MAX_TOKENS ? OPENAI_MAX_TOKENS : n;
}

/* Sets m to the object member key of src (not present when absent or no
 * object). */
static void usage_member(const struct usage_src *src, enum ukey key, struct usage_src *m)
{
	json_object *v;

	m->o = NULL;
	if (!src->o) {
		if (src->v[key] && *src->v[key] == '{')
			span_index(m, src->v[key], src->vend[key]);
		else
			m->present = false;
	} else if (json_object_object_get_ex(src->o, ukeys[key].name, &v) &&
		   json_object_is_type(v, json_type_object)) {
		m->o = v;
		m->present = true;
	} else {
		m->present = false;
	}
}

/* Sets *field from the first of two keys present. */
static void usage_take(const struct usage_src *src, enum ukey a, int b, long long *field)
{
	long long n = src->present ? usage_count(src, a) : -1;
	if (n < 0 && b >= 0 && src->present)
		n = usage_count(src, (enum ukey)b);
	if (n >= 0)
		*field = n;
}

static void usage_read(const struct usage_src *usage, enum usage_shape shape, struct openai_usage *u)
{
	struct usage_src in_details, out_details;

	u->found = true;
	if (shape == USAGE_ANTHROPIC) {
		/* the input read so far: a message_delta without input_tokens
		 * keeps message_start's, however the cache counts change */
		long long input = u->prompt_tokens - u->cached_tokens - u->cache_write_tokens;
		usage_take(usage, UK_INPUT, -1, &input);
		usage_take(usage, UK_CACHE_READ, -1, &u->cached_tokens);
		usage_take(usage, UK_CACHE_CREATION, -1, &u->cache_write_tokens);
		usage_take(usage, UK_OUTPUT, -1, &u->completion_tokens);
		u->prompt_tokens = (input > 0 ? input : 0) + u->cached_tokens + u->cache_write_tokens;
		u->total_tokens = u->prompt_tokens + u->completion_tokens;
		return;
	}
	usage_member(usage, UK_PROMPT_DETAILS, &in_details);
	if (!in_details.present)
		usage_member(usage, UK_INPUT_DETAILS, &in_details);
	usage_member(usage, UK_COMPLETION_DETAILS, &out_details);
	if (!out_details.present)
		usage_member(usage, UK_OUTPUT_DETAILS, &out_details);
	usage_take(usage, UK_PROMPT, UK_INPUT, &u->prompt_tokens);
	usage_take(usage, UK_COMPLETION, UK_OUTPUT, &u->completion_tokens);
	usage_take(usage, UK_TOTAL, -1, &u->total_tokens);
	usage_take(&in_details, UK_CACHED, -1, &u->cached_tokens);
	usage_take(&out_details, UK_REASONING, -1, &u->reasoning_tokens);
	if (u->cached_tokens > u->prompt_tokens)
		u->cached_tokens = u->prompt_tokens;
	if (u->total_tokens == 0) /* both are bounded: the sum cannot overflow */
		u->total_tokens = u->prompt_tokens + u->completion_tokens;
}

void openai_usage_read(json_object *usage, enum usage_shape shape, struct openai_usage *u)
{
	struct usage_src src;

	if (usage && json_object_is_type(usage, json_type_object)) {
		src.o = usage;
		src.present = true;
		usage_read(&src, shape, u);
	}
}

void openai_usage(json_object *answer, enum usage_shape shape, struct openai_usage *u)
{
	memset(u, 0, sizeof(*u));
	if (answer && json_object_is_type(answer, json_type_object)) {
		json_object *usage;
		if (json_object_object_get_ex(answer, "usage", &usage))
			openai_usage_read(usage, shape, u);
	}
}

void openai_strings(json_object *o, struct gw_buf *out)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		buf_append(out, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		buf_append(out, "\n", 1);
		break;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			openai_strings(json_object_array_get_idx(o, i), out);
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			buf_puts(out, key);
			buf_append(out, "\n", 1);
			openai_strings(val, out);
		}
		break;
	}
	default:
		break;
	}
}

long long openai_int(json_object *o, const char *key, long long dflt)
{
	json_object *v;
	long long n;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return dflt;
	n = json_object_get_int64(v);
	return n > OPENAI_MAX_TOKENS ? OPENAI_MAX_TOKENS : n < -OPENAI_MAX_TOKENS ? -OPENAI_MAX_TOKENS : n;
}

/* ---- a validating scanner that builds nothing ----
 * The one JSON scanner of the tree, with one job: every upstream answer is
 * checked and its usage read here. Through json-c the same check costs about
 * 40,000 instructions per request (18% of the whole request, measured with
 * make profile), as against a few thousand here. */

struct jscan {
	const char *p, *end;
	const char *usage, *usage_end; /* the last top-level "usage" object */
};

static void jws(struct jscan *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool jhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string; raw and rawlen get its bytes between the quotes. */
static bool jstring(struct jscan *j, const char **raw, size_t *rawlen)
{
	const char *start;

	if (j->p >= j->end || *j->p != '"')
		return false;
	start = ++j->p;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (j->p >= j->end)
			return false;
		c = (unsigned char)*j->p++;
		if (c == 'u') {
			if (j->end - j->p < 4 || !jhex(j->p[0]) || !jhex(j->p[1]) || !jhex(j->p[2]) ||
			    !jhex(j->p[3]))
				return false;
			j->p += 4;
		} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
			return false;
		}
	}
	if (j->p >= j->end)
		return false;
	*raw = start;
	*rawlen = (size_t)(j->p - start);
	j->p++;
	return true;
}

static bool jdigits(struct jscan *j)
{
	const char *b = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > b;
}

/* A number; *ival gets it when it is a non-negative integer that fits. */
static bool jnumber(struct jscan *j, long long *ival, bool *is_int)
{
	const char *b = j->p;

	*is_int = true;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!jdigits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		*is_int = false;
		if (!jdigits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		*is_int = false;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!jdigits(j))
			return false;
	}
	if (*is_int && *b != '-' && j->p - b <= 18) {
		long long v = 0;
		for (const char *d = b; d < j->p; d++)
			v = v * 10 + (*d - '0');
		*ival = v;
	} else {
		*is_int = false;
	}
	return true;
}

static bool jvalue(struct jscan *j, int depth, int role);

/* role: 0 any value, 1 the top-level object, 2 its "usage" member */
static bool jobject(struct jscan *j, int depth, int role)
{
	j->p++; /* '{' */
	jws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return true;
	}
	for (;;) {
		const char *key;
		size_t klen;
		int sub = 0;

		jws(j);
		if (!jstring(j, &key, &klen))
			return false;
		jws(j);
		if (j->p >= j->end || *j->p++ != ':')
			return false;
		jws(j);
		if (role == 1 && klen == 5 && memcmp(key, "usage", 5) == 0)
			sub = 2;
		if (!jvalue(j, depth + 1, sub))
			return false;
		jws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return true;
		}
		return false;
	}
}

static bool jvalue(struct jscan *j, int depth, int role)
{
	const char *raw;
	size_t rawlen;
	long long v;
	bool is_int;

	if (depth > OPENAI_MAX_DEPTH || j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		if (role == 2) { /* a repeated "usage": the last one counts, as in json-c */
			const char *start = j->p;
			if (!jobject(j, depth, 0))
				return false;
			j->usage = start;
			j->usage_end = j->p;
			return true;
		}
		return jobject(j, depth, role);
	case '[':
		j->p++;
		jws(j);
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return true;
		}
		for (;;) {
			jws(j);
			if (!jvalue(j, depth + 1, 0))
				return false;
			jws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == ']') {
				j->p++;
				return true;
			}
			return false;
		}
	case '"':
		return jstring(j, &raw, &rawlen);
	case 't':
		if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0)
			return j->p += 4, true;
		return false;
	case 'f':
		if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0)
			return j->p += 5, true;
		return false;
	case 'n':
		if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0)
			return j->p += 4, true;
		return false;
	default:
		return jnumber(j, &v, &is_int);
	}
}

bool openai_scan(const char *s, size_t len, enum usage_shape shape, struct openai_usage *u)
{
	struct jscan j = { s, s + len, NULL, NULL };

	memset(u, 0, sizeof(*u));
	if (len == 0 || !str_utf8_valid(s, len))
		return false;
	jws(&j);
	if (!jvalue(&j, 1, j.p < j.end && *j.p == '{' ? 1 : 0))
		return false;
	jws(&j);
	if (j.p != j.end)
		return false;
	if (j.usage && !memchr(j.usage, '\\', (size_t)(j.usage_end - j.usage))) {
		/* checked, and no escape in it: read in place */
		struct usage_src src;
		span_index(&src, j.usage, j.usage_end);
		usage_read(&src, shape, u);
	} else if (j.usage) {
		/* the scanner checked it: a plain parse of the small span */
		struct json_tokener *tok = json_tokener_new_ex(OPENAI_MAX_DEPTH);
		json_object *usage = tok ? json_tokener_parse_ex(tok, j.usage,
							      (int)(j.usage_end - j.usage))
					 : NULL;
		openai_usage_read(usage, shape, u);
		json_object_put(usage);
		if (tok)
			json_tokener_free(tok);
	}
	return true;
}
