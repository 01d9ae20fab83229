#!/usr/bin/env bats
# report.html, the page every run leaves in its folder (ep_report in
# scripts/lib/pipeline.sh, share/report/report.jq): what it shows, that
# hostile course names stay text and secrets are masked, that it fetches
# nothing, and that a real browser (headless Chromium) renders it with no
# console error.  The runs are the demo's (scripts/demo: demo SIS in
# SQLite, a recorded Moodle roster, a file:// outbox), with courses added
# to the roster whose names are markup, quotes and a secret.

bats_require_minimum_version 1.5.0
load helper

SECRET=S3cretPassw0rd-report
SCRIPT_COURSE='<script>alert("x")</script>'
SCRIPT_ESC='&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
QUOTE_ESC='A&amp;B &quot;quoted&quot; &apos;x&apos;'
# As the browser serializes it (text: only & < > escaped).
SCRIPT_DOM='&lt;script&gt;alert("x")&lt;/script&gt;'

# Four runs: two of the demo; a spike (43 drops: the roster has courses
# the SIS does not, allowed by raised limits); the same refused by the
# default limits (exit 3).  Their stamps, oldest first, in stamps.
setup_file() {
	need python3 jq flock
	export D=$BATS_FILE_TMPDIR/demo
	export W=$D/work SYNC=$ROOT/scripts/sync-enrollments
	unset EDPIPE_CONF EDPIPE_NOTIFY EDPIPE_WORK_DIR
	"$ROOT/scripts/demo" "$D" >/dev/null
	"$SYNC" -q -c "$D/demo.env"
	local snap=$BATS_FILE_TMPDIR/snap.ndjson rc=0
	{
		cat "$ROOT/share/demo/moodle-enrollments.ndjson"
		jq -n -c --arg s "$SCRIPT_COURSE" --arg leak "leak-$SECRET" '
		def rec($c; $id; $i): {course: $c, course_id: $id,
			user: "9\($id)\($i)", user_id: ($id * 100 + $i),
			idnumber: "9\($id)\($i)", email: "x\($i)@example.edu",
			name: "Student \($i)", role: "student",
			username: "u\($id)\($i)"};
		(range(0; 30) as $i | rec($s; 9001; $i)),
		(range(0; 6) as $i | rec("A&B \"quoted\" '"'"'x'"'"'"; 9002; $i)),
		(range(0; 3) as $i | rec($leak; 9003; $i))'
	} >"$snap"
	SIS_PASSWORD=$SECRET MOODLE_SNAPSHOT=$snap SYNC_MAX_DROP=100% \
		SYNC_MAX_COURSE_DROP=100% "$SYNC" -q -c "$D/demo.env"
	SIS_PASSWORD=$SECRET MOODLE_SNAPSHOT=$snap \
		"$SYNC" -q -c "$D/demo.env" 2>/dev/null || rc=$?
	[ "$rc" -eq 3 ]
	ls "$W/runs" >"$BATS_FILE_TMPDIR/stamps"
	[ "$(grep -c . "$BATS_FILE_TMPDIR/stamps")" -eq 4 ]
}

setup() {
	mapfile -t stamps <"$BATS_FILE_TMPDIR/stamps"
	CHROME_DIR=$BATS_TEST_TMPDIR/chromium-profile
}

teardown() {
	stop_chrome
}

# part FILE ID: the <section id="ID"> of a report, one line a row.
part() {
	sed -n "/^<section id=\"$2\">/,/^<\/section>/p" "$1"
}

# chrome ARG...: headless Chromium on a private profile, console messages
# logged to stderr, stopped after 120 s.
chrome() {
	timeout -k 5 120 chromium --headless --no-sandbox --disable-gpu \
		--user-data-dir="$CHROME_DIR" --enable-logging=stderr --v=0 "$@"
}

# stop_chrome: whatever is left of the Chromium this test started (its
# processes name the private profile), by pid.
stop_chrome() {
	local p
	[ -n "${CHROME_DIR:-}" ] || return 0
	for p in /proc/[0-9]*; do
		grep -qsaF -- "$CHROME_DIR" "$p/cmdline" &&
			kill "${p#/proc/}" 2>/dev/null || true
	done
}

# console FILE: the page's console messages in Chromium's log (this
# version: `INFO:CONSOLE:1] "Uncaught ..."`; older: `CONSOLE(1)`).
console() {
	grep -E ':CONSOLE[:(]|Uncaught' "$1" || true
}

# png_size FILE: "WIDTH HEIGHT" of a PNG (its IHDR), or fail.
png_size() {
	local -a b
	[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		return 1
	read -r -a b < <(od -An -tu1 -j16 -N8 "$1" | tr -s ' \n' '  ')
	echo "$(( (b[0] << 24) + (b[1] << 16) + (b[2] << 8) + b[3] ))" \
		"$(( (b[4] << 24) + (b[5] << 16) + (b[6] << 8) + b[7] ))"
}

@test "report.html: every run writes one; status, summary, steps, changes per course largest first, chart" {
	local s r
	for s in "${stamps[@]}"; do
		[ -s "$W/runs/$s/report.html" ]
		[ "$(stat -c %a "$W/runs/$s/report.html")" = 600 ]
		[ ! -e "$W/runs/$s/report.html.tmp" ]
	done
	r=$W/runs/${stamps[2]}/report.html
	grep -qx '<header class="status s-ok"><h1>sync-enrollments: OK</h1><p>run '"${stamps[2]}"', exit status 0</p></header>' "$r"
	grep -q '<dt>changes</dt><dd>8 add, 43 drop, 0 update; 0 refused; 0 skipped course(s)</dd>' "$r"
	grep -q "<dt>version</dt><dd>edpipe $(jq -r .version "$W/runs/${stamps[2]}/status.json")</dd>" "$r"
	grep -q '<dt>sent</dt><dd>enrollments.csv, [0-9]* bytes, sha256 [0-9a-f]\{64\}, sent to file://' "$r"
	# The steps, as status.json has them.
	run part "$r" steps
	assert_line '<tr><td>sis-extract</td><td>ok</td><td>0</td><td>'"$(jq -r .steps[0].duration_s "$W/runs/${stamps[2]}/status.json")"'</td><td>–</td><td>183</td><td>desired.ndjson</td></tr>'
	[ "$(grep -c '^<tr><td>' <<<"$output")" -eq 5 ]
	# Changes per course, the largest first; ties: more drops, then name.
	run part "$r" changes
	assert_line '<p>51 change(s) in 11 course(s), sent.</p>'
	run grep '^<tr><td>' <<<"$output"
	assert_line --index 0 "<tr><td>$SCRIPT_ESC</td><td>0</td><td>30</td><td>0</td><td>30</td></tr>"
	assert_line --index 1 "<tr><td>$QUOTE_ESC</td><td>0</td><td>6</td><td>0</td><td>6</td></tr>"
	assert_line --index 2 '<tr><td>BSC5137Winter2021</td><td>2</td><td>2</td><td>0</td><td>4</td></tr>'
	assert_line --index 3 '<tr><td>leak-****</td><td>0</td><td>3</td><td>0</td><td>3</td></tr>'
	assert_line --index 4 '<tr><td>ANAT5470Winter2021</td><td>1</td><td>1</td><td>0</td><td>2</td></tr>'
	assert_line --index 5 '<tr><td>COUN5100-01Winter2021</td><td>0</td><td>1</td><td>0</td><td>1</td></tr>'
	assert_equal "${#lines[@]}" 11
	# The bar chart: one bar a course, the largest 30 drops full width.
	run part "$r" changes
	assert_output --partial "<g><title>$SCRIPT_ESC: 0 add, 30 drop, 0 update</title>"
	assert_output --partial '<rect class="drop" x="330" y="33" width="660" height="16"/>'
	[ "$(grep -o '<g><title>' <<<"$output" | wc -l)" -eq 11 ]
	# No refused set, no skipped course.
	[ -z "$(part "$r" refused)" ]
	part "$r" skipped | grep -q '<p>No course was skipped.</p>'
	# The trend: the three runs so far, this one on its band, the spike
	# the tallest drop bar.
	run part "$r" trend
	assert_output --partial "<g><title>${stamps[0]} ok: 8 add, 4 drop, 0 refused</title><rect class=\"add\""
	assert_output --partial "<g><title>${stamps[2]} ok: 8 add, 43 drop, 0 refused</title><rect class=\"this\""
	assert_output --partial '>3 run(s), '
	[ "$(grep -o 'class="this"' <<<"$output" | wc -l)" -eq 2 ] # legend, band
	# edpipe-runs show --html names it.
	run --separate-stderr "$ROOT/scripts/runs" show -w "$W" --html "${stamps[2]}"
	assert_success
	assert_output "$W/runs/${stamps[2]}/report.html"
	run --separate-stderr "$ROOT/scripts/runs" show --html -w "$W" last
	assert_output "$W/runs/${stamps[3]}/report.html"
	mv "$W/runs/${stamps[0]}/report.html" "$BATS_TEST_TMPDIR/"
	run --separate-stderr "$ROOT/scripts/runs" show --html -w "$W" "${stamps[0]}"
	mv "$BATS_TEST_TMPDIR/report.html" "$W/runs/${stamps[0]}/"
	assert_failure 66
	assert_equal "$stderr" "runs: run '${stamps[0]}' has no report.html"
	[ -z "$output" ]
}

@test "report.html: a refused run shows REFUSED, why, and the refused change set per course" {
	local r=$W/runs/${stamps[3]}/report.html
	grep -qx '<header class="status s-refused"><h1>sync-enrollments: REFUSED</h1><p>run '"${stamps[3]}"', exit status 3, step enroll-diff</p></header>' "$r"
	run part "$r" messages
	assert_line '<section id="messages"><h2>Messages of step enroll-diff</h2>'
	assert_output --partial 'enroll-diff: refusing 43 drops: more than --max-drop 10%'
	assert_output --partial "enroll-diff: summary: course &apos;$SCRIPT_ESC&apos;: 0 add, 30 drop, 0 update"
	run part "$r" changes
	assert_line '<p>0 change(s) in 0 course(s), not sent.</p>'
	run part "$r" refused
	assert_line '<p class="warn">The safety limit refused 51 change(s) in 11 course(s); nothing of them was sent.  Why: see the messages above.</p>'
	run grep '^<tr><td>' <<<"$output"
	assert_line --index 0 "<tr><td>$SCRIPT_ESC</td><td>0</td><td>30</td><td>0</td><td>30</td></tr>"
	assert_equal "${#lines[@]}" 11
	# The trend: four runs; the spike's 43 drops and the refused 51
	# are the longest bars, the demo runs' 4 drops a tenth of the spike.
	run part "$r" trend
	assert_output --partial "<g><title>${stamps[3]} refused: 0 add, 0 drop, 51 refused</title><rect class=\"this\""
	assert_output --partial '>4 run(s), '
	local d0 d2
	d0=$(grep -o "<title>${stamps[0]} [^<]*</title>.*" <<<"$output" |
		grep -o 'class="drop" [^/]*' | grep -o 'height="[0-9.]*"')
	d2=$(grep -o "<title>${stamps[2]} [^<]*</title>.*" <<<"$output" |
		grep -o 'class="drop" [^/]*' | grep -o 'height="[0-9.]*"')
	d0=${d0//[!0-9.]/} d2=${d2//[!0-9.]/}
	jq -n -e --argjson a "$d0" --argjson b "$d2" '$b > 10 * $a * 0.9 and $b < 10 * $a * 1.2'
}

@test "report.html: hostile course names stay text, secrets are masked, nothing can be fetched or run" {
	local s r
	for s in "${stamps[@]}"; do
		r=$W/runs/$s/report.html
		# The page fetches nothing and runs nothing ...
		run grep -Eio '<script|<link|<img|<iframe|<object|<embed|<base|src=|href=|url\(|@import|https?://|javascript:' "$r"
		assert_failure 1
		grep -q "^<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">$" "$r"
		# ... the secret the run was given is masked.
		run grep -c "$SECRET" "$r"
		assert_output 0
	done
	r=$W/runs/${stamps[2]}/report.html
	[ "$(grep -c "$SCRIPT_ESC" "$r")" -ge 2 ]
	grep -q "$QUOTE_ESC" "$r"
	grep -q 'leak-\*\*\*\*' "$r"
}

@test "report.html renders in headless Chromium: a PNG, the expected headings, no console message" {
	need chromium
	local s r shot dom err
	for s in "${stamps[2]}" "${stamps[3]}"; do
		r=$W/runs/$s/report.html
		shot=$BATS_TEST_TMPDIR/$s.png dom=$BATS_TEST_TMPDIR/$s.dom
		err=$BATS_TEST_TMPDIR/$s.err
		# One start of Chromium: the PNG, the DOM and the console log.
		chrome --screenshot="$shot" --window-size=1200,2000 \
			--dump-dom "file://$r" >"$dom" 2>"$err"
		run png_size "$shot"
		assert_output "1200 2000"
		[ "$(stat -c %s "$shot")" -gt 30000 ]
		run console "$err"
		assert_output ''
		# The headings and charts as the browser built them.
		run grep -o '<h[12]>[^<]*</h[12]>' "$dom"
		assert_line --index 1 '<h2>Summary</h2>'
		assert_line '<h2>Steps</h2>'
		assert_line '<h2>Changes per course</h2>'
		assert_line '<h2>Skipped courses</h2>'
		assert_line '<h2>Changes per run, last 30 days</h2>'
		# The <script> course is text in the DOM, never an element.
		grep -qF "$SCRIPT_DOM" "$dom"
		! grep -qi '<script' "$dom"
	done
	dom=$BATS_TEST_TMPDIR/${stamps[2]}.dom
	grep -q '<h1>sync-enrollments: OK</h1>' "$dom"
	! grep -q '<h2>Refused change set</h2>' "$dom"
	[ "$(grep -o '<svg' "$dom" | wc -l)" -eq 2 ]
	dom=$BATS_TEST_TMPDIR/${stamps[3]}.dom
	grep -q '<h1>sync-enrollments: REFUSED</h1>' "$dom"
	grep -q '<h2>Refused change set</h2>' "$dom"
	grep -q '<h2>Messages of step enroll-diff</h2>' "$dom"
	[ "$(grep -o '<svg' "$dom" | wc -l)" -eq 2 ]
}

@test "the Chromium console check catches a script error, and the page's policy blocks scripts and fetches" {
	need chromium
	local p=$BATS_TEST_TMPDIR/bad.html
	printf '<!DOCTYPE html><html><head><title>t</title></head><body><script>no_such_function();</script></body></html>\n' >"$p"
	chrome --dump-dom "file://$p" >/dev/null 2>"$BATS_TEST_TMPDIR/bad.err"
	run console "$BATS_TEST_TMPDIR/bad.err"
	assert_output --partial 'Uncaught ReferenceError: no_such_function is not defined'
	# The report's own head: an inline script and a remote image are
	# refused by its Content-Security-Policy (and logged, so the check
	# above would fail on them).
	{
		sed -n '1,/^<\/head>/p' "$W/runs/${stamps[0]}/report.html"
		printf '<body><script>document.title = "ran";</script>\n'
		printf '<img src="http://127.0.0.1:9/x.png"></body></html>\n'
	} >"$p"
	chrome --dump-dom "file://$p" >"$BATS_TEST_TMPDIR/bad.dom" 2>"$BATS_TEST_TMPDIR/bad.err"
	run console "$BATS_TEST_TMPDIR/bad.err"
	assert_output --partial 'Executing inline script violates the following Content Security Policy directive'
	assert_output --partial "Loading the image 'http://127.0.0.1:9/x.png' violates the following Content Security Policy directive"
	! grep -q '<title>ran</title>' "$BATS_TEST_TMPDIR/bad.dom"
}

@test "report.html of a killed run, and of a partial run with skipped courses and a cut-short file" {
	local before
	before=$(readlink "$W/last")
	mkfifo "$BATS_TEST_TMPDIR/snap.ndjson"
	# lms-fetch (a copy of the snapshot) waits on the FIFO for ever.
	MOODLE_SNAPSHOT=$BATS_TEST_TMPDIR/snap.ndjson \
		"$SYNC" -q -c "$D/demo.env" 2>/dev/null &
	local pid=$! i rc=0
	# Up to a minute: on a loaded machine sis-extract can be slow.
	for i in $(seq 1 600); do
		[ "$(readlink "$W/last")" = "$before" ] ||
			! grep -qs 'step lms-fetch' "$W/last/run.log" || break
		sleep 0.1
	done
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	assert_equal "$rc" 143
	grep -q '<h1>sync-enrollments: KILLED</h1><p>run [0-9TZ-]*, exit status 143, step lms-fetch, SIGTERM</p>' "$W/last/report.html"
	part "$W/last/report.html" steps | grep -q '^<tr><td>lms-fetch</td><td>killed</td><td>143</td>'
	# A partial run (lms-fetch could not read a course): its folder
	# made by hand, the report by ep_report as a script's exit runs it.
	local run=$BATS_TEST_TMPDIR/work/runs/20260101T000000Z
	mkdir -p "$run"
	jq -n '{script: "sync-enrollments", status: "partial", exit: 4,
		failed_step: null, started: "2026-01-01T00:00:00Z",
		ended: "2026-01-01T00:00:09Z", skipped_courses: ["GONE101"],
		duration_s: 9, version: "0.1.0", steps: [],
		counts: {add: 1, drop: 0, update: 0, refused: 0,
		skipped_courses: 1}, artefact: null}' >"$run/status.json"
	# Cut short (no newline at its end), as a killed step leaves a
	# file: jq -R would run it into the next file's first line.
	printf '%s' '{"course":"GONE101","course_id":777,"reason":"invalidrecord from https://moodle.example.edu/webservice/rest/server.php?wstoken=0123456789abcdef&wsfunction=core_enrol_get_enrolled_users"}' >"$run/skipped.ndjson"
	printf '%s\n' '{"stamp":"20251231T000000Z","script":"sync-enrollments","status":"ok","exit":0,"started":"2025-12-31T00:00:00Z","counts":{"add":5,"drop":2}}' >"${run%/runs/*}/history.ndjson"
	printf '%s\n%s' '{"op":"add","course":"X1","user":"u1","role":"student"}' \
		'{"op":"add","course":"X1","us' >"$run/changes.ndjson"
	run --separate-stderr env -u MOODLE_TOKEN -u SIS_PASSWORD \
		EDPIPE_SHARE="$ROOT/share" bash -c '
		PROG=sync-enrollments CONF_VARS=()
		. "$1/scripts/lib/pipeline.sh"
		RUN=$2 EDPIPE_WORK_DIR=${2%/runs/*} RUN_LOG=$2/run.log
		CHANGES=$2/changes.ndjson
		ep_report' _ "$ROOT" "$run"
	assert_success
	local r=$run/report.html
	grep -q '<header class="status s-partial"><h1>sync-enrollments: PARTIAL</h1>' "$r"
	run part "$r" skipped
	assert_line '<tr><td>GONE101</td><td>777</td><td>invalidrecord from https://moodle.example.edu/webservice/rest/server.php?wstoken=****&amp;wsfunction=core_enrol_get_enrolled_users</td></tr>'
	! grep -q 0123456789abcdef "$r"
	grep -q "<p class=\"warn\">1 line(s) of the run's files were not JSON" "$r"
	run part "$r" changes
	assert_line '<tr><td>X1</td><td>1</td><td>0</td><td>0</td><td>1</td></tr>'
	# The history's one run, the day before.
	run part "$r" trend
	assert_output --partial '<g><title>20251231T000000Z ok: 5 add, 2 drop, 0 refused</title>'
	assert_output --partial '>1 run(s), 2025-12-31T00:00:00Z to 2025-12-31T00:00:00Z</text>'
}
