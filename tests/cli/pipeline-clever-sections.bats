#!/usr/bin/env bats
# scripts/clever-sections end to end: the demo PowerSchool database in
# SQLite and a real sshd (tests/servers/sshd.sh) standing in for Clever;
# the seed's rules, term discovery and term ids shared between schools
# from a small PowerSchool-shaped database built from
# tests/fixtures/clever-sections/powerschool.sql.

bats_require_minimum_version 1.5.0
load helper

SCRIPT=$ROOT/scripts/clever-sections
SRV=$ROOT/tests/servers/sshd.sh

setup_file() {
	need python3 jq flock ssh-keygen sqlite3
	"$ROOT/share/demo-sis/make-demo-sis" --kind powerschool \
		"$BATS_FILE_TMPDIR/ps.db"
	sqlite3 "$BATS_FILE_TMPDIR/fx.db" <"$FIX/clever-sections/powerschool.sql"
	export S=$BATS_FILE_TMPDIR/srv
	"$SRV" start "$S"
}

teardown_file() {
	[ -z "${S:-}" ] || "$SRV" stop "$S"
}

setup() {
	T=$BATS_TEST_TMPDIR
	OUTBOX=$T/clever
	W=$T/work
	DB=$BATS_FILE_TMPDIR/ps.db
	mkdir -p "$OUTBOX"
	CONF=$T/clever.env
	cat >"$CONF" <<EOF
SIS_DB=sqlite:$DB
CLEVER_TERMS="5:104 10:106 10:107 999:110"
CLEVER_SUBJECT_MAP=$ROOT/scripts/examples/clever-subjects.json
CLEVER_TWO_DIGIT_GRADE_SCHOOLS=5,10
SFTP_URL=sftp://$(id -un)@127.0.0.1:$(cat "$S/port")$OUTBOX/sections.csv
SFTP_KNOWN_HOSTS=$S/known_hosts
SFTP_IDENTITY=$S/id_ed25519
EDPIPE_WORK_DIR=$W
EOF
	# The same against the fixture database, terms left to the script.
	FX=$T/fx.env
	grep -v -e '^SIS_DB=' -e '^CLEVER_TERMS=' "$CONF" >"$FX"
	echo "SIS_DB=sqlite:$BATS_FILE_TMPDIR/fx.db" >>"$FX"
	CSV=$OUTBOX/sections.csv
	unset EDPIPE_CONF SIS_PASSWORD
}

# cell SECTION COLUMN [FILE]: the value of COLUMN in the row of SECTION
# (Section_id) of the CSV file (default $CSV), once per such row.
cell() {
	python3 - "${3:-$CSV}" "$1" "$2" <<'PY'
import csv, sys
f, sec, col = sys.argv[1:4]
with open(f, encoding="utf-8", newline="") as fp:
    for r in csv.DictReader(fp):
        if r["Section_id"] == sec:
            print(r[col])
PY
}

# sections [FILE]: the Section_id column of the CSV file, sorted, on one
# line.
sections() {
	python3 - "${1:-$CSV}" <<'PY'
import csv, sys
with open(sys.argv[1], encoding="utf-8", newline="") as fp:
    print(" ".join(sorted((r["Section_id"] for r in csv.DictReader(fp)),
                          key=int)))
PY
}

# failed STEP STATUS MESSAGE: the run failed in STEP and sent nothing.
failed() {
	assert_failure "$2"
	[ -z "$output" ]
	[[ "$stderr" == *"clever-sections: $3"* ]]
	[ ! -e "$OUTBOX/sections.csv" ] || [ "$(cat "$OUTBOX/sections.csv")" = old ]
	jq -e --arg s "$1" --argjson x "$2" '.status == (if $x == 3 then "refused" else "failed" end) and
		.exit == $x and .failed_step == $s and .uploaded == false' \
		"$W/last/status.json"
}

@test "end to end: every section of the configured terms reaches the server, quoted" {
	run --separate-stderr "$SCRIPT" -c "$CONF"
	assert_success
	[ -z "$output" ]
	cmp "$OUTBOX/sections.csv" "$W/last/sections.csv"
	cmp "$OUTBOX/sections.csv" "$W"/log/clever-sections-*.csv
	# One row per section, counted by the sqlite3 shell.
	want=$(sqlite3 "$DB" "SELECT count(*) FROM sections WHERE
		(schoolid, termid) IN (VALUES (5, 104), (10, 106), (10, 107))")
	[ "$want" -gt 0 ]
	[ "$(($(wc -l <"$OUTBOX/sections.csv") - 1))" -eq "$want" ]
	[[ "$stderr" == *"clever-sections: $want sections uploaded to sftp://"* ]]
	head -n 1 "$OUTBOX/sections.csv" |
		grep -q '^School_id,Section_id,Teacher_id,Teacher_2_id,'
	# A course name holding a comma is quoted, not split (D118's bug).
	name=$(sqlite3 "$DB" "SELECT c.course_name FROM sections s JOIN courses c
		USING (course_number) WHERE c.course_name LIKE '%,%' AND
		(s.schoolid, s.termid) IN (VALUES (5, 104), (10, 106), (10, 107))
		LIMIT 1")
	[ -z "$name" ] || grep -qF "\"$name\"" "$OUTBOX/sections.csv"
	# The school with no sections in its term is named, not skipped silently.
	[[ "$stderr" == *"warning: school 999, term 110: no sections"* ]]
	# Every subject went through the map: none left blank.
	[[ "$stderr" != *"subject Clever does not know"* ]]
	jq -e '.status == "ok" and .uploaded' "$W/last/status.json"
}

@test "term ids shared by two schools: each section once, with its own school's term" {
	run --separate-stderr env CLEVER_TERMS="10:3501 20:3501" \
		"$SCRIPT" -c "$FX"
	assert_success
	[ "$(sections)" = "101 102 201 205" ]
	# One record per section teacher: 102 has two, the others one.
	[ "$(grep -c . "$W/last/sections.ndjson")" -eq 5 ]
	# Term 3501 is S1 in school 10 and Q1 in school 20.
	[ "$(cell 101 Term_start)" = 08/18/2025 ]
	[ "$(cell 101 Term_end)" = 01/09/2026 ]
	[ "$(cell 201 Term_start)" = 08/20/2025 ]
	[ "$(cell 201 Term_end)" = 10/24/2025 ]
	[ "$(cell 205 Term_end)" = 10/24/2025 ]
	jq -e '.status == "ok" and .uploaded' "$W/last/status.json"
}

@test "a section without a teacher is sent with empty teacher columns, warned and counted" {
	run --separate-stderr env CLEVER_TERMS="10:3500 20:3500" \
		"$SCRIPT" -c "$FX"
	assert_success
	[ "$(sections)" = "104 203 204" ]
	for c in Teacher_id Teacher_2_id Teacher_10_id; do
		[ "$(cell 104 "$c")" = "" ]
	done
	[ "$(cell 104 Course_name)" = Homeroom ]
	[ "$(cell 203 Teacher_id)" = 9007 ]
	[[ "$stderr" == *"section '104' (school '10') has no teacher: written with empty teacher columns"* ]]
	[[ "$stderr" == *"clever-sections: warning: 1 section(s) without a teacher sent"* ]]
	jq -e '.status == "ok" and .uploaded and .counts.sections == 3 and
		.counts.teacherless_sections == 1' "$W/last/status.json"
	tail -n 1 "$W/history.ndjson" | jq -e '.counts.teacherless_sections == 1'
}

# One run for both (the machine is small): what the date chose, then the
# whole file it made and each of the seed's rules in it.
@test "no CLEVER_TERMS, dated 2025-09-02: every term of 2025-26 of every reporting school; the seed's rules, from a PowerSchool-shaped database: the whole file" {
	run --separate-stderr "$SCRIPT" -c "$FX" --date 2025-09-02
	assert_success
	# Not 105 (2024-25), 106 (2026-27), 206 (2024-25) nor 301 (school 30
	# is excluded from state reporting).
	[ "$(sections)" = "101 102 103 104 201 202 203 204 205" ]
	jq -e -s 'map("\(.school) \(.chosen) \(.year_abbreviation) \(.terms)") ==
		["10 current 25-26 [3500,3501,3502]",
		 "20 current 25-26 [3500,3501,3502]"]' "$W/last/terms.ndjson"
	# Term 3500 of school 10 is a year term with one section, 3500 of
	# school 20 has two: no term is taken for another school's.
	[ "$(cell 203 Term_start)" = 08/20/2025 ]
	[ "$(cell 104 Term_start)" = 08/18/2025 ]
	[[ "$stderr" != *"no sections"* ]]
	[[ "$stderr" != *"between years"* ]]
	grep -q "school 10: 2025-09-02 is in year 25-26 (2025-08-18 to 2026-06-03): terms 3500 3501 3502" \
		"$W/last/run.log"
	jq -e '.status == "ok" and .uploaded and .counts.sections == 9' \
		"$W/last/status.json"
	# the seed's rules, from a PowerSchool-shaped database: the whole file
	diff -u "$FIX/clever-sections/sections-2025-09-02.csv" "$CSV"
	# Each rule, by name (the file above holds them all):
	# period without its track, and none when there is no expression;
	[ "$(cell 101 Period)" = 1 ]
	[ "$(cell 102 Period)" = 2 ]
	[ "$(cell 104 Period)" = "" ]
	# dates MM/DD/YYYY;
	[ "$(cell 103 Term_start)/$(cell 103 Term_end)" = 01/12/2026/06/03/2026 ]
	# grades: multi-grade numbers as ranges (912 is 9-12, not 9-2), 0 is
	# Kindergarten (the seed wrote it blank), below 0 Preschool, 11 a
	# grade in school 10 (CLEVER_TWO_DIGIT_GRADE_SCHOOLS), 12 is 1-2 in
	# school 20;
	[ "$(cell 102 Grade)" = 9-12 ]
	[ "$(cell 201 Grade)" = 6-8 ]
	[ "$(cell 203 Grade)" = Kindergarten ]
	[ "$(cell 204 Grade)" = Preschool ]
	[ "$(cell 103 Grade)" = 11 ]
	[ "$(cell 205 Grade)" = 1-2 ]
	# at most 10 teachers, lead first, co-teachers, then support staff:
	# the eleventh is named in a warning and left out;
	[ "$(cell 103 Teacher_id)" = 9001 ]
	[ "$(cell 103 Teacher_10_id)" = 9002 ]
	[ "$(cell 202 Teacher_id),$(cell 202 Teacher_2_id)" = 9005,9006 ]
	[[ "$stderr" == *"section '103' (school '10') has 11 teachers; Clever takes at most 10: writing the first 10, leaving out '9011'"* ]]
	# section naming: Term_name with its year, the course name quoted
	# where it holds a comma (the seed wrote it bare and broke the row).
	[ "$(cell 103 Term_name)" = "S2 25-26" ]
	[ "$(cell 203 Term_name)" = "Year 25-26" ]
	[ "$(cell 102 Course_name)" = "Art & Design, Studio" ]
	grep -qF '"Art & Design, Studio"' "$CSV"
}

@test "dated 2026-07-15 (summer): the year that ended, or the next one when it starts within CLEVER_NEXT_YEAR_DAYS" {
	run --separate-stderr "$SCRIPT" -c "$FX" --date 2026-07-15
	assert_success
	[ "$(sections)" = "101 102 103 104 201 202 203 204 205" ]
	[[ "$stderr" == *"school 10: 2026-07-15 is between years; year 25-26 ended 2026-06-03 and no year starts within 14 days: terms 3500 3501 3502"* ]]
	# 2026-27 of school 10 starts on 2026-08-17, 33 days later.
	run --separate-stderr env CLEVER_NEXT_YEAR_DAYS=33 "$SCRIPT" -c "$FX" \
		--date=2026-07-15
	assert_success
	[ "$(sections)" = "106 201 202 203 204 205" ]
	[[ "$stderr" == *"school 10: 2026-07-15 is between years; year 26-27 starts 2026-08-17, within 33 days: terms 3600 3601"* ]]
	# School 20 has no 2026-27 yet: it keeps 2025-26.
	[[ "$stderr" == *"school 20: 2026-07-15 is between years; year 25-26 ended 2026-06-05"* ]]
	# The year term 3600 has no section: usual, not a warning.
	[[ "$stderr" != *"no sections"* ]]
	run --separate-stderr env CLEVER_NEXT_YEAR_DAYS=32 "$SCRIPT" -c "$FX" \
		--date=2026-07-15
	assert_success
	[ "$(sections)" = "101 102 103 104 201 202 203 204 205" ]
}

@test "a chosen year with no sections in any of its terms is a warning naming the school" {
	cp "$BATS_FILE_TMPDIR/fx.db" "$T/fx.db"
	sqlite3 "$T/fx.db" "DELETE FROM sections WHERE id = 106"
	run --separate-stderr env SIS_DB="sqlite:$T/fx.db" "$SCRIPT" -c "$FX" \
		--date 2026-08-10
	assert_success
	[ "$(sections)" = "201 202 203 204 205" ]
	[[ "$stderr" == *"warning: school 10: no sections in any term of its year (left out)"* ]]
	[[ "$stderr" != *"school 20: no sections"* ]]
	grep -q "school 10, term 3601: no sections" "$W/last/run.log"
}

@test "--date: a day that is not one, or with CLEVER_TERMS, is a usage error; no year at all is refused (3)" {
	run --separate-stderr "$SCRIPT" -c "$FX" --date 2026-02-30
	assert_failure 2
	[[ "$stderr" == *"--date: '2026-02-30' is not a day YYYY-MM-DD"* ]]
	run --separate-stderr "$SCRIPT" -c "$FX" --date
	assert_failure 2
	[[ "$stderr" == *"option --date needs an argument"* ]]
	run --separate-stderr env CLEVER_TERMS=10:3500 "$SCRIPT" -c "$FX" \
		--date 2025-09-02
	assert_failure 2
	[[ "$stderr" == *"--date chooses the terms by date, but CLEVER_TERMS names them"* ]]
	run --separate-stderr env CLEVER_NEXT_YEAR_DAYS=soon "$SCRIPT" -c "$FX"
	assert_failure 78
	[[ "$stderr" == *"CLEVER_NEXT_YEAR_DAYS must be a number of days"* ]]
	[ ! -e "$W/runs" ]
	echo old >"$CSV"
	run --separate-stderr "$SCRIPT" -c "$FX" --date 2024-01-01
	failed choose-years 3 "no reporting school has a school year on or before 2024-01-15"
	[[ "$stderr" == *"warning: school 10: no school year on or before 2024-01-15"* ]]
	[[ "$stderr" == *"warning: school 20: no school year on or before 2024-01-15"* ]]
	[[ "$stderr" != *"school 30"* ]]
}

@test "Term_name as the seed wrote it (\"Year 25-26\", \"S1 25-26\"), or as configured" {
	run --separate-stderr env CLEVER_TERMS="10:3500 10:3501 20:3501" \
		"$SCRIPT" -c "$FX"
	assert_success
	[ "$(cell 104 Term_name)" = "Year 25-26" ]
	[ "$(cell 101 Term_name)" = "S1 25-26" ]
	[ "$(cell 201 Term_name)" = "Q1 25-26" ]
	run --separate-stderr env CLEVER_TERMS="10:3500 10:3501 20:3501" \
		CLEVER_TERM_NAME="%y %t (%t)" CLEVER_YEAR_TERM_NAME=%t \
		"$SCRIPT" -c "$FX"
	assert_success
	[ "$(cell 104 Term_name)" = "25-26" ]
	[ "$(cell 101 Term_name)" = "25-26 S1 (S1)" ]
	[ "$(cell 201 Term_name)" = "25-26 Q1 (Q1)" ]
}

@test "subjects: Clever's spellings by default, D118's selectable; an unknown one blank, warned, counted" {
	run --separate-stderr env CLEVER_TERMS="10:3500 10:3501 20:3502" \
		"$SCRIPT" -c "$FX"
	assert_success
	[ "$(cell 101 Subject)" = math ]
	[ "$(cell 102 Subject)" = "arts and music" ]
	[ "$(cell 202 Subject)" = "english/language arts" ]
	# 'Hr' is neither a Clever subject nor in the map.
	[ "$(cell 104 Subject)" = "" ]
	[[ "$stderr" == *"conduit-fmt: warning: 1 section with a subject Clever does not know: Subject left blank"* ]]
	jq -e '.counts.unknown_subjects == 1 and .counts.sections == 4' \
		"$W/last/status.json"
	run --separate-stderr env CLEVER_TERMS="10:3500 10:3501 20:3502" \
		CLEVER_SUBJECT_SPELLING=d118 "$SCRIPT" -c "$FX"
	assert_success
	[ "$(cell 101 Subject)" = Math ]
	[ "$(cell 102 Subject)" = "Arts and music" ]
	[ "$(cell 202 Subject)" = "English/language arts" ]
	[ "$(cell 104 Subject)" = "" ]
	run --separate-stderr env CLEVER_SUBJECT_SPELLING=D118 "$SCRIPT" -c "$FX"
	assert_failure 78
	[[ "$stderr" == *"CLEVER_SUBJECT_SPELLING must be clever or d118"* ]]
}

@test "a failing term stops the run before the upload; the old file stays" {
	echo old >"$OUTBOX/sections.csv"
	run --separate-stderr env SIS_DB="sqlite:$T/none.db" "$SCRIPT" -c "$CONF"
	failed sis-extract-5-104 66 "step 'sis-extract-5-104' failed with exit status 66; nothing uploaded"
	[ ! -e "$W/last/sections-10-106.ndjson" ]
}

@test "a bad subject map stops the run at conduit-fmt; nothing uploaded" {
	echo '{"Eng": "Literature"}' >"$T/subjects.json"
	run --separate-stderr env CLEVER_SUBJECT_MAP="$T/subjects.json" \
		"$SCRIPT" -c "$CONF"
	failed conduit-fmt 78 "step 'conduit-fmt' failed with exit status 78; nothing uploaded"
	[ -s "$W/last/sections.ndjson" ]
}

@test "no sections in any term is refused (3): Clever is never sent an empty file" {
	run --separate-stderr env CLEVER_TERMS="999:110 1:100" "$SCRIPT" -c "$CONF"
	failed collect 3 "no sections in any configured term"
	[ ! -e "$W/last/sections.csv" ]
}

@test "a dry run checks the server and uploads nothing" {
	run --separate-stderr "$SCRIPT" -n -c "$CONF"
	assert_success
	[[ "$stderr" == *"dry run: "*" sections NOT uploaded"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
}

@test "configuration errors: malformed CLEVER_TERMS, a password in the file (78)" {
	run --separate-stderr env CLEVER_TERMS="5-104" "$SCRIPT" -c "$CONF"
	assert_failure 78
	[[ "$stderr" == *"CLEVER_TERMS: '5-104' is not SCHOOL:TERM"* ]]
	echo "SFTP_PASSWORD=hunter2" >>"$CONF"
	run --separate-stderr "$SCRIPT" -c "$CONF"
	assert_failure 78
	[[ "$stderr" == *"SFTP_PASSWORD is a secret"* ]]
	[[ "$stderr" != *hunter2* ]]
	[ ! -e "$W/runs" ]
}

@test "the example configuration parses (the run fails only at the database)" {
	run --separate-stderr env EDPIPE_WORK_DIR="$W" EDPIPE_LOG_DIR="$W/log" \
		SIS_DB="sqlite:$T/none.db" "$SCRIPT" \
		-c "$ROOT/scripts/examples/clever-sections.env"
	assert_failure 66
	[[ "$stderr" == *"step 'years' failed"* ]]
}
