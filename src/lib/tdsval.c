/*
 * tdsval.c - SQL Server column values to record fields (see tdsval.h).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sybfront.h>
#include <sybdb.h>

#include "tdsval.h"

/* Bytes a value of a fixed-size type needs; 0 for the variable ones. */
static long
fixed_len(int type)
{
	switch (type) {
	case SYBINT1:
	case SYBBIT:
	case SYBBITN:
		return 1;
	case SYBINT2:
		return 2;
	case SYBINT4:
	case SYBREAL:
	case SYBDATETIME4:
	case SYBMONEY4:
		return 4;
	case SYBINT8:
	case SYBFLT8:
	case SYBDATETIME:
	case SYBMONEY:
		return 8;
	case 36:		/* SYBUNIQUE, uniqueidentifier */
		return 16;
	case SYBMSDATE:
	case SYBMSTIME:
	case SYBMSDATETIME2:
	case SYBMSDATETIMEOFFSET:
		return (long)sizeof(DBDATETIMEALL);
	case SYBDECIMAL:
	case SYBNUMERIC:
		return (long)sizeof(DBNUMERIC);
	default:
		return 0;
	}
}

static char *
scratch(char **buf, size_t *bufsz, size_t n)
{
	if (*bufsz < n) {
		*buf = ep_xrealloc(*buf, n);
		*bufsz = n;
	}
	return *buf;
}

/* A date, time or both as ISO 8601, fraction trimmed of its zeros. */
static int
put_date(struct ep_rec *row, const char *name, int type,
    const unsigned char *data, struct ep_error *err)
{
	DBDATEREC2 d;
	char s[96], frac[16] = "";
	int n = 0;

	memset(&d, 0, sizeof(d));
	if (dbanydatecrack(NULL, &d, type, (BYTE *)data) != SUCCEED ||
	    d.dateyear < 1 || d.dateyear > 9999 || d.datemonth < 0 ||
	    d.datemonth > 11 || d.datedmonth < 1 || d.datedmonth > 31 ||
	    d.datehour < 0 || d.datehour > 23 || d.dateminute < 0 ||
	    d.dateminute > 59 || d.datesecond < 0 || d.datesecond > 59 ||
	    d.datensecond < 0 || d.datensecond > 999999999) {
		ep_error_set(err, EP_EXIT_DATAERR, "column '%s': a date or "
		    "time out of range (SQL Server type %d)", name, type);
		return -1;
	}
	if (d.datensecond > 0) {
		size_t k;

		snprintf(frac, sizeof(frac), ".%09d", (int)d.datensecond);
		for (k = strlen(frac); frac[k - 1] == '0'; k--)
			frac[k - 1] = '\0';
	}
	if (type != SYBMSTIME)
		n = snprintf(s, sizeof(s), "%04d-%02d-%02d", (int)d.dateyear,
		    (int)d.datemonth + 1, (int)d.datedmonth);
	if (type != SYBMSDATE)
		n += snprintf(s + n, sizeof(s) - (size_t)n,
		    "%s%02d:%02d:%02d%s", n ? "T" : "", (int)d.datehour,
		    (int)d.dateminute, (int)d.datesecond, frac);
	ep_rec_set(row, name, EP_T_STR, s, (size_t)n);
	return 0;
}

int
ep_tds_value(struct ep_rec *row, const char *name, int type,
    const unsigned char *data, long len, char **buf, size_t *bufsz,
    struct ep_error *err)
{
	char s[64], *p;
	long long v;
	long off;
	double f;
	int n;

	if (data == NULL) {
		ep_rec_set(row, name, EP_T_NULL, "null", 4);
		return 0;
	}
	if (len < 0 || len < fixed_len(type)) {
		ep_error_set(err, EP_EXIT_DATAERR, "column '%s': %ld bytes "
		    "are too few for SQL Server type %d", name, len, type);
		return -1;
	}
	switch (type) {
	case SYBINT1:
	case SYBINT2:
	case SYBINT4:
	case SYBINT8:
		if (type == SYBINT1)
			v = *(const DBTINYINT *)data;
		else if (type == SYBINT2) {
			DBSMALLINT x;

			memcpy(&x, data, sizeof(x));
			v = x;
		} else if (type == SYBINT4) {
			DBINT x;

			memcpy(&x, data, sizeof(x));
			v = x;
		} else {
			DBBIGINT x;

			memcpy(&x, data, sizeof(x));
			v = x;
		}
		n = snprintf(s, sizeof(s), "%lld", v);
		ep_rec_set(row, name, EP_T_NUM, s, (size_t)n);
		return 0;
	case SYBBIT:
	case SYBBITN:
		ep_rec_set(row, name, EP_T_BOOL, *data ? "true" : "false",
		    *data ? 4 : 5);
		return 0;
	case SYBFLT8:
	case SYBREAL:
		if (type == SYBREAL) {
			DBREAL x;

			memcpy(&x, data, sizeof(x));
			f = x;
		} else
			memcpy(&f, data, sizeof(f));
		if (!isfinite(f)) {
			n = snprintf(s, sizeof(s), "%s", isnan(f) ? "NaN" :
			    f < 0 ? "-Infinity" : "Infinity");
			ep_rec_set(row, name, EP_T_STR, s, (size_t)n);
			return 0;
		}
		/* The shortest text that reads back as the same double. */
		for (int prec = type == SYBREAL ? 9 : 15; prec <= 17; prec++) {
			n = snprintf(s, sizeof(s), "%.*g", prec, f);
			if (strtod(s, NULL) == f)
				break;
		}
		ep_rec_set(row, name, EP_T_NUM, s, (size_t)n);
		return 0;
	case SYBDATETIME:
	case SYBDATETIME4:
	case SYBMSDATE:
	case SYBMSTIME:
	case SYBMSDATETIME2:
		return put_date(row, name, type, data, err);
	case SYBCHAR:
	case SYBVARCHAR:
	case SYBTEXT:
	case SYBNTEXT:
	case SYBNVARCHAR:
		/* Already UTF-8: the login asked for that client charset.
		 * What a reader would refuse is refused here. */
		off = ep_utf8_check((const char *)data, (size_t)len);
		if (off >= 0) {
			ep_error_set(err, EP_EXIT_DATAERR, "column '%s': "
			    "invalid UTF-8 at byte %ld", name, off + 1);
			return -1;
		}
		/* A NUL is refused for every backend, with the row, by
		 * ep_db_next. */
		ep_rec_set(row, name, EP_T_STR, (const char *)data,
		    (size_t)len);
		return 0;
	case SYBBINARY:
	case SYBVARBINARY:
	case SYBIMAGE:
		p = scratch(buf, bufsz, (size_t)len * 2 + 1);
		for (long i = 0; i < len; i++)
			snprintf(p + 2 * i, 3, "%02x", data[i]);
		ep_rec_set(row, name, EP_T_STR, p, (size_t)len * 2);
		return 0;
	case SYBDECIMAL:
	case SYBNUMERIC: {
		const DBNUMERIC *d = (const DBNUMERIC *)data;

		if (d->precision < 1 || d->precision > 38 ||
		    d->scale > d->precision) {
			ep_error_set(err, EP_EXIT_DATAERR, "column '%s': a "
			    "decimal with precision %d and scale %d",
			    name, d->precision, d->scale);
			return -1;
		}
	}
		/* FALLTHROUGH */
	default:
		/* decimal, numeric, money, uniqueidentifier and the rest:
		 * db-lib's own text, which keeps every digit. */
		p = scratch(buf, bufsz, 256 + (size_t)len * 2);
		n = dbconvert(NULL, type, (BYTE *)data, (DBINT)len, SYBCHAR,
		    (BYTE *)p, (DBINT)*bufsz - 1);
		if (n < 0 || ep_utf8_check(p, (size_t)n) >= 0 ||
		    memchr(p, '\0', (size_t)n) != NULL) {
			ep_error_set(err, EP_EXIT_DATAERR, "cannot convert "
			    "column '%s' (SQL Server type %d) to text", name,
			    type);
			return -1;
		}
		ep_rec_set(row, name, EP_T_STR, p, (size_t)n);
		return 0;
	}
}
