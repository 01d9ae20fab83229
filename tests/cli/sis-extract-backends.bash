# sis-extract-backends.bash - the behaviour tests every database backend
# passes, written once.  A backend's .bats file `load`s this, starts its
# server in setup_file, creates the table `people` below, sets the
# variables, and has one @test line per function, e.g.
#   @test "types" { be_types; }
#
# Variables (exported by the .bats file's setup_file):
#   URL          the database URL
#   SIS_PASSWORD the password (empty: the backend has no login)
#   URL_DOWN     a URL of the same kind where nothing answers
#   BAD_COLUMN   the server's text for "SELECT nosuch FROM people"
#   LATE_ERROR   a query that fails after at least 1000 rows
#   NUL_QUERY    (be_nul) a query whose second row has a NUL character in
#                the text column x, at its byte 2
#   SLOW_QUERY   (be_timeout) a query that takes the server 10 s or more
#
# The table, in the backend's own types:
#   people(id integer, big bigint, name varchar(100), credits decimal(30,10),
#          active boolean, born date, added timestamp, ratio double,
#          note varchar(50))
# with the rows
#   (1, 9007199254740993, 'Zoë Núñez', 12345678901234567890.0123456789,
#    true, '2001-02-03', '2021-01-04 09:05:06', 0.1, NULL),
#   (2, NULL, 'O''Brien, Siobhán', 0.1, false, NULL, NULL, NULL, 'x, "y"'),
#   (3, -5, '山田 美咲 😀', NULL, NULL, '1999-12-31',
#    '2020-02-29 23:59:59.5', 2.5, '')
# EXP_PEOPLE may override what `SELECT * FROM people` gives (a backend
# that cannot hold an exact decimal, say); the default is what every
# server with real types returns.

EXP_PEOPLE_DEFAULT='{"id":1,"big":9007199254740993,"name":"Zoë Núñez","credits":"12345678901234567890.0123456789","active":true,"born":"2001-02-03","added":"2021-01-04T09:05:06","ratio":0.1,"note":null}
{"id":2,"big":null,"name":"O'"'"'Brien, Siobhán","credits":"0.1000000000","active":false,"born":null,"added":null,"ratio":null,"note":"x, \"y\""}
{"id":3,"big":-5,"name":"山田 美咲 😀","credits":null,"active":null,"born":"1999-12-31","added":"2020-02-29T23:59:59.5","ratio":2.5,"note":""}'

be_types() {
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT * FROM people ORDER BY id'
	assert_success
	assert_output "${EXP_PEOPLE:-$EXP_PEOPLE_DEFAULT}"
	[ -z "$stderr" ]
}

be_csv() {
	run --separate-stderr sis-extract --db "$URL" -t csv \
		--sql 'SELECT id, big, note FROM people ORDER BY id'
	assert_success
	assert_output "$(printf 'id,big,note\n1,9007199254740993,\n2,,"x, ""y"""\n3,-5,')"
	# An empty result still has its header.
	run --separate-stderr sis-extract --db "$URL" -t csv \
		--sql 'SELECT id, name FROM people WHERE id < 0'
	assert_success
	assert_output 'id,name'
}

be_params() {
	# :n, :id, then :n again: a name used twice binds twice.
	run --separate-stderr sis-extract --db "$URL" \
		--sql "SELECT id, :n AS again FROM people WHERE id = :id
			OR name = :n ORDER BY id" \
		--param id=3 --param 'n=Zoë Núñez'
	assert_success
	assert_output "$(printf '{"id":1,"again":"Zoë Núñez"}\n{"id":3,"again":"Zoë Núñez"}')"
	# An empty value is an empty string, not NULL.
	run --separate-stderr sis-extract --db "$URL" \
		--sql "SELECT id FROM people WHERE note = :v" --param v=
	assert_success
	assert_output '{"id":3}'
}

be_injection() {
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT id FROM people WHERE name = :v' \
		--param "v=x'); DROP TABLE people; --"
	assert_success
	assert_output ''
	run --separate-stderr sis-extract --db "$URL" \
		--sql "SELECT :v AS v FROM people WHERE id = 1" \
		--param "v=x' OR '1'='1"
	assert_success
	assert_output "{\"v\":\"x' OR '1'='1\"}"
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT count(*) AS n FROM people'
	assert_success
	assert_output '{"n":3}'
}

be_long_utf8() {
	# Longer than any first fetch buffer, with 2- and 4-byte characters.
	local v
	v=$(printf 'é%.0s' $(seq 30000))😀$(printf 'ab%.0s' $(seq 5000))
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT :v AS v FROM people WHERE id = 1' --param "v=$v"
	assert_success
	[ "$output" = "{\"v\":\"$v\"}" ]
}

be_stream() {
	run --separate-stderr sis-extract --db "$URL" -v --sql \
		'WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g
		 WHERE n < 100000) SELECT n, n * 2 AS twice FROM g ORDER BY n'
	assert_success
	[ "${#lines[@]}" -eq 100000 ]
	[ "${lines[0]}" = '{"n":1,"twice":2}' ]
	[ "${lines[99999]}" = '{"n":100000,"twice":200000}' ]
	[ "$stderr" = "sis-extract: 100000 records" ]
}

be_wrong_password() {
	SIS_PASSWORD=wrong-pw-4711 run --separate-stderr sis-extract \
		--db "$URL" --sql 'SELECT 1 AS x'
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == "sis-extract: cannot connect to '$URL': "* ]]
	[[ "$stderr" != *wrong-pw-4711* ]]
}

be_password_file() {
	printf '%s\n' "$SIS_PASSWORD" >"$BATS_TEST_TMPDIR/pw"
	chmod 600 "$BATS_TEST_TMPDIR/pw"
	run --separate-stderr env -u SIS_PASSWORD sis-extract --db "$URL" \
		--password-file "$BATS_TEST_TMPDIR/pw" \
		--sql 'SELECT count(*) AS n FROM people'
	assert_success
	assert_output '{"n":3}'
}

be_unreachable() {
	run --separate-stderr sis-extract --db "$URL_DOWN" --sql 'SELECT 1 AS x'
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == "sis-extract: cannot connect to '$URL_DOWN': "* ]]
}

be_sql_error() {
	run --separate-stderr sis-extract --db "$URL" \
		--sql 'SELECT nosuch FROM people'
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "sis-extract: SQL error: "*"$BAD_COLUMN"* ]]
}

be_late_error() {
	mkdir "$BATS_TEST_TMPDIR/o"
	run --separate-stderr sis-extract --db "$URL" -v \
		--output "$BATS_TEST_TMPDIR/o/out.ndjson" --sql "$LATE_ERROR"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"SQL error: "* ]]
	[[ "$stderr" != *records* ]]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
}

# A NUL in a text value: refused where the data comes from (every edpipe
# reader would refuse it later), naming the row and the column.
be_nul() {
	mkdir "$BATS_TEST_TMPDIR/o"
	run --separate-stderr sis-extract --db "$URL" -v \
		--output "$BATS_TEST_TMPDIR/o/out.ndjson" --sql "$NUL_QUERY"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"row 2, column 'x': the value holds a NUL character at byte 2"* ]]
	[[ "$stderr" != *records* ]]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
	run --separate-stderr sis-extract --db "$URL" -t csv --sql "$NUL_QUERY"
	assert_failure 65
	[ -z "$output" ]
}

# A statement slower than --timeout ends the run with 75, soon, and
# passes nothing on.
be_timeout() {
	local t0=$SECONDS
	run --separate-stderr timeout 60 sis-extract --db "$URL" --timeout 1 \
		--sql "$SLOW_QUERY"
	assert_failure 75
	[ -z "$output" ]
	[[ "$stderr" == *"timed out"*"--timeout 1"* ]]
	[ $((SECONDS - t0)) -lt 8 ]
}
