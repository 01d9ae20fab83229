#!/usr/bin/env bats
# db-load into a real MariaDB server started for this file
# (tests/servers/mariadb.sh): the shared db-load behaviour tests
# (db-load-backends.bash) through one InnoDB transaction of prepared
# multi-row INSERTs (upsert as ON DUPLICATE KEY UPDATE), then what only
# MySQL has: the column types --create gives, the edges of its batches,
# a bad row found by rerunning its batch, the packet limit, a server
# without strict mode, a connection killed mid-load.
load helper
load dbservers
load db-load-backends
bats_require_minimum_version 1.5.0

setup_file() {
	mysql_start
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

# Rows go as prepared multi-row INSERTs of 1000 rows (60000 placeholders
# at most) for people's 8 columns.  n rows "id,name,active" from id $2.
bl_rows() {
	seq "$2" $(($2 + $1 - 1)) | awk -v p="${3:-n}" '{ printf "{\"id\":%d,\"name\":\"%s%d\",\"active\":%s}\n", $1, p, $1, $1 % 2 ? "true" : "false" }'
}

@test "MySQL load: a bad row in the third batch is named by its line; the old rows stay" {
	local f=$BATS_TEST_TMPDIR/3000.ndjson
	bl_rows 2500 1 >"$f"
	echo '{"id":2501,"name":null}' >>"$f"
	bl_rows 499 2502 >>"$f"
	run --separate-stderr db-load --db "$URL" --table people --mode replace "$f"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "db-load: $f:2501: SQL error: "*"$NOT_NULL_ERR"* ]]
	run bl_dump
	assert_output "$BL_OLD"
	# A value the column cannot take, and a clash with a row of the
	# table, each at the end of a full batch.
	sed -i '2501s/.*/{"id":2501,"name":"n","active":"maybe"}/' "$f"
	run --separate-stderr db-load --db "$URL" --table people --mode replace "$f"
	assert_failure 65
	[[ "$stderr" == "db-load: $f:2501: SQL error: "*"'maybe'"*"active"* ]]
	bl_rows 999 100 >"$f"
	echo '{"id":99,"name":"clash"}' >>"$f"
	run --separate-stderr db-load --db "$URL" --table people "$f"
	assert_failure 65
	[[ "$stderr" == "db-load: $f:1000: SQL error: Duplicate entry '99'"* ]]
	run bl_dump
	assert_output "$BL_OLD"
}

@test "MySQL load: 1000, 1001 and 2001 rows (batch edges) all arrive, booleans as 1/0" {
	local n f=$BATS_TEST_TMPDIR/edge.ndjson
	for n in 1000 1001 2001; do
		bl_rows "$n" 1001 >"$f"
		run --separate-stderr db-load --db "$URL" --table people \
			--mode replace "$f"
		assert_success
		run bl_query 'SELECT count(*) AS n, min(id) AS lo, max(id) AS hi,
			sum(active) AS t, count(DISTINCT name) AS d FROM people'
		assert_output "{\"n\":$n,\"lo\":1001,\"hi\":$((1000 + n)),\"t\":\"$(((n + 1) / 2))\",\"d\":$n}"
	done
	# The lone last row of 1001 is the bad one.
	bl_rows 1000 1 >"$f"
	echo '{"id":1001,"name":null}' >>"$f"
	run --separate-stderr db-load --db "$URL" --table people "$f"
	assert_failure 65
	[[ "$stderr" == "db-load: $f:1001: SQL error: "*"$NOT_NULL_ERR"* ]]
}

@test "MySQL load: upsert over several batches updates and inserts" {
	local f=$BATS_TEST_TMPDIR/up.ndjson
	bl_rows 1500 1 a >"$f"
	run --separate-stderr db-load --db "$URL" --table people --mode upsert \
		--key id "$f"
	assert_success
	bl_rows 1501 1000 b >"$f"
	run --separate-stderr db-load --db "$URL" --table people --mode upsert \
		--key id "$f"
	assert_success
	run bl_query "SELECT count(*) AS n, sum(name LIKE 'a%') AS a,
		sum(name LIKE 'b%') AS b FROM people"
	assert_output '{"n":2500,"a":"999","b":"1501"}'
	run bl_query 'SELECT id, name, dflt FROM people WHERE id IN (99, 999, 1000, 2500) ORDER BY id'
	assert_output '{"id":99,"name":"a99","dflt":"dflt"}
{"id":999,"name":"a999","dflt":"dflt"}
{"id":1000,"name":"b1000","dflt":"dflt"}
{"id":2500,"name":"b2500","dflt":"dflt"}'
	# Only key columns (ON DUPLICATE KEY UPDATE k = k): twice is once.
	local _
	for _ in 1 2; do
		printf '{"k":"a"}\n{"k":"b"}\n' | {
			run --separate-stderr db-load --db "$URL" --table keys_only \
				--create --mode upsert --key k
			assert_success
		}
	done
	run bl_query 'SELECT k FROM keys_only ORDER BY k'
	bl_exec <<<'DROP TABLE keys_only'
	assert_output '{"k":"a"}
{"k":"b"}'
}

@test "MySQL load: long values cut batches short under max_allowed_packet" {
	local f=$BATS_TEST_TMPDIR/long.ndjson max
	max=$("$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" -N -e 'SELECT @@GLOBAL.max_allowed_packet')
	bl_exec <<<'SET GLOBAL max_allowed_packet = 1048576'
	python3 -c '
for i in range(1, 41):
    print("{\"id\":%d,\"name\":\"n%d\",\"note\":\"%s\"}" % (i, i, chr(97 + i % 26) * 60000))' >"$f"
	run --separate-stderr db-load --db "$URL" --table people --mode replace "$f"
	bl_exec <<<"SET GLOBAL max_allowed_packet = $max"
	assert_success
	run bl_query 'SELECT count(*) AS n, sum(length(note)) AS b,
		count(DISTINCT note) AS d FROM people'
	assert_output '{"n":40,"b":"2400000","d":26}'
}

@test "MySQL load: a server without strict mode still refuses a NULL for NOT NULL" {
	local f=$BATS_TEST_TMPDIR/lax.ndjson mode
	mode=$("$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" -N -e 'SELECT @@GLOBAL.sql_mode')
	bl_exec <<<"SET GLOBAL sql_mode = ''"
	bl_rows 10 1 >"$f"
	echo '{"id":11,"name":null}' >>"$f"
	bl_rows 10 12 >>"$f"
	run --separate-stderr db-load --db "$URL" --table people "$f"
	bl_exec <<<"SET GLOBAL sql_mode = '$mode'"
	assert_failure 65
	[[ "$stderr" == "db-load: $f:11: SQL error: "*"$NOT_NULL_ERR"* ]]
	run bl_dump
	assert_output "$BL_OLD"
}

@test "MySQL load: a connection killed mid-load is 69 and nothing stays" {
	local f=$BATS_TEST_TMPDIR/kill.ndjson
	bl_exec <<'SQL'
CREATE TRIGGER people_slow BEFORE INSERT ON people FOR EACH ROW
  SET @slept = IF(NEW.id = 3500, SLEEP(20), 0);
SQL
	bl_rows 3000 1001 >"$f"
	(
		for _ in $(seq 1 100); do
			id=$("$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" -N -e \
				"SELECT id FROM information_schema.processlist
				 WHERE state = 'User sleep'")
			if [ -n "$id" ]; then
				"$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" \
					-e "KILL $id"
				break
			fi
			sleep 0.1
		done
	) &
	run --separate-stderr db-load --db "$URL" --table people "$f"
	wait
	bl_exec <<<'DROP TRIGGER people_slow'
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == "db-load: lost the connection to the database after 2000 rows: "* ]]
	run bl_dump
	assert_output "$BL_OLD"
}
