#!/usr/bin/env bats
# enroll-diff: the change set between DESIRED and ACTUAL enrollments.

bats_require_minimum_version 1.5.0
load helper

setup() {
	F=$FIX/enroll-diff
	T=$BATS_TEST_TMPDIR
}

# run enroll-diff with the drop limit out of the way (small fixtures
# would trip the default 10%)
ed() {
	run --separate-stderr enroll-diff --max-drop 100% "$@"
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
	run --separate-stderr enroll-diff -o xml a b
	assert_failure 2
	[[ "$stderr" == *"unknown format 'xml'"* ]]
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
	ed "$F/mixed.desired.csv" "$F/mixed.actual.ndjson"
	assert_success
	diff -u "$F/mixed.out.ndjson" - <<<"$output"
	# and the other way round: ACTUAL as CSV
	ed "$F/mixed.actual.ndjson" "$F/mixed.desired.csv"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == '{"op":"add","course":"Ünïcode-Kurs","user":"Jürgen","role":"student"}' ]]
	[[ "${lines[1]}" == '{"op":"drop","course":"Ünïcode-Kurs","user":"李","role":"teacher","name":"李"}' ]]
}

@test "-o csv: op then every field in first-seen order" {
	ed -o csv "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	diff -u "$F/basic.out.csv" - <<<"$output"
	[ "${lines[0]}" = "op,course,user,role,name,section,lms_id" ]
}

@test "-i csv reads both inputs as CSV" {
	printf 'course,user,role\nC1,u1,student\n' >"$T/d.txt"
	printf 'course,user,role\nC1,u2,student\n' >"$T/a.txt"
	ed -i csv "$T/d.txt" "$T/a.txt"
	assert_success
	assert_line --index 0 '{"op":"add","course":"C1","user":"u1","role":"student"}'
	assert_line --index 1 '{"op":"drop","course":"C1","user":"u2","role":"student"}'
	run --separate-stderr enroll-diff -i ndjson "$T/d.txt" "$T/a.txt"
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
	# --allow-empty alone still meets the default 10% limit
	run --separate-stderr enroll-diff --allow-empty "$T/empty" "$F/basic.actual.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[[ "$stderr" == *"refusing 4 drops: more than --max-drop 10% of the 4 ACTUAL records (0); a higher --max-drop overrides" ]]
}

@test "drops beyond the default 10% are refused with exit 3" {
	for i in $(seq 1 100); do
		echo "{\"course\":\"C1\",\"user\":\"u$i\",\"role\":\"student\"}"
	done >"$T/a"
	head -n 90 "$T/a" >"$T/d90"
	head -n 89 "$T/a" >"$T/d89"
	run --separate-stderr enroll-diff "$T/d90" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 10 ]
	run --separate-stderr enroll-diff "$T/d89" "$T/a"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: refusing 11 drops: more than --max-drop 10% of the 100 ACTUAL records (10); a higher --max-drop overrides" ]
	run --separate-stderr enroll-diff --max-drop 11% "$T/d89" "$T/a"
	assert_success
	[ "${#lines[@]}" -eq 11 ]
	run --separate-stderr enroll-diff --max-drop 10.5% "$T/d89" "$T/a"
	assert_failure 3
}

@test "--max-drop N is a count" {
	run --separate-stderr enroll-diff --max-drop 1 "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_failure 3
	[ -z "$output" ]
	[ "$stderr" = "enroll-diff: refusing 2 drops: more than --max-drop 1; a higher --max-drop overrides" ]
	run --separate-stderr enroll-diff --max-drop 2 "$F/basic.desired.ndjson" "$F/basic.actual.ndjson"
	assert_success
	[ "${#lines[@]}" -eq 4 ]
}

@test "--max-drop percentages count ACTUAL records of the --roles given" {
	# 10 students and 10 teachers; 2 students go: 20% of students
	for i in $(seq 1 10); do
		echo "{\"course\":\"C1\",\"user\":\"s$i\",\"role\":\"student\"}"
		echo "{\"course\":\"C1\",\"user\":\"t$i\",\"role\":\"teacher\"}"
	done >"$T/a"
	grep -v '"s[12]"' "$T/a" >"$T/d"
	run --separate-stderr enroll-diff --max-drop 10% "$T/d" "$T/a"
	assert_success
	run --separate-stderr enroll-diff --roles student --max-drop 10% "$T/d" "$T/a"
	assert_failure 3
	[[ "$stderr" == *"refusing 2 drops: more than --max-drop 10% of the 10 ACTUAL records of the roles given by --roles (1)"* ]]
	run --separate-stderr enroll-diff --roles student --max-drop 20% "$T/d" "$T/a"
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
		enroll-diff -q --max-drop 100% "$d/d" "$d/a" >"$d/out"
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
