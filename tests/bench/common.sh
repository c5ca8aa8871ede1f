# tests/bench/common.sh: what tests/bench/run.sh and tests/bench/profile.sh
# share, sourced after tests/setup.sh: the keys and bodies of the requests,
# the bench policy and the nginx upstream.

UPSTREAM_KEY=sk-upstream-bench-0123456789
APP_KEY=sk-bench-app-0123456789abcdef
PROMPT_KEY=xxxxxx
CHAT_BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}'
STREAM_BODY='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'

have() {
	command -v "$1" >/dev/null 2>&1
}

note() {
	printf '# %s\n' "$*" >&2
}

# The request of each kind: method, path, body, headers ("|"-separated).
kind_env() {
	local kind=$1 target=$2
	case $kind in
	chat)
		K_METHOD=POST
		K_PATH=/v1/chat/completions
		K_BODY=$CHAT_BODY
		K_HEADERS="Authorization: Bearer $APP_KEY"
		if [ "$target" = portkey ]; then
			K_HEADERS="Authorization: Bearer $UPSTREAM_KEY|x-portkey-provider: openai"
			K_HEADERS="$K_HEADERS|x-portkey-custom-host: http://127.0.0.1:$UP_PORT/v1"
		fi
		;;
	prompt)
		K_METHOD=GET
		K_PATH='/?text=Say,hello'
		K_BODY=
		K_HEADERS="apikey: $PROMPT_KEY"
		;;
	esac
}

# write_policy FILE DIR: the realistic policy, with its state and usage log
# in DIR: key auth (10 consumers, "apikey" header or Bearer), 20 block
# strings on the URL and 20 on the body of both routes (case insensitive), a
# request window on each consumer (query_per_second far above any load), the
# usage log, a price for the model, the prompt route at /, an OpenAI-mode
# route at /v1 (both to the nginx upstream, UP_PORT) and an OpenAI-mode route
# at /stream to STUB_URL (the nginx upstream when no stub runs).
write_policy() {
	local out=$1 d=$2 i
	local urls="password, passwd, pw, secret, api_key=, access_token, /etc/shadow, ../,
  <script, javascript:, union select, drop table, wp-admin, .env, .git/, cmd.exe,
  /bin/sh, base64_decode, phpinfo, xmlrpc"
	local bodies="password, passwd, secret_key, private key, BEGIN RSA, credit card,
  <ssn>, social security, ignore previous instructions, jailbreak, DAN mode,
  system prompt, <script, drop table, union select, sk-live-, AKIA, ghp_,
  xoxb-, confidential"
	mkdir -p "$d/state" "$d/log"
	{
		cat <<EOF
; the bench policy (tests/bench/common.sh)
[gateway]
state_dir = $d/state
usage_log = $d/log/usage.jsonl
${BENCH_THREADS:+threads   = $BENCH_THREADS}

[upstream main]
url        = http://127.0.0.1:$UP_PORT/v1
api_key    = $UPSTREAM_KEY
model      = gpt-4o-mini
timeout_ms = 30000

[upstream stub]
url        = ${STUB_URL:-http://127.0.0.1:$UP_PORT/v1}
api_key    = $UPSTREAM_KEY
model      = gpt-4o-mini
timeout_ms = 30000

[auth]
keys        = apikey
in_header   = true
global_auth = true

[consumer app]
credential       = $APP_KEY
query_per_second = 1000000

[consumer consumer1]
credential       = $PROMPT_KEY
query_per_second = 1000000
EOF
		for i in 3 4 5 6 7 8 9 10; do
			printf '\n[consumer user%d]\ncredential       = sk-bench-user-%02d-0123456789\n' "$i" "$i"
			printf 'query_per_second = 1000000\n'
		done
		cat <<EOF

[route chat]
path           = /
mode           = prompt
upstream       = main
prompt_param   = text
block_urls     = $urls
block_bodies   = $bodies
blocked_code   = 404
case_sensitive = false

[route api]
path           = /v1
mode           = openai
upstream       = main
block_urls     = $urls
block_bodies   = $bodies
case_sensitive = false

[route stream]
path     = /stream
mode     = openai
upstream = stub

[model gpt-4o-mini]
input_per_1m  = 0.15
output_per_1m = 0.60
EOF
	} >"$out"
	# It holds keys: readable by the servers' user only, as INSTALL says.
	if [ "$(id -u)" = 0 ]; then
		chgrp www-data "$out"
		chmod 0640 "$out"
	else
		chmod 0644 "$out"
	fi
	_www_data "$d/state" "$d/log"
}

# ---------------------------------------------------------------- upstream

# start_upstream: nginx on a free port answering a canned chat completion
# (with a usage object) to POST /v1/chat/completions, /chat/completions and
# anything else, keep-alive; sets UP_PORT and UP_PID.
start_upstream() {
	local d=$T/upstream canned
	UP_PORT=$(free_port)
	mkdir -p "$d/tmp"
	canned='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}'
	cat >"$T/upstream.conf" <<EOF
# the bench upstream: a canned chat completion
worker_processes 1;
pid              $d/nginx.pid;
error_log        $d/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $d/tmp/client_body;
    proxy_temp_path       $d/tmp/proxy;
    fastcgi_temp_path     $d/tmp/fastcgi;
    uwsgi_temp_path       $d/tmp/uwsgi;
    scgi_temp_path        $d/tmp/scgi;
    server {
        listen 127.0.0.1:$UP_PORT;
        default_type application/json;
        location = /v1/chat/completions { return 200 '$canned'; }
        location = /chat/completions    { return 200 '$canned'; }
        # anything else (the direct target of the prompt GET) as well
        location / { return 200 '$canned'; }
    }
}
EOF
	nginx -t -q -e "$d/error.log" -p "$d/" -c "$T/upstream.conf" >"$T/upstream.out" 2>&1 || {
		sed 's/^/#   /' "$T/upstream.out"
		bail "nginx refuses $T/upstream.conf"
	}
	start_bg upstream nginx -e "$d/error.log" -p "$d/" -c "$T/upstream.conf" -g 'daemon off;'
	UP_PID=$BG_PID
	wait_for_port "$UP_PORT" || bail "the nginx upstream did not start"
}

