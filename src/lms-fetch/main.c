/*
 * lms-fetch - read courses, enrollments, users and reports from Moodle Web
 * Services and the Canvas REST API as records.
 *
 * Moodle: the REST server (webservice/rest/server.php), one POST per call
 * with wstoken in the body, never in a URL; errors arrive as HTTP 200 with
 * a JSON {exception, errorcode, message} and are detected.  Canvas: the
 * REST API with a Bearer header, per_page=100 and the Link rel="next"
 * header followed as an opaque URL; provisioning reports are started,
 * polled and downloaded one CSV per --what item.  Requests run
 * concurrently through src/lib/http.c; output order never depends on
 * completion order (see pool.h).  A failed run writes nothing on stdout
 * unless --partial, which writes every complete unit and still fails.
 * Kaltura (MiVideo): media entries through the API v3, see kaltura.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pool.h"
#include "secret.h"

static const char usage_text[] =
"usage: lms-fetch moodle enrollments (--mapping FILE | --course-id N... |\n"
"                --course-idnumber X... | --course-shortname X...) [--url URL]\n"
"                [--user-key FIELD] [--unkeyed FILE] [--skipped FILE]\n"
"                [--all-enrollments]\n"
"       lms-fetch moodle courses [--field shortname --value X]\n"
"       lms-fetch moodle users --field idnumber (--value X | --value-file FILE)\n"
"       lms-fetch canvas courses (--account ID [--term ID]... | --course ID...)\n"
"       lms-fetch canvas enrollments (--course ID... | --account ID --term ID) [--type StudentEnrollment]\n"
"       lms-fetch canvas users --account ID\n"
"       lms-fetch canvas terms --account ID\n"
"       lms-fetch canvas sections --course ID...\n"
"       lms-fetch canvas course-audit --course ID...\n"
"       lms-fetch canvas report provisioning --account ID (--term T... |\n"
"                --historical) --what users,courses,enrollments [--processorgs]\n"
"       lms-fetch canvas zoom-links --course ID...\n"
"       lms-fetch kaltura media --partner-id N [--category NAME] [--since TIME]\n"
"       lms-fetch zoom meetings --meeting ID... [--account ZOOM_ACCOUNT]\n"
"       lms-fetch zoom participants --meeting ID... [--account ZOOM_ACCOUNT]\n"
"\n"
"Read an LMS (or Zoom, Kaltura) through its web API and write records on stdout.\n"
"\n"
"Selection:\n"
"      --mapping FILE       Moodle course mapping: every course in it\n"
"      --course-id N        Moodle course id (repeat, or a comma list)\n"
"      --course-idnumber X  Moodle course whose idnumber is X (repeat)\n"
"      --course-shortname X Moodle course whose shortname is X (repeat)\n"
"      --field NAME         Moodle course field to match (id, ids,\n"
"                           shortname, idnumber, category)\n"
"      --value X            the value it must have\n"
"      --value-file FILE    moodle users: the values, one a line\n"
"      --account ID         Canvas account id; Zoom account id (default\n"
"                           $ZOOM_ACCOUNT_ID)\n"
"      --term ID            Canvas enrollment term id (repeatable);\n"
"                           reports: also its sis_term_id, name, or the\n"
"                           seed's form (sp20, su20, fa19, wi21)\n"
"      --course ID          Canvas course id (repeat, or a comma list)\n"
"      --type TYPE          Canvas enrollment type (repeatable)\n"
"      --meeting ID         Zoom meeting id (repeat, or a comma list)\n"
"      --what LIST          report CSVs: users, courses, enrollments,\n"
"                           sections, terms, accounts, xlist, groups,\n"
"                           admins\n"
"Reports:\n"
"      --term-pattern PAT   what sp20 means: a term whose name or\n"
"                           sis_term_id is PAT with %S Spring, %s sp,\n"
"                           %Y 2020, %y 20 (repeatable; default '%S %Y')\n"
"      --term-map FILE      lines 'sp20 VALUE': sp20 means the term whose\n"
"                           id, sis_term_id or name is VALUE\n"
"      --historical         every term: no enrollment_term_id\n"
"      --processorgs        also the account-level parts (accounts,\n"
"                           admins: the sub-accounts and their admins),\n"
"                           once, without a term\n"
"Kaltura:\n"
"      --partner-id N       Kaltura partner id (default $KALTURA_PARTNER_ID)\n"
"      --category NAME      Kaltura media published under the category\n"
"                           full name NAME (default Canvas_UMich)\n"
"      --since TIME         Kaltura media created at TIME or later (ISO\n"
"                           8601, UTC unless an offset is given)\n"
"      --page-size N        Kaltura entries per page (1-500, default 500)\n"
"Enrollments:\n"
"      --user-key FIELD     what 'user' holds: moodle idnumber (default),\n"
"                           username, email or id; canvas sis_user_id\n"
"                           (default), login_id, email or id\n"
"      --unkeyed FILE       write the enrollments of users without that\n"
"                           field here (they are left out of stdout)\n"
"      --skipped FILE       a course whose roster cannot be read is named\n"
"                           here ({course, course_id, reason}) and left\n"
"                           out; the others are written; exit 4.  zoom\n"
"                           participants: a meeting Zoom answers 404 for\n"
"                           ({meeting_id, reason})\n"
"      --all-enrollments    Moodle: suspended enrolments too (default:\n"
"                           active ones only)\n"
"Connection:\n"
"      --url URL            site URL (default $MOODLE_URL or $CANVAS_URL)\n"
"      --token-file FILE    token file, mode 600 (default $MOODLE_TOKEN\n"
"                           or $CANVAS_TOKEN); Kaltura: the admin secret\n"
"                           (default $KALTURA_SECRET)\n"
"      --cacert FILE        CA certificates to verify the server with\n"
"Canvas through an OAuth 2 API gateway (instead of --token-file), and\n"
"Zoom's Server-to-Server OAuth (token URL default https://zoom.us/oauth/token,\n"
"id and secret default $ZOOM_CLIENT_ID and $ZOOM_CLIENT_SECRET, site\n"
"default $ZOOM_URL or https://api.zoom.us):\n"
"      --token-url URL      the gateway's token endpoint (client\n"
"                           credentials grant)\n"
"      --client-id-file FILE      client id, mode 600 (default\n"
"                           $CANVAS_CLIENT_ID)\n"
"      --client-secret-file FILE  client secret, mode 600 (default\n"
"                           $CANVAS_CLIENT_SECRET)\n"
"      --scope SCOPE        the scope to ask the token for\n"
"      --scope-prefix PATH  the gateway's path before /api/v1\n"
"      --client-id-header NAME  send the client id in this header\n"
"                           too (the U-M API Directory: X-IBM-Client-Id)\n"
"  -j, --jobs N             concurrent requests (default 8)\n"
"      --retries N          retries of a failed request (default 5)\n"
"      --retry-base-ms MS   first retry delay, doubled each time\n"
"                           (default 1000)\n"
"      --timeout SECONDS    one request's time limit (default 300)\n"
"      --max-reply SIZE     refuse a reply body larger than SIZE, after\n"
"                           decompression (K, M, G; default 64M)\n"
"      --max-pages N        pages of one list at most (default 10000)\n"
"      --report-timeout SECONDS  how long to wait for a report (3600)\n"
"Output:\n"
"  -t, --to FMT             ndjson (default) or csv\n"
"  -o, --output FILE        write FILE (atomically) instead of stdout\n"
"      --partial            on failure, still write the complete units\n"
"  -n, --dry-run            print the requests instead of making them\n"
"      --progress           records, rate, courses done of all, pages\n"
"                           and retries on stderr (default when it is\n"
"                           a terminal); --no-progress turns it off,\n"
"                           and so does -q\n"
"      --output-format FMT  deprecated: use -t/--to (so is -o FMT\n"
"                       when FMT is a format name: ndjson, csv, ...)\n"
"  -v, --verbose            report retries\n"
"  -q, --quiet              errors only\n"
"  -h, --help               this text\n"
"      --version            the version\n";

enum {
	OPT_REPORT_TIMEOUT = EP_OPT_FIRST_PROGRAM,
	OPT_PARTIAL, OPT_MAPPING, OPT_COURSE_ID, OPT_FIELD, OPT_VALUE,
	OPT_ACCOUNT, OPT_TERM, OPT_COURSE, OPT_TYPE, OPT_WHAT,
	OPT_USER_KEY, OPT_UNKEYED, OPT_SKIPPED, OPT_COURSE_IDNUMBER,
	OPT_COURSE_SHORTNAME, OPT_ALL_ENROLLMENTS,
	OPT_VALUE_FILE, OPT_HISTORICAL,
	OPT_PROCESSORGS, OPT_TERM_PATTERN, OPT_TERM_MAP,
	OPT_PARTNER_ID, OPT_CATEGORY, OPT_SINCE, OPT_PAGE_SIZE,
	OPT_MEETING
};

static void parse_args(int argc, char **argv, struct opts *o);
static int setup(struct fetch *f, struct ep_error *err);
static void strv_free(struct strv *sv);
static const char *user_key_check(const char *lms, const char *key,
    const char *usage);

int
main(int argc, char **argv)
{
	struct opts o;
	struct fetch f;
	struct ep_error err = { 0, "" };
	int rc = 0;

	ep_cli_init(argc, argv);
	parse_args(argc, argv, &o);
	memset(&f, 0, sizeof(f));
	f.o = &o;
	if (setup(&f, &err) < 0) {
		rc = ep_report(&err);
		goto out;
	}
	rc = strcmp(o.lms, "moodle") == 0 ? moodle_run(&f) :
	    strcmp(o.lms, "kaltura") == 0 ? kaltura_run(&f) :
	    strcmp(o.lms, "zoom") == 0 ? zoom_run(&f) :
	    strcmp(o.what, "zoom-links") == 0 ? canvas_zoom_run(&f) :
	    canvas_run(&f);
	if (rc == 0 && !o.dry_run)
		fetch_run(&f);
	if (rc != 0 || o.dry_run)
		goto out;
	fetch_finish(&f);
	if (f.err.code != 0) {
		rc = ep_report(&f.err);
	} else {
		if (f.unkeyed.n > 0)
			ep_warn("%lu enrollment%s of users without %s left "
			    "out%s%s", f.unkeyed.n, f.unkeyed.n == 1 ? "" :
			    "s", o.user_key, o.unkeyed_path ? ": listed in " :
			    " (--unkeyed FILE lists them)", o.unkeyed_path ?
			    o.unkeyed_path : "");
		if (f.skipped.n > 0) {
			ep_warn("%lu %s%s could not be read and %s left "
			    "out: listed in %s", f.skipped.n, strcmp(o.lms,
			    "zoom") == 0 ? "meeting" : "course", f.skipped.n ==
			    1 ? "" : "s", f.skipped.n == 1 ? "was" : "were",
			    o.skipped_path);
			rc = FETCH_EXIT_SKIPPED;
		}
	}
out:
	fetch_free(&f);
	kaltura_free();
	strv_free(&o.course_ids);
	strv_free(&o.course_values);
	strv_free(&o.terms);
	strv_free(&o.courses);
	strv_free(&o.meetings);
	strv_free(&o.types);
	strv_free(&o.report_what);
	strv_free(&o.term_patterns);
	if (ep_close_stdout() != 0 && rc == 0)
		rc = EP_EXIT_IOERR;
	return rc;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		EP_LMS_LONGOPTS,
		EP_OAUTH_LONGOPTS,
		{ "report-timeout", required_argument, NULL,
		    OPT_REPORT_TIMEOUT },
		EP_TO_LONGOPTS,
		{ "partial", no_argument, NULL, OPT_PARTIAL },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "mapping", required_argument, NULL, OPT_MAPPING },
		{ "course-id", required_argument, NULL, OPT_COURSE_ID },
		{ "field", required_argument, NULL, OPT_FIELD },
		{ "value-file", required_argument, NULL, OPT_VALUE_FILE },
		{ "value", required_argument, NULL, OPT_VALUE },
		{ "account", required_argument, NULL, OPT_ACCOUNT },
		{ "term", required_argument, NULL, OPT_TERM },
		{ "course", required_argument, NULL, OPT_COURSE },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "what", required_argument, NULL, OPT_WHAT },
		{ "user-key", required_argument, NULL, OPT_USER_KEY },
		{ "unkeyed", required_argument, NULL, OPT_UNKEYED },
		{ "skipped", required_argument, NULL, OPT_SKIPPED },
		{ "course-idnumber", required_argument, NULL,
		    OPT_COURSE_IDNUMBER },
		{ "course-shortname", required_argument, NULL,
		    OPT_COURSE_SHORTNAME },
		{ "all-enrollments", no_argument, NULL, OPT_ALL_ENROLLMENTS },
		{ "historical", no_argument, NULL, OPT_HISTORICAL },
		{ "processorgs", no_argument, NULL, OPT_PROCESSORGS },
		{ "term-pattern", required_argument, NULL, OPT_TERM_PATTERN },
		{ "term-map", required_argument, NULL, OPT_TERM_MAP },
		{ "partner-id", required_argument, NULL, OPT_PARTNER_ID },
		{ "category", required_argument, NULL, OPT_CATEGORY },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
		{ "meeting", required_argument, NULL, OPT_MEETING },
		EP_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *u = usage_text;
	const char *by, *by_opt;
	bool moodle, canvas, kaltura, zoom;
	const char *since = NULL;
	int c;

	ep_cli_whole_secret_opts(argc, argv, longopts, u);
	memset(o, 0, sizeof(*o));
	ep_lms_conn_init(&o->conn);
	o->report_timeout_s = 3600;
	o->ofmt = EP_FMT_NDJSON;
	while ((c = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS "j:n"
	    EP_TO_SHORTOPTS,
	    longopts, NULL)) != -1) {
		if (ep_lms_conn_opt(&o->conn, c, optarg, u))
			continue;
		switch (c) {
		case OPT_REPORT_TIMEOUT:
			o->report_timeout_s = ep_cli_long(u,
			    "--report-timeout", optarg, 7 * 86400);
			break;
		case OPT_PARTIAL: o->partial = true; break;
		case 'n': o->dry_run = true; break;
		case OPT_MAPPING: o->mapping = optarg; break;
		case OPT_COURSE_ID:
			strv_add(&o->course_ids, optarg);
			break;
		case OPT_FIELD: o->field = optarg; break;
		case OPT_VALUE: o->value = optarg; break;
		case OPT_VALUE_FILE: o->value_file = optarg; break;
		case OPT_ACCOUNT: o->account = optarg; break;
		case OPT_TERM: strv_add(&o->terms, optarg); break;
		case OPT_COURSE: strv_add(&o->courses, optarg); break;
		case OPT_TYPE: strv_add(&o->types, optarg); break;
		case OPT_WHAT: strv_add(&o->report_what, optarg); break;
		case OPT_USER_KEY: o->user_key = optarg; break;
		case OPT_UNKEYED: o->unkeyed_path = optarg; break;
		case OPT_SKIPPED: o->skipped_path = optarg; break;
		case OPT_COURSE_IDNUMBER:
		case OPT_COURSE_SHORTNAME:
			by = c == OPT_COURSE_IDNUMBER ? "idnumber" :
			    "shortname";
			if (o->course_by != NULL &&
			    strcmp(o->course_by, by) != 0)
				ep_usage_error(u, "give either "
				    "--course-idnumber or --course-shortname");
			o->course_by = by;
			/* No comma lists: a shortname may hold a comma. */
			if (*optarg == '\0')
				ep_usage_error(u, "--course-%s: an empty "
				    "value would match every course without "
				    "one", by);
			o->course_values.v = ep_xrealloc(o->course_values.v,
			    (o->course_values.n + 1) *
			    sizeof(*o->course_values.v));
			o->course_values.v[o->course_values.n++] =
			    ep_xstrdup(optarg);
			break;
		case OPT_ALL_ENROLLMENTS: o->all_enrollments = true; break;
		case OPT_HISTORICAL: o->historical = true; break;
		case OPT_PROCESSORGS: o->processorgs = true; break;
		case OPT_TERM_PATTERN:
			/* No comma lists: a pattern may hold a comma. */
			if (!term_pattern_ok(optarg))
				ep_usage_error(u, "--term-pattern '%s': use "
				    "%%S, %%s, %%Y, %%y or %%%% and other "
				    "text", optarg);
			o->term_patterns.v = ep_xrealloc(o->term_patterns.v,
			    (o->term_patterns.n + 1) *
			    sizeof(*o->term_patterns.v));
			o->term_patterns.v[o->term_patterns.n++] =
			    ep_xstrdup(optarg);
			break;
		case OPT_TERM_MAP: o->term_map = optarg; break;
		case OPT_PARTNER_ID: o->partner_id = optarg; break;
		case OPT_CATEGORY: o->category = optarg; break;
		case OPT_SINCE: since = optarg; break;
		case OPT_PAGE_SIZE:
			o->page_size = ep_cli_long(u, "--page-size", optarg,
			    500);
			if (o->page_size < 1)
				ep_usage_error(u, "--page-size: at least 1");
			break;
		case OPT_MEETING: strv_add(&o->meetings, optarg); break;
		default:
			ep_cli_common(c, argv, u);
		}
	}
	by_opt = o->course_by != NULL && strcmp(o->course_by, "idnumber") ==
	    0 ? "--course-idnumber" : "--course-shortname";
	/* -t, or NDJSON: the input is an API, not records to follow. */
	o->ofmt = (enum ep_fmt)ep_io_to_fmt(u, EP_FMT_AUTO);
	argc -= optind;
	argv += optind;
	if (argc < 2)
		ep_usage_error(u, "name a system and what to fetch");
	o->lms = argv[0];
	o->what = argv[1];
	/* Moodle's own spelling. */
	if (strcmp(o->what, "enrolments") == 0)
		o->what = "enrollments";
	moodle = strcmp(o->lms, "moodle") == 0;
	canvas = strcmp(o->lms, "canvas") == 0;
	kaltura = strcmp(o->lms, "kaltura") == 0;
	zoom = strcmp(o->lms, "zoom") == 0;
	if (!moodle && !canvas && !kaltura && !zoom)
		ep_usage_error(u, "unknown system '%s' (moodle, canvas, "
		    "kaltura or zoom)", o->lms);
	if (strcmp(o->what, "report") == 0 && canvas) {
		if (argc != 3 || strcmp(argv[2], "provisioning") != 0)
			ep_usage_error(u, "canvas report: only 'provisioning' "
			    "is supported");
	} else if (argc != 2) {
		ep_usage_error(u, "unexpected argument '%s'", argv[2]);
	}
#define ONLY(cond, opt) do { if (!(cond)) ep_usage_error(u, \
	"option '%s' does not apply to '%s %s'", opt, o->lms, o->what); \
	} while (0)
	if (kaltura) {
		if (strcmp(o->what, "media") != 0)
			ep_usage_error(u, "unknown Kaltura item '%s' (media)",
			    o->what);
		if (o->partner_id == NULL)
			o->partner_id = getenv("KALTURA_PARTNER_ID");
		if (o->partner_id == NULL || *o->partner_id == '\0' ||
		    strspn(o->partner_id, "0123456789") !=
		    strlen(o->partner_id))
			ep_usage_error(u, "kaltura media needs --partner-id N "
			    "(or $KALTURA_PARTNER_ID), a number");
		if (o->category == NULL)
			o->category = "Canvas_UMich";
		if (*o->category == '\0')
			ep_usage_error(u, "--category: an empty name");
		if (since != NULL && kaltura_time(since, &o->since) < 0)
			ep_usage_error(u, "--since: '%s' is not an ISO 8601 "
			    "time (2020-03-01T00:00:00Z)", since);
		if (o->page_size == 0)
			o->page_size = 500;
		ONLY(o->mapping == NULL, "--mapping");
		ONLY(o->course_ids.n == 0, "--course-id");
		ONLY(o->course_by == NULL, by_opt);
		ONLY(!o->all_enrollments, "--all-enrollments");
		ONLY(o->field == NULL, "--field");
		ONLY(o->value == NULL, "--value");
		ONLY(o->account == NULL, "--account");
		ONLY(o->terms.n == 0, "--term");
		ONLY(o->courses.n == 0, "--course");
		ONLY(o->types.n == 0, "--type");
		ONLY(o->report_what.n == 0, "--what");
		ONLY(o->user_key == NULL, "--user-key");
		ONLY(o->unkeyed_path == NULL, "--unkeyed");
		ONLY(o->skipped_path == NULL, "--skipped");
		ONLY(o->meetings.n == 0, "--meeting");
		return;
	}
	ONLY(o->partner_id == NULL, "--partner-id");
	ONLY(o->category == NULL, "--category");
	ONLY(since == NULL, "--since");
	ONLY(o->page_size == 0, "--page-size");
	if (moodle && strcmp(o->what, "enrollments") == 0) {
		if ((o->mapping != NULL) + (o->course_ids.n > 0) +
		    (o->course_by != NULL) != 1)
			ep_usage_error(u, "give one of --mapping, --course-id, "
			    "--course-idnumber or --course-shortname");
		for (size_t i = 0; i < o->course_ids.n; i++)
			(void)ep_cli_long(u, "--course-id", o->course_ids.v[i],
			    (long)(~0UL >> 1));
	} else if (moodle && strcmp(o->what, "courses") == 0) {
		if ((o->field != NULL) != (o->value != NULL))
			ep_usage_error(u, "--field and --value go together");
		ONLY(o->mapping == NULL, "--mapping");
		ONLY(o->course_ids.n == 0, "--course-id");
		ONLY(o->course_by == NULL, by_opt);
		ONLY(!o->all_enrollments, "--all-enrollments");
		ONLY(o->value_file == NULL, "--value-file");
	} else if (moodle && strcmp(o->what, "users") == 0) {
		static const char *const by[] = { "idnumber", "username",
		    "email", "id", NULL };
		size_t k;

		if (o->field == NULL || (o->value == NULL) ==
		    (o->value_file == NULL))
			ep_usage_error(u, "moodle users needs --field and "
			    "either --value or --value-file");
		for (k = 0; by[k] && strcmp(by[k], o->field) != 0; k++)
			;
		if (by[k] == NULL)
			ep_usage_error(u, "moodle users: --field '%s' is not "
			    "idnumber, username, email or id", o->field);
		ONLY(o->mapping == NULL, "--mapping");
		ONLY(o->course_ids.n == 0, "--course-id");
		ONLY(o->course_by == NULL, by_opt);
		ONLY(!o->all_enrollments, "--all-enrollments");
	} else if (moodle) {
		ep_usage_error(u, "unknown Moodle item '%s' (enrollments, "
		    "courses or users)", o->what);
	} else if (zoom) {
		if (strcmp(o->what, "meetings") != 0 &&
		    strcmp(o->what, "participants") != 0)
			ep_usage_error(u, "unknown Zoom item '%s' (meetings or "
			    "participants)", o->what);
		if (o->meetings.n == 0)
			ep_usage_error(u, "zoom %s needs --meeting", o->what);
		for (size_t i = 0; i < o->meetings.n; i++)
			if (strspn(o->meetings.v[i], "0123456789") !=
			    strlen(o->meetings.v[i]) ||
			    strlen(o->meetings.v[i]) > 15)
				ep_usage_error(u, "--meeting: '%s' is not a "
				    "Zoom meeting id", o->meetings.v[i]);
		o->conn.account_id = o->account;
		ONLY(o->terms.n == 0, "--term");
		ONLY(o->courses.n == 0, "--course");
		ONLY(o->mapping == NULL, "--mapping");
		ONLY(o->course_ids.n == 0, "--course-id");
		ONLY(o->course_by == NULL, by_opt);
		ONLY(!o->all_enrollments, "--all-enrollments");
		ONLY(o->field == NULL, "--field");
		ONLY(o->types.n == 0, "--type");
		ONLY(o->report_what.n == 0, "--what");
		ONLY(o->value_file == NULL, "--value-file");
		ONLY(!o->historical, "--historical");
		ONLY(!o->processorgs, "--processorgs");
		ONLY(o->term_patterns.n == 0, "--term-pattern");
		ONLY(o->term_map == NULL, "--term-map");
	} else if (strcmp(o->what, "courses") == 0 && o->courses.n > 0) {
		ONLY(o->account == NULL, "--account with --course");
		ONLY(o->terms.n == 0, "--term with --course");
	} else if (strcmp(o->what, "courses") == 0 ||
	    strcmp(o->what, "users") == 0) {
		if (o->account == NULL)
			ep_usage_error(u, "canvas %s needs --account",
			    o->what);
		if (strcmp(o->what, "users") == 0)
			ONLY(o->terms.n == 0, "--term");
	} else if (strcmp(o->what, "terms") == 0) {
		if (o->account == NULL)
			ep_usage_error(u, "canvas terms needs --account");
		ONLY(o->terms.n == 0, "--term");
	} else if (strcmp(o->what, "sections") == 0 ||
	    strcmp(o->what, "course-audit") == 0 ||
	    strcmp(o->what, "zoom-links") == 0) {
		if (o->courses.n == 0)
			ep_usage_error(u, "canvas %s needs --course", o->what);
		ONLY(o->account == NULL, "--account");
		ONLY(o->terms.n == 0, "--term");
	} else if (strcmp(o->what, "enrollments") == 0) {
		if ((o->courses.n > 0) == (o->account != NULL))
			ep_usage_error(u, "give either --course or --account "
			    "with --term");
		if (o->account != NULL && o->terms.n == 0)
			ep_usage_error(u, "--account needs --term");
	} else if (strcmp(o->what, "report") == 0) {
		static const char *const ok[] = { "users", "courses",
		    "enrollments", "sections", "terms", "accounts", "xlist",
		    "groups", "admins", NULL };

		if (o->account == NULL ||
		    (o->report_what.n == 0 && !o->processorgs))
			ep_usage_error(u, "canvas report provisioning needs "
			    "--account, and --what or --processorgs");
		if (o->historical && o->terms.n > 0)
			ep_usage_error(u, "give either --term or --historical");
		if (o->report_what.n > 0 && o->terms.n == 0 &&
		    !o->historical)
			ep_usage_error(u, "--what needs --term or "
			    "--historical");
		ONLY(o->terms.n > 0 || (o->term_patterns.n == 0 &&
		    o->term_map == NULL), o->term_map ? "--term-map" :
		    "--term-pattern");
		for (size_t i = 0; i < o->report_what.n; i++) {
			size_t k;

			for (k = 0; ok[k]; k++)
				if (strcmp(ok[k], o->report_what.v[i]) == 0)
					break;
			if (ok[k] == NULL)
				ep_usage_error(u, "--what: unknown report "
				    "part '%s'", o->report_what.v[i]);
		}
	} else {
		ep_usage_error(u, "unknown Canvas item '%s' (courses, "
		    "enrollments, users, terms, sections, course-audit, zoom-links or "
		    "report)",
		    o->what);
	}
	if (!zoom)
		ONLY(o->meetings.n == 0, "--meeting");
	if (moodle) {
		ONLY(o->account == NULL, "--account");
		ONLY(o->terms.n == 0, "--term");
		ONLY(o->courses.n == 0, "--course");
		ONLY(o->types.n == 0, "--type");
		ONLY(o->report_what.n == 0, "--what");
		ONLY(!o->historical, "--historical");
		ONLY(!o->processorgs, "--processorgs");
		ONLY(o->term_patterns.n == 0, "--term-pattern");
		ONLY(o->term_map == NULL, "--term-map");
	} else if (canvas) {
		ONLY(o->mapping == NULL, "--mapping");
		ONLY(o->course_ids.n == 0, "--course-id");
		ONLY(o->course_by == NULL, by_opt);
		ONLY(!o->all_enrollments, "--all-enrollments");
		ONLY(o->field == NULL, "--field");
		ONLY(o->value == NULL, "--value");
		ONLY(o->value_file == NULL, "--value-file");
		if (strcmp(o->what, "enrollments") != 0)
			ONLY(o->types.n == 0, "--type");
		if (strcmp(o->what, "enrollments") != 0 &&
		    strcmp(o->what, "sections") != 0 &&
		    strcmp(o->what, "zoom-links") != 0 &&
		    strcmp(o->what, "courses") != 0 &&
		    strcmp(o->what, "course-audit") != 0)
			ONLY(o->courses.n == 0, "--course");
		if (strcmp(o->what, "report") != 0) {
			ONLY(o->report_what.n == 0, "--what");
			ONLY(!o->historical, "--historical");
			ONLY(!o->processorgs, "--processorgs");
			ONLY(o->term_patterns.n == 0, "--term-pattern");
			ONLY(o->term_map == NULL, "--term-map");
		}
	}
	if (strcmp(o->what, "enrollments") == 0) {
		o->user_key = user_key_check(o->lms, o->user_key, u);
	} else {
		ONLY(o->user_key == NULL, "--user-key");
		ONLY(o->unkeyed_path == NULL, "--unkeyed");
		if (!zoom || strcmp(o->what, "participants") != 0)
			ONLY(o->skipped_path == NULL, "--skipped");
	}
#undef ONLY
}

static const char *
user_key_check(const char *lms, const char *key, const char *usage)
{
	bool moodle = strcmp(lms, "moodle") == 0;

	if (key == NULL)
		return moodle ? "idnumber" : "sis_user_id";
	if (user_key_known(lms, key))
		return key;
	ep_usage_error(usage, "--user-key: unknown %s field '%s' (%s)", lms,
	    key, moodle ? "idnumber, username, email or id" :
	    "sis_user_id, login_id, email or id");
}

static int
setup(struct fetch *f, struct ep_error *err)
{
	const struct opts *o = f->o;

	if (ep_lms_site_open(o->lms, &o->conn, o->dry_run, &f->base,
	    &f->token, &f->http, err) < 0)
		return -1;
	if (o->dry_run)
		return 0;
	if (side_open(&f->unkeyed, o->unkeyed_path, err) < 0 ||
	    side_open(&f->skipped, o->skipped_path, err) < 0)
		return -1;
	f->out = ep_out_open(ep_io.output, err);
	if (f->out == NULL)
		return -1;
	f->w = ep_writer_new(ep_out_file(f->out), o->ofmt);
	f->pg = ep_prog_new("records");
	return 0;
}

void
strv_add(struct strv *sv, const char *arg)
{
	const char *p = arg;

	for (;;) {
		size_t n = strcspn(p, ",");

		if (n > 0) {
			sv->v = ep_xrealloc(sv->v, (sv->n + 1) *
			    sizeof(*sv->v));
			sv->v[sv->n++] = ep_xstrndup(p, n);
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
}

static void
strv_free(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
}
