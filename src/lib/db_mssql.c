/*
 * db_mssql.c - the SQL Server backend: mssql://USER@HOST[:PORT]/DATABASE
 * through FreeTDS db-lib (-lsybdb), TDS 7.4.
 *
 * Connection: the login asks for TDS 7.4 (dbsetlversion), the client
 * character set UTF-8 and the database of the URL; the host is given to
 * dbopen as "HOST:PORT" (default port 1433), so no freetds.conf entry is
 * needed.  Encryption is what the server asks for in its PRELOGIN answer
 * (FreeTDS's default "request": TLS when the server offers it, plain TDS
 * when it answers ENCRYPT_NOT_SUP); a site that must insist on TLS sets
 * "encryption = require" in the freetds.conf that FREETDSCONF names.
 *
 * Parameters: placeholder i is written "@P<i>", the form SQL Server's own
 * ODBC driver uses, and a query with parameters runs as an RPC call of
 * sp_executesql with @stmt, @params (N'@P1 nvarchar(4000),...') and each
 * value as an NVARCHAR (or NULL).  The values never enter the SQL text.
 * db-lib cannot send an empty string (length 0 means NULL), so an empty
 * value goes as NULL and the statement starts with SET @Pi = N''.
 * Numbered names rather than the :names of the query: the ops interface
 * hands the values over in placeholder order without their names (a
 * query that DECLAREs its own @P1 would clash).  A query without
 * parameters goes as a plain SQL batch.  Each session starts with SET
 * TEXTSIZE 2147483647 so long text is not cut at the server's default.
 *
 * Values (tdsval.c): integers JSON numbers, (n)varchar/text UTF-8
 * strings, NULL null, decimal/numeric/money strings with every digit the
 * server sent (no float on the way), datetime/date/time ISO 8601 strings,
 * bit booleans, floats numbers (NaN and infinities strings), binary hex
 * digits.  Rows stream one dbnextrow at a time.
 *
 * Errors: db-lib reports through two process-wide callbacks; they keep
 * the last server message (severity above 10) and the last library error
 * in static buffers, which each call here clears first and reads after.
 * Login refused (18456 and friends) 77; no connection 69; a server error
 * in a query 65 with the server's text; a link lost mid-result 69.
 *
 * Time limit (ep_db_open_timeout): dbsettime bounds each wait for the
 * server.  When it passes, the error handler cancels (SYBETIME), and the
 * connection is closed without waiting for the server to acknowledge a
 * cancel: a server that stalls would not.  dbsettime is process-wide;
 * the last connection opened sets it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sybfront.h>
#include <sybdb.h>

#include "db.h"
#include "secret.h"
#include "tdsval.h"

struct ms {
	DBPROCESS *dbp;
	char *where;		/* "mssql://user@host:port/db" for messages */
	char **cols;		/* names of the current result's columns */
	unsigned timeout;	/* seconds (dbsettime) */
	unsigned long nrows;	/* rows of the current result read */
	bool broken;		/* given up after a timeout */
	int *types;
	int ncols;
	bool rows;		/* a result set is being read */
	char *buf;		/* conversion scratch */
	size_t bufsz;
};

/* What the db-lib callbacks saw since the last clear_errors(). */
static struct {
	int msgno;		/* first server error (severity > 10) */
	int severity;
	char msg[512];
	bool login_failed;
	bool timed_out;		/* SYBETIME: a wait passed dbsettime */
	int dberr;		/* last library error */
	int oserr;
	char dbmsg[512];
} last;

static int nopen;		/* connections open: dbexit after the last */

static void
clear_errors(void)
{
	memset(&last, 0, sizeof(last));
}

static int
msg_handler(DBPROCESS *dbp, DBINT msgno, int state, int severity,
    char *text, char *server, char *proc, int line)
{
	(void)dbp, (void)state, (void)server, (void)proc, (void)line;
	/* 18456 login failed, 18452 untrusted domain, 18470 disabled,
	 * 18487/18488 password expired, 4060 cannot open the database. */
	if (msgno == 18456 || msgno == 18452 || msgno == 18470 ||
	    msgno == 18487 || msgno == 18488 || msgno == 4060)
		last.login_failed = true;
	if (severity > 10 && last.msgno == 0) {
		last.msgno = msgno;
		last.severity = severity;
		snprintf(last.msg, sizeof(last.msg), "%s", text ? text : "");
	}
	return 0;
}

static int
err_handler(DBPROCESS *dbp, int severity, int dberr, int oserr,
    char *dbtext, char *ostext)
{
	(void)dbp, (void)severity;
	/* "General SQL Server error: check messages" only points at the
	 * message the other callback already has. */
	if (dberr == SYBESMSG)
		return INT_CANCEL;
	if (dberr == SYBETIME)
		last.timed_out = true;
	last.dberr = dberr;
	last.oserr = oserr;
	if (oserr != DBNOERR && oserr != 0 && ostext != NULL)
		snprintf(last.dbmsg, sizeof(last.dbmsg), "%s (%s)",
		    dbtext ? dbtext : "", ostext);
	else
		snprintf(last.dbmsg, sizeof(last.dbmsg), "%s",
		    dbtext ? dbtext : "");
	/* INT_CANCEL: the failing call returns FAIL; the default would be
	 * to exit the process. */
	return INT_CANCEL;
}

/* The library's own text, without a trailing newline or full stop. */
static const char *
lib_text(void)
{
	size_t n = strlen(last.dbmsg);

	while (n > 0 && (last.dbmsg[n - 1] == '\n' ||
	    last.dbmsg[n - 1] == '.' || last.dbmsg[n - 1] == ' '))
		last.dbmsg[--n] = '\0';
	return n ? last.dbmsg : "unknown FreeTDS error";
}

/*
 * Fill err after a failed call: a lost link is 69, a server error 65
 * with its text, anything else from the library 69 (the library only
 * fails on its own for I/O).
 */
static int
fail(struct ms *m, const char *what, struct ep_error *err)
{
	if (last.timed_out) {
		/* No dbcancel: it would wait for the stalled server. */
		ep_db_timeout_error(err, m->timeout, m->nrows);
		m->broken = true;
		m->rows = false;
		return -1;
	}
	if (m->dbp != NULL && DBDEAD(m->dbp))
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: connection to "
		    "'%s' lost: %s", what, m->where, last.dberr ? lib_text() :
		    "the server closed the connection");
	else if (last.msgno != 0)
		ep_error_set(err, EP_EXIT_DATAERR, "SQL error: %s (SQL Server "
		    "error %d)", last.msg, last.msgno);
	else
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s on '%s': %s", what,
		    m->where, lib_text());
	/* Whatever the failed command still has to send is not wanted, and
	 * would block the next command ("results pending"). */
	if (m->dbp != NULL && !DBDEAD(m->dbp))
		dbcancel(m->dbp);
	m->rows = false;
	return -1;
}

static void
free_cols(struct ms *m)
{
	for (int i = 0; i < m->ncols; i++)
		free(m->cols[i]);
	free(m->cols);
	free(m->types);
	m->cols = NULL;
	m->types = NULL;
	m->ncols = 0;
}

static int drain(struct ms *m, bool one);

static void *
ms_open(const char *url, const char *password, int flags, unsigned timeout,
    struct ep_error *err)
{
	struct ep_url u;
	struct ms *m = NULL;
	LOGINREC *login = NULL;
	char *server = NULL;
	const char *db;
	int port;

	if (ep_url_parse(url, &u, err) < 0)
		return NULL;
	db = u.path[0] == '/' ? u.path + 1 : u.path;
	if (u.host == NULL || u.host[0] == '\0' || u.user == NULL ||
	    u.user[0] == '\0') {
		ep_error_set(err, EP_EXIT_CONFIG, "bad SQL Server URL '%s' "
		    "(use mssql://USER@HOST[:PORT]/DATABASE)", url);
		goto out;
	}
	port = u.port ? u.port : 1433;
	if (nopen == 0 && dbinit() == FAIL) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "cannot initialise "
		    "FreeTDS db-lib");
		goto out;
	}
	nopen++;
	dberrhandle(err_handler);
	dbmsghandle(msg_handler);
	/* A host that drops packets must not hang a cron job for ever. */
	dbsetlogintime(30);
	dbsettime(timeout > INT_MAX ? INT_MAX : (int)timeout);

	m = ep_xcalloc(1, sizeof(*m));
	m->timeout = timeout;
	m->where = ep_xasprintf("mssql://%s@%s:%d/%s", u.user, u.host, port,
	    db);
	server = strchr(u.host, ':') != NULL ?
	    ep_xasprintf("[%s]:%d", u.host, port) :
	    ep_xasprintf("%s:%d", u.host, port);
	clear_errors();
	if ((login = dblogin()) == NULL) {
		ep_error_set(err, EP_EXIT_NOMEM, "cannot allocate a login");
		goto fail;
	}
	DBSETLUSER(login, u.user);
	if (password != NULL)
		DBSETLPWD(login, password);
	DBSETLAPP(login, "edpipe");
	DBSETLCHARSET(login, "UTF-8");
	if (db[0] != '\0')
		DBSETLDBNAME(login, db);
	/* ApplicationIntent=ReadOnly: an availability group routes the
	 * session to a readable secondary.  It is a hint, not a guard:
	 * what the login may change is up to its permissions. */
	if (flags & EP_DB_READONLY)
		DBSETLREADONLY(login, TRUE);
	if (dbsetlversion(login, DBVERSION_74) == FAIL) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "this FreeTDS cannot "
		    "speak TDS 7.4");
		goto fail;
	}
	m->dbp = dbopen(login, server);
	if (m->dbp == NULL) {
		if (last.login_failed)
			ep_error_set(err, EP_EXIT_NOPERM, "cannot log in to "
			    "'%s': %s", m->where, last.msg[0] ? last.msg :
			    "login refused");
		else if (last.msgno != 0)
			ep_error_set(err, EP_EXIT_UNAVAILABLE, "cannot "
			    "connect to '%s': %s", m->where, last.msg);
		else
			ep_error_set(err, EP_EXIT_UNAVAILABLE, "cannot "
			    "connect to '%s': %s", m->where, lib_text());
		goto fail;
	}
	/* SQL Server's default TEXTSIZE (4096 bytes for clients that do not
	 * set one) would cut text and nvarchar(max) values short without a
	 * word; ODBC drivers raise it the same way on every connection. */
	if (dbcmd(m->dbp, "SET TEXTSIZE 2147483647") == FAIL ||
	    dbsqlexec(m->dbp) == FAIL || drain(m, false) < 0 ||
	    last.msgno != 0) {
		fail(m, "cannot set up the session", err);
		dbclose(m->dbp);
		goto fail;
	}
	goto out;
fail:
	if (m != NULL) {
		free(m->where);
		free(m);
		m = NULL;
	}
	if (--nopen == 0)
		dbexit();
out:
	if (login != NULL)
		dbloginfree(login);
	free(server);
	ep_url_free(&u);
	return m;
}

/*
 * Read what is left of the current command's results.  Returns 0, -1 on
 * an error, or with one set -2 when another result set with columns
 * follows (only one can become records; the rest is cancelled).
 */
static int
drain(struct ms *m, bool one)
{
	RETCODE rc;

	m->rows = false;
	while ((rc = dbresults(m->dbp)) == SUCCEED) {
		if (one && dbnumcols(m->dbp) > 0) {
			dbcancel(m->dbp);
			return -2;
		}
		while ((rc = dbnextrow(m->dbp)) != NO_MORE_ROWS)
			if (rc == FAIL)
				return -1;
	}
	return rc == FAIL || DBDEAD(m->dbp) ? -1 : 0;
}

/* Go to the first result that has columns, keeping their names. */
static int
first_result(struct ms *m, struct ep_error *err)
{
	RETCODE rc;

	while ((rc = dbresults(m->dbp)) == SUCCEED) {
		if (last.msgno != 0)
			return fail(m, "query failed", err);
		m->ncols = dbnumcols(m->dbp);
		if (m->ncols > 0)
			break;
	}
	if (rc == FAIL || last.msgno != 0 || DBDEAD(m->dbp))
		return fail(m, "query failed", err);
	if (rc == NO_MORE_RESULTS) {
		m->ncols = 0;
		return 0;
	}
	m->cols = ep_xcalloc((size_t)m->ncols, sizeof(*m->cols));
	m->types = ep_xcalloc((size_t)m->ncols, sizeof(*m->types));
	for (int i = 0; i < m->ncols; i++) {
		const char *name = dbcolname(m->dbp, i + 1);

		m->cols[i] = ep_xstrdup(name ? name : "");
		m->types[i] = dbcoltype(m->dbp, i + 1);
	}
	m->rows = true;
	return 0;
}

/* Stop whatever the last command still has to send. */
static void
reset(struct ms *m)
{
	free_cols(m);
	if (m->rows) {
		dbcancel(m->dbp);
		m->rows = false;
	}
}

static int
ms_query(void *h, const char *sql, const char *const *values, size_t np,
    struct ep_error *err)
{
	struct ms *m = h;
	char *decl = NULL, *stmt = NULL, *name = NULL;
	size_t dlen = 0, slen = 0;
	FILE *fp;
	int rc = -1;

	reset(m);
	clear_errors();
	m->nrows = 0;
	if (m->broken) {
		ep_db_timeout_error(err, m->timeout, 0);
		return -1;
	}
	if (np == 0) {
		if (dbcmd(m->dbp, sql) == FAIL || dbsqlexec(m->dbp) == FAIL)
			return fail(m, "query failed", err);
		return first_result(m, err);
	}
	/* @params: every value an nvarchar; nvarchar(max) past 4000
	 * characters (an nvarchar(4000) would truncate it silently). */
	fp = open_memstream(&decl, &dlen);
	for (size_t i = 0; i < np; i++)
		fprintf(fp, "%s@P%zu nvarchar(%s)", i ? "," : "", i + 1,
		    values[i] && strlen(values[i]) > 4000 ? "max" : "4000");
	fclose(fp);
	/* db-lib sends a value of length 0 as NULL, so an empty string is
	 * given as NULL and set to N'' by the statement itself. */
	fp = open_memstream(&stmt, &slen);
	for (size_t i = 0; i < np; i++)
		if (values[i] != NULL && values[i][0] == '\0')
			fprintf(fp, "SET @P%zu = N'';\n", i + 1);
	fputs(sql, fp);
	fclose(fp);
	if (dbrpcinit(m->dbp, "sp_executesql", 0) == FAIL ||
	    dbrpcparam(m->dbp, "@stmt", 0, SYBNTEXT, -1,
	    (DBINT)strlen(stmt), (BYTE *)stmt) == FAIL ||
	    dbrpcparam(m->dbp, "@params", 0, SYBNTEXT, -1,
	    (DBINT)strlen(decl), (BYTE *)decl) == FAIL) {
		fail(m, "query failed", err);
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		free(name);
		name = ep_xasprintf("@P%zu", i + 1);
		if (dbrpcparam(m->dbp, name, 0, SYBNTEXT, -1,
		    values[i] ? (DBINT)strlen(values[i]) : 0,
		    (BYTE *)values[i]) == FAIL) {
			fail(m, "query failed", err);
			goto out;
		}
	}
	if (dbrpcsend(m->dbp) == FAIL || dbsqlok(m->dbp) == FAIL) {
		fail(m, "query failed", err);
		goto out;
	}
	rc = first_result(m, err);
out:
	if (rc < 0)
		dbrpcinit(m->dbp, "", DBRPCRESET);
	free(name);
	free(stmt);
	free(decl);
	return rc;
}

/* Set field name from column c (1-based) of the current row. */
static int
put_value(struct ms *m, struct ep_rec *row, int c, struct ep_error *err)
{
	BYTE *data = dbdata(m->dbp, c);
	DBINT len = dbdatlen(m->dbp, c);

	if (data == NULL && len <= 0) {
		ep_rec_set(row, m->cols[c - 1], EP_T_NULL, "null", 4);
		return 0;
	}
	return ep_tds_value(row, m->cols[c - 1], m->types[c - 1], data, len,
	    &m->buf, &m->bufsz, err);
}

static int
ms_next(void *h, struct ep_rec *row, struct ep_error *err)
{
	struct ms *m = h;
	RETCODE rc;

	if (!m->rows)
		return 0;
	rc = dbnextrow(m->dbp);
	if (rc == REG_ROW) {
		if (last.msgno != 0)
			return fail(m, "query failed", err);
		m->nrows++;
		for (int c = 1; c <= m->ncols; c++)
			if (put_value(m, row, c, err) < 0) {
				char *msg = ep_xasprintf("row %lu, %s",
				    m->nrows, err->msg);

				snprintf(err->msg, sizeof(err->msg), "%s", msg);
				free(msg);
				reset(m);
				return -1;
			}
		return 1;
	}
	if (rc == NO_MORE_ROWS) {
		/* An error after the last row (or a second result set that
		 * failed) must not pass for the end of the data. */
		int more = last.msgno != 0 || DBDEAD(m->dbp) ? -1 :
		    drain(m, true);

		m->rows = false;
		if (more == -2 && last.msgno == 0) {
			ep_error_set(err, EP_EXIT_DATAERR, "the query returns "
			    "more than one result set (only one can be read "
			    "as records)");
			return -1;
		}
		if (more < 0 || last.msgno != 0)
			return fail(m, "query failed", err);
		return 0;
	}
	m->rows = false;
	if (rc == FAIL)
		return fail(m, "reading rows failed", err);
	/* A COMPUTE row or a full buffer: neither is asked for. */
	ep_error_set(err, EP_EXIT_SOFTWARE, "unexpected row kind %d from "
	    "db-lib", (int)rc);
	return -1;
}

static int
ms_exec(void *h, const char *sql, struct ep_error *err)
{
	struct ms *m = h;

	reset(m);
	clear_errors();
	if (m->broken) {
		ep_db_timeout_error(err, m->timeout, 0);
		return -1;
	}
	if (dbcmd(m->dbp, sql) == FAIL || dbsqlexec(m->dbp) == FAIL ||
	    drain(m, false) < 0 || last.msgno != 0)
		return fail(m, "statement failed", err);
	return 0;
}

static void
ms_close(void *h)
{
	struct ms *m = h;

	if (m == NULL)
		return;
	free_cols(m);
	dbclose(m->dbp);
	free(m->where);
	free(m->buf);
	free(m);
	if (--nopen == 0)
		dbexit();
}

static char *
ms_placeholder(size_t i, const char *name)
{
	(void)name;
	return ep_xasprintf("@P%zu", i);
}

static const char *const *
ms_columns(void *h, size_t *n)
{
	struct ms *m = h;

	*n = (size_t)m->ncols;
	return (const char *const *)m->cols;
}

const struct ep_db_ops ep_db_mssql_ops = {
	.name = "mssql",
	.open = ms_open,
	.query = ms_query,
	.next = ms_next,
	.exec = ms_exec,
	.close = ms_close,
	.placeholder = ms_placeholder,
	.columns = ms_columns,
	.begin_sql = "BEGIN TRANSACTION",
};
