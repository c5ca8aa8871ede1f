#!/bin/bash
# t0700-agents-sdk.sh: the agents' APIs through the gateway, driven by the
# official clients: the OpenAI Responses API (tests/sdk/responses.mjs, the
# openai Node client) on an OpenAI-mode route, and the Anthropic Messages
# API (tests/sdk/anthropic.mjs, @anthropic-ai/sdk) on a route in mode
# anthropic, under lighttpd and Apache.
#
# The policy is the seed policy plus an anthropic upstream "claude" (the
# stub's root), the consumers "sdk" and "other" (both allowed everywhere)
# and "third" (allowed nowhere), a route /v1 (openai) and a route
# /anthropic (anthropic, blocking a word), with prices that have cache
# prices.  Before any server starts, both clients are run straight against
# the stub, so that a failure there points at the clients or the stub, not
# the gateway.  The stub reports fixed usage: 1000 tokens (500
# in, 500 out), 200 cache reads, 100 cache writes (Anthropic), 50
# reasoning tokens (Responses).  Same assertions under both servers:
#
# Responses API
#   * responses.create: the stub's "pong", its usage, its x-request-id as
#     the client's request id; the usage log has the tokens (cached and
#     reasoning), the cost with cache reads at cached_input_per_1m, and
#     upstream_request_id;
#   * stream: the events of the real API, in order, relayed one by one;
#   * a chain with previous_response_id; retrieve, input_items,
#     input_tokens, delete (then retrieve: 404);
#   * ownership: the other consumer's retrieve, delete and
#     previous_response_id of the first one's response, and an id the
#     gateway never relayed: 404 in OpenAI's shape, the stub never called;
#   * hostile: ids with path characters (raw, percent-encoded, dot
#     segments: any 4xx), a previous_response_id that is a number, an id of
#     600 characters (400 or 404): refused without calling the stub;
#   * an upstream error in OpenAI's shape passed on unchanged.
# Anthropic Messages API
#   * messages.create (the key as Authorization: Bearer, the 1.x client's
#     way, and as x-api-key, Claude Code's way), stream (its events in
#     order), countTokens, models.list;
#   * the stub gets the upstream key as x-api-key and no Authorization,
#     the caller's anthropic-version and anthropic-beta, the query string;
#     never the consumer's key;
#   * usage log: prompt = input + cache reads + cache writes, the cost with
#     cache_write_per_1m and cached_input_per_1m, upstream_request_id;
#   * refusals in Anthropic's shape, the stub not called: a wrong key (401
#     authentication_error), a consumer not on the route (403
#     permission_error), a blocked word (invalid_request_error);
#   * X-Claude-Code-Session-Id as the usage record's session, the
#     upstream's request-id header passed back; count_tokens logged
#     without tokens;
#   * a stream cut by the upstream in the middle: the client sees the
#     error, the usage log settles the prompt tokens seen in message_start;
#   * an upstream error in Anthropic's shape passed on unchanged.
#
# The clients are installed with npm ci from tests/sdk/package-lock.json
# into tests/sdk/node_modules (not in version control).  Without node and
# npm the test is skipped.  SERVERS="lighttpd apache" (the default) picks
# the servers to run under.

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	skip "node and npm are needed for the OpenAI and Anthropic Node clients"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
[ "${node_major:-0}" -ge 18 ] 2>/dev/null ||
	skip "the Node clients need node 18 or later (found $(node --version 2>&1))"
scratch_init

SDK_DIR=$AIGW_TOP/tests/sdk

# As in t0300: npm ci unless node_modules matches the lock file.
sdk_install() {
	local stamp=$SDK_DIR/node_modules/.aigw-installed want
	want=$(cd "$SDK_DIR" && sha256sum package.json package-lock.json) ||
		bail "cannot read $SDK_DIR/package.json and package-lock.json"
	if [ -f "$SDK_DIR/node_modules/openai/package.json" ] &&
		[ -f "$SDK_DIR/node_modules/@anthropic-ai/sdk/package.json" ] &&
		[ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	diag "installing the Node clients: npm ci in tests/sdk"
	if ! (cd "$SDK_DIR" && npm_config_update_notifier=false \
		npm ci --no-audit --no-fund) >"$T/npm.out" 2>&1; then
		sed 's/^/#   /' "$T/npm.out" | tail -n 30
		bail "npm ci failed in $SDK_DIR"
	fi
	printf '%s\n' "$want" >"$stamp"
}
sdk_install

start_stub --usage-tokens 1000 --cached-tokens 200 --cache-write-tokens 100 \
	--reasoning-tokens 50
seed_policy "$T/aigw.ini"
KEY_A=sk-aigw-agents-sdk-a-4c1d9e0b77
KEY_B=sk-aigw-agents-sdk-b-91f3a6d2c0
KEY_C=sk-aigw-agents-sdk-c-5e8b21f0aa
WRONG_KEY=sk-aigw-agents-wrong-000000
BLOCKED_WORD=zebracorn
ANT_UPSTREAM_KEY=sk-ant-upstream-secret-key
CLAUDE_MODEL=claude-sonnet-4-5-20250929
cat >>"$T/aigw.ini" <<INI

[upstream claude]
url     = http://127.0.0.1:$STUB_PORT
api     = anthropic
api_key = $ANT_UPSTREAM_KEY

[consumer sdk]
credential = $KEY_A

[consumer other]
credential = $KEY_B

[consumer third]
credential = $KEY_C

[route v1]
path     = /v1
mode     = openai
upstream = openai
allow    = sdk, other

[route anthropic]
path     = /anthropic
mode     = anthropic
upstream = claude
allow    = sdk, other
block_bodies = $BLOCKED_WORD

[model gpt-4o-mini]
input_per_1m        = 0.15
output_per_1m       = 0.6
cached_input_per_1m = 0.075

[model $CLAUDE_MODEL]
input_per_1m        = 3
output_per_1m       = 15
cached_input_per_1m = 0.3
cache_write_per_1m  = 3.75
INI

if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/aigw.ini" check
fi

USAGE_LOG=$T/log/usage.jsonl

# oa / ant COMMAND KEY [ARGS...]: the Responses or the Anthropic client
# against the gateway; its JSON goes to $T/sdk.json.  Returns its status.
oa() {
	local cmd=$1 key=$2
	shift 2
	node "$SDK_DIR/responses.mjs" "$cmd" --base-url "$GW_URL/v1" \
		--key "$key" "$@" >"$T/sdk.json" 2>"$T/sdk.err"
}

ant() {
	local cmd=$1 key=$2
	shift 2
	node "$SDK_DIR/anthropic.mjs" "$cmd" --base-url "$GW_URL/anthropic" \
		--key "$key" "$@" >"$T/sdk.json" 2>"$T/sdk.err"
}

# ok NAME CLIENT COMMAND KEY [ARGS...]: the call succeeds (a check).
ok() {
	local name=$1
	shift
	if "$@"; then
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

# not_relayed NAME STATUSES CLIENT COMMAND KEY [ARGS...]: the call fails
# with one of STATUSES (blank-separated) and the stub is not called.
not_relayed() {
	local name=$1 want=$2 before got
	shift 2
	before=$(stub_count)
	"$@"
	got=$(sdk_get 'j.get("status")')
	case " $want " in
	*" $got "*)
		if [ "$(stub_count)" = "$before" ]; then
			_ok "$name"
			return 0
		fi
		_not_ok "$name"
		diag "status $got, but the stub was called ($before -> $(stub_count)): $(stub_last 'r["method"] + " " + r["path"]')"
		return 1
		;;
	esac
	_not_ok "$name"
	diag "wanted status $want; client: $(head -c 500 "$T/sdk.json")"
	return 1
}

# raw_not_relayed NAME METHOD URL-PATH: curl --path-as-is with key A gets
# a 4xx and the stub is not called (the web server may resolve dot
# segments first, landing on another route: 403 or 405 are fine there).
raw_not_relayed() {
	local name=$1 method=$2 path=$3 before st
	before=$(stub_count)
	st=$(http --path-as-is -X "$method" -H "Authorization: Bearer $KEY_A" \
		"$GW_URL$path")
	if [ "${st#4}" != "$st" ] && [ "${#st}" = 3 ] &&
		[ "$(stub_count)" = "$before" ]; then
		_ok "$name"
	else
		_not_ok "$name"
		diag "status $st, stub $before -> $(stub_count); body: $(head -c 300 "$T/body")"
		return 1
	fi
}

# usage_up UPSTREAM-REQUEST-ID COND: the usage record with this
# upstream_request_id (waited for up to 10 s) satisfies COND over `u`.
usage_up() {
	"$PYTHON" - "$USAGE_LOG" "$1" "$2" <<'PY'
import json, sys, time
path, rid, cond = sys.argv[1:]
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
        if isinstance(u, dict) and u.get("upstream_request_id") == rid:
            rec = u
    if rec is None:
        time.sleep(0.1)
if rec is None:
    print("no usage record with upstream_request_id %r" % rid)
    sys.exit(1)
if not eval("(" + cond + ")", {"u": rec}):
    print("record: " + json.dumps(rec))
    sys.exit(1)
PY
}

# usage_last ROUTE COND: the last usage record on ROUTE satisfies COND.
usage_last() {
	"$PYTHON" - "$USAGE_LOG" "$1" "$2" <<'PY'
import json, sys, time
path, route, cond = sys.argv[1:]
time.sleep(0.5)
rec = None
for line in open(path, encoding="utf-8").read().splitlines():
    try:
        u = json.loads(line)
    except ValueError:
        continue
    if isinstance(u, dict) and u.get("route") == route:
        rec = u
if rec is None or not eval("(" + cond + ")", {"u": rec}):
    print("record: " + json.dumps(rec))
    sys.exit(1)
PY
}

# stub_ok EXPR: EXPR over the stub's logged requests `rs` is true.
stub_ok() {
	"$PYTHON" - "$STUB_LOG" "$1" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8").read().splitlines()]
ok = eval("(" + sys.argv[2] + ")", {"rs": rs, "json": json})
if not ok and rs:
    r = rs[-1]
    print("last:", r["method"], r["path"], r["query"], json.dumps(r["headers"]))
sys.exit(0 if ok else 1)
PY
}

RESP_EVENTS='["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta", "response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]'
ANT_EVENTS='["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]'

run_responses() {
	local s=$1 rid id id_b
	# --- create
	ok "$s: responses.create succeeds" oa create "$KEY_A"
	expect_eq "$s: responses.create: the stub's answer" "pong" \
		"$(sdk_get 'j["text"]')"
	expect_eq "$s: responses.create: the stub's usage" "500 500 200 50" \
		"$(sdk_get '"%d %d %d %d" % (j["usage"]["input_tokens"], j["usage"]["output_tokens"], j["usage"]["input_tokens_details"]["cached_tokens"], j["usage"]["output_tokens_details"]["reasoning_tokens"])')"
	rid=$(sdk_get 'j["request_id"]')
	expect_contains "$s: responses.create: the upstream's x-request-id" \
		"$rid" "req_"
	# cost = 300 * 0.15 + 200 * 0.075 + 500 * 0.6 = 360 per million
	check "$s: usage log: Responses tokens, cached and reasoning, cost" \
		usage_up "$rid" 'u.get("consumer") == "sdk" and u.get("route") == "v1"
and u.get("prompt_tokens") == 500 and u.get("completion_tokens") == 500
and u.get("total_tokens") == 1000 and u.get("cached_tokens") == 200
and u.get("reasoning_tokens") == 50 and u.get("status") == 200
and abs((u.get("cost_usd") or 0) - 0.00036) < 1e-9'

	# --- stream
	ok "$s: responses.create stream succeeds" oa stream "$KEY_A"
	expect_eq "$s: stream: the text" "pong" "$(sdk_get 'j["text"]')"
	expect_eq "$s: stream: the Responses events, in order" "$RESP_EVENTS" \
		"$(sdk_get 'j["events"]')"
	rid=$(sdk_get 'j["request_id"]')
	check "$s: usage log: streamed Responses tokens from response.completed" \
		usage_up "$rid" 'u.get("stream") is True and u.get("prompt_tokens") == 500
and u.get("completion_tokens") == 500 and u.get("cached_tokens") == 200'

	# --- chain, retrieve, input items, input tokens
	ok "$s: a chain with previous_response_id succeeds" oa chain "$KEY_A"
	expect_eq "$s: chain: the second answer saw the first" \
		"echo: and again | previous: pong" "$(sdk_get 'j["second_text"]')"
	id=$(sdk_get 'j["first_id"]')
	check "$s: chain: the stub got previous_response_id" \
		stub_ok "rs[-1]['body_json'].get('previous_response_id') == '$id'"
	ok "$s: responses.retrieve of an own id" oa retrieve "$KEY_A" --id "$id"
	expect_eq "$s: retrieve: id and text" "$id pong" \
		"$(sdk_get '"%s %s" % (j["id"], j["text"])')"
	ok "$s: responses.inputItems.list of an own id" oa input-items "$KEY_A" --id "$id"
	expect_eq "$s: input items: the prompt" '["say ping"]' "$(sdk_get 'j["texts"]')"
	ok "$s: responses.inputTokens.count" oa input-tokens "$KEY_A"
	check "$s: input tokens counted" test "$(sdk_get 'j["input_tokens"]')" -gt 0

	# --- ownership: B and ids never relayed
	not_relayed "$s: another consumer's retrieve: 404, not relayed" 404 \
		oa retrieve "$KEY_B" --id "$id"
	expect_eq "$s: ... in OpenAI's error shape" "invalid_request_error" \
		"$(sdk_get 'j["type"]')"
	not_relayed "$s: another consumer's input_items: 404, not relayed" 404 \
		oa input-items "$KEY_B" --id "$id"
	not_relayed "$s: another consumer's delete: 404, not relayed" 404 \
		oa delete "$KEY_B" --id "$id"
	not_relayed "$s: another consumer's cancel: 404, not relayed" 404 \
		oa cancel "$KEY_B" --id "$id"
	not_relayed "$s: another consumer's previous_response_id: 404, not relayed" \
		404 oa create "$KEY_B" --previous "$id"
	not_relayed "$s: an id the gateway never relayed: 404, not relayed" 404 \
		oa retrieve "$KEY_A" --id resp_0123456789abcdef01234567
	not_relayed "$s: previous_response_id never relayed: 404, not relayed" 404 \
		oa create "$KEY_A" --previous resp_0123456789abcdef01234567
	ok "$s: the owner still retrieves it" oa retrieve "$KEY_A" --id "$id"

	# --- hostile ids
	not_relayed "$s: previous_response_id a number: refused, not relayed" \
		"400 404" oa create "$KEY_A" --previous 12345
	raw_not_relayed "$s: id ../../models (dot segments)" GET \
		"/v1/responses/../../models"
	raw_not_relayed "$s: id ..%2F..%2Fmodels (encoded)" GET \
		"/v1/responses/..%2F..%2Fmodels"
	raw_not_relayed "$s: id $id/../../chat/completions" GET \
		"/v1/responses/$id/../../chat/completions"
	raw_not_relayed "$s: id $id%2Finput_items%3F" GET \
		"/v1/responses/$id%2Finput_items%3Fx=1"
	raw_not_relayed "$s: id with a NUL (%00)" GET "/v1/responses/resp_a%00b"
	raw_not_relayed "$s: an own id followed by an unknown sub-resource" POST \
		"/v1/responses/$id/evil"
	not_relayed "$s: an id of 600 characters: refused, not relayed" "400 404" \
		oa retrieve "$KEY_A" --id "resp_$(printf 'a%.0s' $(seq 600))"

	# --- upstream error in OpenAI's shape, unchanged
	oa create "$KEY_A" --prompt "please fail"
	expect_eq "$s: an upstream Responses error: status and body unchanged" \
		'400 {"message": "stub refuses: please fail", "type": "invalid_request_error", "param": null, "code": "stub_failure"}' \
		"$(sdk_get '"%s %s" % (j["status"], json.dumps(j["error"]))')"

	# --- delete own, then 404
	oa create "$KEY_A" --prompt "to delete"
	id=$(sdk_get 'j["id"]')
	ok "$s: delete of an own id" oa delete "$KEY_A" --id "$id"
	expect_eq "$s: delete: deleted" "True" "$(sdk_get 'str(j["deleted"])')"
	oa retrieve "$KEY_A" --id "$id"
	expect_eq "$s: retrieve after delete: 404" "404" "$(sdk_get 'j["status"]')"
}

run_anthropic() {
	local s=$1 rid before
	# --- create, the 1.x client's way (Authorization: Bearer)
	ok "$s: messages.create succeeds (key as Bearer)" ant create "$KEY_A"
	expect_eq "$s: messages.create: the stub's answer" "pong" \
		"$(sdk_get 'j["text"]')"
	expect_eq "$s: messages.create: the stub's usage" "500 200 100 500" \
		"$(sdk_get '"%d %d %d %d" % (j["usage"]["input_tokens"], j["usage"]["cache_read_input_tokens"], j["usage"]["cache_creation_input_tokens"], j["usage"]["output_tokens"])')"
	rid=$(sdk_get 'j["request_id"]')
	expect_contains "$s: messages.create: the upstream's request-id" "$rid" "req_"
	check "$s: the stub got x-api-key (upstream key), no Authorization, the caller's version" \
		stub_ok "rs[-1]['path'] == '/v1/messages' and
rs[-1]['headers'].get('x-api-key') == '$ANT_UPSTREAM_KEY' and
'authorization' not in rs[-1]['headers'] and
rs[-1]['headers'].get('anthropic-version') == '2026-10-21'"
	# prompt 800 = 500 + 200 + 100; cost = 500 * 3 + 200 * 0.3 + 100 * 3.75
	# + 500 * 15 = 9435 per million
	check "$s: usage log: Anthropic tokens with cache reads and writes, cost" \
		usage_up "$rid" 'u.get("consumer") == "sdk" and u.get("route") == "anthropic"
and u.get("prompt_tokens") == 800 and u.get("completion_tokens") == 500
and u.get("cached_tokens") == 200 and u.get("cache_write_tokens") == 100
and u.get("status") == 200 and abs((u.get("cost_usd") or 0) - 0.009435) < 1e-9'

	# --- x-api-key (Claude Code's way), beta header, version
	ok "$s: messages.create with x-api-key, anthropic-beta and a version" \
		ant create "$KEY_A" --x-api-key --beta prompt-caching-2024-07-31 \
		--version 2023-06-01
	check "$s: anthropic-beta and anthropic-version passed on" \
		stub_ok "rs[-1]['headers'].get('anthropic-beta') == 'prompt-caching-2024-07-31' and
rs[-1]['headers'].get('anthropic-version') == '2023-06-01' and
rs[-1]['headers'].get('x-api-key') == '$ANT_UPSTREAM_KEY'"
	http -H "x-api-key: $KEY_A" -H 'anthropic-version: 2023-06-01' \
		-H 'X-Claude-Code-Session-Id: sess-t0700-4d2a' \
		-H 'content-type: application/json' \
		--data-binary "{\"model\":\"$CLAUDE_MODEL\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"ping\"}]}" \
		"$GW_URL/anthropic/v1/messages?beta=true" >/dev/null
	check "$s: the query string (?beta=true) passed on" \
		stub_ok "rs[-1]['path'] == '/v1/messages' and rs[-1]['query'] == 'beta=true'"
	rid=$(header request-id)
	expect_contains "$s: curl: the upstream's request-id header comes back" \
		"$rid" "req_"
	check "$s: usage log: X-Claude-Code-Session-Id as session" \
		usage_up "$rid" 'u.get("session") == "sess-t0700-4d2a"'

	# --- stream
	ok "$s: messages.create stream succeeds" ant stream "$KEY_A"
	expect_eq "$s: stream: the text" "pong" "$(sdk_get 'j["text"]')"
	expect_eq "$s: stream: the Messages events, in order" "$ANT_EVENTS" \
		"$(sdk_get 'j["events"]')"
	rid=$(sdk_get 'j["request_id"]')
	check "$s: usage log: streamed tokens from message_start and message_delta" \
		usage_up "$rid" 'u.get("stream") is True and u.get("prompt_tokens") == 800
and u.get("completion_tokens") == 500 and u.get("cached_tokens") == 200
and u.get("cache_write_tokens") == 100'

	# --- countTokens, models
	ok "$s: messages.countTokens" ant count "$KEY_A"
	check "$s: countTokens: input_tokens > 0" \
		test "$(sdk_get 'j["input_tokens"]')" -gt 0
	check "$s: count_tokens reached the stub" \
		stub_ok "rs[-1]['path'] == '/v1/messages/count_tokens'"
	check "$s: usage log: count_tokens logged, spending no tokens" \
		usage_last anthropic 'u.get("consumer") == "sdk" and u.get("status") == 200
and not u.get("total_tokens") and not u.get("cost_usd")'
	ok "$s: models.list" ant models "$KEY_A"
	expect_contains "$s: models.list: the stub's models" \
		"$(sdk_get 'j["ids"]')" "$CLAUDE_MODEL"

	# --- keys
	check "$s: the consumer keys never reached the stub" \
		stub_ok "not any('$KEY_A' in json.dumps(r) or '$KEY_B' in json.dumps(r) for r in rs)"
	not_relayed "$s: a wrong key: 401, not relayed" 401 ant create "$WRONG_KEY"
	expect_eq "$s: ... authentication_error in Anthropic's shape" \
		"authentication_error" "$(sdk_get 'j["error"]["error"]["type"]')"

	not_relayed "$s: a consumer not on the route: 403, not relayed" 403 \
		ant create "$KEY_C"
	expect_eq "$s: ... permission_error in Anthropic's shape" \
		"permission_error" "$(sdk_get 'j["error"]["error"]["type"]')"
	not_relayed "$s: a blocked word: refused, not relayed" "400 403" \
		ant create "$KEY_A" --prompt "tell me of the $BLOCKED_WORD"
	expect_eq "$s: ... invalid_request_error in Anthropic's shape" \
		"invalid_request_error" "$(sdk_get 'j["error"]["error"]["type"]')"

	# --- a stream cut by the upstream
	ant stream "$KEY_A" --prompt "ping please cut"
	expect_eq "$s: a cut Anthropic stream: the client sees the failure" \
		"False" "$(sdk_get 'str(j["ok"])')"
	expect_contains "$s: ... after the events before the cut" \
		"$(sdk_get 'j.get("events")')" "message_start"
	check "$s: usage log: the cut stream settles the prompt tokens seen" \
		usage_last anthropic 'u.get("consumer") == "sdk" and u.get("prompt_tokens") == 800'

	# --- upstream error in Anthropic's shape, unchanged
	ant create "$KEY_A" --prompt "please fail"
	expect_eq "$s: an upstream Anthropic error: status and shape unchanged" \
		'400 invalid_request_error stub refuses: please fail' \
		"$(sdk_get '"%s %s %s" % (j["status"], j["error"]["error"]["type"], j["error"]["error"]["message"])')"
	expect_contains "$s: ... with the upstream's request_id" \
		"$(sdk_get 'j["error"].get("request_id")')" "req_"
}

# Straight to the stub: the clients and the stub agree.
GW_URL=http://127.0.0.1:$STUB_PORT
node "$SDK_DIR/responses.mjs" stream --base-url "$GW_URL/v1" --key direct \
	>"$T/sdk.json" 2>"$T/sdk.err"
expect_eq "stub alone: responses stream: the text and the events" \
	"pong $RESP_EVENTS" "$(sdk_get 'j["text"] + " " + json.dumps(j["events"])')"
node "$SDK_DIR/anthropic.mjs" stream --base-url "$GW_URL" --key direct \
	>"$T/sdk.json" 2>"$T/sdk.err"
expect_eq "stub alone: anthropic stream: the text and the events" \
	"pong $ANT_EVENTS" "$(sdk_get 'j["text"] + " " + json.dumps(j["events"])')"
GW_URL=

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
	stub_behavior normal
	start_server "$server" "$T/aigw.ini" 2
	diag "$server on $GW_URL, stub on http://127.0.0.1:$STUB_PORT"
	run_responses "$server"
	run_anthropic "$server"
	stop_server
	ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || skip "neither lighttpd nor apache2 is installed"
finish
