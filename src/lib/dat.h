/*
 * dat.h - Oracle SQL*Loader data files in stream record format, as the
 * FSU pythonReplicateData dumps wrote them: fields joined by '|', every
 * record ending with "#EOR#\n", so a value may hold a newline.  A value
 * holding '|', '"', CR or LF is enclosed in '"' with inner quotes doubled,
 * which the control file's OPTIONALLY ENCLOSED BY '"' undoes.  An empty
 * value and a null are both written as nothing (SQL*Loader loads NULL).
 *
 * SQL*Loader splits records on the terminator before it looks at fields,
 * so no quoting can protect a value that holds "#EOR#\n" itself: such a
 * value is refused (65), never written.
 *
 * The matching control file (ep_dat_ctl) reads:
 *
 *	LOAD DATA
 *	CHARACTERSET AL32UTF8
 *	INFILE 'enrollments.dat' "str '#EOR#\n'"
 *	APPEND
 *	INTO TABLE enrollments
 *	FIELDS TERMINATED BY '|' OPTIONALLY ENCLOSED BY '"'
 *	TRAILING NULLCOLS
 *	(course CHAR(4000), user_id CHAR(4000), ...)
 *
 * Reference: Oracle Database Utilities, "Stream Record Format"
 * (docs.oracle.com/database/121/SUTIL/GUID-C6D10BF6-F6C0-476C-B924-
 * 7A081C70DBC2.htm): INFILE name "str 'terminator'", \n allowed in it.
 */
#ifndef EP_DAT_H
#define EP_DAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "msg.h"
#include "rec.h"

#define EP_DAT_SEP '|'
#define EP_DAT_EOR "#EOR#\n"

/*
 * Whether s (len bytes) can be written to a .dat file: 0, or -1 with err
 * (65, "field 'NAME' holds the record terminator '#EOR#'") when it holds
 * "#EOR#\n".  name is only used in the message and may be NULL.
 */
int ep_dat_check(const char *s, size_t len, const char *name,
    struct ep_error *err);

/*
 * Write one value (no separator), enclosed in '"' when it holds '|', '"',
 * CR or LF.  s may be NULL (written as nothing).  The caller has checked
 * it with ep_dat_check.
 */
void ep_dat_put_field(FILE *fp, const char *s, size_t len);

/*
 * Write a whole record: n values (vals[i] NULL is a null; lens NULL means
 * every value is NUL-terminated) joined by '|' and ended by "#EOR#\n".
 * names (may be NULL) name the values in messages.  Every value is
 * checked before a byte is written, so a refused record leaves no trace.
 * 0, or -1 with err: 65 for a value holding the terminator, 74 when the
 * stream reports a write error.
 */
int ep_dat_put_record(FILE *fp, const char *const *vals, const size_t *lens,
    size_t n, const char *const *names, struct ep_error *err);

/*
 * Write the fields cols[0..n) of r as one record (a field r lacks, or a
 * JSON null, is empty; numbers, booleans and nested JSON are written as
 * their JSON text).  cols NULL writes every field of r in record order.
 * Same returns as ep_dat_put_record.
 */
int ep_dat_put_rec(FILE *fp, const struct ep_rec *r, const char *const *cols,
    size_t n, struct ep_error *err);

/*
 * The text of a SQL*Loader control file for loading datafile into table
 * with columns cols[0..n) in that order.  mode is "APPEND", "INSERT",
 * "REPLACE" or "TRUNCATE" (NULL: APPEND), any case.  Names that are plain
 * Oracle identifiers (a letter, then letters, digits, _ $ #; at most 128
 * bytes; table may be SCHEMA.TABLE) are written as they are, others in
 * double quotes.  Every column is CHAR(4000), since SQL*Loader's default
 * CHAR(255) would reject longer values.  Returns malloc'd text the caller
 * frees, or NULL with err (2) for an unknown mode, no columns, or a name
 * that is empty or holds '"', a control character or "'" (datafile).
 */
char *ep_dat_ctl(const char *table, const char *datafile,
    const char *const *cols, size_t n, const char *mode,
    struct ep_error *err);

/*
 * What the seed's control files said besides (pythonReplicateData):
 * BADFILE 'NAME' after INFILE (the rejected records go there, beside the
 * data; NULL: none), and date masks: the column dates[i] is read as
 * DATE "masks[i]" (TIMESTAMP when the mask has fractional seconds, FF)
 * instead of CHAR(4000).  A mask or bad file holding a quote or a control
 * character, or a date column not among cols, is an error (2).
 */
struct ep_dat_ctl_extra {
	const char *badfile;
	const char *const *dates, *const *masks;
	size_t ndates;
};
char *ep_dat_ctl_ext(const char *table, const char *datafile,
    const char *const *cols, size_t n, const char *mode,
    const struct ep_dat_ctl_extra *x, struct ep_error *err);

#endif
