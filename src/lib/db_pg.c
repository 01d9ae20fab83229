/*
 * db_pg.c - the PostgreSQL backend through libpq.
 *
 * postgres://USER@HOST[:PORT]/DB[?key=value&...] (also postgresql://).
 * HOST may be a socket directory, percent-encoded (%2Frun%2Fpostgresql).
 * Query keys are passed to libpq as connection keywords (sslmode,
 * connect_timeout, ...).  The session is set to client_encoding UTF8 and
 * DateStyle ISO so text and dates come back in the record's forms.
 *
 * Queries are sent with PQsendQueryParams ($N placeholders, values as
 * text).  A query a cursor can hold (its first word, past comments and
 * parentheses, SELECT, WITH, VALUES or TABLE) run outside a transaction
 * of the caller's is read through one, in libpq's pipeline mode: BEGIN,
 * DECLARE edpipe NO SCROLL CURSOR FOR <query> (the parameters bound as
 * they are for the query itself), then FETCH n FROM edpipe, each batch
 * one ordinary result whose rows are read in place, then COMMIT.
 * FETCH_AHEAD further FETCHes are always queued behind the batch being
 * read, so the server makes the next batches while this process writes
 * out one and never waits a round trip for the next ask.  n keeps a
 * batch near FETCH_BYTES (from the width of the rows so far), so memory
 * stays flat for wide rows too.
 * libpq's single-row mode (a result allocated per row: three times the
 * client CPU of psql's \copy) is left for the rest: a statement the
 * server will not declare a cursor for (a data-modifying WITH, SELECT
 * INTO, or one that fails to parse, whose error then comes from the
 * statement as written), other statements (INSERT ... RETURNING, CALL,
 * SHOW), and queries inside a transaction the caller began.
 *
 * Time limit (ep_db_open_timeout): the session's statement_timeout makes
 * the server end a slow statement itself (57014, then 75) and leaves the
 * connection usable.  A server that cannot act on it (its process
 * stopped, the host gone) would leave libpq waiting for ever, so every
 * wait here polls the socket against a deadline a second past the
 * server's (a cursor's: each FETCH's); when that passes, the connection
 * is given up without a cancel request (PQcancel waits for the
 * postmaster, which may be the process that hangs).  COPY data goes in non-blocking mode for the
 * same reason: a server that stops reading fills the socket buffer.
 * A COPY lasts as long as its input (db-load may read a slow pipe), so
 * it runs with statement_timeout off and the deadline restarts with
 * each chunk sent.
 * TCP keepalives and tcp_user_timeout let the kernel give up on a peer
 * that vanished.  Keys of the URL override these defaults.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db.h"
#include "secret.h"

/* Type OIDs from the server's catalog (src/include/catalog/pg_type.dat). */
enum {
	BOOLOID = 16, INT8OID = 20, INT2OID = 21, INT4OID = 23, OIDOID = 26,
	FLOAT4OID = 700, FLOAT8OID = 701, TIMESTAMPOID = 1114,
	TIMESTAMPTZOID = 1184
};

enum coltype { C_STR, C_NUM, C_FLOAT, C_BOOL, C_TIMESTAMP };

/*
 * A cursor's batches: the first FETCH's rows, the most and the fewest of
 * one, the bytes of row data a batch aims at (small enough to sit in the
 * socket's buffers), and how many FETCHes stay queued behind the batch
 * being read.
 */
#define FETCH_FIRST 100
#define FETCH_MAX 20000
#define FETCH_MIN 16
#ifndef FETCH_BYTES
#define FETCH_BYTES (256 * 1024)
#endif
#ifndef FETCH_AHEAD
#define FETCH_AHEAD 2
#endif

struct pg {
	PGconn *conn;
	PGresult *res;		/* the current result (a row, or a batch) */
	int row, nrows;		/* res's next row, and its rows */
	bool busy;		/* results are still to be read */
	bool cursor;		/* rows come from the cursor "edpipe" */
	bool pipe;		/* in pipeline mode */
	bool owntx;		/* in the transaction open_cursor began */
	bool ended;		/* a batch came back short: no more FETCH */
	int queued;		/* FETCHes sent, their batches not read */
	long asked[FETCH_AHEAD + 2];	/* rows each queued FETCH asked
					 * for, oldest first */
	unsigned long width;	/* bytes of a row, as far as seen (0: not
				 * known yet) */
	char **cols;
	size_t *nlen;		/* strlen of each of cols */
	bool uniq;		/* no two columns of the same name */
	enum coltype *ctype;
	size_t ncols;
	unsigned long rows;
	char *cbuf;		/* COPY data not yet sent */
	size_t clen, ccap;
	bool copying;		/* a COPY FROM STDIN is open */
	unsigned timeout;	/* seconds, for statement_timeout */
	long long deadline;	/* ms (CLOCK_MONOTONIC) the current
				 * statement must end by */
	bool broken;		/* given up after a timeout: never wait on
				 * it again */
};

static void result_error(struct pg *p, const PGresult *r,
    struct ep_error *err);
static int cursor_close(struct pg *p, bool commit, struct ep_error *err);

/* A new statement starts: the server's limit, and a second for it to
 * say so. */
static void
start_clock(struct pg *p)
{
	p->deadline = ep_now_ms() + (long long)p->timeout * 1000 + 1000;
}

/*
 * Wait for the socket (events POLLIN and/or POLLOUT) until the deadline.
 * 0 when it is ready (or in error: libpq will say), -1 when the deadline
 * passed, with err filled and the connection given up.
 */
static int
wait_socket(struct pg *p, short events, struct ep_error *err)
{
	for (;;) {
		struct pollfd pfd = { .fd = PQsocket(p->conn),
		    .events = events };
		long long left = p->deadline - ep_now_ms();
		int r;

		if (pfd.fd < 0)
			return 0;
		if (left <= 0)
			break;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0 || (r < 0 && errno != EINTR))
			return 0;
	}
	p->broken = true;
	p->busy = false;
	ep_db_timeout_error(err, p->timeout, p->rows);
	return -1;
}

/* Read until a result is complete (PQgetResult will not block). */
static int
wait_result(struct pg *p, struct ep_error *err)
{
	if (p->broken) {
		ep_db_timeout_error(err, p->timeout, p->rows);
		return -1;
	}
	while (PQisBusy(p->conn)) {
		if (wait_socket(p, POLLIN, err) < 0)
			return -1;
		if (!PQconsumeInput(p->conn))
			return 0;	/* PQgetResult reports it */
	}
	return 0;
}

/* Send what libpq holds (non-blocking mode), reading meanwhile. */
static int
flush_out(struct pg *p, struct ep_error *err)
{
	int r;

	while ((r = PQflush(p->conn)) == 1) {
		if (wait_socket(p, POLLIN | POLLOUT, err) < 0)
			return -1;
		/* A link that failed shows here; libpq would otherwise take
		 * (and drop) the rest of the data before saying so. */
		if (!PQconsumeInput(p->conn)) {
			result_error(p, NULL, err);
			return -1;
		}
	}
	if (r < 0) {
		result_error(p, NULL, err);
		return -1;
	}
	return 0;
}

/* PQgetResult within the deadline: 0 with *r (NULL at the end), or -1
 * with err after a timeout. */
static int
next_result(struct pg *p, PGresult **r, struct ep_error *err)
{
	*r = NULL;
	if (wait_result(p, err) < 0)
		return -1;
	*r = PQgetResult(p->conn);
	return 0;
}

static void
cols_free(struct pg *p)
{
	for (size_t i = 0; i < p->ncols; i++)
		free(p->cols[i]);
	free(p->cols);
	free(p->nlen);
	free(p->ctype);
	p->cols = NULL;
	p->nlen = NULL;
	p->ctype = NULL;
	p->ncols = 0;
}

/* Read and drop what is left of a running query (a cursor's: rolled
 * back). */
static void
drain(struct pg *p)
{
	PGresult *r;

	PQclear(p->res);
	p->res = NULL;
	p->nrows = p->row = 0;
	if (p->cursor || p->pipe) {
		cursor_close(p, false, NULL);
		return;
	}
	if (p->busy && !p->broken) {
		start_clock(p);
		/* No cancel request: PQcancel may wait for ever on a hung
		 * postmaster.  The rest is read and dropped, within the
		 * statement's time. */
		while (next_result(p, &r, NULL) == 0 && r != NULL)
			PQclear(r);
	}
	p->busy = false;
}

/* The first line of a libpq message, without "FATAL:  " or "ERROR:  ". */
static void
first_line(char *out, size_t size, const char *msg)
{
	const char *s = msg ? msg : "";
	size_t n;

	if (strncmp(s, "FATAL:  ", 8) == 0 || strncmp(s, "ERROR:  ", 8) == 0)
		s += 8;
	n = strcspn(s, "\n");
	if (n >= size)
		n = size - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

static int
connect_code(PGconn *conn, const char *msg)
{
	if (PQconnectionNeedsPassword(conn) ||
	    strstr(msg, "authentication failed") != NULL ||
	    strstr(msg, "no password supplied") != NULL ||
	    strstr(msg, "pg_hba.conf") != NULL ||
	    strstr(msg, "permission denied") != NULL ||
	    (strstr(msg, "role \"") != NULL &&
	    strstr(msg, "does not exist") != NULL))
		return EP_EXIT_NOPERM;
	if (strstr(msg, "database \"") != NULL &&
	    strstr(msg, "does not exist") != NULL)
		return EP_EXIT_CONFIG;
	return EP_EXIT_UNAVAILABLE;
}

static void *
pg_open(const char *url, const char *password, int flags, unsigned timeout,
    struct ep_error *err)
{
	const char *keys[40], *vals[40];
	char *masked = NULL, *port = NULL, *qcopy = NULL, line[512];
	char *options = NULL, tcp_timeout[32];
	struct ep_url u;
	struct pg *p = NULL;
	PGconn *conn;
	int n = 0;

	(void)flags;
	if (ep_url_parse(url, &u, err) < 0)
		return NULL;
	masked = ep_url_mask(url);
	if (u.host == NULL || u.path[0] != '/' || u.path[1] == '\0') {
		ep_error_set(err, EP_EXIT_CONFIG, "malformed PostgreSQL URL "
		    "'%s' (use postgres://USER@HOST[:PORT]/DB)", masked);
		goto out;
	}
	ep_pct_decode(u.host);
	keys[n] = "host", vals[n++] = u.host;
	if (u.port) {
		port = ep_xasprintf("%d", u.port);
		keys[n] = "port", vals[n++] = port;
	}
	keys[n] = "dbname", vals[n++] = u.path + 1;
	if (u.user != NULL)
		keys[n] = "user", vals[n++] = u.user;
	if (password != NULL)
		keys[n] = "password", vals[n++] = password;
	keys[n] = "connect_timeout", vals[n++] = "10";
	keys[n] = "application_name", vals[n++] = "edpipe";
	/* The kernel's limit on unacknowledged data (a zero window too) a
	 * little past the client's own, which says "timed out" (75). */
	snprintf(tcp_timeout, sizeof(tcp_timeout), "%llu",
	    ((unsigned long long)timeout + 10) * 1000);
	keys[n] = "keepalives", vals[n++] = "1";
	keys[n] = "keepalives_idle", vals[n++] = "60";
	keys[n] = "keepalives_interval", vals[n++] = "10";
	keys[n] = "keepalives_count", vals[n++] = "6";
	keys[n] = "tcp_user_timeout", vals[n++] = tcp_timeout;
	if (u.query != NULL) {
		char *save = NULL, *kv;

		qcopy = ep_xstrdup(u.query);
		for (kv = strtok_r(qcopy, "&", &save); kv != NULL;
		    kv = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(kv, '=');

			if (eq == NULL || n >= 24 || strcmp(kv, "password") == 0
			    || strncmp(kv, "password=", 9) == 0) {
				ep_error_set(err, EP_EXIT_CONFIG, "bad "
				    "connection option in '%s'", masked);
				goto out;
			}
			*eq = '\0';
			keys[n] = kv, vals[n++] = eq + 1;
		}
	}
	keys[n] = "client_encoding", vals[n++] = "UTF8";
	options = ep_xasprintf("-c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 "
	    "-c extra_float_digits=1 -c statement_timeout=%llu",
	    (unsigned long long)timeout * 1000);
	keys[n] = "options", vals[n++] = options;
	keys[n] = NULL, vals[n] = NULL;
	conn = PQconnectdbParams(keys, vals, 0);
	if (conn == NULL) {
		ep_error_set(err, EP_EXIT_NOMEM, "cannot connect to '%s': out "
		    "of memory", masked);
		goto out;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		const char *m = PQerrorMessage(conn);

		/* libpq prefixes "connection to server at ... failed: ". */
		if (strstr(m, "failed: ") != NULL)
			m = strstr(m, "failed: ") + 8;
		first_line(line, sizeof(line), m);
		ep_error_set(err, connect_code(conn, line), "cannot connect "
		    "to '%s': %s", masked, line);
		PQfinish(conn);
		goto out;
	}
	p = ep_xcalloc(1, sizeof(*p));
	p->conn = conn;
	p->timeout = timeout;
out:
	free(options);
	free(qcopy);
	free(port);
	free(masked);
	ep_url_free(&u);
	return p;
}

/* The exit code for an error result: SQLSTATE class, or a lost link. */
static int
result_code(struct pg *p, const PGresult *r)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(p->conn) == CONNECTION_BAD)
		return EP_EXIT_UNAVAILABLE;
	if (st == NULL)
		return EP_EXIT_UNAVAILABLE;
	if (strncmp(st, "28", 2) == 0 || strcmp(st, "42501") == 0)
		return EP_EXIT_NOPERM;
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0)
		return EP_EXIT_UNAVAILABLE;
	if (strcmp(st, "57014") == 0)
		return EP_EXIT_TEMPFAIL;	/* statement_timeout */
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
	    strcmp(st, "55P03") == 0 || strncmp(st, "53", 2) == 0)
		return EP_EXIT_TEMPFAIL;
	return EP_EXIT_DATAERR;
}

static void
result_error(struct pg *p, const PGresult *r, struct ep_error *err)
{
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) :
	    NULL;
	char line[512];
	int code = result_code(p, r);

	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	first_line(line, sizeof(line), m ? m : PQerrorMessage(p->conn));
	if (st != NULL && strcmp(st, "57014") == 0)
		ep_db_timeout_error(err, p->timeout, p->rows);
	else if (code == EP_EXIT_UNAVAILABLE)
		ep_error_set(err, code, "lost the connection to the database "
		    "after %lu rows: %s", p->rows, line[0] ? line :
		    "server closed the connection");
	else
		ep_error_set(err, code, "SQL error: %s", line);
}

static void set_columns(struct pg *p);
static void put_row(struct pg *p, struct ep_rec *row);

/* Send sql as a simple query, starting its clock.  0 or -1 with err. */
static int
send_simple(struct pg *p, const char *sql, struct ep_error *err)
{
	if (p->broken) {
		ep_db_timeout_error(err, p->timeout, 0);
		return -1;
	}
	start_clock(p);
	if (!PQsendQuery(p->conn, sql)) {
		result_error(p, NULL, err);
		return -1;
	}
	return 0;
}

/* Run sql (no rows wanted) as PQexec does: every result is read, the
 * first failure counts.  0 or -1 with err. */
static int
command(struct pg *p, const char *sql, struct ep_error *err)
{
	PGresult *r;
	int rc = 0;

	if (send_simple(p, sql, err) < 0)
		return -1;
	while ((rc == 0 ? next_result(p, &r, err) : next_result(p, &r,
	    NULL)) == 0 && r != NULL) {
		if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK &&
		    PQresultStatus(r) != PGRES_TUPLES_OK) {
			result_error(p, r, err);
			rc = -1;
		}
		PQclear(r);
	}
	if (p->broken)
		rc = -1;
	return rc;
}

/*
 * Whether sql is a query a cursor can hold: its first word, past blanks,
 * comments and opening parentheses, is SELECT, WITH, VALUES or TABLE.
 * The server has the last word (DECLARE refuses a data-modifying WITH).
 */
static bool
cursor_query(const char *s)
{
	static const char *const words[] = { "select", "with", "values",
	    "table" };

	for (;;) {
		while (isspace((unsigned char)*s) || *s == '(')
			s++;
		if (s[0] == '-' && s[1] == '-')
			s += strcspn(s, "\n");
		else if (s[0] == '/' && s[1] == '*') {
			const char *e = strstr(s + 2, "*/");

			if (e == NULL)
				return false;
			s = e + 2;
		} else
			break;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);

		if (strncasecmp(s, words[i], n) == 0 &&
		    !isalnum((unsigned char)s[n]) && s[n] != '_' &&
		    s[n] != '$')
			return true;
	}
	return false;
}

/* Queue sql (no parameters) in the pipeline. */
static int
pipe_send(struct pg *p, const char *sql, struct ep_error *err)
{
	if (!PQsendQueryParams(p->conn, sql, 0, NULL, NULL, NULL, NULL, 0)) {
		result_error(p, NULL, err);
		return -1;
	}
	return 0;
}

/* Queue the cursor's next FETCH, about FETCH_BYTES of rows as wide as
 * those seen so far, and a sync point after it (which sends it). */
static int
send_fetch(struct pg *p, struct ep_error *err)
{
	char sql[64];
	long n;

	n = p->width == 0 ? FETCH_FIRST : (long)(FETCH_BYTES / p->width);
	if (n > FETCH_MAX)
		n = FETCH_MAX;
	if (n < FETCH_MIN)
		n = FETCH_MIN;
	snprintf(sql, sizeof(sql), "FETCH %ld FROM edpipe", n);
	if (pipe_send(p, sql, err) < 0)
		return -1;
	if (!PQpipelineSync(p->conn)) {
		result_error(p, NULL, err);
		return -1;
	}
	p->asked[p->queued++] = n;
	return 0;
}

/*
 * The result of the pipeline's next statement into *r (NULL when the
 * link failed), past the NULL that ends it; with sync, also up to and
 * including the sync point that follows.  0, or -1 with err after a
 * timeout.
 */
static int
pipe_result(struct pg *p, PGresult **r, bool sync, struct ep_error *err)
{
	PGresult *x;
	int nulls = 0;

	if (next_result(p, r, err) < 0)
		return -1;
	if (*r == NULL)
		return 0;
	/* The NULL that ends the statement's results, then the sync. */
	for (;;) {
		if (next_result(p, &x, err) < 0)
			return -1;
		if (x == NULL) {
			if (!sync || PQstatus(p->conn) == CONNECTION_BAD ||
			    ++nulls > 1)
				return 0;
			continue;
		}
		nulls = 0;
		if (PQresultStatus(x) == PGRES_PIPELINE_SYNC) {
			PQclear(x);
			return 0;
		}
		PQclear(x);
	}
}

/* The oldest queued FETCH's batch into *r, popping it.  0 or -1 with
 * err after a timeout; *r NULL when the link failed. */
static int
read_batch(struct pg *p, PGresult **r, long *asked, struct ep_error *err)
{
	/* The server's limit runs from the FETCH; the client's from now,
	 * which is later still. */
	start_clock(p);
	*asked = p->asked[0];
	p->queued--;
	memmove(p->asked, p->asked + 1, (size_t)p->queued * sizeof(long));
	return pipe_result(p, r, true, err);
}

/*
 * The next batch into res (the one read before is freed only now: freed
 * first, glibc gives the heap's top back to the kernel and every batch
 * faults its pages in afresh, twice the CPU), and the queue topped up
 * while the batches come back full.  0 or -1 with err.
 */
static int
take_batch(struct pg *p, struct ep_error *err)
{
	PGresult *r;
	unsigned long bytes = 0;
	long asked;
	int sample;

	if (read_batch(p, &r, &asked, err) < 0)
		return -1;
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
		result_error(p, r, err);
		PQclear(r);
		return -1;
	}
	PQclear(p->res);
	p->res = r;
	p->row = 0;
	p->nrows = PQntuples(r);
	if (p->nrows < asked) {
		p->ended = true;
		return 0;
	}
	/* The width of a row from the first few: libpq keeps each value
	 * with a NUL and a pointer and length beside it. */
	sample = p->nrows < 32 ? p->nrows : 32;
	for (int k = 0; k < sample; k++)
		for (int i = 0; i < PQnfields(r); i++)
			bytes += (unsigned long)PQgetlength(r, k, i) + 17;
	if (sample > 0)
		p->width = bytes / (unsigned long)sample + 1;
	while (p->queued < FETCH_AHEAD)
		if (send_fetch(p, err) < 0)
			return -1;
	return 0;
}

/*
 * End the cursor: the queued FETCHes read and dropped, pipeline mode
 * left, and its transaction committed (commit) or rolled back.  0, or
 * -1 with err.  A given-up connection is left alone.
 */
static int
cursor_close(struct pg *p, bool commit, struct ep_error *err)
{
	PGresult *r;
	long asked;
	int rc = 0;

	PQclear(p->res);
	p->res = NULL;
	p->nrows = p->row = 0;
	p->cursor = false;
	if (p->broken || PQstatus(p->conn) == CONNECTION_BAD) {
		p->pipe = p->owntx = false;
		p->queued = 0;
		if (commit) {
			if (p->broken)
				ep_db_timeout_error(err, p->timeout, p->rows);
			else
				result_error(p, NULL, err);
			return -1;
		}
		return 0;
	}
	while (p->queued > 0) {
		if (read_batch(p, &r, &asked, commit ? err : NULL) < 0)
			return -1;
		if (commit && (r == NULL ||
		    PQresultStatus(r) != PGRES_TUPLES_OK)) {
			result_error(p, r, err);
			commit = false;
			rc = -1;
		}
		PQclear(r);
		if (p->broken)
			return -1;
	}
	if (p->pipe) {
		PQexitPipelineMode(p->conn);
		p->pipe = false;
	}
	if (p->owntx) {
		p->owntx = false;
		if (command(p, commit ? "COMMIT" : "ROLLBACK",
		    commit ? err : NULL) < 0)
			rc = -1;
	}
	return rc;
}

/*
 * Open sql as the cursor "edpipe" in a transaction of its own and read
 * its first batch.  1 when it is open, 0 when the server would not
 * declare it (the transaction rolled back, nothing run: the caller runs
 * sql as it is), -1 with err.
 */
static int
open_cursor(struct pg *p, const char *sql, const char *const *values,
    size_t np, struct ep_error *err)
{
	PGresult *r, *decl_r;
	char *decl;
	int ok;

	if (!PQenterPipelineMode(p->conn)) {
		/* Not idle after all: the statement as it is. */
		return 0;
	}
	p->pipe = true;
	p->owntx = true;
	p->queued = 0;
	p->ended = false;
	p->width = 0;
	start_clock(p);
	/* A newline, so that a comment on the query's first line ends
	 * where it did. */
	decl = ep_xasprintf("DECLARE edpipe NO SCROLL CURSOR FOR\n%s", sql);
	if (pipe_send(p, "BEGIN", err) < 0) {
		free(decl);
		goto fail;
	}
	ok = PQsendQueryParams(p->conn, decl, (int)np, NULL, values, NULL,
	    NULL, 0);
	free(decl);
	if (!ok) {
		result_error(p, NULL, err);
		goto fail;
	}
	if (send_fetch(p, err) < 0)
		goto fail;
	/* BEGIN's result, then DECLARE's. */
	if (pipe_result(p, &r, false, err) < 0)
		return -1;
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
		result_error(p, r, err);
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	if (pipe_result(p, &decl_r, false, err) < 0)
		return -1;
	if (decl_r == NULL || PQresultStatus(decl_r) != PGRES_COMMAND_OK) {
		bool lost = decl_r == NULL ||
		    PQstatus(p->conn) == CONNECTION_BAD;

		if (lost)
			result_error(p, decl_r, err);
		PQclear(decl_r);
		/* The FETCH behind it was skipped; roll back. */
		if (cursor_close(p, false, NULL) < 0 || p->broken) {
			if (p->broken)
				ep_db_timeout_error(err, p->timeout, 0);
			else if (!lost)
				result_error(p, NULL, err);
			return -1;
		}
		return lost ? -1 : 0;
	}
	PQclear(decl_r);
	p->cursor = true;
	if (take_batch(p, err) < 0)
		goto fail;
	return 1;
fail:
	if (!p->broken)
		cursor_close(p, false, NULL);
	return -1;
}

/* The cursor's next row: 1, 0 at its end (the transaction committed), or
 * -1 with err (rolled back). */
static int
cursor_next(struct pg *p, struct ep_rec *row, struct ep_error *err)
{
	for (;;) {
		if (p->row < p->nrows) {
			p->rows++;
			put_row(p, row);
			p->row++;
			return 1;
		}
		if (!p->ended) {
			if (take_batch(p, err) < 0) {
				if (!p->broken)
					cursor_close(p, false, NULL);
				return -1;
			}
			continue;
		}
		return cursor_close(p, true, err) < 0 ? -1 : 0;
	}
}

static int
pg_query(void *h, const char *sql, const char *const *values, size_t np,
    struct ep_error *err)
{
	struct pg *p = h;

	drain(p);
	cols_free(p);
	p->rows = 0;
	if (p->broken) {
		ep_db_timeout_error(err, p->timeout, 0);
		return -1;
	}
	if (cursor_query(sql) &&
	    PQtransactionStatus(p->conn) == PQTRANS_IDLE) {
		switch (open_cursor(p, sql, values, np, err)) {
		case 1:
			set_columns(p);
			return 0;
		case -1:
			return -1;
		}
	}
	start_clock(p);
	if (!PQsendQueryParams(p->conn, sql, (int)np, NULL, values, NULL,
	    NULL, 0)) {
		result_error(p, NULL, err);
		return -1;
	}
	p->busy = true;
	if (!PQsetSingleRowMode(p->conn)) {
		drain(p);
		ep_error_set(err, EP_EXIT_SOFTWARE, "cannot set single-row "
		    "mode");
		return -1;
	}
	/* Read the first result now so SQL errors and column names come
	 * back from the query call. */
	if (next_result(p, &p->res, err) < 0)
		return -1;
	if (p->res == NULL) {
		p->busy = false;
		return 0;
	}
	switch (PQresultStatus(p->res)) {
	case PGRES_SINGLE_TUPLE:
	case PGRES_TUPLES_OK:
		break;
	case PGRES_COMMAND_OK:
		break;
	default:
		result_error(p, p->res, err);
		drain(p);
		return -1;
	}
	set_columns(p);
	return 0;
}

/* Name, width and kind of each of res's columns. */
static void
set_columns(struct pg *p)
{
	p->ncols = (size_t)PQnfields(p->res);
	p->cols = ep_xcalloc(p->ncols + 1, sizeof(char *));
	p->nlen = ep_xcalloc(p->ncols + 1, sizeof(size_t));
	p->ctype = ep_xcalloc(p->ncols + 1, sizeof(*p->ctype));
	p->uniq = true;
	for (size_t i = 0; i < p->ncols; i++) {
		p->cols[i] = ep_xstrdup(PQfname(p->res, (int)i));
		p->nlen[i] = strlen(p->cols[i]);
		for (size_t k = 0; k < i && p->uniq; k++)
			p->uniq = strcmp(p->cols[i], p->cols[k]) != 0;
		switch (PQftype(p->res, (int)i)) {
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
			p->ctype[i] = C_NUM;
			break;
		case FLOAT4OID:
		case FLOAT8OID:
			p->ctype[i] = C_FLOAT;
			break;
		case BOOLOID:
			p->ctype[i] = C_BOOL;
			break;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			p->ctype[i] = C_TIMESTAMP;
			break;
		default:
			/* numeric, money, text, date, time, json, ... */
			p->ctype[i] = C_STR;
		}
	}
}

/*
 * Column i of res's current row (p->row) in the record's form: its type,
 * with *v and *len set (a NULL: EP_T_NULL, "null").  *v is in res (a
 * bool's a literal), NUL-terminated.
 */
static enum ep_type
value(struct pg *p, size_t i, const char **v, size_t *len)
{
	char *s;

	/* A NULL has length 0: only then is it asked (a call per value
	 * less, a twentieth of the CPU of a million-row extraction). */
	*len = (size_t)PQgetlength(p->res, p->row, (int)i);
	if (*len == 0 && PQgetisnull(p->res, p->row, (int)i)) {
		*v = "null";
		*len = 4;
		return EP_T_NULL;
	}
	*v = s = PQgetvalue(p->res, p->row, (int)i);
	switch (p->ctype[i]) {
	case C_NUM:
		return EP_T_NUM;
	case C_FLOAT:
		/* NaN and Infinity are not JSON numbers. */
		return s[0] == 'N' || s[0] == 'I' || s[1] == 'I' ? EP_T_STR :
		    EP_T_NUM;
	case C_BOOL:
		*v = s[0] == 't' ? "true" : "false";
		*len = s[0] == 't' ? 4 : 5;
		return EP_T_BOOL;
	case C_TIMESTAMP:
		/* "2021-01-04 09:00:00" to ISO 8601's "2021-01-04T09:00:00";
		 * the result buffer is ours to change until PQclear. */
		if (*len > 10 && s[10] == ' ')
			s[10] = 'T';
		return EP_T_STR;
	default:
		return EP_T_STR;
	}
}

/*
 * res's current row into row.  Columns of distinct names are appended,
 * named once per query; a cursor's values are borrowed from its batch,
 * which lives until the next row is asked for (and ep_db_next clears
 * the record before it asks), a single-row result's copied, as it is
 * freed at once.  Columns that share a name go by name (a later column
 * of a name wins).
 */
static void
put_row(struct pg *p, struct ep_rec *row)
{
	const char *v;
	size_t len;
	enum ep_type t;

	if (p->uniq && p->cursor) {
		struct ep_field *f = ep_rec_add(row, p->ncols);

		for (size_t i = 0; i < p->ncols; i++, f++) {
			f->type = value(p, i, &f->val, &f->vlen);
			f->name = p->cols[i];
			f->nlen = p->nlen[i];
		}
		return;
	}
	for (size_t i = 0; i < p->ncols; i++) {
		t = value(p, i, &v, &len);
		if (t == EP_T_NULL)
			v = NULL;
		if (p->uniq)
			ep_rec_append(row, p->cols[i], p->nlen[i], t, v, len);
		else
			ep_rec_set(row, p->cols[i], t, v, len);
	}
}

static int
pg_next(void *h, struct ep_rec *row, struct ep_error *err)
{
	struct pg *p = h;

	if (p->cursor)
		return cursor_next(p, row, err);
	for (;;) {
		if (p->res == NULL) {
			if (!p->busy)
				return 0;
			if (next_result(p, &p->res, err) < 0)
				return -1;
			if (p->res == NULL) {
				p->busy = false;
				/* A link that died between rows shows here. */
				if (PQstatus(p->conn) == CONNECTION_BAD) {
					result_error(p, NULL, err);
					return -1;
				}
				return 0;
			}
		}
		switch (PQresultStatus(p->res)) {
		case PGRES_SINGLE_TUPLE:
			p->rows++;
			p->row = 0;
			put_row(p, row);
			PQclear(p->res);
			p->res = NULL;
			return 1;
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
			PQclear(p->res);
			p->res = NULL;
			continue;
		default:
			result_error(p, p->res, err);
			drain(p);
			return -1;
		}
	}
}

static int
pg_exec(void *h, const char *sql, struct ep_error *err)
{
	struct pg *p = h;

	drain(p);
	cols_free(p);
	p->rows = 0;
	return command(p, sql, err);
}

static const char *const *
pg_columns(void *h, size_t *n)
{
	struct pg *p = h;

	*n = p->ncols;
	return (const char *const *)p->cols;
}

static void
pg_close(void *h)
{
	struct pg *p = h;

	if (p == NULL)
		return;
	drain(p);
	cols_free(p);
	/* A given-up server may not read even the goodbye: shut the socket
	 * so PQfinish cannot block on it. */
	if (p->broken && PQsocket(p->conn) >= 0)
		shutdown(PQsocket(p->conn), SHUT_RDWR);
	PQfinish(p->conn);
	free(p->cbuf);
	free(p);
}

static char *
pg_placeholder(size_t i, const char *name)
{
	(void)name;
	return ep_xasprintf("$%zu", i);
}

/* ---------------------------------------------------- COPY FROM STDIN */

#define COPY_CHUNK (256 * 1024)

static int
pg_copy_begin(void *h, const char *sql, struct ep_error *err)
{
	struct pg *p = h;
	PGresult *r;
	int rc = 0;

	drain(p);
	cols_free(p);
	p->rows = 0;
	p->clen = 0;
	if (pg_exec(p, "SET statement_timeout = 0", err) < 0)
		return -1;
	if (send_simple(p, sql, err) < 0 || next_result(p, &r, err) < 0)
		return -1;
	if (PQresultStatus(r) == PGRES_COPY_IN) {
		p->copying = true;
		/* The data may meet a server that stopped reading. */
		PQsetnonblocking(p->conn, 1);
	} else {
		result_error(p, r, err);
		rc = -1;
	}
	PQclear(r);
	return rc;
}

static int
copy_flush(struct pg *p, struct ep_error *err)
{
	int r;

	if (p->clen == 0)
		return 0;
	start_clock(p);
	while ((r = PQputCopyData(p->conn, p->cbuf, (int)p->clen)) == 0)
		if (flush_out(p, err) < 0)
			return -1;
	if (r != 1) {
		result_error(p, NULL, err);
		return -1;
	}
	p->clen = 0;
	return flush_out(p, err);
}

/*
 * One row in COPY's text format: tab between columns, \N for NULL, and
 * backslash, tab, newline and carriage return escaped.
 */
static int
pg_copy_row(void *h, const struct ep_field *const *vals, size_t n,
    struct ep_error *err)
{
	struct pg *p = h;

	if (!p->copying) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "no COPY in progress");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ep_field *f = vals[i];
		size_t need = (f ? 2 * f->vlen : 0) + 4;
		char *o;

		if (p->clen + need > p->ccap) {
			p->ccap = p->clen + need + COPY_CHUNK;
			p->cbuf = ep_xrealloc(p->cbuf, p->ccap);
		}
		o = p->cbuf + p->clen;
		if (i > 0)
			*o++ = '\t';
		if (f == NULL || f->type == EP_T_NULL) {
			*o++ = '\\';
			*o++ = 'N';
		} else {
			const char *v = f->val, *end = f->val + f->vlen;

			for (; v < end; v++)
				switch (*v) {
				case '\\': *o++ = '\\'; *o++ = '\\'; break;
				case '\t': *o++ = '\\'; *o++ = 't'; break;
				case '\n': *o++ = '\\'; *o++ = 'n'; break;
				case '\r': *o++ = '\\'; *o++ = 'r'; break;
				default: *o++ = *v;
				}
		}
		p->clen = (size_t)(o - p->cbuf);
	}
	if (p->clen + 1 > p->ccap) {
		p->ccap = p->clen + 1 + COPY_CHUNK;
		p->cbuf = ep_xrealloc(p->cbuf, p->ccap);
	}
	p->cbuf[p->clen++] = '\n';
	p->rows++;
	if (p->clen >= COPY_CHUNK)
		return copy_flush(p, err);
	return 0;
}

/* The COPY data line an error's CONTEXT names ("COPY t, line 3, ..."). */
static unsigned long
context_line(const PGresult *r)
{
	const char *c = r ? PQresultErrorField(r, PG_DIAG_CONTEXT) : NULL;
	const char *l = c ? strstr(c, ", line ") : NULL;

	return l ? strtoul(l + 7, NULL, 10) : 0;
}

static int
pg_copy_end(void *h, unsigned long *bad_row, struct ep_error *err)
{
	struct pg *p = h;
	PGresult *r;
	int rc = 0;

	if (bad_row != NULL)
		*bad_row = 0;
	if (!p->copying) {
		/* copy_begin failed: whatever is pending goes. */
		while (next_result(p, &r, NULL) == 0 && r != NULL)
			PQclear(r);
		return -1;
	}
	p->copying = false;
	if (p->broken) {
		ep_db_timeout_error(err, p->timeout, p->rows);
		return -1;
	}
	start_clock(p);
	if (err == NULL) {
		/* Abandoned: tell the server, so the COPY fails. */
		if (PQputCopyEnd(p->conn, "abandoned by the client") == 1)
			flush_out(p, NULL);
		p->clen = 0;
	} else if (copy_flush(p, err) < 0) {
		rc = -1;
	} else if (PQputCopyEnd(p->conn, NULL) != 1) {
		result_error(p, NULL, err);
		rc = -1;
	} else if (flush_out(p, err) < 0) {
		rc = -1;
	}
	if (p->broken)
		return -1;
	PQsetnonblocking(p->conn, 0);
	while ((rc == 0 ? next_result(p, &r, err) : next_result(p, &r,
	    NULL)) == 0 && r != NULL) {
		if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK) {
			result_error(p, r, err);
			if (bad_row != NULL)
				*bad_row = context_line(r);
			rc = -1;
		}
		PQclear(r);
		if (PQstatus(p->conn) == CONNECTION_BAD)
			break;
	}
	if (rc == 0 && PQstatus(p->conn) == CONNECTION_BAD) {
		result_error(p, NULL, err);
		rc = -1;
	}
	if (rc == 0) {
		/* The limit again for what follows (an upsert's INSERT). */
		char set[64];

		snprintf(set, sizeof(set), "SET statement_timeout = %llu",
		    (unsigned long long)p->timeout * 1000);
		rc = pg_exec(p, set, err);
	}
	return rc;
}

/*
 * The server checks the text it sends: with client_encoding UTF8 every
 * value is valid UTF-8 (converted, checked when it was stored, or, from
 * a SQL_ASCII database, checked on the way out: the server fails the
 * query), and no PostgreSQL value holds a NUL, so the per-value check of
 * ep_db_next (a tenth of a million-row extraction's CPU) adds nothing.
 * Not before PostgreSQL 15, whose "char" type sent a byte >= 0x80 raw.
 */
static bool
pg_clean(void *h)
{
	struct pg *p = h;
	const char *ce = PQparameterStatus(p->conn, "client_encoding");

	return PQserverVersion(p->conn) >= 150000 && ce != NULL &&
	    strcmp(ce, "UTF8") == 0;
}

const struct ep_db_ops ep_db_pg_ops = {
	.name = "postgres",
	.open = pg_open,
	.query = pg_query,
	.next = pg_next,
	.exec = pg_exec,
	.close = pg_close,
	.placeholder = pg_placeholder,
	.columns = pg_columns,
	.copy_begin = pg_copy_begin,
	.copy_row = pg_copy_row,
	.copy_end = pg_copy_end,
	.clean = pg_clean,
};
