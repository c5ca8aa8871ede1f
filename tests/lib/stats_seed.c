/* stats_seed.c: writes a known usage history into a state_dir's day tables
 * through the stats code the gateway uses, for tests that need past days
 * (the gateway only records the present).
 *
 *   stats-seed STATE_DIR DAYS   for each of the DAYS days before today (UTC),
 *                               day d (1 = yesterday) gets, for consumer c
 *                               (1..2) and model m (1..2): requests
 *                               d*c + m, prompt tokens 100*that, completion
 *                               tokens 10*that, of the prompt tokens 30*that
 *                               cache reads and (model 2 only) 5*that cache
 *                               writes, cost 1000 pico-USD per token
 * Prints one line per row written. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const consumers[] = { "consumer1", "consumer2" };
static const char *const models[] = { "gpt-4o-mini", "gpt-4o" };

int main(int argc, char **argv)
{
	struct stats_store s;
	int64_t today;
	long days;

	if (argc != 3 || (days = strtol(argv[2], NULL, 10)) < 1 || days > 400) {
		fprintf(stderr, "usage: stats-seed STATE_DIR DAYS\n");
		return 2;
	}
	today = (int64_t)time(NULL) / 86400 * 86400000LL;
	stats_store_init(&s, argv[1]);
	for (long d = 1; d <= days; d++) {
		int64_t noon = today - d * 86400000LL + 43200000LL;
		for (int c = 0; c < 2; c++) {
			for (int m = 0; m < 2; m++) {
				struct stats_key k;
				struct stats_values v;
				bool rebuilt;
				int64_t n = d * (c + 1) + (m + 1);

				memset(&k, 0, sizeof(k));
				memset(&v, 0, sizeof(v));
				snprintf(k.consumer, sizeof(k.consumer), "%s", consumers[c]);
				snprintf(k.route, sizeof(k.route), "v1");
				snprintf(k.model, sizeof(k.model), "%s", models[m]);
				k.status = 200;
				v.requests = n;
				v.prompt_tokens = 100 * n;
				v.completion_tokens = 10 * n;
				v.cached_tokens = 30 * n;
				v.cache_write_tokens = m == 1 ? 5 * n : 0;
				v.cost_pico = 1000 * 110 * n;
				if (stats_record(&s, noon, &k, &v, 1000, 100, &rebuilt) < 0) {
					perror(argv[1]);
					return 1;
				}
				printf("-%ld %s %s %lld\n", d, k.consumer, k.model, (long long)n);
			}
		}
	}
	stats_store_close(&s);
	return 0;
}
