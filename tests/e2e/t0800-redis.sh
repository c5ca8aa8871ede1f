#!/bin/bash
# t0800-redis.sh: two gateways sharing their limits through one Redis.
#
# A real redis-server and two lighttpd instances (4 FastCGI processes each)
# with the same policy except their state_dir and usage log, both with
# store = redis://127.0.0.1:PORT/0, in front of one stub.  Checked:
#   * a request window (query_per_hour = 20) admits exactly 20 of 60
#     requests sent to both instances in turn, 12 at a time, and only those
#     reach the upstream; the counter is in Redis, not in the state_dirs;
#   * a token window (token_per_hour = 100) and a daily budget, each filled
#     by one answer from one instance, refuse the next request on the other;
#   * /_aigw/usage and /_aigw/metrics on either instance give the totals of
#     both; aigwctl reset clears a consumer's windows for both;
#   * Redis hung (SIGSTOP) or stopped: store_failure = closed answers 503
#     within a second, = open (hot reload) admits; Redis back on the same
#     port (empty): the limits hold again in every process; connections
#     Redis closes are not held against the next requests.

. "$(dirname "$0")/../setup.sh"

need curl lighttpd
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

ADMIN_KEY=admin-key-0123456789

# The limits below are per hour (and a budget per day): a run that crossed
# the end of an hour would see its windows start again.  The test takes
# about 20 s; wait for the next hour when less than 60 s are left.
left=$((3600 - $(date -u +%s) % 3600))
if [ "$left" -lt 60 ]; then
	diag "waiting ${left} s for the next hour (hourly windows)"
	sleep "$((left + 1))"
fi

start_redis
# Every answer reports 150 tokens (75 prompt + 75 completion).
start_stub --usage-tokens 150

# write_policy OUT INSTANCE FAILURE: the policy of instance 1 or 2.
write_policy() {
	local out=$1 n=$2 failure=$3
	mkdir -p "$T/state$n" "$T/log$n"
	_www_data "$T/state$n" "$T/log$n"
	cat >"$out.tmp" <<EOF
[gateway]
state_dir          = $T/state$n
usage_log          = $T/log$n/usage.jsonl
store              = redis://127.0.0.1:$REDIS_PORT/0
store_failure      = $failure
store_timeout_ms   = 250
default_max_tokens = 10
admin_key          = $ADMIN_KEY

[upstream stub]
url        = $STUB_URL
api_key    = sk-upstream-secret-key
model      = gpt-4o-mini
timeout_ms = 10000

[auth]
keys = apikey

; 20 requests an hour over both instances
[consumer q]
credential     = key-q
query_per_hour = 20

; one answer (150 tokens) fills the window
[consumer tok]
credential     = key-tok
token_per_hour = 100

; one answer (150 tokens at 1 USD per million = 0.00015 USD) spends it
[consumer bud]
credential     = key-bud
budget_per_day = 0.000001

; for the Redis outage
[consumer small]
credential     = key-small
query_per_hour = 2

; for the limits after Redis is back
[consumer again]
credential     = key-again
query_per_hour = 8

; no limits: never needs the store
[consumer free]
credential = key-free

; far from its limit
[consumer big]
credential     = key-big
query_per_hour = 1000

[route chat]
path         = /
prompt_param = text

[model gpt-4o-mini]
input_per_1m  = 1
output_per_1m = 1
EOF
	chmod 0644 "$out.tmp"
	# A rename: the processes see a whole file, never half of one.
	mv -f "$out.tmp" "$out"
}

write_policy "$T/gw1.ini" 1 closed
write_policy "$T/gw2.ini" 2 closed
if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/gw1.ini" check
fi

GW_INSTANCE=gw1 start_lighttpd "$T/gw1.ini" 4
GW1=$GW_URL
GW1_PID=$GW_PID
GW_PID=     # keep it running beside the second one
GW_INSTANCE=gw2 start_lighttpd "$T/gw2.ini" 4
GW2=$GW_URL
diag "redis on $REDIS_PORT, stub on $STUB_URL, gateways $GW1 and $GW2"

sent1=0     # requests sent to each instance (each one is counted in the
sent2=0     # usage totals; admin requests are not)

# req INSTANCE KEY [CURL-ARGS...]: one prompt request; prints the status.
req() {
	local n=$1 key=$2 url
	shift 2
	if [ "$n" = 1 ]; then
		url=$GW1
		sent1=$((sent1 + 1))
	else
		url=$GW2
		sent2=$((sent2 + 1))
	fi
	http -H "apikey: $key" "$@" "$url/?text=hello"
}

# expect_req STATUS INSTANCE KEY: req, and check its status.
expect_req() {
	local want=$1 got
	req "$2" "$3"
	got=$(cat "$T/status")
	expect_eq "gw$2 ($3): $want" "$want" "$got" ||
		diag "body: $(head -c 300 "$T/body")"
}

# http's status is printed; tests here want it in a file too (req runs in
# this shell, so that the counters above are kept).
http() {
	: >"$T/body"
	: >"$T/headers"
	curl -sS -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 30 \
		"$@" 2>"$T/curl.err" >"$T/status"
	return 0
}

error_code() {
	json_get 'j["error"]["code"]' 2>/dev/null
}

# parallel N JOBS KEY PREFIX: N requests with KEY, to gw1 and gw2 in turn,
# JOBS at a time; each one's status goes to $T/PREFIX/I.status and its body
# to $T/PREFIX/I.body.
parallel() {
	local n=$1 jobs=$2 key=$3 dir=$T/$4 i
	mkdir -p "$dir"
	for i in $(seq 1 "$n"); do
		if [ $((i % 2)) = 1 ]; then
			echo "$i $GW1"
		else
			echo "$i $GW2"
		fi
	done | KEY=$key DIR=$dir xargs -P "$jobs" -L 1 sh -c \
		'curl -sS --max-time 30 -H "apikey: $KEY" -o "$DIR/$0.body" \
			-w "%{http_code}\n" "$1/?text=hello" >"$DIR/$0.status" \
			2>"$DIR/$0.err"'
	sent1=$((sent1 + (n + 1) / 2))
	sent2=$((sent2 + n / 2))
}

# count_status PREFIX STATUS: how many of a parallel run got STATUS.
count_status() {
	cat "$T/$1"/*.status | grep -c "^$2\$"
}

# --- 1. a request window shared by both instances.
before=$(stub_count)
parallel 60 12 key-q par
admitted=$(count_status par 200)
refused=$(count_status par 429)
echo "admitted=$admitted refused=$refused"
expect_eq "q: 20 of 60 requests admitted over both instances" 20 "$admitted"
expect_eq "q: the other 40 refused with 429" 40 "$refused"
expect_eq "q: the stub saw exactly the 20 admitted requests" \
	"$((before + 20))" "$(stub_count)"
wrong=0
for f in "$T"/par/*.status; do
	[ "$(cat "$f")" = 429 ] || continue
	[ "$(json_get 'j["error"]["code"]' "${f%.status}.body" 2>/dev/null)" = \
		rate_limit_exceeded ] || wrong=$((wrong + 1))
done
expect_eq "q: every 429 is a JSON rate_limit_exceeded error" 0 "$wrong"
# The request window is one Redis counter, at 20; no state file holds it.
qkey=$(redis_cli --scan --pattern 'aigw:c@q:qh:*' | head -n 1)
expect_eq "q: the hour window is the Redis key $qkey, at 20" 20 \
	"$(redis_cli GET "${qkey:-none}")"
expect_eq "q: no limit file in either state_dir" "" \
	"$(ls "$T/state1" "$T/state2" | grep '@' || true)"
# Both refuse from now on, whichever process answers.
expect_req 429 1 key-q
expect_req 429 2 key-q

# --- 2. a token window: one answer (150 tokens) fills it.
before=$(stub_count)
expect_req 200 1 key-tok
expect_req 429 2 key-tok
expect_eq "tok: the second request is insufficient_quota" \
	insufficient_quota "$(error_code)"
expect_contains "tok: ... for the token window" "$(body)" "Token limit"
expect_eq "tok: the stub was called once" "$((before + 1))" "$(stub_count)"

# --- 3. a budget: one answer spends it.
before=$(stub_count)
expect_req 200 2 key-bud
expect_req 429 1 key-bud
expect_eq "bud: the second request is insufficient_quota" \
	insufficient_quota "$(error_code)"
expect_contains "bud: ... for the budget" "$(body)" "Budget spent"
expect_eq "bud: the stub was not called the second time" \
	"$((before + 1))" "$(stub_count)"

# --- 4. the usage totals of both instances, on either.
total=$((sent1 + sent2))
diag "requests so far: $sent1 to gw1, $sent2 to gw2"
admin() {
	curl -sS --max-time 10 -H "Authorization: Bearer $ADMIN_KEY" "$1"
}
for n in 1 2; do
	url=$GW1
	[ "$n" = 2 ] && url=$GW2
	admin "$url/_aigw/usage" >"$T/usage$n.json"
	expect_eq "gw$n: /_aigw/usage today counts the $total requests of both" \
		"$total" "$(json_get 'j["today"]["total"]["requests"]' "$T/usage$n.json")"
	expect_eq "gw$n: /_aigw/usage: consumer q made 62 requests" \
		62 "$(json_get 'j["today"]["consumers"]["q"]["requests"]' "$T/usage$n.json")"
	expect_eq "gw$n: /_aigw/usage: 42 of them refused (errors)" \
		42 "$(json_get 'j["today"]["consumers"]["q"]["errors"]' "$T/usage$n.json")"
	admin "$url/_aigw/metrics" >"$T/metrics$n.txt"
	expect_eq "gw$n: /_aigw/metrics aigw_requests_total sums to $total" \
		"$total" "$(awk '/^aigw_requests_total\{/ { s += $NF } END { print s + 0 }' \
			"$T/metrics$n.txt")"
	expect_eq "gw$n: /_aigw/metrics: q has 20 answers with status 200" \
		20 "$(awk '/^aigw_requests_total\{consumer="q",.*status="200"\}/ { s += $NF }
			END { print s + 0 }' "$T/metrics$n.txt")"
done
check "/_aigw/usage is the same on both instances" \
	cmp "$T/usage1.json" "$T/usage2.json"

# --- aigwctl reset clears q's windows in Redis, for both instances.
if [ -x "$AIGWCTL" ]; then
	check "aigwctl reset q (the Redis store)" "$AIGWCTL" -c "$T/gw1.ini" reset q
	expect_eq "after the reset: no Redis key of q is left" "" \
		"$(redis_cli --scan --pattern 'aigw:c@q:*')"
	expect_req 200 2 key-q
	expect_req 200 1 key-q
fi

# --- 5. Redis hangs, then goes away: store_failure = closed.
expect_req 200 1 key-small
expect_req 200 2 key-small
expect_req 429 1 key-small

# Hung (SIGSTOP): connections are accepted but nothing is answered, so
# each call waits store_timeout_ms (250 ms).
redis_pid=$(redis_cli INFO server | tr -d '\r' | sed -n 's/^process_id://p')
[ -n "$redis_pid" ] || bail "no process_id in INFO server"
kill -STOP "$redis_pid"
for n in 1 2; do
	req "$n" key-small -w '%{http_code} %{time_total}'
	read -r st secs <"$T/status"
	expect_eq "Redis hung, closed: gw$n answers 503" 503 "$st"
	expect_eq "Redis hung, closed: code limit_store_unavailable" \
		limit_store_unavailable "$(error_code)"
	check "Redis hung, closed: the 503 came within store_timeout_ms and a bit (${secs} s)" \
		awk -v s="$secs" 'BEGIN { exit !(s < 1.0) }'
done
kill -CONT "$redis_pid"
sleep 1.2   # a process that failed waits a second before trying again
# Nothing was lost: the window is still full.
expect_req 429 1 key-small
expect_req 429 2 key-small

# Gone (stopped): connections are refused.
stop_redis
for i in 1 2 3 4; do
	n=$((i % 2 + 1))
	req "$n" key-small -w '%{http_code} %{time_total}'
	read -r st secs <"$T/status"
	expect_eq "Redis down, closed: gw$n answers 503" 503 "$st"
	expect_gateway_error "Redis down, closed: the 503 is a JSON error"
	expect_eq "Redis down, closed: code limit_store_unavailable" \
		limit_store_unavailable "$(error_code)"
	check "Redis down, closed: the 503 came at once (${secs} s)" \
		awk -v s="$secs" 'BEGIN { exit !(s < 1.0) }'
done
expect_req 200 1 key-free
expect_eq "Redis down: a consumer without limits is still served" \
	"echo: hello" "$(json_get 'j["choices"][0]["message"]["content"]')"
grep -h 'refused (store_failure = closed)' "$T"/gw1.out "$T"/gw2.out >"$T/refused.log"
check "the error log says why the requests were refused" test -s "$T/refused.log"

# --- 6. store_failure = open, by editing the policies (hot reload).
write_policy "$T/gw1.ini" 1 open
write_policy "$T/gw2.ini" 2 open
sleep 1.2   # each process looks at the policy at most once a second
before=$(stub_count)
for i in 1 2 3 4; do
	expect_req 200 $((i % 2 + 1)) key-small
done
expect_eq "Redis down, open: the 4 requests reached the stub" \
	"$((before + 4))" "$(stub_count)"
check "the error log says they were admitted uncounted" \
	grep -q 'admitted uncounted (store_failure = open)' "$T"/gw1.out "$T"/gw2.out

# --- 7. Redis back on the same port, empty: new windows, enforced again in
# every process (12 at a time reach all 8).
start_redis --port "$REDIS_PORT"
sleep 1.2   # a process that failed waits a second before trying again
uncounted() {
	cat "$T/gw1.out" "$T/gw2.out" | grep -c 'admitted uncounted'
}
before=$(stub_count)
before_uncounted=$(uncounted)
parallel 24 12 key-again again
expect_eq "Redis back: no request was admitted uncounted" \
	"$before_uncounted" "$(uncounted)" ||
	cat "$T/gw1.out" "$T/gw2.out" | grep 'admitted uncounted' |
	tail -n "+$((before_uncounted + 1))" | head -n 3 | sed 's/^/# /'
admitted=$(count_status again 200)
refused=$(count_status again 429)
echo "after the restart: admitted=$admitted refused=$refused"
expect_eq "Redis back: 8 of 24 requests admitted (query_per_hour = 8)" \
	8 "$admitted"
expect_eq "Redis back: the other 16 refused with 429" 16 "$refused"
expect_eq "Redis back: the stub saw the 8" "$((before + 8))" "$(stub_count)"
expect_req 200 2 key-small
expect_req 200 1 key-small
expect_req 429 2 key-small

# --- 8. Redis closes the connections it holds (as its idle `timeout`, a
# proxy or a failover does), store_failure = closed: the next requests are
# served all the same.
write_policy "$T/gw1.ini" 1 closed
write_policy "$T/gw2.ini" 2 closed
sleep 1.2
parallel 16 8 key-big big   # reloads, and gives every process a connection
expect_eq "closed again: 16 of 16 admitted" 16 "$(count_status big 200)"
killed=$(redis_cli CLIENT KILL TYPE normal)
diag "Redis closed $killed client connections"
for i in 1 2 3 4; do
	expect_req 200 $((i % 2 + 1)) key-big
done

finish
