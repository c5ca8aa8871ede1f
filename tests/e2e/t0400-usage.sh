#!/bin/bash
# t0400-usage.sh: usage accounting under a real lighttpd with 4 workers.
# After a scripted mix of calls by two consumers, /_aigw/usage,
# /_aigw/metrics and `aigwctl usage` agree with each other and with the
# stub's own count; the admin endpoints refuse a missing or wrong admin key;
# a consumer over its budget is refused before the upstream is called.
. "$(dirname "$0")/../setup.sh"
need curl
scratch_init
start_stub
seed_policy "$T/aigw.ini"
sed -i 's/^max_body  = .*/&\nadmin_key = usage-admin-key/' "$T/aigw.ini"
cat >>"$T/aigw.ini" <<'EOF2'

[consumer team3]
credential     = zzzzzz33
budget_per_day = 0.000001

[route v1]
path  = /v1
mode  = openai
allow = consumer1, consumer2, team3

[model gpt-4o-mini]
input_per_1m  = 0.15
output_per_1m = 0.60
EOF2
"$AIGWCTL" -c "$T/aigw.ini" check >/dev/null || bail "policy refused"
start_lighttpd "$T/aigw.ini" 4

chat() { # KEY PROMPT
	http -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		--data "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"$2\"}]}" \
		"$GW_URL/v1/chat/completions"
}

# The mix: consumer1 4 prompt-mode + 2 openai calls, consumer2 3 openai
# calls and 1 refusal on the prompt route (403), one call without a key.
for i in 1 2 3 4; do expect_status 200 -H 'apikey: xxxxxx' "$GW_URL/?text=hello+number+$i"; done
expect_eq "consumer1 chat 1" 200 "$(chat xxxxxx 'one two three')"
expect_eq "consumer1 chat 2" 200 "$(chat xxxxxx 'four five')"
for i in 1 2 3; do expect_eq "consumer2 chat $i" 200 "$(chat yyyyyy "from two $i")"; done
expect_status 403 -H 'apikey: yyyyyy' "$GW_URL/?text=not+allowed"
expect_status 401 "$GW_URL/?text=no+key"
stub_calls=$(stub_count)
expect_eq "the stub answered 9 calls" 9 "$stub_calls"

# ---- admin endpoints refuse missing and wrong keys
expect_status 401 "$GW_URL/_aigw/usage"
expect_gateway_error "usage without a key is a JSON error"
expect_status 401 -H 'Authorization: Bearer wrong-admin-key' "$GW_URL/_aigw/usage"
expect_status 401 -H 'Authorization: Bearer xxxxxx' "$GW_URL/v1/_aigw/metrics"
expect_status 200 "$GW_URL/_aigw/health"

# ---- /_aigw/usage
expect_status 200 -H 'Authorization: Bearer usage-admin-key' "$GW_URL/_aigw/usage"
cp "$T/body" "$T/usage.json"
u() { json_get "$1" "$T/usage.json"; }
expect_eq "usage: consumer1 requests" 6 "$(u 'j["today"]["consumers"]["consumer1"]["requests"]')"
expect_eq "usage: consumer2 requests (3 + the 403)" 4 "$(u 'j["today"]["consumers"]["consumer2"]["requests"]')"
expect_eq "usage: consumer2 errors" 1 "$(u 'j["today"]["consumers"]["consumer2"]["errors"]')"
expect_eq "usage: the key-less call" 1 "$(u 'j["today"]["consumers"][""]["requests"]')"
expect_eq "usage: month equals today" \
	"$(u 'j["today"]["total"]')" "$(u 'j["month"]["total"]')"
relayed=$(u 'sum(v["requests"] - v["errors"] for v in j["today"]["consumers"].values())')
expect_eq "usage: answered requests equal the stub's count" "$stub_calls" "$relayed"
tok_in=$(u 'j["today"]["total"]["prompt_tokens"]')
tok_out=$(u 'j["today"]["total"]["completion_tokens"]')
stub_in=$("$PYTHON" -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"].startswith("/_stub"): continue
    msgs = (r.get("body_json") or {}).get("messages", [])
    n += max(1, sum(len(m["content"].split()) for m in msgs))
print(n)' "$T/stub.log")
expect_eq "usage: prompt tokens equal what the stub reported" "$stub_in" "$tok_in"
cost=$(u 'j["today"]["total"]["cost_usd"]')
want_cost=$("$PYTHON" -c "print('%.8f' % (($tok_in * 0.15 + $tok_out * 0.60) / 1e6))")
expect_eq "usage: cost is exact (tokens x price)" "$want_cost" "$("$PYTHON" -c "print('%.8f' % $cost)")"
day=$(date -u +%F)
expect_status 200 -H 'Authorization: Bearer usage-admin-key' "$GW_URL/_aigw/usage?since=$day&until=$day"
expect_eq "usage: range equals today" "$(u 'j["today"]["total"]')" "$(json_get 'j["range"]["total"]')"
expect_status 400 -H 'Authorization: Bearer usage-admin-key' "$GW_URL/_aigw/usage?since=2026-13-45"
expect_status 400 -H 'Authorization: Bearer usage-admin-key' "$GW_URL/_aigw/usage?since=$day&until=2020-01-01"

# ---- /_aigw/metrics, under another route's path, with the key in a keys header
expect_status 200 -H 'apikey: usage-admin-key' "$GW_URL/v1/_aigw/metrics"
cp "$T/body" "$T/metrics.txt"
metric_sum() { # REGEX: sum of the values of the matching series
	grep -E "$1" "$T/metrics.txt" | awk '{ s += $NF } END { printf "%d\n", s }'
}
expect_eq "metrics: requests total equals usage total" \
	"$(u 'j["today"]["total"]["requests"]')" "$(metric_sum '^aigw_requests_total\{')"
expect_eq "metrics: consumer1 requests" 6 "$(metric_sum '^aigw_requests_total\{consumer="consumer1"')"
expect_eq "metrics: 200s equal the stub's count" "$stub_calls" \
	"$(metric_sum '^aigw_requests_total\{.*status="200"')"
expect_eq "metrics: prompt tokens" "$tok_in" "$(metric_sum '^aigw_tokens_total\{.*kind="prompt"')"
expect_eq "metrics: completion tokens" "$tok_out" "$(metric_sum '^aigw_tokens_total\{.*kind="completion"')"
expect_eq "metrics: upstream histogram counts the relayed calls" "$stub_calls" \
	"$(metric_sum '^aigw_upstream_seconds_count')"
check "metrics: histogram buckets are cumulative and end at +Inf" "$PYTHON" -c '
import re, sys
vals = [float(l.split()[-1]) for l in open(sys.argv[1]) if l.startswith("aigw_overhead_seconds_bucket")]
count = float([l for l in open(sys.argv[1]) if l.startswith("aigw_overhead_seconds_count")][0].split()[-1])
assert vals == sorted(vals) and vals[-1] == count, (vals, count)' "$T/metrics.txt"

# ---- aigwctl usage over the usage log
"$AIGWCTL" -c "$T/aigw.ini" usage --by consumer --format json >"$T/ctl.json" || bail "aigwctl usage failed"
ctl() { json_get "$1" "$T/ctl.json"; }
expect_eq "aigwctl: consumer1 requests" 6 "$(ctl '[r for r in j if r["consumer"] == "consumer1"][0]["requests"]')"
expect_eq "aigwctl: total requests equal usage" "$(u 'j["today"]["total"]["requests"]')" \
	"$(ctl 'sum(r["requests"] for r in j)')"
expect_eq "aigwctl: prompt tokens equal usage" "$tok_in" "$(ctl 'sum(r["prompt_tokens"] for r in j)')"
expect_eq "aigwctl: cost equals usage" "$want_cost" "$(ctl "'%.8f' % sum(r['cost_usd'] for r in j)")"
"$AIGWCTL" -c "$T/aigw.ini" usage --by model --format csv >"$T/ctl.csv"
expect_contains "aigwctl: csv has a header" "$(head -1 "$T/ctl.csv")" "model,requests,errors"

# ---- a budget: team3 may spend $0.000001 a day; one answer costs more
before=$(stub_count)
expect_eq "team3: first call within budget" 200 "$(chat zzzzzz33 'spend some money please')"
expect_eq "team3: over budget" 429 "$(chat zzzzzz33 'and some more')"
expect_eq "team3: insufficient_quota" insufficient_quota "$(json_get 'j["error"]["type"]')"
retry=$(header Retry-After)
check "team3: Retry-After points at the end of the day" test "$retry" -ge 1 -a "$retry" -le 86400
expect_eq "team3: the stub was called once" $((before + 1)) "$(stub_count)"

# ---- every usage line is valid JSON with cost_usd
check "usage log: every line is JSON with cost_usd" "$PYTHON" -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert "cost_usd" in r and "request_id" in r and "stream" in r, r' "$T/log/usage.jsonl"
finish
