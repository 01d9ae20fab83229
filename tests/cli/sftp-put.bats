#!/usr/bin/env bats
# sftp-put against a real OpenSSH sshd on 127.0.0.1 (tests/servers/sshd.sh):
# key login as the current user, password login as the test user
# edpipe-sftp (created with useradd when the tests run as root, as in CI).

bats_require_minimum_version 1.5.0
load helper

SRV=$ROOT/tests/servers/sshd.sh
TEST_USER=edpipe-sftp
TEST_PASSWORD='Corr3ct-h0rse-battery'

setup_file() {
	need ssh-keygen python3 cmp
	local sshd
	sshd=$(command -v sshd || echo /usr/sbin/sshd)
	if [ ! -x "$sshd" ]; then
		[ "${CI:-}" != true ] || { echo "sshd is missing under CI" >&2; return 1; }
		skip "sshd is not installed"
	fi
	export S=$BATS_FILE_TMPDIR/srv
	"$SRV" start "$S"
	export PORT
	PORT=$(cat "$S/port")
	export KH=$S/known_hosts KEY=$S/id_ed25519
	export ME
	ME=$(id -un)
	export BASE=sftp://$ME@127.0.0.1:$PORT
	export BIG=$BATS_FILE_TMPDIR/big.bin
	head -c 100M /dev/urandom >"$BIG"
	# The password tests log in as a dedicated user, who must reach a
	# directory of its own under the bats temporary directory.
	export PWDIR=$BATS_FILE_TMPDIR/pw
	mkdir -p "$PWDIR"
	if [ "$(id -u)" -eq 0 ]; then
		# Its home is the directory, so /~/ paths can be tested.
		if id -u "$TEST_USER" >/dev/null 2>&1; then
			usermod -d "$PWDIR" "$TEST_USER"
		else
			useradd -M -d "$PWDIR" -s /bin/sh "$TEST_USER"
		fi
		echo "$TEST_USER:$TEST_PASSWORD" | chpasswd
		chown "$TEST_USER" "$PWDIR"
		local d=$PWDIR
		while [ "$d" != / ] && [ "$d" != "$(dirname "$BATS_RUN_TMPDIR")" ]; do
			chmod o+x "$d"
			d=$(dirname "$d")
		done
	fi
}

teardown_file() {
	[ -z "${S:-}" ] || "$SRV" stop "$S"
	if [ "$(id -u)" -eq 0 ] && id -u "$TEST_USER" >/dev/null 2>&1; then
		usermod -d /nonexistent "$TEST_USER"
	fi
}

# The servers a test starts for itself, stopped even when it fails.
teardown() {
	[ -z "${S2:-}" ] || "$SRV" stop "$S2"
	[ -z "${S3:-}" ] || "$SRV" stop "$S3"
	[ -z "${FULL:-}" ] || ! mountpoint -q "$FULL" || umount "$FULL"
}

setup() {
	OUT=$BATS_TEST_TMPDIR/up
	mkdir -p "$OUT"
	printf 'course,user,role\nC1,u1,student\n' >"$BATS_TEST_TMPDIR/in.csv"
	IN=$BATS_TEST_TMPDIR/in.csv
}

put() {
	sftp-put --known-hosts "$KH" --identity "$KEY" "$@"
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		[ "${CI:-}" != true ] || fail "password tests need root under CI"
		skip "password tests create a user: run as root"
	fi
}

fingerprint() {
	ssh-keygen -lf "$S/host_key.pub" | cut -d' ' -f2
}

@test "common CLI checks" {
	common_cli_checks sftp-put
	run --separate-stderr sftp-put "$IN"
	assert_failure 2
	[[ "$stderr" == *"missing FILE or URL"* ]]
}

@test "uploads a file and leaves no partial file behind" {
	run --separate-stderr put "$IN" "$BASE$OUT/enroll.csv"
	assert_success
	[ -z "$output" ]
	cmp "$IN" "$OUT/enroll.csv"
	[ ! -e "$OUT/.enroll.csv.partial" ]
	[ "$(ls -A "$OUT")" = enroll.csv ]
}

@test "replaces an existing file of the same name" {
	echo old >"$OUT/enroll.csv"
	run --separate-stderr put -v "$IN" "$BASE$OUT/enroll.csv"
	assert_success
	cmp "$IN" "$OUT/enroll.csv"
	[[ "$stderr" == *"renamed '$OUT/.enroll.csv.partial' to '$OUT/enroll.csv'"* ]]
	[ "$(ls -A "$OUT")" = enroll.csv ]
}

@test "uploads stdin, spooled first" {
	run --separate-stderr bash -c 'seq 1 5000 | sftp-put --known-hosts "$1" -i "$2" - "$3"' _ "$KH" "$KEY" "$BASE$OUT/seq.txt"
	assert_success
	seq 1 5000 | cmp - "$OUT/seq.txt"
}

@test "uploads a 100 MB file intact" {
	run --separate-stderr put "$BIG" "$BASE$OUT/big.bin"
	assert_success
	cmp "$BIG" "$OUT/big.bin"
}

@test "an empty file is refused (3) and the remote file kept; --allow-empty uploads it" {
	: >"$BATS_TEST_TMPDIR/empty"
	echo old >"$OUT/empty"
	run --separate-stderr put "$BATS_TEST_TMPDIR/empty" "$BASE$OUT/empty"
	assert_failure 3
	[ -z "$output" ]
	[[ "$stderr" == *"refusing to upload an empty input ('$BATS_TEST_TMPDIR/empty', 0 bytes) to '$BASE$OUT/empty'"* ]]
	[[ "$stderr" == *"--allow-empty"* ]]
	[ "$(cat "$OUT/empty")" = old ]
	[ "$(ls -A "$OUT")" = empty ]
	run --separate-stderr put --allow-empty "$BATS_TEST_TMPDIR/empty" "$BASE$OUT/empty"
	assert_success
	[ -f "$OUT/empty" ] && [ ! -s "$OUT/empty" ]
}

@test "an empty stdin is refused for file:// too, and --dry-run refuses it" {
	echo old >"$OUT/e.csv"
	run --separate-stderr sftp-put - "file://$OUT/e.csv" </dev/null
	assert_failure 3
	[[ "$stderr" == *"refusing to upload an empty input ('stdin', 0 bytes)"* ]]
	[ "$(cat "$OUT/e.csv")" = old ]
	run --separate-stderr put -n - "$BASE$OUT/e.csv" </dev/null
	assert_failure 3
	run --separate-stderr sftp-put --allow-empty - "file://$OUT/e.csv" </dev/null
	assert_success
	[ ! -s "$OUT/e.csv" ]
}

@test "enroll-diff refusing (3) in the one-liner leaves the remote file alone" {
	printf '%s\n' '{"course":"C1","user":"u1","role":"student"}' >"$BATS_TEST_TMPDIR/desired.ndjson"
	for i in $(seq 1 20); do
		printf '{"course":"C1","user":"u%d","role":"student"}\n' "$i"
	done >"$BATS_TEST_TMPDIR/actual.ndjson"
	echo 'old file, not picked up yet' >"$OUT/enroll.csv"
	run --separate-stderr bash -c 'set -o pipefail
		enroll-diff --max-drop 10% "$1" "$2" | conduit-fmt --to conduit |
		sftp-put --known-hosts "$3" -i "$4" - "$5"' _ \
		"$BATS_TEST_TMPDIR/desired.ndjson" "$BATS_TEST_TMPDIR/actual.ndjson" \
		"$KH" "$KEY" "$BASE$OUT/enroll.csv"
	assert_failure 3
	[[ "$stderr" == *"refusing to upload an empty input ('stdin', 0 bytes)"* ]]
	[ "$(cat "$OUT/enroll.csv")" = 'old file, not picked up yet' ]
	[ "$(ls -A "$OUT")" = enroll.csv ]
}

@test "a key file group or others can read is refused with 77, naming its mode" {
	cp "$KEY" "$BATS_TEST_TMPDIR/key"
	chmod 640 "$BATS_TEST_TMPDIR/key"
	run --separate-stderr sftp-put --known-hosts "$KH" -i "$BATS_TEST_TMPDIR/key" "$IN" "$BASE$OUT/k.csv"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"refusing the key '$BATS_TEST_TMPDIR/key': its mode 0640 lets group or others use it (chmod 600 it)"* ]]
	[ -z "$(ls -A "$OUT")" ]
	chmod 604 "$BATS_TEST_TMPDIR/key"
	run --separate-stderr sftp-put --known-hosts "$KH" -i "$BATS_TEST_TMPDIR/key" "$IN" "$BASE$OUT/k.csv"
	assert_failure 77
	[[ "$stderr" == *"mode 0604"* ]]
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run --separate-stderr timeout 10 sftp-put --known-hosts "$KH" -i "$BATS_TEST_TMPDIR/fifo" "$IN" "$BASE$OUT/k.csv"
	assert_failure 77
	[[ "$stderr" == *"not a regular file"* ]]
	chmod 600 "$BATS_TEST_TMPDIR/key"
	run --separate-stderr sftp-put --known-hosts "$KH" -i "$BATS_TEST_TMPDIR/key" "$IN" "$BASE$OUT/k.csv"
	assert_success
	cmp "$IN" "$OUT/k.csv"
}

@test "control characters, %00 and .. in the remote path are refused (78)" {
	echo keep >"$OUT/a.csv"
	local url
	for url in "$BASE$OUT/a.csv%00.tmp" "$BASE$OUT/a%0Ab.csv" "$BASE$OUT/a%1bb.csv" \
		"$BASE$OUT/a%7Fb.csv" "$BASE$OUT/x/../a.csv" "$BASE$OUT/%2E%2E/a.csv"; do
		run --separate-stderr put "$IN" "$url"
		assert_failure 78
		[ -z "$output" ]
		[[ "$stderr" == *"control character"* || "$stderr" == *"has a '..' component"* ]]
	done
	run --separate-stderr put "$IN" "$BASE$OUT/a.csv%00.tmp"
	[[ "$stderr" == *"has a control character (%00)"* ]]
	run --separate-stderr sftp-put "$IN" "file://$OUT/a.csv%00x"
	assert_failure 78
	[ "$(cat "$OUT/a.csv")" = keep ]
	[ "$(ls -A "$OUT")" = a.csv ]
}

@test "names with spaces and quotes reach the server as written" {
	run --separate-stderr put "$IN" "$BASE$OUT/my%20file%22x.csv"
	assert_success
	cmp "$IN" "$OUT/my file\"x.csv"
}

@test "refuses an unknown host key with 77 and its fingerprint" {
	: >"$BATS_TEST_TMPDIR/empty_kh"
	run --separate-stderr sftp-put --known-hosts "$BATS_TEST_TMPDIR/empty_kh" -i "$KEY" "$IN" "$BASE$OUT/x.csv"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"unknown host key for '[127.0.0.1]:$PORT': ssh-ed25519 key $(fingerprint) is not in"* ]]
	[ -z "$(ls -A "$OUT")" ]
}

@test "refuses a changed host key with 77 and the new fingerprint" {
	ssh-keygen -q -t ed25519 -N '' -f "$BATS_TEST_TMPDIR/other"
	echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$BATS_TEST_TMPDIR/other.pub")" >"$BATS_TEST_TMPDIR/kh"
	run --separate-stderr sftp-put --known-hosts "$BATS_TEST_TMPDIR/kh" -i "$KEY" -r 2 "$IN" "$BASE$OUT/x.csv"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"HOST KEY CHANGED for '[127.0.0.1]:$PORT': the server offers ssh-ed25519 key $(fingerprint)"* ]]
	[[ "$stderr" != *retrying* ]]
	[ -z "$(ls -A "$OUT")" ]
}

@test "a host entry for another port does not vouch for this one" {
	sed "s/]:$PORT /]:1 /" "$KH" >"$BATS_TEST_TMPDIR/kh"
	run --separate-stderr sftp-put --known-hosts "$BATS_TEST_TMPDIR/kh" -i "$KEY" "$IN" "$BASE$OUT/x.csv"
	assert_failure 77
	[[ "$stderr" == *"unknown host key"* ]]
}

@test "reads ~/.ssh/known_hosts by default, and a missing one refuses" {
	mkdir -p "$BATS_TEST_TMPDIR/home/.ssh"
	run --separate-stderr env HOME="$BATS_TEST_TMPDIR/home" sftp-put -i "$KEY" "$IN" "$BASE$OUT/x.csv"
	assert_failure 77
	[[ "$stderr" == *"not in '$BATS_TEST_TMPDIR/home/.ssh/known_hosts'"* ]]
	cp "$KH" "$BATS_TEST_TMPDIR/home/.ssh/known_hosts"
	run --separate-stderr env HOME="$BATS_TEST_TMPDIR/home" sftp-put -i "$KEY" "$IN" "$BASE$OUT/x.csv"
	assert_success
	cmp "$IN" "$OUT/x.csv"
}

@test "--print-host-key prints a known_hosts line that then verifies" {
	run --separate-stderr sftp-put --known-hosts /dev/null --print-host-key "sftp://127.0.0.1:$PORT"
	assert_success
	[ "$output" = "$(cat "$KH")" ]
	[[ "$stderr" == *"$(fingerprint)"* ]]
	echo "$output" >"$BATS_TEST_TMPDIR/kh"
	run --separate-stderr sftp-put --known-hosts "$BATS_TEST_TMPDIR/kh" -i "$KEY" "$IN" "$BASE$OUT/x.csv"
	assert_success
}

@test "--print-host-key to a full stdout fails" {
	run bash -c 'sftp-put --known-hosts /dev/null --print-host-key "$1" >/dev/full' _ "$BASE/x"
	assert_failure 74
}

@test "logs in with a password from SFTP_PASSWORD" {
	need_root
	run --separate-stderr env SFTP_PASSWORD="$TEST_PASSWORD" sftp-put --known-hosts "$KH" "$IN" "sftp://$TEST_USER@127.0.0.1:$PORT$PWDIR/p.csv"
	assert_success
	cmp "$IN" "$PWDIR/p.csv"
}

@test "logs in with a password from an owner-only --password-file" {
	need_root
	echo "$TEST_PASSWORD" >"$BATS_TEST_TMPDIR/pw"
	chmod 644 "$BATS_TEST_TMPDIR/pw"
	run --separate-stderr sftp-put --known-hosts "$KH" --password-file "$BATS_TEST_TMPDIR/pw" "$IN" "sftp://$TEST_USER@127.0.0.1:$PORT$PWDIR/f.csv"
	assert_failure 77
	[[ "$stderr" == *"readable by group or others"* ]]
	chmod 600 "$BATS_TEST_TMPDIR/pw"
	run --separate-stderr sftp-put --known-hosts "$KH" --password-file "$BATS_TEST_TMPDIR/pw" "$IN" "sftp://$TEST_USER@127.0.0.1:$PORT$PWDIR/f.csv"
	assert_success
	cmp "$IN" "$PWDIR/f.csv"
}

@test "a /~/ path is relative to the login directory" {
	need_root
	echo old >"$PWDIR/h.csv"
	run --separate-stderr env SFTP_PASSWORD="$TEST_PASSWORD" sftp-put --known-hosts "$KH" "$IN" "sftp://$TEST_USER@127.0.0.1:$PORT/~/h.csv"
	assert_success
	cmp "$IN" "$PWDIR/h.csv"
	[ ! -e "$PWDIR/.h.csv.partial" ]
}

@test "a wrong password is refused with 77, once, and never printed" {
	need_root
	run --separate-stderr env SFTP_PASSWORD=wrong-Secret-42 sftp-put --known-hosts "$KH" --retries 3 "$IN" "sftp://$TEST_USER@127.0.0.1:$PORT$PWDIR/w.csv"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == *"login refused for user '$TEST_USER'"* ]]
	[[ "$stderr" != *retrying* ]]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" != *wrong-Secret-42* ]]
	[ ! -e "$PWDIR/w.csv" ]
}

@test "a password in the URL is refused and masked" {
	run --separate-stderr put "$IN" "sftp://$ME:hunter2xyz@127.0.0.1:$PORT$OUT/x.csv"
	assert_failure 78
	[[ "$stderr" == *"sftp://$ME:****@127.0.0.1"* ]]
	[[ "$stderr" != *hunter2xyz* ]]
}

@test "no password and no key is a configuration error" {
	run --separate-stderr env -u SFTP_PASSWORD sftp-put --known-hosts "$KH" "$IN" "$BASE$OUT/x.csv"
	assert_failure 78
	[[ "$stderr" == *"no way to log in"* ]]
}

@test "a key with a passphrase from SFTP_KEY_PASSPHRASE" {
	ssh-keygen -q -t ed25519 -N 'pass phrase 9' -f "$BATS_TEST_TMPDIR/pk"
	cat "$BATS_TEST_TMPDIR/pk.pub" >>"$S/authorized_keys"
	run --separate-stderr env SFTP_KEY_PASSPHRASE='bad-passphrase' sftp-put --known-hosts "$KH" -i "$BATS_TEST_TMPDIR/pk" "$IN" "$BASE$OUT/k.csv"
	assert_failure 77
	[ ! -e "$OUT/k.csv" ]
	run --separate-stderr env SFTP_KEY_PASSPHRASE='pass phrase 9' sftp-put --known-hosts "$KH" -i "$BATS_TEST_TMPDIR/pk" "$IN" "$BASE$OUT/k.csv"
	assert_success
	cmp "$IN" "$OUT/k.csv"
}

@test "a missing remote directory is an error without --mkdir" {
	run --separate-stderr put "$IN" "$BASE$OUT/no/such/x.csv"
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == *"the remote directory '$OUT/no/such/' does not exist (--mkdir creates it)"* ]]
	[ ! -e "$OUT/no" ]
}

@test "--mkdir creates the missing directories" {
	run --separate-stderr put --mkdir "$IN" "$BASE$OUT/no/such/x.csv"
	assert_success
	cmp "$IN" "$OUT/no/such/x.csv"
	[ "$(ls -A "$OUT/no/such")" = x.csv ]
}

@test "a failed rename removes the partial file and leaves NAME alone" {
	mkdir -p "$OUT/taken/sub"
	run --separate-stderr put "$IN" "$BASE$OUT/taken"
	assert_failure 74
	[[ "$stderr" == *"cannot rename the upload into place"* ]]
	[ -d "$OUT/taken/sub" ]
	[ ! -e "$OUT/.taken.partial" ]
}

@test "a partial file of the wrong size is not renamed" {
	# The server writes through the symlink into /dev/null, whose size
	# is 0: the size check must catch it.
	ln -s /dev/null "$OUT/.s.csv.partial"
	run --separate-stderr put "$IN" "$BASE$OUT/s.csv"
	assert_failure 74
	[ -z "$output" ]
	[[ "$stderr" == *"'$OUT/.s.csv.partial' on the server is shorter than the $(wc -c <"$IN") bytes sent; nothing renamed"* ]]
	[ ! -e "$OUT/s.csv" ]
	[ ! -L "$OUT/.s.csv.partial" ]
}

@test "a server killed mid-upload: non-zero exit and no file named NAME" {
	export S2=$BATS_FILE_TMPDIR/srv2
	"$SRV" start "$S2"
	local port2 pid
	port2=$(cat "$S2/port")
	sftp-put --known-hosts "$S2/known_hosts" -i "$S2/id_ed25519" "$BIG" \
		"sftp://$ME@127.0.0.1:$port2$OUT/big.bin" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	# Wait until the server has written part of the file, then kill it all.
	for _ in $(seq 1 400); do
		[ -s "$OUT/.big.bin.partial" ] && break
		sleep 0.025
	done
	[ -s "$OUT/.big.bin.partial" ]
	"$SRV" kill "$S2"
	local rc=0
	wait "$pid" || rc=$?
	cat "$BATS_TEST_TMPDIR/err"
	[ "$rc" -eq 69 ]
	[ ! -e "$OUT/big.bin" ]
	grep -q "cannot upload to 'sftp://$ME@127.0.0.1:$port2$OUT/big.bin'" "$BATS_TEST_TMPDIR/err"
	# A partial file left behind is overwritten by the next upload.
	run --separate-stderr put "$IN" "$BASE$OUT/big.bin"
	assert_success
	cmp "$IN" "$OUT/big.bin"
	[ ! -e "$OUT/.big.bin.partial" ]
}

@test "--dry-run checks host key and login and uploads nothing" {
	run --separate-stderr put --dry-run "$IN" "$BASE$OUT/d.csv"
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"dry run: host key and login accepted"* ]]
	[ -z "$(ls -A "$OUT")" ]
	: >"$BATS_TEST_TMPDIR/empty_kh"
	run --separate-stderr sftp-put --known-hosts "$BATS_TEST_TMPDIR/empty_kh" -i "$KEY" -n "$IN" "$BASE$OUT/d.csv"
	assert_failure 77
	run --separate-stderr put -n "$IN" "$BASE$OUT/nodir/d.csv"
	assert_failure 78
	run --separate-stderr put -n --mkdir "$IN" "$BASE$OUT/nodir/d.csv"
	assert_success
	[ -z "$(ls -A "$OUT")" ]
}

@test "--dry-run with a wrong password is refused with 77" {
	need_root
	run --separate-stderr env SFTP_PASSWORD=nope-wrong-pw sftp-put --known-hosts "$KH" -n "$IN" "sftp://$TEST_USER@127.0.0.1:$PORT$PWDIR/d.csv"
	assert_failure 77
}

@test "retries a closed port with backoff, then exits 69" {
	local closed
	closed=$(free_port)
	run --separate-stderr put --retries 2 "$IN" "sftp://$ME@127.0.0.1:$closed/tmp/x.csv"
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"retrying in 1 s (attempt 2 of 3)"* ]]
	[[ "$stderr" == *"retrying in 2 s (attempt 3 of 3)"* ]]
	[[ "$stderr" == *"(gave up after 3 attempts)"* ]]
}

@test "a retry succeeds once the server is up, sending stdin again" {
	local port3 pid rc=0
	port3=$(free_port)
	export S3=$BATS_TEST_TMPDIR/srv3
	mkdir -p "$S3"
	cp "$KEY" "$KEY.pub" "$S3/"
	# known_hosts appears with the server, before the second attempt
	# reads it.
	seq 1 3000 | sftp-put --known-hosts "$S3/known_hosts" -i "$S3/id_ed25519" -r 3 - \
		"sftp://$ME@127.0.0.1:$port3$OUT/r.txt" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	for _ in $(seq 1 200); do
		grep -q 'retrying in 1 s' "$BATS_TEST_TMPDIR/err" 2>/dev/null && break
		sleep 0.05
	done
	SSHD_PORT=$port3 "$SRV" start "$S3"
	wait "$pid" || rc=$?
	"$SRV" stop "$S3"
	cat "$BATS_TEST_TMPDIR/err"
	[ "$rc" -eq 0 ]
	grep -q "Couldn't connect to server" "$BATS_TEST_TMPDIR/err"
	seq 1 3000 | cmp - "$OUT/r.txt"
}

@test "a missing input file is 66 and nothing is uploaded" {
	run --separate-stderr put "$BATS_TEST_TMPDIR/nope.csv" "$BASE$OUT/x.csv"
	assert_failure 66
	[[ "$stderr" == *"cannot open '$BATS_TEST_TMPDIR/nope.csv'"* ]]
	[ -z "$(ls -A "$OUT")" ]
}

@test "bad URLs are configuration errors" {
	run --separate-stderr put "$IN" "sftp://127.0.0.1:$PORT$OUT/"
	assert_failure 78
	[[ "$stderr" == *"does not name a file"* ]]
	run --separate-stderr put "$IN" "ftp://127.0.0.1/x"
	assert_failure 78
	[[ "$stderr" == *"unsupported URL"* ]]
	run --separate-stderr put "$IN" "file://elsewhere/tmp/x"
	assert_failure 78
}

@test "file:// uploads atomically into a local directory" {
	echo old >"$OUT/f.csv"
	run --separate-stderr sftp-put "$IN" "file://$OUT/f.csv"
	assert_success
	cmp "$IN" "$OUT/f.csv"
	[ "$(ls -A "$OUT")" = f.csv ]
	run --separate-stderr bash -c 'printf abc | sftp-put - "file://$1/g.txt"' _ "$OUT"
	assert_success
	[ "$(cat "$OUT/g.txt")" = abc ]
}

@test "file:// needs --mkdir for a missing directory" {
	run --separate-stderr sftp-put "$IN" "file://$OUT/a/b/f.csv"
	assert_failure 78
	[[ "$stderr" == *"does not exist (--mkdir creates it)"* ]]
	[ ! -e "$OUT/a" ]
	run --separate-stderr sftp-put -n --mkdir "$IN" "file://$OUT/a/b/f.csv"
	assert_success
	[ ! -e "$OUT/a" ]
	run --separate-stderr sftp-put --mkdir "$IN" "file://$OUT/a/b/f.csv"
	assert_success
	cmp "$IN" "$OUT/a/b/f.csv"
}

# A real full disk: a 64 KiB tmpfs the server writes into.  OpenSSH's
# server reports ENOSPC only as SSH_FX_FAILURE and libcurl turns a failed
# write into "Error in the SSH layer" (69 before); the server answering the
# clean-up tells a refused write from a broken session.
@test "a full remote disk is 74 'remote disk full', the old file kept, no partial" {
	if [ "$(id -u)" -ne 0 ]; then
		[ "${CI:-}" != true ] || fail "the full-disk test needs root under CI"
		skip "mounting a small tmpfs needs root"
	fi
	export FULL=$BATS_TEST_TMPDIR/full
	mkdir -p "$FULL"
	mount -t tmpfs -o size=64k,mode=0777 edpipe-full "$FULL" ||
		skip "cannot mount a tmpfs here"
	echo 'the file not picked up yet' >"$FULL/enroll.csv"
	head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/300k"
	run --separate-stderr put "$BATS_TEST_TMPDIR/300k" "$BASE$FULL/enroll.csv"
	assert_failure 74
	[ -z "$output" ]
	[[ "$stderr" == *"cannot upload to '$BASE$FULL/enroll.csv': the server refused a write"*"remote disk full or quota exceeded"* ]]
	[[ "$stderr" != *"Error in the SSH layer"* ]]
	[ "$(cat "$FULL/enroll.csv")" = 'the file not picked up yet' ]
	[ "$(ls -A "$FULL")" = enroll.csv ]
	# A file that fits still goes through.
	run --separate-stderr put "$IN" "$BASE$FULL/enroll.csv"
	assert_success
	cmp "$IN" "$FULL/enroll.csv"
}

@test "with a key to log in, sftp-put cannot dump core (RLIMIT_CORE 0, soft and hard)" {
	local lport lpid pid lim i
	lport=$(free_port)
	# A server that accepts and never speaks: sftp-put waits in the SSH
	# handshake, past the point where it has its key at hand.
	python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
conns = []
while True:
    conns.append(s.accept()[0])' "$lport" 3>&- &
	lpid=$!
	wait_port "$lport"
	(ulimit -S -c 1024 && exec env -u SFTP_PASSWORD sftp-put --known-hosts "$KH" \
		--identity "$KEY" "$IN" "sftp://$ME@127.0.0.1:$lport/tmp/x.csv") 3>&- &
	pid=$!
	lim=$(core_limit "$pid")
	kill "$pid" "$lpid"
	wait "$pid" "$lpid" 2>/dev/null || true
	[ "$lim" = "0 0" ]
}
