#!/usr/bin/env bats
# lms-fetch against the loopback Moodle and Canvas test servers
# (tests/servers/moodle_server.py, canvas_server.py), with faults injected
# through their /_reset endpoint and checked through /_stats.

load helper
bats_require_minimum_version 1.5.0

MTOKEN=moodle-test-token-5f2a
CTOKEN=canvas-test-token-9c41
# Short backoff so retries take milliseconds.
FAST=(--retry-base-ms 20)

setup_file() {
	need python3 curl jq openssl
	local d=$BATS_FILE_TMPDIR
	MPORT=$(free_port)
	python3 "$ROOT/tests/servers/moodle_server.py" "$MPORT" \
		--token "$MTOKEN" --fixture "$FIX/lms-fetch/moodle/site.json" \
		>"$d/moodle.log" 2>&1 &
	echo $! >"$d/moodle.pid"
	CPORT=$(free_port)
	python3 "$ROOT/tests/servers/canvas_server.py" "$CPORT" \
		--token "$CTOKEN" --fixture "$FIX/lms-fetch/canvas" \
		>"$d/canvas.log" 2>&1 &
	echo $! >"$d/canvas.pid"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$d/key.pem" \
		-out "$d/cert.pem" >/dev/null 2>&1
	TPORT=$(free_port)
	python3 "$ROOT/tests/servers/canvas_server.py" "$TPORT" \
		--token "$CTOKEN" --fixture "$FIX/lms-fetch/canvas" \
		--tls "$d/cert.pem" "$d/key.pem" >"$d/tls.log" 2>&1 &
	echo $! >"$d/tls.pid"
	export MPORT CPORT TPORT
	wait_port "$MPORT"
	wait_port "$CPORT"
	wait_port "$TPORT"
}

teardown_file() {
	local p
	for p in moodle canvas tls; do
		[ ! -f "$BATS_FILE_TMPDIR/$p.pid" ] ||
			kill "$(cat "$BATS_FILE_TMPDIR/$p.pid")" 2>/dev/null || true
	done
}

setup() {
	export MOODLE_TOKEN=$MTOKEN CANVAS_TOKEN=$CTOKEN
	export MOODLE_URL=http://127.0.0.1:$MPORT
	export CANVAS_URL=http://127.0.0.1:$CPORT
	curl -fsS "$MOODLE_URL/_reset" >/dev/null
	curl -fsS "$CANVAS_URL/_reset" >/dev/null
}

# faults SERVER QUERY: reset the server's counters and set its faults.
faults() {
	curl -fsS "$1/_reset?$2" >/dev/null
}

# stat SERVER KEY: one counter.
stat() {
	curl -fsS "$1/_stats" | jq -r ".$2"
}

# same FILE: stdout holds exactly the records of fixture FILE.
same() {
	diff -u <(jq -c . "$FIX/lms-fetch/$1") <(printf '%s\n' "$output" |
		jq -c .)
}

MAP() { echo "$FIX/lms-fetch/moodle-map.json"; }

@test "common options: --help, --version, unknown option" {
	common_cli_checks lms-fetch
	run --separate-stderr lms-fetch --help
	assert_output --partial "lms-fetch canvas report provisioning"
}

@test "bad command lines are usage errors (exit 2) with nothing on stdout" {
	local args
	for args in "" "moodle" "blackboard courses" "moodle grades" \
		"moodle enrollments" \
		"moodle enrollments --mapping x --course-id 1" \
		"moodle courses --field shortname" \
		"canvas courses" "canvas enrollments --account 1" \
		"canvas enrollments --course 1 --account 1 --term 2" \
		"canvas report provisioning --account 1 --term 5" \
		"canvas report provisioning --account 1 --term 5 --what grades" \
		"canvas report provisioning --account 1 --what users" \
		"canvas report provisioning --account 1 --term 5 --historical --what users" \
		"canvas report provisioning --account 1 --processorgs --term-pattern %S" \
		"canvas report provisioning --account 1 --term sp20 --term-pattern %Q --what users" \
		"canvas users --account 1 --historical" \
		"moodle courses --account 1" "--jobs 0 canvas users --account 1"; do
		# shellcheck disable=SC2086
		run --separate-stderr lms-fetch $args
		[ "$status" -eq 2 ] || { echo "args: $args"; false; }
		[ -z "$output" ]
		[[ "$stderr" == "lms-fetch: "* ]]
		[[ "$stderr" == *"try 'lms-fetch --help'"* ]]
	done
}

@test "moodle enrollments: one record per course, user and role, in mapping order" {
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)"
	assert_success
	same moodle-enrollments.out.ndjson
	[ "$(stat "$MOODLE_URL" token_in_url)" -eq 0 ]
	[ "$(stat "$MOODLE_URL" 'methods.POST')" -eq 3 ]
}

@test "moodle enrollments: user is the idnumber; users without one go to --unkeyed" {
	local u=$BATS_TEST_TMPDIR/unkeyed.ndjson
	run --separate-stderr lms-fetch moodle enrollments --course-id 4766 \
		--unkeyed "$u"
	assert_success
	[[ "$stderr" == *"lms-fetch: warning: 2 enrollments of users without idnumber left out: listed in $u"* ]]
	run jq -c '[.user, .username]' <<<"$output"
	assert_line --index 0 '["000012345","asmith"]'
	[[ "$output" != *cnoid* && "$output" != *dempty* ]]
	run jq -c '[.user, .idnumber, .username]' "$u"
	assert_output $'["cnoid","","cnoid"]\n["dempty","","dempty"]'
	# Without --unkeyed they are still left out, and counted.
	run --separate-stderr lms-fetch moodle enrollments --course-id 4766
	assert_success
	[[ "$stderr" == *"2 enrollments of users without idnumber left out (--unkeyed FILE lists them)"* ]]
}

@test "moodle enrollments: --user-key username, email, id; Moodle's spelling 'enrolments'" {
	run --separate-stderr lms-fetch moodle enrolments --course-id 4766 \
		--user-key username
	assert_success
	run jq -c 'select(.username=="cnoid" or .username=="dempty") |
		[.user, .idnumber]' <<<"$output"
	assert_output $'["cnoid",""]\n["dempty",""]'
	run --separate-stderr lms-fetch moodle enrollments --course-id 4766 \
		--user-key id
	assert_success
	[ "$(jq -r .user <<<"$output" | head -n 1)" = 101 ]
	[ "$(jq -r .user <<<"$output" | sort -u | wc -l)" -eq 7 ]
	run --separate-stderr lms-fetch moodle enrollments --course-id 4766 \
		--user-key email
	assert_success
	# ehidden's email is hidden from the token: unkeyed.
	[ "$(jq -r .user <<<"$output" | head -n 1)" = asmith@example.edu ]
	[[ "$stderr" == *"1 enrollment of users without email left out"* ]]
	run --separate-stderr lms-fetch moodle enrollments --course-id 4766 \
		--user-key login_id
	assert_failure 2
	[[ "$stderr" == *"--user-key: unknown moodle field 'login_id'"* ]]
	run --separate-stderr lms-fetch moodle courses --user-key id
	assert_failure 2
}

@test "canvas enrollments: --user-key sis_user_id (default), login_id, id" {
	local u=$BATS_TEST_TMPDIR/unkeyed.ndjson
	run --separate-stderr lms-fetch canvas enrollments --course 201,202 \
		--unkeyed "$u"
	assert_success
	diff -u <(jq -c 'select(.course_id==201 or .course_id==202)' \
		"$FIX/lms-fetch/canvas-enrollments.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	jq -e -s 'length > 0 and all(.user == null)' "$u"
	run --separate-stderr lms-fetch canvas enrollments --course 201 \
		--user-key id
	assert_success
	jq -e -s 'length > 0 and all(.user == .user_id)' <<<"$output"
	run --separate-stderr lms-fetch canvas enrollments --course 201 \
		--user-key login_id
	assert_success
	jq -e -s 'length > 0 and all(.user == .login_id)' <<<"$output"
	# Canvas's enrollment replies carry no email here: every one is
	# unkeyed, none is written with an empty user.
	run --separate-stderr lms-fetch canvas enrollments --course 202 \
		--user-key email --unkeyed "$u"
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"enrollments of users without email left out"* ]]
	[ "$(grep -c . "$u")" -eq "$(jq -c 'select(.course_id==202)' \
		"$FIX/lms-fetch/canvas-enrollments.out.ndjson" | wc -l)" ]
	run --separate-stderr lms-fetch canvas enrollments --course 201 \
		--user-key idnumber
	assert_failure 2
}

@test "moodle enrollments: --course-id order decides the output order" {
	run --separate-stderr lms-fetch moodle enrollments --course-id 4748 \
		--course-id 4766,4800 --url "$MOODLE_URL/"
	assert_success
	diff -u <(jq -c 'select(.course_id==4748)' \
		"$FIX/lms-fetch/moodle-enrollments.out.ndjson"
		jq -c 'select(.course_id==4766)' \
		"$FIX/lms-fetch/moodle-enrollments.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
}

@test "moodle enrollments: an empty course gives no records and exit 0" {
	run --separate-stderr lms-fetch moodle enrollments --course-id 4800
	assert_success
	[ -z "$output" ]
}

@test "moodle enrollments: --course-idnumber and --course-shortname look the course up, in argument order" {
	run --separate-stderr lms-fetch moodle enrollments \
		--course-idnumber BSC5102-W21
	assert_success
	diff -u <(jq -c 'select(.course_id==4748)' \
		"$FIX/lms-fetch/moodle-enrollments.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	[ "$(stat "$MOODLE_URL" ws_core_course_get_courses_by_field)" -eq 1 ]
	run --separate-stderr lms-fetch moodle enrollments \
		--course-shortname BSC5102Winter2021 \
		--course-shortname EMPTY100Winter2021 \
		--course-shortname COUN6552COUN855202Winter2021
	assert_success
	diff -u <(jq -c 'select(.course_id==4748)' \
		"$FIX/lms-fetch/moodle-enrollments.out.ndjson"
		jq -c 'select(.course_id==4766)' \
		"$FIX/lms-fetch/moodle-enrollments.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	# the lookups in the dry run, and no enrolled-users call (no id yet)
	run --separate-stderr lms-fetch moodle enrollments -n \
		--course-idnumber BSC5102-W21
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"wsfunction=core_course_get_courses_by_field&moodlewsrestformat=json&field=idnumber&value=BSC5102-W21"* ]]
	[[ "$stderr" != *core_enrol_get_enrolled_users* ]]
	# one kind at a time, never empty, only for moodle enrollments
	local args
	for args in "--course-idnumber A --course-shortname B" \
		"--course-idnumber A --course-id 1" "--course-shortname=" \
		"--mapping x --course-idnumber A"; do
		# shellcheck disable=SC2086
		run --separate-stderr lms-fetch moodle enrollments $args
		[ "$status" -eq 2 ] || { echo "args: $args"; false; }
		[ -z "$output" ]
	done
	run --separate-stderr lms-fetch moodle courses --course-idnumber A
	assert_failure 2
	[[ "$stderr" == *"option '--course-idnumber' does not apply to 'moodle courses'"* ]]
}

@test "moodle enrollments by idnumber/shortname: no course, two courses or a hostile reply are skipped, never empty" {
	local s=$BATS_TEST_TMPDIR/skipped.ndjson
	# unknown: skipped, the others written
	run --separate-stderr lms-fetch moodle enrollments --skipped "$s" \
		--course-shortname NOPE100 --course-shortname BSC5102Winter2021
	assert_failure 4
	diff -u <(jq -c 'select(.course_id==4748)' \
		"$FIX/lms-fetch/moodle-enrollments.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	run jq -c '[.course, .course_id, .reason]' "$s"
	assert_output '["NOPE100",null,"course shortname NOPE100: Moodle has no course with it (or the token may not see it)"]'
	# without --skipped: the run fails and writes nothing
	rm "$s"
	run --separate-stderr lms-fetch moodle enrollments \
		--course-shortname BSC5102Winter2021 --course-shortname NOPE100
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"course shortname NOPE100: Moodle has no course with it"* ]]
	# two courses with one idnumber: ambiguous, neither read
	faults "$MOODLE_URL" course_lookup=twin
	run --separate-stderr lms-fetch moodle enrollments --skipped "$s" \
		--course-idnumber BSC5102-W21
	assert_failure 4
	[ -z "$output" ]
	run jq -r .reason "$s"
	assert_output "course idnumber BSC5102-W21: Moodle has more than one course with it (ids 4748 and 13748): ambiguous, not read"
	curl -fsS "$MOODLE_URL/_stats" |
		jq -e '(.ws_core_enrol_get_enrolled_users // 0) == 0' >/dev/null
	run --separate-stderr lms-fetch moodle enrollments \
		--course-idnumber BSC5102-W21
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"ambiguous, not read"* ]]
	# a course whose idnumber is not the one asked for: refused
	faults "$MOODLE_URL" course_lookup=other
	run --separate-stderr lms-fetch moodle enrollments \
		--course-idnumber BSC5102-W21
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"course idnumber BSC5102-W21: the reply names course 4748 whose idnumber is 'BSC5102-W21-X', not the one asked for: refused"* ]]
	curl -fsS "$MOODLE_URL/_stats" |
		jq -e '(.ws_core_enrol_get_enrolled_users // 0) == 0' >/dev/null
	# "courses" not a list
	faults "$MOODLE_URL" course_lookup=notarray
	run --separate-stderr lms-fetch moodle enrollments --skipped "$s" \
		--course-idnumber BSC5102-W21
	assert_failure 4
	[ -z "$output" ]
	run jq -c '[.course, .course_id, .reason]' "$s"
	assert_output '["BSC5102-W21",null,"course idnumber BSC5102-W21: the core_course_get_courses_by_field reply has no course list"]'
	# a refused token still stops the run, whatever --skipped says
	rm "$s"
	MOODLE_TOKEN=nope-nope run --separate-stderr lms-fetch moodle \
		enrollments --course-idnumber BSC5102-W21 --skipped "$s"
	assert_failure 77
	[ -z "$output" ]
	[ ! -e "$s" ]
}

@test "moodle enrollments: active enrolments only; a user lms-push suspended is not listed again (--all-enrollments lists all)" {
	local d=$BATS_TEST_TMPDIR/d.ndjson
	run --separate-stderr lms-fetch moodle enrollments --course-id 4748 -n
	[[ "$stderr" == *"courseid=4748&options%5B0%5D%5Bname%5D=onlyactive&options%5B0%5D%5Bvalue%5D=1"* ]]
	printf '%s\n' '{"op":"drop","course":"BSC5102Winter2021","user":"000012351","role":"student","drop_policy":"suspend"}' >"$d"
	run --separate-stderr lms-push moodle "$d"
	assert_success
	[ "$(jq -r .message <<<"$output")" = "suspended as student" ]
	curl -fsS "$MOODLE_URL/_state" | jq -e '.["4748"][] | select(.id==108) | ._status == 1'
	run --separate-stderr lms-fetch moodle enrollments --course-id 4748
	assert_success
	[ "$(printf '%s\n' "$output" | jq -r .user)" = "000012345" ]
	run --separate-stderr lms-fetch moodle enrollments \
		--course-idnumber BSC5102-W21 --all-enrollments
	assert_success
	diff -u <(jq -c 'select(.course_id==4748)' \
		"$FIX/lms-fetch/moodle-enrollments.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	run --separate-stderr lms-fetch moodle enrollments --course-id 4748 \
		--all-enrollments -n
	[[ "$stderr" == *"courseid=4748"* ]]
	[[ "$stderr" != *onlyactive* ]]
}

@test "moodle courses: all, or those matching --field and --value" {
	run --separate-stderr lms-fetch moodle courses
	assert_success
	same moodle-courses.out.ndjson
	run --separate-stderr lms-fetch moodle courses --field shortname \
		--value BSC5102Winter2021
	assert_success
	[ "$(jq -r .id <<<"$output")" = 4748 ]
	[ "${#lines[@]}" -eq 1 ]
}

@test "moodle: an invalid token (error in HTTP 200) exits 77, token never shown" {
	MOODLE_TOKEN=wrong-token-123 run --separate-stderr lms-fetch moodle \
		enrollments --mapping "$(MAP)"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"invalidtoken: Invalid token - token not found"* ]]
	[[ "$stderr" != *wrong-token-123* ]]
}

@test "moodle: an expired token (accessexception) exits 77" {
	faults "$MOODLE_URL" expire=1
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"token expired"* ]]
}

@test "moodle: other Moodle errors exit 69 with Moodle's message" {
	run --separate-stderr lms-fetch moodle enrollments --course-id 4766 \
		--course-id 9999
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"no course with id 9999"* ]]
	printf '{"X9":{"courses":["X"],"id":9999}}\n' >"$BATS_TEST_TMPDIR/m.json"
	run --separate-stderr lms-fetch moodle enrollments \
		--mapping "$BATS_TEST_TMPDIR/m.json"
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"course 9999: Moodle error invalidrecord: Can't find data record in database table course."* ]]
}

@test "token from --token-file (mode 600); a group-readable one is refused" {
	local t=$BATS_TEST_TMPDIR/token
	printf '%s\n' "$MTOKEN" >"$t"
	chmod 600 "$t"
	unset MOODLE_TOKEN
	run --separate-stderr lms-fetch moodle courses --token-file "$t"
	assert_success
	same moodle-courses.out.ndjson
	chmod 640 "$t"
	run --separate-stderr lms-fetch moodle courses --token-file "$t"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" != *"$MTOKEN"* ]]
}

@test "missing token, missing URL, and plain http off this machine exit 78" {
	MOODLE_TOKEN= run --separate-stderr lms-fetch moodle courses
	assert_failure 78
	[[ "$stderr" == *MOODLE_TOKEN* ]]
	MOODLE_URL= run --separate-stderr lms-fetch moodle courses
	assert_failure 78
	[[ "$stderr" == *"give --url or set MOODLE_URL"* ]]
	run --separate-stderr lms-fetch canvas users --account 1 \
		--url http://lms.example.edu
	assert_failure 78
	[[ "$stderr" == *"refusing to send a token over plain http"* ]]
	[ -z "$output" ]
}

@test "plain http only to loopback addresses, parsed not prefix-matched: 78 before connecting" {
	local u host
	for u in http://127.attacker.example "http://127.0.0.1.nip.io:$CPORT" \
		http://localhost.evil http://127.0.0.1.evil \
		"http://[::ffff:127.0.0.1]:$CPORT" http://128.0.0.1; do
		run --separate-stderr lms-fetch canvas users --account 1 --url "$u"
		[ "$status" -eq 78 ] || { echo "url: $u"; false; }
		[ -z "$output" ]
		host=${u#http://}
		host=${host%:"$CPORT"}
		[[ "$stderr" == *"refusing to send a token over plain http to '$host'"* ]] ||
			{ echo "url: $u: $stderr"; false; }
	done
	# The same rule for $CANVAS_URL and for Moodle.
	CANVAS_URL=http://127.attacker.example run --separate-stderr \
		lms-fetch canvas users --account 1
	assert_failure 78
	MOODLE_URL=http://127.0.0.1.nip.io run --separate-stderr \
		lms-fetch moodle courses
	assert_failure 78
	[ "$(stat "$CANVAS_URL" requests)" -eq 0 ]
	# Loopback literals and localhost are still allowed.
	for u in "http://localhost:$CPORT" "http://127.0.0.1:$CPORT" \
		"http://127.1:$CPORT" "http://127.9.8.7:$CPORT"; do
		run --separate-stderr lms-fetch canvas users --account 1 \
			--url "$u" -n
		[ "$status" -eq 0 ] || { echo "url: $u: $stderr"; false; }
	done
	run --separate-stderr lms-fetch canvas users --account 1 -n \
		--url "http://[::1]:$CPORT"
	assert_success
	run --separate-stderr lms-fetch canvas users --account 1 \
		--url "http://localhost:$CPORT"
	assert_success
}

@test "a site URL with user:password, a query or a fragment is refused (78), the password never shown" {
	local u
	for u in "http://etl:pw-Secr3t-77@127.0.0.1:$CPORT" \
		"http://etl@127.0.0.1:$CPORT" \
		"http://127.0.0.1:$CPORT/?access_token=tok-Secr3t-88" \
		"http://127.0.0.1:$CPORT/x#frag"; do
		run --separate-stderr lms-fetch canvas users --account 1 --url "$u"
		[ "$status" -eq 78 ] || { echo "url: $u"; false; }
		[ -z "$output" ]
		[[ "$stderr" == *"the site URL (--url) "* ]]
		[[ "$stderr" != *Secr3t* ]]
		CANVAS_URL=$u run --separate-stderr lms-fetch canvas users \
			--account 1 -n
		[ "$status" -eq 78 ] || { echo "CANVAS_URL: $u"; false; }
		[[ "$stderr" == *'the site URL ($CANVAS_URL) '* ]]
		[[ "$stderr$output" != *Secr3t* ]]
	done
	run --separate-stderr lms-fetch moodle courses \
		--url "http://etl:pw-Secr3t-77@127.0.0.1:$MPORT"
	assert_failure 78
	[[ "$stderr" == *"holds a user name or password (host '127.0.0.1')"* ]]
	[[ "$stderr" != *Secr3t* ]]
	[ "$(stat "$CANVAS_URL" requests)" -eq 0 ]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
}

@test "--dry-run prints the requests, masks the token and sends nothing" {
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		--dry-run
	assert_success
	# On stderr: stdout is where records go.
	[ -z "$output" ]
	[[ "$stderr" != *"$MTOKEN"* ]]
	[ "$(grep -c '^POST http://127.0.0.1:.*/webservice/rest/server.php$' \
		<<<"$stderr")" -eq 3 ]
	[[ "$stderr" == *"wstoken=****&wsfunction=core_enrol_get_enrolled_users&moodlewsrestformat=json&courseid=4766"* ]]
	run --separate-stderr lms-fetch canvas enrollments --course 201 -n \
		--type StudentEnrollment
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == "GET http://127.0.0.1:$CPORT/api/v1/courses/201/enrollments?per_page=100&type%5B%5D=StudentEnrollment" ]]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
	[ "$(stat "$CANVAS_URL" requests)" -eq 0 ]
}

@test "canvas enrollments: Link paging across many pages, Bearer header only" {
	faults "$CANVAS_URL" "max_per_page=7&link_lower=1"
	run --separate-stderr lms-fetch canvas enrollments --course 201,202
	assert_success
	same canvas-enrollments.out.ndjson
	# 251 enrollments of 201 in pages of 7, and one page of 202.
	[ "$(stat "$CANVAS_URL" requests)" -eq 37 ]
	[ "$(stat "$CANVAS_URL" token_in_url)" -eq 0 ]
}

@test "canvas enrollments --account --term lists the term's courses first" {
	faults "$CANVAS_URL" "max_per_page=10&jitter_ms=20"
	run --separate-stderr lms-fetch canvas enrollments --account 1 \
		--term 5 --jobs 6
	assert_success
	same canvas-enrollments.out.ndjson
}

@test "canvas enrollments --type filters by enrollment type" {
	run --separate-stderr lms-fetch canvas enrollments --course 201 \
		--type TeacherEnrollment
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r '.role + " " + .user' <<<"$output")" = "teacher S00011" ]
}

@test "a Link rel=next back to a page already fetched exits 69, nothing on stdout" {
	faults "$CANVAS_URL" "next_loop=same"
	run --separate-stderr lms-fetch canvas enrollments --course 201
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == "lms-fetch: course 201: the server's Link rel=\"next\" leads back to a page already fetched, after 2 pages"* ]]
	[ "$(stat "$CANVAS_URL" requests)" -eq 2 ]
	# A cycle of two pages: page 1, page 2, page 1 again.
	faults "$CANVAS_URL" "next_loop=cycle2"
	run --separate-stderr lms-fetch canvas courses --account 1 --term 5
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"courses of account 1 in term 5: the server's Link rel=\"next\" leads back to a page already fetched, after 3 pages"* ]]
	[ "$(stat "$CANVAS_URL" requests)" -eq 3 ]
}

@test "a list that never ends stops at --max-pages: 69, nothing on stdout" {
	faults "$CANVAS_URL" "next_loop=endless"
	run --separate-stderr lms-fetch canvas users --account 1 --max-pages 25
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"users of account 1: more than 25 pages (--max-pages): the server's Link rel=\"next\" does not end" ]]
	[ "$(stat "$CANVAS_URL" requests)" -eq 25 ]
	run --separate-stderr lms-fetch canvas users --account 1 --max-pages 0
	assert_failure 2
}

@test "a reply larger than --max-reply is stopped, not retried: 69, nothing on stdout" {
	faults "$CANVAS_URL" "big_body=5000000"
	run --separate-stderr lms-fetch canvas enrollments --course 201 \
		--max-reply 1M
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == "lms-fetch: course 201: GET http://127.0.0.1:$CPORT/api/v1/courses/201/enrollments?per_page=100: the reply is larger than 1M (--max-reply)" ]]
	[ "$(stat "$CANVAS_URL" requests)" -eq 1 ]
	# Under the default limit (64M) the same reply is read.
	faults "$CANVAS_URL" "big_body=5000000"
	run --separate-stderr lms-fetch canvas enrollments --course 201
	assert_success
	run --separate-stderr lms-fetch canvas users --account 1 --max-reply 12X
	assert_failure 2
	[[ "$stderr" == *"option '--max-reply' takes a size such as 64M"* ]]
	run --separate-stderr lms-fetch canvas users --account 1 --max-reply 17G
	assert_failure 2
}

@test "a gzip bomb is measured as it unpacks: 69 at --max-reply" {
	# 5 MB of JSON that travels as about 5 KB.
	faults "$CANVAS_URL" "gzip_bomb=5000000"
	run --separate-stderr lms-fetch canvas enrollments --course 201 \
		--max-reply 1M
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"the reply is larger than 1M (--max-reply)" ]]
	[ "$(stat "$CANVAS_URL" requests)" -eq 1 ]
	faults "$CANVAS_URL" "gzip_bomb=5000000"
	run --separate-stderr lms-fetch canvas enrollments --course 201 \
		--max-reply 8M
	assert_success
}

@test "an endless chunked reply is cut at --max-reply: 69, nothing on stdout" {
	faults "$CANVAS_URL" "endless_chunked=1"
	SECONDS=0
	run --separate-stderr timeout 60 lms-fetch canvas users --account 1 \
		--max-reply 2M
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"the reply is larger than 2M (--max-reply)" ]]
	[ "$SECONDS" -lt 30 ]
	[ "$(stat "$CANVAS_URL" requests)" -eq 1 ]
}

@test "canvas courses and users: flattened records in --term order" {
	run --separate-stderr lms-fetch canvas courses --account 1 --term 6 \
		--term 5
	assert_success
	same canvas-courses.out.ndjson
	faults "$CANVAS_URL" max_per_page=30
	run --separate-stderr lms-fetch canvas users --account 1
	assert_success
	same canvas-users.out.ndjson
}

@test "canvas terms: the enrollment_terms object's list, two pages of 2" {
	faults "$CANVAS_URL" max_per_page=2
	run --separate-stderr lms-fetch canvas terms --account 1
	assert_success
	assert_output '{"id":5,"name":"Fall 2024","sis_term_id":"2410","start_at":"2024-08-26T04:00:00Z","end_at":"2024-12-20T05:00:00Z","workflow_state":"active"}
{"id":6,"name":"Spring 2025","sis_term_id":"2420","start_at":"2025-01-08T05:00:00Z","end_at":null,"workflow_state":"active"}
{"id":7,"name":"Default Term","sis_term_id":null,"start_at":null,"end_at":null,"workflow_state":"active"}'
	run --separate-stderr lms-fetch canvas terms
	assert_failure 2
	[[ $stderr == "lms-fetch: canvas terms needs --account"* ]]
}

@test "canvas sections: the sections of each --course, in order" {
	run --separate-stderr lms-fetch canvas sections --course 202 --course 201,203
	assert_success
	assert_output '{"id":9202,"course_id":202,"name":"Sandbox","sis_section_id":null,"start_at":null,"end_at":null}
{"id":9201,"course_id":201,"name":"BIO101-F24-01","sis_section_id":"BIO101-F24-01","start_at":null,"end_at":null}'
	run --separate-stderr lms-fetch canvas sections --course 999
	assert_failure
	[ -z "$output" ]
	[[ $stderr == *"sections of course 999"* ]]
	run --separate-stderr lms-fetch canvas sections --account 1
	assert_failure 2
	[[ $stderr == "lms-fetch: canvas sections needs --course"* ]]
}

@test "canvas courses --course: each course by id, in order" {
	run --separate-stderr lms-fetch canvas courses --course 301 --course 201
	assert_success
	assert_output "$(jq -c 'select(.id == 301)' "$FIX/lms-fetch/canvas-courses.out.ndjson")
$(jq -c 'select(.id == 201)' "$FIX/lms-fetch/canvas-courses.out.ndjson")"
	run --separate-stderr lms-fetch canvas courses --course 999
	[ "$status" -eq 69 ]
	[ -z "$output" ]
	[[ $stderr == "lms-fetch: course 999: HTTP 404"* ]]
	run --separate-stderr lms-fetch canvas courses --course 201 --term 5
	assert_failure 2
}

@test "canvas course-audit: the events of each course, newest first, paged" {
	faults "$CANVAS_URL" max_per_page=2
	run --separate-stderr lms-fetch canvas course-audit --course 201,203
	assert_success
	assert_output '{"id":"e4","event_type":"updated","created_at":"2024-08-25T09:00:00Z","course_id":201}
{"id":"e3","event_type":"published","created_at":"2024-08-20T13:00:00Z","course_id":201}
{"id":"e2","event_type":"unpublished","created_at":"2024-08-05T13:00:00Z","course_id":201}
{"id":"e1","event_type":"published","created_at":"2024-08-01T12:00:00Z","course_id":201}
{"id":"e0","event_type":"created","created_at":"2024-05-01T12:00:00Z","course_id":201}
{"id":"e9","event_type":"created","created_at":"2024-05-03T12:00:00Z","course_id":203}'
	run --separate-stderr lms-fetch canvas course-audit --course 999
	assert_failure
	[ -z "$output" ]
	[[ $stderr == *"audit log of course 999"* ]]
	run --separate-stderr lms-fetch canvas course-audit --account 1
	assert_failure 2
	[[ $stderr == "lms-fetch: canvas course-audit needs --course"* ]]
}

@test "N jobs really run concurrently, and the output order stays fixed" {
	faults "$CANVAS_URL" "delay_ms=400&jitter_ms=100"
	run --separate-stderr lms-fetch canvas courses --account 1 --jobs 4 \
		--term 6,5,7,8,9,10,11,12
	assert_success
	same canvas-courses.out.ndjson
	local s
	s=$(curl -fsS "$CANVAS_URL/_stats")
	[ "$(jq .max_inflight <<<"$s")" -eq 4 ]
	# Keep-alive: 8 requests over at most 4 connections (+1: this one).
	[ "$(jq .connections <<<"$s")" -le 5 ]
}

@test "429 with Retry-After is retried after the delay it asks for" {
	faults "$CANVAS_URL" "fault=429&every=4&retry_after=1"
	run --separate-stderr lms-fetch canvas enrollments --course 201,202 \
		"${FAST[@]}"
	assert_success
	same canvas-enrollments.out.ndjson
	local s
	s=$(curl -fsS "$CANVAS_URL/_stats")
	[ "$(jq .faults <<<"$s")" -eq 1 ]
	[ "$(jq .retries <<<"$s")" -eq 1 ]
	[ "$(jq .early_retries <<<"$s")" -eq 0 ]
}

@test "403 Rate Limit Exceeded is retried; another 403 exits 77 at once" {
	faults "$CANVAS_URL" "fault=403&every=2&times=2"
	run --separate-stderr lms-fetch canvas courses --account 1 --term 6 \
		--term 5 "${FAST[@]}" -v
	assert_success
	same canvas-courses.out.ndjson
	[ "$(stat "$CANVAS_URL" retries)" -eq 2 ]
	[[ "$stderr" == *"HTTP 403 (throttled); retry 1 of 5"* ]]
	faults "$CANVAS_URL" ""
	run --separate-stderr lms-fetch canvas enrollments --course 403 \
		"${FAST[@]}"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"HTTP 403: user not authorized"* ]]
	[ "$(stat "$CANVAS_URL" requests)" -eq 1 ]
}

@test "random 5xx replies are retried and the records are exact" {
	faults "$CANVAS_URL" "fault=503&random=0.4&seed=7&max_per_page=60"
	run --separate-stderr lms-fetch canvas enrollments --course 201,202 \
		"${FAST[@]}"
	assert_success
	same canvas-enrollments.out.ndjson
	[ "$(stat "$CANVAS_URL" faults)" -ge 1 ]
	[ "$(stat "$CANVAS_URL" retries)" -eq "$(stat "$CANVAS_URL" faults)" ]
	faults "$MOODLE_URL" "fault=500&every=1"
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		"${FAST[@]}"
	assert_success
	same moodle-enrollments.out.ndjson
	[ "$(stat "$MOODLE_URL" retries)" -eq 3 ]
}

@test "a connection closed mid-reply, or with no reply, is retried" {
	faults "$CANVAS_URL" "fault=drop&every=2&max_per_page=60"
	run --separate-stderr lms-fetch canvas enrollments --course 201,202 \
		"${FAST[@]}"
	assert_success
	same canvas-enrollments.out.ndjson
	[ "$(stat "$CANVAS_URL" faults)" -eq 3 ]
	faults "$MOODLE_URL" "fault=nothing&every=2"
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		"${FAST[@]}"
	assert_success
	same moodle-enrollments.out.ndjson
	[ "$(stat "$MOODLE_URL" faults)" -eq 2 ]
}

@test "a reply slower than --timeout is retried" {
	faults "$MOODLE_URL" "fault=slow&slow_ms=3000&every=3"
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		--timeout 1 "${FAST[@]}"
	assert_success
	same moodle-enrollments.out.ndjson
	[ "$(stat "$MOODLE_URL" retries)" -eq 1 ]
}

@test "slows down when X-Rate-Limit-Remaining runs low" {
	faults "$CANVAS_URL" "remaining=3.5&max_per_page=60"
	run --separate-stderr lms-fetch canvas enrollments --course 201,202 \
		"${FAST[@]}" -v
	assert_success
	same canvas-enrollments.out.ndjson
	[[ "$stderr" == *"X-Rate-Limit-Remaining is 3.5: slowing down"* ]]
}

@test "after the last retry: exit 75 and nothing on stdout" {
	faults "$CANVAS_URL" "fault=503&every=2&times=100"
	run --separate-stderr lms-fetch canvas enrollments --course 201,202 \
		--retries 2 "${FAST[@]}"
	assert_failure 75
	[ -z "$output" ]
	[[ "$stderr" == *"HTTP 503 after 3 attempts"* ]]
	# Three attempts of the request that failed; the other course's
	# requests run concurrently and may meet a fault too, before the
	# run stops: how many depends on timing.
	[ "$(stat "$CANVAS_URL" faults)" -ge 3 ]
}

@test "--partial writes the complete courses and still fails" {
	run --separate-stderr lms-fetch canvas enrollments --course 202,999,201 \
		--partial
	assert_failure 69
	[[ "$stderr" == *"enrollments of course 999: HTTP 404"* ]]
	[[ "$stderr" == *"1 of 3 units left out"* ]]
	diff -u <(jq -c 'select(.course_id==202)' \
		"$FIX/lms-fetch/canvas-enrollments.out.ndjson"
		jq -c 'select(.course_id==201)' \
		"$FIX/lms-fetch/canvas-enrollments.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	run --separate-stderr lms-fetch canvas enrollments --course 202,999,201
	assert_failure 69
	[ -z "$output" ]
}

@test "--skipped: a course that cannot be read is named there, the others are written, exit 4" {
	local s=$BATS_TEST_TMPDIR/skipped.ndjson m=$BATS_TEST_TMPDIR/map.json
	jq '. + {"GONE100Winter2021": {"courses": ["GONE100"], "id": 9999}}' \
		"$(MAP)" >"$m"
	run --separate-stderr lms-fetch moodle enrollments --mapping "$m" \
		--skipped "$s"
	assert_failure 4
	same moodle-enrollments.out.ndjson
	run jq -c '[.course, .course_id]' "$s"
	assert_output '["GONE100Winter2021",9999]'
	jq -e '.reason | test("course 9999") and test("find data record")' "$s" || { cat "$s"; false; }
	[[ "$stderr" == *"lms-fetch: warning: 1 course could not be read and was left out: listed in $s"* ]]
	# Without --skipped the run fails as before and writes nothing.
	rm "$s"
	run --separate-stderr lms-fetch moodle enrollments --mapping "$m"
	assert_failure 69
	[ -z "$output" ]
	# --course-id: an id the lookup does not find.
	run --separate-stderr lms-fetch moodle enrollments \
		--course-id 9999,4748 --skipped "$s"
	assert_failure 4
	diff -u <(jq -c 'select(.course_id==4748)' \
		"$FIX/lms-fetch/moodle-enrollments.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	run jq -c '[.course, .course_id]' "$s"
	assert_output '[null,9999]'
	# Canvas: a course that answers 404.
	run --separate-stderr lms-fetch canvas enrollments \
		--course 202,999,201 --skipped "$s"
	assert_failure 4
	diff -u <(jq -c 'select(.course_id==202)' \
		"$FIX/lms-fetch/canvas-enrollments.out.ndjson"
		jq -c 'select(.course_id==201)' \
		"$FIX/lms-fetch/canvas-enrollments.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	run jq -c '[.course, .course_id]' "$s"
	assert_output '[null,999]'
	# A refused token is no course's fault: the run stops, no side file.
	rm "$s"
	MOODLE_TOKEN=nope-nope run --separate-stderr lms-fetch moodle \
		enrollments --mapping "$m" --skipped "$s"
	assert_failure 77
	[ -z "$output" ]
	[ ! -e "$s" ]
}

@test "canvas: an invalid or expired token exits 77 with Canvas's message" {
	CANVAS_TOKEN=nope-nope run --separate-stderr lms-fetch canvas users \
		--account 1
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"HTTP 401: Invalid access token."* ]]
	[[ "$stderr" != *nope-nope* ]]
	faults "$CANVAS_URL" expire=1
	run --separate-stderr lms-fetch canvas courses --account 1
	assert_failure 77
}

# cut_token SERVER MARKER TOKEN CMD...: the server echoes the request in
# an HTTP 400 reply, the token following MARKER.  For 6, 10 and all but
# one characters of the token: padded so that 200 bytes (the excerpt a
# message keeps) end that far into the token, the token is masked before
# the cut; and with the reply itself ending there (echo_cut), the start
# of the token that ends the excerpt is masked.  Neither shows any of it.
cut_token() {
	local srv=$1 marker=$2 tok=$3 line pre idx v
	shift 3
	faults "$srv" "fault=echo&every=1&times=99"
	run --separate-stderr "$@"
	assert_failure 69
	line=${stderr#*HTTP 400: }
	pre=${line%%"$marker"*}
	[ "$pre" != "$line" ]
	idx=$((${#pre} + ${#marker}))
	for v in 6 10 $((${#tok} - 1)); do
		for q in "echo_pad=$((200 - idx - v))" "echo_cut=$((idx + v))"; do
			faults "$srv" "fault=echo&every=1&times=99&$q"
			run --separate-stderr "$@"
			assert_failure 69
			[ -z "$output" ]
			line=$(grep 'HTTP 400: ' <<<"$stderr" | head -1)
			[[ "$line" == *"$marker****"* ]] || {
				echo "$q: $line" >&2
				return 1
			}
			[[ "$stderr" != *"$marker${tok:0:6}"* ]]
		done
	done
}

@test "moodle: a token cut off at the end of a reply excerpt is masked" {
	cut_token "$MOODLE_URL" wstoken= "$MTOKEN" \
		lms-fetch moodle courses "${FAST[@]}"
}

@test "canvas: a token cut off at the end of a reply excerpt is masked" {
	cut_token "$CANVAS_URL" "Bearer " "$CTOKEN" \
		lms-fetch canvas users --account 1 "${FAST[@]}"
}

@test "a token shorter than 8 characters is refused (78) before any request" {
	MOODLE_TOKEN=tok1234 run --separate-stderr lms-fetch moodle courses
	assert_failure 78
	[ -z "$output" ]
	[ "$stderr" = "lms-fetch: the secret MOODLE_TOKEN is shorter than 8 characters: use a longer one" ]
	printf 'tok1234\n' >"$BATS_TEST_TMPDIR/t"
	chmod 600 "$BATS_TEST_TMPDIR/t"
	run --separate-stderr lms-fetch canvas users --account 1 --token-file "$BATS_TEST_TMPDIR/t"
	assert_failure 78
	[ "$stderr" = "lms-fetch: the secret file $BATS_TEST_TMPDIR/t is shorter than 8 characters: use a longer one" ]
	[ "$(stat "$MOODLE_URL" requests)" -eq 0 ]
	[ "$(stat "$CANVAS_URL" requests)" -eq 0 ]
}

@test "provisioning report: one report per part, polled, downloaded, rows as records" {
	faults "$CANVAS_URL" report_polls=3
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term 5 --what users,courses --what enrollments "${FAST[@]}"
	assert_success
	same canvas-report.out.ndjson
	[ "$(stat "$CANVAS_URL" reports_started)" -eq 3 ]
	[ "$(stat "$CANVAS_URL" report_polls)" -eq 9 ]
	[ "$(stat "$CANVAS_URL" 'methods.POST')" -eq 3 ]
}

@test "provisioning report: an expired download URL is fetched afresh" {
	faults "$CANVAS_URL" expire_downloads=1
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term 5 --what enrollments "${FAST[@]}"
	assert_success
	diff -u <(jq -c 'select(.report=="enrollments")' \
		"$FIX/lms-fetch/canvas-report.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	[ "$(stat "$CANVAS_URL" downloads)" -eq 2 ]
}

@test "provisioning report: status error exits 69, a slow one 75" {
	faults "$CANVAS_URL" report_status=error
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term 5 --what users "${FAST[@]}"
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"ended with status 'error': Generating the report failed."* ]]
	faults "$CANVAS_URL" report_polls=100000
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term 5 --what users --report-timeout 0 "${FAST[@]}"
	assert_failure 75
	[ -z "$output" ]
	[[ "$stderr" == *"after 0 s (--report-timeout)"* ]]
}

@test "provisioning report: several terms in the seed's form, and the account-level parts" {
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term fa24 --term sp25,5 --what enrollments --processorgs "${FAST[@]}"
	assert_success
	same canvas-report-terms.out.ndjson
	# 'fa24' and '5' are the same term: one report each part and term,
	# all started before any completes.
	[ "$(stat "$CANVAS_URL" reports_started)" -eq 4 ]
	[ "$(stat "$CANVAS_URL" reports_term_5)" -eq 1 ]
	[ "$(stat "$CANVAS_URL" reports_term_6)" -eq 1 ]
	[ "$(stat "$CANVAS_URL" reports_term_none)" -eq 2 ]
	# The sis_term_id, the name, a --term-map line and a --term-pattern.
	local m=$BATS_TEST_TMPDIR/terms.map args
	printf '# site terms\nfa24   2420\n' >"$m"
	for args in "--term 2420" "--term spring-2025 --term-map $m" \
		"--term fa24 --term-map $m" "--term sp24 --term-pattern %y20" \
		"--term 'Spring 2025'"; do
		faults "$CANVAS_URL" ''
		run --separate-stderr eval lms-fetch canvas report provisioning \
			--account 1 "$args" --what enrollments "${FAST[@]}"
		if [[ $args == *spring-2025* ]]; then
			assert_failure 78
			[ -z "$output" ]
			[ "$stderr" = "lms-fetch: --term 'spring-2025': no term of account 1 has that id, sis_term_id or name" ]
			continue
		fi
		assert_success
		[ "$(printf '%s\n' "$output" | jq -r .term | sort -u)" = 6 ] ||
			{ echo "args: $args"; false; }
		[ "$(stat "$CANVAS_URL" reports_term_6)" -eq 1 ]
	done
}

@test "provisioning report: --historical asks for every term, no enrollment_term_id" {
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--historical --what users "${FAST[@]}"
	assert_success
	diff -u <(jq -c 'select(.report=="users") | .term = null' \
		"$FIX/lms-fetch/canvas-report.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	[ "$(stat "$CANVAS_URL" reports_term_none)" -eq 1 ]
	[ "$(stat "$CANVAS_URL" 'methods.GET')" -eq 4 ]
}

@test "provisioning report: an unknown or ambiguous term is an error (78), nothing started" {
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term fa24,wi19 --what users,enrollments "${FAST[@]}"
	assert_failure 78
	[ -z "$output" ]
	[ "$stderr" = "lms-fetch: --term 'wi19': no term of account 1 has that id, sis_term_id or name (nor a name or sis_term_id 'Winter 2019')" ]
	[ "$(stat "$CANVAS_URL" reports_started)" = null ]
	# Two patterns, two terms: which one was meant is not guessed.
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term fa24 --term-pattern '%S %Y' --term-pattern '%y20' \
		--what users --partial "${FAST[@]}"
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == *"lms-fetch: --term 'fa24' is ambiguous: terms 5 'Fall 2024', 6 'Spring 2025' of account 1 match it (give the term id, or --term-map)" ]]
	[ "$(stat "$CANVAS_URL" reports_started)" = null ]
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term fa24 --term-map "$BATS_TEST_TMPDIR/none" --what users
	assert_failure 66
	[[ "$stderr" == "lms-fetch: --term-map $BATS_TEST_TMPDIR/none: cannot open it: "* ]]
	faults "$CANVAS_URL" ''
	printf 'fa24\n' >"$BATS_TEST_TMPDIR/bad.map"
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term fa24 --term-map "$BATS_TEST_TMPDIR/bad.map" --what users
	assert_failure 78
	[ "$stderr" = "lms-fetch: --term-map $BATS_TEST_TMPDIR/bad.map:1: 'fa24' has no value: write 'CODE VALUE'" ]
	[ "$(stat "$CANVAS_URL" requests)" -eq 0 ]
}

@test "provisioning report: an attachment on another host gets no token" {
	faults "$CANVAS_URL" attachment_host=localhost
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term 5 --what users "${FAST[@]}"
	assert_success
	diff -u <(jq -c 'select(.report=="users")' \
		"$FIX/lms-fetch/canvas-report.out.ndjson") \
		<(printf '%s\n' "$output" | jq -c .)
	[ "$(stat "$CANVAS_URL" downloads)" -eq 1 ]
	[ "$(stat "$CANVAS_URL" auth_on_other_host)" = null ]
	[ "$(stat "$CANVAS_URL" token_in_url)" -eq 0 ]
}

@test "provisioning report: a download that stays expired, and a report aborted" {
	# Two fresh URLs at most, then the 403 is the answer.
	faults "$CANVAS_URL" expire_downloads=100
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term 5,6 --what users "${FAST[@]}"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == "lms-fetch: users report of term "[56]": download of its attachment: HTTP 403: The signed URL has expired" ]]
	[ "$(stat "$CANVAS_URL" downloads)" -ge 3 ]
	faults "$CANVAS_URL" report_status=aborted
	run --separate-stderr lms-fetch canvas report provisioning --account 1 \
		--term 5 --what users,enrollments "${FAST[@]}"
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == "lms-fetch: "@(users|enrollments)" report of term 5: the report ended with status 'aborted': Generating the report failed." ]]
}

@test "https: verified against --cacert, refused without it" {
	local u=https://127.0.0.1:$TPORT
	run --separate-stderr lms-fetch canvas courses --account 1 --term 6,5 \
		--url "$u" --cacert "$BATS_FILE_TMPDIR/cert.pem"
	assert_success
	same canvas-courses.out.ndjson
	run --separate-stderr lms-fetch canvas courses --account 1 --url "$u"
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"certificate"* ]]
}

@test "-t csv writes a header and one row per record" {
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		-t csv
	assert_success
	[ "${lines[0]}" = "course,course_id,user,user_id,idnumber,email,name,role,username" ]
	[ "${#lines[@]}" -eq "$(($(wc -l <"$FIX/lms-fetch/moodle-enrollments.out.ndjson") + 1))" ]
	[[ "$output" == *"COUN6552COUN855202Winter2021,4766,000012345,101,000012345,asmith@example.edu,Ann Smith,student,asmith"* ]]
}

@test "-o FILE writes the records there; -o csv and --output-format are the deprecated -t" {
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		-t csv
	assert_success
	want=$output
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		-t csv -o "$BATS_TEST_TMPDIR/e.csv"
	assert_success
	[ -z "$output" ]
	[[ "$stderr" != *deprecated* ]]
	[ "$(cat "$BATS_TEST_TMPDIR/e.csv")" = "$want" ]
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		-o csv
	assert_success
	[ "$output" = "$want" ]
	[ ! -e csv ]
	[[ "$stderr" == *"lms-fetch: warning: option '-o csv' names a format, which is deprecated: use -t csv"* ]]
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		--output-format csv
	assert_success
	[ "$output" = "$want" ]
	[[ "$stderr" == *"lms-fetch: warning: option '--output-format' is deprecated: use -t/--to"* ]]
}

@test "--progress reports pages and records on stderr" {
	run --separate-stderr lms-fetch moodle enrollments --mapping "$(MAP)" \
		--progress
	assert_success
	[[ "$stderr" == *"lms-fetch: 3 pages, 8 records"* ]]
}

@test "bad mapping files: 66 when missing, 65 when malformed" {
	run --separate-stderr lms-fetch moodle enrollments \
		--mapping "$BATS_TEST_TMPDIR/none.json"
	assert_failure 66
	[ -z "$output" ]
	printf '{"A": {"courses": ["X"], "id": "x"}\n' >"$BATS_TEST_TMPDIR/bad.json"
	run --separate-stderr lms-fetch moodle enrollments \
		--mapping "$BATS_TEST_TMPDIR/bad.json"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"bad.json"* ]]
}

@test "a write error on stdout is an error" {
	run --separate-stderr bash -c \
		'lms-fetch moodle enrollments --mapping "$1" >/dev/full' _ "$(MAP)"
	assert_failure 74
}

@test "moodle users: the users whose idnumber is asked, 50 to a call; unknown ones give nothing" {
	T=$BATS_TEST_TMPDIR
	run --separate-stderr lms-fetch moodle users --field idnumber --value 000012345
	assert_success
	assert_output '{"user":"000012345","user_id":101,"idnumber":"000012345","username":"asmith","firstname":"Ann","lastname":"Smith","email":"asmith@example.edu"}'
	# a file of values: each found once, in reply order; 120 values, 3 calls
	{ echo 000012345; seq -f 'nobody%03g' 1 118; echo 000012345; } >"$T/ids"
	faults "$MOODLE_URL" ""
	run --separate-stderr lms-fetch moodle users --field idnumber --value-file "$T/ids"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -r .user <<<"${lines[0]}")" = 000012345 ]
	[ "$(stat "$MOODLE_URL" ws_core_user_get_users_by_field)" = 3 ]
	run --separate-stderr lms-fetch moodle users --field username --value asmith
	assert_success
	[ "$(jq -r .user <<<"$output")" = 000012345 ]
}

@test "moodle users: a Moodle error, a bad field, a missing file: status, message, nothing on stdout" {
	faults "$MOODLE_URL" users_error=1
	run --separate-stderr lms-fetch moodle users --field idnumber --value 000012345
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"core_user_get_users_by_field: Moodle error nopermissions: Sorry, but you do not currently have permissions"* ]]
	run --separate-stderr lms-fetch moodle users --field fullname --value x
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"moodle users: --field 'fullname' is not idnumber, username, email or id"* ]]
	run --separate-stderr lms-fetch moodle users --field idnumber
	assert_failure 2
	[[ "$stderr" == *"moodle users needs --field and either --value or --value-file"* ]]
	run --separate-stderr lms-fetch moodle users --field idnumber --value-file "$BATS_TEST_TMPDIR/none"
	assert_failure 66
	[ -z "$output" ]
	[[ "$stderr" == *"--value-file: cannot open"* ]]
	run --separate-stderr lms-fetch moodle courses --value-file x
	assert_failure 2
}
