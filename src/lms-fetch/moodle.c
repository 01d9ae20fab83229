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
 * with no role in the course is written once with role null.  Only active
 * enrolments are asked for (onlyactive=1) unless --all-enrollments: a
 * suspended one is not a member to keep, nor one to suspend again.
 *
 * --course-idnumber and --course-shortname look each value up with
 * core_course_get_courses_by_field and read the one course found.  No
 * course, two courses, or a reply naming a course whose field is not the
 * value asked for make that course fail (named in --skipped when given),
 * never an empty roster.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "mapping.h"

struct call {
	struct fetch *f;
	struct unit *u;		/* NULL for the course lookup */
	long long course_id;
	char *shortname;
	char *value;		/* --course-idnumber/shortname lookups */
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

static void
call_free(struct call *c)
{
	if (c != NULL) {
		free(c->shortname);
		free(c->value);
		free(c);
	}
}

static void
call_free_v(void *c)
{
	call_free(c);
}

/* Hand the records of a parse to unit u (which takes them). */
static void
push_all(struct fetch *f, struct unit *u, struct ep_lms_out *out)
{
	for (size_t i = 0; i < out->nrecs; i++)
		unit_push(f, u, out->recs[i]);
	out->nrecs = 0;
	ep_lms_out_free(out);
}

static int
enrolled_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct call *c = arg;
	struct fetch *f = c->f;
	struct ep_lms_out out = { 0 };
	struct ep_error err;
	char what[128];
	int rc;

	(void)h;
	snprintf(what, sizeof(what), "core_enrol_get_enrolled_users for "
	    "course %lld", c->course_id);
	if (ep_http_check(r, &err) < 0 ||
	    ep_moodle_parse_enrolled(r->resp, r->resp_len, what,
	    c->shortname, c->course_id, &out, &err) < 0) {
		rc = unit_fail(f, c->u, &err);
		call_free(c);
		return rc;
	}
	fetch_page(f);
	push_all(f, c->u, &out);
	rc = unit_done(f, c->u);
	call_free(c);
	return rc;
}

/* Read course id's roster into u (a new unit when u is NULL). */
static void
submit_enrolled(struct fetch *f, struct unit *u, long long id,
    const char *shortname)
{
	struct ep_http_req *r = ws_request(f, "core_enrol_get_enrolled_users");
	char v[32];

	snprintf(v, sizeof(v), "%lld", id);
	ep_http_req_form(r, "courseid", v);
	if (!f->o->all_enrollments) {
		ep_http_req_form(r, "options[0][name]", "onlyactive");
		ep_http_req_form(r, "options[0][value]", "1");
	}
	if (f->o->dry_run) {
		ep_http_describe(stderr, r);
		ep_http_req_free(r);
		return;
	}
	{
		struct call *c = ep_xcalloc(1, sizeof(*c));

		c->f = f;
		c->course_id = id;
		c->shortname = ep_xstrdup(shortname);
		c->u = u != NULL ? u : unit_add(f, "course %lld", id);
		free(c->u->course);
		c->u->course = *shortname ? ep_xstrdup(shortname) : NULL;
		free(c->u->course_id);
		c->u->course_id = ep_xstrdup(v);
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
	struct ep_lms_out out = { 0 };
	struct ep_error err;
	long long *ids;

	(void)h;
	call_free(c);
	if (ep_http_check(r, &err) < 0)
		return unit_fail(f, NULL, &err);
	ids = ep_xcalloc(o->course_ids.n + 1, sizeof(*ids));
	for (size_t i = 0; i < o->course_ids.n; i++)
		ids[i] = strtoll(o->course_ids.v[i], NULL, 10);
	if (ep_moodle_parse_lookup(r->resp, r->resp_len, ids,
	    o->course_ids.n, &out, &err) < 0) {
		free(ids);
		return unit_fail(f, NULL, &err);
	}
	for (size_t i = 0; i < o->course_ids.n; i++) {
		if (out.texts[i] == NULL) {
			ep_error_set(&err, EP_EXIT_UNAVAILABLE, "Moodle has "
			    "no course with id %lld (or the token may not "
			    "see it)", ids[i]);
			if (course_fail(f, NULL, NULL, o->course_ids.v[i],
			    &err) < 0) {
				free(ids);
				ep_lms_out_free(&out);
				return -1;
			}
			continue;
		}
		submit_enrolled(f, NULL, ids[i], out.texts[i]);
	}
	free(ids);
	ep_lms_out_free(&out);
	return 0;
}

/*
 * The one course of a --course-idnumber/--course-shortname reply j whose
 * field is value: its id in *id and shortname in *sn (both of j), or -1
 * with err set when there is none, more than one, or a course the reply
 * names does not have that value.
 */
static int
match_course(json_t *j, const char *by, const char *value, long long *id,
    const char **sn, struct ep_error *err)
{
	json_t *courses = json_object_get(j, "courses");
	size_t n = 0;
	long long first = 0;

	if (!json_is_array(courses)) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "course %s %s: the "
		    "core_course_get_courses_by_field reply has no course "
		    "list", by, value);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(courses); i++) {
		json_t *cj = json_array_get(courses, i);
		json_t *cid = json_object_get(cj, "id");
		const char *got = json_string_value(json_object_get(cj, by));
		const char *s = json_string_value(json_object_get(cj,
		    "shortname"));

		if (!json_is_integer(cid) || json_integer_value(cid) <= 0 ||
		    s == NULL) {
			ep_error_set(err, EP_EXIT_UNAVAILABLE, "course %s "
			    "%s: the reply names a course without a "
			    "numeric id and a shortname: refused", by, value);
			return -1;
		}
		if (got == NULL || strcmp(got, value) != 0) {
			ep_error_set(err, EP_EXIT_UNAVAILABLE, "course %s "
			    "%s: the reply names course %" JSON_INTEGER_FORMAT
			    " whose %s is '%s', not the one asked for: "
			    "refused", by, value, json_integer_value(cid), by,
			    got ? got : "");
			return -1;
		}
		if (n++ == 0) {
			first = json_integer_value(cid);
			*id = first;
			*sn = s;
		} else {
			ep_error_set(err, EP_EXIT_UNAVAILABLE, "course %s "
			    "%s: Moodle has more than one course with it "
			    "(ids %lld and %" JSON_INTEGER_FORMAT "): "
			    "ambiguous, not read", by, value, first,
			    json_integer_value(cid));
			return -1;
		}
	}
	if (n == 0) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "course %s %s: Moodle "
		    "has no course with it (or the token may not see it)",
		    by, value);
		return -1;
	}
	return 0;
}

/* A --course-idnumber/--course-shortname lookup: read the course found. */
static int
field_lookup_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct call *c = arg;
	struct fetch *f = c->f;
	const char *by = f->o->course_by;
	struct ep_error err;
	json_t *j;
	long long id = 0;
	const char *sn = NULL;
	int rc = 0;

	(void)h;
	if (ep_http_check(r, &err) < 0 ||
	    (j = ep_moodle_json(r->resp, r->resp_len,
	    "core_course_get_courses_by_field", EP_EXIT_UNAVAILABLE,
	    &err)) == NULL) {
		rc = course_fail(f, c->u, c->value, NULL, &err);
		call_free(c);
		return rc;
	}
	if (match_course(j, by, c->value, &id, &sn, &err) < 0)
		rc = course_fail(f, c->u, c->value, NULL, &err);
	else
		submit_enrolled(f, c->u, id, sn);
	json_decref(j);
	call_free(c);
	return rc;
}

static void
submit_field_lookups(struct fetch *f)
{
	const struct opts *o = f->o;

	for (size_t i = 0; i < o->course_values.n; i++) {
		struct ep_http_req *r = ws_request(f,
		    "core_course_get_courses_by_field");
		struct call *c;

		ep_http_req_form(r, "field", o->course_by);
		ep_http_req_form(r, "value", o->course_values.v[i]);
		if (o->dry_run) {
			ep_http_describe(stderr, r);
			ep_http_req_free(r);
			continue;
		}
		c = ep_xcalloc(1, sizeof(*c));
		c->f = f;
		c->value = ep_xstrdup(o->course_values.v[i]);
		/* The unit now, so that argument order is output order. */
		c->u = unit_add(f, "course %s %s", o->course_by,
		    o->course_values.v[i]);
		r->prio = (long)c->u->index;
		r->arg_free = call_free_v;
		ep_http_submit(f->http, r, field_lookup_done, c);
	}
}

static int
courses_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct call *c = arg;
	struct fetch *f = c->f;
	struct unit *u = c->u;
	struct ep_lms_out out = { 0 };
	struct ep_error err;

	(void)h;
	call_free(c);
	if (ep_http_check(r, &err) < 0 ||
	    ep_moodle_parse_courses(r->resp, r->resp_len, &out, &err) < 0)
		return unit_fail(f, u, &err);
	fetch_page(f);
	for (size_t i = 0; i < out.ntexts; i++)
		ep_warn("Moodle: %s", out.texts[i]);
	push_all(f, u, &out);
	return unit_done(f, u);
}

/* --- users ----------------------------------------------------------- */

#define USERS_PER_CALL 50	/* values[] of one lookup */

static const char *const user_fields[] = {
	"username", "firstname", "lastname", "email", NULL
};

/*
 * core_user_get_users_by_field: a record per user found, with user (the
 * --user-key field, idnumber by default), user_id, idnumber and the
 * fields a user file names.  A user not found is simply not there: the
 * diff then creates it.
 */
static int
users_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct call *c = arg;
	struct fetch *f = c->f;
	struct unit *u = c->u;
	const char *key = f->o->user_key ? f->o->user_key : "idnumber";
	struct ep_error err;
	json_t *j;

	(void)h;
	call_free(c);
	if (ep_http_check(r, &err) < 0 ||
	    (j = ep_moodle_json(r->resp, r->resp_len,
	    "core_user_get_users_by_field", EP_EXIT_UNAVAILABLE, &err)) == NULL)
		return unit_fail(f, u, &err);
	if (!json_is_array(j)) {
		json_decref(j);
		ep_error_set(&err, EP_EXIT_UNAVAILABLE,
		    "core_user_get_users_by_field: the reply is not a list");
		return unit_fail(f, u, &err);
	}
	fetch_page(f);
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *uj = json_array_get(j, i);
		struct ep_rec *rec;

		if (!json_is_object(uj))
			continue;
		rec = ep_rec_new();
		ep_lms_rec_json(rec, "user", json_object_get(uj,
		    strcmp(key, "id") == 0 ? "id" : key));
		ep_lms_rec_json(rec, "user_id", json_object_get(uj, "id"));
		ep_lms_rec_json(rec, "idnumber", json_object_get(uj,
		    "idnumber"));
		for (int k = 0; user_fields[k]; k++)
			ep_lms_rec_json(rec, user_fields[k],
			    json_object_get(uj, user_fields[k]));
		unit_push(f, u, rec);
	}
	json_decref(j);
	return unit_done(f, u);
}

/* The values of --value-file (one a line, blank lines skipped). */
static int
read_values(const char *path, struct strv *sv, struct ep_error *err)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_IOERR, "--value-file: cannot open '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		sv->v = ep_xrealloc(sv->v, (sv->n + 1) * sizeof(*sv->v));
		sv->v[sv->n++] = ep_xstrdup(line);
	}
	free(line);
	if (ferror(fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "--value-file: cannot read "
		    "'%s'", path);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

static int
users_run(struct fetch *f)
{
	const struct opts *o = f->o;
	struct strv sv = { NULL, 0 };
	struct ep_error err;

	if (o->value != NULL) {
		sv.v = ep_xcalloc(1, sizeof(*sv.v));
		sv.v[sv.n++] = ep_xstrdup(o->value);
	}
	if (o->value_file != NULL && read_values(o->value_file, &sv,
	    &err) < 0)
		return ep_report(&err);
	for (size_t i = 0; i < sv.n; i += USERS_PER_CALL) {
		struct ep_http_req *r = ws_request(f,
		    "core_user_get_users_by_field");
		struct call *c;

		ep_http_req_form(r, "field", o->field);
		for (size_t k = i; k < sv.n && k < i + USERS_PER_CALL; k++) {
			char name[32];

			snprintf(name, sizeof(name), "values[%zu]", k - i);
			ep_http_req_form(r, name, sv.v[k]);
		}
		if (o->dry_run) {
			ep_http_describe(stderr, r);
			ep_http_req_free(r);
			continue;
		}
		c = ep_xcalloc(1, sizeof(*c));
		c->f = f;
		c->u = unit_add(f, "users %zu-%zu", i + 1, i +
		    USERS_PER_CALL < sv.n ? i + USERS_PER_CALL : sv.n);
		r->arg_free = call_free_v;
		ep_http_submit(f->http, r, users_done, c);
	}
	for (size_t i = 0; i < sv.n; i++)
		free(sv.v[i]);
	free(sv.v);
	return 0;
}

int
moodle_run(struct fetch *f)
{
	const struct opts *o = f->o;
	struct ep_error err;

	if (strcmp(o->what, "users") == 0)
		return users_run(f);
	if (strcmp(o->what, "courses") == 0) {
		struct ep_http_req *r = ws_request(f,
		    "core_course_get_courses_by_field");
		struct call *c;

		ep_http_req_form(r, "field", o->field ? o->field : "");
		ep_http_req_form(r, "value", o->value ? o->value : "");
		if (o->dry_run) {
			ep_http_describe(stderr, r);
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
	if (o->course_by != NULL) {
		submit_field_lookups(f);
		return 0;
	}
	if (o->mapping != NULL) {
		struct ep_mapping *m = ep_mapping_load(o->mapping, &err);

		if (m == NULL)
			return ep_report(&err);
		for (size_t i = 0; i < m->n; i++)
			submit_enrolled(f, NULL, m->e[i].id,
			    m->e[i].shortname);
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
			ep_http_describe(stderr, r);
			ep_http_req_free(r);
			for (size_t i = 0; i < o->course_ids.n; i++)
				submit_enrolled(f, NULL,
				    strtoll(o->course_ids.v[i], NULL, 10), "");
			return 0;
		}
		c = ep_xcalloc(1, sizeof(*c));
		c->f = f;
		r->arg_free = call_free_v;
		ep_http_submit(f->http, r, lookup_done, c);
	}
	return 0;
}
