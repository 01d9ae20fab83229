# edpipe - plain make.  `make` builds every program under src/*/ into bin/.
# A program's extra link libraries are listed in src/PROG/ldlibs.

CC      ?= cc
PREFIX  ?= /usr/local
WARN     = -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS = $(WARN) -std=c11 -D_GNU_SOURCE $(CFLAGS) -Isrc/lib \
	-I/usr/include/postgresql $(EXTRA_CFLAGS)
LDFLAGS ?=
BASE_LIBS = -ljansson -lcsv

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
		printf '#!/bin/sh\nexec valgrind -q --suppressions=$(CURDIR)/tests/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=no "%s" "$$@"\n' \
			"$(CURDIR)/$(BIN)/$$p" >build/valgrind-bin/$$p; \
		chmod +x build/valgrind-bin/$$p; done
	EDPIPE_BIN=$(CURDIR)/build/valgrind-bin EDPIPE_UNIT=$(CURDIR)/$(B)/unit \
		EDPIPE_UNIT_WRAP="valgrind -q --suppressions=$(CURDIR)/tests/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
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
# corpus in tests/fuzz/corpus/TARGET; crashes land in build/fuzz/.  One
# fuzzer at a time (-jobs=1 is libFuzzer's default).  `make fuzz-cov`
# replays each corpus through a coverage build (clang source-based
# coverage) and prints the line and region coverage of the files each
# target exercises.  `make fuzz FUZZ_TARGETS=tds` runs only some.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= ndjson csv url mapping moodle canvas http_headers tds
FUZZ_LIB := src/lib/rec.c src/lib/msg.c src/lib/secret.c src/lib/mapping.c \
	src/lib/cli.c
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -g -O1 -std=c11 \
	-D_GNU_SOURCE -Isrc/lib
FUZZ_COV_FLAGS := -fprofile-instr-generate -fcoverage-mapping -g -O0 \
	-std=c11 -D_GNU_SOURCE -Isrc/lib
FUZZ_HDRS := $(wildcard tests/fuzz/*.h)
# Per target: extra sources and libraries, and the files (or, after a
# colon, the functions of one file) whose coverage fuzz-cov reports.
FUZZ_LMS := src/lib/lmsparse.c src/lib/lmsjson.c src/lib/http.c
fuzz_moodle_SRC := $(FUZZ_LMS)
fuzz_canvas_SRC := $(FUZZ_LMS)
fuzz_http_headers_SRC := src/lib/http.c
fuzz_tds_SRC := src/lib/tdsval.c
fuzz_moodle_LIBS := -lcurl
fuzz_canvas_LIBS := -lcurl
fuzz_http_headers_LIBS := -lcurl
fuzz_tds_LIBS := -lsybdb -lm
fuzz_ndjson_COV := src/lib/rec.c
fuzz_csv_COV := src/lib/rec.c
fuzz_url_COV := src/lib/secret.c:ep_url_parse,ep_url_mask,ep_url_free
fuzz_mapping_COV := src/lib/mapping.c
FUZZ_OUT := ep_lms_out_free,ep_lms_out_rec,ep_lms_out_text,ep_lms_rec_json
fuzz_moodle_COV := src/lib/lmsjson.c src/lib/lmsparse.c:$(FUZZ_OUT),$\
	str_or_empty,user_records,ep_moodle_parse_enrolled,$\
	ep_moodle_parse_courses,ep_moodle_parse_lookup
fuzz_canvas_COV := src/lib/lmsjson.c:ep_lms_json src/lib/lmsparse.c:$\
	$(FUZZ_OUT),put,course_record,role_name,enrollment_record,$\
	user_record,ep_canvas_parse_page,ep_canvas_error_text,$\
	ep_canvas_check,ep_canvas_report_free,$\
	ep_canvas_parse_report_status,ep_canvas_parse_report_csv
fuzz_http_headers_COV := src/lib/http.c:ep_http_link_next,rel_has_next
fuzz_tds_COV := src/lib/tdsval.c
fuzz: $(addprefix build/fuzz/fuzz_,$(FUZZ_TARGETS))
	for t in $(FUZZ_TARGETS); do \
		echo "== $$t: $(FUZZ_SECONDS) s"; \
		rm -f build/fuzz/crash-$$t-*; \
		mkdir -p build/fuzz/new-$$t tests/fuzz/corpus/$$t && \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=build/fuzz/crash-$$t- -print_final_stats=1 \
			build/fuzz/new-$$t tests/fuzz/corpus/$$t 2>&1 \
			| grep -E 'stat::|cov:|Done|ERROR' | tail -n 6; \
		if ls build/fuzz/crash-$$t-* >/dev/null 2>&1; then \
			echo "fuzz: $$t found a failing input:" \
				build/fuzz/crash-$$t-*; exit 1; fi; \
		build/fuzz/fuzz_$$t -merge=1 tests/fuzz/corpus/$$t \
			build/fuzz/new-$$t >/dev/null 2>&1; \
	done
fuzz-cov: $(addprefix build/fuzz-cov/fuzz_,$(FUZZ_TARGETS))
	@printf '%-14s %7s %8s %8s  %s\n' target inputs lines regions files
	@$(foreach t,$(FUZZ_TARGETS),tests/fuzz/cov-run $(t) \
		$(fuzz_$(t)_COV) || exit 1;)
.PHONY: fuzz fuzz-cov
define fuzz_rules
build/fuzz/fuzz_$(1): tests/fuzz/fuzz_$(1).c $(FUZZ_HDRS) $(FUZZ_LIB) \
		$$(fuzz_$(1)_SRC) $(HDRS)
	@mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) -o $$@ $$< $(FUZZ_LIB) $$(fuzz_$(1)_SRC) \
		$$(fuzz_$(1)_LIBS) -ljansson -lcsv
build/fuzz-cov/fuzz_$(1): tests/fuzz/fuzz_$(1).c tests/fuzz/cov_main.c \
		$(FUZZ_HDRS) $(FUZZ_LIB) $$(fuzz_$(1)_SRC) $(HDRS)
	@mkdir -p build/fuzz-cov
	clang $(FUZZ_COV_FLAGS) -o $$@ $$< tests/fuzz/cov_main.c $(FUZZ_LIB) \
		$$(fuzz_$(1)_SRC) $$(fuzz_$(1)_LIBS) -ljansson -lcsv
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rules,$(t))))
