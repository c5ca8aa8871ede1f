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
#                                STUB_URL (http://127.0.0.1:PORT/v1), STUB_PID
#   stop_stub
#   stub_behavior NAME           normal, error500, garbage, drop, slow, status429
#   stub_count                   print how many requests the stub received
#   stub_last EXPR               evaluate a Python expression over the last
#                                logged request `r` and print it
#
# Policy and servers
#   seed_policy OUT [URL]        etc/aigw.ini pointed at URL (default
#                                $STUB_URL) with an inline upstream key and
#                                state and log under $T; sets UPSTREAM_KEY
#   start_lighttpd POLICY [MAXPROCS]   lighttpd + etc/lighttpd-aigw.conf
#   start_apache POLICY [MAXPROCS]     Apache + mod_fcgid + etc/apache-aigw.conf
#                                both set GW_PORT, GW_URL, GW_SERVER, GW_PID,
#                                GW_ERRORLOG
#   start_server SERVER POLICY [MAXPROCS]   SERVER is lighttpd or apache
#   stop_server                  stop the running web server
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
	local i=0
	rm -f "$T/stub.port"
	start_bg stub "$PYTHON" "$_stub" --port 0 --port-file "$T/stub.port" \
		--log "$T/stub.log" "$@"
	STUB_PID=$BG_PID
	while [ ! -s "$T/stub.port" ] && [ "$i" -lt 100 ]; do
		_alive "$STUB_PID" || break
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$T/stub.port" ] || { cat "$T/stub.out"; bail "stub did not start"; }
	STUB_PORT=$(cat "$T/stub.port")
	wait_for_port "$STUB_PORT" || bail "stub not listening on $STUB_PORT"
	STUB_URL=http://127.0.0.1:$STUB_PORT/v1
	export STUB_PORT STUB_URL STUB_PID
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
	"$PYTHON" - "$T/stub.log" "$1" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
r = json.loads(lines[-1]) if lines else {}
v = eval(sys.argv[2], {"r": r, "json": json})
print(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
EOF
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
	local policy=$1 procs=${2:-4} d=$T/lighttpd
	need lighttpd
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
	} >"$T/lighttpd.conf"
	lighttpd -tt -f "$T/lighttpd.conf" >"$T/lighttpd.out" 2>&1 || {
		sed 's/^/#   /' "$T/lighttpd.out"
		bail "lighttpd refuses $T/lighttpd.conf"
	}
	start_bg lighttpd lighttpd -D -f "$T/lighttpd.conf"
	GW_PID=$BG_PID
	GW_SERVER=lighttpd
	GW_ERRORLOG=$d/error.log
	GW_URL=http://127.0.0.1:$GW_PORT
	export GW_PORT GW_URL GW_SERVER
	_wait_server lighttpd "$GW_ERRORLOG"
}

start_apache() {
	local policy=$1 procs=${2:-4} d=$T/apache m=/usr/lib/apache2/modules
	need apache2
	[ -f "$m/mod_fcgid.so" ] || skip "mod_fcgid not installed"
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
LogFormat         "%h %t \"%r\" %>s %b %D" timing
CustomLog         "$d/access.log" timing
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
EOF
	} >"$T/apache.conf"
	apache2 -t -f "$T/apache.conf" >"$T/apache.out" 2>&1 || {
		sed 's/^/#   /' "$T/apache.out"
		bail "apache2 refuses $T/apache.conf"
	}
	start_bg apache apache2 -f "$T/apache.conf" -DFOREGROUND
	GW_PID=$BG_PID
	GW_SERVER=apache
	GW_ERRORLOG=$d/error.log
	GW_URL=http://127.0.0.1:$GW_PORT
	export GW_PORT GW_URL GW_SERVER
	_wait_server apache "$GW_ERRORLOG"
}

start_server() {
	local server=$1
	shift
	case $server in
	lighttpd) start_lighttpd "$@" ;;
	apache) start_apache "$@" ;;
	*) bail "start_server: unknown server $server" ;;
	esac
}

stop_server() {
	stop_bg "$GW_PID"
	GW_PID=
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
			for f in "$T"/lighttpd/error.log "$T"/apache/error.log \
				"$T"/*.out; do
				[ -s "$f" ] || continue
				diag "--- ${f#"$T"/} (last 20 lines)"
				tail -n 20 "$f" | sed 's/^/#   /'
			done
		fi
		exit 1
	fi
	exit 0
}
