# db-load-inventory.bash - the course-inventory schema and loads, shared by
# db-load-inventory.bats (SQLite) and db-load-inventory-mysql.bats
# (MariaDB): db-load --migrate with the shipped migrations
# (share/course-inventory/migrations), --tables in one transaction,
# --job-run rows on success and failure.
#
# The including file sets URL, BACKEND (the migrations' folder name) and
# inv_reset (an empty database).  Queries go through sis-extract, so the
# rows compare the same on every backend.

MIG=$ROOT/share/course-inventory/migrations
IFIX=$ROOT/tests/fixtures/db-load/inventory
TABLES=term,course,course_section,user,enrollment

inv_q() {
	sis-extract --db "$URL" --sql "$1"
}

inv_files() {
	local t
	for t in ${TABLES//,/ }; do
		printf '%s\n' "${1:-$IFIX}/$t.ndjson"
	done
}

inv_load() {
	local files
	mapfile -t files < <(inv_files "${INV_DIR:-}")
	db-load --db "$URL" --tables "$TABLES" --mode replace \
		--job-run canvas-inventory --run-started 2026-01-02T03:04:05Z \
		--source CANVAS_API=2026-01-02T03:05:00Z "$@" "${files[@]}"
}

inv_migrate() {
	# Every shipped migration of the backend, the last one's version.
	local files=("$MIG/$BACKEND"/*.sql) last
	last=${files[-1]##*/}
	last=$((10#${last%%_*}))
	run --separate-stderr db-load --db "$URL" --migrate "$MIG"
	assert_success
	[ -z "$output" ]
	[ "$stderr" = "db-load: schema at version $last (${#files[@]} migrations applied now)" ]
	run inv_q "SELECT version, name FROM schema_version WHERE version = 1"
	assert_output '{"version":1,"name":"0001_schema.sql"}'
	# Idempotent: nothing is applied twice.
	run --separate-stderr db-load --db "$URL" --migrate "$MIG"
	assert_success
	[ "$stderr" = "db-load: schema at version $last (0 migrations applied now)" ]
	run inv_q "SELECT count(*) AS n FROM schema_version"
	assert_output "{\"n\":${#files[@]}}"
	local t
	for t in term course course_section user enrollment job_run \
		data_source_status; do
		run inv_q "SELECT count(*) AS n FROM $(inv_ident "$t")"
		assert_output '{"n":0}'
	done
}

inv_ident() {
	if [ "$1" = user ] && [ "$BACKEND" != mysql ]; then
		echo '"user"'
	else
		echo "$1"
	fi
}

# A second migration whose second statement fails: rolled back, its
# version not recorded, later ones not run; fixed, it applies.
inv_migrate_fail() {
	local dir=$BATS_TEST_TMPDIR/mig shipped
	cp -r "$MIG" "$dir"
	shipped=$(find "$MIG/$BACKEND" -name '[0-9]*.sql' -printf '%f\n' | sort |
		sed 's/_.*//; s/^0*//; s/.*/{"version":&}/')
	printf 'CREATE TABLE extra (a INT);\nINSERT INTO no_such_table VALUES (1);\n' \
		>"$dir/$BACKEND/0098_extra.sql"
	printf 'CREATE TABLE never (a INT);\n' >"$dir/$BACKEND/0099_never.sql"
	run --separate-stderr db-load --db "$URL" --migrate "$dir"
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	[[ $stderr == "db-load: migration $dir/$BACKEND/0098_extra.sql: statement 2: "*"no_such_table"*"(rolled back; not applied)" ]]
	run inv_q "SELECT version FROM schema_version ORDER BY version"
	assert_output "$shipped"
	run inv_q "SELECT count(*) AS n FROM never"
	assert_failure
	if [ "$BACKEND" != mysql ]; then
		# MariaDB commits DDL at once; the others roll it back.
		run inv_q "SELECT count(*) AS n FROM extra"
		assert_failure
		assert_output --partial extra
	fi
	printf 'CREATE TABLE IF NOT EXISTS extra (a INT);\n' \
		>"$dir/$BACKEND/0098_extra.sql"
	run --separate-stderr db-load --db "$URL" --migrate "$dir"
	assert_success
	[ "$stderr" = "db-load: schema at version 99 (2 migrations applied now)" ]
	run inv_q "SELECT version FROM schema_version ORDER BY version"
	assert_output "$shipped
{\"version\":98}
{\"version\":99}"
}

inv_migrate_names() {
	local dir=$BATS_TEST_TMPDIR/m
	mkdir -p "$dir"
	run --separate-stderr db-load --db "$URL" --migrate "$dir/none"
	[ "$status" -eq 66 ]
	[[ $stderr == "db-load: --migrate: $dir/none: No such file or directory" ]]
	run --separate-stderr db-load --db "$URL" --migrate "$dir"
	[ "$status" -eq 78 ]
	[[ $stderr == *"no migration files (NNNN_NAME.sql)" ]]
	printf 'CREATE TABLE a (a INT);\n' >"$dir/0001_a.sql"
	printf 'CREATE TABLE b (a INT);\n' >"$dir/1_b.sql"
	run --separate-stderr db-load --db "$URL" --migrate "$dir"
	[ "$status" -eq 78 ]
	[[ $stderr == *"have the same version 1" ]]
	rm "$dir/1_b.sql"
	printf 'CREATE TABLE c (a INT);\n' >"$dir/add_c.sql"
	run --separate-stderr db-load --db "$URL" --migrate "$dir"
	[ "$status" -eq 78 ]
	[[ $stderr == "db-load: --migrate: $dir/add_c.sql: the name does not start with a version (NNNN_NAME.sql)" ]]
	# Nothing ran: not even schema_version was made.
	run inv_q "SELECT count(*) AS n FROM a"
	assert_failure
}

# The five tables in one transaction, typed, with the run's rows.
inv_load_ok() {
	db-load -q --db "$URL" --migrate "$MIG"
	run --separate-stderr inv_load
	assert_success
	[ -z "$output" ]
	[ -z "$stderr" ]
	run inv_q "SELECT canvas_id, sis_id, account_id, term_id,
		workflow_state, total_students FROM course ORDER BY canvas_id"
	assert_output '{"canvas_id":10,"sis_id":"ALG-101","account_id":1,"term_id":117,"workflow_state":"available","total_students":2}
{"canvas_id":11,"sis_id":null,"account_id":3,"term_id":117,"workflow_state":"unpublished","total_students":1}'
	run inv_q "SELECT e.canvas_id, s.name AS section, u.sis_id, e.role_type
		FROM enrollment e JOIN course_section s ON s.canvas_id =
		e.course_section_id JOIN $(inv_ident user) u ON u.canvas_id =
		e.user_id WHERE e.course_id = 10 ORDER BY e.canvas_id"
	assert_output '{"canvas_id":1000,"section":"Algebra 001","sis_id":"S5","role_type":"StudentEnrollment"}
{"canvas_id":1001,"section":"Algebra 001","sis_id":null,"role_type":"StudentEnrollment"}
{"canvas_id":1003,"section":"Algebra 001","sis_id":"T7","role_type":"TeacherEnrollment"}'
	run inv_q "SELECT id, job_name, status FROM job_run"
	assert_output '{"id":1,"job_name":"canvas-inventory","status":"successful"}'
	run inv_q "SELECT data_source_name, job_run_id FROM data_source_status"
	assert_output '{"data_source_name":"CANVAS_API","job_run_id":1}'
	run inv_q "SELECT count(*) AS n FROM job_run WHERE
		started_at = '2026-01-02 03:04:05' AND finished_at >= started_at"
	assert_output '{"n":1}'
	run inv_q "SELECT count(*) AS n FROM data_source_status WHERE
		data_updated_at = '2026-01-02 03:05:00'"
	assert_output '{"n":1}'
}

inv_counts() {
	inv_q "SELECT (SELECT count(*) FROM term) AS term,
		(SELECT count(*) FROM course) AS course,
		(SELECT count(*) FROM course_section) AS course_section,
		(SELECT count(*) FROM $(inv_ident user)) AS u,
		(SELECT count(*) FROM enrollment) AS enrollment,
		(SELECT min(name) FROM course) AS first_course"
}

# A bad row in the last table: every table stays as it was (the course
# names of the new files never show), and the failed run is recorded
# with the source's time of the last good run.
inv_load_fail() {
	db-load -q --db "$URL" --migrate "$MIG"
	inv_load -q
	run inv_counts
	local before=$output
	INV_DIR=$BATS_TEST_TMPDIR/new
	mkdir -p "$INV_DIR"
	cp "$IFIX"/*.ndjson "$INV_DIR"
	sed 's/Algebra/Calculus/' "$IFIX/course.ndjson" >"$INV_DIR/course.ndjson"
	cp "$IFIX/enrollment-dup.ndjson" "$INV_DIR/enrollment.ndjson"
	run --separate-stderr inv_load --source UNIZIN_DATA_WAREHOUSE
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	[[ $stderr == "db-load: $INV_DIR/enrollment.ndjson:"* ]]
	run inv_counts
	assert_output "$before"
	assert_output --partial '"first_course":"Algebra"'
	run inv_q "SELECT id, status FROM job_run ORDER BY id"
	assert_output '{"id":1,"status":"successful"}
{"id":2,"status":"failed"}'
	run inv_q "SELECT data_source_name, job_run_id, CASE WHEN
		data_updated_at IS NULL THEN 1 ELSE 0 END AS never FROM data_source_status ORDER BY id"
	assert_output '{"data_source_name":"CANVAS_API","job_run_id":1,"never":0}
{"data_source_name":"CANVAS_API","job_run_id":2,"never":0}
{"data_source_name":"UNIZIN_DATA_WAREHOUSE","job_run_id":2,"never":1}'
	run inv_q "SELECT count(*) AS n FROM data_source_status WHERE
		data_updated_at = '2026-01-02 03:05:00'"
	assert_output '{"n":2}'
	# A run that failed before loading (an outage) is recorded alike.
	run --separate-stderr db-load --db "$URL" --job-run canvas-inventory \
		--run-failed --source CANVAS_API
	assert_success
	[ -z "$stderr" ]
	run inv_q "SELECT j.status, d.job_run_id FROM job_run j JOIN
		data_source_status d ON d.job_run_id = j.id WHERE j.id = 3 AND
		d.data_updated_at = '2026-01-02 03:05:00'"
	assert_output '{"status":"failed","job_run_id":3}'
	run inv_counts
	assert_output "$before"
}

# --max-shrink applies to each table, counted before any is emptied.
inv_load_shrink() {
	db-load -q --db "$URL" --migrate "$MIG"
	inv_load -q
	run inv_counts
	local before=$output
	INV_DIR=$BATS_TEST_TMPDIR/new
	mkdir -p "$INV_DIR"
	cp "$IFIX"/*.ndjson "$INV_DIR"
	head -n 1 "$IFIX/enrollment.ndjson" >"$INV_DIR/enrollment.ndjson"
	run --separate-stderr inv_load --max-shrink 50
	[ "$status" -eq 3 ]
	[[ $stderr == *"refusing to replace the 4 rows of table 'enrollment' with 1: --max-shrink 50 allows no fewer than 2 (nothing was changed)" ]]
	run inv_counts
	assert_output "$before"
	run inv_q "SELECT status FROM job_run ORDER BY id DESC LIMIT 1"
	assert_output '{"status":"failed"}'
}

# --max-shrink TABLE=PCT: that table's own limit; =100 lets it be emptied.
inv_load_shrink_table() {
	db-load -q --db "$URL" --migrate "$MIG"
	inv_load -q
	INV_DIR=$BATS_TEST_TMPDIR/new
	mkdir -p "$INV_DIR"
	cp "$IFIX"/*.ndjson "$INV_DIR"
	head -n 1 "$IFIX/enrollment.ndjson" >"$INV_DIR/enrollment.ndjson"
	run --separate-stderr inv_load --max-shrink 80 --max-shrink enrollment=50
	[ "$status" -eq 3 ]
	[[ $stderr == *"rows of table 'enrollment' with 1: --max-shrink 50 allows"* ]]
	run --separate-stderr inv_load --max-shrink 10 --max-shrink enrollment=80
	assert_success
	run inv_q "SELECT count(*) AS n FROM enrollment"
	assert_output '{"n":1}'
	: >"$INV_DIR/enrollment.ndjson"
	run --separate-stderr inv_load --max-shrink enrollment=99
	[ "$status" -eq 3 ]
	[[ $stderr == *"refusing to empty table 'enrollment'"* ]]
	run --separate-stderr inv_load --max-shrink enrollment=100
	assert_success
	run inv_q "SELECT count(*) AS n FROM enrollment"
	assert_output '{"n":0}'
}

# --bookmark NAME=FIELD: the largest value loaded, in the load's
# transaction; never back; a rolled-back load leaves it.
inv_bookmark() {
	local d=$BATS_TEST_TMPDIR
	bm() {
		inv_q "SELECT value FROM edpipe_bookmark WHERE name = '$1'"
	}
	printf '%s\n' '{"id":9,"at":"2026-01-01 10:00:00"}' \
		'{"id":10,"at":"2026-01-01 12:00:00"}' \
		'{"id":2,"at":"2026-01-01 11:00:00"}' >"$d/a.ndjson"
	run --separate-stderr db-load --db "$URL" --table ev --create \
		--types id=int,at=timestamp -k id --mode upsert \
		--bookmark ev=at --bookmark ev=at "$d/a.ndjson"
	assert_success
	run bm ev
	assert_output '{"value":"2026-01-01 12:00:00"}'
	# Numbers compare as numbers: 10, not "9".
	db-load --db "$URL" --table ev --mode upsert -k id --bookmark seq=id \
		"$d/a.ndjson"
	run bm seq
	assert_output '{"value":"10"}'
	# Older records only: the bookmark stays.
	printf '%s\n' '{"id":3,"at":"2025-12-31 23:00:00"}' >"$d/b.ndjson"
	db-load --db "$URL" --table ev --mode upsert -k id --bookmark ev=at \
		"$d/b.ndjson"
	run bm ev
	assert_output '{"value":"2026-01-01 12:00:00"}'
	# A newer batch that fails: neither its rows nor the bookmark.
	printf '%s\n' '{"id":20,"at":"2026-02-01 00:00:00"}' \
		'{"id":null,"at":"2026-02-02 00:00:00"}' >"$d/c.ndjson"
	run --separate-stderr db-load --db "$URL" --table ev --mode upsert \
		-k id --bookmark ev=at "$d/c.ndjson"
	[ "$status" -eq 65 ]
	run bm ev
	assert_output '{"value":"2026-01-01 12:00:00"}'
	run inv_q "SELECT count(*) AS n FROM ev WHERE id = 20"
	assert_output '{"n":0}'
	# A newer batch that loads moves it, with its rows.
	printf '%s\n' '{"id":20,"at":"2026-02-01 00:00:00"}' >"$d/c.ndjson"
	db-load --db "$URL" --table ev --mode upsert -k id --bookmark ev=at \
		"$d/c.ndjson"
	run bm ev
	assert_output '{"value":"2026-02-01 00:00:00"}'
	run inv_q "SELECT count(*) AS n FROM ev"
	assert_output '{"n":5}'
	run inv_q "SELECT count(*) AS n FROM edpipe_bookmark"
	assert_output '{"n":2}'
}
