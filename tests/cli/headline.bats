#!/usr/bin/env bats
# The README's headline pipeline and enroll-diff(1)'s EXAMPLES, run as
# written: the demo SIS in SQLite, the Moodle test server
# (tests/servers/moodle_server.py) holding the demo's recorded roster,
# and sftp-put writing to a file:// outbox in place of the example host.

bats_require_minimum_version 1.5.0
load helper

TOKEN=moodle-headline-token-3b8e
SNAP=$ROOT/share/demo/moodle-enrollments.ndjson
UNKEYED=$ROOT/share/demo/moodle-enrollments.unkeyed.ndjson

setup_file() {
	need python3 jq curl
	local d=$BATS_FILE_TMPDIR
	"$ROOT/share/demo-sis/make-demo-sis" "$d/sis.db" >/dev/null
	# The Moodle site whose enrolled users are the recorded roster.
	demo_moodle_site "$d/site.json"
	lms_server moodle MPORT "$TOKEN" "$d/site.json"
}

teardown_file() {
	lms_server_stop moodle
}

setup() {
	T=$BATS_TEST_TMPDIR
	# The working directory the README's lines assume.
	mkdir -p "$T/data" "$T/outbox"
	cp "$ROOT/share/demo/moodle-map.json" "$T/data/"
	ln -s "$ROOT/share" "$T/share"
	export SIS_DB=sqlite:$BATS_FILE_TMPDIR/sis.db
	export MOODLE_URL=http://127.0.0.1:$MPORT MOODLE_TOKEN=$TOKEN
	curl -fsS "$MOODLE_URL/_reset" >/dev/null
}

# block FILE: the README's first indented block (the headline).
readme_headline() {
	awk '/^    / { p = 1; sub(/^    /, ""); print; next }
		p { exit }' "$ROOT/README.md"
}

# expected KEY_JQ ROLES: "op,course,user,role" lines that make the Moodle
# roster of ROLES equal desired.ndjson, by sort and comm, not enroll-diff.
expected() {
	local k='[.course, .user, .role] | join(",")' r=$1
	jq -r --arg r "$r" 'select(.role as $x | $r | split(",") |
		index($x)) | '"$k" "$T/desired.ndjson" | sort >"$T/want"
	jq -r --arg r "$r" 'select(.role as $x | $r | split(",") |
		index($x)) | '"$k" "$SNAP" | sort >"$T/have"
	{
		comm -23 "$T/want" "$T/have" | sed 's/^/add,/'
		comm -13 "$T/want" "$T/have" | sed 's/^/drop,/'
	} | sort
}

@test "the README headline runs as written and uploads exactly the changes" {
	readme_headline >"$T/headline.sh"
	grep -q '^sis-extract ' "$T/headline.sh"
	grep -q '^lms-fetch moodle enrollments ' "$T/headline.sh"
	grep -q '^enroll-diff ' "$T/headline.sh"
	# Only the upload's destination changes: a local drop directory.
	sed -i "s|sftp://conduit@sftp.example.edu/incoming/enroll.csv|file://$T/outbox/enroll.csv|" \
		"$T/headline.sh"
	cd "$T"
	run --separate-stderr bash -e -o pipefail "$T/headline.sh"
	assert_success
	[ -z "$output" ]
	# No drop refused, no re-keying: both sides named users alike.
	[[ "$stderr" != *refusing* ]]
	[[ "$stderr" == *"1 enrollment of users without idnumber left out"* ]]
	jq -e -s 'length > 150 and all(.user | test("^[0-9T]"))' \
		"$T/actual.ndjson"
	assert_equal "$(head -n 1 "$T/outbox/enroll.csv")" \
		"action,shortname,idnumber,role"
	diff -u <(expected student,auditingstudent) \
		<(tail -n +2 "$T/outbox/enroll.csv" | sort)
	[ "$(grep -c '^add,' "$T/outbox/enroll.csv")" -eq 8 ]
	[ "$(grep -c '^drop,' "$T/outbox/enroll.csv")" -eq 4 ]
}

@test "before --user-key, the same lines keyed Moodle by username and refused every drop" {
	# What issue 17 saw: lms-fetch --user-key username (the old
	# behaviour) makes every enrollment an add and a drop.
	cd "$T"
	sis-extract --db "$SIS_DB" \
		--query share/queries/powercampus-enrollments.sql \
		--param year=2021 --param term=WINTER \
		--mapping data/moodle-map.json >desired.ndjson
	lms-fetch moodle enrollments --mapping data/moodle-map.json \
		--user-key username >actual.ndjson
	run --separate-stderr enroll-diff --roles student,auditingstudent \
		desired.ndjson actual.ndjson
	assert_failure 3
	[ -z "$output" ]
	[[ "$stderr" == *"refusing"* ]]
}

@test "enroll-diff(1) EXAMPLES: --roles student desired.csv actual.ndjson" {
	need mandoc col
	cd "$T"
	sis-extract --db "$SIS_DB" \
		--query share/queries/powercampus-enrollments.sql \
		--param year=2021 --param term=WINTER \
		--mapping data/moodle-map.json -t csv >desired.csv
	lms-fetch moodle enrollments --mapping data/moodle-map.json \
		>actual.ndjson
	# The example as the man page shows it.
	mandoc -Tascii "$ROOT/man/enroll-diff.1" | col -b |
		awk '/^EXAMPLES/ { e = 1; next } e && /enroll-diff --roles student desired.csv/ { p = 1 }
			p { sub(/^[ \t]+/, ""); print; if (!/\\$/) exit }' >example.sh
	grep -q '^enroll-diff --roles student desired.csv actual.ndjson' example.sh
	run --separate-stderr bash -e -o pipefail example.sh
	assert_success
	sis-extract --db "$SIS_DB" \
		--query share/queries/powercampus-enrollments.sql \
		--param year=2021 --param term=WINTER \
		--mapping data/moodle-map.json >desired.ndjson
	diff -u <(expected student) <(tail -n +2 enroll.csv | sort)
	[ "$(tail -n +2 enroll.csv | grep -vc ',student$')" -eq 0 ]
	[ "$(wc -l <enroll.csv)" -gt 1 ]
}
