/*
 * dat.c - SQL*Loader stream-record data files ('|' fields, "#EOR#\n"
 * records) and their control files.  See dat.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dat.h"

int
ep_dat_check(const char *s, size_t len, const char *name,
    struct ep_error *err)
{
	static const char eor[] = EP_DAT_EOR;

	if (s == NULL || len < sizeof(eor) - 1)
		return 0;
	if (memmem(s, len, eor, sizeof(eor) - 1) == NULL)
		return 0;
	if (name != NULL)
		ep_error_set(err, EP_EXIT_DATAERR, "field '%s' holds the "
		    "SQL*Loader record terminator '#EOR#' and a newline", name);
	else
		ep_error_set(err, EP_EXIT_DATAERR, "a value holds the "
		    "SQL*Loader record terminator '#EOR#' and a newline");
	return -1;
}

void
ep_dat_put_field(FILE *fp, const char *s, size_t len)
{
	bool enclose = false;

	if (s == NULL)
		return;
	for (size_t i = 0; i < len; i++)
		if (s[i] == EP_DAT_SEP || s[i] == '"' || s[i] == '\n' ||
		    s[i] == '\r') {
			enclose = true;
			break;
		}
	if (!enclose) {
		fwrite_unlocked(s, 1, len, fp);
		return;
	}
	putc_unlocked('"', fp);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			putc_unlocked('"', fp);
		putc_unlocked(s[i], fp);
	}
	putc_unlocked('"', fp);
}

static int
end_record(FILE *fp, struct ep_error *err)
{
	fputs_unlocked(EP_DAT_EOR, fp);
	if (ferror(fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "write error: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
ep_dat_put_record(FILE *fp, const char *const *vals, const size_t *lens,
    size_t n, const char *const *names, struct ep_error *err)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = vals[i] == NULL ? 0 :
		    lens != NULL ? lens[i] : strlen(vals[i]);

		if (ep_dat_check(vals[i], len, names ? names[i] : NULL,
		    err) < 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			putc_unlocked(EP_DAT_SEP, fp);
		if (vals[i] != NULL)
			ep_dat_put_field(fp, vals[i],
			    lens != NULL ? lens[i] : strlen(vals[i]));
	}
	return end_record(fp, err);
}

int
ep_dat_put_rec(FILE *fp, const struct ep_rec *r, const char *const *cols,
    size_t n, struct ep_error *err)
{
	const struct ep_field *f;

	if (cols == NULL)
		n = r->n;
	for (size_t i = 0; i < n; i++) {
		f = cols ? ep_rec_get(r, cols[i]) : &r->f[i];
		if (f != NULL && f->type != EP_T_NULL &&
		    ep_dat_check(f->val, f->vlen, f->name, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			putc_unlocked(EP_DAT_SEP, fp);
		f = cols ? ep_rec_get(r, cols[i]) : &r->f[i];
		if (f != NULL && f->type != EP_T_NULL)
			ep_dat_put_field(fp, f->val, f->vlen);
	}
	return end_record(fp, err);
}

/* A plain Oracle identifier, written without quotes. */
static bool
plain_ident(const char *s, size_t len)
{
	if (len == 0 || len > 128 || !isalpha((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '$' && s[i] != '#')
			return false;
	return true;
}

static bool
bad_name(const char *s)
{
	if (s == NULL || *s == '\0')
		return true;
	for (; *s; s++)
		if (*s == '"' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static void
put_ident(FILE *fp, const char *s, size_t len)
{
	if (plain_ident(s, len))
		fwrite(s, 1, len, fp);
	else
		fprintf(fp, "\"%.*s\"", (int)len, s);
}

char *
ep_dat_ctl(const char *table, const char *datafile,
    const char *const *cols, size_t n, const char *mode,
    struct ep_error *err)
{
	return ep_dat_ctl_ext(table, datafile, cols, n, mode, NULL, err);
}

/* The mask of column c, or NULL. */
static const char *
date_mask(const struct ep_dat_ctl_extra *x, const char *c)
{
	for (size_t i = 0; x != NULL && i < x->ndates; i++)
		if (strcmp(x->dates[i], c) == 0)
			return x->masks[i];
	return NULL;
}

char *
ep_dat_ctl_ext(const char *table, const char *datafile,
    const char *const *cols, size_t n, const char *mode,
    const struct ep_dat_ctl_extra *x, struct ep_error *err)
{
	static const char *const modes[] = {
		"APPEND", "INSERT", "REPLACE", "TRUNCATE"
	};
	const char *m = NULL, *dot;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if (mode == NULL)
		mode = "APPEND";
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcasecmp(mode, modes[i]) == 0)
			m = modes[i];
	if (m == NULL) {
		ep_error_set(err, EP_EXIT_USAGE, "unknown SQL*Loader load "
		    "mode '%s' (APPEND, INSERT, REPLACE or TRUNCATE)", mode);
		return NULL;
	}
	if (n == 0) {
		ep_error_set(err, EP_EXIT_USAGE, "a control file needs at "
		    "least one column");
		return NULL;
	}
	if (bad_name(table)) {
		ep_error_set(err, EP_EXIT_USAGE, "bad table name '%s'",
		    table ? table : "");
		return NULL;
	}
	if (bad_name(datafile) || strchr(datafile, '\'') != NULL) {
		ep_error_set(err, EP_EXIT_USAGE, "bad data file name '%s'",
		    datafile ? datafile : "");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (bad_name(cols[i])) {
			ep_error_set(err, EP_EXIT_USAGE, "bad column name "
			    "'%s'", cols[i] ? cols[i] : "");
			return NULL;
		}
	if (x != NULL && x->badfile != NULL && (bad_name(x->badfile) ||
	    strchr(x->badfile, '\'') != NULL)) {
		ep_error_set(err, EP_EXIT_USAGE, "bad BADFILE name '%s'",
		    x->badfile);
		return NULL;
	}
	for (size_t d = 0; x != NULL && d < x->ndates; d++) {
		size_t i;

		if (bad_name(x->masks[d]) || strchr(x->masks[d], '\'')) {
			ep_error_set(err, EP_EXIT_USAGE, "bad date mask '%s' "
			    "for '%s'", x->masks[d], x->dates[d]);
			return NULL;
		}
		for (i = 0; i < n && strcmp(cols[i], x->dates[d]) != 0; i++)
			;
		if (i == n) {
			ep_error_set(err, EP_EXIT_USAGE, "date column '%s' is "
			    "not among the columns", x->dates[d]);
			return NULL;
		}
	}

	fp = open_memstream(&buf, &len);
	if (fp == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	fputs("LOAD DATA\nCHARACTERSET AL32UTF8\n", fp);
	fprintf(fp, "INFILE '%s' \"str '#EOR#\\n'\"\n", datafile);
	if (x != NULL && x->badfile != NULL)
		fprintf(fp, "BADFILE '%s'\n", x->badfile);
	fprintf(fp, "%s\nINTO TABLE ", m);
	dot = strchr(table, '.');
	if (dot != NULL && plain_ident(table, (size_t)(dot - table)) &&
	    plain_ident(dot + 1, strlen(dot + 1))) {
		put_ident(fp, table, (size_t)(dot - table));
		putc('.', fp);
		put_ident(fp, dot + 1, strlen(dot + 1));
	} else
		put_ident(fp, table, strlen(table));
	fputs("\nFIELDS TERMINATED BY '|' OPTIONALLY ENCLOSED BY '\"'\n"
	    "TRAILING NULLCOLS\n(\n", fp);
	for (size_t i = 0; i < n; i++) {
		fputs("  ", fp);
		const char *mask = date_mask(x, cols[i]);

		put_ident(fp, cols[i], strlen(cols[i]));
		if (mask != NULL)
			fprintf(fp, " %s \"%s\"", strstr(mask, "FF") ||
			    strstr(mask, "ff") ? "TIMESTAMP" : "DATE", mask);
		else
			fputs(" CHAR(4000)", fp);
		fprintf(fp, "%s\n", i + 1 < n ? "," : "");
	}
	fputs(")\n", fp);
	if (fclose(fp) != 0)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	return buf;
}
