/*
 * lms-push - apply a change set (enroll-diff's add, drop and update
 * records) through the Moodle Web Services or the Canvas REST API, for
 * sites that take no bulk file, and write one result record per change.
 *
 * Every change is read and checked before the first call, so bad input
 * applies nothing.  The calls go through src/lib/http.c (concurrency,
 * retries with backoff, throttling); a write call whose reply was lost is
 * never sent again before the LMS has been asked whether it took effect.
 * Results are written in input order: the change, then "result" (ok or
 * failed) and "message".  Moodle user records (user, no course) create
 * or update the user (see user_change, moodle.c).  Exit 0 when every
 * change is ok, 1 when some failed, 75 when the LMS stayed unreachable,
 * 77 when the token was refused (the changes not yet tried are failed
 * "not attempted").
 * See moodle.c and canvas.c for what each LMS is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "cli.h"
#include "pool.h"
#include "secret.h"

static const char usage_text[] =
"usage: lms-push moodle [--url URL] [--user-field FIELD] [--role-id NAME=ID]...\n"
"                       [--drop-policy POLICY] [FILE...]\n"
"       lms-push canvas [--url URL] [--drop-policy POLICY] [FILE...]\n"
"       lms-push canvas [--url URL] --sis-import --account ID [FILE...]\n"
"       lms-push canvas [--url URL] sis-import --account ID\n"
"                       [--diffing-data-set ID] FILE\n"
"\n"
"Apply change records (op add, drop or update) through the LMS's web API\n"
"and write one result record per change on stdout, in input order.\n"
"Moodle: a record with user and no course creates (add) or updates the\n"
"user: username, firstname, lastname, email, idnumber, auth; no password\n"
"is sent (Moodle makes one unless auth says otherwise); drop is refused.\n"
"The FILEs are read in turn, as one stream ('-' or none: stdin).\n"
"\n"
"Moodle:\n"
"      --user-field FIELD   what 'user' holds: idnumber (default, as\n"
"                           lms-fetch writes it), username, email or id\n"
"      --role-id NAME=ID    the id of role NAME (repeat, or a comma list)\n"
"      --batch-size N       enrolments per call (default 100)\n"
"Drops:\n"
"      --drop-policy POLICY what a drop does unless its record's\n"
"                           drop_policy says: unenrol (Moodle's default;\n"
"                           Canvas delete), suspend (Canvas inactivate),\n"
"                           conclude (Canvas only, its default) or keep\n"
"      --max-drop-count N   refuse (exit 3, nothing applied) more than N\n"
"                           drops, enrollments and account roles alike\n"
"                           (default 5000)\n"
"Canvas:\n"
"      --drop-as TASK       the older --drop-policy: conclude, delete or\n"
"                           inactivate\n"
"      --sis-import         send one enrollments.csv as a SIS import\n"
"      --account ID         the root account of the SIS import\n"
"      --import-timeout SECONDS  how long to wait for it (3600)\n"
"Canvas sis-import FILE (a CSV or zip as conduit-fmt writes it):\n"
"      --diffing-data-set ID  let Canvas apply only the differences from\n"
"                           the last import of ID (1 to 128 bytes)\n"
"      --diffing-drop-status STATUS  rows gone since then become deleted\n"
"                           (Canvas's default), completed or inactive\n"
"      --diffing-remaster   import the whole file as the new baseline\n"
"      --change-threshold N  no diffing when the file is over N%\n"
"                           smaller or larger than the last one\n"
"Connection:\n"
"      --url URL            site URL (default $MOODLE_URL or $CANVAS_URL)\n"
"      --token-file FILE    token file, mode 600 (default $MOODLE_TOKEN\n"
"                           or $CANVAS_TOKEN)\n"
"      --cacert FILE        CA certificates to verify the server with\n"
"  -j, --jobs N             concurrent requests (default 8)\n"
"      --retries N          retries of a failed request (default 5)\n"
"      --retry-base-ms MS   first retry delay, doubled each time\n"
"                           (default 1000)\n"
"      --timeout SECONDS    one request's time limit (default 300)\n"
"      --max-reply SIZE     refuse a reply body larger than SIZE, after\n"
"                           decompression (K, M, G; default 64M)\n"
"      --max-pages N        pages of one enrollment lookup (default 10000)\n"
"Input and output:\n"
"  -f, --from FMT           ndjson, csv or tsv (default: detected)\n"
"      --delimiter CHAR     CSV input: the field delimiter (default ',';\n"
"                           tab or \\t for a tab)\n"
"      --encoding ENC       CSV input: its encoding, converted to UTF-8\n"
"                           (default UTF-8; e.g. WINDOWS-1252)\n"
"  -t, --to FMT             ndjson or csv (default: the input's)\n"
"  -o, --output FILE        write the results to FILE (atomically)\n"
"  -n, --dry-run            print the calls instead of making them\n"
"      --progress           show progress on stderr\n"
"      --input-format FMT, -i FMT  deprecated: use -f/--from\n"
"      --output-format FMT  deprecated: use -t/--to (so is -o FMT\n"
"                       when FMT is a format name: ndjson, csv, ...)\n"
"  -v, --verbose            report retries\n"
"  -q, --quiet              errors only\n"
"  -h, --help               this text\n"
"      --version            the version\n";

enum {
	OPT_USER_FIELD = EP_OPT_FIRST_PROGRAM,
	OPT_ROLE_ID, OPT_BATCH, OPT_DROP_AS, OPT_SIS_IMPORT, OPT_ACCOUNT,
	OPT_IMPORT_TIMEOUT, OPT_DROP_POLICY, OPT_MAX_DROP_COUNT,
	OPT_DIFF_ID, OPT_DIFF_DROP, OPT_REMASTER, OPT_CHANGE_THRESHOLD
};

/* The format the input turned out to be: the results follow it. */
static enum ep_fmt in_fmt = EP_FMT_NDJSON;

static void parse_args(int argc, char **argv, struct opts *o);
static int read_changes(struct push *p, struct ep_error *err);
static int drop_limit(const struct push *p, struct ep_error *err);
static int setup(struct push *p, struct ep_error *err);
static int write_results(struct push *p, struct ep_error *err);

int
main(int argc, char **argv)
{
	struct opts o;
	struct push p;
	struct ep_error err = { 0, "" };
	bool unreachable = false, failed = false;
	int rc = 0;

	ep_cli_init(argc, argv);
	parse_args(argc, argv, &o);
	memset(&p, 0, sizeof(p));
	p.o = &o;
	if (o.sis_file != NULL) {
		rc = setup(&p, &err) < 0 ? ep_report(&err) :
		    sis_file_import(&p);
		goto out;
	}
	if (read_changes(&p, &err) < 0 || drop_limit(&p, &err) < 0 ||
	    setup(&p, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	rc = strcmp(o.lms, "moodle") == 0 ? moodle_push(&p) : canvas_push(&p);
	if (rc != 0 || o.dry_run)
		goto out;
	push_finish(&p, &failed, &unreachable);
	if (write_results(&p, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	if (p.fatal.code != 0)
		rc = ep_report(&p.fatal);
	else if (unreachable)
		rc = EP_EXIT_TEMPFAIL;
	else if (failed)
		rc = EP_EXIT_DIFF;
	if (failed && ep_verbosity >= 0 && p.fatal.code == 0) {
		size_t nf = 0;

		for (size_t i = 0; i < p.n; i++)
			nf += !p.ch[i].ok;
		ep_err("%zu of %zu changes failed%s", nf, p.n, unreachable ?
		    " (the LMS stayed unreachable)" : "");
	}
out:
	push_free(&p);
	for (size_t i = 0; i < o.nroles; i++)
		free(o.roles[i].name);
	free(o.roles);
	if (ep_close_stdout() != 0 && rc == 0)
		rc = EP_EXIT_IOERR;
	return rc;
}

static void
add_roles(struct opts *o, const char *u, const char *arg)
{
	const char *p = arg;

	for (;;) {
		size_t n = strcspn(p, ",");
		const char *eq = memchr(p, '=', n);
		char *end;
		long long id;

		if (n > 0) {
			if (eq == NULL || eq == p)
				ep_usage_error(u, "--role-id: expected NAME=ID, "
				    "got '%.*s'", (int)n, p);
			id = strtoll(eq + 1, &end, 10);
			if (end != p + n || end == eq + 1 || id <= 0)
				ep_usage_error(u, "--role-id: bad id in '%.*s'",
				    (int)n, p);
			o->roles = ep_xrealloc(o->roles, (o->nroles + 1) *
			    sizeof(*o->roles));
			o->roles[o->nroles].name = ep_xstrndup(p,
			    (size_t)(eq - p));
			o->roles[o->nroles++].id = id;
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		EP_LMS_LONGOPTS,
		EP_FROM_LONGOPTS,
		EP_INPUT_LONGOPTS,
		EP_TO_LONGOPTS,
		{ "dry-run", no_argument, NULL, 'n' },
		{ "user-field", required_argument, NULL, OPT_USER_FIELD },
		{ "role-id", required_argument, NULL, OPT_ROLE_ID },
		{ "batch-size", required_argument, NULL, OPT_BATCH },
		{ "drop-as", required_argument, NULL, OPT_DROP_AS },
		{ "drop-policy", required_argument, NULL, OPT_DROP_POLICY },
		{ "sis-import", no_argument, NULL, OPT_SIS_IMPORT },
		{ "account", required_argument, NULL, OPT_ACCOUNT },
		{ "import-timeout", required_argument, NULL,
		    OPT_IMPORT_TIMEOUT },
		{ "max-drop-count", required_argument, NULL,
		    OPT_MAX_DROP_COUNT },
		{ "diffing-data-set", required_argument, NULL, OPT_DIFF_ID },
		{ "diffing-drop-status", required_argument, NULL,
		    OPT_DIFF_DROP },
		{ "diffing-remaster", no_argument, NULL, OPT_REMASTER },
		{ "change-threshold", required_argument, NULL,
		    OPT_CHANGE_THRESHOLD },
		EP_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char *const fields[] = { "username", "idnumber",
	    "email", "id", NULL };
	const char *u = usage_text, *drop_as = NULL, *policy = NULL;
	bool moodle, batch_set = false;
	int c;

	ep_cli_whole_secret_opts(argc, argv, longopts, u);
	memset(o, 0, sizeof(*o));
	ep_lms_conn_init(&o->conn);
	o->batch = 100;
	o->import_timeout_s = 3600;
	o->max_drop_count = 5000;
	o->ofmt = EP_FMT_NDJSON;
	while ((c = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS "j:n"
	    EP_FROM_SHORTOPTS EP_TO_SHORTOPTS,
	    longopts, NULL)) != -1) {
		if (ep_lms_conn_opt(&o->conn, c, optarg, u))
			continue;
		switch (c) {
		case OPT_IMPORT_TIMEOUT:
			o->import_timeout_s = ep_cli_long(u,
			    "--import-timeout", optarg, 7 * 86400);
			break;
		case OPT_MAX_DROP_COUNT:
			o->max_drop_count = ep_cli_long(u, "--max-drop-count",
			    optarg, 2147483647L);
			break;
		case OPT_DIFF_ID: o->diff_id = optarg; break;
		case OPT_DIFF_DROP: o->diff_drop = optarg; break;
		case OPT_REMASTER: o->remaster = true; break;
		case OPT_CHANGE_THRESHOLD:
			o->change_threshold = ep_cli_long(u,
			    "--change-threshold", optarg, 100);
			if (o->change_threshold < 1)
				ep_usage_error(u, "option '--change-threshold' "
				    "must be 1 to 100 (percent)");
			break;
		case 'n': o->dry_run = true; break;
		case OPT_USER_FIELD: o->user_field = optarg; break;
		case OPT_ROLE_ID: add_roles(o, u, optarg); break;
		case OPT_BATCH:
			o->batch = (int)ep_cli_long(u, "--batch-size", optarg,
			    10000);
			if (o->batch < 1)
				ep_usage_error(u, "option '--batch-size' must "
				    "be at least 1");
			batch_set = true;
			break;
		case OPT_DROP_AS: drop_as = optarg; break;
		case OPT_DROP_POLICY: policy = optarg; break;
		case OPT_SIS_IMPORT: o->sis_import = true; break;
		case OPT_ACCOUNT: o->account = optarg; break;
		default:
			ep_cli_common(c, argv, u);
		}
	}
	o->ifmt = (enum ep_fmt)ep_io.from;
	/* The results follow the input's format unless -t names one. */
	o->ofmt = ep_io.to == NULL ? EP_FMT_AUTO :
	    (enum ep_fmt)ep_io_to_fmt(u, EP_FMT_AUTO);
	argc -= optind;
	argv += optind;
	if (argc < 1)
		ep_usage_error(u, "name a system (moodle or canvas)");
	o->lms = argv[0];
	if (argc > 1 && strcmp(o->lms, "canvas") == 0 &&
	    strcmp(argv[1], "sis-import") == 0) {
		struct ep_error e;

		if (argc != 3)
			ep_usage_error(u, "canvas sis-import: name one FILE "
			    "(a CSV or zip of SIS import CSVs)");
		if (o->sis_import)
			ep_usage_error(u, "canvas sis-import FILE sends a "
			    "file: --sis-import sends change records");
		if (o->account == NULL)
			ep_usage_error(u, "canvas sis-import: give the root "
			    "account: --account ID");
		if (sis_file_check(o, &e) < 0)
			ep_usage_error(u, "%s", e.msg);
		o->sis_file = argv[2];
		argc = 1;
	} else if (o->diff_id != NULL || o->diff_drop != NULL ||
	    o->remaster || o->change_threshold > 0) {
		ep_usage_error(u, "the diffing options (--diffing-data-set, "
		    "--diffing-drop-status, --diffing-remaster, "
		    "--change-threshold) go with 'canvas sis-import FILE'");
	}
	if (argc > 1) {
		int nstdin = 0;

		for (c = 1; c < argc; c++)
			nstdin += strcmp(argv[c], "-") == 0;
		if (nstdin > 1)
			ep_usage_error(u, "'-' (stdin) named %d times",
			    nstdin);
		o->inputs = argv + 1;
		o->ninputs = argc - 1;
	} else {
		static char *const stdin_only[] = { "-" };

		o->inputs = stdin_only;
		o->ninputs = 1;
	}
	moodle = strcmp(o->lms, "moodle") == 0;
	if (!moodle && strcmp(o->lms, "canvas") != 0)
		ep_usage_error(u, "unknown system '%s' (moodle or canvas)",
		    o->lms);
#define ONLY(cond, opt) do { if (!(cond)) ep_usage_error(u, \
	"option '%s' does not apply to %s", opt, o->lms); } while (0)
	if (moodle) {
		ONLY(drop_as == NULL, "--drop-as");
		ONLY(!o->sis_import, "--sis-import");
		ONLY(o->account == NULL, "--account");
		/* lms-fetch's and sis-extract's key: the SIS number. */
		if (o->user_field == NULL)
			o->user_field = "idnumber";
		for (c = 0; fields[c]; c++)
			if (strcmp(fields[c], o->user_field) == 0)
				break;
		if (fields[c] == NULL)
			ep_usage_error(u, "--user-field: unknown field '%s' "
			    "(idnumber, username, email or id)",
			    o->user_field);
	} else {
		ONLY(o->user_field == NULL, "--user-field");
		ONLY(!batch_set, "--batch-size");
		if (drop_as == NULL || strcmp(drop_as, "conclude") == 0)
			o->drop_policy = EP_DROP_CONCLUDE;
		else if (strcmp(drop_as, "delete") == 0)
			o->drop_policy = EP_DROP_UNENROL;
		else if (strcmp(drop_as, "inactivate") == 0)
			o->drop_policy = EP_DROP_SUSPEND;
		else
			ep_usage_error(u, "--drop-as: unknown task '%s' "
			    "(conclude, delete or inactivate)", drop_as);
		if (drop_as != NULL && policy != NULL)
			ep_usage_error(u, "--drop-as is the older "
			    "--drop-policy: give one");
		if (o->sis_file == NULL &&
		    o->sis_import != (o->account != NULL))
			ep_usage_error(u, "--sis-import and --account go "
			    "together");
	}
#undef ONLY
	if (policy != NULL) {
		o->drop_policy = ep_drop_policy_parse(policy);
		if (o->drop_policy == EP_DROP_BAD)
			ep_usage_error(u, "--drop-policy: unknown policy '%s' "
			    "(%s)", policy, EP_DROP_POLICY_WORDS);
		if (moodle && o->drop_policy == EP_DROP_CONCLUDE)
			ep_usage_error(u, "--drop-policy: Moodle has no "
			    "conclude (unenrol, suspend or keep)");
	}
}

static const char *str_field(const struct ep_rec *r, const char *name);

/*
 * The drop policy of change c from its record's drop_policy (enroll-diff
 * writes it), else the option's; keep settles c at once.  0, or -1 with
 * err (65) for a policy unknown, or one the LMS does not have.
 */
static int
change_policy(const struct push *p, struct change *c, const char *name,
    struct ep_error *err)
{
	const char *v = str_field(c->rec, "drop_policy");
	static const enum drop_as task[] = { DROP_DELETE, DROP_INACTIVATE,
	    DROP_CONCLUDE, DROP_CONCLUDE };

	c->drop = p->o->drop_policy;
	if (c->op == OP_DROP && v != NULL) {
		c->drop = ep_drop_policy_parse(v);
		if (c->drop == EP_DROP_BAD) {
			char *esc = ep_msg_escape(v);

			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: field "
			    "'drop_policy': unknown value '%s' (%s)", name,
			    c->line, esc, EP_DROP_POLICY_WORDS);
			free(esc);
			return -1;
		}
	}
	if (c->op == OP_DROP && c->drop == EP_DROP_CONCLUDE &&
	    strcmp(p->o->lms, "moodle") == 0) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: drop_policy "
		    "conclude: Moodle has no conclude (unenrol, suspend or "
		    "keep)", name, c->line);
		return -1;
	}
	c->drop_as = task[c->drop];
	if (c->op == OP_DROP && c->drop == EP_DROP_KEEP)
		change_ok(c, "kept: drop policy keep");
	return 0;
}

/* A non-negative integer field of r, or 0 when absent or not one. */
static long long
num_field(const struct ep_rec *r, const char *name)
{
	const char *s = ep_rec_str(r, name);
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return 0;
	v = strtoll(s, &end, 10);
	return *end == '\0' && v > 0 ? v : 0;
}

/* A string field of r, NULL when absent, null or empty. */
static const char *
str_field(const struct ep_rec *r, const char *name)
{
	const char *s = ep_rec_str(r, name);

	return s != NULL && *s != '\0' ? s : NULL;
}

/*
 * A user record (user, no course; moodle only): op add creates the
 * user, which needs username, firstname, lastname and email; op update
 * changes the fields the record has.  A drop would delete the user and
 * is refused (3); a password is never read from a record (65: it would
 * travel in the request and the results).  0, or -1 with err.
 */
static int
user_change(const struct push *p, struct change *c, const char *name,
    struct ep_error *err)
{
	static const char *const need[] = { "username", "firstname",
	    "lastname", "email", NULL };

	c->is_user = true;
	if (ep_rec_str(c->rec, "password") != NULL) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: field 'password': "
		    "lms-push sends no passwords (Moodle creates them, or the "
		    "record's auth method needs none)", name, c->line);
		return -1;
	}
	if (c->op == OP_DROP) {
		ep_error_set(err, EP_EXIT_REFUSED, "%s:%lu: op drop of a user "
		    "(no course) would delete the Moodle user: refused",
		    name, c->line);
		return -1;
	}
	if (c->op != OP_ADD)
		return 0;
	for (int i = 0; need[i] != NULL; i++)
		if (str_field(c->rec, need[i]) == NULL &&
		    strcmp(p->o->user_field, need[i]) != 0) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: missing "
			    "field '%s' (a user to create)", name, c->line,
			    need[i]);
			return -1;
		}
	return 0;
}

/*
 * The changes of one input, appended to p->ch (*cap: its room).  1 when
 * the input held a change, 0 when none, -1 with err on bad input.
 */
static int
read_input(struct push *p, struct ep_reader *rd, size_t *cap,
    bool *warned_section, struct ep_error *err)
{
	size_t first = p->n;
	int n;

	for (;;) {
		struct ep_rec *r = ep_rec_new();
		struct change *c;
		const char *op, *missing = NULL;

		n = ep_reader_next(rd, r, err);
		if (n <= 0) {
			ep_rec_free(r);
			break;
		}
		if (p->n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			p->ch = ep_xrealloc(p->ch, *cap * sizeof(*p->ch));
		}
		c = &p->ch[p->n++];
		memset(c, 0, sizeof(*c));
		c->rec = r;
		c->line = ep_reader_line(rd);
		op = ep_rec_str(r, "op");
		if (op == NULL)
			missing = "op";
		else if (strcmp(op, "add") == 0)
			c->op = OP_ADD;
		else if (strcmp(op, "drop") == 0)
			c->op = OP_DROP;
		else if (strcmp(op, "update") == 0)
			c->op = OP_UPDATE;
		else {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: unknown op "
			    "'%s' (add, drop or update)", ep_reader_name(rd),
			    c->line, op);
			n = -1;
			break;
		}
		c->course = str_field(r, "course");
		c->user = str_field(r, "user");
		c->role = str_field(r, "role");
		c->old_role = str_field(r, "old_role");
		c->section = str_field(r, "lms_section");
		if (c->section == NULL && str_field(r, "section") != NULL &&
		    strcmp(p->o->lms, "canvas") == 0 && !*warned_section) {
			/* The SIS's section number (sis-extract), never a
			 * Canvas section: it posted to the wrong one. */
			ep_warn("%s:%lu: field 'section' (the SIS section) is "
			    "not a Canvas section: put the Canvas SIS section "
			    "id in 'lms_section'; enrolling in the course",
			    ep_reader_name(rd), c->line);
			*warned_section = true;
		}
		c->status = str_field(r, "status");
		c->account = str_field(r, "account");
		if (c->account != NULL && c->course == NULL &&
		    c->course_id == 0 && strcmp(p->o->lms, "canvas") != 0) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: field "
			    "'account': account roles are Canvas's only",
			    ep_reader_name(rd), c->line);
			n = -1;
			break;
		}
		if (c->account != NULL && (c->course != NULL ||
		    c->course_id != 0)) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: a change "
			    "names an 'account' (an account role) or a "
			    "course, not both", ep_reader_name(rd), c->line);
			n = -1;
			break;
		}
		c->course_id = num_field(r, "course_id");
		c->user_id = num_field(r, "user_id");
		c->role_id = num_field(r, "role_id");
		c->enrollment_id = num_field(r, "enrollment_id");
		if (missing == NULL && c->course == NULL &&
		    c->course_id == 0 && c->account == NULL &&
		    strcmp(p->o->lms, "moodle") == 0 &&
		    (c->user != NULL || c->user_id != 0)) {
			if (user_change(p, c, ep_reader_name(rd), err) < 0) {
				n = -1;
				break;
			}
			continue;
		}
		if (missing == NULL && c->course == NULL && c->course_id == 0 &&
		    c->account == NULL)
			missing = "course";
		if (missing == NULL && c->user == NULL && c->user_id == 0)
			missing = "user";
		if (missing == NULL && c->role == NULL && c->op != OP_DROP)
			missing = "role";
		if (missing == NULL && change_policy(p, c, ep_reader_name(rd),
		    err) < 0) {
			n = -1;
			break;
		}
		/* Moodle suspends through an enrolment, which names a role. */
		if (missing == NULL && c->role == NULL && c->op == OP_DROP &&
		    c->drop == EP_DROP_SUSPEND && strcmp(p->o->lms,
		    "moodle") == 0)
			missing = "role";
		if (missing != NULL) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: missing "
			    "field '%s'", ep_reader_name(rd), c->line,
			    missing);
			n = -1;
			break;
		}
	}
	return n < 0 ? -1 : p->n > first;
}

/*
 * Every input in turn, as one stream: the changes keep the inputs' order,
 * and the results follow the format of the first input that held a
 * change (of the last input when none did).
 */
static int
read_changes(struct push *p, struct ep_error *err)
{
	bool warned_section = false, fmt_set = false;
	size_t cap = 0;

	for (int i = 0; i < p->o->ninputs; i++) {
		struct ep_reader *rd = ep_reader_open(p->o->inputs[i],
		    p->o->ifmt, err);
		int got;

		if (rd == NULL)
			return -1;
		got = read_input(p, rd, &cap, &warned_section, err);
		if (!fmt_set) {
			in_fmt = ep_reader_format(rd);
			fmt_set = got > 0;
		}
		ep_reader_free(rd);
		if (got < 0)
			return -1;
	}
	return 0;
}

/*
 * The safety limit on drops: a run that would end more enrollments or
 * account roles than --max-drop-count is refused (3) before any call, as
 * a change set gone wrong (an empty table read as "drop everyone") must
 * not be applied in part.  An update that changes the role ends one.
 */
static int
drop_limit(const struct push *p, struct ep_error *err)
{
	size_t n = 0, nacc = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct change *c = &p->ch[i];
		bool ends = (c->op == OP_DROP && c->drop != EP_DROP_KEEP) ||
		    (c->op == OP_UPDATE && c->old_role != NULL &&
		    c->role != NULL && strcmp(c->old_role, c->role) != 0);

		n += ends;
		nacc += ends && c->account != NULL;
	}
	if ((long)n <= p->o->max_drop_count)
		return 0;
	ep_error_set(err, EP_EXIT_REFUSED, "refusing %zu drops (%zu of them "
	    "account roles), over --max-drop-count %ld: nothing applied",
	    n, nacc, p->o->max_drop_count);
	return -1;
}

static int
setup(struct push *p, struct ep_error *err)
{
	const struct opts *o = p->o;

	if (ep_lms_site_open(o->lms, &o->conn, o->dry_run, &p->base,
	    &p->token, &p->http, err) < 0)
		return -1;
	if (o->dry_run)
		return 0;
	return p->http == NULL ? -1 : 0;
}

static int
write_results(struct push *p, struct ep_error *err)
{
	struct ep_out *out = ep_out_open(ep_io.output, err);
	struct ep_writer *w;
	int rc = 0;

	if (out == NULL)
		return -1;
	w = ep_writer_new(ep_out_file(out), p->o->ofmt != EP_FMT_AUTO ?
	    p->o->ofmt : (enum ep_fmt)ep_io_to_fmt(usage_text, in_fmt));
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		struct change *c = &p->ch[i];

		/* The one place result text leaves: masked here whatever
		 * built it (change_ok and change_failf mask as well). */
		char *m = ep_mask_secrets(c->msg ? c->msg : "");

		ep_rec_set_str(c->rec, "result", c->ok ? "ok" : "failed");
		ep_rec_set_str(c->rec, "message", m);
		free(m);
		rc = ep_writer_write(w, c->rec, err);
	}
	if (rc == 0)
		rc = ep_writer_finish(w, err);
	ep_writer_free(w);
	if (rc < 0) {
		ep_out_abort(out);
		return -1;
	}
	return ep_out_commit(out, err);
}
