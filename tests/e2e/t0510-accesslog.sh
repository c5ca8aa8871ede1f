#!/bin/bash
# t0510-accesslog.sh: the web servers' access logs name the consumer.
#
# Under lighttpd (etc/lighttpd-accesslog.conf) and Apache
# (etc/apache-accesslog.conf), with the seed policy: a request with
# consumer1's key logs consumer="consumer1" and the answer's request id, a
# request without a key logs consumer="-", consumer2's refused request
# (403) logs consumer="consumer2", and no line holds a key.
#
# SERVERS="lighttpd apache" (the default) picks the servers to run under.

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

start_stub
seed_policy "$T/aigw.ini"

# log_line MARK: print the access log line whose request line holds MARK.
log_line() {
	grep -F -- "$1" "$GW_ACCESSLOG" | tail -n 1
}

run_scenario() {
	local s=$1 id line
	start_server "$s" "$T/aigw.ini" 1
	diag "$s on $GW_URL"

	expect_status 200 -H 'apikey: xxxxxx' "$GW_URL/?text=log,one"
	id=$(header X-AIGW-Request-Id)
	expect_eq "$s: answer names consumer1" consumer1 "$(header X-AIGW-Consumer)"
	expect_status 401 "$GW_URL/?text=log,two"
	expect_status 403 -H 'apikey: yyyyyy' "$GW_URL/?text=log,three"

	# lighttpd buffers its access log; it writes everything when it stops.
	stop_server
	check "$s: access log exists" test -s "$GW_ACCESSLOG"

	line=$(log_line 'text=log,one')
	expect_contains "$s: authenticated request logs consumer1" \
		"$line" 'consumer="consumer1"'
	expect_contains "$s: ... and its request id" "$line" "request_id=\"$id\""
	expect_contains "$s: ... and its status" "$line" '" 200 '
	expect_contains "$s: request without a key logs consumer \"-\"" \
		"$(log_line 'text=log,two')" 'consumer="-"'
	expect_contains "$s: refused consumer2 is still named" \
		"$(log_line 'text=log,three')" 'consumer="consumer2"'
	# shellcheck disable=SC2016 # $1 belongs to the inner shell
	check "$s: no key in the access log" \
		bash -c '! grep -E "xxxxxx|yyyyyy" "$1"' _ "$GW_ACCESSLOG"
}

ran=0
for server in ${SERVERS:-lighttpd apache}; do
	case $server in
	lighttpd) tool=lighttpd ;;
	apache) tool=apache2 ;;
	*) bail "unknown server $server" ;;
	esac
	if ! command -v "$tool" >/dev/null 2>&1; then
		diag "skip $server: $tool not installed"
		continue
	fi
	run_scenario "$server"
	ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || skip "neither lighttpd nor apache2 is installed"
finish
