/* test_relay.c: cgi/relay.h (the pure checks of the upstream call). */
#include <limits.h>

#include "gw.h"
#include "relay.h"
#include "suites.h"
#include "testutil.h"

static void test_status_valid(void)
{
	CU_ASSERT_TRUE(relay_status_valid(100));
	CU_ASSERT_TRUE(relay_status_valid(200));
	CU_ASSERT_TRUE(relay_status_valid(429));
	CU_ASSERT_TRUE(relay_status_valid(599));
	CU_ASSERT_FALSE(relay_status_valid(0));
	CU_ASSERT_FALSE(relay_status_valid(99));
	CU_ASSERT_FALSE(relay_status_valid(600));
	CU_ASSERT_FALSE(relay_status_valid(700));
	CU_ASSERT_FALSE(relay_status_valid(999));
	CU_ASSERT_FALSE(relay_status_valid(-200));
	CU_ASSERT_FALSE(relay_status_valid(LONG_MAX));
}

void suite_relay(void)
{
	static const struct tu_test tests[] = {
		{ "an upstream status outside 100-599 is refused", test_status_valid, false },
	};
	tu_register("relay", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
