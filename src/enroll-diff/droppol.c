/*
 * droppol.c - per-course drop policies for enroll-diff (see droppol.h).
 *
 * A course named twice with two policies is an error rather than "the
 * last wins": the file decides whether students lose their enrollment.
 */
#include <stdlib.h>
#include <string.h>

#include "droppol.h"

static void
add(struct droppol *dp, const char *key, bool is_id, enum ep_drop_policy p)
{
	dp->key = ep_xrealloc(dp->key, (dp->n + 1) * sizeof(*dp->key));
	dp->is_id = ep_xrealloc(dp->is_id, (dp->n + 1) * sizeof(*dp->is_id));
	dp->p = ep_xrealloc(dp->p, (dp->n + 1) * sizeof(*dp->p));
	dp->key[dp->n] = ep_xstrdup(key);
	dp->is_id[dp->n] = is_id;
	dp->p[dp->n++] = p;
}

/* The index of key in dp, or -1. */
static long
find(const struct droppol *dp, const char *key, size_t len, bool is_id)
{
	for (size_t i = 0; key != NULL && i < dp->n; i++)
		if (dp->is_id[i] == is_id && strlen(dp->key[i]) == len &&
		    memcmp(dp->key[i], key, len) == 0)
			return (long)i;
	return -1;
}

int
droppol_load(struct droppol *dp, const char *path, struct ep_error *err)
{
	struct ep_reader *rd = ep_reader_open(path, EP_FMT_AUTO, err);
	struct ep_rec *r = ep_rec_new();
	int k = 0;

	dp->path = path;
	if (rd == NULL) {
		ep_rec_free(r);
		return -1;
	}
	while ((k = ep_reader_next(rd, r, err)) == 1) {
		const char *c = ep_rec_str(r, "course");
		const char *i = ep_rec_str(r, "course_id");
		const char *w = ep_rec_str(r, "drop_policy");
		enum ep_drop_policy p = ep_drop_policy_parse(w);
		const char *name = ep_reader_name(rd);
		unsigned long line = ep_reader_line(rd);

		if ((c == NULL || *c == '\0') && (i == NULL || *i == '\0')) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: a drop "
			    "policy needs 'course' or 'course_id'", name, line);
			k = -1;
			break;
		}
		if (p == EP_DROP_BAD) {
			char *esc = ep_msg_escape(w ? w : "");

			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: drop_policy "
			    "'%s' is not one of " EP_DROP_POLICY_WORDS, name,
			    line, esc);
			free(esc);
			k = -1;
			break;
		}
		for (int id = 0; id < 2; id++) {
			const char *key = id ? i : c;
			long at;

			if (key == NULL || *key == '\0')
				continue;
			at = find(dp, key, strlen(key), id);
			if (at >= 0 && dp->p[at] != p) {
				char *esc = ep_msg_escape(key);

				ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: "
				    "%s '%s' already has drop policy %s", name,
				    line, id ? "course_id" : "course", esc,
				    ep_drop_policy_name(dp->p[at]));
				free(esc);
				k = -1;
				break;
			}
			if (at < 0)
				add(dp, key, id, p);
		}
		if (k < 0)
			break;
	}
	ep_rec_free(r);
	ep_reader_free(rd);
	return k < 0 ? -1 : 0;
}

enum ep_drop_policy
droppol_of(const struct droppol *dp, struct ed_diff *d,
    const struct ed_change *c)
{
	size_t len = 0;
	const char *v = ed_change_field(d, c, "course", &len);
	long at = find(dp, v, len, false);

	if (at < 0) {
		v = ed_change_field(d, c, "course_id", &len);
		at = find(dp, v, len, true);
	}
	return at >= 0 ? dp->p[at] : dp->def;
}

void
droppol_free(struct droppol *dp)
{
	for (size_t i = 0; i < dp->n; i++)
		free(dp->key[i]);
	free(dp->key);
	free(dp->is_id);
	free(dp->p);
}
