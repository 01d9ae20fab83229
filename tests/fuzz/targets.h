/*
 * targets.h - the fuzz targets' bodies, shared by the libFuzzer drivers
 * (tests/fuzz/fuzz_*.c, `make fuzz`) and by the corpus replay in the unit
 * tests (tests/unit/test_corpus.c), so every input the fuzzer kept, and
 * every crash it found, is also a regression test under ASan.
 *
 * Each target checks a property, not just the absence of a crash:
 * whatever the reader accepts, the writer writes, and reading that back
 * gives the same records.
 */
#ifndef FUZZ_TARGETS_H
#define FUZZ_TARGETS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "mapping.h"
#include "secret.h"

/* Read every record of data in format fmt (CSV input converted from
 * enc when not NULL); write them in format out.  Returns the number of
 * records, or -1 on a (clean) parse error. */
static long
fuzz_read_write_enc(const uint8_t *data, size_t size, enum ep_fmt fmt,
    const char *enc, enum ep_fmt out, char **text, size_t *tlen)
{
	FILE *in = fmemopen((void *)data, size, "r");
	FILE *o = open_memstream(text, tlen);
	struct ep_reader *rd;
	struct ep_writer *w;
	struct ep_rec *r = ep_rec_new();
	struct ep_error err;
	long n = 0;
	int got;

	if (in == NULL)
		abort();
	rd = ep_reader_new(in, "fuzz", fmt);
	ep_reader_set_encoding(rd, enc);
	w = ep_writer_new(o, out);
	while ((got = ep_reader_next(rd, r, &err)) == 1) {
		/* Every error must carry the input name and a line. */
		if (ep_writer_write(w, r, &err) < 0) {
			got = -2;
			break;
		}
		n++;
	}
	if (got == -1 && strncmp(err.msg, "fuzz:", 5) != 0)
		abort();
	ep_writer_finish(w, NULL);
	ep_writer_free(w);
	fclose(o);
	ep_reader_free(rd);
	ep_rec_free(r);
	fclose(in);
	return got < 0 ? -1 : n;
}

static long
fuzz_read_write(const uint8_t *data, size_t size, enum ep_fmt fmt,
    enum ep_fmt out, char **text, size_t *tlen)
{
	return fuzz_read_write_enc(data, size, fmt, NULL, out, text, tlen);
}

/* Record r written as NDJSON and read back must be the same record: the
 * same fields in the same order, with the same types and values. */
static void
fuzz_rec_roundtrip(const struct ep_rec *r)
{
	char *t = NULL;
	size_t tl = 0;
	FILE *o = open_memstream(&t, &tl), *in;
	struct ep_writer *w;
	struct ep_reader *rd;
	struct ep_rec *b = ep_rec_new();
	struct ep_error err;

	if (o == NULL)
		abort();
	w = ep_writer_new(o, EP_FMT_NDJSON);
	if (ep_writer_write(w, r, &err) < 0 || ep_writer_finish(w, &err) < 0)
		abort();
	ep_writer_free(w);
	fclose(o);
	in = fmemopen(t, tl, "r");
	if (in == NULL)
		abort();
	rd = ep_reader_new(in, "fuzz", EP_FMT_NDJSON);
	if (ep_reader_next(rd, b, &err) != 1) {
		fprintf(stderr, "roundtrip: %s\n%s", err.msg, t);
		abort();
	}
	if (b->n != r->n)
		abort();
	for (size_t i = 0; i < r->n; i++) {
		const struct ep_field *x = &r->f[i], *y = &b->f[i];

		if (strcmp(x->name, y->name) != 0 || x->type != y->type ||
		    x->vlen != y->vlen || (x->vlen &&
		    memcmp(x->val, y->val, x->vlen) != 0)) {
			fprintf(stderr, "roundtrip: field %s differs\n%s",
			    x->name, t);
			abort();
		}
	}
	if (ep_reader_next(rd, b, &err) != 0)
		abort();
	ep_reader_free(rd);
	fclose(in);
	ep_rec_free(b);
	free(t);
}

/* Records read from data, written as fmt, read back, written again: the
 * two written texts must be identical. */
static int
fuzz_roundtrip(const uint8_t *data, size_t size, enum ep_fmt fmt)
{
	char *t1 = NULL, *t2 = NULL;
	size_t l1 = 0, l2 = 0;
	long n1, n2;

	n1 = fuzz_read_write(data, size, fmt, fmt, &t1, &l1);
	if (n1 > 0) {
		n2 = fuzz_read_write((const uint8_t *)t1, l1, fmt, fmt, &t2,
		    &l2);
		if (n2 != n1 || l1 != l2 || memcmp(t1, t2, l1) != 0) {
			fprintf(stderr, "roundtrip mismatch\n");
			abort();
		}
	}
	free(t1);
	free(t2);
	return 0;
}

static int
fuzz_ndjson(const uint8_t *data, size_t size)
{
	return fuzz_roundtrip(data, size, EP_FMT_NDJSON);
}

/* Records read as fmt from enc, written as CSV, read back as CSV and
 * written again: the two CSV texts must be identical. */
static void
fuzz_dialect(const uint8_t *data, size_t size, enum ep_fmt fmt,
    const char *enc)
{
	char *t1 = NULL, *t2 = NULL;
	size_t l1 = 0, l2 = 0;
	long n1, n2;

	n1 = fuzz_read_write_enc(data, size, fmt, enc, EP_FMT_CSV, &t1, &l1);
	if (n1 > 0) {
		n2 = fuzz_read_write((const uint8_t *)t1, l1, EP_FMT_CSV,
		    EP_FMT_CSV, &t2, &l2);
		if (n2 != n1 || l1 != l2 || memcmp(t1, t2, l1) != 0) {
			fprintf(stderr, "dialect roundtrip mismatch\n");
			abort();
		}
	}
	free(t1);
	free(t2);
}

/* CSV, and the same bytes as TSV and (when there is a byte that is not
 * ASCII, which is all a conversion changes) as Windows-1252 CSV. */
static int
fuzz_csv(const uint8_t *data, size_t size)
{
	fuzz_roundtrip(data, size, EP_FMT_CSV);
	fuzz_dialect(data, size, EP_FMT_TSV, NULL);
	for (size_t i = 0; i < size; i++)
		if (data[i] >= 0x80) {
			fuzz_dialect(data, size, EP_FMT_CSV, "WINDOWS-1252");
			break;
		}
	return 0;
}

static int
fuzz_url(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *m;
	struct ep_url u;
	struct ep_error err;

	memcpy(s, data, size);
	s[size] = '\0';
	if (ep_url_parse(s, &u, &err) == 0) {
		m = ep_url_mask(s);
		/* A password in the user part is always masked. */
		if (u.password && strstr(m, ":****@") == NULL)
			abort();
		free(m);
		ep_url_free(&u);
	}
	free(s);
	return 0;
}

/* The course mapping: accepted or refused with "fuzz:" and a reason; an
 * accepted one has every course code and shortname non-empty. */
static int
fuzz_mapping(const uint8_t *data, size_t size)
{
	struct ep_error err;
	struct ep_mapping *m = ep_mapping_parse((const char *)data, size,
	    "fuzz", &err);

	if (m == NULL) {
		if (strncmp(err.msg, "fuzz", 4) != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < m->n; i++) {
		if (m->e[i].ncourses == 0)
			abort();
		for (size_t k = 0; k < m->e[i].ncourses; k++)
			if (*m->e[i].courses[k] == '\0')
				abort();
	}
	ep_mapping_free(m);
	return 0;
}

#endif
