#!/usr/bin/env bats
# sis-extract against SQL Server: the real FreeTDS db-lib talking TDS 7.4
# to tests/servers/tds_server.py (a TDS server backed by SQLite), started
# here on free ports of 127.0.0.1.  SQLite: sis-extract.bats.
load helper
bats_require_minimum_version 1.5.0

setup_file() {
	need python3 tsql
	# Debian's python3 directly: a version manager's shim in front of it
	# can cost seconds per start on a busy machine.
	export PY
	PY=$(command -v /usr/bin/python3 || command -v python3)
	# Only what the tests say: no user or system freetds.conf, no dump.
	export FREETDSCONF=/dev/null
	unset TDSVER TDSDUMP TDSPORT TDSHOST DSQUERY
	export DB=$BATS_FILE_TMPDIR/sis.db DEMO=$BATS_FILE_TMPDIR/demo.db
	# Build both databases at once, take the free ports in one go (the
	# fourth stays unused: nothing listens there), start the servers
	# together.
	"$PY" "$ROOT/share/demo-sis/make-demo-sis" --students 300 --seed 7 \
		"$DEMO" 3>&- &
	local demo=$!
	"$PY" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript(open(sys.argv[2], encoding="utf-8").read())
db.commit()' "$DB" "$FIX/sis-extract-mssql/sis.sql"
	wait "$demo"
	export SRV=$ROOT/tests/servers/tds_server.py
	export PORT DEMOPORT DIEPORT UNUSED LOG=$BATS_FILE_TMPDIR/tds.log
	read -r PORT DEMOPORT DIEPORT UNUSED < <("$PY" -c 'import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
	"$PY" "$SRV" --port "$PORT" --db "$DB" --database sis \
		--user etl --password 'pa55 w0rd' --log "$LOG" 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/pids"
	"$PY" "$SRV" --port "$DEMOPORT" --db "$DEMO" --database demo \
		--user etl --password 'pa55 w0rd' 3>&- &
	echo $! >>"$BATS_FILE_TMPDIR/pids"
	"$PY" "$SRV" --port "$DIEPORT" --db "$DB" --database sis \
		--user etl --password 'pa55 w0rd' --die-after 1000 3>&- &
	echo $! >>"$BATS_FILE_TMPDIR/pids"
	wait_port "$PORT"
	wait_port "$DEMOPORT"
	wait_port "$DIEPORT"
	export URL="mssql://etl@127.0.0.1:$PORT/sis"
}

teardown_file() {
	local pid
	[ -f "$BATS_FILE_TMPDIR/pids" ] || return 0
	while read -r pid; do
		kill "$pid" 2>/dev/null || true
	done <"$BATS_FILE_TMPDIR/pids"
}

setup() {
	export SIS_PASSWORD='pa55 w0rd'
}

@test "the common options behave as in every program" {
	common_cli_checks sis-extract
}

@test "the test server answers FreeTDS's own tsql, non-ASCII text included" {
	run --separate-stderr bash -c "printf '%s\ngo\n' \
		\"SELECT first_name, last_name FROM people WHERE id = 2\" |
		TDSVER=7.4 tsql -H 127.0.0.1 -p $PORT -U etl -P 'pa55 w0rd' \
		-D sis -J UTF-8 -o v"
	assert_success
	assert_output --partial $'太郎\t山田'
	assert_output --partial '(1 row affected)'
	[[ "$stderr" == *"using TDS version 7.4"* ]]
}

@test "tsql is refused with the wrong password" {
	run --separate-stderr bash -c "printf 'SELECT 1\ngo\n' |
		TDSVER=7.4 tsql -H 127.0.0.1 -p $PORT -U etl -P nope -D sis"
	assert_failure
	[[ "$output$stderr" == *"Login failed for user 'etl'"* ]]
}

@test "writes SQL Server types as record types: int, nvarchar, NULL, decimal, date, datetime, bit, float" {
	run --separate-stderr sis-extract --db "$URL" --sql \
		'SELECT id, first_name, last_name, email, gpa, balance, born,
		enrolled_at, active, credits, note FROM people ORDER BY id'
	assert_success
	assert_line --index 0 '{"id":1,"first_name":"Zoë","last_name":"Ødegård","email":"zoe@example.edu","gpa":"3.75","balance":"12345678901234567890.123456","born":"2001-02-03","enrolled_at":"2021-01-05T13:45:30.123","active":true,"credits":12.5,"note":"first \"quoted\" line\nsecond line"}'
	assert_line --index 1 '{"id":2,"first_name":"太郎","last_name":"山田","email":null,"gpa":null,"balance":null,"born":null,"enrolled_at":null,"active":false,"credits":null,"note":null}'
	assert_line --index 2 '{"id":3,"first_name":"Seán","last_name":"O'"'"'Brien","email":"sean@example.edu","gpa":"2.50","balance":"-0.000001","born":"1999-12-31","enrolled_at":"1999-12-31T23:59:59","active":true,"credits":0.1,"note":""}'
	[ "${#lines[@]}" -eq 4 ]
	# The server really sent TDS types chosen from the declared ones.
	grep -q "batch: .SELECT id, first_name" "$LOG"
}

@test "NULLs are empty CSV fields and non-ASCII names survive" {
	run --separate-stderr sis-extract --db "$URL" -o csv --sql \
		'SELECT id, first_name, last_name, email FROM people
		WHERE id IN (1, 2) ORDER BY id'
	assert_success
	assert_output 'id,first_name,last_name,email
1,Zoë,Ødegård,zoe@example.edu
2,太郎,山田,'
}

@test "parameters go as sp_executesql RPC values, never in the SQL text" {
	run --separate-stderr sis-extract --db "$URL" --param term=2021WI \
		--param role=student --sql 'SELECT course, section, username
		FROM enrollments WHERE term = :term AND role = :role
		ORDER BY course'
	assert_success
	assert_output '{"course":"BSC5102","section":null,"username":"zoe"}
{"course":"COUN6552","section":"02","username":"yamada"}'
	grep -q "rpc sp_executesql: .SELECT course, section, username.*term = @P1 AND role = @P2.*{'p1': '2021WI', 'p2': 'student'}" "$LOG"
	! grep -q "term = '2021WI'" "$LOG"
}

@test "injection attempts in parameters come back as data" {
	local v
	for v in "2021WI' OR '1'='1" "x'; DROP TABLE people; --" \
		"x') UNION SELECT username FROM people --" "\\'; SELECT 1 --"; do
		run --separate-stderr sis-extract --db "$URL" --param "v=$v" \
			--sql 'SELECT :v AS v, count(*) AS n FROM enrollments
			WHERE term = :v'
		assert_success
		assert_output "$(jq -cn --arg v "$v" '{v: $v, n: 0}')"
	done
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT count(*) AS n FROM people'
	assert_output '{"n":4}'
}

@test "non-ASCII and empty parameter values are bound as they are" {
	run --separate-stderr sis-extract --db "$URL" --param 'n=山田' \
		--param e= --sql "SELECT id, :e AS e, :e || 'x' AS ex
		FROM people WHERE last_name = :n OR first_name = :n"
	assert_success
	assert_output '{"id":2,"e":"","ex":"x"}'
}

@test "100k rows stream out, and -v counts them after the last row" {
	# Into files: bash splitting 100k lines for `run` costs seconds.
	local out=$BATS_TEST_TMPDIR/out err=$BATS_TEST_TMPDIR/err
	sis-extract --db "$URL" -v \
		--sql 'SELECT id, name, amount FROM big ORDER BY id' >"$out" 2>"$err"
	[ "$(wc -l <"$out")" -eq 100000 ]
	[ "$(head -n 1 "$out")" = '{"id":1,"name":"student 1","amount":"1.25"}' ]
	[ "$(tail -n 1 "$out")" = '{"id":100000,"name":"student 100000","amount":"125000.00"}' ]
	[ "$(cat "$err")" = "sis-extract: 100000 records" ]
}

@test "the PowerCampus query gives the same records from SQL Server as from SQLite" {
	run --separate-stderr sis-extract --db "sqlite:$DEMO" \
		--query "$ROOT/share/queries/powercampus-enrollments.sql" \
		--param year=2021 --param term=WINTER
	assert_success
	local want=$output
	[ "${#lines[@]}" -gt 100 ]
	run --separate-stderr sis-extract \
		--db "mssql://etl@127.0.0.1:$DEMOPORT/demo" \
		--query "$ROOT/share/queries/powercampus-enrollments.sql" \
		--param year=2021 --param term=WINTER
	assert_success
	[ "$output" = "$want" ]
}

@test "a wrong password exits 77 with the server's message and no password" {
	SIS_PASSWORD=wrong-pa55 run --separate-stderr sis-extract \
		--db "$URL" --sql 'SELECT 1 AS one'
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"cannot log in to 'mssql://etl@127.0.0.1:$PORT/sis': Login failed for user 'etl'."* ]]
	[[ "$stderr" != *wrong-pa55* ]]
}

@test "the password can come from an owner-only file" {
	printf 'pa55 w0rd\n' >"$BATS_TEST_TMPDIR/pw"
	chmod 600 "$BATS_TEST_TMPDIR/pw"
	unset SIS_PASSWORD
	run --separate-stderr sis-extract --db "$URL" \
		--password-file "$BATS_TEST_TMPDIR/pw" --sql 'SELECT 1 AS one'
	assert_success
	assert_output '{"one":1}'
}

@test "a database the login may not open exits 77" {
	run --separate-stderr sis-extract \
		--db "mssql://etl@127.0.0.1:$PORT/payroll" --sql 'SELECT 1 AS one'
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *'Cannot open database "payroll"'* ]]
}

@test "a SQL error exits 65 with the server's message and no output" {
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT nosuch FROM people'
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "sis-extract: SQL error: Invalid column name 'nosuch'. (SQL Server error 207)" ]
	run --separate-stderr sis-extract --db "$URL" --param x=1 \
		--sql 'SELECT * FROM no_table WHERE a = :x'
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"Invalid object name 'no_table'."* ]]
}

@test "an error after some rows fails the run and passes nothing on" {
	# The third row's text does not convert to the int the first row set.
	run --separate-stderr sis-extract --db "$URL" --sql \
		"SELECT CASE WHEN id < 3 THEN id ELSE 'x' || id END AS v
		FROM people ORDER BY id"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"Conversion failed"* ]]
}

@test "T-SQL batches: SET statements pass, a second result set is refused" {
	run --separate-stderr sis-extract --db "$URL" --param x=1 \
		--sql 'SET NOCOUNT ON; SELECT id FROM people WHERE id <= :x'
	assert_success
	assert_output '{"id":1}'
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT id FROM people; SELECT 2 AS b'
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "sis-extract: the query returns more than one result set (only one can be read as records)" ]
}

@test "an unreachable server exits 69" {
	run --separate-stderr sis-extract \
		--db "mssql://etl@127.0.0.1:$UNUSED/sis" --sql 'SELECT 1'
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"cannot connect to 'mssql://etl@127.0.0.1:"*"Connection refused"* ]]
}

@test "a connection dropped mid-result exits 69, passes nothing on, claims no count" {
	run --separate-stderr sis-extract -v \
		--db "mssql://etl@127.0.0.1:$DIEPORT/sis" \
		--sql 'SELECT id, name FROM big ORDER BY id'
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"connection to 'mssql://etl@127.0.0.1:$DIEPORT/sis' lost"* ]]
	[[ "$stderr" != *"records"* ]]
}

@test "a connection dropped mid-result leaves no --output file" {
	run --separate-stderr sis-extract -o csv \
		--output "$BATS_TEST_TMPDIR/out.csv" \
		--db "mssql://etl@127.0.0.1:$DIEPORT/sis" --param min=0 \
		--sql 'SELECT id, name FROM big WHERE id > :min'
	assert_failure 69
	[ ! -e "$BATS_TEST_TMPDIR/out.csv" ]
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '*out.csv*')" ]
}

@test "a NUL character in a text value exits 65 naming row and column" {
	run --separate-stderr sis-extract --db "$URL" --sql \
		"SELECT id, CASE id WHEN 2 THEN 'a' || char(0) || 'b' ELSE 'ok' END AS x FROM people ORDER BY id"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "sis-extract: row 2, column 'x': the value holds a NUL character at byte 2 (no edpipe reader takes one: strip it in the query)" ]
}

# WAITFOR on the test server stalls the connection: it answers neither
# the statement nor a cancel until the delay is over.
@test "a stalled SQL Server ends the run with 75 at --timeout, batch or RPC" {
	local t0=$SECONDS
	run --separate-stderr timeout 60 sis-extract --db "$URL" --timeout 1 \
		--sql "WAITFOR DELAY '00:00:30'"
	assert_failure 75
	[ -z "$output" ]
	[ "$stderr" = "sis-extract: the database timed out after 0 rows: the statement took more than 1 s (--timeout 1)" ]
	run --separate-stderr timeout 60 sis-extract --db "$URL" --timeout 1 \
		--param x=1 --sql "WAITFOR DELAY '00:00:30'; SELECT :x AS x"
	assert_failure 75
	[ -z "$output" ]
	[[ "$stderr" == *"timed out after 0 rows"*"(--timeout 1)" ]]
	[ $((SECONDS - t0)) -lt 12 ]
}
