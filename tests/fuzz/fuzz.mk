# fuzz.mk: libFuzzer targets for the parsers that take untrusted input.
# Included by the top-level Makefile; also works alone from the repository
# root: `make -f tests/fuzz/fuzz.mk fuzz-replay`.
#
#   make fuzz-build    build $(B)/fuzz/<target> for every target
#   make fuzz-replay   run every target once over its committed corpus and
#                      its regression inputs (tests/fuzz/regress/<target>/);
#                      fails on any crash, leak or hang
#   make fuzz          fuzz each target for FUZZ_SECONDS on a copy of its
#                      corpus in $(B)/fuzz/corpus/<target>; new crashes go to
#                      $(B)/fuzz/crashes/ (make -j runs targets side by side)
#
# The targets need clang with libFuzzer (Debian: clang, libclang-rt-14-dev).

B            ?= build
CLANG        ?= clang
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 65536
FUZZ_TIMEOUT ?= 10
FUZZ_FLAGS   ?=

FUZZ_DIR      = tests/fuzz
FUZZ_TARGETS  = fuzz_query fuzz_policy fuzz_body fuzz_sse
FUZZ_CPPFLAGS = -D_GNU_SOURCE -Ilib -Ipolicy -Icgi
FUZZ_WARN     = -std=c11 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
                -Wwrite-strings
FUZZ_CFLAGS   = -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_LDLIBS   = -ljson-c -linih -lcrypto -lutf8proc

# The sources each target is built from, besides tests/fuzz/<target>.c.
# (fuzz_policy.c compiles policy/policy_load.c itself, to keep its files in a sandbox.)
FUZZ_SRC_fuzz_query  = cgi/query.c lib/str.c lib/gw.c
FUZZ_SRC_fuzz_policy = lib/gw.c lib/str.c lib/digest.c policy/policy.c policy/policy_schema.c \
                       policy/policy_check.c policy/policy_lint.c policy/block.c lib/buf.c
FUZZ_SRC_fuzz_body   = cgi/openai.c cgi/prompt.c lib/buf.c lib/str.c lib/gw.c lib/jsonc.c
FUZZ_SRC_fuzz_sse    = cgi/sse.c lib/buf.c lib/gw.c

FUZZ_BINS   = $(addprefix $(B)/fuzz/,$(FUZZ_TARGETS))
FUZZ_RUNS   = $(addprefix fuzz-run-,$(FUZZ_TARGETS))
FUZZ_REPLAY = $(addprefix fuzz-replay-,$(FUZZ_TARGETS))

fuzz-build: $(FUZZ_BINS)

$(B)/fuzz/fuzz_query:  $(FUZZ_SRC_fuzz_query)
$(B)/fuzz/fuzz_policy: $(FUZZ_SRC_fuzz_policy)
$(B)/fuzz/fuzz_body:   $(FUZZ_SRC_fuzz_body)
$(B)/fuzz/fuzz_sse:    $(FUZZ_SRC_fuzz_sse)

# $@.d (-MM -MP): the headers each target's sources really include
$(FUZZ_BINS): $(B)/fuzz/%: $(FUZZ_DIR)/%.c
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_CPPFLAGS) -MM -MP -MT $@ $(FUZZ_DIR)/$*.c $(FUZZ_SRC_$*) > $@.d
	$(Q)$(CLANG) $(FUZZ_CPPFLAGS) $(FUZZ_WARN) $(FUZZ_CFLAGS) -o $@ \
		$(FUZZ_DIR)/$*.c $(FUZZ_SRC_$*) $(FUZZ_LDLIBS)

-include $(wildcard $(B)/fuzz/*.d)

fuzz: $(FUZZ_RUNS)

$(FUZZ_RUNS): fuzz-run-%: $(B)/fuzz/%
	@mkdir -p $(B)/fuzz/corpus/$* $(B)/fuzz/crashes
	cp -R $(FUZZ_DIR)/corpus/$*/. $(B)/fuzz/corpus/$*/
	$(B)/fuzz/$* -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-timeout=$(FUZZ_TIMEOUT) -print_final_stats=1 \
		-artifact_prefix=$(B)/fuzz/crashes/$*- $(FUZZ_FLAGS) \
		$(B)/fuzz/corpus/$* $(wildcard $(FUZZ_DIR)/regress/$*)

fuzz-replay: $(FUZZ_REPLAY)

$(FUZZ_REPLAY): fuzz-replay-%: $(B)/fuzz/%
	@mkdir -p $(B)/fuzz/crashes
	@echo "  REPLAY  $*"
	$(Q)$(B)/fuzz/$* -runs=0 -timeout=$(FUZZ_TIMEOUT) \
		-artifact_prefix=$(B)/fuzz/crashes/$*- \
		$(FUZZ_DIR)/corpus/$* $(wildcard $(FUZZ_DIR)/regress/$*) 2>$(B)/fuzz/$*.replay.log \
		|| { cat $(B)/fuzz/$*.replay.log; exit 1; }

.PHONY: fuzz-build fuzz fuzz-replay $(FUZZ_RUNS) $(FUZZ_REPLAY)
