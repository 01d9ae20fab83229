#!/usr/bin/env bats
# rec-hash: published test vectors, agreement with openssl dgst and Python's
# hashlib/hmac, NDJSON and CSV, keys, and every bad input.

load helper
bats_require_minimum_version 1.5.0

setup() {
	need openssl jq python3
	D=$FIX/rec-hash
	T=$BATS_TEST_TMPDIR
}

# Digests computed by other tools, to compare with.
rmd() { printf '%s' "$1" | openssl dgst -ripemd160 -r | cut -d' ' -f1; }
sha() { printf '%s' "$1" | openssl dgst -sha256 -r | cut -d' ' -f1; }
hmac() { printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1; }

# One value through rec-hash: hashone ALGO-OPTIONS... -- VALUE-JSON
hashone() {
	local v=${!#}
	printf '{"u":%s}\n' "$v" | rec-hash --field u "${@:1:$#-1}" | jq -r .u
}

key_file() {
	printf '%s\n' "$1" >"$T/key"
	chmod 600 "$T/key"
}

@test "common options: --help, --version, unknown option" {
	common_cli_checks rec-hash
	run --separate-stderr rec-hash --help
	assert_output --partial "--field NAME[,NAME...]"
	assert_output --partial "hmac-sha256"
}

@test "ripemd160 gives the published RIPEMD-160 test vectors" {
	run hashone -a ripemd160 '"abc"'
	assert_output 8eb208f7e05d987a9b044a8e98c6b087f15a0bfc
	run hashone -a ripemd160 --empty hash '""'
	assert_output 9c1185a5c5e9fc54612808977ee8f548b2258d31
	run hashone -a ripemd160 '"a"'
	assert_output 0bdc9d2d256b3ee9daae347be6f4dc835a467ffe
	run hashone -a ripemd160 '"message digest"'
	assert_output 5d0689ef49d2fae572b881b123a85ffa21595f36
}

@test "sha256 gives the published SHA-256 test vectors" {
	run hashone -a sha256 '"abc"'
	assert_output ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
	run hashone -a sha256 --empty hash '""'
	assert_output e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
}

@test "hmac-sha256 gives the RFC 4231 test vectors (key file)" {
	# Test case 2's key "Jefe" is too short for a secret (see below).
	# Test case 1: twenty 0x0b bytes as the key.
	printf '\013%.0s' $(seq 20) >"$T/key"
	chmod 600 "$T/key"
	run hashone -a hmac-sha256 --key-file "$T/key" '"Hi There"'
	assert_output b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7
	# Test case 6: 131 bytes 0xaa, longer than a block (hashed first).
	printf '\252%.0s' $(seq 131) >"$T/key"
	run hashone --key-file "$T/key" '"Test Using Larger Than Block-Size Key - Hash Key First"'
	assert_output 60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54
}

@test "hmac-sha256 is the default and takes its key from REC_HASH_KEY" {
	REC_HASH_KEY=Jefe-Jefe run hashone '"what do ya want for nothing?"'
	assert_output "$(hmac Jefe-Jefe 'what do ya want for nothing?')"
}

@test "a key shorter than 8 characters is a configuration error (78), never shown" {
	REC_HASH_KEY=Jefe run --separate-stderr rec-hash --field user "$D/users.ndjson"
	assert_failure 78
	[ -z "$output" ]
	[ "$stderr" = "rec-hash: the secret REC_HASH_KEY is shorter than 8 characters: use a longer one" ]
	key_file 1234567
	run --separate-stderr rec-hash --field user --key-file "$T/key" "$D/users.ndjson"
	assert_failure 78
	[ -z "$output" ]
	[ "$stderr" = "rec-hash: the secret file $T/key is shorter than 8 characters: use a longer one" ]
	key_file 12345678
	run --separate-stderr rec-hash --field user --key-file "$T/key" "$D/users.ndjson"
	assert_success
	# The key is masked in messages, not in ordinary words around it.
	run --separate-stderr rec-hash --field user --key-file "$T/key" "$T/no-12345678-expected"
	assert_failure 66
	[[ "$stderr" == *"no-****-expected"* ]]
}

@test "non-ASCII usernames hash as their UTF-8 bytes, as openssl dgst does" {
	run --separate-stderr rec-hash -a ripemd160 --field user "$D/users.ndjson"
	assert_success
	[ -z "$stderr" ]
	# Zo\u00eb in the file is the same name as the literal Zoë.
	printf '%s\n' "$(rmd alice)" "$(rmd 'Zoë')" "$(rmd '李雷')" \
		"$(rmd "O'Brien, \"Pat\"")" >"$T/want"
	diff -u "$T/want" <(jq -r .user <<<"$output")
	[ "$(printf '%s' 'Zoë' | openssl dgst -ripemd160)" = \
		"RIPEMD-160(stdin)= $(jq -r .user <<<"${lines[1]}")" ]
}

@test "ripemd160 and sha256 agree with Python's hashlib on every record" {
	rec-hash -a ripemd160 --field user "$D/users.ndjson" | jq -r .user >"$T/got"
	rec-hash -a sha256 --field user "$D/users.ndjson" | jq -r .user >>"$T/got"
	# One interpreter start for both (python3 may be a slow wrapper).
	python3 -c '
import hashlib, json, sys
try:
    hashlib.new("ripemd160")
except ValueError:
    print("no-ripemd160")
    sys.exit(0)
users = [json.loads(l)["user"] for l in open(sys.argv[1], encoding="utf-8")]
for algo in ("ripemd160", "sha256"):
    for u in users:
        print(hashlib.new(algo, u.encode("utf-8")).hexdigest())
' "$D/users.ndjson" >"$T/want"
	if [ "$(cat "$T/want")" = no-ripemd160 ]; then
		skip "this Python's hashlib has no ripemd160 (openssl dgst is checked above)"
	fi
	[ "$(wc -l <"$T/want")" -eq 8 ]
	diff -u "$T/want" "$T/got"
}

@test "hmac-sha256 agrees with Python's hmac on every record, key reused" {
	key_file 's3cret key'
	rec-hash --key-file "$T/key" --field user,email "$D/users.ndjson" >"$T/out"
	python3 -c '
import hmac, hashlib, json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    for f in ("user", "email"):
        v = r[f]
        if v:
            r[f] = hmac.new(b"s3cret key", v.encode(), hashlib.sha256).hexdigest()
    print(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
' "$D/users.ndjson" >"$T/want"
	diff -u "$T/want" "$T/out"
}

@test "other fields pass through unchanged and in order" {
	rec-hash -a sha256 --field user "$D/users.ndjson" >"$T/out"
	[ "$(jq -c 'del(.user)' "$D/users.ndjson")" = "$(jq -c 'del(.user)' "$T/out")" ]
	[ "$(jq -c keys_unsorted "$D/users.ndjson")" = "$(jq -c keys_unsorted "$T/out")" ]
	[ "$(jq -r .user "$T/out" | head -n1)" = "$(sha alice)" ]
}

@test "several fields: comma list and repeated --field" {
	run rec-hash -a sha256 --field user,course --field role "$D/users.ndjson"
	assert_success
	[ "$(jq -r .course <<<"${lines[0]}")" = "$(sha BSC5102)" ]
	[ "$(jq -r .role <<<"${lines[2]}")" = "$(sha editingteacher)" ]
	[ "$(jq -r .user <<<"${lines[2]}")" = "$(sha '李雷')" ]
	[ "$(jq -r .email <<<"${lines[0]}")" = alice@example.edu ]
}

@test "CSV in, CSV out: header order kept, quoted values hashed" {
	run --separate-stderr rec-hash -a ripemd160 --field user -t csv "$D/users.csv"
	assert_success
	cat >"$T/want" <<EOF
course,user,role,email,id
BSC5102,$(rmd alice),student,alice@example.edu,4766
BSC5102,$(rmd 'Zoë'),student,,17
COUN6552,$(rmd '李雷'),editingteacher,li@example.edu,5
COUN6552,$(rmd "O'Brien, \"Pat\""),student,,8
EOF
	diff -u "$T/want" <(printf '%s\n' "$output")
}

@test "CSV in gives CSV out by default, NDJSON with -t ndjson; NDJSON in gives CSV with -t csv" {
	run rec-hash -a ripemd160 --field user "$D/users.csv"
	assert_success
	[ "${lines[0]}" = course,user,role,email,id ]
	[ "${lines[2]}" = "BSC5102,$(rmd 'Zoë'),student,,17" ]
	run rec-hash -a ripemd160 --field user -t ndjson "$D/users.csv"
	assert_success
	[ "$(jq -r .user <<<"${lines[1]}")" = "$(rmd 'Zoë')" ]
	[ "$(jq -r .id <<<"${lines[1]}")" = 17 ]
	run rec-hash -a ripemd160 --field user -t csv "$D/users.ndjson"
	assert_success
	[ "${lines[0]}" = course,user,role,email,id ]
	[ "${lines[2]}" = "BSC5102,$(rmd 'Zoë'),student,,17" ]
}

@test "CSV and NDJSON of the same data hash to the same values" {
	rec-hash -a ripemd160 --field user -t ndjson "$D/users.csv" | jq -r .user >"$T/a"
	rec-hash -a ripemd160 --field user "$D/users.ndjson" | jq -r .user >"$T/b"
	diff -u "$T/a" "$T/b"
	[ "$(wc -l <"$T/a")" -eq 4 ]
}

@test "null stays null, empty stays empty unless --empty hash" {
	run rec-hash -a sha256 --field email "$D/users.ndjson"
	assert_success
	[ "$(jq -c .email <<<"${lines[1]}")" = null ]
	[ "$(jq -c .email <<<"${lines[3]}")" = '""' ]
	[ "$(jq -r .email <<<"${lines[0]}")" = "$(sha alice@example.edu)" ]
	run rec-hash -a sha256 --field email --empty hash "$D/users.ndjson"
	[ "$(jq -c .email <<<"${lines[1]}")" = null ]
	[ "$(jq -r .email <<<"${lines[3]}")" = "$(sha '')" ]
}

@test "numbers and booleans are hashed by their text" {
	run bash -c 'printf "%s\n" "{\"id\":4766,\"ok\":true,\"f\":1.50}" |
		rec-hash -a sha256 --field id,ok,f'
	assert_success
	[ "$(jq -r .id <<<"$output")" = "$(sha 4766)" ]
	[ "$(jq -r .ok <<<"$output")" = "$(sha true)" ]
	[ "$(jq -r .f <<<"$output")" = "$(sha 1.50)" ]
	# The number 4766 and the string "4766" are the same key.
	[ "$(hashone -a sha256 '"4766"')" = "$(sha 4766)" ]
}

@test "--normalize lower,trim folds case and white space before hashing" {
	run hashone -a ripemd160 --normalize lower,trim '" Alice\t"'
	assert_output "$(rmd alice)"
	run hashone -a ripemd160 --normalize trim '" Alice\t"'
	assert_output "$(rmd Alice)"
	run hashone -a ripemd160 --normalize lower '"ALICE"'
	assert_output "$(rmd alice)"
	# Off by default: a different spelling is a different hash.
	run hashone -a ripemd160 '" Alice"'
	assert_output "$(rmd ' Alice')"
	# lower is ASCII only: non-ASCII letters are kept.
	run hashone -a ripemd160 --normalize lower '"ZOË"'
	assert_output "$(rmd 'zoË')"
	# White space only trims to empty, which stays empty.
	run hashone -a ripemd160 --normalize trim '"   "'
	assert_output ""
}

@test "a missing field stops with 65 naming FILE:LINE, nothing passed on" {
	run --separate-stderr rec-hash -a sha256 --field user "$D/missing.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "rec-hash: $D/missing.ndjson:2: missing field 'user'" ]
	run --separate-stderr bash -c "rec-hash -a sha256 --field user <'$D/missing.ndjson'"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "rec-hash: stdin:2: missing field 'user'" ]
}

@test "--missing=skip passes records lacking the field and counts them" {
	run --separate-stderr rec-hash -a sha256 --missing=skip --field user "$D/missing.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[1]}" = '{"role":"student"}' ]
	[ "$(jq -r .user <<<"${lines[2]}")" = "$(sha carol)" ]
	[ "$stderr" = "rec-hash: warning: 1 record lacked a field to hash and passed unhashed (--missing=skip)" ]
	run --separate-stderr rec-hash -q -a sha256 --missing skip --field user "$D/missing.ndjson"
	assert_success
	[ -z "$stderr" ]
}

@test "a CSV header without the field is an error at line 1" {
	run --separate-stderr rec-hash -a sha256 --field login "$D/users.csv"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "rec-hash: $D/users.csv:1: no column 'login' in the CSV header" ]
}

@test "an array or object value is bad input" {
	run --separate-stderr rec-hash -a sha256 --field tags "$D/nested.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "rec-hash: $D/nested.ndjson:1: field 'tags' is an array or object, not a value to hash" ]
}

@test "malformed JSON on line 3 stops with 65 and passes nothing on" {
	run --separate-stderr rec-hash -a sha256 --field user "$D/bad-json.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: $D/bad-json.ndjson:3: invalid JSON"* ]]
}

@test "invalid UTF-8 stops with 65 naming the line" {
	run --separate-stderr rec-hash -a sha256 --field user "$D/bad-utf8.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: $D/bad-utf8.ndjson:2: invalid UTF-8"* ]]
}

@test "a CSV row with the wrong field count is bad input" {
	printf 'user,role\nalice,student\nbob\n' >"$T/bad.csv"
	run --separate-stderr rec-hash -a sha256 --field user -t csv "$T/bad.csv"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: $T/bad.csv:3: row has 1 fields"* ]]
}

@test "NDJSON to CSV: a later record with a new field is bad input" {
	printf '{"user":"a"}\n{"user":"b","x":1}\n' >"$T/in.ndjson"
	run --separate-stderr rec-hash -a sha256 --field user -t csv "$T/in.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: $T/in.ndjson:2: field 'x' is not a column"* ]]
}

@test "empty input gives empty output; a header-only CSV keeps its header" {
	run --separate-stderr rec-hash -a sha256 --field user /dev/null
	assert_success
	[ -z "$output" ]
	printf 'user,role\n' >"$T/h.csv"
	run --separate-stderr rec-hash -a sha256 --field user -t csv "$T/h.csv"
	assert_success
	assert_output "user,role"
}

@test "-i forces the input format" {
	printf '{"user":"x"}\n' >"$T/in"
	run --separate-stderr rec-hash -a sha256 --field user -f ndjson "$T/in"
	assert_success
	[ "$(jq -r .user <<<"$output")" = "$(sha x)" ]
	# Read as CSV, the JSON line is a malformed header.
	run --separate-stderr rec-hash -a sha256 --field user -f csv "$T/in"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: $T/in:1: "* ]]
	# And a CSV forced to NDJSON is invalid JSON.
	run --separate-stderr rec-hash -a sha256 --field user -f ndjson "$D/users.csv"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: $D/users.csv:1: invalid JSON"* ]]
}

@test "hmac-sha256 without a key is a configuration error (78)" {
	run --separate-stderr env -u REC_HASH_KEY rec-hash --field user "$D/users.ndjson"
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: hmac-sha256 needs a key: name a file with --key-file or set REC_HASH_KEY"* ]]
	: >"$T/key"
	chmod 600 "$T/key"
	run --separate-stderr rec-hash --field user --key-file "$T/key" "$D/users.ndjson"
	assert_failure 78
	[ -z "$output" ]
	[[ "$stderr" == *"empty"* ]]
}

@test "a key file readable by group or others is refused with 77" {
	key_file topsecret
	chmod 640 "$T/key"
	run --separate-stderr rec-hash --field user --key-file "$T/key" "$D/users.ndjson"
	assert_failure 77
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: refusing secret file '$T/key': readable by group or others"* ]]
	[[ "$stderr" != *topsecret* ]]
	chmod 604 "$T/key"
	run --separate-stderr rec-hash --field user --key-file "$T/key" "$D/users.ndjson"
	assert_failure 77
}

@test "a FIFO named as the key file is refused at once (78), not waited on" {
	mkfifo "$T/key"
	run --separate-stderr timeout 10 rec-hash --field user --key-file "$T/key" "$D/users.ndjson"
	assert_failure 78
	[ -z "$output" ]
	[ "$stderr" = "rec-hash: refusing secret file '$T/key': not a regular file" ]
}

@test "a program holding a secret cannot dump core (RLIMIT_CORE 0, soft and hard)" {
	local pid lim
	key_file 'core-dump-key-1'
	mkfifo "$T/in"
	# Core dumps allowed to start with; the input blocks once the key
	# is read.
	(ulimit -S -c 1024 && exec rec-hash --field user --key-file "$T/key" "$T/in" >"$T/out") &
	pid=$!
	lim=$(core_limit "$pid")
	echo '{"user":"x"}' >"$T/in"
	wait "$pid"
	[ "$lim" = "0 0" ]
	[ "$(jq -r .user "$T/out")" = "$(hmac core-dump-key-1 x)" ]
}

@test "a missing key file is exit 66" {
	run --separate-stderr rec-hash --field user --key-file "$T/nokey" "$D/users.ndjson"
	assert_failure 66
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: cannot open secret file '$T/nokey'"* ]]
}

@test "a key for a plain hash is a usage error; REC_HASH_KEY is warned about" {
	key_file k
	run --separate-stderr rec-hash -a sha256 --field user --key-file "$T/key" "$D/users.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[ "${stderr_lines[0]}" = "rec-hash: --key-file is for hmac-sha256, not sha256" ]
	REC_HASH_KEY=k run --separate-stderr rec-hash -a ripemd160 --field user "$D/users.ndjson"
	assert_success
	[ "$stderr" = "rec-hash: warning: REC_HASH_KEY is set but ripemd160 takes no key: the hashes are not keyed" ]
}

@test "bad option values are usage errors (exit 2) with no output" {
	local args
	while IFS= read -r args; do
		eval "set -- $args"
		run --separate-stderr rec-hash "$@" "$D/users.ndjson"
		[ "$status" -eq 2 ] || { echo "status $status for: $args"; false; }
		[ -z "$output" ]
		[[ "$stderr" == *"usage: rec-hash"* ]]
	done <<'EOF'
-a sha256
-a md5 --field user
-a sha256 --field ''
-a sha256 --field user,,role
-a sha256 --field user, 
-a sha256 --field user --field user
-a sha256 --field user -t xml
-a sha256 --field user --from xml
-a sha256 --field user --missing maybe
-a sha256 --field user --empty drop
-a sha256 --field user --normalize upper
-a sha256 --field user - -
EOF
	run --separate-stderr rec-hash -a md5 --field user
	[ "${stderr_lines[0]}" = "rec-hash: unknown algorithm 'md5' (ripemd160, sha256 or hmac-sha256)" ]
	run --separate-stderr rec-hash -a sha256
	[ "${stderr_lines[0]}" = "rec-hash: no field to hash: give --field" ]
	run --separate-stderr rec-hash -a sha256 -f
	assert_failure 2
	[ "${stderr_lines[0]}" = "rec-hash: option '-f' needs a value" ]
	run --separate-stderr rec-hash -a sha256 --field user --field user
	[ "${stderr_lines[0]}" = "rec-hash: option '--field': 'user' named twice" ]
}

@test "a missing input file is exit 66" {
	run --separate-stderr rec-hash -a sha256 --field user "$T/none.ndjson"
	assert_failure 66
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: "*"none.ndjson"* ]]
}

@test "a failed write of stdout is exit 74" {
	run --separate-stderr bash -c "rec-hash -a sha256 --field user '$D/users.ndjson' >/dev/full"
	assert_failure 74
	[ "$stderr" = "rec-hash: write error on stdout: No space left on device" ]
}

@test "falls back to the legacy provider when RIPEMD160 cannot be fetched" {
	# An OpenSSL configuration that activates only the base provider, so
	# the first fetch fails as it does where RIPEMD-160 is legacy-only.
	cat >"$T/openssl.cnf" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
base = base_sect
[base_sect]
activate = 1
EOF
	OPENSSL_CONF=$T/openssl.cnf run --separate-stderr rec-hash -v -a ripemd160 --field user "$D/users.ndjson"
	assert_success
	[ "$(jq -r .user <<<"${lines[0]}")" = "$(rmd alice)" ]
	[[ "$stderr" == *"ripemd160 is not in the OpenSSL providers loaded here: loaded the default and legacy providers"* ]]
	OPENSSL_CONF=$T/openssl.cnf run --separate-stderr rec-hash -a sha256 --field user "$D/users.ndjson"
	assert_success
	[ "$(jq -r .user <<<"${lines[0]}")" = "$(sha alice)" ]
	[ -z "$stderr" ]
}

@test "-v reports counts; --progress shows the record count" {
	run --separate-stderr rec-hash -v -a sha256 --field user,email "$D/users.ndjson"
	assert_success
	[ "$stderr" = "rec-hash: 4 records, 6 values hashed with sha256" ]
	run --separate-stderr rec-hash --progress -a sha256 --field user "$D/users.ndjson"
	assert_success
	[[ "$stderr" == *"rec-hash: 4 records"* ]]
	[ "${#lines[@]}" -eq 4 ]
}

@test "digests differ by algorithm and key, and have the right length" {
	a=$(hashone -a ripemd160 '"alice"')
	b=$(hashone -a sha256 '"alice"')
	c=$(REC_HASH_KEY=key-one-1 hashone '"alice"')
	d=$(REC_HASH_KEY=key-two-2 hashone '"alice"')
	[ ${#a} -eq 40 ] && [ ${#b} -eq 64 ] && [ ${#c} -eq 64 ]
	[[ "$a$b$c" =~ ^[0-9a-f]+$ ]]
	[ "$b" != "$c" ] && [ "$c" != "$d" ]
	[ "$c" = "$(hmac key-one-1 alice)" ]
}

@test "a Windows-1252 TSV and a jq array hash to the same values as the CSV" {
	need jq
	rec-hash -a ripemd160 --field user -t ndjson "$D/users.csv" | jq -r .user >"$T/a"
	# 李雷 has no Windows-1252 form: that row is left out of the TSV
	rec-hash -a ripemd160 --field user -t ndjson "$D/users.csv" |
	    jq -r 'select(.email != "li@example.edu") | .user' >"$T/want"
	[ "$(wc -l <"$T/want")" -eq 3 ]
	python3 -c 'import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1], newline="", encoding="utf-8"))
        if "李雷" not in r[1]]
with open(sys.argv[2], "w", newline="", encoding="cp1252") as f:
    csv.writer(f, delimiter="\t", lineterminator="\r\n").writerows(rows)' \
	    "$D/users.csv" "$T/users.tsv"
	rec-hash -a ripemd160 --field user -f tsv -t ndjson --encoding WINDOWS-1252 \
	    "$T/users.tsv" | jq -r .user >"$T/b"
	diff -u "$T/want" "$T/b"
	jq -s . "$D/users.ndjson" | rec-hash -a ripemd160 --field user | jq -r .user >"$T/c"
	diff -u "$T/a" "$T/c"
	jq . "$D/users.ndjson" | rec-hash -a ripemd160 --field user | jq -r .user >"$T/c"
	diff -u "$T/a" "$T/c"
}

# --- one flag vocabulary (issue 17, items 6 and 7) ---

@test "several inputs are read in order, like cat; '-' is stdin" {
	rec-hash -a sha256 --field user "$D/users.ndjson" >"$T/one"
	run --separate-stderr bash -c "rec-hash -a sha256 --field user '$D/users.ndjson' - '$D/users.ndjson' <'$D/users.ndjson'"
	assert_success
	[ -z "$stderr" ]
	diff -u <(cat "$T/one" "$T/one" "$T/one") - <<<"$output"
	# CSV files: one header, the first input's; all rows in order
	run --separate-stderr rec-hash -a sha256 --field user "$D/users.csv" "$D/users.csv"
	assert_success
	[ "${#lines[@]}" -eq 9 ]
	[ "$(grep -c '^course,user' <<<"$output")" -eq 1 ]
	# a bad second input stops the run: nothing passed on, its location
	run --separate-stderr rec-hash -a sha256 --field user "$D/users.ndjson" "$D/bad-json.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: $D/bad-json.ndjson:"* ]]
	run --separate-stderr rec-hash -a sha256 --field user "$D/users.ndjson" "$T/none"
	assert_failure 66
	[ -z "$output" ]
}

@test "deprecated -f FIELD, -i, --input-format, -o FORMAT, --output-format warn and still work" {
	rec-hash -a sha256 --field user -t csv "$D/users.ndjson" >"$T/want-csv"
	rec-hash -a sha256 --field user "$D/users.ndjson" >"$T/want"
	run --separate-stderr rec-hash -a sha256 -f user "$D/users.ndjson"
	assert_success
	diff -u "$T/want" - <<<"$output"
	[ "$stderr" = "rec-hash: warning: option '-f FIELD' is deprecated: use --field user (-f is --from FORMAT)" ]
	run --separate-stderr rec-hash -a sha256 --field user -i ndjson "$D/users.ndjson"
	assert_success
	diff -u "$T/want" - <<<"$output"
	[ "$stderr" = "rec-hash: warning: option '-i' is deprecated: use -f/--from" ]
	run --separate-stderr rec-hash -a sha256 --field user --input-format ndjson "$D/users.ndjson"
	assert_success
	[ "$stderr" = "rec-hash: warning: option '--input-format' is deprecated: use -f/--from" ]
	cd "$T"
	run --separate-stderr rec-hash -a sha256 --field user -o csv "$D/users.ndjson"
	assert_success
	diff -u "$T/want-csv" - <<<"$output"
	[ ! -e "$T/csv" ]
	[[ "$stderr" == "rec-hash: warning: option '-o csv' names a format, which is deprecated: use -t csv"* ]]
	run --separate-stderr rec-hash -a sha256 --field user --output-format csv "$D/users.ndjson"
	assert_success
	diff -u "$T/want-csv" - <<<"$output"
	[ "$stderr" = "rec-hash: warning: option '--output-format' is deprecated: use -t/--to" ]
	# -f FORMAT is the new --from
	run --separate-stderr rec-hash -a sha256 --field user -f ndjson "$D/users.ndjson"
	assert_success
	[ -z "$stderr" ]
	diff -u "$T/want" - <<<"$output"
}

@test "-o FILE writes FILE whole or not at all" {
	rec-hash -a sha256 --field user "$D/users.ndjson" >"$T/want"
	run --separate-stderr rec-hash -a sha256 --field user -o "$T/out" "$D/users.ndjson"
	assert_success
	[ -z "$output" ]
	diff -u "$T/want" "$T/out"
	echo keep >"$T/out"
	run --separate-stderr rec-hash -a sha256 --field user --output "$T/out" "$D/users.ndjson" "$D/bad-json.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$(cat "$T/out")" = keep ]
	[ -z "$(find "$T" -maxdepth 1 -name '.out.*')" ]
}

@test "--key is refused, not taken as an abbreviation of --key-file" {
	printf 'a-long-enough-hmac-key\n' >"$T/user"
	chmod 600 "$T/user"
	run --separate-stderr rec-hash --key user --field user "$D/users.ndjson"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == "rec-hash: option '--key': write '--key-file FILE' in full"* ]]
	# the full name still works
	run --separate-stderr rec-hash --key-file "$T/user" --field user "$D/users.ndjson"
	[ "$status" -eq 0 ]
}
