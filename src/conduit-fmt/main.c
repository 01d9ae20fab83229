/*
 * conduit-fmt - turn records (mainly enroll-diff's change records) into
 * the bulk files LMSs and rostering services ingest: Open LMS Conduit
 * enrolment CSV, Canvas SIS enrollments.csv, Moodle flat-file enrolment,
 * OneRoster 1.1 enrollments.csv, Clever Sections.csv, SQL*Loader .dat,
 * plain CSV and NDJSON.  man/conduit-fmt.1 documents each format's columns
 * and value rules and the vendor documents they follow.
 *
 * Deviations from the seed systems it replaces: every CSV is RFC 4180
 * quoted (D118 wrote Clever rows unquoted); kindergarten is "Kindergarten"
 * (D118 wrote grade 0 as blank); multi-grade numbers are split into real
 * grades (912 is "9-12", not "9-2"); a section with more than 10 teachers
 * is a warning naming it; a bad record stops the run with its location
 * and nothing is written, where the seeds logged and carried on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "cli.h"
#include "msg.h"
#include "rec.h"

#include "fmt.h"

static const char usage_text[] =
"usage: conduit-fmt -t FORMAT [--role-map FILE] [--skip-unmapped]\n"
"                   [--fields A,B,...] [--subject-map FILE] [--keep-track]\n"
"                   [--two-digit-grade-schools LIST] [--allow-no-teacher]\n"
"                   [--subject-spelling clever|d118] [-o FILE]\n"
"                   [--log-dir DIR] [--csv-safe] [--header-always]\n"
"                   [--heading-map FILE] [-f auto|ndjson|csv|tsv]\n"
"                   [FILE ...]\n"
"\n"
"Write records (NDJSON or CSV, from FILEs in order or stdin; '-' is stdin)\n"
"as an LMS import file.\n"
"\n"
"  -t, --to FORMAT           conduit, canvas, moodle-flatfile, oneroster,\n"
"                            clever-sections, dat, csv, ndjson,\n"
"                            conduit-users or canvas-users (required: no\n"
"                            default); roster files, one record a row:\n"
"                            clever-schools, clever-students,\n"
"                            clever-teachers, clever-enrollments,\n"
"                            oneroster-orgs, oneroster-academicsessions,\n"
"                            oneroster-courses, oneroster-classes,\n"
"                            oneroster-users\n"
"      --role-map FILE       JSON object mapping SIS roles to LMS roles;\n"
"                            a role it lacks is an error (exit 65)\n"
"      --skip-unmapped       leave such records out and count them instead\n"
"      --fields A,B,...      dat, csv, ndjson: the columns, in order\n"
"      --subject-map FILE    clever-sections: JSON object mapping SIS\n"
"                            subjects to Clever subjects\n"
"      --keep-track          clever-sections: keep \"(A)\" in periods\n"
"      --two-digit-grade-schools LIST\n"
"                            clever-sections: the schools (comma list) whose\n"
"                            grades 10-12 are grades; elsewhere 12 is 1-2\n"
"      --allow-no-teacher    clever-sections: write a section with no teacher\n"
"                            with empty teacher columns and a warning\n"
"                            (without it such a section is an error, 65)\n"
"      --subject-spelling clever|d118\n"
"                            clever-sections: subjects as Clever spells them\n"
"                            (default) or capitalised as D118 did\n"
"  -o, --output FILE         write FILE atomically instead of stdout\n"
"      --log-dir DIR         also keep DIR/FORMAT-YYYYMMDDTHHMMSSZ.EXT\n"
"      --csv-safe            prefix values starting with = + - @ with '\n"
"      --header-always       write the header even when there are no rows\n"
"                            (without it no rows write nothing at all)\n"
"      --heading-map FILE    conduit, conduit-users: JSON object mapping\n"
"                            columns to the headings the site mapped in\n"
"                            Conduit > Settings > Mappings\n"
"  -f, --from FMT            auto (default), ndjson, csv or tsv\n"
"      --delimiter CHAR      CSV input: the field delimiter (default ',';\n"
"                            tab or \\t for a tab)\n"
"      --encoding ENC        CSV input: its encoding, converted to UTF-8\n"
"                            (default UTF-8; e.g. WINDOWS-1252)\n"
"      --input-format FMT, -i FMT  deprecated: use -f/--from\n"
"      --output-format FMT  deprecated: use -t/--to (so is -o FMT\n"
"                       when FMT is a format name: ndjson, csv, ...)\n"
"  -v, --verbose             say more\n"
"  -q, --quiet               errors only\n"
"      --progress            show a record count on stderr\n"
"  -h, --help                this text\n"
"      --version             print the version\n"
"\n"
"A record's op (add, drop, update; none means add) decides the action,\n"
"status or line written; see conduit-fmt(1) for each format.\n";

enum {
	OPT_ROLE_MAP = EP_OPT_FIRST_PROGRAM,
	OPT_SKIP_UNMAPPED,
	OPT_FIELDS,
	OPT_SUBJECT_MAP,
	OPT_KEEP_TRACK,
	OPT_TWO_DIGIT,
	OPT_LOG_DIR,
	OPT_CSV_SAFE,
	OPT_HEADER_ALWAYS,
	OPT_ALLOW_NO_TEACHER,
	OPT_SUBJECT_SPELLING,
	OPT_HEADING_MAP
};

struct opts {
	int to;
	const char *role_map, *subject_map, *output, *log_dir;
	const char *heading_map;
	enum ep_fmt ifmt;
	bool spelling_set;
	char **inputs;
	int ninputs;
};

static char **split_list(const char *s, size_t *n);
static void free_list(char **l, size_t n);
static const char *target_list(void);
static void check_opts(struct opts *o, struct ctx *c);
static int run_time(time_t *t, struct ep_error *err);
static int read_all(const struct opts *o, struct ctx *c,
    struct ep_error *err);
static int copy_stream(FILE *from, FILE *to, struct ep_error *err);
static struct ep_out *open_log(const struct opts *o, const char *stamp,
    char **path, struct ep_error *err);

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		EP_TO_LONGOPTS,
		{ "role-map", required_argument, NULL, OPT_ROLE_MAP },
		{ "heading-map", required_argument, NULL, OPT_HEADING_MAP },
		{ "skip-unmapped", no_argument, NULL, OPT_SKIP_UNMAPPED },
		{ "fields", required_argument, NULL, OPT_FIELDS },
		{ "subject-map", required_argument, NULL, OPT_SUBJECT_MAP },
		{ "keep-track", no_argument, NULL, OPT_KEEP_TRACK },
		{ "two-digit-grade-schools", required_argument, NULL,
		    OPT_TWO_DIGIT },
		{ "log-dir", required_argument, NULL, OPT_LOG_DIR },
		{ "csv-safe", no_argument, NULL, OPT_CSV_SAFE },
		{ "header-always", no_argument, NULL, OPT_HEADER_ALWAYS },
		{ "allow-no-teacher", no_argument, NULL,
		    OPT_ALLOW_NO_TEACHER },
		{ "subject-spelling", required_argument, NULL,
		    OPT_SUBJECT_SPELLING },
		EP_FROM_LONGOPTS,
		EP_INPUT_LONGOPTS,
		EP_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .to = -1, .ifmt = EP_FMT_AUTO };
	struct ctx c = { .delta = -1 };
	struct ep_error e = { 0, "" };
	struct ep_out *out = NULL, *log = NULL;
	FILE *spool = NULL;
	char stamp[32], *log_path = NULL;
	time_t now;
	struct tm tm;
	int ch, rc = 0;

	ep_cli_init(argc, argv);
	while ((ch = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS
	    EP_FROM_SHORTOPTS EP_TO_SHORTOPTS,
	    longopts, NULL)) != -1)
		switch (ch) {
		case OPT_ROLE_MAP:
			o.role_map = optarg;
			break;
		case OPT_HEADING_MAP:
			o.heading_map = optarg;
			break;
		case OPT_SKIP_UNMAPPED:
			c.skip_unmapped = true;
			break;
		case OPT_FIELDS:
			free_list(c.fields, c.nfields);
			c.fields = split_list(optarg, &c.nfields);
			if (c.nfields == 0)
				ep_usage_error(usage_text, "--fields needs at "
				    "least one field name");
			break;
		case OPT_SUBJECT_MAP:
			o.subject_map = optarg;
			break;
		case OPT_KEEP_TRACK:
			c.keep_track = true;
			break;
		case OPT_TWO_DIGIT:
			free_list(c.two_digit, c.ntwo);
			c.two_digit = split_list(optarg, &c.ntwo);
			c.two_digit_set = true;
			break;
		case OPT_LOG_DIR:
			o.log_dir = optarg;
			break;
		case OPT_CSV_SAFE:
			c.csv_safe = true;
			break;
		case OPT_HEADER_ALWAYS:
			c.header_always = true;
			break;
		case OPT_ALLOW_NO_TEACHER:
			c.allow_no_teacher = true;
			break;
		case OPT_SUBJECT_SPELLING:
			if (strcmp(optarg, "clever") == 0)
				c.d118_subjects = false;
			else if (strcmp(optarg, "d118") == 0)
				c.d118_subjects = true;
			else
				ep_usage_error(usage_text, "--subject-spelling: "
				    "'%s' is not clever or d118", optarg);
			o.spelling_set = true;
			break;
		default:
			ep_cli_common(ch, argv, usage_text);
		}
	if (ep_io.to != NULL && (o.to = fmt_target(ep_io.to)) < 0)
		ep_usage_error(usage_text, "unknown format '%s' (%s)",
		    ep_io.to, target_list());
	o.ifmt = (enum ep_fmt)ep_io.from;
	o.output = ep_io.output;
	o.inputs = argv + optind;
	o.ninputs = argc - optind;
	check_opts(&o, &c);

	if (o.role_map != NULL &&
	    (c.roles = kvmap_load(o.role_map, false, &e)) == NULL)
		goto fail;
	if (o.subject_map != NULL &&
	    (c.subjects = kvmap_load(o.subject_map, true, &e)) == NULL)
		goto fail;
	if (o.heading_map != NULL) {
		const char *bad;

		if ((c.headings = kvmap_load(o.heading_map, false, &e)) ==
		    NULL)
			goto fail;
		if ((bad = fmt_heading_unknown(c.to, c.headings)) != NULL) {
			ep_error_set(&e, EP_EXIT_CONFIG, "%s: '%s' is not a "
			    "%s column", o.heading_map, bad, fmt_name(c.to));
			goto fail;
		}
	}
	if (run_time(&now, &e) < 0)
		goto fail;
	gmtime_r(&now, &tm);
	strftime(c.now_iso, sizeof(c.now_iso), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (o.log_dir != NULL) {
		struct stat st;

		const char *why = NULL;

		if (stat(o.log_dir, &st) < 0)
			why = strerror(errno);
		else if (!S_ISDIR(st.st_mode))
			why = "not a directory";
		if (why != NULL) {
			ep_error_set(&e, EP_EXIT_IOERR, "cannot use log "
			    "directory '%s': %s", o.log_dir, why);
			goto fail;
		}
	}

	if ((out = ep_out_open(o.output, &e)) == NULL)
		goto fail;
	if (o.log_dir != NULL) {
		/* Rows go to a spool first, then to the output and the log. */
		if ((spool = tmpfile()) == NULL) {
			ep_error_set(&e, EP_EXIT_IOERR, "cannot create a "
			    "temporary file: %s", strerror(errno));
			goto fail;
		}
		c.fp = spool;
	} else
		c.fp = ep_out_file(out);

	if (read_all(&o, &c, &e) < 0 || fmt_finish(&c, &e) < 0)
		goto fail;
	if (spool != NULL) {
		if (c.nout > 0 &&
		    ((log = open_log(&o, stamp, &log_path, &e)) == NULL ||
		    copy_stream(spool, ep_out_file(log), &e) < 0))
			goto fail;
		if (copy_stream(spool, ep_out_file(out), &e) < 0)
			goto fail;
	}
	rc = ep_out_commit(out, &e);
	out = NULL;
	if (rc < 0)
		goto fail;
	if (log != NULL) {
		rc = ep_out_commit(log, &e);
		log = NULL;
		if (rc < 0)
			goto fail;
		ep_info(1, "kept a copy in '%s'", log_path);
	}
	rc = 0;

	if (ep_progress)
		fprintf(stderr, "%s: %lu records read, %lu rows written\n",
		    ep_progname(), c.nin, c.nout);
	if (c.nunmapped > 0)
		ep_warn("%lu record%s skipped: role not mapped", c.nunmapped,
		    c.nunmapped == 1 ? "" : "s");
	if (c.nnoform > 0)
		ep_warn("%lu update%s without a role change left out: %s has "
		    "no way to say them", c.nnoform, c.nnoform == 1 ? "" : "s",
		    fmt_name((enum target)o.to));
	if (c.ndrops > 0)
		ep_info(1, "%lu drop record%s left out: Clever takes only "
		    "current sections", c.ndrops, c.ndrops == 1 ? "" : "s");
	if (c.nno_teacher > 0)
		ep_warn("%lu section%s without a teacher: teacher columns "
		    "left empty", c.nno_teacher, c.nno_teacher == 1 ? "" :
		    "s");
	if (c.nblank_subject > 0)
		ep_warn("%lu section%s with a subject Clever does not know: "
		    "Subject left blank (see --subject-map)", c.nblank_subject,
		    c.nblank_subject == 1 ? "" : "s");
	goto done;
fail:
	rc = ep_report(&e);
	ep_out_abort(out);
	ep_out_abort(log);
done:
	if (spool != NULL)
		fclose(spool);
	free(log_path);
	fmt_free(&c);
	kvmap_free(c.roles);
	kvmap_free(c.subjects);
	kvmap_free(c.headings);
	free_list(c.fields, c.nfields);
	free_list(c.two_digit, c.ntwo);
	/* After a failure stdout holds nothing of ours: no second message. */
	if (rc != 0)
		fclose(stdout);
	else
		rc = ep_close_stdout();
	return rc;
}

/* Options that belong to some formats only are usage errors elsewhere. */
/* "conduit, canvas, ... or ndjson": every -t target, from fmt.c's list. */
static const char *
target_list(void)
{
	static char buf[512];
	size_t len = 0;

	for (int t = T_CONDUIT; t < T_NTARGETS && len < sizeof(buf); t++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
		    t == T_CONDUIT ? "" : t == T_NTARGETS - 1 ? " or " : ", ",
		    fmt_name((enum target)t));
	return buf;
}

static void
check_opts(struct opts *o, struct ctx *c)
{
	enum target t;

	/* No default: a formatter's target is what it is run for, and
	 * the output follows nothing an LMS would import. */
	if (o->to < 0)
		ep_usage_error(usage_text, "-t/--to FORMAT is required: %s",
		    target_list());
	t = (enum target)o->to;
	c->to = t;
	if (c->fields && t != T_DAT && t != T_CSV && t != T_NDJSON)
		ep_usage_error(usage_text, "--fields is for dat, csv and "
		    "ndjson, not %s", fmt_name(t));
	if (t != T_CLEVER && (o->subject_map || c->keep_track ||
	    c->two_digit_set || c->allow_no_teacher || o->spelling_set))
		ep_usage_error(usage_text, "--subject-map, --keep-track, "
		    "--two-digit-grade-schools, --allow-no-teacher and "
		    "--subject-spelling are for clever-sections");
	if (t == T_CLEVER && (o->role_map || c->skip_unmapped))
		ep_usage_error(usage_text, "clever-sections has no role: "
		    "--role-map and --skip-unmapped do not apply");
	if (t >= T_CLEVER_SCHOOLS && (o->role_map || c->skip_unmapped))
		ep_usage_error(usage_text, "%s takes its roles as they are: "
		    "--role-map and --skip-unmapped do not apply",
		    fmt_name(t));
	if ((t == T_CONDUIT_USERS || t == T_CANVAS_USERS) &&
	    (o->role_map || c->skip_unmapped))
		ep_usage_error(usage_text, "%s has no role: --role-map and "
		    "--skip-unmapped do not apply", fmt_name(t));
	if (o->heading_map && !fmt_has_headings(t))
		ep_usage_error(usage_text, "--heading-map is for conduit and "
		    "conduit-users, not %s", fmt_name(t));
	if (c->csv_safe && (t == T_FLATFILE || t == T_DAT || t == T_NDJSON))
		ep_usage_error(usage_text, "--csv-safe is for CSV formats, "
		    "not %s", fmt_name(t));
	if (c->header_always && t != T_CONDUIT && t != T_CANVAS &&
	    t != T_ONEROSTER && t != T_CLEVER && t != T_CONDUIT_USERS &&
	    t != T_CANVAS_USERS && t < T_CLEVER_SCHOOLS &&
	    !(t == T_CSV && c->fields != NULL))
		ep_usage_error(usage_text, "--header-always is for formats "
		    "with a header (conduit, canvas, oneroster, clever-*, "
		    "oneroster-*, the users files, csv with --fields), not %s",
		    fmt_name(t));
}

/* SOURCE_DATE_EPOCH, when set, fixes the time (reproducible output). */
static int
run_time(time_t *t, struct ep_error *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (s == NULL || *s == '\0') {
		*t = time(NULL);
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < 0) {
		ep_error_set(err, EP_EXIT_CONFIG, "SOURCE_DATE_EPOCH: '%s' is "
		    "not a number of seconds", s);
		return -1;
	}
	*t = (time_t)v;
	return 0;
}

static int
read_all(const struct opts *o, struct ctx *c, struct ep_error *err)
{
	static char *const stdin_only[] = { "-" };
	char *const *in = o->ninputs > 0 ? o->inputs : stdin_only;
	int n = o->ninputs > 0 ? o->ninputs : 1;
	struct ep_rec *r = ep_rec_new();
	int rc = 0, got;

	for (int i = 0; i < n && rc == 0; i++) {
		struct ep_reader *rd = ep_reader_open(in[i], o->ifmt, err);

		if (rd == NULL) {
			rc = -1;
			break;
		}
		c->in_name = ep_reader_name(rd);
		while ((got = ep_reader_next(rd, r, err)) == 1) {
			c->in_line = ep_reader_line(rd);
			if (fmt_record(c, r, err) < 0) {
				got = -1;
				break;
			}
			if (ep_progress && c->nin % 1000000 == 0)
				fprintf(stderr, "%s: %lu records\r",
				    ep_progname(), c->nin);
		}
		if (got < 0)
			rc = -1;
		ep_reader_free(rd);
		c->in_name = "";
	}
	ep_rec_free(r);
	return rc;
}

static int
copy_stream(FILE *from, FILE *to, struct ep_error *err)
{
	char buf[65536];
	size_t n;

	if (fflush(from) == EOF || fseek(from, 0, SEEK_SET) < 0)
		goto bad;
	while ((n = fread(buf, 1, sizeof(buf), from)) > 0)
		if (fwrite(buf, 1, n, to) != n) {
			ep_error_set(err, EP_EXIT_IOERR, "write error: %s",
			    strerror(errno));
			return -1;
		}
	if (!ferror(from))
		return 0;
bad:
	ep_error_set(err, EP_EXIT_IOERR, "temporary file: %s",
	    strerror(errno));
	return -1;
}

/* DIR/FORMAT-STAMP.EXT, or -2, -3 ... when that name is taken. */
static struct ep_out *
open_log(const struct opts *o, const char *stamp, char **path,
    struct ep_error *err)
{
	const char *name = fmt_name((enum target)o->to);
	const char *ext = fmt_ext((enum target)o->to);

	for (int i = 1; i < 1000; i++) {
		free(*path);
		*path = i == 1 ? ep_xasprintf("%s/%s-%s.%s", o->log_dir, name,
		    stamp, ext) : ep_xasprintf("%s/%s-%s-%d.%s", o->log_dir,
		    name, stamp, i, ext);
		if (access(*path, F_OK) != 0)
			return ep_out_open(*path, err);
	}
	ep_error_set(err, EP_EXIT_IOERR, "cannot find a free name in '%s'",
	    o->log_dir);
	return NULL;
}

/* Split "a,b,c" into a malloc'd list of non-empty names. */
static char **
split_list(const char *s, size_t *n)
{
	char **l = ep_xcalloc(strlen(s) / 2 + 2, sizeof(char *));

	*n = 0;
	while (*s) {
		size_t len = strcspn(s, ",");

		if (len > 0)
			l[(*n)++] = ep_xstrndup(s, len);
		s += len + (s[len] == ',');
	}
	return l;
}

static void
free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}
