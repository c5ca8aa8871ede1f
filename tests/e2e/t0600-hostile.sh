#!/bin/bash
# t0600-hostile.sh: hostile input from clients and from the upstream.
#
# Under lighttpd (with its default request limits, then raised ones, then a
# policy with a large max_body for the JSON bombs) and, for what the URL
# carries, under Apache too, which passes on raw URLs that lighttpd refuses.
# Each answer is checked for who made it: "gw STATUS CODE" when the gateway
# answered (it puts X-AIGW-Request-Id on every answer, and CODE is its
# error code), "server STATUS" when the web server answered by itself.
#
#   - request bodies over max_body (Content-Length, chunked, a Content-Length
#     larger than what is sent), 64 KB headers, 150 headers, 16 KB and 66 KB
#     query strings, under default and raised server limits;
#   - bad percent-encoding, NUL, CR LF and invalid UTF-8 in prompts (query
#     and form) and in keys; duplicate key headers;
#   - deeply nested JSON and JSON with 100,000 keys (timed);
#   - an upstream that closes mid-answer, sends a gzip bomb, endless
#     headers, a 33 MiB answer, a 5 MiB event, a Content-Type with a CR;
#   - slow clients (1 byte per 100 ms) while others are served;
#   - X-AIGW-* headers sent by the client, header injection;
#   - and at the end: no crashed worker, every worker answers, every usage
#     log line is JSON, and no key appears in any answer or log;
#   - then, each on its own stub and server: an error body dripped to a
#     streamed request (504 at timeout_ms), an endless stream (cut at
#     max_answer), a status 700 (502), fullwidth and zero-width letters in a
#     blocked word.
#

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

RAW=$AIGW_TOP/tests/lib/rawhttp.py
PROCS=2
QKEY=qkey-7f3a9c    # consumer3's key, sent in query strings
QKEY2=qkey-51d2e0   # consumer6's, the same
# Request files that hold keys: left out of the secrets check at the end.
mkdir -p "$T/req"

# 400 ms for "slow": long enough to keep every worker busy at once.
start_stub --slow-ms 400
seed_policy "$T/aigw.ini"
"$PYTHON" - "$T/aigw.ini" "$QKEY" "$QKEY2" <<'EOF' || bail "cannot edit the policy"
import re, sys
path, qkey, qkey2 = sys.argv[1:]
s = open(path, encoding="utf-8").read()
for pat, new in ((r"(?m)^max_body\s*=.*$", "max_body  = 65536"),
                 (r"(?m)^timeout_ms\s*=.*$", "timeout_ms  = 1500"),
                 (r"(?m)^in_query\s*=.*$", "in_query    = true"),
                 (r"(?m)^allow\s*=.*$", "allow          = consumer1, consumer3")):
    s, n = re.subn(pat, new, s)
    assert n == 1, pat
s += """
[consumer consumer3]
credential = %s

[consumer consumer6]
credential = %s

[route v1]
path  = /v1
mode  = openai
allow = consumer1

[route vb]
path         = /vb
mode         = openai
allow        = consumer1
block_bodies = password
""" % (qkey, qkey2)
open(path, "w", encoding="utf-8").write(s)
EOF
# The same with a large max_body, for the JSON with 100,000 keys.
sed 's/^max_body .*/max_body  = 4194304/' "$T/aigw.ini" >"$T/aigw-big.ini"
chmod 0644 "$T/aigw.ini" "$T/aigw-big.ini"
if [ -x "$AIGWCTL" ]; then
	check "aigwctl check accepts the hostile-test policy" \
		"$AIGWCTL" -c "$T/aigw.ini" check
fi

USAGE_LOG=$T/log/usage.jsonl
KEY=(-H 'apikey: xxxxxx')
BEARER=(-H 'Authorization: Bearer xxxxxx')
JSON=(-H 'Content-Type: application/json')

now_ms() {
	date +%s%3N
}

# answer STATUS: who made the last answer, and how (see the top).
answer() {
	local code
	if [ -z "$(header X-AIGW-Request-Id)" ]; then
		echo "server $1"
	elif [ "$1" = 200 ]; then
		echo "gw 200"
	else
		code=$(json_get 'j["error"]["code"]' 2>/dev/null) || code="(not JSON)"
		echo "gw $1 $code"
	fi
}

# expect_answer NAME EXPECTED CURL-ARGS...
expect_answer() {
	local name=$1 want=$2 st
	shift 2
	st=$(http "$@")
	expect_eq "$name -> $want" "$want" "$(answer "$st")" ||
		diag "body: $(head -c 200 "$T/body" | tr -d '\r\n')"
}


# expect_answer_in NAME "EXPECTED|EXPECTED..." CURL-ARGS...: one of them.
expect_answer_in() {
	local name=$1 want=$2 st got
	shift 2
	st=$(http "$@")
	got=$(answer "$st")
	case "|$want|" in
	*"|$got|"*) _ok "$name -> $got" ;;
	*)
		_not_ok "$name -> $want"
		diag "got: $got; body: $(head -c 200 "$T/body" | tr -d '\r\n')"
		;;
	esac
}

# The last answer's headers hold no header line that was injected.
no_injected_header() {
	! tr -d '\r' <"$T/headers" | grep -qi '^x-injected'
}

# prompt_is PYTHON-LITERAL: the prompt the upstream got last.
prompt_is() {
	expect_eq "  upstream got the prompt $1" True \
		"$(stub_last "str(r['body_json']['messages'][0]['content'] == $1)")"
}

# raw NAME [rawhttp.py ARGS...]: a hand-made request (head in $T/req/NAME);
# prints the status ("000": none came) and keeps the answer in $T/raw.out.
raw() {
	local name=$1
	shift
	"$PYTHON" "$RAW" --head "$T/req/$name" --out "$T/raw.out" "$@" "$GW_PORT"
}

# The pid in a request id (SECONDS-PID-COUNT, hexadecimal).
rid_pid() {
	local rid=$1
	rid=${rid#*-}
	printf '%d\n' "0x${rid%%-*}"
}

# workers_ok LABEL: nothing crashed since the server started (the same
# FastCGI processes), and 3 x PROCS requests, PROCS at a time against a
# slow upstream, all get 200 and between them reach every process.
workers_ok() {
	local label=$1 round i pids got seen="" bg
	pids=$(fcgi_pids | sort -n | tr '\n' ' ')
	expect_eq "$label: no FastCGI process died" "$START_PIDS" "$pids"
	stub_behavior slow
	for round in 1 2 3; do
		# (wait for these only: the servers are children of this shell too)
		bg=""
		for i in $(seq "$PROCS"); do
			curl -sS -o /dev/null -D "$T/w$i.h" -w '%{http_code}\n' \
				--max-time 20 "${KEY[@]}" \
				"$GW_URL/?text=worker,$round,$i" >"$T/w$i.s" 2>&1 &
			bg="$bg $!"
		done
		wait $bg
		for i in $(seq "$PROCS"); do
			got=$(cat "$T/w$i.s")
			[ "$got" = 200 ] || diag "round $round request $i: $got"
			seen="$seen $(rid_pid "$(tr -d '\r' <"$T/w$i.h" |
				sed -n 's/^X-AIGW-Request-Id: //Ip')")"
			echo "$got"
		done
	done >"$T/workers.out"
	stub_behavior normal
	expect_eq "$label: $((3 * PROCS)) requests, $PROCS at a time, all 200" \
		"$((3 * PROCS))" "$(grep -c '^200$' "$T/workers.out")"
	expect_eq "$label: every worker answered" "$pids" \
		"$(echo $seen | tr ' ' '\n' | sort -nu | tr '\n' ' ')"
}

# ----------------------------------------------------------------------
# URL-level cases, under both servers.
#
# QUERY | lighttpd's answer | Apache's answer | prompt upstream (Python) or -
URL_CASES='
text=%|gw 200|gw 200|"%"
text=%z|gw 200|gw 200|"%z"
text=%zz|gw 200|gw 200|"%zz"
text=a%|gw 200|gw 200|"a%"
text=%2|gw 200|gw 200|"%2"
text=%%41|gw 200|gw 200|"%A"
text=+a%2B|gw 200|gw 200|" a+"
text=caf%c3%a9|gw 200|gw 200|"caf\u00e9"
te%zzxt=a|gw 400 missing_prompt|gw 400 missing_prompt|-
text=|gw 400 invalid_prompt|gw 400 invalid_prompt|-
text=%00|server 400|gw 400 invalid_prompt|-
text=a%00b|server 400|gw 400 invalid_prompt|-
text=a%0d%0ab|server 400|gw 200|"a\r\nb"
text=a%0d%0aX-Injected:%201|server 400|gw 200|"a\r\nX-Injected: 1"
text=%ff%fe|server 400|gw 400 invalid_prompt|-
text=%c0%af|server 400|gw 400 invalid_prompt|-
text=%c3|gw 400 invalid_prompt|gw 400 invalid_prompt|-
text=%ed%a0%80|gw 400 invalid_prompt|gw 400 invalid_prompt|-
text=%f4%90%80%80|gw 400 invalid_prompt|gw 400 invalid_prompt|-
'
# Keys in the query string (in_query = true): a NUL never cuts a key short.
# QUERY | lighttpd | Apache  (no apikey header is sent)
KEY_CASES='
apikey=QKEY&text=hi|gw 200|gw 200
apikey=QKEY%00&text=hi|server 400|gw 401 invalid_api_key
apikey=QKEY%00zz&text=hi|server 400|gw 401 invalid_api_key
apikey=%00QKEY&text=hi|server 400|gw 401 invalid_api_key
apikey=QKEY%0d%0a&text=hi|server 400|gw 401 invalid_api_key
apikey=QKEY%zz&text=hi|gw 401 invalid_api_key|gw 401 invalid_api_key
'
# Paths: PATH | lighttpd | Apache
PATH_CASES='
/%zz?text=a|gw 200|server 400
/%?text=a|gw 200|server 400
/v1/models/a%0d%0aX-Injected:%201|server 400|gw 404 model_not_found
/v1/models/..%2f..%2fetc|gw 400 missing_prompt|server 404
/v1/models/%2e%2e|gw 404 unknown_url|gw 404 unknown_url
'
# Form bodies pass every server as they are: the same answers everywhere.
# BODY | answer | prompt upstream (Python) or -
FORM_CASES='
text=%zz|gw 200|"%zz"
text=%|gw 200|"%"
text=a%0d%0aX-Injected:%201|gw 200|"a\r\nX-Injected: 1"
text=%00|gw 400 invalid_prompt|-
text=a%00b|gw 400 invalid_prompt|-
text=%ff|gw 400 invalid_prompt|-
text=%ed%a0%80|gw 400 invalid_prompt|-
text=&text=second|gw 400 invalid_prompt|-
'

url_suite() {
	local s=$1 col q l a p want
	[ "$s" = lighttpd ] && col=2 || col=3
	while IFS='|' read -r q l a p; do
		[ -n "$q" ] || continue
		[ "$col" = 2 ] && want=$l || want=$a
		expect_answer "$s: ?$q" "$want" "${KEY[@]}" "$GW_URL/?$q"
		check "  no injected header" no_injected_header
		[ "$want" = "gw 200" ] && [ "$p" != - ] && prompt_is "$p"
	done <<<"$URL_CASES"
	while IFS='|' read -r q l a; do
		[ -n "$q" ] || continue
		[ "$col" = 2 ] && want=$l || want=$a
		q=${q//QKEY/$QKEY}
		expect_answer "$s: key in query ?${q//$QKEY/QKEY}" "$want" \
			"$GW_URL/?$q"
		if [ "$want" = "gw 200" ]; then
			expect_eq "  consumer3" consumer3 "$(header X-AIGW-Consumer)"
		fi
	done <<<"$KEY_CASES"
	while IFS='|' read -r q l a; do
		[ -n "$q" ] || continue
		[ "$col" = 2 ] && want=$l || want=$a
		expect_answer "$s: path $q" "$want" --path-as-is "${KEY[@]}" \
			"${BEARER[@]}" "$GW_URL$q"
		check "  no injected header" no_injected_header
	done <<<"$PATH_CASES"
	while IFS='|' read -r q want p; do
		[ -n "$q" ] || continue
		expect_answer "$s: form body $q" "$want" "${KEY[@]}" \
			--data-binary "$q" "$GW_URL/"
		check "  no injected header" no_injected_header
		[ "$want" = "gw 200" ] && [ "$p" != - ] && prompt_is "$p"
	done <<<"$FORM_CASES"
}

# ======================================================================
# 1. lighttpd, default request limits.
start_lighttpd "$T/aigw.ini" "$PROCS"
START_PIDS=$(fcgi_pids | sort -n | tr '\n' ' ')
diag "lighttpd on $GW_URL (FastCGI pids $START_PIDS), stub on $STUB_URL"
expect_answer "lighttpd: a normal request" "gw 200" "${KEY[@]}" "$GW_URL/?text=hi"

# --- bodies over max_body (65536).
head -c 65531 /dev/zero | tr '\0' a | sed 's/^/text=/' >"$T/req/body-64k"
head -c 70000 /dev/zero | tr '\0' a | sed 's/^/text=/' >"$T/req/body-70k"
expect_answer "lighttpd: a body of exactly max_body" "gw 200" "${KEY[@]}" \
	--data-binary "@$T/req/body-64k" "$GW_URL/"
expect_answer "lighttpd: 70 KB body with Content-Length" "gw 413 request_too_large" \
	"${KEY[@]}" --data-binary "@$T/req/body-70k" "$GW_URL/"
# lighttpd reads a chunked body whole and passes it on with its length.
expect_answer "lighttpd: 70 KB chunked body" "gw 413 request_too_large" \
	"${KEY[@]}" -H 'Transfer-Encoding: chunked' \
	--data-binary "@$T/req/body-70k" "$GW_URL/"
expect_answer "lighttpd: small chunked body" "gw 200" "${KEY[@]}" \
	-H 'Transfer-Encoding: chunked' --data-binary 'text=chunky' "$GW_URL/"

# A Content-Length larger than the body, then end of file: lighttpd waits
# for the whole body before it calls the gateway, and closes without an
# answer when the client stops sending.
printf 'POST /?x=1 HTTP/1.1\nHost: 127.0.0.1\napikey: xxxxxx\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 1000\nConnection: close\n\n' \
	>"$T/req/lying"
printf 'text=hello' >"$T/req/lying.body"
got=$(raw lying --body "$T/req/lying.body" --half-close --timeout 10)
diag "lighttpd: Content-Length 1000, 10 bytes sent, then end of file: status $got"
expect_eq "lighttpd: lying Content-Length: no answer, the connection closed" "000" "$got"
printf 'POST / HTTP/1.1\nHost: 127.0.0.1\napikey: xxxxxx\nContent-Length: abc\nConnection: close\n\n' \
	>"$T/req/cl-abc"
expect_eq "lighttpd: Content-Length abc: the server's 400" "400" \
	"$(raw cl-abc --half-close)"
printf 'POST / HTTP/1.1\nHost: 127.0.0.1\napikey: xxxxxx\nContent-Length: -1\nConnection: close\n\n' \
	>"$T/req/cl-neg"
expect_eq "lighttpd: Content-Length -1: the server's 400" "400" \
	"$(raw cl-neg --half-close)"

# --- headers and query strings: lighttpd's own limit (8 KB) comes first.
"$PYTHON" -c 'print("X-Big: " + "a" * 65536)' >"$T/req/hdr-64k"
"$PYTHON" -c 'print("X-Big: " + "a" * 60000)' >"$T/req/hdr-60k"
for i in $(seq 150); do echo "X-Many-$i: v"; done >"$T/req/hdr-150"
Q16K=$(head -c 16384 /dev/zero | tr '\0' q)
Q66K=$(head -c 66000 /dev/zero | tr '\0' q)
expect_answer "lighttpd: one 64 KB header" "server 431" "${KEY[@]}" \
	-H "@$T/req/hdr-64k" "$GW_URL/?text=hi"
expect_answer "lighttpd: 150 headers" "gw 431 too_many_headers" "${KEY[@]}" \
	-H "@$T/req/hdr-150" "$GW_URL/?text=hi"
expect_answer "lighttpd: 16 KB query string" "server 431" "${KEY[@]}" \
	"$GW_URL/?text=$Q16K"

# --- URLs, keys in the query, paths, form bodies.
url_suite lighttpd

# --- keys in headers.
expect_answer "lighttpd: apikey with a literal %00" "gw 401 invalid_api_key" \
	-H 'apikey: xxxxxx%00' "$GW_URL/?text=hi"
expect_answer "lighttpd: apikey with a literal %0d%0a" "gw 401 invalid_api_key" \
	-H 'apikey: xxxxxx%0d%0a' "$GW_URL/?text=hi"
printf 'GET /?text=hi HTTP/1.1\r\nHost: 127.0.0.1\r\napikey: xxxxxx\rX-Injected: 1\r\nConnection: close\r\n\r\n' \
	>"$T/req/hdr-cr"
expect_eq "lighttpd: a bare CR inside the apikey header: the server's 400" "400" \
	"$(raw hdr-cr --raw-head)"
printf 'GET /?text=hi HTTP/1.1\r\nHost: 127.0.0.1\r\napikey: xxx\0xxx\r\nConnection: close\r\n\r\n' \
	>"$T/req/hdr-nul"
expect_eq "lighttpd: a NUL inside the apikey header: the server's 400" "400" \
	"$(raw hdr-nul --raw-head)"
# A header sent twice reaches the gateway as one, joined with ", ", which
# is no key: 401 whether the two are the same or not.
expect_answer "lighttpd: apikey twice, same key" "gw 401 invalid_api_key" \
	-H 'apikey: xxxxxx' -H 'apikey: xxxxxx' "$GW_URL/?text=hi"
expect_answer "lighttpd: apikey twice, two keys" "gw 401 invalid_api_key" \
	-H 'apikey: xxxxxx' -H 'apikey: yyyyyy' "$GW_URL/?text=hi"
expect_answer "lighttpd: the same key in apikey and Bearer" "gw 200" \
	"${KEY[@]}" "${BEARER[@]}" "$GW_URL/?text=hi"
expect_answer "lighttpd: two keys, apikey and Bearer" "gw 401 invalid_api_key" \
	"${KEY[@]}" -H 'Authorization: Bearer yyyyyy' "$GW_URL/?text=hi"
expect_answer "lighttpd: the same key in apikey and the query" "gw 200" \
	-H "apikey: $QKEY" "$GW_URL/?apikey=$QKEY&text=hi"
expect_answer "lighttpd: two keys, apikey and the query" "gw 401 invalid_api_key" \
	"${KEY[@]}" "$GW_URL/?apikey=$QKEY&text=hi"
# aigw.ini(5): "two different keys in one request get 401"; the gateway
# takes the first apikey= of the query string and ignores the others.
st=$(http "$GW_URL/?apikey=$QKEY&apikey=$QKEY2&text=hi")
check "lighttpd: two keys, both in the query: 401 (got $(answer "$st"))" \
	test "$st" = 401

# --- X-AIGW-* headers from the client are never reflected.
SPOOF=(-H 'X-AIGW-Consumer: spoofed-consumer' -H 'X-AIGW-Request-Id: spoofed-rid')
for k in with without; do
	if [ $k = with ]; then
		expect_answer "lighttpd: X-AIGW-* sent, with a key" "gw 200" \
			"${KEY[@]}" "${SPOOF[@]}" "$GW_URL/?text=hi"
		expect_eq "  X-AIGW-Consumer is the gateway's" consumer1 \
			"$(header X-AIGW-Consumer)"
	else
		expect_answer "lighttpd: X-AIGW-* sent, without a key" \
			"gw 401 invalid_api_key" "${SPOOF[@]}" "$GW_URL/?text=hi"
		expect_eq "  no X-AIGW-Consumer" "" "$(header X-AIGW-Consumer)"
	fi
	check "  X-AIGW-Request-Id is the gateway's" \
		grep -Eqi '^X-AIGW-Request-Id: [0-9a-f]+-[0-9a-f]+-[0-9a-f]+.?$' "$T/headers"
	check "  the spoofed values are nowhere in the answer" \
		test "$(cat "$T/headers" "$T/body" | grep -c spoofed)" = 0
done

# --- the OpenAI mode: JSON bombs within max_body, timed.
"$PYTHON" -c 'print("[" * 10000 + "]" * 10000, end="")' >"$T/req/deep-array.json"
"$PYTHON" -c 'print("{\"a\":" * 10000 + "1" + "}" * 10000, end="")' >"$T/req/deep-object.json"
"$PYTHON" -c 'print("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":" + "[" * 64 + "]" * 64 + "}]}", end="")' \
	>"$T/req/deep-65.json"
for f in deep-array deep-object deep-65; do
	t0=$(now_ms)
	expect_answer "lighttpd: $f.json" "gw 400 invalid_json" "${BEARER[@]}" \
		"${JSON[@]}" --data-binary "@$T/req/$f.json" "$GW_URL/v1/chat/completions"
	t1=$(now_ms)
	check "  answered in $((t1 - t0)) ms (< 2000)" test $((t1 - t0)) -lt 2000
done
expect_answer "lighttpd: a model with CR LF (relayed; headers untouched)" "gw 200" \
	"${BEARER[@]}" "${JSON[@]}" --data-binary \
	'{"model":"gpt\r\nX-Injected: 1","messages":[{"role":"user","content":"hi"}]}' \
	"$GW_URL/v1/chat/completions"
check "  no injected header" no_injected_header

# --- body block lists: the JSON strings (escapes undone) are checked
# whatever the Content-Type says; curl -d sends a form type.
before=$(stub_count)
expect_answer "lighttpd: JSON body as a form, \\u-escaped blocked word" \
	"gw 403 request_blocked" "${BEARER[@]}" -d \
	'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"my pass\u0077ord"}]}' \
	"$GW_URL/vb/chat/completions"
expect_answer "lighttpd: the same as JSON" "gw 403 request_blocked" "${BEARER[@]}" \
	"${JSON[@]}" --data-binary \
	'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"my pass\u0077ord"}]}' \
	"$GW_URL/vb/chat/completions"
expect_answer "lighttpd: a form-encoded blocked word in a JSON body" \
	"gw 403 request_blocked" "${BEARER[@]}" -d \
	'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"my pass%77ord"}]}' \
	"$GW_URL/vb/chat/completions"
expect_eq "  the stub never saw them" "$before" "$(stub_count)"
expect_answer "lighttpd: a clean JSON body as a form passes" "gw 200" "${BEARER[@]}" -d \
	'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}' \
	"$GW_URL/vb/chat/completions"

# --- the upstream misbehaves.
STREAM_BODY='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
stream_req() {
	http "${BEARER[@]}" "${JSON[@]}" --data-binary "$STREAM_BODY" \
		"$GW_URL/v1/chat/completions"
}
# usage_reason RID: the reason of the usage record of request RID.
usage_reason() {
	local i=0
	while [ "$i" -lt 20 ] && ! grep -q "\"$1\"" "$USAGE_LOG"; do
		sleep 0.1
		i=$((i + 1))
	done
	grep "\"request_id\":\"$1\"" "$USAGE_LOG" |
		"$PYTHON" -c 'import json, sys; print(json.loads(sys.stdin.readline()).get("reason", "-"))'
}

stub_behavior midclose
expect_answer "lighttpd: upstream closes half way through its answer" \
	"gw 502 upstream_unreachable" "${KEY[@]}" "$GW_URL/?text=hi"
st=$(stream_req)
expect_eq "lighttpd: upstream closes half way through a stream: 200 (started)" 200 "$st"
expect_contains "  the first event arrived" "$(body)" '"partial"'
# An event cut short is not an event: it should not be passed on.
check "  the half event is not passed on" test "$(grep -c '^data:' "$T/body")" -eq 1
expect_eq "  usage reason stream_cut" stream_cut \
	"$(usage_reason "$(header X-AIGW-Request-Id)")"

stub_behavior gzipbomb
t0=$(now_ms)
expect_answer "lighttpd: gzip bomb (100 KB inflating to 100 MiB)" \
	"gw 502 upstream_invalid" "${KEY[@]}" "$GW_URL/?text=hi"
t1=$(now_ms)
check "  answered in $((t1 - t0)) ms (< 5000)" test $((t1 - t0)) -lt 5000
expect_eq "  the gateway asks for no compression (no Accept-Encoding)" None \
	"$(stub_last 'str(r["headers"].get("accept-encoding"))')"
# A streamed request answered with something else than text/event-stream is
# passed on as it comes: here the compressed bytes, without their
# Content-Encoding.  Bounded by what the upstream sends.
st=$(stream_req)
diag "gzip bomb to a stream: status $st, $(wc -c <"$T/body") bytes," \
	"Content-Type $(header Content-Type), Content-Encoding '$(header Content-Encoding)'"
check "  stream: no more than the compressed size reached the client" \
	test "$(wc -c <"$T/body")" -lt 200000

stub_behavior endless_headers
for kind in buffered stream; do
	t0=$(now_ms)
	if [ $kind = buffered ]; then
		st=$(http "${KEY[@]}" "$GW_URL/?text=hi")
	else
		st=$(stream_req)
	fi
	t1=$(now_ms)
	got=$(answer "$st")
	diag "endless headers, $kind: $got after $((t1 - t0)) ms"
	case $got in
	"gw 502 upstream_unreachable" | "gw 504 upstream_timeout") _ok "lighttpd: endless headers ($kind): $got" ;;
	*) _not_ok "lighttpd: endless headers ($kind): $got" ;;
	esac
	check "  within timeout_ms (1500) + 1 s: $((t1 - t0)) ms" test $((t1 - t0)) -lt 2500
done

stub_behavior huge
t0=$(now_ms)
expect_answer "lighttpd: 33 MiB answer (over 32 MiB)" "gw 502 upstream_unreachable" \
	"${KEY[@]}" "$GW_URL/?text=hi"
t1=$(now_ms)
check "  answered in $((t1 - t0)) ms (< 10000)" test $((t1 - t0)) -lt 10000

stub_behavior hugeevent
st=$(stream_req)
expect_eq "lighttpd: a 5 MiB event in a stream: 200 (started)" 200 "$st"
expect_contains "  the event before it arrived" "$(body)" '"before"'
check "  the 5 MiB event did not ($(wc -c <"$T/body") bytes)" \
	test "$(wc -c <"$T/body")" -lt 1048576
reason=$(usage_reason "$(header X-AIGW-Request-Id)")
check "  usage records the stream as cut short (reason $reason)" \
	test "$reason" = stream_cut -o "$reason" = client_gone
check "  the usage reason is stream_cut, not client_gone (got $reason)" \
	test "$reason" = stream_cut

stub_behavior badctype
expect_answer "lighttpd: upstream Content-Type with a CR" "gw 200" \
	"${KEY[@]}" "$GW_URL/?text=hi"
check "  no injected header" no_injected_header
diag "badctype: Content-Type of the answer: '$(header Content-Type)'"
stub_behavior normal

# --- slow clients: 2 clients (= max-procs) send 30-byte bodies at one byte
# per 100 ms; meanwhile other requests are served at once.
printf 'POST /?x=slow HTTP/1.1\nHost: 127.0.0.1\napikey: xxxxxx\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 30\nConnection: close\n\n' \
	>"$T/req/slow"
printf 'text=slowclient0123456789abcde' >"$T/req/slow.body"
# slow_clients N: start them; their pids go to SLOW_PIDS.
slow_clients() {
	local i
	SLOW_PIDS=""
	for i in $(seq "$1"); do
		"$PYTHON" "$RAW" --head "$T/req/slow" --body "$T/req/slow.body" \
			--byte-delay-ms 100 --timeout 20 "$GW_PORT" >"$T/slow$i.st" 2>&1 &
		SLOW_PIDS="$SLOW_PIDS $!"
	done
}
others_meanwhile() {
	local label=$1 i t0 t1 st worst=0 ok=0
	sleep 0.3
	for i in 1 2 3 4; do
		t0=$(now_ms)
		st=$(http "${KEY[@]}" "$GW_URL/?text=meanwhile,$i")
		t1=$(now_ms)
		[ "$st" = 200 ] && ok=$((ok + 1))
		[ $((t1 - t0)) -gt "$worst" ] && worst=$((t1 - t0))
		sleep 0.3
	done
	expect_eq "$label: 4 other requests meanwhile get 200" 4 "$ok"
	check "$label:   each within 1 s (slowest $worst ms)" test "$worst" -lt 1000
}
t0=$(now_ms)
slow_clients 2
others_meanwhile "lighttpd: 2 slow clients"
wait $SLOW_PIDS
t1=$(now_ms)
diag "slow clients done after $((t1 - t0)) ms"
expect_eq "lighttpd: the slow clients get 200 in the end" "200 200" \
	"$(cat "$T/slow1.st") $(cat "$T/slow2.st")"
prompt_is '"slowclient0123456789abcde"'

workers_ok "lighttpd"
stop_server

# ======================================================================
# 2. lighttpd with raised limits (65535 bytes of header, the most it
# allows) and request bodies streamed to the gateway as they arrive.
AIGW_SERVER_CONF='server.max-request-field-size = 65535
server.stream-request-body    = 2' start_lighttpd "$T/aigw.ini" "$PROCS"
START_PIDS=$(fcgi_pids | sort -n | tr '\n' ' ')
diag "lighttpd (raised limits, streamed bodies) on $GW_URL"
expect_answer "lighttpd+: 16 KB query string" "gw 200" "${KEY[@]}" \
	"$GW_URL/?text=$Q16K"
prompt_is "'q' * 16384"
expect_answer "lighttpd+: one 60 KB header" "gw 200" "${KEY[@]}" \
	-H "@$T/req/hdr-60k" "$GW_URL/?text=hi"
expect_answer "lighttpd+: one 64 KB header (over lighttpd's most)" "server 431" \
	"${KEY[@]}" -H "@$T/req/hdr-64k" "$GW_URL/?text=hi"
expect_answer "lighttpd+: 150 headers" "gw 431 too_many_headers" "${KEY[@]}" \
	-H "@$T/req/hdr-150" "$GW_URL/?text=hi"
expect_answer "lighttpd+: 70 KB body with Content-Length" "gw 413 request_too_large" \
	"${KEY[@]}" --data-binary "@$T/req/body-70k" "$GW_URL/"
# Streaming a body to a FastCGI program needs its length: lighttpd answers
# a chunked body with its own 411, unless the whole body has come in by the
# time it calls the gateway (then it passes it on with its length).
expect_answer_in "lighttpd+: 70 KB chunked body" \
	"server 411|gw 413 request_too_large" \
	"${KEY[@]}" -H 'Transfer-Encoding: chunked' \
	--data-binary "@$T/req/body-70k" "$GW_URL/"
expect_answer_in "lighttpd+: small chunked body" "server 411|gw 200" "${KEY[@]}" \
	-H 'Transfer-Encoding: chunked' --data-binary 'text=chunky' "$GW_URL/"

# The body now reaches the gateway as it comes: a short one is its 400
# (in the usage log), the client having left gets no answer.
lines=$(wc -l <"$USAGE_LOG")
got=$(raw lying --body "$T/req/lying.body" --half-close --timeout 10)
diag "lighttpd+: Content-Length 1000, 10 bytes sent, then end of file: status $got"
check "lighttpd+: lying Content-Length: never a 200 (got $got)" \
	test "$got" = 000 -o "$got" = 400
i=0
while [ "$i" -lt 20 ] && [ "$(wc -l <"$USAGE_LOG")" -le "$lines" ]; do
	sleep 0.1
	i=$((i + 1))
done
check "lighttpd+: the gateway logged it as 400 bad_request" \
	"$PYTHON" - "$USAGE_LOG" "$lines" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]]
print(recs)
sys.exit(0 if any(r["status"] == 400 and r.get("reason") == "bad_request"
                  for r in recs) else 1)
EOF

# One slow client now holds a worker while it sends; the other serves.
slow_clients 1
others_meanwhile "lighttpd+: 1 slow client, streamed body"
wait $SLOW_PIDS
expect_eq "lighttpd+: the slow client gets 200 in the end" 200 "$(cat "$T/slow1.st")"
workers_ok "lighttpd+"
stop_server

# ======================================================================
# 3. lighttpd, max_body 4 MiB: JSON with 100,000 keys (1.5 MB).
start_lighttpd "$T/aigw-big.ini" "$PROCS"
"$PYTHON" -c 'print("{" + ",".join("\"k%d\":%d" % (i, i) for i in range(100000)) + "}", end="")' \
	>"$T/req/keys.json"
"$PYTHON" -c 'print("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]," + ",".join("\"k%d\":%d" % (i, i) for i in range(100000)) + "}", end="")' \
	>"$T/req/keys-messages.json"
"$PYTHON" -c 'print("{" + ",".join(["\"a\":1"] * 100000) + "}", end="")' \
	>"$T/req/keys-same.json"
# The gateway sets no limit on the number of keys: the body (within
# max_body) goes to the upstream, which refuses it for want of messages.
for f in keys:400 keys-messages:200 keys-same:400; do
	t0=$(now_ms)
	st=$(http "${BEARER[@]}" "${JSON[@]}" --data-binary "@$T/req/${f%:*}.json" \
		"$GW_URL/v1/chat/completions")
	t1=$(now_ms)
	expect_eq "lighttpd (max_body 4 MiB): ${f%:*}.json, 100,000 keys" "${f#*:}" "$st"
	diag "  ${f%:*}.json: $(answer "$st") in $((t1 - t0)) ms"
	check "  answered in $((t1 - t0)) ms (< 2000)" test $((t1 - t0)) -lt 2000
done
expect_answer "lighttpd (max_body 4 MiB): 10,000 levels" "gw 400 invalid_json" \
	"${BEARER[@]}" "${JSON[@]}" --data-binary "@$T/req/deep-object.json" \
	"$GW_URL/v1/chat/completions"
expect_answer "lighttpd (max_body 4 MiB): a normal request" "gw 200" \
	"${KEY[@]}" "$GW_URL/?text=hi"
stop_server

# ======================================================================
# 4. Apache: what the URL carries, under its default limits, then raised.
if command -v apache2 >/dev/null 2>&1 &&
	[ -f /usr/lib/apache2/modules/mod_fcgid.so ]; then
	start_apache "$T/aigw.ini" "$PROCS"
	diag "apache on $GW_URL"
	expect_answer "apache: a normal request" "gw 200" "${KEY[@]}" "$GW_URL/?text=hi"
	url_suite apache
	expect_answer "apache: one 64 KB header" "server 400" "${KEY[@]}" \
		-H "@$T/req/hdr-64k" "$GW_URL/?text=hi"
	expect_answer "apache: 150 headers" "server 400" "${KEY[@]}" \
		-H "@$T/req/hdr-150" "$GW_URL/?text=hi"
	expect_answer "apache: 16 KB query string" "server 414" "${KEY[@]}" \
		"$GW_URL/?text=$Q16K"
	expect_answer "apache: 70 KB body with Content-Length" \
		"gw 413 request_too_large" "${KEY[@]}" \
		--data-binary "@$T/req/body-70k" "$GW_URL/"
	expect_answer "apache: 70 KB chunked body" "gw 413 request_too_large" \
		"${KEY[@]}" -H 'Transfer-Encoding: chunked' \
		--data-binary "@$T/req/body-70k" "$GW_URL/"
	# mod_fcgid reads the whole body first; end of file before it is
	# complete is its own 500.
	got=$(raw lying --body "$T/req/lying.body" --half-close --timeout 10)
	diag "apache: Content-Length 1000, 10 bytes sent, then end of file: status $got"
	expect_eq "apache: lying Content-Length: the server's 500, not the gateway" \
		"server 500" "$(grep -qi '^X-AIGW-Request-Id' "$T/raw.out" && echo gw || echo server) $got"
	expect_answer "apache: apikey twice, same key" "gw 401 invalid_api_key" \
		-H 'apikey: xxxxxx' -H 'apikey: xxxxxx' "$GW_URL/?text=hi"
	stop_server

	AIGW_SERVER_CONF='LimitRequestLine      70000
LimitRequestFieldSize 70000
LimitRequestFields    200' start_apache "$T/aigw.ini" "$PROCS"
	diag "apache (raised limits) on $GW_URL"
	expect_answer "apache+: 16 KB query string" "gw 200" "${KEY[@]}" \
		"$GW_URL/?text=$Q16K"
	prompt_is "'q' * 16384"
	# mod_fcgid sends the whole environment in one FastCGI record, at most
	# 64 KiB: beyond that it answers 500 itself ("can't init env request
	# header"), so the gateway's own 414 and 431 (by size) are out of
	# reach.  The query is in the environment twice (QUERY_STRING and
	# REQUEST_URI): 33 KB is already too much.
	expect_answer "apache+: 33 KB query string" "server 500" \
		"${KEY[@]}" "$GW_URL/?text=${Q66K:0:33000}"
	expect_answer "apache+: 66 KB query string" "server 500" \
		"${KEY[@]}" "$GW_URL/?text=$Q66K"
	expect_answer "apache+: one 60 KB header" "gw 200" "${KEY[@]}" \
		-H "@$T/req/hdr-60k" "$GW_URL/?text=hi"
	expect_answer "apache+: one 64 KB header" "server 500" \
		"${KEY[@]}" -H "@$T/req/hdr-64k" "$GW_URL/?text=hi"
	expect_answer "apache+: 150 headers" "gw 431 too_many_headers" \
		"${KEY[@]}" -H "@$T/req/hdr-150" "$GW_URL/?text=hi"
	for i in $(seq $((3 * PROCS))); do
		expect_answer "apache+: afterwards, request $i" "gw 200" "${KEY[@]}" \
			"$GW_URL/?text=after,$i"
	done
	stop_server
else
	diag "skip apache: apache2 or mod_fcgid not installed"
fi

# ======================================================================
# 5. What was left behind.
check "every usage log line is a JSON object" "$PYTHON" - "$USAGE_LOG" <<'EOF'
import json, sys
n = 0
for i, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    try:
        rec = json.loads(line)
    except ValueError as e:
        sys.exit("line %d: %s: %r" % (i, e, line[:200]))
    if not isinstance(rec, dict):
        sys.exit("line %d is not an object" % i)
    n += 1
print(n, "lines")
EOF

# Keys never appear in an answer or a log.  Left out: the policies, the
# request files, the stub's record of what the upstream received; and, for
# the keys of consumer3 and consumer6, sent in query strings, the access
# logs (as aigw.ini(5) warns for in_query = true).
check "no key in any answer or log" "$PYTHON" - "$T" "$UPSTREAM_KEY" "$QKEY" "$QKEY2" <<'EOF'
import os, sys
top, upstream, qkey, qkey2 = sys.argv[1:]
secrets = [upstream.encode(), b"xxxxxx", b"yyyyyy", qkey.encode(), qkey2.encode()]
query_keys = (qkey.encode(), qkey2.encode())
skip = {"aigw.ini", "aigw-big.ini", "stub.log"}
bad = []
for d, dirs, files in os.walk(top):
    if os.path.relpath(d, top) == "req":
        dirs[:] = []
        continue
    for f in files:
        p = os.path.join(d, f)
        if f in skip or not os.path.isfile(p) or os.path.islink(p):
            continue
        data = open(p, "rb").read()
        for s in secrets:
            if s in query_keys and f == "access.log":
                continue
            if s in data:
                bad.append("%s holds %s" % (os.path.relpath(p, top), s.decode()))
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF

# ======================================================================
# 6. A hostile upstream and disguised words, second round: each case on its
#    own stub and lighttpd, with its own policy.
# relay_case NAME [GATEWAY-LINES [ROUTE-LINES]]: a stub named NAME and, under
# lighttpd, a policy with timeout_ms 1000, GATEWAY-LINES in [gateway], and a
# route /v1 in OpenAI mode for consumer1 with ROUTE-LINES.
relay_case() {
	local name=$1 gw=${2:-} route=${3:-}
	[ -z "${GW_PID:-}" ] || stop_server
	STUB_NAME=$name start_stub
	seed_policy "$T/$name.ini"
	"$PYTHON" - "$T/$name.ini" "$gw" "$route" <<'EOF' || bail "cannot edit the policy"
import re, sys
path, gw, route = sys.argv[1:]
s = open(path, encoding="utf-8").read()
s, n = re.subn(r"(?m)^timeout_ms\s*=.*$", "timeout_ms = 1000", s)
assert n == 1
s = s.replace("[gateway]\n", "[gateway]\n" + gw + "\n", 1)
s += "\n[route v1]\npath = /v1\nmode = openai\nallow = consumer1\n" + route + "\n"
open(path, "w", encoding="utf-8").write(s)
EOF
	chmod 0644 "$T/$name.ini"
	GW_INSTANCE=$name start_lighttpd "$T/$name.ini" 1
}
STREAM_REQ='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'

# A streamed request answered by an error body dripped a byte at a time:
# 504 at about timeout_ms, not whenever the drip ends.
relay_case drip
stub_behavior drip
t0=$(now_ms)
expect_answer "drip: an error body a byte at a time to a stream" "gw 504 upstream_timeout" \
	"${BEARER[@]}" "${JSON[@]}" -d "$STREAM_REQ" "$GW_URL/v1/chat/completions"
t1=$(now_ms)
check "  within timeout_ms (1000) + 1 s: $((t1 - t0)) ms" test $((t1 - t0)) -lt 2000

# An endless stream: cut at max_answer, its usage counted from what was seen.
relay_case endless "max_answer = 65536"
stub_behavior endless
t0=$(now_ms)
st=$(http --max-time 20 "${BEARER[@]}" "${JSON[@]}" -d "$STREAM_REQ" "$GW_URL/v1/chat/completions")
t1=$(now_ms)
expect_eq "endless stream: begins 200" 200 "$st"
check "  cut within 10 s: $((t1 - t0)) ms" test $((t1 - t0)) -lt 10000
check "  at most max_answer relayed: $(wc -c <"$T/body") bytes" test "$(wc -c <"$T/body")" -le 65536
check "  usage: stream_cut, completion tokens counted" "$PYTHON" -c '
import json, sys
u = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert u["reason"] == "stream_cut" and u["completion_tokens"] > 1000, u
' "$T/log/usage.jsonl"

# A status no HTTP answer has: 502.
relay_case status700
stub_behavior status700
expect_answer "status 700 from the upstream" "gw 502 upstream_unreachable" \
	"${BEARER[@]}" "${JSON[@]}" -d "$STREAM_REQ" "$GW_URL/v1/chat/completions"

# Fullwidth letters and zero-width characters do not hide a blocked word.
relay_case fullwidth "" "block_bodies = password
case_sensitive = false"
for text in 'my ｐａｓｓｗｏｒｄ' 'my pass\u200bword' 'my PASS\u00adWORD'; do
	expect_answer "block_bodies: \"$text\" in a body" "gw 403 request_blocked" \
		"${BEARER[@]}" "${JSON[@]}" \
		-d "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"$text\"}]}" \
		"$GW_URL/v1/chat/completions"
done
expect_answer "block_bodies: \"my pass word\" passes" "gw 200" "${BEARER[@]}" "${JSON[@]}" \
	-d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"my pass word"}]}' \
	"$GW_URL/v1/chat/completions"
stop_server
# (end of section 6)

finish
