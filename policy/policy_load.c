/* policy_load.c: reads the policy files with inih (section headers, indented
 * continuation lines), follows include globs and keys_dir, reads api keys
 * from files and the environment, and stamps every file for policy_changed. */
#include "gw.h"
#include "policy_int.h"
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- stamps: what the loader saw of each file ---- */

static void stamp_add(struct gw_policy *p, const char *path)
{
	struct gw_stamp *st;
	struct stat sb;

	p->stamps = gw_realloc(p->stamps, (p->n_stamps + 1) * sizeof(*p->stamps));
	st = &p->stamps[p->n_stamps++];
	memset(st, 0, sizeof(*st));
	st->path = gw_strdup(path);
	if (stat(path, &sb) < 0) {
		st->missing = true;
		return;
	}
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->size = sb.st_size;
	st->mtime = sb.st_mtim;
}

bool load_stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A file changed while it was read (rewritten in place, in several writes):
 * what was read may be half of it. The load does not count, and
 * policy_changed tries it again. */
static void check_torn(struct load_ctx *ctx, FILE *f, const struct stat *before,
		       const char *path)
{
	struct stat after;

	if (fstat(fileno(f), &after) == 0 && load_stat_same(before, &after))
		return;
	ctx->p->torn = true;
	diag_add(ctx->diag, false, path, 0,
		 "changed while it was read; it is read again on the next check");
}

bool policy_changed(const struct gw_policy *p)
{
	if (p->torn)
		return true;
	for (size_t i = 0; i < p->n_stamps; i++) {
		const struct gw_stamp *st = &p->stamps[i];
		struct stat sb;
		if (stat(st->path, &sb) < 0) {
			if (!st->missing)
				return true;
			continue;
		}
		if (st->missing || sb.st_dev != st->dev || sb.st_ino != st->ino ||
		    sb.st_size != st->size || sb.st_mtim.tv_sec != st->mtime.tv_sec ||
		    sb.st_mtim.tv_nsec != st->mtime.tv_nsec)
			return true;
	}
	return false;
}

static const char *own_name(struct gw_policy *p, const char *path)
{
	p->files = gw_realloc(p->files, (p->n_files + 1) * sizeof(*p->files));
	p->files[p->n_files] = gw_strdup(path);
	return p->files[p->n_files++];
}

/* ---- keys that read files or the environment ---- */

void load_note_secret(struct load_ctx *ctx, const char *file)
{
	if (!list_has(&ctx->p->secret_files, file))
		list_add(&ctx->p->secret_files, file, strlen(file));
}

/* Resolves pattern relative to the directory of the including file. */
static char *include_path(const char *including, const char *pattern)
{
	const char *slash = strrchr(including, '/');
	if (pattern[0] == '/' || !slash)
		return gw_strdup(pattern);
	return gw_asprintf("%.*s/%s", (int)(slash - including), including, pattern);
}

void load_include(struct load_ctx *ctx, const char *value)
{
	list_parse(&ctx->includes, value);
}

/* keys_dir = DIR: every DIR/\*.ini is read as if included. */
void load_keys_dir(struct load_ctx *ctx, const char *value)
{
	char *pattern;

	if (!*value || strpbrk(value, "*?[")) {
		ERR(ctx, "keys_dir: expected a directory name without *, ? or [, got \"%s\"",
		    value);
		return;
	}
	free(ctx->p->keys_dir);
	ctx->p->keys_dir = include_path(ctx->file, value);
	pattern = gw_asprintf("%s/*.ini", value);
	list_add(&ctx->includes, pattern, strlen(pattern));
	free(pattern);
}

static char *read_key_file(struct load_ctx *ctx, const char *path)
{
	char buf[POLICY_MAX_KEY_FILE + 1];
	FILE *f = fopen(path, "r");
	struct stat before;
	size_t n;

	if (!f) {
		ERR(ctx, "api_key_file: cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &before) < 0) {
		ERR(ctx, "api_key_file: cannot read %s: %s", path, strerror(errno));
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf), f);
	check_torn(ctx, f, &before, path);
	fclose(f);
	if (n > POLICY_MAX_KEY_FILE) {
		ERR(ctx, "api_key_file: %s is larger than %d bytes", path, POLICY_MAX_KEY_FILE);
		return NULL;
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	if (n == 0 || memchr(buf, '\n', n) || memchr(buf, '\0', n)) {
		ERR(ctx, "api_key_file: %s must hold one key on one line", path);
		return NULL;
	}
	return gw_strndup(buf, n);
}

static void set_upstream_key(struct load_ctx *ctx, const char *key, char *api_key)
{
	struct gw_upstream *u = ctx->obj;

	free(u->api_key);
	u->api_key = api_key;
	if (api_key && strpbrk(api_key, "\r\n"))
		ERR(ctx, "%s: the key contains a line break", key);
}

void load_api_key_file(struct load_ctx *ctx, const char *value)
{
	set_upstream_key(ctx, "api_key_file", read_key_file(ctx, value));
	stamp_add(ctx->p, value); /* a new key in the file reloads the policy */
	load_note_secret(ctx, value);
}

void load_api_key_env(struct load_ctx *ctx, const char *value)
{
	const char *env = getenv(value);

	if (!env || !*env) {
		ERR(ctx, "api_key_env: the environment variable %s is not set", value);
		return;
	}
	set_upstream_key(ctx, "api_key_env", gw_strdup(env));
}

/* ---- sections ---- */

static bool section_exists(const struct gw_policy *p, enum section_kind kind, const char *name,
			   const bool *singletons)
{
	switch (kind) {
	case SEC_GATEWAY:
	case SEC_AUTH:
		return singletons[kind == SEC_AUTH];
	case SEC_UPSTREAM:
		return policy_upstream(p, name) != NULL;
	case SEC_CONSUMER:
		return policy_consumer(p, name) != NULL;
	case SEC_MODEL:
		for (size_t i = 0; i < p->n_models; i++)
			if (strcmp(p->models[i]->name, name) == 0)
				return true;
		return false;
	case SEC_ROUTE:
		for (size_t i = 0; i < p->n_routes; i++)
			if (strcmp(p->routes[i]->name, name) == 0)
				return true;
		return false;
	case SEC_NONE:
		break;
	}
	return false;
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	return true;
}

/* Handles a "[kind name]" line, seen by the reader before inih. */
static void section_begin(struct load_ctx *ctx, const char *header)
{
	char kind[32] = "", name[128] = "", extra[8] = "";
	const char *end = strchr(header, ']');
	const struct section_def *sd = NULL;
	const char *sname;
	enum section_kind sk;

	list_free(&ctx->seen);
	ctx->sd = NULL;
	ctx->obj = NULL;
	ctx->section_bad = true;
	if (!end) {
		ERR(ctx, "section header without a closing ]");
		return;
	}
	char *inner = gw_strndup(header + 1, (size_t)(end - header - 1));
	int n = sscanf(inner, "%31s %127s %7s", kind, name, extra);
	free(inner);
	if (n >= 1)
		sd = schema_section(kind);
	if (!sd) {
		ERR(ctx, "unknown section [%s]; expected %s", n >= 1 ? kind : "",
		    schema_section_list());
		return;
	}
	sname = schema_section_name(sd);
	sk = schema_section_kind(sd);
	if (schema_section_named(sd) && (n != 2 || !valid_name(name))) {
		ERR(ctx,
		    "[%s] needs one name of at most 63 letters, digits, '-', '_' or '.', as [%s "
		    "NAME]",
		    sname, sname);
		return;
	}
	if (!schema_section_named(sd) && n != 1) {
		ERR(ctx, "[%s] takes no name", sname);
		return;
	}
	if (section_exists(ctx->p, sk, name, ctx->singletons)) {
		ERR(ctx, "[%s%s%s] is defined twice", sname, schema_section_named(sd) ? " " : "",
		    name);
		return;
	}
	if (sk == SEC_GATEWAY || sk == SEC_AUTH)
		ctx->singletons[sk == SEC_AUTH] = true;
	ctx->sd = sd;
	ctx->obj = schema_section_new(ctx, sd, name);
	ctx->section_bad = false;
}

/* ---- inih glue ---- */

static bool looks_like_key(const char *s)
{
	const char *k = s;
	while (isalnum((unsigned char)*k) || *k == '_')
		k++;
	if (k == s)
		return false;
	while (*k == ' ' || *k == '\t')
		k++;
	return *k == '=' || *k == ':';
}

/* Reads one whole line into ctx->buf; a line longer than POLICY_MAX_LINE is
 * reported, skipped to its end and read as empty. NULL at the end. */
static char *read_line(struct load_ctx *ctx)
{
	size_t len;
	int c;

	if (!fgets(ctx->buf, POLICY_MAX_LINE + 2, ctx->fp))
		return NULL;
	ctx->line++;
	len = strlen(ctx->buf);
	if (len <= POLICY_MAX_LINE || ctx->buf[len - 1] == '\n')
		return ctx->buf;
	ERR(ctx, "line longer than %d bytes", POLICY_MAX_LINE);
	while ((c = fgetc(ctx->fp)) != EOF && c != '\n')
		;
	ctx->buf[0] = '\0';
	return ctx->buf;
}

/* Cuts an inline comment (a ';' after a blank, as inih does) and trailing
 * blanks from a value. */
static void value_trim(char *v)
{
	char *end;

	for (char *s = v; *s; s++) {
		if (*s == ';' && s > v && isspace((unsigned char)s[-1])) {
			*s = '\0';
			break;
		}
	}
	end = v + strlen(v);
	while (end > v && isspace((unsigned char)end[-1]))
		*--end = '\0';
}

/* Hands inih a line too long for its buffer: the value is kept in
 * ctx->long_value and inih gets "name = \x01" (or an indented "\x01" for a
 * continuation), which handler_cb resolves; line numbers stay right. */
static char *hand_long(struct load_ctx *ctx, char *line, char *str, int num)
{
	char *eq = strpbrk(line, "=:"), *name_end, *v;

	if (ctx->continuation) {
		v = line;
		while (isspace((unsigned char)*v))
			v++;
		value_trim(v);
		ctx->long_value = gw_strdup(v);
		snprintf(str, (size_t)num, " \x01\n");
		return str;
	}
	if (!eq) /* reported by the caller */
		return strcpy(str, "");
	name_end = eq;
	while (name_end > line && isspace((unsigned char)name_end[-1]))
		name_end--;
	if (name_end - line > num - 8) {
		ERR(ctx, "expected \"key = value\": the key is too long");
		return strcpy(str, "");
	}
	v = eq + 1;
	while (isspace((unsigned char)*v))
		v++;
	value_trim(v);
	ctx->long_value = gw_strdup(v);
	snprintf(str, (size_t)num, "%.*s = \x01\n", (int)(name_end - line), line);
	return str;
}

/* Gives inih the line it may parse, short enough for its buffer. */
static char *hand_line(struct load_ctx *ctx, char *line, char *str, int num)
{
	size_t len = strlen(line);

	if (len < (size_t)num - 1)
		return memcpy(str, line, len + 1);
	return hand_long(ctx, line, str, num);
}

/* inih's line reader: reads whole lines of any length up to POLICY_MAX_LINE,
 * counts them, sees section headers first, and tells indented keys from
 * continuation lines. */
static char *reader_cb(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	char *line, *s;

	free(ctx->long_value);
	ctx->long_value = NULL;
	if (!(line = read_line(ctx)))
		return NULL;
	s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	ctx->continuation = false;
	if (*s == '\0' || *s == '\n' || *s == '\r' || *s == ';' || *s == '#')
		return strcpy(str, "");
	if (*s == '[') {
		section_begin(ctx, s); /* an indented header is still a header */
		return strcpy(str, "[s]\n");
	}
	if (s != line) {
		if (looks_like_key(s)) {
			line = s;
		} else if (ctx->seen.n > 0) {
			ctx->continuation = true;
			return hand_line(ctx, line, str, num);
		} else {
			ERR(ctx, "expected \"key = value\" (an indented line continues a list only after a key)");
			return strcpy(str, "");
		}
	}
	if (!strpbrk(line, "=:"))
		ERR(ctx, "expected \"key = value\"");
	return hand_line(ctx, line, str, num);
}

static int handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;

	(void)section;
	if (ctx->section_bad)
		return 1; /* keys of a refused section: the header was reported */
	if (!ctx->sd) {
		ERR(ctx, "\"%s\" is outside of any section", name);
		return 1;
	}
	if (ctx->long_value && strcmp(value, "\x01") == 0)
		value = ctx->long_value;
	schema_set(ctx, name, value);
	return 1;
}

/* ---- files and includes ---- */

static void load_file(struct gw_policy *p, struct gw_diag *diag, const char *path, int depth,
		      bool *singletons);

static void load_includes(struct load_ctx *ctx)
{
	for (size_t i = 0; i < ctx->includes.n; i++) {
		char *pattern = include_path(ctx->file, ctx->includes.v[i]);
		char *dir = gw_strdup(pattern);
		char *slash = strrchr(dir, '/');
		glob_t g;
		int rc;

		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		stamp_add(ctx->p, slash ? dir : ".");
		free(dir);
		rc = glob(pattern, 0, NULL, &g);
		if (rc == 0) {
			for (size_t k = 0; k < g.gl_pathc; k++)
				load_file(ctx->p, ctx->diag, g.gl_pathv[k], ctx->depth + 1,
					  ctx->singletons);
		} else if (rc != GLOB_NOMATCH) {
			diag_add(ctx->diag, false, ctx->file, 0, "include %s: cannot read",
				 pattern);
		}
		if (rc == 0 || rc == GLOB_NOMATCH)
			globfree(&g);
		free(pattern);
	}
}

static void load_file(struct gw_policy *p, struct gw_diag *diag, const char *path, int depth,
		      bool *singletons)
{
	struct load_ctx ctx;
	struct stat sb;

	memset(&ctx, 0, sizeof(ctx));
	ctx.p = p;
	ctx.diag = diag;
	ctx.file = own_name(p, path);
	ctx.depth = depth;
	ctx.singletons = singletons;
	if (depth > POLICY_MAX_INCLUDE_DEPTH) {
		diag_add(diag, false, ctx.file, 0, "includes nested more than %d deep (a loop?)",
			 POLICY_MAX_INCLUDE_DEPTH);
		return;
	}
	stamp_add(p, path);
	ctx.fp = fopen(path, "r");
	if (!ctx.fp) {
		diag_add(diag, false, ctx.file, 0, "cannot open: %s", strerror(errno));
		return;
	}
	if (fstat(fileno(ctx.fp), &sb) < 0 || !S_ISREG(sb.st_mode)) {
		diag_add(diag, false, ctx.file, 0, "not a regular file");
		fclose(ctx.fp);
		return;
	}
	ctx.buf = gw_malloc(POLICY_MAX_LINE + 2);
	if (ini_parse_stream(reader_cb, &ctx, handler_cb, &ctx) == -2)
		diag_add(diag, false, ctx.file, 0, "out of memory");
	if (ferror(ctx.fp))
		diag_add(diag, false, ctx.file, 0, "read error");
	check_torn(&ctx, ctx.fp, &sb, ctx.file);
	fclose(ctx.fp);
	free(ctx.buf);
	free(ctx.long_value);
	list_free(&ctx.seen);
	load_includes(&ctx);
	list_free(&ctx.includes);
}

struct gw_policy *policy_load(const char *path, struct gw_diag *diag)
{
	struct gw_policy *p = gw_malloc(sizeof(*p));
	size_t errors_before = diag->n_errors;
	bool singletons[2] = {false, false};

	schema_policy_defaults(p);
	load_file(p, diag, path, 0, singletons);
	if (diag->n_errors == errors_before)
		policy_validate(p, diag, p->files[0]);
	p->valid = diag->n_errors == errors_before;
	return p;
}
