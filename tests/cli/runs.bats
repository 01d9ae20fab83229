#!/usr/bin/env bats
# The record every run leaves: status.json (steps, counts, artefact),
# history.ndjson, the last and last-ok links, edpipe-runs (scripts/runs)
# that lists and shows runs, pruning of old run folders and of old log
# copies, and EDPIPE_NOTIFY on a run that did not end ok.  The runs are
# the demo's (scripts/demo: demo SIS in SQLite, recorded Moodle roster,
# a file:// outbox), so no server is needed.

bats_require_minimum_version 1.5.0
load helper

setup() {
	need python3 jq flock
	D=$BATS_TEST_TMPDIR/demo
	W=$D/work
	SYNC=$ROOT/scripts/sync-enrollments
	RUNS=$ROOT/scripts/runs
	unset EDPIPE_CONF EDPIPE_NOTIFY EDPIPE_NOTIFY_TIMEOUT EDPIPE_WORK_DIR
	# A notify command that records each call: its environment and the
	# status it read on stdin.
	NOTE=$BATS_TEST_TMPDIR/notify
	cat >"$BATS_TEST_TMPDIR/record-notify" <<EOF
#!/bin/sh
{ printf 'call %s %s %s %s\n' "\$EDPIPE_SCRIPT" "\$EDPIPE_STATUS" \
	"\$EDPIPE_EXIT" "\$EDPIPE_RUN_DIR"
  jq -c '{status, exit}'; } >>"$NOTE"
EOF
	chmod +x "$BATS_TEST_TMPDIR/record-notify"
}

# demo: one run of the demo (it builds the SIS and runs sync-enrollments).
demo() {
	"$ROOT/scripts/demo" "$D" >/dev/null
}

# failing: a run of the demo's configuration whose SIS database is gone
# (sis-extract exits 66).
failing() {
	SIS_DB=sqlite:$D/gone.db "$SYNC" -q -c "$D/demo.env"
}

@test "runs: three demo runs and a failed one, listed and shown by edpipe-runs" {
	demo
	demo
	demo
	run --separate-stderr failing
	assert_failure 66
	local -a stamps
	mapfile -t stamps < <(ls "$W/runs")
	[ "${#stamps[@]}" -eq 4 ]
	# One history line per run, in order, the failed one too.
	run jq -r '[.stamp, .script, .status, .exit, .counts.add,
		.counts.drop, (.failed_step // "-")] | map(tostring) |
		join(" ")' "$W/history.ndjson"
	assert_equal "${#lines[@]}" 4
	assert_equal "${lines[0]}" "${stamps[0]} sync-enrollments ok 0 8 4 -"
	assert_equal "${lines[2]}" "${stamps[2]} sync-enrollments ok 0 8 4 -"
	assert_equal "${lines[3]}" "${stamps[3]} sync-enrollments failed 66 null null sis-extract"
	jq -e '.duration_s >= 0 and (.started | test("Z$"))' "$W/history.ndjson"
	# last is the failed run, last-ok the third.
	assert_equal "$(readlink "$W/last")" "runs/${stamps[3]}"
	assert_equal "$(readlink "$W/last-ok")" "runs/${stamps[2]}"
	# The table: a header and the four runs.
	run --separate-stderr "$RUNS" -w "$W"
	assert_success
	assert_equal "${#lines[@]}" 5
	[[ ${lines[0]} == "STAMP "*"SCRIPT "*"STATUS "*"EXIT "*"ADD "*"DROP "* ]]
	[[ ${lines[1]} =~ ^${stamps[0]}\ +sync-enrollments\ +ok\ +0\ +8\ +4\ +0\ +0\ +0\ +[0-9.]+$ ]]
	[[ ${lines[4]} =~ ^${stamps[3]}\ +sync-enrollments\ +failed\ +66\ +-\ +-\ +-\ +0\ +0\ +[0-9.]+\ +sis-extract$ ]]
	# -n and -c (the work directory from the script's configuration).
	run --separate-stderr "$RUNS" -c "$D/demo.env" -n 2
	assert_success
	assert_equal "${#lines[@]}" 3
	[[ ${lines[1]} == "${stamps[2]} "* ]]
	# show last-ok: the summary and the step table with record counts.
	run --separate-stderr "$RUNS" show -w "$W" last-ok
	assert_success
	assert_line --index 0 "run       $W/runs/${stamps[2]}"
	assert_line --partial "status    ok, exit 0"
	assert_line "changes   8 add, 4 drop, 0 update; 0 refused; 0 skipped course(s)"
	local sum
	sum=$(sha256sum <"$D/outbox/enrollments.csv")
	assert_line "artefact  enrollments.csv, $(stat -c %s "$D/outbox/enrollments.csv") bytes, sha256 ${sum%% *}, sent to file://$D/outbox/enrollments.csv"
	assert_line --regexp '^enroll-diff +ok +0 +[0-9.]+ +371 +12 +changes.ndjson$'
	assert_line --regexp '^sis-extract +ok +0 +[0-9.]+ +- +183 +desired.ndjson$'
	# show of the failed run names its step.
	run --separate-stderr "$RUNS" -w "$W" show "${stamps[3]}"
	assert_success
	assert_line --partial "status    failed, exit 66, step sis-extract"
	assert_line --regexp '^sis-extract +failed +66 '
	run --separate-stderr "$RUNS" -w "$W" show 20990101T000000Z
	assert_failure 66
	[[ $stderr == *"no run '20990101T000000Z'"* ]]
	run --separate-stderr "$RUNS" -w "$W" show ../x
	assert_failure 66
	run --separate-stderr "$RUNS" -w "$BATS_TEST_TMPDIR/none"
	assert_failure 66
	run --separate-stderr "$RUNS"
	assert_failure 2
}

@test "status.json: version, steps with record counts, counts and the artefact sent; a failure is never ok" {
	demo
	local s=$W/last/status.json v
	v=$(enroll-diff --version | head -n 1)
	jq -e --arg v "${v##* }" '.version == $v and .status == "ok" and
		.duration_s >= 0 and
		.counts == {add: 8, drop: 4, update: 0, refused: 0,
		skipped_courses: 0} and
		.changes == {add: 8, drop: 4, update: 0} and
		([.steps[].name] == ["sis-extract", "lms-fetch", "lms-fetch",
		"enroll-diff", "conduit-fmt", "sftp-put"]) and
		(.steps | all(.status == "ok" and .exit == 0 and
		.duration_s >= 0)) and
		.artefact.name == "enrollments.csv" and .artefact.sent' "$s"
	# Counts of the records: what the files hold.
	jq -e --argjson d "$(grep -c . "$W/last/desired.ndjson")" \
		--argjson a "$(grep -c . "$W/last/actual.ndjson")" \
		--argjson c "$(grep -c . "$W/last/changes.ndjson")" \
		'(.steps[0].records_out == $d) and (.steps[1].records_out == $a)
		and (.steps[3].records_in == $d + $a) and
		(.steps[3].records_out == $c) and (.steps[4].records_in == $c)' "$s"
	jq -e --arg sha "$(sha256sum <"$W/last/enrollments.csv" | cut -d' ' -f1)" \
		--argjson n "$(stat -c %s "$W/last/enrollments.csv")" \
		'.artefact.sha256 == $sha and .artefact.size == $n' "$s"
	# Refused by the safety limit (3): "refused", the refused changes counted.
	run --separate-stderr env SYNC_MAX_DROP_COUNT=1 "$SYNC" -q -c "$D/demo.env"
	assert_failure 3
	jq -e '.status == "refused" and .exit == 3 and .counts.refused == 12 and
		.failed_step == "enroll-diff" and .steps[-1].status == "failed"
		and .artefact == null and .uploaded == false' "$W/last/status.json"
}

@test "pruning: old run folders and old log copies go, history and last-ok stay" {
	demo
	demo
	local -a old
	mapfile -t old < <(ls "$W/runs")
	run --separate-stderr failing
	assert_failure 66
	# Age everything by 20 days: runs, and the Conduit copies in the log.
	local f
	for f in "$W"/runs/* "$W"/log/*; do
		touch -d '20 days ago' "$f"
	done
	[ "$(ls "$W/log" | wc -l)" -eq 2 ]
	# Not a copy conduit-fmt made: left alone however old.
	echo keep >"$W/log/README"
	touch -d '20 days ago' "$W/log/README"
	EDPIPE_KEEP_DAYS=14 demo
	# The two older runs went, but for the one last-ok named then (the
	# second); the failed one went; the new one is there.
	run ls "$W/runs"
	assert_equal "${#lines[@]}" 2
	assert_equal "${lines[0]}" "${old[1]}"
	[ "$(readlink "$W/last-ok")" = "runs/${lines[1]}" ]
	# Every history line is still there.
	[ "$(grep -c . "$W/history.ndjson")" -eq 4 ]
	# Old log copies went, the new one and README stay.
	run ls "$W/log"
	assert_equal "${#lines[@]}" 2
	assert_line README
	assert_line --regexp '^conduit-[0-9]{8}T[0-9]{6}Z\.csv$'
	# A pruned run is still shown from its history line.
	run --separate-stderr "$RUNS" -w "$W" show "${old[0]}"
	assert_success
	assert_line --index 0 --partial "its folder was removed"
	[[ ${lines[1]} == *"\"stamp\":\"${old[0]}\""* ]]
}

@test "EDPIPE_NOTIFY: called once on failure with the run's environment, never on success" {
	demo
	EDPIPE_NOTIFY="$BATS_TEST_TMPDIR/record-notify" demo
	[ ! -e "$NOTE" ]
	run --separate-stderr env EDPIPE_NOTIFY="$BATS_TEST_TMPDIR/record-notify" \
		SIS_DB="sqlite:$D/gone.db" "$SYNC" -q -c "$D/demo.env"
	assert_failure 66
	local run
	run=$(cd "$W/last" && pwd -P)
	run cat "$NOTE"
	assert_equal "${#lines[@]}" 2
	assert_equal "${lines[0]}" "call sync-enrollments failed 66 $run"
	assert_equal "${lines[1]}" '{"status":"failed","exit":66}'
	# Refused by the safety limit (exit 3): notified too.
	rm "$NOTE"
	run --separate-stderr env EDPIPE_NOTIFY="$BATS_TEST_TMPDIR/record-notify" \
		SYNC_MAX_DROP_COUNT=1 "$SYNC" -q -c "$D/demo.env"
	assert_failure 3
	run cat "$NOTE"
	assert_equal "${#lines[@]}" 2
	[[ ${lines[0]} == "call sync-enrollments refused 3 "* ]]
}

@test "EDPIPE_NOTIFY: a killed run notifies once with status killed" {
	demo
	local before
	before=$(readlink "$W/last")
	mkfifo "$BATS_TEST_TMPDIR/snap.ndjson"
	# lms-fetch (a copy of the snapshot) waits on the FIFO for ever; the
	# kill waits (up to 60 s, for a loaded machine) until it has started.
	MOODLE_SNAPSHOT=$BATS_TEST_TMPDIR/snap.ndjson \
		EDPIPE_NOTIFY="$BATS_TEST_TMPDIR/record-notify" \
		"$SYNC" -q -c "$D/demo.env" 2>"$BATS_TEST_TMPDIR/err" &
	local pid=$! i rc=0
	for i in $(seq 1 600); do
		[ "$(readlink "$W/last")" = "$before" ] ||
			! grep -qs 'step lms-fetch' "$W/last/run.log" || break
		sleep 0.1
	done
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	assert_equal "$rc" 143
	run cat "$NOTE"
	assert_equal "${#lines[@]}" 2
	[[ ${lines[0]} == "call sync-enrollments killed 143 "* ]]
	jq -e '.status == "killed" and .steps[-1].name == "lms-fetch" and
		.steps[-1].status == "killed"' "$W/last/status.json"
	[ "$(jq -r .status "$W/history.ndjson" | tail -n 1)" = killed ]
	[ "$(readlink "$W/last-ok")" != "$(readlink "$W/last")" ]
}

@test "EDPIPE_NOTIFY that fails or hangs: logged, the run's exit status stays" {
	demo
	cat >"$BATS_TEST_TMPDIR/bad-notify" <<'EOF'
#!/bin/sh
echo "cannot reach the mail server" >&2
exit 9
EOF
	chmod +x "$BATS_TEST_TMPDIR/bad-notify"
	run --separate-stderr env EDPIPE_NOTIFY="$BATS_TEST_TMPDIR/bad-notify" \
		SIS_DB="sqlite:$D/gone.db" "$SYNC" -q -c "$D/demo.env"
	assert_failure 66
	[[ $stderr == *"EDPIPE_NOTIFY '$BATS_TEST_TMPDIR/bad-notify' failed with exit status 9"* ]]
	grep -q "cannot reach the mail server" "$W/last/notify.log"
	grep -q "EDPIPE_NOTIFY .* failed with exit status 9" "$W/last/run.log"
	jq -e '.status == "failed" and .exit == 66' "$W/last/status.json"
	# A notify command that hangs is stopped after EDPIPE_NOTIFY_TIMEOUT,
	# the children it started with it.
	printf '#!/bin/sh\nsleep 60 &\necho $! >"%s"\nwait\n' \
		"$BATS_TEST_TMPDIR/sleep.pid" >"$BATS_TEST_TMPDIR/hang-notify"
	chmod +x "$BATS_TEST_TMPDIR/hang-notify"
	local t0=$SECONDS
	run --separate-stderr env EDPIPE_NOTIFY="$BATS_TEST_TMPDIR/hang-notify" \
		EDPIPE_NOTIFY_TIMEOUT=1 SIS_DB="sqlite:$D/gone.db" \
		"$SYNC" -q -c "$D/demo.env"
	assert_failure 66
	[ $((SECONDS - t0)) -lt 20 ]
	[[ $stderr == *"did not finish in 1s and was stopped"* ]]
	# The sleep it started was stopped with it.
	local p
	p=$(cat "$BATS_TEST_TMPDIR/sleep.pid")
	for _ in $(seq 1 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$p" 2>/dev/null
	# A notify command that fails on a successful run is never run.
	run --separate-stderr env EDPIPE_NOTIFY="$BATS_TEST_TMPDIR/bad-notify" \
		"$SYNC" -q -c "$D/demo.env"
	assert_success
	[ -z "$stderr" ]
	run --separate-stderr env EDPIPE_NOTIFY_TIMEOUT=soon "$SYNC" -q -c "$D/demo.env"
	assert_failure 78
	[[ $stderr == *"EDPIPE_NOTIFY_TIMEOUT must be a number of seconds"* ]]
}

@test "notify-mail (the documented example) mails status.json through sendmail" {
	demo
	# A stand-in for sendmail(8) that keeps its arguments and the message.
	cat >"$BATS_TEST_TMPDIR/sendmail" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >"$BATS_TEST_TMPDIR/mail.args"
cat >"$BATS_TEST_TMPDIR/mail.txt"
EOF
	chmod +x "$BATS_TEST_TMPDIR/sendmail"
	run --separate-stderr env SENDMAIL="$BATS_TEST_TMPDIR/sendmail" \
		EDPIPE_NOTIFY="sh $ROOT/scripts/examples/notify-mail admins@example.edu" \
		SIS_DB="sqlite:$D/gone.db" "$SYNC" -q -c "$D/demo.env"
	assert_failure 66
	assert_equal "$(cat "$BATS_TEST_TMPDIR/mail.args")" "-oi -- admins@example.edu"
	local m=$BATS_TEST_TMPDIR/mail.txt
	grep -qx 'To: admins@example.edu' "$m"
	grep -q '^Subject: edpipe-sync-enrollments on .*: failed (exit 66)$' "$m"
	grep -q '"failed_step": "sis-extract"' "$m"
}

@test "a signal between a step's log line and its start still records the step as killed" {
	need flock
	# A script of two steps on pipeline.sh whose second step is
	# interrupted before its process starts: ep_step_files, which runs
	# in that window, sends the signal.
	local s=$BATS_TEST_TMPDIR/two-steps
	cat >"$s" <<EOS
#!/usr/bin/env bash
set -euo pipefail
PROG=two-steps
USAGE="usage: two-steps [-c FILE]"
CONF_VARS=()
. "$ROOT/scripts/lib/pipeline.sh"
ep_init "\$@"
ep_lock
ep_start_run
ep_step first true
ep_step_files() { kill -TERM \$\$; sleep 1; }
ep_step second true
EOS
	chmod +x "$s"
	printf 'EDPIPE_WORK_DIR=%s\n' "$BATS_TEST_TMPDIR/w" >"$BATS_TEST_TMPDIR/t.env"
	run --separate-stderr "$s" -c "$BATS_TEST_TMPDIR/t.env"
	assert_failure 143
	[[ $stderr == *"killed by SIGTERM during step 'second'"* ]]
	run jq -c '[.status, [.steps[] | [.name, .status]]]' \
		"$BATS_TEST_TMPDIR/w/last/status.json"
	assert_output '["killed",[["first","ok"],["second","killed"]]]'
}
