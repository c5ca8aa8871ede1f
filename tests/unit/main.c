/* main.c: runs every unit suite with CUnit's basic interface; exits non-zero
 * when any assertion, test or suite failed, or CUnit itself reported an error. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	unsigned failures, tests_failed, suites_failed;
	CU_ErrorCode err;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "unit-tests: %s\n", CU_get_error_msg());
		return 2;
	}
	suite_str();
	suite_digest();
	suite_buf();
	suite_policy();
	suite_auth();
	suite_block();
	suite_query();
	suite_prompt();
	suite_openai();
	suite_usage();
	suite_limit();
	suite_sse();
	suite_metrics();
	suite_stats();
	suite_report();
	suite_balance();
	suite_store();
	suite_reply();
	suite_relay();
	suite_alert();
	suite_anthropic();
	suite_responses();

	/* Tests of known, not yet fixed bugs are registered inactive (see
	 * testutil.h); they show in the summary without failing the run. */
	CU_set_fail_on_inactive(CU_FALSE);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	err = CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	tests_failed = CU_get_number_of_tests_failed();
	suites_failed = CU_get_number_of_suites_failed();
	/* CU_basic_run_tests has printed each failure and the run summary. */
	printf("\n");
	if (err == CUE_SUCCESS)
		err = CU_get_error();
	if (err != CUE_SUCCESS)
		fprintf(stderr, "unit-tests: CUnit error: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	if (err != CUE_SUCCESS)
		return 2;
	return failures || tests_failed || suites_failed ? 1 : 0;
}
