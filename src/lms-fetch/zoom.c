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
 * as does a list past --max-pages.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
	if (ep_canvas_check(r, p->u->label, &err) < 0)
		goto fail;
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
