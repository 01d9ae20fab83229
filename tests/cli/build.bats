#!/usr/bin/env bats
# The build: each program in $EDPIPE_BIN loads only the client libraries
# it uses (its src/PROG/ldlibs), whatever the linker's --as-needed default
# (gcc drops it under -fsanitize, so the ASan suite checks the link lines
# themselves).

bats_require_minimum_version 1.5.0
load helper

# needed PROG: the libraries PROG names in its dynamic section, short
# names (libpq, libcurl ...), sorted, on one line; libc and the
# sanitizers' runtime left out.
needed() {
	readelf -d "$EDPIPE_BIN/$1" | sed -n 's/.*(NEEDED).*\[\(lib[^.]*\)\..*/\1/p' |
		grep -vxE 'libc|libm|libasan|libubsan|libstdc\+\+|libgcc_s' |
		sort | tr '\n' ' ' | sed 's/ $//'
}

@test "each program links only the client libraries it uses" {
	need readelf
	# libcsv: the record reader every program links (src/lib/ldlibs)
	local db='libmariadb libodbc libpq libsqlite3 libsybdb' p want bad=()
	local core=libcsv
	declare -A expect=(
		[conduit-fmt]="$core libjansson"
		[db-load]="$core $db"
		[enroll-diff]=$core
		[lms-fetch]="$core libcurl libjansson"
		[lms-push]="$core libcurl libjansson"
		[rec-hash]="$core libcrypto"
		[sftp-put]="$core libcrypto libcurl"
		[sis-extract]="$core libjansson $db"
		[yaml-json]="$core libjansson libyaml-0"
	)
	for p in "${!expect[@]}"; do
		[ -x "$EDPIPE_BIN/$p" ] || continue
		want=$(printf '%s\n' ${expect[$p]} | sort | tr '\n' ' ' | sed 's/ $//')
		[ "$(needed "$p")" = "$want" ] ||
			bad+=("$p: links '$(needed "$p")', expected '$want'")
	done
	[ "${#bad[@]}" -eq 0 ] || fail "$(printf '%s\n' "${bad[@]}")"
}

@test "the link check sees a library a program does not need" {
	need readelf cc
	printf 'int main(void) { return 0; }\n' >"$BATS_TEST_TMPDIR/t.c"
	cc -o "$BATS_TEST_TMPDIR/t" "$BATS_TEST_TMPDIR/t.c" \
		-Wl,--no-as-needed -ljansson
	EDPIPE_BIN=$BATS_TEST_TMPDIR run needed t
	assert_output libjansson
}

@test "--version lists the backends a program is built with, and only then" {
	run --separate-stderr db-load --version
	assert_success
	assert_output "$(printf '%s\n' 'db-load edpipe 0.1.0' \
		'backends: sqlite postgres mssql mysql odbc')"
	run --separate-stderr sis-extract --version
	assert_output "$(printf '%s\n' 'sis-extract edpipe 0.1.0' \
		'backends: sqlite postgres mssql mysql odbc')"
	local p
	for p in lms-fetch lms-push; do
		run --separate-stderr "$p" --version
		assert_success
		assert_output "$(printf '%s\n' "$p edpipe 0.1.0" \
			'backends: moodle canvas')"
	done
	for p in enroll-diff conduit-fmt rec-hash sftp-put yaml-json; do
		run --separate-stderr "$p" --version
		assert_success
		assert_output "$p edpipe 0.1.0"
	done
}

# compile_line ARGS...: the command make would run to compile one object.
compile_line() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CI -u DEV make -C "$ROOT" \
		--no-print-directory -n -B B="$BATS_TEST_TMPDIR/b" \
		"$BATS_TEST_TMPDIR/b/lib/msg.o" "$@"
}

@test "-Werror for developers and CI, not for a release build" {
	need make
	run compile_line RELEASE=1
	assert_success
	assert_output --partial "-Wall -Wextra"
	refute_output --partial "-Werror"
	run compile_line CI=true
	assert_output --partial "-Werror"
	run compile_line DEV=1
	assert_output --partial "-Werror"
	run compile_line RELEASE=1 CI=true
	refute_output --partial "-Werror"
	# A tree without .git (a release tarball) builds without it.
	mkdir -p "$BATS_TEST_TMPDIR/tarball"
	cp "$ROOT/Makefile" "$BATS_TEST_TMPDIR/tarball/"
	mkdir -p "$BATS_TEST_TMPDIR/tarball/src/lib"
	: >"$BATS_TEST_TMPDIR/tarball/src/lib/msg.c"
	# A clean environment: under make check-asan, B, BIN, CFLAGS ... of
	# the outer make are in it.
	run env -i PATH="$PATH" HOME="$HOME" \
		make -C "$BATS_TEST_TMPDIR/tarball" -n build/lib/msg.o
	assert_success
	refute_output --partial "-Werror"
	if [ -e "$ROOT/.git" ]; then
		run compile_line
		assert_output --partial "-Werror"
	fi
}
