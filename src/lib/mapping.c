/*
 * mapping.c - load the course mapping with jansson and check its shape.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"

void
ep_mapping_free(struct ep_mapping *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		struct ep_map_entry *e = &m->e[i];

		for (size_t k = 0; k < e->ncourses; k++)
			free(e->courses[k]);
		free(e->courses);
		free(e->section);
		free(e->shortname);
	}
	free(m->e);
	free(m);
}

static struct ep_mapping *check(json_t *root, const char *path,
    struct ep_error *err);

struct ep_mapping *
ep_mapping_load(const char *path, struct ep_error *err)
{
	json_error_t je;
	json_t *root;
	FILE *fp;

	fp = fopen(path, "r");
	if (fp == NULL) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_IOERR, "cannot open mapping '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	root = json_loadf(fp, JSON_REJECT_DUPLICATES, &je);
	fclose(fp);
	if (root == NULL) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%d: invalid JSON: %s",
		    path, je.line, je.text);
		return NULL;
	}
	return check(root, path, err);
}

struct ep_mapping *
ep_mapping_parse(const char *buf, size_t len, const char *name,
    struct ep_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);

	if (root == NULL) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%d: invalid JSON: %s",
		    name, je.line, je.text);
		return NULL;
	}
	return check(root, name, err);
}

/* Check the shape of root (which this steals) and build the mapping. */
static struct ep_mapping *
check(json_t *root, const char *path, struct ep_error *err)
{
	struct ep_mapping *m = NULL;
	json_t *val;
	const char *key;

	if (!json_is_object(root)) {
		ep_error_set(err, EP_EXIT_DATAERR,
		    "%s: the mapping must be a JSON object", path);
		goto fail;
	}
	m = ep_xcalloc(1, sizeof(*m));
	m->e = ep_xcalloc(json_object_size(root), sizeof(*m->e));
	json_object_foreach(root, key, val) {
		struct ep_map_entry *e = &m->e[m->n];
		json_t *courses, *section, *id, *c;
		size_t i;

		if (!json_is_object(val)) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s: entry '%s': "
			    "not an object", path, key);
			goto fail;
		}
		courses = json_object_get(val, "courses");
		section = json_object_get(val, "section");
		id = json_object_get(val, "id");
		if (!json_is_array(courses) || json_array_size(courses) == 0) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s: entry '%s': "
			    "'courses' must be a non-empty array of course "
			    "codes", path, key);
			goto fail;
		}
		if (!json_is_integer(id)) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s: entry '%s': "
			    "'id' must be the Moodle course id (an integer)",
			    path, key);
			goto fail;
		}
		if (section != NULL && !json_is_null(section) &&
		    !json_is_string(section)) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s: entry '%s': "
			    "'section' must be a string", path, key);
			goto fail;
		}
		e->shortname = ep_xstrdup(key);
		e->id = json_integer_value(id);
		if (json_is_string(section))
			e->section = ep_xstrdup(json_string_value(section));
		e->courses = ep_xcalloc(json_array_size(courses),
		    sizeof(char *));
		m->n++;
		json_array_foreach(courses, i, c) {
			if (!json_is_string(c) || !*json_string_value(c)) {
				ep_error_set(err, EP_EXIT_DATAERR,
				    "%s: entry '%s': course %zu is not a "
				    "course code", path, key, i + 1);
				goto fail;
			}
			e->courses[e->ncourses++] =
			    ep_xstrdup(json_string_value(c));
		}
	}
	json_decref(root);
	return m;
fail:
	ep_mapping_free(m);
	json_decref(root);
	return NULL;
}
