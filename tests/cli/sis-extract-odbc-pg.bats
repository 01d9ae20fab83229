#!/usr/bin/env bats
# sis-extract through ODBC with psqlODBC (odbc-postgresql, its Unicode
# driver) against a real PostgreSQL server started for this file
# (tests/servers/pg.sh): the shared backend behaviour tests
# (sis-extract-backends.bash), logins, and a connection lost mid-result.
load helper
load dbservers
load sis-extract-backends
bats_require_minimum_version 1.5.0

setup_file() {
	odbc_pg_start || return 1
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis <<'SQL'
SET ROLE etl;
CREATE TABLE people (id integer, big bigint, name varchar(100),
  credits numeric(30,10), active boolean, born date, added timestamp,
  ratio double precision, note varchar(50));
INSERT INTO people VALUES
 (1, 9007199254740993, 'Zoë Núñez', 12345678901234567890.0123456789, true,
  '2001-02-03', '2021-01-04 09:05:06', 0.1, NULL),
 (2, NULL, 'O''Brien, Siobhán', 0.1, false, NULL, NULL, NULL, 'x, "y"'),
 (3, -5, '山田 美咲 😀', NULL, NULL, '1999-12-31', '2020-02-29 23:59:59.5',
  2.5, '');
SQL
	# BoolsAsChar=0: booleans as SQL_BIT rather than psqlODBC's default
	# char(5); UseDeclareFetch=1: rows come from a cursor 2000 at a time
	# (psqlODBC otherwise reads the whole result before the first row).
	export URL="odbc:Driver=PostgreSQL test;Server=127.0.0.1;Port=$PGPORT_T;Database=sis;UID=etl;BoolsAsChar=0;UseDeclareFetch=1;Fetch=2000"
	export SIS_PASSWORD=s3cret-pw
	export URL_DOWN="odbc:Driver=PostgreSQL test;Server=127.0.0.1;Port=$(free_port);Database=sis;UID=etl"
	export BAD_COLUMN='column "nosuch" does not exist (SQLSTATE 42703)'
	export LATE_ERROR='WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL
	  SELECT n + 1 FROM g WHERE n < 10000) SELECT n, 1 / (n - 5000) AS x
	  FROM g'
	# psqlODBC keeps SQL_ATTR_QUERY_TIMEOUT through the server's
	# statement_timeout.
	export SLOW_QUERY='SELECT pg_sleep(10) AS x'
}

teardown_file() {
	"$ROOT/tests/servers/pg.sh" stop "$PGDIR"
}

@test "ODBC/psqlODBC: numbers, exact decimals, dates, booleans, UTF-8, NULL" { be_types; }
@test "ODBC/psqlODBC: CSV with NULL as an empty field; an empty result has its header" { be_csv; }
@test "ODBC/psqlODBC: bound parameters, one name used twice, an empty value" { be_params; }
@test "ODBC/psqlODBC: an injection attempt comes back as data" { be_injection; }
@test "ODBC/psqlODBC: long UTF-8 values come back whole" { be_long_utf8; }
@test "ODBC/psqlODBC: 100k rows stream with the count after the last" { be_stream; }
@test "ODBC/psqlODBC: a wrong password exits 77 without printing it" { be_wrong_password; }
@test "ODBC/psqlODBC: the password from an owner-only --password-file" { be_password_file; }
@test "ODBC/psqlODBC: an unreachable server exits 69" { be_unreachable; }
@test "ODBC/psqlODBC: a SQL error exits 65 with the driver's diagnostic" { be_sql_error; }
@test "ODBC/psqlODBC: SELECT pg_sleep(10) with --timeout 1 exits 75" { be_timeout; }
@test "ODBC/psqlODBC: a SQL error after rows have streamed passes nothing on" { be_late_error; }

@test "ODBC/psqlODBC: works the same in the C locale" {
	LC_ALL=C run --separate-stderr sis-extract --db "$URL" \
		--sql "SELECT name, 'é' AS lit FROM people WHERE name = :n" \
		--param 'n=山田 美咲 😀'
	assert_success
	assert_output '{"name":"山田 美咲 😀","lit":"é"}'
}

@test "ODBC/psqlODBC: a connection lost mid-result exits 69 and claims no records" {
	mkdir "$BATS_TEST_TMPDIR/o"
	run --separate-stderr sis-extract --db "$URL" -v \
		--output "$BATS_TEST_TMPDIR/o/out.ndjson" --sql \
		'WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g
		 WHERE n < 100000) SELECT n, CASE WHEN n = 60000 THEN
		 pg_terminate_backend(pg_backend_pid()) END AS t FROM g'
	assert_failure 69
	[[ "$stderr" == *"lost the connection to the database"* ]]
	[[ "$stderr" != *records* ]]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
}
