#!/bin/bash
# tests/agents/run.sh: `make check-agents`.  Claude Code and Codex CLI,
# installed from npm into a scratch folder, run offline through the gateway
# (lighttpd + aigw.fcgi) against the stub upstream tests/stub/openai_stub.py.
#
# What is checked:
#   * both CLIs answer "pong" talking to the stub directly (the CLIs, their
#     offline set-up and the stub are sound, whatever the gateway does);
#   * through the gateway, `claude -p "say ping"` (route /anthropic, mode
#     anthropic, upstream api = anthropic) and `codex exec "say ping"` (route
#     /v1, mode openai, the Responses API) print the stub's "pong";
#   * the usage log names the consumer with the stub's tokens (cache reads,
#     cache writes, reasoning) and a cost that prices cache reads at
#     cached_input_per_1m and cache writes at cache_write_per_1m; Claude
#     Code's session id and the upstream's request id are recorded;
#   * the stub saw the upstream key (x-api-key for the anthropic upstream,
#     Bearer for the openai one), never the consumer's key; Claude Code's
#     anthropic-beta and ?beta=true reached it;
#   * a prompt with a blocked word and a consumer not allowed on the route
#     are refused by the gateway: each CLI fails and the stub sees nothing.
#
# The CLIs go to $AIGW_AGENTS_DIR (default build/agents), reinstalled only
# when the versions wanted change: AIGW_CLAUDE_CODE_VERSION (default
# 2.1.197) and AIGW_CODEX_VERSION (default 0.171.0).  Without node and npm,
# or when npm cannot reach its registry and nothing is installed yet, the
# run is skipped (exit 0).
#
# How each CLI runs offline (found by running them against the stub):
#
# Claude Code: `claude -p PROMPT --model MODEL` with, in an otherwise empty
#   environment: HOME=<scratch> (it writes HOME/.claude.json and
#   HOME/.claude/), ANTHROPIC_BASE_URL=http://HOST/anthropic (the API root:
#   it appends /v1/messages), ANTHROPIC_API_KEY=KEY (sent as x-api-key) or
#   ANTHROPIC_AUTH_TOKEN=KEY (sent as Authorization: Bearer),
#   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1, DISABLE_AUTOUPDATER=1, and
#   CLAUDE_CODE_MAX_RETRIES=0 (else a 5xx or 429 is retried ten times with
#   back-off, minutes before it gives up).
#   Version 2.1.197 then sends exactly two requests:
#     HEAD <base>/            (a reachability probe; any answer will do)
#     POST <base>/v1/messages?beta=true   stream: true, 24 tools, headers
#       x-api-key, anthropic-version: 2023-06-01, anthropic-beta:
#       claude-code-20250219,interleaved-thinking-2025-05-14,... ,
#       x-claude-code-session-id: <uuid>, x-app: cli,
#       anthropic-dangerous-direct-browser-access: true, x-stainless-*.
#   No count_tokens, no /v1/models, no side call to a small model.  An
#   error answer prints "API Error: STATUS MESSAGE" and exits 1.
#
# Codex CLI: `codex exec --skip-git-repo-check --sandbox read-only PROMPT`
#   with stdin from /dev/null (else it waits for more input), HOME and
#   CODEX_HOME=<scratch>, and CODEX_HOME/config.toml:
#     model = "gpt-4o-mini"
#     model_provider = "aigw"
#     [model_providers.aigw]
#     name = "aigw"
#     base_url = "http://HOST/v1"
#     wire_api = "responses"
#     env_key = "AIGW_KEY"          (the key is then read from $AIGW_KEY)
#     request_max_retries = 0
#     stream_max_retries = 0
#   Version 0.171.0 then sends one request:
#     POST <base_url>/responses   stream: true, store: false, include:
#       ["reasoning.encrypted_content"], prompt_cache_key, client_metadata,
#       tools; headers Authorization: Bearer KEY, Accept:
#       text/event-stream, Accept-Encoding: zstd,gzip, originator:
#       codex_exec, session-id, thread-id, x-client-request-id,
#       x-codex-beta-features, x-codex-window-id, x-codex-turn-metadata.
#   It needs response.output_item.done (the message item) and
#   response.completed; it prints the answer on stdout, its banner and
#   "ERROR: BODY" (exit 1) on stderr.  Warnings about bubblewrap, model
#   metadata and PATH aliases under /tmp are harmless.

. "$(dirname "$0")/../setup.sh"

need curl
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	skip "node and npm are needed to install Claude Code and Codex CLI"
fi
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

AGENTS_DIR=${AIGW_AGENTS_DIR:-$AIGW_BUILD/agents}
CLAUDE_VERSION=${AIGW_CLAUDE_CODE_VERSION:-2.1.197}
CODEX_VERSION=${AIGW_CODEX_VERSION:-0.171.0}
CLAUDE=$AGENTS_DIR/node_modules/.bin/claude
CODEX=$AGENTS_DIR/node_modules/.bin/codex
CLAUDE_MODEL=claude-sonnet-4-5-20250929
CODEX_MODEL=gpt-4o-mini
BLOCKED_WORD=zebracorn

# Installs the CLIs unless AGENTS_DIR holds the versions wanted.
install_clis() {
	local want="claude-code@$CLAUDE_VERSION codex@$CODEX_VERSION"
	local stamp=$AGENTS_DIR/.aigw-installed
	if [ -x "$CLAUDE" ] && [ -x "$CODEX" ] &&
		[ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	mkdir -p "$AGENTS_DIR" || bail "cannot create $AGENTS_DIR"
	if ! timeout 60 npm view "@openai/codex@$CODEX_VERSION" version \
		>"$T/npm-view.out" 2>&1; then
		sed 's/^/#   /' "$T/npm-view.out" | tail -n 5
		skip "npm cannot reach its registry; Claude Code and Codex CLI not installed"
	fi
	diag "installing $want into $AGENTS_DIR"
	if ! (cd "$AGENTS_DIR" && npm_config_update_notifier=false \
		timeout 600 npm install --prefix "$AGENTS_DIR" --no-audit \
		--no-fund "@anthropic-ai/claude-code@$CLAUDE_VERSION" \
		"@openai/codex@$CODEX_VERSION") >"$T/npm.out" 2>&1; then
		sed 's/^/#   /' "$T/npm.out" | tail -n 30
		bail "npm install of the CLIs failed"
	fi
	[ -x "$CLAUDE" ] && [ -x "$CODEX" ] || bail "npm installed no claude or codex"
	printf '%s\n' "$want" >"$stamp"
}
install_clis
diag "$("$CLAUDE" --version 2>&1 | head -n 1); $("$CODEX" --version 2>&1 | head -n 1)"

mkdir -p "$T/home" "$T/work" "$T/codex-home"

# claude_run OUT BASE-URL KEY-VARIABLE KEY PROMPT: Claude Code in print mode
# in an empty environment; stdout to $T/OUT.out, stderr to $T/OUT.err.
# Returns its exit status.
claude_run() {
	local out=$1 base=$2 var=$3 key=$4 prompt=$5
	(cd "$T/work" && env -i PATH="$PATH" HOME="$T/home" TERM=dumb \
		NO_PROXY=127.0.0.1 "$var=$key" ANTHROPIC_BASE_URL="$base" \
		CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
		CLAUDE_CODE_MAX_RETRIES=0 \
		timeout 90 "$CLAUDE" -p "$prompt" --model "$CLAUDE_MODEL" \
		</dev/null >"$T/$out.out" 2>"$T/$out.err")
}

# codex_run OUT BASE-URL KEY PROMPT: codex exec with a provider at BASE-URL
# speaking the Responses API.
codex_run() {
	local out=$1 base=$2 key=$3 prompt=$4
	cat >"$T/codex-home/config.toml" <<TOML
model = "$CODEX_MODEL"
model_provider = "aigw"

[model_providers.aigw]
name = "aigw"
base_url = "$base"
wire_api = "responses"
env_key = "AIGW_KEY"
request_max_retries = 0
stream_max_retries = 0
TOML
	(cd "$T/work" && env -i PATH="$PATH" HOME="$T/home" TERM=dumb \
		NO_PROXY=127.0.0.1 CODEX_HOME="$T/codex-home" AIGW_KEY="$key" \
		timeout 90 "$CODEX" exec --skip-git-repo-check --sandbox read-only \
		"$prompt" </dev/null >"$T/$out.out" 2>"$T/$out.err")
}

# ran_ok NAME RC OUT: a check that the CLI run exited 0 and printed "pong".
ran_ok() {
	local name=$1 rc=$2 out=$3
	if [ "$rc" = 0 ] && grep -q pong "$T/$out.out"; then
		_ok "$name"
	else
		_not_ok "$name"
		diag "exit status $rc; stdout: $(head -c 400 "$T/$out.out")"
		diag "stderr: $(tail -c 600 "$T/$out.err")"
		return 1
	fi
}

# refused NAME RC OUT WANT: the CLI failed, its output mentions WANT (the
# status), and the stub saw nothing new (STUB_BEFORE).
refused() {
	local name=$1 rc=$2 out=$3 want=$4
	if [ "$rc" != 0 ] && [ "$(stub_count)" = "$STUB_BEFORE" ] &&
		grep -q -- "$want" "$T/$out.out" "$T/$out.err"; then
		_ok "$name"
	else
		_not_ok "$name"
		diag "exit status $rc, stub requests $STUB_BEFORE -> $(stub_count)"
		diag "stdout: $(head -c 300 "$T/$out.out")"
		diag "stderr: $(tail -c 400 "$T/$out.err")"
		return 1
	fi
}

# stub_since N EXPR: EXPR, a Python expression over `rs` (the requests the
# stub logged after its first N), is true.
stub_since() {
	"$PYTHON" - "$STUB_LOG" "$1" "$2" <<'PY'
import json, sys
path, n, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rs = [json.loads(l) for l in open(path, encoding="utf-8").read().splitlines()][n:]
ok = eval("(" + expr + ")", {"rs": rs, "json": json})
if not ok:
    for r in rs:
        print(r["method"], r["path"], r["query"],
              {k: v for k, v in r["headers"].items()
               if k in ("x-api-key", "authorization", "anthropic-version",
                        "anthropic-beta", "x-claude-code-session-id")})
sys.exit(0 if ok else 1)
PY
}

stub_lines() {
	wc -l <"$STUB_LOG" | tr -d ' '
}

usage_lines() {
	[ -f "$USAGE_LOG" ] && wc -l <"$USAGE_LOG" | tr -d ' ' || echo 0
}

# usage_since N ROUTE COND: the last usage record after line N on ROUTE with
# status 200 (waited for up to 10 s) satisfies COND, over `u`.
usage_since() {
	"$PYTHON" - "$USAGE_LOG" "$1" "$2" "$3" <<'PY'
import json, sys, time
path, n, route, cond = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rec = None
deadline = time.time() + 10
while rec is None and time.time() < deadline:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()[n:]
    except OSError:
        lines = []
    for line in lines:
        try:
            u = json.loads(line)
        except ValueError:
            continue
        if u.get("route") == route and u.get("status") == 200:
            rec = u
    if rec is None:
        time.sleep(0.2)
if rec is None:
    print("no usage record on route %s with status 200 after line %d" %
          (route, n))
    sys.exit(1)
ok = eval("(" + cond + ")", {"u": rec, "abs": abs})
if not ok:
    print("record: " + json.dumps(rec))
sys.exit(0 if ok else 1)
PY
}

# ---- the stub: fixed usage, with cache reads and writes and reasoning.
# Anthropic: input 500 + cache reads 200 + cache writes 100, output 500.
# OpenAI: input 500 (200 of them cached), output 500 (50 reasoning).
start_stub --usage-tokens 1000 --cached-tokens 200 --cache-write-tokens 100 \
	--reasoning-tokens 50

# ---- the CLIs straight against the stub (no gateway).
n=$(stub_lines)
claude_run direct-claude "http://127.0.0.1:$STUB_PORT" ANTHROPIC_API_KEY \
	sk-direct-claude "say ping"
ran_ok "claude -p against the stub prints pong" $? direct-claude
check "claude -p against the stub: POST /v1/messages?beta=true, stream, x-api-key" \
	stub_since "$n" 'any(r["path"] == "/v1/messages" and "beta=true" in r["query"]
and r["body_json"].get("stream") is True
and r["headers"].get("x-api-key") == "sk-direct-claude" for r in rs)'
n=$(stub_lines)
codex_run direct-codex "http://127.0.0.1:$STUB_PORT/v1" sk-direct-codex "say ping"
ran_ok "codex exec against the stub prints pong" $? direct-codex
check "codex exec against the stub: POST /v1/responses, stream, Bearer" \
	stub_since "$n" 'any(r["path"] == "/v1/responses"
and r["body_json"].get("stream") is True
and r["headers"].get("authorization") == "Bearer sk-direct-codex" for r in rs)'

# ---- the policy: the seed policy, an openai route and an anthropic route.
seed_policy "$T/aigw.ini"
AGENT_KEY=sk-aigw-agent-3f9c2e71d4b8a605
OUTSIDER_KEY=sk-aigw-outsider-77aa0c1e5d92
ANTHROPIC_UPSTREAM_KEY=sk-ant-upstream-secret-key
USAGE_LOG=$T/log/usage.jsonl
cat >>"$T/aigw.ini" <<INI

[upstream claude]
url     = http://127.0.0.1:$STUB_PORT
api     = anthropic
api_key = $ANTHROPIC_UPSTREAM_KEY

[consumer agent]
credential = $AGENT_KEY

[consumer outsider]
credential = $OUTSIDER_KEY

[route v1]
path        = /v1
mode        = openai
upstream    = openai
allow       = agent
block_bodies = $BLOCKED_WORD

[route anthropic]
path        = /anthropic
mode        = anthropic
upstream    = claude
allow       = agent
block_bodies = $BLOCKED_WORD

[model $CLAUDE_MODEL]
input_per_1m        = 3
output_per_1m       = 15
cached_input_per_1m = 0.3
cache_write_per_1m  = 3.75

[model $CODEX_MODEL]
input_per_1m        = 0.15
output_per_1m       = 0.6
cached_input_per_1m = 0.075
INI
if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the policy" "$AIGWCTL" -c "$T/aigw.ini" check
fi

start_lighttpd "$T/aigw.ini" 2
diag "lighttpd on $GW_URL, stub on http://127.0.0.1:$STUB_PORT"

# ---- Claude Code through the gateway.
n=$(stub_lines)
un=$(usage_lines)
claude_run gw-claude "$GW_URL/anthropic" ANTHROPIC_API_KEY "$AGENT_KEY" "say ping"
ran_ok "claude -p through the gateway prints pong" $? gw-claude
check "claude: the stub got /v1/messages?beta=true with the upstream key as x-api-key" \
	stub_since "$n" "any(r['path'] == '/v1/messages' and 'beta=true' in r['query']
and r['headers'].get('x-api-key') == '$ANTHROPIC_UPSTREAM_KEY'
and 'authorization' not in r['headers'] for r in rs)"
check "claude: anthropic-version and anthropic-beta reached the stub" \
	stub_since "$n" 'any(r["path"] == "/v1/messages"
and r["headers"].get("anthropic-version") == "2023-06-01"
and "claude-code-20250219" in r["headers"].get("anthropic-beta", "") for r in rs)'
# prompt = 500 + 200 + 100, completion 500; cost = (800 - 200 - 100) * 3
# + 200 * 0.3 + 100 * 3.75 + 500 * 15 = 9435 per million.
check "claude: usage log: consumer, tokens with cache reads and writes" \
	usage_since "$un" anthropic 'u.get("consumer") == "agent"
and u.get("prompt_tokens") == 800 and u.get("completion_tokens") == 500
and u.get("total_tokens") == 1300 and u.get("cached_tokens") == 200
and u.get("cache_write_tokens") == 100 and u.get("stream") is True'
check "claude: usage log: cost prices cache reads and writes (0.009435)" \
	usage_since "$un" anthropic 'abs((u.get("cost_usd") or 0) - 0.009435) < 1e-9'
# The session id is Claude Code's own (a UUID it sends as
# X-Claude-Code-Session-Id); the gateway records it and does not pass it on.
check "claude: usage log: session (a UUID) and upstream_request_id" \
	usage_since "$un" anthropic "__import__('re').fullmatch('[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', str(u.get('session', '')))
and str(u.get('upstream_request_id', '')).startswith('req_')"

n=$(stub_lines)
claude_run gw-claude-bearer "$GW_URL/anthropic" ANTHROPIC_AUTH_TOKEN "$AGENT_KEY" "say ping"
ran_ok "claude -p with ANTHROPIC_AUTH_TOKEN (Bearer) through the gateway" $? gw-claude-bearer
check "claude: the consumer's key never reached the stub" \
	stub_since 0 "not any('$AGENT_KEY' in json.dumps(r) for r in rs)"

# ---- Codex through the gateway.
un=$(usage_lines)
codex_run gw-codex "$GW_URL/v1" "$AGENT_KEY" "say ping"
ran_ok "codex exec through the gateway prints pong" $? gw-codex
# prompt 500 (200 cached), completion 500 (50 reasoning); cost = 300 * 0.15
# + 200 * 0.075 + 500 * 0.6 = 360 per million.
check "codex: usage log: consumer, tokens with cached and reasoning tokens" \
	usage_since "$un" v1 'u.get("consumer") == "agent"
and u.get("prompt_tokens") == 500 and u.get("completion_tokens") == 500
and u.get("cached_tokens") == 200 and u.get("reasoning_tokens") == 50
and u.get("model") == "gpt-4o-mini" and u.get("stream") is True'
check "codex: usage log: cost prices cached tokens (0.00036)" \
	usage_since "$un" v1 'abs((u.get("cost_usd") or 0) - 0.00036) < 1e-9
and str(u.get("upstream_request_id", "")).startswith("req_")'
check "codex: the stub got the upstream key, never the consumer's" \
	stub_since 0 "not any('$AGENT_KEY' in json.dumps(r) for r in rs) and
any(r['path'] == '/v1/responses' and
r['headers'].get('authorization') == 'Bearer $UPSTREAM_KEY' for r in rs)"

# ---- refusals: a blocked word, a consumer not on the route.
STUB_BEFORE=$(stub_count)
claude_run gw-claude-blocked "$GW_URL/anthropic" ANTHROPIC_API_KEY "$AGENT_KEY" \
	"tell me about the $BLOCKED_WORD"
refused "claude: a blocked word is refused (403), the stub sees nothing" $? \
	gw-claude-blocked 403
codex_run gw-codex-blocked "$GW_URL/v1" "$AGENT_KEY" "tell me about the $BLOCKED_WORD"
refused "codex: a blocked word is refused (403), the stub sees nothing" $? \
	gw-codex-blocked 403
claude_run gw-claude-outsider "$GW_URL/anthropic" ANTHROPIC_API_KEY \
	"$OUTSIDER_KEY" "say ping"
refused "claude: a consumer not on the route is refused (403)" $? \
	gw-claude-outsider 403
grep -q permission_error "$T/gw-claude-outsider.out" "$T/gw-claude-outsider.err" ||
	diag "claude outsider: no permission_error in its output"
codex_run gw-codex-outsider "$GW_URL/v1" "$OUTSIDER_KEY" "say ping"
refused "codex: a consumer not on the route is refused (403)" $? \
	gw-codex-outsider 403
claude_run gw-claude-nokey "$GW_URL/anthropic" ANTHROPIC_API_KEY \
	sk-aigw-not-a-key "say ping"
refused "claude: an unknown key is refused (401)" $? gw-claude-nokey 401

stop_server
finish
