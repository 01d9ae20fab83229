/*
 * db.c - the backend-independent half of db.h: pick the backend from the
 * URL scheme, find and check the :name parameters, hand the rewritten SQL
 * and the values in placeholder order to the backend.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "db.h"
#include "secret.h"

/* What ep_db_open() dispatches to, by URL scheme (--version lists them). */
const char *const ep_db_backends[] = {
	"sqlite", "postgres", "mssql", "mysql", "odbc", NULL
};

struct ep_db {
	const struct ep_db_ops *ops;
	void *h;
	bool active;		/* a query ran and its rows may be read */
	bool clean;		/* its text is known valid (ops->clean) */
	unsigned long row;	/* rows of the current result read so far */
};

struct ep_db *
ep_db_open(const char *url, const char *password, int flags,
    struct ep_error *err)
{
	return ep_db_open_timeout(url, password, flags, EP_DB_TIMEOUT_DEFAULT,
	    err);
}

void
ep_db_timeout_error(struct ep_error *err, unsigned timeout,
    unsigned long rows)
{
	ep_error_set(err, EP_EXIT_TEMPFAIL, "the database timed out after "
	    "%lu rows: the statement took more than %u s (--timeout %u)",
	    rows, timeout, timeout);
}

struct ep_db *
ep_db_open_timeout(const char *url, const char *password, int flags,
    unsigned timeout, struct ep_error *err)
{
	const struct ep_db_ops *ops;
	struct ep_db *db;
	struct ep_url u;
	char *masked;
	void *h;

	if (ep_url_parse(url, &u, err) < 0)
		return NULL;
	masked = ep_url_mask(url);
	if (u.password != NULL) {
		ep_error_set(err, EP_EXIT_CONFIG, "refusing '%s': a password "
		    "does not belong in the URL (set SIS_PASSWORD or use "
		    "--password-file)", masked);
		goto fail;
	}
	if (strcmp(u.scheme, "sqlite") == 0)
		ops = &ep_db_sqlite_ops;
	else if (strcmp(u.scheme, "postgres") == 0 ||
	    strcmp(u.scheme, "postgresql") == 0)
		ops = &ep_db_pg_ops;
	else if (strcmp(u.scheme, "mssql") == 0 ||
	    strcmp(u.scheme, "sqlserver") == 0)
		ops = &ep_db_mssql_ops;
	else if (strcmp(u.scheme, "mysql") == 0 ||
	    strcmp(u.scheme, "mariadb") == 0)
		ops = &ep_db_mysql_ops;
	else if (strcmp(u.scheme, "odbc") == 0)
		ops = &ep_db_odbc_ops;
	else {
		ep_error_set(err, EP_EXIT_CONFIG, "unknown database URL "
		    "scheme in '%s' (use sqlite:PATH, postgres://USER@HOST/DB, "
		    "mssql://USER@HOST/DB, mysql://USER@HOST/DB or odbc:DSN)",
		    masked);
		goto fail;
	}
	/* Every client but SQLite's may hold a password, ours or one it
	 * found itself (PGPASSWORD, .pgpass, odbc.ini, option files). */
	if (ops != &ep_db_sqlite_ops)
		ep_secret_protect();
	h = ops->open(url, password, flags, timeout ? timeout :
	    EP_DB_TIMEOUT_DEFAULT, err);
	if (h == NULL)
		goto fail;
	free(masked);
	ep_url_free(&u);
	db = ep_xcalloc(1, sizeof(*db));
	db->ops = ops;
	db->h = h;
	return db;
fail:
	free(masked);
	ep_url_free(&u);
	return NULL;
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * Two result columns of one name would make one field hide the other; a
 * name that is not UTF-8 would make a field name no reader takes.
 */
static int
dup_column(struct ep_db *db, struct ep_error *err)
{
	size_t n;
	const char *const *c = ep_db_columns(db, &n);

	for (size_t i = 0; i < n; i++) {
		if (ep_utf8_check(c[i], strlen(c[i])) >= 0) {
			ep_error_set(err, EP_EXIT_DATAERR, "result column %zu: "
			    "the name is not valid UTF-8 (rename it with AS)",
			    i + 1);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(c[i], c[k]) == 0) {
				ep_error_set(err, EP_EXIT_DATAERR, "the query "
				    "returns two columns named '%s' (rename "
				    "one with AS)", c[i]);
				return -1;
			}
	}
	return 0;
}

int
ep_db_query(struct ep_db *db, const char *sql,
    const struct ep_db_param *params, size_t np, struct ep_error *err)
{
	const char **values = NULL;
	char **names = NULL, *text;
	size_t nnames = 0;
	int rc = -1;

	db->active = false;
	db->row = 0;
	for (size_t i = 0; i < np; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(params[i].name, params[k].name) == 0) {
				ep_error_set(err, EP_EXIT_USAGE, "parameter "
				    "'%s' is given twice", params[i].name);
				return -1;
			}
	text = ep_sql_params(sql, db->ops->placeholder, &names, &nnames);
	values = ep_xcalloc(nnames + 1, sizeof(*values));
	for (size_t i = 0; i < nnames; i++) {
		size_t k;

		for (k = 0; k < np; k++)
			if (strcmp(names[i], params[k].name) == 0)
				break;
		if (k == np) {
			ep_error_set(err, EP_EXIT_USAGE, "the query uses "
			    "parameter ':%s' but no value was given (--param "
			    "%s=VALUE)", names[i], names[i]);
			goto out;
		}
		values[i] = params[k].value;
	}
	for (size_t k = 0; k < np; k++) {
		size_t i;

		for (i = 0; i < nnames; i++)
			if (strcmp(names[i], params[k].name) == 0)
				break;
		if (i == nnames) {
			ep_error_set(err, EP_EXIT_USAGE, "parameter '%s' is "
			    "given but the query does not use ':%s'",
			    params[k].name, params[k].name);
			goto out;
		}
	}
	rc = db->ops->query(db->h, text, values, nnames, err);
	db->clean = rc == 0 && db->ops->clean != NULL && db->ops->clean(db->h);
	if (rc == 0 && dup_column(db, err) < 0)
		rc = -1;
	db->active = rc == 0;
out:
	free(values);
	free(text);
	free_names(names, nnames);
	return rc;
}

/*
 * Every text value must be something a record can carry: valid UTF-8
 * without NUL.  Every edpipe reader refuses a NUL (\u0000 in NDJSON, a
 * raw byte in CSV), so passing one on would only move the failure to the
 * next program, away from the data that holds it.  One check here holds
 * for every backend.
 */
static int
check_row(struct ep_db *db, const struct ep_rec *row, struct ep_error *err)
{
	for (size_t k = 0; k < row->n; k++) {
		const struct ep_field *f = &row->f[k];
		const char *nul;
		long bad;

		if (f->type != EP_T_STR)
			continue;
		nul = memchr(f->val, '\0', f->vlen);
		if (nul != NULL) {
			ep_error_set(err, EP_EXIT_DATAERR, "row %lu, column "
			    "'%s': the value holds a NUL character at byte %zu "
			    "(no edpipe reader takes one: strip it in the "
			    "query)", db->row, f->name,
			    (size_t)(nul - f->val) + 1);
			return -1;
		}
		bad = ep_utf8_check(f->val, f->vlen);
		if (bad >= 0) {
			ep_error_set(err, EP_EXIT_DATAERR, "row %lu, column "
			    "'%s': not valid UTF-8 at byte %ld", db->row,
			    f->name, bad + 1);
			return -1;
		}
	}
	return 0;
}

int
ep_db_next(struct ep_db *db, struct ep_rec *row, struct ep_error *err)
{
	int rc;

	ep_rec_clear(row);
	if (!db->active)
		return 0;
	rc = db->ops->next(db->h, row, err);
	if (rc == 1) {
		db->row++;
		if (!db->clean && check_row(db, row, err) < 0)
			rc = -1;
	}
	if (rc <= 0)
		db->active = false;
	return rc;
}

int
ep_db_exec(struct ep_db *db, const char *sql, struct ep_error *err)
{
	db->active = false;
	if (db->ops->exec == NULL) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "the %s backend cannot "
		    "run statements", db->ops->name);
		return -1;
	}
	return db->ops->exec(db->h, sql, err);
}

const char *const *
ep_db_columns(struct ep_db *db, size_t *n)
{
	*n = 0;
	if (db->ops->columns == NULL)
		return NULL;
	return db->ops->columns(db->h, n);
}

int
ep_db_begin(struct ep_db *db, struct ep_error *err)
{
	return ep_db_exec(db, db->ops->begin_sql ? db->ops->begin_sql :
	    "BEGIN", err);
}

int
ep_db_commit(struct ep_db *db, struct ep_error *err)
{
	return ep_db_exec(db, "COMMIT", err);
}

int
ep_db_rollback(struct ep_db *db, struct ep_error *err)
{
	return ep_db_exec(db, "ROLLBACK", err);
}

char *
ep_db_qmark_placeholder(size_t i, const char *name)
{
	(void)name;
	return ep_xasprintf("?\1%zu\2", i);
}

char *
ep_db_positional(const char *sql, size_t **idx, size_t *n)
{
	size_t len = strlen(sql), o = 0, cnt = 0;
	char *out = ep_xmalloc(len + 1);
	size_t *ix = ep_xcalloc(len / 3 + 1, sizeof(*ix));

	for (size_t i = 0; i < len; i++) {
		if (sql[i] == '?' && sql[i + 1] == '\1' &&
		    isdigit((unsigned char)sql[i + 2])) {
			char *end;
			unsigned long v = strtoul(sql + i + 2, &end, 10);

			if (*end == '\2' && v > 0) {
				ix[cnt++] = v - 1;
				out[o++] = '?';
				i = (size_t)(end - sql);
				continue;
			}
		}
		out[o++] = sql[i];
	}
	out[o] = '\0';
	*idx = ix;
	*n = cnt;
	return out;
}

const struct ep_db_ops *
ep_db_backend(struct ep_db *db, void **handle)
{
	if (handle != NULL)
		*handle = db->h;
	return db->ops;
}

void
ep_db_close(struct ep_db *db)
{
	if (db == NULL)
		return;
	db->ops->close(db->h);
	free(db);
}

/* ------------------------------------------------------ parameter scan */

static bool
ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool
ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Length of a dollar-quote tag "$tag$" or "$$" at s, or 0. */
static size_t
dollar_tag(const char *s)
{
	size_t n = 1;

	if (s[1] == '$')
		return 2;
	if (!ident_start(s[1]))
		return 0;
	while (ident_char(s[n]))
		n++;
	return s[n] == '$' ? n + 1 : 0;
}

/* Skip a literal, quoted identifier or comment starting at s[i]; return
 * the index just past it, or i when none starts there. */
static size_t
skip_quoted(const char *s, size_t i)
{
	size_t j, t;

	switch (s[i]) {
	case '\'':
	case '"': {
		char q = s[i];
		/* PostgreSQL E'...' strings take backslash escapes. */
		bool bs = q == '\'' && i > 0 && (s[i - 1] == 'E' ||
		    s[i - 1] == 'e') && (i < 2 || !ident_char(s[i - 2]));

		for (j = i + 1; s[j]; j++) {
			if (bs && s[j] == '\\' && s[j + 1]) {
				j++;
				continue;
			}
			if (s[j] == q) {
				if (s[j + 1] == q) {
					j++;
					continue;
				}
				return j + 1;
			}
		}
		return j;
	}
	case '-':
		if (s[i + 1] != '-')
			return i;
		return i + strcspn(s + i, "\n");
	case '/': {
		int depth = 0;

		if (s[i + 1] != '*')
			return i;
		for (j = i; s[j]; j++) {
			if (s[j] == '/' && s[j + 1] == '*') {
				depth++;
				j++;
			} else if (s[j] == '*' && s[j + 1] == '/') {
				j++;
				if (--depth == 0)
					return j + 1;
			}
		}
		return j;
	}
	case '$':
		if (i > 0 && ident_char(s[i - 1]))
			return i;
		t = dollar_tag(s + i);
		if (t == 0)
			return i;
		for (j = i + t; s[j]; j++)
			if (strncmp(s + j, s + i, t) == 0)
				return j + t;
		return j;
	default:
		return i;
	}
}

char *
ep_sql_params(const char *sql, char *(*ph)(size_t i, const char *name),
    char ***names, size_t *nnames)
{
	size_t len = strlen(sql), cap = len + 1, olen = 0, i = 0;
	char *out = ep_xmalloc(cap);
	char **nm = NULL;
	size_t nn = 0;

	while (i < len) {
		size_t j = skip_quoted(sql, i), k, idx;
		char *name, *p;

		if (j == i && sql[i] == ':' && sql[i + 1] == ':') {
			j = i + 2;
			while (sql[j] == ':')
				j++;
		}
		if (j != i) {
			/* Literal text, copied as it is. */
			if (olen + (j - i) + 1 > cap) {
				cap = olen + (j - i) + 1;
				out = ep_xrealloc(out, cap);
			}
			memcpy(out + olen, sql + i, j - i);
			olen += j - i;
			i = j;
			continue;
		}
		if (sql[i] != ':' || !ident_start(sql[i + 1])) {
			if (olen + 2 > cap) {
				cap = cap * 2 + 2;
				out = ep_xrealloc(out, cap);
			}
			out[olen++] = sql[i++];
			continue;
		}
		for (k = i + 1; ident_char(sql[k]); k++)
			;
		name = ep_xstrndup(sql + i + 1, k - i - 1);
		for (idx = 0; idx < nn; idx++)
			if (strcmp(nm[idx], name) == 0)
				break;
		if (idx == nn) {
			nm = ep_xrealloc(nm, (nn + 1) * sizeof(*nm));
			nm[nn++] = name;
		} else {
			free(name);
		}
		p = ph(idx + 1, nm[idx]);
		if (olen + strlen(p) + 1 > cap) {
			cap = (olen + strlen(p) + 1) * 2;
			out = ep_xrealloc(out, cap);
		}
		memcpy(out + olen, p, strlen(p));
		olen += strlen(p);
		free(p);
		i = k;
	}
	out[olen] = '\0';
	*names = nm;
	*nnames = nn;
	return out;
}

/* ------------------------------------------------------------ loading */

int
ep_db_exec_params(struct ep_db *db, const char *sql,
    const struct ep_db_param *params, size_t np, struct ep_error *err)
{
	struct ep_rec *row = ep_rec_new();
	int rc;

	rc = ep_db_query(db, sql, params, np, err);
	while (rc == 0 && (rc = ep_db_next(db, row, err)) == 1)
		rc = 0;
	ep_rec_free(row);
	return rc < 0 ? -1 : 0;
}

static bool
is_mssql(const struct ep_db *db)
{
	return db->ops == &ep_db_mssql_ops;
}

/* Append name (len bytes) quoted to out at *olen. */
static void
quote_part(struct ep_db *db, char *out, size_t *olen, const char *name,
    size_t len)
{
	char open = is_mssql(db) ? '[' : '"', close = is_mssql(db) ? ']' :
	    '"';

	out[(*olen)++] = open;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == close)
			out[(*olen)++] = close;
		out[(*olen)++] = name[i];
	}
	out[(*olen)++] = close;
}

char *
ep_db_quote(struct ep_db *db, const char *name, bool qualified)
{
	size_t len = strlen(name), olen = 0;
	char *out = ep_xmalloc(3 * len + 3);
	const char *dot = qualified ? strchr(name, '.') : NULL;

	if (dot != NULL) {
		quote_part(db, out, &olen, name, (size_t)(dot - name));
		out[olen++] = '.';
		quote_part(db, out, &olen, dot + 1, strlen(dot + 1));
	} else {
		quote_part(db, out, &olen, name, len);
	}
	out[olen] = '\0';
	return out;
}

const char *
ep_db_type(struct ep_db *db, const char *generic, bool key)
{
	static const struct {
		const char *names[3];
		const char *sqlite, *pg, *mssql;
	} types[] = {
		{ { "text", "string", NULL }, "TEXT", "text",
		    "nvarchar(max)" },
		{ { "int", "integer", NULL }, "INTEGER", "integer", "int" },
		{ { "bigint", NULL, NULL }, "INTEGER", "bigint", "bigint" },
		{ { "numeric", "decimal", NULL }, "NUMERIC", "numeric",
		    "decimal(38,10)" },
		{ { "float", "real", "double" }, "REAL", "double precision",
		    "float" },
		{ { "date", NULL, NULL }, "DATE", "date", "date" },
		{ { "timestamp", "datetime", NULL }, "TIMESTAMP", "timestamp",
		    "datetime2" },
		{ { "bool", "boolean", NULL }, "BOOLEAN", "boolean", "bit" },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		for (size_t k = 0; k < 3 && types[i].names[k]; k++) {
			if (strcasecmp(generic, types[i].names[k]) != 0)
				continue;
			if (db->ops == &ep_db_pg_ops)
				return types[i].pg;
			if (db->ops == &ep_db_mysql_ops)
				/* TEXT cannot be a key without a prefix length;
				 * NUMERIC alone would be DECIMAL(10,0). */
				return i == 0 ? (key ? "varchar(255)" : "text") :
				    i == 3 ? "decimal(38,10)" : i == 4 ? "double" :
				    i == 6 ? "datetime" : i == 2 ? "bigint" :
				    types[i].sqlite;
			if (!is_mssql(db))
				return types[i].sqlite;
			/* An index key holds at most 900 bytes. */
			if (i == 0 && key)
				return "nvarchar(450)";
			return types[i].mssql;
		}
	return NULL;
}

enum load_path { L_COPY, L_PREP, L_BATCH, L_UPSERT };

struct ep_db_load {
	struct ep_db *db;
	enum load_path path;
	size_t ncols, nkeys;
	char *qtable;
	char **qcols;
	size_t *keyidx;		/* the key columns' positions in cols */
	bool *iskey;
	char *finish_sql;	/* upsert via the stage: stage to table */
	char *row_sql;		/* batch: the INSERT of a full batch;
				 * upsert: the UPDATE */
	char *ins_sql;		/* upsert: the INSERT ... WHERE NOT EXISTS */
	char *plain_sql;	/* upsert with ops->changes: INSERT VALUES */
	char **vals;		/* batch: queued values, maxrows * ncols */
	size_t nrows, maxrows;
	unsigned long rows, flushed;
	bool in_copy, in_prep;
	struct ep_rec *scratch;
};

/* The n placeholders first, first + 1, ... joined by ", ". */
static void
put_placeholders(struct ep_db *db, FILE *m, size_t first, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *p = db->ops->placeholder(first + i, "p");

		fprintf(m, "%s%s", i ? ", " : "", p);
		free(p);
	}
}

static void
put_cols(FILE *m, char **q, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(m, "%s%s", i ? ", " : "", q[i]);
}

/* " ON CONFLICT (keys) DO UPDATE SET c = excluded.c, ..." */
static void
put_on_conflict(FILE *m, const struct ep_db_load *ld)
{
	bool any = false;

	fprintf(m, " ON CONFLICT (");
	for (size_t k = 0; k < ld->nkeys; k++)
		fprintf(m, "%s%s", k ? ", " : "", ld->qcols[ld->keyidx[k]]);
	fprintf(m, ") DO ");
	for (size_t i = 0; i < ld->ncols; i++) {
		if (ld->iskey[i])
			continue;
		fprintf(m, "%s%s = excluded.%s", any ? ", " : "UPDATE SET ",
		    ld->qcols[i], ld->qcols[i]);
		any = true;
	}
	if (!any)
		fprintf(m, "NOTHING");
}

/* " k1 = ph AND k2 = ph" with placeholders from first. */
static void
put_key_match(struct ep_db *db, FILE *m, const struct ep_db_load *ld,
    size_t first)
{
	for (size_t k = 0; k < ld->nkeys; k++) {
		char *p = db->ops->placeholder(first + k, "p");

		fprintf(m, "%s%s = %s", k ? " AND " : "",
		    ld->qcols[ld->keyidx[k]], p);
		free(p);
	}
}

static FILE *
mem_open(char **buf, size_t *len)
{
	FILE *m = open_memstream(buf, len);

	if (m == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	return m;
}

/* "INSERT INTO t (cols) VALUES (...), (...)" for nrows rows. */
static char *
batch_sql(struct ep_db_load *ld, size_t nrows)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = mem_open(&buf, &len);

	fprintf(m, "INSERT INTO %s (", ld->qtable);
	put_cols(m, ld->qcols, ld->ncols);
	fprintf(m, ") VALUES ");
	for (size_t r = 0; r < nrows; r++) {
		fprintf(m, "%s(", r ? ", " : "");
		put_placeholders(ld->db, m, r * ld->ncols + 1, ld->ncols);
		fprintf(m, ")");
	}
	fclose(m);
	return buf;
}

/* Run sql with values through the backend and drop its rows. */
static int
run_values(struct ep_db_load *ld, const char *sql, const char *const *v,
    size_t n, struct ep_error *err)
{
	struct ep_db *db = ld->db;
	int rc;

	db->active = false;
	if (db->ops->query(db->h, sql, v, n, err) < 0)
		return -1;
	while ((rc = db->ops->next(db->h, ld->scratch, err)) == 1)
		ep_rec_clear(ld->scratch);
	ep_rec_clear(ld->scratch);
	return rc;
}

static void
free_queued(struct ep_db_load *ld)
{
	for (size_t i = 0; i < ld->nrows * ld->ncols; i++)
		free(ld->vals[i]);
	ld->nrows = 0;
}

/* "INSERT INTO target (cols) VALUES (placeholders)", with the upsert
 * clause when on_conflict (malloc'd). */
static char *
insert_sql(struct ep_db_load *ld, const char *target, bool on_conflict)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = mem_open(&buf, &len);

	fprintf(m, "INSERT INTO %s (", target);
	put_cols(m, ld->qcols, ld->ncols);
	fprintf(m, ") VALUES (");
	put_placeholders(ld->db, m, 1, ld->ncols);
	fprintf(m, ")");
	if (on_conflict)
		put_on_conflict(m, ld);
	fclose(m);
	return buf;
}

static int
flush_batch(struct ep_db_load *ld, struct ep_error *err)
{
	char *sql;
	int rc;

	if (ld->nrows == 0)
		return 0;
	sql = ld->nrows == ld->maxrows ? ld->row_sql : batch_sql(ld,
	    ld->nrows);
	rc = run_values(ld, sql, (const char *const *)ld->vals,
	    ld->nrows * ld->ncols, err);
	if (sql != ld->row_sql)
		free(sql);
	free_queued(ld);
	if (rc == 0)
		ld->flushed = ld->rows;
	return rc;
}

/*
 * ODBC to PostgreSQL: "INSERT INTO target (cols) SELECT unnest(?::T1[]),
 * unnest(?::T2[]), ..." with each column's type from the catalog (of
 * the table; target is it or its upsert stage, which has its types), and in
 * *delims (one byte a column) each type's array delimiter.  The SRFs
 * sit in the select list (they run in step, one row each per call): in
 * FROM, each would be materialised first, twice the server's time.  T
 * has no typmod: a cast to varchar(3)[] would cut a long value that the
 * INSERT refuses.  NULL (the row-per-parameter-set path stays) when a
 * column is not found, its type has no array type or is an array, or
 * the lookup fails; the lookup runs inside a savepoint so a failure
 * leaves the transaction usable.
 */
static char *
arrays_sql(struct ep_db_load *ld, const char *target, const char *const *cols,
    char **delims)
{
	static const char q[] = "SELECT CAST(a.attname AS text) AS n, "
	    "format_type(a.atttypid, NULL) AS t, CAST(t.typdelim AS text) "
	    "AS d FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
	    "WHERE a.attrelid = to_regclass(:t) AND a.attnum > 0 AND "
	    "NOT a.attisdropped AND t.typarray <> 0 AND t.typcategory <> 'A'";
	struct ep_db *db = ld->db;
	struct ep_error e = { 0 };
	struct ep_db_param p = { "t", ld->qtable };
	char **types = ep_xcalloc(ld->ncols + 1, sizeof(char *));
	char *dl = ep_xcalloc(ld->ncols + 1, 1), *buf = NULL;
	size_t found = 0, len = 0;
	struct ep_rec *row;
	int rc;
	FILE *m;

	*delims = NULL;
	if (ep_db_exec(db, "SAVEPOINT edpipe_types", &e) < 0)
		goto out;
	rc = ep_db_query(db, q, &p, 1, &e);
	row = ep_rec_new();
	while (rc == 0 && (rc = ep_db_next(db, row, &e)) == 1) {
		const char *n = ep_rec_str(row, "n"), *t = ep_rec_str(row, "t");
		const char *d = ep_rec_str(row, "d");

		rc = 0;
		for (size_t i = 0; n != NULL && t != NULL && d != NULL &&
		    strlen(d) == 1 && i < ld->ncols; i++)
			if (types[i] == NULL && strcmp(n, cols[i]) == 0) {
				types[i] = ep_xstrdup(t);
				dl[i] = d[0];
				found++;
			}
		ep_rec_clear(row);
	}
	ep_rec_free(row);
	if (rc < 0) {
		ep_db_exec(db, "ROLLBACK TO SAVEPOINT edpipe_types", &e);
		goto out;
	}
	if (ep_db_exec(db, "RELEASE SAVEPOINT edpipe_types", &e) < 0 ||
	    found != ld->ncols)
		goto out;
	m = mem_open(&buf, &len);
	fprintf(m, "INSERT INTO %s (", target);
	put_cols(m, ld->qcols, ld->ncols);
	fprintf(m, ") SELECT ");
	for (size_t i = 0; i < ld->ncols; i++) {
		char *ph = db->ops->placeholder(i + 1, "p");

		fprintf(m, "%sunnest(%s::%s[])", i ? ", " : "", ph, types[i]);
		free(ph);
	}
	fclose(m);
	*delims = dl;
	dl = NULL;
out:
	for (size_t i = 0; i < ld->ncols; i++)
		free(types[i]);
	free(types);
	free(dl);
	return buf;
}

#define STAGE "edpipe_load_stage"

/*
 * PostgreSQL upsert in bulk: rows go to a TEMP stage table of the
 * loaded columns (COPY, or through ODBC the unnest() INSERTs, cannot
 * upsert), and ld->finish_sql moves them to the table in one INSERT
 * ... ON CONFLICT (which needs a unique index on the keys) and drops
 * the stage, so a next table of the same transaction can have one.
 */
static int
stage_begin(struct ep_db_load *ld, struct ep_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = mem_open(&buf, &len);

	fprintf(m, "CREATE TEMP TABLE " STAGE " ON COMMIT DROP AS SELECT ");
	put_cols(m, ld->qcols, ld->ncols);
	fprintf(m, " FROM %s WITH NO DATA", ld->qtable);
	fclose(m);
	if (ep_db_exec(ld->db, buf, err) < 0) {
		free(buf);
		return -1;
	}
	free(buf);
	buf = NULL;
	m = mem_open(&buf, &len);
	fprintf(m, "INSERT INTO %s (", ld->qtable);
	put_cols(m, ld->qcols, ld->ncols);
	fprintf(m, ") SELECT ");
	put_cols(m, ld->qcols, ld->ncols);
	fprintf(m, " FROM " STAGE);
	put_on_conflict(m, ld);
	fprintf(m, "; DROP TABLE " STAGE);
	fclose(m);
	ld->finish_sql = buf;
	return 0;
}

struct ep_db_load *
ep_db_load_begin(struct ep_db *db, const char *table,
    const char *const *cols, size_t ncols, const char *const *keys,
    size_t nkeys, struct ep_error *err)
{
	struct ep_db_load *ld = ep_xcalloc(1, sizeof(*ld));
	const struct ep_db_ops *ops = db->ops;
	const char *target;
	char *buf = NULL;
	size_t len = 0;
	bool pg_odbc;
	FILE *m;

	ld->db = db;
	ld->ncols = ncols;
	ld->nkeys = nkeys;
	ld->qtable = ep_db_quote(db, table, true);
	ld->qcols = ep_xcalloc(ncols + 1, sizeof(char *));
	ld->iskey = ep_xcalloc(ncols + 1, sizeof(bool));
	ld->keyidx = ep_xcalloc(nkeys + 1, sizeof(size_t));
	ld->scratch = ep_rec_new();
	for (size_t i = 0; i < ncols; i++)
		ld->qcols[i] = ep_db_quote(db, cols[i], false);
	for (size_t k = 0; k < nkeys; k++) {
		size_t i;

		for (i = 0; i < ncols; i++)
			if (strcmp(keys[k], cols[i]) == 0)
				break;
		if (i == ncols) {
			ep_error_set(err, EP_EXIT_USAGE, "key column '%s' is "
			    "not among the loaded columns", keys[k]);
			goto fail;
		}
		ld->keyidx[k] = i;
		ld->iskey[i] = true;
	}
	db->active = false;
	pg_odbc = ops == &ep_db_odbc_ops && ops->copy_arrays != NULL &&
	    ops->dbms != NULL && strcmp(ops->dbms(db->h), "PostgreSQL") == 0;
	if ((ops == &ep_db_odbc_ops && (nkeys == 0 || pg_odbc)) ||
	    ops == &ep_db_mysql_ops) {
		/* ODBC's copy ops take an INSERT, run with parameter arrays
		 * or, to PostgreSQL, as unnest() batches; an upsert to
		 * PostgreSQL fills a stage that way (other ODBC databases
		 * take the portable upsert below).  MySQL's run the INSERT
		 * as multi-row INSERTs, its ON CONFLICT rewritten. */
		char *arr = NULL, *delims = NULL;
		const char *to = ld->qtable;

		if (pg_odbc && nkeys > 0) {
			if (stage_begin(ld, err) < 0)
				goto fail;
			to = STAGE;
		}
		if (pg_odbc)
			arr = arrays_sql(ld, to, cols, &delims);
		ld->path = L_COPY;
		buf = insert_sql(ld, to, nkeys > 0 && !pg_odbc);
		ld->in_copy = true;
		if (ops->copy_begin(db->h, buf, err) < 0) {
			ld->in_copy = false;
			free(arr);
			free(delims);
			goto fail;
		}
		if (arr != NULL) {
			struct ep_error e = { 0 };

			ops->copy_arrays(db->h, arr, delims, &e);
		}
		free(arr);
		free(delims);
	} else if (ops->copy_begin != NULL && ops != &ep_db_odbc_ops) {
		ld->path = L_COPY;
		target = ld->qtable;
		if (nkeys > 0) {
			if (stage_begin(ld, err) < 0)
				goto fail;
			target = STAGE;
		}
		m = mem_open(&buf, &len);
		fprintf(m, "COPY %s (", target);
		put_cols(m, ld->qcols, ncols);
		fprintf(m, ") FROM STDIN");
		fclose(m);
		ld->in_copy = true;
		if (ops->copy_begin(db->h, buf, err) < 0) {
			unsigned long bad;

			ld->in_copy = false;
			ops->copy_end(db->h, &bad, NULL);
			goto fail;
		}
	} else if (ops->prep_begin != NULL) {
		ld->path = L_PREP;
		buf = insert_sql(ld, ld->qtable, nkeys > 0);
		if (ops->prep_begin(db->h, buf, err) < 0)
			goto fail;
		ld->in_prep = true;
	} else if (nkeys > 0) {
		/*
		 * Portable upsert, one row at a time: UPDATE, then INSERT
		 * when no row has the keys.  When the backend counts what
		 * the UPDATE matched (ODBC), that count decides and the
		 * INSERT is a plain VALUES one, which every database takes
		 * (Oracle's and DB2's SELECT needs a FROM); a table of key
		 * columns only gets an UPDATE that sets a key to itself.
		 */
		ld->path = L_UPSERT;
		ld->vals = ep_xcalloc(2 * ncols + 1, sizeof(char *));
		if (nkeys == ncols && ops->changes != NULL) {
			const char *k0 = ld->qcols[ld->keyidx[0]];

			m = mem_open(&buf, &len);
			fprintf(m, "UPDATE %s SET %s = %s WHERE ", ld->qtable,
			    k0, k0);
			put_key_match(db, m, ld, 1);
			fclose(m);
			ld->row_sql = buf;
			buf = NULL;
		}
		if (ops->changes != NULL) {
			ld->plain_sql = insert_sql(ld, ld->qtable, false);
		}
		if (nkeys < ncols) {
			bool any = false;

			m = mem_open(&buf, &len);
			fprintf(m, "UPDATE %s SET ", ld->qtable);
			for (size_t i = 0, p = 1; i < ncols; i++) {
				char *ph;

				if (ld->iskey[i])
					continue;
				ph = ops->placeholder(p++, "p");
				fprintf(m, "%s%s = %s", any ? ", " : "",
				    ld->qcols[i], ph);
				free(ph);
				any = true;
			}
			fprintf(m, " WHERE ");
			put_key_match(db, m, ld, ncols - nkeys + 1);
			fclose(m);
			ld->row_sql = buf;
			buf = NULL;
		}
		m = mem_open(&buf, &len);
		fprintf(m, "INSERT INTO %s (", ld->qtable);
		put_cols(m, ld->qcols, ncols);
		fprintf(m, ") SELECT ");
		put_placeholders(db, m, 1, ncols);
		fprintf(m, " WHERE NOT EXISTS (SELECT 1 FROM %s WHERE ",
		    ld->qtable);
		put_key_match(db, m, ld, ncols + 1);
		fprintf(m, ")");
		fclose(m);
		ld->ins_sql = buf;
		buf = NULL;
	} else {
		/* SQL Server takes at most 2100 parameters and 1000 rows. */
		ld->path = L_BATCH;
		ld->maxrows = 2000 / ncols;
		if (ld->maxrows > 1000)
			ld->maxrows = 1000;
		if (ld->maxrows == 0)
			ld->maxrows = 1;
		ld->vals = ep_xcalloc(ld->maxrows * ncols + 1,
		    sizeof(char *));
		ld->row_sql = batch_sql(ld, ld->maxrows);
	}
	free(buf);
	return ld;
fail:
	free(buf);
	ep_db_load_free(ld);
	return NULL;
}

/* A value as bound text; ODBC binds booleans as 1/0, as its bulk path
 * does (an Oracle or SQLite table holds truth as a number). */
static char *
value_dup(const struct ep_db_load *ld, const struct ep_field *f)
{
	if (f == NULL || f->type == EP_T_NULL)
		return NULL;
	if (f->type == EP_T_BOOL && ld->db->ops == &ep_db_odbc_ops)
		return ep_xstrdup(f->val[0] == 't' ? "1" : "0");
	return ep_xstrndup(f->val, f->vlen);
}

static int
upsert_row(struct ep_db_load *ld, const struct ep_field *const *vals,
    struct ep_error *err)
{
	size_t n = ld->ncols, p = 0;
	const char *sql = ld->ins_sql;
	int rc = 0;

	if (ld->row_sql != NULL) {
		for (size_t i = 0; i < n; i++)
			if (!ld->iskey[i])
				ld->vals[p++] = value_dup(ld, vals[i]);
		for (size_t k = 0; k < ld->nkeys; k++)
			ld->vals[p++] = value_dup(ld, vals[ld->keyidx[k]]);
		rc = run_values(ld, ld->row_sql, (const char *const *)ld->vals,
		    p, err);
		for (size_t i = 0; i < p; i++)
			free(ld->vals[i]);
	}
	if (rc < 0)
		return -1;
	if (ld->plain_sql != NULL && ld->row_sql != NULL) {
		long c = ld->db->ops->changes(ld->db->h);

		if (c > 0)
			return 0;	/* updated */
		if (c == 0)
			sql = ld->plain_sql;
	}
	p = 0;
	for (size_t i = 0; i < n; i++)
		ld->vals[p++] = value_dup(ld, vals[i]);
	for (size_t k = 0; sql == ld->ins_sql && k < ld->nkeys; k++)
		ld->vals[p++] = value_dup(ld, vals[ld->keyidx[k]]);
	rc = run_values(ld, sql, (const char *const *)ld->vals, p, err);
	for (size_t i = 0; i < p; i++)
		free(ld->vals[i]);
	return rc;
}

int
ep_db_load_row(struct ep_db_load *ld, const struct ep_field *const *vals,
    struct ep_error *err)
{
	const struct ep_db_ops *ops = ld->db->ops;

	ld->rows++;
	switch (ld->path) {
	case L_COPY:
		return ops->copy_row(ld->db->h, vals, ld->ncols, err);
	case L_PREP:
		return ops->prep_row(ld->db->h, vals, ld->ncols, err);
	case L_UPSERT:
		return upsert_row(ld, vals, err);
	case L_BATCH:
		for (size_t i = 0; i < ld->ncols; i++)
			ld->vals[ld->nrows * ld->ncols + i] = value_dup(ld, vals[i]);
		if (++ld->nrows == ld->maxrows)
			return flush_batch(ld, err);
		return 0;
	}
	return 0;
}

int
ep_db_load_end(struct ep_db_load *ld, unsigned long *bad_row,
    struct ep_error *err)
{
	struct ep_db *db = ld->db;
	int rc = 0;

	if (bad_row != NULL)
		*bad_row = 0;
	switch (ld->path) {
	case L_COPY:
		ld->in_copy = false;
		rc = db->ops->copy_end(db->h, bad_row, err);
		if (rc == 0 && ld->finish_sql != NULL)
			rc = ep_db_exec(db, ld->finish_sql, err);
		break;
	case L_PREP:
		ld->in_prep = false;
		db->ops->prep_end(db->h);
		break;
	case L_BATCH:
		rc = flush_batch(ld, err);
		break;
	case L_UPSERT:
		break;
	}
	return rc;
}

void
ep_db_load_free(struct ep_db_load *ld)
{
	if (ld == NULL)
		return;
	if (ld->in_copy)
		ld->db->ops->copy_end(ld->db->h, NULL, NULL);
	if (ld->in_prep)
		ld->db->ops->prep_end(ld->db->h);
	if (ld->path == L_BATCH && ld->vals != NULL)
		free_queued(ld);
	for (size_t i = 0; i < ld->ncols; i++)
		free(ld->qcols[i]);
	free(ld->qcols);
	free(ld->qtable);
	free(ld->iskey);
	free(ld->keyidx);
	free(ld->finish_sql);
	free(ld->row_sql);
	free(ld->ins_sql);
	free(ld->plain_sql);
	free(ld->vals);
	ep_rec_free(ld->scratch);
	free(ld);
}
