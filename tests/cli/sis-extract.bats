#!/usr/bin/env bats
# sis-extract against SQLite: options, parameters, types, the mapping,
# output formats and the error paths.  PostgreSQL: sis-extract-pg.bats.
load helper
bats_require_minimum_version 1.5.0

setup_file() {
	need sqlite3 python3
	export DB=$BATS_FILE_TMPDIR/small.db
	sqlite3 "$DB" <"$FIX/sis-extract/small.sql"
	export DEMO=$BATS_FILE_TMPDIR/demo.db
	"$ROOT/share/demo-sis/make-demo-sis" --students 300 --seed 7 "$DEMO"
	export Q=$ROOT/share/queries
}

@test "the common options behave as in every program" {
	common_cli_checks sis-extract
}

@test "writes rows with their types: numbers, strings, null, decimals, booleans, dates" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'SELECT * FROM t ORDER BY id'
	assert_success
	diff -u "$FIX/sis-extract/types.out.ndjson" <(printf '%s\n' "$output")
}

@test "writes CSV with null as an empty field and quoting where needed" {
	run --separate-stderr sis-extract --db "sqlite:$DB" -t csv \
		--sql 'SELECT id, name, credits, note FROM t ORDER BY id'
	assert_success
	assert_line --index 0 'id,name,credits,note'
	assert_line --index 1 '1,Zoë Núñez,3.5,'
	assert_line --index 2 '2,"O'"'"'Brien, Siobhán",12345678901234.25,"line one'
	[ "${lines[-1]}" = '3,山田 美咲,,' ]
}

@test "CSV of an empty result still has its header" {
	run --separate-stderr sis-extract --db "sqlite:$DB" -t csv \
		--sql 'SELECT id, name FROM t WHERE id < 0'
	assert_success
	assert_output 'id,name'
}

@test "stdout to a file, a pipe or a file opened for append: the same bytes" {
	# The spool reaches stdout by sendfile, or by stdio where sendfile
	# cannot write (a file opened with O_APPEND).
	local q='SELECT id, name FROM t ORDER BY id' o=$BATS_TEST_TMPDIR
	sis-extract --db "sqlite:$DB" --sql "$q" >"$o/file"
	sis-extract --db "sqlite:$DB" --sql "$q" | cat >"$o/pipe"
	echo first >"$o/app"
	sis-extract --db "sqlite:$DB" --sql "$q" >>"$o/app"
	sis-extract --db "sqlite:$DB" --sql "$q" >>"$o/app"
	[ "$(wc -l <"$o/file")" -gt 2 ]
	cmp "$o/file" "$o/pipe"
	cmp "$o/app" <(echo first; cat "$o/file" "$o/file")
}

@test "binds :name parameters and ignores :: casts, literals and comments" {
	run --separate-stderr sis-extract --db "sqlite:$DB" --param id=2 \
		--sql "SELECT id, ':x' AS lit, \"a:b\" AS q /* :y */ -- :z
		FROM (SELECT 1 AS \"a:b\", id FROM t) WHERE id = :id AND :id = id"
	assert_success
	assert_output '{"id":2,"lit":":x","q":1}'
}

@test "a parameter used but not given is a usage error" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'SELECT * FROM t WHERE id = :id AND name = :name' --param id=1
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"uses parameter ':name' but no value was given"* ]]
}

@test "a parameter given but not used is a usage error" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'SELECT * FROM t' --param term=2021WI
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"parameter 'term' is given but the query does not use ':term'"* ]]
}

@test "a malformed --param is a usage error" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'SELECT 1' --param 'no-equals'
	assert_failure 2
	[[ "$stderr" == *"expected NAME=VALUE"* ]]
}

@test "an injection attempt in a parameter comes back as data" {
	local v="x'); DROP TABLE t; --"
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'SELECT :v AS v, count(*) AS n FROM t' --param "v=$v"
	assert_success
	assert_output "{\"v\":\"x'); DROP TABLE t; --\",\"n\":3}"
	[ "$(sqlite3 "$DB" 'SELECT count(*) FROM t')" = 3 ]
}

@test "the database is opened read-only" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'DELETE FROM t'
	assert_failure 77
	[[ "$stderr" == *"readonly database"* ]]
	[ "$(sqlite3 "$DB" 'SELECT count(*) FROM t')" = 3 ]
}

@test "a SQL error exits 65 with the database's message and no output" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'SELECT nosuch FROM t'
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "sis-extract: SQL error: no such column: nosuch"* ]]
}

@test "more than one statement is refused" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'SELECT 1; SELECT 2'
	assert_failure 65
	[[ "$stderr" == *"more than one statement"* ]]
}

@test "two result columns of one name are refused" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'SELECT id, name AS id FROM t'
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"two columns named 'id'"* ]]
}

@test "invalid UTF-8 in a row fails the run and passes nothing on" {
	run --separate-stderr sis-extract --db "sqlite:$DB" --sql \
		"SELECT id, CASE id WHEN 3 THEN CAST(x'41ff' AS TEXT) ELSE name END AS n FROM t ORDER BY id"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"row 3, column 'n': not valid UTF-8 at byte 2"* ]]
	[[ "$stderr" != *records* ]]
}

@test "a NUL character in a text value exits 65 naming row and column" {
	mkdir "$BATS_TEST_TMPDIR/o"
	for f in ndjson csv dat; do
		run --separate-stderr sis-extract --db "sqlite:$DB" -t "$f" -v \
			--output "$BATS_TEST_TMPDIR/o/out.$f" --sql \
			"SELECT id, CASE id WHEN 2 THEN 'a' || char(0) || 'b' ELSE name END AS x FROM t ORDER BY id"
		assert_failure 65
		[ -z "$output" ]
		[[ "$stderr" == *"row 2, column 'x': the value holds a NUL character at byte 2"* ]]
		[[ "$stderr" != *records* ]]
	done
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
}

@test "a runaway recursive query on SQLite ends with 75 at --timeout" {
	local t0=$SECONDS
	run --separate-stderr timeout 60 sis-extract --db "sqlite:$DB" \
		--timeout 1 --sql 'WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL
		SELECT n + 1 FROM c) SELECT count(*) AS n FROM c'
	assert_failure 75
	[ -z "$output" ]
	[ "$stderr" = "sis-extract: the database timed out after 0 rows: the statement took more than 1 s (--timeout 1)" ]
	[ $((SECONDS - t0)) -lt 8 ]
}

@test "a SQLite lock held past --timeout exits 75" {
	# Another process holds the write lock; db-load waits for it as long
	# as --timeout allows, then gives up.
	sqlite3 "$BATS_TEST_TMPDIR/l.db" 'CREATE TABLE t (x)'
	python3 -c 'import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(20)' "$BATS_TEST_TMPDIR/l.db" >"$BATS_TEST_TMPDIR/lk" &
	local holder=$!
	local i
	for i in $(seq 1 100); do
		grep -q locked "$BATS_TEST_TMPDIR/lk" && break
		sleep 0.1
	done
	local t0=$SECONDS
	run --separate-stderr timeout 60 sis-extract --db "sqlite:$BATS_TEST_TMPDIR/l.db" \
		--timeout 1 --sql 'SELECT x FROM t'
	kill "$holder"
	assert_failure 75
	[ -z "$output" ]
	[[ "$stderr" == *"database is locked"* ]]
	[ $((SECONDS - t0)) -lt 4 ]
}

@test "--timeout takes a whole number of seconds, at least 1" {
	run --separate-stderr sis-extract --db "sqlite:$DB" --timeout 0 \
		--sql 'SELECT 1'
	assert_failure 2
	[[ "$stderr" == *"'--timeout' must be at least 1"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DB" --timeout 1s \
		--sql 'SELECT 1'
	assert_failure 2
}

@test "a result column whose name is not UTF-8 exits 65, even with no rows" {
	run --separate-stderr sis-extract --db "sqlite:$DB" -t csv \
		--sql "SELECT 1 AS \"a$(printf '\377')b\" WHERE 0"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "sis-extract: result column 1: the name is not valid UTF-8 (rename it with AS)" ]
}

@test "a NUL in a BLOB is fine: it comes out as hex digits" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql "SELECT x'610062' AS b"
	assert_success
	assert_output '{"b":"610062"}'
}

@test "a failed run leaves no --output file behind" {
	mkdir "$BATS_TEST_TMPDIR/o"
	run --separate-stderr sis-extract --db "sqlite:$DB" -v \
		--output "$BATS_TEST_TMPDIR/o/out.ndjson" --sql \
		"SELECT CASE id WHEN 2 THEN CAST(x'ff' AS TEXT) ELSE name END AS n FROM t ORDER BY id"
	assert_failure 65
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
	[[ "$stderr" != *records* ]]
}

@test "a missing SQLite file exits 66" {
	run --separate-stderr sis-extract --db "sqlite:$BATS_TEST_TMPDIR/no.db" \
		--sql 'SELECT 1'
	assert_failure 66
	[[ "$stderr" == *"cannot open SQLite database"*"no.db"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/no.db" ]
}

@test "a missing query file exits 66" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--query "$BATS_TEST_TMPDIR/none.sql"
	assert_failure 66
	[[ "$stderr" == *"cannot open query"* ]]
}

@test "a password in the URL is refused and not printed" {
	run --separate-stderr sis-extract \
		--db 'postgres://etl:hunter2@127.0.0.1/sis' --sql 'SELECT 1'
	assert_failure 78
	[[ "$stderr" == *"a password does not belong in the URL"* ]]
	[[ "$stderr" != *hunter2* ]]
}

@test "an unknown URL scheme is a configuration error" {
	run --separate-stderr sis-extract --db 'oracle://x@h/db' --sql 'SELECT 1'
	assert_failure 78
	[[ "$stderr" == *"unknown database URL scheme"* ]]
}

@test "option combinations are checked" {
	run --separate-stderr sis-extract --sql 'SELECT 1'
	assert_failure 2
	[[ "$stderr" == *"--db is required"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DB" --sql 'SELECT 1' \
		--query x.sql
	assert_failure 2
	[[ "$stderr" == *"exactly one of --query and --sql"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DB" --sql 'SELECT 1' \
		-t xml
	assert_failure 2
	[[ "$stderr" == *"unknown output format 'xml'"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DB" --sql 'SELECT 1' \
		-t dat --ctl T
	assert_failure 2
	[[ "$stderr" == *"--ctl needs -o PATH"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DB" --sql 'SELECT 1' \
		--output x --ctl T
	assert_failure 2
	[[ "$stderr" == *"--ctl needs -t dat"* ]]
}

@test "a group-readable password file is refused" {
	printf 'pw\n' >"$BATS_TEST_TMPDIR/pw"
	chmod 640 "$BATS_TEST_TMPDIR/pw"
	run --separate-stderr sis-extract --db "sqlite:$DB" --sql 'SELECT 1' \
		--password-file "$BATS_TEST_TMPDIR/pw"
	assert_failure 77
	[[ "$stderr" == *"readable by group or others"* ]]
}

@test "--mapping keeps mapped courses and sections, once per Moodle course" {
	run --separate-stderr sis-extract --db "sqlite:$DB" -v \
		--mapping "$FIX/sis-extract/map.json" \
		--sql 'SELECT course, section, user, role FROM enr ORDER BY course, user, section'
	assert_success
	diff -u "$FIX/sis-extract/mapped.out.ndjson" <(printf '%s\n' "$output")
	[[ "$stderr" == *"8 rows, 3 of unmapped courses or sections skipped, 2 duplicates dropped"* ]]
	[[ "$stderr" == *"sis-extract: 6 records" ]]
}

@test "--mapping: a student of two cross-listed SIS courses of one Moodle course is written once" {
	run --separate-stderr sis-extract --db "sqlite:$DB" -v \
		--mapping "$FIX/sis-extract/map.json" \
		--sql "SELECT 'COUN6552' AS course, '02' AS section, '1001' AS user,
		'student' AS role UNION ALL SELECT 'COUN8552', '02', '1001', 'student'
		UNION ALL SELECT 'COUN8552', '02', '1002', 'student'
		UNION ALL SELECT 'COUN8552', '02', '1001', 'auditingstudent'"
	assert_success
	# The first SIS course in the query's order is the one kept.
	assert_output '{"course":"COUN6552COUN855202Winter2021","section":"02","user":"1001","role":"student","course_id":4766,"sis_course":"COUN6552"}
{"course":"COUN6552COUN855202Winter2021","section":"02","user":"1002","role":"student","course_id":4766,"sis_course":"COUN8552"}
{"course":"COUN6552COUN855202Winter2021","section":"02","user":"1001","role":"auditingstudent","course_id":4766,"sis_course":"COUN8552"}'
	[[ "$stderr" == *"4 rows, 0 of unmapped courses or sections skipped, 1 duplicates dropped"* ]]
	# So enroll-diff sees no repeated key.
	run --separate-stderr enroll-diff --max-drop 100% <(printf '%s\n' "$output") /dev/null
	assert_success
	[[ "$stderr" != *repeat* ]]
}

@test "--course-column and --section-column name the query's columns" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--mapping "$FIX/sis-extract/map.json" --course-column EVENT_ID \
		--section-column SEC --sql "SELECT course AS EVENT_ID, section AS SEC,
		user FROM enr WHERE course = 'COUN8552'"
	assert_success
	assert_output '{"course":"COUN6552COUN855202Winter2021","section":"02","user":"1003","course_id":4766,"sis_course":"COUN8552"}'
}

# A misspelt "section" read as absent would take every section of the
# course: an unknown key is a configuration error, before any query.
@test "--mapping: an unknown key in an entry is 78 with the key; a BOM is accepted" {
	sed 's/"section"/"sectoin"/' "$FIX/sis-extract/map.json" >"$BATS_TEST_TMPDIR/typo.json"
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--mapping "$BATS_TEST_TMPDIR/typo.json" \
		--sql 'SELECT course, section, user, role FROM enr'
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == *"typo.json: entry '"*"': unknown key 'sectoin' (did you mean 'section'?)"* ]]
	{ printf '\357\273\277'; cat "$FIX/sis-extract/map.json"; } >"$BATS_TEST_TMPDIR/bom.json"
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--mapping "$BATS_TEST_TMPDIR/bom.json" \
		--sql 'SELECT course, section, user, role FROM enr ORDER BY course, user, section'
	assert_success
	diff -u "$FIX/sis-extract/mapped.out.ndjson" <(printf '%s\n' "$output")
}

@test "--mapping needs the course column in the result" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--mapping "$FIX/sis-extract/map.json" --sql 'SELECT user FROM enr'
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"returns no column 'course'"* ]]
}

@test "--program-column: the program query fills the mapping's program entries" {
	printf '%s\n' '{"BSC": {"courses": ["BSC5137"], "id": 4748},' \
		'"CHIRO-Community": {"program": "CHIRO", "id": 5001},' \
		'"CLMH-Hub": {"program": "CLMH", "id": 5002}}' >"$BATS_TEST_TMPDIR/map.json"
	run --separate-stderr sis-extract --db "sqlite:$DEMO" \
		--query "$Q/powercampus-program-members.sql" \
		--param year=2021 --param term=WINTER \
		--mapping "$BATS_TEST_TMPDIR/map.json" --program-column program
	assert_success
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out.ndjson"
	# the members, counted with sqlite3 on its own: CHIRO and CLMH only
	want=$(sqlite3 "$DEMO" "SELECT CURRICULUM || ',' || COUNT(DISTINCT
		PEOPLE_CODE_ID) FROM ACADEMIC WHERE ACADEMIC_YEAR = '2021' AND
		ACADEMIC_TERM = 'WINTER' AND CURRICULUM IN ('CHIRO', 'CLMH') AND
		(ENROLL_SEPARATION IS NULL OR ENROLL_SEPARATION NOT IN
		('LOA', 'WITH', 'AWIT')) GROUP BY CURRICULUM ORDER BY CURRICULUM")
	have=$(jq -r '.sis_program + "," + .course' "$BATS_TEST_TMPDIR/out.ndjson" |
		sort | uniq -c | awk '{split($2, a, ","); print a[1] "," $1}')
	[ -n "$want" ]
	assert_equal "$have" "$want"
	jq -se 'map(select((.course == "CHIRO-Community" and .course_id == 5001
		and .sis_program == "CHIRO" and .role == "student") or
		(.course == "CLMH-Hub" and .course_id == 5002))) | length
		== (. | length)' "$BATS_TEST_TMPDIR/out.ndjson"
	head -n 1 "$BATS_TEST_TMPDIR/out.ndjson" | jq -e 'keys_unsorted ==
		["user","course","role","term","year","first_name","last_name",
		"email","course_id","sis_program"]'
	# the enrollment query over the same mapping sees only the course
	run --separate-stderr sis-extract --db "sqlite:$DEMO" \
		--query "$Q/powercampus-enrollments.sql" \
		--param year=2021 --param term=WINTER \
		--mapping "$BATS_TEST_TMPDIR/map.json"
	assert_success
	[ "$(printf '%s\n' "$output" | jq -r .course | sort -u)" = BSC ]
	# a program column the query lacks, or no mapping, is a usage error
	run --separate-stderr sis-extract --db "sqlite:$DEMO" --sql 'SELECT 1 AS x' \
		--mapping "$BATS_TEST_TMPDIR/map.json" --program-column program
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"returns no column 'program' to look programs up in the mapping (see --program-column)"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DEMO" --sql 'SELECT 1 AS x' \
		--program-column program
	assert_failure 2
	[[ "$stderr" == *"--program-column needs --mapping"* ]]
}

@test "a missing mapping file exits 66" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--mapping "$BATS_TEST_TMPDIR/none.json" --sql 'SELECT 1 AS course'
	assert_failure 66
	[ -z "$output" ]
}

@test "-o dat writes SQL*Loader records and --ctl the control file beside them" {
	run --separate-stderr sis-extract --db "sqlite:$DB" -t dat \
		--output "$BATS_TEST_TMPDIR/t.dat" --ctl SIS.T \
		--sql 'SELECT id, name, note FROM t ORDER BY id'
	assert_success
	[ -z "$output" ]
	printf '%s\n' '1|Zoë Núñez|#EOR#' '2|O'"'"'Brien, Siobhán|"line one' \
		'line two ""quoted"" |pipe|"#EOR#' '3|山田 美咲|#EOR#' \
		| diff -u - "$BATS_TEST_TMPDIR/t.dat"
	grep -q "^INFILE 't.dat' \"str '#EOR#\\\\n'\"" "$BATS_TEST_TMPDIR/t.ctl"
	grep -q '^INTO TABLE SIS.T' "$BATS_TEST_TMPDIR/t.ctl"
	grep -q 'id CHAR(4000)' "$BATS_TEST_TMPDIR/t.ctl"
}

@test "the .dat/.ctl pair reads back as the seed's SQL*Loader syntax says: mode, BADFILE, date masks" {
	local T=$BATS_TEST_TMPDIR sql
	sql="SELECT id, name, note, '2021-0' || id || '-15' AS born FROM t ORDER BY id"
	run --separate-stderr sis-extract --db "sqlite:$DB" -t dat \
		--output "$T/tmp_t.dat" --ctl SCHEMA_A.TMP_T --ctl-mode truncate \
		--ctl-date born=YYYY-MM-DD --sql "$sql"
	assert_success
	sis-extract --db "sqlite:$DB" --sql "$sql" >"$T/t.ndjson"
	grep -qx "BADFILE 'tmp_t.bad'" "$T/tmp_t.ctl"
	grep -qx 'TRUNCATE' "$T/tmp_t.ctl"
	grep -qx '  born DATE "YYYY-MM-DD"' "$T/tmp_t.ctl"
	# The pair, read the way the seed's control file tells SQL*Loader
	# to (statements in the seed's order: its own .ctl is the check's
	# reference), gives back every value, newlines and '|' included.
	run python3 "$ROOT/tests/cli/sqlldr-pair.py" "$T/tmp_t.ctl" \
		"$T/tmp_t.dat" "$T/t.ndjson" "$FIX/replicate/tmp_example_table.ctl"
	assert_success
	assert_output "TRUNCATE 3"
	# The check fails on a control file without BADFILE (as before).
	sed '/^BADFILE/d' "$T/tmp_t.ctl" >"$T/old.ctl"
	run python3 "$ROOT/tests/cli/sqlldr-pair.py" "$T/old.ctl" \
		"$T/tmp_t.dat" "$T/t.ndjson"
	assert_failure
	[[ "$output" == *"not the seed's control-file syntax"* ]]
	# Bad control-file options: usage errors, nothing written.
	rm -f "$T"/tmp_t.*
	run --separate-stderr sis-extract --db "sqlite:$DB" -t dat \
		--output "$T/tmp_t.dat" --ctl T --ctl-date "born=YYYY'-MM" --sql "$sql"
	assert_failure 2
	[[ "$stderr" == *"bad date mask 'YYYY'-MM' for 'born'"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DB" -t dat \
		--output "$T/tmp_t.dat" --ctl T --ctl-date nosuch=YYYY --sql "$sql"
	assert_failure 2
	[[ "$stderr" == *"date column 'nosuch' is not among the columns"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DB" -t dat \
		--output "$T/tmp_t.dat" --ctl T --ctl-mode merge --sql "$sql"
	assert_failure 2
	run --separate-stderr sis-extract --db "sqlite:$DB" -t dat \
		--output "$T/tmp_t.dat" --ctl-mode truncate --sql "$sql"
	assert_failure 2
	[[ "$stderr" == *"--ctl-mode and --ctl-date need --ctl"* ]]
	[ ! -e "$T/tmp_t.ctl" ]
}

@test "the PowerCampus query keeps NULL separations and drops LOA, W and dropped rows" {
	run --separate-stderr sis-extract --db "sqlite:$DEMO" -t csv \
		--query "$Q/powercampus-enrollments.sql" \
		--param year=2021 --param term=WINTER
	assert_success
	# The same rules computed independently with the sqlite3 shell.
	want=$(sqlite3 "$DEMO" "SELECT count(*) FROM (SELECT DISTINCT
		td.PEOPLE_CODE_ID, td.EVENT_ID, td.SECTION, td.FINAL_GRADE = 'AU'
		FROM TRANSCRIPTDETAIL td JOIN ACADEMIC a USING (PEOPLE_CODE_ID)
		WHERE td.ADD_DROP_WAIT = 'A'
		AND coalesce(td.FINAL_GRADE, '') NOT IN ('W', 'WA')
		AND coalesce(a.ENROLL_SEPARATION, '') NOT IN ('LOA','WITH','AWIT'))")
	[ "${#lines[@]}" -eq $((want + 1)) ]
	assert_line --index 0 'user,course,section,role,term,year,first_name,last_name,email'
	# Students whose separation is NULL are there (mdlpipeline lost them).
	nullsep=$(sqlite3 "$DEMO" "SELECT substr(PEOPLE_CODE_ID, 2) FROM ACADEMIC
		WHERE ENROLL_SEPARATION IS NULL AND PEOPLE_CODE_ID IN (SELECT
		PEOPLE_CODE_ID FROM TRANSCRIPTDETAIL WHERE ADD_DROP_WAIT = 'A'
		AND FINAL_GRADE IS NULL) LIMIT 1")
	[ -n "$nullsep" ]
	assert_line --regexp "^$nullsep,"
	loa=$(sqlite3 "$DEMO" "SELECT substr(PEOPLE_CODE_ID, 2) FROM ACADEMIC
		WHERE ENROLL_SEPARATION = 'LOA' LIMIT 1")
	refute_line --regexp "^$loa,"
	refute_line --partial ',P0'
}

@test "the PowerSchool sections query runs on the demo database" {
	local ps=$BATS_TEST_TMPDIR/ps.db
	"$ROOT/share/demo-sis/make-demo-sis" --kind powerschool --students 100 \
		--seed 3 "$ps"
	run --separate-stderr sis-extract --db "sqlite:$ps" \
		--query "$Q/powerschool-sections.sql" --param school=10 \
		--param term=106
	assert_success
	[ "${#lines[@]}" -ge 4 ]
	want=$(sqlite3 "$ps" "SELECT count(*) FROM sections s LEFT JOIN
		sectionteacher st ON st.sectionid = s.id WHERE s.schoolid = 10
		AND s.termid = 106")
	[ "${#lines[@]}" -eq "$want" ]
	assert_line --index 0 --regexp '^\{"school_id":10,"section_id":[0-9]+,'
}

@test "the demo generator is reproducible from its seed" {
	local a=$BATS_TEST_TMPDIR/a.db b=$BATS_TEST_TMPDIR/b.db
	"$ROOT/share/demo-sis/make-demo-sis" --students 50 --seed 11 "$a"
	"$ROOT/share/demo-sis/make-demo-sis" --students 50 --seed 11 "$b"
	[ "$(sqlite3 "$a" .dump)" = "$(sqlite3 "$b" .dump)" ]
	[ "$(sqlite3 "$a" 'SELECT count(*) FROM PEOPLE')" = 50 ]
	sqlite3 "$a" "SELECT count(*) FROM PEOPLE WHERE FIRST_NAME || LAST_NAME
		GLOB '*[^ -~]*'" | grep -qv '^0$'
}

@test "100k rows stream out, and -v counts them after the last row" {
	run --separate-stderr sis-extract --db "sqlite:$DB" -v --sql \
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
		WHERE i < 100000) SELECT i, 'Zoë ' || i AS name FROM n"
	assert_success
	[ "${#lines[@]}" -eq 100000 ]
	[ "${lines[99999]}" = '{"i":100000,"name":"Zoë 100000"}' ]
	[ "$stderr" = "sis-extract: 100000 records" ]
}

@test "a failed write to stdout exits non-zero" {
	run --separate-stderr bash -c "sis-extract --db 'sqlite:$DB' \
		--sql 'SELECT * FROM t' >/dev/full"
	assert_failure 74
	[[ "$stderr" == *"write error"* ]]
}

@test "an empty result gives empty output and exit 0" {
	run --separate-stderr sis-extract --db "sqlite:$DB" \
		--sql 'SELECT * FROM t WHERE 0'
	assert_success
	[ -z "$output" ]
}

@test "-o is the output file; deprecated -o FORMAT and --output-format warn and work" {
	run --separate-stderr sis-extract --db "sqlite:$DB" -t csv \
		--sql 'SELECT id, name FROM t WHERE id < 0'
	assert_success
	[ -z "$stderr" ]
	assert_output 'id,name'
	run --separate-stderr sis-extract --db "sqlite:$DB" -t csv \
		-o "$BATS_TEST_TMPDIR/e.csv" --sql 'SELECT id, name FROM t WHERE id < 0'
	assert_success
	[ -z "$output" ]
	[ "$(cat "$BATS_TEST_TMPDIR/e.csv")" = 'id,name' ]
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr sis-extract --db "sqlite:$DB" -o csv \
		--sql 'SELECT id, name FROM t WHERE id < 0'
	assert_success
	assert_output 'id,name'
	[ ! -e csv ]
	[[ "$stderr" == "sis-extract: warning: option '-o csv' names a format, which is deprecated: use -t csv"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DB" --output-format csv \
		--sql 'SELECT id, name FROM t WHERE id < 0'
	assert_success
	assert_output 'id,name'
	[ "$stderr" = "sis-extract: warning: option '--output-format' is deprecated: use -t/--to" ]
}

@test "--provenance ends each record with sis_row, QUERY:N, the row before the mapping" {
	printf '%s\n' "SELECT course, section, user, role FROM enr ORDER BY course, user, section" \
		>"$BATS_TEST_TMPDIR/enr.sql"
	run --separate-stderr sis-extract --db "sqlite:$DB" --provenance \
		--mapping "$FIX/sis-extract/map.json" \
		--query "$BATS_TEST_TMPDIR/enr.sql"
	assert_success
	# The same records as without it, each with the number of its row.
	diff -u "$FIX/sis-extract/mapped.out.ndjson" \
		<(printf '%s\n' "$output" | jq -c 'del(.sis_row)')
	# Row N of the query's result is the row each record came from (a
	# row mapped to two Moodle courses gives both its number).
	local rec n got
	while IFS= read -r rec; do
		[[ $(jq -r .sis_row <<<"$rec") =~ ^enr\.sql:([1-8])$ ]] ||
			fail "sis_row of $rec"
		n=${BASH_REMATCH[1]}
		got=$(sqlite3 -separator , "$DB" "SELECT rtrim(course), user, role FROM enr
			ORDER BY course, user, section LIMIT 1 OFFSET $((n - 1))")
		assert_equal "$got" \
			"$(jq -r '[.sis_course, .user, .role] | join(",")' <<<"$rec")"
	done <<<"$output"
	# Without a mapping, CSV too; --sql is named "sql".
	run --separate-stderr sis-extract --db "sqlite:$DB" --provenance -t csv \
		--sql "SELECT 1 AS a UNION ALL SELECT 2"
	assert_success
	assert_output $'a,sis_row\n1,sql:1\n2,sql:2'
}

@test "--provenance: a query column named sis_row is refused (2), nothing written" {
	run --separate-stderr sis-extract --db "sqlite:$DB" --provenance \
		--sql "SELECT 1 AS sis_row"
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"the query's column 'sis_row' would clash with the field --provenance writes"* ]]
	run --separate-stderr sis-extract --db "sqlite:$DB" --provenance \
		--mapping "$FIX/sis-extract/map.json" \
		--sql "SELECT 'COUN6552' AS course, '02' AS section, 'x' AS sis_row"
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"the query's column 'sis_row' would clash"* ]]
	# Without --provenance such a column is just a column.
	run --separate-stderr sis-extract --db "sqlite:$DB" --sql "SELECT 1 AS sis_row"
	assert_success
	assert_output '{"sis_row":1}'
}
