#!/bin/bash
# t0810-failover.sh: upstream groups in front of two stubs, "primary" and
# "backup", under lighttpd.
#
# Route `upstream = primary, backup`: when the primary answers 500 or 429,
# refuses connections, or is slower than its timeout_ms, the caller gets the
# backup's answer (and the usage record names the backup); both down: 502;
# both answering 500: the backup's 500.  The backup's model_map rewrites the
# model it is sent.  retries = 0 never moves on.  round_robin alternates.
# Three failures in a row cool an upstream down (tried last).  A stream the
# primary cuts after its first event is not tried again elsewhere: the
# client keeps the partial stream; one the primary refuses (500) before any
# byte is streamed by the backup.
#
# One FastCGI process, so that round robin turns and failure counts (kept by
# each process) are those of this test's requests alone.

. "$(dirname "$0")/../setup.sh"

need curl lighttpd
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

STUB_NAME=primary start_stub --slow-ms 3000
P_PORT=$STUB_PORT P_URL=$STUB_URL P_LOG=$STUB_LOG P_PID=$STUB_PID
STUB_NAME=backup start_stub
B_PORT=$STUB_PORT B_URL=$STUB_URL B_LOG=$STUB_LOG B_PID=$STUB_PID

mkdir -p "$T/state" "$T/log"
_www_data "$T/state" "$T/log"
USAGE_LOG=$T/log/usage.jsonl
cat >"$T/aigw.ini" <<EOF
[gateway]
state_dir = $T/state
usage_log = $USAGE_LOG
admin_key = admin-key-0123456789

[upstream primary]
url        = $P_URL
api_key    = sk-primary-key
model      = gpt-4o-mini
timeout_ms = 1000
cooldown_s = 0

[upstream backup]
url        = $B_URL
api_key    = sk-backup-key
model      = gpt-4o-mini
timeout_ms = 5000
cooldown_s = 0
model_map  = gpt-4o-mini:gpt-4o-backup

; the primary stub again, under another name, with a cooldown
[upstream flaky]
url        = $P_URL
model      = gpt-4o-mini
timeout_ms = 1000
cooldown_s = 60

[auth]
keys = apikey

[consumer c]
credential = key-c

[route chat]
path         = /
prompt_param = text
upstream     = primary, backup

[route api]
path     = /v1
mode     = openai
upstream = primary, backup

[route rr]
path         = /rr
prompt_param = text
upstream     = primary, backup
strategy     = round_robin

[route once]
path         = /once
prompt_param = text
upstream     = primary, backup
retries      = 0

[route cool]
path         = /cool
prompt_param = text
upstream     = flaky, backup
EOF
chmod 0644 "$T/aigw.ini"
if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/aigw.ini" check
fi

start_lighttpd "$T/aigw.ini" 1
diag "gateway $GW_URL, primary $P_URL, backup $B_URL"

# The stub helpers act on STUB_PORT / STUB_LOG.
p_count() { STUB_PORT=$P_PORT stub_count; }
b_count() { STUB_PORT=$B_PORT stub_count; }
p_behavior() { STUB_PORT=$P_PORT stub_behavior "$1"; }
b_behavior() { STUB_PORT=$B_PORT stub_behavior "$1"; }
b_last() { STUB_LOG=$B_LOG stub_last "$1"; }

stop_primary() {
	stop_bg "$P_PID"
}
restart_primary() {
	STUB_NAME=primary start_stub --port "$P_PORT" --slow-ms 3000
	P_PID=$STUB_PID
}
stop_backup() {
	stop_bg "$B_PID"
}
restart_backup() {
	STUB_NAME=backup start_stub --port "$B_PORT"
	B_PID=$STUB_PID
}

n_req=0     # requests sent to the gateway: one usage record each

# ask STATUS PATH TEXT [CURL-ARGS...]: a prompt request; checks its status.
ask() {
	local want=$1 path=$2 text=$3
	shift 3
	n_req=$((n_req + 1))
	expect_status "$want" -H 'apikey: key-c' "$@" "$GW_URL$path?text=$text"
}

# usage_last EXPR: EXPR over the last usage record `u`, once the log holds
# a record for every request sent.
usage_last() {
	local i=0
	while [ "$(wc -l <"$USAGE_LOG" 2>/dev/null || echo 0)" -lt "$n_req" ] &&
		[ "$i" -lt 30 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	"$PYTHON" - "$USAGE_LOG" "$1" <<'EOF'
import json, sys
u = json.loads(open(sys.argv[1], encoding="utf-8").read().splitlines()[-1])
v = eval(sys.argv[2], {"u": u})
print(v if isinstance(v, str) else json.dumps(v))
EOF
}

now_ms() {
	date +%s%3N
}

# counts_moved NAME P-BEFORE B-BEFORE P-DELTA B-DELTA
counts_moved() {
	expect_eq "$1: primary called $4 time(s)" "$(($2 + $4))" "$(p_count)"
	expect_eq "$1: backup called $5 time(s)" "$(($3 + $5))" "$(b_count)"
}

# --- both healthy: the primary answers.
p0=$(p_count) b0=$(b_count)
ask 200 / healthy
expect_contains "healthy: the answer" "$(body)" "echo: healthy"
expect_eq "healthy: the primary's answer (its model)" \
	gpt-4o-mini "$(json_get 'j["model"]')"
counts_moved healthy "$p0" "$b0" 1 0
expect_eq "healthy: usage record names the primary" \
	primary "$(usage_last 'u["upstream"]')"

# --- the primary answers 500: the backup's answer.
p_behavior error500
p0=$(p_count) b0=$(b_count)
ask 200 / after-500
expect_contains "primary 500: the backup's answer" "$(body)" "echo: after-500"
expect_eq "primary 500: the body comes from the backup (mapped model)" \
	gpt-4o-backup "$(json_get 'j["model"]')"
counts_moved "primary 500" "$p0" "$b0" 1 1
expect_eq "primary 500: usage record names the backup" \
	backup "$(usage_last 'u["upstream"]')"
expect_eq "primary 500: usage record status 200" 200 "$(usage_last 'u["status"]')"
expect_eq "primary 500: usage record keeps the route's model" \
	gpt-4o-mini "$(usage_last 'u["model"]')"
expect_eq "model_map: the backup was sent gpt-4o-backup" \
	gpt-4o-backup "$(b_last 'r["body_json"]["model"]')"
expect_eq "the backup was sent its own key" \
	"Bearer sk-backup-key" "$(b_last 'r["headers"].get("authorization")')"
check "the error log names the primary's failure" \
	grep -q 'upstream primary answered 500; trying backup' "$T/lighttpd.out"

# --- retries = 0: the primary's 500 is the answer.
p0=$(p_count) b0=$(b_count)
ask 500 /once no-retry
expect_contains "retries = 0: the primary's 500 body" "$(body)" "stub failure"
counts_moved "retries = 0" "$p0" "$b0" 1 0

# --- the primary answers 429.
p_behavior status429
p0=$(p_count) b0=$(b_count)
ask 200 / after-429
expect_contains "primary 429: the backup's answer" "$(body)" "echo: after-429"
counts_moved "primary 429" "$p0" "$b0" 1 1
expect_eq "primary 429: usage record names the backup" \
	backup "$(usage_last 'u["upstream"]')"

# --- the primary refuses connections.
p_behavior normal
stop_primary
b0=$(b_count)
ask 200 / after-refused
expect_contains "primary down: the backup's answer" "$(body)" "echo: after-refused"
expect_eq "primary down: backup called once" "$((b0 + 1))" "$(b_count)"
expect_eq "primary down: usage record names the backup" \
	backup "$(usage_last 'u["upstream"]')"
restart_primary

# --- the primary is slower than its timeout_ms (1000 ms; it sleeps 3 s).
p_behavior slow
p0=$(p_count) b0=$(b_count)
t0=$(now_ms)
ask 200 / after-slow
t1=$(now_ms)
expect_contains "primary slow: the backup's answer" "$(body)" "echo: after-slow"
check "primary slow: answered after about timeout_ms ($((t1 - t0)) ms)" \
	test $((t1 - t0)) -ge 900 -a $((t1 - t0)) -lt 2500
counts_moved "primary slow" "$p0" "$b0" 1 1
expect_eq "primary slow: usage record names the backup" \
	backup "$(usage_last 'u["upstream"]')"
p_behavior normal
# The second spent waiting for the primary is time waiting for an upstream
# (aigw_upstream_seconds), not time the gateway added (aigw_overhead_seconds).
curl -sS --max-time 10 -H 'Authorization: Bearer admin-key-0123456789' \
	"$GW_URL/_aigw/metrics" >"$T/metrics.txt"
over=$(awk '/^aigw_overhead_seconds_bucket\{le="0.5"\}/ { b = $NF }
	/^aigw_overhead_seconds_count/ { c = $NF }
	END { print c - b }' "$T/metrics.txt")
expect_eq "primary slow: no request counted over 0.5 s of gateway overhead" \
	0 "$over" || grep '^aigw_overhead_seconds_\(bucket{le="[0-9.]*"}\|count\)' \
	"$T/metrics.txt" | sed -n '9,12p;$p' | sed 's/^/# /'

# --- both answer 500: the last attempt's answer.
p_behavior error500
b_behavior error500
ask 500 / both-500
expect_contains "both 500: the backup's 500 is relayed" "$(body)" "stub failure"
expect_eq "both 500: usage record names the backup" \
	backup "$(usage_last 'u["upstream"]')"
p_behavior normal
b_behavior normal

# --- both down: 502.
stop_primary
stop_backup
t0=$(now_ms)
ask 502 / both-down
t1=$(now_ms)
expect_gateway_error "both down: 502 is a JSON error"
expect_eq "both down: code upstream_unreachable" \
	upstream_unreachable "$(json_get 'j["error"]["code"]')"
check "both down: answered at once ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 2000
expect_eq "both down: usage record reason upstream_error" \
	upstream_error "$(usage_last 'u.get("reason")')"
restart_primary
restart_backup

# --- OpenAI mode: model_map on the model the client names.
p_behavior error500
b0=$(b_count)
n_req=$((n_req + 1))
expect_status 200 -H 'Authorization: Bearer key-c' \
	-H 'Content-Type: application/json' \
	--data '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"mapped"}]}' \
	"$GW_URL/v1/chat/completions"
expect_eq "openai: the backup answered" "$((b0 + 1))" "$(b_count)"
expect_eq "openai: model_map: the backup was sent gpt-4o-backup" \
	gpt-4o-backup "$(b_last 'r["body_json"]["model"]')"
expect_eq "openai: usage record keeps gpt-4o-mini" \
	gpt-4o-mini "$(usage_last 'u["model"]')"
p_behavior normal

# --- round_robin: two healthy stubs take turns.
p0=$(p_count) b0=$(b_count)
first=$n_req
for i in 1 2 3 4 5 6 7 8 9 10; do
	ask 200 /rr "turn-$i"
done
counts_moved "round_robin, 10 requests" "$p0" "$b0" 5 5
usage_last 'u["upstream"]' >/dev/null    # waits for the records
check "round_robin: the upstreams alternate" "$PYTHON" - "$USAGE_LOG" "$first" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
ups = [r["upstream"] for r in recs[int(sys.argv[2]):]]
print("# upstreams:", " ".join(ups))
sys.exit(0 if all(a != b for a, b in zip(ups, ups[1:])) else 1)
EOF

# --- cooldown: three failures in a row, then the upstream is tried last.
p_behavior error500
p0=$(p_count) b0=$(b_count)
for i in 1 2 3; do
	ask 200 /cool "strike-$i"
done
counts_moved "cooldown: 3 failures, each then the backup" "$p0" "$b0" 3 3
p_behavior normal
p0=$(p_count) b0=$(b_count)
ask 200 /cool cooling
counts_moved "cooldown: the cooling upstream is not tried first" "$p0" "$b0" 0 1
expect_eq "cooldown: usage record names the backup" \
	backup "$(usage_last 'u["upstream"]')"

# --- a stream the primary refuses (500) before any byte: the backup's.
p_behavior error500
p0=$(p_count) b0=$(b_count)
stream_body='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"stream me"}]}'
n_req=$((n_req + 1))
expect_status 200 -N -H 'Authorization: Bearer key-c' \
	-H 'Content-Type: application/json' --data "$stream_body" \
	"$GW_URL/v1/chat/completions"
expect_eq "stream, primary 500: text/event-stream" \
	text/event-stream "$(header Content-Type | sed 's/;.*//')"
expect_contains "stream, primary 500: the backup's whole stream" \
	"$(body)" "data: [DONE]"
counts_moved "stream, primary 500" "$p0" "$b0" 1 1
expect_eq "stream, primary 500: usage record names the backup" \
	backup "$(usage_last 'u["upstream"]')"

# --- a stream the primary cuts after its first event: not tried again.
p_behavior stream_then_drop
p0=$(p_count) b0=$(b_count)
n_req=$((n_req + 1))
expect_status 200 -N -H 'Authorization: Bearer key-c' \
	-H 'Content-Type: application/json' --data "$stream_body" \
	"$GW_URL/v1/chat/completions"
diag "curl: $(cat "$T/curl.err")"
expect_contains "stream cut: the client got the first event" \
	"$(body)" '"role": "assistant"'
check "stream cut: ... and nothing after it (no [DONE])" \
	sh -c "! grep -q 'DONE' '$T/body'"
expect_eq "stream cut: the first event came from the primary (its model)" \
	gpt-4o-mini "$(sed -n 's/^data: //p' "$T/body" | head -n 1 |
		"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["model"])')"
counts_moved "stream cut: never retried" "$p0" "$b0" 1 0
expect_eq "stream cut: usage record names the primary" \
	primary "$(usage_last 'u["upstream"]')"
expect_eq "stream cut: usage record reason stream_cut" \
	stream_cut "$(usage_last 'u.get("reason")')"
p_behavior normal

# --- the gateway still answers normally.
p0=$(p_count) b0=$(b_count)
ask 200 / still-fine
counts_moved "afterwards: the primary answers again" "$p0" "$b0" 1 0

stop_server
finish
