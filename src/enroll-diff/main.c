/*
 * enroll-diff - print the changes (add, drop, update) that make ACTUAL
 * equal DESIRED.
 *
 * Records are paired on their key fields, compared by value text (the
 * number 4766 and the string "4766" are the same key).  Both inputs are
 * read completely before anything is written, so bad input in either
 * stream, a duplicate-free check or a safety refusal never leaves a
 * partial change set on stdout.  Output is sorted by key bytes, then op,
 * so two runs on the same data are byte-identical.  The store and the
 * matching live in diff.c; this file holds the options, the safety
 * limits, the summary and the output.
 *
 * The drop limits (see the man page for the defaults argued): a
 * percentage of ACTUAL (--max-drop) that never refuses --drop-floor
 * drops or fewer, so a small site is not locked out by rounding; an
 * absolute ceiling (--max-drop-count), so 10% of a million is not
 * 100,000 silent drops; and per course (--max-course-drop, with its own
 * --course-drop-floor), so one course vanishing is noticed however big
 * the site.  What a refusal held back goes to --refused FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "cli.h"
#include "diff.h"
#include "droppol.h"
#include "rec.h"

static const char usage_text[] =
"usage: enroll-diff [-qv] [-f format] [-k fields] [-t format] [-o file]\n"
"                   [--update-on field] [--only ops] [--roles roles]\n"
"                   [--max-drop n%] [--drop-floor n] [--max-drop-count n]\n"
"                   [--max-course-drop n%] [--course-drop-floor n]\n"
"                   [--allow-course-drop course]\n"
"                   [--allow-course-drop-file file] [--allow-empty]\n"
"                   [--refused file] [--summary] [--exit-code]\n"
"                   [--skip-courses file] [--drop-policy policy]\n"
"                   [--drop-policy-file file] [--memory-limit size]\n"
"                   desired actual\n"
"\n"
"Print the change records (op add, drop or update) that make ACTUAL equal\n"
"DESIRED, sorted by key.  Either input may be '-' for stdin, not both;\n"
"each may be NDJSON or CSV (detected, or -f).  The output is in the\n"
"format of DESIRED unless -t says otherwise.\n"
"\n"
"  -k, --key FIELDS     fields that identify a record (default\n"
"                       course,user,role)\n"
"      --update-on FIELD  pair records on the key without FIELD; a pair\n"
"                       whose FIELD differs is one 'update' with old_FIELD\n"
"                       (FIELD is role or status); a list of fields\n"
"                       outside the key (name,email) makes a pair that\n"
"                       differs in any of them an update, with old_FIELD\n"
"                       for each\n"
"      --only OPS       print only these ops (add,drop,update)\n"
"      --roles ROLES    add and drop only records of these roles\n"
"      --max-drop N%    refuse more drops than N% of ACTUAL (default\n"
"                       10%); a bare N is --max-drop-count N --max-drop 100%\n"
"      --drop-floor N   --max-drop never refuses N drops or fewer\n"
"                       (default 20)\n"
"      --max-drop-count N  refuse more than N drops (default 5000)\n"
"      --max-course-drop N%  refuse a course losing more than N% of its\n"
"                       ACTUAL records (default 50%)\n"
"      --course-drop-floor N  --max-course-drop never refuses N drops or\n"
"                       fewer in a course (default 5)\n"
"      --allow-course-drop COURSE  exempt COURSE from --max-course-drop\n"
"                       (repeatable)\n"
"      --allow-course-drop-file FILE  exempt the courses listed in FILE,\n"
"                       one a line\n"
"      --allow-empty    accept an empty DESIRED\n"
"      --refused FILE   on a refusal, write the changes refused to FILE\n"
"                       (NDJSON)\n"
"      --summary        counts per op and per course on stderr\n"
"      --exit-code      exit 1 when changes were found\n"
"      --skip-courses FILE  no change in the courses FILE names (records\n"
"                       with course or course_id: lms-fetch --skipped)\n"
"      --drop-policy POLICY  what every drop does: unenrol (default),\n"
"                       suspend, conclude (Canvas) or keep (no drops:\n"
"                       add only); drops carry it in drop_policy\n"
"      --drop-policy-file FILE  the policy per course: records with\n"
"                       course or course_id, and drop_policy\n"
"      --memory-limit SIZE  when the store would outgrow SIZE (K, M or G),\n"
"                       split both inputs by course into temporary files\n"
"                       and diff one part at a time; same output (needs\n"
"                       'course' as the first --key field; default: none)\n"
"  -f, --from FORMAT    ndjson, csv or tsv (default: detected)\n"
"      --delimiter CHAR\n"
"                       CSV input: the field delimiter (default ','; tab\n"
"                       or \\t for a tab)\n"
"      --encoding ENC   CSV input: its encoding, converted to UTF-8\n"
"                       (default UTF-8; e.g. WINDOWS-1252)\n"
"  -t, --to FORMAT      ndjson or csv (default: DESIRED's format)\n"
"  -o, --output FILE    write FILE (atomically) instead of stdout\n"
"      --input-format FMT, -i FMT  deprecated: use -f/--from\n"
"      --output-format FMT  deprecated: use -t/--to (so is -o FMT\n"
"                       when FMT is a format name: ndjson, csv, ...)\n"
"  -v, --verbose        more detail on stderr\n"
"  -q, --quiet          errors only\n"
"      --progress       records read and changes written, with rates, on\n"
"                       stderr (default when it is a terminal);\n"
"                       --no-progress turns it off, and so does -q\n"
"  -h, --help           this help\n"
"      --version        print the version\n";

enum {
	OPT_UPDATE_ON = EP_OPT_FIRST_PROGRAM,
	OPT_ONLY,
	OPT_ROLES,
	OPT_MAX_DROP,
	OPT_DROP_FLOOR,
	OPT_MAX_DROP_COUNT,
	OPT_MAX_COURSE_DROP,
	OPT_COURSE_DROP_FLOOR,
	OPT_ALLOW_COURSE_DROP,
	OPT_ALLOW_COURSE_DROP_FILE,
	OPT_REFUSED,
	OPT_ALLOW_EMPTY,
	OPT_SUMMARY,
	OPT_EXIT_CODE,
	OPT_SKIP_COURSES,
	OPT_DROP_POLICY,
	OPT_DROP_POLICY_FILE,
	OPT_MEMORY_LIMIT
};

static const struct option longopts[] = {
	{ "key", required_argument, NULL, 'k' },
	{ "update-on", required_argument, NULL, OPT_UPDATE_ON },
	{ "only", required_argument, NULL, OPT_ONLY },
	{ "roles", required_argument, NULL, OPT_ROLES },
	{ "max-drop", required_argument, NULL, OPT_MAX_DROP },
	{ "drop-floor", required_argument, NULL, OPT_DROP_FLOOR },
	{ "max-drop-count", required_argument, NULL, OPT_MAX_DROP_COUNT },
	{ "max-course-drop", required_argument, NULL, OPT_MAX_COURSE_DROP },
	{ "course-drop-floor", required_argument, NULL,
	    OPT_COURSE_DROP_FLOOR },
	{ "allow-course-drop", required_argument, NULL,
	    OPT_ALLOW_COURSE_DROP },
	{ "allow-course-drop-file", required_argument, NULL,
	    OPT_ALLOW_COURSE_DROP_FILE },
	{ "refused", required_argument, NULL, OPT_REFUSED },
	{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
	{ "summary", no_argument, NULL, OPT_SUMMARY },
	{ "exit-code", no_argument, NULL, OPT_EXIT_CODE },
	{ "skip-courses", required_argument, NULL, OPT_SKIP_COURSES },
	{ "drop-policy", required_argument, NULL, OPT_DROP_POLICY },
	{ "drop-policy-file", required_argument, NULL, OPT_DROP_POLICY_FILE },
	{ "memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT },
	EP_FROM_LONGOPTS,
	EP_INPUT_LONGOPTS,
	EP_TO_LONGOPTS,
	EP_COMMON_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

struct opts {
	struct ed_opts ed;
	char *keyspec, *rolespec;
	char *updspec;		/* --update-on's fields, split */
	unsigned only;		/* bit per ed_op */
	const char *max_text, *course_text;	/* as given, for messages */
	double max_pct, course_pct;
	unsigned long floor, max_count, course_floor;
	char **allow;		/* --allow-course-drop(-file) courses */
	size_t nallow, allowcap;
	const char *refused;
	bool allow_empty, summary, exit_code;
	enum ep_fmt ifmt, ofmt;
	const char *skip_path;	/* --skip-courses */
	struct droppol dp;	/* --drop-policy, --drop-policy-file */
	const char *dp_path;
	size_t memlimit;	/* --memory-limit, 0 for none */
};

/* --skip-courses: course and course_id values whose changes are left out. */
struct skips {
	char **course, **course_id;
	size_t nc, ni, nrec;
};

#define DEF_MAX_DROP "10%"
#define DEF_DROP_FLOOR 20
#define DEF_MAX_DROP_COUNT 5000
#define DEF_MAX_COURSE_DROP "50%"
#define DEF_COURSE_DROP_FLOOR 5

static const char *const opnames[] = { "add", "drop", "update" };

static void parse_opts(int, char **, struct opts *);
static size_t split(char *, char **, size_t, const char *);
/* Per course counts for --summary. */
struct ccount {
	char *course;
	size_t len;
	unsigned long k[3];
};

struct ccounts {
	struct ccount *v;
	size_t n, cap;
};

/* What the changes add up to, over all partitions with --memory-limit. */
struct totals {
	unsigned long count[2];
	size_t nsel, ndrop, nskip, nkept;
	struct ed_dups dups[2];
	struct ccounts cc;
	struct ed_course *crs;	/* course drops, names owned */
	size_t ncrs, crscap;
};

struct parted;

/* The changes to write: in memory (d, c, n), or merged from pt. */
struct src {
	struct ed_diff *d;
	struct ed_change **c;
	size_t n;
	struct parted *pt;
};

static void print_dups(const struct ed_dups *, const char *);
static void course_counts(struct ed_diff *, struct ed_change **, size_t,
    struct ccounts *);
static void summary(struct ccounts *, unsigned long, unsigned long);
static int refuse(const struct opts *, unsigned long, unsigned long, size_t,
    const struct ed_course *, size_t, bool, const char *);
static void write_refused(const struct opts *, const struct src *);
static int write_changes(const struct src *, enum ep_fmt,
    const struct droppol *);
static size_t select_changes(const struct opts *, struct ed_diff *,
    const struct skips *, struct ed_change *, size_t, struct ed_change **,
    struct totals *);
static void left_out(const struct opts *, const struct skips *,
    const struct totals *);
static size_t parts_needed(const struct opts *, const struct stat *, int);
static int run_parted(struct opts *, struct ep_reader **, int, size_t,
    const struct skips *);
static int load_skips(const char *, struct skips *, struct ep_error *);
static bool skipped(struct ed_diff *, const struct ed_change *,
    const struct skips *);
static void skips_free(struct skips *);
static void drops_first(struct ed_diff *, struct ed_change **, size_t);
static void progress_end(struct ed_diff *, size_t, int);

/* --progress: NULL when off. */
static struct ep_prog *pg;

int
main(int argc, char **argv)
{
	struct opts o;
	struct ep_reader *rd[2] = { NULL, NULL };
	struct ed_diff *d = NULL;
	struct ed_change *all, **sel = NULL;
	struct ep_error err = { 0, "" };
	struct stat st[2];
	struct skips sk = { NULL, NULL, 0, 0, 0 };
	struct totals t;
	struct src src = { NULL, NULL, 0, NULL };
	struct ed_course *crs = NULL;
	size_t nall, nsel = 0, ncrs = 0, nparts;
	int first = ED_DESIRED, rc = 0;
	bool bycourse;

	memset(&t, 0, sizeof(t));
	ep_cli_init(argc, argv);
	parse_opts(argc, argv, &o);
	argc -= optind;
	argv += optind;
	if (argc != 2)
		ep_usage_error(usage_text, "expected DESIRED and ACTUAL, "
		    "got %d argument%s", argc, argc == 1 ? "" : "s");
	if (strcmp(argv[0], "-") == 0 && strcmp(argv[1], "-") == 0)
		ep_usage_error(usage_text, "DESIRED and ACTUAL cannot both "
		    "be stdin");

	if (o.skip_path != NULL && load_skips(o.skip_path, &sk, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	if (o.dp_path != NULL && droppol_load(&o.dp, o.dp_path, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	for (int s = 0; s < 2; s++)
		if ((rd[s] = ep_reader_open(argv[s], o.ifmt, &err)) == NULL) {
			rc = ep_report(&err);
			goto out;
		}
	/* Keep the smaller input whole; of the other only the changes. */
	for (int s = 0; s < 2; s++)
		if (strcmp(argv[s], "-") == 0 || stat(argv[s], &st[s]) < 0 ||
		    !S_ISREG(st[s].st_mode))
			st[s].st_size = -1;
	if (st[0].st_size >= 0 && st[1].st_size >= 0 &&
	    st[1].st_size < st[0].st_size)
		first = ED_ACTUAL;

	if (o.memlimit > 0 && (nparts = parts_needed(&o, st, first)) > 0) {
		rc = run_parted(&o, rd, first, nparts, &sk);
		goto out;
	}

	o.ed.prog = pg = ep_prog_new("records");
	d = ed_new(&o.ed);
	if (st[first].st_size > 0)
		ed_size_hint(d, (size_t)st[first].st_size);
	if (st[first].st_size >= 0 && fstat(fileno(ep_reader_file(rd[first])),
	    &st[first]) == 0 && S_ISREG(st[first].st_mode))
		ed_lazy(d, rd[first]);
	if (ed_read(d, rd[first], first, &err) < 0 ||
	    ed_read(d, rd[!first], !first, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	print_dups(ed_dups(d, ED_DESIRED), ep_reader_name(rd[0]));
	print_dups(ed_dups(d, ED_ACTUAL), ep_reader_name(rd[1]));

	if (ed_changes(d, &all, &nall, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	sel = ep_xcalloc(nall + 1, sizeof(*sel));
	nsel = select_changes(&o, d, &sk, all, nall, sel, &t);
	left_out(&o, &sk, &t);
	drops_first(d, sel, nsel);
	ep_info(1, "%lu DESIRED and %lu ACTUAL records, %zu changes",
	    ed_count(d, ED_DESIRED), ed_count(d, ED_ACTUAL), nsel);
	if (o.summary) {
		course_counts(d, sel, nsel, &t.cc);
		summary(&t.cc, ed_count(d, ED_DESIRED),
		    ed_count(d, ED_ACTUAL));
	}
	bycourse = ed_course_drops(d, sel, nsel, o.course_floor, &crs, &ncrs);
	rc = refuse(&o, ed_count(d, ED_DESIRED), ed_count(d, ED_ACTUAL),
	    t.ndrop, crs, ncrs, bycourse, ep_reader_name(rd[0]));
	src.d = d;
	src.c = sel;
	src.n = nsel;
	if (rc) {
		write_refused(&o, &src);
		goto out;
	}
	/* Follow DESIRED's format; ACTUAL's when DESIRED is empty. */
	if (o.ofmt == EP_FMT_AUTO)
		o.ofmt = (enum ep_fmt)ep_io_to_fmt(usage_text,
		    ep_reader_format(rd[ed_count(d, ED_DESIRED) > 0 ? 0 : 1]));
	rc = write_changes(&src, o.ofmt, &o.dp);
	if (rc == 0 && o.exit_code && nsel > 0)
		rc = EP_EXIT_DIFF;
out:
	progress_end(d, nsel, rc);
	free(sel);
	ed_free(d);
	ep_reader_free(rd[0]);
	ep_reader_free(rd[1]);
	free(o.keyspec);
	free(o.updspec);
	free(o.rolespec);
	free(o.ed.roles);
	for (size_t i = 0; i < o.nallow; i++)
		free(o.allow[i]);
	free(o.allow);
	skips_free(&sk);
	droppol_free(&o.dp);
	for (size_t i = 0; i < t.cc.n; i++)
		free(t.cc.v[i].course);
	free(t.cc.v);
	return rc;
}

/* The changes --only, --skip-courses and the drop policy leave in sel. */
static size_t
select_changes(const struct opts *o, struct ed_diff *d, const struct skips *sk,
    struct ed_change *all, size_t nall, struct ed_change **sel,
    struct totals *t)
{
	size_t nsel = 0;

	for (size_t i = 0; i < nall; i++)
		if ((o->only & (1u << all[i].op)) && sk->nc + sk->ni > 0 &&
		    skipped(d, &all[i], sk))
			t->nskip++;
		else if ((o->only & (1u << ED_DROP)) && all[i].op == ED_DROP &&
		    o->dp.on && droppol_of(&o->dp, d, &all[i]) ==
		    EP_DROP_KEEP)
			t->nkept++;	/* add only: never dropped */
		else if (o->only & (1u << all[i].op)) {
			sel[nsel++] = &all[i];
			t->ndrop += all[i].op == ED_DROP;
		}
	return nsel;
}

static void
left_out(const struct opts *o, const struct skips *sk, const struct totals *t)
{
	if (sk->nrec > 0)
		ep_info(0, "%zu change%s in the %zu course%s of '%s' left out",
		    t->nskip, t->nskip == 1 ? "" : "s", sk->nrec,
		    sk->nrec == 1 ? "" : "s", o->skip_path);
	if (t->nkept > 0)
		ep_info(0, "%zu drop%s left out: drop policy keep", t->nkept,
		    t->nkept == 1 ? "" : "s");
}

/* "N%" from 0% to 100% as a number; a usage error naming opt else. */
static double
parse_pct(const char *opt, const char *arg)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || strcmp(end, "%") != 0 || !(v >= 0 && v <= 100))
		ep_usage_error(usage_text, "option '%s': '%s' is not a "
		    "percentage from 0%% to 100%%", opt, arg);
	return v;
}

static void
allow_course(struct opts *o, const char *course, size_t len)
{
	if (o->nallow == o->allowcap) {
		o->allowcap = o->allowcap ? o->allowcap * 2 : 16;
		o->allow = ep_xrealloc(o->allow,
		    o->allowcap * sizeof(*o->allow));
	}
	o->allow[o->nallow++] = ep_xstrndup(course, len);
}

/*
 * The courses listed in path, one a line; blank lines and lines
 * starting with '#' are skipped, a trailing CR and surrounding blanks
 * are not part of the name.  A missing file exits 66.
 */
static void
allow_course_file(struct opts *o, const char *path)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL)
		ep_die(errno == ENOENT ? EP_EXIT_NOINPUT : EP_EXIT_IOERR,
		    "option '--allow-course-drop-file': cannot open '%s': %s",
		    path, strerror(errno));
	while ((n = getline(&line, &cap, fp)) >= 0) {
		char *s = line, *e = line + n;

		while (e > s && (e[-1] == '\n' || e[-1] == '\r' ||
		    e[-1] == ' ' || e[-1] == '\t'))
			e--;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		if (s < e && *s != '#')
			allow_course(o, s, (size_t)(e - s));
	}
	if (ferror(fp))
		ep_die(EP_EXIT_IOERR, "option '--allow-course-drop-file': "
		    "read error on '%s': %s", path, strerror(errno));
	free(line);
	fclose(fp);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	char *only = NULL;
	int c;

	memset(o, 0, sizeof(*o));
	o->only = 7;
	o->max_text = DEF_MAX_DROP;
	o->max_pct = 10;
	o->floor = DEF_DROP_FLOOR;
	o->max_count = DEF_MAX_DROP_COUNT;
	o->course_text = DEF_MAX_COURSE_DROP;
	o->course_pct = 50;
	o->course_floor = DEF_COURSE_DROP_FLOOR;
	o->ifmt = EP_FMT_AUTO;
	o->ofmt = EP_FMT_AUTO;		/* follow DESIRED */
	o->keyspec = ep_xstrdup("course,user,role");
	while ((c = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS "k:"
	    EP_FROM_SHORTOPTS EP_TO_SHORTOPTS,
	    longopts, NULL)) != -1)
		switch (c) {
		case 'k':
			free(o->keyspec);
			o->keyspec = ep_xstrdup(optarg);
			break;
		case OPT_UPDATE_ON:
			o->ed.upd = optarg;
			break;
		case OPT_ONLY:
			only = optarg;
			break;
		case OPT_ROLES:
			free(o->rolespec);
			o->rolespec = ep_xstrdup(optarg);
			break;
		case OPT_MAX_DROP:
			if (strchr(optarg, '%') != NULL) {
				o->max_pct = parse_pct("--max-drop", optarg);
				o->max_text = optarg;
				break;
			}
			/* The older spelling of a count. */
			o->max_count = (unsigned long)ep_cli_long(usage_text,
			    "--max-drop", optarg, 2147483647L);
			o->max_pct = 100;
			o->max_text = "100%";
			break;
		case OPT_DROP_FLOOR:
			o->floor = (unsigned long)ep_cli_long(usage_text,
			    "--drop-floor", optarg, 2147483647L);
			break;
		case OPT_MAX_DROP_COUNT:
			o->max_count = (unsigned long)ep_cli_long(usage_text,
			    "--max-drop-count", optarg, 2147483647L);
			break;
		case OPT_MAX_COURSE_DROP:
			o->course_pct = parse_pct("--max-course-drop", optarg);
			o->course_text = optarg;
			break;
		case OPT_COURSE_DROP_FLOOR:
			o->course_floor = (unsigned long)ep_cli_long(
			    usage_text, "--course-drop-floor", optarg,
			    2147483647L);
			break;
		case OPT_ALLOW_COURSE_DROP:
			if (*optarg == '\0')
				ep_usage_error(usage_text, "option "
				    "'--allow-course-drop' needs a course");
			allow_course(o, optarg, strlen(optarg));
			break;
		case OPT_ALLOW_COURSE_DROP_FILE:
			allow_course_file(o, optarg);
			break;
		case OPT_REFUSED:
			if (*optarg == '\0' || strcmp(optarg, "-") == 0)
				ep_usage_error(usage_text, "option "
				    "'--refused' needs a file name (not "
				    "stdout, which a refusal leaves empty)");
			o->refused = optarg;
			break;
		case OPT_ALLOW_EMPTY:
			o->allow_empty = true;
			break;
		case OPT_SUMMARY:
			o->summary = true;
			break;
		case OPT_EXIT_CODE:
			o->exit_code = true;
			break;
		case OPT_SKIP_COURSES:
			o->skip_path = optarg;
			break;
		case OPT_DROP_POLICY:
			o->dp.def = ep_drop_policy_parse(optarg);
			if (o->dp.def == EP_DROP_BAD)
				ep_usage_error(usage_text, "option "
				    "'--drop-policy': unknown policy '%s' (%s)",
				    optarg, EP_DROP_POLICY_WORDS);
			o->dp.on = true;
			break;
		case OPT_MEMORY_LIMIT:
			o->memlimit = ep_size_arg(usage_text, "--memory-limit",
			    optarg, "256M", 1024, 1ull << 40);
			break;
		case OPT_DROP_POLICY_FILE:
			o->dp_path = optarg;
			o->dp.on = true;
			break;
		default:
			ep_cli_common(c, argv, usage_text);
		}

	o->ifmt = (enum ep_fmt)ep_io.from;
	if (ep_io.to != NULL)
		o->ofmt = (enum ep_fmt)ep_io_to_fmt(usage_text, EP_FMT_AUTO);
	o->ed.nkey = split(o->keyspec, (char **)o->ed.key, ED_MAX_KEY,
	    "--key");
	o->ed.updk = -1;
	if (o->ed.upd != NULL) {
		if (*o->ed.upd == '\0')
			ep_usage_error(usage_text, "option '--update-on' "
			    "needs a field name");
		o->updspec = ep_xstrdup(o->ed.upd);
		o->ed.nupd = split(o->updspec, (char **)o->ed.upds,
		    ED_MAX_KEY + 1 - o->ed.nkey, "--update-on");
		o->ed.upd = o->ed.upds[0];
		for (size_t j = 0; j < o->ed.nupd && o->ed.nupd > 1; j++)
			for (size_t i = 0; i < o->ed.nkey; i++)
				if (strcmp(o->ed.key[i], o->ed.upds[j]) == 0)
					ep_usage_error(usage_text,
					    "--update-on '%s' is a key field: "
					    "several fields must all be "
					    "outside the key", o->ed.upds[j]);
		for (size_t i = 0; i < o->ed.nkey; i++)
			if (strcmp(o->ed.key[i], o->ed.upd) == 0)
				o->ed.updk = (int)i;
		if (o->ed.updk >= 0 && o->ed.nkey == 1)
			ep_usage_error(usage_text, "--update-on '%s' leaves "
			    "no key field to pair records on", o->ed.upd);
	}
	/* Partitions by course: each holds whole courses, so per-course
	 * counts, duplicates and drops_first runs stay inside one, and with
	 * course first in the key the output is the partitions' courses in
	 * order. */
	if (o->memlimit > 0 && (strcmp(o->ed.key[0], "course") != 0 ||
	    o->ed.updk == 0))
		ep_usage_error(usage_text, "--memory-limit needs 'course' as "
		    "the first --key field (and not the --update-on field)");
	if (o->rolespec != NULL) {
		size_t cap = strlen(o->rolespec) / 2 + 1;

		o->ed.roles = ep_xcalloc(cap, sizeof(char *));
		o->ed.nroles = split(o->rolespec, o->ed.roles, cap,
		    "--roles");
	}
	if (only != NULL) {
		char *copy = ep_xstrdup(only), *w[3];
		size_t n = split(copy, w, 3, "--only");

		o->only = 0;
		for (size_t i = 0; i < n; i++) {
			unsigned bit = 0;

			for (int k = 0; k < 3; k++)
				if (strcmp(w[i], opnames[k]) == 0)
					bit = 1u << k;
			if (bit == 0) {
				ep_err("option '--only': unknown op '%s' "
				    "(add, drop or update)", w[i]);
				free(copy);
				ep_usage(usage_text, EP_EXIT_USAGE);
			}
			o->only |= bit;
		}
		free(copy);
	}
}

/*
 * Split the comma list s in place into at most max non-empty, distinct
 * words; a usage error naming opt otherwise.  Returns the count.
 */
static size_t
split(char *s, char **w, size_t max, const char *opt)
{
	size_t n = 0;
	char *p = s;

	for (;;) {
		char *comma = strchr(p, ',');

		if (comma)
			*comma = '\0';
		if (*p == '\0')
			ep_usage_error(usage_text, "option '%s': empty name "
			    "in '%s'", opt, s);
		for (size_t i = 0; i < n; i++)
			if (strcmp(w[i], p) == 0)
				ep_usage_error(usage_text, "option '%s': '%s' "
				    "given twice", opt, p);
		if (n == max)
			ep_usage_error(usage_text, "option '%s': more than "
			    "%zu names", opt, max);
		w[n++] = p;
		if (comma == NULL)
			return n;
		p = comma + 1;
	}
}

static void
print_dups(const struct ed_dups *u, const char *name)
{
	if (u->n == 0)
		return;
	ep_warn("%s: %lu record%s repeat%s an earlier key, counted once: "
	    "%s%s%s%s%s%s", name, u->n, u->n == 1 ? "" : "s",
	    u->n == 1 ? "s" : "", u->first[0],
	    u->first[1] ? "; " : "", u->first[1] ? u->first[1] : "",
	    u->first[2] ? "; " : "", u->first[2] ? u->first[2] : "",
	    u->n > 3 ? "; ..." : "");
}

struct course_op {
	const char *course;
	size_t len;
	enum ed_op op;
};

static int
course_cmp(const void *a, const void *b)
{
	const struct course_op *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->course, y->course, n);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Append the per-course counts of the n changes c to cc. */
static void
course_counts(struct ed_diff *d, struct ed_change **c, size_t n,
    struct ccounts *cc)
{
	struct course_op *co = ep_xcalloc(n + 1, sizeof(*co));

	for (size_t i = 0; i < n; i++) {
		co[i].course = ed_change_field(d, c[i], "course", &co[i].len);
		if (co[i].course == NULL) {
			co[i].course = "";
			co[i].len = 0;
		}
		co[i].op = c[i]->op;
	}
	ep_sort(co, n, sizeof(*co), course_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		struct ccount *e;

		if (cc->n == cc->cap) {
			cc->cap = cc->cap ? cc->cap * 2 : 16;
			cc->v = ep_xrealloc(cc->v, cc->cap * sizeof(*cc->v));
		}
		e = &cc->v[cc->n++];
		memset(e, 0, sizeof(*e));
		e->course = ep_xstrndup(co[i].course, co[i].len);
		e->len = co[i].len;
		for (j = i; j < n && course_cmp(&co[i], &co[j]) == 0; j++)
			e->k[co[j].op]++;
	}
	free(co);
}

static int
ccount_cmp(const void *a, const void *b)
{
	const struct ccount *x = a, *y = b;
	struct course_op p = { x->course, x->len, ED_ADD };
	struct course_op q = { y->course, y->len, ED_ADD };

	return course_cmp(&p, &q);
}

/* Counts per op and per course on stderr. */
static void
summary(struct ccounts *cc, unsigned long nd, unsigned long na)
{
	unsigned long tot[3] = { 0, 0, 0 };
	const char *p = ep_progname();

	for (size_t i = 0; i < cc->n; i++)
		for (int k = 0; k < 3; k++)
			tot[k] += cc->v[i].k[k];
	fprintf(stderr, "%s: summary: %lu add, %lu drop, %lu update "
	    "(DESIRED %lu records, ACTUAL %lu)\n", p, tot[0], tot[1], tot[2],
	    nd, na);
	ep_sort(cc->v, cc->n, sizeof(*cc->v), ccount_cmp);
	for (size_t i = 0; i < cc->n; i++) {
		/* A course name is input: escaped, as in every message. */
		char *esc = ep_msg_escape(cc->v[i].course);

		fprintf(stderr, "%s: summary: course '%s': %lu add, "
		    "%lu drop, %lu update\n", p, esc, cc->v[i].k[0],
		    cc->v[i].k[1], cc->v[i].k[2]);
		free(esc);
	}
}

/* p% of n, rounded down: the most drops that p% allows. */
static unsigned long
pct_of(double p, unsigned long n)
{
	return (unsigned long)(p * (double)n / 100 + 1e-9);
}

static bool
allowed(const struct opts *o, const char *course)
{
	for (size_t i = 0; i < o->nallow; i++)
		if (strcmp(o->allow[i], course) == 0)
			return true;
	return false;
}

#define MAX_LISTED 10		/* courses named in a refusal */

/*
 * The per-course limit: a course whose drops exceed both its floor and
 * --max-course-drop of its ACTUAL records, and is not allowed.  0, or 3
 * after naming the courses.
 */
static int
refuse_courses(const struct opts *o, const struct ed_course *c, size_t nc,
    bool bycourse)
{
	size_t nbad = 0;
	unsigned long dropped = 0;
	char *list = NULL;
	size_t len = 0;
	FILE *fp;

	if (!bycourse)
		return 0;
	fp = open_memstream(&list, &len);
	if (fp == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	for (size_t i = 0; i < nc; i++) {
		unsigned long lim = pct_of(o->course_pct, c[i].actual);

		if (c[i].drop <= o->course_floor || c[i].drop <= lim ||
		    allowed(o, c[i].name))
			continue;
		dropped += c[i].drop;
		if (nbad++ < MAX_LISTED)
			fprintf(fp, "%s'%s' %lu of %lu", nbad > 1 ? ", " : "",
			    c[i].name, c[i].drop, c[i].actual);
	}
	if (nbad > MAX_LISTED)
		fprintf(fp, ", and %zu more", nbad - MAX_LISTED);
	fclose(fp);
	if (nbad > 0)
		ep_err("refusing %lu drop%s in %zu course%s: more than "
		    "--max-course-drop %s of a course's ACTUAL records%s and "
		    "more than --course-drop-floor %lu: %s; "
		    "--allow-course-drop COURSE overrides", dropped,
		    dropped == 1 ? "" : "s", nbad, nbad == 1 ? "" : "s",
		    o->course_text, o->ed.roles ? " of the roles given by "
		    "--roles" : "", o->course_floor, list);
	free(list);
	return nbad > 0 ? EP_EXIT_REFUSED : 0;
}

/*
 * The safety limits: 0, or 3 after saying why.  Every limit that fires
 * is named, so one look shows what an override needs.
 */
static int
refuse(const struct opts *o, unsigned long nd, unsigned long na, size_t ndrop,
    const struct ed_course *crs, size_t ncrs, bool bycourse,
    const char *desired)
{
	const char *of = o->ed.roles ? " of the roles given by --roles" : "";
	unsigned long lim = pct_of(o->max_pct, na);
	const char *s = ndrop == 1 ? "" : "s";
	int rc = 0;

	if (nd == 0 && !o->allow_empty) {
		ep_err("refusing %zu drop%s: DESIRED '%s' has no records%s; "
		    "--allow-empty overrides", ndrop, s, desired, of);
		return EP_EXIT_REFUSED;
	}
	if (ndrop > lim && ndrop > o->floor) {
		ep_err("refusing %zu drop%s: more than --max-drop %s of the "
		    "%lu ACTUAL records%s (%lu) and more than --drop-floor "
		    "%lu; a higher --max-drop overrides", ndrop, s,
		    o->max_text, na, of, lim, o->floor);
		rc = EP_EXIT_REFUSED;
	}
	if (ndrop > o->max_count) {
		ep_err("refusing %zu drop%s: more than --max-drop-count %lu; "
		    "a higher --max-drop-count overrides", ndrop, s,
		    o->max_count);
		rc = EP_EXIT_REFUSED;
	}
	if (refuse_courses(o, crs, ncrs, bycourse))
		rc = EP_EXIT_REFUSED;
	return rc;
}

struct names {
	const char **v;
	size_t n, cap;
};

static void
add_name(const char *name, void *arg)
{
	struct names *u = arg;

	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->v[i], name) == 0)
			return;
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 16;
		u->v = ep_xrealloc(u->v, u->cap * sizeof(*u->v));
	}
	u->v[u->n++] = name;
}

/* Write the n changes c to fp as fmt.  0, or -1 with err. */
static int merge_write(struct parted *, FILE *, enum ep_fmt,
    struct ep_error *);

static int
write_recs(const struct src *src, FILE *fp, enum ep_fmt fmt,
    const struct droppol *dp, struct ep_error *err)
{
	struct ed_diff *d = src->d;
	struct ed_change **c = src->c;
	size_t n = src->n;
	struct ep_writer *w;
	struct ep_rec *r;
	int rc = 0;

	if (src->pt != NULL)
		return merge_write(src->pt, fp, fmt, err);
	w = ep_writer_new(fp, fmt);
	r = ep_rec_new();

	if (fmt == EP_FMT_CSV) {
		/* Columns: op, then every field in first-seen order. */
		struct names u = { NULL, 0, 0 };

		add_name("op", &u);
		for (size_t i = 0; i < n; i++) {
			ed_change_names(d, c[i], add_name, &u);
			if (dp->on && c[i]->op == ED_DROP)
				add_name("drop_policy", &u);
		}
		ep_writer_set_fields(w, u.v, u.n);
		free(u.v);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		ed_change_rec(d, c[i], r);
		if (dp->on && c[i]->op == ED_DROP)
			ep_rec_set_str(r, "drop_policy", ep_drop_policy_name(
			    droppol_of(dp, d, c[i])));
		if (ep_writer_write(w, r, err) < 0)
			rc = -1;
		ep_prog_add(pg, 1, 0);
	}
	if (rc == 0 && n > 0 && ep_writer_finish(w, err) < 0)
		rc = -1;
	ep_writer_free(w);
	ep_rec_free(r);
	return rc;
}

static int
write_changes(const struct src *src, enum ep_fmt fmt, const struct droppol *dp)
{
	static char buf[1 << 16];
	struct ep_error err = { 0, "" };
	struct ep_out *out;
	int rc = 0;

	if (strcmp(ep_io.output, "-") != 0) {
		/* -o FILE: whole or not at all, like --refused. */
		if ((out = ep_out_open(ep_io.output, &err)) == NULL)
			return ep_report(&err);
		ep_prog_phase(pg, "writing", "changes");
		if (write_recs(src, ep_out_file(out), fmt, dp, &err) < 0) {
			ep_out_abort(out);
			return ep_report(&err);
		}
		if (ep_out_commit(out, &err) < 0)
			return ep_report(&err);
		return ep_close_stdout();
	}
	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	ep_prog_phase(pg, "writing", "changes");
	ep_prog_stdout(pg);
	if (write_recs(src, stdout, fmt, dp, &err) < 0)
		rc = ep_report(&err);
	if (ep_close_stdout() && rc == 0)
		rc = EP_EXIT_IOERR;
	return rc;
}

/*
 * After a refusal: the changes that would have been printed, as NDJSON,
 * to --refused FILE, written whole or not at all.  A failure is
 * reported; the exit status stays the refusal's.
 */
static void
write_refused(const struct opts *o, const struct src *src)
{
	size_t n = src->n;
	struct ep_error err = { 0, "" };
	struct ep_out *out;

	if (o->refused == NULL)
		return;
	if ((out = ep_out_open(o->refused, &err)) == NULL) {
		ep_err("cannot keep the refused changes: %s", err.msg);
		return;
	}
	if (write_recs(src, ep_out_file(out), EP_FMT_NDJSON, &o->dp,
	    &err) < 0) {
		ep_out_abort(out);
		ep_err("cannot keep the refused changes: %s", err.msg);
		return;
	}
	if (ep_out_commit(out, &err) < 0) {
		ep_err("cannot keep the refused changes: %s", err.msg);
		return;
	}
	ep_err("the %zu change%s refused %s in '%s'", n, n == 1 ? "" : "s",
	    n == 1 ? "is" : "are", o->refused);
}

/*
 * --skip-courses FILE: records (lms-fetch --skipped writes them) whose
 * course and course_id name courses the LMS could not be read for.  A
 * change in one of them is left out: with no LMS roster, every SIS
 * record there would be an add and nothing could be known to drop.
 */
static int
load_skips(const char *path, struct skips *sk, struct ep_error *err)
{
	struct ep_reader *rd = ep_reader_open(path, EP_FMT_AUTO, err);
	struct ep_rec *r = ep_rec_new();
	int k = 0;

	if (rd == NULL) {
		ep_rec_free(r);
		return -1;
	}
	while ((k = ep_reader_next(rd, r, err)) == 1) {
		const char *c = ep_rec_str(r, "course");
		const char *i = ep_rec_str(r, "course_id");

		if ((c == NULL || *c == '\0') && (i == NULL || *i == '\0')) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: a skipped "
			    "course needs 'course' or 'course_id'",
			    ep_reader_name(rd), ep_reader_line(rd));
			k = -1;
			break;
		}
		sk->nrec++;
		if (c != NULL && *c != '\0') {
			sk->course = ep_xrealloc(sk->course, (sk->nc + 1) *
			    sizeof(*sk->course));
			sk->course[sk->nc++] = ep_xstrdup(c);
		}
		if (i != NULL && *i != '\0') {
			sk->course_id = ep_xrealloc(sk->course_id,
			    (sk->ni + 1) * sizeof(*sk->course_id));
			sk->course_id[sk->ni++] = ep_xstrdup(i);
		}
	}
	ep_rec_free(r);
	ep_reader_free(rd);
	return k < 0 ? -1 : 0;
}

static bool
in_list(char **v, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; s != NULL && i < n; i++)
		if (strlen(v[i]) == len && memcmp(v[i], s, len) == 0)
			return true;
	return false;
}

static bool
skipped(struct ed_diff *d, const struct ed_change *c, const struct skips *sk)
{
	size_t len = 0;
	const char *v = ed_change_field(d, c, "course", &len);

	if (in_list(sk->course, sk->nc, v, len))
		return true;
	v = ed_change_field(d, c, "course_id", &len);
	return in_list(sk->course_id, sk->ni, v, len);
}

static void
skips_free(struct skips *sk)
{
	for (size_t i = 0; i < sk->nc; i++)
		free(sk->course[i]);
	for (size_t i = 0; i < sk->ni; i++)
		free(sk->course_id[i]);
	free(sk->course);
	free(sk->course_id);
}

/* A change, its course and user, and where it was in key order. */
struct cu {
	struct ed_change *c;
	const char *course, *user;
	size_t clen, ulen, pos;
	bool drop;
};

static int
cu_cmp(const void *a, const void *b)
{
	const struct cu *x = a, *y = b;
	int k;

	if (x->clen != y->clen || (k = memcmp(x->course, y->course,
	    x->clen)) != 0)
		goto pos;
	if (x->ulen != y->ulen || (k = memcmp(x->user, y->user,
	    x->ulen)) != 0)
		goto pos;
	if (x->drop != y->drop)
		return x->drop ? -1 : 1;
pos:
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Within one course and user, drops go before adds and updates.  A role
 * change without --update-on is "drop student" and "add auditingstudent"
 * (key order would put the add first): Conduit's drop and Moodle's flat
 * file 'del' may take away the whole enrollment, so the add must come
 * after it, or the user ends with no enrollment at all.  Other changes
 * keep key order.
 */
static void
drops_first(struct ed_diff *d, struct ed_change **c, size_t n)
{
	struct cu *v;
	size_t i, j;

	for (i = 0; i + 1 < n; i++)
		if (c[i]->op != ED_DROP && c[i + 1]->op == ED_DROP)
			break;
	if (i + 1 >= n)
		return;		/* nothing to move */
	v = ep_xcalloc(n, sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i].c = c[i];
		v[i].pos = i;
		v[i].drop = c[i]->op == ED_DROP;
		v[i].course = ed_change_field(d, c[i], "course", &v[i].clen);
		v[i].user = ed_change_field(d, c[i], "user", &v[i].ulen);
	}
	/* Runs of one course and user are contiguous in key order when the
	 * key starts with them (the default); sort each run on its own. */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && v[j].course != NULL &&
		    v[j].user != NULL && v[i].course != NULL &&
		    v[i].user != NULL && v[j].clen == v[i].clen &&
		    v[j].ulen == v[i].ulen && memcmp(v[j].course,
		    v[i].course, v[i].clen) == 0 && memcmp(v[j].user,
		    v[i].user, v[i].ulen) == 0; j++)
			continue;
		if (j - i > 1)
			ep_sort(v + i, j - i, sizeof(*v), cu_cmp);
	}
	for (i = 0; i < n; i++)
		c[i] = v[i].c;
	free(v);
}

/*
 * The final --progress line after a run that printed its changes (0, or
 * 1 with --exit-code); after a failure or a refusal the line is cleared,
 * the message says what happened.
 */
static void
progress_end(struct ed_diff *d, size_t nsel, int rc)
{
	if (d == NULL || (rc != 0 && rc != EP_EXIT_DIFF)) {
		ep_prog_free(pg);
		return;
	}
	ep_prog_end(pg, "%lu DESIRED and %lu ACTUAL records, %zu "
	    "change%s written", ed_count(d, ED_DESIRED),
	    ed_count(d, ED_ACTUAL), nsel, nsel == 1 ? "" : "s");
}

/*
 * --memory-limit: a grace hash join.  Both inputs are checked record by
 * record (ed_check: the messages and exit 65 of ed_read) and split by
 * a hash of their course into N partitions, NDJSON in temporary files,
 * each record's line number kept beside it; then each partition is
 * diffed on its own by the in-memory engine, its changes (in output
 * order) written to another temporary file and their counts added up.
 * The limits are decided on the totals, and only then are the
 * partitions' changes merged by course: with course the first key
 * field, key order is course order, and a course lies in one partition.
 * Temporary files are unlinked from the start (O_TMPFILE, or mkstemp
 * and unlink), so no exit, kill -9 included, leaves one behind.
 */
struct part {
	FILE *in[2], *ln[2];	/* records of each side, their lines */
	struct ep_writer *w[2];
	FILE *chg, *ckey;	/* changes (NDJSON), and their courses */
};

struct parted {
	struct part *p;
	size_t n;
};

/* Bytes of store a byte of input needs, about (bench/enroll-diff). */
#define STORE_PER_BYTE 0.9
#define MAX_PARTS 1024

/*
 * 0 when the smaller input, by its size, fits in the limit; else the
 * partitions that make each fit, with room to spare, 2 or more.  An
 * input of unknown size (a pipe) counts as the other's size, and both
 * unknown as 16 partitions.
 */
static size_t
parts_needed(const struct opts *o, const struct stat *st, int first)
{
	off_t size = st[first].st_size >= 0 ? st[first].st_size :
	    st[!first].st_size;
	double est, n;
	struct rlimit rl;
	size_t cap = MAX_PARTS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rl.rlim_cur - 32) / 4 < cap)
		cap = rl.rlim_cur > 40 ? (rl.rlim_cur - 32) / 4 : 2;
	if (size < 0)
		return cap < 16 ? cap : 16;
	est = (double)size * STORE_PER_BYTE;
	if (est <= (double)o->memlimit)
		return 0;
	n = est / (0.8 * (double)o->memlimit) + 0.999999;
	if (n < 2)
		n = 2;
	return n > (double)cap ? cap : (size_t)n;
}

static FILE *
tmp_open(void)
{
	const char *dir = getenv("TMPDIR");
	FILE *fp = NULL;
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char *path = ep_xasprintf("%s/enroll-diff.XXXXXX", dir);

		if ((fd = mkstemp(path)) >= 0)
			unlink(path);
		free(path);
	}
	if (fd < 0 || (fp = fdopen(fd, "w+")) == NULL)
		ep_die(EP_EXIT_IOERR, "--memory-limit: cannot make a "
		    "temporary file in '%s': %s", dir, strerror(errno));
	return fp;
}

/* Which of n partitions course goes to (FNV-1a, then mixed). */
static size_t
part_of(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (size_t)(h % n);
}

static int
tmp_error(struct ep_error *err)
{
	ep_error_set(err, EP_EXIT_IOERR, "--memory-limit: temporary file: %s",
	    strerror(errno ? errno : EIO));
	return -1;
}

/* Check every record of side and put it in its partition. */
static int
split_side(struct ed_diff *chk, struct ep_reader *rd, int side,
    struct parted *pt, struct ep_error *err)
{
	struct ep_rec *r = ep_rec_new();
	const char *course;
	int k;

	for (size_t i = 0; i < pt->n; i++) {
		pt->p[i].in[side] = tmp_open();
		pt->p[i].ln[side] = tmp_open();
		pt->p[i].w[side] = ep_writer_new(pt->p[i].in[side],
		    EP_FMT_NDJSON);
	}
	while ((k = ep_reader_next(rd, r, err)) == 1) {
		uint64_t line = ep_reader_line(rd);
		int c = ed_check(chk, rd, r, &course, err);
		struct part *p;

		if (c < 0) {
			k = -1;
			break;
		}
		if (c == 0)
			continue;
		p = &pt->p[part_of(course, pt->n)];
		if (ep_writer_write(p->w[side], r, err) < 0)
			k = -1;
		else if (fwrite(&line, sizeof(line), 1, p->ln[side]) != 1)
			k = tmp_error(err);
		if (k < 0)
			break;
	}
	ep_rec_free(r);
	for (size_t i = 0; i < pt->n && k == 0; i++) {
		struct part *p = &pt->p[i];

		if (ep_writer_finish(p->w[side], err) < 0)
			k = -1;
		else if (fflush(p->in[side]) != 0 || fflush(p->ln[side]) != 0)
			k = tmp_error(err);
	}
	return k < 0 ? -1 : 0;
}

static unsigned long
next_line(void *arg)
{
	uint64_t v = 0;

	if (fread(&v, sizeof(v), 1, arg) != 1)
		v = 0;
	return (unsigned long)v;
}

static unsigned long
dup_line(const char *s)
{
	const char *p = strrchr(s, '(');

	return p != NULL ? strtoul(p + 6, NULL, 10) : 0;
}

/* Add u to t: the count, and the first three by line. */
static void
merge_dups(struct ed_dups *t, const struct ed_dups *u)
{
	t->n += u->n;
	for (int i = 0; i < 3 && u->first[i] != NULL; i++) {
		char *s = ep_xstrdup(u->first[i]);

		for (int j = 0; j < 3 && s != NULL; j++)
			if (t->first[j] == NULL) {
				t->first[j] = s;
				s = NULL;
			} else if (dup_line(s) < dup_line(t->first[j])) {
				char *x = t->first[j];

				t->first[j] = s;
				s = x;
			}
		free(s);
	}
}

/* Diff partition p; its changes to p->chg and p->ckey, counts to t. */
static int
do_part(const struct opts *o, struct ep_reader **rd, int first,
    struct part *p, const struct skips *sk, struct totals *t,
    struct ep_error *err)
{
	struct ed_diff *pd = ed_new(&o->ed);
	struct ep_reader *prd[2] = { NULL, NULL };
	struct ed_change *all, **sel = NULL;
	struct ed_course *c;
	struct ep_writer *w = NULL;
	struct ep_rec *r = NULL;
	size_t nall, nsel, nc;
	int rc = -1;

	for (int k = 0; k < 2; k++) {
		int s = k ? !first : first, fd;
		struct stat sb;
		FILE *f;

		if ((fd = dup(fileno(p->in[s]))) < 0 ||
		    lseek(fd, 0, SEEK_SET) < 0 ||
		    (f = fdopen(fd, "r")) == NULL) {
			tmp_error(err);
			goto out;
		}
		prd[s] = ep_reader_new(f, ep_reader_name(rd[s]),
		    EP_FMT_NDJSON);
		rewind(p->ln[s]);
		if (k == 0) {
			if (fstat(fd, &sb) == 0 && sb.st_size > 0)
				ed_size_hint(pd, (size_t)sb.st_size);
			ed_lazy(pd, prd[s]);
		}
		ed_line_hook(pd, next_line, p->ln[s]);
		if (ed_read(pd, prd[s], s, err) < 0)
			goto out;
	}
	if (ed_changes(pd, &all, &nall, err) < 0)
		goto out;
	sel = ep_xcalloc(nall + 1, sizeof(*sel));
	nsel = select_changes(o, pd, sk, all, nall, sel, t);
	drops_first(pd, sel, nsel);
	for (int s = 0; s < 2; s++) {
		t->count[s] += ed_count(pd, (enum ed_side)s);
		merge_dups(&t->dups[s], ed_dups(pd, (enum ed_side)s));
	}
	if (o->summary)
		course_counts(pd, sel, nsel, &t->cc);
	if (ed_course_drops(pd, sel, nsel, o->course_floor, &c, &nc))
		for (size_t i = 0; i < nc; i++) {
			if (t->ncrs == t->crscap) {
				t->crscap = t->crscap ? t->crscap * 2 : 16;
				t->crs = ep_xrealloc(t->crs, t->crscap *
				    sizeof(*t->crs));
			}
			t->crs[t->ncrs] = c[i];
			t->crs[t->ncrs++].name = ep_xstrdup(c[i].name);
		}
	p->chg = tmp_open();
	p->ckey = tmp_open();
	w = ep_writer_new(p->chg, EP_FMT_NDJSON);
	r = ep_rec_new();
	for (size_t i = 0; i < nsel; i++) {
		size_t clen = 0;
		const char *course = ed_change_field(pd, sel[i], "course",
		    &clen);
		uint32_t len = (uint32_t)clen;

		ed_change_rec(pd, sel[i], r);
		if (o->dp.on && sel[i]->op == ED_DROP)
			ep_rec_set_str(r, "drop_policy", ep_drop_policy_name(
			    droppol_of(&o->dp, pd, sel[i])));
		if (ep_writer_write(w, r, err) < 0)
			goto out;
		if (fwrite(&len, sizeof(len), 1, p->ckey) != 1 ||
		    fwrite(course, 1, clen, p->ckey) != clen) {
			tmp_error(err);
			goto out;
		}
	}
	if (nsel > 0 && ep_writer_finish(w, err) < 0)
		goto out;
	if (fflush(p->chg) != 0 || fflush(p->ckey) != 0) {
		tmp_error(err);
		goto out;
	}
	t->nsel += nsel;
	rc = 0;
out:
	ep_writer_free(w);
	ep_rec_free(r);
	free(sel);
	ed_free(pd);
	for (int s = 0; s < 2; s++) {
		if (prd[s] != NULL) {
			fclose(ep_reader_file(prd[s]));
			ep_reader_free(prd[s]);
		}
		/* Done with: the space goes back now. */
		fclose(p->in[s]);
		fclose(p->ln[s]);
		p->in[s] = p->ln[s] = NULL;
	}
	return rc;
}

/* The next change of a partition, and its course. */
struct head {
	char *course, *line;
	size_t ccap, lcap, llen;
	bool live;
};

static int
next_head(struct part *p, struct head *h, struct ep_error *err)
{
	uint32_t len;
	ssize_t n;

	h->live = false;
	if (fread(&len, sizeof(len), 1, p->ckey) != 1)
		return ferror(p->ckey) ? tmp_error(err) : 0;
	if (h->ccap < (size_t)len + 1) {
		h->ccap = (size_t)len + 1;
		h->course = ep_xrealloc(h->course, h->ccap);
	}
	if (fread(h->course, 1, len, p->ckey) != len ||
	    (n = getline(&h->line, &h->lcap, p->chg)) <= 0)
		return tmp_error(err);
	h->course[len] = '\0';
	h->llen = (size_t)n - (h->line[n - 1] == '\n');
	h->live = true;
	return 0;
}

/* Each change of pt in output order to fn. */
static int
merge(struct parted *pt, int (*fn)(struct ep_rec *, void *,
    struct ep_error *), void *arg, struct ep_error *err)
{
	struct head *h = ep_xcalloc(pt->n, sizeof(*h));
	struct ep_rec *r = ep_rec_new();
	int rc = 0;

	for (size_t i = 0; i < pt->n && rc == 0; i++) {
		rewind(pt->p[i].chg);
		rewind(pt->p[i].ckey);
		rc = next_head(&pt->p[i], &h[i], err);
	}
	while (rc == 0) {
		size_t m = pt->n;
		const char *why;

		for (size_t i = 0; i < pt->n; i++)
			if (h[i].live && (m == pt->n ||
			    strcmp(h[i].course, h[m].course) < 0))
				m = i;
		if (m == pt->n)
			break;
		if (ep_ndjson_parse(r, h[m].line, h[m].llen, &why) < 0) {
			ep_error_set(err, EP_EXIT_IOERR, "--memory-limit: "
			    "temporary file: %s", why);
			rc = -1;
		} else if ((rc = fn(r, arg, err)) == 0)
			rc = next_head(&pt->p[m], &h[m], err);
	}
	for (size_t i = 0; i < pt->n; i++) {
		free(h[i].course);
		free(h[i].line);
	}
	free(h);
	ep_rec_free(r);
	return rc;
}

static int
merge_names(struct ep_rec *r, void *arg, struct ep_error *err)
{
	struct names *u = arg;

	(void)err;
	for (size_t i = 0; i < r->n; i++) {
		size_t n = u->n;

		add_name(r->f[i].name, u);
		if (u->n > n)	/* new: keep a copy */
			u->v[n] = ep_xstrdup(r->f[i].name);
	}
	return 0;
}

static int
merge_rec(struct ep_rec *r, void *arg, struct ep_error *err)
{
	if (ep_writer_write(arg, r, err) < 0)
		return -1;
	ep_prog_add(pg, 1, 0);
	return 0;
}

/* write_recs for the partitions' changes. */
static int
merge_write(struct parted *pt, FILE *fp, enum ep_fmt fmt,
    struct ep_error *err)
{
	struct ep_writer *w = ep_writer_new(fp, fmt);
	size_t n = 0;
	int rc = 0;

	if (fmt == EP_FMT_CSV) {
		/* Columns: op, then every field in first-seen order. */
		struct names u = { NULL, 0, 0 };

		add_name("op", &u);
		u.v[0] = ep_xstrdup("op");
		rc = merge(pt, merge_names, &u, err);
		if (rc == 0)
			ep_writer_set_fields(w, u.v, u.n);
		for (size_t i = 0; i < u.n; i++)
			free((char *)u.v[i]);
		free(u.v);
	}
	for (size_t i = 0; i < pt->n; i++) {
		struct stat sb;

		if (fstat(fileno(pt->p[i].ckey), &sb) == 0 && sb.st_size > 0)
			n++;
	}
	if (rc == 0)
		rc = merge(pt, merge_rec, w, err);
	if (rc == 0 && n > 0 && ep_writer_finish(w, err) < 0)
		rc = -1;
	ep_writer_free(w);
	return rc;
}

static int
crs_cmp(const void *a, const void *b)
{
	const struct ed_course *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int
run_parted(struct opts *o, struct ep_reader **rd, int first, size_t n,
    const struct skips *sk)
{
	struct parted pt;
	struct totals t;
	struct ep_error err = { 0, "" };
	struct ed_diff *chk;
	struct src src = { NULL, NULL, 0, NULL };
	int rc = 0;

	memset(&t, 0, sizeof(t));
	pt.n = n;
	pt.p = ep_xcalloc(n, sizeof(*pt.p));
	o->ed.prog = NULL;
	chk = ed_new(&o->ed);
	ep_info(1, "--memory-limit: %zu partitions", n);
	if (split_side(chk, rd[first], first, &pt, &err) < 0 ||
	    split_side(chk, rd[!first], !first, &pt, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (do_part(o, rd, first, &pt.p[i], sk, &t, &err) < 0) {
			rc = ep_report(&err);
			goto out;
		}
	print_dups(&t.dups[0], ep_reader_name(rd[0]));
	print_dups(&t.dups[1], ep_reader_name(rd[1]));
	left_out(o, sk, &t);
	ep_info(1, "%lu DESIRED and %lu ACTUAL records, %zu changes",
	    t.count[0], t.count[1], t.nsel);
	if (o->summary)
		summary(&t.cc, t.count[0], t.count[1]);
	/* Key order is course order: so is the order of first drops. */
	ep_sort(t.crs, t.ncrs, sizeof(*t.crs), crs_cmp);
	rc = refuse(o, t.count[0], t.count[1], t.ndrop, t.crs, t.ncrs, true,
	    ep_reader_name(rd[0]));
	src.n = t.nsel;
	src.pt = &pt;
	if (rc) {
		write_refused(o, &src);
		goto out;
	}
	if (o->ofmt == EP_FMT_AUTO)
		o->ofmt = (enum ep_fmt)ep_io_to_fmt(usage_text,
		    ep_reader_format(rd[t.count[0] > 0 ? 0 : 1]));
	rc = write_changes(&src, o->ofmt, &o->dp);
	if (rc == 0 && o->exit_code && t.nsel > 0)
		rc = EP_EXIT_DIFF;
out:
	ed_free(chk);
	for (size_t i = 0; i < n; i++) {
		struct part *p = &pt.p[i];

		for (int s = 0; s < 2; s++) {
			ep_writer_free(p->w[s]);
			if (p->in[s] != NULL)
				fclose(p->in[s]);
			if (p->ln[s] != NULL)
				fclose(p->ln[s]);
		}
		if (p->chg != NULL)
			fclose(p->chg);
		if (p->ckey != NULL)
			fclose(p->ckey);
	}
	free(pt.p);
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 3; i++)
			free(t.dups[s].first[i]);
	for (size_t i = 0; i < t.ncrs; i++)
		free((char *)t.crs[i].name);
	free(t.crs);
	for (size_t i = 0; i < t.cc.n; i++)
		free(t.cc.v[i].course);
	free(t.cc.v);
	return rc;
}
