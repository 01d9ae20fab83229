/*
 * test_dat.c - SQL*Loader '|' / "#EOR#" data files and control files.
 */
#include <stdlib.h>
#include <string.h>

#include "dat.h"
#include "rec.h"
#include "tap.h"

/* Write one record of n NUL-terminated values; return the text or NULL. */
static char *
record(const char *const *vals, size_t n, int *rc, char *msg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	struct ep_error err = { 0, "" };

	*rc = ep_dat_put_record(fp, vals, NULL, n, NULL, &err);
	fclose(fp);
	if (*rc < 0) {
		*rc = err.code;
		if (msg)
			strcpy(msg, err.msg);
	}
	return buf;
}

static void
expect(const char *const *vals, size_t n, const char *want,
    const char *name)
{
	int rc;
	char *got = record(vals, n, &rc, NULL);

	is_int(rc, 0, "%s: status", name);
	is_str(got, want, "%s", name);
	free(got);
}

static void
test_records(void)
{
	const char *plain[] = { "MATH101", "12345", "student" };
	const char *pipe[] = { "a|b", "x" };
	const char *quote[] = { "say \"hi\"", "" };
	const char *nl[] = { "line1\nline2", "cr\rhere" };
	const char *nul[] = { NULL, "b", NULL };
	const char *utf[] = { "Zoë Ünal", "café" };
	const char *eor_ok[] = { "#EOR#", "x#EOR#" };
	const char *eor_bad[] = { "ok", "a#EOR#\nb" };
	char msg[1024];
	int rc;
	char *got;

	expect(plain, 3, "MATH101|12345|student#EOR#\n", "dat: plain fields");
	expect(pipe, 2, "\"a|b\"|x#EOR#\n", "dat: '|' is enclosed");
	expect(quote, 2, "\"say \"\"hi\"\"\"|#EOR#\n",
	    "dat: quotes doubled inside the enclosure");
	expect(nl, 2, "\"line1\nline2\"|\"cr\rhere\"#EOR#\n",
	    "dat: newline and CR are enclosed");
	expect(nul, 3, "|b|#EOR#\n", "dat: null values are empty");
	expect(utf, 2, "Zoë Ünal|café#EOR#\n", "dat: UTF-8 passes through");
	expect(eor_ok, 2, "#EOR#|x#EOR##EOR#\n",
	    "dat: '#EOR#' without a newline is harmless");

	got = record(eor_bad, 2, &rc, msg);
	is_int(rc, 65, "dat: terminator inside a value is refused with 65");
	is_str(got, "", "dat: a refused record writes nothing");
	ok(strstr(msg, "#EOR#") != NULL, "dat: message names the terminator");
	free(got);
}

static void
test_rec(void)
{
	struct ep_rec *r = ep_rec_new();
	const char *cols[] = { "user", "missing", "course", "n" };
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	struct ep_error err = { 0, "" };
	int rc1, rc2, rc3;

	ep_rec_set_str(r, "course", "BIO 1|2");
	ep_rec_set_str(r, "user", "u1");
	ep_rec_set(r, "n", EP_T_NUM, "42", 2);
	ep_rec_set(r, "z", EP_T_NULL, NULL, 0);
	rc1 = ep_dat_put_rec(fp, r, cols, 4, &err);
	rc2 = ep_dat_put_rec(fp, r, NULL, 0, &err);
	ep_rec_set_str(r, "bad", "x#EOR#\ny");
	rc3 = ep_dat_put_rec(fp, r, NULL, 0, &err);
	fclose(fp);
	is_int(rc1, 0, "dat: rec by columns");
	is_int(rc2, 0, "dat: rec in record order");
	is_int(rc3, -1, "dat: rec with the terminator refused");
	is_int(err.code, 65, "dat: rec refusal is 65");
	ok(strstr(err.msg, "'bad'") != NULL, "dat: refusal names the field");
	is_str(buf, "u1||\"BIO 1|2\"|42#EOR#\n\"BIO 1|2\"|u1|42|#EOR#\n",
	    "dat: rec output");
	free(buf);
	ep_rec_free(r);
}

static void
test_ctl(void)
{
	const char *cols[] = { "course", "user_id", "first name" };
	const char *badcol[] = { "a\"b" };
	struct ep_error err = { 0, "" };
	char *ctl;

	ctl = ep_dat_ctl("sis.enrollments", "enrollments.dat", cols, 3,
	    "truncate", &err);
	is_str(ctl,
	    "LOAD DATA\n"
	    "CHARACTERSET AL32UTF8\n"
	    "INFILE 'enrollments.dat' \"str '#EOR#\\n'\"\n"
	    "TRUNCATE\n"
	    "INTO TABLE sis.enrollments\n"
	    "FIELDS TERMINATED BY '|' OPTIONALLY ENCLOSED BY '\"'\n"
	    "TRAILING NULLCOLS\n"
	    "(\n"
	    "  course CHAR(4000),\n"
	    "  user_id CHAR(4000),\n"
	    "  \"first name\" CHAR(4000)\n"
	    ")\n", "dat: control file");
	free(ctl);

	ctl = ep_dat_ctl("My Table", "x.dat", cols, 1, NULL, &err);
	ok(ctl != NULL && strstr(ctl, "INTO TABLE \"My Table\"\n") &&
	    strstr(ctl, "\nAPPEND\n"), "dat: ctl quotes odd table names, "
	    "APPEND by default");
	free(ctl);

	ctl = ep_dat_ctl("t", "x.dat", cols, 1, "merge", &err);
	ok(ctl == NULL && err.code == 2, "dat: ctl refuses unknown mode");
	ctl = ep_dat_ctl("t", "x.dat", badcol, 1, NULL, &err);
	ok(ctl == NULL && err.code == 2, "dat: ctl refuses a '\"' in a name");
	ctl = ep_dat_ctl("t", "it's.dat", cols, 1, NULL, &err);
	ok(ctl == NULL && err.code == 2, "dat: ctl refuses a quote in file");
	ctl = ep_dat_ctl("t", "x.dat", cols, 0, NULL, &err);
	ok(ctl == NULL && err.code == 2, "dat: ctl refuses no columns");
}

static void
test_ctl_ext(void)
{
	const char *cols[] = { "id", "born", "added" };
	const char *dates[] = { "born", "added" };
	const char *masks[] = { "YYYY-MM-DD", "YYYY-MM-DD HH24:MI:SS.FF" };
	const char *badmask[] = { "YYYY\"" };
	const char *nocol[] = { "gone" };
	struct ep_dat_ctl_extra x = { "t.bad", dates, masks, 2 };
	struct ep_error err = { 0, "" };
	char *ctl;

	ctl = ep_dat_ctl_ext("tmp_t", "t.dat", cols, 3, "TRUNCATE", &x, &err);
	is_str(ctl,
	    "LOAD DATA\n"
	    "CHARACTERSET AL32UTF8\n"
	    "INFILE 't.dat' \"str '#EOR#\\n'\"\n"
	    "BADFILE 't.bad'\n"
	    "TRUNCATE\n"
	    "INTO TABLE tmp_t\n"
	    "FIELDS TERMINATED BY '|' OPTIONALLY ENCLOSED BY '\"'\n"
	    "TRAILING NULLCOLS\n"
	    "(\n"
	    "  id CHAR(4000),\n"
	    "  born DATE \"YYYY-MM-DD\",\n"
	    "  added TIMESTAMP \"YYYY-MM-DD HH24:MI:SS.FF\"\n"
	    ")\n", "dat: ctl with BADFILE and date masks");
	free(ctl);
	x.masks = badmask;
	x.ndates = 1;
	ctl = ep_dat_ctl_ext("t", "t.dat", cols, 3, NULL, &x, &err);
	ok(ctl == NULL && err.code == 2, "dat: ctl refuses a quote in a mask");
	x.dates = nocol;
	x.masks = masks;
	ctl = ep_dat_ctl_ext("t", "t.dat", cols, 3, NULL, &x, &err);
	ok(ctl == NULL && err.code == 2, "dat: ctl refuses a date column "
	    "that is not a column");
	x.ndates = 0;
	x.badfile = "it's.bad";
	ctl = ep_dat_ctl_ext("t", "t.dat", cols, 3, NULL, &x, &err);
	ok(ctl == NULL && err.code == 2, "dat: ctl refuses a quote in BADFILE");
}

int
main(void)
{
	test_records();
	test_rec();
	test_ctl();
	test_ctl_ext();
	return done_testing();
}
