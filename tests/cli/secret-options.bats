#!/usr/bin/env bats
# A secret given on the command line by mistake must not come back in a
# message.  getopt_long accepts any unambiguous prefix of a long option, so
# "--token abc123" was read as "--token-file abc123" and the error named the
# file: the token.  Every program's secret-file options are found in its
# --help (so a new program or option is covered without editing this file)
# and each shortened spelling must be refused with exit 2 and no echo.
load helper
bats_require_minimum_version 1.5.0

SECRET=s3cr3t-VALUE-4711

# "PROG OPTION" for every secret-file option in every program's --help.
secret_opts() {
	local p o
	for p in "$EDPIPE_BIN"/*; do
		[ -x "$p" ] || continue
		for o in $("$p" --help | grep -oE -- '--[a-z-]*(token|password|secret|key)[a-z-]*-file' | sort -u); do
			echo "$(basename "$p") $o"
		done
	done
}

@test "the programs have secret-file options to check" {
	run secret_opts
	assert_success
	# at least the ones of DESIGN.md: token, password and key files
	[[ "$output" == *"lms-fetch --token-file"* ]]
	[[ "$output" == *"lms-push --token-file"* ]]
	[[ "$output" == *"sis-extract --password-file"* ]]
	[[ "$output" == *"db-load --password-file"* ]]
	[[ "$output" == *"sftp-put --password-file"* ]]
	[[ "$output" == *"rec-hash --key-file"* ]]
}

@test "a shortened secret-file option is refused without repeating its value" {
	local prog opt short n=0
	while read -r prog opt; do
		# every prefix down to the word before "-file": --token, --toke, ...
		short=${opt%-file}
		for form in "$short $SECRET" "$short=$SECRET" "${short}-f $SECRET"; do
			# shellcheck disable=SC2086 # form is split on purpose
			run --separate-stderr "$prog" $form
			[ "$status" -eq 2 ] || { echo "$prog $form: status $status: $stderr"; return 1; }
			[ -z "$output" ] || { echo "$prog $form wrote stdout: $output"; return 1; }
			[[ "$stderr" != *"$SECRET"* ]] || { echo "$prog $form echoed the secret: $stderr"; return 1; }
			[[ "$stderr" == *"write '$opt FILE' in full"* ]] || { echo "$prog $form: $stderr"; return 1; }
			n=$((n + 1))
		done
	done < <(secret_opts)
	[ "$n" -ge 18 ]
}

@test "the whole option name is still read as a file name" {
	run --separate-stderr rec-hash --key-file "$BATS_TEST_TMPDIR/none" --field user
	[ "$status" -eq 66 ]
	[[ "$stderr" == *"cannot open secret file"* ]]
}

@test "an exact option that is also a prefix of a secret option is not refused" {
	# enroll-diff's -k/--key FIELDS is a prefix of no option of its own;
	# lms-fetch's --to is a prefix of --token-file and must still work.
	run --separate-stderr lms-fetch canvas users --account 1 --url http://127.0.0.1:9 --to csv -n
	assert_success
	[[ "$stderr" == "GET http://127.0.0.1:9/api/v1/accounts/1/users"* ]]
}
