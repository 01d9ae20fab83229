#!/usr/bin/env bats
# db-load against a real PostgreSQL server started for this file
# (tests/servers/pg.sh): COPY with types, NULLs and escapes, rollback on a
# bad value, a constraint error or a killed backend, upsert, --create,
# quoting, the status row, 100k records, login errors.
load helper
load dbservers
bats_require_minimum_version 1.5.0

setup_file() {
	pg_start
	export URL="postgres://etl@127.0.0.1:$PGPORT_T/sis"
}

teardown_file() {
	"$ROOT/tests/servers/pg.sh" stop "$PGDIR"
}

# Each test gets its own table "people" (dropped and made again).
setup() {
	export SIS_PASSWORD=s3cret-pw
	sql <<'EOF'
SET client_min_messages = warning;
DROP TABLE IF EXISTS people, loose, y, load_status, created,
  "x""; DROP TABLE y; --";
DROP SCHEMA IF EXISTS stage CASCADE;
CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL,
  credits numeric(12,2), active boolean, born date, note text,
  added text DEFAULT 'dflt');
INSERT INTO people (id, name) VALUES (99, 'old row');
EOF
}

sql() {
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -U etl -tA "$@"
}

dump() {
	sql -c "SELECT id, name, credits, active, born, coalesce(note, 'NULL'),
		added FROM people ORDER BY id"
}

@test "loads records through COPY: types, NULLs, escapes, non-ASCII, SQL in values" {
	run --separate-stderr db-load --db "$URL" --table people -v \
		"$FIX/db-load/people.ndjson"
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"3 rows loaded into 'people' (append)"* ]]
	run dump
	assert_output "$(cat <<'EOF'
1|Zoë Núñez|12.50|t|2001-02-03|NULL|dflt
2|O'Brien, Siobhán|0.00|f||x'); DROP TABLE people; --|dflt
3|山田 美咲|||1999-12-31|tab	here
new line \ back|dflt
99|old row||||NULL|dflt
EOF
)"
}

@test "sis-extract reads back what db-load wrote" {
	db-load --db "$URL" --table people --mode replace \
		"$FIX/db-load/people.ndjson"
	run --separate-stderr sis-extract --db "$URL" --sql \
		'SELECT id, name, credits::float AS credits, active, born::text AS born, note FROM people ORDER BY id'
	assert_success
	assert_output "$(cat "$FIX/db-load/people.ndjson")"
}

@test "CSV input: an empty field is NULL" {
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		"$FIX/db-load/people.csv"
	assert_success
	[ "$(sql -c 'SELECT count(*) FROM people WHERE note IS NULL AND born IS NULL')" = 0 ]
	[ "$(sql -c 'SELECT count(*) FROM people WHERE note IS NULL')" = 1 ]
	[ "$(sql -c 'SELECT active FROM people WHERE id = 1')" = t ]
}

@test "replace refills the table; a bad value in the middle keeps the old rows" {
	seq 1 1000 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' \
		>"$BATS_TEST_TMPDIR/in.ndjson"
	echo '{"id":"abc","name":"bad"}' >>"$BATS_TEST_TMPDIR/in.ndjson"
	seq 1002 1100 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' \
		>>"$BATS_TEST_TMPDIR/in.ndjson"
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "db-load: $BATS_TEST_TMPDIR/in.ndjson:1001: SQL error: invalid input syntax for type integer: \"abc\"" ]]
	[ "$(sql -c "SELECT string_agg(name, ',') FROM people")" = "old row" ]
	sed -i '1001d' "$BATS_TEST_TMPDIR/in.ndjson"
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_success
	[ "$(sql -c 'SELECT count(*), max(id) FROM people')" = "1099|1100" ]
}

@test "a malformed record rolls back; a constraint violation names its line" {
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		"$FIX/db-load/bad-middle.ndjson"
	assert_failure 65
	[[ "$stderr" == "db-load: $FIX/db-load/bad-middle.ndjson:3: "* ]]
	printf '{"id":5,"name":"five"}\n{"id":6,"name":"six"}\n{"id":99,"name":"clash"}\n' \
		>"$BATS_TEST_TMPDIR/in.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 65
	[[ "$stderr" == *"in.ndjson:3: SQL error: duplicate key value violates unique constraint \"people_pkey\""* ]]
	[ "$(sql -c "SELECT string_agg(id::text, ',') FROM people")" = 99 ]
}

@test "upsert updates and inserts on the key; twice is the same as once" {
	db-load --db "$URL" --table people "$FIX/db-load/people.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		--mode upsert --key id "$FIX/db-load/upsert.ndjson"
	assert_success
	local once
	once=$(dump)
	[[ "$once" == *"2|Siobhán O'Brien|4.00|f||x'); DROP TABLE people; --|dflt"* ]]
	[[ "$once" == *"4|new four|1.25|||NULL|dflt"* ]]
	[ "$(sql -c 'SELECT count(*) FROM people')" = 5 ]
	db-load --db "$URL" --table people --mode upsert --key id \
		"$FIX/db-load/upsert.ndjson"
	[ "$(dump)" = "$once" ]
}

@test "upsert needs a unique index on the key; a repeated key is refused" {
	sql -c "CREATE TABLE loose (id integer, name text, credits numeric)"
	run --separate-stderr db-load --db "$URL" --table loose \
		--mode upsert --key id "$FIX/db-load/upsert.ndjson"
	assert_failure 65
	[[ "$stderr" == *"there is no unique or exclusion constraint matching the ON CONFLICT specification"* ]]
	[ "$(sql -c 'SELECT count(*) FROM loose')" = 0 ]
	run --separate-stderr db-load --db "$URL" --table people \
		--mode upsert --key id "$FIX/db-load/dup-id.ndjson"
	assert_failure 65
	[[ "$stderr" == *"dup-id.ndjson:3: the key of this record repeats the record of line 1"* ]]
}

@test "--create makes the table with --types and a primary key on --key" {
	printf '{"id":1,"title":"Algebra","start":"2024-09-01","open":true,"fee":"12.50"}\n{"id":2,"title":"Ökologie","fee":null}\n' | {
		run --separate-stderr db-load --db "$URL" --table created --create \
			--types id=bigint,start=date,open=bool,fee=numeric --key id
		assert_success
	}
	run sql -c "SELECT column_name, data_type, is_nullable FROM
		information_schema.columns WHERE table_name = 'created'
		ORDER BY ordinal_position"
	assert_output "$(printf '%s\n' 'id|bigint|NO' 'title|text|YES' \
		'start|date|YES' 'open|boolean|YES' 'fee|numeric|YES')"
	[ "$(sql -c "SELECT count(*) FROM pg_constraint WHERE conrelid = 'created'::regclass AND contype = 'p'")" = 1 ]
	[ "$(sql -c "SELECT string_agg(title || '/' || coalesce(fee::text, '-'), ',' ORDER BY id) FROM created")" = "Algebra/12.50,Ökologie/-" ]
}

@test "a schema-qualified table and fields the table lacks" {
	sql -c "CREATE SCHEMA stage" -c "CREATE TABLE stage.people (id int, name text)"
	run --separate-stderr db-load --db "$URL" --table stage.people \
		"$FIX/db-load/extra.ndjson"
	assert_failure 65
	[[ "$stderr" == *"table 'stage.people' has no column for fields 'avatar', 'score'"* ]]
	run --separate-stderr db-load --db "$URL" --table stage.people \
		--ignore-extra "$FIX/db-load/extra.ndjson"
	assert_success
	[ "$(sql -c 'SELECT count(*) FROM stage.people')" = 2 ]
	[ "$(sql -c 'SELECT count(*) FROM public.people')" = 1 ]
}

@test "identifiers with quotes and SQL in them are harmless" {
	sql -c "CREATE TABLE y (a text)" -c "INSERT INTO y VALUES ('keep')"
	printf '{"id":1,"we\\"ird; DROP TABLE y; --":"v\\\\N"}\n' | {
		run --separate-stderr db-load --db "$URL" \
			--table 'x"; DROP TABLE y; --' --create --key id --mode upsert
		assert_success
	}
	[ "$(sql -c 'SELECT a FROM y')" = keep ]
	[ "$(sql -c 'SELECT "we""ird; DROP TABLE y; --" FROM "x""; DROP TABLE y; --"')" = 'v\N' ]
}

@test "the status row is written on success and on failure, in its own transaction" {
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		--status-table load_status --job nightly "$FIX/db-load/people.ndjson"
	assert_success
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		--status-table load_status --job nightly "$FIX/db-load/dup-id.ndjson" \
		--mode upsert --key id
	assert_failure 65
	run sql -c "SELECT job, table_name, status, rows, message,
		finished_at >= started_at FROM load_status ORDER BY finished_at, status DESC"
	assert_line --index 0 "nightly|people|successful|3|3 rows (replace)|t"
	assert_line --index 1 "nightly|people|failed|0|$FIX/db-load/dup-id.ndjson:3: the key of this record repeats the record of line 1|t"
	[ "${#lines[@]}" -eq 2 ]
}

@test "a backend killed mid-load: exit 69, old rows kept, status row written" {
	local fifo=$BATS_TEST_TMPDIR/fifo pid
	mkfifo "$fifo"
	db-load --db "$URL" --table people --mode replace \
		--status-table load_status --job killed <"$fifo" \
		2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	exec 7>"$fifo"
	# More than the reader's buffer and a COPY chunk, so rows are sent.
	seq 1 60000 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' >&7
	local i
	for i in $(seq 1 100); do
		[ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE
			application_name = 'edpipe' AND query LIKE 'COPY%'")" = 1 ] && break
		sleep 0.1
	done
	sql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'edpipe'" >/dev/null
	seq 60001 60010 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' >&7 || true
	exec 7>&-
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 69 ] || fail "exit $rc: $(cat "$BATS_TEST_TMPDIR/err")"
	grep -q "lost the connection to the database after" "$BATS_TEST_TMPDIR/err"
	[ "$(sql -c "SELECT string_agg(name, ',') FROM people")" = "old row" ]
	[ "$(sql -c "SELECT status || '|' || rows FROM load_status WHERE job = 'killed'")" = "failed|0" ]
}

@test "100k records through COPY" {
	seq 1 100000 | awk '{ printf "{\"id\":%d,\"name\":\"Zoë %d\",\"credits\":%d.5,\"note\":\"a\\tb\"}\n", $1 + 100, $1, $1 % 1000 }' \
		>"$BATS_TEST_TMPDIR/big.ndjson"
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		"$BATS_TEST_TMPDIR/big.ndjson"
	assert_success
	[ "$(sql -c "SELECT count(*), sum(id), sum(credits), count(*) FILTER (WHERE note = E'a\\tb') FROM people")" = "100000|5010050000|50000000.00|100000" ]
}

@test "login refused is 77, an unreachable server 69, and the password never shows" {
	SIS_PASSWORD=wrong-password-3 run --separate-stderr db-load --db "$URL" \
		--table people "$FIX/db-load/people.ndjson"
	assert_failure 77
	[[ "$stderr" != *wrong-password-3* ]]
	run --separate-stderr db-load --db "postgres://etl@127.0.0.1:$(free_port)/sis" \
		--table people "$FIX/db-load/people.ndjson"
	assert_failure 69
	[ "$(sql -c 'SELECT count(*) FROM people')" = 1 ]
}

@test "replace refuses to shrink 1000 rows to 3: rolled back, the refusal in the status row" {
	sql -c "INSERT INTO people (id, name) SELECT g, 'p' || g FROM generate_series(1000, 1998) g"
	printf '{"id":1,"name":"a"}\n{"id":2,"name":"b"}\n{"id":3,"name":"c"}\n' \
		>"$BATS_TEST_TMPDIR/in.ndjson"
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		--status-table load_status --job nightly "$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 3
	[ "$stderr" = "db-load: refusing to replace the 1000 rows of table 'people' with 3: --max-shrink 50 allows no fewer than 500 (nothing was changed)" ]
	[ "$(sql -c 'SELECT count(*) FROM people')" = 1000 ]
	[ "$(sql -c "SELECT status || '|' || rows FROM load_status")" = "refused|0" ]
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		--max-shrink 100 "$BATS_TEST_TMPDIR/in.ndjson"
	assert_success
	[ "$(sql -c 'SELECT count(*) FROM people')" = 3 ]
}

@test "a load blocked by another session's lock ends with 75 at --timeout" {
	# The other session holds the table until it is terminated below.
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -c \
		"BEGIN; LOCK TABLE people IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30); COMMIT;" \
		>/dev/null 2>&1 &
	local locker=$! i
	for i in $(seq 1 50); do
		[ "$(sql -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE c.relname = 'people' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ] && break
		sleep 0.1
	done
	local t0=$SECONDS
	run --separate-stderr timeout 60 db-load --db "$URL" --table people \
		--timeout 2 --status-table load_status --job nightly \
		"$FIX/db-load/people.ndjson"
	local took=$((SECONDS - t0))
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -tAc \
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query LIKE 'BEGIN; LOCK TABLE people%'" >/dev/null
	wait "$locker" || true
	assert_failure 75
	[ "$stderr" = "db-load: the database timed out after 0 rows: the statement took more than 2 s (--timeout 2)" ]
	[ "$took" -lt 12 ]
	[ "$(sql -c 'SELECT count(*) FROM people')" = 1 ]
	[ "$(sql -c "SELECT status || '|' || message FROM load_status")" = "failed|the database timed out after 0 rows: the statement took more than 2 s (--timeout 2)" ]
}

# The backend is stopped (SIGSTOP) in the middle of the COPY: it reads no
# more data and cannot keep a timer, so only the client's deadline on
# sending ends the load.
@test "a backend stopped mid-COPY ends the load with 75, old rows kept" {
	local fifo=$BATS_TEST_TMPDIR/fifo pid bpid="" i
	mkfifo "$fifo"
	timeout 60 db-load --db "$URL" --table people --mode replace --timeout 3 \
		--status-table load_status --job stopped <"$fifo" \
		2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	exec 7>"$fifo"
	seq 1 60000 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' >&7
	for i in $(seq 1 100); do
		bpid=$(sql -c "SELECT pid FROM pg_stat_activity WHERE
			application_name = 'edpipe' AND query LIKE 'COPY%'")
		[ -z "$bpid" ] || break
		sleep 0.1
	done
	[ -n "$bpid" ]
	echo "$bpid" >"$BATS_TEST_TMPDIR/stopped"
	kill -STOP "$bpid"
	local t0=$SECONDS rc=0
	# Enough rows to fill every buffer on the way; the writer stops when
	# db-load gives up.
	seq 60001 2000000 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' \
		>&7 2>/dev/null || true
	exec 7>&-
	wait "$pid" || rc=$?
	kill -CONT "$bpid"
	[ "$rc" -eq 75 ] || fail "exit $rc: $(cat "$BATS_TEST_TMPDIR/err")"
	[ $((SECONDS - t0)) -lt 20 ]
	grep -Eq "^db-load: the database timed out after [0-9]+ rows: the statement took more than 3 s \(--timeout 3\)$" \
		"$BATS_TEST_TMPDIR/err"
	[ "$(sql -c "SELECT string_agg(name, ',') FROM people")" = "old row" ]
	[ "$(sql -c "SELECT status || '|' || rows FROM load_status WHERE job = 'stopped'")" = "failed|0" ]
}

teardown() {
	# A backend a test stopped must run again whatever happened.
	if [ -f "$BATS_TEST_TMPDIR/stopped" ]; then
		kill -CONT "$(cat "$BATS_TEST_TMPDIR/stopped")" 2>/dev/null || true
	fi
}
