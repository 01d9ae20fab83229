#!/usr/bin/env bats
# Every program in $EDPIPE_BIN has a manual page, man/PROG.1 (mdoc), that
# mandoc finds clean and that lists the same long options as --help.

bats_require_minimum_version 1.5.0
load helper

# help_options PROG: the long options named in PROG --help, one a line.
help_options() {
	"$EDPIPE_BIN/$1" --help | grep -oE -- '(^|[^[:alnum:]-])--[a-z][a-z0-9-]*' |
		sed 's/^[^-]*//' | sort -u
}

# man_options PAGE: the long options of an mdoc page (`Fl -name` or
# `Fl \-name`, as a macro line or inside one), leaving out EXAMPLES and
# SEE ALSO, where other programs' options appear.
man_options() {
	sed 's/\\-/-/g' "$1" |
		awk '/^\.Sh /{skip = ($2 == "EXAMPLES" || $0 ~ /^\.Sh SEE ALSO/)}
		!skip' |
		grep -oE '(^\.|[[:space:]])Fl -[a-z][a-z0-9-]*' |
		sed 's/.*Fl -/--/' | sort -u
}

programs() {
	local p
	for p in "$EDPIPE_BIN"/*; do
		[ -x "$p" ] && [ -f "$p" ] && basename "$p"
	done
}

@test "every program has a manual page" {
	local p missing=()
	[ -n "$(programs)" ]
	for p in $(programs); do
		[ -f "$ROOT/man/$p.1" ] || missing+=("$p")
	done
	[ "${#missing[@]}" -eq 0 ] || fail "no man page for: ${missing[*]}"
}

@test "mandoc -Tlint -W warning is clean for every page" {
	need mandoc
	local p bad=()
	for p in $(programs); do
		[ -f "$ROOT/man/$p.1" ] || continue
		if ! out=$(mandoc -Tlint -W warning "$ROOT/man/$p.1" 2>&1) ||
			[ -n "$out" ]; then
			bad+=("$p: $out")
		fi
	done
	[ "${#bad[@]}" -eq 0 ] || fail "$(printf '%s\n' "${bad[@]}")"
}

# --no-progress, the common negation of --progress (src/lib/cli.h), may be
# documented or not on either side; any other difference is a mismatch.
@test "each page lists the same long options as the program's --help" {
	local p bad=() d
	for p in $(programs); do
		[ -f "$ROOT/man/$p.1" ] || continue
		if ! d=$(diff <(help_options "$p" | grep -vx -- --no-progress) \
			<(man_options "$ROOT/man/$p.1" | grep -vx -- --no-progress)); then
			bad+=("$p (< --help only, > man page only):" "$d")
		fi
	done
	[ "${#bad[@]}" -eq 0 ] || fail "$(printf '%s\n' "${bad[@]}")"
}

@test "the option comparison finds a difference when there is one" {
	printf '%s\n' '.Sh OPTIONS' '.Bl -tag -width Ds' '.It Fl -alpha' \
		'.It Fl o , Fl \-beta\-two Ar x' '.Op Fl -gamma' '.El' \
		'.Sh EXAMPLES' '.Dl other Fl -delta' '.Sh SEE ALSO' 'Fl -eps' \
		'.Sh CAVEATS' 'Use Fl -zeta .' >"$BATS_TEST_TMPDIR/t.1"
	run man_options "$BATS_TEST_TMPDIR/t.1"
	assert_output "$(printf '%s\n' --alpha --beta-two --gamma --zeta)"
}
