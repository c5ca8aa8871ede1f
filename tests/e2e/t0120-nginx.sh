#!/bin/bash
# t0120-nginx.sh: the seed scenario under nginx + spawn-fcgi.
#
# nginx with the committed etc/nginx-aigw.conf in front of aigw.fcgi
# processes started by spawn-fcgi -n (through multiwatch, as
# etc/aigw-spawn-fcgi.service does): key checks (401/403), the prompt route
# (200), URL block lists (404), a POST form arriving intact, the OpenAI mode
# with the path passed whole (SCRIPT_NAME "" + PATH_INFO), a streamed answer
# arriving event by event (fastcgi_buffering off), the static pages served
# by nginx itself, the 413 answers on either side of client_max_body_size,
# and the usage log.  A key header sent twice (nginx passes both) is a
# "# todo:" comment while the gateway takes the first of two different keys.

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

# 250 ms between streamed events: the stream takes 2 s or so, and its first
# events must reach the client long before its end.
start_stub --stream-interval-ms 250
seed_policy "$T/aigw.ini"
cat >>"$T/aigw.ini" <<'EOF'

[route v1]
path  = /v1
mode  = openai
allow = consumer1
EOF
USAGE_LOG=$T/log/usage.jsonl
KEY=(-H 'apikey: xxxxxx')

start_nginx "$T/aigw.ini" 2
diag "nginx on $GW_URL, stub on $STUB_URL"
# (one without multiwatch: see start_nginx)
procs=2
command -v multiwatch >/dev/null 2>&1 || procs=1
check "$procs aigw.fcgi processes under spawn-fcgi" \
	test "$(fcgi_pids | wc -l)" -eq "$procs"

# --- keys and the allow list: the stub is never called.
before=$(stub_count)
expect_status 401 "$GW_URL/?text=Say,hello"
expect_gateway_error "401 without a key is a JSON error"
expect_contains "401 carries WWW-Authenticate Bearer" \
	"$(header WWW-Authenticate)" "Bearer"
expect_status 401 -H 'apikey: zzzzzz' "$GW_URL/?text=Say,hello"
expect_status 403 -H 'apikey: yyyyyy' "$GW_URL/?text=Say,hello"
expect_gateway_error "403 for consumer2 is a JSON error"

# --- URL block list: REQUEST_URI is the raw URL, so the encoded form is
# seen too.
for q in 'text=Mypassword=xxxxxx' 'text=pw=xxxxxx' 'text=PassWord' \
	'text=p%61ssword'; do
	expect_status 404 "${KEY[@]}" "$GW_URL/?$q"
	expect_gateway_error "blocked ?$q is a JSON error"
done
expect_eq "refused requests never reach the upstream" "$before" "$(stub_count)"

# --- the prompt route.
expect_status 200 "${KEY[@]}" "$GW_URL/?text=Say,hello"
expect_contains "200 body is the stub's answer" "$(body)" "echo: Say,hello"
expect_eq "X-AIGW-Consumer" "consumer1" "$(header X-AIGW-Consumer)"
expect_eq "upstream request is POST /v1/chat/completions" \
	"POST /v1/chat/completions" "$(stub_last 'r["method"] + " " + r["path"]')"
expect_eq "upstream gets the upstream key" \
	"Bearer $UPSTREAM_KEY" "$(stub_last 'r["headers"].get("authorization")')"

prompt=$(printf 'He said "hi" \\ back\\slash\nline two: caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac')
printf '%s' "$prompt" >"$T/prompt.txt"
expect_status 200 "${KEY[@]}" --data-urlencode "text@$T/prompt.txt" "$GW_URL/"
expect_eq "form prompt arrives intact" \
	"$prompt" "$(stub_last 'r["body_json"]["messages"][0]["content"]')"

# A chunked request body: nginx reads it whole before passing it on.
expect_status 200 "${KEY[@]}" -H 'Transfer-Encoding: chunked' \
	--data-binary 'text=chunked,body' "$GW_URL/"
expect_contains "chunked form body arrives" "$(body)" "echo: chunked,body"

# --- a key header sent twice: nginx 1.22 passes both (lighttpd and Apache
# join them into one, which is no key).  The same key twice is fine; two
# different keys should get 401 (aigw.ini(5)), but the gateway takes the
# first header of a name.
expect_status 200 -H 'apikey: xxxxxx' -H 'apikey: xxxxxx' "$GW_URL/?text=Say,hello"
st=$(http -H 'apikey: xxxxxx' -H 'apikey: yyyyyy' "$GW_URL/?text=Say,hello")
if [ "$st" = 401 ]; then
	_ok "apikey twice, two keys: 401"
else
	diag "todo: apikey twice, two keys: 401 (got $st as $(header X-AIGW-Consumer))"
fi

# --- the OpenAI mode: the whole path reaches the gateway once (a doubled
# SCRIPT_NAME would make /v1/models/v1/models of it).
expect_status 200 -H 'Authorization: Bearer xxxxxx' "$GW_URL/v1/models"
expect_contains "/v1/models lists the stub's models" "$(body)" "gpt-4o-mini"
expect_eq "upstream request is GET /v1/models" \
	"GET /v1/models" "$(stub_last 'r["method"] + " " + r["path"]')"
expect_status 200 -H 'Authorization: Bearer xxxxxx' \
	-H 'Content-Type: application/json' \
	--data-binary '{"messages":[{"role":"user","content":"hi"}]}' \
	"$GW_URL/v1/chat/completions"
expect_eq "OpenAI mode: Authorization reaches the gateway" "consumer1" \
	"$(header X-AIGW-Consumer)"

# --- a streamed answer: events must arrive one by one, not in one lump at
# the end (fastcgi_buffering off).
"$PYTHON" - "$GW_PORT" >"$T/stream.out" 2>&1 <<'EOF'
import http.client, json, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                   "messages": [{"role": "user", "content": "one two three"}]})
t0 = time.monotonic()
c.request("POST", "/v1/chat/completions", body,
          {"Authorization": "Bearer xxxxxx", "Content-Type": "application/json"})
r = c.getresponse()
first = None
events = []
text = ""
while True:
    line = r.readline()
    if not line:
        break
    line = line.decode().rstrip("\r\n")
    if line.startswith("data: "):
        if first is None:
            first = time.monotonic() - t0
        events.append(line[6:])
        if line[6:] != "[DONE]":
            for ch in json.loads(line[6:]).get("choices", []):
                text += ch.get("delta", {}).get("content", "") or ""
total = time.monotonic() - t0
print("status", r.status)
print("content_type", r.getheader("Content-Type"))
print("events", len(events))
print("last", events[-1] if events else "")
print("text", text)
print("first_ms", int(first * 1000) if first is not None else -1)
print("total_ms", int(total * 1000))
EOF
stream_field() {
	sed -n "s/^$1 //p" "$T/stream.out"
}
expect_eq "stream: status" "200" "$(stream_field status)"
expect_eq "stream: Content-Type" "text/event-stream" "$(stream_field content_type)"
expect_eq "stream: ends with [DONE]" "[DONE]" "$(stream_field last)"
expect_eq "stream: the text" "echo: one two three" "$(stream_field text)"
first_ms=$(stream_field first_ms)
total_ms=$(stream_field total_ms)
diag "stream: first event after ${first_ms} ms, end after ${total_ms} ms"
check "stream: the first event came at least 1 s before the end" \
	test "${first_ms:-0}" -ge 0 -a $((total_ms - first_ms)) -ge 1000
check "stream: the usage event the gateway asked for is left out" \
	test "$(grep -c '"usage"' "$T/stream.out")" -eq 0

# --- static pages: served by nginx itself (no gateway headers).
expect_status 200 "$GW_URL/ui/index.html"
expect_eq "/ui/ is not the gateway" "" "$(header X-AIGW-Request-Id)"
expect_contains "/ui/index.html is the page" "$(body)" "<html"

# --- body sizes: above max_body (32 MiB) but below client_max_body_size
# (33m): the gateway's 413; above 33m: nginx's own 413 (HTML).
head -c 33600000 /dev/zero | tr '\0' a | sed 's/^/text=/' >"$T/big1.txt"
head -c 34700000 /dev/zero | tr '\0' a | sed 's/^/text=/' >"$T/big2.txt"
expect_status 413 "${KEY[@]}" --data-binary "@$T/big1.txt" "$GW_URL/"
expect_gateway_error "33.6 MB body: the gateway's 413"
expect_status 413 "${KEY[@]}" --data-binary "@$T/big2.txt" "$GW_URL/"
expect_contains "34.7 MB body: nginx's own 413" "$(body)" "nginx"
rm -f "$T/big1.txt" "$T/big2.txt"

# --- the workers still answer, and nothing crashed.
pids_before=$(fcgi_pids | sort | tr '\n' ' ')
for i in 1 2 3 4 5 6; do
	expect_status 200 "${KEY[@]}" "$GW_URL/?text=again,$i"
done
expect_eq "the same FastCGI processes (none died and was restarted)" \
	"$pids_before" "$(fcgi_pids | sort | tr '\n' ' ')"

# --- the usage log: valid JSON lines, the 200s with consumer1.
i=0
while [ "$i" -lt 20 ] && ! grep -q 'again,6' "$T/stub.log"; do
	sleep 0.1
	i=$((i + 1))
done
sleep 0.2
check "usage log: every line is a JSON object" "$PYTHON" - "$USAGE_LOG" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    rec = json.loads(line)
    assert isinstance(rec, dict), line
    n += 1
assert n >= 20, n
EOF
check "usage log: the streamed request is logged with its tokens" \
	grep -q '"stream":true,"prompt_tokens":[1-9]' "$USAGE_LOG"

stop_server
check "spawn-fcgi's processes are gone after stop_server" \
	test -z "$(fcgi_pids)"
finish
