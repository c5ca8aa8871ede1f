#!/bin/bash
# t0100-seed.sh: the seed scenario (etc/aigw.ini) under lighttpd and Apache.
#
# Same assertions under both servers: key checks (401/403), the prompt route
# relaying to the stub (200), URL block lists (404), a POST form with awkward
# characters arriving intact, upstream failures (502, 504, 500), workers
# still answering afterwards, and one usage-log line per request.
#
# SERVERS="lighttpd apache" (the default) picks the servers to run under.

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

start_stub
seed_policy "$T/aigw.ini"
# The same policy with a short upstream timeout, for the 504 case.
sed 's/^\([[:space:]]*timeout_ms[[:space:]]*=\).*/\1 1000/' \
	"$T/aigw.ini" >"$T/aigw-fast.ini"
chmod 0644 "$T/aigw-fast.ini"
grep -q '^timeout_ms *= 1000$' "$T/aigw-fast.ini" ||
	bail "could not set timeout_ms in $T/aigw-fast.ini"

if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the seed policy" \
		"$AIGWCTL" -c "$T/aigw.ini" check
fi

USAGE_LOG=$T/log/usage.jsonl
n_req=0     # requests sent to the gateway (each one makes a usage record)

# gw EXPECTED CURL-ARGS...: expect_status for a request to the gateway.
gw() {
	n_req=$((n_req + 1))
	expect_status "$@"
}

usage_lines() {
	if [ -f "$USAGE_LOG" ]; then
		wc -l <"$USAGE_LOG" | tr -d ' '
	else
		echo 0
	fi
}

# usage_log_ok FIRST-LINE COUNT: lines FIRST-LINE.. of the usage log are
# COUNT valid JSON objects with every contract field.
usage_log_ok() {
	"$PYTHON" - "$USAGE_LOG" "$1" "$2" <<'EOF'
import json, sys
path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fields = ("ts", "consumer", "route", "model", "status", "prompt_tokens",
          "completion_tokens", "total_tokens", "latency_ms", "upstream")
lines = open(path, encoding="utf-8").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
new = lines[first:]
ok = True
if len(new) != count:
    print("# expected %d new lines, found %d" % (count, len(new)))
    ok = False
for n, line in enumerate(new, first + 1):
    try:
        rec = json.loads(line)
    except ValueError as e:
        print("# line %d is not JSON (%s): %s" % (n, e, line[:200]))
        ok = False
        continue
    if not isinstance(rec, dict):
        print("# line %d is not an object: %s" % (n, line[:200]))
        ok = False
        continue
    missing = [f for f in fields if f not in rec]
    if missing:
        print("# line %d lacks %s: %s" % (n, ", ".join(missing), line[:200]))
        ok = False
sys.exit(0 if ok else 1)
EOF
}

# usage_has PYTHON-CONDITION: some record `u` among the new lines matches.
usage_has() {
	"$PYTHON" - "$USAGE_LOG" "$usage_start" "$1" <<'EOF'
import json, sys
path, first, cond = sys.argv[1], int(sys.argv[2]), sys.argv[3]
recs = []
for line in open(path, encoding="utf-8").read().splitlines()[first:]:
    try:
        recs.append(json.loads(line))
    except ValueError:
        pass
sys.exit(0 if any(eval("(" + cond + ")", {"u": u}) for u in recs
                  if isinstance(u, dict)) else 1)
EOF
}

now_ms() {
	date +%s%3N
}

KEY=(-H 'apikey: xxxxxx')

run_scenario() {
	local s=$1 before t0 t1 i
	n_req=0
	usage_start=$(usage_lines)
	stub_behavior normal
	start_server "$s" "$T/aigw.ini" 2
	diag "$s on $GW_URL, stub on $STUB_URL"

	# --- authentication and allow list: the stub is never called.
	before=$(stub_count)
	gw 401 "$GW_URL/?text=Say,hello"
	expect_gateway_error "$s: 401 without a key is a JSON error"
	expect_contains "$s: 401 carries WWW-Authenticate Bearer" \
		"$(header WWW-Authenticate)" "Bearer"
	gw 401 -H 'apikey: zzzzzz' "$GW_URL/?text=Say,hello"
	expect_gateway_error "$s: 401 for an unknown key is a JSON error"
	gw 403 -H 'apikey: yyyyyy' "$GW_URL/?text=Say,hello"
	expect_gateway_error "$s: 403 for consumer2 is a JSON error"

	# --- URL block list (password, pw; any case, percent-encoded or not).
	for q in 'text=Mypassword=xxxxxx' 'text=pw=xxxxxx' 'text=PassWord' \
		'text=p%61ssword'; do
		gw 404 "${KEY[@]}" "$GW_URL/?$q"
		expect_gateway_error "$s: blocked ?$q is a JSON error"
	done
	expect_eq "$s: refused requests never reach the upstream" \
		"$before" "$(stub_count)"

	# --- the prompt route.
	gw 200 "${KEY[@]}" "$GW_URL/?text=Say,hello"
	expect_contains "$s: 200 body is the stub's answer" \
		"$(body)" "echo: Say,hello"
	expect_eq "$s: X-AIGW-Consumer" "consumer1" "$(header X-AIGW-Consumer)"
	expect_eq "$s: stub saw one more request" \
		"$((before + 1))" "$(stub_count)"
	expect_eq "$s: upstream request is POST .../chat/completions" \
		"POST /v1/chat/completions" "$(stub_last 'r["method"] + " " + r["path"]')"
	expect_eq "$s: upstream gets the upstream key" \
		"Bearer $UPSTREAM_KEY" "$(stub_last 'r["headers"].get("authorization")')"
	expect_eq "$s: upstream gets no apikey header" \
		"False" "$(stub_last 'str("apikey" in r["headers"])')"
	expect_eq "$s: the client's key does not reach the upstream" \
		"False" "$(stub_last 'str("xxxxxx" in json.dumps(r))')"
	expect_eq "$s: upstream body is valid JSON" \
		"True" "$(stub_last 'str(r["body_is_valid_json"])')"
	expect_eq "$s: upstream body messages[0].content" \
		"Say,hello" "$(stub_last 'r["body_json"]["messages"][0]["content"]')"
	expect_eq "$s: upstream body messages[0].role" \
		"user" "$(stub_last 'r["body_json"]["messages"][0]["role"]')"
	expect_eq "$s: upstream body model" \
		"gpt-4o-mini" "$(stub_last 'r["body_json"]["model"]')"

	# --- a POST form whose prompt has quotes, backslashes, a newline and
	# non-ASCII text: it must arrive intact, inside valid JSON.
	local prompt
	prompt=$(printf 'He said "hi" \\ back\\slash\nline two: caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac')
	printf '%s' "$prompt" >"$T/prompt.txt"
	gw 200 "${KEY[@]}" --data-urlencode "text@$T/prompt.txt" "$GW_URL/"
	expect_eq "$s: form prompt: upstream body is valid JSON" \
		"True" "$(stub_last 'str(r["body_is_valid_json"])')"
	expect_eq "$s: form prompt arrives intact" \
		"$prompt" "$(stub_last 'r["body_json"]["messages"][0]["content"]')"
	expect_contains "$s: form prompt answer" "$(body)" "caf"

	# --- upstream down.
	stop_stub
	gw 502 "${KEY[@]}" "$GW_URL/?text=Say,hello"
	expect_gateway_error "$s: 502 (upstream down) is a JSON error"
	start_stub --port "$STUB_PORT"

	# --- upstream too slow: a policy with timeout_ms = 1000.
	start_server "$s" "$T/aigw-fast.ini" 2
	stub_behavior slow
	t0=$(now_ms)
	gw 504 "${KEY[@]}" "$GW_URL/?text=Say,hello"
	t1=$(now_ms)
	expect_gateway_error "$s: 504 (upstream timeout) is a JSON error"
	check "$s: 504 came after about timeout_ms ($((t1 - t0)) ms)" \
		test $((t1 - t0)) -ge 900 -a $((t1 - t0)) -lt 4500

	# --- upstream errors.
	stub_behavior error500
	gw 500 "${KEY[@]}" "$GW_URL/?text=Say,hello"
	expect_contains "$s: upstream 500 body is relayed" "$(body)" "stub failure"
	stub_behavior garbage
	gw 502 "${KEY[@]}" "$GW_URL/?text=Say,hello"
	expect_gateway_error "$s: 502 (upstream garbage) is a JSON error"
	stub_behavior drop
	gw 502 "${KEY[@]}" "$GW_URL/?text=Say,hello"
	expect_gateway_error "$s: 502 (upstream dropped the connection) is a JSON error"

	# --- the workers still answer.
	stub_behavior normal
	for i in 1 2 3 4 5 6; do
		gw 200 "${KEY[@]}" "$GW_URL/?text=again,$i"
		expect_contains "$s: answer $i after the failures" \
			"$(body)" "echo: again,$i"
	done

	# --- the usage log: one record per request (written when the request
	# ends, so give the last one a moment).
	i=0
	while [ "$(usage_lines)" -lt $((usage_start + n_req)) ] && [ "$i" -lt 20 ]
	do
		sleep 0.1
		i=$((i + 1))
	done
	check "$s: usage log has $n_req valid records with every field" \
		usage_log_ok "$usage_start" "$n_req"
	check "$s: usage record for the 200 (consumer1, chat, gpt-4o-mini, openai)" \
		usage_has 'u.get("status") == 200 and u.get("consumer") == "consumer1"
and u.get("route") == "chat" and u.get("model") == "gpt-4o-mini"
and u.get("upstream") == "openai"'
	check "$s: usage record carries the stub's token counts (1 + 2 = 3)" \
		usage_has 'u.get("status") == 200 and u.get("prompt_tokens") == 1
and u.get("completion_tokens") == 2 and u.get("total_tokens") == 3'
	check "$s: usage record for the 401 without a key (empty consumer)" \
		usage_has 'u.get("status") == 401 and not u.get("consumer")'
	check "$s: usage record for the 403 (consumer2)" \
		usage_has 'u.get("status") == 403 and u.get("consumer") == "consumer2"'
	check "$s: usage record for the 504" \
		usage_has 'u.get("status") == 504'

	stop_server
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
