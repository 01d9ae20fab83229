/*
 * moodle.c - lms-push against Moodle Web Services (REST protocol).
 *
 * Every call is a POST to webservice/rest/server.php with the token in
 * the body.  The run has four phases, each one pool run:
 *
 *   1. lookups: course ids by shortname (core_course_get_courses_by_field,
 *      one call per course), user ids by --user-field
 *      (core_user_get_users_by_field, 100 values a call), each asked once;
 *   2. rosters (core_enrol_get_enrolled_users) of the courses with drops
 *      or role changes, and of courses whose role ids must be learnt: the
 *      roles[] of enrolled users give shortname -> id;
 *   3. the changes, batched: adds and updates through
 *      enrol_manual_enrol_users, drops through enrol_manual_unenrol_users,
 *      or core_role_unassign_roles when the user keeps another role in
 *      the course (unenrolling would take every role away); a drop whose
 *      policy is suspend (enrol_database's "disable course enrolment")
 *      through enrol_manual_enrol_users with suspend=1, which keeps the
 *      enrolment and its role but closes the course to the user;
 *   4. the old role of each role change that phase 3 applied is
 *      unassigned.
 *
 * User records (user, no course) skip phase 2: in phase 3 adds go through
 * core_user_create_users (never a password: createpassword=1 unless the
 * record's auth is another method) and updates through
 * core_user_update_users with the id phase 1 found.  Moodle creates users
 * in one transaction too, so a refused batch is split the same way; a
 * lost reply fails the changes, since no roster can tell what happened.
 *
 * Moodle runs a batch in one transaction and stops at the first bad
 * enrolment, so a refused batch is split in halves until the bad changes
 * stand alone.  A batch whose reply was lost is not sent again blindly:
 * the courses' rosters are read, the changes already in effect are ok,
 * and only the others are sent once more.
 *
 * A lookup value that names two users (idnumber and email need not be
 * unique in Moodle) fails its changes: nothing is done to either user.
 *
 * Role ids: the record's role_id, else --role-id, else learnt from a
 * roster read this run, else Moodle's ids for its standard roles
 * (manager 1, coursecreator 2, editingteacher 3, teacher 4, student 5).
 */
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

enum kind { K_ENROL, K_UNENROL, K_UNASSIGN, K_UCREATE, K_UUPDATE, K_NKIND };

struct tent {
	char *key;
	long long id;
	json_t *roster;		/* rosters: the enrolled users */
	char *err;		/* why the lookup failed, or NULL */
};

struct tab {
	struct tent *e;
	size_t n, cap;
	struct hsearch_data h;
	bool init;
};

struct mctx {
	struct push *p;
	struct tab courses, users, rosters, roles;
};

struct batch {
	struct mctx *m;
	enum kind kind;
	size_t *idx;
	size_t n;
};

struct lookup {
	struct mctx *m;
	struct tab *t;
	size_t first, n;	/* entries asked for */
};

/* A state check after a lost reply: fresh rosters of the batch. */
struct check {
	struct batch *b;
	long long *cid;
	json_t **roster;
	char **err;
	size_t ncid, pending;
};

static const char *const kind_fn[] = { "enrol_manual_enrol_users",
    "enrol_manual_unenrol_users", "core_role_unassign_roles",
    "core_user_create_users", "core_user_update_users" };

/* --- string tables --- */

static size_t
tab_find(struct tab *t, const char *key)
{
	ENTRY q, *r = NULL;

	if (!t->init)
		return (size_t)-1;
	q.key = (char *)key;
	q.data = NULL;
	if (hsearch_r(q, FIND, &r, &t->h) == 0 || r == NULL)
		return (size_t)-1;
	return (size_t)(uintptr_t)r->data - 1;
}

/* The entry of key, added when new; *added says which. */
static struct tent *
tab_add(struct tab *t, const char *key, size_t max, bool *added)
{
	size_t i = tab_find(t, key);
	ENTRY q, *r;

	if (added != NULL)
		*added = false;
	if (i != (size_t)-1)
		return &t->e[i];
	if (!t->init) {
		memset(&t->h, 0, sizeof(t->h));
		if (hcreate_r(max * 2 + 16, &t->h) == 0)
			ep_die(EP_EXIT_NOMEM, "out of memory");
		t->init = true;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->e = ep_xrealloc(t->e, t->cap * sizeof(*t->e));
	}
	memset(&t->e[t->n], 0, sizeof(t->e[0]));
	t->e[t->n].key = ep_xstrdup(key);
	q.key = t->e[t->n].key;
	q.data = (void *)(uintptr_t)(t->n + 1);
	if (hsearch_r(q, ENTER, &r, &t->h) == 0)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	if (added != NULL)
		*added = true;
	return &t->e[t->n++];
}

static void
tab_free(struct tab *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].key);
		free(t->e[i].err);
		json_decref(t->e[i].roster);
	}
	free(t->e);
	if (t->init)
		hdestroy_r(&t->h);
}

static char *
id_key(long long id)
{
	return ep_xasprintf("%lld", id);
}

/* --- calls --- */

static char *
endpoint(const struct push *p)
{
	size_t n = strlen(p->base);

	if (n >= 10 && strcmp(p->base + n - 10, "server.php") == 0)
		return ep_xstrdup(p->base);
	return ep_xasprintf("%s/webservice/rest/server.php", p->base);
}

static struct ep_http_req *
ws_request(const struct push *p, const char *function, bool idempotent)
{
	char *url = endpoint(p);
	struct ep_http_req *r = ep_http_req_new("POST", url);

	r->idempotent = idempotent;
	free(url);
	ep_http_req_form(r, "wstoken", p->token ? p->token : "****");
	ep_http_req_form(r, "wsfunction", function);
	ep_http_req_form(r, "moodlewsrestformat", "json");
	return r;
}

static void
form_fmt(struct ep_http_req *r, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
form_fmt(struct ep_http_req *r, const char *value, const char *fmt, ...)
{
	va_list ap;
	char name[128];

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	ep_http_req_form(r, name, value);
}

/*
 * The reply of a call as JSON, or NULL with err: transport and HTTP
 * failures, a body that is not JSON, and Moodle's error object (77 for a
 * refused token, 65 for any other Moodle error: the call's data).
 */
static json_t *
ws_reply(const struct ep_http_req *r, const char *what, struct ep_error *err)
{
	return ep_moodle_reply(r, what, EP_EXIT_DATAERR, err);
}

static void
submit(struct mctx *m, struct ep_http_req *r, ep_http_done_fn fn, void *arg,
    void (*arg_free)(void *))
{
	m->p->calls++;
	if (m->p->o->dry_run) {
		ep_http_describe(stdout, r);
		ep_http_req_free(r);
		arg_free(arg);
		return;
	}
	r->arg_free = arg_free;
	ep_http_submit(m->p->http, r, fn, arg);
}

/* --- phase 1: lookups --- */

static void
lookup_free(void *arg)
{
	free(arg);
}

/* Mark every entry of l still unresolved as failed: with msg, or as
 * "no WHAT 'KEY'". */
static void
lookup_fail_rest(struct lookup *l, const char *what, const char *msg)
{
	for (size_t i = l->first; i < l->first + l->n; i++) {
		struct tent *e = &l->t->e[i];

		if (e->id == 0 && e->err == NULL)
			e->err = msg ? ep_xstrdup(msg) : ep_xasprintf("no %s "
			    "'%s' in Moodle (or the token may not see it)",
			    what, e->key);
	}
}

static int
lookup_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct lookup *l = arg;
	struct mctx *m = l->m;
	bool courses = l->t == &m->courses;
	const char *field = courses ? "shortname" : m->p->o->user_field;
	struct ep_error err;
	json_t *j, *list;
	char what[160];

	(void)h;
	snprintf(what, sizeof(what), "%s", courses ?
	    "core_course_get_courses_by_field" :
	    "core_user_get_users_by_field");
	j = ws_reply(r, what, &err);
	if (j == NULL) {
		if (err.code == EP_EXIT_NOPERM ||
		    err.code == EP_EXIT_SOFTWARE) {
			if (m->p->fatal.code == 0)
				m->p->fatal = err;
			free(l);
			return -1;
		}
		lookup_fail_rest(l, NULL, err.msg);
		if (err.code == EP_EXIT_TEMPFAIL)
			for (size_t i = l->first; i < l->first + l->n; i++)
				l->t->e[i].id = -1;	/* unreachable */
		free(l);
		return 0;
	}
	list = courses ? json_object_get(j, "courses") : j;
	for (size_t k = 0; k < json_array_size(list); k++) {
		json_t *o = json_array_get(list, k);
		json_t *v = json_object_get(o, field);
		json_t *id = json_object_get(o, "id");
		char buf[32];
		const char *s = json_string_value(v);
		size_t i;

		if (json_is_integer(v)) {
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
			s = buf;
		}
		if (s == NULL || !json_is_integer(id))
			continue;
		i = tab_find(l->t, s);
		if (i != (size_t)-1 && i >= l->first && i < l->first + l->n) {
			struct tent *e = &l->t->e[i];
			long long nid = json_integer_value(id);

			/* idnumber and email need not be unique in Moodle:
			 * never pick one of two users. */
			if (e->err == NULL && e->id != 0 && e->id != nid) {
				e->id = 0;
				e->err = ep_xasprintf("more than one Moodle "
				    "%s has %s '%s': nothing done",
				    courses ? "course" : "user", field,
				    e->key);
			} else if (e->err == NULL) {
				e->id = nid;
			}
		}
	}
	json_decref(j);
	snprintf(what, sizeof(what), "%s with %s", courses ? "course" :
	    "user", field);
	lookup_fail_rest(l, what, NULL);
	free(l);
	return 0;
}

static void
lookups(struct mctx *m)
{
	struct push *p = m->p;
	size_t nc, nu;

	for (size_t i = 0; i < p->n; i++) {
		struct change *c = &p->ch[i];

		if (c->course_id == 0 && !c->is_user)
			tab_add(&m->courses, c->course, p->n, NULL);
		/* A user to create is not there to look up. */
		if (c->is_user && c->op == OP_ADD)
			continue;
		if (c->user_id == 0)
			tab_add(&m->users, c->user, p->n, NULL);
	}
	nc = m->courses.n;
	nu = m->users.n;
	for (size_t i = 0; i < nc; i++) {
		struct ep_http_req *r = ws_request(p,
		    "core_course_get_courses_by_field", true);
		struct lookup *l = ep_xcalloc(1, sizeof(*l));

		ep_http_req_form(r, "field", "shortname");
		ep_http_req_form(r, "value", m->courses.e[i].key);
		l->m = m;
		l->t = &m->courses;
		l->first = i;
		l->n = 1;
		submit(m, r, lookup_done, l, lookup_free);
	}
	for (size_t i = 0; i < nu; i += 100) {
		struct ep_http_req *r = ws_request(p,
		    "core_user_get_users_by_field", true);
		struct lookup *l = ep_xcalloc(1, sizeof(*l));

		ep_http_req_form(r, "field", p->o->user_field);
		l->m = m;
		l->t = &m->users;
		l->first = i;
		l->n = nu - i < 100 ? nu - i : 100;
		for (size_t k = 0; k < l->n; k++)
			form_fmt(r, m->users.e[i + k].key, "values[%zu]", k);
		submit(m, r, lookup_done, l, lookup_free);
	}
}

/* Give each change its ids from the lookups, or fail it. */
static void
apply_lookups(struct mctx *m)
{
	for (size_t i = 0; i < m->p->n; i++) {
		struct change *c = &m->p->ch[i];
		struct tab *t[2] = { &m->courses, &m->users };
		const char *key[2] = { c->course, c->user };
		long long *id[2] = { &c->course_id, &c->user_id };

		if (c->is_user && c->op == OP_ADD)
			continue;
		for (int k = c->is_user ? 1 : 0; k < 2 && !c->done; k++) {
			struct tent *e;

			if (*id[k] != 0)
				continue;
			e = &t[k]->e[tab_find(t[k], key[k])];
			if (e->id > 0) {
				*id[k] = e->id;
			} else {
				change_failf(c, "%s", e->err ? e->err :
				    "lookup failed");
				c->unreachable = e->id == -1;
			}
		}
	}
}

/* --- phase 2: rosters and roles --- */

static const struct {
	const char *name;
	long long id;
} std_roles[] = {
	{ "manager", 1 }, { "coursecreator", 2 }, { "editingteacher", 3 },
	{ "teacher", 4 }, { "student", 5 },
};

/* The id of role name, 0 when unknown. */
static long long
role_lookup(struct mctx *m, const char *name)
{
	long long id = opt_role_id(m->p->o, name);
	size_t i;

	if (name == NULL || id != 0)
		return id;
	i = tab_find(&m->roles, name);
	if (i != (size_t)-1)
		return m->roles.e[i].id;
	for (i = 0; i < sizeof(std_roles) / sizeof(std_roles[0]); i++)
		if (strcmp(std_roles[i].name, name) == 0)
			return std_roles[i].id;
	return 0;
}

static bool
role_known(struct mctx *m, const char *name)
{
	return name == NULL || opt_role_id(m->p->o, name) != 0 ||
	    role_lookup(m, name) != 0;
}

static void
learn_roles(struct mctx *m, json_t *users)
{
	for (size_t i = 0; i < json_array_size(users); i++) {
		json_t *roles = json_object_get(json_array_get(users, i),
		    "roles");

		for (size_t k = 0; k < json_array_size(roles); k++) {
			json_t *ro = json_array_get(roles, k);
			const char *sn = json_string_value(json_object_get(ro,
			    "shortname"));
			json_t *id = json_object_get(ro, "roleid");

			if (sn != NULL && json_is_integer(id))
				tab_add(&m->roles, sn, 64, NULL)->id =
				    json_integer_value(id);
		}
	}
}

/*
 * Where user uid stands in a roster: -1 not enrolled, 1 holding role
 * (any role when role is NULL), 0 enrolled without it.  *others (may be
 * NULL) counts the other roles held.
 */
static int
roster_state(json_t *users, long long uid, const char *role, int *others)
{
	if (others != NULL)
		*others = 0;
	for (size_t i = 0; i < json_array_size(users); i++) {
		json_t *u = json_array_get(users, i);
		json_t *roles = json_object_get(u, "roles");
		int has = role == NULL;

		if (json_integer_value(json_object_get(u, "id")) != uid)
			continue;
		for (size_t k = 0; k < json_array_size(roles); k++) {
			const char *sn = json_string_value(json_object_get(
			    json_array_get(roles, k), "shortname"));

			if (sn != NULL && role != NULL && strcmp(sn, role) == 0)
				has = 1;
			else if (others != NULL)
				(*others)++;
		}
		return has;
	}
	return -1;
}

struct rcall {
	struct mctx *m;
	struct check *ck;	/* NULL: a phase 2 roster */
	size_t slot;		/* ck->roster index, or m->rosters index */
};

static void check_done(struct check *ck);

static int
roster_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct rcall *rc = arg;
	struct mctx *m = rc->m;
	struct ep_error err;
	json_t *j;

	(void)h;
	j = ws_reply(r, "core_enrol_get_enrolled_users", &err);
	if (j != NULL && !json_is_array(j)) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE,
		    "core_enrol_get_enrolled_users: the reply is not a list "
		    "of users");
		json_decref(j);
		j = NULL;
	}
	if (j == NULL && (err.code == EP_EXIT_NOPERM ||
	    err.code == EP_EXIT_SOFTWARE)) {
		if (m->p->fatal.code == 0)
			m->p->fatal = err;
		free(rc);
		return -1;
	}
	if (j != NULL)
		learn_roles(m, j);
	if (rc->ck != NULL) {
		struct check *ck = rc->ck;

		ck->roster[rc->slot] = j;
		if (j == NULL)
			ck->err[rc->slot] = ep_xstrdup(err.msg);
		free(rc);
		if (--ck->pending == 0)
			check_done(ck);
		return m->p->fatal.code != 0 ? -1 : 0;
	}
	if (j != NULL) {
		m->rosters.e[rc->slot].roster = j;
	} else {
		m->rosters.e[rc->slot].err = ep_xstrdup(err.msg);
		if (err.code == EP_EXIT_TEMPFAIL)
			m->rosters.e[rc->slot].id = -1;
	}
	free(rc);
	return 0;
}

static void check_free(struct check *ck);

/* An abandoned roster call (the run stopped): nothing to settle. */
static void
rcall_free(void *arg)
{
	struct rcall *rc = arg;

	if (rc->ck != NULL && --rc->ck->pending == 0)
		check_free(rc->ck);
	free(rc);
}

static const char *idval(char *buf, size_t n, long long id, const char *what,
    const char *name);

static void
submit_roster(struct mctx *m, long long cid, const char *name,
    struct check *ck, size_t slot)
{
	struct ep_http_req *r = ws_request(m->p,
	    "core_enrol_get_enrolled_users", true);
	struct rcall *rc = ep_xcalloc(1, sizeof(*rc));
	char v[300];

	ep_http_req_form(r, "courseid", idval(v, sizeof(v), cid, "course",
	    name));
	rc->m = m;
	rc->ck = ck;
	rc->slot = slot;
	submit(m, r, roster_done, rc, rcall_free);
}

/* Whether a change needs its course's roster before it is applied. */
static bool
needs_roster(struct mctx *m, const struct change *c)
{
	return c->op == OP_DROP || (c->op == OP_UPDATE && c->old_role != NULL)
	    || !role_known(m, c->role) || !role_known(m, c->old_role);
}

static void
rosters(struct mctx *m)
{
	for (size_t i = 0; i < m->p->n; i++) {
		struct change *c = &m->p->ch[i];
		char *k;
		bool added;
		struct tent *e;

		if (c->done || c->is_user || !needs_roster(m, c))
			continue;
		k = c->course_id ? id_key(c->course_id) :
		    ep_xstrdup(c->course);
		e = tab_add(&m->rosters, k, m->p->n, &added);
		free(k);
		if (added)
			submit_roster(m, c->course_id, c->course, NULL,
			    (size_t)(e - m->rosters.e));
	}
}

/* --- phase 3 and 4: batches --- */

static const char *
batch_role(const struct change *c, enum kind k)
{
	return k == K_UNASSIGN && c->op == OP_UPDATE ? c->old_role : c->role;
}

static long long
batch_role_id(const struct change *c, enum kind k)
{
	return k == K_UNASSIGN && c->op == OP_UPDATE ? c->old_role_id :
	    c->role_id;
}

static void submit_batch(struct mctx *m, enum kind kind, const size_t *idx,
    size_t n);

static void
batch_free(struct batch *b)
{
	if (b != NULL) {
		free(b->idx);
		free(b);
	}
}

static void
batch_free_v(void *b)
{
	batch_free(b);
}

/* A change of kind k took effect. */
static void
applied(struct change *c, enum kind k, const char *how)
{
	const char *sep = how ? " " : "", *h = how ? how : "";

	if (k == K_ENROL && c->op == OP_UPDATE && c->old_role != NULL &&
	    strcmp(c->old_role, c->role) != 0) {
		c->step = 1;	/* phase 4 unassigns the old role */
		return;
	}
	if (k == K_UCREATE)
		change_ok(c, "user created%s%s", sep, h);
	else if (k == K_UUPDATE)
		change_ok(c, "user updated%s%s", sep, h);
	else if (k == K_ENROL && c->op == OP_DROP)
		change_ok(c, "suspended as %s%s%s", c->role, sep, h);
	else if (k == K_ENROL)
		change_ok(c, "%s as %s%s%s", c->op == OP_ADD ? "enrolled" :
		    "updated", c->role, sep, h);
	else if (k == K_UNENROL)
		change_ok(c, "unenrolled%s%s", sep, h);
	else if (c->op == OP_UPDATE)
		change_ok(c, "role changed from %s to %s%s%s", c->old_role,
		    c->role, sep, h);
	else
		change_ok(c, "role %s unassigned%s%s", c->role, sep, h);
}

static void
check_free(struct check *ck)
{
	for (size_t i = 0; i < ck->ncid; i++) {
		json_decref(ck->roster[i]);
		free(ck->err[i]);
	}
	free(ck->cid);
	free(ck->roster);
	free(ck->err);
	batch_free(ck->b);
	free(ck);
}

/* The fresh rosters are in: settle or re-send each change of the batch. */
static void
check_done(struct check *ck)
{
	struct batch *b = ck->b;
	struct mctx *m = b->m;
	size_t *again = ep_xcalloc(b->n, sizeof(*again)), na = 0;

	for (size_t i = 0; i < b->n; i++) {
		struct change *c = &m->p->ch[b->idx[i]];
		size_t s = 0;
		int st;
		bool in;

		while (ck->cid[s] != c->course_id)
			s++;
		if (ck->roster[s] == NULL) {
			change_failf(c, "the reply to %s was lost, and the "
			    "state check failed: %s", kind_fn[b->kind],
			    ck->err[s]);
			continue;
		}
		st = roster_state(ck->roster[s], c->user_id, batch_role(c,
		    b->kind), NULL);
		/* A roster does not show a suspension: a suspend (sent
		 * again harmlessly) is never taken as confirmed. */
		in = b->kind == K_ENROL ? st == 1 && c->op != OP_DROP :
		    b->kind == K_UNENROL ? st == -1 : st != 1;
		if (in)
			applied(c, b->kind, "(confirmed after a lost reply)");
		else if (c->resends++ < 1)
			again[na++] = b->idx[i];
		else
			change_failf(c, "%s: the reply was lost twice and the "
			    "change is not in effect", kind_fn[b->kind]);
	}
	if (na > 0)
		submit_batch(m, b->kind, again, na);
	free(again);
	check_free(ck);
}

/* The reply to batch b was lost: read its courses' rosters afresh. */
static void
start_check(struct batch *b)
{
	struct mctx *m = b->m;
	struct check *ck = ep_xcalloc(1, sizeof(*ck));

	ck->b = b;
	ck->cid = ep_xcalloc(b->n, sizeof(*ck->cid));
	ck->roster = ep_xcalloc(b->n, sizeof(*ck->roster));
	ck->err = ep_xcalloc(b->n, sizeof(*ck->err));
	for (size_t i = 0; i < b->n; i++) {
		long long cid = m->p->ch[b->idx[i]].course_id;
		size_t k;

		for (k = 0; k < ck->ncid && ck->cid[k] != cid; k++)
			;
		if (k == ck->ncid)
			ck->cid[ck->ncid++] = cid;
	}
	ck->pending = ck->ncid;
	ep_info(1, "%s: the reply was lost; reading %zu course roster(s) "
	    "before anything is sent again", kind_fn[b->kind], ck->ncid);
	for (size_t k = 0; k < ck->ncid; k++)
		submit_roster(m, ck->cid[k], NULL, ck, k);
}

/*
 * A user field of c: the record's, else the user value itself when
 * --user-field names that field.  NULL when neither.
 */
static const char *
ufield(const struct mctx *m, const struct change *c, const char *name)
{
	const char *s = ep_rec_str(c->rec, name);

	if (s != NULL && *s != '\0')
		return s;
	return strcmp(m->p->o->user_field, name) == 0 ? c->user : NULL;
}

/*
 * The reply to a user batch: core_user_create_users lists the users
 * created ({id, username}); core_user_update_users answers null or
 * {"warnings": [{item, itemid, warningcode, message}]}, a warning failing
 * the change of its user id.
 */
static void
user_replies(struct mctx *m, struct batch *b, json_t *j)
{
	json_t *warn = json_object_get(j, "warnings");

	for (size_t i = 0; i < b->n; i++) {
		struct change *c = &m->p->ch[b->idx[i]];
		const char *un = ufield(m, c, "username");
		const char *bad = NULL;
		char how[64] = "";

		for (size_t k = 0; b->kind == K_UCREATE &&
		    k < json_array_size(j); k++) {
			json_t *o = json_array_get(j, k);
			const char *s = json_string_value(json_object_get(o,
			    "username"));

			if (s != NULL && un != NULL && strcmp(s, un) == 0)
				snprintf(how, sizeof(how), "(id %"
				    JSON_INTEGER_FORMAT ")", json_integer_value(
				    json_object_get(o, "id")));
		}
		for (size_t k = 0; k < json_array_size(warn); k++) {
			json_t *o = json_array_get(warn, k);

			if (json_integer_value(json_object_get(o, "itemid")) ==
			    c->user_id)
				bad = json_string_value(json_object_get(o,
				    "message"));
		}
		if (bad != NULL)
			change_failf(c, "%s: %s", kind_fn[b->kind], bad);
		else
			applied(c, b->kind, how[0] ? how : NULL);
	}
}

static int
batch_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct batch *b = arg;
	struct mctx *m = b->m;
	struct ep_error err;
	json_t *j;

	(void)h;
	if (outcome_unknown(r) && b->kind >= K_UCREATE) {
		/* No roster tells whether a user call took effect: the
		 * changes fail rather than risk a second create. */
		for (size_t i = 0; i < b->n; i++)
			change_failf(&m->p->ch[b->idx[i]], "the reply to %s was "
			    "lost: whether it took effect is unknown; not sent "
			    "again", kind_fn[b->kind]);
		batch_free(b);
		return 0;
	}
	if (outcome_unknown(r)) {
		start_check(b);
		return 0;
	}
	j = ws_reply(r, kind_fn[b->kind], &err);
	if (j != NULL && b->kind >= K_UCREATE) {
		user_replies(m, b, j);
		json_decref(j);
		batch_free(b);
		return 0;
	}
	if (j != NULL) {
		for (size_t i = 0; i < b->n; i++)
			applied(&m->p->ch[b->idx[i]], b->kind, NULL);
		json_decref(j);
		batch_free(b);
		return 0;
	}
	if (err.code == EP_EXIT_DATAERR && b->n > 1) {
		/* One bad enrolment fails them all: find it. */
		ep_info(1, "%s; splitting the batch of %zu", err.msg, b->n);
		submit_batch(m, b->kind, b->idx, b->n / 2);
		submit_batch(m, b->kind, b->idx + b->n / 2, b->n - b->n / 2);
		batch_free(b);
		return 0;
	}
	if (err.code == EP_EXIT_DATAERR)
		err.code = EP_EXIT_DIFF;
	for (size_t i = 0; i < b->n; i++)
		if (change_fail(m->p, &m->p->ch[b->idx[i]], &err) < 0) {
			batch_free(b);
			return -1;
		}
	batch_free(b);
	return 0;
}

/* A form value: the id, or in a dry run a placeholder naming it. */
static const char *
idval(char *buf, size_t n, long long id, const char *what, const char *name)
{
	if (id > 0)
		snprintf(buf, n, "%lld", id);
	else
		snprintf(buf, n, "{%s %s}", what, name ? name : "?");
	return buf;
}

/*
 * The users[i][...] fields of a user batch.  A user to create gets
 * username, firstname, lastname, email, and idnumber and auth when known;
 * with no auth, or auth manual, Moodle makes the password and mails it
 * (createpassword=1): no password is ever sent.  An update sends the id
 * and the fields its record has.
 */
static void
user_form(struct mctx *m, struct ep_http_req *r, enum kind kind,
    const size_t *idx, size_t n)
{
	static const char *const fields[] = { "username", "firstname",
	    "lastname", "email", "idnumber", "auth", NULL };
	char v[300];

	for (size_t i = 0; i < n; i++) {
		struct change *c = &m->p->ch[idx[i]];
		const char *auth = ep_rec_str(c->rec, "auth");

		if (kind == K_UUPDATE)
			form_fmt(r, idval(v, sizeof(v), c->user_id, "user",
			    c->user), "users[%zu][id]", i);
		for (int k = 0; fields[k] != NULL; k++) {
			const char *s = kind == K_UCREATE ? ufield(m, c,
			    fields[k]) : ep_rec_str(c->rec, fields[k]);

			if (s != NULL && *s != '\0')
				form_fmt(r, s, "users[%zu][%s]", i, fields[k]);
		}
		if (kind == K_UCREATE && (auth == NULL || *auth == '\0' ||
		    strcmp(auth, "manual") == 0))
			form_fmt(r, "1", "users[%zu][createpassword]", i);
	}
}

static void
submit_batch(struct mctx *m, enum kind kind, const size_t *idx, size_t n)
{
	struct ep_http_req *r = ws_request(m->p, kind_fn[kind], false);
	struct batch *b = ep_xcalloc(1, sizeof(*b));
	const char *arr = kind == K_UNASSIGN ? "unassignments" : "enrolments";
	char v[300];

	b->m = m;
	b->kind = kind;
	b->n = n;
	b->idx = ep_xcalloc(n, sizeof(*b->idx));
	memcpy(b->idx, idx, n * sizeof(*idx));
	if (kind >= K_UCREATE) {
		user_form(m, r, kind, idx, n);
		submit(m, r, batch_done, b, batch_free_v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct change *c = &m->p->ch[idx[i]];

		if (kind != K_UNENROL)
			form_fmt(r, idval(v, sizeof(v), batch_role_id(c, kind),
			    "role", batch_role(c, kind)), "%s[%zu][roleid]",
			    arr, i);
		form_fmt(r, idval(v, sizeof(v), c->user_id, "user", c->user),
		    "%s[%zu][userid]", arr, i);
		idval(v, sizeof(v), c->course_id, "course", c->course);
		if (kind == K_UNASSIGN) {
			form_fmt(r, "course", "%s[%zu][contextlevel]", arr,
			    i);
			form_fmt(r, v, "%s[%zu][instanceid]", arr, i);
		} else {
			form_fmt(r, v, "%s[%zu][courseid]", arr, i);
		}
		if (kind == K_ENROL && c->op == OP_DROP)
			form_fmt(r, "1", "%s[%zu][suspend]", arr, i);
		else if (kind == K_ENROL && c->status != NULL &&
		    (strcmp(c->status, "suspended") == 0 ||
		    strcmp(c->status, "active") == 0))
			form_fmt(r, c->status[0] == 's' ? "1" : "0",
			    "%s[%zu][suspend]", arr, i);
	}
	submit(m, r, batch_done, b, batch_free_v);
}

/* Queue the changes of one kind in batches of --batch-size. */
static void
flush_list(struct mctx *m, enum kind kind, size_t *idx, size_t n)
{
	size_t bs = (size_t)m->p->o->batch;

	for (size_t i = 0; i < n; i += bs)
		submit_batch(m, kind, idx + i, n - i < bs ? n - i : bs);
}

/* Whether another change gives user uid a role in course cid. */
static bool
gets_other_role(struct push *p, const struct change *d)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct change *c = &p->ch[i];

		if (c != d && c->op != OP_DROP && c->course_id == d->course_id
		    && c->user_id == d->user_id)
			return true;
	}
	return false;
}

/* Decide what each change needs and send it (phase 3). */
static void
apply(struct mctx *m)
{
	struct push *p = m->p;
	size_t *lists[K_NKIND], nl[K_NKIND] = { 0 };

	for (int k = 0; k < K_NKIND; k++)
		lists[k] = ep_xcalloc(p->n + 1, sizeof(size_t));
	for (size_t i = 0; i < p->n; i++) {
		struct change *c = &p->ch[i];
		struct tent *re = NULL;
		enum kind kind = K_ENROL;

		if (c->done)
			continue;
		if (c->is_user) {
			kind = c->op == OP_ADD ? K_UCREATE : K_UUPDATE;
			lists[kind][nl[kind]++] = i;
			continue;
		}
		if (c->role_id == 0)
			c->role_id = role_lookup(m, c->role);
		c->old_role_id = role_lookup(m, c->old_role);
		if (!p->o->dry_run && needs_roster(m, c)) {
			char *k = id_key(c->course_id);

			re = &m->rosters.e[tab_find(&m->rosters, k)];
			free(k);
		}
		if (c->role != NULL && c->role_id == 0 && !p->o->dry_run) {
			change_failf(c, "unknown role '%s': give --role-id "
			    "%s=ID", c->role, c->role);
			continue;
		}
		if (c->old_role != NULL && c->old_role_id == 0 &&
		    c->op == OP_UPDATE && !p->o->dry_run &&
		    strcmp(c->old_role, c->role) != 0) {
			change_failf(c, "unknown role '%s': give --role-id "
			    "%s=ID", c->old_role, c->old_role);
			continue;
		}
		if (c->op == OP_DROP && re != NULL) {
			int others, st;

			if (re->roster == NULL) {
				change_failf(c, "%s", re->err);
				c->unreachable = re->id == -1;
				continue;
			}
			st = roster_state(re->roster, c->user_id, c->role,
			    &others);
			if (st == -1) {
				change_ok(c, "not enrolled: nothing to do");
				continue;
			}
			if (st == 0) {
				change_ok(c, "does not hold role %s: nothing "
				    "to do", c->role);
				continue;
			}
			/* A suspension is of the whole enrolment: a user
			 * who keeps or gains another role there loses only
			 * this one. */
			if (c->role != NULL && (others > 0 ||
			    gets_other_role(p, c)))
				kind = K_UNASSIGN;
			else
				kind = c->drop == EP_DROP_SUSPEND ? K_ENROL :
				    K_UNENROL;
		} else if (c->op == OP_DROP) {
			/* dry run */
			kind = c->drop == EP_DROP_SUSPEND ? K_ENROL : K_UNENROL;
		} else if (re != NULL && re->roster == NULL) {
			change_failf(c, "%s", re->err);
			c->unreachable = re->id == -1;
			continue;
		}
		lists[kind][nl[kind]++] = i;
	}
	for (int k = 0; k < K_NKIND; k++) {
		flush_list(m, (enum kind)k, lists[k], nl[k]);
		free(lists[k]);
	}
}

/* Phase 4: unassign the old role of every role change applied. */
static void
old_roles(struct mctx *m)
{
	size_t *idx = ep_xcalloc(m->p->n + 1, sizeof(*idx)), n = 0;

	for (size_t i = 0; i < m->p->n; i++) {
		struct change *c = &m->p->ch[i];

		if (!c->done && c->step == 1)
			idx[n++] = i;
		else if (m->p->o->dry_run && c->op == OP_UPDATE &&
		    !c->is_user &&
		    c->old_role != NULL && strcmp(c->old_role, c->role) != 0)
			idx[n++] = i;
	}
	flush_list(m, K_UNASSIGN, idx, n);
	free(idx);
}

int
moodle_push(struct push *p)
{
	struct mctx m;
	bool dry = p->o->dry_run;

	memset(&m, 0, sizeof(m));
	m.p = p;
	lookups(&m);
	if (!dry) {
		run_pool(p);
		if (p->fatal.code == 0)
			apply_lookups(&m);
	}
	if (p->fatal.code == 0) {
		rosters(&m);
		if (!dry)
			run_pool(p);
	}
	if (p->fatal.code == 0) {
		apply(&m);
		if (!dry)
			run_pool(p);
	}
	if (p->fatal.code == 0) {
		old_roles(&m);
		if (!dry)
			run_pool(p);
	}
	tab_free(&m.courses);
	tab_free(&m.users);
	tab_free(&m.rosters);
	tab_free(&m.roles);
	return 0;
}
