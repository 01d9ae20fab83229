#!/usr/bin/env bats
# db-load through ODBC with psqlODBC (odbc-postgresql, its Unicode
# driver) against a real PostgreSQL server started for this file
# (tests/servers/pg.sh): the shared db-load behaviour tests
# (db-load-backends.bash) through the parameter-array bulk path, logins,
# and a session killed in the middle of a load.
load helper
load dbservers
load db-load-backends
bats_require_minimum_version 1.5.0

setup_file() {
	odbc_pg_start || return 1
	# BoolsAsChar=0: booleans as SQL_BIT rather than char(5).
	export URL="odbc:Driver=PostgreSQL test;Server=127.0.0.1;Port=$PGPORT_T;Database=sis;UID=etl;BoolsAsChar=0"
	export SIS_PASSWORD=s3cret-pw
	export URL_DOWN="odbc:Driver=PostgreSQL test;Server=127.0.0.1;Port=$(free_port);Database=sis;UID=etl"
	export T_DEC="numeric(30,2)" T_BOOL=boolean T_TS=timestamp
	export NOT_NULL_ERR='null value in column "name" of relation "people" violates not-null constraint (SQLSTATE 23502)'
}

teardown_file() {
	"$ROOT/tests/servers/pg.sh" stop "$PGDIR"
}

bl_exec() {
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -U etl \
		-c 'SET client_min_messages = warning' -f -
}

setup() {
	bl_reset
}

psql_super() {
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -tA "$@"
}

@test "ODBC/psqlODBC load: types, NULL and '', UTF-8, SQL in values" { bl_types; }
@test "ODBC/psqlODBC load: quotes and SQL in table and column names" { bl_identifiers; }
@test "ODBC/psqlODBC load: a bad row rolls all back and names its line; replace keeps the old rows" { bl_rollback; }
@test "ODBC/psqlODBC load: a bad record mid-array is named by its line and nothing is committed" { bl_mid_batch; }
@test "ODBC/psqlODBC load: upsert twice is the same as once" { bl_upsert; }
@test "ODBC/psqlODBC load: the status row on success and on failure" { bl_status; }
@test "ODBC/psqlODBC load: a wrong password is 77 and never shown; no server is 69" {
	bl_wrong_password
	bl_unreachable
}

@test "ODBC/psqlODBC load: a session killed mid-load is 69, the old rows stay, the status row is written" {
	local fifo=$BATS_TEST_TMPDIR/fifo pid i
	mkfifo "$fifo"
	db-load --db "$URL" --table people --mode replace \
		--status-table load_status --job killed <"$fifo" \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	exec 7>"$fifo"
	seq 1 5000 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' >&7
	# Rows have gone in (5 batches) and db-load waits for more input.
	for i in $(seq 1 100); do
		[ "$(psql_super -c "SELECT count(*) FROM pg_stat_activity WHERE
			usename = 'etl' AND state = 'idle in transaction'")" = 1 ] && break
		sleep 0.1
	done
	psql_super -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE usename = 'etl'" >/dev/null
	seq 5001 7000 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' >&7 || true
	exec 7>&-
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 69 ] || fail "exit $rc: $(cat "$BATS_TEST_TMPDIR/err")"
	[ ! -s "$BATS_TEST_TMPDIR/out" ]
	grep -q "lost the connection to the database after" "$BATS_TEST_TMPDIR/err"
	run bl_dump
	assert_output "$BL_OLD"
	run bl_query "SELECT status, \"rows\" AS n FROM load_status WHERE job = 'killed'"
	assert_output '{"status":"failed","n":0}'
	# Nothing of the password in the message, the status row or the output.
	! grep -qF s3cret-pw "$BATS_TEST_TMPDIR/err" "$BATS_TEST_TMPDIR/out"
	run bl_query "SELECT message FROM load_status WHERE job = 'killed'"
	assert_output --partial 'lost the connection'
	refute_output --partial s3cret-pw
}

# The statements the server ran for the etl role from here on (log_statement
# for the role; a new session picks it up): array_log_start, then
# array_log says what was run since.
array_log_start() {
	psql_super -c "ALTER ROLE etl SET log_statement = 'all'" >/dev/null
	ARRAY_LOG_FROM=$(($(stat -c %s "$PGDIR/server.log") + 1))
}

array_log() {
	tail -c "+$ARRAY_LOG_FROM" "$PGDIR/server.log"
	psql_super -c "ALTER ROLE etl RESET log_statement" >/dev/null
}

@test "ODBC/psqlODBC load: rows go as one unnest() INSERT per batch, values that stress the array literal arrive unchanged" {
	bl_exec <<'EOF2'
DROP TABLE IF EXISTS esc;
CREATE TABLE esc (id integer, t text, v varchar(40), n numeric(8,2),
  d date, b boolean, bx box);
EOF2
	# Array syntax in values: quotes, backslashes, braces, commas, the
	# word NULL, blanks at both ends, '' next to null, the delimiter of
	# box arrays (';'), non-ASCII beyond the BMP, tab and newline.
	cat >"$BATS_TEST_TMPDIR/esc.ndjson" <<'EOF2'
{"id":1,"t":"{a,b}","v":"\"quoted\"","n":"1.50","d":"2024-02-29","b":true,"bx":"(1,1),(0,0)"}
{"id":2,"t":"NULL","v":"back\\slash\\","n":null,"d":null,"b":false,"bx":null}
{"id":3,"t":"","v":null,"n":"-0.01","d":"2001-01-01","b":null,"bx":"(2,3),(1,2)"}
{"id":4,"t":"  lead and trail  ","v":"a,b;c}d{e","n":"0","d":"1999-12-31","b":true,"bx":"(0,0),(0,0)"}
{"id":5,"t":"\\\"","v":"Zoë 😀 山田","n":"999999.99","d":"2000-01-01","b":false,"bx":"(5,5),(4,4)"}
{"id":6,"t":"tab\there\nnewline","v":"\"","n":"12.34","d":"2020-06-30","b":true,"bx":"(9,9),(8,8)"}
{"id":7,"t":"null","v":" ","n":"1","d":"2020-01-01","b":false,"bx":"(1,2),(0,1)"}
EOF2
	array_log_start
	run --separate-stderr db-load --db "$URL" --table esc \
		"$BATS_TEST_TMPDIR/esc.ndjson"
	local log
	log=$(array_log)
	assert_success
	[ -z "$output" ]
	[[ "$log" == *'INSERT INTO "esc" ("id", "t", "v", "n", "d", "b", "bx") SELECT unnest('* ]]
	# Read back with psql, not with the ODBC driver that wrote them.
	run "$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -tA \
		-c "SELECT json_agg(row_to_json(e) ORDER BY id) FROM esc e"
	assert_success
	assert_output '[{"id":1,"t":"{a,b}","v":"\"quoted\"","n":1.50,"d":"2024-02-29","b":true,"bx":"(1,1),(0,0)"}, '\
'{"id":2,"t":"NULL","v":"back\\slash\\","n":null,"d":null,"b":false,"bx":null}, '\
'{"id":3,"t":"","v":null,"n":-0.01,"d":"2001-01-01","b":null,"bx":"(2,3),(1,2)"}, '\
'{"id":4,"t":"  lead and trail  ","v":"a,b;c}d{e","n":0.00,"d":"1999-12-31","b":true,"bx":"(0,0),(0,0)"}, '\
'{"id":5,"t":"\\\"","v":"Zoë 😀 山田","n":999999.99,"d":"2000-01-01","b":false,"bx":"(5,5),(4,4)"}, '\
'{"id":6,"t":"tab\there\nnewline","v":"\"","n":12.34,"d":"2020-06-30","b":true,"bx":"(9,9),(8,8)"}, '\
'{"id":7,"t":"null","v":" ","n":1.00,"d":"2020-01-01","b":false,"bx":"(1,2),(0,1)"}]'
}

@test "ODBC/psqlODBC load: a value too long for varchar(n) in a later batch is refused at its line, not cut; nothing is committed" {
	local f=$BATS_TEST_TMPDIR/long.csv
	bl_exec <<<'DROP TABLE IF EXISTS short; CREATE TABLE short (id integer, v varchar(3));'
	{
		echo id,v
		seq 1 12344 | awk '{ printf "%d,v%d\n", $1 % 100, $1 % 100 }'
		echo '12345,long'
		seq 12346 13000 | awk '{ printf "%d,ok\n", $1 }'
	} >"$f"
	array_log_start
	run --separate-stderr db-load --db "$URL" --table short "$f"
	local log
	log=$(array_log)
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "db-load: $f:12346: SQL error: ERROR: value too long for type character varying(3) (SQLSTATE 22001)"* ]]
	[[ "$output$stderr" != *s3cret-pw* ]]
	[[ "$log" == *'SELECT unnest('* ]]
	run bl_query 'SELECT count(*) AS n FROM short'
	assert_output '{"n":0}'
}

@test "ODBC/psqlODBC load: a table with an array column takes the row-per-parameter-set path, same result" {
	bl_exec <<<'DROP TABLE IF EXISTS tags; CREATE TABLE tags (id integer, tag text[]);'
	printf '%s\n' '{"id":1,"tag":"{a,\"b c\"}"}' '{"id":2,"tag":null}' \
		>"$BATS_TEST_TMPDIR/tags.ndjson"
	array_log_start
	run --separate-stderr db-load --db "$URL" --table tags \
		"$BATS_TEST_TMPDIR/tags.ndjson"
	local log
	log=$(array_log)
	assert_success
	[[ "$log" == *'INSERT INTO "tags" ("id", "tag") VALUES ('* ]]
	[[ "$log" != *'unnest('* ]]
	run "$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -tA \
		-c "SELECT id, tag[2] FROM tags ORDER BY id"
	assert_output $'1|b c\n2|'
}

@test "ODBC/psqlODBC load: a bad value in the first batch, found while later rows are read, is named by its line; nothing is committed" {
	local f=$BATS_TEST_TMPDIR/bad.csv
	{
		echo id,name
		seq 1001 6000 | awk '{ printf "%d,n%d\n", $1, $1 }'
		echo 'x6001,bad'
		seq 6002 35000 | awk '{ printf "%d,n%d\n", $1, $1 }'
	} >"$f"
	run --separate-stderr db-load --db "$URL" --table people "$f"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "db-load: $f:5002: SQL error: ERROR: invalid input syntax for type integer: \"x6001\" (SQLSTATE 22P02)"* ]]
	[[ "$output$stderr" != *s3cret-pw* ]]
	run bl_dump
	assert_output "$BL_OLD"
}

# Upserts (issue 23.5): through a TEMP stage filled by the unnest()
# batches and one INSERT ... ON CONFLICT from it, as the native path.
odbc_upsert_table() {
	bl_exec <<'EOF2'
DROP TABLE IF EXISTS ups;
CREATE TABLE ups (id integer PRIMARY KEY, name text, n numeric(8,2));
INSERT INTO ups SELECT g, 'old' || g, 1 FROM generate_series(1, 12500) g;
EOF2
}

psql_sis() {
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -tA -c "$1"
}

@test "ODBC/psqlODBC upsert: rows go to a stage by unnest() batches, one ON CONFLICT statement updates and inserts" {
	local f=$BATS_TEST_TMPDIR/ups.csv
	odbc_upsert_table
	{
		echo id,name,n
		seq 6251 31250 | awk '{ printf "%d,new%d,%d.5\n", $1, $1, $1 % 1000 }'
	} >"$f"
	array_log_start
	run --separate-stderr db-load --db "$URL" --table ups --mode upsert \
		--key id "$f"
	local log
	log=$(array_log)
	assert_success
	[ -z "$output" ]
	# Read back with psql: 1..6250 untouched, 6251..12500 updated,
	# 12501..31250 new.
	run psql_sis "SELECT count(*), count(*) FILTER (WHERE name LIKE 'old%'),
		count(*) FILTER (WHERE name = 'new' || id AND n = (id % 1000) + 0.5)
		FROM ups"
	assert_output '31250|6250|25000'
	run psql_sis "SELECT id, name, n FROM ups WHERE id IN (6250, 6251, 31250) ORDER BY id"
	assert_output $'6250|old6250|1.00\n6251|new6251|251.50\n31250|new31250|250.50'
	# The stage, three unnest() batches into it, one finish statement;
	# no statement per row.
	[[ "$log" == *'CREATE TEMP TABLE edpipe_load_stage ON COMMIT DROP AS SELECT "id", "name", "n" FROM "ups" WITH NO DATA'* ]]
	[ "$(grep -c 'INSERT INTO edpipe_load_stage ("id", "name", "n") SELECT unnest(' <<<"$log")" -eq 3 ]
	[ "$(grep -c 'ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "n" = excluded."n"' <<<"$log")" -eq 1 ]
	[ "$(grep -c 'INSERT INTO' <<<"$log")" -eq 4 ]
	[ "$(grep -ci 'UPDATE "ups"' <<<"$log")" -eq 0 ]
}

@test "ODBC/psqlODBC upsert: a bad value in a later batch is named by its line; nothing is committed" {
	local f=$BATS_TEST_TMPDIR/ups-bad.csv
	odbc_upsert_table
	{
		echo id,name,n
		seq 6251 20000 | awk '{ printf "%d,new%d,1\n", $1, $1 }'
		echo '20001,bad,not-a-number'
		seq 20002 25000 | awk '{ printf "%d,new%d,1\n", $1, $1 }'
	} >"$f"
	run --separate-stderr db-load --db "$URL" --table ups --mode upsert \
		--key id "$f"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "db-load: $f:13752: SQL error: ERROR: invalid input syntax for type numeric: \"not-a-number\" (SQLSTATE 22P02)"* ]]
	[[ "$output$stderr" != *s3cret-pw* ]]
	run psql_sis "SELECT count(*), count(*) FILTER (WHERE name LIKE 'old%') FROM ups"
	assert_output '12500|12500'
}

@test "ODBC/psqlODBC upsert: no unique index on the key is the native path's error, 65, nothing committed" {
	bl_exec <<<'DROP TABLE IF EXISTS loose; CREATE TABLE loose (id integer, name text);'
	printf '%s\n' '{"id":1,"name":"a"}' '{"id":2,"name":"b"}' \
		>"$BATS_TEST_TMPDIR/loose.ndjson"
	run --separate-stderr db-load --db "$URL" --table loose --mode upsert \
		--key id "$BATS_TEST_TMPDIR/loose.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"there is no unique or exclusion constraint matching the ON CONFLICT specification"* ]]
	[[ "$output$stderr" != *s3cret-pw* ]]
	run psql_sis 'SELECT count(*) FROM loose'
	assert_output 0
}
