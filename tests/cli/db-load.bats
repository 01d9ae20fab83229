#!/usr/bin/env bats
# db-load against SQLite: modes, one transaction, --create/--types, extra
# fields, the status row, quoting of identifiers and values, 100k records.
# PostgreSQL: db-load-pg.bats.
load helper
bats_require_minimum_version 1.5.0

setup() {
	need sqlite3
	DB=$BATS_TEST_TMPDIR/t.db
	URL=sqlite:$DB
	sqlite3 "$DB" "CREATE TABLE people (id INTEGER PRIMARY KEY,
		name TEXT NOT NULL, credits NUMERIC, active BOOLEAN, born DATE,
		note TEXT, added TEXT DEFAULT 'dflt');
		INSERT INTO people (id, name) VALUES (99, 'old row');"
}

# q SQL: the query's rows, values shown with quote() by the caller.
q() {
	sqlite3 -separator '|' "$DB" "$1"
}

dump() {
	q "SELECT quote(id), quote(name), quote(credits), quote(active),
		quote(born), quote(note), quote(added) FROM people ORDER BY id"
}

@test "common options: --help, --version, unknown option" {
	common_cli_checks db-load
}

@test "usage errors exit 2 with the synopsis and no output" {
	local args
	for args in "--table people" "--db $URL" \
		"--db $URL --table people --mode upsert" \
		"--db $URL --table people --mode sideways" \
		"--db $URL --table people --types a=int" \
		"--db $URL --table people --key id" \
		"--db $URL --table people --status-table s" \
		"--db $URL --table people --skip" \
		"--db $URL --table people --key ,id --mode upsert" \
		"--db $URL --table people - -"; do
		# shellcheck disable=SC2086
		run --separate-stderr db-load $args
		assert_failure 2
		[ -z "$output" ]
		[[ "$stderr" == "db-load: "* ]]
		[[ "$stderr" == *"usage: db-load"* ]]
	done
}

@test "appends records with NULLs, non-ASCII text and SQL in values" {
	run --separate-stderr db-load --db "$URL" --table people -v \
		"$FIX/db-load/people.ndjson"
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"3 rows loaded into 'people' (append)"* ]]
	run dump
	assert_output "$(cat <<'EOF'
1|'Zoë Núñez'|12.5|1|'2001-02-03'|NULL|'dflt'
2|'O''Brien, Siobhán'|0|0|NULL|'x''); DROP TABLE people; --'|'dflt'
3|'山田 美咲'|NULL|NULL|'1999-12-31'|'tab	here
new line \ back'|'dflt'
99|'old row'|NULL|NULL|NULL|NULL|'dflt'
EOF
)"
}

@test "CSV input loads the same rows, an empty field as NULL" {
	run --separate-stderr db-load --db "$URL" --table people \
		"$FIX/db-load/people.csv"
	assert_success
	run dump
	assert_line --index 0 "1|'Zoë Núñez'|12.5|'true'|'2001-02-03'|NULL|'dflt'"
	assert_line --index 2 "3|'山田 美咲'|NULL|NULL|'1999-12-31'|'tab	here"
	[ "$(q 'SELECT count(*) FROM people WHERE note IS NULL')" = 2 ]
}

@test "replace empties and refills the table" {
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace <"$FIX/db-load/people.ndjson"
	assert_success
	[ "$(q 'SELECT group_concat(id) FROM people')" = 1,2,3 ]
}

@test "replace refuses empty input unless --allow-empty (and --max-shrink 100 for a table with rows)" {
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace </dev/null
	assert_failure 3
	[[ "$stderr" == *"refusing to empty table 'people'"*"--allow-empty"* ]]
	[ "$(q 'SELECT count(*) FROM people')" = 1 ]
	# --allow-empty alone does not wipe rows: the shrink limit still holds.
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --allow-empty </dev/null
	assert_failure 3
	[ "$stderr" = "db-load: refusing to replace the 1 rows of table 'people' with 0: --max-shrink 50 allows no fewer than 1 (nothing was changed)" ]
	[ "$(q 'SELECT count(*) FROM people')" = 1 ]
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --allow-empty --max-shrink 100 </dev/null
	assert_success
	[ "$(q 'SELECT count(*) FROM people')" = 0 ]
	# An empty table may stay empty.
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --allow-empty </dev/null
	assert_success
}

# 1000 rows, ids 1..1000.
fill_1000() {
	q "DELETE FROM people; WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL
		SELECT n + 1 FROM c WHERE n < 1000)
		INSERT INTO people (id, name) SELECT n, 'p' || n FROM c"
}

# N records, ids 1..N.
records() {
	seq 1 "$1" | sed 's/.*/{"id":&,"name":"n&"}/'
}

@test "replace refuses to shrink 1000 rows to 3, rolls back and records the refusal" {
	fill_1000
	records 3 >"$BATS_TEST_TMPDIR/in.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --status-table load_status --job nightly \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "db-load: refusing to replace the 1000 rows of table 'people' with 3: --max-shrink 50 allows no fewer than 500 (nothing was changed)" ]
	[ "$(q 'SELECT count(*), min(name) FROM people')" = "1000|p1" ]
	run q "SELECT job, table_name, status, rows, message FROM load_status"
	assert_output "nightly|people|refused|0|refusing to replace the 1000 rows of table 'people' with 3: --max-shrink 50 allows no fewer than 500 (nothing was changed)"
}

@test "--max-shrink sets the limit: 50 lets 1000 become 500, not 499; 100 allows anything" {
	fill_1000
	records 499 >"$BATS_TEST_TMPDIR/499.ndjson"
	records 500 >"$BATS_TEST_TMPDIR/500.ndjson"
	records 3 >"$BATS_TEST_TMPDIR/3.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace "$BATS_TEST_TMPDIR/499.ndjson"
	assert_failure 3
	[ "$(q 'SELECT count(*) FROM people')" = 1000 ]
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --max-shrink 50 "$BATS_TEST_TMPDIR/500.ndjson"
	assert_success
	[ "$(q 'SELECT count(*) FROM people')" = 500 ]
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --max-shrink 99 "$BATS_TEST_TMPDIR/3.ndjson"
	assert_failure 3
	[[ "$stderr" == *"with 3: --max-shrink 99 allows no fewer than 5 "* ]]
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --max-shrink 100 "$BATS_TEST_TMPDIR/3.ndjson"
	assert_success
	[ "$(q 'SELECT count(*) FROM people')" = 3 ]
	# Growing is always fine, and append and upsert never shrink.
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --max-shrink 0 "$BATS_TEST_TMPDIR/500.ndjson"
	assert_success
}

@test "--max-shrink takes a percentage from 0 to 100" {
	for v in 101 -1 x 5%; do
		run --separate-stderr db-load --db "$URL" --table people \
			--mode replace --max-shrink "$v" </dev/null
		assert_failure 2
		[[ "$stderr" == *"--max-shrink"* ]]
	done
	[ "$(q 'SELECT count(*) FROM people')" = 1 ]
}

@test "append of empty input changes nothing and succeeds" {
	run --separate-stderr db-load --db "$URL" --table people </dev/null
	assert_success
	[ "$(q 'SELECT count(*) FROM people')" = 1 ]
}

@test "a bad record in the middle rolls back a replace: the old rows stay" {
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace "$FIX/db-load/bad-middle.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "db-load: $FIX/db-load/bad-middle.ndjson:3: "* ]]
	[ "$(q 'SELECT group_concat(id) FROM people')" = 99 ]
}

@test "a constraint violation rolls back, naming the record's line" {
	printf '{"id":5,"name":"five"}\n{"id":99,"name":"clash"}\n' \
		>"$BATS_TEST_TMPDIR/in.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 65
	[[ "$stderr" == *"in.ndjson:2: SQL error: UNIQUE constraint failed: people.id"* ]]
	printf '{"id":6,"name":null}\n' | {
		run --separate-stderr db-load --db "$URL" --table people
		assert_failure 65
		[[ "$stderr" == *"stdin:1: SQL error: NOT NULL constraint"* ]]
	}
	[ "$(q 'SELECT group_concat(id) FROM people')" = 99 ]
}

@test "upsert updates and inserts on the key; twice is the same as once" {
	db-load --db "$URL" --table people "$FIX/db-load/people.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		--mode upsert --key id "$FIX/db-load/upsert.ndjson"
	assert_success
	local once
	once=$(dump)
	[[ "$once" == *"2|'Siobhán O''Brien'|4|0|NULL|'x''); DROP TABLE people; --'|'dflt'"* ]]
	[[ "$once" == *"4|'new four'|1.25|NULL|NULL|NULL|'dflt'"* ]]
	[ "$(q 'SELECT count(*) FROM people')" = 5 ]
	db-load --db "$URL" --table people --mode upsert --key id \
		"$FIX/db-load/upsert.ndjson"
	[ "$(dump)" = "$once" ]
}

@test "upsert without a unique index on the key is refused by the database" {
	sqlite3 "$DB" "CREATE TABLE loose (id INTEGER, name TEXT, credits NUMERIC)"
	run --separate-stderr db-load --db "$URL" --table loose \
		--mode upsert --key id "$FIX/db-load/upsert.ndjson"
	assert_failure 65
	[[ "$stderr" == *"ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint"* ]]
	[ "$(q 'SELECT count(*) FROM loose')" = 0 ]
}

@test "upsert refuses a key that repeats or is missing" {
	run --separate-stderr db-load --db "$URL" --table people \
		--mode upsert --key id "$FIX/db-load/dup-id.ndjson"
	assert_failure 65
	[[ "$stderr" == *"dup-id.ndjson:3: the key of this record repeats the record of line 1"* ]]
	printf '{"id":7,"name":"x"}\n{"name":"no id"}\n' | {
		run --separate-stderr db-load --db "$URL" --table people \
			--mode upsert --key id
		assert_failure 65
		[[ "$stderr" == *"stdin:2: key field 'id' is missing or null"* ]]
	}
	[ "$(q 'SELECT group_concat(id) FROM people')" = 99 ]
}

@test "fields the table lacks are named; --ignore-extra leaves them out" {
	run --separate-stderr db-load --db "$URL" --table people \
		"$FIX/db-load/extra.ndjson"
	assert_failure 65
	[[ "$stderr" == *"extra.ndjson:1: table 'people' has no column for fields 'avatar', 'score' (use --ignore-extra to leave them out)"* ]]
	[ "$(q 'SELECT count(*) FROM people')" = 1 ]
	run --separate-stderr db-load --db "$URL" --table people \
		--ignore-extra "$FIX/db-load/extra.ndjson"
	assert_success
	[ "$(q "SELECT group_concat(name || '/' || added) FROM people WHERE id BETWEEN 30 AND 40")" = "thirty/dflt,thirty-one/dflt" ]
}

@test "a later record's unknown field is named with its line" {
	printf '{"id":1,"name":"a"}\n{"id":2,"name":"b","zzz":1}\n' | {
		run --separate-stderr db-load --db "$URL" --table people
		assert_failure 65
		[[ "$stderr" == *"stdin:2: field 'zzz' is not a column of table 'people'"* ]]
	}
	printf '{"id":1,"name":"a"}\n{"id":2,"name":"b","note":"n"}\n' | {
		run --separate-stderr db-load --db "$URL" --table people
		assert_failure 65
		[[ "$stderr" == *"stdin:2: field 'note' was not in the first record"* ]]
	}
	[ "$(q 'SELECT count(*) FROM people')" = 1 ]
}

@test "--create makes the table from the first record, with --types and --key" {
	run --separate-stderr db-load --db "$URL" --table courses --create \
		--types id=int,start=date,open=bool --key id -v \
		"$BATS_TEST_DIRNAME/../fixtures/db-load/people.ndjson"
	assert_failure 65
	[[ "$stderr" == *"--types names 'start', which the first record does not have"* ]]
	printf '{"id":1,"title":"Algebra","start":"2024-09-01","open":true}\n{"id":2,"title":"Ökologie"}\n' | {
		run --separate-stderr db-load --db "$URL" --table courses \
			--create --types id=int,start=date,open=bool --key id -v
		assert_success
		[[ "$stderr" == *"created table 'courses'"* ]]
	}
	run q "SELECT sql FROM sqlite_master WHERE name = 'courses'"
	assert_output 'CREATE TABLE "courses" ("id" INTEGER NOT NULL, "title" TEXT, "start" DATE, "open" BOOLEAN, PRIMARY KEY ("id"))'
	[ "$(q "SELECT quote(id), quote(title), quote(open) FROM courses ORDER BY id" | tr '\n' ' ')" = "1|'Algebra'|1 2|'Ökologie'|NULL " ]
	# A second run finds the table and appends.
	printf '{"id":3,"title":"c"}\n' | db-load --db "$URL" --table courses --create
	[ "$(q 'SELECT count(*) FROM courses')" = 3 ]
}

@test "--create with an unknown type is a usage error" {
	printf '{"id":1}\n' | {
		run --separate-stderr db-load --db "$URL" --table t2 --create \
			--types id=blob
		assert_failure 2
		[[ "$stderr" == *"unknown type 'blob'"* ]]
	}
}

@test "a missing table is an error without --create; a missing file is 66" {
	run --separate-stderr db-load --db "$URL" --table nope \
		"$FIX/db-load/people.ndjson"
	assert_failure 65
	[[ "$stderr" == *"no such table: nope"* ]]
	run --separate-stderr db-load --db "$URL" --table people \
		"$BATS_TEST_TMPDIR/missing.ndjson"
	assert_failure 66
}

@test "identifiers with quotes and SQL in them are harmless" {
	sqlite3 "$DB" "CREATE TABLE y (a TEXT); INSERT INTO y VALUES ('keep')"
	printf '{"id":1,"we\\"ird; DROP TABLE y; --":"v"}\n' | {
		run --separate-stderr db-load --db "$URL" \
			--table 'x"; DROP TABLE y; --' --create
		assert_success
	}
	[ "$(q 'SELECT a FROM y')" = keep ]
	[ "$(q 'SELECT "we""ird; DROP TABLE y; --" FROM "x""; DROP TABLE y; --"')" = v ]
	# An unknown column with a quote is named, not run.
	printf '{"id":1,"x\\" TEXT); DROP TABLE y; --":"v"}\n' | {
		run --separate-stderr db-load --db "$URL" --table people
		assert_failure 65
	}
	[ "$(q 'SELECT a FROM y')" = keep ]
}

@test "the status row is written on success, failure and --skip" {
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --status-table load_status --job nightly \
		"$FIX/db-load/people.ndjson"
	assert_success
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --status-table load_status --job nightly \
		"$FIX/db-load/bad-middle.ndjson"
	assert_failure 65
	run --separate-stderr db-load --db "$URL" --table people \
		--status-table load_status --job off --skip
	assert_success
	run q "SELECT job, table_name, status, rows, message FROM load_status ORDER BY rowid"
	assert_line --index 0 "nightly|people|successful|3|3 rows (replace)"
	assert_line --index 1 --partial "nightly|people|failed|0|$FIX/db-load/bad-middle.ndjson:3: "
	assert_line --index 2 "off|people|skipped|0|skipped (--skip)"
	[ "${#lines[@]}" -eq 3 ]
	run q "SELECT count(*) FROM load_status WHERE started_at <= finished_at
		AND finished_at LIKE '20__-__-__ __:__:__'"
	assert_output 3
	[ "$(q 'SELECT group_concat(id) FROM people')" = 1,2,3 ]
}

@test "a password in the URL is refused; a readable password file too" {
	run --separate-stderr db-load --db "postgres://u:pw@127.0.0.1/x" \
		--table t "$FIX/db-load/people.ndjson"
	assert_failure 78
	[[ "$stderr" != *pw@* ]]
	printf 'secret\n' >"$BATS_TEST_TMPDIR/pw"
	chmod 644 "$BATS_TEST_TMPDIR/pw"
	run --separate-stderr db-load --db "$URL" --table people \
		--password-file "$BATS_TEST_TMPDIR/pw" "$FIX/db-load/people.ndjson"
	assert_failure 77
}

@test "100k records load in one transaction" {
	seq 1 100000 | awk '{ printf "{\"id\":%d,\"name\":\"Zoë %d\",\"credits\":%d.5}\n", $1 + 100, $1, $1 }' \
		>"$BATS_TEST_TMPDIR/big.ndjson"
	run --separate-stderr db-load --db "$URL" --table people --mode replace \
		"$BATS_TEST_TMPDIR/big.ndjson"
	assert_success
	[ "$(q 'SELECT count(*), sum(id), min(name) FROM people')" = "100000|5010050000|Zoë 1" ]
}

@test "a semicolon CSV in Windows-1252 loads the same rows" {
	python3 -c 'import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
rows = [r for r in rows if "山田" not in r[1]]
with open(sys.argv[2], "w", newline="", encoding="cp1252") as f:
    csv.writer(f, delimiter=";").writerows(rows)' \
	    "$FIX/db-load/people.csv" "$BATS_TEST_TMPDIR/people.csv"
	run --separate-stderr db-load --db "$URL" --table people \
		--delimiter ';' --encoding WINDOWS-1252 "$BATS_TEST_TMPDIR/people.csv"
	assert_success
	run dump
	assert_line --index 0 "1|'Zoë Núñez'|12.5|'true'|'2001-02-03'|NULL|'dflt'"
	assert_line --index 1 "2|'O''Brien, Siobhán'|0|'false'|NULL|'x''); DROP TABLE people; --'|'dflt'"
}

# --- one flag vocabulary (issue 17, items 6 and 7) ---

@test "several inputs load in order in one transaction; '-' is stdin; -k is --key" {
	printf '{"id":10,"name":"a"}\n{"id":11,"name":"b"}\n' >"$BATS_TEST_TMPDIR/1.ndjson"
	printf 'id,name\n12,c\n' >"$BATS_TEST_TMPDIR/2.csv"
	run --separate-stderr bash -c "printf '{\"id\":13,\"name\":\"d\"}\n' |
	    db-load --db '$URL' --table people '$BATS_TEST_TMPDIR/1.ndjson' - '$BATS_TEST_TMPDIR/2.csv'"
	assert_success
	[ -z "$stderr" ]
	run q "SELECT id, name FROM people WHERE id BETWEEN 10 AND 13 ORDER BY id"
	assert_output "$(printf '10|a\n11|b\n12|c\n13|d')"
	# a bad record in the second input: nothing of the first is loaded
	printf '{"id":20,"name":"e"}\n' >"$BATS_TEST_TMPDIR/3.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		"$BATS_TEST_TMPDIR/3.ndjson" "$FIX/db-load/bad-middle.ndjson"
	assert_failure 65
	[[ "$stderr" == "db-load: $FIX/db-load/bad-middle.ndjson:"* ]]
	run q "SELECT count(*) FROM people WHERE id = 20"
	assert_output 0
	# a missing second input: 66, nothing loaded
	run --separate-stderr db-load --db "$URL" --table people \
		"$BATS_TEST_TMPDIR/3.ndjson" "$BATS_TEST_TMPDIR/none"
	assert_failure 66
	run q "SELECT count(*) FROM people WHERE id = 20"
	assert_output 0
	# a key repeated across inputs names the input of the first
	run --separate-stderr db-load --db "$URL" --table people --mode upsert \
		-k id "$BATS_TEST_TMPDIR/3.ndjson" "$BATS_TEST_TMPDIR/3.ndjson"
	assert_failure 65
	[ "$stderr" = "db-load: $BATS_TEST_TMPDIR/3.ndjson:1: the key of this record repeats the record of $BATS_TEST_TMPDIR/3.ndjson:1" ]
}

@test "deprecated -i and --input-format warn and still work; -f does not warn" {
	printf 'id,name\n30,x\n' >"$BATS_TEST_TMPDIR/in.txt"
	run --separate-stderr db-load --db "$URL" --table people -i csv "$BATS_TEST_TMPDIR/in.txt"
	assert_success
	[ "$stderr" = "db-load: warning: option '-i' is deprecated: use -f/--from" ]
	run --separate-stderr db-load --db "$URL" --table people --mode upsert --key id \
		--input-format csv "$BATS_TEST_TMPDIR/in.txt"
	assert_success
	[ "$stderr" = "db-load: warning: option '--input-format' is deprecated: use -f/--from" ]
	run --separate-stderr db-load --db "$URL" --table people --mode upsert -k id \
		-f csv "$BATS_TEST_TMPDIR/in.txt"
	assert_success
	[ -z "$stderr" ]
	run q "SELECT id, name FROM people WHERE id = 30"
	assert_output "30|x"
}

@test "--exec runs one statement and loads nothing; a failing one is 65 with the reason" {
	run --separate-stderr db-load --db "$URL" --exec "UPDATE people SET note = 'refreshed' WHERE id = 99"
	assert_success
	[ -z "$output" ]
	run q "SELECT note FROM people WHERE id = 99"
	assert_output refreshed
	run --separate-stderr db-load --db "$URL" --exec "REFRESH MATERIALIZED VIEW nosuch"
	assert_failure 65
	[[ "$stderr" == "db-load: SQL error: "*syntax* ]]
	run --separate-stderr db-load --db "$URL" --exec "DELETE FROM people" --table people
	assert_failure 2
	[[ "$stderr" == *"--exec takes a statement, and no --table, --tables, --migrate, --job-run, --status-table or FILE"* ]]
	run --separate-stderr db-load --db "$URL" --exec "DELETE FROM people" --migrate "$BATS_TEST_TMPDIR"
	assert_failure 2
	[[ "$stderr" == *"--exec takes a statement, and no --table, --tables, --migrate"* ]]
	run --separate-stderr db-load --db "$URL" --exec "DELETE FROM people" "$BATS_TEST_TMPDIR/x.ndjson"
	assert_failure 2
	run q "SELECT count(*) FROM people"
	assert_output 1
}
