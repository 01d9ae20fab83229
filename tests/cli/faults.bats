#!/usr/bin/env bats
# Fault injection across the record programs: a full disk under --output,
# a downstream that closes early (SIGPIPE), SIGTERM in the middle of a run.
# (Servers that die mid-stream are also tested with each network program:
# sis-extract-pg, sis-extract-mssql, lms-fetch, sftp-put.)

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	# 20,000 change records, about 2 MB: more than any pipe buffer.
	python3 - "$BATS_FILE_TMPDIR/changes.ndjson" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        f.write(json.dumps({"op": "add" if i % 3 else "drop",
            "course": "C%04d" % (i % 500), "user": "u%06d" % i,
            "role": "student", "name": "Zoë Ōkubo %d" % i}) + "\n")
PY
	python3 - "$BATS_FILE_TMPDIR" <<'PY'
import json, sys, os
d = sys.argv[1]
with open(os.path.join(d, "desired.ndjson"), "w") as a, \
     open(os.path.join(d, "actual.ndjson"), "w") as b:
    for i in range(20000):
        a.write(json.dumps({"course": "C%d" % (i % 50), "user": "u%d" % i,
            "role": "student"}) + "\n")
        if i % 20:
            b.write(json.dumps({"course": "C%d" % (i % 50),
                "user": "v%d" % i, "role": "student"}) + "\n")
PY
}

# Mount a 64 KiB tmpfs at $BATS_TEST_TMPDIR/full (root only).
mount_small() {
	mkdir -p "$BATS_TEST_TMPDIR/full"
	if ! mount -t tmpfs -o size=64k tmpfs "$BATS_TEST_TMPDIR/full" 2>/dev/null; then
		[ "${CI:-}" = true ] && fail "cannot mount a tmpfs under CI"
		skip "cannot mount a tmpfs here (not root?)"
	fi
	MOUNTED=$BATS_TEST_TMPDIR/full
}

teardown() {
	if [ -n "${MOUNTED:-}" ]; then
		umount "$MOUNTED" || true
	fi
}

@test "disk full under conduit-fmt --output: exit 74, no file, no temporary" {
	mount_small
	run --separate-stderr conduit-fmt --to conduit \
		--output "$MOUNTED/enrollments.csv" "$BATS_FILE_TMPDIR/changes.ndjson"
	assert_failure 74
	[[ "$stderr" == conduit-fmt:*"No space left on device"* ]]
	[ -z "$output" ]
	run ls -A "$MOUNTED"
	assert_output ""
}

@test "disk full keeps the previous file whole" {
	mount_small
	printf 'action,shortname,idnumber,role\nadd,C1,u1,student\n' \
		>"$MOUNTED/enrollments.csv"
	run --separate-stderr conduit-fmt --to conduit \
		--output "$MOUNTED/enrollments.csv" "$BATS_FILE_TMPDIR/changes.ndjson"
	assert_failure 74
	run cat "$MOUNTED/enrollments.csv"
	assert_output "$(printf 'action,shortname,idnumber,role\nadd,C1,u1,student')"
	run ls -A "$MOUNTED"
	assert_output "enrollments.csv"
}

@test "disk full under sis-extract --output: exit 74, no file" {
	mount_small
	python3 - "$BATS_TEST_TMPDIR/sis.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("create table t (id integer, name text)")
c.executemany("insert into t values (?, ?)",
              ((i, "name %d Zoë" % i) for i in range(20000)))
c.commit()
PY
	run --separate-stderr sis-extract --db "sqlite:$BATS_TEST_TMPDIR/sis.db" \
		--sql 'select id, name from t' --output "$MOUNTED/t.ndjson"
	assert_failure 74
	[ -z "$output" ]
	run ls -A "$MOUNTED"
	assert_output ""
}

@test "a full stdout is exit 74 for every record program" {
	run --separate-stderr bash -c "enroll-diff --max-drop 100% --max-drop-count 1000000 --max-course-drop 100% \
		'$BATS_FILE_TMPDIR/desired.ndjson' '$BATS_FILE_TMPDIR/actual.ndjson' >/dev/full"
	assert_failure 74
	run --separate-stderr bash -c "conduit-fmt --to conduit '$BATS_FILE_TMPDIR/changes.ndjson' >/dev/full"
	assert_failure 74
	run --separate-stderr bash -c "rec-hash --algo sha256 --field user '$BATS_FILE_TMPDIR/changes.ndjson' >/dev/full"
	assert_failure 74
}

# A closed downstream: the program stops, with no message.
@test "SIGPIPE from '| head -1' ends quietly" {
	local p
	for p in "enroll-diff --max-drop 100% --max-drop-count 1000000 --max-course-drop 100% $BATS_FILE_TMPDIR/desired.ndjson $BATS_FILE_TMPDIR/actual.ndjson" \
		"conduit-fmt --to conduit $BATS_FILE_TMPDIR/changes.ndjson" \
		"rec-hash --algo sha256 --field user $BATS_FILE_TMPDIR/changes.ndjson" \
		"conduit-fmt --to csv $BATS_FILE_TMPDIR/changes.ndjson"; do
		run --separate-stderr bash -c "set -o pipefail; $p | head -n 1 >/dev/null"
		[ -z "$stderr" ] || fail "$p wrote to stderr: $stderr"
		# Killed by SIGPIPE (141) or a clean exit: never an error code.
		[ "$status" -eq 141 ] || [ "$status" -eq 0 ] ||
			fail "$p exited $status"
	done
}

@test "SIGTERM in the middle of conduit-fmt --output removes the temporary" {
	local fifo=$BATS_TEST_TMPDIR/in pid
	mkdir "$BATS_TEST_TMPDIR/out"
	mkfifo "$fifo"
	conduit-fmt --to conduit --output "$BATS_TEST_TMPDIR/out/e.csv" "$fifo" \
		2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	exec 8>"$fifo"
	head -n 100 "$BATS_FILE_TMPDIR/changes.ndjson" >&8
	# The temporary file exists while the program waits for more input.
	for _ in $(seq 50); do
		[ -n "$(ls -A "$BATS_TEST_TMPDIR/out")" ] && break
		sleep 0.1
	done
	[ -n "$(ls -A "$BATS_TEST_TMPDIR/out")" ]
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	exec 8>&-
	[ "$st" -eq 143 ] || fail "conduit-fmt exited $st, not by SIGTERM"
	run ls -A "$BATS_TEST_TMPDIR/out"
	assert_output ""
}

# An LMS that dies in the middle of a fetch: the records already read are
# not passed on as if they were the whole roster.
@test "an LMS server killed mid-fetch: exit 75, nothing on stdout" {
	local port spid fpid st=0
	port=$(free_port)
	python3 "$ROOT/tests/servers/moodle_server.py" "$port" --token t0k3n-killed-mid-fetch \
		--synthetic 400:5 --delay-ms 20 >"$BATS_TEST_TMPDIR/server.log" 2>&1 &
	spid=$!
	wait_port "$port"
	MOODLE_TOKEN=t0k3n-killed-mid-fetch lms-fetch moodle enrollments --url "http://127.0.0.1:$port" \
		--course-id "$(seq -s, 1 400)" --jobs 2 --retries 2 --retry-base-ms 20 \
		--timeout 5 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	fpid=$!
	# Let some courses come back first.
	for _ in $(seq 100); do
		[ "$(curl -fsS "http://127.0.0.1:$port/_stats" | jq .keys)" -ge 20 ] && break
		sleep 0.05
	done
	kill -KILL "$spid"
	wait "$spid" 2>/dev/null || true
	wait "$fpid" || st=$?
	[ "$st" -eq 75 ] || fail "lms-fetch exited $st: $(cat "$BATS_TEST_TMPDIR/err")"
	[ ! -s "$BATS_TEST_TMPDIR/out" ] || fail "records were passed on"
	grep -q "^lms-fetch: course [0-9]*: " "$BATS_TEST_TMPDIR/err" ||
		fail "no message naming the course: $(cat "$BATS_TEST_TMPDIR/err")"
}
