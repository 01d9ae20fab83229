#!/usr/bin/env bats
# enroll-diff: the change set between DESIRED and ACTUAL enrollments.

bats_require_minimum_version 1.5.0
load helper

setup() {
	F=$FIX/enroll-diff
	T=$BATS_TEST_TMPDIR
}

# run enroll-diff with the drop limits out of the way (small fixtures
# would trip the per-course limit, some the default 10%)
ed() {
	run --separate-stderr enroll-diff --max-drop 100% --max-course-drop 100% "$@"
}

@test "common options: --help, --version, unknown option" {
	common_cli_checks enroll-diff
}

@test "--help synopsis matches the man page SYNOPSIS" {
	need mandoc
	run --separate-stderr enroll-diff --help
	assert_success
	help=$(sed -n '1,/^$/p' <<<"$output" | sed 's/^usage: //' | tr -s ' \n' '  ')
	man=$(mandoc -Tascii "$ROOT/man/enroll-diff.1" | col -b |
	    sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \n' '  ')
	[ -n "$help" ]
	[ "$(echo $help)" = "$(echo $man)" ]
}

@test "usage errors exit 2 with nothing on stdout" {
	run --separate-stderr enroll-diff "$F/basic.desired.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"expected DESIRED and ACTUAL, got 1 argument"* ]]
	run --separate-stderr enroll-diff - -
	assert_failure 2
	[[ "$stderr" == *"cannot both be stdin"* ]]
	run --separate-stderr enroll-diff --only remove a b
	assert_failure 2
	[[ "$stderr" == *"unknown op 'remove'"* ]]
	run --separate-stderr enroll-diff --max-drop 150% a b
	assert_failure 2
	[[ "$stderr" == *"'150%' is not a percentage"* ]]
	run --separate-stderr enroll-diff --max-drop ten a b
	assert_failure 2
	run --separate-stderr enroll-diff --key role --update-on role a b
	assert_failure 2
	[[ "$stderr" == *"leaves no key field"* ]]
	run --separate-stderr enroll-diff --key course,,user a b
	assert_failure 2
	[[ "$stderr" == *"empty name"* ]]
	run --separate-stderr enroll-diff -t xml a b
	assert_failure 2
	[[ "$stderr" == *"unknown output format 'xml'"* ]]
}

@test "adds and drops, sorted by key, fields from DESIRED or ACTUAL" {
	ed "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	diff -u "$F/basic.out.ndjson" - <<<"$output"
	[ -z "$stderr" ]
}

@test "output is the same whatever the input order" {
	tac "$F/basic.desired.ndjson" >"$T/d"
	tac "$F/basic.actual.ndjson" >"$T/a"
	ed "$T/d" "$T/a"
	assert_success
	diff -u "$F/basic.out.ndjson" - <<<"$output"
}

@test "DESIRED as CSV, ACTUAL as NDJSON: number and string keys match, unicode keys" {
	ed -t ndjson "$F/mixed.desired.csv" "$F/mixed.actual.ndjson"
	assert_success
	diff -u "$F/mixed.out.ndjson" - <<<"$output"
	# and the other way round: ACTUAL as CSV
	ed "$F/mixed.actual.ndjson" "$F/mixed.desired.csv"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == '{"op":"add","course":"Ünïcode-Kurs","user":"Jürgen","role":"student"}' ]]
	[[ "${lines[1]}" == '{"op":"drop","course":"Ünïcode-Kurs","user":"李","role":"teacher","name":"李"}' ]]
}

@test "-t csv: op then every field in first-seen order" {
	ed -t csv "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	diff -u "$F/basic.out.csv" - <<<"$output"
	[ "${lines[0]}" = "op,course,user,role,name,section,lms_id" ]
}

@test "-f csv reads both inputs as CSV" {
	printf 'course,user,role\nC1,u1,student\n' >"$T/d.txt"
	printf 'course,user,role\nC1,u2,student\n' >"$T/a.txt"
	ed -f csv -t ndjson "$T/d.txt" "$T/a.txt"
	assert_success
	assert_line --index 0 '{"op":"add","course":"C1","user":"u1","role":"student"}'
	assert_line --index 1 '{"op":"drop","course":"C1","user":"u2","role":"student"}'
	run --separate-stderr enroll-diff -f ndjson "$T/d.txt" "$T/a.txt"
	assert_failure 65
	[ -z "$output" ]
}

@test "--update-on role turns a role change into one update with old_role" {
	ed --update-on role "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	diff -u "$F/basic-update.out.ndjson" - <<<"$output"
}

@test "--update-on role pairs only a lone DESIRED with a lone ACTUAL" {
	ed --update-on role "$F/roles.desired.ndjson" "$F/roles.actual.ndjson"
	assert_success
	diff -u "$F/roles-update.out.ndjson" - <<<"$output"
}

@test "--update-on status compares status on records paired by the whole key" {
	ed --update-on status "$F/status.desired.ndjson" "$F/status.actual.ndjson"
	assert_success
	diff -u "$F/status.out.ndjson" - <<<"$output"
	# update records keep DESIRED's fields and add old_status
	assert_line --index 0 '{"op":"update","course":"C1","user":"u2","role":"student","status":"suspended","old_status":"active"}'
}

@test "--update-on when ACTUAL is the smaller file" {
	# the smaller input is kept in memory: same result either way
	cat "$F/status.desired.ndjson" - >"$T/d" <<'EOF'
{"course":"C9","user":"u1","role":"student","status":"active","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
EOF
	ed --update-on status "$T/d" "$F/status.actual.ndjson"
	assert_success
	assert_line --index 0 '{"op":"update","course":"C1","user":"u2","role":"student","status":"suspended","old_status":"active"}'
	[ "${#lines[@]}" -eq 4 ]
}

@test "--key chooses the fields that identify a record" {
	ed --key course,user "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	# u3 is in MATH-101 on both sides: no change with role out of the key
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 0 --partial '"op":"add","course":"MATH-101","user":"u2"'
	assert_line --index 1 --partial '"op":"drop","course":"MATH-101","user":"u4"'
}

@test "duplicate keys count once, are reported on stderr, never a double add" {
	ed "$F/dups.desired.ndjson" "$F/dups.actual.ndjson"
	assert_success
	diff -u "$F/dups.out.ndjson" - <<<"$output"
	[ "$(grep -c '"user":"u1"' <<<"$output")" -eq 1 ]
	[[ "$stderr" == *"dups.desired.ndjson: 5 records repeat an earlier key, counted once: course=C1 user=u1 role=student (line 2);"* ]]
	[[ "$stderr" == *"; ..."* ]]
	[[ "$stderr" == *"dups.actual.ndjson: 1 record repeats an earlier key, counted once: course=C1 user=u9 role=student (line 3)"* ]]
	run --separate-stderr enroll-diff -q --max-drop 100% "$F/dups.desired.ndjson" "$F/dups.actual.ndjson"
	assert_success
	[ -z "$stderr" ]
}

@test "a record missing a key field is bad input: located message, 65, no output" {
	cp "$F/basic.desired.ndjson" "$T/desired.ndjson"
	cp "$F/basic.actual.ndjson" "$T/actual.ndjson"
	echo '{"course":"MATH-101","role":"student"}' >>"$T/actual.ndjson"
	cd "$T"
	ed desired.ndjson actual.ndjson
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: actual.ndjson:5: missing field 'user'" ]
	# in DESIRED too, and a null key is missing
	echo '{"course":"MATH-101","user":"u7","role":null}' >>desired.ndjson
	ed desired.ndjson "$F/basic.actual.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: desired.ndjson:5: missing field 'role'" ]
}

@test "an empty key value is bad input" {
	printf 'course,user,role\nC1,,student\n' >"$T/d.csv"
	ed "$T/d.csv" "$F/basic.actual.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: $T/d.csv:2: empty field 'user'" ]
}

@test "bad JSON in ACTUAL after many good records: 65 and nothing on stdout" {
	for i in $(seq 1 300); do
		echo "{\"course\":\"C1\",\"user\":\"u$i\",\"role\":\"student\"}"
	done >"$T/d"
	{ head -n 200 "$T/d"; echo '{"course":"C1","user":"x",'; } >"$T/a"
	ed "$T/d" "$T/a"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "enroll-diff: $T/a:201: invalid JSON: "* ]]
	# bad CSV in DESIRED read from stdin
	ed - "$T/a" <<<$'course,user,role\nC1,"u1,student\n'
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "enroll-diff: stdin:2: unterminated quoted field" ]]
}

@test "a missing input file exits 66 with nothing on stdout" {
	ed "$F/basic.desired.ndjson" "$T/nope.ndjson"
	assert_failure 66
	[ -z "$output" ]
	[[ "$stderr" == "enroll-diff: cannot open '$T/nope.ndjson': No such file or directory" ]]
	ed "$T/nope.ndjson" -
	assert_failure 66
}

@test "either input may be stdin" {
	ed - "$F/basic.actual.ndjson" <"$F/basic.desired.ndjson"
	assert_success
	diff -u "$F/basic.out.ndjson" - <<<"$output"
	ed "$F/basic.desired.ndjson" - <"$F/basic.actual.ndjson"
	assert_success
	diff -u "$F/basic.out.ndjson" - <<<"$output"
}

@test "--only filters ops" {
	ed --only add "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	[ "$(grep -c '"op":"add"' <<<"$output")" -eq 2 ]
	ed --only drop,update --update-on role "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 0 --partial '"op":"update"'
	assert_line --index 1 --partial '"op":"drop"'
}

@test "--only add is not refused for drops it does not print" {
	run --separate-stderr enroll-diff --max-drop 0 --only add "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
}

@test "--roles leaves enrollments of other roles alone" {
	ed --roles student "$F/roles.desired.ndjson" "$F/roles.actual.ndjson"
	assert_success
	# teacher, ta and editingteacher records are neither added nor dropped
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 0 '{"op":"add","course":"C1","user":"u1","role":"student"}'
	assert_line --index 1 '{"op":"drop","course":"C1","user":"u2","role":"student"}'
	ed --roles student,ta "$F/roles.desired.ndjson" "$F/roles.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	# u1's role change: the drop of ta before the add of student
	assert_line --index 0 '{"op":"drop","course":"C1","user":"u1","role":"ta"}'
	assert_line --index 1 '{"op":"add","course":"C1","user":"u1","role":"student"}'
}

@test "a role change is written drop first, so Conduit and the flat file never leave the user unenrolled" {
	printf '%s\n' '{"course":"C1","user":"u1","role":"auditingstudent"}' \
		'{"course":"C1","user":"u2","role":"student"}' \
		'{"course":"C2","user":"u0","role":"student"}' >"$T/d.ndjson"
	printf '%s\n' '{"course":"C1","user":"u1","role":"student"}' \
		'{"course":"C1","user":"u2","role":"student"}' \
		'{"course":"C1","user":"u3","role":"student"}' >"$T/a.ndjson"
	ed "$T/d.ndjson" "$T/a.ndjson"
	assert_success
	# key order would put "add auditingstudent" before "drop student"
	assert_output '{"op":"drop","course":"C1","user":"u1","role":"student"}
{"op":"add","course":"C1","user":"u1","role":"auditingstudent"}
{"op":"drop","course":"C1","user":"u3","role":"student"}
{"op":"add","course":"C2","user":"u0","role":"student"}'
	# conduit-fmt keeps that order in both formats whose drop may end
	# the whole enrollment
	run --separate-stderr conduit-fmt --to conduit <<<"$output"
	assert_success
	assert_line --index 1 'drop,C1,u1,student'
	assert_line --index 2 'add,C1,u1,auditingstudent'
	ed "$T/d.ndjson" "$T/a.ndjson"
	run --separate-stderr conduit-fmt --to moodle-flatfile <<<"$output"
	assert_success
	assert_line --index 0 'del,student,u1,C1'
	assert_line --index 1 'add,auditingstudent,u1,C1'
}

@test "--skip-courses: no add and no drop in a course lms-fetch could not read" {
	printf '%s\n' '{"course":"A","course_id":1,"user":"u1","role":"student"}' \
		'{"course":"B","course_id":2,"user":"u1","role":"student"}' \
		'{"course":"C","course_id":3,"user":"u2","role":"student"}' >"$T/d.ndjson"
	printf '%s\n' '{"course":"A","course_id":1,"user":"u9","role":"student"}' \
		'{"course":"C","course_id":3,"user":"u8","role":"student"}' >"$T/a.ndjson"
	# B could not be read (named by course), C neither (by course_id only)
	printf '%s\n' '{"course":"B","course_id":2,"reason":"HTTP 404"}' \
		'{"course":null,"course_id":3,"reason":"invalidrecord"}' >"$T/skip.ndjson"
	ed --skip-courses "$T/skip.ndjson" "$T/d.ndjson" "$T/a.ndjson"
	assert_success
	assert_output '{"op":"add","course":"A","course_id":1,"user":"u1","role":"student"}
{"op":"drop","course":"A","course_id":1,"user":"u9","role":"student"}'
	[[ "$stderr" == *"enroll-diff: 3 changes in the 2 courses of '$T/skip.ndjson' left out"* ]]
	# without it, B's SIS roster would all be adds and C's a drop
	ed "$T/d.ndjson" "$T/a.ndjson"
	[ "${#lines[@]}" -eq 5 ]
	# the skipped file is read like any input: bad or missing is an error
	echo '{"reason":"x"}' >"$T/bad.ndjson"
	ed --skip-courses "$T/bad.ndjson" "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"bad.ndjson:1: a skipped course needs 'course' or 'course_id'"* ]]
	ed --skip-courses "$T/none.ndjson" "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 66
	[ -z "$output" ]
}

@test "--roles needs a role on every record" {
	printf 'course,user\nC1,u1\n' >"$T/d.csv"
	ed --key course,user --roles student "$T/d.csv" "$T/d.csv"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: $T/d.csv:2: missing field 'role'" ]
}

@test "--summary prints counts per op and per course on stderr" {
	ed --summary --update-on role "$F/roles.desired.ndjson" "$F/roles.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 5 ]
	[ "${stderr_lines[0]}" = "enroll-diff: summary: 2 add, 2 drop, 1 update (DESIRED 4 records, ACTUAL 4)" ]
	[ "${stderr_lines[1]}" = "enroll-diff: summary: course 'C1': 2 add, 1 drop, 1 update" ]
	[ "${stderr_lines[2]}" = "enroll-diff: summary: course 'C2': 0 add, 1 drop, 0 update" ]
}

@test "an empty DESIRED is refused with exit 3, even with a high limit" {
	: >"$T/empty"
	ed "$T/empty" "$F/basic.actual.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: refusing 4 drops: DESIRED '$T/empty' has no records; --allow-empty overrides" ]
	# a CSV header alone is empty too
	echo 'course,user,role' >"$T/hdr.csv"
	run --separate-stderr enroll-diff --max-drop 1000 "$T/hdr.csv" "$F/basic.actual.ndjson"
	assert_failure 3
	[ -z "$output" ]
}

@test "--allow-empty with a limit that allows it drops everything" {
	: >"$T/empty"
	ed --allow-empty "$T/empty" "$F/basic.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 4 ]
	[ "$(grep -c '"op":"drop"' <<<"$output")" -eq 4 ]
	# --allow-empty alone still meets the limits: 4 drops are under the
	# default --drop-floor of 20, but not under a floor of 0
	run --separate-stderr enroll-diff --allow-empty "$T/empty" "$F/basic.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 4 ]
	run --separate-stderr enroll-diff --allow-empty --drop-floor 0 "$T/empty" "$F/basic.actual.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[[ "$stderr" == *"refusing 4 drops: more than --max-drop 10% of the 4 ACTUAL records (0) and more than --drop-floor 0; a higher --max-drop overrides" ]]
}

# 1000 records (above the floor of 20 drops, where the percentage
# counts); before the floor this test used 100 records, where 11 drops
# are now under the floor and pass.
@test "drops beyond the default 10% are refused with exit 3" {
	for i in $(seq 1 1000); do
		echo "{\"course\":\"C1\",\"user\":\"u$i\",\"role\":\"student\"}"
	done >"$T/a"
	head -n 900 "$T/a" >"$T/d900"
	head -n 899 "$T/a" >"$T/d899"
	run --separate-stderr enroll-diff "$T/d900" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 100 ]
	run --separate-stderr enroll-diff "$T/d899" "$T/a"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: refusing 101 drops: more than --max-drop 10% of the 1000 ACTUAL records (100) and more than --drop-floor 20; a higher --max-drop overrides" ]
	run --separate-stderr enroll-diff --max-drop 11% "$T/d899" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 101 ]
	run --separate-stderr enroll-diff --max-drop 10.05% "$T/d899" "$T/a"
	assert_failure 3
}

# The older spelling: a bare number is a count (--max-drop-count), with
# no percentage.  The floor does not lift a count.
@test "--max-drop N is a count, --max-drop-count N" {
	run --separate-stderr enroll-diff --max-drop 1 "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: refusing 2 drops: more than --max-drop-count 1; a higher --max-drop-count overrides" ]
	run --separate-stderr enroll-diff --max-drop 2 "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 4 ]
	run --separate-stderr enroll-diff --max-drop-count 1 "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: refusing 2 drops: more than --max-drop-count 1; a higher --max-drop-count overrides" ]
	run --separate-stderr enroll-diff --max-drop-count 0 --only add "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
}

@test "--max-drop percentages count ACTUAL records of the --roles given" {
	# 10 students and 10 teachers; 2 students go: 20% of students
	for i in $(seq 1 10); do
		echo "{\"course\":\"C1\",\"user\":\"s$i\",\"role\":\"student\"}"
		echo "{\"course\":\"C1\",\"user\":\"t$i\",\"role\":\"teacher\"}"
	done >"$T/a"
	grep -v '"s[12]"' "$T/a" >"$T/d"
	run --separate-stderr enroll-diff --drop-floor 0 --max-drop 10% "$T/d" "$T/a"
	assert_success
	run --separate-stderr enroll-diff --drop-floor 0 --roles student --max-drop 10% "$T/d" "$T/a"
	assert_failure 3
	[[ "$stderr" == *"refusing 2 drops: more than --max-drop 10% of the 10 ACTUAL records of the roles given by --roles (1) and more than --drop-floor 0"* ]]
	run --separate-stderr enroll-diff --drop-floor 0 --roles student --max-drop 20% "$T/d" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
}

@test "--exit-code exits 1 when changes are found, 0 when none" {
	run --separate-stderr enroll-diff --exit-code --max-drop 100% "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_failure 1
	[ "${#lines[@]}" -eq 4 ]
	run --separate-stderr enroll-diff --exit-code "$F/basic.desired.ndjson" "$F/basic.desired.ndjson"
	assert_success
	[ -z "$output" ]
	run --separate-stderr enroll-diff "$F/basic.desired.ndjson" "$F/basic.desired.ndjson"
	assert_success
	[ -z "$output" ]
}

@test "an input field called op is replaced, not repeated" {
	echo '{"op":"old","course":"C1","user":"u1","role":"student"}' >"$T/d"
	echo '{"course":"C1","user":"u2","role":"student"}' >"$T/a"
	ed "$T/d" "$T/a"
	assert_success
	assert_line --index 0 '{"op":"add","course":"C1","user":"u1","role":"student"}'
}

@test "a write error on stdout exits 74" {
	run bash -c "enroll-diff --max-drop 100% '$F/basic.desired.ndjson' '$F/basic.actual.ndjson' >/dev/full"
	assert_failure 74
	assert_output --partial "write error"
}

@test "property: adds and drops equal sort|comm on the keys of random inputs" {
	need python3 jq
	# One python run writes every seed's inputs and their keys (starting
	# python three times per seed cost most of this test's time).
	cat >"$T/gen.py" <<'EOF'
import csv, json, os, random, sys
vals = ["a", "b", "Zoë", "李", "x,y", 'q"t', "Ünï", "10", "9", "z z"]
for seed in range(1, 11):
    r = random.Random(seed)
    out = "%s/s%d" % (sys.argv[1], seed)
    os.makedirs(out)
    def key():
        return (r.choice(vals[:6]), r.choice(vals), r.choice(["student", "teacher"]))
    for side in ("d", "a"):
        n = r.randrange(0, 40)
        recs = [key() for _ in range(n)]   # duplicates happen on purpose
        if side == "d" and not recs:
            recs = [key()]
        with open("%s/%sk" % (out, side), "w", encoding="utf-8") as f:
            for k in recs:
                f.write("\t".join(k) + "\n")
        if r.random() < 0.5:
            with open("%s/%s" % (out, side), "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(["course", "user", "role", "n"])
                for i, k in enumerate(recs):
                    w.writerow(list(k) + [i])
        else:
            with open("%s/%s" % (out, side), "w") as f:
                for i, k in enumerate(recs):
                    u = int(k[1]) if k[1].isdigit() and r.random() < .5 else k[1]
                    f.write(json.dumps({"n": i, "course": k[0], "user": u,
                                        "role": k[2]}, ensure_ascii=False) + "\n")
EOF
	python3 "$T/gen.py" "$T"
	local seed d
	for seed in $(seq 1 10); do
		d=$T/s$seed
		LC_ALL=C sort -u -o "$d/dk" "$d/dk"
		LC_ALL=C sort -u -o "$d/ak" "$d/ak"
		LC_ALL=C comm -23 "$d/dk" "$d/ak" >"$d/want-add"
		LC_ALL=C comm -13 "$d/dk" "$d/ak" >"$d/want-drop"
		enroll-diff -q -t ndjson --max-drop 100% --max-course-drop 100% "$d/d" "$d/a" >"$d/out"
		jq -r '[.op, .course, .user, .role] | map(tostring) | join("\t")' \
		    "$d/out" >"$d/got"
		# the output order is byte order of the keys, except that
		# within one course and user drops come first
		awk -F '\t' -v OFS='\t' '{ print $2, $3, ($1 == "drop" ?
		    0 : 1), $4 }' "$d/got" | LC_ALL=C sort -c
		for op in add drop; do
			awk -F '\t' -v op="$op" -v OFS='\t' \
			    '$1 == op { print $2, $3, $4 }' "$d/got" >"$d/got-$op"
			diff -u "$d/want-$op" "$d/got-$op"
		done
	done
}

# A regular NDJSON file read first (the smaller) keeps only each record's
# place and is read again for the records that become changes: the output
# must be what reading it from stdin (kept whole) gives.
lazy_inputs() {
	{
		echo '{"course":"C\u00e9","user":"u1","role":"student","n":1}'
		echo '{"course":"C\"q","user":"u2","role":"student","x":[1,{"a":null}]}'
		echo '{"course":"C1","user":4766,"role":"student","name":"Zo\u00eb \"Z\""}'
		echo '{"user":"u3","course":"C1","role":"teacher","status":"active","op":"x"}'
		echo '{"course":"C1","user":"u4","role":"student","status":"active"}'
		echo '{"course":"C1","user":"u5","role":"student","e":1.5e3,"t":true}'
		echo '{"course":"李","user":"ü","role":"student","n":null}'
	} >"$T/small"
	{
		echo '{"course":"C1","user":"4766","role":"student","name":"other"}'
		echo '{"course":"C1","user":"u3","role":"teacher","status":"dropped"}'
		echo '{"course":"C1","user":"u4","role":"teacher","status":"active"}'
		echo '{"course":"Cé","user":"u1","role":"student","n":2}'
		echo '{"course":"C2","user":"u9","role":"student","pad":"a longer line so that this file is the bigger one"}'
		echo '{"course":"C\u0022q","user":"u7","role":"student","pad":"and more padding here"}'
	} >"$T/big"
}

@test "the smaller NDJSON file, read again for its changes, gives the same output as stdin" {
	lazy_inputs
	local opts
	for opts in "" "--update-on status" "--update-on role" "-o csv" \
	    "--summary" "--only drop" "--key course,user"; do
		# DESIRED smaller: its adds come back from the file
		ed $opts "$T/small" "$T/big"
		assert_success
		echo "$output" >"$T/lazy"
		echo "$stderr" >"$T/lazy.err"
		ed $opts - "$T/big" <"$T/small"
		assert_success
		[ -s "$T/lazy" ]
		diff -u <(echo "$output") "$T/lazy"
		diff -u <(echo "$stderr" | sed 's/^enroll-diff: stdin:/enroll-diff: F:/') \
		    <(sed "s|^enroll-diff: $T/small:|enroll-diff: F:|" "$T/lazy.err")
		# ACTUAL smaller: its drops come back from the file
		ed $opts "$T/big" "$T/small"
		assert_success
		echo "$output" >"$T/lazy"
		ed $opts "$T/big" - <"$T/small"
		assert_success
		diff -u <(echo "$output") "$T/lazy"
	done
	# the unicode and escaped keys and the number key were really read
	ed "$T/small" "$T/big"
	[[ "$output" == *'{"op":"add","course":"C\"q","user":"u2","role":"student","x":[1,{"a":null}]}'* ]]
	[[ "$output" == *'{"op":"add","course":"李","user":"ü","role":"student","n":null}'* ]]
	[[ "$output" != *'"user":4766'* ]]
}

# The same for CSV (issue 23 item 2): quoted fields, a quoted newline,
# CRLF line ends, a byte-order mark, a lone CR inside a field, no final
# newline; TSV and a converted encoding (kept whole) too.
lazy_csv() {
	printf '\xef\xbb\xbfcourse,user,role,name,note\r\n' >"$T/small.csv"
	printf 'C1,u1,student,"Zo\xc3\xab ""Z""",plain\r\n' >>"$T/small.csv"
	printf 'C1,u2,student,"two\r\nlines",x\r\n' >>"$T/small.csv"
	printf '"C,2",u3,teacher,a\rb,\r\n' >>"$T/small.csv"
	printf 'C1,u4,student, spaced ,"q"\r\n' >>"$T/small.csv"
	printf '\r\n' >>"$T/small.csv"
	printf 'C3,u5,ta,last,"no newline"' >>"$T/small.csv"
	{
		echo 'course,user,role,name,note'
		echo 'C1,u1,student,other,plain'
		echo 'C1,u4,teacher,x,y'
		echo 'C9,u9,student,padding,"a longer line so that this file is the bigger one"'
		echo 'C9,u8,student,padding,"and more padding for the bigger file"'
	} >"$T/big.csv"
	tr ',' '\t' <"$T/big.csv" >"$T/big.tsv"
	printf 'course\tuser\trole\tname\nC1\tu7\tstudent\t"x\ty"\nC2\tu2\tstudent\tb\n' >"$T/small.tsv"
}

@test "the smaller CSV file, read again for its changes, gives the same output as stdin" {
	lazy_csv
	local opts
	for opts in "" "--update-on role" "-t ndjson" "--summary" \
	    "--only drop" "--key course,user"; do
		ed $opts "$T/small.csv" "$T/big.csv"
		assert_success
		echo "$output" >"$T/lazy"
		ed $opts - "$T/big.csv" <"$T/small.csv"
		assert_success
		[ -s "$T/lazy" ]
		diff -u <(echo "$output") "$T/lazy"
		ed $opts "$T/big.csv" "$T/small.csv"
		assert_success
		echo "$output" >"$T/lazy"
		ed $opts "$T/big.csv" - <"$T/small.csv"
		assert_success
		diff -u <(echo "$output") "$T/lazy"
	done
	# the quoted, multi-line and CR values were really read again
	ed -t ndjson "$T/small.csv" "$T/big.csv"
	[[ "$output" == *'"user":"u2","role":"student","name":"two\r\nlines","note":"x"}'* ]]
	[[ "$output" == *'"course":"C,2","user":"u3","role":"teacher","name":"a\rb","note":""}'* ]]
	[[ "$output" == *'"name":" spaced ","note":"q"}'* ]]
	[[ "$output" == *'"name":"last","note":"no newline"}'* ]]
	# TSV, and CSV converted from Latin-1 (not read again: offsets differ)
	ed -f tsv -t ndjson "$T/small.tsv" "$T/big.tsv"
	assert_success
	echo "$output" >"$T/lazy"
	ed -f tsv -t ndjson - "$T/big.tsv" <"$T/small.tsv"
	diff -u <(echo "$output") "$T/lazy"
	[[ "$output" == *'"name":"x\ty"}'* ]]
	printf 'course,user,role,name\nC1,u6,student,Zo\xeb\n' >"$T/l1.csv"
	ed --encoding ISO-8859-1 -t ndjson "$T/l1.csv" "$T/big.csv"
	assert_success
	[[ "$output" == *'"name":"Zoë"}'* ]]
}

@test "a CSV DESIRED file changed before its changes are read again: 74, no output" {
	echo 'course,user,role' >"$T/d"
	for i in $(seq 1 50); do
		echo "C1,u$i,student"
	done >>"$T/d"
	mkfifo "$T/fifo"
	enroll-diff --max-drop 100% "$T/d" - <"$T/fifo" >"$T/out" 2>"$T/err" &
	local pid=$! fd pos= w
	exec {w}>"$T/fifo"
	while [ "$pos" != "$(stat -c %s "$T/d")" ]; do
		for fd in /proc/$pid/fd/*; do
			[ "$(readlink "$fd")" = "$T/d" ] &&
				pos=$(awk '/^pos:/ { print $2 }' /proc/$pid/fdinfo/${fd##*/})
		done
		kill -0 $pid
	done
	# same size, one key byte changed: u1 becomes v1 (record at byte 17)
	printf v | dd of="$T/d" bs=1 seek=20 conv=notrunc status=none
	[ "$(sed -n 2p "$T/d")" = 'C1,v1,student' ]
	printf 'course,user,role\nC1,u2,student\n' >&$w
	exec {w}>&-
	local rc=0
	wait $pid || rc=$?
	[ "$rc" = 74 ]
	[ ! -s "$T/out" ]
	[ "$(cat "$T/err")" = "enroll-diff: $T/d: changed while being read (the record at byte 17)" ]
}

@test "a bad line late in the bigger input still fails 65 with its line" {
	for i in $(seq 1 100); do
		echo "{\"course\":\"C1\",\"user\":\"u$i\",\"role\":\"student\"}"
	done >"$T/d"
	for i in $(seq 1 400); do
		if [ "$i" = 350 ]; then
			echo "{\"course\":\"C1\",\"user\":\"u$i\",\"role\":\"student\",\"role\":\"x\"}"
		else
			echo "{\"course\":\"C1\",\"user\":\"u$i\",\"role\":\"student\"}"
		fi
	done >"$T/a"
	ed "$T/d" "$T/a"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: $T/a:350: invalid JSON: duplicate field name" ]
	sed -i '350s/.*/{"course":"C1","user":"\\u0000","role":"student"}/' "$T/a"
	ed "$T/d" "$T/a"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: $T/a:350: invalid JSON: \\u0000 in string" ]
}

@test "a DESIRED file changed before its changes are read again: 74, no output" {
	for i in $(seq 1 50); do
		echo "{\"course\":\"C1\",\"user\":\"u$i\",\"role\":\"student\"}"
	done >"$T/d"
	mkfifo "$T/fifo"
	enroll-diff --max-drop 100% "$T/d" - <"$T/fifo" >"$T/out" 2>"$T/err" &
	local pid=$! fd pos= w
	# (not fd 3: bats writes its results there)
	exec {w}>"$T/fifo"
	# wait until all of DESIRED was read (its descriptor at the end)
	while [ "$pos" != "$(stat -c %s "$T/d")" ]; do
		for fd in /proc/$pid/fd/*; do
			[ "$(readlink "$fd")" = "$T/d" ] &&
				pos=$(awk '/^pos:/ { print $2 }' /proc/$pid/fdinfo/${fd##*/})
		done
		kill -0 $pid
	done
	# same size, one key byte changed: u1 becomes v1
	printf v | dd of="$T/d" bs=1 seek=23 conv=notrunc status=none
	[ "$(head -c 25 "$T/d")" = '{"course":"C1","user":"v1' ]
	echo '{"course":"C1","user":"u2","role":"student"}' >&$w
	exec {w}>&-
	local rc=0
	wait $pid || rc=$?
	[ "$rc" = 74 ]
	[ ! -s "$T/out" ]
	[ "$(cat "$T/err")" = "enroll-diff: $T/d: changed while being read (the record at byte 0)" ]
}

# --- safety limits at both ends (issue 16, item 16) ---

# A site of 5 enrollments: 10% of 5 rounds to 0 drops, which refused every
# drop before --drop-floor.
@test "a small site: drops under --drop-floor pass, the percentage alone would refuse them" {
	cat >"$T/a" <<-'EOF2'
	{"course":"C1","user":"u1","role":"student"}
	{"course":"C1","user":"u2","role":"student"}
	{"course":"C2","user":"u3","role":"student"}
	{"course":"C2","user":"u4","role":"student"}
	{"course":"C2","user":"u5","role":"student"}
	EOF2
	head -n 2 "$T/a" >"$T/d"
	# the whole of C2 goes: 3 drops, 60% of the site, 100% of C2
	run --separate-stderr enroll-diff "$T/d" "$T/a"
	assert_success
	[ -z "$stderr" ]
	[ "${#lines[@]}" -eq 3 ]
	[ "$(grep -c '"op":"drop","course":"C2"' <<<"$output")" -eq 3 ]
	# without the floors it is the old behaviour: refused at 0 drops
	run --separate-stderr enroll-diff --drop-floor 0 --course-drop-floor 0 "$T/d" "$T/a"
	assert_failure 3
	[ -z "$output" ]
	[ "${stderr_lines[0]}" = "enroll-diff: refusing 3 drops: more than --max-drop 10% of the 5 ACTUAL records (0) and more than --drop-floor 0; a higher --max-drop overrides" ]
	[ "${stderr_lines[1]}" = "enroll-diff: refusing 3 drops in 1 course: more than --max-course-drop 50% of a course's ACTUAL records and more than --course-drop-floor 0: 'C2' 3 of 3; --allow-course-drop COURSE overrides" ]
	[ "${#stderr_lines[@]}" -eq 2 ]
}

# gen_site DIR COURSES USERS: DIR/a, COURSES courses C1.. of USERS
# students each, course by course (as an LMS lists them).
gen_site() {
	awk -v c="$2" -v u="$3" 'BEGIN {
		for (i = 1; i <= c; i++) for (j = 1; j <= u; j++)
			printf "{\"course\":\"C%d\",\"user\":\"u%d\",\"role\":\"student\"}\n", i, (i - 1) * u + j
	}' >"$1/a"
}

@test "a site of a million: 10% (100,000 drops) is refused by --max-drop-count, a vanished course by --max-course-drop" {
	gen_site "$T" 25000 40
	[ "$(wc -l <"$T/a")" -eq 1000000 ]
	# every tenth enrollment goes: 100,000 drops, exactly 10%, 4 of 40 in
	# each course
	awk 'NR % 10' "$T/a" >"$T/d10"
	run --separate-stderr enroll-diff "$T/d10" "$T/a"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: refusing 100000 drops: more than --max-drop-count 5000; a higher --max-drop-count overrides" ]
	run --separate-stderr enroll-diff -q --max-drop-count 100000 "$T/d10" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 100000 ]
	# course C7 vanishes: 40 drops, 0.004% of the site
	grep -v '"course":"C7"' "$T/a" >"$T/d7"
	run --separate-stderr enroll-diff "$T/d7" "$T/a"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: refusing 40 drops in 1 course: more than --max-course-drop 50% of a course's ACTUAL records and more than --course-drop-floor 5: 'C7' 40 of 40; --allow-course-drop COURSE overrides" ]
	run --separate-stderr enroll-diff --allow-course-drop C7 "$T/d7" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 40 ]
	[ "$(grep -c '"op":"drop","course":"C7",' <<<"$output")" -eq 40 ]
}

@test "--max-course-drop: more than half of a course, above its floor, unless allowed" {
	gen_site "$T" 4 10
	# C1 loses 5 of 10 (50%: allowed), C2 6 of 10, C3 all 10, C4 none
	awk '!(/"C1"/ && /"u([1-5])"/) && !(/"C2"/ && /"u1[1-6]"/) && !/"C3"/' "$T/a" >"$T/d"
	run --separate-stderr enroll-diff --max-drop 100% "$T/d" "$T/a"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: refusing 16 drops in 2 courses: more than --max-course-drop 50% of a course's ACTUAL records and more than --course-drop-floor 5: 'C2' 6 of 10, 'C3' 10 of 10; --allow-course-drop COURSE overrides" ]
	# a floor of 6 lets C2's 6 drops through
	run --separate-stderr enroll-diff --max-drop 100% --course-drop-floor 6 "$T/d" "$T/a"
	assert_failure 3
	[[ "$stderr" == *": 'C3' 10 of 10; --allow"* ]]
	run --separate-stderr enroll-diff --max-drop 100% --max-course-drop 60% "$T/d" "$T/a"
	assert_failure 3
	[[ "$stderr" == *"refusing 10 drops in 1 course: more than --max-course-drop 60% "* ]]
	# both listed: one on the command line, one in a file with a comment,
	# blanks and a CRLF line end
	printf '# cancelled\n\n  C3 \r\n' >"$T/allow"
	run --separate-stderr enroll-diff --max-drop 100% --allow-course-drop C2 --allow-course-drop-file "$T/allow" "$T/d" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 21 ]
	# the course limit counts only the drops printed
	run --separate-stderr enroll-diff --max-drop 100% --only add "$T/d" "$T/a"
	assert_success
	[ -z "$output" ]
	run --separate-stderr enroll-diff --allow-course-drop-file "$T/nonexistent" "$T/d" "$T/a"
	assert_failure 66
	[ -z "$output" ]
	[[ "$stderr" == *"--allow-course-drop-file': cannot open '$T/nonexistent'"* ]]
}

# ACTUAL records of a course are counted after the fact from the store:
# as entries of their own when ACTUAL is kept (the smaller file, or DESIRED
# on stdin), as the partners of DESIRED entries otherwise, never twice for
# the two halves of an update.
@test "per-course counts are the same whichever input is kept, from stdin, with updates" {
	gen_site "$T" 4 10
	awk '!(/"C2"/ && /"u1[1-6]"/) && !/"C3"/' "$T/a" >"$T/d"
	# the same DESIRED, made the bigger file by adds in another course
	cp "$T/d" "$T/dbig"
	for i in $(seq 1 60); do
		echo "{\"course\":\"C9\",\"user\":\"n$i\",\"role\":\"student\"}"
	done >>"$T/dbig"
	# ... and with a status on both sides that differs for C1, C2 and C4
	sed 's/}$/,"status":"active"}/' "$T/a" >"$T/as"
	sed '/"C[124]"/s/}$/,"status":"inactive"}/; /"C[124]"/!s/}$/,"status":"active"}/' "$T/d" >"$T/ds"
	local want="refusing 16 drops in 2 courses: more than --max-course-drop 50% of a course's ACTUAL records and more than --course-drop-floor 5: 'C2' 6 of 10, 'C3' 10 of 10; --allow-course-drop COURSE overrides"
	run --separate-stderr enroll-diff --max-drop 100% "$T/d" "$T/a"
	[ "$status" -eq 3 ] && [ "$stderr" = "enroll-diff: $want" ]
	run --separate-stderr enroll-diff --max-drop 100% "$T/dbig" "$T/a"
	[ "$status" -eq 3 ] && [ "$stderr" = "enroll-diff: $want" ]
	run --separate-stderr enroll-diff --max-drop 100% - "$T/a" <"$T/dbig"
	[ "$status" -eq 3 ] && [ "$stderr" = "enroll-diff: $want" ]
	run --separate-stderr enroll-diff --max-drop 100% "$T/d" - <"$T/a"
	[ "$status" -eq 3 ] && [ "$stderr" = "enroll-diff: $want" ]
	run --separate-stderr enroll-diff --max-drop 100% --update-on status "$T/ds" "$T/as"
	[ "$status" -eq 3 ] && [ "$stderr" = "enroll-diff: $want" ]
	run --separate-stderr enroll-diff --max-drop 100% --update-on status - "$T/as" <"$T/ds"
	[ "$status" -eq 3 ] && [ "$stderr" = "enroll-diff: $want" ]
	# role changes paired as updates are not drops
	sed '/"C3"/s/student/teacher/' "$T/a" >"$T/dr"
	run --separate-stderr enroll-diff --max-drop 100% --update-on role "$T/dr" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 10 ]
}

@test "more than ten courses refused are counted, not all listed; --roles counts only those roles" {
	gen_site "$T" 12 6
	: >"$T/d"
	echo '{"course":"C99","user":"x","role":"student"}' >"$T/d"
	run --separate-stderr enroll-diff --max-drop 100% --max-drop-count 1000 "$T/d" "$T/a"
	assert_failure 3
	# in key order: C1, C10, C11, C12, C2 ... C7, then C8 and C9 uncounted
	[[ "$stderr" == *"refusing 72 drops in 12 courses: "*": 'C1' 6 of 6, 'C10' 6 of 6, "*"'C7' 6 of 6, and 2 more; --allow-course-drop COURSE overrides" ]]
	# teachers are not counted with --roles student
	sed 's/student/teacher/' "$T/a" >>"$T/a2"
	cat "$T/a" >>"$T/a2"
	run --separate-stderr enroll-diff --roles student --max-drop 100% --max-drop-count 1000 "$T/d" "$T/a2"
	assert_failure 3
	[[ "$stderr" == *"refusing 72 drops in 12 courses: more than --max-course-drop 50% of a course's ACTUAL records of the roles given by --roles and more than --course-drop-floor 5: 'C1' 6 of 6,"* ]]
}

@test "limit options: usage errors exit 2" {
	run --separate-stderr enroll-diff --max-course-drop 150% a b
	assert_failure 2
	[[ "$stderr" == *"option '--max-course-drop': '150%' is not a percentage"* ]]
	run --separate-stderr enroll-diff --max-course-drop 40 a b
	assert_failure 2
	run --separate-stderr enroll-diff --drop-floor -1 a b
	assert_failure 2
	run --separate-stderr enroll-diff --max-drop-count many a b
	assert_failure 2
	run --separate-stderr enroll-diff --refused - a b
	assert_failure 2
	[[ "$stderr" == *"'--refused' needs a file name"* ]]
	run --separate-stderr enroll-diff --allow-course-drop '' a b
	assert_failure 2
}

# --- --refused (item 17) ---

@test "--refused FILE keeps the refused change set, exactly what would have been printed" {
	gen_site "$T" 3 10
	grep -v '"C2"' "$T/a" >"$T/d"
	echo '{"course":"C4","user":"n1","role":"student"}' >>"$T/d"
	run --separate-stderr enroll-diff -t csv --refused "$T/refused.ndjson" "$T/d" "$T/a"
	assert_failure 3
	[ -z "$output" ]
	[ "${stderr_lines[1]}" = "enroll-diff: the 11 changes refused are in '$T/refused.ndjson'" ]
	# what --allow-course-drop C2 prints, as NDJSON whatever -t says
	enroll-diff --allow-course-drop C2 "$T/d" "$T/a" >"$T/want"
	[ "$(wc -l <"$T/want")" -eq 11 ]
	cmp "$T/want" "$T/refused.ndjson"
	# no temporary file left beside it
	[ "$(find "$T" -maxdepth 1 -name '.refused*' | wc -l)" -eq 0 ]
	# --only applies to it as to the output
	run --separate-stderr enroll-diff --only drop --refused "$T/refused2.ndjson" "$T/d" "$T/a"
	assert_failure 3
	[ "$(wc -l <"$T/refused2.ndjson")" -eq 10 ]
	# the empty-DESIRED refusal keeps its drops too
	: >"$T/empty"
	run --separate-stderr enroll-diff --refused "$T/refused3.ndjson" "$T/empty" "$T/a"
	assert_failure 3
	[ "$(grep -c '"op":"drop"' "$T/refused3.ndjson")" -eq 30 ]
}

@test "--refused: nothing written without a refusal or without the option; a failed write is reported, still 3" {
	gen_site "$T" 3 10
	grep -v '"C2"' "$T/a" >"$T/d"
	run --separate-stderr enroll-diff --allow-course-drop C2 --refused "$T/refused.ndjson" "$T/d" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 10 ]
	[ ! -e "$T/refused.ndjson" ]
	mkdir "$T/wd"
	(cd "$T/wd" && enroll-diff "$T/d" "$T/a" >/dev/null 2>&1) || [ $? -eq 3 ]
	[ -z "$(ls -A "$T/wd")" ]
	run --separate-stderr enroll-diff --refused "$T/nodir/refused.ndjson" "$T/d" "$T/a"
	assert_failure 3
	[ -z "$output" ]
	[[ "${stderr_lines[1]}" == "enroll-diff: cannot keep the refused changes: "*"$T/nodir/"* ]]
}

# --- key values that cannot be keys (issue 16, smaller items) ---

@test "an array, object, boolean or non-integer number as a key value is bad input: 65, file:line, field" {
	printf '%s\n' '{"course":"C1","user":"u1","role":"student"}' >"$T/a"
	local line field kind
	while IFS='|' read -r line field kind; do
		{
			echo '{"course":"C1","user":"u2","role":"student"}'
			echo "$line"
		} >"$T/d"
		run --separate-stderr enroll-diff "$T/d" "$T/a"
		assert_failure 65
		[ -z "$output" ]
		[ "$stderr" = "enroll-diff: $T/d:2: field '$field' is $kind; a key value must be a string or an integer" ] ||
			fail "$line: $stderr"
		# the same in the second input read (ACTUAL, the bigger file)
		run --separate-stderr enroll-diff "$T/a" "$T/d"
		assert_failure 65
		[ -z "$output" ]
		[[ "$stderr" == *"$T/d:2: field '$field' is $kind;"* ]]
	done <<-'EOF2'
	{"course":["C1"],"user":"u1","role":"student"}|course|an array
	{"course":"C1","user":{"id":"u1"},"role":"student"}|user|an object
	{"course":"C1","user":"u1","role":true}|role|true or false
	{"course":"C1","user":4766.0,"role":"student"}|user|a number that is not an integer
	{"course":"C1","user":1e3,"role":"student"}|user|a number that is not an integer
	EOF2
	# the --update-on field outside the key is compared as a key is
	echo '{"course":"C1","user":"u1","role":"student","status":["active"]}' >"$T/d"
	run --separate-stderr enroll-diff --update-on status "$T/d" "$T/a"
	assert_failure 65
	[ "$stderr" = "enroll-diff: $T/d:1: field 'status' is an array; a key value must be a string or an integer" ]
	# an integer is its text: 4766 and "4766" are one key
	echo '{"course":"C1","user":4766,"role":"student"}' >"$T/d"
	echo '{"course":"C1","user":"4766","role":"student"}' >"$T/a2"
	ed "$T/d" "$T/a2"
	assert_success
	[ -z "$output" ]
	# other fields may be anything
	echo '{"course":"C1","user":"4766","role":"student","x":[1],"t":true,"f":1.5}' >"$T/d"
	ed "$T/d" "$T/a"
	assert_success
}

@test "--summary escapes control characters in course names: no forged lines" {
	printf '%s\n' '{"course":"C1\nenroll-diff: summary: 0 add, 0 drop\u001b[2J","user":"u1","role":"student"}' >"$T/d.ndjson"
	: >"$T/a.ndjson"
	ed --summary "$T/d.ndjson" "$T/a.ndjson"
	assert_success
	[ "${#stderr_lines[@]}" -eq 2 ]
	[ "${stderr_lines[1]}" = "enroll-diff: summary: course 'C1\nenroll-diff: summary: 0 add, 0 drop\x1b[2J': 1 add, 0 drop, 0 update" ]
}

@test "reads jq's pretty output and arrays of objects (jq ., jq -s .)" {
	need jq
	ed "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	want=$output
	jq . "$F/basic.desired.ndjson" >"$T/d.json"
	jq -s . "$F/basic.actual.ndjson" >"$T/a.json"
	# both ways round: the pretty file is once the table side, read
	# again from its offsets, once the streamed side
	ed "$T/d.json" "$T/a.json"
	assert_success
	[ "$output" = "$want" ]
	ed "$T/d.json" "$F/basic.actual.ndjson"
	assert_success
	[ "$output" = "$want" ]
	ed "$F/basic.desired.ndjson" "$T/a.json"
	assert_success
	[ "$output" = "$want" ]
	# piped, and the compact array on one line
	run --separate-stderr bash -c "jq . '$F/basic.desired.ndjson' |
	    enroll-diff --max-drop 100% - <(jq -cs . '$F/basic.actual.ndjson')"
	assert_success
	[ "$output" = "$want" ]
}

@test "a broken pretty-printed object is refused on its line, nothing passed on" {
	printf '{\n  "course": "C1",\n  "user": "u1"\n  "role": "student"\n}\n' \
	    >"$T/d.json"
	ed "$T/d.json" "$F/basic.actual.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: $T/d.json:4: invalid JSON: expected ',' or '}'" ]
	# an array that never closes: the line of its '['
	printf '\n[\n  {"course": "C1", "user": "u1", "role": "student"},\n' \
	    >"$T/a.json"
	ed "$F/basic.desired.ndjson" "$T/a.json"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: $T/a.json:2: invalid JSON: array not closed at the end of the input" ]
}

@test "--delimiter and -f tsv read other CSV dialects" {
	printf '%s\n' '{"course":"C1","user":"u2","role":"student"}' >"$T/a.ndjson"
	printf 'course;user;role\nC1;u1;student\n' >"$T/d.csv"
	ed -t ndjson --delimiter ';' "$T/d.csv" "$T/a.ndjson"
	assert_success
	assert_line --index 0 '{"op":"add","course":"C1","user":"u1","role":"student"}'
	assert_line --index 1 '{"op":"drop","course":"C1","user":"u2","role":"student"}'
	# without it the header is one column and the key fields are missing
	ed "$T/d.csv" "$T/a.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "enroll-diff: $T/d.csv:2: missing field "* ]]
	printf 'course\tuser\trole\nC1\t"u1"\tstudent\n' >"$T/d.tsv"
	printf 'course\tuser\trole\nC1\tu2\tstudent\n' >"$T/a.tsv"
	for opt in "--delimiter tab" "--delimiter \\t" "-f tsv"; do
		# shellcheck disable=SC2086 # the option and its value
		ed -t ndjson $opt "$T/d.tsv" "$T/a.tsv"
		assert_success
		assert_line --index 0 '{"op":"add","course":"C1","user":"u1","role":"student"}'
		assert_line --index 1 '{"op":"drop","course":"C1","user":"u2","role":"student"}'
	done
	run --separate-stderr enroll-diff --delimiter '"' "$T/d.csv" "$T/a.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == "enroll-diff: option '--delimiter': '\"' is not one character"* ]]
	run --separate-stderr enroll-diff -f psv "$T/d.csv" "$T/a.ndjson"
	assert_failure 2
	[[ "$stderr" == "enroll-diff: option '-f': unknown input format 'psv' (auto, ndjson, csv or tsv)"* ]]
}

@test "--encoding converts a Windows-1252 CSV; JSON stays UTF-8" {
	printf '%s\n' '{"course":"C1","user":"u2","role":"student","name":"Zoë"}' \
	    >"$T/a.ndjson"
	printf 'course,user,role,name\r\nC1,u1,student,Jos\xe9 \x80\r\n' >"$T/d.csv"
	ed -t ndjson --encoding WINDOWS-1252 "$T/d.csv" "$T/a.ndjson"
	assert_success
	assert_line --index 0 '{"op":"add","course":"C1","user":"u1","role":"student","name":"José €"}'
	assert_line --index 1 '{"op":"drop","course":"C1","user":"u2","role":"student","name":"Zoë"}'
	# read as UTF-8 (the default) the same bytes are refused
	ed "$T/d.csv" "$T/a.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: $T/d.csv:2: invalid UTF-8 at byte 18" ]
	# a byte Windows-1252 does not have: its line, nothing passed on
	printf 'course,user,role\nC1,u1,student\nC1,u\x81,student\n' >"$T/d.csv"
	ed --encoding WINDOWS-1252 "$T/d.csv" "$T/a.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: $T/d.csv:3: invalid byte sequence for encoding 'WINDOWS-1252'" ]
	run --separate-stderr enroll-diff --encoding NO-SUCH "$T/d.csv" "$T/a.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == "enroll-diff: option '--encoding': unknown encoding 'NO-SUCH'"* ]]
}

# --- one flag vocabulary (issue 17, items 6 and 7) ---

@test "the output follows DESIRED's format: CSV in, CSV out; -t overrides" {
	printf 'course,user,role\nC1,u1,student\n' >"$T/d.csv"
	printf 'course,user,role\nC1,u2,student\n' >"$T/a.csv"
	ed "$T/d.csv" "$T/a.csv"
	assert_success
	assert_output "$(printf 'op,course,user,role\nadd,C1,u1,student\ndrop,C1,u2,student')"
	ed -t ndjson "$T/d.csv" "$T/a.csv"
	assert_success
	assert_line --index 0 '{"op":"add","course":"C1","user":"u1","role":"student"}'
	# NDJSON DESIRED, CSV ACTUAL: NDJSON out
	ed "$F/basic.desired.ndjson" "$T/a.csv"
	assert_success
	[[ "${lines[0]}" == '{"op":'* ]]
}

@test "deprecated -i, --input-format, --output-format and -o FORMAT warn and still work" {
	printf 'course,user,role\nC1,u1,student\n' >"$T/d.txt"
	printf 'course,user,role\nC1,u2,student\n' >"$T/a.txt"
	want='{"op":"add","course":"C1","user":"u1","role":"student"}'
	ed -i csv -t ndjson "$T/d.txt" "$T/a.txt"
	assert_success
	assert_line --index 0 "$want"
	[ "${stderr_lines[0]}" = "enroll-diff: warning: option '-i' is deprecated: use -f/--from" ]
	ed --input-format csv -t ndjson "$T/d.txt" "$T/a.txt"
	assert_success
	assert_line --index 0 "$want"
	[ "${stderr_lines[0]}" = "enroll-diff: warning: option '--input-format' is deprecated: use -f/--from" ]
	ed -f csv --output-format ndjson "$T/d.txt" "$T/a.txt"
	assert_success
	assert_line --index 0 "$want"
	[ "${stderr_lines[0]}" = "enroll-diff: warning: option '--output-format' is deprecated: use -t/--to" ]
	ed -f csv -o ndjson "$T/d.txt" "$T/a.txt"
	assert_success
	assert_line --index 0 "$want"
	[ "${stderr_lines[0]}" = "enroll-diff: warning: option '-o ndjson' names a format, which is deprecated: use -t ndjson (-o FILE is the output file; write -o ./ndjson for a file of that name)" ]
	[ ! -e ndjson ] && [ ! -e "$T/ndjson" ]
	# the new spellings print no warning
	ed -f csv -t ndjson "$T/d.txt" "$T/a.txt"
	assert_success
	[ -z "$stderr" ]
}

@test "--output x writes the file x (it was taken as --output-format)" {
	cd "$T"
	ed --output x "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	[ -z "$output" ]
	[ -z "$stderr" ]
	diff -u "$F/basic.out.ndjson" x
	# -o with a path, and -o ./csv for a file named like a format
	ed -o ./csv "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	[ -z "$output" ]
	diff -u "$F/basic.out.ndjson" csv
	# a prefix that fits both is ambiguous, not a guess
	run --separate-stderr enroll-diff --outp x "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_failure 2
}

@test "--output FILE is written whole or not at all" {
	echo keep >"$T/out"
	# a refusal (exit 3) leaves FILE as it was and no temporary file
	gen_site "$T" 3 10
	grep -v '"C2"' "$T/a" >"$T/d"
	run --separate-stderr enroll-diff --output "$T/out" "$T/d" "$T/a"
	assert_failure 3
	[ -z "$output" ]
	[ "$(cat "$T/out")" = keep ]
	# bad input: the same, with the location
	printf '{"course":"C1","user":"u1","role":"student"}\n{bad\n' >"$T/bad"
	run --separate-stderr enroll-diff --output "$T/out" "$T/bad" "$F/basic.actual.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == "enroll-diff: $T/bad:2: "* ]]
	[ "$(cat "$T/out")" = keep ]
	# a directory that cannot be written: 74 or 77, nothing on stdout
	mkdir "$T/ro" && chmod 555 "$T/ro"
	if [ "$(id -u)" -ne 0 ]; then
		run --separate-stderr enroll-diff --output "$T/ro/x" "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
		[ "$status" -eq 74 ] || [ "$status" -eq 77 ]
		[ -z "$output" ]
	fi
	[ -z "$(find "$T" -maxdepth 1 -name '.out.*')" ]
	ed --output "$T/out" "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	diff -u "$F/basic.out.ndjson" "$T/out"
}

# Provenance (issue 18): sis-extract --provenance's sis_row rides on the
# DESIRED records, lms-fetch's ids on the ACTUAL ones.
prov_inputs() {
	cat >"$T/pd.ndjson" <<'EOF2'
{"course":"M1","user":"u1","role":"teacher","status":"active","sis_row":"q.sql:3"}
{"course":"M1","user":"u2","role":"student","status":"active","sis_row":"q.sql:4"}
{"course":"M1","user":"u4","role":"student","status":"active","sis_row":"q.sql:5"}
EOF2
	cat >"$T/pa.ndjson" <<'EOF2'
{"course":"M1","course_id":7,"user":"u1","user_id":11,"role":"student","status":"active","enrollment_id":901,"name":"A"}
{"course":"M1","course_id":7,"user":"u3","user_id":13,"role":"student","status":"active","enrollment_id":903,"name":"C"}
{"course":"M1","course_id":7,"user":"u4","user_id":14,"role":"student","status":"suspended","enrollment_id":904,"name":"D"}
EOF2
}

@test "provenance: an add carries DESIRED's sis_row, a drop ACTUAL's ids, an update both (actual_*_id)" {
	prov_inputs
	# --update-on a key field (role): the update pairs two stored records.
	ed --update-on role "$T/pd.ndjson" "$T/pa.ndjson"
	assert_success
	assert_output '{"op":"update","course":"M1","user":"u1","role":"teacher","status":"active","sis_row":"q.sql:3","old_role":"student","actual_course_id":7,"actual_user_id":11,"actual_enrollment_id":901}
{"op":"add","course":"M1","user":"u2","role":"student","status":"active","sis_row":"q.sql:4"}
{"op":"drop","course":"M1","course_id":7,"user":"u3","user_id":13,"role":"student","status":"active","enrollment_id":903,"name":"C"}'
	# The same from stdin (no lazy re-read of DESIRED), and with ACTUAL
	# first: the records are found whichever side is kept.
	run --separate-stderr enroll-diff --max-drop 100% --max-course-drop 100% \
		--update-on role - "$T/pa.ndjson" <"$T/pd.ndjson"
	assert_success
	assert_line --index 0 --partial '"old_role":"student","actual_course_id":7,"actual_user_id":11,"actual_enrollment_id":901}'
	# --update-on a field outside the key (status): ACTUAL's ids of u4.
	ed --update-on status -k course,user "$T/pd.ndjson" "$T/pa.ndjson"
	assert_success
	assert_line '{"op":"update","course":"M1","user":"u4","role":"student","status":"active","sis_row":"q.sql:5","old_status":"suspended","actual_course_id":7,"actual_user_id":14,"actual_enrollment_id":904}'
	# Fields not ending in _id (name) are not copied into an update.
	run grep -c actual_name <<<"$output"
	assert_output 0
	# CSV: the copies are columns too.
	ed -t csv --update-on role "$T/pd.ndjson" "$T/pa.ndjson"
	assert_success
	assert_line --index 0 "op,course,user,role,status,sis_row,old_role,actual_course_id,actual_user_id,actual_enrollment_id,course_id,user_id,enrollment_id,name"
	assert_line --index 1 "update,M1,u1,teacher,active,q.sql:3,student,7,11,901,,,,"
}

@test "--drop-policy-file: a keep course only gains members, drops carry their policy" {
	printf '%s\n' '{"course":"A","course_id":1,"user":"u1","role":"student"}' \
		'{"course":"PROG","course_id":7,"user":"u3","role":"student"}' >"$T/d.ndjson"
	printf '%s\n' '{"course":"A","course_id":1,"user":"u2","role":"student"}' \
		'{"course":"B","course_id":2,"user":"u5","role":"student"}' \
		'{"course":"PROG","course_id":7,"user":"u4","role":"student"}' >"$T/a.ndjson"
	# PROG by course (add only), B by course_id with the Canvas word
	printf '%s\n' '{"course":"PROG","drop_policy":"keep"}' \
		'{"course_id":2,"drop_policy":"inactive"}' >"$T/pol.ndjson"
	ed --drop-policy-file "$T/pol.ndjson" "$T/d.ndjson" "$T/a.ndjson"
	assert_success
	assert_output '{"op":"add","course":"A","course_id":1,"user":"u1","role":"student"}
{"op":"drop","course":"A","course_id":1,"user":"u2","role":"student","drop_policy":"unenrol"}
{"op":"drop","course":"B","course_id":2,"user":"u5","role":"student","drop_policy":"suspend"}
{"op":"add","course":"PROG","course_id":7,"user":"u3","role":"student"}'
	[[ "$stderr" == *"enroll-diff: 1 drop left out: drop policy keep"* ]]
	# --drop-policy sets the others; CSV gets the column
	ed -t csv --drop-policy suspend --drop-policy-file "$T/pol.ndjson" \
		"$T/d.ndjson" "$T/a.ndjson"
	assert_success
	assert_line --index 0 "op,course,course_id,user,role,drop_policy"
	assert_line --index 2 "drop,A,1,u2,student,suspend"
	# without the options: no field, PROG's member dropped
	ed "$T/d.ndjson" "$T/a.ndjson"
	assert_success
	[[ "$output" != *drop_policy* ]]
	[[ "$output" == *'"user":"u4"'* ]]
}

@test "--drop-policy keep leaves drops out of the safety limits" {
	printf '%s\n' '{"course":"A","user":"u1","role":"student"}' >"$T/d.ndjson"
	for i in $(seq 1 30); do
		printf '{"course":"A","user":"x%s","role":"student"}\n' "$i"
	done >"$T/a.ndjson"
	run --separate-stderr enroll-diff "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 3
	run --separate-stderr enroll-diff --drop-policy keep "$T/d.ndjson" "$T/a.ndjson"
	assert_success
	assert_output '{"op":"add","course":"A","user":"u1","role":"student"}'
	[[ "$stderr" == *"30 drops left out: drop policy keep"* ]]
}

@test "--drop-policy and --drop-policy-file: bad values are refused before any output" {
	: >"$T/d.ndjson"
	: >"$T/a.ndjson"
	ed --drop-policy erase "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"option '--drop-policy': unknown policy 'erase' (unenrol, suspend, conclude or keep)"* ]]
	printf '%s\n' '{"course":"A","drop_policy":"keep"}' \
		'{"course":"B","drop_policy":"hide"}' >"$T/bad.ndjson"
	ed --drop-policy-file "$T/bad.ndjson" "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"bad.ndjson:2: drop_policy 'hide' is not one of unenrol, suspend, conclude or keep"* ]]
	printf '%s\n' '{"course":"A","drop_policy":"keep"}' \
		'{"course":"A","drop_policy":"unenrol"}' >"$T/twice.ndjson"
	ed --drop-policy-file "$T/twice.ndjson" "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 65
	[[ "$stderr" == *"twice.ndjson:2: course 'A' already has drop policy keep"* ]]
	echo '{"drop_policy":"keep"}' >"$T/nocourse.ndjson"
	ed --drop-policy-file "$T/nocourse.ndjson" "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 65
	[[ "$stderr" == *"nocourse.ndjson:1: a drop policy needs 'course' or 'course_id'"* ]]
	ed --drop-policy-file "$T/none.ndjson" "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 66
	[ -z "$output" ]
}

@test "users: -k user --update-on firstname,lastname,email makes creates and updates; keep drops none" {
	cat >"$T/d.ndjson" <<'J'
{"user":"1","username":"a","firstname":"Ann","lastname":"Lee","email":"a@x"}
{"user":"2","username":"b","firstname":"Bob","lastname":"Ray","email":"b@x"}
{"user":"3","username":"c","firstname":"Cy","lastname":"Do","email":"c@x"}
J
	cat >"$T/a.ndjson" <<'J'
{"user":"1","username":"a","firstname":"Ann","lastname":"Lee","email":"a@x"}
{"user":"2","username":"b","firstname":"Bob","lastname":"Roy","email":"b@y"}
{"user":"4","username":"d","firstname":"Di","lastname":"Do","email":"d@x"}
J
	ed -k user --update-on firstname,lastname,email --drop-policy keep "$T/d.ndjson" "$T/a.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 0 '{"op":"update","user":"2","username":"b","firstname":"Bob","lastname":"Ray","email":"b@x","old_firstname":"Bob","old_lastname":"Roy","old_email":"b@y"}'
	assert_line --index 1 '{"op":"add","user":"3","username":"c","firstname":"Cy","lastname":"Do","email":"c@x"}'
	[[ "$stderr" == *"1 drop left out: drop policy keep"* ]]
	# a field absent on one side is a change too
	echo '{"user":"1","username":"a","firstname":"Ann","lastname":"Lee"}' >"$T/a1.ndjson"
	ed -k user --update-on firstname,lastname,email "$T/d.ndjson" "$T/a1.ndjson"
	assert_success
	assert_line --index 0 '{"op":"update","user":"1","username":"a","firstname":"Ann","lastname":"Lee","email":"a@x","old_firstname":"Ann","old_lastname":"Lee","old_email":null}'
	# without a policy the absent user is dropped, within the safety limits
	run --separate-stderr enroll-diff -k user --update-on firstname,lastname,email \
		--drop-floor 0 --max-drop 10% "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[[ "$stderr" == *"refusing 1 drop: more than --max-drop 10% of the 3 ACTUAL records"* ]]
	# several fields must all lie outside the key
	run --separate-stderr enroll-diff -k user,email --update-on email,lastname "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"--update-on 'email' is a key field: several fields must all be outside the key"* ]]
	# a person without an id is bad input: no partial output
	printf '%s\n' '{"user":"5","firstname":"E"}' '{"firstname":"F"}' >"$T/noid.ndjson"
	run --separate-stderr enroll-diff -k user --update-on firstname "$T/noid.ndjson" "$T/a.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[[ "$stderr" == *"noid.ndjson:2: missing field 'user'"* ]]
}

# --- --memory-limit: a grace hash join by course (issue 23, item 3) ---

# DESIRED and ACTUAL of 10 courses, 3-4K each: role changes, records on
# one side only, a number field, and a repeated key on each side.
ml_data() {
	awk -v d="$T/d.ndjson" -v a="$T/a.ndjson" 'BEGIN {
		for (c = 0; c < 10; c++)
			for (u = 0; u < 20; u++) {
				k = c * 20 + u
				if (k % 5 != 0)
					printf "{\"course\":\"C%d\",\"user\":\"u%d\",\"role\":\"student\",\"n\":%s}\n", c, u, u * 1.5 >d
				if (k % 7 != 0)
					printf "{\"course\":\"C%d\",\"user\":\"u%d\",\"role\":\"%s\",\"n\":%s}\n", c, u, (c + u) % 11 ? "student" : "teacher", u * 1.5 >a
			}
	}'
	sed -n '3p;50p;100p;120p' "$T/d.ndjson" >>"$T/d.ndjson"
	sed -n 40p "$T/a.ndjson" >>"$T/a.ndjson"
	local s
	for s in d a; do
		{
			echo course,user,role,n
			sed 's/^{"course":"\([^"]*\)","user":"\([^"]*\)","role":"\([^"]*\)","n":\([^}]*\)}$/\1,\2,\3,\4/' "$T/$s.ndjson"
		} >"$T/$s.csv"
	done
}

@test "--memory-limit: a tiny limit splits the work and changes nothing in the output" {
	ml_data
	local f args
	for f in ndjson csv; do
		for args in "" "--update-on role" "-k course,user --update-on role" "--summary" "--drop-policy suspend -t csv"; do
			# shellcheck disable=SC2086
			ed $args "$T/d.$f" "$T/a.$f"
			assert_success
			local out=$output err=$stderr
			[ -n "$out" ]
			[[ "$err" == *"counted once: course=C0 user=u3"*"(line 16"[12]")"* ]]
			[[ "$err" == *"counted once: course=C2 user=u6"*"(line 17"[23]")"* ]]
			# shellcheck disable=SC2086
			ed -v --memory-limit 1K $args "$T/d.$f" "$T/a.$f"
			assert_success
			[ "$output" = "$out" ] || { echo "differs: $f $args"; false; }
			[[ "$stderr" == *"--memory-limit: "*" partitions"* ]]
			[ "$(grep -v -e 'partitions$' -e 'DESIRED and' <<<"$stderr")" = "$err" ]
			# a limit the data fits in: the in-memory run
			# shellcheck disable=SC2086
			ed -v --memory-limit 1G $args "$T/d.$f" "$T/a.$f"
			[ "$output" = "$out" ]
			[[ "$stderr" != *partitions* ]]
		done
	done
	# a bad record is found with its line in the splitting pass
	sed -i '150s/"user":"[^"]*",//' "$T/a.ndjson"
	ed "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 65
	local err=$stderr
	[[ "$err" == *"a.ndjson:150: missing field 'user'" ]]
	ed --memory-limit 1K "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 65
	[ -z "$output" ]
	[ "$stderr" = "$err" ]
}

@test "--memory-limit: a refusal is the same refusal, decided on the totals" {
	ml_data
	run --separate-stderr enroll-diff --refused "$T/r1" "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 3
	local err=$stderr
	[[ "$err" == *"refusing "*" drops: more than --max-drop 10%"* ]]
	run --separate-stderr enroll-diff --memory-limit 1K --refused "$T/r2" "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 3
	[ -z "$output" ]
	# only the refused file's name differs ("r1" may be in the tmp path too)
	[ "$stderr" = "${err//"$T/r1"/"$T/r2"}" ]
	cmp "$T/r1" "$T/r2"
	# per course: C0 loses all it has
	grep -v '"course":"C0"' "$T/d.ndjson" >"$T/d0"
	run --separate-stderr enroll-diff --max-drop 100% "$T/d0" "$T/a.ndjson"
	assert_failure 3
	err=$stderr
	[[ "$err" == *"refusing 17 drops in 1 course: "*"'C0' 17 of 17"* ]]
	run --separate-stderr enroll-diff --max-drop 100% --memory-limit 1K "$T/d0" "$T/a.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "$err" ]
}

@test "--memory-limit: a bad SIZE or key exits 2 before any output" {
	ml_data
	local bad
	for bad in 12X M 1.5G -1K ''; do
		ed --memory-limit "$bad" "$T/d.ndjson" "$T/a.ndjson"
		assert_failure 2
		[ -z "$output" ]
		[[ "$stderr" == "enroll-diff: option '--memory-limit' takes a size such as 256M (K, M or G), not '$bad'"* ]]
	done
	ed --memory-limit 1000 "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 2
	[[ "$stderr" == "enroll-diff: option '--memory-limit' must be from 1K to 1024G"* ]]
	ed --memory-limit 1K -k user,course "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == "enroll-diff: --memory-limit needs 'course' as the first --key field (and not the --update-on field)"* ]]
	ed --memory-limit 1K -k course,user --update-on course "$T/d.ndjson" "$T/a.ndjson"
	assert_failure 2
	[[ "$stderr" == "enroll-diff: --memory-limit needs 'course' as the first --key field"* ]]
}

@test "--memory-limit: killed mid-run, it leaves no temporary file" {
	ml_data
	mkdir "$T/tmp"
	mkfifo "$T/fifo"
	TMPDIR=$T/tmp enroll-diff --memory-limit 1K "$T/d.ndjson" "$T/fifo" >"$T/out" 2>"$T/err" &
	local pid=$! w n=0 fd
	exec {w}>"$T/fifo"
	head -50 "$T/a.ndjson" >&$w
	# wait until its temporary files are open
	while [ "$n" -lt 4 ]; do
		n=0
		for fd in /proc/$pid/fd/*; do
			[[ "$(readlink "$fd")" == "$T/tmp/"* ]] && n=$((n + 1))
		done
		kill -0 $pid
	done
	kill -TERM $pid
	local rc=0
	wait $pid || rc=$?
	exec {w}>&-
	[ "$rc" = 143 ]
	[ ! -s "$T/out" ]
	[ -z "$(ls -A "$T/tmp")" ]
}
