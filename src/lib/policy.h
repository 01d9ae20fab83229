/*
 * policy.h - the drop policy: what a drop does to an enrollment, in the
 * words of Moodle's enrol_database plugin ("external unenrol action":
 * unenrol, suspend, keep) and of Canvas (an enrollment deleted, inactive
 * or completed: DELETE .../enrollments/:id?task=delete|inactivate|
 * conclude).
 *
 *   unenrol   the enrollment is removed (Moodle unenrol, Canvas delete)
 *   suspend   kept but closed to the user (Moodle suspend=1, Canvas
 *             inactivate: listed on the roster, no access)
 *   conclude  Canvas only: completed, read-only access
 *   keep      no drop at all: members are only ever added (the seed's
 *             program entries)
 *
 * The Canvas words (delete, deleted, inactivate, inactive, completed) are
 * read as the policy they name.  enroll-diff writes the policy of each
 * drop in its field drop_policy; lms-push applies it.
 */
#ifndef EP_POLICY_H
#define EP_POLICY_H

enum ep_drop_policy {
	EP_DROP_BAD = -1,
	EP_DROP_UNENROL = 0,
	EP_DROP_SUSPEND,
	EP_DROP_CONCLUDE,
	EP_DROP_KEEP
};

/* The policy named s (a policy or a Canvas word), or EP_DROP_BAD. */
enum ep_drop_policy ep_drop_policy_parse(const char *s);
/* The canonical name of p ("unenrol", ...). */
const char *ep_drop_policy_name(enum ep_drop_policy p);

/* The words a message lists as the choices. */
#define EP_DROP_POLICY_WORDS "unenrol, suspend, conclude or keep"

#endif
