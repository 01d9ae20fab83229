/*
 * test_parse.c - the LMS reply parsers (lmsparse.h, lmsjson.h) and the
 * SQL Server value conversion (tdsval.h), fed directly: no server.
 */
#include <string.h>

#include <sybfront.h>
#include <sybdb.h>

#include "lmsjson.h"
#include "lmsparse.h"
#include "tap.h"
#include "tdsval.h"

#define S(s) s, strlen(s)

/* The value of field name of out's record i ("(absent)" / "(null)"). */
static const char *
val(const struct ep_lms_out *out, size_t i, const char *name)
{
	const struct ep_field *f;

	if (i >= out->nrecs || (f = ep_rec_get(out->recs[i], name)) == NULL)
		return "(absent)";
	return f->type == EP_T_NULL ? "(null)" : f->val;
}

static void
test_moodle(void)
{
	struct ep_lms_out out = { 0 };
	struct ep_error err;
	long long ids[] = { 2, 9 };
	int rc;

	rc = ep_moodle_parse_enrolled(S("{\"exception\":\"moodle_exception\","
	    "\"errorcode\":\"invalidtoken\",\"message\":\"Invalid token - "
	    "token not found\"}"), "enrolled users", "C1", 4, &out, &err);
	is_int(rc, -1, "moodle: an exception reply fails");
	is_int(err.code, EP_EXIT_NOPERM, "moodle: invalidtoken is 77");
	is_str(err.msg, "enrolled users: Moodle error invalidtoken: Invalid "
	    "token - token not found", "moodle: the message is Moodle's");
	is_int((int)out.nrecs, 0, "moodle: no records with the error");

	rc = ep_moodle_parse_enrolled(S("{\"exception\":\"webservice_access_"
	    "exception\",\"errorcode\":\"accessexception\",\"message\":"
	    "\"Access control exception\"}"), "x", "C1", 4, &out, &err);
	ok(rc == -1 && err.code == EP_EXIT_UNAVAILABLE,
	    "moodle: accessexception without 'invalid token' is 69");

	rc = ep_moodle_parse_enrolled(S("[{\"id\":5,\"username\":\"ann\","
	    "\"roles\":[{\"shortname\":\"student\"},{\"shortname\":"
	    "\"teacher\"}]},{\"id\":6,\"idnumber\":\"X6\"},7]"), "x", "C1", 4,
	    &out, &err);
	is_int(rc, 0, "moodle: a list of users parses");
	is_int((int)out.nrecs, 3, "moodle: one record per role, one for no "
	    "role, none for a non-object");
	is_str(val(&out, 1, "role"), "teacher", "moodle: the second role");
	is_str(val(&out, 0, "idnumber"), "", "moodle: idnumber \"\" when "
	    "missing");
	is_str(val(&out, 2, "role"), "(null)", "moodle: role null without "
	    "roles");
	is_str(val(&out, 2, "course_id"), "4", "moodle: the course id given");
	ep_lms_out_free(&out);

	rc = ep_moodle_parse_enrolled(S("{\"users\":[]}"), "x", "C1", 4, &out,
	    &err);
	ok(rc == -1 && strstr(err.msg, "not a list of users") != NULL,
	    "moodle: an object where a list belongs is an error");

	rc = ep_moodle_parse_courses(S("{\"courses\":[{\"id\":2,\"shortname\":"
	    "\"M1\",\"visible\":true}],\"warnings\":[{\"message\":\"w1\"},{}]}"),
	    &out, &err);
	ok(rc == 0 && out.nrecs == 1 && out.ntexts == 2, "moodle: courses "
	    "and warnings");
	is_str(val(&out, 0, "visible"), "true", "moodle: a boolean field");
	is_str(val(&out, 0, "enddate"), "(null)", "moodle: a missing field "
	    "is null");
	ok(out.ntexts == 2 && strcmp(out.texts[1], "(warning without "
	    "message)") == 0, "moodle: a warning without message");
	ep_lms_out_free(&out);

	rc = ep_moodle_parse_lookup(S("{\"courses\":[{\"id\":2,\"shortname\":"
	    "\"M1\"}]}"), ids, 2, &out, &err);
	ok(rc == 0 && out.ntexts == 2 && strcmp(out.texts[0], "M1") == 0 &&
	    out.texts[1] == NULL, "moodle: lookup finds 2, not 9");
	ep_lms_out_free(&out);
}

static void
test_canvas(void)
{
	struct ep_lms_out out = { 0 };
	struct ep_canvas_report st;
	struct ep_error err;
	char *m;
	int rc;

	rc = ep_canvas_parse_page(EP_CANVAS_ENROLLMENTS, S("[{\"id\":1,"
	    "\"course_id\":3,\"type\":\"StudentEnrollment\",\"role\":"
	    "\"StudentEnrollment\"},{\"id\":2,\"type\":\"TaEnrollment\","
	    "\"role\":\"Lab helper\",\"user\":{\"name\":\"B\"}}]"), "page",
	    &out, &err);
	is_int(rc, 0, "canvas: a page with missing fields parses");
	is_str(val(&out, 0, "role"), "student", "canvas: base role name");
	is_str(val(&out, 1, "role"), "Lab helper", "canvas: custom role name");
	is_str(val(&out, 0, "user"), "(null)", "canvas: missing sis_user_id "
	    "is null");
	is_str(val(&out, 0, "name"), "(null)", "canvas: missing user object "
	    "gives null name");
	is_str(val(&out, 1, "name"), "B", "canvas: the user's name");
	ep_lms_out_free(&out);

	rc = ep_canvas_parse_page(EP_CANVAS_ENROLLMENTS, S("[{\"id\":1,"
	    "\"type\":\"StudentEnrollment\",\"sis_section_id\":\"S-01\","
	    "\"user\":{\"email\":\"a@x.edu\"}},{\"id\":2,\"user\":{}}]"),
	    "page", &out, &err);
	is_int(rc, 0, "canvas: enrollments with and without an email");
	is_str(val(&out, 0, "email"), "a@x.edu", "canvas: the user's email "
	    "when Canvas shows it");
	ok(ep_rec_get(out.recs[1], "email") == NULL, "canvas: no email "
	    "field when Canvas shows none");
	is_str(val(&out, 0, "lms_section"), "S-01", "canvas: sis_section_id "
	    "is lms_section, not the SIS's section");
	ok(ep_rec_get(out.recs[0], "section") == NULL, "canvas: no 'section' "
	    "field");
	ep_lms_out_free(&out);

	rc = ep_canvas_parse_page(EP_CANVAS_LISTING, S("[{\"id\":7},{\"id\":"
	    "\"8\"},{}]"), "listing", &out, &err);
	ok(rc == 0 && out.nrecs == 0 && out.ntexts == 1 &&
	    strcmp(out.texts[0], "7") == 0, "canvas: listing keeps integer "
	    "ids only");
	ep_lms_out_free(&out);

	rc = ep_canvas_parse_page(EP_CANVAS_TERMS, S("{\"enrollment_terms\":"
	    "[{\"id\":5,\"name\":\"Fall\",\"sis_term_id\":null}]}"), "terms",
	    &out, &err);
	ok(rc == 0 && out.nrecs == 1 && strcmp(ep_rec_str(out.recs[0],
	    "name"), "Fall") == 0, "canvas: terms come from enrollment_terms");
	ep_lms_out_free(&out);
	rc = ep_canvas_parse_page(EP_CANVAS_TERMS, S("{\"terms\":[]}"),
	    "terms", &out, &err);
	ok(rc == -1 && err.code == EP_EXIT_UNAVAILABLE && strstr(err.msg,
	    "terms: the reply is not a list") != NULL, "canvas: terms without "
	    "enrollment_terms fail (%s)", err.msg);
	rc = ep_canvas_parse_page(EP_CANVAS_USERS, S("{\"enrollment_terms\":"
	    "[]}"), "users", &out, &err);
	ok(rc == -1, "canvas: only terms unwrap an object");

	rc = ep_canvas_parse_page(EP_CANVAS_USERS, S("<html>502 Bad "
	    "Gateway</html>"), "users of account 1", &out, &err);
	is_int(rc, -1, "canvas: a non-JSON body fails");
	is_int(err.code, EP_EXIT_UNAVAILABLE, "canvas: non-JSON is 69");
	ok(strncmp(err.msg, "users of account 1: the reply is not JSON",
	    41) == 0, "canvas: the message says so (%s)", err.msg);
	is_int((int)out.nrecs, 0, "canvas: no records with the error");

	rc = ep_canvas_parse_page(EP_CANVAS_USERS, NULL, 0, "u", &out, &err);
	ok(rc == -1 && err.code == EP_EXIT_UNAVAILABLE, "canvas: an empty "
	    "body fails");

	m = ep_canvas_error_text(S("{\"errors\":[{\"message\":\"user not "
	    "authorized\"}]}"));
	is_str(m ? m : "(none)", "user not authorized", "canvas: error text");
	free(m);
	m = ep_canvas_error_text(S("{\"errors\":{\"user_id\":[{\"attribute\":"
	    "\"user_id\",\"message\":\"is invalid\"}]}}"));
	is_str(m ? m : "(none)", "is invalid",
	    "canvas: error text from a per-field errors object");
	free(m);
	m = ep_canvas_error_text(S("{\"errors\":[\"SIS imports are not "
	    "enabled for this account\"]}"));
	is_str(m ? m : "(none)", "SIS imports are not enabled for this account",
	    "canvas: error text from a list of strings (sis_imports)");
	free(m);
	m = ep_canvas_error_text(S("not json"));
	ok(m == NULL, "canvas: no error text in a non-JSON body");

	rc = ep_canvas_parse_report_status(S("{\"status\":\"running\"}"), "r",
	    true, &st, &err);
	ok(rc == -1 && strstr(err.msg, "no report id") != NULL,
	    "canvas: a started report without id is an error");
	ep_canvas_report_free(&st);
	rc = ep_canvas_parse_report_status(S("{\"id\":3,\"status\":"
	    "\"running\"}"), "r", true, &st, &err);
	ok(rc == 0 && st.has_id && st.id == 3 && strcmp(st.status,
	    "running") == 0, "canvas: a running report");
	ep_canvas_report_free(&st);
	rc = ep_canvas_parse_report_status(S("{\"status\":\"complete\","
	    "\"attachment\":{\"url\":\"https://f/1\"}}"), "r", false, &st,
	    &err);
	ok(rc == 1 && strcmp(st.url, "https://f/1") == 0, "canvas: a "
	    "complete report and its URL");
	ep_canvas_report_free(&st);
	rc = ep_canvas_parse_report_status(S("{\"status\":\"error\","
	    "\"parameters\":{\"extra_text\":\"bad term\"}}"), "r", false,
	    &st, &err);
	is_str(rc == -1 ? err.msg : "(no error)", "r: the report ended with "
	    "status 'error': bad term", "canvas: a failed report");
	ep_canvas_report_free(&st);

	rc = ep_canvas_parse_report_csv("users", S("user_id,login_id\n"
	    "u1,a\n\"u2,x\",b\n"), &out, &err);
	ok(rc == 0 && out.nrecs == 2, "canvas: report rows");
	is_str(val(&out, 1, "user_id"), "u2,x", "canvas: a quoted CSV field");
	is_str(val(&out, 0, "report"), "users", "canvas: the report part");
	ep_lms_out_free(&out);
	rc = ep_canvas_parse_report_csv("users", S("a,b\n1,2,3\n"), &out,
	    &err);
	ok(rc == -1 && err.code == EP_EXIT_UNAVAILABLE && out.nrecs == 0 &&
	    strncmp(err.msg, "report users.csv:2:", 19) == 0,
	    "canvas: a bad report row is a located error, no records (%s)",
	    err.msg);
}

static void
test_link(void)
{
	char *u;

	u = ep_http_link_next("<https://c.example/a?page=1>; rel=\"current\","
	    "<https://c.example/a?page=2>; rel=\"next\"", "https://c.example/");
	is_str(u ? u : "(none)", "https://c.example/a?page=2", "link: next");
	free(u);
	u = ep_http_link_next("</b?page=3>; rel=next", "https://c.example/a");
	is_str(u ? u : "(none)", "https://c.example/b?page=3", "link: a "
	    "relative next is resolved");
	free(u);
	u = ep_http_link_next("<https://c.example/a>; rel=\"nextpage\"",
	    "https://c.example/");
	ok(u == NULL, "link: rel=nextpage is not next");
	free(u);
}

static void
test_tds(void)
{
	struct ep_rec *row = ep_rec_new();
	struct ep_error err;
	char *buf = NULL;
	size_t bufsz = 0;
	DBNUMERIC d;
	DBINT i4 = -4766;
	const unsigned char bad[] = { 0xc3, 0x28 };

	dbinit();
	memset(&d, 0, sizeof(d));
	d.precision = 10;
	d.scale = 3;
	d.array[0] = 1;			/* negative */
	/* Precision 10 keeps 5 big-endian magnitude bytes, array[1..5]:
	 * 0x3039 is 12345. */
	d.array[4] = 0x30;
	d.array[5] = 0x39;
	ok(ep_tds_value(row, "d", SYBDECIMAL, (unsigned char *)&d,
	    sizeof(d), &buf, &bufsz, &err) == 0, "tds: a decimal converts");
	is_str(ep_rec_str(row, "d") ? ep_rec_str(row, "d") : "(none)",
	    "-12.345", "tds: every digit of the decimal");
	ok(ep_tds_value(row, "i", SYBINT4, (unsigned char *)&i4, 4, &buf,
	    &bufsz, &err) == 0 && strcmp(ep_rec_str(row, "i"), "-4766") == 0,
	    "tds: an int");
	ok(ep_tds_value(row, "x", SYBINT8, (unsigned char *)&i4, 4, &buf,
	    &bufsz, &err) == -1 && err.code == EP_EXIT_DATAERR &&
	    ep_rec_get(row, "x") == NULL, "tds: a bigint of 4 bytes is "
	    "refused (%s)", err.msg);
	ok(ep_tds_value(row, "s", SYBNVARCHAR, bad, 2, &buf, &bufsz,
	    &err) == -1 && strstr(err.msg, "invalid UTF-8 at byte 1") != NULL,
	    "tds: text that is not UTF-8 is refused (%s)", err.msg);
	d.scale = 11;
	ok(ep_tds_value(row, "e", SYBDECIMAL, (unsigned char *)&d,
	    sizeof(d), &buf, &bufsz, &err) == -1, "tds: scale over precision "
	    "is refused");
	ok(ep_tds_value(row, "n", SYBINT4, NULL, 0, &buf, &bufsz, &err) ==
	    0 && ep_rec_get(row, "n")->type == EP_T_NULL, "tds: NULL");
	free(buf);
	ep_rec_free(row);
}

int
main(void)
{
	test_moodle();
	test_canvas();
	test_link();
	test_tds();
	return done_testing();
}
