#!/bin/sh
# valgrind.sh: runs aigw.fcgi under valgrind (memcheck, full leak check) for a
# few hundred requests of the seed scenario (every status: 200, 401, 403,
# blocked 404, 400, the OpenAI mode with a stream, an admin endpoint),
# driven through its FastCGI socket with cgi-fcgi, then stops it and fails
# on any error or leak valgrind reports.
. "$(dirname "$0")/setup.sh"
need valgrind spawn-fcgi cgi-fcgi
scratch_init
start_stub
seed_policy "$T/aigw.ini"
cat >>"$T/aigw.ini" <<EOP

[route v1]
path = /v1
mode = openai
allow = consumer1
EOP
sed -i 's/^max_body  = .*/&\nadmin_key = valgrind-admin/' "$T/aigw.ini"

sock="$T/aigw.sock"
AIGW_CONFIG="$T/aigw.ini" start_bg valgrind spawn-fcgi -n -s "$sock" -- \
	"$(command -v valgrind)" --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
	--log-file="$T/valgrind.log" "$AIGW_FCGI"
VG_PID=$BG_PID
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

# fcgi_get QUERY [HEADER-ENV...]: one GET / through the socket
fcgi_get() {
	q=$1
	shift
	env -i "$@" REQUEST_METHOD=GET SCRIPT_NAME= PATH_INFO=/ QUERY_STRING="$q" \
		REQUEST_URI="/?$q" cgi-fcgi -bind -connect "$sock" 2>/dev/null | head -1
}
fcgi_post() {
	path=$1 body=$2
	shift 2
	printf '%s' "$body" | env -i "$@" REQUEST_METHOD=POST SCRIPT_NAME= PATH_INFO="$path" \
		REQUEST_URI="$path" CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} \
		cgi-fcgi -bind -connect "$sock" 2>/dev/null | head -1
}

n=0
while [ $n -lt 40 ]; do
	fcgi_get "text=Say,hello" HTTP_APIKEY=xxxxxx >>"$T/statuses"
	fcgi_get "text=Say,hello" >>"$T/statuses"
	fcgi_get "text=Say,hello" HTTP_APIKEY=yyyyyy >>"$T/statuses"
	fcgi_get "text=Mypassword" HTTP_APIKEY=xxxxxx >>"$T/statuses"
	fcgi_get "nothing=1" HTTP_APIKEY=xxxxxx >>"$T/statuses"
	fcgi_post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}]}' \
		HTTP_AUTHORIZATION="Bearer xxxxxx" >>"$T/statuses"
	fcgi_post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"stream":true}' \
		HTTP_AUTHORIZATION="Bearer xxxxxx" >>"$T/statuses"
	fcgi_post /v1/chat/completions '{"messages":[' HTTP_AUTHORIZATION="Bearer xxxxxx" >>"$T/statuses"
	env -i REQUEST_METHOD=GET SCRIPT_NAME= PATH_INFO=/_aigw/metrics REQUEST_URI=/_aigw/metrics \
		HTTP_AUTHORIZATION="Bearer valgrind-admin" cgi-fcgi -bind -connect "$sock" 2>/dev/null |
		head -1 >>"$T/statuses"
	n=$((n + 1))
done
stop_bg "$VG_PID"

total=$(wc -l <"$T/statuses")
expect_eq "requests answered" 360 "$total"
expect_eq "200s (prompt, openai, stream, metrics)" 160 "$(grep -c '^Status: 200' "$T/statuses")"
expect_eq "401s" 40 "$(grep -c '^Status: 401' "$T/statuses")"
expect_eq "403s" 40 "$(grep -c '^Status: 403' "$T/statuses")"
expect_eq "404s (blocked)" 40 "$(grep -c '^Status: 404' "$T/statuses")"
expect_eq "400s" 80 "$(grep -c '^Status: 400' "$T/statuses")"
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost' "$T/valgrind.log" | sed 's/^==[0-9]*== /valgrind: /'
expect_contains "valgrind: no errors" "$(cat "$T/valgrind.log" 2>/dev/null)" "ERROR SUMMARY: 0 errors"
if [ ! -s "$T/valgrind.log" ] ||
	grep -q 'definitely lost: [1-9]\|indirectly lost: [1-9]\|possibly lost: [1-9]' "$T/valgrind.log"; then
	expect_eq "valgrind: no leaks" "none" "leaks"
else
	expect_eq "valgrind: no leaks" "none" "none"
fi
finish
