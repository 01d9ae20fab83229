/*
 * mapping.c - load the course mapping with jansson and check its shape.
 *
 * An entry holds only the keys it is known to have: a misspelt optional
 * key ("sectoin") read as absent would widen the course to every section,
 * so an unknown key is a configuration error (78) naming the file, the
 * entry and the key, with the known key it is nearest to.  A UTF-8
 * byte-order mark, which Windows editors put at the start, is skipped.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"
#include "policy.h"

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
		free(e->program);
		free(e->drop_policy);
	}
	free(m->e);
	free(m);
}

static struct ep_mapping *check(json_t *root, const char *path,
    struct ep_error *err);

struct ep_mapping *
ep_mapping_load(const char *path, struct ep_error *err)
{
	struct ep_mapping *m;
	char *buf = NULL;
	size_t len = 0, cap = 0, k;
	FILE *fp;

	fp = fopen(path, "r");
	if (fp == NULL) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_IOERR, "cannot open mapping '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = ep_xrealloc(buf, cap);
		}
		k = fread(buf + len, 1, cap - len, fp);
		len += k;
	} while (k > 0);
	if (ferror(fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot read mapping '%s': "
		    "%s", path, strerror(errno));
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	m = ep_mapping_parse(buf, len, path, err);
	free(buf);
	return m;
}

struct ep_mapping *
ep_mapping_parse(const char *buf, size_t len, const char *name,
    struct ep_error *err)
{
	json_error_t je;
	json_t *root;

	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);

	if (root == NULL) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s:%d: invalid JSON: %s",
		    name, je.line, je.text);
		return NULL;
	}
	return check(root, name, err);
}

static const char *const known_keys[] = { "courses", "section", "id",
    "program", "drop_policy" };
#define NKNOWN (sizeof(known_keys) / sizeof(known_keys[0]))

/*
 * The edit distance between a and b with adjacent transpositions
 * counted as one edit (optimal string alignment); b is short.
 */
static size_t
osa(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[3][16];

	if (lb >= 16 || la > lb + 2 || lb > la + 2)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *cur = d[i % 3], *prev = d[(i - 1) % 3];

		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1], v;

			v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[(i - 2) % 3][j - 2] + 1 < v)
				v = d[(i - 2) % 3][j - 2] + 1;
			cur[j] = v;
		}
	}
	return d[la % 3][lb];
}

/* The known key within two edits of k (case aside), or NULL. */
static const char *
near_key(const char *k)
{
	char low[16];
	size_t i, best = 3;
	const char *near = NULL;

	for (i = 0; k[i] && i + 1 < sizeof(low); i++)
		low[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
	if (k[i])
		return NULL;
	low[i] = '\0';
	for (i = 0; i < NKNOWN; i++) {
		size_t dist = osa(low, known_keys[i]);

		if (dist < best) {
			best = dist;
			near = known_keys[i];
		}
	}
	return near;
}

/* 0, or -1 with err (78) when entry key of path has an unknown key. */
static int
check_keys(json_t *val, const char *path, const char *key,
    struct ep_error *err)
{
	const char *k, *near;
	json_t *v;

	json_object_foreach(val, k, v) {
		size_t i;

		for (i = 0; i < NKNOWN; i++)
			if (strcmp(k, known_keys[i]) == 0)
				break;
		if (i < NKNOWN)
			continue;
		near = near_key(k);
		ep_error_set(err, EP_EXIT_CONFIG, "%s: entry '%s': unknown key "
		    "'%s'%s%s%s; an entry has 'courses', 'id' and, to take "
		    "one section only, 'section' (a program entry "
		    "'program' and 'id'; either may have 'drop_policy')",
		    path, key, k,
		    near ? " (did you mean '" : "", near ? near : "",
		    near ? "'?)" : "");
		return -1;
	}
	return 0;
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
		json_t *courses, *section, *id, *c, *program, *policy;
		size_t i;

		if (!json_is_object(val)) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s: entry '%s': "
			    "not an object", path, key);
			goto fail;
		}
		if (check_keys(val, path, key, err) < 0)
			goto fail;
		courses = json_object_get(val, "courses");
		section = json_object_get(val, "section");
		id = json_object_get(val, "id");
		program = json_object_get(val, "program");
		policy = json_object_get(val, "drop_policy");
		if (program != NULL && (courses != NULL || section != NULL)) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s: entry '%s': "
			    "a program entry has no 'courses' or 'section'",
			    path, key);
			goto fail;
		}
		if (program != NULL && (!json_is_string(program) ||
		    !*json_string_value(program))) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s: entry '%s': "
			    "'program' must be a SIS program code", path, key);
			goto fail;
		}
		if (policy != NULL && (!json_is_string(policy) ||
		    ep_drop_policy_parse(json_string_value(policy)) ==
		    EP_DROP_BAD)) {
			ep_error_set(err, EP_EXIT_CONFIG, "%s: entry '%s': "
			    "'drop_policy' must be one of "
			    EP_DROP_POLICY_WORDS, path, key);
			goto fail;
		}
		if (program == NULL && (!json_is_array(courses) ||
		    json_array_size(courses) == 0)) {
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
		if (policy != NULL)
			e->drop_policy = ep_xstrdup(json_string_value(policy));
		if (program != NULL) {
			e->program = ep_xstrdup(json_string_value(program));
			m->n++;
			continue;
		}
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
