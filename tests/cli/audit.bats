#!/usr/bin/env bats
# The audit log (issue 18 item 3): sync-enrollments against the demo SIS
# in SQLite, the Moodle test server (tests/servers/moodle_server.py)
# serving the demo's recorded roster and a real sshd as Conduit's drop
# box; then edpipe-audit (scripts/audit) answering "when and why did this
# student lose access", the file's life (failed uploads, pruning, no
# secrets) and db-load loading it into SQLite.

bats_require_minimum_version 1.5.0
load helper

SYNC=$ROOT/scripts/sync-enrollments
AUDIT=$ROOT/scripts/audit
SRV=$ROOT/tests/servers/sshd.sh
TOKEN=moodle-audit-token-51c9
SNAP=$ROOT/share/demo/moodle-enrollments.ndjson
UNKEYED=$ROOT/share/demo/moodle-enrollments.unkeyed.ndjson
# A student the demo SIS no longer has in this course, but Moodle does:
# the sync drops him.
DROP_USER=000010147 DROP_COURSE=ANAT5470Winter2021

setup_file() {
	need python3 jq flock ssh-keygen sqlite3 curl
	local d=$BATS_FILE_TMPDIR
	"$ROOT/share/demo-sis/make-demo-sis" "$d/sis.db"
	# The Moodle site whose enrolled users are the recorded snapshot.
	demo_moodle_site "$d/site.json"
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
	unset EDPIPE_CONF EDPIPE_WORK_DIR EDPIPE_AUDIT_FILE MOODLE_TOKEN SIS_PASSWORD
}

# sync [VAR=VALUE...]: one run of sync-enrollments with this configuration.
sync() {
	run --separate-stderr env "$@" "$SYNC" -q -c "$CONF"
}

@test "a drop: edpipe-audit names the run, the absence from the SIS extract and the LMS enrollment dropped" {
	sync
	assert_success
	local stamp
	stamp=$(readlink "$W/last")
	stamp=${stamp##*/}
	# The ground truth, from the run's own files: Moodle had him (with
	# these ids), the SIS extract of this run did not.
	run jq -c --arg u "$DROP_USER" --arg c "$DROP_COURSE" \
		'select(.user == $u and .course == $c) | [.course_id, .user_id]' \
		"$W/last/actual.ndjson"
	assert_output '[4751,10147]'
	run jq -sc --arg u "$DROP_USER" --arg c "$DROP_COURSE" \
		'map(select(.user == $u and .course == $c)) | length' \
		"$W/last/desired.ndjson"
	assert_output 0
	# One audit line per change uploaded, all sent to Conduit.
	[ "$(grep -c . "$W/audit.ndjson")" -eq "$(grep -c . "$W/last/changes.ndjson")" ]
	run jq -sc 'map(select(.outcome != "sent" or .target != "conduit")) | length' \
		"$W/audit.ndjson"
	assert_output 0
	run --separate-stderr "$AUDIT" -c "$CONF" "$DROP_USER" "$DROP_COURSE"
	assert_success
	[ -z "$stderr" ]
	assert_line --index 0 --regexp '^TIME +RUN +OP +COURSE +ROLE +OUTCOME +TARGET +WHY$'
	assert_line --index 1 --regexp "^[0-9T:-]+Z +$stamp +drop +$DROP_COURSE +student +sent +conduit +absent from SIS extract of run $stamp; LMS enrollment course_id=4751 user_id=10147\$"
	[ "${#lines[@]}" -eq 2 ]
	# --json: the audit line itself.
	run --separate-stderr "$AUDIT" -w "$W" --json "$DROP_USER"
	assert_success
	run jq -c --arg s "$stamp" '[.run == $s, .script, .op, .outcome,
		.reason, .lms_course_id, .lms_user_id, .sis_row]' <<<"$output"
	assert_output "[true,\"sync-enrollments\",\"drop\",\"sent\",\"absent from the SIS extract of run $stamp\",4751,10147,null]"
}

@test "an add: edpipe-audit names the SIS row behind it, and that row is the record sis-extract wrote" {
	sync
	assert_success
	local rec user row
	rec=$(jq -c 'select(.op == "add")' "$W/last/changes.ndjson" | head -n 1)
	user=$(jq -r .user <<<"$rec")
	row=$(jq -r .sis_row <<<"$rec")
	[[ $row =~ ^powercampus-enrollments\.sql:[0-9]+$ ]]
	# The SIS record with that row number is the one the add came from.
	run jq -c --arg r "$row" 'select(.sis_row == $r) | [.course, .user, .role]' \
		"$W/last/desired.ndjson"
	assert_output "$(jq -c '[.course, .user, .role]' <<<"$rec")"
	EDPIPE_WORK_DIR=$W run --separate-stderr "$AUDIT" "$user"
	assert_success
	assert_line --index 1 --regexp " add +[^ ]+ +student +sent +conduit +SIS row $row \\([A-Z0-9]+\\)\$"
}

@test "edpipe-audit: newest first across runs; usage, no log, no such user" {
	sync
	assert_success
	# Moodle is as it was (Conduit has not applied the file): the next
	# run sends the same changes again.
	sync
	assert_success
	local first second
	first=$(ls "$W/runs" | head -n 1) second=$(ls "$W/runs" | tail -n 1)
	[ "$first" != "$second" ]
	run --separate-stderr "$AUDIT" -w "$W" "$DROP_USER"
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	assert_line --index 1 --partial " $second  drop "
	assert_line --index 2 --partial " $first  drop "
	# No such user (or course): 1 and a message, nothing on stdout.
	run --separate-stderr "$AUDIT" -w "$W" nobody
	assert_failure 1
	[ -z "$output" ]
	[[ "$stderr" == "audit: no changes for user nobody in $W/audit.ndjson" ]]
	run --separate-stderr "$AUDIT" -w "$W" "$DROP_USER" ENGL5655Winter2021
	assert_failure 1
	[ -z "$output" ]
	# The course by its Moodle id matches too.
	run --separate-stderr "$AUDIT" -a "$W/audit.ndjson" -j "$DROP_USER" 4751
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	# Usage errors (2), no log (66).
	run --separate-stderr "$AUDIT" -w "$W"
	assert_failure 2
	[[ "$stderr" == *"audit: which user? give USER"* ]]
	run --separate-stderr "$AUDIT" --bogus -w "$W" x
	assert_failure 2
	[[ "$stderr" == *"unknown option '--bogus'"* ]]
	run --separate-stderr "$AUDIT" -w "$T/none" x
	assert_failure 66
	run --separate-stderr "$AUDIT" -a "$T/none.ndjson" x
	assert_failure 66
	[[ "$stderr" == *"no audit log '$T/none.ndjson'"* ]]
	run --separate-stderr "$AUDIT" -h
	assert_success
	assert_line --index 0 "usage: audit [-w DIR | -c FILE | -a FILE] [-j] USER [COURSE]"
}

@test "a failed upload writes no 'sent' line: its changes are logged failed, with the step's status" {
	: >"$T/empty_known_hosts"
	sync SFTP_KNOWN_HOSTS="$T/empty_known_hosts"
	assert_failure 77
	[ -z "$(ls -A "$OUTBOX")" ]
	[ "$(grep -c . "$W/audit.ndjson")" -eq "$(grep -c . "$W/last/changes.ndjson")" ]
	run grep -c '"outcome":"sent"' "$W/audit.ndjson"
	assert_output 0
	run jq -sc 'map(.outcome + ": " + .message) | unique' "$W/audit.ndjson"
	assert_output "[\"failed: not sent: step 'sftp-put' failed with exit status 77\"]"
	run --separate-stderr "$AUDIT" -w "$W" "$DROP_USER"
	assert_success
	assert_line --index 1 --partial "drop  $DROP_COURSE  student  failed   conduit  absent from SIS extract"
	assert_line --index 1 --partial "; not sent: step 'sftp-put' failed with exit status 77"
	# A dry run sends nothing and logs nothing.
	rm "$W/audit.ndjson"
	run --separate-stderr "$SYNC" -n -q -c "$CONF"
	assert_success
	[ ! -e "$W/audit.ndjson" ]
}

@test "the audit log survives pruning, in the work directory or in EDPIPE_LOG_DIR" {
	local a2=$T/logs/audit.ndjson
	sync EDPIPE_LOG_DIR="$T/logs"
	assert_success
	sync EDPIPE_AUDIT_FILE="$a2" EDPIPE_LOG_DIR="$T/logs"
	assert_success
	cp "$W/audit.ndjson" "$T/before"
	cp "$a2" "$T/before2"
	# Everything old: the log, the run folders but last-ok, the copies.
	touch -d 2020-01-02 "$W/audit.ndjson" "$a2" "$W/runs"/* "$T/logs"/*
	sync EDPIPE_KEEP_DAYS=1 EDPIPE_AUDIT_FILE="$a2" EDPIPE_LOG_DIR="$T/logs"
	assert_success
	# The pruning happened: of the two old runs only last-ok's is left.
	[ "$(ls "$W/runs" | wc -l)" -eq 2 ]
	# Both logs are there, what they held kept, the new lines appended.
	cmp "$W/audit.ndjson" "$T/before"
	cmp <(head -n "$(wc -l <"$T/before2")" "$a2") "$T/before2"
	[ "$(wc -l <"$a2")" -eq $(( 2 * $(wc -l <"$T/before2") )) ]
}

@test "no secret in the audit log; it is owner-only under umask 022" {
	umask 022
	sync
	assert_success
	run stat -c %a "$W/audit.ndjson"
	assert_output 600
	run grep -c -e "$TOKEN" -e token "$W/audit.ndjson"
	assert_output 0
	# Nor the names and e-mail addresses of the records.
	run grep -c -e '@students' -e '"name"' -e '"email"' "$W/audit.ndjson"
	assert_output 0
}

@test "db-load loads the audit log into a SQLite table (the man page's one-liner)" {
	need sqlite3
	sync
	assert_success
	local n
	n=$(grep -c . "$W/audit.ndjson")
	run --separate-stderr "$EDPIPE_BIN/db-load" --db "sqlite:$T/audit.db" \
		--table audit --create --mode replace --max-shrink 100 \
		"$W/audit.ndjson"
	assert_success
	run sqlite3 "$T/audit.db" "SELECT count(*) FROM audit"
	assert_output "$n"
	run sqlite3 -separator ' ' "$T/audit.db" "SELECT op, course, lms_user_id,
		reason = 'absent from the SIS extract of run ' || run FROM audit
		WHERE user = '$DROP_USER'"
	assert_output "drop $DROP_COURSE 10147 1"
	# Reloaded whole after another run: the table follows the file.
	sync
	assert_success
	run --separate-stderr "$EDPIPE_BIN/db-load" --db "sqlite:$T/audit.db" \
		--table audit --create --mode replace --max-shrink 100 \
		"$W/audit.ndjson"
	assert_success
	run sqlite3 "$T/audit.db" "SELECT count(DISTINCT run) || ' ' || count(*) FROM audit"
	assert_output "2 $((2 * n))"
}

@test "lms-push result records: each change's own result and message" {
	# ep_audit as a script that applies changes with lms-push calls it
	# (lms-push(1) OUTPUT: the change, then result and message).
	cat >"$T/results.ndjson" <<'EOF'
{"op":"add","course":"M1","user":"u1","role":"student","course_id":7,"sis_row":"q.sql:3","result":"ok","message":"enrolled as student"}
{"op":"drop","course":"M1","course_id":7,"user":"u2","user_id":12,"role":"student","enrollment_id":902,"result":"failed","message":"invalid enrolment"}
{"op":"update","course":"M1","user":"u3","role":"teacher","old_role":"student","sis_row":"q.sql:4","actual_user_id":13,"actual_enrollment_id":903,"result":"ok","message":"role changed"}
EOF
	mkdir -p "$T/w/runs/20260101T000000Z"
	run --separate-stderr bash -c '
		PROG=test-push
		. "$2/scripts/lib/pipeline.sh"
		EDPIPE_WORK_DIR=$1 RUN=$1/runs/20260101T000000Z
		ep_audit "$3" canvas sent' _ "$T/w" "$ROOT" "$T/results.ndjson"
	assert_success
	run jq -c '[.op, .target, .outcome, .message, .sis_row, .lms_user_id,
		.lms_enrollment_id, .old_role]' "$T/w/audit.ndjson"
	assert_output '["add","canvas","ok","enrolled as student","q.sql:3",null,null,null]
["drop","canvas","failed","invalid enrolment",null,12,902,null]
["update","canvas","ok","role changed","q.sql:4",13,903,"student"]'
	run "$AUDIT" -w "$T/w" u2
	assert_line --index 1 --partial "failed   canvas  absent from SIS extract of run 20260101T000000Z; LMS enrollment course_id=7 user_id=12 enrollment_id=902; invalid enrolment"
	run "$AUDIT" -w "$T/w" u3
	assert_line --index 1 --partial " update  M1      student->teacher  ok       canvas  SIS row q.sql:4; LMS enrollment user_id=13 enrollment_id=903"
}

@test "killed while uploading: the changes are logged 'unknown', never 'sent'" {
	# An SSH server that accepts the connection and never answers keeps
	# sftp-put busy until the run is stopped.
	local port pid srv child rc=0
	port=$(free_port)
	python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(5)
c = s.accept(); time.sleep(120)' "$port" &
	srv=$!
	wait_port "$port"
	env SFTP_URL="sftp://$(id -un)@127.0.0.1:$port/x/enrollments.csv" \
		"$SYNC" -q -c "$CONF" 2>"$T/err" &
	pid=$!
	for _ in $(seq 1 200); do
		for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
			[ "$(cat "/proc/$child/comm" 2>/dev/null)" != sftp-put ] ||
				break 2
		done
		sleep 0.1
	done
	[ "$(cat "/proc/$child/comm" 2>/dev/null)" = sftp-put ]
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	kill "$srv" 2>/dev/null || true
	[ "$rc" -eq 143 ]
	[ "$(grep -c . "$W/audit.ndjson")" -eq "$(grep -c . "$W/last/changes.ndjson")" ]
	run jq -sc 'map(.outcome + ": " + .message) | unique' "$W/audit.ndjson"
	assert_output '["unknown: killed by SIGTERM while sending: not known whether they arrived"]'
}

@test "an audit log that cannot be written is an error on stderr; the upload stands" {
	mkdir -p "$T/adir"
	sync EDPIPE_AUDIT_FILE="$T/adir"
	assert_success
	[ -s "$OUTBOX/enrollments.csv" ]
	[[ "$stderr" == *"sync-enrollments: error: cannot open the audit log '$T/adir'"* ]]
	grep -q "error: cannot open the audit log" "$W/last/run.log"
	jq -e '.status == "ok" and .uploaded' "$W/last/status.json"
}
