#!/bin/sh
# run-e2e.sh: runs every end-to-end test (tests/e2e/t*.sh), each against its
# own real servers, and prints one summary line. Pass names to run a subset.
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
failed_names=
if [ $# -eq 0 ]; then
	set -- tests/e2e/t*.sh
fi
for t in "$@"; do
	echo "=== $t"
	if bash "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names="$failed_names $t"
	fi
done
echo "e2e: $passed passed, $failed failed"
[ -z "$failed_names" ] || echo "e2e: failed:$failed_names"
[ "$failed" -eq 0 ]
