#!/bin/bash
# tests/setup.sh: sourced by every end-to-end test (tests/e2e/tNNNN-*.sh).
#
# Runs the gateway under real web servers (lighttpd + mod_fastcgi, Apache +
# mod_fcgid) on 127.0.0.1, in front of tests/stub/openai_stub.py, all in a
# scratch directory.  Scripts run with bash.  Call the helpers directly, not
# inside $(...), except those that print a value.
#
# Variables
#   AIGW_TOP       repository root (derived from this file's location)
#   AIGW_BUILD     $AIGW_TOP/build
#   AIGW_FCGI      FastCGI responder   (default $AIGW_BUILD/aigw.fcgi)
#   AIGW_CGI       plain CGI responder (default $AIGW_BUILD/aigw.cgi)
#   AIGWCTL        operator tool       (default $AIGW_BUILD/aigwctl)
#   PYTHON         /usr/bin/python3 (stdlib only)
#   T              scratch directory, set by scratch_init
#   KEEP_SCRATCH=1 keep $T after the test (its path is printed)
#   AIGW_EXTRA_ENV extra environment for the FastCGI processes of the next
#                  start_lighttpd / start_apache: NAME=VALUE words separated
#                  by blanks (no quotes or blanks inside a word), e.g.
#                  AIGW_EXTRA_ENV=AIGW_TEST_LOCK_HOLD_MS=2000; empty: none
#                  (start_nginx, start_apache_proxy: the environment of
#                  spawn-fcgi).
#                  tests/run-e2e-san.sh passes the sanitizers' options this
#                  way: a test that sets it should add to it, as in
#                  AIGW_EXTRA_ENV="${AIGW_EXTRA_ENV:-} NAME=VALUE"
#   AIGW_TEST_THREADS=N  worker threads of every aigw.fcgi started here
#                  (passed to it in its environment, whatever the test's
#                  AIGW_EXTRA_ENV; unset: the policy's [gateway] threads,
#                  64 by default)
#   AIGW_SERVER_CONF lines added, as they are, at the end of the generated
#                  configuration of the next start_lighttpd / start_apache,
#                  or of its server block for start_nginx, in that server's
#                  syntax (for example raised request limits); empty: none
#
# Set-up and processes
#   need CMD...                  skip the test (exit 0, "skip: ...") unless
#                                every CMD is on PATH
#   skip REASON                  skip the test now
#   scratch_init                 make $T (0755) and install the cleanup trap
#                                (EXIT INT TERM): stop everything started
#                                here, check nothing is left, remove $T
#   free_port                    print a free 127.0.0.1 TCP port
#   wait_for_port PORT [SECS]    wait (default 10 s) until 127.0.0.1:PORT
#                                accepts connections; 1 on timeout
#   start_bg NAME CMD [ARGS...]  run CMD in a new session under
#                                tests/lib/reaper.py; sets BG_PID; output
#                                goes to $T/NAME.out
#   stop_bg PID                  SIGTERM, wait up to 10 s, then SIGKILL
#
# The OpenAI stub
#   start_stub [STUB-ARGS...]    start the stub on a free port (or --port N),
#                                log to $T/stub.log; sets STUB_PORT,
#                                STUB_URL (http://127.0.0.1:PORT/v1), STUB_PID,
#                                STUB_LOG
#   STUB_NAME=NAME start_stub    the same with files $T/NAME.* instead of
#                                $T/stub.*, for a second stub: save the first
#                                one's STUB_* before (the helpers below act
#                                on STUB_PORT and STUB_LOG)
#   stop_stub
#   stub_behavior NAME           normal, error500, garbage, drop, slow,
#                                status429, stream_then_drop
#   stub_count                   print how many requests the stub received
#   stub_last EXPR               evaluate a Python expression over the last
#                                logged request `r` and print it
#
# Redis
#   start_redis [--port N]       redis-server on a free 127.0.0.1 port (or N),
#                                without persistence, in $T/redis; sets
#                                REDIS_PORT, REDIS_PID, REDIS_URL
#                                (redis://127.0.0.1:PORT/0); skips the test
#                                without redis-server and redis-cli
#   stop_redis                   stop it (its data is gone: start_redis
#                                --port $REDIS_PORT brings back an empty one)
#   redis_cli ARGS...            redis-cli against it
#
# Policy and servers
#   seed_policy OUT [URL]        etc/aigw.ini pointed at URL (default
#                                $STUB_URL) with an inline upstream key and
#                                state and log under $T; sets UPSTREAM_KEY
#   start_lighttpd POLICY [MAXPROCS]   lighttpd + etc/lighttpd-aigw.conf
#   start_apache POLICY [MAXPROCS]     Apache + mod_fcgid + etc/apache-aigw.conf
#                                both set GW_PORT, GW_URL, GW_SERVER, GW_PID,
#                                GW_ERRORLOG, GW_ACCESSLOG (in the format of
#                                etc/lighttpd-accesslog.conf or
#                                etc/apache-accesslog.conf; lighttpd may
#                                hold lines back until it stops)
#   start_nginx POLICY [PROCS]   nginx + etc/nginx-aigw.conf in front of
#                                PROCS (default 4) processes started by
#                                spawn-fcgi -n (through multiwatch when PROCS
#                                is above 1, as etc/aigw-spawn-fcgi.service;
#                                one process without multiwatch); skips the
#                                test without nginx or spawn-fcgi.  Sets the
#                                same variables, and GW_FCGI_PID
#                                all four set GW_FCGI_LOG: the file that gets
#                                the FastCGI processes' standard error (aigw's
#                                messages): lighttpd's own standard error
#                                ($T/NAME.out, as no server.breakagelog is
#                                set), Apache's error log, spawn-fcgi's
#                                output ($T/NAME-fcgi.out: nginx and
#                                start_apache_proxy)
#   start_apache_proxy POLICY [PROCS]   Apache + mod_proxy_fcgi +
#                                etc/apache-aigw-proxy-fcgi.conf in front of
#                                PROCS (default 4) processes started by
#                                spawn-fcgi, as start_nginx; skips the test
#                                without apache2, mod_proxy_fcgi or
#                                spawn-fcgi.  Sets the same variables as
#                                start_nginx (GW_SERVER=apache); its files go
#                                to $T/apache-proxy* unless GW_INSTANCE is set
#   start_server SERVER POLICY [MAXPROCS]   SERVER is lighttpd, apache,
#                                apache-proxy or nginx
#   stop_server                  stop the running web server (and, for
#                                nginx and start_apache_proxy, the
#                                spawn-fcgi processes)
#   fcgi_pids                    print the pids of the running aigw FastCGI
#                                processes ($AIGW_FCGI) started here
#   GW_INSTANCE=NAME start_...   the server's files go to $T/NAME and
#                                $T/NAME.* (default: lighttpd or apache).
#                                Two servers at once: start one, save its
#                                GW_URL and GW_PID, set GW_PID= (else the
#                                next start stops it) and start the other
#                                with another NAME; stop_bg PID stops one,
#                                cleanup stops both
#
# Requests
#   http CURL-ARGS...            curl -sS with a 30 s limit; prints the status
#                                ("000" if none); body in $T/body, headers
#                                in $T/headers
#   body                         print the last response body
#   header NAME                  print header NAME of the last response
#                                (case-insensitive, CR stripped)
#   json_get EXPR [FILE]         evaluate a Python expression over the JSON
#                                `j` in FILE (default $T/body) and print it
#
# Checks (TAP-like: "ok N - NAME" / "not ok N - NAME", counted)
#   check NAME CMD [ARGS...]     passes if CMD succeeds (its output is
#                                shown, as comments, only if it fails)
#   expect_status EXPECTED CURL-ARGS...   passes if http's status matches
#   expect_eq NAME EXPECTED ACTUAL
#   expect_contains NAME HAYSTACK NEEDLE
#   expect_gateway_error NAME    the last answer is Content-Type
#                                application/json with an "error" object
#   diag TEXT...                 print "# TEXT"
#   finish                       print "N passed, N failed" and exit 1 if
#                                any failed

AIGW_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AIGW_BUILD=$AIGW_TOP/build
: "${AIGW_FCGI:=$AIGW_BUILD/aigw.fcgi}"
: "${AIGW_CGI:=$AIGW_BUILD/aigw.cgi}"
: "${AIGWCTL:=$AIGW_BUILD/aigwctl}"
PYTHON=/usr/bin/python3
export AIGW_TOP AIGW_BUILD AIGW_FCGI AIGW_CGI AIGWCTL

_reaper=$AIGW_TOP/tests/lib/reaper.py
_stub=$AIGW_TOP/tests/stub/openai_stub.py
_passed=0
_failed=0
_bg_pids=""     # pids started by start_bg, in start order
_bg_sids=""     # the session ids they lead
_cleaned=0

# ---------------------------------------------------------------- set-up

diag() {
	printf '# %s\n' "$*"
}

skip() {
	echo "skip: $*"
	exit 0
}

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not found"
	done
}

bail() {
	echo "Bail out! $*"
	exit 1
}

scratch_init() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/aigw-test.XXXXXX") || bail "mktemp failed"
	# Apache's and lighttpd's workers run as www-data and must traverse it.
	chmod 0755 "$T"
	export T
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

free_port() {
	"$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

wait_for_port() {
	local port=$1 secs=${2:-10} i=0
	while [ "$i" -lt $((secs * 10)) ]; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# The state letter of a process from /proc ("" if it is gone).
_proc_state() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	echo "${stat%% *}"
}

_alive() {
	local s
	s=$(_proc_state "$1")
	[ -n "$s" ] && [ "$s" != Z ]
}

start_bg() {
	local name=$1 pidfile i=0
	shift
	pidfile=$T/$name.session
	rm -f "$pidfile"
	# Detached from our stdin so that a Ctrl-C in the terminal reaches only
	# this shell; the reaper is a session leader of its own.
	"$PYTHON" "$_reaper" --pid-file "$pidfile" -- "$@" \
		</dev/null >>"$T/$name.out" 2>&1 &
	BG_PID=$!
	_bg_pids="$_bg_pids $BG_PID"
	while [ ! -s "$pidfile" ] && [ "$i" -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -s "$pidfile" ] || bail "$name: reaper did not start"
	_bg_sids="$_bg_sids $(cat "$pidfile")"
}

stop_bg() {
	local pid=$1 i=0 p rest=""
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	while _alive "$pid" && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if _alive "$pid"; then
		diag "pid $pid did not stop in 10 s; SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	for p in $_bg_pids; do
		[ "$p" = "$pid" ] || rest="$rest $p"
	done
	_bg_pids=$rest
	return 0
}

# Pids (one per line) of processes, zombies included, in one of our sessions.
_session_procs() {
	[ -n "$_bg_sids" ] || return 0
	"$PYTHON" - $_bg_sids <<'EOF'
import os, sys
sids = set(int(x) for x in sys.argv[1:])
for name in os.listdir("/proc"):
    if not name.isdigit():
        continue
    try:
        with open("/proc/%s/stat" % name, "rb") as f:
            stat = f.read()
    except OSError:
        continue
    fields = stat[stat.rfind(b")") + 2:].split()
    if int(fields[3]) in sids:
        print(name)
EOF
}

# Zombie children of this shell.
_our_zombies() {
	local f s
	for f in /proc/[0-9]*/stat; do
		s=$(cat "$f" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		[ "$1" = Z ] && [ "$2" = "$$" ] && echo "${f//[^0-9]/}"
	done
	return 0
}

cleanup() {
	local status=$? pid left i=0
	[ "$_cleaned" = 1 ] && return
	_cleaned=1
	# A second Ctrl-C must not cut the clean-up short.
	trap - EXIT
	trap "" INT TERM
	# spawn-fcgi's processes (start_nginx): SIGTERM to all, see stop_server.
	[ -z "${GW_FCGI_PID:-}" ] ||
		kill -TERM $(_bg_sids=$GW_FCGI_PID _session_procs) 2>/dev/null
	# Servers first (started last), the stub after them.
	for pid in $(echo $_bg_pids | tr ' ' '\n' | tac); do
		stop_bg "$pid"
	done
	# Anything still in one of our sessions (the reaper was killed): kill
	# it by pid.  Orphans re-parented to PID 1 stay zombies until it reaps
	# them, which some container inits only do now and then: wait 5 s.
	left=$(_session_procs)
	if [ -n "$left" ]; then
		diag "killing what the reaper left: $(echo $left)"
		kill -KILL $left 2>/dev/null
		while [ -n "$(_session_procs)" ] && [ "$i" -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	left="$(_session_procs) $(_our_zombies)"
	if [ -n "${left// /}" ]; then
		echo "not ok - cleanup: processes left behind:"
		ps -o pid,ppid,sid,stat,user,args -p "$(echo $left | tr ' ' ,)" |
			sed 's/^/# /'
		status=1
	fi
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "${KEEP_SCRATCH:-0}" = 1 ]; then
			diag "scratch directory kept: $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$status"
}

# ---------------------------------------------------------------- the stub

start_stub() {
	local i=0 name=${STUB_NAME:-stub}
	rm -f "$T/$name.port"
	start_bg "$name" "$PYTHON" "$_stub" --port 0 --port-file "$T/$name.port" \
		--log "$T/$name.log" "$@"
	STUB_PID=$BG_PID
	while [ ! -s "$T/$name.port" ] && [ "$i" -lt 100 ]; do
		_alive "$STUB_PID" || break
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$T/$name.port" ] || { cat "$T/$name.out"; bail "$name did not start"; }
	STUB_PORT=$(cat "$T/$name.port")
	wait_for_port "$STUB_PORT" || bail "$name not listening on $STUB_PORT"
	STUB_URL=http://127.0.0.1:$STUB_PORT/v1
	STUB_LOG=$T/$name.log
	export STUB_PORT STUB_URL STUB_PID STUB_LOG
}

stop_stub() {
	stop_bg "$STUB_PID"
	STUB_PID=
}

stub_behavior() {
	local out
	out=$(curl -sS --max-time 10 -X POST --data-binary "$1" \
		"http://127.0.0.1:$STUB_PORT/_stub/behavior") ||
		bail "stub_behavior $1: stub not answering"
	case $out in
	*"\"$1\""*) ;;
	*) bail "stub_behavior $1: $out" ;;
	esac
}

stub_count() {
	curl -sS --max-time 10 "http://127.0.0.1:$STUB_PORT/_stub/count" |
		"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["requests"])'
}

stub_last() {
	"$PYTHON" - "${STUB_LOG:-$T/stub.log}" "$1" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
r = json.loads(lines[-1]) if lines else {}
v = eval(sys.argv[2], {"r": r, "json": json})
print(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
EOF
}

# ---------------------------------------------------------------- Redis

start_redis() {
	local port i=0
	need redis-server redis-cli
	if [ "${1:-}" = --port ] && [ -n "${2:-}" ]; then
		port=$2
	else
		port=$(free_port)
	fi
	mkdir -p "$T/redis"
	# No persistence: nothing is written to $T/redis, and a restart (stop,
	# then start --port again) brings back an empty server.
	start_bg redis redis-server --port "$port" --bind 127.0.0.1 \
		--save '' --appendonly no --dir "$T/redis" --daemonize no \
		--loglevel warning
	REDIS_PID=$BG_PID
	REDIS_PORT=$port
	REDIS_URL=redis://127.0.0.1:$port/0
	export REDIS_PORT REDIS_PID REDIS_URL
	while [ "$i" -lt 100 ]; do
		[ "$(redis_cli PING 2>/dev/null)" = PONG ] && return 0
		_alive "$REDIS_PID" || break
		sleep 0.1
		i=$((i + 1))
	done
	sed 's/^/#   /' "$T/redis.out" 2>/dev/null
	bail "redis-server did not start on port $port"
}

stop_redis() {
	stop_bg "$REDIS_PID"
	REDIS_PID=
}

redis_cli() {
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# ---------------------------------------------------------------- policy

seed_policy() {
	local out=$1 url=${2:-$STUB_URL}
	[ -n "$url" ] || bail "seed_policy: no upstream URL (start_stub first)"
	UPSTREAM_KEY=sk-upstream-secret-key
	export UPSTREAM_KEY
	mkdir -p "$T/state" "$T/log"
	"$PYTHON" - "$AIGW_TOP/etc/aigw.ini" "$out" "$url" "$UPSTREAM_KEY" \
		"$T/state" "$T/log/usage.jsonl" <<'EOF' || bail "seed_policy failed"
import re, sys
src, out, url, key, state, usage = sys.argv[1:]
new = {"url": "url = " + url, "api_key_env": "api_key = " + key,
       "state_dir": "state_dir = " + state, "usage_log": "usage_log = " + usage}
done = set()
lines = []
for line in open(src, encoding="utf-8").read().splitlines():
    m = re.match(r"\s*([A-Za-z_]+)\s*=", line)
    if m and m.group(1) in new:
        done.add(m.group(1))
        line = new[m.group(1)]
    lines.append(line)
missing = set(new) - done
if missing:
    sys.exit("seed_policy: no %s in %s" % (", ".join(sorted(missing)), src))
open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
EOF
	chmod 0644 "$out"
	_www_data "$T/state" "$T/log"
}

# Give www-data the directories the servers' workers write (when root).
_www_data() {
	if [ "$(id -u)" = 0 ]; then
		chown -R www-data:www-data "$@"
	else
		chmod -R a+rwX "$@"
	fi
}

# ---------------------------------------------------------------- servers

# Bails out unless AIGW_EXTRA_ENV is well formed (called outside $(...)).
_extra_env_check() {
	local w name words
	read -ra words <<<"${AIGW_EXTRA_ENV:-}"
	for w in "${words[@]}"; do
		name=${w%%=*}
		case $w in
		*=*) ;;
		*) bail "AIGW_EXTRA_ENV: not NAME=VALUE: $w" ;;
		esac
		case $name in
		"" | [0-9]* | *[!A-Za-z0-9_]*) bail "AIGW_EXTRA_ENV: bad name: $w" ;;
		esac
		case $w in
		*[\"\'\\]*) bail "AIGW_EXTRA_ENV: no quotes or backslashes: $w" ;;
		esac
	done
}

# The words of AIGW_EXTRA_ENV (and AIGW_TEST_THREADS), one per line.
_extra_env() {
	local words
	read -ra words <<<"$(_extra_words)"
	[ "${#words[@]}" -eq 0 ] || printf '%s\n' "${words[@]}"
}

# AIGW_EXTRA_ENV with AIGW_TEST_THREADS added when it is set.
_extra_words() {
	printf '%s' "${AIGW_EXTRA_ENV:-}"
	[ -z "${AIGW_TEST_THREADS:-}" ] || printf ' AIGW_TEST_THREADS=%s' "$AIGW_TEST_THREADS"
}

# AIGW_SERVER_CONF, for the end of a generated configuration.
_server_conf() {
	[ -z "${AIGW_SERVER_CONF:-}" ] || {
		echo "# AIGW_SERVER_CONF"
		printf '%s\n' "$AIGW_SERVER_CONF"
	}
}

_ensure_www() {
	if [ ! -e "$AIGW_TOP/www" ]; then
		mkdir -p "$AIGW_TOP/www"
		cat >"$AIGW_TOP/www/index.html" <<'EOF'
<!doctype html>
<html><head><meta charset="utf-8"><title>aigw</title></head>
<body><p>aigw</p></body></html>
EOF
	fi
}

_wait_server() {
	local name=$1 log=$2
	if ! wait_for_port "$GW_PORT" 15 || ! _alive "$GW_PID"; then
		diag "$name did not start; its output and error log:"
		sed 's/^/#   /' "$T/$name.out" "$log" 2>/dev/null
		bail "$name did not start"
	fi
}

start_lighttpd() {
	local policy=$1 procs=${2:-4} name=${GW_INSTANCE:-lighttpd} d extra
	need lighttpd
	_extra_env_check
	d=$T/$name
	[ -z "$GW_PID" ] || stop_server
	_ensure_www
	GW_PORT=$(free_port)
	mkdir -p "$d/sockets" "$d/upload"
	# lighttpd 1.4.69 opens its logs after switching to server.username, so
	# its whole directory belongs to that user.
	_www_data "$d"
	{
		cat <<EOF
# written by tests/setup.sh
var.aigw_fcgi       = "$AIGW_FCGI"
var.aigw_config     = "$policy"
var.aigw_socket_dir = "$d/sockets"
var.aigw_procs      = $procs
var.aigw_www        = "$AIGW_TOP/www"

server.port                 = $GW_PORT
server.bind                 = "127.0.0.1"
server.document-root        = "$AIGW_TOP/www"
server.errorlog             = "$d/error.log"
server.pid-file             = "$d/lighttpd.pid"
server.upload-dirs          = ( "$d/upload" )
server.stream-response-body = 2
server.modules              = ( "mod_fastcgi", "mod_accesslog" )
accesslog.filename          = "$d/access.log"
index-file.names            = ( "index.html" )
mimetype.assign = ( ".html" => "text/html; charset=utf-8",
                    ".css"  => "text/css; charset=utf-8",
                    ".js"   => "text/javascript; charset=utf-8",
                    ".json" => "application/json",
                    ".svg"  => "image/svg+xml",
                    ".png"  => "image/png",
                    ".txt"  => "text/plain; charset=utf-8" )
EOF
		if [ "$(id -u)" = 0 ]; then
			echo 'server.username  = "www-data"'
			echo 'server.groupname = "www-data"'
		fi
		echo "include \"$AIGW_TOP/etc/lighttpd-aigw.conf\""
		echo "include \"$AIGW_TOP/etc/lighttpd-accesslog.conf\""
		# Without bin-copy-environment, lighttpd hands its own
		# environment to the FastCGI processes it spawns, on top of
		# bin-environment: AIGW_EXTRA_ENV goes into lighttpd's.
		_extra_env | sed 's/^/# extra environment: /'
		_server_conf
	} >"$T/$name.conf"
	lighttpd -tt -f "$T/$name.conf" >"$T/$name.out" 2>&1 || {
		sed 's/^/#   /' "$T/$name.out"
		bail "lighttpd refuses $T/$name.conf"
	}
	read -ra extra <<<"$(_extra_words)"
	start_bg "$name" env "${extra[@]}" lighttpd -D -f "$T/$name.conf"
	GW_PID=$BG_PID
	GW_SERVER=lighttpd
	GW_ERRORLOG=$d/error.log
	GW_FCGI_LOG=$T/$name.out
	GW_ACCESSLOG=$d/access.log
	GW_URL=http://127.0.0.1:$GW_PORT
	export GW_PORT GW_URL GW_SERVER
	_wait_server "$name" "$GW_ERRORLOG"
}

start_apache() {
	local policy=$1 procs=${2:-4} name=${GW_INSTANCE:-apache} d
	local m=/usr/lib/apache2/modules
	need apache2
	[ -f "$m/mod_fcgid.so" ] || skip "mod_fcgid not installed"
	_extra_env_check
	d=$T/$name
	[ -z "$GW_PID" ] || stop_server
	_ensure_www
	GW_PORT=$(free_port)
	mkdir -p "$d/run" "$d/fcgid"
	_www_data "$d/fcgid"
	{
		cat <<EOF
# written by tests/setup.sh
Define AIGW_FCGI   $AIGW_FCGI
Define AIGW_CONFIG $policy
Define AIGW_WWW    $AIGW_TOP/www
Define AIGW_PROCS  $procs
Define AIGW_ACCESSLOG $d/access.log

ServerRoot        "$d"
ServerName        127.0.0.1
Listen            127.0.0.1:$GW_PORT
LoadModule mpm_event_module  $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule alias_module      $m/mod_alias.so
LoadModule fcgid_module      $m/mod_fcgid.so
LoadModule mime_module       $m/mod_mime.so
LoadModule dir_module        $m/mod_dir.so
PidFile           "$d/apache.pid"
DefaultRuntimeDir "$d/run"
ErrorLog          "$d/error.log"
LogLevel          warn fcgid:info
TypesConfig       /etc/mime.types
DirectoryIndex    index.html
Mutex             pthread default
FcgidIPCDir           "$d/fcgid"
FcgidProcessTableFile "$d/fcgid_shm"
EOF
		if [ "$(id -u)" = 0 ]; then
			echo "User  www-data"
			echo "Group www-data"
		fi
		cat <<EOF
<Directory />
    Options None
    AllowOverride None
    Require all denied
</Directory>

Include "$AIGW_TOP/etc/apache-aigw.conf"
Include "$AIGW_TOP/etc/apache-accesslog.conf"
EOF
		# mod_fcgid gives its processes only what FcgidInitialEnv lists.
		_extra_env | sed 's/^\([^=]*\)=\(.*\)$/FcgidInitialEnv \1 "\2"/'
		_server_conf
	} >"$T/$name.conf"
	apache2 -t -f "$T/$name.conf" >"$T/$name.out" 2>&1 || {
		sed 's/^/#   /' "$T/$name.out"
		bail "apache2 refuses $T/$name.conf"
	}
	start_bg "$name" apache2 -f "$T/$name.conf" -DFOREGROUND
	GW_PID=$BG_PID
	GW_SERVER=apache
	GW_ERRORLOG=$d/error.log
	GW_FCGI_LOG=$d/error.log
	GW_ACCESSLOG=$d/access.log
	GW_URL=http://127.0.0.1:$GW_PORT
	export GW_PORT GW_URL GW_SERVER
	_wait_server "$name" "$GW_ERRORLOG"
}

# Starts PROCS aigw.fcgi processes (through multiwatch when PROCS > 1) on
# the unix socket SOCK with spawn-fcgi -n, as etc/aigw-spawn-fcgi.service
# does, output to $T/NAME.out; sets GW_FCGI_PID.  Call outside $(...).
_spawn_fcgi() {
	local name=$1 policy=$2 procs=$3 sock=$4 i=0 extra fcgi run_as=()
	if [ "$(id -u)" = 0 ]; then
		run_as=(setpriv --reuid=www-data --regid=www-data --init-groups)
	fi
	fcgi=("$AIGW_FCGI")
	if [ "$procs" -gt 1 ]; then
		if command -v multiwatch >/dev/null 2>&1; then
			fcgi=("$(command -v multiwatch)" -f "$procs" -- "$AIGW_FCGI")
		else
			diag "multiwatch not found: one FastCGI process instead of $procs"
		fi
	fi
	read -ra extra <<<"$(_extra_words)"
	rm -f "$sock"
	start_bg "$name" "${run_as[@]}" env AIGW_CONFIG="$policy" \
		"${extra[@]}" spawn-fcgi -n -s "$sock" -M 0660 -- "${fcgi[@]}"
	GW_FCGI_PID=$BG_PID
	while [ ! -S "$sock" ] && [ "$i" -lt 100 ]; do
		_alive "$GW_FCGI_PID" || break
		sleep 0.05
		i=$((i + 1))
	done
	sleep 0.2
	if [ ! -S "$sock" ] || ! _alive "$GW_FCGI_PID"; then
		sed 's/^/#   /' "$T/$name.out"
		bail "spawn-fcgi did not start (socket $sock)"
	fi
}

start_apache_proxy() {
	local policy=$1 procs=${2:-4} name=${GW_INSTANCE:-apache-proxy} d
	local m=/usr/lib/apache2/modules
	need apache2 spawn-fcgi
	[ -f "$m/mod_proxy_fcgi.so" ] || skip "mod_proxy_fcgi not installed"
	_extra_env_check
	d=$T/$name
	[ -z "$GW_PID" ] || stop_server
	_ensure_www
	GW_PORT=$(free_port)
	mkdir -p "$d/run" "$d/sockets"
	_www_data "$d/sockets"
	# As etc/aigw-spawn-fcgi.service: the processes run as www-data, whose
	# Apache workers connect to the socket.
	_spawn_fcgi "$name-fcgi" "$policy" "$procs" "$d/sockets/aigw.sock"
	{
		cat <<EOF
# written by tests/setup.sh
Define AIGW_SOCKET $d/sockets/aigw.sock
Define AIGW_WWW    $AIGW_TOP/www
Define AIGW_ACCESSLOG $d/access.log

ServerRoot        "$d"
ServerName        127.0.0.1
Listen            127.0.0.1:$GW_PORT
LoadModule mpm_event_module  $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule alias_module      $m/mod_alias.so
LoadModule proxy_module      $m/mod_proxy.so
LoadModule proxy_fcgi_module $m/mod_proxy_fcgi.so
LoadModule mime_module       $m/mod_mime.so
LoadModule dir_module        $m/mod_dir.so
PidFile           "$d/apache.pid"
DefaultRuntimeDir "$d/run"
ErrorLog          "$d/error.log"
LogLevel          warn
TypesConfig       /etc/mime.types
DirectoryIndex    index.html
Mutex             pthread default
EOF
		if [ "$(id -u)" = 0 ]; then
			echo "User  www-data"
			echo "Group www-data"
		fi
		cat <<EOF
<Directory />
    Options None
    AllowOverride None
    Require all denied
</Directory>

Include "$AIGW_TOP/etc/apache-aigw-proxy-fcgi.conf"
Include "$AIGW_TOP/etc/apache-accesslog.conf"
EOF
		_server_conf
	} >"$T/$name.conf"
	apache2 -t -f "$T/$name.conf" >"$T/$name.out" 2>&1 || {
		sed 's/^/#   /' "$T/$name.out"
		bail "apache2 refuses $T/$name.conf"
	}
	start_bg "$name" apache2 -f "$T/$name.conf" -DFOREGROUND
	GW_PID=$BG_PID
	GW_SERVER=apache
	GW_ERRORLOG=$d/error.log
	GW_FCGI_LOG=$T/$name-fcgi.out
	GW_ACCESSLOG=$d/access.log
	GW_URL=http://127.0.0.1:$GW_PORT
	export GW_PORT GW_URL GW_SERVER
	_wait_server "$name" "$GW_ERRORLOG"
}

start_nginx() {
	local policy=$1 procs=${2:-4} name=${GW_INSTANCE:-nginx} d sock
	need nginx spawn-fcgi
	_extra_env_check
	d=$T/$name
	[ -z "$GW_PID" ] || stop_server
	_ensure_www
	GW_PORT=$(free_port)
	mkdir -p "$d/sockets" "$d/tmp"
	_www_data "$d/sockets" "$d/tmp"
	sock=$d/sockets/aigw.sock
	# As etc/aigw-spawn-fcgi.service: everything as www-data (nginx's
	# workers connect to the socket as that user).  spawn-fcgi -n binds the
	# socket and becomes the program; with -F it would fork and exit, which
	# no supervisor (nor the reaper) can follow.  Several processes on one
	# socket: multiwatch, which forks them and restarts those that die.  It
	# passes no signal on that stops aigw (SIGUSR1 by default; its -s option
	# sends the wrong signal in 1.0.0), so stop_server sends SIGTERM to
	# every process, as systemd does.
	_spawn_fcgi "$name-fcgi" "$policy" "$procs" "$sock"
	{
		cat <<EOF
# written by tests/setup.sh
worker_processes 2;
pid              $d/nginx.pid;
error_log        $d/error.log warn;
EOF
		[ "$(id -u)" = 0 ] && echo "user             www-data www-data;"
		cat <<EOF
events {
    worker_connections 256;
}
http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    access_log    $d/access.log;
    client_body_temp_path $d/tmp/client_body;
    fastcgi_temp_path     $d/tmp/fastcgi;
    proxy_temp_path       $d/tmp/proxy;
    uwsgi_temp_path       $d/tmp/uwsgi;
    scgi_temp_path        $d/tmp/scgi;

    upstream aigw {
        server unix:$sock;
    }

    server {
        listen      127.0.0.1:$GW_PORT;
        server_name 127.0.0.1;
        set \$aigw_www $AIGW_TOP/www;
        include "$AIGW_TOP/etc/nginx-aigw.conf";
EOF
		_server_conf | sed 's/^/        /'
		echo "    }"
		echo "}"
	} >"$T/$name.conf"
	nginx -t -q -e "$d/error.log" -p "$d/" -c "$T/$name.conf" \
		>"$T/$name.out" 2>&1 || {
		sed 's/^/#   /' "$T/$name.out"
		bail "nginx refuses $T/$name.conf"
	}
	start_bg "$name" nginx -e "$d/error.log" -p "$d/" -c "$T/$name.conf" \
		-g 'daemon off;'
	GW_PID=$BG_PID
	GW_SERVER=nginx
	GW_ERRORLOG=$d/error.log
	GW_ACCESSLOG=$d/access.log
	GW_FCGI_LOG=$T/$name-fcgi.out
	GW_URL=http://127.0.0.1:$GW_PORT
	export GW_PORT GW_URL GW_SERVER
	_wait_server "$name" "$GW_ERRORLOG"
}

start_server() {
	local server=$1
	shift
	case $server in
	lighttpd) start_lighttpd "$@" ;;
	apache) start_apache "$@" ;;
	apache-proxy) start_apache_proxy "$@" ;;
	nginx) start_nginx "$@" ;;
	*) bail "start_server: unknown server $server" ;;
	esac
}

stop_server() {
	stop_bg "$GW_PID"
	GW_PID=
	if [ -n "${GW_FCGI_PID:-}" ]; then
		# SIGTERM to every process of the group at once, as systemd's
		# KillMode=control-group does: multiwatch would not pass it on.
		# The reaper (its pid is the session id) is among them.
		kill -TERM $(_bg_sids=$GW_FCGI_PID _session_procs) 2>/dev/null
		stop_bg "$GW_FCGI_PID"
		GW_FCGI_PID=
	fi
}

fcgi_pids() {
	local pid exe want
	want=$(readlink -f "$AIGW_FCGI")
	for pid in $(_session_procs); do
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
		[ "$exe" = "$want" ] && [ "$(_proc_state "$pid")" != Z ] &&
			echo "$pid"
	done
	return 0
}

# ---------------------------------------------------------------- requests

http() {
	: >"$T/body"
	: >"$T/headers"
	curl -sS -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 30 \
		"$@" 2>"$T/curl.err"
	return 0
}

body() {
	cat "$T/body"
}

header() {
	# The last header block only (skips "100 Continue" and the like).
	tr -d '\r' <"$T/headers" | awk -v name="$1" '
		/^HTTP\// { n = 0; delete h; next }
		{
			i = index($0, ":")
			if (i == 0) next
			k = tolower(substr($0, 1, i - 1))
			if (!(k in h)) {
				v = substr($0, i + 1)
				sub(/^[ \t]+/, "", v)
				h[k] = v
			}
		}
		END { if (tolower(name) in h) print h[tolower(name)] }'
}

json_get() {
	"$PYTHON" - "${2:-$T/body}" "$1" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1], encoding="utf-8"))
v = eval(sys.argv[2], {"j": j, "json": json})
print(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
EOF
}

# ---------------------------------------------------------------- checks

_ok() {
	_passed=$((_passed + 1))
	echo "ok $((_passed + _failed)) - $1"
}

_not_ok() {
	_failed=$((_failed + 1))
	echo "not ok $((_passed + _failed)) - $1"
}

check() {
	local name=$1
	shift
	# CMD's output would break the TAP stream: show it only on failure.
	if "$@" >"$T/check.out" 2>&1; then
		_ok "$name"
	else
		_not_ok "$name"
		sed 's/^#* *\(.*\)/# \1/' "$T/check.out"
		return 1
	fi
}

expect_eq() {
	if [ "$2" = "$3" ]; then
		_ok "$1"
	else
		_not_ok "$1"
		diag "expected: $2"
		diag "     got: $3"
		return 1
	fi
}

expect_contains() {
	case $2 in
	*"$3"*)
		_ok "$1"
		;;
	*)
		_not_ok "$1"
		diag "expected to contain: $3"
		diag "                got: $(printf '%s' "$2" | head -c 400)"
		return 1
		;;
	esac
}

expect_status() {
	local want=$1 got
	shift
	got=$(http "$@")
	if [ "$got" = "$want" ]; then
		_ok "$want <- $*"
	else
		_not_ok "$want <- $*"
		diag "got status $got; body: $(head -c 300 "$T/body")"
		[ -s "$T/curl.err" ] && diag "curl: $(cat "$T/curl.err")"
		return 1
	fi
}

# The last answer was made by the gateway itself: JSON, OpenAI error shape.
_is_gateway_error() {
	case $(header Content-Type) in
	application/json*) ;;
	*) return 1 ;;
	esac
	"$PYTHON" - "$T/body" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1], encoding="utf-8"))
e = j.get("error") if isinstance(j, dict) else None
sys.exit(0 if isinstance(e, dict) and isinstance(e.get("message"), str) else 1)
EOF
}

expect_gateway_error() {
	if _is_gateway_error 2>/dev/null; then
		_ok "$1"
	else
		_not_ok "$1"
		diag "Content-Type: $(header Content-Type)"
		diag "body: $(head -c 300 "$T/body")"
		return 1
	fi
}

finish() {
	echo "1..$((_passed + _failed))"
	echo "$_passed passed, $_failed failed"
	if [ "$_failed" -gt 0 ]; then
		if [ -n "$T" ]; then
			for f in "$T"/*/error.log "$T"/*.out; do
				[ -s "$f" ] || continue
				diag "--- ${f#"$T"/} (last 20 lines)"
				tail -n 20 "$f" | sed 's/^/#   /'
			done
		fi
		exit 1
	fi
	exit 0
}
