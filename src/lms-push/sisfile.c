/*
 * sisfile.c - lms-push canvas sis-import FILE: upload a SIS import file
 * (an enrollments.csv or a zip of CSVs, as conduit-fmt writes them) to
 * POST /api/v1/accounts/:id/sis_imports and poll it to the end.
 *
 * With --diffing-data-set ID Canvas compares the file with the last
 * successful import of the same identifier and applies only the
 * differences; rows gone since then are set to --diffing-drop-status
 * (deleted, completed or inactive).  --change-threshold N makes Canvas
 * skip the diff (and import the whole file) when the file is more than
 * N% smaller or larger than the one compared; --diffing-remaster applies
 * the whole file and makes it the new baseline.  The identifier and the
 * drop status are checked here before any call: the server's 400 would
 * come only after the upload.
 *
 * One record goes to stdout when the import has ended: its id, its
 * workflow_state, the identifier, diffed_against_import_id, the counts
 * and the number of errors and warnings; each processing error and
 * warning goes to stderr.  All of it passes through the secret mask.
 * Exit: imported 0, imported_with_messages 1, failed and
 * failed_with_messages 65, aborted 75, still running after
 * --import-timeout 75 (the import id is named: it may still end).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "cli.h"
#include "lmsparse.h"
#include "pool.h"
#include "secret.h"

static const char *const drop_statuses[] = { "deleted", "completed",
    "inactive", NULL };

int
sis_file_check(const struct opts *o, struct ep_error *err)
{
	const char *id = o->diff_id;

	if (id != NULL) {
		size_t n = strlen(id);

		if (n == 0 || n > 128 || ep_utf8_check(id, n) >= 0) {
			ep_error_set(err, EP_EXIT_USAGE, "--diffing-data-set: "
			    "the identifier must be 1 to 128 bytes of UTF-8 "
			    "(got %zu bytes%s)", n, n > 0 && n <= 128 ?
			    ", not UTF-8" : "");
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f) {
				ep_error_set(err, EP_EXIT_USAGE,
				    "--diffing-data-set: the identifier holds "
				    "a control character");
				return -1;
			}
	}
	if (o->diff_drop != NULL) {
		int i;

		for (i = 0; drop_statuses[i]; i++)
			if (strcmp(drop_statuses[i], o->diff_drop) == 0)
				break;
		if (drop_statuses[i] == NULL) {
			char *e = ep_msg_escape(o->diff_drop);

			ep_error_set(err, EP_EXIT_USAGE, "--diffing-drop-status: "
			    "unknown status '%s' (deleted, completed or "
			    "inactive)", e);
			free(e);
			return -1;
		}
	}
	if (id == NULL && (o->diff_drop != NULL || o->remaster)) {
		ep_error_set(err, EP_EXIT_USAGE, "%s needs --diffing-data-set",
		    o->diff_drop != NULL ? "--diffing-drop-status" :
		    "--diffing-remaster");
		return -1;
	}
	return 0;
}

/* The whole of path ('-': stdin), or NULL with err (66, 74). */
static char *
slurp(const char *path, size_t *len, struct ep_error *err)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (fp == NULL) {
		ep_error_set(err, EP_EXIT_NOINPUT, "%s: %s", path,
		    strerror(errno));
		return NULL;
	}
	do {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = ep_xrealloc(buf, cap + 1);
		}
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
	} while (got > 0);
	if (ferror(fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "%s: read error: %s", path,
		    strerror(errno));
		free(buf);
		buf = NULL;
	}
	if (fp != stdin)
		fclose(fp);
	if (buf != NULL && n == 0) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s: empty file: nothing to "
		    "import", path);
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

struct sisrun {
	struct push *p;
	char *status_url;
	long long started, id;
	long poll_ms;
	json_t *final;		/* the last status, once it has ended */
	int rc;
	struct ep_error err;
};

static void sis_poll(struct sisrun *s, long delay);

/* Each [file, message] of list on stderr, masked by ep_warn. */
static size_t
print_messages(const struct sisrun *s, json_t *list, const char *kind)
{
	size_t n = 0;

	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *m = json_array_get(list, i);
		const char *file = json_string_value(json_array_get(m, 0));
		const char *msg = json_string_value(json_array_get(m, 1));

		if (msg == NULL)
			continue;
		ep_warn("SIS import %lld: %s: %s: %s", s->id, kind,
		    file && *file ? file : "-", msg);
		n++;
	}
	return n;
}

static void
sis_noop(void *arg)
{
	(void)arg;
}

static int
sis_done(struct ep_http *h, struct ep_http_req *r, void *arg)
{
	struct sisrun *s = arg;
	const struct opts *o = s->p->o;
	const char *st;
	json_t *j;

	(void)h;
	if (s->status_url == NULL && outcome_unknown(r)) {
		ep_error_set(&s->err, EP_EXIT_UNAVAILABLE, "the reply to the "
		    "SIS import POST was lost: look for it in GET "
		    "/api/v1/accounts/%s/sis_imports before sending it again",
		    o->account);
		return 0;
	}
	if (ep_canvas_check(r, s->status_url ? "SIS import status" :
	    "SIS import", &s->err) < 0)
		return 0;
	if ((j = ep_lms_reply_json(r, "SIS import", &s->err)) == NULL)
		return 0;
	if (s->status_url == NULL) {
		json_t *id = json_object_get(j, "id");
		char *a = ep_url_escape(o->account);

		if (!json_is_integer(id)) {
			ep_error_set(&s->err, EP_EXIT_UNAVAILABLE, "SIS import: "
			    "the reply has no import id");
			json_decref(j);
			free(a);
			return 0;
		}
		s->id = json_integer_value(id);
		s->status_url = ep_url_join(s->p->base,
		    "/api/v1/accounts/%s/sis_imports/%lld", a, s->id);
		free(a);
		ep_info(1, "SIS import %lld started", s->id);
	}
	st = json_string_value(json_object_get(j, "workflow_state"));
	if (st == NULL)
		st = "";
	if (strcmp(st, "imported") == 0 ||
	    strcmp(st, "imported_with_messages") == 0 ||
	    strcmp(st, "failed") == 0 ||
	    strcmp(st, "failed_with_messages") == 0 ||
	    strcmp(st, "aborted") == 0) {
		s->final = j;
		return 0;
	}
	if (ep_http_now_ms() - s->started > o->import_timeout_s * 1000) {
		ep_error_set(&s->err, EP_EXIT_TEMPFAIL, "SIS import %lld: still "
		    "'%s' after %ld s (--import-timeout); it may still end: "
		    "see GET /api/v1/accounts/%s/sis_imports/%lld", s->id, st,
		    o->import_timeout_s, o->account, s->id);
		json_decref(j);
		return 0;
	}
	json_decref(j);
	sis_poll(s, s->poll_ms);
	if (s->poll_ms < 30000)
		s->poll_ms *= 2;
	return 0;
}

static void
sis_poll(struct sisrun *s, long delay)
{
	struct ep_http_req *r = ep_http_req_new("GET", s->status_url);

	ep_http_req_header(r, "Accept: application/json");
	r->arg_free = sis_noop;
	ep_http_submit_after(s->p->http, r, delay, sis_done, s);
}

/* The outcome record of the ended import, on -o or stdout. */
static int
write_outcome(struct sisrun *s, const char *st, size_t nerr, size_t nwarn,
    struct ep_error *err)
{
	json_t *j = s->final, *rec = json_object();
	json_t *data = json_object_get(j, "data");
	json_t *counts = json_object_get(data, "counts");
	json_t *diffed = json_object_get(j, "diffed_against_import_id");
	struct ep_out *out;
	char *txt, *m;
	int rc;

	json_object_set_new(rec, "import_id", json_integer(s->id));
	json_object_set_new(rec, "workflow_state", json_string(st));
	json_object_set_new(rec, "diffing_data_set_identifier",
	    s->p->o->diff_id ? json_string(s->p->o->diff_id) : json_null());
	json_object_set_new(rec, "diffed_against_import_id",
	    json_is_integer(diffed) ? json_incref(diffed) : json_null());
	json_object_set_new(rec, "counts", json_is_object(counts) ?
	    json_incref(counts) : json_object());
	json_object_set_new(rec, "errors", json_integer((json_int_t)nerr));
	json_object_set_new(rec, "warnings", json_integer((json_int_t)nwarn));
	txt = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(rec);
	if (txt == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	m = ep_mask_secrets(txt);
	free(txt);
	if ((out = ep_out_open(ep_io.output, err)) == NULL) {
		free(m);
		return -1;
	}
	fprintf(ep_out_file(out), "%s\n", m);
	free(m);
	rc = ep_out_commit(out, err);
	return rc;
}

int
sis_file_import(struct push *p)
{
	const struct opts *o = p->o;
	struct ep_error err = { 0, "" };
	struct sisrun s;
	size_t len, nerr, nwarn;
	char *body, *a, *url, *q;
	bool zip;
	const char *st;
	struct ep_http_req *r;
	int rc;

	if ((body = slurp(o->sis_file, &len, &err)) == NULL)
		return ep_report(&err);
	zip = len >= 4 && memcmp(body, "PK\003\004", 4) == 0;
	a = ep_url_escape(o->account);
	q = ep_xasprintf("import_type=instructure_csv&extension=%s",
	    zip ? "zip" : "csv");
	if (o->diff_id != NULL) {
		char *e = ep_url_escape(o->diff_id), *t;

		t = ep_xasprintf("%s&diffing_data_set_identifier=%s", q, e);
		free(q);
		free(e);
		q = t;
		if (o->diff_drop != NULL) {
			t = ep_xasprintf("%s&diffing_drop_status=%s", q,
			    o->diff_drop);
			free(q);
			q = t;
		}
		if (o->remaster) {
			t = ep_xasprintf("%s&diffing_remaster_data_set=true",
			    q);
			free(q);
			q = t;
		}
	}
	if (o->change_threshold > 0) {
		char *t = ep_xasprintf("%s&change_threshold=%ld", q,
		    o->change_threshold);

		free(q);
		q = t;
	}
	url = ep_url_join(p->base, "/api/v1/accounts/%s/sis_imports?%s", a, q);
	free(a);
	free(q);
	r = ep_http_req_new("POST", url);
	free(url);
	ep_http_req_header(r, zip ? "Content-Type: application/zip" :
	    "Content-Type: text/csv; charset=utf-8");
	ep_http_req_header(r, "Accept: application/json");
	if (o->dry_run) {
		ep_http_describe(stdout, r);
		printf("  (%zu bytes of %s from %s)\n", len, zip ? "zip" :
		    "CSV", o->sis_file);
		printf("GET %s/api/v1/accounts/%s/sis_imports/:id (until it "
		    "ends)\n", p->base, o->account);
		free(body);
		ep_http_req_free(r);
		return 0;
	}
	r->body = body;
	r->body_len = len;
	r->arg_free = sis_noop;
	memset(&s, 0, sizeof(s));
	s.p = p;
	s.started = ep_http_now_ms();
	s.poll_ms = o->conn.http.retry_base_ms > 0 ?
	    o->conn.http.retry_base_ms : 1;
	ep_http_submit(p->http, r, sis_done, &s);
	run_pool(p);
	if (p->fatal.code != 0 && s.err.code == 0)
		s.err = p->fatal;
	if (s.final == NULL) {
		free(s.status_url);
		if (s.err.code == 0)
			ep_error_set(&s.err, EP_EXIT_SOFTWARE, "SIS import: "
			    "the run ended without an outcome");
		return ep_report(&s.err);
	}
	st = json_string_value(json_object_get(s.final, "workflow_state"));
	nerr = print_messages(&s, json_object_get(s.final,
	    "processing_errors"), "error");
	nwarn = print_messages(&s, json_object_get(s.final,
	    "processing_warnings"), "warning");
	rc = write_outcome(&s, st, nerr, nwarn, &err) < 0 ?
	    ep_report(&err) : 0;
	if (rc == 0 && strcmp(st, "imported_with_messages") == 0) {
		if (ep_verbosity >= 0)
			ep_err("SIS import %lld: imported with %zu error%s and "
			    "%zu warning%s", s.id, nerr, nerr == 1 ? "" : "s",
			    nwarn, nwarn == 1 ? "" : "s");
		rc = EP_EXIT_DIFF;
	} else if (rc == 0 && strncmp(st, "failed", 6) == 0) {
		ep_err("SIS import %lld: %s%s", s.id, st, nerr > 0 ?
		    " (its errors above)" : "");
		rc = EP_EXIT_DATAERR;
	} else if (rc == 0 && strcmp(st, "aborted") == 0) {
		ep_err("SIS import %lld: aborted", s.id);
		rc = EP_EXIT_TEMPFAIL;
	}
	json_decref(s.final);
	free(s.status_url);
	return rc;
}
