#!/usr/bin/env bats
# scripts/replicate with PostgreSQL as the SIS and the reporting database
# (a server of this file's own, tests/servers/pg.sh), driven by the seed's
# own list shapes (tests/fixtures/replicate): $varbl1 bound, each table on
# its own, the post-load refresh of its materialized view.
bats_require_minimum_version 1.5.0
load helper
load dbservers

REPL=$ROOT/scripts/replicate

setup_file() {
	need jq flock
	pg_start
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis <<'SQL'
SET ROLE etl;
CREATE TABLE people (people_code_id text, first_name text, last_name text);
INSERT INTO people VALUES ('P0001', 'Zoë', 'Núñez'), ('P0002', 'Ann', 'Lee');
CREATE TABLE sections (event_id text, section text, academic_term text);
INSERT INTO sections
  SELECT 'C' || g, CASE WHEN g % 3 = 0 THEN '02' ELSE '01' END, 'WINTER'
  FROM generate_series(1, 30) g;
INSERT INTO sections VALUES ('X1', '03', 'WINTER'), ('X2', '01'' OR ''1''=''1', 'WINTER');
CREATE TABLE tmp_sections (course text, section text, term text);
CREATE MATERIALIZED VIEW fsuvs_sections AS SELECT * FROM tmp_sections;
SQL
	printf 's3cret-pw\n' >"$BATS_FILE_TMPDIR/pw"
	chmod 600 "$BATS_FILE_TMPDIR/pw"
}

teardown_file() {
	"$ROOT/tests/servers/pg.sh" stop "$PGDIR"
}

setup() {
	T=$BATS_TEST_TMPDIR
	URL="postgres://etl@127.0.0.1:$PGPORT_T/sis"
	cp "$FIX/replicate/tablelist-demo.yaml" "$T/tablelist.yaml"
	cp "$FIX/replicate/tablesconf-demo.yaml" "$T/tablesconf.yaml"
	printf '%s\n' "REPLICATE_SOURCE_DB=$URL" "REPLICATE_TARGET_DB=$URL" \
		"REPLICATE_TABLELIST=$T/tablelist.yaml" \
		"REPLICATE_TABLESCONF=$T/tablesconf.yaml" \
		"SIS_PASSWORD_FILE=$BATS_FILE_TMPDIR/pw" \
		"TARGET_PASSWORD_FILE=$BATS_FILE_TMPDIR/pw" \
		"REPLICATE_REFRESH='REFRESH MATERIALIZED VIEW \$mvtable'" \
		"EDPIPE_WORK_DIR=$T/work" >"$T/repl.env"
	unset SIS_PASSWORD
}

pq() {
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -tAc "$1"
}

@test "pg: \$varbl1 lists bound; the view refreshed; a failed refresh fails only its table" {
	# fsuvs_sections01 does not exist: tmp_sections01's refresh fails.
	run --separate-stderr "$REPL" -c "$T/repl.env" hourly
	assert_failure 65
	[[ "$stderr" == *"1 of 2 tables failed: tmp_sections01 (refresh-tmp_sections01, exit 65); 1 loaded"* ]]
	# ('01', '02') as two bound values: not the row whose section is
	# the pasted-SQL trap, not '03'.
	[ "$(pq 'select count(*) from tmp_sections')" -eq 30 ]
	[ "$(pq "select count(*) from tmp_sections where section not in ('01', '02')")" -eq 0 ]
	# The view was refreshed after the load.
	[ "$(pq 'select count(*) from fsuvs_sections')" -eq 30 ]
	# tmp_sections01 loaded (its own transaction), its status failed with
	# the reason.
	[ "$(pq 'select count(*) from tmp_sections01')" -eq 20 ]
	run pq "select tablename, jobname, status from replicate_current_status order by 1"
	assert_output "$(printf 'tmp_sections|fsuvs_sections|successful\ntmp_sections01|fsuvs_sections01|failed')"
	run pq "select message from replicate_status where tablename = 'tmp_sections01'"
	[[ "$output" == *"loaded, but the refresh failed: "*"fsuvs_sections01"*"does not exist"* ]]
	run pq "select message from replicate_status where tablename = 'tmp_sections'"
	assert_output "refreshed: REFRESH MATERIALIZED VIEW fsuvs_sections"
	[[ "$stderr" != *s3cret-pw* ]]
}

@test "pg: a table whose query fails leaves the others loaded, with a failed status row" {
	export REPLICATE_REFRESH=
	"$REPL" -q -c "$T/repl.env" hourly
	n01=$(pq 'select count(*) from tmp_sections01')
	[ "$n01" -eq 20 ]
	pq "delete from tmp_sections"
	sed -i 's/SELECT EVENT_ID AS course, SECTION AS section FROM/SELECT nosuchcolumn FROM/' \
		"$T/tablesconf.yaml"
	run --separate-stderr "$REPL" -c "$T/repl.env" hourly
	assert_failure 65
	[[ "$stderr" == *"1 of 2 tables failed: tmp_sections01 (extract-tmp_sections01, exit 65); 1 loaded"* ]]
	# The other table loaded; the failed one kept its previous rows.
	[ "$(pq 'select count(*) from tmp_sections')" -eq 30 ]
	[ "$(pq 'select count(*) from tmp_sections01')" -eq "$n01" ]
	run pq "select status from replicate_current_status where tablename = 'tmp_sections01'"
	assert_output failed
	run pq "select message from replicate_status where tablename = 'tmp_sections01' and status = 'failed' order by updated desc limit 1"
	[[ "$output" == *nosuchcolumn* ]]
}
