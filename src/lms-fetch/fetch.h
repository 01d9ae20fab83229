/*
 * fetch.h - lms-fetch's options (parsed by main.c) and the backends'
 * entry points (moodle.c, canvas.c).  The run state the backends share
 * with main.c is in pool.h.
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
	const char *lms;		/* "moodle", "canvas", "kaltura" or "zoom" */
	const char *what;		/* enrollments, courses, users, report */
	struct ep_lms_conn conn;	/* --url, --token-file, --jobs, ... */
	const char *mapping;
	struct strv course_ids;		/* moodle --course-id */
	struct strv course_values;	/* moodle --course-idnumber or
					 * --course-shortname values */
	const char *course_by;		/* "idnumber", "shortname" or NULL */
	bool all_enrollments;		/* moodle --all-enrollments */
	const char *field, *value;	/* moodle courses, users */
	const char *value_file;		/* moodle users --value-file */
	const char *account;
	struct strv terms;
	struct strv courses;		/* canvas --course */
	struct strv meetings;		/* zoom --meeting */
	struct strv types;
	struct strv report_what;
	long report_timeout_s;
	bool historical;		/* report: every term */
	bool processorgs;		/* report: the account-level parts */
	struct strv term_patterns;	/* --term-pattern */
	const char *term_map;		/* --term-map FILE */
	enum ep_fmt ofmt;
	bool dry_run, partial;
	const char *user_key;		/* --user-key, the field 'user' holds */
	const char *unkeyed_path;	/* --unkeyed FILE, or NULL */
	const char *skipped_path;	/* --skipped FILE, or NULL */
	const char *partner_id;		/* kaltura --partner-id */
	const char *category;		/* kaltura --category */
	long long since;		/* kaltura --since, seconds */
	long page_size;			/* kaltura --page-size */
};

/*
 * Exit status of a run that wrote every course it could read but named
 * others in --skipped: not a DESIGN.md failure code (those stop a sync),
 * not 1 (differences found) nor 3 (a safety refusal).
 */
#define FETCH_EXIT_SKIPPED 4

/* Split comma lists in every element of sv into sv (in place). */
void strv_add(struct strv *sv, const char *arg);

/* Whether p is a --term-pattern canvas.c can expand. */
bool term_pattern_ok(const char *p);

struct fetch;

/* Queue the requests of o->what on f->http (main.c then runs them). */
int moodle_run(struct fetch *f);
int canvas_run(struct fetch *f);
int kaltura_run(struct fetch *f);
void kaltura_free(void);
/* An ISO 8601 time (UTC, or with an offset) or epoch seconds in *t. */
int kaltura_time(const char *s, long long *t);
int zoom_run(struct fetch *f);
/* canvas zoom-links (zoom.c). */
int canvas_zoom_run(struct fetch *f);

#endif
