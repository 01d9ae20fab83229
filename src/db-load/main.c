/*
 * db-load - load records into a database table (SQLite, PostgreSQL, SQL
 * Server) in one transaction: every record goes in, or none does.
 *
 * Modes: append inserts; replace deletes every row and refills the table
 * inside the transaction (readers see the old rows until the commit, never
 * an empty table); upsert inserts or updates on --key.  Replace counts
 * the rows it deletes and refuses (3, rolled back) to leave fewer than
 * (100 - --max-shrink)% of them: a short or empty extract must not wipe
 * a reporting table.  --allow-empty only lifts the refusal of an empty
 * input as such; emptying a table that has rows also needs
 * --max-shrink 100.  The columns loaded
 * are the fields of the first record that the table has; a field the
 * table lacks is an error naming it (--ignore-extra leaves it out); a
 * table column no record names gets its default (NULL).  A later record
 * may lack fields (they load as NULL) but may not bring a table column
 * the first record did not have.  In CSV input an empty field is NULL,
 * as in PostgreSQL's COPY ... CSV (CSV cannot tell the two apart).
 *
 * --create makes the table from the first record's fields when it does
 * not exist: text columns, or the types of --types, and a primary key on
 * --key.  --status-table writes one row about the run (job, table_name,
 * status, rows, started_at, finished_at, message) in a transaction of its
 * own after the load committed or rolled back, creating the table first.
 *
 * Upsert needs a unique index (or primary key) on exactly the key columns
 * in PostgreSQL and SQLite (INSERT ... ON CONFLICT); SQL Server runs an
 * UPDATE and then an INSERT ... WHERE NOT EXISTS per record.  Two records
 * with the same key are an error (the second would silently win).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "db.h"
#include "progress.h"
#include "migrate.h"
#include "rec.h"
#include "secret.h"

static const char usage_text[] =
"usage: db-load --db URL [--migrate DIR] --table NAME\n"
"               [--mode append|replace|upsert]\n"
"               [-k COL[,COL...]] [--create [--types COL=TYPE,...]]\n"
"               [--status-table NAME --job NAME [--skip]] [--ignore-extra]\n"
"               [--allow-empty] [--max-shrink PCT] [-f ndjson|csv|tsv]\n"
"               [--password-file FILE] [--timeout SECONDS] [-v | -q]\n"
"               [FILE ...]\n"
"       db-load --db URL --exec SQL [--password-file FILE]\n"
"               [--timeout SECONDS] [-v | -q]\n"
"       db-load --db URL [--migrate DIR] --tables T1,T2,... [--mode M]\n"
"               [--job-run NAME [--source NAME[=TIME]]... [--run-started\n"
"               TIME]] [--max-shrink PCT] [--allow-empty] FILE1 FILE2 ...\n"
"       db-load --db URL --job-run NAME --run-failed [--source NAME]...\n"
"\n"
"Load records into a database table in one transaction.  Records come\n"
"from the FILEs in order ('-' is stdin), or stdin.\n"
"\n"
"  --db URL              sqlite:PATH, postgres://USER@HOST[:PORT]/DB,\n"
"                        mssql://USER@HOST[:PORT]/DB,\n"
"                        mysql://USER@HOST[:PORT]/DB or odbc:DSN\n"
"                        (no password in it)\n"
"  --migrate DIR         first apply the migration files of DIR (or\n"
"                        DIR/BACKEND) the database has not had, in\n"
"                        version order, each in a transaction, recorded\n"
"                        in schema_version; without --table only that\n"
"  --table NAME          the table (NAME or SCHEMA.NAME)\n"
"  --tables T1,T2,...    load FILE1 into T1, FILE2 into T2 ... all in one\n"
"                        transaction (replace deletes from the last table\n"
"                        to the first, then loads in order)\n"
"  --job-run NAME        record the run in job_run (job_name, started_at,\n"
"                        finished_at, status) and a data_source_status row\n"
"                        per --source: in the load's transaction, or after\n"
"                        its rollback as a failed run\n"
"  --source NAME[=TIME]  a data source of the run and the UTC time its data\n"
"                        was current (default: now); for a failed run the\n"
"                        last successful run's time is kept\n"
"  --run-started TIME    when the run started (default: now)\n"
"  --run-failed          load nothing: record a failed run\n"
"  --bookmark NAME=FIELD keep the largest FIELD of the records loaded as\n"
"                        bookmark NAME in edpipe_bookmark, in the load's\n"
"                        transaction (never moved back)\n"
"  --mode M              append (default), replace (delete and refill in\n"
"                        the transaction) or upsert (on --key)\n"
"  -k, --key COL[,COL...]  the key columns of upsert; with --create the\n"
"                        primary key\n"
"  --create              create the table from the first record's fields\n"
"                        when it does not exist\n"
"  --types COL=TYPE,...  column types for --create: text, int, bigint,\n"
"                        numeric, float, date, timestamp, bool\n"
"  --status-table NAME   write a status row about the run into NAME\n"
"  --job NAME            the job named in the status row\n"
"  --skip                load nothing, write a 'skipped' status row\n"
"  --exec SQL            load nothing: run the statement SQL (a post-load\n"
"                        step: REFRESH MATERIALIZED VIEW V, say), on its\n"
"                        own, committed when it succeeds\n"
"  --ignore-extra        leave out fields the table does not have\n"
"  --allow-empty         let replace empty the table on empty input\n"
"  --max-shrink PCT      refuse a replace that would leave fewer than\n"
"                        (100 - PCT)% of the table's rows (default 50;\n"
"                        100 allows any shrink); with --tables also\n"
"                        TABLE=PCT for one table (=100: may be emptied)\n"
"  -f, --from F          ndjson, csv or tsv (default: from the first byte)\n"
"      --delimiter CHAR  CSV input: the field delimiter (default ','; tab\n"
"                        or \\t for a tab)\n"
"      --encoding ENC    CSV input: its encoding, converted to UTF-8\n"
"                        (default UTF-8; e.g. WINDOWS-1252)\n"
"  --password-file FILE  the database password (else SIS_PASSWORD)\n"
"  --timeout SECONDS     the longest one statement may run or the\n"
"                        database stay silent (default 300)\n"
"      --input-format FMT, -i FMT  deprecated: use -f/--from\n"
"  -v, --verbose         the row count and detail on stderr\n"
"  -q, --quiet           only errors on stderr\n"
"      --progress        rows loaded, rate and time on stderr (default\n"
"                        when stderr is a terminal); --no-progress turns\n"
"                        it off, and so does -q\n"
"  -h, --help            this help\n"
"      --version         the version\n"
"\n"
"Exit: 0 ok, 2 usage, 3 replace refused (empty input, or past\n"
"--max-shrink), 65 bad record, SQL or constraint error, 66 missing file,\n"
"69 database unreachable or lost, 75 timed out, 77 login refused, 78 bad\n"
"URL.\n";

enum {
	OPT_DB = EP_OPT_FIRST_PROGRAM,
	OPT_TABLE, OPT_MODE, OPT_KEY, OPT_CREATE, OPT_TYPES, OPT_STATUS,
	OPT_JOB, OPT_SKIP, OPT_IGNORE_EXTRA, OPT_ALLOW_EMPTY,
	OPT_PASSWORD_FILE, OPT_MAX_SHRINK, OPT_TIMEOUT, OPT_EXEC, OPT_MIGRATE,
	OPT_TABLES, OPT_JOB_RUN, OPT_SOURCE, OPT_RUN_STARTED, OPT_RUN_FAILED,
	OPT_BOOKMARK
};

enum mode { M_APPEND, M_REPLACE, M_UPSERT };

struct opts {
	const char *db, *table, *status_table, *job, *password_file;
	const char *exec;	/* --exec: a statement instead of a load */
	const char *migrate;	/* --migrate DIR */
	char **tables;		/* split --tables */
	size_t ntables;
	const char *job_run;	/* --job-run NAME */
	char **sources, **source_at;	/* --source NAME[=TIME] */
	size_t nsources;
	char run_started[32];
	bool run_failed;
	char *bm_name, *bm_field;	/* --bookmark NAME=FIELD */
	bool outer;		/* load() runs inside load_all's transaction */
	unsigned long long old_rows;	/* and the rows replace deleted */
	char **files;		/* the inputs, read in order */
	int nfiles;
	enum mode mode;
	enum ep_fmt fmt;
	char **keys;		/* split --key */
	size_t nkeys;
	char **type_col, **type_name;	/* split --types */
	size_t ntypes;
	bool create, skip, ignore_extra, allow_empty;
	unsigned max_shrink;	/* percent of the rows replace may lose */
	char **shrink_tab;	/* --max-shrink TABLE=PCT (with --tables) */
	unsigned *shrink_pct;
	size_t nshrink;
	unsigned timeout;	/* seconds */
};

/* What the status row reports. */
struct outcome {
	unsigned long rows;	/* rows committed */
	char started[32], finished[32];
};

static void split_list(const char *usage, const char *opt, const char *arg,
    char ***out, size_t *n);
static void parse_types(struct opts *o, const char *arg);
static int load(const struct opts *o, struct ep_db *db, struct outcome *res,
    struct ep_error *err);
static int write_status(const struct opts *o, struct ep_db *db,
    const char *status, const struct outcome *res, const char *message,
    struct ep_error *err);
static void now_utc(char *buf, size_t size);
static void add_source(struct opts *o, const char *arg);
static void add_shrink(struct opts *o, const char *arg);
static int bookmark_table(struct ep_db *db, struct ep_error *err);
static void bookmark_see(char **max, bool *num, const struct ep_rec *r,
    const char *field);
static int bookmark_save(const struct opts *o, struct ep_db *db,
    const char *max, bool num, struct ep_error *err);
static void parse_time(const char *opt, const char *arg, char *buf,
    size_t size);
static int load_all(const struct opts *o, struct ep_db *db,
    struct outcome *res, struct ep_error *err);
static int write_job_run(const struct opts *o, struct ep_db *db, bool ok,
    const struct outcome *res, bool own_tx, struct ep_error *err);

static const char *const mode_names[] = { "append", "replace", "upsert" };

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "table", required_argument, NULL, OPT_TABLE },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "key", required_argument, NULL, 'k' },
		{ "create", no_argument, NULL, OPT_CREATE },
		{ "types", required_argument, NULL, OPT_TYPES },
		{ "status-table", required_argument, NULL, OPT_STATUS },
		{ "job", required_argument, NULL, OPT_JOB },
		{ "skip", no_argument, NULL, OPT_SKIP },
		{ "exec", required_argument, NULL, OPT_EXEC },
		{ "ignore-extra", no_argument, NULL, OPT_IGNORE_EXTRA },
		{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
		{ "max-shrink", required_argument, NULL, OPT_MAX_SHRINK },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "migrate", required_argument, NULL, OPT_MIGRATE },
		{ "tables", required_argument, NULL, OPT_TABLES },
		{ "job-run", required_argument, NULL, OPT_JOB_RUN },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "run-started", required_argument, NULL, OPT_RUN_STARTED },
		{ "run-failed", no_argument, NULL, OPT_RUN_FAILED },
		{ "bookmark", required_argument, NULL, OPT_BOOKMARK },
		EP_FROM_LONGOPTS,
		EP_INPUT_LONGOPTS,
		{ "password-file", required_argument, NULL,
		    OPT_PASSWORD_FILE },
		EP_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .mode = M_APPEND, .fmt = EP_FMT_AUTO,
	    .max_shrink = 50, .timeout = EP_DB_TIMEOUT_DEFAULT };
	struct outcome res = { 0 };
	struct ep_error e = { 0 }, se = { 0 };
	struct ep_db *db = NULL, *sdb = NULL;
	char *password = NULL, *msg = NULL;
	int c, rc = 0, lrc;

	ep_cli_init(argc, argv);
	ep_cli_whole_secret_opts(argc, argv, longopts, usage_text);
	while ((c = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS "k:"
	    EP_FROM_SHORTOPTS,
	    longopts, NULL)) != -1)
		switch (c) {
		case OPT_DB: o.db = optarg; break;
		case OPT_TABLE: o.table = optarg; break;
		case OPT_MIGRATE: o.migrate = optarg; break;
		case OPT_TABLES:
			split_list(usage_text, "--tables", optarg, &o.tables,
			    &o.ntables);
			break;
		case OPT_JOB_RUN: o.job_run = optarg; break;
		case OPT_SOURCE: add_source(&o, optarg); break;
		case OPT_RUN_STARTED:
			parse_time("--run-started", optarg, o.run_started,
			    sizeof(o.run_started));
			break;
		case OPT_RUN_FAILED: o.run_failed = true; break;
		case OPT_BOOKMARK: {
			const char *eq = strchr(optarg, '=');

			if (eq == NULL || eq == optarg || eq[1] == '\0')
				ep_usage_error(usage_text, "--bookmark '%s': "
				    "expected NAME=FIELD", optarg);
			free(o.bm_name);
			free(o.bm_field);
			o.bm_name = ep_xstrndup(optarg,
			    (size_t)(eq - optarg));
			o.bm_field = ep_xstrdup(eq + 1);
			break;
		}
		case OPT_MODE:
			if (strcmp(optarg, "append") == 0)
				o.mode = M_APPEND;
			else if (strcmp(optarg, "replace") == 0)
				o.mode = M_REPLACE;
			else if (strcmp(optarg, "upsert") == 0)
				o.mode = M_UPSERT;
			else
				ep_usage_error(usage_text, "unknown mode '%s' "
				    "(use append, replace or upsert)", optarg);
			break;
		case 'k':
			split_list(usage_text, "--key", optarg, &o.keys,
			    &o.nkeys);
			break;
		case OPT_CREATE: o.create = true; break;
		case OPT_TYPES: parse_types(&o, optarg); break;
		case OPT_STATUS: o.status_table = optarg; break;
		case OPT_JOB: o.job = optarg; break;
		case OPT_SKIP: o.skip = true; break;
		case OPT_EXEC: o.exec = optarg; break;
		case OPT_IGNORE_EXTRA: o.ignore_extra = true; break;
		case OPT_ALLOW_EMPTY: o.allow_empty = true; break;
		case OPT_PASSWORD_FILE: o.password_file = optarg; break;
		case OPT_MAX_SHRINK:
			if (strchr(optarg, '=') != NULL) {
				add_shrink(&o, optarg);
				break;
			}
			o.max_shrink = (unsigned)ep_cli_long(usage_text,
			    "--max-shrink", optarg, 100);
			break;
		case OPT_TIMEOUT:
			o.timeout = ep_cli_seconds(usage_text, "--timeout",
			    optarg);
			break;
		default:
			ep_cli_common(c, argv, usage_text);
		}
	o.fmt = (enum ep_fmt)ep_io.from;
	if (optind < argc) {
		int nstdin = 0;

		o.files = argv + optind;
		o.nfiles = argc - optind;
		for (int i = 0; i < o.nfiles; i++)
			nstdin += strcmp(o.files[i], "-") == 0;
		if (nstdin > 1)
			ep_usage_error(usage_text, "'-' (stdin) named %d "
			    "times", nstdin);
	}
	if (o.db == NULL)
		ep_usage_error(usage_text, "--db is required");
	if (o.exec != NULL && (o.exec[0] == '\0' || o.table != NULL ||
	    o.status_table != NULL || o.nfiles > 0 || o.migrate != NULL ||
	    o.ntables > 0 || o.job_run != NULL))
		ep_usage_error(usage_text, "--exec takes a statement, and no "
		    "--table, --tables, --migrate, --job-run, --status-table "
		    "or FILE");
	if (o.migrate != NULL && o.migrate[0] == '\0')
		ep_usage_error(usage_text, "--migrate: an empty folder name");
	if (o.job_run != NULL && o.job_run[0] == '\0')
		ep_usage_error(usage_text, "--job-run: an empty name");
	if ((o.nsources > 0 || o.run_started[0] || o.run_failed) &&
	    o.job_run == NULL)
		ep_usage_error(usage_text, "--source, --run-started and "
		    "--run-failed need --job-run");
	if (o.job_run != NULL && o.ntables == 0 && !o.run_failed)
		ep_usage_error(usage_text, "--job-run needs --tables or "
		    "--run-failed");
	if (o.run_failed && (o.ntables > 0 || o.table != NULL ||
	    o.nfiles > 0))
		ep_usage_error(usage_text, "--run-failed loads nothing: no "
		    "--table, --tables or inputs");
	if (o.bm_name != NULL && (o.table == NULL || o.skip))
		ep_usage_error(usage_text, "--bookmark needs --table (and no "
		    "--skip)");
	if (o.nshrink > 0 && o.ntables == 0)
		ep_usage_error(usage_text, "--max-shrink TABLE=PCT needs "
		    "--tables");
	for (size_t i = 0; i < o.nshrink; i++) {
		size_t k = 0;

		while (k < o.ntables && strcmp(o.tables[k], o.shrink_tab[i]))
			k++;
		if (k == o.ntables)
			ep_usage_error(usage_text, "--max-shrink: '%s' is not "
			    "one of --tables", o.shrink_tab[i]);
	}
	if (o.ntables > 0) {
		if (o.table != NULL)
			ep_usage_error(usage_text, "--table and --tables do "
			    "not go together");
		if (o.create || o.status_table != NULL || o.skip ||
		    o.mode == M_UPSERT)
			ep_usage_error(usage_text, "--tables does not go with "
			    "--create, --status-table, --skip or upsert");
		if ((size_t)o.nfiles != o.ntables)
			ep_usage_error(usage_text, "--tables names %zu "
			    "table%s for %d input%s: give one FILE per table",
			    o.ntables, o.ntables == 1 ? "" : "s", o.nfiles,
			    o.nfiles == 1 ? "" : "s");
	}
	if ((o.migrate != NULL || o.ntables > 0 || o.run_failed) &&
	    o.table == NULL && o.ntables == 0 && (o.nfiles > 0 ||
	    o.status_table != NULL))
		ep_usage_error(usage_text, "inputs and --status-table need "
		    "--table");
	if ((o.table == NULL && o.exec == NULL && o.migrate == NULL &&
	    o.ntables == 0 && !o.run_failed) ||
	    (o.table != NULL && o.table[0] == '\0'))
		ep_usage_error(usage_text, "--table is required");
	if (o.mode == M_UPSERT && o.nkeys == 0)
		ep_usage_error(usage_text, "--mode upsert needs --key");
	if (o.nkeys > 0 && o.mode != M_UPSERT && !o.create)
		ep_usage_error(usage_text, "--key needs --mode upsert or "
		    "--create");
	if (o.ntypes > 0 && !o.create)
		ep_usage_error(usage_text, "--types needs --create");
	if ((o.status_table == NULL) != (o.job == NULL))
		ep_usage_error(usage_text, "--status-table and --job go "
		    "together");
	if (o.skip && o.status_table == NULL)
		ep_usage_error(usage_text, "--skip needs --status-table and "
		    "--job");

	password = ep_secret_get("SIS_PASSWORD", o.password_file, false, &e);
	if (password == NULL && e.code != 0)
		goto fail;
	now_utc(res.started, sizeof(res.started));
	db = ep_db_open_timeout(o.db, password, 0, o.timeout, &e);
	if (db == NULL)
		goto fail;
	if (o.exec != NULL) {
		/* Autocommit: a refresh that commits on its own (Oracle's
		 * DBMS_MVIEW.REFRESH) must not run inside our transaction. */
		if (ep_db_exec(db, o.exec, &e) < 0)
			goto fail;
		ep_info(1, "statement run");
		goto out;
	}
	if (o.migrate != NULL && ep_migrate(db, o.migrate, &e) < 0)
		goto fail;
	if (o.run_started[0] == '\0')
		memcpy(o.run_started, res.started, sizeof(res.started));
	if (o.run_failed) {
		now_utc(res.finished, sizeof(res.finished));
		if (write_job_run(&o, db, false, &res, true, &e) < 0)
			goto fail;
		ep_info(1, "recorded a failed run of '%s'", o.job_run);
		goto out;
	}
	if (o.ntables > 0) {
		if (load_all(&o, db, &res, &e) < 0)
			goto fail;
		goto out;
	}
	if (o.table == NULL)
		goto out;
	if (o.skip) {
		now_utc(res.finished, sizeof(res.finished));
		if (write_status(&o, db, "skipped", &res, "skipped (--skip)",
		    &e) < 0)
			goto fail;
		ep_info(1, "'%s' skipped", o.table);
		goto out;
	}
	lrc = load(&o, db, &res, &e);
	now_utc(res.finished, sizeof(res.finished));
	if (o.status_table != NULL) {
		sdb = db;
		/* After a lost connection (or one given up after a timeout)
		 * the status needs a new one. */
		if (lrc < 0 && (e.code == EP_EXIT_UNAVAILABLE ||
		    e.code == EP_EXIT_TEMPFAIL)) {
			ep_db_close(db);
			db = NULL;
			sdb = ep_db_open_timeout(o.db, password, 0, o.timeout,
			    &se);
			if (sdb == NULL)
				ep_err("cannot write the status row: %s",
				    se.msg);
		}
		msg = lrc < 0 ? ep_mask_secrets(e.msg) :
		    ep_xasprintf("%lu rows (%s)", res.rows,
		    mode_names[o.mode]);
		if (sdb != NULL && write_status(&o, sdb, lrc == 0 ?
		    "successful" : e.code == EP_EXIT_REFUSED ? "refused" :
		    "failed", &res, msg, &se) < 0) {
			if (lrc == 0) {
				e = se;
				goto fail;
			}
			ep_err("cannot write the status row: %s", se.msg);
		}
		if (sdb == db)
			sdb = NULL;
	}
	if (lrc < 0)
		goto fail;
	goto out;
fail:
	rc = ep_report(&e);
	if (rc == EP_EXIT_USAGE)
		ep_usage(usage_text, EP_EXIT_USAGE);
out:
	ep_db_close(sdb);
	ep_db_close(db);
	free(msg);
	free(password);
	for (size_t i = 0; i < o.nkeys; i++)
		free(o.keys[i]);
	free(o.keys);
	for (size_t i = 0; i < o.ntypes; i++) {
		free(o.type_col[i]);
		free(o.type_name[i]);
	}
	free(o.type_col);
	free(o.type_name);
	for (size_t i = 0; i < o.ntables; i++)
		free(o.tables[i]);
	free(o.tables);
	for (size_t i = 0; i < o.nsources; i++) {
		free(o.sources[i]);
		free(o.source_at[i]);
	}
	free(o.sources);
	free(o.source_at);
	for (size_t i = 0; i < o.nshrink; i++)
		free(o.shrink_tab[i]);
	free(o.shrink_tab);
	free(o.shrink_pct);
	free(o.bm_name);
	free(o.bm_field);
	if (ep_close_stdout() != 0 && rc == 0)
		rc = EP_EXIT_IOERR;
	return rc;
}

/* Split "a,b,c" into malloc'd names; an empty name is a usage error. */
static void
split_list(const char *usage, const char *opt, const char *arg,
    char ***out, size_t *n)
{
	const char *p = arg;

	for (;;) {
		size_t len = strcspn(p, ",");

		if (len == 0)
			ep_usage_error(usage, "%s '%s': an empty name", opt,
			    arg);
		*out = ep_xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = ep_xstrndup(p, len);
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
}

/* "a=int,b=date": the names are checked against the records later. */
static void
parse_types(struct opts *o, const char *arg)
{
	char **items = NULL;
	size_t n = 0;

	split_list(usage_text, "--types", arg, &items, &n);
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(items[i], '=');

		if (eq == NULL || eq == items[i] || eq[1] == '\0')
			ep_usage_error(usage_text, "--types '%s': expected "
			    "COL=TYPE", items[i]);
		o->type_col = ep_xrealloc(o->type_col, (o->ntypes + 1) *
		    sizeof(char *));
		o->type_name = ep_xrealloc(o->type_name, (o->ntypes + 1) *
		    sizeof(char *));
		o->type_col[o->ntypes] = ep_xstrndup(items[i],
		    (size_t)(eq - items[i]));
		o->type_name[o->ntypes] = ep_xstrdup(eq + 1);
		o->ntypes++;
		free(items[i]);
	}
	free(items);
}

static void
now_utc(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* -------------------------------------------------------- the table */

/*
 * The columns of table, or NULL with err (the table is missing or the
 * query failed).  *n columns; the array and names are malloc'd.
 */
static char **
table_columns(struct ep_db *db, const char *table, size_t *n,
    struct ep_error *err)
{
	char *q = ep_db_quote(db, table, true);
	char *sql = ep_xasprintf("SELECT * FROM %s WHERE 1 = 0", q);
	struct ep_rec *row = ep_rec_new();
	const char *const *cols;
	char **out = NULL;
	int r;

	*n = 0;
	r = ep_db_query(db, sql, NULL, 0, err);
	if (r == 0) {
		cols = ep_db_columns(db, n);
		out = ep_xcalloc(*n + 1, sizeof(char *));
		for (size_t i = 0; i < *n; i++)
			out[i] = ep_xstrdup(cols[i]);
		while ((r = ep_db_next(db, row, err)) == 1)
			;
		if (r < 0) {
			for (size_t i = 0; i < *n; i++)
				free(out[i]);
			free(out);
			out = NULL;
		}
	}
	ep_rec_free(row);
	free(sql);
	free(q);
	return out;
}

static void
free_list(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The table's spelling of name: exact, else one case-insensitive match. */
static const char *
find_column(char **cols, size_t n, const char *name)
{
	const char *found = NULL;
	int nfound = 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(cols[i], name) == 0)
			return cols[i];
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(cols[i], name) == 0) {
			found = cols[i];
			nfound++;
		}
	return nfound == 1 ? found : NULL;
}

/* CREATE TABLE from the first record's fields. */
static int
create_table(const struct opts *o, struct ep_db *db,
    const struct ep_rec *first, struct ep_error *err)
{
	char *buf = NULL, *q;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int rc;

	if (m == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	q = ep_db_quote(db, o->table, true);
	fprintf(m, "CREATE TABLE %s (", q);
	free(q);
	for (size_t i = 0; i < first->n; i++) {
		const char *name = first->f[i].name, *gen = "text", *type;
		bool key = false;

		for (size_t k = 0; k < o->ntypes; k++)
			if (strcmp(o->type_col[k], name) == 0)
				gen = o->type_name[k];
		for (size_t k = 0; k < o->nkeys; k++)
			key |= strcmp(o->keys[k], name) == 0;
		type = ep_db_type(db, gen, key);
		q = ep_db_quote(db, name, false);
		fprintf(m, "%s%s %s%s", i ? ", " : "", q, type,
		    key ? " NOT NULL" : "");
		free(q);
	}
	if (o->nkeys > 0) {
		fprintf(m, ", PRIMARY KEY (");
		for (size_t k = 0; k < o->nkeys; k++) {
			q = ep_db_quote(db, o->keys[k], false);
			fprintf(m, "%s%s", k ? ", " : "", q);
			free(q);
		}
		fprintf(m, ")");
	}
	fprintf(m, ")");
	fclose(m);
	rc = ep_db_exec(db, buf, err);
	free(buf);
	return rc;
}

/* -------------------------------------------------- duplicate keys */

/* A set of key tuples (with the line each came from), for upsert. */
struct keyset {
	struct kentry {
		uint64_t h;
		char *key;	/* the values, each ended by '\0' */
		size_t len;
		unsigned long line;
	} *e;
	size_t n, cap;
};

static uint64_t
fnv(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h | 1;
}

/* Add key; 0, or the line of an earlier record with the same key. */
static unsigned long
keyset_add(struct keyset *ks, const char *key, size_t len,
    unsigned long line)
{
	uint64_t h = fnv(key, len);
	size_t i;

	if (2 * (ks->n + 1) > ks->cap) {
		size_t ncap = ks->cap ? ks->cap * 2 : 1024;
		struct kentry *ne = ep_xcalloc(ncap, sizeof(*ne));

		for (size_t k = 0; k < ks->cap; k++) {
			if (ks->e[k].h == 0)
				continue;
			for (i = ks->e[k].h & (ncap - 1); ne[i].h != 0;
			    i = (i + 1) & (ncap - 1))
				;
			ne[i] = ks->e[k];
		}
		free(ks->e);
		ks->e = ne;
		ks->cap = ncap;
	}
	for (i = h & (ks->cap - 1); ks->e[i].h != 0;
	    i = (i + 1) & (ks->cap - 1))
		if (ks->e[i].h == h && ks->e[i].len == len &&
		    memcmp(ks->e[i].key, key, len) == 0)
			return ks->e[i].line;
	ks->e[i].h = h;
	ks->e[i].key = ep_xmalloc(len + 1);
	memcpy(ks->e[i].key, key, len);
	ks->e[i].len = len;
	ks->e[i].line = line;
	ks->n++;
	return 0;
}

static void
keyset_free(struct keyset *ks)
{
	for (size_t i = 0; i < ks->cap; i++)
		free(ks->e[i].key);
	free(ks->e);
}

/* ---------------------------------------------------------- loading */

struct loader {
	const struct opts *o;
	struct ep_reader *rd;
	int fi;			/* the input rd reads, in o->files */
	bool csv;
	char **names;		/* the loaded fields (first record's names) */
	const char **cols;	/* the table's spelling of each */
	long *pos;		/* first record's field k -> column or -1 */
	size_t nfirst, ncols;
	char **tcols;		/* the table's columns */
	size_t ntcols;
	size_t *keyidx;
	const struct ep_field **vals;
	struct keyset ks;
	char *kbuf;
	size_t kcap;
	uint32_t *lines;	/* the input line of each row, for COPY */
	uint32_t *lfiles;	/* and its input (index in o->files) */
	size_t nlines, linecap;
};

/* The name of input fi in messages ("-" reads as "stdin"). */
static const char *
input_name(const struct loader *l, int fi)
{
	if (l->o->nfiles == 0 || strcmp(l->o->files[fi], "-") == 0)
		return "stdin";
	return l->o->files[fi];
}

/* A location prefix for a message about a record of input fi. */
static void
locate_in(struct loader *l, int fi, unsigned long line,
    struct ep_error *err)
{
	char *msg = ep_xasprintf("%s:%lu: %s", input_name(l, fi), line,
	    err->msg);

	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	free(msg);
}

/* A location prefix for a message about the current record. */
static void
locate(struct loader *l, unsigned long line, struct ep_error *err)
{
	char *msg = ep_xasprintf("%s:%lu: %s", ep_reader_name(l->rd), line,
	    err->msg);

	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	free(msg);
}

/* The column index of a field of a record other than the first. */
static long
lookup(struct loader *l, const struct ep_rec *r, size_t k,
    struct ep_error *err)
{
	const char *name = r->f[k].name;
	unsigned long line = ep_reader_line(l->rd);

	if (k < l->nfirst && strcmp(name, l->names[k]) == 0)
		return l->pos[k];
	for (size_t i = 0; i < l->nfirst; i++)
		if (strcmp(name, l->names[i]) == 0)
			return l->pos[i];
	if (find_column(l->tcols, l->ntcols, name) != NULL) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: field '%s' was "
		    "not in the first record (db-load takes its columns from "
		    "the first record)", ep_reader_name(l->rd), line, name);
		return -2;
	}
	if (l->o->ignore_extra)
		return -1;
	ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: field '%s' is not a "
	    "column of table '%s' (use --ignore-extra to leave it out)",
	    ep_reader_name(l->rd), line, name, l->o->table);
	return -2;
}

/* Fill l->vals from r; check upsert keys.  0 or -1 with err. */
static int
row_values(struct loader *l, const struct ep_rec *r, struct ep_error *err)
{
	unsigned long line = ep_reader_line(l->rd), prev;
	size_t klen = 0;

	for (size_t i = 0; i < l->ncols; i++)
		l->vals[i] = NULL;
	for (size_t k = 0; k < r->n; k++) {
		const struct ep_field *f = &r->f[k];
		long c = lookup(l, r, k, err);

		if (c == -2)
			return -1;
		if (c < 0)
			continue;
		/* CSV has no NULL: an empty field is one, as in COPY. */
		if (l->csv && f->vlen == 0)
			continue;
		l->vals[c] = f;
	}
	if (l->o->mode != M_UPSERT)
		return 0;
	for (size_t k = 0; k < l->o->nkeys; k++) {
		const struct ep_field *f = l->vals[l->keyidx[k]];

		if (f == NULL || f->type == EP_T_NULL) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: key field "
			    "'%s' is missing or null", ep_reader_name(l->rd),
			    line, l->o->keys[k]);
			return -1;
		}
		if (klen + f->vlen + 1 > l->kcap) {
			l->kcap = (klen + f->vlen + 1) * 2;
			l->kbuf = ep_xrealloc(l->kbuf, l->kcap);
		}
		memcpy(l->kbuf + klen, f->val, f->vlen + 1);
		klen += f->vlen + 1;
	}
	/* The line, with the input's index above bit 40. */
	prev = keyset_add(&l->ks, l->kbuf, klen,
	    line | (unsigned long)l->fi << 40);
	if (prev != 0 && (int)(prev >> 40) == l->fi) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: the key of this "
		    "record repeats the record of line %lu",
		    ep_reader_name(l->rd), line, prev & ((1UL << 40) - 1));
		return -1;
	}
	if (prev != 0) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: the key of this "
		    "record repeats the record of %s:%lu",
		    ep_reader_name(l->rd), line,
		    input_name(l, (int)(prev >> 40)),
		    prev & ((1UL << 40) - 1));
		return -1;
	}
	return 0;
}

/*
 * Work out the loaded columns from the first record and the table's
 * columns.  0 or -1 with err.
 */
static int
plan_columns(struct loader *l, const struct ep_rec *first,
    struct ep_error *err)
{
	const struct opts *o = l->o;
	char *extra = NULL;
	size_t elen = 0;
	FILE *m = NULL;

	l->nfirst = first->n;
	l->names = ep_xcalloc(first->n + 1, sizeof(char *));
	l->pos = ep_xcalloc(first->n + 1, sizeof(long));
	l->cols = ep_xcalloc(first->n + 1, sizeof(char *));
	for (size_t k = 0; k < first->n; k++) {
		const char *name = first->f[k].name;
		const char *col = find_column(l->tcols, l->ntcols, name);

		l->names[k] = ep_xstrdup(name);
		for (size_t i = 0; i < k; i++)
			if (col != NULL && l->cols[l->pos[i]] == col) {
				ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: "
				    "fields '%s' and '%s' are both column "
				    "'%s'", ep_reader_name(l->rd),
				    ep_reader_line(l->rd), l->names[i], name,
				    col);
				return -1;
			}
		if (col == NULL) {
			l->pos[k] = -1;
			if (m == NULL) {
				m = open_memstream(&extra, &elen);
				if (m == NULL)
					ep_die(EP_EXIT_NOMEM, "out of memory");
			} else {
				fputs(", ", m);
			}
			fprintf(m, "'%s'", name);
			continue;
		}
		l->pos[k] = (long)l->ncols;
		l->cols[l->ncols++] = col;
	}
	if (m != NULL)
		fclose(m);
	if (extra != NULL && !o->ignore_extra) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: table '%s' has no "
		    "column for field%s %s (use --ignore-extra to leave %s "
		    "out)", ep_reader_name(l->rd), ep_reader_line(l->rd),
		    o->table, strchr(extra, ',') ? "s" : "", extra,
		    strchr(extra, ',') ? "them" : "it");
		free(extra);
		return -1;
	}
	if (extra != NULL)
		ep_info(1, "leaving out field(s) %s", extra);
	free(extra);
	if (l->ncols == 0) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: no field of the "
		    "record is a column of table '%s'", ep_reader_name(l->rd),
		    ep_reader_line(l->rd), o->table);
		return -1;
	}
	l->keyidx = ep_xcalloc(o->nkeys + 1, sizeof(size_t));
	for (size_t k = 0; k < o->nkeys && o->mode == M_UPSERT; k++) {
		const char *col = find_column(l->tcols, l->ntcols, o->keys[k]);
		size_t i;

		for (i = 0; i < l->ncols; i++)
			if (col != NULL && l->cols[i] == col)
				break;
		if (i == l->ncols) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: key '%s' "
			    "is not a field of the record%s",
			    ep_reader_name(l->rd), ep_reader_line(l->rd),
			    o->keys[k], col == NULL ? " nor a column of the "
			    "table" : "");
			return -1;
		}
		l->keyidx[k] = i;
	}
	l->vals = ep_xcalloc(l->ncols + 1, sizeof(*l->vals));
	return 0;
}

/* Check --types and --key against the fields of the first record. */
static int
check_create(const struct opts *o, struct ep_db *db,
    const struct ep_rec *first, struct ep_error *err)
{
	for (size_t k = 0; k < o->ntypes; k++) {
		if (ep_rec_get(first, o->type_col[k]) == NULL) {
			ep_error_set(err, EP_EXIT_DATAERR, "--types names "
			    "'%s', which the first record does not have",
			    o->type_col[k]);
			return -1;
		}
		if (ep_db_type(db, o->type_name[k], false) == NULL) {
			ep_error_set(err, EP_EXIT_USAGE, "--types: unknown "
			    "type '%s' (use text, int, bigint, numeric, "
			    "float, date, timestamp or bool)",
			    o->type_name[k]);
			return -1;
		}
	}
	for (size_t k = 0; k < o->nkeys; k++)
		if (ep_rec_get(first, o->keys[k]) == NULL) {
			ep_error_set(err, EP_EXIT_DATAERR, "--key names '%s', "
			    "which the first record does not have",
			    o->keys[k]);
			return -1;
		}
	return 0;
}

static void
remember_line(struct loader *l, unsigned long line)
{
	if (l->nlines == l->linecap) {
		l->linecap = l->linecap ? l->linecap * 2 : 4096;
		l->lines = ep_xrealloc(l->lines, l->linecap *
		    sizeof(*l->lines));
		l->lfiles = ep_xrealloc(l->lfiles, l->linecap *
		    sizeof(*l->lfiles));
	}
	l->lfiles[l->nlines] = (uint32_t)l->fi;
	l->lines[l->nlines++] = line > UINT32_MAX ? 0 : (uint32_t)line;
}

static void
loader_free(struct loader *l)
{
	free_list(l->names, l->nfirst);
	free(l->pos);
	free(l->cols);
	free_list(l->tcols, l->ntcols);
	free(l->keyidx);
	free(l->vals);
	keyset_free(&l->ks);
	free(l->kbuf);
	free(l->lines);
	free(l->lfiles);
	ep_reader_free(l->rd);
}

/*
 * Read every record and load it in one transaction.  0 with res->rows,
 * or -1 with err after a rollback.
 */
/* The rows of table now: 0 with *n, or -1 with err. */
static int
count_rows(struct ep_db *db, const char *table, unsigned long long *n,
    struct ep_error *err)
{
	char *q = ep_db_quote(db, table, true);
	char *sql = ep_xasprintf("SELECT count(*) AS n FROM %s", q);
	struct ep_rec *row = ep_rec_new();
	const char *v;
	int r;

	*n = 0;
	r = ep_db_query(db, sql, NULL, 0, err);
	if (r == 0)
		r = ep_db_next(db, row, err);
	if (r == 1) {
		v = ep_rec_str(row, "n");
		if (v == NULL && row->n == 1)
			v = row->f[0].val;	/* a driver that renames it */
		*n = v ? strtoull(v, NULL, 10) : 0;
		while ((r = ep_db_next(db, row, err)) == 1)
			;
	} else if (r == 0) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "counting the rows of "
		    "'%s' returned no row", table);
		r = -1;
	}
	ep_rec_free(row);
	free(sql);
	free(q);
	return r < 0 ? -1 : 0;
}

/*
 * Replace may shrink the table by at most o->max_shrink percent: 0, or
 * -1 with err (3) when new rows out of old are too few.
 */
static int
check_shrink(const struct opts *o, unsigned long long old,
    unsigned long long new, struct ep_error *err)
{
	if (o->max_shrink >= 100 || new >= old ||
	    new * 100 >= old * (100 - o->max_shrink))
		return 0;
	ep_error_set(err, EP_EXIT_REFUSED, "refusing to replace the %llu "
	    "rows of table '%s' with %llu: --max-shrink %u allows no fewer "
	    "than %llu (nothing was changed)", old, o->table, new,
	    o->max_shrink, (old * (100 - o->max_shrink) + 99) / 100);
	return -1;
}

/*
 * The next record of the inputs, read in order: 1, 0 after the last
 * input's end, -1 with err.  The last reader stays open for messages.
 */
static int
next_record(struct loader *l, struct ep_rec *rec, struct ep_error *err)
{
	static char *stdin_only[] = { "-" };
	char **files = l->o->nfiles > 0 ? l->o->files : stdin_only;
	int nfiles = l->o->nfiles > 0 ? l->o->nfiles : 1, r;

	for (;;) {
		if (l->rd == NULL && (l->rd = ep_reader_open(files[l->fi],
		    l->o->fmt, err)) == NULL)
			return -1;
		if ((r = ep_reader_next(l->rd, rec, err)) != 0) {
			/* CSV has no NULL: its empty field is one. */
			l->csv = ep_reader_format(l->rd) == EP_FMT_CSV;
			return r;
		}
		if (l->fi + 1 >= nfiles)
			return 0;
		ep_reader_free(l->rd);
		l->rd = NULL;
		l->fi++;
	}
}

static int
load(const struct opts *o, struct ep_db *db, struct outcome *res,
    struct ep_error *err)
{
	struct loader l = { .o = o };
	struct ep_rec *rec = ep_rec_new();
	struct ep_db_load *ld = NULL;
	struct ep_error te = { 0 };
	unsigned long rows = 0, bad = 0;
	unsigned long long old_rows = 0;
	bool in_tx = false, exists, bm_num = true;
	char *bm_max = NULL;	/* --bookmark: the largest value so far */
	int rc = -1, r;
	struct ep_prog *pg = ep_prog_new("rows");

	r = next_record(&l, rec, err);
	if (r < 0)
		goto done;
	if (r == 0 && o->mode == M_REPLACE && !o->allow_empty) {
		ep_error_set(err, EP_EXIT_REFUSED, "refusing to empty table "
		    "'%s': the input holds no records (use --allow-empty, "
		    "and --max-shrink 100 when the table has rows)", o->table);
		goto done;
	}
	if (r == 0 && o->mode != M_REPLACE) {
		ep_info(1, "no records: nothing to load");
		rc = 0;
		goto done;
	}
	if (r == 1 && o->create && check_create(o, db, rec, err) < 0)
		goto done;
	/* Look before the transaction: a failed statement inside one
	 * aborts it in PostgreSQL. */
	if (o->bm_name != NULL && r == 1 && bookmark_table(db, err) < 0)
		goto done;
	l.tcols = table_columns(db, o->table, &l.ntcols, &te);
	exists = l.tcols != NULL;
	if (!exists && (!o->create || r == 0 ||
	    te.code != EP_EXIT_DATAERR)) {
		*err = te;
		goto done;
	}
	if (!o->outer) {
		if (ep_db_begin(db, err) < 0)
			goto done;
		in_tx = true;
	}
	if (!exists) {
		if (create_table(o, db, rec, err) < 0)
			goto done;
		l.tcols = table_columns(db, o->table, &l.ntcols, err);
		if (l.tcols == NULL)
			goto done;
		ep_info(1, "created table '%s'", o->table);
	}
	if (o->mode == M_REPLACE && o->outer) {
		old_rows = o->old_rows;	/* load_all deleted them */
	} else if (o->mode == M_REPLACE) {
		char *q, *sql;

		/* Counted inside the transaction, so the count is what the
		 * DELETE removes. */
		if (exists && o->max_shrink < 100 &&
		    count_rows(db, o->table, &old_rows, err) < 0)
			goto done;
		q = ep_db_quote(db, o->table, true);
		sql = ep_xasprintf("DELETE FROM %s", q);
		r = ep_db_exec(db, sql, err) < 0 ? -1 : r;
		free(sql);
		free(q);
		if (r < 0)
			goto done;
	}
	if (r == 1) {
		if (plan_columns(&l, rec, err) < 0)
			goto done;
		/* Keys in the table's spelling, in --key order. */
		const char **keys = ep_xcalloc(o->nkeys + 1, sizeof(char *));
		size_t nk = o->mode == M_UPSERT ? o->nkeys : 0;

		for (size_t k = 0; k < nk; k++)
			keys[k] = l.cols[l.keyidx[k]];
		ld = ep_db_load_begin(db, o->table, l.cols, l.ncols, keys, nk,
		    err);
		free(keys);
		if (ld == NULL)
			goto done;
	}
	while (r == 1) {
		unsigned long line = ep_reader_line(l.rd);

		if (row_values(&l, rec, err) < 0)
			goto done;
		remember_line(&l, line);
		if (o->bm_name != NULL)
			bookmark_see(&bm_max, &bm_num, rec, o->bm_field);
		if (ep_db_load_row(ld, l.vals, err) < 0) {
			if (err->code == EP_EXIT_DATAERR)
				locate(&l, line, err);
			goto done;
		}
		rows++;
		ep_prog_add(pg, 1, 0);
		r = next_record(&l, rec, err);
	}
	if (r < 0)
		goto done;
	if (ld != NULL) {
		r = ep_db_load_end(ld, &bad, err);
		ep_db_load_free(ld);
		ld = NULL;
		if (r < 0) {
			if (bad > 0 && bad <= l.nlines && l.lines[bad - 1] &&
			    err->code == EP_EXIT_DATAERR)
				locate_in(&l, (int)l.lfiles[bad - 1],
				    l.lines[bad - 1], err);
			goto done;
		}
	}
	if (o->mode == M_REPLACE && check_shrink(o, old_rows, rows, err) < 0)
		goto done;
	if (bm_max != NULL && bookmark_save(o, db, bm_max, bm_num, err) < 0)
		goto done;
	if (!o->outer && ep_db_commit(db, err) < 0)
		goto done;
	in_tx = false;
	res->rows = rows;
	ep_prog_end(pg, "%lu rows loaded into '%s'", rows, o->table);
	pg = NULL;
	ep_info(1, "%lu rows loaded into '%s' (%s)", rows, o->table,
	    mode_names[o->mode]);
	rc = 0;
done:
	ep_prog_free(pg);
	ep_db_load_free(ld);
	if (in_tx && ep_db_rollback(db, &te) < 0)
		ep_info(1, "rollback: %s", te.msg);
	ep_rec_free(rec);
	loader_free(&l);
	free(bm_max);
	return rc;
}

/* ----------------------------------------------------------- status */

static int
write_status(const struct opts *o, struct ep_db *db, const char *status,
    const struct outcome *res, const char *message, struct ep_error *err)
{
	static const char *const cols[] = { "job", "table_name", "status",
	    "rows", "started_at", "finished_at", "message" };
	static const char *const types[] = { "text", "text", "text",
	    "bigint", "timestamp", "timestamp", "text" };
	struct ep_error te = { 0 };
	char rows[32], *q, *sql, *buf = NULL, *qc[7];
	size_t ncols = 0, len = 0;
	char **have;
	FILE *m;
	int rc = -1;

	snprintf(rows, sizeof(rows), "%lu", res->rows);
	struct ep_db_param p[] = {
		{ "job", o->job }, { "table_name", o->table },
		{ "status", status }, { "rows", rows },
		{ "started_at", res->started },
		{ "finished_at", res->finished }, { "message", message },
	};

	q = ep_db_quote(db, o->status_table, true);
	for (size_t i = 0; i < 7; i++)
		qc[i] = ep_db_quote(db, cols[i], false);
	have = table_columns(db, o->status_table, &ncols, &te);
	if (have == NULL && te.code != EP_EXIT_DATAERR) {
		*err = te;
		goto done;
	}
	if (ep_db_begin(db, err) < 0)
		goto done;
	if (have == NULL) {
		m = open_memstream(&buf, &len);
		if (m == NULL)
			ep_die(EP_EXIT_NOMEM, "out of memory");
		fprintf(m, "CREATE TABLE %s (", q);
		for (size_t i = 0; i < 7; i++)
			fprintf(m, "%s%s %s", i ? ", " : "", qc[i],
			    ep_db_type(db, types[i], false));
		fprintf(m, ")");
		fclose(m);
		if (ep_db_exec(db, buf, err) < 0)
			goto rollback;
	}
	sql = ep_xasprintf("INSERT INTO %s (%s, %s, %s, %s, %s, %s, %s) "
	    "VALUES (:job, :table_name, :status, :rows, :started_at, "
	    ":finished_at, :message)", q, qc[0], qc[1], qc[2], qc[3], qc[4],
	    qc[5], qc[6]);
	rc = ep_db_exec_params(db, sql, p, 7, err);
	free(sql);
	if (rc == 0)
		rc = ep_db_commit(db, err);
	if (rc == 0)
		goto done;
rollback:
	rc = -1;
	ep_db_rollback(db, &te);
done:
	if (rc < 0 && err->code != 0) {
		char *msg = ep_xasprintf("status table '%s': %s",
		    o->status_table, err->msg);

		snprintf(err->msg, sizeof(err->msg), "%s", msg);
		free(msg);
	}
	free_list(have, ncols);
	for (size_t i = 0; i < 7; i++)
		free(qc[i]);
	free(q);
	free(buf);
	return rc;
}

/* ------------------------------------------------ several tables, runs */

/*
 * A UTC time as YYYY-MM-DD HH:MM:SS, from that or the ISO 8601 form
 * YYYY-MM-DDTHH:MM:SS[Z]; anything else is a usage error.
 */
static void
parse_time(const char *opt, const char *arg, char *buf, size_t size)
{
	int y, mo, d, h, mi, s, n = 0;

	if (sscanf(arg, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%n", &y, &mo, &d, &h,
	    &mi, &s, &n) != 6 || (arg[n] != '\0' && strcmp(arg + n, "Z")
	    != 0) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || s > 60 || y < 1 || h < 0 || mi < 0 || s < 0)
		ep_usage_error(usage_text, "%s '%s': expected a UTC time, "
		    "YYYY-MM-DDTHH:MM:SSZ", opt, arg);
	snprintf(buf, size, "%04u-%02u-%02u %02u:%02u:%02u",
	    (unsigned)y % 10000, (unsigned)mo % 100, (unsigned)d % 100,
	    (unsigned)h % 100, (unsigned)mi % 100, (unsigned)s % 100);
}

/* --source NAME[=TIME]: the time is "" when not given. */
static void
add_source(struct opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	char at[32] = "";

	if (len == 0)
		ep_usage_error(usage_text, "--source '%s': an empty name", arg);
	if (eq != NULL)
		parse_time("--source", eq + 1, at, sizeof(at));
	o->sources = ep_xrealloc(o->sources, (o->nsources + 1) *
	    sizeof(char *));
	o->source_at = ep_xrealloc(o->source_at, (o->nsources + 1) *
	    sizeof(char *));
	o->sources[o->nsources] = ep_xstrndup(arg, len);
	o->source_at[o->nsources++] = ep_xstrdup(at);
}

/* --max-shrink TABLE=PCT: that table's limit, with --tables. */
static void
add_shrink(struct opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (eq == arg)
		ep_usage_error(usage_text, "--max-shrink '%s': an empty table "
		    "name", arg);
	o->shrink_tab = ep_xrealloc(o->shrink_tab, (o->nshrink + 1) *
	    sizeof(char *));
	o->shrink_pct = ep_xrealloc(o->shrink_pct, (o->nshrink + 1) *
	    sizeof(unsigned));
	o->shrink_tab[o->nshrink] = ep_xstrndup(arg, (size_t)(eq - arg));
	o->shrink_pct[o->nshrink++] = (unsigned)ep_cli_long(usage_text,
	    "--max-shrink", eq + 1, 100);
}

/* The --max-shrink of table: its own TABLE=PCT, else the general one. */
static unsigned
shrink_of(const struct opts *o, const char *table)
{
	unsigned pct = o->max_shrink;

	for (size_t i = 0; i < o->nshrink; i++)
		if (strcmp(o->shrink_tab[i], table) == 0)
			pct = o->shrink_pct[i];
	return pct;
}

/*
 * The seed's job_run row and a data_source_status row per --source.  A
 * successful run's sources carry their time (default: finished); a
 * failed run's keep the time of the source's last successful run (NULL
 * when it never had one): its data in the tables is still that old.  The
 * new job_run id is read back as the largest of the job's, inside the
 * transaction (the scripts hold a lock per job).  With own_tx, in a
 * transaction of its own; else in the caller's.
 */
static int
write_job_run(const struct opts *o, struct ep_db *db, bool ok,
    const struct outcome *res, bool own_tx, struct ep_error *err)
{
	struct ep_error te = { 0 };
	const char *status = ok ? "successful" : "failed";
	int rc = -1;
	struct ep_db_param p[] = {
		{ "job", o->job_run }, { "started", o->run_started },
		{ "finished", res->finished }, { "status", status },
		{ "src", NULL }, { "at", NULL }, { "src2", NULL },
	};

	if (own_tx && ep_db_begin(db, err) < 0)
		goto done;
	if (ep_db_exec_params(db, "INSERT INTO job_run (job_name, "
	    "started_at, finished_at, status) VALUES (:job, :started, "
	    ":finished, :status)", p, 4, err) < 0)
		goto rollback;
	for (size_t i = 0; i < o->nsources; i++) {
		/* Two names for one value: PostgreSQL deduces each
		 * parameter's type from its first use, and the select list
		 * and the comparison would differ. */
		p[4].value = p[6].value = o->sources[i];
		p[5].value = o->source_at[i][0] ? o->source_at[i] :
		    res->finished;
		if (ok ? ep_db_exec_params(db, "INSERT INTO data_source_status "
		    "(data_source_name, data_updated_at, job_run_id) SELECT "
		    ":src, :at, max(id) FROM job_run WHERE job_name = :job",
		    (struct ep_db_param[]){ p[4], p[5], p[0] }, 3, err) :
		    ep_db_exec_params(db, "INSERT INTO data_source_status "
		    "(data_source_name, data_updated_at, job_run_id) SELECT "
		    ":src, (SELECT d.data_updated_at FROM data_source_status d "
		    "JOIN job_run j ON j.id = d.job_run_id WHERE "
		    "d.data_source_name = :src2 AND j.status = 'successful' "
		    "ORDER BY d.id DESC LIMIT 1), max(id) FROM job_run WHERE "
		    "job_name = :job", (struct ep_db_param[]){ p[4], p[6], p[0] }, 3,
		    err) < 0)
			goto rollback;
	}
	if (own_tx && ep_db_commit(db, err) < 0)
		goto rollback;
	rc = 0;
	goto done;
rollback:
	if (own_tx)
		ep_db_rollback(db, &te);
done:
	if (rc < 0) {
		char *msg = ep_xasprintf("job_run of '%s': %s", o->job_run,
		    err->msg);

		snprintf(err->msg, sizeof(err->msg), "%s", msg);
		free(msg);
	}
	return rc;
}

/*
 * --tables: every table's load in one transaction, so the run's tables
 * change together or not at all (readers see the old rows until the
 * commit; MySQL/MariaDB InnoDB, PostgreSQL and SQLite alike, with no
 * DDL inside).  Replace counts and deletes the old rows first, from the
 * last table to the first (children before the parents their foreign
 * keys name), then loads in order.  With --job-run the run's rows go in
 * the same transaction on success, in one of their own after a
 * rollback.
 */
static int
load_all(const struct opts *o, struct ep_db *db, struct outcome *res,
    struct ep_error *err)
{
	unsigned long long *old = ep_xcalloc(o->ntables + 1, sizeof(*old));
	struct ep_error te = { 0 };
	bool in_tx = false;
	int rc = -1;

	/* Each table must exist before the transaction (a failed statement
	 * aborts one in PostgreSQL); load() looks again for its columns. */
	for (size_t i = 0; i < o->ntables; i++) {
		size_t n = 0;
		char **cols = table_columns(db, o->tables[i], &n, err);

		if (cols == NULL)
			goto done;
		free_list(cols, n);
	}
	if (ep_db_begin(db, err) < 0)
		goto done;
	in_tx = true;
	for (size_t i = o->ntables; i-- > 0 && o->mode == M_REPLACE;) {
		char *q = ep_db_quote(db, o->tables[i], true);
		char *sql = ep_xasprintf("DELETE FROM %s", q);
		int r = 0;

		if (shrink_of(o, o->tables[i]) < 100)
			r = count_rows(db, o->tables[i], &old[i], err);
		if (r == 0)
			r = ep_db_exec(db, sql, err);
		free(sql);
		free(q);
		if (r < 0)
			goto done;
	}
	for (size_t i = 0; i < o->ntables; i++) {
		struct opts t = *o;
		struct outcome one = { 0 };

		t.table = o->tables[i];
		t.files = &o->files[i];
		t.nfiles = 1;
		t.outer = true;
		t.old_rows = old[i];
		t.max_shrink = shrink_of(o, t.table);
		/* TABLE=100 lets that table be emptied, as scripts'
		 * ep_shrink_args adds --allow-empty to --max-shrink 100. */
		for (size_t k = 0; k < o->nshrink; k++)
			if (strcmp(o->shrink_tab[k], t.table) == 0)
				t.allow_empty |= o->shrink_pct[k] >= 100;
		if (load(&t, db, &one, err) < 0)
			goto done;
		res->rows += one.rows;
	}
	now_utc(res->finished, sizeof(res->finished));
	if (o->job_run != NULL && write_job_run(o, db, true, res, false,
	    err) < 0)
		goto done;
	if (ep_db_commit(db, err) < 0)
		goto done;
	in_tx = false;
	ep_info(1, "%lu rows loaded into %zu tables in one transaction",
	    res->rows, o->ntables);
	rc = 0;
done:
	if (in_tx && ep_db_rollback(db, &te) < 0)
		ep_info(1, "rollback: %s", te.msg);
	free(old);
	if (rc < 0 && o->job_run != NULL) {
		now_utc(res->finished, sizeof(res->finished));
		/* After a lost connection the row cannot be written here. */
		if (err->code != EP_EXIT_UNAVAILABLE &&
		    err->code != EP_EXIT_TEMPFAIL &&
		    write_job_run(o, db, false, res, true, &te) < 0)
			ep_err("cannot record the failed run: %s", te.msg);
	}
	return rc;
}

/* ------------------------------------------------------- bookmarks */

/*
 * --bookmark NAME=FIELD: incremental loads.  The largest FIELD of the
 * records a load committed is kept as bookmark NAME in the table
 * edpipe_bookmark (name, value, updated_at), written in the load's own
 * transaction: the rows and the bookmark commit together, or neither
 * does, so a job that fetches "since the bookmark" neither skips nor
 * counts twice.  Values compare as numbers when every one is a JSON
 * number, else as text (ISO 8601 UTC times sort so); the bookmark never
 * moves back, and a load of no records leaves it.  Read it with
 * sis-extract --sql "SELECT value FROM edpipe_bookmark WHERE name = ...".
 */
static int
bookmark_table(struct ep_db *db, struct ep_error *err)
{
	struct ep_error te = { 0 };
	size_t n = 0;
	char **cols = table_columns(db, "edpipe_bookmark", &n, &te);
	char *sql;
	int r;

	if (cols != NULL) {
		free_list(cols, n);
		return 0;
	}
	/* Made outside the load's transaction: a failed statement aborts
	 * one in PostgreSQL, and MySQL commits DDL at once anyway. */
	sql = ep_xasprintf("CREATE TABLE edpipe_bookmark (name %s NOT NULL "
	    "PRIMARY KEY, value %s, updated_at %s)",
	    ep_db_type(db, "text", true), ep_db_type(db, "text", false),
	    ep_db_type(db, "timestamp", false));
	r = ep_db_exec(db, sql, err);
	free(sql);
	return r;
}

/* Is a larger than b?  Numbers when num, else bytes. */
static bool
bookmark_above(const char *a, const char *b, bool num)
{
	if (num) {
		long double x = strtold(a, NULL), y = strtold(b, NULL);

		return x > y;
	}
	return strcmp(a, b) > 0;
}

static void
bookmark_see(char **max, bool *num, const struct ep_rec *r,
    const char *field)
{
	const struct ep_field *f = ep_rec_get(r, field);

	if (f == NULL || f->type == EP_T_NULL || f->val == NULL)
		return;
	if (f->type != EP_T_NUM)
		*num = false;
	if (*max == NULL || bookmark_above(f->val, *max, *num)) {
		free(*max);
		*max = ep_xstrdup(f->val);
	}
}

static int
bookmark_save(const struct opts *o, struct ep_db *db, const char *max,
    bool num, struct ep_error *err)
{
	struct ep_rec *row = ep_rec_new();
	struct ep_db_param p[] = { { "name", o->bm_name }, { "value", max },
	    { "at", NULL } };
	char now[32];
	const char *old = NULL;
	char *keep = NULL;
	int r;

	now_utc(now, sizeof(now));
	p[2].value = now;
	r = ep_db_query(db, "SELECT value FROM edpipe_bookmark WHERE name = "
	    ":name", p, 1, err);
	while (r == 0 && (r = ep_db_next(db, row, err)) == 1)
		if (row->n > 0 && row->f[0].val != NULL && keep == NULL)
			keep = ep_xstrdup(row->f[0].val);
	old = keep;
	if (r < 0)
		goto done;
	r = 0;
	if (old != NULL && !bookmark_above(max, old, num &&
	    strspn(old, "+-0123456789.eE") == strlen(old))) {
		ep_info(1, "bookmark '%s' stays at %s", o->bm_name, old);
		goto done;
	}
	if (old != NULL)
		r = ep_db_exec_params(db, "UPDATE edpipe_bookmark SET value = "
		    ":value, updated_at = :at WHERE name = :name", p, 3, err);
	else
		r = ep_db_exec_params(db, "INSERT INTO edpipe_bookmark (name, "
		    "value, updated_at) VALUES (:name, :value, :at)", p, 3,
		    err);
	if (r == 0)
		ep_info(1, "bookmark '%s' now %s", o->bm_name, max);
done:
	if (r < 0) {
		char *msg = ep_xasprintf("bookmark '%s': %s", o->bm_name,
		    err->msg);

		snprintf(err->msg, sizeof(err->msg), "%s", msg);
		free(msg);
	}
	free(keep);
	ep_rec_free(row);
	return r < 0 ? -1 : 0;
}
