# Set-up shared by the ODBC test files (sis-extract-odbc*, db-load-odbc*).

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

# odbc_pg_start: a PostgreSQL server of this file's own (tests/servers/pg.sh)
# on $PGPORT_T in $PGDIR, with a login etl (password s3cret-pw) owning a
# UTF-8 database sis; psqlODBC registered as "PostgreSQL test".
odbc_pg_start() {
	need psql
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need initdb
	odbc_driver "PostgreSQL test" psqlodbcw.so odbc-postgresql || return 1
	export PGDIR=$BATS_FILE_TMPDIR/pg
	PGPORT_T=$(free_port)
	export PGPORT_T
	"$ROOT/tests/servers/pg.sh" start "$PGDIR" "$PGPORT_T" >/dev/null
	"$ROOT/tests/servers/pg.sh" psql "$PGDIR" "$PGPORT_T" \
		-c "CREATE ROLE etl LOGIN PASSWORD 's3cret-pw'" \
		-c "CREATE DATABASE sis OWNER etl ENCODING 'UTF8'"
}
