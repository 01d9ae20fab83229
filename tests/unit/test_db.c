/*
 * test_db.c - the parameter scanner and the SQLite backend through db.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "db.h"
#include "tap.h"

static char *
ph_named(size_t i, const char *name)
{
	return ep_xasprintf("<%zu:%s>", i, name);
}

static void
scan(const char *sql, const char *want, size_t wantn, const char *first,
    const char *what)
{
	char **names = NULL;
	size_t n = 0;
	char *out = ep_sql_params(sql, ph_named, &names, &n);

	is_str(out, want, "params: %s", what);
	is_int(n, wantn, "params: %s: count", what);
	if (first != NULL)
		is_str(n ? names[0] : NULL, first, "params: %s: first name",
		    what);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(out);
}

int
main(void)
{
	struct ep_error e = { 0 };
	struct ep_rec *row = ep_rec_new();
	struct ep_db *db;
	char path[] = "/tmp/test_db_XXXXXX";
	char *url;
	int fd;

	scan("SELECT :a, :b, :a", "SELECT <1:a>, <2:b>, <1:a>", 2, "a",
	    "numbers distinct names in order");
	scan("SELECT x::int, ':a', \"b:c\" FROM t", "SELECT x::int, ':a', "
	    "\"b:c\" FROM t", 0, NULL, "casts, literals, quoted names");
	scan("SELECT 1 -- :a\n, :b /* :c /* :d */ :e */ , :f",
	    "SELECT 1 -- :a\n, <1:b> /* :c /* :d */ :e */ , <2:f>", 2, "b",
	    "line and nested block comments");
	scan("SELECT 'it''s :a', E'\\' :b', $$ :c $$, $t$ :d $t$, :e",
	    "SELECT 'it''s :a', E'\\' :b', $$ :c $$, $t$ :d $t$, <1:e>", 1,
	    "e", "doubled quotes, E-strings, dollar quotes");
	scan("SELECT :_x1+:y", "SELECT <1:_x1>+<2:y>", 2, "_x1",
	    "names end at a non-identifier character");
	scan("a := 1 ::: :9", "a := 1 ::: :9", 0, NULL,
	    "':=', ':::' and ':9' are not parameters");
	scan("'unterminated :a", "'unterminated :a", 0, NULL,
	    "an unterminated literal swallows the rest");

	fd = mkstemp(path);
	ok(fd >= 0, "db: temp file");
	close(fd);
	url = ep_xasprintf("sqlite:%s", path);
	db = ep_db_open(url, NULL, 0, &e);
	ok(db != NULL, "db: open read-write");
	is_int(ep_db_exec(db, "CREATE TABLE t (a INTEGER, b TEXT, c "
	    "NUMERIC(9,2))", &e), 0, "db: exec DDL");
	is_int(ep_db_begin(db, &e), 0, "db: begin");
	is_int(ep_db_exec(db, "INSERT INTO t VALUES (1, 'Zoë', 2.50), "
	    "(2, NULL, 3)", &e), 0, "db: insert");
	is_int(ep_db_commit(db, &e), 0, "db: commit");
	{
		struct ep_db_param p[] = { { "min", "1" }, { "b", NULL } };
		size_t nc;
		const char *const *cols;

		is_int(ep_db_query(db, "SELECT a, b, c FROM t WHERE a >= :min "
		    "AND (:b IS NULL OR b = :b) ORDER BY a", p, 2, &e), 0,
		    "db: query with a NULL parameter");
		cols = ep_db_columns(db, &nc);
		is_int(nc, 3, "db: three columns");
		is_str(cols ? cols[1] : NULL, "b", "db: column name");
		is_int(ep_db_next(db, row, &e), 1, "db: first row");
		is_str(ep_rec_str(row, "b"), "Zoë", "db: text");
		is_int(ep_rec_get(row, "a")->type, EP_T_NUM, "db: integer");
		is_str(ep_rec_str(row, "c"), "2.5", "db: decimal text");
		is_int(ep_rec_get(row, "c")->type, EP_T_STR,
		    "db: decimal is a string");
		is_int(ep_db_next(db, row, &e), 1, "db: second row");
		is_int(ep_rec_get(row, "b")->type, EP_T_NULL, "db: null");
		is_int(ep_db_next(db, row, &e), 0, "db: end");
		is_int(ep_db_next(db, row, &e), 0, "db: end stays the end");
	}
	{
		struct ep_db_param p[] = { { "x", "1" } };

		is_int(ep_db_query(db, "SELECT :y", p, 1, &e), -1,
		    "db: missing parameter");
		is_int(e.code, EP_EXIT_USAGE, "db: missing parameter code");
		is_int(ep_db_query(db, "SELECT 1", p, 1, &e), -1,
		    "db: unused parameter");
		is_int(e.code, EP_EXIT_USAGE, "db: unused parameter code");
		is_int(ep_db_query(db, "SELEC 1", NULL, 0, &e), -1,
		    "db: SQL error");
		is_int(e.code, EP_EXIT_DATAERR, "db: SQL error code");
	}
	is_int(ep_db_rollback(db, &e), -1, "db: rollback outside a "
	    "transaction fails");
	{
		char *q = ep_db_quote(db, "x\"; DROP TABLE t; --", false);
		char *qq = ep_db_quote(db, "s.t\"", true);
		const char *cols[] = { "a", "b" };
		struct ep_field f1 = { .name = "a", .val = "7", .vlen = 1,
		    .type = EP_T_NUM };
		struct ep_field f2 = { .name = "b", .val = "x\ty", .vlen = 3,
		    .type = EP_T_STR };
		struct ep_field f3 = { .name = "b", .val = "z", .vlen = 1,
		    .type = EP_T_STR };
		const struct ep_field *r1[] = { &f1, &f2 }, *r2[] = { &f1,
		    &f3 }, *r3[] = { &f1, NULL };
		struct ep_db_load *ld;
		unsigned long bad = 9;

		is_str(q, "\"x\"\"; DROP TABLE t; --\"", "quote: doubles \"");
		is_str(qq, "\"s\".\"t\"\"\"", "quote: SCHEMA.NAME parts");
		is_str(ep_db_type(db, "int", false), "INTEGER",
		    "type: int in SQLite");
		ok(ep_db_type(db, "blob", false) == NULL, "type: unknown");
		free(q);
		free(qq);
		is_int(ep_db_exec(db, "CREATE TABLE u (a INTEGER PRIMARY KEY, "
		    "b TEXT)", &e), 0, "load: table");
		ld = ep_db_load_begin(db, "u", cols, 2, NULL, 0, &e);
		ok(ld != NULL, "load: begin");
		is_int(ep_db_load_row(ld, r1, &e), 0, "load: row");
		is_int(ep_db_load_end(ld, &bad, &e), 0, "load: end");
		is_int(bad, 0, "load: no bad row");
		ep_db_load_free(ld);
		ld = ep_db_load_begin(db, "u", cols, 2, NULL, 0, &e);
		is_int(ep_db_load_row(ld, r2, &e), -1, "load: duplicate key");
		is_int(e.code, EP_EXIT_DATAERR, "load: constraint is 65");
		ep_db_load_free(ld);
		ld = ep_db_load_begin(db, "u", cols, 2, cols, 1, &e);
		is_int(ep_db_load_row(ld, r2, &e), 0, "load: upsert row");
		is_int(ep_db_load_end(ld, NULL, &e), 0, "load: upsert end");
		ep_db_load_free(ld);
		is_int(ep_db_query(db, "SELECT a, b FROM u", NULL, 0, &e), 0,
		    "load: read back");
		is_int(ep_db_next(db, row, &e), 1, "load: one row");
		is_str(ep_rec_str(row, "b"), "z", "load: upsert updated");
		is_int(ep_db_next(db, row, &e), 0, "load: only one row");
		ld = ep_db_load_begin(db, "u", cols, 2, cols, 1, &e);
		is_int(ep_db_load_row(ld, r3, &e), 0, "load: NULL value");
		is_int(ep_db_load_end(ld, NULL, &e), 0, "load: end again");
		ep_db_load_free(ld);
		is_int(ep_db_query(db, "SELECT b FROM u", NULL, 0, &e), 0,
		    "load: read NULL back");
		is_int(ep_db_next(db, row, &e), 1, "load: the row");
		is_int(ep_rec_get(row, "b")->type, EP_T_NULL, "load: NULL");
		ok(ep_db_load_begin(db, "nope", cols, 2, NULL, 0, &e) == NULL,
		    "load: a missing table fails at begin");
	}
	ep_db_close(db);
	ep_db_close(NULL);

	ok(ep_db_open("sqlite:/nonexistent/x.db", NULL, EP_DB_READONLY, &e)
	    == NULL && e.code == EP_EXIT_NOINPUT, "db: missing file is 66");
	ok(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1,
	    "db: SQLite (no password) leaves core dumps alone");
	ok(ep_db_open("postgres://u:pw@h/db", NULL, 0, &e) == NULL &&
	    e.code == EP_EXIT_CONFIG && strstr(e.msg, "pw@") == NULL,
	    "db: password in URL refused, masked");
	ok(ep_db_open("ftp://h/x", NULL, 0, &e) == NULL &&
	    e.code == EP_EXIT_CONFIG, "db: unknown scheme is 78");
	ok(ep_db_open("postgres://u@h", NULL, 0, &e) == NULL &&
	    e.code == EP_EXIT_CONFIG, "db: PostgreSQL URL without a database");
	/* A client that may hold a password (ours, or PGPASSWORD/.pgpass
	 * that libpq reads itself) stops core dumps before it connects. */
	ok(ep_db_open("postgres://u@127.0.0.1:1/db", NULL, 0, &e) == NULL,
	    "db: nothing listens on port 1");
	{
		struct rlimit rl;

		ok(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 &&
		    getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 &&
		    rl.rlim_max == 0, "db: no core dumps once a client may "
		    "hold a password");
	}

	unlink(path);
	free(url);
	ep_rec_free(row);
	return done_testing();
}
