# Database servers and ODBC drivers for the test files of sis-extract and
# db-load: each file starts its own server in setup_file and stops it by
# its directory in teardown_file.

# pg_start: a PostgreSQL server of this file's own (tests/servers/pg.sh)
# on $PGPORT_T in $PGDIR, with a login etl (password s3cret-pw) owning a
# UTF-8 database sis.
pg_start() {
	need psql
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need initdb
	export PGDIR=$BATS_FILE_TMPDIR/pg
	PGPORT_T=$(free_port)
	export PGPORT_T
	"$ROOT/tests/servers/pg.sh" start "$PGDIR" "$PGPORT_T" >"$BATS_FILE_TMPDIR/pid"
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" \
		-c "CREATE ROLE etl LOGIN PASSWORD 's3cret-pw'" \
		-c "CREATE DATABASE sis OWNER etl ENCODING 'UTF8'"
}

# mysql_start: a MariaDB server of this file's own (tests/servers/mariadb.sh)
# on $MYPORT in $MYDIR, with a user etl (password s3cret-pw, from
# 127.0.0.1 and the socket) owning a utf8mb4 database sis.
mysql_start() {
	need mariadb
	command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need mariadbd
	export MYDIR=$BATS_FILE_TMPDIR/my
	MYPORT=$(free_port)
	export MYPORT
	"$ROOT/tests/servers/mariadb.sh" start "$MYDIR" "$MYPORT" >/dev/null
	"$ROOT/tests/servers/mariadb.sh" sql "$MYDIR" <<'SQL'
CREATE DATABASE sis CHARACTER SET utf8mb4;
CREATE USER 'etl'@'127.0.0.1' IDENTIFIED BY 's3cret-pw';
CREATE USER 'etl'@'localhost' IDENTIFIED BY 's3cret-pw';
GRANT ALL ON sis.* TO 'etl'@'127.0.0.1';
GRANT ALL ON sis.* TO 'etl'@'localhost';
SQL
}

# odbc_driver NAME SO PACKAGE: register the driver library SO under NAME
# in an odbcinst.ini of this file's own ($ODBCSYSINI).  A missing driver
# skips the file, or fails it under CI.
odbc_driver() {
	local drvs
	drvs=(/usr/lib/*/odbc/"$2")
	if [ ! -e "${drvs[0]}" ]; then
		[ "${CI:-}" != true ] || { echo "$3 is missing under CI" >&2; return 1; }
		skip "$3 is not installed"
	fi
	export ODBCSYSINI=$BATS_FILE_TMPDIR/odbc
	mkdir -p "$ODBCSYSINI"
	printf '[%s]\nDriver=%s\n' "$1" "${drvs[0]}" >"$ODBCSYSINI/odbcinst.ini"
}

# odbc_pg_start: pg_start, with psqlODBC registered as "PostgreSQL test".
odbc_pg_start() {
	odbc_driver "PostgreSQL test" psqlodbcw.so odbc-postgresql || return 1
	pg_start
}
