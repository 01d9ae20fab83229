#!/usr/bin/env bats
# scripts/replicate-hourly end to end: replicate (the demo SIS in SQLite as
# the source, SQLite as the reporting database), then canvas-inventory
# against the Canvas test server (pipeline-canvas-inventory.bash), then
# the site's push command.

bats_require_minimum_version 1.5.0
load helper
load pipeline-canvas-inventory

setup_file() {
	need python3 jq flock sqlite3 curl
	"$ROOT/share/demo-sis/make-demo-sis" "$BATS_FILE_TMPDIR/sis.db"
	ci_start_canvas
}

teardown_file() {
	ci_stop_canvas
}

setup() {
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/queries"
	cp "$ROOT/share/queries/powercampus-enrollments.sql" "$T/queries/"
	printf '%s\n' '# schedule table query on params' \
		'hourly  enrollments  queries/powercampus-enrollments.sql  on   year,term' \
		>"$T/tables"
	printf '%s\n' "REPLICATE_SOURCE_DB=sqlite:$BATS_FILE_TMPDIR/sis.db" \
		"REPLICATE_TARGET_DB=sqlite:$T/warehouse.db" \
		"REPLICATE_TABLES=$T/tables" \
		'REPLICATE_PARAMS="year=2021 term=WINTER"' \
		"EDPIPE_WORK_DIR=$T/work" >"$T/repl.env"
	unset SIS_PASSWORD
	INV_URL=sqlite:$T/inventory.db
	ci_conf
}

q() {
	sqlite3 "$1" "$2"
}

# hourly_env: replicate-hourly over repl.env and inv.env, with a push
# command that leaves a mark.
hourly_env() {
	printf '#!/bin/sh\necho pushed >"$1"\n' >"$T/push"
	chmod 755 "$T/push"
	printf '%s\n' "HOURLY_REPLICATE_CONF=$T/repl.env" \
		"HOURLY_PROVISION_CONF=$T/inv.env" \
		"HOURLY_PUSH=\"$T/push $T/pushed\"" \
		"EDPIPE_WORK_DIR=$T/hourly-work" >"$T/hourly.env"
}

@test "replicate-hourly: replicate, provisioning, then the push" {
	hourly_env
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_success
	[ "$(cat "$T/pushed")" = pushed ]
	[ "$(q "$T/warehouse.db" 'select count(*) from enrollments')" -gt 0 ]
	[ "$(q "$T/inventory.db" 'select count(*) from course')" -gt 0 ]
	jq -e '.status == "ok" and ([.steps[].name] == ["replicate", "provision", "push"])' \
		"$T/hourly-work/last/status.json"
	# Each script kept its own work directory.
	[ -e "$T/work/last/status.json" ] && [ -e "$T/inv-work/last/status.json" ]
}

@test "replicate-hourly: a failed provisioning stops the chain before the push" {
	hourly_env
	printf 'wrong-token\n' >"$T/bad-token"
	chmod 600 "$T/bad-token"
	sed -i "s|^CANVAS_TOKEN_FILE=.*|CANVAS_TOKEN_FILE=$T/bad-token|" "$T/inv.env"
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 77
	[[ "$stderr" == *"provisioning failed (exit 77): the Canvas push was not run"* ]]
	[ ! -e "$T/pushed" ]
	# replicate ran before it, as in the seed.
	[ "$(q "$T/warehouse.db" 'select count(*) from enrollments')" -gt 0 ]
	jq -e '.status == "failed" and .failed_step == "provision"' \
		"$T/hourly-work/last/status.json"
}

@test "replicate-hourly: a failed table does not stop provisioning and the push; the run fails" {
	hourly_env
	printf 'select nosuchcolumn from PEOPLE\n' >"$T/queries/bad.sql"
	printf '%s\n' 'hourly  broken  queries/bad.sql  on  -' >>"$T/tables"
	run --separate-stderr "$ROOT/scripts/replicate-hourly" -c "$T/hourly.env"
	assert_failure 65
	[[ "$stderr" == *"replicate failed (exit 65); provisioning goes on"* ]]
	[ "$(cat "$T/pushed")" = pushed ]
	jq -e '.status == "failed" and .failed_step == "replicate"' \
		"$T/hourly-work/last/status.json"
}
