/*
 * push.h - lms-push's options (parsed by main.c) and the backends' entry
 * points (moodle.c, canvas.c).  The changes and the run state the
 * backends share with main.c are in pool.h.
 */
#ifndef LMS_PUSH_H
#define LMS_PUSH_H

#include <jansson.h>
#include <stdbool.h>

#include "http.h"
#include "lmsjson.h"
#include "policy.h"
#include "rec.h"

enum op { OP_ADD, OP_DROP, OP_UPDATE };
enum drop_as { DROP_CONCLUDE, DROP_DELETE, DROP_INACTIVATE };

struct role_id {
	char *name;
	long long id;
};

struct opts {
	const char *lms;		/* "moodle" or "canvas" */
	char *const *inputs;		/* FILE..., read in order; "-": stdin */
	int ninputs;
	struct ep_lms_conn conn;	/* --url, --token-file, --jobs, ... */
	const char *user_field;		/* moodle: username, idnumber, ... */
	const char *account;		/* canvas --sis-import */
	const char *sis_file;		/* canvas sis-import FILE */
	const char *diff_id;		/* --diffing-data-set */
	const char *diff_drop;		/* --diffing-drop-status */
	long change_threshold;		/* --change-threshold, 0: none */
	long max_drop_count;		/* --max-drop-count */
	struct role_id *roles;		/* --role-id NAME=ID */
	size_t nroles;
	int batch;
	long import_timeout_s;
	enum ep_fmt ifmt, ofmt;
	enum ep_drop_policy drop_policy;	/* --drop-policy, --drop-as */
	bool dry_run, sis_import, remaster;
};

struct push;

/* Apply the changes in p through the LMS (the backends). */
int moodle_push(struct push *p);
int canvas_push(struct push *p);
/* canvas sis-import FILE (sisfile.c): the options checked before any
 * call (0, or -1 with err 2), and the run (its exit status). */
int sis_file_check(const struct opts *o, struct ep_error *err);
int sis_file_import(struct push *p);

#endif
