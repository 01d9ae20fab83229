# shellcheck shell=bash
# pipeline.sh - what the edpipe pipeline scripts share.  Sourced, not run.
#
# The including script sets PROG, USAGE (its help text) and CONF_VARS (the
# configuration variables it knows), then calls, in this order:
#
#   ep_init "$@"          options -c FILE -n -q -v -h, the configuration
#   ep_require NAME...    variables that must be set
#   ep_need PROG...       programs that must be on PATH
#   ep_lock               flock: one run at a time
#   ep_start_run          the run directory, its log, status.json at exit
#   ep_step NAME CMD...   each step; a failure ends the run, naming NAME
#
# Every run keeps its files in $EDPIPE_WORK_DIR/runs/STAMP/ (STAMP is the
# UTC start time), with a symlink `last` to the newest: the records of
# every step, STEP.err (what the step printed on stderr), run.log,
# status.json and report.html (ep_report).  Each run ends with one line appended to
# $EDPIPE_WORK_DIR/history.ndjson (never pruned), and a run that ended
# "ok" moves the symlink `last-ok`.  Runs older than $EDPIPE_KEEP_DAYS
# days are removed (never the one last-ok names), and so are the
# timestamped copies conduit-fmt --log-dir left in $EDPIPE_LOG_DIR.
#
# status.json, per step: its exit status, duration, and counts of
# records: records_in, the non-empty lines of the .ndjson files named as
# its operands; records_out, the non-empty lines it wrote to its .ndjson
# output (its standard output, --output FILE, or an operand it created);
# null where it has no such file.
#
# A run that does not end "ok" (failed, refused, partial, killed) runs
# $EDPIPE_NOTIFY once, with EDPIPE_RUN_DIR, EDPIPE_STATUS, EDPIPE_EXIT and
# EDPIPE_SCRIPT in its environment and status.json on its stdin, for at
# most $EDPIPE_NOTIFY_TIMEOUT seconds; its failure is logged and never
# changes the run's exit status.
#
# Exit status: a failed step's own status (3 safety limit, 65 bad data,
# 69 service unavailable, 77 refused ...); 2 usage; 66 configuration file
# missing; 75 another run holds the lock; 78 bad configuration; 128+N
# when killed by signal N (the step in progress is stopped first).

# Run files hold student names and e-mail addresses: owner-only, whatever
# umask cron or the caller left (the systemd unit sets one too).
umask 077
# Values are split into words (SIS_PARAMS, CANVAS_TERMS ...) but never
# globbed: a '*' in a value stays a '*', whatever the current folder holds.
set -f

# Options, set by ep_init.
DRY_RUN=0
QUIET=0
VERBOSE=0
CONF=
RUN=
STEP=
RUN_LOG=/dev/null
STARTED=
UPLOADED=false
KILLED=
STEP_PID=
REFUSED_FILE=
STEPS=()
STEP_T0=
STEP_OPEN=
STEP_IN=
STEP_OUT_FILE=
STEP_OUT_BEFORE=0
EP_T0=
EP_VERSION=
EP_COUNTS='{}'

# Where the programs and share/ are, relative to this file: written in by
# `make install` (the placeholders below: the installed tree can be moved
# as a whole, or tried out under DESTDIR); in a checkout, where they are
# left as they are, bin/ and share/ of the checkout.
EP_BINDIR='@LIB_TO_BIN@'
EP_DATADIR='@LIB_TO_DATA@'
case $EP_BINDIR in @*) EP_BINDIR=../../bin EP_DATADIR=../../share ;; esac
EP_BINDIR=${BASH_SOURCE[0]%/*}/$EP_BINDIR
EP_DATADIR=$(cd "${BASH_SOURCE[0]%/*}/$EP_DATADIR" && pwd)

ep_die() {
	local code=$1
	shift
	printf '%s: %s\n' "$PROG" "$*" >&2
	ep_log "error: $*"
	exit "$code"
}

# ep_error MESSAGE: an error that does not end the run.
ep_error() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	ep_log "error: $*"
}

ep_warn() {
	[ "$QUIET" = 1 ] || printf '%s: warning: %s\n' "$PROG" "$*" >&2
	ep_log "warning: $*"
}

ep_say() {
	[ "$QUIET" = 1 ] || printf '%s: %s\n' "$PROG" "$*" >&2
	ep_log "$*"
}

# ep_now VAR: the UTC time, ISO 8601 (no process: runs are short and
# every fork counts on a loaded machine).
ep_now() {
	local TZ=UTC0
	printf -v "$1" '%(%Y-%m-%dT%H:%M:%SZ)T' -1
}

ep_log() {
	local now
	[ "$RUN_LOG" != /dev/null ] || return 0
	ep_now now
	printf '%s %s\n' "$now" "$*" >>"$RUN_LOG" 2>/dev/null || true
}

ep_usage() {
	printf '%s\n' "$USAGE"
	exit 0
}

ep_usage_error() {
	printf '%s: %s\n' "$PROG" "$1" >&2
	printf '%s\n' "$USAGE" | sed -n '1,/^$/p' | sed '/^$/d' >&2
	printf "try '%s -h'\n" "$PROG" >&2
	exit 2
}

ep_known() {
	local v
	for v in "${CONF_VARS[@]}" EDPIPE_WORK_DIR EDPIPE_KEEP_DAYS \
		EDPIPE_LOCK_WAIT EDPIPE_BIN EDPIPE_SHARE EDPIPE_NOTIFY \
		EDPIPE_NOTIFY_TIMEOUT; do
		[ "$v" != "$1" ] || return 0
	done
	return 1
}

# ep_load_conf FILE: the NAME=VALUE lines of FILE (systemd
# EnvironmentFile syntax: VALUE bare, "double" or 'single' quoted, never
# expanded; blank lines and # comments ignored).  A name the script does
# not know is an error, so is a secret.  A variable already set in the
# environment wins over the file.
ep_load_conf() {
	local file=$1 line n=0 name value
	[ -e "$file" ] || ep_die 66 "configuration '$file' does not exist"
	[ -r "$file" ] || ep_die 77 "configuration '$file' is not readable"
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line#"${line%%[![:space:]]*}"}
		case $line in '' | '#'*) continue ;; esac
		line=${line#export }
		if [[ ! $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
			ep_die 78 "$file:$n: not a NAME=VALUE line"
		fi
		name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
		case $name in
		*PASSWORD | *TOKEN | *PASSPHRASE | *SECRET | *_KEY)
			ep_die 78 "$file:$n: $name is a secret: keep it in" \
				"the environment or in an owner-only file" \
				"named by ${name}_FILE, never in the configuration"
			;;
		esac
		if ! ep_known "$name"; then
			# EP_CONF_LAX=1 (edpipe-runs, reading some script's
			# file): a name this script does not know is skipped.
			[ "${EP_CONF_LAX:-0}" = 1 ] && continue
			ep_die 78 "$file:$n: unknown variable '$name'"
		fi
		if [[ $value =~ ^\"(.*)\"[[:space:]]*$ ]] ||
			[[ $value =~ ^\'(.*)\'[[:space:]]*$ ]]; then
			value=${BASH_REMATCH[1]}
		else
			value=${value%%[[:space:]]#*}
			value=${value%"${value##*[![:space:]]}"}
		fi
		[ -n "${!name+x}" ] || printf -v "$name" '%s' "$value"
	done <"$file"
}

# A command that fails outside ep_step (a bug, a full disk) must not end
# the run silently: say where, and exit 70.
ep_unexpected() {
	local after=
	trap - ERR
	[ -z "$STEP" ] || after=" after step '$STEP'"
	ep_die 70 "unexpected failure (status $1) at line $2 of" \
		"$PROG$after; nothing uploaded${RUN:+; run files in $RUN}"
}

ep_init() {
	local o
	set -E
	trap 'ep_unexpected $? $LINENO' ERR
	case ${1:-} in --help) ep_usage ;; esac
	while getopts ':c:nqvh' o; do
		case $o in
		c) CONF=$OPTARG ;;
		n) DRY_RUN=1 ;;
		q) QUIET=1 VERBOSE=0 ;;
		v) VERBOSE=1 QUIET=0 ;;
		h) ep_usage ;;
		:) ep_usage_error "option -$OPTARG needs an argument" ;;
		*) ep_usage_error "unknown option '-$OPTARG'" ;;
		esac
	done
	shift $((OPTIND - 1))
	# shellcheck disable=SC2034 # the operands, for the script
	ARGS=("$@")
	CONF=${CONF:-${EDPIPE_CONF:-}}
	[ -z "$CONF" ] || ep_load_conf "$CONF"
	if [ -n "${EDPIPE_BIN:-}" ]; then
		PATH=$EDPIPE_BIN:$PATH
	elif [ -x "$EP_BINDIR/enroll-diff" ]; then
		PATH=$EP_BINDIR:$PATH
	fi
	ep_no_passwords
	: "${EDPIPE_SHARE:=$EP_DATADIR}"
	: "${EDPIPE_WORK_DIR:=/var/lib/edpipe/$PROG}"
	: "${EDPIPE_KEEP_DAYS:=14}"
	: "${EDPIPE_LOCK_WAIT:=0}"
	: "${EDPIPE_NOTIFY:=}"
	: "${EDPIPE_NOTIFY_TIMEOUT:=60}"
	[[ $EDPIPE_KEEP_DAYS =~ ^[0-9]+$ ]] ||
		ep_die 78 "EDPIPE_KEEP_DAYS must be a number of days"
	[[ $EDPIPE_LOCK_WAIT =~ ^[0-9]+$ ]] ||
		ep_die 78 "EDPIPE_LOCK_WAIT must be a number of seconds"
	if [[ ! $EDPIPE_NOTIFY_TIMEOUT =~ ^[0-9]+$ ]] ||
		[ "$EDPIPE_NOTIFY_TIMEOUT" -eq 0 ]; then
		ep_die 78 "EDPIPE_NOTIFY_TIMEOUT must be a number of seconds"
	fi
	export PATH
}

# ep_mask_url URL: URL with the password of its user part as ****.
ep_mask_url() {
	local url=$1 rest auth user
	case $url in *://*) ;; *) printf '%s' "$url"; return 0 ;; esac
	rest=${url#*://}
	auth=${rest%%[/?#]*}
	case $auth in *@*) ;; *) printf '%s' "$url"; return 0 ;; esac
	user=${auth%@*}
	case $user in *:*) ;; *) printf '%s' "$url"; return 0 ;; esac
	printf '%s://%s:****@%s' "${url%%://*}" "${user%%:*}" "${rest#"$user"@}"
}

# ep_no_password NAME VALUE: refuse (78) a URL with a password in it,
# user:PASSWORD@ or ?password=.  It would be written to run.log and
# status.json and passed on the command line of a step, where any user
# of the machine sees it; the programs refuse it too, but only once the
# run has logged it.  The message masks it.
ep_no_password() {
	local name=$1 url=$2 masked
	masked=$(ep_mask_url "$url")
	if [ "$masked" = "$url" ]; then
		case $url in
		*[?\&][Pp][Aa][Ss][Ss][Ww][Oo][Rr][Dd]=*)
			masked="${url%%\?*}?****"
			;;
		*) return 0 ;;
		esac
	fi
	ep_die 78 "$name has a password in it ('$masked'): keep it out of" \
		"the URL, in the environment or an owner-only file (the" \
		"*_PASSWORD_FILE settings)"
}

# Every URL of the configuration (the variables named *_URL and *_DB).
ep_no_passwords() {
	local v
	for v in "${CONF_VARS[@]}"; do
		case $v in
		*_URL | *_DB) [ -z "${!v:-}" ] || ep_no_password "$v" "${!v}" ;;
		esac
	done
}

ep_require() {
	local v
	for v in "$@"; do
		[ -n "${!v:-}" ] || ep_die 78 "$v is not set"
	done
}

ep_need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 ||
			ep_die 78 "'$p' is not on PATH (set EDPIPE_BIN)"
	done
}

# ep_lock: hold $EDPIPE_WORK_DIR/.lock for the rest of the run (the lock
# goes with the process), waiting up to EDPIPE_LOCK_WAIT seconds for a
# run that holds it; then refuse with 75, so cron tries again next time.
ep_lock() {
	local lock=$EDPIPE_WORK_DIR/.lock
	mkdir -p "$EDPIPE_WORK_DIR" ||
		ep_die 74 "cannot create '$EDPIPE_WORK_DIR'"
	exec {LOCK_FD}>>"$lock" || ep_die 74 "cannot open '$lock'"
	if ! flock -w "$EDPIPE_LOCK_WAIT" "$LOCK_FD"; then
		ep_die 75 "another run holds '$lock'; not started"
	fi
}

# ep_prune: the run folders older than EDPIPE_KEEP_DAYS days (by their
# time of last change; not the one last-ok names, so the last good run
# can always be compared with), and conduit-fmt's timestamped copies
# (NAME-YYYYMMDDTHHMMSSZ[-N].EXT) in EDPIPE_LOG_DIR by the same rule.
# history.ndjson is never pruned.
ep_prune() {
	local ok
	ok=$(readlink "$EDPIPE_WORK_DIR/last-ok" 2>/dev/null) || ok=
	ok=${ok##*/}
	find "$EDPIPE_WORK_DIR/runs" -mindepth 1 -maxdepth 1 -type d \
		-mtime +"$EDPIPE_KEEP_DAYS" ! -name "${ok:-/}" \
		-exec rm -rf {} + 2>/dev/null || true
	[ -n "${EDPIPE_LOG_DIR:-}" ] && [ -d "$EDPIPE_LOG_DIR" ] || return 0
	find "$EDPIPE_LOG_DIR" -mindepth 1 -maxdepth 1 -type f \
		-name '*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z*' \
		-mtime +"$EDPIPE_KEEP_DAYS" -delete 2>/dev/null || true
}

# ep_version: the edpipe version, from the first program found that says.
ep_version() {
	local p v
	for p in enroll-diff sis-extract lms-fetch conduit-fmt db-load \
		rec-hash sftp-put; do
		command -v "$p" >/dev/null 2>&1 || continue
		v=$("$p" --version 2>/dev/null </dev/null | head -n 1) || continue
		v=${v##* }
		[ -z "$v" ] || { EP_VERSION=$v; return 0; }
	done
}

ep_start_run() {
	local stamp n=1
	ep_now STARTED
	EP_T0=$EPOCHREALTIME
	stamp=${STARTED//[-:]/}
	mkdir -p "$EDPIPE_WORK_DIR/runs"
	ep_prune
	ep_version
	RUN=$EDPIPE_WORK_DIR/runs/$stamp
	while [ -e "$RUN" ]; do
		n=$((n + 1))
		RUN=$EDPIPE_WORK_DIR/runs/$stamp-$n
	done
	mkdir "$RUN"
	ln -sfn "runs/${RUN##*/}" "$EDPIPE_WORK_DIR/last"
	RUN_LOG=$RUN/run.log
	ep_log "$PROG started, configuration '${CONF:-none}'"
	[ "$DRY_RUN" = 0 ] || ep_log "dry run: nothing will be uploaded"
	trap 'ep_finish $?' EXIT
	trap 'ep_signal TERM' TERM
	trap 'ep_signal INT' INT
	trap 'ep_signal HUP' HUP
}

# ep_tree PID: PID and all its descendants (from /proc, no procps).
ep_tree() {
	local p=$1 c t kids
	echo "$p"
	set +f
	for t in /proc/"$p"/task/*; do
		read -r -a kids <"$t/children" 2>/dev/null || true
		for c in "${kids[@]}"; do
			ep_tree "$c"
		done
	done
	set -f
}

# ep_alive PID: PID runs (a zombie, not yet waited for, does not).
ep_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# A signal (cron's or systemd's stop, ^C): stop the step in progress and
# everything it started, so that nothing runs on without us (and nothing
# holds the lock), record the run as killed, and exit 128+N.
ep_signal() {
	local sig=$1 all _ during='' what="nothing uploaded"
	trap - ERR
	trap '' TERM INT HUP
	KILLED=$sig
	if [ -n "$STEP_PID" ]; then
		# SIGTERM whatever we got: a background step ignores SIGINT
		# (bash starts it so), and every program cleans up on TERM.
		all=$(ep_tree "$STEP_PID")
		# shellcheck disable=SC2086 # a list of pids
		kill -TERM $all 2>/dev/null || true
		# Five seconds to finish cleanly, then SIGKILL.
		for _ in $(seq 1 50); do
			ep_alive "$STEP_PID" || break
			sleep 0.1
		done
		if ep_alive "$STEP_PID"; then
			# shellcheck disable=SC2086
			kill -KILL $all 2>/dev/null || true
		fi
		local src=0
		wait "$STEP_PID" 2>/dev/null || src=$?
		STEP_PID=
		ep_step_record "$src" killed
	elif [ -n "$STEP_OPEN" ]; then
		# Killed between the step's log line and its start.
		ep_step_record "$((128 + $(kill -l "$sig" 2>/dev/null || echo 15)))" killed
	fi
	[ -z "$STEP" ] || during=" during step '$STEP', which was stopped"
	[ "$UPLOADED" = false ] || what="the upload had finished"
	[ -z "$RUN" ] || what+="; run files in $RUN"
	printf '%s: killed by SIG%s%s; %s\n' "$PROG" "$sig" \
		"$during" "$what" >&2
	ep_log "killed by SIG$sig$during"
	exit $((128 + $(kill -l "$sig")))
}

# ep_counts FILE: the ops of a change file counted into ADDS, DROPS and
# UPDATES.
ep_counts() {
	ADDS=0 DROPS=0 UPDATES=0
	[ -s "$1" ] || return 0
	read -r ADDS DROPS UPDATES < <(jq -n -r '[inputs.op] |
		"\(map(select(. == "add")) | length) \(map(select(. ==
		"drop")) | length) \(map(select(. == "update")) | length)"' "$1")
}

# ep_count NAME N: a script's own count (a whole number), added to
# status.json's counts (and so to history.ndjson) as NAME.
ep_count() {
	[[ $2 =~ ^[0-9]+$ ]] || return 0
	EP_COUNTS=$(jq -c --arg k "$1" --argjson v "$2" '. + {($k): $v}' \
		<<<"$EP_COUNTS") || EP_COUNTS='{}'
}

# At exit: status.json in the run directory, for people and monitors.
ep_finish() {
	local rc=$1 counts='{}' ended refused='' steps artefact=null
	trap - EXIT
	[ -n "$RUN" ] || exit "$rc"
	# Nothing that fails from here on may change the run's exit status.
	set +e
	trap - ERR
	# A signal now changes nothing (the run is over); handled, not
	# ignored, so that EDPIPE_NOTIFY can still be stopped by its timeout.
	trap : TERM INT HUP
	if [ -n "${CHANGES:-}" ] && [ -f "$CHANGES" ] && [ -z "$KILLED" ]; then
		[ -n "${ADDS:-}" ] || ep_counts "$CHANGES" 2>/dev/null || true
		counts="{\"add\": ${ADDS:-0}, \"drop\": ${DROPS:-0},"
		counts+=" \"update\": ${UPDATES:-0}}"
	fi
	if [ -n "$REFUSED_FILE" ] && [ -f "$REFUSED_FILE" ]; then
		refused=$(grep -c . "$REFUSED_FILE" 2>/dev/null || true)
	fi
	ep_now ended
	steps=$(printf '%s\n' "${STEPS[@]}" | jq -c -s . 2>/dev/null) ||
		steps='[]'
	if [ -n "${UPLOAD_FILE:-}" ] && [ -f "$UPLOAD_FILE" ]; then
		artefact=$(ep_artefact "$UPLOAD_FILE") || artefact=null
	fi
	jq -n --arg script "$PROG" --arg run "$RUN" --arg started "$STARTED" \
		--arg version "${EP_VERSION:-}" \
		--arg duration "$(ep_since "$EP_T0")" \
		--argjson steps "$steps" --argjson artefact "$artefact" \
		--arg ended "$ended" \
		--arg step "$STEP" --argjson exit "$rc" \
		--argjson uploaded "$UPLOADED" --argjson dry "$DRY_RUN" \
		--argjson counts "$counts" \
		--arg file "${UPLOAD_FILE:-}" --arg url "${UPLOAD_URL:-}" \
		--arg killed "$KILLED" --arg refused "${refused:-}" \
		--argjson skipped "${SKIPPED_COURSES:-[]}" \
		--argjson extra "$EP_COUNTS" \
		'($exit == 4 and ($skipped | length) > 0) as $partial |
		{script: $script, status: (if $killed != "" then "killed"
		elif $exit == 0 then "ok" elif $partial then "partial"
		elif $exit == 3 then "refused" else "failed" end), exit: $exit,
		failed_step: (if $exit == 0 or ($partial and $killed == "")
		then null else $step end),
		started: $started, ended: $ended, dry_run: ($dry == 1),
		changes: $counts, uploaded: $uploaded,
		skipped_courses: $skipped,
		file: $file, url: $url, run: $run}
		+ (if $killed != "" then {signal: ("SIG" + $killed)} else {}
		end)
		+ (if $refused != "" then {refused: ($refused | tonumber)}
		else {} end)
		+ {version: (if $version == "" then null else $version end),
		duration_s: ($duration | tonumber), steps: $steps,
		counts: ({add: $counts.add, drop: $counts.drop,
		update: $counts.update,
		refused: (if $refused != "" then ($refused | tonumber)
		else 0 end),
		skipped_courses: ($skipped | length)} + $extra),
		artefact: (if $artefact == null then null
		else $artefact + {sent: $uploaded, url: $url} end)}' \
		>"$RUN/status.json" 2>/dev/null || true
	ep_audit_unsent "$rc"
	ep_log "$PROG ended with status $rc"
	find "$RUN" -maxdepth 1 -name '*.err' -empty -delete 2>/dev/null || true
	ep_history
	ep_report
	ep_notify "$rc"
	exit "$rc"
}

# ep_since T0: seconds since T0 (an EPOCHREALTIME), to the millisecond.
ep_since() {
	local now=$EPOCHREALTIME a b
	[ -n "$1" ] || { echo 0; return 0; }
	# The decimal point is the locale's.
	a=$(( ${now%[.,]*} * 1000000 + 10#${now#*[.,]} ))
	b=$(( ${1%[.,]*} * 1000000 + 10#${1#*[.,]} ))
	printf '%d.%03d' $(( (a - b) / 1000000 )) $(( (a - b) % 1000000 / 1000 ))
}

# ep_artefact FILE: {name, size, sha256} of the file sent, as JSON.
ep_artefact() {
	local size sum
	size=$(stat -c %s "$1") || return 1
	sum=$(sha256sum <"$1") || return 1
	jq -n -c --arg name "${1##*/}" --argjson size "$size" \
		--arg sha "${sum%% *}" '{name: $name, size: $size, sha256: $sha}'
}

# ep_history: status.json's summary as one line of history.ndjson (the
# work directory's record of every run, appended, never pruned), and
# last-ok moved to this run if it ended ok.
ep_history() {
	local line
	[ -s "$RUN/status.json" ] || return 0
	line=$(jq -c --arg stamp "${RUN##*/}" '{stamp: $stamp, script,
		status, exit, failed_step, started, ended, duration_s,
		dry_run, uploaded, counts, signal} |
		with_entries(select(.value != null or .key == "failed_step"))' \
		"$RUN/status.json" 2>/dev/null) || return 0
	printf '%s\n' "$line" >>"$EDPIPE_WORK_DIR/history.ndjson" 2>/dev/null ||
		ep_warn "cannot append to $EDPIPE_WORK_DIR/history.ndjson"
	case $line in
	*'"status":"ok"'*)
		ln -sfn "runs/${RUN##*/}" "$EDPIPE_WORK_DIR/last-ok" ||
			ep_warn "cannot link $EDPIPE_WORK_DIR/last-ok"
		;;
	esac
}

# ep_report: report.html in the run folder, a page for people (made by
# share/report/report.jq and tally.jq from status.json, the change set $CHANGES, the
# refused one $REFUSED_FILE, skipped.ndjson, the failed step's stderr and
# the last 30 days of history.ndjson): one static file, no script, nothing
# fetched.  Every value is masked (URL passwords and tokens, and the
# secrets this run was given, passed to jq in its environment only) and
# HTML-escaped.  Written to a temporary name and renamed; a failure is a
# warning and never changes the run's exit status.
ep_report() {
	local jqf=$EDPIPE_SHARE/report/report.jq out=$RUN/report.html f rc=0
	local -a files=() fds=()
	local -A inp=([changes]='' [refused]='' [skipped]='' [history]=''
		[err]='')
	[ -s "$RUN/status.json" ] || return 0
	[ -r "$jqf" ] || jqf=$EP_DATADIR/report/report.jq
	if [ ! -r "$jqf" ] || [ ! -r "${jqf%/*}/tally.jq" ]; then
		ep_warn "no report.html: '${jqf%/*}' is missing or incomplete"
		return 0
	fi
	[ -z "${CHANGES:-}" ] || ep_report_tally changes "$CHANGES"
	[ -z "$REFUSED_FILE" ] || ep_report_tally refused "$REFUSED_FILE"
	ep_report_input skipped "$RUN/skipped.ndjson"
	ep_report_input history "$EDPIPE_WORK_DIR/history.ndjson"
	f=$(jq -r '.failed_step // ""' "$RUN/status.json" 2>/dev/null) || f=
	[ -z "$f" ] || ep_report_input err "$RUN/$f.err"
	EP_REPORT_SECRETS=$(ep_report_secrets) jq -n -r -R \
		--rawfile status "$RUN/status.json" --arg stamp "${RUN##*/}" \
		--arg changes "${inp[changes]}" \
		--arg refused "${inp[refused]}" \
		--arg skipped "${inp[skipped]}" \
		--arg history "${inp[history]}" \
		--arg err "${inp[err]}" -f "$jqf" "${files[@]}" \
		>"$out.tmp" 2>>"$RUN_LOG" || rc=$?
	for f in "${fds[@]}"; do
		exec {f}<&-
	done
	if [ "$rc" -eq 0 ] && mv -f "$out.tmp" "$out"; then
		ep_log "report: $out"
	else
		rm -f "$out.tmp"
		ep_warn "cannot write $out (see $RUN_LOG)"
	fi
	return 0
}

# ep_report_input NAME FILE: FILE, if it exists, as the report's input
# NAME (into files and inp[NAME]).  jq -R runs a last line that has no
# newline (a file cut short by a kill) into the next file's first line,
# so such a file is given through a pipe that adds the newline.
ep_report_input() {
	local fd
	[ -f "$2" ] || return 0
	if [ -s "$2" ] && [ -n "$(tail -c 1 "$2")" ]; then
		exec {fd}< <(cat -- "$2"; echo)
		fds+=("$fd")
		inp[$1]=/dev/fd/$fd
	else
		inp[$1]=$2
	fi
	files+=("${inp[$1]}")
}

# ep_report_tally NAME FILE: the change file FILE, if it exists, as the
# report's input NAME, counted per op and course (tally.jq, sort, uniq)
# through a pipe, so that a change set of millions takes seconds.
ep_report_tally() {
	local fd
	[ -f "$2" ] || return 0
	exec {fd}< <(jq -n -R -c -f "${jqf%/*}/tally.jq" "$2" |
		LC_ALL=C sort | LC_ALL=C uniq -c)
	fds+=("$fd")
	inp[$1]=/dev/fd/$fd
	files+=("${inp[$1]}")
}

# ep_report_secrets: the secrets of this run, one a line, for the
# report's masking: the environment's *PASSWORD, *TOKEN, *SECRET, *_KEY
# and *PASSPHRASE values, and the first line of the owner-only files the
# configuration names (*_PASSWORD_FILE, *_TOKEN_FILE, *_KEY_FILE).
ep_report_secrets() {
	local v line
	# shellcheck disable=SC2207 # names, no spaces
	local -a names=($(compgen -e) "${CONF_VARS[@]}")
	for v in "${names[@]}"; do
		[ -n "${!v:-}" ] || continue
		case $v in
		*PASSWORD | *TOKEN | *SECRET | *_KEY | *PASSPHRASE)
			printf '%s\n' "${!v}"
			;;
		*PASSWORD_FILE | *TOKEN_FILE | *_KEY_FILE | *SECRET_FILE)
			if [ ! -f "${!v}" ] || [ ! -r "${!v}" ]; then
				continue
			fi
			line=
			IFS= read -r line <"${!v}" || [ -n "$line" ] || continue
			printf '%s\n' "${line%$'\r'}"
			;;
		esac
	done
}

# ep_notify RC: a run that did not end ok runs EDPIPE_NOTIFY (its words,
# never globbed), once, for at most EDPIPE_NOTIFY_TIMEOUT seconds, with
# the run's folder, status, exit status and script in its environment
# and status.json on its stdin; what it prints goes to notify.log in the
# run folder.  Its failure is a warning: the run's exit status stays.
ep_notify() {
	local rc=$1 status=failed nrc=0 cmd in
	[ -n "${EDPIPE_NOTIFY:-}" ] || return 0
	if [ -s "$RUN/status.json" ]; then
		status=$(jq -r .status "$RUN/status.json" 2>/dev/null) ||
			status=failed
	elif [ "$rc" -eq 0 ]; then
		status=ok
	fi
	[ "$status" != ok ] || return 0
	read -r -a cmd <<<"$EDPIPE_NOTIFY"
	in=$RUN/status.json
	[ -f "$in" ] || in=/dev/null
	ep_log "notify: $EDPIPE_NOTIFY (status $status, exit $rc)"
	if [ -n "${LOCK_FD:-}" ]; then
		exec {LOCK_FD}>&-
	fi
	EDPIPE_RUN_DIR=$RUN EDPIPE_STATUS=$status EDPIPE_EXIT=$rc \
		EDPIPE_SCRIPT=$PROG timeout -k 5 "$EDPIPE_NOTIFY_TIMEOUT" \
		"${cmd[@]}" <"$in" >>"$RUN/notify.log" 2>&1 ||
		nrc=$?
	# Said even under -q: nobody else will say the alert was lost.
	if [ "$nrc" -eq 124 ] || [ "$nrc" -eq 137 ]; then
		ep_error "EDPIPE_NOTIFY '$EDPIPE_NOTIFY' did not finish in" \
			"${EDPIPE_NOTIFY_TIMEOUT}s and was stopped (see $RUN/notify.log)"
	elif [ "$nrc" -ne 0 ]; then
		ep_error "EDPIPE_NOTIFY '$EDPIPE_NOTIFY' failed with exit" \
			"status $nrc (see $RUN/notify.log)"
	fi
	[ -s "$RUN/notify.log" ] || rm -f "$RUN/notify.log"
	return 0
}

# ep_step NAME CMD [ARG...]: run one step.  Its stderr goes to
# $RUN/NAME.err and the run log (and to our stderr unless -q).  A failure
# stops the run with the step's own exit status and a message naming it;
# nothing after it runs, so nothing is uploaded.  EP_STEP_OK=N (set for
# the call) makes status N not a failure.
#
# The step runs in the background and is waited for, so that a signal is
# handled at once (bash runs a trap only after a foreground command ends)
# and ep_signal knows whom to stop; it does not inherit the lock, so no
# step left behind can hold it.
ep_step() {
	local name=$1 rc=0
	shift
	# Open from here: a signal before the step's process starts still
	# records it as killed (ep_signal).
	STEP=$name STEP_OPEN=1 STEP_T0=$EPOCHREALTIME
	STEP_IN='' STEP_OUT_FILE='' STEP_OUT_BEFORE=0
	ep_log "step $name: $(printf '%q ' "$@")"
	[ "$VERBOSE" = 0 ] || printf '%s: step %s: %s\n' "$PROG" "$name" "$*" >&2
	ep_step_files "$@"
	STEP_T0=$EPOCHREALTIME
	if [ -n "${LOCK_FD:-}" ]; then
		"$@" 0<&0 2>"$RUN/$name.err" {LOCK_FD}>&- &
	else
		"$@" 0<&0 2>"$RUN/$name.err" &
	fi
	STEP_PID=$!
	wait "$STEP_PID" || rc=$?
	STEP_PID=
	if [ "$rc" -eq 0 ]; then
		ep_step_record "$rc" ok
	elif [ "$rc" = "${EP_STEP_OK:-}" ]; then
		ep_step_record "$rc" partial
	else
		ep_step_record "$rc" failed
	fi
	if [ -s "$RUN/$name.err" ]; then
		sed 's/^/    /' "$RUN/$name.err" >>"$RUN_LOG"
		if [ "$rc" -ne 0 ] || [ "$QUIET" = 0 ]; then
			cat "$RUN/$name.err" >&2
		fi
	fi
	STEP_RC=$rc
	if [ "$rc" -ne 0 ] && [ "$rc" != "${EP_STEP_OK:-}" ]; then
		# ep_step_try: the caller goes on (the step is recorded).
		[ -z "${EP_STEP_TRY:-}" ] || return 0
		ep_die "$rc" "step '$name' failed with exit status $rc;" \
			"nothing uploaded; run files in $RUN"
	fi
}

# ep_step_try NAME CMD [ARG...]: ep_step, but a failure does not end the
# run: its exit status is left in STEP_RC (0 when it succeeded) and the
# caller decides (replicate: one table's failure leaves the others to
# run).  The step is recorded in status.json as failed all the same.
#
# EP_STEP_TRY is a plain shell variable, set and cleared here: never
# exported (a NAME=VALUE prefix on a function call would export it to
# the step, and a pipeline script run as a step would then not stop at
# its own failures).
unset EP_STEP_TRY
ep_step_try() {
	# shellcheck disable=SC2034 # for the caller
	STEP_RC=0
	EP_STEP_TRY=1
	ep_step "$@"
	EP_STEP_TRY=
}

# ep_lines FILE: its non-empty lines (0 if it cannot be read).
ep_lines() {
	local n
	n=$(grep -c . "$1" 2>/dev/null) || true
	echo "${n:-0}"
}

# ep_step_files CMD [ARG...]: before a step, what its records are: in
# STEP_IN the lines of the .ndjson operands that exist (an operand: an
# argument that is neither an option nor an option's value), in
# STEP_OUT_FILE its .ndjson output (standard output if that is such a
# file, else the value of --output or -o, else an operand it will
# create), with STEP_OUT_BEFORE its lines now (standard output appended
# to).
ep_step_files() {
	local a prev='' n out='' created='' in='' me=$BASHPID
	STEP_IN='' STEP_OUT_FILE='' STEP_OUT_BEFORE=0
	shift
	out=$(readlink "/proc/$me/fd/1" 2>/dev/null) || out=
	[[ $out == *.ndjson && -f $out ]] || out=
	for a in "$@"; do
		case $prev in
		--output | -o) [[ -n $out || $a != *.ndjson ]] || out=$a ;;
		esac
		case $a in
		--output=*.ndjson) [ -n "$out" ] || out=${a#--output=} ;;
		esac
		if [[ $a == *.ndjson && $a != -* &&
			( $prev != -* || $prev == *=* ) ]]; then
			if [ -f "$a" ]; then
				n=$(ep_lines "$a")
				in=$(( ${in:-0} + n ))
			elif [ ! -e "$a" ] && [ -z "$created" ]; then
				created=$a
			fi
		fi
		prev=$a
	done
	STEP_IN=$in
	STEP_OUT_FILE=${out:-$created}
	if [ -n "$STEP_OUT_FILE" ] && [ -f "$STEP_OUT_FILE" ]; then
		STEP_OUT_BEFORE=$(ep_lines "$STEP_OUT_FILE")
	fi
}

# ep_step_record RC STATUS: the step that just ended, as a line of STEPS
# (status.json's steps).
ep_step_record() {
	local out='' line
	STEP_OPEN=
	if [ -n "$STEP_OUT_FILE" ] && [ -f "$STEP_OUT_FILE" ]; then
		out=$(( $(ep_lines "$STEP_OUT_FILE") - STEP_OUT_BEFORE ))
	fi
	line=$(jq -n -c --arg name "$STEP" --arg status "$2" \
		--argjson exit "$1" --arg duration "$(ep_since "$STEP_T0")" \
		--arg in "$STEP_IN" --arg out "$out" \
		--arg file "${STEP_OUT_FILE##*/}" \
		'{name: $name, status: $status, exit: $exit,
		duration_s: ($duration | tonumber),
		records_in: (if $in == "" then null else ($in | tonumber) end),
		records_out: (if $out == "" then null else ($out | tonumber)
		end), output: (if $file == "" then null else $file end)}' \
		2>/dev/null) || return 0
	STEPS+=("$line")
}

# ep_sftp_args: sftp-put's options from SFTP_KNOWN_HOSTS, SFTP_IDENTITY,
# SFTP_PASSWORD_FILE, SFTP_RETRIES and -n, into the array SFTP_ARGS.
ep_sftp_args() {
	SFTP_ARGS=()
	[ -z "${SFTP_KNOWN_HOSTS:-}" ] ||
		SFTP_ARGS+=(--known-hosts "$SFTP_KNOWN_HOSTS")
	[ -z "${SFTP_IDENTITY:-}" ] || SFTP_ARGS+=(--identity "$SFTP_IDENTITY")
	[ -z "${SFTP_PASSWORD_FILE:-}" ] ||
		SFTP_ARGS+=(--password-file "$SFTP_PASSWORD_FILE")
	[ -z "${SFTP_RETRIES:-}" ] || SFTP_ARGS+=(--retries "$SFTP_RETRIES")
	[ "$DRY_RUN" = 0 ] || SFTP_ARGS+=(--dry-run)
	return 0
}

# ep_shrink WHERE VALUE: VALUE as a replace shrink limit, a whole
# percentage 0-100 ("30" or "30%"), into SHRINK; 78 naming WHERE if it
# is not one.
ep_shrink() {
	SHRINK=${2%\%}
	if [[ ! $SHRINK =~ ^[0-9]{1,3}$ ]] || [ $((10#$SHRINK)) -gt 100 ]; then
		ep_die 78 "$1: '$2' is not a percentage from 0 to 100"
	fi
	SHRINK=$((10#$SHRINK))
}

# ep_shrink_args PCT: db-load's options for a replace that may lose at
# most PCT% of the table's rows, into SHRINK_ARGS.  Empty PCT: db-load's
# own default (50%).  100 allows anything, an empty table too.
ep_shrink_args() {
	SHRINK_ARGS=()
	[ -n "$1" ] || return 0
	SHRINK_ARGS=(--max-shrink "$1")
	[ "$1" -lt 100 ] || SHRINK_ARGS+=(--allow-empty)
}

# ep_upload FILE URL: the last step.  UPLOADED turns true only once
# sftp-put has renamed the file into place.
ep_upload() {
	UPLOAD_FILE=$1 UPLOAD_URL=$2
	ep_sftp_args
	ep_step sftp-put sftp-put "${SFTP_ARGS[@]}" "$1" "$2"
	[ "$DRY_RUN" = 1 ] || UPLOADED=true
}

# ep_audit FILE TARGET OUTCOME [MESSAGE]: the changes of FILE (enroll-diff's
# change records, DESIRED being this run's SIS extract; or lms-push's
# result records, whose own result and message win over OUTCOME and
# MESSAGE) appended to the audit log, $EDPIPE_AUDIT_FILE (default
# $EDPIPE_WORK_DIR/audit.ndjson), one line per change: time, run (the
# stamp), script, op, course, user, role, old_role (of an update),
# target (conduit, moodle, canvas, file ...), outcome (sent, ok, failed,
# unknown), message, reason, and the provenance: sis_row and sis_course
# (the SIS record behind an add or update), lms_course_id, lms_user_id
# and lms_enrollment_id (the LMS record behind a drop or update); every
# line has every field, null where it has no value, so db-load --create
# makes a table of them.  No names or e-mail addresses: the log is kept
# for good (never pruned).  The lines of one call go in one write(2),
# under a lock of the file (several scripts may share it) as well as the
# run lock.  A write that fails is an error, said and logged, that leaves
# the run's status alone: the changes were made.
ep_audit() {
	local file=$1 target=$2 outcome=$3 msg=${4:-} audit tmp now size fd
	[ -n "$RUN" ] && [ -s "$file" ] || return 0
	audit=${EDPIPE_AUDIT_FILE:-$EDPIPE_WORK_DIR/audit.ndjson}
	tmp=$RUN/.audit.ndjson
	ep_now now
	if ! jq -c --arg time "$now" --arg run "${RUN##*/}" \
		--arg script "$PROG" --arg target "$target" \
		--arg outcome "$outcome" --arg message "$msg" '
		def nz: if . == "" then null else . end;
		{time: $time, run: $run, script: $script, op, course, user,
		role, old_role: (if .op == "update" then .old_role else null
		end), target: $target, outcome: (.result // $outcome),
		message: (.message // ($message | nz)),
		reason: (if .op == "drop" then
			"absent from the SIS extract of run \($run)"
		elif .op == "add" then
			"in the SIS extract of run \($run), not in the LMS"
		else "in both, the SIS extract of run \($run) differs" end),
		sis_row: (if .op == "drop" then null else .sis_row end),
		sis_course: (if .op == "drop" then null else .sis_course end),
		lms_course_id: .course_id,
		lms_user_id: (if .op == "drop" then .user_id
			else .actual_user_id end),
		lms_enrollment_id: (if .op == "drop" then .enrollment_id
			else .actual_enrollment_id end)}' "$file" >"$tmp" 2>/dev/null
	then
		rm -f "$tmp"
		ep_error "cannot read the changes of '$file' for the audit log"
		return 0
	fi
	size=$(stat -c %s "$tmp")
	if [ "$size" -eq 0 ]; then
		rm -f "$tmp"
		return 0
	fi
	if mkdir -p "${audit%/*}" 2>/dev/null &&
		{ exec {fd}>>"$audit"; } 2>/dev/null; then
		if ! flock -w 60 "$fd" ||
			! dd if="$tmp" bs="$size" count=1 iflag=fullblock \
				status=none 1>&"$fd" 2>/dev/null; then
			ep_error "cannot append to the audit log '$audit'"
		else
			ep_log "audit: $(ep_lines "$tmp") $target changes" \
				"$outcome, in $audit"
		fi
		exec {fd}>&-
	else
		ep_error "cannot open the audit log '$audit'"
	fi
	rm -f "$tmp"
	return 0
}

# ep_audit_pending FILE TARGET: the changes of FILE are about to be sent
# to TARGET.  A run that ends before ep_audit_sent (a failed upload, a
# signal) logs them, at exit, as failed (the step failed) or unknown
# (the run was killed while sending).
ep_audit_pending() {
	AUDIT_PENDING=$1 AUDIT_TARGET=$2
}

# ep_audit_sent [MESSAGE]: the pending changes were sent.
ep_audit_sent() {
	[ -n "${AUDIT_PENDING:-}" ] || return 0
	if [ "$DRY_RUN" = 0 ]; then
		ep_audit "$AUDIT_PENDING" "$AUDIT_TARGET" sent "${1:-}"
	fi
	AUDIT_PENDING=
}

# ep_audit_unsent RC: at exit, pending changes that were not sent.
ep_audit_unsent() {
	[ -n "${AUDIT_PENDING:-}" ] && [ "$DRY_RUN" = 0 ] || return 0
	if [ "$UPLOADED" = true ]; then
		# Killed after the upload, before ep_audit_sent.
		ep_audit "$AUDIT_PENDING" "$AUDIT_TARGET" sent \
			"uploaded${KILLED:+; the run was then killed by SIG$KILLED}"
	elif [ -n "$KILLED" ]; then
		ep_audit "$AUDIT_PENDING" "$AUDIT_TARGET" unknown \
			"killed by SIG$KILLED while sending: not known whether they arrived"
	else
		ep_audit "$AUDIT_PENDING" "$AUDIT_TARGET" failed \
			"not sent: step '$STEP' failed with exit status $1"
	fi
	AUDIT_PENDING=
}

# ep_table: tab-separated lines as aligned columns (no column(1) needed).
ep_table() {
	local -a ep_rows ep_w=() ep_cells
	local r i line
	mapfile -t ep_rows
	for r in "${ep_rows[@]}"; do
		IFS=$'\t' read -r -a ep_cells <<<"$r"
		for i in "${!ep_cells[@]}"; do
			[ "${ep_w[i]:-0}" -ge "${#ep_cells[i]}" ] || ep_w[i]=${#ep_cells[i]}
		done
	done
	for r in "${ep_rows[@]}"; do
		IFS=$'\t' read -r -a ep_cells <<<"$r"
		line=''
		for i in "${!ep_cells[@]}"; do
			printf -v line '%s%-*s  ' "$line" "${ep_w[i]}" "${ep_cells[i]}"
		done
		line=${line%"${line##*[! ]}"}
		printf '%s\n' "$line"
	done
}
