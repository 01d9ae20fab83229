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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "diff.h"
#include "rec.h"

static const char usage_text[] =
"usage: enroll-diff [-qv] [-i format] [-k fields] [-o format]\n"
"                   [--update-on field] [--only ops] [--roles roles]\n"
"                   [--max-drop n | n%] [--allow-empty] [--summary]\n"
"                   [--exit-code] [--skip-courses file] desired actual\n"
"\n"
"Print the change records (op add, drop or update) that make ACTUAL equal\n"
"DESIRED, sorted by key.  Either input may be '-' for stdin, not both;\n"
"each may be NDJSON or CSV (detected, or -i).\n"
"\n"
"  -k, --key FIELDS     fields that identify a record (default\n"
"                       course,user,role)\n"
"      --update-on FIELD  pair records on the key without FIELD; a pair\n"
"                       whose FIELD differs is one 'update' with old_FIELD\n"
"                       (FIELD is role or status)\n"
"      --only OPS       print only these ops (add,drop,update)\n"
"      --roles ROLES    add and drop only records of these roles\n"
"      --max-drop N|N%  refuse more drops than N, or N% of ACTUAL\n"
"                       (default 10%)\n"
"      --allow-empty    accept an empty DESIRED\n"
"      --summary        counts per op and per course on stderr\n"
"      --exit-code      exit 1 when changes were found\n"
"      --skip-courses FILE  no change in the courses FILE names (records\n"
"                       with course or course_id: lms-fetch --skipped)\n"
"  -i, --input-format FORMAT   ndjson or csv (default: detected)\n"
"  -o, --output-format FORMAT  ndjson (default) or csv\n"
"  -v, --verbose        more detail on stderr\n"
"  -q, --quiet          errors only\n"
"      --progress       show record counts while reading\n"
"  -h, --help           this help\n"
"      --version        print the version\n";

enum {
	OPT_UPDATE_ON = EP_OPT_FIRST_PROGRAM,
	OPT_ONLY,
	OPT_ROLES,
	OPT_MAX_DROP,
	OPT_ALLOW_EMPTY,
	OPT_SUMMARY,
	OPT_EXIT_CODE,
	OPT_SKIP_COURSES
};

static const struct option longopts[] = {
	{ "key", required_argument, NULL, 'k' },
	{ "update-on", required_argument, NULL, OPT_UPDATE_ON },
	{ "only", required_argument, NULL, OPT_ONLY },
	{ "roles", required_argument, NULL, OPT_ROLES },
	{ "max-drop", required_argument, NULL, OPT_MAX_DROP },
	{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
	{ "summary", no_argument, NULL, OPT_SUMMARY },
	{ "exit-code", no_argument, NULL, OPT_EXIT_CODE },
	{ "skip-courses", required_argument, NULL, OPT_SKIP_COURSES },
	{ "input-format", required_argument, NULL, 'i' },
	{ "output-format", required_argument, NULL, 'o' },
	EP_COMMON_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

struct opts {
	struct ed_opts ed;
	char *keyspec, *rolespec;
	unsigned only;		/* bit per ed_op */
	const char *max_text;
	double max_drop;
	bool max_pct, allow_empty, summary, exit_code;
	enum ep_fmt ifmt, ofmt;
	const char *skip_path;	/* --skip-courses */
};

/* --skip-courses: course and course_id values whose changes are left out. */
struct skips {
	char **course, **course_id;
	size_t nc, ni, nrec;
};

static const char *const opnames[] = { "add", "drop", "update" };

static void parse_opts(int, char **, struct opts *);
static size_t split(char *, char **, size_t, const char *);
static void print_dups(struct ed_diff *, enum ed_side, const char *);
static void summary(struct ed_diff *, struct ed_change **, size_t,
    unsigned long, unsigned long);
static int refuse(const struct opts *, size_t, unsigned long,
    unsigned long, const char *);
static int write_changes(struct ed_diff *, struct ed_change **, size_t,
    enum ep_fmt);
static int load_skips(const char *, struct skips *, struct ep_error *);
static bool skipped(struct ed_diff *, const struct ed_change *,
    const struct skips *);
static void skips_free(struct skips *);
static void drops_first(struct ed_diff *, struct ed_change **, size_t);

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
	size_t nall, nsel = 0, ndrop = 0, nskip = 0;
	int first = ED_DESIRED, rc = 0;

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

	d = ed_new(&o.ed);
	if (st[first].st_size > 0)
		ed_size_hint(d, (size_t)st[first].st_size);
	if (st[first].st_size >= 0 && fstat(fileno(ep_reader_file(rd[first])),
	    &st[first]) == 0 && S_ISREG(st[first].st_mode))
		ed_lazy(d, fileno(ep_reader_file(rd[first])),
		    ep_reader_name(rd[first]));
	if (ed_read(d, rd[first], first, &err) < 0 ||
	    ed_read(d, rd[!first], !first, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	print_dups(d, ED_DESIRED, ep_reader_name(rd[0]));
	print_dups(d, ED_ACTUAL, ep_reader_name(rd[1]));

	if (ed_changes(d, &all, &nall, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	sel = ep_xcalloc(nall + 1, sizeof(*sel));
	for (size_t i = 0; i < nall; i++)
		if ((o.only & (1u << all[i].op)) && sk.nc + sk.ni > 0 &&
		    skipped(d, &all[i], &sk))
			nskip++;
		else if (o.only & (1u << all[i].op)) {
			sel[nsel++] = &all[i];
			ndrop += all[i].op == ED_DROP;
		}
	if (sk.nrec > 0)
		ep_info(0, "%zu change%s in the %zu course%s of '%s' left out",
		    nskip, nskip == 1 ? "" : "s", sk.nrec, sk.nrec == 1 ?
		    "" : "s", o.skip_path);
	drops_first(d, sel, nsel);
	ep_info(1, "%lu DESIRED and %lu ACTUAL records, %zu changes",
	    ed_count(d, ED_DESIRED), ed_count(d, ED_ACTUAL), nsel);
	if (o.summary)
		summary(d, sel, nsel, ed_count(d, ED_DESIRED),
		    ed_count(d, ED_ACTUAL));
	rc = refuse(&o, ndrop, ed_count(d, ED_DESIRED),
	    ed_count(d, ED_ACTUAL), ep_reader_name(rd[0]));
	if (rc)
		goto out;
	rc = write_changes(d, sel, nsel, o.ofmt);
	if (rc == 0 && o.exit_code && nsel > 0)
		rc = EP_EXIT_DIFF;
out:
	free(sel);
	ed_free(d);
	ep_reader_free(rd[0]);
	ep_reader_free(rd[1]);
	free(o.keyspec);
	free(o.rolespec);
	free(o.ed.roles);
	skips_free(&sk);
	return rc;
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	char *only = NULL;
	int c, f;

	memset(o, 0, sizeof(*o));
	o->only = 7;
	o->max_pct = true;
	o->max_drop = 10;
	o->max_text = "10%";
	o->ifmt = EP_FMT_AUTO;
	o->ofmt = EP_FMT_NDJSON;
	o->keyspec = ep_xstrdup("course,user,role");
	while ((c = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS "i:k:o:",
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
		case OPT_MAX_DROP: {
			size_t len = strlen(optarg);

			o->max_text = optarg;
			o->max_pct = len > 0 && optarg[len - 1] == '%';
			if (o->max_pct) {
				char *end;

				o->max_drop = strtod(optarg, &end);
				if (end == optarg || *end != '%' ||
				    !(o->max_drop >= 0 && o->max_drop <= 100))
					ep_usage_error(usage_text, "option "
					    "'--max-drop': '%s' is not a "
					    "percentage from 0%% to 100%%",
					    optarg);
			} else {
				o->max_drop = (double)ep_cli_long(usage_text,
				    "--max-drop", optarg, 2147483647L);
			}
			break;
		}
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
		case 'i':
		case 'o':
			if ((f = ep_fmt_parse(optarg)) < 0)
				ep_usage_error(usage_text, "unknown format "
				    "'%s' (ndjson or csv)", optarg);
			if (c == 'i')
				o->ifmt = (enum ep_fmt)f;
			else
				o->ofmt = (enum ep_fmt)f;
			break;
		default:
			ep_cli_common(c, argv, usage_text);
		}

	o->ed.nkey = split(o->keyspec, (char **)o->ed.key, ED_MAX_KEY,
	    "--key");
	o->ed.updk = -1;
	if (o->ed.upd != NULL) {
		if (*o->ed.upd == '\0')
			ep_usage_error(usage_text, "option '--update-on' "
			    "needs a field name");
		for (size_t i = 0; i < o->ed.nkey; i++)
			if (strcmp(o->ed.key[i], o->ed.upd) == 0)
				o->ed.updk = (int)i;
		if (o->ed.updk >= 0 && o->ed.nkey == 1)
			ep_usage_error(usage_text, "--update-on '%s' leaves "
			    "no key field to pair records on", o->ed.upd);
	}
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
print_dups(struct ed_diff *d, enum ed_side side, const char *name)
{
	const struct ed_dups *u = ed_dups(d, side);

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

/* Counts per op and per course on stderr. */
static void
summary(struct ed_diff *d, struct ed_change **c, size_t n,
    unsigned long nd, unsigned long na)
{
	struct course_op *co = ep_xcalloc(n + 1, sizeof(*co));
	unsigned long tot[3] = { 0, 0, 0 };
	const char *p = ep_progname();

	for (size_t i = 0; i < n; i++) {
		co[i].course = ed_change_field(d, c[i], "course", &co[i].len);
		if (co[i].course == NULL) {
			co[i].course = "";
			co[i].len = 0;
		}
		co[i].op = c[i]->op;
		tot[c[i]->op]++;
	}
	fprintf(stderr, "%s: summary: %lu add, %lu drop, %lu update "
	    "(DESIRED %lu records, ACTUAL %lu)\n", p, tot[0], tot[1], tot[2],
	    nd, na);
	qsort(co, n, sizeof(*co), course_cmp);
	for (size_t i = 0; i < n;) {
		unsigned long k[3] = { 0, 0, 0 };
		size_t j = i;

		while (j < n && course_cmp(&co[i], &co[j]) == 0)
			k[co[j++].op]++;
		fprintf(stderr, "%s: summary: course '%.*s': %lu add, "
		    "%lu drop, %lu update\n", p, (int)co[i].len, co[i].course,
		    k[0], k[1], k[2]);
		i = j;
	}
	free(co);
}

/* The safety limits: 0, or 3 after saying why. */
static int
refuse(const struct opts *o, size_t ndrop, unsigned long nd,
    unsigned long na, const char *desired)
{
	const char *of = o->ed.roles ? " of the roles given by --roles" : "";
	double limit;

	if (nd == 0 && !o->allow_empty) {
		ep_err("refusing %zu drop%s: DESIRED '%s' has no records%s; "
		    "--allow-empty overrides", ndrop, ndrop == 1 ? "" : "s",
		    desired, of);
		return EP_EXIT_REFUSED;
	}
	limit = o->max_pct ? (double)(unsigned long)(o->max_drop * (double)na / 100 + 1e-9) :
	    o->max_drop;
	if ((double)ndrop <= limit)
		return 0;
	if (o->max_pct)
		ep_err("refusing %zu drop%s: more than --max-drop %s of the "
		    "%lu ACTUAL records%s (%.0f); a higher --max-drop "
		    "overrides", ndrop, ndrop == 1 ? "" : "s", o->max_text,
		    na, of, limit);
	else
		ep_err("refusing %zu drop%s: more than --max-drop %s; a "
		    "higher --max-drop overrides", ndrop, ndrop == 1 ? "" : "s",
		    o->max_text);
	return EP_EXIT_REFUSED;
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

static int
write_changes(struct ed_diff *d, struct ed_change **c, size_t n,
    enum ep_fmt fmt)
{
	static char buf[1 << 16];
	struct ep_writer *w;
	struct ep_rec *r = ep_rec_new();
	struct ep_error err = { 0, "" };
	int rc = 0;

	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	w = ep_writer_new(stdout, fmt);
	if (fmt == EP_FMT_CSV) {
		/* Columns: op, then every field in first-seen order. */
		struct names u = { NULL, 0, 0 };

		add_name("op", &u);
		for (size_t i = 0; i < n; i++)
			ed_change_names(d, c[i], add_name, &u);
		ep_writer_set_fields(w, u.v, u.n);
		free(u.v);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		ed_change_rec(d, c[i], r);
		if (ep_writer_write(w, r, &err) < 0)
			rc = ep_report(&err);
	}
	if (rc == 0 && n > 0 && ep_writer_finish(w, &err) < 0)
		rc = ep_report(&err);
	ep_writer_free(w);
	ep_rec_free(r);
	if (ep_close_stdout() && rc == 0)
		rc = EP_EXIT_IOERR;
	return rc;
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
			qsort(v + i, j - i, sizeof(*v), cu_cmp);
	}
	for (i = 0; i < n; i++)
		c[i] = v[i].c;
	free(v);
}
