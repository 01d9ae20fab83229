#!/usr/bin/env bats
# sis-extract against a real PostgreSQL server started for this file
# (tests/servers/pg.sh): types, 100k rows, login and SQL errors, a
# connection lost mid-result, parameter injection.
load helper
load dbservers
bats_require_minimum_version 1.5.0

setup_file() {
	pg_start
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis <<'EOF'
SET ROLE etl;
CREATE TABLE people (id integer, big bigint, name text, credits numeric(30,10),
  active boolean, born date, added timestamp, ratio double precision,
  note varchar(50));
INSERT INTO people VALUES
 (1, 9007199254740993, 'Zoë Núñez', 12345678901234567890.0123456789, true,
  '2001-02-03', '2021-01-04 09:05:06', 0.1, NULL),
 (2, NULL, 'O''Brien, Siobhán', 0.1, false, NULL, NULL, NULL, 'x, "y"'),
 (3, -5, '山田 美咲', NULL, NULL, '1999-12-31', '2020-02-29 23:59:59.5',
  'NaN', '');
CREATE TABLE big AS SELECT g AS id, 'Zoë ' || g AS name
  FROM generate_series(1, 100000) g;
EOF
	export URL="postgres://etl@127.0.0.1:$PGPORT_T/sis"
}

teardown_file() {
	"$ROOT/tests/servers/pg.sh" stop "$PGDIR"
}

@test "writes PostgreSQL types: numbers, exact numerics, dates, booleans, NULL" {
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT * FROM people ORDER BY id'
	assert_success
	assert_line --index 0 '{"id":1,"big":9007199254740993,"name":"Zoë Núñez","credits":"12345678901234567890.0123456789","active":true,"born":"2001-02-03","added":"2021-01-04T09:05:06","ratio":0.1,"note":null}'
	assert_line --index 1 '{"id":2,"big":null,"name":"O'"'"'Brien, Siobhán","credits":"0.1000000000","active":false,"born":null,"added":null,"ratio":null,"note":"x, \"y\""}'
	assert_line --index 2 '{"id":3,"big":-5,"name":"山田 美咲","credits":null,"active":null,"born":"1999-12-31","added":"2020-02-29T23:59:59.5","ratio":"NaN","note":""}'
	[ "${#lines[@]}" -eq 3 ]
}

@test "writes CSV from PostgreSQL with NULL as an empty field" {
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		-o csv --sql 'SELECT id, big, note FROM people ORDER BY id'
	assert_success
	assert_output "$(printf 'id,big,note\n1,9007199254740993,\n2,,"x, ""y"""\n3,-5,')"
}

@test "binds parameters natively, with :: casts left alone" {
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		--sql "SELECT name FROM people WHERE id = :id::int OR name = :n" \
		--param id=3 --param 'n=Zoë Núñez'
	assert_success
	assert_output "$(printf '{"name":"Zoë Núñez"}\n{"name":"山田 美咲"}')"
}

@test "an injection attempt comes back as data and the table survives" {
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT :v AS v, (SELECT count(*) FROM people) AS n' \
		--param "v=x'); DROP TABLE people; --"
	assert_success
	assert_output "{\"v\":\"x'); DROP TABLE people; --\",\"n\":3}"
	n=$("$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -tAc \
		'SELECT count(*) FROM people')
	[ "$n" = 3 ]
}

@test "100k rows stream from PostgreSQL with the count after the last row" {
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		-v --sql 'SELECT id, name FROM big ORDER BY id'
	assert_success
	[ "${#lines[@]}" -eq 100000 ]
	[ "${lines[0]}" = '{"id":1,"name":"Zoë 1"}' ]
	[ "${lines[99999]}" = '{"id":100000,"name":"Zoë 100000"}' ]
	[ "$stderr" = "sis-extract: 100000 records" ]
}

@test "a wrong password exits 77 without printing it" {
	SIS_PASSWORD=wrong-pw run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT 1'
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"cannot connect to '$URL': password authentication failed"* ]]
	[[ "$stderr" != *wrong-pw* ]]
}

@test "no password at all exits 77" {
	run --separate-stderr env -u SIS_PASSWORD PGPASSFILE=/dev/null \
		sis-extract --db "$URL" --sql 'SELECT 1'
	assert_failure 77
	[ -z "$output" ]
}

@test "the password can come from an owner-only --password-file" {
	printf 's3cret-pw\n' >"$BATS_TEST_TMPDIR/pw"
	chmod 600 "$BATS_TEST_TMPDIR/pw"
	run --separate-stderr env -u SIS_PASSWORD sis-extract --db "$URL" \
		--password-file "$BATS_TEST_TMPDIR/pw" --sql 'SELECT 42 AS x'
	assert_success
	assert_output '{"x":42}'
}

@test "an unreachable server exits 69" {
	port=$(free_port)
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract \
		--db "postgres://etl@127.0.0.1:$port/sis" --sql 'SELECT 1'
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"cannot connect to 'postgres://etl@127.0.0.1:$port/sis'"* ]]
}

@test "a SQL error exits 65 with the server's message" {
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT nosuch FROM people'
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = 'sis-extract: SQL error: column "nosuch" does not exist' ]
}

@test "a SQL error after rows have streamed passes nothing on" {
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		-v --sql 'SELECT id, 1 / (id - 50000) AS x FROM big ORDER BY id'
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"SQL error: division by zero"* ]]
	[[ "$stderr" != *records* ]]
	[[ "$stderr" != *s3cret-pw* ]]
}

@test "a connection lost mid-result exits 69 and claims no records" {
	mkdir "$BATS_TEST_TMPDIR/o"
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		-v --output "$BATS_TEST_TMPDIR/o/out.ndjson" --sql \
		'SELECT id, CASE WHEN id = 60000 THEN pg_terminate_backend(pg_backend_pid()) END AS t FROM big ORDER BY id'
	assert_failure 69
	[[ "$stderr" == *"lost the connection to the database"* ]]
	[[ "$stderr" != *records* ]]
	[[ "$output$stderr" != *s3cret-pw* ]]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
}

# A SELECT is read through a cursor, FETCH after FETCH in one transaction
# of its own: now() (the transaction's start) is earlier than every
# FETCH's statement_timestamp(), and the batches carry several distinct
# ones (no ORDER BY: a sort would evaluate every row in the first FETCH).
# In single-row mode both are the one statement's time.
@test "a SELECT with parameters is read through a cursor, batch after batch" {
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		-t csv --sql "-- a comment first
(SELECT id, name, statement_timestamp() > now() AS later,
 statement_timestamp()::text AS ts FROM big WHERE id > :lo AND name <> :n)" \
		--param lo=10 --param 'n=Zoë 11'
	assert_success
	[ "${lines[0]}" = "id,name,later,ts" ]
	[ "${lines[1]}" = "12,Zoë 12,true,${lines[1]##*,}" ]
	[ "${#lines[@]}" -eq 99990 ]
	[ "$(cut -d, -f3 <<<"$output" | sort | uniq -c | awk '{print $1, $2}' | tr '\n' ' ')" = "1 later 99989 true " ]
	[ "$(cut -d, -f4 <<<"$output" | sed 1d | sort -u | wc -l)" -gt 2 ]
	[ "$(cut -d, -f1 <<<"$output" | sed 1d | sort -n | tail -n 1)" = 100000 ]
}

# DECLARE takes no data-modifying WITH: such a query, and statements that
# are no SELECT at all, run as written (single-row mode) and still work.
@test "a data-modifying WITH and an INSERT ... RETURNING run as written" {
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -q \
		-c 'SET ROLE etl' -c 'CREATE TABLE seen (v text)'
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		--sql 'WITH ins AS (INSERT INTO seen VALUES (:v) RETURNING v) SELECT v FROM ins' \
		--param v=one
	assert_success
	assert_output '{"v":"one"}'
	[ -z "$stderr" ]
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		-t csv --sql 'INSERT INTO seen VALUES (:v) RETURNING v, 2 AS n' \
		--param v=two
	assert_success
	assert_output "$(printf 'v,n\ntwo,2')"
	run "$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -tAc \
		"SELECT string_agg(v, ',' ORDER BY v) FROM seen"
	assert_output 'one,two'
}

# A failure in a later batch, after the cursor has handed out rows and
# further FETCHes are queued, rolls back and passes nothing on.
@test "an error in a later FETCH batch exits 65 and passes nothing on" {
	mkdir "$BATS_TEST_TMPDIR/o"
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract --db "$URL" \
		-t csv --output "$BATS_TEST_TMPDIR/o/out.csv" --sql \
		'SELECT id, CASE WHEN id = :at::int THEN 1 / (id - :at::int) END AS x FROM big ORDER BY id' \
		--param at=99000
	assert_failure 65
	[ "$stderr" = 'sis-extract: SQL error: division by zero' ]
	[ -z "$output" ]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
}

@test "connects through a socket directory given as the host" {
	local host=${PGDIR//\//%2F}
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract \
		--db "postgresql://etl@$host:$PGPORT_T/sis" \
		--sql 'SELECT count(*) AS n FROM people'
	assert_success
	assert_output '{"n":3}'
}

@test "the demo PowerCampus query runs on PostgreSQL with --mapping" {
	need sqlite3
	local demo=$BATS_TEST_TMPDIR/demo.db
	"$ROOT/share/demo-sis/make-demo-sis" --students 60 --seed 5 "$demo"
	# Copy the demo tables into PostgreSQL through sis-extract itself.
	echo 'SET ROLE etl;' >"$BATS_TEST_TMPDIR/load.sql"
	for t in PEOPLE EmailAddress ACADEMIC SECTIONS TRANSCRIPTDETAIL; do
		sqlite3 "$demo" ".schema $t" | sed '
			s/DATETIME/timestamp/'
		printf '\\copy %s FROM %s CSV HEADER\n' "$t" \
			"$BATS_TEST_TMPDIR/$t.csv"
		sis-extract --db "sqlite:$demo" -o csv --sql "SELECT * FROM $t" \
			>"$BATS_TEST_TMPDIR/$t.csv"
	done >>"$BATS_TEST_TMPDIR/load.sql"
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" \
		-c 'CREATE DATABASE pc OWNER etl'
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d pc \
		-f "$BATS_TEST_TMPDIR/load.sql"
	course=$(sqlite3 "$demo" "SELECT EVENT_ID FROM TRANSCRIPTDETAIL
		WHERE ADD_DROP_WAIT = 'A' LIMIT 1")
	printf '{"%sW21": {"courses": ["%s"], "id": 77}}\n' "$course" "$course" \
		>"$BATS_TEST_TMPDIR/map.json"
	for db in "sqlite:$demo" "postgres://etl@127.0.0.1:$PGPORT_T/pc"; do
		SIS_PASSWORD=s3cret-pw sis-extract --db "$db" \
			--query "$ROOT/share/queries/powercampus-enrollments.sql" \
			--param year=2021 --param term=WINTER \
			--mapping "$BATS_TEST_TMPDIR/map.json"
	done >"$BATS_TEST_TMPDIR/both.ndjson"
	n=$(wc -l <"$BATS_TEST_TMPDIR/both.ndjson")
	[ "$n" -ge 2 ]
	[ $((n % 2)) -eq 0 ]
	# Both databases give the same records.
	diff <(head -n $((n / 2)) "$BATS_TEST_TMPDIR/both.ndjson") \
		<(tail -n $((n / 2)) "$BATS_TEST_TMPDIR/both.ndjson")
	grep -q "\"course\":\"${course}W21\".*\"course_id\":77,\"sis_course\":\"$course\"" \
		"$BATS_TEST_TMPDIR/both.ndjson"
}

@test "SELECT pg_sleep(10) with --timeout 1 exits 75 and passes nothing on" {
	local t0=$SECONDS
	SIS_PASSWORD=s3cret-pw run --separate-stderr timeout 60 sis-extract \
		--db "$URL" --timeout 1 --sql 'SELECT id, pg_sleep(10) AS s FROM people'
	assert_failure 75
	[ -z "$output" ]
	[ "$stderr" = "sis-extract: the database timed out after 0 rows: the statement took more than 1 s (--timeout 1)" ]
	[ $((SECONDS - t0)) -lt 8 ]
}

# The backend serving sis-extract is stopped (SIGSTOP) in the middle of the
# result: it can neither send nor keep its own statement_timeout, and the
# kernel still answers for it, so only the client's deadline ends the wait.
# (The backend is found by its wait, pg_sleep: read through a cursor, the
# statement it runs is a FETCH.)
@test "a PostgreSQL backend stopped mid-query ends the run with 75, not a hang" {
	local pid="" i
	mkdir "$BATS_TEST_TMPDIR/o"
	SIS_PASSWORD=s3cret-pw timeout 60 sis-extract --db "$URL" --timeout 4 \
		--output "$BATS_TEST_TMPDIR/o/out.ndjson" --sql \
		"SELECT g AS id, repeat('x', 20000) AS pad, CASE WHEN g = 3 THEN pg_sleep(30) END AS s FROM generate_series(1, 5) g" \
		2>"$BATS_TEST_TMPDIR/err" &
	local job=$!
	for i in $(seq 1 50); do
		pid=$("$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -tAc \
			"SELECT pid FROM pg_stat_activity WHERE application_name = 'edpipe' AND state = 'active' AND wait_event = 'PgSleep'")
		[ -z "$pid" ] || break
		sleep 0.1
	done
	[ -n "$pid" ]
	echo "$pid" >"$BATS_TEST_TMPDIR/stopped"
	kill -STOP "$pid"
	local t0=$SECONDS rc=0
	wait "$job" || rc=$?
	kill -CONT "$pid"
	[ "$rc" -eq 75 ]
	[ $((SECONDS - t0)) -lt 15 ]
	grep -Eq "^sis-extract: the database timed out after [0-9]+ rows: the statement took more than 4 s \(--timeout 4\)$" \
		"$BATS_TEST_TMPDIR/err"
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
	! grep -qF s3cret-pw "$BATS_TEST_TMPDIR/err"
}

teardown() {
	# A backend the test stopped must run again whatever happened.
	if [ -f "$BATS_TEST_TMPDIR/stopped" ]; then
		kill -CONT "$(cat "$BATS_TEST_TMPDIR/stopped")" 2>/dev/null || true
	fi
}

@test "bad UTF-8 from a SQL_ASCII database is 65 and nothing is passed on" {
	# sis-extract leaves the UTF-8 check of each value to a PostgreSQL 15+
	# server (client_encoding UTF8); a SQL_ASCII database holds raw bytes,
	# which the server must then refuse itself, after rows have streamed.
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -q \
		-c "CREATE DATABASE legacy OWNER etl ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d legacy -q <<'EOF2'
SET ROLE etl;
CREATE TABLE t AS SELECT g AS id, 'ok ' || g AS name FROM generate_series(1, 5000) g;
INSERT INTO t VALUES (5001, E'caf\xe9');
EOF2
	SIS_PASSWORD=s3cret-pw run --separate-stderr sis-extract \
		--db "postgres://etl@127.0.0.1:$PGPORT_T/legacy" -t csv \
		--sql 'SELECT id, name FROM t ORDER BY id'
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = 'sis-extract: SQL error: invalid byte sequence for encoding "UTF8": 0xe9' ]
}
