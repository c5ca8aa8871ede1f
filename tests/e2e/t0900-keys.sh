#!/bin/bash
# t0900-keys.sh: the key lifecycle of aigwctl under a running lighttpd.
#
#   - key add prints a new key alone on its last line and writes only its
#     hash, 0640, in keys_dir; the gateway accepts the key within a second;
#   - key rotate --grace 2s: the old and the new key work during the grace,
#     only the new one after it;
#   - key revoke: 401 within about a second;
#   - a key file written by hand with an expires day in the past: 401 with
#     code key_expired;
#   - key list and check (a key expiring within 7 days is a warning);
#   - the audit log has one line per change and never a key or a hash;
#   - hostile: names with path characters, --expires in the past or not a
#     day, a keys_dir that cannot be written, unknown names, options the
#     tool sets itself, and eight key add of one name at once (one wins).

. "$(dirname "$0")/../setup.sh"

need curl setpriv
[ -x "$AIGW_FCGI" ] || bail "$AIGW_FCGI is missing: run make first"
scratch_init

POLICY=$T/aigw.ini
KEYS=$T/keys.d
start_stub
seed_policy "$T/seed.ini"
# every route needs a key; the keys route lets any consumer in
sed -e 's/^global_auth .*/global_auth = true/' \
	-e "s|^max_body .*|&\\nkeys_dir  = keys.d|" "$T/seed.ini" >"$POLICY"
cat >>"$POLICY" <<'EOF'

[route keys]
path         = /k
prompt_param = text
EOF
chmod 0644 "$POLICY"
# As INSTALL says: keys_dir group-owned by the gateway's group, setgid, so
# that the key files (0640) are readable by the gateway and nobody else.
mkdir "$KEYS"
chgrp www-data "$KEYS" 2>/dev/null || true
chmod 2750 "$KEYS"

ctl() {
	"$AIGWCTL" -c "$POLICY" "$@"
}

now_ms() {
	date +%s%3N
}

# wait_status NAME WANT KEY: repeats GET /k with the key until it answers
# WANT, 1.5 s at most; prints how long it took.
wait_status() {
	local name=$1 want=$2 key=$3 st t start
	start=$(now_ms)
	while :; do
		st=$(http -H "Authorization: Bearer $key" "$GW_URL/k?text=hi")
		t=$(($(now_ms) - start))
		[ "$st" = "$want" ] && break
		[ "$t" -ge 1500 ] && break
		sleep 0.05
	done
	diag "$name: $st after $t ms"
	expect_eq "$name: $want" "$want" "$st"
	check "$name: within about a second ($t ms)" test "$t" -le 1500
}

expect_use() {
	expect_status "$2" -H "Authorization: Bearer $3" "$GW_URL/k?text=hi"
	[ "$(body | json_get 'j.get("error",{}).get("code","")' 2>/dev/null)" = "${4:-}" ] ||
		[ -z "${4:-}" ] || diag "$1: body $(body)"
}

start_lighttpd "$POLICY" 2
diag "lighttpd on $GW_URL"

# ---------------------------------------------------------------- add
ctl key add alice --owner "Alice Example" --query-per-minute 100 --models gpt-4o-mini \
	>"$T/add.out" 2>"$T/add.err"
expect_eq "key add: exit 0" 0 $?
K1=$(tail -n 1 "$T/add.out")
check "key add: the last line is the key alone" grep -qxE 'sk-aigw-[0-9a-f]{64}' <<<"$K1"
check "key add: the key is on no other line" test "$(grep -c "$K1" "$T/add.out")" = 1
expect_eq "key add: the file is 0640" 640 "$(stat -c %a "$KEYS/alice.ini")"
check "key add: the file holds no key" sh -c "! grep -q 'sk-aigw' '$KEYS/alice.ini'"
check "key add: the file holds its hash" grep -q "^credential_sha256 = $(printf %s "$K1" | sha256sum | cut -c1-64)\$" "$KEYS/alice.ini"
check "key add: owner, created, options" grep -q '^owner = Alice Example$' "$KEYS/alice.ini"
check "key add: created" grep -qE '^created = [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "$KEYS/alice.ini"
check "key add: query_per_minute" grep -q '^query_per_minute = 100$' "$KEYS/alice.ini"
check "check: the policy with the new file is valid" ctl check
wait_status "the new key is accepted" 200 "$K1"
expect_eq "the answer names the consumer" alice "$(header X-AIGW-Consumer)"
# a wrong key: the last digit changed (never to itself)
if [ "${K1: -1}" = 0 ]; then wrong=${K1%?}1; else wrong=${K1%?}0; fi
expect_use "a wrong key" 401 "$wrong" invalid_api_key

ctl key add alice >"$T/dup.out" 2>"$T/dup.err"
expect_eq "key add of an existing name: exit 1" 1 $?
check "  with a message" grep -q "exists" "$T/dup.err"
ctl key add consumer1 >/dev/null 2>&1
expect_eq "key add of a consumer of the main policy: exit 1" 1 $?

# ---------------------------------------------------------------- list
ctl key list >"$T/list.out" 2>&1
expect_eq "key list: exit 0" 0 $?
check "key list: alice, her owner" grep -q '^alice  *Alice Example' "$T/list.out"
check "key list: no key, no hash" sh -c "! grep -qE 'sk-aigw|[0-9a-f]{64}' '$T/list.out'"
check "key list: last used today" grep -q "$(date -u +%F) " "$T/list.out"

# ---------------------------------------------------------------- rotate
ctl key rotate alice --grace 2s >"$T/rot.out" 2>"$T/rot.err"
expect_eq "key rotate: exit 0" 0 $?
ROT_MS=$(now_ms)
K2=$(tail -n 1 "$T/rot.out")
check "key rotate: a new key on the last line" grep -qxE 'sk-aigw-[0-9a-f]{64}' <<<"$K2"
check "key rotate: not the old one" test "$K1" != "$K2"
wait_status "rotate: the new key is accepted" 200 "$K2"
expect_use "rotate: the old key works in the grace" 200 "$K1"
left=$((ROT_MS + 3200 - $(now_ms)))
[ "$left" -le 0 ] || sleep "$(awk -v ms="$left" 'BEGIN { printf "%.3f", ms / 1000 }')"
expect_use "rotate: after the grace the old key is refused" 401 "$K1" invalid_api_key
expect_use "rotate: after the grace the new key works" 200 "$K2"
ctl key rotate nobody >/dev/null 2>"$T/rot2.err"
expect_eq "key rotate of an unknown name: exit 1" 1 $?
ctl key rotate alice --grace 5 >/dev/null 2>&1
expect_eq "key rotate --grace without a unit: exit 1" 1 $?
ctl key rotate alice --grace 9999d >/dev/null 2>&1
expect_eq "key rotate --grace over a year: exit 1" 1 $?

# ---------------------------------------------------------------- revoke
ctl key revoke alice >"$T/rev.out" 2>&1
expect_eq "key revoke: exit 0" 0 $?
check "key revoke: the file is gone" test ! -e "$KEYS/alice.ini"
wait_status "revoke: the key is refused" 401 "$K2"
ctl key revoke alice >/dev/null 2>&1
expect_eq "key revoke of an unknown name: exit 1" 1 $?

# ---------------------------------------------------------------- expire
cat >"$KEYS/old.ini" <<'EOF'
[consumer old]
credential = sk-hand-written-old-key
expires    = 2020-01-01
EOF
chgrp www-data "$KEYS/old.ini" 2>/dev/null || true
chmod 0640 "$KEYS/old.ini"
start=$(now_ms)
while :; do
	st=$(http -H "Authorization: Bearer sk-hand-written-old-key" "$GW_URL/k?text=hi")
	code=$(json_get 'j["error"]["code"]' 2>/dev/null)
	[ "$code" = key_expired ] || [ $(($(now_ms) - start)) -ge 1500 ] && break
	sleep 0.05
done
diag "expired: $st $code after $(($(now_ms) - start)) ms"
expect_eq "expired: 401" 401 "$st"
expect_eq "expired: code key_expired" key_expired "$code"
check "expired: the message says so" grep -q "expired" "$T/body"
expect_eq "expired: WWW-Authenticate" 'Bearer realm="aigw"' "$(header WWW-Authenticate)"

soon=$(date -u -d '+3 days' +%F)
ctl key add soon --expires "$soon" >/dev/null 2>&1
expect_eq "key add --expires in 3 days: exit 0" 0 $?
ctl check >"$T/ctl-check.out" 2>&1
expect_eq "check: a key that expires soon is only a warning" 0 $?
check "check: warns about soon" grep -q "consumer soon: the key expires on $soon" "$T/ctl-check.out"
check "check: warns about old" grep -q "consumer old: the key expired on 2020-01-01" "$T/ctl-check.out"

# ---------------------------------------------------------------- audit log
AUDIT=$KEYS/audit.jsonl
expect_eq "audit: one line per change (add, rotate, revoke, add)" "add rotate revoke add" \
	"$(json_get '" ".join(x["action"] for x in j)' <(python3 -c '
import json, sys
print(json.dumps([json.loads(l) for l in open(sys.argv[1])]))' "$AUDIT"))"
check "audit: each line has ts, who, action, consumer, details" python3 -c '
import json, re, sys
for l in open(sys.argv[1]):
    x = json.loads(l)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", x["ts"]), x
    assert x["who"] and x["consumer"] in ("alice", "soon") and "details" in x, x
' "$AUDIT"
check "audit: who is the user running it" grep -q "\"who\":\"$(id -un)\"" "$AUDIT"
check "audit: no key, no hash" sh -c "! grep -qE 'sk-aigw|[0-9a-f]{64}' '$AUDIT'"
SUDO_USER=operator1 ctl key revoke soon >/dev/null 2>&1
check "audit: SUDO_USER is who" grep -q '"who":"operator1"' "$AUDIT"

# ---------------------------------------------------------------- hostile
for name in ../evil a/b /abs .hidden 'sp ace' 'x;y' '' "$(printf 'nl\nx')" \
	"$(head -c 80 /dev/zero | tr '\0' a)"; do
	ctl key add "$name" >/dev/null 2>"$T/bad.err"
	rc=$?
	expect_eq "key add '$(printf %q "$name")': exit 1" 1 "$rc"
done
check "hostile names: nothing written outside keys_dir" test ! -e "$T/evil.ini" -a ! -e /abs.ini
expect_eq "hostile names: keys_dir holds only old.ini" "old.ini" "$(cd "$KEYS" && ls *.ini | tr '\n' ' ' | sed 's/ $//')"
for day in 2020-01-01 "$(date -u +%F)" "$(date -u -d yesterday +%F)" 2027-02-30 tomorrow 20270101; do
	ctl key add past --expires "$day" >/dev/null 2>"$T/past.err"
	expect_eq "key add --expires $day: exit 1" 1 $?
done
check "  the message says the past" grep -q "past\|YYYY-MM-DD" "$T/past.err"
for opt in --credential --credential-sha256 --created --previous-credential-sha256 --no-such-key; do
	ctl key add optx "$opt" x >/dev/null 2>&1
	expect_eq "key add $opt: exit 1" 1 $?
done
ctl key add optx --owner "$(printf 'a\nb')" >/dev/null 2>&1
expect_eq "key add --owner with a line break: exit 1" 1 $?
ctl key add optx --owner "a ; b" >/dev/null 2>&1
expect_eq "key add --owner with ';': exit 1" 1 $?
ctl key add optx --query-per-minute lots >/dev/null 2>&1
expect_eq "key add --query-per-minute lots: exit 1" 1 $?
check "refused options wrote nothing" test ! -e "$KEYS/optx.ini"
ctl key frob >/dev/null 2>&1
expect_eq "key frob: exit 2" 2 $?

# keys_dir not set, and not writable
"$AIGWCTL" -c "$T/seed.ini" key add nodir >/dev/null 2>"$T/nodir.err"
expect_eq "no keys_dir: exit 1" 1 $?
check "  with a message" grep -q "keys_dir" "$T/nodir.err"
mkdir -m 0755 "$T/ro.d"
sed "s|^keys_dir .*|keys_dir = ro.d|" "$POLICY" >"$T/ro.ini"
chmod 0644 "$T/ro.ini"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$AIGWCTL" -c "$T/ro.ini" key add ro \
	>/dev/null 2>"$T/ro.err"
expect_eq "keys_dir not writable: exit 1" 1 $?
check "  with a message" grep -q "not writable" "$T/ro.err"
check "  nothing written" test -z "$(ls -A "$T/ro.d")"

# eight key add of one name at once: exactly one wins
racers=""
for i in 1 2 3 4 5 6 7 8; do
	(ctl key add race --owner "racer $i" >"$T/race$i.out" 2>&1; echo $? >"$T/race$i.rc") &
	racers="$racers $!"
done
# (these only: the servers are children of this shell too)
wait $racers
expect_eq "concurrent key add: exactly one exit 0" 1 "$(grep -lx 0 "$T"/race*.rc | wc -l)"
expect_eq "concurrent key add: the others exit 1" 7 "$(grep -lx 1 "$T"/race*.rc | wc -l)"
expect_eq "concurrent key add: one audit line" 1 "$(grep -c '"consumer":"race"' "$KEYS/audit.jsonl")"
winner=$(grep -lx 0 "$T"/race*.rc | sed 's/rc$/out/')
RK=$(tail -n 1 "$winner")
wait_status "concurrent key add: the winner's key works" 200 "$RK"
check "concurrent key add: no temporary files left" test -z "$(ls -A "$KEYS" | grep -v -e '^\.lock$' -e '\.ini$' -e '^audit.jsonl$')"

finish
