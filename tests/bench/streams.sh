#!/bin/bash
# tests/bench/streams.sh: streams in flight (`make bench-streams`).
#
# An AI gateway's load is streams held open, not requests per second.  For
# each N in BENCH_STREAMS (default 64 256 1024), tests/bench/streamload.py
# opens N connections at once to a target, each POSTs a chat completion with
# "stream": true and reads the answer, which tests/bench/slowstub.py (the
# upstream, asyncio) streams as STREAM_EVENTS (20) events over
# STREAM_SECONDS (10 s), then a usage chunk and [DONE].  Targets, each
# started afresh for every N in its own directory of the scratch directory,
# on free 127.0.0.1 ports, and stopped by pid (also on failure):
#   aigw-lighttpd  aigw.fcgi under lighttpd with etc/lighttpd-aigw.conf as
#                  shipped (an OpenAI-mode route, the realistic policy of
#                  tests/bench/common.sh), plus what an operator sizing it
#                  for streams sets: min-procs = max-procs (added to a copy
#                  of the snippet unless it sets min-procs itself),
#                  server.stream-response-body = 2, server.max-fds = 16384,
#                  server.listen-backlog = 4096
#   nginx-proxy    nginx as a reverse proxy (proxy_buffering off): the floor
#   portkey        the Portkey gateway (node), when installed in
#                  tests/bench/portkey/node_modules (npm ci there)
#
# The aigw process and thread counts:
#   AIGW_PROCS     processes (var.aigw_procs; min-procs = max-procs = it);
#                  default: the var.aigw_procs value the snippet's header
#                  comment gives ("##   var.aigw_procs = 4"), else 4
#   AIGW_THREADS   requests served at once by each process: written as
#                  "threads = N" in the policy's [gateway] section (default
#                  64) only if `aigwctl check` accepts that key; otherwise
#                  (or with AIGW_THREADS set empty) the policy has no such
#                  key and the table says 1 request per process
#
# Columns of the table (one row per target and N, grouped by N):
#   done        streams complete (status 200, all events and [DONE]) of N
#   1st         streams that got a first byte before their deadline
#   ttfb p50/p99   time from connect to the first byte of the answer (ms);
#               ">D": that many streams had none within the deadline D
#   dur p50/max    time from connect to [DONE] (ms), same rule
#   held        streams with a first byte and not yet ended at the memory
#               sample (STREAM_SECONDS / 2 after the first connect)
#   up          streams the upstream started during the run
#   idle MB     Pss (/proc/PID/smaps_rollup) summed over the target's
#               processes (web server and FastCGI processes, nginx master
#               and workers, node), idle, after a warm-up request on each
#               process, before the run
#   MB/stream   (Pss at the sample - idle Pss) / N, in MB
#   MB/held     the same divided by the streams held at the sample instead
#               of N (with one request per process, only a few are held)
#   priv/stream the same with private memory (Private_Clean + Private_Dirty)
#               instead of Pss: Pss shares a library's pages among every
#               process on the machine that maps it, so other work starting
#               and stopping moves it by a few MB; private memory does not
#               move with them (a small delta in Pss is noise)
#   x nginx     MB/stream and ttfb p99 as multiples of nginx-proxy's at N
#   errors      what the incomplete streams ran into (timeout, status_NNN,
#               connect, short, ...)
#
# A benchmark, not a test: it fails only when it cannot run.  Each stream
# has STREAM_DEADLINE seconds (default STREAM_SECONDS * 3 + 10) from its
# connect; with one request per process most streams wait for a process
# and end as timeouts, and the table says so.  Takes about
# (STREAM_DEADLINE + 15 s) per target and N at worst.  Needs nginx, curl,
# python3; lighttpd and node for their rows (a row whose program is missing
# says skipped).  Installs nothing; raises the open-file limit (ulimit -n)
# to 65536 where it may.
#
# Settings (environment): BENCH_STREAMS, STREAM_EVENTS, STREAM_SECONDS,
# STREAM_DEADLINE, BENCH_STREAM_TARGETS (default "aigw-lighttpd nginx-proxy
# portkey"), AIGW_PROCS, AIGW_THREADS.

. "$(dirname "$0")/../setup.sh"
. "$(dirname "$0")/common.sh"

BENCH_DIR=$AIGW_TOP/tests/bench
SNIPPET=$AIGW_TOP/etc/lighttpd-aigw.conf
STREAMS=${BENCH_STREAMS:-64 256 1024}
STREAM_EVENTS=${STREAM_EVENTS:-20}
STREAM_SECONDS=${STREAM_SECONDS:-10}
STREAM_DEADLINE=${STREAM_DEADLINE:-$(awk -v s="$STREAM_SECONDS" 'BEGIN { print s * 3 + 10 }')}
SAMPLE_AT=$(awk -v s="$STREAM_SECONDS" 'BEGIN { print s / 2 }')
TARGETS=${BENCH_STREAM_TARGETS:-aigw-lighttpd nginx-proxy portkey}
MAX_FDS=16384
BACKLOG=4096
PORTKEY_JS=$BENCH_DIR/portkey/node_modules/@portkey-ai/gateway/build/start-server.js
LOAD=$BENCH_DIR/streamload.py
export STREAM_EVENTS STREAM_SECONDS

# snippet_procs: the var.aigw_procs the snippet's header comment shows.
snippet_procs() {
	sed -n 's/^##[[:space:]]*var\.aigw_procs[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' \
		"$SNIPPET" | head -1
}

AIGW_PROCS=${AIGW_PROCS:-$(snippet_procs)}
AIGW_PROCS=${AIGW_PROCS:-4}
AIGW_THREADS=${AIGW_THREADS-64}
THREADS_NOTE=

RESULTS= # $T/results: "TARGET N IDLE_PSS_KB IDLE_PRIVATE_KB UP JSON" or "TARGET N skip REASON"

# ---------------------------------------------------------------- helpers

skip_row() {
	local target=$1 reason=$2 n
	note "skip $target: $reason"
	for n in $STREAMS; do
		echo "$target $n skip $reason" >>"$RESULTS"
	done
}

slow_started() {
	curl -sS --max-time 10 "http://127.0.0.1:$SLOW_PORT/_slowstub/stats" |
		"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["streams_started"])'
}

# smoke URL HEADER...: a buffered chat completion through the target must
# answer 200.
smoke() {
	local url=$1 args=() h code
	shift
	for h in "$@"; do
		args+=(-H "$h")
	done
	code=$(curl -sS --max-time 20 -o "$T/smoke.b" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' "${args[@]}" \
		--data-binary "$CHAT_BODY" "$url" 2>"$T/smoke.err")
	[ "$code" = 200 ] && return 0
	note "status $code from $url: $(cat "$T/smoke.b" "$T/smoke.err" | head -c 300)"
	return 1
}

# warm COUNT URL HEADER: COUNT buffered requests at once, so that each
# process has served one before the idle memory is taken.
warm() {
	local count=$1 url=$2 i pids=()
	for i in $(seq "$count"); do
		curl -sS --max-time 20 -o /dev/null -X POST -H "$3" \
			-H 'Content-Type: application/json' --data-binary "$CHAT_BODY" "$url" &
		pids+=($!)
	done
	# Only these: the servers are background jobs of this shell too.
	wait "${pids[@]}"
}

# measure TARGET N PORT PATH SIDS HEADER...: idle Pss, then the run.
measure() {
	local target=$1 n=$2 port=$3 path=$4 sids=$5 idle priv s0 s1 args=() h s
	shift 5
	for h in "$@"; do
		args+=(--header "$h")
	done
	for s in $sids; do
		args+=(--sid "$s")
	done
	sleep 1
	read -r idle _ priv <<<"$("$PYTHON" "$LOAD" pss $sids)"
	s0=$(slow_started)
	note "$target: $n streams, idle Pss $((idle / 1024)) MB"
	"$PYTHON" "$LOAD" run --port "$port" --path "$path" --streams "$n" \
		--events "$STREAM_EVENTS" --deadline "$STREAM_DEADLINE" \
		--body "$STREAM_BODY" --sample-at "$SAMPLE_AT" "${args[@]}" \
		>"$T/load.json" 2>"$T/load.err"
	s1=$(slow_started)
	if [ -s "$T/load.json" ]; then
		echo "$target $n $idle $priv $((s1 - s0)) $(cat "$T/load.json")" >>"$RESULTS"
		note "$target: $n streams: $(head -c 200 "$T/load.json")"
	else
		echo "$target $n skip the load client failed: $(tail -1 "$T/load.err")" >>"$RESULTS"
	fi
}

# ---------------------------------------------------------------- targets

# policy_for_aigw FILE: the bench policy on the slow stub, with threads =
# AIGW_THREADS when the policy loader accepts that key.
policy_for_aigw() {
	local out=$1 ms
	UP_PORT=$SLOW_PORT STUB_URL=http://127.0.0.1:$SLOW_PORT/v1 \
		write_policy "$out" "$T/aigw-state"
	# The whole stream must fit in the upstream's timeout.
	ms=$(awk -v s="$STREAM_DEADLINE" 'BEGIN { printf "%d", (s + 30) * 1000 }')
	sed -i "s/^timeout_ms *= .*/timeout_ms = $ms/" "$out"
	THREADS_NOTE="1 request per process (AIGW_THREADS empty)"
	[ -n "$AIGW_THREADS" ] || return 0
	cp -p "$out" "$out.try"
	sed -i "/^\[gateway\]/a threads = $AIGW_THREADS" "$out.try"
	if "$AIGWCTL" -c "$out.try" check >"$T/threads.check" 2>&1; then
		mv "$out.try" "$out"
		THREADS_NOTE="threads = $AIGW_THREADS in [gateway]"
	else
		rm -f "$out.try"
		THREADS_NOTE="1 request per process (aigwctl check refuses [gateway] threads: $(grep -m1 threads "$T/threads.check" | sed 's/^[^ ]*: //'))"
	fi
}

# The snippet as shipped, with min-procs = max-procs unless it sets
# min-procs itself (lighttpd starts min-procs processes, default 4, and adds
# one only while all are busy).
snippet_copy() {
	if grep -q '"min-procs"' "$SNIPPET"; then
		cp "$SNIPPET" "$T/lighttpd-aigw.conf"
	else
		sed '/"max-procs"[[:space:]]*=>/{p;s/"max-procs"/"min-procs"/}' \
			"$SNIPPET" >"$T/lighttpd-aigw.conf"
	fi
}

start_aigw_lighttpd() {
	local n=$1 name=aigw-lighttpd-$1 d
	d=$T/$name
	GW_PORT=$(free_port)
	mkdir -p "$d/sockets" "$d/upload"
	_www_data "$d"
	_ensure_www
	{
		cat <<EOF
# written by tests/bench/streams.sh
var.aigw_fcgi       = "$AIGW_FCGI"
var.aigw_config     = "$T/aigw.ini"
var.aigw_socket_dir = "$d/sockets"
var.aigw_procs      = $AIGW_PROCS
var.aigw_www        = "$AIGW_TOP/www"

server.port                 = $GW_PORT
server.bind                 = "127.0.0.1"
server.document-root        = "$AIGW_TOP/www"
server.errorlog             = "$d/error.log"
server.pid-file             = "$d/lighttpd.pid"
server.upload-dirs          = ( "$d/upload" )
server.stream-response-body = 2
server.max-fds              = $MAX_FDS
server.listen-backlog       = $BACKLOG
server.modules              = ( "mod_fastcgi" )
EOF
		if [ "$(id -u)" = 0 ]; then
			echo 'server.username  = "www-data"'
			echo 'server.groupname = "www-data"'
		fi
		echo "include \"$T/lighttpd-aigw.conf\""
	} >"$T/$name.conf"
	lighttpd -tt -f "$T/$name.conf" >"$T/$name.out" 2>&1 || {
		sed 's/^/#   /' "$T/$name.out" >&2
		return 1
	}
	start_bg "$name" lighttpd -D -f "$T/$name.conf"
	GW_PID=$BG_PID
	wait_for_port "$GW_PORT" 15 && _alive "$GW_PID"
}

start_nginx_proxy() {
	local n=$1 name=nginx-proxy-$1 d
	d=$T/$name
	PX_PORT=$(free_port)
	mkdir -p "$d/tmp"
	_www_data "$d/tmp"
	{
		cat <<EOF
# the floor: nginx proxying to the slow stub, unbuffered
worker_processes     auto;
worker_rlimit_nofile $MAX_FDS;
pid                  $d/nginx.pid;
error_log            $d/error.log warn;
EOF
		[ "$(id -u)" = 0 ] && echo "user                 www-data www-data;"
		cat <<EOF
events {
    worker_connections 8192;
}
http {
    access_log off;
    client_body_temp_path $d/tmp/client_body;
    proxy_temp_path       $d/tmp/proxy;
    fastcgi_temp_path     $d/tmp/fastcgi;
    uwsgi_temp_path       $d/tmp/uwsgi;
    scgi_temp_path        $d/tmp/scgi;
    upstream slow {
        server 127.0.0.1:$SLOW_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$PX_PORT backlog=$BACKLOG;
        location / {
            proxy_pass http://slow;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 300s;
        }
    }
}
EOF
	} >"$T/$name.conf"
	nginx -t -q -e "$d/error.log" -p "$d/" -c "$T/$name.conf" >"$T/$name.out" 2>&1 || {
		sed 's/^/#   /' "$T/$name.out" >&2
		return 1
	}
	start_bg "$name" nginx -e "$d/error.log" -p "$d/" -c "$T/$name.conf" -g 'daemon off;'
	PX_PID=$BG_PID
	wait_for_port "$PX_PORT" 15 && _alive "$PX_PID"
}

start_portkey() {
	local n=$1
	PK_PORT=$(free_port)
	start_bg "portkey-$n" env NODE_ENV=production TRUSTED_CUSTOM_HOSTS=127.0.0.1 \
		node "$PORTKEY_JS" --port="$PK_PORT" --headless
	PK_PID=$BG_PID
	wait_for_port "$PK_PORT" 20 && _alive "$PK_PID"
}

run_aigw() {
	local n url=/stream/chat/completions auth="Authorization: Bearer $APP_KEY"
	have lighttpd || { skip_row aigw-lighttpd "lighttpd not found"; return; }
	policy_for_aigw "$T/aigw.ini"
	"$AIGWCTL" -c "$T/aigw.ini" check >"$T/aigw.check" 2>&1 || {
		sed 's/^/#   /' "$T/aigw.check"
		bail "aigwctl check refuses the bench policy"
	}
	snippet_copy
	note "aigw-lighttpd: $AIGW_PROCS processes, $THREADS_NOTE"
	for n in $STREAMS; do
		if ! start_aigw_lighttpd "$n"; then
			echo "aigw-lighttpd $n skip lighttpd did not start: $(tail -2 "$T/aigw-lighttpd-$n/error.log" 2>/dev/null)" >>"$RESULTS"
		elif ! smoke "http://127.0.0.1:$GW_PORT$url" "$auth"; then
			echo "aigw-lighttpd $n skip the gateway does not answer 200: $(head -c 160 "$T/smoke.b" | tr '\n' ' ')" >>"$RESULTS"
		else
			warm "$AIGW_PROCS" "http://127.0.0.1:$GW_PORT$url" "$auth"
			measure aigw-lighttpd "$n" "$GW_PORT" "$url" "$(cat "$T/aigw-lighttpd-$n.session")" "$auth"
		fi
		stop_bg "$GW_PID"
		GW_PID=
	done
}

run_nginx() {
	local n url=/v1/chat/completions auth="Authorization: Bearer $UPSTREAM_KEY"
	for n in $STREAMS; do
		if ! start_nginx_proxy "$n"; then
			echo "nginx-proxy $n skip nginx did not start" >>"$RESULTS"
		elif ! smoke "http://127.0.0.1:$PX_PORT$url" "$auth"; then
			echo "nginx-proxy $n skip the proxy does not answer 200" >>"$RESULTS"
		else
			measure nginx-proxy "$n" "$PX_PORT" "$url" "$(cat "$T/nginx-proxy-$n.session")" "$auth"
		fi
		stop_bg "$PX_PID"
	done
}

run_portkey() {
	local n url=/v1/chat/completions h=()
	h=("Authorization: Bearer $UPSTREAM_KEY" "x-portkey-provider: openai"
		"x-portkey-custom-host: http://127.0.0.1:$SLOW_PORT/v1")
	have node || { skip_row portkey "node not found"; return; }
	[ -f "$PORTKEY_JS" ] || {
		skip_row portkey "not installed: (cd tests/bench/portkey && npm ci)"
		return
	}
	for n in $STREAMS; do
		if ! start_portkey "$n"; then
			echo "portkey $n skip the Portkey gateway did not start" >>"$RESULTS"
		elif ! smoke "http://127.0.0.1:$PK_PORT$url" "${h[@]}"; then
			echo "portkey $n skip Portkey does not answer 200" >>"$RESULTS"
		else
			measure portkey "$n" "$PK_PORT" "$url" "$(cat "$T/portkey-$n.session")" "${h[@]}"
		fi
		stop_bg "$PK_PID"
	done
}

# ---------------------------------------------------------------- report

print_table() {
	"$PYTHON" - "$RESULTS" "$STREAMS" "$TARGETS" "$STREAM_DEADLINE" <<'EOF'
import json, sys
path, streams, targets, deadline = sys.argv[1:]
rows = {}
for line in open(path, encoding="utf-8"):
    t, n, rest = line.rstrip("\n").split(" ", 2)
    rows[(t, n)] = rest
fmt = ("%-13s %4s %4s %4s %7s %7s %7s %7s %4s %4s %6s %7s %7s %7s %6s %6s"
       "  %s")
print(fmt % ("target", "N", "done", "1st", "ttfb", "ttfb", "dur", "dur",
             "held", "up", "idle", "MB/", "MB/", "priv/", "x ngx", "x ngx",
             "errors"))
print(fmt % ("", "", "", "", "p50 ms", "p99 ms", "p50 ms", "max ms", "", "",
             "Pss MB", "stream", "held", "stream", "mem", "p99", ""))
late = ">%d" % (float(deadline) * 1000)

def parsed(t, n):
    rest = rows.get((t, n))
    if rest is None or rest.startswith("skip "):
        return None
    idle, priv, up, js = rest.split(" ", 3)
    r = json.loads(js)
    r["idle_kb"], r["up"] = int(idle), int(up)
    s = r.get("sample") or {}
    r["per_mb"] = r["held_mb"] = r["priv_mb"] = None
    if "pss_kb" in s:
        r["per_mb"] = (s["pss_kb"] - r["idle_kb"]) / 1024 / r["n"]
        r["priv_mb"] = (s["private_kb"] - int(priv)) / 1024 / r["n"]
        if s["in_flight"]:
            r["held_mb"] = (s["pss_kb"] - r["idle_kb"]) / 1024 / s["in_flight"]
    return r

def ms(v):
    return late if v is None else "%.0f" % v if v >= 100 else "%.1f" % v

for n in streams.split():
    print()
    ref = parsed("nginx-proxy", n)
    for t in targets.split():
        rest = rows.get((t, n))
        if rest is None:
            continue
        if rest.startswith("skip "):
            print("%-13s %4s  skipped: %s" % (t, n, rest[5:]))
            continue
        r = parsed(t, n)
        s = r.get("sample") or {}
        per = r["per_mb"]
        xm = xp = "-"
        if ref and per is not None and ref["per_mb"]:
            xm = "%.1f" % (per / ref["per_mb"])
        a, b = r["ttfb_ms"]["p99"], ref and ref["ttfb_ms"]["p99"]
        if ref and b:
            xp = ">%.0f" % (float(deadline) * 1000 / b) if a is None \
                else "%.1f" % (a / b)
        errs = ", ".join("%s %d" % kv for kv in sorted(r["errors"].items()))
        print(fmt % (t, n, r["completed"], r["first_byte"],
                     ms(r["ttfb_ms"]["p50"]), ms(r["ttfb_ms"]["p99"]),
                     ms(r["duration_ms"]["p50"]), ms(r["duration_ms"]["max"]),
                     s.get("in_flight", "-"), r["up"],
                     "%.1f" % (r["idle_kb"] / 1024),
                     "-" if per is None else "%.3f" % per,
                     "-" if r["held_mb"] is None else "%.3f" % r["held_mb"],
                     "-" if r["priv_mb"] is None else "%.3f" % r["priv_mb"],
                     xm, xp,
                     errs or "-"))
EOF
}

# ---------------------------------------------------------------- main

echo "aigw bench-streams: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -sr)"
have nginx && have curl || {
	echo "skip: nginx and curl are needed"
	exit 0
}
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
echo "streams: N = $STREAMS at once; $STREAM_EVENTS events over ${STREAM_SECONDS}s each; deadline ${STREAM_DEADLINE}s; memory sampled at ${SAMPLE_AT}s; open files $(ulimit -n)"
echo "versions: $(nginx -v 2>&1 | sed 's/.*: //'), $(lighttpd -v 2>/dev/null | sed 's/ .*//'), node $(node --version 2>/dev/null || echo -)"

scratch_init
START=$(date +%s)
RESULTS=$T/results
: >"$RESULTS"
# A rebuild during the run must not mix two builds in one run.
mkdir -p "$T/bin"
cp "$AIGW_FCGI" "$T/bin/aigw.fcgi"
AIGW_FCGI=$T/bin/aigw.fcgi

rm -f "$T/slowstub.port"
start_bg slowstub "$PYTHON" "$BENCH_DIR/slowstub.py" --port 0 --port-file "$T/slowstub.port" \
	--events "$STREAM_EVENTS" --seconds "$STREAM_SECONDS"
i=0
while [ ! -s "$T/slowstub.port" ] && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -s "$T/slowstub.port" ] || bail "slowstub.py did not start: $(tail -3 "$T/slowstub.out")"
SLOW_PORT=$(cat "$T/slowstub.port")

for target in $TARGETS; do
	case $target in
	aigw-lighttpd) run_aigw ;;
	nginx-proxy) run_nginx ;;
	portkey) run_portkey ;;
	*) note "unknown target $target" ;;
	esac
done

echo
[ -n "$THREADS_NOTE" ] && echo "aigw-lighttpd: $AIGW_PROCS processes (min-procs = max-procs), $THREADS_NOTE"
print_table
echo
echo "run time: $(($(date +%s) - START)) s"
