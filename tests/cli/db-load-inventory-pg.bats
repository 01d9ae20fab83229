#!/usr/bin/env bats
# The course-inventory schema and loads into a real PostgreSQL server
# started for this file: the shared tests of db-load-inventory.bash with
# the shipped PostgreSQL migration.
load helper
load dbservers
load db-load-inventory
bats_require_minimum_version 1.5.0

setup_file() {
	pg_start
	export URL="postgres://etl@127.0.0.1:$PGPORT_T/sis"
	export SIS_PASSWORD=s3cret-pw
}

teardown_file() {
	"$ROOT/tests/servers/pg.sh" stop "$PGDIR"
}

setup() {
	BACKEND=postgres
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -q \
		-c "SET client_min_messages = warning" \
		-c "DROP DATABASE sis" -c "CREATE DATABASE sis OWNER etl ENCODING 'UTF8'"
}

@test "inventory PostgreSQL: --migrate applies the shipped schema once" { inv_migrate; }
@test "inventory PostgreSQL: a failed migration rolls back and is not recorded" { inv_migrate_fail; }
@test "inventory PostgreSQL: --tables loads typed rows in one transaction with a job_run" { inv_load_ok; }
@test "inventory PostgreSQL: a bad row leaves every table as it was and records a failed run" { inv_load_fail; }
@test "inventory PostgreSQL: --max-shrink per table before anything is deleted" { inv_load_shrink; }
@test "inventory PostgreSQL: --bookmark advances with the rows, in their transaction" { inv_bookmark; }
