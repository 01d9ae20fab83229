#!/usr/bin/env bats
# The course-inventory schema and loads into SQLite (the shared tests are
# in db-load-inventory.bash; MariaDB: db-load-inventory-mysql.bats), and
# the usage of --migrate, --tables, --job-run.
load helper
load db-load-inventory
bats_require_minimum_version 1.5.0

setup() {
	need sqlite3
	BACKEND=sqlite
	URL=sqlite:$BATS_TEST_TMPDIR/inv.db
}

@test "inventory SQLite: --migrate applies the shipped schema once" { inv_migrate; }
@test "inventory SQLite: a failed migration rolls back and is not recorded" { inv_migrate_fail; }
@test "inventory SQLite: migration file names and folders" { inv_migrate_names; }
@test "inventory SQLite: --tables loads typed rows in one transaction with a job_run" { inv_load_ok; }
@test "inventory SQLite: a bad row leaves every table as it was and records a failed run" { inv_load_fail; }
@test "inventory SQLite: --max-shrink per table before anything is deleted" { inv_load_shrink; }
@test "inventory SQLite: --bookmark advances with the rows, in their transaction" { inv_bookmark; }
@test "inventory SQLite: --max-shrink TABLE=PCT" { inv_load_shrink_table; }

@test "inventory: usage errors of --tables, --job-run, --source" {
	local args
	for args in "--tables a,b $IFIX/term.ndjson" \
		"--tables a --table b $IFIX/term.ndjson" \
		"--tables a --create $IFIX/term.ndjson" \
		"--tables a --mode upsert -k x $IFIX/term.ndjson" \
		"--job-run j --table a" \
		"--source CANVAS_API --table a" \
		"--job-run j --run-failed --table a" \
		"--job-run j --run-failed --source =2026-01-01T00:00:00Z" \
		"--job-run j --run-failed --source S=yesterday" \
		"--job-run j --run-failed --run-started 2026-13-01T00:00:00Z" \
		"--migrate $MIG $IFIX/term.ndjson" \
		"--migrate ''" "--table a --max-shrink a=5 $IFIX/term.ndjson" \
		"--tables a --max-shrink b=5 $IFIX/term.ndjson" \
		"--tables a --max-shrink =5 $IFIX/term.ndjson" \
		"--tables a --max-shrink a=101 $IFIX/term.ndjson" \
		"--bookmark x --table a" "--bookmark =f --table a" \
		"--bookmark x= --table a" "--bookmark x=f --tables a $IFIX/term.ndjson"; do
		eval "run --separate-stderr db-load --db \"\$URL\" $args"
		[ "$status" -eq 2 ] || { echo "$args: $status $stderr"; false; }
		[ -z "$output" ]
		[[ $stderr == "db-load: "* ]]
		[[ $stderr == *"usage: db-load"* ]]
	done
	[ ! -e "$BATS_TEST_TMPDIR/inv.db" ]
}

@test "inventory: --tables before the migration: the missing table, nothing loaded" {
	run --separate-stderr inv_load
	[ "$status" -eq 65 ]
	[[ $stderr == *"no such table: term"* ]]
	run sqlite3 "$BATS_TEST_TMPDIR/inv.db" .tables
	assert_output ''
}
