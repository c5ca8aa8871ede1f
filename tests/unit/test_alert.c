/* test_alert.c: budget alerts: thresholds reached, claim keys per period,
 * exactly-once firing through the file store, and the usage log's lines. */
#include "alert.h"
#include "gw.h"
#include "report.h"
#include "suites.h"
#include "testutil.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void policy_with(struct gw_policy *p, const int *at, size_t n)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < n; i++)
		p->alert_at[i] = at[i];
	p->n_alert_at = n;
}

static void test_reached(void)
{
	static const int at[] = { 50, 80, 100 };
	struct gw_policy p;

	policy_with(&p, at, 3);
	TU_INT(alert_reached(&p, 0, 1000), 0);
	TU_INT(alert_reached(&p, 499, 1000), 0);
	TU_INT(alert_reached(&p, 500, 1000), 1);
	TU_INT(alert_reached(&p, 800, 1000), 3);
	TU_INT(alert_reached(&p, 5000, 1000), 7); /* one jump past every threshold */
	/* no budget, nothing known, or absurd numbers: nothing, never a wrap */
	TU_INT(alert_reached(&p, 500, 0), 0);
	TU_INT(alert_reached(&p, -1, 1000), 0);
	TU_INT(alert_reached(&p, INT64_MAX, INT64_MAX), 7);
	TU_INT(alert_reached(&p, INT64_MAX / 2 + 1, INT64_MAX), 1);
}

static void test_keys(void)
{
	char key[128];
	int64_t day = 1733443200000LL; /* 2024-12-06 00:00 UTC */

	CU_ASSERT_TRUE(alert_key("team-a", "day", day + 3600000, 80, key, sizeof(key)));
	TU_STR(key, "alert:team-a:day:20241206:80");
	CU_ASSERT_TRUE(alert_key("team-a", "month", day, 100, key, sizeof(key)));
	TU_STR(key, "alert:team-a:month:202412:100");
	/* the next day is another period */
	CU_ASSERT_TRUE(alert_key("team-a", "day", day + 86400000, 80, key, sizeof(key)));
	TU_STR(key, "alert:team-a:day:20241207:80");
	CU_ASSERT_FALSE(alert_key("a-very-long-consumer-name", "day", day, 80, key, 16));
}

/* Each threshold fires once per period, whoever asks, and is logged. */
static void test_fires_once(void)
{
	static const int at[] = { 50, 100 };
	char *dir = tu_tmpdir_create(), *log_path, *text;
	struct gw_policy p;
	struct gw_consumer c;
	struct gw_store *store;
	struct usage_log log;
	struct alert_spend s;
	const char *err;
	size_t len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	policy_with(&p, at, 2);
	p.state_dir = dir;
	memset(&c, 0, sizeof(c));
	c.name = (char *)"team-a";
	c.limits.budget_day = 1000;
	store = store_open(&p, 0);
	log_path = tu_path(dir, "usage.jsonl");
	usage_log_init(&log, log_path);
	s = (struct alert_spend){ &p, &c, 1733443200000LL, 400, -1 };
	TU_INT(alert_check(&s, store, &log, &err), 0);
	s.spent_day = 600;
	TU_INT(alert_check(&s, store, &log, &err), 1);
	CU_ASSERT_PTR_NULL(err);
	TU_INT(alert_check(&s, store, &log, &err), 0); /* already fired */
	s.spent_day = 1200;
	TU_INT(alert_check(&s, store, &log, &err), 1); /* only 100 is new */
	s.now_ms += 86400000;                          /* the next day fires again */
	TU_INT(alert_check(&s, store, &log, &err), 2);
	text = tu_read(log_path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	{
		int lines = 0;
		for (size_t i = 0; i < len; i++)
			lines += text[i] == '\n';
		TU_INT(lines, 4);
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"event\":\"alert\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"percent\":100,\"spent_usd\":0.0000000012"));
	free(text);
	usage_log_close(&log);
	store_close(store);
	free(log_path);
	tu_tmpdir_remove(dir);
}

/* aigwctl usage reads alert lines as events, not as bad request lines. */
static void test_report_skips_alerts(void)
{
	struct usage_alert a = { { 1733443200, 0 }, "team-a", "day", 80, 800, 1000 };
	char *line = usage_format_alert(&a);
	struct report_line l;
	char scratch[256];
	json_object *o = json_tokener_parse(line);

	CU_ASSERT_PTR_NOT_NULL(o);
	json_object_put(o);
	TU_INT(report_parse_line(line, strlen(line), &l, scratch, sizeof(scratch)), 1);
	free(line);
}

/* The command runs detached with the alert's facts in its environment. */
static void test_run(void)
{
	char *dir = tu_tmpdir_create(), *script, *out, *text = NULL, *cmd;
	struct usage_alert a = { { 0, 0 }, "team-a", "month", 80, 800000000000LL, 1000000000000LL };

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	script = tu_path(dir, "alert.sh");
	out = tu_path(dir, "out");
	cmd = gw_asprintf("#!/bin/sh\nenv | grep '^AIGW_' | sort > %s.tmp && mv %s.tmp %s\n", out,
			  out, out);
	tu_write_str(script, cmd);
	chmod(script, 0755);
	TU_INT(alert_run(script, &a), 0);
	for (int i = 0; i < 200 && !text; i++) {
		usleep(10000);
		text = tu_read(out, NULL);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	TU_STR(text, "AIGW_BUDGET=month\nAIGW_CONSUMER=team-a\nAIGW_LIMIT_USD=1.000000\n"
		     "AIGW_PERCENT=80\nAIGW_SPENT_USD=0.800000\n");
	free(text);
	free(cmd);
	free(script);
	free(out);
	tu_tmpdir_remove(dir);
}

void suite_alert(void)
{
	static const struct tu_test tests[] = {
		{ "thresholds reached, saturating", test_reached, false },
		{ "claim keys per consumer, budget, period and threshold", test_keys, false },
		{ "each threshold fires once per period, and is logged", test_fires_once, false },
		{ "aigwctl usage skips alert lines", test_report_skips_alerts, false },
		{ "the command gets the facts in its environment", test_run, false },
	};
	tu_register("alert", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
