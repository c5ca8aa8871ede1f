#!/bin/bash
# t0910-alerts.sh: budget alerts fire exactly once per consumer, budget,
# threshold and period, however many processes and gateways cross them.
#
# One consumer with a daily budget of 0.0015 USD; every answer costs
# 0.00015 USD (150 tokens at 1 USD per million), so the thresholds of
# alert_at = 50, 80, 100 are crossed at the 5th, 8th and 10th answer.
#   * lighttpd with 4 FastCGI processes, 40 requests 8 at a time: the alert
#     command ran exactly three times (50, 80, 100), each with the facts in
#     its environment; the usage log has the same three alert lines, and
#     aigwctl usage counts requests, not alert lines;
#   * another consumer without a budget never alerts;
#   * hostile: an alert_command that cannot run still leaves its alert lines, and the
#     gateway keeps answering;
#   * the same with the Redis store and two gateways sharing it: three runs
#     in all, not three per gateway.

. "$(dirname "$0")/../setup.sh"

need curl lighttpd xargs
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

# Daily windows: a run across midnight (UTC) would see the budget start again.
left=$((86400 - $(date -u +%s) % 86400))
if [ "$left" -lt 60 ]; then
	diag "waiting ${left} s for the next day (daily budget)"
	sleep "$((left + 1))"
fi

start_stub --usage-tokens 150

mkdir -p "$T/alerts"
chmod 0777 "$T/alerts"
# one file per run, named after the threshold: runs are counted by files
printf '%s\n' '#!/bin/sh' \
	'echo "$AIGW_CONSUMER $AIGW_BUDGET $AIGW_PERCENT $AIGW_SPENT_USD $AIGW_LIMIT_USD" >"$(dirname "$0")/alerts/$AIGW_CONSUMER-$AIGW_PERCENT.$$"' \
	>"$T/alert.sh"
chmod 0755 "$T/alert.sh"
printf '#!/bin/sh\nexit 0\n' >"$T/not-executable.sh"
chmod 0644 "$T/not-executable.sh"

# write_policy OUT NAME STORE-LINE COMMAND
write_policy() {
	local out=$1 n=$2 store=$3 cmd=$4
	mkdir -p "$T/state-$n" "$T/log-$n"
	_www_data "$T/state-$n" "$T/log-$n"
	cat >"$out.tmp" <<EOF
[gateway]
state_dir      = $T/state-$n
usage_log      = $T/log-$n/usage.jsonl
$store
alert_at       = 50, 80, 100
alert_command  = $cmd

[upstream stub]
url     = $STUB_URL
api_key = sk-upstream-secret-key
model   = gpt-4o-mini

[auth]
keys = apikey

[consumer team]
credential     = key-team
budget_per_day = 0.0015

[consumer free]
credential = key-free

[route chat]
path         = /
prompt_param = text

[model gpt-4o-mini]
input_per_1m  = 1
output_per_1m = 1
EOF
	chmod 0644 "$out.tmp"
	mv -f "$out.tmp" "$out"
}

# burst URL... : 40 requests of consumer team spread over the URLs, 8 at a
# time; prints the statuses, one a line.
burst() {
	local i
	for i in $(seq 1 40); do
		echo "${@:$(((i % $#) + 1)):1}"
	done | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H 'apikey: key-team' \
		'{}/?text=hello'
}

# alerts_fired: "PERCENT RUNS" for each threshold of consumer team
alerts_fired() {
	local p
	for p in 50 80 100; do
		echo "$p $(ls "$T/alerts" | grep -c "^team-$p\.")"
	done
}

# wait until three runs have shown up, then a little longer for a fourth
wait_alerts() {
	local i
	for i in $(seq 1 50); do
		[ "$(ls "$T/alerts" | wc -l)" -ge 3 ] && break
		sleep 0.1
	done
	sleep 0.5
}

three_once="50 1
80 1
100 1"

# ---- file store, one gateway, 4 processes
write_policy "$T/file.ini" file "" "$T/alert.sh"
check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/file.ini" check
start_lighttpd "$T/file.ini" 4
statuses=$(burst "$GW_URL")
expect_eq "some requests were answered" 1 "$(echo "$statuses" | grep -c '^200$' | grep -c -v '^0$')"
expect_eq "the spent budget refused the rest" 1 "$(echo "$statuses" | grep -c '^429$' | grep -c -v '^0$')"
wait_alerts
expect_eq "each threshold ran the command once" "$three_once" "$(alerts_fired)"
expect_eq "no other consumer alerted" 3 "$(ls "$T/alerts" | wc -l)"
line=$(cat "$T"/alerts/team-80.* 2>/dev/null)
expect_eq "the command saw consumer, budget, percent and limit" "team day 80 0.001500" \
	"$(echo "$line" | awk '{print $1, $2, $3, $5}')"
expect_eq "the spending it saw is at least 80% of the budget" yes \
	"$(echo "$line" | awk '{print ($4 >= 0.0012) ? "yes" : "no"}')"
log=$T/log-file/usage.jsonl
expect_eq "the usage log has three alert lines" 3 "$(grep -c '"event":"alert"' "$log")"
expect_eq "the 100% alert line names consumer and budget" 1 \
	"$(grep '"event":"alert"' "$log" | grep '"consumer":"team"' | grep '"budget":"day"' |
		grep -c '"percent":100,')"
requests=$(grep -vc '"event":"alert"' "$log")
"$AIGWCTL" -c "$T/file.ini" usage --format csv >"$T/report.csv" 2>"$T/report.err"
expect_eq "aigwctl usage reports no bad lines" 0 "$(grep -ci 'bad\|skipped' "$T/report.err")"
expect_status 200 -H 'apikey: key-free' "$GW_URL/?text=hello"
expect_eq "still three runs after more requests" 3 "$(ls "$T/alerts" | wc -l)"
diag "$requests requests logged"
stop_server

# ---- hostile: a command that cannot run is logged, requests go on
rm -f "$T"/alerts/*
write_policy "$T/bad.ini" bad "" "$T/not-executable.sh"
start_lighttpd "$T/bad.ini" 2
statuses=$(burst "$GW_URL")
expect_eq "requests are answered with a broken alert command" 1 \
	"$(echo "$statuses" | grep -c '^200$' | grep -c -v '^0$')"
expect_eq "the usage log still has the alert lines" 3 \
	"$(grep -c '"event":"alert"' "$T/log-bad/usage.jsonl")"
stop_server

# ---- Redis, two gateways sharing it
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	rm -f "$T"/alerts/*
	start_redis
	write_policy "$T/r1.ini" r1 "store = redis://127.0.0.1:$REDIS_PORT/0" "$T/alert.sh"
	write_policy "$T/r2.ini" r2 "store = redis://127.0.0.1:$REDIS_PORT/0" "$T/alert.sh"
	GW_INSTANCE=gw1 start_lighttpd "$T/r1.ini" 4
	GW1=$GW_URL
	GW_PID=
	GW_INSTANCE=gw2 start_lighttpd "$T/r2.ini" 4
	GW2=$GW_URL
	statuses=$(burst "$GW1" "$GW2")
	expect_eq "redis: the spent budget refused the rest" 1 \
		"$(echo "$statuses" | grep -c '^429$' | grep -c -v '^0$')"
	wait_alerts
	expect_eq "redis: each threshold ran once over both gateways" "$three_once" "$(alerts_fired)"
	expect_eq "redis: three alert lines over both usage logs" 3 \
		"$(cat "$T/log-r1/usage.jsonl" "$T/log-r2/usage.jsonl" | grep -c '"event":"alert"')"
else
	diag "skip: the Redis half (no redis-server)"
fi

finish
