#!/usr/bin/env bats
# .ci/need, what make demo and make check-all run first: dpkg-query says
# what is missing; root installs it with apt-get, another user is told the
# one apt-get line to run and stopped.  apt-get is never really run here:
# a stand-in on PATH records how it was called.

bats_require_minimum_version 1.5.0
load helper

setup() {
	need dpkg-query
	# Outside bats's own directories, which only their owner may enter:
	# the user nobody reads these too.
	pub=$(mktemp -d /tmp/edpipe-need.XXXXXX)
	chmod 755 "$pub"
	lists=$pub/lists
	mkdir -p "$lists" "$pub/fake"
	# Installed on every Debian system, and two that exist nowhere.
	printf '%s\n' '# comment' 'dpkg coreutils  # essential' >"$lists/build"
	printf '%s\n' 'edpipe-test-missing-a' 'bash edpipe-test-missing-b' \
		>"$lists/test"
	cat >"$pub/fake/apt-get" <<-EOS
	#!/bin/sh
	echo "apt-get \$*" >>"$pub/apt.log"
	EOS
	chmod 755 "$pub/fake/apt-get"
	chmod -R a+rX "$pub"
	FAKE_PATH=$pub/fake:$PATH
}

teardown() {
	rm -rf "${pub:?}"
}

# as_nobody CMD...: run CMD as the unprivileged user nobody.
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL PATH="$FAKE_PATH" \
		HOME=/nonexistent "$@"
}

@test "need: everything installed: no apt-get, no output, status 0" {
	PATH=$FAKE_PATH run --separate-stderr "$ROOT/.ci/need" -d "$lists" build
	assert_success
	[ -z "$output" ] && [ -z "$stderr" ]
	[ ! -e "$pub/apt.log" ]
}

@test "need: not root and packages missing: the apt-get line, exit 69" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to become nobody"
	need setpriv
	run --separate-stderr as_nobody "$ROOT/.ci/need" -a 'make demo' \
		-d "$lists" build test
	assert_failure 69
	[ -z "$output" ]
	assert_equal "${stderr_lines[0]}" \
		"need: missing Debian packages (build, test): edpipe-test-missing-a edpipe-test-missing-b"
	assert_equal "${stderr_lines[2]}" \
		"apt-get update && apt-get install -y --no-install-recommends edpipe-test-missing-a edpipe-test-missing-b"
	assert_equal "${stderr_lines[3]}" "need: then run 'make demo' again"
	[ ! -e "$pub/apt.log" ]
}

@test "need: root runs apt-get for the missing ones only, then checks again" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	PATH=$FAKE_PATH run --separate-stderr "$ROOT/.ci/need" -d "$lists" \
		build test
	# The stand-in installs nothing, so the second look still misses them.
	assert_failure 69
	assert_equal "$(cat "$pub/apt.log")" "$(printf '%s\n' \
		'apt-get update -qq' \
		'apt-get install -y -qq --no-install-recommends edpipe-test-missing-a edpipe-test-missing-b')"
	assert_equal "${stderr_lines[-1]}" \
		"need: still not installed after apt-get: edpipe-test-missing-a edpipe-test-missing-b"
}

@test "need: -n lists what is missing and installs nothing" {
	PATH=$FAKE_PATH run --separate-stderr "$ROOT/.ci/need" -n -d "$lists" test
	assert_failure 69
	[[ $stderr == *"missing Debian packages (test): edpipe-test-missing-a edpipe-test-missing-b"* ]]
	[ ! -e "$pub/apt.log" ]
}

@test "need: usage errors and an unknown list" {
	run --separate-stderr "$ROOT/.ci/need"
	assert_failure 2
	run --separate-stderr "$ROOT/.ci/need" -d "$lists" nosuch
	assert_failure 66
	[[ $stderr == "need: no package list '$lists/nosuch'" ]]
}

@test "the shipped lists name packages Debian knows, each in one list" {
	need apt-cache
	local all
	all=$(sed 's/#.*//' "$ROOT"/.ci/packages.d/* | tr -s ' \t' '\n' | sed '/^$/d')
	assert_equal "$(sort <<<"$all" | uniq -d)" ""
	# A name apt has never heard of is a typo (apt-cache needs no network
	# once the lists are there; without lists this says nothing useful).
	[ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ] ||
		skip "no apt lists on this machine"
	local p bad=()
	for p in $all; do
		apt-cache show "$p" >/dev/null 2>&1 || bad+=("$p")
	done
	[ "${#bad[@]}" -eq 0 ] || fail "unknown to apt: ${bad[*]}"
	# The build needs no server.
	! grep -qwE 'postgresql|mariadb-server|openssh-server' \
		"$ROOT/.ci/packages.d/build" "$ROOT/.ci/packages.d/run"
}

@test "make demo as a user without the packages stops at once with the apt-get line" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to become nobody"
	need setpriv make
	printf '%s\n' jq edpipe-test-missing-c >"$lists/run"
	chmod a+r "$lists/run"
	run --separate-stderr as_nobody make -C "$ROOT" --no-print-directory \
		demo PACKAGES_DIR="$lists" BIN="$pub/nobin"
	assert_failure
	[ -z "$output" ]
	[[ $stderr == *"need: missing Debian packages (build, run): edpipe-test-missing-c"* ]]
	[[ $stderr == *"apt-get update && apt-get install -y --no-install-recommends edpipe-test-missing-c"* ]]
	[[ $stderr == *"then run 'make demo' again"* ]]
	# Nothing was built.
	[ ! -e "$pub/nobin" ]
}

@test "make install checks the build packages before building anything; NEED=true skips that" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to become nobody"
	need setpriv make
	printf '%s\n' edpipe-test-missing-d >"$lists/run"
	chmod a+r "$lists/run"
	run --separate-stderr as_nobody make -C "$ROOT" --no-print-directory \
		install PACKAGES_DIR="$lists" DESTDIR="$pub/dest" BIN="$pub/nobin"
	assert_failure
	[ -z "$output" ]
	[[ $stderr == *"apt-get update && apt-get install -y --no-install-recommends edpipe-test-missing-d"* ]]
	[[ $stderr == *"then run 'make install' again"* ]]
	[[ $stderr == *"the build packages are missing"* ]]
	[ ! -e "$pub/nobin" ] && [ ! -e "$pub/dest" ]
	# NEED=true: no check (the make -n shows what install would do).
	run --separate-stderr as_nobody make -C "$ROOT" --no-print-directory -n \
		install NEED=true PACKAGES_DIR="$lists" DESTDIR="$pub/dest"
	assert_success
	[[ $stderr != *"need:"* ]]
	assert_output --partial "$pub/dest/usr/local/bin"
}
