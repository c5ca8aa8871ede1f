#!/bin/bash
# run-e2e-san.sh: end-to-end tests with the FastCGI responder built with
# AddressSanitizer (leak checking included) and UndefinedBehaviorSanitizer,
# build/aigw-san.fcgi (make build/aigw-san.fcgi).
#
# usage: tests/run-e2e-san.sh [TEST...]   (default: the tests in SAN_TESTS)
#
# The servers give their FastCGI processes ASAN_OPTIONS and UBSAN_OPTIONS
# through AIGW_EXTRA_ENV (see tests/setup.sh), with log_path pointing into
# a directory of this run, so that every report is a file there.  Fails
# when a test fails or when any report file appears (they are printed).
#
# ASan checks for leaks when a process exits normally, which aigw.fcgi does
# on SIGTERM.  First, for each server, a canary run with atexit=1 (each
# process that exits normally writes its exit statistics to log_path)
# proves that the options reach the processes, that they can write there,
# and that stopping the server lets them exit normally.
#
# Set KEEP_SAN_LOGS=1 to keep the report directory (it is kept anyway when
# something failed).
cd "$(dirname "$0")/.." || exit 1
TOP=$PWD
SAN_TESTS="tests/e2e/t0100-seed.sh tests/e2e/t0120-nginx.sh
           tests/e2e/t0600-hostile.sh tests/e2e/t0610-reload.sh"

AIGW_FCGI=$TOP/build/aigw-san.fcgi
if [ ! -x "$AIGW_FCGI" ]; then
	echo "e2e-san: $AIGW_FCGI is missing: make build/aigw-san.fcgi"
	exit 1
fi
export AIGW_FCGI
DIR=$(mktemp -d "${TMPDIR:-/tmp}/aigw-san.XXXXXX") || exit 1
# The FastCGI processes run as the servers' user (www-data).
chmod 1777 "$DIR"

# ---- the canaries
canary() {
	local server=$1 dir=$DIR/canary-$1
	mkdir -p "$dir"
	chmod 1777 "$dir"
	(
		. "$TOP/tests/setup.sh"
		scratch_init
		seed_policy "$T/aigw.ini" http://127.0.0.1:9/v1
		AIGW_EXTRA_ENV="ASAN_OPTIONS=detect_leaks=1:atexit=1:print_stats=1:log_path=$dir/asan" \
			start_server "$server" "$T/aigw.ini" 2
		for i in 1 2 3 4; do
			curl -sS -o /dev/null --max-time 10 "$GW_URL/_aigw/health"
		done
		stop_server
	) >"$dir/run.out" 2>&1
	case $(head -n 1 "$dir/run.out") in
	skip:*)
		echo "e2e-san: canary $server: $(head -n 1 "$dir/run.out")"
		return 0
		;;
	esac
	if grep -ls 'AddressSanitizer exit stats' "$dir"/asan.* >/dev/null 2>&1; then
		echo "e2e-san: canary $server: $(grep -ls 'exit stats' "$dir"/asan.* |
			wc -l) processes exited normally with the options"
		return 0
	fi
	echo "e2e-san: canary $server: no process wrote its exit statistics to" \
		"$dir: the sanitizer options do not reach the processes, or they" \
		"do not exit normally when the server stops"
	sed 's/^/e2e-san:   /' "$dir/run.out"
	return 1
}

failed=0
failed_names=
for server in lighttpd apache nginx; do
	canary "$server" || {
		failed=$((failed + 1))
		failed_names="$failed_names canary-$server"
	}
done

# ---- the tests
export AIGW_EXTRA_ENV="ASAN_OPTIONS=detect_leaks=1:log_path=$DIR/asan UBSAN_OPTIONS=print_stacktrace=1:log_path=$DIR/ubsan"
if [ $# -eq 0 ]; then
	set -- $SAN_TESTS
fi
passed=0
for t in "$@"; do
	echo "=== $t (sanitizers)"
	if bash "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names="$failed_names $t"
	fi
done

reports=$(ls "$DIR"/asan.* "$DIR"/ubsan.* 2>/dev/null)
for f in $reports; do
	echo "=== sanitizer report ${f#"$DIR"/}"
	cat "$f"
done
echo "e2e-san: $passed passed, $failed failed, $(echo $reports | wc -w) sanitizer reports"
[ -z "$failed_names" ] || echo "e2e-san: failed:$failed_names"
if [ "$failed" -eq 0 ] && [ -z "$reports" ]; then
	if [ "${KEEP_SAN_LOGS:-0}" = 1 ]; then
		echo "e2e-san: reports directory kept: $DIR"
	else
		rm -rf "$DIR"
	fi
	exit 0
fi
echo "e2e-san: reports directory kept: $DIR"
exit 1
