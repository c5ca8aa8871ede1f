/* aigwctl.c: the operator's tool: check a policy, summarise usage, reset windows. */
#include "gw.h"
#include "limit.h"
#include "policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage_text(FILE *f)
{
	fprintf(f, "usage: aigwctl [-c FILE] COMMAND\n"
		   "  check [FILE]       validate a policy; prints FILE:LINE: message, exit 1 on errors\n"
		   "  usage              summarise the usage log per consumer and model\n"
		   "  reset CONSUMER     clear the consumer's request and token windows\n"
		   "The policy is FILE, else $AIGW_CONFIG, else %s.\n",
		gw_default_config());
}

static int cmd_check(const char *path)
{
	struct gw_diag diag = { 0 };
	struct gw_policy *p = policy_load(path, &diag);
	int rc = p->valid ? 0 : 1;

	for (size_t i = 0; i < diag.n; i++)
		fprintf(diag.warning[i] ? stdout : stderr, "%s\n", diag.msgs[i]);
	if (rc == 0)
		printf("%s: ok (%zu routes, %zu consumers, %zu upstreams)\n", path, p->n_routes,
		       p->n_consumers, p->n_upstreams);
	diag_free(&diag);
	policy_free(p);
	return rc;
}

struct usage_row {
	char *consumer;
	char *model;
	long long requests, errors, prompt_tokens, completion_tokens;
};

static const char *field_str(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static long long field_int(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static struct usage_row *row_for(struct usage_row **rows, size_t *n, const char *c, const char *m)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*rows)[i].consumer, c) == 0 && strcmp((*rows)[i].model, m) == 0)
			return &(*rows)[i];
	*rows = gw_realloc(*rows, (*n + 1) * sizeof(**rows));
	memset(&(*rows)[*n], 0, sizeof(**rows));
	(*rows)[*n].consumer = gw_strdup(c);
	(*rows)[*n].model = gw_strdup(m);
	return &(*rows)[(*n)++];
}

static int cmd_usage(const char *path)
{
	struct gw_diag diag = { 0 };
	struct gw_policy *p = policy_load(path, &diag);
	struct usage_row *rows = NULL;
	size_t n = 0, bad = 0;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	for (size_t i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	diag_free(&diag);
	if (!p->valid || !p->usage_log) {
		fprintf(stderr, "aigwctl: %s\n", p->valid ? "the policy sets no usage_log" : "invalid policy");
		policy_free(p);
		return 1;
	}
	f = fopen(p->usage_log, "r");
	if (!f) {
		perror(p->usage_log);
		policy_free(p);
		return 1;
	}
	while (getline(&line, &cap, f) > 0) {
		json_object *o = json_tokener_parse(line);
		if (!o) {
			bad++;
			continue;
		}
		struct usage_row *r = row_for(&rows, &n, field_str(o, "consumer"), field_str(o, "model"));
		r->requests++;
		if (field_int(o, "status") >= 400)
			r->errors++;
		r->prompt_tokens += field_int(o, "prompt_tokens");
		r->completion_tokens += field_int(o, "completion_tokens");
		json_object_put(o);
	}
	free(line);
	fclose(f);
	printf("%-20s %-24s %10s %8s %14s %14s\n", "consumer", "model", "requests", "errors",
	       "prompt_tok", "completion_tok");
	for (size_t i = 0; i < n; i++) {
		printf("%-20s %-24s %10lld %8lld %14lld %14lld\n",
		       rows[i].consumer[0] ? rows[i].consumer : "-", rows[i].model[0] ? rows[i].model : "-",
		       rows[i].requests, rows[i].errors, rows[i].prompt_tokens, rows[i].completion_tokens);
		free(rows[i].consumer);
		free(rows[i].model);
	}
	free(rows);
	if (bad)
		fprintf(stderr, "aigwctl: %zu lines of %s are not valid JSON\n", bad, p->usage_log);
	policy_free(p);
	return 0;
}

static int cmd_reset(const char *path, const char *consumer)
{
	struct gw_diag diag = { 0 };
	struct gw_policy *p = policy_load(path, &diag);
	int n, rc = 0;

	for (size_t i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	diag_free(&diag);
	if (!p->valid) {
		fprintf(stderr, "aigwctl: invalid policy %s\n", path);
		policy_free(p);
		return 1;
	}
	if (!policy_consumer(p, consumer))
		fprintf(stderr, "aigwctl: warning: %s is not a consumer of %s\n", consumer, path);
	n = limit_reset_consumer(p->state_dir, consumer);
	if (n < 0) {
		fprintf(stderr, "aigwctl: %s: %s\n", p->state_dir, strerror(errno));
		rc = 1;
	} else {
		printf("%s: cleared %d window file%s\n", consumer, n, n == 1 ? "" : "s");
	}
	policy_free(p);
	return rc;
}

int main(int argc, char **argv)
{
	const char *config = getenv("AIGW_CONFIG");
	int opt;

	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage_text(stdout);
			return 0;
		default:
			usage_text(stderr);
			return 2;
		}
	}
	if (!config)
		config = gw_default_config();
	if (optind >= argc) {
		usage_text(stderr);
		return 2;
	}
	if (strcmp(argv[optind], "check") == 0)
		return cmd_check(optind + 1 < argc ? argv[optind + 1] : config);
	if (strcmp(argv[optind], "usage") == 0)
		return cmd_usage(config);
	if (strcmp(argv[optind], "reset") == 0) {
		if (optind + 2 != argc) {
			usage_text(stderr);
			return 2;
		}
		return cmd_reset(config, argv[optind + 1]);
	}
	fprintf(stderr, "aigwctl: unknown command %s\n", argv[optind]);
	usage_text(stderr);
	return 2;
}
