#!/usr/bin/env bats
# scripts/replicate-hourly end to end: replicate (the demo SIS in SQLite as
# the source, SQLite as the reporting database), then canvas-inventory
# against the Canvas test server (pipeline-canvas-inventory.bash), then
# the site's push command.

bats_require_minimum_version 1.5.0
load helper
load pipeline-canvas-inventory

setup_file() {
	need python3 jq flock sqlite3 curl
	"$ROOT/share/demo-sis/make-demo-sis" "$BATS_FILE_TMPDIR/sis.db"
	ci_start_canvas
}

teardown_file() {
	ci_stop_canvas
}

setup() {
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/queries"
	cp "$ROOT/share/queries/powercampus-enrollments.sql" "$T/queries/"
	printf '%s\n' '# schedule table query on params' \
		'hourly  enrollments  queries/powercampus-enrollments.sql  on   year,term' \
		>"$T/tables"
	printf '%s\n' "REPLICATE_SOURCE_DB=sqlite:$BATS_FILE_TMPDIR/sis.db" \
		"REPLICATE_TARGET_DB=sqlite:$T/warehouse.db" \
		"REPLICATE_TABLES=$T/tables" \
		'REPLICATE_PARAMS="year=2021 term=WINTER"' \
		"EDPIPE_WORK_DIR=$T/work" >"$T/repl.env"
	unset SIS_PASSWORD
	INV_URL=sqlite:$T/inventory.db
	ci_conf
}

q() {
	sqlite3 "$1" "$2"
}

# hourly_env: replicate-hourly over repl.env and inv.env, with a push
# command that leaves a mark.
hourly_env() {
	printf '#!/bin/sh\necho pushed >"$1"\n' >"$T/push"
	chmod 755 "$T/push"
	printf '%s\n' "HOURLY_REPLICATE_CONF=$T/repl.env" \
		"HOURLY_PROVISION_CONF=$T/inv.env" \
		"HOURLY_PUSH=\"$T/push $T/pushed\"" \
		"EDPIPE_WORK_DIR=$T/hourly-work" >"$T/hourly.env"
}

@test "replicate-hourly: replicate, provisioning, then the push" {
	hourly_env
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_success
	[ "$(cat "$T/pushed")" = pushed ]
	[ "$(q "$T/warehouse.db" 'select count(*) from enrollments')" -gt 0 ]
	[ "$(q "$T/inventory.db" 'select count(*) from course')" -gt 0 ]
	jq -e '.status == "ok" and ([.steps[].name] == ["replicate", "provision", "push"])' \
		"$T/hourly-work/last/status.json"
	# Each script kept its own work directory.
	[ -e "$T/work/last/status.json" ] && [ -e "$T/inv-work/last/status.json" ]
}

@test "replicate-hourly: a failed provisioning stops the chain before the push" {
	hourly_env
	printf 'wrong-token\n' >"$T/bad-token"
	chmod 600 "$T/bad-token"
	sed -i "s|^CANVAS_TOKEN_FILE=.*|CANVAS_TOKEN_FILE=$T/bad-token|" "$T/inv.env"
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 77
	[[ "$stderr" == *"provisioning failed (exit 77): the Canvas push was not run"* ]]
	[ ! -e "$T/pushed" ]
	# replicate ran before it, as in the seed.
	[ "$(q "$T/warehouse.db" 'select count(*) from enrollments')" -gt 0 ]
	jq -e '.status == "failed" and .failed_step == "provision"' \
		"$T/hourly-work/last/status.json"
}

@test "replicate-hourly: a failed table does not stop provisioning and the push; the run fails" {
	hourly_env
	printf 'select nosuchcolumn from PEOPLE\n' >"$T/queries/bad.sql"
	printf '%s\n' 'hourly  broken  queries/bad.sql  on  -' >>"$T/tables"
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 65
	[[ "$stderr" == *"replicate failed (exit 65); provisioning goes on"* ]]
	[ "$(cat "$T/pushed")" = pushed ]
	jq -e '.status == "failed" and .failed_step == "replicate"' \
		"$T/hourly-work/last/status.json"
}

# push_db FILE: the reporting tables canvasApi reads (SQLite): the SIS
# side (sis_canvas_*) and Canvas's provisioning parts (cnv_*).
push_db() {
	sqlite3 "$1" <<-'EOF2'
	CREATE TABLE sis_canvas_enrollments (course_id TEXT, user_id TEXT, role TEXT, section_id TEXT);
	INSERT INTO sis_canvas_enrollments VALUES ('BIO101-F24', 'S00001', 'student', NULL),
	  ('BIO101-F24', 'S00002', 'teacher', NULL);
	CREATE TABLE cnv_enrollments (course_id TEXT, user_id TEXT, role TEXT, status TEXT, created_by_sis TEXT);
	INSERT INTO cnv_enrollments VALUES ('BIO101-F24', 'S00001', 'student', 'active', 'true'),
	  ('BIO101-F24', 'S00003', 'student', 'active', 'true');
	CREATE TABLE sis_canvas_admins (account_id TEXT, user_id TEXT, role TEXT);
	INSERT INTO sis_canvas_admins VALUES ('ROOT', 'S00004', 'AccountAdmin');
	CREATE TABLE cnv_accounts (canvas_account_id INTEGER, account_id TEXT);
	INSERT INTO cnv_accounts VALUES (1, 'ROOT');
	CREATE TABLE cnv_admins (canvas_account_id INTEGER, account_id TEXT, user_id TEXT, role TEXT,
	  status TEXT, created_by_sis TEXT);
	EOF2
}

# push_env MODE [NAME=VALUE...]: replicate-hourly with the push of MODE
# against the Canvas test server.
push_env() {
	local mode=$1
	shift
	rm -f "$T/push.db"
	push_db "$T/push.db"
	printf '%s\n' "HOURLY_REPLICATE_CONF=$T/repl.env" \
		"HOURLY_PROVISION_CONF=$T/inv.env" "HOURLY_PUSH_MODE=$mode" \
		"HOURLY_PUSH_DB=sqlite:$T/push.db" \
		"HOURLY_CANVAS_URL=http://127.0.0.1:$CPORT" \
		"HOURLY_CANVAS_TOKEN_FILE=$BATS_FILE_TMPDIR/token" \
		"EDPIPE_WORK_DIR=$T/hourly-work" "$@" >"$T/hourly.env"
	# Reports complete at their first status poll (report_polls=1, not
	# the server's 2: a 2 s back-off less per run; polling is
	# lms-fetch.bats's to test).
	curl -fsS "http://127.0.0.1:$CPORT/_reset?report_polls=1" >/dev/null
}

# cnv_state USER: "role state" of USER's enrollments in course 201.
cnv_state() {
	curl -fsS "http://127.0.0.1:$CPORT/_state" | jq -r --arg u "$1" \
		'.["201"][] | select(.sis_user_id == $u) | "\(.role) \(.enrollment_state)"'
}

@test "replicate-hourly api push: enrollments, unenrollments and org enrollments through lms-push canvas" {
	push_env api
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_success
	jq -e '.status == "ok" and ([.steps[].name] == ["replicate", "provision",
		"push-extract-1", "push-extract-2", "push-extract-3", "push"])' \
		"$T/hourly-work/last/status.json"
	diff -u <(printf '%s\n' "S00002 add ok" "S00003 drop ok" "S00004 add ok") \
		<(jq -r '"\(.user) \(.op) \(.result)"' "$T/hourly-work/last/push.ndjson")
	cnv_state S00002 | grep -qx "TeacherEnrollment active"
	[ "$(cnv_state S00003)" = "StudentEnrollment completed" ]
	curl -fsS "http://127.0.0.1:$CPORT/_admins" | jq -e \
		'.["1"] | map(select(.user.sis_user_id == "S00004" and .workflow_state == "active")) | length == 1'
}

@test "replicate-hourly api push: more drops than --max-drop-count refuse the push (3), nothing applied" {
	push_env api 'HOURLY_PUSH_ARGS="--max-drop-count 0"'
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 3
	[[ "$stderr" == *"lms-push: refusing 1 drops (0 of them account roles), over --max-drop-count 0: nothing applied"* ]]
	[[ "$stderr" == *"step 'push' failed (exit 3)"* ]]
	[ ! -s "$T/hourly-work/last/push.ndjson" ]
	[ "$(cnv_state S00003)" = "StudentEnrollment active" ]
	[ "$(cnv_state S00002 | grep -c Teacher)" = 0 ]
	jq -e '.status == "refused" and .failed_step == "push"' \
		"$T/hourly-work/last/status.json"
}

@test "replicate-hourly sis-import push: one SIS import with diffing; an empty extract is refused" {
	push_env sis-import HOURLY_SIS_ACCOUNT=1 HOURLY_DIFFING_ID=canvasapi:enrollments \
		HOURLY_DIFFING_DROP_STATUS=completed HOURLY_CHANGE_THRESHOLD=50
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_success
	jq -e '.workflow_state == "imported" and .diffing_data_set_identifier == "canvasapi:enrollments"' \
		"$T/hourly-work/last/push.ndjson"
	cnv_state S00002 | grep -qx "TeacherEnrollment active"
	sqlite3 "$T/push.db" 'DELETE FROM sis_canvas_enrollments'
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 3
	[[ "$stderr" == *"push-extract: no enrollments to import; an empty file would drop them all: nothing uploaded"* ]]
	[ "$(curl -fsS "http://127.0.0.1:$CPORT/_stats" | jq .sis_imports)" = 1 ]
	# A bad mode or a missing setting stops the run before anything runs.
	push_env bogus
	rm -f "$T/warehouse.db"
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 78
	[[ "$stderr" == *"HOURLY_PUSH_MODE: unknown mode 'bogus' (command, api or sis-import)"* ]]
	[ ! -e "$T/warehouse.db" ]
	push_env sis-import HOURLY_SIS_ACCOUNT=1
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 78
	[[ "$stderr" == *HOURLY_DIFFING_ID* ]]
}
