/*
 * mapping.h - the Moodle course mapping of the mdlpipeline seed:
 *
 *   {"COUN6552COUN855202Winter2021":
 *        {"courses": ["COUN6552","COUN8552"], "section": "02", "id": 4766},
 *    "BSC5102Winter2021": {"courses": ["BSC5102"], "id": 4748}}
 *
 * Key: the Moodle course shortname.  courses: the SIS course codes whose
 * rosters make up the Moodle course (cross-listing); section: only that
 * section of them (absent: all sections); id: the Moodle course id.
 *
 * A program entry, as the seed's non-academic mapping has them, names a
 * SIS program (PowerCampus ACADEMIC.CURRICULUM) instead of courses:
 *
 *   "CHIRO-Community": {"program": "CHIRO", "id": 5001}
 *
 * Everyone in the program for the term belongs in the Moodle course, and
 * members are only ever added: its drop policy is keep unless the entry
 * says otherwise.  Any entry may carry "drop_policy" (policy.h): what a
 * drop in that course does.
 */
#ifndef EP_MAPPING_H
#define EP_MAPPING_H

#include <stddef.h>

#include "msg.h"

struct ep_map_entry {
	char *shortname;
	char **courses;
	size_t ncourses;
	char *section;		/* NULL: every section */
	long long id;
	char *program;		/* a program entry: no courses, no section */
	char *drop_policy;	/* as given, or NULL */
};

struct ep_mapping {
	struct ep_map_entry *e;	/* in file order */
	size_t n;
};

/*
 * Load and check a mapping file.  NULL with err: 66 when missing, 65 with
 * "FILE:LINE:" or "FILE: entry 'KEY':" when malformed, 78 with "FILE:
 * entry 'KEY': unknown key 'K'" for a key an entry does not have (a typo
 * of 'section' must not widen a course to every section).  A UTF-8
 * byte-order mark at the start is skipped.
 */
struct ep_mapping *ep_mapping_load(const char *path, struct ep_error *err);
/* The same checks on a mapping already in memory; name is used in
 * messages as the path is. */
struct ep_mapping *ep_mapping_parse(const char *buf, size_t len,
    const char *name, struct ep_error *err);
void ep_mapping_free(struct ep_mapping *m);

#endif
