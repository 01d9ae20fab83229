#!/usr/bin/env bats
# The course-inventory schema and loads into a real MariaDB server started
# for this file (the target the seed used): the shared tests of
# db-load-inventory.bash, and the column types and foreign keys the
# shipped MySQL migration makes.
load helper
load dbservers
load db-load-inventory
bats_require_minimum_version 1.5.0

setup_file() {
	mysql_start
	export URL="mysql://etl@127.0.0.1:$MYPORT/sis"
	export SIS_PASSWORD=s3cret-pw
}

teardown_file() {
	"$ROOT/tests/servers/mariadb.sh" stop "$MYDIR"
}

setup() {
	BACKEND=mysql
	"$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" <<'SQL'
DROP DATABASE sis;
CREATE DATABASE sis CHARACTER SET utf8mb4;
SQL
}

@test "inventory MariaDB: --migrate applies the shipped schema once" { inv_migrate; }
@test "inventory MariaDB: a failed migration is not recorded; rerun applies it" { inv_migrate_fail; }
@test "inventory MariaDB: migration file names and folders" { inv_migrate_names; }
@test "inventory MariaDB: --tables loads typed rows in one transaction with a job_run" { inv_load_ok; }
@test "inventory MariaDB: a bad row leaves every table as it was and records a failed run" { inv_load_fail; }
@test "inventory MariaDB: --max-shrink per table before anything is deleted" { inv_load_shrink; }
@test "inventory MariaDB: --bookmark advances with the rows, in their transaction" { inv_bookmark; }
@test "inventory MariaDB: --max-shrink TABLE=PCT" { inv_load_shrink_table; }

@test "inventory MariaDB: typed columns, keys and foreign keys of the schema" {
	db-load -q --db "$URL" --migrate "$MIG"
	run inv_q "SELECT table_name AS t, column_name AS c, column_type AS ty
		FROM information_schema.columns WHERE table_schema = 'sis' AND
		column_name IN ('canvas_id', 'total_students', 'published_at',
		'data_updated_at', 'job_run_id') ORDER BY table_name, column_name"
	assert_output '{"t":"course","c":"canvas_id","ty":"bigint(20)"}
{"t":"course","c":"published_at","ty":"datetime"}
{"t":"course","c":"total_students","ty":"int(11)"}
{"t":"course_section","c":"canvas_id","ty":"bigint(20)"}
{"t":"data_source_status","c":"data_updated_at","ty":"datetime"}
{"t":"data_source_status","c":"job_run_id","ty":"int(11)"}
{"t":"enrollment","c":"canvas_id","ty":"bigint(20)"}
{"t":"term","c":"canvas_id","ty":"bigint(20)"}
{"t":"user","c":"canvas_id","ty":"bigint(20)"}'
	run inv_q "SELECT table_name AS t, referenced_table_name AS r FROM
		information_schema.key_column_usage WHERE table_schema = 'sis'
		AND referenced_table_name IS NOT NULL ORDER BY t, r"
	assert_output '{"t":"course","r":"term"}
{"t":"course_section","r":"course"}
{"t":"data_source_status","r":"job_run"}
{"t":"enrollment","r":"course"}
{"t":"enrollment","r":"course_section"}
{"t":"enrollment","r":"user"}
{"t":"mivideo_media_courses","r":"mivideo_media_created"}'
	run inv_q "SELECT engine FROM information_schema.tables WHERE
		table_schema = 'sis' AND engine <> 'InnoDB'"
	assert_output ''
	# An enrollment of a user not loaded breaks the foreign key: 65,
	# and every table stays as it was.
	INV_DIR=$BATS_TEST_TMPDIR/new
	mkdir -p "$INV_DIR"
	cp "$IFIX"/*.ndjson "$INV_DIR"
	grep -v '"canvas_id":7' "$IFIX/user.ndjson" >"$INV_DIR/user.ndjson"
	run --separate-stderr inv_load
	[ "$status" -eq 65 ]
	[[ $stderr == *"foreign key constraint fails"* ]]
	run inv_q "SELECT count(*) AS n FROM enrollment"
	assert_output '{"n":0}'
	run inv_q "SELECT status FROM job_run"
	assert_output '{"status":"failed"}'
}
