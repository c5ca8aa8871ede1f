/* keys.h: aigwctl's key lifecycle: key add, rotate, revoke and list over one
 * policy file per consumer in [gateway] keys_dir, each change written
 * atomically and recorded in keys_dir/audit.jsonl; and the expiry warnings
 * of aigwctl check. */
#ifndef AIGW_KEYS_H
#define AIGW_KEYS_H

#include <stdint.h>

#include "policy.h"

/* Runs `key SUBCOMMAND ARGS...` (argv[0] is the subcommand) against the
 * policy at config. Prints to stdout (a new key alone on the last line) and
 * its errors to stderr. Returns the exit status: 0, 1 on failure, 2 on wrong
 * usage. */
int keys_main(const char *config, int argc, char **argv);

/* Adds a warning to diag for each consumer whose key expires within 7 days
 * of now_ms, or has expired. */
void keys_lint(const struct gw_policy *p, int64_t now_ms, struct gw_diag *diag);

#endif
