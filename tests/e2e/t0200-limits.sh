#!/bin/bash
# t0200-limits.sh: request and token windows, exact across worker processes.
#
# Under lighttpd (max-procs 4) and Apache (FcgidMaxProcessesPerClass 4):
#   * query_per_hour = 20 for consumer1, 60 requests 12 at a time: exactly
#     20 admitted and 40 refused (429, rate_limit_exceeded, Retry-After,
#     X-RateLimit-*), only the admitted ones reach the upstream, and after
#     `aigwctl reset consumer1` the consumer is admitted again;
#   * token_per_hour = 100, default_max_tokens = 10, an upstream reporting
#     150 tokens an answer: the first request is admitted (nothing used yet),
#     the second is refused (429, insufficient_quota) without an upstream call.
# Under lighttpd only, with AIGW_TEST_LOCK_HOLD_MS (every admission sleeps
# while it holds the state file's lock):
#   * the worker holding the lock is killed (SIGKILL) in the middle of an
#     admission: a request waiting for that lock goes on, the other workers
#     keep answering, and the count stays exact (query_per_hour = 10: 10 of
#     the next requests are admitted, not 9).
#
# SERVERS="lighttpd apache" (the default) picks the servers of the first two
# parts; LOCK_HOLD_MS (default 1000) is the hold of the third.

. "$(dirname "$0")/../setup.sh"

need curl xargs pgrep
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
[ -x "$AIGWCTL" ] || bail "$AIGWCTL is missing: run make first"
scratch_init

LOCK_HOLD_MS=${LOCK_HOLD_MS:-1000}
USAGE_LOG=$T/log/usage.jsonl
KEY=(-H 'apikey: xxxxxx')

# Every answer of the stub reports 150 tokens (prompt 75, completion 75);
# in the "slow" behaviour it answers after 500 ms.
start_stub --usage-tokens 150 --slow-ms 500
seed_policy "$T/seed.ini"

# make_policy OUT STATE SECTION:KEY=VALUE...: the seed policy with its own
# state directory ($T/state/STATE, created by the workers on first use) and
# each KEY = VALUE set in [SECTION] (replacing KEY if the section has it;
# a section the seed lacks is added at the end).
make_policy() {
	local out=$1 state=$2
	shift 2
	"$PYTHON" - "$T/seed.ini" "$out" "$T/state/$state" "$@" <<'EOF' ||
import re, sys
src, out, state = sys.argv[1:4]
sets = {}
for a in sys.argv[4:]:
    section, kv = a.split(":", 1)
    k, v = kv.split("=", 1)
    sets.setdefault(section, {})[k] = v
lines, section, done = [], None, set()
def flush():
    # Keys of the section just ended that it did not have, after its
    # last line.
    blank = []
    while lines and not lines[-1].strip():
        blank.append(lines.pop())
    for k, v in sets.get(section, {}).items():
        if (section, k) not in done:
            lines.append("%s = %s" % (k, v))
            done.add((section, k))
    lines.extend(blank)
for line in open(src, encoding="utf-8").read().splitlines():
    m = re.match(r"\s*\[\s*(.*?)\s*\]\s*$", line)
    if m:
        flush()
        section = m.group(1)
    else:
        k = re.match(r"\s*([A-Za-z_]+)\s*=", line)
        if k and section == "gateway" and k.group(1) == "state_dir":
            line = "state_dir = " + state
        elif k and k.group(1) in sets.get(section, {}):
            line = "%s = %s" % (k.group(1), sets[section][k.group(1)])
            done.add((section, k.group(1)))
    lines.append(line)
flush()
for sec, kv in sets.items():
    if not any(d[0] == sec for d in done):
        lines.extend(["", "[%s]" % sec] + ["%s = %s" % i for i in kv.items()])
open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
EOF
		bail "make_policy $out failed"
	chmod 0644 "$out"
	check "aigwctl check accepts ${out#"$T"/}" "$AIGWCTL" -c "$out" check
}

# The windows are aligned to the clock: a phase that counts must not straddle
# the end of the hour, or its counts would start again from 0 halfway.
# hour_guard SECS: if the hour ends within SECS seconds, wait until it has.
hour_guard() {
	local left=$((3600 - $(date +%s) % 3600))
	if [ "$left" -le "$1" ]; then
		diag "the hour window ends in $left s: waiting for it to roll"
		sleep $((left + 1))
	fi
}

now_ms() {
	date +%s%3N
}

usage_lines() {
	if [ -f "$USAGE_LOG" ]; then
		wc -l <"$USAGE_LOG" | tr -d ' '
	else
		echo 0
	fi
}

# wait_usage N: wait (up to 5 s) until the usage log has N lines.  A worker
# settles a request's tokens once the answer is written, and writes the
# request's usage record after that: with the record there, the tokens are
# settled whatever the web server did with the answer meanwhile.
wait_usage() {
	local i=0
	while [ "$(usage_lines)" -lt "$1" ] && [ "$i" -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

# A header of a response saved with curl -D FILE (the last block).
file_header() {
	cp "$1" "$T/headers"
	header "$2"
}

# Makes a saved response the "last response" of setup.sh's helpers.
use_response() {
	cp "$1.body" "$T/body"
	cp "$1.headers" "$T/headers"
}

is_retry_after() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	esac
	[ "$1" -ge 1 ] && [ "$1" -le 3600 ]
}

# burst DIR N PARALLEL: N requests, PARALLEL at a time; for request i,
# DIR/i.status holds the status ("000": none), DIR/i.headers and DIR/i.body
# the answer.
burst() {
	local dir=$1 n=$2 par=$3
	mkdir -p "$dir"
	seq 1 "$n" | xargs -P "$par" -I{} sh -c '
		curl -sS --max-time 60 -o "$1/$2.body" -D "$1/$2.headers" \
			-w "%{http_code}\n" -H "apikey: xxxxxx" \
			"$3/?text=burst,$2" >"$1/$2.status" 2>"$1/$2.err"
		exit 0' sh "$dir" {} "$GW_URL"
}

# How many of DIR's answers have status S.
count_status() {
	cat "$1"/*.status | grep -c "^$2\$"
}

# ---------------------------------------------------------------- requests

run_query_limit() {
	local s=$1 pol=$T/q20-$1.ini dir=$T/burst-$1 before admitted refused
	local other f ok200 ok429 t0 t1 procs
	make_policy "$pol" "q20-$s" "consumer consumer1:query_per_hour=20" \
		"consumer consumer3:credential=zzzzzz" \
		"route chat:allow=consumer1, consumer3"
	start_server "$s" "$pol" 4
	diag "$s on $GW_URL: query_per_hour = 20, 60 requests, 12 at a time"

	# Each upstream answer takes 500 ms while the workers are started and
	# during the burst, so that every worker process is busy at some point
	# (mod_fcgid starts processes only when none is idle): consumer3, who
	# has no limits, brings them all up first.
	stub_behavior slow
	mkdir -p "$dir.warm"
	seq 1 8 | xargs -P 8 -I{} sh -c '
		curl -sS --max-time 60 -o /dev/null -w "%{http_code}\n" \
			-H "apikey: zzzzzz" "$2/?text=warm,$1" >"$3/$1.status"
		exit 0' sh {} "$GW_URL" "$dir.warm"
	expect_eq "$s: the warm-up requests (no limits) are admitted" 8 \
		"$(count_status "$dir.warm" 200)"

	hour_guard 30
	before=$(stub_count)
	t0=$(now_ms)
	burst "$dir" 60 12
	t1=$(now_ms)
	stub_behavior normal
	diag "$s: the 60 requests took $((t1 - t0)) ms"
	admitted=$(count_status "$dir" 200)
	refused=$(count_status "$dir" 429)
	echo "admitted=$admitted refused=$refused"
	expect_eq "$s: 60 requests against query_per_hour = 20" \
		"admitted=20 refused=40" "admitted=$admitted refused=$refused"
	other=$(cat "$dir"/*.status | grep -v '^200$' | grep -v '^429$' |
		sort | uniq -c | tr -s ' \n' '  ')
	expect_eq "$s: no answer other than 200 or 429" "" "$other"
	expect_eq "$s: the upstream saw the 20 admitted requests only" \
		"$((before + 20))" "$(stub_count)"
	# X-AIGW-Request-Id is START-PID-N (hex): the workers that answered.
	procs=$(for f in "$dir"/*.headers; do
		file_header "$f" X-AIGW-Request-Id | cut -d- -f2
	done | sort -u | wc -l)
	diag "$s: $procs worker processes answered"
	check "$s: more than one worker process answered ($procs)" \
		test "$procs" -gt 1

	# Each admission took the next place in the window: the admitted
	# answers say 19, 18, ..., 0 remaining, each once.
	expect_eq "$s: X-RateLimit-Remaining of the admitted answers" \
		"$(seq 0 19 | tr '\n' ' ')" \
		"$(for f in $(grep -l '^200$' "$dir"/*.status); do
			file_header "${f%.status}.headers" X-RateLimit-Remaining
		done | sort -n | tr '\n' ' ')"

	# One refused answer, one admitted answer.
	ok429=$(grep -l '^429$' "$dir"/*.status | head -n 1)
	ok200=$(grep -l '^200$' "$dir"/*.status | head -n 1)
	if [ -n "$ok429" ]; then
		use_response "${ok429%.status}"
		check "$s: 429 Retry-After is 1..3600 s ($(header Retry-After))" \
			is_retry_after "$(header Retry-After)"
		expect_eq "$s: 429 X-RateLimit-Limit" 20 "$(header X-RateLimit-Limit)"
		expect_eq "$s: 429 X-RateLimit-Remaining" 0 \
			"$(header X-RateLimit-Remaining)"
		check "$s: 429 X-RateLimit-Reset is 1..3600 s ($(header X-RateLimit-Reset))" \
			is_retry_after "$(header X-RateLimit-Reset)"
		expect_gateway_error "$s: 429 is a JSON error"
		expect_eq "$s: 429 error type" rate_limit_exceeded \
			"$(json_get 'j["error"]["type"]')"
	else
		_not_ok "$s: no 429 to inspect"
	fi
	if [ -n "$ok200" ]; then
		use_response "${ok200%.status}"
		expect_contains "$s: 200 is the stub's answer" "$(body)" "echo: burst,"
		expect_eq "$s: 200 X-RateLimit-Limit" 20 "$(header X-RateLimit-Limit)"
		check "$s: 200 has X-RateLimit-Remaining and X-RateLimit-Reset" \
			test -n "$(header X-RateLimit-Remaining)" -a \
			-n "$(header X-RateLimit-Reset)"
		expect_eq "$s: 200 has no Retry-After" "" "$(header Retry-After)"
	else
		_not_ok "$s: no 200 to inspect"
	fi

	# The window is full until the operator clears it.
	before=$(stub_count)
	expect_status 429 "${KEY[@]}" "$GW_URL/?text=still,full"
	check "$s: aigwctl reset consumer1" "$AIGWCTL" -c "$pol" reset consumer1
	expect_status 200 "${KEY[@]}" "$GW_URL/?text=after,reset"
	expect_eq "$s: X-RateLimit-Remaining after the reset" 19 \
		"$(header X-RateLimit-Remaining)"
	expect_eq "$s: the upstream saw the request after the reset only" \
		"$((before + 1))" "$(stub_count)"
}

run_token_limit() {
	local s=$1 pol=$T/tok-$1.ini before lines
	make_policy "$pol" "tok-$s" "gateway:default_max_tokens=10" \
		"consumer consumer1:token_per_hour=100"
	start_server "$s" "$pol" 4
	diag "$s on $GW_URL: token_per_hour = 100, default_max_tokens = 10," \
		"150 tokens an answer"

	hour_guard 20
	before=$(stub_count)
	lines=$(usage_lines)
	# Nothing used yet: admitted, reserving ceil(6 / 4) + 10 = 12 tokens.
	expect_status 200 "${KEY[@]}" "$GW_URL/?text=tokens"
	expect_eq "$s: first answer X-RateLimit-Limit" 100 \
		"$(header X-RateLimit-Limit)"
	expect_eq "$s: first answer X-RateLimit-Remaining (100 - 12 reserved)" 88 \
		"$(header X-RateLimit-Remaining)"
	wait_usage $((lines + 1))
	# Settled at 150 used: the window is over its limit.
	expect_status 429 "${KEY[@]}" "$GW_URL/?text=tokens"
	expect_gateway_error "$s: token 429 is a JSON error"
	expect_eq "$s: token 429 error type" insufficient_quota \
		"$(json_get 'j["error"]["type"]')"
	check "$s: token 429 Retry-After is 1..3600 s ($(header Retry-After))" \
		is_retry_after "$(header Retry-After)"
	expect_eq "$s: token 429 X-RateLimit-Limit" 100 "$(header X-RateLimit-Limit)"
	expect_eq "$s: token 429 X-RateLimit-Remaining" 0 \
		"$(header X-RateLimit-Remaining)"
	expect_eq "$s: the upstream was called once" \
		"$((before + 1))" "$(stub_count)"
}

# ---------------------------------------------------------------- the kill

# The pid of the aigw.fcgi worker (a child of lighttpd pid $1) holding the
# lock on state file $2, if any.
#
# The lock is an open-file-description lock: /proc/locks shows it with pid
# -1, so it cannot name the holder.  /proc/PID/fdinfo/FD can: for a
# descriptor whose open file description holds locks, it has a "lock:" line
# (processes merely waiting for the lock have none).  So the holder is the
# worker with a descriptor open on the state file whose fdinfo shows a lock.
# Outside the test hold, the lock is held for microseconds at a time, so a
# worker seen holding it is in the hold (its wchan, shown for information,
# is then a nanosleep).
lock_holder() {
	local lpid=$1 file=$2 p fd
	for p in $(pgrep -P "$lpid" -x aigw.fcgi); do
		for fd in /proc/"$p"/fd/*; do
			[ "$fd" -ef "$file" ] || continue
			if grep -q '^lock:' "/proc/$p/fdinfo/${fd##*/}" 2>/dev/null; then
				echo "$p"
				return 0
			fi
		done
	done
	return 1
}

# True when some process waits for an OFD lock on inode $1 (/proc/locks
# lists waiters as "N: -> OFDLCK ...").
lock_waiter() {
	grep -q -- "-> OFDLCK .*:$1 " /proc/locks
}

# bg_request NAME TEXT: a request in the background; $T/NAME.status gets
# "STATUS MILLISECONDS-TAKEN START-MS".  Sets BGREQ_PID.
bg_request() {
	(
		t0=$(now_ms)
		st=$(curl -sS --max-time 30 -o "$T/$1.body" -D "$T/$1.headers" \
			-w '%{http_code}' "${KEY[@]}" "$GW_URL/?text=$2" \
			2>"$T/$1.err")
		echo "${st:-000} $(($(now_ms) - t0)) $t0" >"$T/$1.status"
	) &
	BGREQ_PID=$!
}

run_kill() {
	local pol=$T/q10.ini state=$T/state/q10 file lpid victim ino i t0 t1 st
	local killed_pid waiter_pid before max_ms admitted other n t_sent
	local find_by kill_by waited w_ok holder
	make_policy "$pol" q10 "consumer consumer1:query_per_hour=10"
	AIGW_EXTRA_ENV="${AIGW_EXTRA_ENV:+$AIGW_EXTRA_ENV }AIGW_TEST_LOCK_HOLD_MS=$LOCK_HOLD_MS" \
		start_lighttpd "$pol" 4
	diag "lighttpd on $GW_URL: query_per_hour = 10, each admission holds" \
		"the lock $LOCK_HOLD_MS ms"
	# GW_PID is the reaper; lighttpd is its child.
	lpid=$(pgrep -P "$GW_PID" -x lighttpd)
	[ -n "$lpid" ] || bail "no lighttpd under the reaper (pid $GW_PID)"
	file=$state/c@consumer1
	# Deadlines, in ms after the first request is sent: find the worker
	# holding the lock by find_by, kill it by kill_by, well inside the
	# hold even on a loaded machine.
	find_by=$((LOCK_HOLD_MS * 4 / 10))
	kill_by=$((LOCK_HOLD_MS * 6 / 10))

	# About LOCK_HOLD_MS for each of 32 requests, plus margins.
	hour_guard $((LOCK_HOLD_MS * 33 / 1000 + 15))
	before=$(stub_count)

	# A request that will hold the lock, and the worker that holds it.
	t_sent=$(now_ms)
	bg_request killed held
	killed_pid=$BGREQ_PID
	victim=
	while [ -z "$victim" ] && [ $(($(now_ms) - t_sent)) -lt "$find_by" ]; do
		sleep 0.02
		victim=$(lock_holder "$lpid" "$file")
	done
	if [ -z "$victim" ]; then
		_not_ok "a worker holds the lock within $find_by ms"
		wait "$killed_pid"
		stop_server
		return 1
	fi
	_ok "worker $victim holds the lock $(($(now_ms) - t_sent)) ms after the request (wchan $(cat "/proc/$victim/wchan" 2>/dev/null))"

	# A second request, which should wait for that lock: the kernel must
	# hand it the lock when the holder dies.
	ino=$(stat -c %i "$file")
	bg_request waiter waiting
	waiter_pid=$BGREQ_PID
	waited=0
	while [ $(($(now_ms) - t_sent)) -lt "$kill_by" ]; do
		if lock_waiter "$ino"; then
			waited=1
			break
		fi
		sleep 0.02
	done
	holder=$(lock_holder "$lpid" "$file")
	[ "$waited" = 1 ] &&
		_ok "a second request waits for the lock (seen at +$(($(now_ms) - t_sent)) ms)"

	# limit_take reads the counters under the lock, then holds, then
	# counts and writes: killed in the hold, the admission is never
	# written, and the kernel drops the lock with the process.
	kill -KILL "$victim"
	t1=$(($(now_ms) - t_sent))
	expect_eq "worker $victim held the lock until the kill" "$victim" "$holder"
	check "the kill came inside the hold ($t1 ms after the request)" \
		test "$t1" -lt $((LOCK_HOLD_MS - 100))
	wait "$killed_pid"
	wait "$waiter_pid"
	read -r st t1 t0 <"$T/killed.status"
	check "the killed worker's request got no 200 (got $st after $t1 ms)" \
		test "$st" != 200
	read -r st t1 t0 <"$T/waiter.status"
	w_ok=0
	[ "$st" = 200 ] && w_ok=1
	if [ "$waited" = 1 ]; then
		expect_eq "the request waiting for the lock is admitted ($t1 ms)" \
			200 "$st"
		check "the waiting request took under $((LOCK_HOLD_MS + 3000)) ms ($t1 ms)" \
			test "$t1" -lt $((LOCK_HOLD_MS + 3000))
	else
		# Not seen in time (a slow machine): it counts all the same,
		# if admitted.
		diag "the second request was not seen waiting for the lock by" \
			"+$kill_by ms; it got $st after $t1 ms"
	fi
	expect_eq "the upstream saw the admitted second request only" \
		"$((before + w_ok))" "$(stub_count)"

	# 30 more, one after the other: the window has 10 places, the second
	# request took one, the killed one none.
	: >"$T/after-kill"
	max_ms=0
	for i in $(seq 1 30); do
		t0=$(now_ms)
		http "${KEY[@]}" "$GW_URL/?text=after,kill,$i" >>"$T/after-kill"
		echo >>"$T/after-kill"
		t1=$(($(now_ms) - t0))
		[ "$t1" -gt "$max_ms" ] && max_ms=$t1
	done
	admitted=$(grep -c '^200$' "$T/after-kill")
	n=$(grep -c '^429$' "$T/after-kill")
	other=$(grep -v '^200$' "$T/after-kill" | grep -v '^429$' |
		sort | uniq -c | tr -s ' \n' '  ')
	diag "30 requests after the kill: admitted=$admitted refused=$n"
	expect_eq "after the kill: only 200 and 429" "" "$other"
	echo "admitted=$((admitted + w_ok)) refused=$n"
	expect_eq "after the kill: exactly 10 admitted (second request $w_ok, then $admitted of 30), the killed request never counted" \
		10 "$((admitted + w_ok))"
	expect_eq "after the kill: the admitted ones came first" \
		"$(printf '200 %.0s' $(seq $((10 - w_ok))))$(printf '429 %.0s' $(seq $((20 + w_ok))))" \
		"$(tr '\n' ' ' <"$T/after-kill")"
	check "after the kill: every answer within 5 s (slowest $max_ms ms)" \
		test "$max_ms" -lt 5000
	expect_eq "after the kill: the upstream saw the 10 admitted requests" \
		"$((before + 10))" "$(stub_count)"
	check "lighttpd still has 4 workers" \
		test "$(pgrep -P "$lpid" -x aigw.fcgi | wc -l)" -eq 4
	stop_server
}

ran=0
for server in ${SERVERS:-lighttpd apache}; do
	case $server in
	lighttpd) tool=lighttpd ;;
	apache) tool=apache2 ;;
	*) bail "unknown server $server" ;;
	esac
	if ! command -v "$tool" >/dev/null 2>&1; then
		diag "skip $server: $tool not installed"
		continue
	fi
	run_query_limit "$server"
	run_token_limit "$server"
	stop_server
	ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || skip "neither lighttpd nor apache2 is installed"
if command -v lighttpd >/dev/null 2>&1; then
	run_kill
else
	diag "skip the kill: lighttpd not installed"
fi
finish
