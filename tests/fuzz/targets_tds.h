/*
 * targets_tds.h - fuzz target for the SQL Server value conversion
 * (tdsval.h): one input is a type (its first byte picks one of the types
 * a server sends) and the value's bytes (the rest).  Shared by the
 * libFuzzer driver and the corpus replay (tests/unit/test_corpus.c).
 *
 * Properties: a value is refused with code 65 and a message and no field,
 * or becomes a field whose text is valid UTF-8 without NUL, that survives
 * NDJSON, and for decimal, numeric and money holds exactly the digits of
 * the bytes (worked out here, independently of db-lib), for float and
 * real reads back as the same number.
 */
#ifndef FUZZ_TARGETS_TDS_H
#define FUZZ_TARGETS_TDS_H

#include <sybfront.h>
#include <sybdb.h>

#include "targets.h"
#include "tdsval.h"

static const int fuzz_tds_types[] = { SYBINT1, SYBINT2, SYBINT4, SYBINT8,
	SYBBIT, SYBBITN, SYBREAL, SYBFLT8, SYBDATETIME, SYBDATETIME4,
	SYBMSDATE, SYBMSTIME, SYBMSDATETIME2, SYBMSDATETIMEOFFSET, SYBCHAR,
	SYBVARCHAR, SYBTEXT, SYBNTEXT, SYBNVARCHAR, SYBBINARY, SYBVARBINARY,
	SYBIMAGE, SYBDECIMAL, SYBNUMERIC, SYBMONEY, SYBMONEY4, 36 };

/* The decimal digits of the big-endian unsigned integer b[0..n). */
static char *
fuzz_bytes_digits(const unsigned char *b, size_t n)
{
	unsigned char *w = malloc(n + 1);
	char *d = malloc(3 * n + 2);
	size_t nd = 0;
	bool zero;

	memcpy(w, b, n);
	do {
		unsigned rem = 0;

		zero = true;
		for (size_t i = 0; i < n; i++) {
			unsigned cur = rem * 256 + w[i];

			w[i] = (unsigned char)(cur / 10);
			rem = cur % 10;
			if (w[i])
				zero = false;
		}
		d[nd++] = (char)('0' + rem);
	} while (!zero);
	for (size_t i = 0; i < nd / 2; i++) {
		char c = d[i];

		d[i] = d[nd - 1 - i];
		d[nd - 1 - i] = c;
	}
	d[nd] = '\0';
	free(w);
	return d;
}

/*
 * Whether text (an optional '-', digits, an optional '.' and digits) is
 * the number (neg ? -1 : 1) * digits * 10^-scale: same value, whatever
 * leading and trailing zeros either side has.  -0 is 0.
 */
static bool
fuzz_dec_equal(const char *text, size_t len, bool neg, const char *digits,
    int scale)
{
	char a[128], b[128];
	size_t na = 0, nb = 0, i = 0;
	int sa = 0;
	bool tneg = false, dot = false;

	if (len > 0 && text[0] == '-') {
		tneg = true;
		i = 1;
	}
	for (; i < len; i++) {
		if (text[i] == '.' && !dot) {
			dot = true;
			continue;
		}
		if (text[i] < '0' || text[i] > '9' || na + 1 >= sizeof(a))
			return false;
		a[na++] = text[i];
		if (dot)
			sa++;
	}
	if (na == 0)
		return false;
	for (const char *p = digits; *p && nb + 1 < sizeof(b); p++)
		b[nb++] = *p;
	/* Same scale: pad the shorter fraction with zeros. */
	while (sa < scale && na + 1 < sizeof(a)) {
		a[na++] = '0';
		sa++;
	}
	while (scale < sa && nb + 1 < sizeof(b)) {
		b[nb++] = '0';
		scale++;
	}
	a[na] = b[nb] = '\0';
	{
		const char *x = a, *y = b;

		while (*x == '0' && x[1])
			x++;
		while (*y == '0' && y[1])
			y++;
		if (strcmp(x, y) != 0)
			return false;
		if (strcmp(x, "0") == 0)
			return true;
	}
	return tneg == neg;
}

static int
fuzz_tds(const uint8_t *data, size_t size)
{
	static bool init;
	struct ep_rec *row;
	struct ep_error err;
	const struct ep_field *f;
	unsigned char *v;
	char *buf = NULL;
	size_t bufsz = 0, len;
	int type, rc;

	if (!init) {
		dbinit();
		init = true;
	}
	if (size == 0)
		return 0;
	row = ep_rec_new();
	type = fuzz_tds_types[data[0] % (sizeof(fuzz_tds_types) /
	    sizeof(fuzz_tds_types[0]))];
	len = size - 1;
	/* An exact-size copy: any read past the value is caught. */
	v = malloc(len ? len : 1);
	memcpy(v, data + 1, len);
	memset(&err, 0, sizeof(err));
	rc = ep_tds_value(row, "c", type, v, (long)len, &buf, &bufsz, &err);
	f = ep_rec_get(row, "c");
	if (rc < 0) {
		if (err.code != EP_EXIT_DATAERR || err.msg[0] == '\0' ||
		    f != NULL)
			abort();
		goto out;
	}
	if (rc != 0 || f == NULL || ep_utf8_check(f->val, f->vlen) >= 0)
		abort();
	/* A NUL in text passes here: ep_db_next refuses it for every
	 * backend alike, with the row number, so it never reaches a
	 * writer. */
	if (memchr(f->val, '\0', f->vlen) != NULL)
		goto out;
	fuzz_rec_roundtrip(row);
	if (type == SYBDECIMAL || type == SYBNUMERIC) {
		const DBNUMERIC *d = (const DBNUMERIC *)v;
		static const int bytes[] = { 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6,
		    6, 7, 7, 8, 8, 9, 9, 9, 10, 10, 11, 11, 11, 12, 12, 13, 13,
		    14, 14, 14, 15, 15, 16, 16, 16, 17, 17 };
		char *dg = fuzz_bytes_digits(d->array + 1,
		    (size_t)bytes[d->precision] - 1);

		if (!fuzz_dec_equal(f->val, f->vlen, d->array[0] == 1, dg,
		    d->scale)) {
			fprintf(stderr, "decimal(%d,%d) sign %d %s: '%s'\n",
			    d->precision, d->scale, d->array[0], dg, f->val);
			abort();
		}
		free(dg);
	} else if (type == SYBMONEY || type == SYBMONEY4) {
		long long m;
		char dg[32];

		if (type == SYBMONEY) {
			DBMONEY x;

			memcpy(&x, v, sizeof(x));
			m = (long long)((unsigned long long)(unsigned)x.mnyhigh
			    << 32 | x.mnylow);
		} else {
			DBMONEY4 x;

			memcpy(&x, v, sizeof(x));
			m = x.mny4;
		}
		snprintf(dg, sizeof(dg), "%llu", m < 0 ?
		    0ULL - (unsigned long long)m : (unsigned long long)m);
		if (!fuzz_dec_equal(f->val, f->vlen, m < 0, dg, 4)) {
			fprintf(stderr, "money %lld: '%s'\n", m, f->val);
			abort();
		}
	} else if ((type == SYBFLT8 || type == SYBREAL) &&
	    f->type == EP_T_NUM) {
		double x;

		if (type == SYBREAL) {
			DBREAL r;

			memcpy(&r, v, sizeof(r));
			x = r;
		} else
			memcpy(&x, v, sizeof(x));
		if (strtod(f->val, NULL) != x)
			abort();
	}
out:
	free(v);
	free(buf);
	ep_rec_free(row);
	return 0;
}

#endif
