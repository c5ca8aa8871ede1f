/* suites.h: one CUnit suite per module; each function registers its suite
 * and tests with the current registry. */
#ifndef AIGW_UNIT_SUITES_H
#define AIGW_UNIT_SUITES_H

void suite_str(void);
void suite_digest(void);
void suite_buf(void);
void suite_policy(void);
void suite_auth(void);
void suite_block(void);
void suite_query(void);
void suite_prompt(void);
void suite_openai(void);
void suite_usage(void);
void suite_limit(void);
void suite_sse(void);
void suite_metrics(void);
void suite_stats(void);
void suite_report(void);
void suite_balance(void);
void suite_store(void);
void suite_reply(void);
void suite_relay(void);
void suite_alert(void);
void suite_anthropic(void);
void suite_responses(void);

#endif
