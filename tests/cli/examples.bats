#!/usr/bin/env bats
# Every EXAMPLES section of man/*.1 and man/*.7, run as the page shows it
# (issue 17: "every EXAMPLES section runs verbatim in a test against the
# test servers").
#
# A page is rendered (mandoc -Tutf8 | col -bx) and its EXAMPLES section
# cut into displays (indented blocks) and the prose between them.  Each
# display is one of:
#   a file      the prose before it ends in "NAME:" (enroll-diff's
#               "Given desired.csv:"): written to NAME for every later
#               display of the page;
#   output      it follows a command display with no prose between: what
#               that display's last command prints;
#   commands    lines starting "$ " are commands (continued after a line
#               ending in \ | && or ||), the lines after one its output;
#               a display with no "$ " and a command as its first word is
#               one script;
#   skipped     named in SKIP below, with the reason; any other display
#               fails the test, so a new example cannot go untested.
# Each command display runs in a fresh directory holding the page's files
# so far, `share` (a link to the checkout's), and what prep_PAGE makes
# for it, with HOME there, the test servers reset, and MOODLE_URL,
# MOODLE_TOKEN, CANVAS_URL, CANVAS_TOKEN, SIS_DB (the demo SIS in SQLite)
# and DW_DB (a PostgreSQL database) set; sftp-put's page also has the
# test sshd, its key and known_hosts in ~/.ssh, and CONDUIT_SFTP.
# Every command must succeed but one followed by `echo $?`.  Shown
# output is compared with what the command printed (stdout and stderr,
# as a terminal shows them) with all white space left out (pages wrap
# long lines) and "..." matching anything; in what was printed the test
# servers' URLs are replaced by the pages' site names
# (https://moodle.example.edu, https://canvas.example.edu).

bats_require_minimum_version 1.5.0
load helper

MTOKEN=moodle-examples-token-4c2a
CTOKEN=canvas-examples-token-9e1d

# Displays that cannot run here, by page and the start of their first
# line, with the reason.  Keep it short.
SKIP=(
	# A sample result record, not a command; lms-push.bats checks the
	# records.
	'lms-push|{"op":"add","course":"MATH101","user":"eve"'
	# A provider's SFTP server: the host keys and fingerprints shown are
	# that server's, and the password a placeholder (SFTP_PASSWORD=...).
	# sftp-put.bats runs both against the test sshd.
	'sftp-put|$ sftp-put --print-host-key sftp://sftp.example.edu'
	'sftp-put|$ SFTP_PASSWORD=... sftp-put sections.csv'
	# A crontab line (cron runs it); replicate-hourly's own runs are in
	# pipeline-replicate-hourly.bats.
	'edpipe-replicate-hourly|0 4,6,8,12,14,16,18,20 * * 1-5'
)

setup_file() {
	need python3 jq curl mandoc col sqlite3 openssl
	local d=$BATS_FILE_TMPDIR
	"$ROOT/share/demo-sis/make-demo-sis" "$d/sis.db" >/dev/null
	# The Moodle site of the demo's recorded roster (as headline.bats).
	demo_moodle_site "$d/site.json"
	lms_server moodle MPORT "$MTOKEN" "$d/site.json"
	lms_server canvas CPORT "$CTOKEN" "$FIX/lms-fetch/canvas"
}

teardown_file() {
	lms_server_stop moodle canvas
	[ ! -f "$BATS_FILE_TMPDIR/sshd/sshd.pid" ] ||
		"$ROOT/tests/servers/sshd.sh" stop "$BATS_FILE_TMPDIR/sshd" >/dev/null 2>&1 || true
	[ ! -d "$BATS_FILE_TMPDIR/pg" ] ||
		# pg_start (db-load's test) put it there.
		"$ROOT/tests/servers/pg.sh" stop "$BATS_FILE_TMPDIR/pg" >/dev/null 2>&1 || true
}

setup() {
	export MOODLE_URL=http://127.0.0.1:$MPORT MOODLE_TOKEN=$MTOKEN
	export CANVAS_URL=http://127.0.0.1:$CPORT CANVAS_TOKEN=$CTOKEN
	export SIS_DB=sqlite:$BATS_FILE_TMPDIR/sis.db
}

# examples PAGE: the EXAMPLES section of man/PAGE as rendered, cut into
# numbered items on stdout: "P text" (a paragraph of prose, one line) and
# "D N" followed by the display's lines, each "| line", indent removed.
examples() {
	mandoc -Tutf8 -O width=400 "$1" | col -bx |
		awk '/^EXAMPLES$/ { e = 1; next }
			e && /^[^ ]/ { exit }
			!e { next }
			/^$/ { if (d) d = 0; else if (p != "") print "P " p; p = ""; next }
			/^          / { if (!d) { if (p != "") print "P " p; p = "";
					print "D " ++n; d = 1 }
				sub(/^           ?/, ""); print "| " $0; next }
			{ sub(/^ +/, ""); p = p == "" ? $0 : p " " $0 }
			END { if (p != "") print "P " p }'
}

skipped() {
	local page=$1 first=$2 s
	for s in "${SKIP[@]}"; do
		[ "${s%%|*}" = "$page" ] || continue
		[[ $first == "${s#*|}"* ]] && return 0
	done
	return 1
}

# squeeze: stdin without white space.
squeeze() {
	tr -d ' \t\n\r'
}

# matches EXPECTED ACTUAL: both squeezed; "..." in EXPECTED matches any text.
matches() {
	local want got pat='' rest
	# shellcheck disable=SC2034 # got is read by the eval below
	want=$(squeeze <<<"$1") got=$(squeeze <<<"$2")
	rest=$want
	while [[ $rest == *...* ]]; do
		pat+=$(printf '%q' "${rest%%...*}")'*'
		rest=${rest#*...}
	done
	pat+=$(printf '%q' "$rest")
	# shellcheck disable=SC2053 # a pattern on purpose
	eval "[[ \$got == $pat ]]"
}

# build_script DISPLAY_FILE DIR: DIR/run.sh and DIR/want.N (the shown
# output of command N); prints the number of commands.
build_script() {
	local f=$1 dir=$2 n=0 line cont=false dollar=false
	grep -q '^\$ ' "$f" && dollar=true
	# A pipeline's status: its first failing stage's, where a stage
	# that a later one stopped reading (SIGPIPE, 141: "| head") is not
	# failing.
	cat >"$dir/run.sh" <<-'SH'
	__status() {
		local s=0 i n=$#
		for ((i = 1; i <= n; i++)); do
			[ "${!i}" = 0 ] || { [ "${!i}" = 141 ] && [ "$i" -lt "$n" ]; } ||
				{ s=${!i}; break; }
		done
		return "$s"
	}
	SH
	if ! $dollar; then
		{ echo '(set -e -o pipefail'; cat "$f"; echo ') >.out.1 2>&1; echo $? >.st.1'; } >>"$dir/run.sh"
		: >"$dir/want.1"
		echo 1
		return
	fi
	while IFS= read -r line; do
		if $cont; then
			echo "$line" >>"$dir/run.sh"
		elif [[ $line == '$ '* ]]; then
			[ "$n" -eq 0 ] || echo "__status \"\${PIPESTATUS[@]}\"; } >.out.$n 2>&1; echo \$? >.st.$n; (exit \"\$(cat .st.$n)\")" >>"$dir/run.sh"
			n=$((n + 1))
			: >"$dir/want.$n"
			{ echo '{'; echo "${line#\$ }"; } >>"$dir/run.sh"
		else
			echo "$line" >>"$dir/want.$n"
			continue
		fi
		[[ $line =~ (\\|\||\&\&)$ ]] && cont=true || cont=false
	done <"$f"
	echo "__status \"\${PIPESTATUS[@]}\"; } >.out.$n 2>&1; echo \$? >.st.$n" >>"$dir/run.sh"
	echo "$n"
}

# run_page PAGE: run every example of man/PAGE.*; prints what failed.
run_page() {
	local page=$1 man w item n=0 kind last_cmd='' prose='' nc i fail=0
	man=$(ls "${MANDIR:-$ROOT/man}/$page".[17])
	w=$BATS_TEST_TMPDIR/$page
	rm -rf "$w"
	mkdir -p "$w/files"
	examples "$man" >"$w/items"
	while IFS= read -r item; do
		case $item in
		'P '*) prose=${item#P }; last_cmd=''; continue ;;
		'D '*) n=${item#D }; : >"$w/d$n"; kind=$n ;;
		'| '*) echo "${item#| }" >>"$w/d$kind" ;;
		esac
		[[ $item == 'D '* ]] || continue
		echo "$prose" >"$w/prose$n"
		prose=''
	done <"$w/items"
	for ((i = 1; i <= n; i++)); do
		local d=$w/d$i first before
		first=$(head -n 1 "$d") before=$(cat "$w/prose$i")
		if [[ $before =~ ([A-Za-z0-9_.-]+\.[a-z]+):$ ]]; then
			cp "$d" "$w/files/${BASH_REMATCH[1]}"
			last_cmd=''
			continue
		fi
		if [ -z "$before" ] && [ -n "$last_cmd" ]; then
			# The output of the previous display's last command.
			if ! matches "$(cat "$d")" "$(cat "$last_cmd")"; then
				echo "$page: display $i: the output shown is not what '$first' printed:"
				sed 's/^/    got: /' "$last_cmd"
				fail=1
			fi
			last_cmd=''
			continue
		fi
		if skipped "$page" "$first"; then
			echo "# $page: display $i skipped: $first" >&3
			last_cmd=''
			continue
		fi
		local word=${first#\$ }
		word=${word%% *}
		if [[ $first != '$ '* ]] && ! command -v "$word" >/dev/null &&
			[ ! -x "$ROOT/$word" ]; then
			echo "$page: display $i is neither a command, a file nor output: '$first'"
			fail=1
			continue
		fi
		local dir=$w/run$i
		mkdir -p "$dir"
		cp -r "$w/files/." "$dir/"
		ln -s "$ROOT/share" "$dir/share"
		curl -fsS "$MOODLE_URL/_reset" >/dev/null
		curl -fsS "$CANVAS_URL/_reset" >/dev/null
		if declare -F "prep_${page//-/_}" >/dev/null; then
			(cd "$dir" && "prep_${page//-/_}" "$first") ||
				{ echo "$page: display $i: its preparation failed"; fail=1; continue; }
		fi
		nc=$(build_script "$d" "$dir")
		(cd "$dir" && HOME=$dir bash run.sh)
		local c st next
		for ((c = 1; c <= nc; c++)); do
			st=$(cat "$dir/.st.$c" 2>/dev/null || echo missing)
			sed -i -e "s|$MOODLE_URL|https://moodle.example.edu|g" \
				-e "s|$CANVAS_URL|https://canvas.example.edu|g" "$dir/.out.$c"
			next=$(sed -n "$((c + 1))p" <(grep '^\$ ' "$d"))
			if [ "$st" != 0 ] && [ "$next" != '$ echo $?' ]; then
				echo "$page: display $i: command $c exited $st:"
				sed 's/^/    /' "$dir/.out.$c"
				fail=1
			elif [ -s "$dir/want.$c" ] &&
				! matches "$(cat "$dir/want.$c")" "$(cat "$dir/.out.$c")"; then
				echo "$page: display $i: command $c printed:"
				sed 's/^/    got: /' "$dir/.out.$c"
				echo "  where the page shows:"
				sed 's/^/    want: /' "$dir/want.$c"
				fail=1
			fi
		done
		last_cmd=$dir/.out.$nc
	done
	[ "$n" -gt 0 ] || { echo "$page: no EXAMPLES display found"; fail=1; }
	return "$fail"
}

# prep_PAGE FIRST_LINE: in a display's directory, make the files its
# commands name that the page does not show.

# desired_actual: the nightly sync's inputs, as headline.bats makes them.
desired_actual() {
	sis-extract --db "$SIS_DB" \
		--query share/queries/powercampus-enrollments.sql \
		--param year=2021 --param term=WINTER \
		--mapping share/demo/moodle-map.json -t csv >desired.csv &&
		lms-fetch moodle enrollments --mapping share/demo/moodle-map.json \
			>actual.ndjson
}

prep_enroll_diff() {
	case $1 in
	'enroll-diff --roles student desired.csv'*) desired_actual ;;
	'$ enroll-diff --refused'*)
		# 400 enrollments that stay, and BIOL-200's 40 that vanished
		# from the extract (9% of ACTUAL: only the course limit fires).
		local c u
		{
			echo course,user,role
			for c in $(seq 101 110); do for u in $(seq 40); do
				echo "MATH-$c,u$u,student"; done; done
		} >desired.csv
		{
			tail -n +2 desired.csv
			for u in $(seq 40); do echo "BIOL-200,u$u,student"; done
		} | jq -Rc 'split(",") | {course: .[0], user: .[1], role: .[2]}' \
			>actual.ndjson ;;
	esac
}

prep_conduit_fmt() {
	# shellcheck disable=SC2016 # the pages' text, not expansions
	case $1 in
	'$ enroll-diff desired.ndjson actual.ndjson |'*)
		# SIS roles on both sides; the role map names the LMS's.
		printf '%s\n' '{"course":"BIO101-01","user":"P0001","role":"STU"}' \
			'{"course":"BIO101-01","user":"P0002","role":"STU"}' >desired.ndjson
		printf '%s\n' '{"course":"BIO101-01","user":"P0002","role":"STU"}' \
			'{"course":"BIO101-01","user":"P0003","role":"AUD"}' >actual.ndjson
		echo '{"STU": "student", "AUD": "auditingstudent"}' >roles.json
		mkdir log ;;
	'$ sis-extract --db "$SIS_DB" --query sections.sql |'*)
		# The school's query, here over literal rows.
		cp "$FIX/conduit-fmt/subjects.json" .
		cat >sections.sql <<-'SQL'
		SELECT '5' AS school, '1001' AS section, 'T1' AS teacher,
		  'Algebra' AS course_name, 'MA100' AS course_number,
		  '1' AS section_number, '3(A)' AS period, 'Mat' AS subject,
		  '1012' AS grade, '2024-08-15' AS term_start,
		  '2025-05-30' AS term_end, 'Year 24-25' AS term_name
		UNION ALL SELECT '5', '1001', 'T2', 'Algebra', 'MA100', '1', '3(A)',
		  'Mat', '1012', '2024-08-15', '2025-05-30', 'Year 24-25'
		UNION ALL SELECT '3', '2002', 'T9', 'Biology', 'SC200', '1', '2',
		  'Sci', '1012', '2024-08-15', '2025-05-30', 'Year 24-25';
		SQL
		;;
	esac
}

prep_sis_extract() {
	mkdir -p data
	cp "$ROOT/share/demo/moodle-map.json" data/
}

prep_lms_fetch() {
	prep_sis_extract
}

prep_yaml_json() {
	cp "$FIX/replicate/tablelist-demo.yaml" tablelist.yaml
}

prep_rec_hash() {
	cat >roster.sql <<-'SQL'
	SELECT p.PEOPLE_ID AS user, p.FIRST_NAME AS first_name,
	  p.LAST_NAME AS last_name, e.Email AS email
	FROM PEOPLE p LEFT JOIN EmailAddress e
	  ON e.PeopleOrgCodeId = p.PEOPLE_CODE_ID AND e.IsActive = 1
	ORDER BY p.PEOPLE_ID;
	SQL
}

prep_db_load() {
	# shellcheck disable=SC2016 # the pages' text, not expansions
	case $1 in
	'sis-extract --db "$SIS_DB" --query courses.sql |'*)
		cat >courses.sql <<-'SQL'
		SELECT EVENT_ID || SECTION AS course, EVENT_LONG_NAME AS name,
		  ACADEMIC_YEAR AS year, ACADEMIC_TERM AS term, CREDITS AS credits
		FROM SECTIONS ORDER BY 1;
		SQL
		"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -U etl -q \
			-c 'CREATE SCHEMA IF NOT EXISTS staging' \
			-c 'DROP TABLE IF EXISTS staging.courses' \
			-c 'CREATE TABLE staging.courses (course text PRIMARY KEY,
				name text, year text, term text, credits numeric)' ;;
	'$ db-load --db sqlite:inv.db --table users users.ndjson'*)
		sqlite3 inv.db 'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)'
		echo '{"id":1001,"name":"Student 001","avatar":"https://canvas.example.edu/images/a.png"}' >users.ndjson ;;
	esac
}

prep_lms_push() {
	case $1 in
	'lms-fetch moodle enrollments --mapping map.json'*)
		# The SIS drops the site's first enrollment and adds its user
		# to the course of the last one.
		cp "$ROOT/share/demo/moodle-map.json" map.json
		lms-fetch moodle enrollments --mapping map.json >site.ndjson
		jq -sc '(.[0] | {course, user}) as $f | .[-1] as $l
			| .[1:] + [{course: $l.course, user: $f.user,
			role: "student"}] | .[]' site.ndjson >desired.ndjson
		rm site.ndjson ;;
	'lms-push canvas --sis-import'*)
		printf '%s\n' '{"op":"add","course":"BIO101-F24","user":"S00002","role":"student"}' \
			'{"op":"drop","course":"BIO101-F24","user":"S00001","role":"student"}' \
			>changes.ndjson ;;
	esac
}

prep_sftp_put() {
	case $1 in
	'$ enroll-diff desired.ndjson actual.ndjson | conduit-fmt'*)
		# HOME is here: the user's key and the server's known key.
		mkdir -p .ssh "$SFTP_ROOT/incoming"
		cp "$S/id_ed25519" .ssh/conduit_ed25519
		chmod 600 .ssh/conduit_ed25519
		cp "$S/known_hosts" .ssh/known_hosts
		printf '%s\n' '{"course":"MATH101","user":"u1","role":"student"}' \
			'{"course":"MATH101","user":"u2","role":"student"}' >desired.ndjson
		printf '%s\n' '{"course":"MATH101","user":"u2","role":"student"}' \
			'{"course":"MATH101","user":"u3","role":"student"}' >actual.ndjson ;;
	*) printf 'course,user\nMATH101,u1\n' >roster.csv ;;
	esac
}

# Pages with an EXAMPLES section: each has a test below (checked).
pages_with_examples() {
	grep -l '^\.Sh EXAMPLES' "$ROOT"/man/*.[17] | xargs -n 1 basename |
		sed 's/\.[17]$//' | sort
}

@test "every page with EXAMPLES has a test here" {
	local p
	for p in $(pages_with_examples); do
		grep -q "^@test \"$p(" "$BATS_TEST_FILENAME" ||
			{ echo "man/$p has EXAMPLES but no test in examples.bats"; false; }
	done
}

@test "enroll-diff(1) EXAMPLES" {
	run run_page enroll-diff
	assert_success
}

@test "conduit-fmt(1) EXAMPLES" {
	run run_page conduit-fmt
	assert_success
}

@test "db-load(1) EXAMPLES" {
	load dbservers
	pg_start >/dev/null
	export DW_DB="postgres://etl@127.0.0.1:$PGPORT_T/sis" SIS_PASSWORD=s3cret-pw
	run run_page db-load
	assert_success
	# The first example loaded the SIS's sections and wrote its status row.
	[ "$("$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -U etl -tAc \
		'SELECT count(*) FROM staging.courses')" -gt 10 ]
	[ "$("$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" -d sis -U etl -tAc \
		"SELECT count(*) FROM etl_status WHERE job = 'courses'")" -eq 1 ]
}

@test "edpipe-runs(1) EXAMPLES" {
	need flock
	# Two runs of the demo's sync, and the scripts on PATH under their
	# installed names (as make install puts them).
	local d=$BATS_TEST_TMPDIR/demo s
	"$ROOT/scripts/demo" "$d" >/dev/null
	"$ROOT/scripts/demo" "$d" >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/path"
	for s in runs sync-enrollments; do
		printf '#!/bin/sh\nexec "%s" "$@"\n' "$ROOT/scripts/$s" \
			>"$BATS_TEST_TMPDIR/path/edpipe-$s"
		chmod +x "$BATS_TEST_TMPDIR/path/edpipe-$s"
	done
	PATH=$BATS_TEST_TMPDIR/path:$PATH
	export EDPIPE_CONF=$d/demo.env EDPIPE_WORK_DIR=$d/work
	run run_page edpipe-runs
	assert_success
}

@test "edpipe-audit(1) EXAMPLES" {
	need flock sqlite3
	# A run of the demo's sync, which drops 000010147 from
	# ANAT5470Winter2021, and edpipe-audit on PATH as installed.
	local d=$BATS_TEST_TMPDIR/demo
	"$ROOT/scripts/demo" "$d" >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/path"
	printf '#!/bin/sh\nexec "%s" "$@"\n' "$ROOT/scripts/audit" \
		>"$BATS_TEST_TMPDIR/path/edpipe-audit"
	chmod +x "$BATS_TEST_TMPDIR/path/edpipe-audit"
	PATH=$BATS_TEST_TMPDIR/path:$PATH
	export EDPIPE_CONF=$d/demo.env EDPIPE_WORK_DIR=$d/work
	run run_page edpipe-audit
	assert_success
	[ -s "$d/work/audit.db" ]
}

@test "edpipe-replicate-hourly(1) EXAMPLES" {
	run run_page edpipe-replicate-hourly
	assert_success
}

@test "yaml-json(1) EXAMPLES" {
	run run_page yaml-json
	assert_success
}

@test "lms-fetch(1) EXAMPLES" {
	run run_page lms-fetch
	assert_success
}

@test "lms-push(1) EXAMPLES" {
	run run_page lms-push
	assert_success
}

@test "rec-hash(1) EXAMPLES" {
	run run_page rec-hash
	assert_success
}

@test "sftp-put(1) EXAMPLES" {
	need ssh-keygen
	[ -x "$(command -v sshd || echo /usr/sbin/sshd)" ] || need sshd
	# The test sshd (as sftp-put.bats starts it), its files in $S; the
	# "provider's" directory is one of this test's.
	export S=$BATS_FILE_TMPDIR/sshd SFTP_ROOT=$BATS_TEST_TMPDIR/provider
	"$ROOT/tests/servers/sshd.sh" start "$S" >/dev/null
	CONDUIT_SFTP="sftp://$(id -un)@127.0.0.1:$(cat "$S/port")$SFTP_ROOT"
	export CONDUIT_SFTP
	run run_page sftp-put
	"$ROOT/tests/servers/sshd.sh" stop "$S" >/dev/null 2>&1 || true
	assert_success
	diff -u <(printf '%s\n' action,shortname,idnumber,role \
		add,MATH101,u1,student drop,MATH101,u3,student) \
		"$SFTP_ROOT/incoming/enroll.csv"
	# HOME was the example's directory.
	cmp "$BATS_TEST_TMPDIR/sftp-put/run4/roster.csv" \
		"$BATS_TEST_TMPDIR/sftp-put/run4/drop/roster.csv"
}

@test "sis-extract(1) EXAMPLES" {
	run run_page sis-extract
	assert_success
}

@test "an example that is wrong fails: shown output, a failing command, an unknown display" {
	MANDIR=$BATS_TEST_TMPDIR/man
	mkdir -p "$MANDIR"
	sed 's/6a413b996da05751c97c8d98593e1646d871caa1/6a413b996da05751c97c8d98593e1646d871caa2/' \
		"$ROOT/man/rec-hash.1" >"$MANDIR/rec-hash.1"
	run run_page rec-hash
	assert_failure
	assert_line "rec-hash: display 3: command 1 printed:"
	assert_line "    want: RIPEMD-160(stdin)= 6a413b996da05751c97c8d98593e1646d871caa2"
	sed 's/--algo ripemd160 --field username/--algo ripemd161 --field username/' \
		"$ROOT/man/rec-hash.1" >"$MANDIR/rec-hash.1"
	run run_page rec-hash
	assert_failure
	assert_line "rec-hash: display 1: command 1 exited 2:"
	sed 's/^\$ printf .%s. .Zo.*/Zoe, hashed:/' \
		"$ROOT/man/rec-hash.1" >"$MANDIR/rec-hash.1"
	run run_page rec-hash
	assert_failure
	assert_line --partial "rec-hash: display 3 is neither a command, a file nor output"
}
