#!/usr/bin/env bats
# db-load into a real MariaDB server started for this file
# (tests/servers/mariadb.sh): one InnoDB transaction through a prepared
# INSERT per row, booleans, upsert as ON DUPLICATE KEY UPDATE, rollback
# on a bad row, the status row, login errors.
load helper
bats_require_minimum_version 1.5.0

setup_file() {
	need mariadb
	command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need mariadbd
	export MYDIR=$BATS_FILE_TMPDIR/my
	MYPORT=$(free_port)
	export MYPORT
	"$ROOT/tests/servers/mariadb.sh" start "$MYDIR" "$MYPORT" >/dev/null
	"$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" <<'SQL'
CREATE DATABASE sis CHARACTER SET utf8mb4;
CREATE USER 'etl'@'127.0.0.1' IDENTIFIED BY 's3cret-pw';
GRANT ALL ON sis.* TO 'etl'@'127.0.0.1';
SQL
	export URL="mysql://etl@127.0.0.1:$MYPORT/sis"
	export SIS_PASSWORD=s3cret-pw
}

teardown_file() {
	"$ROOT/tests/servers/mariadb.sh" stop "$MYDIR"
}

setup() {
	"$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" sis <<'SQL'
DROP TABLE IF EXISTS people, load_status;
CREATE TABLE people (id integer PRIMARY KEY, name varchar(100) NOT NULL,
  credits decimal(12,2), active boolean, born date, note text,
  added varchar(10) DEFAULT 'dflt') ENGINE=InnoDB;
INSERT INTO people (id, name) VALUES (99, 'old row');
SQL
	cat >"$BATS_TEST_TMPDIR/in.ndjson" <<'EOF2'
{"id":1,"name":"Zoë 😀","credits":"1.50","active":true,"born":"2001-02-03","note":null}
{"id":2,"name":"x'); DROP TABLE people; --","credits":2,"active":false,"born":null,"note":"a\tb\\c"}
EOF2
}

dump() {
	sis-extract --db "$URL" --sql 'SELECT * FROM people ORDER BY id'
}

@test "MySQL load: types, booleans, NULLs, escapes, UTF-8 and SQL in values" {
	run --separate-stderr db-load --db "$URL" --table people "$BATS_TEST_TMPDIR/in.ndjson"
	assert_success
	[ -z "$output" ]
	run dump
	assert_output '{"id":1,"name":"Zoë 😀","credits":"1.50","active":true,"born":"2001-02-03","note":null,"added":"dflt"}
{"id":2,"name":"x'"'"'); DROP TABLE people; --","credits":"2.00","active":false,"born":null,"note":"a\tb\\c","added":"dflt"}
{"id":99,"name":"old row","credits":null,"active":null,"born":null,"note":null,"added":"dflt"}'
}

@test "MySQL load: a bad row rolls the whole load back and names its line" {
	printf '{"id":3,"name":"ok"}\n{"id":4,"name":null}\n' >"$BATS_TEST_TMPDIR/bad.ndjson"
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		"$BATS_TEST_TMPDIR/bad.ndjson"
	assert_failure 65
	[[ "$stderr" == *"bad.ndjson:2: SQL error: Column 'name' cannot be null"* ]]
	run dump
	assert_output '{"id":99,"name":"old row","credits":null,"active":null,"born":null,"note":null,"added":"dflt"}'
}

@test "MySQL load: upsert updates on the key; twice is the same as once" {
	db-load --db "$URL" --table people "$BATS_TEST_TMPDIR/in.ndjson"
	printf '{"id":1,"name":"new"}\n{"id":5,"name":"five"}\n' >"$BATS_TEST_TMPDIR/up.ndjson"
	for _ in 1 2; do
		run --separate-stderr db-load --db "$URL" --table people \
			--mode upsert --key id "$BATS_TEST_TMPDIR/up.ndjson"
		assert_success
	done
	run sis-extract --db "$URL" --sql 'SELECT id, name, credits FROM people ORDER BY id'
	assert_output '{"id":1,"name":"new","credits":"1.50"}
{"id":2,"name":"x'"'"'); DROP TABLE people; --","credits":"2.00"}
{"id":5,"name":"five","credits":null}
{"id":99,"name":"old row","credits":null}'
}

@test "MySQL load: the status row is written on success and on failure" {
	run --separate-stderr db-load --db "$URL" --table people \
		--status-table load_status --job j1 "$BATS_TEST_TMPDIR/in.ndjson"
	assert_success
	run --separate-stderr db-load --db "$URL" --table people \
		--status-table load_status --job j1 "$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 65
	run sis-extract --db "$URL" --sql 'SELECT job, status, `rows` FROM load_status ORDER BY started_at, status DESC'
	assert_line --index 0 '{"job":"j1","status":"successful","rows":2}'
	assert_line --index 1 '{"job":"j1","status":"failed","rows":0}'
}

@test "MySQL load: a wrong password is 77 and never shown; no server is 69" {
	SIS_PASSWORD=wrong-pw-4711 run --separate-stderr db-load --db "$URL" \
		--table people "$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 77
	[[ "$stderr" != *wrong-pw-4711* ]]
	run --separate-stderr db-load --db "mysql://etl@127.0.0.1:$(free_port)/sis" \
		--table people "$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 69
}
