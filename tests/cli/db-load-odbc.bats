#!/usr/bin/env bats
# db-load through ODBC (unixODBC) with the SQLite ODBC driver
# (libsqliteodbc), registered in an odbcinst.ini of this file's own
# (ODBCSYSINI): the shared db-load behaviour tests (db-load-backends.bash)
# through the parameter-array bulk path, then what differs for a file
# database without a login.
load helper
load dbservers
load db-load-backends
bats_require_minimum_version 1.5.0

setup_file() {
	need sqlite3
	odbc_driver "SQLite3 test" libsqlite3odbc.so libsqliteodbc || return 1
	export DB=$BATS_FILE_TMPDIR/sis.db
	export URL="odbc:Driver=SQLite3 test;Database=$DB"
	# SQLite has no exact decimal: a NUMERIC column would make "0.10"
	# the number 0.1, so the digits are kept in a text column.
	export T_DEC=text T_BOOL=boolean T_TS=timestamp
	export NOT_NULL_ERR="NOT NULL constraint failed: people.name"
	export SIS_PASSWORD=
}

bl_exec() {
	sqlite3 "$DB"
}

setup() {
	bl_reset
}

@test "ODBC/SQLite load: types, NULL and '', UTF-8, SQL in values" { bl_types; }
@test "ODBC/SQLite load: quotes and SQL in table and column names" { bl_identifiers; }
@test "ODBC/SQLite load: a bad row rolls all back and names its line; replace keeps the old rows" { bl_rollback; }
@test "ODBC/SQLite load: a bad record mid-array is named by its line and nothing is committed" { bl_mid_batch; }
@test "ODBC/SQLite load: upsert twice is the same as once" { bl_upsert; }
@test "ODBC/SQLite load: the status row on success and on failure" { bl_status; }

# SQLite has no login and no server: instead of 77 and 69, the
# connection errors a DSN setup can have.
@test "ODBC/SQLite load: no login and no server; an unknown DSN is 78, a password in the string is refused unshown" {
	run --separate-stderr db-load --db odbc:nosuch --table people \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 78
	[ -z "$output" ]
	[ "$stderr" = "db-load: cannot connect to 'odbc:nosuch': Data source name not found and no default driver specified (SQLSTATE IM002)" ]
	run --separate-stderr db-load --db "$URL;PWD={wrong-pw-4711}" \
		--table people "$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == *"a password does not belong in it"* ]]
	[[ "$stderr" != *wrong-pw-4711* ]]
	run bl_dump
	assert_output "$BL_OLD"
}

@test "ODBC/SQLite load: booleans are stored as 1 and 0, also by upsert" {
	db-load --db "$URL" --table people "$BATS_TEST_TMPDIR/in.ndjson"
	printf '{"id":4,"name":"four","active":true}\n' |
		db-load --db "$URL" --table people --mode upsert --key id
	run sqlite3 "$DB" "SELECT group_concat(quote(active)) FROM people WHERE active IS NOT NULL ORDER BY id"
	assert_output "1,0,1"
}
