#!/usr/bin/env bats
# yaml-json: the seed's own YAML examples, scalars, aliases and their
# limits, and every bad input (exit 65, FILE:LINE, nothing written).

load helper
bats_require_minimum_version 1.5.0

setup() {
	need jq python3
	D=$FIX/replicate
	T=$BATS_TEST_TMPDIR
}

@test "common options: --help, --version, unknown option" {
	common_cli_checks yaml-json
}

@test "the seed's tablelist.yaml: one document, its schedule's tables" {
	run --separate-stderr yaml-json "$D/tablelist.yaml"
	assert_success
	assert_output '{"all":["tmp_example_table","tmp_example_table2","tmp_example_table3"]}'
	[ -z "$stderr" ]
}

@test "the seed's tablesconf.yaml as its text has it is refused naming the line" {
	# Its sql value holds unescaped double quotes inside double quotes.
	run --separate-stderr yaml-json -o "$T/out.ndjson" "$D/tablesconf-seed.yaml"
	assert_failure 65
	[[ "$stderr" == "yaml-json: $D/tablesconf-seed.yaml:16: did not find expected key"* ]]
	[ -z "$output" ]
	[ ! -e "$T/out.ndjson" ]
	# nor its temporary file
	! ls -A "$T" | grep -q out
}

@test "the corrected tablesconf.yaml: terms and tables as Python's yaml reads them" {
	python3 -c "import yaml" 2>/dev/null || skip "no PyYAML (python3-yaml)"
	run --separate-stderr yaml-json "$D/tablesconf.yaml"
	assert_success
	want=$(python3 -c 'import json, sys, yaml
print(json.dumps(yaml.safe_load(open(sys.argv[1])), separators=(",", ":")))' \
		"$D/tablesconf.yaml")
	[ "$(jq -S . <<<"$output")" = "$(jq -S . <<<"$want")" ]
	run jq -r '.terms.upcoming, .tmp_example_table.toggle' <<<"$output"
	assert_output "$(printf "%s\n" "('2199', '2201')" on)"
}

@test "scalars: plain numbers, booleans and nulls; everything else a string" {
	printf '%s\n' 'a: 1' 'b: -2.5' 'c: true' 'd: False' 'e: ~' 'f:' \
		'g: "1"' 'h: on' 'i: yes' 'j: 0755' 'k: 99999999999999999999' \
		"l: 'null'" 'm: 1e3' 'n: .inf' >"$T/s.yaml"
	run --separate-stderr yaml-json "$T/s.yaml"
	assert_success
	assert_output '{"a":1,"b":-2.5,"c":true,"d":false,"e":null,"f":null,"g":"1","h":"on","i":"yes","j":"0755","k":"99999999999999999999","l":"null","m":1000.0,"n":".inf"}'
}

@test "several documents and files: a line each, or one array with -t json" {
	printf -- '---\na: 1\n---\n[x, y]\n---\n' >"$T/m.yaml"
	printf 'z\n' >"$T/z.yaml"
	run --separate-stderr yaml-json "$T/m.yaml" - <"$T/z.yaml"
	assert_success
	assert_output "$(printf '%s\n' '{"a":1}' '["x","y"]' null '"z"')"
	run --separate-stderr yaml-json -t json "$T/m.yaml" "$T/z.yaml"
	assert_output '[{"a":1},["x","y"],null,"z"]'
	run --separate-stderr yaml-json -o "$T/o.ndjson" "$T/m.yaml"
	assert_success
	[ "$(grep -c . "$T/o.ndjson")" -eq 3 ]
	run --separate-stderr yaml-json -t yaml "$T/m.yaml"
	assert_failure 2
	[[ "$stderr" == *"unknown format 'yaml' (ndjson, json)"* ]]
}

@test "aliases: expanded, but a billion laughs is refused (65), so is a loop" {
	printf '%s\n' 'base: &b {k: v}' 'copy: *b' >"$T/a.yaml"
	run --separate-stderr yaml-json "$T/a.yaml"
	assert_output '{"base":{"k":"v"},"copy":{"k":"v"}}'
	{
		echo 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
		p=a
		for l in b c d e f g h i; do
			printf '%s: &%s [%s]\n' "$l" "$l" \
				"$(printf "*$p,%.0s" 1 2 3 4 5 6 7 8 | sed 's/,$//'),*$p"
			p=$l
		done
	} >"$T/lol.yaml"
	run --separate-stderr timeout 10 yaml-json -o "$T/lol.ndjson" "$T/lol.yaml"
	assert_failure 65
	[[ "$stderr" == "yaml-json: $T/lol.yaml:"*": the document expands to more than --max-nodes nodes (aliases)" ]]
	[ ! -e "$T/lol.ndjson" ]
	# The bytes of the scalars count too.
	run --separate-stderr yaml-json --max-bytes 500 "$T/lol.yaml"
	assert_failure 65
	[[ "$stderr" == *"expands to more than --max-bytes bytes (aliases)" ]]
	printf 'a: &x [1, *x]\n' >"$T/loop.yaml"
	run --separate-stderr yaml-json "$T/loop.yaml"
	assert_failure 65
	assert_equal "$stderr" "yaml-json: $T/loop.yaml:1: an alias refers to a node that contains it"
}

@test "limits: file size, nesting depth; bad keys and bad YAML (65, FILE:LINE)" {
	printf 'a: [[[[1]]]]\n' >"$T/deep.yaml"
	run --separate-stderr yaml-json --max-depth 4 "$T/deep.yaml"
	assert_failure 65
	assert_equal "$stderr" "yaml-json: $T/deep.yaml:1: nested deeper than --max-depth"
	run --separate-stderr yaml-json --max-depth 5 "$T/deep.yaml"
	assert_success
	run --separate-stderr yaml-json --max-bytes 5 "$T/deep.yaml"
	assert_failure 65
	[[ "$stderr" == *"deep.yaml: larger than --max-bytes (5 bytes)" ]]
	printf 'a: 1\nb: 2\na: 3\n' >"$T/dup.yaml"
	run --separate-stderr yaml-json "$D/tablelist.yaml" "$T/dup.yaml"
	assert_failure 65
	assert_equal "$stderr" "yaml-json: $T/dup.yaml:3: the key 'a' appears twice in one mapping"
	# Nothing of the good file before it was written either.
	[ -z "$output" ]
	printf 'x: 1\n? [a]\n: 2\n' >"$T/key.yaml"
	run --separate-stderr yaml-json "$T/key.yaml"
	assert_failure 65
	assert_equal "$stderr" "yaml-json: $T/key.yaml:2: a mapping key must be a scalar"
	run --separate-stderr yaml-json "$T/nosuch.yaml"
	assert_failure 66
	run --separate-stderr yaml-json --max-depth 0 "$T/deep.yaml"
	assert_failure 2
}
