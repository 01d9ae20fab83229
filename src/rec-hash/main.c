/*
 * rec-hash - replace named fields of records with a hash of their value,
 * to pseudonymise data (usernames, student ids) before it leaves the SIS.
 *
 * Each named field's value becomes the lowercase hex digest of its UTF-8
 * text: RIPEMD-160 (40 hex digits, the MOOCdb convention: the edX "apipe"
 * anonymiser runs hashlib.new('ripemd160') over the username, and vismooc
 * extension tables must match it to join), SHA-256, or HMAC-SHA-256 keyed
 * with a secret.  HMAC is the default: a plain hash of a username is
 * undone by hashing a list of candidate usernames, a keyed one is not
 * without the key.  Other fields pass through unchanged, in order.
 *
 * Deviations and choices: null values stay null, and empty strings stay
 * empty unless --empty hash (the digest of "" is public and would only
 * make "no value" look like a value); numbers and booleans are hashed by
 * their text as written; an array or object value is bad input;
 * --normalize lower is ASCII only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "cli.h"
#include "msg.h"
#include "rec.h"
#include "secret.h"

#include "hash.h"

static const char usage_text[] =
"usage: rec-hash --field NAME[,NAME...] [--algo ripemd160|sha256|hmac-sha256]\n"
"                [--key-file F] [--missing error|skip] [--empty keep|hash]\n"
"                [--normalize lower,trim] [-f auto|ndjson|csv|tsv]\n"
"                [-t ndjson|csv] [-o FILE] [FILE ...]\n"
"\n"
"Replace the named fields of each record with the lowercase hex digest of\n"
"their value.  Records come from the FILEs in order (or stdin; '-' is\n"
"stdin) as NDJSON or CSV, and go out in the format of the first input\n"
"unless -t says otherwise.\n"
"\n"
"      --field NAME[,NAME...]  fields to hash (repeatable; -f NAME, where\n"
"                              NAME is not a format, is its deprecated\n"
"                              spelling)\n"
"  -a, --algo ALGO             hmac-sha256 (default), sha256, or ripemd160\n"
"                              (40 hex digits, the MOOCdb convention)\n"
"      --key-file F            HMAC key: the first line of F, which must be\n"
"                              readable by its owner only (else REC_HASH_KEY)\n"
"      --missing error|skip    a record lacking a field: stop with exit 65\n"
"                              (default), or pass it on as it is\n"
"      --empty keep|hash       an empty string: leave it empty (default) or\n"
"                              hash it like any other value\n"
"      --normalize LIST        before hashing: lower (ASCII lower case),\n"
"                              trim (strip white space); default none\n"
"  -f, --from FMT              auto (default), ndjson, csv or tsv\n"
"      --delimiter CHAR        CSV input: the field delimiter (default\n"
"                              ','; tab or \\t for a tab)\n"
"      --encoding ENC          CSV input: its encoding, converted to\n"
"                              UTF-8 (default UTF-8; e.g. WINDOWS-1252)\n"
"  -t, --to FMT                ndjson or csv (default: the input's)\n"
"  -o, --output FILE           write FILE (atomically) instead of stdout\n"
"      --input-format FMT, -i FMT  deprecated: use -f/--from\n"
"      --output-format FMT  deprecated: use -t/--to (so is -o FMT\n"
"                       when FMT is a format name: ndjson, csv, ...)\n"
"  -v, --verbose               say what was done\n"
"  -q, --quiet                 errors only\n"
"      --progress              show a record count on stderr\n"
"  -h, --help                  this text\n"
"      --version               print the version\n"
"\n"
"Null values stay null.  Plain hashes of usernames can be reversed by\n"
"guessing; use hmac-sha256 unless you must match MOOCdb.\n";

enum {
	OPT_KEY_FILE = EP_OPT_FIRST_PROGRAM,
	OPT_MISSING,
	OPT_NORMALIZE,
	OPT_EMPTY,
	OPT_FIELD
};

struct opts {
	char **fields;
	size_t nfields;
	enum algo algo;
	const char *key_file;
	bool skip_missing;
	bool hash_empty;
	bool lower, trim;
	enum ep_fmt ifmt;
	char **inputs;
	int ninputs;
};

struct counts {
	unsigned long records, hashed, skipped;
};

static void add_fields(struct opts *o, const char *list);
static void parse_normalize(struct opts *o, const char *list);
static int run(const struct opts *o, struct hasher *h);
static int check_header(const struct opts *o, struct ep_reader *rd,
    struct ep_error *err);
static int hash_record(const struct opts *o, struct hasher *h,
    struct ep_reader *rd, struct ep_rec *rec, char **scratch, size_t *cap,
    struct counts *c, struct ep_error *err);

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "field", required_argument, NULL, OPT_FIELD },
		{ "algo", required_argument, NULL, 'a' },
		{ "key-file", required_argument, NULL, OPT_KEY_FILE },
		{ "missing", required_argument, NULL, OPT_MISSING },
		{ "normalize", required_argument, NULL, OPT_NORMALIZE },
		{ "empty", required_argument, NULL, OPT_EMPTY },
		EP_FROM_LONGOPTS,
		EP_INPUT_LONGOPTS,
		EP_TO_LONGOPTS,
		EP_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char *stdin_only[] = { "-" };
	struct opts o = { .algo = ALGO_HMAC_SHA256, .ifmt = EP_FMT_AUTO,
	    .inputs = stdin_only, .ninputs = 1 };
	struct ep_error e = { 0 };
	struct hasher *h = NULL;
	char *key = NULL;
	bool legacy = false;
	int c, v, rc = 0;

	ep_cli_init(argc, argv);
	ep_cli_whole_secret_opts(argc, argv, longopts, usage_text);
	while ((c = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS "a:"
	    EP_FROM_SHORTOPTS EP_TO_SHORTOPTS,
	    longopts, NULL)) != -1)
		switch (c) {
		case 'f':
			/* -f was --field before it was --from. */
			if (strcmp(optarg, "auto") == 0 ||
			    ep_fmt_parse_input(optarg) >= 0) {
				ep_cli_common(c, argv, usage_text);
				break;
			}
			ep_warn("option '-f FIELD' is deprecated: use "
			    "--field %s (-f is --from FORMAT)", optarg);
			/* FALLTHROUGH */
		case OPT_FIELD:
			add_fields(&o, optarg);
			break;
		case 'a':
			if ((v = algo_parse(optarg)) < 0)
				ep_usage_error(usage_text, "unknown algorithm "
				    "'%s' (ripemd160, sha256 or hmac-sha256)",
				    optarg);
			o.algo = (enum algo)v;
			break;
		case OPT_KEY_FILE:
			o.key_file = optarg;
			break;
		case OPT_MISSING:
			if (strcmp(optarg, "error") == 0)
				o.skip_missing = false;
			else if (strcmp(optarg, "skip") == 0)
				o.skip_missing = true;
			else
				ep_usage_error(usage_text, "option '--missing': "
				    "'%s' is not 'error' or 'skip'", optarg);
			break;
		case OPT_EMPTY:
			if (strcmp(optarg, "keep") == 0)
				o.hash_empty = false;
			else if (strcmp(optarg, "hash") == 0)
				o.hash_empty = true;
			else
				ep_usage_error(usage_text, "option '--empty': "
				    "'%s' is not 'keep' or 'hash'", optarg);
			break;
		case OPT_NORMALIZE:
			parse_normalize(&o, optarg);
			break;
		default:
			ep_cli_common(c, argv, usage_text);
		}
	argc -= optind;
	argv += optind;
	o.ifmt = (enum ep_fmt)ep_io.from;
	if (ep_io.to != NULL)
		(void)ep_io_to_fmt(usage_text, EP_FMT_AUTO);
	if (argc > 0) {
		int nstdin = 0;

		for (int i = 0; i < argc; i++)
			nstdin += strcmp(argv[i], "-") == 0;
		if (nstdin > 1)
			ep_usage_error(usage_text, "'-' (stdin) named %d "
			    "times", nstdin);
		o.inputs = argv;
		o.ninputs = argc;
	}
	if (o.nfields == 0)
		ep_usage_error(usage_text, "no field to hash: give --field");
	if (o.key_file != NULL && o.algo != ALGO_HMAC_SHA256)
		ep_usage_error(usage_text, "--key-file is for hmac-sha256, "
		    "not %s", algo_name(o.algo));

	if (o.algo == ALGO_HMAC_SHA256) {
		const char *env = getenv("REC_HASH_KEY");

		key = ep_secret_get("REC_HASH_KEY", o.key_file, true, &e);
		if (key == NULL) {
			/* No key at all; a key refused says why itself. */
			if (e.code == EP_EXIT_CONFIG && o.key_file == NULL &&
			    (env == NULL || *env == '\0'))
				ep_error_set(&e, EP_EXIT_CONFIG, "hmac-sha256 "
				    "needs a key: name a file with --key-file "
				    "or set REC_HASH_KEY (or choose --algo "
				    "ripemd160 or sha256)");
			rc = ep_report(&e);
			goto out;
		}
	} else if (getenv("REC_HASH_KEY") != NULL) {
		ep_warn("REC_HASH_KEY is set but %s takes no key: the hashes "
		    "are not keyed", algo_name(o.algo));
	}
	h = hasher_new(o.algo, (const unsigned char *)key,
	    key ? strlen(key) : 0, &legacy, &e);
	if (h == NULL) {
		rc = ep_report(&e);
		goto out;
	}
	if (legacy)
		ep_info(1, "%s is not in the OpenSSL providers loaded "
		    "here: loaded the default and legacy providers",
		    algo_name(o.algo));
	rc = run(&o, h);
out:
	hasher_free(h);
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	for (size_t i = 0; i < o.nfields; i++)
		free(o.fields[i]);
	free(o.fields);
	/* A failed run has already said why; one message is enough. */
	if (rc == 0)
		rc = ep_close_stdout();
	return rc;
}

/* Add the comma-separated names of list to o->fields. */
static void
add_fields(struct opts *o, const char *list)
{
	const char *p = list;

	for (;;) {
		size_t n = strcspn(p, ",");
		char *name;

		if (n == 0)
			ep_usage_error(usage_text, "option '--field': empty "
			    "field name in '%s'", list);
		name = ep_xstrndup(p, n);
		for (size_t i = 0; i < o->nfields; i++)
			if (strcmp(o->fields[i], name) == 0) {
				free(name);
				ep_usage_error(usage_text, "option '--field': "
				    "'%.*s' named twice", (int)n, p);
			}
		o->fields = ep_xrealloc(o->fields,
		    (o->nfields + 1) * sizeof(*o->fields));
		o->fields[o->nfields++] = name;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
}

static void
parse_normalize(struct opts *o, const char *list)
{
	const char *p = list;

	o->lower = o->trim = false;
	for (;;) {
		size_t n = strcspn(p, ",");

		if (n == 5 && strncmp(p, "lower", 5) == 0)
			o->lower = true;
		else if (n == 4 && strncmp(p, "trim", 4) == 0)
			o->trim = true;
		else if (!(n == 4 && strncmp(p, "none", 4) == 0))
			ep_usage_error(usage_text, "option '--normalize': "
			    "unknown step '%.*s' (lower, trim or none)",
			    (int)n, p);
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
}

/*
 * The record loop: read the inputs in order, hash, write to the output
 * spool (stdout's or -o FILE's), commit.  The writer is made at the first
 * record read, in the first input's format unless -t named one.
 */
static int
run(const struct opts *o, struct hasher *h)
{
	struct ep_error e = { 0 };
	struct ep_reader *rd = NULL;
	struct ep_out *out = NULL;
	struct ep_writer *w = NULL;
	struct ep_rec *rec = NULL;
	struct counts c = { 0 };
	char *scratch = NULL;
	size_t cap = 0;
	enum ep_fmt ofmt = EP_FMT_NDJSON;
	int r, rc = 0;

	out = ep_out_open(ep_io.output, &e);
	if (out == NULL)
		return ep_report(&e);
	rec = ep_rec_new();
	for (int i = 0; i < o->ninputs; i++) {
		bool first = true;

		if ((rd = ep_reader_open(o->inputs[i], o->ifmt, &e)) == NULL)
			goto fail;
		for (;;) {
			if ((r = ep_reader_next(rd, rec, &e)) < 0)
				goto fail;
			if (first) {
				first = false;
				if (check_header(o, rd, &e) < 0)
					goto fail;
			}
			if (w == NULL && (r == 1 || i == o->ninputs - 1)) {
				ofmt = (enum ep_fmt)ep_io_to_fmt(usage_text,
				    ep_reader_format(rd));
				w = ep_writer_new(ep_out_file(out), ofmt);
				if (ep_reader_format(rd) == EP_FMT_CSV &&
				    ofmt == EP_FMT_CSV) {
					size_t n;
					const char *const *hdr =
					    ep_reader_header(rd, &n);

					if (hdr != NULL)
						ep_writer_set_fields(w, hdr,
						    n);
				}
			}
			if (r == 0)
				break;
			if (hash_record(o, h, rd, rec, &scratch, &cap, &c,
			    &e) < 0)
				goto fail;
			if (ep_writer_write(w, rec, &e) < 0) {
				if (e.code == EP_EXIT_DATAERR) {
					char why[sizeof(e.msg)];

					memcpy(why, e.msg, sizeof(why));
					ep_error_set(&e, e.code, "%s:%lu: %s",
					    ep_reader_name(rd),
					    ep_reader_line(rd), why);
				}
				goto fail;
			}
			c.records++;
			if (ep_progress && ep_verbosity >= 0 &&
			    c.records % 262144 == 0)
				fprintf(stderr, "\r%s: %lu records",
				    ep_progname(), c.records);
		}
		ep_reader_free(rd);
		rd = NULL;
	}
	if (ep_progress && ep_verbosity >= 0)
		fprintf(stderr, "\r%s: %lu records\n", ep_progname(),
		    c.records);
	if (w != NULL && ep_writer_finish(w, &e) < 0)
		goto fail;
	r = ep_out_commit(out, &e);
	out = NULL;
	if (r < 0)
		goto fail;
	if (c.skipped > 0)
		ep_warn("%lu record%s lacked a field to hash and passed "
		    "unhashed (--missing=skip)", c.skipped,
		    c.skipped == 1 ? "" : "s");
	ep_info(1, "%lu records, %lu values hashed with %s", c.records,
	    c.hashed, algo_name(o->algo));
	goto done;
fail:
	rc = ep_report(&e);
done:
	ep_out_abort(out);
	ep_writer_free(w);
	ep_rec_free(rec);
	ep_reader_free(rd);
	free(scratch);
	return rc;
}

/*
 * A CSV header lacking a field to hash would fail on every row; say so
 * once, about the header.
 */
static int
check_header(const struct opts *o, struct ep_reader *rd,
    struct ep_error *err)
{
	const char *const *hdr;
	size_t n;

	if (o->skip_missing || (hdr = ep_reader_header(rd, &n)) == NULL)
		return 0;
	for (size_t i = 0; i < o->nfields; i++) {
		bool found = false;

		for (size_t k = 0; k < n && !found; k++)
			found = strcmp(hdr[k], o->fields[i]) == 0;
		if (!found) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:1: no column "
			    "'%s' in the CSV header", ep_reader_name(rd),
			    o->fields[i]);
			return -1;
		}
	}
	return 0;
}

static bool
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\f' || ch == '\v';
}

/*
 * Replace each named field of rec with its digest.  The value is first
 * copied to *scratch (grown as needed) when it has to be normalised.
 */
static int
hash_record(const struct opts *o, struct hasher *h, struct ep_reader *rd,
    struct ep_rec *rec, char **scratch, size_t *cap, struct counts *c,
    struct ep_error *err)
{
	bool skipped = false;

	for (size_t i = 0; i < o->nfields; i++) {
		const struct ep_field *f = ep_rec_get(rec, o->fields[i]);
		char hex[HASH_HEX_MAX + 1];
		const char *s;
		size_t len;
		int n;

		if (f == NULL) {
			if (o->skip_missing) {
				skipped = true;
				continue;
			}
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: missing "
			    "field '%s'", ep_reader_name(rd),
			    ep_reader_line(rd), o->fields[i]);
			return -1;
		}
		if (f->type == EP_T_NULL)
			continue;
		if (f->type == EP_T_RAW) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: field '%s' "
			    "is an array or object, not a value to hash",
			    ep_reader_name(rd), ep_reader_line(rd),
			    o->fields[i]);
			return -1;
		}
		s = f->val;
		len = f->vlen;
		if (o->trim) {
			while (len > 0 && is_space(*s)) {
				s++;
				len--;
			}
			while (len > 0 && is_space(s[len - 1]))
				len--;
		}
		if (o->lower) {
			if (len + 1 > *cap) {
				*cap = len + 1;
				*scratch = ep_xrealloc(*scratch, *cap);
			}
			for (size_t k = 0; k < len; k++) {
				char ch = s[k];

				(*scratch)[k] = ch >= 'A' && ch <= 'Z' ?
				    (char)(ch - 'A' + 'a') : ch;
			}
			s = *scratch;
		}
		if (len == 0 && !o->hash_empty) {
			/* Empty stays empty; trimmed white space too. */
			if (f->vlen != 0)
				ep_rec_set(rec, o->fields[i], EP_T_STR, "", 0);
			continue;
		}
		if ((n = hasher_hex(h, s, len, hex, err)) < 0)
			return -1;
		ep_rec_set(rec, o->fields[i], EP_T_STR, hex, (size_t)n);
		c->hashed++;
	}
	if (skipped)
		c->skipped++;
	return 0;
}
