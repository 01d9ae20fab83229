/*
 * fmt.h - the output formats of conduit-fmt: one call per input record,
 * one at the end.  Only conduit-fmt uses this.
 */
#ifndef CONDUIT_FMT_H
#define CONDUIT_FMT_H

#include <stdbool.h>
#include <stdio.h>

#include "msg.h"
#include "rec.h"

enum target {
	T_CONDUIT, T_CANVAS, T_FLATFILE, T_ONEROSTER, T_CLEVER, T_DAT,
	T_CSV, T_NDJSON,
	T_CONDUIT_USERS, T_CANVAS_USERS,	/* user provisioning (#22) */
	/* roster.c: bulk files with fixed columns, one record a row */
	T_CLEVER_SCHOOLS, T_CLEVER_STUDENTS, T_CLEVER_TEACHERS,
	T_CLEVER_ENROLLMENTS, T_OR_ORGS, T_OR_SESSIONS, T_OR_COURSES,
	T_OR_CLASSES, T_OR_USERS,
	T_NTARGETS
};

/* A string-to-string map loaded from a JSON object file, in file order. */
struct kvmap {
	char **k, **v;
	size_t n;
	char *path;
};

struct clever;

/* A set of strings. */
struct strset {
	char **slot;
	size_t cap, n;
};

struct ctx {
	enum target to;
	struct kvmap *roles;		/* --role-map, or NULL */
	struct kvmap *subjects;		/* --subject-map, or NULL */
	struct kvmap *headings;		/* --heading-map, or NULL */
	char **fields;			/* --fields, or NULL */
	size_t nfields;
	char **two_digit;		/* --two-digit-grade-schools */
	size_t ntwo;
	bool two_digit_set;
	bool skip_unmapped, keep_track, csv_safe;
	bool allow_no_teacher;		/* clever: write teacherless sections */
	bool d118_subjects;		/* clever: the seed's spellings */

	FILE *fp;			/* where rows go */
	char now_iso[32];		/* run time, OneRoster form */

	/* The record being handled, for messages. */
	const char *in_name;
	unsigned long in_line;

	unsigned long nin, nout;	/* records read, rows written */
	unsigned long nunmapped;	/* skipped: role not mapped */
	unsigned long nnoform;		/* updates with no form here */
	unsigned long ndrops;		/* clever: drop records left out */
	unsigned long nblank_subject;	/* clever: unknown subjects */
	unsigned long nno_teacher;	/* clever: sections with no teacher */

	bool header_always;		/* a header even with no rows */

	/* private to fmt.c */
	bool header_done;
	int delta;			/* oneroster: -1 unknown, 0, 1 */
	struct ep_writer *w;
	struct ep_rec *proj;
	char **cols;			/* dat: columns from the first record */
	size_t ncols;
	struct clever *cl;
	struct strset keys;		/* roster.c: the rows' keys so far */
};

/* "conduit", "canvas", ... to a target; -1 for an unknown name. */
int fmt_target(const char *name);
/* The name and the usual file extension of a target. */
const char *fmt_name(enum target t);
const char *fmt_ext(enum target t);

/*
 * --heading-map: whether the columns of t are site-mapped (Conduit's),
 * and the first key of m that names none of them, or NULL.
 */
bool fmt_has_headings(enum target t);
const char *fmt_heading_unknown(enum target t, const struct kvmap *m);

/*
 * Load a JSON object of strings.  NULL with err: 66 missing, 78 not an
 * object of strings.  With subjects, every value must be a Clever subject.
 */
struct kvmap *kvmap_load(const char *path, bool subjects,
    struct ep_error *err);
void kvmap_free(struct kvmap *m);

/* Write what record r becomes.  0, or -1 with err (65 bad data, 74). */
int fmt_record(struct ctx *c, const struct ep_rec *r, struct ep_error *err);
/* Write what is still held (the last Clever section).  0 or -1. */
int fmt_finish(struct ctx *c, struct ep_error *err);
void fmt_free(struct ctx *c);

/* fmt.c's helpers that roster.c shares. */
int bad(const struct ctx *c, struct ep_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *opt_val(const struct ep_rec *r, const char *name);
const char *in_list(const char *s, const char *const *list, size_t n,
    bool nocase);
void csv_row(struct ctx *c, const char *const *hdr, const char *const *v,
    size_t n);
bool iso_date(const char *s, char out[11]);
bool clever_date(const char *v, char out[11]);
bool strset_add(struct strset *set, const char *s);
void strset_free(struct strset *set);

/*
 * roster.c: the Clever schools, students, teachers and enrollments files
 * and the OneRoster 1.1 bulk files other than enrollments.
 */
int roster_record(struct ctx *c, const struct ep_rec *r,
    struct ep_error *err);
/* A roster target's columns, or NULL for another target. */
const char *const *roster_header(enum target t, size_t *n);

#endif
