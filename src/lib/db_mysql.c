/*
 * db_mysql.c - the MySQL / MariaDB backend through libmariadb.
 *
 * mysql://USER@HOST[:PORT]/DB[?key=value&...] (also mariadb://).  HOST
 * may be a socket file, percent-encoded (%2Frun%2Fmysqld%2Fmysqld.sock).
 * Keys: connect_timeout (seconds, default 10), ssl=require (refuse a
 * server without TLS).  The time limit (ep_db_open_timeout) is the
 * client's MYSQL_OPT_READ_TIMEOUT and MYSQL_OPT_WRITE_TIMEOUT: a server
 * that sends nothing for that long (a slow statement, a stalled server)
 * ends the statement and the connection with 75.
 * The session uses utf8mb4, and sql_mode gains
 * ANSI_QUOTES so "name" is an identifier
 * as in standard SQL (and as ep_db_quote writes it): strings go in
 * single quotes.  LOAD DATA LOCAL is switched off, so a hostile server
 * cannot ask for the client's files.
 *
 * Queries run as server-side prepared statements with each value bound
 * as a string (MYSQL_TYPE_STRING), never pasted into the SQL.  The
 * ops interface hands values over per distinct :name while '?' is
 * positional, so placeholder i is written "?" plus an invisible marker
 * "\1i\2" that query() strips while it maps each '?' to its value (a
 * name used twice binds twice).  Rows are fetched one at a time with
 * no mysql_stmt_store_result, so the result streams from the socket and
 * memory stays flat; a value longer than the bound buffer is read again
 * whole with mysql_stmt_fetch_column.  db-load's rows go as prepared
 * multi-row INSERTs, up to 1000 rows each (see "bulk loading" below).
 *
 * Values: integer types numbers, tinyint(1) and bit(1) booleans (the
 * form MySQL gives BOOLEAN), bit(n) numbers, decimal strings with every
 * digit, float/double numbers (NaN cannot occur), date/datetime/
 * timestamp ISO 8601 strings ("T" between date and time), time strings,
 * text UTF-8 strings, binary/blob hex digits, NULL null.
 *
 * Errors: access denied 77, no server 69, unknown database 78, a SQL
 * error 65 with the server's text, a link lost mid-result 69, deadlock or
 * lock wait timeout 75.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mariadb/mysql.h>
#include <mariadb/errmsg.h>
#include <mariadb/mysqld_error.h>

#include "db.h"
#include "secret.h"

#define MY_BUF 256		/* first buffer for a text value */

struct my;
static void bulk_free(struct my *m);

enum coltype { C_STR, C_NUM, C_FLOAT, C_BOOL, C_BITS, C_DATETIME, C_HEX };

struct my {
	MYSQL *conn;
	MYSQL_STMT *stmt;
	/* db-load's bulk path (the copy_* ops): the INSERT of one row and
	 * that of bmax rows, bn rows queued (pn values each). */
	MYSQL_STMT *pstmt, *bstmt;
	char *bhead, *btuple, *btail;	/* the INSERT's text around and of
					 * its row of placeholders */
	size_t pn, bmax, bn;
	MYSQL_BIND *pb;		/* bmax * pn binds */
	unsigned long *plen;
	signed char *pbool;
	size_t *poff;		/* each text value's offset in parena */
	char *parena;
	size_t palen, pacap;
	size_t bbytes, bmaxbytes;	/* the queued rows' packet size */
	bool bfailed;		/* a batch failed: berr, bbad */
	unsigned long bbad;
	struct ep_error berr;
	char **cols;
	enum coltype *ctype;
	MYSQL_BIND *rb;		/* result binds, one per column */
	char **rbuf;
	unsigned long *rlen;
	my_bool *rnull, *rerr;
	double *rdbl;
	size_t ncols;
	bool rows;		/* a result is being read */
	unsigned long nrows;
	unsigned timeout;	/* seconds */
	time_t started;		/* when the current statement was sent */
	char *big;		/* a value longer than its buffer */
	size_t bigcap;
	char *hex;
	size_t hexcap;
};

static void
cols_free(struct my *m)
{
	for (size_t i = 0; i < m->ncols; i++) {
		free(m->cols[i]);
		free(m->rbuf[i]);
	}
	free(m->cols);
	free(m->ctype);
	free(m->rb);
	free(m->rbuf);
	free(m->rlen);
	free(m->rnull);
	free(m->rerr);
	free(m->rdbl);
	m->cols = NULL;
	m->ctype = NULL;
	m->rb = NULL;
	m->rbuf = NULL;
	m->rlen = NULL;
	m->rnull = m->rerr = NULL;
	m->rdbl = NULL;
	m->ncols = 0;
}

/* Drop the current statement and what is left of its result. */
static void
stmt_end(struct my *m)
{
	if (m->stmt != NULL)
		mysql_stmt_close(m->stmt);
	m->stmt = NULL;
	m->rows = false;
	cols_free(m);
}

static bool
lost(unsigned e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
	    e == CR_CONNECTION_ERROR || e == CR_CONN_HOST_ERROR ||
	    e == CR_SERVER_LOST_EXTENDED || e == ER_CONNECTION_KILLED ||
	    e == ER_SERVER_SHUTDOWN || e == ER_QUERY_INTERRUPTED;
}

/* Fill err from an error number, SQLSTATE and message. */
static void
set_error(struct my *m, unsigned e, const char *state, const char *msg,
    struct ep_error *err)
{
	/* The read timeout shows as a lost link (2013) once the wait was as
	 * long as the limit. */
	if ((e == CR_SERVER_LOST || e == CR_SERVER_LOST_EXTENDED ||
	    e == CR_SERVER_GONE_ERROR) && m->timeout > 0 &&
	    time(NULL) - m->started >= (time_t)m->timeout) {
		ep_db_timeout_error(err, m->timeout, m->nrows);
	} else if (lost(e)) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "lost the connection "
		    "to the database after %lu rows: %s", m->nrows, msg);
	} else if (e == ER_DBACCESS_DENIED_ERROR ||
	    e == ER_TABLEACCESS_DENIED_ERROR ||
	    e == ER_COLUMNACCESS_DENIED_ERROR ||
	    e == ER_SPECIFIC_ACCESS_DENIED_ERROR ||
	    e == ER_ACCESS_DENIED_ERROR || strncmp(state, "28", 2) == 0) {
		ep_error_set(err, EP_EXIT_NOPERM, "SQL error: %s", msg);
	} else if (e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT) {
		ep_error_set(err, EP_EXIT_TEMPFAIL, "SQL error: %s", msg);
	} else if (strncmp(state, "08", 2) == 0) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "lost the connection "
		    "to the database after %lu rows: %s", m->nrows, msg);
	} else {
		ep_error_set(err, EP_EXIT_DATAERR, "SQL error: %s", msg);
	}
}

static void
conn_error(struct my *m, struct ep_error *err)
{
	set_error(m, mysql_errno(m->conn), mysql_sqlstate(m->conn),
	    mysql_error(m->conn), err);
}

static void
stmt_error(struct my *m, struct ep_error *err)
{
	/* An error while rows stream is kept on the connection. */
	if (mysql_stmt_errno(m->stmt) == 0) {
		conn_error(m, err);
		return;
	}
	set_error(m, mysql_stmt_errno(m->stmt), mysql_stmt_sqlstate(m->stmt),
	    mysql_stmt_error(m->stmt), err);
}

static int
connect_code(unsigned e)
{
	switch (e) {
	case ER_ACCESS_DENIED_ERROR:
	case ER_DBACCESS_DENIED_ERROR:
	case ER_ACCESS_DENIED_NO_PASSWORD_ERROR:
	case ER_NOT_SUPPORTED_AUTH_MODE:
	case CR_AUTH_PLUGIN_CANNOT_LOAD:
	case ER_PASSWORD_NO_MATCH:
	case ER_HOST_NOT_PRIVILEGED:
		return EP_EXIT_NOPERM;
	case ER_BAD_DB_ERROR:
		return EP_EXIT_CONFIG;
	default:
		return EP_EXIT_UNAVAILABLE;
	}
}

static void *
my_open(const char *url, const char *password, int flags, unsigned timeout,
    struct ep_error *err)
{
	char *masked = NULL, *qcopy = NULL;
	const char *host, *sock = NULL;
	unsigned ctimeout = 10;
	my_bool off = 0, on = 1, ssl = 0;
	struct ep_url u;
	struct my *m = NULL;
	MYSQL *conn = NULL;

	(void)flags;
	if (ep_url_parse(url, &u, err) < 0)
		return NULL;
	masked = ep_url_mask(url);
	if (u.host == NULL || u.path[0] != '/' || u.path[1] == '\0' ||
	    strchr(u.path + 1, '/') != NULL) {
		ep_error_set(err, EP_EXIT_CONFIG, "malformed MySQL URL '%s' "
		    "(use mysql://USER@HOST[:PORT]/DB)", masked);
		goto out;
	}
	ep_pct_decode(u.host);
	host = u.host;
	if (host[0] == '/') {
		sock = host;
		host = "localhost";
	}
	if (u.query != NULL) {
		char *save = NULL, *kv;

		qcopy = ep_xstrdup(u.query);
		for (kv = strtok_r(qcopy, "&", &save); kv != NULL;
		    kv = strtok_r(NULL, "&", &save)) {
			char *end;

			if (strncmp(kv, "connect_timeout=", 16) == 0) {
				ctimeout = (unsigned)strtoul(kv + 16, &end, 10);
				if (*end == '\0' && ctimeout > 0)
					continue;
			} else if (strcmp(kv, "ssl=require") == 0) {
				ssl = 1;
				continue;
			}
			ep_error_set(err, EP_EXIT_CONFIG, "bad connection "
			    "option in '%s' (known: connect_timeout=SECONDS, "
			    "ssl=require)", masked);
			goto out;
		}
	}
	conn = mysql_init(NULL);
	if (conn == NULL) {
		ep_error_set(err, EP_EXIT_NOMEM, "cannot connect to '%s': out "
		    "of memory", masked);
		goto out;
	}
	mysql_options(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(conn, MYSQL_OPT_CONNECT_TIMEOUT, &ctimeout);
	mysql_options(conn, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(conn, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	mysql_options(conn, MYSQL_OPT_LOCAL_INFILE, &off);
	mysql_options(conn, MYSQL_OPT_RECONNECT, &off);
	if (ssl)
		mysql_options(conn, MYSQL_OPT_SSL_ENFORCE, &on);
	/* Standard SQL quoting for identifiers, and strict values. */
	mysql_options(conn, MYSQL_INIT_COMMAND, "SET SESSION sql_mode = "
	    "CONCAT(@@sql_mode, ',ANSI_QUOTES')");
	if (mysql_real_connect(conn, host, u.user, password ? password : "",
	    u.path + 1, (unsigned)u.port, sock, 0) == NULL) {
		ep_error_set(err, connect_code(mysql_errno(conn)), "cannot "
		    "connect to '%s': %s", masked, mysql_error(conn));
		mysql_close(conn);
		goto out;
	}
	m = ep_xcalloc(1, sizeof(*m));
	m->conn = conn;
	m->timeout = timeout;
out:
	free(qcopy);
	free(masked);
	ep_url_free(&u);
	return m;
}

static enum coltype
col_type(const MYSQL_FIELD *f)
{
	switch (f->type) {
	case MYSQL_TYPE_TINY:
		if (f->length == 1)
			return C_BOOL;
		return C_NUM;
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_YEAR:
		return C_NUM;
	case MYSQL_TYPE_FLOAT:
	case MYSQL_TYPE_DOUBLE:
		return C_FLOAT;
	case MYSQL_TYPE_BIT:
		return f->length == 1 ? C_BOOL : C_BITS;
	case MYSQL_TYPE_DATETIME:
	case MYSQL_TYPE_TIMESTAMP:
	case MYSQL_TYPE_DATETIME2:
	case MYSQL_TYPE_TIMESTAMP2:
		return C_DATETIME;
	case MYSQL_TYPE_TINY_BLOB:
	case MYSQL_TYPE_MEDIUM_BLOB:
	case MYSQL_TYPE_LONG_BLOB:
	case MYSQL_TYPE_BLOB:
	case MYSQL_TYPE_STRING:
	case MYSQL_TYPE_VAR_STRING:
	case MYSQL_TYPE_VARCHAR:
		/* Character set 63 is "binary": bytes, not text. */
		return f->charsetnr == 63 ? C_HEX : C_STR;
	case MYSQL_TYPE_GEOMETRY:
		return C_HEX;
	default:
		/* decimal, date, time, json, enum, set */
		return C_STR;
	}
}

/* Describe and bind the result columns of m->stmt (none: no result). */
static int
bind_result(struct my *m, struct ep_error *err)
{
	MYSQL_RES *meta = mysql_stmt_result_metadata(m->stmt);
	MYSQL_FIELD *f;
	size_t n;

	if (meta == NULL) {
		if (mysql_stmt_errno(m->stmt) != 0) {
			stmt_error(m, err);
			return -1;
		}
		return 0;
	}
	n = mysql_num_fields(meta);
	f = mysql_fetch_fields(meta);
	m->ncols = n;
	m->cols = ep_xcalloc(n + 1, sizeof(char *));
	m->ctype = ep_xcalloc(n + 1, sizeof(*m->ctype));
	m->rb = ep_xcalloc(n + 1, sizeof(*m->rb));
	m->rbuf = ep_xcalloc(n + 1, sizeof(char *));
	m->rlen = ep_xcalloc(n + 1, sizeof(*m->rlen));
	m->rnull = ep_xcalloc(n + 1, sizeof(*m->rnull));
	m->rerr = ep_xcalloc(n + 1, sizeof(*m->rerr));
	m->rdbl = ep_xcalloc(n + 1, sizeof(*m->rdbl));
	for (size_t i = 0; i < n; i++) {
		MYSQL_BIND *b = &m->rb[i];

		m->cols[i] = ep_xstrndup(f[i].name, f[i].name_length);
		m->ctype[i] = col_type(&f[i]);
		b->length = &m->rlen[i];
		b->is_null = &m->rnull[i];
		b->error = &m->rerr[i];
		if (m->ctype[i] == C_FLOAT) {
			b->buffer_type = MYSQL_TYPE_DOUBLE;
			b->buffer = &m->rdbl[i];
			b->buffer_length = sizeof(double);
			continue;
		}
		m->rbuf[i] = ep_xmalloc(MY_BUF);
		b->buffer_type = m->ctype[i] == C_HEX || m->ctype[i] ==
		    C_BITS ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
		b->buffer = m->rbuf[i];
		b->buffer_length = MY_BUF;
	}
	mysql_free_result(meta);
	if (mysql_stmt_bind_result(m->stmt, m->rb)) {
		stmt_error(m, err);
		return -1;
	}
	m->rows = true;
	return 0;
}

static int
my_query(void *h, const char *sql, const char *const *values, size_t np,
    struct ep_error *err)
{
	struct my *m = h;
	MYSQL_BIND *pb = NULL;
	unsigned long *plen = NULL;
	size_t *idx = NULL, n = 0;
	char *text;
	int rc = -1;

	stmt_end(m);
	m->nrows = 0;
	text = ep_db_positional(sql, &idx, &n);
	m->stmt = mysql_stmt_init(m->conn);
	if (m->stmt == NULL) {
		conn_error(m, err);
		goto out;
	}
	if (mysql_stmt_prepare(m->stmt, text, strlen(text)) != 0) {
		stmt_error(m, err);
		goto out;
	}
	if (mysql_stmt_param_count(m->stmt) != n) {
		ep_error_set(err, EP_EXIT_DATAERR, "SQL error: the statement "
		    "has %lu '?' placeholders of its own (use :name "
		    "parameters)", mysql_stmt_param_count(m->stmt) -
		    (unsigned long)n);
		goto out;
	}
	pb = ep_xcalloc(n + 1, sizeof(*pb));
	plen = ep_xcalloc(n + 1, sizeof(*plen));
	for (size_t i = 0; i < n; i++) {
		const char *v = idx[i] < np ? values[idx[i]] : NULL;

		if (v == NULL) {
			pb[i].buffer_type = MYSQL_TYPE_NULL;
			continue;
		}
		pb[i].buffer_type = MYSQL_TYPE_STRING;
		pb[i].buffer = (void *)v;
		plen[i] = strlen(v);
		pb[i].buffer_length = plen[i];
		pb[i].length = &plen[i];
	}
	if (n > 0 && mysql_stmt_bind_param(m->stmt, pb)) {
		stmt_error(m, err);
		goto out;
	}
	m->started = time(NULL);
	if (mysql_stmt_execute(m->stmt) != 0) {
		stmt_error(m, err);
		goto out;
	}
	rc = bind_result(m, err);
out:
	if (rc < 0)
		stmt_end(m);
	free(pb);
	free(plen);
	free(idx);
	free(text);
	return rc;
}

/* The shortest text that reads back as the same double. */
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

static void
put_hex(struct my *m, struct ep_rec *row, const char *name,
    const unsigned char *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	if (2 * len + 1 > m->hexcap) {
		m->hexcap = 2 * len + 1;
		m->hex = ep_xrealloc(m->hex, m->hexcap);
	}
	for (size_t i = 0; i < len; i++) {
		m->hex[2 * i] = digits[p[i] >> 4];
		m->hex[2 * i + 1] = digits[p[i] & 15];
	}
	ep_rec_set(row, name, EP_T_STR, m->hex, 2 * len);
}

static int
put_value(struct my *m, struct ep_rec *row, size_t i, struct ep_error *err)
{
	const char *name = m->cols[i];
	char s[64], *v = m->rbuf[i];
	size_t len = m->rlen[i];

	if (m->rnull[i]) {
		ep_rec_set(row, name, EP_T_NULL, NULL, 0);
		return 0;
	}
	if (m->ctype[i] == C_FLOAT) {
		double f = m->rdbl[i];

		if (!isfinite(f)) {
			len = (size_t)snprintf(s, sizeof(s), "%s", isnan(f) ?
			    "NaN" : f < 0 ? "-Infinity" : "Infinity");
			ep_rec_set(row, name, EP_T_STR, s, len);
		} else {
			len = put_double(s, sizeof(s), f);
			ep_rec_set(row, name, EP_T_NUM, s, len);
		}
		return 0;
	}
	if (len > MY_BUF) {
		/* Cut short: read the whole value into the spare buffer. */
		MYSQL_BIND b;

		if (len + 1 > m->bigcap) {
			m->bigcap = len + 1;
			m->big = ep_xrealloc(m->big, m->bigcap);
		}
		memset(&b, 0, sizeof(b));
		b.buffer_type = m->rb[i].buffer_type;
		b.buffer = m->big;
		b.buffer_length = len + 1;
		if (mysql_stmt_fetch_column(m->stmt, &b, (unsigned)i, 0)) {
			stmt_error(m, err);
			return -1;
		}
		v = m->big;
	}
	switch (m->ctype[i]) {
	case C_NUM:
		ep_rec_set(row, name, EP_T_NUM, v, len);
		break;
	case C_BOOL: {
		/* tinyint(1) comes as its digits, bit(1) as one byte. */
		bool t = len > 0 && ((v[0] != '0' && v[0] != '\0') ||
		    len > 1);

		ep_rec_set(row, name, EP_T_BOOL, t ? "true" : "false",
		    t ? 4 : 5);
		break;
	}
	case C_BITS: {
		unsigned long long x = 0;

		for (size_t k = 0; k < len; k++)
			x = x << 8 | (unsigned char)v[k];
		len = (size_t)snprintf(s, sizeof(s), "%llu", x);
		ep_rec_set(row, name, EP_T_NUM, s, len);
		break;
	}
	case C_DATETIME:
		if (len > 10 && v[10] == ' ')
			v[10] = 'T';
		/* datetime(3) sends "09:05:06.000": as the others, drop the
		 * zeros of an empty fraction. */
		if (len > 19 && v[19] == '.') {
			while (len > 20 && v[len - 1] == '0')
				len--;
			if (len == 20)
				len = 19;
		}
		ep_rec_set(row, name, EP_T_STR, v, len);
		break;
	case C_HEX:
		put_hex(m, row, name, (const unsigned char *)v, len);
		break;
	default:
		ep_rec_set(row, name, EP_T_STR, v, len);
	}
	return 0;
}

static int
my_next(void *h, struct ep_rec *row, struct ep_error *err)
{
	struct my *m = h;
	int r;

	if (!m->rows)
		return 0;
	m->started = time(NULL);
	r = mysql_stmt_fetch(m->stmt);
	if (r == MYSQL_NO_DATA) {
		m->rows = false;
		return 0;
	}
	if (r == 1) {
		stmt_error(m, err);
		stmt_end(m);
		return -1;
	}
	/* MYSQL_DATA_TRUNCATED: put_value reads the long values again. */
	m->nrows++;
	for (size_t i = 0; i < m->ncols; i++)
		if (put_value(m, row, i, err) < 0) {
			stmt_end(m);
			return -1;
		}
	return 1;
}

static int
my_exec(void *h, const char *sql, struct ep_error *err)
{
	struct my *m = h;
	MYSQL_RES *r;

	stmt_end(m);
	m->started = time(NULL);
	if (mysql_real_query(m->conn, sql, strlen(sql)) != 0) {
		conn_error(m, err);
		return -1;
	}
	/* Drop any result it returned (and those of further statements). */
	do {
		r = mysql_use_result(m->conn);
		if (r != NULL) {
			while (mysql_fetch_row(r) != NULL)
				;
			mysql_free_result(r);
		}
	} while (mysql_next_result(m->conn) == 0);
	if (mysql_errno(m->conn) != 0) {
		conn_error(m, err);
		return -1;
	}
	return 0;
}

static const char *const *
my_columns(void *h, size_t *n)
{
	struct my *m = h;

	*n = m->ncols;
	return (const char *const *)m->cols;
}

static void
my_close(void *h)
{
	struct my *m = h;

	if (m == NULL)
		return;
	stmt_end(m);
	bulk_free(m);
	mysql_close(m->conn);
	free(m->big);
	free(m->hex);
	free(m);
}

/* ------------------------------------------------------ bulk loading */

/* Append the quoted identifier at *p ("..." with "" doubled) to m. */
static const char *
copy_ident(FILE *f, const char *p)
{
	const char *s = p;

	if (*p != '"')
		return NULL;
	for (p++; *p; p++)
		if (*p == '"' && *++p != '"')
			break;
	fwrite(s, 1, (size_t)(p - s), f);
	return p;
}

/*
 * db.c writes a SQLite/PostgreSQL upsert: INSERT ... ON CONFLICT (k) DO
 * UPDATE SET "c" = excluded."c", ... (or DO NOTHING).  MySQL says ON
 * DUPLICATE KEY UPDATE "c" = VALUES("c"), and the key is whichever
 * unique index the row collides with.
 */
static char *
upsert_sql(const char *sql)
{
	const char *on = strstr(sql, " ON CONFLICT (");
	const char *p;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (on == NULL)
		return ep_xstrdup(sql);
	f = open_memstream(&buf, &len);
	if (f == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	fwrite(sql, 1, (size_t)(on - sql), f);
	fputs(" ON DUPLICATE KEY UPDATE ", f);
	p = strstr(on, ") DO ");
	if (p != NULL && strncmp(p, ") DO NOTHING", 12) == 0) {
		/* Update a key column to itself: no change, no error. */
		p = on + strlen(" ON CONFLICT (");
		if (copy_ident(f, p) == NULL)
			goto bad;
		fputs(" = ", f);
		copy_ident(f, p);
	} else if (p != NULL && strncmp(p, ") DO UPDATE SET ", 16) == 0) {
		p += 16;
		while (*p) {
			p = copy_ident(f, p);
			if (p == NULL || strncmp(p, " = excluded.", 12) != 0)
				goto bad;
			fputs(" = VALUES(", f);
			p = copy_ident(f, p + 12);
			if (p == NULL)
				goto bad;
			fputc(')', f);
			if (strncmp(p, ", ", 2) == 0) {
				fputs(", ", f);
				p += 2;
			} else if (*p != '\0') {
				goto bad;
			}
		}
	} else {
		goto bad;
	}
	fclose(f);
	return buf;
bad:
	fclose(f);
	free(buf);
	return ep_xstrdup(sql);
}

/*
 * The copy_* ops of db.h take db.c's one-row INSERT (with its ON
 * CONFLICT for an upsert) in place of a COPY.  Rows are queued and sent
 * bmax at a time as one prepared multi-row INSERT, "VALUES (?,..),
 * (?,..),..." (bmax * columns <= 60000 of the protocol's 65535
 * placeholders, at most 1000 rows), prepared at the first full batch and
 * run for every later one; a shorter batch (the last one, or one cut
 * short so its packet stays under half of max_allowed_packet) gets a
 * statement of its own, a single row the one-row INSERT.  Values bind
 * as the server-side prepared path always did: NULL, booleans as
 * tinyint 1/0 (BOOLEAN is tinyint(1)), the rest as text the server
 * converts to the column's type.
 *
 * Each batch of more than one row runs after SAVEPOINT edpipe_batch.
 * When the server refuses it (a SQL error), the batch is rolled back to
 * the savepoint and run again a row at a time with the one-row INSERT:
 * the first row that fails is the bad one, reported by copy_end with its
 * own error and its row number so db-load names its input line; later
 * rows are dropped unsent.  A lost connection fails at once (69).
 */
#define BULK_ROWS 1000
#define BULK_PARAMS 60000
#define BULK_BYTES (8u << 20)
#define BULK_CELL 12		/* a value's overhead in COM_STMT_EXECUTE */

static void
bulk_free(struct my *m)
{
	if (m->pstmt != NULL)
		mysql_stmt_close(m->pstmt);
	if (m->bstmt != NULL)
		mysql_stmt_close(m->bstmt);
	m->pstmt = m->bstmt = NULL;
	free(m->bhead);
	free(m->btuple);
	free(m->btail);
	free(m->pb);
	free(m->plen);
	free(m->pbool);
	free(m->poff);
	free(m->parena);
	m->bhead = m->btuple = m->btail = NULL;
	m->pb = NULL;
	m->plen = NULL;
	m->pbool = NULL;
	m->poff = NULL;
	m->parena = NULL;
	m->pn = m->bmax = m->bn = 0;
	m->palen = m->pacap = m->bbytes = 0;
}

/* Run sql with no result; true when it succeeded. */
static bool
plain(struct my *m, const char *sql)
{
	m->started = time(NULL);
	return mysql_real_query(m->conn, sql, strlen(sql)) == 0;
}

static void
pstmt_error(struct my *m, MYSQL_STMT *st, struct ep_error *err)
{
	if (st == NULL || mysql_stmt_errno(st) == 0)
		conn_error(m, err);
	else
		set_error(m, mysql_stmt_errno(st), mysql_stmt_sqlstate(st),
		    mysql_stmt_error(st), err);
}

/* The INSERT of nrows rows, prepared; NULL with err. */
static MYSQL_STMT *
bulk_prepare(struct my *m, size_t nrows, struct ep_error *err)
{
	size_t hl = strlen(m->bhead), tl = strlen(m->btuple);
	size_t len = hl + nrows * (tl + 2) + strlen(m->btail), o = hl;
	char *sql = ep_xmalloc(len + 1);
	MYSQL_STMT *st = mysql_stmt_init(m->conn);

	memcpy(sql, m->bhead, hl);
	for (size_t r = 0; r < nrows; r++) {
		if (r > 0) {
			memcpy(sql + o, ", ", 2);
			o += 2;
		}
		memcpy(sql + o, m->btuple, tl);
		o += tl;
	}
	strcpy(sql + o, m->btail);
	if (st == NULL) {
		conn_error(m, err);
	} else if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		pstmt_error(m, st, err);
		mysql_stmt_close(st);
		st = NULL;
	} else if (mysql_stmt_param_count(st) != nrows * m->pn) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "MySQL bulk load: the "
		    "INSERT has %lu placeholders for %zu values",
		    mysql_stmt_param_count(st), nrows * m->pn);
		mysql_stmt_close(st);
		st = NULL;
	}
	free(sql);
	return st;
}

/* Where the row of placeholders of db.c's INSERT starts (at its '(')
 * and ends (*end, past its ')'): after the first " VALUES " outside the
 * quoted identifiers.  NULL when there is none. */
static const char *
values_row(const char *sql, const char **end)
{
	bool quoted = false;

	for (const char *p = sql; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && strncmp(p, " VALUES (", 9) == 0) {
			const char *e = strchr(p + 8, ')');

			if (e == NULL)
				return NULL;
			*end = e + 1;
			return p + 8;
		}
	}
	return NULL;
}

static int
my_copy_begin(void *h, const char *sql, struct ep_error *err)
{
	struct my *m = h;
	char *my = upsert_sql(sql), *head, *tail, *text;
	const char *row, *end = NULL;
	size_t *idx = NULL, n = 0, k;
	MYSQL_RES *res;
	MYSQL_ROW r;
	int rc = -1;

	stmt_end(m);
	bulk_free(m);
	m->nrows = 0;
	m->bfailed = false;
	m->bbad = 0;
	row = values_row(my, &end);
	if (row == NULL) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "MySQL bulk load: no "
		    "VALUES in '%s'", my);
		goto out;
	}
	head = ep_xstrndup(my, (size_t)(row - my));
	m->bhead = ep_db_positional(head, &idx, &k);
	free(head);
	free(idx);
	text = ep_xstrndup(row, (size_t)(end - row));
	m->btuple = ep_db_positional(text, &idx, &n);
	free(text);
	free(idx);
	tail = ep_xstrdup(end);
	m->btail = ep_db_positional(tail, &idx, &k);
	free(tail);
	free(idx);
	/* Without strict mode a multi-row INSERT would store a NULL given
	 * for a NOT NULL column as the type's default, where one row
	 * fails: keep a bad value an error, whatever the server's mode. */
	if (!plain(m, "SET SESSION sql_mode = CONCAT(@@sql_mode, "
	    "',STRICT_TRANS_TABLES')")) {
		conn_error(m, err);
		goto out;
	}
	m->pn = n;
	m->pstmt = bulk_prepare(m, 1, err);
	if (m->pstmt == NULL)
		goto out;
	m->bmax = n > 0 ? BULK_PARAMS / n : BULK_ROWS;
	if (m->bmax > BULK_ROWS)
		m->bmax = BULK_ROWS;
	if (m->bmax == 0)
		m->bmax = 1;
	/* Keep each batch's packet under half of what the server takes. */
	m->bmaxbytes = BULK_BYTES;
	if (plain(m, "SELECT @@max_allowed_packet") &&
	    (res = mysql_store_result(m->conn)) != NULL) {
		if ((r = mysql_fetch_row(res)) != NULL && r[0] != NULL &&
		    strtoull(r[0], NULL, 10) / 2 < m->bmaxbytes)
			m->bmaxbytes = (size_t)(strtoull(r[0], NULL, 10) / 2);
		mysql_free_result(res);
	}
	m->pb = ep_xcalloc(m->bmax * n + 1, sizeof(*m->pb));
	m->plen = ep_xcalloc(m->bmax * n + 1, sizeof(*m->plen));
	m->pbool = ep_xcalloc(m->bmax * n + 1, sizeof(*m->pbool));
	m->poff = ep_xcalloc(m->bmax * n + 1, sizeof(*m->poff));
	rc = 0;
out:
	if (rc < 0)
		bulk_free(m);
	free(my);
	return rc;
}

/* Bind nrows queued rows from row first to st and run it; 0, or -1 with
 * err. */
static int
bulk_exec(struct my *m, MYSQL_STMT *st, size_t first, size_t nrows,
    struct ep_error *err)
{
	MYSQL_BIND *b = m->pb + first * m->pn;

	m->started = time(NULL);
	if ((m->pn > 0 && mysql_stmt_bind_param(st, b)) ||
	    mysql_stmt_execute(st) != 0) {
		pstmt_error(m, st, err);
		return -1;
	}
	m->nrows += nrows;
	return 0;
}

static void
bulk_clear(struct my *m)
{
	m->bn = 0;
	m->palen = 0;
	m->bbytes = 0;
}

/* Send the queued rows.  0 (a SQL error is kept in m->berr), or -1 when
 * the connection is lost or the statement cannot be prepared. */
static int
bulk_flush(struct my *m, struct ep_error *err)
{
	size_t n = m->bn;
	MYSQL_STMT *st = m->pstmt;
	struct ep_error e = { 0 };
	int rc;

	if (n == 0 || m->bfailed) {
		bulk_clear(m);
		return 0;
	}
	/* The arena is complete: point the text values into it. */
	for (size_t k = 0; k < n * m->pn; k++)
		if (m->pb[k].buffer_type == MYSQL_TYPE_STRING)
			m->pb[k].buffer = m->parena + m->poff[k];
	if (n == m->bmax && n > 1) {
		if (m->bstmt == NULL)
			m->bstmt = bulk_prepare(m, n, err);
		st = m->bstmt;
	} else if (n > 1) {
		st = bulk_prepare(m, n, err);
	}
	if (st == NULL)
		return -1;
	if (n > 1 && !plain(m, "SAVEPOINT edpipe_batch")) {
		conn_error(m, err);
		rc = -1;
		goto out;
	}
	rc = bulk_exec(m, st, 0, n, &e);
	if (rc == 0)
		goto out;
	rc = 0;
	if (e.code == EP_EXIT_UNAVAILABLE) {
		*err = e;
		rc = -1;
		goto out;
	}
	m->bfailed = true;
	m->berr = e;
	m->bbad = n == 1 ? m->nrows + 1 : 0;
	/* Back to before the batch, then a row at a time: the first row
	 * that fails is the bad one, with its own error. */
	if (n > 1 && e.code == EP_EXIT_DATAERR &&
	    plain(m, "ROLLBACK TO SAVEPOINT edpipe_batch")) {
		for (size_t i = 0; i < n; i++) {
			if (bulk_exec(m, m->pstmt, i, 1, &e) == 0)
				continue;
			if (e.code == EP_EXIT_UNAVAILABLE) {
				*err = e;
				rc = -1;
				goto out;
			}
			m->berr = e;
			m->bbad = m->nrows + 1;
			break;
		}
	}
out:
	if (st != m->pstmt && st != m->bstmt)
		mysql_stmt_close(st);
	bulk_clear(m);
	return rc;
}

static int
my_copy_row(void *h, const struct ep_field *const *vals, size_t n,
    struct ep_error *err)
{
	struct my *m = h;
	size_t bytes = 0;

	if (m->pstmt == NULL || n != m->pn) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "MySQL bulk load: %zu "
		    "values for %zu columns", n, m->pn);
		return -1;
	}
	if (m->bfailed)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (vals[i] != NULL && vals[i]->type != EP_T_NULL)
			bytes += vals[i]->vlen;
	bytes += n * BULK_CELL;
	if (m->bn > 0 && m->bbytes + bytes > m->bmaxbytes &&
	    bulk_flush(m, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct ep_field *f = vals[i];
		size_t k = m->bn * n + i;
		MYSQL_BIND *b = &m->pb[k];

		memset(b, 0, sizeof(*b));
		if (f == NULL || f->type == EP_T_NULL) {
			b->buffer_type = MYSQL_TYPE_NULL;
		} else if (f->type == EP_T_BOOL) {
			m->pbool[k] = f->val[0] == 't';
			b->buffer_type = MYSQL_TYPE_TINY;
			b->buffer = &m->pbool[k];
		} else {
			if (m->palen + f->vlen > m->pacap) {
				m->pacap = (m->palen + f->vlen) * 2 + 4096;
				m->parena = ep_xrealloc(m->parena, m->pacap);
			}
			memcpy(m->parena + m->palen, f->val, f->vlen);
			m->poff[k] = m->palen;
			m->palen += f->vlen;
			b->buffer_type = MYSQL_TYPE_STRING;
			m->plen[k] = f->vlen;
			b->buffer_length = f->vlen;
			b->length = &m->plen[k];
		}
	}
	m->bn++;
	m->bbytes += bytes;
	if (m->bn == m->bmax)
		return bulk_flush(m, err);
	return 0;
}

static int
my_copy_end(void *h, unsigned long *bad_row, struct ep_error *err)
{
	struct my *m = h;
	struct ep_error te = { 0 };
	int rc = 0;

	if (bad_row != NULL)
		*bad_row = 0;
	if (m->pstmt == NULL)
		return -1;
	if (bulk_flush(m, err != NULL ? err : &te) < 0) {
		rc = -1;
	} else if (m->bfailed) {
		if (err != NULL)
			*err = m->berr;
		if (bad_row != NULL)
			*bad_row = m->bbad;
		rc = -1;
	}
	bulk_free(m);
	return rc;
}

const struct ep_db_ops ep_db_mysql_ops = {
	.name = "mysql",
	.open = my_open,
	.query = my_query,
	.next = my_next,
	.exec = my_exec,
	.close = my_close,
	.placeholder = ep_db_qmark_placeholder,
	.columns = my_columns,
	.begin_sql = "START TRANSACTION",
	.copy_begin = my_copy_begin,
	.copy_row = my_copy_row,
	.copy_end = my_copy_end,
};
