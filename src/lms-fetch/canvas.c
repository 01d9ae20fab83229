/*
 * canvas.c - lms-fetch against the Canvas REST API.
 *
 * The token goes in an "Authorization: Bearer" header, never in a URL.
 * Lists are asked for with per_page=100 and followed through the Link
 * header's rel="next" URL, used as given (Canvas page URLs are opaque);
 * the token is only sent on when that URL is on the same site.  Pages of
 * one list are fetched one after the other, different lists concurrently.
 *
 * Provisioning reports: one provisioning_csv report per --what item, all
 * started at once, so that each attachment is a single CSV (Canvas zips
 * the attachment when a report holds several).  Each is polled with a
 * growing interval until complete, error or aborted; the attachment URL is
 * downloaded following redirects, and when it has expired (401, 403, 404,
 * 410) the report is polled again for a fresh one, twice at most.
 */
#include <stdlib.h>
#include <string.h>

#include "fetch.h"

enum kind { K_COURSES, K_ENROLLMENTS, K_USERS, K_LISTING };

struct pager {
	struct fetch *f;
	struct unit *u;		/* NULL for a course listing (K_LISTING) */
	enum kind kind;
	size_t term;		/* K_LISTING: index into --term */
	char *what;		/* for messages */
};

struct report {
	struct fetch *f;
	struct unit *u;
	const char *part;	/* users, courses, ... */
	char *status_url;
	long long started;
	long poll_ms;
	int refreshes;
};

static int paged_done(struct ep_http *h, struct ep_http_req *r, void *arg);
static void submit_enrollments(struct fetch *f, const char *course);
static void submit_listing(struct fetch *f, size_t term);

/*
 * Like ep_http_check, with Canvas's own error text ({"errors":
 * [{"message": ...}]} or {"message": ...}) in place of the raw body.
 */
static int
canvas_check(const struct ep_http_req *r, const char *what,
    struct ep_error *err)
{
	json_t *j, *e;
	const char *m = NULL;

	if (ep_http_check(r, err) == 0)
		return 0;
	if (r->err.code != 0)
		return -1;
	j = r->resp ? json_loadb(r->resp, r->resp_len, 0, NULL) : NULL;
	e = json_object_get(j, "errors");
	if (json_is_array(e))
		m = json_string_value(json_object_get(json_array_get(e, 0),
		    "message"));
	else if (json_is_string(e))
		m = json_string_value(e);
	if (m == NULL)
		m = json_string_value(json_object_get(j, "message"));
	if (m != NULL)
		ep_error_set(err, err->code, "%s: HTTP %ld: %s", what,
		    r->status, m);
	json_decref(j);
	return -1;
}

static void
pager_free(struct pager *p)
{
	if (p != NULL) {
		free(p->what);
		free(p);
	}
}

static void
pager_free_v(void *p)
{
	pager_free(p);
}

static struct pager *
pager_new(struct fetch *f, struct unit *u, enum kind kind, const char *what)
{
	struct pager *p = ep_xcalloc(1, sizeof(*p));

	p->f = f;
	p->u = u;
	p->kind = kind;
	p->what = ep_xstrdup(what);
	return p;
}

static void
get(struct fetch *f, char *url, long prio, struct pager *p)
{
	struct ep_http_req *r = ep_http_req_new("GET", url);

	free(url);
	ep_http_req_header(r, "Accept: application/json");
	r->prio = prio;
	if (f->o->dry_run) {
		ep_http_describe(stdout, r);
		ep_http_req_free(r);
		pager_free(p);
		return;
	}
	r->arg_free = pager_free_v;
	ep_http_submit(f->http, r, paged_done, p);
}

/* Set name from obj[key]. */
static void
put(struct ep_rec *rec, const char *name, json_t *obj, const char *key)
{
	rec_set_json(rec, name, json_object_get(obj, key));
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

/* The SIS import role name of an enrollment: its base role, or the
 * custom role's name. */
static const char *
role_name(json_t *e)
{
	static const char *const base[][2] = {
		{ "StudentEnrollment", "student" },
		{ "TeacherEnrollment", "teacher" },
		{ "TaEnrollment", "ta" },
		{ "ObserverEnrollment", "observer" },
		{ "DesignerEnrollment", "designer" },
	};
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *role = json_string_value(json_object_get(e, "role"));

	if (role != NULL && (type == NULL || strcmp(role, type) != 0))
		return role;
	for (size_t i = 0; type && i < sizeof(base) / sizeof(base[0]); i++)
		if (strcmp(type, base[i][0]) == 0)
			return base[i][1];
	return role ? role : type;
}

static struct ep_rec *
enrollment_record(json_t *e)
{
	struct ep_rec *rec = ep_rec_new();
	json_t *user = json_object_get(e, "user");
	const char *role = role_name(e);

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
	put(rec, "section", e, "sis_section_id");
	put(rec, "section_id", e, "course_section_id");
	put(rec, "enrollment_id", e, "id");
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

static int
paged_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct pager *p = arg;
	struct fetch *f = p->f;
	struct ep_error err;
	json_t *j;
	int rc = 0;

	(void)h;
	j = canvas_check(r, p->what, &err) < 0 ? NULL :
	    ep_lms_reply_json(r, p->what, &err);
	if (j != NULL && !json_is_array(j)) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the reply is "
		    "not a list", p->what);
		json_decref(j);
		j = NULL;
	}
	if (j == NULL) {
		rc = unit_fail(f, p->u, &err);
		pager_free(p);
		return rc;
	}
	fetch_page(f);
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *o = json_array_get(j, i);

		if (!json_is_object(o))
			continue;
		switch (p->kind) {
		case K_COURSES:
			unit_push(f, p->u, course_record(o));
			break;
		case K_ENROLLMENTS:
			unit_push(f, p->u, enrollment_record(o));
			break;
		case K_USERS:
			unit_push(f, p->u, user_record(o));
			break;
		case K_LISTING: {
			json_t *id = json_object_get(o, "id");
			char buf[32];

			if (json_is_integer(id)) {
				snprintf(buf, sizeof(buf), "%"
				    JSON_INTEGER_FORMAT, json_integer_value(id));
				submit_enrollments(f, buf);
			}
			break;
		}
		}
	}
	json_decref(j);
	if (r->next_url != NULL) {
		struct ep_http_req *n = ep_http_req_new("GET", r->next_url);

		ep_http_req_header(n, "Accept: application/json");
		n->auth = ep_http_same_origin(r->next_url, f->base);
		n->prio = r->prio;
		n->arg_free = pager_free_v;
		ep_http_submit(f->http, n, paged_done, p);
		return 0;
	}
	if (p->kind == K_LISTING) {
		/* Terms one after another, so courses keep term order. */
		if (p->term + 1 < f->o->terms.n)
			submit_listing(f, p->term + 1);
	} else {
		rc = unit_done(f, p->u);
	}
	pager_free(p);
	return rc;
}

static char *
types_query(const struct opts *o)
{
	char *q = ep_xstrdup("");

	for (size_t i = 0; i < o->types.n; i++) {
		char *t = url_escape(o->types.v[i]);
		char *n = ep_xasprintf("%s&type%%5B%%5D=%s", q, t);

		free(t);
		free(q);
		q = n;
	}
	return q;
}

static void
submit_enrollments(struct fetch *f, const char *course)
{
	char *c = url_escape(course), *tq = types_query(f->o);
	char *url = url_join(f, "/api/v1/courses/%s/enrollments?per_page=100%s",
	    c, tq);
	struct pager *p = NULL;
	long prio = 0;

	if (!f->o->dry_run) {
		struct unit *u = unit_add(f, "course %s", course);
		char *what = ep_xasprintf("enrollments of course %s", course);

		p = pager_new(f, u, K_ENROLLMENTS, what);
		free(what);
		prio = (long)u->index + 1;
	}
	free(c);
	free(tq);
	get(f, url, prio, p);
}

static void
submit_listing(struct fetch *f, size_t term)
{
	char *a = url_escape(f->o->account);
	char *t = url_escape(f->o->terms.v[term]);
	char *url = url_join(f, "/api/v1/accounts/%s/courses?per_page=100"
	    "&enrollment_term_id=%s", a, t);
	struct pager *p = NULL;

	if (f->o->dry_run) {
		get(f, url, 0, NULL);
		printf("GET %s/api/v1/courses/:id/enrollments?per_page=100 "
		    "(for each course listed)\n", f->base);
	} else {
		char *what = ep_xasprintf("courses of account %s in term %s",
		    f->o->account, f->o->terms.v[term]);

		p = pager_new(f, NULL, K_LISTING, what);
		p->term = term;
		free(what);
		get(f, url, 0, p);
	}
	free(a);
	free(t);
}

static void
submit_list(struct fetch *f, enum kind kind, char *url, const char *what)
{
	struct pager *p = NULL;
	long prio = 0;

	if (!f->o->dry_run) {
		struct unit *u = unit_add(f, "%s", what);

		p = pager_new(f, u, kind, what);
		prio = (long)u->index + 1;
	}
	get(f, url, prio, p);
}

/* --- provisioning reports --- */

static void report_poll(struct report *rp, long delay_ms);

static void
report_free(struct report *rp)
{
	if (rp != NULL) {
		free(rp->status_url);
		free(rp);
	}
}

static void
report_free_v(void *rp)
{
	report_free(rp);
}

static int
report_fail(struct report *rp, const struct ep_error *e)
{
	int rc = unit_fail(rp->f, rp->u, e);

	report_free(rp);
	return rc;
}

static int
report_rows(struct report *rp, const struct ep_http_req *r)
{
	struct ep_error err;
	struct ep_reader *rd;
	struct ep_rec *row = ep_rec_new();
	char *name = ep_xasprintf("report %s.csv", rp->part);
	FILE *fp;
	int n;

	if (r->resp_len == 0) {
		ep_rec_free(row);
		free(name);
		return unit_done(rp->f, rp->u);
	}
	fp = fmemopen(r->resp, r->resp_len, "r");
	if (fp == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	rd = ep_reader_new(fp, name, EP_FMT_CSV);
	while ((n = ep_reader_next(rd, row, &err)) > 0) {
		struct ep_rec *rec = ep_rec_new();

		ep_rec_set_str(rec, "report", rp->part);
		for (size_t i = 0; i < row->n; i++)
			ep_rec_set(rec, row->f[i].name, row->f[i].type,
			    row->f[i].val, row->f[i].vlen);
		unit_push(rp->f, rp->u, rec);
	}
	ep_reader_free(rd);
	fclose(fp);
	ep_rec_free(row);
	free(name);
	if (n < 0) {
		err.code = EP_EXIT_UNAVAILABLE;
		return unit_fail(rp->f, rp->u, &err);
	}
	return unit_done(rp->f, rp->u);
}

static int
download_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct report *rp = arg;
	struct ep_error err;
	char what[128];
	int rc;

	(void)h;
	snprintf(what, sizeof(what), "download of the %s report", rp->part);
	if (r->err.code == 0 && rp->refreshes < 2 && (r->status == 401 ||
	    r->status == 403 || r->status == 404 || r->status == 410)) {
		/* The signed URL expired: ask the report for a new one. */
		rp->refreshes++;
		ep_info(1, "%s: HTTP %ld, asking for a fresh URL", what,
		    r->status);
		report_poll(rp, 0);
		return 0;
	}
	if (canvas_check(r, what, &err) < 0)
		return report_fail(rp, &err);
	if (r->resp_len >= 4 && memcmp(r->resp, "PK\003\004", 4) == 0) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the attachment "
		    "is a zip archive, not one CSV", what);
		return report_fail(rp, &err);
	}
	fetch_page(rp->f);
	rc = report_rows(rp, r);
	report_free(rp);
	return rc;
}

static int
status_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct report *rp = arg;
	struct fetch *f = rp->f;
	struct ep_error err;
	char what[128];
	const char *status, *url;
	json_t *j;

	snprintf(what, sizeof(what), "provisioning report (%s)", rp->part);
	if (canvas_check(r, what, &err) < 0)
		return report_fail(rp, &err);
	j = ep_lms_reply_json(r, what, &err);
	if (j == NULL)
		return report_fail(rp, &err);
	if (rp->status_url == NULL) {
		/* The reply to the POST that started it. */
		json_t *id = json_object_get(j, "id");
		char *a = url_escape(f->o->account);

		if (!json_is_integer(id)) {
			json_decref(j);
			free(a);
			ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the reply "
			    "has no report id", what);
			return report_fail(rp, &err);
		}
		rp->status_url = url_join(f, "/api/v1/accounts/%s/reports/"
		    "provisioning_csv/%" JSON_INTEGER_FORMAT, a,
		    json_integer_value(id));
		free(a);
	}
	status = json_string_value(json_object_get(j, "status"));
	if (status == NULL)
		status = "";
	if (strcmp(status, "complete") == 0) {
		json_t *att = json_object_get(j, "attachment");
		struct ep_http_req *d;

		url = json_string_value(json_object_get(att, "url"));
		if (url == NULL)
			url = json_string_value(json_object_get(j, "file_url"));
		if (url == NULL) {
			json_decref(j);
			ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: complete "
			    "but without an attachment", what);
			return report_fail(rp, &err);
		}
		d = ep_http_req_new("GET", url);
		d->follow = true;
		d->auth = ep_http_same_origin(url, f->base);
		d->prio = r->prio;
		json_decref(j);
		d->arg_free = report_free_v;
		ep_http_submit(h, d, download_done, rp);
		return 0;
	}
	if (strcmp(status, "error") == 0 || strcmp(status, "aborted") == 0 ||
	    strcmp(status, "deleted") == 0) {
		const char *extra = json_string_value(json_object_get(
		    json_object_get(j, "parameters"), "extra_text"));

		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the report "
		    "ended with status '%s'%s%s", what, status,
		    extra ? ": " : "", extra ? extra : "");
		json_decref(j);
		return report_fail(rp, &err);
	}
	if (ep_http_now_ms() - rp->started > f->o->report_timeout_s * 1000) {
		ep_error_set(&err, EP_EXIT_TEMPFAIL, "%s: still '%s' after "
		    "%ld s (--report-timeout)", what, status,
		    f->o->report_timeout_s);
		json_decref(j);
		return report_fail(rp, &err);
	}
	json_decref(j);
	report_poll(rp, rp->poll_ms);
	if (rp->poll_ms < 30 * f->o->retry_base_ms && rp->poll_ms < 30000)
		rp->poll_ms *= 2;
	return 0;
}

static void
report_poll(struct report *rp, long delay_ms)
{
	struct ep_http_req *r = ep_http_req_new("GET", rp->status_url);

	ep_http_req_header(r, "Accept: application/json");
	r->prio = (long)rp->u->index + 1;
	r->arg_free = report_free_v;
	ep_http_submit_after(rp->f->http, r, delay_ms, status_done, rp);
}

static void
submit_report(struct fetch *f, const char *part)
{
	char *a = url_escape(f->o->account);
	char *url = url_join(f, "/api/v1/accounts/%s/reports/provisioning_csv",
	    a);
	struct ep_http_req *r = ep_http_req_new("POST", url);
	char *pname = ep_xasprintf("parameters[%s]", part);
	struct report *rp;

	free(a);
	free(url);
	ep_http_req_header(r, "Accept: application/json");
	ep_http_req_form(r, pname, "true");
	ep_http_req_form(r, "parameters[enrollment_term_id]",
	    f->o->terms.v[0]);
	ep_http_req_form(r, "parameters[skip_message]", "true");
	free(pname);
	if (f->o->dry_run) {
		ep_http_describe(stdout, r);
		printf("GET %s/api/v1/accounts/%s/reports/provisioning_csv/:id "
		    "(until complete), then GET its attachment.url\n", f->base,
		    f->o->account);
		ep_http_req_free(r);
		return;
	}
	rp = ep_xcalloc(1, sizeof(*rp));
	rp->f = f;
	rp->part = part;
	rp->u = unit_add(f, "%s report", part);
	rp->started = ep_http_now_ms();
	rp->poll_ms = f->o->retry_base_ms > 0 ? f->o->retry_base_ms : 1;
	r->prio = (long)rp->u->index + 1;
	r->arg_free = report_free_v;
	ep_http_submit(f->http, r, status_done, rp);
}

int
canvas_run(struct fetch *f)
{
	const struct opts *o = f->o;
	char *a = o->account ? url_escape(o->account) : NULL;

	if (strcmp(o->what, "courses") == 0) {
		for (size_t i = 0; i < (o->terms.n ? o->terms.n : 1); i++) {
			char *t = o->terms.n ? url_escape(o->terms.v[i]) : NULL;
			char *what = t ? ep_xasprintf("courses of account %s "
			    "in term %s", o->account, o->terms.v[i]) :
			    ep_xasprintf("courses of account %s", o->account);

			submit_list(f, K_COURSES, url_join(f, "/api/v1/"
			    "accounts/%s/courses?per_page=100%s%s", a,
			    t ? "&enrollment_term_id=" : "", t ? t : ""),
			    what);
			free(what);
			free(t);
		}
	} else if (strcmp(o->what, "users") == 0) {
		char *what = ep_xasprintf("users of account %s", o->account);

		submit_list(f, K_USERS, url_join(f, "/api/v1/accounts/%s/"
		    "users?per_page=100", a), what);
		free(what);
	} else if (strcmp(o->what, "enrollments") == 0) {
		if (o->courses.n > 0)
			for (size_t i = 0; i < o->courses.n; i++)
				submit_enrollments(f, o->courses.v[i]);
		else
			submit_listing(f, 0);
	} else {
		for (size_t i = 0; i < o->report_what.n; i++)
			submit_report(f, o->report_what.v[i]);
	}
	free(a);
	return 0;
}
