/*
 * sis-extract - run one SQL query against the SIS database and write its
 * rows as records (NDJSON, CSV or SQL*Loader .dat).
 *
 * The query names its parameters ":name"; each is bound from --param
 * name=VALUE by the database driver, never pasted into the SQL.  A
 * parameter used but not given, or given but not used, is a usage error.
 *
 * With --mapping (the mdlpipeline course mapping, see mapping.h) the query
 * returns SIS rows with a course code column and a section column; only
 * rows of mapped courses (and of the mapped section, where the entry names
 * one) are kept, and each is written once per Moodle course it maps to:
 * the course column becomes `course` = the Moodle shortname, the section
 * column `section` = the mapped section or "" (an unsectioned Moodle
 * course, as mdlpipeline blanked it), and `course_id` (the Moodle id) and
 * `sis_course` (the SIS code) are appended.  Records that come out
 * identical but for sis_course (one student in two sections of an
 * unsectioned course, or in two cross-listed SIS courses of one Moodle
 * course) are written once, the first in the query's order.
 *
 * With --provenance each record ends with `sis_row`, "QUERY:N": the query
 * file's name (without its folders; "sql" for --sql, "stdin" for -) and
 * the row's number in the query's result, from 1, before the mapping
 * (each record a row maps to has the row's number): which SIS row made
 * the record, carried by enroll-diff into the changes and the audit log.
 * With --program-column NAME the rows are matched against the mapping's
 * program entries instead, on the query's column NAME (the seed's
 * non-academic courses: everyone in a SIS program); that column becomes
 * `course` and `sis_program` is appended instead of `sis_course`.
 *
 * Output goes to an atomic file or a spooled stdout: a run that fails half
 * way (SQL error, lost connection) passes nothing on, and the record count
 * (-v) is printed only after the last row.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "cli.h"
#include "dat.h"
#include "db.h"
#include "mapping.h"
#include "progress.h"
#include "rec.h"
#include "secret.h"

static const char usage_text[] =
"usage: sis-extract --db URL (--query FILE | --sql TEXT) [--param NAME=VALUE]...\n"
"                   [--mapping FILE [--course-column NAME]\n"
"                   [--section-column NAME] [--program-column NAME]]\n"
"                   [-t ndjson|csv|dat]\n"
"                   [-o PATH [--ctl TABLE [--ctl-mode MODE]\n"
"                   [--ctl-date COL=MASK]...]] [--password-file FILE]\n"
"                   [--timeout SECONDS] [--provenance] [-v | -q]\n"
"\n"
"Run a query against the SIS database and write its rows as records.\n"
"\n"
"  --db URL              sqlite:PATH, postgres://USER@HOST[:PORT]/DB,\n"
"                        mssql://USER@HOST[:PORT]/DB,\n"
"                        mysql://USER@HOST[:PORT]/DB or odbc:DSN\n"
"                        (no password in it)\n"
"  --query FILE          the SQL to run, from FILE (- for stdin)\n"
"  --sql TEXT            the SQL to run, given inline\n"
"  --param NAME=VALUE    bind :NAME in the query to VALUE (repeatable)\n"
"  --mapping FILE        keep rows of mapped courses, one record per Moodle\n"
"                        course, with course, course_id and sis_course\n"
"  --course-column NAME  the query's SIS course column (default course)\n"
"  --section-column NAME the query's section column (default section)\n"
"  --program-column NAME match the mapping's program entries on the\n"
"                        query's column NAME, not courses on the course\n"
"                        column; sis_program is appended\n"
"  -t, --to F            ndjson (default), csv, or dat (SQL*Loader)\n"
"  -o, --output PATH     write to PATH atomically (default stdout)\n"
"  --ctl TABLE           with -t dat: also write PATH's .ctl for TABLE\n"
"                        (with BADFILE PATH's .bad)\n"
"  --ctl-mode MODE       the .ctl's load mode: APPEND (default), INSERT,\n"
"                        REPLACE or TRUNCATE\n"
"  --ctl-date COL=MASK   the .ctl reads COL as DATE \"MASK\" (TIMESTAMP\n"
"                        when MASK has FF), e.g. born=YYYY-MM-DD\n"
"  --password-file FILE  the database password (else SIS_PASSWORD)\n"
"  --timeout SECONDS     the longest the query may run or the database\n"
"                        stay silent (default 300)\n"
"  --provenance          end each record with sis_row, QUERY:N (the query\n"
"                        file's name and the row's number in its result)\n"
"      --output-format FMT  deprecated: use -t/--to (so is -o FMT\n"
"                       when FMT is a format name: ndjson, csv, ...)\n"
"  -v, --verbose         the record count and detail on stderr\n"
"  -q, --quiet           only errors on stderr\n"
"      --progress        rows, rate and time on stderr (default when\n"
"                        stderr is a terminal); --no-progress turns it\n"
"                        off, and so does -q\n"
"  -h, --help            this help\n"
"      --version         the version\n"
"\n"
"Exit: 0 ok, 2 usage, 65 SQL or data error (a NUL in a text value too),\n"
"66 missing file, 69 database unreachable or lost, 74 write error, 75\n"
"timed out, 77 login refused, 78 bad URL.\n";

enum {
	OPT_DB = EP_OPT_FIRST_PROGRAM,
	OPT_QUERY, OPT_SQL, OPT_PARAM, OPT_MAPPING, OPT_COURSE_COL,
	OPT_SECTION_COL, OPT_PROGRAM_COL, OPT_CTL, OPT_PASSWORD_FILE, OPT_TIMEOUT,
	OPT_PROVENANCE, OPT_CTL_MODE, OPT_CTL_DATE
};

enum outfmt { OUT_NDJSON, OUT_CSV, OUT_DAT };

struct opts {
	const char *db, *query_file, *sql, *mapping, *output, *ctl;
	const char *ctl_mode;	/* NULL: APPEND */
	const char **ctl_dates, **ctl_masks;	/* --ctl-date COL=MASK */
	size_t nctl_dates;
	const char *course_col, *section_col, *program_col, *password_file;
	struct ep_db_param *params;
	size_t nparams;
	enum outfmt fmt;
	unsigned timeout;	/* seconds */
	const char *prov;	/* --provenance: the query's name, else NULL */
};

/* One SIS course code of the mapping and the entry it belongs to. */
struct key {
	const char *course;
	size_t entry;
};

/* What --mapping needs while rows go by. */
struct mapper {
	struct ep_mapping *m;
	struct key *keys;	/* sorted by course */
	size_t nkeys;
	long course_idx, section_idx;	/* in the result columns, or -1 */
	uint64_t *seen;		/* open-addressing set of record hashes */
	size_t nseen, seencap;
	unsigned long skipped, dups;
	struct ep_rec *out;
	const char *prov;	/* --provenance */
	const char *sis_name;	/* "sis_course" or "sis_program" */
};

/* A row count that the final message and the progress line share. */
struct counts {
	unsigned long rows, records;
};

static char *read_query(const char *path, struct ep_error *err);
static void parse_param(struct opts *o, const char *arg);
static void parse_ctl_date(struct opts *o, const char *arg);
static int run(struct opts *o, struct ep_db *db, const char *sql,
    struct ep_error *err);

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "query", required_argument, NULL, OPT_QUERY },
		{ "sql", required_argument, NULL, OPT_SQL },
		{ "param", required_argument, NULL, OPT_PARAM },
		{ "mapping", required_argument, NULL, OPT_MAPPING },
		{ "course-column", required_argument, NULL, OPT_COURSE_COL },
		{ "program-column", required_argument, NULL,
		    OPT_PROGRAM_COL },
		{ "section-column", required_argument, NULL, OPT_SECTION_COL },
		EP_TO_LONGOPTS,
		{ "ctl", required_argument, NULL, OPT_CTL },
		{ "ctl-mode", required_argument, NULL, OPT_CTL_MODE },
		{ "ctl-date", required_argument, NULL, OPT_CTL_DATE },
		{ "password-file", required_argument, NULL,
		    OPT_PASSWORD_FILE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "provenance", no_argument, NULL, OPT_PROVENANCE },
		EP_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .course_col = "course", .section_col = "section",
	    .fmt = OUT_NDJSON, .timeout = EP_DB_TIMEOUT_DEFAULT };
	struct ep_error e = { 0 };
	struct ep_db *db = NULL;
	char *sql = NULL, *password = NULL;
	int c, rc = 0;

	ep_cli_init(argc, argv);
	ep_cli_whole_secret_opts(argc, argv, longopts, usage_text);
	while ((c = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS EP_TO_SHORTOPTS,
	    longopts, NULL)) != -1)
		switch (c) {
		case OPT_DB: o.db = optarg; break;
		case OPT_QUERY: o.query_file = optarg; break;
		case OPT_SQL: o.sql = optarg; break;
		case OPT_PARAM: parse_param(&o, optarg); break;
		case OPT_MAPPING: o.mapping = optarg; break;
		case OPT_COURSE_COL: o.course_col = optarg; break;
		case OPT_SECTION_COL: o.section_col = optarg; break;
		case OPT_PROGRAM_COL: o.program_col = optarg; break;
		case OPT_CTL: o.ctl = optarg; break;
		case OPT_CTL_MODE: o.ctl_mode = optarg; break;
		case OPT_CTL_DATE: parse_ctl_date(&o, optarg); break;
		case OPT_PASSWORD_FILE: o.password_file = optarg; break;
		case OPT_TIMEOUT:
			o.timeout = ep_cli_seconds(usage_text, "--timeout",
			    optarg);
			break;
		case OPT_PROVENANCE: o.prov = ""; break;
		default:
			ep_cli_common(c, argv, usage_text);
		}
	if (ep_io.to == NULL)
		o.fmt = OUT_NDJSON;
	else if (strcmp(ep_io.to, "dat") == 0)
		o.fmt = OUT_DAT;
	else if (ep_fmt_parse(ep_io.to) == EP_FMT_CSV)
		o.fmt = OUT_CSV;
	else if (ep_fmt_parse(ep_io.to) == EP_FMT_NDJSON)
		o.fmt = OUT_NDJSON;
	else
		ep_usage_error(usage_text, "unknown output format '%s' (use "
		    "ndjson, csv or dat)", ep_io.to);
	o.output = ep_io.output;
	if (optind < argc)
		ep_usage_error(usage_text, "unexpected argument '%s'",
		    argv[optind]);
	if (o.db == NULL)
		ep_usage_error(usage_text, "--db is required");
	if ((o.query_file == NULL) == (o.sql == NULL))
		ep_usage_error(usage_text, "give exactly one of --query and "
		    "--sql");
	if (o.program_col != NULL && o.mapping == NULL)
		ep_usage_error(usage_text, "--program-column needs --mapping");
	if (o.ctl != NULL && o.fmt != OUT_DAT)
		ep_usage_error(usage_text, "--ctl needs -t dat");
	if (o.ctl == NULL && (o.ctl_mode != NULL || o.nctl_dates > 0))
		ep_usage_error(usage_text, "--ctl-mode and --ctl-date need "
		    "--ctl");
	if (o.ctl != NULL && (o.output == NULL || strcmp(o.output, "-") == 0))
		ep_usage_error(usage_text, "--ctl needs -o PATH (the "
		    ".ctl file is written beside it)");

	if (o.prov != NULL) {
		const char *slash = o.query_file ?
		    strrchr(o.query_file, '/') : NULL;

		o.prov = o.query_file == NULL ? "sql" :
		    strcmp(o.query_file, "-") == 0 ? "stdin" :
		    slash ? slash + 1 : o.query_file;
	}
	if (o.query_file != NULL) {
		sql = read_query(o.query_file, &e);
		if (sql == NULL)
			goto fail;
	} else {
		sql = ep_xstrdup(o.sql);
	}
	password = ep_secret_get("SIS_PASSWORD", o.password_file, false, &e);
	if (password == NULL && e.code != 0)
		goto fail;
	db = ep_db_open_timeout(o.db, password, EP_DB_READONLY, o.timeout,
	    &e);
	if (db == NULL)
		goto fail;
	if (run(&o, db, sql, &e) < 0)
		goto fail;
	goto out;
fail:
	rc = ep_report(&e);
	if (rc == EP_EXIT_USAGE)
		ep_usage(usage_text, EP_EXIT_USAGE);
out:
	ep_db_close(db);
	free(password);
	free(sql);
	for (size_t i = 0; i < o.nparams; i++)
		free((char *)o.params[i].name);
	free(o.params);
	for (size_t i = 0; i < o.nctl_dates; i++)
		free((char *)o.ctl_dates[i]);
	free(o.ctl_dates);
	free(o.ctl_masks);
	if (ep_close_stdout() != 0 && rc == 0)
		rc = EP_EXIT_IOERR;
	return rc;
}

/* --ctl-date COL=MASK: both non-empty (dat.c checks their characters). */
static void
parse_ctl_date(struct opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || eq[1] == '\0')
		ep_usage_error(usage_text, "--ctl-date '%s': expected "
		    "COL=MASK", arg);
	o->ctl_dates = ep_xrealloc(o->ctl_dates, (o->nctl_dates + 1) *
	    sizeof(char *));
	o->ctl_masks = ep_xrealloc(o->ctl_masks, (o->nctl_dates + 1) *
	    sizeof(char *));
	o->ctl_dates[o->nctl_dates] = ep_xstrndup(arg, (size_t)(eq - arg));
	o->ctl_masks[o->nctl_dates] = eq + 1;
	o->nctl_dates++;
}

/* "NAME=VALUE": NAME a plain identifier, VALUE any text, even empty. */
static void
parse_param(struct opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : 0;
	char *name;

	if (eq != NULL && *arg == ':') {
		arg++;
		n--;
	}
	if (eq == NULL || n == 0 || strspn(arg, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n ||
	    (arg[0] >= '0' && arg[0] <= '9'))
		ep_usage_error(usage_text, "--param '%s': expected NAME=VALUE "
		    "with NAME made of letters, digits and _", arg);
	/* The name points into argv, cut at '=' by a copy we keep. */
	name = ep_xstrndup(arg, n);
	o->params = ep_xrealloc(o->params, (o->nparams + 1) *
	    sizeof(*o->params));
	o->params[o->nparams].name = name;
	o->params[o->nparams].value = eq + 1;
	o->nparams++;
}

static char *
read_query(const char *path, struct ep_error *err)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (fp == NULL) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_NOPERM, "cannot open query '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	do {
		if (len + 4096 + 1 > cap) {
			cap = (cap + 4096) * 2;
			buf = ep_xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len - 1, fp);
		len += n;
	} while (n > 0);
	if (ferror(fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot read query '%s': %s",
		    path, strerror(errno));
		free(buf);
		buf = NULL;
	} else {
		buf[len] = '\0';
		if (strlen(buf) != len) {
			ep_error_set(err, EP_EXIT_DATAERR, "query '%s' holds "
			    "a NUL byte", path);
			free(buf);
			buf = NULL;
		}
	}
	if (fp != stdin)
		fclose(fp);
	return buf;
}

/* ----------------------------------------------------------- mapping */

static int
key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = strcmp(x->course, y->course);

	if (c != 0)
		return c;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

static long
col_index(const char *const *cols, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(cols[i], name) == 0)
			return (long)i;
	return -1;
}

/*
 * Check the result columns against the mapping and work out the output
 * columns (*out, *nout: malloc'd array of borrowed or static names).
 */
static int
mapper_columns(struct mapper *mp, const struct opts *o,
    const char *const *cols, size_t n, const char ***out, size_t *nout,
    struct ep_error *err)
{
	const char **oc;
	bool sectioned = false;
	const char *ccol = o->program_col ? o->program_col : o->course_col;

	for (size_t i = 0; i < mp->m->n; i++)
		sectioned |= mp->m->e[i].section != NULL &&
		    o->program_col == NULL;
	mp->course_idx = col_index(cols, n, ccol);
	mp->section_idx = o->program_col ? -1 :
	    col_index(cols, n, o->section_col);
	if (mp->course_idx < 0) {
		ep_error_set(err, EP_EXIT_USAGE, "the query returns no column "
		    "'%s' to look %s up in the mapping (see %s)", ccol,
		    o->program_col ? "programs" : "courses",
		    o->program_col ? "--program-column" : "--course-column");
		return -1;
	}
	if (mp->section_idx < 0 && sectioned) {
		ep_error_set(err, EP_EXIT_USAGE, "the mapping names sections "
		    "but the query returns no column '%s' (see "
		    "--section-column)", o->section_col);
		return -1;
	}
	oc = ep_xcalloc(n + 3, sizeof(*oc));
	for (size_t i = 0; i < n; i++) {
		oc[i] = (long)i == mp->course_idx ? "course" :
		    (long)i == mp->section_idx ? "section" : cols[i];
		if ((long)i != mp->course_idx && (long)i != mp->section_idx &&
		    (strcmp(cols[i], "course") == 0 ||
		    strcmp(cols[i], "section") == 0 ||
		    strcmp(cols[i], "course_id") == 0 ||
		    strcmp(cols[i], mp->sis_name) == 0 ||
		    (o->prov && strcmp(cols[i], "sis_row") == 0))) {
			ep_error_set(err, EP_EXIT_USAGE, "the query's column "
			    "'%s' would clash with the field the mapping "
			    "writes (rename it with AS)", cols[i]);
			free(oc);
			return -1;
		}
	}
	oc[n] = "course_id";
	oc[n + 1] = mp->sis_name;
	oc[n + 2] = "sis_row";
	*out = oc;
	*nout = n + 2 + (o->prov != NULL);
	return 0;
}

/*
 * The matcher of m's course entries, or with programs of its program
 * entries (a program entry has no courses, a course entry no program).
 */
static struct mapper *
mapper_new(struct ep_mapping *m, bool programs)
{
	struct mapper *mp = ep_xcalloc(1, sizeof(*mp));

	mp->m = m;
	mp->sis_name = programs ? "sis_program" : "sis_course";
	for (size_t i = 0; i < m->n; i++)
		mp->nkeys += m->e[i].ncourses + 1;
	mp->keys = ep_xcalloc(mp->nkeys + 1, sizeof(*mp->keys));
	mp->nkeys = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (programs && m->e[i].program != NULL) {
			mp->keys[mp->nkeys].course = m->e[i].program;
			mp->keys[mp->nkeys++].entry = i;
		}
		for (size_t k = 0; !programs && k < m->e[i].ncourses; k++) {
			mp->keys[mp->nkeys].course = m->e[i].courses[k];
			mp->keys[mp->nkeys++].entry = i;
		}
	}
	ep_sort(mp->keys, mp->nkeys, sizeof(*mp->keys), key_cmp);
	mp->out = ep_rec_new();
	return mp;
}

static void
mapper_free(struct mapper *mp)
{
	if (mp == NULL)
		return;
	ep_mapping_free(mp->m);
	free(mp->keys);
	free(mp->seen);
	ep_rec_free(mp->out);
	free(mp);
}

/* Text of a field for matching: trailing blanks of CHAR(n) columns off. */
static size_t
trimmed(const struct ep_field *f)
{
	size_t n = f->vlen;

	while (n > 0 && f->val[n - 1] == ' ')
		n--;
	return n;
}

static uint64_t
fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Whether rec was written before (then true); else remember it. */
static bool
seen_before(struct mapper *mp, const struct ep_rec *r)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (size_t k = 0; k < r->n; k++) {
		h = fnv(h, r->f[k].val, r->f[k].vlen + 1);
		h = fnv(h, (const char *)&r->f[k].type, 1);
	}
	h |= 1;			/* 0 marks an empty slot */
	if (2 * (mp->nseen + 1) > mp->seencap) {
		size_t ncap = mp->seencap ? mp->seencap * 2 : 1024;
		uint64_t *ns = ep_xcalloc(ncap, sizeof(*ns));

		for (size_t k = 0; k < mp->seencap; k++) {
			if (mp->seen[k] == 0)
				continue;
			for (i = mp->seen[k] & (ncap - 1); ns[i] != 0;
			    i = (i + 1) & (ncap - 1))
				;
			ns[i] = mp->seen[k];
		}
		free(mp->seen);
		mp->seen = ns;
		mp->seencap = ncap;
	}
	for (i = h & (mp->seencap - 1); mp->seen[i] != 0;
	    i = (i + 1) & (mp->seencap - 1))
		if (mp->seen[i] == h)
			return true;
	mp->seen[i] = h;
	mp->nseen++;
	return false;
}

/* ------------------------------------------------------------ output */

struct sink {
	enum outfmt fmt;
	FILE *fp;
	struct ep_writer *w;
	const char *const *cols;	/* NULL: the record's own fields */
	size_t ncols;
	bool direct;		/* rows are written without ep_writer */
	char **jnames;		/* "\"name\":" for each column (NDJSON) */
	size_t *jlen;		/* ... and its length */
};

/*
 * Write r.  A database row has the result's columns in result order, so
 * once the CSV header is out the row is written directly, without the
 * general writer's per-field name matching (a third of the run time on a
 * million rows).
 */
static int
emit(struct sink *s, const struct ep_rec *r, struct ep_error *err)
{
	FILE *fp = s->fp;

	if (s->fmt == OUT_DAT)
		return ep_dat_put_rec(fp, r, s->cols, s->ncols, err);
	if (!s->direct || r->n != s->ncols)
		return ep_writer_write(s->w, r, err);
	if (s->fmt == OUT_CSV) {
		for (size_t k = 0; k < r->n; k++) {
			if (k)
				putc_unlocked(',', fp);
			if (r->f[k].type != EP_T_NULL)
				ep_csv_put_field(fp, r->f[k].val, r->f[k].vlen,
				    false);
		}
	} else {
		putc_unlocked('{', fp);
		for (size_t k = 0; k < r->n; k++) {
			const struct ep_field *f = &r->f[k];

			if (k)
				putc_unlocked(',', fp);
			ep_put_bytes(fp, s->jnames[k], s->jlen[k]);
			if (f->type == EP_T_STR)
				ep_json_put_string(fp, f->val, f->vlen);
			else
				ep_put_bytes(fp, f->val, f->vlen);
		}
		putc_unlocked('}', fp);
	}
	putc_unlocked('\n', fp);
	if (ferror(fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "write error: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Prepare emit's direct path: the CSV header, the NDJSON names. */
static void
direct_setup(struct sink *s)
{
	s->direct = true;
	if (s->fmt == OUT_CSV) {
		/* The header now, through the writer; rows bypass it.  A
		 * write error shows in ferror at the first row or the end. */
		ep_writer_finish(s->w, NULL);
		return;
	}
	s->jnames = ep_xcalloc(s->ncols + 1, sizeof(char *));
	s->jlen = ep_xcalloc(s->ncols + 1, sizeof(size_t));
	for (size_t k = 0; k < s->ncols; k++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		if (m == NULL)
			ep_die(EP_EXIT_NOMEM, "out of memory");
		ep_json_put_string(m, s->cols[k], strlen(s->cols[k]));
		putc(':', m);
		fclose(m);
		s->jnames[k] = buf;
		s->jlen[k] = len;
	}
}

/* --provenance: sis_row, "QUERY:N", set in r (the last field if new). */
static void
put_row(struct ep_rec *r, const char *prov, unsigned long row)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%.480s:%lu", prov, row);

	ep_rec_set(r, "sis_row", EP_T_STR, buf, (size_t)n);
}

/* Write row once per mapping entry it belongs to. */
static int
emit_mapped(struct mapper *mp, struct sink *s, const struct ep_rec *row,
    struct counts *cn, struct ep_error *err)
{
	const struct ep_field *cf = &row->f[mp->course_idx];
	const struct ep_field *sf = mp->section_idx >= 0 ?
	    &row->f[mp->section_idx] : NULL;
	size_t clen = trimmed(cf), lo = 0, hi = mp->nkeys;
	bool any = false;

	if (cf->type == EP_T_NULL)
		goto skip;
	/* Lower bound of the course among the sorted keys. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(mp->keys[mid].course, cf->val, clen);

		if (c == 0 && mp->keys[mid].course[clen] != '\0')
			c = 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k < mp->nkeys; k++) {
		const struct ep_map_entry *e;
		struct ep_rec *out = mp->out;
		char id[32];
		int n;

		if (strncmp(mp->keys[k].course, cf->val, clen) != 0 ||
		    mp->keys[k].course[clen] != '\0')
			break;
		e = &mp->m->e[mp->keys[k].entry];
		if (e->section != NULL && (sf == NULL ||
		    sf->type == EP_T_NULL || trimmed(sf) != strlen(e->section)
		    || strncmp(sf->val, e->section, trimmed(sf)) != 0))
			continue;
		any = true;
		ep_rec_clear(out);
		for (size_t i = 0; i < row->n; i++) {
			const struct ep_field *f = &row->f[i];

			if ((long)i == mp->course_idx)
				ep_rec_set_str(out, "course", e->shortname);
			else if ((long)i == mp->section_idx)
				ep_rec_set_str(out, "section", e->section ?
				    e->section : "");
			else
				ep_rec_set(out, f->name, f->type, f->val,
				    f->vlen);
		}
		n = snprintf(id, sizeof(id), "%lld", e->id);
		ep_rec_set(out, "course_id", EP_T_NUM, id, (size_t)n);
		/* Seen without sis_course: a student of two cross-listed
		 * SIS courses mapped to one LMS course is one enrollment
		 * there, written once with the first SIS course. */
		if (seen_before(mp, out)) {
			mp->dups++;
			continue;
		}
		ep_rec_set(out, mp->sis_name, EP_T_STR, cf->val, clen);
		if (mp->prov != NULL)
			put_row(out, mp->prov, cn->rows);
		if (emit(s, out, err) < 0)
			return -1;
		cn->records++;
	}
	if (any)
		return 0;
skip:
	mp->skipped++;
	return 0;
}

/* The .ctl path beside the data file: its extension replaced by .ctl. */
static char *
ctl_path(const char *data)
{
	const char *slash = strrchr(data, '/');
	const char *dot = strrchr(data, '.');

	if (dot == NULL || (slash != NULL && dot < slash) ||
	    dot == (slash ? slash + 1 : data))
		return ep_xasprintf("%s.ctl", data);
	return ep_xasprintf("%.*s.ctl", (int)(dot - data), data);
}

static int
write_ctl(const struct opts *o, const char *const *cols, size_t n,
    struct ep_error *err)
{
	const char *base = strrchr(o->output, '/');
	char *path = ctl_path(o->output), *text, *bad;
	struct ep_dat_ctl_extra x;
	struct ep_out *out;
	int rc = -1;

	base = base ? base + 1 : o->output;
	bad = ctl_path(base);
	memcpy(bad + strlen(bad) - 3, "bad", 3);
	x.badfile = bad;
	x.dates = o->ctl_dates;
	x.masks = o->ctl_masks;
	x.ndates = o->nctl_dates;
	text = ep_dat_ctl_ext(o->ctl, base, cols, n, o->ctl_mode, &x, err);
	if (text == NULL)
		goto done;
	out = ep_out_open(path, err);
	if (out == NULL)
		goto done;
	fputs(text, ep_out_file(out));
	rc = ep_out_commit(out, err);
done:
	free(text);
	free(path);
	free(bad);
	return rc;
}

static int
run(struct opts *o, struct ep_db *db, const char *sql, struct ep_error *err)
{
	const char *const *cols;
	const char **mcols = NULL;
	const char *const *ocols = NULL;
	size_t ncols, nocols = 0;
	struct mapper *mp = NULL;
	struct ep_out *out = NULL;
	struct sink s = { .fmt = o->fmt };
	struct counts cn = { 0 };
	struct ep_rec *row = ep_rec_new();
	char **firstcols = NULL;
	int rc = -1, r;
	struct ep_prog *pg = ep_prog_new("rows");

	if (o->mapping != NULL) {
		struct ep_mapping *m = ep_mapping_load(o->mapping, err);

		if (m == NULL)
			goto done;
		mp = mapper_new(m, o->program_col != NULL);
		mp->prov = o->prov;
	}
	if (ep_db_query(db, sql, o->params, o->nparams, err) < 0)
		goto done;
	cols = ep_db_columns(db, &ncols);
	if (cols != NULL) {
		ocols = cols;
		nocols = ncols;
		if (mp != NULL) {
			if (mapper_columns(mp, o, cols, ncols, &mcols,
			    &nocols, err) < 0)
				goto done;
			ocols = mcols;
		} else if (o->prov != NULL) {
			if (col_index(cols, ncols, "sis_row") >= 0) {
				ep_error_set(err, EP_EXIT_USAGE, "the query's "
				    "column 'sis_row' would clash with the "
				    "field --provenance writes (rename it "
				    "with AS)");
				goto done;
			}
			mcols = ep_xcalloc(ncols + 1, sizeof(*mcols));
			memcpy(mcols, cols, ncols * sizeof(*mcols));
			mcols[ncols] = "sis_row";
			ocols = mcols;
			nocols = ncols + 1;
		}
	}
	out = ep_out_open(o->output ? o->output : "-", err);
	if (out == NULL)
		goto done;
	s.fp = ep_out_file(out);
	s.cols = ocols;
	s.ncols = nocols;
	if (o->fmt != OUT_DAT) {
		s.w = ep_writer_new(s.fp, o->fmt == OUT_CSV ? EP_FMT_CSV :
		    EP_FMT_NDJSON);
		if (ocols != NULL)
			ep_writer_set_fields(s.w, ocols, nocols);
		if (cols != NULL && mp == NULL)
			direct_setup(&s);
	}
	while ((r = ep_db_next(db, row, err)) == 1) {
		cn.rows++;
		if (mp != NULL && cols == NULL && mcols == NULL) {
			/* The backend could not name the columns up front. */
			const char **names = ep_xcalloc(row->n + 1,
			    sizeof(char *));

			for (size_t i = 0; i < row->n; i++)
				names[i] = row->f[i].name;
			r = mapper_columns(mp, o, names, row->n, &mcols,
			    &nocols, err);
			free(names);
			if (r < 0)
				goto done;
			s.cols = mcols;
		}
		if (mp != NULL) {
			if (emit_mapped(mp, &s, row, &cn, err) < 0)
				goto done;
		} else {
			if (o->prov != NULL) {
				if (cols == NULL && cn.rows == 1 &&
				    ep_rec_get(row, "sis_row") != NULL) {
					ep_error_set(err, EP_EXIT_USAGE, "the "
					    "query's column 'sis_row' would "
					    "clash with the field --provenance "
					    "writes (rename it with AS)");
					goto done;
				}
				put_row(row, o->prov, cn.rows);
			}
			if (emit(&s, row, err) < 0)
				goto done;
			cn.records++;
		}
		ep_prog_add(pg, 1, 0);
		if (o->ctl != NULL && ocols == NULL && mp == NULL &&
		    firstcols == NULL) {
			firstcols = ep_xcalloc(row->n + 1, sizeof(char *));
			for (size_t i = 0; i < row->n; i++)
				firstcols[i] = ep_xstrdup(row->f[i].name);
			nocols = row->n;
		}
	}
	if (r < 0)
		goto done;
	if (s.w != NULL && ep_writer_finish(s.w, err) < 0)
		goto done;
	if (o->ctl != NULL) {
		const char *const *cc = ocols ? ocols : mcols ?
		    (const char *const *)mcols :
		    (const char *const *)firstcols;

		if (cc == NULL) {
			ep_error_set(err, EP_EXIT_DATAERR, "cannot write the "
			    "control file: no rows, and the database did not "
			    "name the columns");
			goto done;
		}
		if (write_ctl(o, cc, nocols, err) < 0)
			goto done;
	}
	ep_prog_stdout(pg);
	r = ep_out_commit(out, err);
	out = NULL;
	if (r < 0)
		goto done;
	ep_prog_end(pg, NULL);
	pg = NULL;
	if (mp != NULL)
		ep_info(1, "%lu rows, %lu of unmapped courses or sections "
		    "skipped, %lu duplicates dropped", cn.rows, mp->skipped,
		    mp->dups);
	ep_info(1, "%lu records", cn.records);
	rc = 0;
done:
	ep_prog_free(pg);
	ep_out_abort(out);
	ep_writer_free(s.w);
	if (s.jnames != NULL)
		for (size_t k = 0; k < s.ncols; k++)
			free(s.jnames[k]);
	free(s.jnames);
	free(s.jlen);
	if (firstcols != NULL)
		for (size_t i = 0; i < nocols; i++)
			free(firstcols[i]);
	free(firstcols);
	free(mcols);
	mapper_free(mp);
	ep_rec_free(row);
	return rc;
}
