#!/usr/bin/env bats
# scripts/canvas-inventory's canvas_zoom_meetings job when a meeting is
# deleted between the Canvas links that name it and its participants
# request (Zoom answers 404): the job loads the rest, the run is partial
# (exit 4), and no secret is in any output or file of the run.  The
# shared set-up is pipeline-canvas-inventory.bash's.
bats_require_minimum_version 1.5.0
load helper
load pipeline-canvas-inventory

setup_file() {
	need python3 jq flock sqlite3 curl
	ci_start_canvas
	ci_start_zoom
}

teardown_file() {
	ci_stop_canvas
}

setup() {
	INV_URL=sqlite:$BATS_TEST_TMPDIR/inventory.db
	inv_sql_user='"user"'
	ci_conf
}

@test "canvas-inventory: a Zoom meeting gone before its participants are read loads the rest, partial, exit 4" {
	local d=$BATS_FILE_TMPDIR M2=96311122233
	printf '%s\n' 'INVENTORY_JOBS="canvas_zoom_meetings"' \
		"ZOOM_URL=http://127.0.0.1:$ZPORT" \
		"ZOOM_TOKEN_URL=http://127.0.0.1:$ZPORT/oauth/token" \
		ZOOM_ACCOUNT_ID=acct-inv-1 "ZOOM_CLIENT_ID_FILE=$d/zoom-id" \
		"ZOOM_CLIENT_SECRET_FILE=$d/zoom-secret" >>"$T/inv.env"
	curl -fsS "http://127.0.0.1:$ZPORT/_reset?max_page_size=20&gone=$M2" >/dev/null
	run --separate-stderr "$ROOT/scripts/canvas-inventory" -c "$T/inv.env"
	assert_failure 4
	assert_output ''
	[[ $stderr == *"lms-fetch: warning: skipped meeting $M2: participants of meeting $M2: HTTP 404: Meeting does not exist: $M2."* ]] ||
		fail "$stderr"
	[[ $stderr == *"warning: Zoom meetings gone since they were listed, loaded without participants: $M2 (courses [201];"* ]]
	[[ $stderr == *"zoom_participant: 45 rows loaded"* ]]
	run ci_q "SELECT count(*) AS n FROM zoom_meeting"
	assert_output '{"n":2}'
	run ci_q "SELECT count(DISTINCT meeting_id) AS m, count(*) AS n FROM zoom_participant"
	assert_output '{"m":1,"n":45}'
	# The job's own run is recorded as loaded, not failed.
	run ci_q "SELECT job_name, status FROM job_run ORDER BY id"
	assert_output '{"job_name":"canvas-zoom-meetings","status":"successful"}'
	run jq -c '[.status, .exit, .failed_step, .skipped_courses,
		(.steps[] | select(.name == "fetch-zoom-participants")
		| [.status, .exit])]' "$T/inv-work/last/status.json"
	assert_output '["partial",4,null,[201],["partial",4]]'
	[ "$(jq -s -r '.[-1].status' "$T/inv-work/history.ndjson")" = partial ]
	# No secret in what the run said or left: status.json, history,
	# run.log, the steps' .err files, the fetched records.
	printf '%s\n' "$ZID" "$ZSECRET" "$ZTOKEN" "$CTOKEN" >"$d/secrets.list"
	no_secret_in "$d/secrets.list" "$T/inv-work"
}
