#!/usr/bin/env bats
# db-load into a real MariaDB server started for this file
# (tests/servers/mariadb.sh): the shared db-load behaviour tests
# (db-load-backends.bash) through one InnoDB transaction of prepared
# INSERTs (upsert as ON DUPLICATE KEY UPDATE), then what only MySQL has:
# the column types --create gives.
load helper
load db-load-backends
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
	URL_DOWN="mysql://etl@127.0.0.1:$(free_port)/sis"
	export URL_DOWN
	export T_DEC="decimal(30,2)" T_BOOL=boolean T_TS=datetime
	export NOT_NULL_ERR="Column 'name' cannot be null"
}

teardown_file() {
	"$ROOT/tests/servers/mariadb.sh" stop "$MYDIR"
}

bl_exec() {
	{
		echo "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES');"
		cat
	} | "$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" sis
}

setup() {
	bl_reset
}

@test "MySQL load: types, NULL and '', UTF-8, SQL in values" { bl_types; }
@test "MySQL load: quotes and SQL in table and column names" { bl_identifiers; }
@test "MySQL load: a bad row rolls all back and names its line; replace keeps the old rows" { bl_rollback; }
@test "MySQL load: upsert twice is the same as once" { bl_upsert; }
@test "MySQL load: the status row on success and on failure" { bl_status; }
@test "MySQL load: a wrong password is 77 and never shown; no server is 69" {
	bl_wrong_password
	bl_unreachable
}

@test "MySQL load: --create makes MySQL types and a primary key on --key" {
	printf '{"id":1,"code":"A-1","title":"Algebra","start":"2024-09-01","open":true,"fee":"12.50","at":"2024-09-01 08:00:00"}\n' | {
		run --separate-stderr db-load --db "$URL" --table created --create \
			--types id=bigint,start=date,open=bool,fee=numeric,at=timestamp \
			--key id,code
		assert_success
	}
	run bl_query "SELECT column_name AS c, column_type AS t, column_key AS k
		FROM information_schema.columns WHERE table_schema = 'sis'
		AND table_name = 'created' ORDER BY ordinal_position"
	assert_output '{"c":"id","t":"bigint(20)","k":"PRI"}
{"c":"code","t":"varchar(255)","k":"PRI"}
{"c":"title","t":"text","k":""}
{"c":"start","t":"date","k":""}
{"c":"open","t":"tinyint(1)","k":""}
{"c":"fee","t":"decimal(38,10)","k":""}
{"c":"at","t":"datetime","k":""}'
	run bl_query 'SELECT * FROM created'
	assert_output '{"id":1,"code":"A-1","title":"Algebra","start":"2024-09-01","open":true,"fee":"12.5000000000","at":"2024-09-01T08:00:00"}'
	bl_exec <<<'DROP TABLE created'
}
