#!/usr/bin/env bats
# lms-push against the loopback Moodle and Canvas test servers
# (tests/servers/moodle_server.py, canvas_server.py), whose data every
# test resets through /_reset and reads back through /_state or lms-fetch.

load helper
bats_require_minimum_version 1.5.0

MTOKEN=moodle-push-token-7d3e
CTOKEN=canvas-push-token-2b8f
FAST=(--retry-base-ms 10)

setup_file() {
	need python3 curl jq
	local d=$BATS_FILE_TMPDIR
	lms_server moodle MPORT "$MTOKEN" "$FIX/lms-push/moodle/site.json"
	lms_server canvas CPORT "$CTOKEN" "$FIX/lms-push/canvas"
}

teardown_file() {
	lms_server_stop moodle canvas
}

setup() {
	export MOODLE_TOKEN=$MTOKEN CANVAS_TOKEN=$CTOKEN
	export MOODLE_URL=http://127.0.0.1:$MPORT
	export CANVAS_URL=http://127.0.0.1:$CPORT
	curl -fsS "$MOODLE_URL/_reset" >/dev/null
	curl -fsS "$CANVAS_URL/_reset" >/dev/null
	T=$BATS_TEST_TMPDIR
}

faults() {
	curl -fsS "$1/_reset?$2" >/dev/null
}

stat() {
	curl -fsS "$1/_stats" | jq -r ".$2 // 0"
}

# mroles COURSE_ID: "user:role,role" lines of a Moodle course, by user.
mroles() {
	curl -fsS "$MOODLE_URL/_state" | jq -r --arg c "$1" \
		'.[$c][] | .username + ":" + ([.roles[].shortname] | join(","))'
}

# cstate COURSE_ID: "user role state section" lines of a Canvas course.
cstate() {
	curl -fsS "$CANVAS_URL/_state" | jq -r --arg c "$1" '.[$c][] |
		"\(.sis_user_id) \(.role) \(.enrollment_state) \(.sis_section_id)"'
}

# results: "user op result" per output record.
results() {
	jq -r '"\(.user) \(.op) \(.result)"' <<<"$output"
}

@test "common options: --help, --version, unknown option" {
	common_cli_checks lms-push
	run --separate-stderr lms-push --help
	assert_output --partial "lms-push canvas [--url URL] --sis-import --account ID [FILE...]"
}

@test "bad command lines are usage errors (exit 2) with nothing on stdout" {
	local args
	for args in "" "blackboard" "moodle - -" "moodle --drop-as delete" \
		"canvas --user-field idnumber" "canvas --sis-import" \
		"canvas --account 1" "canvas --drop-as remove" \
		"moodle --user-field phone" "moodle --role-id student" \
		"moodle --role-id student=x" "moodle --batch-size 0" \
		"canvas --batch-size 5" "--jobs 0 moodle"; do
		# shellcheck disable=SC2086
		run --separate-stderr lms-push $args
		[ "$status" -eq 2 ] || { echo "args: $args"; false; }
		[ -z "$output" ]
		[[ "$stderr" == "lms-push: "* ]]
		[[ "$stderr" == *"try 'lms-push --help'"* ]]
	done
}

@test "bad input exits 65 with its line, applies nothing and writes nothing" {
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' \
		'{"op":"move","course":"MATH101","user":"fay","role":"student"}' >"$T/bad.ndjson"
	run --separate-stderr lms-push moodle --user-field username "$T/bad.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "lms-push: $T/bad.ndjson:2: unknown op 'move' (add, drop or update)" ]]
	printf '%s\n' '{"op":"add","course":"MATH101","role":"student"}' >"$T/bad2.ndjson"
	run --separate-stderr lms-push moodle --user-field username "$T/bad2.ndjson"
	assert_failure 65
	[[ "$stderr" == *"bad2.ndjson:1: missing field 'user'"* ]]
	run --separate-stderr lms-push moodle --user-field username "$T/none.ndjson"
	assert_failure 66
	[ -z "$output" ]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
}

@test "control characters from the input are escaped in messages: no forged lines" {
	printf '%s\n' '{"op":"add\nlms-push: 0 of 1 changes failed\r\u001b[2J\u009b\u007f","course":"MATH101","user":"eve","role":"student"}' >"$T/bad.ndjson"
	run --separate-stderr lms-push moodle "$T/bad.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ "$stderr" = "lms-push: $T/bad.ndjson:1: unknown op 'add\\nlms-push: 0 of 1 changes failed\\r\\x1b[2J\\u009b\\x7f' (add, drop or update)" ]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
}

@test "empty input: no calls, no output, exit 0" {
	run --separate-stderr lms-push moodle --user-field username </dev/null
	assert_success
	[ -z "$output" ]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
}

@test "moodle: adds, drops, a role change and a role drop are applied" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101","user":"eve","role":"student"}
	{"op":"add","course":"HIST200","user":"fay","role":"editingteacher"}
	{"op":"drop","course":"MATH101","user":"dee","role":"student"}
	{"op":"update","course":"MATH101","user":"cai","role":"teacher","old_role":"student"}
	{"op":"drop","course":"HIST200","user":"gus","role":"auditingstudent"}
	EOF2
	run --separate-stderr lms-push moodle --user-field username "$T/c.ndjson"
	assert_success
	diff -u <(printf '%s\n' "eve add ok" "fay add ok" "dee drop ok" \
		"cai update ok" "gus drop ok") <(results)
	# Input fields first, then result and message.
	[ "$(head -1 <<<"$output" | jq -c 'keys_unsorted')" = \
		'["op","course","user","role","result","message"]' ]
	diff -u <(printf '%s\n' ann:student cai:teacher eve:student) \
		<(mroles 10)
	# gus keeps his student role: the drop unassigned one role only.
	diff -u <(printf '%s\n' ben:editingteacher fay:editingteacher \
		gus:student) <(mroles 11)
	[ "$(jq -r 'select(.user=="cai").message' <<<"$output")" = \
		"role changed from student to teacher" ]
}

@test "several inputs are read in turn, as cat would; '-' is stdin; results keep the order" {
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' \
		'{"op":"drop","course":"MATH101","user":"dee","role":"student"}' >"$T/a.ndjson"
	printf '%s\n' '{"op":"add","course":"HIST200","user":"fay","role":"editingteacher"}' >"$T/b.ndjson"
	printf 'op,course,user,role,old_role\nupdate,MATH101,cai,teacher,student\n' >"$T/c.csv"
	run --separate-stderr lms-push moodle --user-field username \
		"$T/a.ndjson" - "$T/c.csv" <"$T/b.ndjson"
	assert_success
	diff -u <(printf '%s\n' "eve add ok" "dee drop ok" "fay add ok" \
		"cai update ok") <(results)
	diff -u <(printf '%s\n' ann:student cai:teacher eve:student) \
		<(mroles 10)
	diff -u <(printf '%s\n' ben:editingteacher fay:editingteacher \
		gus:student,auditingstudent) <(mroles 11)
	# The results follow the first input's format (NDJSON here, CSV
	# when the CSV file comes first).
	curl -fsS "$MOODLE_URL/_reset" >/dev/null
	run --separate-stderr lms-push moodle --user-field username \
		"$T/c.csv" "$T/b.ndjson"
	assert_success
	assert_line --index 0 "op,course,user,role,old_role,result,message"
	assert_line --index 1 "update,MATH101,cai,teacher,student,ok,role changed from student to teacher"
	assert_line --index 2 "add,HIST200,fay,editingteacher,,ok,enrolled as editingteacher"
	[ "${#lines[@]}" -eq 3 ]
}

@test "several inputs: a bad or missing later input applies nothing and writes nothing" {
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' >"$T/a.ndjson"
	printf '%s\n' '{"op":"add","course":"HIST200","user":"fay","role":"student"}' \
		'{"op":"move","course":"MATH101","user":"fay","role":"student"}' >"$T/bad.ndjson"
	run --separate-stderr lms-push moodle --user-field username \
		"$T/a.ndjson" "$T/bad.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "lms-push: $T/bad.ndjson:2: unknown op 'move' (add, drop or update)" ]
	run --separate-stderr lms-push moodle --user-field username \
		"$T/a.ndjson" "$T/none.ndjson"
	assert_failure 66
	[ -z "$output" ]
	[ "$stderr" = "lms-push: cannot open '$T/none.ndjson': No such file or directory" ]
	run --separate-stderr lms-push moodle --user-field username - - <"$T/a.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[[ "${stderr_lines[0]}" == "lms-push: '-' (stdin) named 2 times" ]]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
	diff -u <(printf '%s\n' ann:student cai:student dee:student) <(mroles 10)
}

@test "moodle: enrolments go in batches, lookups are cached within a run" {
	for u in eve fay ann ben cai; do
		printf '{"op":"add","course":"ARTS300","user":"%s","role":"student"}\n' "$u"
		printf '{"op":"add","course":"HIST200","user":"%s","role":"student"}\n' "$u"
	done | sed 's/ARTS300/MATH101/' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field username "$T/c.ndjson"
	assert_success
	[ "$(stat "$MOODLE_URL" ws_enrol_manual_enrol_users)" -eq 1 ]
	[ "$(stat "$MOODLE_URL" ws_core_user_get_users_by_field)" -eq 1 ]
	[ "$(stat "$MOODLE_URL" ws_core_course_get_courses_by_field)" -eq 2 ]
	faults "$MOODLE_URL" ""
	run --separate-stderr lms-push moodle --user-field username --batch-size 3 "$T/c.ndjson"
	assert_success
	[ "$(stat "$MOODLE_URL" ws_enrol_manual_enrol_users)" -eq 4 ]
	[ "$(mroles 11 | grep -c student)" -eq 6 ]
}

@test "moodle: a refused change among good ones fails alone (exit 1), the batch is split" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101","user":"eve","role":"student"}
	{"op":"add","course":"HIST200","user":"fay","role":"student"}
	{"op":"add","course":"ARTS300","user":"ann","role":"student"}
	{"op":"add","course":"MATH101","user":"fay","role":"student"}
	EOF2
	run --separate-stderr lms-push moodle --user-field username "$T/c.ndjson"
	assert_failure 1
	diff -u <(printf '%s\n' "eve add ok" "fay add ok" "ann add failed" \
		"fay add ok") <(results)
	[[ "$(jq -r 'select(.result=="failed").message' <<<"$output")" == *"Moodle error wsnoinstance: Manual enrolment plugin instance doesn't exist"* ]]
	[[ "$stderr" == *"1 of 4 changes failed"* ]]
	# 1 batch of 4, halves of 2, and the half with the bad one split again.
	[ "$(stat "$MOODLE_URL" ws_enrol_manual_enrol_users)" -eq 5 ]
	diff -u <(printf '%s\n' ann:student cai:student dee:student \
		eve:student fay:student) <(mroles 10)
}

@test "moodle: unknown users, courses and roles fail their changes only" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101","user":"zed","role":"student"}
	{"op":"add","course":"NOPE999","user":"eve","role":"student"}
	{"op":"add","course":"MATH101","user":"eve","role":"wizard"}
	{"op":"add","course":"MATH101","user":"fay","role":"student"}
	EOF2
	run --separate-stderr lms-push moodle --user-field username "$T/c.ndjson"
	assert_failure 1
	run jq -r '.result + ": " + .message' <<<"$output"
	assert_line --index 0 "failed: no user with username 'zed' in Moodle (or the token may not see it)"
	assert_line --index 1 "failed: no course with shortname 'NOPE999' in Moodle (or the token may not see it)"
	assert_line --index 2 "failed: unknown role 'wizard': give --role-id wizard=ID"
	assert_line --index 3 "ok: enrolled as student"
}

@test "moodle: role ids from --role-id or learnt from a roster; --user-field idnumber" {
	printf '%s\n' '{"op":"add","course":"HIST200","user":"1005","role":"auditingstudent"}' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field idnumber "$T/c.ndjson"
	assert_success
	# Learnt from gus, who holds auditingstudent (14) in HIST200.
	[ "$(stat "$MOODLE_URL" ws_core_enrol_get_enrolled_users)" -eq 1 ]
	mroles 11 | grep -qx 'eve:auditingstudent'
	faults "$MOODLE_URL" ""
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"auditingstudent"}' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field username --role-id auditingstudent=14 "$T/c.ndjson"
	assert_success
	[ "$(stat "$MOODLE_URL" ws_core_enrol_get_enrolled_users)" -eq 0 ]
	mroles 10 | grep -qx 'eve:auditingstudent'
}

@test "moodle: a drop already in effect is ok with nothing sent" {
	printf '%s\n' '{"op":"drop","course":"MATH101","user":"eve","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field username "$T/c.ndjson"
	assert_success
	[ "$(jq -r .message <<<"$output")" = "not enrolled: nothing to do" ]
	[ "$(stat "$MOODLE_URL" ws_enrol_manual_unenrol_users)" -eq 0 ]
}

@test "moodle: an idnumber or e-mail that finds two users fails its change, neither touched" {
	faults "$MOODLE_URL" "twin=ann"
	printf '%s\n' '{"op":"drop","course":"MATH101","user":"1001","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field idnumber "$T/c.ndjson"
	assert_failure 1
	[ "$(jq -r .message <<<"$output")" = "more than one Moodle user has idnumber '1001': nothing done" ]
	printf '%s\n' '{"op":"drop","course":"MATH101","user":"ann@example.edu","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field email "$T/c.ndjson"
	assert_failure 1
	[ "$(jq -r .message <<<"$output")" = "more than one Moodle user has email 'ann@example.edu': nothing done" ]
	[ "$(stat "$MOODLE_URL" ws_enrol_manual_unenrol_users)" -eq 0 ]
	[ "$(stat "$MOODLE_URL" ws_core_role_unassign_roles)" -eq 0 ]
	diff -u <(printf '%s\n' ann:student cai:student dee:student) <(mroles 10)
}

@test "moodle: an invalid token exits 77, the token never shown" {
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' >"$T/c.ndjson"
	MOODLE_TOKEN=wrong-token-123 run --separate-stderr lms-push moodle --user-field username "$T/c.ndjson"
	assert_failure 77
	[[ "$stderr" == *"invalidtoken: Invalid token - token not found"* ]]
	[[ "$stderr$output" != *wrong-token-123* ]]
	[[ "$(jq -r '.result + ": " + .message' <<<"$output")" == "failed: not attempted: core_"*": Moodle error invalidtoken: Invalid token - token not found" ]]
	diff -u <(printf '%s\n' ann:student cai:student dee:student) <(mroles 10)
}

@test "an LMS that stays unreachable: exit 75, every change failed" {
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' \
		'{"op":"drop","course":"MATH101","user":"dee","role":"student"}' >"$T/c.ndjson"
	local port
	port=$(free_port)
	run --separate-stderr lms-push moodle --user-field username --url "http://127.0.0.1:$port" \
		--retries 2 "${FAST[@]}" "$T/c.ndjson"
	assert_failure 75
	[ "$(jq -r .result <<<"$output" | sort -u)" = failed ]
	[[ "$(jq -r .message <<<"$output" | head -1)" == *"after 3 attempts"* ]]
	[[ "$stderr" == *"(the LMS stayed unreachable)"* ]]
	printf '%s\n' '{"op":"add","course":"MATH101-F24","user":"S5","role":"student"}' >"$T/cc.ndjson"
	run --separate-stderr lms-push canvas --url "http://127.0.0.1:$port" \
		--retries 1 "${FAST[@]}" "$T/cc.ndjson"
	assert_failure 75
}

@test "moodle: a lost reply is checked against the roster, never sent twice" {
	faults "$MOODLE_URL" "fault=lost&match=enrol_manual_enrol_users&every=1"
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' \
		'{"op":"add","course":"HIST200","user":"fay","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field username "${FAST[@]}" -v "$T/c.ndjson"
	assert_success
	[ "$(stat "$MOODLE_URL" faults)" -eq 1 ]
	[ "$(stat "$MOODLE_URL" ws_enrol_manual_enrol_users)" -eq 1 ]
	[ "$(stat "$MOODLE_URL" ws_core_enrol_get_enrolled_users)" -eq 2 ]
	[ "$(jq -r .message <<<"$output" | sort -u)" = \
		"enrolled as student (confirmed after a lost reply)" ]
	[ "$(mroles 10 | grep -c '^eve:student$')" -eq 1 ]
	[[ "$stderr" == *"the reply was lost; reading 2 course roster(s)"* ]]
}

@test "moodle: a lost reply whose call did not take effect is sent once more" {
	# 'nothing' closes the connection before the server acted.
	faults "$MOODLE_URL" "fault=nothing&match=enrol_manual_enrol_users&every=1"
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field username "${FAST[@]}" "$T/c.ndjson"
	assert_success
	# Sent, lost unheard, roster read, sent again and carried out.
	[ "$(stat "$MOODLE_URL" faults)" -eq 1 ]
	[ "$(stat "$MOODLE_URL" ws_core_enrol_get_enrolled_users)" -eq 1 ]
	[ "$(stat "$MOODLE_URL" ws_enrol_manual_enrol_users)" -eq 1 ]
	[ "$(jq -r .message <<<"$output")" = "enrolled as student" ]
	faults "$MOODLE_URL" "fault=nothing&match=enrol_manual_enrol_users&every=1&times=9"
	run --separate-stderr lms-push moodle --user-field username "${FAST[@]}" "$T/c.ndjson"
	assert_failure 1
	[[ "$(jq -r .message <<<"$output")" == *"the reply was lost twice"* ]]
	[ "$(stat "$MOODLE_URL" faults)" -eq 2 ]
	[ "$(stat "$MOODLE_URL" 'methods.POST')" -eq 6 ]
}

@test "--dry-run prints the calls with the token masked and sends nothing" {
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' \
		'{"op":"drop","course":"MATH101","user":"dee","role":"student","course_id":10,"user_id":204}' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field username -n "$T/c.ndjson"
	assert_success
	[[ "$output" != *"$MTOKEN"* ]]
	[[ "$output" == *"wstoken=****&wsfunction=enrol_manual_enrol_users"* ]]
	[[ "$output" == *"wsfunction=enrol_manual_unenrol_users&moodlewsrestformat=json&enrolments%5B0%5D%5Buserid%5D=204&enrolments%5B0%5D%5Bcourseid%5D=10"* ]]
	[[ "$output" == *"value=MATH101"* ]]
	printf '%s\n' '{"op":"drop","course":"MATH101-F24","user":"S4","role":"student"}' >"$T/cc.ndjson"
	run --separate-stderr lms-push canvas -n --drop-as delete "$T/cc.ndjson"
	assert_success
	assert_line --index 1 --partial "DELETE http://127.0.0.1:$CPORT/api/v1/courses/sis_course_id:MATH101-F24/enrollments/:enrollment_id?task=delete"
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
	[ "$(stat "$CANVAS_URL" requests)" -eq 0 ]
}

@test "canvas: adds (course and section form), a role change and drops are applied" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101-F24","user":"S5","role":"student"}
	{"op":"add","course":"MATH101-F24","user":"S2","role":"ta","lms_section":"MATH101-F24-01"}
	{"op":"drop","course":"MATH101-F24","user":"S4","role":"student"}
	{"op":"update","course":"HIST200-F24","user":"S2","role":"ta","old_role":"teacher"}
	{"op":"add","course":"MATH101-F24","user":"S1","role":"Grader"}
	EOF2
	run --separate-stderr lms-push canvas --role-id Grader=19 "$T/c.ndjson"
	assert_success
	diff -u <(printf '%s\n' "S1 StudentEnrollment active null" \
		"S4 StudentEnrollment completed null" \
		"S3 StudentEnrollment active MATH101-F24-01" \
		"S5 StudentEnrollment active null" \
		"S2 TaEnrollment active MATH101-F24-01" \
		"S1 Grader active null" | sort) <(cstate 501 | sort)
	diff -u <(printf '%s\n' "S2 TeacherEnrollment completed null" \
		"S2 TaEnrollment active null") <(cstate 502)
	[ "$(stat "$CANVAS_URL" token_in_url)" -eq 0 ]
}

@test "canvas: sis-extract's 'section' (the SIS section number) is never taken for a Canvas section" {
	# It once posted to /sections/sis_section_id:01/enrollments (404).
	printf '%s\n' '{"op":"add","course":"MATH101-F24","user":"S5","role":"student","section":"01"}' \
		'{"op":"add","course":"MATH101-F24","user":"S2","role":"ta","section":"02"}' >"$T/c.ndjson"
	run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_success
	[ "$(grep -c "field 'section' (the SIS section) is not a Canvas section" <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *"c.ndjson:1: field 'section'"* ]]
	cstate 501 | grep -qx 'S5 StudentEnrollment active null'
	cstate 501 | grep -qx 'S2 TaEnrollment active null'
}

@test "canvas: --drop-as delete and inactivate; a drop by enrollment_id needs no lookup" {
	printf '%s\n' '{"op":"drop","course":"MATH101-F24","user":"S4","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push canvas --drop-as delete "$T/c.ndjson"
	assert_success
	[ "$(jq -r .message <<<"$output")" = deleted ]
	cstate 501 | grep -qx 'S4 StudentEnrollment deleted null'
	printf '%s\n' '{"op":"drop","course":"MATH101-F24","user":"S1","role":"student","course_id":501,"enrollment_id":60001}' >"$T/c.ndjson"
	faults "$CANVAS_URL" ""
	run --separate-stderr lms-push canvas --drop-as inactivate "$T/c.ndjson"
	assert_success
	[ "$(stat "$CANVAS_URL" requests)" -eq 1 ]
	[ "$(stat "$CANVAS_URL" 'methods.DELETE')" -eq 1 ]
	cstate 501 | grep -qx 'S1 StudentEnrollment inactive null'
	printf '%s\n' '{"op":"drop","course":"MATH101-F24","user":"S3","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_success
	[ "$(jq -r .message <<<"$output")" = concluded ]
	run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_success
	[ "$(jq -r .message <<<"$output")" = "already completed" ]
}

@test "canvas: unknown users, courses and roles fail alone; a 401 exits 77" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101-F24","user":"S9","role":"student"}
	{"op":"add","course":"NOPE","user":"S1","role":"student"}
	{"op":"add","course":"MATH101-F24","user":"S5","role":"wizard"}
	{"op":"drop","course":"HIST200-F24","user":"S5","role":"student"}
	{"op":"add","course":"HIST200-F24","user":"S5","role":"student"}
	EOF2
	run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_failure 1
	run jq -r '.result + ": " + .message' <<<"$output"
	assert_line --index 0 "failed: enrollment POST: HTTP 404: The specified resource does not exist."
	assert_line --index 1 "failed: enrollment POST: HTTP 404: The specified resource does not exist."
	assert_line --index 2 --partial "failed: unknown Canvas role 'wizard'"
	assert_line --index 3 "failed: no student enrollment of user S5 in course HIST200-F24 to drop"
	assert_line --index 4 "ok: enrolled as student"
	CANVAS_TOKEN=nope-nope run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_failure 77
	[[ "$stderr" == *"HTTP 401: Invalid access token."* ]]
	[[ "$stderr$output" != *nope-nope* ]]
}

# no_token TOKEN TEXT: neither the token nor its first 8 characters appear
# (fewer would match ordinary words: "moodle" is in moodlewsrestformat).
no_token() {
	[[ "$2" != *"${1:0:8}"* ]] || {
		echo "token (or its start) leaked: $2" >&2
		return 1
	}
}

@test "moodle: a reply that echoes the request never puts the token in results or messages" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101","user":"eve","role":"student"}
	{"op":"drop","course":"MATH101","user":"dee","role":"student"}
	EOF2
	local q pre='POST /webservice/rest/server.php? |  | wstoken='
	# The last: Moodle's own message ends 10 characters into the token.
	for q in "match=core_user_get_users_by_field&echo_moodle=1" \
		"match=core_course_get_courses_by_field&echo_status=400" \
		"match=enrol_manual_enrol_users&echo_moodle=1" \
		"match=enrol_manual_unenrol_users&echo_status=400" \
		"match=core_user_get_users_by_field&echo_moodle=1&echo_cut=$((${#pre} + 10))"; do
		faults "$MOODLE_URL" "fault=echo&every=1&times=9&$q"
		run --separate-stderr lms-push moodle -v --user-field username \
			"${FAST[@]}" "$T/c.ndjson"
		assert_failure 1
		[ "$(stat "$MOODLE_URL" faults)" -ge 1 ]
		# The echo reached the result: it was masked, not dropped.
		[[ "$output" == *"wstoken=****"* ]]
		no_token "$MTOKEN" "$output$stderr"
	done
}

@test "canvas: a reply that echoes the request never puts the token in results or messages" {
	printf '%s\n' '{"op":"add","course":"MATH101-F24","user":"S5","role":"student"}' \
		'{"op":"drop","course":"HIST200-F24","user":"S1","role":"student"}' \
		>"$T/c.ndjson"
	faults "$CANVAS_URL" "fault=echo&every=1&times=9&echo_status=400"
	run --separate-stderr lms-push canvas -v "${FAST[@]}" "$T/c.ndjson"
	assert_failure 1
	[[ "$output" == *"Bearer ****"* ]]
	no_token "$CTOKEN" "$output$stderr"
}

@test "canvas: a POST whose reply is lost is checked, not repeated" {
	faults "$CANVAS_URL" "fault=lost&match=POST&every=1"
	printf '%s\n' '{"op":"add","course":"MATH101-F24","user":"S5","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push canvas "${FAST[@]}" "$T/c.ndjson"
	assert_success
	[ "$(jq -r .message <<<"$output")" = \
		"enrolled as student (confirmed after a lost reply)" ]
	[ "$(stat "$CANVAS_URL" enroll_posts)" -eq 1 ]
	[ "$(cstate 501 | grep -c '^S5 ')" -eq 1 ]
}

@test "canvas: a lookup answer with other users' enrollments ends none of them; the change fails" {
	# A server that ignores user_id= answers with the whole course.
	faults "$CANVAS_URL" "ignore_user_filter=1"
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"drop","course":"MATH101-F24","user":"S4","role":"student"}
	{"op":"drop","course":"HIST200-F24","user":"S5","role":"teacher"}
	{"op":"drop","course_id":501,"user_id":804,"role":"student"}
	EOF2
	run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_failure 1
	run jq -r '.result + ": " + .message' <<<"$output"
	assert_line --index 0 "failed: the lookup of user sis_user_id:S4's enrollments in course sis_course_id:MATH101-F24 returned 2 enrollments of other users or courses: nothing changed"
	assert_line --index 1 "failed: the lookup of user sis_user_id:S5's enrollments in course sis_course_id:HIST200-F24 returned 1 enrollment of other users or courses: nothing changed"
	assert_line --index 2 "failed: the lookup of user 804's enrollments in course 501 returned 2 enrollments of other users or courses: nothing changed"
	[ "$(stat "$CANVAS_URL" enroll_deletes)" -eq 0 ]
	[ "$(stat "$CANVAS_URL" methods.DELETE)" -eq 0 ]
	diff -u <(printf '%s\n' "S1 StudentEnrollment active null" \
		"S4 StudentEnrollment active null" \
		"S3 StudentEnrollment active MATH101-F24-01") <(cstate 501)
	diff -u <(printf '%s\n' "S2 TeacherEnrollment active null") <(cstate 502)
	# Two enrollments of the user with one role in one section.
	faults "$CANVAS_URL" "twin_enrollments=1"
	run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_failure 1
	[ "$(jq -r .message <<<"$output" | head -1)" = "the lookup of user sis_user_id:S4's enrollments in course sis_course_id:MATH101-F24 returned two enrollments with one role in one section, or one without an id: nothing changed" ]
	[ "$(stat "$CANVAS_URL" enroll_deletes)" -eq 0 ]
	cstate 501 | grep -qx 'S4 StudentEnrollment active null'
}

@test "canvas: a drop ends the user's enrollments on every lookup page" {
	# One enrollment a page: the second is only on page 2.
	faults "$CANVAS_URL" "max_per_page=1"
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101-F24","user":"S5","role":"student"}
	{"op":"add","course":"MATH101-F24","user":"S5","role":"student","lms_section":"MATH101-F24-01"}
	EOF2
	run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_success
	printf '%s\n' '{"op":"drop","course":"MATH101-F24","user":"S5","role":"student"}' >"$T/d.ndjson"
	run --separate-stderr lms-push canvas "$T/d.ndjson"
	assert_success
	[ "$(jq -r .message <<<"$output")" = "concluded (every section)" ]
	[ "$(stat "$CANVAS_URL" enroll_deletes)" -eq 2 ]
	[ "$(cstate 501 | grep -c '^S5 StudentEnrollment completed')" -eq 2 ]
	# A drop with no role ends every role, two in one section included.
	printf '%s\n' '{"op":"add","course":"HIST200-F24","user":"S2","role":"ta"}' >"$T/c.ndjson"
	run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_success
	printf '%s\n' '{"op":"drop","course":"HIST200-F24","user":"S2"}' >"$T/d.ndjson"
	run --separate-stderr lms-push canvas "$T/d.ndjson"
	assert_success
	diff -u <(printf '%s\n' "S2 TeacherEnrollment completed null" \
		"S2 TaEnrollment completed null") <(cstate 502)
}

@test "canvas: a lookup that loops, never ends or is too large fails its change, nothing ended" {
	printf '%s\n' '{"op":"drop","course":"MATH101-F24","user":"S4","role":"student"}' >"$T/c.ndjson"
	faults "$CANVAS_URL" "next_loop=same"
	run --separate-stderr lms-push canvas "$T/c.ndjson"
	assert_failure 1
	[[ "$(jq -r .message <<<"$output")" == "enrollment lookup: the server's Link rel=\"next\" leads back to a page already fetched, after 2 pages"* ]]
	[ "$(stat "$CANVAS_URL" enroll_deletes)" -eq 0 ]
	faults "$CANVAS_URL" "next_loop=endless"
	run --separate-stderr lms-push canvas --max-pages 5 "$T/c.ndjson"
	assert_failure 1
	[ "$(jq -r .message <<<"$output")" = "enrollment lookup: more than 5 pages (--max-pages): the server's Link rel=\"next\" does not end" ]
	[ "$(stat "$CANVAS_URL" requests)" -eq 5 ]
	[ "$(stat "$CANVAS_URL" enroll_deletes)" -eq 0 ]
	faults "$CANVAS_URL" "gzip_bomb=3000000"
	run --separate-stderr lms-push canvas --max-reply 1M "$T/c.ndjson"
	assert_failure 1
	[[ "$(jq -r .message <<<"$output")" == *"the reply is larger than 1M (--max-reply)" ]]
	[ "$(stat "$CANVAS_URL" enroll_deletes)" -eq 0 ]
	cstate 501 | grep -qx 'S4 StudentEnrollment active null'
}

@test "a site URL with a password or a query is refused (78), the password never shown" {
	printf '%s\n' '{"op":"drop","course":"MATH101-F24","user":"S4","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push canvas --url "http://a:pw-Secr3t-99@127.0.0.1:$CPORT" "$T/c.ndjson"
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == *"the site URL (--url) holds a user name or password (host '127.0.0.1')"* ]]
	[[ "$stderr" != *Secr3t* ]]
	MOODLE_URL="http://127.0.0.1:$MPORT/?wstoken=tok-Secr3t-99" run \
		--separate-stderr lms-push moodle "$T/c.ndjson"
	assert_failure 78
	[[ "$stderr" == *"the site URL (\$MOODLE_URL) has a '?query' or '#fragment' part"* ]]
	[[ "$stderr$output" != *Secr3t* ]]
	run --separate-stderr lms-push canvas --url http://127.0.0.1.nip.io "$T/c.ndjson"
	assert_failure 78
	[[ "$stderr" == *"refusing to send a token over plain http to '127.0.0.1.nip.io'"* ]]
	[ "$(stat "$CANVAS_URL" requests)" -eq 0 ]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
}

@test "canvas --sis-import: one enrollments.csv, polled; warnings fail their rows" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101-F24","user":"S5","role":"student"}
	{"op":"add","course":"MATH101-F24","user":"S9","role":"student"}
	{"op":"drop","course":"MATH101-F24","user":"S4","role":"student"}
	EOF2
	faults "$CANVAS_URL" sis_polls=3
	run --separate-stderr lms-push canvas --sis-import --account 1 \
		"${FAST[@]}" "$T/c.ndjson"
	assert_failure 1
	diff -u <(printf '%s\n' "S5 add ok" "S9 add failed" "S4 drop ok") <(results)
	[ "$(jq -r 'select(.user=="S9").message' <<<"$output")" = \
		"SIS import 1: warning: User not found for enrollment (User ID: S9, Course ID: MATH101-F24, Section ID: , Role: student)" ]
	[ "$(stat "$CANVAS_URL" sis_imports)" -eq 1 ]
	[ "$(stat "$CANVAS_URL" sis_polls)" -eq 3 ]
	cstate 501 | grep -qx 'S5 StudentEnrollment active null'
	cstate 501 | grep -qx 'S4 StudentEnrollment completed null'
}

@test "canvas --sis-import: a failed import fails every change" {
	faults "$CANVAS_URL" sis_status=failed
	printf '%s\n' '{"op":"add","course":"MATH101-F24","user":"S5","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push canvas --sis-import --account 1 \
		"${FAST[@]}" "$T/c.ndjson"
	assert_failure 1
	[ "$(jq -r .message <<<"$output")" = \
		"SIS import 1: failed_with_messages: Error while importing CSV. Please contact support." ]
	[ "$(cstate 501 | grep -c '^S5 ')" -eq 0 ]
	run --separate-stderr lms-push canvas --sis-import --account 1 -n \
		"$T/c.ndjson"
	assert_success
	assert_line --index 1 "course_id,user_id,role,section_id,status"
	assert_line --index 2 "MATH101-F24,S5,student,,active"
}

# admins: "user role state" lines of a Canvas account's admins.
admins() {
	curl -fsS "$CANVAS_URL/_admins" | jq -r --arg a "$1" '.[$a][] |
		"\(.user.sis_user_id) \(.role) \(.workflow_state)"'
}

@test "canvas account roles (org enrollments): add, drop and update through the admins API" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","account":"7","user":"S1","role":"AccountAdmin"}
	{"op":"add","account":"ENGR","user":"S2","role":"Subaccount Admin"}
	{"op":"drop","account":"7","user":"S3","role":"AccountAdmin"}
	{"op":"drop","account":"7","user":"S4","role":"AccountAdmin"}
	{"op":"update","account":"7","user":"S1","role":"Subaccount Admin","old_role":"AccountAdmin"}
	{"op":"add","course":"MATH101-F24","user":"S5","role":"student"}
	EOF2
	run --separate-stderr lms-push canvas "${FAST[@]}" \
		--role-id 'Subaccount Admin=12' "$T/c.ndjson"
	assert_failure 1
	diff -u <(printf '%s\n' "S1 add ok" "S2 add ok" "S3 drop ok" \
		"S4 drop failed" "S1 update ok" "S5 add ok") <(results)
	[ "$(jq -r 'select(.user=="S4").message' <<<"$output")" = \
		"user S4 has no account role AccountAdmin in account 7 to drop" ]
	# ENGR is account 7.
	diff -u <(printf '%s\n' "S1 AccountAdmin deleted" \
		"S1 Subaccount Admin active" "S2 Subaccount Admin active" \
		"S3 AccountAdmin deleted") <(admins 7 | LC_ALL=C sort)
	cstate 501 | grep -qx 'S5 StudentEnrollment active null'
	# The update came after the add of the same user and account.
	[ "$(stat "$CANVAS_URL" admin_posts)" -eq 3 ]
	[ "$(stat "$CANVAS_URL" admin_deletes)" -eq 3 ]
	# Dry run: the calls, none made; an account role in a Moodle run or
	# beside a course is bad data (65), nothing sent.
	run --separate-stderr lms-push canvas -n "$T/c.ndjson"
	assert_success
	assert_line --index 0 "POST $CANVAS_URL/api/v1/accounts/7/admins"
	assert_line --index 1 "  user_id=sis_user_id%3AS1&role=AccountAdmin&send_confirmation=false"
	assert_line --index 2 "POST $CANVAS_URL/api/v1/accounts/sis_account_id:ENGR/admins"
	assert_line --index 5 "DELETE $CANVAS_URL/api/v1/accounts/7/admins/sis_user_id:S4?role=AccountAdmin"
	printf '%s\n' '{"op":"add","account":"7","course":"MATH101-F24","user":"S1","role":"student"}' >"$T/b.ndjson"
	run --separate-stderr lms-push canvas "$T/b.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "lms-push: $T/b.ndjson:1: a change names an 'account' (an account role) or a course, not both" ]
	run --separate-stderr lms-push moodle "$T/c.ndjson"
	assert_failure 65
	[ "$stderr" = "lms-push: $T/c.ndjson:1: field 'account': account roles are Canvas's only" ]
}

@test "canvas --max-drop-count: more drops refuse the run (3), nothing applied, no output" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101-F24","user":"S5","role":"student"}
	{"op":"drop","course":"MATH101-F24","user":"S4","role":"student"}
	{"op":"drop","account":"7","user":"S3","role":"AccountAdmin"}
	{"op":"drop","course":"MATH101-F24","user":"S1","role":"student","drop_policy":"keep"}
	EOF2
	faults "$CANVAS_URL" ''
	run --separate-stderr lms-push canvas "${FAST[@]}" --max-drop-count 1 "$T/c.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "lms-push: refusing 2 drops (1 of them account roles), over --max-drop-count 1: nothing applied" ]
	[ "$(stat "$CANVAS_URL" requests)" -eq 0 ]
	admins 7 | grep -qx 'S3 AccountAdmin active'
	cstate 501 | grep -qx 'S4 StudentEnrollment active null'
	# At the limit (a kept drop does not count) the run goes ahead.
	run --separate-stderr lms-push canvas "${FAST[@]}" --max-drop-count 2 "$T/c.ndjson"
	assert_success
	admins 7 | grep -qx 'S3 AccountAdmin deleted'
	cstate 501 | grep -qx 'S4 StudentEnrollment completed null'
}

@test "canvas sis-import FILE --diffing-data-set: Canvas applies the differences; gone rows take the drop status" {
	printf '%s\n' course_id,user_id,role,section_id,status \
		MATH101-F24,S5,student,,active MATH101-F24,S2,student,,active \
		>"$T/e1.csv"
	printf '%s\n' course_id,user_id,role,section_id,status \
		MATH101-F24,S5,student,,active >"$T/e2.csv"
	run --separate-stderr lms-push canvas sis-import --account 1 \
		"${FAST[@]}" --diffing-data-set 'enrollments:fall 2024' \
		--diffing-drop-status inactive --change-threshold 60 "$T/e1.csv"
	assert_success
	assert_output '{"import_id":1,"workflow_state":"imported","diffing_data_set_identifier":"enrollments:fall 2024","diffed_against_import_id":null,"counts":{"enrollments":2},"errors":0,"warnings":0}'
	run --separate-stderr lms-push canvas sis-import --account 1 \
		"${FAST[@]}" --diffing-data-set 'enrollments:fall 2024' \
		--diffing-drop-status inactive --change-threshold 60 "$T/e2.csv"
	assert_success
	# One row was unchanged: only S2's removal was applied.
	[ "$(jq -c '[.import_id, .diffed_against_import_id, .counts.enrollments]' <<<"$output")" = '[2,1,1]' ]
	cstate 501 | grep -qx 'S2 StudentEnrollment inactive null'
	cstate 501 | grep -qx 'S5 StudentEnrollment active null'
	# Over the change threshold (from 1 row to 3, +200%): no diffing.
	printf '%s\n' MATH101-F24,S1,student,,active MATH101-F24,S2,student,,active \
		>>"$T/e2.csv"
	run --separate-stderr lms-push canvas sis-import --account 1 \
		"${FAST[@]}" --diffing-data-set 'enrollments:fall 2024' \
		--change-threshold 60 "$T/e2.csv"
	assert_success
	[ "$(jq -c '[.diffed_against_import_id, .counts.enrollments]' <<<"$output")" = '[null,3]' ]
	# A zip of CSVs, as conduit-fmt writes several, goes as application/zip;
	# remaster: the whole file again, no diff.
	cp "$T/e1.csv" "$T/enrollments.csv"
	(cd "$T" && python3 -c 'import zipfile,sys; z = zipfile.ZipFile("p.zip", "w"); z.write("enrollments.csv"); z.close()')
	run --separate-stderr lms-push canvas sis-import --account 1 \
		"${FAST[@]}" --diffing-data-set 'enrollments:fall 2024' \
		--diffing-remaster "$T/p.zip"
	assert_success
	[ "$(jq -c '[.workflow_state, .diffed_against_import_id, .counts.enrollments]' <<<"$output")" = '["imported",null,2]' ]
	[ "$(stat "$CANVAS_URL" sis_imports)" -eq 4 ]
	run --separate-stderr lms-push canvas sis-import --account 1 -n \
		--diffing-data-set 'a b' --diffing-drop-status completed "$T/e1.csv"
	assert_success
	assert_line --index 0 "POST $CANVAS_URL/api/v1/accounts/1/sis_imports?import_type=instructure_csv&extension=csv&diffing_data_set_identifier=a%20b&diffing_drop_status=completed"
}

@test "canvas sis-import FILE: the identifier and drop status are checked before any call (2)" {
	printf '%s\n' course_id,user_id,role,section_id,status \
		MATH101-F24,S5,student,,active >"$T/e.csv"
	run --separate-stderr lms-push canvas sis-import --account 1 \
		--diffing-data-set x --diffing-drop-status removed "$T/e.csv"
	assert_failure 2
	[ -z "$output" ]
	assert_equal "${stderr%%$'\n'*}" "lms-push: --diffing-drop-status: unknown status 'removed' (deleted, completed or inactive)"
	run --separate-stderr lms-push canvas sis-import --account 1 \
		--diffing-data-set "$(printf 'x%.0s' {1..129})" "$T/e.csv"
	assert_failure 2
	assert_equal "${stderr%%$'\n'*}" "lms-push: --diffing-data-set: the identifier must be 1 to 128 bytes of UTF-8 (got 129 bytes)"
	run --separate-stderr lms-push canvas sis-import --account 1 \
		--diffing-data-set "$(printf 'caf\xe9')" "$T/e.csv"
	assert_failure 2
	assert_equal "${stderr%%$'\n'*}" "lms-push: --diffing-data-set: the identifier must be 1 to 128 bytes of UTF-8 (got 4 bytes, not UTF-8)"
	# 128 bytes of UTF-8 (64 two-byte letters) are taken.
	run --separate-stderr lms-push canvas sis-import --account 1 -n \
		--diffing-data-set "$(printf 'é%.0s' {1..64})" "$T/e.csv"
	assert_success
	run --separate-stderr lms-push canvas sis-import --account 1 \
		--diffing-drop-status deleted "$T/e.csv"
	assert_failure 2
	assert_equal "${stderr%%$'\n'*}" "lms-push: --diffing-drop-status needs --diffing-data-set"
	run --separate-stderr lms-push canvas --diffing-data-set x "$T/e.csv"
	assert_failure 2
	[[ "$stderr" == *"go with 'canvas sis-import FILE'"* ]]
	[ "$(stat "$CANVAS_URL" requests)" -eq 0 ]
	# What Canvas itself answers to a bad drop status (the test server as
	# sis_imports_api_controller.rb): 400, nothing started.
	run curl -sS -X POST -H "Authorization: Bearer $CTOKEN" -w ' %{http_code}' \
		"$CANVAS_URL/api/v1/accounts/1/sis_imports?diffing_data_set_identifier=x&diffing_drop_status=removed"
	assert_output '{"message": "Invalid diffing_drop_status"} 400'
	[ "$(stat "$CANVAS_URL" sis_imports)" -eq 0 ]
}

@test "canvas sis-import FILE: not enabled (77), failed_with_messages (65), aborted and a poll that never ends (75)" {
	printf '%s\n' course_id,user_id,role,section_id,status \
		MATH101-F24,S5,student,,active >"$T/e.csv"
	faults "$CANVAS_URL" sis_disabled=1
	run --separate-stderr lms-push canvas sis-import --account 1 \
		"${FAST[@]}" "$T/e.csv"
	assert_failure 77
	[ -z "$output" ]
	[ "$stderr" = "lms-push: SIS import: HTTP 403: SIS imports are not enabled for this account" ]
	faults "$CANVAS_URL" sis_status=failed
	run --separate-stderr lms-push canvas sis-import --account 1 \
		"${FAST[@]}" --diffing-data-set d1 "$T/e.csv"
	assert_failure 65
	[ "$(jq -c '[.workflow_state, .errors]' <<<"$output")" = '["failed_with_messages",1]' ]
	[ "$stderr" = "lms-push: warning: SIS import 1: error: enrollments.csv: Error while importing CSV. Please contact support.
lms-push: SIS import 1: failed_with_messages (its errors above)" ]
	[ "$(cstate 501 | grep -c '^S5 ')" -eq 0 ]
	faults "$CANVAS_URL" sis_status=aborted
	run --separate-stderr lms-push canvas sis-import --account 1 \
		"${FAST[@]}" "$T/e.csv"
	assert_failure 75
	[ "$stderr" = "lms-push: SIS import 1: aborted" ]
	faults "$CANVAS_URL" sis_never_end=1
	run --separate-stderr lms-push canvas sis-import --account 1 \
		"${FAST[@]}" --import-timeout 1 "$T/e.csv"
	assert_failure 75
	[ -z "$output" ]
	[ "$stderr" = "lms-push: SIS import 1: still 'importing' after 1 s (--import-timeout); it may still end: see GET /api/v1/accounts/1/sis_imports/1" ]
	# imported_with_messages: 1, the warnings on stderr, masked.
	faults "$CANVAS_URL" ''
	printf '%s\n' "MATH101-F24,$CTOKEN,student,,active" >>"$T/e.csv"
	run --separate-stderr lms-push canvas sis-import --account 1 \
		"${FAST[@]}" "$T/e.csv"
	assert_failure 1
	[ "$(jq -c '[.workflow_state, .counts.enrollments, .warnings]' <<<"$output")" = '["imported_with_messages",1,1]' ]
	[[ "$stderr" == *"warning: SIS import 1: warning: enrollments.csv: User not found for enrollment (User ID: "* ]]
	[[ "$stderr" != *"$CTOKEN"* ]]
	[[ "$stderr" == *"SIS import 1: imported with 0 errors and 1 warning" ]]
}

# canvas_api_db FILE: a reporting database in SQLite with the SIS side
# (sis_canvas_*) and Canvas's provisioning parts (cnv_*) of canvasApi.
canvas_api_db() {
	sqlite3 "$1" <<-'EOF2'
	CREATE TABLE sis_canvas_enrollments (course_id TEXT, user_id TEXT, role TEXT, section_id TEXT);
	INSERT INTO sis_canvas_enrollments VALUES ('MATH101-F24', 'S1', 'student', NULL),
	  ('MATH101-F24', 'S5', 'student', NULL), ('MATH101-F24', 'S2', 'ta', NULL);
	CREATE TABLE cnv_enrollments (canvas_course_id INTEGER, course_id TEXT, canvas_user_id INTEGER,
	  user_id TEXT, role TEXT, section_id TEXT, status TEXT, created_by_sis TEXT);
	INSERT INTO cnv_enrollments VALUES (501, 'MATH101-F24', 801, 'S1', 'student', NULL, 'active', 'true'),
	  (501, 'MATH101-F24', 804, 'S4', 'student', NULL, 'active', 'true'),
	  (501, 'MATH101-F24', 803, 'S3', 'student', NULL, 'active', 'false');
	CREATE TABLE sis_canvas_admins (account_id TEXT, user_id TEXT, role TEXT);
	INSERT INTO sis_canvas_admins VALUES ('ENGR', 'S1', 'AccountAdmin');
	CREATE TABLE cnv_accounts (canvas_account_id INTEGER, account_id TEXT);
	INSERT INTO cnv_accounts VALUES (7, 'ENGR');
	CREATE TABLE cnv_admins (canvas_user_id INTEGER, user_id TEXT, role TEXT, canvas_account_id INTEGER,
	  account_id TEXT, status TEXT, created_by_sis TEXT);
	INSERT INTO cnv_admins VALUES (803, 'S3', 'AccountAdmin', 7, 'ENGR', 'active', 'true');
	EOF2
}

@test "the shipped canvasApi queries: enrollments, unenrollments and org enrollments through lms-push canvas" {
	need sqlite3
	canvas_api_db "$T/r.db"
	local q
	for q in enrollments unenrollments org-enrollments; do
		sis-extract --db "sqlite:$T/r.db" \
			--query "$ROOT/share/queries/canvas-api-$q.sql" >"$T/$q.ndjson"
	done
	diff -u - "$T/enrollments.ndjson" <<-'EOF2'
	{"op":"add","course":"MATH101-F24","user":"S2","role":"ta","lms_section":null}
	{"op":"add","course":"MATH101-F24","user":"S5","role":"student","lms_section":null}
	EOF2
	# S3 was enrolled by hand (created_by_sis false): never dropped.
	diff -u - "$T/unenrollments.ndjson" <<-'EOF2'
	{"op":"drop","course":"MATH101-F24","user":"S4","role":"student"}
	EOF2
	diff -u - "$T/org-enrollments.ndjson" <<-'EOF2'
	{"op":"add","account":7,"user":"S1","role":"AccountAdmin"}
	{"op":"drop","account":7,"user":"S3","role":"AccountAdmin"}
	EOF2
	run --separate-stderr lms-push canvas "${FAST[@]}" "$T/enrollments.ndjson" \
		"$T/unenrollments.ndjson" "$T/org-enrollments.ndjson"
	assert_success
	cstate 501 | grep -qx 'S5 StudentEnrollment active null'
	cstate 501 | grep -qx 'S4 StudentEnrollment completed null'
	admins 7 | grep -qx 'S1 AccountAdmin active'
	admins 7 | grep -qx 'S3 AccountAdmin deleted'
}

@test "round trip: push, then lms-fetch and enroll-diff give no changes" {
	# Users by idnumber, the default of lms-fetch and lms-push alike.
	cat >"$T/desired.ndjson" <<-'EOF2'
	{"course":"MATH101","user":"1001","role":"student"}
	{"course":"MATH101","user":"1003","role":"teacher"}
	{"course":"MATH101","user":"1005","role":"student"}
	{"course":"HIST200","user":"1002","role":"editingteacher"}
	{"course":"HIST200","user":"1006","role":"student"}
	{"course":"HIST200","user":"1007","role":"student"}
	EOF2
	local map=$FIX/lms-push/moodle-map.json
	lms-fetch moodle enrollments --mapping "$map" >"$T/actual.ndjson"
	enroll-diff --max-drop 50% "$T/desired.ndjson" "$T/actual.ndjson" \
		>"$T/changes.ndjson"
	[ "$(wc -l <"$T/changes.ndjson")" -ge 5 ]
	run --separate-stderr lms-push moodle "$T/changes.ndjson"
	assert_success
	lms-fetch moodle enrollments --mapping "$map" >"$T/actual2.ndjson"
	run --separate-stderr enroll-diff --max-drop 50% "$T/desired.ndjson" \
		"$T/actual2.ndjson"
	assert_success
	[ -z "$output" ]
	# The same through Canvas, with CSV input.
	cat >"$T/cdesired.ndjson" <<-'EOF2'
	{"course":"MATH101-F24","user":"S1","role":"student"}
	{"course":"MATH101-F24","user":"S5","role":"student"}
	{"course":"HIST200-F24","user":"S2","role":"ta"}
	EOF2
	lms-fetch canvas enrollments --course 501,502 >"$T/cactual.ndjson"
	enroll-diff --max-drop 100% -t csv "$T/cdesired.ndjson" \
		"$T/cactual.ndjson" >"$T/cchanges.csv"
	run --separate-stderr lms-push canvas "$T/cchanges.csv"
	assert_success
	lms-fetch canvas enrollments --course 501,502 >"$T/cactual2.ndjson"
	run --separate-stderr enroll-diff --max-drop 100% "$T/cdesired.ndjson" \
		"$T/cactual2.ndjson"
	assert_success
	[ -z "$output" ]
}

@test "-t csv writes the results as CSV; a write error on stdout is an error" {
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push moodle --user-field username -t csv "$T/c.ndjson"
	assert_success
	assert_line --index 0 "op,course,user,role,result,message"
	assert_line --index 1 "add,MATH101,eve,student,ok,enrolled as student"
	run --separate-stderr bash -c 'lms-push moodle --user-field username "$1" >/dev/full' _ "$T/c.ndjson"
	assert_failure 74
}

@test "results follow the input's format; -o FILE; deprecated -i and -o csv warn and work" {
	printf 'op,course,user,role\nadd,MATH101,eve,student\n' >"$T/c.csv"
	run --separate-stderr lms-push moodle --user-field username "$T/c.csv"
	assert_success
	assert_line --index 0 "op,course,user,role,result,message"
	assert_line --index 1 "add,MATH101,eve,student,ok,enrolled as student"
	run --separate-stderr lms-push moodle --user-field username \
		-o "$T/r.csv" "$T/c.csv"
	assert_success
	[ -z "$output" ]
	[ "$(sed -n 2p "$T/r.csv")" = "add,MATH101,eve,student,ok,enrolled as student" ]
	printf '%s\n' '{"op":"add","course":"MATH101","user":"eve","role":"student"}' >"$T/c.txt"
	cd "$T"
	run --separate-stderr lms-push moodle --user-field username -i ndjson -o csv "$T/c.txt"
	assert_success
	[ ! -e csv ]
	assert_line --index 1 "add,MATH101,eve,student,ok,enrolled as student"
	[ "${stderr_lines[0]}" = "lms-push: warning: option '-i' is deprecated: use -f/--from" ]
	[[ "${stderr_lines[1]}" == "lms-push: warning: option '-o csv' names a format, which is deprecated: use -t csv"* ]]
}

# mstatus COURSE_ID: "user:status" of a Moodle course (0 active, 1
# suspended, - never set), from the test server's state.
mstatus() {
	curl -fsS "$MOODLE_URL/_state" | jq -r --arg c "$1" \
		'.[$c][] | .username + ":" + (._status // "-" | tostring)'
}

@test "moodle: drop_policy suspend keeps the enrolment and role, suspended; keep sends nothing" {
	cat >"$T/c.ndjson" <<-'EOF2'
	{"op":"drop","course":"MATH101","user":"dee","role":"student","drop_policy":"suspend"}
	{"op":"drop","course":"MATH101","user":"cai","role":"student","drop_policy":"keep"}
	{"op":"drop","course":"HIST200","user":"gus","role":"auditingstudent","drop_policy":"unenrol"}
	EOF2
	run --separate-stderr lms-push moodle --user-field username "$T/c.ndjson"
	assert_success
	diff -u <(printf '%s\n' "dee drop ok" "cai drop ok" "gus drop ok") <(results)
	[ "$(jq -r 'select(.user=="dee").message' <<<"$output")" = "suspended as student" ]
	[ "$(jq -r 'select(.user=="cai").message' <<<"$output")" = "kept: drop policy keep" ]
	# dee is still enrolled as a student, now suspended; cai untouched
	mroles 10 | grep -qx dee:student
	mroles 10 | grep -qx cai:student
	mstatus 10 | grep -qx dee:1
	mstatus 10 | grep -qx cai:-
	[ "$(stat "$MOODLE_URL" ws_enrol_manual_enrol_users)" -eq 1 ]
	[ "$(stat "$MOODLE_URL" ws_enrol_manual_unenrol_users)" -eq 0 ]
	# the enrolled-users reply does not show the status, as in Moodle
	curl -fsS "$MOODLE_URL/webservice/rest/server.php?wstoken=$MTOKEN&moodlewsrestformat=json&wsfunction=core_enrol_get_enrolled_users&courseid=10" |
		jq -e 'map(select(has("_status"))) | length == 0'
	# a user who keeps another role loses only this one: no suspension
	printf '%s\n' '{"op":"drop","course":"HIST200","user":"gus","role":"auditingstudent","drop_policy":"suspend"}' >"$T/g.ndjson"
	curl -fsS "$MOODLE_URL/_reset" >/dev/null
	run --separate-stderr lms-push moodle --user-field username "$T/g.ndjson"
	assert_success
	[ "$(jq -r .message <<<"$output")" = "role auditingstudent unassigned" ]
	mroles 11 | grep -qx gus:student
	mstatus 11 | grep -qx gus:-
	# --drop-policy suspend for records without the field; the dry run
	# shows the call
	printf '%s\n' '{"op":"drop","course":"MATH101","user":"dee","role":"student"}' >"$T/d.ndjson"
	run --separate-stderr lms-push moodle -n --user-field username --drop-policy suspend "$T/d.ndjson"
	assert_success
	[[ "$output" == *"wsfunction=enrol_manual_enrol_users"* ]]
	[[ "$output" == *"enrolments%5B0%5D%5Bsuspend%5D=1"* || "$output" == *"enrolments[0][suspend]=1"* ]]
}

@test "moodle and canvas: a bad or impossible drop_policy is refused before any call" {
	printf '%s\n' '{"op":"drop","course":"MATH101","user":"dee","role":"student","drop_policy":"hide"}' >"$T/bad.ndjson"
	run --separate-stderr lms-push moodle --user-field username "$T/bad.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "lms-push: $T/bad.ndjson:1: field 'drop_policy': unknown value 'hide' (unenrol, suspend, conclude or keep)" ]]
	printf '%s\n' '{"op":"drop","course":"MATH101","user":"dee","role":"student","drop_policy":"conclude"}' >"$T/conc.ndjson"
	run --separate-stderr lms-push moodle --user-field username "$T/conc.ndjson"
	assert_failure 65
	[[ "$stderr" == *"conc.ndjson:1: drop_policy conclude: Moodle has no conclude (unenrol, suspend or keep)"* ]]
	printf '%s\n' '{"op":"drop","course":"MATH101","user":"dee","drop_policy":"suspend"}' >"$T/norole.ndjson"
	run --separate-stderr lms-push moodle --user-field username "$T/norole.ndjson"
	assert_failure 65
	[[ "$stderr" == *"norole.ndjson:1: missing field 'role'"* ]]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
	mstatus 10 | grep -qx dee:-
	run --separate-stderr lms-push moodle --drop-policy conclude "$T/norole.ndjson"
	assert_failure 2
	[[ "$stderr" == *"--drop-policy: Moodle has no conclude"* ]]
	run --separate-stderr lms-push canvas --drop-policy erase "$T/norole.ndjson"
	assert_failure 2
	[[ "$stderr" == *"--drop-policy: unknown policy 'erase'"* ]]
	run --separate-stderr lms-push canvas --drop-as delete --drop-policy suspend "$T/norole.ndjson"
	assert_failure 2
	[[ "$stderr" == *"--drop-as is the older --drop-policy: give one"* ]]
}

@test "canvas: drop_policy per record picks the DELETE task; --drop-policy the default" {
	printf '%s\n' '{"op":"drop","course":"MATH101-F24","user":"S4","role":"student","drop_policy":"suspend"}' \
		'{"op":"drop","course":"MATH101-F24","user":"S3","role":"student","drop_policy":"keep"}' \
		'{"op":"drop","course":"MATH101-F24","user":"S1","role":"student"}' >"$T/c.ndjson"
	run --separate-stderr lms-push canvas --drop-policy unenrol "$T/c.ndjson"
	assert_success
	[ "$(jq -r 'select(.user=="S4").message' <<<"$output")" = inactivated ]
	[ "$(jq -r 'select(.user=="S3").message' <<<"$output")" = "kept: drop policy keep" ]
	[ "$(jq -r 'select(.user=="S1").message' <<<"$output")" = deleted ]
	cstate 501 | grep -qx 'S4 StudentEnrollment inactive null'
	cstate 501 | grep -qx 'S3 StudentEnrollment active MATH101-F24-01'
	cstate 501 | grep -qx 'S1 StudentEnrollment deleted null'
	# the states come from the task parameter the server was sent
	# (inactivate, delete); nothing was sent for the kept drop
	[ "$(stat "$CANVAS_URL" 'methods.DELETE')" -eq 2 ]
}

# muser FIELD VALUE: the Moodle user with that field, as lms-fetch reads it.
muser() {
	lms-fetch moodle users --field "$1" --value "$2" |
		jq -c '{username, idnumber, firstname, lastname, email}'
}

@test "moodle users: records without a course create and update users, in one call each" {
	cat >"$T/u.ndjson" <<-'EOF2'
	{"op":"add","user":"2001","username":"zoe","firstname":"Zoe","lastname":"New","email":"zoe@example.edu"}
	{"op":"update","user":"1001","firstname":"Anne","lastname":"Test","email":"anne@example.edu"}
	{"op":"add","user":"2002","username":"yan","firstname":"Yan","lastname":"New","email":"yan@example.edu"}
	EOF2
	run --separate-stderr lms-push moodle "$T/u.ndjson"
	assert_success
	[ -z "$stderr" ]
	diff -u <(printf '%s\n' "2001 add ok" "1001 update ok" "2002 add ok") \
		<(results)
	diff -u <(printf '%s\n' "user created (id 1001)" "user updated" \
		"user created (id 1002)") <(jq -r .message <<<"$output")
	[ "$(stat "$MOODLE_URL" ws_core_user_create_users)" -eq 1 ]
	[ "$(stat "$MOODLE_URL" ws_core_user_update_users)" -eq 1 ]
	# No user is looked up before it is created; the update found 201.
	[ "$(stat "$MOODLE_URL" ws_core_user_get_users_by_field)" -eq 1 ]
	[ "$(muser idnumber 2001)" = \
		'{"username":"zoe","idnumber":"2001","firstname":"Zoe","lastname":"New","email":"zoe@example.edu"}' ]
	[ "$(muser idnumber 1001)" = \
		'{"username":"ann","idnumber":"1001","firstname":"Anne","lastname":"Test","email":"anne@example.edu"}' ]
}

@test "moodle users: Moodle makes the password unless auth names another method" {
	printf '%s\n' '{"op":"add","user":"2001","username":"zoe","firstname":"Zoe","lastname":"New","email":"zoe@example.edu"}' \
		'{"op":"add","user":"2002","username":"yan","firstname":"Yan","lastname":"New","email":"yan@example.edu","auth":"saml2"}' >"$T/u.ndjson"
	run --separate-stderr lms-push moodle -n "$T/u.ndjson"
	assert_success
	[[ "$output" == *"users%5B0%5D%5Bidnumber%5D=2001&users%5B0%5D%5Bcreatepassword%5D=1&users%5B1%5D%5Busername%5D=yan"* ]]
	[[ "$output" == *"users%5B1%5D%5Bauth%5D=saml2"* ]]
	[[ "$output" != *"users%5B1%5D%5Bcreatepassword"* ]]
	[[ "$output" != *"%5Bpassword%5D"* ]]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
}

@test "moodle users: a Moodle error on one user fails it alone (exit 1), the others are created" {
	cat >"$T/u.ndjson" <<-'EOF2'
	{"op":"add","user":"2001","username":"zoe","firstname":"Zoe","lastname":"New","email":"zoe@example.edu"}
	{"op":"add","user":"2002","username":"ann","firstname":"Ann","lastname":"Other","email":"ann2@example.edu"}
	{"op":"add","user":"2003","username":"yan","firstname":"Yan","lastname":"New","email":"yan@example.edu"}
	EOF2
	run --separate-stderr lms-push moodle "$T/u.ndjson"
	assert_failure 1
	[ "$stderr" = "lms-push: 1 of 3 changes failed" ]
	diff -u <(printf '%s\n' "2001 add ok" "2002 add failed" "2003 add ok") \
		<(results)
	[ "$(jq -r 'select(.user=="2002").message' <<<"$output")" = \
		"core_user_create_users: Moodle error invalidparameter: Invalid parameter value detected (Username already exists: ann)" ]
	[ -z "$(muser idnumber 2002)" ]
	[ "$(muser username zoe | jq -r .idnumber)" = 2001 ]
	[ "$(muser username yan | jq -r .idnumber)" = 2003 ]
	# The existing ann is untouched.
	[ "$(muser username ann | jq -r .lastname)" = Test ]
}

@test "moodle users: a user missing a field, a password or a drop is refused before any call" {
	local f
	for f in username email; do
		jq -c "del(.$f)" <<<'{"op":"add","user":"2001","username":"zoe","firstname":"Zoe","lastname":"New","email":"zoe@example.edu"}' >"$T/u.ndjson"
		printf '%s\n' '{"op":"add","user":"2002","username":"yan","firstname":"Yan","lastname":"New","email":"yan@example.edu"}' >>"$T/u.ndjson"
		run --separate-stderr lms-push moodle "$T/u.ndjson"
		assert_failure 65
		[ -z "$output" ]
		[ "$stderr" = "lms-push: $T/u.ndjson:1: missing field '$f' (a user to create)" ]
	done
	printf '%s\n' '{"op":"update","user":"1001","email":"a@example.edu","password":"Hunter2-secret"}' >"$T/p.ndjson"
	run --separate-stderr lms-push moodle "$T/p.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "lms-push: $T/p.ndjson:1: field 'password': lms-push sends no passwords"* ]]
	[[ "$stderr" != *Hunter2* ]]
	printf '%s\n' '{"op":"update","user":"1001","email":"a@example.edu"}' \
		'{"op":"drop","user":"1002"}' >"$T/d.ndjson"
	run --separate-stderr lms-push moodle "$T/d.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "lms-push: $T/d.ndjson:2: op drop of a user (no course) would delete the Moodle user: refused" ]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
	[ "$(muser idnumber 1001 | jq -r .email)" = ann@example.edu ]
}

@test "moodle users: an update of a user Moodle lacks fails that change only" {
	printf '%s\n' '{"op":"update","user":"9999","email":"x@example.edu"}' \
		'{"op":"update","user":"1002","email":"ben2@example.edu"}' >"$T/u.ndjson"
	run --separate-stderr lms-push moodle "$T/u.ndjson"
	assert_failure 1
	diff -u <(printf '%s\n' "9999 update failed" "1002 update ok") <(results)
	[[ "$(jq -r 'select(.user=="9999").message' <<<"$output")" == "no user with idnumber '9999'"* ]]
	[ "$(muser idnumber 1002 | jq -r .email)" = ben2@example.edu ]
	[ "$(stat "$MOODLE_URL" ws_core_user_update_users)" -eq 1 ]
	# A user id given in the record is not looked up: Moodle's warning
	# fails the change.
	printf '%s\n' '{"op":"update","user":"x","user_id":9999,"email":"x@example.edu"}' \
		'{"op":"update","user":"1003","user_id":203,"email":"cai2@example.edu"}' >"$T/u.ndjson"
	run --separate-stderr lms-push moodle "$T/u.ndjson"
	assert_failure 1
	diff -u <(printf '%s\n' "x update failed" "1003 update ok") <(results)
	[ "$(jq -r 'select(.user=="x").message' <<<"$output")" = \
		"core_user_update_users: Invalid user ID" ]
	[ "$(muser idnumber 1003 | jq -r .email)" = cai2@example.edu ]
}
