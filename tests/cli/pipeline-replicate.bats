#!/usr/bin/env bats
# scripts/replicate and scripts/canvas-inventory end to end: the demo SIS
# in SQLite as the source, SQLite as the reporting database, the Canvas
# test server (tests/servers/canvas_server.py) as Canvas.

bats_require_minimum_version 1.5.0
load helper

REPL=$ROOT/scripts/replicate
INV=$ROOT/scripts/canvas-inventory
CTOKEN=canvas-inventory-token-51c

setup_file() {
	need python3 jq flock sqlite3 curl
	local d=$BATS_FILE_TMPDIR
	"$ROOT/share/demo-sis/make-demo-sis" "$d/sis.db"
	CPORT=$(free_port)
	python3 "$ROOT/tests/servers/canvas_server.py" "$CPORT" \
		--token "$CTOKEN" --fixture "$FIX/lms-fetch/canvas" \
		>"$d/canvas.log" 2>&1 &
	echo $! >"$d/canvas.pid"
	printf '%s\n' "$CTOKEN" >"$d/token"
	chmod 600 "$d/token"
	export CPORT
	wait_port "$CPORT"
}

teardown_file() {
	[ ! -f "$BATS_FILE_TMPDIR/canvas.pid" ] ||
		kill "$(cat "$BATS_FILE_TMPDIR/canvas.pid")" 2>/dev/null || true
}

setup() {
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/queries"
	cp "$ROOT/share/queries/powercampus-enrollments.sql" "$T/queries/"
	printf 'select PEOPLE_CODE_ID as id, FIRST_NAME as first, LAST_NAME as last from PEOPLE\n' \
		>"$T/queries/people.sql"
	printf '%s\n' '# schedule table query on params' \
		'hourly  enrollments  queries/powercampus-enrollments.sql  on   year,term' \
		'daily   people       queries/people.sql                   on   -' \
		'weekly  archive      queries/people.sql                   off  -' \
		>"$T/tables"
	printf '%s\n' "REPLICATE_SOURCE_DB=sqlite:$BATS_FILE_TMPDIR/sis.db" \
		"REPLICATE_TARGET_DB=sqlite:$T/warehouse.db" \
		"REPLICATE_TABLES=$T/tables" \
		'REPLICATE_PARAMS="year=2021 term=WINTER"' \
		"EDPIPE_WORK_DIR=$T/work" >"$T/repl.env"
	printf '%s\n' "CANVAS_URL=http://127.0.0.1:$CPORT" CANVAS_ACCOUNT=1 \
		'CANVAS_TERMS="5 6"' "CANVAS_TOKEN_FILE=$BATS_FILE_TMPDIR/token" \
		"INVENTORY_DB=sqlite:$T/inventory.db" \
		"EDPIPE_WORK_DIR=$T/inv-work" >"$T/inv.env"
	unset CANVAS_TOKEN SIS_PASSWORD
}

q() {
	sqlite3 "$1" "$2"
}

@test "replicate hourly: the term's enrollments replace the table, with a status row" {
	run --separate-stderr "$REPL" -c "$T/repl.env" hourly
	assert_success
	want=$(sis-extract --db "sqlite:$BATS_FILE_TMPDIR/sis.db" \
		--query "$ROOT/share/queries/powercampus-enrollments.sql" \
		--param year=2021 --param term=WINTER | grep -c .)
	[ "$want" -gt 10 ]
	[ "$(q "$T/warehouse.db" 'select count(*) from enrollments')" -eq "$want" ]
	run q "$T/warehouse.db" 'select job, table_name, status, rows from replicate_current_status'
	assert_output "replicate-hourly|enrollments|successful|$want"
	# Only the hourly table ran.
	run q "$T/warehouse.db" "select count(*) from sqlite_master where name = 'people'"
	assert_output 0
	# Twice gives the same table, not twice the rows.
	"$REPL" -q -c "$T/repl.env" hourly
	[ "$(q "$T/warehouse.db" 'select count(*) from enrollments')" -eq "$want" ]
}

@test "replicate all: every table, the one switched off recorded as skipped" {
	run --separate-stderr "$REPL" -c "$T/repl.env" all
	assert_success
	run q "$T/warehouse.db" 'select table_name, status from replicate_current_status order by 1'
	assert_output "$(printf 'archive|skipped\nenrollments|successful\npeople|successful')"
	run q "$T/warehouse.db" "select count(*) from sqlite_master where name = 'archive'"
	assert_output 0
}

@test "replicate: a failing extraction stops the run naming the table; nothing after it runs" {
	"$REPL" -q -c "$T/repl.env" daily
	before=$(q "$T/warehouse.db" 'select count(*) from people')
	printf 'select nosuchcolumn from PEOPLE\n' >"$T/queries/bad.sql"
	printf '%s\n' 'daily  broken  queries/bad.sql     on  -' \
		'daily  people  queries/people.sql  on  -' >"$T/tables"
	sqlite3 "$T/warehouse.db" 'delete from people where rowid % 2 = 0'
	left=$(q "$T/warehouse.db" 'select count(*) from people')
	run --separate-stderr "$REPL" -c "$T/repl.env" daily
	assert_failure 65
	[[ "$stderr" == *"step 'extract-broken' failed with exit status 65"* ]]
	# people was not reloaded: the run stopped at broken.
	[ "$(q "$T/warehouse.db" 'select count(*) from people')" -eq "$left" ]
	[ "$left" -lt "$before" ]
	jq -e '.status == "failed" and .failed_step == "extract-broken"' \
		"$T/work/last/status.json"
}

@test "replicate: a failing load keeps the old rows and writes a failed status row" {
	"$REPL" -q -c "$T/repl.env" daily
	n=$(q "$T/warehouse.db" 'select count(*) from people')
	sqlite3 "$T/warehouse.db" "create trigger nope before insert on people
		begin select raise(abort, 'loads refused'); end;"
	run --separate-stderr "$REPL" -c "$T/repl.env" daily
	assert_failure
	[[ "$stderr" == *"step 'load-people' failed"* ]]
	[ "$(q "$T/warehouse.db" 'select count(*) from people')" -eq "$n" ]
	run q "$T/warehouse.db" "select status from replicate_current_status where table_name = 'people' order by rowid desc limit 1"
	assert_output failed
}

@test "replicate: a bad table list is refused before anything runs" {
	printf 'hourly enrollments queries/people.sql maybe -\n' >"$T/tables"
	run --separate-stderr "$REPL" -c "$T/repl.env" hourly
	assert_failure 78
	[[ "$stderr" == *"tables:1: 'maybe' is neither on nor off"* ]]
	printf 'hourly enrollments queries/people.sql on week\n' >"$T/tables"
	run --separate-stderr "$REPL" -c "$T/repl.env" hourly
	assert_failure 78
	[[ "$stderr" == *"parameter 'week' is not in REPLICATE_PARAMS"* ]]
	run --separate-stderr "$REPL" -c "$T/repl.env" monthly
	assert_failure 2
	[ ! -e "$T/warehouse.db" ]
}

@test "canvas-inventory: courses, enrollments and users of the terms into tables with status rows" {
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_success
	export CANVAS_TOKEN=$CTOKEN CANVAS_URL=http://127.0.0.1:$CPORT
	c=$(lms-fetch canvas courses --account 1 --term 5 --term 6 | grep -c .)
	e=$( (lms-fetch canvas enrollments --account 1 --term 5
		lms-fetch canvas enrollments --account 1 --term 6) | grep -c .)
	u=$(lms-fetch canvas users --account 1 | grep -c .)
	[ "$c" -gt 0 ] && [ "$e" -gt 0 ] && [ "$u" -gt 0 ]
	[ "$(q "$T/inventory.db" 'select count(*) from course')" -eq "$c" ]
	[ "$(q "$T/inventory.db" 'select count(*) from enrollment')" -eq "$e" ]
	[ "$(q "$T/inventory.db" 'select count(*) from user')" -eq "$u" ]
	run q "$T/inventory.db" 'select table_name, status from data_source_status order by 1'
	assert_output "$(printf 'course|successful\nenrollment|successful\nuser|successful')"
}

@test "canvas-inventory: a refused token stops before any load; the tables stay" {
	"$INV" -q -c "$T/inv.env"
	n=$(q "$T/inventory.db" 'select count(*) from course')
	printf 'wrong-token\n' >"$T/bad-token"
	chmod 600 "$T/bad-token"
	sed -i "s|^CANVAS_TOKEN_FILE=.*|CANVAS_TOKEN_FILE=$T/bad-token|" "$T/inv.env"
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_failure 77
	[[ "$stderr" == *"step 'fetch-courses' failed with exit status 77"* ]]
	[[ "$stderr" != *wrong-token* ]]
	[ "$(q "$T/inventory.db" 'select count(*) from course')" -eq "$n" ]
	run q "$T/inventory.db" 'select count(*) from data_source_status'
	assert_output 3
}
