#!/bin/bash
# run-e2e-tsan.sh: end-to-end tests with the FastCGI responder built with
# ThreadSanitizer, build/aigw-tsan.fcgi (make build/aigw-tsan.fcgi), its
# worker threads serving requests at once.
#
# usage: tests/run-e2e-tsan.sh [TEST...]   (default: the tests in TSAN_TESTS)
#
# The servers give the FastCGI processes TSAN_OPTIONS through AIGW_EXTRA_ENV
# (see tests/setup.sh), with log_path pointing into a directory of this run
# and the suppressions of tests/tsan.supp (uninstrumented libraries only).
# Fails when a test fails or when any report appears (they are printed).
# KEEP_TSAN_LOGS=1 keeps the report directory (kept anyway on failure).
cd "$(dirname "$0")/.." || exit 1
TOP=$PWD
TSAN_TESTS="tests/e2e/t0100-seed.sh tests/e2e/t0210-threads.sh"

AIGW_FCGI=$TOP/build/aigw-tsan.fcgi
if [ ! -x "$AIGW_FCGI" ]; then
	echo "e2e-tsan: $AIGW_FCGI is missing: make build/aigw-tsan.fcgi"
	exit 1
fi
export AIGW_FCGI
DIR=$(mktemp -d "${TMPDIR:-/tmp}/aigw-tsan.XXXXXX") || exit 1
# The FastCGI processes run as the servers' user (www-data).
chmod 1777 "$DIR"
cp "$TOP/tests/tsan.supp" "$DIR/suppressions"
chmod 0644 "$DIR/suppressions"
export AIGW_EXTRA_ENV="TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$DIR/tsan:suppressions=$DIR/suppressions"

[ $# -gt 0 ] || set -- $TSAN_TESTS
failed=0
for t in "$@"; do
	echo "=== $t (ThreadSanitizer)"
	bash "$t" || failed=1
done
reports=$(ls "$DIR"/tsan.* 2>/dev/null)
if [ -n "$reports" ]; then
	echo "e2e-tsan: ThreadSanitizer reports:"
	cat $reports
	failed=1
fi
if [ "$failed" = 0 ] && [ -z "${KEEP_TSAN_LOGS:-}" ]; then
	rm -rf "$DIR"
	echo "e2e-tsan: clean"
else
	echo "e2e-tsan: reports and logs kept in $DIR"
fi
exit "$failed"
