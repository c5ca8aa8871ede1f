#!/bin/bash
# t0700-responses.sh: the OpenAI Responses API in OpenAI mode, driven by the
# official OpenAI Node client (tests/sdk/responses.mjs) and curl, under
# lighttpd and Apache; then the ownership of response ids across two
# gateways sharing one Redis.
#
# The route /v1 has two upstreams (two stubs) taken in turn (round_robin),
# so a request naming a stored response only works when it goes to the
# upstream that made it. Consumers alice and bob may use it. Checked:
#   * responses.create plain and streamed, chained with
#     previous_response_id, retrieve, input_items, cancel, delete,
#     input_tokens; each id request lands on the stub that made the id;
#   * usage log lines: consumer, prompt/completion/cached/reasoning tokens,
#     the cost with cached_input_per_1m, upstream_request_id (also the
#     x-request-id the client saw); a retrieve counts no tokens again;
#   * bob's retrieve, input_items, cancel, delete and previous_response_id
#     of alice's id, an unknown id, a deleted id: 404 in OpenAI's shape,
#     never relayed;
#   * hostile: ids with path characters, %2F, too long; a
#     previous_response_id that is a number or an object (400); an
#     upstream error passed on unchanged; a stream cut in the middle
#     (usage settled from what was seen); block lists over input,
#     instructions and tool outputs; the model allow list;
#   * Redis: alice's id made on one gateway is retrieved and chained on the
#     other; bob gets 404 on both.
#
# SERVERS="lighttpd apache" (the default) picks the servers to run under.

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	skip "node and npm are needed for the OpenAI Node client (make deps installs nodejs and npm)"
fi
scratch_init

SDK_DIR=$AIGW_TOP/tests/sdk
CLIENT=$SDK_DIR/responses.mjs

# As t0300: the pinned client, installed unless node_modules matches.
sdk_install() {
	local stamp=$SDK_DIR/node_modules/.aigw-installed want
	want=$(cd "$SDK_DIR" && sha256sum package.json package-lock.json) ||
		bail "cannot read $SDK_DIR/package.json and package-lock.json"
	if [ -f "$SDK_DIR/node_modules/openai/package.json" ] &&
		[ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	diag "installing the OpenAI Node client: npm ci in tests/sdk"
	if ! (cd "$SDK_DIR" && npm_config_update_notifier=false \
		npm ci --no-audit --no-fund) >"$T/npm.out" 2>&1; then
		sed 's/^/#   /' "$T/npm.out" | tail -n 30
		bail "npm ci failed in $SDK_DIR"
	fi
	printf '%s\n' "$want" >"$stamp"
}
sdk_install

# Every answer: 500 input tokens (300 of them cache reads), 500 output
# tokens (100 of them reasoning).
STUB_ARGS="--usage-tokens 1000 --cached-tokens 300 --reasoning-tokens 100 --stream-pieces 4"
STUB_NAME=stub2 start_stub $STUB_ARGS
STUB2_PORT=$STUB_PORT STUB2_URL=$STUB_URL STUB2_LOG=$STUB_LOG
start_stub $STUB_ARGS
STUB1_PORT=$STUB_PORT STUB1_LOG=$STUB_LOG

AKEY=sk-aigw-alice-4f0c9e2b7d11
BKEY=sk-aigw-bob-93ad01c6e5f2

# extra_policy: the consumers, upstreams, prices and the route.
extra_policy() {
	cat <<EOF

[upstream second]
url        = $STUB2_URL
api_key    = $UPSTREAM_KEY
model      = gpt-4o-mini
timeout_ms = 10000

[consumer alice]
credential = $AKEY
models     = gpt-4o-mini

[consumer bob]
credential = $BKEY

; 500 input (300 cached) + 500 output:
; (200 * 1 + 300 * 0.1 + 500 * 2) / 1e6 = 0.00123 USD
[model gpt-4o-mini]
input_per_1m        = 1
cached_input_per_1m = 0.1
output_per_1m       = 2

[route v1]
path         = /v1
mode         = openai
upstream     = openai, second
strategy     = round_robin
retries      = 0
allow        = alice, bob
block_bodies = forbidden-word
EOF
}
seed_policy "$T/aigw.ini"
extra_policy >>"$T/aigw.ini"

if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/aigw.ini" check
fi

USAGE_LOG=$T/log/usage.jsonl

# sdk KEY COMMAND [ARGS...]: the client against $GW_URL/v1 with KEY; its
# JSON answer in $T/sdk.json.
sdk() {
	local key=$1 cmd=$2
	shift 2
	node "$CLIENT" "$cmd" --base-url "$GW_URL/v1" --key "$key" "$@" \
		>"$T/sdk.json" 2>"$T/sdk.err"
}

sdk_ok() {
	local name=$1
	shift
	if sdk "$@"; then
		_ok "$name"
	else
		_not_ok "$name"
		diag "client: $(head -c 600 "$T/sdk.json") $(head -c 300 "$T/sdk.err")"
		return 1
	fi
}

sdk_get() {
	json_get "$1" "$T/sdk.json" 2>/dev/null
}

# both_count: requests both stubs received.
both_count() {
	local a b
	a=$(STUB_PORT=$STUB1_PORT stub_count)
	b=$(STUB_PORT=$STUB2_PORT stub_count)
	echo $((a + b))
}

# stub_has_id ID: which stub's log holds a request whose path names ID
# (1, 2, or "1 2").
stub_with_path() {
	local out=""
	grep -q -F -- "$1" "$STUB1_LOG" && out="1"
	grep -q -F -- "$1" "$STUB2_LOG" && out="$out${out:+ }2"
	echo "$out"
}

# usage_rec FIELD VALUE PYTHON-CONDITION: the last usage record with
# FIELD == VALUE (waited for up to 10 s) satisfies the condition.
usage_rec() {
	"$PYTHON" - "$USAGE_LOG" "$1" "$2" "$3" <<'EOF'
import json, sys, time
path, field, want, cond = sys.argv[1:]
rec = None
deadline = time.time() + 10
while rec is None and time.time() < deadline:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            u = json.loads(line)
        except ValueError:
            continue
        if isinstance(u, dict) and str(u.get(field)) == want:
            rec = u
    if rec is None:
        time.sleep(0.1)
if rec is None:
    print("no usage record with %s = %r" % (field, want))
    sys.exit(1)
if not eval("(" + cond + ")", {"u": rec}):
    print("record: " + json.dumps(rec))
    sys.exit(1)
EOF
}

# The usage of every answer of the stubs, priced.
USAGE_OK='u.get("consumer") == "alice" and u.get("prompt_tokens") == 500
and u.get("completion_tokens") == 500 and u.get("cached_tokens") == 300
and u.get("reasoning_tokens") == 100 and abs((u.get("cost_usd") or 0) - 0.00123) < 1e-9'

# gw_post KEY JSON [CURL-ARGS...]: POST JSON to /v1/responses; status.
gw_post() {
	local key=$1 json=$2
	shift 2
	printf '%s' "$json" >"$T/req.json"
	http -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
		--data-binary "@$T/req.json" "$@" "$GW_URL/v1/responses"
}

is_not_found() {
	[ "$(json_get 'j["error"]["code"]' 2>/dev/null)" = response_not_found ]
}

run_scenario() {
	local s=$1 before id sid rid uid first long st
	start_server "$s" "$T/aigw.ini" 2
	diag "$s on $GW_URL"

	# --- create, not streamed
	sdk_ok "$s: responses.create" "$AKEY" create
	expect_eq "$s: create: the stub's answer" "pong" "$(sdk_get 'j["text"]')"
	id=$(sdk_get 'j["id"]')
	rid=$(sdk_get 'j["request_id"]')
	check "$s: create: the upstream's x-request-id reached the client ($rid)" \
		expect_re "$rid" '^req_[0-9a-f]+$'
	check "$s: create: usage log (tokens, cached, reasoning, cost)" \
		usage_rec upstream_request_id "$rid" "$USAGE_OK"' and u.get("stream") is False'

	# --- streamed
	sdk_ok "$s: responses.create stream" "$AKEY" stream
	expect_eq "$s: stream: the deltas join up to the answer, completed" "pong True" \
		"$(sdk_get '"%s %s" % (j["text"], j["completed"])')"
	expect_eq "$s: stream: the events in order" \
		"response.created response.in_progress response.output_item.added" \
		"$(sdk_get '" ".join(j["events"][:3])')"
	sid=$(sdk_get 'j["id"]')
	rid=$(sdk_get 'j["request_id"]')
	check "$s: stream: x-request-id reached the client ($rid)" expect_re "$rid" '^req_'
	check "$s: stream: usage log from response.completed" \
		usage_rec upstream_request_id "$rid" "$USAGE_OK"' and u.get("stream") is True'

	# --- chained: the second request must go where the first was made
	for i in 1 2; do
		sdk_ok "$s: chain $i: create then previous_response_id" "$AKEY" chain
		expect_eq "$s: chain $i: the second saw the first" \
			"echo: and again | previous: pong" "$(sdk_get 'j["second_text"]')"
	done
	first=$(sdk_get 'j["first_id"]')
	# taken in turn, the second request would find no response half the
	# time; pinned, the one stub that made the first got it
	check "$s: chain: one stub only saw the first id" \
		expect_re "$(stub_with_path "$first")" '^[12]$'
	check "$s: chain: the body's previous_response_id was passed on" \
		grep -q -F "\"previous_response_id\": \"$first\"" "$STUB1_LOG" "$STUB2_LOG"

	# --- the stored response's endpoints, each on the stub that has it
	for x in "$id" "$sid"; do
		sdk_ok "$s: retrieve $x" "$AKEY" retrieve --id "$x"
		expect_eq "$s: retrieve: its text" "pong" "$(sdk_get 'j["text"]')"
	done
	expect_status 200 -H "Authorization: Bearer $AKEY" "$GW_URL/v1/responses/$id"
	expect_eq "$s: retrieve (curl): the stored usage" "1000" "$(json_get 'j["usage"]["total_tokens"]')"
	check "$s: retrieve: the tokens are not counted again" \
		usage_rec request_id "$(header X-AIGW-Request-Id)" \
		'u.get("total_tokens") == 0 and u.get("cost_usd") == 0 and u.get("consumer") == "alice"'
	sdk_ok "$s: input_items" "$AKEY" input-items --id "$id"
	expect_eq "$s: input_items: the input" '["say ping"]' "$(sdk_get 'j["texts"]')"
	http -H "Authorization: Bearer $AKEY" \
		"$GW_URL/v1/responses/$id/input_items?limit=5&order=asc&apikey=$AKEY&include%5B%5D=x.y" >/dev/null
	expect_eq "$s: input_items: after, limit, order, include[] passed on, nothing else" \
		"limit=5&order=asc&include%5B%5D=x.y" \
		"$(STUB_LOG=$T/$(stub_with_path "$id" | sed 's/^1$/stub/; s/^2$/stub2/').log \
			stub_last 'r["query"]')"
	# a retrieve with ?stream=true is relayed as a stream (this stub
	# answers JSON, which is passed on whole)
	expect_status 200 -H "Authorization: Bearer $AKEY" \
		"$GW_URL/v1/responses/$id?stream=true&apikey=x"
	expect_eq "$s: retrieve ?stream=true: passed on, the answer relayed" \
		"stream=true $id" \
		"$(STUB_LOG=$T/$(stub_with_path "$id" | sed 's/^1$/stub/; s/^2$/stub2/').log \
			stub_last 'r["query"]') $(json_get 'j["id"]')"
	sdk_ok "$s: input_tokens" "$AKEY" input-tokens
	expect_eq "$s: input_tokens: the stub's count" "2" "$(sdk_get 'j["input_tokens"]')"
	sdk_ok "$s: cancel" "$AKEY" cancel --id "$sid"
	expect_eq "$s: cancel: cancelled" "$sid cancelled" "$(sdk_get '"%s %s" % (j["id"], j["status"])')"
	sdk_ok "$s: delete" "$AKEY" delete --id "$sid"
	expect_eq "$s: delete: deleted" "true" "$(sdk_get 'j["deleted"]')"

	# --- ownership: none of these reach a stub
	before=$(both_count)
	for cmd in retrieve input-items cancel delete; do
		sdk "$BKEY" "$cmd" --id "$id"
		expect_eq "$s: bob's $cmd of alice's id: 404" "404 NotFoundError" \
			"$(sdk_get '"%s %s" % (j["status"], j["error_class"])')"
	done
	expect_eq "$s: bob's 404: OpenAI's shape, code response_not_found" \
		"response_not_found invalid_request_error" "$(sdk_get '"%s %s" % (j["code"], j["type"])')"
	sdk "$BKEY" create --previous "$id"
	expect_eq "$s: bob's previous_response_id of alice's id: 404" "404" "$(sdk_get 'j["status"]')"
	sdk "$BKEY" stream --previous "$id"
	expect_eq "$s: ... streamed: 404" "404" "$(sdk_get 'j["status"]')"
	sdk "$AKEY" retrieve --id resp_00000000000000000000000000
	expect_eq "$s: an unknown id: 404" "404" "$(sdk_get 'j["status"]')"
	sdk "$AKEY" retrieve --id "$sid"
	expect_eq "$s: a deleted id: 404" "404" "$(sdk_get 'j["status"]')"
	sdk "$AKEY" create --previous resp_00000000000000000000000000
	expect_eq "$s: an unknown previous_response_id: 404" "404" "$(sdk_get 'j["status"]')"
	check "$s: usage log: the refusal (reason response_not_found, consumer bob)" \
		usage_rec reason response_not_found 'u.get("status") == 404'

	# --- hostile ids and bodies
	expect_status 404 --path-as-is -H "Authorization: Bearer $AKEY" \
		"$GW_URL/v1/responses/resp_../../x"
	expect_status 404 -H "Authorization: Bearer $AKEY" "$GW_URL/v1/responses/resp%2F.."
	expect_status 404 -H "Authorization: Bearer $AKEY" "$GW_URL/v1/responses/$id%2Finput_items"
	expect_status 404 -H "Authorization: Bearer $AKEY" "$GW_URL/v1/responses/$id.json"
	long=$(printf 'r%.0s' $(seq 129))
	expect_status 404 -H "Authorization: Bearer $AKEY" "$GW_URL/v1/responses/$long"
	check "$s: a 129-byte id: response_not_found" is_not_found
	long=$(printf 'r%.0s' $(seq 5000))
	st=$(http -H "Authorization: Bearer $AKEY" "$GW_URL/v1/responses/$long")
	# (Apache refuses a path segment this long by itself: 403)
	check "$s: a 5000-byte id: refused ($st)" expect_re "$st" '^(403|404|414)$'
	expect_status 405 -X PUT -H "Authorization: Bearer $AKEY" "$GW_URL/v1/responses/$id"
	expect_status 405 -H "Authorization: Bearer $AKEY" "$GW_URL/v1/responses"
	sdk "$AKEY" create --previous 12345
	expect_eq "$s: previous_response_id a number: 400" "400 BadRequestError" \
		"$(sdk_get '"%s %s" % (j["status"], j["error_class"])')"
	expect_status 400 -H "Authorization: Bearer $AKEY" -H 'Content-Type: application/json' \
		--data-binary '{"model":"gpt-4o-mini","input":"x","previous_response_id":{"id":"'"$id"'"}}' \
		"$GW_URL/v1/responses"
	expect_gateway_error "$s: previous_response_id an object: the gateway's error"
	gw_post "$AKEY" '{"model":"gpt-4o-mini","input":"x","previous_response_id":"../'"$id"'"}' >/dev/null
	check "$s: previous_response_id with path characters: 404" is_not_found
	gw_post "$AKEY" '{"model":"gpt-4o-mini","input":"x","previous_response_id":null}' >/dev/null
	expect_eq "$s: previous_response_id null: relayed" "200" "$(json_get '200 if j["id"] else 0')"
	before=$((before + 1))
	# block lists: input, instructions, a tool output; the model allow list
	gw_post "$AKEY" '{"model":"gpt-4o-mini","input":"say forbidden\u002dword"}' >/dev/null
	expect_eq "$s: blocked word in input (escaped)" "request_blocked" "$(json_get 'j["error"]["code"]')"
	gw_post "$AKEY" '{"model":"gpt-4o-mini","input":"hi","instructions":"a forbidden-word"}' >/dev/null
	expect_eq "$s: blocked word in instructions" "request_blocked" "$(json_get 'j["error"]["code"]')"
	gw_post "$AKEY" '{"model":"gpt-4o-mini","input":[{"type":"function_call_output","call_id":"c1","output":"forbidden-word"}]}' >/dev/null
	expect_eq "$s: blocked word in a tool output" "request_blocked" "$(json_get 'j["error"]["code"]')"
	sdk "$AKEY" create --model gpt-4o
	expect_eq "$s: a model alice may not use: 403" "403 model_not_allowed" \
		"$(sdk_get '"%s %s" % (j["status"], j["code"])')"
	expect_eq "$s: none of the refused requests reached a stub" "$before" "$(both_count)"

	# --- an upstream error in OpenAI's shape, passed on unchanged
	st=$(gw_post "$AKEY" '{"model":"gpt-4o-mini","input":"please fail"}')
	expect_eq "$s: upstream error: status and body unchanged" \
		'400 {"error": {"message": "stub refuses: please fail", "type": "invalid_request_error", "param": null, "code": "stub_failure"}}' \
		"$st $(body)"
	st=$(gw_post "$AKEY" '{"model":"gpt-4o-mini","input":"please fail","stream":true}')
	expect_eq "$s: upstream error on a stream: status and code" "400 stub_failure" \
		"$st $(json_get 'j["error"]["code"]')"

	# --- a stream cut in the middle: what was seen is settled
	st=$(gw_post "$AKEY" '{"model":"gpt-4o-mini","input":"please cut this answer short","stream":true}' -N)
	check "$s: cut stream: begun (200) with response.created" grep -q 'response.created' "$T/body"
	rid=$(header X-AIGW-Request-Id)
	check "$s: cut stream: usage log stream_cut, tokens estimated" \
		usage_rec request_id "$rid" 'u.get("reason") == "stream_cut" and (u.get("total_tokens") or 0) > 0
and u.get("consumer") == "alice" and u.get("upstream_request_id", "").startswith("req_")'
	uid=$(grep -o '"id": *"resp_[0-9a-f]*"' "$T/body" | head -n 1 | sed 's/.*"\(resp_[0-9a-f]*\)"/\1/')
	sdk_ok "$s: cut stream: its id is alice's all the same" "$AKEY" retrieve --id "$uid"

	check "$s: the stubs never saw a consumer's key" \
		sh -c "! grep -q -F -e '$AKEY' -e '$BKEY' '$STUB1_LOG' '$STUB2_LOG'"
	stop_server
}

expect_re() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		return 0
	fi
	echo "\"$1\" does not match $2"
	return 1
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

# --- two gateways sharing Redis: ownership is the store's, not a process's
redis_scenario() {
	local gw1 id
	start_redis
	for n in 1 2; do
		mkdir -p "$T/rstate$n" "$T/rlog$n"
		_www_data "$T/rstate$n" "$T/rlog$n"
		sed -e "s|^state_dir = .*|state_dir = $T/rstate$n|" \
			-e "s|^usage_log = .*|usage_log = $T/rlog$n/usage.jsonl|" \
			-e "s|^\[gateway\]|[gateway]\nstore = $REDIS_URL|" \
			"$T/aigw.ini" >"$T/redis$n.ini"
	done
	GW_INSTANCE=gw1 start_lighttpd "$T/redis1.ini" 2
	gw1=$GW_URL
	local pid1=$GW_PID
	GW_PID=
	GW_INSTANCE=gw2 start_lighttpd "$T/redis2.ini" 2
	GW_URL=$gw1
	sdk_ok "redis: alice creates on gateway 1" "$AKEY" create
	id=$(sdk_get 'j["id"]')
	check "redis: the owner is in Redis" \
		sh -c "redis-cli -p $REDIS_PORT --scan --pattern '*$id*' | grep -q ."
	GW_URL=http://127.0.0.1:$GW_PORT
	sdk_ok "redis: alice retrieves it on gateway 2" "$AKEY" retrieve --id "$id"
	expect_eq "redis: its text" "pong" "$(sdk_get 'j["text"]')"
	sdk_ok "redis: alice chains on gateway 2" "$AKEY" create --previous "$id" --prompt "more"
	expect_eq "redis: the chain saw the first" "echo: more | previous: pong" "$(sdk_get 'j["text"]')"
	local before
	before=$(both_count)
	sdk "$BKEY" retrieve --id "$id"
	expect_eq "redis: bob on gateway 2: 404" "404" "$(sdk_get 'j["status"]')"
	GW_URL=$gw1
	sdk "$BKEY" create --previous "$id"
	expect_eq "redis: bob's previous_response_id on gateway 1: 404" "404" "$(sdk_get 'j["status"]')"
	expect_eq "redis: bob's requests reached no stub" "$before" "$(both_count)"
	# Redis gone: an ownership check cannot be open, whatever store_failure says
	stop_redis
	sdk "$AKEY" retrieve --id "$id"
	expect_eq "redis: store down: 503" "503" "$(sdk_get 'j["status"]')"
	stop_bg "$pid1"
}
if command -v lighttpd >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
	redis_scenario
else
	diag "skip the Redis part: lighttpd or redis-server missing"
fi
finish
