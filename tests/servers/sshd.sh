#!/usr/bin/env bash
# sshd.sh - a throw-away OpenSSH sshd for the sftp-put tests.
#
#   sshd.sh start DIR   generate a host key, a client key (unless DIR has
#                       one), authorized_keys,
#                       known_hosts and sshd_config in DIR, start sshd on a
#                       free port of 127.0.0.1 (or on $SSHD_PORT); DIR/port
#                       and DIR/sshd.pid tell where it listens and which
#                       process it is
#   sshd.sh stop DIR    stop that sshd by its pid
#   sshd.sh kill DIR    SIGKILL that sshd and every process it started (the
#                       per-connection servers too): a server dying mid-way
#
# The server speaks SFTP through internal-sftp, does not use PAM and does
# not check file modes (StrictModes no), so it runs from any directory.
set -euo pipefail

SSHD=${SSHD:-$(command -v sshd || echo /usr/sbin/sshd)}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A process and all its descendants, from /proc/PID/task/*/children (no
# procps needed).
tree() {
	local p=$1 c
	echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
		tree "$c"
	done
}

# SIGKILL a process and all its descendants, stopping them all first so
# that none can react (or finish its work) in between.
kill_tree() {
	local all
	all=$(tree "$1")
	# shellcheck disable=SC2086
	kill -STOP $all 2>/dev/null || true
	# shellcheck disable=SC2086
	kill -KILL $all 2>/dev/null || true
}

start() {
	local dir=$1 port i
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	rm -f "$dir"/host_key*
	ssh-keygen -q -t ed25519 -N '' -C test-host -f "$dir/host_key"
	# A client key already in DIR (with its .pub) is kept.
	[ -s "$dir/id_ed25519" ] && [ -s "$dir/id_ed25519.pub" ] ||
		ssh-keygen -q -t ed25519 -N '' -C test-client -f "$dir/id_ed25519" <<<y >/dev/null
	cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
	# /run/sshd is OpenSSH's privilege separation directory.
	[ -d /run/sshd ] || mkdir -p /run/sshd 2>/dev/null || true
	port=${SSHD_PORT:-$(free_port)}
	cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 100
Subsystem sftp internal-sftp
LogLevel VERBOSE
EOF
	echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" \
		>"$dir/known_hosts"
	echo "$port" >"$dir/port"
	rm -f "$dir/sshd.pid"
	"$SSHD" -f "$dir/sshd_config" -E "$dir/sshd.log"
	for i in $(seq 1 100); do
		if [ -s "$dir/sshd.pid" ] &&
		    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "sshd did not start; its log:" >&2
	cat "$dir/sshd.log" >&2
	return 1
}

stop() {
	local dir=$1 pid
	[ -s "$dir/sshd.pid" ] || return 0
	pid=$(cat "$dir/sshd.pid")
	kill "$pid" 2>/dev/null || true
	rm -f "$dir/sshd.pid"
}

kill_all() {
	local dir=$1
	kill_tree "$(cat "$dir/sshd.pid")"
	rm -f "$dir/sshd.pid"
}

case ${1:-} in
start) start "$2" ;;
stop) stop "$2" ;;
kill) kill_all "$2" ;;
*) echo "usage: sshd.sh start|stop|kill DIR" >&2; exit 2 ;;
esac
