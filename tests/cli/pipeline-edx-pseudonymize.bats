#!/usr/bin/env bats
# scripts/edx-pseudonymize end to end through rec-hash and sftp-put file://
# (the point here is the hashing, not SFTP, which the other pipelines test).

bats_require_minimum_version 1.5.0
load helper

SCRIPT=$ROOT/scripts/edx-pseudonymize

setup() {
	need jq flock openssl
	T=$BATS_TEST_TMPDIR
	export EDPIPE_WORK_DIR=$T/work
	unset EDPIPE_CONF REC_HASH_KEY
	printf '%s\n' 'username,course_id,grade' 'alice,course-v1:X+1+T,0.5' \
		'Zoë Núñez,course-v1:X+1+T,1' '"o,brien",course-v1:Y+2+T,' \
		>"$T/grades.csv"
}

ripemd() {
	printf '%s' "$1" | openssl dgst -ripemd160 -r | cut -d' ' -f1
}

@test "CSV in: usernames become their RIPEMD-160, other fields unchanged" {
	run --separate-stderr "$SCRIPT" "$T/grades.csv" "$T/out/grades.csv"
	assert_failure 78
	[[ "$stderr" == *"does not exist (--mkdir creates it)"* ]]
	mkdir "$T/out"
	run --separate-stderr "$SCRIPT" "$T/grades.csv" "$T/out/grades.csv"
	assert_success
	[[ "$stderr" == *"edx-pseudonymize: 4 lines written to $T/out/grades.csv"* ]]
	printf '%s\n' 'username,course_id,grade' \
		"$(ripemd alice),course-v1:X+1+T,0.5" \
		"$(ripemd 'Zoë Núñez'),course-v1:X+1+T,1" \
		"$(ripemd 'o,brien'),course-v1:Y+2+T," | diff -u - "$T/out/grades.csv"
	cmp "$T/out/grades.csv" "$EDPIPE_WORK_DIR/last/pseudonymized.csv"
}

@test "JSON lines in, CSV out, several fields from the configuration" {
	printf '%s\n' '{"username":"alice","grader":"bob","score":3}' \
		'{"username":"carol","grader":"bob","score":4}' >"$T/g.ndjson"
	printf 'EDX_FIELDS=username,grader\n' >"$T/edx.env"
	cd "$T"
	run --separate-stderr "$SCRIPT" -c "$T/edx.env" g.ndjson out.csv
	assert_success
	printf '%s\n' 'username,grader,score' \
		"$(ripemd alice),$(ripemd bob),3" "$(ripemd carol),$(ripemd bob),4" |
		diff -u - "$T/out.csv"
}

@test "a record without the username stops the run (65): no output, the old one stays" {
	printf '%s\n' '{"username":"alice"}' '{"user":"bob"}' >"$T/bad.ndjson"
	echo old >"$T/out.csv"
	run --separate-stderr "$SCRIPT" "$T/bad.ndjson" "$T/out.csv"
	assert_failure 65
	[[ "$stderr" == *"bad.ndjson:2"* ]]
	[[ "$stderr" == *"edx-pseudonymize: step 'rec-hash' failed with exit status 65; nothing uploaded"* ]]
	[ "$(cat "$T/out.csv")" = old ]
	[ "$(ls -A "$T" | grep -c '^\.out')" -eq 0 ]
	jq -e '.failed_step == "rec-hash" and .uploaded == false' \
		"$EDPIPE_WORK_DIR/last/status.json"
}

@test "usage: two operands; a missing input is 66; a key in the configuration is refused" {
	run --separate-stderr "$SCRIPT" "$T/grades.csv"
	assert_failure 2
	[[ "$stderr" == *"edx-pseudonymize: needs INPUT and OUTPUT"* ]]
	run --separate-stderr "$SCRIPT" "$T/none.csv" "$T/x.csv"
	assert_failure 66
	printf 'EDX_ALGO=hmac-sha256\nREC_HASH_KEY=s3cret\n' >"$T/k.env"
	run --separate-stderr "$SCRIPT" -c "$T/k.env" "$T/grades.csv" "$T/x.csv"
	assert_failure 78
	[[ "$stderr" == *"k.env:2: REC_HASH_KEY is a secret"* ]]
	[[ "$stderr" != *s3cret* ]]
	[ ! -e "$T/x.csv" ]
}

@test "the example configuration parses and gives MOOCdb's hashes" {
	run --separate-stderr env EDPIPE_WORK_DIR="$EDPIPE_WORK_DIR" "$SCRIPT" \
		-c "$ROOT/scripts/examples/edx-pseudonymize.env" \
		"$T/grades.csv" "$T/g.csv"
	assert_success
	sed -n 2p "$T/g.csv" | grep -q "^$(ripemd alice),"
}

@test "an OUTPUT URL with a password is refused (78) before any step, masked" {
	run --separate-stderr "$SCRIPT" "$T/grades.csv" "sftp://moocdb:Pw-in-url-77@127.0.0.1:1/in/grades.csv"
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == *"OUTPUT has a password in it ('sftp://moocdb:****@127.0.0.1:1/in/grades.csv')"* ]]
	[[ "$stderr" != *Pw-in-url-77* ]]
	[ ! -e "$EDPIPE_WORK_DIR/runs" ]
}
