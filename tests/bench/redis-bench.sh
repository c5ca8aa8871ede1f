#!/bin/bash
# redis-bench.sh: figures for the Redis store next to the file store.  It
# prints measurements; it does not pass or fail on them (exit status 1 only
# when something could not be measured).
#
#   1. The store's cost per request in one process (tests/bench/store_bench.c):
#      median microseconds of an admission, of an admission and its
#      settlement, and of recording the usage totals.
#   2. Requests per second through two lighttpd instances (4 FastCGI
#      processes each) under a small concurrent load, the store shared by
#      both: the file store (one state_dir for both) and one Redis.  Once
#      with every request admitted (relayed to the stub, which is Python and
#      may well be the bottleneck) and once with every request refused (429
#      from the limit, no upstream call: the gateway and its store alone).
#
# Load generator: ab (apache2-utils) if installed, else curl --parallel.
# Environment: BENCH_N (store-bench runs per step, default 5000),
# BENCH_REQUESTS (requests per load run, default 4000), BENCH_CONCURRENCY
# (requests in flight per instance, default 4).

. "$(dirname "$0")/../setup.sh"

need curl lighttpd
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

N=${BENCH_N:-5000}
REQUESTS=${BENCH_REQUESTS:-4000}
CONC=${BENCH_CONCURRENCY:-4}
status=0

start_redis
start_stub

# ---------------------------------------------------------------- 1. store-bench

# build/store-bench when the Makefile knows it, else built here from the
# objects of the last build (build/obj/*.o, as the unit tests are).
store_bench() {
	local src=$AIGW_TOP/tests/bench/store_bench.c objs
	if (cd "$AIGW_TOP" && make -s build/store-bench >/dev/null 2>&1) &&
		[ -x "$AIGW_BUILD/store-bench" ]; then
		echo "$AIGW_BUILD/store-bench"
		return 0
	fi
	objs=$(cd "$AIGW_TOP" && make -s --no-print-directory -f Makefile -f - \
		bench-core-objs <<'EOF'
bench-core-objs: ; @echo $(CORE_OBJ)
EOF
	) || return 1
	(
		cd "$AIGW_TOP" || exit 1
		set -- $objs
		cc -D_GNU_SOURCE -Ilib -Ipolicy -Icgi -std=c11 -O2 -g -Wall -Wextra \
			-o "$T/store-bench" "$src" "${@/#/build/obj/}" \
			-lfcgi -lcurl -ljson-c -linih -lhiredis -lm
	) >&2 || return 1
	echo "$T/store-bench"
}

echo "== store cost per request, one process (redis-server on 127.0.0.1:$REDIS_PORT)"
if bench=$(store_bench); then
	mkdir -p "$T/bench-state"
	"$bench" -n "$N" -r "127.0.0.1:$REDIS_PORT" "$T/bench-state" || status=1
else
	echo "store-bench could not be built (run make first)"
	status=1
fi

# ---------------------------------------------------------------- 2. two gateways

# write_policy OUT STORE: both instances share STORE (file: one state_dir).
write_policy() {
	local out=$1 store=$2
	cat >"$out.tmp" <<EOF
[gateway]
state_dir          = $T/state
store              = $store
default_max_tokens = 16

[upstream stub]
url        = $STUB_URL
model      = gpt-4o-mini
timeout_ms = 10000

[auth]
keys = apikey

; far from its limits: every request admitted, counted, settled
[consumer busy]
credential       = key-busy
query_per_minute = 100000000
token_per_hour   = 100000000000
budget_per_day   = 1000

; one request an hour: after the first, every request is refused (429)
[consumer full]
credential     = key-full
query_per_hour = 1

[route chat]
path         = /
prompt_param = text

[model gpt-4o-mini]
input_per_1m  = 0.15
output_per_1m = 0.60
EOF
	chmod 0644 "$out.tmp"
	mv -f "$out.tmp" "$out"
}

mkdir -p "$T/state"
_www_data "$T/state"
write_policy "$T/gw1.ini" file
write_policy "$T/gw2.ini" file
GW_INSTANCE=gw1 start_lighttpd "$T/gw1.ini" 4
GW1=$GW_URL
GW_PID=     # keep it running beside the second one
GW_INSTANCE=gw2 start_lighttpd "$T/gw2.ini" 4
GW2=$GW_URL

if command -v ab >/dev/null 2>&1; then
	tool=ab
else
	tool="curl --parallel"
fi

# load NAME KEY: REQUESTS requests, half to each instance, CONC in flight
# per instance; prints requests/s over the two and the statuses seen.
load() {
	local name=$1 key=$2 half=$((REQUESTS / 2)) t0 t1 i n ok pids=""
	rm -rf "$T/load"
	mkdir -p "$T/load"
	t0=$(date +%s%N)
	for i in 1 2; do
		local url=$GW1
		[ "$i" = 2 ] && url=$GW2
		if [ "$tool" = ab ]; then
			ab -q -k -n "$half" -c "$CONC" -H "apikey: $key" \
				"$url/?text=bench" >"$T/load/$i.out" 2>&1 &
			pids="$pids $!"
		else
			for n in $(seq 1 "$half"); do
				printf 'url = "%s/?text=bench"\noutput = /dev/null\n' "$url"
			done >"$T/load/$i.cfg"
			curl -sS --parallel --parallel-immediate \
				--parallel-max "$CONC" -H "apikey: $key" \
				-w '%{http_code}\n' -K "$T/load/$i.cfg" \
				>"$T/load/$i.out" 2>&1 &
			pids="$pids $!"
		fi
	done
	# Only these: a bare wait would wait for the servers too.
	wait $pids
	t1=$(date +%s%N)
	if [ "$tool" = ab ]; then
		# ab counts 2xx as complete and the rest as "Non-2xx".
		ok=$(awk '/^Complete requests:/ { c += $3 }
			/^Non-2xx responses:/ { x += $3 }
			/^Failed requests:/ { f += $3 }
			END { printf "%d completed, %d non-2xx, %d failed", c, x, f }' \
			"$T"/load/[12].out)
	else
		ok=$(cat "$T"/load/[12].out | sort | uniq -c |
			awk '{ printf "%s%d x %s", sep, $1, $2; sep = ", " }')
	fi
	awk -v name="$name" -v n="$((2 * half))" -v ns="$((t1 - t0))" -v ok="$ok" \
		'BEGIN { printf "%-34s %8.0f requests/s  (%d in %.2f s; %s)\n",
			name, n / (ns / 1e9), n, ns / 1e9, ok }'
}

# Prime "full" (its one request), then warm both instances up.
prime() {
	local i pids=""
	curl -sS -o /dev/null -H 'apikey: key-full' "$GW1/?text=first"
	for i in 1 2 3 4 5 6 7 8; do
		curl -sS -o /dev/null -H 'apikey: key-busy' "$GW1/?text=warm" &
		pids="$pids $!"
		curl -sS -o /dev/null -H 'apikey: key-busy' "$GW2/?text=warm" &
		pids="$pids $!"
	done
	wait $pids
}

echo
echo "== two lighttpd instances x 4 processes, $REQUESTS requests, $CONC in flight per instance ($tool)"
prime
before=$(stub_count)
load "file store, admitted (stub)" key-busy
diag "stub saw $(($(stub_count) - before)) of them"
load "file store, refused (429)" key-full

write_policy "$T/gw1.ini" "redis://127.0.0.1:$REDIS_PORT/0"
write_policy "$T/gw2.ini" "redis://127.0.0.1:$REDIS_PORT/0"
sleep 1.2   # each process reloads the policy at most once a second
prime
before=$(stub_count)
load "redis store, admitted (stub)" key-busy
diag "stub saw $(($(stub_count) - before)) of them"
load "redis store, refused (429)" key-full
if grep -q 'admitted uncounted\|refused (store_failure' "$T/gw1.out" "$T/gw2.out"; then
	diag "the store failed during the run:"
	grep -h 'store_failure' "$T/gw1.out" "$T/gw2.out" | head -n 5 | sed 's/^/#   /'
	status=1
fi
if ! command -v wrk >/dev/null 2>&1; then
	diag "wrk is not installed; $tool made the load"
fi
exit "$status"
