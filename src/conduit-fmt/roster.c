/*
 * roster.c - the roster files that are one record a row with fixed
 * columns: Clever's schools.csv, students.csv, teachers.csv and
 * enrollments.csv, and the OneRoster 1.1 CSV bulk files orgs.csv,
 * academicSessions.csv, courses.csv, classes.csv and users.csv (its
 * enrollments.csv is fmt.c's oneroster target).  man/conduit-fmt.1 lists
 * the columns and says which were read in the vendors' documents.
 *
 * One table drives them all: a record's field names the column
 * (case-insensitively, so a SQL alias school_id fills School_id and a
 * PostgreSQL sourcedid fills sourcedId); each column may be required,
 * part of the row's key (a key seen twice is an error, not a second row
 * the service would merge or reject), a date, a grade, a true/false, a
 * list or one of a set of words.  Anything else in a record is left out.
 * These files are bulk only: an 'op', or a status or dateLastModified in
 * a OneRoster record, is an error (FORMATS.md B6: blank in bulk files).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "fmt.h"

enum {
	C_REQ = 1 << 0,		/* required: a missing value is an error */
	C_KEY = 1 << 1,		/* part of the row's key */
	C_BLANK = 1 << 2,	/* OneRoster status, dateLastModified */
	C_CDATE = 1 << 3,	/* Clever date: MM/DD/YYYY */
	C_IDATE = 1 << 4,	/* ISO date: YYYY-MM-DD */
	C_CGRADE = 1 << 5,	/* Clever grade */
	C_OGRADE = 1 << 6,	/* OneRoster grade(s) (CEDS codes) */
	C_BOOL = 1 << 7,	/* true or false */
	C_LIST = 1 << 8,	/* a JSON list is joined with commas */
	C_YEAR = 1 << 9		/* YYYY */
};

struct rcol {
	const char *name;
	unsigned fl;
	const char *const *words;	/* allowed values, or NULL */
};

static const char *const org_types[] = {
	"administration", "department", "district", "local", "national",
	"school", "state", NULL
};
static const char *const session_types[] = {
	"gradingPeriod", "semester", "schoolYear", "term", NULL
};
static const char *const class_types[] = { "homeroom", "scheduled", NULL };
static const char *const user_roles[] = {
	"administrator", "aide", "guardian", "parent", "proctor", "relative",
	"student", "teacher", NULL
};
static const char *const genders[] = { "M", "F", "X", NULL };

/*
 * Clever SFTP instructions, section 3 (schools.csv, students.csv,
 * teachers.csv, enrollments.csv).  The order does not matter to Clever
 * (headers are matched by name); this is the order of its spreadsheets.
 */
static const struct rcol clever_schools[] = {
	{ "School_id", C_REQ | C_KEY, NULL },
	{ "School_name", C_REQ, NULL },
	{ "School_number", C_REQ, NULL },
	{ "State_id", 0, NULL },
	{ "Low_grade", C_CGRADE, NULL },
	{ "High_grade", C_CGRADE, NULL },
	{ "Principal", 0, NULL },
	{ "Principal_email", 0, NULL },
	{ "School_address", 0, NULL },
	{ "School_city", 0, NULL },
	{ "School_state", 0, NULL },
	{ "School_zip", 0, NULL },
	{ "School_phone", 0, NULL },
};
static const struct rcol clever_students[] = {
	{ "School_id", C_REQ, NULL },
	{ "Student_id", C_REQ | C_KEY, NULL },
	{ "Student_number", 0, NULL },
	{ "State_id", 0, NULL },
	{ "Last_name", C_REQ, NULL },
	{ "Middle_name", 0, NULL },
	{ "First_name", C_REQ, NULL },
	{ "Grade", C_CGRADE, NULL },
	{ "Gender", 0, genders },
	{ "DOB", C_CDATE, NULL },
	{ "Student_email", 0, NULL },
};
static const struct rcol clever_teachers[] = {
	{ "School_id", C_REQ | C_KEY, NULL },
	{ "Teacher_id", C_REQ | C_KEY, NULL },
	{ "Teacher_number", 0, NULL },
	{ "State_teacher_id", 0, NULL },
	{ "Teacher_email", 0, NULL },
	{ "First_name", C_REQ, NULL },
	{ "Middle_name", 0, NULL },
	{ "Last_name", C_REQ, NULL },
	{ "Title", 0, NULL },
};
static const struct rcol clever_enrollments[] = {
	{ "School_id", C_REQ | C_KEY, NULL },
	{ "Section_id", C_REQ | C_KEY, NULL },
	{ "Student_id", C_REQ | C_KEY, NULL },
};

/* OneRoster 1.1 CSV binding: the columns in their fixed order. */
static const struct rcol or_orgs[] = {
	{ "sourcedId", C_REQ | C_KEY, NULL },
	{ "status", C_BLANK, NULL },
	{ "dateLastModified", C_BLANK, NULL },
	{ "name", C_REQ, NULL },
	{ "type", C_REQ, org_types },
	{ "identifier", 0, NULL },
	{ "parentSourcedId", 0, NULL },
};
static const struct rcol or_sessions[] = {
	{ "sourcedId", C_REQ | C_KEY, NULL },
	{ "status", C_BLANK, NULL },
	{ "dateLastModified", C_BLANK, NULL },
	{ "title", C_REQ, NULL },
	{ "type", C_REQ, session_types },
	{ "startDate", C_REQ | C_IDATE, NULL },
	{ "endDate", C_REQ | C_IDATE, NULL },
	{ "parentSourcedId", 0, NULL },
	{ "schoolYear", C_REQ | C_YEAR, NULL },
};
static const struct rcol or_courses[] = {
	{ "sourcedId", C_REQ | C_KEY, NULL },
	{ "status", C_BLANK, NULL },
	{ "dateLastModified", C_BLANK, NULL },
	{ "schoolYearSourcedId", 0, NULL },
	{ "title", C_REQ, NULL },
	{ "courseCode", 0, NULL },
	{ "grades", C_OGRADE | C_LIST, NULL },
	{ "orgSourcedId", C_REQ, NULL },
	{ "subjects", C_LIST, NULL },
	{ "subjectCodes", C_LIST, NULL },
};
static const struct rcol or_classes[] = {
	{ "sourcedId", C_REQ | C_KEY, NULL },
	{ "status", C_BLANK, NULL },
	{ "dateLastModified", C_BLANK, NULL },
	{ "title", C_REQ, NULL },
	{ "grades", C_OGRADE | C_LIST, NULL },
	{ "courseSourcedId", C_REQ, NULL },
	{ "classCode", 0, NULL },
	{ "classType", C_REQ, class_types },
	{ "location", 0, NULL },
	{ "schoolSourcedId", C_REQ, NULL },
	{ "termSourcedIds", C_REQ | C_LIST, NULL },
	{ "subjects", C_LIST, NULL },
	{ "subjectCodes", C_LIST, NULL },
	{ "periods", C_LIST, NULL },
};
static const struct rcol or_users[] = {
	{ "sourcedId", C_REQ | C_KEY, NULL },
	{ "status", C_BLANK, NULL },
	{ "dateLastModified", C_BLANK, NULL },
	{ "enabledUser", C_REQ | C_BOOL, NULL },
	{ "orgSourcedIds", C_REQ | C_LIST, NULL },
	{ "role", C_REQ, user_roles },
	{ "username", C_REQ, NULL },
	{ "userIds", C_LIST, NULL },
	{ "givenName", C_REQ, NULL },
	{ "familyName", C_REQ, NULL },
	{ "middleName", 0, NULL },
	{ "identifier", 0, NULL },
	{ "email", 0, NULL },
	{ "sms", 0, NULL },
	{ "phone", 0, NULL },
	{ "agentSourcedIds", C_LIST, NULL },
	{ "grades", C_OGRADE | C_LIST, NULL },
	{ "password", 0, NULL },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAXCOLS 20

static const struct rtable {
	enum target t;
	const struct rcol *cols;
	size_t n;
} tables[] = {
	{ T_CLEVER_SCHOOLS, clever_schools, NELEM(clever_schools) },
	{ T_CLEVER_STUDENTS, clever_students, NELEM(clever_students) },
	{ T_CLEVER_TEACHERS, clever_teachers, NELEM(clever_teachers) },
	{ T_CLEVER_ENROLLMENTS, clever_enrollments,
	    NELEM(clever_enrollments) },
	{ T_OR_ORGS, or_orgs, NELEM(or_orgs) },
	{ T_OR_SESSIONS, or_sessions, NELEM(or_sessions) },
	{ T_OR_COURSES, or_courses, NELEM(or_courses) },
	{ T_OR_CLASSES, or_classes, NELEM(or_classes) },
	{ T_OR_USERS, or_users, NELEM(or_users) },
};

static const struct rtable *
table_of(enum target t)
{
	for (size_t i = 0; i < NELEM(tables); i++)
		if (tables[i].t == t)
			return &tables[i];
	return NULL;
}

const char *const *
roster_header(enum target t, size_t *n)
{
	static const char *hdr[MAXCOLS];
	const struct rtable *tb = table_of(t);

	if (tb == NULL)
		return NULL;
	for (size_t i = 0; i < tb->n; i++)
		hdr[i] = tb->cols[i].name;
	*n = tb->n;
	return hdr;
}

/* The field named name, case-insensitively; NULL if none. */
static const struct ep_field *
field(const struct ep_rec *r, const char *name)
{
	const struct ep_field *f = ep_rec_get(r, name);

	if (f != NULL)
		return f;
	for (size_t i = 0; i < r->n; i++)
		if (strcasecmp(r->f[i].name, name) == 0)
			return &r->f[i];
	return NULL;
}

/* A Clever grade: a number -1 (or less) to 13 or a named grade. */
static bool
clever_grade_of(const char *v, char *out, size_t outsz)
{
	static const char *const named[] = {
		"InfantToddler", "Preschool", "PreKindergarten",
		"TransitionalKindergarten", "Kindergarten", "PostGraduate",
		"Ungraded", "Other"
	};
	const char *s = in_list(v, named, NELEM(named), true);
	char *end;
	long n;

	if (s != NULL) {
		snprintf(out, outsz, "%s", s);
		return true;
	}
	n = strtol(v, &end, 10);
	if (end == v || *end != '\0' || n > 13)
		return false;
	if (n < 0)
		snprintf(out, outsz, "Preschool");
	else if (n == 0)
		snprintf(out, outsz, "Kindergarten");
	else
		snprintf(out, outsz, "%ld", n);
	return true;
}

/* One OneRoster grade (CEDS code): -1 PK, 0 KG, 1-13 01-13, or a code. */
static bool
or_grade_of(const char *v, size_t len, char *out, size_t outsz)
{
	static const char *const codes[] = {
		"IT", "PR", "PK", "TK", "KG", "01", "02", "03", "04", "05",
		"06", "07", "08", "09", "10", "11", "12", "13", "PS", "UG",
		"Other"
	};
	char buf[16], *end;
	const char *s;
	long n;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if ((s = in_list(buf, codes, NELEM(codes), false)) != NULL) {
		snprintf(out, outsz, "%s", s);
		return true;
	}
	n = strtol(buf, &end, 10);
	if (end == buf || *end != '\0' || n < -2 || n > 13)
		return false;
	if (n == -2)
		snprintf(out, outsz, "PR");
	else if (n == -1)
		snprintf(out, outsz, "PK");
	else if (n == 0)
		snprintf(out, outsz, "KG");
	else
		snprintf(out, outsz, "%02ld", n);
	return true;
}

/*
 * The text of a field for a column: a string or number as it is, a JSON
 * list (C_LIST only) joined with commas, true/false (C_BOOL only).  NULL
 * for a missing, null or empty value; *why set for one of the wrong kind.
 */
static char *
field_text(const struct ep_field *f, unsigned fl, const char **why)
{
	json_t *a, *it;
	size_t i, len = 0;
	char *out;

	*why = NULL;
	if (f == NULL || f->type == EP_T_NULL || f->vlen == 0)
		return NULL;
	if (f->type == EP_T_STR || f->type == EP_T_NUM ||
	    (f->type == EP_T_BOOL && (fl & C_BOOL)))
		return ep_xstrdup(f->val);
	if (f->type == EP_T_BOOL) {
		*why = "true or false";
		return NULL;
	}
	a = json_loads(f->val, JSON_DECODE_ANY, NULL);
	if (!(fl & C_LIST) || !json_is_array(a)) {
		json_decref(a);
		*why = "a list or an object";
		return NULL;
	}
	out = ep_xmalloc(strlen(f->val) + 1);
	json_array_foreach(a, i, it) {
		char num[32];
		const char *s = json_string_value(it);

		if (json_is_integer(it)) {
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(it));
			s = num;
		}
		if (s == NULL) {
			json_decref(a);
			free(out);
			*why = "a list with an item that is not text";
			return NULL;
		}
		if (*s == '\0')
			continue;
		if (len)
			out[len++] = ',';
		memcpy(out + len, s, strlen(s));
		len += strlen(s);
	}
	out[len] = '\0';
	json_decref(a);
	if (len == 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* grades: each comma-separated grade as its CEDS code; false if bad. */
static char *
or_grades(const char *v)
{
	char *out = ep_xmalloc(strlen(v) * 3 + 8), g[8];
	size_t len = 0;

	const char *s;
	size_t n;

	while (ep_list_next(&v, &s, &n)) {
		if (!or_grade_of(s, n, g, sizeof(g))) {
			free(out);
			return NULL;
		}
		len += (size_t)sprintf(out + len, "%s%s", len ? "," : "", g);
	}
	return out;
}

/* The value of column k as written, in *v (owned); -1 with err. */
static int
column(struct ctx *c, const struct rcol *k, const struct ep_rec *r,
    char **v, struct ep_error *err)
{
	const struct ep_field *f = field(r, k->name);
	const char *why, *w;
	char buf[32], *s;

	*v = field_text(f, k->fl, &why);
	if (why != NULL)
		return bad(c, err, "field '%s' is %s; %s takes %s", f->name,
		    why, k->name, k->fl & C_BOOL ? "true or false" :
		    k->fl & C_LIST ? "text or a list of texts" : "text");
	s = *v;
	if (s == NULL) {
		if (k->fl & C_REQ)
			return bad(c, err, "missing field '%s' (required in "
			    "%s)", k->name, fmt_name(c->to));
		return 0;
	}
	if (k->fl & C_BLANK) {
		*v = NULL;
		free(s);
		return bad(c, err, "field '%s': %s writes bulk files, where "
		    "%s is left blank", f->name, fmt_name(c->to), k->name);
	}
	if (k->words != NULL) {
		size_t nw = 0;

		while (k->words[nw] != NULL)
			nw++;
		if ((w = in_list(s, k->words, nw, true)) == NULL) {
			char list[256];
			size_t len = 0;

			for (size_t i = 0; k->words[i] && len < sizeof(list);
			    i++)
				len += (size_t)snprintf(list + len,
				    sizeof(list) - len, "%s%s", i ? ", " : "",
				    k->words[i]);
			return bad(c, err, "field '%s': '%s' is not a %s value "
			    "(%s)", f->name, s, k->name, list);
		}
		snprintf(s, strlen(s) + 1, "%s", w);
	}
	if ((k->fl & C_BOOL) && strcasecmp(s, "true") != 0 &&
	    strcasecmp(s, "false") != 0)
		return bad(c, err, "field '%s': '%s' is not true or false",
		    f->name, s);
	if (k->fl & C_BOOL)
		for (char *p = s; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	if ((k->fl & C_YEAR) && (strlen(s) != 4 ||
	    strspn(s, "0123456789") != 4))
		return bad(c, err, "field '%s': '%s' is not a year YYYY",
		    f->name, s);
	if (k->fl & (C_CDATE | C_IDATE)) {
		if (!(k->fl & C_CDATE ? clever_date(s, buf) :
		    iso_date(s, buf)))
			return bad(c, err, "field '%s': cannot read '%s' as "
			    "a date (YYYY-MM-DD)", f->name, s);
		free(s);
		*v = ep_xstrdup(buf);
	}
	if (k->fl & C_CGRADE) {
		if (!clever_grade_of(s, buf, sizeof(buf)))
			return bad(c, err, "field '%s': '%s' is not a grade "
			    "(-1 to 13 or a Clever grade name)", f->name, s);
		free(s);
		*v = ep_xstrdup(buf);
	}
	if (k->fl & C_OGRADE) {
		char *g = or_grades(s);

		if (g == NULL)
			return bad(c, err, "field '%s': '%s' is not a list of "
			    "grades (-2 to 13 or CEDS codes: PK, KG, 01 ...)",
			    f->name, s);
		free(s);
		*v = g;
	}
	return 0;
}

int
roster_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err)
{
	const struct rtable *tb = table_of(c->to);
	const char *hdr[MAXCOLS];
	char *v[MAXCOLS] = { NULL }, *key = NULL;
	size_t klen = 0;
	int rc = -1;

	if (opt_val(r, "op") != NULL)
		return bad(c, err, "field 'op': %s writes bulk files (every "
		    "current row), not changes", fmt_name(c->to));
	for (size_t i = 0; i < tb->n; i++) {
		hdr[i] = tb->cols[i].name;
		if (column(c, &tb->cols[i], r, &v[i], err) < 0)
			goto done;
	}
	for (size_t i = 0; i < tb->n; i++)
		if (tb->cols[i].fl & C_KEY) {
			size_t n = strlen(v[i]);

			key = ep_xrealloc(key, klen + n + 2);
			memcpy(key + klen, v[i], n);
			klen += n;
			key[klen++] = '\x1f';
			key[klen] = '\0';
		}
	if (!strset_add(&c->keys, key)) {
		char names[128];
		size_t len = 0;

		for (size_t i = 0; i < tb->n; i++)
			if (tb->cols[i].fl & C_KEY)
				len += (size_t)snprintf(names + len,
				    sizeof(names) - len, "%s%s=%s",
				    len ? ", " : "", tb->cols[i].name,
				    v[i]);
		bad(c, err, "a second row for %s: %s allows one", names,
		    fmt_name(c->to));
		goto done;
	}
	csv_row(c, hdr, (const char *const *)v, tb->n);
	rc = 0;
done:
	for (size_t i = 0; i < tb->n; i++)
		free(v[i]);
	free(key);
	return rc;
}
