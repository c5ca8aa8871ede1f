#!/bin/bash
# t0100-pipeline.sh: the pipeline's answers, run as plain CGI: 401, 403, a
# blocked request, 404, 405, 413, 429 and 200, their headers
# (WWW-Authenticate, X-AIGW-Consumer, Retry-After) and usage records.

. "$(dirname "$0")/setup.sh"

scratch_init
cgi_policy "[route v1]
path  = /v1
mode  = openai
allow = consumer1
query_per_minute = 2"

KEY=(-H 'apikey: xxxxxx')
BEARER=(-H 'Authorization: Bearer xxxxxx')
CHAT='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}'

cgi_expect "no key" 401 GET "/?text=hi"
expect_eq "  WWW-Authenticate" 'Bearer realm="aigw"' "$(header WWW-Authenticate)"
expect_eq "  usage: unauthorized" "401 unauthorized" "$(usage_last status reason)"
cgi_expect "a wrong key" 401 -H 'apikey: nope' GET "/?text=hi"

cgi_expect "consumer2 on a route for consumer1" 403 -H 'apikey: yyyyyy' GET "/?text=hi"
expect_eq "  X-AIGW-Consumer" consumer2 "$(header X-AIGW-Consumer)"
expect_eq "  code" consumer_not_allowed "$(json_get 'j["error"]["code"]')"

cgi_expect "a blocked URL (blocked_code 404)" 404 "${KEY[@]}" GET "/?text=my%20PassWord"
expect_eq "  code" request_blocked "$(json_get 'j["error"]["code"]')"
expect_eq "  usage: blocked" "404 blocked" "$(usage_last status reason)"

cgi_expect "an unknown OpenAI endpoint" 404 "${BEARER[@]}" GET "/v1/nothing"
expect_eq "  code" unknown_url "$(json_get 'j["error"]["code"]')"

cgi_expect "DELETE on the prompt route" 405 "${KEY[@]}" DELETE "/?text=hi"
cgi_expect "DELETE on /v1/chat/completions" 405 "${BEARER[@]}" DELETE "/v1/chat/completions"

sed -i 's/^max_body .*/max_body  = 1048576/' "$T/aigw.ini" # 1 MiB for this case
big=$(head -c 1100000 /dev/zero | tr '\0' a)
cgi_expect "a body over max_body" 413 "${BEARER[@]}" -d "$big" POST "/v1/chat/completions"
expect_eq "  usage: too_large" "413 too_large" "$(usage_last status reason)"
n0=$(stub_count)

cgi_expect "prompt GET" 200 "${KEY[@]}" GET "/?text=hi"
expect_eq "  X-AIGW-Consumer" consumer1 "$(header X-AIGW-Consumer)"
expect_eq "  usage: route, consumer, tokens" "chat consumer1 200 3" \
	"$(usage_last route consumer status total_tokens)"

cgi_expect "chat POST (1 of 2 a minute)" 200 "${BEARER[@]}" -d "$CHAT" POST "/v1/chat/completions"
expect_eq "  the stub's answer" "echo: hello there" "$(json_get 'j["choices"][0]["message"]["content"]')"
expect_eq "  usage: model, tokens" "v1 gpt-4o-mini 200 5" \
	"$(usage_last route model status total_tokens)"
cgi_expect "chat POST (2 of 2)" 200 "${BEARER[@]}" -d "$CHAT" POST "/v1/chat/completions"
cgi_expect "chat POST (3 of 2)" 429 "${BEARER[@]}" -d "$CHAT" POST "/v1/chat/completions"
check "  Retry-After is a number of seconds" \
	grep -Eq '^[1-9][0-9]*$' <<<"$(header Retry-After)"
expect_eq "  usage: rate_limit" "429 rate_limit" "$(usage_last status reason)"
expect_eq "the stub saw only the 3 requests answered 200" 3 $(($(stub_count) - n0))

check "every usage line is a JSON object" "$PYTHON" -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    assert isinstance(json.loads(line), dict), line
' "$USAGE_LOG"
finish
