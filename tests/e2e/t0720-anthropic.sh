#!/bin/bash
# t0720-anthropic.sh: an Anthropic-mode route (the Messages API below
# /anthropic) driven by the official Anthropic Node client
# (tests/sdk/anthropic.mjs) and curl, under lighttpd and Apache.
#
# The stub answers as the Anthropic API (agent_apis.py) with a fixed usage:
# input 50, output 50, cache reads 200, cache writes 40; the policy prices
# the model with distinct input, output, cache read and cache write prices.
# Same assertions under both servers:
#   * messages.create plain and streamed, countTokens, models.list through
#     the client; request-id comes back;
#   * the key in x-api-key, Authorization: Bearer or the [auth] header;
#     no key: 401 authentication_error; a consumer not on the route, or a
#     model not on the consumer's list: 403 permission_error; all in
#     Anthropic's error shape; /v1/models cut down to the consumer's models;
#   * the stub never sees a consumer's key: x-api-key is the upstream's,
#     no Authorization; anthropic-version (the caller's, else 2023-06-01),
#     anthropic-beta and ?beta=true reach it;
#   * a blocked word in the system prompt or a tool_result: refused in
#     Anthropic's shape, the stub never called;
#   * the usage record: consumer, prompt_tokens = input + cache reads +
#     writes, cached_tokens, cache_write_tokens, the cache-aware cost,
#     upstream_request_id and session (X-Claude-Code-Session-Id);
#   * count_tokens is logged and takes no place in a window
#     (query_per_minute = 1 counts tokens twice, then one message passes,
#     the next gets 429 rate_limit_error with Retry-After);
#   * hostile: a stream cut in the middle settles what was seen, an
#     upstream error (400, 429) passed on unchanged, malformed JSON (400),
#     an oversized body (413), unknown paths (404), wrong methods (405),
#     model ids with path characters (404), a query with a space (400).
#
# The client is installed with npm ci from tests/sdk/package-lock.json into
# tests/sdk/node_modules; without node and npm the client's checks are
# skipped and the curl checks still run.
#
# SERVERS="lighttpd apache" (the default) picks the servers to run under.

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

SDK_DIR=$AIGW_TOP/tests/sdk
CLIENT=$SDK_DIR/anthropic.mjs
HAVE_SDK=0

# Installs the pinned clients unless tests/sdk/node_modules matches the
# lock file already (the stamp holds the checksums it was installed from).
sdk_install() {
	local stamp=$SDK_DIR/node_modules/.aigw-installed want
	want=$(cd "$SDK_DIR" && sha256sum package.json package-lock.json) ||
		bail "cannot read $SDK_DIR/package.json and package-lock.json"
	if [ -f "$SDK_DIR/node_modules/@anthropic-ai/sdk/package.json" ] &&
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
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
	[ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" -ge 18 ] 2>/dev/null; then
	sdk_install
	HAVE_SDK=1
else
	diag "node 18+ and npm not found: the Anthropic client's checks are skipped"
fi

start_stub --usage-tokens 100 --cached-tokens 200 --cache-write-tokens 40
ROOT_URL=http://127.0.0.1:$STUB_PORT
UPSTREAM_KEY=sk-ant-upstream-secret-0123456789
DEV_KEY=sk-aigw-dev-4f1c2b3a5d
OTHER_KEY=sk-aigw-other-9e8d7c6b5a
LIMITED_KEY=sk-aigw-limited-1a2b3c4d5e
NARROW_KEY=sk-aigw-narrow-7f6e5d4c3b
MODEL=claude-sonnet-4-5-20250929
mkdir -p "$T/state" "$T/log"
_www_data "$T/state" "$T/log"
cat >"$T/aigw.ini" <<EOF
[gateway]
state_dir = $T/state
usage_log = $T/log/usage.jsonl
max_body  = 200000

[upstream claude]
url     = $ROOT_URL
api     = anthropic
api_key = $UPSTREAM_KEY

[auth]
keys      = apikey
in_header = true
in_query  = false

[consumer dev]
credential = $DEV_KEY

[consumer other]
credential = $OTHER_KEY

[consumer narrow]
credential = $NARROW_KEY
models     = claude-haiku-4-5-20251001

[consumer limited]
credential       = $LIMITED_KEY
query_per_minute = 1

[model $MODEL]
input_per_1m        = 3
output_per_1m       = 15
cached_input_per_1m = 0.3
cache_write_per_1m  = 3.75

[route claude]
path         = /anthropic
mode         = anthropic
upstream     = claude
allow        = dev, limited, narrow
block_bodies = forbiddenword
EOF
chmod 0644 "$T/aigw.ini"
USAGE_LOG=$T/log/usage.jsonl
# (290 - 200 - 40) * 3 + 200 * 0.3 + 40 * 3.75 + 50 * 15 per million
COST=0.00111

if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/aigw.ini" check
	sed 's/^api     = anthropic$/api     = openai/' "$T/aigw.ini" >"$T/bad.ini"
	"$AIGWCTL" -c "$T/bad.ini" check >"$T/bad.out" 2>&1
	line=$(grep -n '^\[route claude\]' "$T/bad.ini" | cut -d: -f1)
	expect_contains "aigwctl check: an anthropic route over an openai upstream, at FILE:LINE" \
		"$(cat "$T/bad.out")" "$T/bad.ini:$line: [route claude] is mode = anthropic"
fi

# sdk COMMAND [ARGS...]: the client against the route; its JSON answer goes
# to $T/sdk.json, its stderr to $T/sdk.err.
sdk() {
	local cmd=$1
	shift
	node "$CLIENT" "$cmd" --base-url "$GW_URL/anthropic" --key "$DEV_KEY" "$@" \
		>"$T/sdk.json" 2>"$T/sdk.err"
}

sdk_ok() {
	local name=$1
	shift
	if sdk "$@"; then
		_ok "$name"
	else
		_not_ok "$name"
		diag "client: $(head -c 600 "$T/sdk.json") $(head -c 600 "$T/sdk.err")"
		return 1
	fi
}

sdk_get() {
	json_get "$1" "$T/sdk.json" 2>/dev/null
}

# rec FIELD VALUE PYTHON-CONDITION: the usage record `u` whose FIELD is
# VALUE (waited for up to 10 s) satisfies the condition.
rec() {
	"$PYTHON" - "$USAGE_LOG" "$1" "$2" "$3" <<'EOF'
import json, sys, time
path, field, value, cond = sys.argv[1:]
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
        if isinstance(u, dict) and u.get(field) == value:
            rec = u
    if rec is None:
        time.sleep(0.1)
if rec is None:
    print("no usage record with %s %r" % (field, value))
    sys.exit(1)
if not eval("(" + cond + ")", {"u": rec}):
    print("record: " + json.dumps(rec))
    sys.exit(1)
EOF
}

# The full usage of one answer of the stub, priced.
USAGE_OK='u.get("consumer") == "dev" and u.get("route") == "claude"
and u.get("prompt_tokens") == 290 and u.get("completion_tokens") == 50
and u.get("total_tokens") == 340 and u.get("cached_tokens") == 200
and u.get("cache_write_tokens") == 40 and u.get("status") == 200
and abs((u.get("cost_usd") or 0) - '$COST') < 1e-9'

gw_rid() {
	header X-AIGW-Request-Id
}

# anthropic_error TYPE: the last answer is Anthropic's error shape with TYPE.
anthropic_error() {
	local v
	v=$(json_get '(j["type"] == "error" and j["error"]["type"] == "'"$1"'" and
isinstance(j["error"]["message"], str) and set(j) == {"type", "error"})' 2>&1)
	[ "$v" = true ] && return 0
	echo "body: $(head -c 300 "$T/body")"
	return 1
}

# stub_keys_ok: every request the stub logged carries the upstream key as
# x-api-key and no Authorization; no consumer key anywhere in its log.
stub_keys_ok() {
	local k
	for k in "$DEV_KEY" "$OTHER_KEY" "$LIMITED_KEY" "$NARROW_KEY"; do
		if grep -q -F -- "$k" "$T/stub.log"; then
			echo "a consumer's key is in the stub log"
			return 1
		fi
	done
	"$PYTHON" - "$T/stub.log" "$UPSTREAM_KEY" <<'EOF'
import json, sys
path, want = sys.argv[1:]
lines = open(path, encoding="utf-8").read().splitlines()
bad = 0
for line in lines:
    r = json.loads(line)
    h = r["headers"]
    if h.get("x-api-key") != want or "authorization" in h:
        bad += 1
        print("%s %s: x-api-key %r authorization %r" % (
            r["method"], r["path"], h.get("x-api-key"), h.get("authorization")))
print("%d requests" % len(lines))
sys.exit(1 if bad or not lines else 0)
EOF
}

msg_body() { # PROMPT [STREAM]
	printf '{"model":"%s","max_tokens":64,%s"messages":[{"role":"user","content":"%s"}]}' \
		"$MODEL" "${2:+\"stream\":true,}" "$1"
}

run_sdk() {
	local s=$1 rid
	# --- messages.create, the key as Authorization: Bearer (the client's own)
	sdk_ok "$s: sdk messages.create" create
	expect_eq "$s: sdk create: the stub's answer" "pong" "$(sdk_get 'j["text"]')"
	rid=$(sdk_get 'j["request_id"]')
	expect_contains "$s: sdk create: request-id is the stub's" "$rid" "req_"
	expect_eq "$s: sdk create: usage as the upstream said" "50 200 40 50" \
		"$(sdk_get '"%d %d %d %d" % (j["usage"]["input_tokens"], j["usage"]["cache_read_input_tokens"], j["usage"]["cache_creation_input_tokens"], j["usage"]["output_tokens"])')"
	check "$s: usage record of create: tokens, cache tokens, cost" \
		rec upstream_request_id "$rid" "$USAGE_OK"' and u.get("stream") is False'

	# --- streamed
	sdk_ok "$s: sdk messages.create stream" stream
	expect_eq "$s: sdk stream: the answer" "pong" "$(sdk_get 'j["text"]')"
	expect_eq "$s: sdk stream: message_start first, message_stop last" "True True" \
		"$(sdk_get '"%s %s" % (j["events"][0] == "message_start", j["events"][-1] == "message_stop")')"
	expect_eq "$s: sdk stream: usage seen by the client" "50 50" \
		"$(sdk_get '"%d %d" % (j["usage"]["input_tokens"], j["usage"]["output_tokens"])')"
	rid=$(sdk_get 'j["request_id"]')
	check "$s: usage record of the stream: merged from message_start and message_delta" \
		rec upstream_request_id "$rid" "$USAGE_OK"' and u.get("stream") is True'

	# --- countTokens, models.list, models.retrieve; x-api-key and a beta
	sdk_ok "$s: sdk countTokens" count
	expect_eq "$s: sdk countTokens: input_tokens" "2" "$(sdk_get 'j["input_tokens"]')"
	rid=$(sdk_get 'j["request_id"]')
	check "$s: usage record of countTokens: logged, no tokens spent" \
		rec upstream_request_id "$rid" 'u.get("status") == 200 and
u.get("consumer") == "dev" and u.get("total_tokens") == 0 and u.get("cost_usd") == 0'
	sdk_ok "$s: sdk models.list" models
	expect_eq "$s: sdk models.list: the stub's models" "3" "$(sdk_get 'len(j["ids"])')"
	sdk_ok "$s: sdk models.retrieve" model
	expect_eq "$s: sdk models.retrieve" "$MODEL" "$(sdk_get 'j["id"]')"
	sdk_ok "$s: sdk create, key in x-api-key, a beta" create --x-api-key \
		--beta interleaved-thinking-2025-05-14
	expect_eq "$s: sdk x-api-key: the answer" "pong" "$(sdk_get 'j["text"]')"
	expect_eq "$s: anthropic-beta reached the stub" "interleaved-thinking-2025-05-14" \
		"$(stub_last 'r["headers"].get("anthropic-beta")')"

	# --- a wrong key: AuthenticationError
	node "$CLIENT" create --base-url "$GW_URL/anthropic" --key sk-wrong-000000 \
		>"$T/sdk.json" 2>"$T/sdk.err"
	expect_eq "$s: sdk wrong key -> AuthenticationError 401 authentication_error" \
		"AuthenticationError 401 authentication_error" \
		"$(sdk_get '"%s %s %s" % (j["error_class"], j["status"], j["type"])')"
}

run_scenario() {
	local s=$1 before rid b
	stub_behavior normal
	start_server "$s" "$T/aigw.ini" 2
	diag "$s on $GW_URL, stub on $STUB_URL"
	[ "$HAVE_SDK" = 1 ] && run_sdk "$s"

	msg_body "say ping" >"$T/ping.json"
	# --- the three places a key may be
	expect_status 200 -H "x-api-key: $DEV_KEY" -H 'anthropic-version: 2023-06-01' \
		-H 'Content-Type: application/json' --data-binary "@$T/ping.json" \
		"$GW_URL/anthropic/v1/messages"
	expect_eq "$s: x-api-key: the answer" "pong" "$(json_get 'j["content"][0]["text"]')"
	expect_contains "$s: request-id comes back" "$(header request-id)" "req_"
	expect_status 200 -H "Authorization: Bearer $DEV_KEY" \
		-H 'Content-Type: application/json' --data-binary "@$T/ping.json" \
		"$GW_URL/anthropic/v1/messages"
	expect_eq "$s: no anthropic-version: the default reaches the stub" "2023-06-01" \
		"$(stub_last 'r["headers"].get("anthropic-version")')"
	expect_status 200 -H "apikey: $DEV_KEY" -H 'anthropic-version: 2099-01-01' \
		-H "X-Claude-Code-Session-Id: sess-0123-abcd" \
		-H 'Content-Type: application/json' --data-binary "@$T/ping.json" \
		"$GW_URL/anthropic/v1/messages?beta=true"
	rid=$(gw_rid)
	expect_eq "$s: the caller's anthropic-version reaches the stub" "2099-01-01" \
		"$(stub_last 'r["headers"].get("anthropic-version")')"
	expect_eq "$s: ?beta=true reaches the stub" "beta=true" "$(stub_last 'r["query"]')"
	check "$s: usage record: session and upstream request id" rec request_id "$rid" \
		"$USAGE_OK"' and u.get("session") == "sess-0123-abcd" and
(u.get("upstream_request_id") or "").startswith("req_")'
	# a session id that is not printable or too long is left out
	expect_status 200 -H "x-api-key: $DEV_KEY" \
		-H "X-Claude-Code-Session-Id: $(printf 's%.0s' $(seq 129))" \
		-H 'Content-Type: application/json' --data-binary "@$T/ping.json" \
		"$GW_URL/anthropic/v1/messages"
	check "$s: usage record: a 129-byte session id is ignored" rec request_id "$(gw_rid)" \
		'"session" not in u'
	# a key in the query (not a key place here) never reaches the stub
	expect_status 200 -H "x-api-key: $DEV_KEY" \
		-H 'Content-Type: application/json' --data-binary "@$T/ping.json" \
		"$GW_URL/anthropic/v1/messages?beta=true&apikey=$OTHER_KEY"
	expect_eq "$s: a key parameter is dropped from the query passed on" "beta=true" \
		"$(stub_last 'r["query"]')"

	# --- refusals, all in Anthropic's shape; the stub never called
	before=$(stub_count)
	expect_status 401 -H 'Content-Type: application/json' --data-binary "@$T/ping.json" \
		"$GW_URL/anthropic/v1/messages"
	check "$s: no key -> authentication_error" anthropic_error authentication_error
	expect_status 401 -H "x-api-key: $DEV_KEY" -H "Authorization: Bearer $OTHER_KEY" \
		-H 'Content-Type: application/json' --data-binary "@$T/ping.json" \
		"$GW_URL/anthropic/v1/messages"
	check "$s: two different keys -> authentication_error" anthropic_error authentication_error
	expect_status 403 -H "x-api-key: $OTHER_KEY" \
		-H 'Content-Type: application/json' --data-binary "@$T/ping.json" \
		"$GW_URL/anthropic/v1/messages"
	check "$s: a consumer not on the route -> permission_error" \
		anthropic_error permission_error
	expect_status 403 -H "x-api-key: $NARROW_KEY" \
		-H 'Content-Type: application/json' --data-binary "@$T/ping.json" \
		"$GW_URL/anthropic/v1/messages"
	check "$s: a model not on the consumer's list -> permission_error" \
		anthropic_error permission_error
	expect_status 403 -H "x-api-key: $NARROW_KEY" "$GW_URL/anthropic/v1/models/$MODEL"
	check "$s: models/{id} not on the consumer's list -> permission_error" \
		anthropic_error permission_error
	printf '{"model":"%s","max_tokens":64,"system":"you may say forbiddenword","messages":[{"role":"user","content":"hi"}]}' \
		"$MODEL" >"$T/blocked1.json"
	expect_status 403 -H "x-api-key: $DEV_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/blocked1.json" "$GW_URL/anthropic/v1/messages"
	check "$s: a blocked word in the system prompt -> invalid_request_error" \
		anthropic_error invalid_request_error
	printf '{"model":"%s","max_tokens":64,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"the forbidd\\u0065nword"}]}]}]}' \
		"$MODEL" >"$T/blocked2.json"
	expect_status 403 -H "x-api-key: $DEV_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/blocked2.json" "$GW_URL/anthropic/v1/messages/count_tokens"
	check "$s: a blocked word (escaped) in a tool_result -> invalid_request_error" \
		anthropic_error invalid_request_error
	check "$s: usage record of the blocked request" rec request_id "$(gw_rid)" \
		'u.get("reason") == "blocked" and u.get("status") == 403'
	printf '{"model": "%s", "messages": [' "$MODEL" >"$T/bad.json"
	expect_status 400 -H "x-api-key: $DEV_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/bad.json" "$GW_URL/anthropic/v1/messages"
	check "$s: malformed JSON -> invalid_request_error" anthropic_error invalid_request_error
	printf '{"model":"%s","max_tokens":64,"stream":"yes","messages":[]}' "$MODEL" >"$T/bad2.json"
	expect_status 400 -H "x-api-key: $DEV_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/bad2.json" "$GW_URL/anthropic/v1/messages"
	"$PYTHON" -c 'import json, sys
print(json.dumps({"model": sys.argv[1], "max_tokens": 8,
                  "messages": [{"role": "user", "content": "x" * 300000}]}))' "$MODEL" \
		>"$T/big.json"
	expect_status 413 -H "x-api-key: $DEV_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/big.json" "$GW_URL/anthropic/v1/messages"
	check "$s: oversized body -> request_too_large" anthropic_error request_too_large
	expect_status 404 -H "x-api-key: $DEV_KEY" "$GW_URL/anthropic/v1/complete"
	check "$s: unknown path -> not_found_error" anthropic_error not_found_error
	expect_status 404 -H "x-api-key: $DEV_KEY" "$GW_URL/anthropic/v1/models/a%20b"
	check "$s: a model id with a space -> not_found_error" anthropic_error not_found_error
	expect_status 404 -H "x-api-key: $DEV_KEY" "$GW_URL/anthropic/v1/models/..%2F..%2Fx"
	expect_status 405 -H "x-api-key: $DEV_KEY" "$GW_URL/anthropic/v1/messages"
	expect_eq "$s: 405 names the method" "POST" "$(header Allow)"
	check "$s: wrong method -> invalid_request_error" anthropic_error invalid_request_error
	expect_eq "$s: refused requests never reach the stub" "$before" "$(stub_count)"

	expect_status 200 -H "x-api-key: $NARROW_KEY" "$GW_URL/anthropic/v1/models"
	expect_eq "$s: models list cut down to the consumer's models" \
		'["claude-haiku-4-5-20251001"] claude-haiku-4-5-20251001 claude-haiku-4-5-20251001' \
		"$(json_get '"%s %s %s" % (json.dumps([m["id"] for m in j["data"]]), j["first_id"], j["last_id"])')"

	# --- upstream errors passed on unchanged
	msg_body "please fail" >"$T/fail.json"
	expect_status 400 -H "x-api-key: $DEV_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/fail.json" "$GW_URL/anthropic/v1/messages"
	expect_eq "$s: upstream 400 passed on unchanged" \
		"error invalid_request_error stub refuses: please fail True" \
		"$(json_get '"%s %s %s %s" % (j["type"], j["error"]["type"], j["error"]["message"], j["request_id"] == "'"$(header request-id)"'")')"
	stub_behavior status429
	expect_status 429 -H "x-api-key: $DEV_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/ping.json" "$GW_URL/anthropic/v1/messages"
	expect_eq "$s: upstream 429 passed on unchanged (the stub's body and request-id)" \
		"rate_limit_error True True" \
		"$(json_get '"%s %s %s" % (j["error"]["type"], "(stub)" in j["error"]["message"], j["request_id"] == "'"$(header request-id)"'")')"
	stub_behavior normal

	# --- a stream cut in the middle: what was seen is settled
	msg_body "please cut" stream >"$T/cut.json"
	http -N -H "x-api-key: $DEV_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/cut.json" "$GW_URL/anthropic/v1/messages" >/dev/null
	check "$s: the cut stream began (message_start relayed)" \
		grep -q '^event: message_start' "$T/body"
	check "$s: nothing after the cut is made up" \
		sh -c "! grep -q message_stop '$T/body'"
	check "$s: usage record of the cut stream: message_start's input, output seen" \
		rec request_id "$(gw_rid)" 'u.get("reason") == "stream_cut" and
u.get("prompt_tokens") == 290 and u.get("cached_tokens") == 200 and
u.get("completion_tokens") >= 1 and u.get("stream") is True'

	# --- count_tokens takes no place in a window
	expect_status 200 -H "x-api-key: $LIMITED_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/ping.json" "$GW_URL/anthropic/v1/messages/count_tokens"
	expect_status 200 -H "x-api-key: $LIMITED_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/ping.json" "$GW_URL/anthropic/v1/messages/count_tokens"
	check "$s: count_tokens logged for the consumer" rec request_id "$(gw_rid)" \
		'u.get("consumer") == "limited" and u.get("status") == 200'
	expect_status 200 -H "x-api-key: $LIMITED_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/ping.json" "$GW_URL/anthropic/v1/messages"
	expect_status 429 -H "x-api-key: $LIMITED_KEY" -H 'Content-Type: application/json' \
		--data-binary "@$T/ping.json" "$GW_URL/anthropic/v1/messages"
	check "$s: the window's 429 -> rate_limit_error" anthropic_error rate_limit_error
	b=$(header Retry-After)
	check "$s: 429 carries Retry-After ($b)" test -n "$b"

	# --- keys, over every request the stub has seen so far
	check "$s: the stub never saw a consumer's key, always the upstream's x-api-key" \
		stub_keys_ok
	stop_server
	rm -rf "$T/state"/*
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
