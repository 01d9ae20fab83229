# db-load-backends.bash - the db-load behaviour tests every database
# backend passes, written once (as sis-extract-backends.bash is for
# sis-extract).  A backend's .bats file `load`s this, starts its server in
# setup_file, exports the variables, defines the hooks, calls bl_reset in
# setup() and has one @test line per function, e.g.
#   @test "types" { bl_types; }
#
# Variables (exported by the .bats file's setup_file):
#   URL            the database URL
#   SIS_PASSWORD   the password (empty: the backend has no login)
#   URL_DOWN       a URL of the same kind where nothing answers
#   T_DEC T_BOOL T_TS  the backend's types for decimal(30,2), boolean and
#                  timestamp (a backend without an exact decimal type may
#                  give a text type: the test is that digits are kept)
#   NOT_NULL_ERR   the server's words for a NULL in a NOT NULL column
# Hooks:
#   bl_exec        run the SQL on stdin as the table owner, with the
#                  backend's own client (double quotes are identifiers)
#   bl_query SQL   print the rows of SQL as NDJSON (default: sis-extract
#                  through $URL, the reading half tested on its own)

bl_query() {
	sis-extract --db "$URL" --sql "$1"
}

# people(id, name NOT NULL, credits, active, born, added, note, dflt)
# with one old row; no y, no odd table, no status table.
bl_reset() {
	bl_exec <<EOF
DROP TABLE IF EXISTS people;
DROP TABLE IF EXISTS y;
DROP TABLE IF EXISTS load_status;
DROP TABLE IF EXISTS "x""; DROP TABLE y; --";
CREATE TABLE people (id integer PRIMARY KEY, name varchar(100) NOT NULL,
  credits $T_DEC, active $T_BOOL, born date, added $T_TS, note text,
  dflt varchar(10) DEFAULT 'dflt');
INSERT INTO people (id, name) VALUES (99, 'old row');
CREATE TABLE y (a varchar(10));
INSERT INTO y VALUES ('keep');
EOF
	cat >"$BATS_TEST_TMPDIR/in.ndjson" <<'EOF'
{"id":1,"name":"Zoë Núñez 😀 山田","credits":"12345678901234567890.01","active":true,"born":"2001-02-03","added":"2021-01-04 09:05:06","note":null}
{"id":2,"name":"x'); DROP TABLE people; --","credits":"0.10","active":false,"born":null,"added":null,"note":""}
{"id":3,"name":"O'Brien \"Ó\" \\ 𝄞","credits":"-2.50","active":null,"note":"a\tb\\c\nd"}
EOF
}

BL_OLD='{"id":99,"name":"old row","credits":null,"active":null,"born":null,"added":null,"note":null,"dflt":"dflt"}'

bl_dump() {
	bl_query 'SELECT * FROM people ORDER BY id'
}

# Every type, NULL next to '', UTF-8 beyond the BMP and SQL in values;
# a column no record names keeps its default.
bl_types() {
	run --separate-stderr db-load --db "$URL" --table people -v \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"3 rows loaded into 'people' (append)"* ]]
	run bl_dump
	assert_output '{"id":1,"name":"Zoë Núñez 😀 山田","credits":"12345678901234567890.01","active":true,"born":"2001-02-03","added":"2021-01-04T09:05:06","note":null,"dflt":"dflt"}
{"id":2,"name":"x'"'"'); DROP TABLE people; --","credits":"0.10","active":false,"born":null,"added":null,"note":"","dflt":"dflt"}
{"id":3,"name":"O'"'"'Brien \"Ó\" \\ 𝄞","credits":"-2.50","active":null,"born":null,"added":null,"note":"a\tb\\c\nd","dflt":"dflt"}
'"$BL_OLD"
	run bl_query "SELECT count(*) AS n FROM people WHERE note IS NULL"
	assert_output '{"n":2}'
}

# Quotes and SQL in the table's and a column's name are only names.
bl_identifiers() {
	printf '{"id":"1","we\\"ird; --":"v'"'"'); DROP TABLE y; --"}\n' | {
		run --separate-stderr db-load --db "$URL" \
			--table 'x"; DROP TABLE y; --' --create --key id \
			--mode upsert
		assert_success
		[ -z "$output" ]
	}
	run bl_query 'SELECT a FROM y'
	assert_output '{"a":"keep"}'
	run bl_query 'SELECT "we""ird; --" AS v FROM "x""; DROP TABLE y; --"'
	assert_output "{\"v\":\"v'); DROP TABLE y; --\"}"
}

# A bad row among many (past the first batch of a batching backend):
# nothing of the load stays, replace keeps the old rows, and the message
# names the input line.  Then the same load without the bad row replaces.
bl_rollback() {
	local f=$BATS_TEST_TMPDIR/many.ndjson
	seq 1 1100 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' >"$f"
	echo '{"id":1101,"name":null}' >>"$f"
	seq 1102 1200 | awk '{ printf "{\"id\":%d,\"name\":\"n%d\"}\n", $1, $1 }' >>"$f"
	run --separate-stderr db-load --db "$URL" --table people --mode replace "$f"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "db-load: $f:1101: SQL error: "*"$NOT_NULL_ERR"* ]]
	run bl_dump
	assert_output "$BL_OLD"
	# A clash with a row of the table is found at its line too.
	printf '{"id":5,"name":"five"}\n{"id":6,"name":"six"}\n{"id":99,"name":"clash"}\n' \
		>"$BATS_TEST_TMPDIR/clash.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		"$BATS_TEST_TMPDIR/clash.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "db-load: $BATS_TEST_TMPDIR/clash.ndjson:3: SQL error: "* ]]
	run bl_dump
	assert_output "$BL_OLD"
	sed -i '1101d' "$f"
	run --separate-stderr db-load --db "$URL" --table people --mode replace "$f"
	assert_success
	run bl_query 'SELECT count(*) AS n, max(id) AS mx, min(name) AS lo FROM people'
	assert_output '{"n":1199,"mx":1200,"lo":"n1"}'
}

# A bad record in the middle of the first parameter array (record 500 of
# a batch of 1000, a key the table holds already) and another later: the
# first is named by its CSV line, and nothing of the load is committed.
bl_mid_batch() {
	local f=$BATS_TEST_TMPDIR/mid.csv
	{
		echo id,name
		seq 1001 1499 | awk '{ printf "%d,n%d\n", $1, $1 }'
		echo '99,clash'
		seq 1501 2199 | awk '{ printf "%d,n%d\n", $1, $1 }'
		echo '1001,again'
		seq 2201 2500 | awk '{ printf "%d,n%d\n", $1, $1 }'
	} >"$f"
	run --separate-stderr db-load --db "$URL" --table people "$f"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "db-load: $f:501: SQL error: "* ]]
	run bl_dump
	assert_output "$BL_OLD"
}

# Upsert updates on the key and inserts the rest; twice is once.
bl_upsert() {
	db-load --db "$URL" --table people "$BATS_TEST_TMPDIR/in.ndjson"
	printf '%s\n' '{"id":1,"name":"new one","active":false}' \
		'{"id":5,"name":"five","active":true}' >"$BATS_TEST_TMPDIR/up.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		--mode upsert --key id "$BATS_TEST_TMPDIR/up.ndjson"
	assert_success
	[ -z "$output" ]
	local once
	once=$(bl_query 'SELECT id, name, credits, active FROM people ORDER BY id')
	[ "$once" = '{"id":1,"name":"new one","credits":"12345678901234567890.01","active":false}
{"id":2,"name":"x'"'"'); DROP TABLE people; --","credits":"0.10","active":false}
{"id":3,"name":"O'"'"'Brien \"Ó\" \\ 𝄞","credits":"-2.50","active":null}
{"id":5,"name":"five","credits":null,"active":true}
{"id":99,"name":"old row","credits":null,"active":null}' ]
	run --separate-stderr db-load --db "$URL" --table people \
		--mode upsert --key id "$BATS_TEST_TMPDIR/up.ndjson"
	assert_success
	run bl_query 'SELECT id, name, credits, active FROM people ORDER BY id'
	assert_output "$once"
	# A table of key columns only: an existing pair stays one row.
	printf '%s\n' '{"c":1,"u":1}' '{"c":1,"u":2}' >"$BATS_TEST_TMPDIR/k1.ndjson"
	printf '%s\n' '{"c":1,"u":2}' '{"c":2,"u":1}' >"$BATS_TEST_TMPDIR/k2.ndjson"
	for f in k1 k2 k2; do
		run --separate-stderr db-load --db "$URL" --table pairs --create \
			--types c=int,u=int --mode upsert --key c,u \
			"$BATS_TEST_TMPDIR/$f.ndjson"
		assert_success
	done
	run bl_query 'SELECT c, u FROM pairs ORDER BY c, u'
	assert_output $'{"c":1,"u":1}\n{"c":1,"u":2}\n{"c":2,"u":1}'
}

# The status row after a load that committed and one that rolled back
# (the failed one names the bad line); the table was created for it.
bl_status() {
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --status-table load_status --job nightly \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_success
	printf '{"id":7,"name":"seven"}\n{"id":8}\n{"id":9,"name":null}\n' \
		>"$BATS_TEST_TMPDIR/bad.ndjson"
	run --separate-stderr db-load --db "$URL" --table people \
		--mode replace --status-table load_status --job nightly \
		"$BATS_TEST_TMPDIR/bad.ndjson"
	assert_failure 65
	[ -z "$output" ]
	run bl_query 'SELECT job, table_name, status, "rows" AS n, message
		FROM load_status ORDER BY status DESC'
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 0 '{"job":"nightly","table_name":"people","status":"successful","n":3,"message":"3 rows (replace)"}'
	[[ "${lines[1]}" == '{"job":"nightly","table_name":"people","status":"failed","n":0,"message":"'"$BATS_TEST_TMPDIR"'/bad.ndjson:2: SQL error: '* ]]
	run bl_query 'SELECT count(*) AS n FROM people'
	assert_output '{"n":3}'
}

bl_wrong_password() {
	SIS_PASSWORD=wrong-pw-4711 run --separate-stderr db-load --db "$URL" \
		--table people --status-table load_status --job j \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == "db-load: cannot connect to '$URL': "* ]]
	[[ "$stderr" != *wrong-pw-4711* ]]
	# The right password from an owner-only file.
	printf '%s\n' "$SIS_PASSWORD" >"$BATS_TEST_TMPDIR/pw"
	chmod 600 "$BATS_TEST_TMPDIR/pw"
	run --separate-stderr env -u SIS_PASSWORD db-load --db "$URL" \
		--table people --password-file "$BATS_TEST_TMPDIR/pw" \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_success
	run bl_query 'SELECT count(*) AS n FROM people'
	assert_output '{"n":4}'
}

bl_unreachable() {
	run --separate-stderr db-load --db "$URL_DOWN" --table people \
		"$BATS_TEST_TMPDIR/in.ndjson"
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == "db-load: cannot connect to '$URL_DOWN': "* ]]
}
