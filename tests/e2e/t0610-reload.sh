#!/bin/bash
# t0610-reload.sh: policy edits under a running lighttpd.
#
# Each process checks its policy files at most once a second when it
# serves a request, so an edit must show in the answers within a second
# (polled, with a deadline of 1.5 s, the time printed), and a second after
# the edit every process must have it once it has served a request.
#
# A process that serves nothing keeps the policy it has: to know what each
# one holds, every valid edit is followed by PROCS requests at once to an
# open route whose upstream is slow, which reach every process.
#
#   - a new blocked word; a new consumer (allowed); consumer1 removed from
#     the allow list; a consumer added by a new file in an included
#     directory;
#   - a broken edit (an unknown key) changes no answer, and the error log
#     names FILE:LINE; the fix then takes effect;
#   - the policy file removed, then put back;
#   - a policy invalid from the start: 500 policy_invalid JSON errors from
#     processes that stay up (and no usage log lines), until it is fixed;
#   - the messages also reach server.breakagelog when it is set, as INSTALL
#     recommends.

. "$(dirname "$0")/../setup.sh"

need curl
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

PROCS=2
POLICY=$T/aigw.ini
USAGE_LOG=$T/log/usage.jsonl
start_stub --slow-ms 400
seed_policy "$T/seed.ini"
cat >>"$T/seed.ini" <<'EOF'

; open to everyone (global_auth = false): reaches every process (settled)
[route open]
path         = /open
prompt_param = text
EOF
mkdir -p "$T/conf.d"
chmod 0755 "$T/conf.d"

now_ms() {
	date +%s%3N
}

# policy OUT [BLOCK-WORDS [ALLOW [EXTRA-LINE]]]: the seed policy with the
# chat route's block_urls and allow list replaced, conf.d/*.ini included
# and EXTRA-LINE (if any) added at the end, in the chat route.
policy() {
	local out=$1 words=${2:-password, pw} allow=${3:-consumer1} extra=${4:-}
	sed -e "s/^block_urls .*/block_urls     = $words/" \
		-e "s/^allow .*/allow          = $allow/" \
		-e "s|^max_body .*|&\\ninclude   = conf.d/*.ini|" \
		"$T/seed.ini" >"$out"
	[ -z "$extra" ] || printf '%s\n' "$extra" >>"$out"
	chmod 0644 "$out"
}

# install_policy [policy ARGS...]: write it aside, check it, rename it over
# the live one (as INSTALL says to); EDIT_MS is the moment of the rename.
install_policy() {
	policy "$T/aigw.ini.new" "$@"
	mv "$T/aigw.ini.new" "$POLICY"
	EDIT_MS=$(now_ms)
}

# wait_change NAME WANT CURL-ARGS...: repeat the request until it answers
# WANT, 1.5 s at most after the edit; prints how long it took.
wait_change() {
	local name=$1 want=$2 st t
	shift 2
	while :; do
		st=$(http "$@")
		t=$(($(now_ms) - EDIT_MS))
		[ "$st" = "$want" ] && break
		[ "$t" -ge 1500 ] && break
		sleep 0.05
	done
	diag "$name: $st after $t ms"
	expect_eq "$name: the answer is now $want" "$want" "$st"
	check "$name: within 1.5 s of the edit ($t ms)" test "$t" -le 1500
}

# touch_all: PROCS requests at once, each held 400 ms by the upstream, so
# that every process serves one (and checks its policy files).
touch_all() {
	local i bg=""
	stub_behavior slow
	for i in $(seq "$PROCS"); do
		curl -sS -o /dev/null -D "$T/touch$i.h" --max-time 20 \
			"$GW_URL/open?text=touch,$i" >/dev/null 2>&1 &
		bg="$bg $!"
	done
	# (these only: the servers are children of this shell too)
	wait $bg
	stub_behavior normal
	expect_eq "  every process served one of $PROCS requests at once" "$PROCS" \
		"$(cat "$T"/touch*.h | tr -d '\r' |
			sed -n 's/^X-AIGW-Request-Id: [0-9a-f]*-\([0-9a-f]*\)-.*/\1/Ip' |
			sort -u | wc -l)"
}

# settled NAME WANT CURL-ARGS...: a second after the edit every process
# has it: all of them serve a request, then 2 x PROCS requests answer WANT.
settled() {
	local name=$1 want=$2 left i got=""
	shift 2
	left=$((EDIT_MS + 1100 - $(now_ms)))
	[ "$left" -le 0 ] || sleep "$(awk -v ms="$left" 'BEGIN { printf "%.3f", ms / 1000 }')"
	touch_all
	for i in $(seq $((2 * PROCS))); do
		got="$got $(http "$@")"
	done
	got=$(echo $got)
	expect_eq "$name: every process answers $want a second later" \
		"$(printf "$want %.0s" $(seq $((2 * PROCS))) | sed 's/ $//')" "$got"
}

# log_has TEXT: the FastCGI processes' messages hold TEXT (fixed string).
log_has() {
	local i=0
	while [ "$i" -lt 20 ]; do
		grep -qF -- "$1" "$FCGI_LOG" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

KEY=(-H 'apikey: xxxxxx')

# ---------------------------------------------------------------- running
policy "$POLICY"
start_lighttpd "$POLICY" "$PROCS"
FCGI_LOG=$GW_FCGI_LOG
PIDS=$(fcgi_pids | sort -n | tr '\n' ' ')
diag "lighttpd on $GW_URL, FastCGI pids $PIDS, messages in ${FCGI_LOG#"$T"/}"
expect_status 200 "${KEY[@]}" "$GW_URL/?text=a,secretword"
expect_status 401 -H 'apikey: new-key-4444' "$GW_URL/?text=hello"
# Let a second pass, so that no process has checked the files in the
# second of the first edit before it was made.
sleep 1.1

# --- a new blocked word.
install_policy "password, pw, secretword"
wait_change "block_urls += secretword" 404 "${KEY[@]}" "$GW_URL/?text=a,secretword"
settled "block_urls += secretword" 404 "${KEY[@]}" "$GW_URL/?text=a,secretword"
check "the error log says the policy was reloaded" log_has "policy $POLICY reloaded"

# --- a new consumer, allowed on the route.
sleep 0.2
install_policy "password, pw, secretword" "consumer1, consumer4" \
	"$(printf '\n[consumer consumer4]\ncredential = new-key-4444')"
wait_change "consumer4 added" 200 -H 'apikey: new-key-4444' "$GW_URL/?text=hello"
expect_eq "consumer4 is named" consumer4 "$(header X-AIGW-Consumer)"
settled "consumer4 added" 200 -H 'apikey: new-key-4444' "$GW_URL/?text=hello"

# --- consumer1 removed from the allow list.
sleep 0.2
install_policy "password, pw, secretword" "consumer4" \
	"$(printf '\n[consumer consumer4]\ncredential = new-key-4444')"
wait_change "consumer1 no longer allowed" 403 "${KEY[@]}" "$GW_URL/?text=hello"
expect_gateway_error "403 after the edit is a JSON error"
settled "consumer1 no longer allowed" 403 "${KEY[@]}" "$GW_URL/?text=hello"
expect_status 200 -H 'apikey: new-key-4444' "$GW_URL/?text=hello"

# --- a broken edit: an unknown key.  Nothing changes but the error log.
sleep 0.2
install_policy "password, pw" "consumer1, consumer4" \
	"$(printf '\n[consumer consumer4]\ncredential = new-key-4444\nbogus_key = 1')"
bad_line=$(grep -n '^bogus_key' "$POLICY" | cut -d: -f1)
settled "broken edit: consumer1 still refused" 403 "${KEY[@]}" "$GW_URL/?text=hello"
expect_status 404 -H 'apikey: new-key-4444' "$GW_URL/?text=a,secretword"
check "broken edit: the error log names $POLICY:$bad_line" log_has "$POLICY:$bad_line:"
check "broken edit: the error log says the last valid policy stays" \
	log_has "policy $POLICY refused; the last valid policy stays in force"
grep -F "$POLICY:$bad_line:" "$FCGI_LOG" | head -n 1 | sed 's/^/# /'

# --- the fix: the same edit without the unknown key.
sleep 0.2
install_policy "password, pw" "consumer1, consumer4" \
	"$(printf '\n[consumer consumer4]\ncredential = new-key-4444')"
wait_change "fixed: consumer1 allowed again" 200 "${KEY[@]}" "$GW_URL/?text=hello"
settled "fixed: secretword no longer blocked" 200 "${KEY[@]}" "$GW_URL/?text=a,secretword"

# --- an included directory: a new file adds a consumer.
sleep 0.2
printf '[consumer consumer5]\ncredential = included-key-5555\n' >"$T/conf.d/50-more.ini"
chmod 0644 "$T/conf.d/50-more.ini"
EDIT_MS=$(now_ms)
wait_change "conf.d/50-more.ini added: consumer5 is known (403, not 401)" 403 \
	-H 'apikey: included-key-5555' "$GW_URL/?text=hello"
settled "conf.d/50-more.ini added" 403 -H 'apikey: included-key-5555' "$GW_URL/?text=hello"

# --- an edit in place (same inode), then the file removed and put back.
sleep 0.2
sed 's/^block_urls .*/block_urls     = password, pw, inplace/' "$POLICY" >"$T/edit"
cat "$T/edit" >"$POLICY"
EDIT_MS=$(now_ms)
wait_change "edited in place: inplace blocked" 404 "${KEY[@]}" "$GW_URL/?text=inplace"
sleep 0.2
refused=$(grep -cF "policy $POLICY refused" "$FCGI_LOG")
mv "$POLICY" "$T/aigw.ini.away"
EDIT_MS=$(now_ms)
settled "policy file removed: the last policy stays" 404 "${KEY[@]}" "$GW_URL/?text=inplace"
expect_status 200 "${KEY[@]}" "$GW_URL/?text=hello"
check "policy file removed: the error log says it was refused" \
	test "$(grep -cF "policy $POLICY refused" "$FCGI_LOG")" -gt "$refused"
grep -F "$POLICY" "$FCGI_LOG" | tail -n 2 | sed 's/^/# /'
mv "$T/aigw.ini.away" "$POLICY"
sed -i 's/^block_urls .*/block_urls     = password, pw/' "$POLICY"
EDIT_MS=$(now_ms)
wait_change "policy file back: inplace no longer blocked" 200 "${KEY[@]}" "$GW_URL/?text=inplace"

expect_eq "no FastCGI process died" "$PIDS" "$(fcgi_pids | sort -n | tr '\n' ' ')"
stop_server

# ---------------------------------------------------------------- invalid
# A policy invalid from the start: the processes have none, answer 500
# policy_invalid, stay up, and log no usage; the fix brings them back.
policy "$POLICY" "password, pw" "consumer1" "bogus_key = 1"
bad_line=$(grep -n '^bogus_key' "$POLICY" | cut -d: -f1)
usage_before=$(wc -l <"$USAGE_LOG")
start_lighttpd "$POLICY" "$PROCS"
FCGI_LOG=$GW_FCGI_LOG
PIDS=$(fcgi_pids | sort -n | tr '\n' ' ')
check "invalid from the start: $PROCS processes up" test "$(echo $PIDS | wc -w)" -eq "$PROCS"
for i in 1 2 3 4; do
	expect_status 500 "${KEY[@]}" "$GW_URL/?text=hello"
	expect_gateway_error "invalid from the start: 500 is a JSON error ($i)"
	expect_eq "invalid from the start: code policy_invalid ($i)" policy_invalid \
		"$(json_get 'j["error"]["code"]')"
done
expect_status 500 "$GW_URL/_aigw/health"
check "invalid from the start: the error log names $POLICY:$bad_line" \
	log_has "$POLICY:$bad_line:"
check "invalid from the start: the error log says it answers 500" \
	log_has "answering 500 until it is fixed"
expect_eq "invalid from the start: the processes stay up (no restarts)" "$PIDS" \
	"$(fcgi_pids | sort -n | tr '\n' ' ')"
expect_eq "invalid from the start: no usage log lines" "$usage_before" \
	"$(wc -l <"$USAGE_LOG")"
sleep 1.1
install_policy "password, pw" "consumer1"
wait_change "invalid from the start, then fixed" 200 "${KEY[@]}" "$GW_URL/?text=hello"
settled "invalid from the start, then fixed" 200 "${KEY[@]}" "$GW_URL/?text=hello"
stop_server

# ---------------------------------------------------------------- breakagelog
# As INSTALL recommends: server.breakagelog gets the processes' messages.
AIGW_SERVER_CONF="server.breakagelog = \"$T/lighttpd/breakage.log\"" \
	start_lighttpd "$POLICY" "$PROCS"
FCGI_LOG=$T/lighttpd/breakage.log
expect_status 200 "${KEY[@]}" "$GW_URL/?text=hello"
sleep 1.1
install_policy "password, pw" "consumer1" "bogus_key = 1"
bad_line=$(grep -n '^bogus_key' "$POLICY" | cut -d: -f1)
settled "breakagelog: broken edit, answers unchanged" 200 "${KEY[@]}" "$GW_URL/?text=hello"
check "breakagelog: the message with $POLICY:$bad_line is there" log_has "$POLICY:$bad_line:"
check "breakagelog: and not in lighttpd's standard error" \
	test "$(grep -cF "$POLICY:$bad_line:" "$T/lighttpd.out")" -eq 0
stop_server
finish
