/*
 * fmt.c - the writers behind conduit-fmt --to FORMAT.  The man page,
 * man/conduit-fmt.1, is the reference for every column and value rule;
 * the comments here give the reasons.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "dat.h"
#include "fmt.h"
#include "keyval.h"
#include "policy.h"

enum op { OP_ADD, OP_DROP, OP_UPDATE };

static const char *const target_names[] = {
	"conduit", "canvas", "moodle-flatfile", "oneroster",
	"clever-sections", "dat", "csv", "ndjson",
	"conduit-users", "canvas-users",
	/* roster.c: the other Clever files, the OneRoster package files */
	"clever-schools", "clever-students", "clever-teachers",
	"clever-enrollments", "oneroster-orgs", "oneroster-academicsessions",
	"oneroster-courses", "oneroster-classes", "oneroster-users"
};
static const char *const target_ext[] = {
	"csv", "csv", "txt", "csv", "csv", "dat", "csv", "ndjson",
	"csv", "csv",
	"csv", "csv", "csv", "csv", "csv", "csv", "csv", "csv", "csv"
};

static const char *const conduit_cols[] = {
	"action", "shortname", "idnumber", "role"
};
static const char *const canvas_cols[] = {
	"course_id", "user_id", "role", "section_id", "status"
};
static const char *const conduit_user_cols[] = {
	"action", "username", "idnumber", "firstname", "lastname", "email"
};
static const char *const canvas_user_cols[] = {
	"user_id", "login_id", "first_name", "last_name", "email", "status"
};
static const char *const oneroster_cols[] = {
	"sourcedId", "status", "dateLastModified", "classSourcedId",
	"schoolSourcedId", "userSourcedId", "role", "primary", "beginDate",
	"endDate"
};
static const char *const clever_cols[] = {
	"School_id", "Section_id", "Teacher_id", "Teacher_2_id",
	"Teacher_3_id", "Teacher_4_id", "Teacher_5_id", "Teacher_6_id",
	"Teacher_7_id", "Teacher_8_id", "Teacher_9_id", "Teacher_10_id",
	"Course_name", "Course_number", "Section_number", "Period", "Subject",
	"Grade", "Term_start", "Term_end", "Term_name"
};
#define NCLEVER (sizeof(clever_cols) / sizeof(clever_cols[0]))
#define MAX_TEACHERS 10

/* OneRoster 1.1 roleType vocabulary. */
static const char *const oneroster_roles[] = {
	"administrator", "aide", "guardian", "parent", "proctor", "relative",
	"student", "teacher"
};

/* Clever's section subject values (dev.clever.com/docs/sections). */
static const char *const clever_subjects[] = {
	"english/language arts", "math", "science", "social studies",
	"language", "homeroom/advisory", "interventions/online learning",
	"technology and engineering", "PE and health", "arts and music",
	"other"
};

/*
 * The same subjects as D118-CleverSections spelled them (capitalised,
 * "other" not), for --subject-spelling d118; in the order above.
 */
static const char *const d118_subjects[] = {
	"English/language arts", "Math", "Science", "Social studies",
	"Language", "Homeroom/advisory", "Interventions/online learning",
	"Technology and engineering", "PE and health", "Arts and music",
	"other"
};

/* Clever's named grade values; numbers 1-13 are the others. */
static const char *const clever_grades[] = {
	"InfantToddler", "Preschool", "PreKindergarten",
	"TransitionalKindergarten", "Kindergarten", "PostGraduate",
	"Ungraded", "Other"
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NELEM(target_names) == T_NTARGETS &&
    NELEM(target_ext) == T_NTARGETS, "a name and an extension per target");

int
fmt_target(const char *name)
{
	for (size_t i = 0; i < NELEM(target_names); i++)
		if (strcmp(name, target_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
fmt_name(enum target t)
{
	return target_names[t];
}

const char *
fmt_ext(enum target t)
{
	return target_ext[t];
}

const char *
in_list(const char *s, const char *const *list, size_t n, bool nocase)
{
	for (size_t i = 0; i < n; i++)
		if ((nocase ? strcasecmp(s, list[i]) : strcmp(s, list[i])) == 0)
			return list[i];
	return NULL;
}

/* --- maps ------------------------------------------------------------ */

struct kvmap *
kvmap_load(const char *path, bool subjects, struct ep_error *err)
{
	json_error_t je;
	json_t *root;
	struct kvmap *m;
	const char *key;
	json_t *val;
	FILE *fp;

	fp = fopen(path, "r");
	if (fp == NULL) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_IOERR, "cannot open '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	root = json_loadf(fp, JSON_REJECT_DUPLICATES, &je);
	fclose(fp);
	if (root == NULL) {
		ep_error_set(err, EP_EXIT_CONFIG, "%s:%d: %s", path, je.line,
		    je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		ep_error_set(err, EP_EXIT_CONFIG, "%s: not a JSON object of "
		    "names, like {\"STU\": \"student\"}", path);
		json_decref(root);
		return NULL;
	}
	m = ep_xcalloc(1, sizeof(*m));
	m->path = ep_xstrdup(path);
	m->k = ep_xcalloc(json_object_size(root) + 1, sizeof(char *));
	m->v = ep_xcalloc(json_object_size(root) + 1, sizeof(char *));
	json_object_foreach(root, key, val) {
		const char *s = json_string_value(val), *canon = NULL;

		if (s == NULL) {
			ep_error_set(err, EP_EXIT_CONFIG, "%s: entry '%s': "
			    "the value is not a string", path, key);
			goto bad;
		}
		if (subjects) {
			canon = *s == '\0' ? "" : in_list(s, clever_subjects,
			    NELEM(clever_subjects), true);
			if (canon == NULL) {
				ep_error_set(err, EP_EXIT_CONFIG, "%s: entry "
				    "'%s': '%s' is not a Clever subject", path,
				    key, s);
				goto bad;
			}
		}
		m->k[m->n] = ep_xstrdup(key);
		m->v[m->n++] = ep_xstrdup(canon ? canon : s);
	}
	json_decref(root);
	return m;
bad:
	json_decref(root);
	kvmap_free(m);
	return NULL;
}

void
kvmap_free(struct kvmap *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->k[i]);
		free(m->v[i]);
	}
	free(m->k);
	free(m->v);
	free(m->path);
	free(m);
}

static const char *
kvmap_get(const struct kvmap *m, const char *key, bool nocase)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->k[i], key) == 0)
			return m->v[i];
	if (nocase)
		for (size_t i = 0; i < m->n; i++)
			if (strcasecmp(m->k[i], key) == 0)
				return m->v[i];
	return NULL;
}

/* --- helpers --------------------------------------------------------- */

/* Fill err with "NAME:LINE: message" for the current record; -1. */
int
bad(const struct ctx *c, struct ep_error *err, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: %s", c->in_name,
	    c->in_line, msg);
	return -1;
}

/* A non-empty value of name, or NULL. */
const char *
opt_val(const struct ep_rec *r, const char *name)
{
	const char *v = ep_rec_str(r, name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* The first non-empty value of any of names (NULL-terminated list). */
static const char *
alias_val(const struct ep_rec *r, const char *const *names)
{
	const char *v;

	for (; *names; names++)
		if ((v = opt_val(r, *names)) != NULL)
			return v;
	return NULL;
}

/* A required value: NULL with err "missing field 'NAME'". */
static const char *
need(const struct ctx *c, const struct ep_rec *r, const char *name,
    struct ep_error *err)
{
	const char *v = opt_val(r, name);

	if (v == NULL)
		bad(c, err, "missing field '%s'", name);
	return v;
}

static int
get_op(const struct ctx *c, const struct ep_rec *r, enum op *op, bool *has,
    struct ep_error *err)
{
	const char *v = opt_val(r, "op");

	*has = v != NULL;
	if (v == NULL || strcmp(v, "add") == 0)
		*op = OP_ADD;
	else if (strcmp(v, "drop") == 0)
		*op = OP_DROP;
	else if (strcmp(v, "update") == 0)
		*op = OP_UPDATE;
	else
		return bad(c, err, "field 'op': unknown value '%s' (add, "
		    "drop or update)", v);
	return 0;
}

/*
 * Map a role through --role-map and, for OneRoster, check it against the
 * 1.1 vocabulary.  1 with *out set, 0 when the record is to be skipped
 * (--skip-unmapped, counted), -1 with err.
 */
static int
map_role(struct ctx *c, const char *field, const char *role,
    const char **out, struct ep_error *err)
{
	const char *m = role;

	if (c->roles != NULL) {
		m = kvmap_get(c->roles, role, false);
		if (m == NULL) {
			if (c->skip_unmapped) {
				c->nunmapped++;
				return 0;
			}
			return bad(c, err, "field '%s': role '%s' has no "
			    "mapping in '%s'", field, role, c->roles->path);
		}
	}
	if (c->to == T_ONEROSTER && in_list(m, oneroster_roles,
	    NELEM(oneroster_roles), false) == NULL) {
		if (c->skip_unmapped) {
			c->nunmapped++;
			return 0;
		}
		return bad(c, err, "field '%s': '%s' is not a OneRoster 1.1 "
		    "role (administrator, aide, guardian, parent, proctor, "
		    "relative, student, teacher)%s", field, m,
		    c->roles ? "" : "; map it with --role-map");
	}
	*out = m;
	return 1;
}

static int
write_check(const struct ctx *c, struct ep_error *err)
{
	if (ferror(c->fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "write error: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The heading of column col: --heading-map's, else its own name. */
static const char *
heading(const struct ctx *c, const char *col)
{
	const char *h = c->headings ? kvmap_get(c->headings, col, false) :
	    NULL;

	return h != NULL ? h : col;
}

/* One CSV row of n values (NULL is empty), after the header if needed. */
void
csv_row(struct ctx *c, const char *const *hdr, const char *const *v,
    size_t n)
{
	FILE *fp = c->fp;

	if (!c->header_done) {
		for (size_t i = 0; i < n; i++) {
			if (i)
				putc_unlocked(',', fp);
			ep_csv_put_field(fp, heading(c, hdr[i]),
			    strlen(heading(c, hdr[i])), false);
		}
		putc_unlocked('\n', fp);
		c->header_done = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			putc_unlocked(',', fp);
		if (v[i] != NULL)
			ep_csv_put_field(fp, v[i], strlen(v[i]), c->csv_safe);
	}
	putc_unlocked('\n', fp);
	c->nout++;
}

/* --- drop policy ----------------------------------------------------- */

/*
 * The drop policy of r (enroll-diff writes drop_policy on a drop; see
 * policy.h): unenrol when absent, -1 with err when unknown, keep (a drop
 * that is none), or when the target has no form for it.  Only Canvas can suspend (inactive) or
 * conclude (completed) in a file; Conduit (FORMATS.md B1 knows no status
 * column), Moodle's flat file ('del') and OneRoster have only removal,
 * and writing a suspend as a removal would unenrol students the site
 * meant to keep: such a drop is refused, to go through lms-push.
 */
static int
drop_policy(const struct ctx *c, const struct ep_rec *r,
    enum ep_drop_policy *p, struct ep_error *err)
{
	const char *v = opt_val(r, "drop_policy");

	*p = v == NULL ? EP_DROP_UNENROL : ep_drop_policy_parse(v);
	if (*p == EP_DROP_BAD)
		return bad(c, err, "field 'drop_policy': unknown value '%s' "
		    "(" EP_DROP_POLICY_WORDS ")", v);
	if (*p == EP_DROP_KEEP)
		return bad(c, err, "field 'drop_policy': a drop under keep "
		    "is no change (enroll-diff leaves them out)");
	if (*p == EP_DROP_UNENROL || c->to == T_CANVAS)
		return 0;
	return bad(c, err, "field 'drop_policy': a %s drop has no %s form "
	    "(a drop there removes the enrollment); apply it with lms-push",
	    ep_drop_policy_name(*p), target_names[c->to]);
}

/* --- conduit --------------------------------------------------------- */

/*
 * Conduit enrolment lines: action add|drop, as the mdlpipeline file.  A
 * role change is a drop of the old role and an add of the new one; an
 * update without one has no Conduit form and is counted.
 */
static int
conduit_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	const char *course, *user, *role, *old = NULL, *mrole, *mold = NULL;
	const char *v[4];
	enum op op;
	bool has;
	int k;

	if (get_op(c, r, &op, &has, err) < 0 ||
	    (course = need(c, r, "course", err)) == NULL ||
	    (user = need(c, r, "user", err)) == NULL ||
	    (role = need(c, r, "role", err)) == NULL)
		return -1;
	if (op == OP_UPDATE) {
		old = opt_val(r, "old_role");
		if (old == NULL || strcmp(old, role) == 0) {
			c->nnoform++;
			return 0;
		}
		if ((k = map_role(c, "old_role", old, &mold, err)) <= 0)
			return k;
	}
	if ((k = map_role(c, "role", role, &mrole, err)) <= 0)
		return k;
	if (mold != NULL && strcmp(mold, mrole) == 0) {
		/* Two SIS roles, one LMS role: nothing changes there. */
		c->nnoform++;
		return 0;
	}
	v[1] = course;
	v[2] = user;
	if (op == OP_UPDATE) {
		v[0] = "drop";
		v[3] = mold;
		csv_row(c, conduit_cols, v, 4);
	}
	v[0] = op == OP_DROP ? "drop" : "add";
	v[3] = mrole;
	csv_row(c, conduit_cols, v, 4);
	return 0;
}

/* --- canvas ---------------------------------------------------------- */

/*
 * Canvas enrollments.csv.  add: active (or the record's status when it is
 * completed or inactive); drop: deleted; update: the record's Canvas
 * status, else active, plus a deleted row for the old role.
 */
static int
canvas_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	static const char *const statuses[] = {
		"active", "completed", "inactive", "deleted"
	};
	const char *course, *section, *user, *role, *old, *mrole, *mold = NULL;
	const char *st, *v[5];
	enum op op;
	bool has;
	int k;

	if (get_op(c, r, &op, &has, err) < 0)
		return -1;
	course = opt_val(r, "course");
	section = opt_val(r, "lms_section");
	if (section == NULL && opt_val(r, "section") != NULL) {
		static bool warned;

		/* sis-extract's 'section' is the SIS's section number:
		 * posted as a Canvas section it named the wrong one. */
		if (!warned)
			ep_warn("field 'section' (the SIS section) is not a "
			    "Canvas section: put the Canvas SIS section id in "
			    "'lms_section'; enrolling in the course");
		warned = true;
	}
	if (course == NULL && section == NULL)
		return bad(c, err, "missing field 'course' (Canvas needs a "
		    "course_id or a section_id)");
	if ((user = need(c, r, "user", err)) == NULL ||
	    (role = need(c, r, "role", err)) == NULL)
		return -1;
	old = op == OP_UPDATE ? opt_val(r, "old_role") : NULL;
	if (old != NULL && strcmp(old, role) == 0)
		old = NULL;
	if (old != NULL && (k = map_role(c, "old_role", old, &mold, err)) <= 0)
		return k;
	if ((k = map_role(c, "role", role, &mrole, err)) <= 0)
		return k;
	if (old != NULL && strcmp(mold, mrole) == 0)
		old = NULL;
	st = opt_val(r, "status");
	st = st ? in_list(st, statuses, NELEM(statuses), true) : NULL;
	if (op == OP_DROP) {
		enum ep_drop_policy p;

		if (drop_policy(c, r, &p, err) < 0)
			return -1;
		st = p == EP_DROP_SUSPEND ? "inactive" :
		    p == EP_DROP_CONCLUDE ? "completed" : "deleted";
	}
	else if (st == NULL || (op == OP_ADD && strcmp(st, "deleted") == 0))
		st = "active";
	v[0] = course;
	v[1] = user;
	v[3] = section;
	if (old != NULL) {
		v[2] = mold;
		v[4] = "deleted";
		csv_row(c, canvas_cols, v, 5);
	}
	v[2] = mrole;
	v[4] = st;
	csv_row(c, canvas_cols, v, 5);
	return 0;
}

/* --- users --------------------------------------------------------- */

/*
 * A user provisioning row (#22): Conduit's user file (action create,
 * update or delete; its headings site-mapped like the enrolment file's)
 * or Canvas users.csv (status active or deleted).  The record is a
 * person: user (the SIS id: Moodle idnumber, Canvas SIS user_id),
 * username (Canvas login_id), firstname, lastname, email.  A drop, the
 * deletion of an account, is written only because enroll-diff was asked
 * for drops of users: sync-enrollments never asks by default.
 */
static int
user_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	const char *v[6], *user, *uname, *first = NULL, *last = NULL;
	const char *email = NULL;
	enum op op;
	bool has;

	if (get_op(c, r, &op, &has, err) < 0 ||
	    (user = need(c, r, "user", err)) == NULL ||
	    (uname = need(c, r, "username", err)) == NULL)
		return -1;
	if (op != OP_DROP && ((first = need(c, r, "firstname", err)) == NULL ||
	    (last = need(c, r, "lastname", err)) == NULL ||
	    (email = need(c, r, "email", err)) == NULL))
		return -1;
	if (op == OP_DROP) {
		first = opt_val(r, "firstname");
		last = opt_val(r, "lastname");
		email = opt_val(r, "email");
	}
	if (c->to == T_CONDUIT_USERS) {
		v[0] = op == OP_ADD ? "create" : op == OP_UPDATE ? "update" :
		    "delete";
		v[1] = uname;
		v[2] = user;
		v[3] = first;
		v[4] = last;
		v[5] = email;
		csv_row(c, conduit_user_cols, v, 6);
		return 0;
	}
	v[0] = user;
	v[1] = uname;
	v[2] = first;
	v[3] = last;
	v[4] = email;
	v[5] = op == OP_DROP ? "deleted" : "active";
	csv_row(c, canvas_user_cols, v, 6);
	return 0;
}

bool
fmt_has_headings(enum target t)
{
	return t == T_CONDUIT || t == T_CONDUIT_USERS;
}

const char *
fmt_heading_unknown(enum target t, const struct kvmap *m)
{
	const char *const *cols = t == T_CONDUIT ? conduit_cols :
	    conduit_user_cols;
	size_t n = t == T_CONDUIT ? NELEM(conduit_cols) :
	    NELEM(conduit_user_cols);

	for (size_t i = 0; i < m->n; i++)
		if (in_list(m->k[i], cols, n, false) == NULL)
			return m->k[i];
	return NULL;
}

/* --- dates ----------------------------------------------------------- */

/* Read YYYY-MM-DD at the start of s (a time part may follow). */
static bool
read_ymd(const char *s, int *y, int *m, int *d, const char **rest)
{
	int n = 0;

	if (sscanf(s, "%4d-%2d-%2d%n", y, m, d, &n) != 3 || n != 10 ||
	    *m < 1 || *m > 12 || *d < 1 || *d > 31)
		return false;
	if (s[10] != '\0' && s[10] != 'T' && s[10] != ' ')
		return false;
	*rest = s + 10;
	return true;
}

/*
 * A date or time as Unix seconds (Moodle's flat file): digits are taken
 * as seconds already; YYYY-MM-DD is midnight UTC; YYYY-MM-DDTHH:MM:SSZ.
 */
static bool
read_epoch(const char *s, long long *out)
{
	int y, m, d, hh = 0, mi = 0, ss = 0, n = 0;
	const char *rest;
	struct tm tm = { 0 };
	char *end;

	if (isdigit((unsigned char)*s) && strlen(s) < 12) {
		errno = 0;
		*out = strtoll(s, &end, 10);
		if (*end == '\0' && errno == 0)
			return true;
	}
	if (!read_ymd(s, &y, &m, &d, &rest))
		return false;
	if (*rest != '\0' && (sscanf(rest, "%*1[T ]%2d:%2d:%2d%n", &hh, &mi,
	    &ss, &n) != 3 || (strcmp(rest + n, "Z") != 0 &&
	    strcmp(rest + n, "") != 0)))
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = hh;
	tm.tm_min = mi;
	tm.tm_sec = ss;
	*out = (long long)timegm(&tm);
	return true;
}

/* --- moodle flat file ------------------------------------------------ */

/*
 * Moodle's enrol_flatfile splits each line on ',' and trims the fields;
 * there is no quoting, so a value with a comma or a line break cannot be
 * written and is refused rather than silently split.
 */
static int
flat_check(const struct ctx *c, const char *name, const char *v,
    struct ep_error *err)
{
	if (strpbrk(v, ",\r\n") != NULL)
		return bad(c, err, "field '%s': '%s' holds a comma or a line "
		    "break, which a Moodle flat file cannot carry", name, v);
	return 0;
}

static int
flat_time(const struct ctx *c, const struct ep_rec *r, const char *name,
    const char *alt, long long *t, bool *has, struct ep_error *err)
{
	const char *v = opt_val(r, name);

	if (v == NULL)
		v = opt_val(r, alt);
	*has = v != NULL;
	if (v != NULL && !read_epoch(v, t))
		return bad(c, err, "field '%s': cannot read '%s' as a date "
		    "(YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix seconds)",
		    opt_val(r, name) ? name : alt, v);
	return 0;
}

static void
flat_line(struct ctx *c, const char *op, const char *role, const char *user,
    const char *course, bool times, long long t0, long long t1)
{
	fprintf(c->fp, "%s,%s,%s,%s", op, role, user, course);
	if (times)
		fprintf(c->fp, ",%lld,%lld", t0, t1);
	putc_unlocked('\n', c->fp);
	c->nout++;
}

static int
flatfile_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	const char *course, *user, *role, *old = NULL, *mrole, *mold = NULL;
	long long t0 = 0, t1 = 0;
	bool has, h0, h1;
	enum op op;
	int k;

	if (get_op(c, r, &op, &has, err) < 0 ||
	    (course = need(c, r, "course", err)) == NULL ||
	    (user = need(c, r, "user", err)) == NULL ||
	    (role = need(c, r, "role", err)) == NULL)
		return -1;
	if (flat_check(c, "course", course, err) < 0 ||
	    flat_check(c, "user", user, err) < 0 ||
	    flat_time(c, r, "start_date", "timestart", &t0, &h0, err) < 0 ||
	    flat_time(c, r, "end_date", "timeend", &t1, &h1, err) < 0)
		return -1;
	if (op == OP_UPDATE) {
		old = opt_val(r, "old_role");
		if (old == NULL || strcmp(old, role) == 0) {
			c->nnoform++;
			return 0;
		}
		if ((k = map_role(c, "old_role", old, &mold, err)) <= 0)
			return k;
		if (flat_check(c, "old_role", mold, err) < 0)
			return -1;
	}
	if ((k = map_role(c, "role", role, &mrole, err)) <= 0)
		return k;
	if (flat_check(c, "role", mrole, err) < 0)
		return -1;
	if (mold != NULL && strcmp(mold, mrole) == 0) {
		c->nnoform++;
		return 0;
	}
	if (op == OP_UPDATE)
		flat_line(c, "del", mold, user, course, false, 0, 0);
	flat_line(c, op == OP_DROP ? "del" : "add", mrole, user, course,
	    op != OP_DROP && (h0 || h1), t0, t1);
	return 0;
}

/* --- oneroster ------------------------------------------------------- */

/* A YYYY-MM-DD date from a date or ISO datetime; NULL if unreadable. */
bool
iso_date(const char *s, char out[11])
{
	int y, m, d;
	const char *rest;

	if (!read_ymd(s, &y, &m, &d, &rest))
		return false;
	snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
	return true;
}

/*
 * A stable sourcedId for an enrollment given without one: FNV-1a 64 of
 * class, user and role, so the same enrollment gets the same id in every
 * delta file and a later tobedeleted row names the row that added it.
 */
static void
make_sourced_id(const char *cls, const char *user, const char *role,
    char out[24])
{
	const char *parts[3] = { cls, user, role };
	uint64_t h = 1469598103934665603ULL;

	for (int i = 0; i < 3; i++) {
		for (const unsigned char *p = (const unsigned char *)parts[i];
		    *p; p++) {
			h ^= *p;
			h *= 1099511628211ULL;
		}
		h ^= 0x1f;
		h *= 1099511628211ULL;
	}
	snprintf(out, 24, "enr-%016llx", (unsigned long long)h);
}

static int
oneroster_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	static const char *const class_f[] = { "class", "course", NULL };
	static const char *const begin_f[] = { "beginDate", "start_date", NULL };
	static const char *const end_f[] = { "endDate", "end_date", NULL };
	const char *cls, *school, *user, *role, *old, *mrole, *mold = NULL;
	const char *prim, *b, *e, *v[10];
	char sid[24], osid[24], bd[11] = "", ed[11] = "";
	enum op op;
	bool has;
	int k;

	if (get_op(c, r, &op, &has, err) < 0)
		return -1;
	if (c->delta < 0)
		c->delta = has;
	else if (c->delta != has)
		return bad(c, err, "%s: a OneRoster file is either bulk (no "
		    "'op') or delta (every record has 'op'), not both",
		    has ? "record has 'op' after records without"
		    : "record lacks 'op' after change records");
	if ((cls = alias_val(r, class_f)) == NULL)
		return bad(c, err, "missing field 'course' (or 'class')");
	if ((school = need(c, r, "school", err)) == NULL ||
	    (user = need(c, r, "user", err)) == NULL ||
	    (role = need(c, r, "role", err)) == NULL)
		return -1;
	prim = opt_val(r, "primary");
	if (prim != NULL) {
		if (strcasecmp(prim, "true") == 0)
			prim = "true";
		else if (strcasecmp(prim, "false") == 0)
			prim = "false";
		else
			return bad(c, err, "field 'primary': '%s' is not "
			    "true or false", prim);
	}
	if ((b = alias_val(r, begin_f)) != NULL && !iso_date(b, bd))
		return bad(c, err, "field 'beginDate': cannot read '%s' as "
		    "YYYY-MM-DD", b);
	if ((e = alias_val(r, end_f)) != NULL && !iso_date(e, ed))
		return bad(c, err, "field 'endDate': cannot read '%s' as "
		    "YYYY-MM-DD", e);
	old = op == OP_UPDATE ? opt_val(r, "old_role") : NULL;
	if (old != NULL && strcmp(old, role) == 0)
		old = NULL;
	if (old != NULL && (k = map_role(c, "old_role", old, &mold, err)) <= 0)
		return k;
	if ((k = map_role(c, "role", role, &mrole, err)) <= 0)
		return k;
	if (old != NULL && strcmp(mold, mrole) == 0)
		old = NULL;

	v[0] = opt_val(r, "sourcedId");
	if (v[0] == NULL) {
		make_sourced_id(cls, user, mrole, sid);
		v[0] = sid;
	}
	v[1] = !has ? NULL : op == OP_DROP ? "tobedeleted" : "active";
	v[2] = NULL;
	if (has) {
		v[2] = opt_val(r, "dateLastModified");
		if (v[2] == NULL)
			v[2] = c->now_iso;
	}
	v[3] = cls;
	v[4] = school;
	v[5] = user;
	v[7] = prim;
	v[8] = bd[0] ? bd : NULL;
	v[9] = ed[0] ? ed : NULL;
	if (old != NULL) {
		const char *keep = v[0];

		make_sourced_id(cls, user, mold, osid);
		v[0] = osid;
		v[1] = "tobedeleted";
		v[6] = mold;
		csv_row(c, oneroster_cols, v, 10);
		v[0] = keep;
		v[1] = "active";
	}
	v[6] = mrole;
	csv_row(c, oneroster_cols, v, 10);
	return 0;
}

/* --- clever sections ------------------------------------------------- */

static uint64_t
str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Add s; false when it was there already. */
bool
strset_add(struct strset *set, const char *s)
{
	size_t i;

	if (set->n * 2 >= set->cap) {
		struct strset big = { 0 };

		big.cap = set->cap ? set->cap * 2 : 256;
		big.slot = ep_xcalloc(big.cap, sizeof(char *));
		for (i = 0; i < set->cap; i++)
			if (set->slot[i] != NULL) {
				size_t j = str_hash(set->slot[i]) &
				    (big.cap - 1);

				while (big.slot[j] != NULL)
					j = (j + 1) & (big.cap - 1);
				big.slot[j] = set->slot[i];
			}
		big.n = set->n;
		free(set->slot);
		*set = big;
	}
	i = str_hash(s) & (set->cap - 1);
	while (set->slot[i] != NULL) {
		if (strcmp(set->slot[i], s) == 0)
			return false;
		i = (i + 1) & (set->cap - 1);
	}
	set->slot[i] = ep_xstrdup(s);
	set->n++;
	return true;
}

void
strset_free(struct strset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
}

/* The section being gathered: its first record and its teachers. */
struct clever {
	struct ep_rec *first;
	char *name;			/* where it began */
	unsigned long line;
	char **teachers;
	size_t nteachers, cap;
	bool open;
	struct strset seen;
};

static const char *const school_f[] = { "school", "school_id", "School_id",
	NULL };
static const char *const section_f[] = { "section", "section_id",
	"Section_id", NULL };
static const char *const teacher_f[] = { "teacher", "teacher_id",
	"Teacher_id", NULL };

static void
add_teacher(struct clever *cl, const char *t, size_t len)
{
	for (size_t i = 0; i < cl->nteachers; i++)
		if (strlen(cl->teachers[i]) == len &&
		    memcmp(cl->teachers[i], t, len) == 0)
			return;
	if (cl->nteachers == cl->cap) {
		cl->cap = cl->cap ? cl->cap * 2 : 16;
		cl->teachers = ep_xrealloc(cl->teachers,
		    cl->cap * sizeof(char *));
	}
	cl->teachers[cl->nteachers++] = ep_xstrndup(t, len);
}

/* Gather the teachers a record names, in order. */
static int
clever_teachers(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	const struct ep_field *f;
	const char *v;
	char name[32];

	if ((v = alias_val(r, teacher_f)) != NULL)
		add_teacher(c->cl, v, strlen(v));
	for (int i = 2; i <= MAX_TEACHERS; i++) {
		snprintf(name, sizeof(name), "Teacher_%d_id", i);
		if ((v = opt_val(r, name)) != NULL)
			add_teacher(c->cl, v, strlen(v));
	}
	f = ep_rec_get(r, "teachers");
	if (f == NULL || f->type == EP_T_NULL)
		return 0;
	if (f->type == EP_T_STR) {
		/* Comma-separated text, as a CSV cell would hold it. */
		const char *p = f->val, *s;
		size_t n;

		while (ep_list_next(&p, &s, &n))
			if (n > 0)
				add_teacher(c->cl, s, n);
		return 0;
	}
	{
		json_t *a = json_loads(f->val, JSON_DECODE_ANY, NULL);
		size_t i;
		json_t *it;

		if (!json_is_array(a)) {
			json_decref(a);
			return bad(c, err, "field 'teachers': not a list of "
			    "teacher ids");
		}
		json_array_foreach(a, i, it) {
			const char *s = json_string_value(it);
			char num[32];

			if (json_is_integer(it)) {
				snprintf(num, sizeof(num), "%lld",
				    (long long)json_integer_value(it));
				s = num;
			}
			if (s == NULL) {
				json_decref(a);
				return bad(c, err, "field 'teachers': item "
				    "%zu is not a teacher id", i + 1);
			}
			if (*s)
				add_teacher(c->cl, s, strlen(s));
		}
		json_decref(a);
	}
	return 0;
}

static bool
school_two_digit(const struct ctx *c, const char *school)
{
	if (!c->two_digit_set)
		return true;
	for (size_t i = 0; i < c->ntwo; i++)
		if (strcmp(c->two_digit[i], school) == 0)
			return true;
	return false;
}

/*
 * Split the digits of a multi-grade number into grades 1-12 in strictly
 * increasing order (345 -> 3,4,5; 68 -> 6,8; 912 -> 9,12; 1012 -> 10,12)
 * and return the first and last through lo and hi.  D118 took the first
 * and last digit, which wrote 912 as "9-2".
 */
static bool
split_grades(const char *s, int prev, int count, int *lo, int *hi)
{
	if (*s == '\0') {
		*hi = prev;
		return count >= 2;
	}
	for (int len = 1; len <= 2 && s[len - 1] != '\0'; len++) {
		int g = s[0] - '0';

		if (len == 2)
			g = g * 10 + (s[1] - '0');
		if (s[0] == '0' || g < 1 || g > 12 || g <= prev)
			continue;
		if (split_grades(s + len, g, count + 1, lo, hi)) {
			if (count == 0)
				*lo = g;
			return true;
		}
	}
	return false;
}

/* The Clever Grade for a grade value; false when it cannot be read. */
static bool
clever_grade(const struct ctx *c, const char *school, const char *v,
    char *out, size_t outsz)
{
	const char *named;
	char digits[24];
	long n;
	char *end;
	int lo, hi;

	if (v == NULL) {
		*out = '\0';
		return true;
	}
	if ((named = in_list(v, clever_grades, NELEM(clever_grades), true))) {
		snprintf(out, outsz, "%s", named);
		return true;
	}
	if (sscanf(v, "%d-%d", &lo, &hi) == 2 && strchr(v, '-') != v) {
		/* Already a range "3-5" or "9-12". */
		snprintf(digits, sizeof(digits), "%d-%d", lo, hi);
		if (strcmp(digits, v) == 0 && lo >= 1 && hi <= 12 && lo < hi) {
			snprintf(out, outsz, "%s", v);
			return true;
		}
		return false;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end != '\0')
		return false;
	if (n < 0)
		snprintf(out, outsz, "Preschool");
	else if (n == 0)
		snprintf(out, outsz, "Kindergarten");
	else if (n <= 9 || (n <= 12 && school_two_digit(c, school)))
		snprintf(out, outsz, "%ld", n);
	else {
		snprintf(digits, sizeof(digits), "%ld", n);
		if (!split_grades(digits, 0, 0, &lo, &hi))
			return false;
		snprintf(out, outsz, "%d-%d", lo, hi);
	}
	return true;
}

/* MM/DD/YYYY from YYYY-MM-DD[...] or M/D/YYYY; false if unreadable. */
bool
clever_date(const char *v, char out[11])
{
	int y, m, d, n = 0;
	const char *rest;

	if (read_ymd(v, &y, &m, &d, &rest) ||
	    (sscanf(v, "%2d/%2d/%4d%n", &m, &d, &y, &n) == 3 &&
	    v[n] == '\0' && m >= 1 && m <= 12 && d >= 1 && d <= 31 &&
	    y >= 1000)) {
		snprintf(out, 11, "%02d/%02d/%04d", m, d, y);
		return true;
	}
	return false;
}

/* s, a Clever subject as Clever spells it, in the chosen spelling. */
static const char *
subject_spelling(const struct ctx *c, const char *s)
{
	if (c->d118_subjects)
		for (size_t i = 0; i < NELEM(clever_subjects); i++)
			if (s == clever_subjects[i] ||
			    strcmp(s, clever_subjects[i]) == 0)
				return d118_subjects[i];
	return s;
}

static const char *
clever_subject(struct ctx *c, const char *v)
{
	const char *s;

	if (v == NULL)
		return "";
	if ((s = in_list(v, clever_subjects, NELEM(clever_subjects), true)))
		return subject_spelling(c, s);
	if (c->subjects && (s = kvmap_get(c->subjects, v, true)) != NULL)
		return subject_spelling(c, s);
	c->nblank_subject++;
	ep_info(1, "%s:%lu: subject '%s' is not a Clever subject; left "
	    "blank", c->cl->name, c->cl->line, v);
	return "";
}

/* Write the gathered section as one Sections.csv row. */
static int
clever_flush(struct ctx *c, struct ep_error *err)
{
	static const char *const cname_f[] = { "course_name", "Course_name",
		NULL };
	static const char *const cnum_f[] = { "course_number",
		"Course_number", NULL };
	static const char *const snum_f[] = { "section_number",
		"Section_number", NULL };
	static const char *const period_f[] = { "period", "expression",
		"Period", NULL };
	static const char *const subject_f[] = { "subject", "credittype",
		"Subject", NULL };
	static const char *const grade_f[] = { "grade", "grade_level",
		"Grade", NULL };
	static const char *const tstart_f[] = { "term_start", "firstday",
		"Term_start", NULL };
	static const char *const tend_f[] = { "term_end", "lastday",
		"Term_end", NULL };
	static const char *const tname_f[] = { "term_name", "term",
		"Term_name", NULL };
	struct clever *cl = c->cl;
	const struct ep_rec *r = cl->first;
	const char *v[NCLEVER], *school, *section, *gv, *p;
	char grade[32], d0[11], d1[11], *period = NULL;
	const char *saved_name = c->in_name;
	unsigned long saved_line = c->in_line;
	int rc = -1;

	if (!cl->open)
		return 0;
	cl->open = false;
	c->in_name = cl->name;
	c->in_line = cl->line;
	school = alias_val(r, school_f);
	section = alias_val(r, section_f);
	if (cl->nteachers == 0 && !c->allow_no_teacher) {
		bad(c, err, "section '%s' has no teacher (Clever requires "
		    "Teacher_id; --allow-no-teacher writes it with empty "
		    "teacher columns)", section);
		goto out;
	}
	if (cl->nteachers == 0) {
		c->nno_teacher++;
		ep_warn("%s:%lu: section '%s' (school '%s') has no teacher: "
		    "written with empty teacher columns", cl->name, cl->line,
		    section, school);
	}
	if (cl->nteachers > MAX_TEACHERS) {
		char left[512] = "";
		size_t len = 0;

		for (size_t i = MAX_TEACHERS; i < cl->nteachers &&
		    len < sizeof(left) - 1; i++)
			len += (size_t)snprintf(left + len, sizeof(left) - len,
			    "%s'%s'", i > MAX_TEACHERS ? ", " : "",
			    cl->teachers[i]);
		ep_warn("%s:%lu: section '%s' (school '%s') has %zu teachers; "
		    "Clever takes at most %d: writing the first %d, leaving "
		    "out %s", cl->name, cl->line, section, school,
		    cl->nteachers, MAX_TEACHERS, MAX_TEACHERS, left);
	}
	v[0] = school;
	v[1] = section;
	for (size_t i = 0; i < MAX_TEACHERS; i++)
		v[2 + i] = i < cl->nteachers ? cl->teachers[i] : NULL;
	v[12] = alias_val(r, cname_f);
	v[13] = alias_val(r, cnum_f);
	v[14] = alias_val(r, snum_f);
	p = alias_val(r, period_f);
	if (p != NULL) {
		size_t n = c->keep_track ? strlen(p) : strcspn(p, "(");

		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		period = ep_xstrndup(p, n);
	}
	v[15] = period;
	v[16] = clever_subject(c, alias_val(r, subject_f));
	gv = alias_val(r, grade_f);
	if (!clever_grade(c, school, gv, grade, sizeof(grade))) {
		bad(c, err, "section '%s': cannot read grade '%s' (a grade "
		    "-n..12, a Clever grade name, or a multi-grade number "
		    "such as 345 or 912)", section, gv);
		goto out;
	}
	v[17] = grade;
	v[18] = v[19] = NULL;
	if ((p = alias_val(r, tstart_f)) != NULL) {
		if (!clever_date(p, d0)) {
			bad(c, err, "field 'term_start': cannot read '%s' as "
			    "a date (YYYY-MM-DD or MM/DD/YYYY)", p);
			goto out;
		}
		v[18] = d0;
	}
	if ((p = alias_val(r, tend_f)) != NULL) {
		if (!clever_date(p, d1)) {
			bad(c, err, "field 'term_end': cannot read '%s' as "
			    "a date (YYYY-MM-DD or MM/DD/YYYY)", p);
			goto out;
		}
		v[19] = d1;
	}
	v[20] = alias_val(r, tname_f);
	csv_row(c, clever_cols, v, NCLEVER);
	rc = 0;
out:
	free(period);
	c->in_name = saved_name;
	c->in_line = saved_line;
	return rc;
}

static int
clever_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	struct clever *cl;
	const char *school, *section, *cur;
	enum op op;
	bool has;

	if (c->cl == NULL) {
		c->cl = ep_xcalloc(1, sizeof(*c->cl));
		c->cl->first = ep_rec_new();
	}
	cl = c->cl;
	if (get_op(c, r, &op, &has, err) < 0)
		return -1;
	if (op == OP_DROP) {
		/* Clever takes the current roster only: a drop is absence. */
		c->ndrops++;
		return 0;
	}
	if ((school = alias_val(r, school_f)) == NULL)
		return bad(c, err, "missing field 'school'");
	if ((section = alias_val(r, section_f)) == NULL)
		return bad(c, err, "missing field 'section'");
	if (cl->open) {
		cur = alias_val(cl->first, section_f);
		if (strcmp(cur, section) == 0) {
			if (strcmp(alias_val(cl->first, school_f), school))
				return bad(c, err, "section '%s' is given "
				    "for school '%s' and school '%s'", section,
				    alias_val(cl->first, school_f), school);
			return clever_teachers(c, r, err);
		}
		if (clever_flush(c, err) < 0)
			return -1;
	}
	if (!strset_add(&cl->seen, section))
		return bad(c, err, "section '%s' appears again after other "
		    "sections; give each section's records together (sort "
		    "by section)", section);
	ep_rec_copy(cl->first, r);
	free(cl->name);
	cl->name = ep_xstrdup(c->in_name);
	cl->line = c->in_line;
	for (size_t i = 0; i < cl->nteachers; i++)
		free(cl->teachers[i]);
	cl->nteachers = 0;
	cl->open = true;
	return clever_teachers(c, r, err);
}

/* --- dat, csv, ndjson ------------------------------------------------ */

/* Map the role and old_role fields of a passthrough record in place. */
static int
map_fields(struct ctx *c, const struct ep_rec *r, const struct ep_rec **out,
    struct ep_error *err)
{
	static const char *const names[] = { "role", "old_role" };
	const char *v, *m;
	int k;

	*out = r;
	if (c->roles == NULL)
		return 1;
	for (size_t i = 0; i < NELEM(names); i++) {
		if ((v = opt_val(r, names[i])) == NULL)
			continue;
		if ((k = map_role(c, names[i], v, &m, err)) <= 0)
			return k;
		if (*out == r) {
			if (c->proj == NULL)
				c->proj = ep_rec_new();
			ep_rec_copy(c->proj, r);
			*out = c->proj;
		}
		ep_rec_set_str(c->proj, names[i], m);
	}
	return 1;
}

static int
dat_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	const char *const *cols;
	size_t n;
	int rc;

	if (c->fields != NULL) {
		cols = (const char *const *)c->fields;
		n = c->nfields;
	} else {
		if (c->cols == NULL) {
			c->ncols = r->n;
			c->cols = ep_xcalloc(r->n + 1, sizeof(char *));
			for (size_t i = 0; i < r->n; i++)
				c->cols[i] = ep_xstrdup(r->f[i].name);
		}
		for (size_t i = 0; i < r->n; i++)
			if (in_list(r->f[i].name, (const char *const *)c->cols,
			    c->ncols, false) == NULL)
				return bad(c, err, "field '%s' is not among "
				    "the columns of the first record; choose "
				    "columns with --fields", r->f[i].name);
		cols = (const char *const *)c->cols;
		n = c->ncols;
	}
	rc = ep_dat_put_rec(c->fp, r, cols, n, err);
	if (rc < 0 && err->code == EP_EXIT_DATAERR) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		return bad(c, err, "%s", msg);
	}
	if (rc == 0)
		c->nout++;
	return rc;
}

static int
rec_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	if (c->w == NULL) {
		c->w = ep_writer_new(c->fp, c->to == T_CSV ? EP_FMT_CSV :
		    EP_FMT_NDJSON);
		if (c->fields != NULL && c->to == T_CSV)
			ep_writer_set_fields(c->w,
			    (const char *const *)c->fields, c->nfields);
		ep_writer_set_csv_safe(c->w, c->csv_safe);
	}
	if (c->fields != NULL) {
		/* Keep the chosen fields, in the chosen order; others are
		 * left out, which is what --fields asks for. */
		struct ep_rec *p = ep_rec_new();

		for (size_t i = 0; i < c->nfields; i++) {
			const struct ep_field *f = ep_rec_get(r, c->fields[i]);

			if (f != NULL)
				ep_rec_set(p, f->name, f->type, f->val,
				    f->vlen);
		}
		if (c->proj == NULL)
			c->proj = ep_rec_new();
		ep_rec_copy(c->proj, p);
		ep_rec_free(p);
		r = c->proj;
	}
	if (ep_writer_write(c->w, r, err) < 0) {
		if (err->code == EP_EXIT_DATAERR) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			return bad(c, err, "%s; choose columns with --fields",
			    msg);
		}
		return -1;
	}
	c->nout++;
	return 0;
}

/* --- entry points ---------------------------------------------------- */

/*
 * The fields each target uses as keys or required columns (aliases
 * included): an array, object, boolean or non-integer number there would
 * be written as its JSON text, a key no LMS has (keyval.h).  The record
 * formats (csv, ndjson, dat) pass values on and have none.
 */
static const char *const enroll_keys[] = {
	"course", "section", "user", "role", "old_role", NULL
};
static const char *const user_keys[] = { "user", "username", NULL };
static const char *const oneroster_keys[] = {
	"class", "course", "school", "user", "role", "old_role", "sourcedId",
	NULL
};
static const char *const clever_keys[] = {
	"school", "school_id", "School_id", "section", "section_id",
	"Section_id", "teacher", "teacher_id", "Teacher_id", "Teacher_2_id",
	"Teacher_3_id", "Teacher_4_id", "Teacher_5_id", "Teacher_6_id",
	"Teacher_7_id", "Teacher_8_id", "Teacher_9_id", "Teacher_10_id", NULL
};

static const char *const *
target_keys(enum target t)
{
	switch (t) {
	case T_CONDUIT:
	case T_CANVAS:
	case T_FLATFILE:
		return enroll_keys;
	case T_ONEROSTER:
		return oneroster_keys;
	case T_CLEVER:
		return clever_keys;
	case T_CONDUIT_USERS:
	case T_CANVAS_USERS:
		return user_keys;
	default:
		return NULL;
	}
}

int
fmt_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	const char *const *keys = target_keys(c->to);
	const struct ep_field *f;
	const struct ep_rec *m;
	const char *why, *v;
	enum ep_drop_policy pol;
	int rc, k;

	c->nin++;
	if (keys != NULL && (f = ep_rec_key_check(r, keys, &why)) != NULL)
		return bad(c, err, "field '%s' is %s; a key value must be a "
		    "string or an integer", f->name, why);
	if (c->to <= T_ONEROSTER && (v = opt_val(r, "op")) != NULL &&
	    strcmp(v, "drop") == 0 && drop_policy(c, r, &pol, err) < 0)
		return -1;
	switch (c->to) {
	case T_CONDUIT:
		rc = conduit_record(c, r, err);
		break;
	case T_CANVAS:
		rc = canvas_record(c, r, err);
		break;
	case T_FLATFILE:
		rc = flatfile_record(c, r, err);
		break;
	case T_ONEROSTER:
		rc = oneroster_record(c, r, err);
		break;
	case T_CLEVER:
		rc = clever_record(c, r, err);
		break;
	case T_CONDUIT_USERS:
	case T_CANVAS_USERS:
		rc = user_record(c, r, err);
		break;
	case T_CSV:
	case T_NDJSON:
	case T_DAT:
		if ((k = map_fields(c, r, &m, err)) <= 0)
			return k;
		rc = c->to == T_DAT ? dat_record(c, m, err) :
		    rec_record(c, m, err);
		break;
	default:
		rc = roster_record(c, r, err);
		break;
	}
	if (rc == 0 && write_check(c, err) < 0)
		return -1;
	return rc;
}

/*
 * --header-always with no rows: the header line alone.  Without it no
 * rows means no bytes at all, so that an empty file says "nothing to
 * send" and sftp-put refuses it.
 */
static void
header_only(struct ctx *c)
{
	const char *const *hdr = NULL;
	size_t n = 0;

	switch (c->to) {
	case T_CONDUIT:
		hdr = conduit_cols, n = 4;
		break;
	case T_CANVAS:
		hdr = canvas_cols, n = 5;
		break;
	case T_ONEROSTER:
		hdr = oneroster_cols, n = 10;
		break;
	case T_CLEVER:
		hdr = clever_cols, n = NCLEVER;
		break;
	case T_CSV:
		hdr = (const char *const *)c->fields, n = c->nfields;
		break;
	case T_CONDUIT_USERS:
		hdr = conduit_user_cols, n = NELEM(conduit_user_cols);
		break;
	case T_CANVAS_USERS:
		hdr = canvas_user_cols, n = NELEM(canvas_user_cols);
		break;
	default:
		if ((hdr = roster_header(c->to, &n)) == NULL)
			return;
		break;
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			putc_unlocked(',', c->fp);
		ep_csv_put_field(c->fp, heading(c, hdr[i]),
		    strlen(heading(c, hdr[i])), false);
	}
	putc_unlocked('\n', c->fp);
	c->header_done = true;
}

int
fmt_finish(struct ctx *c, struct ep_error *err)
{
	if (c->to == T_CLEVER && c->cl != NULL &&
	    clever_flush(c, err) < 0)
		return -1;
	if (c->header_always && c->nout == 0 && !c->header_done)
		header_only(c);
	if (c->w != NULL && c->nout > 0 && ep_writer_finish(c->w, err) < 0)
		return -1;
	if (fflush(c->fp) == EOF || ferror(c->fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "write error: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

void
fmt_free(struct ctx *c)
{
	if (c->cl != NULL) {
		ep_rec_free(c->cl->first);
		free(c->cl->name);
		for (size_t i = 0; i < c->cl->nteachers; i++)
			free(c->cl->teachers[i]);
		free(c->cl->teachers);
		strset_free(&c->cl->seen);
		free(c->cl);
	}
	strset_free(&c->keys);
	for (size_t i = 0; i < c->ncols; i++)
		free(c->cols[i]);
	free(c->cols);
	ep_rec_free(c->proj);
	ep_writer_free(c->w);
}
