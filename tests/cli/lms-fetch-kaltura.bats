#!/usr/bin/env bats
# lms-fetch kaltura media against the loopback Kaltura API test server
# (tests/servers/kaltura_server.py): a session from partner id + admin
# secret, media.list by category and time, paging, Kaltura's 10,000-match
# limit, and hostile replies (exceptions in HTTP 200, a page that repeats,
# a huge reply, a stall).  After every run that talks to the server,
# ksafe looks for the admin secret and every session (ks) the server
# issued in stdout, stderr and the files the run wrote.

load helper
bats_require_minimum_version 1.5.0

KSECRET=kaltura-admin-secret-7d1e
PARTNER=1234567

setup_file() {
	need python3 curl jq
	local d=$BATS_FILE_TMPDIR
	lms_server kaltura KPORT "$KSECRET" "$FIX/kaltura/media.json" \
		--partner-id "$PARTNER" --ks-log "$d/ks-issued"
	printf '%s\n' "$KSECRET" >"$d/secret"
	chmod 600 "$d/secret"
}

teardown_file() {
	lms_server_stop kaltura
}

setup() {
	unset KALTURA_SECRET KALTURA_PARTNER_ID KALTURA_URL
	K=(kaltura media --url "http://127.0.0.1:$KPORT" --token-file
		"$BATS_FILE_TMPDIR/secret" --partner-id "$PARTNER"
		--retry-base-ms 20)
	kreset
}

kreset() {
	curl -sf "http://127.0.0.1:$KPORT/_reset?$1" >/dev/null
}

kstats() {
	curl -sf "http://127.0.0.1:$KPORT/_stats" | jq -c "$1"
}

# ksafe [PATH...]: no admin secret, no ks issued so far, nor a secret
# listed in $BATS_TEST_TMPDIR/more-secrets, in the last run's stdout and
# stderr or in PATH.
ksafe() {
	local l=$BATS_FILE_TMPDIR/secrets.list
	printf '%s\n' "$KSECRET" >"$l"
	cat "$BATS_FILE_TMPDIR/ks-issued" >>"$l" 2>/dev/null || true
	cat "$BATS_TEST_TMPDIR/more-secrets" >>"$l" 2>/dev/null || true
	no_secret_in "$l" "$@"
}

@test "lms-fetch kaltura: the media of the category since a time, in createdAt order" {
	run --separate-stderr lms-fetch "${K[@]}" --since 2020-03-02T00:00:00Z
	assert_success
	assert_output - <<'EOF'
{"id":"1_aaaa0002","name":"Lab \"intro\"","created_at":"2020-03-02T00:00:00Z","updated_at":"2020-03-02T00:00:00Z","duration":95,"user_id":"ta2","media_type":1,"categories":"Canvas_UMich>site>channels>123456>InContext,Canvas_UMich>site>channels>Shared Repository","categories_ids":"12,13"}
{"id":"1_aaaa0004","name":"Office hours","created_at":"2020-03-02T00:00:00Z","updated_at":"2020-03-03T01:46:40Z","duration":1800,"user_id":"prof1","media_type":1,"categories":"Canvas_UMich>site>channels>654321>InContext","categories_ids":"14"}
EOF
	# The server issued a session, and nothing shows it.
	grep -q '^djJ8' "$BATS_FILE_TMPDIR/ks-issued"
	ksafe
	# An offset is honoured; the default category is Canvas_UMich.
	run lms-fetch "${K[@]}" --since 2020-02-29T20:00:00-04:00 -q
	assert_success
	[ "$(jq -r .id <<<"$output" | paste -sd, -)" = 1_aaaa0001,1_aaaa0002,1_aaaa0004 ]
	ksafe
	# -vv and -o: the file written and every message hold neither.
	run --separate-stderr lms-fetch -vv "${K[@]}" --category MediaSpace \
		-o "$BATS_TEST_TMPDIR/media.ndjson"
	assert_success
	assert_output ''
	grep -q '"id":"1_bbbb0003"' "$BATS_TEST_TMPDIR/media.ndjson"
	ksafe "$BATS_TEST_TMPDIR/media.ndjson"
	# The secret and the session travel in POST bodies only.
	run kstats .secret_in_url
	assert_output 0
}

@test "lms-fetch kaltura: pages of --page-size, the secret from the environment" {
	run --separate-stderr env KALTURA_SECRET="$KSECRET" lms-fetch kaltura \
		media --url "http://127.0.0.1:$KPORT" --partner-id "$PARTNER" \
		--page-size 1
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	ksafe
	# Three pages of one, then an empty one ends the listing.
	run kstats .lists
	assert_output 4
}

@test "lms-fetch kaltura: past Kaltura's 10,000 matches the time window moves on, each entry once" {
	kreset generate=10500
	run --separate-stderr lms-fetch "${K[@]}" -v
	assert_success
	[[ $stderr == *"10000-match limit: the listing goes on from createdAt 1600003332"* ]]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 10503 ]
	[ -z "$(printf '%s\n' "$output" | jq -r .id | sort | uniq -d)" ]
	ksafe
	run kstats '.windows | length'
	assert_output 2
	# A server with a lower limit answers QUERY_EXCEEDED_MAX_MATCHES_ALLOWED:
	# the window moves on then too.
	kreset 'generate=3000&max_matches=1200'
	run --separate-stderr lms-fetch "${K[@]}"
	assert_success
	[ "$(printf '%s\n' "$output" | jq -r .id | sort -u | wc -l)" -eq 3003 ]
	ksafe
}

@test "lms-fetch kaltura: a refused session (HTTP 200 exception) exits 77, the secret masked, nothing written" {
	printf 'wrong-secret-for-kaltura\n' >"$BATS_TEST_TMPDIR/bad"
	chmod 600 "$BATS_TEST_TMPDIR/bad"
	run --separate-stderr lms-fetch "${K[@]}" --token-file "$BATS_TEST_TMPDIR/bad"
	assert_failure 77
	assert_output ''
	[[ $stderr == *"kaltura: session.start: Kaltura error START_SESSION_ERROR: Error while starting session for partner [$PARTNER]"* ]]
	[[ $stderr != *wrong-secret* ]]
	cp "$BATS_TEST_TMPDIR/bad" "$BATS_TEST_TMPDIR/more-secrets"
	ksafe
	# An admin secret file others may read is refused before any request.
	chmod 644 "$BATS_TEST_TMPDIR/bad"
	run --separate-stderr lms-fetch "${K[@]}" --token-file "$BATS_TEST_TMPDIR/bad"
	assert_failure 77
	ksafe
	run kstats .sessions
	assert_output 1
}

@test "lms-fetch kaltura: an exception object in a list reply exits 69, nothing written" {
	kreset fault=exception
	run --separate-stderr lms-fetch "${K[@]}"
	assert_failure 69
	assert_output ''
	[[ $stderr == *"kaltura: media.list page 1: Kaltura error INTERNAL_SERVERERROR: Internal server error occurred"* ]]
	ksafe
}

@test "lms-fetch kaltura: an INVALID_KS that quotes the session exits 77, the ks masked, nothing written" {
	kreset fault=invalid_ks
	run --separate-stderr lms-fetch "${K[@]}" -o "$BATS_TEST_TMPDIR/media.ndjson"
	assert_failure 77
	assert_output ''
	# Neither the file nor its temporary twin is left.
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '*media*')" ]
	[[ $stderr == *'kaltura: media.list page 1: Kaltura error INVALID_KS: Invalid KS "****"'* ]]
	ksafe
}

@test "lms-fetch kaltura: a page that repeats stops the run instead of counting twice" {
	kreset fault=repeat
	run --separate-stderr lms-fetch "${K[@]}" --page-size 2
	assert_failure 69
	assert_output ''
	[[ $stderr == *"media.list page 2: entry '1_aaaa0001' was read before (a page that repeats"* ]]
	ksafe
}

@test "lms-fetch kaltura: a huge reply and a stalled server fail with nothing written" {
	kreset fault=huge
	run --separate-stderr lms-fetch "${K[@]}" --max-reply 64K --retries 0
	assert_failure 69
	assert_output ''
	[[ $stderr == *"media/action/list: the reply is larger than 64K (--max-reply)"* ]]
	ksafe
	kreset fault=stall
	SECONDS=0
	run --separate-stderr lms-fetch "${K[@]}" --timeout 1 --retries 0
	assert_failure 75
	assert_output ''
	[ "$SECONDS" -lt 15 ]
	[[ $stderr == *"media/action/list"* ]]
	ksafe
}

@test "lms-fetch kaltura: usage errors and a dry run that shows no secret" {
	run lms-fetch kaltura media --url "http://127.0.0.1:$KPORT"
	assert_failure 2
	assert_output --partial "kaltura media needs --partner-id N"
	run lms-fetch "${K[@]}" --since yesterday
	assert_failure 2
	assert_output --partial "--since: 'yesterday' is not an ISO 8601 time"
	run lms-fetch "${K[@]}" --page-size 501
	assert_failure 2
	run lms-fetch kaltura courses --partner-id 1
	assert_failure 2
	assert_output --partial "unknown Kaltura item 'courses' (media)"
	run lms-fetch "${K[@]}" --account 1
	assert_failure 2
	run lms-fetch canvas courses --account 1 --partner-id 5
	assert_failure 2
	assert_output --partial "option '--partner-id' does not apply"
	run --separate-stderr lms-fetch "${K[@]}" -n --since 2020-03-01
	assert_success
	[[ $stderr == *"session/action/start"* ]]
	[[ $stderr == *"secret=****"* ]]
	[[ $stderr == *"createdAtGreaterThanOrEqual%5D=1583020800"* ]]
	[[ $stderr != *"$KSECRET"* ]]
	ksafe
}
