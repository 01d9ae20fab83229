/*
 * fetch.h - what main.c, moodle.c and canvas.c of lms-fetch share: the
 * options, the run state, and the ordered output units.
 *
 * Output order is fixed before any reply arrives: each piece of output
 * (one course's roster, one term's course list, one report) is a unit,
 * numbered in argument or mapping order.  Requests run in any order; a
 * unit's records are kept until it and every unit before it are complete,
 * then written.  Requests carry their unit's number as priority, so the
 * next page of an early course goes before the first page of a late one
 * and few records wait in memory.
 */
#ifndef LMS_FETCH_H
#define LMS_FETCH_H

#include <jansson.h>
#include <stdbool.h>

#include "atomic.h"
#include "http.h"
#include "lmsjson.h"
#include "lmsparse.h"
#include "rec.h"

struct strv {
	char **v;
	size_t n;
};

struct opts {
	const char *lms;		/* "moodle" or "canvas" */
	const char *what;		/* enrollments, courses, users, report */
	struct ep_lms_conn conn;	/* --url, --token-file, --jobs, ... */
	const char *mapping;
	struct strv course_ids;		/* moodle --course-id */
	const char *field, *value;	/* moodle courses */
	const char *account;
	struct strv terms;
	struct strv courses;		/* canvas --course */
	struct strv types;
	struct strv report_what;
	long report_timeout_s;
	enum ep_fmt ofmt;
	bool dry_run, partial;
	const char *user_key;		/* --user-key, the field 'user' holds */
	const char *unkeyed_path;	/* --unkeyed FILE, or NULL */
	const char *skipped_path;	/* --skipped FILE, or NULL */
};

/*
 * Exit status of a run that wrote every course it could read but named
 * others in --skipped: not a DESIGN.md failure code (those stop a sync),
 * not 1 (differences found) nor 3 (a safety refusal).
 */
#define FETCH_EXIT_SKIPPED 4

/* A side output (--unkeyed, --skipped): NDJSON, atomic, at the end. */
struct side {
	const char *path;
	struct ep_out *out;
	struct ep_writer *w;
	unsigned long n;
};

struct unit {
	char *label;			/* "course 4766", for messages */
	struct ep_rec **recs;
	size_t n, cap;
	size_t index;
	bool done, failed;
	char *course, *course_id;	/* a course's roster: what to name
					 * in --skipped (course may be NULL) */
};

struct fetch {
	const struct opts *o;
	struct ep_http *http;
	char *base;			/* --url without trailing '/' */
	char *token;
	struct unit **units;
	size_t nunits, capunits, flushed;
	struct ep_out *out;
	struct ep_writer *w;
	struct ep_error err;		/* the first failure; code 0: none */
	unsigned long pages, records, failed_units;
	struct side unkeyed, skipped;
	long long t0, last_progress;
};

/* A new unit at the end of the output order. */
struct unit *unit_add(struct fetch *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append a record to u (u takes it). */
void unit_push(struct fetch *f, struct unit *u, struct ep_rec *rec);
/* u is complete: write it and any complete units after it, in order. */
int unit_done(struct fetch *f, struct unit *u);
/*
 * u failed with e.  Without --partial the run stops (returns -1, the
 * callback's answer to the pool); with it u is left out of the output,
 * a warning names it, and the run goes on (returns 0).  Either way the
 * first error decides the exit status.
 */
int unit_fail(struct fetch *f, struct unit *u, const struct ep_error *e);
/*
 * The roster of course (shortname, or NULL) / course_id could not be
 * read (e): with --skipped and a failure about that course alone (69),
 * it is named there, left out, and the run goes on (0); otherwise as
 * unit_fail.  u may be NULL (a course the lookup did not find).
 */
int course_fail(struct fetch *f, struct unit *u, const char *course,
    const char *course_id, const struct ep_error *e);
/* A reply page arrived: count it for --progress. */
void fetch_page(struct fetch *f);

/* Split comma lists in every element of sv into sv (in place). */
void strv_add(struct strv *sv, const char *arg);

int moodle_run(struct fetch *f);
int canvas_run(struct fetch *f);

#endif
