/*
 * pool.c - lms-fetch's run state: the ordered output units, the side
 * outputs (--unkeyed, --skipped) and --progress, for main.c and the
 * backends (moodle.c, canvas.c).  See pool.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pool.h"

static void progress(struct fetch *f);

/*
 * --user-key: which field of the LMS's user the records' 'user' holds.
 * src is the record field it comes from (NULL: 'user' as parsed, which
 * is then kept as orig); every enrollment record also carries orig, so
 * the fields are the same whatever the key.
 */
static const struct user_key {
	const char *lms, *name, *src;
} user_keys[] = {
	{ "moodle", "idnumber", "idnumber" },
	{ "moodle", "username", NULL },
	{ "moodle", "email", "email" },
	{ "moodle", "id", "user_id" },
	{ "canvas", "sis_user_id", NULL },
	{ "canvas", "login_id", "login_id" },
	{ "canvas", "email", "email" },
	{ "canvas", "id", "user_id" },
};

bool
user_key_known(const char *lms, const char *key)
{
	for (size_t i = 0; i < sizeof(user_keys) / sizeof(user_keys[0]); i++)
		if (strcmp(user_keys[i].lms, lms) == 0 &&
		    strcmp(user_keys[i].name, key) == 0)
			return true;
	return false;
}

/*
 * Key an enrollment record by --user-key: 0 when it has no value there
 * (null or ""), 1 otherwise.
 */
static int
user_rekey(const struct opts *o, struct ep_rec *rec)
{
	const char *orig = strcmp(o->lms, "moodle") == 0 ? "username" :
	    "sis_user_id";
	const struct ep_field *uf = ep_rec_get(rec, "user"), *kf;
	const struct user_key *k = NULL;
	char *v;
	enum ep_type t;

	for (size_t i = 0; i < sizeof(user_keys) / sizeof(user_keys[0]); i++)
		if (strcmp(user_keys[i].lms, o->lms) == 0 &&
		    strcmp(user_keys[i].name, o->user_key) == 0)
			k = &user_keys[i];
	if (uf != NULL) {
		v = ep_xstrndup(uf->val, uf->vlen);
		t = uf->type;
		ep_rec_set(rec, orig, t, v, strlen(v));
		free(v);
	} else {
		ep_rec_set(rec, orig, EP_T_NULL, NULL, 0);
	}
	kf = ep_rec_get(rec, k->src ? k->src : "user");
	if (kf == NULL || kf->type == EP_T_NULL || kf->vlen == 0)
		return 0;
	if (k->src != NULL) {
		v = ep_xstrndup(kf->val, kf->vlen);
		t = kf->type;
		ep_rec_set(rec, "user", t, v, strlen(v));
		free(v);
	}
	return 1;
}

int
side_open(struct side *s, const char *path, struct ep_error *err)
{
	s->path = path;
	if (path == NULL)
		return 0;
	s->out = ep_out_open(path, err);
	if (s->out == NULL)
		return -1;
	s->w = ep_writer_new(ep_out_file(s->out), EP_FMT_NDJSON);
	return 0;
}

static void
side_write(struct fetch *f, struct side *s, const struct ep_rec *rec)
{
	struct ep_error e;

	s->n++;
	if (s->w != NULL && f->err.code != EP_EXIT_IOERR &&
	    ep_writer_write(s->w, rec, &e) < 0)
		f->err = e;
}

static int
side_commit(struct side *s, struct ep_error *err)
{
	int rc = 0;

	if (s->out == NULL)
		return 0;
	if (ep_writer_finish(s->w, err) < 0) {
		ep_out_abort(s->out);
		rc = -1;
	} else {
		rc = ep_out_commit(s->out, err);
	}
	s->out = NULL;
	return rc;
}

struct unit *
unit_add(struct fetch *f, const char *fmt, ...)
{
	struct unit *u = ep_xcalloc(1, sizeof(*u));
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&u->label, fmt, ap) < 0)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	va_end(ap);
	if (f->nunits == f->capunits) {
		f->capunits = f->capunits ? f->capunits * 2 : 16;
		f->units = ep_xrealloc(f->units,
		    f->capunits * sizeof(*f->units));
	}
	u->index = f->nunits;
	f->units[f->nunits++] = u;
	f->course_units += strncmp(u->label, "course ", 7) == 0;
	progress(f);
	return u;
}

void
unit_push(struct fetch *f, struct unit *u, struct ep_rec *rec)
{
	if (strcmp(f->o->what, "enrollments") == 0 &&
	    user_rekey(f->o, rec) == 0) {
		side_write(f, &f->unkeyed, rec);
		ep_rec_free(rec);
		return;
	}
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 64;
		u->recs = ep_xrealloc(u->recs, u->cap * sizeof(*u->recs));
	}
	u->recs[u->n++] = rec;
	f->records++;
	ep_prog_add(f->pg, 1, 0);
}

static void
flush(struct fetch *f)
{
	while (f->flushed < f->nunits && f->units[f->flushed]->done) {
		struct unit *u = f->units[f->flushed++];
		struct ep_error e;

		for (size_t i = 0; i < u->n; i++) {
			if (!u->failed && f->err.code != EP_EXIT_IOERR &&
			    ep_writer_write(f->w, u->recs[i], &e) < 0) {
				/* A write error trumps what went before. */
				f->err = e;
			}
			ep_rec_free(u->recs[i]);
		}
		free(u->recs);
		u->recs = NULL;
		u->n = u->cap = 0;
	}
}

int
unit_done(struct fetch *f, struct unit *u)
{
	f->units_done += !u->done;
	u->done = true;
	progress(f);
	flush(f);
	return f->err.code == EP_EXIT_IOERR ? -1 : 0;
}

int
unit_fail(struct fetch *f, struct unit *u, const struct ep_error *e)
{
	struct ep_error le = *e;
	size_t n;

	if (u != NULL && u->course_id != NULL)
		return course_fail(f, u, u->course, u->course_id, e);

	/* Name the unit ("course 4766: ...") when the message does not:
	 * a transport error only knows the URL, the same for every Moodle
	 * call. */
	if (u != NULL && u->label != NULL) {
		n = strlen(u->label);
		if (strncmp(e->msg, u->label, n) != 0 || e->msg[n] != ':')
			ep_error_set(&le, e->code, "%s: %s", u->label,
			    e->msg);
	}
	if (f->err.code == 0)
		f->err = le;
	if (!f->o->partial)
		return -1;
	ep_warn("%s", le.msg);
	if (u != NULL && !u->done) {
		u->failed = true;
		f->failed_units++;
		return unit_done(f, u);
	}
	return 0;
}

int
course_fail(struct fetch *f, struct unit *u, const char *course,
    const char *course_id, const struct ep_error *e)
{
	struct ep_rec *rec;
	char *reason;
	const char *p;

	if (f->o->skipped_path == NULL || e->code != EP_EXIT_UNAVAILABLE) {
		if (u != NULL) {
			/* unit_fail without coming back here. */
			char *cid = u->course_id;
			int rc;

			u->course_id = NULL;
			rc = unit_fail(f, u, e);
			u->course_id = cid;
			return rc;
		}
		return unit_fail(f, NULL, e);
	}
	rec = ep_rec_new();
	if (course != NULL)
		ep_rec_set_str(rec, "course", course);
	else
		ep_rec_set(rec, "course", EP_T_NULL, NULL, 0);
	if (course_id != NULL) {
		for (p = course_id; *p >= '0' && *p <= '9'; p++)
			continue;
		ep_rec_set(rec, "course_id", *p == '\0' && p != course_id ?
		    EP_T_NUM : EP_T_STR, course_id, strlen(course_id));
	} else {
		ep_rec_set(rec, "course_id", EP_T_NULL, NULL, 0);
	}
	reason = ep_mask_secrets(e->msg);
	ep_rec_set_str(rec, "reason", reason);
	if (course_id != NULL)
		ep_warn("skipped course %s%s%s%s: %s", course_id, course ?
		    " (" : "", course ? course : "", course ? ")" : "",
		    reason);
	else
		ep_warn("skipped course %s: %s", course ? course : "(no id)",
		    reason);
	free(reason);
	side_write(f, &f->skipped, rec);
	ep_rec_free(rec);
	if (u != NULL && !u->done) {
		u->failed = true;
		return unit_done(f, u);
	}
	return 0;
}

int
meeting_skip(struct fetch *f, struct unit *u, const char *meeting_id,
    const struct ep_error *e)
{
	struct ep_rec *rec;
	char *reason;

	if (f->o->skipped_path == NULL)
		return unit_fail(f, u, e);
	rec = ep_rec_new();
	ep_rec_set(rec, "meeting_id", EP_T_NUM, meeting_id,
	    strlen(meeting_id));
	reason = ep_mask_secrets(e->msg);
	ep_rec_set_str(rec, "reason", reason);
	ep_warn("skipped meeting %s: %s", meeting_id, reason);
	free(reason);
	side_write(f, &f->skipped, rec);
	ep_rec_free(rec);
	if (!u->done) {
		u->failed = true;
		return unit_done(f, u);
	}
	return 0;
}

void
fetch_page(struct fetch *f)
{
	f->pages++;
	progress(f);
}

/* What ep_prog_add does not count: units done of all, pages, retries. */
static void
progress(struct fetch *f)
{
	struct ep_http_stats st;

	if (f->pg == NULL)
		return;
	ep_http_get_stats(f->http, &st);
	ep_prog_units(f->pg, f->units_done, f->nunits > 1 ? f->nunits : 0,
	    f->course_units == f->nunits ? "courses" : "parts");
	ep_prog_note(f->pg, "%lu pages, %lu retries", f->pages, st.retries);
	ep_prog_add(f->pg, 0, 0);
}

void
fetch_run(struct fetch *f)
{
	struct ep_error err = { 0, "" };

	if (ep_http_run(f->http, &err) < 0 && f->err.code == 0)
		f->err = err;
}

void
fetch_finish(struct fetch *f)
{
	const struct opts *o = f->o;
	struct ep_error err = { 0, "" };
	struct ep_http_stats st;

	if (f->err.code == 0 && f->flushed < f->nunits)
		ep_error_set(&f->err, EP_EXIT_SOFTWARE, "internal error: "
		    "%zu units never completed", f->nunits - f->flushed);
	if (f->err.code != 0 && o->partial) {
		/* Everything complete goes out; the rest is named. */
		for (size_t i = f->flushed; i < f->nunits; i++)
			if (!f->units[i]->done) {
				f->units[i]->done = f->units[i]->failed = true;
				f->failed_units++;
			}
		flush(f);
		ep_warn("--partial: %lu of %zu units left out", f->failed_units,
		    f->nunits);
	}
	if ((f->err.code == 0 || o->partial) && (side_commit(&f->unkeyed,
	    &err) < 0 || side_commit(&f->skipped, &err) < 0) &&
	    f->err.code == 0)
		f->err = err;
	if (f->err.code == 0 || o->partial) {
		ep_prog_stdout(f->pg);
		if (ep_writer_finish(f->w, &err) < 0 ||
		    ep_out_commit(f->out, &err) < 0) {
			f->out = NULL;
			if (f->err.code == 0)
				f->err = err;
		}
		f->out = NULL;
	}
	if (f->err.code != 0 && !o->partial)
		return;
	ep_http_get_stats(f->http, &st);
	if (f->nunits > 1)
		ep_prog_end(f->pg, "%lu pages, %lu records, %lu of %zu %s, %lu "
		    "retries", f->pages, f->records, f->units_done, f->nunits,
		    f->course_units == f->nunits ? "courses" : "parts",
		    st.retries);
	else
		ep_prog_end(f->pg, "%lu pages, %lu records, %lu retries",
		    f->pages, f->records, st.retries);
	f->pg = NULL;
}

void
fetch_free(struct fetch *f)
{
	for (int i = 0; i < 2; i++) {
		struct side *s = i ? &f->skipped : &f->unkeyed;

		ep_out_abort(s->out);
		ep_writer_free(s->w);
	}
	ep_prog_free(f->pg);
	ep_out_abort(f->out);
	ep_writer_free(f->w);
	ep_http_free(f->http);
	for (size_t i = 0; i < f->nunits; i++) {
		for (size_t k = 0; k < f->units[i]->n; k++)
			ep_rec_free(f->units[i]->recs[k]);
		free(f->units[i]->recs);
		free(f->units[i]->label);
		free(f->units[i]->course);
		free(f->units[i]->course_id);
		free(f->units[i]);
	}
	free(f->units);
	free(f->base);
	free(f->token);
}
