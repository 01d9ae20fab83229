#!/usr/bin/env bats
# The README's table of flags ("One flag vocabulary holds for all
# programs") against the programs themselves: every program the table
# names for a flag lists both spellings in its --help and takes them on
# its command line, no other program's --help shows that flag, and the
# programs of the "FILE ..." row read several inputs in order.

bats_require_minimum_version 1.5.0
load helper

# arg_value ARG: a value each flag's argument can be given here.
arg_value() {
	case $1 in
	FMT) echo ndjson ;;
	FILE) echo out.ndjson ;;
	FIELDS) echo user ;;
	*) echo "no value for $1" >&2; return 1 ;;
	esac
}

# programs README: the names in the first column of the Programs table.
programs() {
	awk '/^## Programs/ { p = 1; next } /^## / { p = 0 }
		p && /^\| [a-z]/ && !/^\| program / { print $2 }' "$1"
}

# flag_rows README: the flag table's rows, "SHORT LONG ARG|PROGRAMS" (ARG
# "-" when none; PROGRAMS a comma list, "all" expanded), one line per
# pair of spellings, and "FILE|PROGRAMS" for the inputs row.
flag_rows() {
	local all
	all=$(programs "$1" | paste -sd, -)
	awk -v all="$all" -F ' [|] ' '
		/^One flag vocabulary holds/ { t = 1; next }
		t && /^\| flag / { next }
		t && /^\|---/ { next }
		t && !/^\|/ { if (n) exit; next }
		t {
			n++
			sub(/^\| /, "", $1); sub(/ \|$/, "", $3)
			progs = $3
			if (progs == "all") progs = all
			if ($1 ~ /^`FILE/) {
				sub(/;.*/, "", progs); gsub(/ /, "", progs)
				print "FILE|" progs
				next
			}
			gsub(/ /, "", progs)
			nf = split($1, part, " / ")
			for (i = 1; i <= nf; i++) {
				s = part[i]; gsub(/`/, "", s); gsub(/,/, "", s)
				split(s, w, " ")
				# A long-only flag (--progress): short is "--".
				if (w[1] ~ /^--/) { w[3] = w[2]; w[2] = w[1]; w[1] = "--" }
				print w[1], w[2], (w[3] == "" ? "-" : w[3]) "|" progs
			}
		}' "$1"
}

# check_table README: prints one line per disagreement; fails if any.
check_table() {
	local readme=$1 row flags progs short long arg p bad=0 all
	all=$(programs "$readme")
	[ -n "$all" ] || { echo "no Programs table in $readme"; return 1; }
	[ "$(flag_rows "$readme" | grep -vc '^FILE|')" -ge 7 ] ||
		{ echo "the flag table was not found in $readme"; return 1; }
	while IFS= read -r row; do
		flags=${row%%|*} progs=${row#*|}
		[ "$flags" != FILE ] || continue
		read -r short long arg <<<"$flags"
		local -a val=()
		[ "$arg" = - ] || val=("$(arg_value "$arg")") || return 1
		for p in $all; do
			local listed=false help
			[[ ",$progs," == *",$p,"* ]] && listed=true
			help=$("$p" --help)
			local spell="$short, $long"
			[ "$short" != -- ] || spell=$long
			if grep -Eq "^ +$spell( |=|$)" <<<"$help"; then
				$listed || { echo "$p: --help shows $spell, the table does not list $p"; bad=1; }
				continue
			fi
			$listed || continue
			echo "$p: --help does not show '$spell' as the table says"
			bad=1
		done
		for p in ${progs//,/ }; do
			command -v "$p" >/dev/null ||
				{ echo "$p: the table names a program that is not built"; bad=1; continue; }
			# Parsed before --help, which then exits 0; an option
			# the program lacks is a usage error (2) instead.
			for f in "$short" "$long"; do
				[ "$f" != -- ] || continue
				if ! out=$(cd "$BATS_TEST_TMPDIR" && "$p" "$f" "${val[@]}" --help 2>&1) ||
					[[ $out != "usage: $p"* ]]; then
					echo "$p: does not take $f ${val[*]}: ${out%%$'\n'*}"
					bad=1
				fi
			done
		done
	done < <(flag_rows "$readme")
	return "$bad"
}

@test "the README's flag table holds for every program's --help and command line" {
	run check_table "$ROOT/README.md"
	assert_success
	[ -z "$output" ]
	# The rows were read: -t for seven programs, -q/-v for all.
	flag_rows "$ROOT/README.md" | grep -qx -- '-t --to FMT|enroll-diff,rec-hash,conduit-fmt,lms-push,lms-fetch,sis-extract,yaml-json'
	[ "$(flag_rows "$ROOT/README.md" | grep -c -- '^-[qv] ')" -eq 2 ]
	flag_rows "$ROOT/README.md" | grep -q -- '^-v --verbose -|sis-extract,lms-fetch,enroll-diff,conduit-fmt,sftp-put,db-load,lms-push,rec-hash,yaml-json$'
}

@test "the check finds a table that says too much or too little" {
	# A program that lacks the flag, and one left out that has it.
	# shellcheck disable=SC2016 # the backquotes are the README's
	sed '/^| `-k`, `--key FIELDS`/s/| enroll-diff, db-load |/| enroll-diff, db-load, sftp-put |/' \
		"$ROOT/README.md" >"$BATS_TEST_TMPDIR/more.md"
	run check_table "$BATS_TEST_TMPDIR/more.md"
	assert_failure
	assert_line "sftp-put: --help does not show '-k, --key' as the table says"
	assert_line "sftp-put: does not take -k user: sftp-put: unknown option '-k'"
	assert_line "sftp-put: does not take --key user: sftp-put: unknown option '--key'"
	[ "${#lines[@]}" -eq 3 ]
	# shellcheck disable=SC2016
	sed '/^| `-n`, `--dry-run`/s/| lms-fetch, lms-push, sftp-put |/| lms-fetch, sftp-put |/' \
		"$ROOT/README.md" >"$BATS_TEST_TMPDIR/less.md"
	run check_table "$BATS_TEST_TMPDIR/less.md"
	assert_failure
	assert_output "lms-push: --help shows -n, --dry-run, the table does not list lms-push"
}

# two_inputs PROG DIR: run PROG on DIR/a.ndjson then stdin (DIR/b.ndjson)
# and print the users it passed on, in order, one a line.
two_inputs() {
	local d=$2
	case $1 in
	rec-hash) rec-hash --algo sha256 --field role "$d/a.ndjson" - <"$d/b.ndjson" |
		jq -r .user ;;
	conduit-fmt) conduit-fmt -t csv "$d/a.ndjson" - <"$d/b.ndjson" |
		tail -n +2 | cut -d, -f3 ;;
	db-load) db-load --db "sqlite:$d/t.db" --table t --create \
		"$d/a.ndjson" - <"$d/b.ndjson" &&
		sqlite3 "$d/t.db" 'SELECT user FROM t ORDER BY rowid' ;;
	lms-push) MOODLE_TOKEN=flag-table-token-5c1 lms-push moodle -n \
		--url http://127.0.0.1:9 "$d/a.ndjson" - <"$d/b.ndjson" 2>&1 |
		grep -o 'values%5B[0-9]%5D=[^&]*' | sed 's/.*=//' ;;
	yaml-json) yaml-json "$d/a.ndjson" - <"$d/b.ndjson" | jq -r .user ;;
	*) echo "no two-input command for $1 in this test" >&2
		return 1 ;;
	esac
}

@test "the programs of the table's 'FILE ...' row read several inputs in order, '-' is stdin" {
	need jq sqlite3
	local d=$BATS_TEST_TMPDIR progs p
	progs=$(flag_rows "$ROOT/README.md" | sed -n 's/^FILE|//p')
	[ "$progs" = rec-hash,conduit-fmt,db-load,lms-push,yaml-json ]
	printf '{"op":"add","course":"C1","user":"u1","role":"student"}\n' >"$d/a.ndjson"
	printf '{"op":"add","course":"C1","user":"u2","role":"student"}\n' >"$d/b.ndjson"
	for p in ${progs//,/ }; do
		# The usage lines: up to the first empty line.
		"$p" --help | sed '/^$/q' | grep -Eq '\[FILE ?\.\.\.\]' ||
			{ echo "$p: --help shows no FILE ..."; false; }
		run two_inputs "$p" "$d"
		[ "$status" -eq 0 ] && [ "$output" = "u1"$'\n'"u2" ] ||
			{ echo "$p: $output"; false; }
	done
}
