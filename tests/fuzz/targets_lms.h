/*
 * targets_lms.h - fuzz targets for the LMS reply parsers (lmsparse.h,
 * lmsjson.h) and the Link header (ep_http_link_next).  Shared by the
 * libFuzzer drivers and the corpus replay (tests/unit/test_corpus.c).
 *
 * Properties: a parse either fails with a non-empty message, a non-zero
 * code and nothing produced, or succeeds with records that survive NDJSON
 * (ep_writer, then ep_reader: the same fields, types and values).
 */
#ifndef FUZZ_TARGETS_LMS_H
#define FUZZ_TARGETS_LMS_H

#include "targets.h"
#include "http.h"
#include "lmsjson.h"
#include "lmsparse.h"

/* A parse answered rc with out and err: check the properties. */
static void
fuzz_check_parse(int rc, struct ep_lms_out *out, const struct ep_error *err)
{
	if (rc < 0) {
		if (err->code == 0 || err->msg[0] == '\0' || out->nrecs != 0 ||
		    out->ntexts != 0) {
			fprintf(stderr, "bad failure: code %d '%s', %zu records\n",
			    err->code, err->msg, out->nrecs);
			abort();
		}
		return;
	}
	for (size_t i = 0; i < out->nrecs; i++)
		fuzz_rec_roundtrip(out->recs[i]);
}

/* A NUL-terminated copy of data, as a reply body always is. */
static char *
fuzz_body(const uint8_t *data, size_t size)
{
	char *b = malloc(size + 1);

	if (b == NULL)
		abort();
	memcpy(b, data, size);
	b[size] = '\0';
	return b;
}

static void
fuzz_check_http_error(struct ep_http_req *r, long status, int want)
{
	struct ep_error err;

	r->status = status;
	memset(&err, 0, sizeof(err));
	if (ep_http_check(r, &err) != -1 || err.code != want ||
	    err.msg[0] == '\0')
		abort();
}

static int
fuzz_moodle(const uint8_t *data, size_t size)
{
	static const long long ids[] = { 2, 3, 4766, -1 };
	struct ep_lms_out out = { 0 };
	struct ep_error err;
	struct ep_http_req r;
	char *body = fuzz_body(data, size);
	json_t *j;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = ep_moodle_parse_enrolled((const char *)data, size, "fuzz", "C1",
	    4766, &out, &err);
	fuzz_check_parse(rc, &out, &err);
	for (size_t i = 0; i < out.nrecs; i++) {
		const char *c = ep_rec_str(out.recs[i], "course");
		const char *id = ep_rec_str(out.recs[i], "course_id");

		if (out.recs[i]->n != 8 || c == NULL || strcmp(c, "C1") != 0 ||
		    id == NULL || strcmp(id, "4766") != 0)
			abort();
	}
	ep_lms_out_free(&out);

	memset(&err, 0, sizeof(err));
	rc = ep_moodle_parse_courses((const char *)data, size, &out, &err);
	fuzz_check_parse(rc, &out, &err);
	for (size_t i = 0; i < out.nrecs; i++)
		if (out.recs[i]->n != 11)
			abort();
	for (size_t i = 0; i < out.ntexts; i++)
		if (out.texts[i] == NULL)
			abort();
	ep_lms_out_free(&out);

	memset(&err, 0, sizeof(err));
	rc = ep_moodle_parse_lookup((const char *)data, size, ids, 4, &out,
	    &err);
	fuzz_check_parse(rc, &out, &err);
	if (rc == 0 && out.ntexts != 4)
		abort();
	ep_lms_out_free(&out);

	/* The whole reply path of a request: status, then body. */
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url = "https://moodle.example.edu/webservice/rest/server.php";
	r.resp = body;
	r.resp_len = size;
	r.status = 200;
	memset(&err, 0, sizeof(err));
	j = ep_moodle_reply(&r, "fuzz", EP_EXIT_DATAERR, &err);
	if (j == NULL && (err.code == 0 || err.msg[0] == '\0'))
		abort();
	json_decref(j);
	fuzz_check_http_error(&r, 503, EP_EXIT_UNAVAILABLE);
	fuzz_check_http_error(&r, 401, EP_EXIT_NOPERM);
	free(body);
	return 0;
}

static int
fuzz_canvas(const uint8_t *data, size_t size)
{
	static const enum ep_canvas_kind kinds[] = { EP_CANVAS_COURSES,
	    EP_CANVAS_ENROLLMENTS, EP_CANVAS_USERS, EP_CANVAS_LISTING };
	static const size_t nfields[] = { 10, 12, 7, 0 };
	struct ep_lms_out out = { 0 };
	struct ep_canvas_report st;
	struct ep_error err;
	struct ep_http_req r;
	char *body = fuzz_body(data, size), *m;
	int rc;

	for (size_t k = 0; k < 4; k++) {
		memset(&err, 0, sizeof(err));
		rc = ep_canvas_parse_page(kinds[k], (const char *)data, size,
		    "fuzz", &out, &err);
		fuzz_check_parse(rc, &out, &err);
		for (size_t i = 0; i < out.nrecs; i++)
			if (out.recs[i]->n != nfields[k])
				abort();
		/* Course ids of a listing are integers. */
		for (size_t i = 0; i < out.ntexts; i++) {
			char *end;

			if (out.texts[i] == NULL)
				abort();
			(void)strtoll(out.texts[i], &end, 10);
			if (*out.texts[i] == '\0' || *end != '\0')
				abort();
		}
		ep_lms_out_free(&out);
	}

	m = ep_canvas_error_text((const char *)data, size);
	free(m);
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.url = "https://canvas.example.edu/api/v1/courses/1/enrollments";
	r.resp = body;
	r.resp_len = size;
	r.status = 400;
	memset(&err, 0, sizeof(err));
	if (ep_canvas_check(&r, "fuzz", &err) != -1 ||
	    err.code != EP_EXIT_UNAVAILABLE || err.msg[0] == '\0')
		abort();
	r.status = 403;
	if (ep_canvas_check(&r, "fuzz", &err) != -1 ||
	    err.code != EP_EXIT_NOPERM || err.msg[0] == '\0')
		abort();
	r.status = 200;
	if (ep_canvas_check(&r, "fuzz", &err) != 0)
		abort();

	for (int need = 0; need < 2; need++) {
		memset(&err, 0, sizeof(err));
		rc = ep_canvas_parse_report_status((const char *)data, size,
		    "fuzz", need, &st, &err);
		if (rc < 0 && (err.code == 0 || err.msg[0] == '\0'))
			abort();
		if (rc == 1 && st.url == NULL)
			abort();
		if (rc == 0 && (st.status == NULL || st.url != NULL))
			abort();
		if (rc >= 0 && need && !st.has_id)
			abort();
		ep_canvas_report_free(&st);
	}

	memset(&err, 0, sizeof(err));
	rc = ep_canvas_parse_report_csv("users", (const char *)data, size,
	    &out, &err);
	fuzz_check_parse(rc, &out, &err);
	for (size_t i = 0; i < out.nrecs; i++)
		if (strcmp(out.recs[i]->f[0].name, "report") != 0)
			abort();
	ep_lms_out_free(&out);
	free(body);
	return 0;
}

/* The Link header: any value is read without a fault, a URL found
 * holds no '>', and a well-formed rel="next" link is always found. */
static int
fuzz_http_headers(const uint8_t *data, size_t size)
{
	static const char base[] =
	    "https://canvas.example.edu/api/v1/courses?per_page=100";
	char *v = fuzz_body(data, size), *u, *h;
	size_t n = 0;

	u = ep_http_link_next(v, base);
	if (u != NULL) {
		if (strchr(u, '>') != NULL || strchr(v, '<') == NULL ||
		    strcasestr(v, "next") == NULL)
			abort();
		free(u);
	}
	/* "<" + the input without <>,;" and NUL + ">; rel=\"next\"". */
	h = malloc(size + 16);
	h[n++] = '<';
	for (size_t i = 0; i < size; i++)
		if (data[i] && !strchr("<>,;\"", data[i]))
			h[n++] = (char)data[i];
	memcpy(h + n, ">; rel=\"next\"", 14);
	u = ep_http_link_next(h, base);
	if (u == NULL)
		abort();
	free(u);
	free(h);
	free(v);
	return 0;
}

#endif
