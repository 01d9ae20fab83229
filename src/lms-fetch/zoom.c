/*
 * zoom.c - lms-fetch against the Zoom REST API (v2), for the meetings the
 * Canvas courses link to.
 *
 * Server-to-Server OAuth: the token comes from POST
 * https://zoom.us/oauth/token?grant_type=account_credentials&account_id=A
 * with the client id and secret as HTTP Basic (src/lib/oauth.c); it lives
 * an hour and is fetched again before that, or once when Zoom answers 401
 * (code 124, "Invalid access token").
 *
 *   meetings      GET /v2/meetings/{id}: one record per --meeting
 *   participants  GET /v2/past_meetings/{id}/participants?page_size=300,
 *                 paged by next_page_token (an empty one ends the list)
 *
 * Zoom throttles with 429 and Retry-After (the pool waits and retries);
 * a 429 whose X-RateLimit-Type is Daily-limit is not retried (http.c).
 * A next_page_token that comes round again fails (69) rather than loop,
 * as does a list past --max-pages.  A meeting deleted after the Canvas
 * links named it answers participants with 404 (code 3001): with
 * --skipped it is named there and left out, nothing of its pages
 * written, and the run exits 4; any other failure stops the run.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pool.h"

struct zpager {
	struct fetch *f;
	struct unit *u;
	char *meeting;		/* the id asked for */
	char *first;		/* the first page's URL */
	char *token;		/* the next_page_token last followed */
	struct ep_http_pages seen;
};

static const char *const meeting_fields[] = { "uuid", "host_id", "topic",
    "type", "status", "start_time", "duration", "timezone", "created_at",
    "join_url", NULL };
static const char *const participant_fields[] = { "id", "user_id", "name",
    "user_email", "join_time", "leave_time", "duration", "status", NULL };

static int zoom_done(struct ep_http *h, struct ep_http_req *r, void *arg);

static void
zpager_free(struct zpager *p)
{
	if (p != NULL) {
		free(p->meeting);
		free(p->first);
		free(p->token);
		ep_http_pages_free(&p->seen);
		free(p);
	}
}

static void
zpager_free_v(void *p)
{
	zpager_free(p);
}

static void
submit(struct fetch *f, struct zpager *p, const char *url)
{
	struct ep_http_req *r = ep_http_req_new("GET", url);

	ep_http_req_header(r, "Accept: application/json");
	r->prio = (long)p->u->index;
	r->arg_free = zpager_free_v;
	ep_http_submit(f->http, r, zoom_done, p);
}

/* One record from object o: meeting_id, then the fields named. */
static struct ep_rec *
record(const char *meeting, json_t *o, const char *const *fields)
{
	struct ep_rec *rec = ep_rec_new();

	ep_rec_set(rec, "meeting_id", EP_T_NUM, meeting, strlen(meeting));
	for (size_t i = 0; fields[i] != NULL; i++)
		ep_lms_rec_json(rec, fields[i], json_object_get(o,
		    fields[i]));
	return rec;
}

static int
zoom_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct zpager *p = arg;
	struct fetch *f = p->f;
	bool parts = strcmp(f->o->what, "participants") == 0;
	struct ep_error err;
	json_error_t je;
	json_t *j = NULL, *list, *next, *e;
	size_t i;
	int rc;

	(void)h;
	if (ep_canvas_check(r, p->u->label, &err) < 0) {
		/* A meeting deleted since it was listed: its participants
		 * are gone, not the service. */
		if (parts && r->err.code == 0 && r->status == 404) {
			json_decref(j);
			rc = meeting_skip(f, p->u, p->meeting, &err);
			zpager_free(p);
			return rc;
		}
		goto fail;
	}
	j = json_loadb(r->resp ? r->resp : "", r->resp_len, 0, &je);
	if (!json_is_object(j)) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the reply is not "
		    "a JSON object", p->u->label);
		goto fail;
	}
	fetch_page(f);
	if (!parts) {
		unit_push(f, p->u, record(p->meeting, j, meeting_fields));
		goto done;
	}
	list = json_object_get(j, "participants");
	if (!json_is_array(list)) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the reply holds "
		    "no participants list", p->u->label);
		goto fail;
	}
	json_array_foreach(list, i, e)
		if (json_is_object(e))
			unit_push(f, p->u, record(p->meeting, e,
			    participant_fields));
	next = json_object_get(j, "next_page_token");
	if (json_is_string(next) && json_string_length(next) > 0) {
		char *t, *url;

		if (p->token != NULL && strcmp(p->token,
		    json_string_value(next)) == 0) {
			ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the "
			    "next_page_token of a page is the one that asked "
			    "for it: the list would never end", p->u->label);
			goto fail;
		}
		free(p->token);
		p->token = ep_xstrdup(json_string_value(next));
		t = ep_url_escape(p->token);
		url = ep_xasprintf("%s&next_page_token=%s", p->first, t);
		free(t);
		if (ep_http_pages_add(&p->seen, url, p->u->label, &err) < 0) {
			free(url);
			goto fail;
		}
		submit(f, p, url);
		free(url);
		json_decref(j);
		return 0;
	}
done:
	json_decref(j);
	rc = unit_done(f, p->u);
	zpager_free(p);
	return rc;
fail:
	json_decref(j);
	rc = unit_fail(f, p->u, &err);
	zpager_free(p);
	return rc;
}

int
zoom_run(struct fetch *f)
{
	const struct opts *o = f->o;
	bool parts = strcmp(o->what, "participants") == 0;

	for (size_t i = 0; i < o->meetings.n; i++) {
		char *m = ep_url_escape(o->meetings.v[i]);
		char *url = parts ? ep_url_join(f->base, "/v2/past_meetings/%s/"
		    "participants?page_size=300", m) : ep_url_join(f->base,
		    "/v2/meetings/%s", m);
		struct zpager *p;
		struct ep_error err;

		free(m);
		if (o->dry_run) {
			struct ep_http_req *r = ep_http_req_new("GET", url);

			ep_http_describe(stderr, r);
			ep_http_req_free(r);
			free(url);
			continue;
		}
		p = ep_xcalloc(1, sizeof(*p));
		p->f = f;
		p->meeting = ep_xstrdup(o->meetings.v[i]);
		p->u = unit_add(f, "%s of meeting %s", parts ? "participants" :
		    "details", o->meetings.v[i]);
		p->first = url;
		ep_http_pages_init(&p->seen, o->conn.max_pages);
		(void)ep_http_pages_add(&p->seen, url, p->u->label, &err);
		submit(f, p, url);
	}
	return 0;
}

/*
 * canvas zoom-links: the Zoom meetings a Canvas course links to (the
 * seed's canvas_zoom_meetings, by documented routes).  A course counts
 * when its tabs (GET /api/v1/courses/:id/tabs) hold one labelled "Zoom"
 * that is not hidden (Canvas sends "hidden" only when true); its meetings
 * are the join links https://HOST.zoom.us/j/NUMBER (or zoom.us/j/) in its
 * syllabus (GET /api/v1/courses/:id?include[]=syllabus_body) and its
 * calendar events' location and description (GET
 * /api/v1/calendar_events?context_codes[]=course_:id&all_events=true,
 * paged by Link).  One record per course and meeting number: course_id,
 * meeting_id, join_url, source (syllabus or calendar: where it was seen
 * first), sorted by meeting_id.
 */
struct zlink {
	char *id, *url;
	const char *source;
};

struct zcourse {
	struct fetch *f;
	struct unit *u;
	char *course;
	int refs;		/* requests not yet done */
	bool tab, failed;
	struct zlink *links;
	size_t n;
	char *syllabus;		/* scanned first, when all is in */
	struct ep_http_pages seen; /* the calendar's pages */
};

static void
zc_free(struct zcourse *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->links[i].id);
		free(c->links[i].url);
	}
	free(c->links);
	free(c->course);
	free(c->syllabus);
	ep_http_pages_free(&c->seen);
	free(c);
}

static void
zc_unref_v(void *arg)
{
	struct zcourse *c = arg;

	if (--c->refs == 0)
		zc_free(c);
}

static void
zc_add(struct zcourse *c, const char *id, size_t n, const char *host,
    size_t hn, const char *source)
{
	for (size_t i = 0; i < c->n; i++)
		if (strlen(c->links[i].id) == n &&
		    strncmp(c->links[i].id, id, n) == 0)
			return;
	c->links = ep_xrealloc(c->links, (c->n + 1) * sizeof(*c->links));
	c->links[c->n].id = ep_xstrndup(id, n);
	c->links[c->n].url = ep_xasprintf("https://%.*s/j/%.*s", (int)hn,
	    host, (int)n, id);
	c->links[c->n].source = source;
	c->n++;
}

static bool
host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
}

/* Every https://[HOST.]zoom.us/j/NUMBER in s (9 to 11 digits). */
static void
zc_scan(struct zcourse *c, const char *s, const char *source)
{
	const char *p = s;

	while (s != NULL && (p = strstr(p, "zoom.us/j/")) != NULL) {
		const char *d = p + 10, *h = p;
		size_t n = strspn(d, "0123456789");

		while (h > s && host_char(h[-1]))
			h--;
		if (n >= 9 && n <= 11 && !(d[n] >= '0' && d[n] <= '9') &&
		    h - s >= 8 && strncasecmp(h - 8, "https://", 8) == 0 &&
		    (h == p || p[-1] == '.'))
			zc_add(c, d, n, h, (size_t)(p + 7 - h), source);
		p = d;
	}
}

static int
zlink_cmp(const void *a, const void *b)
{
	const struct zlink *x = a, *y = b;
	size_t nx = strlen(x->id), ny = strlen(y->id);

	return nx != ny ? (nx < ny ? -1 : 1) : strcmp(x->id, y->id);
}

/* One request of course c is done: the last one writes the course. */
static int
zc_end(struct zcourse *c)
{
	int rc = 0;

	if (--c->refs > 0)
		return 0;
	if (!c->failed) {
		struct zlink *cal = c->links;
		size_t ncal = c->n;

		/* The syllabus first, so it wins as the source. */
		c->links = NULL;
		c->n = 0;
		zc_scan(c, c->syllabus, "syllabus");
		for (size_t i = 0; i < ncal; i++) {
			zc_add(c, cal[i].id, strlen(cal[i].id), cal[i].url + 8,
			    strlen(cal[i].url + 8) - 3 - strlen(cal[i].id),
			    "calendar");
			free(cal[i].id);
			free(cal[i].url);
		}
		free(cal);
		ep_sort(c->links, c->n, sizeof(*c->links), zlink_cmp);
		for (size_t i = 0; c->tab && i < c->n; i++) {
			struct ep_rec *rec = ep_rec_new();

			ep_rec_set(rec, "course_id", EP_T_NUM, c->course,
			    strlen(c->course));
			ep_rec_set(rec, "meeting_id", EP_T_NUM, c->links[i].id,
			    strlen(c->links[i].id));
			ep_rec_set_str(rec, "join_url", c->links[i].url);
			ep_rec_set_str(rec, "source", c->links[i].source);
			unit_push(c->f, c->u, rec);
		}
		rc = unit_done(c->f, c->u);
	}
	zc_free(c);
	return rc;
}

static int
zc_fail(struct zcourse *c, const struct ep_error *e)
{
	int rc = 0;

	if (!c->failed) {
		c->failed = true;
		rc = unit_fail(c->f, c->u, e);
	}
	if (--c->refs == 0)
		zc_free(c);
	return rc;
}

static int zc_done(struct ep_http *h, struct ep_http_req *r, void *arg);

static void
zc_get(struct zcourse *c, char *url, int kind)
{
	struct ep_http_req *r = ep_http_req_new("GET", url);

	free(url);
	ep_http_req_header(r, "Accept: application/json");
	r->prio = (long)c->u->index;
	r->udata = (void *)(intptr_t)kind;
	r->auth = ep_http_same_origin(r->url, c->f->base);
	r->arg_free = zc_unref_v;
	c->refs++;
	ep_http_submit(c->f->http, r, zc_done, c);
}

enum { ZC_TABS, ZC_SYLLABUS, ZC_EVENTS };

static int
zc_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct zcourse *c = arg;
	int kind = (int)(intptr_t)r->udata;
	struct ep_error err;
	json_t *j = NULL, *e;
	size_t i;

	(void)h;
	if (c->failed)
		return zc_end(c);
	if (ep_canvas_check(r, c->u->label, &err) < 0)
		return zc_fail(c, &err);
	j = json_loadb(r->resp ? r->resp : "", r->resp_len, 0, NULL);
	fetch_page(c->f);
	if (kind == ZC_SYLLABUS ? !json_is_object(j) : !json_is_array(j)) {
		json_decref(j);
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the %s reply is "
		    "not a JSON %s", c->u->label, kind == ZC_TABS ? "tabs" :
		    kind == ZC_SYLLABUS ? "course" : "calendar events",
		    kind == ZC_SYLLABUS ? "object" : "list");
		return zc_fail(c, &err);
	}
	if (kind == ZC_TABS) {
		json_array_foreach(j, i, e) {
			json_t *l = json_object_get(e, "label");

			if (json_is_string(l) &&
			    strcmp(json_string_value(l), "Zoom") == 0 &&
			    !json_is_true(json_object_get(e, "hidden")))
				c->tab = true;
		}
	} else if (kind == ZC_SYLLABUS) {
		e = json_object_get(j, "syllabus_body");
		if (json_is_string(e))
			c->syllabus = ep_xstrdup(json_string_value(e));
	} else {
		json_array_foreach(j, i, e) {
			zc_scan(c, json_string_value(json_object_get(e,
			    "location_name")), "calendar");
			zc_scan(c, json_string_value(json_object_get(e,
			    "description")), "calendar");
		}
		if (r->next_url != NULL) {
			if (ep_http_pages_add(&c->seen, r->next_url,
			    c->u->label, &err) < 0) {
				json_decref(j);
				return zc_fail(c, &err);
			}
			zc_get(c, ep_xstrdup(r->next_url), ZC_EVENTS);
		}
	}
	json_decref(j);
	return zc_end(c);
}

int
canvas_zoom_run(struct fetch *f)
{
	const struct opts *o = f->o;

	for (size_t i = 0; i < o->courses.n; i++) {
		char *id = ep_url_escape(o->courses.v[i]);
		char *urls[3];
		struct zcourse *c;
		struct ep_error err;

		urls[0] = ep_url_join(f->base, "/api/v1/courses/%s/tabs", id);
		urls[1] = ep_url_join(f->base, "/api/v1/courses/%s?"
		    "include%%5B%%5D=syllabus_body", id);
		urls[2] = ep_url_join(f->base, "/api/v1/calendar_events?"
		    "context_codes%%5B%%5D=course_%s&all_events=true&"
		    "per_page=100", id);
		free(id);
		if (o->dry_run) {
			for (int k = 0; k < 3; k++) {
				struct ep_http_req *r = ep_http_req_new("GET",
				    urls[k]);

				ep_http_describe(stderr, r);
				ep_http_req_free(r);
				free(urls[k]);
			}
			continue;
		}
		c = ep_xcalloc(1, sizeof(*c));
		c->f = f;
		c->course = ep_xstrdup(o->courses.v[i]);
		c->u = unit_add(f, "Zoom links of course %s", o->courses.v[i]);
		ep_http_pages_init(&c->seen, o->conn.max_pages);
		(void)ep_http_pages_add(&c->seen, urls[2], c->u->label, &err);
		/* A reference held while submitting: no callback runs
		 * before ep_http_run, but keep the count honest. */
		c->refs = 1;
		zc_get(c, urls[0], ZC_TABS);
		zc_get(c, urls[1], ZC_SYLLABUS);
		zc_get(c, urls[2], ZC_EVENTS);
		c->refs--;
	}
	return 0;
}
