#!/bin/bash
# tests/bench/profile.sh: what one request costs aigw.fcgi, in instructions.
#
# Runs build/aigw.fcgi under valgrind --tool=callgrind behind lighttpd (one
# FastCGI process), with the bench policy of tests/bench/common.sh, in
# front of the bench's nginx upstream.  After a warm-up of each kind, the
# counters are zeroed (callgrind_control --zero), N requests of one kind are
# sent on one kept-alive connection, and the counters are dumped
# (callgrind_control --dump); then the same for the next kind.  For each kind it
# prints the instructions per request (everything the process executed
# between the two points: accept, the request, the upstream call, the usage
# log, libfcgi, libcurl, libc) and the top functions by their own
# instructions and by inclusive instructions (callgrind_annotate).
# Instruction counts do not depend on the machine's load, so two runs can
# be compared where timings cannot.  (Under callgrind a request takes some
# milliseconds, so what the gateway does at most once a second, such as
# looking for policy changes, weighs a little more here than at full speed.)
#
# usage: tests/bench/profile.sh [-b] [N]      (default N = 200)
#   -b  profile build/bare-relay (tests/bench/bare_relay.c) instead: the
#       instructions of the architecture's floor, for comparison
#
# Kinds (as in tests/bench/run.sh):
#   chat    POST /v1/chat/completions with "Authorization: Bearer KEY"
#   prompt  GET /?text=Say,hello with "apikey: xxxxxx"
#
# Settings (environment): PROFILE_KINDS (default "chat prompt"),
# PROFILE_TOP (default 15), PROFILE_WARMUP (requests, default 20).
# The callgrind files are kept in $T/callgrind when KEEP_SCRATCH=1.

. "$(dirname "$0")/../setup.sh"
. "$(dirname "$0")/common.sh"

PROGRAM=$AIGW_FCGI
EXTRA_ENV=
if [ "${1:-}" = -b ]; then
	PROGRAM=${BARE_RELAY:-$AIGW_BUILD/bare-relay}
	shift
fi
N=${1:-200}
KINDS=${PROFILE_KINDS:-chat prompt}
TOP=${PROFILE_TOP:-15}
WARM=${PROFILE_WARMUP:-20}

need valgrind vgdb callgrind_control callgrind_annotate lighttpd nginx curl
[ -x "$PROGRAM" ] || bail "$PROGRAM is missing: run make first"
case $N in
'' | *[!0-9]* | 0) bail "N must be a positive number" ;;
esac

scratch_init
start_upstream
[ "$PROGRAM" = "$AIGW_FCGI" ] ||
	EXTRA_ENV="BARE_RELAY_URL=http://127.0.0.1:$UP_PORT/v1/chat/completions BARE_RELAY_KEY=$UPSTREAM_KEY"
CG=$T/callgrind
mkdir -p "$CG"
_www_data "$CG"

# lighttpd runs its FastCGI program with the socket on standard input; the
# wrapper keeps that and records its pid, which valgrind keeps.
wrapper=$T/aigw-callgrind
cat >"$wrapper" <<EOF
#!/bin/sh
echo \$\$ >"$CG/pid"
exec valgrind --tool=callgrind --callgrind-out-file="$CG/callgrind.out" \\
	--vgdb-prefix="$CG/vgdb" --log-file="$CG/valgrind.log" "$PROGRAM"
EOF
chmod 0755 "$wrapper"

write_policy "$T/aigw.ini" "$T/profile"
"$AIGWCTL" -c "$T/aigw.ini" check >"$T/check.out" 2>&1 || {
	sed 's/^/#   /' "$T/check.out"
	bail "aigwctl check refuses the bench policy"
}
AIGW_FCGI=$wrapper AIGW_EXTRA_ENV=$EXTRA_ENV GW_INSTANCE=profile start_lighttpd "$T/aigw.ini" 1

# send KIND COUNT: COUNT requests of KIND on one kept-alive connection;
# prints their statuses, one per line.
send() {
	local kind=$1 count=$2 args=() h i
	kind_env "$kind" ""
	IFS='|' read -ra hs <<<"$K_HEADERS"
	for h in "${hs[@]}"; do
		args+=(-H "$h")
	done
	[ -n "$K_BODY" ] && args+=(-H 'Content-Type: application/json' --data-binary "$K_BODY")
	for i in $(seq "$count"); do
		args+=(-o /dev/null "$GW_URL$K_PATH")
	done
	curl -sS --max-time 600 -w '%{http_code}\n' -X "$K_METHOD" "${args[@]}"
}

# callgrind_control ARGS: on our process, through the FIFOs in $CG.  It runs
# as the process's user: vgdb wakes a process blocked in accept() with
# ptrace, which here only works within one user, and it names its FIFOs
# after $USER (unset on the valgrind side, under lighttpd).
ctl() {
	local as=()
	[ "$(id -u)" = 0 ] && as=(runuser -u www-data --)
	timeout 60 "${as[@]}" env -u USER -u LOGNAME \
		callgrind_control --vgdb-prefix="$CG/vgdb" "$@" "$VG" >"$T/ctl.out" 2>&1 ||
		{ sed 's/^/#   /' "$T/ctl.out"; return 1; }
}

# lighttpd starts the process at once; valgrind needs a moment.
i=0
while [ ! -s "$CG/pid" ] && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -s "$CG/pid" ] || bail "the callgrind process did not start"
VG=$(cat "$CG/pid")

echo "aigw profile: $PROGRAM under callgrind, lighttpd with 1 process, $N requests per kind"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -sr), $(valgrind --version)"

for kind in $KINDS; do
	bad=$(send "$kind" "$WARM" | grep -vc '^200$')
	[ "$bad" = 0 ] || bail "$kind: $bad of $WARM warm-up requests did not answer 200"
done

# top_functions N TOP MODE: the function lines of callgrind_annotate's
# output (standard input) as instructions per request, TOP of them.  Lines
# of one function (callgrind names a function once per source file its
# inlined code comes from) are merged: their own costs added (MODE self),
# their inclusive costs taken once (MODE incl).  The frames below main,
# which a dump after a zero shows at 100%, are left out.
top_functions() {
	"$PYTHON" -c '
import re, sys
n, top, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
line_re = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S.*)$")
total, cost, order = None, {}, []
for line in sys.stdin:
    m = line_re.match(line)
    if not m:
        continue
    ir, rest = int(m.group(1).replace(",", "")), m.group(3)
    if rest == "PROGRAM TOTALS":
        total = ir
        continue
    m2 = re.match(r"^(.*?):([^:\[]+?)(?: \[(.*)\])?$", rest)
    if not m2:
        continue
    fn, obj = m2.group(2).strip(), (m2.group(3) or "").rsplit("/", 1)[-1]
    if fn in ("(below main)", "main", "__libc_start_main@@GLIBC_2.34",
              "__libc_start_call_main") or fn.startswith("0x") and "ld-linux" in obj:
        continue
    src = m2.group(1).rsplit("/", 1)[-1]
    key = fn if not fn.startswith("0x") else fn + " " + obj
    if key not in cost:
        cost[key] = [0, src, obj, -1]
        order.append(key)
    c = cost[key]
    c[0] = c[0] + ir if mode == "self" else max(c[0], ir)
    if obj:
        c[2] = obj
    if src != "???" and ir > c[3]:
        c[1], c[3] = src, ir
rows = sorted(order, key=lambda k: -cost[k][0])[:top]
for k in rows:
    ir, src, obj, _ = cost[k]
    where = ("%s, %s" % (src, obj) if src != "???" else obj) if obj else src
    print("%10.0f %6.2f%%  %s  (%s)" % (ir / n, 100.0 * ir / total if total else 0, k, where))
' "$@"
}

n_dump=0
for kind in $KINDS; do
	ctl --zero || bail "callgrind_control --zero $VG failed"
	bad=$(send "$kind" "$N" | grep -vc '^200$')
	[ "$bad" = 0 ] || bail "$kind: $bad of $N requests did not answer 200"
	ctl --dump="$kind" || bail "callgrind_control --dump $VG failed"
	n_dump=$((n_dump + 1))
	f=$CG/callgrind.out.$n_dump
	i=0
	while [ ! -s "$f" ] && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$f" ] || bail "no callgrind dump $f"
	total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f" | head -1)
	[ -n "$total" ] || total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f" | head -1)
	kind_env "$kind" ""
	echo
	echo "== $kind: $K_METHOD $K_PATH"
	printf 'instructions per request: %s (%s in %s requests)\n' \
		"$(awk -v t="$total" -v n="$N" 'BEGIN { printf "%.0f", t / n }')" "$total" "$N"
	echo "-- top $TOP functions by their own instructions (per request, share of the total)"
	callgrind_annotate --auto=no --inclusive=no --threshold=100 "$f" 2>/dev/null | top_functions "$N" "$TOP" self
	echo "-- top $TOP functions by inclusive instructions (per request, share of the total)"
	callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$f" 2>/dev/null | top_functions "$N" "$TOP" incl
done

stop_server
if [ "${KEEP_SCRATCH:-0}" = 1 ]; then
	echo
	echo "callgrind files: $CG (callgrind_annotate FILE, or kcachegrind)"
fi
