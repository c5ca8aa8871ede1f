#!/bin/bash
# t0210-threads.sh: threads in each responder process, exact limits across
# them, max_parallel, reload under threaded load, abandoned requests.
#
# Under lighttpd with 2 processes x 8 threads ([gateway] threads = 8):
#   * each process runs its 8 workers;
#   * query_per_hour = 20, 60 requests 12 at a time: exactly 20 admitted;
#   * max_parallel = 3, 12 slow streams at once: never more than 3 in flight
#     (aigw_in_flight sampled meanwhile), every other one 429 with code
#     too_many_parallel_requests and Retry-After: 1, before the upstream;
#   * kill -9 of a process holding slots: its slots are free again (3 new
#     requests admitted at once, the 4th refused);
#   * the same two exactness checks with the Redis store (skipped without
#     redis-server);
#   * reload under load: 1,000 requests while the policy changes 20 times
#     between two versions: every answer comes from one whole version, no 5xx.
# Under nginx with 1 process x 1 thread: a request queued behind a slow one whose client
# leaves before its turn is not relayed (the stub never sees it; usage log:
# status 499, reason client_gone).
#
# PARTS="file redis reload gone" (the default) picks the parts to run.
# AIGW_TEST_THREADS is ignored here: the thread counts are the test's.

. "$(dirname "$0")/../setup.sh"
unset AIGW_TEST_THREADS

need curl xargs
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

USAGE_LOG=$T/log/usage.jsonl
ADMIN_KEY=admin-secret-0210

# 8 events 250 ms apart: a stream takes about 2 s.
start_stub --stream-interval-ms 250 --stream-pieces 6 --slow-ms 3000
mkdir -p "$T/state" "$T/log"
_www_data "$T/state" "$T/log"

# write_policy OUT STATE THREADS STORE [VERSION]: the test's policy; STORE
# is "file" or a redis:// URL; VERSION a or b names consumer key-v
# (alpha / beta) and the blocked message (version-a / version-b).
write_policy() {
	local out=$1 state=$2 threads=$3 store=$4 v=${5:-a} name store_line=
	[ "$v" = a ] && name=alpha || name=beta
	[ "$store" = file ] || store_line="store = $store"
	mkdir -p "$T/state/$state"
	_www_data "$T/state/$state"
	cat >"$out.tmp" <<EOF
[gateway]
state_dir = $T/state/$state
usage_log = $USAGE_LOG
threads   = $threads
admin_key = $ADMIN_KEY
$store_line

[upstream stub]
url        = $STUB_URL
api_key    = sk-upstream-secret-key
model      = gpt-4o-mini
timeout_ms = 20000

[auth]
keys = apikey

[consumer q]
credential     = key-q
query_per_hour = 20

[consumer par]
credential   = key-par
max_parallel = 3

[consumer $name]
credential = key-v

[route api]
path     = /v1
mode     = openai
upstream = stub

[route chat]
path            = /
prompt_param    = text
block_urls      = zzblock
blocked_code    = 403
blocked_message = version-$v
EOF
	chmod 0644 "$out.tmp"
	mv -f "$out.tmp" "$out"
}

# A window phase must not straddle the end of the hour.
hour_guard() {
	local left=$((3600 - $(date +%s) % 3600))
	if [ "$left" -le "$1" ]; then
		diag "the hour window ends in $left s: waiting for it to roll"
		sleep $((left + 1))
	fi
}

count_status() {
	cat "$1"/*.status 2>/dev/null | grep -c "^$2\$"
}

# burst DIR N PARALLEL KEY: N prompt requests, PARALLEL at a time.
burst() {
	local dir=$1 n=$2 par=$3 key=$4
	mkdir -p "$dir"
	seq 1 "$n" | xargs -P "$par" -I{} sh -c '
		curl -sS --max-time 60 -o "$1/$2.body" -D "$1/$2.headers" \
			-w "%{http_code}\n" -H "apikey: $4" \
			"$3/?text=burst,$2" >"$1/$2.status" 2>"$1/$2.err"
		exit 0' sh "$dir" {} "$GW_URL" "$key"
}

# streams DIR N PARALLEL: N streamed chat requests of consumer par.
streams() {
	local dir=$1 n=$2 par=$3
	mkdir -p "$dir"
	seq 1 "$n" | xargs -P "$par" -I{} sh -c '
		curl -sS --max-time 60 -o "$1/$2.body" -D "$1/$2.headers" \
			-w "%{http_code}\n" -H "apikey: key-par" \
			-H "Content-Type: application/json" \
			-d "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"s$2\"}]}" \
			"$3/v1/chat/completions" >"$1/$2.status" 2>"$1/$2.err"
		exit 0' sh "$dir" {} "$GW_URL"
}

# in_flight: aigw_in_flight of consumer par now ("" when absent).
in_flight() {
	curl -sS --max-time 10 -H "Authorization: Bearer $ADMIN_KEY" \
		"$GW_URL/_aigw/metrics" 2>/dev/null |
		sed -n 's/^aigw_in_flight{consumer="par"} \([0-9]*\)$/\1/p'
}

# sample_in_flight FILE: appends in_flight to FILE every 100 ms until
# FILE.stop exists.
sample_in_flight() {
	while [ ! -e "$1.stop" ]; do
		in_flight >>"$1"
		sleep 0.1
	done
}

run_exact() {
	local tag=$1 store=$2 dir=$T/$1 before seen max par429 bad
	write_policy "$T/$tag.ini" "$tag" 8 "$store"
	start_lighttpd "$T/$tag.ini" 2
	diag "$tag: lighttpd on $GW_URL, 2 processes x 8 threads"

	if [ "$tag" = file ]; then
		sleep 0.5
		local pid threads ok=0 pids
		pids=$(fcgi_pids)
		for pid in $pids; do
			threads=$(sed -n 's/^Threads:\t*//p' "/proc/$pid/status")
			[ "${threads:-0}" -ge 9 ] && ok=$((ok + 1))
		done
		expect_eq "$tag: 2 processes with 8 workers each (and the main thread)" \
			2 "$ok"
	fi

	hour_guard 30
	before=$(stub_count)
	burst "$dir.q" 60 12 key-q
	expect_eq "$tag: 60 requests, 12 at once, against query_per_hour = 20" \
		"200=20 429=40" "200=$(count_status "$dir.q" 200) 429=$(count_status "$dir.q" 429)"
	expect_eq "$tag: the upstream saw the 20 admitted only" 20 \
		$(($(stub_count) - before))

	before=$(stub_count)
	sample_in_flight "$dir.samples" &
	local sampler=$!
	streams "$dir.p" 12 12
	: >"$dir.samples.stop"
	wait "$sampler"
	seen=$(count_status "$dir.p" 200)
	par429=$(count_status "$dir.p" 429)
	max=$(sort -n "$dir.samples" | tail -n 1)
	diag "$tag: max_parallel = 3: $seen streamed, $par429 refused; in flight at most ${max:-?}"
	check "$tag: 3 streams admitted (12 at once, max_parallel = 3)" \
		test "$seen" -ge 3 -a "$seen" -le 6
	expect_eq "$tag: every other one 429" 12 $((seen + par429))
	check "$tag: never more than 3 in flight (aigw_in_flight)" test "${max:-9}" -le 3
	check "$tag: aigw_in_flight saw the streams" test "${max:-0}" -ge 1
	expect_eq "$tag: the upstream saw the admitted streams only" "$seen" \
		$(($(stub_count) - before))
	bad=
	for f in "$dir.p"/*.status; do
		[ "$(cat "$f")" = 429 ] || continue
		cp "${f%.status}.body" "$T/body"
		cp "${f%.status}.headers" "$T/headers"
		[ "$(json_get 'j["error"]["code"]')" = too_many_parallel_requests ] &&
			[ "$(header Retry-After)" = 1 ] || bad="$bad ${f##*/}"
	done
	expect_eq "$tag: each 429 is too_many_parallel_requests with Retry-After: 1" "" "$bad"
	expect_eq "$tag: nothing in flight afterwards" 0 "$(in_flight)"
	grep -q '"reason":"parallel_limit"' "$USAGE_LOG"
	check "$tag: usage log reason parallel_limit" test $? = 0

	[ "$tag" = file ] && kill_holder "$dir"
	stop_server
}

# 3 slow requests hold every slot; the process holding the most is killed.
kill_holder() {
	local dir=$1 pid victim= most=0 n i=0 after clients=()
	stub_behavior slow
	for i in 1 2 3; do
		curl -sS --max-time 30 -o /dev/null -H "apikey: key-par" \
			-H "Content-Type: application/json" \
			-d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"k"}]}' \
			"$GW_URL/v1/chat/completions" 2>/dev/null &
		clients+=($!)
	done
	i=0
	while [ "$(in_flight)" != 3 ] && [ "$i" -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	expect_eq "kill: 3 slow requests hold the 3 slots" 3 "$(in_flight)"
	for pid in $(fcgi_pids); do
		n=$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -c "/slots/")
		if [ "$n" -gt "$most" ]; then
			most=$n
			victim=$pid
		fi
	done
	check "kill: a process holds slot files" test -n "$victim"
	kill -9 "$victim" 2>/dev/null
	sleep 0.3
	after=$(in_flight)
	expect_eq "kill: its $most slot(s) are free at once" $((3 - most)) "$after"
	stub_behavior normal
	wait "${clients[@]}"
	streams "$dir.k" 3 3
	expect_eq "kill: 3 new streams admitted at once afterwards" 3 \
		"$(count_status "$dir.k" 200)"
}

# ---------------------------------------------------------------- reload

run_reload() {
	local pol=$T/reload.ini out
	write_policy "$pol" reload 8 file a
	start_lighttpd "$pol" 2
	diag "reload: 1,000 requests while the policy changes 20 times"
	(
		for i in $(seq 1 20); do
			sleep 0.45
			if [ $((i % 2)) = 1 ]; then v=b; else v=a; fi
			write_policy "$pol" reload 8 file "$v"
		done
	) &
	local writer=$!
	out=$("$PYTHON" - "$GW_URL" <<'EOF'
import sys, threading, time, urllib.request, urllib.error
url = sys.argv[1]
results, lock = [], threading.Lock()
def one(i):
    blocked = i % 2 == 0
    req = urllib.request.Request(url + ("/?text=zzblock%d" % i if blocked else "/?text=hi%d" % i),
                                 headers={"apikey": "key-v"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            st, body, who = r.status, r.read().decode(), r.headers.get("X-AIGW-Consumer")
    except urllib.error.HTTPError as e:
        st, body, who = e.code, e.read().decode(), e.headers.get("X-AIGW-Consumer")
    except Exception as e:
        st, body, who = 0, str(e), None
    with lock:
        results.append((blocked, st, body, who))
def worker(k):
    # spread over the ~9 s of the policy changes
    for i in range(k, 1000, 12):
        one(i)
        time.sleep(0.1)
ts = [threading.Thread(target=worker, args=(k,)) for k in range(12)]
[t.start() for t in ts]
[t.join() for t in ts]
bad, seen = [], set()
for blocked, st, body, who in results:
    if blocked:
        pair = (who, body)
        ok = st == 403 and pair in (("alpha", "version-a"), ("beta", "version-b"))
    else:
        pair = (who, st)
        ok = st == 200 and who in ("alpha", "beta")
    seen.add(who)
    if not ok:
        bad.append((blocked, st, body[:80], who))
print("answers=%d bad=%d versions=%s first_bad=%r" %
      (len(results), len(bad), ",".join(sorted(str(s) for s in seen)), bad[:3]))
EOF
)
	wait "$writer"
	diag "reload: $out"
	expect_contains "reload: 1,000 answers" "$out" "answers=1000 "
	expect_contains "reload: every answer from one whole policy, no 5xx" "$out" " bad=0 "
	expect_contains "reload: both versions answered" "$out" "versions=alpha,beta "
	stop_server
}

# ---------------------------------------------------------------- abandoned

run_gone() {
	local pol=$T/one.ini before lines
	# nginx closes the FastCGI connection when its client leaves (lighttpd
	# 1.4 notices only when it writes the answer, so there the request is
	# still relayed).
	if ! command -v nginx >/dev/null || ! command -v spawn-fcgi >/dev/null; then
		diag "nginx or spawn-fcgi not installed: the abandoned-request part is skipped"
		return
	fi
	write_policy "$pol" one 1 file
	start_nginx "$pol" 1
	diag "gone: nginx, 1 process x 1 thread; a request queued behind a slow one leaves"
	stub_behavior slow
	before=$(stub_count)
	curl -sS --max-time 30 -o /dev/null -H "apikey: key-v" "$GW_URL/?text=first" &
	local first=$!
	sleep 0.5
	curl -sS --max-time 1 -o /dev/null -H "apikey: key-v" "$GW_URL/?text=second" \
		2>/dev/null
	wait "$first"
	stub_behavior normal
	sleep 0.5
	expect_eq "gone: the stub saw the first request only" 1 $(($(stub_count) - before))
	lines=$(grep -c '"reason":"client_gone".*' "$USAGE_LOG")
	grep '"reason":"client_gone"' "$USAGE_LOG" | grep -q '"status":499'
	check "gone: usage log: status 499, reason client_gone" test $? = 0 -a "$lines" -ge 1
	expect_status 200 -H "apikey: key-v" "$GW_URL/?text=after"
	stop_server
}

PARTS=" ${PARTS:-file redis reload gone} "
[[ $PARTS == *" file "* ]] && run_exact file file
if [[ $PARTS != *" redis "* ]]; then
	:
elif command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	start_redis
	run_exact redis "$REDIS_URL"
else
	diag "redis-server not installed: the Redis part is skipped"
fi
[[ $PARTS == *" reload "* ]] && run_reload
[[ $PARTS == *" gone "* ]] && run_gone
finish
