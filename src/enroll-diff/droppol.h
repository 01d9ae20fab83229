/*
 * droppol.h - enroll-diff's drop policies: --drop-policy (every course)
 * and --drop-policy-file (per course).  A drop in a course whose policy is
 * keep is left out of the change set; every other drop carries its
 * policy in the field drop_policy, for lms-push to apply.
 */
#ifndef ED_DROPPOL_H
#define ED_DROPPOL_H

#include <stdbool.h>

#include "diff.h"
#include "policy.h"

struct droppol {
	bool on;			/* an option was given */
	enum ep_drop_policy def;	/* --drop-policy, else unenrol */
	const char *path;		/* --drop-policy-file */
	char **key;			/* course or course_id values */
	bool *is_id;			/* key[i] is a course_id */
	enum ep_drop_policy *p;
	size_t n;
};

/*
 * Read --drop-policy-file path: records with drop_policy and course or
 * course_id (NDJSON or CSV).  -1 with err (65 with FILE:LINE: for a bad
 * record, 66 when missing).
 */
int droppol_load(struct droppol *dp, const char *path, struct ep_error *err);
/* The policy of change c (course first, then course_id, then default). */
enum ep_drop_policy droppol_of(const struct droppol *dp, struct ed_diff *d,
    const struct ed_change *c);
void droppol_free(struct droppol *dp);

#endif
