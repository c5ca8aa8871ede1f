-- load.lua: the request wrk sends, for tests/bench/run.sh.
--
-- Environment:
--   BENCH_METHOD   GET or POST (default GET)
--   BENCH_BODY     the request body (sent as application/json), if any
--   BENCH_HEADERS  extra request headers, "Name: value" separated by "|"
--
-- At the end it prints one line for run.sh:
--   BENCH requests duration_us connect_err read_err write_err status_err
--         timeouts p50_us p99_us max_us slow_pct
-- where status_err counts answers with a status of 400 or more and slow_pct
-- is the share (in percent) of answers that took a second or longer.

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
   wrk.body = body
   wrk.headers["Content-Type"] = "application/json"
end

local headers = os.getenv("BENCH_HEADERS") or ""
for item in string.gmatch(headers, "[^|]+") do
   local name, value = string.match(item, "^%s*([^:]+):%s*(.-)%s*$")
   if name then
      wrk.headers[name] = value
   end
end

-- The share of answers at or above us microseconds, from the percentiles.
local function share_above(latency, us)
   if latency.max < us then
      return 0
   end
   local lo, hi = 0.0, 100.0
   for _ = 1, 40 do
      local mid = (lo + hi) / 2
      if latency:percentile(mid) >= us then
         hi = mid
      else
         lo = mid
      end
   end
   return 100 - hi
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("BENCH %d %d %d %d %d %d %d %d %d %d %.3f\n",
      summary.requests, summary.duration, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(99),
      latency.max, share_above(latency, 1000000)))
end
