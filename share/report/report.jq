# report.jq - a pipeline run's report.html: one static page to look at,
# with no script and nothing fetched (inline CSS, inline SVG charts, and a
# Content-Security-Policy that forbids both should anything slip in).
#
# Run by ep_report (scripts/lib/pipeline.sh) as
#
#   jq -n -r -R --rawfile status RUN/status.json --arg stamp STAMP \
#      --arg changes FILE --arg refused FILE --arg skipped FILE \
#      --arg history FILE --arg err FILE -f report.jq FILE...
#
# where FILE... are those of the named files that exist, read as raw
# lines and told apart by input_filename: the change set (NDJSON), the
# change set the safety limit refused, the courses lms-fetch skipped, the
# work directory's history.ndjson and the failed step's stderr.  A line
# that is not JSON (a file cut short by a kill) is counted, not fatal.
#
# Every value shown passes `mask` (the passwords and tokens of URLs, as
# ep_url_mask masks them, and the secrets the run was given, in
# $ENV.EP_REPORT_SECRETS, one a line) and then @html, so a course named
# <script> is text, never markup.

(($ENV.EP_REPORT_SECRETS // "") | split("\n") | map(select(length >= 8)))
	as $secrets
| ($status | fromjson? // {}) as $st
| (if ($st | type) == "object" then $st else {} end) as $st

# mask: a value fit to show.
| def mask:
	tostring
	| if test("://|=") then
		gsub("(?<a>[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\\s:]*):[^/?#@\\s]*@";
			"\(.a):****@")
		| gsub("(?<a>[?&;](wstoken|token|access_token|password|passwd|pwd|key|secret|sig|signature)=)[^&#\\s]*";
			"\(.a)****"; "i")
	  else . end
	| reduce $secrets[] as $s (.;
		if index($s) then split($s) | join("****") else . end);
# h: masked and HTML-escaped (text and attribute values alike).
def h: mask | @html;
def n: if . == null then "\u2013" else tostring end;
def r1: . * 10 | round / 10;
def dur:
	if . == null then "?"
	elif . < 60 then "\(r1) s"
	else "\(. / 60 | floor) min \(floor % 60) s" end;
# The status shown: a failure of the safety limit (exit 3) is "refused"
# (status.json says so itself; runs of older versions said "failed").
def shown: if .status == "failed" and .exit == 3 then "refused"
	else (.status // "unknown") end;
def cls: if IN("ok", "partial", "refused", "failed", "killed") then .
	else "other" end;
# counted: a line of tally.jq's output counted by uniq -c, as {n, k}.
def counted:
	capture("^ *(?<n>[0-9]+) (?<k>.*)$")?
	| {n: (.n | tonumber), k: (.k | fromjson? // "bad")};
# rows: the counted lines of a change file as one row a course, the
# largest first (ties: more drops, then the name).
def rows:
	[.[] | counted | select(.k | type == "array")
		| {op: .k[0], course: .k[1], n}]
	| group_by(.course)
	| map({course: .[0].course,
		add: (map(select(.op == "add") | .n) | add // 0),
		drop: (map(select(.op == "drop") | .n) | add // 0),
		update: (map(select(.op == "update") | .n) | add // 0)}
		| .total = .add + .drop + .update
		| select(.total > 0))
	| sort_by(-.total, -.drop, .course);
def nbad: [.[] | counted | select(.k == "bad") | .n] | add // 0;
def total: [.[].total] | add // 0;
def attr($k; $v): " \($k)=\"\($v)\"";

# The table of a tally's rows (at most 1000; the rest counted).
def course_table($rows; $what):
	if ($rows | length) == 0 then "<p>No \($what).</p>\n"
	else "<table class=\"num\"><thead><tr><th>course</th><th>add</th>"
		+ "<th>drop</th><th>update</th><th>total</th></tr></thead>"
		+ "<tbody>\n"
		+ ([$rows[:1000][] | "<tr><td>\(.course | h)</td><td>\(.add)"
			+ "</td><td>\(.drop)</td><td>\(.update)</td><td>"
			+ "\(.total)</td></tr>\n"] | join(""))
		+ "</tbody></table>\n"
		+ (if ($rows | length) > 1000 then
			"<p>\(($rows | length) - 1000) more courses, the "
			+ "smallest, are not listed.</p>\n" else "" end)
	end;

# A horizontal bar chart of the 30 largest rows: adds, drops and updates
# side by side in one bar per course.
def course_chart($rows; $title):
	$rows[:30] as $top
	| ([$top[].total] | max // 0) as $max
	| if ($top | length) == 0 or $max == 0 then ""
	  else 1100 as $w | 330 as $lx | 660 as $bw | 22 as $rh | 30 as $y0
	  | ($y0 + ($top | length) * $rh + 6) as $ht
	  | "<figure><svg class=\"chart\" role=\"img\""
		+ attr("width"; $w) + attr("height"; $ht)
		+ attr("viewBox"; "0 0 \($w) \($ht)")
		+ attr("aria-label"; $title | h) + ">\n"
		+ "<rect x=\"\($lx)\" y=\"6\" width=\"12\" height=\"12\" class=\"add\"/>"
		+ "<text x=\"\($lx + 16)\" y=\"16\">add</text>"
		+ "<rect x=\"\($lx + 60)\" y=\"6\" width=\"12\" height=\"12\" class=\"drop\"/>"
		+ "<text x=\"\($lx + 76)\" y=\"16\">drop</text>"
		+ "<rect x=\"\($lx + 125)\" y=\"6\" width=\"12\" height=\"12\" class=\"update\"/>"
		+ "<text x=\"\($lx + 141)\" y=\"16\">update</text>\n"
		+ ([range(0; $top | length) as $i | $top[$i]
			| ($y0 + $i * $rh) as $y
			| ($bw * .add / $max | r1) as $a
			| ($bw * .drop / $max | r1) as $d
			| ($bw * .update / $max | r1) as $u
			| (.course | if length > 44 then .[:43] + "\u2026"
				else . end) as $lab
			| "<g><title>\(.course | h): \(.add) add, \(.drop) drop,"
			+ " \(.update) update</title>"
			+ "<text x=\"\($lx - 8)\" y=\"\($y + 15)\" text-anchor=\"end\">"
			+ "\($lab | h)</text>"
			+ "<rect class=\"add\" x=\"\($lx)\" y=\"\($y + 3)\""
			+ " width=\"\($a)\" height=\"16\"/>"
			+ "<rect class=\"drop\" x=\"\($lx + $a)\" y=\"\($y + 3)\""
			+ " width=\"\($d)\" height=\"16\"/>"
			+ "<rect class=\"update\" x=\"\($lx + $a + $d)\""
			+ " y=\"\($y + 3)\" width=\"\($u)\" height=\"16\"/>"
			+ "<text x=\"\($lx + $a + $d + $u + 6)\" y=\"\($y + 15)\">"
			+ "\(.add) / \(.drop) / \(.update)</text></g>\n"]
			| join(""))
		+ "</svg><figcaption>\($title | h)"
		+ (if ($rows | length) > 30 then
			" (the 30 largest of \($rows | length) courses)"
			else "" end)
		+ "</figcaption></figure>\n"
	  end;

# Adds (up, with refused changes stacked on them) and drops (down) of
# each run of the history, oldest first; this run on a yellow band, a
# run that counted nothing but did not end ok as a grey mark.
def trend($runs; $stamp):
	($runs | length) as $n
	| if $n == 0 then "<p>No runs recorded in the last 30 days.</p>\n"
	  else
		def up: (.counts.add // 0) + (.counts.refused // 0);
		def down: (.counts.drop // 0);
		1100 as $w | 70 as $left | 1010 as $pw | 24 as $top
		| 240 as $ph | ($top + $ph + 44) as $ht
		| ([$runs[] | up] | max) as $mu
		| ([$runs[] | down] | max) as $md
		| (if $mu + $md == 0 then 1 else $mu + $md end) as $range
		| ($ph / $range) as $sc
		| ($top + $mu * $sc | r1) as $base
		| ([$pw / $n, 60] | min) as $bwid
		| (if $bwid > 4 then $bwid * 0.2 else 0 end) as $gap
		| "<figure><svg class=\"chart\" role=\"img\""
		+ attr("width"; $w) + attr("height"; $ht)
		+ attr("viewBox"; "0 0 \($w) \($ht)")
		+ " aria-label=\"changes per run, last 30 days\">\n"
		+ "<rect x=\"\($left)\" y=\"4\" width=\"12\" height=\"12\" class=\"add\"/>"
		+ "<text x=\"\($left + 16)\" y=\"14\">add</text>"
		+ "<rect x=\"\($left + 60)\" y=\"4\" width=\"12\" height=\"12\" class=\"drop\"/>"
		+ "<text x=\"\($left + 76)\" y=\"14\">drop</text>"
		+ "<rect x=\"\($left + 125)\" y=\"4\" width=\"12\" height=\"12\" class=\"refused\"/>"
		+ "<text x=\"\($left + 141)\" y=\"14\">refused</text>"
		+ "<rect x=\"\($left + 215)\" y=\"4\" width=\"12\" height=\"12\" class=\"none\"/>"
		+ "<text x=\"\($left + 231)\" y=\"14\">failed, nothing counted</text>"
		+ "<rect x=\"\($left + 420)\" y=\"4\" width=\"12\" height=\"12\" class=\"this\"/>"
		+ "<text x=\"\($left + 436)\" y=\"14\">this run</text>\n"
		+ ([range(0; $n) as $i | $runs[$i]
			| ($left + $i * $bwid + $gap / 2 | r1) as $x
			| ($bwid - $gap | r1) as $bw
			| ((.counts.add // 0) * $sc | r1) as $ha
			| ((.counts.refused // 0) * $sc | r1) as $hr
			| (down * $sc | r1) as $hd
			| "<g><title>\(.stamp | h) \(shown | h): "
			+ "\(.counts.add | n) add, \(.counts.drop | n) drop, "
			+ "\(.counts.refused // 0) refused</title>"
			+ (if .stamp == $stamp then
				"<rect class=\"this\" x=\"\($left + $i * $bwid | r1)\""
				+ " y=\"\($top)\" width=\"\($bwid | r1)\""
				+ " height=\"\($ph)\"/>" else "" end)
			+ (if $ha > 0 then "<rect class=\"add\" x=\"\($x)\""
				+ " y=\"\($base - $ha)\" width=\"\($bw)\""
				+ " height=\"\($ha)\"/>" else "" end)
			+ (if $hr > 0 then "<rect class=\"refused\" x=\"\($x)\""
				+ " y=\"\($base - $ha - $hr)\" width=\"\($bw)\""
				+ " height=\"\($hr)\"/>" else "" end)
			+ (if $hd > 0 then "<rect class=\"drop\" x=\"\($x)\""
				+ " y=\"\($base)\" width=\"\($bw)\""
				+ " height=\"\($hd)\"/>" else "" end)
			+ (if up + down == 0 and (shown | IN("ok", "partial")
				| not) then "<rect class=\"none\" x=\"\($x)\""
				+ " y=\"\($base - 3)\" width=\"\($bw)\""
				+ " height=\"6\"/>" else "" end)
			+ "</g>\n"] | join(""))
		+ "<line class=\"axis\" x1=\"\($left)\" y1=\"\($base)\""
		+ " x2=\"\($left + $pw)\" y2=\"\($base)\"/>"
		+ "<line class=\"axis\" x1=\"\($left)\" y1=\"\($top)\""
		+ " x2=\"\($left)\" y2=\"\($top + $ph)\"/>"
		+ "<text x=\"\($left - 6)\" y=\"\($top + 10)\" text-anchor=\"end\">"
		+ "\($mu)</text>"
		+ "<text x=\"\($left - 6)\" y=\"\($base + 4)\" text-anchor=\"end\">"
		+ "0</text>"
		+ (if $md > 0 then "<text x=\"\($left - 6)\" y=\"\($top + $ph)\""
			+ " text-anchor=\"end\">\u2212\($md)</text>" else "" end)
		+ "<text x=\"\($left)\" y=\"\($top + $ph + 20)\">"
		+ "\($n) run(s), \($runs[0].started // "" | h) to "
		+ "\($runs[-1].started // "" | h)</text>\n"
		+ "</svg><figcaption>Adds (up) and drops (down) of each run "
		+ "in the 30 days up to this one, oldest first.</figcaption>"
		+ "</figure>\n"
	  end;

def section($id; $title; $body):
	"<section id=\"\($id)\"><h2>\($title | h)</h2>\n\($body)</section>\n";

# Every input line with its file's name (the change files come counted,
# see tally.jq, so all of this is small), then each file's part.
(try ($st.started | fromdateiso8601) catch null) as $now
| [inputs as $l | {f: input_filename, l: $l}] as $all
| def lines($name):
	if $name == "" then [] else [$all[] | select(.f == $name) | .l] end;
(lines($changes)) as $cl
| (lines($refused)) as $rl
| [lines($skipped)[] | select(test("\\S")) | fromjson? // null] as $sk
| {crows: ($cl | rows), rrows: ($rl | rows),
	bad: (($cl | nbad) + ($rl | nbad)
		+ ([$sk[] | select(type != "object")] | length)),
	skipped: [$sk[] | select(type == "object")],
	history: [lines($history)[] | fromjson? | select(type == "object"
		and .script == $st.script and ($now == null or
		((try (.started | fromdateiso8601) catch 0)
		>= $now - 30 * 86400)))],
	err: lines($err)[-40:]} as $in
| ($st | shown) as $status
| $in.crows as $crows
| $in.rrows as $rrows
| ($st.script // "run") as $script

| "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
+ "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
+ "'none'; style-src 'unsafe-inline'\">\n"
+ "<meta name=\"viewport\" content=\"width=device-width\">\n"
+ "<title>\($script | h) \($stamp | h): \($status | h)</title>\n"
+ "<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em auto;
  max-width: 1120px; color: #212121; padding: 0 1em; }
h1 { margin: 0; font-size: 1.8em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 1.6em; }
header.status { color: #fff; padding: .8em 1.2em; border-radius: 6px; }
.s-ok { background: #2e7d32; } .s-partial { background: #b26a00; }
.s-refused { background: #d84315; } .s-failed { background: #b71c1c; }
.s-killed { background: #4a148c; } .s-other { background: #616161; }
header.status p { margin: .3em 0 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dt { font-weight: 600; } dd { margin: 0; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .2em .6em; text-align: left; }
thead th { background: #eee; }
table.num td + td { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f5f5f5; padding: .6em; overflow-x: auto;
  white-space: pre-wrap; }
figure { margin: .8em 0; } figcaption { color: #555; font-size: .9em; }
svg.chart { font: 12px system-ui, sans-serif; max-width: 100%; height: auto; }
svg .add { fill: #2e7d32; } svg .drop { fill: #c62828; }
svg .update { fill: #1565c0; } svg .refused { fill: #ef6c00; }
svg .none { fill: #9e9e9e; } svg .this { fill: #fff3c4; }
svg .axis { stroke: #424242; stroke-width: 1; }
.warn { color: #b71c1c; }
</style>\n</head>\n<body>\n"

+ "<header class=\"status s-\($status | cls)\">"
+ "<h1>\($script | h): \($status | ascii_upcase | h)</h1>"
+ "<p>run \($stamp | h), exit status \($st.exit | n | h)"
+ (if $st.failed_step then ", step \($st.failed_step | h)" else "" end)
+ (if $st.signal then ", \($st.signal | h)" else "" end)
+ (if $st.dry_run == true then " (dry run)" else "" end)
+ "</p></header>\n"

+ section("summary"; "Summary";
	"<dl>"
	+ "<dt>script</dt><dd>\($script | h)</dd>"
	+ "<dt>run</dt><dd>\($stamp | h)</dd>"
	+ "<dt>status</dt><dd>\($status | h), exit \($st.exit | n | h)</dd>"
	+ "<dt>started</dt><dd>\($st.started | n | h)</dd>"
	+ "<dt>ended</dt><dd>\($st.ended | n | h)</dd>"
	+ "<dt>duration</dt><dd>\($st.duration_s | dur | h)</dd>"
	+ "<dt>version</dt><dd>edpipe \($st.version // "?" | h)</dd>"
	+ "<dt>changes</dt><dd>\($st.counts.add | n) add, "
	+ "\($st.counts.drop | n) drop, \($st.counts.update | n) update; "
	+ "\($st.counts.refused // 0 | n | h) refused; "
	+ "\($st.skipped_courses // [] | length) skipped course(s)</dd>"
	+ "<dt>sent</dt><dd>"
	+ (if $st.artefact then "\($st.artefact.name | h), "
		+ "\($st.artefact.size | n | h) bytes, sha256 "
		+ "\($st.artefact.sha256 | h), "
		+ (if $st.artefact.sent then "sent to \($st.artefact.url | h)"
		else "not sent" end)
		else "nothing" end) + "</dd>"
	+ "</dl>\n"
	+ (if $in.bad > 0 then "<p class=\"warn\">\($in.bad) line(s) of "
		+ "the run's files were not JSON (a file cut short?) and are "
		+ "not counted here.</p>\n" else "" end))

+ (if ($in.err | length) > 0 then
	section("messages"; "Messages of step \($st.failed_step // "")";
		"<pre>\($in.err | join("\n") | h)</pre>\n")
	else "" end)

+ section("steps"; "Steps";
	if ($st.steps // [] | length) == 0 then "<p>No step ran.</p>\n"
	else "<table class=\"num\"><thead><tr><th>step</th><th>status</th>"
		+ "<th>exit</th><th>seconds</th><th>records in</th>"
		+ "<th>records out</th><th>output</th></tr></thead><tbody>\n"
		+ ([$st.steps[] | "<tr><td>\(.name | h)</td><td>\(.status | h)"
			+ "</td><td>\(.exit | n | h)</td><td>\(.duration_s | n | h)"
			+ "</td><td>\(.records_in | n | h)</td><td>"
			+ "\(.records_out | n | h)</td><td>\(.output | n | h)"
			+ "</td></tr>\n"] | join(""))
		+ "</tbody></table>\n"
	end)

+ section("changes"; "Changes per course";
	if $changes == "" then "<p>This run made no change set.</p>\n"
	else "<p>\(($crows | total)) change(s) in \($crows | length) course(s)"
		+ (if $st.uploaded == true then ", sent" else ", not sent" end)
		+ ".</p>\n"
		+ course_chart($crows; "adds, drops and updates per course")
		+ course_table($crows; "changes")
	end)

+ (if ($rrows | total) > 0 then
	section("refused"; "Refused change set";
		"<p class=\"warn\">The safety limit refused \(($rrows | total)) "
		+ "change(s) in \($rrows | length) course(s); nothing of them "
		+ "was sent.  Why: see the messages above.</p>\n"
		+ course_chart($rrows; "refused adds, drops and updates per course")
		+ course_table($rrows; "refused changes"))
	else "" end)

+ section("skipped"; "Skipped courses";
	(if ($in.skipped | length) > 0 then $in.skipped
	else [($st.skipped_courses // [])[] | {course: .}] end) as $sk
	| if ($sk | length) == 0 then "<p>No course was skipped.</p>\n"
	else "<p>Left alone this run: the LMS could not give their "
		+ "rosters.</p>\n<table><thead><tr><th>course</th><th>id</th>"
		+ "<th>reason</th></tr></thead><tbody>\n"
		+ ([$sk[] | "<tr><td>\(.course | n | h)</td><td>"
			+ "\(.course_id | n | h)</td><td>\(.reason | n | h)"
			+ "</td></tr>\n"] | join(""))
		+ "</tbody></table>\n"
	end)

+ section("trend"; "Changes per run, last 30 days"; trend($in.history; $stamp))

+ "<footer><p>edpipe \($st.version // "?" | h), \($st.run // "" | h)"
+ "</p></footer>\n</body>\n</html>"
