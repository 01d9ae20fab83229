/*
 * lmsparse.c - Moodle and Canvas reply bodies to records (see lmsparse.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lmsjson.h"
#include "lmsparse.h"

/* The LMSs whose replies this file reads (--version lists them). */
const char *const ep_lms_backends[] = { "moodle", "canvas", NULL };

void
ep_lms_out_free(struct ep_lms_out *out)
{
	for (size_t i = 0; i < out->nrecs; i++)
		ep_rec_free(out->recs[i]);
	for (size_t i = 0; i < out->ntexts; i++)
		free(out->texts[i]);
	free(out->recs);
	free(out->texts);
	memset(out, 0, sizeof(*out));
}

void
ep_lms_out_rec(struct ep_lms_out *out, struct ep_rec *rec)
{
	if (out->nrecs == out->caprecs) {
		out->caprecs = out->caprecs ? 2 * out->caprecs : 16;
		out->recs = ep_xrealloc(out->recs, out->caprecs *
		    sizeof(*out->recs));
	}
	out->recs[out->nrecs++] = rec;
}

void
ep_lms_out_text(struct ep_lms_out *out, const char *text)
{
	if (out->ntexts == out->captexts) {
		out->captexts = out->captexts ? 2 * out->captexts : 16;
		out->texts = ep_xrealloc(out->texts, out->captexts *
		    sizeof(*out->texts));
	}
	out->texts[out->ntexts++] = text ? ep_xstrdup(text) : NULL;
}

void
ep_lms_rec_json(struct ep_rec *rec, const char *name, json_t *v)
{
	char buf[64];

	if (v == NULL || json_is_null(v)) {
		ep_rec_set(rec, name, EP_T_NULL, NULL, 0);
	} else if (json_is_string(v)) {
		ep_rec_set(rec, name, EP_T_STR, json_string_value(v),
		    json_string_length(v));
	} else if (json_is_integer(v)) {
		int n = snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));

		ep_rec_set(rec, name, EP_T_NUM, buf, (size_t)n);
	} else if (json_is_boolean(v)) {
		ep_rec_set(rec, name, EP_T_BOOL, json_is_true(v) ? "true" :
		    "false", json_is_true(v) ? 4 : 5);
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		if (s == NULL)
			ep_die(EP_EXIT_NOMEM, "out of memory");
		ep_rec_set(rec, name, json_is_real(v) ? EP_T_NUM : EP_T_RAW,
		    s, strlen(s));
		free(s);
	}
}

/* ------------------------------------------------------------ Moodle */

static const char *
str_or_empty(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

static void
user_records(struct ep_lms_out *out, const char *shortname,
    long long course_id, json_t *user)
{
	json_t *roles = json_object_get(user, "roles");
	size_t nroles = json_is_array(roles) ? json_array_size(roles) : 0;

	for (size_t i = 0; i < (nroles ? nroles : 1); i++) {
		struct ep_rec *rec = ep_rec_new();
		char id[32];
		json_t *role = nroles ? json_array_get(roles, i) : NULL;

		ep_rec_set_str(rec, "course", shortname);
		snprintf(id, sizeof(id), "%lld", course_id);
		ep_rec_set(rec, "course_id", EP_T_NUM, id, strlen(id));
		ep_lms_rec_json(rec, "user", json_object_get(user,
		    "username"));
		ep_lms_rec_json(rec, "user_id", json_object_get(user, "id"));
		ep_rec_set_str(rec, "idnumber",
		    str_or_empty(json_object_get(user, "idnumber")));
		ep_lms_rec_json(rec, "email", json_object_get(user, "email"));
		ep_lms_rec_json(rec, "name", json_object_get(user,
		    "fullname"));
		ep_lms_rec_json(rec, "role", role ? json_object_get(role,
		    "shortname") : NULL);
		ep_lms_out_rec(out, rec);
	}
}

int
ep_moodle_parse_enrolled(const char *body, size_t len, const char *what,
    const char *shortname, long long course_id, struct ep_lms_out *out,
    struct ep_error *err)
{
	json_t *j = ep_moodle_json(body, len, what, EP_EXIT_UNAVAILABLE, err);

	if (j == NULL)
		return -1;
	if (!json_is_array(j)) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: the reply is "
		    "not a list of users", what);
		json_decref(j);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *user = json_array_get(j, i);

		if (json_is_object(user))
			user_records(out, shortname, course_id, user);
	}
	json_decref(j);
	return 0;
}

static const char *const moodle_course_fields[] = { "id", "shortname",
    "fullname", "displayname", "idnumber", "categoryid", "categoryname",
    "visible", "format", "startdate", "enddate", NULL };

int
ep_moodle_parse_courses(const char *body, size_t len,
    struct ep_lms_out *out, struct ep_error *err)
{
	const char *what = "core_course_get_courses_by_field";
	json_t *j = ep_moodle_json(body, len, what, EP_EXIT_UNAVAILABLE, err);
	json_t *courses, *warnings;

	if (j == NULL)
		return -1;
	courses = json_object_get(j, "courses");
	if (!json_is_array(courses)) {
		json_decref(j);
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: the reply has no "
		    "course list", what);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(courses); i++) {
		json_t *cj = json_array_get(courses, i);
		struct ep_rec *rec = ep_rec_new();

		for (int k = 0; moodle_course_fields[k]; k++)
			ep_lms_rec_json(rec, moodle_course_fields[k],
			    json_object_get(cj, moodle_course_fields[k]));
		ep_lms_out_rec(out, rec);
	}
	warnings = json_object_get(j, "warnings");
	for (size_t i = 0; i < json_array_size(warnings); i++) {
		const char *m = json_string_value(json_object_get(
		    json_array_get(warnings, i), "message"));

		ep_lms_out_text(out, m ? m : "(warning without message)");
	}
	json_decref(j);
	return 0;
}

int
ep_moodle_parse_lookup(const char *body, size_t len,
    const long long *ids, size_t n, struct ep_lms_out *out,
    struct ep_error *err)
{
	json_t *j = ep_moodle_json(body, len,
	    "core_course_get_courses_by_field", EP_EXIT_UNAVAILABLE, err);
	json_t *courses;

	if (j == NULL)
		return -1;
	courses = json_object_get(j, "courses");
	for (size_t i = 0; i < n; i++) {
		const char *sn = NULL;

		/* The last course with the id wins, as it always did. */
		for (size_t k = 0; k < json_array_size(courses); k++) {
			json_t *cj = json_array_get(courses, k);

			if (json_integer_value(json_object_get(cj, "id")) ==
			    ids[i])
				sn = json_string_value(json_object_get(cj,
				    "shortname"));
		}
		ep_lms_out_text(out, sn);
	}
	json_decref(j);
	return 0;
}

/* ------------------------------------------------------------ Canvas */

/* Set name from obj[key]. */
static void
put(struct ep_rec *rec, const char *name, json_t *obj, const char *key)
{
	ep_lms_rec_json(rec, name, json_object_get(obj, key));
}

static struct ep_rec *
course_record(json_t *c)
{
	static const char *const fields[] = { "id", "sis_course_id", "name",
	    "course_code", "workflow_state", "account_id",
	    "enrollment_term_id", "start_at", "end_at", "created_at", NULL };
	struct ep_rec *rec = ep_rec_new();

	for (int i = 0; fields[i]; i++)
		put(rec, fields[i], c, fields[i]);
	return rec;
}

/* The fields of enrollment terms and of course sections, as Canvas
 * names them. */
static struct ep_rec *
fields_record(json_t *o, const char *const *fields)
{
	struct ep_rec *rec = ep_rec_new();

	for (int i = 0; fields[i]; i++)
		put(rec, fields[i], o, fields[i]);
	return rec;
}

static const char *const term_fields[] = { "id", "name", "sis_term_id",
    "start_at", "end_at", "workflow_state", NULL };
static const char *const section_fields[] = { "id", "course_id", "name",
    "sis_section_id", "start_at", "end_at", NULL };

static const char *const audit_fields[] = { "id", "event_type",
    "created_at", NULL };

static const char *const base_roles[][2] = {
	{ "StudentEnrollment", "student" },
	{ "TeacherEnrollment", "teacher" },
	{ "TaEnrollment", "ta" },
	{ "ObserverEnrollment", "observer" },
	{ "DesignerEnrollment", "designer" },
};

const char *
ep_canvas_role_name(json_t *e)
{
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *role = json_string_value(json_object_get(e, "role"));

	if (role != NULL && (type == NULL || strcmp(role, type) != 0))
		return role;
	for (size_t i = 0; type && i < sizeof(base_roles) /
	    sizeof(base_roles[0]); i++)
		if (strcmp(type, base_roles[i][0]) == 0)
			return base_roles[i][1];
	return role ? role : type;
}

const char *
ep_canvas_role_type(const char *role)
{
	for (size_t i = 0; role && i < sizeof(base_roles) /
	    sizeof(base_roles[0]); i++)
		if (strcmp(role, base_roles[i][1]) == 0)
			return base_roles[i][0];
	return NULL;
}

static struct ep_rec *
enrollment_record(json_t *e)
{
	struct ep_rec *rec = ep_rec_new();
	json_t *user = json_object_get(e, "user");
	const char *role = ep_canvas_role_name(e);

	put(rec, "course", e, "sis_course_id");
	put(rec, "course_id", e, "course_id");
	put(rec, "user", e, "sis_user_id");
	put(rec, "user_id", e, "user_id");
	put(rec, "login_id", user, "login_id");
	put(rec, "name", user, "name");
	if (role != NULL)
		ep_rec_set_str(rec, "role", role);
	else
		ep_rec_set(rec, "role", EP_T_NULL, NULL, 0);
	put(rec, "type", e, "type");
	put(rec, "enrollment_state", e, "enrollment_state");
	put(rec, "lms_section", e, "sis_section_id");
	put(rec, "section_id", e, "course_section_id");
	put(rec, "enrollment_id", e, "id");
	/* Only where Canvas gives it (the user was active in the course). */
	if (json_is_string(json_object_get(e, "last_activity_at")))
		put(rec, "last_activity_at", e, "last_activity_at");
	/* Only where Canvas shows it (lms-fetch --user-key email). */
	if (json_is_string(json_object_get(user, "email")))
		put(rec, "email", user, "email");
	return rec;
}

static struct ep_rec *
user_record(json_t *u)
{
	static const char *const fields[] = { "id", "sis_user_id",
	    "login_id", "name", "sortable_name", "short_name", "email",
	    NULL };
	struct ep_rec *rec = ep_rec_new();

	for (int i = 0; fields[i]; i++)
		put(rec, fields[i], u, fields[i]);
	return rec;
}

int
ep_canvas_parse_page(enum ep_canvas_kind kind, const char *body,
    size_t len, const char *what, struct ep_lms_out *out,
    struct ep_error *err)
{
	json_t *j = ep_lms_json(body, len, what, err);

	json_t *list = j;

	if (j == NULL)
		return -1;
	if (kind == EP_CANVAS_TERMS && json_is_object(j))
		list = json_object_get(j, "enrollment_terms");
	if (kind == EP_CANVAS_AUDIT && json_is_object(j))
		list = json_object_get(j, "events");
	if (kind == EP_CANVAS_COURSE) {
		if (!json_is_object(j) || !json_is_integer(json_object_get(j,
		    "id"))) {
			ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: the reply "
			    "is not a course", what);
			json_decref(j);
			return -1;
		}
		ep_lms_out_rec(out, course_record(j));
		json_decref(j);
		return 0;
	}
	if (!json_is_array(list)) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: the reply is "
		    "not a list", what);
		json_decref(j);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *o = json_array_get(list, i);

		if (!json_is_object(o))
			continue;
		switch (kind) {
		case EP_CANVAS_COURSE:
		case EP_CANVAS_COURSES:
			ep_lms_out_rec(out, course_record(o));
			break;
		case EP_CANVAS_ENROLLMENTS:
			ep_lms_out_rec(out, enrollment_record(o));
			break;
		case EP_CANVAS_USERS:
			ep_lms_out_rec(out, user_record(o));
			break;
		case EP_CANVAS_TERMS:
			ep_lms_out_rec(out, fields_record(o, term_fields));
			break;
		case EP_CANVAS_SECTIONS:
			ep_lms_out_rec(out, fields_record(o, section_fields));
			break;
		case EP_CANVAS_AUDIT: {
			struct ep_rec *rec = fields_record(o, audit_fields);

			put(rec, "course_id", json_object_get(o, "links"),
			    "course");
			ep_lms_out_rec(out, rec);
			break;
		}
		case EP_CANVAS_LISTING: {
			json_t *id = json_object_get(o, "id");
			char buf[32];

			if (json_is_integer(id)) {
				snprintf(buf, sizeof(buf), "%"
				    JSON_INTEGER_FORMAT, json_integer_value(id));
				ep_lms_out_text(out, buf);
			}
			break;
		}
		}
	}
	json_decref(j);
	return 0;
}

char *
ep_canvas_error_text(const char *body, size_t len)
{
	json_t *j, *e;
	const char *m = NULL;
	char *s;

	j = body ? json_loadb(body, len, 0, NULL) : NULL;
	e = json_object_get(j, "errors");
	if (json_is_array(e)) {
		m = json_string_value(json_object_get(json_array_get(e, 0),
		    "message"));
		/* {"errors": ["text"]}: the SIS imports controller's */
		if (m == NULL)
			m = json_string_value(json_array_get(e, 0));
	}
	else if (json_is_string(e))
		m = json_string_value(e);
	else if (json_is_object(e)) {
		/* {"errors": {"field": [{"message": ...}]}} */
		const char *key;
		json_t *v;

		json_object_foreach(e, key, v) {
			m = json_string_value(json_object_get(
			    json_array_get(v, 0), "message"));
			if (m != NULL)
				break;
		}
	}
	if (m == NULL)
		m = json_string_value(json_object_get(j, "message"));
	/* Server text that may quote the request: a masked excerpt. */
	s = m ? ep_mask_excerpt(m, strlen(m), EP_SERVER_TEXT_MAX) : NULL;
	json_decref(j);
	return s;
}

int
ep_canvas_check(const struct ep_http_req *r, const char *what,
    struct ep_error *err)
{
	char *m;

	if (ep_http_check(r, err) == 0)
		return 0;
	if (r->err.code != 0)
		return -1;
	m = ep_canvas_error_text(r->resp, r->resp_len);
	if (m != NULL)
		ep_error_set(err, err->code, "%s: HTTP %ld: %s", what,
		    r->status, m);
	free(m);
	return -1;
}

void
ep_canvas_report_free(struct ep_canvas_report *st)
{
	free(st->status);
	free(st->url);
	memset(st, 0, sizeof(*st));
}

int
ep_canvas_parse_report_status(const char *body, size_t len,
    const char *what, bool need_id, struct ep_canvas_report *st,
    struct ep_error *err)
{
	json_t *j = ep_lms_json(body, len, what, err);
	json_t *id;
	const char *status, *url;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	if (j == NULL)
		return -1;
	id = json_object_get(j, "id");
	if (json_is_integer(id)) {
		st->has_id = true;
		st->id = json_integer_value(id);
	} else if (need_id) {
		json_decref(j);
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: the reply has no "
		    "report id", what);
		return -1;
	}
	status = json_string_value(json_object_get(j, "status"));
	st->status = ep_xstrdup(status ? status : "");
	if (strcmp(st->status, "complete") == 0) {
		url = json_string_value(json_object_get(json_object_get(j,
		    "attachment"), "url"));
		if (url == NULL)
			url = json_string_value(json_object_get(j, "file_url"));
		if (url == NULL) {
			ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: complete "
			    "but without an attachment", what);
			rc = -1;
		} else {
			st->url = ep_xstrdup(url);
			rc = 1;
		}
	} else if (strcmp(st->status, "error") == 0 ||
	    strcmp(st->status, "aborted") == 0 ||
	    strcmp(st->status, "deleted") == 0) {
		const char *extra = json_string_value(json_object_get(
		    json_object_get(j, "parameters"), "extra_text"));

		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: the report "
		    "ended with status '%s'%s%s", what, st->status,
		    extra ? ": " : "", extra ? extra : "");
		rc = -1;
	}
	json_decref(j);
	return rc;
}

int
ep_canvas_parse_report_csv(const char *part, const char *body,
    size_t len, struct ep_lms_out *out, struct ep_error *err)
{
	struct ep_reader *rd;
	struct ep_rec *row;
	char *name;
	FILE *fp;
	int n;

	if (body == NULL || len == 0)
		return 0;
	fp = fmemopen((void *)body, len, "r");
	if (fp == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	name = ep_xasprintf("report %s.csv", part);
	rd = ep_reader_new(fp, name, EP_FMT_CSV);
	row = ep_rec_new();
	while ((n = ep_reader_next(rd, row, err)) > 0) {
		struct ep_rec *rec = ep_rec_new();

		ep_rec_set_str(rec, "report", part);
		for (size_t i = 0; i < row->n; i++)
			ep_rec_set(rec, row->f[i].name, row->f[i].type,
			    row->f[i].val, row->f[i].vlen);
		ep_lms_out_rec(out, rec);
	}
	ep_reader_free(rd);
	fclose(fp);
	ep_rec_free(row);
	free(name);
	if (n < 0) {
		err->code = EP_EXIT_UNAVAILABLE;
		ep_lms_out_free(out);
		return -1;
	}
	return 0;
}
