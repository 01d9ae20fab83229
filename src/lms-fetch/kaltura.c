/*
 * kaltura.c - lms-fetch against the Kaltura API v3 (MiVideo): media
 * entries and the categories they are published in.
 *
 * Every call is a POST to api_v3/service/SERVICE/action/ACTION with
 * format=1 (JSON) and its parameters in the form body, so neither the
 * admin secret nor the session (ks) ever appears in a URL.  A session
 * comes first from session.start (secret, partnerId, type=2 ADMIN); its
 * ks is registered as a secret and masked in every message like the
 * admin secret itself.  Kaltura reports errors as HTTP 200 with
 * {"objectType": "KalturaAPIException", "code", "message"}: each reply is
 * checked for that shape first.  A refused session (START_SESSION_ERROR,
 * INVALID_KS, EXPIRED_KS, SERVICE_FORBIDDEN, INVALID_PARTNER_ID ...)
 * exits 77, any other Kaltura error 69.
 *
 * media.list runs with a KalturaMediaEntryFilter: categoriesFullNameIn
 * (--category), createdAtGreaterThanOrEqual (--since), orderBy
 * +createdAt, paged with a KalturaFilterPager.  Kaltura answers no list
 * past its 10,000th match (QUERY_EXCEEDED_MAX_MATCHES_ALLOWED), so a long
 * listing is read in time windows, as Kaltura advises: before a page
 * would pass the limit (or when the error comes anyway) the window moves
 * to start at the createdAt of the last entry read, with the entries
 * already read at that second excluded by idNotIn, and paging starts
 * again at 1.  Every entry is written once: an id that comes round again
 * (a page that repeats) fails the run rather than count twice, and so
 * does a window that cannot move on.  A page shorter than the page size
 * ends the listing.
 *
 * Records, in createdAt order: id, name, created_at and updated_at (ISO
 * 8601 UTC), duration (seconds), user_id, media_type, categories and
 * categories_ids (Kaltura's comma lists of full names and ids, as the
 * entry carries them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"

/* Kaltura lists no match past this one. */
#define KALTURA_MAX_MATCHES 10000L

struct kal {
	struct fetch *f;
	struct unit *u;
	char *ks;
	long long since;	/* the window's createdAt >= */
	long page;		/* pager pageIndex, from 1 */
	long long last_at;	/* createdAt of the last entry written */
	struct strv at_ids;	/* ids written with createdAt == last_at */
	long long moved_from;	/* since of the last window move, or -1 */
	size_t moved_ids;	/* at_ids.n then */
	char *not_in;		/* idNotIn of the window: at_ids then */
};

static struct kal K;

static void
strv_clear(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

static bool
strv_has(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

static struct ep_http_req *
api_request(const struct fetch *f, const char *service, const char *action)
{
	char *url = ep_xasprintf("%s/api_v3/service/%s/action/%s", f->base,
	    service, action);
	struct ep_http_req *r = ep_http_req_new("POST", url);

	/* session.start and list only read: safe to repeat. */
	r->idempotent = true;
	r->auth = false;
	free(url);
	ep_http_req_form(r, "format", "1");
	return r;
}

/* Kaltura codes that mean the session or the account was refused. */
static bool
auth_code(const char *code)
{
	static const char *const codes[] = { "START_SESSION_ERROR",
	    "INVALID_KS", "EXPIRED_KS", "KS_EXPIRED", "INVALID_SECRET",
	    "SERVICE_FORBIDDEN", "INVALID_PARTNER_ID",
	    "PARTNER_NOT_FOUND", "ADMIN_KUSER_NOT_FOUND", NULL };

	for (int i = 0; codes[i]; i++)
		if (strcmp(codes[i], code) == 0)
			return true;
	return false;
}

/*
 * Parse reply r of call what: the JSON in *jp, or -1 with err set for a
 * transport error, a status that is not 2xx, a body that is not JSON and
 * a KalturaAPIException (its code in *codep when codep is given).
 */
static int
reply(struct ep_http_req *r, const char *what, json_t **jp,
    char **codep, struct ep_error *err)
{
	json_error_t je;
	json_t *j, *ot;

	*jp = NULL;
	if (ep_http_check(r, err) < 0)
		return -1;
	j = json_loadb(r->resp, r->resp_len, JSON_DECODE_ANY, &je);
	if (j == NULL) {
		char *ex = ep_mask_excerpt(r->resp, r->resp_len, 80);

		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: the reply is not "
		    "JSON (%s): '%s'", what, je.text, ex);
		free(ex);
		return -1;
	}
	ot = json_is_object(j) ? json_object_get(j, "objectType") : NULL;
	if (json_is_string(ot) && strcmp(json_string_value(ot),
	    "KalturaAPIException") == 0) {
		const char *code = json_string_value(json_object_get(j,
		    "code"));
		const char *m = json_string_value(json_object_get(j,
		    "message"));
		char *ex = ep_mask_excerpt(m ? m : "", m ? strlen(m) : 0,
		    EP_SERVER_TEXT_MAX);

		if (code == NULL)
			code = "(no code)";
		if (codep != NULL)
			*codep = ep_xstrdup(code);
		ep_error_set(err, auth_code(code) ? EP_EXIT_NOPERM :
		    EP_EXIT_UNAVAILABLE, "%s: Kaltura error %s: %s", what,
		    code, ex);
		free(ex);
		json_decref(j);
		return -1;
	}
	*jp = j;
	return 0;
}

static void
iso(long long t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "%lld", t);
}

static void
put_text(struct ep_rec *rec, const char *name, json_t *v)
{
	if (json_is_string(v))
		ep_rec_set_str(rec, name, json_string_value(v));
	else
		ep_rec_set(rec, name, EP_T_NULL, NULL, 0);
}

static void
put_int(struct ep_rec *rec, const char *name, json_t *v)
{
	char b[32];

	if (json_is_integer(v)) {
		snprintf(b, sizeof(b), "%lld",
		    (long long)json_integer_value(v));
		ep_rec_set(rec, name, EP_T_NUM, b, strlen(b));
	} else {
		ep_rec_set(rec, name, EP_T_NULL, NULL, 0);
	}
}

static void submit_list(struct fetch *f);

/* Move the window to the last entry's second, or fail (-1, err). */
static int
move_window(struct fetch *f, struct ep_error *err)
{
	if (K.last_at < 0 || (K.moved_from == K.last_at &&
	    K.moved_ids == K.at_ids.n)) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "kaltura: media.list: "
		    "more than %ld entries at one time window cannot be "
		    "listed (Kaltura stops at its %ldth match and the window "
		    "cannot move on)", KALTURA_MAX_MATCHES,
		    KALTURA_MAX_MATCHES);
		return -1;
	}
	size_t len = 1;

	K.since = K.last_at;
	K.moved_from = K.last_at;
	K.moved_ids = K.at_ids.n;
	K.page = 1;
	for (size_t i = 0; i < K.at_ids.n; i++)
		len += strlen(K.at_ids.v[i]) + 1;
	free(K.not_in);
	K.not_in = ep_xcalloc(len, 1);
	for (size_t i = 0; i < K.at_ids.n; i++) {
		if (i > 0)
			strcat(K.not_in, ",");
		strcat(K.not_in, K.at_ids.v[i]);
	}
	ep_info(1, "kaltura: Kaltura's %ld-match limit: the listing goes "
	    "on from createdAt %lld", KALTURA_MAX_MATCHES, K.since);
	(void)f;
	return 0;
}

static int
list_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct fetch *f = arg;
	long size = f->o->page_size;
	struct ep_error err;
	char what[96], *code = NULL;
	json_t *j, *objs;
	size_t n;

	(void)h;
	snprintf(what, sizeof(what), "kaltura: media.list page %ld", K.page);
	if (reply(r, what, &j, &code, &err) < 0) {
		bool over = code != NULL &&
		    strcmp(code, "QUERY_EXCEEDED_MAX_MATCHES_ALLOWED") == 0;

		free(code);
		if (!over || move_window(f, &err) < 0)
			return unit_fail(f, K.u, &err);
		submit_list(f);
		return 0;
	}
	objs = json_is_object(j) ? json_object_get(j, "objects") : NULL;
	if (!json_is_array(objs)) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the reply has no "
		    "'objects' list", what);
		json_decref(j);
		return unit_fail(f, K.u, &err);
	}
	fetch_page(f);
	n = json_array_size(objs);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(objs, i);
		json_t *id = json_object_get(e, "id");
		json_t *at = json_object_get(e, "createdAt");
		struct ep_rec *rec;
		char b[40];
		long long t;

		if (!json_is_string(id) || !json_is_integer(at)) {
			ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: entry %zu "
			    "has no string 'id' and integer 'createdAt'",
			    what, i + 1);
			json_decref(j);
			return unit_fail(f, K.u, &err);
		}
		t = (long long)json_integer_value(at);
		/* In +createdAt order an entry read before is one of an
		 * earlier second or one of at_ids. */
		if (t < K.last_at || (t == K.last_at &&
		    strv_has(&K.at_ids, json_string_value(id)))) {
			ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: entry '%s' "
			    "was read before (a page that repeats, or a list "
			    "not in +createdAt order): stopped rather than "
			    "count it twice", what, json_string_value(id));
			json_decref(j);
			return unit_fail(f, K.u, &err);
		}
		if (t != K.last_at)
			strv_clear(&K.at_ids);
		K.last_at = t;
		strv_add(&K.at_ids, json_string_value(id));
		rec = ep_rec_new();
		ep_rec_set_str(rec, "id", json_string_value(id));
		put_text(rec, "name", json_object_get(e, "name"));
		iso(t, b, sizeof(b));
		ep_rec_set_str(rec, "created_at", b);
		if (json_is_integer(json_object_get(e, "updatedAt"))) {
			iso((long long)json_integer_value(json_object_get(e,
			    "updatedAt")), b, sizeof(b));
			ep_rec_set_str(rec, "updated_at", b);
		} else {
			ep_rec_set(rec, "updated_at", EP_T_NULL, NULL, 0);
		}
		put_int(rec, "duration", json_object_get(e, "duration"));
		put_text(rec, "user_id", json_object_get(e, "userId"));
		put_int(rec, "media_type", json_object_get(e, "mediaType"));
		put_text(rec, "categories", json_object_get(e, "categories"));
		put_text(rec, "categories_ids", json_object_get(e,
		    "categoriesIds"));
		unit_push(f, K.u, rec);
	}
	json_decref(j);
	if ((long)n < size)
		return unit_done(f, K.u);
	K.page++;
	if (K.page > f->o->conn.max_pages) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "kaltura: media.list: "
		    "more than %ld pages (--max-pages)", f->o->conn.max_pages);
		return unit_fail(f, K.u, &err);
	}
	if (K.page * size > KALTURA_MAX_MATCHES && move_window(f, &err) < 0)
		return unit_fail(f, K.u, &err);
	submit_list(f);
	return 0;
}

static void
submit_list(struct fetch *f)
{
	const struct opts *o = f->o;
	struct ep_http_req *r = api_request(f, "media", "list");
	char b[32];

	ep_http_req_form(r, "ks", K.ks ? K.ks : "****");
	ep_http_req_form(r, "filter[objectType]", "KalturaMediaEntryFilter");
	ep_http_req_form(r, "filter[orderBy]", "+createdAt");
	snprintf(b, sizeof(b), "%lld", K.since);
	ep_http_req_form(r, "filter[createdAtGreaterThanOrEqual]", b);
	ep_http_req_form(r, "filter[categoriesFullNameIn]", o->category);
	if (K.not_in != NULL)
		ep_http_req_form(r, "filter[idNotIn]", K.not_in);
	ep_http_req_form(r, "pager[objectType]", "KalturaFilterPager");
	snprintf(b, sizeof(b), "%ld", o->page_size);
	ep_http_req_form(r, "pager[pageSize]", b);
	snprintf(b, sizeof(b), "%ld", K.page);
	ep_http_req_form(r, "pager[pageIndex]", b);
	if (o->dry_run) {
		ep_http_describe(stderr, r);
		ep_http_req_free(r);
		return;
	}
	ep_http_submit(f->http, r, list_done, f);
}

static int
session_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct fetch *f = arg;
	struct ep_error err;
	json_t *j;

	(void)h;
	if (reply(r, "kaltura: session.start", &j, NULL, &err) < 0)
		return unit_fail(f, K.u, &err);
	if (!json_is_string(j) || json_string_length(j) == 0) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "kaltura: session.start: "
		    "the reply is not a session string");
		json_decref(j);
		return unit_fail(f, K.u, &err);
	}
	K.ks = ep_xstrdup(json_string_value(j));
	json_decref(j);
	ep_secret_register(K.ks);
	submit_list(f);
	return 0;
}

int
kaltura_run(struct fetch *f)
{
	const struct opts *o = f->o;
	struct ep_http_req *r = api_request(f, "session", "start");

	memset(&K, 0, sizeof(K));
	K.f = f;
	K.since = o->since;
	K.page = 1;
	K.last_at = -1;
	K.moved_from = -1;
	ep_http_req_form(r, "secret", f->token ? f->token : "****");
	ep_http_req_form(r, "partnerId", o->partner_id);
	ep_http_req_form(r, "type", "2");	/* KalturaSessionType ADMIN */
	ep_http_req_form(r, "expiry", "86400");
	if (o->dry_run) {
		ep_http_describe(stderr, r);
		ep_http_req_free(r);
		submit_list(f);
		return 0;
	}
	K.u = unit_add(f, "kaltura");
	ep_http_submit(f->http, r, session_done, f);
	return 0;
}

void
kaltura_free(void)
{
	free(K.ks);
	free(K.not_in);
	strv_clear(&K.at_ids);
	memset(&K, 0, sizeof(K));
}

/*
 * "2020-03-01T00:00:00Z", "...+00:00", "... 00:00:00" (UTC), a date
 * alone, or seconds since 1970: seconds since 1970 in *t.  -1 when s is
 * none of them.
 */
int
kaltura_time(const char *s, long long *t)
{
	struct tm tm;
	int y, mo, d, H = 0, M = 0, S = 0, oh = 0, om = 0, n = 0;
	char sign;
	const char *p;

	if (s[0] != '\0' && strspn(s, "0123456789") == strlen(s) &&
	    strlen(s) <= 12) {
		*t = strtoll(s, NULL, 10);
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	p = s + 10;
	if (*p == 'T' || *p == ' ') {
		if (sscanf(p + 1, "%2d:%2d:%2d%n", &H, &M, &S, &n) != 3 ||
		    n != 8)
			return -1;
		p += 9;
		if (*p == '.')
			p += 1 + strspn(p + 1, "0123456789");
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p;
			if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 ||
			    n != 5)
				return -1;
			p += 6;
			if (sign == '-') {
				oh = -oh;
				om = -om;
			}
		}
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || H > 23 ||
	    M > 59 || S > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = H;
	tm.tm_min = M;
	tm.tm_sec = S;
	*t = (long long)timegm(&tm) - oh * 3600LL - om * 60LL;
	return 0;
}
