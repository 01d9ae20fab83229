#!/usr/bin/env bats
# sis-extract against a real MariaDB server started for this file
# (tests/servers/mariadb.sh): the shared backend behaviour tests
# (sis-extract-backends.bash), then what only MySQL has: a socket path as
# the host, tinyint(1)/bit/binary types, a connection killed mid-result.
load helper
load dbservers
load sis-extract-backends
bats_require_minimum_version 1.5.0

setup_file() {
	mysql_start
	"$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" <<'SQL'
GRANT PROCESS ON *.* TO 'etl'@'127.0.0.1';
USE sis;
CREATE TABLE people (id integer, big bigint, name varchar(100),
  credits decimal(30,10), active boolean, born date, added datetime(1),
  ratio double, note varchar(50)) ENGINE=InnoDB;
INSERT INTO people VALUES
 (1, 9007199254740993, 'Zoë Núñez', 12345678901234567890.0123456789, true,
  '2001-02-03', '2021-01-04 09:05:06', 0.1, NULL),
 (2, NULL, 'O''Brien, Siobhán', 0.1, false, NULL, NULL, NULL, 'x, "y"'),
 (3, -5, '山田 美咲 😀', NULL, NULL, '1999-12-31', '2020-02-29 23:59:59.5',
  2.5, '');
CREATE TABLE odd (b bit(1), b5 bit(5), bin varbinary(8), t time,
  u bigint unsigned, f float, y year, e enum('a','b'), j json);
INSERT INTO odd VALUES (b'1', b'10101', x'00ff10', '12:34:56',
  18446744073709551615, 0.5, 2024, 'b', '{"k": [1, 2]}');
SQL
	export URL="mysql://etl@127.0.0.1:$MYPORT/sis"
	export SIS_PASSWORD=s3cret-pw
	URL_DOWN="mysql://etl@127.0.0.1:$(free_port)/sis"
	export URL_DOWN
	export BAD_COLUMN="Unknown column 'nosuch'"
	# A scalar subquery that turns into two rows at n = 5000.
	export LATE_ERROR='WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL
	  SELECT n + 1 FROM g WHERE n < 10000) SELECT n, (SELECT 1 UNION
	  SELECT 2 FROM people WHERE n = 5000) AS x FROM g'
	export NUL_QUERY="SELECT id, CASE id WHEN 2 THEN CONCAT('a',
	  CHAR(0 USING utf8mb4), 'b') ELSE 'ok' END AS x FROM people ORDER BY id"
	export SLOW_QUERY='SELECT SLEEP(10) AS x'
}

teardown_file() {
	"$ROOT/tests/servers/mariadb.sh" stop "$MYDIR"
}

@test "MySQL: numbers, exact decimals, dates, booleans, UTF-8, NULL" { be_types; }
@test "MySQL: CSV with NULL as an empty field; an empty result has its header" { be_csv; }
@test "MySQL: bound parameters, one name used twice, an empty value" { be_params; }
@test "MySQL: an injection attempt comes back as data" { be_injection; }
@test "MySQL: long UTF-8 values come back whole" { be_long_utf8; }
@test "MySQL: 100k rows stream with the count after the last" { be_stream; }
@test "MySQL: a wrong password exits 77 without printing it" { be_wrong_password; }
@test "MySQL: the password from an owner-only --password-file" { be_password_file; }
@test "MySQL: an unreachable server exits 69" { be_unreachable; }
@test "MySQL: a SQL error exits 65 with the server's message" { be_sql_error; }
@test "MySQL: a SQL error after rows have streamed passes nothing on" { be_late_error; }
@test "MySQL: a NUL character in a text value exits 65 naming row and column" { be_nul; }
@test "MySQL: SELECT SLEEP(10) with --timeout 1 exits 75" { be_timeout; }

@test "MySQL: bit, binary, time, unsigned, float, year, enum and json columns" {
	run --separate-stderr sis-extract --db "$URL" --sql 'SELECT * FROM odd'
	assert_success
	assert_output '{"b":true,"b5":21,"bin":"00ff10","t":"12:34:56","u":18446744073709551615,"f":0.5,"y":2024,"e":"b","j":"{\"k\": [1, 2]}"}'
}

@test "MySQL: connects through a socket file given as the host" {
	local host=${MYDIR//\//%2F}%2Fsock
	run --separate-stderr sis-extract --db "mariadb://etl@$host/sis" \
		--sql 'SELECT count(*) AS n FROM people'
	assert_success
	assert_output '{"n":3}'
}

@test "MySQL: no password at all exits 77" {
	run --separate-stderr env -u SIS_PASSWORD sis-extract --db "$URL" \
		--sql 'SELECT 1 AS x'
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"Access denied for user 'etl'"* ]]
}

@test "MySQL: a database the user may not use exits 77; a bad URL 78" {
	run --separate-stderr sis-extract \
		--db "mysql://etl@127.0.0.1:$MYPORT/mysql" --sql 'SELECT 1 AS x'
	assert_failure 77
	[ -z "$output" ]
	run --separate-stderr sis-extract --db "mysql://etl@127.0.0.1:$MYPORT" \
		--sql 'SELECT 1 AS x'
	assert_failure 78
	[[ "$stderr" == *"malformed MySQL URL"* ]]
	run --separate-stderr sis-extract \
		--db "mysql://etl@127.0.0.1:$MYPORT/sis?nosuch=1" --sql 'SELECT 1'
	assert_failure 78
	[[ "$stderr" == *"bad connection option"* ]]
}

@test "MySQL: a question mark of the query's own is refused, not bound" {
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT id FROM people WHERE id = ?'
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"placeholders of its own"* ]]
}

@test "MySQL: double quotes are identifiers (ANSI_QUOTES)" {
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT "id" AS "the id" FROM "people" WHERE id = 2'
	assert_success
	assert_output '{"the id":2}'
}

@test "MySQL: a connection killed mid-result exits 69 and claims no records" {
	mkdir "$BATS_TEST_TMPDIR/o"
	# The query sleeps at row 3000; the server kills it meanwhile.
	(
		for _ in $(seq 1 100); do
			id=$("$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" -N -e \
				"SELECT id FROM information_schema.processlist
				 WHERE info LIKE '%SLEEP(20)%' AND user = 'etl'")
			if [ -n "$id" ]; then
				"$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" \
					-e "KILL $id"
				break
			fi
			sleep 0.1
		done
	) &
	run --separate-stderr sis-extract --db "$URL" -v \
		--output "$BATS_TEST_TMPDIR/o/out.ndjson" --sql \
		'WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g
		 WHERE n < 6000) SELECT n, IF(n = 3000, SLEEP(20), 0) AS s FROM g'
	wait
	assert_failure 69
	[[ "$stderr" == *"lost the connection to the database"* ]]
	[[ "$stderr" != *records* ]]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
}
