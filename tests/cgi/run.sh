#!/bin/sh
# tests/cgi/run.sh: runs the fast tests (tests/cgi/t*.sh), which run
# build/aigw.cgi directly with no web server, and prints one summary line.
# Pass names to run a subset.
cd "$(dirname "$0")/../.." || exit 1
passed=0
failed=0
failed_names=
if [ $# -eq 0 ]; then
	set -- tests/cgi/t*.sh
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
echo "cgi: $passed passed, $failed failed"
[ -z "$failed_names" ] || echo "cgi: failed:$failed_names"
[ "$failed" -eq 0 ]
