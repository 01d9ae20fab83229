/*
 * test_rec.c - the record type, the NDJSON and CSV readers, the writer.
 */
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "tap.h"

/* Read all of text; return the records as NDJSON text, or the error. */
static char *
readall(const char *text, enum ep_fmt in, enum ep_fmt out, int *rc,
    int *nrec)
{
	FILE *fp = fmemopen((void *)text, strlen(text), "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);
	struct ep_reader *rd = ep_reader_new(fp, "t.in", in);
	struct ep_writer *w = ep_writer_new(o, out);
	struct ep_rec *r = ep_rec_new();
	struct ep_error err = { 0, "" };
	int n = 0, got;

	while ((got = ep_reader_next(rd, r, &err)) == 1) {
		n++;
		if (ep_writer_write(w, r, &err) < 0) {
			got = -1;
			break;
		}
	}
	ep_writer_finish(w, NULL);
	fclose(o);
	*rc = got < 0 ? err.code : 0;
	if (nrec)
		*nrec = n;
	if (got < 0) {
		free(buf);
		buf = strdup(err.msg);
	}
	ep_rec_free(r);
	ep_writer_free(w);
	ep_reader_free(rd);
	fclose(fp);
	return buf;
}

static void
expect_ok(const char *in, enum ep_fmt f, enum ep_fmt o, const char *want,
    const char *name)
{
	int rc;
	char *got = readall(in, f, o, &rc, NULL);

	is_str(got, want, "%s", name);
	free(got);
}

static void
expect_bad(const char *in, enum ep_fmt f, const char *want, const char *name)
{
	int rc;
	char *got = readall(in, f, EP_FMT_NDJSON, &rc, NULL);

	is_int(rc, 65, "%s: exit 65", name);
	is_str(got, want, "%s: message", name);
	free(got);
}

static void
test_ndjson(void)
{
	expect_ok("{\"course\":\"C1\",\"user\":\"u1\",\"n\":12,\"x\":null,"
	    "\"b\":true,\"a\":[1,{\"k\":\"v\"}]}\n", EP_FMT_AUTO, EP_FMT_NDJSON,
	    "{\"course\":\"C1\",\"user\":\"u1\",\"n\":12,\"x\":null,\"b\":true,"
	    "\"a\":[1,{\"k\":\"v\"}]}\n", "ndjson: types kept, order kept");
	expect_ok("  { \"a\" : \"x\" , \"b\":-1.5e3 }  \r\n\n\n{\"a\":\"y\"}",
	    EP_FMT_AUTO, EP_FMT_NDJSON,
	    "{\"a\":\"x\",\"b\":-1.5e3}\n{\"a\":\"y\"}\n",
	    "ndjson: white space, CRLF, blank lines, no final newline");
	expect_ok("{\"n\":\"Zoë \\u00e9\\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\t\"}\n",
	    EP_FMT_AUTO, EP_FMT_NDJSON,
	    "{\"n\":\"Zoë é😀 \\\"q\\\" \\\\ / \\t\"}\n",
	    "ndjson: escapes decoded, UTF-8 written as is");
	expect_ok("{}\n", EP_FMT_AUTO, EP_FMT_NDJSON, "{}\n",
	    "ndjson: empty object");
	expect_ok("", EP_FMT_AUTO, EP_FMT_NDJSON, "",
	    "empty input: no records");

	expect_bad("{\"a\":1}\n{\"a\":\n", EP_FMT_AUTO,
	    "t.in:2: invalid JSON: unexpected end of line",
	    "ndjson: truncated object");
	expect_bad("{\"a\":1}\n[1,2]\n", EP_FMT_NDJSON,
	    "t.in:2: invalid JSON: not a JSON object",
	    "ndjson: a line that is an array");
	expect_bad("{\"a\":1}\n\n\"str\"\n", EP_FMT_NDJSON,
	    "t.in:3: invalid JSON: not a JSON object",
	    "ndjson: a line that is a string");
	expect_bad("{\"a\":1} x\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: text after the object",
	    "ndjson: text after the object");
	expect_bad("{\"a\":1,\"a\":2}\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: duplicate field name",
	    "ndjson: duplicate field");
	expect_bad("{\"a\":01}\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: expected ',' or '}'",
	    "ndjson: leading zero");
	expect_bad("{\"a\":tru}\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: unexpected character", "ndjson: bad literal");
	expect_bad("{\"a\":\"x\ty\"}\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: control character in string",
	    "ndjson: raw tab in string");
	expect_bad("{\"a\":\"\\ud800\"}\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: unpaired surrogate in \\u escape",
	    "ndjson: lone surrogate");
	expect_bad("{\"a\":\"\\u0000\"}\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: \\u0000 in string", "ndjson: NUL escape");
	expect_bad("{\"a\":\"\\x\"}\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: bad escape in string", "ndjson: bad escape");
	expect_bad("{\"a\":[1,2}\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: expected ',' or ']'",
	    "ndjson: bad nested array");
	expect_bad("{\"a\":1,}\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: expected a field name",
	    "ndjson: trailing comma");
	expect_bad("{\"a\":\"ok\"}\n{\"a\":\"\xff\"}\n", EP_FMT_AUTO,
	    "t.in:2: invalid UTF-8 at byte 7", "ndjson: invalid UTF-8");
	expect_bad("{\"a\":\"\xc0\xaf\"}\n", EP_FMT_AUTO,
	    "t.in:1: invalid UTF-8 at byte 7", "ndjson: overlong UTF-8");
	expect_bad("{\"a\":\"\xed\xa0\x80\"}\n", EP_FMT_AUTO,
	    "t.in:1: invalid UTF-8 at byte 7", "ndjson: UTF-8 surrogate");
	expect_bad("{\"a\":\"\xe2\x82\"}\n", EP_FMT_AUTO,
	    "t.in:1: invalid UTF-8 at byte 7", "ndjson: truncated sequence");
	{
		char deep[300] = "{\"a\":";
		size_t n = strlen(deep);

		for (int i = 0; i < 70; i++)
			deep[n++] = '[';
		deep[n] = '\0';
		expect_bad(deep, EP_FMT_AUTO,
		    "t.in:1: invalid JSON: nesting deeper than 64 levels",
		    "ndjson: nesting limit");
	}
}

static void
test_long_line(void)
{
	size_t n = EP_MAX_RECORD + 100;
	char *big = malloc(n + 32);
	int rc;
	char *got;

	strcpy(big, "{\"a\":1}\n{\"a\":\"");
	memset(big + strlen(big), 'x', n);
	strcpy(big + n, "\"}\n");
	got = readall(big, EP_FMT_AUTO, EP_FMT_NDJSON, &rc, NULL);
	is_int(rc, 65, "long line: exit 65");
	ok(got && strstr(got, "t.in:2: line longer than 1048576 bytes"),
	    "long line: message with location (%s)", got);
	free(got);
	/* The same limit holds for a CSV record spread over lines. */
	strcpy(big, "a\n\"");
	for (size_t i = 3; i < n; i++)
		big[i] = (i % 100) ? 'y' : '\n';
	strcpy(big + n, "\"\n");
	got = readall(big, EP_FMT_CSV, EP_FMT_NDJSON, &rc, NULL);
	is_int(rc, 65, "long CSV record: exit 65");
	ok(got && strstr(got, "t.in:2: record longer than"),
	    "long CSV record: message with location (%s)", got);
	free(got);
	free(big);
}

static void
test_csv(void)
{
	expect_ok("\xEF\xBB\xBF" "course,user,name\r\nC1,u1,\"Smith, Jo\"\r\n"
	    "C2,u2,\"say \"\"hi\"\"\"\r\n", EP_FMT_AUTO, EP_FMT_NDJSON,
	    "{\"course\":\"C1\",\"user\":\"u1\",\"name\":\"Smith, Jo\"}\n"
	    "{\"course\":\"C2\",\"user\":\"u2\",\"name\":\"say \\\"hi\\\"\"}\n",
	    "csv: BOM, CRLF, quoted comma and quotes");
	expect_ok("a,b\n\"line1\nline2\",x\n,\n", EP_FMT_CSV, EP_FMT_NDJSON,
	    "{\"a\":\"line1\\nline2\",\"b\":\"x\"}\n{\"a\":\"\",\"b\":\"\"}\n",
	    "csv: newline inside quotes, empty fields");
	expect_ok("a,b,c\n1,,\n\n2,\"\",3\n", EP_FMT_CSV, EP_FMT_NDJSON,
	    "{\"a\":\"1\",\"b\":\"\",\"c\":\"\"}\n"
	    "{\"a\":\"2\",\"b\":\"\",\"c\":\"3\"}\n",
	    "csv: trailing empties, blank line skipped");
	expect_ok("a\n", EP_FMT_CSV, EP_FMT_NDJSON, "",
	    "csv: header only gives no records");

	expect_bad("a,b\n1,2\n1,2,3\n", EP_FMT_CSV,
	    "t.in:3: row has 3 fields, the header has 2",
	    "csv: too many fields");
	expect_bad("a,b\n1\n", EP_FMT_CSV,
	    "t.in:2: row has 1 fields, the header has 2",
	    "csv: too few fields");
	expect_bad("a,b\n1,\"open\nstill open\n", EP_FMT_CSV,
	    "t.in:2: unterminated quoted field", "csv: unterminated quote");
	expect_bad("a,b\n1,x\"y\n", EP_FMT_CSV,
	    "t.in:2: '\"' inside an unquoted field", "csv: stray quote");
	expect_bad("a,b\n1,\"x\"y\n", EP_FMT_CSV,
	    "t.in:2: unexpected character after closing quote",
	    "csv: text after closing quote");
	expect_bad("a,a\n1,2\n", EP_FMT_CSV,
	    "t.in:1: duplicate column 'a' in header", "csv: duplicate column");
	expect_bad("a,,c\n1,2,3\n", EP_FMT_CSV,
	    "t.in:1: empty column name in header (column 2)",
	    "csv: empty column name");
	{
		/* A NUL byte cannot live in a C string: refused. */
		int rc;
		FILE *fp = fmemopen("a,b\n1,x\0y\n", 9, "r");
		struct ep_reader *rd = ep_reader_new(fp, "t.in", EP_FMT_CSV);
		struct ep_rec *r = ep_rec_new();
		struct ep_error err;

		rc = ep_reader_next(rd, r, &err);
		ok(rc == -1 && err.code == 65 &&
		    strcmp(err.msg, "t.in:2: NUL byte at byte 4") == 0,
		    "csv: NUL byte refused (%s)", err.msg);
		ep_rec_free(r);
		ep_reader_free(rd);
		fclose(fp);
	}
	expect_bad("a,b\n1,\xc3\n", EP_FMT_CSV,
	    "t.in:2: invalid UTF-8 at byte 3", "csv: invalid UTF-8");
}

static void
test_roundtrip(void)
{
	const char *nd =
	    "{\"course\":\"C,1\",\"user\":\"ü\\\"x\\\"\",\"note\":\"a\\nb\\r\\nc\","
	    "\"name\":\"Zoë Ōkubo 山田\"}\n"
	    "{\"course\":\" lead\",\"user\":\"\",\"note\":\"\\\"\",\"name\":\",\"}\n";
	int rc, n;
	char *csv = readall(nd, EP_FMT_AUTO, EP_FMT_CSV, &rc, &n);
	char *back;

	is_int(rc, 0, "roundtrip: NDJSON to CSV");
	is_str(csv, "course,user,note,name\n"
	    "\"C,1\",\"ü\"\"x\"\"\",\"a\nb\r\nc\",Zoë Ōkubo 山田\n"
	    " lead,,\"\"\"\",\",\"\n", "roundtrip: CSV text is RFC 4180");
	back = readall(csv, EP_FMT_AUTO, EP_FMT_NDJSON, &rc, &n);
	is_int(rc, 0, "roundtrip: CSV back to NDJSON");
	is_str(back, nd, "roundtrip: NDJSON -> CSV -> NDJSON is identity");
	is_int(n, 2, "roundtrip: two records");
	free(csv);
	free(back);
}

static void
test_writer(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);
	struct ep_writer *w = ep_writer_new(o, EP_FMT_CSV);
	struct ep_rec *r = ep_rec_new();
	struct ep_error err = { 0, "" };
	const char *cols[] = { "a", "b" };

	ep_writer_set_fields(w, cols, 2);
	ep_writer_set_csv_safe(w, true);
	ep_rec_set_str(r, "b", "=SUM(A1)");
	ep_rec_set_str(r, "a", "-3,x");
	is_int(ep_writer_write(w, r, &err), 0, "writer: fields by name");
	ep_rec_set(r, "c", EP_T_STR, "z", 1);
	is_int(ep_writer_write(w, r, &err), -1, "writer: extra field refused");
	is_int(err.code, 65, "writer: extra field is exit 65");
	is_str(err.msg, "field 'c' is not a column of the CSV output (the "
	    "columns come from the first record)", "writer: message");
	ep_writer_finish(w, NULL);
	fclose(o);
	is_str(buf, "a,b\n\"'-3,x\",'=SUM(A1)\n", "writer: csv-safe prefixes");
	free(buf);
	ep_writer_free(w);

	/* Header only, when fields are set and there are no records. */
	buf = NULL;
	o = open_memstream(&buf, &len);
	w = ep_writer_new(o, EP_FMT_CSV);
	ep_writer_set_fields(w, cols, 2);
	ep_writer_finish(w, NULL);
	fclose(o);
	is_str(buf, "a,b\n", "writer: header for an empty output");
	free(buf);
	ep_writer_free(w);

	/* A write error is reported. */
	o = fopen("/dev/full", "w");
	if (o != NULL) {
		w = ep_writer_new(o, EP_FMT_NDJSON);
		ep_rec_clear(r);
		ep_rec_set_str(r, "a", "x");
		for (int i = 0; i < 10000 && ep_writer_write(w, r, &err) == 0;
		    i++)
			;
		ok(ep_writer_finish(w, &err) < 0 && err.code == 74,
		    "writer: /dev/full gives a 74 error");
		ep_writer_free(w);
		fclose(o);
	}
	ep_rec_free(r);
}

static void
test_record(void)
{
	struct ep_rec *r = ep_rec_new(), *c = ep_rec_new();

	ep_rec_set_str(r, "course", "C1");
	ep_rec_set(r, "id", EP_T_NUM, "42", 2);
	ep_rec_set_str(r, "x", NULL);
	is_str(ep_rec_str(r, "course"), "C1", "rec: get string");
	is_str(ep_rec_str(r, "id"), "42", "rec: number text");
	ok(ep_rec_str(r, "x") == NULL, "rec: null reads as NULL");
	ok(ep_rec_get(r, "x") != NULL, "rec: null field present");
	/* Grow storage well past the first buffer: pointers follow. */
	for (int i = 0; i < 200; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		ep_rec_set_str(r, name, "0123456789abcdef");
	}
	is_str(ep_rec_str(r, "course"), "C1", "rec: values survive growth");
	ep_rec_set_str(r, "course", ep_rec_str(r, "f199"));
	is_str(ep_rec_str(r, "course"), "0123456789abcdef",
	    "rec: set from own value");
	is_int(r->f[0].nlen, 6, "rec: replaced field keeps its place");
	ep_rec_copy(c, r);
	ok(ep_rec_del(r, "course") && !ep_rec_get(r, "course"), "rec: del");
	is_str(ep_rec_str(c, "course"), "0123456789abcdef", "rec: copy");
	is_int(c->n, 203, "rec: copy has every field");
	ok(!ep_rec_del(r, "nope"), "rec: del of absent field");
	is_int(ep_fmt_parse("csv"), EP_FMT_CSV, "fmt: csv");
	is_int(ep_fmt_parse("ndjson"), EP_FMT_NDJSON, "fmt: ndjson");
	is_int(ep_fmt_parse("xml"), -1, "fmt: unknown");
	ep_rec_free(r);
	ep_rec_free(c);
	ep_rec_free(NULL);
}

static void
test_open(void)
{
	struct ep_error err = { 0, "" };
	struct ep_reader *rd = ep_reader_open("/nonexistent/x.ndjson",
	    EP_FMT_AUTO, &err);

	ok(rd == NULL, "open: missing file");
	is_int(err.code, 66, "open: missing file is 66");
	is_str(err.msg, "cannot open '/nonexistent/x.ndjson': No such file "
	    "or directory", "open: message");
}

/* Every record's offset and length point at its text in the input. */
static void
check_offsets(const char *text, enum ep_fmt fmt, const char *name,
    int want_n)
{
	FILE *fp = fmemopen((void *)text, strlen(text), "r");
	struct ep_reader *rd = ep_reader_new(fp, "t.in", fmt);
	struct ep_rec *r = ep_rec_new(), *again = ep_rec_new();
	struct ep_error err = { 0, "" };
	int n = 0, bad = 0;

	while (ep_reader_next(rd, r, &err) == 1) {
		size_t len;
		unsigned long long off = ep_reader_offset(rd, &len);
		const char *why;

		n++;
		if (off + len > strlen(text) || (off + len < strlen(text) &&
		    text[off + len] != '\n')) {
			bad++;
			continue;
		}
		if (!ep_reader_rereadable(rd)) {
			bad++;
			continue;
		}
		/* Parsed again from its place: the same record. */
		if (ep_reader_reparse(rd, again, text + off, len, &why) < 0 ||
		    again->n != r->n) {
			bad++;
			continue;
		}
		for (size_t i = 0; i < r->n; i++)
			if (strcmp(again->f[i].name, r->f[i].name) != 0 ||
			    again->f[i].vlen != r->f[i].vlen ||
			    memcmp(again->f[i].val, r->f[i].val,
			    r->f[i].vlen) != 0 ||
			    again->f[i].type != r->f[i].type)
				bad++;
	}
	is_int(n, want_n, "offset: %s: records", name);
	is_int(bad, 0, "offset: %s: each at its offset", name);
	ep_rec_free(r);
	ep_rec_free(again);
	ep_reader_free(rd);
	fclose(fp);
}

static void
test_offset(void)
{
	char *big = NULL, *line;
	size_t blen = 0;
	FILE *o = open_memstream(&big, &blen);
	struct ep_rec *r = ep_rec_new();
	const char *why = NULL;
	size_t len;

	check_offsets("\xEF\xBB\xBF{\"a\":1}\n\n  \n{\"a\":\"\\u00e9\"}\r\n"
	    "{\"b\":[1,{\"c\":null}]}", EP_FMT_NDJSON, "BOM, blank lines, "
	    "CRLF, no final newline", 3);
	/* Longer than the reader's first buffer: offsets across refills. */
	for (int i = 0; i < 3000; i++)
		fprintf(o, "{\"course\":\"C%d\",\"user\":%d,\"pad\":\"%*s\"}\n",
		    i, i, i % 97, "");
	fclose(o);
	check_offsets(big, EP_FMT_NDJSON, "3000 records, 64 KB refills",
	    3000);
	check_offsets(big, EP_FMT_AUTO, "same, format detected", 3000);
	free(big);
	check_offsets("a,b\n1,\"x\ny\"\n\n2,z\r\n3,w", EP_FMT_CSV,
	    "CSV: quoted newline, blank line, CRLF", 3);
	check_offsets("a,b,c\r\n\" s \",x\ry,\"q\"\"\"\r\n\"\r\n\",,\"\"\r\n"
	    "\xC3\xA9, t ,\r\n", EP_FMT_AUTO, "CSV: spaces, lone CR, quotes, "
	    "quoted CRLF", 3);
	/* ep_reader_reparse: what the reader would refuse, and converted
	 * CSV (its offsets count converted bytes) is not read again. */
	{
		const char *t = "a,b\n1,2\n";
		FILE *fp = fmemopen((void *)t, strlen(t), "r");
		struct ep_reader *rd = ep_reader_new(fp, "t.in", EP_FMT_CSV);
		struct ep_error err = { 0, "" };

		ok(!ep_reader_rereadable(rd), "reparse: not before the header");
		ep_reader_next(rd, r, &err);
		ok(ep_reader_rereadable(rd), "reparse: CSV after the header");
		ok(ep_reader_reparse(rd, r, "1,2,3", 5, &why) < 0 &&
		    r->n == 0 && strcmp(why, "wrong number of fields") == 0,
		    "reparse: a field too many");
		ok(ep_reader_reparse(rd, r, "1,\"2", 4, &why) < 0 &&
		    strcmp(why, "invalid CSV") == 0, "reparse: open quote");
		ok(ep_reader_reparse(rd, r, "1,\xC3", 3, &why) < 0,
		    "reparse: bad UTF-8");
		ok(ep_reader_reparse(rd, r, "x,\"y\"\r", 6, &why) == 0 &&
		    r->n == 2 && strcmp(r->f[0].name, "a") == 0 &&
		    strcmp(r->f[1].name, "b") == 0 &&
		    strcmp(r->f[1].val, "y") == 0 && r->f[1].vlen == 1,
		    "reparse: named by the header, final CR dropped");
		ep_reader_free(rd);
		fclose(fp);
		fp = fmemopen("a,b\n1,\xE9\n", 9, "r");
		rd = ep_reader_new(fp, "t.in", EP_FMT_CSV);
		ep_reader_set_encoding(rd, "ISO-8859-1");
		ok(ep_reader_next(rd, r, &err) == 1 &&
		    !ep_reader_rereadable(rd), "reparse: not converted CSV");
		ep_reader_free(rd);
		fclose(fp);
	}
	/* ep_reader_offset covers the whole CSV record. */
	{
		const char *t = "a,b\n1,\"x\ny\"\n2,z\n";
		FILE *fp = fmemopen((void *)t, strlen(t), "r");
		struct ep_reader *rd = ep_reader_new(fp, "t.in", EP_FMT_CSV);
		struct ep_error err = { 0, "" };
		unsigned long long off;

		ep_reader_next(rd, r, &err);
		off = ep_reader_offset(rd, &len);
		ok(off == 4 && len == 7, "offset: CSV record over two lines "
		    "(got %llu+%zu)", off, len);
		ep_reader_next(rd, r, &err);
		off = ep_reader_offset(rd, &len);
		ok(off == 12 && len == 3, "offset: next CSV record (got "
		    "%llu+%zu)", off, len);
		ok(ep_reader_file(rd) == fp, "reader: its stream");
		ep_reader_free(rd);
		fclose(fp);
	}
	/* ep_ndjson_parse keeps the reader's rules. */
	line = "{\"user\":\"\\u00e9\\\"x\",\"n\":4766}";
	ok(ep_ndjson_parse(r, line, strlen(line), &why) == 0 && r->n == 2 &&
	    strcmp(r->f[0].val, "\xC3\xA9\"x") == 0 &&
	    r->f[1].type == EP_T_NUM && strcmp(r->f[1].val, "4766") == 0,
	    "parse: escapes decoded, number kept as text");
	line = "{\"a\":1,\"a\":2}";
	ok(ep_ndjson_parse(r, line, strlen(line), &why) < 0 && r->n == 0 &&
	    strcmp(why, "duplicate field name") == 0, "parse: duplicate name");
	line = "{\"a\":\"\xC3\"}";
	ok(ep_ndjson_parse(r, line, strlen(line), &why) < 0 &&
	    strcmp(why, "invalid UTF-8") == 0, "parse: bad UTF-8");
	ok(ep_ndjson_parse(r, "{\"a\":\"\0\"}", 9, &why) < 0 &&
	    strcmp(why, "NUL byte") == 0, "parse: NUL byte");
	line = "{\"a\":1} x";
	ok(ep_ndjson_parse(r, line, strlen(line), &why) < 0 &&
	    strcmp(why, "text after the object") == 0, "parse: trailing text");
	line = "[1]";
	ok(ep_ndjson_parse(r, line, strlen(line), &why) < 0,
	    "parse: not an object");
	ep_rec_free(r);
}

/* Objects over several lines and arrays of objects (jq, jq -s). */
static void
test_json_multi(void)
{
	const char *want = "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":[1,2]}\n";

	expect_ok("{\n  \"a\": 1,\n  \"b\": \"x\"\n}\n{\n  \"a\": 2,\n"
	    "  \"b\": [\n    1,\n    2\n  ]\n}\n", EP_FMT_AUTO, EP_FMT_NDJSON,
	    want, "json: jq's pretty output");
	expect_ok("[\n  {\n    \"a\": 1,\n    \"b\": \"x\"\n  },\n  {\n"
	    "    \"a\": 2,\n    \"b\": [1,2]\n  }\n]\n", EP_FMT_AUTO,
	    EP_FMT_NDJSON, want, "json: jq -s output, an array");
	expect_ok("[{\"a\":1,\"b\":\"x\"},{\"a\":2,\"b\":[1,2]}]", EP_FMT_AUTO,
	    EP_FMT_NDJSON, want, "json: jq -cs output, one line");
	expect_ok("{\"a\":1,\"b\":\"x\"}\n[]\n[{\"a\":2,\n\"b\":[1,2]}]\n",
	    EP_FMT_NDJSON, EP_FMT_NDJSON, want,
	    "json: NDJSON, an empty array, an array");
	expect_ok("{\"a\":1,\n\"b\":\"x,\\\"}{\"}\n", EP_FMT_AUTO,
	    EP_FMT_NDJSON, "{\"a\":1,\"b\":\"x,\\\"}{\"}\n",
	    "json: braces and quotes inside a string");
	expect_bad("[\n  {\"a\": 1},\n  2\n]\n", EP_FMT_AUTO,
	    "t.in:3: invalid JSON: not a JSON object",
	    "json: an array element that is not an object");
	expect_bad("[\n  {\"a\": 1}\n  {\"a\": 2}\n]\n", EP_FMT_AUTO,
	    "t.in:3: invalid JSON: expected ',' or ']'",
	    "json: array elements without a comma");
	expect_bad("[\n  {\"a\": 1},\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: array not closed at the end of the input",
	    "json: array cut short");
	expect_bad("{\n  \"a\": 1,\n  \"b\": tru\n}\n", EP_FMT_AUTO,
	    "t.in:3: invalid JSON: unexpected character",
	    "json: error inside a pretty object, on its line");
	expect_bad("{\"a\":1}\n{\n  \"a\": 1,\n", EP_FMT_AUTO,
	    "t.in:2: invalid JSON: object not closed at the end of the input",
	    "json: pretty object cut short");
	/* A broken record does not swallow the lines after it. */
	expect_bad("{\"a\":1,\n{\"a\":2}\n{\"a\":3}\n", EP_FMT_AUTO,
	    "t.in:2: invalid JSON: expected a field name",
	    "json: a value where a name belongs");
	expect_bad("{\"a\":\n  \"x\" \"y\"}\n", EP_FMT_AUTO,
	    "t.in:2: invalid JSON: expected ',' or '}'",
	    "json: two values in a row");
	expect_bad("{\"a\":\n  \"x\ny\"}\n", EP_FMT_AUTO,
	    "t.in:2: invalid JSON: control character in string",
	    "json: newline inside a string");
	expect_bad("{\n  \"a\": \"\xff\"\n}\n", EP_FMT_AUTO,
	    "t.in:2: invalid UTF-8 at byte 9",
	    "json: invalid UTF-8 inside a pretty object");
	/* Bytes count from the start of their line, white space too. */
	expect_bad("{\"a\":1}\n  {\"a\":\"\xff\"}\n", EP_FMT_AUTO,
	    "t.in:2: invalid UTF-8 at byte 9",
	    "json: a byte's place counts the line's leading white space");
	expect_bad("[\n  {\"a\": \"\xff\"}\n]\n", EP_FMT_AUTO,
	    "t.in:2: invalid UTF-8 at byte 10",
	    "json: the same in an array element");
	expect_bad("{\"a\":1}\n{\n\"a\":1} x\n", EP_FMT_AUTO,
	    "t.in:3: invalid JSON: text after the object",
	    "json: text after a pretty object");
	expect_bad("[{\"a\":1}] x\n", EP_FMT_AUTO,
	    "t.in:1: invalid JSON: text after the array",
	    "json: text after an array");
	/* The offsets of a pretty object and of an array element are its
	 * own bytes, so that ep_ndjson_parse reads it again. */
	{
		const char *t = "[\n  {\n    \"a\": 1\n  },\n  {\"b\": 2}\n]\n";
		FILE *fp = fmemopen((void *)t, strlen(t), "r");
		struct ep_reader *rd = ep_reader_new(fp, "t.in", EP_FMT_AUTO);
		struct ep_rec *r = ep_rec_new(), *again = ep_rec_new();
		struct ep_error err = { 0, "" };
		unsigned long long off;
		const char *why;
		size_t len;

		ep_reader_next(rd, r, &err);
		off = ep_reader_offset(rd, &len);
		ok(off == 4 && len == 16 && ep_reader_line(rd) == 2 &&
		    ep_ndjson_parse(again, t + off, len, &why) == 0 &&
		    again->n == 1 && strcmp(again->f[0].val, "1") == 0,
		    "json: offset of a pretty array element (got %llu+%zu)",
		    off, len);
		ep_reader_next(rd, r, &err);
		off = ep_reader_offset(rd, &len);
		ok(off == 24 && len == 8 && ep_reader_line(rd) == 5,
		    "json: offset of the next element (got %llu+%zu)", off,
		    len);
		ok(ep_reader_format(rd) == EP_FMT_NDJSON,
		    "json: the format is NDJSON");
		ok(ep_reader_next(rd, r, &err) == 0, "json: then the end");
		ep_rec_free(r);
		ep_rec_free(again);
		ep_reader_free(rd);
		fclose(fp);
	}
	/* A large array is read one element at a time: more than the
	 * longest record in all, on one line. */
	{
		char *big = NULL;
		size_t blen = 0;
		FILE *o = open_memstream(&big, &blen);
		int rc, n;
		char *got;

		fputc('[', o);
		for (int i = 0; i < 40000; i++)
			fprintf(o, "%s{\"user\":\"u%d\",\"pad\":\"%40s\"}",
			    i ? "," : "", i, "");
		fputs("]\n", o);
		fclose(o);
		ok(blen > EP_MAX_RECORD, "json: the array is %zu bytes", blen);
		got = readall(big, EP_FMT_AUTO, EP_FMT_NDJSON, &rc, &n);
		ok(rc == 0 && n == 40000, "json: a one-line array of %d "
		    "objects (rc %d: %s)", n, rc, rc ? got : "");
		free(got);
		free(big);
	}
}

/* Read text with a delimiter and an encoding; the records or the error. */
static char *
read_dialect(const char *text, size_t len, enum ep_fmt fmt, char delim,
    const char *enc, int *rc)
{
	FILE *fp = fmemopen((void *)text, len, "r");
	char *buf = NULL;
	size_t blen = 0;
	FILE *o = open_memstream(&buf, &blen);
	struct ep_reader *rd = ep_reader_new(fp, "t.in", fmt);
	struct ep_writer *w = ep_writer_new(o, EP_FMT_NDJSON);
	struct ep_rec *r = ep_rec_new();
	struct ep_error err = { 0, "" };
	int got;

	ep_reader_set_delimiter(rd, delim);
	ep_reader_set_encoding(rd, enc);
	while ((got = ep_reader_next(rd, r, &err)) == 1)
		ep_writer_write(w, r, &err);
	ep_writer_finish(w, NULL);
	fclose(o);
	*rc = got < 0 ? err.code : 0;
	if (got < 0) {
		free(buf);
		buf = strdup(err.msg);
	}
	ep_rec_free(r);
	ep_writer_free(w);
	ep_reader_free(rd);
	fclose(fp);
	return buf;
}

/*
 * The split of lines without quotes, eight bytes a step (csv_cut):
 * delimiters on either side of a word boundary, next to each other, next
 * to bytes one off the delimiter ('-' is ',' ^ 1, U+00AC ends in 0xAC,
 * ',' | 0x80) and after the last field; a quote in a later word; the
 * number of fields wrong before and after the first eight bytes.
 */
static void
test_csv_cut(void)
{
	int rc;
	char *got;
	const char *t;

	expect_ok("a,b,c,d\nabcdefg,hijklmnop,q,rstuvwxyz0123456\n"
	    "1234567,,12345678,\n,,,\n-,-5,\xc2\xac,\xc2\xac-\n",
	    EP_FMT_CSV, EP_FMT_NDJSON,
	    "{\"a\":\"abcdefg\",\"b\":\"hijklmnop\",\"c\":\"q\","
	    "\"d\":\"rstuvwxyz0123456\"}\n"
	    "{\"a\":\"1234567\",\"b\":\"\",\"c\":\"12345678\",\"d\":\"\"}\n"
	    "{\"a\":\"\",\"b\":\"\",\"c\":\"\",\"d\":\"\"}\n"
	    "{\"a\":\"-\",\"b\":\"-5\",\"c\":\"\xc2\xac\",\"d\":\"\xc2\xac-\"}\n",
	    "csv: split eight bytes a step");
	expect_ok("a,b,c,d\n1234,67,\"quoted, x\",d\n1,2,3,\"4\"\"\"\n",
	    EP_FMT_CSV, EP_FMT_NDJSON,
	    "{\"a\":\"1234\",\"b\":\"67\",\"c\":\"quoted, x\",\"d\":\"d\"}\n"
	    "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\\\"\"}\n",
	    "csv: a quote after the first word goes to libcsv");
	expect_bad("a,b\nabcdefghij,klmnopqrstu,v\n", EP_FMT_CSV,
	    "t.in:2: row has 3 fields, the header has 2",
	    "csv: one field too many after eight bytes");
	expect_bad("a,b\n1,2,345678901,\"x,y\"\n", EP_FMT_CSV,
	    "t.in:2: row has 4 fields, the header has 2",
	    "csv: too many fields and a quote after them");
	expect_bad("a,b,c\nabcdefghijklmnopq,rstuvwxyz\n", EP_FMT_CSV,
	    "t.in:2: row has 2 fields, the header has 3",
	    "csv: one field too few after eight bytes");
	/* A byte one off the delimiter is no delimiter: two fields. */
	expect_bad("a,b,c\nx,-yzzzzzzz\n", EP_FMT_CSV,
	    "t.in:2: row has 2 fields, the header has 3",
	    "csv: ',' then '-' (',' ^ 1) is one delimiter");
	t = "a;b;c\n12345678;,,,,,,,,;-\n";
	got = read_dialect(t, strlen(t), EP_FMT_AUTO,
	    ';', NULL, &rc);
	is_str(got, "{\"a\":\"12345678\",\"b\":\",,,,,,,,\",\"c\":\"-\"}\n",
	    "dialect: semicolon split eight bytes a step, commas are data");
	free(got);
}

static void
test_csv_dialects(void)
{
	int rc;
	char *got;
	const char *t;

	/* What libcsv must keep from the reader it replaced: spaces and a
	 * CR inside a line are data, and every error has its own line. */
	expect_ok("a,b\n 1 ,\t2\t\n3\r4,\"x\r\ny\"\r\n", EP_FMT_CSV,
	    EP_FMT_NDJSON, "{\"a\":\" 1 \",\"b\":\"\\t2\\t\"}\n"
	    "{\"a\":\"3\\r4\",\"b\":\"x\\r\\ny\"}\n",
	    "csv: spaces, tabs and a CR inside a line are data");
	expect_bad("a,b\n1,\"x\ny\"z\n", EP_FMT_CSV,
	    "t.in:3: unexpected character after closing quote",
	    "csv: text after a closing quote on a later line");
	expect_bad("a,b\n\"x\ny\",\"open\nmore\n", EP_FMT_CSV,
	    "t.in:3: unterminated quoted field",
	    "csv: the unterminated field's own line");
	expect_bad("a,b\n\"x\ny\", \"z\"\n", EP_FMT_CSV,
	    "t.in:3: '\"' inside an unquoted field",
	    "csv: a space before a quote makes it unquoted");
	expect_bad("a,b\n1,2\n\n3\n", EP_FMT_CSV,
	    "t.in:4: row has 1 fields, the header has 2",
	    "csv: a ragged row after a blank line");

	got = read_dialect("a;b\n1;\"x;y\"\n", 12, EP_FMT_AUTO, ';', NULL,
	    &rc);
	is_str(got, "{\"a\":\"1\",\"b\":\"x;y\"}\n", "dialect: semicolon");
	free(got);
	t = "a\tb\n1\t\"x\ty\"\n 2 \t\n";
	got = read_dialect(t, strlen(t), EP_FMT_TSV, 0, NULL, &rc);
	is_str(got, "{\"a\":\"1\",\"b\":\"x\\ty\"}\n{\"a\":\" 2 \",\"b\":\"\"}\n",
	    "dialect: TSV, spaces kept, empty last field");
	free(got);
	got = read_dialect("a,b\n1,2\n", 8, EP_FMT_TSV, 0, NULL, &rc);
	is_str(got, "{\"a,b\":\"1,2\"}\n", "dialect: TSV keeps commas");
	free(got);
	/* Windows-1252: e-acute, the euro sign, a curly quote. */
	t = "name,x\nJos\xe9,\x80\x93\n";
	got = read_dialect(t, strlen(t), EP_FMT_AUTO, 0, "WINDOWS-1252", &rc);
	is_str(got, "{\"name\":\"Jos\xc3\xa9\",\"x\":\"\xe2\x82\xac\xe2\x80\x9c\"}\n",
	    "encoding: Windows-1252 converted to UTF-8");
	free(got);
	got = read_dialect(t, strlen(t), EP_FMT_AUTO, 0, NULL, &rc);
	is_int(rc, 65, "encoding: the same bytes as UTF-8: exit 65");
	is_str(got, "t.in:2: invalid UTF-8 at byte 4",
	    "encoding: the same bytes as UTF-8 are refused");
	free(got);
	t = "name\nok\n\"two\nlines\"\nJos\x81\n";
	got = read_dialect(t, strlen(t), EP_FMT_AUTO, 0, "WINDOWS-1252", &rc);
	is_int(rc, 65, "encoding: a byte Windows-1252 lacks: exit 65");
	is_str(got, "t.in:5: invalid byte sequence for encoding "
	    "'WINDOWS-1252'", "encoding: the byte's line");
	free(got);
	/* A UTF-8 byte-order mark wins over the encoding asked for. */
	t = "\xef\xbb\xbfname\nJos\xc3\xa9\n";
	got = read_dialect(t, strlen(t), EP_FMT_AUTO, 0, "WINDOWS-1252", &rc);
	is_str(got, "{\"name\":\"Jos\xc3\xa9\"}\n",
	    "encoding: a UTF-8 BOM means UTF-8");
	free(got);
	/* UTF-16 with its byte-order mark: converted without being asked. */
	{
		const char u16[] = "\xff\xfen\0a\0m\0e\0\n\0\xe9\0\n\0";

		got = read_dialect(u16, sizeof(u16) - 1, EP_FMT_AUTO, 0, NULL,
		    &rc);
		is_str(got, "{\"name\":\"\xc3\xa9\"}\n",
		    "encoding: UTF-16LE with a BOM");
		free(got);
	}
	/* JSON is never converted: it is UTF-8 by definition. */
	t = "{\"a\":\"\xc3\xa9\"}\n";
	got = read_dialect(t, strlen(t), EP_FMT_AUTO, 0, "WINDOWS-1252", &rc);
	is_str(got, t, "encoding: JSON input stays UTF-8");
	free(got);
	ok(ep_encoding_check("WINDOWS-1252") == 0 &&
	    ep_encoding_check("utf-8") == 0 &&
	    ep_encoding_check("NO-SUCH-ENC") < 0, "encoding: names checked");
	is_int(ep_fmt_parse_input("tsv"), EP_FMT_TSV, "fmt: tsv as input");
	is_int(ep_fmt_parse("tsv"), -1, "fmt: tsv is not an output format");
	/* A quoted field over lines in a converted input: line numbers hold. */
	t = "a,b\n\"x\ny\",\xe9\n2,\"open\n";
	got = read_dialect(t, strlen(t), EP_FMT_CSV, 0, "WINDOWS-1252", &rc);
	is_str(got, "t.in:4: unterminated quoted field",
	    "encoding: the unterminated quote's line");
	free(got);
}

int
main(void)
{
	test_record();
	test_ndjson();
	test_csv();
	test_long_line();
	test_roundtrip();
	test_writer();
	test_open();
	test_offset();
	test_json_multi();
	test_csv_dialects();
	test_csv_cut();
	return done_testing();
}
