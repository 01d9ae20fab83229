/*
 * push.h - what main.c, moodle.c and canvas.c of lms-push share: the
 * options, the changes read from the input, and the run state.
 *
 * Every change is read before the first call, so bad input stops the run
 * with nothing applied.  Each change ends with a result (ok or failed and
 * a message); results are written in input order when the run is over.
 */
#ifndef LMS_PUSH_H
#define LMS_PUSH_H

#include <jansson.h>
#include <stdbool.h>

#include "http.h"
#include "lmsjson.h"
#include "rec.h"

enum op { OP_ADD, OP_DROP, OP_UPDATE };
enum drop_as { DROP_CONCLUDE, DROP_DELETE, DROP_INACTIVATE };

struct role_id {
	char *name;
	long long id;
};

struct opts {
	const char *lms;		/* "moodle" or "canvas" */
	const char *file;		/* input, "-" for stdin */
	struct ep_lms_conn conn;	/* --url, --token-file, --jobs, ... */
	const char *user_field;		/* moodle: username, idnumber, ... */
	const char *account;		/* canvas --sis-import */
	struct role_id *roles;		/* --role-id NAME=ID */
	size_t nroles;
	int batch;
	long import_timeout_s;
	enum ep_fmt ifmt, ofmt;
	enum drop_as drop_as;
	bool dry_run, sis_import;
};

struct change {
	struct ep_rec *rec;		/* the input record, owned */
	unsigned long line;
	enum op op;
	const char *course, *user, *role, *old_role, *section, *status;
	long long course_id, user_id, role_id, old_role_id, enrollment_id;
	bool done, ok, unreachable;
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

int moodle_push(struct push *p);
int canvas_push(struct push *p);

#endif
