#!/bin/sh
# limit-bench.sh: builds build/limit-bench (tests/bench/limit_bench.c linked
# with the gateway's objects) and prints the cost of one admission in the
# file-locked limit store, with 1 and with 4 processes on one scope.
# Arguments go to the program: [-n ITER] [-p P[,P...]] [-d DIR]
# (the state directory's file system matters: set -d or TMPDIR to try
# another).  It prints figures; it is not a pass/fail test.
cd "$(dirname "$0")/../.." || exit 1
bin=build/limit-bench

if grep -q '^$(B)/limit-bench:' Makefile; then
	make -s "$bin" || exit 1
else
	# The Makefile has no rule for it yet: the rule, given on stdin
	# (build/obj/limit_bench.o comes from the Makefile's pattern rule).
	make -s -f Makefile -f - "$bin" <<'EOF' || exit 1
$(B)/limit-bench: $(addprefix $(B)/obj/,$(CORE_OBJ) limit_bench.o)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
EOF
fi

dir=${TMPDIR:-/tmp}
prev=
for a in "$@"; do
	[ "$prev" = -d ] && dir=$a
	prev=$a
done
echo "$(uname -sr), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
	"state on $(stat -f -c %T "$dir" 2>/dev/null || echo '?')"
exec "$bin" "$@"
