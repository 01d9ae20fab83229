#!/usr/bin/env bats
# conduit-fmt's roster targets (src/conduit-fmt/roster.c): Clever's
# schools, students, teachers and enrollments files and the OneRoster
# 1.1 bulk files, against the published column lists
# (tests/fixtures/conduit-fmt/roster-headers.txt), their value rules and
# every error path (message, status, nothing passed on).

bats_require_minimum_version 1.5.0
load helper

setup() {
	F=$FIX/conduit-fmt
	cd "$BATS_TEST_TMPDIR"
}

# spec FILE: the header the fixture gives for FILE.
spec() {
	awk -v f="$1" '$1 == f { print $2 }' "$F/roster-headers.txt"
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

@test "every roster target writes the published header, in its order" {
	for p in clever-sections:sections.csv clever-schools:schools.csv \
	    clever-students:students.csv clever-teachers:teachers.csv \
	    clever-enrollments:enrollments.csv oneroster-orgs:orgs.csv \
	    oneroster-academicsessions:academicSessions.csv \
	    oneroster-courses:courses.csv oneroster-classes:classes.csv \
	    oneroster-users:users.csv oneroster:oneroster-enrollments.csv; do
		want=$(spec "${p#*:}")
		[ -n "$want" ]
		run --separate-stderr conduit-fmt -t "${p%%:*}" --header-always </dev/null
		assert_success
		assert_output "$want"
	done
}

@test "clever-schools, -students: names matched without case, grades, dates, quoting" {
	cat >in.ndjson <<'J'
{"school_id":10,"school_name":"North High, Annex","school_number":"10","low_grade":-1,"high_grade":12}
{"School_id":"20","School_name":"South","School_number":"20","Low_grade":"Kindergarten","High_grade":8,"extra":"left out"}
J
	run --separate-stderr conduit-fmt -t clever-schools in.ndjson
	assert_success
	assert_output "$(spec schools.csv)
10,\"North High, Annex\",10,,Preschool,12,,,,,,,
20,South,20,,Kindergarten,8,,,,,,,"
	cat >st.ndjson <<'J'
{"school_id":10,"student_id":5002,"last_name":"Smith, Jr.","first_name":"Liam","grade":0,"gender":"m","dob":"2008-11-02"}
J
	run --separate-stderr conduit-fmt -t clever-students st.ndjson
	assert_success
	assert_output "$(spec students.csv)
10,5002,,,\"Smith, Jr.\",,Liam,Kindergarten,M,11/02/2008,"
}

@test "clever-teachers: a teacher of several schools is one row per school; twice in one school is an error" {
	printf '%s\n' '{"school_id":10,"teacher_id":9004,"first_name":"A","last_name":"M"}' \
	    '{"school_id":20,"teacher_id":9004,"first_name":"A","last_name":"M"}' >t.ndjson
	run --separate-stderr conduit-fmt -t clever-teachers t.ndjson
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	assert_line --index 2 "20,9004,,,,A,,M,"
	sed -n 1p t.ndjson >>t.ndjson
	fails 65 "t.ndjson:3: a second row for School_id=10, Teacher_id=9004: clever-teachers allows one" \
	    -t clever-teachers t.ndjson
}

@test "oneroster-users: lists joined and quoted, enabledUser and role normalised, grades as CEDS codes" {
	printf '%s\n' '{"sourcedId":"t9004","enabledUser":true,"orgSourcedIds":["10","20"],"role":"Teacher","username":"a@x","givenName":"A","familyName":"M"}' \
	    '{"sourcedId":"s1","enabledUser":"TRUE","orgSourcedIds":"10","role":"student","username":"s1","givenName":"B","familyName":"Smith, Jr.","grades":"0,9,-1"}' >u.ndjson
	run --separate-stderr conduit-fmt -t oneroster-users u.ndjson
	assert_success
	assert_output "$(spec users.csv)
t9004,,,true,\"10,20\",teacher,a@x,,A,M,,,,,,,,
s1,,,true,10,student,s1,,B,\"Smith, Jr.\",,,,,,,\"KG,09,PK\","
}

@test "oneroster-academicsessions, -classes, -orgs, -courses: rows in the 1.1 order" {
	echo '{"sourcedId":"10-3501","title":"S1 25-26","type":"semester","startDate":"2025-08-18T00:00:00","endDate":"2026-01-09","parentSourcedId":"10-3500","schoolYear":2026}' >s.ndjson
	run --separate-stderr conduit-fmt -t oneroster-academicsessions s.ndjson
	assert_success
	assert_line --index 1 "10-3501,,,S1 25-26,semester,2025-08-18,2026-01-09,10-3500,2026"
	echo '{"sourcedId":101,"title":"Art, Studio - 2","courseSourcedId":"10-ART2","classType":"scheduled","schoolSourcedId":10,"termSourcedIds":["10-3501","10-3502"],"periods":"2"}' >c.ndjson
	run --separate-stderr conduit-fmt -t oneroster-classes c.ndjson
	assert_success
	assert_line --index 1 '101,,,"Art, Studio - 2",,10-ART2,,scheduled,,10,"10-3501,10-3502",,,2'
	echo '{"sourcedId":10,"name":"North","type":"school"}' >o.ndjson
	run --separate-stderr conduit-fmt -t oneroster-orgs o.ndjson
	assert_line --index 1 "10,,,North,school,,"
	echo '{"sourcedId":"10-ALG1","title":"Algebra I","orgSourcedId":10}' >co.ndjson
	run --separate-stderr conduit-fmt -t oneroster-courses -f ndjson co.ndjson
	assert_line --index 1 "10-ALG1,,,,Algebra I,,,10,,"
}

@test "bad roster records stop the run: message, status 65, nothing written" {
	echo '{"school_id":10,"student_id":1,"first_name":"A"}' >a
	fails 65 "a:1: missing field 'Last_name' (required in clever-students)" -t clever-students a
	echo '{"school_id":10,"student_id":1,"first_name":"A","last_name":"B","grade":14}' >a
	fails 65 "a:1: field 'grade': '14' is not a grade" -t clever-students a
	echo '{"school_id":10,"student_id":1,"first_name":"A","last_name":"B","dob":"02/30"}' >a
	fails 65 "a:1: field 'dob': cannot read '02/30' as a date" -t clever-students a
	echo '{"school_id":10,"student_id":1,"first_name":"A","last_name":"B","gender":"Q"}' >a
	fails 65 "a:1: field 'gender': 'Q' is not a Gender value (M, F, X)" -t clever-students a
	echo '{"sourcedId":"x","name":"N","type":"campus"}' >a
	fails 65 "a:1: field 'type': 'campus' is not a type value (administration, department, district" -t oneroster-orgs a
	echo '{"sourcedId":"x","status":"active","name":"N","type":"school"}' >a
	fails 65 "a:1: field 'status': oneroster-orgs writes bulk files, where status is left blank" -t oneroster-orgs a
	echo '{"op":"add","sourcedId":"x","name":"N","type":"school"}' >a
	fails 65 "a:1: field 'op': oneroster-orgs writes bulk files" -t oneroster-orgs a
	echo '{"sourcedId":"x","enabledUser":"yes","orgSourcedIds":"1","role":"student","username":"u","givenName":"g","familyName":"f"}' >a
	fails 65 "a:1: field 'enabledUser': 'yes' is not true or false" -t oneroster-users a
	echo '{"sourcedId":"x","enabledUser":true,"orgSourcedIds":[{"a":1}],"role":"student","username":"u","givenName":"g","familyName":"f"}' >a
	fails 65 "a:1: field 'orgSourcedIds' is a list with an item that is not text" -t oneroster-users a
	echo '{"sourcedId":"x","title":"t","type":"term","startDate":"2025-01-01","endDate":"2025-02-01","schoolYear":"25-26"}' >a
	fails 65 "a:1: field 'schoolYear': '25-26' is not a year YYYY" -t oneroster-academicsessions a
	echo '{"school_id":10,"school_name":{"x":1},"school_number":1}' >a
	fails 65 "a:1: field 'school_name' is a list or an object" -t clever-schools a
	# A good first row is not passed on either, and --output keeps the
	# old file.
	printf '%s\n' '{"school_id":10,"section_id":1,"student_id":2}' \
	    '{"school_id":10,"section_id":1,"student_id":2}' >a
	echo old >out.csv
	fails 65 "a:2: a second row for School_id=10, Section_id=1, Student_id=2" \
	    -t clever-enrollments -o out.csv a
	[ "$(cat out.csv)" = old ]
}

@test "roster targets take no role map" {
	fails 2 "clever-students takes its roles as they are" -t clever-students --role-map /dev/null
	fails 2 "--subject-map, --keep-track" -t oneroster-users --keep-track
}
