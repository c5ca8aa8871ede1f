/* policy_int.h: what the parts of the policy loader share (schema, loading,
 * validation, lint). Only policy*.c include it; everyone else uses policy.h. */
#ifndef GW_POLICY_INT_H
#define GW_POLICY_INT_H

#include <stdio.h>
#include <sys/stat.h>

#include "policy.h"

#define POLICY_MAX_INCLUDE_DEPTH 8
#define POLICY_MAX_KEY_FILE	 4096
/* The longest policy line, without its newline. */
#define POLICY_MAX_LINE 65536

enum section_kind {
	SEC_NONE,
	SEC_GATEWAY,
	SEC_UPSTREAM,
	SEC_AUTH,
	SEC_CONSUMER,
	SEC_ROUTE,
	SEC_MODEL
};

struct key_def;
struct section_def;

/* Parser state while one file is read. */
struct load_ctx {
	struct gw_policy *p;
	struct gw_diag *diag;
	const char *file; /* owned by p->files */
	FILE *fp;
	char *buf;        /* one whole line, POLICY_MAX_LINE + 2 bytes */
	char *long_value; /* the value of a line too long for inih's buffer, or NULL */
	int line;
	int depth;
	bool continuation;	      /* the current line continues the previous value */
	bool section_bad;	      /* current section header was refused: skip its keys */
	const struct section_def *sd; /* of the current section; NULL: none */
	void *obj;		      /* the struct of the current section */
	struct gw_list seen;	      /* keys set in the current section */
	struct gw_list includes;      /* patterns to read after this file */
	bool *singletons;	      /* [gateway], [auth] seen in any file of this load */
};

#define ERR(ctx, ...) diag_add((ctx)->diag, false, (ctx)->file, (ctx)->line, __VA_ARGS__)

/* ---- lists (policy.c) ---- */
void list_add(struct gw_list *l, const char *s, size_t n);
void list_free(struct gw_list *l);
/* Splits a comma-separated value, trimming blanks; empty items are skipped. */
void list_parse(struct gw_list *l, const char *value);

/* ---- schema (policy_schema.c) ---- */
/* Every default of the policy and of a fresh section's struct. */
void schema_policy_defaults(struct gw_policy *p);
/* Defaults that follow from other keys, once every file is read. */
void schema_derived_defaults(struct gw_policy *p);
/* The section called name ("gateway", "route", ...), or NULL. */
const struct section_def *schema_section(const char *name);
const char *schema_section_name(const struct section_def *sd);
bool schema_section_named(const struct section_def *sd);
enum section_kind schema_section_kind(const struct section_def *sd);
/* A comma-separated list of the section names, for messages. */
const char *schema_section_list(void);
/* Allocates the struct of a new section, with its defaults, and adds it to
 * the policy (or returns the policy's own for [gateway] and [auth]). */
void *schema_section_new(struct load_ctx *ctx, const struct section_def *sd, const char *name);
/* Handles "name = value" in the current section: finds the key, checks
 * repeats, continuation and exclusive keys, parses and stores the value,
 * reporting every problem at FILE:LINE. */
void schema_set(struct load_ctx *ctx, const char *name, const char *value);

/* ---- loading (policy_load.c), called from schema rows ---- */
/* The current file holds a key in plain text. */
void load_note_secret(struct load_ctx *ctx, const char *file);
/* include = PATTERN, ...; keys_dir = DIR; api_key_file = PATH; api_key_env = NAME */
void load_include(struct load_ctx *ctx, const char *value);
void load_keys_dir(struct load_ctx *ctx, const char *value);
void load_api_key_file(struct load_ctx *ctx, const char *value);
void load_api_key_env(struct load_ctx *ctx, const char *value);

/* True when two stats of one file show the same inode, size and mtime (to
 * the nanosecond): the file did not change in between. */
bool load_stat_same(const struct stat *a, const struct stat *b);

/* ---- validation (policy_check.c) ---- */
/* Checks what only the whole policy can tell, after every file is read. */
void policy_validate(struct gw_policy *p, struct gw_diag *d, const char *main_file);

#endif
