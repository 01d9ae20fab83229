/*
 * db_odbc.c - any database with an ODBC driver, through unixODBC
 * (-lodbc): Oracle (PowerSchool, Banner) with Oracle's Instant Client
 * driver, DB2, and the SQLite and PostgreSQL drivers the tests use.
 *
 * odbc:DSN                      a data source of odbc.ini
 * odbc:Driver=NAME;Server=...   a full connection string (any text with
 *                               an '=' in it), keys as the driver takes them
 *
 * The password is the caller's secret: PWD={...} is added to the string
 * handed to SQLDriverConnect and never printed; a PWD or Password key in
 * the URL itself is refused (it would show in ps(1)).  ODBCSYSINI and
 * ODBCINI name the directory of odbcinst.ini and the odbc.ini file, as
 * for every unixODBC program.
 *
 * Parameters: '?' markers bound with SQLBindParameter as wide text
 * (SQL_C_WCHAR, UTF-16), and text columns read as wide text, so the
 * driver converts to and from the server's character set whatever the
 * locale.  The SQL text, the connection string and column names go
 * through the narrow calls as UTF-8 bytes: unixODBC narrows wide SQL for
 * an ANSI driver (the SQLite one) by dropping the high byte, which
 * would mangle any non-ASCII literal; a Unicode driver (psqlODBC) reads
 * the narrow text in the locale's character set, so LC_CTYPE is made
 * C.UTF-8 when the locale's is not UTF-8.  As in db_mysql.c, placeholder
 * i is written "?\1i\2" and the marker stripped before SQLPrepare,
 * mapping each '?' to its value.  Rows stream one SQLFetch at a time; text is read with
 * SQLGetData in chunks, so a long value needs no size known in advance.
 *
 * Values by the type SQLDescribeCol gives: integers numbers, bit booleans,
 * decimal/numeric strings (Oracle's NUMBER included), float/real/double
 * numbers, date/time/timestamp ISO 8601 strings, character types UTF-8
 * strings, binary hex digits, NULL null.
 *
 * Transactions: ODBC has no portable BEGIN, so exec() takes "BEGIN" to
 * mean autocommit off, and "COMMIT" / "ROLLBACK" to mean SQLEndTran and
 * autocommit on again.
 *
 * Errors carry the driver's diagnostic record (SQLGetDiagRec) without
 * its "[vendor][driver]" tags, and the SQLSTATE picks the exit code:
 * 28xxx 77, 08xxx 69, IMxxx (no such DSN or driver) 78, 40001 75, a
 * timeout (HYT00, HYT01, 57014) 75, anything else in a query 65.
 *
 * Time limit (ep_db_open_timeout): SQL_ATTR_QUERY_TIMEOUT on every
 * statement and SQL_ATTR_CONNECTION_TIMEOUT on the connection.  How a
 * driver keeps them is its own affair (psqlODBC through the server's
 * statement_timeout, others with a client-side wait, some not at all).
 */
#include <ctype.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sql.h>
#include <sqlext.h>

#include "db.h"
#include "secret.h"

#define CHUNK 4096		/* bytes asked of SQLGetData at a time */
#define BATCH 1000		/* rows per parameter array (bulk load) */
#define BATCH_BYTES (8u << 20)	/* ... and at most this much bound text */
#define ABATCH 10000		/* rows per batch of array literals */
#define ABATCH_BYTES (16u << 20)	/* ... and at most this much text */
#define NOFF UINT32_MAX		/* the offset of a NULL value */

enum coltype { C_STR, C_NUM, C_FLOAT, C_BOOL, C_DATE, C_TIME, C_TS, C_HEX };

/* Rows queued for the bulk load. */
struct bq {
	SQLWCHAR *buf;		/* the values' UTF-16 text, one after the
				 * other */
	size_t len, cap;	/* in units */
	uint32_t *off;		/* per value (n * bcols): its offset in buf,
				 * NOFF for NULL */
	uint32_t *qlen;		/* ... and its length in UTF-16 units */
	size_t *width;		/* each column's widest queued value */
	size_t n;		/* rows */
};

struct od {
	SQLHENV env;
	SQLHDBC dbc;
	SQLHSTMT stmt;		/* the current statement, or NULL */
	char *where;		/* the URL, for messages */
	char **cols;
	enum coltype *ctype;
	size_t ncols;
	bool rows;
	unsigned long nrows;
	long changes;		/* SQLRowCount of the last query, or -1 */
	unsigned timeout;	/* seconds, for each statement */
	SQLWCHAR **pval;	/* the bound parameters' UTF-16 text */
	SQLLEN *pind;
	size_t np;
	char *buf;		/* one value, as UTF-8 or bytes */
	size_t len, cap;
	char *tmp;
	size_t tmpcap;
	/* The bulk load (copy_* ops): a prepared INSERT run with arrays of
	 * parameters, bmax rows at a time, bn of them queued. */
	SQLHSTMT bstmt;
	size_t bcols, bmax;
	struct bq q;		/* the rows queued */
	SQLWCHAR **barr;	/* per column: the bound array */
	SQLLEN **bind;		/* per column: the indicators */
	SQLUSMALLINT *bstat;	/* per row: SQL_PARAM_SUCCESS, _ERROR... */
	SQLULEN bdone;		/* rows the driver processed */
	unsigned long bsent;	/* rows executed before this batch */
	unsigned long bbad;	/* a failed batch: the row blamed, or 0 */
	bool bfailed;
	bool bsave;		/* SAVEPOINT works: a failed batch is rerun
				 * row by row to find the bad row */
	struct ep_error berr;
	/* copy_arrays (PostgreSQL): one INSERT ... SELECT unnest(?), ...
	 * per batch, each column's values bound as one array literal;
	 * bstmt stays prepared to rerun a failed batch a row at a time. */
	SQLHSTMT astmt;
	char *adelim;		/* per column: its type's array delimiter */
	SQLWCHAR **alit;	/* per column: the literal, kept from batch
				 * to batch (no fresh pages each time) */
	size_t *alitcap;	/* ... its room in units */
	SQLLEN *aind;		/* ... its length in bytes */
	/* While the server runs one batch (s, in a thread of its own), the
	 * next is read and queued (q): the client's work overlaps the
	 * server's, as with COPY.  The thread makes the only ODBC calls
	 * until array_wait joins it. */
	struct bq s;
	pthread_t wthr;
	bool inflight, wthread;
	int wrc;		/* array_run's result */
	char wst[6], wmsg[900];
	char dbms[64];		/* SQL_DBMS_NAME, "" before asked */
};

static void bulk_free(struct od *o);

/* ------------------------------------------------------------- UTF-16 */

/* UTF-8 to NUL-terminated UTF-16 in w, which has room for len + 1
 * units (invalid bytes become U+FFFD); the units written. */
static size_t
wide_into(const char *s, size_t len, SQLWCHAR *w)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t o = 0;

	while (p < end) {
		unsigned long c = *p;
		int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 :
		    (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;

		bool ok = n >= 0 && (size_t)(end - p) > (size_t)n;

		if (ok && n > 0) {
			c &= 0x3fu >> n;
			for (int k = 1; k <= n; k++) {
				if ((p[k] & 0xc0) != 0x80) {
					ok = false;
					break;
				}
				c = c << 6 | (p[k] & 0x3f);
			}
		}
		if (!ok) {
			w[o++] = 0xfffd;
			p++;
			continue;
		}
		p += n + 1;
		if (c >= 0x10000) {
			c -= 0x10000;
			w[o++] = (SQLWCHAR)(0xd800 | (c >> 10));
			w[o++] = (SQLWCHAR)(0xdc00 | (c & 0x3ff));
		} else {
			w[o++] = (SQLWCHAR)c;
		}
	}
	w[o] = 0;
	return o;
}

/* UTF-8 to NUL-terminated UTF-16, malloc'd. */
static SQLWCHAR *
to_wide(const char *s, size_t len, size_t *out_units)
{
	SQLWCHAR *w = ep_xcalloc(len + 1, sizeof(SQLWCHAR));
	size_t o = wide_into(s, len, w);

	if (out_units != NULL)
		*out_units = o;
	return w;
}

/* Append n UTF-16 units as UTF-8 to o->buf (a lone surrogate: U+FFFD).
 * A high surrogate at the end of the chunk is kept in *pending. */
static void
put_wide(struct od *o, const SQLWCHAR *w, size_t n, unsigned *pending)
{
	if (o->len + 4 * n + 8 > o->cap) {
		o->cap = o->len + 4 * n + 8 + CHUNK;
		o->buf = ep_xrealloc(o->buf, o->cap);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned long c = w[i];
		char *b = o->buf + o->len;

		if (*pending) {
			if (c >= 0xdc00 && c <= 0xdfff) {
				c = 0x10000 + ((*pending - 0xd800) << 10) +
				    (c - 0xdc00);
				*pending = 0;
			} else {
				*pending = 0;
				memcpy(b, "\xef\xbf\xbd", 3);
				o->len += 3;
				b += 3;
			}
		}
		if (c >= 0xd800 && c <= 0xdbff) {
			*pending = (unsigned)c;
			continue;
		}
		if (c >= 0xdc00 && c <= 0xdfff)
			c = 0xfffd;
		if (c < 0x80) {
			b[0] = (char)c;
			o->len += 1;
		} else if (c < 0x800) {
			b[0] = (char)(0xc0 | c >> 6);
			b[1] = (char)(0x80 | (c & 0x3f));
			o->len += 2;
		} else if (c < 0x10000) {
			b[0] = (char)(0xe0 | c >> 12);
			b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			b[2] = (char)(0x80 | (c & 0x3f));
			o->len += 3;
		} else {
			b[0] = (char)(0xf0 | c >> 18);
			b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
			b[2] = (char)(0x80 | ((c >> 6) & 0x3f));
			b[3] = (char)(0x80 | (c & 0x3f));
			o->len += 4;
		}
	}
}

/* -------------------------------------------------------- diagnostics */

/*
 * The first diagnostic record of handle: its SQLSTATE in state[6] and its
 * text, without leading "[vendor]" tags, trailing newlines or ';', in msg.
 */
static void
diag(SQLSMALLINT type, SQLHANDLE h, char state[6], char *msg, size_t size)
{
	SQLCHAR st[6] = "", text[1024] = "";
	SQLINTEGER native = 0;
	SQLSMALLINT len = 0;
	const char *s = (const char *)text;
	size_t n;

	if (h == NULL || !SQL_SUCCEEDED(SQLGetDiagRec(type, h, 1, st,
	    &native, text, sizeof(text), &len))) {
		memcpy(state, "HY000", 6);
		snprintf(msg, size, "the driver gave no reason");
		return;
	}
	memcpy(state, st, 6);
	state[5] = '\0';
	while (*s == '[' && strchr(s, ']') != NULL)
		s = strchr(s, ']') + 1;
	while (*s == ' ')
		s++;
	n = strcspn(s, "\n");
	while (n > 0 && (s[n - 1] == ';' || s[n - 1] == ' ' ||
	    s[n - 1] == '\r'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(msg, s, n);
	msg[n] = '\0';
}

/* A statement or connection past its time limit. */
static bool
timeout_state(const char *st, const char *msg)
{
	return strcmp(st, "HYT00") == 0 || strcmp(st, "HYT01") == 0 ||
	    strcmp(st, "57014") == 0 ||
	    strstr(msg, "statement timeout") != NULL;
}

static int
state_code(const char *st, const char *msg, bool connecting)
{
	if (strncmp(st, "28", 2) == 0 || strcmp(st, "42501") == 0)
		return EP_EXIT_NOPERM;
	/* psqlODBC reports a refused login as 08001 with the server's text. */
	if (connecting && (strstr(msg, "authentication") != NULL ||
	    strstr(msg, "password") != NULL ||
	    strstr(msg, "Access denied") != NULL ||
	    strstr(msg, "ORA-01017") != NULL))
		return EP_EXIT_NOPERM;
	if (strncmp(st, "IM", 2) == 0)
		return EP_EXIT_CONFIG;
	/* 57P0x: the server shut the session down (PostgreSQL's operator
	 * intervention); drivers also report a dropped link as HY000 with
	 * the server's or libpq's words, depending on when it noticed. */
	/* A login that times out is an unreachable server (69). */
	if (!connecting && timeout_state(st, msg))
		return EP_EXIT_TEMPFAIL;
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "HYT0", 4) == 0 || strncmp(st, "57P0", 4) == 0 ||
	    strstr(msg, "terminating connection") != NULL ||
	    strstr(msg, "server closed the connection") != NULL ||
	    strstr(msg, "no connection to the server") != NULL ||
	    strstr(msg, "could not receive data from server") != NULL)
		return EP_EXIT_UNAVAILABLE;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0)
		return EP_EXIT_TEMPFAIL;
	return connecting ? EP_EXIT_UNAVAILABLE : EP_EXIT_DATAERR;
}

static void diag_error(struct od *o, const char *st, const char *msg,
    struct ep_error *err);

static void
stmt_error(struct od *o, SQLSMALLINT type, SQLHANDLE h,
    struct ep_error *err)
{
	char st[6], msg[900];

	diag(type, h, st, msg, sizeof(msg));
	diag_error(o, st, msg, err);
}

/* err from a diagnostic record read before (see stmt_error). */
static void
diag_error(struct od *o, const char *st, const char *msg,
    struct ep_error *err)
{
	int code = state_code(st, msg, false);

	if (timeout_state(st, msg))
		ep_db_timeout_error(err, o->timeout, o->nrows);
	else if (code == EP_EXIT_UNAVAILABLE)
		ep_error_set(err, code, "lost the connection to the database "
		    "after %lu rows: %s (SQLSTATE %s)", o->nrows, msg, st);
	else
		ep_error_set(err, code, "SQL error: %s (SQLSTATE %s)", msg,
		    st);
}

/* -------------------------------------------------------- connecting */

/* Does the connection string carry a password key? */
static bool
has_password(const char *cs)
{
	const char *p = cs;

	while (*p) {
		size_t k;

		while (*p == ';' || *p == ' ')
			p++;
		k = strcspn(p, "=;");
		if (p[k] == '=' && ((k == 3 && strncasecmp(p, "PWD", 3) == 0) ||
		    (k == 8 && strncasecmp(p, "Password", 8) == 0)))
			return true;
		p += k;
		if (*p == '=') {
			p++;
			if (*p == '{') {
				/* A braced value may hold ';'; "}}" is one '}'. */
				for (p++; *p; p++)
					if (*p == '}' && *++p != '}')
						break;
			}
			p += strcspn(p, ";");
		}
	}
	return false;
}

static void
od_free(struct od *o)
{
	if (o == NULL)
		return;
	if (o->dbc != NULL)
		SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
	if (o->env != NULL)
		SQLFreeHandle(SQL_HANDLE_ENV, o->env);
	free(o->where);
	free(o->buf);
	free(o->tmp);
	free(o);
}

static void *
od_open(const char *url, const char *password, int flags, unsigned timeout,
    struct ep_error *err)
{
	const char *cs = url + strlen("odbc:");
	char *full = NULL, st[6], msg[900];
	struct od *o;
	SQLRETURN r;
	FILE *m;
	size_t len = 0;

	if (strncasecmp(url, "odbc:", 5) != 0 || *cs == '\0') {
		ep_error_set(err, EP_EXIT_CONFIG, "malformed ODBC URL '%s' "
		    "(use odbc:DSN or odbc:Driver=...;...)", url);
		return NULL;
	}
	if (has_password(cs)) {
		ep_error_set(err, EP_EXIT_CONFIG, "refusing the ODBC "
		    "connection string: a password does not belong in it (set "
		    "SIS_PASSWORD or use --password-file)");
		return NULL;
	}
	/* Unicode drivers (psqlODBC) read narrow SQL text in the locale's
	 * character set; edpipe's text is UTF-8 whatever the locale. */
	if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0 &&
	    setlocale(LC_CTYPE, "C.UTF-8") != NULL) {
		/* psqlODBC asks setlocale(LC_CTYPE, "") again. */
		unsetenv("LC_ALL");
		setenv("LC_CTYPE", "C.UTF-8", 1);
	}
	o = ep_xcalloc(1, sizeof(*o));
	o->where = ep_xstrdup(url);
	m = open_memstream(&full, &len);
	if (m == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	fputs(strchr(cs, '=') ? "" : "DSN=", m);
	fputs(cs, m);
	if (password != NULL) {
		fputs(cs[strlen(cs) - 1] == ';' ? "PWD={" : ";PWD={", m);
		for (const char *p = password; *p; p++) {
			if (*p == '}')
				fputc('}', m);
			fputc(*p, m);
		}
		fputc('}', m);
	}
	fclose(m);
	if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE,
	    &o->env)) || !SQL_SUCCEEDED(SQLSetEnvAttr(o->env,
	    SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0)) ||
	    !SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, o->env, &o->dbc))) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "cannot initialise "
		    "unixODBC");
		goto fail;
	}
	o->timeout = timeout;
	SQLSetConnectAttr(o->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)10, 0);
	SQLSetConnectAttr(o->dbc, SQL_ATTR_CONNECTION_TIMEOUT,
	    (SQLPOINTER)(uintptr_t)timeout, 0);
	if (flags & EP_DB_READONLY)
		SQLSetConnectAttr(o->dbc, SQL_ATTR_ACCESS_MODE,
		    (SQLPOINTER)SQL_MODE_READ_ONLY, 0);
	r = SQLDriverConnect(o->dbc, NULL, (SQLCHAR *)full, SQL_NTS, NULL, 0, NULL,
	    SQL_DRIVER_NOPROMPT);
	if (!SQL_SUCCEEDED(r)) {
		diag(SQL_HANDLE_DBC, o->dbc, st, msg, sizeof(msg));
		ep_error_set(err, state_code(st, msg, true), "cannot connect "
		    "to '%s': %s (SQLSTATE %s)", url, msg, st);
		SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
		o->dbc = NULL;
		goto fail;
	}
	free(full);
	return o;
fail:
	free(full);
	od_free(o);
	return NULL;
}

/* ------------------------------------------------------------ queries */

/* A statement handle with the time limit set: SQL_SUCCESS or not. */
static SQLRETURN
new_stmt(struct od *o, SQLHSTMT *st)
{
	SQLRETURN r = SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, st);

	if (!SQL_SUCCEEDED(r))
		return r;
	/* A driver that cannot keep the limit says so (01S02): run anyway,
	 * as no limit is what it would give. */
	SQLSetStmtAttr(*st, SQL_ATTR_QUERY_TIMEOUT,
	    (SQLPOINTER)(uintptr_t)o->timeout, 0);
	return r;
}

static void
cols_free(struct od *o)
{
	for (size_t i = 0; i < o->ncols; i++)
		free(o->cols[i]);
	free(o->cols);
	free(o->ctype);
	o->cols = NULL;
	o->ctype = NULL;
	o->ncols = 0;
}

static void
params_free(struct od *o)
{
	for (size_t i = 0; i < o->np; i++)
		free(o->pval[i]);
	free(o->pval);
	free(o->pind);
	o->pval = NULL;
	o->pind = NULL;
	o->np = 0;
}

static void
stmt_end(struct od *o)
{
	if (o->stmt != NULL) {
		SQLFreeStmt(o->stmt, SQL_CLOSE);
		SQLFreeHandle(SQL_HANDLE_STMT, o->stmt);
	}
	o->stmt = NULL;
	o->rows = false;
	cols_free(o);
	params_free(o);
}

static enum coltype
col_type(SQLSMALLINT t)
{
	switch (t) {
	case SQL_TINYINT:
	case SQL_SMALLINT:
	case SQL_INTEGER:
	case SQL_BIGINT:
		return C_NUM;
	case SQL_REAL:
	case SQL_FLOAT:
	case SQL_DOUBLE:
		return C_FLOAT;
	case SQL_BIT:
		return C_BOOL;
	case SQL_TYPE_DATE:
	case SQL_DATE:
		return C_DATE;
	case SQL_TYPE_TIME:
	case SQL_TIME:
		return C_TIME;
	case SQL_TYPE_TIMESTAMP:
	case SQL_TIMESTAMP:
		return C_TS;
	case SQL_BINARY:
	case SQL_VARBINARY:
	case SQL_LONGVARBINARY:
		return C_HEX;
	default:
		/* decimal, numeric, the character types, GUID, ... */
		return C_STR;
	}
}

static int
describe(struct od *o, struct ep_error *err)
{
	SQLSMALLINT n = 0;

	if (!SQL_SUCCEEDED(SQLNumResultCols(o->stmt, &n))) {
		stmt_error(o, SQL_HANDLE_STMT, o->stmt, err);
		return -1;
	}
	if (n <= 0)
		return 0;
	o->ncols = (size_t)n;
	o->cols = ep_xcalloc(o->ncols + 1, sizeof(char *));
	o->ctype = ep_xcalloc(o->ncols + 1, sizeof(*o->ctype));
	for (SQLUSMALLINT i = 1; i <= n; i++) {
		SQLCHAR name[1024];
		SQLSMALLINT nlen = 0, type = 0, digits = 0, null = 0;
		SQLULEN size = 0;

		if (!SQL_SUCCEEDED(SQLDescribeCol(o->stmt, i, name,
		    sizeof(name), &nlen, &type, &size, &digits, &null))) {
			stmt_error(o, SQL_HANDLE_STMT, o->stmt, err);
			return -1;
		}
		o->cols[i - 1] = ep_xstrdup((char *)name);
		o->ctype[i - 1] = col_type(type);
	}
	o->rows = true;
	return 0;
}

static int
od_query(void *h, const char *sql, const char *const *values, size_t np,
    struct ep_error *err)
{
	struct od *o = h;
	size_t *idx = NULL, n = 0;
	SQLSMALLINT nmark = 0;
	char *text;
	SQLRETURN r;
	int rc = -1;

	stmt_end(o);
	o->nrows = 0;
	o->changes = -1;
	text = ep_db_positional(sql, &idx, &n);
	if (!SQL_SUCCEEDED(new_stmt(o, &o->stmt))) {
		o->stmt = NULL;
		stmt_error(o, SQL_HANDLE_DBC, o->dbc, err);
		goto out;
	}
	if (!SQL_SUCCEEDED(SQLPrepare(o->stmt, (SQLCHAR *)text, SQL_NTS))) {
		stmt_error(o, SQL_HANDLE_STMT, o->stmt, err);
		goto out;
	}
	if (SQL_SUCCEEDED(SQLNumParams(o->stmt, &nmark)) && nmark >= 0 &&
	    (size_t)nmark != n) {
		ep_error_set(err, EP_EXIT_DATAERR, "SQL error: the statement "
		    "has %zu '?' placeholders of its own (use :name "
		    "parameters)", (size_t)nmark - n);
		goto out;
	}
	o->pval = ep_xcalloc(n + 1, sizeof(*o->pval));
	o->pind = ep_xcalloc(n + 1, sizeof(*o->pind));
	o->np = n;
	for (size_t i = 0; i < n; i++) {
		const char *v = idx[i] < np ? values[idx[i]] : NULL;
		size_t units = 0;

		if (v == NULL) {
			o->pind[i] = SQL_NULL_DATA;
			o->pval[i] = ep_xcalloc(1, sizeof(SQLWCHAR));
		} else {
			o->pval[i] = to_wide(v, strlen(v), &units);
			o->pind[i] = (SQLLEN)(units * sizeof(SQLWCHAR));
		}
		r = SQLBindParameter(o->stmt, (SQLUSMALLINT)(i + 1),
		    SQL_PARAM_INPUT, SQL_C_WCHAR, SQL_WVARCHAR,
		    units > 0 ? units : 1, 0, o->pval[i],
		    (SQLLEN)((units + 1) * sizeof(SQLWCHAR)), &o->pind[i]);
		if (!SQL_SUCCEEDED(r)) {
			stmt_error(o, SQL_HANDLE_STMT, o->stmt, err);
			goto out;
		}
	}
	r = SQLExecute(o->stmt);
	if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA) {
		stmt_error(o, SQL_HANDLE_STMT, o->stmt, err);
		goto out;
	}
	if (r == SQL_NO_DATA) {
		/* A searched UPDATE or DELETE that found no row. */
		o->changes = 0;
	} else {
		SQLLEN cnt = -1;

		if (SQL_SUCCEEDED(SQLRowCount(o->stmt, &cnt)))
			o->changes = (long)cnt;
	}
	rc = describe(o, err);
out:
	if (rc < 0)
		stmt_end(o);
	free(idx);
	free(text);
	return rc;
}

/*
 * Read column i of the current row whole into o->buf (o->len bytes):
 * as UTF-8 from wide text, or as bytes.  0, 1 for NULL, -1 on error.
 */
static int
get_chunks(struct od *o, SQLUSMALLINT col, bool binary,
    struct ep_error *err)
{
	unsigned pending = 0;

	o->len = 0;
	if (o->tmpcap < CHUNK) {
		o->tmpcap = CHUNK;
		o->tmp = ep_xrealloc(o->tmp, o->tmpcap);
	}
	for (;;) {
		SQLLEN ind = 0;
		SQLRETURN r = SQLGetData(o->stmt, col, binary ? SQL_C_BINARY :
		    SQL_C_WCHAR, o->tmp, (SQLLEN)o->tmpcap, &ind);
		size_t got;

		if (r == SQL_NO_DATA)
			break;
		if (!SQL_SUCCEEDED(r)) {
			stmt_error(o, SQL_HANDLE_STMT, o->stmt, err);
			return -1;
		}
		if (ind == SQL_NULL_DATA)
			return 1;
		/* Truncated (01004): the buffer is full, less the NUL. */
		if (r == SQL_SUCCESS_WITH_INFO && (ind == SQL_NO_TOTAL ||
		    (size_t)ind >= o->tmpcap))
			got = binary ? o->tmpcap : o->tmpcap - sizeof(SQLWCHAR);
		else
			got = (size_t)ind;
		if (binary) {
			if (o->len + got + 1 > o->cap) {
				o->cap = o->len + got + 1 + CHUNK;
				o->buf = ep_xrealloc(o->buf, o->cap);
			}
			memcpy(o->buf + o->len, o->tmp, got);
			o->len += got;
		} else {
			put_wide(o, (const SQLWCHAR *)(void *)o->tmp,
			    got / sizeof(SQLWCHAR), &pending);
		}
		if (r == SQL_SUCCESS)
			break;
	}
	if (pending) {
		unsigned none = 0;
		SQLWCHAR bad = 0xfffd;

		put_wide(o, &bad, 1, &none);
	}
	return 0;
}

static size_t
put_double(char *s, size_t size, double f)
{
	int n = 0;

	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(s, size, "%.*g", prec, f);
		if (strtod(s, NULL) == f)
			break;
	}
	return (size_t)n;
}

/* ".5" for 500000000 ns, "" for 0: the fraction without trailing 0s. */
static int
put_fraction(char *s, size_t size, SQLUINTEGER ns)
{
	int n;

	if (ns == 0) {
		s[0] = '\0';
		return 0;
	}
	n = snprintf(s, size, ".%09u", (unsigned)ns);
	while (n > 1 && s[n - 1] == '0')
		s[--n] = '\0';
	return n;
}

static int
put_value(struct od *o, struct ep_rec *row, size_t i, struct ep_error *err)
{
	const char *name = o->cols[i];
	SQLUSMALLINT col = (SQLUSMALLINT)(i + 1);
	SQLLEN ind = 0;
	SQLRETURN r = SQL_SUCCESS;
	char s[96], frac[16];
	int n;

	switch (o->ctype[i]) {
	case C_FLOAT: {
		double f = 0;

		r = SQLGetData(o->stmt, col, SQL_C_DOUBLE, &f, sizeof(f),
		    &ind);
		if (!SQL_SUCCEEDED(r))
			break;
		if (ind == SQL_NULL_DATA)
			goto null;
		if (!isfinite(f)) {
			n = snprintf(s, sizeof(s), "%s", isnan(f) ? "NaN" :
			    f < 0 ? "-Infinity" : "Infinity");
			ep_rec_set(row, name, EP_T_STR, s, (size_t)n);
		} else {
			ep_rec_set(row, name, EP_T_NUM, s,
			    put_double(s, sizeof(s), f));
		}
		return 0;
	}
	case C_DATE: {
		SQL_DATE_STRUCT d;

		r = SQLGetData(o->stmt, col, SQL_C_TYPE_DATE, &d, sizeof(d),
		    &ind);
		if (!SQL_SUCCEEDED(r))
			break;
		if (ind == SQL_NULL_DATA)
			goto null;
		n = snprintf(s, sizeof(s), "%04d-%02u-%02u", d.year, d.month,
		    d.day);
		ep_rec_set(row, name, EP_T_STR, s, (size_t)n);
		return 0;
	}
	case C_TIME: {
		SQL_TIME_STRUCT t;

		r = SQLGetData(o->stmt, col, SQL_C_TYPE_TIME, &t, sizeof(t),
		    &ind);
		if (!SQL_SUCCEEDED(r))
			break;
		if (ind == SQL_NULL_DATA)
			goto null;
		n = snprintf(s, sizeof(s), "%02u:%02u:%02u", t.hour,
		    t.minute, t.second);
		ep_rec_set(row, name, EP_T_STR, s, (size_t)n);
		return 0;
	}
	case C_TS: {
		SQL_TIMESTAMP_STRUCT t;

		r = SQLGetData(o->stmt, col, SQL_C_TYPE_TIMESTAMP, &t,
		    sizeof(t), &ind);
		if (!SQL_SUCCEEDED(r))
			break;
		if (ind == SQL_NULL_DATA)
			goto null;
		put_fraction(frac, sizeof(frac), t.fraction);
		n = snprintf(s, sizeof(s), "%04d-%02u-%02uT%02u:%02u:%02u%s",
		    t.year, t.month, t.day, t.hour, t.minute, t.second, frac);
		ep_rec_set(row, name, EP_T_STR, s, (size_t)n);
		return 0;
	}
	case C_HEX: {
		static const char digits[] = "0123456789abcdef";
		size_t len;
		char *hex;

		n = get_chunks(o, col, true, err);
		if (n < 0)
			return -1;
		if (n == 1)
			goto null;
		len = o->len;
		hex = ep_xmalloc(2 * len + 1);
		for (size_t k = 0; k < len; k++) {
			hex[2 * k] = digits[(unsigned char)o->buf[k] >> 4];
			hex[2 * k + 1] = digits[(unsigned char)o->buf[k] & 15];
		}
		ep_rec_set(row, name, EP_T_STR, hex, 2 * len);
		free(hex);
		return 0;
	}
	default:
		n = get_chunks(o, col, false, err);
		if (n < 0)
			return -1;
		if (n == 1)
			goto null;
		if (o->ctype[i] == C_NUM) {
			ep_rec_set(row, name, EP_T_NUM, o->buf, o->len);
		} else if (o->ctype[i] == C_BOOL) {
			bool t = o->len > 0 && o->buf[0] != '0' &&
			    o->buf[0] != 'f' && o->buf[0] != 'F';

			ep_rec_set(row, name, EP_T_BOOL, t ? "true" : "false",
			    t ? 4 : 5);
		} else {
			ep_rec_set(row, name, EP_T_STR, o->buf, o->len);
		}
		return 0;
	}
	stmt_error(o, SQL_HANDLE_STMT, o->stmt, err);
	return -1;
null:
	ep_rec_set(row, name, EP_T_NULL, NULL, 0);
	return 0;
}

static int
od_next(void *h, struct ep_rec *row, struct ep_error *err)
{
	struct od *o = h;
	SQLRETURN r;

	if (!o->rows)
		return 0;
	r = SQLFetch(o->stmt);
	if (r == SQL_NO_DATA) {
		o->rows = false;
		return 0;
	}
	if (!SQL_SUCCEEDED(r)) {
		stmt_error(o, SQL_HANDLE_STMT, o->stmt, err);
		stmt_end(o);
		return -1;
	}
	o->nrows++;
	for (size_t i = 0; i < o->ncols; i++)
		if (put_value(o, row, i, err) < 0) {
			stmt_end(o);
			return -1;
		}
	return 1;
}

static int
end_tran(struct od *o, SQLSMALLINT how, struct ep_error *err)
{
	SQLRETURN r = SQLEndTran(SQL_HANDLE_DBC, o->dbc, how);

	if (!SQL_SUCCEEDED(r)) {
		stmt_error(o, SQL_HANDLE_DBC, o->dbc, err);
		SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT,
		    (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
		return -1;
	}
	SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT,
	    (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
	return 0;
}

static int
od_exec(void *h, const char *sql, struct ep_error *err)
{
	struct od *o = h;
	SQLRETURN r;
	int rc = 0;

	stmt_end(o);
	if (strcasecmp(sql, "BEGIN") == 0) {
		if (!SQL_SUCCEEDED(SQLSetConnectAttr(o->dbc,
		    SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_OFF, 0))) {
			stmt_error(o, SQL_HANDLE_DBC, o->dbc, err);
			return -1;
		}
		return 0;
	}
	if (strcasecmp(sql, "COMMIT") == 0)
		return end_tran(o, SQL_COMMIT, err);
	if (strcasecmp(sql, "ROLLBACK") == 0)
		return end_tran(o, SQL_ROLLBACK, err);
	if (!SQL_SUCCEEDED(new_stmt(o, &o->stmt))) {
		o->stmt = NULL;
		stmt_error(o, SQL_HANDLE_DBC, o->dbc, err);
		return -1;
	}
	r = SQLExecDirect(o->stmt, (SQLCHAR *)sql, SQL_NTS);
	if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA) {
		stmt_error(o, SQL_HANDLE_STMT, o->stmt, err);
		rc = -1;
	}
	stmt_end(o);
	return rc;
}

static const char *const *
od_columns(void *h, size_t *n)
{
	struct od *o = h;

	*n = o->ncols;
	return (const char *const *)o->cols;
}

static void
od_close(void *h)
{
	struct od *o = h;

	if (o == NULL)
		return;
	bulk_free(o);		/* first: it joins a batch in flight */
	stmt_end(o);
	if (o->dbc != NULL)
		SQLDisconnect(o->dbc);
	od_free(o);
}

/* -------------------------------------------------------- bulk loading */

/*
 * db-load's rows go through one prepared INSERT executed with arrays of
 * parameters (SQL_ATTR_PARAMSET_SIZE): a driver that supports them
 * sends many rows per round trip (psqlODBC), and SQL_ATTR_PARAM_STATUS_PTR
 * says which row failed, so the caller can name its input line.  A
 * driver that refuses arrays runs one row per SQLExecute.  These are the
 * copy_* ops of db.h: copy_begin takes the INSERT (placeholders as
 * ep_db_qmark_placeholder writes them) in place of a COPY.  A SQL error of a batch
 * is kept and reported by copy_end with the row it blamed (later rows are
 * dropped unsent); a lost connection fails at once.  Booleans bind as
 * 1 and 0, which every SQL type for truth takes (Oracle has no boolean).
 * To PostgreSQL, copy_arrays replaces the arrays with one statement per
 * batch taking an array literal per column, run in a thread while the
 * next batch is queued (see od_copy_arrays).
 */
static void
bq_clear(struct bq *b, size_t cols)
{
	b->n = 0;
	b->len = 0;
	for (size_t c = 0; b->width != NULL && c < cols; c++)
		b->width[c] = 0;
}

static void
bq_free(struct bq *b)
{
	free(b->buf);
	free(b->off);
	free(b->qlen);
	free(b->width);
	memset(b, 0, sizeof(*b));
}

static void
bulk_clear(struct od *o)
{
	bq_clear(&o->q, o->bcols);
}

static void
bulk_free(struct od *o)
{
	if (o->inflight && o->wthread)
		pthread_join(o->wthr, NULL);
	o->inflight = false;
	if (o->astmt != NULL) {
		SQLFreeStmt(o->astmt, SQL_CLOSE);
		SQLFreeHandle(SQL_HANDLE_STMT, o->astmt);
		o->astmt = NULL;
	}
	free(o->adelim);
	o->adelim = NULL;
	for (size_t c = 0; o->alit != NULL && c < o->bcols; c++)
		free(o->alit[c]);
	free(o->alit);
	free(o->alitcap);
	free(o->aind);
	o->alit = NULL;
	o->alitcap = NULL;
	o->aind = NULL;
	if (o->bstmt != NULL) {
		SQLFreeStmt(o->bstmt, SQL_CLOSE);
		SQLFreeHandle(SQL_HANDLE_STMT, o->bstmt);
		o->bstmt = NULL;
	}
	for (size_t c = 0; c < o->bcols; c++) {
		if (o->barr != NULL)
			free(o->barr[c]);
		if (o->bind != NULL)
			free(o->bind[c]);
	}
	bq_free(&o->q);
	bq_free(&o->s);
	free(o->barr);
	free(o->bind);
	free(o->bstat);
	o->barr = NULL;
	o->bind = NULL;
	o->bstat = NULL;
	o->bcols = 0;
}

/* Run sql on a statement of its own; true when it succeeded. */
static bool
direct(struct od *o, const char *sql)
{
	SQLHSTMT st;
	SQLRETURN r;

	if (!SQL_SUCCEEDED(new_stmt(o, &st)))
		return false;
	r = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
	SQLFreeHandle(SQL_HANDLE_STMT, st);
	return SQL_SUCCEEDED(r) || r == SQL_NO_DATA;
}

/* Bind row i of the queued arrays alone (PARAMSET_SIZE 1), or all of
 * them (i == SIZE_MAX). */
static int
bulk_bind(struct od *o, size_t i, struct ep_error *err)
{
	size_t n = i == SIZE_MAX ? o->q.n : 1, first = i == SIZE_MAX ? 0 : i;

	if (o->bmax > 1 && !SQL_SUCCEEDED(SQLSetStmtAttr(o->bstmt,
	    SQL_ATTR_PARAMSET_SIZE, (SQLPOINTER)(SQLULEN)n, 0))) {
		stmt_error(o, SQL_HANDLE_STMT, o->bstmt, err);
		return -1;
	}
	for (size_t c = 0; c < o->bcols; c++) {
		size_t w = o->q.width[c] + 1;
		SQLRETURN r = SQLBindParameter(o->bstmt, (SQLUSMALLINT)(c + 1),
		    SQL_PARAM_INPUT, SQL_C_WCHAR, SQL_WVARCHAR,
		    w > 1 ? w - 1 : 1, 0, o->barr[c] + first * w,
		    (SQLLEN)(w * sizeof(SQLWCHAR)), o->bind[c] + first);

		if (!SQL_SUCCEEDED(r)) {
			stmt_error(o, SQL_HANDLE_STMT, o->bstmt, err);
			return -1;
		}
	}
	return 0;
}

static int
od_copy_begin(void *h, const char *sql, struct ep_error *err)
{
	struct od *o = h;
	size_t *idx = NULL, n = 0;
	SQLSMALLINT nmark = 0;
	SQLULEN got = 0;
	char *text;
	int rc = -1;

	stmt_end(o);
	bulk_free(o);
	o->bsent = 0;
	o->bbad = 0;
	o->bfailed = false;
	o->nrows = 0;
	text = ep_db_positional(sql, &idx, &n);
	if (!SQL_SUCCEEDED(new_stmt(o, &o->bstmt))) {
		o->bstmt = NULL;
		stmt_error(o, SQL_HANDLE_DBC, o->dbc, err);
		goto out;
	}
	if (!SQL_SUCCEEDED(SQLPrepare(o->bstmt, (SQLCHAR *)text, SQL_NTS))) {
		stmt_error(o, SQL_HANDLE_STMT, o->bstmt, err);
		goto out;
	}
	if (SQL_SUCCEEDED(SQLNumParams(o->bstmt, &nmark)) &&
	    (size_t)nmark != n) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "the bulk INSERT has %d "
		    "markers for %zu values", (int)nmark, n);
		goto out;
	}
	o->bcols = n;
	o->bmax = 1;
	if (SQL_SUCCEEDED(SQLSetStmtAttr(o->bstmt, SQL_ATTR_PARAMSET_SIZE,
	    (SQLPOINTER)(SQLULEN)BATCH, 0)) &&
	    SQL_SUCCEEDED(SQLGetStmtAttr(o->bstmt, SQL_ATTR_PARAMSET_SIZE,
	    &got, 0, NULL)) && got == BATCH)
		o->bmax = BATCH;
	o->q.off = ep_xcalloc(o->bmax * n + 1, sizeof(*o->q.off));
	o->q.qlen = ep_xcalloc(o->bmax * n + 1, sizeof(*o->q.qlen));
	o->q.width = ep_xcalloc(n + 1, sizeof(*o->q.width));
	o->barr = ep_xcalloc(n + 1, sizeof(*o->barr));
	o->bind = ep_xcalloc(n + 1, sizeof(*o->bind));
	o->bstat = ep_xcalloc(o->bmax, sizeof(*o->bstat));
	for (size_t c = 0; c < n; c++)
		o->bind[c] = ep_xcalloc(o->bmax, sizeof(SQLLEN));
	SQLSetStmtAttr(o->bstmt, SQL_ATTR_PARAM_STATUS_PTR, o->bstat, 0);
	SQLSetStmtAttr(o->bstmt, SQL_ATTR_PARAMS_PROCESSED_PTR, &o->bdone,
	    0);
	/* Not every database has savepoints (SQL Server spells them
	 * SAVE TRANSACTION); without, a failed batch names its row only
	 * when the driver's status array does. */
	o->bsave = o->bmax > 1 && direct(o, "SAVEPOINT edpipe_batch") &&
	    direct(o, "RELEASE SAVEPOINT edpipe_batch");
	rc = 0;
out:
	if (rc < 0)
		bulk_free(o);
	free(idx);
	free(text);
	return rc;
}

/* Copy the queued values into the bound per-column arrays. */
static void
fill_arrays(struct od *o)
{
	size_t n = o->q.n;

	for (size_t c = 0; c < o->bcols; c++) {
		size_t w = o->q.width[c] + 1;

		free(o->barr[c]);
		o->barr[c] = ep_xcalloc(n * w, sizeof(SQLWCHAR));
		for (size_t i = 0; i < n; i++) {
			size_t off = o->q.off[i * o->bcols + c];
			size_t len = o->q.qlen[i * o->bcols + c];

			if (off == NOFF) {
				o->bind[c][i] = SQL_NULL_DATA;
				continue;
			}
			memcpy(o->barr[c] + i * w, o->q.buf + off,
			    len * sizeof(SQLWCHAR));
			o->bind[c][i] = (SQLLEN)(len * sizeof(SQLWCHAR));
		}
	}
}

/*
 * The values of column c queued in b as one PostgreSQL array literal in
 * UTF-16: {"v1","v2",NULL,...}, every value in double quotes with '"'
 * and '\' escaped by a backslash, so commas, braces, blanks, the word
 * NULL and any other character are data; SQL NULL is a bare NULL.  The
 * delimiter is the column type's own (',' but for box's ';').
 */
static SQLWCHAR *
array_literal(struct od *o, const struct bq *b, size_t c, size_t *units)
{
	size_t n = b->n, cap = 3, k = 0;
	SQLWCHAR *w;

	for (size_t i = 0; i < n; i++)
		cap += 2 * b->qlen[i * o->bcols + c] + 5;
	if (cap > o->alitcap[c]) {
		free(o->alit[c]);
		o->alitcap[c] = cap + cap / 4;
		o->alit[c] = ep_xmalloc(o->alitcap[c] * sizeof(SQLWCHAR));
	}
	w = o->alit[c];
	w[k++] = '{';
	for (size_t i = 0; i < n; i++) {
		size_t off = b->off[i * o->bcols + c];
		size_t len = b->qlen[i * o->bcols + c];
		const SQLWCHAR *v = b->buf + (off == NOFF ? 0 : off);

		if (i > 0)
			w[k++] = (SQLWCHAR)(unsigned char)o->adelim[c];
		if (off == NOFF) {
			w[k++] = 'N';
			w[k++] = 'U';
			w[k++] = 'L';
			w[k++] = 'L';
			continue;
		}
		w[k++] = '"';
		for (size_t j = 0; j < len; j++) {
			if (v[j] == '"' || v[j] == '\\')
				w[k++] = '\\';
			w[k++] = v[j];
		}
		w[k++] = '"';
	}
	w[k++] = '}';
	w[k] = 0;
	*units = k;
	return w;
}

/*
 * The worker: run the batch in o->s as one statement with an array
 * literal per column, after a SAVEPOINT.  o->wrc: 1 it ran, 0 the server
 * refused it, -1 the driver failed otherwise; the diagnostic record is in
 * o->wst and o->wmsg (formatted by the caller: no shared state is
 * touched here but the statement and the connection).
 */
static void *
array_worker(void *arg)
{
	struct od *o = arg;
	SQLRETURN r;

	o->wrc = -1;
	if (o->bsave && !direct(o, "SAVEPOINT edpipe_batch"))
		o->bsave = false;
	for (size_t c = 0; c < o->bcols; c++) {
		size_t units;
		SQLWCHAR *lit = array_literal(o, &o->s, c, &units);

		o->aind[c] = (SQLLEN)(units * sizeof(SQLWCHAR));
		if (!SQL_SUCCEEDED(SQLBindParameter(o->astmt,
		    (SQLUSMALLINT)(c + 1), SQL_PARAM_INPUT, SQL_C_WCHAR,
		    SQL_WLONGVARCHAR, units, 0, lit, o->aind[c],
		    &o->aind[c]))) {
			diag(SQL_HANDLE_STMT, o->astmt, o->wst, o->wmsg,
			    sizeof(o->wmsg));
			return NULL;
		}
	}
	r = SQLExecute(o->astmt);
	if (SQL_SUCCEEDED(r) || r == SQL_NO_DATA) {
		o->wrc = 1;
		if (o->bsave)
			direct(o, "RELEASE SAVEPOINT edpipe_batch");
	} else {
		diag(SQL_HANDLE_STMT, o->astmt, o->wst, o->wmsg,
		    sizeof(o->wmsg));
		o->wrc = 0;
	}
	SQLFreeStmt(o->astmt, SQL_CLOSE);
	return NULL;
}

/*
 * A batch the server refused (its error in st and msg) is in o->q:
 * keep the error for copy_end and name the bad row.  -1 when the
 * connection is lost.
 */
static int
batch_failed(struct od *o, const char *st, const char *msg,
    struct ep_error *err)
{
	size_t n = o->q.n;
	int code = state_code(st, msg, false);
	char st2[6], msg2[900];
	SQLRETURN r;

	if (code == EP_EXIT_UNAVAILABLE) {
		ep_error_set(err, code, "lost the connection to the database "
		    "after %lu rows: %s (SQLSTATE %s)", o->bsent, msg, st);
		return -1;
	}
	ep_error_set(&o->berr, code, "SQL error: %s (SQLSTATE %s)", msg, st);
	o->bfailed = true;
	o->bbad = n == 1 ? o->bsent + 1 : 0;
	/* Without a savepoint, the status array is all there is: its first
	 * failed row after rows that succeeded.  With one, the array is not
	 * trusted: psqlODBC runs an array in chunks (BatchSize, 100 rows)
	 * and marks every row of the failed chunk, so its first mark can be
	 * up to 99 rows before the bad one.  (An array literal's statement
	 * says nothing of rows.) */
	for (size_t i = 0; n > 1 && !o->bsave && o->astmt == NULL && i < n;
	    i++) {
		if (o->bstat[i] == SQL_PARAM_ERROR) {
			if (i > 0)
				o->bbad = o->bsent + i + 1;
			break;
		}
		if (o->bstat[i] != SQL_PARAM_SUCCESS &&
		    o->bstat[i] != SQL_PARAM_SUCCESS_WITH_INFO)
			break;
	}
	/* Else go back to before the batch and run it a row at a time
	 * through the one-row INSERT: the first row that fails is the bad
	 * one, with its own error. */
	SQLFreeStmt(o->bstmt, SQL_CLOSE);
	if (o->bbad == 0 && o->bsave &&
	    direct(o, "ROLLBACK TO SAVEPOINT edpipe_batch")) {
		if (o->astmt != NULL)
			fill_arrays(o);
		for (size_t i = 0; i < n; i++) {
			if (bulk_bind(o, i, err) < 0)
				return -1;
			r = SQLExecute(o->bstmt);
			if (SQL_SUCCEEDED(r) || r == SQL_NO_DATA) {
				SQLFreeStmt(o->bstmt, SQL_CLOSE);
				continue;
			}
			diag(SQL_HANDLE_STMT, o->bstmt, st2, msg2,
			    sizeof(msg2));
			code = state_code(st2, msg2, false);
			if (code == EP_EXIT_UNAVAILABLE) {
				ep_error_set(err, code, "lost the connection "
				    "to the database after %lu rows: %s "
				    "(SQLSTATE %s)", o->bsent + i, msg2, st2);
				return -1;
			}
			ep_error_set(&o->berr, code, "SQL error: %s "
			    "(SQLSTATE %s)", msg2, st2);
			o->bbad = o->bsent + i + 1;
			break;
		}
	}
	SQLFreeStmt(o->bstmt, SQL_CLOSE);
	bulk_clear(o);
	return 0;
}

/* Wait for the batch in flight, if any, and take its outcome: 0, or -1
 * when the connection is lost or the driver fails otherwise. */
static int
array_wait(struct od *o, struct ep_error *err)
{
	struct bq t;

	if (!o->inflight)
		return 0;
	if (o->wthread)
		pthread_join(o->wthr, NULL);
	o->inflight = false;
	if (o->wrc < 0) {
		diag_error(o, o->wst, o->wmsg, err);
		return -1;
	}
	if (o->wrc > 0) {
		o->bsent += o->s.n;
		o->nrows = o->bsent;
		bq_clear(&o->s, o->bcols);
		return 0;
	}
	/* Refused: the batch goes back to q to be rerun a row at a time;
	 * rows queued since are dropped, as after any failed batch. */
	t = o->q;
	o->q = o->s;
	o->s = t;
	bq_clear(&o->s, o->bcols);
	return batch_failed(o, o->wst, o->wmsg, err);
}

/* Array path: wait for the batch before, then send the queued rows
 * off in the worker and go on queuing. */
static int
array_flush(struct od *o, struct ep_error *err)
{
	struct bq t;

	if (array_wait(o, err) < 0)
		return -1;
	if (o->bfailed) {
		bulk_clear(o);
		return 0;
	}
	if (o->q.n == 0)
		return 0;
	t = o->s;
	o->s = o->q;
	o->q = t;
	o->inflight = true;
	o->wthread = pthread_create(&o->wthr, NULL, array_worker, o) == 0;
	if (!o->wthread)
		array_worker(o);
	return 0;
}

/* Run the queued rows.  0 (a SQL error is kept in o->berr), or -1 when
 * the connection is lost or the driver fails otherwise. */
static int
bulk_flush(struct od *o, struct ep_error *err)
{
	size_t n = o->q.n;
	SQLRETURN r;
	char st[6], msg[900];

	if (o->astmt != NULL)
		return array_flush(o, err);
	if (n == 0 || o->bfailed)
		return 0;
	if (o->bsave && !direct(o, "SAVEPOINT edpipe_batch"))
		o->bsave = false;
	fill_arrays(o);
	if (bulk_bind(o, SIZE_MAX, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		o->bstat[i] = SQL_PARAM_UNUSED;
	o->bdone = 0;
	r = SQLExecute(o->bstmt);
	if (SQL_SUCCEEDED(r) || r == SQL_NO_DATA) {
		/* With arrays, a row may fail while SQLExecute succeeds
		 * with info. */
		size_t i;

		for (i = 0; i < n && o->bstat[i] != SQL_PARAM_ERROR; i++)
			;
		if (o->bmax == 1 || i == n) {
			SQLFreeStmt(o->bstmt, SQL_CLOSE);
			if (o->bsave)
				direct(o, "RELEASE SAVEPOINT edpipe_batch");
			o->bsent += n;
			o->nrows = o->bsent;
			bulk_clear(o);
			return 0;
		}
	}
	diag(SQL_HANDLE_STMT, o->bstmt, st, msg, sizeof(msg));
	return batch_failed(o, st, msg, err);
}

static int
od_copy_row(void *h, const struct ep_field *const *vals, size_t n,
    struct ep_error *err)
{
	struct od *o = h;
	size_t bytes = 0;

	if (o->bstmt == NULL || n != o->bcols) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "ODBC bulk load: %zu "
		    "values for %zu columns", n, o->bcols);
		return -1;
	}
	if (o->bfailed)
		return 0;
	for (size_t c = 0; c < n; c++) {
		const struct ep_field *f = vals[c];
		size_t k = o->q.n * n + c, units = 0;

		const char *v = f == NULL ? NULL : f->val;
		size_t len = f == NULL ? 0 : f->vlen;

		if (f == NULL || f->type == EP_T_NULL) {
			o->q.off[k] = NOFF;
			o->q.qlen[k] = 0;
			continue;
		}
		if (f->type == EP_T_BOOL) {
			v = f->val[0] == 't' ? "1" : "0";
			len = 1;
		}
		if (o->q.len + len + 1 > o->q.cap) {
			o->q.cap = 2 * o->q.cap + len + 4096;
			o->q.buf = ep_xrealloc(o->q.buf,
			    o->q.cap * sizeof(SQLWCHAR));
		}
		units = wide_into(v, len, o->q.buf + o->q.len);
		o->q.off[k] = (uint32_t)o->q.len;
		o->q.qlen[k] = (uint32_t)units;
		o->q.len += units;
		if (units > o->q.width[c])
			o->q.width[c] = units;
	}
	o->q.n++;
	for (size_t c = 0; c < n; c++)
		bytes += (o->q.width[c] + 1) * sizeof(SQLWCHAR);
	if (o->q.n == o->bmax || (o->astmt == NULL ?
	    bytes * o->q.n >= BATCH_BYTES :
	    o->q.len * sizeof(SQLWCHAR) >= ABATCH_BYTES))
		return bulk_flush(o, err);
	return 0;
}

static int
od_copy_end(void *h, unsigned long *bad_row, struct ep_error *err)
{
	struct od *o = h;
	struct ep_error te = { 0 };
	int rc = 0;

	if (bad_row != NULL)
		*bad_row = 0;
	if (o->bstmt == NULL)
		return -1;
	if (bulk_flush(o, err != NULL ? err : &te) < 0 ||
	    array_wait(o, err != NULL ? err : &te) < 0)
		rc = -1;
	else if (o->bfailed) {
		if (err != NULL)
			*err = o->berr;
		if (bad_row != NULL)
			*bad_row = o->bbad;
		rc = -1;
	}
	bulk_free(o);
	return rc;
}

/*
 * After copy_begin: run each batch of up to ABATCH rows as sql, an
 * INSERT ... SELECT unnest(?), unnest(?), ... with one marker per column
 * (placeholders as ep_db_qmark_placeholder writes them) taking that
 * column's values as one array literal, delims[c] the column's array
 * delimiter.  One statement per batch instead of one per row; a batch
 * the server refuses is rolled back to its savepoint and rerun a row at
 * a time through copy_begin's INSERT to name the bad row, so without
 * savepoints this is refused (-1, and copy_begin's path stays).
 */
static int
od_copy_arrays(void *h, const char *sql, const char *delims,
    struct ep_error *err)
{
	struct od *o = h;
	size_t *idx = NULL, n = 0, cols = o->bcols;
	SQLSMALLINT nmark = 0;
	char *text;
	int rc = -1;

	if (o->bstmt == NULL || o->q.n != 0 || !o->bsave || o->astmt != NULL) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "ODBC bulk load: no "
		    "array path here");
		return -1;
	}
	text = ep_db_positional(sql, &idx, &n);
	for (size_t i = 0; i < n; i++)
		if (idx[i] != i)
			n = 0;
	if (n != cols || strlen(delims) != cols) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "the array INSERT has "
		    "%zu markers for %zu columns", n, cols);
		goto out;
	}
	if (!SQL_SUCCEEDED(new_stmt(o, &o->astmt))) {
		o->astmt = NULL;
		stmt_error(o, SQL_HANDLE_DBC, o->dbc, err);
		goto out;
	}
	if (!SQL_SUCCEEDED(SQLPrepare(o->astmt, (SQLCHAR *)text, SQL_NTS)) ||
	    (SQL_SUCCEEDED(SQLNumParams(o->astmt, &nmark)) &&
	    (size_t)nmark != n)) {
		stmt_error(o, SQL_HANDLE_STMT, o->astmt, err);
		SQLFreeHandle(SQL_HANDLE_STMT, o->astmt);
		o->astmt = NULL;
		goto out;
	}
	o->adelim = ep_xstrdup(delims);
	o->alit = ep_xcalloc(cols + 1, sizeof(*o->alit));
	o->alitcap = ep_xcalloc(cols + 1, sizeof(*o->alitcap));
	o->aind = ep_xcalloc(cols + 1, sizeof(*o->aind));
	if (o->bmax < ABATCH) {
		free(o->q.off);
		free(o->q.qlen);
		free(o->bstat);
		o->q.off = ep_xcalloc(ABATCH * cols + 1, sizeof(*o->q.off));
		o->s.off = ep_xcalloc(ABATCH * cols + 1, sizeof(*o->s.off));
		o->s.qlen = ep_xcalloc(ABATCH * cols + 1,
		    sizeof(*o->s.qlen));
		o->s.width = ep_xcalloc(cols + 1, sizeof(*o->s.width));
		o->q.qlen = ep_xcalloc(ABATCH * cols + 1, sizeof(*o->q.qlen));
		o->bstat = ep_xcalloc(ABATCH, sizeof(*o->bstat));
		for (size_t c = 0; c < cols; c++) {
			free(o->bind[c]);
			o->bind[c] = ep_xcalloc(ABATCH, sizeof(SQLLEN));
		}
		SQLSetStmtAttr(o->bstmt, SQL_ATTR_PARAM_STATUS_PTR, o->bstat,
		    0);
		o->bmax = ABATCH;
	}
	rc = 0;
out:
	free(idx);
	free(text);
	return rc;
}

/* The server's product name (SQL_DBMS_NAME): "PostgreSQL", "SQLite". */
static const char *
od_dbms(void *h)
{
	struct od *o = h;
	SQLSMALLINT len = 0;

	if (o->dbms[0] == '\0' && !SQL_SUCCEEDED(SQLGetInfo(o->dbc,
	    SQL_DBMS_NAME, o->dbms, (SQLSMALLINT)sizeof(o->dbms), &len)))
		o->dbms[0] = '\0';
	return o->dbms;
}

static long
od_changes(void *h)
{
	return ((struct od *)h)->changes;
}

const struct ep_db_ops ep_db_odbc_ops = {
	.name = "odbc",
	.open = od_open,
	.query = od_query,
	.next = od_next,
	.exec = od_exec,
	.close = od_close,
	.placeholder = ep_db_qmark_placeholder,
	.columns = od_columns,
	.copy_begin = od_copy_begin,
	.copy_row = od_copy_row,
	.copy_end = od_copy_end,
	.copy_arrays = od_copy_arrays,
	.dbms = od_dbms,
	.changes = od_changes,
};
