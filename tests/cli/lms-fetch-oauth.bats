#!/usr/bin/env bats
# lms-fetch canvas through an OAuth 2 API gateway (src/lib/oauth.c):
# tests/servers/canvas_server.py in gateway mode, with a token endpoint
# that lies, stalls, floods and refuses.  Every failure is checked for its
# message, its status, an empty stdout and no secret anywhere.

load helper
bats_require_minimum_version 1.5.0

GTOKEN=gw-token-base-51c7
GID=client-id-4d1e90
GSECRET=client-secret-83bd9f2
PREFIX=aa/CanvasReadOnly

setup_file() {
	need python3 curl jq
	lms_server canvas GPORT "$GTOKEN" "$FIX/lms-fetch/canvas" \
		--client-id "$GID" --client-secret "$GSECRET" --prefix "$PREFIX"
}

teardown_file() {
	lms_server_stop canvas
}

setup() {
	unset CANVAS_TOKEN
	export CANVAS_URL=http://127.0.0.1:$GPORT
	(
		umask 077
		echo "$GID" >"$BATS_TEST_TMPDIR/id"
		echo "$GSECRET" >"$BATS_TEST_TMPDIR/secret"
	)
	GW=(--token-url "$CANVAS_URL/oauth2/token"
		--client-id-file "$BATS_TEST_TMPDIR/id"
		--client-secret-file "$BATS_TEST_TMPDIR/secret"
		--scope-prefix "$PREFIX" --client-id-header X-IBM-Client-Id
		--retry-base-ms 20)
	curl -fsS "$CANVAS_URL/_reset" >/dev/null
}

faults() {
	curl -fsS "$CANVAS_URL/_reset?$1" >/dev/null
}

stat() {
	curl -fsS "$CANVAS_URL/_stats" | jq -r ".$1 // 0"
}

# no_secret [PATH...]: neither stdout nor stderr of the last run nor
# PATH holds the client id, the secret or any token the gateway issued
# (each is GTOKEN-N).
no_secret() {
	printf '%s\n' "$GID" "$GSECRET" "$GTOKEN" >"$BATS_FILE_TMPDIR/secrets.list"
	no_secret_in "$BATS_FILE_TMPDIR/secrets.list" "$@"
}

@test "gateway: token, scope prefix and client id header give the plain token's records" {
	run --separate-stderr lms-fetch -vv canvas users --account 1 "${GW[@]}" \
		-o "$BATS_TEST_TMPDIR/users.ndjson"
	assert_success
	assert_output ''
	[ "$(grep -c . "$BATS_TEST_TMPDIR/users.ndjson")" -eq 250 ]
	[ "$(stat tokens_issued)" -eq 1 ]
	[ "$(stat no_client_id)" -eq 0 ]
	no_secret "$BATS_TEST_TMPDIR/users.ndjson"
	# A gateway that quotes the request, bearer token and all, in a 400.
	faults 'fault=echo&echo_status=400&match=users&every=1&times=9'
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}"
	assert_failure 69
	assert_equal "$output" ""
	grep -q 'HTTP 400: GET /.*users.* | Bearer \*\*\*\*' <<<"$stderr" || fail "$stderr"
	no_secret
	faults ""
	# Without the header the gateway refuses every request.
	run --separate-stderr lms-fetch canvas users --account 1 \
		"${GW[@]:0:8}"
	assert_failure 77
	assert_equal "$output" ""
	no_secret
}

@test "gateway: a token that dies before its expires_in is fetched again once" {
	# Each token claims an hour and lives 1 s; a page takes 0.4 s.
	faults 'token_ttl=1&token_claim=3600&delay_ms=400'
	run --separate-stderr lms-fetch -v canvas users --account 1 \
		"${GW[@]}" --jobs 1
	assert_success
	[ "$(grep -c . <<<"$output")" -eq 250 ]
	[ "$(stat tokens_issued)" -ge 2 ]
	[ "$(stat expired_refused)" -ge 1 ]
	grep -q 'HTTP 401: fetching a new token' <<<"$stderr"
	no_secret
}

@test "gateway: a token refused at once fails with 77 after one new token" {
	faults 'token_ttl=0&token_claim=3600'
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}"
	assert_failure 77
	assert_equal "$output" ""
	grep -q 'users of account 1: HTTP 401: Invalid access token' <<<"$stderr"
	[ "$(stat tokens_issued)" -eq 2 ]
	no_secret
}

@test "gateway: a wrong secret is refused by the token endpoint (77)" {
	echo wrong-secret-0000 >"$BATS_TEST_TMPDIR/secret"
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}"
	assert_failure 77
	assert_equal "$output" ""
	grep -q 'token endpoint http://127.0.0.1:[0-9]*/oauth2/token refused the client: HTTP 401' <<<"$stderr"
	# (grep -v passed whenever one line lacked it.)
	! grep -qF wrong-secret-0000 <<<"$output$stderr"
	no_secret
}

@test "gateway: an expires_in that is not a positive number is refused (69)" {
	local claim
	for claim in -5 0 '"soon"' 1e400 '"3600; drop"'; do
		faults "token_claim=$(jq -rn --arg c "$claim" '$c | @uri')"
		run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}"
		assert_failure 69
		assert_equal "$output" ""
		# 1e400 is not JSON jansson reads: the reply, token and all,
		# must not be quoted.
		grep -Eq 'token endpoint .*: (expires_in is not a positive number of seconds|the reply is not a JSON object)' <<<"$stderr" ||
			fail "$claim: $stderr"
		[ "$(stat requests)" -eq 1 ]
		no_secret
	done
}

@test "gateway: a token reply that is not JSON, holds no token or a short one (69)" {
	faults token_reply=html
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}"
	assert_failure 69
	assert_equal "$output" ""
	grep -q 'the reply is not a JSON object (text/html' <<<"$stderr"
	no_secret
	faults token_reply=none
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}"
	assert_failure 69
	assert_equal "$output" ""
	grep -q 'the reply holds no access_token' <<<"$stderr"
	no_secret
	faults token_reply=short
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}"
	assert_failure 69
	grep -q 'the access_token is shorter than 8 bytes' <<<"$stderr"
	no_secret
}

@test "gateway: a token reply of gigabytes stops at --max-reply (69)" {
	faults token_reply=big
	SECONDS=0
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}" \
		--max-reply 1M
	assert_failure 69
	assert_equal "$output" ""
	grep -q 'token endpoint .*: the reply is larger than 1048576 bytes (--max-reply)' <<<"$stderr"
	[ "$SECONDS" -lt 20 ]
	no_secret
}

@test "gateway: a stalled or throttled token endpoint fails with 75 after its retries" {
	faults 'match=oauth2&fault=slow&every=1&times=9&slow_ms=4000'
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}" \
		--timeout 1 --retries 1
	assert_failure 75
	assert_equal "$output" ""
	grep -q 'token endpoint .*: Timeout was reached after 2 attempts' <<<"$stderr"
	no_secret
	faults 'match=oauth2&fault=429&every=1&times=9'
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}" \
		--retries 2
	assert_failure 75
	grep -q 'token endpoint .*: HTTP 429 after 3 attempts' <<<"$stderr"
	[ "$(stat token_requests)" -eq 0 ]
	[ "$(stat requests)" -eq 3 ]
	no_secret
	# One 429, then a token.
	faults 'match=oauth2&fault=429&every=1&times=1'
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}"
	assert_success
	no_secret
}

@test "gateway: option mistakes are configuration or usage errors" {
	run --separate-stderr lms-fetch canvas users --account 1 \
		--scope-prefix "$PREFIX"
	assert_failure 78
	grep -q 'need --token-url' <<<"$stderr"
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}" \
		--token-file "$BATS_TEST_TMPDIR/secret"
	assert_failure 78
	grep -q 'either --token-file or --token-url' <<<"$stderr"
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}" \
		--scope-prefix '../x'
	assert_failure 2
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}" \
		--client-id-header 'X-Id: evil'
	assert_failure 2
	run --separate-stderr lms-fetch canvas users --account 1 \
		--token-url "http://example.org/oauth2/token" \
		--client-id-file "$BATS_TEST_TMPDIR/id" \
		--client-secret-file "$BATS_TEST_TMPDIR/secret"
	assert_failure 78
	grep -q 'plain http' <<<"$stderr"
	chmod 644 "$BATS_TEST_TMPDIR/secret"
	run --separate-stderr lms-fetch canvas users --account 1 "${GW[@]}"
	assert_failure 77
	no_secret
}
