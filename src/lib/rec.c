/*
 * rec.c - the record type, the NDJSON and CSV readers and the writer.
 *
 * NDJSON: RFC 8259 objects, one per line; blank lines are skipped, a
 * trailing CR is white space.  Nested arrays and objects are validated
 * and kept as their JSON text.  Duplicate names in one object and the
 * escape \u0000 are refused: both would make a record mean two things.
 * The same reader takes concatenated JSON values (jq's pretty output) and
 * arrays of objects (jq -s): a line that is one whole object is the fast
 * path; an object spread over lines and the elements of a top-level array
 * are found by a scan that keeps track of strings and nesting, so an array
 * is never held whole, only one element at a time.
 * CSV: RFC 4180 with a header row, read by libcsv in strict mode, fed one
 * line at a time so that every error has its line; CRLF or LF, a UTF-8
 * byte-order mark ignored, quoted fields may hold newlines.  A delimiter
 * other than the comma (TSV) and an input encoding other than UTF-8
 * (converted by iconv) may be set.
 * Both: the input must be UTF-8 and no record may exceed EP_MAX_RECORD.
 */
#include <csv.h>
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rec.h"

/* ---------------------------------------------------------------- record */

struct ep_rec *
ep_rec_new(void)
{
	return ep_xcalloc(1, sizeof(struct ep_rec));
}

void
ep_rec_free(struct ep_rec *r)
{
	if (r == NULL)
		return;
	free(r->f);
	free(r->buf);
	free(r);
}

void
ep_rec_clear(struct ep_rec *r)
{
	r->n = 0;
	r->blen = 0;
}

/* Make room for extra bytes in r->buf, moving field pointers along. */
static void
buf_reserve(struct ep_rec *r, size_t extra)
{
	char *old = r->buf;
	size_t need = r->blen + extra, ncap;

	if (need <= r->bcap)
		return;
	ncap = r->bcap ? r->bcap : 256;
	while (ncap < need)
		ncap *= 2;
	if (old == NULL) {
		r->buf = ep_xmalloc(ncap);
	} else {
		char *nb = ep_xmalloc(ncap);

		memcpy(nb, old, r->blen);
		for (size_t i = 0; i < r->n; i++) {
			struct ep_field *f = &r->f[i];

			if (f->name >= old && f->name < old + r->bcap)
				f->name = nb + (f->name - old);
			if (f->val >= old && f->val < old + r->bcap)
				f->val = nb + (f->val - old);
		}
		free(old);
		r->buf = nb;
	}
	r->bcap = ncap;
}

static char *
buf_put(struct ep_rec *r, const char *s, size_t len)
{
	char *p;

	buf_reserve(r, len + 1);
	p = r->buf + r->blen;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	r->blen += len + 1;
	return p;
}

static struct ep_field *
field_add(struct ep_rec *r)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->f = ep_xrealloc(r->f, r->cap * sizeof(*r->f));
	}
	return &r->f[r->n++];
}

void
ep_rec_copy(struct ep_rec *dst, const struct ep_rec *src)
{
	ep_rec_clear(dst);
	buf_reserve(dst, src->blen + 1);
	for (size_t i = 0; i < src->n; i++) {
		const struct ep_field *s = &src->f[i];
		const char *name = buf_put(dst, s->name, s->nlen);
		const char *val = buf_put(dst, s->val, s->vlen);
		struct ep_field *d = field_add(dst);

		d->name = name;
		d->nlen = s->nlen;
		d->val = val;
		d->vlen = s->vlen;
		d->type = s->type;
	}
}

const struct ep_field *
ep_rec_get(const struct ep_rec *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].name, name) == 0)
			return &r->f[i];
	return NULL;
}

const char *
ep_rec_str(const struct ep_rec *r, const char *name)
{
	const struct ep_field *f = ep_rec_get(r, name);

	if (f == NULL || f->type == EP_T_NULL)
		return NULL;
	return f->val;
}

void
ep_rec_append(struct ep_rec *r, const char *name, size_t nlen,
    enum ep_type t, const char *val, size_t vlen)
{
	const char *v;
	struct ep_field *f;

	if (val == NULL) {
		t = EP_T_NULL;
		val = "null";
		vlen = 4;
	}
	v = buf_put(r, val, vlen);
	f = field_add(r);
	f->name = name;
	f->nlen = nlen;
	f->val = v;
	f->vlen = vlen;
	f->type = t;
}

struct ep_field *
ep_rec_add(struct ep_rec *r, size_t n)
{
	if (r->n + n > r->cap) {
		while (r->n + n > r->cap)
			r->cap = r->cap ? r->cap * 2 : 16;
		r->f = ep_xrealloc(r->f, r->cap * sizeof(*r->f));
	}
	r->n += n;
	return &r->f[r->n - n];
}

void
ep_rec_set(struct ep_rec *r, const char *name, enum ep_type t,
    const char *val, size_t vlen)
{
	struct ep_field *f = NULL;
	const char *v;
	size_t idx = 0;

	if (val == NULL) {
		t = EP_T_NULL;
		val = "null";
		vlen = 4;
	}
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].name, name) == 0) {
			f = &r->f[i];
			idx = i;
			break;
		}
	if (f == NULL) {
		size_t nlen = strlen(name);
		const char *n;

		/* Reserve both at once so the name cannot move under us. */
		buf_reserve(r, nlen + vlen + 2);
		n = buf_put(r, name, nlen);
		v = buf_put(r, val, vlen);
		f = field_add(r);
		f->name = n;
		f->nlen = nlen;
	} else {
		/* val may point into our own buffer: copy it out first. */
		char *tmp = ep_xstrndup(val, vlen);

		v = buf_put(r, tmp, vlen);
		free(tmp);
		f = &r->f[idx];
	}
	f->val = v;
	f->vlen = vlen;
	f->type = t;
}

void
ep_rec_set_str(struct ep_rec *r, const char *name, const char *val)
{
	ep_rec_set(r, name, EP_T_STR, val, val ? strlen(val) : 0);
}

bool
ep_rec_del(struct ep_rec *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].name, name) == 0) {
			memmove(&r->f[i], &r->f[i + 1],
			    (r->n - i - 1) * sizeof(*r->f));
			r->n--;
			return true;
		}
	return false;
}

int
ep_fmt_parse(const char *s)
{
	if (strcmp(s, "ndjson") == 0 || strcmp(s, "json") == 0 ||
	    strcmp(s, "jsonl") == 0)
		return EP_FMT_NDJSON;
	if (strcmp(s, "csv") == 0)
		return EP_FMT_CSV;
	return -1;
}

int
ep_fmt_parse_input(const char *s)
{
	if (strcmp(s, "tsv") == 0)
		return EP_FMT_TSV;
	return ep_fmt_parse(s);
}

/* ------------------------------------------------------------------ UTF-8 */

long
ep_utf8_check(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;

		/* Fast path over ASCII, eight bytes at a time. */
		if (c < 0x80) {
			while (i + 8 <= len) {
				uint64_t w;

				memcpy(&w, s + i, 8);
				if (w & 0x8080808080808080ULL)
					break;
				i += 8;
			}
			while (i < len && s[i] < 0x80)
				i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return (long)i;
		}
		if (n >= len - i)
			return (long)i;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return (long)i;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return (long)i;
		i += n + 1;
	}
	return -1;
}

/* ----------------------------------------------------------------- reader */

struct ep_reader {
	FILE *fp;
	bool own;
	char *name;
	enum ep_fmt fmt;
	char *buf;		/* raw input */
	size_t cap, start, end;
	bool eof, first, failed;
	unsigned long line;	/* lines consumed so far */
	unsigned long recline;	/* line where the last record began */
	unsigned long long base;	/* input bytes before buf[0] */
	unsigned long long recoff;	/* offset of the last record */
	size_t reclen;		/* its length, final newline excluded */
	bool nl;		/* the last line ended in a newline */
	size_t bom;		/* bytes of a UTF-8 byte-order mark skipped */
	/* JSON beyond one object a line */
	bool inarray;		/* inside a top-level array */
	unsigned long arrline;	/* the line of its '[' */
	int arrstate;		/* A_FIRST, A_NEXT or A_AFTER */
	/* CSV */
	char **hdr;
	size_t nhdr;
	size_t *hlen;		/* strlen of each header name */
	size_t hsum;		/* their sum, NULs included */
	struct ep_rec *tmp;	/* CSV: decoded values before naming */
	struct ep_rec *dst;	/* CSV: the record being read, when named */
	const char **cut;	/* CSV: field starts (csv_direct) */
	struct csv_parser csv;
	bool csv_on;		/* csv initialised */
	bool rowdone;		/* libcsv ended a row */
	char delim;
	/* A conversion to UTF-8 (CSV only) */
	char *enc;
	iconv_t cd;
	char *raw;		/* bytes read, not yet converted */
	size_t rawlen, rawcap;
	bool raweof, convbad;
};

/* What readers made from now on start with (see ep_reader_defaults). */
static char def_delim;
static char *def_enc;

void
ep_reader_defaults(char delim, const char *encoding)
{
	def_delim = delim;
	free(def_enc);
	def_enc = encoding ? ep_xstrdup(encoding) : NULL;
}

void
ep_reader_set_delimiter(struct ep_reader *rd, char delim)
{
	rd->delim = delim;
}

/* Whether enc names UTF-8, which needs no conversion. */
static bool
is_utf8_name(const char *enc)
{
	return strcasecmp(enc, "UTF-8") == 0 || strcasecmp(enc, "UTF8") == 0;
}

int
ep_encoding_check(const char *enc)
{
	iconv_t cd;

	if (is_utf8_name(enc))
		return 0;
	if ((cd = iconv_open("UTF-8", enc)) == (iconv_t)-1)
		return -1;
	iconv_close(cd);
	return 0;
}

void
ep_reader_set_encoding(struct ep_reader *rd, const char *enc)
{
	free(rd->enc);
	rd->enc = enc && !is_utf8_name(enc) ? ep_xstrdup(enc) : NULL;
}

struct ep_reader *
ep_reader_new(FILE *fp, const char *name, enum ep_fmt fmt)
{
	struct ep_reader *rd = ep_xcalloc(1, sizeof(*rd));

	rd->fp = fp;
	rd->name = ep_xstrdup(name == NULL || strcmp(name, "-") == 0 ?
	    "stdin" : name);
	rd->fmt = fmt;
	rd->cap = 64 * 1024;
	rd->buf = ep_xmalloc(rd->cap);
	rd->first = true;
	rd->cd = (iconv_t)-1;
	rd->delim = def_delim;
	ep_reader_set_encoding(rd, def_enc);
	return rd;
}

struct ep_reader *
ep_reader_open(const char *path, enum ep_fmt fmt, struct ep_error *err)
{
	struct ep_reader *rd;
	FILE *fp;

	if (strcmp(path, "-") == 0)
		return ep_reader_new(stdin, "-", fmt);
	fp = fopen(path, "r");
	if (fp == NULL) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_IOERR, "cannot open '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	rd = ep_reader_new(fp, path, fmt);
	rd->own = true;
	return rd;
}

void
ep_reader_free(struct ep_reader *rd)
{
	if (rd == NULL)
		return;
	if (rd->own)
		fclose(rd->fp);
	for (size_t i = 0; i < rd->nhdr; i++)
		free(rd->hdr[i]);
	free(rd->hdr);
	free(rd->hlen);
	free(rd->cut);
	ep_rec_free(rd->tmp);
	if (rd->csv_on)
		csv_free(&rd->csv);
	if (rd->cd != (iconv_t)-1)
		iconv_close(rd->cd);
	free(rd->enc);
	free(rd->raw);
	free(rd->buf);
	free(rd->name);
	free(rd);
}

unsigned long
ep_reader_line(const struct ep_reader *rd)
{
	return rd->recline;
}

unsigned long long
ep_reader_offset(const struct ep_reader *rd, size_t *len)
{
	if (len)
		*len = rd->reclen;
	return rd->recoff;
}

FILE *
ep_reader_file(const struct ep_reader *rd)
{
	return rd->fp;
}

const char *
ep_reader_name(const struct ep_reader *rd)
{
	return rd->name;
}

enum ep_fmt
ep_reader_format(const struct ep_reader *rd)
{
	return rd->fmt;
}

const char *const *
ep_reader_header(const struct ep_reader *rd, size_t *n)
{
	if (n)
		*n = rd->nhdr;
	return (const char *const *)rd->hdr;
}

static int
bad(struct ep_reader *rd, struct ep_error *err, unsigned long line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
bad(struct ep_reader *rd, struct ep_error *err, unsigned long line,
    const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: %s", rd->name, line, why);
	rd->failed = true;
	return -1;
}

static int
read_error(struct ep_reader *rd, struct ep_error *err)
{
	ep_error_set(err, EP_EXIT_IOERR, "%s: read error: %s", rd->name,
	    strerror(errno));
	rd->failed = true;
	return -1;
}

/*
 * fill() through iconv: convert what rd->raw holds into the free end of
 * rd->buf, reading more raw input when that is needed.  A byte the
 * encoding does not have stops the conversion: rd->convbad is set and
 * the input ends there, so that next_line() reports it on its line.
 */
static int
fill_conv(struct ep_reader *rd, struct ep_error *err)
{
	for (;;) {
		char *in = rd->raw, *out = rd->buf + rd->end;
		size_t inl = rd->rawlen, outl = rd->cap - rd->end, got, n;

		if (inl > 0 && !rd->convbad) {
			if (iconv(rd->cd, &in, &inl, &out, &outl) ==
			    (size_t)-1 && errno == EILSEQ)
				rd->convbad = true;
			memmove(rd->raw, in, inl);
			rd->rawlen = inl;
			got = (size_t)(out - (rd->buf + rd->end));
			rd->end += got;
			if (got > 0)
				return 1;
		}
		if (rd->convbad || rd->raweof) {
			/* A sequence cut short by the end is not valid. */
			if (rd->rawlen > 0)
				rd->convbad = true;
			rd->eof = true;
			return 0;
		}
		n = fread(rd->raw + rd->rawlen, 1, rd->rawcap - rd->rawlen,
		    rd->fp);
		if (n == 0) {
			if (ferror(rd->fp))
				return read_error(rd, err);
			rd->raweof = true;
		}
		rd->rawlen += n;
	}
}

/* Read more input; 0 at EOF, 1 if bytes came, -1 on a read error. */
static int
fill(struct ep_reader *rd, struct ep_error *err)
{
	size_t got;

	if (rd->eof)
		return 0;
	if (rd->start > 0) {
		memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
		rd->base += rd->start;
		rd->end -= rd->start;
		rd->start = 0;
	}
	/* Room for one whole character out of iconv, at least. */
	if (rd->cap - rd->end < 8) {
		if (rd->cap > EP_MAX_RECORD + 1)
			return 1;	/* caller sees the long line */
		rd->cap *= 2;
		rd->buf = ep_xrealloc(rd->buf, rd->cap);
	}
	if (rd->cd != (iconv_t)-1)
		return fill_conv(rd, err);
	got = fread(rd->buf + rd->end, 1, rd->cap - rd->end, rd->fp);
	rd->end += got;
	if (got == 0) {
		if (ferror(rd->fp)) {
			ep_error_set(err, EP_EXIT_IOERR, "%s: read error: %s",
			    rd->name, strerror(errno));
			rd->failed = true;
			return -1;
		}
		rd->eof = true;
		return 0;
	}
	return 1;
}

/*
 * The next physical line: *line points into rd->buf, *len excludes the
 * newline.  1 for a line, 0 at EOF, -1 on error.  Valid until next call.
 */
static int
next_line(struct ep_reader *rd, char **line, size_t *len,
    struct ep_error *err)
{
	size_t scanned = 0;

	for (;;) {
		char *base = rd->buf + rd->start;
		size_t avail = rd->end - rd->start;
		char *nl = memchr(base + scanned, '\n', avail - scanned);
		int r;

		if (nl != NULL) {
			*line = base;
			*len = (size_t)(nl - base);
			rd->start += *len + 1;
			rd->line++;
			rd->nl = true;
			if (*len > EP_MAX_RECORD)
				return bad(rd, err, rd->line,
				    "line longer than %d bytes",
				    EP_MAX_RECORD);
			return 1;
		}
		scanned = avail;
		if (avail > EP_MAX_RECORD)
			return bad(rd, err, rd->line + 1,
			    "line longer than %d bytes", EP_MAX_RECORD);
		r = fill(rd, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			base = rd->buf + rd->start;
			avail = rd->end - rd->start;
			if (rd->convbad)
				return bad(rd, err, rd->line + 1,
				    "invalid byte sequence for encoding "
				    "'%s'", rd->enc);
			if (avail == 0)
				return 0;
			*line = base;
			*len = avail;
			rd->start = rd->end;
			rd->line++;
			rd->nl = false;
			return 1;
		}
		/* The buffer may have moved; rescan from where we were. */
		if (scanned > rd->end - rd->start)
			scanned = 0;
	}
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---------------------------------------------------------- JSON parsing */

struct jp {
	const char *p, *end;
	const char *why;
};

/* Inlined: compact NDJSON has no white space, so this is one test. */
static inline __attribute__((always_inline)) void
skip_ws(struct jp *j)
{
	while (j->p < j->end && is_ws(*j->p))
		j->p++;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * The first byte of p[0..end) that ends a plain string run: '"', '\\'
 * or a control character.  Eight bytes at a time: for each test the
 * lowest flagged byte is exact (borrows only run upwards), and the byte
 * loop re-checks from there.
 */
static inline const char *
plain_run(const char *p, const char *end)
{
	while (end - p >= 8) {
		uint64_t w, m;

		memcpy(&w, p, 8);
		m = (((w ^ (ONES * '"')) - ONES) & ~(w ^ (ONES * '"'))) |
		    (((w ^ (ONES * '\\')) - ONES) & ~(w ^ (ONES * '\\'))) |
		    ((w - ONES * 0x20) & ~w);
		m &= HIGHS;
		if (m) {
			p += __builtin_ctzll(m) / 8;
			break;
		}
		p += 8;
	}
	while (p < end && *p != '"' && *p != '\\' &&
	    (unsigned char)*p >= 0x20)
		p++;
	return p;
}

static int
hex4(const char *p, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t
put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decode the string at j->p (just past the opening quote) into out, which
 * has room for the source length; NUL-terminates.  Returns the decoded
 * length or -1 with j->why set.
 */
static long
parse_string(struct jp *j, char *out)
{
	char *o = out;

	for (;;) {
		/* Copy the plain run in one go. */
		const char *q = plain_run(j->p, j->end);

		memcpy(o, j->p, (size_t)(q - j->p));
		o += q - j->p;
		j->p = q;
		if (j->p >= j->end) {
			j->why = "unterminated string";
			return -1;
		}
		if (*j->p == '"') {
			j->p++;
			*o = '\0';
			return o - out;
		}
		if ((unsigned char)*j->p < 0x20) {
			j->why = "control character in string";
			return -1;
		}
		/* Backslash. */
		if (j->end - j->p < 2) {
			j->why = "unterminated string";
			return -1;
		}
		j->p++;
		switch (*j->p++) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			uint32_t cp, lo;

			if (j->end - j->p < 4 || hex4(j->p, &cp) < 0) {
				j->why = "bad \\u escape";
				return -1;
			}
			j->p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (j->end - j->p < 6 || j->p[0] != '\\' ||
				    j->p[1] != 'u' || hex4(j->p + 2, &lo) < 0 ||
				    lo < 0xDC00 || lo > 0xDFFF) {
					j->why = "unpaired surrogate in \\u escape";
					return -1;
				}
				j->p += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) +
				    (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				j->why = "unpaired surrogate in \\u escape";
				return -1;
			}
			if (cp == 0) {
				j->why = "\\u0000 in string";
				return -1;
			}
			o += put_utf8(o, cp);
			break;
		}
		default:
			j->why = "bad escape in string";
			return -1;
		}
	}
}

static int
parse_number(struct jp *j)
{
	const char *p = j->p;

	if (p < j->end && *p == '-')
		p++;
	if (p >= j->end)
		goto badnum;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	} else {
		goto badnum;
	}
	if (p < j->end && *p == '.') {
		p++;
		if (p >= j->end || *p < '0' || *p > '9')
			goto badnum;
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= j->end || *p < '0' || *p > '9')
			goto badnum;
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	}
	j->p = p;
	return 0;
badnum:
	j->why = "bad number";
	return -1;
}

static int
parse_lit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0) {
		j->why = "unexpected character";
		return -1;
	}
	j->p += n;
	return 0;
}

/* Validate any JSON value at j->p, advancing past it (depth-limited). */
static int
skip_value(struct jp *j, char *scratch, int depth)
{
	if (depth > 64) {
		j->why = "nesting deeper than 64 levels";
		return -1;
	}
	skip_ws(j);
	if (j->p >= j->end) {
		j->why = "unexpected end of line";
		return -1;
	}
	switch (*j->p) {
	case '"':
		j->p++;
		return parse_string(j, scratch) < 0 ? -1 : 0;
	case 't': return parse_lit(j, "true");
	case 'f': return parse_lit(j, "false");
	case 'n': return parse_lit(j, "null");
	case '[':
	case '{': {
		char close = *j->p == '[' ? ']' : '}';
		bool obj = close == '}';

		j->p++;
		skip_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			if (obj) {
				skip_ws(j);
				if (j->p >= j->end || *j->p != '"') {
					j->why = "expected a field name";
					return -1;
				}
				j->p++;
				if (parse_string(j, scratch) < 0)
					return -1;
				skip_ws(j);
				if (j->p >= j->end || *j->p != ':') {
					j->why = "expected ':'";
					return -1;
				}
				j->p++;
			}
			if (skip_value(j, scratch, depth + 1) < 0)
				return -1;
			skip_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == close) {
				j->p++;
				return 0;
			}
			j->why = obj ? "expected ',' or '}'" :
			    "expected ',' or ']'";
			return -1;
		}
	}
	default:
		if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
			return parse_number(j);
		j->why = "unexpected character";
		return -1;
	}
}

/*
 * Copy the JSON text s (valid, len bytes) to out without the white space
 * between its tokens: a nested value spread over lines (jq's pretty
 * output) must not carry its newlines into an NDJSON line.  The length.
 */
static long
compact(char *out, const char *s, size_t len)
{
	char *o = out;
	bool instr = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (instr) {
			*o++ = c;
			if (c == '\\')
				*o++ = s[++i];
			else if (c == '"')
				instr = false;
		} else if (!is_ws(c)) {
			*o++ = c;
			instr = c == '"';
		}
	}
	return o - out;
}

/*
 * Parse one JSON object (s, len bytes) into rec.  0, or -1 with *why set
 * and, when at is not NULL, *at where the text stopped making sense.
 */
static int
parse_object(struct ep_rec *rec, const char *s, size_t len, const char **why,
    const char **at)
{
	struct jp j = { s, s + len, NULL };
	char *scratch = NULL;

	ep_rec_clear(rec);
	/* Decoded text never exceeds its source: one reservation is enough. */
	buf_reserve(rec, 2 * len + 2);
	skip_ws(&j);
	if (j.p >= j.end || *j.p != '{') {
		*why = "not a JSON object";
		return -1;
	}
	j.p++;
	skip_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
		goto tail;
	}
	for (;;) {
		struct ep_field *f;
		char *name, *val;
		long n;
		const char *vstart;

		skip_ws(&j);
		if (j.p >= j.end || *j.p != '"') {
			j.why = "expected a field name";
			goto fail;
		}
		j.p++;
		name = rec->buf + rec->blen;
		if ((n = parse_string(&j, name)) < 0)
			goto fail;
		/* Length and first byte first: most names differ there. */
		for (size_t i = 0; i < rec->n; i++)
			if ((size_t)n == rec->f[i].nlen &&
			    rec->f[i].name[0] == name[0] &&
			    memcmp(rec->f[i].name, name, (size_t)n) == 0) {
				j.why = "duplicate field name";
				goto fail;
			}
		rec->blen += (size_t)n + 1;
		f = field_add(rec);
		f->name = name;
		f->nlen = (size_t)n;
		skip_ws(&j);
		if (j.p >= j.end || *j.p != ':') {
			j.why = "expected ':'";
			goto fail;
		}
		j.p++;
		skip_ws(&j);
		if (j.p >= j.end) {
			j.why = "unexpected end of line";
			goto fail;
		}
		val = rec->buf + rec->blen;
		vstart = j.p;
		if (*j.p == '"') {
			j.p++;
			if ((n = parse_string(&j, val)) < 0)
				goto fail;
			f->type = EP_T_STR;
		} else {
			switch (*j.p) {
			case 't':
			case 'f':
				f->type = EP_T_BOOL;
				break;
			case 'n':
				f->type = EP_T_NULL;
				break;
			case '[':
			case '{':
				f->type = EP_T_RAW;
				break;
			default:
				f->type = EP_T_NUM;
			}
			if (f->type == EP_T_RAW) {
				if (scratch == NULL)
					scratch = ep_xmalloc(len + 1);
				if (skip_value(&j, scratch, 1) < 0)
					goto fail;
			} else if (f->type == EP_T_NUM) {
				if (parse_number(&j) < 0)
					goto fail;
			} else if (f->type == EP_T_BOOL) {
				if (parse_lit(&j, *j.p == 't' ? "true" :
				    "false") < 0)
					goto fail;
			} else if (parse_lit(&j, "null") < 0) {
				goto fail;
			}
			n = j.p - vstart;
			if (f->type == EP_T_RAW &&
			    memchr(vstart, '\n', (size_t)n) != NULL)
				n = compact(val, vstart, (size_t)n);
			else
				memcpy(val, vstart, (size_t)n);
			val[n] = '\0';
		}
		rec->blen += (size_t)n + 1;
		f->val = val;
		f->vlen = (size_t)n;
		skip_ws(&j);
		if (j.p < j.end && *j.p == ',') {
			j.p++;
			continue;
		}
		if (j.p < j.end && *j.p == '}') {
			j.p++;
			break;
		}
		j.why = "expected ',' or '}'";
		goto fail;
	}
tail:
	skip_ws(&j);
	if (j.p != j.end) {
		j.why = "text after the object";
		goto fail;
	}
	free(scratch);
	return 0;
fail:
	free(scratch);
	*why = j.why;
	if (at)
		*at = j.p;
	ep_rec_clear(rec);
	return -1;
}

static int
check_utf8(struct ep_reader *rd, struct ep_error *err, const char *s,
    size_t len, unsigned long line)
{
	long off = ep_utf8_check(s, len);
	const char *nul = memchr(s, '\0', len);

	/* NUL is valid UTF-8 but no field of ours can hold it. */
	if (nul != NULL && (off < 0 || nul - s < off))
		return bad(rd, err, line, "NUL byte at byte %ld",
		    (long)(nul - s) + 1);
	if (off >= 0)
		return bad(rd, err, line, "invalid UTF-8 at byte %ld", off + 1);
	return 0;
}

int
ep_ndjson_parse(struct ep_rec *rec, const char *s, size_t len,
    const char **why)
{
	if (ep_utf8_check(s, len) >= 0) {
		ep_rec_clear(rec);
		*why = "invalid UTF-8";
		return -1;
	}
	if (memchr(s, '\0', len) != NULL) {
		ep_rec_clear(rec);
		*why = "NUL byte";
		return -1;
	}
	return parse_object(rec, s, len, why, NULL);
}

/* ------------------------------------------------- JSON over several lines */

/* The line of rd->buf[to], rd->buf[from] being on line l. */
static unsigned long
line_at(const struct ep_reader *rd, size_t from, unsigned long l, size_t to)
{
	for (size_t i = from; i < to; i++)
		l += rd->buf[i] == '\n';
	return l;
}

/*
 * Make rd->buf[rd->start + off] readable: 1, 0 at the end of the input,
 * -1 on a read error.  The buffer may move: callers keep offsets.
 */
static int
have(struct ep_reader *rd, size_t off, struct ep_error *err)
{
	while (rd->start + off >= rd->end) {
		size_t was = rd->end - rd->start;
		int r = fill(rd, err);

		if (r <= 0)
			return r;
		if (rd->end - rd->start == was)
			return 0;	/* full: the caller's length check */
	}
	return 1;
}

/* Skip white space at the cursor, counting lines: 1 when a byte follows,
 * 0 at the end of the input, -1 on a read error. */
static int
skip_space(struct ep_reader *rd, struct ep_error *err)
{
	for (;;) {
		int r = have(rd, 0, err);
		char c;

		if (r <= 0)
			return r;
		c = rd->buf[rd->start];
		if (!is_ws(c))
			return 1;
		rd->line += c == '\n';
		rd->start++;
	}
}

/*
 * Skip the blank lines at the cursor, but not the white space that begins
 * the next line (messages count bytes from a line's start).  That line's
 * first other byte, which the cursor is then at (past its leading white
 * space), or 0 at the end of the input, -1 on a read error; the line
 * count and rd->start are left at the start of that line unless it is a
 * '[', where the cursor is on the '['.
 */
static int
blank_lines(struct ep_reader *rd, struct ep_error *err)
{
	size_t i = 0, bol = 0;
	unsigned long lines = 0;
	int r;
	char c;

	for (;;) {
		if ((r = have(rd, i, err)) < 0)
			return -1;
		if (r == 0) {
			rd->start += i;
			rd->line += lines;
			return 0;
		}
		c = rd->buf[rd->start + i];
		if (!is_ws(c))
			break;
		i++;
		if (c == '\n') {
			lines++;
			bol = i;
		}
	}
	rd->line += lines;
	rd->start += c == '[' ? i : bol;
	return (unsigned char)c;
}

/* After a top-level value only white space may end its line. */
static int
end_of_line(struct ep_reader *rd, const char *what, struct ep_error *err)
{
	for (;;) {
		int r = have(rd, 0, err);
		char c;

		if (r <= 0)
			return r;
		c = rd->buf[rd->start];
		if (c == '\n') {
			rd->start++;
			rd->line++;
			return 1;
		}
		if (!is_ws(c))
			return bad(rd, err, rd->line + 1,
			    "invalid JSON: text after the %s", what);
		rd->start++;
	}
}

enum { S_SEP, S_LIT, S_VAL };

/*
 * Find the end of the object at the cursor (a '{'), reading more input as
 * needed, without decoding it: a scan of strings and nesting.  *len is
 * its length.  1 when it closes; 0 when the input ends first; 2 when the
 * text stops being JSON at byte *len - 1 (a value right after a value, a
 * newline in a string), which ends a broken record early instead of
 * swallowing the lines after it; -1 on a read error or a record too long.
 */
static int
object_span(struct ep_reader *rd, size_t *len, struct ep_error *err)
{
	size_t i = 0;
	int depth = 0, st = S_SEP, r;
	bool instr = false;

	for (;;) {
		char c;

		if (i > EP_MAX_RECORD)
			return bad(rd, err, rd->line + 1,
			    "record longer than %d bytes", EP_MAX_RECORD);
		if ((r = have(rd, i, err)) <= 0)
			break;
		c = rd->buf[rd->start + i++];
		if (instr) {
			if (c == '"') {
				instr = false;
				st = S_VAL;
			} else if (c == '\n') {
				goto broken;
			} else if (c == '\\') {
				if ((r = have(rd, i, err)) <= 0)
					break;
				if (rd->buf[rd->start + i++] == '\n')
					goto broken;
			}
			continue;
		}
		switch (c) {
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			if (st == S_LIT)
				st = S_VAL;
			break;
		case '{':
		case '[':
			if (st != S_SEP)
				goto broken;
			depth++;
			break;
		case '}':
		case ']':
			st = S_VAL;
			if (--depth == 0) {
				*len = i;
				return 1;
			}
			break;
		case ',':
		case ':':
			st = S_SEP;
			break;
		case '"':
			if (st != S_SEP)
				goto broken;
			instr = true;
			break;
		default:
			if (st == S_VAL)
				goto broken;
			st = S_LIT;
		}
	}
	*len = i;
	return r < 0 ? -1 : 0;
broken:
	*len = i;
	return 2;
}

/* UTF-8 and NUL check of a span that may cover lines: the message names
 * the line and the byte in that line (the span's first line starts col0
 * bytes before it). */
static int
check_span(struct ep_reader *rd, struct ep_error *err, const char *s,
    size_t len, unsigned long line, size_t col0)
{
	long off = ep_utf8_check(s, len);
	const char *nul = memchr(s, '\0', len), *bol = s;
	const char *at;

	if (nul != NULL && (off < 0 || nul - s < off))
		at = nul;
	else if (off >= 0)
		at = s + off;
	else
		return 0;
	for (const char *p = s; p < at; p++)
		if (*p == '\n') {
			line++;
			bol = p + 1;
			col0 = 0;
		}
	return bad(rd, err, line, "%s at byte %ld", at == nul ?
	    "NUL byte" : "invalid UTF-8", (long)(at - bol + col0) + 1);
}

/*
 * Read the object at the cursor, which may span lines, into rec.  first
 * says the cursor was moved back to a line the fast path could not
 * parse: when the object does not go beyond that line its message is
 * the fast path's.
 */
static int
json_record(struct ep_reader *rd, struct ep_rec *rec, bool first,
    struct ep_error *err)
{
	unsigned long line0 = rd->line + 1;
	size_t len = 0, col0 = 0;
	const char *s, *why, *at = NULL, *nl;
	int r;

	/* Where on its line the object starts, while that is in the buffer
	 * (it may not be, within a long line). */
	nl = rd->start ? memrchr(rd->buf, '\n', rd->start) : NULL;
	if (nl != NULL)
		col0 = rd->start - (size_t)(nl + 1 - rd->buf);
	else if (rd->base == 0)
		col0 = rd->start - rd->bom;
	if ((r = object_span(rd, &len, err)) < 0)
		return -1;

	s = rd->buf + rd->start;
	if (r == 0)
		while (len > 0 && is_ws(s[len - 1]))
			len--;
	rd->recline = line0;
	rd->recoff = rd->base + rd->start;
	rd->reclen = len;
	if (check_span(rd, err, s, len, line0, col0) < 0)
		return -1;
	if (parse_object(rec, s, len, &why, &at) < 0 || r != 1) {
		unsigned long l = line0;

		if (at == NULL) {
			why = "unexpected character";
			at = s + len - 1;
		}
		l = line_at(rd, rd->start, line0, (size_t)(at - rd->buf));
		if (r == 0 && at >= s + len && (!first ||
		    memchr(s, '\n', len) != NULL)) {
			why = "object not closed at the end of the input";
			l = line0;
		}
		return bad(rd, err, l, "invalid JSON: %s", why);
	}
	rd->line = line_at(rd, rd->start, rd->line, rd->start + len);
	rd->start += len;
	return 1;
}

/* Whether a line that is not a whole object may be the start of one
 * spread over lines: it ends outside a string after { [ , or :. */
static bool
continues(const char *s, size_t len)
{
	bool instr = false;
	char last = 0;

	for (size_t i = 0; i < len; i++) {
		if (instr) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				instr = false;
			continue;
		}
		if (s[i] == '"')
			instr = true;
		if (!is_ws(s[i]))
			last = s[i];
	}
	return !instr && (last == '{' || last == '[' || last == ',' ||
	    last == ':');
}

enum { A_FIRST, A_NEXT, A_AFTER };

/* The next element of a top-level array: 1 a record, 2 the array ended
 * (the caller reads on), -1 an error. */
static int
array_next(struct ep_reader *rd, struct ep_rec *rec, struct ep_error *err)
{
	for (;;) {
		int r = skip_space(rd, err);
		char c;

		if (r < 0)
			return -1;
		if (r == 0)
			return bad(rd, err, rd->arrline, "invalid JSON: array "
			    "not closed at the end of the input");
		c = rd->buf[rd->start];
		if (c == ']' && rd->arrstate != A_NEXT) {
			rd->start++;
			rd->inarray = false;
			return end_of_line(rd, "array", err) < 0 ? -1 : 2;
		}
		if (rd->arrstate == A_AFTER) {
			if (c != ',')
				return bad(rd, err, rd->line + 1,
				    "invalid JSON: expected ',' or ']'");
			rd->start++;
			rd->arrstate = A_NEXT;
			continue;
		}
		if (c != '{')
			return bad(rd, err, rd->line + 1,
			    "invalid JSON: not a JSON object");
		if ((r = json_record(rd, rec, false, err)) < 0)
			return -1;
		rd->arrstate = A_AFTER;
		return 1;
	}
}

static int
next_json(struct ep_reader *rd, struct ep_rec *rec, struct ep_error *err)
{
	char *line;
	size_t len, i;
	const char *why;
	int r;

	for (;;) {
		if (rd->inarray) {
			if ((r = array_next(rd, rec, err)) != 2)
				return r;
			continue;
		}
		/* An array may be longer than any line we take: it is
		 * known by its first byte. */
		if ((r = blank_lines(rd, err)) <= 0)
			return r;
		if (r == '[') {
			rd->start++;
			rd->inarray = true;
			rd->arrline = rd->line + 1;
			rd->arrstate = A_FIRST;
			continue;
		}
		for (;;) {
			i = 0;
			if ((r = next_line(rd, &line, &len, err)) <= 0)
				return r;
			while (i < len && is_ws(line[i]))
				i++;
			if (i < len)
				break;	/* skip blank lines */
		}
		rd->recline = rd->line;
		rd->recoff = rd->base + (unsigned long long)(line - rd->buf);
		rd->reclen = len;
		if (check_utf8(rd, err, line, len, rd->line) < 0)
			return -1;
		/* The fast path: one whole object on its line. */
		if (parse_object(rec, line, len, &why, NULL) == 0)
			return 1;
		if (line[i] != '{' || !continues(line + i, len - i))
			return bad(rd, err, rd->line, "invalid JSON: %s", why);
		/* Back to the '{': nothing was read since. */
		rd->start = (size_t)(line + i - rd->buf);
		rd->line--;
		if (json_record(rd, rec, true, err) < 0 ||
		    end_of_line(rd, "object", err) < 0) {
			ep_rec_clear(rec);
			return -1;
		}
		return 1;
	}
}

/* ------------------------------------------------------------ CSV parsing */

/* libcsv calls these: a field ends (appended to rd->tmp), a row ends. */
static void reparse_field(void *s, size_t len, void *data);

static void
csv_field(void *s, size_t len, void *data)
{
	reparse_field(s, len, ((struct ep_reader *)data)->tmp);
}

static void
csv_row(int c, void *data)
{
	(void)c;
	((struct ep_reader *)data)->rowdone = true;
}

/* Spaces are data (libcsv would trim them from unquoted fields). */
static int
csv_no_space(unsigned char c)
{
	(void)c;
	return 0;
}

/* For a line holding a CR before its end: the CR is data there. */
static int
csv_no_term(unsigned char c)
{
	(void)c;
	return 0;
}

static void *
csv_realloc(void *p, size_t n)
{
	return ep_xrealloc(p, n);
}

/*
 * Bytes of w equal to c (c * 0x01..01 in cc): 0x80 in each such byte,
 * exactly (no false hit after a true one, as the shorter test has).
 */
static inline uint64_t
bytes_eq(uint64_t w, uint64_t cc)
{
	const uint64_t lo7 = 0x7F7F7F7F7F7F7F7FULL;
	uint64_t x = w ^ cc;

	return ~(((x & lo7) + lo7) | x | lo7);
}

enum { CUT_SPLIT, CUT_QUOTE, CUT_COUNT };

/*
 * Split a line at its delimiters into rd->cut, eight bytes a step, and
 * look for a quote in the same pass (one scan where a memchr for the
 * quote and one per field took ten calls a line).  CUT_SPLIT with the
 * header's number of fields, CUT_QUOTE if the line has a quote (libcsv
 * decides it), CUT_COUNT if it has another number of fields.
 */
static int
csv_cut(struct ep_reader *rd, const char *line, size_t len, char delim)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t dd = ones * (unsigned char)delim, qq = ones * '"';
	size_t n = 0, i = 0;

	if (rd->cut == NULL)
		rd->cut = ep_xcalloc(rd->nhdr, sizeof(*rd->cut));
	rd->cut[n++] = line;
	for (; i + 8 <= len; i += 8) {
		uint64_t w, m;

		memcpy(&w, line + i, 8);
		if (bytes_eq(w, qq))
			return CUT_QUOTE;
		m = bytes_eq(w, dd);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
		if (m)
			break;	/* the byte loop below finds them in order */
#endif
		while (m) {
			if (n == rd->nhdr)
				return memchr(line + i, '"', len - i) ?
				    CUT_QUOTE : CUT_COUNT;
			rd->cut[n++] = line + i +
			    (size_t)(__builtin_ctzll(m) >> 3) + 1;
			m &= m - 1;
		}
	}
	for (; i < len; i++) {
		if (line[i] == '"')
			return CUT_QUOTE;
		if (line[i] == delim) {
			if (n == rd->nhdr)
				return memchr(line + i, '"', len - i) ?
				    CUT_QUOTE : CUT_COUNT;
			rd->cut[n++] = line + i + 1;
		}
	}
	return n == rd->nhdr ? CUT_SPLIT : CUT_COUNT;
}

/*
 * A line that csv_cut split, straight into rd->dst, named by the header:
 * one copy of each value, not two.
 */
static void
csv_direct(struct ep_reader *rd, const char *line, size_t len)
{
	struct ep_rec *rec = rd->dst;
	const char *end = line + len;
	size_t n = rd->nhdr;

	ep_rec_clear(rec);
	buf_reserve(rec, len + 1 + rd->hsum);
	if (rec->cap < n) {
		rec->cap = n;
		rec->f = ep_xrealloc(rec->f, rec->cap * sizeof(*rec->f));
	}
	for (size_t i = 0; i < n; i++) {
		struct ep_field *d = &rec->f[i];
		size_t vlen = (size_t)((i + 1 < n ? rd->cut[i + 1] - 1 : end) -
		    rd->cut[i]);
		char *o = rec->buf + rec->blen;

		memcpy(o, rd->hdr[i], rd->hlen[i] + 1);
		d->name = o;
		d->nlen = rd->hlen[i];
		o += rd->hlen[i] + 1;
		memcpy(o, rd->cut[i], vlen);
		o[vlen] = '\0';
		d->val = o;
		d->vlen = vlen;
		d->type = EP_T_STR;
		rec->blen += rd->hlen[i] + vlen + 2;
	}
	rec->n = n;
}

/*
 * Parse one CSV record (which may span lines) into rd->tmp as unnamed
 * string values.  1, 0 at EOF, -1 on error; 2 when the record went
 * straight into rd->dst, named (csv_direct).  libcsv gets one line at a
 * time, without its line end, and then the line end alone: a row that
 * has not ended after it is inside a quoted field, and a parse error is
 * on the line just given.
 */
static int
csv_record(struct ep_reader *rd, struct ep_error *err)
{
	unsigned long qline = 0;
	bool inquote = false;
	int cut;
	size_t total = 0;
	char *line, delim = rd->delim ? rd->delim : ',';
	size_t len;
	int r;

	if (!rd->csv_on) {
		csv_init(&rd->csv, CSV_STRICT);
		csv_set_delim(&rd->csv, (unsigned char)delim);
		csv_set_space_func(&rd->csv, csv_no_space);
		csv_set_realloc_func(&rd->csv, csv_realloc);
		csv_set_blk_size(&rd->csv, 4096);
		rd->csv_on = true;
	}
	ep_rec_clear(rd->tmp);
	rd->rowdone = false;
	for (;;) {
		bool cr = false;
		size_t n, nf = rd->tmp->n;

		if ((r = next_line(rd, &line, &len, err)) < 0)
			return -1;
		if (r == 0) {
			if (inquote)
				return bad(rd, err, qline,
				    "unterminated quoted field");
			return 0;
		}
		if (!inquote) {
			/* Skip empty lines between records. */
			if (len == 0 || (len == 1 && line[0] == '\r'))
				continue;
			rd->recline = rd->line;
			rd->recoff = rd->base +
			    (unsigned long long)(line - rd->buf);
		}
		if (check_utf8(rd, err, line, len, rd->line) < 0)
			return -1;
		total += len + 1;
		if (total > EP_MAX_RECORD)
			return bad(rd, err, rd->recline,
			    "record longer than %d bytes", EP_MAX_RECORD);
		if (len > 0 && line[len - 1] == '\r') {
			cr = true;
			len--;
		}
		/*
		 * A record on one line with no quote in it has nothing for
		 * RFC 4180 to decide: its fields are what lies between the
		 * delimiters, which csv_cut (or memchr) finds at a fraction
		 * of the cost of libcsv's byte-at-a-time state machine (most
		 * SIS exports are such lines; enroll-diff reads millions).
		 */
		cut = -1;
		if (!inquote && rd->dst != NULL && rd->nhdr > 0 &&
		    (cut = csv_cut(rd, line, len, delim)) == CUT_SPLIT) {
			csv_direct(rd, line, len);
			rd->reclen = (size_t)(rd->base + rd->start -
			    rd->recoff) - rd->nl;
			return 2;
		}
		if (!inquote && cut != CUT_QUOTE && (cut == CUT_COUNT ||
		    memchr(line, '"', len) == NULL)) {
			const char *p = line, *end = line + len, *q;

			while ((q = memchr(p, delim, (size_t)(end - p))) !=
			    NULL) {
				csv_field((void *)p, (size_t)(q - p), rd);
				p = q + 1;
			}
			csv_field((void *)p, (size_t)(end - p), rd);
			rd->reclen = (size_t)(rd->base + rd->start -
			    rd->recoff) - rd->nl;
			return 1;
		}
		if (memchr(line, '\r', len) != NULL)
			csv_set_term_func(&rd->csv, csv_no_term);
		n = csv_parse(&rd->csv, line, len, csv_field, csv_row, rd);
		csv_set_term_func(&rd->csv, NULL);
		if (n < len) {
			if (csv_error(&rd->csv) != CSV_EPARSE)
				ep_die(EP_EXIT_NOMEM, "%s", csv_strerror(
				    csv_error(&rd->csv)));
			/* Strict mode stops at a quote in an unquoted
			 * field or at what follows a closing quote. */
			if (line[n] == '"' && !rd->csv.quoted)
				return bad(rd, err, rd->line,
				    "'\"' inside an unquoted field");
			return bad(rd, err, rd->line,
			    "unexpected character after closing quote");
		}
		csv_parse(&rd->csv, cr ? "\r\n" : "\n", cr ? 2 : 1, csv_field,
		    csv_row, rd);
		if (rd->rowdone) {
			rd->reclen = (size_t)(rd->base + rd->start -
			    rd->recoff) - rd->nl;
			return 1;
		}
		/* Inside a quoted field: opened on this line unless the
		 * one open at its start goes on. */
		if (!inquote || rd->tmp->n != nf)
			qline = rd->line;
		inquote = true;
	}
}

/*
 * rec = the unnamed values of t named by the header, in one copy: names
 * and values reserved at once (nothing may move while a name is not yet
 * attached to its field), name lengths known from the header.
 */
static void
name_fields(const struct ep_reader *rd, const struct ep_rec *t,
    struct ep_rec *rec)
{
	ep_rec_clear(rec);
	buf_reserve(rec, t->blen + rd->hsum + 1);
	if (rec->cap < rd->nhdr) {
		rec->cap = rd->nhdr;
		rec->f = ep_xrealloc(rec->f, rec->cap * sizeof(*rec->f));
	}
	for (size_t i = 0; i < rd->nhdr; i++) {
		const struct ep_field *s = &t->f[i];
		struct ep_field *d = &rec->f[i];
		char *o = rec->buf + rec->blen;

		memcpy(o, rd->hdr[i], rd->hlen[i] + 1);
		d->name = o;
		d->nlen = rd->hlen[i];
		o += rd->hlen[i] + 1;
		memcpy(o, s->val, s->vlen);
		o[s->vlen] = '\0';
		d->val = o;
		d->vlen = s->vlen;
		d->type = EP_T_STR;
		rec->blen += rd->hlen[i] + s->vlen + 2;
	}
	rec->n = rd->nhdr;
}

/* libcsv's field callback for ep_reader_reparse: data is the record. */
static void
reparse_field(void *s, size_t len, void *data)
{
	struct ep_rec *t = data;
	const char *v = buf_put(t, s ? s : "", len);
	struct ep_field *f = field_add(t);

	f->name = "";
	f->nlen = 0;
	f->val = v;
	f->vlen = len;
	f->type = EP_T_STR;
}

static void
reparse_row(int c, void *data)
{
	(void)c;
	(void)data;
}

bool
ep_reader_rereadable(const struct ep_reader *rd)
{
	return rd->fmt == EP_FMT_NDJSON ||
	    (rd->fmt == EP_FMT_CSV && rd->enc == NULL && rd->hdr != NULL);
}

int
ep_reader_reparse(struct ep_reader *rd, struct ep_rec *rec, const char *s,
    size_t len, const char **why)
{
	struct csv_parser p;
	char delim = rd->delim ? rd->delim : ',';
	int bad = 0;

	if (rd->fmt == EP_FMT_NDJSON)
		return ep_ndjson_parse(rec, s, len, why);
	ep_rec_clear(rec);
	if (!ep_reader_rereadable(rd)) {
		*why = "not a record of this reader";
		return -1;
	}
	if (ep_utf8_check(s, len) >= 0 || memchr(s, '\0', len) != NULL) {
		*why = "invalid UTF-8 or a NUL byte";
		return -1;
	}
	if (rd->tmp == NULL)
		rd->tmp = ep_rec_new();
	ep_rec_clear(rd->tmp);
	/* The line end of the last line is not part of the record. */
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (memchr(s, '"', len) == NULL) {
		const char *q, *end = s + len;

		while ((q = memchr(s, delim, (size_t)(end - s))) != NULL) {
			reparse_field((void *)s, (size_t)(q - s), rd->tmp);
			s = q + 1;
		}
		reparse_field((void *)s, (size_t)(end - s), rd->tmp);
	} else {
		/* As the reader: strict, spaces and lone CRs are data. */
		csv_init(&p, CSV_STRICT | CSV_STRICT_FINI);
		csv_set_delim(&p, (unsigned char)delim);
		csv_set_space_func(&p, csv_no_space);
		csv_set_term_func(&p, csv_no_term);
		csv_set_realloc_func(&p, csv_realloc);
		if (csv_parse(&p, s, len, reparse_field, reparse_row,
		    rd->tmp) < len || csv_fini(&p, reparse_field,
		    reparse_row, rd->tmp) != 0)
			bad = 1;
		csv_free(&p);
	}
	if (bad || rd->tmp->n != rd->nhdr) {
		ep_rec_clear(rd->tmp);
		*why = bad ? "invalid CSV" : "wrong number of fields";
		return -1;
	}
	name_fields(rd, rd->tmp, rec);
	return 0;
}

static int
next_csv(struct ep_reader *rd, struct ep_rec *rec, struct ep_error *err)
{
	int r;

	if (rd->tmp == NULL)
		rd->tmp = ep_rec_new();
	if (rd->hdr == NULL) {
		if ((r = csv_record(rd, err)) <= 0)
			return r;
		rd->nhdr = rd->tmp->n;
		rd->hdr = ep_xcalloc(rd->nhdr, sizeof(char *));
		for (size_t i = 0; i < rd->nhdr; i++) {
			const char *h = rd->tmp->f[i].val;

			if (*h == '\0')
				return bad(rd, err, rd->recline,
				    "empty column name in header "
				    "(column %zu)", i + 1);
			for (size_t k = 0; k < i; k++)
				if (strcmp(rd->hdr[k], h) == 0)
					return bad(rd, err, rd->recline,
					    "duplicate column '%s' in header",
					    h);
			rd->hdr[i] = ep_xstrdup(h);
		}
		rd->hlen = ep_xcalloc(rd->nhdr, sizeof(size_t));
		for (size_t i = 0; i < rd->nhdr; i++) {
			rd->hlen[i] = strlen(rd->hdr[i]);
			rd->hsum += rd->hlen[i] + 1;
		}
	}
	rd->dst = rec;
	r = csv_record(rd, err);
	rd->dst = NULL;
	if (r != 1)
		return r < 2 ? r : 1;
	if (rd->tmp->n != rd->nhdr)
		return bad(rd, err, rd->recline,
		    "row has %zu fields, the header has %zu",
		    rd->tmp->n, rd->nhdr);
	name_fields(rd, rd->tmp, rec);
	return 1;
}

/* From here on fill() converts from rd->enc; what was read already is
 * converted first. */
static int
start_conversion(struct ep_reader *rd, struct ep_error *err)
{
	size_t n = rd->end - rd->start;

	rd->cd = iconv_open("UTF-8", rd->enc);
	if (rd->cd == (iconv_t)-1) {
		ep_error_set(err, EP_EXIT_USAGE, "%s: cannot convert from "
		    "'%s': %s", rd->name, rd->enc, strerror(errno));
		rd->failed = true;
		return -1;
	}
	rd->rawcap = n > 64 * 1024 ? n : 64 * 1024;
	rd->raw = ep_xmalloc(rd->rawcap);
	memcpy(rd->raw, rd->buf + rd->start, n);
	rd->rawlen = n;
	rd->raweof = rd->eof;
	rd->eof = false;
	rd->base += rd->start;
	rd->start = rd->end = 0;
	return 0;
}

int
ep_reader_next(struct ep_reader *rd, struct ep_rec *rec,
    struct ep_error *err)
{
	ep_rec_clear(rec);
	if (rd->failed) {
		ep_error_set(err, EP_EXIT_SOFTWARE,
		    "%s: read after an error", rd->name);
		return -1;
	}
	if (rd->first) {
		const unsigned char *b;
		bool utf16 = false;
		int r;

		rd->first = false;
		/* Fill until there is something to look at. */
		while (rd->end - rd->start < 4 && (r = fill(rd, err)) > 0)
			;
		if (rd->failed)
			return -1;
		/* A byte-order mark decides the encoding, whatever was
		 * asked: UTF-8 (skipped) or UTF-16 (converted, for CSV). */
		b = (const unsigned char *)rd->buf + rd->start;
		if (rd->end - rd->start >= 3 &&
		    memcmp(b, "\xEF\xBB\xBF", 3) == 0) {
			rd->start += 3;
			rd->bom = 3;
			ep_reader_set_encoding(rd, NULL);
		} else if (rd->end - rd->start >= 2 &&
		    ((b[0] == 0xFF && b[1] == 0xFE) ||
		    (b[0] == 0xFE && b[1] == 0xFF))) {
			utf16 = true;
			ep_reader_set_encoding(rd, "UTF-16");
		}
		if (rd->fmt == EP_FMT_TSV) {
			rd->fmt = EP_FMT_CSV;
			if (rd->delim == 0)
				rd->delim = '\t';
		}
		if (rd->fmt == EP_FMT_AUTO && utf16) {
			rd->fmt = EP_FMT_CSV;
		} else if (rd->fmt == EP_FMT_AUTO) {
			size_t i = rd->start;

			for (;;) {
				while (i < rd->end && is_ws(rd->buf[i]))
					i++;
				if (i < rd->end || rd->eof)
					break;
				{
					size_t off = i - rd->start;

					if (fill(rd, err) < 0)
						return -1;
					i = rd->start + off;
				}
			}
			rd->fmt = (i < rd->end && (rd->buf[i] == '{' ||
			    rd->buf[i] == '[')) ? EP_FMT_NDJSON : EP_FMT_CSV;
		}
		/* JSON is UTF-8 (RFC 8259): only CSV is converted. */
		if (rd->fmt == EP_FMT_CSV && rd->enc != NULL &&
		    start_conversion(rd, err) < 0)
			return -1;
	}
	if (rd->fmt == EP_FMT_NDJSON)
		return next_json(rd, rec, err);
	return next_csv(rd, rec, err);
}

/* ----------------------------------------------------------------- writer */

struct ep_writer {
	FILE *fp;
	enum ep_fmt fmt;
	char **cols;
	size_t ncols;
	bool header_done, safe;
};

struct ep_writer *
ep_writer_new(FILE *fp, enum ep_fmt fmt)
{
	struct ep_writer *w = ep_xcalloc(1, sizeof(*w));

	w->fp = fp;
	w->fmt = fmt == EP_FMT_CSV ? EP_FMT_CSV : EP_FMT_NDJSON;
	return w;
}

void
ep_writer_set_fields(struct ep_writer *w, const char *const *names, size_t n)
{
	for (size_t i = 0; i < w->ncols; i++)
		free(w->cols[i]);
	free(w->cols);
	w->cols = ep_xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		w->cols[i] = ep_xstrdup(names[i]);
	w->ncols = n;
}

void
ep_writer_set_csv_safe(struct ep_writer *w, bool on)
{
	w->safe = on;
}

void
ep_writer_free(struct ep_writer *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->ncols; i++)
		free(w->cols[i]);
	free(w->cols);
	free(w);
}

/*
 * fwrite_unlocked, but straight into the stream's buffer when it has
 * room, as glibc's putc_unlocked does for one byte: a fwrite call per
 * field was an eighth of a CSV extraction's instructions.  A line-
 * buffered or unbuffered stream has no room this way and takes fwrite.
 */
void
ep_put_bytes(FILE *fp, const char *s, size_t len)
{
#ifdef __GLIBC__
	if ((size_t)(fp->_IO_write_end - fp->_IO_write_ptr) >= len) {
		memcpy(fp->_IO_write_ptr, s, len);
		fp->_IO_write_ptr += len;
		return;
	}
#endif
	fwrite_unlocked(s, 1, len, fp);
}

void
ep_json_put_string(FILE *fp, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	putc_unlocked('"', fp);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[7];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		ep_put_bytes(fp, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = '\0';
			esc = u;
		}
		fputs_unlocked(esc, fp);
	}
	ep_put_bytes(fp, s + run, len - run);
	putc_unlocked('"', fp);
}

/* The bytes that make a CSV field quoted. */
static const bool csv_special[256] = {
	['\n'] = true, ['\r'] = true, ['"'] = true, [','] = true
};

void
ep_csv_put_field(FILE *fp, const char *s, size_t len, bool safe)
{
	bool quote = false;
	bool prefix = safe && len > 0 && (s[0] == '=' || s[0] == '+' ||
	    s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r');

	/* A leading byte-order mark is quoted so a reader cannot take it
	 * for the file's own. */
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		quote = true;
	/* A table, not four compares a byte: a fifth of a million-row
	 * CSV extraction's instructions went to this scan. */
	for (size_t i = 0; i < len && !quote; i++)
		quote = csv_special[(unsigned char)s[i]];
	if (!quote) {
		if (prefix)
			putc_unlocked('\'', fp);
		ep_put_bytes(fp, s, len);
		return;
	}
	putc_unlocked('"', fp);
	if (prefix)
		putc_unlocked('\'', fp);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			putc_unlocked('"', fp);
		putc_unlocked(s[i], fp);
	}
	putc_unlocked('"', fp);
}

static void
csv_header(struct ep_writer *w)
{
	for (size_t i = 0; i < w->ncols; i++) {
		if (i)
			putc_unlocked(',', w->fp);
		ep_csv_put_field(w->fp, w->cols[i], strlen(w->cols[i]), false);
	}
	putc_unlocked('\n', w->fp);
	w->header_done = true;
}

static int
write_failed(struct ep_writer *w, struct ep_error *err)
{
	if (ferror(w->fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "write error: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
ep_writer_write(struct ep_writer *w, const struct ep_rec *r,
    struct ep_error *err)
{
	FILE *fp = w->fp;

	if (w->fmt == EP_FMT_NDJSON) {
		putc_unlocked('{', fp);
		for (size_t i = 0; i < r->n; i++) {
			const struct ep_field *f = &r->f[i];

			if (i)
				putc_unlocked(',', fp);
			ep_json_put_string(fp, f->name, f->nlen);
			putc_unlocked(':', fp);
			if (f->type == EP_T_STR)
				ep_json_put_string(fp, f->val, f->vlen);
			else
				fwrite_unlocked(f->val, 1, f->vlen, fp);
		}
		putc_unlocked('}', fp);
		putc_unlocked('\n', fp);
		return write_failed(w, err);
	}
	if (w->cols == NULL) {
		const char **names = ep_xcalloc(r->n, sizeof(char *));

		for (size_t i = 0; i < r->n; i++)
			names[i] = r->f[i].name;
		ep_writer_set_fields(w, names, r->n);
		free(names);
	}
	/* Every field of the record must have a column. */
	for (size_t i = 0; i < r->n; i++) {
		bool found = false;

		for (size_t k = 0; k < w->ncols && !found; k++)
			found = strcmp(w->cols[k], r->f[i].name) == 0;
		if (!found) {
			ep_error_set(err, EP_EXIT_DATAERR,
			    "field '%s' is not a column of the CSV output "
			    "(the columns come from the first record)",
			    r->f[i].name);
			return -1;
		}
	}
	if (!w->header_done)
		csv_header(w);
	for (size_t k = 0; k < w->ncols; k++) {
		const struct ep_field *f;

		if (k)
			putc_unlocked(',', fp);
		/* Same order as the header is the common case. */
		if (k < r->n && strcmp(r->f[k].name, w->cols[k]) == 0)
			f = &r->f[k];
		else
			f = ep_rec_get(r, w->cols[k]);
		if (f == NULL || f->type == EP_T_NULL || f->vlen == 0) {
			/* A lone empty value would be a blank line, which
			 * readers skip: quote it. */
			if (w->ncols == 1)
				fputs_unlocked("\"\"", fp);
			continue;
		}
		ep_csv_put_field(fp, f->val, f->vlen, w->safe);
	}
	putc_unlocked('\n', fp);
	return write_failed(w, err);
}

int
ep_writer_finish(struct ep_writer *w, struct ep_error *err)
{
	if (w->fmt == EP_FMT_CSV && !w->header_done && w->cols != NULL)
		csv_header(w);
	if (fflush(w->fp) == EOF || ferror(w->fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "write error: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}
