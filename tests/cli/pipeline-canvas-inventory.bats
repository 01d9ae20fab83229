#!/usr/bin/env bats
# scripts/canvas-inventory end to end into SQLite, against the Canvas test
# server (the shared cases: pipeline-canvas-inventory.bash; MariaDB:
# pipeline-canvas-inventory-mysql.bats), and its configuration checks.
bats_require_minimum_version 1.5.0
load helper
load pipeline-canvas-inventory

setup_file() {
	need python3 jq flock sqlite3 curl
	ci_start_canvas
	ci_start_kaltura
	ci_start_zoom
}

teardown_file() {
	ci_stop_canvas
	ci_stop_kaltura
}

setup() {
	INV_URL=sqlite:$BATS_TEST_TMPDIR/inventory.db
	inv_sql_user='"user"'
	ci_conf
}

@test "canvas-inventory SQLite: the seed's tables, typed, with job_run and data_source_status" { ci_full_run; }
@test "canvas-inventory SQLite: a Canvas outage leaves every table and records a failed run" { ci_outage; }
@test "canvas-inventory SQLite: mivideo loads Kaltura media incrementally, with its own job_run" { ci_mivideo; }
@test "canvas-inventory SQLite: canvas_zoom_meetings fills zoom_meeting and zoom_participant; a Zoom outage leaves them" { ci_zoom_run; }

@test "canvas-inventory: INVENTORY_KEEP_EMPTY=1 keeps the courses without students" {
	echo INVENTORY_KEEP_EMPTY=1 >>"$T/inv.env"
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_success
	run ci_q "SELECT canvas_id, term_id, workflow_state, total_students
		FROM course ORDER BY canvas_id"
	assert_output '{"canvas_id":201,"term_id":5,"workflow_state":"available","total_students":250}
{"canvas_id":202,"term_id":5,"workflow_state":"unpublished","total_students":0}
{"canvas_id":203,"term_id":5,"workflow_state":"available","total_students":0}
{"canvas_id":301,"term_id":6,"workflow_state":"completed","total_students":0}'
	run ci_q "SELECT course_id, role_type FROM enrollment WHERE course_id <> 201
		ORDER BY canvas_id"
	assert_output --partial '{"course_id":301,"role_type":"DesignerEnrollment"}'
	run ci_q "SELECT count(*) AS n FROM enrollment"
	assert_output '{"n":254}'
	# Only available courses have a published date, and 203 no event.
	run ci_q "SELECT canvas_id FROM course WHERE published_at IS NOT NULL"
	assert_output '{"canvas_id":201}'
	# Every section of the courses kept, a section without students too.
	run ci_q "SELECT canvas_id, course_id, name FROM course_section
		ORDER BY canvas_id"
	assert_output '{"canvas_id":9201,"course_id":201,"name":"BIO101-F24-01"}
{"canvas_id":9202,"course_id":202,"name":"Sandbox"}
{"canvas_id":9301,"course_id":301,"name":"History"}'
}

@test "canvas-inventory: a dry run fetches and builds the tables' files, touches no database" {
	run --separate-stderr "$INV" -n -c "$T/inv.env"
	assert_success
	[ ! -e "$T/inventory.db" ]
	[ "$(grep -c . "$T/inv-work/last/enrollment.ndjson")" -eq 251 ]
	run jq -c . "$T/inv-work/last/course.ndjson"
	assert_output '{"canvas_id":201,"sis_id":"BIO101-F24","name":"Biology, Intro","account_id":1,"term_id":5,"created_at":"2024-05-01 12:00:00","workflow_state":"available","total_students":250,"last_activity_at":"2024-09-12 08:30:00","published_at":"2024-08-20 13:00:00"}'
}

@test "canvas-inventory: bad configuration is refused (78) before anything runs" {
	local v
	for v in "INVENTORY_MAX_SHRINK=30 users=50|unknown table 'users' (term course course_section user enrollment)" \
		"INVENTORY_MAX_SHRINK=half|INVENTORY_MAX_SHRINK: 'half' is not a percentage from 0 to 100" \
		"INVENTORY_KEEP_EMPTY=yes|INVENTORY_KEEP_EMPTY: 'yes' is not 0 or 1" \
		"CANVAS_TERMS=5 fall|CANVAS_TERMS: 'fall' is not a term id" \
		"CANVAS_RETRIES=many|CANVAS_RETRIES: 'many' is not a number"; do
		run --separate-stderr env "${v%%|*}" "$INV" -c "$T/inv.env"
		assert_failure 78
		[[ "$stderr" == *"${v#*|}"* ]] || fail "$v: $stderr"
	done
	[ ! -e "$T/inv-work/runs" ]
	[ ! -e "$T/inventory.db" ]
}

@test "canvas-inventory: INVENTORY_MAX_SHRINK reaches db-load per table; a refused shrink keeps the tables" {
	run --separate-stderr env INVENTORY_MAX_SHRINK="30 user=100" "$INV" -c "$T/inv.env"
	assert_success
	grep -q -- "step load: db-load .*--max-shrink 30 --max-shrink user=100 --job-run" \
		"$T/inv-work/last/run.log"
	! grep -q -- "--allow-empty" "$T/inv-work/last/run.log"
	run ci_counts
	local before=$output
	# Term 6 alone: term 5 and course 201 are gone, more than 30%.
	run --separate-stderr env CANVAS_TERMS=6 INVENTORY_MAX_SHRINK=30 \
		"$INV" -c "$T/inv.env"
	assert_failure 3
	[[ $stderr == *"refusing to replace the 2 rows of table 'term' with 1: --max-shrink 30"* ]]
	run ci_counts
	assert_output "$before"
	run ci_q "SELECT status FROM job_run ORDER BY id DESC LIMIT 1"
	assert_output '{"status":"failed"}'
}

@test "canvas-inventory: CANVAS_ADD_COURSES adds courses of other terms, once" {
	# 301 (term 6, no students) and 201 (already in term 5, not twice).
	printf '%s\n' 'CANVAS_TERMS=5' 'CANVAS_ADD_COURSES="301 201"' \
		INVENTORY_KEEP_EMPTY=1 >>"$T/inv.env"
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_success
	run ci_q "SELECT canvas_id, term_id FROM course ORDER BY canvas_id"
	assert_output '{"canvas_id":201,"term_id":5}
{"canvas_id":202,"term_id":5}
{"canvas_id":203,"term_id":5}
{"canvas_id":301,"term_id":6}'
	run ci_q "SELECT canvas_id, name FROM term ORDER BY canvas_id"
	assert_output '{"canvas_id":5,"name":"Fall 2024"}
{"canvas_id":6,"name":"Spring 2025"}'
	run ci_q "SELECT count(*) AS n FROM enrollment"
	assert_output '{"n":254}'
	run --separate-stderr env CANVAS_ADD_COURSES="301 x1" "$INV" -c "$T/inv.env"
	assert_failure 78
	[[ $stderr == *"CANVAS_ADD_COURSES: 'x1' is not a course id"* ]]
}

@test "canvas-inventory: WAREHOUSE_DB joins the warehouse's SIS ids and uniqnames, kept as text" {
	local w=$BATS_TEST_TMPDIR/udw.db
	sqlite3 "$w" <<'SQL'
CREATE TABLE user_dim (id INTEGER PRIMARY KEY, canvas_id BIGINT);
CREATE TABLE pseudonym_dim (id INTEGER PRIMARY KEY, user_id INTEGER,
	sis_user_id TEXT, unique_name TEXT);
CREATE TABLE course_section_dim (id INTEGER PRIMARY KEY, canvas_id BIGINT,
	sis_source_id TEXT);
INSERT INTO user_dim VALUES (1, 1011), (2, 1250), (3, 1001);
INSERT INTO pseudonym_dim VALUES (10, 1, 'S00011-X', 'jdoe'),
	(11, 2, '00012345', 'nosis'), (12, 3, NULL, 'old'),
	(13, 3, 'S00001', 'u001');
INSERT INTO course_section_dim VALUES (1, 9201, 'WH-9201');
SQL
	echo "WAREHOUSE_DB=sqlite:$w" >>"$T/inv.env"
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_success
	run ci_q "SELECT canvas_id, sis_id, uniqname FROM \"user\" WHERE
		canvas_id IN (1001, 1002, 1011, 1250) ORDER BY canvas_id"
	assert_output '{"canvas_id":1001,"sis_id":"S00001","uniqname":"u001"}
{"canvas_id":1002,"sis_id":"S00002","uniqname":null}
{"canvas_id":1011,"sis_id":"S00011-X","uniqname":"jdoe"}
{"canvas_id":1250,"sis_id":"00012345","uniqname":"nosis"}'
	run ci_q "SELECT canvas_id, sis_id FROM course_section"
	assert_output '{"canvas_id":9201,"sis_id":"WH-9201"}'
	run ci_q "SELECT data_source_name, job_run_id FROM data_source_status
		ORDER BY data_source_name"
	assert_output '{"data_source_name":"CANVAS_API","job_run_id":1}
{"data_source_name":"UNIZIN_DATA_WAREHOUSE","job_run_id":1}'
	# The warehouse unreachable: every table as it was, a failed run with
	# both status rows.
	run ci_counts
	local before=$output
	sed -i "s|^WAREHOUSE_DB=.*|WAREHOUSE_DB=sqlite:$BATS_TEST_TMPDIR/none/udw.db|" "$T/inv.env"
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_failure
	[[ $stderr == *"step 'fetch-warehouse' failed"* ]]
	run ci_counts
	assert_output "$before"
	run ci_q "SELECT j.status, d.data_source_name FROM job_run j JOIN
		data_source_status d ON d.job_run_id = j.id WHERE j.id = 2
		ORDER BY d.data_source_name"
	assert_output '{"status":"failed","data_source_name":"CANVAS_API"}
{"status":"failed","data_source_name":"UNIZIN_DATA_WAREHOUSE"}'
}

@test "canvas-inventory: Canvas through an OAuth 2 gateway (CANVAS_TOKEN_URL ...) fills the same tables" {
	local port id=inv-client-id-20ae secret=inv-client-secret-9f3b
	port=$(free_port)
	python3 "$ROOT/tests/servers/canvas_server.py" "$port" \
		--token gw-inv-token-77 --fixture "$FIX/lms-fetch/canvas" \
		--client-id "$id" --client-secret "$secret" \
		--prefix aa/CanvasReadOnly >"$T/gw.log" 2>&1 &
	echo $! >"$T/gw.pid"
	wait_port "$port"
	(
		umask 077
		echo "$id" >"$T/id"
		echo "$secret" >"$T/secret"
	)
	sed -i '/^CANVAS_TOKEN_FILE=/d; /^CANVAS_URL=/d' "$T/inv.env"
	printf '%s\n' "CANVAS_URL=http://127.0.0.1:$port" \
		"CANVAS_TOKEN_URL=http://127.0.0.1:$port/oauth2/token" \
		"CANVAS_CLIENT_ID_FILE=$T/id" "CANVAS_CLIENT_SECRET_FILE=$T/secret" \
		CANVAS_SCOPE=canvasreadonly CANVAS_SCOPE_PREFIX=aa/CanvasReadOnly \
		CANVAS_CLIENT_ID_HEADER=X-IBM-Client-Id >>"$T/inv.env"
	run --separate-stderr "$INV" -c "$T/inv.env"
	kill "$(cat "$T/gw.pid")"
	assert_success
	[[ $stderr == *"enrollment: 251 rows loaded"* ]]
	run ci_counts
	assert_output '{"term":2,"course":1,"course_section":1,"u":250,"enrollment":251}'
	! grep -rqF -e "$secret" -e gw-inv-token-77 "$T/inv-work"
}
