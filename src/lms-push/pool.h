/*
 * pool.h - lms-push's run state, kept by pool.c: the changes read from the
 * input, each one's result, and the job pool (p->http).  main.c reads the
 * changes, drives the run and writes the results; the backends (moodle.c,
 * canvas.c) make the calls and settle each change here.  Nothing here
 * calls up into main.c or a backend.
 *
 * Every change is read before the first call, so bad input stops the run
 * with nothing applied.  Each change ends with a result (ok or failed and
 * a message); results are written in input order when the run is over.
 */
#ifndef LMS_PUSH_POOL_H
#define LMS_PUSH_POOL_H

#include <stdbool.h>

#include "push.h"

struct change {
	struct ep_rec *rec;		/* the input record, owned */
	unsigned long line;
	enum op op;
	const char *course, *user, *role, *old_role, *section, *status;
	const char *account;		/* canvas: an account role (admin)
					 * change, not a course's */
	long long course_id, user_id, role_id, old_role_id, enrollment_id;
	enum ep_drop_policy drop;	/* a drop's: drop_policy, else the
					 * option's */
	enum drop_as drop_as;		/* canvas: the DELETE task of it */
	bool done, ok, unreachable;
	bool is_user;			/* a user record (no course): moodle
					 * creates or updates the user */
	char *msg;			/* the result message, owned */
	int step;			/* where a multi-call change is */
	int resends;			/* re-sent after an unknown outcome */
};

struct push {
	const struct opts *o;
	struct ep_http *http;
	char *base;			/* --url without trailing '/' */
	char *token;
	struct change *ch;
	size_t n;
	struct ep_error fatal;		/* stops the run (77, 70); 0: none */
	unsigned long calls;
};

/* c succeeded, with a message (printf-style; NULL for none). */
void change_ok(struct change *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * c failed with e: its message becomes the result message; code 75 marks
 * the LMS as unreachable.  Code 77 (and 70) also stop the whole run:
 * returns -1 then (the callback's answer to the pool), else 0.
 */
int change_fail(struct push *p, struct change *c, const struct ep_error *e);
/* Fail c with a message and code 1 (a permanent failure of c alone). */
void change_failf(struct change *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The role id of name from --role-id, or 0. */
long long opt_role_id(const struct opts *o, const char *name);
/* Whether a finished write call's outcome is unknown: the request may
 * have reached the server but no reply said what it did. */
bool outcome_unknown(const struct ep_http_req *r);
/* Run the pool; a libcurl failure becomes p->fatal. */
void run_pool(struct push *p);
/*
 * After the run: a change never finished fails "not attempted" with the
 * reason the run stopped; *failed and *unreachable say whether any change
 * failed and whether one found the LMS unreachable.
 */
void push_finish(struct push *p, bool *failed, bool *unreachable);
/* Free what p holds (not p->o). */
void push_free(struct push *p);

#endif
