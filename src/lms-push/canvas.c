/*
 * canvas.c - lms-push against the Canvas REST API.
 *
 * Each change is its own little sequence of calls, all changes running
 * concurrently (--jobs):
 *
 *   add     POST /api/v1/courses/:course/enrollments (or
 *           /sections/:section/enrollments when the record names one) with
 *           enrollment[user_id], enrollment[type] (or enrollment[role_id]
 *           for a --role-id role), enrollment_state active, notify false;
 *   drop    the enrollment id (the record's enrollment_id, else looked up
 *           with GET .../enrollments?user_id=), then DELETE
 *           /api/v1/courses/:id/enrollments/:eid?task=conclude|delete|
 *           inactivate (--drop-as); every matching enrollment (one per
 *           section) is dropped;
 *   update  an add of the new role, then a drop of the old one.
 *
 * A course or user without a Canvas id in the record is named by its SIS
 * id (sis_course_id:X, sis_user_id:X, sis_section_id:X).
 *
 * The server's filter is not trusted: an enrollment is acted on only when
 * every field the change names matches it (user_id or SIS user id, course_id
 * or SIS course id, role, section), and a lookup whose reply holds any
 * enrollment of another user or course, or two candidates with one role
 * in one section, fails the change with nothing dropped.  The lookup follows
 * rel="next" pages within --max-pages, never back to a page it read.  When the reply
 * to a POST is lost, the user's enrollments are read before it is sent
 * again, once.  401 stops the run (77); 403 that is not throttling fails
 * only its change.
 *
 * A change that names an 'account' (and no course) is an account role,
 * an "org enrollment": add is POST /api/v1/accounts/:account/admins with
 * user_id and role (or role_id for a --role-id role), drop is DELETE
 * /api/v1/accounts/:account/admins/:user?role= (or role_id=), update an
 * add of the new role and a drop of the old.  An account without a
 * numeric id is named sis_account_id:X.  Canvas makes an existing admin
 * of that role active again rather than a second one, so the POST may be
 * sent again; a DELETE that finds nothing (404) fails its change, unless
 * it is a retry of one whose reply was lost.
 *
 * --sis-import sends every change as one enrollments.csv (course_id,
 * user_id, role, section_id, status) to POST /api/v1/accounts/:id/
 * sis_imports and polls it to the end.  Canvas reports problems as text
 * ([file, message] pairs): a message that names a change's user and
 * course fails that change; the others go to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmsparse.h"
#include "pool.h"

static const char *const drop_task[] = { "conclude", "delete",
    "inactivate" };
static const char *const drop_state[] = { "completed", "deleted",
    "inactive" };

enum step { S_ADD, S_CHECK, S_FIND, S_DELETE, S_ADMIN_ADD, S_ADMIN_DEL };

struct cop {
	struct push *p;
	struct change *c;
	enum step step;
	long long *eid, *ecid;	/* enrollments to drop, and their courses */
	size_t neid, next;
	int dropped;
	json_t *acc;		/* the lookup's enrollments, every page */
	struct ep_http_pages seen; /* the lookup's page URLs */
};

static void start(struct cop *k);

/* ep_canvas_check, where a 4xx other than 401 fails this change only. */
static int
canvas_check(const struct ep_http_req *r, const char *what,
    struct ep_error *err)
{
	if (ep_canvas_check(r, what, err) == 0)
		return 0;
	if (r->err.code == 0 && (r->status == 403 ||
	    (r->status >= 400 && r->status < 500 && r->status != 401)))
		err->code = EP_EXIT_DIFF;
	return -1;
}

/* The course of c in a URL: its Canvas id, or sis_course_id:X. */
static char *
course_ref(const struct change *c)
{
	char *e, *s;

	if (c->course_id > 0)
		return ep_xasprintf("%lld", c->course_id);
	e = ep_url_escape(c->course);
	s = ep_xasprintf("sis_course_id:%s", e);
	free(e);
	return s;
}

static char *
user_ref(const struct change *c)
{
	if (c->user_id > 0)
		return ep_xasprintf("%lld", c->user_id);
	return ep_xasprintf("sis_user_id:%s", c->user);
}

static void
cop_free(struct cop *k)
{
	if (k != NULL) {
		free(k->eid);
		free(k->ecid);
		json_decref(k->acc);
		ep_http_pages_free(&k->seen);
		free(k);
	}
}

static void
cop_free_v(void *k)
{
	cop_free(k);
}

static int step_done(struct ep_http *h, struct ep_http_req *r, void *arg);

static void
submit_step(struct cop *k, struct ep_http_req *r)
{
	k->p->calls++;
	ep_http_req_header(r, "Accept: application/json");
	if (k->p->o->dry_run) {
		ep_http_describe(stdout, r);
		ep_http_req_free(r);
		return;
	}
	r->arg_free = cop_free_v;
	ep_http_submit(k->p->http, r, step_done, k);
}

/* The role this step is about: an update's old role when dropping. */
static const char *
step_role(const struct cop *k)
{
	return k->c->op == OP_UPDATE && k->step >= S_FIND ? k->c->old_role :
	    k->c->role;
}

static void
send_add(struct cop *k)
{
	struct change *c = k->c;
	const char *sec = ep_rec_str(c->rec, "section_id");
	char *url, *cr, *ur = user_ref(c);
	struct ep_http_req *r;
	long long rid = opt_role_id(k->p->o, c->role);
	const char *type = ep_canvas_role_type(c->role);

	if (sec != NULL && *sec >= '0' && *sec <= '9') {
		url = ep_url_join(k->p->base, "/api/v1/sections/%s/enrollments", sec);
	} else if (c->section != NULL) {
		char *e = ep_url_escape(c->section);

		url = ep_url_join(k->p->base, "/api/v1/sections/sis_section_id:%s/"
		    "enrollments", e);
		free(e);
	} else {
		cr = course_ref(c);
		url = ep_url_join(k->p->base, "/api/v1/courses/%s/enrollments", cr);
		free(cr);
	}
	r = ep_http_req_new("POST", url);
	free(url);
	ep_http_req_form(r, "enrollment[user_id]", ur);
	free(ur);
	if (rid > 0) {
		char v[32];

		snprintf(v, sizeof(v), "%lld", rid);
		ep_http_req_form(r, "enrollment[role_id]", v);
	} else {
		ep_http_req_form(r, "enrollment[type]", type);
	}
	ep_http_req_form(r, "enrollment[enrollment_state]", "active");
	ep_http_req_form(r, "enrollment[notify]", "false");
	k->step = S_ADD;
	submit_step(k, r);
}

/* Read the user's enrollments in the course (to drop, or to check). */
static void
send_find(struct cop *k, enum step step)
{
	char *cr = course_ref(k->c), *ur = user_ref(k->c), *ue = ep_url_escape(ur);
	char *url = ep_url_join(k->p->base, "/api/v1/courses/%s/enrollments?user_id=%s"
	    "&per_page=100&state%%5B%%5D=active&state%%5B%%5D=invited"
	    "&state%%5B%%5D=inactive&state%%5B%%5D=completed", cr, ue);
	struct ep_error err;

	free(cr);
	free(ur);
	free(ue);
	k->step = step;
	json_decref(k->acc);
	k->acc = json_array();
	ep_http_pages_free(&k->seen);
	ep_http_pages_init(&k->seen, k->p->o->conn.max_pages);
	/* A first page: never a repeat, never past --max-pages (>= 1). */
	(void)ep_http_pages_add(&k->seen, url, "enrollment lookup", &err);
	submit_step(k, ep_http_req_new("GET", url));
	free(url);
}

static void
send_delete(struct cop *k)
{
	char *url;

	if (k->p->o->dry_run) {
		char *cr = course_ref(k->c);

		url = ep_url_join(k->p->base, "/api/v1/courses/%s/enrollments/%s?task=%s",
		    cr, k->neid ? "ID" : ":enrollment_id",
		    drop_task[k->c->drop_as]);
		free(cr);
	} else {
		url = ep_url_join(k->p->base, "/api/v1/courses/%lld/enrollments/%lld"
		    "?task=%s", k->ecid[k->next], k->eid[k->next],
		    drop_task[k->c->drop_as]);
	}
	k->step = S_DELETE;
	submit_step(k, ep_http_req_new("DELETE", url));
	free(url);
}

/* The account of an account role change in a URL. */
static char *
account_ref(const struct change *c)
{
	char *e = ep_url_escape(c->account), *s;

	if (strspn(c->account, "0123456789") == strlen(c->account))
		return e;
	s = ep_xasprintf("sis_account_id:%s", e);
	free(e);
	return s;
}

/* role=NAME, or role_id=ID for a --role-id role, to r's form or url. */
static void
admin_role(struct cop *k, const char *role, struct ep_http_req *r,
    char **query)
{
	long long rid = opt_role_id(k->p->o, role);
	char v[32], *e;

	snprintf(v, sizeof(v), "%lld", rid);
	if (query == NULL) {
		ep_http_req_form(r, rid > 0 ? "role_id" : "role", rid > 0 ? v :
		    role);
		return;
	}
	e = ep_url_escape(role);
	*query = rid > 0 ? ep_xasprintf("?role_id=%s", v) :
	    ep_xasprintf("?role=%s", e);
	free(e);
}

static void
send_admin_add(struct cop *k)
{
	char *ar = account_ref(k->c), *ur = user_ref(k->c);
	char *url = ep_url_join(k->p->base, "/api/v1/accounts/%s/admins", ar);
	struct ep_http_req *r = ep_http_req_new("POST", url);

	free(ar);
	free(url);
	ep_http_req_form(r, "user_id", ur);
	free(ur);
	admin_role(k, k->c->role, r, NULL);
	ep_http_req_form(r, "send_confirmation", "false");
	/* Canvas reactivates the user's admin of that role: a resend is
	 * safe, and cannot make a second one. */
	r->idempotent = true;
	k->step = S_ADMIN_ADD;
	submit_step(k, r);
}

static void
send_admin_del(struct cop *k)
{
	const char *role = k->c->op == OP_UPDATE ? k->c->old_role : k->c->role;
	char *ar = account_ref(k->c), *ur = user_ref(k->c), *ue, *q = NULL;
	char *url;

	ue = ep_url_escape(ur);
	if (role != NULL) {
		admin_role(k, role, NULL, &q);
	}
	url = ep_url_join(k->p->base, "/api/v1/accounts/%s/admins/%s%s", ar,
	    ue, q ? q : "");
	free(ar);
	free(ur);
	free(ue);
	free(q);
	k->step = S_ADMIN_DEL;
	submit_step(k, ep_http_req_new("DELETE", url));
	free(url);
}

/* An account role change's reply arrived. */
static int
admin_done(struct cop *k, struct ep_http_req *r)
{
	struct change *c = k->c;
	const char *what = k->step == S_ADMIN_ADD ? "account role POST" :
	    "account role DELETE";
	const char *role = c->op == OP_UPDATE && k->step == S_ADMIN_DEL ?
	    c->old_role : c->role;
	struct ep_error err;
	json_t *j;
	int rc;

	if (k->step == S_ADMIN_DEL && r->status == 404 && r->attempts > 1) {
		/* The first DELETE went through; its reply was lost. */
		j = json_object();
	} else if (canvas_check(r, what, &err) < 0 ||
	    (j = ep_lms_reply_json(r, what, &err)) == NULL) {
		if (k->step == S_ADMIN_DEL && r->status == 404)
			ep_error_set(&err, EP_EXIT_DIFF, "user %s has no "
			    "account role %s in account %s to drop%s",
			    c->user ? c->user : "", role ? role : "AccountAdmin",
			    c->account, c->op == OP_UPDATE ? " (the new role "
			    "was added)" : "");
		rc = change_fail(k->p, c, &err);
		cop_free(k);
		return rc;
	}
	json_decref(j);
	if (k->step == S_ADMIN_ADD && c->op == OP_UPDATE &&
	    c->old_role != NULL && strcmp(c->old_role, c->role) != 0) {
		send_admin_del(k);
		return 0;
	}
	if (c->op == OP_ADD)
		change_ok(c, "account role %s in account %s", c->role,
		    c->account);
	else if (c->op == OP_UPDATE)
		change_ok(c, "account role changed from %s to %s in account %s",
		    c->old_role ? c->old_role : c->role, c->role, c->account);
	else
		change_ok(c, "account role %s removed in account %s",
		    role ? role : "AccountAdmin", c->account);
	cop_free(k);
	return 0;
}

/* The add went through: finish, or go on to drop the old role. */
static void
added(struct cop *k, const char *how)
{
	struct change *c = k->c;

	if (c->op == OP_UPDATE && c->old_role != NULL &&
	    strcmp(c->old_role, c->role) != 0) {
		send_find(k, S_FIND);
		return;
	}
	change_ok(c, "enrolled as %s%s", c->role, how);
	cop_free(k);
}

static void
dropped(struct cop *k, const char *how)
{
	struct change *c = k->c;

	if (c->op == OP_UPDATE)
		change_ok(c, "role changed from %s to %s%s", c->old_role,
		    c->role, how);
	else
		change_ok(c, "%s%s", how, "");
	cop_free(k);
}

/* Whether string member name of e (or of e's "user" object when
 * nested) is s. */
static bool
str_is(json_t *e, const char *name, const char *s)
{
	const char *v = json_string_value(json_object_get(e, name));

	if (v == NULL)
		v = json_string_value(json_object_get(json_object_get(e,
		    "user"), name));
	return v != NULL && strcmp(v, s) == 0;
}

static bool
int_is(json_t *e, const char *name, long long id)
{
	json_t *v = json_object_get(e, name);

	return json_is_integer(v) && json_integer_value(v) == id;
}

/*
 * Whether enrollment e is of the change's user in the change's course:
 * each of user_id, user (a SIS id), course_id and course (a SIS id) that
 * the change gives must be in e with the same value.
 */
static bool
same_user_course(const struct change *c, json_t *e)
{
	return (c->user_id <= 0 || int_is(e, "user_id", c->user_id)) &&
	    (c->user == NULL || str_is(e, "sis_user_id", c->user)) &&
	    (c->course_id <= 0 || int_is(e, "course_id", c->course_id)) &&
	    (c->course == NULL || str_is(e, "sis_course_id", c->course));
}

/* Whether e is in the section the change names, if it names one. */
static bool
same_section(const struct change *c, json_t *e)
{
	long long sid = 0;
	const char *s = ep_rec_str(c->rec, "section_id");

	if (s != NULL && *s >= '0' && *s <= '9')
		sid = strtoll(s, NULL, 10);
	return (c->section == NULL || str_is(e, "sis_section_id",
	    c->section)) && (sid <= 0 || int_is(e, "course_section_id", sid));
}

/* The user's enrollments arrived: pick those to drop, or check an add. */
static int
found(struct cop *k, json_t *list)
{
	const char *role = step_role(k);
	const char *target = drop_state[k->c->drop_as];
	size_t n = json_array_size(list), already = 0, match = 0, foreign = 0;
	long long *sec;
	const char **srole;
	bool ambiguous = false;

	free(k->eid);
	free(k->ecid);
	k->neid = k->next = 0;
	k->eid = ep_xcalloc(n + 1, sizeof(*k->eid));
	k->ecid = ep_xcalloc(n + 1, sizeof(*k->ecid));
	sec = ep_xcalloc(n + 1, sizeof(*sec));
	srole = ep_xcalloc(n + 1, sizeof(*srole));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(list, i);
		const char *rn = ep_canvas_role_name(e);
		const char *st = json_string_value(json_object_get(e,
		    "enrollment_state"));
		json_t *id = json_object_get(e, "id");
		json_t *cid = json_object_get(e, "course_id");
		json_t *sid = json_object_get(e, "course_section_id");

		if (!same_user_course(k->c, e)) {
			foreign++;
			continue;
		}
		if (rn == NULL || (role != NULL && strcmp(rn, role) != 0))
			continue;
		if (k->step == S_CHECK) {
			if (st != NULL && (strcmp(st, "active") == 0 ||
			    strcmp(st, "invited") == 0))
				match++;
			continue;
		}
		if (k->c->op == OP_DROP && !same_section(k->c, e))
			continue;
		/* Two candidates with one role in one section, or one
		 * without ids: which one the change means is not known. */
		if (!json_is_integer(id) || json_integer_value(id) <= 0 ||
		    !json_is_integer(cid) || json_integer_value(cid) <= 0)
			ambiguous = true;
		for (size_t m = 0; m < match; m++)
			if (sec[m] == json_integer_value(sid) &&
			    strcmp(srole[m], rn) == 0)
				ambiguous = true;
		sec[match] = json_integer_value(sid);
		srole[match++] = rn;
		if (st != NULL && strcmp(st, target) == 0) {
			already++;
			continue;
		}
		k->eid[k->neid] = json_integer_value(id);
		k->ecid[k->neid++] = json_integer_value(cid);
	}
	free(sec);
	free(srole);
	if (foreign > 0 || ambiguous) {
		char what[64];
		char *ur = user_ref(k->c), *cr = course_ref(k->c);

		snprintf(what, sizeof(what), "%zu enrollment%s of other users "
		    "or courses", foreign, foreign == 1 ? "" : "s");
		change_failf(k->c, "the lookup of user %s's enrollments in "
		    "course %s returned %s: nothing changed", ur, cr,
		    foreign > 0 ? what : "two enrollments with one role in "
		    "one section, or one without an id");
		free(ur);
		free(cr);
		cop_free(k);
		return 0;
	}
	if (k->step == S_CHECK) {
		if (match > 0) {
			added(k, " (confirmed after a lost reply)");
		} else if (k->c->resends++ < 1) {
			send_add(k);
		} else {
			change_failf(k->c, "the reply to the enrollment POST "
			    "was lost twice and the enrollment is not there");
			cop_free(k);
		}
		return 0;
	}
	if (match == 0) {
		change_failf(k->c, "no %s enrollment of user %s in course %s "
		    "to drop", role ? role : "", k->c->user ? k->c->user : "",
		    k->c->course ? k->c->course : "");
		cop_free(k);
		return 0;
	}
	if (k->neid == 0) {
		char how[64];

		snprintf(how, sizeof(how), k->c->op == OP_DROP ? "already %s" :
		    " (the old enrollment was already %s)", target);
		dropped(k, how);
		return 0;
	}
	send_delete(k);
	return 0;
}

static int
step_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct cop *k = arg;
	struct change *c = k->c;
	struct ep_error err;
	const char *what = k->step == S_ADD ? "enrollment POST" :
	    k->step == S_DELETE ? "enrollment DELETE" : "enrollment lookup";
	json_t *j;
	int rc;

	(void)h;
	if (k->step == S_ADMIN_ADD || k->step == S_ADMIN_DEL)
		return admin_done(k, r);
	if (k->step == S_ADD && outcome_unknown(r)) {
		ep_info(1, "%s: the reply was lost; reading the enrollments "
		    "before sending it again", what);
		send_find(k, S_CHECK);
		return 0;
	}
	if (canvas_check(r, what, &err) < 0 ||
	    (j = ep_lms_reply_json(r, what, &err)) == NULL) {
		rc = change_fail(k->p, c, &err);
		cop_free(k);
		return rc;
	}
	switch (k->step) {
	case S_ADD:
		added(k, "");
		break;
	case S_CHECK:
	case S_FIND:
		if (!json_is_array(j) || (r->next_url != NULL &&
		    ep_http_pages_add(&k->seen, r->next_url, what, &err) < 0)) {
			if (!json_is_array(j))
				ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: "
				    "the reply is not a list", what);
			rc = change_fail(k->p, c, &err);
			cop_free(k);
			json_decref(j);
			return rc;
		}
		json_array_extend(k->acc, j);
		if (r->next_url != NULL) {
			struct ep_http_req *n = ep_http_req_new("GET",
			    r->next_url);

			n->auth = ep_http_same_origin(r->next_url,
			    k->p->base);
			submit_step(k, n);
			break;
		}
		found(k, k->acc);
		break;
	case S_DELETE:
		k->dropped++;
		if (++k->next < k->neid) {
			send_delete(k);
		} else {
			char how[64];

			snprintf(how, sizeof(how), "%s%s",
			    c->drop_as == DROP_CONCLUDE ? "concluded" :
			    c->drop_as == DROP_DELETE ? "deleted" :
			    "inactivated", k->dropped > 1 ? " (every "
			    "section)" : "");
			if (c->op == OP_UPDATE)
				dropped(k, "");
			else
				dropped(k, how);
		}
		break;
	case S_ADMIN_ADD:
	case S_ADMIN_DEL:
		break;	/* admin_done's */
	}
	json_decref(j);
	return 0;
}

static void
start(struct cop *k)
{
	struct change *c = k->c;

	if (c->account != NULL) {
		if (c->op == OP_DROP)
			send_admin_del(k);
		else
			send_admin_add(k);
		if (k->p->o->dry_run && c->op == OP_UPDATE &&
		    c->old_role != NULL && strcmp(c->old_role, c->role) != 0)
			send_admin_del(k);
		if (k->p->o->dry_run)
			cop_free(k);
		return;
	}
	if (c->op != OP_DROP && c->role != NULL &&
	    ep_canvas_role_type(c->role) == NULL &&
	    opt_role_id(k->p->o, c->role) == 0) {
		change_failf(c, "unknown Canvas role '%s': base roles are "
		    "student, teacher, ta, observer and designer; give "
		    "--role-id %s=ID for a custom role", c->role, c->role);
		cop_free(k);
		return;
	}
	if (c->op == OP_DROP) {
		if (c->enrollment_id > 0 && c->course_id > 0) {
			k->eid = ep_xcalloc(1, sizeof(*k->eid));
			k->ecid = ep_xcalloc(1, sizeof(*k->ecid));
			k->eid[0] = c->enrollment_id;
			k->ecid[0] = c->course_id;
			k->neid = 1;
			send_delete(k);
		} else {
			send_find(k, S_FIND);
			if (k->p->o->dry_run)
				send_delete(k);
		}
	} else {
		send_add(k);
		if (k->p->o->dry_run && c->op == OP_UPDATE &&
		    c->old_role != NULL && strcmp(c->old_role, c->role) != 0) {
			send_find(k, S_FIND);
			send_delete(k);
		}
	}
	if (k->p->o->dry_run)
		cop_free(k);
}

/* Whether two changes are about the same user in the same course. */
static bool
same_pair(const struct change *a, const struct change *b)
{
	if (a->account != NULL || b->account != NULL)
		return a->account != NULL && b->account != NULL &&
		    a->user != NULL && b->user != NULL &&
		    strcmp(a->account, b->account) == 0 &&
		    strcmp(a->user, b->user) == 0;
	return a->course != NULL && b->course != NULL && a->user != NULL &&
	    b->user != NULL && strcmp(a->course, b->course) == 0 &&
	    strcmp(a->user, b->user) == 0;
}

/* --- SIS import --- */

struct import {
	struct push *p;
	char *status_url;
	long long started, id;
	long poll_ms;
};

static void
import_free(void *arg)
{
	struct import *im = arg;

	if (im != NULL) {
		free(im->status_url);
		free(im);
	}
}

static void
csv_row(FILE *fp, const char *const *v)
{
	for (int i = 0; i < 5; i++) {
		if (i)
			fputc(',', fp);
		ep_csv_put_field(fp, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0,
		    false);
	}
	fputc('\n', fp);
}

/* enrollments.csv for every change; those that cannot be written fail. */
static char *
import_csv(struct push *p, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);
	static const char *const head[] = { "course_id", "user_id", "role",
	    "section_id", "status" };

	if (fp == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	csv_row(fp, head);
	for (size_t i = 0; i < p->n; i++) {
		struct change *c = &p->ch[i];
		const char *v[5];

		if (c->done)
			continue;	/* kept: drop policy keep */
		if (c->account != NULL) {
			change_failf(c, "an account role has no place in a "
			    "SIS import's enrollments.csv: push it without "
			    "--sis-import");
			continue;
		}
		if (c->course == NULL || c->user == NULL) {
			change_failf(c, "a SIS import needs the SIS ids "
			    "'course' and 'user'");
			continue;
		}
		v[0] = c->course;
		v[1] = c->user;
		v[2] = c->role;
		v[3] = c->section;
		v[4] = c->op == OP_DROP ? drop_state[c->drop_as] : "active";
		csv_row(fp, v);
		if (c->op == OP_UPDATE && c->old_role != NULL &&
		    strcmp(c->old_role, c->role) != 0) {
			v[2] = c->old_role;
			v[4] = drop_state[c->drop_as];
			csv_row(fp, v);
		}
	}
	if (fclose(fp) != 0)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	return buf;
}

/* Whether word occurs in s as a whole token. */
static bool
has_token(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (const char *q = s; n > 0 && (q = strstr(q, word)) != NULL; q++) {
		char a = q == s ? ' ' : q[-1], b = q[n];

		if (strchr(" ,:;()'\"", a) && (b == '\0' ||
		    strchr(" ,:;()'\"", b)))
			return true;
	}
	return false;
}

/* Give each [file, message] to the change it names, or to stderr. */
static void
import_messages(struct import *im, json_t *list, const char *kind)
{
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *m = json_array_get(list, i);
		const char *file = json_string_value(json_array_get(m, 0));
		const char *msg = json_string_value(json_array_get(m, 1));
		bool used = false;

		if (msg == NULL)
			continue;
		for (size_t k = 0; k < im->p->n; k++) {
			struct change *c = &im->p->ch[k];

			if (c->done || !has_token(msg, c->user) ||
			    !has_token(msg, c->course))
				continue;
			change_failf(c, "SIS import %lld: %s: %s", im->id,
			    kind, msg);
			used = true;
		}
		if (!used)
			ep_warn("SIS import %lld: %s: %s: %s", im->id, kind,
			    file ? file : "?", msg);
	}
}

static void
import_all(struct import *im, bool ok, int code, const char *fmt,
    const char *a, const char *b)
{
	for (size_t k = 0; k < im->p->n; k++) {
		struct change *c = &im->p->ch[k];

		if (c->done)
			continue;
		if (ok) {
			change_ok(c, fmt, a, b);
		} else {
			change_failf(c, fmt, a, b);
			c->unreachable = code == EP_EXIT_TEMPFAIL;
		}
	}
}

static void import_poll(struct import *im, long delay);

static int
import_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct import *im = arg;
	struct push *p = im->p;
	struct ep_error err;
	const char *st;
	char idbuf[32];
	json_t *j;

	(void)h;
	if (im->status_url == NULL && outcome_unknown(r)) {
		/* Never sent twice: a second import would apply it all
		 * again after the first. */
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "the reply to the "
		    "SIS import POST was lost: look for it in GET "
		    "/api/v1/accounts/%s/sis_imports before sending it again",
		    p->o->account);
		import_all(im, false, 0, "%s%s", err.msg, "");
		import_free(im);
		return 0;
	}
	if (canvas_check(r, "SIS import", &err) < 0 ||
	    (j = ep_lms_reply_json(r, "SIS import", &err)) == NULL) {
		if (err.code == EP_EXIT_NOPERM ||
		    err.code == EP_EXIT_SOFTWARE) {
			p->fatal = err;
			import_free(im);
			return -1;
		}
		import_all(im, false, err.code, "%s%s", err.msg, "");
		import_free(im);
		return 0;
	}
	if (im->status_url == NULL) {
		json_t *id = json_object_get(j, "id");
		char *a = ep_url_escape(p->o->account);

		if (!json_is_integer(id)) {
			json_decref(j);
			free(a);
			import_all(im, false, 0, "%s%s", "SIS import: the "
			    "reply has no import id", "");
			import_free(im);
			return 0;
		}
		im->id = json_integer_value(id);
		im->status_url = ep_url_join(p->base, "/api/v1/accounts/%s/sis_imports/"
		    "%lld", a, im->id);
		free(a);
		ep_info(1, "SIS import %lld started", im->id);
	}
	st = json_string_value(json_object_get(j, "workflow_state"));
	if (st == NULL)
		st = "";
	snprintf(idbuf, sizeof(idbuf), "%lld", im->id);
	if (strcmp(st, "imported") == 0 ||
	    strcmp(st, "imported_with_messages") == 0) {
		import_messages(im, json_object_get(j, "processing_errors"),
		    "error");
		import_messages(im, json_object_get(j, "processing_warnings"),
		    "warning");
		import_all(im, true, 0, "SIS import %s: %s", idbuf, st);
	} else if (strcmp(st, "failed") == 0 ||
	    strcmp(st, "failed_with_messages") == 0 ||
	    strcmp(st, "aborted") == 0) {
		json_t *e = json_object_get(j, "processing_errors");
		const char *first = json_string_value(json_array_get(
		    json_array_get(e, 0), 1));

		import_messages(im, e, "error");
		for (size_t k = 0; k < p->n; k++)
			if (!p->ch[k].done)
				change_failf(&p->ch[k], "SIS import %s: %s%s%s",
				    idbuf, st, first ? ": " : "",
				    first ? first : "");
	} else if (ep_http_now_ms() - im->started >
	    p->o->import_timeout_s * 1000) {
		char m[256];

		snprintf(m, sizeof(m), "SIS import %s: still '%s' after %ld s "
		    "(--import-timeout)", idbuf, st, p->o->import_timeout_s);
		import_all(im, false, EP_EXIT_TEMPFAIL, "%s%s", m, "");
	} else {
		json_decref(j);
		import_poll(im, im->poll_ms);
		if (im->poll_ms < 30000)
			im->poll_ms *= 2;
		return 0;
	}
	json_decref(j);
	import_free(im);
	return 0;
}

static void
import_poll(struct import *im, long delay)
{
	struct ep_http_req *r = ep_http_req_new("GET", im->status_url);

	ep_http_req_header(r, "Accept: application/json");
	r->arg_free = import_free;
	ep_http_submit_after(im->p->http, r, delay, import_done, im);
}

static int
sis_import(struct push *p)
{
	size_t len;
	char *csv = import_csv(p, &len);
	char *a = ep_url_escape(p->o->account);
	char *url = ep_url_join(p->base, "/api/v1/accounts/%s/sis_imports?import_type="
	    "instructure_csv&extension=csv", a);
	struct ep_http_req *r = ep_http_req_new("POST", url);
	struct import *im;

	free(a);
	free(url);
	ep_http_req_header(r, "Content-Type: text/csv; charset=utf-8");
	ep_http_req_header(r, "Accept: application/json");
	if (p->o->dry_run) {
		ep_http_describe(stdout, r);
		fwrite(csv, 1, len, stdout);
		printf("GET %s/api/v1/accounts/%s/sis_imports/:id (until it "
		    "ends)\n", p->base, p->o->account);
		free(csv);
		ep_http_req_free(r);
		return 0;
	}
	r->body = csv;
	r->body_len = len;
	im = ep_xcalloc(1, sizeof(*im));
	im->p = p;
	im->started = ep_http_now_ms();
	im->poll_ms = p->o->conn.http.retry_base_ms > 0 ?
	    p->o->conn.http.retry_base_ms : 1;
	r->arg_free = import_free;
	ep_http_submit(p->http, r, import_done, im);
	run_pool(p);
	return 0;
}

int
canvas_push(struct push *p)
{
	size_t *round, rounds = 1;

	if (p->o->sis_import)
		return sis_import(p);
	/*
	 * Changes run concurrently, but two changes of one user in one
	 * course (a drop, then an add) must happen in input order: the nth
	 * change of a (course, user) pair goes in round n, after the pool
	 * has finished the round before.
	 */
	round = ep_xcalloc(p->n ? p->n : 1, sizeof(*round));
	for (size_t i = 0; i < p->n; i++)
		for (size_t j = 0; j < i; j++)
			if (round[j] == round[i] && same_pair(&p->ch[i],
			    &p->ch[j])) {
				round[i]++;
				j = (size_t)-1;	/* rescan: the new round may clash */
				if (round[i] + 1 > rounds)
					rounds = round[i] + 1;
			}
	for (size_t r = 0; r < rounds && p->fatal.code == 0; r++) {
		for (size_t i = 0; i < p->n; i++) {
			struct cop *k;

			if (round[i] != r || p->ch[i].done)
				continue;
			k = ep_xcalloc(1, sizeof(*k));
			k->p = p;
			k->c = &p->ch[i];
			start(k);
		}
		if (!p->o->dry_run)
			run_pool(p);
	}
	free(round);
	return 0;
}
