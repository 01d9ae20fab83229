#!/usr/bin/env bats
# scripts/demo (what `make demo` runs): the sync pipeline on the demo SIS
# and the recorded Moodle roster, with no server, into a local outbox.

bats_require_minimum_version 1.5.0
load helper

@test "the demo runs end to end with no server and says what it did" {
	need python3 jq flock
	local d=$BATS_TEST_TMPDIR/demo
	run --separate-stderr env -u EDPIPE_CONF "$ROOT/scripts/demo" "$d"
	assert_success
	[ -z "$stderr" ]
	assert_output --partial "8 adds and 4 drops written to $d/outbox/enrollments.csv"
	assert_output --partial "jq -c 'select(.op == \"drop\")' $d/work/runs/"
	# The outbox holds the Conduit file, the same as the run's copy.
	[ "$(ls -A "$d/outbox")" = enrollments.csv ]
	local run
	run=$(cd "$d/work/last" && pwd -P)
	cmp "$d/outbox/enrollments.csv" "$run/enrollments.csv"
	assert_equal "$(head -n 1 "$d/outbox/enrollments.csv")" \
		"action,shortname,idnumber,role"
	[ "$(grep -c '^add,' "$d/outbox/enrollments.csv")" -eq 8 ]
	[ "$(grep -c '^drop,' "$d/outbox/enrollments.csv")" -eq 4 ]
	# Every add is in the SIS and not in the recorded Moodle roster, every
	# drop the other way round: checked here with jq, not enroll-diff.
	local k='[.course, .user, .role] | join(",")'
	jq -r "$k" "$run/desired.ndjson" | sort >"$d/want"
	jq -r 'select(.idnumber != "" and (.role == "student" or .role ==
		"auditingstudent")) | .user = .idnumber | '"$k" \
		"$ROOT/share/demo/moodle-enrollments.ndjson" | sort >"$d/have"
	diff -u <({ comm -23 "$d/want" "$d/have" | sed 's/^/add,/'
		comm -13 "$d/want" "$d/have" | sed 's/^/drop,/'; } | sort) \
		<(tail -n +2 "$d/outbox/enrollments.csv" | sort)
	jq -e '.status == "ok" and .uploaded' "$run/status.json"
	# The audit line it points to names the run and why the drop was made.
	local cmd
	cmd=$(printf '%s\n' "$output" | grep -A1 '^When and why a student was dropped' |
		tail -n 1)
	[[ $cmd == "   $ROOT/scripts/audit -w $d/work "* ]]
	# shellcheck disable=SC2086 # the command line as printed
	run --separate-stderr $cmd
	assert_success
	assert_line --index 1 --partial "  drop  "
	assert_line --index 1 --partial "absent from SIS extract of run ${run##*/}; LMS enrollment course_id="
	# A second run replaces the outbox file atomically and keeps both runs.
	run --separate-stderr "$ROOT/scripts/demo" "$d"
	assert_success
	[ "$(ls "$d/work/runs" | wc -l)" -eq 2 ]
	[ "$(ls -A "$d/outbox")" = enrollments.csv ]
}

@test "the recorded Moodle roster is what make-lms-snapshot makes from the demo data" {
	need python3 jq
	local d=$BATS_TEST_TMPDIR
	"$ROOT/share/demo-sis/make-demo-sis" "$d/sis.db"
	sis-extract --db "sqlite:$d/sis.db" \
		--query "$ROOT/share/queries/powercampus-enrollments.sql" \
		--param year=2021 --param term=WINTER \
		--mapping "$ROOT/share/demo/moodle-map.json" >"$d/desired.ndjson"
	"$ROOT/share/demo/make-lms-snapshot" "$d/sis.db" "$d/unkeyed.ndjson" \
		<"$d/desired.ndjson" >"$d/snap.ndjson"
	cmp "$d/snap.ndjson" "$ROOT/share/demo/moodle-enrollments.ndjson"
	cmp "$d/unkeyed.ndjson" \
		"$ROOT/share/demo/moodle-enrollments.unkeyed.ndjson"
}

@test "demo: -h prints its usage, an unknown option exits 2" {
	run --separate-stderr "$ROOT/scripts/demo" -h
	assert_success
	assert_output --partial "usage: demo [DIR]"
	run --separate-stderr "$ROOT/scripts/demo" --bogus
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"demo: unknown option '--bogus'"* ]]
}
