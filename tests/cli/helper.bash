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
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

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
