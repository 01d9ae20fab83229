#!/usr/bin/env bats
# db-load against SQL Server: FreeTDS db-lib talking TDS 7.4 to
# tests/servers/tds_server.py (backed by SQLite, checked here with
# sqlite3): the generic paths, batched INSERTs with bound parameters and
# UPDATE-then-INSERT upserts, in one transaction.
load helper
bats_require_minimum_version 1.5.0

setup_file() {
	need python3 sqlite3
	export PY
	PY=$(command -v /usr/bin/python3 || command -v python3)
	export FREETDSCONF=/dev/null
	unset TDSVER TDSDUMP TDSPORT TDSHOST DSQUERY
	export DB=$BATS_FILE_TMPDIR/sis.db LOG=$BATS_FILE_TMPDIR/tds.log PORT
	PORT=$(free_port)
	sqlite3 "$DB" "PRAGMA journal_mode = WAL"
	"$PY" "$ROOT/tests/servers/tds_server.py" --port "$PORT" --db "$DB" \
		--database sis --user etl --password 'pa55 w0rd' --log "$LOG" 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/pid"
	wait_port "$PORT"
	export URL="mssql://etl@127.0.0.1:$PORT/sis"
}

teardown_file() {
	[ -f "$BATS_FILE_TMPDIR/pid" ] && kill "$(cat "$BATS_FILE_TMPDIR/pid")" 2>/dev/null || true
}

setup() {
	export SIS_PASSWORD='pa55 w0rd'
	sqlite3 "$DB" "DROP TABLE IF EXISTS people; DROP TABLE IF EXISTS y;
		DROP TABLE IF EXISTS load_status;
		DROP TABLE IF EXISTS [x\"; DROP TABLE y; --];
		CREATE TABLE people (id INT PRIMARY KEY, name NVARCHAR(100) NOT NULL,
		credits DECIMAL(12,2), active BIT, born DATE, note NVARCHAR(200),
		added NVARCHAR(10) DEFAULT 'dflt');
		INSERT INTO people (id, name) VALUES (99, 'old row');
		CREATE TABLE load_status (job NVARCHAR(450), table_name NVARCHAR(450),
		status NVARCHAR(450), rows BIGINT, started_at DATETIME2,
		finished_at DATETIME2, message NVARCHAR(4000));"
}

q() {
	sqlite3 -separator '|' "$DB" "$1"
}

@test "appends through batched INSERTs with bound values, NULLs and non-ASCII" {
	run --separate-stderr db-load --db "$URL" --table people -v \
		"$FIX/db-load/people.ndjson"
	assert_success
	[[ "$stderr" == *"3 rows loaded into 'people' (append)"* ]]
	run q "SELECT id, quote(name), quote(active), quote(note) FROM people ORDER BY id"
	assert_line --index 0 "1|'Zoë Núñez'|'true'|NULL"
	assert_line --index 1 "2|'O''Brien, Siobhán'|'false'|'x''); DROP TABLE people; --'"
	# The values travelled as RPC parameters, not in the SQL text.
	grep -q "rpc sp_executesql: .INSERT INTO \[people\] (\[id\], \[name\]" "$LOG"
	! grep -q "sp_executesql: .INSERT INTO \[people\][^{]*Zoë" "$LOG"
}

# Few records: the test server's parameter handling grows with the cube of
# the parameter count, and a full batch holds 2000.
@test "records go in one batch; a constraint error rolls all back" {
	seq 1 50 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' \
		>"$BATS_TEST_TMPDIR/in.ndjson"
	echo '{"id":99,"name":"clash"}' >>"$BATS_TEST_TMPDIR/in.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 65
	[[ "$stderr" == *"UNIQUE constraint failed"* ]]
	[ "$(q 'SELECT group_concat(id) FROM people')" = 99 ]
	sed -i '$d' "$BATS_TEST_TMPDIR/in.ndjson"
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_success
	[ "$(q 'SELECT count(*), sum(id) FROM people')" = "50|1275" ]
}

@test "upsert runs UPDATE then INSERT; twice is the same as once" {
	db-load --db "$URL" --table people "$FIX/db-load/people.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		--mode upsert --key id "$FIX/db-load/upsert.ndjson"
	assert_success
	local once
	once=$(q "SELECT id, name, credits, added FROM people ORDER BY id")
	[[ "$once" == *"2|Siobhán O'Brien|4|dflt"* ]]
	[[ "$once" == *"4|new four|1.25|dflt"* ]]
	[ "$(q 'SELECT count(*) FROM people')" = 5 ]
	db-load --db "$URL" --table people --mode upsert --key id \
		"$FIX/db-load/upsert.ndjson"
	[ "$(q "SELECT id, name, credits, added FROM people ORDER BY id")" = "$once" ]
}

@test "a bad record rolls back a replace and the status row says so" {
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		--status-table load_status --job nightly "$FIX/db-load/bad-middle.ndjson"
	assert_failure 65
	[ "$(q 'SELECT group_concat(id) FROM people')" = 99 ]
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		--status-table load_status --job nightly "$FIX/db-load/people.ndjson"
	assert_success
	run q "SELECT job, table_name, status, rows FROM load_status ORDER BY rowid"
	assert_output "$(printf '%s\n' 'nightly|people|failed|0' 'nightly|people|successful|3')"
}

@test "identifiers are bracket-quoted: SQL in a table name is harmless" {
	sqlite3 "$DB" "CREATE TABLE y (a TEXT); INSERT INTO y VALUES ('keep');
		CREATE TABLE [x\"; DROP TABLE y; --] (id INT, [we\"ird] NVARCHAR(10))"
	printf '{"id":1,"we\\"ird":"v"}\n' | {
		run --separate-stderr db-load --db "$URL" \
			--table 'x"; DROP TABLE y; --'
		assert_success
	}
	[ "$(q 'SELECT a FROM y')" = keep ]
	[ "$(q 'SELECT "we""ird" FROM "x""; DROP TABLE y; --"')" = v ]
}
