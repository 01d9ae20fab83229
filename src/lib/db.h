/*
 * db.h - one interface over the SIS databases, for sis-extract and
 * db-load.  URLs:
 *
 *   sqlite:PATH                          SQLite (read-only with EP_DB_READONLY)
 *   postgres://USER@HOST[:PORT]/DB        PostgreSQL through libpq
 *                                         (also postgresql://)
 *   mssql://USER@HOST[:PORT]/DB           SQL Server through FreeTDS db-lib
 *
 * The password is never part of the URL: the caller reads it with
 * ep_secret_get (SIS_PASSWORD or --password-file) and passes it here.
 *
 * Queries use named parameters ":name".  They are always bound by the
 * backend (libpq $N, SQLite ?N, SQL Server sp_executesql @name through
 * an RPC), never pasted into the SQL text.
 *
 * Rows come back as records: column names become field names; integers
 * are EP_T_NUM, text EP_T_STR (UTF-8), NULL EP_T_NULL, decimals/numeric
 * as strings (no float rounding), floats as EP_T_NUM, dates and times as
 * ISO 8601 strings, booleans EP_T_BOOL.
 *
 * Errors map to exit codes: unreachable server 69, login refused 77, SQL
 * error 65 (with the server's message), a connection lost mid-result 69,
 * a missing SQLite file 66, a malformed or unknown URL 78, a password
 * written into the URL 78 (it would show in ps(1) and shell history).
 */
#ifndef EP_DB_H
#define EP_DB_H

#include <stddef.h>

#include "msg.h"
#include "rec.h"

#define EP_DB_READONLY 0x1

struct ep_db_param {
	const char *name;	/* without the ':' */
	const char *value;	/* bound as text; NULL binds SQL NULL */
};

/* One backend.  h is the backend's own handle. */
struct ep_db_ops {
	const char *name;	/* "sqlite", "postgres", "mssql" */
	void *(*open)(const char *url, const char *password, int flags,
	    struct ep_error *err);
	/* Run sql (already rewritten to the backend's placeholders, in
	 * ep_sql_params order) with np text values bound in order. */
	int (*query)(void *h, const char *sql, const char *const *values,
	    size_t np, struct ep_error *err);
	/* 1 row, 0 done, -1 error. */
	int (*next)(void *h, struct ep_rec *row, struct ep_error *err);
	/* Run a statement with no parameters and no result. */
	int (*exec)(void *h, const char *sql, struct ep_error *err);
	void (*close)(void *h);
	/* How the backend writes placeholder number i (1-based) for name. */
	char *(*placeholder)(size_t i, const char *name);
	/*
	 * Optional: the column names of the current result, valid from a
	 * successful query until the next query or close (so a CSV header
	 * can be written for an empty result).  NULL when unknown.
	 */
	const char *const *(*columns)(void *h, size_t *n);
	/* Optional: the SQL that starts a transaction (NULL: "BEGIN"). */
	const char *begin_sql;
};

extern const struct ep_db_ops ep_db_sqlite_ops;
extern const struct ep_db_ops ep_db_pg_ops;
extern const struct ep_db_ops ep_db_mssql_ops;

struct ep_db;

/* Connect by URL.  NULL with err filled (78 for an unknown scheme). */
struct ep_db *ep_db_open(const char *url, const char *password, int flags,
    struct ep_error *err);
/*
 * Run sql with its :name parameters bound from params.  A parameter used
 * in sql but not given, or given but not used, is an error (code 2).
 */
int ep_db_query(struct ep_db *db, const char *sql,
    const struct ep_db_param *params, size_t np, struct ep_error *err);
/* The next row of the last query: 1, 0 at the end, -1 on error. */
int ep_db_next(struct ep_db *db, struct ep_rec *row, struct ep_error *err);
/* A statement without parameters or result (BEGIN, COMMIT, DDL). */
int ep_db_exec(struct ep_db *db, const char *sql, struct ep_error *err);
/*
 * The column names of the last query's result (borrowed, valid until the
 * next query or close), or NULL with *n = 0 when the backend cannot say.
 */
const char *const *ep_db_columns(struct ep_db *db, size_t *n);
/* Transactions (for db-load): 0, or -1 with err as ep_db_exec. */
int ep_db_begin(struct ep_db *db, struct ep_error *err);
int ep_db_commit(struct ep_db *db, struct ep_error *err);
int ep_db_rollback(struct ep_db *db, struct ep_error *err);
/* The backend in use and its handle, for backend-specific fast paths. */
const struct ep_db_ops *ep_db_backend(struct ep_db *db, void **handle);
/* Close the connection and free db; NULL is a no-op. */
void ep_db_close(struct ep_db *db);

/*
 * Find the ":name" parameters of sql, outside string literals, quoted
 * identifiers and comments ("::" casts are not parameters).  Returns the
 * SQL rewritten with ph(i, name) for each occurrence (i numbers distinct
 * names in order of first appearance) and sets *names to the distinct
 * names (malloc'd array of malloc'd strings, *nnames long).
 */
char *ep_sql_params(const char *sql, char *(*ph)(size_t i, const char *name),
    char ***names, size_t *nnames);

#endif
