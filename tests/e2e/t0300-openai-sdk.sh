#!/bin/bash
# t0300-openai-sdk.sh: an OpenAI-mode route driven by the official OpenAI
# Node client (tests/sdk/client.mjs), under lighttpd and Apache.
#
# The policy is the seed policy plus a route /v1 in OpenAI mode that only
# consumer "sdk" may use, with models = gpt-4o-mini, text-embedding-3-small.
# Same assertions under both servers:
#   * chat.completions.create returns the stub's answer;
#   * streaming: the chunks join up to the stub's answer, the first one
#     arrives well before the stream ends and within 300 ms, the chunks
#     arrive spread out (one flush per event);
#   * the usage chunk the gateway asks for is counted in the usage log and
#     left out of the stream unless the caller asked for it;
#   * embeddings (base64, the client's default), models.list cut down to
#     the consumer's models, AuthenticationError for a wrong key,
#     PermissionDeniedError for a model the consumer may not use;
#   * the consumer's key never reaches the stub, the upstream key always
#     does;
#   * a raw curl stream carries text/event-stream, no-cache and
#     X-Accel-Buffering: no;
#   * a client that goes away mid-stream leaves the workers answering and a
#     usage line (client_gone, or an estimate of the tokens).
#
# The stub pauses 200 ms between streamed events and splits an answer into
# up to 20 content events (one per character for short answers).
#
# The client is installed with npm ci from tests/sdk/package-lock.json into
# tests/sdk/node_modules (not in version control), again whenever the lock
# file changes.  Without node and npm the test is skipped.
#
# SERVERS="lighttpd apache" (the default) picks the servers to run under.

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	skip "node and npm are needed for the OpenAI Node client (make deps installs nodejs and npm)"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
[ "${node_major:-0}" -ge 18 ] 2>/dev/null ||
	skip "the OpenAI Node client needs node 18 or later (found $(node --version 2>&1))"
scratch_init

SDK_DIR=$AIGW_TOP/tests/sdk
CLIENT=$SDK_DIR/client.mjs

# Installs the pinned client unless tests/sdk/node_modules matches the lock
# file already (the stamp holds the checksums it was installed from).
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

start_stub --stream-interval-ms 200 --stream-pieces 20 --usage-tokens 1000
seed_policy "$T/aigw.ini"
CKEY=sk-aigw-sdk-consumer-5b1e0c7d9a
WRONG_KEY=sk-aigw-sdk-wrong-0000000000
cat >>"$T/aigw.ini" <<EOF

[consumer sdk]
credential = $CKEY
models     = gpt-4o-mini, text-embedding-3-small

[route v1]
path     = /v1
mode     = openai
upstream = openai
allow    = sdk
EOF

if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/aigw.ini" check
fi

USAGE_LOG=$T/log/usage.jsonl

# sdk COMMAND [ARGS...]: run the client against the route; its JSON answer
# goes to $T/sdk.json, its stderr to $T/sdk.err.  Returns its exit status.
sdk() {
	local cmd=$1
	shift
	node "$CLIENT" "$cmd" --base-url "$GW_URL/v1" --key "$CKEY" "$@" \
		>"$T/sdk.json" 2>"$T/sdk.err"
}

# sdk_ok NAME COMMAND [ARGS...]: sdk, counted as a check.
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

# usage_rec REQUEST-ID PYTHON-CONDITION: the usage record `u` with this
# request id (waited for up to 10 s) satisfies the condition.
usage_rec() {
	"$PYTHON" - "$USAGE_LOG" "$1" "$2" <<'EOF'
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
        if isinstance(u, dict) and u.get("request_id") == rid:
            rec = u
    if rec is None:
        time.sleep(0.1)
if rec is None:
    print("no usage record with request_id %r" % rid)
    sys.exit(1)
if not eval("(" + cond + ")", {"u": rec}):
    print("record: " + json.dumps(rec))
    sys.exit(1)
EOF
}

# usage_field REQUEST-ID FIELD: print a field of that usage record (or "").
usage_field() {
	"$PYTHON" - "$USAGE_LOG" "$1" "$2" <<'EOF'
import json, sys
path, rid, field = sys.argv[1:]
for line in open(path, encoding="utf-8").read().splitlines():
    try:
        u = json.loads(line)
    except ValueError:
        continue
    if isinstance(u, dict) and u.get("request_id") == rid:
        print(json.dumps(u.get(field)))
        break
EOF
}

# sse_summary FILE: a raw SSE body as JSON: the joined content, whether
# [DONE] came last, whether a usage chunk (empty choices) came, the events.
sse_summary() {
	"$PYTHON" - "$1" <<'EOF'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
datas = [l[5:].lstrip() for l in text.replace("\r\n", "\n").split("\n")
         if l.startswith("data:")]
content, usage_chunk = "", False
for d in datas:
    if d == "[DONE]":
        continue
    j = json.loads(d)
    if j.get("choices") == [] and isinstance(j.get("usage"), dict):
        usage_chunk = True
    for c in j.get("choices") or []:
        content += (c.get("delta") or {}).get("content") or ""
print(json.dumps({"content": content, "done_last": bool(datas) and
                  datas[-1] == "[DONE]", "usage_chunk": usage_chunk,
                  "events": len(datas)}))
EOF
}

# stub_keys_ok: every request the stub logged carries the upstream key and
# nothing in its log holds the consumer's key.
stub_keys_ok() {
	local n
	n=$(grep -c -F -- "$CKEY" "$T/stub.log")
	if [ "$n" != 0 ]; then
		echo "the consumer's key is in $n line(s) of the stub log"
		return 1
	fi
	"$PYTHON" - "$T/stub.log" "Bearer $UPSTREAM_KEY" <<'EOF'
import json, sys
path, want = sys.argv[1:]
bad = 0
lines = open(path, encoding="utf-8").read().splitlines()
for line in lines:
    r = json.loads(line)
    if r["headers"].get("authorization") != want:
        bad += 1
        print("%s %s: authorization %r" % (r["method"], r["path"],
                                           r["headers"].get("authorization")))
if not lines:
    print("the stub logged no request")
sys.exit(1 if bad or not lines else 0)
EOF
}

now_ms() {
	date +%s%3N
}

run_scenario() {
	local s=$1 before first total rid i t0 t1 rc cut_rid ok
	stub_behavior normal
	start_server "$s" "$T/aigw.ini" 2
	diag "$s on $GW_URL, stub on $STUB_URL"

	# --- chat, not streamed (also starts a worker for the timings below).
	sdk_ok "$s: chat.completions.create succeeds" chat --prompt "Say hello"
	expect_eq "$s: chat answer is the stub's" "echo: Say hello" \
		"$(sdk_get 'j["content"]')"
	expect_eq "$s: chat usage is the stub's" "1000" \
		"$(sdk_get 'j["usage"]["total_tokens"]')"

	# --- streamed, the caller not asking for usage.  The client lists the
	# models first, so that its own start-up is not timed.
	sdk_ok "$s: stream succeeds" stream --prompt "hi" --warm-up
	expect_eq "$s: stream chunks join up to the stub's answer" "echo: hi" \
		"$(sdk_get 'j["content"]')"
	first=$(sdk_get 'int(j["first_ms"])')
	total=$(sdk_get 'int(j["total_ms"])')
	diag "ttfb_ms=$first server=$s (stream total ${total} ms, $(sdk_get 'j["chunks"]') chunks)"
	check "$s: first chunk long before the end (${first} < ${total} - 500 ms)" \
		test "${first:-99999}" -lt $((${total:-0} - 500))
	check "$s: first chunk within 300 ms (${first} ms)" \
		test "${first:-99999}" -lt 300
	check "$s: chunks arrive one by one (most gaps >= 100 ms)" \
		"$PYTHON" -c 'import json, sys
t = json.load(open(sys.argv[1]))["times_ms"]
gaps = [b - a for a, b in zip(t, t[1:])]
big = sum(1 for g in gaps if g >= 100)
print("gaps:", gaps)
sys.exit(0 if len(t) >= 8 and big * 2 >= len(gaps) else 1)' "$T/sdk.json"
	expect_eq "$s: no usage chunk when the caller did not ask" "0" \
		"$(sdk_get 'j["usage_chunks"]')"
	expect_eq "$s: the gateway asked the upstream for stream usage" "True" \
		"$(stub_last 'str(r["body_json"].get("stream_options", {}).get("include_usage") is True)')"
	rid=$(sdk_get 'j["request_id"]')
	check "$s: usage log: streamed request, stream true, usage-chunk tokens" \
		usage_rec "$rid" 'u.get("status") == 200 and u.get("stream") is True
and u.get("total_tokens") == 1000 and u.get("consumer") == "sdk"
and u.get("route") == "v1" and u.get("model") == "gpt-4o-mini"'

	# --- streamed, the caller asking for usage.
	sdk_ok "$s: stream with include_usage succeeds" stream --prompt "hi" \
		--include-usage
	expect_eq "$s: include_usage: chunks join up to the answer" "echo: hi" \
		"$(sdk_get 'j["content"]')"
	expect_eq "$s: include_usage: the client gets the usage chunk" "1" \
		"$(sdk_get 'j["usage_chunks"]')"
	expect_eq "$s: include_usage: its total_tokens" "1000" \
		"$(sdk_get 'j["usage"]["total_tokens"]')"
	rid=$(sdk_get 'j["request_id"]')
	check "$s: usage log: include_usage stream counted" \
		usage_rec "$rid" 'u.get("stream") is True and u.get("total_tokens") == 1000'

	# --- embeddings with the client's default (base64) encoding.
	sdk_ok "$s: embeddings.create succeeds" embeddings --prompt "embed me"
	expect_eq "$s: the client asked for base64" "base64" \
		"$(stub_last 'r["body_json"].get("encoding_format")')"
	expect_eq "$s: embedding decoded" "[0.1, 0.2, 0.3]" \
		"$(sdk_get '[round(x, 6) for x in j["embedding"]]')"

	# --- models.list: only the consumer's models.
	sdk_ok "$s: models.list succeeds" models
	expect_eq "$s: models.list is cut down to the consumer's models" \
		'["gpt-4o-mini", "text-embedding-3-small"]' "$(sdk_get 'j["ids"]')"

	# --- errors: the stub is never called.
	before=$(stub_count)
	node "$CLIENT" error --base-url "$GW_URL/v1" --key "$WRONG_KEY" \
		--expect AuthenticationError >"$T/sdk.json" 2>"$T/sdk.err"
	expect_eq "$s: wrong key -> AuthenticationError" "AuthenticationError" \
		"$(sdk_get 'j["error_class"]')"
	expect_eq "$s: wrong key -> 401" "401" "$(sdk_get 'j["status"]')"
	sdk error --model gpt-4o --expect PermissionDeniedError
	expect_eq "$s: model gpt-4o -> PermissionDeniedError" \
		"PermissionDeniedError" "$(sdk_get 'j["error_class"]')"
	expect_eq "$s: model gpt-4o -> model_not_allowed" "model_not_allowed" \
		"$(sdk_get 'j["code"]')"
	expect_eq "$s: refused requests never reach the stub" \
		"$before" "$(stub_count)"

	# --- a raw stream with curl: the headers.
	printf '%s' '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
		>"$T/stream.json"
	expect_status 200 -N -H "Authorization: Bearer $CKEY" \
		-H 'Content-Type: application/json' --data-binary "@$T/stream.json" \
		"$GW_URL/v1/chat/completions"
	expect_contains "$s: curl stream: Content-Type" \
		"$(header Content-Type)" "text/event-stream"
	expect_eq "$s: curl stream: Cache-Control" "no-cache" \
		"$(header Cache-Control)"
	expect_eq "$s: curl stream: X-Accel-Buffering" "no" \
		"$(header X-Accel-Buffering)"
	sse_summary "$T/body" >"$T/sse.json"
	expect_eq "$s: curl stream: the answer, [DONE] last, no usage chunk" \
		'echo: hi True False' \
		"$(json_get '"%s %s %s" % (j["content"], j["done_last"], j["usage_chunk"])' "$T/sse.json")"

	# --- a client that goes away mid-stream: 20 content events at 200 ms,
	# cut after 0.5 s.
	curl -sS -N --max-time 0.5 -o "$T/cut.body" -D "$T/cut.headers" \
		-H "Authorization: Bearer $CKEY" -H 'Content-Type: application/json' \
		--data-binary "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$(printf 'x%.0s' $(seq 94))\"}]}" \
		"$GW_URL/v1/chat/completions" 2>"$T/curl.err"
	rc=$?
	expect_eq "$s: the cut client timed out (curl exit 28)" "28" "$rc"
	cut_rid=$(tr -d '\r' <"$T/cut.headers" | sed -n 's/^[Xx]-[Aa][Ii][Gg][Ww]-[Rr]equest-[Ii]d: *//p' | tail -n 1)
	check "$s: the cut stream had begun (headers and a first event)" \
		grep -q '^data: ' "$T/cut.body"
	t0=$(now_ms)
	ok=0
	for i in 1 2 3 4; do
		sdk chat --prompt "after the cut $i" &&
			[ "$(sdk_get 'j["content"]')" = "echo: after the cut $i" ] &&
			ok=$((ok + 1))
	done
	t1=$(now_ms)
	expect_eq "$s: the workers answer after the cut ($((t1 - t0)) ms for 4)" \
		4 "$ok"
	check "$s: usage log: the cut stream (client_gone or estimated tokens)" \
		usage_rec "$cut_rid" 'u.get("stream") is True and
(u.get("reason") == "client_gone" or (u.get("total_tokens") or 0) > 0)'
	diag "$s: cut stream: reason=$(usage_field "$cut_rid" reason)" \
		"status=$(usage_field "$cut_rid" status)" \
		"total_tokens=$(usage_field "$cut_rid" total_tokens)" \
		"latency_ms=$(usage_field "$cut_rid" latency_ms)" \
		"upstream_ms=$(usage_field "$cut_rid" upstream_ms)"
	# The responder's own log lines: Apache puts them in its error log,
	# lighttpd passes its children's stderr through to its own.
	grep -h -F -- "$cut_rid" "$GW_ERRORLOG" "$T/$s.out" 2>/dev/null |
		head -n 3 | sed "s/^/# $s: log: /"

	# --- keys, over every request the stub has seen so far.
	check "$s: the stub never saw the consumer's key, always the upstream's" \
		stub_keys_ok

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
