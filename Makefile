# Makefile: the one build of aigw. `make`, `make check`, `make run`,
# `make install PREFIX=... DESTDIR=...`, `make uninstall`.
# Local overrides go in config.mk (not tracked).

-include config.mk

PREFIX     ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/aigw
DATADIR    ?= $(PREFIX)/share/aigw
DOCDIR     ?= $(PREFIX)/share/doc/aigw
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
           -Wstrict-prototypes -Wwrite-strings
HARDEN   = -D_FORTIFY_SOURCE=2 -fstack-protector-strong
CPPFLAGS += -D_GNU_SOURCE -Ilib -Ipolicy -Icgi -DAIGW_SYSCONFDIR='"$(SYSCONFDIR)"'
# The libraries each layer's archive needs, and what a front end links:
# lib and policy need no libcurl and no libfcgi (aigwctl links only those).
LIB_LDLIBS    = -ljson-c -lcrypto -lm
POLICY_LDLIBS = -linih -lhiredis -lutf8proc $(LIB_LDLIBS)
LDLIBS        = -lfcgi -lcurl $(POLICY_LDLIBS)
DEPFLAGS      = -MMD -MP
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# ThreadSanitizer needs clang here (gcc 12's runtime is not installed).
TSAN_CC  = clang
TSAN     = -fsanitize=thread -fno-omit-frame-pointer

B = build

ifeq ($(V),1)
Q =
else
Q = @
endif

# Each layer is its own static archive: lib -> libgw.a, policy ->
# libpolicy.a, cgi -> libcgi.a. A program names the archives of the layers
# it uses (highest first) and the linker takes only the objects it needs.
LIB_OBJ    = gw.o buf.o str.o digest.o jsonc.o statefile.o
POLICY_OBJ = policy.o policy_schema.o policy_load.o policy_check.o policy_lint.o auth.o block.o usage.o limit.o stats.o report.o store.o store_file.o store_redis.o
CGI_OBJ    = query.o request.o reply.o prompt.o openai.o sse.o balance.o relay.o metrics.o alert.o exchange.o admin.o prompt_route.o openai_route.o responses.o anthropic.o anthropic_route.o modes.o serve.o cgi_io.o shared.o
UNIT_SRC   = $(wildcard tests/unit/*.c)
UNIT_OBJ   = $(notdir $(UNIT_SRC:.c=.o))

# the archives of a front end: cgi, policy and lib, or policy and lib
ALL_A    = libcgi.a libpolicy.a libgw.a
POLICY_A = libpolicy.a libgw.a

vpath %.c lib policy cgi fcgi tools tests/unit tests/bench tests/lib

PROGRAMS = $(B)/aigw.fcgi $(B)/aigw.cgi $(B)/aigwctl

all: $(PROGRAMS)

# Dependencies on headers: the .d files the compiler writes (-MMD -MP)
# name the headers each object really includes.
$(B)/obj/%.o: %.c | $(B)/obj
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(DEPFLAGS) $(WARN) $(HARDEN) $(CFLAGS) -c -o $@ $<

$(B)/san/%.o: %.c | $(B)/san
	@echo "  CC+SAN  $<"
	$(Q)$(CC) $(CPPFLAGS) $(DEPFLAGS) $(WARN) -O1 -g $(SAN) -c -o $@ $<

$(B)/tsan/%.o: %.c | $(B)/tsan
	@echo "  CC+TSAN $<"
	$(Q)$(TSAN_CC) $(CPPFLAGS) $(DEPFLAGS) $(WARN) -O1 -g $(TSAN) -c -o $@ $<

-include $(wildcard $(B)/obj/*.d $(B)/san/*.d $(B)/tsan/*.d)

$(B)/obj $(B)/san $(B)/tsan:
	$(Q)mkdir -p $@

# The compiled-in policy path: rebuild gw.o when SYSCONFDIR changes.
$(B)/sysconfdir: FORCE | $(B)/obj
	$(Q)echo '$(SYSCONFDIR)' | cmp -s - $@ || echo '$(SYSCONFDIR)' > $@
$(B)/obj/gw.o $(B)/san/gw.o $(B)/tsan/gw.o: $(B)/sysconfdir

FORCE:

# the layers' archives, plain (build/obj) and with sanitizers (build/san)
define layer_archive
$(B)/obj/$(1): $(addprefix $(B)/obj/,$(2))
	@echo "  AR      $$@"
	$(Q)rm -f $$@ && $(AR) rcs $$@ $$^
$(B)/san/$(1): $(addprefix $(B)/san/,$(2))
	@echo "  AR+SAN  $$@"
	$(Q)rm -f $$@ && $(AR) rcs $$@ $$^
$(B)/tsan/$(1): $(addprefix $(B)/tsan/,$(2))
	@echo "  AR+TSAN $$@"
	$(Q)rm -f $$@ && $(AR) rcs $$@ $$^
endef
$(eval $(call layer_archive,libgw.a,$(LIB_OBJ)))
$(eval $(call layer_archive,libpolicy.a,$(POLICY_OBJ)))
$(eval $(call layer_archive,libcgi.a,$(CGI_OBJ)))

$(B)/aigw.fcgi: $(addprefix $(B)/obj/,fcgi_main.o $(ALL_A))
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/aigw.cgi: $(addprefix $(B)/obj/,cgi_main.o $(ALL_A))
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# aigwctl uses the policy layer only: no relay, no libcurl, no libfcgi.
$(B)/aigwctl: $(addprefix $(B)/obj/,aigwctl.o keys.o $(POLICY_A))
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(POLICY_LDLIBS)

$(B)/unit-tests: $(addprefix $(B)/obj/,$(UNIT_OBJ) $(ALL_A))
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcunit

$(B)/unit-tests-san: $(addprefix $(B)/san/,$(UNIT_OBJ) $(ALL_A))
	@echo "  LD+SAN  $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LDLIBS) -lcunit

$(B)/aigw-san.fcgi: $(addprefix $(B)/san/,fcgi_main.o $(ALL_A))
	@echo "  LD+SAN  $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LDLIBS)

$(B)/aigw-tsan.fcgi: $(addprefix $(B)/tsan/,fcgi_main.o $(ALL_A))
	@echo "  LD+TSAN $@"
	$(Q)$(TSAN_CC) $(TSAN) -o $@ $^ $(LDLIBS)

$(B)/store-bench: $(addprefix $(B)/obj/,store_bench.o $(POLICY_A))
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(POLICY_LDLIBS)

# past days of usage for the usage page's browser test (t0520-usage-chart.sh)
$(B)/stats-seed: $(addprefix $(B)/obj/,stats_seed.o $(POLICY_A))
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(POLICY_LDLIBS)

$(B)/limit-bench: $(addprefix $(B)/obj/,limit_bench.o $(POLICY_A))
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(POLICY_LDLIBS)

$(B)/bare-relay: tests/bench/bare_relay.c | $(B)/obj
	@echo "  LD      $@"
	$(Q)$(CC) $(CPPFLAGS) $(WARN) $(HARDEN) $(CFLAGS) -o $@ $< -lfcgi -lcurl

# the performance table (tests/bench/run.sh, about 3 minutes)
bench: all $(B)/bare-relay
	bash tests/bench/run.sh

# instructions per request of the fast path, under callgrind
profile: all
	bash tests/bench/profile.sh

bench-limit: $(B)/limit-bench
	sh tests/bench/limit-bench.sh

# concurrent slow streams: completed, time to first byte, memory per stream
# (tests/bench/streams.sh, a few minutes)
bench-streams: all
	bash tests/bench/streams.sh

# ---- packages: the exact Debian 12 list the build and the tests need ----

PACKAGES = build-essential curl python3 libfcgi-dev libfcgi-bin spawn-fcgi \
           libcurl4-openssl-dev libssl-dev libjson-c-dev libinih-dev libcunit1-dev \
           lighttpd apache2 libapache2-mod-fcgid nginx multiwatch valgrind \
           libhiredis-dev libutf8proc-dev redis-server chromium nodejs clang libclang-rt-14-dev wrk \
           $(if $(shell command -v npm 2>/dev/null),,npm)

deps:
	@sh tests/install-deps.sh $(PACKAGES)

# ---- tests ----

unit: $(B)/unit-tests
	$(B)/unit-tests

unit-san: $(B)/unit-tests-san
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(B)/unit-tests-san

e2e: all $(B)/stats-seed
	sh tests/run-e2e.sh

# the fast tier: aigw.cgi run directly with CGI variables, no web server
cgi-tests: all
	sh tests/cgi/run.sh

e2e-san: all $(B)/aigw-san.fcgi $(B)/stats-seed
	bash tests/run-e2e-san.sh

# the threaded responder under ThreadSanitizer (tests/run-e2e-tsan.sh)
e2e-tsan: all $(B)/aigw-tsan.fcgi
	bash tests/run-e2e-tsan.sh

# the e2e run with one worker thread per process (the default is the policy's
# [gateway] threads, 64), for one test in make check; all: make e2e-threads1 E2E=all
e2e-threads1: all
	AIGW_TEST_THREADS=1 sh tests/run-e2e.sh $(if $(filter all,$(E2E)),,tests/e2e/t0100-seed.sh)

check: deps
	$(MAKE) all $(B)/unit-tests $(B)/unit-tests-san
	$(MAKE) unit
	$(MAKE) unit-san
	$(MAKE) fuzz-replay
	$(MAKE) valgrind
	$(MAKE) cgi-tests
	$(MAKE) e2e-san
	$(MAKE) e2e-tsan
	$(MAKE) e2e
	$(MAKE) e2e-threads1

valgrind: all
	bash tests/valgrind.sh

# Claude Code and Codex CLI, installed from npm into build/agents, driven
# through the gateway against the stub upstream (offline)
check-agents: all
	bash tests/agents/run.sh

run: deps
	$(MAKE) all
	sh contrib/run-local.sh

# ---- install ----

install: all
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/www \
		$(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(B)/aigw.fcgi $(B)/aigw.cgi $(DESTDIR)$(LIBEXECDIR)/
	install -m 0755 $(B)/aigwctl $(DESTDIR)$(BINDIR)/
	cp -R www/. $(DESTDIR)$(DATADIR)/www/
	install -m 0644 etc/* $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 README.md INSTALL $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/aigwctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/aigw.ini.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/aigw.fcgi.8 $(DESTDIR)$(MANDIR)/man8/
	ln -sf aigw.fcgi.8 $(DESTDIR)$(MANDIR)/man8/aigw.cgi.8

uninstall:
	rm -f $(DESTDIR)$(LIBEXECDIR)/aigw.fcgi $(DESTDIR)$(LIBEXECDIR)/aigw.cgi
	-rmdir $(DESTDIR)$(LIBEXECDIR)
	rm -f $(DESTDIR)$(BINDIR)/aigwctl
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(MANDIR)/man1/aigwctl.1 $(DESTDIR)$(MANDIR)/man5/aigw.ini.5 \
		$(DESTDIR)$(MANDIR)/man8/aigw.fcgi.8 $(DESTDIR)$(MANDIR)/man8/aigw.cgi.8

clean:
	rm -rf $(B)

.PHONY: FORCE check-agents bench profile bench-limit bench-streams cgi-tests e2e-san e2e-tsan e2e-threads1 all deps unit unit-san e2e check valgrind run install uninstall clean

# fuzzing: fuzz-build, fuzz (FUZZ_SECONDS each), fuzz-replay (the corpus, in make check)
include tests/fuzz/fuzz.mk
