#!/bin/sh
# usage-bench.sh: times `aigwctl usage` over a 1,000,000-line usage log in
# the gateway's own format, grouped each way. Prints figures; not pass/fail.
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
ctl=$top/build/aigwctl
lines=${LINES_TOTAL:-1000000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
/usr/bin/python3 - "$dir/usage.jsonl" "$lines" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
models = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
with open(out, "w") as f:
    for i in range(n):
        p, c = i % 700, i % 300
        cost = "%.8f" % ((p * 0.15 + c * 0.60) / 1e6)
        f.write('{"ts":"2026-11-%02dT%02d:%02d:07.123Z","request_id":"6b0818cb-%x-%x",'
                '"consumer":"team%d","route":"chat","model":"%s","upstream":"openai",'
                '"status":%d,"stream":%s,"prompt_tokens":%d,"completion_tokens":%d,'
                '"total_tokens":%d,"latency_ms":%d,"upstream_ms":%d,"cost_usd":%s}\n'
                % (1 + i % 28, i % 24, i % 60, i, i % 7, i % 25, models[i % 3],
                   429 if i % 50 == 0 else 200, "true" if i % 4 == 0 else "false",
                   p, c, p + c, 5 + i % 40, 4 + i % 40, cost))
PY
size=$(du -h "$dir/usage.jsonl" | cut -f1)
echo "aigwctl usage over $lines lines ($size), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-50s %8s\n' "command" "seconds"
for args in "" "--by consumer" "--by model" "--by day" "--by day --since 2026-11-10 --until 2026-11-20" "--format json --by consumer" "--format csv"; do
	start=$(date +%s.%N)
	"$ctl" usage --log "$dir/usage.jsonl" $args >/dev/null
	end=$(date +%s.%N)
	printf '%-50s %8.3f\n' "usage ${args:-(consumer+model)}" "$(awk "BEGIN { print $end - $start }")"
done
