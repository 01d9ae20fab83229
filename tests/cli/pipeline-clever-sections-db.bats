#!/usr/bin/env bats
# scripts/clever-sections, the whole job, against the PowerSchool-shaped
# test database (tests/fixtures/clever-sections/powerschool.sql) in a
# real PostgreSQL server started for this file (tests/servers/pg.sh),
# directly (libpq) and through ODBC (psqlODBC, and the SQLite ODBC
# driver): PowerSchool itself is Oracle, reached through ODBC.  Each must
# give byte for byte the file the SQLite run gives
# (pipeline-clever-sections.bats).  The upload goes to a file:// URL;
# the SFTP path is tested in pipeline-clever-sections.bats.

bats_require_minimum_version 1.5.0
load helper
load dbservers

SCRIPT=$ROOT/scripts/clever-sections
GOLDEN=$FIX/clever-sections/sections-2025-09-02.csv

setup_file() {
	need jq flock python3
	pg_start
	{
		echo "SET ROLE etl;"
		cat "$FIX/clever-sections/powerschool.sql"
	} | "$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis
}

teardown_file() {
	[ -z "${PGDIR:-}" ] || "$ROOT/tests/servers/pg.sh" stop "$PGDIR"
}

setup() {
	T=$BATS_TEST_TMPDIR
	W=$T/work
	CSV=$T/outbox/sections.csv
	mkdir -p "$T/outbox"
	CONF=$T/clever.env
	cat >"$CONF" <<EOF2
CLEVER_SUBJECT_MAP=$ROOT/scripts/examples/clever-subjects.json
CLEVER_TWO_DIGIT_GRADE_SCHOOLS=5,10
SFTP_URL=file://$CSV
EDPIPE_WORK_DIR=$W
EOF2
	unset EDPIPE_CONF
	export SIS_PASSWORD=s3cret-pw
}

# job DB [ARGS...]: the whole job on database URL DB; the same file as
# from SQLite, and the run's status.
job() {
	local db=$1
	shift
	run --separate-stderr env SIS_DB="$db" "$SCRIPT" -c "$CONF" "$@"
	assert_success
	[ -z "$output" ]
}

same_file() {
	diff -u "$GOLDEN" "$CSV"
	jq -e '.status == "ok" and .uploaded and .counts.sections == 9 and
		.counts.teacherless_sections == 1 and
		.counts.unknown_subjects == 1' "$W/last/status.json"
	jq -e -s 'map("\(.school) \(.chosen) \(.terms)") ==
		["10 current [3500,3501,3502]", "20 current [3500,3501,3502]"]' \
		"$W/last/terms.ndjson"
	# The password reached the server, never a message or a run file.
	! grep -r -q s3cret-pw "$W"
	[[ "$stderr" != *s3cret-pw* ]]
}

# sections: the Section_id column of the file, in order, on one line.
sections() {
	python3 - "$CSV" <<'PY'
import csv, sys
with open(sys.argv[1], encoding="utf-8", newline="") as fp:
    print(" ".join(r["Section_id"] for r in csv.DictReader(fp)))
PY
}

@test "PostgreSQL: dated 2025-09-02, the same sections.csv as from SQLite" {
	job "postgres://etl@127.0.0.1:$PGPORT_T/sis" --date 2025-09-02
	same_file
}

@test "PostgreSQL: dated 2026-07-15, the years chosen as from SQLite" {
	job "postgres://etl@127.0.0.1:$PGPORT_T/sis" --date 2026-07-15
	diff -u "$GOLDEN" "$CSV"
	run --separate-stderr env CLEVER_NEXT_YEAR_DAYS=33 \
		SIS_DB="postgres://etl@127.0.0.1:$PGPORT_T/sis" "$SCRIPT" \
		-c "$CONF" --date 2026-07-15
	assert_success
	[ "$(sections)" = "106 203 204 201 205 202" ]
}

@test "ODBC (psqlODBC to PostgreSQL): dated 2025-09-02, the same sections.csv" {
	odbc_driver "PostgreSQL test" psqlodbcw.so odbc-postgresql
	job "odbc:Driver=PostgreSQL test;Server=127.0.0.1;Port=$PGPORT_T;Database=sis;UID=etl" \
		--date 2025-09-02
	same_file
}

@test "ODBC (SQLite ODBC driver): dated 2025-09-02, the same sections.csv" {
	need sqlite3
	odbc_driver "SQLite3 test" libsqlite3odbc.so libsqliteodbc
	sqlite3 "$T/ps.db" <"$FIX/clever-sections/powerschool.sql"
	job "odbc:Driver=SQLite3 test;Database=$T/ps.db" --date 2025-09-02
	same_file
}
