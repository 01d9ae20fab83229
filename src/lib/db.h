/*
 * db.h - one interface over the SIS databases, for sis-extract and
 * db-load.  URLs:
 *
 *   sqlite:PATH                          SQLite (read-only with EP_DB_READONLY)
 *   postgres://USER@HOST[:PORT]/DB        PostgreSQL through libpq
 *                                         (also postgresql://)
 *   mssql://USER@HOST[:PORT]/DB           SQL Server through FreeTDS db-lib
 *   mysql://USER@HOST[:PORT]/DB           MySQL/MariaDB through libmariadb
 *                                         (also mariadb://)
 *   odbc:DSN, odbc:Driver=...;...         anything with an ODBC driver,
 *                                         through unixODBC
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
 * a statement past its time limit 75, a text value holding NUL or
 * invalid UTF-8 65 (naming the row and column),
 * a missing SQLite file 66, a malformed or unknown URL 78, a password
 * written into the URL 78 (it would show in ps(1) and shell history).
 */
#ifndef EP_DB_H
#define EP_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "msg.h"
#include "rec.h"

#define EP_DB_READONLY 0x1

/*
 * The default of --timeout: the longest, in seconds, that one statement
 * may run and that the database may stay silent while the client waits
 * for it.  A stalled server (a stopped process, a dead link with no
 * reset) otherwise holds a cron job and its lock for ever.
 */
#define EP_DB_TIMEOUT_DEFAULT 300

struct ep_db_param {
	const char *name;	/* without the ':' */
	const char *value;	/* bound as text; NULL binds SQL NULL */
};

/* One backend.  h is the backend's own handle. */
struct ep_db_ops {
	const char *name;	/* "sqlite", "postgres", "mssql" */
	/* timeout: seconds, > 0, as ep_db_open_timeout describes. */
	void *(*open)(const char *url, const char *password, int flags,
	    unsigned timeout, struct ep_error *err);
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
	/*
	 * Optional bulk loading, used by ep_db_load_*.  A backend offers
	 * COPY (a statement that reads rows from the client), or a prepared
	 * statement run once per row, or neither (then ep_db_load_* send
	 * batched multi-row INSERTs through query).  vals has n entries;
	 * NULL or an EP_T_NULL field is SQL NULL.
	 *
	 * copy_begin runs sql (a COPY ... FROM STDIN; for ODBC and MySQL
	 * the one-row INSERT, with ON CONFLICT for a MySQL upsert),
	 * copy_row queues one row, copy_end sends the rest and reads the
	 * outcome, setting *bad_row (when not NULL) to the 1-based row the
	 * server blamed, or 0.  After a failed copy_begin or copy_row, copy_end must still be
	 * called (it ends the COPY and returns -1).
	 */
	int (*copy_begin)(void *h, const char *sql, struct ep_error *err);
	int (*copy_row)(void *h, const struct ep_field *const *vals,
	    size_t n, struct ep_error *err);
	int (*copy_end)(void *h, unsigned long *bad_row,
	    struct ep_error *err);
	/*
	 * Optional (ODBC), right after copy_begin: run each batch as sql
	 * instead, an INSERT ... SELECT unnest(?), unnest(?), ... taking
	 * one array literal per column (delims[c] is column c's array
	 * delimiter), keeping copy_begin's INSERT to find a bad row.  -1
	 * when it cannot; copy_begin's path then stands.
	 */
	int (*copy_arrays)(void *h, const char *sql, const char *delims,
	    struct ep_error *err);
	/* Optional: the server's product name ("PostgreSQL"), or "". */
	const char *(*dbms)(void *h);
	/*
	 * prep_begin prepares sql (placeholders 1..n as the placeholder op
	 * writes them), prep_row binds vals and runs it, prep_end frees it.
	 */
	int (*prep_begin)(void *h, const char *sql, struct ep_error *err);
	int (*prep_row)(void *h, const struct ep_field *const *vals,
	    size_t n, struct ep_error *err);
	void (*prep_end)(void *h);
	/*
	 * Optional: the rows the last query changed or matched (an UPDATE's
	 * count), or -1 when the driver cannot say.  With it, the portable
	 * upsert inserts with plain VALUES when the UPDATE found no row.
	 */
	long (*changes)(void *h);
	/*
	 * Optional: true when the text values of the current result are
	 * known to be valid UTF-8 without NUL (the server converted and
	 * checked them), so ep_db_next need not check each value again.
	 */
	bool (*clean)(void *h);
};

extern const struct ep_db_ops ep_db_sqlite_ops;
extern const struct ep_db_ops ep_db_pg_ops;
extern const struct ep_db_ops ep_db_mssql_ops;
extern const struct ep_db_ops ep_db_odbc_ops, ep_db_mysql_ops;

struct ep_db;

/* Connect by URL.  NULL with err filled (78 for an unknown scheme). */
struct ep_db *ep_db_open(const char *url, const char *password, int flags,
    struct ep_error *err);
/*
 * ep_db_open with a time limit of timeout seconds (ep_db_open uses
 * EP_DB_TIMEOUT_DEFAULT) on every statement: one that runs longer, or a
 * server that sends nothing for that long, fails with 75 and a message
 * from ep_db_timeout_error.  Each backend applies it as its driver can:
 *
 *   postgres  the server's statement_timeout, and a client deadline on
 *             every wait (poll on the socket, the last resort when the
 *             server cannot act: a stopped process); TCP keepalives and
 *             tcp_user_timeout for a peer that vanished
 *   sqlite    a progress handler that interrupts the statement, and the
 *             busy timeout (a lock held by another process)
 *   mysql     MYSQL_OPT_READ_TIMEOUT and MYSQL_OPT_WRITE_TIMEOUT
 *   mssql     dbsettime: each wait for the server
 *   odbc      SQL_ATTR_QUERY_TIMEOUT on each statement, and
 *             SQL_ATTR_CONNECTION_TIMEOUT (drivers differ in what they
 *             honour)
 *
 * After a timeout the connection may be unusable: close it.
 */
struct ep_db *ep_db_open_timeout(const char *url, const char *password,
    int flags, unsigned timeout, struct ep_error *err);
/*
 * For backends: fill err with 75 and the timeout message, naming the rows
 * read so far.
 */
void ep_db_timeout_error(struct ep_error *err, unsigned timeout,
    unsigned long rows);
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
/*
 * For backends whose driver takes plain '?' markers (MySQL, ODBC):
 * placeholder i is written "?\1i\2" (an invisible marker keeps its
 * number), and ep_db_positional strips the markers from sql into a new
 * string, setting (*idx)[j] to the 0-based value index of the j-th '?'
 * (*idx malloc'd, *n long).  A '?' of the query's own is left alone.
 */
char *ep_db_qmark_placeholder(size_t i, const char *name);
char *ep_db_positional(const char *sql, size_t **idx, size_t *n);

/* The backend in use and its handle, for backend-specific fast paths. */
const struct ep_db_ops *ep_db_backend(struct ep_db *db, void **handle);
/* Close the connection and free db; NULL is a no-op. */
void ep_db_close(struct ep_db *db);

/*
 * Run sql with its :name parameters as ep_db_query does, and read and
 * drop any rows it returns (INSERT, UPDATE, DDL with parameters).
 */
int ep_db_exec_params(struct ep_db *db, const char *sql,
    const struct ep_db_param *params, size_t np, struct ep_error *err);

/*
 * An identifier quoted for the backend, malloc'd: "name" with '"'
 * doubled (SQL Server: [name] with ']' doubled, since db-lib sessions
 * start with QUOTED_IDENTIFIER off).  With qualified, each part of
 * SCHEMA.NAME is quoted on its own, so names holding '.' cannot be
 * reached that way.  Any byte is harmless inside the quotes; a name with
 * a NUL cannot be passed.
 */
char *ep_db_quote(struct ep_db *db, const char *name, bool qualified);

/*
 * The backend's column type for a generic type name: text, int
 * (integer), bigint, numeric (decimal), float (real, double), date,
 * timestamp (datetime), bool (boolean).  key: the column is part of a
 * primary key (SQL Server cannot index nvarchar(max)).  NULL for an
 * unknown name.  Static storage.
 */
const char *ep_db_type(struct ep_db *db, const char *generic, bool key);

/*
 * Bulk loading into an existing table (db-load), inside a transaction
 * the caller began.  table is NAME or SCHEMA.NAME, unquoted (quoted here
 * with ep_db_quote); cols are the columns every row gives values for,
 * in order; with nkeys > 0 rows are upserted on keys (a subset of cols):
 * a row whose keys match an existing row updates its other columns.
 *
 * Paths: PostgreSQL COPY FROM STDIN (upsert: COPY into a temporary
 * table, then INSERT ... SELECT ... ON CONFLICT), SQLite one prepared
 * INSERT (... ON CONFLICT ... DO UPDATE) run per row, ODBC one prepared
 * INSERT run with parameter arrays (to a PostgreSQL server: one INSERT
 * ... SELECT unnest(?), ... per batch of rows, each column's values
 * bound as one array literal, sent while the next batch is read), MySQL prepared multi-row INSERTs
 * (upsert: ON DUPLICATE KEY UPDATE), otherwise
 * multi-row INSERTs with bound parameters, or per row UPDATE then
 * INSERT ... WHERE NOT EXISTS for an upsert.  ON CONFLICT needs a
 * unique index or primary key on exactly the key columns.
 *
 * Errors of a row may only show at ep_db_load_end (COPY, batches); then
 * *bad_row is the 1-based row number when the server said, else 0.
 * Free with ep_db_load_free (also after an error; it does not roll back).
 */
struct ep_db_load;

struct ep_db_load *ep_db_load_begin(struct ep_db *db, const char *table,
    const char *const *cols, size_t ncols, const char *const *keys,
    size_t nkeys, struct ep_error *err);
/* Add one row: vals[i] is column i's value (NULL: SQL NULL). */
int ep_db_load_row(struct ep_db_load *ld, const struct ep_field *const *vals,
    struct ep_error *err);
/* Send what is queued and finish; 0 or -1 with err and *bad_row. */
int ep_db_load_end(struct ep_db_load *ld, unsigned long *bad_row,
    struct ep_error *err);
void ep_db_load_free(struct ep_db_load *ld);

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
