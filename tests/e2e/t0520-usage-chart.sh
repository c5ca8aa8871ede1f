#!/bin/bash
# t0520-usage-chart.sh: spend over time, /_aigw/usage?from=&to=&by=day and
# the usage page's chart, in a real browser.
#
# A week of past usage is written into state_dir's day tables through the
# stats code (build/stats-seed: day d before today has d*c + m calls for
# consumer c and model m, with cache reads and writes); today's comes from
# calls through the gateway.
#   * the endpoint's series: one entry per day from..to, the seeded numbers,
#     today's calls, empty days as zeros; range totals equal the series';
#   * bad ranges are 400: days that do not exist, to before from, more than
#     366 days, by=hour, malformed and hostile values;
#   * headless Chromium (tests/browser/chart.mjs) draws the chart: its bars'
#     data points read back from the page equal the endpoint's, for calls
#     per consumer, cost per model, tokens per consumer, and cache reads and
#     writes per model; screenshots in
#     $T/shots (copied to build/screenshots/).
# The browser part is skipped without Chromium, node or playwright-core
# (t0500-browser.sh installs it).

. "$(dirname "$0")/../setup.sh"

CHROMIUM=/usr/bin/chromium
BROWSER_DIR=$AIGW_TOP/tests/browser
SEED=$AIGW_BUILD/stats-seed

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
[ -x "$SEED" ] || bail "$SEED is missing: run make build/stats-seed"
scratch_init

ADMIN_KEY=admin-key-chart-5e1d
KEY1=sk-aigw-chart-consumer1-a1
KEY2=sk-aigw-chart-consumer2-b2

start_stub
mkdir -p "$T/state" "$T/log"
"$SEED" "$T/state" 7 >"$T/seed.out" || bail "stats-seed failed"
_www_data "$T/state" "$T/log"
cat >"$T/aigw.ini" <<POLICY
[gateway]
state_dir = $T/state
usage_log = $T/log/usage.jsonl
admin_key = $ADMIN_KEY

[upstream openai]
url        = $STUB_URL
api_key    = sk-upstream-secret-key
model      = gpt-4o-mini
timeout_ms = 10000

[consumer consumer1]
credential = $KEY1

[consumer consumer2]
credential = $KEY2

[route v1]
path     = /v1
mode     = openai
upstream = openai
allow    = consumer1, consumer2

[model gpt-4o-mini]
input_per_1m  = 0.15
output_per_1m = 0.60
POLICY
chmod 0644 "$T/aigw.ini"
start_lighttpd "$T/aigw.ini" 2
diag "lighttpd on $GW_URL"

for k in "$KEY1" "$KEY1" "$KEY2"; do
	expect_status 200 -H "Authorization: Bearer $k" -H 'Content-Type: application/json' \
		--data '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' \
		"$GW_URL/v1/chat/completions"
done

TODAY=$(date -u +%F)
FROM=$(date -u -d '-7 days' +%F)
usage() {
	http -H "Authorization: Bearer $ADMIN_KEY" "$GW_URL/v1/_aigw/usage?$1"
}

# ---- the endpoint
expect_eq "series: 200" 200 "$(usage "from=$FROM&to=$TODAY&by=day")"
cp "$T/body" "$T/series.json"
expect_eq "series: one entry per day, in order" \
	"$(for d in 7 6 5 4 3 2 1 0; do date -u -d "-$d days" +%F; done | tr '\n' ' ' | sed 's/ $//')" \
	"$(json_get '" ".join(e["date"] for e in j["series"])' "$T/series.json")"
check "series: the seeded days' numbers" "$PYTHON" - "$T/series.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for i, e in enumerate(j["series"][:-1]):
    d = 7 - i
    for c, cname in ((1, "consumer1"), (2, "consumer2")):
        n = sum(d * c + m for m in (1, 2))
        got = e["consumers"][cname]
        assert got["calls"] == n, (e["date"], cname, got)
        assert got["prompt_tokens"] == 100 * n and got["completion_tokens"] == 10 * n, got
        assert got["total_tokens"] == 110 * n, got
        assert got["cached_tokens"] == 30 * n, got
        assert got["cache_write_tokens"] == 5 * (d * c + 2), got
    for m, mname in ((1, "gpt-4o-mini"), (2, "gpt-4o")):
        n = sum(d * c + m for c in (1, 2))
        assert e["models"][mname]["calls"] == n, (e["date"], mname, e["models"])
        assert e["models"][mname]["cached_tokens"] == 30 * n, e["models"][mname]
        assert e["models"][mname]["cache_write_tokens"] == (5 * n if m == 2 else 0), e["models"][mname]
        assert abs(e["models"][mname]["cost_usd"] - 110 * n * 1e-9) < 1e-15, e["models"][mname]
    assert e["calls"] == sum(v["calls"] for v in e["consumers"].values()), e
    assert e["cached_tokens"] == sum(v["cached_tokens"] for v in e["models"].values()), e
PY
expect_eq "series: today is the calls through the gateway" '{"consumer1": 2, "consumer2": 1}' \
	"$(json_get '{k: v["calls"] for k, v in sorted(j["series"][-1]["consumers"].items())}' "$T/series.json")"
expect_eq "series: range totals are the series' sums" \
	"$(json_get 'sum(e["calls"] for e in j["series"])' "$T/series.json")" \
	"$(json_get 'j["range"]["total"]["requests"]' "$T/series.json")"
expect_eq "series: today and month are still there" true \
	"$(json_get '"today" in j and "month" in j' "$T/series.json")"
usage "from=2026-01-01&to=2026-01-01" >/dev/null
expect_eq "series: a day without usage is zeros" '[0, 0, 0, 0.0, {}]' \
	"$(json_get '[j["series"][0][k] for k in ("calls", "prompt_tokens", "total_tokens", "cost_usd", "consumers")]')"
usage "from=$FROM" >/dev/null
expect_eq "series: from alone runs to today" "$TODAY" "$(json_get 'j["series"][-1]["date"]')"
usage "from=2025-01-01&to=2026-01-01" >/dev/null
expect_eq "series: 366 days are fine" 366 "$(json_get 'len(j["series"])')"

# ---- hostile and malformed ranges
for q in "from=2026-02-30&to=2026-03-01" "from=2026-03-02&to=2026-03-01" \
	"from=2025-01-01&to=2026-01-02" "from=$FROM&to=$TODAY&by=hour" "by=week" \
	"from=2026-1-1" "from=20260101" "from=yesterday" "from=2026-01-01T00:00:00Z" \
	"from=%3Cscript%3E" "from=2026-01-01%00" "from=$(head -c 5000 /dev/zero | tr '\0' 9)" \
	"from=-001-01-01" "from=1969-12-31&to=1970-01-01" "to=9999-99-99"; do
	st=$(usage "$q")
	expect_eq "400 for ${q:0:60}" 400 "$st"
	# (lighttpd answers a %00 in the URL itself, before the gateway)
	[ "$st" = 400 ] && [ "${q%\%00}" = "$q" ] &&
		expect_eq "  code invalid_range" invalid_range "$(json_get 'j["error"]["code"]')"
done
expect_status 401 "$GW_URL/v1/_aigw/usage?from=$FROM&to=$TODAY&by=day"

# ---- the browser
[ -x "$CHROMIUM" ] || { diag "skip the browser part: $CHROMIUM not found"; finish; }
command -v node >/dev/null 2>&1 || { diag "skip the browser part: no node"; finish; }
[ -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ] ||
	{ diag "skip the browser part: playwright-core is not installed (t0500-browser.sh installs it)"; finish; }
mkdir -p "$T/shots" "$T/profile"
start_bg browser env GW_URL="$GW_URL" BASE=/v1 ADMIN_KEY="$ADMIN_KEY" FROM="$FROM" TO="$TODAY" \
	PROFILE="$T/profile" SHOTS="$T/shots" OUT="$T/chart.json" CHROMIUM="$CHROMIUM" \
	timeout 120 node "$BROWSER_DIR/chart.mjs"
browser_pid=$BG_PID
wait "$browser_pid"
browser_status=$?
stop_bg "$browser_pid"
mkdir -p "$AIGW_BUILD/screenshots"
cp "$T"/shots/*.png "$AIGW_BUILD/screenshots/" 2>/dev/null &&
	diag "screenshots: $AIGW_BUILD/screenshots/"
if ! expect_eq "the browser script ran to the end" 0 "$browser_status"; then
	sed 's/^/#   /' "$T/browser.out" | tail -n 40
	finish
fi

# compare NAME VIEW BY METRIC: the bars of the page's VIEW are the
# endpoint's series[BY][*][METRIC], day by day and key by key
compare() {
	check "$1" "$PYTHON" - "$T/chart.json" "$T/series.json" "$2" "$3" "$4" <<'PY'
import json, sys
page, api = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
view, by, metric = sys.argv[3:]
got = {}
for b in page[view]["bars"]:
    got.setdefault(b["date"], {})[b["key"]] = b["value"]
want = {e["date"]: {k: v[metric] for k, v in e[by].items()} for e in api["series"] if e[by]}
print("# page:", got)
print("# api: ", want)
assert got == want
days = {d["date"]: d["total"] for d in page[view]["days"]}
assert days == {e["date"]: e[metric] for e in api["series"]}, days
assert all(b["height"] >= 0 for b in page[view]["bars"])
PY
}
compare "chart: calls per consumer are the endpoint's" calls_by_consumer consumers calls
compare "chart: cost per model is the endpoint's" cost_by_model models cost_usd
compare "chart: tokens per consumer are the endpoint's" tokens_by_consumer consumers total_tokens
compare "chart: cache reads per model are the endpoint's" cached_by_model models cached_tokens
compare "chart: cache writes per model are the endpoint's" cache_write_by_model models cache_write_tokens
expect_eq "chart: the seeded cache reads are drawn" true \
	"$(json_get 'any(b["value"] > 0 for b in j["cached_by_model"]["bars"])' "$T/chart.json")"
expect_eq "usage JSON: the range's cache reads are the series' sums" \
	"$(json_get 'sum(e["cached_tokens"] for e in j["series"])' "$T/series.json")" \
	"$(json_get 'j["range"]["total"]["cached_tokens"]' "$T/series.json")"
expect_eq "chart: the default is the last 7 days" \
	"$(date -u -d '-6 days' +%F) $TODAY" \
	"$(json_get 'j["default_view"]["days"][0]["date"] + " " + j["default_view"]["days"][-1]["date"]' "$T/chart.json")"
expect_eq "chart: a legend entry per consumer, largest first" '["consumer2", "consumer1"]' \
	"$(json_get 'j["calls_by_consumer"]["legend"]' "$T/chart.json")"
expect_contains "chart: a refused range is said" "$(json_get 'j["too_long"]' "$T/chart.json")" "366"
expect_eq "chart: every control has a label" '[]' "$(json_get 'j["unlabelled"]' "$T/chart.json")"
expect_eq "chart: nothing asked of another server" '[]' "$(json_get 'j["offsite_requests"]' "$T/chart.json")"
expect_eq "chart: no console errors" '[]' \
	"$(json_get '[e for e in j["console_errors"] if "Failed to load resource" not in e]' "$T/chart.json")"
check "chart: a screenshot" test -s "$T/shots/usage-chart-calls.png"

finish
