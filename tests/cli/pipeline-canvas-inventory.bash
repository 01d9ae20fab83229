# pipeline-canvas-inventory.bash - scripts/canvas-inventory end to end
# against the Canvas test server (tests/servers/canvas_server.py), shared
# by pipeline-canvas-inventory.bats (SQLite) and
# pipeline-canvas-inventory-mysql.bats (MariaDB).  The including file sets
# INV_URL, and inv_sql_user (how its SQL names the table user).
#
# The fixture site (tests/fixtures/lms-fetch/canvas): terms 5 and 6;
# course 201 (term 5) with 250 students and a teacher who is also a
# student, in section 9201; 202 (a TA and an observer), 203 (nobody) and
# 301 (term 6, a designer) have no students.

INV=$ROOT/scripts/canvas-inventory
CTOKEN=canvas-inventory-token-51c

ci_start_canvas() {
	local d=$BATS_FILE_TMPDIR
	lms_server canvas CPORT "$CTOKEN" "$FIX/lms-fetch/canvas"
	printf '%s\n' "$CTOKEN" >"$d/token"
	chmod 600 "$d/token"
	export CPORT
	wait_port "$CPORT"
}

ci_stop_canvas() {
	lms_server_stop canvas zoom
}

# The Zoom test server, for the canvas_zoom_meetings job.
ZID=inv-zoom-client-id-31
ZSECRET=inv-zoom-client-secret-8c
ZTOKEN=inv-zoom-token-base-c4
ci_start_zoom() {
	local d=$BATS_FILE_TMPDIR
	lms_server zoom ZPORT "$ZTOKEN" "$FIX/lms-fetch/zoom" \
		--client-id "$ZID" --client-secret "$ZSECRET" --account acct-inv-1
	(
		umask 077
		echo "$ZID" >"$d/zoom-id"
		echo "$ZSECRET" >"$d/zoom-secret"
	)
}

# The Zoom job after the course job: the meetings course 201 links to
# (fixture zoom.json: one in the syllabus, one in the calendar; course
# 202's Zoom tab is hidden), their participants, and the job's own
# job_run and data_source_status rows; a Zoom outage leaves both tables
# and records the Zoom job failed.
ci_zoom_run() {
	local d=$BATS_FILE_TMPDIR
	printf '%s\n' 'INVENTORY_JOBS="course_inventory canvas_zoom_meetings"' \
		"ZOOM_URL=http://127.0.0.1:$ZPORT" \
		"ZOOM_TOKEN_URL=http://127.0.0.1:$ZPORT/oauth/token" \
		ZOOM_ACCOUNT_ID=acct-inv-1 "ZOOM_CLIENT_ID_FILE=$d/zoom-id" \
		"ZOOM_CLIENT_SECRET_FILE=$d/zoom-secret" >>"$T/inv.env"
	curl -fsS "http://127.0.0.1:$ZPORT/_reset?max_page_size=20" >/dev/null
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_success
	[[ $stderr == *"zoom_meeting: 2 rows loaded"* ]]
	[[ $stderr == *"zoom_participant: 45 rows loaded"* ]]
	run ci_q "SELECT course_id, meeting_id, topic, meeting_type,
		duration, source FROM zoom_meeting ORDER BY meeting_id"
	assert_output '{"course_id":201,"meeting_id":85012345678,"topic":"BIO 101 lecture","meeting_type":8,"duration":80,"source":"syllabus"}
{"course_id":201,"meeting_id":96311122233,"topic":"BIO 101 office hours","meeting_type":3,"duration":60,"source":"calendar"}'
	run ci_q "SELECT meeting_id FROM zoom_meeting WHERE
		start_time = '2024-09-03 13:00:00' UNION ALL SELECT meeting_id
		FROM zoom_meeting WHERE start_time IS NULL"
	assert_output '{"meeting_id":85012345678}
{"meeting_id":96311122233}'
	# MariaDB's SUM is a DECIMAL (a string in JSON): compared in SQL.
	run ci_q "SELECT count(*) AS n, CASE WHEN sum(duration) = 204300
		THEN 1 ELSE 0 END AS d FROM zoom_participant
		WHERE meeting_id = 85012345678
		AND join_time >= '2024-09-03 13:00:00'
		AND leave_time = '2024-09-03 14:20:00'"
	assert_output '{"n":45,"d":1}'
	run ci_q "SELECT j.job_name, j.status, s.data_source_name FROM job_run j
		JOIN data_source_status s ON s.job_run_id = j.id ORDER BY j.id"
	assert_output '{"job_name":"canvas-inventory","status":"successful","data_source_name":"CANVAS_API"}
{"job_name":"canvas-zoom-meetings","status":"successful","data_source_name":"CANVAS_ZOOM_MEETINGS"}'
	! grep -rqF -e "$ZSECRET" -e "$ZTOKEN" -e "$ZID" "$T/inv-work"
	# Zoom down: the Zoom tables stay as they were, the run fails and
	# the Zoom job's failure is recorded.
	curl -fsS "http://127.0.0.1:$ZPORT/_reset?fault=500&every=1&times=99&match=participants" >/dev/null
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_failure 75
	run ci_q "SELECT count(*) AS n FROM zoom_participant"
	assert_output '{"n":45}'
	run ci_q "SELECT count(*) AS n FROM zoom_meeting"
	assert_output '{"n":2}'
	run ci_q "SELECT j.job_name, j.status FROM job_run j ORDER BY j.id DESC LIMIT 1"
	assert_output '{"job_name":"canvas-zoom-meetings","status":"failed"}'
}

ci_conf() {
	T=$BATS_TEST_TMPDIR
	printf '%s\n' "CANVAS_URL=http://127.0.0.1:$CPORT" CANVAS_ACCOUNT=1 \
		'CANVAS_TERMS="5 6"' "CANVAS_TOKEN_FILE=$BATS_FILE_TMPDIR/token" \
		CANVAS_RETRIES=1 "INVENTORY_DB=$INV_URL" \
		"EDPIPE_WORK_DIR=$T/inv-work" >"$T/inv.env"
	unset CANVAS_TOKEN
}

ci_q() {
	sis-extract --db "$INV_URL" --sql "$1"
}

ci_counts() {
	ci_q "SELECT (SELECT count(*) FROM term) AS term,
		(SELECT count(*) FROM course) AS course,
		(SELECT count(*) FROM course_section) AS course_section,
		(SELECT count(*) FROM $inv_sql_user) AS u,
		(SELECT count(*) FROM enrollment) AS enrollment"
}

# The whole job: typed rows of the seed's tables, a job_run and a
# data_source_status row; again, the same rows and a second job_run.
ci_full_run() {
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_success
	[[ $stderr == *"enrollment: 251 rows loaded"* ]]
	run ci_counts
	assert_output '{"term":2,"course":1,"course_section":1,"u":250,"enrollment":251}'
	run ci_q "SELECT canvas_id, sis_id, name, account_id, term_id,
		workflow_state, total_students FROM course"
	assert_output '{"canvas_id":201,"sis_id":"BIO101-F24","name":"Biology, Intro","account_id":1,"term_id":5,"workflow_state":"available","total_students":250}'
	run ci_q "SELECT count(*) AS n FROM course WHERE
		created_at = '2024-05-01 12:00:00'"
	assert_output '{"n":1}'
	# Published: the audit log's newest "published" event (republished).
	run ci_q "SELECT count(*) AS n FROM course WHERE
		published_at = '2024-08-20 13:00:00'"
	assert_output '{"n":1}'
	run ci_q "SELECT canvas_id, course_id, name, sis_id FROM course_section"
	assert_output '{"canvas_id":9201,"course_id":201,"name":"BIO101-F24-01","sis_id":"BIO101-F24-01"}'
	# The configured terms, with their names, SIS ids and UTC dates.
	run ci_q "SELECT canvas_id, name, sis_id FROM term ORDER BY canvas_id"
	assert_output '{"canvas_id":5,"name":"Fall 2024","sis_id":"2410"}
{"canvas_id":6,"name":"Spring 2025","sis_id":"2420"}'
	run ci_q "SELECT count(*) AS n FROM term WHERE canvas_id = 5 AND
		start_at = '2024-08-26 04:00:00' AND end_at = '2024-12-20 05:00:00'"
	assert_output '{"n":1}'
	# The teacher who is a student too: two enrollments, one user.
	run ci_q "SELECT e.canvas_id, e.role_type, e.role, e.workflow_state,
		u.sis_id, u.login_id FROM enrollment e JOIN $inv_sql_user u ON
		u.canvas_id = e.user_id WHERE e.user_id = 1011 ORDER BY e.canvas_id"
	assert_output '{"canvas_id":49999,"role_type":"TeacherEnrollment","role":"teacher","workflow_state":"active","sis_id":"S00011","login_id":"s011"}
{"canvas_id":50011,"role_type":"StudentEnrollment","role":"student","workflow_state":"active","sis_id":"S00011","login_id":"s011"}'
	# Last activity: the enrollment's own, the latest for a user and a
	# course; null where Canvas gave none.
	run ci_q "SELECT canvas_id FROM enrollment WHERE last_activity_at =
		'2024-09-11 10:00:00'"
	assert_output '{"canvas_id":49999}'
	run ci_q "SELECT count(*) AS n FROM enrollment WHERE last_activity_at
		IS NOT NULL"
	assert_output '{"n":3}'
	run ci_q "SELECT count(*) AS n FROM $inv_sql_user WHERE canvas_id = 1011
		AND last_activity_at = '2024-09-11 10:00:00'"
	assert_output '{"n":1}'
	run ci_q "SELECT count(*) AS n FROM course WHERE canvas_id = 201 AND
		last_activity_at = '2024-09-12 08:30:00'"
	assert_output '{"n":1}'
	# A user without an SIS id is inventoried too.
	run ci_q "SELECT canvas_id, sis_id FROM $inv_sql_user WHERE canvas_id = 1250"
	assert_output '{"canvas_id":1250,"sis_id":null}'
	run ci_q "SELECT id, job_name, status FROM job_run"
	assert_output '{"id":1,"job_name":"canvas-inventory","status":"successful"}'
	run ci_q "SELECT data_source_name, job_run_id, CASE WHEN
		data_updated_at IS NULL THEN 1 ELSE 0 END AS never FROM data_source_status"
	assert_output '{"data_source_name":"CANVAS_API","job_run_id":1,"never":0}'
	run ci_q "SELECT min(version) AS first, max(version) AS last
		FROM schema_version"
	assert_output "{\"first\":1,\"last\":$(ls "$ROOT/share/course-inventory/migrations/sqlite" | sed -n '$s/_.*//p' | sed 's/^0*//')}"
	"$INV" -q -c "$T/inv.env"
	run ci_counts
	assert_output '{"term":2,"course":1,"course_section":1,"u":250,"enrollment":251}'
	run ci_q "SELECT id, status FROM job_run ORDER BY id"
	assert_output '{"id":1,"status":"successful"}
{"id":2,"status":"successful"}'
}

# A Canvas outage (nothing listens; a refused token): every table stays
# as it was; a failed job_run, and a status row that keeps the time of
# the data the tables still hold.
ci_outage() {
	"$INV" -q -c "$T/inv.env"
	run ci_counts
	local before=$output
	run ci_q "SELECT data_updated_at AS t FROM data_source_status"
	local good=$output
	run --separate-stderr env CANVAS_URL="http://127.0.0.1:$(free_port)" \
		"$INV" -c "$T/inv.env"
	assert_failure 75
	[[ $stderr == *"step 'fetch-courses' failed with exit status 75"* ]]
	run ci_counts
	assert_output "$before"
	printf 'wrong-token-1234\n' >"$T/bad-token"
	chmod 600 "$T/bad-token"
	sed -i "s|^CANVAS_TOKEN_FILE=.*|CANVAS_TOKEN_FILE=$T/bad-token|" "$T/inv.env"
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_failure 77
	[[ $stderr == *"step 'fetch-courses' failed with exit status 77"* ]]
	[[ $stderr != *wrong-token* ]]
	run ci_counts
	assert_output "$before"
	run ci_q "SELECT id, status FROM job_run ORDER BY id"
	assert_output '{"id":1,"status":"successful"}
{"id":2,"status":"failed"}
{"id":3,"status":"failed"}'
	run ci_q "SELECT job_run_id, data_updated_at AS t FROM data_source_status
		ORDER BY id"
	assert_output "$(jq -c '{job_run_id: 1} + .' <<<"$good")
$(jq -c '{job_run_id: 2} + .' <<<"$good")
$(jq -c '{job_run_id: 3} + .' <<<"$good")"
	grep -q 'recording the failed run in job_run' "$T/inv-work/last/run.log"
}

# The Kaltura test server for the mivideo job, on a copy of the fixture
# that a test may change (read again on /_reset).
KSECRET=kaltura-inventory-secret-2b9
ci_start_kaltura() {
	local d=$BATS_FILE_TMPDIR
	cp "$FIX/kaltura/media.json" "$d/media.json"
	lms_server kaltura KPORT "$KSECRET" "$d/media.json" --partner-id 1234567
	printf '%s\n' "$KSECRET" >"$d/ksecret"
	chmod 600 "$d/ksecret"
}

ci_stop_kaltura() {
	lms_server_stop kaltura
}

ci_kreset() {
	curl -sf "http://127.0.0.1:$KPORT/_reset" >/dev/null
}

ci_mivideo_conf() {
	cp "$FIX/kaltura/media.json" "$BATS_FILE_TMPDIR/media.json"
	ci_kreset
	printf '%s\n' 'INVENTORY_JOBS="course_inventory mivideo"' \
		"KALTURA_URL=http://127.0.0.1:$KPORT" KALTURA_PARTNER_ID=1234567 \
		"KALTURA_SECRET_FILE=$BATS_FILE_TMPDIR/ksecret" KALTURA_RETRIES=0 \
		>>"$T/inv.env"
}

ci_mcounts() {
	ci_q "SELECT (SELECT count(*) FROM mivideo_media_created) AS media,
		(SELECT count(*) FROM mivideo_media_courses) AS courses"
}

# The mivideo job: typed rows and its own job_run; a second run loads
# only what is new (an entry of the bookmark's own second too, none
# twice); a third, nothing; a refused Kaltura session and a Canvas
# outage leave every table as it was and record failed runs.
ci_mivideo() {
	ci_mivideo_conf
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_success
	[[ $stderr == *"mivideo_media_created: 3 new rows loaded"* ]]
	run ci_q "SELECT id, name, duration FROM mivideo_media_created ORDER BY id"
	assert_output '{"id":"1_aaaa0001","name":"Lecture 1","duration":3120}
{"id":"1_aaaa0002","name":"Lab \"intro\"","duration":95}
{"id":"1_aaaa0004","name":"Office hours","duration":1800}'
	run ci_q "SELECT count(*) AS n FROM mivideo_media_created WHERE
		created_at = '2020-03-02 00:00:00'"
	assert_output '{"n":2}'
	# Canvas course ids of the Canvas_UMich>site>channels>ID categories;
	# "Shared Repository" is no course.
	run ci_q "SELECT media_id, course_id, CASE WHEN in_context THEN 1
		ELSE 0 END AS in_context FROM mivideo_media_courses
		ORDER BY media_id, course_id, in_context"
	assert_output '{"media_id":"1_aaaa0001","course_id":123456,"in_context":0}
{"media_id":"1_aaaa0001","course_id":123456,"in_context":1}
{"media_id":"1_aaaa0002","course_id":123456,"in_context":1}
{"media_id":"1_aaaa0004","course_id":654321,"in_context":1}'
	run ci_q "SELECT j.id, j.job_name, j.status, d.data_source_name FROM
		job_run j JOIN data_source_status d ON d.job_run_id = j.id ORDER BY j.id"
	assert_output '{"id":1,"job_name":"canvas-inventory","status":"successful","data_source_name":"CANVAS_API"}
{"id":2,"job_name":"mivideo","status":"successful","data_source_name":"KALTURA_API"}'
	# The first run started at MIVIDEO_DEFAULT_LAST_TIMESTAMP.
	run curl -sf "http://127.0.0.1:$KPORT/_stats"
	[ "$(jq -c .windows <<<"$output")" = "[1583020800]" ]

	# New in Kaltura: one entry at the last second already loaded, one
	# later.
	jq '. + [{"id": "1_aaaa0005", "name": "Same second", "createdAt": 1583107200,
		"duration": 60, "categories": "Canvas_UMich>site>channels>777>InContext"},
		{"id": "1_aaaa0006", "name": "Later", "createdAt": 1590000000,
		"duration": 7, "categories": "Canvas_UMich>site>channels>778"}]' \
		"$FIX/kaltura/media.json" >"$BATS_FILE_TMPDIR/media.json"
	ci_kreset
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_success
	[[ $stderr == *"mivideo_media_created: 2 new rows loaded"* ]]
	run ci_mcounts
	assert_output '{"media":5,"courses":6}'
	# It asked from the last created_at in the table, not from the start.
	run curl -sf "http://127.0.0.1:$KPORT/_stats"
	[ "$(jq -c .windows <<<"$output")" = "[1583107200]" ]
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_success
	[[ $stderr == *"mivideo_media_created: 0 new rows loaded"* ]]
	run ci_mcounts
	assert_output '{"media":5,"courses":6}'
	run ci_q "SELECT data_updated_at AS t FROM data_source_status WHERE
		job_run_id = 6"
	local good=$output

	# Kaltura refuses the session: nothing changes, a failed mivideo run
	# whose status row keeps the time of the data the tables hold.
	printf 'not-the-kaltura-secret\n' >"$T/bad-ksecret"
	chmod 600 "$T/bad-ksecret"
	sed -i "s|^KALTURA_SECRET_FILE=.*|KALTURA_SECRET_FILE=$T/bad-ksecret|" "$T/inv.env"
	run --separate-stderr "$INV" -c "$T/inv.env"
	assert_failure 77
	[[ $stderr == *"step 'fetch-mivideo' failed with exit status 77"* ]]
	[[ $stderr != *not-the-kaltura-secret* ]]
	run ci_mcounts
	assert_output '{"media":5,"courses":6}'
	run ci_q "SELECT id, job_name, status FROM job_run WHERE id >= 7 ORDER BY id"
	assert_output '{"id":7,"job_name":"canvas-inventory","status":"successful"}
{"id":8,"job_name":"mivideo","status":"failed"}'
	run ci_q "SELECT data_source_name AS s, data_updated_at AS t FROM
		data_source_status WHERE job_run_id = 8"
	assert_output "$(jq -c '{s: "KALTURA_API"} + .' <<<"$good")"

	# A Canvas outage ends the run before mivideo: every table as it was.
	run ci_counts
	local before=$output
	run --separate-stderr env CANVAS_URL="http://127.0.0.1:$(free_port)" \
		"$INV" -c "$T/inv.env"
	assert_failure 75
	run ci_counts
	assert_output "$before"
	run ci_mcounts
	assert_output '{"media":5,"courses":6}'
	run ci_q "SELECT id, job_name, status FROM job_run WHERE id >= 9"
	assert_output '{"id":9,"job_name":"canvas-inventory","status":"failed"}'
}
