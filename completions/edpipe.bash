# shellcheck shell=bash
# bash completion for edpipe's programs and pipeline scripts; installed
# under each command's name in share/bash-completion/completions, so
# bash-completion loads it on first use (or source it by hand).
#
# Everything comes from the command itself, so it stays in step with it:
# options from its --help (-h for the scripts), subcommands (lms-fetch
# moodle enrollments ...) from the usage lines at the top of that text.
# Anything else completes as a file name.

# _edpipe_help CMD: CMD's help text, asked once per shell.
_edpipe_help() {
	local var=_edpipe_help_${1//[^a-zA-Z0-9]/_}
	if [ -z "${!var+x}" ]; then
		printf -v "$var" '%s' "$("$1" --help 2>/dev/null)"
	fi
	printf '%s\n' "${!var}"
}

# _edpipe_words HELP CMD N TYPED...: word N of the usage lines of HELP
# that start with CMD and go on with the words TYPED (subcommands: plain
# lower-case words, not options or [metavariables]).
_edpipe_words() {
	local help=$1 cmd=${2##*/} n=$3
	shift 3
	printf '%s\n' "$help" | sed -n '1,/^$/p' | sed 's/^usage://' |
		awk -v cmd="$cmd" -v n="$n" -v typed="$*" '
		BEGIN { k = split(typed, t, " ") }
		$1 == cmd && NF > n {
			for (i = 1; i <= k; i++) if ($(i + 1) != t[i]) next
			w = $(n + 1)
			if (w ~ /^[a-z][a-z0-9-]*$/) print w
		}' | sort -u
}

# _edpipe_options HELP: the options HELP names in its usage lines and at
# the start of its option lines ("  -t, --to FORMAT"), not those of other
# programs it mentions further on.
_edpipe_options() {
	{
		printf '%s\n' "$1" | sed -n '1,/^$/p'
		printf '%s\n' "$1" | grep -v deprecated |
		    sed -nE 's/^[[:space:]]+((-[[:alnum:]](, )?)?(--[[:alnum:]][[:alnum:]-]*)?).*/\1/p'
	} | grep -oE -- '(^|[][ ,(|])(--[[:alpha:]][[:alnum:]-]*|-[[:alnum:]])' |
		sed 's/^[^-]*//' | sort -u
}

_edpipe() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[0]} help i
	local -a typed=()
	COMPREPLY=()
	help=$(_edpipe_help "$cmd")
	[ -n "$help" ] || return 0
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_edpipe_options "$help")" \
			-- "$cur")
		return 0
	fi
	# Subcommands, while every word typed so far is one.
	for ((i = 1; i < COMP_CWORD; i++)); do
		[[ ${COMP_WORDS[i]} == -* ]] && return 0
		typed+=("${COMP_WORDS[i]}")
	done
	mapfile -t COMPREPLY < <(compgen -W \
		"$(_edpipe_words "$help" "$cmd" "$COMP_CWORD" "${typed[@]}")" -- "$cur")
	return 0
}

complete -o default -o bashdefault -F _edpipe conduit-fmt db-load \
	enroll-diff lms-fetch lms-push rec-hash sftp-put sis-extract yaml-json \
	edpipe-audit edpipe-canvas-inventory edpipe-clever-sections edpipe-demo \
	edpipe-edx-pseudonymize edpipe-replicate edpipe-replicate-hourly \
	edpipe-runs edpipe-sync-enrollments
