# helper.bash - shared set-up for the CLI tests: `load helper` in a .bats file.
#
# Puts the programs under test ($EDPIPE_BIN, default bin/) first on PATH,
# loads bats-support and bats-assert, and gives:
#   $FIX           tests/fixtures
#   $BATS_TEST_TMPDIR  a fresh directory per test (bats)
#   free_port      print a free TCP port on 127.0.0.1
#   need CMD...    fail (under CI) or skip (elsewhere) when a command is missing
#   common_cli_checks PROG   --help, --version, unknown option, usage exit 2
ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
EDPIPE_BIN=${EDPIPE_BIN:-$ROOT/bin}
PATH=$EDPIPE_BIN:$PATH
FIX=$ROOT/tests/fixtures
export ROOT FIX PATH EDPIPE_BIN
# bats-support, then bats-assert: their files sourced directly, as their
# load.bash files do but without a dirname process per file (18 forks in
# every test of the suite).
for _f in /usr/lib/bats/bats-support/src/*.bash \
	/usr/lib/bats/bats-assert/src/*.bash; do
	# shellcheck source=/dev/null
	source "$_f"
done
unset _f

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

need() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			if [ "${CI:-}" = true ]; then
				echo "required command '$c' is missing under CI" >&2
				return 1
			fi
			skip "$c is not installed"
		fi
	done
}

# Wait until a TCP port on 127.0.0.1 accepts connections (up to ~10 s).
wait_port() {
	local port=$1 i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$port" >&2
	return 1
}

common_cli_checks() {
	local prog=$1
	run --separate-stderr "$prog" --help
	assert_success
	assert_output --partial "usage: $prog"
	[ -z "$stderr" ]
	run --separate-stderr "$prog" --version
	assert_success
	# A program with backends lists them on a second line (build.bats).
	assert_line --index 0 "$prog edpipe 0.1.0"
	[ "${#lines[@]}" -eq 1 ] || { [ "${#lines[@]}" -eq 2 ] &&
		[[ ${lines[1]} == "backends: "* ]]; }
	run --separate-stderr "$prog" --no-such-option
	assert_failure 2
	[ -z "$output" ]
	[[ "${stderr_lines[0]}" == "$prog: unknown option '--no-such-option'" ]]
	[[ "$stderr" == *"try '$prog --help'"* ]]
}

# core_limit PID: the soft and hard core-file limits of process PID once
# they are "0 0" (a program that read a secret sets them), or as they
# stand after about 5 s; "gone" when the process ended first.
core_limit() {
	local lim=gone i
	for i in $(seq 50); do
		lim=$(awk '/^Max core file size/ { print $5, $6 }' \
			"/proc/$1/limits" 2>/dev/null) || lim=gone
		[ "$lim" != "0 0" ] || break
		sleep 0.1
	done
	echo "${lim:-gone}"
}

# demo_moodle_site OUT: a fixture for tests/servers/moodle_server.py whose
# courses and enrolled users are the demo's recorded Moodle roster
# (share/demo/moodle-enrollments.ndjson and its .unkeyed twin).
demo_moodle_site() {
	jq -s '{courses: (group_by(.course_id) | map({id: .[0].course_id,
		shortname: .[0].course, fullname: .[0].course})),
		enrolled: (group_by(.course_id) | map({key: (.[0].course_id
		| tostring), value: (group_by(.user_id) | map({id: .[0].user_id,
		username: .[0].username, fullname: .[0].name, email: .[0].email,
		idnumber: .[0].idnumber, roles: map({roleid: ({student: 5,
		auditingstudent: 14, editingteacher: 3}[.role]), name: "",
		shortname: .role, sortorder: 0})}))}) | from_entries)}' \
		"$ROOT/share/demo/moodle-enrollments.ndjson" \
		"$ROOT/share/demo/moodle-enrollments.unkeyed.ndjson" >"$1"
}

# lms_server moodle|canvas VAR TOKEN FIXTURE [ARG...]: start that test
# server (tests/servers/KIND_server.py) on a free port of 127.0.0.1, put
# the port in VAR (exported), its pid in $BATS_FILE_TMPDIR/KIND.pid and
# its log in KIND.log, and wait until it listens.  lms_server_stop KIND...
# stops what lms_server started, by pid.
lms_server() {
	local kind=$1 var=$2 token=$3 fixture=$4 port
	shift 4
	port=$(free_port)
	python3 "$ROOT/tests/servers/${kind}_server.py" "$port" \
		--token "$token" --fixture "$fixture" "$@" \
		>"$BATS_FILE_TMPDIR/$kind.log" 2>&1 &
	echo $! >"$BATS_FILE_TMPDIR/$kind.pid"
	printf -v "$var" '%s' "$port"
	export "${var?}"
	wait_port "$port"
}

lms_server_stop() {
	local kind
	for kind in "$@"; do
		[ ! -f "$BATS_FILE_TMPDIR/$kind.pid" ] ||
			kill "$(cat "$BATS_FILE_TMPDIR/$kind.pid")" 2>/dev/null || true
	done
}

# no_secret_in LIST [PATH...]: fail when a line of file LIST (a secret,
# a fixed string; blank lines ignored) is in $output or $stderr of the
# last run, or in a PATH (a file, or every file under a directory).
no_secret_in() {
	local list=$1 s p
	shift
	grep -q . "$list" || fail "no_secret_in: $list names no secret"
	while IFS= read -r s; do
		[ -n "$s" ] || continue
		if grep -qF -- "$s" <<<"${output:-}${stderr:-}"; then
			fail "'$s' leaked on stdout or stderr"
		fi
		for p in "$@"; do
			[ -e "$p" ] || fail "no_secret_in: no $p to search"
			if grep -rqF -- "$s" "$p"; then
				fail "'$s' leaked into $(grep -rlF -- "$s" "$p" | head -n 3)"
			fi
		done
	done <"$list"
}
