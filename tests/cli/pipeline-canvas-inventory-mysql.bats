#!/usr/bin/env bats
# scripts/canvas-inventory end to end into a real MariaDB (the target the
# seed used), against the Canvas test server: the shared cases of
# pipeline-canvas-inventory.bash.
bats_require_minimum_version 1.5.0
load helper
load dbservers
load pipeline-canvas-inventory

setup_file() {
	need python3 jq flock curl
	mysql_start
	ci_start_canvas
	ci_start_kaltura
	ci_start_zoom
	export SIS_PASSWORD=s3cret-pw
}

teardown_file() {
	ci_stop_canvas
	ci_stop_kaltura
	"$ROOT/tests/servers/mariadb.sh" stop "$MYDIR"
}

setup() {
	"$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" <<'SQL'
DROP DATABASE sis;
CREATE DATABASE sis CHARACTER SET utf8mb4;
SQL
	INV_URL="mysql://etl@127.0.0.1:$MYPORT/sis"
	inv_sql_user=user
	ci_conf
}

@test "canvas-inventory MariaDB: the seed's tables, typed, with job_run and data_source_status" { ci_full_run; }
@test "canvas-inventory MariaDB: a Canvas outage leaves every table and records a failed run" { ci_outage; }
@test "canvas-inventory MariaDB: mivideo loads Kaltura media incrementally, with its own job_run" { ci_mivideo; }
@test "canvas-inventory MariaDB: canvas_zoom_meetings fills zoom_meeting and zoom_participant; a Zoom outage leaves them" { ci_zoom_run; }
