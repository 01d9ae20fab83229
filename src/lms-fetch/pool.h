/*
 * pool.h - lms-fetch's run state, kept by pool.c: the job pool (f->http),
 * the ordered output units, the side outputs and the counts.  main.c
 * sets it up and drives it; the backends (moodle.c, canvas.c) queue
 * requests and hand their records to units.  Nothing here calls up into
 * main.c or a backend.
 *
 * Output order is fixed before any reply arrives: each piece of output
 * (one course's roster, one term's course list, one report) is a unit,
 * numbered in argument or mapping order.  Requests run in any order; a
 * unit's records are kept until it and every unit before it are complete,
 * then written.  Requests carry their unit's number as priority, so the
 * next page of an early course goes before the first page of a late one
 * and few records wait in memory.
 */
#ifndef LMS_FETCH_POOL_H
#define LMS_FETCH_POOL_H

#include <stdbool.h>

#include "fetch.h"
#include "progress.h"

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
	struct ep_prog *pg;		/* --progress, or NULL */
	unsigned long units_done;	/* for --progress */
	size_t course_units;		/* units that are a course's roster */
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
 * unit_fail.  u may be NULL (a course the lookup did not find);
 * course_id may be NULL (a course looked up by idnumber or shortname
 * and not found: course names the value asked for).
 */
int course_fail(struct fetch *f, struct unit *u, const char *course,
    const char *course_id, const struct ep_error *e);
/*
 * Zoom meeting id's participants are gone (e, a 404): with --skipped it
 * is named there ({meeting_id, reason}), left out with a warning, and
 * the run goes on (0); otherwise as unit_fail.
 */
int meeting_skip(struct fetch *f, struct unit *u, const char *meeting_id,
    const struct ep_error *e);
/* A reply page arrived: count it for --progress. */
void fetch_page(struct fetch *f);

/* Whether key is one of lms's --user-key fields. */
bool user_key_known(const char *lms, const char *key);
/* Open side output s on path (nothing when path is NULL). */
int side_open(struct side *s, const char *path, struct ep_error *err);
/* Run the pool to the end; its failure becomes f->err unless one came
 * first. */
void fetch_run(struct fetch *f);
/*
 * After the run: the last --progress line, every complete unit written
 * with --partial, the side outputs and stdout committed when the run
 * succeeded (or --partial); a failure is left in f->err.
 */
void fetch_finish(struct fetch *f);
/* Free what f holds (not f->o); uncommitted outputs are removed. */
void fetch_free(struct fetch *f);

#endif
