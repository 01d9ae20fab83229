/*
 * keyval.h - what may stand as a key value (course, user, role, section,
 * school...): a string, or an integer number taken as its text, since
 * SIS ids are often numeric (4766 and "4766" are the same key).
 *
 * An array, an object, true/false or a number that is not an integer
 * (4766.0, 1e3: what a spreadsheet or pandas makes of an id) is refused:
 * written out as text it would become a key no system has, such as
 * "[""C1""]" in a Conduit file.  JSON null is left to the caller (it
 * means an absent value).  Kept apart from rec.c's reader on purpose:
 * only the programs that use fields as keys apply it, to those fields.
 */
#ifndef EP_KEYVAL_H
#define EP_KEYVAL_H

#include "rec.h"

/*
 * NULL when f (NULL allowed) can be a key value, else what it is
 * instead ("an array", "an object", "true or false", "a number that is
 * not an integer"), for a message.
 */
const char *ep_key_value_why(const struct ep_field *f);

/*
 * Check the fields of r called by any of names (a NULL-terminated list;
 * absent fields pass).  NULL when all can be keys, else the first field
 * that cannot, with *why set as above.
 */
const struct ep_field *ep_rec_key_check(const struct ep_rec *r,
    const char *const *names, const char **why);

#endif
