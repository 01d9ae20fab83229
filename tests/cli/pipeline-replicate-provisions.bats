#!/usr/bin/env bats
# scripts/replicate --provisions (the seed's canvasProvisions): the Canvas
# provisioning reports of several terms from the Canvas test server
# (tests/servers/canvas_server.py) into cnv_* tables of a SQLite
# reporting database, with the replicate_current_status rows, and
# replicate-hourly reading the 'provisions' row before its push.

bats_require_minimum_version 1.5.0
load helper

CTOKEN=canvas-test-token-9c41

setup_file() {
	need python3 jq flock sqlite3 curl
	"$ROOT/share/demo-sis/make-demo-sis" "$BATS_FILE_TMPDIR/sis.db"
	lms_server canvas CPORT "$CTOKEN" "$FIX/lms-fetch/canvas"
}

teardown_file() {
	lms_server_stop canvas
}

setup() {
	T=$BATS_TEST_TMPDIR
	CANVAS_URL=http://127.0.0.1:$CPORT
	# A report is complete at its first status poll (report_polls=1;
	# the server's default, 2, adds a 2 s back-off to every run here):
	# polling is lms-fetch.bats's to test.
	curl -fsS "$CANVAS_URL/_reset?report_polls=1" >/dev/null
	printf '%s\n' "$CTOKEN" >"$T/token"
	chmod 600 "$T/token"
	printf '%s\n' "REPLICATE_TARGET_DB=sqlite:$T/warehouse.db" \
		"CANVAS_URL=$CANVAS_URL" "CANVAS_TOKEN_FILE=$T/token" \
		"REPLICATE_CANVAS_ACCOUNT=1" 'REPLICATE_CANVAS_TERMS="fa24 sp25"' \
		"REPLICATE_CANVAS_WHAT=users,enrollments" \
		"REPLICATE_CANVAS_PROCESSORGS=yes" \
		"EDPIPE_WORK_DIR=$T/work" >"$T/repl.env"
	unset SIS_PASSWORD CANVAS_TOKEN
}

q() {
	sqlite3 "$T/warehouse.db" "$1"
}

@test "replicate --provisions: every term's reports into cnv_ tables, with status rows" {
	run --separate-stderr "$ROOT/scripts/replicate" -c "$T/repl.env" --provisions
	assert_success
	[ "$(q 'select count(*) from cnv_enrollments')" -eq 5 ]
	[ "$(q "select group_concat(term, ',') from (select distinct term from cnv_enrollments order by term)")" = 5,6 ]
	# Users of both terms: one report per term.
	[ "$(q 'select count(*) from cnv_users')" -eq 10 ]
	[ "$(q "select name from cnv_accounts where account_id = 'COLL-SCI'")" = "Science, College of" ]
	[ "$(q 'select count(*) from cnv_admins')" -eq 1 ]
	[ "$(q "select status || ' ' || jobname from replicate_current_status where tablename = 'provisions'")" = "successful canvasProvisions" ]
	[ "$(q "select count(*) from replicate_current_status where status = 'successful'")" -eq 5 ]
	[ "$(q "select rows from replicate_status where tablename = 'provisions'")" -eq 18 ]
	[ "$(curl -fsS "$CANVAS_URL/_stats" | jq .reports_started)" -eq 6 ]
}

@test "replicate --provisions: a term that is not in Canvas fails before any report, tables kept" {
	run --separate-stderr "$ROOT/scripts/replicate" -c "$T/repl.env" --provisions
	assert_success
	sed -i 's/^REPLICATE_CANVAS_TERMS=.*/REPLICATE_CANVAS_TERMS="fa24 wi19"/' "$T/repl.env"
	curl -fsS "$CANVAS_URL/_reset?report_polls=1" >/dev/null
	run --separate-stderr "$ROOT/scripts/replicate" -c "$T/repl.env" --provisions
	assert_failure 78
	[[ "$stderr" == *"--term 'wi19': no term of account 1 has that id, sis_term_id or name"* ]]
	[[ "$stderr" == *"Canvas provisioning failed: provisions (fetch-canvas, exit 78); the Canvas push must not run"* ]]
	[ "$(curl -fsS "$CANVAS_URL/_stats" | jq .reports_started)" = null ]
	# The previous load stays; the provisions row says failed, and why.
	[ "$(q 'select count(*) from cnv_enrollments')" -eq 5 ]
	[ "$(q "select status from replicate_current_status where tablename = 'provisions'")" = failed ]
	[[ "$(q "select message from replicate_status where tablename = 'provisions' and status = 'failed'")" == *"--term 'wi19'"* ]]
}

@test "replicate --provisions: a report that ends in error fails the run and its row" {
	curl -fsS "$CANVAS_URL/_reset?report_status=error&report_polls=1" >/dev/null
	run --separate-stderr "$ROOT/scripts/replicate" -c "$T/repl.env" --provisions
	assert_failure 69
	[[ "$stderr" == *"the report ended with status 'error': Generating the report failed."* ]]
	[ "$(q "select status from replicate_current_status where tablename = 'provisions'")" = failed ]
	[ "$(q "select count(*) from sqlite_master where name like 'cnv_%'")" -eq 0 ]
}

@test "replicate --provisions -n: the reports fetched, nothing loaded; a failure still fails" {
	run --separate-stderr "$ROOT/scripts/replicate" -c "$T/repl.env" -n --provisions
	assert_success
	[[ "$stderr" == *"cnv_enrollments: 5 rows fetched (dry run)"* ]]
	[ ! -e "$T/warehouse.db" ] ||
		[ "$(q "select count(*) from sqlite_master")" -eq 0 ]
	curl -fsS "$CANVAS_URL/_reset?report_status=aborted&report_polls=1" >/dev/null
	run --separate-stderr "$ROOT/scripts/replicate" -c "$T/repl.env" -n --provisions
	assert_failure 69
	[[ "$stderr" == *"the report ended with status 'aborted'"* ]]
}

@test "replicate --provisions: usage and configuration errors" {
	run --separate-stderr "$ROOT/scripts/replicate" -c "$T/repl.env" --provisions hourly
	assert_failure 2
	[[ "$stderr" == *"--provisions takes no SCHEDULE or DATABASE"* ]]
	sed -i '/^REPLICATE_CANVAS_ACCOUNT=/d' "$T/repl.env"
	run --separate-stderr "$ROOT/scripts/replicate" -c "$T/repl.env" --provisions
	assert_failure 78
	[[ "$stderr" == *"REPLICATE_CANVAS_ACCOUNT"* ]]
	[ "$(curl -fsS "$CANVAS_URL/_stats" | jq .requests)" -eq 0 ]
}

# hourly_env: replicate-hourly with HOURLY_PROVISION=replicate over
# repl.env (the hourly tables from the demo SIS, and the Canvas side), and
# a push command that leaves a mark.
hourly_env() {
	mkdir -p "$T/queries"
	cp "$ROOT/share/queries/powercampus-enrollments.sql" "$T/queries/"
	printf '%s\n' 'hourly  enrollments  queries/powercampus-enrollments.sql  on   year,term' \
		>"$T/tables"
	printf '%s\n' "REPLICATE_SOURCE_DB=sqlite:$BATS_FILE_TMPDIR/sis.db" \
		"REPLICATE_TABLES=$T/tables" \
		'REPLICATE_PARAMS="year=2021 term=WINTER"' >>"$T/repl.env"
	printf '#!/bin/sh\necho pushed >"$1"\n' >"$T/push"
	chmod 755 "$T/push"
	printf '%s\n' "HOURLY_REPLICATE_CONF=$T/repl.env" \
		"HOURLY_PROVISION=replicate" \
		"HOURLY_STATUS_DB=sqlite:$T/warehouse.db" \
		"HOURLY_PUSH=\"$T/push $T/pushed\"" \
		"EDPIPE_WORK_DIR=$T/hourly-work" >"$T/hourly.env"
}

@test "replicate-hourly: replicate, replicate --provisions, its row read, then the push" {
	hourly_env
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_success
	[ "$(cat "$T/pushed")" = pushed ]
	[ "$(q 'select count(*) from enrollments')" -gt 0 ]
	[ "$(q 'select count(*) from cnv_enrollments')" -eq 5 ]
	jq -e '.status == "ok" and ([.steps[].name] == ["replicate", "provision", "push"])' \
		"$T/hourly-work/last/status.json"
}

@test "replicate-hourly: a failed provisioning (a term Canvas lacks) stops the push" {
	hourly_env
	sed -i 's/^REPLICATE_CANVAS_TERMS=.*/REPLICATE_CANVAS_TERMS="fa24 wi19"/' "$T/repl.env"
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 78
	[[ "$stderr" == *"provisioning failed (exit 78): the Canvas push was not run"* ]]
	[ ! -e "$T/pushed" ]
	[ "$(q "select status from replicate_current_status where tablename = 'provisions'")" = failed ]
}

@test "replicate-hourly: the push waits for a successful provisions row of this run" {
	hourly_env
	# The row is read where HOURLY_STATUS_DB says: here another database,
	# whose row is an old success, then a failure, then none.
	sed -i "s|^HOURLY_STATUS_DB=.*|HOURLY_STATUS_DB=sqlite:$T/status.db|" "$T/hourly.env"
	sqlite3 "$T/status.db" "create table replicate_current_status (tablename text, jobname text, status text, updated timestamp);
		insert into replicate_current_status values ('provisions', 'canvasProvisions', 'successful', '2020-01-01T00:00:00Z')"
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 3
	[[ "$stderr" == *"provisioning: its status row is older than this run: the Canvas push was not run"* ]]
	[ ! -e "$T/pushed" ]
	jq -e '.status == "refused" and .failed_step == "provision"' \
		"$T/hourly-work/last/status.json"
	sqlite3 "$T/status.db" "update replicate_current_status set status = 'failed', updated = '2999-01-01T00:00:00Z'"
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 3
	[[ "$stderr" == *"provisioning: its status row says 'failed': the Canvas push was not run"* ]]
	sqlite3 "$T/status.db" "delete from replicate_current_status"
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 3
	[[ "$stderr" == *"provisioning: replicate_current_status has no 'provisions' row: the Canvas push was not run"* ]]
	[ ! -e "$T/pushed" ]
}
