/*
 * lmsparse.h - LMS reply bodies to records (lms-fetch): the parse step of
 * each Moodle and Canvas call as a plain function of the reply body, with
 * no request, no network and no run state, so that the unit tests and the
 * fuzz targets (tests/fuzz) can feed it anything.
 *
 * Each parse function takes the body (len bytes; body may be NULL when
 * len is 0) after the transport and HTTP status were checked, and either
 * fills out and returns 0 (or another non-negative answer), or returns -1
 * with err (a message naming what, code 69 or 77) and out left empty:
 * never records and an error both.
 */
#ifndef EP_LMSPARSE_H
#define EP_LMSPARSE_H

#include <jansson.h>
#include <stdbool.h>

#include "http.h"
#include "msg.h"
#include "rec.h"

/* What a parse produced: records in reply order, and texts (Moodle's
 * warnings, the ids of a Canvas course listing, looked-up shortnames). */
struct ep_lms_out {
	struct ep_rec **recs;
	size_t nrecs, caprecs;
	char **texts;		/* elements may be NULL (lookup) */
	size_t ntexts, captexts;
};

/* Free everything out holds and empty it (out itself is the caller's). */
void ep_lms_out_free(struct ep_lms_out *out);
/* Append rec (out takes it) / a copy of text (NULL allowed). */
void ep_lms_out_rec(struct ep_lms_out *out, struct ep_rec *rec);
void ep_lms_out_text(struct ep_lms_out *out, const char *text);

/* Set field name of rec from JSON value v (NULL or missing: null;
 * strings, integers, reals and booleans as themselves; arrays and objects
 * as their compact JSON text). */
void ep_lms_rec_json(struct ep_rec *rec, const char *name, json_t *v);

/*
 * Moodle core_enrol_get_enrolled_users of one course: one record per
 * (user, role) with course (the shortname given), course_id, user,
 * user_id, idnumber ("" when missing), email, name, role (null for a user
 * without roles).  A Moodle error object or a reply that is not a list is
 * an error; list elements that are not objects are skipped.
 */
int ep_moodle_parse_enrolled(const char *body, size_t len, const char *what,
    const char *shortname, long long course_id, struct ep_lms_out *out,
    struct ep_error *err);

/*
 * Moodle core_course_get_courses_by_field: one record per course (id,
 * shortname, fullname, displayname, idnumber, categoryid, categoryname,
 * visible, format, startdate, enddate) and the messages of its warnings
 * as texts ("(warning without message)" for one without).
 */
int ep_moodle_parse_courses(const char *body, size_t len,
    struct ep_lms_out *out, struct ep_error *err);

/*
 * The same call as a lookup of course ids: texts[i] is the shortname of
 * ids[i], or NULL when the reply has no such course (n texts in all).
 */
int ep_moodle_parse_lookup(const char *body, size_t len,
    const long long *ids, size_t n, struct ep_lms_out *out,
    struct ep_error *err);

/*
 * The SIS import role name of a Canvas enrollment object: its base role
 * ("student" for StudentEnrollment, ...) or the custom role's name.
 */
const char *ep_canvas_role_name(json_t *e);
/* The enrollment type of a base role name ("student" ->
 * "StudentEnrollment"), or NULL for a custom role. */
const char *ep_canvas_role_type(const char *role);

enum ep_canvas_kind {
	EP_CANVAS_COURSES,
	EP_CANVAS_ENROLLMENTS,
	EP_CANVAS_USERS,
	EP_CANVAS_LISTING,	/* a course listing: texts are course ids */
	EP_CANVAS_TERMS,	/* {"enrollment_terms": [...]} */
	EP_CANVAS_SECTIONS,
	EP_CANVAS_AUDIT,	/* the course audit log: {"events": [...]} */
	EP_CANVAS_COURSE	/* one course: an object */
};

/*
 * One page of a Canvas list (the Link header is the pool's business):
 * records of courses, enrollments or users, or for a listing the integer
 * ids of the courses as texts.  A reply that is not a JSON list is an
 * error (terms: an object whose "enrollment_terms" is one; the course
 * audit log: "events"); elements that
 * are not objects are skipped.
 */
int ep_canvas_parse_page(enum ep_canvas_kind kind, const char *body,
    size_t len, const char *what, struct ep_lms_out *out,
    struct ep_error *err);

/*
 * Canvas's own text in an error reply ({"errors": [{"message": ...}]},
 * {"errors": {"field": [{"message": ...}]}}, {"errors": "..."} or
 * {"message": ...}): malloc'd, or NULL.  It is a masked excerpt
 * (ep_mask_excerpt, at most EP_SERVER_TEXT_MAX bytes): fit for a message.
 */
char *ep_canvas_error_text(const char *body, size_t len);

/*
 * ep_http_check with Canvas's error text (ep_canvas_error_text) in place
 * of the raw body: "WHAT: HTTP STATUS: TEXT".
 */
int ep_canvas_check(const struct ep_http_req *r, const char *what,
    struct ep_error *err);

/* A provisioning report's status reply. */
struct ep_canvas_report {
	long long id;		/* the report id, when has_id */
	bool has_id;
	char *status;		/* "" when missing (malloc'd) */
	char *url;		/* the attachment URL when complete */
};

/*
 * Parse a report status reply; with need_id (the reply to the POST that
 * started it) a missing integer id is an error.  1 when the report is
 * complete (st->url set), 0 when it is still running (st->status says
 * how), -1 with err for a reply that is not JSON, a complete report
 * without an attachment, or the statuses error, aborted and deleted.
 * Free st with ep_canvas_report_free whatever the answer.
 */
int ep_canvas_parse_report_status(const char *body, size_t len,
    const char *what, bool need_id, struct ep_canvas_report *st,
    struct ep_error *err);
void ep_canvas_report_free(struct ep_canvas_report *st);

/*
 * A provisioning report's CSV attachment: one record per row, with
 * report = part first and then the row's columns.  An empty body is no
 * rows; a CSV the reader refuses is an error (69, "report PART.csv:LINE:
 * why").
 */
int ep_canvas_parse_report_csv(const char *part, const char *body,
    size_t len, struct ep_lms_out *out, struct ep_error *err);

#endif
