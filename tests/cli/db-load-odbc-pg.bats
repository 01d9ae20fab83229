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
}
