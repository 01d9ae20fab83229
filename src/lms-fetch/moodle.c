/*
 * moodle.c - lms-fetch against Moodle Web Services (REST protocol).
 *
 * Every call is a POST to webservice/rest/server.php with wstoken,
 * wsfunction and moodlewsrestformat=json in the form body, so the token
 * stays out of URLs and server logs.  Moodle reports most errors as HTTP
 * 200 with {"exception", "errorcode", "message"}: a reply is checked for
 * that shape before it is used.  invalidtoken, and accessexception whose
 * message speaks of an invalid or expired token (what Moodle sends for a
 * token past its validuntil), exit 77; any other Moodle error exits 69.
 *
 * Enrollment records: one per (course, user, role).  A user without an
 * idnumber is still written, with idnumber "" (Moodle's own value for
 * "not set"; the web service leaves the field out then).  A user enrolled
 * with no role in the course is written once with role null.
 */
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "mapping.h"

struct call {
	struct fetch *f;
	struct unit *u;		/* NULL for the course lookup */
	long long course_id;
	char *shortname;
};

static char *
endpoint(const struct fetch *f)
{
	size_t n = strlen(f->base);

	if (n >= 10 && strcmp(f->base + n - 10, "server.php") == 0)
		return ep_xstrdup(f->base);
	return ep_xasprintf("%s/webservice/rest/server.php", f->base);
}

static struct ep_http_req *
ws_request(const struct fetch *f, const char *function)
{
	char *url = endpoint(f);
	struct ep_http_req *r = ep_http_req_new("POST", url);

	/* Reads are safe to repeat whatever happened to the first try. */
	r->idempotent = true;
	free(url);
	ep_http_req_form(r, "wstoken", f->token ? f->token : "****");
	ep_http_req_form(r, "wsfunction", function);
	ep_http_req_form(r, "moodlewsrestformat", "json");
	return r;
}

/*
 * The reply of a call as JSON, or NULL with err: transport and HTTP
 * failures, a body that is not JSON, and Moodle's error object.
 */
static json_t *
ws_reply(const struct ep_http_req *r, const char *what, struct ep_error *err)
{
	return ep_moodle_reply(r, what, EP_EXIT_UNAVAILABLE, err);
}

static void
call_free(struct call *c)
{
	if (c != NULL) {
		free(c->shortname);
		free(c);
	}
}

static void
call_free_v(void *c)
{
	call_free(c);
}

static const char *
str_or_empty(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

static void
user_records(struct call *c, json_t *user)
{
	json_t *roles = json_object_get(user, "roles");
	size_t nroles = json_is_array(roles) ? json_array_size(roles) : 0;

	for (size_t i = 0; i < (nroles ? nroles : 1); i++) {
		struct ep_rec *rec = ep_rec_new();
		char id[32];
		json_t *role = nroles ? json_array_get(roles, i) : NULL;

		ep_rec_set_str(rec, "course", c->shortname);
		snprintf(id, sizeof(id), "%lld", c->course_id);
		ep_rec_set(rec, "course_id", EP_T_NUM, id, strlen(id));
		rec_set_json(rec, "user", json_object_get(user, "username"));
		rec_set_json(rec, "user_id", json_object_get(user, "id"));
		ep_rec_set_str(rec, "idnumber",
		    str_or_empty(json_object_get(user, "idnumber")));
		rec_set_json(rec, "email", json_object_get(user, "email"));
		rec_set_json(rec, "name", json_object_get(user, "fullname"));
		rec_set_json(rec, "role", role ? json_object_get(role,
		    "shortname") : NULL);
		unit_push(c->f, c->u, rec);
	}
}

static int
enrolled_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct call *c = arg;
	struct fetch *f = c->f;
	struct ep_error err;
	char what[128];
	json_t *j;
	int rc;

	(void)h;
	snprintf(what, sizeof(what), "core_enrol_get_enrolled_users for "
	    "course %lld", c->course_id);
	j = ws_reply(r, what, &err);
	if (j != NULL && !json_is_array(j)) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the reply is "
		    "not a list of users", what);
		json_decref(j);
		j = NULL;
	}
	if (j == NULL) {
		rc = unit_fail(f, c->u, &err);
		call_free(c);
		return rc;
	}
	fetch_page(f);
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *user = json_array_get(j, i);

		if (json_is_object(user))
			user_records(c, user);
	}
	json_decref(j);
	rc = unit_done(f, c->u);
	call_free(c);
	return rc;
}

static void
submit_course(struct fetch *f, long long id, const char *shortname)
{
	struct ep_http_req *r = ws_request(f, "core_enrol_get_enrolled_users");
	char v[32];

	snprintf(v, sizeof(v), "%lld", id);
	ep_http_req_form(r, "courseid", v);
	if (f->o->dry_run) {
		ep_http_describe(stdout, r);
		ep_http_req_free(r);
		return;
	}
	{
		struct call *c = ep_xcalloc(1, sizeof(*c));

		c->f = f;
		c->course_id = id;
		c->shortname = ep_xstrdup(shortname);
		c->u = unit_add(f, "course %lld", id);
		r->prio = (long)c->u->index;
		r->arg_free = call_free_v;
		ep_http_submit(f->http, r, enrolled_done, c);
	}
}

/* The course lookup for --course-id: shortnames, in argument order. */
static int
lookup_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct call *c = arg;
	struct fetch *f = c->f;
	const struct opts *o = f->o;
	struct ep_error err;
	json_t *j, *courses;

	(void)h;
	call_free(c);
	j = ws_reply(r, "core_course_get_courses_by_field", &err);
	if (j == NULL)
		return unit_fail(f, NULL, &err);
	courses = json_object_get(j, "courses");
	for (size_t i = 0; i < o->course_ids.n; i++) {
		long long want = strtoll(o->course_ids.v[i], NULL, 10);
		const char *sn = NULL;

		for (size_t k = 0; k < json_array_size(courses); k++) {
			json_t *cj = json_array_get(courses, k);

			if (json_integer_value(json_object_get(cj, "id")) ==
			    want)
				sn = json_string_value(json_object_get(cj,
				    "shortname"));
		}
		if (sn == NULL) {
			ep_error_set(&err, EP_EXIT_UNAVAILABLE, "Moodle has "
			    "no course with id %lld (or the token may not "
			    "see it)", want);
			if (unit_fail(f, NULL, &err) < 0) {
				json_decref(j);
				return -1;
			}
			continue;
		}
		submit_course(f, want, sn);
	}
	json_decref(j);
	return 0;
}

static void
course_record(struct fetch *f, struct unit *u, json_t *cj)
{
	static const char *const fields[] = { "id", "shortname", "fullname",
	    "displayname", "idnumber", "categoryid", "categoryname",
	    "visible", "format", "startdate", "enddate", NULL };
	struct ep_rec *rec = ep_rec_new();

	for (int i = 0; fields[i]; i++)
		rec_set_json(rec, fields[i], json_object_get(cj, fields[i]));
	unit_push(f, u, rec);
}

static int
courses_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct call *c = arg;
	struct fetch *f = c->f;
	struct unit *u = c->u;
	struct ep_error err;
	json_t *j, *courses, *warnings;

	(void)h;
	call_free(c);
	j = ws_reply(r, "core_course_get_courses_by_field", &err);
	if (j == NULL)
		return unit_fail(f, u, &err);
	courses = json_object_get(j, "courses");
	if (!json_is_array(courses)) {
		json_decref(j);
		ep_error_set(&err, EP_EXIT_UNAVAILABLE,
		    "core_course_get_courses_by_field: the reply has no "
		    "course list");
		return unit_fail(f, u, &err);
	}
	fetch_page(f);
	for (size_t i = 0; i < json_array_size(courses); i++)
		course_record(f, u, json_array_get(courses, i));
	warnings = json_object_get(j, "warnings");
	for (size_t i = 0; i < json_array_size(warnings); i++) {
		const char *m = json_string_value(json_object_get(
		    json_array_get(warnings, i), "message"));

		ep_warn("Moodle: %s", m ? m : "(warning without message)");
	}
	json_decref(j);
	return unit_done(f, u);
}

int
moodle_run(struct fetch *f)
{
	const struct opts *o = f->o;
	struct ep_error err;

	if (strcmp(o->what, "courses") == 0) {
		struct ep_http_req *r = ws_request(f,
		    "core_course_get_courses_by_field");
		struct call *c;

		ep_http_req_form(r, "field", o->field ? o->field : "");
		ep_http_req_form(r, "value", o->value ? o->value : "");
		if (o->dry_run) {
			ep_http_describe(stdout, r);
			ep_http_req_free(r);
			return 0;
		}
		c = ep_xcalloc(1, sizeof(*c));
		c->f = f;
		c->u = unit_add(f, "courses");
		r->arg_free = call_free_v;
		ep_http_submit(f->http, r, courses_done, c);
		return 0;
	}
	if (o->mapping != NULL) {
		struct ep_mapping *m = ep_mapping_load(o->mapping, &err);

		if (m == NULL)
			return ep_report(&err);
		for (size_t i = 0; i < m->n; i++)
			submit_course(f, m->e[i].id, m->e[i].shortname);
		ep_mapping_free(m);
		return 0;
	}
	{
		struct ep_http_req *r = ws_request(f,
		    "core_course_get_courses_by_field");
		size_t len = 0;
		char *ids = NULL;
		struct call *c;

		for (size_t i = 0; i < o->course_ids.n; i++) {
			size_t n = strlen(o->course_ids.v[i]);

			ids = ep_xrealloc(ids, len + n + 2);
			if (i)
				ids[len++] = ',';
			memcpy(ids + len, o->course_ids.v[i], n + 1);
			len += n;
		}
		ep_http_req_form(r, "field", "ids");
		ep_http_req_form(r, "value", ids);
		free(ids);
		if (o->dry_run) {
			ep_http_describe(stdout, r);
			ep_http_req_free(r);
			for (size_t i = 0; i < o->course_ids.n; i++)
				submit_course(f, strtoll(o->course_ids.v[i],
				    NULL, 10), "");
			return 0;
		}
		c = ep_xcalloc(1, sizeof(*c));
		c->f = f;
		r->arg_free = call_free_v;
		ep_http_submit(f->http, r, lookup_done, c);
	}
	return 0;
}
