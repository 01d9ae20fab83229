#!/usr/bin/env bats
# --progress (src/lib/progress.c) in enroll-diff, sis-extract, db-load and
# lms-fetch: on a terminal (a pty from script(1)) the line is drawn and
# redrawn ("\r", clear to end of line) and ends as a final line; -q and
# --no-progress leave the terminal blank; with stderr a file or a pipe
# nothing extra appears unless --progress forces it; stdout is
# byte-identical in every mode.
#
# Slow input comes from a sleep in front of a pipe (or a server delay),
# never from a large file: the line is first drawn a quarter second after
# the start, whatever the machine's speed.

load helper
bats_require_minimum_version 1.5.0

ESC=$'\033'
CR=$'\r'

setup() {
	need script sqlite3
	T=$BATS_TEST_TMPDIR
	D=$T/desired.ndjson
	A=$T/actual.ndjson
	# 300 records each, 20 changes; DESIRED holds each record twice in
	# dup.ndjson (a warning after reading).
	awk 'BEGIN { for (i = 1; i <= 300; i++) printf "{\"course\":\"C%d\",\"user\":\"u%d\",\"role\":\"student\"}\n", i % 7, i }' >"$D"
	awk 'BEGIN { for (i = 11; i <= 310; i++) printf "{\"course\":\"C%d\",\"user\":\"u%d\",\"role\":\"student\"}\n", i % 7, i }' >"$A"
	cat "$D" "$D" >"$T/dup.ndjson"
	enroll-diff "$D" "$A" >"$T/want.ndjson"
	export T D A
}

# on_tty CMD: run the shell command CMD with stdin, stdout and stderr a
# pty; what reached the terminal goes to $T/tty, CMD's status is $status.
# CMD redirects stdout to a file, so the terminal sees stderr alone.
on_tty() {
	status=0
	script -qec "$1" /dev/null </dev/null >"$T/tty" || status=$?
	tty=$(cat "$T/tty" && echo .)
	tty=${tty%.}
}

@test "enroll-diff on a terminal: the line is redrawn, then a final line" {
	on_tty '(sleep 0.6; cat "$D") | enroll-diff - "$A" >"$T/out"'
	[ "$status" -eq 0 ]
	# Drawn in place: carriage return, the counts, clear to end of line.
	[[ "$tty" == "${CR}enroll-diff: stdin: "*" records, "*" B, "*"records/s, "*" s${ESC}[K"* ]]
	[[ "$tty" == *"${CR}enroll-diff: 300 DESIRED and 300 ACTUAL records, 20 changes written, "*" s${ESC}[K$CR"$'\n' ]]
	cmp "$T/want.ndjson" "$T/out"
}

@test "enroll-diff on a terminal: -q and --no-progress leave it blank" {
	local opt
	for opt in -q --no-progress; do
		on_tty "(sleep 0.6; cat \"\$D\") | enroll-diff $opt - \"\$A\" >\"\$T/out\""
		[ "$status" -eq 0 ]
		[ ! -s "$T/tty" ]
		cmp "$T/want.ndjson" "$T/out"
	done
}

@test "enroll-diff on a terminal: quick work leaves no trace" {
	on_tty 'enroll-diff "$D" "$A" >"$T/out"'
	[ "$status" -eq 0 ]
	[ ! -s "$T/tty" ]
	cmp "$T/want.ndjson" "$T/out"
}

@test "a message clears the progress line first, on a line of its own" {
	on_tty '(sleep 0.6; cat "$T/dup.ndjson") | enroll-diff - "$A" >"$T/out"'
	[ "$status" -eq 0 ]
	[[ "$tty" == *" s${ESC}[K$CR${ESC}[Kenroll-diff: warning: stdin: 300 records repeat an earlier key"*$'\r\n'"${CR}enroll-diff: 300 DESIRED"* ]]
	cmp "$T/want.ndjson" "$T/out"
}

@test "stderr a file or a pipe: nothing extra, unless --progress forces it" {
	(sleep 0.6; cat "$D") | enroll-diff - "$A" >"$T/out1" 2>"$T/err1"
	(sleep 0.6; cat "$D") | enroll-diff --no-progress - "$A" >"$T/out2" \
		2>"$T/err2"
	(sleep 0.6; cat "$D") | enroll-diff - "$A" 2>&1 >"$T/out3" |
		cat >"$T/err3"
	cmp "$T/err1" "$T/err2"
	cmp "$T/err1" "$T/err3"
	[ ! -s "$T/err1" ]
	(sleep 0.6; cat "$D") | enroll-diff --progress - "$A" >"$T/out4" \
		2>"$T/err4"
	[ "$(cat "$T/err4")" = "$(sed -n '$p' "$T/err4")" ]
	[[ "$(cat "$T/err4")" == "enroll-diff: 300 DESIRED and 300 ACTUAL records, 20 changes written, "*" s" ]]
	# Lines for a log: no carriage return, no escape sequence.
	run ! grep -q "[$CR$ESC]" "$T/err4"
	# -q wins over --progress.
	(sleep 0.6; cat "$D") | enroll-diff --progress -q - "$A" >"$T/out5" \
		2>"$T/err5"
	[ ! -s "$T/err5" ]
	for i in 1 2 3 4 5; do cmp "$T/want.ndjson" "$T/out$i"; done
}

@test "enroll-diff -o FILE on a terminal: the changes counted as written" {
	on_tty '(sleep 0.6; cat "$D") | enroll-diff -o "$T/out" - "$A"'
	[ "$status" -eq 0 ]
	[[ "$tty" == *"20 changes written"* ]]
	cmp "$T/want.ndjson" "$T/out"
}

@test "a failure clears the line: the error alone remains" {
	printf '{"course":"X","user":"u1"}\n' >>"$T/bad.ndjson"
	on_tty '(sleep 0.6; cat "$D" "$T/bad.ndjson") | enroll-diff - "$A" >"$T/out"'
	[ "$status" -eq 65 ]
	[[ "$tty" == *"${ESC}[K$CR${ESC}[Kenroll-diff: stdin:301: missing field 'role'"* ]]
	[[ "$tty" != *"changes written"* ]]
	[ ! -s "$T/out" ]
}

# slow_sql: a query that takes a good fraction of a second in SQLite and
# returns 4 rows spread over that time.
slow_sql='WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000) SELECT x FROM c WHERE x % 1000000 = 0'

@test "sis-extract: rows and rate on a terminal, silent on a file" {
	sqlite3 "$T/t.db" 'CREATE TABLE t (x)'
	export SQL=$slow_sql
	sis-extract --db "sqlite:$T/t.db" --sql "$SQL" >"$T/want" 2>"$T/err"
	[ ! -s "$T/err" ]
	[ "$(wc -l <"$T/want")" -eq 4 ]
	on_tty 'sis-extract --db "sqlite:$T/t.db" --sql "$SQL" >"$T/out"'
	[ "$status" -eq 0 ]
	[[ "$tty" == *"${CR}sis-extract: 4 rows, "*" rows/s, "*" s${ESC}[K$CR"$'\n' ]]
	cmp "$T/want" "$T/out"
	on_tty 'sis-extract -q --db "sqlite:$T/t.db" --sql "$SQL" >"$T/out"'
	[ ! -s "$T/tty" ]
	cmp "$T/want" "$T/out"
	run --separate-stderr sis-extract --progress --db "sqlite:$T/t.db" \
		--sql "SELECT 1 AS x UNION ALL SELECT 2"
	assert_success
	[[ "$stderr" == "sis-extract: 2 rows, "*" s" ]]
	[ "$output" = $'{"x":1}\n{"x":2}' ]
}

@test "db-load: rows loaded on a terminal, the same table either way" {
	local i
	for i in 1 2; do
		sqlite3 "$T/$i.db" 'CREATE TABLE people (course TEXT, user TEXT, role TEXT)'
	done
	on_tty '(sleep 0.6; cat "$D") | db-load --db "sqlite:$T/1.db" --table people'
	[ "$status" -eq 0 ]
	[[ "$tty" == *"${CR}db-load: 300 rows loaded into 'people', "*" s${ESC}[K$CR"$'\n' ]]
	(sleep 0.6; cat "$D") | db-load --db "sqlite:$T/2.db" --table people \
		2>"$T/err"
	[ ! -s "$T/err" ]
	[ "$(sqlite3 "$T/1.db" 'SELECT * FROM people')" = \
		"$(sqlite3 "$T/2.db" 'SELECT * FROM people')" ]
	[ "$(sqlite3 "$T/1.db" 'SELECT count(*) FROM people')" -eq 300 ]
}

@test "lms-fetch: courses done of all on a terminal, the same records" {
	need python3 curl
	local port
	port=$(free_port)
	python3 "$ROOT/tests/servers/moodle_server.py" "$port" \
		--token moodle-test-token-5f2a \
		--fixture "$FIX/lms-fetch/moodle/site.json" --delay-ms 300 \
		>"$T/moodle.log" 2>&1 &
	echo $! >"$T/moodle.pid"
	wait_port "$port"
	export MOODLE_TOKEN=moodle-test-token-5f2a
	export MOODLE_URL=http://127.0.0.1:$port
	export MAP=$FIX/lms-fetch/moodle-map.json
	# (The fixture has users without an idnumber: a warning.)
	lms-fetch moodle enrollments --mapping "$MAP" >"$T/want" 2>"$T/err"
	lms-fetch --no-progress moodle enrollments --mapping "$MAP" \
		>"$T/out2" 2>"$T/err2"
	cmp "$T/err" "$T/err2"
	cmp "$T/want" "$T/out2"
	on_tty 'lms-fetch moodle enrollments --mapping "$MAP" >"$T/out"'
	[ "$status" -eq 0 ]
	[[ "$tty" == *"${CR}lms-fetch: "*" records, "*" of 3 courses, "*" pages, 0 retries, "*" s${ESC}[K"* ]]
	[[ "$tty" == *"${CR}lms-fetch: 3 pages, 8 records, 3 of 3 courses, 0 retries, "*" s${ESC}[K$CR"$'\n'"lms-fetch: warning: 2 enrollments"* ]]
	cmp "$T/want" "$T/out"
}

teardown() {
	if [ -f "$BATS_TEST_TMPDIR/moodle.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/moodle.pid")" 2>/dev/null || true
	fi
}
