#!/usr/bin/env bats
# scripts/sync-enrollments end to end: the demo SIS in SQLite, the Moodle
# test server (tests/servers/moodle_server.py) serving the demo's recorded
# roster, and a real sshd (tests/servers/sshd.sh) as Conduit's drop box.

bats_require_minimum_version 1.5.0
load helper

SCRIPT=$ROOT/scripts/sync-enrollments
SRV=$ROOT/tests/servers/sshd.sh
TOKEN=moodle-sync-token-7d1e
SNAP=$ROOT/share/demo/moodle-enrollments.ndjson
UNKEYED=$ROOT/share/demo/moodle-enrollments.unkeyed.ndjson

setup_file() {
	need python3 jq flock ssh-keygen sqlite3 curl
	local d=$BATS_FILE_TMPDIR
	"$ROOT/share/demo-sis/make-demo-sis" "$d/sis.db"
	# The Moodle site whose enrolled users are the recorded snapshot.
	demo_moodle_site "$d/site.json.0"
	# A program course (issue 22): the first CHIRO member of the term is
	# enrolled already, and so is someone outside the program.
	CHIRO1=$(sqlite3 "$d/sis.db" "SELECT REPLACE(PEOPLE_CODE_ID, 'P', '')
		FROM ACADEMIC WHERE CURRICULUM = 'CHIRO' AND ACADEMIC_YEAR = '2021'
		AND ACADEMIC_TERM = 'WINTER' AND (ENROLL_SEPARATION IS NULL OR
		ENROLL_SEPARATION NOT IN ('LOA', 'WITH', 'AWIT')) ORDER BY 1 LIMIT 1")
	export CHIRO1
	jq --arg c1 "$CHIRO1" '.courses += [{id: 5001, shortname: "CHIRO-Community",
		fullname: "Chiropractic community"}] | .enrolled["5001"] = [
		{id: 990001, username: "prog.outsider", fullname: "Out Sider",
		email: "o@example.edu", idnumber: "999999999"},
		{id: ($c1 | tonumber), username: ("s" + $c1), fullname: "CHIRO One",
		email: ("s" + $c1 + "@students.example.edu"), idnumber: $c1}] |
		.enrolled["5001"][].roles = [{roleid: 5, name: "",
		shortname: "student", sortorder: 0}]' "$d/site.json.0" >"$d/site.json.1"
	# Moodle's users have first and last names (issue 22's users): the
	# SIS's, but for one whose last name Moodle has from before.
	sqlite3 -json "$d/sis.db" "SELECT REPLACE(PEOPLE_CODE_ID, 'P', '') AS
		id, FIRST_NAME AS f, LAST_NAME AS l FROM PEOPLE" >"$d/names.json"
	jq --slurpfile n "$d/names.json" '($n[0] | map({(.id): .}) | add) as $m |
		.enrolled |= map_values(map(if $m[.idnumber] then
		.firstname = $m[.idnumber].f | .lastname = $m[.idnumber].l
		else . end)) | .enrolled["4751"][0].lastname = "Oldname"' \
		"$d/site.json.1" >"$d/site.json"
	OLDNAME=$(jq -r '.enrolled["4751"][0].idnumber' "$d/site.json")
	export OLDNAME
	lms_server moodle MPORT "$TOKEN" "$d/site.json"
	printf '%s\n' "$TOKEN" >"$d/token"
	chmod 600 "$d/token"
	export S=$d/srv MPORT
	"$SRV" start "$S"
	wait_port "$MPORT"
}

teardown_file() {
	lms_server_stop moodle
	[ -z "${S:-}" ] || "$SRV" stop "$S"
}

setup() {
	curl -fsS "http://127.0.0.1:$MPORT/_reset" >/dev/null
	T=$BATS_TEST_TMPDIR
	OUTBOX=$T/outbox
	W=$T/work
	mkdir -p "$OUTBOX"
	CONF=$T/sync.env
	cat >"$CONF" <<EOF
# sync-enrollments test configuration
SIS_DB=sqlite:$BATS_FILE_TMPDIR/sis.db
SIS_PARAMS="year=2021 term=WINTER"
MOODLE_MAPPING=$ROOT/share/demo/moodle-map.json
MOODLE_URL=http://127.0.0.1:$MPORT
MOODLE_TOKEN_FILE=$BATS_FILE_TMPDIR/token
SFTP_URL=sftp://$(id -un)@127.0.0.1:$(cat "$S/port")$OUTBOX/enrollments.csv
SFTP_KNOWN_HOSTS=$S/known_hosts
SFTP_IDENTITY=$S/id_ed25519
EDPIPE_WORK_DIR=$W
EOF
	unset EDPIPE_CONF MOODLE_TOKEN SIS_PASSWORD
}

# expected_changes: "op,course,user,role" lines that make the Moodle
# roster (students and auditors with an idnumber) equal DESIRED, computed
# with sort and comm, independently of enroll-diff.
expected_changes() {
	local k='[.course, .user, .role] | @csv'
	jq -r "$k" "$W/last/desired.ndjson" | tr -d '"' | sort >"$T/want"
	jq -r 'select(.idnumber != "" and (.role == "student" or
		.role == "auditingstudent")) | .user = .idnumber | '"$k" "$SNAP" |
		tr -d '"' | sort >"$T/have"
	{
		comm -23 "$T/want" "$T/have" | sed 's/^/add,/'
		comm -13 "$T/want" "$T/have" | sed 's/^/drop,/'
	} | sort
}

@test "usage: -h prints the configuration variables; a bad option exits 2" {
	run --separate-stderr "$SCRIPT" -h
	assert_success
	assert_line --index 0 --partial "usage: sync-enrollments [-c FILE]"
	assert_output --partial "SYNC_MAX_DROP"
	run --separate-stderr "$SCRIPT" -x
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"sync-enrollments: unknown option '-x'"* ]]
	run --separate-stderr "$SCRIPT" -c "$CONF" extra
	assert_failure 2
}

# The whole run, under umask 022: its output is checked here, and that
# its files are owner-only all the same (one run: the machine is small).
@test "end to end: SQLite, Moodle and sshd; the uploaded Conduit file is the change set; run files owner-only under umask 022" {
	run --separate-stderr bash -c 'umask 022; exec "$@"' _ "$SCRIPT" -c "$CONF"
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"sync-enrollments: 8 adds, 4 drops uploaded to sftp://"* ]]
	# Moodle as lms-fetch read it is the recorded snapshot of the demo,
	# keyed by idnumber with no re-keying step.
	diff -u <(jq -c . "$SNAP" | sort) <(jq -c . "$W/last/actual.ndjson" | sort)
	diff -u <(jq -c . "$UNKEYED") <(jq -c . "$W/last/no-idnumber.ndjson")
	# The file on the server, in the run directory and in the log: one.
	cmp "$OUTBOX/enrollments.csv" "$W/last/enrollments.csv"
	cmp "$OUTBOX/enrollments.csv" "$W"/log/conduit-*.csv
	[ "$(ls -A "$OUTBOX")" = enrollments.csv ]
	assert_equal "$(head -n 1 "$OUTBOX/enrollments.csv")" \
		"action,shortname,idnumber,role"
	diff -u <(expected_changes) <(tail -n +2 "$OUTBOX/enrollments.csv" | sort)
	[ "$(wc -l <"$OUTBOX/enrollments.csv")" -eq 13 ]
	# The account without an idnumber is reported, not added or dropped.
	[[ "$stderr" == *"1 Moodle enrollments have no idnumber"* ]]
	jq -e 'select(.user == "guest.auditor")' "$W/last/no-idnumber.ndjson"
	run grep -c guest.auditor "$OUTBOX/enrollments.csv"
	assert_output 0
	# Teachers are outside SYNC_ROLES: never dropped.
	run grep -c editingteacher "$OUTBOX/enrollments.csv"
	assert_output 0
	jq -e '.status == "ok" and .uploaded and .changes == {add: 8,
		drop: 4, update: 0} and .failed_step == null and
		.skipped_courses == []' "$W/last/status.json"
	grep -q 'step sftp-put: sftp-put' "$W/last/run.log"
	# run files are owner-only (0600/0700) even under umask 022
	[ -s "$W/last/desired.ndjson" ] && [ -s "$W/last/status.json" ]
	run find "$W" ! -type l -perm /077
	assert_output ''
	[ "$(stat -c %a "$W/last/")" = 700 ]
	[ "$(stat -c %a "$W/last/run.log")" = 600 ]
	[ "$(stat -c %a "$W/last/enrollments.csv")" = 600 ]
	[ "$(stat -c %a "$W"/log/conduit-*.csv)" = 600 ]
}

@test "no changes: nothing is uploaded, a file still in the outbox is left, and the run says so" {
	"$ROOT/bin/sis-extract" --db "sqlite:$BATS_FILE_TMPDIR/sis.db" \
		--query "$ROOT/share/queries/powercampus-enrollments.sql" \
		--param year=2021 --param term=WINTER \
		--mapping "$ROOT/share/demo/moodle-map.json" |
		jq -c '.idnumber = .user' >"$T/insync.ndjson"
	echo "action,shortname,idnumber,role" >"$OUTBOX/enrollments.csv"
	run --separate-stderr env MOODLE_SNAPSHOT="$T/insync.ndjson" \
		"$SCRIPT" -c "$CONF"
	assert_success
	[[ "$stderr" == *"no changes: nothing uploaded"* ]]
	[ ! -s "$W/last/changes.ndjson" ]
	[ ! -s "$W/last/enrollments.csv" ]
	[ "$(cat "$OUTBOX/enrollments.csv")" = "action,shortname,idnumber,role" ]
	[ ! -d "$W/log" ] || [ -z "$(ls -A "$W/log")" ]
	jq -e '.status == "ok" and .uploaded == false and .changes.add == 0' \
		"$W/last/status.json"
}

# failed STEP STATUS: the run failed in STEP with STATUS and sent nothing.
failed() {
	assert_failure "$2"
	[ -z "$output" ]
	[[ "$stderr" == *"sync-enrollments: step '$1' failed with exit status $2; nothing uploaded"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
	jq -e --arg s "$1" --argjson x "$2" '.status == (if $x == 3 then "refused" else "failed" end) and
		.exit == $x and .failed_step == $s and .uploaded == false' \
		"$W/last/status.json"
}

@test "a refused Moodle token stops the run at lms-fetch (77): nothing uploaded" {
	echo wrong-token >"$T/bad-token"
	chmod 600 "$T/bad-token"
	run --separate-stderr env MOODLE_TOKEN_FILE="$T/bad-token" \
		"$SCRIPT" -c "$CONF"
	failed lms-fetch 77
	[ ! -e "$W/last/changes.ndjson" ]
	[ ! -e "$W/log" ] || [ -z "$(ls -A "$W/log")" ]
	[[ "$stderr" != *wrong-token* ]]
}

@test "a course Moodle cannot give is left alone, the others sync, exit 4 and status.json names it" {
	# The mapping's cross-listed course, whose SIS roster is not empty,
	# points at a Moodle course id that does not exist.
	jq '.["COUN5100COUN598802Winter2021"].id = 9999' \
		"$ROOT/share/demo/moodle-map.json" >"$T/map.json"
	# A partial run is an alert: EDPIPE_NOTIFY runs once, told so.
	printf '#!/bin/sh\necho "$EDPIPE_STATUS $EDPIPE_EXIT $EDPIPE_SCRIPT" >>"%s"\n' \
		"$T/notified" >"$T/notify"
	chmod +x "$T/notify"
	run --separate-stderr env MOODLE_MAPPING="$T/map.json" \
		EDPIPE_NOTIFY="$T/notify" "$SCRIPT" -c "$CONF"
	assert_failure 4
	[ -z "$output" ]
	assert_equal "$(cat "$T/notified")" "partial 4 sync-enrollments"
	jq -e '.steps[1] | .name == "lms-fetch" and .status == "partial" and
		.exit == 4' "$W/last/status.json"
	[[ "$stderr" == *"Can't find data record"* ]]
	[[ "$stderr" == *'left alone this run: ["COUN5100COUN598802Winter2021"]'* ]]
	jq -e '.status == "partial" and .exit == 4 and .uploaded and
		.failed_step == null and
		.skipped_courses == ["COUN5100COUN598802Winter2021"]' \
		"$W/last/status.json"
	# Never treated as empty: nothing added to or dropped from it ...
	[ -s "$W/last/desired.ndjson" ]
	jq -e -s 'map(select(.course == "COUN5100COUN598802Winter2021")) |
		length > 0' "$W/last/desired.ndjson"
	run grep -c COUN5100COUN598802 "$OUTBOX/enrollments.csv"
	assert_output 0
	# ... and the other courses' changes went out as in a full run.
	[ "$(wc -l <"$OUTBOX/enrollments.csv")" -gt 1 ]
	diff -u <(expected_changes | grep -v COUN5100COUN598802 ) \
		<(tail -n +2 "$OUTBOX/enrollments.csv" | sort)
}

@test "a refused token is not a skipped course: the run stops at lms-fetch (77)" {
	jq '.["COUN5100COUN598802Winter2021"].id = 9999' \
		"$ROOT/share/demo/moodle-map.json" >"$T/map.json"
	echo wrong-token >"$T/bad-token"
	chmod 600 "$T/bad-token"
	run --separate-stderr env MOODLE_MAPPING="$T/map.json" \
		MOODLE_TOKEN_FILE="$T/bad-token" "$SCRIPT" -c "$CONF"
	failed lms-fetch 77
}

# One run for two facts of the refusal (the machine is small).
@test "more drops than SYNC_MAX_DROP: enroll-diff refuses (3), nothing formatted or uploaded; refused.ndjson kept and counted in status.json" {
	run --separate-stderr env SYNC_MAX_DROP=2 "$SCRIPT" -c "$CONF"
	failed enroll-diff 3
	[ ! -s "$W/last/changes.ndjson" ]
	[ ! -e "$W/last/enrollments.csv" ]
	[ -s "$W/last/desired.ndjson" ]
	[ -s "$W/last/actual.ndjson" ]
	# enroll-diff refusing keeps refused.ndjson and status.json counts it
	[ -s "$W/last/refused.ndjson" ]
	n=$(grep -c . "$W/last/refused.ndjson")
	jq -e --argjson n "$n" '.refused == $n' "$W/last/status.json"
	grep -q -- "--refused $W/last/refused.ndjson\|--refused $W/runs/" "$W/last/run.log"
}

@test "an empty SIS result is refused: Moodle is never emptied" {
	run --separate-stderr env SIS_PARAMS="year=1999 term=WINTER" \
		"$SCRIPT" -c "$CONF"
	failed enroll-diff 3
	[ ! -s "$W/last/desired.ndjson" ]
}

@test "a missing SIS database stops the run at sis-extract (66)" {
	run --separate-stderr env SIS_DB="sqlite:$T/none.db" "$SCRIPT" -c "$CONF"
	failed sis-extract 66
	[ ! -s "$W/last/actual.ndjson" ]
}

@test "an unknown SFTP host key: sftp-put refuses (77) and the run is not reported as uploaded" {
	: >"$T/empty_known_hosts"
	run --separate-stderr env SFTP_KNOWN_HOSTS="$T/empty_known_hosts" \
		"$SCRIPT" -c "$CONF"
	failed sftp-put 77
	# The file was made and kept for inspection, just not sent.
	[ -s "$W/last/enrollments.csv" ]
}

@test "-n: a dry run makes every file and checks the server, uploads nothing" {
	run --separate-stderr "$SCRIPT" -n -c "$CONF"
	assert_success
	[[ "$stderr" == *"dry run: 8 adds, 4 drops NOT uploaded"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
	[ -s "$W/last/enrollments.csv" ]
	jq -e '.dry_run and .uploaded == false' "$W/last/status.json"
}

@test "the lock: a second run while the first holds it exits 75 and touches nothing" {
	mkdir -p "$W"
	exec {fd}>>"$W/.lock"
	flock "$fd"
	run --separate-stderr "$SCRIPT" -c "$CONF"
	exec {fd}>&-
	assert_failure 75
	[[ "$stderr" == *"another run holds '$W/.lock'; not started"* ]]
	[ ! -e "$W/runs" ]
	[ -z "$(ls -A "$OUTBOX")" ]
}

@test "two real runs at once: the second is refused, the first completes" {
	# A slow Moodle keeps the first run inside lms-fetch.
	curl -fsS "http://127.0.0.1:$MPORT/_reset?delay_ms=700" >/dev/null
	"$SCRIPT" -q -c "$CONF" 2>"$T/first.err" &
	local first=$! i
	for i in $(seq 1 100); do
		grep -qs 'step lms-fetch' "$W"/runs/*/run.log && break
		sleep 0.1
	done
	run --separate-stderr "$SCRIPT" -c "$CONF"
	assert_failure 75
	wait "$first"
	[ "$(ls "$W/runs" | wc -l)" -eq 1 ]
	[ -s "$OUTBOX/enrollments.csv" ]
}

@test "EDPIPE_LOCK_WAIT waits for a run that ends in time" {
	mkdir -p "$W"
	(
		flock 9
		sleep 1
	) 9>>"$W/.lock" &
	local holder=$!
	sleep 0.3
	# The run gets past the lock and fails at its first step.
	run --separate-stderr env EDPIPE_LOCK_WAIT=20 SIS_DB="sqlite:$T/none.db" \
		"$SCRIPT" -c "$CONF"
	wait "$holder"
	failed sis-extract 66
}

@test "configuration: secrets, unknown names and malformed lines are refused (78)" {
	cp "$CONF" "$T/secret.env"
	echo "MOODLE_TOKEN=$TOKEN" >>"$T/secret.env"
	run --separate-stderr "$SCRIPT" -c "$T/secret.env"
	assert_failure 78
	[[ "$stderr" == *"secret.env:11: MOODLE_TOKEN is a secret"* ]]
	[[ "$stderr" != *"$TOKEN"* ]]
	[ ! -e "$W" ]
	cp "$CONF" "$T/typo.env"
	echo "SYNC_MAXDROP=5%" >>"$T/typo.env"
	run --separate-stderr "$SCRIPT" -c "$T/typo.env"
	assert_failure 78
	[[ "$stderr" == *"typo.env:11: unknown variable 'SYNC_MAXDROP'"* ]]
	printf 'SIS_DB sqlite:x\n' >"$T/bad.env"
	run --separate-stderr "$SCRIPT" -c "$T/bad.env"
	assert_failure 78
	[[ "$stderr" == *"bad.env:1: not a NAME=VALUE line"* ]]
	grep -v '^SFTP_URL=' "$CONF" >"$T/nourl.env"
	run --separate-stderr "$SCRIPT" -c "$T/nourl.env"
	assert_failure 78
	[[ "$stderr" == *"SFTP_URL is not set"* ]]
	run --separate-stderr "$SCRIPT" -c "$T/none.env"
	assert_failure 66
}

@test "configuration: \$EDPIPE_CONF names the file when -c is not given" {
	run --separate-stderr env EDPIPE_CONF="$CONF" SIS_DB="sqlite:$T/none.db" \
		"$SCRIPT"
	failed sis-extract 66
	grep -q -- "--db sqlite:$T/none.db" "$W/last/run.log"
}

@test "the example configuration parses (the run fails only at the database)" {
	run --separate-stderr env EDPIPE_WORK_DIR="$W" EDPIPE_LOG_DIR="$W/log" \
		SIS_DB="sqlite:$T/none.db" "$SCRIPT" \
		-c "$ROOT/scripts/examples/sync-enrollments.env"
	# the first question to the database is the term in session
	failed term 66
}

@test "run directories older than EDPIPE_KEEP_DAYS are removed; 'last' is the newest" {
	mkdir -p "$W/runs/20200101T000000Z"
	touch -d '2020-01-02' "$W/runs/20200101T000000Z"
	run --separate-stderr env EDPIPE_KEEP_DAYS=3 SIS_DB="sqlite:$T/none.db" \
		"$SCRIPT" -c "$CONF"
	failed sis-extract 66
	[ ! -e "$W/runs/20200101T000000Z" ]
	[ "$(ls "$W/runs" | wc -l)" -eq 1 ]
	[ "$(readlink "$W/last")" = "runs/$(ls "$W/runs")" ]
}

@test "a password in SFTP_URL or SIS_DB is refused (78) before any step, and never written" {
	local pw=Hunter2-sekrit-9f
	sed "s|^SFTP_URL=sftp://|SFTP_URL=sftp://$(id -un):$pw@|" "$CONF" >"$T/pw.env"
	grep -q ":$pw@" "$T/pw.env"
	run --separate-stderr "$SCRIPT" -c "$T/pw.env"
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == *"SFTP_URL has a password in it ('sftp://$(id -un):****@127.0.0.1:"* ]]
	[[ "$stderr" != *"$pw"* ]]
	[ ! -e "$W/runs" ]
	[ -z "$(ls -A "$OUTBOX")" ]
	# From the environment too, and in a database URL.
	run --separate-stderr env SIS_DB="postgres://sis:$pw@127.0.0.1:1/sis" \
		"$SCRIPT" -c "$CONF"
	assert_failure 78
	[[ "$stderr" == *"SIS_DB has a password in it ('postgres://sis:****@127.0.0.1:1/sis')"* ]]
	[[ "$stderr" != *"$pw"* ]]
	run --separate-stderr env SIS_DB="postgres://sis@127.0.0.1:1/sis?password=$pw" \
		"$SCRIPT" -c "$CONF"
	assert_failure 78
	[[ "$stderr" != *"$pw"* ]]
	[ ! -e "$W/runs" ]
	! grep -rqs -- "$pw" "$W"
}

@test "SIS_PARAMS is split into words but never globbed against the current folder" {
	mkdir -p "$T/cwd"
	: >"$T/cwd/x=leak"
	cd "$T/cwd"
	run --separate-stderr env SIS_PARAMS='year=2021 term=WINTER x=*' \
		"$SCRIPT" -c "$CONF"
	grep -F -- '--param year=2021 --param term=WINTER --param x=\*' "$W/last/run.log"
	! grep -q 'x=leak' "$W/last/run.log"
}

# The pid of the child of PID running PROG, once it runs (up to ~10 s).
child_running() {
	local pid=$1 prog=$2 c _
	for _ in $(seq 1 100); do
		for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
			if [ "$(cat "/proc/$c/comm" 2>/dev/null)" = "$prog" ]; then
				echo "$c"
				return 0
			fi
		done
		sleep 0.1
	done
	return 1
}

@test "SIGTERM during lms-fetch: the step is stopped, status.json says killed, exit 143, the lock is free" {
	# A Moodle that takes 60 s per reply keeps lms-fetch busy.
	curl -fsS "http://127.0.0.1:$MPORT/_reset?delay_ms=60000" >/dev/null
	"$SCRIPT" -c "$CONF" 2>"$T/err" &
	local pid=$! child rc=0
	child=$(child_running "$pid" lms-fetch)
	[ -n "$child" ]
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	cat "$T/err"
	[ "$rc" -eq 143 ]
	grep -q "sync-enrollments: killed by SIGTERM during step 'lms-fetch', which was stopped; nothing uploaded" "$T/err"
	# The child is gone, not orphaned.
	run kill -0 "$child"
	assert_failure
	jq -e '.status == "killed" and .signal == "SIGTERM" and .exit == 143 and
		.failed_step == "lms-fetch" and .uploaded == false' "$W/last/status.json"
	grep -q 'killed by SIGTERM during step' "$W/last/run.log"
	[ -z "$(ls -A "$OUTBOX")" ]
	# The next run gets the lock and completes.
	curl -fsS "http://127.0.0.1:$MPORT/_reset" >/dev/null
	run --separate-stderr "$SCRIPT" -q -c "$CONF"
	assert_success
	[ -s "$OUTBOX/enrollments.csv" ]
}

@test "SIGINT (^C) is recorded as killed with exit 130; the step is stopped with TERM" {
	curl -fsS "http://127.0.0.1:$MPORT/_reset?delay_ms=60000" >/dev/null
	# bash starts background jobs with SIGINT ignored, and a shell cannot
	# trap a signal ignored on entry: restore it, as a terminal would.
	python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$SCRIPT" -c "$CONF" 2>"$T/err" &
	local pid=$! child rc=0
	child=$(child_running "$pid" lms-fetch)
	kill -INT "$pid"
	wait "$pid" || rc=$?
	cat "$T/err"
	[ "$rc" -eq 130 ]
	run kill -0 "$child"
	assert_failure
	jq -e '.status == "killed" and .signal == "SIGINT" and .exit == 130' \
		"$W/last/status.json"
	grep -q "killed by SIGINT during step 'lms-fetch'" "$T/err"
}

@test "SIGHUP is recorded as killed with exit 129, and stops the step too" {
	curl -fsS "http://127.0.0.1:$MPORT/_reset?delay_ms=60000" >/dev/null
	"$SCRIPT" -c "$CONF" 2>"$T/err" &
	local pid=$! child rc=0
	child=$(child_running "$pid" lms-fetch)
	kill -HUP "$pid"
	wait "$pid" || rc=$?
	[ "$rc" -eq 129 ]
	run kill -0 "$child"
	assert_failure
	jq -e '.status == "killed" and .signal == "SIGHUP" and .exit == 129' \
		"$W/last/status.json"
}

@test "a course whose SIS rows vanish is refused (3) unless SYNC_ALLOW_COURSE_DROP lists it" {
	cp "$BATS_FILE_TMPDIR/sis.db" "$T/sis.db"
	sqlite3 "$T/sis.db" "DELETE FROM TRANSCRIPTDETAIL WHERE EVENT_ID = 'ANAT5470'"
	sed -i "s|^SIS_DB=.*|SIS_DB=sqlite:$T/sis.db|" "$CONF"
	run --separate-stderr "$SCRIPT" -c "$CONF"
	failed enroll-diff 3
	grep -q 'ANAT5470Winter2021' "$W/last/enroll-diff.err"
	[ ! -e "$OUTBOX/enrollments.csv" ]
	# the 30 drops of the vanished course are among the refused changes
	jq -se 'map(select(.course == "ANAT5470Winter2021" and .op == "drop"))
		| length == 30' "$W/last/refused.ndjson"
	# 33 of 179 drops is over the 10% default too
	run --separate-stderr env SYNC_ALLOW_COURSE_DROP=XYZ,ANAT5470Winter2021 \
		SYNC_MAX_DROP=25% \
		"$SCRIPT" -c "$CONF"
	assert_success
	[ "$(grep -c '^drop,ANAT5470Winter2021,' "$OUTBOX/enrollments.csv")" -eq 30 ]
}

# chiro_members: the SIS's CHIRO members of WINTER 2021, by sqlite3 alone.
chiro_members() {
	sqlite3 "$BATS_FILE_TMPDIR/sis.db" "SELECT DISTINCT
		REPLACE(PEOPLE_CODE_ID, 'P', '') FROM ACADEMIC WHERE CURRICULUM =
		'CHIRO' AND ACADEMIC_YEAR = '2021' AND ACADEMIC_TERM = 'WINTER' AND
		(ENROLL_SEPARATION IS NULL OR ENROLL_SEPARATION NOT IN ('LOA',
		'WITH', 'AWIT')) ORDER BY 1"
}

@test "issue 22: one run syncs a course, a program entry (adds only) and a suspended drop; the term comes from the date" {
	jq '. + {"CHIRO-Community": {program: "CHIRO", id: 5001}} |
		.["ANAT5470Winter2021"].drop_policy = "suspend"' \
		"$ROOT/share/demo/moodle-map.json" >"$T/map.json"
	printf '%s\n' term,year,start,end FALL,2020,2020-09-08,2020-12-18 \
		'# the winter term' WINTER,2021,2021-01-04,2021-03-26 >"$T/terms.csv"
	sed -e '/^SIS_PARAMS=/d' -e "s|^MOODLE_MAPPING=.*|MOODLE_MAPPING=$T/map.json|" \
		"$CONF" >"$T/c.env"
	printf '%s\n' "SYNC_TERMS_FILE=$T/terms.csv" SYNC_DATE=2021-02-15 >>"$T/c.env"
	! grep -q 'WINTER\|2021' "$T/c.env"
	run --separate-stderr "$SCRIPT" -c "$T/c.env"
	assert_success
	[ -z "$output" ]
	n=$(chiro_members | wc -l)
	[ "$n" -gt 10 ]
	[[ "$stderr" == *"sync-enrollments: $((8 + n - 1)) adds, 3 drops uploaded to sftp://"*"; 1 suspended through Moodle web services"* ]]
	# the term in session on SYNC_DATE
	jq -se 'map(select(.term != "WINTER" or .year != "2021")) | length == 0' \
		"$W/last/desired.ndjson"
	grep -q 'term: WINTER 2021 (on 2021-02-15' "$W/last/run.log"
	# the program: every member not yet enrolled is added, nobody dropped
	diff -u <(chiro_members | grep -vx "$CHIRO1") \
		<(grep '^add,CHIRO-Community,' "$OUTBOX/enrollments.csv" | cut -d, -f3 | sort)
	run ! grep -e '^drop,CHIRO-Community,' -e 999999999 "$OUTBOX/enrollments.csv"
	[[ "$stderr" == *"enroll-diff: 1 drop left out: drop policy keep"* ]]
	# the academic courses: the usual change set, but ANAT5470's drop is a
	# suspension through Moodle (Conduit has none), not a Conduit drop
	diff -u <(expected_changes | grep -v -e '^drop,ANAT5470Winter2021,' -e ',CHIRO-Community,') \
		<(tail -n +2 "$OUTBOX/enrollments.csv" | grep -v ',CHIRO-Community,' | sort)
	drop=$(expected_changes | grep '^drop,ANAT5470Winter2021,')
	u=$(cut -d, -f3 <<<"$drop")
	[ -n "$u" ]
	jq -e --arg u "$u" '.op == "drop" and .user == $u and .result == "ok" and
		.message == "suspended as student"' "$W/last/suspended.ndjson"
	curl -fsS "http://127.0.0.1:$MPORT/_state" | jq -e --arg u "$u" \
		'.["4751"][] | select(.idnumber == $u) | ._status == 1 and
		[.roles[].shortname] == ["student"]'
	jq -e '.status == "ok" and .uploaded' "$W/last/status.json"
}

@test "the term from the SIS calendar (ACADEMICCALENDAR) when no terms file is set" {
	sed -e '/^SIS_PARAMS=/d' "$CONF" >"$T/c.env"
	run --separate-stderr env SYNC_DATE=2021-03-01 "$SCRIPT" -c "$T/c.env"
	assert_success
	[[ "$stderr" == *"sync-enrollments: 8 adds, 4 drops uploaded to sftp://"* ]]
	[ "$(jq -c . "$W/last/term.ndjson")" = '{"year":"2021","term":"WINTER"}' ]
	diff -u <(expected_changes) <(tail -n +2 "$OUTBOX/enrollments.csv" | sort)
	# between terms there is nothing to do, and the run says so
	rm "$OUTBOX/enrollments.csv"
	run --separate-stderr env SYNC_DATE=2021-12-25 "$SCRIPT" -c "$T/c.env"
	assert_success
	[[ "$stderr" == *"no term in session on 2021-12-25 in the SIS term calendar"*"nothing to sync"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
	[ ! -e "$W/last/desired.ndjson" ]
}

@test "term configuration errors exit 78 before the SIS is asked for enrollments" {
	sed -e '/^SIS_PARAMS=/d' "$CONF" >"$T/c.env"
	printf '%s\n' WINTER,2021,2021-01-04,2021-03-26 WINTER2,2021,2021-03-01,2021-04-01 >"$T/overlap.csv"
	run --separate-stderr env SYNC_TERMS_FILE="$T/overlap.csv" SYNC_DATE=2021-03-15 \
		"$SCRIPT" -c "$T/c.env"
	assert_failure 78
	[[ "$stderr" == *"2021-03-15 is in 2 terms of SYNC_TERMS_FILE $T/overlap.csv: 2021 WINTER;2021 WINTER2;"* ]]
	printf '%s\n' WINTER,2021,2021-01-04 >"$T/short.csv"
	run --separate-stderr env SYNC_TERMS_FILE="$T/short.csv" SYNC_DATE=2021-03-15 \
		"$SCRIPT" -c "$T/c.env"
	assert_failure 78
	[[ "$stderr" == *"$T/short.csv:1: not term,year,start,end with dates YYYY-MM-DD, start first"* ]]
	run --separate-stderr env SYNC_DATE=15/03/2021 "$SCRIPT" -c "$T/c.env"
	assert_failure 78
	[[ "$stderr" == *"SYNC_DATE '15/03/2021' is not a date YYYY-MM-DD"* ]]
	run --separate-stderr env SIS_PARAMS=year=2021 "$SCRIPT" -c "$T/c.env"
	assert_failure 78
	[[ "$stderr" == *"names only one of year= and term="* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
}

# sis_people: "user,firstname,lastname,email" of the term's people with an
# e-mail address, straight from the demo SIS, sorted.
sis_people() {
	sqlite3 -csv "$BATS_FILE_TMPDIR/sis.db" "SELECT DISTINCT
		REPLACE(p.PEOPLE_CODE_ID, 'P', ''), p.FIRST_NAME, p.LAST_NAME,
		e.Email FROM ACADEMIC a JOIN PEOPLE p ON p.PEOPLE_CODE_ID =
		a.PEOPLE_CODE_ID JOIN EmailAddress e ON e.PeopleOrgCodeId =
		p.PEOPLE_CODE_ID AND e.EmailType = 'STUDENT' WHERE
		a.ACADEMIC_YEAR = '2021' AND a.ACADEMIC_TERM = 'WINTER' AND
		(a.ENROLL_SEPARATION IS NULL OR a.ENROLL_SEPARATION NOT IN
		('LOA', 'WITH', 'AWIT'))" | tr -d '"' | sort
}

@test "issue 22 done: one run creates a new user, syncs a course, a program entry (adds only) and a suspended drop; no term configured" {
	jq '. + {"CHIRO-Community": {program: "CHIRO", id: 5001}} |
		.["ANAT5470Winter2021"].drop_policy = "suspend"' \
		"$ROOT/share/demo/moodle-map.json" >"$T/map.json"
	printf '%s\n' term,year,start,end WINTER,2021,2021-01-04,2021-03-26 >"$T/terms.csv"
	sed -e '/^SIS_PARAMS=/d' -e "s|^MOODLE_MAPPING=.*|MOODLE_MAPPING=$T/map.json|" \
		"$CONF" >"$T/c.env"
	printf '%s\n' "SYNC_TERMS_FILE=$T/terms.csv" SYNC_DATE=2021-02-15 \
		SYNC_USERS=1 >>"$T/c.env"
	! grep -q 'WINTER\|2021' "$T/c.env"
	run --separate-stderr "$SCRIPT" -c "$T/c.env"
	assert_success
	[ -z "$output" ]
	n=$(chiro_members | wc -l)
	# Moodle's users, by idnumber, as the test server gives them
	curl -fsS "http://127.0.0.1:$MPORT/_state" | jq -r '[.. | objects |
		select(.idnumber? != null and .idnumber != "" and .username?)] |
		unique_by(.idnumber)[] | .idnumber' | sort >"$T/moodle-ids"
	sis_people >"$T/people"
	cut -d, -f1 "$T/people" | comm -23 - "$T/moodle-ids" >"$T/new"
	u=$(wc -l <"$T/new")
	[ "$u" -gt 0 ]
	[[ "$stderr" == *"sync-enrollments: $((8 + n - 1)) adds, 3 drops uploaded to sftp://"*"; 1 suspended through Moodle web services; users: $u created, 1 updated through sftp://"*"/auth.csv"* ]]
	# the user file: every SIS person Moodle lacks is created, by idnumber
	assert_equal "$(head -n 1 "$OUTBOX/auth.csv")" \
		"action,username,idnumber,firstname,lastname,email"
	diff -u "$T/new" <(tail -n +2 "$OUTBOX/auth.csv" | grep '^create,' | cut -d, -f3 | sort)
	# the one whose name Moodle has otherwise is updated to the SIS's
	row=$(grep "^$OLDNAME," "$T/people")
	IFS=, read -r _ first last email <<<"$row"
	[ "$(tail -n +2 "$OUTBOX/auth.csv" | grep -v '^create,')" = \
		"update,${email,,},$OLDNAME,$first,$last,$email" ]
	jq -se --arg u "$OLDNAME" 'map(select(.op == "update")) | length == 1
		and .[0].user == $u and .[0].old_lastname == "Oldname"' \
		"$W/last/users-changes.ndjson"
	# one new user, in full, and enrolled in the same run
	v=$(grep -Fxf "$T/new" <(chiro_members) | head -n 1)
	[ -n "$v" ]
	row=$(grep "^$v," "$T/people")
	IFS=, read -r _ first last email <<<"$row"
	grep -Fqx "create,${email,,},$v,$first,$last,$email" "$OUTBOX/auth.csv"
	grep -q "^add,CHIRO-Community,$v,student$" "$OUTBOX/enrollments.csv"
	# users first: Conduit creates them before it enrols them
	up=$(grep -n 'step sftp-put' "$W/last/run.log" | cut -d: -f1 | paste -sd' ' -)
	[ "$(grep 'step sftp-put' "$W/last/run.log" | head -n 1 | grep -c auth.csv)" -eq 1 ] || {
		echo "upload order: $up"; false; }
	# people without an e-mail address get no account, and are named
	[[ "$stderr" == *"SIS people have no e-mail address"* ]]
	jq -se 'length > 0 and all(.email == null)' "$W/last/no-email.ndjson"
	# the program (adds only) and the suspended drop, as before
	run ! grep -e '^drop,CHIRO-Community,' "$OUTBOX/enrollments.csv"
	jq -e '.op == "drop" and .result == "ok"' "$W/last/suspended.ndjson"
	jq -e --argjson u "$u" '.status == "ok" and .uploaded and
		.counts.users_created == $u and .counts.users_deleted == 0' "$W/last/status.json"
}

@test "users: a duplicate SIS id, a Moodle error on the user lookup, bad settings: the status, the message, nothing uploaded" {
	# a person with two student e-mail addresses is two rows: refused
	cp "$BATS_FILE_TMPDIR/sis.db" "$T/sis.db"
	p=$(sqlite3 "$T/sis.db" "SELECT PeopleOrgCodeId FROM EmailAddress
		JOIN ACADEMIC ON PEOPLE_CODE_ID = PeopleOrgCodeId WHERE
		ENROLL_SEPARATION IS NULL ORDER BY 1 LIMIT 1")
	sqlite3 "$T/sis.db" "INSERT INTO EmailAddress VALUES ('$p', 'STUDENT',
		'second@students.example.edu', 1)"
	sed -e "s|^SIS_DB=.*|SIS_DB=sqlite:$T/sis.db|" "$CONF" >"$T/c.env"
	echo SYNC_USERS=1 >>"$T/c.env"
	run --separate-stderr "$SCRIPT" -c "$T/c.env"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"powercampus-people.sql: the same user more than once (a person with two rows, e.g. two e-mail addresses): ${p#P}"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
	jq -e '.status == "failed" and (.uploaded | not)' "$W/last/status.json"
	# Moodle refuses the user lookup (an error inside HTTP 200): the run
	# stops there, before any file is made or uploaded
	curl -fsS "http://127.0.0.1:$MPORT/_reset?users_error=1" >/dev/null
	echo SYNC_USERS=1 >>"$CONF"
	run --separate-stderr "$SCRIPT" -c "$CONF"
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"core_user_get_users_by_field: Moodle error nopermissions"* ]]
	jq -e '.failed_step == "lms-fetch-users"' "$W/last/status.json"
	[ ! -e "$W/last/users.csv" ] && [ ! -e "$W/last/enrollments.csv" ]
	[ -z "$(ls -A "$OUTBOX")" ]
	# settings
	run --separate-stderr env SYNC_USERS=yes "$SCRIPT" -c "$T/c.env"
	assert_failure 78
	[[ "$stderr" == *"SYNC_USERS 'yes': 0 or 1"* ]]
	run --separate-stderr env SYNC_USER_DROP=erase "$SCRIPT" -c "$T/c.env"
	assert_failure 78
	[[ "$stderr" == *"SYNC_USER_DROP 'erase': keep or delete"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
}

@test "SYNC_USERS_PUSH=lms-push: the users go through Moodle web services before the enrollment file; a refused user stops the run" {
	printf '%s\n' SYNC_USERS=1 SYNC_USERS_PUSH=lms-push >>"$CONF"
	# Moodle's users before the run, by idnumber
	curl -fsS "http://127.0.0.1:$MPORT/_state" | jq -r '[.. | objects |
		select(.idnumber? != null and .idnumber != "" and .username?)] |
		unique_by(.idnumber)[] | .idnumber' | sort >"$T/moodle-ids"
	sis_people >"$T/people"
	cut -d, -f1 "$T/people" | comm -23 - "$T/moodle-ids" >"$T/new"
	u=$(wc -l <"$T/new")
	[ "$u" -gt 1 ]
	# A username Moodle has already (another person's): that create is
	# refused, and the run stops before the enrollment file.
	v=$(head -n 1 "$T/new")
	IFS=, read -r _ first last email <<<"$(grep "^$v," "$T/people")"
	printf '{"op":"add","user":"X%s","username":"%s","firstname":"A","lastname":"B","email":"x@example.edu"}\n' \
		"$v" "${email,,}" >"$T/taken.ndjson"
	MOODLE_URL=http://127.0.0.1:$MPORT lms-push moodle \
		--token-file "$BATS_FILE_TMPDIR/token" "$T/taken.ndjson" >/dev/null
	run --separate-stderr "$SCRIPT" -c "$CONF"
	assert_failure 1
	[ -z "$output" ]
	[[ "$stderr" == *"step 'lms-push-users' failed with exit status 1"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
	jq -e '.failed_step == "lms-push-users"' "$W/last/status.json"
	[ "$(jq -r --arg v "$v" 'select(.user == $v) | .result + " " + .message' \
		"$W/last/users-pushed.ndjson")" = \
		"failed core_user_create_users: Moodle error invalidparameter: Invalid parameter value detected (Username already exists: ${email,,})" ]
	# The others were created, once each: a second run has nothing to
	# create but the refused one (the taken name freed by a reset).
	curl -fsS "http://127.0.0.1:$MPORT/_reset" >/dev/null
	run --separate-stderr "$SCRIPT" -c "$CONF"
	assert_success
	[[ "$stderr" == *" uploaded to sftp://"*"; users: $u created, 1 updated through Moodle web services"* ]]
	[ ! -e "$OUTBOX/auth.csv" ] && [ -s "$OUTBOX/enrollments.csv" ]
	lms-fetch moodle users --url "http://127.0.0.1:$MPORT" --token-file \
		"$BATS_FILE_TMPDIR/token" --field idnumber --value-file "$T/new" |
		jq -r .user | sort >"$T/created"
	diff -u "$T/new" "$T/created"
	IFS=, read -r _ first last email <<<"$(grep "^$v," "$T/people")"
	[ "$(lms-fetch moodle users --url "http://127.0.0.1:$MPORT" --token-file \
		"$BATS_FILE_TMPDIR/token" --field idnumber --value "$v" |
		jq -r '[.username, .firstname, .lastname, .email] | join(",")')" = \
		"${email,,},$first,$last,$email" ]
	[ "$(lms-fetch moodle users --url "http://127.0.0.1:$MPORT" --token-file \
		"$BATS_FILE_TMPDIR/token" --field idnumber --value "$OLDNAME" |
		jq -r .lastname)" = "$(grep "^$OLDNAME," "$T/people" | cut -d, -f3)" ]
	# users first: lms-push-users runs before the enrollment upload
	[ "$(grep -n 'step lms-push-users' "$W/last/run.log" | cut -d: -f1)" -lt \
		"$(grep -n 'step sftp-put' "$W/last/run.log" | cut -d: -f1)" ]
	# a dry run sends nothing: the calls are listed
	curl -fsS "http://127.0.0.1:$MPORT/_reset" >/dev/null
	rm -f "$OUTBOX"/*
	run --separate-stderr "$SCRIPT" -c "$CONF" -n
	assert_success
	[[ "$stderr" == *"users: $u to create, 1 to update NOT sent (calls in "* ]]
	grep -q 'wsfunction=core_user_create_users' "$W/last/lms-push-users.out"
	! grep -q "$(cat "$BATS_FILE_TMPDIR/token")" "$W/last/lms-push-users.out"
	[ -z "$(lms-fetch moodle users --url "http://127.0.0.1:$MPORT" --token-file \
		"$BATS_FILE_TMPDIR/token" --field idnumber --value "$v")" ]
	# settings
	run --separate-stderr env SYNC_USERS_PUSH=soap "$SCRIPT" -c "$CONF"
	assert_failure 78
	[[ "$stderr" == *"SYNC_USERS_PUSH 'soap': conduit or lms-push"* ]]
	run --separate-stderr env SYNC_USER_DROP=delete "$SCRIPT" -c "$CONF"
	assert_failure 78
	[[ "$stderr" == *"SYNC_USER_DROP=delete needs SYNC_USERS_PUSH=conduit: lms-push does not delete users"* ]]
	[ -z "$(ls -A "$OUTBOX")" ]
}
