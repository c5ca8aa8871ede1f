#!/bin/bash
# tests/bench/run.sh: the gateway's load benchmark (`make bench`).
#
# Loads each target with wrk (tests/bench/load.lua) at 1, 16 and 64
# connections, for two kinds of request:
#   chat    POST /v1/chat/completions, "Authorization: Bearer <consumer key>"
#           and a small JSON body (an OpenAI-mode route)
#   prompt  GET /?text=Say,hello with "apikey: xxxxxx" (the prompt route)
# against these targets, each started in its own directory under the
# scratch directory, in front of one nginx upstream that answers a canned
# chat completion (with a usage object) to anything:
#   direct          the nginx upstream itself
#   nginx-proxy     a plain nginx reverse proxy in front of it: the one-hop
#                   floor (worker_processes auto, keep-alive to the upstream)
#   bare-lighttpd   tests/bench/bare_relay.c (build/bare-relay), a minimal
#                   libfcgi + libcurl relay without any policy, under lighttpd
#                   with 4 processes: the floor of this architecture
#   aigw-lighttpd   aigw.fcgi under lighttpd + mod_fastcgi, 4 processes
#   aigw-fcgid      aigw.fcgi under Apache + mod_fcgid, at most 4 processes
#   aigw-proxyfcgi  aigw.fcgi under Apache + mod_proxy_fcgi, 4 processes
#                   started by spawn-fcgi (through multiwatch)
#   portkey         the Portkey gateway (node), chat only, when installed in
#                   tests/bench/portkey/node_modules (npm ci there)
# The aigw targets run a realistic policy: key auth with 10 consumers, 20
# block strings on the URL and 20 on the body of each route (case
# insensitive), a request window on each consumer (query_per_second far
# above the load, so nothing is refused), the usage log, prices, an
# OpenAI-mode route at /v1 and the prompt route at /.
#
# Then, for each aigw target, the time to first byte of a streamed answer
# (tests/stub/openai_stub.py --stream-interval-ms 50, through an OpenAI-mode
# route) through the gateway and directly from the stub: median of 20
# requests each, with curl -w %{time_starttransfer}, on a kept-alive client
# connection in both cases.
#
# Columns of the table:
#   req/s      answers per second (wrk)
#   p50, p99   latency percentiles (ms); max: the slowest answer
#   +p50       p50 minus the direct target's p50 at the same connections
#   x-proxy    req/s as a ratio of nginx-proxy's at the same connections
#   cpu/req    CPU time (utime + stime, from /proc/PID/stat) of the target's
#              processes (web server and FastCGI processes; for direct, the
#              upstream itself) per answer, in microseconds; resp: the part
#              of it spent in the responder processes
#   priv, rss  private (Private_Clean + Private_Dirty) and total resident
#              memory of the largest responder process (aigw.fcgi,
#              bare-relay, node), in MB, from /proc/PID/smaps_rollup, after
#              the run; n: how many responder processes there were
#   >=1s       the share of answers that took a second or longer (%)
#   errors     socket errors + answers with status >= 400 + timeouts
#
# Installs nothing.  Needs wrk, nginx, curl and python3; lighttpd, apache2
# with mod_fcgid and mod_proxy_fcgi, spawn-fcgi, multiwatch and node are
# needed by the rows that use them: a row whose program is missing is skipped
# and says so.
#
# Settings (environment):
#   BENCH_SECONDS  seconds per measured run (default 3)
#   BENCH_WARMUP   seconds of warm-up per target and kind, at the highest
#                  connection count (default 1)
#   BENCH_CONNS    connection counts (default "1 16 64")
#   BENCH_TARGETS  targets to run (default: all of the above)
#   BARE_RELAY     the bare relay program (default build/bare-relay)
#   BENCH_THREADS  [gateway] threads of the aigw targets (default: the
#                  policy default, 64)

. "$(dirname "$0")/../setup.sh"
. "$(dirname "$0")/common.sh"

BENCH_DIR=$AIGW_TOP/tests/bench
BARE_RELAY=${BARE_RELAY:-$AIGW_BUILD/bare-relay}
SECONDS_PER_RUN=${BENCH_SECONDS:-3}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNS:-1 16 64}
TARGETS=${BENCH_TARGETS:-direct nginx-proxy bare-lighttpd aigw-lighttpd aigw-fcgid aigw-proxyfcgi portkey}
PROCS=4
SETTLE=0.5
PORTKEY_JS=$BENCH_DIR/portkey/node_modules/@portkey-ai/gateway/build/start-server.js
PROCSTAT=$BENCH_DIR/procstat.py

# ---------------------------------------------------------------- helpers

declare -A R        # results: R[target|kind|conns|field]
declare -A SKIPPED  # SKIPPED[target] = why
declare -A TTFB     # TTFB[target] = "direct_ms gateway_ms"
ROWS=()             # "target kind" in run order

skip_target() {
	SKIPPED[$1]=$2
	note "skip $1: $2"
}

# session_of NAME: the session id of what start_bg NAME started.
session_of() {
	cat "$T/$1.session"
}

# curl_kind KIND TARGET URL [CURL-ARGS...]: one request of KIND; prints the
# status; headers in $T/smoke.h, body in $T/smoke.b.
curl_kind() {
	local kind=$1 target=$2 base=$3 args=() h
	shift 3
	kind_env "$kind" "$target"
	IFS='|' read -ra hs <<<"$K_HEADERS"
	for h in "${hs[@]}"; do
		args+=(-H "$h")
	done
	[ -n "$K_BODY" ] && args+=(-H 'Content-Type: application/json' --data-binary "$K_BODY")
	curl -sS --max-time 20 -o "$T/smoke.b" -D "$T/smoke.h" -w '%{http_code}' \
		-X "$K_METHOD" "${args[@]}" "$@" "$base$K_PATH" 2>"$T/smoke.err"
}

# smoke TARGET BASE-URL KIND [CONSUMER]: one request must answer 200 (with
# X-AIGW-Consumer: CONSUMER when given) before the target is loaded.
smoke() {
	local target=$1 base=$2 kind=$3 consumer=${4:-} code got
	code=$(curl_kind "$kind" "$target" "$base")
	kind_env "$kind" "$target"
	if [ "$code" != 200 ]; then
		skip_target "$target" "$kind: status $code from $base$K_PATH: $(head -c 200 "$T/smoke.b")"
		return 1
	fi
	if [ -n "$consumer" ]; then
		got=$(tr -d '\r' <"$T/smoke.h" | sed -n 's/^[Xx]-[Aa][Ii][Gg][Ww]-[Cc]onsumer: //p')
		if [ "$got" != "$consumer" ]; then
			skip_target "$target" "$kind: X-AIGW-Consumer \"$got\", expected \"$consumer\""
			return 1
		fi
	fi
	return 0
}

# route_of_last USAGE-LOG: the route of the last usage-log line.
route_of_last() {
	"$PYTHON" -c 'import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
print(json.loads(lines[-1]).get("route", "") if lines else "")' "$1" 2>/dev/null
}

# wrk_run CONNS SECONDS URL: runs wrk with the K_* request; prints the BENCH
# line (empty on failure).
wrk_run() {
	local conns=$1 secs=$2 url=$3
	BENCH_METHOD=$K_METHOD BENCH_BODY=$K_BODY BENCH_HEADERS=$K_HEADERS \
		wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s -s "$BENCH_DIR/load.lua" "$url" \
		>"$T/wrk.out" 2>&1
	grep '^BENCH ' "$T/wrk.out" | tail -1
}

# load TARGET KIND BASE-URL EXE SID...: warm up, then one wrk run per
# connection count; records req/s, latencies, CPU per answer and memory.
load() {
	local target=$1 kind=$2 base=$3 exe=$4 c line t0 r0 t1 r1 hz
	local n dur e1 e2 e3 e4 e5 p50 p99 max slow hi=${CONNS##* }
	shift 4
	kind_env "$kind" "$target"
	ROWS+=("$target $kind")
	note "$target $kind: warm-up ${WARMUP}s at $hi connections"
	wrk_run "$hi" "$WARMUP" "$base$K_PATH" >/dev/null
	# Requests of the warm-up still waiting in the server (mod_fcgid holds
	# them in one-second sleeps) must not land in the first run.
	sleep "$SETTLE"
	for c in $CONNS; do
		read -r t0 r0 hz <<<"$("$PROCSTAT" cpu "${exe:--}" "$@")"
		line=$(wrk_run "$c" "$SECONDS_PER_RUN" "$base$K_PATH")
		read -r t1 r1 hz <<<"$("$PROCSTAT" cpu "${exe:--}" "$@")"
		if [ -z "$line" ]; then
			note "$target $kind $c: wrk failed: $(tail -3 "$T/wrk.out" | tr '\n' ' ')"
			R[$target|$kind|$c|fail]=1
			continue
		fi
		# BENCH requests duration_us conn read write status timeout p50 p99 max slow
		read -r _ n dur e1 e2 e3 e4 e5 p50 p99 max slow <<<"$line"
		R[$target|$kind|$c|n]=$n
		R[$target|$kind|$c|rps]=$(awk -v n="$n" -v d="$dur" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
		R[$target|$kind|$c|p50]=$p50
		R[$target|$kind|$c|p99]=$p99
		R[$target|$kind|$c|max]=$max
		R[$target|$kind|$c|slow]=$slow
		R[$target|$kind|$c|err]=$((e1 + e2 + e3 + e4 + e5))
		R[$target|$kind|$c|errs]="connect $e1, read $e2, write $e3, status>=400 $e4, timeout $e5"
		R[$target|$kind|$c|cpu]=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" \
			'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')
		if [ -n "$exe" ]; then
			R[$target|$kind|$c|rcpu]=$(awk -v t=$((r1 - r0)) -v hz="$hz" -v n="$n" \
				'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')
			R[$target|$kind|$c|mem]=$("$PROCSTAT" mem "$exe" "$@")
		fi
		note "$target $kind c=$c: ${R[$target|$kind|$c|rps]} req/s, p50 $((p50))us, errors ${R[$target|$kind|$c|err]}"
	done
}

# ttfb_series URL KEY: the time to first byte (s) of 21 streamed requests on
# one kept-alive connection, one per line, the first (connection set-up)
# left out.
ttfb_series() {
	local url=$1 key=$2 args=() i
	for i in $(seq 21); do
		args+=(-o /dev/null "$url")
	done
	curl -sS --max-time 60 -w '%{time_starttransfer}\n' -X POST \
		-H 'Content-Type: application/json' -H "Authorization: Bearer $key" \
		--data-binary "$STREAM_BODY" "${args[@]}" | tail -n +2
}

median_ms() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) * 1000 }'
}

# ttfb TARGET GATEWAY-BASE: median time to first byte of a streamed answer,
# through the gateway's /stream route and straight from the stub, each on a
# kept-alive client connection (as the gateway's own connection to the stub
# is), so that the difference is what the gateway adds.
ttfb() {
	local target=$1 base=$2 i d g
	# Warm-up: the processes open their connections to the stub.
	for i in 1 2 3 4; do
		curl -sS --max-time 20 -o /dev/null -X POST \
			-H 'Content-Type: application/json' -H "Authorization: Bearer $APP_KEY" \
			--data-binary "$STREAM_BODY" "$base/stream/chat/completions"
	done
	d=$(ttfb_series "$STUB_URL/chat/completions" "$UPSTREAM_KEY" | median_ms)
	g=$(ttfb_series "$base/stream/chat/completions" "$APP_KEY" | median_ms)
	TTFB[$target]="$d $g"
	note "$target: TTFB direct $d ms, through the gateway $g ms"
}

# ---------------------------------------------------------------- servers

start_nginx_proxy() {
	local d=$T/nginx-proxy
	PX_PORT=$(free_port)
	mkdir -p "$d/tmp"
	_www_data "$d/tmp"
	{
		cat <<EOF
# the one-hop floor: nginx proxying to the bench upstream
worker_processes auto;
pid              $d/nginx.pid;
error_log        $d/error.log warn;
EOF
		[ "$(id -u)" = 0 ] && echo "user             www-data www-data;"
		cat <<EOF
events {
    worker_connections 4096;
}
http {
    access_log $d/access.log;
    client_body_temp_path $d/tmp/client_body;
    proxy_temp_path       $d/tmp/proxy;
    fastcgi_temp_path     $d/tmp/fastcgi;
    uwsgi_temp_path       $d/tmp/uwsgi;
    scgi_temp_path        $d/tmp/scgi;
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$PX_PORT;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
	} >"$T/nginx-proxy.conf"
	nginx -t -q -e "$d/error.log" -p "$d/" -c "$T/nginx-proxy.conf" >"$T/nginx-proxy.out" 2>&1 || {
		sed 's/^/#   /' "$T/nginx-proxy.out"
		return 1
	}
	start_bg nginx-proxy nginx -e "$d/error.log" -p "$d/" -c "$T/nginx-proxy.conf" -g 'daemon off;'
	PX_PID=$BG_PID
	wait_for_port "$PX_PORT"
}

# Apache + mod_proxy_fcgi in front of spawn-fcgi (multiwatch, PROCS children)
# on a unix socket.  Sets GW_PORT, GW_URL, GW_PID, GW_FCGI_PID.
start_apache_proxy_fcgi() {
	local policy=$1 name=aigw-proxyfcgi d sock i=0 run_as=()
	local m=/usr/lib/apache2/modules
	d=$T/$name
	GW_PORT=$(free_port)
	mkdir -p "$d/run" "$d/sockets"
	_www_data "$d/sockets"
	sock=$d/sockets/aigw.sock
	[ "$(id -u)" = 0 ] && run_as=(-u www-data -g www-data -U www-data -G www-data)
	start_bg "$name-fcgi" env AIGW_CONFIG="$policy" \
		spawn-fcgi -n -s "$sock" -M 0660 "${run_as[@]}" -- \
		"$(command -v multiwatch)" -f "$PROCS" -s TERM -- "$AIGW_FCGI"
	GW_FCGI_PID=$BG_PID
	while [ ! -S "$sock" ] && [ "$i" -lt 100 ]; do
		_alive "$GW_FCGI_PID" || break
		sleep 0.05
		i=$((i + 1))
	done
	[ -S "$sock" ] || {
		sed 's/^/#   /' "$T/$name-fcgi.out"
		return 1
	}
	{
		cat <<EOF
# Apache + mod_proxy_fcgi in front of aigw.fcgi under spawn-fcgi
ServerRoot        "$d"
ServerName        127.0.0.1
Listen            127.0.0.1:$GW_PORT
LoadModule mpm_event_module  $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule proxy_module      $m/mod_proxy.so
LoadModule proxy_fcgi_module $m/mod_proxy_fcgi.so
PidFile           "$d/apache.pid"
DefaultRuntimeDir "$d/run"
ErrorLog          "$d/error.log"
LogLevel          warn
Mutex             pthread default
Define AIGW_ACCESSLOG $d/access.log
EOF
		if [ "$(id -u)" = 0 ]; then
			echo "User  www-data"
			echo "Group www-data"
		fi
		cat <<EOF

# Every URL goes to the gateway.  GENERIC: no PHP-FPM adjustments; Apache
# then sends SCRIPT_NAME = the decoded path (/v1/chat/completions), no
# PATH_INFO, and REQUEST_URI as sent; the gateway's path is SCRIPT_NAME +
# PATH_INFO, so its routes match.  No enablereuse: each request opens its
# own connection, so no idle connection can hold one of the processes.
ProxyFCGIBackendType GENERIC
# flushpackets=on: pass each piece of a streamed answer on at once.
ProxyPass "/" "unix:$sock|fcgi://localhost/" flushpackets=on
<Location />
    # Apache drops Authorization before a FastCGI backend unless told.
    CGIPassAuth On
    Require all granted
</Location>

Include "$AIGW_TOP/etc/apache-accesslog.conf"
EOF
	} >"$T/$name.conf"
	apache2 -t -f "$T/$name.conf" >"$T/$name.out" 2>&1 || {
		sed 's/^/#   /' "$T/$name.out"
		return 1
	}
	start_bg "$name" apache2 -f "$T/$name.conf" -DFOREGROUND
	GW_PID=$BG_PID
	GW_URL=http://127.0.0.1:$GW_PORT
	wait_for_port "$GW_PORT" 15 && _alive "$GW_PID"
}

start_portkey() {
	PK_PORT=$(free_port)
	mkdir -p "$T/portkey"
	start_bg portkey env NODE_ENV=production TRUSTED_CUSTOM_HOSTS=127.0.0.1 \
		node "$PORTKEY_JS" --port="$PK_PORT" --headless
	PK_PID=$BG_PID
	wait_for_port "$PK_PORT" 20 && _alive "$PK_PID"
}

# ---------------------------------------------------------------- targets

run_direct() {
	local sid
	sid=$(session_of upstream)
	smoke direct "http://127.0.0.1:$UP_PORT" chat || return
	load direct chat "http://127.0.0.1:$UP_PORT" "" "$sid"
	load direct prompt "http://127.0.0.1:$UP_PORT" "" "$sid"
}

run_nginx_proxy() {
	local sid
	start_nginx_proxy || { skip_target nginx-proxy "nginx proxy did not start"; return; }
	sid=$(session_of nginx-proxy)
	smoke nginx-proxy "http://127.0.0.1:$PX_PORT" chat &&
		smoke nginx-proxy "http://127.0.0.1:$PX_PORT" prompt && {
		load nginx-proxy chat "http://127.0.0.1:$PX_PORT" "" "$sid"
		load nginx-proxy prompt "http://127.0.0.1:$PX_PORT" "" "$sid"
	}
	stop_bg "$PX_PID"
}

run_bare() {
	local sid
	if [ ! -x "$BARE_RELAY" ]; then
		skip_target bare-lighttpd "$BARE_RELAY is missing (make $BARE_RELAY)"
		return
	fi
	write_policy "$T/bare.ini" "$T/bare-lighttpd"
	AIGW_FCGI=$BARE_RELAY \
		AIGW_EXTRA_ENV="BARE_RELAY_URL=http://127.0.0.1:$UP_PORT/v1/chat/completions BARE_RELAY_KEY=$UPSTREAM_KEY" \
		GW_INSTANCE=bare-lighttpd start_lighttpd "$T/bare.ini" "$PROCS"
	sid=$(session_of bare-lighttpd)
	smoke bare-lighttpd "$GW_URL" chat && smoke bare-lighttpd "$GW_URL" prompt && {
		load bare-lighttpd chat "$GW_URL" "$BARE_RELAY" "$sid"
		load bare-lighttpd prompt "$GW_URL" "$BARE_RELAY" "$sid"
	}
	stop_server
}

# check_aigw TARGET: the gateway answers both kinds, on the right routes.
check_aigw() {
	local target=$1 usage=$T/$1/log/usage.jsonl route
	smoke "$target" "$GW_URL" chat app || return 1
	route=$(route_of_last "$usage")
	[ "$route" = api ] || { skip_target "$target" "chat: usage log route \"$route\", expected api"; return 1; }
	smoke "$target" "$GW_URL" prompt consumer1 || return 1
	route=$(route_of_last "$usage")
	[ "$route" = chat ] || { skip_target "$target" "prompt: usage log route \"$route\", expected chat"; return 1; }
	return 0
}

run_aigw() {
	local target=$1 sids settle=$SETTLE
	write_policy "$T/$target.ini" "$T/$target"
	"$AIGWCTL" -c "$T/$target.ini" check >"$T/$target.check" 2>&1 || {
		sed 's/^/#   /' "$T/$target.check"
		bail "aigwctl check refuses the bench policy"
	}
	case $target in
	aigw-lighttpd)
		GW_INSTANCE=$target start_lighttpd "$T/$target.ini" "$PROCS"
		sids=$(session_of "$target")
		;;
	aigw-fcgid)
		GW_INSTANCE=$target start_apache "$T/$target.ini" "$PROCS"
		sids=$(session_of "$target")
		settle=4
		;;
	aigw-proxyfcgi)
		if ! start_apache_proxy_fcgi "$T/$target.ini"; then
			skip_target "$target" "Apache + mod_proxy_fcgi did not start: $(tail -3 "$T/$target/error.log" 2>/dev/null)"
			stop_server
			return
		fi
		sids="$(session_of "$target") $(session_of "$target-fcgi")"
		;;
	esac
	if check_aigw "$target"; then
		SETTLE=$settle load "$target" chat "$GW_URL" "$AIGW_FCGI" $sids
		SETTLE=$settle load "$target" prompt "$GW_URL" "$AIGW_FCGI" $sids
		ttfb "$target" "$GW_URL"
	fi
	stop_server
}

run_portkey() {
	local sid
	start_portkey || { skip_target portkey "the Portkey gateway did not start: $(tail -3 "$T/portkey.out")"; stop_bg "$PK_PID"; return; }
	sid=$(session_of portkey)
	smoke portkey "http://127.0.0.1:$PK_PORT" chat &&
		load portkey chat "http://127.0.0.1:$PK_PORT" "$(readlink -f "$(command -v node)")" "$sid"
	stop_bg "$PK_PID"
}

# ---------------------------------------------------------------- report

ms() {
	awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'
}

TABLE_FMT='%-15s %-6s %5s %7s %7s %8s %8s %7s %7s %7s %6s %5s %5s %2s %6s %6s\n'

print_table() {
	local row target kind c rps p50 p99 max dp50 ratio cpu priv rss nproc slow err px
	printf '\n'
	# shellcheck disable=SC2059
	printf "$TABLE_FMT" target kind conns 'req/s' 'p50' 'p99' 'max' '+p50' x-proxy \
		'cpu/req' 'resp' 'priv' 'rss' 'n' '>=1s' errors
	# shellcheck disable=SC2059
	printf "$TABLE_FMT" '' '' '' '' ms ms ms ms '' 'us' 'us' 'MB' 'MB' '' '%' ''
	for kind in chat prompt; do
		for row in "${ROWS[@]}"; do
			set -- $row
			target=$1
			[ "$2" = "$kind" ] || continue
			for c in $CONNS; do
				if [ -n "${R[$target|$kind|$c|fail]:-}" ] || [ -z "${R[$target|$kind|$c|n]:-}" ]; then
					printf '%-15s %-6s %5s  (wrk failed)\n' "$target" "$kind" "$c"
					continue
				fi
				rps=${R[$target|$kind|$c|rps]}
				p50=${R[$target|$kind|$c|p50]}
				p99=${R[$target|$kind|$c|p99]}
				max=${R[$target|$kind|$c|max]}
				dp50=-
				[ -n "${R[direct|$kind|$c|p50]:-}" ] &&
					dp50=$(awk -v a="$p50" -v b="${R[direct|$kind|$c|p50]}" 'BEGIN { printf "%+.3f", (a - b) / 1000 }')
				ratio=-
				px=${R[nginx-proxy|$kind|$c|rps]:-}
				[ -n "$px" ] && [ "$px" != 0 ] &&
					ratio=$(awk -v a="$rps" -v b="$px" 'BEGIN { printf "%.2f", a / b }')
				cpu=${R[$target|$kind|$c|cpu]}
				read -r priv rss nproc <<<"${R[$target|$kind|$c|mem]:-- - -}"
				[ "$priv" != - ] && priv=$(awk -v k="$priv" 'BEGIN { printf "%.2f", k / 1024 }')
				[ "$rss" != - ] && rss=$(awk -v k="$rss" 'BEGIN { printf "%.2f", k / 1024 }')
				slow=$(awk -v s="${R[$target|$kind|$c|slow]}" 'BEGIN { printf "%.2f", s }')
				err=${R[$target|$kind|$c|err]}
				# shellcheck disable=SC2059
				printf "$TABLE_FMT" \
					"$target" "$kind" "$c" "$rps" "$(ms "$p50")" "$(ms "$p99")" \
					"$(ms "$max")" "$dp50" "$ratio" "$cpu" "${R[$target|$kind|$c|rcpu]:--}" \
					"$priv" "$rss" "$nproc" "$slow" "$err"
			done
		done
	done
	for row in "${ROWS[@]}"; do
		set -- $row
		for c in $CONNS; do
			[ "${R[$1|$2|$c|err]:-0}" = 0 ] ||
				printf 'errors of %s %s at %s: %s\n' "$1" "$2" "$c" "${R[$1|$2|$c|errs]}"
		done
	done
	for target in $TARGETS; do
		[ -n "${SKIPPED[$target]:-}" ] && printf 'skipped %s: %s\n' "$target" "${SKIPPED[$target]}"
	done
	if [ "${#TTFB[@]}" -gt 0 ]; then
		printf '\nTime to first byte of a stream (stub --stream-interval-ms 50), median of 20:\n'
		printf '%-15s %10s %10s %10s\n' target 'direct ms' 'gateway ms' 'added ms'
		for target in $TARGETS; do
			[ -n "${TTFB[$target]:-}" ] || continue
			set -- ${TTFB[$target]}
			printf '%-15s %10s %10s %10s\n' "$target" "$1" "$2" \
				"$(awk -v d="$1" -v g="$2" 'BEGIN { printf "%+.3f", g - d }')"
		done
	fi
}

# ---------------------------------------------------------------- main

echo "aigw bench: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -sr)"
echo "runs: ${SECONDS_PER_RUN}s each at connections $CONNS after ${WARMUP}s of warm-up; wrk 1 thread"

if ! have wrk || ! have nginx || ! have curl; then
	for t in wrk nginx curl; do have "$t" || echo "skip: $t not found (Debian package $t): no load rows"; done
	exit 0
fi
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
echo "versions: $(nginx -v 2>&1 | sed 's/.*: //'), $(lighttpd -v 2>/dev/null | sed 's/ .*//'), $(apache2 -v 2>/dev/null | sed -n 's/^Server version: //p' | sed 's/ .*//'), $(wrk --version 2>&1 | head -1 | awk '{ print "wrk/" $2 }')"

scratch_init
START=$(date +%s)
# The programs are copied: a rebuild during the run (make in another
# terminal) must not mix two builds in one run.
mkdir -p "$T/bin"
cp "$AIGW_FCGI" "$T/bin/aigw.fcgi"
AIGW_FCGI=$T/bin/aigw.fcgi
if [ -x "$BARE_RELAY" ]; then
	cp "$BARE_RELAY" "$T/bin/bare-relay"
	BARE_RELAY=$T/bin/bare-relay
fi
start_stub --stream-interval-ms 50 --stream-pieces 1
start_upstream

for target in $TARGETS; do
	case $target in
	direct) run_direct ;;
	nginx-proxy) run_nginx_proxy ;;
	bare-lighttpd)
		if have lighttpd; then run_bare; else skip_target "$target" "lighttpd not found"; fi
		;;
	aigw-lighttpd)
		if have lighttpd; then run_aigw "$target"; else skip_target "$target" "lighttpd not found"; fi
		;;
	aigw-fcgid)
		if have apache2 && [ -f /usr/lib/apache2/modules/mod_fcgid.so ]; then
			run_aigw "$target"
		else
			skip_target "$target" "apache2 or mod_fcgid (libapache2-mod-fcgid) not found"
		fi
		;;
	aigw-proxyfcgi)
		if have apache2 && [ -f /usr/lib/apache2/modules/mod_proxy_fcgi.so ] &&
			have spawn-fcgi && have multiwatch; then
			run_aigw "$target"
		else
			skip_target "$target" "apache2 (mod_proxy_fcgi), spawn-fcgi or multiwatch not found"
		fi
		;;
	portkey)
		if ! have node; then
			skip_target portkey "node not found"
		elif [ ! -f "$PORTKEY_JS" ]; then
			skip_target portkey "not installed: (cd tests/bench/portkey && npm ci)"
		else
			run_portkey
		fi
		;;
	*) note "unknown target $target" ;;
	esac
done

print_table
echo
echo "run time: $(($(date +%s) - START)) s"
