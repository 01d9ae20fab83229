/*
 * test_db_mssql.c - the mssql:// backend (db_mssql.c) through the real
 * FreeTDS db-lib against tests/servers/tds_server.py, which this test
 * starts on free ports of 127.0.0.1 with a SQLite copy of
 * tests/fixtures/sis-extract-mssql/sis.sql.
 *
 * Without python3 or the server script the tests are skipped, except
 * under CI=true, where that is a failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "rec.h"
#include "tap.h"

#define SERVER "tests/servers/tds_server.py"
#define FIXTURE "tests/fixtures/sis-extract-mssql/sis.sql"

static char tmpdir[] = "/tmp/test_db_mssql.XXXXXX";
/* Debian's python3 directly when it is there: a version manager's shim
 * on PATH can cost seconds per start on a busy machine. */
static const char *python = "python3";
static char dbpath[256];

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) < 0)
		return -1;
	port = ntohs(a.sin_port);
	close(s);
	return port;
}

static int
port_open(int port)
{
	struct sockaddr_in a;
	int s = socket(AF_INET, SOCK_STREAM, 0), rc;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	close(s);
	return rc == 0;
}

/* Start the TDS server; its pid, or -1.  extra: "--die-after" N or NULL. */
static pid_t
start_server(int port, const char *opt, const char *val)
{
	char ports[16];
	pid_t pid;

	snprintf(ports, sizeof(ports), "%d", port);
	pid = fork();
	if (pid == 0) {
		execlp(python, python, SERVER, "--port", ports, "--db",
		    dbpath, "--user", "sis", "--password", "s3cr3t pa55",
		    "--database", "sis", opt, val, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && pid > 0; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (port_open(port))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void
stop_server(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static int
load_fixture(void)
{
	FILE *fp = fopen(FIXTURE, "r");
	char *sql;
	long n;
	sqlite3 *db;
	int rc;

	if (fp == NULL)
		return -1;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	sql = calloc(1, (size_t)n + 1);
	if (fread(sql, 1, (size_t)n, fp) != (size_t)n)
		n = -1;
	fclose(fp);
	rc = n < 0 || sqlite3_open(dbpath, &db) != SQLITE_OK ? -1 :
	    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	sqlite3_close(db);
	free(sql);
	return rc;
}

/* Run sql with params; all rows as NDJSON text (malloc'd), rc and err. */
static char *
run(struct ep_db *db, const char *sql, const struct ep_db_param *p,
    size_t np, int *rc, struct ep_error *err, long *nrows)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	struct ep_writer *w = ep_writer_new(fp, EP_FMT_NDJSON);
	struct ep_rec *r = ep_rec_new();
	long n = 0;
	int got = -1;

	err->code = 0;
	err->msg[0] = '\0';
	if (ep_db_query(db, sql, p, np, err) == 0) {
		while ((got = ep_db_next(db, r, err)) == 1) {
			n++;
			if (ep_writer_write(w, r, err) < 0) {
				got = -1;
				break;
			}
		}
	}
	ep_writer_finish(w, NULL);
	ep_writer_free(w);
	ep_rec_free(r);
	fclose(fp);
	*rc = got < 0 ? err->code : 0;
	if (nrows)
		*nrows = n;
	return buf;
}

static void
test_types(struct ep_db *db)
{
	struct ep_error err;
	int rc;
	char *out;

	out = run(db, "SELECT id, first_name, last_name, email, gpa, balance, "
	    "born, enrolled_at, active, credits, note FROM people "
	    "WHERE id <= 3 ORDER BY id", NULL, 0, &rc, &err, NULL);
	is_int(rc, 0, "types: query runs (%s)", err.msg);
	is_str(out,
	    "{\"id\":1,\"first_name\":\"Zoë\",\"last_name\":\"Ødegård\","
	    "\"email\":\"zoe@example.edu\",\"gpa\":\"3.75\","
	    "\"balance\":\"12345678901234567890.123456\","
	    "\"born\":\"2001-02-03\",\"enrolled_at\":\"2021-01-05T13:45:30.123\","
	    "\"active\":true,\"credits\":12.5,"
	    "\"note\":\"first \\\"quoted\\\" line\\nsecond line\"}\n"
	    "{\"id\":2,\"first_name\":\"太郎\",\"last_name\":\"山田\","
	    "\"email\":null,\"gpa\":null,\"balance\":null,\"born\":null,"
	    "\"enrolled_at\":null,\"active\":false,\"credits\":null,"
	    "\"note\":null}\n"
	    "{\"id\":3,\"first_name\":\"Seán\",\"last_name\":\"O'Brien\","
	    "\"email\":\"sean@example.edu\",\"gpa\":\"2.50\","
	    "\"balance\":\"-0.000001\",\"born\":\"1999-12-31\","
	    "\"enrolled_at\":\"1999-12-31T23:59:59\",\"active\":true,"
	    "\"credits\":0.1,\"note\":\"\"}\n",
	    "types: int, nvarchar (non-ASCII), NULL (NBCROW), decimal "
	    "without rounding, date, datetime, bit, float, nvarchar(max)");
	free(out);

	size_t n = 99;
	const char *const *cols;

	out = run(db, "SELECT username, role FROM enrollments WHERE 1 = 0",
	    NULL, 0, &rc, &err, NULL);
	is_int(rc, 0, "empty result: no error");
	is_str(out, "", "empty result: no rows");
	cols = ep_db_columns(db, &n);
	ok(n == 2 && cols && strcmp(cols[0], "username") == 0 &&
	    strcmp(cols[1], "role") == 0,
	    "empty result: the column names are known");
	free(out);
}

static void
test_params(struct ep_db *db)
{
	struct ep_error err;
	int rc;
	char *out;
	struct ep_db_param p[3] = {
		{ "term", "2021WI" }, { "role", "student" }
	};

	out = run(db, "SELECT course, section, username FROM enrollments "
	    "WHERE term = :term AND role = :role ORDER BY course", p, 2, &rc,
	    &err, NULL);
	is_int(rc, 0, "params: bound query runs (%s)", err.msg);
	is_str(out, "{\"course\":\"BSC5102\",\"section\":null,"
	    "\"username\":\"zoe\"}\n{\"course\":\"COUN6552\","
	    "\"section\":\"02\",\"username\":\"yamada\"}\n",
	    "params: :term and :role bound");
	free(out);

	p[0].value = "2021WI' OR '1'='1";
	out = run(db, "SELECT username FROM enrollments WHERE term = :term",
	    p, 1, &rc, &err, NULL);
	is_int(rc, 0, "injection: runs");
	is_str(out, "", "injection: a quote in a value is data, not SQL");
	free(out);

	p[0].value = "x'; DROP TABLE people; --";
	out = run(db, "SELECT :term AS v", p, 1, &rc, &err, NULL);
	is_str(out, "{\"v\":\"x'; DROP TABLE people; --\"}\n",
	    "injection: the value comes back unchanged");
	free(out);
	out = run(db, "SELECT count(*) AS n FROM people", NULL, 0, &rc, &err,
	    NULL);
	is_str(out, "{\"n\":4}\n", "injection: the table is still there");
	free(out);

	p[0].value = "Zoë";
	out = run(db, "SELECT id FROM people WHERE first_name = :term OR "
	    "last_name = :term", p, 1, &rc, &err, NULL);
	is_str(out, "{\"id\":1}\n", "params: non-ASCII value, used twice");
	free(out);

	p[0].value = "";
	p[1].value = NULL;
	p[2].name = "lit";
	p[2].value = "@P1 ':role'";
	out = run(db, "SELECT :term AS e, :role AS n, ':term' AS t, :lit AS l",
	    p, 3, &rc, &err, NULL);
	is_int(rc, 0, "params: empty and NULL values (%s)", err.msg);
	is_str(out, "{\"e\":\"\",\"n\":null,\"t\":\":term\","
	    "\"l\":\"@P1 ':role'\"}\n",
	    "params: empty string stays empty, NULL stays null, literals "
	    "are left alone");
	free(out);
}

static void
test_errors(struct ep_db *db, int port)
{
	struct ep_error err;
	int rc;
	char *out, url[128];
	struct ep_db *bad;

	out = run(db, "SELECT * FROM no_such_table", NULL, 0, &rc, &err,
	    NULL);
	is_int(rc, 65, "SQL error: exit code 65");
	ok(strstr(err.msg, "Invalid object name 'no_such_table'") != NULL,
	    "SQL error: the server's message (%s)", err.msg);
	free(out);

	out = run(db, "SELEC 1", NULL, 0, &rc, &err, NULL);
	is_int(rc, 65, "syntax error: 65");
	ok(strstr(err.msg, "Incorrect syntax near 'SELEC'") != NULL,
	    "syntax error: message (%s)", err.msg);
	free(out);

	struct ep_db_param x = { "x", "1" };

	out = run(db, "SELECT * FROM no_such_table WHERE a = :x", &x, 1, &rc,
	    &err, NULL);
	is_int(rc, 65, "SQL error through sp_executesql: 65");
	free(out);
	out = run(db, "SELECT CASE WHEN id < 3 THEN id ELSE 'x' END AS v "
	    "FROM people ORDER BY id", NULL, 0, &rc, &err, NULL);
	is_int(rc, 65, "error after two rows: 65 (%s)", err.msg);
	free(out);

	out = run(db, "SELECT :x AS one", &x, 1, &rc, &err, NULL);
	is_str(out, "{\"one\":\"1\"}\n",
	    "the connection is usable after errors");
	free(out);

	is_int(ep_db_exec(db, "CREATE TEMP TABLE t(x INT)", &err), 0,
	    "exec: a statement without a result");
	is_int(ep_db_exec(db, "INSERT INTO nope VALUES (1)", &err), -1,
	    "exec: a failing statement fails");
	is_int(err.code, 65, "exec: with 65");

	snprintf(url, sizeof(url), "mssql://sis@127.0.0.1:%d/sis", port);
	bad = ep_db_open(url, "wrong", 0, &err);
	ok(bad == NULL, "wrong password: refused");
	is_int(err.code, 77, "wrong password: 77");
	ok(strstr(err.msg, "Login failed for user 'sis'") != NULL &&
	    strstr(err.msg, "wrong") == NULL,
	    "wrong password: the server's message, no password (%s)",
	    err.msg);
	ep_db_close(bad);

	snprintf(url, sizeof(url), "mssql://sis@127.0.0.1:%d/otherdb", port);
	bad = ep_db_open(url, "s3cr3t pa55", 0, &err);
	ok(bad == NULL && err.code == 77, "unknown database: 77 (%s)",
	    err.msg);
	ep_db_close(bad);

	snprintf(url, sizeof(url), "mssql://sis@127.0.0.1:%d/sis",
	    free_port());
	bad = ep_db_open(url, "s3cr3t pa55", 0, &err);
	ok(bad == NULL, "unreachable: no connection");
	is_int(err.code, 69, "unreachable: 69");
	ok(strstr(err.msg, "cannot connect") != NULL &&
	    strstr(err.msg, "pa55") == NULL, "unreachable: message (%s)",
	    err.msg);
	ep_db_close(bad);
}

static void
test_big(struct ep_db *db)
{
	struct ep_error err;
	int rc;
	long n;
	char *out;

	out = run(db, "SELECT id, name, amount FROM big ORDER BY id", NULL,
	    0, &rc, &err, &n);
	is_int(rc, 0, "100k rows: no error");
	is_int(n, 100000, "100k rows: all of them");
	ok(out && strstr(out, "{\"id\":100000,\"name\":\"student 100000\","
	    "\"amount\":\"125000.00\"}\n") != NULL, "100k rows: the last one");
	free(out);
}

static void
test_dropped(int port)
{
	struct ep_error err;
	int rc;
	long n;
	char *out, url[128];
	struct ep_db *db;
	pid_t pid = start_server(port, "--die-after", "1000");
	struct ep_db_param p = { "min", "0" };

	ok(pid > 0, "dropping server started");
	snprintf(url, sizeof(url), "mssql://sis@127.0.0.1:%d/sis", port);
	db = ep_db_open(url, "s3cr3t pa55", 0, &err);
	ok(db != NULL, "dropping server: connected (%s)", db ? "" : err.msg);
	if (db != NULL) {
		out = run(db, "SELECT id, name FROM big WHERE id > :min", &p,
		    1, &rc, &err, &n);
		is_int(rc, 69, "dropped mid-result: 69");
		ok(n >= 1 && n <= 1000, "dropped mid-result: %ld rows before "
		    "the error, not 100000", n);
		ok(strstr(err.msg, "lost") != NULL, "dropped: message (%s)",
		    err.msg);
		free(out);
		ep_db_close(db);
	}
	stop_server(pid);
}

int
main(void)
{
	struct ep_error err;
	struct ep_db *db;
	int port = free_port(), port2 = free_port();
	pid_t pid;
	char url[128];
	bool ci = getenv("CI") && strcmp(getenv("CI"), "true") == 0;

	/* The developer's own freetds.conf must not change the tests. */
	setenv("FREETDSCONF", "/dev/null", 1);
	if (access("/usr/bin/python3", X_OK) == 0)
		python = "/usr/bin/python3";
	if (access(SERVER, R_OK) != 0 ||
	    system("command -v python3 >/dev/null 2>&1") != 0) {
		if (ci) {
			ok(0, "python3 and " SERVER " are needed under CI");
			return done_testing();
		}
		printf("ok 1 - # skip python3 or " SERVER " missing\n1..1\n");
		return 0;
	}
	if (mkdtemp(tmpdir) == NULL) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return done_testing();
	}
	snprintf(dbpath, sizeof(dbpath), "%s/sis.db", tmpdir);
	ok(load_fixture() == 0, "fixture loaded into SQLite");
	pid = start_server(port, NULL, NULL);
	ok(pid > 0, "TDS server started on port %d", port);
	snprintf(url, sizeof(url), "mssql://sis@127.0.0.1:%d/sis", port);
	db = ep_db_open(url, "s3cr3t pa55", 0, &err);
	ok(db != NULL, "connected (%s)", db ? url : err.msg);
	if (db != NULL) {
		test_types(db);
		test_params(db);
		test_errors(db, port);
		test_big(db);
		ep_db_close(db);
	}
	stop_server(pid);
	test_dropped(port2);
	unlink(dbpath);
	rmdir(tmpdir);
	return done_testing();
}
