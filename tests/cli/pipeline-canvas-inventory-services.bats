#!/usr/bin/env bats
# scripts/canvas-inventory's jobs that talk to Zoom and Kaltura, against
# their test servers at their worst: a Zoom meeting deleted between the
# Canvas links that name it and its participants request (404: the job
# loads the rest, the run is partial, exit 4), a refused Kaltura secret,
# a Kaltura session answered INVALID_KS.  After each run no secret (the
# Zoom client id and secret, every token, the Kaltura admin secret and
# every ks issued, the Canvas token) is in stdout, stderr or any file of
# the work directory (status.json, history, run.log, the steps' .err
# files and fetched records).  The shared set-up is
# pipeline-canvas-inventory.bash's.
bats_require_minimum_version 1.5.0
load helper
load pipeline-canvas-inventory

setup_file() {
	need python3 jq flock sqlite3 curl
	ci_start_canvas
	ci_start_zoom
	# Not ci_start_kaltura: this one logs the sessions it issues.
	lms_server kaltura KPORT "$KSECRET" "$FIX/kaltura/media.json" \
		--partner-id 1234567 --ks-log "$BATS_FILE_TMPDIR/ks-issued"
	(
		umask 077
		printf '%s\n' "$KSECRET" >"$BATS_FILE_TMPDIR/ksecret"
		printf 'not-the-kaltura-secret\n' >"$BATS_FILE_TMPDIR/bad-ksecret"
	)
}

teardown_file() {
	ci_stop_canvas
	lms_server_stop kaltura
}

# no_run_secret: none of the services' secrets, nor a ks issued so far,
# in the last run's stdout and stderr or under the work directory.
no_run_secret() {
	local l=$BATS_FILE_TMPDIR/secrets.list
	printf '%s\n' "$ZID" "$ZSECRET" "$ZTOKEN" "$CTOKEN" "$KSECRET" \
		not-the-kaltura-secret >"$l"
	cat "$BATS_FILE_TMPDIR/ks-issued" >>"$l" 2>/dev/null || true
	no_secret_in "$l" "$T/inv-work"
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
	no_run_secret
}

@test "canvas-inventory mivideo: a good run, a refused secret and an INVALID_KS leave no secret or ks anywhere" {
	printf '%s\n' 'INVENTORY_JOBS="mivideo"' \
		"KALTURA_URL=http://127.0.0.1:$KPORT" KALTURA_PARTNER_ID=1234567 \
		"KALTURA_SECRET_FILE=$BATS_FILE_TMPDIR/ksecret" KALTURA_RETRIES=0 \
		>>"$T/inv.env"
	curl -fsS "http://127.0.0.1:$KPORT/_reset" >/dev/null
	run --separate-stderr "$ROOT/scripts/canvas-inventory" -c "$T/inv.env"
	assert_success
	[[ $stderr == *"mivideo_media_created: 3 new rows loaded"* ]]
	grep -q '^djJ8' "$BATS_FILE_TMPDIR/ks-issued"
	no_run_secret
	# The session refused: the run fails (77), a failed job_run row.
	sed -i 's|/ksecret$|/bad-ksecret|' "$T/inv.env"
	run --separate-stderr "$ROOT/scripts/canvas-inventory" -c "$T/inv.env"
	assert_failure 77
	[[ $stderr == *"START_SESSION_ERROR"* ]]
	[ "$(jq -r .status "$T/inv-work/last/status.json")" = failed ]
	no_run_secret
	# Kaltura quotes the session it refuses.
	sed -i 's|/bad-ksecret$|/ksecret|' "$T/inv.env"
	curl -fsS "http://127.0.0.1:$KPORT/_reset?fault=invalid_ks" >/dev/null
	run --separate-stderr "$ROOT/scripts/canvas-inventory" -c "$T/inv.env"
	assert_failure 77
	[[ $stderr == *'Kaltura error INVALID_KS: Invalid KS "****"'* ]] || fail "$stderr"
	run ci_q "SELECT job_name, status FROM job_run ORDER BY id"
	assert_output '{"job_name":"mivideo","status":"successful"}
{"job_name":"mivideo","status":"failed"}
{"job_name":"mivideo","status":"failed"}'
	no_run_secret
}
