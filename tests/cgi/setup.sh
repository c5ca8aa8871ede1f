#!/bin/bash
# tests/cgi/setup.sh: sourced by the fast tests (tests/cgi/tNNNN-*.sh), which
# run build/aigw.cgi directly, as a web server would run a CGI program, with
# no server in between: the request is environment variables and stdin, the
# answer is read from stdout.  Sources tests/setup.sh, so its helpers (stub,
# checks, header, json_get, ...) work here too.
#
#   cgi_policy [INI-TEXT]    start_stub (if not yet), seed_policy $T/aigw.ini,
#                            then append INI-TEXT (one argument); sets
#                            AIGW_CONFIG and USAGE_LOG
#   cgi [-H 'Name: value']... [-d BODY] [-t CONTENT-TYPE] METHOD URI
#                            run aigw.cgi once: REQUEST_METHOD, REQUEST_URI,
#                            SCRIPT_NAME (empty), PATH_INFO and QUERY_STRING
#                            from URI, each -H as HTTP_NAME, -d as stdin with
#                            CONTENT_LENGTH; prints the status (200 when the
#                            program gave no Status line); the answer's
#                            headers go to $T/headers, its body to $T/body
#   cgi_expect NAME STATUS CGI-ARGS...   a check that cgi's status is STATUS
#   usage_last FIELD...      print the FIELDs of the last usage record (the
#                            usage log's last JSON line), blank-separated

. "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"

[ -x "$AIGW_CGI" ] || bail "$AIGW_CGI is missing: run make first"

cgi_policy() {
	[ -n "${STUB_URL:-}" ] || start_stub
	seed_policy "$T/aigw.ini"
	chmod 0600 "$T/aigw.ini"
	[ $# -eq 0 ] || printf '%s\n' "$1" >>"$T/aigw.ini"
	AIGW_CONFIG=$T/aigw.ini
	USAGE_LOG=$T/log/usage.jsonl
	export AIGW_CONFIG USAGE_LOG
}

cgi() {
	local body= has_body=0 ctype= name value uri path query
	local -a envs=()
	while [ $# -gt 2 ]; do
		case $1 in
		-H)
			name=${2%%:*}
			value=${2#*:}
			value=${value# }
			name=$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')
			envs+=("HTTP_$name=$value")
			shift 2
			;;
		-d) body=$2; has_body=1; shift 2 ;;
		-t) ctype=$2; shift 2 ;;
		*) break ;;
		esac
	done
	uri=$2
	path=${uri%%\?*}
	query=
	[ "$path" = "$uri" ] || query=${uri#*\?}
	if [ "$has_body" = 1 ]; then
		envs+=("CONTENT_LENGTH=${#body}" "CONTENT_TYPE=${ctype:-application/json}")
	fi
	printf '%s' "$body" | env -i PATH="$PATH" AIGW_CONFIG="$AIGW_CONFIG" \
		GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
		SERVER_NAME=127.0.0.1 SERVER_PORT=80 REMOTE_ADDR=127.0.0.1 \
		REQUEST_METHOD="$1" REQUEST_URI="$uri" SCRIPT_NAME= \
		PATH_INFO="$path" QUERY_STRING="$query" "${envs[@]}" \
		${AIGW_CGI_ENV:-} "$AIGW_CGI" >"$T/cgi.out" 2>>"$T/cgi.err"
	"$PYTHON" - "$T/cgi.out" "$T/headers" "$T/body" <<'EOF'
import re, sys
out = open(sys.argv[1], "rb").read()
m = re.search(rb"\r?\n\r?\n", out)
head, body = (out[:m.start()], out[m.end():]) if m else (out, b"")
status = "200"
for line in head.splitlines():
    if line.lower().startswith(b"status:"):
        status = line.split()[1].decode()
open(sys.argv[2], "wb").write(b"HTTP/1.1 " + status.encode() + b"\r\n" + head + b"\r\n")
open(sys.argv[3], "wb").write(body)
print(status)
EOF
}

cgi_expect() {
	local name=$1 want=$2 st
	shift 2
	st=$(cgi "$@")
	expect_eq "$name -> $want" "$want" "$st" ||
		diag "body: $(head -c 200 "$T/body" | tr -d '\r\n')"
}

usage_last() {
	"$PYTHON" - "$USAGE_LOG" "$@" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
u = json.loads(lines[-1])
print(" ".join(str(u.get(f)) for f in sys.argv[2:]))
EOF
}
