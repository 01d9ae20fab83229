# edpipe - plain make.  `make` builds every program under src/*/ into bin/.
# A program's extra link libraries are listed in src/PROG/ldlibs.

CC      ?= cc
PREFIX  ?= /usr/local
WARN     = -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS = $(WARN) -std=c11 -D_GNU_SOURCE $(CFLAGS) -Isrc/lib \
	-I/usr/include/postgresql $(EXTRA_CFLAGS)
LDFLAGS ?=
BASE_LIBS = -ljansson

# Out-of-tree variants (check-asan) set B (objects) and BIN (programs).
B   ?= build
BIN ?= bin

PROGS   := $(patsubst src/%/main.c,%,$(wildcard src/*/main.c))
LIB_SRC := $(wildcard src/lib/*.c)
LIB_OBJ := $(patsubst src/lib/%.c,$(B)/lib/%.o,$(LIB_SRC))
LIB_A   := $(B)/libedpipe.a
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/unit/%,$(UNIT_SRC))
HDRS    := $(wildcard src/lib/*.h)

.PHONY: all check check-asan check-all check-valgrind install clean bench lint demo
all: $(addprefix $(BIN)/,$(PROGS)) $(UNIT_BIN)

$(B)/lib/%.o: src/lib/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# One rule per program: its objects, then the link.
define prog_rules
$(1)_SRC := $$(wildcard src/$(1)/*.c)
$(1)_OBJ := $$(patsubst src/$(1)/%.c,$(B)/$(1)/%.o,$$($(1)_SRC))
$(B)/$(1)/%.o: src/$(1)/%.c $(HDRS) $$(wildcard src/$(1)/*.h)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) -Isrc/$(1) -c -o $$@ $$<
$(BIN)/$(1): $$($(1)_OBJ) $(LIB_A)
	@mkdir -p $(BIN)
	$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$($(1)_OBJ) $(LIB_A) \
		$$(shell cat src/$(1)/ldlibs 2>/dev/null) $(BASE_LIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rules,$(p))))

$(B)/unit/%: tests/unit/%.c tests/unit/tap.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB_A) \
		$(shell cat tests/unit/ldlibs 2>/dev/null) $(BASE_LIBS)

# The whole suite: unit tests, then the CLI tests of every program.
check: all
	EDPIPE_BIN=$(CURDIR)/$(BIN) EDPIPE_UNIT=$(CURDIR)/$(B)/unit \
		tests/run

SAN = -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
check-asan:
	$(MAKE) B=build-asan BIN=build-asan/bin CFLAGS="-O1 -g" \
		EXTRA_CFLAGS="$(SAN)" LDFLAGS="$(SAN)" check

# The suite once more with every program run under valgrind (slow; not in
# CI): each bin/PROG is wrapped so that a memory error or a definite leak
# exits 99, which every test then sees as a wrong status.
check-valgrind: all
	rm -rf build/valgrind-bin && mkdir -p build/valgrind-bin
	for p in $(PROGS); do \
		printf '#!/bin/sh\nexec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=no "%s" "$$@"\n' \
			"$(CURDIR)/$(BIN)/$$p" >build/valgrind-bin/$$p; \
		chmod +x build/valgrind-bin/$$p; done
	EDPIPE_BIN=$(CURDIR)/build/valgrind-bin EDPIPE_UNIT=$(CURDIR)/$(B)/unit \
		EDPIPE_UNIT_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
		EDPIPE_TEST_TIMEOUT=1800 tests/run

# What CI runs: both suites, then one total line.
check-all:
	@rm -f build/summary-*.txt; mkdir -p build
	@$(MAKE) --no-print-directory check 2>&1 | tee build/summary-plain.txt
	@$(MAKE) --no-print-directory check-asan 2>&1 \
		| tee build/summary-asan.txt
	@tests/total build/summary-plain.txt build/summary-asan.txt

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/edpipe
	install -m 755 $(addprefix $(BIN)/,$(PROGS)) $(DESTDIR)$(PREFIX)/bin
	for p in $(PROGS); do [ ! -f man/$$p.1 ] || \
		install -m 644 man/$$p.1 $(DESTDIR)$(PREFIX)/share/man/man1; done
	cp -R share/. $(DESTDIR)$(PREFIX)/share/edpipe/
	install -d $(DESTDIR)$(PREFIX)/lib/edpipe
	cp -R scripts $(DESTDIR)$(PREFIX)/lib/edpipe/

lint:
	for m in man/*.1; do mandoc -Tlint -W warning $$m || exit 1; done
	shellcheck -x $$(grep -l '^#!.*sh' scripts/* scripts/lib/* bench/*/run \
		2>/dev/null) tests/run tests/total .ci/run

# The sync pipeline end to end on a demo SIS and a recorded Moodle roster.
demo: all
	scripts/demo

clean:
	rm -rf build build-asan bin

# Fuzzing (clang's libFuzzer): each target runs FUZZ_SECONDS, growing its
# corpus in tests/fuzz/corpus/TARGET; crashes land in build/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := ndjson csv url mapping
FUZZ_LIB := src/lib/rec.c src/lib/msg.c src/lib/secret.c src/lib/mapping.c
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -g -O1 -std=c11 \
	-D_GNU_SOURCE -Isrc/lib
fuzz: $(addprefix build/fuzz/fuzz_,$(FUZZ_TARGETS))
	for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/new-$$t && \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=build/fuzz/crash-$$t- -print_final_stats=1 \
			build/fuzz/new-$$t tests/fuzz/corpus/$$t 2>&1 \
			| grep -E 'stat::|cov:|Done|ERROR' | tail -n 4 || exit 1; \
		build/fuzz/fuzz_$$t -merge=1 tests/fuzz/corpus/$$t \
			build/fuzz/new-$$t >/dev/null 2>&1; \
	done
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/targets.h $(FUZZ_LIB) $(HDRS)
	@mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB) -ljansson
.PHONY: fuzz
