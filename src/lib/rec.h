/*
 * rec.h - records: one flat object of named fields, read from and written
 * to NDJSON (one JSON object per line) or CSV with a header (RFC 4180).
 * The reader also takes JSON objects spread over lines (jq's default
 * output) and arrays of objects (jq -s), TSV and other delimiters, and
 * CSV in another encoding (converted to UTF-8 by iconv).
 *
 * A record keeps its fields in input order.  Each field has a type that
 * says how its text is to be written back as JSON: a string (text holds
 * the decoded UTF-8), or a number, true/false, null, or a nested array or
 * object (text holds the JSON exactly as read).  Programs compare values by
 * their text, so the number 4766 and the string "4766" are the same key,
 * which is what a CSV on one side and NDJSON on the other need.
 *
 * Why not jansson for records: a hand parser that only needs flat objects
 * decodes a line into one reusable buffer with no per-field allocation,
 * which is what lets enroll-diff read 10M records in seconds.  jansson is
 * still used for the documents that are real trees (mappings, API replies).
 */
#ifndef EP_REC_H
#define EP_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "msg.h"

/* The longest record (line, or CSV record with quoted newlines) accepted. */
#define EP_MAX_RECORD (1024 * 1024)

/* EP_FMT_TSV is for readers only: CSV with a tab delimiter. */
enum ep_fmt { EP_FMT_AUTO, EP_FMT_NDJSON, EP_FMT_CSV, EP_FMT_TSV };

enum ep_type { EP_T_NULL, EP_T_BOOL, EP_T_NUM, EP_T_STR, EP_T_RAW };

struct ep_field {
	const char *name;	/* NUL-terminated UTF-8 */
	const char *val;	/* NUL-terminated: see the types above */
	size_t nlen, vlen;
	enum ep_type type;
};

/*
 * A record owns the storage of its names and values.  Pointers taken from
 * its fields stay valid until the record is changed, cleared or freed.
 */
struct ep_rec {
	struct ep_field *f;
	size_t n, cap;
	char *buf;		/* storage for names and values */
	size_t blen, bcap;
};

/* A new empty record; ep_rec_free(NULL) is a no-op. */
struct ep_rec *ep_rec_new(void);
void ep_rec_free(struct ep_rec *r);
/* Remove every field, keep the storage for reuse. */
void ep_rec_clear(struct ep_rec *r);
/* Make dst an independent copy of src. */
void ep_rec_copy(struct ep_rec *dst, const struct ep_rec *src);
/* The field called name, or NULL.  Borrowed. */
const struct ep_field *ep_rec_get(const struct ep_rec *r, const char *name);
/*
 * The value text of name, or NULL when the field is absent or JSON null.
 * Borrowed: valid until the record changes.
 */
const char *ep_rec_str(const struct ep_rec *r, const char *name);
/*
 * Set name to a value of type t (text val of vlen bytes, copied).  An
 * existing field keeps its position; a new one is appended at the end.
 */
void ep_rec_set(struct ep_rec *r, const char *name, enum ep_type t,
    const char *val, size_t vlen);
/*
 * Append a field without looking for one of the same name, for a caller
 * that knows there is none (a database row of distinct column names).
 * name (nlen bytes, NUL-terminated) is borrowed, not copied: it must
 * outlive the field.  val is copied; NULL is a null as in ep_rec_set.
 */
void ep_rec_append(struct ep_rec *r, const char *name, size_t nlen,
    enum ep_type t, const char *val, size_t vlen);
/*
 * n new fields at the end of r for the caller to fill in whole, names
 * and values borrowed (NUL-terminated; a null is EP_T_NULL with val
 * "null"): for a database row whose values sit in the driver's result
 * until the next row is asked for, which clears the record first.  The
 * pointer is valid until r next grows.
 */
struct ep_field *ep_rec_add(struct ep_rec *r, size_t n);
/* Shorthand for a NUL-terminated string value. */
void ep_rec_set_str(struct ep_rec *r, const char *name, const char *val);
/* Remove the field called name; returns whether it was there. */
bool ep_rec_del(struct ep_rec *r, const char *name);

/* "ndjson"/"json" or "csv" to a format; -1 for anything else. */
int ep_fmt_parse(const char *s);
/* The same, for an input: "tsv" too. */
int ep_fmt_parse_input(const char *s);

/*
 * A streaming reader.  name is used in messages ("-" reads as "stdin").
 * With EP_FMT_AUTO the format is taken from the first byte that is not a
 * byte-order mark or white space: '{' or '[' is JSON, anything else CSV.
 *
 * JSON: one object a line is the fast path; an object may also spread
 * over lines (a line that is not a whole object and ends in { [ , or :
 * goes on), and a top-level array is read one element (an object) at a
 * time.  ep_reader_format() says EP_FMT_NDJSON for all of these.
 * CSV: EP_FMT_TSV reads as CSV with a tab delimiter, and
 * ep_reader_format() says EP_FMT_CSV.  A UTF-8 byte-order mark is
 * skipped; a UTF-16 one makes the CSV read as UTF-16.
 */
struct ep_reader;

/*
 * What every reader made from now on starts with: the CSV delimiter (0
 * for the comma, or tab for TSV) and the encoding of CSV input (NULL or
 * "UTF-8" for none; JSON is always UTF-8).  The command line's
 * --delimiter and --encoding set these (cli.c).  encoding is copied.
 */
void ep_reader_defaults(char delim, const char *encoding);
/* 0 when iconv converts from enc to UTF-8, -1 when it does not. */
int ep_encoding_check(const char *enc);
/* Per reader, before the first read: the same two settings. */
void ep_reader_set_delimiter(struct ep_reader *rd, char delim);
void ep_reader_set_encoding(struct ep_reader *rd, const char *enc);

struct ep_reader *ep_reader_new(FILE *fp, const char *name, enum ep_fmt fmt);
/*
 * Open path ("-" is stdin) for reading.  NULL with err filled (66 for a
 * missing file, 74 for another open failure).  The reader closes the file.
 */
struct ep_reader *ep_reader_open(const char *path, enum ep_fmt fmt,
    struct ep_error *err);
/*
 * Read the next record into rec (cleared first).  Returns 1 for a record,
 * 0 at the end of input, -1 on bad input or a read error with err filled
 * ("NAME:LINE: why", code 65 or 74).  After -1 rec holds nothing and the
 * reader must not be used again.  No name or value of rec holds a NUL
 * byte: the input's NUL bytes and the JSON escape \u0000 are refused
 * (callers rely on it: enroll-diff's keys end at their NUL).
 */
int ep_reader_next(struct ep_reader *rd, struct ep_rec *rec,
    struct ep_error *err);
/* The line on which the last record returned began (1-based). */
unsigned long ep_reader_line(const struct ep_reader *rd);
/*
 * Where the last record returned lies in the input: the byte offset of
 * its first line (a byte-order mark skipped counts) and, in *len when
 * not NULL, its length in bytes up to the end of its last line, that
 * line's newline excluded.  With pread() on a regular file this reads
 * the record again: for NDJSON, ep_ndjson_parse then decodes it.  (For
 * a JSON object over several lines or in an array, the span is the
 * object's own bytes.  For converted CSV the numbers count UTF-8 bytes.)
 */
unsigned long long ep_reader_offset(const struct ep_reader *rd, size_t *len);
/* The stream the reader reads (borrowed: the reader still closes it). */
FILE *ep_reader_file(const struct ep_reader *rd);
/* The input name used in messages. */
const char *ep_reader_name(const struct ep_reader *rd);
/* The detected (or given) format; EP_FMT_AUTO before the first read. */
enum ep_fmt ep_reader_format(const struct ep_reader *rd);
/* The CSV header (NULL for NDJSON or before the first read). Borrowed. */
const char *const *ep_reader_header(const struct ep_reader *rd, size_t *n);
/* Free the reader, closing a file it opened. */
void ep_reader_free(struct ep_reader *rd);

/*
 * Parse one NDJSON line (len bytes, no newline) into rec with the
 * reader's rules (UTF-8, no NUL, one flat object).  0, or -1 with *why
 * set to a static reason and rec empty.
 */
int ep_ndjson_parse(struct ep_rec *rec, const char *s, size_t len,
    const char **why);

/*
 * Whether ep_reader_reparse can decode the records rd returned from
 * their bytes (ep_reader_offset): NDJSON, or CSV that is not converted
 * from another encoding, once its header is read.
 */
bool ep_reader_rereadable(const struct ep_reader *rd);
/*
 * Decode s (len bytes: a record rd returned, read again from the file at
 * its ep_reader_offset) into rec as rd did: NDJSON by ep_ndjson_parse,
 * CSV by rd's delimiter and named by its header.  0, or -1 with *why
 * set to a static reason and rec empty.
 */
int ep_reader_reparse(struct ep_reader *rd, struct ep_rec *rec,
    const char *s, size_t len, const char **why);

/*
 * A record writer.  NDJSON writes fields in record order.  CSV writes a
 * header of the fields given by ep_writer_set_fields or, failing that, of
 * the first record; a later record with a field outside the header is an
 * error (never silently dropped); a field the record lacks is empty.
 */
struct ep_writer;

struct ep_writer *ep_writer_new(FILE *fp, enum ep_fmt fmt);
/* Fix the CSV columns (copied).  Call before the first write. */
void ep_writer_set_fields(struct ep_writer *w, const char *const *names,
    size_t n);
/*
 * CSV only: prefix a value starting with = + - @, tab or CR with a single
 * quote, so a spreadsheet shows it as text rather than run a formula.
 */
void ep_writer_set_csv_safe(struct ep_writer *w, bool on);
/* Write one record; -1 with err filled on a write error (74) or a CSV
 * field outside the header (65). */
int ep_writer_write(struct ep_writer *w, const struct ep_rec *r,
    struct ep_error *err);
/* Write the CSV header if fields were set and nothing was written yet,
 * then flush; -1 with err on a write error. */
int ep_writer_finish(struct ep_writer *w, struct ep_error *err);
void ep_writer_free(struct ep_writer *w);

/* fwrite_unlocked of len bytes, into the stream's buffer directly when
 * it has room (the writers' per-field output). */
void ep_put_bytes(FILE *fp, const char *s, size_t len);
/* Write s (len bytes) as a JSON string literal, quotes included. */
void ep_json_put_string(FILE *fp, const char *s, size_t len);
/* Write s as one CSV field, quoted when it holds , " CR or LF. */
void ep_csv_put_field(FILE *fp, const char *s, size_t len, bool safe);

/*
 * Offset of the first byte of s[0..len) that is not valid UTF-8 (overlong
 * forms and surrogates included), or -1 when all of it is valid.
 */
long ep_utf8_check(const char *s, size_t len);

#endif
