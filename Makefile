# edpipe - plain make.  `make` builds every program under src/*/ into bin/.
#
# Libraries: src/PROG/ldlibs lists the libraries PROG itself uses, one word
# each: a pkg-config module (libpq, sqlite3, odbc, libmariadb, libcurl,
# jansson, libcrypto) or a literal linker flag (-lsybdb: FreeTDS ships no
# .pc).  src/lib/ldlibs lists what the part of the shared library that
# every program links needs (the record layer), tests/unit/ldlibs the unit
# tests'.  A program is linked with its own list and that one, nothing
# else, so it does not depend on the linker's --as-needed default.
#
# Warnings are errors (-Werror) for developers and CI: in a git checkout,
# or with DEV=1 or CI=true.  A release build (RELEASE=1, or a tree without
# .git such as a tarball) keeps the warnings but never fails on one, so a
# newer compiler's new warning does not stop a user's build.

CC      ?= cc
PKG_CONFIG ?= pkg-config
PREFIX  ?= /usr/local
ifeq ($(RELEASE),1)
WERROR  :=
else ifneq ($(filter 1,$(DEV))$(filter true,$(CI))$(wildcard .git),)
WERROR  := -Werror
endif
WARN     = -Wall -Wextra $(WERROR)
CFLAGS  ?= -O2 -g
# Every module a source file includes headers of (see the ldlibs files).
PC_MODULES = libpq libmariadb sqlite3 odbc libcurl jansson libcrypto yaml-0.1
PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PC_MODULES) 2>/dev/null)
ALL_CFLAGS = $(WARN) -std=c11 -D_GNU_SOURCE $(CFLAGS) -Isrc/lib \
	$(PC_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS ?=
# The Debian package lists make demo, make check-all and make install
# check first (.ci/need: as root it installs what is missing, otherwise
# it prints the apt-get line and stops).  NEED=true skips the check (a
# system that has the libraries some other way).
PACKAGES_DIR ?= .ci/packages.d
NEED = .ci/need -d $(PACKAGES_DIR)
# make install builds first, so on a fresh machine the build packages
# must be there before any rule runs: checked while reading this file.
ifneq ($(filter install,$(MAKECMDGOALS)),)
NEED_STATUS := $(shell $(NEED) -a 'make install' build run >&2; echo $$?)
ifneq ($(NEED_STATUS),0)
$(error the build packages are missing: see above, or NEED=true)
endif
endif
# libs FILE: the linker flags for the words of an ldlibs FILE (# comments).
ldwords = $(shell sed 's/\#.*//' $(1) 2>/dev/null)
pc_libs = $(if $(1),$(shell $(PKG_CONFIG) --libs $(1)))
libs = $(filter -%,$(call ldwords,$(1))) \
	$(call pc_libs,$(filter-out -%,$(call ldwords,$(1))))

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

.PHONY: all check check-asan check-all check-valgrind install uninstall clean \
	bench lint demo
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
		$$(call libs,src/$(1)/ldlibs) $$(call libs,src/lib/ldlibs)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rules,$(p))))

$(B)/unit/%: tests/unit/%.c tests/unit/tap.h $(wildcard tests/fuzz/*.h) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB_A) \
		$(call libs,tests/unit/ldlibs) $(call libs,src/lib/ldlibs)

# The whole suite: unit tests, then the CLI tests of every program.
check: all
	EDPIPE_BIN=$(CURDIR)/$(BIN) EDPIPE_UNIT=$(CURDIR)/$(B)/unit \
		EDPIPE_TEST_TIMES=$(CURDIR)/$(B)/test-times tests/run

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

# What CI runs: the build and test packages (.ci/need installs what is
# missing, as root), both suites, then one total line.
check-all:
	@$(NEED) -a 'make check-all' build run test
	@rm -f build/summary-*.txt; mkdir -p build
	@$(MAKE) --no-print-directory check 2>&1 | tee build/summary-plain.txt
	@$(MAKE) --no-print-directory check-asan 2>&1 \
		| tee build/summary-asan.txt
	@tests/total build/summary-plain.txt build/summary-asan.txt

# Install.  Programs and the pipeline scripts (as edpipe-NAME) go to
# BINDIR, the scripts' shared shell library to LIBDIR, queries, demo data
# and configuration examples to DATADIR, manual pages, bash and zsh
# completions to where man, bash-completion and zsh look.  The scripts'
# @..._TO_...@ placeholders (and their `. lib/pipeline.sh` line) become
# the relative paths between those directories, so an installed script
# finds its library and share/ from its own place under any PREFIX, and
# the tree still works when moved (or run from DESTDIR); /usr/local paths
# in the examples and manual pages become the configured ones.  DESTDIR
# is prepended to every path (packaging); `make uninstall` with the same
# PREFIX and DESTDIR removes every file install wrote.
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib/edpipe
DATADIR ?= $(PREFIX)/share/edpipe
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
SCRIPTS := audit canvas-inventory clever-sections demo edx-pseudonymize \
	replicate replicate-hourly runs sync-enrollments
COMMANDS := $(PROGS) $(addprefix edpipe-,$(SCRIPTS))
SHARE_FILES := $(patsubst share/%,%,$(shell find share -type f))
EXAMPLES := $(notdir $(wildcard scripts/examples/*))
MAN1 := $(notdir $(wildcard $(addprefix man/,$(addsuffix .1,$(COMMANDS)))))
D := $(DESTDIR)
# Relative paths between the installed directories (the scripts find
# their library and share/ from their own place, so the tree can move).
rel = $(shell realpath -m --relative-to=$(1) $(2))
SUBST = sed -e 's|@LIB_TO_BIN@|$(call rel,$(LIBDIR),$(BINDIR))|g' \
	-e 's|@LIB_TO_DATA@|$(call rel,$(LIBDIR),$(DATADIR))|g' \
	-e 's|@BIN_TO_DATA@|$(call rel,$(BINDIR),$(DATADIR))|g' \
	-e 's|^\. "$${BASH_SOURCE\[0\]%/\*}/lib/pipeline\.sh"$$|. "$$(dirname "$$(readlink -f "$${BASH_SOURCE[0]}")")/$(call rel,$(BINDIR),$(LIBDIR))/pipeline.sh"|' \
	-e 's|/usr/local/bin\([/:]\)|$(BINDIR)\1|g' \
	-e 's|/usr/local/share/edpipe|$(DATADIR)|g' \
	-e 's|/usr/local/lib/edpipe|$(LIBDIR)|g'
INSTALLED = $(addprefix $(D)$(BINDIR)/,$(COMMANDS)) \
	$(D)$(LIBDIR)/pipeline.sh \
	$(addprefix $(D)$(DATADIR)/,$(SHARE_FILES)) \
	$(addprefix $(D)$(DATADIR)/examples/,$(EXAMPLES)) \
	$(addprefix $(D)$(MANDIR)/man1/,$(MAN1)) $(D)$(MANDIR)/man7/edpipe.7 \
	$(addprefix $(D)$(BASHCOMPDIR)/,$(COMMANDS)) $(D)$(ZSHCOMPDIR)/_edpipe
# The directories that are edpipe's own (uninstall removes them, and
# the folders between them and DATADIR, deepest first).
OWN_DIRS = $(sort $(dir $(addprefix $(D)$(DATADIR)/,$(SHARE_FILES)))) \
	$(D)$(DATADIR)/examples $(D)$(DATADIR) $(D)$(LIBDIR)

install: all
	install -d $(D)$(BINDIR) $(D)$(LIBDIR) $(D)$(DATADIR)/examples \
		$(D)$(MANDIR)/man1 $(D)$(MANDIR)/man7 $(D)$(BASHCOMPDIR) \
		$(D)$(ZSHCOMPDIR)
	install -m 755 $(addprefix $(BIN)/,$(PROGS)) $(D)$(BINDIR)
	for s in $(SCRIPTS); do \
		$(SUBST) -e "s/usage: $$s\b/usage: edpipe-$$s/g" scripts/$$s \
			>$(D)$(BINDIR)/edpipe-$$s && \
		chmod 755 $(D)$(BINDIR)/edpipe-$$s || exit 1; done
	$(SUBST) scripts/lib/pipeline.sh >$(D)$(LIBDIR)/pipeline.sh
	chmod 644 $(D)$(LIBDIR)/pipeline.sh
	for f in $(SHARE_FILES); do m=644; [ ! -x share/$$f ] || m=755; \
		install -D -m $$m share/$$f $(D)$(DATADIR)/$$f || exit 1; done
	for f in $(EXAMPLES); do $(SUBST) scripts/examples/$$f \
		>$(D)$(DATADIR)/examples/$$f || exit 1; done
	chmod 644 $(addprefix $(D)$(DATADIR)/examples/,$(EXAMPLES))
	for m in $(MAN1); do $(SUBST) man/$$m >$(D)$(MANDIR)/man1/$$m && \
		chmod 644 $(D)$(MANDIR)/man1/$$m || exit 1; done
	$(SUBST) man/edpipe.7 >$(D)$(MANDIR)/man7/edpipe.7
	chmod 644 $(D)$(MANDIR)/man7/edpipe.7
	for c in $(COMMANDS); do install -m 644 completions/edpipe.bash \
		$(D)$(BASHCOMPDIR)/$$c || exit 1; done
	install -m 644 completions/_edpipe $(D)$(ZSHCOMPDIR)/_edpipe

uninstall:
	rm -f $(INSTALLED)
	for d in $(sort $(OWN_DIRS)); do \
		d=$${d%/}; \
		while :; do \
			echo "$$d"; \
			case $$d in "$(D)$(DATADIR)"/*) d=$${d%/*} ;; *) break ;; esac; \
		done; \
	done | sort -ru | \
		while read -r d; do [ ! -d "$$d" ] || rmdir "$$d" || exit 1; done

lint:
	for m in man/*.1 man/*.7; do mandoc -Tlint -W warning $$m || exit 1; done
	shellcheck -x $$(grep -l '^#!.*sh' scripts/* scripts/lib/* bench/*/run \
		2>/dev/null) tests/run tests/total .ci/run .ci/need \
		completions/edpipe.bash

# The sync pipeline end to end on a demo SIS and a recorded Moodle roster,
# after the build packages (.ci/need installs what is missing, as root).
demo:
	@$(NEED) -a 'make demo' build run
	@$(MAKE) --no-print-directory -s all
	@scripts/demo

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
