/*
 * tdsval.h - a SQL Server column value, as FreeTDS db-lib delivers it, to a
 * record field (the mssql:// backend of db.h).  Kept apart from the
 * connection code so that unit tests and the fuzz target (tests/fuzz)
 * can feed it any (type, bytes) without a server.
 */
#ifndef EP_TDSVAL_H
#define EP_TDSVAL_H

#include <stddef.h>

#include "msg.h"
#include "rec.h"

/*
 * Set field name of row from a value of db-lib type type (a SYB* code, as
 * dbcoltype gives it) held in data, len bytes (dbdata, dbdatlen); data
 * NULL is SQL NULL.  *buf (*bufsz bytes, may start NULL/0) is scratch
 * space, grown as needed; the caller frees it.
 *
 * Integers become JSON numbers; bit true/false; float and real the
 * shortest text that reads back as the same double (NaN and infinities as
 * strings); datetime, smalldatetime, date, time and datetime2 ISO 8601
 * strings, the fraction trimmed of its zeros; char, varchar, text and
 * their n-forms (UTF-8 already, the client charset) strings; binary,
 * varbinary and image lower-case hex digits; decimal, numeric, money,
 * uniqueidentifier, datetimeoffset and the rest db-lib's own text (every
 * digit kept).  db-lib must be initialised (dbinit) for those.
 *
 * 0, or -1 with err (65) for a value that cannot be right: shorter than
 * its type, a date out of range, a decimal with a precision over 38 or a
 * scale over its precision, text that is not UTF-8 or holds a NUL byte,
 * or a type db-lib cannot make text of.
 */
int ep_tds_value(struct ep_rec *row, const char *name, int type,
    const unsigned char *data, long len, char **buf, size_t *bufsz,
    struct ep_error *err);

#endif
