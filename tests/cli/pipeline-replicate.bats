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
	# The seed's status tables: the current one (tablename, jobname,
	# status, updated), and the history with the rows and the reason.
	run q "$T/warehouse.db" 'select tablename, jobname, status, updated like "____-__-__T__:__:__Z" from replicate_current_status'
	assert_output "enrollments|replicate-hourly|successful|1"
	run q "$T/warehouse.db" 'select tablename, status, rows, message is null from replicate_status'
	assert_output "enrollments|successful|$want|1"
	# Only the hourly table ran.
	run q "$T/warehouse.db" "select count(*) from sqlite_master where name = 'people'"
	assert_output 0
	# Twice gives the same table, not twice the rows; the current status
	# is upserted (one row per table), the history appended.
	"$REPL" -q -c "$T/repl.env" hourly
	[ "$(q "$T/warehouse.db" 'select count(*) from enrollments')" -eq "$want" ]
	run q "$T/warehouse.db" 'select count(*) from replicate_current_status'
	assert_output 1
	run q "$T/warehouse.db" 'select count(*) from replicate_status'
	assert_output 2
}

@test "replicate all: every table, the one switched off recorded as skipped" {
	run --separate-stderr "$REPL" -c "$T/repl.env" all
	assert_success
	run q "$T/warehouse.db" 'select tablename, status from replicate_current_status order by 1'
	assert_output "$(printf 'archive|skipped\nenrollments|successful\npeople|successful')"
	run q "$T/warehouse.db" "select message from replicate_status where tablename = 'archive'"
	assert_output "switched off"
	run q "$T/warehouse.db" "select count(*) from sqlite_master where name = 'archive'"
	assert_output 0
}

@test "replicate: a failing table does not stop the others; the run fails at the end naming it" {
	"$REPL" -q -c "$T/repl.env" daily
	before=$(q "$T/warehouse.db" 'select count(*) from people')
	printf 'select nosuchcolumn from PEOPLE\n' >"$T/queries/bad.sql"
	printf '%s\n' 'daily  broken  queries/bad.sql     on  -' \
		'daily  people  queries/people.sql  on  -' \
		'daily  worse   queries/bad.sql     on  -' >"$T/tables"
	sqlite3 "$T/warehouse.db" 'delete from people where rowid % 2 = 0'
	left=$(q "$T/warehouse.db" 'select count(*) from people')
	[ "$left" -lt "$before" ]
	run --separate-stderr "$REPL" -c "$T/repl.env" daily
	# The first failure's exit status, every failed table named.
	assert_failure 65
	[[ "$stderr" == *"2 of 3 tables failed: broken (extract-broken, exit 65), worse (extract-worse, exit 65); 1 loaded, 0 skipped"* ]]
	[[ "$stderr" == *"broken: "*"nosuchcolumn"*"the table keeps its previous rows"* ]]
	# people, after the failed table, was loaded all the same.
	[ "$(q "$T/warehouse.db" 'select count(*) from people')" -eq "$before" ]
	run q "$T/warehouse.db" 'select tablename, status from replicate_current_status order by 1'
	assert_output "$(printf 'broken|failed\npeople|successful\nworse|failed')"
	# The reason is in the history row; no partial table was made.
	run q "$T/warehouse.db" "select message from replicate_status where tablename = 'broken'"
	[[ "$output" == *nosuchcolumn* ]]
	run q "$T/warehouse.db" "select count(*) from sqlite_master where name in ('broken', 'worse')"
	assert_output 0
	[ ! -e "$T/work/last/broken.ndjson" ]
	jq -e '.status == "failed" and .failed_step == "extract-broken"' \
		"$T/work/last/status.json"
	jq -e '.steps | map(select(.name == "load-people" and .status == "ok"))
		| length == 1' "$T/work/last/status.json"
}

@test "replicate: a failing load keeps the old rows and writes a failed status row" {
	"$REPL" -q -c "$T/repl.env" daily
	n=$(q "$T/warehouse.db" 'select count(*) from people')
	sqlite3 "$T/warehouse.db" "create trigger nope before insert on people
		begin select raise(abort, 'loads refused'); end;"
	run --separate-stderr "$REPL" -c "$T/repl.env" daily
	assert_failure
	[[ "$stderr" == *"1 of 1 tables failed: people (load-people, exit 65)"* ]]
	[ "$(q "$T/warehouse.db" 'select count(*) from people')" -eq "$n" ]
	run q "$T/warehouse.db" "select status from replicate_current_status where tablename = 'people'"
	assert_output failed
	run q "$T/warehouse.db" "select message from replicate_status where tablename = 'people' and status = 'failed'"
	[[ "$output" == *"loads refused"* ]]
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
	[[ "$stderr" == *"tables failed: people (load-people, exit 3)"* ]]
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

# yaml_env: a configuration for the seed's own lists (tablelist.yaml and
# tablesconf.yaml, in tests/fixtures/replicate) instead of REPLICATE_TABLES.
yaml_env() {
	cp "$FIX/replicate/tablelist-demo.yaml" "$T/tablelist.yaml"
	cp "$FIX/replicate/tablesconf-demo.yaml" "$T/tablesconf.yaml"
	printf '%s\n' "REPLICATE_SOURCE_DB=sqlite:$BATS_FILE_TMPDIR/sis.db" \
		"REPLICATE_TARGET_DB=sqlite:$T/warehouse.db" \
		"REPLICATE_TABLELIST=$T/tablelist.yaml" \
		"REPLICATE_TABLESCONF=$T/tablesconf.yaml" \
		"EDPIPE_WORK_DIR=$T/work" >"$T/yaml.env"
}

@test "replicate: the seed's tablelist.yaml and tablesconf.yaml drive a run; \$varbl1 is bound" {
	yaml_env
	run --separate-stderr "$REPL" -c "$T/yaml.env" hourly
	assert_success
	sis=$BATS_FILE_TMPDIR/sis.db
	# A list term, ('01', '02'): every section; a single one, '01'.
	[ "$(q "$T/warehouse.db" 'select count(*) from tmp_sections')" -eq \
		"$(q "$sis" "select count(*) from SECTIONS where SECTION in ('01', '02')")" ]
	n01=$(q "$sis" "select count(*) from SECTIONS where SECTION = '01'")
	[ "$n01" -gt 0 ]
	[ "$(q "$T/warehouse.db" 'select count(*) from tmp_sections01')" -eq "$n01" ]
	[ "$(q "$T/warehouse.db" "select count(*) from tmp_sections01 where section <> '01'")" -eq 0 ]
	# One bound parameter per value: placeholders in the SQL, never the values.
	log=$T/work/last/run.log
	# (run.log has each step's words as printf %q writes them)
	grep -qF -- 'IN\ \(:varbl1_1\,\ :varbl1_2\)\ ORDER' "$log"
	grep -qF -- '--param varbl1_1=01 --param varbl1_2=02 --output' "$log"
	grep -qF -- 'SECTION\ =\ :varbl1\ ORDER' "$log"
	grep -qF -- '--param varbl1=01 --output' "$log"
	! grep -q -- "'0[12]'" "$log"
	# Status rows as the seed has them: tablename the cstable, jobname the mvtable.
	run q "$T/warehouse.db" 'select tablename, jobname, status from replicate_current_status order by 1'
	assert_output "$(printf 'tmp_sections|fsuvs_sections|successful\ntmp_sections01|fsuvs_sections01|successful')"
	# Only the hourly tables ran; a toggle off is skipped (custom).
	run q "$T/warehouse.db" "select count(*) from sqlite_master where name = 'tmp_people'"
	assert_output 0
	run --separate-stderr "$REPL" -q -c "$T/yaml.env" custom
	assert_success
	run q "$T/warehouse.db" "select status from replicate_current_status where tablename = 'tmp_winter'"
	assert_output skipped
}

@test "replicate --table NAME runs one table of the schedule" {
	yaml_env
	run --separate-stderr "$REPL" -c "$T/yaml.env" --table tmp_sections01 all
	assert_success
	run q "$T/warehouse.db" 'select tablename from replicate_current_status'
	assert_output tmp_sections01
	run --separate-stderr "$REPL" -c "$T/yaml.env" --table tmp_people hourly
	assert_failure 78
	[[ "$stderr" == *"no table 'tmp_people' in the schedule 'hourly' of '$T/tablelist.yaml'"* ]]
	run --separate-stderr "$REPL" -c "$T/repl.env" --table people daily
	assert_success
	run q "$T/warehouse.db" "select count(*) from sqlite_master where name = 'enrollments'"
	assert_output 0
}

@test "replicate: bad seed lists are refused before anything runs (65, 78)" {
	yaml_env
	cp "$FIX/replicate/tablesconf-seed.yaml" "$T/tablesconf.yaml"
	run --separate-stderr "$REPL" -c "$T/yaml.env" all
	assert_failure 65
	[[ "$stderr" == "replicate: $T/tablesconf.yaml:16: did not find expected key"* ]]
	yaml_env
	run --separate-stderr "$REPL" -c "$T/yaml.env" monthly
	assert_failure 78
	[[ "$stderr" == *"tablelist.yaml: no schedule 'monthly' (all, custom, daily, hourly)"* ]]
	sed -i 's/varbl1: "first"/varbl1: "nosuch"/' "$T/tablesconf.yaml"
	run --separate-stderr "$REPL" -c "$T/yaml.env" hourly
	assert_failure 78
	[[ "$stderr" == *"tablesconf.yaml: tmp_sections01: varbl1 'nosuch' is not a key of terms"* ]]
	yaml_env
	# A term that is not quoted values is refused, not pasted.
	sed -i "s/  first: \"'01'\"/  first: \"'01' OR 1=1\"/" "$T/tablesconf.yaml"
	run --separate-stderr "$REPL" -c "$T/yaml.env" hourly
	assert_failure 78
	[[ "$stderr" == *"terms: first: \"'01' OR 1=1\" is neither 'VALUE' nor ('VALUE', ...)"* ]]
	yaml_env
	sed -i 's/toggle: "off"/toggle: "maybe"/' "$T/tablesconf.yaml"
	run --separate-stderr "$REPL" -c "$T/yaml.env" custom
	assert_failure 78
	[[ "$stderr" == *"tmp_winter: toggle \"maybe\" is neither on nor off"* ]]
	[ ! -e "$T/warehouse.db" ]
	[ ! -e "$T/work/runs" ]
}

@test "replicate: the source database by name; a base64 password in the file is refused" {
	yaml_env
	sed -i '/^REPLICATE_SOURCE_DB=/d' "$T/yaml.env"
	printf '%s\n' 'odl_usr:' "  url: sqlite:$BATS_FILE_TMPDIR/sis.db" \
		'dbtest:' '  url: sqlite:/nonexistent/test.db' >"$T/dbs.yaml"
	echo "REPLICATE_DATABASES=$T/dbs.yaml" >>"$T/yaml.env"
	run --separate-stderr "$REPL" -c "$T/yaml.env" hourly
	assert_failure 78
	[[ "$stderr" == *"REPLICATE_SOURCE_DB is not set"* ]]
	run --separate-stderr "$REPL" -c "$T/yaml.env" hourly dbprod
	assert_failure 78
	[[ "$stderr" == *"REPLICATE_DATABASES: no database 'dbprod' (dbtest, odl_usr)"* ]]
	run --separate-stderr "$REPL" -q -c "$T/yaml.env" hourly odl_usr
	assert_success
	[ "$(q "$T/warehouse.db" 'select count(*) from tmp_sections')" -gt 0 ]
	printf '%s\n' 'qna:' "  url: sqlite:$BATS_FILE_TMPDIR/sis.db" \
		'  username: odl_usr' '  password: aGVsbG8=' >"$T/dbs.yaml"
	run --separate-stderr "$REPL" -c "$T/yaml.env" hourly qna
	assert_failure 78
	[[ "$stderr" == *"database 'qna' has its password in the file: base64 (the seed's encoding) is not encryption"* ]]
	[[ "$stderr" != *aGVsbG8=* ]]
}
