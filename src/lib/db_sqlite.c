/*
 * db_sqlite.c - the SQLite backend: sqlite:PATH, parameters bound as ?N.
 *
 * SQLite values are dynamically typed, so a column's type comes from the
 * value (INTEGER and REAL become JSON numbers, TEXT strings) corrected by
 * the declared type of the column where there is one: DECIMAL/NUMERIC/
 * MONEY columns are strings (no float rounding on our side), BOOLEAN
 * columns holding 0/1 are false/true.  Dates are whatever text the table
 * holds (ISO 8601 by SQLite's own convention).  A BLOB is written as a
 * string of hex digits.
 *
 * Time limit (ep_db_open_timeout): a progress handler interrupts a
 * statement that runs past its deadline (a runaway recursive CTE), and
 * the busy timeout bounds the wait for another process's lock.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "db.h"
#include "secret.h"

enum coltype { C_ANY, C_DECIMAL, C_BOOL };

struct sq {
	sqlite3 *db;
	sqlite3_stmt *st;
	char *path;
	char **cols;
	size_t *nlen;		/* strlen of each of cols */
	bool uniq;		/* no two columns of the same name */
	enum coltype *ctype;
	size_t ncols;
	unsigned long row;
	sqlite3_stmt *ins;	/* the prepared statement of a load */
	unsigned timeout;	/* seconds */
	long long deadline;	/* ms (CLOCK_MONOTONIC) */
	bool timed_out;		/* the progress handler interrupted */
};

/* Called every few thousand VM steps: non-zero interrupts. */
static int
progress(void *arg)
{
	struct sq *s = arg;

	if (ep_now_ms() < s->deadline)
		return 0;
	s->timed_out = true;
	return 1;
}

static void
start_clock(struct sq *s)
{
	s->deadline = ep_now_ms() + (long long)s->timeout * 1000;
	s->timed_out = false;
}

static void
sq_reset(struct sq *s)
{
	for (size_t i = 0; i < s->ncols; i++)
		free(s->cols[i]);
	free(s->cols);
	free(s->nlen);
	free(s->ctype);
	s->cols = NULL;
	s->nlen = NULL;
	s->ctype = NULL;
	s->ncols = 0;
	sqlite3_finalize(s->st);
	s->st = NULL;
	s->row = 0;
}

static int
sq_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_READONLY:
		return EP_EXIT_NOPERM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EP_EXIT_TEMPFAIL;
	case SQLITE_IOERR:
		return EP_EXIT_IOERR;
	case SQLITE_NOMEM:
		return EP_EXIT_NOMEM;
	case SQLITE_CANTOPEN:
		return EP_EXIT_NOINPUT;
	default:
		return EP_EXIT_DATAERR;
	}
}

/* Fill err after a failed call that returned rc. */
static void
sq_error(struct sq *s, int rc, struct ep_error *err)
{
	if ((rc & 0xff) == SQLITE_INTERRUPT && s->timed_out)
		ep_db_timeout_error(err, s->timeout, s->row);
	else
		ep_error_set(err, sq_code(rc), "SQL error: %s",
		    sqlite3_errmsg(s->db));
}

static void *
sq_open(const char *url, const char *password, int flags, unsigned timeout,
    struct ep_error *err)
{
	struct ep_url u;
	struct sq *s;
	struct stat st;
	int oflags, rc;

	(void)password;
	if (ep_url_parse(url, &u, err) < 0)
		return NULL;
	if (u.host != NULL || u.path[0] == '\0') {
		ep_error_set(err, EP_EXIT_CONFIG, "malformed SQLite URL '%s' "
		    "(use sqlite:PATH)", url);
		ep_url_free(&u);
		return NULL;
	}
	if ((flags & EP_DB_READONLY) && stat(u.path, &st) < 0) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_NOPERM, "cannot open SQLite database '%s': %s",
		    u.path, strerror(errno));
		ep_url_free(&u);
		return NULL;
	}
	s = ep_xcalloc(1, sizeof(*s));
	s->path = ep_xstrdup(u.path);
	ep_url_free(&u);
	oflags = (flags & EP_DB_READONLY) ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	/* One thread uses the connection: no mutex per call (each column
	 * read took and released one). */
	oflags |= SQLITE_OPEN_NOMUTEX;
	rc = sqlite3_open_v2(s->path, &s->db, oflags, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_master",
		    NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		ep_error_set(err, rc == SQLITE_NOTADB ? EP_EXIT_DATAERR :
		    sq_code(rc), "cannot open SQLite database '%s': %s",
		    s->path, s->db ? sqlite3_errmsg(s->db) :
		    sqlite3_errstr(rc));
		sqlite3_close(s->db);
		free(s->path);
		free(s);
		return NULL;
	}
	s->timeout = timeout;
	sqlite3_busy_timeout(s->db, timeout > INT_MAX / 1000 ? INT_MAX :
	    (int)timeout * 1000);
	sqlite3_progress_handler(s->db, 10000, progress, s);
	start_clock(s);
	return s;
}

static bool
decl_has(const char *decl, const char *word)
{
	return decl != NULL && strcasestr(decl, word) != NULL;
}

static int
sq_query(void *h, const char *sql, const char *const *values, size_t np,
    struct ep_error *err)
{
	struct sq *s = h;
	const char *tail = NULL;
	int rc;

	sq_reset(s);
	start_clock(s);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &s->st, &tail);
	if (rc != SQLITE_OK) {
		ep_error_set(err, sq_code(rc), "SQL error: %s",
		    sqlite3_errmsg(s->db));
		return -1;
	}
	if (s->st == NULL) {
		ep_error_set(err, EP_EXIT_USAGE, "the query is empty");
		return -1;
	}
	if (tail != NULL && *tail != '\0') {
		sqlite3_stmt *more = NULL;

		/* Only white space and comments may follow the statement. */
		rc = sqlite3_prepare_v2(s->db, tail, -1, &more, NULL);
		sqlite3_finalize(more);
		if (rc != SQLITE_OK || more != NULL) {
			ep_error_set(err, EP_EXIT_DATAERR, "SQL error: the "
			    "query holds more than one statement");
			sq_reset(s);
			return -1;
		}
	}
	for (size_t i = 0; i < np; i++) {
		if (values[i] == NULL)
			rc = sqlite3_bind_null(s->st, (int)i + 1);
		else
			rc = sqlite3_bind_text(s->st, (int)i + 1, values[i],
			    -1, SQLITE_TRANSIENT);
		if (rc != SQLITE_OK) {
			ep_error_set(err, EP_EXIT_SOFTWARE, "cannot bind "
			    "parameter %zu: %s", i + 1, sqlite3_errmsg(s->db));
			sq_reset(s);
			return -1;
		}
	}
	s->ncols = (size_t)sqlite3_column_count(s->st);
	s->cols = ep_xcalloc(s->ncols + 1, sizeof(char *));
	s->nlen = ep_xcalloc(s->ncols + 1, sizeof(size_t));
	s->ctype = ep_xcalloc(s->ncols + 1, sizeof(*s->ctype));
	for (size_t i = 0; i < s->ncols; i++) {
		const char *decl = sqlite3_column_decltype(s->st, (int)i);
		const char *name = sqlite3_column_name(s->st, (int)i);

		s->cols[i] = ep_xstrdup(name ? name : "");
		s->nlen[i] = strlen(s->cols[i]);
		if (decl_has(decl, "DEC") || decl_has(decl, "NUMERIC") ||
		    decl_has(decl, "MONEY"))
			s->ctype[i] = C_DECIMAL;
		else if (decl_has(decl, "BOOL"))
			s->ctype[i] = C_BOOL;
	}
	s->uniq = true;
	for (size_t i = 0; i < s->ncols && s->uniq; i++)
		for (size_t k = 0; k < i && s->uniq; k++)
			s->uniq = strcmp(s->cols[i], s->cols[k]) != 0;
	return 0;
}

/* Column i's value into row: appended, named once per query, when the
 * names are distinct; else by name (a later column of a name wins). */
static void
put(struct sq *s, struct ep_rec *row, size_t i, enum ep_type t,
    const char *v, size_t n)
{
	if (s->uniq)
		ep_rec_append(row, s->cols[i], s->nlen[i], t, v, n);
	else
		ep_rec_set(row, s->cols[i], t, v, n);
}

static void
put_value(struct sq *s, struct ep_rec *row, size_t i)
{
	static const char hex[] = "0123456789abcdef";
	sqlite3_stmt *st = s->st;
	const char *txt;
	int t = sqlite3_column_type(st, (int)i), n;
	char buf[64];

	switch (t) {
	case SQLITE_NULL:
		put(s, row, i, EP_T_NULL, NULL, 0);
		return;
	case SQLITE_INTEGER: {
		long long v = sqlite3_column_int64(st, (int)i);

		if (s->ctype[i] == C_BOOL && (v == 0 || v == 1)) {
			put(s, row, i, EP_T_BOOL, v ? "true" : "false",
			    v ? 4 : 5);
			return;
		}
		n = snprintf(buf, sizeof(buf), "%lld", v);
		put(s, row, i, s->ctype[i] == C_DECIMAL ? EP_T_STR :
		    EP_T_NUM, buf, (size_t)n);
		return;
	}
	case SQLITE_FLOAT: {
		double v = sqlite3_column_double(st, (int)i);

		if (!isfinite(v)) {
			txt = isnan(v) ? "NaN" : v > 0 ? "Infinity" :
			    "-Infinity";
			put(s, row, i, EP_T_STR, txt, strlen(txt));
			return;
		}
		/* The shortest text that reads back as the same double, so
		 * 12345678901234.25 in a DECIMAL column keeps its digits
		 * (SQLite's own text form stops at 15). */
		for (int prec = 15; prec <= 17; prec++) {
			n = snprintf(buf, sizeof(buf), "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
		put(s, row, i, s->ctype[i] == C_DECIMAL ? EP_T_STR :
		    EP_T_NUM, buf, (size_t)n);
		return;
	}
	case SQLITE_BLOB: {
		const unsigned char *b = sqlite3_column_blob(st, (int)i);
		size_t len = (size_t)sqlite3_column_bytes(st, (int)i);
		char *x = ep_xmalloc(2 * len + 1);

		for (size_t k = 0; k < len; k++) {
			x[2 * k] = hex[b[k] >> 4];
			x[2 * k + 1] = hex[b[k] & 15];
		}
		put(s, row, i, EP_T_STR, x, 2 * len);
		free(x);
		return;
	}
	default:
		/* UTF-8 and NUL are checked for every backend in db.c. */
		txt = (const char *)sqlite3_column_text(st, (int)i);
		n = sqlite3_column_bytes(st, (int)i);
		if (s->uniq && txt != NULL) {
			/* Borrowed, not copied: the text stays until the
			 * next step, and ep_db_next clears the record before
			 * it steps again. */
			struct ep_field *f = ep_rec_add(row, 1);

			f->name = s->cols[i];
			f->nlen = s->nlen[i];
			f->type = EP_T_STR;
			f->val = txt;
			f->vlen = (size_t)n;
			return;
		}
		put(s, row, i, EP_T_STR, txt, (size_t)n);
		return;
	}
}

static int
sq_next(void *h, struct ep_rec *row, struct ep_error *err)
{
	struct sq *s = h;
	int rc;

	if (s->st == NULL)
		return 0;
	rc = sqlite3_step(s->st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		sq_error(s, rc, err);
		return -1;
	}
	s->row++;
	for (size_t i = 0; i < s->ncols; i++)
		put_value(s, row, i);
	return 1;
}

static int
sq_exec(void *h, const char *sql, struct ep_error *err)
{
	struct sq *s = h;
	char *msg = NULL;
	int rc;

	sq_reset(s);
	start_clock(s);
	rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	if ((rc & 0xff) == SQLITE_INTERRUPT && s->timed_out) {
		ep_db_timeout_error(err, s->timeout, 0);
		sqlite3_free(msg);
		return -1;
	}
	if (rc != SQLITE_OK) {
		ep_error_set(err, sq_code(rc), "SQL error: %s",
		    msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static const char *const *
sq_columns(void *h, size_t *n)
{
	struct sq *s = h;

	*n = s->ncols;
	return (const char *const *)s->cols;
}

static void
sq_close(void *h)
{
	struct sq *s = h;

	if (s == NULL)
		return;
	sq_reset(s);
	sqlite3_finalize(s->ins);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

static char *
sq_placeholder(size_t i, const char *name)
{
	(void)name;
	return ep_xasprintf("?%zu", i);
}

/* ------------------------------------------------- prepared loading */

static int
sq_prep_begin(void *h, const char *sql, struct ep_error *err)
{
	struct sq *s = h;
	int rc;

	sq_reset(s);
	sqlite3_finalize(s->ins);
	s->ins = NULL;
	rc = sqlite3_prepare_v2(s->db, sql, -1, &s->ins, NULL);
	if (rc != SQLITE_OK) {
		ep_error_set(err, sq_code(rc), "SQL error: %s",
		    sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

/* An integer literal that fits in 64 bits: *v. */
static bool
int_literal(const char *t, size_t n, sqlite3_int64 *v)
{
	char *end;
	long long x;

	if (n == 0 || n > 20 || (t[0] == '0' && n > 1) ||
	    (t[0] == '-' && (n == 1 || t[1] == '0')))
		return false;
	errno = 0;
	x = strtoll(t, &end, 10);
	if (errno != 0 || end != t + n)
		return false;
	*v = x;
	return true;
}

/*
 * Bind by record type: NULL as NULL, true/false as 1/0 (what a BOOLEAN
 * column holds in SQLite), integer numbers as integers, everything else
 * as text, which the column's affinity converts as it would a literal.
 */
static int
sq_prep_row(void *h, const struct ep_field *const *vals, size_t n,
    struct ep_error *err)
{
	struct sq *s = h;
	sqlite3_stmt *st = s->ins;
	int rc = SQLITE_OK;

	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		const struct ep_field *f = vals[i];
		sqlite3_int64 v;
		int k = (int)i + 1;

		if (f == NULL || f->type == EP_T_NULL)
			rc = sqlite3_bind_null(st, k);
		else if (f->type == EP_T_BOOL)
			rc = sqlite3_bind_int(st, k, f->val[0] == 't');
		else if (f->type == EP_T_NUM && int_literal(f->val, f->vlen,
		    &v))
			rc = sqlite3_bind_int64(st, k, v);
		else
			rc = sqlite3_bind_text(st, k, f->val, (int)f->vlen,
			    SQLITE_STATIC);
	}
	start_clock(s);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		sq_error(s, rc, err);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return -1;
	return 0;
}

static void
sq_prep_end(void *h)
{
	struct sq *s = h;

	sqlite3_finalize(s->ins);
	s->ins = NULL;
}

const struct ep_db_ops ep_db_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.query = sq_query,
	.next = sq_next,
	.exec = sq_exec,
	.close = sq_close,
	.placeholder = sq_placeholder,
	.columns = sq_columns,
	.prep_begin = sq_prep_begin,
	.prep_row = sq_prep_row,
	.prep_end = sq_prep_end,
};
