#!/usr/bin/env bash
# pg.sh - a throw-away PostgreSQL server for the tests.
#
#   pg.sh start DIR PORT   initdb in DIR/data, listen on 127.0.0.1:PORT and
#                          on the socket directory DIR (local connections
#                          trusted, TCP ones need a SCRAM password); prints
#                          the postmaster's pid
#   pg.sh stop DIR         stop it (pg_ctl stop -m fast: the pid in
#                          DIR/data/postmaster.pid)
#   pg.sh psql DIR PORT [psql args...]   psql as the superuser over the socket
#
# PostgreSQL refuses to run as root: under root, the server runs as the
# `postgres` user, and DIR (with the directories above it) is opened to it.
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "pg.sh: no PostgreSQL server found" >&2; exit 69; }

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

super() {
	if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
case $cmd in
start)
	port=$3
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres "$dir"
		# Let the postgres user reach DIR through the test's tmp dirs.
		d=$dir
		while [ "$d" != / ] && [ "$d" != /tmp ]; do
			chmod o+x "$d"
			d=$(dirname "$d")
		done
	fi
	as_pg "$PGBIN/initdb" -D "$dir/data" -U "$(super)" -E UTF8 \
		--locale=C.UTF-8 --no-sync --auth-local=trust --auth-host=scram-sha-256 \
		>"$dir/initdb.log" 2>&1
	cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		start >/dev/null
	head -1 "$dir/data/postmaster.pid"
	;;
stop)
	[ -f "$dir/data/postmaster.pid" ] || exit 0
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	;;
psql)
	port=$3
	shift 3
	as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" \
		-U "$(super)" -d postgres "$@"
	;;
*)
	echo "usage: pg.sh start DIR PORT | stop DIR | psql DIR PORT [ARGS]" >&2
	exit 2
	;;
esac
