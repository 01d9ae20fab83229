#!/usr/bin/env bats
# scripts/clever-sections with CLEVER_FILES and ONEROSTER_URL: the whole
# Clever roster (schools, students, teachers, sections, enrollments) and
# the OneRoster 1.1 CSV bulk package, from the PowerSchool-shaped SQLite
# database (tests/fixtures/clever-sections/powerschool.sql and
# powerschool-roster.sql) to a real sshd (tests/servers/sshd.sh).  Every
# file's header is checked against the published column lists
# (tests/fixtures/conduit-fmt/roster-headers.txt).

bats_require_minimum_version 1.5.0
load helper
load dbservers

SCRIPT=$ROOT/scripts/clever-sections
SRV=$ROOT/tests/servers/sshd.sh

setup_file() {
	need python3 jq flock ssh-keygen sqlite3 zip unzip
	sqlite3 "$BATS_FILE_TMPDIR/fx.db" <"$FIX/clever-sections/powerschool.sql"
	sqlite3 "$BATS_FILE_TMPDIR/fx.db" \
		<"$FIX/clever-sections/powerschool-roster.sql"
	export S=$BATS_FILE_TMPDIR/srv
	"$SRV" start "$S"
	# One whole run that the tests which only read its files share (the
	# machine is small): its outbox, work directory and stderr.
	export FULL=$BATS_FILE_TMPDIR/full
	mkdir -p "$FULL/clever"
	conf "$FULL/clever" "$FULL/work" >"$FULL/clever.env"
	"$SCRIPT" -c "$FULL/clever.env" --date 2025-09-02 \
		>"$FULL/stdout" 2>"$FULL/stderr" || echo $? >"$FULL/failed"
}

# conf OUTBOX WORKDIR: the configuration of a whole run.
conf() {
	local url
	url=sftp://$(id -un)@127.0.0.1:$(cat "$S/port")$1
	cat <<EOF
SIS_DB=sqlite:$BATS_FILE_TMPDIR/fx.db
CLEVER_SUBJECT_MAP=$ROOT/scripts/examples/clever-subjects.json
CLEVER_TWO_DIGIT_GRADE_SCHOOLS=10
CLEVER_FILES="schools students teachers sections enrollments"
ONEROSTER_URL=$url/oneroster.zip
SFTP_URL=$url/sections.csv
SFTP_KNOWN_HOSTS=$S/known_hosts
SFTP_IDENTITY=$S/id_ed25519
EDPIPE_WORK_DIR=$2
EOF
}

# full: the shared run succeeded; its outbox in $OUTBOX, work directory
# in $W, stderr in $stderr.
full() {
	[ ! -e "$FULL/failed" ] || { cat "$FULL/stderr"; false; }
	OUTBOX=$FULL/clever W=$FULL/work
	stderr=$(cat "$FULL/stderr")
	[ ! -s "$FULL/stdout" ]
}

teardown_file() {
	[ -z "${S:-}" ] || "$SRV" stop "$S"
}

setup() {
	T=$BATS_TEST_TMPDIR
	OUTBOX=$T/clever
	W=$T/work
	mkdir -p "$OUTBOX"
	cd "$T"
	URL=sftp://$(id -un)@127.0.0.1:$(cat "$S/port")$OUTBOX
	CONF=$T/clever.env
	conf "$OUTBOX" "$W" >"$CONF"
	unset EDPIPE_CONF SIS_PASSWORD
}

# spec FILE: the published header of FILE.
spec() {
	awk -v f="$1" '$1 == f { print $2 }' "$FIX/conduit-fmt/roster-headers.txt"
}

# col FILE COLUMN [KEYCOL VALUE]: COLUMN of the rows of FILE (where
# KEYCOL is VALUE), one line each, as a CSV reader reads them.
col() {
	python3 - "$@" <<'PY'
import csv, sys
f, c = sys.argv[1:3]
with open(f, encoding="utf-8", newline="") as fp:
    for r in csv.DictReader(fp):
        if len(sys.argv) < 5 or r[sys.argv[3]] == sys.argv[4]:
            print(r[c])
PY
}

# nothing_sent: the outbox is as it was, empty, and the run says so.
nothing_sent() {
	[ -z "$(ls -A "$OUTBOX")" ]
	jq -e '.status == "failed" and .uploaded == false' "$W/last/status.json"
}

@test "all five Clever files and the OneRoster package reach the server, each with its published header" {
	full
	for f in schools students teachers sections enrollments; do
		[ "$(head -n 1 "$OUTBOX/$f.csv")" = "$(spec "$f.csv")" ]
	done
	[[ "$stderr" == *"uploaded schools.csv students.csv teachers.csv sections.csv enrollments.csv oneroster.zip (9 sections"* ]]
	# The zip holds the seven files and nothing else, flat.
	unzip -Z1 "$OUTBOX/oneroster.zip" | sort >names
	printf '%s\n' academicSessions.csv classes.csv courses.csv \
		enrollments.csv manifest.csv orgs.csv users.csv >want
	diff -u want names
	unzip -l "$OUTBOX/oneroster.zip" | grep -q ' 7 files$'
	mkdir or && (cd or && unzip -q "$OUTBOX/oneroster.zip")
	for f in manifest orgs academicSessions courses classes users; do
		[ "$(head -n 1 "or/$f.csv")" = "$(spec "$f.csv")" ]
	done
	[ "$(head -n 1 or/enrollments.csv)" = "$(spec oneroster-enrollments.csv)" ]
	# Bulk: status and dateLastModified blank in every row of every file.
	for f in orgs academicSessions courses classes users enrollments; do
		[ -z "$(col "or/$f.csv" status | sort -u)" ]
		[ -z "$(col "or/$f.csv" dateLastModified | sort -u)" ]
	done
	jq -e '.status == "ok" and .uploaded and .counts.schools == 3 and
		.counts.students == 5 and .counts.enrollments == 7 and
		.counts.oneroster_users == 16' "$W/last/status.json"
}

@test "the manifest says OneRoster 1.1, the six files bulk and the others absent" {
	full
	unzip -p "$OUTBOX/oneroster.zip" manifest.csv >m
	[ "$(col m value propertyName manifest.version)" = 1.0 ]
	[ "$(col m value propertyName oneroster.version)" = 1.1 ]
	for f in academicSessions classes courses enrollments orgs users; do
		[ "$(col m value propertyName "file.$f")" = bulk ]
	done
	for f in categories classResources courseResources demographics \
		lineItems resources results; do
		[ "$(col m value propertyName "file.$f")" = absent ]
	done
	# Nothing is named twice.
	[ -z "$(col m propertyName | sort | uniq -d)" ]
}

@test "a school with no sections is in schools.csv and orgs.csv, with a warning" {
	full
	[[ "$stderr" == *"warning: school 40: no sections in any term of its year"* ]]
	[ "$(col "$OUTBOX/schools.csv" School_name School_id 40)" = "East Elementary" ]
	[ "$(col "$OUTBOX/schools.csv" Low_grade School_id 40)" = Kindergarten ]
	[ -z "$(col "$OUTBOX/sections.csv" Section_id School_id 40)" ]
	unzip -p "$OUTBOX/oneroster.zip" orgs.csv >orgs.csv
	[ "$(col orgs.csv type sourcedId 40)" = school ]
}

@test "a teacher of several schools: a teachers.csv row per school, one OneRoster user with both orgs" {
	full
	[ "$(col "$OUTBOX/teachers.csv" School_id Teacher_id 9004 | sort | tr '\n' ' ')" = "10 20 " ]
	unzip -p "$OUTBOX/oneroster.zip" users.csv >users.csv
	[ "$(col users.csv orgSourcedIds sourcedId t9004)" = "10,20" ]
	grep -q '^t9004,,,true,"10,20",teacher,' users.csv
	# And enrolled as a teacher in a class of each school.
	unzip -p "$OUTBOX/oneroster.zip" enrollments.csv >e.csv
	[ "$(col e.csv schoolSourcedId userSourcedId t9004 | sort -u | tr '\n' ' ')" = "10 20 " ]
}

@test "values with commas are quoted in every file; drops and students who left are not enrolled" {
	full
	grep -qF '20,"South Middle School, Annex",20,' "$OUTBOX/schools.csv"
	grep -qF ',"Smith, Jr.",J,Liam,11,M,11/02/2008,' "$OUTBOX/students.csv"
	[ "$(col "$OUTBOX/students.csv" Last_name Student_id 5002)" = "Smith, Jr." ]
	unzip -p "$OUTBOX/oneroster.zip" classes.csv >c.csv
	[ "$(col c.csv title sourcedId 102)" = "Art & Design, Studio - 2" ]
	# 5002 dropped section 103 (cc.sectionid negated); 5003 left (status 2).
	[ "$(col "$OUTBOX/enrollments.csv" Section_id Student_id 5002)" = 102 ]
	[ -z "$(col "$OUTBOX/enrollments.csv" Section_id Student_id 5003)" ]
	[ -z "$(col "$OUTBOX/students.csv" Student_id Student_id 5003)" ]
	# Every enrollment names a class, a user and an org of the package.
	mkdir or && (cd or && unzip -q "$OUTBOX/oneroster.zip")
	python3 - or <<'PY'
import csv, sys, os
d = sys.argv[1]
def ids(f, c="sourcedId"):
    with open(os.path.join(d, f), encoding="utf-8", newline="") as fp:
        return {r[c] for r in csv.DictReader(fp)}
with open(os.path.join(d, "enrollments.csv"), encoding="utf-8", newline="") as fp:
    for r in csv.DictReader(fp):
        assert r["classSourcedId"] in ids("classes.csv"), r
        assert r["userSourcedId"] in ids("users.csv"), r
        assert r["schoolSourcedId"] in ids("orgs.csv"), r
with open(os.path.join(d, "classes.csv"), encoding="utf-8", newline="") as fp:
    for r in csv.DictReader(fp):
        assert r["courseSourcedId"] in ids("courses.csv"), r
        for t in r["termSourcedIds"].split(","):
            assert t in ids("academicSessions.csv"), r
PY
}

@test "CLEVER_FILES=none: the OneRoster package alone, no SFTP_URL needed" {
	grep -v -e '^SFTP_URL=' -e '^CLEVER_FILES=' "$CONF" >c2
	echo CLEVER_FILES=none >>c2
	run --separate-stderr "$SCRIPT" -c c2 --date 2025-09-02
	assert_success
	[ "$(ls "$OUTBOX")" = oneroster.zip ]
	[[ "$stderr" == *"uploaded oneroster.zip (9 sections"* ]]
}

@test "a bad record in one file: status 65, the record named, nothing sent, no package" {
	cp "$BATS_FILE_TMPDIR/fx.db" "$T/bad.db"
	sqlite3 "$T/bad.db" "UPDATE students SET last_name = NULL WHERE id = 5006"
	run --separate-stderr env SIS_DB="sqlite:$T/bad.db" \
		CLEVER_TERMS="10:3502 20:3501" "$SCRIPT" -c "$CONF"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"roster-students.ndjson:5: missing field 'Last_name' (required in clever-students)"* ]]
	[[ "$stderr" == *"step 'conduit-fmt-students' failed with exit status 65; nothing uploaded"* ]]
	nothing_sent
	[ ! -e "$W/last/oneroster.zip" ]
	# A course with no name: classes and courses need a title.  Clever's
	# files were all built; none is sent, and there is no package.
	cp "$BATS_FILE_TMPDIR/fx.db" "$T/bad.db"
	sqlite3 "$T/bad.db" "UPDATE courses SET course_name = NULL WHERE course_number = 'BIO'"
	run --separate-stderr env SIS_DB="sqlite:$T/bad.db" \
		CLEVER_TERMS="10:3502 20:3501" "$SCRIPT" -c "$CONF"
	assert_failure 65
	[[ "$stderr" == *"courses.ndjson:1: missing field 'title' (required in oneroster-courses)"* ]]
	[ -s "$W/last/out/enrollments.csv" ]
	[ ! -e "$W/last/oneroster.zip" ]
	nothing_sent
}

@test "an upload that fails after others names what was sent" {
	# The package's directory does not exist on the server.
	sed -i "s|^ONEROSTER_URL=.*|ONEROSTER_URL=$URL/missing/oneroster.zip|" "$CONF"
	run --separate-stderr env CLEVER_TERMS="10:3502 20:3501" "$SCRIPT" -c "$CONF"
	assert_failure 78
	[[ "$stderr" == *"sending oneroster.zip failed (exit status 78) after schools.csv students.csv teachers.csv sections.csv enrollments.csv had been sent; the rest NOT uploaded"* ]]
	jq -e '.status == "failed" and .uploaded == false' "$W/last/status.json"
}

@test "bad configuration: CLEVER_FILES word, ONEROSTER_URL not a zip, nothing to send" {
	run --separate-stderr env CLEVER_FILES="schools staff" "$SCRIPT" -c "$CONF"
	assert_failure 78
	[[ "$stderr" == *"CLEVER_FILES: 'staff' is not one of schools, students, teachers, sections, enrollments (or none)"* ]]
	run --separate-stderr env ONEROSTER_URL="$URL/roster.csv" "$SCRIPT" -c "$CONF"
	assert_failure 78
	[[ "$stderr" == *"ONEROSTER_URL must name a .zip file: 'roster.csv'"* ]]
	grep -v '^ONEROSTER_URL=' "$CONF" >c2
	run --separate-stderr env CLEVER_FILES=none "$SCRIPT" -c c2
	assert_failure 78
	[[ "$stderr" == *"CLEVER_FILES is none and ONEROSTER_URL is not set: nothing to send"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
}

@test "dry run: every file built, none sent" {
	run --separate-stderr env CLEVER_TERMS="10:3502 20:3501" "$SCRIPT" -c "$CONF" -n
	assert_success
	[[ "$stderr" == *"dry run: schools.csv students.csv teachers.csv sections.csv enrollments.csv oneroster.zip NOT uploaded"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
	[ -s "$W/last/oneroster.zip" ]
}

@test "through the SQLite ODBC driver (PowerSchool is Oracle, reached by ODBC): the same files" {
	odbc_driver "SQLite3 test" libsqlite3odbc.so libsqliteodbc
	full
	local ref=$OUTBOX
	OUTBOX=$T/clever W=$T/work
	run --separate-stderr env \
		SIS_DB="odbc:Driver=SQLite3 test;Database=$BATS_FILE_TMPDIR/fx.db" \
		"$SCRIPT" -c "$CONF" --date 2025-09-02
	assert_success
	for f in schools students teachers sections enrollments; do
		diff -u "$ref/$f.csv" "$OUTBOX/$f.csv"
	done
	mkdir a b
	(cd a && unzip -q "$ref/oneroster.zip")
	(cd b && unzip -q "$OUTBOX/oneroster.zip")
	diff -ru a b
}
