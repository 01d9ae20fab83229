#!/usr/bin/env bats
# sis-extract through ODBC (unixODBC) with the SQLite ODBC driver
# (libsqliteodbc), registered in an odbcinst.ini of this file's own
# (ODBCSYSINI): the shared backend behaviour tests
# (sis-extract-backends.bash), then DSNs, connection strings and errors.
load helper
load dbservers
load sis-extract-backends
bats_require_minimum_version 1.5.0

setup_file() {
	need sqlite3
	odbc_driver "SQLite3 test" libsqlite3odbc.so libsqliteodbc || return 1
	export DB=$BATS_FILE_TMPDIR/sis.db
	printf '[sis]\nDriver=SQLite3 test\nDatabase=%s\n' "$DB" \
		>"$ODBCSYSINI/odbc.ini"
	sqlite3 "$DB" <<'SQL'
CREATE TABLE people (id integer, big bigint, name varchar(100),
  credits text, active boolean, born date, added timestamp, ratio double,
  note varchar(50));
INSERT INTO people VALUES
 (1, 9007199254740993, 'Zoë Núñez', '12345678901234567890.0123456789', 1,
  '2001-02-03', '2021-01-04 09:05:06', 0.1, NULL),
 (2, NULL, 'O''Brien, Siobhán', '0.1000000000', 0, NULL, NULL, NULL,
  'x, "y"'),
 (3, -5, '山田 美咲 😀', NULL, NULL, '1999-12-31', '2020-02-29 23:59:59.5',
  2.5, '');
SQL
	export URL="odbc:Driver=SQLite3 test;Database=$DB"
	export BAD_COLUMN="no such column: nosuch"
	# abs() of the smallest integer overflows, at n = 5000.
	export LATE_ERROR='WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL
	  SELECT n + 1 FROM g WHERE n < 10000) SELECT n, CASE WHEN n = 5000
	  THEN abs(-9223372036854775807 - 1) END AS x FROM g'
}

@test "ODBC/SQLite: numbers, dates, booleans, UTF-8, NULL" { be_types; }
@test "ODBC/SQLite: CSV with NULL as an empty field; an empty result has its header" { be_csv; }
@test "ODBC/SQLite: bound parameters, one name used twice, an empty value" { be_params; }
@test "ODBC/SQLite: an injection attempt comes back as data" { be_injection; }
@test "ODBC/SQLite: long UTF-8 values come back whole" { be_long_utf8; }
@test "ODBC/SQLite: 100k rows stream with the count after the last" { be_stream; }
@test "ODBC/SQLite: a SQL error exits 65 with the driver's message" { be_sql_error; }
@test "ODBC/SQLite: a SQL error after rows have streamed passes nothing on" { be_late_error; }

@test "ODBC: a DSN of odbc.ini, and non-ASCII text in the SQL itself" {
	# The SQLite driver leaks what it reads of a DSN's odbc.ini entry
	# (under ASan the leak check would fail the run for the driver's sake).
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		run --separate-stderr sis-extract --db odbc:sis \
		--sql "SELECT 'é 😀' AS lit, name AS \"naïve\" FROM people WHERE id = 3"
	assert_success
	assert_output '{"lit":"é 😀","naïve":"山田 美咲 😀"}'
}

@test "ODBC: an unknown DSN is a configuration error (78) with the driver manager's words" {
	run --separate-stderr sis-extract --db odbc:nosuch --sql 'SELECT 1'
	assert_failure 78
	[ -z "$output" ]
	[ "$stderr" = "sis-extract: cannot connect to 'odbc:nosuch': Data source name not found and no default driver specified (SQLSTATE IM002)" ]
}

@test "ODBC: a password in the connection string is refused and not printed" {
	run --separate-stderr sis-extract \
		--db "odbc:Driver=SQLite3 test;Database=$DB;PWD={se;cret}" \
		--sql 'SELECT 1'
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == *"a password does not belong in it"* ]]
	[[ "$stderr" != *se\;cret* ]]
	run --separate-stderr sis-extract \
		--db "odbc:Driver=SQLite3 test;Database=$DB;password=x" --sql 'SELECT 1'
	assert_failure 78
}

@test "ODBC: a braced value holding 'PWD=' is not taken for a password" {
	run --separate-stderr sis-extract \
		--db "odbc:Driver={SQLite3 test};Database=$DB;Description={a;PWD=b}" \
		--sql 'SELECT count(*) AS n FROM people'
	assert_success
	assert_output '{"n":3}'
}

@test "ODBC: a question mark of the query's own is not bound to a parameter" {
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT id FROM people WHERE id = ?'
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"placeholders of its own"* ]]
}
