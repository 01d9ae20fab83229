#!/usr/bin/env bats
# lms-fetch zoom against the loopback Zoom test server
# (tests/servers/zoom_server.py): Server-to-Server OAuth, paging by
# next_page_token, Zoom's 429s, and a server whose pages never end.
# Every failure: its message, its status, nothing on stdout, no secret.

load helper
bats_require_minimum_version 1.5.0

ZTOKEN=zoom-token-base-3e9a
ZID=zoom-client-id-5e6f
ZSECRET=zoom-client-secret-77c1d
ZACCOUNT=acct-Xy12Qz
M1=85012345678
M2=96311122233

CTOKEN=canvas-zoom-links-token-7d

setup_file() {
	need python3 curl jq
	lms_server zoom ZPORT "$ZTOKEN" "$FIX/lms-fetch/zoom" \
		--client-id "$ZID" --client-secret "$ZSECRET" --account "$ZACCOUNT"
	lms_server canvas CPORT "$CTOKEN" "$FIX/lms-fetch/canvas"
}

teardown_file() {
	lms_server_stop zoom canvas
}

setup() {
	export ZOOM_URL=http://127.0.0.1:$ZPORT
	export ZOOM_TOKEN_URL=$ZOOM_URL/oauth/token ZOOM_ACCOUNT_ID=$ZACCOUNT
	(
		umask 077
		echo "$ZID" >"$BATS_TEST_TMPDIR/id"
		echo "$ZSECRET" >"$BATS_TEST_TMPDIR/secret"
	)
	Z=(--client-id-file "$BATS_TEST_TMPDIR/id"
		--client-secret-file "$BATS_TEST_TMPDIR/secret" --retry-base-ms 20)
	curl -fsS "$ZOOM_URL/_reset" >/dev/null
}

faults() {
	curl -fsS "$ZOOM_URL/_reset?$1" >/dev/null
}

stat() {
	curl -fsS "$ZOOM_URL/_stats" | jq -r ".$1 // 0"
}

# no_secret [PATH...]: neither the last run's stdout and stderr nor PATH
# holds the client id, the secret or a token the server issued (each is
# ZTOKEN-N), nor the Canvas token.
no_secret() {
	printf '%s\n' "$ZID" "$ZSECRET" "$ZTOKEN" "$CTOKEN" \
		>"$BATS_FILE_TMPDIR/secrets.list"
	no_secret_in "$BATS_FILE_TMPDIR/secrets.list" "$@"
}

@test "zoom meetings: one record per --meeting, in argument order, one token" {
	run --separate-stderr lms-fetch zoom meetings --meeting "$M2,$M1" "${Z[@]}"
	assert_success
	assert_equal "$(jq -r '.meeting_id' <<<"$output" | paste -sd, -)" "$M2,$M1"
	assert_equal "$(jq -r 'select(.meeting_id == '"$M1"') | [.topic, .join_url, .start_time] | @tsv' <<<"$output")" \
		"$(printf 'BIO 101 lecture\thttps://umich.zoom.us/j/%s\t2024-09-03T13:00:00Z' "$M1")"
	[ "$(stat tokens_issued)" -eq 1 ]
	no_secret
}

@test "zoom participants: every page by next_page_token, in meeting order" {
	faults max_page_size=10
	run --separate-stderr lms-fetch zoom participants \
		--meeting "$M1" --meeting "$M2" "${Z[@]}"
	assert_success
	[ "$(grep -c . <<<"$output")" -eq 45 ]
	assert_equal "$(jq -r '.id' <<<"$output" | sort -u | wc -l)" 45
	assert_equal "$(jq -r '.id' <<<"$output" | head -1)" u001
	assert_equal "$(jq -r '.id' <<<"$output" | tail -1)" u045
	# 5 pages of M1, 1 of M2, 1 token request.
	[ "$(stat requests)" -eq 7 ]
	no_secret
}

@test "zoom: a 429 with Retry-After is waited out and retried" {
	faults 'fault=429&every=1&times=2&retry_after=1&match=participants'
	run --separate-stderr lms-fetch -v zoom participants --meeting "$M1" "${Z[@]}"
	assert_success
	[ "$(grep -c . <<<"$output")" -eq 45 ]
	[ "$(stat faults)" -eq 2 ]
	[ "$(stat early_retries)" -eq 0 ]
	grep -q 'HTTP 429 (throttled); retry 1 of 5' <<<"$stderr"
	no_secret
}

@test "zoom: a 429 of the daily limit fails at once (75), nothing written" {
	faults 'fault=429&every=1&times=9&retry_after=1&match=participants&daily=1'
	run --separate-stderr lms-fetch zoom participants --meeting "$M1,$M2" "${Z[@]}"
	assert_failure 75
	assert_equal "$output" ""
	grep -q 'participants of meeting [0-9]*: GET .*: HTTP 429: the daily rate limit is spent (X-RateLimit-Type: Daily-limit)' <<<"$stderr"
	[ "$(stat faults)" -le 2 ]
	no_secret
}

@test "zoom: a next_page_token that comes again fails (69), nothing written" {
	faults 'max_page_size=10&next_loop=same'
	run --separate-stderr lms-fetch zoom participants --meeting "$M1" "${Z[@]}"
	assert_failure 69
	assert_equal "$output" ""
	grep -q 'participants of meeting 85012345678: the next_page_token of a page is the one that asked for it' <<<"$stderr"
	[ "$(stat requests)" -le 3 ]
	no_secret
}

@test "zoom: a token that dies early is fetched again once" {
	faults 'token_ttl=1&delay_ms=300&max_page_size=10'
	run --separate-stderr lms-fetch -v zoom participants --meeting "$M1" \
		"${Z[@]}" --jobs 1
	assert_success
	[ "$(grep -c . <<<"$output")" -eq 45 ]
	[ "$(stat tokens_issued)" -ge 2 ]
	grep -q 'HTTP 401: fetching a new token' <<<"$stderr"
	no_secret
}

@test "zoom: refused credentials, account and meeting; a stalled token endpoint" {
	echo wrong-secret-1234 >"$BATS_TEST_TMPDIR/secret"
	run --separate-stderr lms-fetch zoom meetings --meeting "$M1" "${Z[@]}"
	assert_failure 77
	assert_equal "$output" ""
	grep -q 'token endpoint .* refused the client: HTTP 401: .*invalid_client' <<<"$stderr"
	! grep -q wrong-secret-1234 <<<"$stderr"
	echo "$ZSECRET" >"$BATS_TEST_TMPDIR/secret"
	run --separate-stderr lms-fetch zoom meetings --meeting "$M1" "${Z[@]}" \
		--account other-account
	assert_failure 77
	grep -q 'account_id=other-account: .*Invalid account_id' <<<"$stderr" ||
		grep -q 'refused the client: HTTP 400' <<<"$stderr"
	run --separate-stderr lms-fetch zoom meetings --meeting "$M1,1" "${Z[@]}"
	assert_failure 69
	assert_equal "$output" ""
	grep -q 'details of meeting 1: HTTP 404: Meeting does not exist: 1.' <<<"$stderr"
	faults 'match=oauth&fault=slow&every=1&times=9&slow_ms=3000'
	run --separate-stderr lms-fetch zoom meetings --meeting "$M1" "${Z[@]}" \
		--timeout 1 --retries 0
	assert_failure 75
	assert_equal "$output" ""
	grep -q 'token endpoint .*: Timeout was reached after 1 attempts' <<<"$stderr"
	no_secret
}

@test "zoom: usage and configuration mistakes" {
	run --separate-stderr lms-fetch zoom meetings "${Z[@]}"
	assert_failure 2
	grep -q 'zoom meetings needs --meeting' <<<"$stderr"
	run --separate-stderr lms-fetch zoom meetings --meeting abc "${Z[@]}"
	assert_failure 2
	run --separate-stderr lms-fetch zoom recordings --meeting "$M1" "${Z[@]}"
	assert_failure 2
	run --separate-stderr lms-fetch canvas users --account 1 --meeting "$M1"
	assert_failure 2
	unset ZOOM_ACCOUNT_ID
	run --separate-stderr lms-fetch zoom meetings --meeting "$M1" "${Z[@]}"
	assert_failure 78
	grep -q 'no Zoom account id' <<<"$stderr"
	run --separate-stderr lms-fetch zoom meetings --meeting "$M1" -n \
		--account "$ZACCOUNT"
	assert_success
	grep -q "GET $ZOOM_URL/v2/meetings/$M1" <<<"$stderr"
	no_secret
}

@test "zoom participants: a meeting deleted since it was listed (404) is named in --skipped, the others written, exit 4" {
	faults "gone=$M2"
	run --separate-stderr lms-fetch -vv zoom participants --meeting "$M2,$M1" \
		"${Z[@]}" --skipped "$BATS_TEST_TMPDIR/skipped.ndjson" \
		-o "$BATS_TEST_TMPDIR/parts.ndjson"
	assert_failure 4
	assert_output ''
	[ "$(jq -r .meeting_id "$BATS_TEST_TMPDIR/parts.ndjson" | sort -u)" = "$M1" ]
	[ "$(grep -c . "$BATS_TEST_TMPDIR/parts.ndjson")" -eq 45 ]
	assert_equal "$(jq -c '[.meeting_id, (.reason | test("participants of meeting '"$M2"': .*HTTP 404: Meeting does not exist: '"$M2"'"))]' \
		"$BATS_TEST_TMPDIR/skipped.ndjson")" "[$M2,true]"
	# One warning names it, one sums up.
	[ "$(grep -c "skipped meeting $M2: .*HTTP 404" <<<"$stderr")" -eq 1 ]
	grep -q "1 meeting could not be read and was left out: listed in $BATS_TEST_TMPDIR/skipped.ndjson" <<<"$stderr"
	no_secret "$BATS_TEST_TMPDIR/parts.ndjson" "$BATS_TEST_TMPDIR/skipped.ndjson"
	# Deleted while its pages were read: nothing of it is written.
	faults "gone=$M1&gone_from=20&max_page_size=10"
	run --separate-stderr lms-fetch zoom participants --meeting "$M1,$M2" \
		"${Z[@]}" --skipped "$BATS_TEST_TMPDIR/skipped.ndjson"
	assert_failure 4
	assert_output ''
	[ "$(stat requests)" -ge 4 ]
	assert_equal "$(jq -r .meeting_id "$BATS_TEST_TMPDIR/skipped.ndjson")" "$M1"
	no_secret "$BATS_TEST_TMPDIR/skipped.ndjson"
}

@test "zoom participants: without --skipped a 404 fails (69); with it a 400 fails (69), a 500 (75)" {
	faults "gone=$M2"
	run --separate-stderr lms-fetch zoom participants --meeting "$M1,$M2" "${Z[@]}"
	assert_failure 69
	assert_output ''
	grep -q "participants of meeting $M2: HTTP 404: Meeting does not exist: $M2." <<<"$stderr" || fail "$stderr"
	no_secret
	# A 400 that quotes the request, bearer token and all: 69, masked.
	faults 'fault=echo&echo_status=400&match=participants&every=1&times=9'
	run --separate-stderr lms-fetch zoom participants --meeting "$M1,$M2" "${Z[@]}" \
		--skipped "$BATS_TEST_TMPDIR/skipped.ndjson"
	assert_failure 69
	assert_output ''
	grep -q "participants of meeting [0-9]*: .*HTTP 400: GET /v2/past_meetings/.* Bearer \*\*\*\*" <<<"$stderr" || fail "$stderr"
	[ ! -e "$BATS_TEST_TMPDIR/skipped.ndjson" ]
	no_secret
	faults 'fault=500&match=participants&every=1&times=9'
	run --separate-stderr lms-fetch zoom participants --meeting "$M1,$M2" "${Z[@]}" \
		--skipped "$BATS_TEST_TMPDIR/skipped.ndjson" --retries 0
	assert_failure 75
	assert_output ''
	grep -q "participants of meeting [0-9]*: .*HTTP 500" <<<"$stderr" || fail "$stderr"
	[ ! -e "$BATS_TEST_TMPDIR/skipped.ndjson" ]
	no_secret
	# --skipped is for participants only: details of a gone meeting fail.
	run --separate-stderr lms-fetch zoom meetings --meeting "$M1" "${Z[@]}" \
		--skipped "$BATS_TEST_TMPDIR/skipped.ndjson"
	assert_failure 2
	grep -q "option '--skipped' does not apply to 'zoom meetings'" <<<"$stderr"
}

# The fixture's zoom.json: course 201 has a visible Zoom tab, meeting
# 85012345678 in its syllabus (and again in the calendar) and 96311122233
# in the calendar, and a calendar link on another host that only looks
# like one; course 202's Zoom tab is hidden; 203 has none.
@test "canvas zoom-links: visible Zoom tab, join links of syllabus and calendar" {
	export CANVAS_URL=http://127.0.0.1:$CPORT CANVAS_TOKEN=$CTOKEN
	curl -fsS "$CANVAS_URL/_reset?max_per_page=1" >/dev/null
	run --separate-stderr lms-fetch canvas zoom-links --course 203,201,202
	assert_success
	assert_output '{"course_id":201,"meeting_id":85012345678,"join_url":"https://umich.zoom.us/j/85012345678","source":"syllabus"}
{"course_id":201,"meeting_id":96311122233,"join_url":"https://umich.zoom.us/j/96311122233","source":"calendar"}'
	# A calendar whose next page is the same page again.
	curl -fsS "$CANVAS_URL/_reset?max_per_page=1&next_loop=same" >/dev/null
	run --separate-stderr lms-fetch canvas zoom-links --course 201
	assert_failure 69
	assert_equal "$output" ""
	grep -q 'Zoom links of course 201: .*leads back to a page already fetched' <<<"$stderr"
	no_secret
}
