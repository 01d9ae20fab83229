#!/usr/bin/env bats
# conduit-fmt: every output format against golden files, the mapping
# rules, and every error path (message, status, nothing passed on).

bats_require_minimum_version 1.5.0
load helper

setup() {
	F=$FIX/conduit-fmt
	cd "$BATS_TEST_TMPDIR"
}

# Run conduit-fmt and compare stdout with a golden file.
golden() {
	local want=$1
	shift
	run --separate-stderr conduit-fmt "$@"
	assert_success
	printf '%s\n' "$output" >got
	diff -u "$F/$want" got
}

# A failing run: status, message on stderr, nothing on stdout.
fails() {
	local code=$1 msg=$2
	shift 2
	run --separate-stderr conduit-fmt "$@"
	assert_failure "$code"
	[ -z "$output" ]
	[[ "$stderr" == *"$msg"* ]] || {
		echo "stderr: $stderr" >&2
		return 1
	}
}

@test "keeps the common command-line conventions" {
	common_cli_checks conduit-fmt
}

@test "--help synopsis matches the man page SYNOPSIS options" {
	run conduit-fmt --help
	assert_success
	for o in --role-map --skip-unmapped --fields --subject-map \
	    --keep-track --two-digit-grade-schools --output --log-dir \
	    --csv-safe --allow-no-teacher --subject-spelling; do
		grep -qF -- "Fl \\-${o#--}" "$ROOT/man/conduit-fmt.1"
		[[ "$output" == *"$o"* ]]
	done
}

@test "conduit: action add/drop, role map, RFC 4180 quoting" {
	golden conduit.out.csv -t conduit --role-map "$F/roles.json" \
	    "$F/changes.ndjson"
	[[ "$stderr" == *"1 update without a role change left out"* ]]
}

@test "conduit: CSV input is detected and gives the same file" {
	golden conduit.out.csv -t conduit --role-map "$F/roles.json" \
	    "$F/changes.csv"
	golden conduit.out.csv --to conduit -f csv --role-map "$F/roles.json" \
	    <"$F/changes.csv"
}

@test "conduit: without a role map roles pass through" {
	run --separate-stderr conduit-fmt -t conduit "$F/changes.ndjson"
	assert_success
	assert_line --index 3 "drop,BIO101-01,P0003,AUD"
}

@test "an update between two SIS roles with one LMS role writes no change" {
	echo '{"STU":"student","AU":"student"}' >r.json
	echo '{"op":"update","course":"c","user":"u","role":"STU","old_role":"AU"}' >in
	run --separate-stderr conduit-fmt -t conduit --role-map r.json in
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"1 update without a role change left out"* ]]
	run --separate-stderr conduit-fmt -t canvas --role-map r.json in
	assert_success
	assert_output "course_id,user_id,role,section_id,status
c,u,student,,active"
}

@test "canvas: status active/deleted/completed, old role deleted" {
	golden canvas.out.csv -t canvas --role-map "$F/canvas-roles.json" \
	    "$F/changes.ndjson"
}

@test "canvas: a section without a course is enough, neither is not" {
	echo '{"lms_section":"S1","user":"u","role":"student"}' >in
	run --separate-stderr conduit-fmt -t canvas in
	assert_success
	assert_line --index 1 ",u,student,S1,active"
	echo '{"user":"u","role":"student"}' >in
	fails 65 "in:1: missing field 'course'" -t canvas in
}

@test "canvas: 'section' is the SIS section, never written as a Canvas section_id" {
	# sis-extract's section number "01" once went out as the Canvas
	# section sis_section_id:01, which does not exist.
	printf '%s\n' '{"op":"add","course":"C","section":"01","user":"u","role":"student"}' \
		'{"op":"add","course":"C","section":"02","user":"v","role":"student"}' >in
	run --separate-stderr conduit-fmt -t canvas in
	assert_success
	assert_output "course_id,user_id,role,section_id,status
C,u,student,,active
C,v,student,,active"
	[ "$(grep -c "field 'section' (the SIS section) is not a Canvas section" <<<"$stderr")" -eq 1 ]
}

@test "moodle-flatfile: add/del lines, role change, start and end times" {
	golden flatfile.out.txt -t moodle-flatfile --role-map \
	    "$F/roles.json" "$F/flat.ndjson"
}

@test "moodle-flatfile: a comma in a value is refused, not split" {
	fails 65 "changes.ndjson:2: field 'course': 'HIST 1, \"Sec A\"' holds a comma" \
	    -t moodle-flatfile "$F/changes.ndjson"
}

@test "moodle-flatfile: an unreadable date is refused" {
	echo '{"course":"c","user":"u","role":"r","end_date":"next week"}' >in
	fails 65 "in:1: field 'end_date': cannot read 'next week'" \
	    -t moodle-flatfile in
}

@test "oneroster: delta file, stable sourcedIds, tobedeleted" {
	SOURCE_DATE_EPOCH=1795000000 golden oneroster-delta.out.csv \
	    -t oneroster "$F/oneroster-delta.ndjson"
	# The drop of P0001 names the row that added it.
	[ "$(sed -n 2p got | cut -d, -f1)" = "$(sed -n 7p got | cut -d, -f1)" ]
}

@test "oneroster: bulk file leaves status and dateLastModified blank" {
	golden oneroster-bulk.out.csv -t oneroster "$F/oneroster-bulk.ndjson"
}

@test "oneroster: a role outside the 1.1 vocabulary is refused" {
	fails 65 "changes.ndjson:1: missing field 'school'" -t oneroster \
	    "$F/changes.ndjson"
	echo '{"course":"c","school":"s","user":"u","role":"STU"}' >in
	fails 65 "in:1: field 'role': 'STU' is not a OneRoster 1.1 role" \
	    -t oneroster in
}

@test "oneroster: bulk and delta records are not mixed" {
	printf '%s\n' '{"op":"add","course":"c","school":"s","user":"u","role":"student"}' \
	    '{"course":"c","school":"s","user":"v","role":"student"}' >in
	fails 65 "in:2: record lacks 'op' after change records" -t oneroster in
}

@test "oneroster: primary must be true or false" {
	echo '{"course":"c","school":"s","user":"u","role":"teacher","primary":"yes"}' >in
	fails 65 "in:1: field 'primary': 'yes' is not true or false" \
	    -t oneroster in
}

@test "clever-sections: D118 rules done right" {
	golden clever.out.csv -t clever-sections --subject-map \
	    "$F/subjects.json" "$F/sections.ndjson"
	# more than 10 teachers: a warning naming the section and who is out
	[[ "$stderr" == *"sections.ndjson:5: section '2003' (school '3') has 12 teachers"*"leaving out 'K', 'L'"* ]]
	[[ "$stderr" == *"1 section with a subject Clever does not know"* ]]
}

@test "clever-sections: --two-digit-grade-schools and --keep-track" {
	golden clever-schools.out.csv -t clever-sections --subject-map \
	    "$F/subjects.json" --keep-track --two-digit-grade-schools 5 \
	    "$F/sections.ndjson"
}

@test "clever-sections: grade 11 outside the two-digit schools is an error" {
	echo '{"school":"3","section":"1","teacher":"t","grade":11}' >in
	fails 65 "in:1: section '1': cannot read grade '11'" \
	    -t clever-sections --two-digit-grade-schools 5 in
	run --separate-stderr conduit-fmt -t clever-sections in
	assert_success
	[[ "${lines[1]}" == *",11,,,"* ]]
}

@test "clever-sections: a section without a teacher is an error" {
	printf '%s\n' '{"school":"3","section":"1","teacher":"t"}' \
	    '{"school":"3","section":"2","grade":1}' >in
	fails 65 "in:2: section '2' has no teacher" -t clever-sections in
}

@test "clever-sections: --allow-no-teacher writes a teacherless section, warned and counted" {
	printf '%s\n' '{"school":"3","section":"1","teacher":"t"}' \
	    '{"school":"3","section":"2","grade":1,"teacher":null}' \
	    '{"school":"3","section":"3","grade":2}' >in
	run --separate-stderr conduit-fmt -t clever-sections --allow-no-teacher in
	assert_success
	[ "${#lines[@]}" -eq 4 ]
	[ "${lines[2]}" = "3,2,,,,,,,,,,,,,,,,1,,," ]
	[[ "$stderr" == *"in:2: section '2' (school '3') has no teacher: written with empty teacher columns"* ]]
	[[ "$stderr" == *"in:3: section '3' (school '3') has no teacher"* ]]
	[[ "$stderr" == *"2 sections without a teacher: teacher columns left empty"* ]]
	fails 2 "--allow-no-teacher and --subject-spelling are for clever-sections" -t csv \
	    --allow-no-teacher in
}

@test "clever-sections: --subject-spelling d118 writes the seed's capitalised subjects" {
	printf '%s\n' '{"school":"3","section":"1","teacher":"t","subject":"MATH"}' \
	    '{"school":"3","section":"2","teacher":"t","subject":"Mat"}' \
	    '{"school":"3","section":"3","teacher":"t","subject":"other"}' \
	    '{"school":"3","section":"4","teacher":"t","subject":"pe and health"}' \
	    '{"school":"3","section":"5","teacher":"t","subject":"Cooking"}' >in
	echo '{"Mat": "math"}' >map.json
	run --separate-stderr conduit-fmt -t clever-sections --subject-map map.json in
	assert_success
	[ "$(cut -d, -f17 <<<"$output" | tr '\n' '|')" = "Subject|math|math|other|PE and health||" ]
	run --separate-stderr conduit-fmt -t clever-sections --subject-map map.json \
	    --subject-spelling d118 in
	assert_success
	[ "$(cut -d, -f17 <<<"$output" | tr '\n' '|')" = "Subject|Math|Math|other|PE and health||" ]
	[[ "$stderr" == *"1 section with a subject Clever does not know"* ]]
	fails 2 "--subject-spelling: 'D118x' is not clever or d118" \
	    -t clever-sections --subject-spelling D118x in
}

@test "clever-sections: a section split over the input is an error" {
	printf '%s\n' '{"school":"3","section":"1","teacher":"t"}' \
	    '{"school":"3","section":"2","teacher":"t"}' \
	    '{"school":"3","section":"1","teacher":"u"}' >in
	fails 65 "in:3: section '1' appears again" -t clever-sections in
	printf '%s\n' '{"school":"3","section":"1","teacher":"t"}' \
	    '{"school":"4","section":"1","teacher":"u"}' >in
	fails 65 "in:2: section '1' is given for school '3' and school '4'" \
	    -t clever-sections in
}

@test "clever-sections: bad dates are refused" {
	echo '{"school":"3","section":"1","teacher":"t","term_end":"June"}' >in
	fails 65 "in:1: field 'term_end': cannot read 'June'" \
	    -t clever-sections in
}

@test "clever-sections: the subject map must name Clever subjects" {
	echo '{"Mat": "Mathematics"}' >map.json
	echo '{"school":"3","section":"1","teacher":"t"}' >in
	fails 78 "map.json: entry 'Mat': 'Mathematics' is not a Clever subject" \
	    -t clever-sections --subject-map map.json in
}

@test "dat: '|' fields, enclosures, #EOR# records" {
	golden dat.out.dat -t dat --fields course,user,role,name \
	    "$F/changes.ndjson"
}

@test "dat: a value holding the record terminator is refused" {
	printf '{"a":"x#EOR#\\ny"}\n' >in
	fails 65 "in:1: field 'a' holds the SQL*Loader record terminator" \
	    -t dat in
}

@test "dat: a field outside the first record's columns is refused" {
	printf '%s\n' '{"a":"1"}' '{"a":"2","b":"3"}' >in
	fails 65 "in:2: field 'b' is not among the columns" -t dat in
}

@test "csv: --fields chooses columns, --csv-safe defuses formulas" {
	golden csv-safe.out.csv -t csv --csv-safe \
	    --fields op,course,user,role,name "$F/changes.ndjson"
}

@test "csv: a field outside the header is refused with its location" {
	fails 65 "changes.ndjson:4: field 'old_role' is not a column" -t csv "$F/changes.ndjson"
}

@test "ndjson: --fields keeps and orders fields, role map applies" {
	golden ndjson-fields.out.ndjson -t ndjson --fields user,course,role \
	    --role-map "$F/roles.json" "$F/changes.ndjson"
}

@test "a missing required field stops the run; nothing is passed on" {
	printf '%s\n' '{"op":"add","course":"c","user":"u","role":"r"}' \
	    '{"op":"add","course":"c","role":"r"}' >in
	for t in conduit canvas moodle-flatfile; do
		fails 65 "in:2: missing field 'user'" -t "$t" in
	done
}

# A value written as its JSON text would be a key no LMS has ("[""C1""]").
@test "an array, object, boolean or non-integer number as a key value is refused: 65, file:line, field" {
	local t line field kind
	while IFS='|' read -r t line field kind; do
		printf '%s\n' '{"op":"add","course":"c","user":"u","role":"student","school":"s","section":"s1","teacher":"t"}' \
		    "$line" >in
		fails 65 "in:2: field '$field' is $kind; a key value must be a string or an integer" -t "$t" in
	done <<-'EOF2'
	conduit|{"op":"add","course":["C1"],"user":"u","role":"r"}|course|an array
	conduit|{"op":"drop","course":"c","user":{"id":"u"},"role":"r"}|user|an object
	conduit|{"op":"update","course":"c","user":"u","role":"r","old_role":["s"]}|old_role|an array
	canvas|{"op":"add","course":"c","user":true,"role":"r"}|user|true or false
	canvas|{"op":"add","section":["S1"],"user":"u","role":"r"}|section|an array
	moodle-flatfile|{"op":"add","course":"c","user":4766.0,"role":"r"}|user|a number that is not an integer
	oneroster|{"op":"add","class":{"a":1},"school":"s","user":"u","role":"student"}|class|an object
	oneroster|{"op":"add","course":"c","school":["s"],"user":"u","role":"student"}|school|an array
	clever-sections|{"school":"s","section":{"id":1},"teacher":"t"}|section|an object
	clever-sections|{"school":"s","section":"s2","teacher":"t","Teacher_2_id":[1]}|Teacher_2_id|an array
	EOF2
	# an integer is its text; other fields may hold anything
	echo '{"op":"add","course":"c","user":4766,"role":"r","x":[1],"t":true}' >in
	run --separate-stderr conduit-fmt -t conduit in
	assert_success
	[ "${lines[1]}" = "add,c,4766,r" ]
}

@test "an unknown op is refused" {
	echo '{"op":"remove","course":"c","user":"u","role":"r"}' >in
	fails 65 "in:1: field 'op': unknown value 'remove'" -t conduit in
}

@test "an unmapped role is exit 65 unless --skip-unmapped counts it" {
	echo '{"STU":"student"}' >r.json
	fails 65 "changes.ndjson:3: field 'role': role 'AUD' has no mapping in 'r.json'" \
	    -t conduit --role-map r.json "$F/changes.ndjson"
	run --separate-stderr conduit-fmt -t conduit --role-map r.json \
	    --skip-unmapped "$F/changes.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 4 ]
	[[ "$stderr" == *"2 records skipped: role not mapped"* ]]
	run --separate-stderr conduit-fmt -q -t conduit --role-map r.json \
	    --skip-unmapped "$F/changes.ndjson"
	assert_success
	[ -z "$stderr" ]
}

@test "a malformed record is exit 65 with file and line" {
	printf '%s\n' '{"op":"add","course":"c","user":"u","role":"r"}' \
	    '{"op":"add",' >in
	run --separate-stderr conduit-fmt -t conduit in
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "conduit-fmt: in:2: "* ]]
}

@test "a missing input or map file is exit 66" {
	fails 66 "nope.ndjson" -t conduit nope.ndjson
	fails 66 "cannot open 'nope.json'" -t conduit --role-map nope.json \
	    "$F/changes.ndjson"
	echo '["student"]' >bad.json
	fails 78 "bad.json: not a JSON object" -t conduit --role-map bad.json \
	    "$F/changes.ndjson"
}

@test "option misuse is a usage error" {
	fails 2 "--to FORMAT is required" "$F/changes.ndjson"
	fails 2 "unknown format 'xml'" -t xml
	fails 2 "--fields is for dat, csv and ndjson" -t conduit --fields a
	fails 2 "are for clever-sections" -t conduit --keep-track
	fails 2 "--role-map and --skip-unmapped do not apply" \
	    -t clever-sections --skip-unmapped
	fails 2 "--csv-safe is for CSV formats" -t dat --csv-safe
	fails 2 "unknown input format 'xml'" -t csv -f xml
}

@test "without -t, or with an unknown one, the message lists every target; -o stays the file" {
	local targets="conduit, canvas, moodle-flatfile, oneroster, clever-sections, dat, csv, ndjson"
	targets+=", conduit-users, canvas-users"
	targets+=", clever-schools, clever-students, clever-teachers, clever-enrollments"
	targets+=", oneroster-orgs, oneroster-academicsessions, oneroster-courses"
	targets+=", oneroster-classes or oneroster-users"
	run --separate-stderr conduit-fmt -o out.csv "$F/changes.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[ ! -e out.csv ]
	[ "${stderr_lines[0]}" = "conduit-fmt: -t/--to FORMAT is required: $targets" ]
	run --separate-stderr conduit-fmt -t xml "$F/changes.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[ "${stderr_lines[0]}" = "conduit-fmt: unknown format 'xml' ($targets)" ]
	# Every target the message names is one -t takes.
	for t in conduit canvas moodle-flatfile oneroster clever-sections dat csv ndjson \
	    conduit-users canvas-users \
	    clever-schools clever-students clever-teachers clever-enrollments \
	    oneroster-orgs oneroster-academicsessions oneroster-courses \
	    oneroster-classes oneroster-users; do
		run --separate-stderr conduit-fmt -t "$t" </dev/null
		[ "$status" -eq 0 ] || { echo "-t $t: $stderr"; false; }
	done
	# The --help text and the man page say it has no default.
	run conduit-fmt --help
	assert_output --partial "conduit-users or canvas-users (required:"
	grep -q '^Required: there is no default' "$ROOT/man/conduit-fmt.1"
}

@test "empty input gives empty output" {
	run --separate-stderr conduit-fmt -t conduit </dev/null
	assert_success
	[ -z "$output" ]
	run --separate-stderr conduit-fmt -t clever-sections </dev/null
	assert_success
	[ -z "$output" ]
	# Not one byte, also into --output (sftp-put refuses an empty file).
	conduit-fmt -t conduit --output empty.csv </dev/null
	[ -f empty.csv ] && [ ! -s empty.csv ]
	# Records that all turn into nothing write nothing either.
	echo '{"op":"add","course":"C1","user":"u1","role":"guest"}' >in
	run --separate-stderr conduit-fmt -t conduit --role-map "$F/roles.json" --skip-unmapped in
	assert_success
	[ -z "$output" ]
}

@test "--header-always writes the header alone when there are no rows" {
	run --separate-stderr conduit-fmt -t conduit --header-always </dev/null
	assert_success
	assert_output "action,shortname,idnumber,role"
	run --separate-stderr conduit-fmt -t canvas --header-always </dev/null
	assert_output "course_id,user_id,role,section_id,status"
	run --separate-stderr conduit-fmt -t oneroster --header-always </dev/null
	assert_output --regexp '^sourcedId,status,.*,endDate$'
	run --separate-stderr conduit-fmt -t clever-sections --header-always </dev/null
	assert_output --regexp '^School_id,Section_id,.*,Term_name$'
	run --separate-stderr conduit-fmt -t csv --fields course,user --header-always </dev/null
	assert_output "course,user"
	# With rows it changes nothing: one header.
	conduit-fmt -t conduit --role-map "$F/roles.json" "$F/changes.ndjson" >plain.csv 2>/dev/null
	conduit-fmt -t conduit --role-map "$F/roles.json" --header-always "$F/changes.ndjson" >hdr.csv 2>/dev/null
	cmp plain.csv hdr.csv
	fails 2 "--header-always is for formats with a header" -t moodle-flatfile --header-always
	fails 2 "--header-always is for formats with a header" -t csv --header-always
	fails 2 "--header-always is for formats with a header" -t ndjson --header-always
}

@test "--output writes atomically and keeps the old file on failure" {
	conduit-fmt -t conduit --role-map "$F/roles.json" \
	    --output out.csv "$F/changes.ndjson" 2>/dev/null
	diff -u "$F/conduit.out.csv" out.csv
	echo '{"op":"add","course":"c","role":"r"}' >in
	run --separate-stderr conduit-fmt -t conduit --output out.csv in
	assert_failure 65
	diff -u "$F/conduit.out.csv" out.csv
	[ "$(ls -A | grep -c '^\.out')" -eq 0 ]
}

@test "--log-dir keeps a timestamped copy of each file" {
	mkdir logs
	export SOURCE_DATE_EPOCH=1795000000
	run --separate-stderr conduit-fmt -t conduit --role-map \
	    "$F/roles.json" --log-dir logs "$F/changes.ndjson"
	assert_success
	printf '%s\n' "$output" >got
	diff -u "$F/conduit.out.csv" got
	diff -u "$F/conduit.out.csv" logs/conduit-20261118T110640Z.csv
	conduit-fmt -t conduit --log-dir logs --output o.csv \
	    "$F/changes.ndjson" 2>/dev/null
	cmp o.csv logs/conduit-20261118T110640Z-2.csv
	# nothing produced, nothing logged
	conduit-fmt -t conduit --log-dir logs </dev/null
	[ "$(ls logs | wc -l)" -eq 2 ]
	fails 74 "cannot use log directory 'nodir'" -t conduit --log-dir nodir \
	    "$F/changes.ndjson"
}

@test "a failed write to stdout is exit 74" {
	run --separate-stderr bash -c \
	    'conduit-fmt -t conduit "$1" >/dev/full' _ "$F/changes.ndjson"
	assert_failure 74
	[ "$stderr" = "conduit-fmt: write error on stdout: No space left on device" ]
}

@test "conduit: jq's pretty output and jq -s arrays give the same file" {
	need jq
	jq . "$F/changes.ndjson" >pretty.json
	golden conduit.out.csv -t conduit --role-map "$F/roles.json" pretty.json
	run --separate-stderr bash -c "jq -s . '$F/changes.ndjson' |
	    conduit-fmt -t conduit --role-map '$F/roles.json'"
	assert_success
	printf '%s\n' "$output" >got
	diff -u "$F/conduit.out.csv" got
}

@test "conduit: TSV and semicolon CSV give the same file" {
	python3 -c 'import csv, sys
for d, name in (("\t", "changes.tsv"), (";", "changes.ssv")):
    with open(name, "w", newline="") as f:
        w = csv.writer(f, delimiter=d, lineterminator="\n")
        w.writerows(csv.reader(open(sys.argv[1], newline="")))' \
	    "$F/changes.csv"
	golden conduit.out.csv -t conduit --role-map "$F/roles.json" \
	    -f tsv changes.tsv
	golden conduit.out.csv -t conduit --role-map "$F/roles.json" \
	    --delimiter ';' changes.ssv
}

# --- one flag vocabulary (issue 17, item 6) ---

@test "-o is --output; -f is --from; deprecated -i and --input-format warn and work" {
	conduit-fmt -t conduit --role-map "$F/roles.json" \
	    -o o.csv "$F/changes.ndjson"
	diff -u "$F/conduit.out.csv" o.csv
	run --separate-stderr conduit-fmt -t conduit --role-map "$F/roles.json" \
	    -f ndjson "$F/changes.ndjson"
	assert_success
	[[ "$stderr" != *deprecated* ]]
	printf '%s\n' "$output" >got
	diff -u "$F/conduit.out.csv" got
	run --separate-stderr conduit-fmt -t conduit --role-map "$F/roles.json" \
	    -i ndjson "$F/changes.ndjson"
	assert_success
	[ "${stderr_lines[0]}" = "conduit-fmt: warning: option '-i' is deprecated: use -f/--from" ]
	printf '%s\n' "$output" >got
	diff -u "$F/conduit.out.csv" got
	run --separate-stderr conduit-fmt -t conduit --role-map "$F/roles.json" \
	    --input-format ndjson "$F/changes.ndjson"
	assert_success
	[ "${stderr_lines[0]}" = "conduit-fmt: warning: option '--input-format' is deprecated: use -f/--from" ]
	# several inputs: the records of each, in order
	run --separate-stderr conduit-fmt -t ndjson "$F/changes.ndjson" - \
	    "$F/changes.ndjson" <"$F/changes.ndjson"
	assert_success
	[ "${#lines[@]}" -eq "$((3 * $(wc -l <"$F/changes.ndjson")))" ]
}

@test "drop_policy: Canvas writes inactive and completed; Conduit, flat file and OneRoster refuse a suspend" {
	printf '%s\n' '{"op":"add","course":"A","user":"1","role":"student"}' \
		'{"op":"drop","course":"B","user":"5","role":"student","drop_policy":"suspend"}' \
		'{"op":"drop","course":"B","user":"6","role":"student","drop_policy":"conclude"}' \
		'{"op":"drop","course":"B","user":"7","role":"student","drop_policy":"unenrol"}' >in
	run --separate-stderr conduit-fmt -t canvas in
	assert_success
	assert_output 'course_id,user_id,role,section_id,status
A,1,student,,active
B,5,student,,inactive
B,6,student,,completed
B,7,student,,deleted'
	# a Conduit drop removes the enrollment: a suspend must not become one
	fails 65 "in:2: field 'drop_policy': a suspend drop has no conduit form (a drop there removes the enrollment); apply it with lms-push" -t conduit in
	fails 65 "in:2: field 'drop_policy': a suspend drop has no moodle-flatfile form" -t moodle-flatfile in
	jq -c '. + {school: "S1"}' in >in.or
	fails 65 "in.or:2: field 'drop_policy': a suspend drop has no oneroster form" -t oneroster in.or
	# unenrol (or no field) is an ordinary drop everywhere
	sed -n '1p;4p' in >unenrol
	run --separate-stderr conduit-fmt -t conduit unenrol
	assert_success
	assert_output 'action,shortname,idnumber,role
add,A,1,student
drop,B,7,student'
	printf '%s\n' '{"op":"drop","course":"B","user":"5","role":"student","drop_policy":"keep"}' >keep
	fails 65 "keep:1: field 'drop_policy': a drop under keep is no change" -t conduit keep
	printf '%s\n' '{"op":"drop","course":"B","user":"5","role":"student","drop_policy":"hide"}' >bad
	fails 65 "bad:1: field 'drop_policy': unknown value 'hide' (unenrol, suspend, conclude or keep)" -t canvas bad
}

# users (#22): enroll-diff -k user --update-on firstname,lastname,email
users_in() {
	cat >users.ndjson <<'EOF'
{"op":"add","user":"3","username":"cy.do","firstname":"Cy","lastname":"Do, Jr","email":"c@example.edu"}
{"op":"update","user":"2","username":"bob.ray","firstname":"Bob","lastname":"Ray","email":"b@example.edu","old_firstname":"Bob","old_lastname":"Roy","old_email":"b@example.edu"}
EOF
}

@test "conduit-users: action create/update, the B1 columns, headings mapped per site" {
	users_in
	run --separate-stderr conduit-fmt -t conduit-users users.ndjson
	assert_success
	assert_equal "$output" 'action,username,idnumber,firstname,lastname,email
create,cy.do,3,Cy,"Do, Jr",c@example.edu
update,bob.ray,2,Bob,Ray,b@example.edu'
	echo '{"action":"Action","idnumber":"SIS ID"}' >h.json
	run --separate-stderr conduit-fmt -t conduit-users --heading-map h.json users.ndjson
	assert_success
	assert_line --index 0 'Action,username,SIS ID,firstname,lastname,email'
	assert_line --index 1 'create,cy.do,3,Cy,"Do, Jr",c@example.edu'
	# the enrolment file's headings are the site's too
	echo '{"shortname":"course"}' >h2.json
	run --separate-stderr conduit-fmt -t conduit --heading-map h2.json "$F/changes.ndjson"
	assert_success
	assert_line --index 0 'action,course,idnumber,role'
	run --separate-stderr conduit-fmt -t conduit-users --header-always --heading-map h.json </dev/null
	assert_success
	assert_output 'Action,username,SIS ID,firstname,lastname,email'
}

@test "canvas-users: users.csv with status active" {
	users_in
	run --separate-stderr conduit-fmt -t canvas-users users.ndjson
	assert_success
	assert_equal "$output" 'user_id,login_id,first_name,last_name,email,status
3,cy.do,Cy,"Do, Jr",c@example.edu,active
2,bob.ray,Bob,Ray,b@example.edu,active'
}

@test "users: a missing id, name or e-mail, a bad heading map: the status, the message, nothing passed on" {
	users_in
	for t in conduit-users canvas-users; do
		cp users.ndjson in
		echo '{"op":"add","username":"x","firstname":"X","lastname":"Y","email":"x@e"}' >>in
		fails 65 "in:3: missing field 'user'" -t "$t" in
		cp users.ndjson in
		echo '{"op":"add","user":"9","username":"x","firstname":"X","lastname":"Y"}' >>in
		fails 65 "in:3: missing field 'email'" -t "$t" in
		fails 2 "$t has no role: --role-map and --skip-unmapped do not apply" \
			-t "$t" --skip-unmapped users.ndjson
	done
	echo '{"role":"Role"}' >h.json
	fails 78 "h.json: 'role' is not a conduit-users column" -t conduit-users --heading-map h.json users.ndjson
	echo '{"action":1}' >h.json
	fails 78 "h.json" -t conduit-users --heading-map h.json users.ndjson
	fails 66 "nosuch.json" -t conduit --heading-map nosuch.json users.ndjson
	fails 2 "--heading-map is for conduit and conduit-users, not canvas-users" \
		-t canvas-users --heading-map h.json users.ndjson
}
