#!/usr/bin/env bats
# scripts/replicate end to end: the demo SIS in SQLite as the source,
# SQLite as the reporting database.  (canvas-inventory:
# pipeline-canvas-inventory.bats.)

bats_require_minimum_version 1.5.0
load helper

REPL=$ROOT/scripts/replicate

setup_file() {
	need python3 jq flock sqlite3
	"$ROOT/share/demo-sis/make-demo-sis" "$BATS_FILE_TMPDIR/sis.db"
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
	unset SIS_PASSWORD
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

@test "replicate: an empty extract is refused (3), the table keeps its rows" {
	"$REPL" -q -c "$T/repl.env" daily
	n=$(q "$T/warehouse.db" 'select count(*) from people')
	[ "$n" -gt 0 ]
	printf 'select PEOPLE_CODE_ID as id, FIRST_NAME as first, LAST_NAME as last from PEOPLE where 0\n' \
		>"$T/queries/people.sql"
	run --separate-stderr "$REPL" -c "$T/repl.env" daily
	assert_failure 3
	[[ "$stderr" == *"step 'load-people' failed with exit status 3"* ]]
	[ "$(q "$T/warehouse.db" 'select count(*) from people')" -eq "$n" ]
	! grep -q -- "step load-people: .*--allow-empty" "$T/work/last/run.log"
}

@test "replicate: a bad shrink limit in the list or REPLICATE_MAX_SHRINK is refused (78)" {
	printf 'daily people queries/people.sql on - lots\n' >"$T/tables"
	run --separate-stderr "$REPL" -c "$T/repl.env" daily
	assert_failure 78
	[[ "$stderr" == *"tables:1: shrink: 'lots' is not a percentage from 0 to 100"* ]]
	printf 'daily people queries/people.sql on - 101\n' >"$T/tables"
	run --separate-stderr "$REPL" -c "$T/repl.env" daily
	assert_failure 78
	printf 'daily people queries/people.sql on - 20 more\n' >"$T/tables"
	run --separate-stderr "$REPL" -c "$T/repl.env" daily
	assert_failure 78
	[[ "$stderr" == *"needs five or six fields"* ]]
	printf 'daily people queries/people.sql on -\n' >"$T/tables"
	run --separate-stderr env REPLICATE_MAX_SHRINK=-5 "$REPL" -c "$T/repl.env" daily
	assert_failure 78
	[[ "$stderr" == *"REPLICATE_MAX_SHRINK: '-5' is not a percentage"* ]]
	[ ! -e "$T/warehouse.db" ]
	[ ! -e "$T/work/runs" ]
}

@test "replicate: the shrink limit per table and REPLICATE_MAX_SHRINK reach db-load" {
	"$REPL" -q -c "$T/repl.env" daily
	n=$(q "$T/warehouse.db" 'select count(*) from people')
	[ "$n" -ge 4 ]
	# Keep a quarter of the rows: 75% shrink.
	printf 'select PEOPLE_CODE_ID as id, FIRST_NAME as first, LAST_NAME as last from PEOPLE where rowid %% 4 = 0\n' \
		>"$T/queries/people.sql"
	keep=$(sqlite3 "$BATS_FILE_TMPDIR/sis.db" 'select count(*) from PEOPLE where rowid % 4 = 0')
	# db-load's default (50%) refuses.
	printf 'daily people queries/people.sql on -\n' >"$T/tables"
	run --separate-stderr "$REPL" -c "$T/repl.env" daily
	assert_failure 3
	[ "$(q "$T/warehouse.db" 'select count(*) from people')" -eq "$n" ]
	# The global default, and the list's field over it.
	run --separate-stderr env REPLICATE_MAX_SHRINK=60 "$REPL" -c "$T/repl.env" daily
	assert_failure 3
	grep -q -- '--max-shrink 60' "$T/work/last/run.log"
	printf 'daily people queries/people.sql on - 80\n' >"$T/tables"
	run --separate-stderr env REPLICATE_MAX_SHRINK=60 "$REPL" -c "$T/repl.env" daily
	assert_success
	grep -q -- '--max-shrink 80' "$T/work/last/run.log"
	[ "$(q "$T/warehouse.db" 'select count(*) from people')" -eq "$keep" ]
}
