#!/bin/bash
# t0130-apache-proxy-fcgi.sh: the seed scenario under Apache + mod_proxy_fcgi.
#
# Apache with the committed etc/apache-aigw-proxy-fcgi.conf in front of two
# threaded aigw.fcgi processes started by spawn-fcgi -n (through multiwatch,
# as etc/aigw-spawn-fcgi.service does): key checks (401/403), the prompt
# route (200), URL block lists (404), the OpenAI mode with the path passed
# whole and the key in Authorization (CGIPassAuth), a streamed answer
# arriving event by event (flushpackets=on), 16 slow streams at once all
# served together (threads, not one request per process), the static pages
# served by Apache itself, and the 413 answers on either side of
# LimitRequestBody.

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

# 250 ms between streamed events: a stream takes 2 s or so, and its first
# events must reach the client long before its end.
start_stub --stream-interval-ms 250
seed_policy "$T/aigw.ini"
cat >>"$T/aigw.ini" <<'EOI'

[route v1]
path  = /v1
mode  = openai
allow = consumer1
EOI
KEY=(-H 'apikey: xxxxxx')

start_apache_proxy "$T/aigw.ini" 2
diag "Apache (mod_proxy_fcgi) on $GW_URL, stub on $STUB_URL"
procs=2
command -v multiwatch >/dev/null 2>&1 || procs=1
check "$procs aigw.fcgi processes under spawn-fcgi" \
	test "$(fcgi_pids | wc -l)" -eq "$procs"

# --- keys and the allow list: the stub is never called.
before=$(stub_count)
expect_status 401 "$GW_URL/?text=Say,hello"
expect_gateway_error "401 without a key is a JSON error"
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
expect_status 200 "${KEY[@]}" --data-urlencode 'text=form,body' "$GW_URL/"
expect_contains "a POSTed form arrives" "$(body)" "echo: form,body"

# --- the OpenAI mode: the whole path reaches the gateway once, and the key
# in Authorization with it (without CGIPassAuth Apache would drop it: 401).
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
expect_eq "upstream gets the upstream key, not the client's" \
	"Bearer $UPSTREAM_KEY" "$(stub_last 'r["headers"].get("authorization")')"
expect_status 401 -H 'Authorization: Bearer wrong' "$GW_URL/v1/models"

# --- streamed answers: N at once, each timed (first event, end).  Prints
# one line per stream: "status first_ms total_ms events text", then the
# wall-clock time of the whole batch.
streams() {
	"$PYTHON" - "$GW_PORT" "$1" <<'PYEOF'
import http.client, json, sys, threading, time
port, n = int(sys.argv[1]), int(sys.argv[2])
out = [None] * n
def one(i):
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                           "messages": [{"role": "user",
                                         "content": "one two three"}]})
        c.request("POST", "/v1/chat/completions", body,
                  {"Authorization": "Bearer xxxxxx",
                   "Content-Type": "application/json"})
        r = c.getresponse()
        first, events, text = None, [], ""
        while True:
            line = r.readline()
            if not line:
                break
            line = line.decode().rstrip("\r\n")
            if not line.startswith("data: "):
                continue
            if first is None:
                first = time.monotonic() - t0
            events.append(line[6:])
            if line[6:] != "[DONE]":
                for ch in json.loads(line[6:]).get("choices", []):
                    text += ch.get("delta", {}).get("content", "") or ""
        total = time.monotonic() - t0
        out[i] = "%d %d %d %d %s|%s|%s" % (
            r.status, int((first or -1) * 1000), int(total * 1000),
            len(events), events[-1] if events else "",
            r.getheader("Content-Type"), text)
    except Exception as e:
        out[i] = "000 -1 -1 0 error|%s|" % e
t0 = time.monotonic()
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for line in out:
    print(line)
print("wall_ms", int((time.monotonic() - t0) * 1000))
PYEOF
}

# One stream: events arrive one by one, not in one lump at the end.
streams 1 >"$T/stream1.out"
read -r st first_ms total_ms nev rest <"$T/stream1.out"
IFS='|' read -r last ctype text <<<"$rest"
expect_eq "stream: status" "200" "$st"
expect_eq "stream: Content-Type" "text/event-stream" "$ctype"
expect_eq "stream: ends with [DONE]" "[DONE]" "$last"
expect_eq "stream: the text" "echo: one two three" "$text"
diag "stream: first event after ${first_ms} ms, end after ${total_ms} ms, $nev events"
check "stream: the first event came at least 1 s before the end" \
	test "$first_ms" -ge 0 -a $((total_ms - first_ms)) -ge 1000

# 16 at once: each process serves many requests at once (threads), so none
# waits for another's answer and the batch takes about one stream's time.
streams 16 >"$T/stream16.out"
wall_ms=$(sed -n 's/^wall_ms //p' "$T/stream16.out")
diag "16 streams at once: done after ${wall_ms} ms (one alone: ${total_ms} ms)"
check "16 streams: all 200 and complete" "$PYTHON" - "$T/stream16.out" <<'PYEOF'
import sys
lines = [l for l in open(sys.argv[1]) if not l.startswith("wall_ms")]
assert len(lines) == 16, lines
for l in lines:
    f = l.split(" ", 4)
    assert f[0] == "200" and f[4].startswith("[DONE]|text/event-stream|echo: one two three"), l
PYEOF
check "16 streams: every first event within 1 s" "$PYTHON" - "$T/stream16.out" <<'PYEOF'
import sys
for l in open(sys.argv[1]):
    if not l.startswith("wall_ms"):
        assert 0 <= int(l.split()[1]) <= 1000, l
PYEOF
check "16 streams: all at once (the batch within 1.5 x one stream's time)" \
	test "$wall_ms" -le $((total_ms * 3 / 2))

# --- static pages: served by Apache itself (no gateway headers).
expect_status 200 "$GW_URL/ui/index.html"
expect_eq "/ui/ is not the gateway" "" "$(header X-AIGW-Request-Id)"
expect_contains "/ui/index.html is the page" "$(body)" "<html"

# --- body sizes: above max_body (32 MiB), below and above LimitRequestBody
# (33 MiB): the gateway's 413 both times (mod_proxy_fcgi passes the request
# on before reading the body, and the gateway answers from Content-Length).
head -c 33600000 /dev/zero | tr '\0' a | sed 's/^/text=/' >"$T/big1.txt"
head -c 34700000 /dev/zero | tr '\0' a | sed 's/^/text=/' >"$T/big2.txt"
expect_status 413 "${KEY[@]}" --data-binary "@$T/big1.txt" "$GW_URL/"
expect_gateway_error "33.6 MB body: the gateway's 413"
expect_status 413 "${KEY[@]}" --data-binary "@$T/big2.txt" "$GW_URL/"
expect_gateway_error "34.7 MB body: the gateway's 413"
rm -f "$T/big1.txt" "$T/big2.txt"

# --- the access log names the consumer; nothing crashed.
check "access log: consumer and request id of an OpenAI-mode request" \
	grep -q '"GET /v1/models HTTP/1.1" 200 .* consumer="consumer1" request_id="[^-]' \
	"$GW_ACCESSLOG"
pids_before=$(fcgi_pids | sort | tr '\n' ' ')
expect_status 200 "${KEY[@]}" "$GW_URL/?text=again"
expect_eq "the same FastCGI processes (none died and was restarted)" \
	"$pids_before" "$(fcgi_pids | sort | tr '\n' ' ')"

stop_server
check "spawn-fcgi's processes are gone after stop_server" \
	test -z "$(fcgi_pids)"
finish
