/* aigwctl.c: the operator's tool: check a policy, summarise usage, reset windows. */
#include "gw.h"
#include "keys.h"
#include "limit.h"
#include "report.h"
#include "store.h"
#include "policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage_text(FILE *f)
{
	fprintf(f, "usage: aigwctl [-c FILE] COMMAND\n"
		   "  check [FILE]       validate a policy; prints FILE:LINE: message, exit 1 on errors\n"
		   "  usage [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--by consumer|model|day]\n"
		   "        [--format table|csv|json] [--log FILE]\n"
		   "                     summarise the usage log (default: per consumer and model)\n"
		   "  reset CONSUMER     clear the consumer's request and token windows\n"
		   "  key add NAME [--expires YYYY-MM-DD] [--owner TEXT] [--CONSUMER-KEY VALUE ...]\n"
		   "  key rotate NAME [--grace 24h] | key revoke NAME | key list\n"
		   "                     manage consumer key files in keys_dir\n"
		   "The policy is FILE, else $AIGW_CONFIG, else %s.\n",
		gw_default_config());
}

/* Loads the policy for a command that needs a valid one; its messages go to
 * stderr. Returns NULL when it is invalid. */
static struct gw_policy *load_valid(const char *path)
{
	struct gw_diag diag = { 0 };
	struct gw_policy *p = policy_load(path, &diag);

	for (size_t i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	diag_free(&diag);
	if (p->valid)
		return p;
	fprintf(stderr, "aigwctl: invalid policy %s\n", path);
	policy_free(p);
	return NULL;
}

static int cmd_check(const char *path)
{
	struct gw_diag diag = { 0 };
	struct gw_policy *p = policy_load(path, &diag);
	int rc = p->valid ? 0 : 1;

	if (p->valid) {
		policy_lint(p, &diag);
		keys_lint(p, (int64_t)time(NULL) * 1000, &diag);
	}
	for (size_t i = 0; i < diag.n; i++)
		fprintf(diag.warning[i] ? stdout : stderr, "%s\n", diag.msgs[i]);
	if (rc == 0)
		printf("%s: ok (%zu routes, %zu consumers, %zu upstreams)\n", path, p->n_routes,
		       p->n_consumers, p->n_upstreams);
	diag_free(&diag);
	policy_free(p);
	return rc;
}

static int parse_usage_args(int argc, char **argv, struct report *r, enum report_format *fmt)
{
	const char *since = NULL, *until = NULL;
	enum report_by by = REPORT_BY_CONSUMER_MODEL;

	*fmt = REPORT_TABLE;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "aigwctl usage: %s needs a value\n", a);
			return -1;
		}
		i++;
		if (strcmp(a, "--log") == 0) {
			continue; /* taken by cmd_usage */
		} else if (strcmp(a, "--since") == 0 || strcmp(a, "--until") == 0) {
			if (strlen(v) != 10 || v[4] != '-' || v[7] != '-') {
				fprintf(stderr, "aigwctl usage: %s takes YYYY-MM-DD\n", a);
				return -1;
			}
			*(a[2] == 's' ? &since : &until) = v;
		} else if (strcmp(a, "--by") == 0) {
			if (strcmp(v, "consumer") == 0)
				by = REPORT_BY_CONSUMER;
			else if (strcmp(v, "model") == 0)
				by = REPORT_BY_MODEL;
			else if (strcmp(v, "day") == 0)
				by = REPORT_BY_DAY;
			else {
				fprintf(stderr, "aigwctl usage: --by consumer, model or day\n");
				return -1;
			}
		} else if (strcmp(a, "--format") == 0) {
			if (strcmp(v, "table") == 0)
				*fmt = REPORT_TABLE;
			else if (strcmp(v, "csv") == 0)
				*fmt = REPORT_CSV;
			else if (strcmp(v, "json") == 0)
				*fmt = REPORT_JSON;
			else {
				fprintf(stderr, "aigwctl usage: --format table, csv or json\n");
				return -1;
			}
		} else {
			fprintf(stderr, "aigwctl usage: unknown option %s\n", a);
			return -1;
		}
	}
	report_init(r, by, since, until);
	return 0;
}

/* usage [--since D] [--until D] [--by consumer|model|day] [--format F] [--log FILE] */
static int cmd_usage(const char *path, int argc, char **argv)
{
	struct gw_policy *p = NULL;
	const char *log = NULL;
	enum report_format fmt;
	struct report r;
	FILE *f;
	int rc = 0;

	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], "--log") == 0)
			log = argv[i + 1];
	if (!log) {
		if (!(p = load_valid(path)))
			return 1;
		if (!p->usage_log) {
			fprintf(stderr, "aigwctl: %s sets no usage_log\n", path);
			policy_free(p);
			return 1;
		}
		log = p->usage_log;
	}
	if (parse_usage_args(argc, argv, &r, &fmt) < 0) {
		policy_free(p);
		return 2;
	}
	f = fopen(log, "r");
	if (!f) {
		fprintf(stderr, "aigwctl: %s: %s\n", log, strerror(errno));
		rc = 1;
	} else {
		if (report_read(&r, f) < 0) {
			fprintf(stderr, "aigwctl: reading %s: %s\n", log, strerror(errno));
			rc = 1;
		}
		fclose(f);
		report_print(&r, fmt, stdout);
		if (r.bad_lines)
			fprintf(stderr, "aigwctl: %lld of %lld lines of %s are not usage records\n",
				(long long)r.bad_lines, (long long)r.lines, log);
	}
	report_free(&r);
	policy_free(p);
	return rc;
}

static int cmd_reset(const char *path, const char *consumer)
{
	struct gw_policy *p = load_valid(path);
	struct gw_store *s;
	long n = 0;
	int rc = 0;

	if (!p)
		return 1;
	if (!policy_consumer(p, consumer))
		fprintf(stderr, "aigwctl: warning: %s is not a consumer of %s\n", consumer, path);
	if (p->store_timeout_ms < 2000)
		p->store_timeout_ms = 2000; /* a command line can wait longer than a request */
	s = store_open(p, 0);
	if (store_reset(s, consumer, &n) != GW_OK) {
		fprintf(stderr, "aigwctl: %s\n", s->err);
		rc = 1;
	} else {
		printf("%s: cleared %ld window %s%s\n", consumer, n, p->redis_host ? "key" : "file",
		       n == 1 ? "" : "s");
	}
	store_close(s);
	policy_free(p);
	return rc;
}

int main(int argc, char **argv)
{
	const char *config = getenv("AIGW_CONFIG");
	int opt;

	while ((opt = getopt(argc, argv, "+c:h")) != -1) {
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
		return cmd_usage(config, argc - optind - 1, argv + optind + 1);
	if (strcmp(argv[optind], "key") == 0)
		return keys_main(config, argc - optind - 1, argv + optind + 1);
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
