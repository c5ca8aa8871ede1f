#!/bin/bash
# t0620-hostile-store.sh: hostile callers against the stores and the body
# checks, under lighttpd (2 FastCGI processes), with the file store and then
# Redis.  Each case is a reproduction that the gateway once got wrong:
#
#   - "max_tokens": 9223372036854775807 (file store) or 100000000000000000
#     and 1e17 (Redis, store_failure closed and open) in flight beside other
#     requests of a consumer with token_per_minute: the window stays exact
#     (the next requests are admitted and refused as the limit says, never
#     503, X-RateLimit-Remaining never negative and never frozen), and other
#     consumers are served meanwhile;
#   - the totals file cut short under a running gateway: requests go on
#     being answered by the same processes, /_aigw/usage and /_aigw/metrics
#     answer, the file is moved aside;
#   - the day and totals files deleted: the next requests are counted again;
#   - duplicate keys ("model", "stream", "max_tokens"): the upstream gets
#     one of each, the one the gateway checked;
#   - fullwidth and zero-width letters in a blocked word, in the URL (percent
#     encoded), in a form body and in a JSON body.

. "$(dirname "$0")/../setup.sh"

need curl lighttpd
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

ADMIN=admin-key-hostile-0123456789
# Every answer reports 100 tokens: 10 fill a window of 1000.
start_stub --usage-tokens 100 --slow-ms 1500

# write_policy OUT STORE FAILURE: STORE is "file" or a redis:// URL.
write_policy() {
	local out=$1 store=$2 failure=$3 line=""
	[ "$store" = file ] || line="store = $store"
	mkdir -p "$T/state" "$T/log"
	_www_data "$T/state" "$T/log"
	cat >"$out" <<EOF
[gateway]
state_dir          = $T/state
usage_log          = $T/log/usage.jsonl
admin_key          = $ADMIN
default_max_tokens = 10
store_failure      = $failure
store_timeout_ms   = 250
$line

[upstream stub]
url        = $STUB_URL
api_key    = sk-upstream-secret-key
model      = allowed
timeout_ms = 10000

[auth]
keys = apikey

[consumer tok1]
credential       = key-tok1
token_per_minute = 1000

[consumer tok2]
credential       = key-tok2
token_per_minute = 1000

[consumer tok3]
credential       = key-tok3
token_per_minute = 1000

[consumer other]
credential       = key-other
token_per_minute = 1000000

[consumer cnt]
credential = key-cnt

[consumer m]
credential = key-m
models     = allowed

[route v1]
path         = /v1
mode         = openai
block_bodies = password
case_sensitive = false

[route chat]
path         = /
prompt_param = text
block_urls   = password
block_bodies = password
blocked_code = 404
case_sensitive = false

[model allowed]
input_per_1m  = 1
output_per_1m = 1

[model forbidden]
input_per_1m  = 1
output_per_1m = 1
EOF
	chmod 0644 "$out"
}

CHAT=/v1/chat/completions
# chat_body MAX-TOKENS: a chat request with that max_tokens (as written).
chat_body() {
	printf '{"model":"allowed","max_tokens":%s,"messages":[{"role":"user","content":"hi"}]}' "$1"
}

# post KEY BODY: prints the status; answer in $T/body, $T/headers.
post() {
	http -H "apikey: $1" -H 'Content-Type: application/json' --data-binary "$2" \
		"$GW_URL$CHAT"
}

# A minute window: start each exact-window case with at least 30 s of the
# minute left.
fresh_minute() {
	local s
	s=$((10#$(date -u +%S)))
	if [ "$s" -gt 28 ]; then
		diag "waiting $((61 - s)) s for a fresh minute window"
		sleep $((61 - s))
	fi
}

# window_exact LABEL KEY HUGE: a request with max_tokens HUGE is in flight
# (slow upstream) while the same consumer and another one ask; then the
# window must count exactly: 100 tokens for it, then 9 more requests of 100
# admitted, then 429; never 503.
window_exact() {
	local label=$1 key=$2 huge=$3 st i rem admitted=0 refused=0 other_st
	fresh_minute
	stub_behavior slow
	curl -sS -o "$T/huge.body" -w '%{http_code}' --max-time 30 -H "apikey: $key" \
		-H 'Content-Type: application/json' --data-binary "$(chat_body "$huge")" \
		"$GW_URL$CHAT" >"$T/huge.status" 2>/dev/null &
	local bg=$!
	sleep 0.5
	st=$(post "$key" "$(chat_body 1)")
	expect_eq "$label: the same consumer meanwhile: 429 (the huge reservation is bounded, not wrapped)" \
		429 "$st" || diag "body: $(head -c 300 "$T/body")"
	stub_behavior normal
	other_st=$(http -H 'apikey: key-other' "$GW_URL/?text=hello")
	expect_eq "$label: another consumer meanwhile: 200" 200 "$other_st"
	wait $bg
	expect_eq "$label: the request with max_tokens $huge: 200" 200 "$(cat "$T/huge.status")" ||
		diag "body: $(head -c 300 "$T/huge.body")"
	: >"$T/remaining"
	for i in $(seq 12); do
		st=$(post "$key" "$(chat_body 1)")
		case $st in
		200)
			admitted=$((admitted + 1))
			header X-RateLimit-Remaining >>"$T/remaining"
			;;
		429) refused=$((refused + 1)) ;;
		*) diag "$label: request $i: $st $(head -c 200 "$T/body")" ;;
		esac
	done
	expect_eq "$label: then exactly 9 of 12 admitted (100 + 9 x 100 = 1000)" 9 "$admitted"
	expect_eq "$label: and 3 refused with 429 (none 503)" 3 "$refused"
	check "$label: X-RateLimit-Remaining never negative, never frozen" \
		"$PYTHON" - "$T/remaining" <<'EOF'
import sys
v = [int(x) for x in open(sys.argv[1]).read().split()]
print(v)
assert v and all(x >= 0 for x in v), "negative"
assert all(a > b for a, b in zip(v, v[1:])), "not decreasing"
EOF
}

# ======================================================================
# 1. The file store.
write_policy "$T/file.ini" file closed
if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/file.ini" check
fi
start_lighttpd "$T/file.ini" 2
START_PIDS=$(fcgi_pids | sort -n | tr '\n' ' ')
diag "lighttpd on $GW_URL (FastCGI pids $START_PIDS), stub on $STUB_URL"

window_exact "file store" key-tok1 9223372036854775807

# --- duplicate keys: the upstream gets one of each, the one checked.
dup() {
	local name=$1 want=$2 json=$3 st
	st=$(post key-m "$json")
	expect_eq "duplicate keys: $name -> $want" "$want" "$st" ||
		diag "body: $(head -c 300 "$T/body")"
}
before=$(stub_count)
dup 'model allowed then forbidden' 403 \
	'{"model":"allowed","model":"forbidden","messages":[{"role":"user","content":"hi"}]}'
expect_eq "  the upstream was not called" "$before" "$(stub_count)"
dup 'model forbidden then allowed' 200 \
	'{"model":"forbidden","model":"allowed","messages":[{"role":"user","content":"hi"}]}'
expect_eq "  the upstream saw one model key, the one checked" "1 allowed" \
	"$(stub_last 'str(r["body"].count("\"model\"")) + " " + r["body_json"]["model"]')"
dup 'stream true then false' 200 \
	'{"model":"allowed","stream":true,"stream":false,"messages":[{"role":"user","content":"hi"}]}'
expect_eq "  the upstream saw one stream key, false" "1 False" \
	"$(stub_last 'str(r["body"].count("\"stream\"")) + " " + str(r["body_json"]["stream"])')"
expect_contains "  the answer is not a stream" "$(header Content-Type)" application/json
dup 'max_tokens 1 then 7' 200 \
	'{"model":"allowed","max_tokens":1,"max_tokens":7,"messages":[{"role":"user","content":"hi"}]}'
expect_eq "  the upstream saw one max_tokens, 7" "1 7" \
	"$(stub_last 'str(r["body"].count("\"max_tokens\"")) + " " + str(r["body_json"]["max_tokens"])')"
dup 'a blocked word in a repeated content' 403 \
	'{"model":"allowed","messages":[{"role":"user","content":"hi","content":"my pass\u0077ord"}]}'

# --- fullwidth and zero-width letters in a blocked word.
FW='%EF%BD%90%EF%BD%81%EF%BD%93%EF%BD%93%EF%BD%97%EF%BD%8F%EF%BD%92%EF%BD%84' # ｐａｓｓｗｏｒｄ
ZW='pass%E2%80%8Bword'                                                       # pass<ZWSP>word
before=$(stub_count)
for w in "$FW" "$ZW" 'PASS%C2%ADWORD'; do
	expect_status 404 -H 'apikey: key-cnt' "$GW_URL/?text=my,$w"
	expect_status 404 -H 'apikey: key-cnt' --data-binary "text=my+$w" "$GW_URL/"
done
for w in 'ｐａｓｓｗｏｒｄ' 'pass\u200bword' 'pass\ufeffword' 'Ｐass\u2060word'; do
	expect_status 403 -H 'apikey: key-cnt' -H 'Content-Type: application/json' \
		--data-binary "{\"model\":\"allowed\",\"messages\":[{\"role\":\"user\",\"content\":\"my $w\"}]}" \
		"$GW_URL$CHAT"
	# sent with curl's default form type: checked all the same
	expect_status 403 -H 'apikey: key-cnt' \
		--data-binary "{\"model\":\"allowed\",\"messages\":[{\"role\":\"user\",\"content\":\"my $w\"}]}" \
		"$GW_URL$CHAT"
done
expect_eq "  none reached the upstream" "$before" "$(stub_count)"

# --- the totals file cut short under the running gateway.
admin() {
	http -H "Authorization: Bearer $ADMIN" "$@"
}
expect_status 200 -H 'apikey: key-cnt' "$GW_URL/?text=before"
check "the totals file exists" test -f "$T/state/total"
truncate -s 100 "$T/state/total"
for i in 1 2 3 4 5 6; do
	expect_status 200 -H 'apikey: key-cnt' "$GW_URL/?text=after,cut,$i"
done
expect_eq "totals cut: no FastCGI process died" "$START_PIDS" \
	"$(fcgi_pids | sort -n | tr '\n' ' ')"
expect_eq "totals cut: /_aigw/metrics answers" 200 "$(admin "$GW_URL/_aigw/metrics")"
expect_contains "  with the request counter" "$(body)" aigw_requests_total
expect_eq "totals cut: /_aigw/usage answers" 200 "$(admin "$GW_URL/_aigw/usage")"
check "totals cut: moved aside (total.damaged)" test -f "$T/state/total.damaged"
check "totals cut: the error log says so" grep -qi 'damaged\|moved aside' "$GW_FCGI_LOG"
check "totals cut: no signal or crash in the logs" sh -c \
	'! grep -Eai "signal|SIGBUS|bus error|core dumped|died" "$1" "$2"' sh \
	"$GW_ERRORLOG" "$GW_FCGI_LOG"

# --- the day and totals files deleted: counted again.
day=day-$(date -u +%Y%m%d)
check "the day file exists" test -f "$T/state/$day"
rm -f "$T/state/$day" "$T/state/total"
sleep 1.5 # a deleted file is noticed within a second
for i in 1 2 3; do
	expect_status 200 -H 'apikey: key-cnt' "$GW_URL/?text=after,rm,$i"
done
sleep 1.2
for i in 4 5; do
	expect_status 200 -H 'apikey: key-cnt' "$GW_URL/?text=after,rm,$i"
done
expect_eq "deleted: /_aigw/usage answers" 200 "$(admin "$GW_URL/_aigw/usage")"
n=$(json_get 'j["today"]["consumers"].get("cnt", {}).get("requests", 0)')
check "deleted: the requests after it are counted again ($n of 5, not 0)" \
	test "$n" -ge 4 -a "$n" -le 5
check "deleted: new day and totals files" test -f "$T/state/$day" -a -f "$T/state/total"
expect_eq "deleted: /_aigw/metrics answers" 200 "$(admin "$GW_URL/_aigw/metrics")"
m=$(awk '/^aigw_requests_total\{consumer="cnt"/ { s += $NF } END { print s + 0 }' "$T/body")
check "deleted: metrics move again ($m requests of cnt, not 0)" test "$m" -ge 4
expect_eq "at the end: no FastCGI process died" "$START_PIDS" \
	"$(fcgi_pids | sort -n | tr '\n' ' ')"
stop_server

# ======================================================================
# 2. Redis: an integer past what Lua reads exactly, and 1e17, closed then
#    open.
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
	start_redis
	n=2
	for failure in closed open; do
		write_policy "$T/redis-$failure.ini" "$REDIS_URL" "$failure"
		start_lighttpd "$T/redis-$failure.ini" 2
		diag "lighttpd on $GW_URL, redis on $REDIS_PORT, store_failure = $failure"
		window_exact "redis ($failure)" "key-tok$n" 100000000000000000
		n=$((n + 1))
		st=$(post key-other "$(chat_body 1e17)")
		expect_eq "redis ($failure): max_tokens 1e17: 200, not 503" 200 "$st" ||
			diag "body: $(head -c 300 "$T/body")"
		st=$(post key-other "$(chat_body 18446744073709551616)")
		expect_eq "redis ($failure): max_tokens 2^64: 200, not 503" 200 "$st" ||
			diag "body: $(head -c 300 "$T/body")"
		expect_eq "redis ($failure): another consumer right after: 200" 200 \
			"$(http -H 'apikey: key-cnt' "$GW_URL/?text=hello")"
		check "redis ($failure): no store failure in the error log" sh -c \
			'! grep -Eai "store.*(unavailable|fail)|ERR " "$1"' sh "$GW_FCGI_LOG"
		stop_server
	done
else
	diag "skip redis: redis-server or redis-cli not installed"
fi

finish
