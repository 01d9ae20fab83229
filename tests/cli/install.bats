#!/usr/bin/env bats
# make install / make uninstall: the layout, the scripts on PATH as
# edpipe-NAME finding their library and share/ from their own place (so
# the tree runs from DESTDIR and after a move), manual pages, completions,
# and an uninstall that removes every file it wrote.

bats_require_minimum_version 1.5.0
load helper

# The programs under test are what gets installed (-o all: build
# nothing; the ASan suite installs its own build).  Not the variables of
# a make that runs this suite (make check-asan's B, BIN, CFLAGS ...).
inst() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" \
		--no-print-directory -o all BIN="$EDPIPE_BIN" "$@"
}

setup() {
	need make realpath
	D=$BATS_TEST_TMPDIR/dest
	P=/opt/edpipe
	I=$D$P
}

scripts() {
	echo audit canvas-inventory clever-sections demo edx-pseudonymize replicate \
		replicate-hourly runs sync-enrollments
}

@test "install: DESTDIR and PREFIX, every file where it belongs" {
	run --separate-stderr inst install DESTDIR="$D" PREFIX=$P
	assert_success
	local p s
	for p in conduit-fmt db-load enroll-diff lms-fetch lms-push rec-hash \
		sftp-put sis-extract yaml-json; do
		[ -x "$I/bin/$p" ] || fail "no $I/bin/$p"
		[ -f "$I/share/man/man1/$p.1" ] || fail "no man page for $p"
		[ -f "$I/share/bash-completion/completions/$p" ] || fail "no completion for $p"
	done
	for s in $(scripts); do
		[ -x "$I/bin/edpipe-$s" ] || fail "no $I/bin/edpipe-$s"
		[ -f "$I/share/man/man1/edpipe-$s.1" ] || fail "no man page for edpipe-$s"
		[ -f "$I/share/bash-completion/completions/edpipe-$s" ] ||
			fail "no completion for edpipe-$s"
	done
	[ -f "$I/share/man/man7/edpipe.7" ]
	[ -f "$I/share/zsh/site-functions/_edpipe" ]
	[ -f "$I/lib/edpipe/pipeline.sh" ]
	[ -f "$I/share/edpipe/queries/powercampus-enrollments.sql" ]
	[ -x "$I/share/edpipe/demo-sis/make-demo-sis" ]
	[ -f "$I/share/edpipe/examples/sync-enrollments.env" ]
	# Nothing outside DESTDIR, no placeholder left, no /usr/local path
	# in any text file: they all became this PREFIX's.
	[ ! -e "$P" ] || skip "$P exists on this machine"
	run grep -rlI -e '@[A-Z_]*@' -e /usr/local "$I"
	assert_output ""
	grep -q "ExecStart=$P/bin/edpipe-sync-enrollments " \
		"$I/share/edpipe/examples/edpipe-sync-enrollments.service"
	grep -q "^SIS_QUERY=$P/share/edpipe/queries/" \
		"$I/share/edpipe/examples/sync-enrollments.env"
	grep -q "^\.It Pa $P/share/edpipe/queries/" \
		"$I/share/man/man1/edpipe-sync-enrollments.1"
}

@test "installed scripts and the demo run from there, with the installed programs" {
	need python3 jq flock
	inst install DESTDIR="$D" PREFIX=$P >/dev/null
	# No edpipe program on PATH: the scripts must find their own.
	local path=/usr/local/bin:/usr/bin:/bin
	run --separate-stderr env -i PATH=$path "$I/bin/edpipe-sync-enrollments" --help
	assert_success
	assert_line --index 0 "usage: edpipe-sync-enrollments [-c FILE] [-n] [-q | -v]"
	run --separate-stderr env -i PATH=$path "$I/bin/edpipe-replicate" -h
	assert_success
	assert_line --index 0 --partial "usage: edpipe-replicate "
	local d=$BATS_TEST_TMPDIR/demo
	run --separate-stderr env -i PATH=$path HOME="$BATS_TEST_TMPDIR" \
		"$I/bin/edpipe-demo" "$d"
	assert_success
	[ -z "$stderr" ]
	assert_line --index 1 "2. running $I/bin/edpipe-sync-enrollments -c $d/demo.env"
	assert_output --partial "8 adds and 4 drops written to $d/outbox/enrollments.csv"
	grep -q "^MOODLE_MAPPING=$I/share/edpipe/demo/moodle-map.json$" "$d/demo.env"
	# The run's report, made by the installed share/report/report.jq.
	[ -f "$I/share/edpipe/report/report.jq" ]
	grep -q '<h1>sync-enrollments: OK</h1>' "$d/work/last/report.html"
	run --separate-stderr "$I/bin/edpipe-demo" --bogus
	assert_failure 2
	[[ $stderr == "edpipe-demo: unknown option '--bogus'"* ]]
}

@test "the installed tree still works when moved, and through a symlink" {
	inst install DESTDIR="$D" PREFIX=$P >/dev/null
	mv "$I" "$BATS_TEST_TMPDIR/moved"
	ln -s "$BATS_TEST_TMPDIR/moved/bin/edpipe-sync-enrollments" \
		"$BATS_TEST_TMPDIR/sync"
	run --separate-stderr env -i PATH=/usr/bin:/bin "$BATS_TEST_TMPDIR/sync" -h
	assert_success
	assert_line --index 0 --partial "usage: edpipe-sync-enrollments"
	# It reads its configuration, and takes the programs from its tree.
	printf 'SIS_DB=sqlite:/nonexistent\n' >"$BATS_TEST_TMPDIR/c.env"
	run --separate-stderr env -i PATH=/usr/bin:/bin "$BATS_TEST_TMPDIR/sync" \
		-c "$BATS_TEST_TMPDIR/c.env"
	assert_failure 78
	[[ $stderr == *"MOODLE_MAPPING is not set"* ]]
}

@test "uninstall removes every file install wrote, and nothing else" {
	inst install DESTDIR="$D" PREFIX=$P >/dev/null
	local before
	before=$(find "$D" -type f | wc -l)
	[ "$before" -gt 40 ]
	echo mine >"$I/bin/not-edpipe"
	run --separate-stderr inst uninstall DESTDIR="$D" PREFIX=$P
	assert_success
	run find "$D" -type f -o -type l
	assert_output "$I/bin/not-edpipe"
	# edpipe's own directories are gone, shared ones stay.
	[ ! -e "$I/share/edpipe" ] && [ ! -e "$I/lib/edpipe" ]
	[ -d "$I/bin" ]
	# A second uninstall finds nothing to do and succeeds.
	run --separate-stderr inst uninstall DESTDIR="$D" PREFIX=$P
	assert_success
}

@test "script manual pages: mandoc-clean, and every variable -h names is documented" {
	need mandoc
	local s page vars missing=() out
	for page in "$ROOT"/man/edpipe-*.1 "$ROOT"/man/edpipe.7; do
		out=$(mandoc -Tlint -W warning "$page" 2>&1) || fail "$out"
		[ -z "$out" ] || fail "$out"
	done
	for s in $(scripts); do
		page=$ROOT/man/edpipe-$s.1
		[ -f "$page" ] || fail "no man/edpipe-$s.1"
		[ "$s" != demo ] || continue
		vars=$("$ROOT/scripts/$s" -h | grep -oE '\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b' | sort -u)
		[ -n "$vars" ]
		local v
		# Every "Ev NAME" of an .It line (".It Ev A , Ev B" names two).
		local env
		env=$(sed -n '/^\.Sh ENVIRONMENT/,/^\.Sh /p' "$page" | grep '^\.It ' |
			grep -oE '(^\.It|,) Ev [A-Z][A-Z0-9_]*' | sed 's/.* Ev //')
		for v in $vars; do
			grep -qx "$v" <<<"$env" || missing+=("edpipe-$s: $v")
		done
	done
	[ "${#missing[@]}" -eq 0 ] || fail "not in ENVIRONMENT: ${missing[*]}"
}

@test "bash completion: subcommands from usage lines, options from --help" {
	# shellcheck source=completions/edpipe.bash
	. "$ROOT/completions/edpipe.bash"
	t() {
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_edpipe
		echo "${COMPREPLY[*]}"
	}
	assert_equal "$(t lms-fetch '')" "canvas kaltura moodle zoom"
	assert_equal "$(t lms-fetch moodle '')" "courses enrollments users"
	assert_equal "$(t lms-fetch canvas report '')" "provisioning"
	assert_equal "$(t lms-push c)" "canvas"
	assert_equal "$(t db-load --mo)" "--mode"
	assert_equal "$(t enroll-diff '')" ""
	# A script's options are its own, not the programs' its help mentions.
	PATH=$ROOT/scripts:$PATH
	assert_equal "$(t sync-enrollments -)" "-c -h -n -q -v"
}

@test "zsh completion: the same answers through stand-ins for compsys" {
	need zsh
	run zsh -n "$ROOT/completions/_edpipe"
	assert_success
	run zsh -fc '
		_call_program() { shift; "$@" }
		compadd() { [[ $1 == -a ]] && print -r -- "${(P)2}" }
		_files() { print -r -- _files }
		t() { words=("$@"); CURRENT=$#; PREFIX=${words[CURRENT]}
			source '"$ROOT"'/completions/_edpipe }
		t lms-fetch ""; t lms-fetch moodle ""; t db-load --mo
		t lms-fetch --url x ""'
	assert_success
	assert_equal "${lines[0]}" "canvas kaltura moodle zoom"
	assert_equal "${lines[1]}" "courses enrollments users"
	[[ ${lines[2]} == *--mode* ]]
	assert_equal "${lines[3]}" "_files"
}
