#!/bin/bash
# t0200-upstream.sh: what a broken or hostile upstream gets, run as plain
# CGI: an error body dripped a byte at a time to a streamed request (504 at
# about timeout_ms), a status outside 100-599 (502), a server error relayed
# as it is, an endless stream cut at max_answer and at stream_timeout.

. "$(dirname "$0")/setup.sh"

scratch_init
cgi_policy "[route v1]
path  = /v1
mode  = openai
allow = consumer1"
sed -i 's/^timeout_ms .*/timeout_ms = 1000/' "$T/aigw.ini"

BEARER=(-H 'Authorization: Bearer xxxxxx')
CHAT='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
STREAM='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'

now_ms() {
	date +%s%3N
}

stub_behavior drip
for body in "$STREAM" "$CHAT"; do
	t0=$(now_ms)
	cgi_expect "a dripped error body ($(json_get 'j.get("stream", False)' <(echo "$body")))" 504 \
		"${BEARER[@]}" -d "$body" POST /v1/chat/completions
	t1=$(now_ms)
	check "  within timeout_ms (1000) + 1 s: $((t1 - t0)) ms" test $((t1 - t0)) -lt 2000
	expect_eq "  code" upstream_timeout "$(json_get 'j["error"]["code"]')"
done

stub_behavior status700
cgi_expect "status 700 from the upstream" 502 "${BEARER[@]}" -d "$CHAT" POST /v1/chat/completions
expect_eq "  code" upstream_unreachable "$(json_get 'j["error"]["code"]')"
cgi_expect "status 700 to a streamed request" 502 "${BEARER[@]}" -d "$STREAM" \
	POST /v1/chat/completions
expect_eq "  usage: status 502" 502 "$(usage_last status)"

stub_behavior error500
cgi_expect "a 500 is relayed as it is" 500 "${BEARER[@]}" -d "$CHAT" POST /v1/chat/completions

# An endless stream: cut at max_answer, then at stream_timeout; the usage
# is counted from what was seen.
stub_behavior endless
sed -i 's/^max_body .*/&\nmax_answer = 65536/' "$T/aigw.ini"
t0=$(now_ms)
cgi_expect "an endless stream, max_answer 64 KiB" 200 "${BEARER[@]}" -d "$STREAM" \
	POST /v1/chat/completions
t1=$(now_ms)
check "  cut within 5 s: $((t1 - t0)) ms" test $((t1 - t0)) -lt 5000
check "  at most 64 KiB relayed: $(wc -c <"$T/body")" test "$(wc -c <"$T/body")" -le 65536
expect_eq "  usage: cut, tokens counted" "200 stream_cut True" \
	"$("$PYTHON" -c 'import json,sys; u=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(u["status"], u["reason"], u["completion_tokens"] > 1000)' "$USAGE_LOG")"
sed -i 's/^max_answer = 65536/max_answer = 1073741824\nstream_timeout = 2/' "$T/aigw.ini"
t0=$(now_ms)
cgi_expect "an endless stream, stream_timeout 2 s" 200 "${BEARER[@]}" -d "$STREAM" \
	POST /v1/chat/completions
t1=$(now_ms)
check "  cut at about 2 s: $((t1 - t0)) ms" test $((t1 - t0)) -ge 1900 -a $((t1 - t0)) -lt 4000
expect_eq "  usage: cut" "200 stream_cut" "$(usage_last status reason)"
sed -i '/^stream_timeout = 2/d' "$T/aigw.ini"

stub_behavior normal
cgi_expect "afterwards, a streamed request" 200 "${BEARER[@]}" -d "$STREAM" POST /v1/chat/completions
check "  ends with [DONE]" grep -q 'data: \[DONE\]' "$T/body"
finish
