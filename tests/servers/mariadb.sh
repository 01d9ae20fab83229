#!/usr/bin/env bash
# mariadb.sh - a throw-away MariaDB server for the tests.
#
#   mariadb.sh start DIR PORT   system tables into DIR/data, listen on
#                               127.0.0.1:PORT and on the socket DIR/sock;
#                               prints the server's pid when it answers
#   mariadb.sh stop DIR         stop it: SIGTERM to the pid in DIR/pid, then
#                               wait for it to go
#   mariadb.sh sql DIR [mariadb client args...]   the client as root over
#                               the socket
#
# MariaDB will not run as root without --user: under root the server runs
# as the `mysql` user, and DIR (with the directories above it) is opened
# to it.  Durability is switched off: the data is thrown away.
set -euo pipefail

MYSQLD=${MYSQLD:-$(command -v mariadbd || command -v mysqld ||
	ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -1 || true)}
[ -n "$MYSQLD" ] && [ -x "$MYSQLD" ] ||
	{ echo "mariadb.sh: no MariaDB server found" >&2; exit 69; }

cmd=${1:-}
[ $# -ge 2 ] || { echo "usage: mariadb.sh start DIR PORT | stop DIR | sql DIR [ARGS]" >&2; exit 2; }
mkdir -p "$2"
dir=$(cd "$2" && pwd)
user=()
[ "$(id -u)" -eq 0 ] && user=(--user=mysql)

case $cmd in
start)
	port=$3
	if [ "$(id -u)" -eq 0 ]; then
		chown mysql "$dir"
		d=$dir
		while [ "$d" != / ] && [ "$d" != /tmp ]; do
			chmod o+x "$d"
			d=$(dirname "$d")
		done
	fi
	# What mariadb-install-db does, less the help tables and the sys
	# schema (seconds of work the tests do not need).
	mkdir -p "$dir/data"
	[ "$(id -u)" -eq 0 ] && chown mysql "$dir/data"
	sql=/usr/share/mysql
	[ -f "$sql/mysql_system_tables.sql" ] || sql=/usr/share/mariadb
	{
		echo "CREATE DATABASE IF NOT EXISTS mysql;"
		echo "USE mysql;"
		echo "SET @auth_root_socket='$(id -un)';"
		cat "$sql/mysql_system_tables.sql" \
			"$sql/mysql_performance_tables.sql" \
			"$sql/mysql_system_tables_data.sql"
	} | "$MYSQLD" --no-defaults "${user[@]}" --bootstrap \
		--datadir="$dir/data" --log-warnings=0 --enforce-storage-engine= \
		--max-allowed-packet=8M --innodb-log-file-size=4M \
		--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
		>"$dir/install.log" 2>&1 ||
		{ cat "$dir/install.log" >&2; exit 1; }
	"$MYSQLD" --no-defaults "${user[@]}" --datadir="$dir/data" \
		--socket="$dir/sock" --port="$port" --bind-address=127.0.0.1 \
		--pid-file="$dir/pid" --log-error="$dir/server.log" \
		--skip-name-resolve --skip-log-bin --innodb-buffer-pool-size=32M \
		--innodb-log-file-size=4M --innodb-flush-log-at-trx-commit=0 \
		--innodb-doublewrite=0 --character-set-server=utf8mb4 \
		--collation-server=utf8mb4_bin --max-connections=20 \
		--max-recursive-iterations=10000000 \
		>/dev/null 2>&1 &
	for _ in $(seq 1 300); do
		if [ -S "$dir/sock" ] && [ -s "$dir/pid" ] &&
			mariadb --no-defaults -S "$dir/sock" -u root -e 'SELECT 1' \
				>/dev/null 2>&1; then
			cat "$dir/pid"
			exit 0
		fi
		sleep 0.1
	done
	echo "mariadb.sh: the server did not start" >&2
	cat "$dir/server.log" >&2 || true
	exit 1
	;;
stop)
	[ -s "$dir/pid" ] || exit 0
	pid=$(cat "$dir/pid")
	kill "$pid" 2>/dev/null || exit 0
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || exit 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	;;
sql)
	shift 2
	mariadb --no-defaults --default-character-set=utf8mb4 -S "$dir/sock" -u root "$@"
	;;
*)
	echo "usage: mariadb.sh start DIR PORT | stop DIR | sql DIR [ARGS]" >&2
	exit 2
	;;
esac
