#!/bin/bash
# t0500-browser.sh: the usage dashboard and the chat page in a real browser.
#
# lighttpd serves the gateway and the pages (/ui/), with a policy that has an
# admin_key, an OpenAI-mode route /v1 for two consumers and a price for
# gpt-4o-mini.  curl makes a known mix of calls (3 by consumer1, 2 by
# consumer2, one of which fails upstream); then headless Chromium, driven by
# tests/browser/ui.mjs (playwright-core):
#   * usage.html: a wrong admin key shows a 401 error; the right one shows a
#     pie chart whose slices are the numbers of /_aigw/usage (3 and 2) and
#     add up to what the stub received, the legend's percentages, the rows
#     with consumer2's error; this month and a date range agree;
#   * the admin key is in sessionStorage only, in no URL;
#   * index.html: lists the models, streams an answer ("echo: ...") that
#     grows event by event, and shows the gateway's error for a wrong key;
#     switched to Anthropic messages on the anthropic route /anthropic, it
#     streams the stub's answer from Anthropic's events and shows the
#     gateway's Anthropic-shaped error for a wrong key;
#   * usage.html after the chats: the cache reads and writes of the
#     anthropic call, in the cards and the rows, are /_aigw/usage's;
#   * the page asks nothing of any other server, logs no errors, and every
#     form control has a label;
#   * lighttpd's access log names consumer1 for the browser's requests.
# Screenshots go to $T/shots and are copied to build/screenshots/.
#
# Needs Chromium at /usr/bin/chromium (Debian's chromium package) and node
# 18 or later; playwright-core is installed with npm ci from
# tests/browser/package-lock.json into tests/browser/node_modules (not in
# version control), again whenever the lock file changes.  Without them the
# test is skipped.

. "$(dirname "$0")/../setup.sh"

CHROMIUM=/usr/bin/chromium
BROWSER_DIR=$AIGW_TOP/tests/browser

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
[ -x "$CHROMIUM" ] || skip "$CHROMIUM not found (Debian's chromium package; make deps installs it)"
command -v node >/dev/null 2>&1 || skip "node not found (make deps installs nodejs)"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
[ "${node_major:-0}" -ge 18 ] 2>/dev/null ||
	skip "the browser test needs node 18 or later (found $(node --version 2>&1))"
scratch_init

# Installs playwright-core unless tests/browser/node_modules matches the lock
# file already (the stamp holds the checksums it was installed from).
browser_install() {
	local stamp=$BROWSER_DIR/node_modules/.aigw-installed want
	want=$(cd "$BROWSER_DIR" && sha256sum package.json package-lock.json) ||
		bail "cannot read $BROWSER_DIR/package.json and package-lock.json"
	if [ -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ] &&
		[ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	command -v npm >/dev/null 2>&1 ||
		skip "npm not found: it installs playwright-core once (make deps installs it)"
	diag "installing playwright-core: npm ci in tests/browser"
	if ! (cd "$BROWSER_DIR" && npm_config_update_notifier=false \
		npm ci --no-audit --no-fund) >"$T/npm.out" 2>&1; then
		sed 's/^/#   /' "$T/npm.out" | tail -n 30
		bail "npm ci failed in $BROWSER_DIR"
	fi
	printf '%s\n' "$want" >"$stamp"
}
browser_install

ADMIN_KEY=admin-key-0f3b9c2e7d41
KEY1=sk-aigw-ui-consumer1-7c4d2a
KEY2=sk-aigw-ui-consumer2-91e0b6
PROMPT="Stream me a short greeting"

# The stub pauses between streamed events, so that the answer visibly grows.
start_stub --stream-interval-ms 150 --cached-tokens 30 --cache-write-tokens 12
ROOT_URL=http://127.0.0.1:$STUB_PORT
ANTHROPIC_PROMPT="Say hello the Anthropic way"
CLAUDE=claude-sonnet-4-5-20250929
mkdir -p "$T/state" "$T/log"
_www_data "$T/state" "$T/log"
cat >"$T/aigw.ini" <<EOF
[gateway]
state_dir = $T/state
usage_log = $T/log/usage.jsonl
admin_key = $ADMIN_KEY

[upstream openai]
url        = $STUB_URL
api_key    = sk-upstream-secret-key
model      = gpt-4o-mini
timeout_ms = 10000

[upstream claude]
url     = $ROOT_URL
api     = anthropic
api_key = sk-ant-upstream-secret-key

[consumer consumer1]
credential = $KEY1

[consumer consumer2]
credential = $KEY2

[route v1]
path     = /v1
mode     = openai
upstream = openai
allow    = consumer1, consumer2

[route anthropic]
path     = /anthropic
mode     = anthropic
upstream = claude
allow    = consumer1

[model gpt-4o-mini]
input_per_1m  = 0.15
output_per_1m = 0.60

[model $CLAUDE]
input_per_1m        = 3
output_per_1m       = 15
cached_input_per_1m = 0.3
cache_write_per_1m  = 3.75
EOF
chmod 0644 "$T/aigw.ini"
if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/aigw.ini" check
fi
start_lighttpd "$T/aigw.ini" 2
diag "lighttpd on $GW_URL, stub on $STUB_URL, $("$CHROMIUM" --version 2>/dev/null)"

# ---- the static pages are served, not sent to the gateway
for f in usage.html usage.js index.html chat.js aigw.css favicon.svg; do
	expect_status 200 "$GW_URL/ui/$f"
done
expect_status 200 "$GW_URL/ui/"
expect_contains "/ui/ is the chat page" "$(body)" 'src="chat.js"'

# ---- the scripted mix: 3 calls by consumer1, 2 by consumer2 (one fails)
chat() {
	expect_status "$1" -H "Authorization: Bearer $2" \
		-H 'Content-Type: application/json' \
		--data "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"$3\"}]}" \
		"$GW_URL/v1/chat/completions"
}
chat 200 "$KEY1" "one"
chat 200 "$KEY1" "two"
chat 200 "$KEY1" "three"
chat 200 "$KEY2" "four"
stub_behavior error500
chat 500 "$KEY2" "five"
stub_behavior normal
stub_seen=$(stub_count)
expect_eq "the stub received the 5 calls" 5 "$stub_seen"

# ---- what the page will be compared with
expect_status 401 "$GW_URL/v1/_aigw/usage"
expect_status 401 -H "Authorization: Bearer wrong-admin-key" "$GW_URL/v1/_aigw/usage"
expect_status 200 -H "Authorization: Bearer $ADMIN_KEY" "$GW_URL/v1/_aigw/usage"
cp "$T/body" "$T/usage-before.json"
expect_eq "/_aigw/usage: consumer1 made 3 calls" 3 \
	"$(json_get 'j["today"]["consumers"]["consumer1"]["requests"]')"
expect_eq "/_aigw/usage: consumer2 made 2 calls" 2 \
	"$(json_get 'j["today"]["consumers"]["consumer2"]["requests"]')"
expect_eq "/_aigw/usage: consumer2 had 1 error" 1 \
	"$(json_get 'j["today"]["consumers"]["consumer2"]["errors"]')"
expect_eq "/_aigw/usage: the total is what the stub received" "$stub_seen" \
	"$(json_get 'j["today"]["total"]["requests"]')"

# ---- the browser
mkdir -p "$T/shots" "$T/profile"
t0=$(date +%s%3N)
start_bg browser env GW_URL="$GW_URL" BASE=/v1 ADMIN_KEY="$ADMIN_KEY" \
	KEY1="$KEY1" PROMPT="$PROMPT" ANTHROPIC_PROMPT="$ANTHROPIC_PROMPT" \
	ANTHROPIC_BASE=/anthropic ANTHROPIC_MODEL="$CLAUDE" PROFILE="$T/profile" SHOTS="$T/shots" \
	OUT="$T/ui.json" CHROMIUM="$CHROMIUM" \
	timeout 180 node "$BROWSER_DIR/ui.mjs"
browser_pid=$BG_PID
wait "$browser_pid"
browser_status=$?
stop_bg "$browser_pid"
t1=$(date +%s%3N)
diag "the browser part took $((t1 - t0)) ms"
mkdir -p "$AIGW_BUILD/screenshots"
cp "$T"/shots/*.png "$AIGW_BUILD/screenshots/" 2>/dev/null &&
	diag "screenshots: $AIGW_BUILD/screenshots/"
if ! expect_eq "the browser script ran to the end" 0 "$browser_status"; then
	sed 's/^/#   /' "$T/browser.out" | tail -n 40
	[ -s "$T/ui.json" ] && diag "failed at: $(json_get 'j.get("failed_step")' "$T/ui.json")"
	finish
fi

ui() {
	json_get "$1" "$T/ui.json"
}

# -- usage.html
expect_contains "wrong admin key: the page says 401" \
	"$(ui 'j["wrong_key_error"]')" "Wrong or missing admin key (401)"
expect_contains "wrong admin key: ... with the gateway's message" \
	"$(ui 'j["wrong_key_error"]')" "Missing or wrong admin key"
expect_eq "wrong admin key: no report shown" True "$(ui 'str(j["wrong_key_report_hidden"])')"
expect_eq "wrong admin key: not kept" None "$(ui 'str(j["wrong_key_stored"])')"
expect_eq "right admin key: the error is gone" True \
	"$(ui 'str(j["error_hidden_after_good_key"])')"
expect_eq "pie: one slice per consumer, drawn as paths" '["path", "path"]' \
	"$(ui '[s["tag"] for s in j["today"]["slices"]]')"
expect_eq "pie: consumer1 3 calls, consumer2 2" '{"consumer1": 3, "consumer2": 2}' \
	"$(ui 'j["slices_today"]')"
expect_eq "pie: the slices are /_aigw/usage's numbers" \
	"$(json_get '{k: v["requests"] for k, v in sorted(j["today"]["consumers"].items())}' \
		"$T/usage-before.json")" \
	"$(ui 'dict(sorted(j["slices_today"].items()))')"
expect_eq "pie: the slices add up to the stub's count" "$stub_seen" \
	"$(ui 'sum(j["slices_today"].values())')"
expect_eq "legend: numbers and percentages" \
	'["consumer1 3 calls 60%", "consumer2 2 calls 40%"]' "$(ui 'j["today"]["legend"]')"
expect_eq "cards: 5 calls" 5 "$(ui 'j["today"]["total_requests"]')"
expect_contains "cards: a cost in dollars" "$(ui 'j["today"]["total_cost"]')" "\$0.00"
expect_eq "rows: consumer1 and consumer2 with gpt-4o-mini" \
	'[["consumer1", "gpt-4o-mini", 3, 0], ["consumer2", "gpt-4o-mini", 2, 1]]' \
	"$(ui '[[r["consumer"], r["model"], r["requests"], r["errors"]] for r in j["today"]["rows"]]')"
expect_eq "models table: gpt-4o-mini with 5 calls" '["gpt-4o-mini", "5"]' \
	"$(ui 'j["today"]["models"][0][:2]')"
expect_eq "this month: the same slices" '{"consumer1": 3, "consumer2": 2}' \
	"$(ui '{s["consumer"]: s["requests"] for s in j["month"]["slices"]}')"
today=$(date -u +%F)
expect_eq "date range: the same slices" '{"consumer1": 3, "consumer2": 2}' \
	"$(ui '{s["consumer"]: s["requests"] for s in j["range"]["slices"]}')"
expect_contains "date range: the title names the day" "$(ui 'j["range"]["title"]')" "$today"
expect_eq "the admin key is kept in sessionStorage" "$ADMIN_KEY" \
	"$(ui 'j["session_storage"].get("aigw.adminKey")')"
expect_eq "nothing in localStorage" '[]' "$(ui 'j["local_storage_keys"]')"
expect_eq "no key in any URL" '[]' "$(ui 'j["urls_with_keys"]')"
expect_eq "the page URL is plain" "$GW_URL/ui/usage.html" "$(ui 'j["page_url"]')"

# -- index.html
expect_eq "chat: base defaults to /v1" /v1 "$(ui 'j["chat_base_default"]')"
expect_contains "chat: models listed from /v1/models" "$(ui 'j["models"]')" '"gpt-4o-mini"'
expect_eq "chat: the streamed answer" "echo: $PROMPT" "$(ui 'j["chat_answer"]')"
expect_eq "chat: the question is shown" "$PROMPT" "$(ui 'j["chat_user"]')"
check "chat: the answer grew event by event (3+ partial states)" \
	"$PYTHON" - "$T/ui.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
seen, final = j["chat_seen"], j["chat_answer"]
partial = [s for s in seen if s["text"] != final]
print("# states:", [s["text"] for s in seen])
ok = len(partial) >= 3 and all(final.startswith(s["text"]) for s in partial)
ok = ok and seen[-1]["at"] - seen[0]["at"] >= 300
sys.exit(0 if ok else 1)
EOF
expect_contains "chat: token counts under the answer" "$(ui 'j["chat_meta"]')" "tokens in"
expect_eq "chat: no error shown" True "$(ui 'str(j["chat_error_hidden"])')"
expect_eq "chat: the key is kept in sessionStorage" "$KEY1" \
	"$(ui 'j["chat_session_storage"].get("aigw.chatKey")')"
expect_contains "chat: wrong key: models fall back to a text field" \
	"$(ui 'j["chat_model_hint"]')" "Could not list the models (401"
expect_contains "chat: wrong key: the page says 401" \
	"$(ui 'j["chat_wrong_key_error"]')" "Your key was refused (401)"
expect_contains "chat: wrong key: ... with the gateway's message" \
	"$(ui 'j["chat_wrong_key_error"]')" "Invalid API key"
expect_eq "chat: wrong key: the prompt is given back" "this one is refused" \
	"$(ui 'j["chat_prompt_kept"]')"

# -- index.html in Anthropic mode
expect_eq "chat (anthropic): the base path follows the API" /anthropic \
	"$(ui 'j["anthropic_base"]')"
expect_eq "chat (anthropic): the streamed answer" "echo: $ANTHROPIC_PROMPT" \
	"$(ui 'j["anthropic_answer"]')"
check "chat (anthropic): the answer grew event by event" "$PYTHON" - "$T/ui.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
seen, final = j["anthropic_seen"], j["anthropic_answer"]
partial = [s for s in seen if s["text"] != final]
print("# states:", [s["text"] for s in seen])
sys.exit(0 if len(partial) >= 2 and all(final.startswith(s["text"]) for s in partial) else 1)
EOF
expect_contains "chat (anthropic): cache reads under the answer" \
	"$(ui 'j["anthropic_meta"]')" "(30 from the cache)"
expect_eq "chat (anthropic): no error shown" True "$(ui 'str(j["anthropic_error_hidden"])')"
expect_eq "chat (anthropic): x-api-key, anthropic-version, stream, no Bearer" \
	'[true, "2023-06-01", true, false]' "$(ui 'j["anthropic_request"]')"
expect_contains "chat (anthropic): wrong key: the page says 401" \
	"$(ui 'j["anthropic_wrong_key_error"]')" "Your key was refused (401)"
expect_contains "chat (anthropic): wrong key: ... with the Anthropic-shaped error's type" \
	"$(ui 'j["anthropic_wrong_key_error"]')" "authentication_error"
expect_eq "the stub saw one /v1/messages, with the upstream's key" \
	'[["/v1/messages", "sk-ant-upstream-secret-key"]]' \
	"$("$PYTHON" -c '
import json, sys
print(json.dumps([[r["path"], r["headers"].get("x-api-key")] for r in map(json.loads, open(sys.argv[1]))
	if r.get("path", "").startswith("/v1/messages")]))' "$STUB_LOG")"

# -- usage.html after both chats: cache tokens read back from the page
expect_eq "usage: the rows' cache reads and writes are /_aigw/usage's" \
	"$(ui 'sorted([r["consumer"], r["model"], r["cached_tokens"], r["cache_write_tokens"]] for r in j["api_after_chat"]["body"]["today"]["rows"])')" \
	"$(ui 'sorted([r["consumer"], r["model"], r["cached"], r["cache_write"]] for r in j["today_after_chat"]["rows"])')"
expect_eq "usage: consumer1's $CLAUDE row: 30 cache reads, 12 writes" '[[30, 12]]' \
	"$(ui '[[r["cached"], r["cache_write"]] for r in j["today_after_chat"]["rows"] if r["model"] == "'"$CLAUDE"'"]')"
expect_eq "usage: the cards' cache reads and writes are the total's" \
	"$(ui '[str(j["api_after_chat"]["body"]["today"]["total"][k]) for k in ("cached_tokens", "cache_write_tokens")]')" \
	"$(ui '[j["today_after_chat"]["total_cached"], j["today_after_chat"]["total_cache_write"]]')"
expect_eq "usage: the models table has the cache columns" \
	'["Model", "Calls", "Tokens in", "Cache reads", "Cache writes", "Tokens out", "Share of tokens", "Cost"]' \
	"$(ui 'j["today_after_chat"]["model_headers"]')"

# -- both pages
expect_eq "usage after the chat: the slices are /_aigw/usage's numbers" \
	"$(ui 'dict(sorted(j["api_counts_after_chat"].items()))')" \
	"$(ui 'dict(sorted(j["slices_after_chat"].items()))')"
expect_eq "nothing asked of another server" '[]' "$(ui 'j["offsite_requests"]')"
expect_eq "no console errors" '[]' "$(ui 'j["console_errors"]')"
expect_eq "usage.html: every control has a label" '[]' "$(ui 'j["usage_unlabelled"]')"
expect_eq "index.html: every control has a label" '[]' "$(ui 'j["chat_unlabelled"]')"
expect_eq "9 screenshots" 9 "$(ui 'len(j["screenshots"])')"

# ---- lighttpd's access log names the consumer (written when it stops)
stop_server
check "access log: the browser's chat request is consumer1's" \
	grep -E '"POST /v1/chat/completions [^"]*" 200 .*HeadlessChrome.* consumer="consumer1"' \
	"$GW_ACCESSLOG"
check "access log: curl's calls by consumer2" \
	grep -E '"POST /v1/chat/completions [^"]*" 500 .*curl.* consumer="consumer2"' \
	"$GW_ACCESSLOG"

finish
