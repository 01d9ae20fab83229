# tally.jq - the records of a change file as [op, course] lines, for
# `sort | uniq -c` to count (jq 1.6 copies an object for each record
# counted into it: minutes for a change set of a million records, in
# 2,000 courses).  A line that is not a JSON object (a file cut short
# by a kill) is "bad"; empty lines are skipped.  Run as
#   jq -n -R -c -f tally.jq FILE | LC_ALL=C sort | LC_ALL=C uniq -c
# report.jq reads the result.
inputs
| select(. != "")
| (fromjson? // null) as $r
| if ($r | type) == "object" then
	[($r.op // "" | tostring),
	 ($r.course // $r.course_id // "(no course)" | tostring)]
  else "bad" end
