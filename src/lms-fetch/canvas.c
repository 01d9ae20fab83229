/*
 * canvas.c - lms-fetch against the Canvas REST API.
 *
 * The token goes in an "Authorization: Bearer" header, never in a URL.
 * Lists are asked for with per_page=100 and followed through the Link
 * header's rel="next" URL, used as given (Canvas page URLs are opaque);
 * the token is only sent on when that URL is on the same site.  Pages of
 * one list are fetched one after the other, different lists concurrently.
 * A list whose next URL comes back to a page already fetched, or that
 * runs past --max-pages, fails (69) rather than loop.
 *
 * Provisioning reports: one provisioning_csv report per --term and --what
 * item, all started at once, so that each attachment is a single CSV
 * (Canvas zips the attachment when a report holds several).  The --term
 * values are first resolved to Canvas term ids through the account's term
 * list (see resolve_one); a value that matches no term, or several, fails
 * the run (78) before any report is started.  --historical sends no
 * enrollment_term_id (every term); --processorgs adds the account-level
 * parts (accounts, admins), once, without a term.  Each is polled with a
 * growing interval until complete, error or aborted; the attachment URL is
 * downloaded following redirects, and when it has expired (401, 403, 404,
 * 410) the report is polled again for a fresh one, twice at most.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pool.h"

struct pager {
	struct fetch *f;
	struct unit *u;		/* NULL for a course listing */
	enum ep_canvas_kind kind;
	size_t term;		/* listing: index into --term */
	char *what;		/* for messages */
	struct ep_http_pages seen; /* the page URLs of this listing */
	struct resolver *res;	/* the term list that resolves --term */
};

/* --term values to Canvas term ids: the account's terms and the map. */
struct resolver {
	struct ep_rec **terms;
	size_t n;
	char **map_from, **map_to;	/* --term-map lines */
	size_t nmap;
};

struct report {
	struct fetch *f;
	struct unit *u;
	const char *part;	/* users, courses, ... */
	char *term;		/* Canvas term id, or NULL: every term or
				 * account-level */
	char *status_url;
	long long started;
	long poll_ms;
	int refreshes;
};

static int paged_done(struct ep_http *h, struct ep_http_req *r, void *arg);
static void submit_enrollments(struct fetch *f, const char *course);
static void submit_listing(struct fetch *f, size_t term);
static void resolver_free(struct resolver *rs);
static int terms_resolved(struct fetch *f, struct resolver *rs);

static void
pager_free(struct pager *p)
{
	if (p != NULL) {
		free(p->what);
		ep_http_pages_free(&p->seen);
		resolver_free(p->res);
		free(p);
	}
}

static void
pager_free_v(void *p)
{
	pager_free(p);
}

static struct pager *
pager_new(struct fetch *f, struct unit *u, enum ep_canvas_kind kind,
    const char *what)
{
	struct pager *p = ep_xcalloc(1, sizeof(*p));

	p->f = f;
	p->u = u;
	p->kind = kind;
	p->what = ep_xstrdup(what);
	ep_http_pages_init(&p->seen, f->o->conn.max_pages);
	return p;
}

static void
get(struct fetch *f, char *url, long prio, struct pager *p)
{
	struct ep_http_req *r = ep_http_req_new("GET", url);
	struct ep_error err;

	free(url);
	ep_http_req_header(r, "Accept: application/json");
	r->prio = prio;
	/* A first page: never a repeat, never past --max-pages (>= 1). */
	if (p != NULL)
		(void)ep_http_pages_add(&p->seen, r->url, p->what, &err);
	if (f->o->dry_run) {
		ep_http_describe(stderr, r);
		ep_http_req_free(r);
		pager_free(p);
		return;
	}
	r->arg_free = pager_free_v;
	ep_http_submit(f->http, r, paged_done, p);
}

static int
paged_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct pager *p = arg;
	struct fetch *f = p->f;
	struct ep_lms_out out = { 0 };
	struct ep_error err;
	int rc = 0;

	(void)h;
	if (ep_canvas_check(r, p->what, &err) < 0 ||
	    ep_canvas_parse_page(p->kind, r->resp, r->resp_len, p->what, &out,
	    &err) < 0) {
		rc = unit_fail(f, p->u, &err);
		pager_free(p);
		return rc;
	}
	fetch_page(f);
	for (size_t i = 0; i < out.nrecs; i++) {
		if (p->res != NULL) {
			p->res->terms = ep_xrealloc(p->res->terms,
			    (p->res->n + 1) * sizeof(*p->res->terms));
			p->res->terms[p->res->n++] = out.recs[i];
		} else {
			unit_push(f, p->u, out.recs[i]);
		}
	}
	out.nrecs = 0;
	for (size_t i = 0; i < out.ntexts; i++)
		submit_enrollments(f, out.texts[i]);
	ep_lms_out_free(&out);
	if (r->next_url != NULL) {
		struct ep_http_req *n;

		if (ep_http_pages_add(&p->seen, r->next_url, p->u ?
		    p->u->label : p->what, &err) < 0) {
			rc = unit_fail(f, p->u, &err);
			pager_free(p);
			return rc;
		}
		n = ep_http_req_new("GET", r->next_url);

		ep_http_req_header(n, "Accept: application/json");
		n->auth = ep_http_same_origin(r->next_url, f->base);
		n->prio = r->prio;
		n->arg_free = pager_free_v;
		ep_http_submit(f->http, n, paged_done, p);
		return 0;
	}
	if (p->kind == EP_CANVAS_LISTING) {
		/* Terms one after another, so courses keep term order. */
		if (p->term + 1 < f->o->terms.n)
			submit_listing(f, p->term + 1);
	} else if (p->res != NULL) {
		rc = terms_resolved(f, p->res);
	} else {
		rc = unit_done(f, p->u);
	}
	pager_free(p);
	return rc;
}

static char *
types_query(const struct opts *o)
{
	char *q = ep_xstrdup("");

	for (size_t i = 0; i < o->types.n; i++) {
		char *t = ep_url_escape(o->types.v[i]);
		char *n = ep_xasprintf("%s&type%%5B%%5D=%s", q, t);

		free(t);
		free(q);
		q = n;
	}
	return q;
}

static void
submit_enrollments(struct fetch *f, const char *course)
{
	char *c = ep_url_escape(course), *tq = types_query(f->o);
	char *url = ep_url_join(f->base,
	    "/api/v1/courses/%s/enrollments?per_page=100%s", c, tq);
	struct pager *p = NULL;
	long prio = 0;

	if (!f->o->dry_run) {
		struct unit *u = unit_add(f, "course %s", course);

		u->course_id = ep_xstrdup(course);
		char *what = ep_xasprintf("enrollments of course %s", course);

		p = pager_new(f, u, EP_CANVAS_ENROLLMENTS, what);
		free(what);
		prio = (long)u->index + 1;
	}
	free(c);
	free(tq);
	get(f, url, prio, p);
}

static void
submit_listing(struct fetch *f, size_t term)
{
	char *a = ep_url_escape(f->o->account);
	char *t = ep_url_escape(f->o->terms.v[term]);
	char *url = ep_url_join(f->base, "/api/v1/accounts/%s/courses?per_page=100"
	    "&enrollment_term_id=%s", a, t);
	struct pager *p = NULL;

	if (f->o->dry_run) {
		get(f, url, 0, NULL);
		fprintf(stderr, "GET %s/api/v1/courses/:id/enrollments?"
		    "per_page=100 (for each course listed)\n", f->base);
	} else {
		char *what = ep_xasprintf("courses of account %s in term %s",
		    f->o->account, f->o->terms.v[term]);

		p = pager_new(f, NULL, EP_CANVAS_LISTING, what);
		p->term = term;
		free(what);
		get(f, url, 0, p);
	}
	free(a);
	free(t);
}

static void
submit_list(struct fetch *f, enum ep_canvas_kind kind, char *url,
    const char *what)
{
	struct pager *p = NULL;
	long prio = 0;

	if (!f->o->dry_run) {
		struct unit *u = unit_add(f, "%s", what);

		p = pager_new(f, u, kind, what);
		prio = (long)u->index + 1;
	}
	get(f, url, prio, p);
}

/* --- provisioning reports --- */

static void report_poll(struct report *rp, long delay_ms);

static void
report_free(struct report *rp)
{
	if (rp != NULL) {
		free(rp->status_url);
		free(rp->term);
		free(rp);
	}
}

static void
report_free_v(void *rp)
{
	report_free(rp);
}

static int
report_fail(struct report *rp, const struct ep_error *e)
{
	int rc = unit_fail(rp->f, rp->u, e);

	report_free(rp);
	return rc;
}

static int
report_rows(struct report *rp, const struct ep_http_req *r)
{
	struct ep_lms_out out = { 0 };
	struct ep_error err;

	if (ep_canvas_parse_report_csv(rp->part, r->resp, r->resp_len, &out,
	    &err) < 0)
		return unit_fail(rp->f, rp->u, &err);
	for (size_t i = 0; i < out.nrecs; i++) {
		/* report, then term (null: every term or account-level),
		 * then the CSV's columns. */
		struct ep_rec *in = out.recs[i], *rec = ep_rec_new();

		ep_rec_set_str(rec, "report", rp->part);
		ep_rec_set_str(rec, "term", rp->term);
		for (size_t k = 0; k < in->n; k++)
			if (strcmp(in->f[k].name, "report") != 0)
				ep_rec_set(rec, in->f[k].name, in->f[k].type,
				    in->f[k].val, in->f[k].vlen);
		ep_rec_free(in);
		unit_push(rp->f, rp->u, rec);
	}
	out.nrecs = 0;
	ep_lms_out_free(&out);
	return unit_done(rp->f, rp->u);
}

static int
download_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct report *rp = arg;
	struct ep_error err;
	char what[128];
	int rc;

	(void)h;
	snprintf(what, sizeof(what), "%s: download of its attachment",
	    rp->u->label);
	if (r->err.code == 0 && rp->refreshes < 2 && (r->status == 401 ||
	    r->status == 403 || r->status == 404 || r->status == 410)) {
		/* The signed URL expired: ask the report for a new one. */
		rp->refreshes++;
		ep_info(1, "%s: HTTP %ld, asking for a fresh URL", what,
		    r->status);
		report_poll(rp, 0);
		return 0;
	}
	if (ep_canvas_check(r, what, &err) < 0)
		return report_fail(rp, &err);
	if (r->resp_len >= 4 && memcmp(r->resp, "PK\003\004", 4) == 0) {
		ep_error_set(&err, EP_EXIT_UNAVAILABLE, "%s: the attachment "
		    "is a zip archive, not one CSV", what);
		return report_fail(rp, &err);
	}
	fetch_page(rp->f);
	rc = report_rows(rp, r);
	report_free(rp);
	return rc;
}

static int
status_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct report *rp = arg;
	struct fetch *f = rp->f;
	struct ep_canvas_report st;
	struct ep_error err;
	char what[128];
	int rc;

	snprintf(what, sizeof(what), "%s", rp->u->label);
	if (ep_canvas_check(r, what, &err) < 0)
		return report_fail(rp, &err);
	rc = ep_canvas_parse_report_status(r->resp, r->resp_len, what,
	    rp->status_url == NULL, &st, &err);
	if (rp->status_url == NULL && st.has_id) {
		/* The reply to the POST that started it. */
		char *a = ep_url_escape(f->o->account);

		rp->status_url = ep_url_join(f->base, "/api/v1/accounts/%s/reports/"
		    "provisioning_csv/%lld", a, st.id);
		free(a);
	}
	if (rc < 0) {
		ep_canvas_report_free(&st);
		return report_fail(rp, &err);
	}
	if (rc == 1) {
		struct ep_http_req *d = ep_http_req_new("GET", st.url);

		d->follow = true;
		d->auth = ep_http_same_origin(st.url, f->base);
		d->prio = r->prio;
		ep_canvas_report_free(&st);
		d->arg_free = report_free_v;
		ep_http_submit(h, d, download_done, rp);
		return 0;
	}
	if (ep_http_now_ms() - rp->started > f->o->report_timeout_s * 1000) {
		ep_error_set(&err, EP_EXIT_TEMPFAIL, "%s: still '%s' after "
		    "%ld s (--report-timeout)", what, st.status,
		    f->o->report_timeout_s);
		ep_canvas_report_free(&st);
		return report_fail(rp, &err);
	}
	ep_canvas_report_free(&st);
	report_poll(rp, rp->poll_ms);
	if (rp->poll_ms < 30 * f->o->conn.http.retry_base_ms && rp->poll_ms < 30000)
		rp->poll_ms *= 2;
	return 0;
}

static void
report_poll(struct report *rp, long delay_ms)
{
	struct ep_http_req *r = ep_http_req_new("GET", rp->status_url);

	ep_http_req_header(r, "Accept: application/json");
	r->prio = (long)rp->u->index + 1;
	r->arg_free = report_free_v;
	ep_http_submit_after(rp->f->http, r, delay_ms, status_done, rp);
}

/* The account-level parts --processorgs asks for. */
static const char *const org_parts[] = { "accounts", "admins", NULL };

static bool
account_part(const char *part)
{
	for (int i = 0; org_parts[i]; i++)
		if (strcmp(part, org_parts[i]) == 0)
			return true;
	return false;
}

static void
submit_report(struct fetch *f, const char *part, const char *term)
{
	char *a = ep_url_escape(f->o->account);
	char *url = ep_url_join(f->base,
	    "/api/v1/accounts/%s/reports/provisioning_csv", a);
	struct ep_http_req *r = ep_http_req_new("POST", url);
	char *pname = ep_xasprintf("parameters[%s]", part);
	struct report *rp;

	free(a);
	free(url);
	ep_http_req_header(r, "Accept: application/json");
	ep_http_req_form(r, pname, "true");
	if (term != NULL)
		ep_http_req_form(r, "parameters[enrollment_term_id]", term);
	ep_http_req_form(r, "parameters[skip_message]", "true");
	free(pname);
	if (f->o->dry_run) {
		ep_http_describe(stderr, r);
		printf("GET %s/api/v1/accounts/%s/reports/provisioning_csv/:id "
		    "(until complete), then GET its attachment.url\n", f->base,
		    f->o->account);
		ep_http_req_free(r);
		return;
	}
	rp = ep_xcalloc(1, sizeof(*rp));
	rp->f = f;
	rp->part = part;
	rp->term = term ? ep_xstrdup(term) : NULL;
	if (term != NULL)
		rp->u = unit_add(f, "%s report of term %s", part, term);
	else if (f->o->historical && !account_part(part))
		rp->u = unit_add(f, "%s report of every term", part);
	else
		rp->u = unit_add(f, "%s report of the account", part);
	rp->started = ep_http_now_ms();
	rp->poll_ms = f->o->conn.http.retry_base_ms > 0 ?
	    f->o->conn.http.retry_base_ms : 1;
	r->prio = (long)rp->u->index + 1;
	r->arg_free = report_free_v;
	ep_http_submit(f->http, r, status_done, rp);
}

/* --- terms: the seed's 'sp20' and the others, to Canvas term ids --- */

static const char *const seasons[][2] = {
	{ "sp", "Spring" }, { "su", "Summer" }, { "fa", "Fall" },
	{ "wi", "Winter" },
};

bool
term_pattern_ok(const char *p)
{
	for (; *p; p++)
		if (*p == '%' && (p[1] == '\0' || strchr("SsYy%", *++p) ==
		    NULL))
			return false;
	return true;
}

/* The season (index into seasons) and year of 'sp20', or -1. */
static int
human_term(const char *v, int *year)
{
	for (size_t i = 0; i < sizeof(seasons) / sizeof(seasons[0]); i++)
		if (strlen(v) == 4 && strncasecmp(v, seasons[i][0], 2) == 0 &&
		    v[2] >= '0' && v[2] <= '9' && v[3] >= '0' && v[3] <= '9') {
			*year = 2000 + (v[2] - '0') * 10 + (v[3] - '0');
			return (int)i;
		}
	return -1;
}

static char *
expand_pattern(const char *p, int season, int year)
{
	char *out = ep_xstrdup(""), *n;

	for (; *p; p++) {
		if (*p != '%') {
			n = ep_xasprintf("%s%c", out, *p);
		} else {
			switch (*++p) {
			case 'S': n = ep_xasprintf("%s%s", out,
			    seasons[season][1]); break;
			case 's': n = ep_xasprintf("%s%s", out,
			    seasons[season][0]); break;
			case 'Y': n = ep_xasprintf("%s%d", out, year); break;
			case 'y': n = ep_xasprintf("%s%02d", out, year % 100);
				break;
			default: n = ep_xasprintf("%s%%", out); break;
			}
		}
		free(out);
		out = n;
	}
	return out;
}

static bool
same_text(const struct ep_rec *t, const char *field, const char *v,
    bool nocase)
{
	const char *x = ep_rec_str(t, field);

	return x != NULL && (nocase ? strcasecmp(x, v) : strcmp(x, v)) == 0;
}

/*
 * The Canvas id of --term v: the term whose id or sis_term_id is v, or
 * whose name is v (case aside); failing that, for the seed's 'sp20'
 * (sp, su, fa, wi and two digits of the year), each --term-pattern
 * (default '%S %Y': 'Spring 2020') against names (case aside) and
 * sis_term_ids.  A --term-map line for v replaces it first.  No match,
 * or several terms, is an error naming v.
 */
static char *
resolve_one(const struct fetch *f, const struct resolver *rs, const char *v,
    struct ep_error *err)
{
	const struct opts *o = f->o;
	const char *given = v, *def = "%S %Y";
	const char *const *pats = (const char *const *)o->term_patterns.v;
	size_t npats = o->term_patterns.n, nm = 0, *hit;
	char *list = NULL, *id = NULL;
	int season, year;

	if (npats == 0) {
		pats = &def;
		npats = 1;
	}
	for (size_t i = 0; i < rs->nmap; i++)
		if (strcasecmp(rs->map_from[i], v) == 0) {
			v = rs->map_to[i];
			break;
		}
	hit = ep_xcalloc(rs->n + 1, sizeof(*hit));
	for (size_t i = 0; i < rs->n; i++)
		if (same_text(rs->terms[i], "id", v, false) ||
		    same_text(rs->terms[i], "sis_term_id", v, false) ||
		    same_text(rs->terms[i], "name", v, true))
			hit[nm++] = i;
	if (nm == 0 && v == given && (season = human_term(v, &year)) >= 0) {
		for (size_t k = 0; k < npats; k++) {
			char *e = expand_pattern(pats[k], season, year);

			for (size_t i = 0; i < rs->n; i++) {
				bool dup = false;

				if (!same_text(rs->terms[i], "name", e, true) &&
				    !same_text(rs->terms[i], "sis_term_id", e,
				    false))
					continue;
				for (size_t j = 0; j < nm; j++)
					dup = dup || hit[j] == i;
				if (!dup)
					hit[nm++] = i;
			}
			char *l = list;

			list = l ? ep_xasprintf("%s, '%s'", l, e) :
			    ep_xasprintf("'%s'", e);
			free(l);
			free(e);
		}
	}
	if (nm == 1) {
		id = ep_xstrdup(ep_rec_str(rs->terms[hit[0]], "id"));
	} else if (nm == 0) {
		if (list != NULL) {
			char *l = list;

			list = ep_xasprintf(" (nor a name or sis_term_id %s)",
			    l);
			free(l);
		}
		ep_error_set(err, EP_EXIT_CONFIG, "--term '%s'%s%s%s: no term "
		    "of account %s has that id, sis_term_id or name%s",
		    given, v != given ? " (--term-map: '" : "", v != given ?
		    v : "", v != given ? "')" : "", o->account,
		    list ? list : "");
	} else {
		char *l = ep_xstrdup("");

		for (size_t j = 0; j < nm; j++) {
			const char *nmv = ep_rec_str(rs->terms[hit[j]], "name");
			char *n = ep_xasprintf("%s%s%s '%s'", l, j ? ", " : "",
			    ep_rec_str(rs->terms[hit[j]], "id"),
			    nmv ? nmv : "");

			free(l);
			l = n;
		}
		ep_error_set(err, EP_EXIT_CONFIG, "--term '%s' is ambiguous: "
		    "terms %s of account %s match it (give the term id, or "
		    "--term-map)", given, l, o->account);
		free(l);
	}
	free(list);
	free(hit);
	return id;
}

/* Every term resolved: start the reports (nothing started otherwise). */
static int
terms_resolved(struct fetch *f, struct resolver *rs)
{
	const struct opts *o = f->o;
	struct strv ids = { NULL, 0 };
	struct ep_error err;
	int rc = 0;

	for (size_t i = 0; i < o->terms.n; i++) {
		char *id = resolve_one(f, rs, o->terms.v[i], &err);
		bool dup = false;

		if (id == NULL) {
			/* --partial too: a wrong term fetches nothing. */
			if (f->err.code == 0)
				f->err = err;
			rc = -1;
			goto out;
		}
		for (size_t k = 0; k < ids.n; k++)
			dup = dup || strcmp(ids.v[k], id) == 0;
		if (dup) {
			free(id);
			continue;
		}
		ep_info(1, "--term '%s' is Canvas term %s", o->terms.v[i], id);
		ids.v = ep_xrealloc(ids.v, (ids.n + 1) * sizeof(*ids.v));
		ids.v[ids.n++] = id;
	}
	for (size_t i = 0; i < ids.n; i++)
		for (size_t k = 0; k < o->report_what.n; k++)
			submit_report(f, o->report_what.v[k], ids.v[i]);
	if (o->processorgs)
		for (int k = 0; org_parts[k]; k++)
			submit_report(f, org_parts[k], NULL);
out:
	for (size_t i = 0; i < ids.n; i++)
		free(ids.v[i]);
	free(ids.v);
	return rc;
}

static void
resolver_free(struct resolver *rs)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; i < rs->n; i++)
		ep_rec_free(rs->terms[i]);
	for (size_t i = 0; i < rs->nmap; i++) {
		free(rs->map_from[i]);
		free(rs->map_to[i]);
	}
	free(rs->terms);
	free(rs->map_from);
	free(rs->map_to);
	free(rs);
}

/* --term-map FILE: 'CODE VALUE' lines, '#' comments. */
static int
read_term_map(const char *path, struct resolver *rs, struct ep_error *err)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	long lno = 0;
	int rc = 0;

	if (fp == NULL) {
		ep_error_set(err, EP_EXIT_NOINPUT, "--term-map %s: cannot "
		    "open it: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) >= 0) {
		char *p = line, *e, *v;

		lno++;
		p += strspn(p, " \t");
		e = p + strlen(p);
		while (e > p && strchr(" \t\r\n", e[-1]) != NULL)
			*--e = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		v = p + strcspn(p, " \t");
		if (*v != '\0')
			*v++ = '\0';
		v += strspn(v, " \t");
		if (*v == '\0') {
			ep_error_set(err, EP_EXIT_CONFIG, "--term-map %s:%ld: "
			    "'%s' has no value: write 'CODE VALUE'", path,
			    lno, p);
			rc = -1;
			break;
		}
		rs->map_from = ep_xrealloc(rs->map_from, (rs->nmap + 1) *
		    sizeof(*rs->map_from));
		rs->map_to = ep_xrealloc(rs->map_to, (rs->nmap + 1) *
		    sizeof(*rs->map_to));
		rs->map_from[rs->nmap] = ep_xstrdup(p);
		rs->map_to[rs->nmap++] = ep_xstrdup(v);
	}
	if (rc == 0 && ferror(fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "--term-map %s: %s", path,
		    strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}

/* The reports: terms first resolved through the account's term list. */
static int
run_reports(struct fetch *f)
{
	const struct opts *o = f->o;
	struct resolver *rs = ep_xcalloc(1, sizeof(*rs));
	struct ep_error err;
	char *a, *what;
	struct pager *p;

	if (o->term_map != NULL && read_term_map(o->term_map, rs, &err) < 0) {
		resolver_free(rs);
		return ep_report(&err);
	}
	if (o->terms.n == 0 || o->dry_run) {
		/* A dry run cannot ask: it shows the values as given. */
		for (size_t i = 0; i < o->terms.n; i++)
			for (size_t k = 0; k < o->report_what.n; k++)
				submit_report(f, o->report_what.v[k],
				    o->terms.v[i]);
		for (size_t k = 0; o->historical && k < o->report_what.n; k++)
			submit_report(f, o->report_what.v[k], NULL);
		if (o->processorgs)
			for (int k = 0; org_parts[k]; k++)
				submit_report(f, org_parts[k], NULL);
		if (o->dry_run && o->terms.n > 0)
			printf("GET %s/api/v1/accounts/%s/terms?per_page=100 "
			    "first, to resolve --term\n", f->base, o->account);
		resolver_free(rs);
		return 0;
	}
	a = ep_url_escape(o->account);
	what = ep_xasprintf("terms of account %s", o->account);
	p = pager_new(f, NULL, EP_CANVAS_TERMS, what);
	p->res = rs;
	get(f, ep_url_join(f->base, "/api/v1/accounts/%s/terms?per_page=100",
	    a), 0, p);
	free(what);
	free(a);
	return 0;
}

int
canvas_run(struct fetch *f)
{
	const struct opts *o = f->o;
	char *a = o->account ? ep_url_escape(o->account) : NULL;

	if (strcmp(o->what, "courses") == 0 && o->courses.n > 0) {
		for (size_t i = 0; i < o->courses.n; i++) {
			char *c = ep_url_escape(o->courses.v[i]);
			char *what = ep_xasprintf("course %s", o->courses.v[i]);

			submit_list(f, EP_CANVAS_COURSE, ep_url_join(f->base,
			    "/api/v1/courses/%s", c), what);
			free(what);
			free(c);
		}
	} else if (strcmp(o->what, "courses") == 0) {
		for (size_t i = 0; i < (o->terms.n ? o->terms.n : 1); i++) {
			char *t = o->terms.n ? ep_url_escape(o->terms.v[i]) : NULL;
			char *what = t ? ep_xasprintf("courses of account %s "
			    "in term %s", o->account, o->terms.v[i]) :
			    ep_xasprintf("courses of account %s", o->account);

			submit_list(f, EP_CANVAS_COURSES, ep_url_join(f->base, "/api/v1/"
			    "accounts/%s/courses?per_page=100%s%s", a,
			    t ? "&enrollment_term_id=" : "", t ? t : ""),
			    what);
			free(what);
			free(t);
		}
	} else if (strcmp(o->what, "users") == 0) {
		char *what = ep_xasprintf("users of account %s", o->account);

		submit_list(f, EP_CANVAS_USERS, ep_url_join(f->base, "/api/v1/accounts/%s/"
		    "users?per_page=100", a), what);
		free(what);
	} else if (strcmp(o->what, "terms") == 0) {
		char *what = ep_xasprintf("terms of account %s", o->account);

		submit_list(f, EP_CANVAS_TERMS, ep_url_join(f->base, "/api/v1/"
		    "accounts/%s/terms?per_page=100", a), what);
		free(what);
	} else if (strcmp(o->what, "sections") == 0 ||
	    strcmp(o->what, "course-audit") == 0) {
		bool audit = strcmp(o->what, "course-audit") == 0;

		for (size_t i = 0; i < o->courses.n; i++) {
			char *c = ep_url_escape(o->courses.v[i]);
			char *what = ep_xasprintf("%s of course %s", audit ?
			    "audit log" : "sections", o->courses.v[i]);

			submit_list(f, audit ? EP_CANVAS_AUDIT :
			    EP_CANVAS_SECTIONS, ep_url_join(f->base, audit ?
			    "/api/v1/audit/course/courses/%s?per_page=100" :
			    "/api/v1/courses/%s/sections?per_page=100", c), what);
			free(what);
			free(c);
		}
	} else if (strcmp(o->what, "enrollments") == 0) {
		if (o->courses.n > 0)
			for (size_t i = 0; i < o->courses.n; i++)
				submit_enrollments(f, o->courses.v[i]);
		else
			submit_listing(f, 0);
	} else {
		free(a);
		return run_reports(f);
	}
	free(a);
	return 0;
}
