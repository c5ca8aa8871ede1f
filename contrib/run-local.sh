#!/bin/sh
# run-local.sh: run the gateway locally under lighttpd, in the foreground,
# until Ctrl-C.  This is what `make run` calls once everything is built.
#
#   PORT=8080         port on 127.0.0.1 (default 8080)
#   OPENAI_API_KEY    if set, relay to https://api.openai.com/v1 with it;
#                     otherwise start tests/stub/openai_stub.py on a free port
#                     and relay to that, with a dummy key
#
# The gateway is mounted at / with etc/lighttpd-aigw.conf (the very snippet
# operators include) and the static pages of www/ are served at /ui/.  The
# policy is etc/aigw.ini rewritten into ./run/ (state and usage log there
# too; run/ is not tracked).  Everything started here is stopped on exit.

set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
RUN=$TOP/run
PORT=${PORT:-8080}
PYTHON=/usr/bin/python3
REAPER=$TOP/tests/lib/reaper.py
FCGI=$TOP/build/aigw.fcgi
AIGWCTL=$TOP/build/aigwctl
POLICY=$RUN/aigw.ini
LT=$RUN/lighttpd
pids=

die() {
	echo "run-local: $*" >&2
	exit 1
}

# Stop what we started, newest first: SIGTERM, up to 10 s, then SIGKILL.
cleanup() {
	trap '' INT TERM HUP
	trap - EXIT
	rev=
	for p in $pids; do
		rev="$p $rev"
	done
	for p in $rev; do
		kill -TERM "$p" 2>/dev/null || continue
		i=0
		while kill -0 "$p" 2>/dev/null && [ "$i" -lt 100 ]; do
			# A child that has exited but is not yet reaped still
			# answers kill -0: look at its state.
			case $(sed 's/.*) \(.\).*/\1/' "/proc/$p/stat" 2>/dev/null) in
			Z | '') break ;;
			esac
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pids=
}
trap cleanup EXIT
trap 'echo; echo "run-local: stopping"; exit 0' INT TERM HUP

# Run a command in its own session under the reaper (it reaps whatever
# lighttpd leaves behind); output goes to our terminal.
start_bg() {
	"$PYTHON" "$REAPER" -- "$@" </dev/null &
	pids="$pids $!"
}

wait_for_port() {
	i=0
	while [ "$i" -lt 100 ]; do
		if "$PYTHON" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
			"$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

command -v lighttpd >/dev/null 2>&1 || die "lighttpd is not installed"
[ -x "$PYTHON" ] || die "$PYTHON is not installed"
[ -x "$FCGI" ] || die "$FCGI is missing: run make first"
if "$PYTHON" -c 'import socket, sys
s = socket.socket()
s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 and sys.exit(1)' "$PORT"
then :; else
	die "127.0.0.1:$PORT is already in use (set PORT=...)"
fi

mkdir -p "$RUN/state" "$RUN/log" "$LT/sockets" "$LT/upload" ||
	die "cannot create $RUN"
chmod 0755 "$RUN"
rm -f "$LT"/sockets/*

# --- the upstream: OpenAI itself, or the local stub.
if [ -n "${OPENAI_API_KEY:-}" ]; then
	upstream="https://api.openai.com/v1 (key from OPENAI_API_KEY)"
	url=
else
	rm -f "$RUN/stub.port"
	start_bg "$PYTHON" "$TOP/tests/stub/openai_stub.py" --port 0 \
		--port-file "$RUN/stub.port" --log "$RUN/stub.log"
	i=0
	while [ ! -s "$RUN/stub.port" ] && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$RUN/stub.port" ] || die "the stub did not start"
	url=http://127.0.0.1:$(cat "$RUN/stub.port")/v1
	upstream="the local stub at $url (requests logged in run/stub.log)"
fi

# --- the policy: etc/aigw.ini with state and log under run/.
"$PYTHON" - "$TOP/etc/aigw.ini" "$POLICY" "$RUN" "$url" <<'EOF' ||
import re, sys
src, out, run, url = sys.argv[1:]
new = {"state_dir": "state_dir = %s/state" % run,
       "usage_log": "usage_log = %s/log/usage.jsonl" % run}
if url:
    new["url"] = "url = " + url
    new["api_key_env"] = "api_key = sk-local-dummy-key"
lines = []
for line in open(src, encoding="utf-8").read().splitlines():
    m = re.match(r"\s*([A-Za-z_]+)\s*=", line)
    if m and m.group(1) in new:
        line = new.pop(m.group(1))
    lines.append(line)
if new:
    sys.exit("no %s in %s" % (", ".join(sorted(new)), src))
with open(out, "w", encoding="utf-8") as f:
    f.write("; written by contrib/run-local.sh from etc/aigw.ini\n")
    f.write("\n".join(lines) + "\n")
EOF
	die "cannot write $POLICY"
# It may hold a key: readable by the gateway's group only.
chmod 0600 "$POLICY"

if [ -x "$AIGWCTL" ]; then
	"$AIGWCTL" -c "$POLICY" check ||
		die "aigwctl check refuses $POLICY (see above)"
fi

# --- lighttpd, as www-data when we are root (it opens its logs after
# switching user, so its directory belongs to that user too).
user_lines=
if [ "$(id -u)" = 0 ]; then
	chown -R www-data:www-data "$RUN/state" "$RUN/log" "$LT"
	chgrp www-data "$POLICY"
	chmod 0640 "$POLICY"
	user_lines='server.username  = "www-data"
server.groupname = "www-data"'
fi
# As shipped: 16 processes x [gateway] threads (64) = 1,024 requests at once.
procs=${AIGW_PROCS:-16}
cat >"$RUN/lighttpd.conf" <<EOF
# written by contrib/run-local.sh
var.aigw_fcgi       = "$FCGI"
var.aigw_config     = "$POLICY"
var.aigw_socket_dir = "$LT/sockets"
var.aigw_procs      = $procs
var.aigw_www        = "$TOP/www"

server.port                 = $PORT
server.bind                 = "127.0.0.1"
server.document-root        = "$TOP/www"
server.errorlog             = "$LT/error.log"
server.pid-file             = "$LT/lighttpd.pid"
server.upload-dirs          = ( "$LT/upload" )
server.stream-response-body = 2
server.max-fds              = 16384
server.modules              = ( "mod_fastcgi", "mod_accesslog" )
accesslog.filename          = "$LT/access.log"
index-file.names            = ( "index.html" )
mimetype.assign = ( ".html" => "text/html; charset=utf-8",
                    ".css"  => "text/css; charset=utf-8",
                    ".js"   => "text/javascript; charset=utf-8",
                    ".json" => "application/json",
                    ".svg"  => "image/svg+xml",
                    ".png"  => "image/png",
                    ".txt"  => "text/plain; charset=utf-8" )
$user_lines
include "$TOP/etc/lighttpd-aigw.conf"
EOF
lighttpd -tt -f "$RUN/lighttpd.conf" || die "lighttpd refuses $RUN/lighttpd.conf"
start_bg lighttpd -D -f "$RUN/lighttpd.conf"
lighttpd_pid=$!
if ! wait_for_port "$PORT"; then
	tail -n 20 "$LT/error.log" >&2 2>/dev/null
	die "lighttpd did not start on 127.0.0.1:$PORT"
fi

u=http://127.0.0.1:$PORT
cat <<EOF

aigw is running at $u (lighttpd, $procs processes x [gateway] threads)
  policy:    run/aigw.ini (from etc/aigw.ini)
  upstream:  $upstream
  usage log: run/log/usage.jsonl    server logs: run/lighttpd/
  pages:     $u/ui/

Try:
  curl -i -H 'apikey: xxxxxx' '$u/?text=Say,hello'    # 200, consumer1
  curl -i '$u/?text=Say,hello'                        # 401, no key
  curl -i -H 'apikey: yyyyyy' '$u/?text=Say,hello'    # 403, consumer2 not allowed
  curl -i -H 'apikey: xxxxxx' '$u/?text=pw=1'         # 404, blocked URL

Ctrl-C stops everything.
EOF

# Until lighttpd exits or we are interrupted.
wait "$lighttpd_pid"
status=$?
echo "run-local: lighttpd exited with status $status" >&2
exit "$status"
